/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * plan_compute() against plan_compute_reference() (src/core/plan-reference.h) on the same input:
 * the same moves in the same order, the same queries, the same per-VM results and reasons. On a
 * difference it prints the first one (which move or VM, both values) and exits 1.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/plan-reference.h"
#include "check.h"
#include "vtism/plan.h"

/* What the caller is planning, for the message (may stay NULL). */
static char plan_compare_case[128];

static void plan_compare_fail(const char *what, size_t i, unsigned long long got, unsigned long long want) {
        if (plan_compare_case[0])
                fprintf(stderr, "%s: ", plan_compare_case);
        fprintf(stderr, "plan_compute() differs from plan_compute_reference(): %s [%zu] is %llu, the reference's %llu\n", what, i,
                got, want);
        exit(EXIT_FAILURE);
}

#define PLAN_COMPARE(what, i, a, b)                                                              \
        do {                                                                                     \
                if ((a) != (b))                                                                  \
                        plan_compare_fail(what, i, (unsigned long long) (a), (unsigned long long) (b)); \
        } while (0)

static void plan_compare(const Plan *p, const Plan *r) {
        PLAN_COMPARE("n_moves", 0, p->n_moves, r->n_moves);
        for (size_t i = 0; i < p->n_moves; i++) {
                const PlanMove *a = &p->moves[i], *b = &r->moves[i];

                PLAN_COMPARE("move.vm", i, a->vm, b->vm);
                PLAN_COMPARE("move.direction", i, a->direction, b->direction);
                PLAN_COMPARE("move.hva", i, a->hva, b->hva);
                PLAN_COMPARE("move.n_pages", i, a->n_pages, b->n_pages);
                PLAN_COMPARE("move.from_node", i, a->from_node, b->from_node);
                PLAN_COMPARE("move.to_node", i, a->to_node, b->to_node);
                PLAN_COMPARE("move.heat", i, a->heat, b->heat);
                PLAN_COMPARE("move.huge", i, a->huge, b->huge);
                PLAN_COMPARE("move.needs_room", i, a->needs_room, b->needs_room);
        }
        PLAN_COMPARE("n_queries", 0, p->n_queries, r->n_queries);
        for (size_t i = 0; i < p->n_queries; i++) {
                PLAN_COMPARE("query.vm", i, p->queries[i].vm, r->queries[i].vm);
                PLAN_COMPARE("query.hva", i, p->queries[i].hva, r->queries[i].hva);
                PLAN_COMPARE("query.n_pages", i, p->queries[i].n_pages, r->queries[i].n_pages);
        }
        PLAN_COMPARE("n_vms", 0, p->n_vms, r->n_vms);
        for (size_t v = 0; v < p->n_vms; v++) {
                const PlanVmResult *a = &p->vms[v], *b = &r->vms[v];

                PLAN_COMPARE("vm.ram_bytes", v, a->ram_bytes, b->ram_bytes);
                PLAN_COMPARE("vm.dram_bytes", v, a->dram_bytes, b->dram_bytes);
                PLAN_COMPARE("vm.cxl_bytes", v, a->cxl_bytes, b->cxl_bytes);
                PLAN_COMPARE("vm.unknown_bytes", v, a->unknown_bytes, b->unknown_bytes);
                PLAN_COMPARE("vm.dram_target_bytes", v, a->dram_target_bytes, b->dram_target_bytes);
                PLAN_COMPARE("vm.promote_bytes", v, a->promote_bytes, b->promote_bytes);
                PLAN_COMPARE("vm.demote_bytes", v, a->demote_bytes, b->demote_bytes);
                PLAN_COMPARE("vm.query_bytes", v, a->query_bytes, b->query_bytes);
                PLAN_COMPARE("vm.hot_min_heat", v, a->hot_min_heat, b->hot_min_heat);
                PLAN_COMPARE("vm.cold_max_heat", v, a->cold_max_heat, b->cold_max_heat);
                if (strcmp(a->reason ?: "", b->reason ?: "") != 0) {
                        fprintf(stderr, "plan_compute() differs from plan_compute_reference(): vm [%zu] reason\n  %s\n  %s\n", v,
                                a->reason ?: "(null)", b->reason ?: "(null)");
                        exit(EXIT_FAILURE);
                }
        }
        PLAN_COMPARE("promote_bytes", 0, p->promote_bytes, r->promote_bytes);
        PLAN_COMPARE("demote_bytes", 0, p->demote_bytes, r->demote_bytes);
        PLAN_COMPARE("query_pages", 0, p->query_pages, r->query_pages);
        PLAN_COMPARE("budget_bytes", 0, p->budget_bytes, r->budget_bytes);
}

/* Plan with both and compare; returns plan_compute()'s result (the caller frees it). */
static inline int plan_compute_checked(const Topology *t, const PlanLimits *limits, const PlanVm *vms, size_t n_vms, Plan **ret) {
        Plan *p = NULL, *r = NULL;
        int e = plan_compute(t, limits, vms, n_vms, &p), er = plan_compute_reference(t, limits, vms, n_vms, &r);

        check_int(e, er);
        if (e >= 0) {
                plan_compare(p, r);
                plan_free(r);
                *ret = p;
        }
        return e;
}
