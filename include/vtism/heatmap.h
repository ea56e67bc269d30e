/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vtism/macro.h"

/*
 * Per-VM heat of guest RAM, pure (no I/O, no logging).
 *
 * A HeatMap covers the VM's guest RAM ranges {gpa, hva, len}. Each range is cut into granules of
 * 4 KiB (default) or 2 MiB (e.g. hugetlbfs-backed RAM); every granule has one uint8_t heat.
 *
 * Heat model, once per sampling cycle, for every granule (integer arithmetic, rounding down):
 *
 *     heat' = min(255, heat * (100 - decay_percent) / 100 + (accessed ? HEATMAP_ACCESS_WEIGHT : 0))
 *
 * "accessed" = at least one sample in this cycle overlapped the granule. With the defaults
 * (decay_percent 12, weight 32) the continuous fixed point 32 * 100 / 12 ≈ 267 lies above 255, so:
 *   - a granule accessed every cycle climbs 0, 32, 60, 84, 105, 124, 141, ... and sits at 255 from
 *     cycle 28 on (≥ 128 = hot from cycle 6);
 *   - accessed every 2nd cycle: settles to alternating 134 / 117 (hot right after an access);
 *   - accessed every 4th cycle: settles to 76, 66, 58, 51 (warm);
 *   - never accessed again: 255 drops to 0 in 32 cycles (×0.88 per cycle, half-life ~5.4 cycles);
 *     a single access (32) is forgotten after 16 cycles.
 * In general a granule accessed in a fraction f of cycles averages about min(255, 32·f·100/decay).
 * Rounding down guarantees that every granule reaches 0 when no longer accessed (for decay ≥ 1).
 *
 * Classes: cold = heat ≤ cold_max (default 0: not seen for a long while), hot = heat ≥ hot_min
 * (default 128: accessed in about half of the recent cycles or more), warm = in between.
 * Buckets for histograms: HEATMAP_BUCKETS buckets of 32 heat values each (bucket = heat / 32).
 *
 * Cycle protocol (every granule is visited exactly once per cycle; no per-page "accessed" bit):
 *     heatmap_cycle_begin(h);
 *     heatmap_sample_hva(h, hva, len) / heatmap_sample_gpa(...)     for each accessed run
 *     heatmap_cycle_end(h);
 * Samples of one cycle must come in ascending address order within each RAM range (trackers scan
 * upwards: idle_pages reads, page_idle bitmaps and DAMON regions all are); overlapping or repeated
 * samples are harmless. A sample reaching back below what was already swept in this cycle is
 * clipped there, and the clipped bytes are counted in stats.out_of_order_bytes (those granules
 * already got their update as accessed or idle). Samples outside every range are counted in
 * stats.unmatched_bytes. heatmap_apply_cycle() does all three steps for runs in any order.
 * The sweep is cache-friendly and O(granules) per cycle, like aging itself.
 *
 * How the sweep computes it (the result is exactly the formula above; test-heatmap-model runs a
 * plain reference of this model against it on random streams for every decay 0..100): samples
 * mark the granules of the 2 MiB block they fall in, in a 512-byte "accessed" buffer (0xff or 0);
 * when the samples leave a block it is aged in one vectorised pass, 16 granules per SSE2 step:
 * heat * (100 - decay) / 100 is computed as (heat * keep * 20972) >> 21, equal to it for every
 * heat 0..255 and keep 0..100 (20972 / 2^21 exceeds 1/100 by 2.4e-7, so for heat * keep ≤ 25500
 * the product exceeds the exact quotient by less than 0.0061, while the quotient's fraction is at
 * most 0.99: the floor is the same; the test checks all 256 × 101 pairs), then a saturating add
 * of (buffer & 32). A piece of a block whose bytes are all equal and whose pages
 * are all accessed or all idle (THP-backed memory, never-touched RAM) costs one byte's update and
 * a memset. The same pass counts, per histogram window, the granules at or above each bucket edge
 * and class threshold: histograms are cached per cycle (see below).
 * Cost per 4 KiB page and cycle, decode + sweep + histograms, measured by bench/heatmap-bench
 * (bench/README.md has the machine and all patterns): 0.6 ns and 9.5 instructions at 10 %
 * scattered accesses, 1.1 ns and 17 instructions at 50 %, 0.1 ns and 1.3 instructions THP-backed
 * (before: 6.8 ns / 40, 10.6 ns / 78, 1.3 ns / 16). Inside a cycle the heat bytes of the block
 * being sampled are aged only when the samples leave it (or a residency call or the cycle's end
 * comes): read heat between cycles.
 *
 * Residency: for each histogram range (see below) pages per host NUMA node, counted from
 * move_pages(2) query results (status per page = node, or -errno when not present). They are
 * fed in ascending order per histogram range, in as many batches (and cycles) as wanted; the
 * counters of a histogram range are published when a sweep reaches its end, so readers always see
 * the result of one complete pass. A batch counts in the pass when it starts the window (at its
 * first RAM page) or continues it where it stands (holes in guest RAM may lie between); a batch
 * anywhere else — a block queried out of turn for the planner — leaves the pass alone and only
 * updates the block placement below. heatmap_residency_moved() adjusts the counters after
 * migrations. No per-page node is stored.
 *
 * Block placement, what the planner knows of where pages are (plan.h says why this and not a node
 * byte per page): per 2 MiB block of HVA (2 MiB aligned; a range that does not start or end on
 * 2 MiB has partial blocks at its edges), two bytes:
 *   UNKNOWN          never queried (the start), or a node no slot could name;
 *   ABSENT           the last query found no page present (and none was accessed since);
 *   NODE(n)          every present page is on node n, and whether every page was present when
 *                    last seen (if not, a page never touched may be absent);
 *   MIXED(n, c)      pages on n and elsewhere, and every present page NOT on n has heat ≤ c (the
 *                    "ceiling"): pages hotter than c are on n. n is the node of the hottest page
 *                    when the block was last queried, so the hot pages are the well-known ones;
 * plus a HUGE mark (the block is one transparent huge page: move it whole), set by
 * heatmap_mark_huge() from what trackers saw (idle_pages PMD records, kpageflags THP) or what the
 * migrator learned, and cleared when a query or a move shows the block is not one folio.
 * Kept true by:
 *   - heatmap_residency_update(): a batch covering a whole block sets it exactly (n = node of the
 *     hottest present page, c = the hottest page elsewhere); a partial one merges without
 *     claiming more than it saw (NODE(n) and a page seen elsewhere → MIXED(n, that page's heat));
 *   - heatmap_residency_moved(h, hva, n, from, to): pages now on `to` (from == to: "found already
 *     there", which tightens c without changing counters; to = -1: gone). Consecutive reports on
 *     one block with the same `to` are kept (one 64-byte page set per map) and applied as one set
 *     when another block, another `to`, a query, a THP mark or a cycle comes, or read as such
 *     meanwhile: pages promoted one call each still teach the block what they teach together.
 *     Of the true statements after a move the one with the lower ceiling is kept: the block's
 *     node with what is known elsewhere (raised by pages that left it; lowered, for pages that
 *     came to it, to the hottest page at or below c not in the set) or `to`, with the hottest
 *     page not in the set; a whole block → NODE(to), all present; nothing left at or below c →
 *     NODE(n);
 *   - every cycle's sweep: the ceiling decays like idle pages do, and rises to the new heat of any
 *     accessed page that was at or below it (cost: one compare per accessed granule of a MIXED
 *     block, one table lookup per block); pages faulted in (accessed while at heat 0) may be
 *     anywhere: an ABSENT block becomes UNKNOWN, a NODE(n) block not known to be all present
 *     becomes MIXED(n, their heat).
 * So in the steady state of a scattered 4 KiB hot set (hot pages on DRAM, cold ones on CXL, the
 * blocks MIXED(dram, c) with c the heat of the warmest CXL page), every hot page is known to be on
 * DRAM without a query, every cycle, for as long as the CXL pages stay cooler than it. What the
 * kernel moves or faults in behind vtism's back (reclaim, NUMA balancing) is seen at the next
 * residency query of that block. Residency calls belong between cycles; inside one, a ceiling they
 * compute is set to 255 (always true).
 *
 * Histograms are per guest-physical "histogram range": the aligned GPA window
 * [k * hist_range_bytes, (k + 1) * hist_range_bytes) (default 1 GiB, a power of two ≥ 2 MiB);
 * only windows containing RAM exist. Counted by each cycle's sweep and cached at its end, so a
 * query costs O(buckets), not a scan: heatmap_histogram() and heatmap_histogram_total() between
 * cycles return what the last heatmap_cycle_end() counted; heatmap_set_params() with new
 * thresholds recounts at once (one scan of the heat bytes; inside a cycle at its end, when the
 * bytes of that cycle are all aged); a query inside a cycle scans the window's bytes as they are
 * (some aged this cycle, some not yet).
 *
 * Memory (x86-64; heatmap_memory() reports it by part, bench/heatmap-bench --memory measures it):
 *   heat          1 byte per granule (1 per 4 KiB page; 1 per 2 MiB for 2 MiB granules);
 *   placement     the 2 bytes per 2 MiB block above, stored by chunks of 256 blocks (512 MiB,
 *                 src/core/block-store.h): 8 bytes per chunk while its blocks all hold one state
 *                 (0.00006 bytes per 4 KiB page: never queried, first touch, untouched RAM, THP
 *                 runs), else 8 + 2 per block + malloc's 16: 0.0040 bytes per page where
 *                 neighbours differ (a scattered 4 KiB hot set: every block MIXED with its own
 *                 ceiling; THP pages tiered by 2 MiB; the worst case, alternating nodes, is this);
 *   windows       per histogram window 64 bytes plus 2 x (highest node seen + 2) x 4 bytes of
 *                 residency counters (24 with nodes 0 and 1): 88 bytes per 1 GiB, 0.00034/page;
 *   ranges, map   144 bytes per RAM range, 960 bytes per map (parameters, 62 node slots, the
 *                 512-granule accessed buffer, the pending move set).
 * Bytes per 4 KiB page after a residency pass (first touch / THP tiered 25 % in 1 GiB runs /
 * scattered or worst case): 64 GiB (q35 layout) 1.00044 / 1.00047 / 1.00438; 1 TiB in 8 ranges
 * 1.00037 / 1.00040 / 1.00431; 4 GiB 1.00156 / 1.00159 / 1.00549; 1 GiB 1.00458 / 1.00851
 * (the 960 + 144 bytes are 0.0042 of it). Below 1.0005 needs neighbouring blocks alike and
 * ~64 GiB or more: a MIXED block's ceiling is a byte the planner's exact answers need per block
 * (0.0019 bytes per page alone), and the fixed part is 0.0012 bytes per page of a 4 GiB VM.
 */

