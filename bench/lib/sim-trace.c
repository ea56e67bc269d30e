/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Access patterns and trace files for the placement benchmarks; the model is in sim-trace.h. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim-trace.h"
#include "vtism/util.h"

#define BLOCK_PAGES 512u
#define STREAM_LAYOUT 1u
#define STREAM_COUNTS 2u
#define STREAM_PERM 3u

/* ---- random numbers ---- */

void sim_rng_seed(SimRng *r, uint64_t seed) {
        r->s = seed;
}

uint64_t sim_rng_next(SimRng *r) {
        uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));

        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

double sim_rng_double(SimRng *r) {
        return (double) (sim_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t sim_rng_below(SimRng *r, uint64_t n) {
        /* multiply-shift: bias below 2^-32 for the n used here (< 2^32) */
        return (uint64_t) (((unsigned __int128) sim_rng_next(r) * n) >> 64);
}

void sim_rng_derive(SimRng *r, uint64_t seed, uint64_t stream, uint64_t cycle) {
        SimRng m = { seed ^ (stream * UINT64_C(0xd1342543de82ef95)) };

        m.s ^= sim_rng_next(&m) + cycle * UINT64_C(0x2545f4914f6cdd1d);
        r->s = sim_rng_next(&m);
}

uint32_t sim_rng_poisson(SimRng *r, double lambda, double p0) {
        double u = sim_rng_double(r), p, cum;
        uint32_t k = 0;

        if (u < p0 || lambda <= 0)
                return 0;
        if (lambda > 30) {
                /* normal approximation (Box-Muller), plenty for counting hits */
                double u1 = sim_rng_double(r), u2 = sim_rng_double(r);
                double z = sqrt(-2 * log(1 - u1)) * cos(2 * M_PI * u2), v = lambda + sqrt(lambda) * z + 0.5;

                return v <= 0 ? 0 : v >= 4e9 ? UINT32_MAX : (uint32_t) v;
        }
        p = cum = p0;
        while (u >= cum && k < 1000) {
                k++;
                p *= lambda / k;
                cum += p;
        }
        return k;
}

/* ---- patterns ---- */

static const char *const pattern_kind_names[_SIM_PATTERN_KIND_MAX] = {
        [SIM_PATTERN_UNIFORM] = "uniform",
        [SIM_PATTERN_ZIPF] = "zipf",
        [SIM_PATTERN_HOTSET] = "hotset",
};
assert_cc(ELEMENTSOF(pattern_kind_names) == _SIM_PATTERN_KIND_MAX);

const char *sim_pattern_kind_to_string(SimPatternKind k) {
        if ((unsigned) k >= _SIM_PATTERN_KIND_MAX)
                return NULL;
        return pattern_kind_names[k];
}

struct SimPattern {
        SimPatternSpec spec;
        /* ZIPF */
        uint32_t *perm;           /* rank - 1 -> page */
        double *weight;           /* by rank - 1 */
        double *cdf;              /* by rank - 1, for sampling (lazily) */
        double *p0;               /* exp(-accesses * weight) by rank - 1, for p0_accesses */
        double p0_accesses;
        /* HOTSET: the cached phase */
        unsigned phase;
        bool phase_valid;
        uint64_t *hot_bits;
        uint32_t *hot_list;       /* hot pages, ascending */
};

int sim_pattern_new(const SimPatternSpec *spec, SimPattern **ret) {
        SimPattern *p;

        if (!spec || (unsigned) spec->kind >= _SIM_PATTERN_KIND_MAX || spec->pages == 0 || spec->pages > (UINT64_C(1) << 31))
                return -EINVAL;
        if (spec->kind == SIM_PATTERN_ZIPF && !(spec->zipf_s > 0 && spec->zipf_s <= 4))
                return -EINVAL;
        if (spec->kind == SIM_PATTERN_HOTSET &&
            (spec->hot_pages == 0 || spec->hot_pages > spec->pages || !(spec->hot_share >= 0 && spec->hot_share <= 1)))
                return -EINVAL;

        p = xcalloc(1, sizeof(SimPattern));
        p->spec = *spec;
        if (spec->kind == SIM_PATTERN_ZIPF) {
                uint64_t n = spec->pages;
                double sum = 0;
                SimRng r;

                p->perm = xcalloc(n, sizeof(uint32_t));
                p->weight = xcalloc(n, sizeof(double));
                for (uint64_t i = 0; i < n; i++)
                        p->perm[i] = (uint32_t) i;
                sim_rng_derive(&r, spec->seed, STREAM_PERM, 0);
                for (uint64_t i = n - 1; i > 0; i--) {
                        uint64_t j = sim_rng_below(&r, i + 1);
                        uint32_t t = p->perm[i];

                        p->perm[i] = p->perm[j];
                        p->perm[j] = t;
                }
                /* smallest first: the sum is exact to a few ulps */
                for (uint64_t i = n; i > 0; i--)
                        sum += pow((double) i, -spec->zipf_s);
                for (uint64_t i = 0; i < n; i++)
                        p->weight[i] = pow((double) (i + 1), -spec->zipf_s) / sum;
        }
        if (spec->kind == SIM_PATTERN_HOTSET) {
                p->hot_bits = xcalloc(DIV_ROUND_UP(spec->pages, 64), sizeof(uint64_t));
                p->hot_list = xcalloc(spec->hot_pages, sizeof(uint32_t));
        }
        *ret = p;
        return 0;
}

SimPattern *sim_pattern_free(SimPattern *p) {
        if (!p)
                return NULL;
        free(p->perm);
        free(p->weight);
        free(p->cdf);
        free(p->p0);
        free(p->hot_bits);
        free(p->hot_list);
        free(p);
        return NULL;
}

const SimPatternSpec *sim_pattern_spec(const SimPattern *p) {
        return &p->spec;
}

unsigned sim_pattern_phase(const SimPattern *p, unsigned cycle) {
        if (p->spec.kind != SIM_PATTERN_HOTSET || p->spec.shift_every == 0)
                return 0;
        return cycle / p->spec.shift_every;
}

unsigned sim_pattern_phase_start(const SimPattern *p, unsigned phase) {
        if (p->spec.kind != SIM_PATTERN_HOTSET || p->spec.shift_every == 0)
                return 0;
        return phase * p->spec.shift_every;
}

static bool bit_get(const uint64_t *bits, uint64_t i) {
        return (bits[i / 64] >> (i % 64)) & 1;
}

static void bit_set(uint64_t *bits, uint64_t i) {
        bits[i / 64] |= UINT64_C(1) << (i % 64);
}

/* The hot set of the cycle's phase into hot_bits and hot_list. */
static void hotset_layout(SimPattern *p, unsigned cycle) {
        unsigned phase = sim_pattern_phase(p, cycle);
        uint64_t n = p->spec.pages, k = p->spec.hot_pages, at = 0;
        SimRng r;

        if (p->phase_valid && p->phase == phase)
                return;
        memset(p->hot_bits, 0, DIV_ROUND_UP(n, 64) * sizeof(uint64_t));
        sim_rng_derive(&r, p->spec.seed, STREAM_LAYOUT, phase);
        if (!p->spec.scattered) {
                uint64_t slots = (n - k) / BLOCK_PAGES + 1, start = MIN(sim_rng_below(&r, slots) * BLOCK_PAGES, n - k);

                for (uint64_t i = start; i < start + k; i++)
                        bit_set(p->hot_bits, i);
        } else
                /* Floyd's sampling: k distinct pages */
                for (uint64_t j = n - k; j < n; j++) {
                        uint64_t t = sim_rng_below(&r, j + 1);

                        bit_set(p->hot_bits, bit_get(p->hot_bits, t) ? j : t);
                }
        for (uint64_t i = 0; i < n; i++)
                if (bit_get(p->hot_bits, i))
                        p->hot_list[at++] = (uint32_t) i;
        p->phase = phase;
        p->phase_valid = true;
}

static double hotset_weight(const SimPattern *p, bool hot) {
        double cold = (1 - p->spec.hot_share) / (double) p->spec.pages;

        return hot ? cold + p->spec.hot_share / (double) p->spec.hot_pages : cold;
}

double sim_pattern_weight(SimPattern *p, unsigned cycle, uint64_t page) {
        switch (p->spec.kind) {
        case SIM_PATTERN_UNIFORM:
                return 1 / (double) p->spec.pages;
        case SIM_PATTERN_ZIPF:
                /* the inverse permutation is not kept: a linear search, for tests and reports only */
                for (uint64_t i = 0; i < p->spec.pages; i++)
                        if (p->perm[i] == page)
                                return p->weight[i];
                return 0;
        case SIM_PATTERN_HOTSET:
                hotset_layout(p, cycle);
                return hotset_weight(p, bit_get(p->hot_bits, page));
        default:
                return 0;
        }
}

void sim_pattern_weights(SimPattern *p, unsigned cycle, double *w) {
        uint64_t n = p->spec.pages;

        switch (p->spec.kind) {
        case SIM_PATTERN_ZIPF:
                for (uint64_t i = 0; i < n; i++)
                        w[p->perm[i]] = p->weight[i];
                break;
        case SIM_PATTERN_HOTSET: {
                double wh = hotset_weight(p, true), wc = hotset_weight(p, false);

                hotset_layout(p, cycle);
                for (uint64_t i = 0; i < n; i++)
                        w[i] = bit_get(p->hot_bits, i) ? wh : wc;
                break;
        }
        default:
                for (uint64_t i = 0; i < n; i++)
                        w[i] = 1 / (double) n;
        }
}

void sim_pattern_counts(SimPattern *p, unsigned cycle, double accesses, uint32_t *counts) {
        uint64_t n = p->spec.pages;
        SimRng r;

        sim_rng_derive(&r, p->spec.seed, STREAM_COUNTS, cycle);
        switch (p->spec.kind) {
        case SIM_PATTERN_UNIFORM: {
                double l = accesses / (double) n, p0 = exp(-l);

                for (uint64_t i = 0; i < n; i++)
                        counts[i] = sim_rng_poisson(&r, l, p0);
                break;
        }
        case SIM_PATTERN_ZIPF:
                if (!p->p0 || p->p0_accesses != accesses) {
                        if (!p->p0)
                                p->p0 = xcalloc(n, sizeof(double));
                        for (uint64_t i = 0; i < n; i++)
                                p->p0[i] = exp(-accesses * p->weight[i]);
                        p->p0_accesses = accesses;
                }
                for (uint64_t i = 0; i < n; i++)
                        counts[p->perm[i]] = sim_rng_poisson(&r, accesses * p->weight[i], p->p0[i]);
                break;
        case SIM_PATTERN_HOTSET: {
                double lh = accesses * hotset_weight(p, true), lc = accesses * hotset_weight(p, false);
                double p0h = exp(-lh), p0c = exp(-lc);

                hotset_layout(p, cycle);
                for (uint64_t i = 0; i < n; i++) {
                        bool hot = bit_get(p->hot_bits, i);

                        counts[i] = sim_rng_poisson(&r, hot ? lh : lc, hot ? p0h : p0c);
                }
                break;
        }
        default:
                memset(counts, 0, n * sizeof(uint32_t));
        }
}

uint64_t sim_pattern_sample(SimPattern *p, unsigned cycle, SimRng *rng) {
        uint64_t n = p->spec.pages;

        switch (p->spec.kind) {
        case SIM_PATTERN_ZIPF: {
                double u;
                uint64_t lo = 0, hi = n - 1;

                if (!p->cdf) {
                        double sum = 0;

                        p->cdf = xcalloc(n, sizeof(double));
                        for (uint64_t i = 0; i < n; i++)
                                p->cdf[i] = sum += p->weight[i];
                        p->cdf[n - 1] = 1;
                }
                u = sim_rng_double(rng);
                while (lo < hi) {
                        uint64_t mid = lo + (hi - lo) / 2;

                        if (p->cdf[mid] > u)
                                hi = mid;
                        else
                                lo = mid + 1;
                }
                return p->perm[lo];
        }
        case SIM_PATTERN_HOTSET:
                hotset_layout(p, cycle);
                if (sim_rng_double(rng) < p->spec.hot_share)
                        return p->hot_list[sim_rng_below(rng, p->spec.hot_pages)];
                return sim_rng_below(rng, n);
        default:
                return sim_rng_below(rng, n);
        }
}

double sim_pattern_hot_set(SimPattern *p, unsigned cycle, uint64_t n, uint8_t *in_set) {
        uint64_t pages = p->spec.pages;
        double mass = 0;

        n = MIN(n, pages);
        memset(in_set, 0, pages);
        switch (p->spec.kind) {
        case SIM_PATTERN_UNIFORM:
                memset(in_set, 1, n);
                return (double) n / (double) pages;
        case SIM_PATTERN_ZIPF:
                for (uint64_t i = 0; i < n; i++) {
                        in_set[p->perm[i]] = 1;
                        mass += p->weight[i];
                }
                return mass;
        case SIM_PATTERN_HOTSET: {
                uint64_t hot = MIN(n, p->spec.hot_pages), more = n - hot;

                hotset_layout(p, cycle);
                for (uint64_t i = 0; i < hot; i++)
                        in_set[p->hot_list[i]] = 1;
                for (uint64_t i = 0; i < pages && more > 0; i++)
                        if (!bit_get(p->hot_bits, i)) {
                                in_set[i] = 1;
                                more--;
                        }
                return (double) hot * hotset_weight(p, true) + (double) (n - hot) * hotset_weight(p, false);
        }
        default:
                return 0;
        }
}

double sim_pattern_coverage(SimPattern *p, unsigned cycle, uint64_t n, const uint8_t *on_dram) {
        uint64_t pages = p->spec.pages, in = 0;
        double mass = 0, on = 0;

        n = MIN(n, pages);
        if (n == 0)
                return 1;
        switch (p->spec.kind) {
        case SIM_PATTERN_ZIPF:
                for (uint64_t i = 0; i < n; i++) {
                        mass += p->weight[i];
                        on += on_dram[p->perm[i]] ? p->weight[i] : 0;
                }
                return on / mass;
        case SIM_PATTERN_HOTSET: {
                uint64_t hot = MIN(n, p->spec.hot_pages), more = n - hot, in_more = 0;
                double wh = hotset_weight(p, true), wc = hotset_weight(p, false);

                hotset_layout(p, cycle);
                for (uint64_t i = 0; i < hot; i++)
                        in += !!on_dram[p->hot_list[i]];
                for (uint64_t i = 0, k = 0; i < pages && k < more; i++)
                        if (!bit_get(p->hot_bits, i)) {
                                in_more += !!on_dram[i];
                                k++;
                        }
                return ((double) in * wh + (double) in_more * wc) / ((double) hot * wh + (double) more * wc);
        }
        default:
                for (uint64_t i = 0; i < n; i++)
                        in += !!on_dram[i];
                return (double) in / (double) n;
        }
}

/* ---- trace files ---- */

SimTraceFile *sim_trace_file_free(SimTraceFile *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_notes; i++)
                free(t->notes[i]);
        free(t->notes);
        for (size_t i = 0; i < t->n_phases; i++)
                free(t->phases[i].hot);
        free(t->phases);
        free(t->runs);
        free(t->cycle_first_run);
        free(t);
        return NULL;
}

static int parse_two(const char *s, uint64_t *a, uint64_t *b) {
        char *end;

        errno = 0;
        if (*s < '0' || *s > '9')
                return -EINVAL;
        *a = strtoull(s, &end, 10);
        if (errno || *end != ' ')
                return -EINVAL;
        s = end + 1;
        if (*s < '0' || *s > '9')
                return -EINVAL;
        *b = strtoull(s, &end, 10);
        if (errno || *end)
                return -EINVAL;
        return 0;
}

static int parse_one(const char *s, uint64_t *a) {
        char *end;

        errno = 0;
        if (*s < '0' || *s > '9')
                return -EINVAL;
        *a = strtoull(s, &end, 10);
        return errno || *end ? -EINVAL : 0;
}

static void push_run(SimRun **v, size_t *n, size_t *allocated, uint64_t first, uint64_t count) {
        if (*n == *allocated) {
                *allocated = MAX(*allocated * 2, (size_t) 64);
                *v = xreallocarray(*v, *allocated, sizeof(SimRun));
        }
        (*v)[(*n)++] = (SimRun) { first, count };
}

static void new_phase(SimTraceFile *t, unsigned first_cycle) {
        t->phases = xreallocarray(t->phases, t->n_phases + 1, sizeof(SimTracePhase));
        t->phases[t->n_phases++] = (SimTracePhase) { .first_cycle = first_cycle };
}

int sim_trace_file_read(FILE *f, SimTraceFile **ret, char **ret_error) {
        _cleanup_(sim_trace_file_freep) SimTraceFile *t = xcalloc(1, sizeof(SimTraceFile));
        _cleanup_free_ char *line = NULL;
        size_t line_size = 0, runs_allocated = 0, hot_allocated = 0;
        unsigned lineno = 0;
        bool have_pages = false, in_cycle = false;
        uint64_t last_end = 0;
        ssize_t len;
        const char *msg = NULL;

        new_phase(t, 0);
        t->cycle_first_run = xcalloc(1, sizeof(size_t));
        while ((len = getline(&line, &line_size, f)) >= 0) {
                uint64_t a, b;

                lineno++;
                if (len > 0 && line[len - 1] == '\n')
                        line[--len] = 0;
                if (lineno == 1) {
                        if (!streq(line, "vtism-trace 1")) {
                                msg = "not a vtism trace (want \"vtism-trace 1\")";
                                goto bad;
                        }
                        continue;
                }
                if (line[0] == '#' || line[0] == 0)
                        continue;
                if (strncmp(line, "pages ", 6) == 0) {
                        if (have_pages || parse_one(line + 6, &t->pages) < 0 || t->pages == 0 || t->pages > (UINT64_C(1) << 31)) {
                                msg = have_pages ? "pages given twice" : "pages: want a number of pages, 1..2^31";
                                goto bad;
                        }
                        have_pages = true;
                } else if (strncmp(line, "granule ", 8) == 0) {
                        if (parse_one(line + 8, &t->granule_bytes) < 0 || (t->granule_bytes != 4096 && t->granule_bytes != (UINT64_C(2) << 20))) {
                                msg = "granule: want 4096 or 2097152";
                                goto bad;
                        }
                } else if (strncmp(line, "note ", 5) == 0) {
                        t->notes = xreallocarray(t->notes, t->n_notes + 1, sizeof(char *));
                        t->notes[t->n_notes++] = xstrdup(line + 5);
                } else if (!have_pages) {
                        msg = "pages must come before phases and cycles";
                        goto bad;
                } else if (streq(line, "phase")) {
                        if (t->phases[t->n_phases - 1].first_cycle == t->n_cycles) {
                                if (t->n_cycles > 0) {
                                        msg = "phase without a cycle since the previous one";
                                        goto bad;
                                }
                        } else {
                                new_phase(t, t->n_cycles);
                                hot_allocated = 0;
                        }
                        in_cycle = false;
                } else if (strncmp(line, "hot ", 4) == 0) {
                        SimTracePhase *ph = &t->phases[t->n_phases - 1];

                        if (parse_two(line + 4, &a, &b) < 0 || b == 0 || a >= t->pages || b > t->pages - a) {
                                msg = "hot: want FIRST COUNT inside the pages";
                                goto bad;
                        }
                        if (ph->first_cycle != t->n_cycles) {
                                msg = "hot after the phase's first cycle (start a phase first)";
                                goto bad;
                        }
                        push_run(&ph->hot, &ph->n_hot, &hot_allocated, a, b);
                } else if (streq(line, "cycle")) {
                        if (t->n_cycles == UINT32_MAX - 1) {
                                msg = "too many cycles";
                                goto bad;
                        }
                        t->cycle_first_run = xreallocarray(t->cycle_first_run, t->n_cycles + 2, sizeof(size_t));
                        t->cycle_first_run[t->n_cycles++] = t->n_runs;
                        in_cycle = true;
                        last_end = 0;
                } else if (parse_two(line, &a, &b) >= 0) {
                        if (!in_cycle) {
                                msg = "accessed run outside a cycle";
                                goto bad;
                        }
                        if (b == 0 || a >= t->pages || b > t->pages - a) {
                                msg = "accessed run outside the pages";
                                goto bad;
                        }
                        if (a < last_end) {
                                msg = "accessed runs must ascend without overlapping";
                                goto bad;
                        }
                        push_run(&t->runs, &t->n_runs, &runs_allocated, a, b);
                        last_end = a + b;
                } else {
                        msg = "unknown line";
                        goto bad;
                }
        }
        if (ferror(f))
                return -EIO;
        if (lineno == 0) {
                msg = "empty file";
                goto bad;
        }
        if (!have_pages) {
                msg = "no pages line";
                goto bad;
        }
        t->cycle_first_run = xreallocarray(t->cycle_first_run, t->n_cycles + 1, sizeof(size_t));
        t->cycle_first_run[t->n_cycles] = t->n_runs;
        if (t->n_phases > 1 && t->phases[t->n_phases - 1].first_cycle == t->n_cycles) {
                msg = "a phase without cycles at the end";
                goto bad;
        }
        *ret = TAKE_PTR(t);
        return 0;
bad:
        if (ret_error)
                *ret_error = xasprintf("%u: %s", lineno, msg);
        return -EINVAL;
}

int sim_trace_file_load(const char *path, SimTraceFile **ret, char **ret_error) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        _cleanup_free_ char *e = NULL;
        int r;

        if (!f) {
                r = -errno;
                if (ret_error)
                        *ret_error = xasprintf("%s: %s", path, strerror(-r));
                return r;
        }
        r = sim_trace_file_read(f, ret, &e);
        if (r < 0 && ret_error)
                *ret_error = e ? xasprintf("%s:%s", path, e) : xasprintf("%s: %s", path, strerror(-r));
        return r;
}

