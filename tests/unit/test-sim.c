/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The placement benchmarks' pure pieces (bench/lib): access patterns and trace files, the
 * future-knowing oracle, hits/AMAT/coverage/convergence and the report, and the simulated host
 * whose ideal migrator must keep the heat map's block placement true.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sim-model.h"
#include "sim-oracle.h"
#include "sim-trace.h"
#include "sim-world.h"
#include "vtism/macro.h"
#include "vtism/util.h"

static bool near(double a, double b, double tol) {
        return fabs(a - b) <= tol;
}

/* ---- random numbers ---- */

static void test_rng(void) {
        static const double lambdas[] = { 0.05, 0.5, 5, 29, 50, 400 };
        SimRng r, r2;

        sim_rng_seed(&r, 42);
        for (unsigned i = 0; i < 10000; i++) {
                double d = sim_rng_double(&r);

                check(d >= 0 && d < 1);
                check(sim_rng_below(&r, 7) < 7);
        }
        /* derived streams: deterministic, and different per cycle and per stream */
        sim_rng_derive(&r, 1, 2, 3);
        sim_rng_derive(&r2, 1, 2, 3);
        check_u64(sim_rng_next(&r), sim_rng_next(&r2));
        sim_rng_derive(&r2, 1, 2, 4);
        check(sim_rng_next(&r) != sim_rng_next(&r2));
        sim_rng_derive(&r2, 1, 3, 3);
        check(sim_rng_next(&r) != sim_rng_next(&r2));

        /* Poisson: mean and variance both lambda (within 4 standard errors of 200000 draws) */
        for (size_t i = 0; i < ELEMENTSOF(lambdas); i++) {
                double l = lambdas[i], p0 = exp(-l), sum = 0, sq = 0, n = 200000, mean, var;

                sim_rng_seed(&r, 7 + i);
                for (unsigned k = 0; k < n; k++) {
                        double x = sim_rng_poisson(&r, l, p0);

                        sum += x;
                        sq += x * x;
                }
                mean = sum / n;
                var = sq / n - mean * mean;
                check(near(mean, l, 4 * sqrt(l / n)));
                check(near(var, l, 0.05 * l + 4 * sqrt(2 * l * l / n) + 0.01));
        }
}

/* ---- patterns ---- */

static void test_pattern_errors(void) {
        static const SimPatternSpec bad[] = {
                { .kind = SIM_PATTERN_UNIFORM, .pages = 0 },
                { .kind = SIM_PATTERN_UNIFORM, .pages = (UINT64_C(1) << 31) + 1 },
                { .kind = SIM_PATTERN_ZIPF, .pages = 100, .zipf_s = 0 },
                { .kind = SIM_PATTERN_ZIPF, .pages = 100, .zipf_s = 4.5 },
                { .kind = SIM_PATTERN_HOTSET, .pages = 100, .hot_pages = 0, .hot_share = 0.5 },
                { .kind = SIM_PATTERN_HOTSET, .pages = 100, .hot_pages = 101, .hot_share = 0.5 },
                { .kind = SIM_PATTERN_HOTSET, .pages = 100, .hot_pages = 10, .hot_share = 1.5 },
                { .kind = 7, .pages = 100 },
        };
        SimPattern *p = NULL;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                check_int(sim_pattern_new(&bad[i], &p), -EINVAL);
        check(p == NULL);
        check_str(sim_pattern_kind_to_string(SIM_PATTERN_ZIPF), "zipf");
        check(sim_pattern_kind_to_string(_SIM_PATTERN_KIND_MAX) == NULL);
}

/* The sum of the weights, page by page, and sim_pattern_weights() agreeing with each. */
static double weight_sum(SimPattern *p, unsigned cycle) {
        uint64_t n = sim_pattern_spec(p)->pages;
        _cleanup_free_ double *w = xcalloc(n, sizeof(double));
        double s = 0;

        sim_pattern_weights(p, cycle, w);
        for (uint64_t i = 0; i < n; i++) {
                double x = sim_pattern_weight(p, cycle, i);

                check(x == w[i]);
                s += x;
        }
        return s;
}

