/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A simulated host: the real heat map and planner, an ideal migrator. Model in sim-world.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim-world.h"
#include "vtism/topology.h"
#include "vtism/util.h"

#define PAGE_SHIFT 12
#define BLOCK_PAGES 512u
#define HVA_TOP UINT64_C(0x7f0000000000)
#define HVA_STRIDE (UINT64_C(1) << 36)

typedef struct WVm {
        SimVmSpec spec;
        HeatMap *heat;
        uint64_t hva;
        uint8_t *on_dram;
        uint64_t dram_pages;
        uint64_t target_pages;
        uint64_t moved_pages;
        PlanPlacement *placement;
        size_t n_placement;
} WVm;

struct SimWorld {
        SimHostSpec host;
        Topology *t;
        WVm *vms;
        size_t n_vms;
        PlanVm *in;
        Plan *last;
        SimWorldStats stats;
};

static Topology *sim_topology(const SimHostSpec *h) {
        Topology *t = xcalloc(1, sizeof(Topology));

        t->n_nodes = 2;
        t->nodes = xcalloc(2, sizeof(TopologyNode));
        t->distance = xcalloc(4, 1);
        memcpy(t->distance, (const uint8_t[]) { 10, 20, 20, 10 }, 4);
        t->nodes[0] = (TopologyNode) { .id = SIM_NODE_DRAM, .has_memory = true, .tier = NODE_TIER_DRAM, .memory_tier = -1,
                                       .total_bytes = h->dram_pages << PAGE_SHIFT };
        t->nodes[0].demotion_targets = xcalloc(1, sizeof(int));
        t->nodes[0].demotion_targets[0] = SIM_NODE_CXL;
        t->nodes[0].n_demotion_targets = 1;
        t->nodes[1] = (TopologyNode) { .id = SIM_NODE_CXL, .has_memory = true, .tier = NODE_TIER_CXL, .memory_tier = -1,
                                       .total_bytes = h->cxl_pages << PAGE_SHIFT };
        return t;
}

static void free_placement(WVm *vm) {
        for (size_t i = 0; i < vm->n_placement; i++)
                free((int *) vm->placement[i].status);
        free(vm->placement);
        vm->placement = NULL;
        vm->n_placement = 0;
}

int sim_world_new(const SimHostSpec *host, const SimVmSpec *vms, size_t n_vms, SimWorld **ret) {
        _cleanup_(sim_world_freep) SimWorld *w = NULL;
        uint64_t total = 0;
        int r;

        if (!host || !vms || n_vms == 0 || host->dram_other_pages > host->dram_pages)
                return -EINVAL;
        for (size_t v = 0; v < n_vms; v++) {
                const SimVmSpec *s = &vms[v];

                if (s->pages == 0 || s->pages > (UINT64_C(1) << 31) || (s->thp && s->pages % BLOCK_PAGES) ||
                    s->dram_budget_pages > s->pages || s->weight == 0)
                        return -EINVAL;
                total += s->pages;
        }
        if (total > host->dram_pages - host->dram_other_pages + host->cxl_pages)
                return -EINVAL;

        w = xcalloc(1, sizeof(SimWorld));
        w->host = *host;
        w->t = sim_topology(host);
        w->vms = xcalloc(n_vms, sizeof(WVm));
        w->in = xcalloc(n_vms, sizeof(PlanVm));
        w->n_vms = n_vms;
        for (size_t v = 0; v < n_vms; v++) {
                WVm *vm = &w->vms[v];
                HeatRangeSpec spec = { .gpa = 0, .hva = HVA_TOP - (uint64_t) v * HVA_STRIDE, .len_bytes = vms[v].pages << PAGE_SHIFT };

                vm->spec = vms[v];
                vm->hva = spec.hva;
                vm->target_pages = vm->spec.dram_budget_pages;
                vm->on_dram = xcalloc(vm->spec.pages, 1);
                r = heatmap_new(&spec, 1, &host->heat, &vm->heat);
                if (r < 0)
                        return r;
                if (vm->spec.thp) {
                        r = heatmap_mark_huge(vm->heat, spec.hva, spec.len_bytes, true);
                        if (r < 0)
                                return r;
                }
        }
        *ret = TAKE_PTR(w);
        return 0;
}

