/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vtism/heatmap.h"
#include "vtism/topology.h"

/*
 * Per-VM service level, pure (no I/O, no logging): "at most cap % of this VM's memory accesses
 * served from CXL; as little DRAM as that takes". Two parts:
 *
 * 1. THE ESTIMATE (slo_estimate()): per VM and cycle, the heat-weighted share of the sampled
 *    accesses that hit granules on CXL nodes:
 *
 *        share = sum(heat x pages on CXL) / sum(heat x pages)
 *
 *    over every 4 KiB page (a 2 MiB granule counts as 512 pages of its heat). Heat is the decayed
 *    count of cycles in which the tracker saw the page accessed (heatmap.h): with the defaults a
 *    page accessed in a fraction f of cycles holds about min(255, 267 f). So the share is a share
 *    of accessed page-cycles over the last ~8 cycles (half-life 5.4 cycles), not of memory
 *    accesses: a tracker sees at most one access per page per cycle, so a page read a thousand
 *    times a cycle weighs as much as one read once, and a page at 255 (saturated) as much as one
 *    accessed more often still. For a hot set accessed evenly (the lab's workloads) the two
 *    agree; for a skewed one within the hot set the estimate under-weights the hottest pages.
 *
 *    Where each page is comes from the heat map's block placement (heatmap.h): a page of a
 *    NODE(n) block is on n; of a MIXED(n, c) block, on n if hotter than c, else not known; of an
 *    UNKNOWN or ABSENT block not known. Nodes are DRAM or CXL by the topology. So:
 *        heat_dram, heat_cxl   known on a DRAM / CXL node
 *        heat_unknown          place not known (share_min_bp counts it on DRAM, share_max_bp on
 *                              CXL; the point estimate share_bp splits it as the VM's residency
 *                              counters split the pages no block accounts for, half-half if
 *                              those are not known)
 *    In the steady state of a scattered hot set the unknown part is the cool pages below the
 *    ceilings (heat <= c): a few percent at most; right after a VM is found it is everything.
 *
 *    Coarse trackers (DAMON regions; `coarse` = true): DAMON gives every page of a region the same
 *    access count, so pages of one region share one heat whatever their own accesses were. A
 *    region holding pages on both tiers (a hot set that covers part of it, the rest cold) then
 *    splits its heat by pages, not by accesses: the true share of that region's accesses on CXL
 *    can be anything from 0 to all. The estimate finds such regions as runs of consecutive pages
 *    of equal, non-zero heat that hold known pages on both tiers (a region is such a run; runs of
 *    equal heat from two regions side by side are merged, which only widens the bounds), and
 *    widens the bounds by them: share_min_bp counts their CXL heat on DRAM, share_max_bp their
 *    DRAM heat on CXL (split_dram, split_cxl). The point estimate stays the page split. With
 *    page-exact trackers (idle_pages, page_idle) the heat is per page and no widening applies.
 *    DAMON's regions are at least VM size / max_nr_regions (1000 by default): a 4 GiB VM has
 *    regions of >= 4 MiB, so a hot set scattered page by page is not seen at all (DESIGN.md 8) and
 *    the estimate then reads 0 % where the truth may be large: the bounds cannot show what the
 *    tracker never reported.
 *
 *    The estimate also keeps the VM's heat per level (level_pages[], all pages, wherever they
 *    are): the demand curve. slo_predicted_share_bp(e, X) is the share the VM would have with
 *    its hottest X bytes on DRAM and the rest on CXL; slo_dram_needed_bytes(e, s) the least DRAM
 *    for a predicted share <= s. A VM whose hot 128 MiB read 255 and the other 896 MiB 0 needs
 *    128 MiB for any cap; one with 100 MiB at 255 and 100 MiB at 32 needs 100 MiB + 100 MiB x
 *    (1 - cap x 287 / 32) for cap < 11.1 %: 55.2 MiB of the warm part at cap 5 %.
 *
 *    Cost: one pass over the VM's heat bytes and block placement: O(pages), ~1-2 ns per 4 KiB page;
 *    memory: 2 KiB per estimate (level_pages), nothing kept between calls.
 *
 * 2. THE CONTROLLER (slo_update()), once per cycle per SLO VM, after the estimate and before the
 *    plan: moves the VM's DRAM target, which the planner treats as the VM's ask (plan.h, policy
 *    "slo"). With cap C, aim A = 3/4 C, need = slo_dram_needed_bytes(e, A):
 *      - share > C: the target rises to need, by at most step_max_bytes a cycle (need comes from
 *        the demand curve, not from where pages are now: no wind-up while pages are still
 *        moving); when need is no more than the target, it waits while the last plan moved pages
 *        for the VM, and once nothing moves it rises by a nudge (step / SLO_NUDGE_DIVISOR): hot
 *        pages of similar heat on both tiers, which only room brings in (plan.h 3(b)). It does
 *        not rise when the last plan granted less than it asked (raising the ask of a VM the
 *        planner cannot serve changes nothing), nor for the part of the share on pages too
 *        rarely accessed for the planner to promote;
 *      - share < C / 2 ("well below"): the target falls to need, by at most step_max_bytes a
 *        cycle (the planner then demotes the coldest pages first, plan.h 3(a));
 *      - in between: it stays (hysteresis: after a rise to need the predicted share is A, above
 *        C / 2, so it does not fall back; after a fall to need it is A, below C, so it does not
 *        rise again: no oscillation while the model holds).
 *    Always within [dram_min, dram_max] (dram_max <= RAM), and never more than step_max_bytes
 *    above what the last plan granted (its weight's share under contention: plan.h 2).
 *    step_max_bytes 0 means RAM / SLO_STEP_DIVISOR (16: from nothing to all of RAM in 16
 *    cycles), at least SLO_STEP_MIN_BYTES. The first update starts from what the VM holds on
 *    DRAM (clamped), so finding a VM moves nothing by itself.
 *    Giving DRAM back: when the hot set shrinks, the pages no longer accessed cool by 12 % a
 *    cycle; their heat on DRAM lowers the share and need falls with them, so the target falls
 *    by up to a step a cycle and has reached the new hot set once they are at 0 (at most 32
 *    cycles with the default decay; test-slo: a hot set shrinking from 128 to 32 MiB at cap 5 % has its
 *    target at 30.8 MiB after 30 cycles, the share under the cap throughout). In test-plan's
 *    simulation of the lab case (estimate, controller, planner and an ideal migrator; a 768 MiB
 *    SLO VM with a 192 MiB hot set next to a budget VM, 461 MiB of DRAM for 704 MiB of hot
 *    pages) the SLO VM's true share is 2.49 % from cycle 16 with a target of 187 MiB (the
 *    estimate reads 3.12 %, bounds 2.08-3.12 %), the budget VM has the other 273 MiB, and when
 *    the hot set shrinks to 64 MiB the target is 62 MiB 29 cycles later, the budget VM's DRAM
 *    273 -> 398 MiB.
 *
 *    State (slo_state_to_string()), what status shows, "met" or "not met: <why>":
 *      SLO_MET             share <= C
 *      SLO_NO_ESTIMATE     no accesses sampled yet (counts as met: nothing is served from CXL)
 *      SLO_CONVERGING      share > C while the target moves or pages are still moving
 *      SLO_AT_MAX          share > C with the target at dram_max
 *      SLO_CONTENDED       share > C and the last plan granted less than the target (other VMs'
 *                          weights, the DRAM watermark)
 *      SLO_RARE            share > C, but what is over C is pages too rarely accessed for the
 *                          planner to promote (heat below its promotion floor, plan.h 3)
 *    not_met_cycles counts consecutive cycles in one of the last three: slo_cannot_be_met() says
 *    when the daemon should report it (SLO_REPORT_CYCLES of them, SLO_REPORT_RARE_CYCLES for
 *    SLO_RARE: pages touched once when a VM starts read as rare until they are forgotten; the
 *    simulated lab case in test-plan is in SLO_RARE for its first 13 cycles while its true share
 *    is already 0), once per episode.
 *
 * Errors: slo_estimate() -EINVAL for a NULL map or topology; slo_update() -EINVAL for a cap
 * outside 1..10000 or dram_min > dram_max. Nothing allocates.
 */

