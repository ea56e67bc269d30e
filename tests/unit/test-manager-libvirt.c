/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The manager and libvirt's word, deterministically (what the libvirt integration tests see only
 * by timing, under ASan on a loaded machine): the real manager, /proc source and page_idle
 * tracker on a fixture tree (manager-fixture.h), cycles run by hand, and link-time wraps for
 *   - vmsource_libvirt_new(): a fake libvirt source (fake-libvirt.h); the test calls the
 *     manager's handler itself, as the real source's loop side does with what libvirt said;
 *   - clock_now_usec(): CLOCK_MONOTONIC plus an offset the test advances (the fake clock).
 *
 *   1. A libvirt domain whose QEMU is gone waits 10 s (manager-vms.c, LIBVIRT_VERDICT_USEC) for
 *      libvirt's stopped/crashed/migrated event, counted in time, not cycles: after 60 cycles over
 *      9.5 s it is still listed, not sampled ("its QEMU process is gone"), and libvirt's
 *      MIGRATED_OUT then ends it as "migrated away", never as "exited".
 *   2. Without libvirt's word the domain goes as "exited" once the 10 s have passed, not before.
 *   3. The home node follows libvirt: a VM found via /proc first gets its home from its pages
 *      ("most pages", node 0 of sysfs-4node); libvirt's announcement with <numatune> nodeset 1
 *      makes node 1 its home at once ("numatune"), a live change (CHANGED) to nodeset 0 node 0,
 *      and vCPU pinning to node 1's CPUs without a nodeset node 1 ("vcpu pinning").
 *
 * sysfs-4node: DRAM 0 (CPUs 0-15,32-47), DRAM 1 (16-31,48-63), CXL 2, 3.
 */
#include <errno.h>

#include "fake-libvirt.h"
#include "manager-fixture.h"
#include "vtism/heatmap.h"

#define VERDICT_USEC (10 * USEC_PER_SEC) /* LIBVIRT_VERDICT_USEC in manager-vms.c */

/* ---- the fake clock ---- */

static usec_t clock_offset_usec;

usec_t __real_clock_now_usec(clockid_t clock);
usec_t __wrap_clock_now_usec(clockid_t clock);

usec_t __wrap_clock_now_usec(clockid_t clock) {
        usec_t t = __real_clock_now_usec(clock);

        return clock == CLOCK_MONOTONIC ? t + clock_offset_usec : t;
}

/* libvirt says event about the domain name (uuid) whose QEMU is pid. */
static void libvirt_says(VmEvent event, pid_t pid, const char *uuid, const char *name, const char *nodeset,
                         const char *cpuset) {
        VmIdentity id = libvirt_domain(pid, uuid, name, fixture_start_time(pid), (uint64_t) RAM_MIB * MIB);

        id.numa_nodeset = nodeset;
        id.vcpu_cpuset = cpuset;
        libvirt_tell(event, &id);
}

/* n cycles, the fake clock advancing step_usec before each */
static void cycles_over(Manager *m, unsigned n, usec_t step_usec) {
        for (unsigned i = 0; i < n; i++) {
                clock_offset_usec += step_usec;
                cycles(m, 1);
        }
}

/* A libvirt domain with a fixture QEMU: announced by libvirt, found again in /proc, tracked. */
static Vm *domain_start(Manager *m, pid_t pid, const char *uuid, const char *name) {
        Vm *vm;

        add_vm(pid, name);
        libvirt_says(VM_EVENT_STARTED, pid, uuid, name, NULL, NULL);
        cycles(m, 2);
        vm = vm_of(m, pid);
        check(vm && vm->state == VM_STATE_TRACKED && vm->cycles >= 1);
        check(vm->sources == (VM_SOURCE_LIBVIRT | VM_SOURCE_PROC));
        check_str(vm->uuid, uuid);
        return vm;
}

static void check_home(const Vm *vm, int node, VmHomeReason reason, const char *when) {
        if (vm->home_node != node || vm->home_reason != reason) {
                fprintf(stderr, "FAIL: %s: VM %s's home node %d (%s), expected %d (%s)\n", when, vm->name, vm->home_node,
                        vm_home_reason_to_string(vm->home_reason) ?: "(none)", node,
                        vm_home_reason_to_string(reason) ?: "(none)");
                exit(EXIT_FAILURE);
        }
}

static void test_verdict_waits(Manager *m, pid_t pid) {
        static const char uuid[] = "6f1c2d3e-0000-4000-8000-00000000000a", name[] = "lv-migrated";
        uint64_t sampled;
        size_t from;
        Vm *vm;

        domain_start(m, pid, uuid, name);
        from = log_offset();
        remove_pid_dir(pid); /* QEMU exits: libvirt's event comes later */
        cycles(m, 1);
        vm = vm_of(m, pid);
        check(vm && vm->gone_usec > 0);
        sampled = vm->cycles;

        /* 60 cycles (sample_interval_ms = 200 would be 12 s of them) over 9.5 s */
        cycles_over(m, 60, 9500 * USEC_PER_MSEC / 60);
        vm = vm_of(m, pid);
        if (!vm) {
                fprintf(stderr, "FAIL: 1. the domain whose QEMU is gone was dropped before 10 s had passed\n");
                exit(EXIT_FAILURE);
        }
        check_int(vm->cycles, sampled); /* not sampled while it waits */
        check_logf(from, 0, "VM %s (pid %d) exited", name, (int) pid);

        libvirt_says(VM_EVENT_MIGRATED_OUT, pid, uuid, name, NULL, NULL);
        check(!vm_of(m, pid));
        check_logf(from, 1, "VM %s (pid %d) migrated away; no longer tracked.", name, (int) pid);
        check_logf(from, 0, "VM %s (pid %d) exited", name, (int) pid);
        cycles(m, 2);
        check_logf(from, 1, "(pid %d)", (int) pid); /* nothing more about it */
        printf("1. QEMU gone: the domain waited 60 cycles over 9.5 s for libvirt, then went as migrated away\n");
}

