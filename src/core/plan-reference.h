/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The planner's reference (private to src/core/plan.c and its tests): plan_compute() with both
 * passes done the plain way, every block unit by unit through block_units(): pass 1 counts every
 * unit at its heat level, where plan_compute() counts by level only what a selection can depend
 * on (plan.c, finish_scan()); pass 2 (emit_vm(), tally_block()) takes the selected units from
 * those units, where plan_compute() reads NODE and MIXED blocks 16 pages a step
 * (emit_block_fast()). The selection, ordering, simulation and queries are the same code, so a
 * change to the rules changes both alike: test-plan-fast checks that the two give the same plan,
 * move by move, query by query, and the same results and reasons, on random heat maps and
 * placements. Slow: ~3 ns per 4 KiB page.
 */

#include <stddef.h>
#include <stdint.h>

#include "vtism/plan.h"

/* Selections plan_compute() had to redo with every unit counted (plan.c, selection_exact()):
 * never, by the argument in finish_scan(); test-plan-fast checks it stays 0. */
extern uint64_t plan_exact_rescans;

int plan_compute_reference(const Topology *t, const PlanLimits *limits, const PlanVm *vms, size_t n_vms, Plan **ret);
