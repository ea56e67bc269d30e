/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vtism/heatmap.h"
#include "vtism/idle-pages-format.h"
#include "vtism/macro.h"
#include "vtism/util.h"

#define K4 (UINT64_C(4096))
#define M1 (UINT64_C(1) << 20)
#define M2 (UINT64_C(2) << 20)
#define G1 (UINT64_C(1) << 30)
#define H0 UINT64_C(0x7f0000000000)
#define H1 UINT64_C(0x7e0000000000)

static uint8_t heat_at_gpa(const HeatMap *h, uint64_t gpa) {
        uint8_t v = 0;

        check_int(heatmap_heat_gpa(h, gpa, &v), 0);
        return v;
}

static void test_params(void) {
        HeatParams p;

        heat_params_init_default(&p);
        check_int(p.decay_percent, 12);
        check_int(p.hot_min, 128);
        check_int(p.cold_max, 0);
        check_int(p.hist_range_bytes, G1);
        check_int(heat_params_validate(&p), 0);
        check_int(heat_params_classify(&p, 0), HEAT_COLD);
        check_int(heat_params_classify(&p, 1), HEAT_WARM);
        check_int(heat_params_classify(&p, 127), HEAT_WARM);
        check_int(heat_params_classify(&p, 128), HEAT_HOT);
        check(streq(heat_class_to_string(HEAT_HOT), "hot"));
        check(!heat_class_to_string(_HEAT_CLASS_MAX));

        p.decay_percent = 101;
        check_int(heat_params_validate(&p), -EINVAL);
        heat_params_init_default(&p);
        p.cold_max = 128;
        check_int(heat_params_validate(&p), -EINVAL);
        heat_params_init_default(&p);
        p.hot_min = 0;
        check_int(heat_params_validate(&p), -EINVAL);
        heat_params_init_default(&p);
        p.hist_range_bytes = 3 * G1;
        check_int(heat_params_validate(&p), -EINVAL);
        p.hist_range_bytes = M1;
        check_int(heat_params_validate(&p), -EINVAL);
}

static void test_new_errors(void) {
        HeatMap *h = (HeatMap *) 1;
        HeatRangeSpec r[2] = {
                { .gpa = 0, .hva = H0, .len_bytes = 4 * K4 },
                { .gpa = 2 * K4, .hva = H1, .len_bytes = 4 * K4 },
        };

        check_int(heatmap_new(r, 2, NULL, &h), -EEXIST);           /* GPA overlap */
        r[1].gpa = 8 * K4, r[1].hva = H0 + 3 * K4;
        check_int(heatmap_new(r, 2, NULL, &h), -EEXIST);           /* HVA overlap */
        r[1].hva = H0 + 4 * K4;
        r[1].len_bytes = 0;
        check_int(heatmap_new(r, 2, NULL, &h), -EINVAL);
        r[1].len_bytes = K4 + 1;
        check_int(heatmap_new(r, 2, NULL, &h), -EINVAL);
        r[1].len_bytes = 4 * K4, r[1].granule_bytes = M2;
        check_int(heatmap_new(r, 2, NULL, &h), -EINVAL);           /* not 2 MiB aligned */
        r[1].granule_bytes = 8192;
        check_int(heatmap_new(r, 2, NULL, &h), -EINVAL);
        r[1].granule_bytes = 0, r[1].gpa = UINT64_MAX - K4 + 1;
        check_int(heatmap_new(r, 2, NULL, &h), -ERANGE);
        check(h == (HeatMap *) 1); /* untouched */

        /* no RAM at all is a valid, empty map */
        {
                _cleanup_(heatmap_freep) HeatMap *e = NULL;
                HeatHistogram hist;

                check_int(heatmap_new(NULL, 0, NULL, &e), 0);
                check_int(heatmap_n_histograms(e), 0);
                heatmap_histogram_total(e, &hist);
                check_int(hist.ram_bytes, 0);
                check(!hist.residency_known);
                heatmap_cycle_begin(e);
                check_int(heatmap_sample_hva(e, H0, K4), 0);
                check_int(heatmap_cycle_end(e), 0);
                check_int(heatmap_stats(e)->unmatched_bytes, K4);
        }
}

