/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_pick_home_node() on the fixture topologies (numatune, vCPU pinning, residency from the heat
 * map, first DRAM node, in that order) and one VM's identity (libvirt's word wins over /proc's;
 * test-vm-identity has VMs against each other).
 *
 * Fixtures: sysfs-4node: DRAM 0 (CPUs 0-15,32-47), DRAM 1 (16-31,48-63), CXL 2, 3.
 *           sysfs-lab2:  DRAM 0 (CPUs 0-1), CXL 1.
 *           sysfs-sparse: DRAM 0 (CPUs 0-7), DRAM 1 (8-15), CXL 4, 6.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "vtism/heatmap.h"
#include "vtism/macro.h"
#include "vtism/topology.h"
#include "vtism/util.h"
#include "vtism/vm.h"

#define PAGE UINT64_C(4096)
#define TEST_HVA UINT64_C(0x7f0000000000)
#define TEST_PAGES 2048u /* 8 MiB of guest RAM: one 1 GiB histogram window */

static const char *test_data;

static Topology *load(const char *name) {
        _cleanup_free_ char *root = xasprintf("%s/%s", test_data, name);
        Topology *t = NULL;
        int r;

        r = topology_load(root, NULL, &t);
        if (r < 0) {
                fprintf(stderr, "topology_load(%s): %s\n", root, strerror(-r));
                exit(EXIT_FAILURE);
        }
        return t;
}

/* A VM with the given libvirt numatune nodeset and vCPU cpuset (either may be NULL). */
static Vm *vm_with(const char *nodeset, const char *cpuset) {
        Vm *vm = vm_new(4242, 1);

        vm_update_identity(vm, VM_SOURCE_LIBVIRT, "6f1c2d3e-0000-4000-8000-000000000001", "guest", NULL, nodeset, cpuset);
        return vm;
}

static void check_home(const Topology *t, const char *nodeset, const char *cpuset, int node, const char *reason) {
        _cleanup_(vm_freep) Vm *vm = vm_with(nodeset, cpuset);

        vm_pick_home_node(vm, t);
        if (vm->home_node != node || !streq_ptr(vm_home_reason_to_string(vm->home_reason), reason)) {
                fprintf(stderr, "numatune=%s cpuset=%s: home node %d (%s), expected %d (%s)\n",
                        nodeset ?: "-", cpuset ?: "-", vm->home_node, vm_home_reason_to_string(vm->home_reason) ?: "(null)", node,
                        reason ?: "(null)");
                exit(EXIT_FAILURE);
        }
}

static void test_numatune(void) {
        _cleanup_(topology_freep) Topology *t4 = load("sysfs-4node");
        _cleanup_(topology_freep) Topology *lab = load("sysfs-lab2");
        _cleanup_(topology_freep) Topology *sparse = load("sysfs-sparse");

        check_home(t4, "1", NULL, 1, "numatune");
        check_home(t4, "0", NULL, 0, "numatune");
        check_home(t4, "0-1", NULL, 0, "numatune");
        /* the first DRAM node of the set, whatever the order it is written in */
        check_home(t4, "3,1", NULL, 1, "numatune");
        check_home(t4, "2,1", "0-3", 1, "numatune"); /* numatune wins over pinning */
        /* CXL only: numatune says nothing about the DRAM home; pinning, else the default */
        check_home(t4, "2-3", NULL, 0, "first DRAM node");
        check_home(t4, "2-3", "16-19", 1, "vcpu pinning");
        check_home(t4, "3", "48", 1, "vcpu pinning");
        /* nodes that do not exist, or garbage, are ignored the same way */
        check_home(t4, "7", NULL, 0, "first DRAM node");
        check_home(t4, "banana", "20", 1, "vcpu pinning");
        check_home(t4, "", NULL, 0, "first DRAM node");

        check_home(lab, "1", NULL, 0, "first DRAM node");
        check_home(lab, "0-1", NULL, 0, "numatune");

        check_home(sparse, "4,6", NULL, 0, "first DRAM node");
        check_home(sparse, "6,1", NULL, 1, "numatune");
        check_home(sparse, "2-3", "9", 1, "vcpu pinning"); /* 2-3 are not online there */
}

