/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * policy-sim — the REAL planner and heat map (linked: plan_compute(), heatmap_cycle_*) on
 * simulated access traces, with an ideal migrator (bench/lib/sim-world.h), against an oracle that
 * knows the future (bench/lib/sim-oracle.h) under the same DRAM targets and migration budget.
 * Prints numbers; never fails on them. See bench/README.md ("policy-sim") and --help.
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "sim-model.h"
#include "sim-oracle.h"
#include "sim-trace.h"
#include "sim-world.h"
#include "vtism/heatmap.h"
#include "vtism/macro.h"
#include "vtism/plan.h"
#include "vtism/util.h"

#define VMS_MAX 4
#define PAGES_PER_MIB 256u
#define PAGES_PER_GIB (UINT64_C(1) << 18)
static const unsigned horizons[] = { 1, 4, 16 };
#define N_HORIZONS ELEMENTSOF(horizons)

/* ---- knobs: what the sweeps vary; time is in seconds of the modelled host ---- */

typedef struct Knobs {
        double interval_s;        /* sample_interval_ms / 1000 */
        double density;           /* accesses per page per second (sets accesses per cycle) */
        unsigned decay;           /* heat_decay_percent */
        unsigned margin;          /* hysteresis margin (PlanLimits.margin_heat; 0 = PLAN_MARGIN_HEAT) */
        double edge;              /* z of the swap rule's noise margin at the edge (PlanLimits.swap_edge_z10 / 10); 0: none */
        unsigned mass;            /* PlanLimits.swap_mass_div (0 = PLAN_SWAP_MASS_DIV) */
        double rate_mibps;        /* migrate_rate_limit_mbps, for a VM of model_gib */
        double query_pages;       /* the migrator's query pages per cycle, for a VM of model_gib */
        double model_gib;         /* the simulated VM stands for one of this size: budgets scale */
        double duration_s;
        double shift_s;           /* the hot set moves this often (shifting traces) */
} Knobs;

static const Knobs knobs_default = {
        .interval_s = 5,
        .density = 0.2,
        .decay = HEATMAP_DECAY_PERCENT_DEFAULT,
        .margin = 0,
        .edge = PLAN_SWAP_EDGE_Z10 / 10.0,
        .rate_mibps = 256,
        .query_pages = 16384,
        .model_gib = 1,
        .duration_s = 800,
        .shift_s = 200,
};

/* ---- scenarios ---- */

typedef struct VmSetup {
        const char *name;
        SimPatternSpec pattern;       /* pages, kind, ...; pattern.pages = 0: from the trace file */
        double budget_share;          /* DRAM budget / RAM */
        unsigned weight;
        bool thp;
} VmSetup;

typedef struct Scenario {
        const char *name;
        VmSetup vm[VMS_MAX];
        size_t n_vms;
        double dram_room_share;       /* DRAM for VMs / their RAM; 0: plenty */
        const SimTraceFile *trace;    /* replay instead of patterns (one VM) */
        double trace_interval_s;
} Scenario;

/* Per VM, and the whole ([n_vms]): the planner, the future-knowing oracle (best of its horizons),
 * the prescient placement (true probabilities, same budget) and first touch (no tiering). */
typedef struct Outcome {
        SimResult policy[VMS_MAX + 1], oracle[VMS_MAX + 1], prescient[VMS_MAX + 1], first_touch[VMS_MAX + 1];
        unsigned best_horizon;
        uint64_t violations, queried_pages, in_place_pages;
        double seconds;
        SimSeries series;             /* coverage over time of VM 0, one column per contender */
        uint64_t target_pages[VMS_MAX];
} Outcome;

typedef struct Args {
        uint64_t pages;
        uint64_t seed;
        bool quick, verbose;
        const char *plots_dir;
        const char *replay[8];
        size_t n_replay;
        double replay_interval_s;
        const char *command;
        const char *knob;
        const char *only;
} Args;

static Args arg;

static double now_sec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static SimPatternSpec zipf(uint64_t pages, double s) {
        return (SimPatternSpec) { .kind = SIM_PATTERN_ZIPF, .pages = pages, .zipf_s = s, .seed = arg.seed };
}

static SimPatternSpec hot_window(uint64_t pages, double share_of_ram, bool scattered, bool shifting) {
        return (SimPatternSpec) {
                .kind = SIM_PATTERN_HOTSET,
                .pages = pages,
                .hot_pages = (uint64_t) ((double) pages * share_of_ram) / 512 * 512,
                .hot_share = 0.9,
                .scattered = scattered,
                .shift_every = shifting ? 1 : 0, /* set from the knobs per run */
                .seed = arg.seed,
        };
}