static void test_model(void) {
        static const uint8_t every[28] = { 32, 60, 84, 105, 124, 141, 156, 169, 180, 190, 199, 207, 214, 220,
                                           225, 230, 234, 237, 240, 243, 245, 247, 249, 251, 252, 253, 254, 255 };
        _cleanup_(heatmap_freep) HeatMap *h = NULL;
        HeatRangeSpec r = { .gpa = 0, .hva = H0, .len_bytes = 16 * K4 };
        unsigned cycles;

        check_int(heatmap_new(&r, 1, NULL, &h), 0);

        /* page 0 accessed every cycle, page 1 every 2nd, page 2 every 4th, page 3 once */
        for (unsigned c = 0; c < 80; c++) {
                heatmap_cycle_begin(h);
                check_int(heatmap_sample_hva(h, H0, K4), 0);
                if (c % 2 == 0)
                        check_int(heatmap_sample_hva(h, H0 + K4, K4), 0);
                if (c % 4 == 0)
                        check_int(heatmap_sample_hva(h, H0 + 2 * K4, K4), 0);
                if (c == 0)
                        check_int(heatmap_sample_hva(h, H0 + 3 * K4, K4), 0);
                check_int(heatmap_cycle_end(h), 0);

                if (c < ELEMENTSOF(every))
                        check_int(heat_at_gpa(h, 0), every[c]);
                else
                        check_int(heat_at_gpa(h, 0), 255);
                if (c == 16)
                        check_int(heat_at_gpa(h, 3 * K4), 0); /* a single access is forgotten after 16 idle cycles */
                if (c == 15)
                        check_int(heat_at_gpa(h, 3 * K4), 1);
        }
        /* c = 79: page 1 last accessed at 78 → 117 ; page 2 last accessed at 76 → 51 */
        check_int(heat_at_gpa(h, K4), 117);
        check_int(heat_at_gpa(h, 2 * K4), 51);
        heatmap_cycle_begin(h);
        check_int(heatmap_sample_hva(h, H0 + K4, 2 * K4), 0);
        check_int(heatmap_cycle_end(h), 0);
        check_int(heat_at_gpa(h, K4), 134);
        check_int(heat_at_gpa(h, 2 * K4), 76);
        check_int(heatmap_stats(h)->cycles, 81);

        /* from 255 to 0 in 32 idle cycles: one was the cycle above (255 → 224) */
        check_int(heat_at_gpa(h, 0), 224);
        for (cycles = 0; heat_at_gpa(h, 0) > 0; cycles++) {
                heatmap_cycle_begin(h);
                check_int(heatmap_cycle_end(h), 0);
        }
        check_int(cycles, 31);

        /* another decay: 50 % */
        {
                HeatParams p = *heatmap_params(h);
                p.decay_percent = 50;
                check_int(heatmap_set_params(h, &p), 0);
                p.hist_range_bytes = M2;
                check_int(heatmap_set_params(h, &p), -EINVAL);
                for (unsigned c = 0; c < 10; c++) {
                        heatmap_cycle_begin(h);
                        check_int(heatmap_sample_hva(h, H0, K4), 0);
                        check_int(heatmap_cycle_end(h), 0);
                }
                check_int(heat_at_gpa(h, 0), 63); /* fixed point of h = h / 2 + 32, rounded down */
        }

        check_int(heatmap_sample_hva(h, H0, K4), -ESTALE);
        check_int(heatmap_cycle_end(h), -ESTALE);
}

/*
 * Layout like a pc guest split below/above 4 GiB plus a hugetlbfs node, with 2 MiB histogram windows:
 *   A: gpa 0,        3 MiB, hva H0          (windows [0,2M) 512 pages, [2M,4M) 256 pages)
 *   B: gpa 4 GiB,    1 MiB, hva H0 + 3 MiB  (HVA-adjacent to A; window [4G,4G+2M) 256 pages)
 *   C: gpa 8 GiB,    4 MiB, hva H1, 2 MiB granules (windows [8G,8G+2M), [8G+2M,8G+4M))
 */
static HeatMap *make_layout(void) {
        HeatRangeSpec r[3] = {
                { .gpa = 8 * G1, .hva = H1, .len_bytes = 4 * M1, .granule_bytes = M2 },
                { .gpa = 4 * G1, .hva = H0 + 3 * M1, .len_bytes = M1 },
                { .gpa = 0, .hva = H0, .len_bytes = 3 * M1 },
        };
        HeatParams p;
        HeatMap *h;

        heat_params_init_default(&p);
        p.hist_range_bytes = M2;
        check_int(heatmap_new(r, ELEMENTSOF(r), &p, &h), 0);
        return h;
}

static void check_hist(const HeatMap *h, size_t i, uint64_t gpa, uint64_t ram_pages, const uint64_t pages[HEATMAP_BUCKETS],
                       uint64_t cold_pages, uint64_t warm_pages, uint64_t hot_pages) {
        HeatHistogram hist;

        check_int(heatmap_histogram(h, i, &hist), 0);
        check_int(hist.gpa, gpa);
        check_int(hist.ram_bytes, ram_pages * K4);
        for (unsigned b = 0; b < HEATMAP_BUCKETS; b++)
                check_int(hist.pages[b], pages[b]);
        check_int(hist.class_bytes[HEAT_COLD], cold_pages * K4);
        check_int(hist.class_bytes[HEAT_WARM], warm_pages * K4);
        check_int(hist.class_bytes[HEAT_HOT], hot_pages * K4);
}

