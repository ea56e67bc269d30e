/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * plan_compute() counts heat levels only where a selection can depend on them (plan.c,
 * finish_scan()) and takes the selected pages of NODE and MIXED blocks 16 pages a step
 * (emit_block_fast()); plan_compute_reference() does both unit by unit through block_units().
 * Both must give the same plan move by move, the same queries, results and reasons
 * (plan-compare.h). Random worlds built through the heat map's own API: several VMs of 1-3 RAM
 * ranges (4 KiB and 2 MiB granules, edges off 2 MiB), scattered and clustered accesses over a few
 * cycles, THP marks, residency passes and partial queries (NODE, MIXED with ceilings, ABSENT,
 * UNKNOWN blocks), reported moves, exact placements given with the plan, budget / SLO / pin /
 * never policies above and below their targets, frozen VMs, no home, margins and floors from the
 * defaults to extremes, tight and loose cycle budgets. test-plan also compares every plan it makes.
 * World 19 has a pinned VM whose cold pages on CXL hide in MIXED blocks: emit_block_fast() once
 * left those below the promotion floor out (0 moves, the reference's 116).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "plan-compare.h"
#include "splitmix.h"
#include "vtism/heatmap.h"
#include "vtism/macro.h"
#include "vtism/plan.h"
#include "vtism/topology.h"
#include "vtism/util.h"

#define VMS_MAX 4
#define RANGES_MAX 3
#define PAGE (UINT64_C(4096))
#define HVA_BASE UINT64_C(0x7f0000000000)

static uint64_t seed;

static uint64_t rnd(uint64_t n) {
        return n > 0 ? splitmix64(&seed) % n : 0;
}

/* 1 + rnd(n), at most max (MIN() evaluates its arguments twice) */
static uint64_t rnd_len(uint64_t n, uint64_t max) {
        uint64_t x = 1 + rnd(n);

        return x < max ? x : max;
}

/* [0 dram] [1 cxl] [2 dram] [3 cxl]: 0 demotes to 1 then 3, 2 to 3 then 1. */
static Topology *topo_random(uint64_t ram_pages) {
        Topology *t = xcalloc(1, sizeof(Topology));

        t->n_nodes = 4;
        t->nodes = xcalloc(4, sizeof(TopologyNode));
        t->distance = xcalloc(16, 1);
        for (int i = 0; i < 4; i++) {
                uint64_t total = (ram_pages / 2 + rnd(ram_pages * 2) + 1024) * PAGE;
                TopologyNode *n = &t->nodes[i];

                *n = (TopologyNode) { .id = i, .has_memory = true, .tier = i % 2 == 0 ? NODE_TIER_DRAM : NODE_TIER_CXL,
                                      .memory_tier = -1, .total_bytes = total, .free_bytes = total - rnd(total / PAGE) * PAGE };
                if (n->tier == NODE_TIER_DRAM) {
                        n->demotion_targets = xcalloc(2, sizeof(int));
                        n->demotion_targets[0] = i == 0 ? 1 : 3;
                        n->demotion_targets[1] = i == 0 ? 3 : 1;
                        n->n_demotion_targets = 2;
                }
        }
        return t;
}

typedef struct TVm {
        HeatMap *h;
        HeatRangeSpec spec[RANGES_MAX];
        size_t n_ranges;
        PlanPlacement placement[8];
        int *status[8];
        size_t n_placement;
        unsigned phase;             /* where the hot set is */
} TVm;

/* Accesses of one cycle: scattered pages at a density, clustered runs, or both. */
static void random_cycle(TVm *vm) {
        size_t n = 0, allocated = 64;
        HeatSample *s = xcalloc(allocated, sizeof(HeatSample));
        unsigned density = (unsigned) rnd(30), window = (unsigned) rnd(3);

        for (size_t r = 0; r < vm->n_ranges; r++) {
                uint64_t pages = vm->spec[r].len_bytes / PAGE;

                for (uint64_t p = 0; p < pages; p++) {
                        /* a hot set in one third of the range (it moves as the phase does), or all over */
                        bool in_window = p * 3 / pages == (vm->phase + window) % 3 || vm->phase % 4 == 3;
                        bool hit = in_window && rnd(100) < density * 3;

                        if (!hit && rnd(200) == 0) { /* a clustered run */
                                uint64_t len = rnd_len(1024, pages - p);

                                if (n >= allocated)
                                        s = xreallocarray(s, allocated *= 2, sizeof(HeatSample));
                                s[n++] = (HeatSample) { vm->spec[r].hva + p * PAGE, len * PAGE };
                                p += len;
                                continue;
                        }
                        if (!hit)
                                continue;
                        if (n >= allocated)
                                s = xreallocarray(s, allocated *= 2, sizeof(HeatSample));
                        s[n++] = (HeatSample) { vm->spec[r].hva + p * PAGE, PAGE };
                }
        }
        check_int(heatmap_apply_cycle(vm->h, s, n), 0);
        free(s);
}

static int random_node(void) {
        unsigned x = (unsigned) rnd(16);

        return x < 6 ? 0 : x < 12 ? 1 : x < 13 ? 2 : x < 14 ? 3 : x < 15 ? -ENOENT : 7; /* 7: not in the topology */
}

/* Residency: complete passes of some ranges, whole or partial blocks queried out of turn, moves. */
static void random_residency(TVm *vm) {
        for (size_t r = 0; r < vm->n_ranges; r++) {
                uint64_t pages = vm->spec[r].len_bytes / PAGE, hva = vm->spec[r].hva;
                _cleanup_free_ int *st = xcalloc(pages, sizeof(int));
                unsigned style = (unsigned) rnd(4);
                int base = random_node();

                for (uint64_t p = 0; p < pages; p++) {
                        uint8_t heat = 0;

                        (void) heatmap_heat_hva(vm->h, hva + p * PAGE, &heat);
                        switch (style) {
                        case 0: /* hot on DRAM, cold on CXL, a little noise */
                                st[p] = rnd(50) == 0 ? random_node() : heat >= 40 ? 0 : 1;
                                break;
                        case 1: /* one node per 2 MiB block */
                                if (p % 512 == 0)
                                        base = random_node();
                                st[p] = base;
                                break;
                        case 2:
                                st[p] = random_node();
                                break;
                        default: /* all on one node */
                                st[p] = base;
                        }
                }
                if (rnd(3) > 0)
                        check_int(heatmap_residency_update(vm->h, hva, st, pages), 0);
                else /* some blocks only, out of turn */
                        for (uint64_t p = 0; p < pages; p += 512)
                                if (rnd(2))
                                        check_int(heatmap_residency_update(vm->h, hva + p * PAGE, st + p,
                                                                           rnd_len(512, pages - p)),
                                                  0);
        }
        for (unsigned k = (unsigned) rnd(8); k > 0; k--) {
                size_t r = rnd(vm->n_ranges);
                uint64_t pages = vm->spec[r].len_bytes / PAGE, first = rnd(pages), n = rnd_len(700, pages - first);
                int from = random_node(), to = random_node();

                /* -EINVAL for a pair it refuses (gone to gone): nothing happens then */
                (void) heatmap_residency_moved(vm->h, vm->spec[r].hva + first * PAGE, n, from < 0 ? -1 : from, to < 0 ? -1 : to);
        }
}

static void random_placement(TVm *vm) {
        uint64_t next_hva = 0;

        vm->n_placement = 0;
        for (size_t r = 0; r < vm->n_ranges && vm->n_placement < ELEMENTSOF(vm->placement); r++) {
                uint64_t pages = vm->spec[r].len_bytes / PAGE, p = rnd(pages);

                while (p < pages && vm->n_placement < ELEMENTSOF(vm->placement) && rnd(3) > 0) {
                        uint64_t n = rnd_len(1500, pages - p), hva = vm->spec[r].hva + p * PAGE;
                        size_t i = vm->n_placement++;

                        check(hva >= next_hva);
                        vm->status[i] = xcalloc(n, sizeof(int));
                        for (uint64_t k = 0; k < n; k++)
                                vm->status[i][k] = random_node();
                        vm->placement[i] = (PlanPlacement) { .hva = hva, .n_pages = n, .status = vm->status[i] };
                        next_hva = hva + n * PAGE;
                        p += n + rnd(3000);
                }
        }
}

static uint64_t random_vm(TVm *vm, unsigned cycles) {
        HeatParams params;
        uint64_t gpa = 0, hva = HVA_BASE + rnd(1024) * (UINT64_C(1) << 32), ram = 0;

        heat_params_init_default(&params);
        if (rnd(4) == 0)
                params.cold_max = (unsigned) rnd(40);
        if (rnd(4) == 0)
                params.decay_percent = (unsigned) rnd(60);
        params.hot_min = MAX(params.hot_min, params.cold_max + 1);
        params.hist_range_bytes = rnd(2) ? UINT64_C(1) << 30 : UINT64_C(8) << 20;
        vm->n_ranges = 1 + rnd(RANGES_MAX);
        for (size_t r = 0; r < vm->n_ranges; r++) {
                bool huge_granules = rnd(8) == 0;
                uint64_t g = huge_granules ? HEATMAP_GRANULE_2M : HEATMAP_GRANULE_4K;
                uint64_t len = huge_granules ? (1 + rnd(8)) * g : (1 + rnd(6000)) * PAGE;

                hva += rnd(2) ? 0 : (huge_granules ? 0 : rnd(511) * PAGE); /* edges off 2 MiB */
                hva = (hva + g - 1) / g * g;
                gpa = (gpa + g - 1) / g * g;
                vm->spec[r] = (HeatRangeSpec) { .gpa = gpa, .hva = hva, .len_bytes = len, .granule_bytes = g };
                gpa += len + rnd(4) * (UINT64_C(2) << 20);
                hva += len + (UINT64_C(64) << 20);
                ram += len;
        }
        check_int(heatmap_new(vm->spec, vm->n_ranges, &params, &vm->h), 0);
        for (size_t r = 0; r < vm->n_ranges; r++)
                if (vm->spec[r].granule_bytes == HEATMAP_GRANULE_4K && rnd(3) == 0)
                        (void) heatmap_mark_huge(vm->h, vm->spec[r].hva, vm->spec[r].len_bytes, true);
        for (unsigned c = 0; c < cycles; c++) {
                if (rnd(3) == 0)
                        vm->phase++;
                random_cycle(vm);
                if (rnd(3) == 0)
                        random_residency(vm);
        }
        if (rnd(4) > 0)
                random_residency(vm);
        vm->phase += (unsigned) rnd(2);
        for (unsigned c = (unsigned) rnd(4); c > 0; c--)
                random_cycle(vm); /* ceilings decay, faults make NODE blocks MIXED */
        if (rnd(3) == 0)
                random_placement(vm);
        return ram / PAGE;
}

static void tvm_done(TVm *vm) {
        for (size_t i = 0; i < vm->n_placement; i++)
                free(vm->status[i]);
        heatmap_free(vm->h);
}

static void one_world(unsigned index) {
        TVm tv[VMS_MAX] = {};
        PlanVm in[VMS_MAX] = {};
        size_t n = 1 + rnd(VMS_MAX);
        uint64_t total = 0;
        PlanLimits limits = {
                .budget_bytes = rnd(4) == 0 ? UINT64_MAX / 2 : rnd(UINT64_C(64) << 20),
                .dram_min_free_percent = (unsigned) rnd(10),
                .demotion_min_free_ratio = (unsigned) rnd(20),
                .query_pages = rnd(3) == 0 ? 0 : rnd(40000),
                .round = rnd(100),
                .margin_heat = rnd(2) ? 0 : (unsigned) (1 + rnd(120)),
                .interleave_pages = rnd(2) ? 0 : 1 + rnd(2000),
        };
        Topology *t;
        Plan *p = NULL;

        for (size_t v = 0; v < n; v++) {
                uint64_t pages = random_vm(&tv[v], (unsigned) rnd(12));
                unsigned k = (unsigned) rnd(10);
                PlanPolicy pol = { .kind = PLAN_POLICY_BUDGET, .weight = 1 + (unsigned) rnd(5) };

                total += pages;
                if (k < 6)
                        pol.dram_budget_bytes = rnd(pages + 1) * PAGE;
                else if (k < 8) {
                        pol.kind = PLAN_POLICY_SLO;
                        pol.dram_budget_bytes = rnd(pages + 1) * PAGE;
                        pol.dram_min_bytes = rnd(pol.dram_budget_bytes / PAGE + 1) * PAGE;
                        pol.cxl_access_max_bp = 100;
                } else
                        pol.kind = k == 8 ? PLAN_POLICY_PIN : PLAN_POLICY_NEVER;
                in[v] = (PlanVm) {
                        .id = "vm",
                        .heat = tv[v].h,
                        .home_node = rnd(8) == 0 ? -1 : rnd(5) == 0 ? 2 : 0,
                        .policy = pol,
                        .frozen = rnd(10) == 0,
                        .placement = tv[v].n_placement > 0 ? tv[v].placement : NULL,
                        .n_placement = tv[v].n_placement,
                };
        }
        t = topo_random(total);
        snprintf(plan_compare_case, sizeof(plan_compare_case), "random world %u", index);
        int e = plan_compute_checked(t, &limits, in, n, &p);

        if (e < 0) {
                fprintf(stderr, "world %u: plan_compute() failed: %s\n", index, strerror(-e));
                exit(EXIT_FAILURE);
        }
        plan_free(p);
        topology_free(t);
        for (size_t v = 0; v < n; v++)
                tvm_done(&tv[v]);
}

/* The steady state plan-bench measures, scattered and clustered, at and above its budget. */
static void steady_world(bool scattered, uint64_t budget_pages) {
        uint64_t pages = 20000;
        HeatRangeSpec spec = { .gpa = 0, .hva = HVA_BASE, .len_bytes = pages * PAGE };
        _cleanup_free_ int *st = xcalloc(pages, sizeof(int));
        _cleanup_(heatmap_freep) HeatMap *h = NULL;
        Topology *t = topo_random(pages);
        PlanLimits limits = { .budget_bytes = UINT64_C(64) << 20, .query_pages = 16384 };
        PlanVm vm = { .id = "steady", .home_node = 0, .policy = { .kind = PLAN_POLICY_BUDGET, .weight = 1 } };
        Plan *p = NULL;

        check_int(heatmap_new(&spec, 1, NULL, &h), 0);
        for (unsigned c = 0; c < 4; c++) {
                heatmap_cycle_begin(h);
                for (uint64_t q = 0; q < pages; q++)
                        if (scattered ? q % 10 == 0 : q < pages / 10)
                                check_int(heatmap_sample_hva(h, HVA_BASE + q * PAGE, PAGE), 0);
                check_int(heatmap_cycle_end(h), 0);
        }
        for (uint64_t q = 0; q < pages; q++)
                st[q] = (scattered ? q % 10 == 0 : q < pages / 10) ? 0 : 1;
        check_int(heatmap_residency_update(h, HVA_BASE, st, pages), 0);
        vm.heat = h;
        vm.policy.dram_budget_bytes = budget_pages * PAGE;
        snprintf(plan_compare_case, sizeof(plan_compare_case), "steady %s, budget %" PRIu64 " pages", scattered ? "scattered" : "clustered",
                 budget_pages);
        check_int(plan_compute_checked(t, &limits, &vm, 1, &p), 0);
        plan_free(p);
        topology_free(t);
}

int main(int argc, char *argv[]) {
        unsigned n = argc > 1 ? (unsigned) strtoul(argv[1], NULL, 10) : 400;

        steady_world(true, 2000);
        steady_world(true, 1000);
        steady_world(true, 5000);
        steady_world(false, 2000);
        steady_world(false, 100);
        for (unsigned i = 0; i < n; i++) {
                seed = UINT64_C(0x5eed0000) + i;
                one_world(i);
        }
        check_u64(plan_exact_rescans, 0);
        printf("%u random worlds and 5 steady states: plan_compute() == plan_compute_reference()\n", n);
        return 0;
}
