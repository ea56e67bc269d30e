/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The contiguity reader (src/daemon/contiguity-scan.c) on a fake kernel: a proc root with
 * PID/pagemap, kpageflags, PID/stat and zoneinfo, written here from one layout table, and
 * the sysfs memory blocks of tests/data/contiguity-scan/sys (16 MiB blocks = 4096 pages:
 * blocks 0, 1 and 3 on node 0, block 2 on node 1, nothing else).
 *
 * The reader must turn entry and flag bits back into the layout the table meant: the records it
 * feeds the model are checked by computing the expected summary from the table's own records
 * (contiguity.h is tested on its own in test-contiguity).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tmptree.h"
#include "vtism/contiguity-scan.h"
#include "vtism/proc-pid.h"
#include "vtism/util.h"

#define PG UINT64_C(4096)
#define PID 4242
#define START_TIME 12345ULL

#define PM_PRESENT (UINT64_C(1) << 63)
#define HEAD (UINT64_C(1) << 15)
#define TAIL (UINT64_C(1) << 16)
#define HUGE (UINT64_C(1) << 17)
#define THP (UINT64_C(1) << 22)
#define ZERO (UINT64_C(1) << 24)
#define LRU_ANON ((UINT64_C(1) << 5) | (UINT64_C(1) << 12))   /* noise bits a real page has */

typedef struct Fake {
        char *proc;
        int pagemap_fd, flags_fd;
        ContigPage *expect;
        size_t n_expect, allocated;
} Fake;

static void pwrite_u64s(int fd, uint64_t index, const uint64_t *v, size_t n) {
        check(pwrite(fd, v, n * sizeof(uint64_t), (off_t) (index * sizeof(uint64_t))) == (ssize_t) (n * sizeof(uint64_t)));
}

static void fake_open(Fake *f, const char *stat_start_time) {
        _cleanup_free_ char *stat = NULL, *pm = NULL, *kf = NULL, *zoneinfo = NULL, *zsrc = NULL;

        *f = (Fake) {};
        f->proc = tmptree_new("test-contiguity-scan");
        stat = xasprintf("%d (qemu-system-x86) S 1 %d %d 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 3 0 %s 1000 100 "
                         "18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n",
                         PID, PID, PID, stat_start_time);
        tmptree_write_str(f->proc, "4242/stat", stat);
        zsrc = xasprintf("%s/contiguity-scan/proc-zoneinfo", test_data_dir());
        check_int(read_file_at(NULL, zsrc, &zoneinfo), 0);
        tmptree_write_str(f->proc, "zoneinfo", zoneinfo);
        tmptree_write(f->proc, "4242/pagemap", "", 0);
        tmptree_write(f->proc, "kpageflags", "", 0);
        pm = xasprintf("%s/4242/pagemap", f->proc);
        kf = xasprintf("%s/kpageflags", f->proc);
        f->pagemap_fd = open(pm, O_RDWR | O_CLOEXEC);
        f->flags_fd = open(kf, O_RDWR | O_CLOEXEC);
        check(f->pagemap_fd >= 0 && f->flags_fd >= 0);
}

static void fake_close(Fake *f) {
        close(f->pagemap_fd);
        close(f->flags_fd);
        tmptree_remove(f->proc);
        free(f->expect);
}

static void expect(Fake *f, uint64_t gpa, uint64_t pfn, int node, ContigMapping m, ContigPageState st) {
        if (f->n_expect >= f->allocated) {
                f->allocated = MAX(f->allocated * 2, (size_t) 4096);
                f->expect = xreallocarray(f->expect, f->allocated, sizeof(ContigPage));
        }
        f->expect[f->n_expect++] = (ContigPage) { .gpa = gpa, .pfn = st == CONTIG_PAGE_PRESENT ? pfn : 0,
                                                  .node = st == CONTIG_PAGE_PRESENT ? node : -1,
                                                  .mapping = m, .state = st };
}

