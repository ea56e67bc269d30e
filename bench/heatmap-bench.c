/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Cost of the pure hot path per 4 KiB page of guest RAM per cycle: decoding an idle_pages stream
 * into heat-map samples, the heat-map sweep (cycle end), and the histogram pass the planner and
 * GetHeatmap read (one per 1 GiB window), for a guest of GIB GiB (default 16) with 4 KiB
 * granules, under access patterns of a stated density (accessed pages / all pages, as measured on
 * the stream):
 *   periodic D   every (1/D)-th page accessed (runs of one page, the worst case for the stream);
 *   random D     each page accessed with probability D (seeded: every run is the same);
 *   thp+4k       every 20th 2 MiB accessed as one THP (a PMD record) and every 7th 4 KiB page of
 *                the rest: 5 % + 95 % / 7 = 18.6 % of the pages (the mix earlier versions of this
 *                benchmark called "10 %").
 * Columns: decode + samples (the sweep runs along with the samples: each sample first ages
 * everything below it), the cycle end (the sweep of the rest), the histograms, and the cycle
 * without and with them; the headline is the cycle with histograms, what a sampling cycle costs
 * the daemon. CPU time of the benchmark's thread. Prints numbers; never fails on time.
 *     build/bench/heatmap-bench [GIB [CYCLES]]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "vtism/heatmap.h"
#include "vtism/idle-pages-format.h"
#include "vtism/macro.h"

#define HVA UINT64_C(0x7f0000000000)
#define PAGE UINT64_C(4096)
#define HUGE (UINT64_C(2) << 20)

typedef enum Kind {
        PERIODIC,
        RANDOM,
        THP_MIX,
} Kind;

typedef struct Pattern {
        Kind kind;
        double density;
        const char *name;
} Pattern;