static void test_pinning(void) {
        _cleanup_(topology_freep) Topology *t4 = load("sysfs-4node");
        _cleanup_(topology_freep) Topology *lab = load("sysfs-lab2");
        _cleanup_(topology_freep) Topology *sparse = load("sysfs-sparse");

        check_home(t4, NULL, "0-3", 0, "vcpu pinning");
        check_home(t4, NULL, "16-31", 1, "vcpu pinning");
        check_home(t4, NULL, "32-47", 0, "vcpu pinning"); /* the second block of node 0 */
        check_home(t4, NULL, "48-63", 1, "vcpu pinning");
        /* the socket holding most of the pinned CPUs */
        check_home(t4, NULL, "0,16-18", 1, "vcpu pinning");
        check_home(t4, NULL, "0-2,17,50", 0, "vcpu pinning");
        check_home(t4, NULL, "15,31,47,63,62", 1, "vcpu pinning");
        /* a tie goes to the lower node */
        check_home(t4, NULL, "0-3,16-19", 0, "vcpu pinning");
        check_home(t4, NULL, "16-19,32-35", 0, "vcpu pinning");
        /* CPUs that no node has: no answer from pinning */
        check_home(t4, NULL, "64-127", 0, "first DRAM node");
        check_home(t4, NULL, "not-a-list", 0, "first DRAM node");

        check_home(lab, NULL, "1", 0, "vcpu pinning");
        check_home(lab, NULL, "2-3", 0, "first DRAM node");

        check_home(sparse, NULL, "8-15", 1, "vcpu pinning");
        check_home(sparse, NULL, "7-9", 1, "vcpu pinning");
        check_home(sparse, NULL, "0-7", 0, "vcpu pinning");
}

static void test_default(void) {
        _cleanup_(topology_freep) Topology *t4 = load("sysfs-4node");
        _cleanup_(topology_freep) Topology *lab = load("sysfs-lab2");
        _cleanup_(topology_freep) Topology *sparse = load("sysfs-sparse");
        _cleanup_(vm_freep) Vm *vm = vm_new(7, 0); /* no libvirt at all */

        check_home(t4, NULL, NULL, 0, "first DRAM node");
        check_home(lab, NULL, NULL, 0, "first DRAM node");
        check_home(sparse, NULL, NULL, 0, "first DRAM node");

        vm_pick_home_node(vm, sparse);
        check_int(vm->home_node, 0);
        check_str(vm_home_reason_to_string(vm->home_reason), "first DRAM node");
}

/* Attach a heat map of TEST_PAGES pages at TEST_HVA; feed one residency pass of n_pages pages
 * (fewer than TEST_PAGES: the pass is incomplete), nodes[i] for pages [starts[i], starts[i+1]). */
static void give_residency(Vm *vm, const int *nodes, const unsigned *starts, size_t n, unsigned n_pages) {
        const HeatRangeSpec range = { .gpa = 0, .hva = TEST_HVA, .len_bytes = TEST_PAGES * PAGE };
        _cleanup_free_ int *status = xcalloc(TEST_PAGES, sizeof(int));

        check_int(heatmap_new(&range, 1, NULL, &vm->heat), 0);
        for (size_t i = 0; i < n; i++) {
                unsigned end = i + 1 < n ? starts[i + 1] : TEST_PAGES;

                for (unsigned p = starts[i]; p < end; p++)
                        status[p] = nodes[i];
        }
        /* in a few batches, as the daemon does */
        for (unsigned p = 0; p < n_pages; p += 500) {
                unsigned k = MIN(500u, n_pages - p);

                check_int(heatmap_residency_update(vm->heat, TEST_HVA + p * PAGE, status + p, k), 0);
        }
}

