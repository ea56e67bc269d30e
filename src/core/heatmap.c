/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vtism/heatmap.h"
#include "vtism/macro.h"

#define PAGE_SHIFT 12
#define PAGE_BYTES (UINT64_C(1) << PAGE_SHIFT)
#define HIST_RANGE_BYTES_MAX (UINT64_C(1) << 40)

typedef struct Range {
        uint64_t gpa, hva, len_bytes;
        unsigned granule_shift;
        size_t n_granules;
        uint8_t *heat;
        /* the sweep of the current cycle */
        size_t swept;          /* granules [0, swept) have their update for this cycle */
        uint64_t cursor_off;   /* end offset of the highest sample applied in this cycle */
} Range;

typedef struct Window {
        uint64_t gpa;                 /* start, aligned to hist_range_bytes */
        uint64_t ram_pages;
        uint64_t first_ram_off;       /* page offsets inside the window */
        uint64_t end_ram_off;         /* one past the last RAM page */
        /* residency: [0, HEATMAP_NODES_MAX) nodes, [HEATMAP_NODES_MAX] other */
        uint32_t pending[HEATMAP_NODES_MAX + 1];
        uint32_t published[HEATMAP_NODES_MAX + 1];
        uint64_t cursor;              /* next page offset expected in the pass */
        bool known;
} Window;

struct HeatMap {
        HeatParams params;
        uint8_t lut_idle[256], lut_accessed[256];
        Range *ranges;                /* sorted by gpa */
        size_t n_ranges;
        size_t *by_hva;               /* indexes into ranges, sorted by hva */
        Window *windows;              /* sorted by gpa */
        size_t n_windows;
        unsigned window_shift;
        uint64_t ram_bytes;
        HeatStats stats;
        bool in_cycle;
};

static const char *const heat_class_names[_HEAT_CLASS_MAX] = {
        [HEAT_COLD] = "cold",
        [HEAT_WARM] = "warm",
        [HEAT_HOT] = "hot",
};
assert_cc(ELEMENTSOF(heat_class_names) == _HEAT_CLASS_MAX);
assert_cc(HEATMAP_BUCKETS * HEATMAP_BUCKET_WIDTH == 256);

const char *heat_class_to_string(HeatClass c) {
        if ((unsigned) c >= _HEAT_CLASS_MAX)
                return NULL;
        return heat_class_names[c];
}

void heat_params_init_default(HeatParams *p) {
        *p = (HeatParams) {
                .decay_percent = HEATMAP_DECAY_PERCENT_DEFAULT,
                .hot_min = HEATMAP_HOT_MIN_DEFAULT,
                .cold_max = HEATMAP_COLD_MAX_DEFAULT,
                .hist_range_bytes = HEATMAP_HIST_RANGE_BYTES_DEFAULT,
        };
}

int heat_params_validate(const HeatParams *p) {
        if (p->decay_percent > 100)
                return -EINVAL;
        if (p->hot_min < 1 || p->hot_min > HEATMAP_HEAT_MAX || p->cold_max >= p->hot_min)
                return -EINVAL;
        if (p->hist_range_bytes < HEATMAP_GRANULE_2M || p->hist_range_bytes > HIST_RANGE_BYTES_MAX ||
            (p->hist_range_bytes & (p->hist_range_bytes - 1)) != 0)
                return -EINVAL;
        return 0;
}

HeatClass heat_params_classify(const HeatParams *p, uint8_t heat) {
        if (heat <= p->cold_max)
                return HEAT_COLD;
        if (heat >= p->hot_min)
                return HEAT_HOT;
        return HEAT_WARM;
}

static void heatmap_build_luts(HeatMap *h) {
        for (unsigned v = 0; v < 256; v++) {
                unsigned idle = v * (100 - h->params.decay_percent) / 100;

                h->lut_idle[v] = (uint8_t) idle;
                h->lut_accessed[v] = (uint8_t) MIN(idle + HEATMAP_ACCESS_WEIGHT, HEATMAP_HEAT_MAX);
        }
}

static unsigned log2_u64(uint64_t v) {
        return 63u - (unsigned) __builtin_clzll(v);
}