static size_t build_scenarios(Scenario *sc, size_t max) {
        uint64_t n = arg.pages;
        size_t k = 0;

        sc[k++] = (Scenario) { .name = "uniform", .n_vms = 1,
                .vm = { { "vm", { .kind = SIM_PATTERN_UNIFORM, .pages = n, .seed = arg.seed }, 0.25, 100, false } } };
        static const double skews[] = { 0.6, 0.9, 1.0, 1.2 };
        static const char *const zipf_names[] = { "zipf s=0.6", "zipf s=0.9", "zipf s=1.0", "zipf s=1.2" };
        for (size_t i = 0; i < ELEMENTSOF(skews); i++)
                sc[k++] = (Scenario) { .name = zipf_names[i], .n_vms = 1, .vm = { { "vm", zipf(n, skews[i]), 0.25, 100, false } } };
        sc[k++] = (Scenario) { .name = "zipf s=0.9 THP", .n_vms = 1, .vm = { { "vm", zipf(n, 0.9), 0.25, 100, true } } };
        sc[k++] = (Scenario) { .name = "shifting window", .n_vms = 1,
                .vm = { { "vm", hot_window(n, 0.2, false, true), 0.25, 100, false } } };
        sc[k++] = (Scenario) { .name = "shifting scattered", .n_vms = 1,
                .vm = { { "vm", hot_window(n, 0.2, true, true), 0.25, 100, false } } };
        sc[k++] = (Scenario) { .name = "shifting window THP", .n_vms = 1,
                .vm = { { "vm", hot_window(n, 0.2, false, true), 0.25, 100, true } } };
        sc[k++] = (Scenario) {
                .name = "multi-VM mix", .n_vms = 3, .dram_room_share = 0.4,
                .vm = {
                        { "a zipf0.9 w300", zipf(n / 2, 0.9), 0.5, 300, false },
                        { "b shifting w100", hot_window(n / 2, 0.2, false, true), 0.5, 100, false },
                        { "c uniform w100", { .kind = SIM_PATTERN_UNIFORM, .pages = n / 4, .seed = arg.seed + 7 }, 1.0, 100, false },
                },
        };
        for (size_t i = 0; i < k; i++)
                for (size_t v = 0; v < sc[i].n_vms; v++)
                        sc[i].vm[v].pattern.seed += v * 1000;
        assert(k <= max);
        return k;
}

/* ---- one run ---- */

typedef struct Source {
        SimPattern *pattern;
        const SimTraceFile *trace;
        uint64_t pages;
} Source;

static unsigned source_phase(const Source *s, unsigned cycle) {
        return s->pattern ? sim_pattern_phase(s->pattern, cycle) : sim_trace_file_phase(s->trace, cycle);
}

static unsigned source_phase_start(const Source *s, unsigned phase) {
        return s->pattern ? sim_pattern_phase_start(s->pattern, phase) : s->trace->phases[phase].first_cycle;
}

static void source_counts(const Source *s, unsigned cycle, double accesses, uint32_t *counts) {
        if (s->pattern)
                sim_pattern_counts(s->pattern, cycle, accesses, counts);
        else
                sim_trace_file_counts(s->trace, cycle, counts);
}

/* the true hot set of n pages (trace files: the recorded windows, at most n pages of them) */
static void source_hot_set(const Source *s, unsigned cycle, uint64_t n, uint8_t *in_set) {
        if (s->pattern) {
                (void) sim_pattern_hot_set(s->pattern, cycle, n, in_set);
                return;
        }
        (void) sim_trace_file_hot_set(s->trace, cycle, in_set);
        for (uint64_t p = 0, k = 0; p < s->pages; p++)
                if (in_set[p] && ++k > n)
                        in_set[p] = 0;
}

static double source_coverage(const Source *s, unsigned cycle, uint64_t n, const uint8_t *in_set, const uint8_t *on_dram) {
        if (s->pattern)
                return sim_pattern_coverage(s->pattern, cycle, n, on_dram);
        return sim_coverage(in_set, on_dram, s->pages);
}

static uint64_t cycle_budget_pages(const Knobs *k, uint64_t total_pages) {
        double model_pages = k->model_gib * (double) PAGES_PER_GIB, scale = (double) total_pages / model_pages;

        if (k->rate_mibps <= 0)
                return UINT64_C(1) << 40;
        return (uint64_t) (k->rate_mibps * PAGES_PER_MIB * k->interval_s * scale);
}

/* Expected accesses per page for the prescient placement: the phase's weights (trace files: the
 * recorded hot set), scaled to integers. */
static void source_expected(const Source *s, unsigned cycle, double *w, uint8_t *in_set, uint32_t *out) {
        if (s->pattern) {
                sim_pattern_weights(s->pattern, cycle, w);
                for (uint64_t p = 0; p < s->pages; p++)
                        out[p] = (uint32_t) llround(w[p] * (double) (UINT32_C(1) << 24));
                return;
        }
        (void) sim_trace_file_hot_set(s->trace, cycle, in_set);
        for (uint64_t p = 0; p < s->pages; p++)
                out[p] = in_set[p] ? 1000 : 0;
}

enum { C_POLICY, C_ORACLE, C_PRESCIENT, C_FIRST_TOUCH, _C_MAX };

