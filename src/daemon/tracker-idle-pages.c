/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The idle_pages tracker: /proc/PID/idle_pages from vtism's kernel patch (kernel-patches/).
 *
 * ABI: lseek(fd, hva, SEEK_SET) then read(fd, buf, N): the kernel walks the page tables of PID
 * from hva, test-and-clears the young bit of each present PTE/PMD (and, for a KVM process, the
 * accessed bits of the secondary MMU through the mmu-notifier aging hooks), and returns a record
 * stream (vtism/idle-pages-format.h). A read of N bytes covers at most N × 8 pages of address
 * space from the position (and N bytes of output); afterwards the file position is where the
 * next read should start (between the end of the last record and that bound); a read returns 0
 * only when no VMA is left above the position or the process has exited (so 0 before a range's
 * end makes scan() ask whether the process still runs: -ESRCH if not, else -EIO).
 *
 * check_accesses: the guest RAM ranges in ascending order, each from its start until the file
 * position passes its end; each buffer is decoded starting at the position the read started from
 * (so nothing depends on the kernel emitting a record for every byte of address space it
 * skipped), and the accessed runs (PTE/PMD accessed, dirty or not; present PUDs) clipped to the
 * ranges go into heatmap_sample_hva() (a read that lies inside one range goes whole into
 * heatmap_sample_idle_pages(), which decodes it straight into the heat bytes with the same
 * result). The mapping size of present runs tells the heat map where
 * transparent huge pages are: a PMD run marks its 2 MiB blocks huge, a PTE run unmarks every
 * block it touches (heatmap_mark_huge(); the planner moves huge blocks whole). Reads are sized to
 * end at the range's end rounded up to 2 MiB (a huge page across the end is reported, and
 * cleared, whole); what a read reports beyond a range's end still counts if it lies in the next
 * range (its scan then goes on from the position instead of seeking back, or those pages would
 * read idle: their bits were cleared). Reading clears the bits, so prepare_access_checks is a
 * no-op; the first period starts in target_add, which does one clearing pass and throws the
 * result away (the bits set before vtism started say nothing about the first period).
 *
 * Cost: one page-table walk per cycle and VM, one byte of output per up to 15 pages (15 × 2 MiB
 * for huge pages), at most READ_BYTES (128 MiB of address space) per syscall; the TLB flushes are
 * the kernel's business (see kernel-patches/README.md). Past the last range (or before a gap to
 * the next) a read clears young bits up to the range's end rounded up to 2 MiB, plus less than 8
 * pages (one byte's worth), or, for a remainder under 80 pages, the 80 pages of the smallest read:
 * bits nobody reads but reclaim. One open fd per target, reopened after an error.
 */

#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vtism/idle-pages-format.h"
#include "vtism/log.h"
#include "vtism/tracker.h"
#include "vtism/util.h"

#define READ_BYTES 4096u
#define READ_BYTES_MIN 10u            /* a SET_HVA and one record */
#define READ_PAGES_PER_BYTE 8u        /* the address space one byte of a read's count covers */

typedef struct IdlePagesTarget {
        int fd;
        uint64_t reads, bytes;   /* statistics, for debugging */
} IdlePagesTarget;

typedef struct ClipContext {
        HeatMap *heat;                  /* NULL: baseline pass, results dropped */
        const HeatRangeSpec *ranges;    /* ascending hva */
        size_t n_ranges;
        size_t first;                   /* the range being scanned: runs start at or above it */
        uint64_t accessed_bytes;
        uint64_t unmarked_end;          /* PTE runs: blocks below this were already unmarked huge */
} ClipContext;

/* Present runs say how the range is mapped: PMD = one THP per 2 MiB, PTE = no THP there. */
static void mark_huge(ClipContext *c, const IdlePagesRun *run, uint64_t s, uint64_t e) {
        if (!c->heat || run->kind == IDLE_PAGES_KIND_HOLE)
                return;
        if (run->page_size_bytes == IDLE_PAGES_PMD_SIZE)
                (void) heatmap_mark_huge(c->heat, s, e - s, true);
        else if (run->page_size_bytes == IDLE_PAGES_PTE_SIZE) {
                /* every 2 MiB block the run touches, each once per scan */
                uint64_t bs = MAX(s & ~(IDLE_PAGES_PMD_SIZE - 1), c->unmarked_end);
                uint64_t be = (e + IDLE_PAGES_PMD_SIZE - 1) & ~(IDLE_PAGES_PMD_SIZE - 1);

                if (bs < be)
                        (void) heatmap_mark_huge(c->heat, bs, be - bs, false);
                c->unmarked_end = MAX(c->unmarked_end, be);
        }
}

/*
 * A run, clipped to the range being scanned and, past its end, to the ranges above: present runs
 * mark or unmark huge blocks, accessed ones are sampled.
 */
static int on_run(const IdlePagesRun *run, void *userdata) {
        ClipContext *c = userdata;
        uint64_t run_end = idle_pages_run_end(run);

        for (size_t i = c->first; i < c->n_ranges && c->ranges[i].hva < run_end; i++) {
                uint64_t s = MAX(run->start_hva, c->ranges[i].hva);
                uint64_t e = MIN(run_end, c->ranges[i].hva + c->ranges[i].len_bytes);
                int r;

                if (e <= s)
                        continue;
                mark_huge(c, run, s, e);
                if (run->kind != IDLE_PAGES_KIND_ACCESSED)
                        continue;
                c->accessed_bytes += e - s;
                if (!c->heat)
                        continue;
                r = heatmap_sample_hva(c->heat, s, e - s);
                if (r < 0)
                        return r;
        }
        return 0;
}

/*
 * How many bytes to read at pos so that the read covers the range up to end rounded up to 2 MiB
 * and no further (8 pages per byte), within [READ_BYTES_MIN, READ_BYTES].
 */
static size_t read_size(uint64_t pos, uint64_t end) {
        uint64_t stop = (end + IDLE_PAGES_PMD_SIZE - 1) & ~(IDLE_PAGES_PMD_SIZE - 1);
        uint64_t pages = DIV_ROUND_UP(stop - (pos & ~(IDLE_PAGES_PTE_SIZE - 1)), IDLE_PAGES_PTE_SIZE);
        uint64_t n = DIV_ROUND_UP(pages, READ_PAGES_PER_BYTE);

        return (size_t) MIN(MAX(n, (uint64_t) READ_BYTES_MIN), (uint64_t) READ_BYTES);
}

static int open_idle_pages(Tracker *t, TrackerTarget *target, IdlePagesTarget *it) {
        _cleanup_free_ char *path = NULL;
        int fd;

        if (it->fd >= 0)
                return 0;
        path = xasprintf("%s/%d/idle_pages", t->ctx.proc_root, (int) target->pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        /* A missing file means a gone process only if /proc says so (proc-pid.h): off the normal
         * path, ask. A running process without it cannot be followed (-ENOENT), not dropped. */
        if (fd < 0)
                return errno == ENOENT ? (tracker_target_alive(&t->ctx, target) ? -ENOENT : -ESRCH) : negative_errno();
        it->fd = fd;
        return 0;
}

static void close_idle_pages(IdlePagesTarget *it) {
        if (it->fd >= 0)
                (void) close(it->fd);
        it->fd = -EBADF;
}

/*
 * Scan range c->first from *pos (the file position; -1: not known) or, if that is below the range,
 * from its start. Leaves *pos where the walk stopped.
 */
static int scan_range(IdlePagesTarget *it, ClipContext *c, off_t *pos) {
        const HeatRangeSpec *range = &c->ranges[c->first];
        uint64_t end = range->hva + range->len_bytes;
        uint8_t buf[READ_BYTES];

        if (*pos < (off_t) range->hva) {
                *pos = lseek(it->fd, (off_t) range->hva, SEEK_SET);
                if (*pos < 0)
                        return negative_errno();
        }

        while ((uint64_t) *pos < end) {
                IdlePagesDecoder d;
                ssize_t n;
                off_t next;
                int r;

                n = read(it->fd, buf, read_size((uint64_t) *pos, end));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        return -ENODATA; /* before the range's end: the mm is gone, or worse */
                it->reads++;
                it->bytes += (uint64_t) n;

                if (c->heat && (uint64_t) n * READ_PAGES_PER_BYTE * IDLE_PAGES_PTE_SIZE <= end - (uint64_t) *pos) {
                        /* the read lies inside the range (a read covers at most n × 8 pages): the
                         * heat map decodes it straight into its heat bytes, same result */
                        uint64_t acc = 0;

                        r = heatmap_sample_idle_pages(c->heat, (uint64_t) *pos, buf, (size_t) n, range->hva,
                                                      range->len_bytes, HEATMAP_STREAM_MARK_HUGE, &acc);
                        c->accessed_bytes += acc;
                } else {
                        idle_pages_decoder_init(&d, (uint64_t) *pos);
                        r = idle_pages_decoder_feed(&d, buf, (size_t) n, on_run, c);
                        if (r >= 0)
                                r = idle_pages_decoder_finish(&d, on_run, c);
                }
                if (r < 0)
                        return r;

                next = lseek(it->fd, 0, SEEK_CUR);
                if (next < 0)
                        return negative_errno();
                if (next <= *pos)
                        return -EIO; /* no progress: would loop forever */
                *pos = next;
        }
        return 0;
}

static int scan(Tracker *t, TrackerTarget *target, HeatMap *heat) {
        IdlePagesTarget *it = target->data;
        ClipContext c = {
                .heat = heat,
                .ranges = target->ranges,
                .n_ranges = target->n_ranges,
        };
        off_t pos = -1;
        int r;

        r = open_idle_pages(t, target, it);
        if (r < 0)
                return r;
        for (size_t i = 0; i < target->n_ranges; i++) {
                c.first = i;
                r = scan_range(it, &c, &pos);
                if (r < 0) {
                        /* A read returns 0 once the mm is gone; an exited process may fail in other
                         * ways too. Only here, off the normal path, ask whether it still runs. */
                        close_idle_pages(it); /* reopened next time */
                        if (r == -ESRCH || !tracker_target_alive(&t->ctx, target))
                                return -ESRCH;
                        return r == -ENODATA ? -EIO : r;
                }
        }
        log_debug("idle_pages: pid %d: %" PRIu64 " KiB accessed%s", (int) target->pid, c.accessed_bytes / 1024,
                  heat ? "" : " (baseline pass)");
        return 0;
}

static int idle_pages_probe(const TrackerContext *ctx, char **ret_reason) {
        _cleanup_free_ char *path = xasprintf("%s/self/idle_pages", ctx->proc_root);
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                r = negative_errno();
                if (r == -ENOENT)
                        *ret_reason = xstrdup("kernel lacks /proc/PID/idle_pages (vtism's kernel patch)");
                else
                        *ret_reason = xasprintf("cannot open %s: %s", path, strerror(-r));
                return r == -ENOENT ? -EOPNOTSUPP : r;
        }
        (void) close(fd);
        return 0;
}

static int idle_pages_target_add(Tracker *t, TrackerTarget *target) {
        IdlePagesTarget *it;
        int r;

        it = xcalloc(1, sizeof(IdlePagesTarget));
        it->fd = -EBADF;
        target->data = it;

        /* The baseline: clear the bits so that the first check sees one period only. */
        r = scan(t, target, NULL);
        if (r < 0) {
                close_idle_pages(it);
                free(it);
                target->data = NULL;
                return log_debug_errno(r, "idle_pages: pid %d: baseline pass failed: %m", (int) target->pid);
        }
        return 0;
}

static void idle_pages_target_remove(Tracker *t, TrackerTarget *target) {
        IdlePagesTarget *it = target->data;

        if (!it)
                return;
        close_idle_pages(it);
        free(it);
        target->data = NULL;
}

static int idle_pages_prepare(Tracker *t, TrackerTarget *target) {
        /* Reading clears: the check itself starts the next period. */
        return 0;
}

static int idle_pages_check(Tracker *t, TrackerTarget *target, HeatMap *heat) {
        int r;

        r = scan(t, target, heat);
        if (r < 0)
                log_debug_errno(r, "idle_pages: pid %d: scan failed: %m", (int) target->pid);
        return r;
}

static bool idle_pages_target_valid(Tracker *t, TrackerTarget *target) {
        return tracker_target_alive(&t->ctx, target);
}

const TrackerOps tracker_idle_pages_ops = {
        .kind = TRACKER_IDLE_PAGES,
        .name = "idle_pages",
        .probe = idle_pages_probe,
        .target_add = idle_pages_target_add,
        .target_remove = idle_pages_target_remove,
        .prepare_access_checks = idle_pages_prepare,
        .check_accesses = idle_pages_check,
        .target_valid = idle_pages_target_valid,
};
