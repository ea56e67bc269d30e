/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "block-store.h"
#include "heat-sweep.h"
#include "vtism/heatmap.h"
#include "vtism/idle-pages-format.h"
#include "vtism/macro.h"

#define PAGE_SHIFT 12
#define PAGE_BYTES (UINT64_C(1) << PAGE_SHIFT)
#define HIST_RANGE_BYTES_MAX (UINT64_C(1) << 40)

/*
 * A 2 MiB block's placement byte: bits 0..5 a node slot (h->slot_node[]) or BLOCK_ABSENT or
 * BLOCK_UNKNOWN, bit 6 MIXED (pages elsewhere too, all with heat <= the block's ceiling byte),
 * bit 7 HUGE. Not MIXED, the ceiling byte is BLOCK_FULL when every page was present when last
 * seen. A fresh block is BLOCK_UNKNOWN, not mixed, not huge, ceiling 255. The two bytes are one
 * value (byte | ceiling << 8) of the range's BlockStore (block-store.h: one value per 512 MiB
 * where the blocks agree).
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
        size_t first_window;   /* index of the histogram window holding gpa */
        /* placement per 2 MiB block of HVA: block b covers HVA [(first_block + b) << 21, +2 MiB) */
        uint64_t first_block;  /* hva >> BLOCK_SHIFT */
        size_t n_blocks;
        unsigned lead_pages;   /* 4 KiB pages of the first block before hva (range not 2 MiB aligned) */
        BlockStore blocks;     /* placement byte (see BLOCK_*) | ceiling << 8; the ceiling: for
                                * MIXED, every present page not on the block's node has heat <= it */
        /* the sweep of the current cycle */
        size_t swept;          /* granules [0, swept) have their update for this cycle */
        uint64_t cursor_off;   /* end offset of the highest sample (or idle_pages record) of this cycle */
        size_t aged_block;     /* the block whose ceiling this cycle's sweep aged last, SIZE_MAX: none */
        uint8_t aged_ceiling;  /* that block's ceiling before this cycle */
} Range;

/*
 * Histogram cache per window: granules (in 4 KiB pages) with heat >= each threshold of
 * HistEdge, counted by the sweep (cur) and published at the cycle's end (hist).
 */
enum {
        HIST_EDGE_BUCKET1,                              /* 32, 64, ..., 224: buckets 1..7 */
        HIST_EDGE_COLD = HIST_EDGE_BUCKET1 + HEATMAP_BUCKETS - 1,   /* cold_max + 1 */
        HIST_EDGE_HOT,                                  /* hot_min */
        _HIST_EDGE_MAX,
};
assert_cc(_HIST_EDGE_MAX == HEAT_SWEEP_THRESHOLDS);

typedef struct Window {
        uint64_t gpa;                 /* start, aligned to hist_range_bytes */
        /* in 4 KiB pages: a window holds at most 2^40 bytes (HIST_RANGE_BYTES_MAX), 2^28 pages */
        uint32_t ram_pages;
        uint32_t first_ram_off;       /* page offsets inside the window */
        uint32_t end_ram_off;         /* one past the last RAM page */
        uint32_t cursor;              /* next page offset expected in the residency pass */
        bool known;
        /* between cycles what the last cycle counted; inside one the sweep's count so far (a query
         * inside a cycle scans the bytes instead, so no second array is needed) */
        uint32_t hist[_HIST_EDGE_MAX];
} Window;
assert_cc(HIST_RANGE_BYTES_MAX >> PAGE_SHIFT <= UINT32_MAX);

struct HeatMap {
        HeatParams params;
        HeatSweepParams sweep;
        Range *ranges;                /* sorted by gpa */
        size_t n_ranges;
        size_t *by_hva;               /* indexes into ranges, sorted by hva */
        Window *windows;              /* sorted by gpa */
        size_t n_windows;
        unsigned window_shift;
        /* residency counters, per window a pending and a published array of res_width: nodes
         * 0..res_width-2 and, last, every other node (>= res_width - 1 only for >= NODES_MAX):
         * sized to the highest node seen, not to HEATMAP_NODES_MAX */
        uint32_t *res;
        unsigned res_width;
        uint64_t residency_generation;
        uint64_t ram_bytes;
        HeatStats stats;
        bool in_cycle;
        bool cycle_hist_ok;           /* this cycle's sweep counts hold (params unchanged) */
        int16_t slot_node[BLOCK_SLOTS]; /* node id of each block slot, in order of first sight */
        unsigned n_slots;
        /* consecutive heatmap_residency_moved() reports on one block, applied as one set: pages
         * moved one by one must not hide from the block what they are together */
        struct {
                bool active, moved;
                size_t range, block;
                int to_slot;          /* slot, BLOCK_ABSENT (-1 = gone), or -2: no slot */
                uint64_t bits[BLOCK_PAGES / 64];
        } pending;
        /* the block being sampled: what was seen of granules [g0, g0 + fill), 0xff accessed */
        struct {
                Range *r;             /* NULL: none */
                size_t b, g0, g1;     /* block b of r: granules [g0, g1) */
                size_t fill;
                bool pte_present;     /* heatmap_sample_idle_pages(MARK_HUGE): 4 KiB mappings seen */
                uint8_t acc[BLOCK_PAGES + 16];
        } open;
};

static uint8_t block_byte(const Range *r, size_t b) {
        return (uint8_t) block_store_get(&r->blocks, b);
}

static void block_get(const Range *r, size_t b, uint8_t *ret_byte, uint8_t *ret_ceiling) {
        uint16_t x = block_store_get(&r->blocks, b);

        *ret_byte = (uint8_t) x;
        *ret_ceiling = (uint8_t) (x >> 8);
}

static void block_put(Range *r, size_t b, uint8_t byte, uint8_t ceiling) {
        block_store_set(&r->blocks, b, (uint16_t) (byte | (unsigned) ceiling << 8));
}

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

