/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fault injection into the manager's cycle (issue 12): the real manager, /proc source and
 * page_idle tracker on a fixture tree built here, cycles run by hand (manager_cycle()), faults
 * injected at exact points by wrapping functions at link time:
 *   1. a VM exits between its discovery and its first sample (after vmsource_proc_scan() found
 *      it): dropped in that same cycle, one line ("exited; no longer tracked");
 *   2. a VM exits during a tracker read (its pagemap reads empty, as an exited process's does,
 *      and its /proc directory is gone): dropped, one line;
 *   3. the tracker's kernel file disappears under a running VM (a read of its pagemap fails and
 *      the file is gone; the process still runs): the VM stays listed with its heat, is not
 *      sampled, says so in ONE line however many cycles it lasts, and is sampled again (one line)
 *      once the file is back;
 * and throughout, another VM is sampled every cycle, untouched.
 *
 * The VMs' pids are real processes (children that wait), so that the manager's move_pages(2)
 * placement queries have a process to ask (they answer -EFAULT for the fixture's addresses, which
 * that process does not map); everything else comes from the fixture /proc.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "tmptree.h"
#include "vtism/log.h"
#include "vtism/manager.h"
#include "vtism/tracker.h"
#include "vtism/util.h"

#define BASE_HVA UINT64_C(0x40000000)
#define RAM_MIB 64u
#define N_PAGES (RAM_MIB * 256u)
#define PFN0 UINT64_C(0x10000)

static char *root;
static char *proc_root, *sysfs_root;
static int real_stderr = -EBADF;
static char *log_path;

/* ---- injection points ---- */

static pid_t vanish_after_scan;    /* remove this pid's /proc directory right after a scan */
static pid_t vanish_in_read;       /* at its next pagemap read: remove the directory, read empty */
static pid_t pagemap_gone_in_read; /* at its next pagemap read: remove the pagemap, fail with EIO */

int __real_vmsource_proc_scan(VmSource *s);
int __wrap_vmsource_proc_scan(VmSource *s);
ssize_t __real_pread64(int fd, void *buf, size_t n, off_t offset);
ssize_t __wrap_pread64(int fd, void *buf, size_t n, off_t offset);

static void remove_pid_dir(pid_t pid) {
        char *dir = xasprintf("%s/%d", proc_root, (int) pid);

        tmptree_remove(dir);
}

int __wrap_vmsource_proc_scan(VmSource *s) {
        int r = __real_vmsource_proc_scan(s);

        if (vanish_after_scan > 0) {
                remove_pid_dir(vanish_after_scan);
                vanish_after_scan = 0;
        }
        return r;
}

/* Is fd the fixture pagemap of pid? */
static bool fd_is_pagemap(int fd, pid_t pid) {
        _cleanup_free_ char *link = xasprintf("/proc/self/fd/%d", fd), *want = xasprintf("%s/%d/pagemap", proc_root, (int) pid);
        char target[PATH_MAX];
        ssize_t n = readlink(link, target, sizeof(target) - 1);

        if (n <= 0)
                return false;
        target[n] = 0;
        return streq(target, want);
}

ssize_t __wrap_pread64(int fd, void *buf, size_t n, off_t offset) {
        if (vanish_in_read > 0 && fd_is_pagemap(fd, vanish_in_read)) {
                remove_pid_dir(vanish_in_read);
                vanish_in_read = 0;
                return 0;  /* the pagemap of an exited mm reads empty */
        }
        if (pagemap_gone_in_read > 0 && fd_is_pagemap(fd, pagemap_gone_in_read)) {
                _cleanup_free_ char *p = xasprintf("%s/%d/pagemap", proc_root, (int) pagemap_gone_in_read);

                check(unlink(p) == 0);
                pagemap_gone_in_read = 0;
                errno = EIO;
                return -1;
        }
        return __real_pread64(fd, buf, n, offset);
}

/* ---- the fixture ---- */

static int copy_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        _cleanup_free_ char *from = xasprintf("%s/sysfs-1node", getenv("VTISM_TEST_DATA"));
        const char *rel = path + strlen(from);
        _cleanup_free_ char *text = NULL, *dir = NULL;
        size_t size;

        if (type == FTW_D) {
                if (!*rel)
                        return 0;
                dir = xasprintf("%s%s", sysfs_root, rel);
                return mkdir(dir, 0755);
        }
        if (type == FTW_F) {
                check(read_file_at_size(NULL, path, &text, &size) == 0);
                tmptree_write(sysfs_root, rel + 1, text, size);
        }
        return 0;
}

static void write_at(const char *path, const void *buf, size_t size, uint64_t offset) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

        check(fd >= 0);
        check(pwrite(fd, buf, size, (off_t) offset) == (ssize_t) size);
        close(fd);
}

static void write_pagemap(pid_t pid) {
        static uint64_t pagemap[N_PAGES];
        _cleanup_free_ char *p = xasprintf("%s/%d/pagemap", proc_root, (int) pid);

        for (unsigned i = 0; i < N_PAGES; i++)
                pagemap[i] = (UINT64_C(1) << 63) | (PFN0 + i);
        write_at(p, pagemap, sizeof(pagemap), BASE_HVA / 4096 * 8);
}

