/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pagemap decoder (src/core/pagemap.c) on fixture entries: the state of single entries
 * (present, swapped, holes, with and without soft-dirty), the runs of written pages, runs open
 * across feeds, soft-dirty runs holding a hole (a VMA created after the clear), huge pages
 * (PMD-mapped: uniform; PTE-mapped: folded only when the block is huge-shaped and confirmed)
 * and the errors.
 */

#include <string.h>

#include "check.h"
#include "vtism/macro.h"
#include "vtism/pagemap.h"

#define P PAGEMAP_PRESENT
#define S PAGEMAP_SWAPPED
#define SD PAGEMAP_SOFT_DIRTY
#define BASE UINT64_C(0x7f0000000000) /* 2 MiB aligned */
#define PG PAGEMAP_PAGE_BYTES

typedef struct Runs {
        uint64_t hva[2048], len[2048];
        size_t n;
        int fail_at;        /* return -EIO on this run (1-based), 0: never */
} Runs;

static int on_run(uint64_t hva, uint64_t len, void *userdata) {
        Runs *r = userdata;

        check(r->n < ELEMENTSOF(r->hva));
        if (r->n > 0)
                check(hva > r->hva[r->n - 1] + r->len[r->n - 1]); /* ascending, maximal */
        r->hva[r->n] = hva;
        r->len[r->n] = len;
        r->n++;
        return r->fail_at > 0 && (int) r->n == r->fail_at ? -EIO : 0;
}

typedef struct Huge {
        int answer;
        unsigned calls;
        uint64_t last_pfn;
} Huge;

static int is_huge(uint64_t pfn, void *userdata) {
        Huge *h = userdata;

        h->calls++;
        h->last_pfn = pfn;
        return h->answer;
}

static void test_entry_states(void) {
        static const struct {
                uint64_t e;
                PagemapState want;
        } table[] = {
                { 0, PAGEMAP_HOLE },
                { SD, PAGEMAP_VMA_DIRTY },
                { P | 0x1234, PAGEMAP_CLEAN },
                { P | SD | 0x1234, PAGEMAP_WRITTEN },
                { P | PAGEMAP_EXCLUSIVE | SD, PAGEMAP_WRITTEN },  /* no PFN (unprivileged reader) */
                { P | PAGEMAP_FILE, PAGEMAP_CLEAN },
                { S | 0x3e0, PAGEMAP_CLEAN },                     /* swap type/offset in the low bits */
                { S | SD | 0x3e0, PAGEMAP_WRITTEN },
                { PAGEMAP_UFFD_WP, PAGEMAP_HOLE },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                if (pagemap_entry_state(table[i].e) != table[i].want) {
                        fprintf(stderr, "entry %zu (0x%016llx): %s, expected %s\n", i, (unsigned long long) table[i].e,
                                pagemap_state_to_string(pagemap_entry_state(table[i].e)),
                                pagemap_state_to_string(table[i].want));
                        exit(EXIT_FAILURE);
                }
        }
        check_u64(pagemap_entry_pfn(P | SD | 0x1234), 0x1234);
        check_u64(pagemap_entry_pfn(S | 0x1234), 0);
        check_str(pagemap_state_to_string(PAGEMAP_VMA_DIRTY), "vma-dirty");
        check(!pagemap_state_to_string(_PAGEMAP_STATE_MAX));
}

/* Decode e[0..n) at BASE in feeds of `step` entries (0: one feed). */
static int decode(const uint64_t *e, size_t n, size_t step, Huge *huge, Runs *runs, PagemapCounts *counts) {
        PagemapDecoder d;
        int r = 0;

        *runs = (Runs) { .fail_at = runs->fail_at };
        pagemap_decoder_init(&d, BASE, huge ? is_huge : NULL, huge);
        if (step == 0)
                step = n;
        for (size_t i = 0; i < n && r >= 0; i += step)
                r = pagemap_decoder_feed(&d, e + i, MIN(step, n - i), on_run, runs);
        if (r >= 0)
                r = pagemap_decoder_finish(&d, on_run, runs);
        if (r >= 0)
                check_u64(pagemap_decoder_position(&d), BASE + n * PG);
        *counts = d.counts;
        return r;
}