/* Zipf over a permutation: weights r^-s normalised, every page one rank, top-n mass. */
static void test_zipf(void) {
        SimPatternSpec spec = { .kind = SIM_PATTERN_ZIPF, .pages = 1000, .zipf_s = 0.9, .seed = 5 };
        _cleanup_(sim_pattern_freep) SimPattern *p = NULL;
        _cleanup_free_ uint8_t *set = xcalloc(1000, 1);
        double w1 = 0, w10 = 0, harmonic = 0, mass;
        uint64_t n = 0, page1 = 0, page10 = 0;

        check_int(sim_pattern_new(&spec, &p), 0);
        check(near(weight_sum(p, 0), 1, 1e-9));
        for (unsigned r = 1; r <= 1000; r++)
                harmonic += pow(r, -0.9);
        /* the hot set of 1 is the rank-1 page, of 10 adds ranks 2..10 */
        mass = sim_pattern_hot_set(p, 0, 1, set);
        for (uint64_t i = 0; i < 1000; i++)
                if (set[i])
                        page1 = i;
        check(near(mass, 1 / harmonic, 1e-12));
        w1 = sim_pattern_weight(p, 0, page1);
        check(near(w1, mass, 1e-15));
        mass = sim_pattern_hot_set(p, 0, 10, set);
        for (uint64_t i = 0; i < 1000; i++) {
                n += set[i];
                if (set[i] && sim_pattern_weight(p, 0, i) < w1 && (w10 == 0 || sim_pattern_weight(p, 0, i) < w10)) {
                        w10 = sim_pattern_weight(p, 0, i);
                        page10 = i;
                }
        }
        check_u64(n, 10);
        check(page10 != page1);
        check(near(w1 / w10, pow(10, 0.9), 1e-9));
        {
                double sum = 0;

                for (unsigned r = 1; r <= 10; r++)
                        sum += pow(r, -0.9) / harmonic;
                check(near(mass, sum, 1e-12));
        }
        /* scattered: the top 10 ranks are not the first 10 pages */
        check(!(set[0] && set[1] && set[2] && set[3] && set[4] && set[5] && set[6] && set[7] && set[8] && set[9]));
        /* the whole RAM as the hot set: a permutation covers every page once */
        check(near(sim_pattern_hot_set(p, 0, 1000, set), 1, 1e-9));
        for (uint64_t i = 0; i < 1000; i++)
                check_int(set[i], 1);
        /* coverage by mass: all of it, none, or just the rank-1 page */
        check(near(sim_pattern_coverage(p, 0, 10, set), 1, 1e-12));
        memset(set, 0, 1000);
        check(near(sim_pattern_coverage(p, 0, 10, set), 0, 1e-12));
        set[page1] = 1;
        check(near(sim_pattern_coverage(p, 0, 10, set), w1 / mass, 1e-12));
        check_int(sim_pattern_phase(p, 1000), 0);
}

/* The hot window: its share, 2 MiB alignment, a new place per phase, the same within one. */
static void test_hotset(void) {
        SimPatternSpec spec = { .kind = SIM_PATTERN_HOTSET, .pages = 8192, .hot_pages = 1024, .hot_share = 0.9, .shift_every = 10, .seed = 3 };
        _cleanup_(sim_pattern_freep) SimPattern *p = NULL;
        _cleanup_free_ uint8_t *a = xcalloc(8192, 1), *b = xcalloc(8192, 1), *c = xcalloc(8192, 1);
        double mass;
        int64_t start = -1;

        check_int(sim_pattern_new(&spec, &p), 0);
        check(near(weight_sum(p, 0), 1, 1e-9));
        mass = sim_pattern_hot_set(p, 0, 1024, a);
        check(near(mass, 0.9 + 0.1 * 1024 / 8192.0, 1e-12));
        for (uint64_t i = 0; i < 8192; i++)
                if (a[i] && start < 0)
                        start = (int64_t) i;
        check(start >= 0 && start % 512 == 0);
        for (uint64_t i = 0; i < 8192; i++)
                check_int(a[i], i >= (uint64_t) start && i < (uint64_t) start + 1024);
        (void) sim_pattern_hot_set(p, 9, 1024, b);
        check(memcmp(a, b, 8192) == 0);
        check_int(sim_pattern_phase(p, 9), 0);
        check_int(sim_pattern_phase(p, 10), 1);
        check_int(sim_pattern_phase_start(p, 3), 30);
        /* phases 1..4: at least one lands elsewhere (each is a fresh draw of 15 offsets) */
        bool moved = false;
        for (unsigned ph = 1; ph <= 4; ph++) {
                (void) sim_pattern_hot_set(p, ph * 10, 1024, c);
                moved = moved || memcmp(a, c, 8192) != 0;
        }
        check(moved);
        /* a hot set bigger than the window takes cold pages too, at their weight */
        mass = sim_pattern_hot_set(p, 0, 2048, b);
        check(near(mass, 0.9 + 0.1 * 2048 / 8192.0, 1e-12));
        for (uint64_t i = 0; i < 8192; i++)
                check(!a[i] || b[i]);
        /* coverage by mass: the window on DRAM, the extra cold pages not */
        check(near(sim_pattern_coverage(p, 0, 2048, a), (0.9 + 0.1 * 1024 / 8192.0) / mass, 1e-12));

        /* scattered: 1024 distinct pages, not one window */
        _cleanup_(sim_pattern_freep) SimPattern *q = NULL;
        uint64_t n = 0, runs = 0;

        spec.scattered = true;
        check_int(sim_pattern_new(&spec, &q), 0);
        (void) sim_pattern_hot_set(q, 0, 1024, c);
        for (uint64_t i = 0; i < 8192; i++) {
                n += c[i];
                runs += c[i] && (i == 0 || !c[i - 1]);
        }
        check_u64(n, 1024);
        check(runs > 100);
}

