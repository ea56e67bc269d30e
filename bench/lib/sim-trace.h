/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vtism/macro.h"

/*
 * Access patterns and traces for the placement benchmarks (bench/policy-sim, and the lab
 * head-to-head runner's workloads): pure, deterministic from a seed, no I/O but the trace file
 * reader and writer at the end.
 *
 * A pattern is a probability per 4 KiB page of a VM's RAM, per cycle (one sampling interval):
 *   UNIFORM   every page 1/N;
 *   ZIPF      page perm[r - 1] has weight r^-s / H(N, s) for rank r = 1..N, perm a random
 *             permutation of the pages (so the hot set is scattered page by page, as a hash
 *             table's or a heap's is); s = 0.6 spreads the accesses (the top 25 % of the pages
 *             take 57 % of them at N = 2^18), s = 1.2 concentrates them (97 %);
 *   HOTSET    hot_pages pages share hot_share of the accesses, every page (hot ones included)
 *             shares the rest uniformly; the hot set is a window at a random 2 MiB-aligned offset
 *             (or, scattered, random pages) that moves to a new random place every shift_every
 *             cycles (0: never). "Phase" k = cycles [k * shift_every, (k + 1) * shift_every).
 *
 * Accesses: in a cycle of A accesses, page i is accessed Poisson(A * w_i) times, independently
 * (a Poisson stream of A accesses a cycle on average, thinned by page; exact for Poisson A). The
 * tracker only sees whether a page was accessed at all in the cycle (its accessed bit); hits are
 * counted per access. sim_pattern_counts() for cycle c depends only on (seed, c): any cycle can be
 * generated again, in any order, with the same result. sim_pattern_sample() draws single
 * accesses (for a workload process that must really touch the pages).
 *
 * Ground truth: the hot set of n pages at cycle c is the n pages with the highest weight in c's
 * phase (ties: lower rank, then lower page), and its mass the sum of their weights: what an
 * oracle placing "the true hot set" (contender (e) of issue 9) would put on DRAM.
 *
 * Memory: ZIPF 12 bytes per page (permutation, weights by rank), 8 more once counts are asked
 * for (e^-lambda by rank) and 8 more once samples are (the cumulative weights); HOTSET 1 bit
 * per page and 4 bytes per hot page (the cached phase); UNIFORM nothing.
 */

typedef struct SimRng {
        uint64_t s;
} SimRng;

/* splitmix64: deterministic, fast, good enough for simulations (passes BigCrush). */
void sim_rng_seed(SimRng *r, uint64_t seed);
uint64_t sim_rng_next(SimRng *r);
double sim_rng_double(SimRng *r);            /* [0, 1) */
uint64_t sim_rng_below(SimRng *r, uint64_t n); /* [0, n), n > 0 */
/* A generator for stream `stream` of cycle `cycle` of a pattern seeded with seed. */
void sim_rng_derive(SimRng *r, uint64_t seed, uint64_t stream, uint64_t cycle);
/* Poisson(lambda); p0 = exp(-lambda) (precomputed by callers sampling the same lambda often). */
uint32_t sim_rng_poisson(SimRng *r, double lambda, double p0);

typedef enum SimPatternKind {
        SIM_PATTERN_UNIFORM,
        SIM_PATTERN_ZIPF,
        SIM_PATTERN_HOTSET,
        _SIM_PATTERN_KIND_MAX,
        _SIM_PATTERN_KIND_INVALID = -22,
} SimPatternKind;

const char *sim_pattern_kind_to_string(SimPatternKind k);

typedef struct SimPatternSpec {
        SimPatternKind kind;
        uint64_t pages;          /* 4 KiB pages of RAM, 1 .. 2^31 */
        double zipf_s;           /* ZIPF: skew, 0 < s <= 4 */
        uint64_t hot_pages;      /* HOTSET: 1 .. pages */
        double hot_share;        /* HOTSET: 0 .. 1 */
        unsigned shift_every;    /* HOTSET: cycles per phase; 0: the hot set never moves */
        bool scattered;          /* HOTSET: random pages instead of a window */
        uint64_t seed;
} SimPatternSpec;

typedef struct SimPattern SimPattern;