static void build_fixture(void) {
        _cleanup_free_ char *from = xasprintf("%s/sysfs-1node", getenv("VTISM_TEST_DATA"));
        _cleanup_free_ char *bitmap = NULL, *kpageflags = NULL;
        uint64_t zero = 0;

        root = tmptree_new("test-manager-faults");
        proc_root = xasprintf("%s/proc", root);
        sysfs_root = xasprintf("%s/sys", root);
        check(mkdir(proc_root, 0755) == 0);
        check(mkdir(sysfs_root, 0755) == 0);
        check(nftw(from, copy_one, 16, FTW_PHYS) == 0);

        tmptree_parents(sysfs_root, "kernel/mm/page_idle/bitmap");
        bitmap = xasprintf("%s/kernel/mm/page_idle/bitmap", sysfs_root);
        write_at(bitmap, &zero, sizeof(zero), (PFN0 + N_PAGES) / 64 * 8);
        kpageflags = xasprintf("%s/kpageflags", proc_root);
        write_at(kpageflags, &zero, sizeof(zero), (PFN0 + N_PAGES) * 8);

        tmptree_write_str(root, "vtism.conf",
                          "global = {\n"
                          "  tracker = \"page_idle\";\n"
                          "  heat_range = \"32M\";\n"
                          "  libvirt_uri = \"qemu+unix:///system?socket=/nonexistent/test-manager-faults\";\n"
                          "};\n");
}

static void write_pid_file(pid_t pid, const char *file, const void *data, size_t size) {
        _cleanup_free_ char *path = xasprintf("%d/%s", (int) pid, file);

        tmptree_write(proc_root, path, data, size);
}

/* A fixture QEMU named name for the real process pid. */
static void add_vm(pid_t pid, const char *name) {
        _cleanup_free_ char *stat = NULL, *maps = NULL;
        static const char status[] = "Name:\tqemu-system-x86\nUid:\t0\t0\t0\t0\n";
        char buf[256];
        int n;

        n = snprintf(buf, sizeof(buf), "qemu-system-x86_64%c-m%c%u%c-name%cguest=%s%c", 0, 0, RAM_MIB, 0, 0, name, 0);
        write_pid_file(pid, "cmdline", buf, (size_t) n);
        stat = xasprintf("%d (qemu-system-x86) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0\n", (int) pid, 1000 + (int) pid);
        write_pid_file(pid, "stat", stat, strlen(stat));
        write_pid_file(pid, "status", status, strlen(status));
        maps = xasprintf("%" PRIx64 "-%" PRIx64 " rw-p 00000000 00:00 0 \n", BASE_HVA, BASE_HVA + (uint64_t) RAM_MIB * MIB);
        write_pid_file(pid, "maps", maps, strlen(maps));
        write_pagemap(pid);
}

static pid_t children[8];
static size_t n_children;

static pid_t spawn_sleeper(void) {
        pid_t pid = fork();

        check(pid >= 0);
        if (pid == 0) {
                for (;;)
                        pause();
        }
        check(n_children < ELEMENTSOF(children));
        children[n_children++] = pid;
        return pid;
}

/* ---- the log ---- */

static char *log_text(void) {
        char *text = NULL;

        fflush(stderr);
        check(read_file_at(NULL, log_path, &text) == 0);
        return text;
}

