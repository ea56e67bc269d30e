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
 * owner of move_pages(2)), plus per VM its DRAM target, thresholds and the reason in words, plus
 * the 2 MiB blocks whose placement the planner wants queried for its next plan.
 *
 * CONTRACT between the planner and the migrator (both sides rely on it; keep it true):
 *   - moves[] is the execution order. Executing a prefix of it never takes a DRAM node below its
 *     free watermark nor a CXL node below its minimum free ratio (demotions that make room come
 *     before the promotions that need it, interleaved with them: see 5), nor a VM above its DRAM
 *     target as far as its placement is known (PlanVmResult.dram_bytes, with unknown_bytes
 *     counted as DRAM; pages faulted in since the last residency query count from the next one),
 *     as long as every move of the prefix did what it says. A promotion that fits only thanks to the room earlier demotions
 *     make on its to_node has needs_room set: if demotions from that node failed, the migrator
 *     skips as many bytes of such promotions into it (or all of them).
 *   - The sum of n_pages * 4 KiB over all moves is <= limits.budget_bytes.
 *   - A move with huge = true covers exactly one 2 MiB-aligned, 2 MiB unit (n_pages = 512) that
 *     is mapped by a transparent huge page: the migrator passes one address of it to
 *     move_pages(2) (the whole folio moves) and never splits it.
 *   - from_node >= 0: the planner knows every page of the move is on that node (from queries and
 *     reported moves: what the kernel moved or freed since is found elsewhere or gone; the
 *     migrator just moves what is there, and counts -ENOENT/-EFAULT as gone).
 *     from_node == PLAN_NODE_ANY: the planner does not know where each page is; the migrator
 *     queries them first and moves only the pages that are not already on to_node (a
 *     "query-first" move; a page on another DRAM node comes home too: a block whose hot pages
 *     sit on three nodes cannot be summarised, see 6). Its n_pages still counts in full against
 *     the budget. The planner makes only promotions query-first.
 *   - vm indexes the PlanVm array given to plan_compute().
 *   - After moving, the migrator tells the VM's heat map what happened, per run of pages:
 *     heatmap_residency_moved(h, hva, n, from, to) for pages that moved, and for the pages of a
 *     query-first move found already in place heatmap_residency_moved(h, hva, n, node, node);
 *     pages that failed are not reported. (This keeps the block placement below exact.)
 *   - queries[] are 2 MiB blocks (or the part of one inside a RAM range) whose pages the planner
 *     wants to know exactly. The migrator queries them (move_pages(2) with nodes = NULL) before
 *     this plan's moves (a round replaced before its end still delivers them), feeds each block
 *     to heatmap_residency_update(), keeps the statuses following what this plan's moves then
 *     moved (so they say where the pages are after them), and passes them as PlanVm.placement
 *     to the next plan_compute(), after which it frees them. Their pages sum
 *     to at most limits.query_pages.
 *
 * MODEL (numbers for the default heat model of heatmap.h: decay 12 %, +32 per accessed cycle,
 * cold_max 0).
 *
 * 1. Units. A VM's RAM is planned in units: a 2 MiB block marked huge (one THP; and every granule
 *    of a 2 MiB-granule range, i.e. hugetlbfs) is one unit of 512 pages with the heat of its
 *    hottest granule; every other 4 KiB page is a unit. A unit is known to be on a DRAM node or
 *    on a CXL node, known absent (never moved), or ambiguous (see 6).
 *
 * 2. DRAM targets. A VM asks for its dram_budget_bytes (budget), all of its RAM (pin), or nothing
 *    (never, frozen, warming up: they keep what they have and get no moves), or what its SLO
 *    controller wants (slo; at least its dram_min served first, see "Policies" below). On DRAM node n the
 *    VMs may hold
 *        room_n = free_n + (pages of all VMs on n) - dram_min_free_percent % of n's size
 *    (non-VM use of n stays as it is). What the VMs that cannot be moved hold on n, and what VMs
 *    homed elsewhere hold there, is taken first; the rest is shared by the VMs homed on n by
 *    water-filling: pinned VMs first (each gets at least what it holds: pinned pages are never
 *    demoted), then budget and SLO VMs: first each SLO VM's dram_min (by weight if even those do
 *    not fit), then all of them by weight, each  share = max(its minimum, min(ask, RAM, lambda *
 *    weight))  with lambda such that the shares fill the room: what one VM does not ask for goes
 *    to the others. Weights 3:1, room 400 MiB, both asking 1 GiB: 300 and 100 MiB; the first
 *    asking only 200 MiB: 200 + 200; the second an SLO VM with dram_min 150 MiB: 250 + 150.
 *    Target = share + what the VM holds on other DRAM nodes. A VM without a home DRAM node gets no
 *    share: target = min(ask, what it holds), so it can only shrink.
 *
 * 3. Which pages: thresholds and hysteresis. With margin M = PLAN_MARGIN_HEAT (48) and promotion
 *    floor F = cold_max + M + 1 (49), per VM and in this order:
 *      (a) above its target, a budget (or SLO) VM demotes its coldest DRAM units down to the target;
 *      (b) below it, the hottest CXL units with heat >= F are promoted into the room (pin: every
 *          unit, whatever its heat); the room counts pages of unknown place as on DRAM;
 *      (c) then (budget, SLO) the hottest CXL unit is swapped with the coldest DRAM unit while it is hotter by
 *          at least M (both with heat >= F on the CXL side), and, unless what this rule would
 *          trade is a mass, by the noise margin below too. Only units whose place is known
 *          take part: an ambiguous one (see 6) may be on DRAM already, and a DRAM page given up
 *          for it would be lost for nothing.
 *    So a page needs about two consecutive accesses (60) to earn spare DRAM, a page touched once
 *    (32) never does, and pages with the same access frequency never trade places: their heats
 *    stay within one access weight (32) of each other whatever their phase (every 2nd cycle:
 *    117..134; every 4th: 51..76; bursts on,on,off,off: 116..150), and M = 48 > 34. A stable heat
 *    map gives no moves when planned again after the first plan's moves: nothing is above target,
 *    nothing promotable is left in room, no CXL unit is hotter by M than a DRAM one.
 *    Edge noise. M is sized for deterministic patterns; randomly accessed pages are noisier. A
 *    page seen in a cycle with probability p has mean heat 32 p / 0.12 = 267 p and standard
 *    deviation sigma(p) = sqrt(32^2 p (1 - p) / (1 - 0.88^2)) = 67 sqrt(p (1 - p)) (33 at
 *    p = 0.4), and the swap pass compares extremes: the hottest of ~49,000 CXL pages and the
 *    coldest of ~12,000 DRAM pages of the same rate are each ~4 sigma from it, so on a Zipf
 *    workload 48 % of vtismd's moves after convergence were such swaps, buying nothing
 *    (bench/RESULTS.md, "edge churn"). No margin on one pair's heats can tell those from a hot
 *    set that moved: in cycle k after a shift the new set reads 267 (1 - 0.88^k), the old one
 *    255 x 0.88^k (cycle 7: 158 vs 104, the first gap >= M), while the noise's extremes differ
 *    by most of the scale. What does tell them apart is the volume: a moved hot set trades a
 *    mass of pages, the noise a thin tail. So: when what the M rule would trade (uncapped) is at
 *    least 1 / PLAN_SWAP_MASS_DIV (64) of the VM's DRAM target (256 pages for 64 MiB), the M
 *    rule alone applies, as before; below that a swap must also be hotter by
 *        z sqrt(2) sigma(p),  p = (heat_cxl + heat_dram) / 2 / 267,  z = PLAN_SWAP_EDGE_Z10 / 10 = 3
 *    (the difference of two heats of the rate their mean stands for: 48 + 3 x 47 = 189 near
 *    p = 1/2, so 255 against 0 swaps and 200 against 40 does not; one walk over the two
 *    histograms per VM and plan, O(256)). Measured (bench/policy-sim, 1 GiB, 25 % DRAM,
 *    moves in the second half of 160 cycles, before -> after): Zipf 0.9 235 -> 18 MiB, 0.6
 *    254 -> 28, 1.2 149 -> 1; DRAM hit ratio 0.801 -> 0.785, 0.526 -> 0.511, 0.957 -> 0.949
 *    (98 %, 97 %, 99 % of before; of the oracle's 0.858 -> 0.840, 0.717 -> 0.697, 0.957 ->
 *    0.949), the Zipf 0.9 convergence tail slower (95 % of its hot set by accesses after 125
 *    cycles instead of 32); the shifting traces unchanged or better (scattered 0.718, window
 *    0.339 -> 0.366; bench/RESULTS.md, "edge churn"). The price:
 *    a real change smaller than 1/64 of the target follows only once it stands out of the
 *    noise (a page at 255 against one at 0 still swaps); uniform heat (every page the edge) is
 *    a mass and still churns. test-plan's test_edge_noise draws the case.
 *    Reported thresholds: hot_min_heat = the lowest heat >= F such that all units at least that
 *    hot fit the target ("belongs on DRAM"; 256: nothing); cold_max_heat = hot_min_heat - 1 - M
 *    (0 at least), or the heat of the hottest unit (a) demotes if higher ("may go to CXL").
 *    Convergence on the lab case (768 MiB, a 128 MiB window accessed every cycle, the rest
 *    touched once at start, budget 256 MiB, cycle budget >= 256 MiB):
 *      all on CXL: the window reads 60 in cycle 2 and is promoted in that cycle's plan;
 *      all on DRAM: no plan before PLAN_WARMUP_CYCLES (2) cycles of heat (in cycle 1 every page
 *      reads 32: nothing tells them apart); cycle 2 demotes 512 MiB of pages at 28 (the window is
 *      at 60);
 *      the window moves: into spare room or over cold DRAM pages (<= 28) in cycle 2 of the new
 *      window, over the old window once it has cooled by M below the new one (old 255, 224, ...,
 *      102 vs new 32, 60, ..., 156): cycle 7 at the latest. Bytes moved: what has to move, once.
 *
 * 4. Where. Promotions go to the VM's home node. A demotion from DRAM node n goes to the first
 *    of n's demotion targets (nearest CXL node first) that the VM may use (PlanVm.allowed_nodes)
 *    and that keeps demotion_min_free_ratio % of its size free after it, counting what earlier
 *    moves of this plan put there; none can: dropped.
 *    Promotions are checked the same way against the home node's watermark and the VM's target.
 *
 * 5. Order and the cycle budget. The budget is shared by weight between the VMs that need moves
 *    (water-filling on what each needs: a VM needing little takes little, the rest goes to the
 *    others, and a huge VM cannot starve small ones); a VM whose moves come only in 2 MiB units
 *    gets its share in whole units, the leftovers going round in turn (round-robin from
 *    limits.round) so tiny shares still move a unit now and then. Within its share a VM spends
 *    on (a), then (b), then (c). Promotions go hottest first (known placement before query-first
 *    at equal heat), demotions coldest first, ties by VM, then address, and the two are
 *    interleaved: each promotion as soon as the room of the node and of the VM lets it in (the
 *    room there was first, then what the demotions before it made), and when the next one does
 *    not fit, the next chunk of demotions (limits.interleave_pages, default
 *    PLAN_INTERLEAVE_PAGES = 4096: 16 MiB; a THP whole), then promotions again; once every
 *    promotion is placed, the remaining demotions. A swap of 48 MiB is thus demote 16 MiB,
 *    promote 16 MiB, ... and not 48 MiB of demotions before the first promotion. Why: a plan is often cut short. vtismd
 *    submits a plan every cycle and a new plan replaces the running round (migrator.h,
 *    "Replacing"); under the lab's TCG a round moves 10-25 MiB per 5 s cycle, so with all
 *    demotions first the shifted window of bench/h2h-lab shift saw four rounds in a row demote
 *    11,527 pages and promote none (bench/RESULTS.md). Interleaved, a round cut anywhere has
 *    promoted what it demoted, less one chunk, and the next plan starts with promotions into the
 *    room that chunk made. Each promotion lands at the place where it first fits, never later than
 *    after all demotions, where the demotions-first order put it: the same moves as that order
 *    (the same totals, the same drops), only sooner. The price: move batches of at most a chunk
 *    where demotions and promotions alternate (a batch is one target node). Why 16 MiB: about
 *    the migrator's own batch natively (~4,000 pages, migrator.h), so natively the interleaving
 *    costs no extra call; in the TCG lab the migrator's batches are smaller than that anyway.
 *    With chunks of 4 MiB the first rounds of bench/h2h-lab shift with 2 s cycles at host load
 *    30 moved ~500 pages/s against ~1,300 with the old order's long batches (bench/RESULTS.md):
 *    every batch costs a round trip through the event loop, which the cycle's sampling keeps
 *    busy for much of each cycle there (the likely cause; not traced).
 *
 * 6. Placement knowledge, and why. The planner must know where a unit is to move it exactly and
 *    to not spend budget on pages already in place; the daemon has at most one byte per 4 KiB
 *    page (the heat byte) plus small overheads, so no node byte, not even a bit, per page. The
 *    heat map keeps per 2 MiB block NODE(n) / MIXED(n, ceiling) / ABSENT / UNKNOWN, whether a
 *    NODE block was all present, and a THP mark (heatmap.h, "Block placement"; 2 bytes per
 *    block where neighbours differ, 0.004 bytes per 4 KiB page, 8 bytes per 512 MiB where they
 *    agree). Known: a unit of a NODE block (a page never touched,
 *    heat 0, only if the block was all present: it may never have been faulted in); a page of a
 *    MIXED block hotter than the ceiling; any page PlanVm.placement gives. Everything else is
 *    ambiguous. The window residency counters (complete passes, adjusted by moves) say how much
 *    of the VM is on DRAM and on CXL: what no known unit accounts for is hidden among the
 *    ambiguous ones. Then:
 *      - ambiguous units hot enough to promote (heat >= F; a pinned VM's at any heat) are
 *        promoted query-first into room (b), never swapped (c), and no more of them than the
 *        VM's hidden CXL pages: a VM whose CXL pages are all known promotes nothing blindly;
 *      - demotions are never blind: while DRAM pages are hidden, the demotions of (a) take no
 *        known DRAM unit hotter than the coolest ambiguous one (it might be hotter than the
 *        hidden page); the blocks holding such ambiguous units become queries[], and the next
 *        plan demotes exactly from their statuses (most ambiguous cold pages are on CXL already:
 *        a query-first demotion would spend budget on them). Swaps (c) do not wait: each gains
 *        at least M whatever hides, and where a little hot noise is scattered over every block
 *        some DRAM page always hides, so waiting stalled a shifted hot set behind the cooling one
 *        (bench/policy-sim). The price: the known pages a swap gave up may be warmer than hidden
 *        ones that stay;
 *      - UNKNOWN blocks become queries[] (those holding promotable heat first), and so do blocks
 *        of which this plan promotes only part of the ambiguous candidates: moved and
 *        found-in-place pages teach the heat map where a block stands only all together.
 *    Steady state of a scattered 4 KiB hot set (blocks MIXED(dram, c), c = the heat of the
 *    warmest CXL page): every hot page is known on DRAM, nothing that matters is ambiguous:
 *    0 queries, 0 moves, 0 syscalls, 9-15 instructions per 4 KiB page of planning (bench). Why a
 *    ceiling and not a count or a hash of the hot set: it stays true by itself through the cycles
 *    (it follows only the pages at or below it, at one compare per accessed granule), and the
 *    pages it leaves ambiguous are the cool ones, which matter only while a VM gives DRAM back.
 *    When a hot set moves: pages turning hot on CXL lift the ceiling with them and are promoted
 *    query-first (the pages found in place are reported and lower the ceiling again, as one set
 *    with the moved ones); the DRAM pages to give up are found by queries of their blocks, at
 *    most limits.query_pages a cycle (16384 pages = 64 MiB of RAM, ~2.7 ms at ~165 ns a page in
 *    move_pages, 64 KiB of statuses kept until the next plan), and demoted exactly one cycle
 *    later. Hot pages spread over three nodes in one block (say home DRAM, another DRAM node and
 *    CXL) cannot be summarised: query-first moves bring such pages to to_node, after which their
 *    blocks hold two nodes again. A fresh VM is all UNKNOWN: the migrator's first residency pass
 *    should be complete before its first plan; until then its blocks get queries (a 768 MiB VM at
 *    65536 pages a cycle: known by cycle 3, converged by cycle 4 in test-plan's simulation).
 *
 * 7. Keeping 2 MiB blocks whole. A 2 MiB block all on one node is what can be one host-physical
 *    run, and what khugepaged can collapse into a huge page on that node; every block a plan
 *    leaves on two nodes is at least two runs and no huge page (vtismctl contiguity shows the
 *    cost). THP units move whole anyway (1). Among 4 KiB units the heat decides, except at each
 *    cut's own heat: when only `part` of the units at the last heat level a cut reaches are taken
 *    (the demotion cut of (a) and (c), the known promotion cut of (b) and (c)), which of those
 *    equals move is free, and the planner takes them so as to split the fewest whole blocks
 *    (blocks whose pages are all known on one node): first the ties of whole blocks whose other
 *    pages move anyway (the block moves whole; fewest ties first), then blocks made of ties only
 *    (whole, or not at all; a THP at that heat too), then blocks split already (the ties
 *    may rejoin them on one node), and only then, in address order, ties that split a whole
 *    block. Example, demoting 512 pages at heat 10 from | 1M@10 1M@200 | 2M@10 |: taken in
 *    address order they split both blocks; here the second block moves whole and the first
 *    stays whole. The heat of what moves, its amount and every rule above are the same either
 *    way; ambiguous (query-first) promotions keep address order.
 *
 * Errors: plan_compute() returns -EINVAL for a NULL topology or limits, a percentage above 100, a
 * margin_heat above 255, a swap_edge_z10 above 100 (but PLAN_SWAP_EDGE_OFF), a VM without a heat map, a weight of 0, an unknown policy kind, or
 * PlanVm.placement not sorted by hva / not inside guest RAM. A home node that is not a DRAM node with memory is not an error:
 * that VM has no home (see its reason). Out of memory is fatal (xmalloc).
 *
 * Cost (bench/plan-bench, one VM, 10 % hot): a pass over the heat bytes of every VM that may move,
 * 16 pages a step (SSE2): a summary per 2 MiB block (extremes, pages known on its node), and
 * histograms per heat level of the candidates only: pages at or above the promotion floor F (what
 * promotions and hot_min_heat read), and, once the targets are known, the known-DRAM pages a
 * selection can take (every one for a VM above its target, else those at most as hot as the
 * hottest known-CXL page less M: what a swap may give up), in the blocks holding such pages; the
 * rest is counted, not sorted by heat, and put where the walks stop (plan.c, finish_scan();
 * plan_compute_reference() counts everything and test-plan-fast compares the plans). 4.6-5.3
 * instructions per 4 KiB page steady (before: 9.8-14.8), THP-backed 1.4 (10). Then a second pass
 * over the blocks holding selected units only, which visits only the pages a cut may take
 * (SSE2 masks), a counting sort of the selected runs by heat, and the simulation of 4:
 * O(pages / 16 + candidates + selected 4 KiB units). Memory while planning: 6 KiB per VM
 * (histograms) + 16 bytes per 2 MiB block + 32 bytes per selected run + 16 bytes per block holding
 * units at a cut's own heat (7: one more pass over those blocks' heat bytes, only when a cut takes
 * part of a level), freed by the end of plan_compute(); the Plan keeps 40 bytes per (coalesced)
 * move and 24 per query.
 */

#define PLAN_NODE_ANY (-1)

/* Hysteresis margin: a CXL unit displaces a DRAM unit only if it is this much hotter; the
 * promotion floor is heat params' cold_max + PLAN_MARGIN_HEAT + 1. PlanLimits.margin_heat
 * overrides it (bench/policy-sim sweeps it; vtismd uses this one). */
#define PLAN_MARGIN_HEAT 48u
/* Swaps at the edge (model 3, "Edge noise"): when what the swap pass would trade by the margin M
 * alone is less than 1 / PLAN_SWAP_MASS_DIV of the VM's DRAM target, a swap must also beat the
 * sampling noise of its pair by PLAN_SWAP_EDGE_Z10 / 10 standard deviations. PlanLimits'
 * swap_edge_z10 and swap_mass_div override them (bench/policy-sim sweeps them; vtismd uses these). */
#define PLAN_SWAP_EDGE_Z10 30u
#define PLAN_SWAP_MASS_DIV 64u
#define PLAN_SWAP_EDGE_OFF 0xffffu  /* swap_edge_z10: no noise margin, the M rule alone */
/* Demotions between two promotions (4 KiB pages; 16 MiB, 8 THPs): a move batch of the migrator is
 * one VM and one target node, so this bounds the batches where demotions and promotions
 * alternate (model 5: ~the migrator's native batch; see there why not smaller). */
#define PLAN_INTERLEAVE_PAGES 4096u
/* No moves for a VM whose heat map has seen fewer cycles: the first cycle sees every page the
 * guest touched since it started. */
#define PLAN_WARMUP_CYCLES 2u

typedef enum PlanDirection {
        PLAN_PROMOTE, /* CXL -> the VM's home DRAM node */
        PLAN_DEMOTE,  /* DRAM -> the nearest CXL node that keeps its minimum free ratio */
        _PLAN_DIRECTION_MAX,
        _PLAN_DIRECTION_INVALID = -22,
} PlanDirection;

const char *plan_direction_to_string(PlanDirection d);

/*
 * Policies. What a VM's policy asks for, resolved to bytes (the planner does not read the config),
 * behind one table in plan.c: each kind is one entry (its name, how it shares contended DRAM,
 * whether it may give DRAM pages up) and one function (what it asks for, what it is guaranteed,
 * the words of its reason). Adding a kind: an enum value here, its entry and function there
 * (test-plan-policy adds one the same way, through PLAN_POLICY_KIND_EXTRA and
 * PLAN_POLICY_TABLE_EXTRA, to prove it takes nothing else).
 *
 * Contended DRAM (model 2) is shared in classes, in this order: pinned VMs (each keeps at least
 * what it holds), then every other movable VM by weight, after each of those was first given
 * its guaranteed minimum (slo: dram_min) by weight as far as the room goes. So under
 * oversubscription an SLO VM is served before budget VMs up to its dram_min, then by weight
 * like them.
 */
typedef enum PlanPolicyKind {
        PLAN_POLICY_BUDGET, /* a DRAM budget: hottest pages on DRAM up to it */
        PLAN_POLICY_PIN,    /* all of the VM on DRAM, never demoted */
        PLAN_POLICY_NEVER,  /* no moves at all; its DRAM use is counted as it is */
        PLAN_POLICY_SLO,    /* a service level: dram_budget_bytes is the controller's current DRAM
                             * target (slo.h), at least dram_min_bytes of it served first */
#ifdef PLAN_POLICY_KIND_EXTRA
        PLAN_POLICY_KIND_EXTRA
#endif
        _PLAN_POLICY_KIND_MAX,
        _PLAN_POLICY_KIND_INVALID = -22,
} PlanPolicyKind;

const char *plan_policy_kind_to_string(PlanPolicyKind k);
PlanPolicyKind plan_policy_kind_from_string(const char *s);

typedef struct PlanPolicy {
        PlanPolicyKind kind;
        uint64_t dram_budget_bytes; /* BUDGET: at most this much on DRAM (<= RAM); SLO: the DRAM
                                     * target its controller asks for this cycle */
        uint64_t dram_min_bytes;    /* SLO: served before budget VMs up to this (<= dram_budget_bytes) */
        unsigned cxl_access_max_bp; /* SLO: its cap, in basis points of accesses, for the reason */
        unsigned weight;            /* share of contended DRAM, relative to other VMs (>= 1) */
        const char *origin;         /* for reasons: "/etc/vtism.conf:12" or "default"; may be NULL */
} PlanPolicy;

/* The exact placement of some pages, as the migrator queried them for this plan (see queries). */
typedef struct PlanPlacement {
        uint64_t hva;               /* 4 KiB aligned */
        size_t n_pages;
        const int *status;          /* per page: node id, or -errno (not present) */
} PlanPlacement;

typedef struct PlanVm {
        const char *id;             /* for reasons only */
        const HeatMap *heat;        /* heat per granule and placement (see heatmap.h) */
        int home_node;              /* DRAM node id to promote to; -1: none known (no promotions) */
        PlanPolicy policy;
        bool frozen;                /* no moves for it this cycle (paused, migrating, untracked),
                                     * but its DRAM use counts */
        const char *frozen_why;     /* frozen: why, for its reason ("not sampled: ..."); NULL: "frozen" */
        /* The nodes its pages may be on (the QEMU process's cpuset.mems, /proc/PID/status
         * Mems_allowed_list; libvirt numatune strict narrows it), sorted; NULL: any node. A home
         * node outside them gets no promotions (as if there were no home), a CXL node outside them
         * no demotions (the next demotion target is tried). */
        const int *allowed_nodes;
        size_t n_allowed_nodes;
        const PlanPlacement *placement; /* may be NULL; sorted by hva, not overlapping, each
                                         * inside one RAM range */
        size_t n_placement;
} PlanVm;

typedef struct PlanLimits {
        uint64_t budget_bytes;             /* bytes that may move this cycle (rate x interval) */
        unsigned dram_min_free_percent;    /* keep this % of every DRAM node free */
        unsigned demotion_min_free_ratio;  /* % of every CXL node that must stay free */
        uint64_t query_pages;              /* pages queries[] may ask for (0: none) */
        uint64_t round;                    /* the cycle's number: whose turn leftovers are */
        unsigned margin_heat;              /* the hysteresis margin M of 3 (1..255); 0: PLAN_MARGIN_HEAT.
                                            * For bench/policy-sim's sweep: vtismd leaves it 0 */
        unsigned swap_edge_z10;            /* the noise margin of edge swaps (3(c)), tenths of a standard
                                            * deviation, 1..100; 0: PLAN_SWAP_EDGE_Z10; PLAN_SWAP_EDGE_OFF:
                                            * none (the rule before it) */
        uint64_t swap_mass_div;            /* swaps of target / this or more are no edge noise; 0:
                                            * PLAN_SWAP_MASS_DIV. For policy-sim and tests: vtismd leaves
                                            * both 0 */
        uint64_t interleave_pages;         /* demotions come in chunks of at least this many pages between
                                            * the promotions their room lets in (5); 0:
                                            * PLAN_INTERLEAVE_PAGES. For tests: vtismd leaves it 0 */
} PlanLimits;

typedef struct PlanMove {
        uint32_t vm;                /* index into the PlanVm array */
        PlanDirection direction;
        uint64_t hva;               /* 4 KiB aligned (2 MiB aligned when huge) */
        uint64_t n_pages;           /* consecutive 4 KiB pages from hva, inside one RAM range */
        int from_node;              /* >= 0, or PLAN_NODE_ANY (query first) */
        int to_node;
        uint8_t heat;               /* the unit's heat (max over its granules) */
        bool huge;                  /* one THP: move as a whole, never split */
        bool needs_room;            /* promotion: fits only with the room earlier demotions make */
} PlanMove;

typedef struct PlanQuery {
        uint32_t vm;
        uint64_t hva;               /* a block, or its part inside one RAM range */
        uint64_t n_pages;
} PlanQuery;

typedef struct PlanVmResult {
        uint64_t ram_bytes;
        uint64_t dram_bytes;        /* on DRAM nodes before this plan (known placement) */
        uint64_t cxl_bytes;         /* on CXL nodes before this plan */
        uint64_t unknown_bytes;     /* present or not, placement not known to the planner */
        uint64_t dram_target_bytes; /* what it should have on DRAM */
        uint64_t promote_bytes;     /* planned this cycle */
        uint64_t demote_bytes;
        uint64_t query_bytes;       /* RAM of its queries[] */
        unsigned hot_min_heat;      /* heat >= this belongs on DRAM (256: nothing) */
        unsigned cold_max_heat;     /* heat <= this may go to CXL (pin, never, frozen: nothing
                                     * goes whatever this says) */
        char *reason;               /* one or two sentences, e.g. "budget 256 MiB (/etc/vtism.conf:12)
                                     * ...": what it wants, what it gets and why */
} PlanVmResult;

typedef struct Plan {
        PlanMove *moves;
        size_t n_moves;
        PlanVmResult *vms;          /* one per PlanVm, same order */
        size_t n_vms;
        PlanQuery *queries;         /* hottest wants first */
        size_t n_queries;
        uint64_t budget_bytes;
        uint64_t promote_bytes;
        uint64_t demote_bytes;
        uint64_t query_pages;
} Plan;

/*
 * Plan one cycle for all VMs at once. -EINVAL for bad limits or VMs (see "Errors" above);
 * out of memory is fatal (xmalloc).
 */
int plan_compute(const Topology *t, const PlanLimits *limits, const PlanVm *vms, size_t n_vms, Plan **ret);
Plan *plan_free(Plan *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Plan *, plan_free);
