/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The page_idle tracker: /sys/kernel/mm/page_idle/bitmap + /proc/PID/pagemap + /proc/kpageflags
 * (kernels built with CONFIG_IDLE_PAGE_TRACKING; needs CAP_SYS_ADMIN for PFNs and the bitmap).
 *
 * prepare_access_checks (or, before any period ran, check_accesses): for every
 * guest RAM page, pagemap gives the PFN of present pages; the
 * idle bit is set for each page's "unit" (see below) with pwrite()s of 64-page bitmap words,
 * the words sorted, deduplicated and written in runs.
 * check_accesses: pagemap is read again (pages may have been faulted in, migrated or swapped
 * meanwhile), the bitmap words of the units are read in runs; a present page is accessed when
 * the idle bit of its unit got cleared. Reading the bitmap is what harvests the young bits: the
 * kernel walks the rmap of each idle folio and test-and-clears the PTE/PMD young bits, through
 * the mmu-notifier aging hooks also KVM's secondary MMU (NPT/EPT accessed bits).
 *
 * Units: page_idle tracks a folio as a whole through its head page; for the PFN of a tail page
 * the kernel ignores writes and reads "not idle". So every present page is folded to the head
 * PFN of its folio, found with /proc/kpageflags (COMPOUND_HEAD/COMPOUND_TAIL): folios are
 * naturally aligned, so the head of a tail page is the first of pfn & ~(2^k - 1), k = 1, 2, ...
 * that is a head (for a PMD-mapped THP, pfn & ~511); a tail page following the previous page's
 * PFN belongs to the previous page's folio (the common case, no search). A THP is thus reported
 * accessed or idle as a whole 2 MiB. hugetlbfs pages are not on the LRU and cannot be tracked
 * by page_idle: they are reported accessed (nothing demotes what cannot be seen).
 * Swapped and not-present pages are never accessed. A 2 MiB-aligned block whose 512 pages all
 * fold to one unit is one transparent huge page: check_accesses marks it huge in the heat map
 * (heatmap_mark_huge(): the planner moves it whole), and unmarks a block with present pages of
 * other units.
 *
 * In the manager's cycle the tracker runs as sample_step (tracker.h): check and prepare fused per
 * chunk (one pagemap read for both), in steps the manager bounds in time, so that a 64 GiB guest
 * (1,024 chunks; about 9 s of a cycle on a loaded machine when done in one go) never blocks the
 * event loop; target_add() reads nothing of the guest's memory.
 *
 * Work is done in chunks of CHUNK_PAGES pages (64 MiB of guest RAM): per chunk one pread of
 * pagemap (8 bytes per page), preads of kpageflags per run of nearby PFNs (bridging gaps of up
 * to FLAGS_GAP_MAX entries: 512 bytes of flags cost less than a syscall), and one
 * pread/pwrite per run of bitmap words (runs bridge gaps of up to WORD_GAP_MAX words: a zero
 * word written changes nothing, a word read needlessly costs the kernel 64 PFN lookups). The
 * cost is dominated by the kernel: an rmap walk per idle folio on each bitmap read.
 */

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vtism/log.h"
#include "vtism/tracker.h"
#include "vtism/util.h"

#define PAGE_BYTES 4096u
#define PAGEMAP_PRESENT (UINT64_C(1) << 63)
#define PAGEMAP_SWAPPED (UINT64_C(1) << 62)
#define PAGEMAP_PFN_MASK ((UINT64_C(1) << 55) - 1)

#define KPF_COMPOUND_HEAD 15
#define KPF_COMPOUND_TAIL 16
#define KPF_HUGE 17
#define KPF_THP 22

#define FOLIO_ORDER_SEARCH_MAX 10u  /* heads searched up to 2^10 pages (a 2 MiB THP is order 9) */
#define CHUNK_PAGES 16384u          /* 64 MiB of address space per pass */
#define WORD_GAP_MAX 4u
#define FLAGS_GAP_MAX 64u           /* kpageflags entries read needlessly to save a pread */
#define UNIT_NONE UINT64_MAX        /* not present: never accessed */
#define UNIT_UNTRACKABLE (UINT64_MAX - 1) /* hugetlb: always accessed */

typedef struct PfnRef {
        uint64_t pfn;
        uint64_t flags;
        uint32_t page;   /* index in the chunk */
        uint32_t ref;    /* index in Scan.refs */
} PfnRef;