static void test_layout_and_histograms(void) {
        _cleanup_(heatmap_freep) HeatMap *h = make_layout();
        HeatRangeSpec spec;
        const uint8_t *heat;
        size_t n_granules;
        uint64_t x;
        HeatHistogram total;

        check_int(heatmap_n_ranges(h), 3);
        check_int(heatmap_range(h, 0, &spec, &heat, &n_granules), 0);
        check_int(spec.gpa, 0);
        check_int(n_granules, 768);
        check_int(heatmap_range(h, 2, &spec, &heat, &n_granules), 0);
        check_int(spec.granule_bytes, M2);
        check_int(n_granules, 2);
        check_int(heatmap_range(h, 3, NULL, NULL, NULL), -ENOENT);
        check_int(heatmap_ram_bytes(h), 8 * M1);
        /* 1 byte per 4 KiB page (1024 pages in A+B), 1 per 2 MiB granule, 8 per range for its one
         * chunk of blocks (all unknown), 64 per window (+ its residency counters: none seen yet),
         * plus fixed overhead */
        check(heatmap_memory_bytes(h) >= 1024 + 2 + 8 * 3 + 64 * 5);
        check(heatmap_memory_bytes(h) <= 1024 + 2 + 8 * 3 + 64 * 5 + 5 * 8 + 3 * 200 + 1024);
        check_int(heatmap_n_histograms(h), 5);

        check_int(heatmap_gpa_to_hva(h, 4 * G1 + 5 * K4, &x), 0);
        check_int(x, H0 + 3 * M1 + 5 * K4);
        check_int(heatmap_hva_to_gpa(h, H0 + 3 * M1 - 1, &x), 0);
        check_int(x, 3 * M1 - 1);
        check_int(heatmap_hva_to_gpa(h, H0 + 4 * M1, &x), -ENOENT);
        check_int(heatmap_gpa_to_hva(h, 3 * M1, &x), -ENOENT);

        heatmap_cycle_begin(h);
        check_int(heatmap_sample_hva(h, H0, M1), 0);                        /* A pages 0..255 */
        check_int(heatmap_sample_hva(h, H0 + 64 * K4, 8 * K4), 0);          /* repeated: clipped */
        check_int(heatmap_sample_hva(h, H0 + 3 * M1 - 2 * K4, 4 * K4), 0);  /* A 766,767 + B 0,1 */
        check_int(heatmap_sample_hva(h, H0 + 4 * M1, K4), 0);               /* past B: unmatched */
        check_int(heatmap_sample_gpa(h, 8 * G1 + K4, K4), 0);               /* C granule 0 */
        check_int(heatmap_sample_gpa(h, 6 * G1, 2 * K4), 0);                /* no RAM: unmatched */
        check_int(heatmap_cycle_end(h), 0);

        check_int(heatmap_stats(h)->out_of_order_bytes, 8 * K4);
        check_int(heatmap_stats(h)->unmatched_bytes, 3 * K4);
        check_int(heatmap_stats(h)->sampled_bytes, M1 + 4 * K4 + K4);

        check_int(heat_at_gpa(h, 0), 32);
        check_int(heat_at_gpa(h, 255 * K4), 32);
        check_int(heat_at_gpa(h, 256 * K4), 0);
        check_int(heat_at_gpa(h, 765 * K4), 0);
        check_int(heat_at_gpa(h, 766 * K4), 32);
        check_int(heat_at_gpa(h, 4 * G1 + K4), 32);
        check_int(heat_at_gpa(h, 4 * G1 + 2 * K4), 0);
        check_int(heat_at_gpa(h, 8 * G1 + M2 - 1), 32);
        check_int(heat_at_gpa(h, 8 * G1 + M2), 0);
        {
                uint8_t v;
                check_int(heatmap_heat_hva(h, H1 + 100, &v), 0);
                check_int(v, 32);
                check_int(heatmap_heat_gpa(h, 3 * M1, &v), -ENOENT);
                check_int(heatmap_heat_hva(h, H1 - 1, &v), -ENOENT);
        }

        check_hist(h, 0, 0, 512, (const uint64_t[HEATMAP_BUCKETS]) { 256, 256 }, 256, 256, 0);
        check_hist(h, 1, M2, 256, (const uint64_t[HEATMAP_BUCKETS]) { 254, 2 }, 254, 2, 0);
        check_hist(h, 2, 4 * G1, 256, (const uint64_t[HEATMAP_BUCKETS]) { 254, 2 }, 254, 2, 0);
        check_hist(h, 3, 8 * G1, 512, (const uint64_t[HEATMAP_BUCKETS]) { 0, 512 }, 0, 512, 0);
        check_hist(h, 4, 8 * G1 + M2, 512, (const uint64_t[HEATMAP_BUCKETS]) { 512 }, 512, 0, 0);
        check_int(heatmap_histogram(h, 5, &total), -ENOENT);

        /* five more cycles with A 0..255 accessed: 60, 84, 105, 124, 141 (hot); the rest decays */
        for (unsigned c = 0; c < 5; c++) {
                HeatSample s[] = { { H0 + 128 * K4, 128 * K4 }, { H0, 128 * K4 } }; /* unsorted */
                check_int(heatmap_apply_cycle(h, s, ELEMENTSOF(s)), 0);
        }
        check_int(heatmap_stats(h)->out_of_order_bytes, 8 * K4);
        check_int(heat_at_gpa(h, 0), 141);
        check_int(heat_at_gpa(h, 766 * K4), 15);
        check_int(heat_at_gpa(h, 8 * G1), 15);
        check_hist(h, 0, 0, 512, (const uint64_t[HEATMAP_BUCKETS]) { 256, 0, 0, 0, 256 }, 256, 0, 256);
        heatmap_histogram_total(h, &total);
        check_int(total.ram_bytes, 8 * M1);
        check_int(total.pages[0], 256 + 254 + 2 + 254 + 2 + 512 + 512);
        check_int(total.pages[4], 256);
        check_int(total.class_bytes[HEAT_HOT], 256 * K4);
        check_int(total.class_bytes[HEAT_WARM], (2 + 2 + 512) * K4);
        check_int(total.class_bytes[HEAT_COLD], (256 + 254 + 254 + 512) * K4);

        /* a sample in a new cycle that reaches back below the sweep is clipped and counted */
        heatmap_cycle_begin(h);
        check_int(heatmap_sample_hva(h, H0 + 10 * K4, K4), 0);
        check_int(heatmap_sample_hva(h, H0 + 5 * K4, 2 * K4), 0);
        heatmap_cycle_begin(h); /* implicit end */
        check_int(heatmap_cycle_end(h), 0);
        check_int(heatmap_stats(h)->out_of_order_bytes, 10 * K4);
        check_int(heat_at_gpa(h, 10 * K4), 137); /* 141 → 156 (accessed) → 137 (idle) */
        check_int(heat_at_gpa(h, 5 * K4), 109);  /* 141 → 124 → 109: the late sample did not count */
}

/* idle_pages decoder output feeding the heat map: accessed runs only */
static int feed_run(const IdlePagesRun *run, void *userdata) {
        if (run->kind != IDLE_PAGES_KIND_ACCESSED)
                return 0;
        return heatmap_sample_hva(userdata, run->start_hva, run->len_bytes);
}

