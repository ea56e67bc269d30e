/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Cost of planning: plan_compute() per 4 KiB page of guest RAM per cycle, for one VM of 1 .. 64
 * GiB on a DRAM + CXL host, 4 KiB-backed or THP-backed, with 10 % of its RAM hot (--density: any
 * %), scattered (every 10th page, or every 10th THP) or clustered (the first 10 %), in two states:
 *   steady   the hot set on DRAM, the rest on CXL, budget = the hot set: nothing to do;
 *   moving   everything on CXL: the hot set to promote, within a 1.25 GiB cycle budget.
 * Prints numbers; never fails on time.
 *     build/bench/plan-bench [MAX_GIB]          time every case up to MAX_GIB (default 64)
 *     build/bench/plan-bench --callgrind [GIB]  also count instructions per page in plan_compute()
 *                                               under valgrind (cases of GIB, default 1)
 *     build/bench/plan-bench --one GIB 4k|thp scattered|clustered steady|moving
 *     build/bench/plan-bench --density PCT ...  PCT % hot instead of 10 (before any of the above)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "callgrind-self.h"
#include "vtism/heatmap.h"
#include "vtism/macro.h"
#include "vtism/plan.h"
#include "vtism/topology.h"
#include "vtism/util.h"

#define HVA UINT64_C(0x7f0000000000)
#define PAGES_PER_GIB (UINT64_C(1) << 18)

typedef struct Case {
        uint64_t gib;
        bool thp, scattered, moving;
        unsigned density;           /* % of the RAM hot */
} Case;

static double now_sec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* density % of the units, spread evenly (scattered) or the first ones (clustered) */
static bool is_hot(const Case *c, uint64_t page, uint64_t pages) {
        uint64_t u = c->thp ? page / 512 : page, d = c->density;

        if (!c->scattered)
                return page < pages * d / 100;
        return (u * d) % 100 < d;
}

/* [0 dram], [1 cxl], each twice the VM's size. */
static Topology *bench_topology(uint64_t ram_bytes) {
        Topology *t = xcalloc(1, sizeof(Topology));

        t->n_nodes = 2;
        t->nodes = xcalloc(2, sizeof(TopologyNode));
        t->distance = xcalloc(4, 1);
        t->nodes[0] = (TopologyNode) { .id = 0, .has_memory = true, .tier = NODE_TIER_DRAM, .memory_tier = -1,
                                       .total_bytes = 2 * ram_bytes, .free_bytes = 2 * ram_bytes };
        t->nodes[0].demotion_targets = xcalloc(1, sizeof(int));
        t->nodes[0].demotion_targets[0] = 1;
        t->nodes[0].n_demotion_targets = 1;
        t->nodes[1] = (TopologyNode) { .id = 1, .has_memory = true, .tier = NODE_TIER_CXL, .memory_tier = -1,
                                       .total_bytes = 2 * ram_bytes, .free_bytes = 2 * ram_bytes };
        return t;
}

/* The heat map of the case: three cycles of accesses to the hot set (heat 84), placement known. */
static HeatMap *bench_heatmap(const Case *c, uint64_t *ret_dram_pages, uint64_t *ret_hot_pages) {
        uint64_t ram = c->gib << 30, pages = ram >> 12, chunk = PAGES_PER_GIB, dram = 0, hot = 0;
        HeatRangeSpec spec = { .gpa = 0, .hva = HVA, .len_bytes = ram };
        _cleanup_free_ int *status = xcalloc(chunk, sizeof(int));
        HeatMap *h;

        if (heatmap_new(&spec, 1, NULL, &h) < 0)
                abort();
        if (c->thp)
                (void) heatmap_mark_huge(h, HVA, ram, true);
        for (unsigned cycle = 0; cycle < 3; cycle++) {
                heatmap_cycle_begin(h);
                if (!c->scattered)
                        (void) heatmap_sample_hva(h, HVA, (pages * c->density / 100) << 12);
                else
                        for (uint64_t p = 0; p < pages; p += c->thp ? 512 : 1)
                                if (is_hot(c, p, pages))
                                        (void) heatmap_sample_hva(h, HVA + (p << 12), c->thp ? UINT64_C(2) << 20 : 4096);
                (void) heatmap_cycle_end(h);
        }
        for (uint64_t first = 0; first < pages; first += chunk) {
                for (uint64_t i = 0; i < chunk; i++) {
                        bool on_dram = !c->moving && is_hot(c, first + i, pages);

                        status[i] = on_dram ? 0 : 1;
                        dram += on_dram;
                        hot += is_hot(c, first + i, pages);
                }
                (void) heatmap_residency_update(h, HVA + (first << 12), status, chunk);
        }
        *ret_dram_pages = dram;
        *ret_hot_pages = hot;
        return h;
}

typedef struct Result {
        double ns_per_page;
        size_t n_moves;
        uint64_t moved_pages;
} Result;