/* Counts: deterministic per cycle, A accesses a cycle on average, shared by weight. */
static void test_counts(void) {
        SimPatternSpec spec = { .kind = SIM_PATTERN_HOTSET, .pages = 4096, .hot_pages = 512, .hot_share = 0.8, .seed = 11 };
        _cleanup_(sim_pattern_freep) SimPattern *p = NULL;
        _cleanup_free_ uint32_t *x = xcalloc(4096, 4), *y = xcalloc(4096, 4);
        _cleanup_free_ uint8_t *hot = xcalloc(4096, 1);
        double total = 0, in_hot = 0, accesses = 2048;
        unsigned cycles = 200;

        check_int(sim_pattern_new(&spec, &p), 0);
        sim_pattern_counts(p, 5, accesses, x);
        sim_pattern_counts(p, 5, accesses, y);
        check(memcmp(x, y, 4096 * 4) == 0);
        sim_pattern_counts(p, 6, accesses, y);
        check(memcmp(x, y, 4096 * 4) != 0);
        (void) sim_pattern_hot_set(p, 0, 512, hot);
        for (unsigned c = 0; c < cycles; c++) {
                sim_pattern_counts(p, c, accesses, x);
                for (uint64_t i = 0; i < 4096; i++) {
                        total += x[i];
                        in_hot += hot[i] ? x[i] : 0;
                }
        }
        /* mean A per cycle within 4 standard errors; the hot share as the weights say */
        check(near(total / cycles, accesses, 4 * sqrt(accesses / cycles)));
        check(near(in_hot / total, 0.8 + 0.2 * 512 / 4096.0, 0.01));

        /* single draws follow the same weights */
        SimRng r;
        uint64_t n = 100000, h = 0;

        sim_rng_seed(&r, 1);
        for (uint64_t i = 0; i < n; i++)
                h += hot[sim_pattern_sample(p, 0, &r)];
        check(near((double) h / (double) n, 0.8 + 0.2 * 512 / 4096.0, 0.01));

        /* Zipf draws: the rank-1 page as often as its weight says */
        SimPatternSpec zs = { .kind = SIM_PATTERN_ZIPF, .pages = 2048, .zipf_s = 1.2, .seed = 2 };
        _cleanup_(sim_pattern_freep) SimPattern *z = NULL;
        uint64_t top = 0, top_page = 0;
        double w;

        check_int(sim_pattern_new(&zs, &z), 0);
        w = sim_pattern_hot_set(z, 0, 1, hot);
        for (uint64_t i = 0; i < 2048; i++)
                if (hot[i])
                        top_page = i;
        for (uint64_t i = 0; i < n; i++)
                top += sim_pattern_sample(z, 0, &r) == top_page;
        check(near((double) top / (double) n, w, 4 * sqrt(w / (double) n) + 0.002));
}

/* ---- trace files ---- */

static SimTraceFile *read_string(const char *text, int *ret, char **error) {
        FILE *f = fmemopen((void *) text, strlen(text), "r");
        SimTraceFile *t = NULL;

        check(f);
        *ret = sim_trace_file_read(f, &t, error);
        fclose(f);
        return t;
}