static void heatmap_build_sweep(HeatMap *h) {
        h->sweep.keep = 100 - h->params.decay_percent;
        for (unsigned b = 1; b < HEATMAP_BUCKETS; b++)
                h->sweep.ge[HIST_EDGE_BUCKET1 + b - 1] = (uint8_t) (b * HEATMAP_BUCKET_WIDTH);
        h->sweep.ge[HIST_EDGE_COLD] = (uint8_t) (h->params.cold_max + 1);
        h->sweep.ge[HIST_EDGE_HOT] = (uint8_t) h->params.hot_min;
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
                                        .first_ram_off = (uint32_t) ((s - ws) >> PAGE_SHIFT),
                                };
                        }
                        w->ram_pages += (uint32_t) ((e - s) >> PAGE_SHIFT);
                        w->end_ram_off = (uint32_t) ((e - ws) >> PAGE_SHIFT);
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
        heatmap_build_sweep(h);
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
                block_store_init(&rg->blocks, rg->n_blocks, (uint16_t) (BLOCK_UNKNOWN | HEATMAP_HEAT_MAX << 8));
                rg->aged_block = SIZE_MAX;
                h->ram_bytes += rg->len_bytes;
        }
        heatmap_build_windows(h);
        for (size_t i = 0, w = 0; i < n; i++) {
                Range *rg = &h->ranges[i];

                while (h->windows[w].gpa + (UINT64_C(1) << h->window_shift) - 1 < rg->gpa)
                        w++;
                rg->first_window = w;
        }
        h->res_width = 1;
        h->res = xcalloc(h->n_windows * 2, sizeof(uint32_t));

        *ret = TAKE_PTR(h);
        return 0;
}

HeatMap *heatmap_free(HeatMap *h) {
        if (!h)
                return NULL;
        for (size_t i = 0; i < h->n_ranges; i++) {
                free(h->ranges[i].heat);
                block_store_done(&h->ranges[i].blocks);
        }
        free(h->ranges);
        free(h->by_hva);
        free(h->windows);
        free(h->res);
        free(h);
        return NULL;
}

const HeatParams *heatmap_params(const HeatMap *h) {
        return &h->params;
}

static void windows_recount(HeatMap *h);

int heatmap_set_params(HeatMap *h, const HeatParams *p) {
        bool same;
        int r;

        r = heat_params_validate(p);
        if (r < 0)
                return r;
        if (p->hist_range_bytes != h->params.hist_range_bytes)
                return -EINVAL;
        /* the decay changes nothing counted: only new thresholds make the cached counts wrong */
        same = p->hot_min == h->params.hot_min && p->cold_max == h->params.cold_max;
        h->params = *p;
        heatmap_build_sweep(h);
        if (same)
                return 0;
        /* the cached histograms count by the old thresholds: count again, now or after the cycle */
        if (h->in_cycle)
                h->cycle_hist_ok = false;
        else
                windows_recount(h);
        return 0;
}

const HeatStats *heatmap_stats(const HeatMap *h) {
        return &h->stats;
}

uint64_t heatmap_ram_bytes(const HeatMap *h) {
        return h->ram_bytes;
}

void heatmap_memory(const HeatMap *h, HeatMemory *ret) {
        HeatMemory m = {
                .map_bytes = sizeof(HeatMap),
                .range_bytes = h->n_ranges * (sizeof(Range) + sizeof(size_t)),
                .window_bytes = h->n_windows * sizeof(Window),
                .residency_bytes = h->n_windows * 2 * h->res_width * sizeof(uint32_t),
        };

        for (size_t i = 0; i < h->n_ranges; i++) {
                m.heat_bytes += h->ranges[i].n_granules;
                m.block_bytes += block_store_memory_bytes(&h->ranges[i].blocks);
                m.block_arrays += h->ranges[i].blocks.n_arrays;
        }
        *ret = m;
}

uint64_t heatmap_memory_bytes(const HeatMap *h) {
        HeatMemory m;

        heatmap_memory(h, &m);
        return m.heat_bytes + m.block_bytes + m.window_bytes + m.residency_bytes + m.range_bytes + m.map_bytes;
}