/* n pages at hva/gpa mapped to pfn.. with the given kpageflags; the first gets `head_flags`. */
static void map_run(Fake *f, uint64_t hva, uint64_t gpa, uint64_t pfn, size_t n, uint64_t head_flags,
                    uint64_t tail_flags, int node, ContigMapping m, ContigPageState st) {
        _cleanup_free_ uint64_t *e = xcalloc(n, sizeof(uint64_t)), *fl = xcalloc(n, sizeof(uint64_t));

        for (size_t i = 0; i < n; i++) {
                e[i] = PM_PRESENT | (UINT64_C(1) << 56) | (pfn + i);
                fl[i] = (i == 0 ? head_flags : tail_flags) | LRU_ANON;
                expect(f, gpa + i * PG, pfn + i, node, m, st);
        }
        pwrite_u64s(f->pagemap_fd, hva / PG, e, n);
        pwrite_u64s(f->flags_fd, pfn, fl, n);
}

static void map_page(Fake *f, uint64_t hva, uint64_t gpa, uint64_t pfn, uint64_t flags, int node, ContigPageState st) {
        map_run(f, hva, gpa, pfn, 1, flags, flags, node, CONTIG_MAP_4K, st);
}

static void absent(Fake *f, uint64_t hva, uint64_t gpa, size_t n) {
        _cleanup_free_ uint64_t *e = xcalloc(n, sizeof(uint64_t));

        for (size_t i = 0; i < n; i++) {
                e[i] = UINT64_C(1) << 62 | 0x1234; /* swapped: not present, swap entry bits */
                expect(f, gpa + i * PG, 0, -1, CONTIG_MAP_4K, CONTIG_PAGE_ABSENT);
        }
        pwrite_u64s(f->pagemap_fd, hva / PG, e, n);
}

static char *sysfs(void) {
        return xasprintf("%s/contiguity-scan/sys", test_data_dir());
}

static void check_same(const ContigSummary *got, const ContigSummary *want) {
        check_u64(got->ram_pages, want->ram_pages);
        check_u64(got->present_pages, want->present_pages);
        check_u64(got->zero_pages, want->zero_pages);
        check_u64(got->absent_pages, want->absent_pages);
        check_u64(got->pages_4k, want->pages_4k);
        check_u64(got->thp_2m, want->thp_2m);
        check_u64(got->hugetlb_2m, want->hugetlb_2m);
        check_u64(got->hugetlb_1g, want->hugetlb_1g);
        check_u64(got->huge_mismatch_pages, want->huge_mismatch_pages);
        check_u64(got->anchor_pages, want->anchor_pages);
        check(memcmp(&got->runs, &want->runs, sizeof(ContigCoverage)) == 0);
        check(memcmp(&got->anchors, &want->anchors, sizeof(ContigCoverage)) == 0);
        check(memcmp(&got->offset_groups, &want->offset_groups, sizeof(ContigCoverage)) == 0);
        check_int(got->n_nodes, want->n_nodes);
        for (size_t i = 0; i < want->n_nodes; i++) {
                check_int(got->nodes[i].node, want->nodes[i].node);
                check_u64(got->nodes[i].pages, want->nodes[i].pages);
                check_u64(got->nodes[i].huge_pages, want->nodes[i].huge_pages);
                check_u64(got->nodes[i].runs, want->nodes[i].runs);
                check_u64(got->nodes[i].largest_run_pages, want->nodes[i].largest_run_pages);
        }
}

/*
 * Range A: gpa 0, hva 4 MiB, 2048 pages.
 *   gfn 0..511     THP at pfn 0x1000 (node 0)               -> 2m-thp
 *   gfn 512..1023  THP at pfn 0x1200, host-adjacent to it    -> 2m-thp, one range run of 1024
 *   gfn 1024..1535 4 KiB pages on node 1, pfn 0x2000 + (7k mod 512); k 76..85 swapped out
 *                  (absent), k 176 the zero page (pfn 0x900, ZERO_PAGE)
 *   gfn 1536..2047 pfn 0x3000 + k (node 0), plain pages (a THP split long ago), the first 16
 *                  a 64 KiB mTHP (THP flag, but no 2 MiB folio) -> all 4k; k 64 moved to node 1
 *                  (pfn 0x2400)
 * Range B: gpa 4 GiB, hva 16 MiB, 512 pages: a 2 MiB hugetlb page at pfn 0x3400 -> 2m-hugetlb
 * Range C: gpa 4 GiB + 2 MiB, hva 20 MiB, 512 pages: the huge zero page (pfn 0x3a00) -> zero
 */
