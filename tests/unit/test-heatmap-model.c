/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The heat map's fast paths against a straightforward reference implementation of the model of
 * include/vtism/heatmap.h, kept here: per granule heat' = heat * (100 - decay) / 100 (+ 32 when
 * accessed, at most 255), the block summary's rules for a cycle's sweep, the THP marks of an
 * idle_pages stream, and histograms by counting every byte. Random idle_pages streams with every
 * record type (and SET_HVA jumps, which take the decoder), read in pieces as the tracker reads
 * them, through heatmap_sample_idle_pages() and, on a second map, through the decoder and
 * heatmap_sample_hva(); every decay value 0..100, random thresholds, random block states from
 * residency queries and moves between cycles. Also: the vectorisable form of v * k / 100 for
 * every v and k, and the histogram cache after threshold changes in and out of a cycle.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "../../src/core/heat-sweep.h"
#include "check.h"
#include "splitmix.h"
#include "vtism/heatmap.h"
#include "vtism/idle-pages-format.h"
#include "vtism/macro.h"

#define K4 (UINT64_C(4096))
#define M1 (UINT64_C(1) << 20)
#define M2 (UINT64_C(2) << 20)
#define BLOCK_PAGES 512u

static uint64_t rng = 1;

static uint64_t rnd(void) {
        return splitmix64(&rng);
}

static unsigned rnd_below(unsigned n) {
        return (unsigned) (rnd() % n);
}

/* ---- the reference model ---- */

typedef struct RefRange {
        HeatRangeSpec spec;
        size_t n_granules, n_blocks;
        uint8_t *heat;
        HeatBlock *blocks;
        bool *accessed;   /* this cycle */
} RefRange;

typedef struct Ref {
        RefRange r[3];
        size_t n;
        HeatParams params;
} Ref;

static unsigned granule_shift(const RefRange *r) {
        return r->spec.granule_bytes == M2 ? 21 : 12;
}

/* The block of a granule: blocks are 2 MiB of HVA. */
static size_t ref_block_of(const RefRange *r, size_t g) {
        return (size_t) (((r->spec.hva + ((uint64_t) g << granule_shift(r))) >> 21) - (r->spec.hva >> 21));
}

/* Take the block summaries as the map has them (after residency calls, which are not the hot path). */
static void ref_sync_blocks(Ref *ref, const HeatMap *h) {
        for (size_t i = 0; i < ref->n; i++)
                for (size_t b = 0; b < ref->r[i].n_blocks; b++)
                        check_int(heatmap_range_block(h, i, b, &ref->r[i].blocks[b]), 0);
}

static void ref_init(Ref *ref, const HeatMap *h) {
        *ref = (Ref) { .n = heatmap_n_ranges(h), .params = *heatmap_params(h) };
        for (size_t i = 0; i < ref->n; i++) {
                RefRange *r = &ref->r[i];
                const uint8_t *heat;

                check_int(heatmap_range(h, i, &r->spec, &heat, &r->n_granules), 0);
                r->n_blocks = heatmap_range_n_blocks(h, i);
                r->heat = xcalloc(r->n_granules, 1);
                memcpy(r->heat, heat, r->n_granules);
                r->blocks = xcalloc(r->n_blocks, sizeof(HeatBlock));
                r->accessed = xcalloc(r->n_granules, sizeof(bool));
        }
        ref_sync_blocks(ref, h);
}

static void ref_done(Ref *ref) {
        for (size_t i = 0; i < ref->n; i++) {
                free(ref->r[i].heat);
                free(ref->r[i].blocks);
                free(ref->r[i].accessed);
        }
}

/* An accessed run of HVA [s, e) (already clipped to the range being scanned). */
static void ref_access(Ref *ref, uint64_t s, uint64_t e) {
        for (size_t i = 0; i < ref->n; i++) {
                RefRange *r = &ref->r[i];
                uint64_t a = MAX(s, r->spec.hva), b = MIN(e, r->spec.hva + r->spec.len_bytes);

                for (uint64_t x = a; x < b; x += K4)
                        r->accessed[(x - r->spec.hva) >> granule_shift(r)] = true;
        }
}

