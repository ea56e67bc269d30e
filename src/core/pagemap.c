/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>

#include "vtism/macro.h"
#include "vtism/pagemap.h"

#define HUGE_BYTES (PAGEMAP_PAGE_BYTES * PAGEMAP_HUGE_PAGES)

static const char *const pagemap_state_names[_PAGEMAP_STATE_MAX] = {
        [PAGEMAP_HOLE] = "hole",
        [PAGEMAP_CLEAN] = "clean",
        [PAGEMAP_WRITTEN] = "written",
        [PAGEMAP_VMA_DIRTY] = "vma-dirty",
};
assert_cc(ELEMENTSOF(pagemap_state_names) == _PAGEMAP_STATE_MAX);

const char *pagemap_state_to_string(PagemapState s) {
        if ((unsigned) s >= _PAGEMAP_STATE_MAX)
                return NULL;
        return pagemap_state_names[s];
}

PagemapState pagemap_entry_state(uint64_t entry) {
        bool sd = entry & PAGEMAP_SOFT_DIRTY;

        if (entry & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED))
                return sd ? PAGEMAP_WRITTEN : PAGEMAP_CLEAN;
        return sd ? PAGEMAP_VMA_DIRTY : PAGEMAP_HOLE;
}

bool pagemap_block_huge_shaped(const uint64_t *e) {
        uint64_t pfn0;

        if (!(e[0] & PAGEMAP_PRESENT))
                return false;
        pfn0 = e[0] & PAGEMAP_PFN_MASK;
        if (pfn0 == 0 || pfn0 % PAGEMAP_HUGE_PAGES != 0)
                return false;
        for (unsigned i = 1; i < PAGEMAP_HUGE_PAGES; i++)
                if (!(e[i] & PAGEMAP_PRESENT) || (e[i] & PAGEMAP_PFN_MASK) != pfn0 + i)
                        return false;
        return true;
}

void pagemap_counts_add(PagemapCounts *sum, const PagemapCounts *c) {
        sum->pages += c->pages;
        sum->present_pages += c->present_pages;
        sum->swapped_pages += c->swapped_pages;
        sum->hole_pages += c->hole_pages;
        sum->written_pages += c->written_pages;
        sum->written_swapped_pages += c->written_swapped_pages;
        sum->folded_pages += c->folded_pages;
        sum->huge_blocks += c->huge_blocks;
        sum->vma_dirty_pages += c->vma_dirty_pages;
        sum->vma_dirty_runs += c->vma_dirty_runs;
}

void pagemap_decoder_init(PagemapDecoder *d, uint64_t start_hva, PagemapHugeFunc is_huge, void *huge_userdata) {
        *d = (PagemapDecoder) {
                .cur_hva = start_hva,
                .is_huge = is_huge,
                .huge_userdata = huge_userdata,
                .error = start_hva % PAGEMAP_PAGE_BYTES ? -EINVAL : 0,
        };
}

static int run_close(PagemapDecoder *d, PagemapRunFunc cb, void *userdata) {
        uint64_t len = d->cur_hva - d->run_start;
        int r = 0;

        if (!d->in_run)
                return 0;
        if (d->run_has_hole) {
                d->counts.vma_dirty_pages += len / PAGEMAP_PAGE_BYTES;
                d->counts.vma_dirty_runs++;
        } else {
                d->counts.written_pages += len / PAGEMAP_PAGE_BYTES;
                d->counts.written_swapped_pages += d->run_swapped_pages;
                d->counts.folded_pages += d->run_folded_pages;
                if (cb)
                        r = cb(d->run_start, len, userdata);
        }
        d->in_run = false;
        d->run_has_hole = false;
        d->run_swapped_pages = d->run_folded_pages = 0;
        return r;
}

/* Should the block e[0..511] be reported as a whole? < 0 on a callback error. */
static int block_fold(PagemapDecoder *d, const uint64_t *e) {
        unsigned written = 0;

        if (!pagemap_block_huge_shaped(e))
                return 0;
        d->counts.huge_blocks++;
        if (!d->is_huge)
                return 0;
        for (unsigned i = 0; i < PAGEMAP_HUGE_PAGES; i++)
                written += !!(e[i] & PAGEMAP_SOFT_DIRTY);
        if (written == 0 || written == PAGEMAP_HUGE_PAGES)
                return 0; /* uniform: nothing to fold (a PMD mapping always is) */
        return d->is_huge(e[0] & PAGEMAP_PFN_MASK, d->huge_userdata);
}

int pagemap_decoder_feed(PagemapDecoder *d, const uint64_t *entries, size_t n, PagemapRunFunc cb, void *userdata) {
        size_t fold_until = 0; /* entries [i, fold_until) belong to a block reported as a whole */
        int r;

        if (d->error < 0)
                return d->error;
        if (n == 0)
                return 0;
        /* The last entry's page must end below 2^64 (which also keeps run ends representable). */
        if ((uint64_t) (n - 1) >= (UINT64_MAX - d->cur_hva) / PAGEMAP_PAGE_BYTES)
                return (d->error = -ERANGE);

        for (size_t i = 0; i < n; i++) {
                uint64_t e = entries[i];
                PagemapState s;

                if (d->cur_hva % HUGE_BYTES == 0 && n - i >= PAGEMAP_HUGE_PAGES) {
                        r = block_fold(d, entries + i);
                        if (r < 0)
                                return (d->error = r);
                        if (r > 0)
                                fold_until = i + PAGEMAP_HUGE_PAGES;
                }

                s = pagemap_entry_state(e);
                d->counts.pages++;
                if (e & PAGEMAP_PRESENT)
                        d->counts.present_pages++;
                else if (e & PAGEMAP_SWAPPED)
                        d->counts.swapped_pages++;
                else
                        d->counts.hole_pages++;
                if (s == PAGEMAP_CLEAN && i < fold_until) {
                        s = PAGEMAP_WRITTEN;
                        d->run_folded_pages++;
                }

                if (s == PAGEMAP_WRITTEN || s == PAGEMAP_VMA_DIRTY) {
                        if (!d->in_run) {
                                d->in_run = true;
                                d->run_start = d->cur_hva;
                        }
                        if (s == PAGEMAP_VMA_DIRTY)
                                d->run_has_hole = true;
                        else if (!(e & PAGEMAP_PRESENT))
                                d->run_swapped_pages++;
                } else {
                        r = run_close(d, cb, userdata);
                        if (r < 0)
                                return (d->error = r);
                }
                d->cur_hva += PAGEMAP_PAGE_BYTES;
        }
        return 0; /* a run still open continues into the next feed */
}

int pagemap_decoder_finish(PagemapDecoder *d, PagemapRunFunc cb, void *userdata) {
        int r;

        if (d->error < 0)
                return d->error;
        r = run_close(d, cb, userdata);
        if (r < 0)
                return (d->error = r);
        return 0;
}