typedef struct Word {
        uint64_t index;  /* pfn / 64 */
        uint64_t mask;   /* the bits of the chunk's units in it */
        uint64_t bits;   /* after read_idle_words(): the bitmap's word (1 = still idle) */
} Word;

/* The fast path's state, carried across the chunks of one range. */
typedef struct ScanCarry {
        uint64_t prev_pfn, prev_unit;
        bool have_prev;
} ScanCarry;

/* Per-chunk buffers, reused across chunks (and, for the sliced pass, across targets). */
typedef struct Scan {
        uint64_t *pagemap;
        uint64_t *unit;
        PfnRef *refs;           /* present pages in address order ... */
        PfnRef *by_pfn;         /* ... and sorted by PFN */
        size_t n_refs;
        Word *words;
        size_t n_words;
        uint64_t *flags_buf;    /* kpageflags reads, CHUNK_PAGES entries */
        ScanCarry carry;
} Scan;

typedef struct PageIdle {
        int bitmap_fd;
        int kpageflags_fd;
        Scan step_scan;         /* the sliced passes' buffers (one pass steps at a time) */
} PageIdle;

/* A sliced pass (page_idle_sample_step()) in flight: where it stands. */
typedef struct PassCursor {
        bool active;
        size_t range;
        uint64_t hva;
        ScanCarry carry;
} PassCursor;

typedef struct PageIdleTarget {
        int pagemap_fd;
        bool primed;            /* a period runs: the units were marked idle at least once */
        PassCursor cursor;
} PageIdleTarget;

static void scan_done(Scan *s) {
        free(s->pagemap);
        free(s->unit);
        free(s->refs);
        free(s->by_pfn);
        free(s->words);
        free(s->flags_buf);
        *s = (Scan) {};
}

static void scan_init(Scan *s) {
        *s = (Scan) {
                .pagemap = xcalloc(CHUNK_PAGES, sizeof(uint64_t)),
                .unit = xcalloc(CHUNK_PAGES, sizeof(uint64_t)),
                .refs = xcalloc(CHUNK_PAGES, sizeof(PfnRef)),
                .by_pfn = xcalloc(CHUNK_PAGES, sizeof(PfnRef)),
                .words = xcalloc(CHUNK_PAGES, sizeof(Word)),
                .flags_buf = xcalloc(CHUNK_PAGES, sizeof(uint64_t)),
        };
}

static int pwrite_full(int fd, const void *buf, size_t size, uint64_t offset) {
        size_t done = 0;

        while (done < size) {
                ssize_t n = pwrite(fd, (const uint8_t *) buf + done, size - done, (off_t) (offset + done));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        return -EIO;
                done += (size_t) n;
        }
        return 0;
}

static int cmp_ref_pfn(const void *a, const void *b) {
        const PfnRef *x = a, *y = b;
        return x->pfn < y->pfn ? -1 : x->pfn > y->pfn;
}

static int cmp_word(const void *a, const void *b) {
        const Word *x = a, *y = b;
        return x->index < y->index ? -1 : x->index > y->index;
}

static int kpageflags_one(PageIdle *p, uint64_t pfn, uint64_t *ret) {
        size_t done;
        int r;

        r = pread_full(p->kpageflags_fd, ret, sizeof(uint64_t), pfn * sizeof(uint64_t), &done);
        if (r < 0)
                return r;
        if (done < sizeof(uint64_t))
                *ret = 0; /* beyond the end: no flags */
        return 0;
}

/* Flags of pfn: from the chunk's refs (sorted by pfn) if there, else one pread. */
static int lookup_flags(PageIdle *p, const Scan *s, uint64_t pfn, uint64_t *ret) {
        size_t lo = 0, hi = s->n_refs;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (s->by_pfn[mid].pfn < pfn)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo < s->n_refs && s->by_pfn[lo].pfn == pfn) {
                *ret = s->by_pfn[lo].flags;
                return 0;
        }
        return kpageflags_one(p, pfn, ret);
}

static uint64_t flag(uint64_t flags, unsigned bit) {
        return (flags >> bit) & 1;
}

/*
 * Read pagemap and kpageflags for the chunk and compute the unit of every page.
 * Sorting: the present pages are collected in address order (refs); a copy sorted by PFN (by_pfn)
 * groups the kpageflags reads into runs and answers the head searches. Guest RAM is mostly
 * mapped in ascending PFN runs (THPs, fresh 4 KiB pages), so the copy is usually sorted already
 * and not sorted again (one pass to tell); only a scattered chunk pays for a qsort.
 */
