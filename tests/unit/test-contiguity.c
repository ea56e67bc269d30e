/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The contiguity model (include/vtism/contiguity.h) on synthetic layouts. Every case's expected
 * numbers are worked out by hand in the comment above it; "gfn" = gpa / 4 KiB, anchors are
 * 2 MiB (512 pages) unless a case says otherwise, coverage targets are ceil(p% of present).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vtism/contiguity.h"
#include "vtism/macro.h"
#include "vtism/util.h"

#define PG CONTIG_PAGE_BYTES

/* --- building layouts --- */

typedef struct Layout {
        ContigPage *pages;
        size_t n, allocated;
} Layout;

static void layout_done(Layout *l) {
        free(l->pages);
        *l = (Layout) {};
}

static void push(Layout *l, ContigPage p) {
        if (l->n >= l->allocated) {
                l->allocated = MAX(l->allocated * 2, (size_t) 1024);
                l->pages = xreallocarray(l->pages, l->allocated, sizeof(ContigPage));
        }
        l->pages[l->n++] = p;
}

/* n present pages from gfn on, pfns linear from pfn. */
static void linear(Layout *l, uint64_t gfn, uint64_t n, uint64_t pfn, int node, ContigMapping m) {
        for (uint64_t i = 0; i < n; i++)
                push(l, (ContigPage) {
                        .gpa = (gfn + i) * PG,
                        .pfn = pfn + i,
                        .node = node,
                        .mapping = m,
                        .state = CONTIG_PAGE_PRESENT,
                });
}

static void page(Layout *l, uint64_t gfn, uint64_t pfn, int node, ContigMapping m) {
        linear(l, gfn, 1, pfn, node, m);
}

static void not_present(Layout *l, uint64_t gfn, uint64_t n, ContigPageState state) {
        for (uint64_t i = 0; i < n; i++)
                push(l, (ContigPage) { .gpa = (gfn + i) * PG, .state = state, .pfn = 0xdead, .node = 7 });
}

/* --- expectations --- */

typedef struct Cov {
        uint64_t entries, largest;
        uint64_t top[CONTIG_TOPS];
        uint64_t needed[CONTIG_TARGETS];
} Cov;

typedef struct NodeExp {
        int node;
        uint64_t pages, huge_pages, runs, largest;
        double per_gib;
} NodeExp;

typedef struct Expect {
        uint64_t ram, present, zero, absent, pages_4k, thp_2m, hugetlb_2m, hugetlb_1g, mismatch;
        Cov runs, anchors, groups;
        uint64_t anchor_pages;
        bool overflow;
        size_t n_nodes;
        NodeExp nodes[4];
} Expect;

static void check_cov(const char *name, const char *what, const ContigCoverage *c, const Cov *e) {
        bool ok = c->entries == e->entries && c->largest_pages == e->largest;

        for (unsigned i = 0; i < CONTIG_TOPS; i++)
                ok = ok && c->top_pages[i] == e->top[i];
        for (unsigned i = 0; i < CONTIG_TARGETS; i++)
                ok = ok && c->entries_for[i] == e->needed[i];
        if (ok)
                return;
        fprintf(stderr,
                "%s: %s: got entries %" PRIu64 " largest %" PRIu64 " top %" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64
                " needed %" PRIu64 "/%" PRIu64 "/%" PRIu64 "\n"
                "%s: %s: want entries %" PRIu64 " largest %" PRIu64 " top %" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64
                " needed %" PRIu64 "/%" PRIu64 "/%" PRIu64 "\n",
                name, what, c->entries, c->largest_pages, c->top_pages[0], c->top_pages[1], c->top_pages[2],
                c->top_pages[3], c->entries_for[0], c->entries_for[1], c->entries_for[2],
                name, what, e->entries, e->largest, e->top[0], e->top[1], e->top[2], e->top[3],
                e->needed[0], e->needed[1], e->needed[2]);
        exit(EXIT_FAILURE);
}

#define check_field(name, a, b)                                                                 \
        do {                                                                                    \
                if ((uint64_t) (a) != (uint64_t) (b)) {                                         \
                        fprintf(stderr, "%s: %s == %" PRIu64 ", expected %" PRIu64 "\n", name, #a, \
                                (uint64_t) (a), (uint64_t) (b));                                \
                        exit(EXIT_FAILURE);                                                     \
                }                                                                               \
        } while (0)

