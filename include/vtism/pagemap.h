/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * /proc/PID/pagemap entries, decoded into the runs of pages written since the last soft-dirty
 * clear (pure: no I/O, no logging). Used by the softdirty tracker, its tests and benches.
 *
 * pagemap holds one native-endian u64 per virtual page, at file offset vaddr / 4096 * 8
 * (Documentation/admin-guide/mm/pagemap.rst, Linux 6.12):
 *
 *   bits 0-54  PFN if present (0 unless the reader has CAP_SYS_ADMIN); swap type and offset
 *              if swapped
 *   bit  55    soft-dirty (CONFIG_MEM_SOFT_DIRTY; always 0 without it)
 *   bit  56    mapped exclusively
 *   bit  57    write-protected by userfaultfd
 *   bit  61    file page or shared anonymous page
 *   bit  62    swapped (or a migration entry, for the moment a page moves)
 *   bit  63    present
 *
 * What the soft-dirty bit means depends on the rest of the entry (fs/proc/task_mmu.c). vtism
 * reads it like this:
 *
 *   present + soft-dirty   written since the clear. A page faulted in since then also counts:
 *                          the kernel marks a new anonymous page dirty, even for a read fault
 *                          that allocates a THP. The zero page mapped by a read stays clean.
 *   swapped + soft-dirty   written since the clear, then swapped out. The swap entry keeps the
 *                          bit, and a migration entry does too.
 *   hole + soft-dirty      nothing is mapped there. The bit comes from the VMA's VM_SOFTDIRTY
 *                          flag: the mapping was created, grew or merged after the last clear,
 *                          and every page of such a VMA reads soft-dirty, written or not.
 *   anything else          clean (not written since the clear), or nothing there.
 *
 * The decoder reports maximal runs of written pages. A run of soft-dirty entries that contains
 * a soft-dirty hole belongs to such a VMA: it is not reported, only counted (vma_dirty_*). The
 * decoder cannot see the VMA's bounds, so a written run right next to it, in another VMA, is
 * dropped with it. A VM_SOFTDIRTY VMA without holes can't be recognised at all. Right after a
 * clear_refs no VMA has the flag, so the counters mean a mapping changed during the period.
 *
 * Huge pages. A PMD-mapped THP has a single soft-dirty bit, in its PMD, and pagemap repeats it
 * in all 512 entries. So a written huge page always reads written as a whole, with no help from
 * us. pagemap has no "PMD-mapped" bit. A THP mapped by PTEs (its PMD mapping split by a partial
 * munmap, mprotect or madvise, or an mTHP) has one bit per PTE, and a write marks only the
 * subpage it hit. Folding such a page into one unit takes its PFNs (CAP_SYS_ADMIN) and
 * /proc/kpageflags. The decoder does it for 2 MiB-aligned blocks that meet three conditions:
 *   - the block's 512 entries are mixed: some written, some clean;
 *   - the block has the shape of one huge page: all present, PFNs consecutive from a 512-aligned
 *     one;
 *   - the caller's is_huge() callback confirms the head PFN is a THP (KPF_THP).
 * The whole block is then reported written (folded_pages). One kpageflags lookup is made per
 * such block, and nothing is done for the common uniform case. Blocks that straddle two feeds are
 * never folded: feed 2 MiB-aligned batches. Without is_huge nothing is folded.
 * smaps' AnonHugePages only says how much of a VMA is PMD-mapped, not where. It also costs a
 * walk of the whole process, so it is of no use here.
 *
 * Cost: one pass over the entries, branch-light. At 8 bytes per 4 KiB page that is 2 MiB of
 * pagemap per GiB of RAM. The kernel's page-table walk behind the read dominates.
 *
 * Errors (sticky: once failed, every later call returns the same error):
 *   -ERANGE   a feed runs past the top of the address space
 *   -EINVAL   start address not 4 KiB aligned
 *   anything the callbacks returned (< 0), which aborts the decode
 */

#define PAGEMAP_PAGE_BYTES UINT64_C(4096)
#define PAGEMAP_HUGE_PAGES 512u                      /* 4 KiB entries per 2 MiB block */
#define PAGEMAP_ENTRY_BYTES 8u