static void result_observe(SimResult *r, const uint32_t *counts, const uint8_t *on_dram, uint64_t pages, bool steady,
                           unsigned cycle, unsigned phase, unsigned start, double coverage) {
        sim_tally_add(&r->tally, counts, on_dram, pages);
        if (steady)
                sim_tally_add(&r->steady, counts, on_dram, pages);
        sim_convergence_observe(&r->conv, cycle, phase, start, coverage);
}

static void result_add(SimResult *sum, const SimResult *r) {
        sum->tally.dram += r->tally.dram;
        sum->tally.total += r->tally.total;
        sum->steady.dram += r->steady.dram;
        sum->steady.total += r->steady.total;
        sum->migrated_bytes += r->migrated_bytes;
}

static void run(const Scenario *sc, const Knobs *k, bool with_oracle, Outcome *out) {
        static const char *const names[_C_MAX] = { "vtism planner", "oracle (future accesses)", "prescient (true probabilities)",
                                                   "first touch (no tiering)" };
        size_t n = sc->n_vms;
        Source src[VMS_MAX] = {};
        SimVmSpec specs[VMS_MAX];
        SimHostSpec host = {};
        _cleanup_(sim_world_freep) SimWorld *w = NULL;
        SimOracle *oracles[N_HORIZONS] = {}, *prescient = NULL;
        SimResult ores[N_HORIZONS][VMS_MAX] = {};
        SimSeries oseries[N_HORIZONS];
        uint64_t vm_pages[VMS_MAX], caps[VMS_MAX], budget, max_pages = 0, total_pages = 0;
        unsigned units[VMS_MAX], hmax = 1, cycles, slots;
        uint8_t *first_touch[VMS_MAX], *in_set[VMS_MAX];
        uint32_t **ring, *expected[VMS_MAX];
        double *weights, interval = sc->trace ? sc->trace_interval_s : k->interval_s, t0 = now_sec();

        *out = (Outcome) {};
        for (size_t v = 0; v < n; v++) {
                const VmSetup *vs = &sc->vm[v];

                if (sc->trace)
                        src[v] = (Source) { .trace = sc->trace, .pages = sc->trace->pages };
                else {
                        SimPatternSpec ps = vs->pattern;

                        if (ps.kind == SIM_PATTERN_HOTSET && ps.shift_every > 0)
                                ps.shift_every = MAX(1u, (unsigned) lround(k->shift_s / interval));
                        if (sim_pattern_new(&ps, &src[v].pattern) < 0)
                                abort();
                        src[v].pages = ps.pages;
                }
                vm_pages[v] = src[v].pages - (vs->thp ? src[v].pages % 512 : 0);
                specs[v] = (SimVmSpec) {
                        .id = vs->name,
                        .pages = vm_pages[v],
                        .dram_budget_pages = (uint64_t) ((double) vm_pages[v] * vs->budget_share),
                        .weight = vs->weight,
                        .thp = vs->thp,
                };
                units[v] = vs->thp ? 512 : 1;
                total_pages += vm_pages[v];
                max_pages = MAX(max_pages, src[v].pages);
        }
        cycles = sc->trace ? sc->trace->n_cycles : (unsigned) lround(k->duration_s / interval);
        budget = cycle_budget_pages(k, total_pages);

        heat_params_init_default(&host.heat);
        host.heat.decay_percent = k->decay;
        host.cxl_pages = 2 * total_pages;
        host.dram_pages = sc->dram_room_share > 0 ? (uint64_t) ((double) total_pages * sc->dram_room_share / 0.95) + 1 : 2 * total_pages;
        host.limits = (PlanLimits) {
                .budget_bytes = budget << 12,
                .dram_min_free_percent = 5,
                .demotion_min_free_ratio = 10,
                /* at least one 2 MiB block: the planner queries whole blocks */
                .query_pages = (uint64_t) MAX(512.0, k->query_pages * (double) total_pages / (k->model_gib * (double) PAGES_PER_GIB)),
                .margin_heat = k->margin,
                .swap_edge_z10 = k->edge <= 0 ? PLAN_SWAP_EDGE_OFF : (unsigned) (k->edge * 10 + 0.5),
                .swap_mass_div = k->mass,
        };
        if (sim_world_new(&host, specs, n, &w) < 0 || sim_world_dram_targets(&host, specs, n, caps) < 0)
                abort();

        /* first touch: each VM's lowest addresses fill its DRAM target; every contender starts there */
        for (size_t v = 0; v < n; v++) {
                first_touch[v] = xcalloc(max_pages, 1);
                in_set[v] = xcalloc(max_pages, 1);
                expected[v] = xcalloc(max_pages, sizeof(uint32_t));
                memset(first_touch[v], 1, caps[v]);
                if (sim_world_place(w, v, first_touch[v]) < 0)
                        abort();
                out->target_pages[v] = caps[v];
                sim_convergence_init(&out->policy[v].conv, SIM_COVERAGE_GOAL);
                sim_convergence_init(&out->prescient[v].conv, SIM_COVERAGE_GOAL);
                sim_convergence_init(&out->first_touch[v].conv, SIM_COVERAGE_GOAL);
        }
        weights = xcalloc(max_pages, sizeof(double));
        if (sim_oracle_new(vm_pages, units, n, 1, &prescient) < 0)
                abort();
        for (size_t v = 0; v < n; v++)
                memcpy(sim_oracle_on_dram(prescient, v), first_touch[v], vm_pages[v]);
        for (size_t h = 0; with_oracle && h < N_HORIZONS; h++) {
                if (sim_oracle_new(vm_pages, units, n, horizons[h], &oracles[h]) < 0)
                        abort();
                for (size_t v = 0; v < n; v++) {
                        memcpy(sim_oracle_on_dram(oracles[h], v), first_touch[v], vm_pages[v]);
                        sim_convergence_init(&ores[h][v].conv, SIM_COVERAGE_GOAL);
                }
                sim_series_init(&oseries[h], names + C_ORACLE, 1);
                hmax = MAX(hmax, horizons[h]);
        }
        sim_series_init(&out->series, names, _C_MAX);

        /* the counts of cycles c .. c + hmax - 1 */
        slots = hmax;
        ring = xcalloc(slots * n, sizeof(uint32_t *));
        for (unsigned i = 0; i < slots * n; i++)
                ring[i] = xcalloc(max_pages, sizeof(uint32_t));
#define RING(c, v) ring[((c) % slots) * n + (v)]
        for (unsigned c = 0; c < MIN(slots, cycles); c++)
                for (size_t v = 0; v < n; v++)
                        source_counts(&src[v], c, k->density * interval * (double) vm_pages[v], RING(c, v));

        for (unsigned c = 0; c < cycles; c++) {
                const uint32_t *counts[VMS_MAX];
                double cov[_C_MAX] = {};
                bool steady = c >= cycles / 2;

                for (size_t v = 0; v < n; v++) {
                        counts[v] = RING(c, v);
                        source_expected(&src[v], c, weights, in_set[v], expected[v]);
                }
                /* the prescient placement moves before the cycle, knowing its probabilities */
                (void) sim_oracle_push(prescient, (const uint32_t *const *) expected);
                if (sim_oracle_step(prescient, caps, budget) < 0)
                        abort();
                for (size_t v = 0; v < n; v++) {
                        unsigned phase = source_phase(&src[v], c), start = source_phase_start(&src[v], phase);
                        const uint8_t *place[_C_MAX] = { sim_world_on_dram(w, v), NULL, sim_oracle_on_dram(prescient, v), first_touch[v] };
                        SimResult *res[_C_MAX] = { &out->policy[v], NULL, &out->prescient[v], &out->first_touch[v] };

                        source_hot_set(&src[v], c, caps[v], in_set[v]);
                        for (unsigned x = 0; x < _C_MAX; x++) {
                                double cv;

                                if (!res[x])
                                        continue;
                                cv = source_coverage(&src[v], c, caps[v], in_set[v], place[x]);
                                result_observe(res[x], counts[v], place[x], vm_pages[v], steady, c, phase, start, cv);
                                if (v == 0)
                                        cov[x] = cv;
                        }
                }
                (void) sim_oracle_pop(prescient);
                for (size_t h = 0; with_oracle && h < N_HORIZONS; h++) {
                        SimOracle *o = oracles[h];
                        double oc = 0;

                        while (sim_oracle_held(o) < horizons[h] && c + sim_oracle_held(o) < cycles) {
                                const uint32_t *fc[VMS_MAX];

                                for (size_t v = 0; v < n; v++)
                                        fc[v] = RING(c + sim_oracle_held(o), v);
                                (void) sim_oracle_push(o, fc);
                        }
                        if (sim_oracle_step(o, caps, budget) < 0)
                                abort();
                        for (size_t v = 0; v < n; v++) {
                                unsigned phase = source_phase(&src[v], c);
                                double cv;

                                source_hot_set(&src[v], c, caps[v], in_set[v]);
                                cv = source_coverage(&src[v], c, caps[v], in_set[v], sim_oracle_on_dram(o, v));
                                result_observe(&ores[h][v], counts[v], sim_oracle_on_dram(o, v), vm_pages[v], steady, c, phase,
                                               source_phase_start(&src[v], phase), cv);
                                if (v == 0)
                                        oc = cv;
                        }
                        sim_series_add(&oseries[h], c * interval, &oc);
                        (void) sim_oracle_pop(o);
                }

                if (sim_world_cycle(w, counts) < 0)
                        abort();
                sim_series_add(&out->series, c * interval, cov);
                if (arg.verbose) {
                        const Plan *p = sim_world_last_plan(w);

                        printf("  %s cycle %3u: coverage %.3f, DRAM %" PRIu64 " pages, moved %" PRIu64 "+%" PRIu64 " pages, %zu queries: %s\n",
                               sc->name, c, cov[C_POLICY], sim_world_dram_pages(w, 0), p->promote_bytes >> 12, p->demote_bytes >> 12,
                               p->n_queries, p->vms[0].reason);
                }
                /* the cycle leaving the ring is replaced by the one hmax ahead */
                if (c + slots < cycles)
                        for (size_t v = 0; v < n; v++)
                                source_counts(&src[v], c + slots, k->density * interval * (double) vm_pages[v], RING(c + slots, v));
        }
#undef RING

        const SimWorldStats *st = sim_world_stats(w);
        out->violations = st->violations;
        out->queried_pages = st->queried_pages;
        out->in_place_pages = st->in_place_pages;
        for (size_t v = 0; v < n; v++) {
                out->policy[v].migrated_bytes = sim_world_moved_pages(w, v) << 12;
                out->prescient[v].migrated_bytes = sim_oracle_moved_pages(prescient, v) << 12;
        }
        if (with_oracle) {
                size_t best = 0;
                uint64_t best_hits = 0;

                for (size_t h = 0; h < N_HORIZONS; h++) {
                        uint64_t hits = 0;

                        for (size_t v = 0; v < n; v++)
                                hits += ores[h][v].tally.dram;
                        if (h == 0 || hits > best_hits) {
                                best = h;
                                best_hits = hits;
                        }
                }
                out->best_horizon = horizons[best];
                for (size_t v = 0; v < n; v++) {
                        out->oracle[v] = ores[best][v];
                        out->oracle[v].migrated_bytes = sim_oracle_moved_pages(oracles[best], v) << 12;
                }
                for (size_t row = 0; row < out->series.n_rows && row < oseries[best].n_rows; row++)
                        out->series.rows[row * (1 + _C_MAX) + 1 + C_ORACLE] = oseries[best].rows[row * 2 + 1];
                for (size_t h = 0; h < N_HORIZONS; h++) {
                        sim_oracle_free(oracles[h]);
                        sim_series_done(&oseries[h]);
                }
        }
        sim_convergence_init(&out->policy[n].conv, SIM_COVERAGE_GOAL);
        sim_convergence_init(&out->oracle[n].conv, SIM_COVERAGE_GOAL);
        sim_convergence_init(&out->prescient[n].conv, SIM_COVERAGE_GOAL);
        for (size_t v = 0; v < n; v++) {
                result_add(&out->policy[n], &out->policy[v]);
                result_add(&out->oracle[n], &out->oracle[v]);
                result_add(&out->prescient[n], &out->prescient[v]);
                result_add(&out->first_touch[n], &out->first_touch[v]);
                free(first_touch[v]);
                free(in_set[v]);
                free(expected[v]);
                sim_pattern_free(src[v].pattern);
        }
        sim_oracle_free(prescient);
        free(weights);
        for (unsigned i = 0; i < slots * n; i++)
                free(ring[i]);
        free(ring);
        out->seconds = now_sec() - t0;
}

