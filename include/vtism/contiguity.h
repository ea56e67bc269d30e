/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vtism/macro.h"

/*
 * How contiguously a VM's guest RAM is mapped to host-physical memory, pure (no I/O, no logging).
 *
 * Input: one record per 4 KiB guest page, in strictly ascending guest-physical order, in as
 * many batches as wanted: {gpa, host pfn, host node, mapping size, state}. Guest-physical gaps
 * between records (holes between RAM ranges) are not RAM and simply break runs; RAM that is not
 * backed by host memory is fed with state ABSENT. Pages mapped to the kernel's shared zero page
 * (a guest that only ever read them) are state ZERO: they are counted, and excluded from
 * everything else, as they are no memory of the VM. Below, "page" is a 4 KiB guest page,
 * "gfn" = gpa / 4096, and "present" means state PRESENT.
 *
 * What is computed (the definitions follow the page-collect tool of contiguity-aware paging,
 * where that tool's "virtual" is our guest-physical and its "physical" our host-physical):
 *
 *  - Mapping sizes: pages_4k, thp_2m, hugetlb_2m, hugetlb_1g. A huge mapping is counted when
 *    every record of a gpa window aligned to its size (512 or 262144 pages) is present, carries
 *    that mapping, and the pfns are consecutive from a pfn aligned to the same size: only then
 *    can the guest-physical -> host-physical translation use one 2 MiB / 1 GiB entry. Records
 *    marked huge that do not form such a window are counted as 4 KiB and in huge_mismatch_pages
 *    (a 2 MiB host page at a guest address that is not 2 MiB aligned, or a reader error).
 *    Invariant: present_pages = pages_4k + 512 * (thp_2m + hugetlb_2m) + 262144 * hugetlb_1g.
 *
 *  - Range runs (page-collect's "Range TLB", Redundant Memory Mappings): maximal runs of pages
 *    with consecutive gfn and consecutive pfn. Identity-mapped 1 GiB: 1 run of 262144 pages.
 *    1 GiB backed by 512 THPs at random host places: 512 runs of 512 (a few more pages per run
 *    where neighbouring THPs happen to be adjacent in host memory too).
 *
 *  - Anchor entries (page-collect's "Anchor TLB", Hybrid TLB Coalescing) for an anchor size A
 *    (power of two, default 2 MiB = 512 pages): every gfn that is a multiple of A/4096 inside a
 *    range run is an anchor, and one anchor entry covers the pages from the anchor to the next
 *    anchor or the end of the run, whichever is first. The pages of a run before its first
 *    anchor take ordinary entries: one per 2 MiB where a 2 MiB piece, aligned in gfn and pfn,
 *    fits before the anchor (possible only when A > 2 MiB), else one per 4 KiB page. Example,
 *    A = 2 MiB: a run of 1000 pages from gfn 500 gives 12 4 KiB entries (gfn 500..511), one
 *    anchor entry of 512 (gfn 512..1023) and one of 476 (1024..1499): 14 entries, 988 pages
 *    anchor-covered (anchor_pages). Interpretation notes: page-collect treats a run that starts
 *    exactly on an anchor as if it did not (its first anchor is one anchor distance further);
 *    we count that start as an anchor. page-collect can choose A per process with a cost model;
 *    here A is given (vtism.conf / the caller), and page-collect's 2 MiB pieces ignored the
 *    host alignment, which we require.
 *
 *  - Offset groups (page-collect's "SpOT"): all present pages with the same offset
 *    pfn - gfn (mod 2^64), wherever they are in guest RAM, need not be contiguous: a SpOT-style
 *    predictor needs one entry per offset. Identity-mapped: 1 group. Two halves of a VM swapped
 *    in host memory: 2 groups. Distinct offsets are tracked up to max_offset_groups (default
 *    262144); beyond that offset_groups_overflow is set, entries says max_offset_groups + 1
 *    ("more than") and the other offset-group numbers are 0: such a VM is scattered page by
 *    page and no offset predictor would help it.
 *
 *  - Coverage of each kind of entry (runs, anchor entries, offset groups): entries, the largest,
 *    the pages covered by the largest 32 / 64 / 128 / 256 entries, and the number of entries
 *    needed, largest first, to cover 80 / 90 / 99 % of the present pages (the smallest k whose k
 *    largest entries cover at least ceil(p * present / 100) pages). Example: 1000 present pages
 *    in runs of 500, 300, 100 and 100 x 1: 80 % (800 pages) takes 2 runs, 90 % (900) 3 runs,
 *    99 % (990) 93 runs. The denominator is the present pages, not the guest RAM size: never
 *    touched RAM needs no translation.
 *
 *  - Per host node (at most CONTIG_NODES_MAX distinct ones, ascending id; node -1 = unknown):
 *    present pages there, pages there inside counted huge mappings, node runs (range runs cut
 *    where the node changes; a run can cross from one node to the next where their host memory
 *    is adjacent) and the largest. Fragmentation = runs per GiB of the VM's memory on that node
 *    (contiguity_per_gib()): 0.5 for 2 GiB in one run; 512 for THPs scattered 2 MiB-wise;
 *    262144 for pages scattered 4 KiB-wise.
 *
 * Cost: O(1) per record plus one hash update per run; memory (contiguity_memory_bytes()) is
 * ~32 bytes per distinct run length (at most sqrt(2 * present) of them: ~6000 for a 64 GiB VM),
 * per distinct anchor entry length, and per distinct offset (bounded by max_offset_groups: at
 * most 8 MiB by default; ~16 KiB for a THP-backed 64 GiB VM), plus 2 KiB of node counters. No
 * per-page state is kept. A ContigSummary is a plain value (no pointers; ~3 KiB): copy it to
 * keep it.
 */