static void check_summary(const char *name, const ContigSummary *s, const Expect *e) {
        check_field(name, s->ram_pages, e->ram);
        check_field(name, s->present_pages, e->present);
        check_field(name, s->zero_pages, e->zero);
        check_field(name, s->absent_pages, e->absent);
        check_field(name, s->pages_4k, e->pages_4k);
        check_field(name, s->thp_2m, e->thp_2m);
        check_field(name, s->hugetlb_2m, e->hugetlb_2m);
        check_field(name, s->hugetlb_1g, e->hugetlb_1g);
        check_field(name, s->huge_mismatch_pages, e->mismatch);
        /* the invariant of the header */
        check_field(name, s->present_pages,
                    s->pages_4k + CONTIG_PAGES_2M * (s->thp_2m + s->hugetlb_2m) + CONTIG_PAGES_1G * s->hugetlb_1g);
        check_field(name, s->ram_pages, s->present_pages + s->zero_pages + s->absent_pages);
        check_cov(name, "runs", &s->runs, &e->runs);
        check_cov(name, "anchors", &s->anchors, &e->anchors);
        check_field(name, s->anchor_pages, e->anchor_pages);
        check_cov(name, "offset groups", &s->offset_groups, &e->groups);
        check_field(name, s->offset_groups_overflow, e->overflow);
        check_field(name, s->n_nodes, e->n_nodes);
        for (size_t i = 0; i < e->n_nodes; i++) {
                const ContigNode *n = contig_summary_node(s, e->nodes[i].node);
                double per_gib;

                if (!n) {
                        fprintf(stderr, "%s: node %d missing\n", name, e->nodes[i].node);
                        exit(EXIT_FAILURE);
                }
                check_field(name, s->nodes[i].node, e->nodes[i].node); /* ascending ids */
                check_field(name, n->pages, e->nodes[i].pages);
                check_field(name, n->huge_pages, e->nodes[i].huge_pages);
                check_field(name, n->runs, e->nodes[i].runs);
                check_field(name, n->largest_run_pages, e->nodes[i].largest);
                per_gib = contiguity_per_gib(n->runs, n->pages);
                if (per_gib - e->nodes[i].per_gib > 1e-9 || e->nodes[i].per_gib - per_gib > 1e-9) {
                        fprintf(stderr, "%s: node %d: %g runs per GiB, expected %g\n", name, n->node, per_gib,
                                e->nodes[i].per_gib);
                        exit(EXIT_FAILURE);
                }
        }
}

/* Compute in one go and in batches of several sizes: the results must not differ. */
static void run_case(const char *name, const Layout *l, const ContigParams *params, const Expect *e) {
        static const size_t batches[] = { 1, 7, 511, 4096 };
        ContigSummary s;

        check_int(contiguity_compute(l->pages, l->n, params, &s), 0);
        check_summary(name, &s, e);

        for (size_t b = 0; b < ELEMENTSOF(batches); b++) {
                _cleanup_(contiguity_freep) Contiguity *c = NULL;
                _cleanup_free_ char *label = xasprintf("%s (batches of %zu)", name, batches[b]);

                if (batches[b] == 1 && l->n > 100000)
                        continue; /* the 1 GiB cases: one-record batches prove nothing more */
                check_int(contiguity_new(params, &c), 0);
                for (size_t i = 0; i < l->n; i += batches[b])
                        check_int(contiguity_add(c, l->pages + i, MIN(batches[b], l->n - i)), 0);
                check_int(contiguity_finish(c, &s), 0);
                check_summary(label, &s, e);
        }
        printf("%s: OK\n", name);
}

/* --- the cases --- */

/*
 * Identity-style: 8 MiB (2048 pages) of 4 KiB pages mapped linearly to host pfn 0x40000.. on
 * node 0.
 *   runs: 1 of 2048; every top-N and every target: 1 run.
 *   anchors: gfn 0, 512, 1024, 1536 are anchors -> 4 entries of 512, anchor_pages 2048;
 *     80 % = ceil(1638.4) = 1639 pages needs 4 entries (3 cover 1536), 90 % (1844) and 99 % (2028)
 *     too; top 32.. = 2048.
 *   offset groups: 1 (0x40000), 2048 pages.
 *   node 0: 2048 pages, 1 run -> 1 * 262144 / 2048 = 128 runs per GiB.
 */
static void case_identity(void) {
        Layout l = {};
        Expect e = {
                .ram = 2048, .present = 2048, .pages_4k = 2048,
                .runs = { 1, 2048, { 2048, 2048, 2048, 2048 }, { 1, 1, 1 } },
                .anchors = { 4, 512, { 2048, 2048, 2048, 2048 }, { 4, 4, 4 } },
                .anchor_pages = 2048,
                .groups = { 1, 2048, { 2048, 2048, 2048, 2048 }, { 1, 1, 1 } },
                .n_nodes = 1,
                .nodes = { { 0, 2048, 0, 1, 2048, 128.0 } },
        };

        linear(&l, 0, 2048, 0x40000, 0, CONTIG_MAP_4K);
        run_case("identity", &l, NULL, &e);
        layout_done(&l);
}