static int cmp_spec_gpa(const void *a, const void *b) {
        const HeatRangeSpec *x = a, *y = b;
        return (x->gpa > y->gpa) - (x->gpa < y->gpa);
}

static int cmp_index_hva(const void *a, const void *b, void *userdata) {
        const Range *ranges = userdata;
        uint64_t x = ranges[*(const size_t *) a].hva, y = ranges[*(const size_t *) b].hva;
        return (x > y) - (x < y);
}

static void heatmap_build_windows(HeatMap *h) {
        size_t allocated = 0;

        for (size_t i = 0; i < h->n_ranges; i++) {
                const Range *r = &h->ranges[i];
                uint64_t first = r->gpa >> h->window_shift, last = (r->gpa + r->len_bytes - 1) >> h->window_shift;

                for (uint64_t k = first; k <= last; k++) {
                        uint64_t ws = k << h->window_shift, we = ws + (UINT64_C(1) << h->window_shift);
                        uint64_t s = MAX(ws, r->gpa), e = MIN(we, r->gpa + r->len_bytes);
                        Window *w;

                        if (we == 0) /* the last window of the address space */
                                e = r->gpa + r->len_bytes;
                        if (h->n_windows > 0 && h->windows[h->n_windows - 1].gpa == ws)
                                w = &h->windows[h->n_windows - 1];
                        else {
                                if (h->n_windows >= allocated) {
                                        allocated = MAX(allocated * 2, (size_t) 8);
                                        h->windows = xreallocarray(h->windows, allocated, sizeof(Window));
                                }
                                w = &h->windows[h->n_windows++];
                                *w = (Window) {
                                        .gpa = ws,
                                        .first_ram_off = (s - ws) >> PAGE_SHIFT,
                                };
                        }
                        w->ram_pages += (e - s) >> PAGE_SHIFT;
                        w->end_ram_off = (e - ws) >> PAGE_SHIFT;
                }
        }
}

int heatmap_new(const HeatRangeSpec *ranges, size_t n, const HeatParams *params, HeatMap **ret) {
        _cleanup_free_ HeatRangeSpec *specs = NULL;
        _cleanup_(heatmap_freep) HeatMap *h = NULL;
        HeatParams defaults;
        int r;

        if (!params) {
                heat_params_init_default(&defaults);
                params = &defaults;
        }
        r = heat_params_validate(params);
        if (r < 0)
                return r;

        specs = xcalloc(n, sizeof(HeatRangeSpec));
        for (size_t i = 0; i < n; i++) {
                HeatRangeSpec *s = &specs[i];

                *s = ranges[i];
                if (s->granule_bytes == 0)
                        s->granule_bytes = HEATMAP_GRANULE_4K;
                if (s->granule_bytes != HEATMAP_GRANULE_4K && s->granule_bytes != HEATMAP_GRANULE_2M)
                        return -EINVAL;
                if (s->len_bytes == 0 ||
                    (s->gpa | s->hva | s->len_bytes) & (s->granule_bytes - 1))
                        return -EINVAL;
                if (s->gpa > UINT64_MAX - s->len_bytes || s->hva > UINT64_MAX - s->len_bytes)
                        return -ERANGE;
        }
        qsort(specs, n, sizeof(HeatRangeSpec), cmp_spec_gpa);
        for (size_t i = 1; i < n; i++)
                if (specs[i - 1].gpa + specs[i - 1].len_bytes > specs[i].gpa)
                        return -EEXIST;

        h = xcalloc(1, sizeof(HeatMap));
        h->params = *params;
        heatmap_build_luts(h);
        h->window_shift = log2_u64(params->hist_range_bytes);
        h->ranges = xcalloc(n, sizeof(Range));
        h->by_hva = xcalloc(n, sizeof(size_t));
        for (size_t i = 0; i < n; i++) {
                Range *rg = &h->ranges[i];

                *rg = (Range) {
                        .gpa = specs[i].gpa,
                        .hva = specs[i].hva,
                        .len_bytes = specs[i].len_bytes,
                        .granule_shift = log2_u64(specs[i].granule_bytes),
                };
                rg->n_granules = (size_t) (rg->len_bytes >> rg->granule_shift);
                h->n_ranges++;
                h->by_hva[i] = i;
        }
        qsort_r(h->by_hva, n, sizeof(size_t), cmp_index_hva, h->ranges);
        for (size_t i = 1; i < n; i++) {
                const Range *a = &h->ranges[h->by_hva[i - 1]], *b = &h->ranges[h->by_hva[i]];
                if (a->hva + a->len_bytes > b->hva)
                        return -EEXIST;
        }
        for (size_t i = 0; i < n; i++) {
                h->ranges[i].heat = xcalloc(h->ranges[i].n_granules, 1);
                h->ram_bytes += h->ranges[i].len_bytes;
        }
        heatmap_build_windows(h);

        *ret = TAKE_PTR(h);
        return 0;
}

