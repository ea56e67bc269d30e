/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * What the placement benchmarks measure, pure: DRAM hits, the modelled average memory access
 * time, hot-set coverage and the time to reach it, and the report (tables, gnuplot data and
 * scripts). Shared by bench/policy-sim and the lab head-to-head runner.
 *
 * AMAT model: every access is served by DRAM (dram_ns, default 100 ns) or by CXL (cxl_ns,
 * default 250 ns: 2.5x; the reports vary the ratio 2-3x):
 *     AMAT = h * dram_ns + (1 - h) * cxl_ns,    h = DRAM accesses / all accesses.
 * Caches are left out on purpose: what tiering changes is the share of memory accesses that go
 * to the slow tier; this is the latency those accesses see, not a prediction of run time.
 *
 * Coverage: the share of the true hot set (the pages a workload knows to be hottest, see
 * sim-trace.h: "Ground truth"), weighted by each page's access probability, that is on DRAM.
 * Time to 95 %: cycles from the start of a phase (a shift of the hot set) until coverage first
 * reaches 95 % (0: it was there when the phase began).
 */

#define SIM_DRAM_NS_DEFAULT 100.0
#define SIM_CXL_NS_DEFAULT 250.0
#define SIM_COVERAGE_GOAL 0.95

typedef struct SimLatency {
        double dram_ns, cxl_ns;
} SimLatency;

void sim_latency_init(SimLatency *l, double cxl_ratio);   /* dram 100 ns, cxl = ratio x 100 ns */
/* AMAT in ns for a DRAM hit ratio h (0..1). */
double sim_amat_ns(const SimLatency *l, double h);

typedef struct SimTally {
        uint64_t dram, total;      /* accesses */
} SimTally;

/* Add one cycle's accesses (counts per page) as served by the placement (on_dram per page). */
void sim_tally_add(SimTally *t, const uint32_t *counts, const uint8_t *on_dram, uint64_t pages);
double sim_tally_ratio(const SimTally *t);   /* DRAM hit ratio; 0 without accesses */

/* Coverage of an unweighted hot set: in_set pages on DRAM / in_set pages (1 if empty). */
double sim_coverage(const uint8_t *in_set, const uint8_t *on_dram, uint64_t pages);

typedef struct SimConvergence {
        double goal;               /* SIM_COVERAGE_GOAL */
        unsigned phase;            /* current phase */
        unsigned phase_start;      /* its first cycle */
        bool started, reached;
        unsigned phases;           /* phases seen */
        unsigned phases_reached;
        uint64_t sum_cycles;       /* over phases that reached the goal */
        unsigned worst_cycles;
        unsigned first_cycles;     /* of phase 0: -1u when not reached */
        double last_coverage;
} SimConvergence;

void sim_convergence_init(SimConvergence *c, double goal);
/* Coverage during `cycle`, which is in `phase` starting at `phase_start`; cycles in order. */
void sim_convergence_observe(SimConvergence *c, unsigned cycle, unsigned phase, unsigned phase_start, double coverage);
/* Mean cycles to the goal over the phases that reached it; < 0 when none did. */
double sim_convergence_mean(const SimConvergence *c);

/* ---- the report ---- */

/* One contender on one trace (or one VM of it). */
typedef struct SimResult {
        SimTally tally;            /* all cycles */
        SimTally steady;           /* the cycles the report calls steady (policy-sim: the second half) */
        uint64_t migrated_bytes;
        SimConvergence conv;
} SimResult;

/*
 * One row of the comparison table; pointers may be NULL but policy and oracle ("-" printed):
 *   trace | DRAM hit ratio: policy, oracle, policy/oracle, prescient, policy/prescient (all
 *   cycles, and steady) , first touch | AMAT of the policy at 2.5x and its ratio to the
 *   oracle's at 2x, 2.5x, 3x and to the prescient's at 2.5x (>= 1 is worse) | MiB migrated by
 *   policy, oracle, prescient | cycles to 95 % of the hot set: policy, prescient, oracle.
 * "oracle" knows the future accesses (sim-oracle.h), "prescient" knows each phase's true access
 * probabilities from its first cycle (the best any policy without sight of the future can
 * expect); both move within the same budget.
 */
typedef struct SimReportRow {
        const char *name;
        const SimResult *policy, *oracle, *prescient, *first_touch;
        bool t95;                  /* the trace has a hot set (not uniform) */
} SimReportRow;

void sim_report_header(FILE *f);
void sim_report_row(FILE *f, const SimReportRow *r);
/* "12.3" or "never" / "-" for a convergence, into buf (>= 16 bytes). */
const char *sim_format_t95(const SimConvergence *c, char *buf, size_t size);

/*
 * Series over time for plots: one row per cycle, a time column and one column per contender.
 * Written as gnuplot data ("# time name1 name2 ..." then numbers).
 */
typedef struct SimSeries {
        char **names;
        size_t n_columns;
        double *rows;              /* n_rows x (1 + n_columns) */
        size_t n_rows, allocated;
} SimSeries;

void sim_series_init(SimSeries *s, const char *const *names, size_t n_columns);
void sim_series_add(SimSeries *s, double time, const double *values);
void sim_series_done(SimSeries *s);
int sim_series_write(const SimSeries *s, FILE *f);
/*
 * A gnuplot script drawing each column of the data file against time into a PNG (pngcairo if
 * gnuplot has it, else png): title, axis labels, y range [ymin, ymax] (ymin == ymax: automatic).
 */
int sim_plot_script(FILE *f, const SimSeries *s, const char *dat_path, const char *png_path, const char *title,
                    const char *xlabel, const char *ylabel, double ymin, double ymax);