#define HEATMAP_ACCESS_WEIGHT 32u
#define HEATMAP_HEAT_MAX 255u
#define HEATMAP_BUCKETS 8u
#define HEATMAP_BUCKET_WIDTH (256u / HEATMAP_BUCKETS)
#define HEATMAP_NODES_MAX 128u  /* host nodes 0..127 for residency; larger ids count as other */

#define HEATMAP_DECAY_PERCENT_DEFAULT 12u
#define HEATMAP_HOT_MIN_DEFAULT 128u
#define HEATMAP_COLD_MAX_DEFAULT 0u
#define HEATMAP_HIST_RANGE_BYTES_DEFAULT (UINT64_C(1) << 30)
#define HEATMAP_GRANULE_4K (UINT64_C(1) << 12)
#define HEATMAP_GRANULE_2M (UINT64_C(1) << 21)
#define HEATMAP_BLOCK_BYTES (UINT64_C(1) << 21)     /* placement is kept per 2 MiB block of HVA */
#define HEATMAP_BLOCK_PAGES 512u
#define HEATMAP_BLOCK_NODES_MAX 62u                 /* distinct nodes one map can name in blocks */

typedef struct HeatParams {
        unsigned decay_percent;    /* 0..100 */
        unsigned hot_min;          /* heat ≥ hot_min is hot; 1..255 */
        unsigned cold_max;         /* heat ≤ cold_max is cold; < hot_min */
        uint64_t hist_range_bytes; /* power of two, ≥ 2 MiB */
} HeatParams;