/* heatmap_mark_huge() of the model: whole 2 MiB blocks of a range inside [s, e). */
static void ref_mark(Ref *ref, uint64_t s, uint64_t e, bool huge) {
        for (size_t i = 0; i < ref->n; i++) {
                RefRange *r = &ref->r[i];

                for (size_t b = 0; b < r->n_blocks; b++) {
                        HeatBlock *hb = &r->blocks[b];

                        if (hb->n_pages == BLOCK_PAGES && hb->hva >= s && hb->hva + M2 <= e)
                                hb->huge = huge;
                }
        }
}

/*
 * One cycle's sweep, granule by granule: the new heat of each, then per block what its pages
 * taught it (its ceiling as it was before the cycle bounds which accessed pages count).
 */
static void ref_cycle(Ref *ref) {
        unsigned keep = 100 - ref->params.decay_percent;

        for (size_t i = 0; i < ref->n; i++) {
                RefRange *r = &ref->r[i];
                bool fourk = granule_shift(r) == 12;
                _cleanup_free_ int *raise = xcalloc(r->n_blocks, sizeof(int));
                _cleanup_free_ bool *any = xcalloc(r->n_blocks, sizeof(bool));

                for (size_t b = 0; b < r->n_blocks; b++)
                        raise[b] = -1;
                for (size_t g = 0; g < r->n_granules; g++) {
                        size_t b = ref_block_of(r, g);
                        const HeatBlock *hb = &r->blocks[b];
                        unsigned before = hb->kind == HEAT_BLOCK_MIXED ? hb->ceiling : 0;
                        unsigned v = r->heat[g], nv = v * keep / 100;

                        if (r->accessed[g]) {
                                nv = MIN(nv + 32, 255u);
                                any[b] = true;
                                if (v <= before)
                                        raise[b] = MAX(raise[b], (int) nv);
                        }
                        r->heat[g] = (uint8_t) nv;
                }
                for (size_t b = 0; b < r->n_blocks; b++) {
                        HeatBlock *hb = &r->blocks[b];

                        if (fourk && hb->kind == HEAT_BLOCK_MIXED) {
                                /* idle pages cool, and so does the bound on them; accessed ones may pass it */
                                hb->ceiling = (uint8_t) (hb->ceiling * keep / 100);
                                if (raise[b] > hb->ceiling)
                                        hb->ceiling = (uint8_t) raise[b];
                        }
                        /* a page accessed at heat 0 may have been faulted in anywhere */
                        if (fourk && hb->kind == HEAT_BLOCK_NODE && !hb->all_present && raise[b] >= 0) {
                                hb->kind = HEAT_BLOCK_MIXED;
                                hb->ceiling = (uint8_t) raise[b];
                        }
                        if (any[b] && hb->kind == HEAT_BLOCK_ABSENT) {
                                hb->kind = HEAT_BLOCK_UNKNOWN;
                                hb->node = -1;
                        }
                }
                memset(r->accessed, 0, r->n_granules * sizeof(bool));
        }
}

/* Heat histograms of the windows of `gpas` (ascending, n of them, each hist_range_bytes long;
 * with total: plus the whole VM at [n]), by counting every byte once. */
static void ref_histograms(const Ref *ref, const uint64_t *gpas, size_t n, HeatHistogram *ret) {
        for (size_t k = 0; k <= n; k++)
                ret[k] = (HeatHistogram) { .gpa = k < n ? gpas[k] : 0 };
        for (size_t i = 0; i < ref->n; i++) {
                const RefRange *r = &ref->r[i];
                unsigned shift = granule_shift(r);
                size_t k = 0;

                for (size_t g = 0; g < r->n_granules; g++) {
                        uint64_t gpa = r->spec.gpa + ((uint64_t) g << shift);
                        unsigned v = r->heat[g];
                        HeatHistogram *to[2];

                        while (k < n && gpas[k] + ref->params.hist_range_bytes <= gpa)
                                k++;
                        check(k < n && gpas[k] <= gpa); /* every RAM granule lies in a window */
                        to[0] = &ret[k];
                        to[1] = &ret[n];
                        for (unsigned t = 0; t < 2; t++) {
                                to[t]->pages[v / HEATMAP_BUCKET_WIDTH] += UINT64_C(1) << (shift - 12);
                                to[t]->class_bytes[heat_params_classify(&ref->params, (uint8_t) v)] += UINT64_C(1) << shift;
                                to[t]->ram_bytes += UINT64_C(1) << shift;
                        }
                }
        }
}