HeatMap *heatmap_free(HeatMap *h) {
        if (!h)
                return NULL;
        for (size_t i = 0; i < h->n_ranges; i++)
                free(h->ranges[i].heat);
        free(h->ranges);
        free(h->by_hva);
        free(h->windows);
        free(h);
        return NULL;
}

const HeatParams *heatmap_params(const HeatMap *h) {
        return &h->params;
}

int heatmap_set_params(HeatMap *h, const HeatParams *p) {
        int r;

        r = heat_params_validate(p);
        if (r < 0)
                return r;
        if (p->hist_range_bytes != h->params.hist_range_bytes)
                return -EINVAL;
        h->params = *p;
        heatmap_build_luts(h);
        return 0;
}

const HeatStats *heatmap_stats(const HeatMap *h) {
        return &h->stats;
}

uint64_t heatmap_ram_bytes(const HeatMap *h) {
        return h->ram_bytes;
}

uint64_t heatmap_memory_bytes(const HeatMap *h) {
        uint64_t m = sizeof(HeatMap) + h->n_ranges * (sizeof(Range) + sizeof(size_t)) + h->n_windows * sizeof(Window);

        for (size_t i = 0; i < h->n_ranges; i++)
                m += h->ranges[i].n_granules;
        return m;
}

size_t heatmap_n_ranges(const HeatMap *h) {
        return h->n_ranges;
}

int heatmap_range(const HeatMap *h, size_t index, HeatRangeSpec *ret_spec, const uint8_t **ret_heat, size_t *ret_n_granules) {
        const Range *r;

        if (index >= h->n_ranges)
                return -ENOENT;
        r = &h->ranges[index];
        if (ret_spec)
                *ret_spec = (HeatRangeSpec) {
                        .gpa = r->gpa,
                        .hva = r->hva,
                        .len_bytes = r->len_bytes,
                        .granule_bytes = UINT64_C(1) << r->granule_shift,
                };
        if (ret_heat)
                *ret_heat = r->heat;
        if (ret_n_granules)
                *ret_n_granules = r->n_granules;
        return 0;
}

/* ---- sampling ---- */

static void range_sweep_to(HeatMap *h, Range *r, size_t g_end, bool accessed) {
        const uint8_t *lut = accessed ? h->lut_accessed : h->lut_idle;
        uint8_t *heat = r->heat;

        for (size_t g = r->swept; g < g_end; g++)
                heat[g] = lut[heat[g]];
        r->swept = g_end;
}

static void range_finish_cycle(HeatMap *h, Range *r) {
        range_sweep_to(h, r, r->n_granules, false);
        r->swept = 0;
        r->cursor_off = 0;
}

void heatmap_cycle_begin(HeatMap *h) {
        if (h->in_cycle)
                (void) heatmap_cycle_end(h);
        h->in_cycle = true;
}

int heatmap_cycle_end(HeatMap *h) {
        if (!h->in_cycle)
                return -ESTALE;
        for (size_t i = 0; i < h->n_ranges; i++)
                range_finish_cycle(h, &h->ranges[i]);
        h->in_cycle = false;
        h->stats.cycles++;
        return 0;
}