/* -EINVAL for a spec outside the ranges above. */
int sim_pattern_new(const SimPatternSpec *spec, SimPattern **ret);
SimPattern *sim_pattern_free(SimPattern *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(SimPattern *, sim_pattern_free);

const SimPatternSpec *sim_pattern_spec(const SimPattern *p);
/* The phase of a cycle (0 but for a moving HOTSET) and the cycle it started in. */
unsigned sim_pattern_phase(const SimPattern *p, unsigned cycle);
unsigned sim_pattern_phase_start(const SimPattern *p, unsigned phase);
/* weight of one page in the cycle's phase (ZIPF: a linear search, for tests) */
double sim_pattern_weight(SimPattern *p, unsigned cycle, uint64_t page);
/* w[i] = weight of page i in the cycle's phase, for all pages (sums to 1) */
void sim_pattern_weights(SimPattern *p, unsigned cycle, double *w);
/* counts[i] = accesses of page i in the cycle, `accesses` on average in total (see above) */
void sim_pattern_counts(SimPattern *p, unsigned cycle, double accesses, uint32_t *counts);
/* One access of the cycle's phase. */
uint64_t sim_pattern_sample(SimPattern *p, unsigned cycle, SimRng *rng);
/* in_set[i] = 1 for the hot set of n pages (0 for the others); returns its mass (0..1). */
double sim_pattern_hot_set(SimPattern *p, unsigned cycle, uint64_t n, uint8_t *in_set);
/* The share of that hot set's mass on DRAM (on_dram per page): its coverage (sim-model.h). */
double sim_pattern_coverage(SimPattern *p, unsigned cycle, uint64_t n, const uint8_t *on_dram);

/*
 * Trace files: what a tracker saw, cycle by cycle, for replay (tests/lab/trackers/tracker-check
 * --record writes them). Text, one item per line, '#' starts a comment line:
 *
 *     vtism-trace 1                  first line: format and version
 *     pages N                        RAM of the VM in 4 KiB pages (page 0 = its lowest address)
 *     granule BYTES                  tracker granule (4096 or 2097152), optional, informational
 *     note TEXT                      free text (what was recorded, where), optional, repeatable
 *     phase                          a new phase starts with the next cycle (the first is implicit)
 *     hot FIRST COUNT                ground truth of the current phase: pages [FIRST, FIRST+COUNT)
 *                                    are the workload's hot set (repeatable)
 *     cycle                          the next cycle starts (cycles are numbered 0, 1, ...)
 *     FIRST COUNT                    pages [FIRST, FIRST+COUNT) were accessed in the current
 *                                    cycle; ascending and not overlapping within a cycle
 *
 * Numbers are decimal. A replayed cycle counts one access per accessed page (the tracker saw no
 * more). Errors name the line: "FILE:LINE: message".
 */

typedef struct SimRun {
        uint64_t first, count;
} SimRun;

typedef struct SimTracePhase {
        unsigned first_cycle;
        SimRun *hot;
        size_t n_hot;
} SimTracePhase;

typedef struct SimTraceFile {
        uint64_t pages;
        uint64_t granule_bytes;   /* 0: not given */
        char **notes;
        size_t n_notes;
        SimRun *runs;             /* all cycles' runs, cycle after cycle */
        size_t n_runs;
        size_t *cycle_first_run;  /* n_cycles + 1 entries: cycle c's runs are [first[c], first[c + 1]) */
        unsigned n_cycles;
        SimTracePhase *phases;    /* at least one */
        size_t n_phases;
} SimTraceFile;

/* -EINVAL (with *ret_error = "LINE: message", to be freed) for malformed input; -errno of I/O. */
int sim_trace_file_read(FILE *f, SimTraceFile **ret, char **ret_error);
/* The same for a path; the error message starts with the path. */
int sim_trace_file_load(const char *path, SimTraceFile **ret, char **ret_error);
SimTraceFile *sim_trace_file_free(SimTraceFile *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(SimTraceFile *, sim_trace_file_free);

unsigned sim_trace_file_phase(const SimTraceFile *t, unsigned cycle);
/* counts[i] = 1 for the pages accessed in the cycle, else 0 */
void sim_trace_file_counts(const SimTraceFile *t, unsigned cycle, uint32_t *counts);
/* in_set[i] = 1 for the phase's hot pages; returns their number. */
uint64_t sim_trace_file_hot_set(const SimTraceFile *t, unsigned cycle, uint8_t *in_set);

/* Writer: header, then phases and cycles as they come. Runs must be ascending within a cycle;
 * -EINVAL otherwise, or for runs outside the pages. */
typedef struct SimTraceWriter {
        FILE *f;
        uint64_t pages;
        uint64_t last_end;        /* end of the current cycle's last run */
        unsigned cycles;
} SimTraceWriter;

int sim_trace_writer_start(SimTraceWriter *w, FILE *f, uint64_t pages, uint64_t granule_bytes, const char *note);
int sim_trace_writer_phase(SimTraceWriter *w, const SimRun *hot, size_t n_hot);
int sim_trace_writer_cycle(SimTraceWriter *w);
int sim_trace_writer_run(SimTraceWriter *w, uint64_t first, uint64_t count);
/*
 * One cycle as a tracker fed it to a heat map range (tracker-check --record): the granules whose
 * heat after the cycle is not the idle decay of their heat before it (heatmap.h: an idle
 * granule's heat becomes exactly prev * (100 - decay) / 100; an accessed one's differs from that
 * for any decay >= 1), as accessed runs of granule_pages pages per granule. Starts the cycle.
 * -EINVAL for decay 0 (an accessed granule at 255 would look idle).
 */
int sim_trace_writer_cycle_from_heat(SimTraceWriter *w, const uint8_t *prev, const uint8_t *heat, size_t n_granules,
                                     unsigned decay_percent, uint64_t granule_pages);
/* Flush; -EIO if anything failed to be written. */
int sim_trace_writer_finish(SimTraceWriter *w);