static unsigned count(const char *text, const char *needle) {
        unsigned n = 0;

        for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

/* The log from offset on must hold needle exactly `times` times. */
static void check_log(size_t from, const char *needle, unsigned times) {
        _cleanup_free_ char *text = log_text();
        unsigned n = count(text + MIN(from, strlen(text)), needle);

        if (n != times) {
                fprintf(stderr, "FAIL: '%s' logged %u times since offset %zu, expected %u\n", needle, n, from, times);
                exit(EXIT_FAILURE);
        }
}

/* check_log() of a formatted needle */
_printf_(3, 4) static void check_logf(size_t from, unsigned times, const char *fmt, ...) {
        _cleanup_free_ char *needle = NULL;
        va_list ap;

        va_start(ap, fmt);
        check(vasprintf(&needle, fmt, ap) >= 0);
        va_end(ap);
        check_log(from, needle, times);
}

static size_t log_offset(void) {
        _cleanup_free_ char *text = log_text();
        return strlen(text);
}

/* At exit, whatever the outcome: show the daemon's log, end the children, remove the tree. */
static void at_exit(void) {
        _cleanup_free_ char *text = NULL;

        fflush(stderr);
        if (real_stderr >= 0 && read_file_at(NULL, log_path, &text) >= 0)
                dprintf(real_stderr, "--- the daemon's log ---\n%s--- end of the log ---\n", text);
        for (size_t i = 0; i < n_children; i++)
                (void) kill(children[i], SIGKILL);
        while (wait(NULL) > 0)
                ;
        if (root)
                tmptree_remove(root);
        root = NULL;
}

/* ---- helpers ---- */

static Vm *vm_of(Manager *m, pid_t pid) {
        for (size_t i = 0; i < m->n_vms; i++)
                if (m->vms[i]->pid == pid)
                        return m->vms[i];
        return NULL;
}

static void cycles(Manager *m, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                check(manager_cycle(m) == 0);
}

int main(void) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_free_ char *conf = NULL;
        TrackerContext ctx;
        pid_t healthy, a, b, c;
        uint64_t healthy_cycles;
        size_t from;
        Vm *vm;

        if (!getenv("VTISM_TEST_DATA")) {
                fprintf(stderr, "VTISM_TEST_DATA is not set (run through meson test), skipping\n");
                return 77;
        }
        build_fixture();
        conf = xasprintf("%s/vtism.conf", root);

        /* The daemon's log goes to a file we read back; shown at exit. */
        log_path = xasprintf("%s/log", root);
        real_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        check(real_stderr >= 0);
        check(freopen(log_path, "w", stderr));
        setvbuf(stderr, NULL, _IOLBF, 0);
        atexit(at_exit);
        log_setup("vtismd", LOG_TARGET_CONSOLE);

        healthy = spawn_sleeper();
        a = spawn_sleeper();
        b = spawn_sleeper();
        c = spawn_sleeper();

        check(manager_new(conf, sysfs_root, proc_root, LOG_INFO, &m) == 0);
        check(manager_load(m) == 0);
        check(manager_vms_start(m) == 0);
        /* The page_idle tracker on the fixture (its probe wants a real /proc/self/pagemap). */
        m->tracker = tracker_free(m->tracker);
        ctx = (TrackerContext) { .proc_root = proc_root, .sysfs_root = sysfs_root };
        check(tracker_new(&tracker_page_idle_ops, &ctx, &m->tracker) == 0);

        add_vm(healthy, "healthy");
        cycles(m, 2);
        vm = vm_of(m, healthy);
        check(vm && vm->state == VM_STATE_TRACKED && vm->ram_bytes == RAM_MIB * MIB);
        healthy_cycles = vm->cycles;
        check(healthy_cycles >= 1);

        /* 1. exits between discovery and sampling */
        from = log_offset();
        add_vm(a, "fault-a");
        vanish_after_scan = a;
        cycles(m, 1);
        check(!vm_of(m, a));
        check_logf(from, 1, "VM fault-a (pid %d) found via proc.", (int) a);
        check_logf(from, 1, "VM fault-a (pid %d) exited; no longer tracked.", (int) a);
        check_logf(from, 0, "(pid %d) is not sampled", (int) a);
        printf("1. exited between discovery and sampling: dropped in the same cycle, one line\n");

        /* 2. exits during a tracker read */
        add_vm(b, "fault-b");
        cycles(m, 2);
        vm = vm_of(m, b);
        check(vm && vm->state == VM_STATE_TRACKED && vm->cycles >= 1);
        from = log_offset();
        vanish_in_read = b;
        cycles(m, 1);
        check(vanish_in_read == 0); /* the read happened */
        check(!vm_of(m, b));
        check_logf(from, 1, "VM fault-b (pid %d) exited; no longer tracked.", (int) b);
        printf("2. exited during a tracker read: dropped, one line\n");

        /* 3. the tracker's kernel file disappears under a running VM */
        add_vm(c, "fault-c");
        cycles(m, 2);
        vm = vm_of(m, c);
        check(vm && vm->state == VM_STATE_TRACKED && vm->cycles >= 1);
        from = log_offset();
        pagemap_gone_in_read = c;
        cycles(m, 30); /* five retries */
        check(pagemap_gone_in_read == 0);
        vm = vm_of(m, c);
        check(vm);                     /* still listed: it runs */
        check(vm->state == VM_STATE_UNTRACKABLE);
        check(vm->heat);               /* its heat is kept */
        check(vm->error && strstr(vm->error, "the page_idle tracker cannot follow it: No such file or directory"));
        check_logf(from, 1, "VM fault-c (pid %d) is not sampled: the page_idle tracker cannot follow it:", (int) c);
        check_logf(from, 0, "(pid %d) exited", (int) c);
        check_log(from, "found via", 0);   /* not dropped and found again */

        from = log_offset();
        write_pagemap(c);
        cycles(m, 8);
        vm = vm_of(m, c);
        check(vm && vm->state == VM_STATE_TRACKED);
        check_logf(from, 1, "VM fault-c (pid %d) is sampled again.", (int) c);
        printf("3. the pagemap vanished under a running VM: listed, heat kept, one line in 30 cycles; back: sampled again, one line\n");

        /* The other VM was sampled in every cycle. */
        vm = vm_of(m, healthy);
        check(vm && vm->state == VM_STATE_TRACKED);
        check_int(vm->cycles - healthy_cycles, m->counters.cycles - 2);
        printf("the healthy VM was sampled in all %" PRIu64 " cycles\n", vm->cycles - healthy_cycles);

        m = manager_free(m);
        printf("test-manager-faults: OK\n");
        return EXIT_SUCCESS;
}