static void check_home_heat(const Topology *t, const char *nodeset, const char *cpuset, const int *nodes,
                            const unsigned *starts, size_t n, unsigned n_pages, int node, const char *reason) {
        _cleanup_(vm_freep) Vm *vm = vm_with(nodeset, cpuset);

        give_residency(vm, nodes, starts, n, n_pages);
        vm_pick_home_node(vm, t);
        if (vm->home_node != node || !streq_ptr(vm_home_reason_to_string(vm->home_reason), reason)) {
                fprintf(stderr, "residency %zu runs, %u pages fed: home node %d (%s), expected %d (%s)\n", n, n_pages,
                        vm->home_node, vm_home_reason_to_string(vm->home_reason) ?: "(null)", node, reason ?: "(null)");
                exit(EXIT_FAILURE);
        }
}

static void test_residency(void) {
        _cleanup_(topology_freep) Topology *t4 = load("sysfs-4node");
        _cleanup_(topology_freep) Topology *sparse = load("sysfs-sparse");
        _cleanup_(topology_freep) Topology *lab = load("sysfs-lab2");

        {
                /* 500 pages on 0, 1500 on 1, 48 on CXL 2 */
                static const int nodes[] = { 0, 1, 2 };
                static const unsigned starts[] = { 0, 500, 2000 };

                check_home_heat(t4, NULL, NULL, nodes, starts, 3, TEST_PAGES, 1, "most pages");
                /* an incomplete pass says nothing yet */
                check_home_heat(t4, NULL, NULL, nodes, starts, 3, 1000, 0, "first DRAM node");
                /* numatune and pinning come first */
                check_home_heat(t4, "0", NULL, nodes, starts, 3, TEST_PAGES, 0, "numatune");
                check_home_heat(t4, NULL, "0-3", nodes, starts, 3, TEST_PAGES, 0, "vcpu pinning");
                /* numatune CXL only, pinning to nowhere: residency decides */
                check_home_heat(t4, "2-3", "100", nodes, starts, 3, TEST_PAGES, 1, "most pages");
        }
        {
                /* most pages on CXL 3 (1748), 200 on 0, 100 on 1: the DRAM node with most, not the CXL node */
                static const int nodes[] = { 3, 0, 1, 3 };
                static const unsigned starts[] = { 0, 1200, 1400, 1500 };

                check_home_heat(t4, NULL, NULL, nodes, starts, 4, TEST_PAGES, 0, "most pages");
        }
        {
                /* all on CXL, or not present: no DRAM node has pages */
                static const int nodes[] = { 2, -ENOENT, 3 };
                static const unsigned starts[] = { 0, 100, 1000 };

                check_home_heat(t4, NULL, NULL, nodes, starts, 3, TEST_PAGES, 0, "first DRAM node");
        }
        {
                /* sparse ids: 1 holds more than 0; 4 and 6 are CXL */
                static const int nodes[] = { 4, 0, 1, 6 };
                static const unsigned starts[] = { 0, 900, 1000, 1300 };

                check_home_heat(sparse, NULL, NULL, nodes, starts, 4, TEST_PAGES, 1, "most pages");
        }
        {
                /* a node id the topology does not have (5) is not a home */
                static const int nodes[] = { 5, 0 };
                static const unsigned starts[] = { 0, 2000 };

                check_home_heat(sparse, NULL, NULL, nodes, starts, 2, TEST_PAGES, 0, "most pages");
        }
        {
                static const int nodes[] = { 1, 0 };
                static const unsigned starts[] = { 0, 2040 };

                check_home_heat(lab, NULL, NULL, nodes, starts, 2, TEST_PAGES, 0, "most pages");
        }
}

/*
 * The fallback home ("first DRAM node") is picked again only when residency changed: not every
 * cycle for a VM whose pages are all on CXL, at once when a pass shows them on another DRAM node.
 */