static void outcome_done(Outcome *o) {
        sim_series_done(&o->series);
}

/* ---- reports ---- */

static double ratio(const SimTally *a, const SimTally *b) {
        double x = sim_tally_ratio(a), y = sim_tally_ratio(b);

        return y > 0 ? x / y : 0;
}

static void print_row(const char *name, const Outcome *o, size_t v, bool has_t95) {
        SimReportRow row = {
                .name = name,
                .policy = &o->policy[v],
                .oracle = &o->oracle[v],
                .prescient = &o->prescient[v],
                .first_touch = &o->first_touch[v],
                .t95 = has_t95,
        };

        sim_report_row(stdout, &row);
}

static void print_outcome(const Scenario *sc, const Outcome *o) {
        bool t95 = sc->trace || sc->vm[0].pattern.kind != SIM_PATTERN_UNIFORM;

        if (sc->n_vms == 1) {
                print_row(sc->name, o, 0, t95);
                return;
        }
        for (size_t v = 0; v < sc->n_vms; v++) {
                char name[64];

                snprintf(name, sizeof(name), "%s: %s", sc->name, sc->vm[v].name);
                print_row(name, o, v, sc->vm[v].pattern.kind != SIM_PATTERN_UNIFORM);
        }
        print_row("multi-VM mix: all", o, sc->n_vms, false);
}