static void test_idle_pages_feed(void) {
        _cleanup_(heatmap_freep) HeatMap *h = make_layout();
        IdlePagesRun runs[] = {
                { .start_hva = H0, .len_bytes = M2, .kind = IDLE_PAGES_KIND_ACCESSED, .page_size_bytes = M2 },
                { .start_hva = H0 + M2, .len_bytes = M1, .kind = IDLE_PAGES_KIND_IDLE, .page_size_bytes = K4 },
                { .start_hva = H0 + 3 * M1, .len_bytes = 2 * K4, .kind = IDLE_PAGES_KIND_ACCESSED, .page_size_bytes = K4, .dirty = true },
        };
        _cleanup_free_ uint8_t *buf = NULL;
        IdlePagesDecoder d;
        size_t size;
        HeatHistogram hist;

        check_int(idle_pages_encode(runs, ELEMENTSOF(runs), H0, &buf, &size), 0);
        heatmap_cycle_begin(h);
        idle_pages_decoder_init(&d, H0);
        check_int(idle_pages_decoder_feed(&d, buf, size, feed_run, h), 0);
        check_int(idle_pages_decoder_finish(&d, feed_run, h), 0);
        check_int(heatmap_cycle_end(h), 0);

        check_hist(h, 0, 0, 512, (const uint64_t[HEATMAP_BUCKETS]) { 0, 512 }, 0, 512, 0);
        check_hist(h, 1, M2, 256, (const uint64_t[HEATMAP_BUCKETS]) { 256 }, 256, 0, 0);
        check_hist(h, 2, 4 * G1, 256, (const uint64_t[HEATMAP_BUCKETS]) { 254, 2 }, 254, 2, 0);
        heatmap_histogram_total(h, &hist);
        check_int(hist.class_bytes[HEAT_WARM], 514 * K4);
}

static void test_residency(void) {
        _cleanup_(heatmap_freep) HeatMap *h = make_layout();
        static int status[1024];
        HeatHistogram hist;

        /* window 0 (A pages 0..511): 300 on node 0, 200 on node 1, 10 absent, 2 on node 200 */
        for (unsigned i = 0; i < 512; i++)
                status[i] = i < 300 ? 0 : i < 500 ? 1 : i < 510 ? -ENOENT : 200;
        check_int(heatmap_histogram(h, 0, &hist), 0);
        check(!hist.residency_known);
        check_int(hist.absent_pages, 512);
        /* in two batches */
        check_int(heatmap_residency_update(h, H0, status, 100), 0);
        check_int(heatmap_histogram(h, 0, &hist), 0);
        check(!hist.residency_known);
        check_int(heatmap_residency_update(h, H0 + 100 * K4, status + 100, 412), 0);
        check_int(heatmap_histogram(h, 0, &hist), 0);
        check(hist.residency_known);
        check_int(hist.node_pages[0], 300);
        check_int(hist.node_pages[1], 200);
        check_int(hist.other_node_pages, 2);
        check_int(hist.absent_pages, 10);

        /* a migration of 20 pages 0 → 1, and 5 absent pages faulted in on node 0 */
        check_int(heatmap_residency_moved(h, H0, 20, 0, 1), 0);
        check_int(heatmap_residency_moved(h, H0 + 500 * K4, 5, -1, 0), 0);
        check_int(heatmap_histogram(h, 0, &hist), 0);
        check_int(hist.node_pages[0], 285);
        check_int(hist.node_pages[1], 220);
        check_int(hist.absent_pages, 5);

        /* A 512..767 and B 0..255 in one batch (HVA-adjacent but two ranges): -EINVAL */
        for (unsigned i = 0; i < 512; i++)
                status[i] = 1;
        check_int(heatmap_residency_update(h, H0 + 512 * K4, status, 512), -EINVAL);
        check_int(heatmap_residency_update(h, H0 + 512 * K4, status, 256), 0);
        check_int(heatmap_residency_update(h, H0 + 3 * M1, status, 200), 0); /* B partial */
        check_int(heatmap_histogram(h, 1, &hist), 0);
        check(hist.residency_known);
        check_int(hist.node_pages[1], 256);
        check_int(heatmap_histogram(h, 2, &hist), 0);
        check(!hist.residency_known);
        check_int(heatmap_residency_update(h, H0 + 3 * M1 + 200 * K4, status, 56), 0);
        check_int(heatmap_histogram(h, 2, &hist), 0);
        check(hist.residency_known);

        /* a new pass replaces the old one only when complete */
        for (unsigned i = 0; i < 512; i++)
                status[i] = 2;
        check_int(heatmap_residency_update(h, H0, status, 511), 0);
        check_int(heatmap_histogram(h, 0, &hist), 0);
        check_int(hist.node_pages[0], 285);
        check_int(heatmap_residency_update(h, H0 + 511 * K4, status, 1), 0);
        check_int(heatmap_histogram(h, 0, &hist), 0);
        check_int(hist.node_pages[0], 0);
        check_int(hist.node_pages[2], 512);

        /* C (2 MiB granules) still counts 4 KiB pages */
        check_int(heatmap_residency_update(h, H1, status, 512), 0);
        heatmap_histogram_total(h, &hist);
        check(!hist.residency_known); /* window 8G+2M never queried */
        check_int(hist.node_pages[2], 1024);
        check_int(hist.node_pages[1], 512);
        check_int(hist.absent_pages, 512);

        check_int(heatmap_residency_update(h, H0 + 1, status, 1), -EINVAL);
        check_int(heatmap_residency_update(h, H0 + 4 * M1, status, 1), -ENOENT);
        check_int(heatmap_residency_moved(h, H0 + 4 * M1, 1, 0, 1), -ENOENT);
}


static void check_block(const HeatMap *h, uint64_t hva, HeatBlockKind kind, int node, unsigned ceiling, bool huge) {
        HeatBlock b;

        check_int(heatmap_block_hva(h, hva, &b), 0);
        if (b.kind != kind || b.node != node || b.ceiling != ceiling || b.huge != huge) {
                fprintf(stderr, "block at 0x%" PRIx64 ": kind %d node %d ceiling %u huge %d, expected %d %d %u %d\n", hva,
                        (int) b.kind, b.node, (unsigned) b.ceiling, (int) b.huge, (int) kind, node, ceiling, (int) huge);
                exit(EXIT_FAILURE);
        }
}