static bool block_equal(const HeatBlock *a, const HeatBlock *b) {
        return a->hva == b->hva && a->n_pages == b->n_pages && a->kind == b->kind && a->node == b->node &&
               a->ceiling == b->ceiling && a->all_present == b->all_present && a->huge == b->huge;
}

static void check_same(const Ref *ref, const HeatMap *h) {
        for (size_t i = 0; i < ref->n; i++) {
                const RefRange *r = &ref->r[i];
                const uint8_t *heat;
                size_t n;

                check_int(heatmap_range(h, i, NULL, &heat, &n), 0);
                for (size_t g = 0; g < n; g++)
                        if (heat[g] != r->heat[g]) {
                                fprintf(stderr, "range %zu granule %zu: heat %u, the model says %u (decay %u)\n", i, g, heat[g],
                                        r->heat[g], ref->params.decay_percent);
                                check(false);
                        }
                for (size_t b = 0; b < r->n_blocks; b++) {
                        HeatBlock hb;

                        check_int(heatmap_range_block(h, i, b, &hb), 0);
                        if (!block_equal(&hb, &r->blocks[b])) {
                                fprintf(stderr, "range %zu block %zu: kind %d node %d ceiling %u full %d huge %d; the model: "
                                        "kind %d node %d ceiling %u full %d huge %d\n", i, b, hb.kind, hb.node, hb.ceiling,
                                        hb.all_present, hb.huge, r->blocks[b].kind, r->blocks[b].node, r->blocks[b].ceiling,
                                        r->blocks[b].all_present, r->blocks[b].huge);
                                check(false);
                        }
                }
        }
        {
                size_t n = heatmap_n_histograms(h);
                _cleanup_free_ uint64_t *gpas = xcalloc(n + 1, sizeof(uint64_t));
                _cleanup_free_ HeatHistogram *want = xcalloc(n + 1, sizeof(HeatHistogram));

                for (size_t w = 0; w < n; w++) {
                        HeatHistogram got;

                        check_int(heatmap_histogram(h, w, &got), 0);
                        gpas[w] = got.gpa;
                }
                ref_histograms(ref, gpas, n, want);
                for (size_t w = 0; w <= n; w++) {
                        HeatHistogram got;

                        if (w == n)
                                heatmap_histogram_total(h, &got);
                        else
                                check_int(heatmap_histogram(h, w, &got), 0);
                        check_u64(got.ram_bytes, want[w].ram_bytes);
                        for (unsigned b = 0; b < HEATMAP_BUCKETS; b++)
                                check_u64(got.pages[b], want[w].pages[b]);
                        for (unsigned c = 0; c < _HEAT_CLASS_MAX; c++)
                                check_u64(got.class_bytes[c], want[w].class_bytes[c]);
                }
        }
}

/* ---- streams ---- */