static int write_plot(const char *dir, const char *slug, const char *title, const SimSeries *s) {
        _cleanup_free_ char *dat = xasprintf("%s/%s.dat", dir, slug), *gp = xasprintf("%s/%s.gp", dir, slug);
        _cleanup_free_ char *dat_name = xasprintf("%s.dat", slug);
        _cleanup_free_ char *png_name = xasprintf("%s.png", slug);
        _cleanup_fclose_ FILE *fd = fopen(dat, "we"), *fg = NULL;
        int r;

        if (!fd)
                return -errno;
        r = sim_series_write(s, fd);
        if (r < 0)
                return r;
        fg = fopen(gp, "we");
        if (!fg)
                return -errno;
        /* paths relative to the directory: run gnuplot there */
        r = sim_plot_script(fg, s, dat_name, png_name, title, "time (s)", "hot set on DRAM (by accesses)", 0, 1.02);
        if (r < 0)
                return r;
        return 0;
}

static void slugify(const char *name, char *buf, size_t size) {
        size_t k = 0;

        for (const char *c = name; *c && k + 1 < size; c++) {
                char ch = *c;

                if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
                        buf[k++] = ch;
                else if (ch >= 'A' && ch <= 'Z')
                        buf[k++] = (char) (ch - 'A' + 'a');
                else if (k > 0 && buf[k - 1] != '-')
                        buf[k++] = '-';
        }
        while (k > 0 && buf[k - 1] == '-')
                k--;
        buf[k] = 0;
}