static const HeatRangeSpec layout_ranges[] = {
        { .gpa = UINT64_C(4) << 30, .hva = 16 << 20, .len_bytes = 2 << 20 },   /* B (given out of order) */
        { .gpa = 0, .hva = 4 << 20, .len_bytes = 8 << 20 },                    /* A */
        { .gpa = (UINT64_C(4) << 30) + (2 << 20), .hva = 20 << 20, .len_bytes = 2 << 20 }, /* C */
};

static void build_layout(Fake *f) {
        uint64_t a = 4 << 20, b = 16 << 20, c = 20 << 20, gb = UINT64_C(4) << 30;

        map_run(f, a, 0, 0x1000, 512, HEAD | THP, TAIL | THP, 0, CONTIG_MAP_2M_THP, CONTIG_PAGE_PRESENT);
        map_run(f, a + 512 * PG, 512 * PG, 0x1200, 512, HEAD | THP, TAIL | THP, 0, CONTIG_MAP_2M_THP, CONTIG_PAGE_PRESENT);
        for (uint64_t k = 0; k < 512; k++) {
                uint64_t hva = a + (1024 + k) * PG, gpa = (1024 + k) * PG;

                if (k >= 76 && k < 86)
                        absent(f, hva, gpa, 1);
                else if (k == 176)
                        map_page(f, hva, gpa, 0x900, ZERO, 0, CONTIG_PAGE_ZERO);
                else
                        map_page(f, hva, gpa, 0x2000 + (7 * k) % 512, 0, 1, CONTIG_PAGE_PRESENT);
        }
        map_run(f, a + 1536 * PG, 1536 * PG, 0x3000, 16, HEAD | THP, TAIL | THP, 0, CONTIG_MAP_4K, CONTIG_PAGE_PRESENT);
        map_run(f, a + 1552 * PG, 1552 * PG, 0x3010, 48, 0, 0, 0, CONTIG_MAP_4K, CONTIG_PAGE_PRESENT);
        map_page(f, a + 1600 * PG, 1600 * PG, 0x2400, 0, 1, CONTIG_PAGE_PRESENT);
        map_run(f, a + 1601 * PG, 1601 * PG, 0x3041, 447, 0, 0, 0, CONTIG_MAP_4K, CONTIG_PAGE_PRESENT);

        map_run(f, b, gb, 0x3400, 512, HEAD | HUGE, TAIL | HUGE, 0, CONTIG_MAP_2M_HUGETLB, CONTIG_PAGE_PRESENT);
        map_run(f, c, gb + (2 << 20), 0x3a00, 512, HEAD | THP | ZERO, TAIL | THP | ZERO, 0, CONTIG_MAP_4K,
                CONTIG_PAGE_ZERO);
}