/* A random stream for [start, end) and a bit beyond, every record type, now and then a jump. */
static uint8_t *random_stream(uint64_t start, uint64_t end, unsigned density_pct, bool jumps, size_t *ret_size) {
        IdlePagesEncoder e;
        uint8_t *buf;
        uint64_t pos = start;

        idle_pages_encoder_init(&e, start);
        while (pos < end + 64 * K4) {
                unsigned pick = rnd_below(100), type, count = 1 + rnd_below(15);
                bool aligned = (pos & (M2 - 1)) == 0;

                if (jumps && pick < 2) {
                        pos += K4 * (1 + rnd_below(700));
                        idle_pages_encoder_raw_set_hva(&e, pos);
                        continue;
                }
                if (pick < 12 && (aligned || rnd_below(8) == 0)) {
                        /* a 2 MiB-unit record (mostly where the kernel would put one: aligned) */
                        static const IdlePagesType big[] = { IDLE_PAGES_PMD_ACCESSED, IDLE_PAGES_PMD_DIRTY_M, IDLE_PAGES_PMD_IDLE,
                                                             IDLE_PAGES_PMD_IDLE_PTES, IDLE_PAGES_PMD_HOLE };
                        type = big[rnd_below(ELEMENTSOF(big))];
                        count = 1 + rnd_below(2);
                        idle_pages_encoder_raw_byte(&e, IDLE_PAGES_RECORD(type, count));
                        pos += count * M2;
                        continue;
                }
                if (pick == 12 && rnd_below(20) == 0) {
                        idle_pages_encoder_raw_byte(&e, IDLE_PAGES_RECORD(IDLE_PAGES_PUD_PRESENT, 1));
                        pos += UINT64_C(1) << 30;
                        continue;
                }
                if (rnd_below(100) < density_pct)
                        type = rnd_below(3) == 0 ? IDLE_PAGES_PTE_DIRTY_M : IDLE_PAGES_PTE_ACCESSED;
                else
                        type = rnd_below(5) == 0 ? IDLE_PAGES_PTE_HOLE : IDLE_PAGES_PTE_IDLE;
                if (rnd_below(2))
                        count = 1 + rnd_below(2); /* short runs, the worst case */
                idle_pages_encoder_raw_byte(&e, IDLE_PAGES_RECORD(type, count));
                pos += count * K4;
        }
        check_int(idle_pages_encoder_finish(&e, &buf, ret_size), 0);
        return buf;
}

/* Byte offsets where a read may end: not inside the 8 address bytes of a SET_HVA. */
static size_t read_end(const uint8_t *buf, size_t size, size_t from) {
        size_t want = from + 1 + rnd_below(rnd_below(4) == 0 ? 4096 : 64), i = from;

        while (i < size && i < want) {
                if (buf[i] == IDLE_PAGES_CMD_SET_HVA)
                        i += IDLE_PAGES_SET_HVA_BYTES;
                else
                        i++;
        }
        return MIN(i, size);
}

typedef struct RefClip {
        Ref *ref;
        uint64_t start, end;
        bool mark;
} RefClip;

/* The model's reading of the stream: the runs the decoder reports, clipped, marks in run order. */
static int ref_on_run(const IdlePagesRun *run, void *userdata) {
        RefClip *c = userdata;
        uint64_t s = MAX(run->start_hva, c->start), e = MIN(idle_pages_run_end(run), c->end);

        if (e <= s)
                return 0;
        if (c->mark && run->kind != IDLE_PAGES_KIND_HOLE) {
                if (run->page_size_bytes == M2)
                        ref_mark(c->ref, s, e, true);
                else if (run->page_size_bytes == K4)
                        ref_mark(c->ref, s & ~(M2 - 1), (e + M2 - 1) & ~(M2 - 1), false);
        }
        if (run->kind == IDLE_PAGES_KIND_ACCESSED)
                ref_access(c->ref, s, e);
        return 0;
}

typedef struct SlowFeed {
        HeatMap *h;
        uint64_t start, end;
} SlowFeed;

static int slow_on_run(const IdlePagesRun *run, void *userdata) {
        SlowFeed *f = userdata;
        uint64_t s = MAX(run->start_hva, f->start), e = MIN(idle_pages_run_end(run), f->end);

        if (run->kind != IDLE_PAGES_KIND_ACCESSED || e <= s)
                return 0;
        return heatmap_sample_hva(f->h, s, e - s);
}

/*
 * One cycle: a stream per range, read in pieces; `fast` through heatmap_sample_idle_pages(),
 * `slow` through the decoder and heatmap_sample_hva() (no THP marks there).
 */
