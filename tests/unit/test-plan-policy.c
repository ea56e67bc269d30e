/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The planner's policy table (plan.h, "Policies"): a kind is one entry and one function. This
 * test adds one, "half" (half of the VM's RAM on DRAM), exactly as plan.h says, by compiling
 * plan.c with it, and checks that the planner then serves it like any other; and the contention
 * order of the built-in kinds: pinned first, SLO VMs' dram_min next, then by weight.
 */
#include <stddef.h>
#include <stdint.h>

struct PolicyAsk;
struct PlanPolicy;
static void half_ask(const struct PlanPolicy *p, uint64_t ram_pages, uint64_t dram_pages, struct PolicyAsk *ret);
static void half_label(const struct PlanPolicy *p, char *buf, size_t size);

#define PLAN_POLICY_KIND_EXTRA PLAN_POLICY_HALF,
#define PLAN_POLICY_TABLE_EXTRA \
        [PLAN_POLICY_HALF] = { "half", half_ask, half_label, POLICY_CLASS_SHARED, .movable = true, .gives_up = true },

#include "../../src/core/plan.c"

#include "check.h"

/* The new kind's one function (and its label). */
static void half_ask(const PlanPolicy *p, uint64_t ram_pages, uint64_t dram_pages, PolicyAsk *ret) {
        *ret = (PolicyAsk) { .ask_pages = ram_pages / 2 };
}

static void half_label(const PlanPolicy *p, char *buf, size_t size) {
        snprintf(buf, size, "Half of its RAM");
}

#define PG(mib) ((uint64_t) (mib) * 256)

/* [0 dram dram_mib] [1 cxl 4 GiB], free as given */
static Topology *topo(uint64_t dram_mib) {
        Topology *t = xcalloc(1, sizeof(Topology));

        t->n_nodes = 2;
        t->nodes = xcalloc(2, sizeof(TopologyNode));
        t->distance = xcalloc(4, 1);
        t->nodes[0] = (TopologyNode) { .id = 0, .tier = NODE_TIER_DRAM, .has_memory = true, .memory_tier = -1,
                                       .total_bytes = dram_mib << 20, .free_bytes = dram_mib << 20 };
        t->nodes[0].demotion_targets = xcalloc(1, sizeof(int));
        t->nodes[0].demotion_targets[0] = 1;
        t->nodes[0].n_demotion_targets = 1;
        t->nodes[1] = (TopologyNode) { .id = 1, .tier = NODE_TIER_CXL, .has_memory = true, .memory_tier = -1,
                                       .total_bytes = UINT64_C(4) << 30, .free_bytes = UINT64_C(4) << 30 };
        return t;
}

/* A VM of mib MiB, every page at heat 200, all on the CXL node (known), past warm-up. */
static HeatMap *vm_map(unsigned index, uint64_t mib, Topology *t) {
        HeatRangeSpec spec = { .gpa = 0, .hva = UINT64_C(0x7f0000000000) - ((uint64_t) index << 36), .len_bytes = mib << 20 };
        HeatMap *h = NULL;
        HeatRangeSpec got;
        const uint8_t *heat;
        size_t ng;
        int *st = xcalloc(PG(mib), sizeof(int));

        check_int(heatmap_new(&spec, 1, NULL, &h), 0);
        for (unsigned c = 0; c < PLAN_WARMUP_CYCLES; c++) {
                heatmap_cycle_begin(h);
                check_int(heatmap_cycle_end(h), 0);
        }
        check_int(heatmap_range(h, 0, &got, &heat, &ng), 0);
        memset((uint8_t *) heat, 200, ng);
        for (uint64_t i = 0; i < PG(mib); i++)
                st[i] = 1;
        check_int(heatmap_residency_update(h, spec.hva, st, PG(mib)), 0);
        free(st);
        t->nodes[1].free_bytes -= mib << 20;
        return h;
}

static Plan *plan(const Topology *t, PlanVm *vms, size_t n) {
        PlanLimits limits = { .budget_bytes = UINT64_C(1) << 40, .dram_min_free_percent = 0, .demotion_min_free_ratio = 0 };
        Plan *p = NULL;

        check_int(plan_compute(t, &limits, vms, n, &p), 0);
        return p;
}

static void test_added_kind(void) {
        _cleanup_(plan_freep) Plan *p = NULL;
        Topology *t = topo(1024);
        HeatMap *h = vm_map(0, 256, t);
        PlanVm vm = { .id = "a", .home_node = 0, .heat = h, .policy = { .kind = PLAN_POLICY_HALF, .weight = 100 } };

        check_str(plan_policy_kind_to_string(PLAN_POLICY_HALF), "half");
        check_int(plan_policy_kind_from_string("half"), PLAN_POLICY_HALF);
        check_int(plan_policy_kind_from_string("slo"), PLAN_POLICY_SLO);
        check_int(plan_policy_kind_from_string("nope"), _PLAN_POLICY_KIND_INVALID);
        p = plan(t, &vm, 1);
        check_u64(p->vms[0].dram_target_bytes, UINT64_C(128) << 20);
        check_u64(p->vms[0].promote_bytes, UINT64_C(128) << 20);
        check(strstr(p->vms[0].reason, "Half of its RAM (default)") == p->vms[0].reason);
        heatmap_free(h);
        topology_free(t);
}

/*
 * Contention on a 400 MiB DRAM node, every VM asking for more than that:
 *   an SLO VM (dram_min m) and a budget VM, equal weights: the SLO VM gets max(m, half);
 *   weights 3:1 for the budget VM, m = 150: 250 + 150 (plan.h's example);
 *   two SLO VMs whose minimums do not both fit: the minimums by weight;
 *   a pinned VM holding 100 MiB is served first, the SLO VM's minimum next.
 */
static void test_contention(void) {
        static const struct {
                const char *name;
                PlanPolicyKind kind[3];
                unsigned weight[3];
                uint64_t min_mib[3];
                uint64_t hold_mib[3];      /* already on DRAM */
                size_t n;
                uint64_t want_mib[3];
        } cases[] = {
                { "slo min 300 vs budget", { PLAN_POLICY_SLO, PLAN_POLICY_BUDGET }, { 100, 100 }, { 300, 0 }, { 0, 0 }, 2, { 300, 100 } },
                { "slo min 100 vs budget", { PLAN_POLICY_SLO, PLAN_POLICY_BUDGET }, { 100, 100 }, { 100, 0 }, { 0, 0 }, 2, { 200, 200 } },
                { "budget 3:1 vs slo min 150", { PLAN_POLICY_BUDGET, PLAN_POLICY_SLO }, { 300, 100 }, { 0, 150 }, { 0, 0 }, 2, { 250, 150 } },
                { "two slo, minimums 300 + 300", { PLAN_POLICY_SLO, PLAN_POLICY_SLO }, { 100, 100 }, { 300, 300 }, { 0, 0 }, 2, { 200, 200 } },
                { "two slo 3:1, minimums 300 + 300", { PLAN_POLICY_SLO, PLAN_POLICY_SLO }, { 300, 100 }, { 300, 300 }, { 0, 0 }, 2, { 300, 100 } },
                { "pin, slo min 250, budget", { PLAN_POLICY_PIN, PLAN_POLICY_SLO, PLAN_POLICY_BUDGET }, { 100, 100, 100 }, { 0, 250, 0 },
                  { 100, 0, 0 }, 3, { 100, 250, 50 } },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(plan_freep) Plan *p = NULL;
                Topology *t = topo(400);
                PlanVm vms[3];
                HeatMap *maps[3];
                uint64_t sum = 0;

                for (size_t v = 0; v < cases[i].n; v++) {
                        uint64_t mib = cases[i].kind[v] == PLAN_POLICY_PIN ? cases[i].hold_mib[v] : 1024;

                        maps[v] = vm_map((unsigned) v, mib, t);
                        vms[v] = (PlanVm) {
                                .id = "vm",
                                .home_node = 0,
                                .heat = maps[v],
                                .policy = { .kind = cases[i].kind[v], .weight = cases[i].weight[v],
                                            .dram_budget_bytes = UINT64_C(1) << 30, .dram_min_bytes = cases[i].min_mib[v] << 20,
                                            .cxl_access_max_bp = 500 },
                        };
                        if (cases[i].hold_mib[v] > 0) {
                                /* the pinned VM is on DRAM already */
                                int *st = xcalloc(PG(mib), sizeof(int));
                                HeatRangeSpec spec;
                                const uint8_t *heat;
                                size_t ng;

                                check_int(heatmap_range(maps[v], 0, &spec, &heat, &ng), 0);
                                check_int(heatmap_residency_update(maps[v], spec.hva, st, PG(mib)), 0);
                                free(st);
                                t->nodes[1].free_bytes += mib << 20;
                                t->nodes[0].free_bytes -= mib << 20;
                        }
                }
                p = plan(t, vms, cases[i].n);
                for (size_t v = 0; v < cases[i].n; v++) {
                        uint64_t got = p->vms[v].dram_target_bytes >> 20;

                        if (got + 1 < cases[i].want_mib[v] || got > cases[i].want_mib[v] + 1) {
                                fprintf(stderr, "%s: vm %zu target %" PRIu64 " MiB, expected %" PRIu64 "\n  %s\n", cases[i].name, v, got,
                                        cases[i].want_mib[v], p->vms[v].reason);
                                exit(EXIT_FAILURE);
                        }
                        sum += p->vms[v].dram_target_bytes;
                        if (cases[i].kind[v] == PLAN_POLICY_SLO)
                                check(strstr(p->vms[v].reason, "SLO at most 5.00 % of accesses from CXL"));
                }
                check(sum <= UINT64_C(400) << 20);
                for (size_t v = 0; v < cases[i].n; v++)
                        heatmap_free(maps[v]);
                topology_free(t);
        }
}

int main(void) {
        test_added_kind();
        test_contention();
        printf("test-plan-policy: OK\n");
        return 0;
}