static void test_runs(void) {
        /* pages: W W C W H Ws W W | C ... ; the last run is open at the end */
        uint64_t e[] = {
                P | SD | 1, P | SD | 2, P | 3, P | SD | 4, 0, S | SD | 0x55, P | SD | 7, P | SD,
                P | 9, S | 0x66, 0, 0, P | SD | 13, P | SD | 14,
        };
        static const size_t steps[] = { 0, 1, 2, 3, 5, 7 };
        Runs runs = {};
        PagemapCounts c;

        for (size_t k = 0; k < ELEMENTSOF(steps); k++) {
                check_int(decode(e, ELEMENTSOF(e), steps[k], NULL, &runs, &c), 0);
                check_int(runs.n, 4);
                check_u64(runs.hva[0], BASE);
                check_u64(runs.len[0], 2 * PG);
                check_u64(runs.hva[1], BASE + 3 * PG);
                check_u64(runs.len[1], PG);
                check_u64(runs.hva[2], BASE + 5 * PG);
                check_u64(runs.len[2], 3 * PG);
                check_u64(runs.hva[3], BASE + 12 * PG);
                check_u64(runs.len[3], 2 * PG);
                check_u64(c.pages, ELEMENTSOF(e));
                check_u64(c.present_pages, 9);
                check_u64(c.swapped_pages, 2);
                check_u64(c.hole_pages, 3);
                check_u64(c.written_pages, 8);
                check_u64(c.written_swapped_pages, 1);
                check_u64(c.vma_dirty_pages, 0);
                check_u64(c.folded_pages, 0);
        }

        /* Nothing written, an empty feed, only holes. */
        {
                uint64_t clean[] = { P | 1, 0, S | 2, P };
                check_int(decode(clean, ELEMENTSOF(clean), 0, NULL, &runs, &c), 0);
                check_int(runs.n, 0);
                check_u64(c.written_pages, 0);
                check_int(decode(clean, 0, 0, NULL, &runs, &c), 0);
                check_int(runs.n, 0);
                check_u64(c.pages, 0);
        }
}

static void test_vma_dirty(void) {
        /*
         * A written run, a clean page, then a VMA mapped after the clear: every entry soft-dirty,
         * holes included (pages 3..9), then clean again and a lone soft-dirty hole.
         */
        uint64_t e[] = { P | SD, P | SD, P, P | SD, SD, SD, P | SD, S | SD, SD, P | SD, P, SD, 0, P | SD };
        Runs runs = {};
        PagemapCounts c;

        for (size_t step = 0; step < 5; step++) {
                check_int(decode(e, ELEMENTSOF(e), step, NULL, &runs, &c), 0);
                check_int(runs.n, 2);
                check_u64(runs.hva[0], BASE);
                check_u64(runs.len[0], 2 * PG);
                check_u64(runs.hva[1], BASE + 13 * PG);
                check_u64(runs.len[1], PG);
                check_u64(c.written_pages, 3);
                check_u64(c.written_swapped_pages, 0); /* the swapped one was in the dropped run */
                check_u64(c.vma_dirty_pages, 7 + 1);
                check_u64(c.vma_dirty_runs, 2);
        }
}

static uint64_t block[3 * PAGEMAP_HUGE_PAGES];

/* Three 2 MiB blocks: [0] PMD-mapped THP, written (uniform); [1] a PTE-mapped THP with 3
 * written subpages; [2] 4 KiB pages with scattered PFNs, 3 written. */
static void build_blocks(void) {
        for (unsigned i = 0; i < PAGEMAP_HUGE_PAGES; i++) {
                block[i] = P | SD | PAGEMAP_EXCLUSIVE | (0x40000 + i);
                block[PAGEMAP_HUGE_PAGES + i] = P | PAGEMAP_EXCLUSIVE | (0x80000 + i);
                block[2 * PAGEMAP_HUGE_PAGES + i] = P | PAGEMAP_EXCLUSIVE | (0x90000 + i * 7);
        }
        for (unsigned k = 0; k < 3; k++) {
                block[PAGEMAP_HUGE_PAGES + 100 + k * 50] |= SD;
                block[2 * PAGEMAP_HUGE_PAGES + 100 + k * 50] |= SD;
        }
}