static void run_cycle(Ref *ref, HeatMap *fast, HeatMap *slow, unsigned density, bool jumps, bool mark) {
        heatmap_cycle_begin(fast);
        heatmap_cycle_begin(slow);
        for (size_t i = 0; i < ref->n; i++) {
                const HeatRangeSpec *sp = &ref->r[i].spec;
                uint64_t start = sp->hva, end = sp->hva + sp->len_bytes, pos = start, model_acc = 0, got_acc = 0;
                _cleanup_free_ uint8_t *buf = NULL;
                size_t size, off = 0;
                RefClip rc = { .ref = ref, .start = start, .end = end, .mark = mark };
                IdlePagesRun *runs = NULL;
                size_t n_runs = 0;

                buf = random_stream(start, end, density, jumps, &size);
                while (off < size) {
                        size_t to = read_end(buf, size, off);
                        IdlePagesDecoder d;
                        SlowFeed sf = { .h = slow, .start = start, .end = end };
                        uint64_t acc = 0;

                        idle_pages_decoder_init(&d, pos);
                        check_int(idle_pages_decoder_feed(&d, buf + off, to - off, ref_on_run, &rc), 0);
                        check_int(idle_pages_decoder_finish(&d, ref_on_run, &rc), 0);
                        check_int(heatmap_sample_idle_pages(fast, pos, buf + off, to - off, start, end - start,
                                                            mark ? HEATMAP_STREAM_MARK_HUGE : 0, &acc), 0);
                        got_acc += acc;
                        {
                                IdlePagesRun *rr = NULL;
                                size_t nr = 0;
                                uint64_t want = 0;

                                check_int(idle_pages_decode(buf + off, to - off, pos, &rr, &nr), 0);
                                for (size_t k = 0; k < nr; k++)
                                        if (rr[k].kind == IDLE_PAGES_KIND_ACCESSED && rr[k].start_hva < end && idle_pages_run_end(&rr[k]) > start)
                                                want += MIN(idle_pages_run_end(&rr[k]), end) - MAX(rr[k].start_hva, start);
                                check_u64(acc, want); /* per read, as the decoder counts them */
                                free(rr);
                        }
                        idle_pages_decoder_init(&d, pos);
                        check_int(idle_pages_decoder_feed(&d, buf + off, to - off, slow_on_run, &sf), 0);
                        check_int(idle_pages_decoder_finish(&d, slow_on_run, &sf), 0);
                        pos = idle_pages_decoder_position(&d);
                        off = to;
                        if (pos >= end)
                                break;
                }
                /* accessed bytes inside the range as the decoder sees them */
                check_int(idle_pages_decode(buf, off, start, &runs, &n_runs), 0);
                for (size_t k = 0; k < n_runs; k++)
                        if (runs[k].kind == IDLE_PAGES_KIND_ACCESSED && runs[k].start_hva < end &&
                            idle_pages_run_end(&runs[k]) > start)
                                model_acc += MIN(idle_pages_run_end(&runs[k]), end) - MAX(runs[k].start_hva, start);
                free(runs);
                check_u64(got_acc, model_acc);
        }
        check_int(heatmap_cycle_end(fast), 0);
        check_int(heatmap_cycle_end(slow), 0);
        ref_cycle(ref);
}

/* Random residency queries and moves between cycles, so that blocks take every state. */
static void shuffle_placement(HeatMap *h) {
        static int status[2048];

        for (size_t i = 0; i < heatmap_n_ranges(h); i++) {
                HeatRangeSpec sp;
                size_t n;

                check_int(heatmap_range(h, i, &sp, NULL, &n), 0);
                for (unsigned k = 0; k < 4; k++) {
                        uint64_t pages = sp.len_bytes / K4, first = rnd() % pages, len = 1 + (uint64_t) rnd_below(1024);
                        unsigned mode = rnd_below(4);

                        len = MIN(len, pages - first);

                        for (uint64_t p = 0; p < len; p++)
                                status[p] = mode == 0 ? -ENOENT : mode == 1 ? 0 : rnd_below(6) == 0 ? -EFAULT : (int) rnd_below(3);
                        if (rnd_below(3) == 0)
                                check_int(heatmap_residency_moved(h, sp.hva + first * K4, MIN(len, 64), (int) rnd_below(3) - 1,
                                                                  (int) rnd_below(3)), 0);
                        else
                                check_int(heatmap_residency_update(h, sp.hva + first * K4, status, len), 0);
                }
        }
}