static Result run_case(const Case *c, unsigned rounds) {
        uint64_t ram = c->gib << 30, pages = ram >> 12, dram_pages, hot_pages;
        _cleanup_(heatmap_freep) HeatMap *h = bench_heatmap(c, &dram_pages, &hot_pages);
        Topology *t = bench_topology(ram);
        PlanLimits limits = {
                .budget_bytes = UINT64_C(1280) << 20,
                .dram_min_free_percent = 5,
                .demotion_min_free_ratio = 10,
                .query_pages = 16384,
        };
        PlanVm vm = {
                .id = "bench",
                .heat = h,
                .home_node = 0,
                .policy = { .kind = PLAN_POLICY_BUDGET, .dram_budget_bytes = hot_pages << 12, .weight = 100 },
        };
        Result res = { .ns_per_page = 1e30 };

        t->nodes[0].free_bytes -= dram_pages << 12;
        t->nodes[1].free_bytes -= (pages - dram_pages) << 12;
        for (unsigned r = 0; r < rounds; r++) {
                Plan *p = NULL;
                double t0 = now_sec(), dt;

                if (plan_compute(t, &limits, &vm, 1, &p) < 0)
                        abort();
                dt = now_sec() - t0;
                res.ns_per_page = MIN(res.ns_per_page, dt / (double) pages * 1e9);
                res.n_moves = p->n_moves;
                res.moved_pages = (p->promote_bytes + p->demote_bytes) >> 12;
                plan_free(p);
        }
        topology_free(t);
        return res;
}

static const char *case_name(const Case *c, char *buf, size_t size) {
        snprintf(buf, size, "%" PRIu64 " %s %s %s", c->gib, c->thp ? "thp" : "4k", c->scattered ? "scattered" : "clustered",
                 c->moving ? "moving" : "steady");
        return buf;
}

/* Instructions executed inside plan_compute() for the case, from a callgrind run of ourselves. */
static int callgrind_case(const char *self, const Case *c, uint64_t *ret_ir) {
        char gib[32], dens[16];

        snprintf(gib, sizeof(gib), "%" PRIu64, c->gib);
        snprintf(dens, sizeof(dens), "%u", c->density);
        return callgrind_self("plan_compute",
                              (const char *[]) { self, "--density", dens, "--one", gib, c->thp ? "thp" : "4k",
                                                 c->scattered ? "scattered" : "clustered", c->moving ? "moving" : "steady",
                                                 NULL },
                              ret_ir);
}

int main(int argc, char *argv[]) {
        static const uint64_t sizes[] = { 1, 4, 16, 64 };
        uint64_t max_gib = 64, cg_gib = 1;
        bool callgrind = false;
        char name[96];

        unsigned density = 10;

        if (argc > 2 && streq(argv[1], "--density")) {
                density = (unsigned) strtoul(argv[2], NULL, 10);
                if (density < 1 || density > 100) {
                        fprintf(stderr, "--density: a percentage 1..100\n");
                        return 2;
                }
                argv[2] = argv[0];
                argv += 2;
                argc -= 2;
        }
        if (argc == 6 && streq(argv[1], "--one")) {
                Case c = {
                        .gib = strtoull(argv[2], NULL, 10),
                        .thp = streq(argv[3], "thp"),
                        .scattered = streq(argv[4], "scattered"),
                        .moving = streq(argv[5], "moving"),
                        .density = density,
                };
                Result r = run_case(&c, 1);

                printf("%s: %.2f ns/page, %zu moves\n", case_name(&c, name, sizeof(name)), r.ns_per_page, r.n_moves);
                return 0;
        }
        if (argc > 1 && streq(argv[1], "--callgrind")) {
                callgrind = true;
                if (argc > 2)
                        cg_gib = strtoull(argv[2], NULL, 10);
        } else if (argc > 1)
                max_gib = strtoull(argv[1], NULL, 10);

        printf("plan_compute() for one VM, per 4 KiB page of guest RAM, best of 3 (%u %% hot; budget 1.25 GiB a cycle)\n", density);
        printf("%-6s %-4s %-10s %-7s %10s %9s %12s", "GiB", "RAM", "heat", "state", "ns/page", "moves", "moved MiB");
        printf(callgrind ? " %10s\n" : "\n", "instr/page");
        for (size_t si = 0; si < ELEMENTSOF(sizes); si++) {
                uint64_t gib = callgrind ? cg_gib : sizes[si];

                if (!callgrind && gib > max_gib)
                        break;
                for (unsigned k = 0; k < 8; k++) {
                        Case c = { .gib = gib, .thp = k & 4, .scattered = k & 2, .moving = k & 1, .density = density };
                        Result r = run_case(&c, 3);

                        printf("%-6" PRIu64 " %-4s %-10s %-7s %10.3f %9zu %12" PRIu64, c.gib, c.thp ? "THP" : "4K",
                               c.scattered ? "scattered" : "clustered", c.moving ? "moving" : "steady", r.ns_per_page, r.n_moves,
                               r.moved_pages / 256);
                        if (callgrind) {
                                uint64_t ir = 0;
                                int e = callgrind_case(argv[0], &c, &ir);

                                if (e < 0)
                                        printf(" %10s", "n/a");
                                else
                                        printf(" %10.2f", (double) ir / (double) (c.gib * PAGES_PER_GIB));
                        }
                        printf("\n");
                        fflush(stdout);
                }
                if (callgrind)
                        break;
        }
        return 0;
}