/*
 * Fully scattered: 16 pages, pfn(g) = 1000 + (7 g mod 16). Consecutive pfns differ by 7 or -9,
 * never 1, so every page is its own run.
 *   runs: 16 of 1; 80 % = ceil(12.8) = 13 runs, 90 % = ceil(14.4) = 15, 99 % = ceil(15.84) = 16.
 *   anchors: only gfn 0 is an anchor (an entry of 1, anchor_pages 1); 15 4 KiB entries; the same
 *     16 entries of 1.
 *   offset groups: offset(g) = 1000 + (7 g mod 16) - g. As 7 * 8 = 8 mod 16, offset(g + 8) =
 *     offset(g) exactly when 7 g mod 16 < 8 (g = 0, 1, 3, 5, 7 of 0..7); worked out:
 *     1000 {0, 8}, 1006 {1, 9}, 1012 {2}, 1002 {3, 11}, 1008 {4}, 998 {5, 13}, 1004 {6},
 *     994 {7, 15}, 996 {10}, 992 {12}, 988 {14}: 11 groups, five of 2 and six of 1.
 *     80 % (13 pages): 5 pairs + 3 singles = 8 groups; 90 % (15): 5 + 5 = 10; 99 % (16): 11.
 *   node 0: 16 pages in 16 runs -> 16 * 262144 / 16 = 262144 runs per GiB.
 */
static void case_scattered(void) {
        Layout l = {};
        Expect e = {
                .ram = 16, .present = 16, .pages_4k = 16,
                .runs = { 16, 1, { 16, 16, 16, 16 }, { 13, 15, 16 } },
                .anchors = { 16, 1, { 16, 16, 16, 16 }, { 13, 15, 16 } },
                .anchor_pages = 1,
                .groups = { 11, 2, { 16, 16, 16, 16 }, { 8, 10, 11 } },
                .n_nodes = 1,
                .nodes = { { 0, 16, 0, 16, 1, 262144.0 } },
        };

        for (uint64_t g = 0; g < 16; g++)
                page(&l, g, 1000 + (7 * g) % 16, 0, CONTIG_MAP_4K);
        run_case("scattered", &l, NULL, &e);
        layout_done(&l);
}

/*
 * THP-backed, one split page: 4 MiB = two 2 MiB windows. Window 0 (gfn 0..511) is a THP at pfn
 * 0x10000 (2 MiB aligned). Window 1 (gfn 512..1023) was a THP at 0x20000 that got split when
 * its page gfn 700 moved to node 1 (pfn 0x30005): its pages are 4 KiB mappings now, linear
 * (pfn 0x20000 + g - 512) except gfn 700.
 *   mappings: thp_2m 1, pages_4k 512, present 1024.
 *   runs: [0, 512) 512, [512, 700) 188, [700] 1, [701, 1024) 323: 4 runs, largest 512.
 *     80 % = ceil(819.2) = 820: 512 + 323 = 835 -> 2; 90 % = ceil(921.6) = 922: + 188 -> 3;
 *     99 % = ceil(1013.76) = 1014: 1023 -> 3.
 *   anchors: [0, 512) is one anchor entry of 512; [512, 700) one of 188; gfn 700 and
 *     [701, 1024) lie before the next anchor (1024): 1 + 323 4 KiB entries. 326 entries,
 *     anchor_pages 700. Largest first: 512, 188, then 324 entries of 1.
 *     top 32 = 700 + 30 = 730, 64 = 762, 128 = 826, 256 = 954.
 *     80 % (820): 700 + 120 -> 122; 90 % (922): 700 + 222 -> 224; 99 % (1014): 700 + 314 -> 316.
 *   offset groups: window 0: 0x10000 (512 pages); [512, 700) and [701, 1024) both
 *     0x20000 - 512 (511 pages); gfn 700: 0x30005 - 700 (1 page). 3 groups;
 *     80 / 90 / 99 %: 512 + 511 = 1023 >= 1014 -> 2 each.
 *   node 0: 1023 pages, 512 in the THP, runs 512, 188, 323 -> 3, largest 512,
 *     3 * 262144 / 1023 runs per GiB; node 1: 1 page, 1 run -> 262144 per GiB.
 */
