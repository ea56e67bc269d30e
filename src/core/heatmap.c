/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vtism/heatmap.h"
#include "vtism/macro.h"

#define PAGE_SHIFT 12
#define PAGE_BYTES (UINT64_C(1) << PAGE_SHIFT)
#define HIST_RANGE_BYTES_MAX (UINT64_C(1) << 40)

/*
 * A 2 MiB block's placement byte: bits 0..5 a node slot (h->slot_node[]) or BLOCK_ABSENT or
 * BLOCK_UNKNOWN, bit 6 MIXED (pages elsewhere too, all with heat <= the block's ceiling byte),
 * bit 7 HUGE. Not MIXED, the ceiling byte is BLOCK_FULL when every page was present when last
 * seen. A fresh block is BLOCK_UNKNOWN, not mixed, not huge, ceiling 255.
 */
#define BLOCK_SHIFT 21
#define BLOCK_PAGES (UINT64_C(1) << (BLOCK_SHIFT - PAGE_SHIFT))
#define BLOCK_SLOT_MASK 0x3fu
#define BLOCK_SLOTS 62u             /* slots 0..61 name nodes */
#define BLOCK_ABSENT 62u
#define BLOCK_UNKNOWN 63u
#define BLOCK_MIXED 0x40u
#define BLOCK_HUGE 0x80u
#define BLOCK_FULL 1u

typedef struct Range {
        uint64_t gpa, hva, len_bytes;
        unsigned granule_shift;
        size_t n_granules;
        uint8_t *heat;
        /* placement per 2 MiB block of HVA: block b covers HVA [(first_block + b) << 21, +2 MiB) */
        uint64_t first_block;  /* hva >> BLOCK_SHIFT */
        size_t n_blocks;
        unsigned lead_pages;   /* 4 KiB pages of the first block before hva (range not 2 MiB aligned) */
        uint8_t *block;        /* placement byte, see BLOCK_* */
        uint8_t *ceiling;      /* MIXED: every present page not on the block's node has heat <= this */
        /* the sweep of the current cycle */
        size_t swept;          /* granules [0, swept) have their update for this cycle */
        uint64_t cursor_off;   /* end offset of the highest sample applied in this cycle */
        size_t aged_block;     /* the block whose ceiling this cycle's sweep aged last, SIZE_MAX: none */
        uint8_t aged_ceiling;  /* that block's ceiling before this cycle */
        size_t aged_end;       /* its end as a granule index, 0 when it must be looked at again */
        bool aged_plain_idle;  /* its idle granules need nothing but the table */
        bool aged_plain_access;/* ... nor its accessed ones */
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
        int slot_node[BLOCK_SLOTS];   /* node id of each block slot, in order of first sight */
        unsigned n_slots;
        /* consecutive heatmap_residency_moved() reports on one block, applied as one set: pages
         * moved one by one must not hide from the block what they are together */
        struct {
                bool active, moved;
                size_t range, block;
                int to_slot;          /* slot, BLOCK_ABSENT (-1 = gone), or -2: no slot */
                uint64_t bits[BLOCK_PAGES / 64];
        } pending;
};

static uint8_t page_heat(const Range *r, uint64_t page) {
        return r->heat[page >> (r->granule_shift - PAGE_SHIFT)];
}

static size_t page_block(const Range *r, uint64_t page) {
        return (size_t) ((page + r->lead_pages) >> (BLOCK_SHIFT - PAGE_SHIFT));
}

/* The range's pages [*ret_start, *ret_end) (page indexes in the range) inside block b. */
static void block_span(const Range *r, size_t b, uint64_t *ret_start, uint64_t *ret_end) {
        uint64_t s = (uint64_t) b * BLOCK_PAGES, e = s + BLOCK_PAGES - r->lead_pages;

        *ret_start = s > r->lead_pages ? s - r->lead_pages : 0;
        *ret_end = MIN(e, r->len_bytes >> PAGE_SHIFT);
}

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
                Range *rg = &h->ranges[i];

                rg->heat = xcalloc(rg->n_granules, 1);
                rg->first_block = rg->hva >> BLOCK_SHIFT;
                rg->n_blocks = (size_t) (((rg->hva + rg->len_bytes - 1) >> BLOCK_SHIFT) - rg->first_block + 1);
                rg->lead_pages = (unsigned) ((rg->hva & ((UINT64_C(1) << BLOCK_SHIFT) - 1)) >> PAGE_SHIFT);
                rg->block = xmalloc(rg->n_blocks);
                memset(rg->block, BLOCK_UNKNOWN, rg->n_blocks);
                rg->ceiling = xmalloc(rg->n_blocks);
                memset(rg->ceiling, HEATMAP_HEAT_MAX, rg->n_blocks);
                rg->aged_block = SIZE_MAX;
                h->ram_bytes += rg->len_bytes;
        }
        heatmap_build_windows(h);

        *ret = TAKE_PTR(h);
        return 0;
}

