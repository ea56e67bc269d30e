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

#include "manager-fixture.h"

/* ---- injection points ---- */

static pid_t vanish_after_scan;    /* remove this pid's /proc directory right after a scan */
static pid_t vanish_in_read;       /* at its next pagemap read: remove the directory, read empty */
static pid_t pagemap_gone_in_read; /* at its next pagemap read: remove the pagemap, fail with EIO */

int __real_vmsource_proc_scan(VmSource *s);
int __wrap_vmsource_proc_scan(VmSource *s);
ssize_t __real_pread64(int fd, void *buf, size_t n, off_t offset);
ssize_t __wrap_pread64(int fd, void *buf, size_t n, off_t offset);

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

int main(void) {
        _cleanup_(manager_freep) Manager *m = NULL;
        pid_t healthy, a, b, c;
        uint64_t healthy_cycles;
        size_t from;
        Vm *vm;

        test_data_dir();
        build_fixture("test-manager-faults", "sysfs-1node",
                      "global = {\n"
                      "  tracker = \"page_idle\";\n"
                      "  heat_range = \"32M\";\n"
                      "  libvirt_uri = \"qemu+unix:///system?socket=/nonexistent/test-manager-faults\";\n"
                      "};\n");
        capture_log();

        healthy = spawn_sleeper();
        a = spawn_sleeper();
        b = spawn_sleeper();
        c = spawn_sleeper();

        m = fixture_manager();

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