static void case_thp_split(void) {
        Layout l = {};
        Expect e = {
                .ram = 1024, .present = 1024, .pages_4k = 512, .thp_2m = 1,
                .runs = { 4, 512, { 1024, 1024, 1024, 1024 }, { 2, 3, 3 } },
                .anchors = { 326, 512, { 730, 762, 826, 954 }, { 122, 224, 316 } },
                .anchor_pages = 700,
                .groups = { 3, 512, { 1024, 1024, 1024, 1024 }, { 2, 2, 2 } },
                .n_nodes = 2,
                .nodes = {
                        { 0, 1023, 512, 3, 512, 3.0 * 262144 / 1023 },
                        { 1, 1, 0, 1, 1, 262144.0 },
                },
        };

        linear(&l, 0, 512, 0x10000, 0, CONTIG_MAP_2M_THP);
        linear(&l, 512, 188, 0x20000, 0, CONTIG_MAP_4K);
        page(&l, 700, 0x30005, 1, CONTIG_MAP_4K);
        linear(&l, 701, 323, 0x20000 + 189, 0, CONTIG_MAP_4K);
        run_case("thp-split", &l, NULL, &e);

        /*
         * The same, but the reader still says 2m-thp for the pages of the split window: that
         * window is not one mapping (gfn 700 is elsewhere and 4 KiB), so its 511 pages marked
         * huge count as 4 KiB and as mismatch; nothing else changes.
         */
        for (size_t i = 512; i < l.n; i++)
                if (l.pages[i].gpa != 700 * PG)
                        l.pages[i].mapping = CONTIG_MAP_2M_THP;
        e.mismatch = 511;
        run_case("thp-split-marked-huge", &l, NULL, &e);
        layout_done(&l);
}

/*
 * Two nodes interleaved 2 MiB-wise (numactl --interleave with THP): four THP windows, 0 and 2
 * on node 0 at pfn 0x10000 and 0x10200 (adjacent in host memory, not in guest memory), 1 and 3
 * on node 1 at 0x50000 and 0x50200.
 *   mappings: thp_2m 4.
 *   runs: 4 of 512 (window 1 does not continue window 0's pfns, etc.); 80 % of 2048 = 1639 ->
 *     4 runs (3 cover 1536), 90 % and 99 % also 4.
 *   anchors: 4 entries of 512 (each run starts on an anchor), anchor_pages 2048.
 *   offset groups: 0x10000 - 0, 0x10200 - 1024, 0x50000 - 512, 0x50200 - 1536: 4 of 512.
 *   each node: 1024 pages, all huge, 2 runs -> 2 * 262144 / 1024 = 512 runs per GiB.
 */
static void case_interleaved_2m(void) {
        Layout l = {};
        Expect e = {
                .ram = 2048, .present = 2048, .thp_2m = 4,
                .runs = { 4, 512, { 2048, 2048, 2048, 2048 }, { 4, 4, 4 } },
                .anchors = { 4, 512, { 2048, 2048, 2048, 2048 }, { 4, 4, 4 } },
                .anchor_pages = 2048,
                .groups = { 4, 512, { 2048, 2048, 2048, 2048 }, { 4, 4, 4 } },
                .n_nodes = 2,
                .nodes = {
                        { 0, 1024, 1024, 2, 512, 512.0 },
                        { 1, 1024, 1024, 2, 512, 512.0 },
                },
        };

        linear(&l, 0, 512, 0x10000, 0, CONTIG_MAP_2M_THP);
        linear(&l, 512, 512, 0x50000, 1, CONTIG_MAP_2M_THP);
        linear(&l, 1024, 512, 0x10200, 0, CONTIG_MAP_2M_THP);
        linear(&l, 1536, 512, 0x50200, 1, CONTIG_MAP_2M_THP);
        run_case("interleaved-2m", &l, NULL, &e);
        layout_done(&l);
}

/*
 * Two nodes interleaved 4 KiB-wise: 1024 pages, even gfn on node 0 at pfn 0x10000 + g / 2, odd
 * gfn on node 1 at 0x50000 + g / 2. No two neighbours are host-adjacent.
 *   runs: 1024 of 1; 80 % = ceil(819.2) = 820, 90 % = 922, 99 % = 1014 runs; top N = N.
 *   anchors: gfn 0 and 512 are anchors of 1-page runs; all 1024 entries are of 1;
 *     anchor_pages 2.
 *   offset groups: 0x10000 - g / 2 (even g), 0x50000 - (g + 1) / 2 (odd g): all distinct,
 *     1024 groups of 1.
 *   each node: 512 pages in 512 runs -> 262144 runs per GiB.
 * Then with max_offset_groups = 1000: overflow, entries 1001, the rest of it 0.
 */
