/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The loop stays responsive while a large VM is sampled (issue 10): the real manager, its /proc
 * source and the page_idle tracker on a fixture tree, driven by its own timer and event loop
 * (manager_start(), sd_event_run()), one VM of 64 GiB of guest RAM whose pagemap is sparse (a
 * few pages present: 128 MiB of pagemap read per pass, 1,024 chunks). While its tracker pass is
 * in flight (m->sampling_vm set) the test counts
 *   - watchdog pings: NOTIFY_SOCKET and WATCHDOG_USEC (8 ms) point sd-event's watchdog at a socket
 *     of ours, served by the same loop;
 *   - requests answered: a client writes one byte at a time into a socketpair whose other end the
 *     loop serves, as it serves D-Bus (an io source);
 * and asserts that both happened during the passes and that each pass took several slices. With
 * the whole pass in one go (before the slicing) both counts are 0: nothing in the loop runs while
 * a cycle samples. Times (longest slice, worst answer latency) are printed, never judged.
 *
 * The VM's pid is a real process (a child that waits) so that the placement queries at the end of
 * the cycle have a process to ask; everything else comes from the fixture /proc.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"
#include "tmptree.h"
#include "vtism/log.h"
#include "vtism/manager.h"
#include "vtism/tracker.h"
#include "vtism/util.h"

#define BASE_HVA UINT64_C(0x40000000)
#define RAM_GIB 64u
#define RAM_MIB (RAM_GIB * 1024u)
#define N_PRESENT 4096u
#define PFN0 UINT64_C(0x10000)
#define WATCHDOG_USEC 8000u
#define CLIENT_EVERY_USEC 2000u
#define PASSES 3u
#define DEADLINE_USEC (600 * USEC_PER_SEC)

static char *root, *proc_root, *sysfs_root;
static pid_t child = -1;

static void at_exit(void) {
        if (child > 0) {
                (void) kill(child, SIGKILL);
                (void) waitpid(child, NULL, 0);
        }
        if (root)
                tmptree_remove(root);
        root = NULL;
}

static void write_pid_file(pid_t pid, const char *file, const void *data, size_t size) {
        _cleanup_free_ char *path = xasprintf("%d/%s", (int) pid, file);

        tmptree_write(proc_root, path, data, size);
}

static void build_fixture(pid_t pid) {
        _cleanup_free_ char *from = xasprintf("%s/sysfs-1node", getenv("VTISM_TEST_DATA"));
        _cleanup_free_ char *bitmap = NULL, *kpageflags = NULL, *stat = NULL, *maps = NULL, *pm = NULL;
        static const char status[] = "Name:\tqemu-system-x86\nUid:\t0\t0\t0\t0\n";
        _cleanup_free_ uint64_t *present = xcalloc(N_PRESENT, sizeof(uint64_t));
        uint64_t zero = 0;
        char buf[256];
        int n;

        root = tmptree_new("test-manager-slices");
        proc_root = xasprintf("%s/proc", root);
        sysfs_root = xasprintf("%s/sys", root);
        check(mkdir(proc_root, 0755) == 0);
        check(mkdir(sysfs_root, 0755) == 0);
        tmptree_copy(from, sysfs_root);

        tmptree_parents(sysfs_root, "kernel/mm/page_idle/bitmap");
        bitmap = xasprintf("%s/kernel/mm/page_idle/bitmap", sysfs_root);
        fixture_write_at(bitmap, &zero, sizeof(zero), (PFN0 + N_PRESENT) / 64 * 8);
        kpageflags = xasprintf("%s/kpageflags", proc_root);
        fixture_write_at(kpageflags, &zero, sizeof(zero), (PFN0 + N_PRESENT) * 8);

        tmptree_write_str(root, "vtism.conf",
                          "global = {\n"
                          "  tracker = \"page_idle\";\n"
                          "  sample_interval_ms = 100;\n"
                          "  libvirt_uri = \"qemu+unix:///system?socket=/nonexistent/test-manager-slices\";\n"
                          "};\n");

        n = snprintf(buf, sizeof(buf), "qemu-system-x86_64%c-m%c%u%c-name%cguest=big%c", 0, 0, RAM_MIB, 0, 0, 0);
        write_pid_file(pid, "cmdline", buf, (size_t) n);
        stat = xasprintf("%d (qemu-system-x86) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0\n", (int) pid, 1000 + (int) pid);
        write_pid_file(pid, "stat", stat, strlen(stat));
        write_pid_file(pid, "status", status, strlen(status));
        maps = xasprintf("%" PRIx64 "-%" PRIx64 " rw-p 00000000 00:00 0 \n", BASE_HVA, BASE_HVA + (uint64_t) RAM_MIB * MIB);
        write_pid_file(pid, "maps", maps, strlen(maps));

        /* A sparse pagemap: the first N_PRESENT pages present, the rest of 64 GiB a hole. */
        for (unsigned i = 0; i < N_PRESENT; i++)
                present[i] = (UINT64_C(1) << 63) | (PFN0 + i);
        pm = xasprintf("%s/%d/pagemap", proc_root, (int) pid);
        fixture_write_at(pm, present, N_PRESENT * sizeof(uint64_t), BASE_HVA / 4096 * 8);
        check(truncate(pm, (off_t) ((BASE_HVA + (uint64_t) RAM_MIB * MIB) / 4096 * 8)) == 0);
}

