/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The planner against small worlds: a topology, VMs with a heat map and the true node of every
 * page, and an ideal migrator that executes plans the way the contract in plan.h says. Every plan
 * any test makes goes through check_plan(), which checks that contract move by move.
 *
 * Pictures: nodes as [id tier size], VMs as their RAM left to right in segments
 * "size@heat:node" (node "-" = absent, "~" = scattered, see the case).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vtism/heatmap.h"
#include "vtism/macro.h"
#include "vtism/plan.h"
#include "vtism/topology.h"
#include "vtism/util.h"

#define K4 UINT64_C(4096)
#define M2 (UINT64_C(2) << 20)
#define PG(mib) ((uint64_t) (mib) * 256)   /* MiB in 4 KiB pages */
#define VMS_MAX 128
#define NODES_MAX 8
#define RANGES_MAX 2

static const char *test_data;

/* ---- the world ---- */

typedef struct TNode {
        int id;
        NodeTier tier;
        uint64_t total_mib;
        uint64_t other_mib;        /* used by something else than VMs */
        int targets[4];            /* DRAM: demotion targets, nearest first */
        size_t n_targets;
} TNode;

typedef struct WRange {
        uint64_t hva, pages, first; /* first: index of its first page in the VM's page arrays */
} WRange;

typedef struct WVm {
        HeatMap *heat;
        WRange ranges[RANGES_MAX];
        size_t n_ranges;
        uint64_t pages;
        int *where;                /* the truth: node of each page, -1 absent */
        PlanVm in;
        /* the statuses queried after the last plan, for the next one */
        PlanPlacement *placement;
        int **placement_status;
        size_t n_placement;
} WVm;

typedef struct World {
        Topology *t;
        uint64_t other_pages[NODES_MAX];
        WVm vm[VMS_MAX];
        size_t n_vms;
        PlanLimits limits;
        uint64_t moved_pages;      /* by the ideal migrator, all plans */
        uint64_t queried_pages;
} World;

static Topology *topo_new(const TNode *n, size_t k, uint64_t *other_pages) {
        Topology *t = xcalloc(1, sizeof(Topology));

        t->nodes = xcalloc(k, sizeof(TopologyNode));
        t->n_nodes = k;
        t->distance = xcalloc(k * k, 1);
        for (size_t i = 0; i < k; i++) {
                TopologyNode *tn = &t->nodes[i];

                *tn = (TopologyNode) {
                        .id = n[i].id,
                        .has_memory = n[i].total_mib > 0,
                        .tier = n[i].tier,
                        .memory_tier = -1,
                        .total_bytes = n[i].total_mib << 20,
                        .free_bytes = n[i].total_mib << 20,
                };
                if (n[i].n_targets > 0) {
                        tn->demotion_targets = xcalloc(n[i].n_targets, sizeof(int));
                        memcpy(tn->demotion_targets, n[i].targets, n[i].n_targets * sizeof(int));
                        tn->n_demotion_targets = n[i].n_targets;
                }
                other_pages[i] = PG(n[i].other_mib);
        }
        return t;
}

/* The 2 DRAM + 1 CXL shape most cases use: [0 dram 1G] [1 cxl 1G]. */
static const TNode TWO_NODES[] = {
        { .id = 0, .tier = NODE_TIER_DRAM, .total_mib = 1024, .targets = { 1 }, .n_targets = 1 },
        { .id = 1, .tier = NODE_TIER_CXL, .total_mib = 1024 },
};

static int node_index(const World *w, int id) {
        for (size_t i = 0; i < w->t->n_nodes; i++)
                if (w->t->nodes[i].id == id)
                        return (int) i;
        return -1;
}

static NodeTier tier_of(const World *w, int id) {
        int i = node_index(w, id);

        check(i >= 0);
        return w->t->nodes[i].tier;
}

/* meminfo of every node from the truth, like topology_refresh_meminfo() would read it */
static void world_refresh_free(World *w) {
        for (size_t i = 0; i < w->t->n_nodes; i++) {
                TopologyNode *tn = &w->t->nodes[i];
                uint64_t used = w->other_pages[i];

                for (size_t v = 0; v < w->n_vms; v++)
                        for (uint64_t p = 0; p < w->vm[v].pages; p++)
                                used += w->vm[v].where[p] == tn->id;
                check((used << 12) <= tn->total_bytes);
                tn->free_bytes = tn->total_bytes - (used << 12);
        }
}

static void world_init(World *w, const TNode *nodes, size_t n_nodes) {
        *w = (World) {
                .limits = {
                        .budget_bytes = UINT64_C(1) << 40,
                        .dram_min_free_percent = 5,
                        .demotion_min_free_ratio = 10,
                        .query_pages = 16384,
                },
        };
        w->t = topo_new(nodes, n_nodes, w->other_pages);
}

static void vm_free_placement(WVm *vm) {
        for (size_t i = 0; i < vm->n_placement; i++)
                free(vm->placement_status[i]);
        free(vm->placement);
        free(vm->placement_status);
        vm->placement = NULL;
        vm->placement_status = NULL;
        vm->n_placement = 0;
        vm->in.placement = NULL;
        vm->in.n_placement = 0;
}

static void world_done(World *w) {
        for (size_t v = 0; v < w->n_vms; v++) {
                heatmap_free(w->vm[v].heat);
                free(w->vm[v].where);
                vm_free_placement(&w->vm[v]);
        }
        topology_free(w->t);
}

static uint64_t vm_hva(const WVm *vm, uint64_t page) {
        for (size_t r = 0; r < vm->n_ranges; r++)
                if (page >= vm->ranges[r].first && page < vm->ranges[r].first + vm->ranges[r].pages)
                        return vm->ranges[r].hva + ((page - vm->ranges[r].first) << 12);
        check(false);
        return 0;
}

/* Index of the page at hva, or -1 if it is not the VM's. */
static int64_t vm_page(const WVm *vm, uint64_t hva) {
        for (size_t r = 0; r < vm->n_ranges; r++)
                if (hva >= vm->ranges[r].hva && hva < vm->ranges[r].hva + (vm->ranges[r].pages << 12))
                        return (int64_t) (vm->ranges[r].first + ((hva - vm->ranges[r].hva) >> 12));
        return -1;
}

/*
 * A VM of RAM ranges (pages each; hva_off shifts a range off 2 MiB alignment), all pages absent,
 * heat from `cycles` empty cycles (so it is past warm-up), home node 0, budget = all of RAM.
 */