/* Apply an accessed piece [s, e) given as byte offsets inside r. */
static void range_sample(HeatMap *h, Range *r, uint64_t s, uint64_t e) {
        size_t g0, g1;

        if (s < r->cursor_off) {
                uint64_t clip = MIN(e, r->cursor_off);

                h->stats.out_of_order_bytes += clip - s;
                s = clip;
                if (s >= e)
                        return;
        }
        g0 = (size_t) (s >> r->granule_shift);
        g1 = (size_t) ((e - 1) >> r->granule_shift) + 1;
        if (g0 > r->swept)
                range_sweep_to(h, r, g0, false);
        if (g1 > r->swept)
                range_sweep_to(h, r, g1, true);
        r->cursor_off = e;
        h->stats.sampled_bytes += e - s;
}

int heatmap_sample_hva(HeatMap *h, uint64_t hva, uint64_t len_bytes) {
        uint64_t end, covered = 0;

        if (!h->in_cycle)
                return -ESTALE;
        if (len_bytes == 0)
                return 0;
        end = hva > UINT64_MAX - len_bytes ? UINT64_MAX : hva + len_bytes;

        for (size_t i = 0; i < h->n_ranges; i++) {
                Range *r = &h->ranges[h->by_hva[i]];
                uint64_t s, e;

                if (r->hva >= end)
                        break;
                if (r->hva + r->len_bytes <= hva)
                        continue;
                s = MAX(hva, r->hva);
                e = MIN(end, r->hva + r->len_bytes);
                range_sample(h, r, s - r->hva, e - r->hva);
                covered += e - s;
        }
        h->stats.unmatched_bytes += (end - hva) - covered;
        return 0;
}

int heatmap_sample_gpa(HeatMap *h, uint64_t gpa, uint64_t len_bytes) {
        uint64_t end, covered = 0;

        if (!h->in_cycle)
                return -ESTALE;
        if (len_bytes == 0)
                return 0;
        end = gpa > UINT64_MAX - len_bytes ? UINT64_MAX : gpa + len_bytes;

        for (size_t i = 0; i < h->n_ranges; i++) {
                Range *r = &h->ranges[i];
                uint64_t s, e;

                if (r->gpa >= end)
                        break;
                if (r->gpa + r->len_bytes <= gpa)
                        continue;
                s = MAX(gpa, r->gpa);
                e = MIN(end, r->gpa + r->len_bytes);
                range_sample(h, r, s - r->gpa, e - r->gpa);
                covered += e - s;
        }
        h->stats.unmatched_bytes += (end - gpa) - covered;
        return 0;
}

static int cmp_sample(const void *a, const void *b) {
        const HeatSample *x = a, *y = b;

        if (x->hva != y->hva)
                return (x->hva > y->hva) - (x->hva < y->hva);
        return (x->len_bytes > y->len_bytes) - (x->len_bytes < y->len_bytes);
}

int heatmap_apply_cycle(HeatMap *h, const HeatSample *samples, size_t n) {
        _cleanup_free_ HeatSample *sorted = NULL;
        uint64_t ooo;

        sorted = xcalloc(n, sizeof(HeatSample));
        if (n > 0)
                memcpy(sorted, samples, n * sizeof(HeatSample));
        qsort(sorted, n, sizeof(HeatSample), cmp_sample);

        heatmap_cycle_begin(h);
        ooo = h->stats.out_of_order_bytes;
        for (size_t i = 0; i < n; i++)
                (void) heatmap_sample_hva(h, sorted[i].hva, sorted[i].len_bytes);
        /* after sorting, clipping only removes overlaps: not out of order */
        h->stats.out_of_order_bytes = ooo;
        return heatmap_cycle_end(h);
}

/* ---- queries ---- */

static const Range *find_gpa(const HeatMap *h, uint64_t gpa) {
        size_t lo = 0, hi = h->n_ranges;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const Range *r = &h->ranges[mid];

                if (gpa < r->gpa)
                        hi = mid;
                else if (gpa - r->gpa >= r->len_bytes)
                        lo = mid + 1;
                else
                        return r;
        }
        return NULL;
}

static const Range *find_hva(const HeatMap *h, uint64_t hva) {
        size_t lo = 0, hi = h->n_ranges;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const Range *r = &h->ranges[h->by_hva[mid]];

                if (hva < r->hva)
                        hi = mid;
                else if (hva - r->hva >= r->len_bytes)
                        lo = mid + 1;
                else
                        return r;
        }
        return NULL;
}

