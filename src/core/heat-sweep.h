/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The heat map's inner loops (private to src/core/heatmap.c and its tests), pure and branch-free
 * per granule: SSE2 where the compiler targets it (every x86-64), the same arithmetic in plain C
 * elsewhere.
 *
 * The heat model (heatmap.h) per granule and cycle:
 *     idle:     v' = v * keep / 100                  keep = 100 - decay_percent
 *     accessed: v' = min(255, v * keep / 100 + 32)
 * computed as (v * keep * 20972) >> 21, which equals v * keep / 100 (rounded down) for every
 * v * keep ≤ 25500 (the error x * 0.48 / 2^21 stays below 0.006 < 1 / 100): in 16-bit lanes a
 * multiply-high by 20972 and a shift by 5; test-heatmap-model checks every v and keep.
 *
 * Histograms come out of the same pass: for each of HEAT_SWEEP_THRESHOLDS thresholds t (1..255)
 * the number of granules whose new heat is ≥ t. heatmap.c asks for the bucket edges 32, 64, ...,
 * 224, cold_max + 1 and hot_min: buckets and classes follow by subtraction.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HEAT_SWEEP_THRESHOLDS 9u
#define HEAT_SWEEP_MUL 20972u
#define HEAT_SWEEP_SHIFT 21u
#define HEAT_SWEEP_WEIGHT 32u /* HEATMAP_ACCESS_WEIGHT */

typedef struct HeatSweepParams {
        unsigned keep;                               /* 100 - decay_percent */
        uint8_t ge[HEAT_SWEEP_THRESHOLDS];           /* thresholds, each 1..255 */
} HeatSweepParams;

typedef struct HeatSweepResult {
        uint64_t ge[HEAT_SWEEP_THRESHOLDS];          /* added to: granules with new heat ≥ ge[i] */
        bool any_accessed;
        uint8_t max_masked;                          /* max new heat of the accessed granules whose
                                                      * old heat was ≤ `before`; 0: none (an accessed
                                                      * granule's new heat is ≥ 32) */
} HeatSweepResult;

static inline unsigned heat_sweep_idle(unsigned v, unsigned keep) {
        return (v * keep * HEAT_SWEEP_MUL) >> HEAT_SWEEP_SHIFT;
}

static inline unsigned heat_sweep_accessed(unsigned v, unsigned keep) {
        unsigned x = heat_sweep_idle(v, keep) + HEAT_SWEEP_WEIGHT;

        return x > 255 ? 255 : x;
}

/*
 * Age heat[0..n) by one cycle: granule i accessed when acc[i] is 0xff (acc NULL: all idle, or
 * `all_accessed`), idle when 0. Counts into res->ge; with `stats`, also any_accessed and
 * max_masked (before = the heat bound of heatmap.c's block ceiling).
 */
void heat_sweep(uint8_t *heat, const uint8_t *acc, bool all_accessed, size_t n, const HeatSweepParams *p, bool stats,
                unsigned before, HeatSweepResult *res);

/* Are heat[0..n) all equal to heat[0]? Stops at the first difference. n ≥ 1. */
bool heat_sweep_uniform(const uint8_t *heat, size_t n);

/*
 * Does an idle_pages record stream hold only page records (types 0..9, count 1..15)? Commands
 * (SET_HVA) and malformed bytes take the decoder's careful path.
 */
bool heat_sweep_plain_records(const uint8_t *buf, size_t n);
