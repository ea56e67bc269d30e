/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vtism/heatmap.h"
#include "vtism/macro.h"
#include "vtism/topology.h"

/*
 * The placement planner: pure (no I/O, no logging), deterministic.
 *
 *     topology + limits + all VMs at once (heat, placement, home node, policy)  ->  Plan
 *
 * A Plan is an ordered list of moves, to be executed in that order by the migrator (the only
 * owner of move_pages(2)), plus per VM its DRAM target, thresholds and the reason in words.
 *
 * CONTRACT between the planner and the migrator (both sides rely on it; keep it true):
 *   - moves[] is the execution order. Executing a prefix of it never takes a DRAM node below its
 *     free watermark nor a CXL node below its minimum free ratio (demotions that make room come
 *     before the promotions that need it).
 *   - The sum of n_pages * 4 KiB over all moves is <= limits.budget_bytes.
 *   - A move with huge = true covers exactly one 2 MiB-aligned, 2 MiB unit (n_pages = 512) that
 *     is mapped by a transparent huge page: the migrator passes one address of it to
 *     move_pages(2) (the whole folio moves) and never splits it.
 *   - from_node >= 0: the planner knows every page of the move is on that node.
 *     from_node == PLAN_NODE_ANY: the planner does not know where each page is; the migrator
 *     queries them first and moves only the pages that are not already on a node of to_node's
 *     tier (a "query-first" move). Its n_pages still counts in full against the budget.
 *   - vm indexes the PlanVm array given to plan_compute().
 *
 * The rest of this comment (the model with numbers, how placement is known, memory and cost per
 * page) is written by the planner's implementation.
 */

#define PLAN_NODE_ANY (-1)

typedef enum PlanDirection {
        PLAN_PROMOTE, /* CXL -> the VM's home DRAM node */
        PLAN_DEMOTE,  /* DRAM -> the nearest CXL node that keeps its minimum free ratio */
        _PLAN_DIRECTION_MAX,
        _PLAN_DIRECTION_INVALID = -22,
} PlanDirection;

const char *plan_direction_to_string(PlanDirection d);

/* What the VM's policy asks for, resolved to bytes (the planner does not read the config). */
typedef enum PlanPolicyKind {
        PLAN_POLICY_BUDGET, /* a DRAM budget: hottest pages on DRAM up to it */
        PLAN_POLICY_PIN,    /* all of the VM on DRAM, never demoted */
        PLAN_POLICY_NEVER,  /* no moves at all; its DRAM use is counted as it is */
        _PLAN_POLICY_KIND_MAX,
        _PLAN_POLICY_KIND_INVALID = -22,
} PlanPolicyKind;

const char *plan_policy_kind_to_string(PlanPolicyKind k);

typedef struct PlanPolicy {
        PlanPolicyKind kind;
        uint64_t dram_budget_bytes; /* PLAN_POLICY_BUDGET: at most this much on DRAM (<= RAM) */
        unsigned weight;            /* share of contended DRAM, relative to other VMs (>= 1) */
        const char *origin;         /* for reasons: "/etc/vtism.conf:12" or "default"; may be NULL */
} PlanPolicy;

typedef struct PlanVm {
        const char *id;             /* for reasons only */
        const HeatMap *heat;        /* heat per granule and placement (see heatmap.h) */
        int home_node;              /* DRAM node id to promote to; -1: none known (no promotions) */
        PlanPolicy policy;
        bool frozen;                /* no moves for it this cycle (paused, migrating, untracked),
                                     * but its DRAM use counts */
} PlanVm;

typedef struct PlanLimits {
        uint64_t budget_bytes;             /* bytes that may move this cycle (rate x interval) */
        unsigned dram_min_free_percent;    /* keep this % of every DRAM node free */
        unsigned demotion_min_free_ratio;  /* % of every CXL node that must stay free */
} PlanLimits;

typedef struct PlanMove {
        uint32_t vm;                /* index into the PlanVm array */
        PlanDirection direction;
        uint64_t hva;               /* 4 KiB aligned (2 MiB aligned when huge) */
        uint64_t n_pages;           /* consecutive 4 KiB pages from hva */
        int from_node;              /* >= 0, or PLAN_NODE_ANY (query first) */
        int to_node;
        uint8_t heat;               /* the unit's heat (max over its granules) */
        bool huge;                  /* one THP: move as a whole, never split */
} PlanMove;

typedef struct PlanVmResult {
        uint64_t ram_bytes;
        uint64_t dram_bytes;        /* on DRAM nodes before this plan (known placement) */
        uint64_t cxl_bytes;         /* on CXL nodes before this plan */
        uint64_t dram_target_bytes; /* what it should have on DRAM */
        uint64_t promote_bytes;     /* planned this cycle */
        uint64_t demote_bytes;
        unsigned hot_min_heat;      /* heat >= this belongs on DRAM (256: nothing) */
        unsigned cold_max_heat;     /* heat <= this may go to CXL */
        char *reason;               /* one or two sentences, e.g. "budget 256 MiB (/etc/vtism.conf:12)
                                     * ...": what it wants, what it gets and why */
} PlanVmResult;

typedef struct Plan {
        PlanMove *moves;
        size_t n_moves;
        PlanVmResult *vms;          /* one per PlanVm, same order */
        size_t n_vms;
        uint64_t budget_bytes;
        uint64_t promote_bytes;
        uint64_t demote_bytes;
} Plan;

/*
 * Plan one cycle for all VMs at once. -EINVAL for bad limits or a VM without a heat map;
 * out of memory is fatal (xmalloc).
 */
int plan_compute(const Topology *t, const PlanLimits *limits, const PlanVm *vms, size_t n_vms, Plan **ret);
Plan *plan_free(Plan *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Plan *, plan_free);
