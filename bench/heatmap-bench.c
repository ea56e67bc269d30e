/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Cost of the pure hot path: decoding an idle_pages stream and one heat-map cycle (sweep +
 * histograms) for a guest of SIZE GiB (default 16) with 4 KiB granules, 10 % of it accessed in
 * runs of 2 MiB THPs and scattered 4 KiB pages. Prints numbers; never fails on time.
 *     build/bench/heatmap-bench [GIB]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "vtism/heatmap.h"
#include "vtism/idle-pages-format.h"
#include "vtism/macro.h"

static double now_sec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int feed(const IdlePagesRun *run, void *userdata) {
        if (run->kind != IDLE_PAGES_KIND_ACCESSED)
                return 0;
        return heatmap_sample_hva(userdata, run->start_hva, run->len_bytes);
}

int main(int argc, char *argv[]) {
        uint64_t gib = argc > 1 ? strtoull(argv[1], NULL, 10) : 16, ram = gib << 30, hva = UINT64_C(0x7f0000000000);
        _cleanup_(heatmap_freep) HeatMap *h = NULL;
        _cleanup_free_ uint8_t *stream = NULL;
        IdlePagesEncoder e;
        size_t size;
        unsigned cycles = 10;
        double t0, t_decode = 0, t_cycle = 0, t_hist = 0;
        HeatRangeSpec spec = { .gpa = 0, .hva = hva, .len_bytes = ram };

        if (gib == 0 || heatmap_new(&spec, 1, NULL, &h) < 0)
                return EXIT_FAILURE;

        /* every 20th 2 MiB: accessed THP; every 7th 4 KiB page of the rest: accessed */
        idle_pages_encoder_init(&e, hva);
        for (uint64_t off = 0; off < ram; off += UINT64_C(2) << 20) {
                IdlePagesRun r = { .start_hva = hva + off, .len_bytes = UINT64_C(2) << 20, .page_size_bytes = UINT64_C(2) << 20 };

                if ((off >> 21) % 20 == 0) {
                        r.kind = IDLE_PAGES_KIND_ACCESSED;
                        (void) idle_pages_encoder_add(&e, &r);
                        continue;
                }
                for (uint64_t p = 0; p < 512; p++) {
                        IdlePagesRun q = { .start_hva = hva + off + p * 4096, .len_bytes = 4096, .page_size_bytes = 4096,
                                           .kind = p % 7 == 0 ? IDLE_PAGES_KIND_ACCESSED : IDLE_PAGES_KIND_IDLE };
                        (void) idle_pages_encoder_add(&e, &q);
                }
        }
        (void) idle_pages_encoder_finish(&e, &stream, &size);

        for (unsigned c = 0; c < cycles; c++) {
                IdlePagesDecoder d;
                HeatHistogram hist;

                t0 = now_sec();
                heatmap_cycle_begin(h);
                idle_pages_decoder_init(&d, hva);
                /* 64 KiB reads, like the tracker */
                for (size_t o = 0; o < size; o += 65536)
                        (void) idle_pages_decoder_feed(&d, stream + o, MIN((size_t) 65536, size - o), feed, h);
                (void) idle_pages_decoder_finish(&d, feed, h);
                t_decode += now_sec() - t0;
                t0 = now_sec();
                (void) heatmap_cycle_end(h);
                t_cycle += now_sec() - t0;
                t0 = now_sec();
                for (size_t i = 0; i < heatmap_n_histograms(h); i++)
                        (void) heatmap_histogram(h, i, &hist);
                t_hist += now_sec() - t0;
        }

        printf("guest RAM:            %" PRIu64 " GiB, %" PRIu64 " pages\n", gib, ram >> 12);
        printf("heat map memory:      %" PRIu64 " bytes (%.4f bytes/page)\n", heatmap_memory_bytes(h),
               (double) heatmap_memory_bytes(h) / (double) (ram >> 12));
        printf("idle_pages stream:    %zu bytes/cycle\n", size);
        printf("decode + sample:      %.2f ms/cycle (%.1f MB/s of stream)\n", t_decode / cycles * 1e3,
               (double) size * cycles / t_decode / 1e6);
        printf("sweep (cycle end):    %.2f ms/cycle (%.2f ns/page incl. decode)\n", t_cycle / cycles * 1e3,
               (t_decode + t_cycle) / cycles / (double) (ram >> 12) * 1e9);
        printf("histograms (%zu):     %.2f ms\n", heatmap_n_histograms(h), t_hist / cycles * 1e3);
        return 0;
}