/* The same placement history for both maps (they must agree before a cycle too). */
static void shuffle_both(HeatMap *a, HeatMap *b) {
        uint64_t saved = rng;

        shuffle_placement(a);
        rng = saved;
        shuffle_placement(b);
}

static void test_formula(void) {
        for (unsigned keep = 0; keep <= 100; keep++) {
                HeatSweepParams p = { .keep = keep };
                uint8_t heat[256 + 7], acc[256 + 7];

                for (unsigned t = 0; t < HEAT_SWEEP_THRESHOLDS; t++)
                        p.ge[t] = (uint8_t) (1 + t * 28);
                for (unsigned v = 0; v < 256; v++) {
                        check_int(heat_sweep_idle(v, keep), v * keep / 100);
                        check_int(heat_sweep_accessed(v, keep), MIN(v * keep / 100 + 32, 255u));
                }
                /* the vector loop and its tail: every value, idle and accessed */
                for (unsigned a = 0; a < 2; a++) {
                        HeatSweepResult res = {};
                        uint64_t ge[HEAT_SWEEP_THRESHOLDS] = {};

                        for (unsigned i = 0; i < sizeof(heat); i++) {
                                heat[i] = (uint8_t) (i * 97 % 256);
                                acc[i] = (i + a) % 3 == 0 ? 0xff : 0;
                        }
                        heat_sweep(heat, acc, false, sizeof(heat), &p, true, 100, &res);
                        for (unsigned i = 0; i < sizeof(heat); i++) {
                                unsigned v = i * 97 % 256, want = acc[i] ? MIN(v * keep / 100 + 32, 255u) : v * keep / 100;

                                check_int(heat[i], want);
                                for (unsigned t = 0; t < HEAT_SWEEP_THRESHOLDS; t++)
                                        ge[t] += want >= p.ge[t];
                        }
                        for (unsigned t = 0; t < HEAT_SWEEP_THRESHOLDS; t++)
                                check_u64(res.ge[t], ge[t]);
                        check(res.any_accessed);
                }
        }
}

/*
 * Ranges: A 4 KiB granules, not 2 MiB aligned in HVA, its GPA 1 MiB off the HVA's alignment (so
 * blocks straddle 2 MiB histogram windows); B 4 KiB right after A in HVA (a read of A runs into
 * it); C 2 MiB granules.
 */
static void make_maps(HeatMap **fast, HeatMap **slow, unsigned decay) {
        HeatRangeSpec ranges[] = {
                { .gpa = 0x100000, .hva = UINT64_C(0x7f0000000000) + 0x3000, .len_bytes = 37 * M2 + 0x5000 },
                { .gpa = 0x10000000, .hva = UINT64_C(0x7f0000000000) + 0x3000 + 37 * M2 + 0x5000, .len_bytes = 9 * M2 },
                { .gpa = 0x40000000, .hva = UINT64_C(0x7e0000000000), .len_bytes = 6 * M2, .granule_bytes = M2 },
        };
        HeatParams p;

        heat_params_init_default(&p);
        p.decay_percent = decay;
        p.hot_min = 1 + rnd_below(255);
        p.cold_max = rnd_below(p.hot_min);
        p.hist_range_bytes = M2 << rnd_below(3);
        check_int(heatmap_new(ranges, ELEMENTSOF(ranges), &p, fast), 0);
        check_int(heatmap_new(ranges, ELEMENTSOF(ranges), &p, slow), 0);
}