unsigned sim_trace_file_phase(const SimTraceFile *t, unsigned cycle) {
        unsigned k = 0;

        while (k + 1 < t->n_phases && t->phases[k + 1].first_cycle <= cycle)
                k++;
        return k;
}

void sim_trace_file_counts(const SimTraceFile *t, unsigned cycle, uint32_t *counts) {
        memset(counts, 0, t->pages * sizeof(uint32_t));
        if (cycle >= t->n_cycles)
                return;
        for (size_t i = t->cycle_first_run[cycle]; i < t->cycle_first_run[cycle + 1]; i++)
                for (uint64_t p = 0; p < t->runs[i].count; p++)
                        counts[t->runs[i].first + p] = 1;
}

uint64_t sim_trace_file_hot_set(const SimTraceFile *t, unsigned cycle, uint8_t *in_set) {
        const SimTracePhase *ph = &t->phases[sim_trace_file_phase(t, cycle)];
        uint64_t n = 0;

        memset(in_set, 0, t->pages);
        for (size_t i = 0; i < ph->n_hot; i++)
                for (uint64_t p = 0; p < ph->hot[i].count; p++) {
                        n += !in_set[ph->hot[i].first + p];
                        in_set[ph->hot[i].first + p] = 1;
                }
        return n;
}

int sim_trace_writer_start(SimTraceWriter *w, FILE *f, uint64_t pages, uint64_t granule_bytes, const char *note) {
        if (!f || pages == 0)
                return -EINVAL;
        *w = (SimTraceWriter) { .f = f, .pages = pages };
        fprintf(f, "vtism-trace 1\npages %" PRIu64 "\n", pages);
        if (granule_bytes)
                fprintf(f, "granule %" PRIu64 "\n", granule_bytes);
        if (note)
                for (const char *s = note; *s;) {
                        size_t n = strcspn(s, "\n");

                        fprintf(f, "note %.*s\n", (int) n, s);
                        s += n + (s[n] == '\n');
                }
        return 0;
}