#define CONTIG_PAGE_BYTES (UINT64_C(1) << 12)
#define CONTIG_PAGES_2M UINT64_C(512)
#define CONTIG_PAGES_1G UINT64_C(262144)
#define CONTIG_NODES_MAX 64u
#define CONTIG_ANCHOR_BYTES_DEFAULT (UINT64_C(2) << 20)
#define CONTIG_ANCHOR_BYTES_MAX (UINT64_C(1) << 40)
#define CONTIG_MAX_OFFSET_GROUPS_DEFAULT UINT64_C(262144)
#define CONTIG_MAX_OFFSET_GROUPS_MAX (UINT64_C(1) << 26)

/* Coverage columns: pages covered by the largest 32, 64, 128, 256 entries ... */
#define CONTIG_TOPS 4u
extern const unsigned contig_top_entries[CONTIG_TOPS];
/* ... and entries needed for 80, 90, 99 % of the present pages. */
#define CONTIG_TARGETS 3u
extern const unsigned contig_target_percent[CONTIG_TARGETS];

typedef enum ContigMapping {
        CONTIG_MAP_4K,           /* a 4 KiB PTE (or unknown) */
        CONTIG_MAP_2M_THP,       /* part of a PMD-mapped transparent huge page */
        CONTIG_MAP_2M_HUGETLB,   /* part of a 2 MiB hugetlbfs page */
        CONTIG_MAP_1G_HUGETLB,   /* part of a 1 GiB hugetlbfs page */
        _CONTIG_MAP_MAX,
        _CONTIG_MAP_INVALID = -22,
} ContigMapping;

typedef enum ContigPageState {
        CONTIG_PAGE_ABSENT,      /* guest RAM not backed (never touched, swapped out, ...) */
        CONTIG_PAGE_PRESENT,
        CONTIG_PAGE_ZERO,        /* mapped to the shared zero page (4 KiB or huge) */
        _CONTIG_PAGE_STATE_MAX,
        _CONTIG_PAGE_STATE_INVALID = -22,
} ContigPageState;