void heat_params_init_default(HeatParams *p);
int heat_params_validate(const HeatParams *p);

typedef enum HeatClass {
        HEAT_COLD,
        HEAT_WARM,
        HEAT_HOT,
        _HEAT_CLASS_MAX,
} HeatClass;

const char *heat_class_to_string(HeatClass c);
HeatClass heat_params_classify(const HeatParams *p, uint8_t heat);

/* Input: one RAM range of the VM. gpa, hva and len must be multiples of the granule. */
typedef struct HeatRangeSpec {
        uint64_t gpa;
        uint64_t hva;
        uint64_t len_bytes;
        uint64_t granule_bytes;    /* HEATMAP_GRANULE_4K (or 0 for it) or HEATMAP_GRANULE_2M */
} HeatRangeSpec;

typedef struct HeatHistogram {
        uint64_t gpa;                           /* start of the window (or of the VM: 0) */
        uint64_t ram_bytes;                     /* RAM inside */
        uint64_t pages[HEATMAP_BUCKETS];        /* 4 KiB pages per heat bucket */
        uint64_t class_bytes[_HEAT_CLASS_MAX];  /* cold, warm, hot */
        /* residency of the last complete pass, in 4 KiB pages */
        uint64_t node_pages[HEATMAP_NODES_MAX];
        uint64_t other_node_pages;              /* node ≥ HEATMAP_NODES_MAX */
        uint64_t absent_pages;                  /* not present / not queried (-ENOENT, -EFAULT, ...) */
        bool residency_known;                   /* at least one complete pass */
} HeatHistogram;