/* One cycle in which pages [first, first + n) (4 KiB page indexes from H0) are accessed. */
static void cycle_pages(HeatMap *h, uint64_t first, uint64_t n) {
        heatmap_cycle_begin(h);
        if (n > 0)
                check_int(heatmap_sample_hva(h, H0 + first * K4, n * K4), 0);
        check_int(heatmap_cycle_end(h), 0);
}

/* Block edges and THP marks on the layout of make_layout(). */
static void test_blocks_layout(void) {
        _cleanup_(heatmap_freep) HeatMap *h = make_layout();
        static int status[512];
        HeatBlock b;

        /* A: H0 .. H0+3M → blocks [H0, +2M) 512 pages, [H0+2M, +1M) 256 pages; B: [H0+3M, +1M) */
        check_int(heatmap_range_n_blocks(h, 0), 2);
        check_int(heatmap_range_n_blocks(h, 1), 1);
        check_int(heatmap_range_n_blocks(h, 2), 2);
        check_int(heatmap_range_n_blocks(h, 3), 0);
        check_int(heatmap_range_block(h, 0, 1, &b), 0);
        check_int(b.hva, H0 + M2);
        check_int(b.n_pages, 256);
        check_int(b.kind, HEAT_BLOCK_UNKNOWN);
        check_int(b.node, -1);
        check_int(heatmap_range_block(h, 0, 2, &b), -ENOENT);
        check_int(heatmap_range_block(h, 1, 0, &b), 0);
        check_int(b.hva, H0 + 3 * M1);
        check_int(b.n_pages, 256);
        check_int(heatmap_block_hva(h, H0 + 4 * M1, &b), -ENOENT);

        /* THP marks: whole blocks only */
        check_int(heatmap_mark_huge(h, H0, 4 * M1, true), 0);
        check_block(h, H0, HEAT_BLOCK_UNKNOWN, -1, 0, true);
        check_block(h, H0 + M2, HEAT_BLOCK_UNKNOWN, -1, 0, false);     /* A's 1 MiB tail */
        check_block(h, H0 + 3 * M1, HEAT_BLOCK_UNKNOWN, -1, 0, false); /* B: 1 MiB */
        check_int(heatmap_mark_huge(h, H0 + K4, M2, true), 0);           /* covers no whole block */
        check_int(heatmap_mark_huge(h, H0 + 5 * M1, M2, true), -ENOENT);
        check_int(heatmap_mark_huge(h, H1, 2 * M2, true), 0);            /* C: 2 MiB granules */
        check_block(h, H1 + M2, HEAT_BLOCK_UNKNOWN, -1, 0, true);

        /* a whole-block query: one node → NODE; the THP mark stays */
        for (unsigned i = 0; i < 512; i++)
                status[i] = 1;
        check_int(heatmap_residency_update(h, H0, status, 512), 0);
        check_block(h, H0, HEAT_BLOCK_NODE, 1, 0, true);
        /* part of it absent: not one THP */
        status[7] = -ENOENT;
        check_int(heatmap_residency_update(h, H0, status, 512), 0);
        check_block(h, H0, HEAT_BLOCK_NODE, 1, 0, false);
        /* nothing present */
        for (unsigned i = 0; i < 512; i++)
                status[i] = -EFAULT;
        check_int(heatmap_residency_update(h, H0 + M2, status, 256), 0);
        check_block(h, H0 + M2, HEAT_BLOCK_ABSENT, -1, 0, false);
        /* an access makes an absent block unknown again (the page was faulted in somewhere) */
        cycle_pages(h, 600, 1);
        check_block(h, H0 + M2, HEAT_BLOCK_UNKNOWN, -1, 0, false);
        /* 2 MiB granules: the same, one granule per block */
        for (unsigned i = 0; i < 512; i++)
                status[i] = 3;
        check_int(heatmap_residency_update(h, H1, status, 512), 0);
        check_block(h, H1, HEAT_BLOCK_NODE, 3, 0, true);
        check_block(h, H1 + M2, HEAT_BLOCK_UNKNOWN, -1, 0, true);
        /* a whole block moving keeps the mark; part of it moving means it was split */
        check_int(heatmap_residency_moved(h, H1, 512, 3, 0), 0);
        check_block(h, H1, HEAT_BLOCK_NODE, 0, 0, true);
        check_int(heatmap_residency_moved(h, H1, 1, 0, 2), 0);
        check_block(h, H1, HEAT_BLOCK_MIXED, 0, 0, false);
}

/*
 * One 4 KiB-page range of 8 MiB (4 blocks) in a 1 GiB window. Block 0's pages get heat: pages
 * 0..9 are accessed every cycle (hot), page 20 once at the end, the rest never.
 *
 *   block 0:  [hot × 10][cold × 10][p20][cold ...]       blocks 1..3: cold
 */
static HeatMap *make_blocks(void) {
        HeatRangeSpec r = { .gpa = 0, .hva = H0, .len_bytes = 8 * M1 };
        HeatMap *h;

        check_int(heatmap_new(&r, 1, NULL, &h), 0);
        for (unsigned c = 0; c < 30; c++)
                cycle_pages(h, 0, 10);   /* 255 */
        return h;
}

static void fill_status(int *status, size_t n, int node) {
        for (size_t i = 0; i < n; i++)
                status[i] = node;
}