static void case_interleaved_4k(void) {
        Layout l = {};
        ContigParams p;
        Expect e = {
                .ram = 1024, .present = 1024, .pages_4k = 1024,
                .runs = { 1024, 1, { 32, 64, 128, 256 }, { 820, 922, 1014 } },
                .anchors = { 1024, 1, { 32, 64, 128, 256 }, { 820, 922, 1014 } },
                .anchor_pages = 2,
                .groups = { 1024, 1, { 32, 64, 128, 256 }, { 820, 922, 1014 } },
                .n_nodes = 2,
                .nodes = {
                        { 0, 512, 0, 512, 1, 262144.0 },
                        { 1, 512, 0, 512, 1, 262144.0 },
                },
        };

        for (uint64_t g = 0; g < 1024; g++)
                page(&l, g, (g % 2 == 0 ? 0x10000 : 0x50000) + g / 2, (int) (g % 2), CONTIG_MAP_4K);
        run_case("interleaved-4k", &l, NULL, &e);

        contig_params_init_default(&p);
        p.max_offset_groups = 1000;
        e.groups = (Cov) { .entries = 1001 };
        e.overflow = true;
        run_case("interleaved-4k-overflow", &l, &p, &e);
        layout_done(&l);
}

/*
 * Holes: RAM ranges gfn [0, 8) and [16, 24) (8..15 is no RAM: nothing is fed for it); gfn 3 is
 * absent (never touched), gfn 20 maps the shared zero page. pfn = 100 + g in the first range and
 * 108 + (g - 16) in the second, so host memory even continues across the hole: the guest-physical
 * gap alone must break the run.
 *   ram 16, present 14, absent 1, zero 1.
 *   runs: [0, 3) 3, [4, 8) 4, [16, 20) 4, [21, 24) 3: 4 runs, largest 4. 80 % = ceil(11.2) = 12:
 *     4 + 4 + 3 = 11 -> 4 runs; 90 % (13) and 99 % (14): 4.
 *   anchors (2 MiB): gfn 0 starts an anchor entry of 3 (anchor_pages 3); the other 11 pages take
 *     4 KiB entries: 12 entries; 80 % (12): 3 + 9 -> 10; 90 % (13): 11; 99 % (14): 12.
 *   offset groups: 100 for [0, 3) and [4, 8) (7 pages), 92 for the rest (7 pages): 2 groups;
 *     80 % (12) -> 2.
 *   node 0: 14 pages, 4 runs -> 4 * 262144 / 14 per GiB.
 * Then with 16 KiB anchors (4 pages): anchors at gfn 0, 4, 16; entries 3 ([0, 3)), 4 ([4, 8)),
 *   4 ([16, 20)) and three 4 KiB entries for [21, 24) (the next anchor, 24, is past the run):
 *   6 entries, anchor_pages 11; 80 % (12): 4 + 4 + 3 + 1 -> 4; 90 % (13): 5; 99 % (14): 6.
 */
static void case_holes(void) {
        Layout l = {};
        ContigParams p;
        Expect e = {
                .ram = 16, .present = 14, .absent = 1, .zero = 1, .pages_4k = 14,
                .runs = { 4, 4, { 14, 14, 14, 14 }, { 4, 4, 4 } },
                .anchors = { 12, 3, { 14, 14, 14, 14 }, { 10, 11, 12 } },
                .anchor_pages = 3,
                .groups = { 2, 7, { 14, 14, 14, 14 }, { 2, 2, 2 } },
                .n_nodes = 1,
                .nodes = { { 0, 14, 0, 4, 4, 4.0 * 262144 / 14 } },
        };

        linear(&l, 0, 3, 100, 0, CONTIG_MAP_4K);
        not_present(&l, 3, 1, CONTIG_PAGE_ABSENT);
        linear(&l, 4, 4, 104, 0, CONTIG_MAP_4K);
        linear(&l, 16, 4, 108, 0, CONTIG_MAP_4K);
        not_present(&l, 20, 1, CONTIG_PAGE_ZERO);
        linear(&l, 21, 3, 113, 0, CONTIG_MAP_4K);
        run_case("holes", &l, NULL, &e);

        contig_params_init_default(&p);
        p.anchor_bytes = 4 * PG;
        e.anchors = (Cov) { 6, 4, { 14, 14, 14, 14 }, { 4, 5, 6 } };
        e.anchor_pages = 11;
        run_case("holes-16k-anchors", &l, &p, &e);
        layout_done(&l);
}