static WVm *world_add_vm_ranges(World *w, const uint64_t *pages, const uint64_t *hva_off, size_t n, unsigned cycles) {
        WVm *vm = &w->vm[w->n_vms];
        HeatRangeSpec spec[RANGES_MAX];
        uint64_t base = UINT64_C(0x7f0000000000) - (uint64_t) w->n_vms * (UINT64_C(1) << 36), gpa = 0;

        check(w->n_vms < VMS_MAX && n <= RANGES_MAX);
        *vm = (WVm) {};
        for (size_t r = 0; r < n; r++) {
                spec[r] = (HeatRangeSpec) { .gpa = gpa, .hva = base + (UINT64_C(1) << 34) * r + hva_off[r], .len_bytes = pages[r] << 12 };
                vm->ranges[r] = (WRange) { .hva = spec[r].hva, .pages = pages[r], .first = vm->pages };
                vm->pages += pages[r];
                gpa += (UINT64_C(1) << 33);
        }
        vm->n_ranges = n;
        check_int(heatmap_new(spec, n, NULL, &vm->heat), 0);
        vm->where = xcalloc(vm->pages, sizeof(int));
        for (uint64_t p = 0; p < vm->pages; p++)
                vm->where[p] = -1;
        for (unsigned c = 0; c < cycles; c++) {
                heatmap_cycle_begin(vm->heat);
                check_int(heatmap_cycle_end(vm->heat), 0);
        }
        vm->in = (PlanVm) {
                .id = "vm",
                .heat = vm->heat,
                .home_node = 0,
                .policy = { .kind = PLAN_POLICY_BUDGET, .dram_budget_bytes = vm->pages << 12, .weight = 100 },
        };
        w->n_vms++;
        return vm;
}

static WVm *world_add_vm(World *w, uint64_t pages) {
        return world_add_vm_ranges(w, &pages, (const uint64_t[]) { 0 }, 1, PLAN_WARMUP_CYCLES);
}

/*
 * Test shortcut: write heat bytes directly (tables draw heat, not access histories). Only before
 * the VM's placement is fed, as block ceilings are computed from the heat they see.
 */
static void set_heat(WVm *vm, uint64_t first, uint64_t n, uint8_t heat) {
        for (uint64_t p = first; p < first + n; p++) {
                uint8_t *bytes;
                HeatRangeSpec spec;
                size_t r, ng;
                uint64_t hva = vm_hva(vm, p);

                for (r = 0; r < vm->n_ranges; r++)
                        if (p >= vm->ranges[r].first && p < vm->ranges[r].first + vm->ranges[r].pages)
                                break;
                /* the heat map's range index: ranges are sorted by GPA, ours were added in GPA order */
                check_int(heatmap_range(vm->heat, r, &spec, (const uint8_t **) &bytes, &ng), 0);
                bytes[(hva - spec.hva) >> 12] = heat;
        }
}

/* A segment of a VM: pages, heat, node (-1: absent), THP; with every > 1 only each every-th page
 * gets heat/node, the others heat2/node2. */
typedef struct Seg {
        uint64_t pages;
        uint8_t heat;
        int node;
        bool huge;
        unsigned every;
        uint8_t heat2;
        int node2;
} Seg;

#define S(n, h, node_) { .pages = (n), .heat = (h), .node = (node_) }
#define SH(n, h, node_) { .pages = (n), .heat = (h), .node = (node_), .huge = true }
#define SS(n, h, node_, every_, h2, node2_) { .pages = (n), .heat = (h), .node = (node_), .every = (every_), .heat2 = (h2), .node2 = (node2_) }

static void vm_fill(WVm *vm, const Seg *segs, size_t n) {
        uint64_t p = 0;

        for (size_t s = 0; s < n && segs[s].pages > 0; s++) {
                const Seg *g = &segs[s];

                for (uint64_t i = 0; i < g->pages; i++) {
                        bool first = g->every <= 1 || i % g->every == 0;

                        check(p + i < vm->pages);
                        set_heat(vm, p + i, 1, first ? g->heat : g->heat2);
                        vm->where[p + i] = first ? g->node : g->node2;
                }
                if (g->huge) {
                        check(vm->n_ranges == 1 && (vm_hva(vm, p) & (M2 - 1)) == 0 && g->pages % 512 == 0);
                        check_int(heatmap_mark_huge(vm->heat, vm_hva(vm, p), g->pages << 12, true), 0);
                }
                p += g->pages;
        }
}

/* The migrator's residency pass: every page queried once, in order. */
static void vm_pass(WVm *vm) {
        for (size_t r = 0; r < vm->n_ranges; r++) {
                const WRange *wr = &vm->ranges[r];

                check_int(heatmap_residency_update(vm->heat, wr->hva, vm->where + wr->first, wr->pages), 0);
        }
}

/* ---- the contract ---- */

typedef struct Expect {
        uint64_t free[NODES_MAX];  /* pages, as the planner was told */
        uint64_t keep[NODES_MAX];
} Expect;

static uint8_t unit_heat(const WVm *vm, uint64_t hva, uint64_t n_pages) {
        uint8_t max = 0, v;

        for (uint64_t i = 0; i < n_pages; i++) {
                check_int(heatmap_heat_hva(vm->heat, hva + (i << 12), &v), 0);
                max = MAX(max, v);
        }
        return max;
}

/*
 * Every rule of the contract, checked against the truth while executing the plan move by move
 * the way an ideal migrator would (without changing the world).
 */