static void test_layout(void) {
        _cleanup_free_ char *sys = sysfs();
        _cleanup_(contiguity_scan_freep) ContiguityScan *s = NULL;
        ContigSummary got, want;
        ContiguityScanStats st;
        double last = 0;
        int r, steps = 0;
        Fake f;

        fake_open(&f, "12345");
        build_layout(&f);

        /* One go. */
        check_int(contiguity_scan_vm(f.proc, sys, PID, START_TIME, layout_ranges, ELEMENTSOF(layout_ranges), NULL,
                                     &got, &st), 0);
        check_int(contiguity_compute(f.expect, f.n_expect, NULL, &want), 0);
        check_same(&got, &want);

        /* the numbers worked out from the table */
        check_u64(got.ram_pages, 3072);
        check_u64(got.thp_2m, 2);
        check_u64(got.hugetlb_2m, 1);
        check_u64(got.zero_pages, 513);
        check_u64(got.absent_pages, 10);
        check_u64(got.present_pages, 2549);
        check_u64(got.pages_4k, 1013);
        check_u64(got.huge_mismatch_pages, 0);
        check_u64(got.runs.largest_pages, 1024);
        check_int(got.n_nodes, 2);
        check_u64(contig_summary_node(&got, 1)->pages, 502);
        check_u64(contig_summary_node(&got, 0)->huge_pages, 1536);
        check_u64(st.pages, 3072);
        check_u64(st.pagemap_reads, 3);
        check_u64(st.unknown_node_pages, 0);
        check(!st.pmd_mapping_known); /* a regular file has no PAGEMAP_SCAN */

        /* In steps of (at least) one batch: the same result, progress rising to 1. */
        check_int(contiguity_scan_new(f.proc, sys, PID, 0, layout_ranges, ELEMENTSOF(layout_ranges), NULL, &s), 0);
        check_int(contiguity_scan_finish(s, &got, NULL), -EBUSY);
        while ((r = contiguity_scan_step(s, 1)) > 0) {
                check(contiguity_scan_progress(s) > last);
                last = contiguity_scan_progress(s);
                steps++;
        }
        check_int(r, 0);
        check_int(steps, 2);          /* three ranges, one batch each */
        check(contiguity_scan_progress(s) == 1.0);
        check_int(contiguity_scan_finish(s, &got, NULL), 0);
        check_same(&got, &want);
        check_int(contiguity_scan_finish(s, &got, NULL), -ESTALE);
        check_int(contiguity_scan_step(s, 0), -ESTALE);
        s = contiguity_scan_free(s);

        /* Smaller batches (the daemon's slices): the same summary, 4 MiB per pread. */
        check_int(contiguity_scan_new(f.proc, sys, PID, 0, layout_ranges, ELEMENTSOF(layout_ranges), NULL, &s), 0);
        check_int(contiguity_scan_set_batch_pages(s, 512), -EINVAL);
        check_int(contiguity_scan_set_batch_pages(s, 3072), -EINVAL);
        check_int(contiguity_scan_set_batch_pages(s, 32768), -EINVAL);
        check_int(contiguity_scan_set_batch_pages(s, 1024), 0);
        steps = 0;
        while ((r = contiguity_scan_step(s, 1)) > 0)
                steps++;
        check_int(r, 0);
        check_int(contiguity_scan_finish(s, &got, &st), 0);
        check_same(&got, &want);
        check_u64(st.pagemap_reads, 4);    /* A (8 MiB at 4 MiB) takes two 4 MiB batches */
        check_int(steps, 3);

        fake_close(&f);
        printf("layout: OK\n");
}

/*
 * 1 GiB pages (sparse files, written here: too big for tests/data):
 *   range D: gpa 8 GiB, hva 1 GiB, 1 GiB: one 1 GiB hugetlb page at pfn 0x40000 -> 1g-hugetlb
 *   range E: gpa 9 GiB, hva 2 GiB, 1 GiB: 512 2 MiB hugetlb pages at pfn 0x80000.. -> 512 x 2m
 *   range F: gpa 10 GiB, hva 3 GiB, 512 MiB: the first half of a 1 GiB hugetlb page at pfn
 *     0xc0000 (the guest-physical split of a RAM backend inside one huge page): neither a
 *     1 GiB mapping nor 2 MiB ones -> 4k
 * No memory block covers these pfns: node -1.
 */
