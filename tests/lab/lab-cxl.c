/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lab-cxl STAGE — runs inside the lab booted with QEMU's emulated CXL (tests/lab/lab-cxl.sh):
 * two 256 MiB type-3 memdevs (persistent: QEMU 7.2 has no volatile ones) behind one host bridge,
 * one 4 GiB fixed memory window. Checks what vtism's readers report at each stage of making
 * that memory a NUMA node, and prints it:
 *   boot        memdevs and the window, no region, no node for it yet
 *   devdax      after cxl create-region (2-way pmem) + ndctl create-namespace -m devdax: the dax
 *               device targets node 2, which is not online
 *   system-ram  after daxctl reconfigure-device -m system-ram (blocks onlined movable): node 2
 *               is CXL memory, movable; the topology module calls it CXL; and a contiguity scan
 *               of this program's own memory finds the pages it bound to node 2 there
 * Exit status 0 when everything matches, 1 otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lab-check.h"
#include "vtism/contiguity-scan.h"
#include "vtism/cxl-devices.h"
#include "vtism/topology.h"
#include "vtism/util.h"

#define MB (UINT64_C(1) << 20)

static void print_devices(const CxlDevices *d) {
        char a[FORMAT_BYTES_MAX], b[FORMAT_BYTES_MAX];

        for (size_t i = 0; i < d->n_memdevs; i++)
                printf("memdev %s (%s): ram %s, pmem %s, serial %s\n", d->memdevs[i].name, d->memdevs[i].parent ?: "-",
                       format_bytes(a, sizeof(a), d->memdevs[i].ram_bytes), format_bytes(b, sizeof(b), d->memdevs[i].pmem_bytes),
                       d->memdevs[i].serial ?: "-");
        for (size_t i = 0; i < d->n_windows; i++)
                printf("window %s: %#" PRIx64 "-%#" PRIx64 ", %u-way\n", d->windows[i].name, d->windows[i].range.start,
                       d->windows[i].range.end, d->windows[i].interleave_ways);
        for (size_t i = 0; i < d->n_regions; i++)
                printf("region %s: %s, %u-way, %u B granularity, %scommitted\n", d->regions[i].name, d->regions[i].mode,
                       d->regions[i].interleave_ways, d->regions[i].interleave_granularity,
                       d->regions[i].committed ? "" : "not ");
        for (size_t i = 0; i < d->n_dax; i++)
                printf("dax %s: %s from %s%s%s, %s, target node %d, blocks %" PRIu64 " (online %" PRIu64 ", movable %" PRIu64 ")\n",
                       d->dax[i].name, dax_mode_to_string(d->dax[i].mode), dax_source_to_string(d->dax[i].source),
                       d->dax[i].provider ? " provider " : "", d->dax[i].provider ?: "",
                       format_bytes(a, sizeof(a), d->dax[i].size_bytes), d->dax[i].target_node, d->dax[i].blocks,
                       d->dax[i].online_blocks, d->dax[i].movable_blocks);
        for (size_t i = 0; i < d->n_nodes; i++)
                printf("node %d (%s%s): %s\n", d->nodes[i].node, node_kind_to_string(d->nodes[i].kind),
                       d->nodes[i].online ? "" : ", offline", d->nodes[i].description);
}

static void check_common(const CxlDevices *d) {
        if (!d->cxl_bus)
                fail("no /sys/bus/cxl");
        if (d->n_memdevs != 2)
                fail("%zu memdevs, expected 2", d->n_memdevs);
        for (size_t i = 0; i < d->n_memdevs; i++)
                if (d->memdevs[i].pmem_bytes != 256 * MB || d->memdevs[i].ram_bytes != 0)
                        fail("%s: pmem %" PRIu64 " ram %" PRIu64 ", expected 256 MiB of pmem", d->memdevs[i].name,
                             d->memdevs[i].pmem_bytes, d->memdevs[i].ram_bytes);
        if (d->n_windows != 1 || d->windows[0].range.end - d->windows[0].range.start != (UINT64_C(4) << 30))
                fail("expected one 4 GiB CXL window");
        if (!cxl_devices_node(d, 1) || cxl_devices_node(d, 1)->kind != NODE_KIND_BOOT_MEMORY)
                fail("node 1 (the lab's -numa node) is not boot-memory");
        else if (!cxl_devices_node(d, 1)->zones_known || cxl_devices_node(d, 1)->movable_bytes != 0)
                fail("node 1: zones unknown or movable memory seen");
}

static void check_region(const CxlDevices *d) {
        const CxlRegion *g;

        if (d->n_regions != 1) {
                fail("%zu regions, expected 1", d->n_regions);
                return;
        }
        g = &d->regions[0];
        if (!streq(g->mode, "pmem") || g->interleave_ways != 2 || !g->committed || g->n_memdevs != 2 || g->window != 0)
                fail("region %s: mode %s, %u ways, committed %d, %zu memdevs, window %zd", g->name, g->mode,
                     g->interleave_ways, g->committed, g->n_memdevs, g->window);
        if (d->n_dax != 1) {
                fail("%zu dax devices, expected 1", d->n_dax);
                return;
        }
        if (d->dax[0].source != DAX_SOURCE_NVDIMM || !streq_ptr(d->dax[0].provider, "CXL") || d->dax[0].region != 0 ||
            d->dax[0].target_node != 2)
                fail("dax %s: source %s, provider %s, region %zd, target node %d", d->dax[0].name,
                     dax_source_to_string(d->dax[0].source), d->dax[0].provider, d->dax[0].region, d->dax[0].target_node);
}