SimWorld *sim_world_free(SimWorld *w) {
        if (!w)
                return NULL;
        for (size_t v = 0; v < w->n_vms; v++) {
                heatmap_free(w->vms[v].heat);
                free(w->vms[v].on_dram);
                free_placement(&w->vms[v]);
        }
        free(w->vms);
        free(w->in);
        plan_free(w->last);
        topology_free(w->t);
        free(w);
        return NULL;
}

static uint64_t vm_dram_total(const SimWorld *w) {
        uint64_t n = 0;

        for (size_t v = 0; v < w->n_vms; v++)
                n += w->vms[v].dram_pages;
        return n;
}

static uint64_t vm_cxl_total(const SimWorld *w) {
        uint64_t n = 0;

        for (size_t v = 0; v < w->n_vms; v++)
                n += w->vms[v].spec.pages - w->vms[v].dram_pages;
        return n;
}

int sim_world_place(SimWorld *w, size_t vm_index, const uint8_t *on_dram) {
        WVm *vm;
        _cleanup_free_ int *status = NULL;
        uint64_t dram = 0, old_dram;
        int r;

        if (vm_index >= w->n_vms)
                return -EINVAL;
        if (w->stats.cycles > 0)
                return -EBUSY;
        vm = &w->vms[vm_index];
        for (uint64_t p = 0; p < vm->spec.pages; p++)
                dram += !!on_dram[p];
        old_dram = vm->dram_pages;
        if (vm_dram_total(w) - old_dram + dram > w->host.dram_pages - w->host.dram_other_pages ||
            vm_cxl_total(w) - (vm->spec.pages - old_dram) + (vm->spec.pages - dram) > w->host.cxl_pages)
                return -ENOSPC;
        status = xcalloc(vm->spec.pages, sizeof(int));
        for (uint64_t p = 0; p < vm->spec.pages; p++) {
                vm->on_dram[p] = !!on_dram[p];
                status[p] = vm->on_dram[p] ? SIM_NODE_DRAM : SIM_NODE_CXL;
        }
        vm->dram_pages = dram;
        r = heatmap_residency_update(vm->heat, vm->hva, status, vm->spec.pages);
        return r < 0 ? r : 0;
}

/* 1. */
static int sample(WVm *vm, const uint32_t *counts) {
        uint64_t n = vm->spec.pages, unit = vm->spec.thp ? BLOCK_PAGES : 1, run = 0, run_len = 0;
        int r;

        heatmap_cycle_begin(vm->heat);
        for (uint64_t u = 0; u < n; u += unit) {
                bool accessed = false;

                for (uint64_t p = u; p < u + unit && !accessed; p++)
                        accessed = counts[p] > 0;
                if (accessed) {
                        if (run_len == 0)
                                run = u;
                        run_len += unit;
                        continue;
                }
                if (run_len > 0) {
                        r = heatmap_sample_hva(vm->heat, vm->hva + (run << PAGE_SHIFT), run_len << PAGE_SHIFT);
                        if (r < 0)
                                return r;
                        run_len = 0;
                }
        }
        if (run_len > 0) {
                r = heatmap_sample_hva(vm->heat, vm->hva + (run << PAGE_SHIFT), run_len << PAGE_SHIFT);
                if (r < 0)
                        return r;
        }
        return heatmap_cycle_end(vm->heat);
}

/* 2. */
static void refresh_free(SimWorld *w) {
        uint64_t dram = w->host.dram_other_pages + vm_dram_total(w), cxl = vm_cxl_total(w);

        w->t->nodes[0].free_bytes = (w->host.dram_pages - MIN(dram, w->host.dram_pages)) << PAGE_SHIFT;
        w->t->nodes[1].free_bytes = (w->host.cxl_pages - MIN(cxl, w->host.cxl_pages)) << PAGE_SHIFT;
}

static int report(WVm *vm, uint64_t first, uint64_t n, int from, int to) {
        if (n == 0)
                return 0;
        return heatmap_residency_moved(vm->heat, vm->hva + (first << PAGE_SHIFT), n, from, to);
}