/*
 * 1 GiB pages: 2 GiB of guest RAM in two 1 GiB hugetlb pages on node 0, window 0 at pfn
 * 0x100000 (4 GiB, 1 GiB aligned), window 1 at 0x40000 (1 GiB).
 *   hugetlb_1g 2, pages_4k 0.
 *   runs: 2 of 262144; anchors: 1024 entries of 512 (anchor_pages 524288); 80 % = 419431 pages
 *     -> 2 runs / 820 anchor entries (819 * 512 = 419328 < 419431), 90 % = 471860 -> 2 / 922,
 *     99 % = 519046 -> 2 / 1014 (1013 * 512 = 518656). top 32 anchors = 16384 pages, 64 = 32768,
 *     128 = 65536, 256 = 131072.
 *   offset groups: 0x100000 and 0x40000 - 262144 = 0: 2 groups.
 *   node 0: 524288 pages, all huge, 2 runs -> 1 run per GiB.
 * Then window 1 at pfn 0x40200 (2 MiB but not 1 GiB aligned): it is no 1 GiB mapping; its
 *   262144 pages count as 4 KiB and mismatch. Runs and groups are unchanged (0x40200 - 262144
 *   is still one offset).
 * Then with 1 GiB anchors: 2 anchor entries of 262144.
 */
static void case_1g(void) {
        Layout l = {};
        ContigParams p;
        Expect e = {
                .ram = 524288, .present = 524288, .hugetlb_1g = 2,
                .runs = { 2, 262144, { 524288, 524288, 524288, 524288 }, { 2, 2, 2 } },
                .anchors = { 1024, 512, { 16384, 32768, 65536, 131072 }, { 820, 922, 1014 } },
                .anchor_pages = 524288,
                .groups = { 2, 262144, { 524288, 524288, 524288, 524288 }, { 2, 2, 2 } },
                .n_nodes = 1,
                .nodes = { { 0, 524288, 524288, 2, 262144, 1.0 } },
        };

        linear(&l, 0, CONTIG_PAGES_1G, 0x100000, 0, CONTIG_MAP_1G_HUGETLB);
        linear(&l, CONTIG_PAGES_1G, CONTIG_PAGES_1G, 0x40000, 0, CONTIG_MAP_1G_HUGETLB);
        run_case("1g", &l, NULL, &e);

        for (size_t i = CONTIG_PAGES_1G; i < l.n; i++)
                l.pages[i].pfn += 512;
        e.hugetlb_1g = 1;
        e.pages_4k = e.mismatch = CONTIG_PAGES_1G;
        e.nodes[0].huge_pages = CONTIG_PAGES_1G;
        run_case("1g-misaligned", &l, NULL, &e);

        contig_params_init_default(&p);
        p.anchor_bytes = UINT64_C(1) << 30;
        e.anchors = (Cov) { 2, 262144, { 524288, 524288, 524288, 524288 }, { 2, 2, 2 } };
        run_case("1g-misaligned-1g-anchors", &l, &p, &e);
        layout_done(&l);
}

/*
 * Huge windows that are not mappings: 2 MiB hugetlb page at gfn 0 on pfn 0x800, but gfn 300 is
 * absent (a hole inside the window); a THP marked at gfn 513 (not window-aligned) for 511 pages.
 * And a huge zero page (512 zero records at gfn 1024).
 *   present 511 + 511 = 1022, absent 1, zero 512; hugetlb_2m 0, thp_2m 0; all 1022 present
 *   pages are 4 KiB and mismatch; gfn 512 is not fed (a hole).
 *   runs: [0, 300) 300, [301, 512) 211, [513, 1024) 511 (pfns 0x2001..): 3 runs, largest 511.
 *     80 % = ceil(817.6) = 818: 511 + 300 = 811 < 818 -> 3; 90 % (920) and 99 % (1012): 3.
 *   anchors: [0, 300) one anchor entry of 300; [301, 512) and [513, 1024) lie before their next
 *     anchor: 211 + 511 4 KiB entries; 723 entries, anchor_pages 300. 80 % (818): 300 + 518
 *     -> 519; 90 % (920): 621; 99 % (1012): 713. top 32 = 331, 64 = 363, 128 = 427, 256 = 555.
 *   offset groups: 0x800 (511 pages: both pieces of the hugetlb window), 0x2001 - 513 = 7680
 *     (511): 2 groups, 80 % (818) -> 2.
 *   node 2 only: 1022 pages, 0 huge, 3 runs.
 */