static void check_plan(const World *w, const Plan *p) {
        int64_t free_pages[NODES_MAX];
        uint64_t keep[NODES_MAX], total = 0, query_total = 0;
        uint64_t dram[VMS_MAX] = {}, promoted[VMS_MAX] = {}, demoted[VMS_MAX] = {};
        uint8_t *moved[VMS_MAX] = {};
        bool seen_promotion = false;

        check_int(p->n_vms, w->n_vms);
        check_u64(p->budget_bytes, w->limits.budget_bytes);
        for (size_t i = 0; i < w->t->n_nodes; i++) {
                const TopologyNode *tn = &w->t->nodes[i];
                unsigned pct = tn->tier == NODE_TIER_DRAM ? w->limits.dram_min_free_percent : w->limits.demotion_min_free_ratio;

                free_pages[i] = (int64_t) (tn->free_bytes >> 12);
                keep[i] = DIV_ROUND_UP((tn->total_bytes >> 12) * pct, 100);
        }
        for (size_t v = 0; v < w->n_vms; v++) {
                moved[v] = xcalloc(w->vm[v].pages, 1);
                for (uint64_t q = 0; q < w->vm[v].pages; q++)
                        dram[v] += w->vm[v].where[q] >= 0 && tier_of(w, w->vm[v].where[q]) == NODE_TIER_DRAM;
        }

        for (size_t k = 0; k < p->n_moves; k++) {
                const PlanMove *m = &p->moves[k];
                const WVm *vm;
                int64_t first;
                int ti;

                check(m->vm < w->n_vms);
                vm = &w->vm[m->vm];
                check(m->n_pages > 0);
                total += m->n_pages;
                check(total << 12 <= w->limits.budget_bytes);                 /* the cycle's budget */
                if (m->direction == PLAN_PROMOTE)
                        seen_promotion = true;
                else
                        check(m->direction == PLAN_DEMOTE && !seen_promotion);  /* demotions first */
                check((m->hva & (K4 - 1)) == 0);
                first = vm_page(vm, m->hva);
                check(first >= 0);
                check(vm_page(vm, m->hva + ((m->n_pages - 1) << 12)) == first + (int64_t) m->n_pages - 1); /* one range */
                check(vm->in.policy.kind != PLAN_POLICY_NEVER && !vm->in.frozen);
                check(m->heat == unit_heat(vm, m->hva, m->n_pages));
                ti = node_index(w, m->to_node);
                check(ti >= 0);
                if (m->direction == PLAN_PROMOTE) {
                        check_int(m->to_node, vm->in.home_node);
                        check(tier_of(w, m->to_node) == NODE_TIER_DRAM);
                        check(m->from_node == PLAN_NODE_ANY || tier_of(w, m->from_node) == NODE_TIER_CXL);
                } else {
                        check(vm->in.policy.kind != PLAN_POLICY_PIN);
                        check(tier_of(w, m->to_node) == NODE_TIER_CXL);
                        check(m->from_node >= 0 && tier_of(w, m->from_node) == NODE_TIER_DRAM); /* never blind */
                }
                if (m->huge) {
                        HeatBlock b;

                        check_int(m->n_pages, 512);
                        check((m->hva & (M2 - 1)) == 0);
                        check_int(heatmap_block_hva(vm->heat, m->hva, &b), 0);
                        check(b.huge && b.n_pages == 512);
                }
                for (uint64_t i = 0; i < m->n_pages; i++) {
                        uint64_t q = (uint64_t) first + i;
                        int x = vm->where[q], xi;

                        if (!m->huge) { /* never a part of a THP */
                                HeatBlock b;

                                check_int(heatmap_block_hva(vm->heat, m->hva + (i << 12), &b), 0);
                                check(!b.huge);
                        }
                        check(!moved[m->vm][q]);                                  /* moved once */
                        moved[m->vm][q] = 1;
                        if (m->from_node >= 0)
                                check_int(x, m->from_node);                       /* known = true */
                        if (m->huge)
                                check_int(x, vm->where[first]);
                        if (x < 0)
                                continue;
                        if (m->from_node == PLAN_NODE_ANY && tier_of(w, x) == tier_of(w, m->to_node))
                                continue;                                          /* found in place */
                        xi = node_index(w, x);
                        free_pages[xi]++;
                        free_pages[ti]--;
                        if (m->direction == PLAN_PROMOTE)
                                dram[m->vm]++;
                        else
                                dram[m->vm]--;
                }
                if (m->direction == PLAN_PROMOTE) {
                        promoted[m->vm] += m->n_pages;
                        check(free_pages[ti] >= (int64_t) keep[ti]);               /* DRAM watermark */
                        check(dram[m->vm] <= p->vms[m->vm].dram_target_bytes >> 12); /* VM target */
                } else {
                        demoted[m->vm] += m->n_pages;
                        check(free_pages[ti] >= (int64_t) keep[ti]);               /* CXL min free ratio */
                }
        }

        for (size_t q = 0; q < p->n_queries; q++) {
                const PlanQuery *pq = &p->queries[q];
                const WVm *vm;

                check(pq->vm < w->n_vms);
                vm = &w->vm[pq->vm];
                check(pq->n_pages > 0 && pq->n_pages <= 512);
                check(vm_page(vm, pq->hva) >= 0);
                check(vm_page(vm, pq->hva + ((pq->n_pages - 1) << 12)) == vm_page(vm, pq->hva) + (int64_t) pq->n_pages - 1);
                check((pq->hva >> 21) == ((pq->hva + (pq->n_pages << 12) - 1) >> 21)); /* one block */
                query_total += pq->n_pages;
        }
        check(query_total <= w->limits.query_pages);
        check_u64(query_total, p->query_pages);

        for (size_t v = 0; v < w->n_vms; v++) {
                const PlanVmResult *r = &p->vms[v];
                const PlanVm *in = &w->vm[v].in;

                check(r->reason && strlen(r->reason) > 10);
                check_u64(r->promote_bytes, promoted[v] << 12);
                check_u64(r->demote_bytes, demoted[v] << 12);
                check_u64(r->ram_bytes, w->vm[v].pages << 12);
                check(r->dram_target_bytes <= r->ram_bytes);
                if (in->policy.kind == PLAN_POLICY_BUDGET && r->dram_target_bytes > r->dram_bytes)
                        check(r->dram_target_bytes <= in->policy.dram_budget_bytes);
                check(r->hot_min_heat <= 256 && r->cold_max_heat <= 255);
                free(moved[v]);
        }
}

/* ---- the ideal migrator ---- */

static void report_run(WVm *vm, uint64_t first, uint64_t n, int from, int to) {
        if (n > 0)
                check_int(heatmap_residency_moved(vm->heat, vm_hva(vm, first), n, from, to), 0);
}

static int cmp_query_hva(const void *a, const void *b) {
        const PlanQuery *x = a, *y = b;

        if (x->vm != y->vm)
                return x->vm < y->vm ? -1 : 1;
        return (x->hva > y->hva) - (x->hva < y->hva);
}