#define SLO_BP_MAX 10000u
#define SLO_STEP_DIVISOR 16u
#define SLO_STEP_MIN_BYTES (UINT64_C(2) << 20)
#define SLO_NUDGE_DIVISOR 4u
#define SLO_REPORT_CYCLES 3u
/* SLO_RARE is reported only after this many cycles: pages touched once at a VM's start read
 * "rare" until their heat is gone (16 cycles with the default decay, heatmap.h). */
#define SLO_REPORT_RARE_CYCLES 20u

typedef struct SloEstimate {
        uint64_t heat_total;            /* sum of heat x 4 KiB pages */
        uint64_t heat_dram, heat_cxl, heat_unknown;
        uint64_t split_dram, split_cxl; /* coarse: of heat_dram, heat_cxl, in runs on both tiers */
        uint64_t heat_cxl_rare;         /* of heat_cxl, pages with heat below rare_below */
        unsigned share_bp;              /* 0..10000, 0 when heat_total is 0 */
        unsigned share_min_bp, share_max_bp;
        unsigned rare_bp;               /* heat_cxl_rare as a share */
        bool valid;                     /* heat_total > 0: some access was sampled */
        bool coarse;
        uint64_t level_pages[HEATMAP_HEAT_MAX + 1]; /* pages per heat level, the demand curve */
} SloEstimate;