static void test_huge(void) {
        Runs runs = {};
        Huge huge = {};
        PagemapCounts c;

        build_blocks();

        /* No folding without a confirmation callback: PMD-mapped block whole, the rest page-exact. */
        check_int(decode(block, ELEMENTSOF(block), 0, NULL, &runs, &c), 0);
        check_int(runs.n, 1 + 3 + 3);
        check_u64(runs.hva[0], BASE);
        check_u64(runs.len[0], 2 * MIB);
        check_u64(runs.hva[1], BASE + 2 * MIB + 100 * PG);
        check_u64(runs.len[1], PG);
        check_u64(c.huge_blocks, 2);
        check_u64(c.folded_pages, 0);
        check_u64(c.written_pages, 512 + 6);

        /* Confirmed THP: the PTE-mapped one is reported whole; one lookup, for its head. */
        huge.answer = 1;
        check_int(decode(block, ELEMENTSOF(block), 0, &huge, &runs, &c), 0);
        check_int(huge.calls, 1);
        check_u64(huge.last_pfn, 0x80000);
        check_int(runs.n, 1 + 3);
        check_u64(runs.hva[0], BASE);
        check_u64(runs.len[0], 4 * MIB); /* the two huge pages merge into one run */
        check_u64(runs.hva[1], BASE + 4 * MIB + 100 * PG);
        check_u64(c.folded_pages, 512 - 3);
        check_u64(c.written_pages, 1024 + 3);

        /* Not a THP (kpageflags says so): page-exact. */
        huge = (Huge) { .answer = 0 };
        check_int(decode(block, ELEMENTSOF(block), 0, &huge, &runs, &c), 0);
        check_int(huge.calls, 1);
        check_int(runs.n, 1 + 3 + 3);
        check_u64(c.folded_pages, 0);

        /* Feeds that cut the blocks: no block lies within one feed, nothing is looked up. */
        huge = (Huge) { .answer = 1 };
        check_int(decode(block, ELEMENTSOF(block), 300, &huge, &runs, &c), 0);
        check_int(huge.calls, 0);
        check_int(runs.n, 1 + 3 + 3);
        /* Aligned feeds of one block each fold as one feed does. */
        check_int(decode(block, ELEMENTSOF(block), PAGEMAP_HUGE_PAGES, &huge, &runs, &c), 0);
        check_int(huge.calls, 1);
        check_int(runs.n, 1 + 3);

        /* Without PFNs (no CAP_SYS_ADMIN) nothing looks huge. */
        {
                uint64_t copy[ELEMENTSOF(block)];

                for (size_t i = 0; i < ELEMENTSOF(block); i++)
                        copy[i] = block[i] & ~PAGEMAP_PFN_MASK;
                huge = (Huge) { .answer = 1 };
                check_int(decode(copy, ELEMENTSOF(copy), 0, &huge, &runs, &c), 0);
                check_int(huge.calls, 0);
                check_u64(c.huge_blocks, 0);
                check_int(runs.n, 1 + 3 + 3); /* the PMD-mapped block still whole */
        }

        /* Shapes: a hole, a PFN out of line, an unaligned head. */
        check(pagemap_block_huge_shaped(block));
        block[PAGEMAP_HUGE_PAGES + 7] = 0;
        check(!pagemap_block_huge_shaped(block + PAGEMAP_HUGE_PAGES));
        block[PAGEMAP_HUGE_PAGES + 7] = P | (0x80000 + 8);
        check(!pagemap_block_huge_shaped(block + PAGEMAP_HUGE_PAGES));
        check(!pagemap_block_huge_shaped(block + 1));
        check(!pagemap_block_huge_shaped(block + 2 * PAGEMAP_HUGE_PAGES));
}

static void test_errors(void) {
        uint64_t e[] = { P | SD, P, P | SD, P, P | SD };
        PagemapDecoder d;
        Runs runs = {};
        Huge huge = { .answer = -EPERM };
        PagemapCounts c;

        /* A callback error aborts and sticks. */
        runs.fail_at = 2;
        pagemap_decoder_init(&d, BASE, NULL, NULL);
        check_int(pagemap_decoder_feed(&d, e, ELEMENTSOF(e), on_run, &runs), -EIO);
        check_int(runs.n, 2);
        check_int(pagemap_decoder_feed(&d, e, ELEMENTSOF(e), on_run, &runs), -EIO);
        check_int(pagemap_decoder_finish(&d, on_run, &runs), -EIO);
        runs.fail_at = 0;

        /* The kpageflags lookup failing aborts too. */
        build_blocks();
        check_int(decode(block, ELEMENTSOF(block), 0, &huge, &runs, &c), -EPERM);

        /* Unaligned start; running past the top of the address space. */
        pagemap_decoder_init(&d, BASE + 1, NULL, NULL);
        check_int(pagemap_decoder_feed(&d, e, 1, on_run, &runs), -EINVAL);
        pagemap_decoder_init(&d, UINT64_MAX - 2 * PG + 1, NULL, NULL); /* two pages below the top */
        check_int(pagemap_decoder_feed(&d, e, 1, on_run, &runs), 0);
        check_int(pagemap_decoder_feed(&d, e, 1, on_run, &runs), -ERANGE);
        pagemap_decoder_init(&d, UINT64_MAX - 2 * PG + 1, NULL, NULL);
        check_int(pagemap_decoder_feed(&d, e, 2, on_run, &runs), -ERANGE);
}

static void test_counts_add(void) {
        PagemapCounts a = { .pages = 1, .written_pages = 2, .vma_dirty_runs = 3, .huge_blocks = 4 }, b = a;

        pagemap_counts_add(&a, &b);
        check_u64(a.pages, 2);
        check_u64(a.written_pages, 4);
        check_u64(a.vma_dirty_runs, 6);
        check_u64(a.huge_blocks, 8);
}

int main(void) {
        test_entry_states();
        test_runs();
        test_vma_dirty();
        test_huge();
        test_errors();
        test_counts_add();
        printf("test-pagemap: OK\n");
        return EXIT_SUCCESS;
}