static void print_knobs(const Knobs *k, uint64_t pages) {
        printf("knobs: sample interval %.1f s, %.2f accesses per page per second (%.2f per page per cycle), heat decay %u %%, "
               "margin %u, rate limit %.0f MiB/s and %.0f query pages per cycle for a %.0f GiB VM (this one: %.0f MiB: %" PRIu64
               " pages a cycle), %.0f s, hot sets shift every %.0f s\n",
               k->interval_s, k->density, k->density * k->interval_s, k->decay, k->margin ? k->margin : PLAN_MARGIN_HEAT,
               k->rate_mibps, k->query_pages, k->model_gib, (double) pages / PAGES_PER_MIB, cycle_budget_pages(k, pages),
               k->duration_s, k->shift_s);
}

static void table(const Knobs *k, Scenario *sc, size_t n_sc) {
        print_knobs(k, arg.pages);
        printf("DRAM hit ratio over all cycles (steady: the second half); oracle: knows the future accesses, best of "
               "horizons {1, 4, 16} cycles; prescient: knows each phase's probabilities; both with the same DRAM targets "
               "and migration budget; first touch: no tiering. t95: cycles from a phase's start to 95 %% of its hot set "
               "(by accesses) on DRAM\n");
        sim_report_header(stdout);
        for (size_t i = 0; i < n_sc; i++) {
                Outcome o;

                if (arg.only && !streq(arg.only, sc[i].name))
                        continue;
                run(&sc[i], k, true, &o);
                print_outcome(&sc[i], &o);
                if (o.violations > 0)
                        printf("  !! %" PRIu64 " contract violations by the planner in %s\n", o.violations, sc[i].name);
                if (arg.verbose)
                        printf("  (%.1f s, oracle horizon %u, %" PRIu64 " pages queried, %" PRIu64 " found in place)\n", o.seconds,
                               o.best_horizon, o.queried_pages, o.in_place_pages);
                if (arg.plots_dir) {
                        char slug[64], title[160];
                        int r;

                        slugify(sc[i].name, slug, sizeof(slug));
                        snprintf(title, sizeof(title), "%s: hot set on DRAM over time (policy-sim, VM 0)", sc[i].name);
                        r = write_plot(arg.plots_dir, slug, title, &o.series);
                        if (r < 0)
                                fprintf(stderr, "policy-sim: cannot write the plot data of %s to %s: %s\n", sc[i].name,
                                        arg.plots_dir, strerror(-r));
                }
                fflush(stdout);
                outcome_done(&o);
        }
}

/* ---- sweeps ---- */

typedef struct Sweep {
        const char *knob;
        double values[8];
        size_t n_values;
} Sweep;

static const Sweep sweeps[] = {
        { "interval", { 1, 2.5, 5, 10, 20 }, 5 },
        { "density", { 0.05, 0.2, 0.8, 3.2 }, 4 },
        { "decay", { 6, 12, 25, 50 }, 4 },
        { "margin", { 16, 32, 48, 64, 96 }, 5 },
        { "edge", { 0, 1, 2, 3, 4 }, 5 },
        { "mass", { 4, 16, 64, 256 }, 4 },
        { "rate", { 64, 256, 1024, 0 }, 4 },
        { "query", { 4096, 16384, 65536, 262144 }, 4 },
        { "model", { 1, 4, 16, 64 }, 4 },
};

static void set_knob(Knobs *k, const char *knob, double v) {
        if (streq(knob, "interval"))
                k->interval_s = v;
        else if (streq(knob, "density"))
                k->density = v;
        else if (streq(knob, "decay"))
                k->decay = (unsigned) v;
        else if (streq(knob, "margin"))
                k->margin = (unsigned) v;
        else if (streq(knob, "edge"))
                k->edge = v;
        else if (streq(knob, "mass"))
                k->mass = (unsigned) v;
        else if (streq(knob, "rate"))
                k->rate_mibps = v;
        else if (streq(knob, "query"))
                k->query_pages = v;
        else if (streq(knob, "model"))
                k->model_gib = v;
}

typedef struct OracleMemo {
        const Scenario *sc;
        Knobs k;
        Outcome o;
} OracleMemo;

static bool oracle_knobs_equal(const Knobs *a, const Knobs *b) {
        return a->interval_s == b->interval_s && a->density == b->density && a->rate_mibps == b->rate_mibps &&
               a->model_gib == b->model_gib && a->duration_s == b->duration_s && a->shift_s == b->shift_s;
}