static void test_blocks_mixed(void) {
        _cleanup_(heatmap_freep) HeatMap *h = make_blocks();
        static int status[2048];
        HeatHistogram hist;

        /* hot pages on DRAM node 0, the rest on CXL node 2 */
        fill_status(status, 512, 2);
        fill_status(status, 10, 0);
        check_int(heatmap_residency_update(h, H0, status, 512), 0);
        check_block(h, H0, HEAT_BLOCK_MIXED, 0, 0, false);
        /* hot pages on both nodes: the first hottest names the node, the ceiling says nothing */
        status[3] = 2;
        check_int(heatmap_residency_update(h, H0, status, 512), 0);
        check_block(h, H0, HEAT_BLOCK_MIXED, 0, 255, false);
        /* the hot pages on the CXL node name it */
        fill_status(status, 512, 0);
        fill_status(status, 10, 2);
        check_int(heatmap_residency_update(h, H0, status, 512), 0);
        check_block(h, H0, HEAT_BLOCK_MIXED, 2, 0, false);
        fill_status(status, 512, 2);
        fill_status(status, 10, 0);
        check_int(heatmap_residency_update(h, H0, status, 512), 0);
        check_block(h, H0, HEAT_BLOCK_MIXED, 0, 0, false);

        /* the ceiling follows the CXL pages: page 20 accessed → 32, then it cools; hot pages never count */
        cycle_pages(h, 0, 10);
        check_block(h, H0, HEAT_BLOCK_MIXED, 0, 0, false);
        heatmap_cycle_begin(h);
        check_int(heatmap_sample_hva(h, H0, 10 * K4), 0);
        check_int(heatmap_sample_hva(h, H0 + 20 * K4, K4), 0);
        check_int(heatmap_cycle_end(h), 0);
        check_block(h, H0, HEAT_BLOCK_MIXED, 0, 32, false);
        cycle_pages(h, 0, 10);
        check_block(h, H0, HEAT_BLOCK_MIXED, 0, 28, false);

        /* page 20 promoted: the hottest CXL page left is at 0 */
        check_int(heatmap_residency_moved(h, H0 + 20 * K4, 1, 2, 0), 0);
        check_block(h, H0, HEAT_BLOCK_MIXED, 0, 0, false);
        /* a cold page demoted from node 0 (none is: pretend) keeps the ceiling at its heat */
        check_int(heatmap_residency_moved(h, H0 + 20 * K4, 1, 0, 2), 0);
        check_block(h, H0, HEAT_BLOCK_MIXED, 0, 28, false);
        /* found on node 0 after all (a query-first move with nothing to do): ceiling back to 0 */
        check_int(heatmap_residency_moved(h, H0 + 20 * K4, 1, 0, 0), 0);
        check_block(h, H0, HEAT_BLOCK_MIXED, 0, 0, false);
        /* every page at or below the ceiling moved onto node 0: the block is NODE(0) */
        check_int(heatmap_residency_moved(h, H0 + 10 * K4, 502, 2, 0), 0);
        check_block(h, H0, HEAT_BLOCK_NODE, 0, 0, false);

        /* NODE(0) losing its cold pages to node 2: MIXED(0, their heat) */
        check_int(heatmap_residency_moved(h, H0 + 100 * K4, 50, 0, 2), 0);
        check_block(h, H0, HEAT_BLOCK_MIXED, 0, 0, false);
        /* NODE(2) losing its hot pages to node 0: named after node 0, ceiling = the rest's heat */
        fill_status(status, 512, 2);
        check_int(heatmap_residency_update(h, H0, status, 512), 0);
        check_block(h, H0, HEAT_BLOCK_NODE, 2, 0, false);
        check_int(heatmap_residency_moved(h, H0, 10, 2, 0), 0);
        check_block(h, H0, HEAT_BLOCK_MIXED, 0, 28, false); /* page 20 is still at 28, on node 2 */

        /* partial queries merge: a page seen elsewhere raises the ceiling, nothing lowers it */
        fill_status(status, 512, 0);
        check_int(heatmap_residency_update(h, H0 + M2, status, 512), 0);       /* block 1: NODE(0) */
        fill_status(status, 4, 3);
        check_int(heatmap_residency_update(h, H0 + M2 + 8 * K4, status, 4), 0);
        check_block(h, H0 + M2, HEAT_BLOCK_MIXED, 0, 0, false);
        fill_status(status, 4, 0);
        check_int(heatmap_residency_update(h, H0 + M2 + 8 * K4, status, 4), 0);
        check_block(h, H0 + M2, HEAT_BLOCK_MIXED, 0, 0, false);
        /* unknown stays unknown; absent learns the node */
        check_int(heatmap_residency_update(h, H0 + 2 * M2, status, 4), 0);
        check_block(h, H0 + 2 * M2, HEAT_BLOCK_UNKNOWN, -1, 0, false);
        fill_status(status, 512, -ENOENT);
        check_int(heatmap_residency_update(h, H0 + 2 * M2, status, 512), 0);
        check_block(h, H0 + 2 * M2, HEAT_BLOCK_ABSENT, -1, 0, false);
        fill_status(status, 4, 1);
        check_int(heatmap_residency_update(h, H0 + 2 * M2, status, 4), 0);
        check_block(h, H0 + 2 * M2, HEAT_BLOCK_NODE, 1, 0, false);

        /* moves are applied as one set when the map next looks at the block: exact */
        heatmap_cycle_begin(h);
        check_int(heatmap_residency_moved(h, H0 + 2 * M2, 1, 1, 0), 0);
        check_int(heatmap_cycle_end(h), 0);
        check_block(h, H0 + 2 * M2, HEAT_BLOCK_MIXED, 1, 0, false);
        /* a query inside a cycle sets the ceiling to 255: the heat bytes are half old, half new */
        fill_status(status, 512, 1);
        fill_status(status, 3, 0);
        heatmap_cycle_begin(h);
        check_int(heatmap_residency_update(h, H0 + 2 * M2, status, 512), 0);
        check_int(heatmap_cycle_end(h), 0);
        check_block(h, H0 + 2 * M2, HEAT_BLOCK_MIXED, 0, 224, false); /* 255, one idle decay */

        /* none of these out-of-turn block queries disturbed the window's counters: no pass yet */
        check_int(heatmap_residency(h, 0, &hist), 0);
        check(!hist.residency_known);
        check_int(hist.ram_bytes, 8 * M1);
        check_int(hist.pages[0], 0);
}