static int scan_chunk(PageIdle *p, PageIdleTarget *pt, Scan *s, uint64_t hva, size_t n_pages) {
        size_t got, prev_page = SIZE_MAX;
        bool sorted = true;
        int r;

        r = pread_full(pt->pagemap_fd, s->pagemap, n_pages * sizeof(uint64_t),
                       hva / PAGE_BYTES * sizeof(uint64_t), &got);
        if (r < 0)
                return r;
        if (got < n_pages * sizeof(uint64_t))
                return -ENODATA; /* the pagemap of an exited process reads empty: no idle VM */

        /* Present PFNs in address order; flags read per run of nearby PFNs. */
        s->n_refs = 0;
        for (size_t i = 0; i < n_pages; i++) {
                uint64_t e = s->pagemap[i], pfn = e & PAGEMAP_PFN_MASK;

                s->unit[i] = UNIT_NONE;
                if (!(e & PAGEMAP_PRESENT) || !pfn)
                        continue;
                sorted = sorted && (s->n_refs == 0 || s->refs[s->n_refs - 1].pfn <= pfn);
                s->refs[s->n_refs] = (PfnRef) { .pfn = pfn, .page = (uint32_t) i, .ref = (uint32_t) s->n_refs };
                s->n_refs++;
        }
        memcpy(s->by_pfn, s->refs, s->n_refs * sizeof(PfnRef));
        if (!sorted)
                qsort(s->by_pfn, s->n_refs, sizeof(PfnRef), cmp_ref_pfn);
        for (size_t i = 0; i < s->n_refs;) {
                size_t j = i + 1, n, done;

                /* a run: PFNs at most FLAGS_GAP_MAX apart, at most CHUNK_PAGES entries (equal PFNs,
                 * e.g. the zero page, share flags) */
                while (j < s->n_refs && s->by_pfn[j].pfn - s->by_pfn[j - 1].pfn <= FLAGS_GAP_MAX + 1 &&
                       s->by_pfn[j].pfn - s->by_pfn[i].pfn < CHUNK_PAGES)
                        j++;
                n = (size_t) (s->by_pfn[j - 1].pfn - s->by_pfn[i].pfn + 1);
                r = pread_full(p->kpageflags_fd, s->flags_buf, n * sizeof(uint64_t), s->by_pfn[i].pfn * sizeof(uint64_t), &done);
                if (r < 0)
                        return r;
                for (size_t k = i; k < j; k++) {
                        s->by_pfn[k].flags = s->flags_buf[s->by_pfn[k].pfn - s->by_pfn[i].pfn];
                        s->refs[s->by_pfn[k].ref].flags = s->by_pfn[k].flags;
                }
                i = j;
        }

        /* Units, in address order. */
        for (size_t i = 0; i < s->n_refs; i++) {
                const PfnRef *ref = s->refs + i;
                uint64_t pfn = ref->pfn, fl = ref->flags, unit = pfn;
                /* prev_page starts at SIZE_MAX: page 0 continues the previous chunk */
                bool contiguous = s->carry.have_prev && ref->page == prev_page + 1 && pfn == s->carry.prev_pfn + 1;

                if (flag(fl, KPF_HUGE) && !flag(fl, KPF_THP))
                        unit = UNIT_UNTRACKABLE;
                else if (flag(fl, KPF_COMPOUND_TAIL)) {
                        if (contiguous)
                                unit = s->carry.prev_unit;
                        else {
                                unit = pfn; /* no head found: its own bit (reads "not idle") */
                                for (unsigned k = 1; k <= FOLIO_ORDER_SEARCH_MAX; k++) {
                                        uint64_t cand = pfn & ~((UINT64_C(1) << k) - 1), cf;

                                        if (cand == pfn)
                                                continue;
                                        r = lookup_flags(p, s, cand, &cf);
                                        if (r < 0)
                                                return r;
                                        if (flag(cf, KPF_COMPOUND_HEAD)) {
                                                unit = cand;
                                                break;
                                        }
                                }
                        }
                }

                s->unit[ref->page] = unit;
                s->carry.prev_pfn = pfn;
                s->carry.prev_unit = unit;
                s->carry.have_prev = true;
                prev_page = ref->page;
        }
        /* The fast path must not bridge a hole: remember whether the chunk ends present. */
        if (n_pages > 0 && s->unit[n_pages - 1] == UNIT_NONE)
                s->carry.have_prev = false;
        return 0;
}