typedef struct Probe {
        Manager *m;
        int notify_fd;
        int client_fd, server_fd;
        bool outstanding;
        usec_t asked_usec;
        usec_t worst_usec;
        unsigned pings_in_pass, pings;
        unsigned answered_in_pass, answered;
} Probe;

static bool in_pass(const Probe *p) {
        return p->m->sampling_vm != NULL;
}

static int on_notify(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Probe *p = userdata;
        char buf[4096];
        ssize_t n;

        while ((n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
                buf[n] = 0;
                if (strstr(buf, "WATCHDOG=1")) {
                        p->pings++;
                        p->pings_in_pass += in_pass(p);
                }
        }
        return 0;
}

static int on_request(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Probe *p = userdata;
        char c;

        if (read(fd, &c, 1) == 1 && p->outstanding) {
                usec_t took = clock_now_usec(CLOCK_MONOTONIC) - p->asked_usec;

                p->worst_usec = MAX(p->worst_usec, took);
                p->answered++;
                p->answered_in_pass += in_pass(p);
                p->outstanding = false;
        }
        return 0;
}

/* The client: one request at a time, a new one CLIENT_EVERY_USEC after the last was answered. */
static int on_client(sd_event_source *s, uint64_t usec, void *userdata) {
        Probe *p = userdata;

        if (!p->outstanding) {
                check(write(p->client_fd, "?", 1) == 1);
                p->outstanding = true;
                p->asked_usec = clock_now_usec(CLOCK_MONOTONIC);
        }
        (void) sd_event_source_set_time(s, usec + CLIENT_EVERY_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

static Vm *the_vm(Manager *m) {
        for (size_t i = 0; i < m->n_vms; i++)
                if (m->vms[i]->pid == child)
                        return m->vms[i];
        return NULL;
}

int main(void) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_free_ char *conf = NULL, *notify_path = NULL, *wd = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int sp[2];
        TrackerContext ctx;
        Probe p = {};
        sd_event_source *notify_source = NULL;
        usec_t start;
        Vm *vm;

        if (!getenv("VTISM_TEST_DATA")) {
                fprintf(stderr, "VTISM_TEST_DATA is not set (run through meson test), skipping\n");
                return 77;
        }
        log_setup("vtismd", LOG_TARGET_CONSOLE);
        atexit(at_exit);

        child = fork();
        check(child >= 0);
        if (child == 0)
                for (;;)
                        pause();
        build_fixture(child);
        conf = xasprintf("%s/vtism.conf", root);

        /* sd-event's watchdog pings a socket of ours. */
        notify_path = xasprintf("%s/notify", root);
        check(strlen(notify_path) < sizeof(sa.sun_path));
        strcpy(sa.sun_path, notify_path);
        p.notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        check(p.notify_fd >= 0);
        check(bind(p.notify_fd, (struct sockaddr *) &sa, sizeof(sa)) == 0);
        check(setenv("NOTIFY_SOCKET", notify_path, 1) == 0);
        wd = xasprintf("%u", WATCHDOG_USEC);
        check(setenv("WATCHDOG_USEC", wd, 1) == 0);
        check(unsetenv("WATCHDOG_PID") == 0);

        check(manager_new(conf, sysfs_root, proc_root, LOG_INFO, &m) == 0);
        check(manager_load(m) == 0);
        check(manager_start(m) == 0);
        /* The page_idle tracker on the fixture (its probe wants a real /proc/self/pagemap). */
        m->tracker = tracker_free(m->tracker);
        ctx = (TrackerContext) { .proc_root = proc_root, .sysfs_root = sysfs_root };
        check(tracker_new(&tracker_page_idle_ops, &ctx, &m->tracker) == 0);
        m->slice_usec = 2 * USEC_PER_MSEC;
        p.m = m;

        /* Drained first in every iteration: sd_notify() blocks on a full socket (10 datagrams),
         * and its reader is this very loop. */
        check(sd_event_add_io(m->event, &notify_source, p.notify_fd, EPOLLIN, on_notify, &p) >= 0);
        check(sd_event_source_set_priority(notify_source, SD_EVENT_PRIORITY_IMPORTANT) >= 0);
        check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) == 0);
        p.client_fd = sp[0];
        p.server_fd = sp[1];
        check(sd_event_add_io(m->event, NULL, p.server_fd, EPOLLIN, on_request, &p) >= 0);
        check(sd_event_add_time_relative(m->event, NULL, CLOCK_MONOTONIC, CLIENT_EVERY_USEC, 0, on_client, &p) >= 0);

        /* The first pass marks idle, the next ones check and mark again. */
        start = clock_now_usec(CLOCK_MONOTONIC);
        for (;;) {
                vm = the_vm(m);
                if (vm && vm->cycles >= PASSES && !m->cycle_running)
                        break;
                if (clock_now_usec(CLOCK_MONOTONIC) - start > DEADLINE_USEC) {
                        fprintf(stderr, "FAIL: %u passes not done in %" PRIu64 " s (VM %s, %" PRIu64 " passes, %" PRIu64 " cycles)\n",
                                PASSES, DEADLINE_USEC / USEC_PER_SEC, vm ? "found" : "not found", vm ? vm->cycles : 0,
                                m->counters.cycles);
                        return EXIT_FAILURE;
                }
                check(sd_event_run(m->event, 100 * USEC_PER_MSEC) >= 0);
        }

        check(vm->state == VM_STATE_TRACKED);
        check_u64(vm->ram_bytes, (uint64_t) RAM_MIB * MIB);
        printf("%u passes over %u GiB in %" PRIu64 " cycles, %" PRIu64 " slices (longest %" PRIu64 " us); "
               "%u watchdog pings (%u during passes); %u requests answered (%u during passes, worst %" PRIu64 " us)\n",
               PASSES, RAM_GIB, m->counters.cycles, m->counters.cycle_slices, m->counters.slice_max_usec, p.pings,
               p.pings_in_pass, p.answered, p.answered_in_pass, p.worst_usec);
        /* Each pass took several slices: the loop came back inside every one. */
        check(m->counters.cycle_slices >= 2 * m->counters.cycles);
        check(p.pings_in_pass >= 1);
        check(p.answered_in_pass >= 1);

        notify_source = sd_event_source_unref(notify_source);
        m = manager_free(m);
        close(sp[0]);
        close(sp[1]);
        close(p.notify_fd);
        printf("test-manager-slices: OK\n");
        return EXIT_SUCCESS;
}