#define PAGEMAP_PFN_MASK ((UINT64_C(1) << 55) - 1)
#define PAGEMAP_SOFT_DIRTY (UINT64_C(1) << 55)
#define PAGEMAP_EXCLUSIVE (UINT64_C(1) << 56)
#define PAGEMAP_UFFD_WP (UINT64_C(1) << 57)
#define PAGEMAP_FILE (UINT64_C(1) << 61)
#define PAGEMAP_SWAPPED (UINT64_C(1) << 62)
#define PAGEMAP_PRESENT (UINT64_C(1) << 63)

typedef enum PagemapState {
        PAGEMAP_HOLE,           /* nothing mapped */
        PAGEMAP_CLEAN,          /* present or swapped, not written since the clear */
        PAGEMAP_WRITTEN,        /* present or swapped, written since the clear */
        PAGEMAP_VMA_DIRTY,      /* hole in a VMA created or changed since the clear */
        _PAGEMAP_STATE_MAX,
} PagemapState;

const char *pagemap_state_to_string(PagemapState s);

/* One entry on its own (no huge-page folding, no VMA context). */
PagemapState pagemap_entry_state(uint64_t entry);
static inline uint64_t pagemap_entry_pfn(uint64_t entry) {
        return entry & PAGEMAP_PRESENT ? entry & PAGEMAP_PFN_MASK : 0;
}

/*
 * Do the 512 entries e[0..511] of a 2 MiB-aligned block look like one huge page? True when all
 * are present, PFNs are visible, start 512-aligned and go up by one per entry. Shape alone is
 * not proof: order-0 pages can come out of the allocator in this order.
 */
bool pagemap_block_huge_shaped(const uint64_t *e);

typedef struct PagemapCounts {
        uint64_t pages;                 /* entries decoded */
        uint64_t present_pages;
        uint64_t swapped_pages;
        uint64_t hole_pages;
        uint64_t written_pages;         /* reported written, folded pages included */
        uint64_t written_swapped_pages; /* of which swapped out */
        uint64_t folded_pages;          /* clean entries reported because their huge page was written */
        uint64_t huge_blocks;           /* 2 MiB blocks shaped like one huge page */
        uint64_t vma_dirty_pages;       /* entries of soft-dirty runs with a hole: not reported */
        uint64_t vma_dirty_runs;
} PagemapCounts;

void pagemap_counts_add(PagemapCounts *sum, const PagemapCounts *c);

/* A run of written pages [hva, hva + len_bytes), called in ascending order. < 0 aborts. */
typedef int (*PagemapRunFunc)(uint64_t hva, uint64_t len_bytes, void *userdata);
/* Is head_pfn the head page of a transparent huge page? 1 yes, 0 no, < 0 error (aborts). */
typedef int (*PagemapHugeFunc)(uint64_t head_pfn, void *userdata);

typedef struct PagemapDecoder {
        uint64_t cur_hva;               /* address of the next entry */
        PagemapHugeFunc is_huge;
        void *huge_userdata;
        /* the open run of soft-dirty entries */
        uint64_t run_start;
        bool in_run;
        bool run_has_hole;
        uint64_t run_swapped_pages, run_folded_pages;
        PagemapCounts counts;
        int error;                      /* sticky */
} PagemapDecoder;

/* start_hva: the address of the first entry fed. is_huge may be NULL (no folding). */
void pagemap_decoder_init(PagemapDecoder *d, uint64_t start_hva, PagemapHugeFunc is_huge, void *huge_userdata);
/* Entries of consecutive pages, continuing where the last feed stopped. */
int pagemap_decoder_feed(PagemapDecoder *d, const uint64_t *entries, size_t n, PagemapRunFunc cb, void *userdata);
/* Report the run still open at the end. */
int pagemap_decoder_finish(PagemapDecoder *d, PagemapRunFunc cb, void *userdata);
static inline uint64_t pagemap_decoder_position(const PagemapDecoder *d) {
        return d->cur_hva;
}