static void test_1g(void) {
        _cleanup_free_ char *sys = sysfs();
        const HeatRangeSpec ranges[] = {
                { .gpa = UINT64_C(8) << 30, .hva = UINT64_C(1) << 30, .len_bytes = UINT64_C(1) << 30 },
                { .gpa = UINT64_C(9) << 30, .hva = UINT64_C(2) << 30, .len_bytes = UINT64_C(1) << 30 },
                { .gpa = UINT64_C(10) << 30, .hva = UINT64_C(3) << 30, .len_bytes = UINT64_C(512) << 20 },
        };
        ContigSummary got, want;
        ContiguityScanStats st;
        Fake f;

        fake_open(&f, "12345");
        map_run(&f, UINT64_C(1) << 30, UINT64_C(8) << 30, 0x40000, 262144, HEAD | HUGE, TAIL | HUGE, -1,
                CONTIG_MAP_1G_HUGETLB, CONTIG_PAGE_PRESENT);
        for (uint64_t w = 0; w < 512; w++)
                map_run(&f, (UINT64_C(2) << 30) + w * (2 << 20), (UINT64_C(9) << 30) + w * (2 << 20), 0x80000 + w * 512, 512,
                        HEAD | HUGE, TAIL | HUGE, -1, CONTIG_MAP_2M_HUGETLB, CONTIG_PAGE_PRESENT);
        map_run(&f, UINT64_C(3) << 30, UINT64_C(10) << 30, 0xc0000, 131072, HEAD | HUGE, TAIL | HUGE, -1,
                CONTIG_MAP_4K, CONTIG_PAGE_PRESENT);
        {
                /* the rest of that 1 GiB folio, mapped elsewhere in the guest */
                _cleanup_free_ uint64_t *fl = xcalloc(131072, sizeof(uint64_t));

                for (size_t i = 0; i < 131072; i++)
                        fl[i] = TAIL | HUGE;
                pwrite_u64s(f.flags_fd, 0xc0000 + 131072, fl, 131072);
        }

        check_int(contiguity_scan_vm(f.proc, sys, PID, START_TIME, ranges, ELEMENTSOF(ranges), NULL, &got, &st), 0);
        check_int(contiguity_compute(f.expect, f.n_expect, NULL, &want), 0);
        check_same(&got, &want);
        check_u64(got.hugetlb_1g, 1);
        check_u64(got.hugetlb_2m, 512);
        check_u64(got.pages_4k, 131072);
        check_u64(got.huge_mismatch_pages, 0);
        check_u64(st.unknown_node_pages, 262144 * 2 + 131072);
        check_u64(st.pagemap_reads, 16 + 16 + 8);

        /* In the smallest batches the 1 GiB page is still found at its batch's start. */
        {
                _cleanup_(contiguity_scan_freep) ContiguityScan *s = NULL;
                ContigSummary small;
                int r;

                check_int(contiguity_scan_new(f.proc, sys, PID, START_TIME, ranges, ELEMENTSOF(ranges), NULL, &s), 0);
                check_int(contiguity_scan_set_batch_pages(s, CONTIG_SCAN_BATCH_PAGES_MIN), 0);
                while ((r = contiguity_scan_step(s, CONTIG_SCAN_BATCH_PAGES_MIN)) > 0)
                        ;
                check_int(r, 0);
                check_int(contiguity_scan_finish(s, &small, &st), 0);
                check_same(&small, &want);
                check_u64(st.pagemap_reads, 256 + 256 + 128);
        }
        fake_close(&f);
        printf("1g: OK\n");
}