static void case_broken_windows(void) {
        Layout l = {};
        Expect e = {
                .ram = 1535, .present = 1022, .absent = 1, .zero = 512, .pages_4k = 1022, .mismatch = 1022,
                .runs = { 3, 511, { 1022, 1022, 1022, 1022 }, { 3, 3, 3 } },
                .anchors = { 723, 300, { 331, 363, 427, 555 }, { 519, 621, 713 } },
                .anchor_pages = 300,
                .groups = { 2, 511, { 1022, 1022, 1022, 1022 }, { 2, 2, 2 } },
                .n_nodes = 1,
                .nodes = { { 2, 1022, 0, 3, 511, 3.0 * 262144 / 1022 } },
        };

        linear(&l, 0, 300, 0x800, 2, CONTIG_MAP_2M_HUGETLB);
        not_present(&l, 300, 1, CONTIG_PAGE_ABSENT);
        linear(&l, 301, 211, 0x800 + 301, 2, CONTIG_MAP_2M_HUGETLB);
        linear(&l, 513, 511, 0x2001, 2, CONTIG_MAP_2M_THP);
        not_present(&l, 1024, 512, CONTIG_PAGE_ZERO);
        run_case("broken-windows", &l, NULL, &e);
        layout_done(&l);
}

/*
 * A run that crosses from node 0 to node 1 where their host memory is adjacent (the lab's
 * layout: node 0 ends at pfn 0x40000): gfn [0, 1024) from pfn 0x40000 - 300, so gfn 0..299 are
 * on node 0 and 300..1023 on node 1; plus gfn 2000 at pfn 0x99999 whose node the reader could
 * not tell (-1, sorted first).
 *   present 1025; targets 80 % = 820, 90 % = ceil(922.5) = 923, 99 % = ceil(1014.75) = 1015.
 *   runs: 1024 and 1: all targets need 1 run.
 *   anchors: gfn 0 and 512 start entries of 512 (anchor_pages 1024); gfn 2000 is no anchor
 *     (2000 % 512 != 0): one 4 KiB entry. 3 entries; every target needs 2.
 *   offset groups: 0x40000 - 300 (1024 pages), 0x99999 - 2000 (1): 2; every target needs 1.
 *   nodes: -1: 1 page, 1 run; 0: 300 pages, 1 run (the range run cut at the node change);
 *     1: 724 pages, 1 run.
 */
static void case_node_boundary(void) {
        Layout l = {};
        Expect e = {
                .ram = 1025, .present = 1025, .pages_4k = 1025,
                .runs = { 2, 1024, { 1025, 1025, 1025, 1025 }, { 1, 1, 1 } },
                .anchors = { 3, 512, { 1025, 1025, 1025, 1025 }, { 2, 2, 2 } },
                .anchor_pages = 1024,
                .groups = { 2, 1024, { 1025, 1025, 1025, 1025 }, { 1, 1, 1 } },
                .n_nodes = 3,
                .nodes = {
                        { -1, 1, 0, 1, 1, 262144.0 },
                        { 0, 300, 0, 1, 300, 262144.0 / 300 },
                        { 1, 724, 0, 1, 724, 262144.0 / 724 },
                },
        };

        linear(&l, 0, 300, 0x40000 - 300, 0, CONTIG_MAP_4K);
        linear(&l, 300, 724, 0x40000, 1, CONTIG_MAP_4K);
        page(&l, 2000, 0x99999, -1, CONTIG_MAP_4K);
        run_case("node-boundary", &l, NULL, &e);
        layout_done(&l);
}