uint64_t heatmap_residency_generation(const HeatMap *h) {
        return h->residency_generation;
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
static const Range *find_hva(const HeatMap *h, uint64_t hva);

/* Granules [*ret_g0, *ret_g1) of r in its block b. A 2 MiB granule is its block (hva aligned). */
static void block_granules(const Range *r, size_t b, size_t *ret_g0, size_t *ret_g1) {
        uint64_t s, e;

        if (r->granule_shift != PAGE_SHIFT) {
                *ret_g0 = b;
                *ret_g1 = b + 1;
                return;
        }
        block_span(r, b, &s, &e);
        *ret_g0 = (size_t) s;
        *ret_g1 = (size_t) e;
}

static size_t granule_block(const Range *r, size_t g) {
        return r->granule_shift != PAGE_SHIFT ? g : page_block(r, g);
}

/* Accessed pages may have been faulted in: a block known to be empty is no longer known. */
static void block_accessed(uint8_t *io_byte) {
        if ((*io_byte & BLOCK_SLOT_MASK) == BLOCK_ABSENT)
                *io_byte = (uint8_t) ((*io_byte & BLOCK_HUGE) | BLOCK_UNKNOWN);
}

/* Granule g of r lies in window r->first_window + this. */
static size_t granule_window(const HeatMap *h, const Range *r, size_t g) {
        return (size_t) (((r->gpa + ((uint64_t) g << r->granule_shift)) >> h->window_shift) - (r->gpa >> h->window_shift));
}

/* First granule of r past the window holding granule g. */
static size_t window_end_granule(const HeatMap *h, const Range *r, size_t g) {
        uint64_t gpa = r->gpa + ((uint64_t) g << r->granule_shift);
        uint64_t end = (gpa | ((UINT64_C(1) << h->window_shift) - 1)) - r->gpa;   /* last byte, as an offset */

        return end >= r->len_bytes - 1 ? r->n_granules : (size_t) ((end + 1) >> r->granule_shift);
}

static void window_count(HeatMap *h, Range *r, size_t g, const HeatSweepResult *res) {
        Window *w = &h->windows[r->first_window + granule_window(h, r, g)];
        unsigned pages_shift = r->granule_shift - PAGE_SHIFT;

        for (unsigned t = 0; t < _HIST_EDGE_MAX; t++)
                w->hist[t] += (uint32_t) (res->ge[t] << pages_shift);
}

/*
 * Age granules [gs, ge) of block b of r by one cycle, accessed as acc[0..) says (NULL: all as
 * all_accessed says), counting them into their windows' histograms. A MIXED block's ceiling
 * follows its pages: idle pages only cool (the ceiling decays with them on the block's first
 * piece of the cycle), an accessed page that was at or below the ceiling before this cycle may
 * now be hotter (the ceiling rises to it); pages above the ceiling are on the block's node. A
 * NODE block not known to be all present turns MIXED when a page accessed at heat 0 (maybe
 * faulted in elsewhere) is seen. 2 MiB granules keep no ceiling.
 */
static void block_piece_state(HeatMap *h, Range *r, size_t b, size_t gs, size_t ge, const uint8_t *acc, bool all_accessed,
                              uint8_t *io_byte, uint8_t *io_ceiling) {
        bool fourk = r->granule_shift == PAGE_SHIFT, any = acc || all_accessed;
        uint8_t v = *io_byte;
        unsigned slot = v & BLOCK_SLOT_MASK, before = 0;
        bool mixed = v & BLOCK_MIXED, stats;
        HeatSweepResult res = {};

        if (fourk && r->aged_block != b) { /* the first piece of block b in this cycle */
                r->aged_block = b;
                r->aged_ceiling = *io_ceiling;
                if (mixed)
                        *io_ceiling = (uint8_t) heat_sweep_idle(*io_ceiling, h->sweep.keep);
        }
        if (fourk) {
                stats = any && (mixed || slot == BLOCK_ABSENT || (slot < BLOCK_SLOTS && *io_ceiling != BLOCK_FULL));
                before = mixed ? r->aged_ceiling : 0;
        } else
                stats = any && slot == BLOCK_ABSENT;

        if (!acc && ge - gs > 1 && heat_sweep_uniform(r->heat + gs, ge - gs)) {
                /* one value for the whole piece (THP-backed, or never touched): one granule's worth */
                unsigned v0 = r->heat[gs], nv = all_accessed ? heat_sweep_accessed(v0, h->sweep.keep) : heat_sweep_idle(v0, h->sweep.keep);
                size_t n = ge - gs;

                if (nv != v0)
                        memset(r->heat + gs, (int) nv, n);
                for (unsigned t = 0; t < _HIST_EDGE_MAX; t++)
                        res.ge[t] = nv >= h->sweep.ge[t] ? n : 0;
                res.any_accessed = all_accessed;
                res.max_masked = all_accessed && v0 <= before ? (uint8_t) nv : 0;
                if (granule_window(h, r, gs) == granule_window(h, r, ge - 1)) {
                        window_count(h, r, gs, &res);
                        goto rules;
                }
                /* a block across a window edge: count each side */
                for (size_t g = gs; g < ge;) {
                        size_t e = MIN(ge, window_end_granule(h, r, g));
                        HeatSweepResult part = {};

                        for (unsigned t = 0; t < _HIST_EDGE_MAX; t++)
                                part.ge[t] = res.ge[t] ? e - g : 0;
                        window_count(h, r, g, &part);
                        g = e;
                }
                goto rules;
        }
        for (size_t g = gs; g < ge;) {
                size_t e = MIN(ge, window_end_granule(h, r, g));
                HeatSweepResult part = {};

                heat_sweep(r->heat + g, acc ? acc + (g - gs) : NULL, all_accessed, e - g, &h->sweep, stats, before, &part);
                window_count(h, r, g, &part);
                res.any_accessed = res.any_accessed || part.any_accessed;
                res.max_masked = MAX(res.max_masked, part.max_masked);
                g = e;
        }
rules:
        if (!stats)
                return;
        if (fourk) {
                if (mixed) {
                        if (res.max_masked > *io_ceiling)
                                *io_ceiling = res.max_masked;
                } else if (slot < BLOCK_SLOTS && *io_ceiling != BLOCK_FULL && res.max_masked > 0) {
                        *io_byte |= BLOCK_MIXED;
                        *io_ceiling = res.max_masked;
                        r->aged_ceiling = 0; /* later pieces: the same rule */
                }
        }
        if (res.any_accessed)
                block_accessed(io_byte);
}

/* block_piece_state() on the block's stored state; a chunk of blocks whose last block the sweep
 * finished is compacted (its blocks may have come to agree). */
static void block_piece(HeatMap *h, Range *r, size_t b, size_t gs, size_t ge, const uint8_t *acc, bool all_accessed) {
        uint8_t v, c, v0, c0;
        size_t g0, g1;

        if (gs >= ge)
                return;
        block_get(r, b, &v, &c);
        v0 = v;
        c0 = c;
        block_piece_state(h, r, b, gs, ge, acc, all_accessed, &v, &c);
        if (v != v0 || c != c0)
                block_put(r, b, v, c);
        if (block_store_chunk_last(&r->blocks, b)) {
                block_granules(r, b, &g0, &g1);
                if (ge == g1)
                        block_store_compact(&r->blocks, b >> BLOCK_STORE_CHUNK_SHIFT);
        }
}

/* Whole blocks (or what is left of them) of r from r->swept to granule g_end, idle. */
static void range_idle_to(HeatMap *h, Range *r, size_t g_end) {
        while (r->swept < g_end) {
                size_t b = granule_block(r, r->swept), g0, g1;

                block_granules(r, b, &g0, &g1);
                g1 = MIN(g1, g_end);
                block_piece(h, r, b, r->swept, g1, NULL, false);
                r->swept = g1;
        }
}

static void open_zero_to(HeatMap *h, size_t fill) {
        if (fill > h->open.fill) {
                memset(h->open.acc + h->open.fill, 0, fill - h->open.fill);
                h->open.fill = fill;
        }
}

/* Unmark a whole block whose pages were seen mapped by 4 KiB page tables. */
static void open_unmark_huge(HeatMap *h) {
        if (h->open.pte_present && h->open.g1 - h->open.g0 == BLOCK_PAGES) {
                uint8_t v, c;

                block_get(h->open.r, h->open.b, &v, &c);
                block_put(h->open.r, h->open.b, (uint8_t) (v & ~BLOCK_HUGE), c);
        }
        h->open.pte_present = false;
}

/* Age what the open block has seen so far (an in-cycle residency call wants its heat). */
static void open_settle(HeatMap *h) {
        Range *r = h->open.r;
        size_t end;

        if (!r)
                return;
        end = h->open.g0 + h->open.fill;
        if (end > r->swept) {
                block_piece(h, r, h->open.b, r->swept, end, h->open.acc + (r->swept - h->open.g0), false);
                r->swept = end;
        }
}

/* The open block is done: the granules not seen are idle. */
static void open_close(HeatMap *h) {
        Range *r = h->open.r;

        if (!r)
                return;
        open_zero_to(h, h->open.g1 - h->open.g0);
        open_settle(h);
        open_unmark_huge(h);
        h->open.r = NULL;
}

/* Make block b of r the open one; the blocks between are idle. */
static void open_block(HeatMap *h, Range *r, size_t b) {
        if (h->open.r == r && h->open.b == b)
                return;
        open_close(h);
        h->open.r = r;
        h->open.b = b;
        block_granules(r, b, &h->open.g0, &h->open.g1);
        range_idle_to(h, r, h->open.g0);
        h->open.fill = r->swept - h->open.g0; /* > 0 only if granules of b were aged already */
        h->open.pte_present = false;
}

/* Where r's granules stop being open to samples: the open block's fill, or what is swept. */
static size_t range_front(const HeatMap *h, const Range *r) {
        return h->open.r == r ? h->open.g0 + h->open.fill : r->swept;
}

/* Granules [g0, g1) of r accessed (those below the front are, already). */
static void range_mark(HeatMap *h, Range *r, size_t g0, size_t g1) {
        g0 = MAX(g0, range_front(h, r));
        while (g0 < g1) {
                size_t b = granule_block(r, g0), e;

                open_block(h, r, b);
                e = MIN(g1, h->open.g1);
                open_zero_to(h, g0 - h->open.g0);
                memset(h->open.acc + (g0 - h->open.g0), 0xff, e - g0);
                h->open.fill = e - h->open.g0;
                g0 = e;
        }
}

static void range_finish_cycle(HeatMap *h, Range *r) {
        if (h->open.r == r)
                open_close(h);
        range_idle_to(h, r, r->n_granules);
        r->swept = 0;
        r->cursor_off = 0;
        r->aged_block = SIZE_MAX;
}

void heatmap_cycle_begin(HeatMap *h) {
        if (h->in_cycle)
                (void) heatmap_cycle_end(h);
        pending_flush(h);
        for (size_t i = 0; i < h->n_windows; i++)
                memset(h->windows[i].hist, 0, sizeof(h->windows[i].hist));
        h->cycle_hist_ok = true;
        h->in_cycle = true;
}

int heatmap_cycle_end(HeatMap *h) {
        if (!h->in_cycle)
                return -ESTALE;
        for (size_t i = 0; i < h->n_ranges; i++)
                range_finish_cycle(h, &h->ranges[i]);
        h->in_cycle = false;
        h->stats.cycles++;
        if (!h->cycle_hist_ok)
                windows_recount(h);
        return 0;
}

/* Apply an accessed piece [s, e) given as byte offsets inside r. */
static void range_sample(HeatMap *h, Range *r, uint64_t s, uint64_t e) {
        if (s < r->cursor_off) {
                uint64_t clip = MIN(e, r->cursor_off);

                h->stats.out_of_order_bytes += clip - s;
                s = clip;
                if (s >= e)
                        return;
        }
        range_mark(h, r, (size_t) (s >> r->granule_shift), (size_t) ((e - 1) >> r->granule_shift) + 1);
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

/* ---- idle_pages streams ---- */

/*
 * Per record byte, for the fast decoder: bits 0..7 the 4 KiB pages a PTE-level record covers (0:
 * another record, which takes the careful path), bits 8..15 the accessed ones, bit 16: present
 * pages mapped by page tables (not a THP). stream_flags[type]: 16 bytes of the record's
 * accessed flag, stored whole whatever the count (the next record overwrites the rest).
 */
#define REC_PRESENT (UINT32_C(1) << 16)

static uint32_t stream_rec[256];
static uint8_t stream_flags[16][16];

static void stream_tables_init(void) {
        static bool done;

        if (done)
                return;
        for (unsigned b = 0; b < 256; b++) {
                unsigned type = b >> 4, count = b & 0xfu;
                uint32_t e = 0;

                if (count == 0)
                        continue;
                switch (type) {
                case IDLE_PAGES_PTE_ACCESSED:
                case IDLE_PAGES_PTE_DIRTY_M:
                        e = count | count << 8 | REC_PRESENT;
                        break;
                case IDLE_PAGES_PTE_IDLE:
                        e = count | REC_PRESENT;
                        break;
                case IDLE_PAGES_PTE_HOLE:
                        e = count;
                        break;
                default:
                        break;
                }
                stream_rec[b] = e;
        }
        memset(stream_flags[IDLE_PAGES_PTE_ACCESSED], 0xff, 16);
        memset(stream_flags[IDLE_PAGES_PTE_DIRTY_M], 0xff, 16);
        done = true;
}

typedef struct StreamClip {
        HeatMap *h;
        uint64_t start, end;
        unsigned flags;
        uint64_t unmarked_end;   /* blocks below this were unmarked huge already */
        uint64_t accessed_bytes;
} StreamClip;

/* The careful path: the decoder, one callback per run (also the THP marks per run). */
static int stream_on_run(const IdlePagesRun *run, void *userdata) {
        StreamClip *c = userdata;
        uint64_t s = MAX(run->start_hva, c->start), e = MIN(idle_pages_run_end(run), c->end);

        if (e <= s)
                return 0;
        if ((c->flags & HEATMAP_STREAM_MARK_HUGE) && run->kind != IDLE_PAGES_KIND_HOLE) {
                if (run->page_size_bytes == IDLE_PAGES_PMD_SIZE)
                        (void) heatmap_mark_huge(c->h, s, e - s, true);
                else if (run->page_size_bytes == IDLE_PAGES_PTE_SIZE) {
                        uint64_t bs = MAX(s & ~(IDLE_PAGES_PMD_SIZE - 1), c->unmarked_end);
                        uint64_t be = (e + IDLE_PAGES_PMD_SIZE - 1) & ~(IDLE_PAGES_PMD_SIZE - 1);

                        if (bs < be)
                                (void) heatmap_mark_huge(c->h, bs, be - bs, false);
                        c->unmarked_end = MAX(c->unmarked_end, be);
                }
        }
        if (run->kind != IDLE_PAGES_KIND_ACCESSED)
                return 0;
        c->accessed_bytes += e - s;
        return heatmap_sample_hva(c->h, s, e - s);
}

static int stream_careful(HeatMap *h, uint64_t hva, const uint8_t *buf, size_t size, uint64_t start, uint64_t end,
                          unsigned flags, uint64_t *accessed_bytes) {
        StreamClip c = { .h = h, .start = start, .end = end, .flags = flags };
        IdlePagesDecoder d;
        int r;

        idle_pages_decoder_init(&d, hva);
        r = idle_pages_decoder_feed(&d, buf, size, stream_on_run, &c);
        if (r >= 0)
                r = idle_pages_decoder_finish(&d, stream_on_run, &c);
        *accessed_bytes += c.accessed_bytes;
        return r;
}

/*
 * A record of 2 MiB or 1 GiB units at granule *io_g of r: `n` granules, accessed or not, up to
 * the clip end; whole blocks are aged at once, parts go into the open block.
 */
static void stream_big_record(HeatMap *h, Range *r, size_t *io_g, uint64_t n, bool accessed, size_t g_end,
                              uint64_t *accessed_pages) {
        size_t g = *io_g, end = (size_t) MIN((uint64_t) g_end, g + n);

        while (g < end) {
                size_t b = granule_block(r, g), g0, g1;

                block_granules(r, b, &g0, &g1);
                if (g == g0 && g1 <= end && r->swept <= g0 && !(h->open.r == r && h->open.b == b && h->open.fill > 0)) {
                        /* a whole block: no flags to keep */
                        if (h->open.r != r || h->open.b != b)
                                open_close(h);
                        else
                                h->open.r = NULL;
                        range_idle_to(h, r, g0);
                        block_piece(h, r, b, g0, g1, NULL, accessed);
                        r->swept = g1;
                        g = g1;
                        continue;
                }
                open_block(h, r, b);
                g1 = MIN(g1, end);
                open_zero_to(h, g - h->open.g0);
                memset(h->open.acc + (g - h->open.g0), accessed ? 0xff : 0, g1 - g);
                h->open.fill = g1 - h->open.g0;
                if (g1 == h->open.g1)
                        open_close(h);
                g = g1;
        }
        *accessed_pages += accessed ? end - *io_g : 0;
        *io_g = end;
}

/* Mark (PMD mappings) or unmark (PTE tables) the whole blocks of [g, g + n) of r as THPs. */
static void stream_mark(HeatMap *h, Range *r, size_t g, uint64_t n, size_t g_end, bool huge) {
        uint64_t s = r->hva + ((uint64_t) g << PAGE_SHIFT), e = r->hva + ((uint64_t) MIN((uint64_t) g_end, g + n) << PAGE_SHIFT);

        if (h->open.r == r && h->open.pte_present)
                open_unmark_huge(h); /* in stream order */
        if (s < e)
                (void) heatmap_mark_huge(h, huge ? s : s & ~(IDLE_PAGES_PMD_SIZE - 1), huge ? e - s : ((e + IDLE_PAGES_PMD_SIZE - 1) & ~(IDLE_PAGES_PMD_SIZE - 1)) - (s & ~(IDLE_PAGES_PMD_SIZE - 1)), huge);
}

/*
 * The fast path: records straight into the open block's accessed flags, one 16-byte store per
 * PTE-level record whatever its count, the block aged in one pass when the records leave it.
 * Only for a stream of page records (no SET_HVA, nothing malformed) at or above the range's
 * front, in one range of 4 KiB granules.
 */
static void stream_fast(HeatMap *h, Range *r, size_t g, const uint8_t *buf, size_t size, size_t g_end, unsigned flags,
                        uint64_t *ret_accessed_pages) {
        uint64_t accessed = 0, mark_start = 0, mark_end = 0;   /* granules of the PMD run being marked */
        unsigned mark_type = UINT_MAX;

        while (g < g_end) {
                size_t b = granule_block(r, g), i = 0, pos, limit;
                uint32_t present = 0, e = 0;
                uint8_t *acc;

                open_block(h, r, b);
                open_zero_to(h, g - h->open.g0);
                acc = h->open.acc;
                pos = h->open.fill;
                limit = MIN(h->open.g1, g_end) - h->open.g0;
                for (; i < size; i++) {
                        uint8_t byte = buf[i];

                        e = stream_rec[byte];
                        if (_unlikely_((e & 0xffu) == 0))
                                break;
                        memcpy(acc + pos, stream_flags[byte >> 4], 16);
                        pos += e & 0xffu;
                        accessed += (e >> 8) & 0xffu;
                        present |= e;
                        if (_unlikely_(pos >= limit))
                                break;
                }
                if ((present & REC_PRESENT) && (flags & HEATMAP_STREAM_MARK_HUGE))
                        h->open.pte_present = true;
                if (i == size) { /* the read ends inside the block */
                        h->open.fill = pos;
                        g = h->open.g0 + pos;
                        break;
                }
                if (pos >= limit) {
                        /* the last record left the block (or the clip): its flags beyond are the next block's */
                        size_t over = pos - limit;
                        uint8_t carry[16];

                        for (size_t k = limit; k < pos; k++)
                                accessed -= acc[k] & 1;
                        memcpy(carry, acc + limit, 16);
                        h->open.fill = limit;
                        g = h->open.g0 + limit;
                        buf += i + 1;
                        size -= i + 1;
                        if (g >= g_end)
                                break;
                        open_close(h);
                        open_block(h, r, granule_block(r, g));
                        /* the next block holds the rest of the record, but for a short last block
                         * (the range's end) or the clip's end: what lies beyond is not ours */
                        over = MIN(over, MIN(h->open.g1, g_end) - h->open.g0);
                        memcpy(h->open.acc, carry, 16);
                        h->open.fill = over;
                        if (over > 0 && (e & REC_PRESENT) && (flags & HEATMAP_STREAM_MARK_HUGE))
                                h->open.pte_present = true; /* the record reaches into this block too */
                        for (size_t k = 0; k < over; k++)
                                accessed += carry[k] & 1;
                        g += over;
                        continue;
                }
                /* a record of 2 MiB or 1 GiB units */
                h->open.fill = pos;
                g = h->open.g0 + pos;
                {
                        uint8_t byte = buf[i];
                        unsigned type = byte >> 4, count = byte & 0xfu;
                        uint64_t n = (uint64_t) count << (type == IDLE_PAGES_PUD_PRESENT ? 30 - PAGE_SHIFT : 21 - PAGE_SHIFT);
                        bool is_acc = type == IDLE_PAGES_PMD_ACCESSED || type == IDLE_PAGES_PMD_DIRTY_M || type == IDLE_PAGES_PUD_PRESENT;

                        if (flags & HEATMAP_STREAM_MARK_HUGE) {
                                bool pmd = type == IDLE_PAGES_PMD_ACCESSED || type == IDLE_PAGES_PMD_DIRTY_M ||
                                           type == IDLE_PAGES_PMD_IDLE;

                                /* PMD records of one type in a row are one run, as the decoder
                                 * reports them: its whole blocks are huge, also those that no
                                 * single record covers (records not 2 MiB aligned) */
                                if (!pmd || type != mark_type || g != mark_end) {
                                        if (mark_end > mark_start)
                                                stream_mark(h, r, mark_start, mark_end - mark_start, g_end, true);
                                        mark_start = mark_end = g;
                                        mark_type = pmd ? type : UINT_MAX;
                                }
                                if (pmd)
                                        mark_end = g + n;
                                else if (type == IDLE_PAGES_PMD_IDLE_PTES)
                                        stream_mark(h, r, g, n, g_end, false);
                        }
                        stream_big_record(h, r, &g, n, is_acc, g_end, &accessed);
                }
                buf += i + 1;
                size -= i + 1;
        }
        if (mark_end > mark_start)
                stream_mark(h, r, mark_start, mark_end - mark_start, g_end, true);
        r->cursor_off = MAX(r->cursor_off, (uint64_t) g << PAGE_SHIFT);
        h->stats.sampled_bytes += accessed << PAGE_SHIFT;
        *ret_accessed_pages = accessed;
}

int heatmap_sample_idle_pages(HeatMap *h, uint64_t hva, const void *buf, size_t size, uint64_t clip_start, uint64_t clip_len,
                              unsigned flags, uint64_t *ret_accessed_bytes) {
        uint64_t clip_end = clip_start > UINT64_MAX - clip_len ? UINT64_MAX : clip_start + clip_len, accessed = 0, pages;
        Range *r;
        size_t g, g_end;
        int e;

        if (!h->in_cycle)
                return -ESTALE;
        stream_tables_init();
        r = (Range *) find_hva(h, hva);
        if (!r || r->granule_shift != PAGE_SHIFT || clip_end > r->hva + r->len_bytes || hva < clip_start ||
            ((hva | clip_end) & (PAGE_BYTES - 1)) || hva - r->hva < r->cursor_off ||
            ((hva - r->hva) >> PAGE_SHIFT) < range_front(h, r) ||
            size > (UINT64_MAX - hva) / (IDLE_PAGES_COUNT_MAX * IDLE_PAGES_PUD_SIZE) ||
            !heat_sweep_plain_records(buf, size)) {
                e = stream_careful(h, hva, buf, size, clip_start, clip_end, flags, &accessed);
                if (e >= 0 && ret_accessed_bytes)
                        *ret_accessed_bytes = accessed;
                return e;
        }
        g = (size_t) ((hva - r->hva) >> PAGE_SHIFT);
        g_end = (size_t) ((clip_end - r->hva + PAGE_BYTES - 1) >> PAGE_SHIFT);
        if (size > 0 && g < g_end)
                stream_fast(h, r, g, buf, size, g_end, flags, &pages);
        else
                pages = 0;
        if (ret_accessed_bytes)
                *ret_accessed_bytes = pages << PAGE_SHIFT;
        return 0;
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

/* Granules of r in [gs, ge) with heat >= each of the current thresholds, by a scan of their bytes. */
static void count_ge(const HeatMap *h, const Range *r, size_t gs, size_t ge, uint64_t ret[_HIST_EDGE_MAX]) {
        uint64_t per_value[256] = {};

        /* count values first, then fold: one pass over the bytes */
        for (size_t g = gs; g < ge; g++)
                per_value[r->heat[g]]++;
        for (unsigned t = 0; t < _HIST_EDGE_MAX; t++) {
                uint64_t n = 0;

                for (unsigned v = h->sweep.ge[t]; v < 256; v++)
                        n += per_value[v];
                ret[t] = n;
        }
}

/* The window's counts (in 4 KiB pages) from its heat bytes, as the sweep would have counted them. */
static void window_scan(const HeatMap *h, size_t index, uint64_t ret[_HIST_EDGE_MAX]) {
        const Window *w = &h->windows[index];
        uint64_t ws = w->gpa, we = w->gpa + ((uint64_t) w->end_ram_off << PAGE_SHIFT);

        memset(ret, 0, sizeof(uint64_t) * _HIST_EDGE_MAX);
        for (size_t i = 0; i < h->n_ranges; i++) {
                const Range *r = &h->ranges[i];
                uint64_t s = MAX(ws, r->gpa), e = MIN(we, r->gpa + r->len_bytes), part[_HIST_EDGE_MAX];

                if (s >= e)
                        continue;
                count_ge(h, r, (size_t) ((s - r->gpa) >> r->granule_shift), (size_t) ((e - r->gpa) >> r->granule_shift), part);
                for (unsigned t = 0; t < _HIST_EDGE_MAX; t++)
                        ret[t] += part[t] << (r->granule_shift - PAGE_SHIFT);
        }
}

/* After a change of thresholds: the cached counts from the heat bytes. O(pages), once per reload. */
static void windows_recount(HeatMap *h) {
        for (size_t i = 0; i < h->n_windows; i++) {
                uint64_t ge[_HIST_EDGE_MAX];

                window_scan(h, i, ge);
                for (unsigned t = 0; t < _HIST_EDGE_MAX; t++)
                        h->windows[i].hist[t] = (uint32_t) ge[t];
        }
}

/* Buckets and classes of ram_pages pages from their counts at or above each edge. */
static void histogram_add_heat(HeatHistogram *hist, uint64_t ram_pages, const uint64_t ge[_HIST_EDGE_MAX]) {
        uint64_t above = ram_pages;

        for (unsigned b = 0; b < HEATMAP_BUCKETS; b++) {
                uint64_t next = b + 1 < HEATMAP_BUCKETS ? ge[HIST_EDGE_BUCKET1 + b] : 0;

                hist->pages[b] += above - next;
                above = next;
        }
        hist->class_bytes[HEAT_COLD] += (ram_pages - ge[HIST_EDGE_COLD]) << PAGE_SHIFT;
        hist->class_bytes[HEAT_WARM] += (ge[HIST_EDGE_COLD] - ge[HIST_EDGE_HOT]) << PAGE_SHIFT;
        hist->class_bytes[HEAT_HOT] += ge[HIST_EDGE_HOT] << PAGE_SHIFT;
        hist->ram_bytes += ram_pages << PAGE_SHIFT;
}

static const uint32_t *window_published(const HeatMap *h, size_t index) {
        return h->res + (index * 2 + 1) * h->res_width;
}

static void histogram_add_residency(const HeatMap *h, HeatHistogram *hist, size_t index) {
        const Window *w = &h->windows[index];
        const uint32_t *published = window_published(h, index);
        uint64_t known = 0;

        if (!w->known) {
                hist->absent_pages += w->ram_pages;
                return;
        }
        for (unsigned n = 0; n + 1 < h->res_width; n++) {
                hist->node_pages[n] += published[n];
                known += published[n];
        }
        hist->other_node_pages += published[h->res_width - 1];
        known += published[h->res_width - 1];
        hist->absent_pages += w->ram_pages - MIN(known, (uint64_t) w->ram_pages);
}

/* A window's heat part: cached at the end of each cycle; inside one, from the bytes as they are. */
static void window_add_heat(const HeatMap *h, HeatHistogram *hist, size_t index) {
        const Window *w = &h->windows[index];
        uint64_t ge[_HIST_EDGE_MAX];

        if (h->in_cycle)
                window_scan(h, index, ge);
        else
                for (unsigned t = 0; t < _HIST_EDGE_MAX; t++)
                        ge[t] = w->hist[t];
        histogram_add_heat(hist, w->ram_pages, ge);
}

/* A window's histogram, with its heat part or without. O(nodes) out of a cycle. */
static int window_histogram(const HeatMap *h, size_t index, bool with_heat, HeatHistogram *ret) {
        const Window *w;
        HeatHistogram hist = {};

        if (index >= h->n_windows)
                return -ENOENT;
        w = &h->windows[index];
        hist.gpa = w->gpa;
        if (with_heat)
                window_add_heat(h, &hist, index);
        else
                hist.ram_bytes = (uint64_t) w->ram_pages << PAGE_SHIFT;
        histogram_add_residency(h, &hist, index);
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

        for (size_t i = 0; i < h->n_windows; i++) {
                window_add_heat(h, &hist, i);
                histogram_add_residency(h, &hist, i);
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

static uint32_t *window_pending(HeatMap *h, const Window *w) {
        return h->res + (size_t) (w - h->windows) * 2 * h->res_width;
}

static uint32_t *window_published_mut(HeatMap *h, const Window *w) {
        return window_pending(h, w) + h->res_width;
}

/* The counter of node in each residency array, widening them all when a new node comes. */
static unsigned res_index(HeatMap *h, int node) {
        unsigned width, old = h->res_width;
        uint32_t *res;

        if (node >= (int) HEATMAP_NODES_MAX)
                return old - 1;
        if ((unsigned) node + 1 < old)
                return (unsigned) node;
        width = (unsigned) node + 2;
        res = xcalloc(h->n_windows * 2 * width, sizeof(uint32_t));
        for (size_t a = 0; a < h->n_windows * 2; a++) {
                memcpy(res + a * width, h->res + a * old, (old - 1) * sizeof(uint32_t));
                res[a * width + width - 1] = h->res[a * old + old - 1];
        }
        free(h->res);
        h->res = res;
        h->res_width = width;
        return (unsigned) node;
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
static bool window_accepts(HeatMap *h, Window *w, uint64_t off) {
        if (off == w->first_ram_off) {
                memset(window_pending(h, w), 0, h->res_width * sizeof(uint32_t));
                w->cursor = (uint32_t) off;
                return true;
        }
        if (off < w->cursor)
                return false;
        return off == w->cursor ||
               !ram_between(h, w->gpa + ((uint64_t) w->cursor << PAGE_SHIFT), w->gpa + (off << PAGE_SHIFT));
}

/* ---- per 2 MiB block placement ---- */

/* The slot naming node, taken on first sight; -1 once all BLOCK_SLOTS are taken. */
static int node_to_slot(HeatMap *h, int node) {
        for (unsigned i = 0; i < h->n_slots; i++)
                if (h->slot_node[i] == node)
                        return (int) i;
        if (h->n_slots >= BLOCK_SLOTS || node < 0 || node > INT16_MAX)
                return -1;
        h->slot_node[h->n_slots] = (int16_t) node;
        return (int) h->n_slots++;
}

static void block_set(HeatMap *h, Range *r, size_t b, unsigned slot, bool mixed, int ceiling, bool huge) {
        /* inside a cycle some heat bytes of the block may be this cycle's and some the last's */
        block_put(r, b, (uint8_t) (slot | (mixed ? BLOCK_MIXED : 0) | (huge ? BLOCK_HUGE : 0)),
                  (uint8_t) (h->in_cycle ? HEATMAP_HEAT_MAX : MAX(ceiling, 0)));
}

/* A query of every page of block b: its placement byte from scratch. */
static void block_observe_all(HeatMap *h, Range *r, size_t b, uint64_t s, const int *status, uint64_t n) {
        int hot_slot = -1, hot_heat = -1, last_node = -1, last_slot = -1, first_slot = -1;
        bool uniform = true, any_absent = false, huge = block_byte(r, b) & BLOCK_HUGE;

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
        uint8_t v, stored_ceiling;
        unsigned slot;
        bool mixed;
        int first_slot = -1, hot_slot = -1, hot_heat = -1, off_ceiling = -1, ceiling;
        bool uniform = true, any_absent = false;

        block_get(r, b, &v, &stored_ceiling);
        slot = v & BLOCK_SLOT_MASK;
        mixed = v & BLOCK_MIXED;
        ceiling = stored_ceiling;
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
                block_put(r, b, v, 0); /* not every page is present */
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
        {
                uint8_t v, c;

                block_get(r, b, &v, &c);
                block_after_move(h, r, b, h->pending.bits, h->pending.to_slot, h->pending.moved, &v, &c);
                block_put(r, b, v, c);
        }
        h->pending.active = false;
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
        open_settle(h);
        for (size_t i = 0; i < n_pages; i++) /* widen the counters first, if need be */
                if (status[i] >= 0)
                        (void) res_index(h, status[i]);

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
                w->cursor = (uint32_t) (off + 1);
                if (status[i] >= 0)
                        window_pending(h, w)[res_index(h, status[i])]++;
                if (w->cursor >= w->end_ram_off) {
                        uint32_t *pending = window_pending(h, w);

                        memcpy(pending + h->res_width, pending, h->res_width * sizeof(uint32_t));
                        memset(pending, 0, h->res_width * sizeof(uint32_t));
                        h->residency_generation++;
                        w->known = true;
                        w->cursor = 0;
                        in_pass = false;
                }
        }
        range_observe(h, (Range *) r, (hva - r->hva) >> PAGE_SHIFT, status, n_pages);
        return 0;
}

static void counter_move(HeatMap *h, uint32_t *c, int from, int to) {
        if (from >= 0) {
                unsigned s = res_index(h, from);
                if (c[s] > 0)
                        c[s]--;
        }
        if (to >= 0)
                c[res_index(h, to)]++;
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
        open_settle(h);
        range_moved(h, (Range *) r, (hva - r->hva) >> PAGE_SHIFT, n_pages, to, from != to);
        if (from == to)
                return 0;
        if (from >= 0)
                (void) res_index(h, from); /* widen before taking pointers */
        if (to >= 0)
                (void) res_index(h, to);

        for (size_t i = 0; i < n_pages; i++) {
                uint64_t gpa = r->gpa + (hva - r->hva) + ((uint64_t) i << PAGE_SHIFT), off;

                if (!w || gpa - w->gpa >= (UINT64_C(1) << h->window_shift)) {
                        w = find_window(h, gpa);
                        if (!w)
                                return -EIO; /* every RAM page has a window: cannot happen */
                }
                off = (gpa - w->gpa) >> PAGE_SHIFT;
                if (w->known) {
                        counter_move(h, window_published_mut(h, w), from, to);
                        h->residency_generation++;
                }
                if (off < w->cursor)
                        counter_move(h, window_pending(h, w), from, to);
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
                        uint8_t v, c;

                        block_get(r, b, &v, &c);
                        block_put(r, b, huge ? (uint8_t) (v | BLOCK_HUGE) : (uint8_t) (v & ~BLOCK_HUGE), c);
                }
        }
        return any ? 0 : -ENOENT;
}

static void block_describe(const HeatMap *h, const Range *r, size_t b, HeatBlock *ret) {
        uint8_t v, c;
        unsigned slot;
        uint64_t s, e;

        block_get(r, b, &v, &c);
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