int heatmap_heat_gpa(const HeatMap *h, uint64_t gpa, uint8_t *ret) {
        const Range *r = find_gpa(h, gpa);

        if (!r)
                return -ENOENT;
        *ret = r->heat[(gpa - r->gpa) >> r->granule_shift];
        return 0;
}

int heatmap_heat_hva(const HeatMap *h, uint64_t hva, uint8_t *ret) {
        const Range *r = find_hva(h, hva);

        if (!r)
                return -ENOENT;
        *ret = r->heat[(hva - r->hva) >> r->granule_shift];
        return 0;
}

int heatmap_gpa_to_hva(const HeatMap *h, uint64_t gpa, uint64_t *ret_hva) {
        const Range *r = find_gpa(h, gpa);

        if (!r)
                return -ENOENT;
        *ret_hva = r->hva + (gpa - r->gpa);
        return 0;
}

int heatmap_hva_to_gpa(const HeatMap *h, uint64_t hva, uint64_t *ret_gpa) {
        const Range *r = find_hva(h, hva);

        if (!r)
                return -ENOENT;
        *ret_gpa = r->gpa + (hva - r->hva);
        return 0;
}

size_t heatmap_n_histograms(const HeatMap *h) {
        return h->n_windows;
}

static void histogram_add_heat(const HeatMap *h, HeatHistogram *hist, uint64_t gpa_start, uint64_t gpa_end) {
        for (size_t i = 0; i < h->n_ranges; i++) {
                const Range *r = &h->ranges[i];
                uint64_t s = MAX(gpa_start, r->gpa), e = MIN(gpa_end, r->gpa + r->len_bytes);
                uint64_t pages_per_granule = UINT64_C(1) << (r->granule_shift - PAGE_SHIFT);
                uint64_t bucket_granules[HEATMAP_BUCKETS] = {}, class_granules[_HEAT_CLASS_MAX] = {};
                uint64_t per_value[256] = {};

                if (s >= e)
                        continue;
                /* count values first, then fold: one pass over the bytes */
                for (size_t g = (size_t) ((s - r->gpa) >> r->granule_shift),
                            ge = (size_t) ((e - r->gpa) >> r->granule_shift); g < ge; g++)
                        per_value[r->heat[g]]++;
                for (unsigned v = 0; v < 256; v++) {
                        bucket_granules[v / HEATMAP_BUCKET_WIDTH] += per_value[v];
                        class_granules[heat_params_classify(&h->params, (uint8_t) v)] += per_value[v];
                }
                for (unsigned b = 0; b < HEATMAP_BUCKETS; b++)
                        hist->pages[b] += bucket_granules[b] * pages_per_granule;
                for (unsigned c = 0; c < _HEAT_CLASS_MAX; c++)
                        hist->class_bytes[c] += class_granules[c] << r->granule_shift;
                hist->ram_bytes += e - s;
        }
}

static void histogram_add_residency(HeatHistogram *hist, const Window *w) {
        uint64_t known = 0;

        if (!w->known) {
                hist->absent_pages += w->ram_pages;
                return;
        }
        for (unsigned n = 0; n < HEATMAP_NODES_MAX; n++) {
                hist->node_pages[n] += w->published[n];
                known += w->published[n];
        }
        hist->other_node_pages += w->published[HEATMAP_NODES_MAX];
        known += w->published[HEATMAP_NODES_MAX];
        hist->absent_pages += w->ram_pages - MIN(known, w->ram_pages);
}

int heatmap_histogram(const HeatMap *h, size_t index, HeatHistogram *ret) {
        const Window *w;
        HeatHistogram hist = {};

        if (index >= h->n_windows)
                return -ENOENT;
        w = &h->windows[index];
        hist.gpa = w->gpa;
        histogram_add_heat(h, &hist, w->gpa, w->gpa + ((w->end_ram_off) << PAGE_SHIFT));
        histogram_add_residency(&hist, w);
        hist.residency_known = w->known;
        *ret = hist;
        return 0;
}