HeatMap *heatmap_free(HeatMap *h) {
        if (!h)
                return NULL;
        for (size_t i = 0; i < h->n_ranges; i++) {
                free(h->ranges[i].heat);
                free(h->ranges[i].block);
                free(h->ranges[i].ceiling);
        }
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
                m += h->ranges[i].n_granules + 2 * h->ranges[i].n_blocks;
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

static void pending_flush(HeatMap *h);

/* What the fast path of range_sweep_to() may assume of block b, the one being aged. */
static void aged_update(Range *r, size_t b) {
        uint8_t v = r->block[b];
        unsigned slot = v & BLOCK_SLOT_MASK;

        r->aged_end = (size_t) (((uint64_t) (b + 1) << (BLOCK_SHIFT - PAGE_SHIFT)) - r->lead_pages);
        r->aged_plain_idle = !(v & BLOCK_MIXED);
        r->aged_plain_access = r->aged_plain_idle && (slot == BLOCK_UNKNOWN || (slot < BLOCK_SLOTS && r->ceiling[b] == BLOCK_FULL));
}

/* Accessed pages may have been faulted in: a block known to be empty is no longer known. */
static void block_accessed(Range *r, size_t b) {
        if ((r->block[b] & BLOCK_SLOT_MASK) == BLOCK_ABSENT)
                r->block[b] = (uint8_t) ((r->block[b] & BLOCK_HUGE) | BLOCK_UNKNOWN);
}

/*
 * Update granules [swept, g_end) of r, all accessed or all idle. A MIXED block's ceiling follows
 * its pages: pages that stay idle only cool (the ceiling decays with them), and an accessed page
 * that was at or below the ceiling before this cycle may now be hotter (the ceiling rises to it);
 * pages above the ceiling are on the block's node and do not count.
 */
static void range_sweep_blocks(HeatMap *h, Range *r, size_t g_end, bool accessed) {
        const uint8_t *lut = accessed ? h->lut_accessed : h->lut_idle;
        uint8_t *heat = r->heat;
        size_t g = r->swept;

        if (r->granule_shift != PAGE_SHIFT) { /* one granule, one page: no ceiling */
                for (; g < g_end; g++) {
                        heat[g] = lut[heat[g]];
                        if (accessed)
                                block_accessed(r, g);
                }
                r->swept = g_end;
                return;
        }
        while (g < g_end) {
                size_t b = page_block(r, g);
                size_t e = MIN(g_end, (size_t) (((uint64_t) (b + 1) << (BLOCK_SHIFT - PAGE_SHIFT)) - r->lead_pages));
                bool mixed = r->block[b] & BLOCK_MIXED;

                if (r->aged_block != b) { /* the first visit of block b in this cycle */
                        r->aged_block = b;
                        r->aged_ceiling = r->ceiling[b];
                        if (mixed)
                                r->ceiling[b] = h->lut_idle[r->ceiling[b]];
                }
                if (accessed && !mixed && (r->block[b] & BLOCK_SLOT_MASK) < BLOCK_SLOTS && r->ceiling[b] != BLOCK_FULL) {
                        /* a page that was absent (cold) and is accessed has been faulted in,
                         * maybe elsewhere: the block's node no longer speaks for it */
                        int c = -1;

                        for (; g < e; g++) {
                                unsigned v = heat[g];

                                heat[g] = lut[v];
                                if (v == 0)
                                        c = MAX(c, (int) heat[g]);
                        }
                        if (c >= 0) {
                                r->block[b] |= BLOCK_MIXED;
                                r->ceiling[b] = (uint8_t) c;
                                r->aged_ceiling = 0; /* later pieces: the same rule */
                        }
                } else if (accessed && mixed) {
                        unsigned before = r->aged_ceiling, c = r->ceiling[b];

                        for (; g < e; g++) {
                                unsigned v = heat[g];

                                heat[g] = lut[v];
                                if (v <= before && heat[g] > c)
                                        c = heat[g];
                        }
                        r->ceiling[b] = (uint8_t) c;
                } else
                        for (; g < e; g++)
                                heat[g] = lut[heat[g]];
                if (accessed)
                        block_accessed(r, b);
                aged_update(r, b);
        }
        r->swept = g_end;
}

/*
 * The common case first: the granules lie in the block this cycle's sweep has aged already, and
 * the block has nothing to learn from them (not MIXED; idle, or accessed in a block that is
 * UNKNOWN or all present). Then it is the plain table loop.
 */
static inline void range_sweep_to(HeatMap *h, Range *r, size_t g_end, bool accessed) {
        if (g_end <= r->aged_end && (accessed ? r->aged_plain_access : r->aged_plain_idle)) {
                const uint8_t *lut = accessed ? h->lut_accessed : h->lut_idle;
                uint8_t *heat = r->heat;

                for (size_t g = r->swept; g < g_end; g++)
                        heat[g] = lut[heat[g]];
                r->swept = MAX(r->swept, g_end);
                return;
        }
        range_sweep_blocks(h, r, g_end, accessed);
}

static void range_finish_cycle(HeatMap *h, Range *r) {
        range_sweep_to(h, r, r->n_granules, false);
        r->swept = 0;
        r->cursor_off = 0;
        r->aged_block = SIZE_MAX;
        r->aged_end = 0;
}

void heatmap_cycle_begin(HeatMap *h) {
        if (h->in_cycle)
                (void) heatmap_cycle_end(h);
        pending_flush(h);
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

/* A window's histogram, with its heat part (a scan of its heat bytes) or without. */
static int window_histogram(const HeatMap *h, size_t index, bool with_heat, HeatHistogram *ret) {
        const Window *w;
        HeatHistogram hist = {};

        if (index >= h->n_windows)
                return -ENOENT;
        w = &h->windows[index];
        hist.gpa = w->gpa;
        if (with_heat)
                histogram_add_heat(h, &hist, w->gpa, w->gpa + ((w->end_ram_off) << PAGE_SHIFT));
        else
                hist.ram_bytes = w->ram_pages << PAGE_SHIFT;
        histogram_add_residency(&hist, w);
        hist.residency_known = w->known;
        *ret = hist;
        return 0;
}

int heatmap_histogram(const HeatMap *h, size_t index, HeatHistogram *ret) {
        return window_histogram(h, index, true, ret);
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

/* Is any guest RAM in [a, b) (GPA)? */
static bool ram_between(const HeatMap *h, uint64_t a, uint64_t b) {
        size_t lo = 0, hi = h->n_ranges;

        while (lo < hi) { /* the first range ending after a */
                size_t mid = lo + (hi - lo) / 2;

                if (h->ranges[mid].gpa + h->ranges[mid].len_bytes <= a)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo < h->n_ranges && h->ranges[lo].gpa < b;
}

/*
 * Does a batch whose first page in window w is at page offset off belong to the window's pass?
 * Yes when it starts the window (a new pass) or continues the pass where it stands, possibly
 * across a hole in guest RAM; a batch anywhere else (a block queried out of turn) does not.
 */
static bool window_accepts(const HeatMap *h, Window *w, uint64_t off) {
        if (off == w->first_ram_off) {
                memset(w->pending, 0, sizeof(w->pending));
                w->cursor = off;
                return true;
        }
        if (off < w->cursor)
                return false;
        return off == w->cursor ||
               !ram_between(h, w->gpa + (w->cursor << PAGE_SHIFT), w->gpa + (off << PAGE_SHIFT));
}

/* ---- per 2 MiB block placement ---- */

/* The slot naming node, taken on first sight; -1 once all BLOCK_SLOTS are taken. */
static int node_to_slot(HeatMap *h, int node) {
        for (unsigned i = 0; i < h->n_slots; i++)
                if (h->slot_node[i] == node)
                        return (int) i;
        if (h->n_slots >= BLOCK_SLOTS)
                return -1;
        h->slot_node[h->n_slots] = node;
        return (int) h->n_slots++;
}

static void block_set(HeatMap *h, Range *r, size_t b, unsigned slot, bool mixed, int ceiling, bool huge) {
        r->aged_end = 0; /* the sweep looks at blocks again */
        r->block[b] = (uint8_t) (slot | (mixed ? BLOCK_MIXED : 0) | (huge ? BLOCK_HUGE : 0));
        /* inside a cycle some heat bytes of the block may be this cycle's and some the last's */
        r->ceiling[b] = (uint8_t) (h->in_cycle ? HEATMAP_HEAT_MAX : MAX(ceiling, 0));
}

/* A query of every page of block b: its placement byte from scratch. */
static void block_observe_all(HeatMap *h, Range *r, size_t b, uint64_t s, const int *status, uint64_t n) {
        int hot_slot = -1, hot_heat = -1, last_node = -1, last_slot = -1, first_slot = -1;
        bool uniform = true, any_absent = false, huge = r->block[b] & BLOCK_HUGE;

        for (uint64_t i = 0; i < n; i++) {
                int v;

                if (status[i] < 0) {
                        any_absent = true;
                        continue;
                }
                if (status[i] != last_node) {
                        last_node = status[i];
                        last_slot = node_to_slot(h, status[i]);
                }
                if (last_slot < 0) { /* a node no slot can name */
                        block_set(h, r, b, BLOCK_UNKNOWN, false, HEATMAP_HEAT_MAX, false);
                        return;
                }
                if (first_slot < 0)
                        first_slot = last_slot;
                uniform = uniform && last_slot == first_slot;
                v = page_heat(r, s + i);
                if (v > hot_heat) {
                        hot_heat = v;
                        hot_slot = last_slot;
                }
        }
        if (first_slot < 0)
                block_set(h, r, b, BLOCK_ABSENT, false, 0, huge);
        else if (uniform)
                /* a THP is present as a whole: partly present means not (or no longer) a THP */
                block_set(h, r, b, (unsigned) first_slot, false, any_absent ? 0 : BLOCK_FULL, huge && !any_absent);
        else {
                int ceiling = -1;

                for (uint64_t i = 0; i < n; i++)
                        if (status[i] >= 0 && node_to_slot(h, status[i]) != hot_slot)
                                ceiling = MAX(ceiling, (int) page_heat(r, s + i));
                block_set(h, r, b, (unsigned) hot_slot, true, ceiling, false);
        }
}

/* A query of some pages of block b: merge into what is known, never claiming more than it knows. */
static void block_observe_some(HeatMap *h, Range *r, size_t b, uint64_t s, const int *status, uint64_t n) {
        uint8_t v = r->block[b];
        unsigned slot = v & BLOCK_SLOT_MASK;
        bool mixed = v & BLOCK_MIXED;
        int first_slot = -1, hot_slot = -1, hot_heat = -1, off_ceiling = -1, ceiling = r->ceiling[b];
        bool uniform = true, any_absent = false;

        if (slot == BLOCK_UNKNOWN)
                return;
        for (uint64_t i = 0; i < n; i++) {
                int sl, heat;

                if (status[i] < 0) {
                        any_absent = true;
                        continue;
                }
                sl = node_to_slot(h, status[i]);
                if (sl < 0) {
                        block_set(h, r, b, BLOCK_UNKNOWN, false, HEATMAP_HEAT_MAX, false);
                        return;
                }
                heat = page_heat(r, s + i);
                if (first_slot < 0)
                        first_slot = sl;
                uniform = uniform && sl == first_slot;
                if (heat > hot_heat) {
                        hot_heat = heat;
                        hot_slot = sl;
                }
                if ((unsigned) sl != slot)
                        off_ceiling = MAX(off_ceiling, heat);
        }
        if (any_absent && !mixed && slot < BLOCK_SLOTS) {
                r->ceiling[b] = 0; /* not every page is present */
                r->aged_end = 0;
        }
        if (first_slot < 0)
                return; /* only absent pages */

        if (slot == BLOCK_ABSENT) {
                /* the pages not seen were absent and have not been accessed since */
                if (uniform)
                        block_set(h, r, b, (unsigned) first_slot, false, 0, false);
                else {
                        int c = -1;

                        for (uint64_t i = 0; i < n; i++)
                                if (status[i] >= 0 && node_to_slot(h, status[i]) != hot_slot)
                                        c = MAX(c, (int) page_heat(r, s + i));
                        block_set(h, r, b, (unsigned) hot_slot, true, c, false);
                }
                return;
        }
        if (off_ceiling < 0)
                return; /* every page seen is on the block's node */
        if (!mixed)
                ceiling = -1;
        block_set(h, r, b, slot, true, MAX(ceiling, off_ceiling), false);
}

static void range_observe(HeatMap *h, Range *r, uint64_t first_page, const int *status, uint64_t n_pages) {
        uint64_t p = first_page, end = first_page + n_pages;

        while (p < end) {
                size_t b = page_block(r, p);
                uint64_t bs, be, e;

                block_span(r, b, &bs, &be);
                e = MIN(end, be);
                if (p == bs && e == be)
                        block_observe_all(h, r, b, p, status + (p - first_page), e - p);
                else
                        block_observe_some(h, r, b, p, status + (p - first_page), e - p);
                p = e;
        }
}

/* ---- moves: sets of pages of one block ---- */

typedef struct PageSet {
        uint64_t bits[BLOCK_PAGES / 64];   /* bit i: page bs + i of the block */
} PageSet;

/* The highest heat ≤ limit of the block's pages [bs, be) inside (or outside) the set; -1: none. */
static int set_max_heat(const Range *r, uint64_t bs, uint64_t be, const uint64_t *bits, bool inside, unsigned limit) {
        int best = -1;

        for (uint64_t p = bs; p < be; p++) {
                uint64_t i = p - bs;
                unsigned v;

                if ((bool) (bits[i >> 6] >> (i & 63) & 1) != inside)
                        continue;
                v = page_heat(r, p);
                if (v <= limit && (int) v > best)
                        best = (int) v;
        }
        return best;
}

static uint64_t set_count(const uint64_t *bits) {
        uint64_t n = 0;

        for (size_t i = 0; i < BLOCK_PAGES / 64; i++)
                n += (uint64_t) __builtin_popcountll(bits[i]);
        return n;
}

/*
 * The placement byte and ceiling of block b after the pages of set m went to slot ts (-1: gone,
 * -2: a node no slot can name). Of the true statements about the block, the one with the lower
 * ceiling is kept: keeping its node (ceiling = what is known elsewhere, plus m if m left it) or
 * naming ts (ceiling = the hottest page not in m: only those can be elsewhere now).
 */
static void block_after_move(const HeatMap *h, const Range *r, size_t b, const uint64_t *m, int ts, bool moved,
                             uint8_t *io_byte, uint8_t *io_ceiling) {
        uint8_t v = *io_byte;
        unsigned slot = v & BLOCK_SLOT_MASK;
        bool mixed = v & BLOCK_MIXED, huge = v & BLOCK_HUGE, whole;
        uint64_t bs, be;
        int keep_ceiling, name_ceiling, c = *io_ceiling;
        unsigned name;

        block_span(r, b, &bs, &be);
        whole = set_count(m) == be - bs;
        if (moved && !whole)
                huge = false; /* a THP moves as a whole: part of it moving means it was split */
        if (ts == -2) {
                *io_byte = BLOCK_UNKNOWN;
                *io_ceiling = HEATMAP_HEAT_MAX;
                return;
        }
        if (whole) {
                *io_byte = (uint8_t) ((ts < 0 ? BLOCK_ABSENT : (unsigned) ts) | (huge ? BLOCK_HUGE : 0));
                *io_ceiling = ts < 0 ? 0 : BLOCK_FULL;
                return;
        }
        if (ts < 0 || slot == BLOCK_UNKNOWN || (slot == (unsigned) ts && !mixed)) {
                /* fewer pages present, or nothing new: what was said of the present ones stays true */
                *io_byte = (uint8_t) ((v & ~BLOCK_HUGE) | (huge ? BLOCK_HUGE : 0));
                if (ts < 0 && !mixed)
                        *io_ceiling = 0;
                return;
        }
        if (slot == BLOCK_ABSENT) {
                *io_byte = (uint8_t) ((unsigned) ts | (huge ? BLOCK_HUGE : 0));
                *io_ceiling = 0;
                return;
        }
        if (!mixed)
                keep_ceiling = set_max_heat(r, bs, be, m, true, HEATMAP_HEAT_MAX);
        else if (slot == (unsigned) ts)
                keep_ceiling = set_max_heat(r, bs, be, m, false, (unsigned) c); /* these are not elsewhere any more */
        else
                keep_ceiling = MAX(c, set_max_heat(r, bs, be, m, true, HEATMAP_HEAT_MAX));
        name_ceiling = set_max_heat(r, bs, be, m, false, HEATMAP_HEAT_MAX);
        name = slot;
        if (name_ceiling < keep_ceiling) {
                name = (unsigned) ts;
                keep_ceiling = name_ceiling;
        }
        if (keep_ceiling < 0) { /* nothing can be elsewhere: moved here, or hotter than c (present) */
                *io_byte = (uint8_t) (name | (huge ? BLOCK_HUGE : 0));
                *io_ceiling = BLOCK_FULL;
                return;
        }
        *io_byte = (uint8_t) (name | BLOCK_MIXED | (huge ? BLOCK_HUGE : 0));
        *io_ceiling = (uint8_t) (h->in_cycle ? (int) HEATMAP_HEAT_MAX : keep_ceiling);
}

static void pending_flush(HeatMap *h) {
        Range *r;
        size_t b;

        if (!h->pending.active)
                return;
        r = &h->ranges[h->pending.range];
        b = h->pending.block;
        block_after_move(h, r, b, h->pending.bits, h->pending.to_slot, h->pending.moved, &r->block[b], &r->ceiling[b]);
        h->pending.active = false;
        r->aged_end = 0;
}

static void range_moved(HeatMap *h, Range *r, uint64_t first_page, uint64_t n_pages, int to, bool moved) {
        uint64_t p = first_page, end = first_page + n_pages;
        size_t ri = (size_t) (r - h->ranges);
        int ts = to < 0 ? -1 : node_to_slot(h, to);

        if (to >= 0 && ts < 0)
                ts = -2;
        while (p < end) {
                size_t b = page_block(r, p);
                uint64_t bs, be, e;

                block_span(r, b, &bs, &be);
                e = MIN(end, be);
                if (h->pending.active &&
                    (h->pending.range != ri || h->pending.block != b || h->pending.to_slot != ts))
                        pending_flush(h);
                if (!h->pending.active) {
                        h->pending.active = true;
                        h->pending.moved = false;
                        h->pending.range = ri;
                        h->pending.block = b;
                        h->pending.to_slot = ts;
                        memset(h->pending.bits, 0, sizeof(h->pending.bits));
                }
                for (uint64_t q = p; q < e; q++)
                        h->pending.bits[(q - bs) >> 6] |= UINT64_C(1) << ((q - bs) & 63);
                h->pending.moved = h->pending.moved || moved;
                if (p == bs && e == be)
                        pending_flush(h); /* a whole block needs no company */
                p = e;
        }
}

int heatmap_residency_update(HeatMap *h, uint64_t hva, const int *status, size_t n_pages) {
        const Range *r;
        Window *w = NULL;
        bool in_pass = false;
        int error = 0;

        r = find_hva_run(h, hva, n_pages, &error);
        if (!r)
                return error;
        pending_flush(h);

        for (size_t i = 0; i < n_pages; i++) {
                uint64_t gpa = r->gpa + (hva - r->hva) + ((uint64_t) i << PAGE_SHIFT), off;

                if (!w || gpa - w->gpa >= (UINT64_C(1) << h->window_shift)) {
                        w = find_window(h, gpa);
                        if (!w)
                                return -EIO; /* every RAM page has a window: cannot happen */
                        in_pass = window_accepts(h, w, (gpa - w->gpa) >> PAGE_SHIFT);
                }
                if (!in_pass)
                        continue;
                off = (gpa - w->gpa) >> PAGE_SHIFT;
                w->cursor = off + 1;
                if (status[i] >= 0)
                        w->pending[node_slot(status[i])]++;
                if (w->cursor >= w->end_ram_off) {
                        memcpy(w->published, w->pending, sizeof(w->published));
                        memset(w->pending, 0, sizeof(w->pending));
                        w->known = true;
                        w->cursor = 0;
                        in_pass = false;
                }
        }
        range_observe(h, (Range *) r, (hva - r->hva) >> PAGE_SHIFT, status, n_pages);
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
        if (n_pages == 0)
                return 0;
        range_moved(h, (Range *) r, (hva - r->hva) >> PAGE_SHIFT, n_pages, to, from != to);
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

int heatmap_residency(const HeatMap *h, size_t index, HeatHistogram *ret) {
        return window_histogram(h, index, false, ret);
}

int heatmap_mark_huge(HeatMap *h, uint64_t hva, uint64_t len_bytes, bool huge) {
        uint64_t end = hva > UINT64_MAX - len_bytes ? UINT64_MAX : hva + len_bytes;
        bool any = false;

        pending_flush(h);
        for (size_t i = 0; i < h->n_ranges; i++) {
                Range *r = &h->ranges[i];
                uint64_t s = MAX(hva, r->hva), e = MIN(end, r->hva + r->len_bytes);

                if (s >= e)
                        continue;
                any = true;
                /* whole blocks of the range inside [s, e) */
                for (uint64_t a = (s + BLOCK_PAGES * PAGE_BYTES - 1) & ~(BLOCK_PAGES * PAGE_BYTES - 1);
                     a + BLOCK_PAGES * PAGE_BYTES <= e; a += BLOCK_PAGES * PAGE_BYTES) {
                        size_t b = (size_t) ((a >> BLOCK_SHIFT) - r->first_block);

                        if (huge)
                                r->block[b] |= BLOCK_HUGE;
                        else
                                r->block[b] &= (uint8_t) ~BLOCK_HUGE;
                }
        }
        return any ? 0 : -ENOENT;
}

static void block_describe(const HeatMap *h, const Range *r, size_t b, HeatBlock *ret) {
        uint8_t v = r->block[b], c = r->ceiling[b];
        unsigned slot;
        uint64_t s, e;

        if (h->pending.active && &h->ranges[h->pending.range] == r && h->pending.block == b)
                block_after_move(h, r, b, h->pending.bits, h->pending.to_slot, h->pending.moved, &v, &c);
        slot = v & BLOCK_SLOT_MASK;

        block_span(r, b, &s, &e);
        *ret = (HeatBlock) {
                .hva = r->hva + (s << PAGE_SHIFT),
                .n_pages = e - s,
                .kind = slot == BLOCK_UNKNOWN ? HEAT_BLOCK_UNKNOWN :
                        slot == BLOCK_ABSENT ? HEAT_BLOCK_ABSENT :
                        (v & BLOCK_MIXED) ? HEAT_BLOCK_MIXED : HEAT_BLOCK_NODE,
                .node = slot < BLOCK_SLOTS ? h->slot_node[slot] : -1,
                .ceiling = (v & BLOCK_MIXED) ? c : 0,
                .all_present = slot < BLOCK_SLOTS && !(v & BLOCK_MIXED) && c == BLOCK_FULL,
                .huge = v & BLOCK_HUGE,
        };
}

size_t heatmap_range_n_blocks(const HeatMap *h, size_t index) {
        return index < h->n_ranges ? h->ranges[index].n_blocks : 0;
}

int heatmap_range_block(const HeatMap *h, size_t index, size_t block, HeatBlock *ret) {
        if (index >= h->n_ranges || block >= h->ranges[index].n_blocks)
                return -ENOENT;
        block_describe(h, &h->ranges[index], block, ret);
        return 0;
}

int heatmap_block_hva(const HeatMap *h, uint64_t hva, HeatBlock *ret) {
        const Range *r = find_hva(h, hva);

        if (!r)
                return -ENOENT;
        block_describe(h, r, page_block(r, (hva - r->hva) >> PAGE_SHIFT), ret);
        return 0;
}
