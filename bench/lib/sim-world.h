/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vtism/heatmap.h"
#include "vtism/macro.h"
#include "vtism/plan.h"

/*
 * A simulated tiered host running the REAL heat map (src/core/heatmap.c) and planner
 * (src/core/plan.c), with an ideal migrator: the policy simulator's world.
 *
 * Host: node 0 DRAM, node 1 CXL (node 0's only demotion target), sizes and foreign use given.
 * VMs: one RAM range each of `pages` 4 KiB pages (every page present), home node 0, a DRAM budget
 * and a weight; THP-backed ones have every 2 MiB block marked huge (pages a multiple of 512).
 *
 * One cycle, sim_world_cycle(counts):
 *   1. sampling: every page with counts[v][p] > 0 was accessed; the heat map gets one
 *      heatmap_sample_hva() per accessed run (a THP-backed VM: per accessed 2 MiB block, as the
 *      idle_pages tracker reports a PMD), between heatmap_cycle_begin() and _end();
 *   2. the node sizes' free memory from the truth (as topology_refresh_meminfo() would read it);
 *   3. plan_compute() for all VMs at once, with the statuses queried after the last plan;
 *   4. the ideal migrator executes the plan as plan.h's contract says the real one must: the
 *      moves in order, every page moving where the move says; per run of equal (from, to) it
 *      reports heatmap_residency_moved(from, to), and the pages of a query-first move found
 *      already on to_node as (to, to); then it queries the plan's queries[] (in address order
 *      per VM), feeds them to heatmap_residency_update() and keeps them as the next plan's
 *      PlanVm.placement. Nothing else moves pages (no reclaim, no NUMA balancing).
 * The contract is checked on the way (a move whose from_node is not where its pages are, a plan
 * over budget, a VM above its target after the moves): sim_world_stats() counts violations.
 *
 * Before the first cycle, sim_world_place() sets the initial placement and gives the heat maps a
 * complete residency pass (what the migrator's first pass would find).
 */

#define SIM_NODE_DRAM 0
#define SIM_NODE_CXL 1

typedef struct SimVmSpec {
        const char *id;
        uint64_t pages;
        uint64_t dram_budget_pages;
        unsigned weight;               /* >= 1 */
        bool thp;
} SimVmSpec;

typedef struct SimHostSpec {
        uint64_t dram_pages, cxl_pages;      /* node sizes */
        uint64_t dram_other_pages;           /* DRAM used by something else than the VMs */
        HeatParams heat;                     /* for every VM */
        PlanLimits limits;                   /* budget_bytes per cycle, watermarks, query_pages; round is ours */
} SimHostSpec;

typedef struct SimWorldStats {
        uint64_t cycles;
        uint64_t promoted_pages, demoted_pages;   /* pages that really moved */
        uint64_t in_place_pages;                  /* of query-first moves, found on to_node */
        uint64_t planned_pages;                   /* sum of the plans' n_pages */
        uint64_t queried_pages;
        uint64_t moves;
        uint64_t violations;                      /* contract breaches seen (should stay 0) */
} SimWorldStats;

typedef struct SimWorld SimWorld;

/* -EINVAL for a bad spec (no VMs, a VM of 0 pages or over 2^31, THP pages not a multiple of 512,
 * a budget above its RAM, weight 0, VMs not fitting the nodes). */
int sim_world_new(const SimHostSpec *host, const SimVmSpec *vms, size_t n_vms, SimWorld **ret);
SimWorld *sim_world_free(SimWorld *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(SimWorld *, sim_world_free);

/* Initial placement of one VM (on_dram[p] = 1: DRAM) and its residency pass; before cycle 1.
 * -EBUSY after the first cycle, -ENOSPC if a node would overflow. */
int sim_world_place(SimWorld *w, size_t vm, const uint8_t *on_dram);
/* One cycle (see above); counts[v] has one entry per page of VM v. */
int sim_world_cycle(SimWorld *w, const uint32_t *const *counts);

size_t sim_world_n_vms(const SimWorld *w);
const uint8_t *sim_world_on_dram(const SimWorld *w, size_t vm);
uint64_t sim_world_dram_pages(const SimWorld *w, size_t vm);
/* Pages of the VM that really moved (promoted + demoted), all cycles. */
uint64_t sim_world_moved_pages(const SimWorld *w, size_t vm);
/* The VM's DRAM target in the last plan (its budget before the first). */
uint64_t sim_world_target_pages(const SimWorld *w, size_t vm);
const HeatMap *sim_world_heat(const SimWorld *w, size_t vm);
/* The last plan (NULL before the first cycle): reasons, thresholds. */
const Plan *sim_world_last_plan(const SimWorld *w);
const SimWorldStats *sim_world_stats(const SimWorld *w);

/*
 * The DRAM target the planner gives each VM of this host in steady state (its budget, or its
 * share by weight when DRAM is oversubscribed), in pages: what an oracle may hold per VM. Found
 * by planning a throwaway world past warm-up, without accesses or moves (with every VM movable,
 * targets depend on policies, weights and room only, not on heat or placement).
 */
int sim_world_dram_targets(const SimHostSpec *host, const SimVmSpec *vms, size_t n_vms, uint64_t *ret_pages);
