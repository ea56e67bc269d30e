/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vtism/macro.h"

/*
 * An oracle that knows the future: the reference the placement benchmarks hold the planner
 * against. Pure, deterministic.
 *
 * World: VMs of 4 KiB pages, each page on DRAM or on CXL, moved in units of unit_pages pages
 * (1, or 512 for THP-backed RAM: a 2 MiB unit moves whole, as the planner's do). Time runs in
 * cycles; placement changes only between cycles (as the planner's moves do), and the accesses of
 * a cycle are served where their pages are during it.
 *
 * Before cycle c, sim_oracle_step() sees the access counts of cycles c .. c + H - 1 (the horizon
 * H, fed with sim_oracle_push()) and may move at most budget_pages pages (promotions and
 * demotions both count, as in the planner's cycle budget), keeping every VM at or below its DRAM
 * cap (the planner's DRAM target for the VM: the same DRAM budget). It values each unit by
 *     value = accesses to the unit in the horizon   (ties: the sooner next use wins, Belady's rule)
 * and, in this order:
 *   (a) a VM above its cap demotes its lowest-value DRAM units down to the cap;
 *   (b) then it repeats, across all VMs, the move that gains the most DRAM accesses in the
 *       horizon per page moved: filling a VM's free cap with its highest-value CXL unit (gain =
 *       its value, for one unit of pages) or swapping that unit with the VM's lowest-value DRAM
 *       unit (gain = the difference, for two units), while a move gains anything and fits the
 *       budget.
 * So it maximises, greedily cycle by cycle, the DRAM accesses of the next H cycles under the same
 * DRAM caps and migration budget as the planner. With H = 1 and a budget of at least twice the
 * caps it puts each cycle's most accessed pages on DRAM for it: the exact optimum of every
 * cycle, an upper bound for any policy that places pages between cycles. With a smaller budget
 * greedy is not a proof of optimality (a short horizon spends budget on noise, a long one reacts
 * late to shifts), so benchmarks run several horizons and report the best (bench/policy-sim:
 * H = 1, 4, 16). Pages with no access in the horizon are never promoted.
 *
 * Cost per step: O(pages * H) to value the units, a radix sort of the units by value, O(moves *
 * VMs) for (b). Memory: H cycles of counts (4 bytes per page each) + 9 bytes per page.
 */

#define SIM_ORACLE_HORIZON_MAX 64u

typedef struct SimOracle SimOracle;

typedef struct SimOracleStats {
        uint64_t promoted_pages, demoted_pages;   /* over all steps */
} SimOracleStats;

/*
 * vm_pages[v] pages per VM (multiples of unit_pages for unit_pages > 1), unit_pages 1 or 512
 * per VM, horizon 1..SIM_ORACLE_HORIZON_MAX. Every page starts on CXL. -EINVAL otherwise.
 */
int sim_oracle_new(const uint64_t *vm_pages, const unsigned *unit_pages, size_t n_vms, unsigned horizon, SimOracle **ret);
SimOracle *sim_oracle_free(SimOracle *o);
DEFINE_TRIVIAL_CLEANUP_FUNC(SimOracle *, sim_oracle_free);

/* The oracle's placement: on_dram[p] = 1 for pages on DRAM. Writable before the first step. */
uint8_t *sim_oracle_on_dram(SimOracle *o, size_t vm);
const SimOracleStats *sim_oracle_stats(const SimOracle *o);
/* Pages one VM had moved (promoted + demoted) over all steps. */
uint64_t sim_oracle_moved_pages(const SimOracle *o, size_t vm);
unsigned sim_oracle_horizon(const SimOracle *o);

/*
 * The counts of the next future cycle of every VM (counts[v][page]); copied. At most H cycles
 * are held: -ENOSPC when full (step, then pop, first).
 */
int sim_oracle_push(SimOracle *o, const uint32_t *const *counts);
/* Cycles held (the current one and those after it). */
unsigned sim_oracle_held(const SimOracle *o);
/*
 * Place for the current cycle (the oldest held): caps[v] = DRAM pages VM v may hold. Returns the
 * pages moved in this step; -ENODATA with nothing held, -EINVAL for a cap above a VM's pages.
 */
int64_t sim_oracle_step(SimOracle *o, const uint64_t *caps, uint64_t budget_pages);
/* The current cycle's accesses served from DRAM, and all of them, for one VM. */
void sim_oracle_hits(const SimOracle *o, size_t vm, uint64_t *ret_dram, uint64_t *ret_total);
/* Drop the current cycle: the next held one becomes current. */
int sim_oracle_pop(SimOracle *o);