static void test_refresh(void) {
        _cleanup_(topology_freep) Topology *t4 = load("sysfs-4node");
        _cleanup_(vm_freep) Vm *vm = vm_with(NULL, NULL);
        static const int cxl[] = { 2 };
        static const unsigned starts[] = { 0 };
        uint64_t gen;

        /* no heat map: nothing to learn from, never picked again */
        vm_pick_home_node(vm, t4);
        check_str(vm_home_reason_to_string(vm->home_reason), "first DRAM node");
        check(!vm_refresh_home_node(vm, t4));

        /* every page on CXL 2: the fallback stays; picked again once for the pass, then not */
        give_residency(vm, cxl, starts, 1, TEST_PAGES);
        check(vm_refresh_home_node(vm, t4));
        check_int(vm->home_node, 0);
        check_str(vm_home_reason_to_string(vm->home_reason), "first DRAM node");
        for (unsigned c = 0; c < 100; c++)
                check(!vm_refresh_home_node(vm, t4));

        /* a pass that is not complete publishes nothing: still not picked again */
        gen = heatmap_residency_generation(vm->heat);
        {
                _cleanup_free_ int *status = xcalloc(TEST_PAGES, sizeof(int));

                for (unsigned p = 0; p < TEST_PAGES; p++)
                        status[p] = 1;
                check_int(heatmap_residency_update(vm->heat, TEST_HVA, status, TEST_PAGES / 2), 0);
                check_u64(heatmap_residency_generation(vm->heat), gen);
                check(!vm_refresh_home_node(vm, t4));
                /* ... until it completes: the pages are on DRAM 1 now */
                check_int(heatmap_residency_update(vm->heat, TEST_HVA + TEST_PAGES / 2 * PAGE, status + TEST_PAGES / 2,
                                                   TEST_PAGES / 2), 0);
        }
        check(heatmap_residency_generation(vm->heat) != gen);
        check(vm_refresh_home_node(vm, t4));
        check_int(vm->home_node, 1);
        check_str(vm_home_reason_to_string(vm->home_reason), "most pages");
        /* a home from residency is not a fallback: kept */
        check(!vm_refresh_home_node(vm, t4));

        /* moves counted into the published residency change it too: CXL 2 -> DRAM 1 */
        vm->heat = heatmap_free(vm->heat);
        give_residency(vm, cxl, starts, 1, TEST_PAGES);
        vm_pick_home_node(vm, t4);
        check_str(vm_home_reason_to_string(vm->home_reason), "first DRAM node");
        check(!vm_refresh_home_node(vm, t4));
        check_int(heatmap_residency_moved(vm->heat, TEST_HVA, TEST_PAGES, 2, 1), 0);
        check(vm_refresh_home_node(vm, t4));
        check_int(vm->home_node, 1);
        check_str(vm_home_reason_to_string(vm->home_reason), "most pages");
}

/* One VM alone: what vm_update_identity() records and vm_resolve_identities() makes of it. */
static void resolve1(Vm *vm) {
        vm_resolve_identities(&vm, 1, NULL, NULL);
}