/* 4. one move, page by page, reported in runs of equal (from, to) */
static int execute(SimWorld *w, const PlanMove *m) {
        WVm *vm;
        uint64_t first, run;
        int run_from = -2, r;

        if (m->vm >= w->n_vms)
                return -EINVAL;
        vm = &w->vms[m->vm];
        if (m->hva < vm->hva || ((m->hva - vm->hva) >> PAGE_SHIFT) + m->n_pages > vm->spec.pages ||
            (m->to_node != SIM_NODE_DRAM && m->to_node != SIM_NODE_CXL))
                return -EINVAL;
        first = (m->hva - vm->hva) >> PAGE_SHIFT;
        if (m->huge && (m->n_pages != BLOCK_PAGES || first % BLOCK_PAGES || !vm->spec.thp))
                w->stats.violations++;
        w->stats.moves++;
        run = first;
        for (uint64_t p = first; p <= first + m->n_pages; p++) {
                int from = p < first + m->n_pages ? (vm->on_dram[p] ? SIM_NODE_DRAM : SIM_NODE_CXL) : -2;

                if (p < first + m->n_pages && m->from_node >= 0 && from != m->from_node)
                        w->stats.violations++;
                if (from != run_from) {
                        if (run_from >= 0) {
                                r = report(vm, run, p - run, run_from, m->to_node);
                                if (r < 0)
                                        return r;
                        }
                        run = p;
                        run_from = from;
                }
                if (from < 0)
                        break;
                if (from == m->to_node) {
                        w->stats.in_place_pages++;
                        continue;
                }
                vm->on_dram[p] = m->to_node == SIM_NODE_DRAM;
                vm->moved_pages++;
                if (m->to_node == SIM_NODE_DRAM) {
                        vm->dram_pages++;
                        w->stats.promoted_pages++;
                } else {
                        vm->dram_pages--;
                        w->stats.demoted_pages++;
                }
        }
        return 0;
}

static int cmp_query(const void *a, const void *b) {
        const PlanQuery *x = a, *y = b;

        if (x->vm != y->vm)
                return x->vm < y->vm ? -1 : 1;
        return (x->hva > y->hva) - (x->hva < y->hva);
}

/* 4. the queries, kept for the next plan */
static int query(SimWorld *w, const Plan *p) {
        _cleanup_free_ PlanQuery *q = NULL;
        int r;

        for (size_t v = 0; v < w->n_vms; v++)
                free_placement(&w->vms[v]);
        if (p->n_queries == 0)
                return 0;
        q = xcalloc(p->n_queries, sizeof(PlanQuery));
        memcpy(q, p->queries, p->n_queries * sizeof(PlanQuery));
        qsort(q, p->n_queries, sizeof(PlanQuery), cmp_query);
        for (size_t i = 0; i < p->n_queries; i++) {
                WVm *vm;
                int *status;
                uint64_t first;

                if (q[i].vm >= w->n_vms)
                        return -EINVAL;
                vm = &w->vms[q[i].vm];
                if (q[i].hva < vm->hva || ((q[i].hva - vm->hva) >> PAGE_SHIFT) + q[i].n_pages > vm->spec.pages)
                        return -EINVAL;
                first = (q[i].hva - vm->hva) >> PAGE_SHIFT;
                status = xcalloc(q[i].n_pages, sizeof(int));
                for (uint64_t k = 0; k < q[i].n_pages; k++)
                        status[k] = vm->on_dram[first + k] ? SIM_NODE_DRAM : SIM_NODE_CXL;
                r = heatmap_residency_update(vm->heat, q[i].hva, status, q[i].n_pages);
                if (r < 0) {
                        free(status);
                        return r;
                }
                vm->placement = xreallocarray(vm->placement, vm->n_placement + 1, sizeof(PlanPlacement));
                vm->placement[vm->n_placement++] = (PlanPlacement) { .hva = q[i].hva, .n_pages = q[i].n_pages, .status = status };
                w->stats.queried_pages += q[i].n_pages;
        }
        return 0;
}