/* Execute the plan: moves as the contract says, then its queries, kept for the next plan. */
static void apply_plan(World *w, const Plan *p) {
        _cleanup_free_ PlanQuery *queries = NULL;

        for (size_t k = 0; k < p->n_moves; k++) {
                const PlanMove *m = &p->moves[k];
                WVm *vm = &w->vm[m->vm];
                uint64_t first = (uint64_t) vm_page(vm, m->hva), end = first + m->n_pages, run = first;
                int run_from = -2, run_to = -2;

                /* per page: where it is, where it ends; reported in runs of equal (from, to) */
                for (uint64_t q = first; q <= end; q++) {
                        int from = -2, to = -2;

                        if (q < end && vm->where[q] >= 0) {
                                from = vm->where[q];
                                to = m->from_node == PLAN_NODE_ANY && tier_of(w, from) == tier_of(w, m->to_node) ? from : m->to_node;
                        }
                        if (from != run_from || to != run_to) {
                                if (run_from >= 0)
                                        report_run(vm, run, q - run, run_from, run_to);
                                run = q;
                                run_from = from;
                                run_to = to;
                        }
                        if (from >= 0 && to != from) {
                                vm->where[q] = to;
                                w->moved_pages++;
                        }
                }
        }

        for (size_t v = 0; v < w->n_vms; v++)
                vm_free_placement(&w->vm[v]);
        if (p->n_queries > 0) {
                queries = xcalloc(p->n_queries, sizeof(PlanQuery));
                memcpy(queries, p->queries, p->n_queries * sizeof(PlanQuery));
                qsort(queries, p->n_queries, sizeof(PlanQuery), cmp_query_hva);
        }
        for (size_t q = 0; q < p->n_queries; q++) {
                const PlanQuery *pq = &queries[q];
                WVm *vm = &w->vm[pq->vm];
                int *status = xcalloc(pq->n_pages, sizeof(int));
                uint64_t first = (uint64_t) vm_page(vm, pq->hva);

                for (uint64_t i = 0; i < pq->n_pages; i++)
                        status[i] = vm->where[first + i] >= 0 ? vm->where[first + i] : -ENOENT;
                check_int(heatmap_residency_update(vm->heat, pq->hva, status, pq->n_pages), 0);
                vm->placement = xreallocarray(vm->placement, vm->n_placement + 1, sizeof(PlanPlacement));
                vm->placement_status = xreallocarray(vm->placement_status, vm->n_placement + 1, sizeof(int *));
                vm->placement[vm->n_placement] = (PlanPlacement) { .hva = pq->hva, .n_pages = pq->n_pages, .status = status };
                vm->placement_status[vm->n_placement++] = status;
                w->queried_pages += pq->n_pages;
        }
        for (size_t v = 0; v < w->n_vms; v++) {
                w->vm[v].in.placement = w->vm[v].placement;
                w->vm[v].in.n_placement = w->vm[v].n_placement;
        }
        world_refresh_free(w);
}

static Plan *world_plan(World *w) {
        PlanVm vms[VMS_MAX];
        Plan *p = NULL;

        for (size_t v = 0; v < w->n_vms; v++)
                vms[v] = w->vm[v].in;
        check_int(plan_compute(w->t, &w->limits, vms, w->n_vms, &p), 0);
        check_plan(w, p);
        return p;
}

/* Plan and execute; returns the plan (caller frees). */
static Plan *world_step(World *w) {
        Plan *p = world_plan(w);

        apply_plan(w, p);
        w->limits.round++;
        return p;
}

_unused_ static uint64_t vm_pages_on_tier(const World *w, const WVm *vm, NodeTier tier, uint64_t first, uint64_t n) {
        uint64_t k = 0;

        for (uint64_t p = first; p < first + n && p < vm->pages; p++)
                k += vm->where[p] >= 0 && tier_of(w, vm->where[p]) == tier;
        return k;
}

static void dump_plan(const Plan *p) {
        for (size_t v = 0; v < p->n_vms; v++)
                fprintf(stderr, "  vm %zu: %s\n", v, p->vms[v].reason);
        for (size_t k = 0; k < p->n_moves && k < 20; k++)
                fprintf(stderr, "  %s vm %u hva 0x%" PRIx64 " %" PRIu64 " pages %d -> %d heat %u%s\n",
                        plan_direction_to_string(p->moves[k].direction), p->moves[k].vm, p->moves[k].hva, p->moves[k].n_pages,
                        p->moves[k].from_node, p->moves[k].to_node, p->moves[k].heat, p->moves[k].huge ? " huge" : "");
}

/* One-VM world on TWO_NODES from segments, its placement known from a complete pass. */
static WVm *one_vm(World *w, const Seg *segs, size_t n_segs) {
        uint64_t pages = 0;
        WVm *vm;

        for (size_t s = 0; s < n_segs; s++)
                pages += segs[s].pages;
        vm = world_add_vm(w, pages);
        vm_fill(vm, segs, n_segs);
        vm_pass(vm);
        world_refresh_free(w);
        return vm;
}

static uint64_t sum_moves(const Plan *p, PlanDirection d, int vm) {
        uint64_t n = 0;

        for (size_t k = 0; k < p->n_moves; k++)
                if (p->moves[k].direction == d && (vm < 0 || p->moves[k].vm == (uint32_t) vm))
                        n += p->moves[k].n_pages;
        return n;
}

static void set_budget(WVm *vm, uint64_t mib) {
        vm->in.policy.kind = PLAN_POLICY_BUDGET;
        vm->in.policy.dram_budget_bytes = mib << 20;
}

/*
 * Budget fill: the hottest RAM fills the budget; warm-but-below-floor and cold pages do not.
 * [0 dram 1G] [1 cxl 1G]
 *   vm: | 128M@200:1 | 128M@100:1 | 64M@40:1 | 704M@0:1 |
 */