int sim_trace_writer_phase(SimTraceWriter *w, const SimRun *hot, size_t n_hot) {
        for (size_t i = 0; i < n_hot; i++)
                if (hot[i].count == 0 || hot[i].first >= w->pages || hot[i].count > w->pages - hot[i].first)
                        return -EINVAL;
        if (w->cycles > 0)
                fprintf(w->f, "phase\n");
        for (size_t i = 0; i < n_hot; i++)
                fprintf(w->f, "hot %" PRIu64 " %" PRIu64 "\n", hot[i].first, hot[i].count);
        return 0;
}

int sim_trace_writer_cycle(SimTraceWriter *w) {
        fprintf(w->f, "cycle\n");
        w->cycles++;
        w->last_end = 0;
        return 0;
}

int sim_trace_writer_run(SimTraceWriter *w, uint64_t first, uint64_t count) {
        if (w->cycles == 0 || count == 0 || first < w->last_end || first >= w->pages || count > w->pages - first)
                return -EINVAL;
        fprintf(w->f, "%" PRIu64 " %" PRIu64 "\n", first, count);
        w->last_end = first + count;
        return 0;
}

int sim_trace_writer_cycle_from_heat(SimTraceWriter *w, const uint8_t *prev, const uint8_t *heat, size_t n_granules,
                                     unsigned decay_percent, uint64_t granule_pages) {
        uint64_t run = 0, len = 0;
        unsigned keep = 100 - decay_percent;
        int r;

        if (decay_percent == 0 || decay_percent > 100 || granule_pages == 0)
                return -EINVAL;
        r = sim_trace_writer_cycle(w);
        for (size_t g = 0; g <= n_granules && r >= 0; g++) {
                bool accessed = g < n_granules && heat[g] != prev[g] * keep / 100;

                if (accessed) {
                        if (len == 0)
                                run = g * granule_pages;
                        len += granule_pages;
                } else if (len > 0) {
                        r = sim_trace_writer_run(w, run, len);
                        len = 0;
                }
        }
        return r;
}

int sim_trace_writer_finish(SimTraceWriter *w) {
        if (fflush(w->f) != 0 || ferror(w->f))
                return -EIO;
        return 0;
}