static void test_trace_file(void) {
        static const struct {
                const char *text, *error;
        } bad[] = {
                { "", "0: empty file" },
                { "vtism-trace 2\n", "1: not a vtism trace" },
                { "vtism-trace 1\ncycle\n", "2: pages must come before" },
                { "vtism-trace 1\npages 0\n", "2: pages: want" },
                { "vtism-trace 1\npages 10\npages 10\n", "3: pages given twice" },
                { "vtism-trace 1\npages 10\ngranule 8192\n", "3: granule: want" },
                { "vtism-trace 1\npages 10\n1 2\n", "3: accessed run outside a cycle" },
                { "vtism-trace 1\npages 10\ncycle\n9 2\n", "4: accessed run outside the pages" },
                { "vtism-trace 1\npages 10\ncycle\n4 2\n5 1\n", "5: accessed runs must ascend" },
                { "vtism-trace 1\npages 10\ncycle\n4 x\n", "4: unknown line" },
                { "vtism-trace 1\npages 10\nhot 8 5\n", "3: hot: want" },
                { "vtism-trace 1\npages 10\ncycle\nhot 1 1\n", "4: hot after the phase's first cycle" },
                { "vtism-trace 1\npages 10\ncycle\nphase\nphase\n", "5: phase without a cycle" },
                { "vtism-trace 1\npages 10\ncycle\nphase\n", "4: a phase without cycles at the end" },
                { "vtism-trace 1\n", "1: no pages line" },
        };
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        SimTraceWriter w;
        SimRun hot0 = { 2, 3 }, hot1 = { 10, 4 };
        _cleanup_free_ uint32_t *counts = xcalloc(16, 4);
        _cleanup_free_ uint8_t *in = xcalloc(16, 1);
        int r;

        /* round trip */
        check(f);
        check_int(sim_trace_writer_start(&w, f, 16, 4096, "two lines\nof notes"), 0);
        check_int(sim_trace_writer_phase(&w, &hot0, 1), 0);
        check_int(sim_trace_writer_run(&w, 0, 1), -EINVAL); /* no cycle yet */
        check_int(sim_trace_writer_cycle(&w), 0);
        check_int(sim_trace_writer_run(&w, 2, 3), 0);
        check_int(sim_trace_writer_run(&w, 4, 1), -EINVAL); /* overlaps */
        check_int(sim_trace_writer_run(&w, 15, 2), -EINVAL); /* outside */
        check_int(sim_trace_writer_run(&w, 8, 1), 0);
        check_int(sim_trace_writer_cycle(&w), 0);
        check_int(sim_trace_writer_phase(&w, &hot1, 1), 0);
        check_int(sim_trace_writer_cycle(&w), 0);
        check_int(sim_trace_writer_run(&w, 10, 4), 0);
        check_int(sim_trace_writer_cycle(&w), 0);
        check_int(sim_trace_writer_finish(&w), 0);
        fclose(f);
        {
                _cleanup_free_ char *error = NULL;
                _cleanup_(sim_trace_file_freep) SimTraceFile *t = read_string(buf, &r, &error);

                check_int(r, 0);
                check_u64(t->pages, 16);
                check_u64(t->granule_bytes, 4096);
                check_int(t->n_notes, 2);
                check_str(t->notes[1], "of notes");
                check_int(t->n_cycles, 4);
                check_int(t->n_phases, 2);
                check_int(t->phases[1].first_cycle, 2);
                check_int(sim_trace_file_phase(t, 1), 0);
                check_int(sim_trace_file_phase(t, 3), 1);
                sim_trace_file_counts(t, 0, counts);
                for (unsigned i = 0; i < 16; i++)
                        check_int(counts[i], (i >= 2 && i < 5) || i == 8);
                sim_trace_file_counts(t, 1, counts);
                for (unsigned i = 0; i < 16; i++)
                        check_int(counts[i], 0);
                sim_trace_file_counts(t, 2, counts);
                check_int(counts[10] + counts[13], 2);
                check_u64(sim_trace_file_hot_set(t, 0, in), 3);
                check_int(in[2] + in[3] + in[4], 3);
                check_u64(sim_trace_file_hot_set(t, 3, in), 4);
                check_int(in[2], 0);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *error = NULL;
                SimTraceFile *t = read_string(bad[i].text, &r, &error);

                if (r != -EINVAL || !error || strncmp(error, bad[i].error, strlen(bad[i].error)) != 0) {
                        fprintf(stderr, "case %zu: got %d \"%s\", want \"%s\"\n", i, r, error ?: "", bad[i].error);
                        check(false);
                }
                check(!t);
        }
        {
                _cleanup_free_ char *error = NULL;
                SimTraceFile *t = NULL;

                check_int(sim_trace_file_load("/nonexistent/trace", &t, &error), -ENOENT);
                check(error && strstr(error, "/nonexistent/trace"));
        }
}

/* A recording from heat bytes gives back exactly the granules the heat map was fed, 4 KiB and 2 MiB. */
static void test_trace_from_heat(void) {
        for (unsigned huge = 0; huge < 2; huge++) {
                uint64_t gran = huge ? HEATMAP_GRANULE_2M : HEATMAP_GRANULE_4K, n = huge ? 64 : 4096, per = gran / 4096;
                HeatRangeSpec spec = { .gpa = 0, .hva = UINT64_C(0x7f0000000000), .len_bytes = n * gran, .granule_bytes = gran };
                _cleanup_(heatmap_freep) HeatMap *h = NULL;
                _cleanup_free_ uint8_t *prev = xcalloc(n, 1), *truth = xcalloc(30 * n, 1);
                _cleanup_free_ uint32_t *counts = xcalloc(n * per, 4);
                _cleanup_free_ char *buf = NULL, *error = NULL;
                size_t size = 0;
                FILE *f = open_memstream(&buf, &size);
                SimTraceWriter w;
                SimRng r;
                int rr;

                check_int(heatmap_new(&spec, 1, NULL, &h), 0);
                check_int(sim_trace_writer_start(&w, f, n * per, gran, NULL), 0);
                sim_rng_seed(&r, 9 + huge);
                for (unsigned c = 0; c < 30; c++) {
                        const uint8_t *heat;
                        size_t ng;

                        check_int(heatmap_range(h, 0, NULL, &heat, &ng), 0);
                        memcpy(prev, heat, n);
                        heatmap_cycle_begin(h);
                        for (uint64_t g = 0; g < n; g++)
                                /* hot granules every cycle (to 255), the others now and then */
                                if (g < n / 8 || sim_rng_below(&r, 4) == 0) {
                                        truth[c * n + g] = 1;
                                        check_int(heatmap_sample_hva(h, spec.hva + g * gran, gran), 0);
                                }
                        check_int(heatmap_cycle_end(h), 0);
                        check_int(sim_trace_writer_cycle_from_heat(&w, prev, heat, n, HEATMAP_DECAY_PERCENT_DEFAULT, per), 0);
                }
                check_int(sim_trace_writer_cycle_from_heat(&w, prev, prev, n, 0, per), -EINVAL);
                check_int(sim_trace_writer_finish(&w), 0);
                fclose(f);
                _cleanup_(sim_trace_file_freep) SimTraceFile *t = read_string(buf, &rr, &error);

                check_int(rr, 0);
                check_int(t->n_cycles, 30);
                for (unsigned c = 0; c < 30; c++) {
                        sim_trace_file_counts(t, c, counts);
                        for (uint64_t p = 0; p < n * per; p++)
                                check_int(counts[p], truth[c * n + p / per]);
                }
        }
}