static void test_budget_fill(void) {
        static const struct {
                uint64_t budget_mib, promote_pages;
                unsigned hot_min, cold_max;
        } cases[] = {
                { 0, 0, 256, 207 },
                { 64, PG(64), 201, 152 },
                { 128, PG(128), 101, 52 },
                { 192, PG(192), 101, 52 },
                { 512, PG(256), 49, 0 },     /* the 40s are below the floor, the 0s cold */
                { 1024, PG(256), 49, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                World w;
                _cleanup_(plan_freep) Plan *p = NULL;
                WVm *vm;

                world_init(&w, TWO_NODES, 2);
                vm = one_vm(&w, (const Seg[]) { S(PG(128), 200, 1), S(PG(128), 100, 1), S(PG(64), 40, 1), S(PG(704), 0, 1) }, 4);
                set_budget(vm, cases[i].budget_mib);
                p = world_plan(&w);
                check_u64(sum_moves(p, PLAN_PROMOTE, -1), cases[i].promote_pages);
                check_u64(sum_moves(p, PLAN_DEMOTE, -1), 0);
                check_int(p->vms[0].hot_min_heat, cases[i].hot_min);
                check_int(p->vms[0].cold_max_heat, cases[i].cold_max);
                /* the DRAM node holds 1024M - 51.2M (5 %) for VMs */
                check_u64(p->vms[0].dram_target_bytes >> 12, MIN(PG(cases[i].budget_mib), PG(1024) - DIV_ROUND_UP(PG(1024) * 5, 100)));
                if (p->n_moves > 0) {
                        check_int(p->moves[0].heat, 200);        /* hottest first */
                        check_int(p->moves[0].from_node, 1);
                        check_int(p->moves[0].to_node, 0);
                }
                check_int(p->n_queries, 0);
                world_done(&w);
        }
}

/*
 * Thresholds from the histogram: the budget is filled from the top of the VM's heat histogram.
 * [0 dram 1G] [1 cxl 1G]
 *   vm: | 32M@255 | 32M@224 | 32M@192 | 32M@160 | 32M@128 | 32M@96 | 32M@64 | 32M@32 |  all :1
 */
static void test_thresholds(void) {
        static const struct {
                uint64_t budget_mib, promote_pages;
                unsigned hot_min;
        } cases[] = {
                { 0, 0, 256 },
                { 32, PG(32), 225 },     /* the lowest heat whose hotter-or-equal pages fit */
                { 100, PG(100), 161 },   /* 255..192 fit (96M), 4M of the 160s too */
                { 160, PG(160), 97 },
                { 256, PG(224), 49 },    /* the floor: the 32s never earn DRAM */
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                static const uint8_t heats[] = { 255, 224, 192, 160, 128, 96, 64, 32 };
                _cleanup_(plan_freep) Plan *p = NULL;
                Seg segs[8];
                World w;
                WVm *vm;

                for (size_t s = 0; s < 8; s++)
                        segs[s] = (Seg) { .pages = PG(32), .heat = heats[s], .node = 1 };
                world_init(&w, TWO_NODES, 2);
                vm = one_vm(&w, segs, 8);
                set_budget(vm, cases[i].budget_mib);
                p = world_plan(&w);
                check_u64(sum_moves(p, PLAN_PROMOTE, -1), cases[i].promote_pages);
                check_int(p->vms[0].hot_min_heat, cases[i].hot_min);
                /* hottest first, all the way down */
                for (size_t k = 1; k < p->n_moves; k++)
                        check(p->moves[k].heat <= p->moves[k - 1].heat);
                world_done(&w);
        }
}

/*
 * Hysteresis: plan, execute, plan the same heat map again: nothing moves the second time.
 * [0 dram 1G] [1 cxl 1G], one VM per row ("~" = every 4th page hot, the rest cold):
 */
static void test_hysteresis(void) {
        static const struct {
                const char *picture;
                Seg segs[3];
                PlanPolicyKind kind;
                uint64_t budget_mib, first_moves_pages;
        } cases[] = {
                { "| 128M@200:1 | 128M@0:1 |        budget 64M", { S(PG(128), 200, 1), S(PG(128), 0, 1) }, PLAN_POLICY_BUDGET, 64, PG(64) },
                { "| 256M@200:0 | 256M@10:0 |       budget 256M", { S(PG(256), 200, 0), S(PG(256), 10, 0) }, PLAN_POLICY_BUDGET, 256, PG(256) },
                { "| 128M@60:0 | 128M@200:1 |       budget 128M: swap", { S(PG(128), 60, 0), S(PG(128), 200, 1) }, PLAN_POLICY_BUDGET, 128, PG(256) },
                { "| 128M@100:0 | 128M@140:1 |      budget 128M: within the margin", { S(PG(128), 100, 0), S(PG(128), 140, 1) }, PLAN_POLICY_BUDGET, 128, 0 },
                { "| 256M~200:1,0:1 |               budget 64M: scattered", { SS(PG(256), 200, 1, 4, 0, 1) }, PLAN_POLICY_BUDGET, 64, PG(64) },
                { "| 256M~200:0,0:0 |               budget 64M: scattered, over", { SS(PG(256), 200, 0, 4, 0, 0) }, PLAN_POLICY_BUDGET, 64, PG(192) },
                { "| 128M@200:1 THP | 128M@0:1 THP | budget 64M", { SH(PG(128), 200, 1), SH(PG(128), 0, 1) }, PLAN_POLICY_BUDGET, 64, PG(64) },
                { "| 128M@0:1 |                     pinned", { S(PG(128), 0, 1) }, PLAN_POLICY_PIN, 0, PG(128) },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                World w;
                WVm *vm;
                size_t n = 0;

                while (n < 3 && cases[i].segs[n].pages > 0)
                        n++;
                world_init(&w, TWO_NODES, 2);
                vm = one_vm(&w, cases[i].segs, n);
                set_budget(vm, cases[i].budget_mib);
                vm->in.policy.kind = cases[i].kind;
                {
                        _cleanup_(plan_freep) Plan *p = world_step(&w);

                        if (sum_moves(p, PLAN_PROMOTE, -1) + sum_moves(p, PLAN_DEMOTE, -1) != cases[i].first_moves_pages) {
                                fprintf(stderr, "hysteresis case %s: first plan\n", cases[i].picture);
                                dump_plan(p);
                        }
                        check_u64(sum_moves(p, PLAN_PROMOTE, -1) + sum_moves(p, PLAN_DEMOTE, -1), cases[i].first_moves_pages);
                }
                for (unsigned again = 0; again < 2; again++) {
                        _cleanup_(plan_freep) Plan *p = world_step(&w);

                        if (p->n_moves != 0 || p->n_queries != 0) {
                                fprintf(stderr, "hysteresis case %s: plan %u\n", cases[i].picture, again + 2);
                                dump_plan(p);
                        }
                        check_int(p->n_moves, 0);
                        check_int(p->n_queries, 0);
                }
                world_done(&w);
        }
}

/*
 * DRAM free watermark (5 %). [0 dram 1G, others use 900M] [1 cxl 1G]
 *   vm: | 256M@200:1 |   budget 256M → the VMs may hold 124M free - 51.2M = 72.8M
 * and below it already: others use 990M, the VM holds 20M there.
 *   vm: | 20M@0:0 | 236M@200:1 | → free 14M < 51.2M: the VM's 20M go, nothing comes
 */
static void test_dram_watermark(void) {
        {
                _cleanup_(plan_freep) Plan *p = NULL;
                World w;

                world_init(&w, TWO_NODES, 2);
                w.other_pages[0] = PG(900);
                (void) one_vm(&w, (const Seg[]) { S(PG(256), 200, 1) }, 1);
                set_budget(&w.vm[0], 256);
                p = world_plan(&w);
                check_u64(sum_moves(p, PLAN_PROMOTE, -1), PG(1024 - 900) - DIV_ROUND_UP(PG(1024) * 5, 100));
                check_u64(p->vms[0].dram_target_bytes >> 12, PG(1024 - 900) - DIV_ROUND_UP(PG(1024) * 5, 100));
                check(strstr(p->vms[0].reason, "of 256 MiB asked"));
                world_done(&w);
        }
        {
                _cleanup_(plan_freep) Plan *p = NULL;
                World w;

                world_init(&w, TWO_NODES, 2);
                w.other_pages[0] = PG(990);
                (void) one_vm(&w, (const Seg[]) { S(PG(20), 0, 0), S(PG(236), 200, 1) }, 2);
                set_budget(&w.vm[0], 256);
                p = world_plan(&w);
                check_u64(p->vms[0].dram_target_bytes, 0);
                check_u64(sum_moves(p, PLAN_DEMOTE, -1), PG(20));
                check_u64(sum_moves(p, PLAN_PROMOTE, -1), 0);
                world_done(&w);
        }
}

static void world_from_topology(World *w, Topology *t) {
        *w = (World) {
                .t = t,
                .limits = { .budget_bytes = UINT64_C(1) << 40, .dram_min_free_percent = 5, .demotion_min_free_ratio = 10 },
        };
        for (size_t i = 0; i < t->n_nodes; i++)
                w->other_pages[i] = (t->nodes[i].total_bytes - t->nodes[i].free_bytes) >> 12;
}

/*
 * CXL minimum free ratio (10 %): a CXL node at its minimum gets nothing, one page above it one
 * page. [0 dram 1G] [1 cxl 1G, free = 10 % (+ extra pages)]
 *   vm: | 64M@200:0 | 192M@0:0 |   budget 64M: 192M to demote
 */
static void test_cxl_min_free(void) {
        for (uint64_t extra = 0; extra < 3; extra++) {
                _cleanup_(plan_freep) Plan *p = NULL;
                World w;

                world_init(&w, TWO_NODES, 2);
                w.other_pages[1] = PG(1024) - DIV_ROUND_UP(PG(1024) * 10, 100) - extra;
                (void) one_vm(&w, (const Seg[]) { S(PG(64), 200, 0), S(PG(192), 0, 0) }, 2);
                set_budget(&w.vm[0], 64);
                p = world_plan(&w);
                check_u64(sum_moves(p, PLAN_DEMOTE, -1), extra);
                check(strstr(p->vms[0].reason, "minimum free ratio"));
                world_done(&w);
        }
}

/*
 * The 4-node shape (tests/data/sysfs-4node): DRAM nodes 0 and 1, CXL nodes 2 and 3; distances
 * 1→2 = 1→3 = 14 (ties: lower id first), 0→2 = 0→3 = 24.
 *   [0 dram 128G] [1 dram 128G] [2 cxl 64G] [3 cxl 64G]
 *   vm homed on node 1: | 64M@200:2 | 192M@0:1 |  budget 64M: demote 192M, promote 64M to node 1
 * With node 2 at its minimum free ratio the demotions go to node 3; both full: none, and the
 * promotions that needed their room do not happen either.
 */
static void test_four_nodes(void) {
        _cleanup_free_ char *root = xasprintf("%s/sysfs-4node", test_data);

        for (unsigned full = 0; full < 3; full++) {
                _cleanup_(plan_freep) Plan *p = NULL;
                Topology *t = NULL;
                World w;
                WVm *vm;

                check_int(topology_load(root, NULL, &t), 0);
                check_int(t->n_nodes, 4);
                check_int(t->nodes[1].n_demotion_targets, 2);
                check_int(t->nodes[1].demotion_targets[0], 2);
                world_from_topology(&w, t);
                /* the DRAM node is nearly full too, so promotions need the demotions' room */
                w.other_pages[1] = (t->nodes[1].total_bytes >> 12) - DIV_ROUND_UP((t->nodes[1].total_bytes >> 12) * 5, 100) - PG(192);
                /* full: free = 10 % exactly (node 2 also holds the VM's 64M) */
                for (unsigned k = 0; k < full; k++)
                        w.other_pages[2 + k] = (t->nodes[2 + k].total_bytes >> 12) - DIV_ROUND_UP((t->nodes[2 + k].total_bytes >> 12) * 10, 100) -
                                               (k == 0 ? PG(64) : 0);
                vm = world_add_vm(&w, PG(256));
                vm_fill(vm, (const Seg[]) { S(PG(64), 200, 2), S(PG(192), 0, 1) }, 2);
                vm_pass(vm);
                world_refresh_free(&w);
                vm->in.home_node = 1;
                set_budget(vm, 64);
                p = world_plan(&w);
                for (size_t k = 0; k < p->n_moves; k++) {
                        const PlanMove *m = &p->moves[k];

                        if (m->direction == PLAN_DEMOTE) {
                                check_int(m->from_node, 1);
                                check_int(m->to_node, full == 0 ? 2 : 3);
                        } else
                                check_int(m->to_node, 1);
                }
                check_u64(sum_moves(p, PLAN_DEMOTE, -1), full < 2 ? PG(192) : 0);
                check_u64(sum_moves(p, PLAN_PROMOTE, -1), full < 2 ? PG(64) : 0);
                if (full == 2)
                        check(strstr(p->vms[0].reason, "not promoted: no room"));
                world_done(&w);
        }
}

/*
 * Weights under oversubscription. [0 dram 1G, others use 512M] [1 cxl 4G]
 *   a (weight 300): | 1G@200:1 |   b (weight 100): | 1G@200:1 |   both budget 1G
 * The VMs may hold 1024 - 512 - 51.2 = 460.8M: a 345.6M, b 115.2M. Then a asks only 100M: b gets
 * the rest. Then a is pinned (256M): served first, b the rest.
 */
static void test_weights(void) {
        static const TNode nodes[] = {
                { .id = 0, .tier = NODE_TIER_DRAM, .total_mib = 1024, .other_mib = 512, .targets = { 1 }, .n_targets = 1 },
                { .id = 1, .tier = NODE_TIER_CXL, .total_mib = 4096 },
        };
        uint64_t room = PG(512) - DIV_ROUND_UP(PG(1024) * 5, 100);

        for (unsigned variant = 0; variant < 3; variant++) {
                _cleanup_(plan_freep) Plan *p = NULL;
                World w;
                WVm *a, *b;
                uint64_t ta, tb;

                world_init(&w, nodes, 2);
                a = world_add_vm(&w, PG(variant == 2 ? 256 : 1024));
                vm_fill(a, (const Seg[]) { S(a->pages, 200, 1) }, 1);
                vm_pass(a);
                b = world_add_vm(&w, PG(1024));
                vm_fill(b, (const Seg[]) { S(PG(1024), 200, 1) }, 1);
                vm_pass(b);
                world_refresh_free(&w);
                a->in.policy.weight = 300;
                if (variant == 1)
                        set_budget(a, 100);
                if (variant == 2)
                        a->in.policy.kind = PLAN_POLICY_PIN;
                p = world_plan(&w);
                ta = p->vms[0].dram_target_bytes >> 12;
                tb = p->vms[1].dram_target_bytes >> 12;
                check_u64(ta + tb, room);
                if (variant == 0) {
                        check(ta >= 3 * tb - 3 && ta <= 3 * tb + 3);
                        check(strstr(p->vms[1].reason, "shared by weight 100"));
                } else if (variant == 1)
                        check_u64(ta, PG(100));
                else
                        check_u64(ta, PG(256));
                check_u64(sum_moves(p, PLAN_PROMOTE, 0), ta);
                check_u64(sum_moves(p, PLAN_PROMOTE, 1), tb);
                world_done(&w);
        }
}

/*
 * The cycle's budget: never exceeded, demotions first, shared by weight on need.
 * [0 dram 1G] [1 cxl 1G]
 *   vm: | 256M@0:0 | 256M@200:1 |  budget 256M: 256M to swap → needs 512M of moves
 */
static void test_cycle_budget(void) {
        static const uint64_t budgets[] = { 0, 4095, 4096, UINT64_C(1) << 20, (UINT64_C(64) << 20) + 100, UINT64_C(256) << 20,
                                            UINT64_C(1) << 30 };

        for (size_t i = 0; i < ELEMENTSOF(budgets); i++) {
                _cleanup_(plan_freep) Plan *p = NULL;
                World w;
                uint64_t moved;

                world_init(&w, TWO_NODES, 2);
                (void) one_vm(&w, (const Seg[]) { S(PG(256), 0, 0), S(PG(256), 200, 1) }, 2);
                set_budget(&w.vm[0], 256);
                w.limits.budget_bytes = budgets[i];
                p = world_plan(&w);
                moved = sum_moves(p, PLAN_PROMOTE, -1) + sum_moves(p, PLAN_DEMOTE, -1);
                check_u64(moved, MIN(budgets[i] >> 12 & ~UINT64_C(1), PG(512)));
                check_u64(sum_moves(p, PLAN_PROMOTE, -1), sum_moves(p, PLAN_DEMOTE, -1));
                if (p->n_moves > 0)
                        check_int(p->moves[0].direction, PLAN_DEMOTE);
                world_done(&w);
        }
}

/*
 * 2 MiB units: a THP-backed VM moves whole THPs only, with the heat of its hottest granule.
 * [0 dram 1G] [1 cxl 1G]
 *   vm: | 64M@200:1 THP | 64M@0:1 THP |  one granule per THP at 250 in the first 4 MiB
 */
static void test_thp_units(void) {
        static const struct {
                uint64_t budget_bytes, promote_pages;
        } cases[] = {
                { UINT64_C(1) << 20, 0 },
                { (UINT64_C(3) << 20), 512 },
                { (UINT64_C(4) << 20), 1024 },
                { UINT64_C(1) << 30, PG(64) },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(plan_freep) Plan *p = NULL;
                World w;
                WVm *vm;

                world_init(&w, TWO_NODES, 2);
                vm = world_add_vm(&w, PG(128));
                vm_fill(vm, (const Seg[]) { SH(PG(64), 200, 1), SH(PG(64), 0, 1) }, 2);
                set_heat(vm, 7, 1, 250);
                set_heat(vm, 512 + 300, 1, 250);
                vm_pass(vm);
                world_refresh_free(&w);
                set_budget(vm, 512);
                w.limits.budget_bytes = cases[i].budget_bytes;
                p = world_plan(&w);
                check_u64(sum_moves(p, PLAN_PROMOTE, -1), cases[i].promote_pages);
                for (size_t k = 0; k < p->n_moves; k++)
                        check(p->moves[k].huge);
                if (p->n_moves > 0)
                        check_int(p->moves[0].heat, 250);
                world_done(&w);
        }
}

/*
 * pin_dram and never_migrate. [0 dram 1G] [1 cxl 1G]
 *   pinned:   | 128M@0:1 |          → all of it promoted, cold or not
 *   pinned:   | 900M@10:0 | 600M@0:1 | on a 1G node → does not fit, and its DRAM pages stay
 *   never:    | 512M@0:0 |  + b: | 512M@200:1 | budget 512M → a keeps its DRAM, b gets the rest
 */
static void test_pin_never(void) {
        {
                _cleanup_(plan_freep) Plan *p = NULL;
                World w;

                world_init(&w, TWO_NODES, 2);
                (void) one_vm(&w, (const Seg[]) { S(PG(128), 0, 1) }, 1);
                w.vm[0].in.policy.kind = PLAN_POLICY_PIN;
                p = world_plan(&w);
                check_u64(sum_moves(p, PLAN_PROMOTE, -1), PG(128));
                check_int(p->vms[0].hot_min_heat, 0);
                world_done(&w);
        }
        {
                static const TNode nodes[] = {
                        { .id = 0, .tier = NODE_TIER_DRAM, .total_mib = 1024, .targets = { 1 }, .n_targets = 1 },
                        { .id = 1, .tier = NODE_TIER_CXL, .total_mib = 2048 },
                };
                _cleanup_(plan_freep) Plan *p = NULL;
                World w;

                world_init(&w, nodes, 2);
                (void) one_vm(&w, (const Seg[]) { S(PG(900), 10, 0), S(PG(600), 0, 1) }, 2);
                w.vm[0].in.policy.kind = PLAN_POLICY_PIN;
                p = world_plan(&w);
                check_u64(sum_moves(p, PLAN_DEMOTE, -1), 0);
                check_u64(sum_moves(p, PLAN_PROMOTE, -1), PG(1024) - DIV_ROUND_UP(PG(1024) * 5, 100) - PG(900));
                check(strstr(p->vms[0].reason, "does not fit"));
                world_done(&w);
        }
        {
                _cleanup_(plan_freep) Plan *p = NULL;
                World w;
                WVm *a, *b;

                world_init(&w, TWO_NODES, 2);
                a = world_add_vm(&w, PG(512));
                vm_fill(a, (const Seg[]) { S(PG(512), 0, 0) }, 1);
                vm_pass(a);
                b = world_add_vm(&w, PG(512));
                vm_fill(b, (const Seg[]) { S(PG(512), 200, 1) }, 1);
                vm_pass(b);
                world_refresh_free(&w);
                a->in.policy.kind = PLAN_POLICY_NEVER;
                a->in.policy.dram_budget_bytes = 0;
                p = world_plan(&w);
                check_u64(sum_moves(p, PLAN_DEMOTE, 0) + sum_moves(p, PLAN_PROMOTE, 0), 0);
                check_u64(p->vms[0].dram_target_bytes, UINT64_C(512) << 20);
                check_u64(sum_moves(p, PLAN_PROMOTE, 1), PG(512) - DIV_ROUND_UP(PG(1024) * 5, 100));
                check(strstr(p->vms[0].reason, "stay where they are"));
                world_done(&w);
        }
}

/*
 * No home node: nothing is promoted, a VM above its budget still shrinks. [0 dram 1G] [1 cxl 1G]
 *   vm: | 128M@200:1 | 128M@0:0 |  budget 64M, home -1 (or 1, a CXL node)
 */
static void test_no_home(void) {
        for (int home = -1; home <= 1; home += 2) {
                _cleanup_(plan_freep) Plan *p = NULL;
                World w;

                world_init(&w, TWO_NODES, 2);
                (void) one_vm(&w, (const Seg[]) { S(PG(128), 200, 1), S(PG(128), 0, 0) }, 2);
                set_budget(&w.vm[0], 64);
                w.vm[0].in.home_node = home;
                p = world_plan(&w);
                check_u64(sum_moves(p, PLAN_PROMOTE, -1), 0);
                check_u64(sum_moves(p, PLAN_DEMOTE, -1), PG(64));
                check_u64(p->vms[0].dram_target_bytes, UINT64_C(64) << 20);
                check(strstr(p->vms[0].reason, home < 0 ? "no home DRAM node" : "home node is no DRAM node"));
                world_done(&w);
        }
}

/*
 * Frozen and warming-up VMs: no moves, their DRAM counts. [0 dram 1G] [1 cxl 1G]
 *   a (frozen, or 1 cycle of heat): | 600M@0:0 |   b: | 256M@200:1 | budget 256M
 *   → b may hold 1024 - 51.2 - 600 = 372.8M: gets 256M; a moves nothing
 * and with a at 900M: b gets 1024 - 51.2 - 900 = 72.8M.
 */
static void test_frozen(void) {
        for (unsigned variant = 0; variant < 4; variant++) {
                _cleanup_(plan_freep) Plan *p = NULL;
                uint64_t a_mib = variant & 1 ? 900 : 600;
                World w;
                WVm *a, *b;

                world_init(&w, TWO_NODES, 2);
                a = world_add_vm_ranges(&w, (const uint64_t[]) { PG(a_mib) }, (const uint64_t[]) { 0 }, 1, variant < 2 ? 5 : 1);
                vm_fill(a, (const Seg[]) { S(PG(a_mib), 0, 0) }, 1);
                vm_pass(a);
                set_budget(a, 16);
                a->in.frozen = variant < 2;
                b = world_add_vm(&w, PG(256));
                vm_fill(b, (const Seg[]) { S(PG(256), 200, 1) }, 1);
                vm_pass(b);
                world_refresh_free(&w);
                set_budget(b, 256);
                p = world_plan(&w);
                check_u64(sum_moves(p, PLAN_PROMOTE, 0) + sum_moves(p, PLAN_DEMOTE, 0), 0);
                check_u64(p->vms[0].dram_target_bytes, PG(a_mib) << 12);
                check(strstr(p->vms[0].reason, variant < 2 ? "frozen" : "heat of 1 cycle"));
                check_u64(sum_moves(p, PLAN_PROMOTE, 1), MIN(PG(256), PG(1024) - DIV_ROUND_UP(PG(1024) * 5, 100) - PG(a_mib)));
                world_done(&w);
        }
}

/*
 * Many VMs share the cycle's budget. [0 dram 8G] [1 cxl 16G]
 *   (a) 20 VMs | 64M@200:1 |, budget 320M → 16M each;
 *   (b) one VM needing 512M and 9 needing 8M, budget 128M → 8M each for the small ones, 56M;
 *   (c) 100 THP VMs | 16M@200:1 THP |, budget 64M (32 THPs): every VM gets a THP within 4 rounds.
 */
static void test_many_vms(void) {
        static const TNode nodes[] = {
                { .id = 0, .tier = NODE_TIER_DRAM, .total_mib = 8192, .targets = { 1 }, .n_targets = 1 },
                { .id = 1, .tier = NODE_TIER_CXL, .total_mib = 16384 },
        };

        {
                _cleanup_(plan_freep) Plan *p = NULL;
                World w;

                world_init(&w, nodes, 2);
                for (unsigned v = 0; v < 20; v++) {
                        WVm *vm = world_add_vm(&w, PG(64));

                        vm_fill(vm, (const Seg[]) { S(PG(64), 200, 1) }, 1);
                        vm_pass(vm);
                }
                world_refresh_free(&w);
                w.limits.budget_bytes = UINT64_C(320) << 20;
                p = world_plan(&w);
                for (unsigned v = 0; v < 20; v++)
                        check_u64(sum_moves(p, PLAN_PROMOTE, (int) v), PG(16));
                world_done(&w);
        }
        {
                _cleanup_(plan_freep) Plan *p = NULL;
                World w;

                world_init(&w, nodes, 2);
                for (unsigned v = 0; v < 10; v++) {
                        uint64_t mib = v == 0 ? 512 : 8;
                        WVm *vm = world_add_vm(&w, PG(mib));

                        vm_fill(vm, (const Seg[]) { S(PG(mib), 200, 1) }, 1);
                        vm_pass(vm);
                }
                world_refresh_free(&w);
                w.limits.budget_bytes = UINT64_C(128) << 20;
                p = world_plan(&w);
                check_u64(sum_moves(p, PLAN_PROMOTE, 0), PG(128 - 72));
                for (unsigned v = 1; v < 10; v++)
                        check_u64(sum_moves(p, PLAN_PROMOTE, (int) v), PG(8));
                check(strstr(p->vms[0].reason, "budget share 56 MiB of this cycle's 128 MiB"));
                world_done(&w);
        }
        {
                uint64_t got[100] = {};
                World w;

                world_init(&w, nodes, 2);
                for (unsigned v = 0; v < 100; v++) {
                        WVm *vm = world_add_vm(&w, PG(16));

                        vm_fill(vm, (const Seg[]) { SH(PG(16), 200, 1) }, 1);
                        vm_pass(vm);
                }
                world_refresh_free(&w);
                w.limits.budget_bytes = UINT64_C(64) << 20;
                for (unsigned round = 0; round < 4; round++) {
                        _cleanup_(plan_freep) Plan *p = world_plan(&w);

                        check_u64(sum_moves(p, PLAN_PROMOTE, -1), PG(64));
                        for (unsigned v = 0; v < 100; v++)
                                got[v] += sum_moves(p, PLAN_PROMOTE, (int) v);
                        w.limits.round++;
                }
                for (unsigned v = 0; v < 100; v++)
                        if (got[v] < 512)
                                fprintf(stderr, "vm %u got %" PRIu64 "\n", v, got[v]);
                for (unsigned v = 0; v < 100; v++)
                        check(got[v] >= 512);
                world_done(&w);
        }
}

int main(void) {
        test_data = getenv("VTISM_TEST_DATA");
        if (!test_data) {
                fprintf(stderr, "VTISM_TEST_DATA not set (run with meson test)\n");
                return 77;
        }
        test_budget_fill();
        test_thresholds();
        test_hysteresis();
        test_dram_watermark();
        test_cxl_min_free();
        test_four_nodes();
        test_weights();
        test_cycle_budget();
        test_thp_units();
        test_pin_never();
        test_no_home();
        test_frozen();
        test_many_vms();
        printf("test-plan: OK\n");
        return 0;
}