/*
 * Page-by-page reports of one block are one set: every 4th page of block 0 hot (on node 1 like
 * the rest), each promoted alone → MIXED(0, 0), not MIXED(1, hot).
 */
static void test_blocks_moved_one_by_one(void) {
        _cleanup_(heatmap_freep) HeatMap *h = NULL;
        HeatRangeSpec r = { .gpa = 0, .hva = H0, .len_bytes = 2 * M2 };
        static int status[1024];

        check_int(heatmap_new(&r, 1, NULL, &h), 0);
        for (unsigned c = 0; c < 10; c++) {
                heatmap_cycle_begin(h);
                for (unsigned i = 0; i < 1024; i += 4)
                        check_int(heatmap_sample_hva(h, H0 + i * K4, K4), 0);
                check_int(heatmap_cycle_end(h), 0);
        }
        fill_status(status, 1024, 1);
        check_int(heatmap_residency_update(h, H0, status, 1024), 0);
        for (unsigned i = 0; i < 512; i += 4)
                check_int(heatmap_residency_moved(h, H0 + i * K4, 1, 1, 0), 0);
        check_block(h, H0, HEAT_BLOCK_MIXED, 0, 0, false);
        /* block 1: the hot pages of its second half are on node 0 already: nothing is known of them */
        for (unsigned i = 768; i < 1024; i += 4)
                status[i] = 0;
        check_int(heatmap_residency_update(h, H0 + M2, status + 512, 512), 0);
        check_block(h, H0 + M2, HEAT_BLOCK_MIXED, 1, 190, false);
        /* a query-first promotion: half of them moved, half found in place; together: known */
        for (unsigned i = 512; i < 1024; i += 4)
                check_int(heatmap_residency_moved(h, H0 + i * K4, 1, i < 768 ? 1 : 0, 0), 0);
        check_block(h, H0 + M2, HEAT_BLOCK_MIXED, 0, 0, false);
        /* interleaved with another block's reports, each report stands alone: true, less useful */
        fill_status(status, 1024, 1);
        check_int(heatmap_residency_update(h, H0, status, 1024), 0);
        for (unsigned i = 0; i < 512; i += 4) {
                check_int(heatmap_residency_moved(h, H0 + i * K4, 1, 1, 0), 0);
                check_int(heatmap_residency_moved(h, H0 + M2 + i * K4, 1, 1, 0), 0);
        }
        check_block(h, H0, HEAT_BLOCK_MIXED, 1, 190, false);
}

/*
 * Presence: a NODE block knows whether all its pages were present; a page faulted in (accessed
 * at heat 0) in a block not known to be all present may be anywhere: the block becomes MIXED.
 *   block 0: all on node 0           block 1: node 0, pages 100..199 absent
 */
static void test_blocks_presence(void) {
        _cleanup_(heatmap_freep) HeatMap *h = NULL;
        HeatRangeSpec r = { .gpa = 0, .hva = H0, .len_bytes = 2 * M2 };
        static int status[1024];
        HeatBlock b;

        check_int(heatmap_new(&r, 1, NULL, &h), 0);
        fill_status(status, 1024, 0);
        fill_status(status + 512 + 100, 100, -ENOENT);
        check_int(heatmap_residency_update(h, H0, status, 1024), 0);
        check_int(heatmap_block_hva(h, H0, &b), 0);
        check(b.kind == HEAT_BLOCK_NODE && b.all_present);
        check_int(heatmap_block_hva(h, H0 + M2, &b), 0);
        check(b.kind == HEAT_BLOCK_NODE && !b.all_present);
        /* accesses in an all-present block change nothing */
        cycle_pages(h, 5, 3);
        check_block(h, H0, HEAT_BLOCK_NODE, 0, 0, false);
        /* pages of block 1 accessed for the first time: 32, and the block no longer vouches */
        cycle_pages(h, 512 + 150, 2);
        check_block(h, H0 + M2, HEAT_BLOCK_MIXED, 0, 32, false);
        /* a whole-block move: every page present */
        check_int(heatmap_residency_moved(h, H0 + M2, 512, 0, 1), 0);
        check_int(heatmap_block_hva(h, H0 + M2, &b), 0);
        check(b.kind == HEAT_BLOCK_NODE && b.node == 1 && b.all_present);
        /* a partial query seeing an absent page */
        status[0] = -ENOENT;
        check_int(heatmap_residency_update(h, H0 + M2 + 10 * K4, status, 1), 0);
        check_int(heatmap_block_hva(h, H0 + M2, &b), 0);
        check(b.kind == HEAT_BLOCK_NODE && b.node == 1 && !b.all_present);
        /* pages reported gone */
        check_int(heatmap_residency_moved(h, H0 + 20 * K4, 3, 0, -1), 0);
        check_int(heatmap_block_hva(h, H0, &b), 0);
        check(b.kind == HEAT_BLOCK_NODE && !b.all_present);
}