/* ---- the oracle ---- */

typedef struct OracleCase {
        const char *what;
        unsigned horizon;
        uint64_t budget, cap;
        uint32_t counts[3][6];       /* per cycle of the horizon, 6 pages */
        uint8_t before[6], after[6];
        int64_t moved;
} OracleCase;

/*
 * One VM of 6 pages, 4 KiB units. Pictures: counts per page for the cycles the oracle sees,
 * placement before -> after (1 = DRAM).
 */
static void test_oracle_cases(void) {
        static const OracleCase cases[] = {
                { "unlimited: the most accessed fill the cap", 1, 100, 2,
                  { { 5, 0, 3, 1, 0, 0 } }, { 0, 0, 0, 0, 0, 0 }, { 1, 0, 1, 0, 0, 0 }, 2 },
                { "budget 2: the one swap that gains most", 1, 2, 2,
                  { { 5, 0, 3, 1, 0, 0 } }, { 0, 1, 0, 1, 0, 0 }, { 1, 0, 0, 1, 0, 0 }, 2 },
                { "room is filled before swapping", 1, 3, 3,
                  { { 5, 0, 3, 1, 0, 0 } }, { 0, 1, 0, 0, 0, 0 }, { 1, 1, 1, 0, 0, 0 }, 2 },
                { "then swaps while they gain", 1, 100, 3,
                  { { 5, 0, 3, 1, 0, 0 } }, { 0, 1, 0, 0, 0, 0 }, { 1, 0, 1, 1, 0, 0 }, 4 },
                { "above the cap: the least valuable go", 1, 100, 1,
                  { { 5, 0, 3, 0, 0, 0 } }, { 1, 1, 1, 0, 0, 0 }, { 1, 0, 0, 0, 0, 0 }, 2 },
                { "nothing promoted without a future access", 1, 100, 6,
                  { { 0, 0, 0, 0, 0, 0 } }, { 0, 1, 0, 0, 0, 0 }, { 0, 1, 0, 0, 0, 0 }, 0 },
                { "equal value: the sooner next use wins (Belady)", 2, 100, 1,
                  { { 0, 1, 0, 0, 0, 0 }, { 1, 0, 0, 0, 0, 0 } }, { 0, 0, 0, 0, 0, 0 }, { 0, 1, 0, 0, 0, 0 }, 1 },
                { "equal value: no swap, it gains nothing", 2, 100, 1,
                  { { 0, 1, 0, 0, 0, 0 }, { 1, 0, 0, 0, 0, 0 } }, { 1, 0, 0, 0, 0, 0 }, { 1, 0, 0, 0, 0, 0 }, 0 },
                { "the horizon sums: 2 later beat 1 now", 3, 100, 1,
                  { { 1, 0, 0, 0, 0, 0 }, { 0, 1, 0, 0, 0, 0 }, { 0, 1, 0, 0, 0, 0 } }, { 1, 0, 0, 0, 0, 0 }, { 0, 1, 0, 0, 0, 0 }, 2 },
                { "budget below a swap: only what fits", 1, 1, 2,
                  { { 5, 4, 0, 0, 0, 0 } }, { 0, 0, 1, 1, 0, 0 }, { 0, 0, 1, 1, 0, 0 }, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const OracleCase *tc = &cases[i];
                _cleanup_(sim_oracle_freep) SimOracle *o = NULL;
                uint64_t pages = 6, cap = tc->cap, dram, total, want = 0, all = 0;
                unsigned unit = 1;
                int64_t moved;

                check_int(sim_oracle_new(&pages, &unit, 1, tc->horizon, &o), 0);
                memcpy(sim_oracle_on_dram(o, 0), tc->before, 6);
                for (unsigned k = 0; k < tc->horizon; k++) {
                        const uint32_t *c = tc->counts[k];

                        check_int(sim_oracle_push(o, &c), 0);
                }
                moved = sim_oracle_step(o, &cap, tc->budget);
                if (moved != tc->moved || memcmp(sim_oracle_on_dram(o, 0), tc->after, 6) != 0) {
                        fprintf(stderr, "oracle case '%s': moved %" PRId64 ", placement", tc->what, moved);
                        for (unsigned p = 0; p < 6; p++)
                                fprintf(stderr, " %u", sim_oracle_on_dram(o, 0)[p]);
                        fprintf(stderr, "\n");
                        check(false);
                }
                sim_oracle_hits(o, 0, &dram, &total);
                for (unsigned p = 0; p < 6; p++) {
                        all += tc->counts[0][p];
                        want += tc->after[p] ? tc->counts[0][p] : 0;
                }
                check_u64(dram, want);
                check_u64(total, all);
        }
}

/* Two VMs share the migration budget: the bigger gain per page moved goes first; THP units. */
static void test_oracle_pool(void) {
        uint64_t pages[2] = { 1024, 4 }, caps[2] = { 512, 1 };
        unsigned units[2] = { 512, 1 };
        _cleanup_(sim_oracle_freep) SimOracle *o = NULL;
        _cleanup_free_ uint32_t *c0 = xcalloc(1024, 4);
        uint32_t c1[4] = { 0, 0, 0, 3000 };
        const uint32_t *cs[2] = { c0, c1 };
        const SimOracleStats *st;

        /* VM 0: unit 1 (pages 512..1023) has 2 accesses a page = 1024 = 2 per page moved; VM 1: page 3 has
         * 3000 for 1 page. Budget 512: VM 1's fill (1 page) first, then VM 0's unit does not fit. */
        for (unsigned p = 512; p < 1024; p++)
                c0[p] = 2;
        check_int(sim_oracle_new(pages, units, 2, 1, &o), 0);
        check_int(sim_oracle_push(o, cs), 0);
        check_int(sim_oracle_push(o, cs), -ENOSPC);
        check_int(sim_oracle_step(o, caps, 512), 1);
        check_int(sim_oracle_on_dram(o, 1)[3], 1);
        check_int(sim_oracle_on_dram(o, 0)[600], 0);
        /* with 513 pages of budget both fit, and the 2 MiB unit moves whole */
        check_int(sim_oracle_step(o, caps, 513), 512);
        for (unsigned p = 0; p < 1024; p++)
                check_int(sim_oracle_on_dram(o, 0)[p], p >= 512);
        st = sim_oracle_stats(o);
        check_u64(st->promoted_pages, 513);
        check_u64(st->demoted_pages, 0);
        check_int(sim_oracle_held(o), 1);
        check_int(sim_oracle_pop(o), 0);
        check_int(sim_oracle_pop(o), -ENODATA);
        check_int(sim_oracle_step(o, caps, 1), -ENODATA);
        caps[1] = 5;
        check_int(sim_oracle_push(o, cs), 0);
        check_int(sim_oracle_step(o, caps, 1), -EINVAL);
        /* bad shapes */
        SimOracle *x = NULL;
        uint64_t odd = 1000;
        unsigned big = 512, one = 1;

        check_int(sim_oracle_new(&odd, &big, 1, 1, &x), -EINVAL);
        check_int(sim_oracle_new(&odd, &one, 1, 0, &x), -EINVAL);
        check_int(sim_oracle_new(&odd, &one, 1, SIM_ORACLE_HORIZON_MAX + 1, &x), -EINVAL);
        check(!x);
}

/* ---- hits, AMAT, convergence, report ---- */

static void test_model(void) {
        SimLatency l;
        SimTally t = {};
        SimConvergence c;
        uint32_t counts[4] = { 3, 1, 0, 6 };
        uint8_t on[4] = { 1, 0, 1, 0 }, set[4] = { 1, 1, 0, 0 };
        char buf[32];

        sim_latency_init(&l, 2.5);
        check(near(sim_amat_ns(&l, 1), 100, 1e-12));
        check(near(sim_amat_ns(&l, 0), 250, 1e-12));
        check(near(sim_amat_ns(&l, 0.8), 130, 1e-12));
        sim_latency_init(&l, 2);
        check(near(sim_amat_ns(&l, 0.5), 150, 1e-12));
        check(near(sim_tally_ratio(&t), 0, 0));
        sim_tally_add(&t, counts, on, 4);
        check_u64(t.dram, 3);
        check_u64(t.total, 10);
        check(near(sim_tally_ratio(&t), 0.3, 1e-12));
        check(near(sim_coverage(set, on, 4), 0.5, 1e-12));
        memset(set, 0, 4);
        check(near(sim_coverage(set, on, 4), 1, 0));

        /* phase 0 reaches 95 % at cycle 3, phase 1 (from cycle 10) at 12, phase 2 (from 20) never */
        static const double cov[] = { 0.1, 0.5, 0.9, 0.96, 0.99, 0.2, 0.97, 0.1, 0.5, 0.2,
                                      0.3, 0.8, 0.95, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99,
                                      0.2, 0.3, 0.4 };
        sim_convergence_init(&c, SIM_COVERAGE_GOAL);
        check_str(sim_format_t95(&c, buf, sizeof(buf)), "-");
        for (unsigned k = 0; k < ELEMENTSOF(cov); k++)
                sim_convergence_observe(&c, k, k / 10, k / 10 * 10, cov[k]);
        check_int(c.phases, 3);
        check_int(c.phases_reached, 2);
        check_int(c.first_cycles, 3);
        check_int(c.worst_cycles, 3);
        check(near(sim_convergence_mean(&c), 2.5, 1e-12));
        check_str(sim_format_t95(&c, buf, sizeof(buf)), "2.5 (2/3)");
        sim_convergence_init(&c, SIM_COVERAGE_GOAL);
        sim_convergence_observe(&c, 0, 0, 0, 0.1);
        check_str(sim_format_t95(&c, buf, sizeof(buf)), "never");
        check(sim_convergence_mean(&c) < 0);
        sim_convergence_observe(&c, 4, 0, 0, 1);
        check_str(sim_format_t95(&c, buf, sizeof(buf)), "4.0");
}

static void test_report(void) {
        static const char *const names[] = { "vtism", "it's an oracle" };
        _cleanup_free_ char *buf = NULL, *row = NULL;
        size_t size = 0, row_size = 0;
        FILE *f = open_memstream(&buf, &size), *g = open_memstream(&row, &row_size);
        SimSeries s;
        SimResult pol = { .tally = { 80, 100 }, .migrated_bytes = 3 * MIB }, orc = { .tally = { 90, 100 }, .migrated_bytes = MIB };

        sim_series_init(&s, names, 2);
        sim_series_add(&s, 0, (const double[]) { 0.25, 0.5 });
        sim_series_add(&s, 5, (const double[]) { 0.75, 1 });
        check_int(sim_series_write(&s, f), 0);
        check_int(sim_plot_script(f, &s, "a.dat", "a.png", "t", "x", "y", 0, 1), 0);
        fclose(f);
        check(strstr(buf, "# time vtism it's an oracle\n0 0.25 0.5\n5 0.75 1\n"));
        check(strstr(buf, "set output 'a.png'"));
        check(strstr(buf, "'a.dat' using 1:3 with lines lw 2 title 'it''s an oracle'"));
        check(strstr(buf, "set yrange [0:1]"));
        sim_series_done(&s);

        sim_convergence_init(&pol.conv, SIM_COVERAGE_GOAL);
        sim_convergence_init(&orc.conv, SIM_COVERAGE_GOAL);
        sim_report_header(g);
        sim_report_row(g, &(SimReportRow) { .name = "zipf", .policy = &pol, .oracle = &orc });
        fclose(g);
        /* hit 0.8 vs 0.9: 0.889; AMAT 130 ns at 2.5x, ratios 120/110, 130/115, 140/120; no prescient */
        check(strstr(row, "zipf"));
        check(strstr(row, " 0.8000  0.9000  0.889       -      -      -       - |"));
        check(strstr(row, "|  130.0  1.091  1.130  1.167      - |"));
        check(strstr(row, "|       3       1       - |"));
        check(strstr(row, "|          -          -          -\n"));
}

/* ---- the simulated host ---- */

/* Every block placement statement of the heat map holds for the truth (the ideal migrator's reports). */
static void check_blocks(const SimWorld *w, size_t v) {
        const HeatMap *h = sim_world_heat(w, v);
        const uint8_t *on = sim_world_on_dram(w, v);
        HeatRangeSpec spec;
        const uint8_t *heat;
        size_t n, nb = heatmap_range_n_blocks(h, 0);

        check_int(heatmap_range(h, 0, &spec, &heat, &n), 0);
        for (size_t b = 0; b < nb; b++) {
                HeatBlock hb;
                uint64_t first;

                check_int(heatmap_range_block(h, 0, b, &hb), 0);
                first = (hb.hva - spec.hva) >> 12;
                for (uint64_t p = first; p < first + hb.n_pages; p++) {
                        int node = on[p] ? SIM_NODE_DRAM : SIM_NODE_CXL;

                        if (hb.kind == HEAT_BLOCK_NODE)
                                check_int(node, hb.node);
                        if (hb.kind == HEAT_BLOCK_MIXED && node != hb.node)
                                check(heat[p] <= hb.ceiling);
                }
        }
}

static SimHostSpec host_spec(uint64_t dram_pages, uint64_t budget_pages) {
        SimHostSpec h = {
                .dram_pages = dram_pages,
                .cxl_pages = 1 << 20,
                .limits = { .budget_bytes = budget_pages << 12, .dram_min_free_percent = 5, .demotion_min_free_ratio = 10, .query_pages = 4096 },
        };

        heat_params_init_default(&h.heat);
        return h;
}

/* A 16 MiB VM, budget 4 MiB, all on CXL; its hot 2 MiB reach DRAM in the cycle their heat says so. */
static void test_world_converges(void) {
        SimHostSpec h = host_spec(1 << 16, 1 << 20);
        SimVmSpec vm = { .id = "t", .pages = 4096, .dram_budget_pages = 1024, .weight = 100 };
        _cleanup_(sim_world_freep) SimWorld *w = NULL;
        _cleanup_free_ uint32_t *counts = xcalloc(4096, 4);
        _cleanup_free_ uint8_t *none = xcalloc(4096, 1);
        const uint32_t *cs[1] = { counts };
        uint64_t on = 0;

        check_int(sim_world_new(&h, &vm, 1, &w), 0);
        check_int(sim_world_place(w, 0, none), 0);
        check_u64(sim_world_target_pages(w, 0), 1024);
        for (unsigned p = 1024; p < 1536; p++)
                counts[p] = 1;
        for (unsigned c = 1; c <= 4; c++) {
                check_int(sim_world_cycle(w, cs), 0);
                check_blocks(w, 0);
                on = 0;
                for (unsigned p = 1024; p < 1536; p++)
                        on += sim_world_on_dram(w, 0)[p];
                /* cycle 1: warming up; cycle 2: the hot pages read 60 and are promoted */
                check_u64(on, c < PLAN_WARMUP_CYCLES ? 0 : 512);
        }
        check_u64(sim_world_dram_pages(w, 0), 512);
        check_u64(sim_world_stats(w)->promoted_pages, 512);
        check_u64(sim_world_stats(w)->violations, 0);
        check(sim_world_last_plan(w) != NULL);
        check_int(sim_world_place(w, 0, none), -EBUSY);
}

/* Random accesses and a moving hot set over 60 cycles: the block placement stays true, THP moves whole. */
static void test_world_random(void) {
        for (unsigned thp = 0; thp < 2; thp++) {
                SimHostSpec h = host_spec(1 << 16, 2048);
                SimVmSpec vms[2] = {
                        { .id = "a", .pages = 8192, .dram_budget_pages = 2048, .weight = 300, .thp = thp },
                        { .id = "b", .pages = 4096, .dram_budget_pages = 2048, .weight = 100 },
                };
                SimPatternSpec ps[2] = {
                        { .kind = SIM_PATTERN_HOTSET, .pages = 8192, .hot_pages = 1536, .hot_share = 0.9, .shift_every = 15, .seed = 1 },
                        { .kind = SIM_PATTERN_ZIPF, .pages = 4096, .zipf_s = 1.0, .seed = 2 },
                };
                _cleanup_(sim_world_freep) SimWorld *w = NULL;
                SimPattern *p[2];
                uint32_t *counts[2];
                _cleanup_free_ uint8_t *half = xcalloc(8192, 1);

                check_int(sim_world_new(&h, vms, 2, &w), 0);
                for (unsigned v = 0; v < 2; v++) {
                        check_int(sim_pattern_new(&ps[v], &p[v]), 0);
                        counts[v] = xcalloc(vms[v].pages, 4);
                        memset(half, 0, 8192);
                        memset(half, 1, vms[v].pages / 4);
                        check_int(sim_world_place(w, v, half), 0);
                }
                for (unsigned c = 0; c < 60; c++) {
                        for (unsigned v = 0; v < 2; v++)
                                sim_pattern_counts(p[v], c, (double) vms[v].pages / 2, counts[v]);
                        check_int(sim_world_cycle(w, (const uint32_t *const *) counts), 0);
                        for (unsigned v = 0; v < 2; v++) {
                                check_blocks(w, v);
                                check(sim_world_dram_pages(w, v) <= MAX(sim_world_target_pages(w, v), vms[v].pages / 4));
                        }
                        for (size_t k = 0; thp && k < sim_world_last_plan(w)->n_moves; k++) {
                                const PlanMove *m = &sim_world_last_plan(w)->moves[k];

                                if (m->vm == 0)
                                        check(m->huge && m->n_pages == 512);
                        }
                }
                check_u64(sim_world_stats(w)->violations, 0);
                check(sim_world_stats(w)->promoted_pages > 0 && sim_world_stats(w)->demoted_pages > 0);
                for (unsigned v = 0; v < 2; v++) {
                        sim_pattern_free(p[v]);
                        free(counts[v]);
                }
        }
}

/* Targets by weight when DRAM is oversubscribed; bad specs. */
static void test_world_targets(void) {
        /* room for the VMs: 0.95 * 4000 - nothing else = 3800 pages, asks 4096 + 4096 at 3:1 */
        SimHostSpec h = host_spec(4000, 1 << 20);
        SimVmSpec vms[2] = {
                { .id = "a", .pages = 8192, .dram_budget_pages = 4096, .weight = 300 },
                { .id = "b", .pages = 8192, .dram_budget_pages = 4096, .weight = 100 },
        };
        uint64_t t[2];
        SimWorld *w = NULL;
        SimVmSpec bad = { .pages = 1000, .dram_budget_pages = 10, .weight = 1, .thp = true };

        check_int(sim_world_dram_targets(&h, vms, 2, t), 0);
        check_u64(t[0] + t[1], 3800);
        check_u64(t[0], 2850);
        check_int(sim_world_new(&h, &bad, 1, &w), -EINVAL);
        bad = (SimVmSpec) { .pages = 1000, .dram_budget_pages = 1001, .weight = 1 };
        check_int(sim_world_new(&h, &bad, 1, &w), -EINVAL);
        bad = (SimVmSpec) { .pages = 1000, .dram_budget_pages = 10, .weight = 0 };
        check_int(sim_world_new(&h, &bad, 1, &w), -EINVAL);
        check(!w);
        {
                _cleanup_(sim_world_freep) SimWorld *x = NULL;
                _cleanup_free_ uint8_t *all = xcalloc(8192, 1);

                memset(all, 1, 8192);
                check_int(sim_world_new(&h, vms, 1, &x), 0);
                check_int(sim_world_place(x, 0, all), -ENOSPC);
                check_int(sim_world_place(x, 1, all), -EINVAL);
        }
}

int main(void) {
        test_rng();
        test_pattern_errors();
        test_zipf();
        test_hotset();
        test_counts();
        test_trace_file();
        test_trace_from_heat();
        test_oracle_cases();
        test_oracle_pool();
        test_model();
        test_report();
        test_world_converges();
        test_world_random();
        test_world_targets();
        printf("test-sim: OK\n");
        return 0;
}
