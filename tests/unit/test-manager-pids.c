/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The manager finds its VMs by pid through an index (m->vm_pids, manager_vm_by_pid()), which
 * every insertion, removal and move of m->vms must keep: the real manager and /proc source on a
 * fixture tree (manager-fixture.h), a fake libvirt source (fake-libvirt.h). After every burst each
 * VM is found by its pid at its place in m->vms, every pid gone is not found, and the bus's lookup
 * by pid (manager_find_vm()) finds the same VM.
 *
 *   1. A burst of discoveries: a /proc scan finding 300 QEMUs, then libvirt reporting 150 of them
 *      (merged by pid: still 300 VMs) and 20 domains /proc does not see; the index grew from 16
 *      to 512 slots on the way.
 *   2. A burst of removals and discoveries: libvirt stops every third domain, 1 in 4 of the
 *      others' processes exit, 40 new ones appear (one scan), libvirt's resync drops its 20
 *      domains /proc does not see (remove_vm()'s compaction, from the middle and the end).
 *   3. Removals during a cycle, with the sampling cursor in the middle of m->vms (remove_vm()'s
 *      swap to the cursor's side): libvirt stops the first VM, the one just sampled, the next one
 *      and the last; a process whose pid a new process took (start time changed) ends in its own
 *      turn (vm_gone()). Every VM left is sampled exactly once in that cycle; the new process
 *      with the old pid is a new VM, found by it at the next scan.
 *   4. Removals during a sliced tracker pass (page_idle, a VM's pass in slices): libvirt stops the
 *      first VM while the pass of a VM in the middle is in flight, then the second while the last
 *      VM's is; the pass goes on with its VM (just before the cursor, where the cycle's next step
 *      expects it: before, the swap moved it away and that step's assertion failed), and every
 *      VM left is sampled once more in each of the two cycles.
 */
#include <errno.h>

/* Fixture VMs of 128 MiB, so that a page_idle pass takes two slices (64 MiB each), of which only
 * the first 4 MiB are present (300 VMs of them) */
#define RAM_MIB 128u
#define N_PRESENT 1024u
#include "fake-libvirt.h"
#include "manager-fixture.h"

#define N_PROC 300
#define N_DOMAINS 150   /* the first N_DOMAINS of the /proc QEMUs are libvirt's too */
#define N_LIBVIRT_ONLY 20
#define N_NEW 40
#define PID0 20000
#define LIBVIRT_ONLY_PID0 40000
#define NEW_PID0 30000

static const char conf[] = "global = {\n"
                           "  tracker = \"page_idle\";\n"
                           "  heat_range = \"4M\";\n"
                           "  dry_run = true;\n"
                           "  libvirt_uri = \"qemu:///system\";\n" /* the fake's */
                           "};\n";

static void domain(VmEvent event, pid_t pid) {
        _cleanup_free_ char *uuid = xasprintf("0d0d0d0d-4d5e-4f60-8a9b-%012x", (unsigned) pid);
        _cleanup_free_ char *name = xasprintf("dom-%d", (int) pid);
        VmIdentity id = libvirt_domain(pid, uuid, name, fixture_start_time(pid), (uint64_t) RAM_MIB * MIB);

        libvirt_tell(event, &id);
}

/* Every VM found by its pid at its place; no other pid in the index; the bus's lookup agrees. */
static void check_index(Manager *m) {
        check_u64(m->vm_pids.n, m->n_vms);
        for (size_t i = 0; i < m->n_vms; i++) {
                Vm *vm = m->vms[i];
                size_t at = SIZE_MAX;

                check(manager_vm_by_pid(m, vm->pid, &at) == vm);
                check_u64(at, i);
                check(vm_of(m, vm->pid) == vm); /* the scan the index replaced */
        }
}

static void check_found(Manager *m, pid_t pid) {
        _cleanup_free_ char *key = xasprintf("%d", (int) pid);
        Vm *vm = NULL;

        check(manager_vm_by_pid(m, pid, NULL));
        check_int(manager_find_vm(m, key, &vm), 0);
        check(vm == manager_vm_by_pid(m, pid, NULL));
}

static void check_gone(Manager *m, pid_t pid) {
        _cleanup_free_ char *key = xasprintf("%d", (int) pid);
        Vm *vm = NULL;

        check(!manager_vm_by_pid(m, pid, NULL));
        check(!vm_of(m, pid));
        check_int(manager_find_vm(m, key, &vm), -ENOENT);
}

/* /proc QEMU k of test 1: gone in test 2 (libvirt's, stopped; or a process that exited)? */
static bool gone_in_burst(unsigned k) {
        return k < N_DOMAINS ? k % 3 == 0 : k % 4 == 0;
}

static void test_found_in_burst(Manager *m) {
        size_t slots_seen = 0;

        for (unsigned k = 0; k < N_PROC; k++)
                add_vm(PID0 + (pid_t) k, "q");
        check(vmsource_proc_scan(m->proc_source) == 0);
        check_u64(m->n_vms, N_PROC);
        check_index(m);
        for (unsigned k = 0; k < N_DOMAINS; k++) {
                domain(VM_EVENT_STARTED, PID0 + (pid_t) k);
                if (k % 16 == 0)
                        check_index(m);
        }
        for (unsigned k = 0; k < N_LIBVIRT_ONLY; k++)
                domain(VM_EVENT_STARTED, LIBVIRT_ONLY_PID0 + (pid_t) k);
        slots_seen = m->vm_pids.n_slots;
        check_u64(m->n_vms, N_PROC + N_LIBVIRT_ONLY);
        check_u64(slots_seen, 512);
        check_index(m);
        for (unsigned k = 0; k < N_PROC; k++) {
                Vm *vm = manager_vm_by_pid(m, PID0 + (pid_t) k, NULL);

                check(vm && vm->sources == (k < N_DOMAINS ? VM_SOURCE_PROC | VM_SOURCE_LIBVIRT : VM_SOURCE_PROC));
        }
        while (loop_once(m)) /* the burst's identities, settled */
                ;
        for (unsigned k = 0; k < N_PROC; k += 7)
                check_found(m, PID0 + (pid_t) k);
        check_gone(m, PID0 + N_PROC);
        check_gone(m, 1);
        printf("1. %u QEMUs found by one scan, %u of them and %u more reported by libvirt: %zu VMs, each found by "
               "its pid (index %zu slots)\n",
               N_PROC, N_DOMAINS, N_LIBVIRT_ONLY, m->n_vms, slots_seen);
}

static void test_removed_in_burst(Manager *m) {
        unsigned n_gone = 0;

        for (unsigned k = 0; k < N_DOMAINS; k++)
                if (gone_in_burst(k)) {
                        domain(VM_EVENT_STOPPED, PID0 + (pid_t) k);
                        remove_pid_dir(PID0 + (pid_t) k);
                        n_gone++;
                        check_index(m);
                }
        for (unsigned k = N_DOMAINS; k < N_PROC; k++)
                if (gone_in_burst(k)) {
                        remove_pid_dir(PID0 + (pid_t) k);
                        n_gone++;
                }
        for (unsigned k = 0; k < N_NEW; k++)
                add_vm(NEW_PID0 + (pid_t) k, "new");
        check(vmsource_proc_scan(m->proc_source) == 0);
        check_index(m);
        libvirt_tell(VM_EVENT_RESYNC_BEGIN, NULL);
        for (unsigned k = 0; k < N_DOMAINS; k++)
                if (!gone_in_burst(k))
                        domain(VM_EVENT_STARTED, PID0 + (pid_t) k);
        libvirt_tell(VM_EVENT_RESYNC_END, NULL); /* the libvirt-only domains are gone */
        check_index(m);
        check_u64(m->n_vms, N_PROC - n_gone + N_NEW);
        while (loop_once(m))
                ;
        for (unsigned k = 0; k < N_PROC; k++) {
                if (gone_in_burst(k))
                        check_gone(m, PID0 + (pid_t) k);
                else
                        check_found(m, PID0 + (pid_t) k);
        }
        for (unsigned k = 0; k < N_LIBVIRT_ONLY; k++)
                check_gone(m, LIBVIRT_ONLY_PID0 + (pid_t) k);
        for (unsigned k = 0; k < N_NEW; k++)
                check_found(m, NEW_PID0 + (pid_t) k);
        check_index(m);
        printf("2. %u VMs stopped or exited, %u found, %u dropped by a resync, in one burst: %zu VMs, each found by its pid\n",
               n_gone, N_NEW, N_LIBVIRT_ONLY, m->n_vms);
}

/* Its /proc stat with another start time: a new process has the pid. */
static void reuse_pid(pid_t pid, unsigned long long start_time) {
        _cleanup_free_ char *stat = xasprintf("%d (qemu-system-x86) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %llu 0 0\n",
                                              (int) pid, start_time);

        write_pid_file(pid, "stat", stat, strlen(stat));
}

static void stop(Manager *m, size_t index, pid_t *stopped, size_t *n_stopped) {
        pid_t pid = m->vms[index]->pid;

        check(m->vms[index]->sources & VM_SOURCE_LIBVIRT);
        domain(VM_EVENT_STOPPED, pid);
        remove_pid_dir(pid);
        stopped[(*n_stopped)++] = pid;
        check_index(m);
}

/* The position of the first libvirt VM at or after from (in direction dir), which must exist. */
static size_t libvirt_vm_at(const Manager *m, size_t from, int dir) {
        for (size_t i = from; i < m->n_vms; i = dir > 0 ? i + 1 : i - 1)
                if (m->vms[i]->sources & VM_SOURCE_LIBVIRT)
                        return i;
        check(false);
        return 0;
}

static void test_removed_in_cycle(Manager *m) {
        pid_t stopped[8], replaced;
        size_t n_stopped = 0, n_before;
        unsigned long long new_start = 999999;
        uint64_t seq_before = m->vm_seq;
        Vm *vm;

        manager_vms_cycle_begin(m);
        check_u64(m->sample_cursor, 0);
        /* a VM's turn at a time (deadline passed: one VM or one slice a step), to the middle */
        while (m->sample_cursor < m->n_vms / 2 || m->sampling_vm)
                check(manager_vms_cycle_step(m, 0) > 0);
        n_before = m->n_vms;

        /* a /proc-only VM after the cursor: a new process takes its pid before its turn */
        for (size_t i = m->sample_cursor + 1;; i++)
                if (!(m->vms[i]->sources & VM_SOURCE_LIBVIRT)) {
                        replaced = m->vms[i]->pid;
                        break;
                }
        reuse_pid(replaced, new_start);

        stop(m, libvirt_vm_at(m, 0, 1), stopped, &n_stopped);                          /* sampled, the first */
        stop(m, libvirt_vm_at(m, m->sample_cursor - 1, -1), stopped, &n_stopped);     /* just sampled */
        stop(m, libvirt_vm_at(m, m->sample_cursor, 1), stopped, &n_stopped);          /* the next */
        stop(m, libvirt_vm_at(m, m->n_vms - 1, -1), stopped, &n_stopped);             /* near the end */
        stop(m, libvirt_vm_at(m, m->sample_cursor / 2, 1), stopped, &n_stopped);      /* sampled, inside */
        for (size_t i = 0; i < m->sample_cursor; i++)
                check_u64(m->vms[i]->cycles, 1); /* [0, cursor): sampled in this cycle, and only they */
        for (size_t i = m->sample_cursor; i < m->n_vms; i++)
                check_u64(m->vms[i]->cycles, 0);

        while (manager_vms_cycle_step(m, USEC_INFINITY) > 0)
                ;
        check_index(m);
        check_u64(m->n_vms, n_before - n_stopped - 1);
        for (size_t i = 0; i < m->n_vms; i++)
                check_u64(m->vms[i]->cycles, 1); /* every VM left: its turn, once */
        for (size_t k = 0; k < n_stopped; k++)
                check_gone(m, stopped[k]);
        check_gone(m, replaced); /* ended in its turn: its start time is not its process's */

        check(vmsource_proc_scan(m->proc_source) == 0);
        check_index(m);
        vm = manager_vm_by_pid(m, replaced, NULL);
        check(vm && vm->start_time == new_start && vm->seq > seq_before && vm->cycles == 0);
        while (loop_once(m))
                ;
        check_found(m, replaced);
        printf("3. %zu VMs stopped with the cycle's cursor at the middle, one pid taken by a new process: every VM "
               "left sampled once, the new process a new VM found by the pid\n",
               n_stopped);
}

/* Each VM's pid and cycles, to compare after a cycle. */
typedef struct Sampled {
        pid_t pid;
        uint64_t cycles;
} Sampled;

static Sampled *sampled_now(const Manager *m) {
        Sampled *s = xcalloc(m->n_vms, sizeof(Sampled));

        for (size_t i = 0; i < m->n_vms; i++)
                s[i] = (Sampled) { .pid = m->vms[i]->pid, .cycles = m->vms[i]->cycles };
        return s;
}

/* Every VM left was sampled once since before (n of them then). */
static void check_sampled_once(const Manager *m, const Sampled *before, size_t n) {
        size_t left = 0;

        for (size_t k = 0; k < n; k++) {
                const Vm *vm = manager_vm_by_pid(m, before[k].pid, NULL);

                if (!vm)
                        continue;
                check_u64(vm->cycles, before[k].cycles + 1);
                left++;
        }
        check_u64(left, m->n_vms);
}

/* A cycle with a VM's sliced pass in flight, the cursor at or past at, when vms[index_gone] is stopped. */
static void cycle_removing_in_slice(Manager *m, size_t at, size_t index_gone) {
        _cleanup_free_ Sampled *before = NULL;
        size_t n = m->n_vms;
        pid_t stopped[1];
        size_t n_stopped = 0;
        Vm *in_flight;

        manager_vms_cycle_begin(m);
        before = sampled_now(m);
        n = m->n_vms;
        while (!(m->sampling_vm && m->sample_cursor >= at))
                check(manager_vms_cycle_step(m, 0) > 0);
        in_flight = m->sampling_vm;
        check(index_gone < m->sample_cursor - 1);
        stop(m, index_gone, stopped, &n_stopped);
        check(m->sampling_vm == in_flight && m->vms[m->sample_cursor - 1] == in_flight);
        while (manager_vms_cycle_step(m, USEC_INFINITY) > 0)
                ;
        check_index(m);
        check_gone(m, stopped[0]);
        check_u64(m->n_vms, n - 1);
        check_sampled_once(m, before, n);
}

static void test_removed_in_slice(Manager *m) {
        cycle_removing_in_slice(m, m->n_vms / 2, libvirt_vm_at(m, 0, 1));
        cycle_removing_in_slice(m, m->n_vms, libvirt_vm_at(m, 1, 1));
        printf("4. a VM stopped while another's sliced pass was in flight (in the middle, then the last): the pass went on "
               "with its VM, every VM left sampled once a cycle\n");
}

int main(void) {
        _cleanup_(manager_freep) Manager *m = NULL;

        test_data_dir();
        build_fixture("test-manager-pids", "sysfs-1node", conf);
        capture_log();
        m = fixture_manager();
        check(libvirt);

        test_found_in_burst(m);
        test_removed_in_burst(m);
        test_removed_in_cycle(m);
        test_removed_in_slice(m);

        m = manager_free(m);
        check(!libvirt);
        printf("test-manager-pids: OK\n");
        return EXIT_SUCCESS;
}