void heatmap_histogram_total(const HeatMap *h, HeatHistogram *ret) {
        HeatHistogram hist = {};
        bool all_known = h->n_windows > 0;

        histogram_add_heat(h, &hist, 0, UINT64_MAX);
        for (size_t i = 0; i < h->n_windows; i++) {
                histogram_add_residency(&hist, &h->windows[i]);
                all_known = all_known && h->windows[i].known;
        }
        hist.residency_known = all_known;
        *ret = hist;
}

/* ---- residency ---- */

static Window *find_window(HeatMap *h, uint64_t gpa) {
        uint64_t ws = gpa & ~((UINT64_C(1) << h->window_shift) - 1);
        size_t lo = 0, hi = h->n_windows;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (h->windows[mid].gpa == ws)
                        return &h->windows[mid];
                if (h->windows[mid].gpa < ws)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

static unsigned node_slot(int node) {
        return node < (int) HEATMAP_NODES_MAX ? (unsigned) node : HEATMAP_NODES_MAX;
}

static const Range *find_hva_run(const HeatMap *h, uint64_t hva, size_t n_pages, int *ret_error) {
        const Range *r;

        if (hva & (PAGE_BYTES - 1)) {
                *ret_error = -EINVAL;
                return NULL;
        }
        r = find_hva(h, hva);
        if (!r) {
                *ret_error = -ENOENT;
                return NULL;
        }
        if (n_pages > (r->hva + r->len_bytes - hva) >> PAGE_SHIFT) {
                *ret_error = -EINVAL;
                return NULL;
        }
        return r;
}

int heatmap_residency_update(HeatMap *h, uint64_t hva, const int *status, size_t n_pages) {
        const Range *r;
        Window *w = NULL;
        int error = 0;

        r = find_hva_run(h, hva, n_pages, &error);
        if (!r)
                return error;

        for (size_t i = 0; i < n_pages; i++) {
                uint64_t gpa = r->gpa + (hva - r->hva) + ((uint64_t) i << PAGE_SHIFT), off;

                if (!w || gpa - w->gpa >= (UINT64_C(1) << h->window_shift)) {
                        w = find_window(h, gpa);
                        if (!w)
                                return -EIO; /* every RAM page has a window: cannot happen */
                }
                off = (gpa - w->gpa) >> PAGE_SHIFT;
                if (off == w->first_ram_off) {
                        memset(w->pending, 0, sizeof(w->pending));
                        w->cursor = off;
                }
                if (off < w->cursor)
                        continue; /* out of order within this pass: ignore */
                w->cursor = off + 1;
                if (status[i] >= 0)
                        w->pending[node_slot(status[i])]++;
                if (w->cursor >= w->end_ram_off) {
                        memcpy(w->published, w->pending, sizeof(w->published));
                        memset(w->pending, 0, sizeof(w->pending));
                        w->known = true;
                        w->cursor = 0;
                }
        }
        return 0;
}

static void counter_move(uint32_t *c, int from, int to) {
        if (from >= 0) {
                unsigned s = node_slot(from);
                if (c[s] > 0)
                        c[s]--;
        }
        if (to >= 0)
                c[node_slot(to)]++;
}

int heatmap_residency_moved(HeatMap *h, uint64_t hva, size_t n_pages, int from, int to) {
        const Range *r;
        Window *w = NULL;
        int error = 0;

        r = find_hva_run(h, hva, n_pages, &error);
        if (!r)
                return error;
        if (from == to)
                return 0;

        for (size_t i = 0; i < n_pages; i++) {
                uint64_t gpa = r->gpa + (hva - r->hva) + ((uint64_t) i << PAGE_SHIFT), off;

                if (!w || gpa - w->gpa >= (UINT64_C(1) << h->window_shift)) {
                        w = find_window(h, gpa);
                        if (!w)
                                return -EIO; /* every RAM page has a window: cannot happen */
                }
                off = (gpa - w->gpa) >> PAGE_SHIFT;
                if (w->known)
                        counter_move(w->published, from, to);
                if (off < w->cursor)
                        counter_move(w->pending, from, to);
        }
        return 0;
}
