/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

#include "vtism/tracker.h"

/*
 * A combinator tracker: one ops table that drives two trackers into one heat-map cycle, so that
 * what each sees becomes one picture. auto uses it on stock kernels as damon + softdirty: DAMON
 * sees reads (and writes) per region, soft-dirty sees writes page-exactly, and only together
 * do they see a scattered hot set that is written as well as the read-mostly regions.
 *
 * Model, per cycle. A granule is accessed when part 1 (soft-dirty) saw it written: a written
 * page counts as accessed. Part 0's runs (DAMON regions with nr_accesses > 0) add read heat over
 * their whole extent, unless part 1 saw a write inside the run. A write sets the accessed bit
 * too, so that write explains the region's signal, and only the written pages count
 * (exact_explains). Without this rule the union inherits DAMON's blind spot. In the lab, take
 * a scattered write-heavy hot set (1 page in 8 of a 128 MiB window, TLB flushed for DAMON's
 * sake). DAMON alone called up to 116 MiB of the window hot (precision 0.13-0.16, recall
 * 0.07-0.9, varying from run to run). The union of the two scored precision 0.15-0.25. With
 * writes explaining regions, precision and recall came to 0.98-1.00, for a process and for a
 * KVM guest (tests/lab/trackers/lab-softdirty). What this rule
 * costs: a read-hot cluster that shares a DAMON region with a write gets no read heat beyond
 * the written pages. DAMON splits regions whose pages behave differently, which limits that,
 * but does not prevent it. A run of part 0 is a maximal run of granules it reported, so
 * adjacent regions count as one. The heat map's rule (heat + 32 when accessed in the cycle,
 * see vtism/heatmap.h) then applies to the result. Heat is one bit per cycle: a page both parts
 * report gets no more than one either reports. The parts cover different times: DAMON's
 * snapshot is its last aggregation interval (100 ms) before the check, soft-dirty's the whole
 * period since the last clear.
 *
 * Merging. heatmap_sample_hva() wants each cycle's samples in ascending order per range, and
 * two parts give two ascending streams that know nothing of each other. Each part runs into a
 * private shadow heat map with the same ranges, and the shadow's heat bytes record who saw what:
 *     decay 100 %, cycle of part 0  ->  heat = 32 if part 0 saw the granule, else 0
 *     decay  50 %, cycle of part 1  ->  heat = 16 (part 0 only), 32 (part 1 only), 48 (both)
 * Then one ascending sweep of the shadow hands the runs of non-zero granules to the real heat
 * map. Cost per cycle: three passes over one byte per granule, plus one shadow of the same
 * size as the heat map (1 byte per 4 KiB page: 256 MiB per TiB of guest RAM). bench/combo-bench
 * measures it, on top of what the two parts cost themselves. With only one part working for a
 * target (the other failed to start or could not add it) that part runs straight into the real
 * heat map: no shadow, no cost.
 *
 * Degrading. If a part cannot start (e.g. DAMON refuses a host where another DAMON user runs),
 * or cannot follow a target, the combo goes on with the other one and says so in
 * tracker_describe_target(). A target fails only if both parts refuse it. A part's failed check
 * does not fail the cycle: the other part's samples still count.
 */

#define TRACKER_COMBO_PARTS 2

typedef struct TrackerComboOps {
        TrackerOps ops;                               /* first: Tracker.ops points here */
        const TrackerOps *parts[TRACKER_COMBO_PARTS];
        const char *roles[TRACKER_COMBO_PARTS];       /* what each part sees: "reads", "writes" */
        bool exact_explains;                          /* part 1 is exact: its granules inside a run
                                                       * of part 0 replace that run (see above);
                                                       * false: plain union */
} TrackerComboOps;

/* auto on stock kernels: DAMON (reads, per region) + soft-dirty (writes, page-exact). */
extern const TrackerComboOps tracker_damon_softdirty_ops;

/* Fill o as a combo of a and b (tests, benches). name must outlive o. o->ops.probe is NULL:
 * probe the parts. */
void tracker_combo_ops_init(TrackerComboOps *o, const char *name, const TrackerOps *a, const char *role_a,
                            const TrackerOps *b, const char *role_b, bool exact_explains);

typedef struct TrackerComboStats {
        uint64_t merged_cycles;                       /* cycles that went through the shadow */
        uint64_t direct_cycles;                       /* cycles with one part only */
        /* the last merged cycle */
        uint64_t only_bytes[TRACKER_COMBO_PARTS];     /* seen by this part alone */
        uint64_t both_bytes;
        uint64_t explained_bytes;                     /* part 0 alone, dropped: explained by part 1 */
        uint64_t shadow_bytes;                        /* memory of the shadow heat map */
} TrackerComboStats;

/* -EINVAL if t is not a combo; -ENOENT if target is not one of its targets. */
int tracker_combo_target_stats(Tracker *t, TrackerTarget *target, TrackerComboStats *ret);
/* Which parts follow target: bit i set = parts[i]. 0 if none or t is no combo. */
unsigned tracker_combo_target_parts(Tracker *t, TrackerTarget *target);