static void test_identity(void) {
        static const char *const U_PROC = "11111111-2222-4333-8444-555555555555";
        static const char *const U_LV = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";

        {
                _cleanup_(vm_freep) Vm *vm = vm_new(1234, 99);

                check_str(vm->id, "pid-1234");
                check_str(vm->name, "pid-1234");
                check_str(vm->default_name, "pid-1234");
                check(!vm->uuid);
                check_int(vm->sources, 0);
                check_int(vm->home_node, -1);
                check(vm->uid == (uid_t) -1);

                /* /proc alone, trusted: its claims are used, but never as the id, and never numatune
                 * or pinning */
                vm->trusted = true;
                check(vm_update_identity(vm, VM_SOURCE_PROC, U_PROC, "from-cmdline", NULL, "1", "0-3"));
                resolve1(vm);
                check_str(vm->id, "pid-1234");
                check_str(vm->uuid, U_PROC);
                check_str(vm->name, "from-cmdline");
                check(!vm->identity_conflict);
                check(!vm->numa_nodeset);
                check(!vm->vcpu_cpuset);
                check_int(vm->sources, VM_SOURCE_PROC);

                /* libvirt's word wins */
                check(vm_update_identity(vm, VM_SOURCE_LIBVIRT, U_LV, "from-libvirt", NULL, "1", "16-31"));
                resolve1(vm);
                check_str(vm->id, U_LV);
                check_str(vm->uuid, U_LV);
                check_str(vm->name, "from-libvirt");
                check_str(vm->numa_nodeset, "1");
                check_str(vm->vcpu_cpuset, "16-31");
                check_int(vm->sources, VM_SOURCE_LIBVIRT | VM_SOURCE_PROC);

                /* and /proc's does not overwrite it afterwards */
                (void) vm_update_identity(vm, VM_SOURCE_PROC, U_PROC, "from-cmdline", NULL, NULL, NULL);
                resolve1(vm);
                check_str(vm->id, U_LV);
                check_str(vm->uuid, U_LV);
                check_str(vm->name, "from-libvirt");
                check_str(vm->numa_nodeset, "1");
                check_str(vm->vcpu_cpuset, "16-31");
                check_int(vm->sources, VM_SOURCE_LIBVIRT | VM_SOURCE_PROC);

                /* libvirt again without uuid/name keeps them; its numatune/pinning are its latest word */
                vm_update_identity(vm, VM_SOURCE_LIBVIRT, NULL, NULL, NULL, NULL, "0-1");
                resolve1(vm);
                check_str(vm->id, U_LV);
                check_str(vm->name, "from-libvirt");
                check(!vm->numa_nodeset);
                check_str(vm->vcpu_cpuset, "0-1");

                /* libvirt no longer reports it: back to the command line's claims */
                vm_drop_source(vm, VM_SOURCE_LIBVIRT);
                resolve1(vm);
                check_str(vm->id, "pid-1234");
                check_str(vm->uuid, U_PROC);
                check_str(vm->name, "from-cmdline");
                check(!vm->numa_nodeset && !vm->vcpu_cpuset);
                check_int(vm->sources, VM_SOURCE_PROC);
        }
        {
                /* libvirt first, /proc later */
                _cleanup_(vm_freep) Vm *vm = vm_new(77, 5);

                vm_update_identity(vm, VM_SOURCE_LIBVIRT, U_LV, "web", NULL, "0", NULL);
                vm_update_identity(vm, VM_SOURCE_PROC, U_PROC, "guest=web-from-proc", NULL, NULL, NULL);
                resolve1(vm);
                check_str(vm->id, U_LV);
                check_str(vm->uuid, U_LV);
                check_str(vm->name, "web");
                check_str(vm->numa_nodeset, "0");
                check(!vm->vcpu_cpuset);
                check_int(vm->sources, VM_SOURCE_LIBVIRT | VM_SOURCE_PROC);
        }
        {
                /* /proc without a uuid: the id stays the pid; the name is taken */
                _cleanup_(vm_freep) Vm *vm = vm_new(88, 5);

                vm->trusted = true;
                vm_update_identity(vm, VM_SOURCE_PROC, NULL, "plain-qemu", NULL, NULL, NULL);
                resolve1(vm);
                check_str(vm->id, "pid-88");
                check(!vm->uuid);
                check_str(vm->name, "plain-qemu");
                /* a later /proc update may still change it: no libvirt word yet */
                vm_update_identity(vm, VM_SOURCE_PROC, U_PROC, "renamed", NULL, NULL, NULL);
                resolve1(vm);
                check_str(vm->id, "pid-88");
                check_str(vm->uuid, U_PROC);
                check_str(vm->name, "renamed");
        }
        {
                /* untrusted: claims never used */
                _cleanup_(vm_freep) Vm *vm = vm_new(99, 5);

                free(vm->default_name);
                vm->default_name = xstrdup("qemu-99");
                vm_update_identity(vm, VM_SOURCE_PROC, U_PROC, "web", NULL, NULL, NULL);
                resolve1(vm);
                check_str(vm->id, "pid-99");
                check(!vm->uuid);
                check_str(vm->name, "qemu-99");
                check_str(vm->identity_conflict, "its command line claims name 'web' and uuid "
                                                 "11111111-2222-4333-8444-555555555555, which an untrusted VM cannot use");
        }
}

int main(void) {
        test_data = test_data_dir();

        test_numatune();
        test_pinning();
        test_default();
        test_residency();
        test_refresh();
        test_identity();
        return 0;
}
