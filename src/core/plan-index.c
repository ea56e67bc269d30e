/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>

#include "vtism/plan-index.h"
#include "vtism/macro.h"

int plan_index_by_vm(const Plan *plan, size_t n_vms, size_t **ret_order, size_t **ret_first) {
        size_t *first, *order;

        if (!plan || !ret_order || !ret_first)
                return -EINVAL;

        /* first[v + 2] counts VM v's moves; summed, first[v + 1] is where VM v starts; placing
         * each move advances it, so that afterwards first[v + 1] is where VM v ends. */
        first = xcalloc(n_vms + 2, sizeof(size_t));
        order = xcalloc(MAX(plan->n_moves, (size_t) 1), sizeof(size_t));
        for (size_t k = 0; k < plan->n_moves; k++)
                if (plan->moves[k].vm < n_vms)
                        first[plan->moves[k].vm + 2]++;
        for (size_t v = 2; v < n_vms + 2; v++)
                first[v] += first[v - 1];
        for (size_t k = 0; k < plan->n_moves; k++)
                if (plan->moves[k].vm < n_vms)
                        order[first[plan->moves[k].vm + 1]++] = k;
        *ret_order = order;
        *ret_first = first;
        return 0;
}