/* Distinct bitmap words of the chunk's trackable units, sorted, mask = the units' bits (sorted
 * only if the units do not ascend already, as they do for PFN-ordered memory). */
static void collect_words(Scan *s, size_t n_pages) {
        bool sorted = true;

        s->n_words = 0;
        for (size_t i = 0; i < n_pages; i++) {
                uint64_t u = s->unit[i];

                if (u == UNIT_NONE || u == UNIT_UNTRACKABLE)
                        continue;
                if (i > 0 && s->unit[i - 1] == u)
                        continue; /* same folio as the previous page */
                sorted = sorted && (s->n_words == 0 || s->words[s->n_words - 1].index <= u / 64);
                s->words[s->n_words++] = (Word) { .index = u / 64, .mask = UINT64_C(1) << (u % 64) };
        }
        if (!sorted)
                qsort(s->words, s->n_words, sizeof(Word), cmp_word);

        size_t n = 0;
        for (size_t i = 0; i < s->n_words; i++) {
                if (n > 0 && s->words[n - 1].index == s->words[i].index)
                        s->words[n - 1].mask |= s->words[i].mask;
                else
                        s->words[n++] = s->words[i];
        }
        s->n_words = n;
}

/* Runs of words [i, j) whose gaps are at most WORD_GAP_MAX. */
static size_t word_run_end(const Scan *s, size_t i) {
        size_t j = i + 1;

        while (j < s->n_words && s->words[j].index - s->words[j - 1].index <= WORD_GAP_MAX + 1)
                j++;
        return j;
}

static int write_idle_words(PageIdle *p, Scan *s) {
        for (size_t i = 0; i < s->n_words;) {
                size_t j = word_run_end(s, i);
                uint64_t first = s->words[i].index, n = s->words[j - 1].index - first + 1;
                _cleanup_free_ uint64_t *buf = xcalloc(n, sizeof(uint64_t));
                int r;

                for (size_t k = i; k < j; k++)
                        buf[s->words[k].index - first] = s->words[k].mask;
                r = pwrite_full(p->bitmap_fd, buf, n * sizeof(uint64_t), first * sizeof(uint64_t));
                if (r < 0)
                        return r;
                i = j;
        }
        return 0;
}

/* Replace each word's bits by what the bitmap says now (1 = still idle). */
static int read_idle_words(PageIdle *p, Scan *s) {
        for (size_t i = 0; i < s->n_words;) {
                size_t j = word_run_end(s, i), done;
                uint64_t first = s->words[i].index, n = s->words[j - 1].index - first + 1;
                _cleanup_free_ uint64_t *buf = xcalloc(n, sizeof(uint64_t));
                int r;

                r = pread_full(p->bitmap_fd, buf, n * sizeof(uint64_t), first * sizeof(uint64_t), &done);
                if (r < 0)
                        return r;
                for (size_t k = i; k < j; k++)
                        s->words[k].bits = buf[s->words[k].index - first];
                i = j;
        }
        return 0;
}

static bool unit_idle(const Scan *s, uint64_t u) {
        size_t lo = 0, hi = s->n_words;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (s->words[mid].index < u / 64)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo >= s->n_words || s->words[lo].index != u / 64)
                return false;
        return (s->words[lo].bits >> (u % 64)) & 1;
}