typedef struct HeatStats {
        uint64_t cycles;
        uint64_t sampled_bytes;        /* accepted sample bytes, summed over cycles */
        uint64_t unmatched_bytes;      /* samples outside guest RAM */
        uint64_t out_of_order_bytes;   /* samples below the sweep position */
} HeatStats;

typedef struct HeatMap HeatMap;

/*
 * Ranges may come in any order; they must not overlap in GPA or in HVA. -EINVAL for a bad range
 * or params, -ERANGE for overflowing ones, -EEXIST for overlaps.
 */
int heatmap_new(const HeatRangeSpec *ranges, size_t n, const HeatParams *params, HeatMap **ret);
HeatMap *heatmap_free(HeatMap *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(HeatMap *, heatmap_free);

const HeatParams *heatmap_params(const HeatMap *h);
/* Thresholds and decay can change at any time (config reload); hist_range_bytes cannot. */
int heatmap_set_params(HeatMap *h, const HeatParams *p);
const HeatStats *heatmap_stats(const HeatMap *h);
uint64_t heatmap_ram_bytes(const HeatMap *h);
/* Bytes the heat and residency state take (see "Memory" above), in all and by part. */
uint64_t heatmap_memory_bytes(const HeatMap *h);
typedef struct HeatMemory {
        uint64_t heat_bytes;            /* one per granule */
        uint64_t block_bytes;           /* block placement (uniform chunks and arrays) */
        uint64_t block_arrays;          /* chunks of 256 blocks held as arrays (each one allocation) */
        uint64_t window_bytes;          /* histogram windows */
        uint64_t residency_bytes;       /* their residency counters, pending and published */
        uint64_t range_bytes;           /* per RAM range */
        uint64_t map_bytes;             /* the map itself: parameters, node slots, sampling buffers */
} HeatMemory;
void heatmap_memory(const HeatMap *h, HeatMemory *ret);

/* The ranges, sorted by GPA; heat of granule i of range r is heat[i]. */
size_t heatmap_n_ranges(const HeatMap *h);
int heatmap_range(const HeatMap *h, size_t index, HeatRangeSpec *ret_spec, const uint8_t **ret_heat, size_t *ret_n_granules);

/* --- sampling --- */
void heatmap_cycle_begin(HeatMap *h);
/* -ESTALE outside a cycle. Length 0 is a no-op. */
int heatmap_sample_hva(HeatMap *h, uint64_t hva, uint64_t len_bytes);
int heatmap_sample_gpa(HeatMap *h, uint64_t gpa, uint64_t len_bytes);
/* -ESTALE outside a cycle. */
int heatmap_cycle_end(HeatMap *h);

/*
 * One read() of /proc/PID/idle_pages (vtism/idle-pages-format.h) from file position hva: its
 * accessed pages inside [clip_start, clip_start + clip_len) are samples, exactly as if the buffer
 * were decoded with idle_pages_decoder_feed()/_finish() and every accessed run, clipped, went
 * into heatmap_sample_hva(). In addition, the pages its idle and hole records cover count as
 * swept: a later sample below the end of the last record is out of order. Feed the reads of a
 * range in ascending order, each from where the previous one stopped, as the tracker reads them.
 * With HEATMAP_STREAM_MARK_HUGE the mappings seen mark the 2 MiB blocks (heatmap_mark_huge()): a
 * PMD-mapped run (accessed or idle) marks the whole blocks it covers huge, a run of 4 KiB
 * page-table entries (accessed, idle, or a PTE table all idle) unmarks every block it touches.
 *
 * The fast path decodes straight into the heat bytes (see "How the sweep computes it"): a read
 * of page records only, at or above clip_start, whose clip ends inside the RAM range holding hva
 * (4 KiB granules, page-aligned, in order). A SET_HVA, a malformed stream, 2 MiB granules or a
 * clip across ranges take the decoder and heatmap_sample_hva(), with the same result.
 * ret_accessed_bytes (may be NULL): accessed bytes inside the clip. Errors: -ESTALE outside a
 * cycle, and the decoder's (-EBADMSG, -ERANGE, -ENODATA; the samples before the bad record
 * count, as with the decoder).
 */
#define HEATMAP_STREAM_MARK_HUGE 1u
int heatmap_sample_idle_pages(HeatMap *h, uint64_t hva, const void *buf, size_t size, uint64_t clip_start, uint64_t clip_len,
                              unsigned flags, uint64_t *ret_accessed_bytes);

typedef struct HeatSample {
        uint64_t hva;
        uint64_t len_bytes;
} HeatSample;
/* One whole cycle from accessed HVA runs in any order (sorted on a copy). */
int heatmap_apply_cycle(HeatMap *h, const HeatSample *samples, size_t n);

/* --- queries --- */
/* -ENOENT if the address is not guest RAM. */
int heatmap_heat_gpa(const HeatMap *h, uint64_t gpa, uint8_t *ret);
int heatmap_heat_hva(const HeatMap *h, uint64_t hva, uint8_t *ret);
int heatmap_gpa_to_hva(const HeatMap *h, uint64_t gpa, uint64_t *ret_hva);
int heatmap_hva_to_gpa(const HeatMap *h, uint64_t hva, uint64_t *ret_gpa);

/* Histogram windows containing RAM, ascending GPA. */
size_t heatmap_n_histograms(const HeatMap *h);
int heatmap_histogram(const HeatMap *h, size_t index, HeatHistogram *ret);
/* The whole VM (gpa = 0). */
void heatmap_histogram_total(const HeatMap *h, HeatHistogram *ret);

/* --- residency --- */
/*
 * status[i] is the move_pages(2) query result for the 4 KiB page at hva + i * 4096: a node id
 * (≥ 0) or -errno. Feed each histogram window's pages in ascending order; batches may span
 * windows and RAM ranges but must lie within one RAM range. -ENOENT if outside guest RAM.
 */
int heatmap_residency_update(HeatMap *h, uint64_t hva, const int *status, size_t n_pages);
/*
 * After migrating n_pages at hva from node `from` to node `to` (either may be -1 = absent).
 * from == to: the pages were found on that node (a query-first move that had nothing to do):
 * counters stay, block placement learns it.
 */
int heatmap_residency_moved(HeatMap *h, uint64_t hva, size_t n_pages, int from, int to);
/* The histogram window's residency only (pages[] and class_bytes[] stay 0): O(nodes), no scan. */
int heatmap_residency(const HeatMap *h, size_t index, HeatHistogram *ret);
/* Changes whenever a window's published residency does (a pass completes, a move is counted):
 * what depends only on residency needs no recomputing while it stays. */
uint64_t heatmap_residency_generation(const HeatMap *h);

/* --- block placement (see "Block placement" above) --- */
typedef enum HeatBlockKind {
        HEAT_BLOCK_UNKNOWN,
        HEAT_BLOCK_ABSENT,
        HEAT_BLOCK_NODE,
        HEAT_BLOCK_MIXED,
        _HEAT_BLOCK_KIND_MAX,
} HeatBlockKind;

typedef struct HeatBlock {
        uint64_t hva;           /* first byte of the block inside its range */
        uint64_t n_pages;       /* 4 KiB pages of the range in the block (512 but at range edges) */
        HeatBlockKind kind;
        int node;               /* NODE, MIXED: the node; else -1 */
        uint8_t ceiling;        /* MIXED: pages not on node have heat ≤ this; else 0 */
        bool all_present;       /* NODE: every page was present when last seen (queried or moved) */
        bool huge;              /* one transparent huge page: plan and move it whole */
} HeatBlock;

/* Blocks of range `index` (heatmap_range() order); 0 for a bad index. */
size_t heatmap_range_n_blocks(const HeatMap *h, size_t index);
/* -ENOENT for a bad range or block index. */
int heatmap_range_block(const HeatMap *h, size_t index, size_t block, HeatBlock *ret);
/* The block holding hva; -ENOENT if hva is not guest RAM. */
int heatmap_block_hva(const HeatMap *h, uint64_t hva, HeatBlock *ret);
/*
 * Mark (or unmark) the whole 2 MiB blocks inside [hva, hva + len) as mapped by one transparent
 * huge page each; partial blocks are left as they are (a range edge cannot be one THP of ours).
 * -ENOENT if the span touches no guest RAM.
 */
int heatmap_mark_huge(HeatMap *h, uint64_t hva, uint64_t len_bytes, bool huge);