static void test_errors(void) {
        _cleanup_free_ char *sys = sysfs();
        const HeatRangeSpec one = { .gpa = 0, .hva = 4 << 20, .len_bytes = 2 << 20 };
        HeatRangeSpec bad[2] = { one, one };
        ContiguityScan *untouched = (ContiguityScan *) 1;
        ContigSummary sum;
        Fake f;

        fake_open(&f, "12345");
        map_run(&f, 4 << 20, 0, 0x1000, 512, HEAD | THP, TAIL | THP, 0, CONTIG_MAP_2M_THP, CONTIG_PAGE_PRESENT);

        /* the pid is another process now / is gone */
        check_int(contiguity_scan_vm(f.proc, sys, PID, 999, &one, 1, NULL, &sum, NULL), -ESRCH);
        check_int(contiguity_scan_vm(f.proc, sys, PID + 1, 0, &one, 1, NULL, &sum, NULL), -ESRCH);
        /* arguments */
        check_int(contiguity_scan_new(f.proc, sys, 0, 0, &one, 1, NULL, &untouched), -EINVAL);
        check_int(contiguity_scan_new(f.proc, sys, PID, 0, bad, 2, NULL, &untouched), -EINVAL);   /* overlap */
        bad[1].gpa = 4 << 20, bad[1].len_bytes = 100;
        check_int(contiguity_scan_new(f.proc, sys, PID, 0, bad, 2, NULL, &untouched), -EINVAL);   /* unaligned */
        check(untouched == (ContiguityScan *) 1);
        /* a range past the end of the (fake) address space: pagemap reads short */
        bad[1] = (HeatRangeSpec) { .gpa = 4 << 20, .hva = 64 << 20, .len_bytes = 2 << 20 };
        check_int(contiguity_scan_vm(f.proc, sys, PID, START_TIME, bad, 2, NULL, &sum, NULL), -ERANGE);
        /* a pfn past the end of kpageflags */
        {
                uint64_t e = PM_PRESENT | 0x200000;

                pwrite_u64s(f.pagemap_fd, (6 << 20) / PG, &e, 1);
        }
        bad[1] = (HeatRangeSpec) { .gpa = 2 << 20, .hva = 6 << 20, .len_bytes = 4096 };
        check_int(contiguity_scan_vm(f.proc, sys, PID, START_TIME, bad, 2, NULL, &sum, NULL), -EIO);
        /* pfns hidden (not CAP_SYS_ADMIN): present with pfn 0 */
        {
                uint64_t e = PM_PRESENT;

                pwrite_u64s(f.pagemap_fd, (6 << 20) / PG, &e, 1);
        }
        check_int(contiguity_scan_vm(f.proc, sys, PID, START_TIME, bad, 2, NULL, &sum, NULL), -EPERM);
        /* no kpageflags */
        {
                _cleanup_free_ char *kf = xasprintf("%s/kpageflags", f.proc);

                check(unlink(kf) == 0);
                check_int(contiguity_scan_vm(f.proc, sys, PID, START_TIME, &one, 1, NULL, &sum, NULL), -ENOENT);
        }
        fake_close(&f);

        /* A VM that exits during its scan: its stat lingers (a zombie, or exiting: PF_EXITING in
         * its flags) while its pagemap reads nothing. That is the process gone (-ESRCH), not its
         * RAM unmapped (-ERANGE). */
        for (int exiting = 0; exiting <= 1; exiting++) {
                _cleanup_free_ char *stat = NULL;

                fake_open(&f, "12345");
                stat = xasprintf("%d (qemu-system-x86) %c 1 %d %d 0 -1 %u 100 0 0 0 5 3 0 0 20 0 3 0 12345 1000 100 "
                                 "18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n",
                                 PID, exiting ? 'R' : 'Z', PID, PID, 4194560u | (exiting ? PROC_PF_EXITING : 0u));
                tmptree_write_str(f.proc, "4242/stat", stat);
                check_int(contiguity_scan_vm(f.proc, sys, PID, START_TIME, &one, 1, NULL, &sum, NULL), -ESRCH);
                check_int(contiguity_scan_vm(f.proc, sys, PID, 0, &one, 1, NULL, &sum, NULL), -ESRCH);
                fake_close(&f);
        }
        /* ... while a live process whose pagemap reads short is -ERANGE (above), also without a
         * start time to check */
        fake_open(&f, "12345");
        check_int(contiguity_scan_vm(f.proc, sys, PID, 0, &one, 1, NULL, &sum, NULL), -ERANGE);
        fake_close(&f);
        printf("errors: OK\n");
}

int main(void) {
        test_data_dir();
        test_layout();
        test_1g();
        test_errors();
        printf("test-contiguity-scan: OK\n");
        return 0;
}