/* 8 MiB bound to `node`, touched. */
static uint8_t *alloc_on(int node) {
        unsigned long mask = 1UL << node;
        uint8_t *p = mmap(NULL, 8 * MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (p == MAP_FAILED || mbind(p, 8 * MB, MPOL_BIND, &mask, sizeof(mask) * 8, 0) < 0) {
                fail("allocating 8 MiB on node %d: %m", node);
                return NULL;
        }
        for (uint64_t o = 0; o < 8 * MB; o += 4096)
                p[o] = 1;
        return p;
}

static void check_contiguity(void) {
        uint8_t *dram = alloc_on(0), *cxl = alloc_on(2);
        HeatRangeSpec r[2];
        ContigSummary s;
        ContiguityScanStats st;
        const ContigNode *n;
        int k;

        if (!dram || !cxl)
                return;
        r[0] = (HeatRangeSpec) { .gpa = 0, .hva = (uint64_t) (uintptr_t) dram, .len_bytes = 8 * MB };
        r[1] = (HeatRangeSpec) { .gpa = 8 * MB, .hva = (uint64_t) (uintptr_t) cxl, .len_bytes = 8 * MB };
        k = contiguity_scan_vm("/proc", "/sys", getpid(), 0, r, 2, NULL, &s, &st);
        if (k < 0) {
                fail("contiguity scan of our own memory: %s", strerror(-k));
                return;
        }
        printf("contiguity of 8 MiB on node 0 + 8 MiB on node 2: %" PRIu64 " present, %" PRIu64 " THPs, %" PRIu64
               " runs (largest %" PRIu64 " pages), %" PRIu64 " offset groups, PAGEMAP_SCAN %s\n",
               s.present_pages, s.thp_2m, s.runs.entries, s.runs.largest_pages, s.offset_groups.entries,
               st.pmd_mapping_known ? "yes" : "no");
        for (size_t i = 0; i < s.n_nodes; i++)
                printf("  node %d: %" PRIu64 " pages (%" PRIu64 " in huge mappings), %" PRIu64 " runs, %.1f runs per GiB\n",
                       s.nodes[i].node, s.nodes[i].pages, s.nodes[i].huge_pages, s.nodes[i].runs,
                       contiguity_per_gib(s.nodes[i].runs, s.nodes[i].pages));
        n = contig_summary_node(&s, 2);
        if (!n || n->pages != 2048)
                fail("node 2 holds %" PRIu64 " of the 2048 pages bound there", n ? n->pages : 0);
        n = contig_summary_node(&s, 0);
        if (!n || n->pages != 2048)
                fail("node 0 holds %" PRIu64 " of the 2048 pages bound there", n ? n->pages : 0);
        if (st.unknown_node_pages != 0)
                fail("%" PRIu64 " pages on no known node", st.unknown_node_pages);
}

int main(int argc, char *argv[]) {
        _cleanup_(cxl_devices_freep) CxlDevices *d = NULL;
        const char *stage = argc > 1 ? argv[1] : "";
        const NodeDevices *n2;
        int r;

        r = cxl_devices_load("/sys", "/proc", &d);
        if (r < 0) {
                printf("FAIL: reading /sys: %s\n", strerror(-r));
                return 1;
        }
        printf("--- %s\n", stage);
        print_devices(d);
        check_common(d);
        n2 = cxl_devices_node(d, 2);

        if (streq(stage, "boot")) {
                if (d->n_regions != 0 || d->n_dax != 0 || n2)
                        fail("regions, dax devices or a node 2 before any was made");
        } else if (streq(stage, "devdax")) {
                check_region(d);
                if (d->n_dax == 1 && d->dax[0].mode != DAX_MODE_DEVDAX)
                        fail("dax mode %s, expected devdax", dax_mode_to_string(d->dax[0].mode));
                if (!n2 || n2->online || n2->kind != NODE_KIND_CXL || n2->n_dax != 1)
                        fail("node 2 should be listed as offline CXL memory with its dax device");
        } else if (streq(stage, "system-ram")) {
                _cleanup_(topology_freep) Topology *t = NULL;
                const TopologyNode *tn;

                check_region(d);
                if (d->n_dax == 1 && (d->dax[0].mode != DAX_MODE_SYSTEM_RAM || d->dax[0].blocks == 0 ||
                                      d->dax[0].movable_blocks != d->dax[0].blocks))
                        fail("dax: mode %s, %" PRIu64 " blocks, %" PRIu64 " movable", dax_mode_to_string(d->dax[0].mode),
                             d->dax[0].blocks, d->dax[0].movable_blocks);
                if (!n2 || !n2->online || n2->kind != NODE_KIND_CXL || n2->online_bytes == 0 ||
                    n2->movable_bytes != n2->online_bytes)
                        fail("node 2 should be online CXL memory, all of it movable");
                r = topology_load("/sys", NULL, &t);
                if (r < 0)
                        fail("topology: %s", strerror(-r));
                else if (!(tn = topology_node(t, 2)) || tn->tier != NODE_TIER_CXL)
                        fail("topology does not classify node 2 as CXL");
                else
                        printf("topology: node 2 is %s (%s, memory tier %d)\n", node_tier_to_string(tn->tier),
                               tier_source_to_string(tn->tier_source), tn->memory_tier);
                check_contiguity();
        } else {
                fprintf(stderr, "usage: lab-cxl boot|devdax|system-ram\n");
                return 2;
        }
        printf("%s: %s\n", stage, n_failed ? "FAILED" : "OK");
        return n_failed ? 1 : 0;
}