static int open_pagemap(Tracker *t, TrackerTarget *target, PageIdleTarget *pt) {
        _cleanup_free_ char *path = NULL;
        int fd;

        if (pt->pagemap_fd >= 0)
                return 0;
        path = xasprintf("%s/%d/pagemap", t->ctx.proc_root, (int) target->pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        /* A missing file means a gone process only if /proc says so (proc-pid.h): off the normal
         * path, ask. A running process without it cannot be followed (-ENOENT), not dropped. */
        if (fd < 0)
                return errno == ENOENT ? (tracker_target_alive(&t->ctx, target) ? -ENOENT : -ESRCH) : negative_errno();
        pt->pagemap_fd = fd;
        return 0;
}

typedef enum Pass {
        PASS_PREPARE,            /* mark the units idle: a period starts */
        PASS_CHECK,              /* read which units were accessed during the period */
        PASS_CHECK_PREPARE,      /* both, per chunk: one pagemap read serves the two */
} Pass;

/* THP marks for the whole 2 MiB blocks of a chunk (units computed by scan_chunk()). */
static void mark_huge_blocks(HeatMap *heat, const Scan *s, uint64_t hva, size_t n_pages) {
        const uint64_t block = 512 * (uint64_t) PAGE_BYTES;

        for (uint64_t b = (hva + block - 1) & ~(block - 1); b + block <= hva + (uint64_t) n_pages * PAGE_BYTES; b += block) {
                size_t first = (size_t) ((b - hva) / PAGE_BYTES);
                uint64_t u = s->unit[first];
                bool one = u != UNIT_NONE && u != UNIT_UNTRACKABLE, present = u != UNIT_NONE;

                for (size_t i = first + 1; i < first + 512; i++) {
                        one = one && s->unit[i] == u;
                        present = present || s->unit[i] != UNIT_NONE;
                }
                if (present)
                        (void) heatmap_mark_huge(heat, b, block, one);
        }
}

/* The accessed pages of a checked chunk into the heat map, as runs. */
static int sample_chunk(HeatMap *heat, const Scan *s, uint64_t hva, size_t n_pages) {
        uint64_t run_start = 0;
        bool in_run = false;
        int r;

        for (size_t i = 0; i <= n_pages; i++) {
                bool accessed = false;

                if (i < n_pages) {
                        uint64_t u = s->unit[i];
                        accessed = u == UNIT_UNTRACKABLE || (u != UNIT_NONE && !unit_idle(s, u));
                }
                if (accessed && !in_run) {
                        run_start = hva + (uint64_t) i * PAGE_BYTES;
                        in_run = true;
                } else if (!accessed && in_run) {
                        r = heatmap_sample_hva(heat, run_start, hva + (uint64_t) i * PAGE_BYTES - run_start);
                        if (r < 0)
                                return r;
                        in_run = false;
                }
        }
        return 0;
}

/* One chunk of a pass. Errors of the kernel files come back as they are (see pass_failed()). */
static int run_chunk(PageIdle *p, PageIdleTarget *pt, Scan *s, Pass pass, HeatMap *heat, uint64_t hva, size_t n_pages) {
        int r;

        r = scan_chunk(p, pt, s, hva, n_pages);
        if (r < 0)
                return r;
        collect_words(s, n_pages);
        if (pass != PASS_PREPARE) {
                r = read_idle_words(p, s);
                if (r < 0)
                        return r;
                mark_huge_blocks(heat, s, hva, n_pages);
                r = sample_chunk(heat, s, hva, n_pages);
                if (r < 0)
                        return r;
        }
        if (pass != PASS_CHECK)
                return write_idle_words(p, s);
        return 0;
}

/* A pass failed with r: a vanished process shows as an empty pagemap or an error: tell which (off
 * the normal path, the only place this tracker checks liveness). */
static int pass_failed(Tracker *t, TrackerTarget *target, int r) {
        PageIdleTarget *pt = target->data;

        if (!tracker_target_alive(&t->ctx, target))
                return -ESRCH;
        if (r == -EBADF || r == -EIO || r == -ENODATA) {
                if (pt->pagemap_fd >= 0)
                        (void) close(pt->pagemap_fd);
                pt->pagemap_fd = -EBADF; /* reopened next time */
        }
        return r;
}

static size_t chunk_pages(const HeatRangeSpec *range, uint64_t hva) {
        return (size_t) MIN((uint64_t) CHUNK_PAGES, (range->hva + range->len_bytes - hva) / PAGE_BYTES);
}

/* A whole pass at once (check_accesses(), prepare_access_checks()). */
static int run_pass(Tracker *t, TrackerTarget *target, Pass pass, HeatMap *heat) {
        PageIdle *p = t->data;
        PageIdleTarget *pt = target->data;
        _cleanup_(scan_done) Scan s = {};
        int r;

        r = open_pagemap(t, target, pt);
        if (r < 0)
                return r;

        scan_init(&s);
        for (size_t ri = 0; ri < target->n_ranges; ri++) {
                const HeatRangeSpec *range = target->ranges + ri;

                s.carry.have_prev = false;
                for (uint64_t hva = range->hva; hva < range->hva + range->len_bytes; hva += (uint64_t) CHUNK_PAGES * PAGE_BYTES) {
                        r = run_chunk(p, pt, &s, pass, heat, hva, chunk_pages(range, hva));
                        if (r == -ESTALE)
                                return r; /* the heat map's (outside a cycle), not the kernel's */
                        if (r < 0)
                                return pass_failed(t, target, r);
                }
        }
        if (pass != PASS_CHECK)
                pt->primed = true;
        return 0;
}

static int page_idle_probe(const TrackerContext *ctx, char **ret_reason) {
        _cleanup_free_ char *bitmap = xasprintf("%s/kernel/mm/page_idle/bitmap", ctx->sysfs_root);
        _cleanup_free_ char *pagemap = xasprintf("%s/self/pagemap", ctx->proc_root);
        _cleanup_free_ char *kpageflags = xasprintf("%s/kpageflags", ctx->proc_root);
        _cleanup_close_ int fd = -EBADF, bfd = -EBADF;
        static volatile uint64_t probe_page = 1; /* touched: present in our pagemap */
        uint64_t entry = 0;
        size_t done;
        int r;

        if (access(bitmap, F_OK) < 0) {
                *ret_reason = xstrdup("kernel lacks /sys/kernel/mm/page_idle (CONFIG_IDLE_PAGE_TRACKING)");
                return -EOPNOTSUPP;
        }
        bfd = open(bitmap, O_RDWR | O_CLOEXEC);
        if (bfd < 0) {
                r = negative_errno();
                *ret_reason = xasprintf("cannot open %s for writing: %s", bitmap, strerror(-r));
                return r;
        }
        fd = open(pagemap, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                r = negative_errno();
                *ret_reason = xasprintf("cannot open %s: %s", pagemap, strerror(-r));
                return r;
        }
        probe_page++;
        r = pread_full(fd, &entry, sizeof(entry), (uint64_t) (uintptr_t) &probe_page / PAGE_BYTES * sizeof(uint64_t), &done);
        if (r < 0 || done < sizeof(entry)) {
                *ret_reason = xasprintf("cannot read %s", pagemap);
                return r < 0 ? r : -EIO;
        }
        if (!(entry & PAGEMAP_PRESENT) || !(entry & PAGEMAP_PFN_MASK)) {
                *ret_reason = xstrdup("/proc/PID/pagemap shows no page frame numbers (needs CAP_SYS_ADMIN)");
                return -EPERM;
        }
        if (access(kpageflags, R_OK) < 0) {
                r = negative_errno();
                *ret_reason = xasprintf("cannot read %s (needed to fold huge pages): %s", kpageflags, strerror(-r));
                return r;
        }
        return 0;
}

static int page_idle_init(Tracker *t) {
        _cleanup_free_ char *bitmap = xasprintf("%s/kernel/mm/page_idle/bitmap", t->ctx.sysfs_root);
        _cleanup_free_ char *kpageflags = xasprintf("%s/kpageflags", t->ctx.proc_root);
        _cleanup_close_ int bfd = -EBADF, kfd = -EBADF;
        PageIdle *p;

        bfd = open(bitmap, O_RDWR | O_CLOEXEC);
        if (bfd < 0)
                return log_debug_errno(negative_errno(), "page_idle: cannot open %s: %m", bitmap);
        kfd = open(kpageflags, O_RDONLY | O_CLOEXEC);
        if (kfd < 0)
                return log_debug_errno(negative_errno(), "page_idle: cannot open %s: %m", kpageflags);

        p = xcalloc(1, sizeof(PageIdle));
        p->bitmap_fd = TAKE_FD(bfd);
        p->kpageflags_fd = TAKE_FD(kfd);
        t->data = p;
        return 0;
}

static void page_idle_cleanup(Tracker *t) {
        PageIdle *p = t->data;

        if (!p)
                return;
        (void) close(p->bitmap_fd);
        (void) close(p->kpageflags_fd);
        scan_done(&p->step_scan);
        free(p);
        t->data = NULL;
}

static int page_idle_target_add(Tracker *t, TrackerTarget *target) {
        PageIdleTarget *pt;
        int r;

        pt = xcalloc(1, sizeof(PageIdleTarget));
        pt->pagemap_fd = -EBADF;
        target->data = pt;
        /* No pass here (a large target's takes seconds): the first one starts the first period,
         * from prepare_access_checks() or the first sample_step() pass. The pagemap opens now so
         * that a target this tracker cannot read is told at once. */
        r = open_pagemap(t, target, pt);
        if (r < 0) {
                free(pt);
                target->data = NULL;
                return log_debug_errno(r, "page_idle: pid %d: cannot open its pagemap: %m", (int) target->pid);
        }
        return 0;
}

static void page_idle_target_remove(Tracker *t, TrackerTarget *target) {
        PageIdleTarget *pt = target->data;

        if (!pt)
                return;
        if (pt->pagemap_fd >= 0)
                (void) close(pt->pagemap_fd);
        free(pt);
        target->data = NULL;
}

static int page_idle_prepare(Tracker *t, TrackerTarget *target) {
        int r = run_pass(t, target, PASS_PREPARE, NULL);
        if (r < 0)
                log_debug_errno(r, "page_idle: marking pid %d idle failed: %m", (int) target->pid);
        return r;
}

static int page_idle_check(Tracker *t, TrackerTarget *target, HeatMap *heat) {
        PageIdleTarget *pt = target->data;
        /* No period started yet (target_add() marks nothing): start one, nothing to report. */
        int r = run_pass(t, target, pt->primed ? PASS_CHECK : PASS_PREPARE, heat);
        if (r < 0)
                log_debug_errno(r, "page_idle: checking pid %d failed: %m", (int) target->pid);
        return r;
}

/*
 * The cycle's pass in steps (TrackerOps.sample_step): per chunk, the units are read (the period
 * ends) and marked idle again at once (the next one starts), from one pagemap read: the period of
 * every page is then one cycle long, wherever it lies in a large guest. A step ends after the
 * chunk that passes the deadline; a 64 MiB chunk costs a few ms (a pagemap read of 128 KiB, the
 * kpageflags runs, the bitmap words), so steps overrun their deadline by about that.
 */
static int page_idle_sample_step(Tracker *t, TrackerTarget *target, HeatMap *heat, usec_t deadline_usec) {
        PageIdle *p = t->data;
        PageIdleTarget *pt = target->data;
        PassCursor *c = &pt->cursor;
        Pass pass = pt->primed ? PASS_CHECK_PREPARE : PASS_PREPARE;
        Scan *s = &p->step_scan;
        int r;

        if (!c->active) {
                r = open_pagemap(t, target, pt);
                if (r < 0)
                        return r;
                *c = (PassCursor) { .active = true, .range = 0, .hva = target->n_ranges > 0 ? target->ranges[0].hva : 0 };
        }
        if (!s->pagemap)
                scan_init(s);
        s->carry = c->carry;

        for (bool first = true;; first = false) {
                const HeatRangeSpec *range;

                while (c->range < target->n_ranges && c->hva >= target->ranges[c->range].hva + target->ranges[c->range].len_bytes) {
                        c->range++;
                        if (c->range < target->n_ranges)
                                c->hva = target->ranges[c->range].hva;
                        s->carry.have_prev = false;
                }
                if (c->range >= target->n_ranges) {
                        c->active = false;
                        pt->primed = true;
                        return 0;
                }
                if (!first && clock_now_usec(CLOCK_MONOTONIC) >= deadline_usec) {
                        c->carry = s->carry;
                        return 1;
                }

                range = target->ranges + c->range;
                r = run_chunk(p, pt, s, pass, heat, c->hva, chunk_pages(range, c->hva));
                if (r < 0) {
                        c->active = false;
                        if (r != -ESTALE)
                                r = pass_failed(t, target, r);
                        log_debug_errno(r, "page_idle: %s pid %d failed: %m", pass == PASS_PREPARE ? "marking" : "checking",
                                        (int) target->pid);
                        return r;
                }
                c->hva += (uint64_t) CHUNK_PAGES * PAGE_BYTES;
        }
}

static bool page_idle_target_valid(Tracker *t, TrackerTarget *target) {
        return tracker_target_alive(&t->ctx, target);
}

const TrackerOps tracker_page_idle_ops = {
        .kind = TRACKER_PAGE_IDLE,
        .name = "page_idle",
        .probe = page_idle_probe,
        .init = page_idle_init,
        .cleanup = page_idle_cleanup,
        .target_add = page_idle_target_add,
        .target_remove = page_idle_target_remove,
        .prepare_access_checks = page_idle_prepare,
        .check_accesses = page_idle_check,
        .target_valid = page_idle_target_valid,
        .sample_step = page_idle_sample_step,
};