static void sweep(const Sweep *s, Scenario *sc, size_t n_sc) {
        static const char *const picked[] = { "zipf s=0.9", "zipf s=1.2", "shifting window", "shifting scattered" };
        OracleMemo memo[64];
        size_t n_memo = 0;

        printf("sweep of %s (other knobs at their defaults); cells: DRAM hit ratio of the policy over all cycles "
               "as a fraction of the prescient's, of the oracle's, MiB moved by the policy, mean time to 95 %% of the hot "
               "set on DRAM\n", s->knob);
        printf("%-22s", "trace");
        for (size_t i = 0; i < s->n_values; i++) {
                char h[32];

                snprintf(h, sizeof(h), "%s=%g", s->knob, s->values[i]);
                printf(" | %-26s", h);
        }
        printf("\n");
        for (size_t i = 0; i < n_sc; i++) {
                bool want = false;

                for (size_t j = 0; j < ELEMENTSOF(picked); j++)
                        want = want || streq(sc[i].name, picked[j]);
                if (!want)
                        continue;
                printf("%-22s", sc[i].name);
                for (size_t j = 0; j < s->n_values; j++) {
                        Knobs k = knobs_default;
                        Outcome o;
                        const Outcome *oo = NULL;
                        size_t last = sc[i].n_vms == 1 ? 0 : sc[i].n_vms;
                        char cell[64], t95[32];
                        double t;

                        set_knob(&k, s->knob, s->values[j]);
                        for (size_t m = 0; m < n_memo; m++)
                                if (memo[m].sc == &sc[i] && oracle_knobs_equal(&memo[m].k, &k))
                                        oo = &memo[m].o;
                        run(&sc[i], &k, !oo, &o);
                        if (!oo && n_memo < ELEMENTSOF(memo)) {
                                memo[n_memo] = (OracleMemo) { .sc = &sc[i], .k = k, .o = o };
                                memo[n_memo].o.series = (SimSeries) {};
                                oo = &memo[n_memo++].o;
                        } else if (!oo)
                                oo = &o;
                        t = sim_convergence_mean(&o.policy[0].conv);
                        if (t < 0)
                                snprintf(t95, sizeof(t95), "never");
                        else
                                snprintf(t95, sizeof(t95), "%.0fs", t * k.interval_s);
                        snprintf(cell, sizeof(cell), "%.3f %.3f %5.0fM %s", ratio(&o.policy[last].tally, &o.prescient[last].tally),
                                 ratio(&o.policy[last].tally, &oo->oracle[last].tally),
                                 (double) o.policy[last].migrated_bytes / (double) MIB, t95);
                        printf(" | %-26s", cell);
                        fflush(stdout);
                        outcome_done(&o);
                }
                printf("\n");
        }
}

/* ---- replay ---- */

static int replay(const char *path, const Knobs *k) {
        _cleanup_(sim_trace_file_freep) SimTraceFile *t = NULL;
        Knobs kk = *k;
        _cleanup_free_ char *error = NULL;
        Scenario sc;
        Outcome o;
        int r;

        r = sim_trace_file_load(path, &t, &error);
        if (r < 0) {
                fprintf(stderr, "policy-sim: %s\n", error ?: strerror(-r));
                return r;
        }
        sc = (Scenario) {
                .name = path,
                .n_vms = 1,
                .vm = { { "vm", { .pages = t->pages }, 0.25, 100, false } },
                .trace = t,
                .trace_interval_s = arg.replay_interval_s,
        };
        printf("replay of %s: %" PRIu64 " pages, %u cycles of %.1f s, %zu phases", path, t->pages, t->n_cycles, arg.replay_interval_s,
               t->n_phases);
        for (size_t i = 0; i < t->n_notes; i++)
                printf("%s%s", i ? "; " : " (", t->notes[i]);
        printf("%s\n", t->n_notes ? ")" : "");
        /* the recorded VM as it is: the limits of the defaults, unscaled */
        kk.model_gib = (double) t->pages / (double) PAGES_PER_GIB;
        run(&sc, &kk, true, &o);
        sim_report_header(stdout);
        print_row("recorded", &o, 0, true);
        outcome_done(&o);
        return 0;
}