int sim_world_cycle(SimWorld *w, const uint32_t *const *counts) {
        _cleanup_free_ uint64_t *before = xcalloc(w->n_vms, sizeof(uint64_t));
        Plan *p = NULL;
        uint64_t planned = 0;
        int r;

        for (size_t v = 0; v < w->n_vms; v++) {
                r = sample(&w->vms[v], counts[v]);
                if (r < 0)
                        return r;
        }
        refresh_free(w);
        for (size_t v = 0; v < w->n_vms; v++) {
                WVm *vm = &w->vms[v];

                w->in[v] = (PlanVm) {
                        .id = vm->spec.id ?: "vm",
                        .heat = vm->heat,
                        .home_node = SIM_NODE_DRAM,
                        .policy = { .kind = PLAN_POLICY_BUDGET, .dram_budget_bytes = vm->spec.dram_budget_pages << PAGE_SHIFT,
                                    .weight = vm->spec.weight, .origin = "simulation" },
                        .placement = vm->placement,
                        .n_placement = vm->n_placement,
                };
                before[v] = vm->dram_pages;
        }
        r = plan_compute(w->t, &w->host.limits, w->in, w->n_vms, &p);
        if (r < 0)
                return r;
        plan_free(w->last);
        w->last = p;

        for (size_t k = 0; k < p->n_moves; k++) {
                planned += p->moves[k].n_pages;
                r = execute(w, &p->moves[k]);
                if (r < 0)
                        return r;
        }
        if ((planned << PAGE_SHIFT) > w->host.limits.budget_bytes)
                w->stats.violations++;
        w->stats.planned_pages += planned;
        for (size_t v = 0; v < w->n_vms; v++) {
                WVm *vm = &w->vms[v];

                vm->target_pages = p->vms[v].dram_target_bytes >> PAGE_SHIFT;
                if (vm->dram_pages > vm->target_pages && vm->dram_pages > before[v])
                        w->stats.violations++;
        }
        if (vm_dram_total(w) + w->host.dram_other_pages > w->host.dram_pages || vm_cxl_total(w) > w->host.cxl_pages)
                w->stats.violations++;
        r = query(w, p);
        if (r < 0)
                return r;
        w->host.limits.round++;
        w->stats.cycles++;
        return 0;
}

size_t sim_world_n_vms(const SimWorld *w) {
        return w->n_vms;
}

const uint8_t *sim_world_on_dram(const SimWorld *w, size_t vm) {
        return vm < w->n_vms ? w->vms[vm].on_dram : NULL;
}

uint64_t sim_world_dram_pages(const SimWorld *w, size_t vm) {
        return vm < w->n_vms ? w->vms[vm].dram_pages : 0;
}

uint64_t sim_world_moved_pages(const SimWorld *w, size_t vm) {
        return vm < w->n_vms ? w->vms[vm].moved_pages : 0;
}

uint64_t sim_world_target_pages(const SimWorld *w, size_t vm) {
        return vm < w->n_vms ? w->vms[vm].target_pages : 0;
}

const HeatMap *sim_world_heat(const SimWorld *w, size_t vm) {
        return vm < w->n_vms ? w->vms[vm].heat : NULL;
}

const Plan *sim_world_last_plan(const SimWorld *w) {
        return w->last;
}

const SimWorldStats *sim_world_stats(const SimWorld *w) {
        return &w->stats;
}

int sim_world_dram_targets(const SimHostSpec *host, const SimVmSpec *vms, size_t n_vms, uint64_t *ret_pages) {
        _cleanup_(sim_world_freep) SimWorld *w = NULL;
        _cleanup_free_ const uint32_t **counts = NULL;
        uint64_t max_pages = 0;
        int r;

        r = sim_world_new(host, vms, n_vms, &w);
        if (r < 0)
                return r;
        for (size_t v = 0; v < n_vms; v++)
                max_pages = MAX(max_pages, vms[v].pages);
        _cleanup_free_ uint32_t *zero = xcalloc(max_pages, sizeof(uint32_t));
        _cleanup_free_ uint8_t *on_dram = xcalloc(max_pages, 1);
        uint64_t cxl_left = host->cxl_pages;

        /* anywhere that fits (CXL first): with every VM movable, the targets do not depend on it */
        counts = xcalloc(n_vms, sizeof(uint32_t *));
        for (size_t v = 0; v < n_vms; v++) {
                uint64_t on_cxl = MIN(cxl_left, vms[v].pages);

                counts[v] = zero;
                memset(on_dram, 0, on_cxl);
                memset(on_dram + on_cxl, 1, vms[v].pages - on_cxl);
                cxl_left -= on_cxl;
                r = sim_world_place(w, v, on_dram);
                if (r < 0)
                        return r;
        }
        /* no moves: only the targets are wanted */
        w->host.limits.budget_bytes = 0;
        for (unsigned c = 0; c <= PLAN_WARMUP_CYCLES; c++) {
                r = sim_world_cycle(w, counts);
                if (r < 0)
                        return r;
        }
        for (size_t v = 0; v < n_vms; v++)
                ret_pages[v] = w->vms[v].target_pages;
        return 0;
}