const char *contig_mapping_to_string(ContigMapping m);
ContigMapping contig_mapping_from_string(const char *s);
const char *contig_page_state_to_string(ContigPageState s);

typedef struct ContigPage {
        uint64_t gpa;            /* guest-physical address, 4 KiB aligned */
        uint64_t pfn;            /* host page frame number (PRESENT only) */
        int node;                /* host NUMA node of pfn, -1 unknown (PRESENT only) */
        ContigMapping mapping;   /* PRESENT only; ignored otherwise */
        ContigPageState state;
} ContigPage;

typedef struct ContigParams {
        uint64_t anchor_bytes;         /* power of two, 4 KiB .. CONTIG_ANCHOR_BYTES_MAX */
        uint64_t max_offset_groups;    /* 1 .. CONTIG_MAX_OFFSET_GROUPS_MAX */
} ContigParams;

void contig_params_init_default(ContigParams *p);
/* -EINVAL when a field is out of its range. */
int contig_params_validate(const ContigParams *p);

typedef struct ContigCoverage {
        uint64_t entries;
        uint64_t largest_pages;
        uint64_t top_pages[CONTIG_TOPS];          /* see contig_top_entries */
        uint64_t entries_for[CONTIG_TARGETS];     /* see contig_target_percent; 0 if nothing present */
} ContigCoverage;

typedef struct ContigNode {
        int node;                  /* -1: unknown */
        uint64_t pages;            /* present pages on the node */
        uint64_t huge_pages;       /* of which inside counted 2 MiB / 1 GiB mappings */
        uint64_t runs;
        uint64_t largest_run_pages;
} ContigNode;

typedef struct ContigSummary {
        ContigParams params;
        uint64_t ram_pages;            /* records fed (any state) */
        uint64_t present_pages;
        uint64_t zero_pages;
        uint64_t absent_pages;
        uint64_t pages_4k;             /* present pages not inside a counted huge mapping */
        uint64_t thp_2m;               /* counted mappings, not pages */
        uint64_t hugetlb_2m;
        uint64_t hugetlb_1g;
        uint64_t huge_mismatch_pages;  /* marked huge, counted as 4 KiB (see above) */

        ContigCoverage runs;
        ContigCoverage anchors;
        uint64_t anchor_pages;         /* present pages covered by anchor entries proper */
        ContigCoverage offset_groups;
        bool offset_groups_overflow;

        ContigNode nodes[CONTIG_NODES_MAX];  /* [0, n_nodes), ascending node id */
        size_t n_nodes;
} ContigSummary;

/* Node entry of the summary, NULL if the VM has no present page there. */
const ContigNode *contig_summary_node(const ContigSummary *s, int node);
/* runs per GiB of `pages` 4 KiB pages (0 when pages is 0). */
double contiguity_per_gib(uint64_t runs, uint64_t pages);

typedef struct Contiguity Contiguity;

/* params NULL = defaults. -EINVAL for bad params. */
int contiguity_new(const ContigParams *params, Contiguity **ret);
Contiguity *contiguity_free(Contiguity *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Contiguity *, contiguity_free);

/*
 * Feed n records. The whole batch is checked first and nothing is applied if it fails:
 * -EINVAL for a gpa that is not 4 KiB aligned or not above the previous record's (in this batch
 * or an earlier one), an unknown state or mapping, or a node below -1; -E2BIG when the batch
 * brings the number of distinct nodes above CONTIG_NODES_MAX; -ESTALE after contiguity_finish().
 */
int contiguity_add(Contiguity *c, const ContigPage *pages, size_t n);
/* Close the last runs and windows and compute the summary; once (-ESTALE the second time). */
int contiguity_finish(Contiguity *c, ContigSummary *ret);
/* Bytes the accumulator holds now. */
uint64_t contiguity_memory_bytes(const Contiguity *c);

/* All of it for one array of records (same errors). */
int contiguity_compute(const ContigPage *pages, size_t n, const ContigParams *params, ContigSummary *ret);