static void test_equivalence(void) {
        for (unsigned decay = 0; decay <= 100; decay++) {
                _cleanup_(heatmap_freep) HeatMap *fast = NULL, *slow = NULL;
                Ref ref;

                make_maps(&fast, &slow, decay);
                ref_init(&ref, fast);
                for (unsigned c = 0; c < 6; c++) {
                        static const unsigned densities[] = { 1, 10, 50, 90 };
                        bool jumps = rnd_below(3) == 0, mark = rnd_below(2);
                        unsigned density = densities[rnd_below(ELEMENTSOF(densities))];

                        if (c > 0 && rnd_below(2)) {
                                shuffle_both(fast, slow);
                                ref_sync_blocks(&ref, fast);
                        }
                        run_cycle(&ref, fast, slow, density, jumps, mark);
                        check_same(&ref, fast);
                        /* the slow map's heat and histograms equal the fast one's, blocks but for THP marks */
                        for (size_t i = 0; i < ref.n; i++) {
                                const uint8_t *a, *b;
                                size_t n;

                                check_int(heatmap_range(fast, i, NULL, &a, &n), 0);
                                check_int(heatmap_range(slow, i, NULL, &b, NULL), 0);
                                check(memcmp(a, b, n) == 0);
                                for (size_t k = 0; k < ref.r[i].n_blocks; k++) {
                                        HeatBlock x, y;

                                        check_int(heatmap_range_block(fast, i, k, &x), 0);
                                        check_int(heatmap_range_block(slow, i, k, &y), 0);
                                        x.huge = y.huge = false;
                                        check(block_equal(&x, &y));
                                }
                        }
                        check_u64(heatmap_stats(fast)->sampled_bytes, heatmap_stats(slow)->sampled_bytes);
                        check_u64(heatmap_stats(fast)->out_of_order_bytes, 0);
                }
                ref_done(&ref);
        }
}

/* The cached histograms follow every change of thresholds: out of a cycle at once, inside one at its end. */
static void test_histogram_cache(void) {
        _cleanup_(heatmap_freep) HeatMap *fast = NULL, *slow = NULL;
        Ref ref;
        HeatParams p;

        make_maps(&fast, &slow, 12);
        ref_init(&ref, fast);
        for (unsigned c = 0; c < 5; c++)
                run_cycle(&ref, fast, slow, 30, false, false);
        check_same(&ref, fast);

        /* a new decay alone leaves the counts of the bytes as they are valid */
        p = *heatmap_params(fast);
        p.decay_percent = 30;
        check_int(heatmap_set_params(fast, &p), 0);
        ref.params = p;
        check_same(&ref, fast);
        run_cycle(&ref, fast, slow, 30, false, false);
        check_same(&ref, fast);

        p.hot_min = 200;
        p.cold_max = 40;
        check_int(heatmap_set_params(fast, &p), 0);
        ref.params = p;
        check_same(&ref, fast);

        /* a change inside a cycle: counts of that cycle are by mixed thresholds, so recounted */
        heatmap_cycle_begin(fast);
        check_int(heatmap_sample_hva(fast, ref.r[0].spec.hva, 40 * K4), 0);
        p.hot_min = 33;
        p.cold_max = 0;
        p.decay_percent = 50;
        check_int(heatmap_set_params(fast, &p), 0);
        check_int(heatmap_cycle_end(fast), 0);
        {
                /* the model: granules before the change aged at 12 %, the rest at 50 % */
                for (size_t i = 0; i < ref.n; i++) {
                        const uint8_t *heat;

                        check_int(heatmap_range(fast, i, NULL, &heat, NULL), 0);
                        memcpy(ref.r[i].heat, heat, ref.r[i].n_granules);
                }
                ref_sync_blocks(&ref, fast);
                ref.params = p;
        }
        check_same(&ref, fast);

        /* a change back and a cycle: cached again from the sweep */
        p.hot_min = 128;
        check_int(heatmap_set_params(fast, &p), 0);
        ref.params = p;
        check_same(&ref, fast);
        for (unsigned c = 0; c < 2; c++) {
                HeatMap *tmp = NULL;
                HeatRangeSpec specs[3];

                for (size_t i = 0; i < ref.n; i++)
                        specs[i] = ref.r[i].spec;
                check_int(heatmap_new(specs, ref.n, &p, &tmp), 0);
                run_cycle(&ref, fast, tmp, 10, true, false);
                heatmap_free(tmp);
        }
        check_same(&ref, fast);
        ref_done(&ref);
}

int main(void) {
        test_formula();
        test_equivalence();
        test_histogram_cache();
        return 0;
}