static double now_sec(void) {
        struct timespec ts;

        /* CPU time of this thread: the machines are shared and loaded, wall time would count others */
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static uint64_t splitmix(uint64_t *s) {
        uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static int feed(const IdlePagesRun *run, void *userdata) {
        if (run->kind != IDLE_PAGES_KIND_ACCESSED)
                return 0;
        return heatmap_sample_hva(userdata, run->start_hva, run->len_bytes);
}

static void add_page(IdlePagesEncoder *e, uint64_t hva, bool accessed, uint64_t *accessed_pages) {
        IdlePagesRun r = { .start_hva = hva, .len_bytes = PAGE, .page_size_bytes = PAGE,
                           .kind = accessed ? IDLE_PAGES_KIND_ACCESSED : IDLE_PAGES_KIND_IDLE };

        (void) idle_pages_encoder_add(e, &r);
        *accessed_pages += accessed;
}

/* The idle_pages stream of one cycle of the pattern; *ret_accessed = accessed 4 KiB pages. */
static uint8_t *encode(const Pattern *pt, uint64_t ram, size_t *ret_size, uint64_t *ret_accessed) {
        IdlePagesEncoder e;
        uint8_t *stream = NULL;
        uint64_t accessed = 0, seed = 1, period = pt->density > 0 ? (uint64_t) (1 / pt->density + 0.5) : 0;

        idle_pages_encoder_init(&e, HVA);
        for (uint64_t off = 0; off < ram; off += HUGE) {
                if (pt->kind == THP_MIX && (off / HUGE) % 20 == 0) {
                        IdlePagesRun r = { .start_hva = HVA + off, .len_bytes = HUGE, .page_size_bytes = HUGE,
                                           .kind = IDLE_PAGES_KIND_ACCESSED };

                        (void) idle_pages_encoder_add(&e, &r);
                        accessed += HUGE / PAGE;
                        continue;
                }
                for (uint64_t p = 0; p < HUGE / PAGE; p++) {
                        uint64_t page = (off / PAGE) + p;
                        bool a;

                        switch (pt->kind) {
                        case PERIODIC:
                                a = period > 0 && page % period == 0;
                                break;
                        case RANDOM:
                                a = (double) (splitmix(&seed) >> 11) * 0x1.0p-53 < pt->density;
                                break;
                        default:
                                a = p % 7 == 0;
                        }
                        add_page(&e, HVA + off + p * PAGE, a, &accessed);
                }
        }
        (void) idle_pages_encoder_finish(&e, &stream, ret_size);
        *ret_accessed = accessed;
        return stream;
}

typedef struct Times {
        double decode, sweep, hist;
} Times;

static void run(const Pattern *pt, uint64_t gib, unsigned cycles) {
        uint64_t ram = gib << 30, pages = ram / PAGE, accessed;
        HeatRangeSpec spec = { .gpa = 0, .hva = HVA, .len_bytes = ram };
        _cleanup_(heatmap_freep) HeatMap *h = NULL;
        _cleanup_free_ uint8_t *stream = NULL;
        size_t size;
        Times t = {};
        double np;

        if (heatmap_new(&spec, 1, NULL, &h) < 0)
                abort();
        stream = encode(pt, ram, &size, &accessed);
        for (unsigned c = 0; c < cycles; c++) {
                IdlePagesDecoder d;
                HeatHistogram hist;
                double t0 = now_sec(), t1, t2;

                heatmap_cycle_begin(h);
                idle_pages_decoder_init(&d, HVA);
                /* 64 KiB reads, like the tracker */
                for (size_t o = 0; o < size; o += 65536)
                        (void) idle_pages_decoder_feed(&d, stream + o, MIN((size_t) 65536, size - o), feed, h);
                (void) idle_pages_decoder_finish(&d, feed, h);
                t1 = now_sec();
                (void) heatmap_cycle_end(h);
                t2 = now_sec();
                for (size_t i = 0; i < heatmap_n_histograms(h); i++)
                        (void) heatmap_histogram(h, i, &hist);
                t.decode += t1 - t0;
                t.sweep += t2 - t1;
                t.hist += now_sec() - t2;
        }
        np = (double) pages * cycles / 1e9;
        printf("%-14s %8.2f %% %10.2f %9.2f %8.2f %8.2f %10.2f %10.2f %9.1f\n", pt->name, 100.0 * (double) accessed / (double) pages,
               (double) size / 1024, t.decode / np, t.sweep / np, t.hist / np, (t.decode + t.sweep) / np,
               (t.decode + t.sweep + t.hist) / np, (t.decode + t.sweep + t.hist) / cycles * 1e3);
        fflush(stdout);
}

int main(int argc, char *argv[]) {
        static const Pattern patterns[] = {
                { PERIODIC, 0.01, "periodic 1%" },
                { PERIODIC, 0.10, "periodic 10%" },
                { PERIODIC, 0.50, "periodic 50%" },
                { RANDOM, 0.01, "random 1%" },
                { RANDOM, 0.10, "random 10%" },
                { RANDOM, 0.50, "random 50%" },
                { THP_MIX, 0, "thp+4k" },
        };
        uint64_t gib = argc > 1 ? strtoull(argv[1], NULL, 10) : 16;
        unsigned cycles = argc > 2 ? (unsigned) strtoul(argv[2], NULL, 10) : 10;
        HeatRangeSpec spec = { .gpa = 0, .hva = HVA, .len_bytes = gib << 30 };
        _cleanup_(heatmap_freep) HeatMap *h = NULL;

        if (gib == 0 || gib > 4096 || cycles == 0 || heatmap_new(&spec, 1, NULL, &h) < 0) {
                fprintf(stderr, "usage: heatmap-bench [GIB (1..4096) [CYCLES (>= 1)]]\n");
                return EXIT_FAILURE;
        }
        printf("guest RAM %" PRIu64 " GiB (%" PRIu64 " pages, 4 KiB granules), heat map %" PRIu64 " bytes (%.4f bytes/page), "
               "%zu histogram windows, mean of %u cycles\n",
               gib, (gib << 30) / PAGE, heatmap_memory_bytes(h), (double) heatmap_memory_bytes(h) / (double) ((gib << 30) / PAGE),
               heatmap_n_histograms(h), cycles);
        printf("%-14s %10s %10s %9s %8s %8s %10s %10s %9s\n", "pattern", "accessed", "stream", "decode,", "cycle", "histo-",
               "cycle", "cycle+", "cycle+");
        printf("%-14s %10s %10s %9s %8s %8s %10s %10s %9s\n", "", "(pages)", "KiB/cycle", "samples", "end", "grams", "no hist", "hist",
               "hist");
        printf("%-14s %10s %10s %9s %8s %8s %10s %10s %9s\n", "", "", "", "ns/page", "ns/page", "ns/page", "ns/page", "ns/page",
               "ms");
        h = heatmap_free(h);
        for (size_t i = 0; i < ELEMENTSOF(patterns); i++)
                run(&patterns[i], gib, cycles);
        return 0;
}