/* Out-of-turn block queries and the window's residency pass. */
static void test_blocks_pass(void) {
        _cleanup_(heatmap_freep) HeatMap *h = make_blocks();
        static int status[2048];
        HeatHistogram hist;

        fill_status(status, 2048, 0);
        check_int(heatmap_residency_update(h, H0, status, 700), 0);             /* pass: pages 0..699 */
        fill_status(status, 512, 2);
        check_int(heatmap_residency_update(h, H0 + 3 * M2, status, 512), 0);    /* out of turn: block 3 */
        check_block(h, H0 + 3 * M2, HEAT_BLOCK_NODE, 2, 0, false);
        check_int(heatmap_residency_update(h, H0 + 100 * K4, status, 10), 0);  /* behind the pass */
        fill_status(status, 2048, 1);
        check_int(heatmap_residency_update(h, H0 + 700 * K4, status, 2048 - 700), 0); /* pass continues */
        check_int(heatmap_residency(h, 0, &hist), 0);
        check(hist.residency_known);
        check_int(hist.node_pages[0], 700);
        check_int(hist.node_pages[1], 2048 - 700);
        check_int(hist.node_pages[2], 0);
        check_int(hist.absent_pages, 0);
        check_block(h, H0 + 3 * M2, HEAT_BLOCK_NODE, 1, 0, false);
        check_block(h, H0, HEAT_BLOCK_MIXED, 0, 0, false); /* pages 100..109 seen on node 2 */

        /* a pass continues across a hole in guest RAM, not across RAM it skipped */
        {
                HeatRangeSpec r[2] = {
                        { .gpa = 0, .hva = H0, .len_bytes = M2 },
                        { .gpa = 4 * M2, .hva = H1, .len_bytes = M2 },
                };
                _cleanup_(heatmap_freep) HeatMap *g = NULL;

                check_int(heatmap_new(r, 2, NULL, &g), 0);
                check_int(heatmap_residency_update(g, H1, status, 512), 0);     /* skips range 0: not the pass */
                check_int(heatmap_residency_update(g, H0, status, 512), 0);
                check_int(heatmap_residency(g, 0, &hist), 0);
                check(!hist.residency_known);
                check_int(heatmap_residency_update(g, H1, status, 512), 0);     /* across the hole */
                check_int(heatmap_residency(g, 0, &hist), 0);
                check(hist.residency_known);
                check_int(hist.node_pages[1], 1024);
        }
}

/* A map names at most HEATMAP_BLOCK_NODES_MAX nodes in its blocks; more make blocks unknown. */
static void test_blocks_slots(void) {
        _cleanup_(heatmap_freep) HeatMap *h = NULL;
        HeatRangeSpec r = { .gpa = 0, .hva = H0, .len_bytes = 64 * M2 };
        static int status[512];

        check_int(heatmap_new(&r, 1, NULL, &h), 0);
        for (unsigned b = 0; b < HEATMAP_BLOCK_NODES_MAX; b++) {
                fill_status(status, 512, (int) (1000 + b));
                check_int(heatmap_residency_update(h, H0 + b * M2, status, 512), 0);
                check_block(h, H0 + b * M2, HEAT_BLOCK_NODE, (int) (1000 + b), 0, false);
        }
        fill_status(status, 512, 7);
        check_int(heatmap_residency_update(h, H0 + 63 * M2, status, 512), 0);
        check_block(h, H0 + 63 * M2, HEAT_BLOCK_UNKNOWN, -1, 0, false);
        check_int(heatmap_residency_moved(h, H0, 512, 1000, 7), 0);
        check_block(h, H0, HEAT_BLOCK_UNKNOWN, -1, 0, false);
        fill_status(status, 512, 1001);
        check_int(heatmap_residency_update(h, H0 + 63 * M2, status, 512), 0);
        check_block(h, H0 + 63 * M2, HEAT_BLOCK_NODE, 1001, 0, false);
}

/* Where the bytes go (heatmap_memory()): block placement is 8 bytes per 512 MiB while the blocks
 * agree, an array of 2 bytes per block where they do not, and one value again once they agree. */
static void test_memory(void) {
        _cleanup_(heatmap_freep) HeatMap *h = NULL;
        HeatRangeSpec spec = { .gpa = 0, .hva = H0, .len_bytes = G1 };  /* 512 blocks: 2 chunks */
        int *status = xcalloc(512, sizeof(int));
        HeatMemory m;
        HeatBlock hb;

        check_int(heatmap_new(&spec, 1, NULL, &h), 0);
        heatmap_memory(h, &m);
        check_u64(m.heat_bytes, G1 / K4);
        check_u64(m.block_bytes, 2 * 8);
        check_u64(m.block_arrays, 0);
        check_u64(m.window_bytes, 64);
        check_u64(m.residency_bytes, 2 * 4);
        check_u64(heatmap_memory_bytes(h), m.heat_bytes + m.block_bytes + m.window_bytes + m.residency_bytes +
                                           m.range_bytes + m.map_bytes);

        /* every other block of the first chunk marked THP: that chunk becomes an array */
        for (unsigned b = 0; b < 256; b += 2)
                check_int(heatmap_mark_huge(h, H0 + (uint64_t) b * M2, M2, true), 0);
        heatmap_memory(h, &m);
        check_u64(m.block_arrays, 1);
        check_u64(m.block_bytes, 2 * 8 + 256 * 2);
        check_int(heatmap_block_hva(h, H0, &hb), 0);
        check(hb.huge);
        check_int(heatmap_block_hva(h, H0 + M2, &hb), 0);
        check(!hb.huge);

        /* a residency pass puts every block on node 0, all present: one value per chunk again */
        for (uint64_t b = 0; b < 512; b++)
                check_int(heatmap_residency_update(h, H0 + b * M2, status, 512), 0);
        heatmap_memory(h, &m);
        check_u64(m.block_arrays, 1);  /* the huge marks still differ (a whole block stays THP) */
        check_int(heatmap_mark_huge(h, H0, G1, false), 0);
        heatmap_memory(h, &m);
        check_u64(m.block_arrays, 0);
        check_u64(m.block_bytes, 2 * 8);
        check_u64(m.residency_bytes, 2 * 2 * 4);  /* node 0 and "other" */
        check_int(heatmap_block_hva(h, H0 + 300 * M2, &hb), 0);
        check_int(hb.kind, HEAT_BLOCK_NODE);
        check_int(hb.node, 0);
        check(hb.all_present);
        free(status);
}

int main(void) {
        test_params();
        test_new_errors();
        test_model();
        test_layout_and_histograms();
        test_idle_pages_feed();
        test_residency();
        test_blocks_layout();
        test_blocks_mixed();
        test_blocks_moved_one_by_one();
        test_blocks_presence();
        test_blocks_pass();
        test_blocks_slots();
        test_memory();
        printf("test-heatmap: OK\n");
        return 0;
}
