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
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The fixture QEMU (manager-fixture.h): 64 GiB of guest RAM, the first N_PRESENT pages present. */
#define RAM_GIB 64u
#define RAM_MIB (RAM_GIB * 1024u)
#define N_PRESENT 4096u
#include "manager-fixture.h"

#define WATCHDOG_USEC 8000u
#define CLIENT_EVERY_USEC 2000u
#define PASSES 3u
#define DEADLINE_USEC (600 * USEC_PER_SEC)

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

int main(void) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_free_ char *conf = NULL, *notify_path = NULL, *wd = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int sp[2];
        TrackerContext ctx;
        Probe p = {};
        sd_event_source *notify_source = NULL;
        usec_t start;
        pid_t child;
        Vm *vm;

        test_data_dir();
        log_setup("vtismd", LOG_TARGET_CONSOLE);
        atexit(at_exit);

        child = spawn_sleeper();
        build_fixture("test-manager-slices", "sysfs-1node",
                      "global = {\n"
                      "  tracker = \"page_idle\";\n"
                      "  sample_interval_ms = 100;\n"
                      "  libvirt_uri = \"qemu+unix:///system?socket=/nonexistent/test-manager-slices\";\n"
                      "};\n");
        add_vm(child, "big");
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
                vm = vm_of(m, child);
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