/*
 * The estimate of 1. rare_below: the planner's promotion floor (pages below it are never
 * promoted, plan.h 3), 0 for none.
 */
int slo_estimate(const HeatMap *h, const Topology *t, bool coarse, unsigned rare_below, SloEstimate *ret);
/*
 * How often the estimate is made. It reads every heat byte, ~2.2 ns a 4 KiB page (2.4 s of CPU
 * a cycle for 4 TiB of guests, bench/README.md scale-bench), and only a VM with a service level
 * needs it every cycle (its controller's input); for the others it is what status, D-Bus and
 * metrics show, made every SLO_ESTIMATE_EVERY cycles and shown with its age. Once a cycle:
 * slo_estimate_due() says whether to make it now (otherwise the one held is a cycle older); after
 * making it, slo_estimate_made(). A VM's first estimate is due at once, its second after
 * `stagger` % SLO_ESTIMATE_EVERY cycles (the manager passes the pid), so that VMs found together
 * do not all come due in the same cycle; a failed one is due again the next cycle.
 */
#define SLO_ESTIMATE_EVERY 10u

typedef struct SloEstimateAge {
        bool have;                      /* an estimate is held */
        unsigned age;                   /* cycles since it was made: 0 .. SLO_ESTIMATE_EVERY - 1 */
        unsigned wait;                  /* cycles until the next one */
} SloEstimateAge;

bool slo_estimate_due(SloEstimateAge *a, bool every_cycle);
void slo_estimate_made(SloEstimateAge *a, bool ok, unsigned stagger);

/* The share with the hottest dram_bytes on DRAM, the rest on CXL. 0 when nothing was sampled. */
unsigned slo_predicted_share_bp(const SloEstimate *e, uint64_t dram_bytes);
/* The least DRAM (whole 4 KiB pages) for a predicted share <= share_bp. */
uint64_t slo_dram_needed_bytes(const SloEstimate *e, unsigned share_bp);

typedef enum SloState {
        SLO_NO_ESTIMATE,
        SLO_MET,
        SLO_CONVERGING,
        SLO_AT_MAX,
        SLO_CONTENDED,
        SLO_RARE,
        _SLO_STATE_MAX,
        _SLO_STATE_INVALID = -22,
} SloState;

/* "no estimate", "met", "converging", "at dram_max", "contended", "rare pages". */
const char *slo_state_to_string(SloState s);
/* Met for status purposes (SLO_MET, SLO_NO_ESTIMATE). */
bool slo_state_met(SloState s);

typedef struct SloParams {
        unsigned cap_bp;                /* cxl_access_max_percent x 100: 1..10000 */
        uint64_t dram_min_bytes;
        uint64_t dram_max_bytes;        /* >= dram_min_bytes; clamped to RAM */
        uint64_t step_max_bytes;        /* 0: RAM / SLO_STEP_DIVISOR, at least SLO_STEP_MIN_BYTES */
} SloParams;

typedef struct SloInput {
        const SloEstimate *est;
        uint64_t ram_bytes;
        uint64_t dram_bytes;            /* on DRAM now */
        bool planned;                   /* a plan covered it before: granted and moving are known */
        uint64_t granted_bytes;         /* the last plan's DRAM target for it */
        bool moving;                    /* the last plan had moves for it */
} SloInput;

typedef struct Slo {
        bool started;
        uint64_t target_bytes;          /* what it asks the planner for */
        SloState state;
        unsigned share_bp;              /* the estimate it last acted on */
        unsigned not_met_cycles;        /* consecutive cycles AT_MAX, CONTENDED or RARE */
        uint64_t updates;
} Slo;

void slo_init(Slo *s);
/* Has the SLO been failing long enough to say it cannot be met (see "State")? */
bool slo_cannot_be_met(const Slo *s);
/* One cycle of 2; returns the new state (also in s->state), or -EINVAL. */
int slo_update(Slo *s, const SloParams *p, const SloInput *in);
/*
 * "met", or "not met: <why>" with numbers, into buf (at most size bytes, always terminated).
 * in: the same as the last slo_update() (its estimate and the plan's grant).
 */
void slo_describe(const Slo *s, const SloParams *p, const SloInput *in, char *buf, size_t size);