static void help(void) {
        printf("Usage: policy-sim [OPTIONS] [table | sweep KNOB | sweep all | replay FILE...]\n"
               "\n"
               "The vtism planner (linked) on simulated access traces against an oracle that knows the\n"
               "future, with the same DRAM targets and migration budget (bench/lib/sim-oracle.h).\n"
               "  table              every trace at the defaults (the default command)\n"
               "  sweep KNOB         interval (s), density (accesses per page per second), decay (%%),\n"
               "                     margin (heat), edge (z of the swap rule's noise margin at the DRAM\n"
               "                     target's edge; 0: none), mass (swaps of target / N or more are no\n"
               "                     edge noise),\n"
               "                     rate (MiB/s), query (pages per cycle), model (GiB:\n"
               "                     the VM the simulated one stands for; rate and query scale by it), or all\n"
               "  replay FILE...     a trace recorded by tracker-check --record (VM budget 25 %%)\n"
               "Options:\n"
               "  --pages N          the simulated VM's RAM in 4 KiB pages (default 262144 = 1 GiB)\n"
               "  --seed N           seed of the traces (default 1)\n"
               "  --interval S       sample interval in seconds; replay: of the recording (default 5, replay 1)\n"
               "  --duration S       modelled seconds per trace (default 800)\n"
               "  --plots DIR        table: write DIR/TRACE.dat and DIR/TRACE.gp (gnuplot) per trace\n"
               "  --set KNOB=VALUE   a knob of the sweeps, for every run (e.g. --set query=65536)\n"
               "  --only TRACE       table: only this trace (its name as printed)\n"
               "  --quick            a small, short run (the bench-smoke suite): 64 MiB VMs, 120 s\n"
               "  -v, --verbose      per-cycle lines\n");
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "pages", required_argument, NULL, 'p' },
                { "seed", required_argument, NULL, 's' },
                { "interval", required_argument, NULL, 'i' },
                { "duration", required_argument, NULL, 'd' },
                { "plots", required_argument, NULL, 'P' },
                { "quick", no_argument, NULL, 'q' },
                { "set", required_argument, NULL, 'S' },
                { "only", required_argument, NULL, 'o' },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        Knobs k = knobs_default;
        Scenario sc[16];
        size_t n_sc;
        double interval = -1;
        int c;

        arg = (Args) { .pages = PAGES_PER_GIB, .seed = 1, .replay_interval_s = 1 };
        while ((c = getopt_long(argc, argv, "vh", options, NULL)) >= 0)
                switch (c) {
                case 'p':
                        arg.pages = strtoull(optarg, NULL, 0);
                        if (arg.pages < 2048 || arg.pages > (UINT64_C(1) << 26) || arg.pages % 2048) {
                                fprintf(stderr, "policy-sim: --pages: want a multiple of 2048, 2048 .. 2^26\n");
                                return 2;
                        }
                        break;
                case 's':
                        arg.seed = strtoull(optarg, NULL, 0);
                        break;
                case 'i':
                        interval = strtod(optarg, NULL);
                        if (!(interval > 0)) {
                                fprintf(stderr, "policy-sim: --interval: want seconds > 0\n");
                                return 2;
                        }
                        break;
                case 'd':
                        k.duration_s = strtod(optarg, NULL);
                        if (!(k.duration_s > 0)) {
                                fprintf(stderr, "policy-sim: --duration: want seconds > 0\n");
                                return 2;
                        }
                        break;
                case 'P':
                        arg.plots_dir = optarg;
                        if (mkdir(optarg, 0755) < 0 && errno != EEXIST) {
                                fprintf(stderr, "policy-sim: cannot create %s: %m\n", optarg);
                                return 1;
                        }
                        break;
                case 'q':
                        arg.quick = true;
                        break;
                case 'S': {
                        /* KNOB=VALUE, the names of the sweeps */
                        char *eq = strchr(optarg, '=');
                        bool known = false;

                        for (size_t i = 0; eq && i < ELEMENTSOF(sweeps); i++)
                                known = known || strncmp(optarg, sweeps[i].knob, (size_t) (eq - optarg)) == 0;
                        if (!eq || !known) {
                                fprintf(stderr, "policy-sim: --set: want KNOB=VALUE with a knob of the sweeps\n");
                                return 2;
                        }
                        *eq = 0;
                        set_knob(&k, optarg, strtod(eq + 1, NULL));
                        break;
                }
                case 'o':
                        arg.only = optarg;
                        break;
                case 'v':
                        arg.verbose = true;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return 2;
                }
        if (arg.quick) {
                arg.pages = 16384;
                k.duration_s = 120;
                k.shift_s = 40;
        }
        if (interval > 0) {
                k.interval_s = interval;
                arg.replay_interval_s = interval;
        }
        n_sc = build_scenarios(sc, ELEMENTSOF(sc));
        arg.command = optind < argc ? argv[optind] : "table";

        if (streq(arg.command, "table")) {
                table(&k, sc, n_sc);
                return 0;
        }
        if (streq(arg.command, "sweep") && optind + 1 < argc) {
                arg.knob = argv[optind + 1];
                for (size_t i = 0; i < ELEMENTSOF(sweeps); i++)
                        if (streq(arg.knob, "all") || streq(arg.knob, sweeps[i].knob)) {
                                sweep(&sweeps[i], sc, n_sc);
                                if (!streq(arg.knob, "all"))
                                        return 0;
                        }
                if (streq(arg.knob, "all"))
                        return 0;
                fprintf(stderr, "policy-sim: unknown knob '%s'\n", arg.knob);
                return 2;
        }
        if (streq(arg.command, "replay") && optind + 1 < argc) {
                for (int i = optind + 1; i < argc; i++)
                        if (replay(argv[i], &k) < 0)
                                return 1;
                return 0;
        }
        help();
        return 2;
}
