/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * plan_index_by_vm(): a plan's moves grouped by VM in one pass must list, for every VM, exactly
 * the moves a scan of the whole list per VM finds (the manager's old tier_groups() loop), in the
 * same order. Table cases (interleaved VMs, a VM without moves between others, moves of VM
 * indices out of range, no moves, no VMs) and 200 random plans checked against that scan.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "vtism/plan-index.h"

/* Checks the index against the scan per VM. */
static void check_against_scan(const Plan *p, size_t n_vms) {
        size_t *order = NULL, *first = NULL;

        check_int(plan_index_by_vm(p, n_vms, &order, &first), 0);
        check(order && first);
        check_u64(first[0], 0);
        for (size_t v = 0; v < n_vms; v++) {
                size_t j = first[v];

                check(first[v] <= first[v + 1]);
                for (size_t k = 0; k < p->n_moves; k++) {
                        if (p->moves[k].vm != v)
                                continue;
                        check(j < first[v + 1]);
                        check_u64(order[j], k);
                        j++;
                }
                check_u64(j, first[v + 1]);
        }
        free(order);
        free(first);
}

static Plan plan_of(PlanMove *moves, size_t n) {
        return (Plan) { .moves = moves, .n_moves = n };
}

int main(void) {
        static const struct {
                const char *name;
                uint32_t vms[12];
                size_t n_moves, n_vms;
                size_t first[6];        /* expected first[0..n_vms] */
        } cases[] = {
                { "no moves", { 0 }, 0, 3, { 0, 0, 0, 0 } },
                { "no VMs", { 0 }, 0, 0, { 0 } },
                { "one VM", { 0, 0, 0 }, 3, 1, { 0, 3 } },
                { "interleaved", { 0, 2, 1, 0, 2, 2, 1, 0 }, 8, 3, { 0, 3, 5, 8 } },
                { "a VM without moves between", { 2, 0, 2, 0 }, 4, 3, { 0, 2, 2, 4 } },
                { "descending", { 4, 3, 2, 1, 0 }, 5, 5, { 0, 1, 2, 3, 4, 5 } },
                { "out of range left out", { 1, 7, 0, 2, 1 }, 5, 2, { 0, 1, 3 } },
        };
        size_t *order = NULL, *first = NULL;

        for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
                PlanMove moves[12] = {};
                Plan p;

                for (size_t k = 0; k < cases[c].n_moves; k++)
                        moves[k] = (PlanMove) { .vm = cases[c].vms[k], .hva = k << 12, .n_pages = 1 };
                p = plan_of(moves, cases[c].n_moves);
                check_int(plan_index_by_vm(&p, cases[c].n_vms, &order, &first), 0);
                for (size_t v = 0; v <= cases[c].n_vms; v++)
                        if (first[v] != cases[c].first[v]) {
                                fprintf(stderr, "%s: first[%zu] = %zu, want %zu\n", cases[c].name, v, first[v], cases[c].first[v]);
                                return EXIT_FAILURE;
                        }
                free(order);
                free(first);
                check_against_scan(&p, cases[c].n_vms);
                printf("ok %s\n", cases[c].name);
        }

        /* "interleaved": each VM's moves in plan order */
        {
                PlanMove moves[8];
                static const uint32_t vms[8] = { 0, 2, 1, 0, 2, 2, 1, 0 };
                static const size_t want[8] = { 0, 3, 7, 2, 6, 1, 4, 5 };
                Plan p;

                for (size_t k = 0; k < 8; k++)
                        moves[k] = (PlanMove) { .vm = vms[k] };
                p = plan_of(moves, 8);
                check_int(plan_index_by_vm(&p, 3, &order, &first), 0);
                for (size_t j = 0; j < 8; j++)
                        check_u64(order[j], want[j]);
                free(order);
                free(first);
        }

        check_int(plan_index_by_vm(NULL, 1, &order, &first), -EINVAL);

        /* random plans against the scan */
        srand(10);
        for (unsigned round = 0; round < 200; round++) {
                size_t n_vms = (size_t) (rand() % 40), n = (size_t) (rand() % 500);
                PlanMove *moves = calloc(n ? n : 1, sizeof(PlanMove));
                Plan p;

                check(moves);
                for (size_t k = 0; k < n; k++)
                        moves[k] = (PlanMove) { .vm = (uint32_t) (rand() % (int) (n_vms + 2)), .hva = k << 12 };
                p = plan_of(moves, n);
                check_against_scan(&p, n_vms);
                free(moves);
        }
        printf("ok 200 random plans match the scan per VM\n");
        return EXIT_SUCCESS;
}