static void test_errors(void) {
        _cleanup_(contiguity_freep) Contiguity *c = NULL;
        ContigPage good[2] = {
                { .gpa = 0, .pfn = 10, .node = 0, .state = CONTIG_PAGE_PRESENT },
                { .gpa = PG, .pfn = 11, .node = 0, .state = CONTIG_PAGE_PRESENT },
        };
        ContigPage bad;
        ContigPage many[CONTIG_NODES_MAX + 1];
        ContigParams p;
        ContigSummary s;
        Contiguity *untouched = (Contiguity *) 1;

        contig_params_init_default(&p);
        check_int(p.anchor_bytes, 2 << 20);
        check_int(contig_params_validate(&p), 0);
        p.anchor_bytes = 3 * PG;
        check_int(contig_params_validate(&p), -EINVAL);
        check_int(contiguity_new(&p, &untouched), -EINVAL);
        check(untouched == (Contiguity *) 1);
        p.anchor_bytes = 2048;
        check_int(contig_params_validate(&p), -EINVAL);
        p.anchor_bytes = CONTIG_ANCHOR_BYTES_MAX * 2;
        check_int(contig_params_validate(&p), -EINVAL);
        contig_params_init_default(&p);
        p.max_offset_groups = 0;
        check_int(contig_params_validate(&p), -EINVAL);
        check_int(contig_params_validate(NULL), -EINVAL);

        check_str(contig_mapping_to_string(CONTIG_MAP_2M_THP), "2m-thp");
        check_int(contig_mapping_from_string("1g-hugetlb"), CONTIG_MAP_1G_HUGETLB);
        check_int(contig_mapping_from_string("2m"), _CONTIG_MAP_INVALID);
        check(!contig_mapping_to_string(_CONTIG_MAP_MAX));
        check_str(contig_page_state_to_string(CONTIG_PAGE_ZERO), "zero");

        check_int(contiguity_new(NULL, &c), 0);
        check_int(contiguity_add(c, good, 2), 0);

        /* A bad batch changes nothing: the good records after it still extend the run. */
        bad = (ContigPage) { .gpa = PG, .state = CONTIG_PAGE_PRESENT };            /* not ascending */
        check_int(contiguity_add(c, &bad, 1), -EINVAL);
        bad = (ContigPage) { .gpa = 3 * PG + 1, .state = CONTIG_PAGE_PRESENT };    /* unaligned */
        check_int(contiguity_add(c, &bad, 1), -EINVAL);
        bad = (ContigPage) { .gpa = 3 * PG, .state = 7 };
        check_int(contiguity_add(c, &bad, 1), -EINVAL);
        bad = (ContigPage) { .gpa = 3 * PG, .state = CONTIG_PAGE_PRESENT, .mapping = 9 };
        check_int(contiguity_add(c, &bad, 1), -EINVAL);
        bad = (ContigPage) { .gpa = 3 * PG, .state = CONTIG_PAGE_PRESENT, .node = -2 };
        check_int(contiguity_add(c, &bad, 1), -EINVAL);
        /* a batch whose second record is bad leaves its first unapplied too */
        {
                ContigPage two[2] = {
                        { .gpa = 2 * PG, .pfn = 12, .node = 0, .state = CONTIG_PAGE_PRESENT },
                        { .gpa = 2 * PG, .pfn = 13, .node = 0, .state = CONTIG_PAGE_PRESENT },
                };
                check_int(contiguity_add(c, two, 2), -EINVAL);
        }
        /* 65 distinct nodes: node 0 is known, 1..64 are 64 more */
        for (size_t i = 0; i < ELEMENTSOF(many); i++)
                many[i] = (ContigPage) { .gpa = (100 + i) * PG, .pfn = 1000 + 2 * i, .node = (int) i,
                                         .state = CONTIG_PAGE_PRESENT };
        check_int(contiguity_add(c, many, ELEMENTSOF(many)), -E2BIG);
        check_int(contiguity_add(c, many, ELEMENTSOF(many) - 1), 0);   /* nodes 0..63: fits */
        check_int(contiguity_add(c, NULL, 0), 0);
        check_int(contiguity_add(c, NULL, 1), -EINVAL);
        check(contiguity_memory_bytes(c) > 0);

        check_int(contiguity_finish(c, &s), 0);
        check_int(s.present_pages, 2 + CONTIG_NODES_MAX);
        check_int(s.runs.entries, 1 + CONTIG_NODES_MAX);
        check_int(s.runs.largest_pages, 2);
        check_int(s.n_nodes, CONTIG_NODES_MAX);
        check_int(contig_summary_node(&s, 0)->pages, 3);
        check(!contig_summary_node(&s, 64));
        check_int(contiguity_add(c, good, 0), -ESTALE);
        check_int(contiguity_finish(c, &s), -ESTALE);

        /* Nothing at all. */
        check_int(contiguity_compute(NULL, 0, NULL, &s), 0);
        check_int(s.ram_pages, 0);
        check_int(s.runs.entries, 0);
        check_int(s.runs.entries_for[0], 0);
        check_int(s.offset_groups.entries, 0);
        check_int(s.n_nodes, 0);
        check(contiguity_per_gib(5, 0) == 0.0);
        printf("errors: OK\n");
}

int main(void) {
        case_identity();
        case_scattered();
        case_thp_split();
        case_interleaved_2m();
        case_interleaved_4k();
        case_holes();
        case_1g();
        case_broken_windows();
        case_node_boundary();
        test_errors();
        printf("test-contiguity: OK\n");
        return 0;
}
