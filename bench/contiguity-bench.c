/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Cost of a contiguity scan (src/daemon/contiguity-scan.c) on the running kernel, over this
 * program's own memory: GIB GiB (default 1) of anonymous memory, touched, once THP-backed and
 * once with 4 KiB pages (MADV_NOHUGEPAGE), then the pure model alone on the same number of
 * synthetic records. Needs root (pfns, /proc/kpageflags). Prints numbers; never fails on time.
 *     build/bench/contiguity-bench [GIB]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vtism/contiguity-scan.h"
#include "vtism/macro.h"

static double now_sec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int run(uint64_t bytes, bool thp) {
        uint8_t *raw = mmap(NULL, bytes + (2 << 20), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *buf;
        HeatRangeSpec r;
        ContigSummary s;
        ContiguityScanStats st;
        double t0, t;
        int k;

        if (raw == MAP_FAILED)
                return -1;
        buf = (uint8_t *) (((uintptr_t) raw + (2 << 20) - 1) & ~(uintptr_t) ((2 << 20) - 1));
        (void) madvise(buf, bytes, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
        for (uint64_t o = 0; o < bytes; o += 4096)
                buf[o] = 1;
        r = (HeatRangeSpec) { .gpa = 0, .hva = (uint64_t) (uintptr_t) buf, .len_bytes = bytes };

        t0 = now_sec();
        k = contiguity_scan_vm("/proc", "/sys", getpid(), 0, &r, 1, NULL, &s, &st);
        t = now_sec() - t0;
        if (k < 0) {
                fprintf(stderr, "scan: %s\n", strerror(-k));
                return -1;
        }
        printf("%-14s %6.1f ms per GiB  (%" PRIu64 " THPs, %" PRIu64 " runs, %" PRIu64 " pagemap + %" PRIu64
               " kpageflags reads, PAGEMAP_SCAN %s)\n",
               thp ? "scan, THP:" : "scan, 4 KiB:", t * 1e3 / ((double) bytes / (1 << 30)), s.thp_2m, s.runs.entries,
               st.pagemap_reads, st.kpageflags_reads, st.pmd_mapping_known ? "yes" : "no");
        munmap(raw, bytes + (2 << 20));
        return 0;
}

int main(int argc, char *argv[]) {
        uint64_t gib = argc > 1 ? strtoull(argv[1], NULL, 10) : 1, pages;
        _cleanup_(contiguity_freep) Contiguity *c = NULL;
        ContigPage batch[4096];
        ContigSummary s;
        double t0;

        if (gib == 0 || geteuid() != 0) {
                fprintf(stderr, "usage: contiguity-bench [GIB > 0], as root\n");
                return 2;
        }
        if (run(gib << 30, true) < 0 || run(gib << 30, false) < 0)
                return 1;

        /* The model alone: 4 KiB pages in runs of 7, as scattered as the scan above at worst. */
        pages = (gib << 30) / 4096;
        if (contiguity_new(NULL, &c) < 0)
                return 1;
        t0 = now_sec();
        for (uint64_t g = 0; g < pages; g += ELEMENTSOF(batch)) {
                for (size_t i = 0; i < ELEMENTSOF(batch); i++)
                        batch[i] = (ContigPage) { .gpa = (g + i) * 4096, .pfn = (g + i) * 3 + (g + i) / 7 * 100,
                                                  .node = (int) ((g + i) / 7 % 2), .state = CONTIG_PAGE_PRESENT };
                if (contiguity_add(c, batch, ELEMENTSOF(batch)) < 0)
                        return 1;
        }
        if (contiguity_finish(c, &s) < 0)
                return 1;
        printf("model alone:   %6.1f ms per GiB  (%" PRIu64 " runs, %" PRIu64 " offset groups%s, %" PRIu64 " KiB held)\n",
               (now_sec() - t0) * 1e3 / (double) gib, s.runs.entries, s.offset_groups.entries,
               s.offset_groups_overflow ? " (overflow)" : "", contiguity_memory_bytes(c) / 1024);
        return 0;
}