static void test_verdict_times_out(Manager *m, pid_t pid) {
        static const char uuid[] = "6f1c2d3e-0000-4000-8000-00000000000b", name[] = "lv-silent";
        size_t from;

        domain_start(m, pid, uuid, name);
        from = log_offset();
        remove_pid_dir(pid);
        cycles(m, 1);
        check(vm_of(m, pid));
        cycles_over(m, 99, (VERDICT_USEC - 100 * USEC_PER_MSEC) / 99); /* 9.9 s */
        check(vm_of(m, pid));
        check_logf(from, 0, "VM %s (pid %d) exited", name, (int) pid);
        cycles_over(m, 1, 200 * USEC_PER_MSEC); /* 10.1 s */
        check(!vm_of(m, pid));
        check_logf(from, 1, "VM %s (pid %d) exited; no longer tracked.", name, (int) pid);
        /* libvirt's word after the verdict is about a VM no longer known: nothing happens */
        libvirt_says(VM_EVENT_STOPPED, pid, uuid, name, NULL, NULL);
        check_logf(from, 1, "(pid %d)", (int) pid);
        printf("2. QEMU gone, libvirt silent: listed at 9.9 s, gone as exited at 10.1 s\n");
}

static void test_home_follows_libvirt(Manager *m, pid_t pid) {
        static const char uuid[] = "6f1c2d3e-0000-4000-8000-00000000000c", name[] = "lv-home";
        _cleanup_free_ int *status = xcalloc(N_PAGES, sizeof(int)); /* every page on node 0 */
        Vm *vm;

        add_vm(pid, name);
        cycles(m, 2);
        vm = vm_of(m, pid);
        check(vm && vm->state == VM_STATE_TRACKED && vm->sources == VM_SOURCE_PROC);
        /* What the migrator's placement sweep reports: all its pages on node 0. */
        check(heatmap_residency_update(vm->heat, BASE_HVA, status, N_PAGES) == 0);
        cycles(m, 1);
        vm = vm_of(m, pid);
        check_home(vm, 0, VM_HOME_MOST_PAGES, "found via /proc, its pages on node 0");

        libvirt_says(VM_EVENT_STARTED, pid, uuid, name, "1", NULL);
        vm = vm_of(m, pid);
        check(vm && (vm->sources & VM_SOURCE_LIBVIRT));
        check_home(vm, 1, VM_HOME_NUMATUNE, "libvirt announced it with <numatune> nodeset 1");
        cycles(m, 3);
        check_home(vm_of(m, pid), 1, VM_HOME_NUMATUNE, "3 cycles after libvirt's <numatune> nodeset 1");

        libvirt_says(VM_EVENT_CHANGED, pid, uuid, name, "0", NULL);
        check_home(vm_of(m, pid), 0, VM_HOME_NUMATUNE, "its <numatune> changed to nodeset 0");

        libvirt_says(VM_EVENT_CHANGED, pid, uuid, name, NULL, "16-31");
        check_home(vm_of(m, pid), 1, VM_HOME_VCPU_PINNING, "no <numatune>, vCPUs pinned to node 1's CPUs 16-31");
        cycles(m, 2);
        check_home(vm_of(m, pid), 1, VM_HOME_VCPU_PINNING, "2 cycles after the pinning");
        printf("3. home node: 0 from its pages, 1 with libvirt's numatune 1, 0 with numatune 0, 1 pinned to 16-31\n");
}

int main(void) {
        _cleanup_(manager_freep) Manager *m = NULL;
        pid_t a, b, c;

        test_data_dir();
        build_fixture("test-manager-libvirt", "sysfs-4node",
                      "global = {\n"
                      "  tracker = \"page_idle\";\n"
                      "  heat_range = \"32M\";\n"
                      "  sample_interval_ms = 200;\n"
                      "  dry_run = true;\n"
                      "  libvirt_uri = \"qemu:///system\";\n" /* the fake's */
                      "};\n");
        capture_log();

        a = spawn_sleeper();
        b = spawn_sleeper();
        c = spawn_sleeper();

        m = fixture_manager();
        check(libvirt);

        test_verdict_waits(m, a);
        test_verdict_times_out(m, b);
        test_home_follows_libvirt(m, c);

        m = manager_free(m);
        check(!libvirt);
        printf("test-manager-libvirt: OK\n");
        return EXIT_SUCCESS;
}
