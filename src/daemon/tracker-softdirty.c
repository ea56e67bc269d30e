/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The softdirty tracker: the pages a process wrote since the last clear, page-exact, on a
 * distribution kernel (CONFIG_MEM_SOFT_DIRTY=y: Debian's 6.12 has it, idle page tracking it
 * has not). It sees writes only: reads leave no trace. auto pairs it with DAMON for reads
 * (tracker-combo.c).
 *
 * Period. prepare_access_checks (and target_add, so that the first check sees one period)
 * writes "4" to /proc/PID/clear_refs. check_accesses then reads /proc/PID/pagemap for the guest
 * RAM ranges: 8 bytes per page, CHUNK_PAGES pages (128 MiB of RAM) per pread(). It decodes the
 * entries with vtism/pagemap.h and feeds the runs of pages written since the clear to
 * heatmap_sample_hva(), in ascending address order. "Written" means present or swapped with
 * bit 55 set. Holes never count, and neither do the soft-dirty runs of a VMA mapped after the
 * clear.
 *
 * Huge pages. A PMD-mapped THP has one soft-dirty bit for all 512 of its pages, so a written
 * huge page reads written as a whole by itself. A THP mapped by PTEs is folded into one unit.
 * That takes PFNs in pagemap (CAP_SYS_ADMIN) and a readable /proc/kpageflags: a 2 MiB block
 * whose entries disagree and whose PFNs have the shape of one huge page costs one 8-byte
 * kpageflags pread to confirm KPF_THP. Uniform blocks cost nothing. Without PFNs or
 * kpageflags such THPs are reported per 4 KiB page, which is exact but finer than
 * move_pages() moves them.
 *
 * Cost. A clear walks the page tables of the whole process, not just guest RAM, under
 * mmap_lock taken for writing, so QEMU's own faults and mmaps wait meanwhile. It write-protects
 * every present PTE, then flushes the TLB once. A PMD-mapped THP is different: each one is
 * invalidated and flushed by itself (pmdp_invalidate(): an IPI to the CPUs running QEMU's
 * threads, per 2 MiB). The clear also sends an mmu-notifier invalidation over the whole address
 * space, and KVM answers it by zapping every NPT/EPT entry of the guest. After each clear:
 *   - the guest's first access to each page, read or write, exits to KVM, which maps the page
 *     again. Through KVM, each clear costs about one refault per page the guest touches: per
 *     2 MiB with THP, per 4 KiB without;
 *   - the first write to each page also takes a host write-protect fault, which sets the bit.
 *     A process not under KVM pays only this one;
 *   - a check reads 2 MiB of pagemap per GiB of guest RAM.
 * So the guest loses about (refaults per period) × (cost of one) / period, plus, when the
 * tracker has to share the guest's CPUs, the tracker's own CPU time.
 *
 * Measured in the lab (a KVM guest nested in TCG; README.md, bench/RESULTS.md "softdirty-lab").
 * In TCG's wall time a refault costs 0.14-0.82 ms and the host's load swings the guest's speed
 * by ±40-60 %, so those figures say little. With the lab's clock counting instructions (QEMU
 * -icount, bench/softdirty-lab's SOFTDIRTY_ICOUNT_SHIFT), a 128 MiB guest writing 512 scattered
 * pages per round lost the same 162-232 ms of the lab's clock per clear at intervals of
 * 0.31-1.9 s, on 4 KiB mappings and THP alike: slowdown = that / interval, under 2 % from 11.6 s.
 * Most of it is the tracker's own CPU time (the lab's vCPUs take turns on one TCG thread). In
 * instructions that is 10-22 million per clear: at one instruction per ns, under 2 % from
 * 0.5-1.1 s and 0.2-0.4 % at the default sample_interval_ms of 5000; but the count did not stay
 * put when the lab's ns per instruction changed, so hardware lies between the two readings.
 * Not in that count: a VM exit and entry per refault on hardware (~1-2 µs), the clear's TLB
 * shootdowns, cache misses in large page tables. The tracker's share grows with the guest's RAM
 * (each cycle reads 2 MiB of pagemap and the clear walks 262144 PTEs per GiB with mmap_lock
 * held: up to ~400 instructions per 4 KiB of guest RAM here), the refaults' with the distinct
 * pages written per period. For large guests use longer intervals, THP, and a core for vtismd.
 *
 * One soft-dirty user per process. A clear resets the bits of the whole process, for everyone.
 * CRIU's pre-dump and iterative dump, and live-migration tools built on soft-dirty, clear them
 * too. With two users, each sees only what was written since the other's last clear. vtism must
 * be the only soft-dirty user of a QEMU process it tracks. What can be detected is detected,
 * and describe_target() reports it:
 *   - another vtism (a second vtismd, a tracker-check): each target's clear_refs fd carries an
 *     exclusive flock(). A second instance's target_add fails with -EBUSY;
 *   - a ptrace tracer on the process (CRIU seizes the tasks it dumps): TracerPid in
 *     /proc/PID/status, checked at every check and warned about once;
 *   - soft-dirty runs that contain holes: a VMA created, grown or merged after our clear, or
 *     bits nobody cleared. They are dropped and counted;
 *   - bits that survive the clear: right after each clear, SAMPLE_PAGES entries spread over
 *     guest RAM are read again. If most present pages still read soft-dirty, the clear is not
 *     taking (the kernel skips pages pinned for DMA, e.g. VFIO passthrough, and they read
 *     written forever). Warned about once.
 * A foreign clear in the middle of a period can't be told from a guest that wrote less: no
 * hook runs between our clear and our read. The list above is what is visible without writing
 * to the guest's memory.
 *
 * Other writers that show up: a khugepaged collapse marks the new huge page dirty (one false
 * write of 2 MiB), and a KSM merge maps a clean page. Migrations (move_pages, ours included),
 * swap-out and swap-in keep the bit.
 *
 * Permissions: reading another user's /proc/PID/pagemap takes ptrace read access
 * (CAP_SYS_PTRACE), PFNs in it take CAP_SYS_ADMIN, and writing clear_refs (mode 0200, owned
 * by the process' user) takes CAP_DAC_OVERRIDE.
 */

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "vtism/log.h"
#include "vtism/pagemap.h"
#include "vtism/tracker.h"
#include "vtism/util.h"

#define CHUNK_PAGES 32768u                  /* 256 KiB of pagemap, 128 MiB of RAM per pread */
#define CHUNK_BYTES ((uint64_t) CHUNK_PAGES * PAGEMAP_PAGE_BYTES)
#define SAMPLE_PAGES 64u                    /* entries re-read right after each clear */
#define SAMPLE_MIN_PRESENT 32u              /* judge the clear only on this many present pages */
#define SAMPLE_SURVIVED_PERCENT 75u         /* still soft-dirty after the clear: not taking */

#define KPF_COMPOUND_HEAD 15
#define KPF_THP 22

typedef struct SoftDirty {
        int kpageflags_fd;       /* -EBADF: no huge-page folding */
        bool show_pfn;           /* our pagemap shows PFNs (CAP_SYS_ADMIN) */
} SoftDirty;

typedef struct SoftDirtyTarget {
        int pagemap_fd;
        int clear_refs_fd;       /* flock()ed: one vtism soft-dirty user per process */
        uint64_t *buf;           /* CHUNK_PAGES entries */
        uint64_t clears, checks;
        PagemapCounts last;      /* of the last check */
        /* the post-clear sample */
        uint64_t sample_cursor;  /* page index into the concatenated ranges */
        unsigned sample_present, sample_dirty;
        bool clear_not_taking;
        /* conflicts seen */
        pid_t tracer;            /* TracerPid at the last check */
        char *tracer_comm;
        uint64_t vma_dirty_checks;
        bool warned_tracer, warned_vma, warned_clear;
} SoftDirtyTarget;

/* --- probe --- */

/* Written just before its pagemap entry is read: present and, with soft-dirty support, dirty. */
static volatile uint64_t probe_word;

static int read_own_entry(const char *proc_root, uint64_t *ret) {
        _cleanup_free_ char *path = xasprintf("%s/self/pagemap", proc_root);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        uint64_t e = 0;
        int r;

        if (fd < 0)
                return negative_errno();
        probe_word++;
        r = pread_full(fd, &e, sizeof(e), (uint64_t) (uintptr_t) &probe_word / PAGEMAP_PAGE_BYTES * sizeof(e), NULL);
        if (r < 0)
                return r;
        *ret = e;
        return 0;
}

/*
 * Kernel support without touching anyone's clear_refs, not even our own. After exec every VMA
 * of ours has VM_SOFTDIRTY, and a write fault marks the PTE soft-dirty. So on a kernel with
 * CONFIG_MEM_SOFT_DIRTY, a page we have just written reads bit 55. Without it the bit is always
 * 0 (pte_soft_dirty() and VM_SOFTDIRTY compile to nothing). A clear of our bits by someone
 * else between the write and the read would hide it once: the second try writes again, which
 * faults and sets the bit again.
 */
static int softdirty_probe(const TrackerContext *ctx, char **ret_reason) {
        _cleanup_free_ char *clear_refs = xasprintf("%s/self/clear_refs", ctx->proc_root);
        _cleanup_close_ int fd = -EBADF;
        uint64_t e = 0;
        int r;

        for (int attempt = 0; attempt < 2; attempt++) {
                r = read_own_entry(ctx->proc_root, &e);
                if (r < 0) {
                        *ret_reason = xasprintf("cannot read %s/self/pagemap: %s", ctx->proc_root, strerror(-r));
                        return r == -ENOENT ? -EOPNOTSUPP : r;
                }
                if (!(e & PAGEMAP_PRESENT)) {
                        *ret_reason = xstrdup("/proc/PID/pagemap does not show a page just written as present");
                        return -EOPNOTSUPP;
                }
                if (e & PAGEMAP_SOFT_DIRTY)
                        break;
        }
        if (!(e & PAGEMAP_SOFT_DIRTY)) {
                *ret_reason = xstrdup("kernel lacks soft-dirty tracking (CONFIG_MEM_SOFT_DIRTY): "
                                      "/proc/PID/pagemap never sets bit 55");
                return -EOPNOTSUPP;
        }
        /* Opening for writing checks the permission; only a write would clear anything. */
        fd = open(clear_refs, O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
                r = negative_errno();
                *ret_reason = xasprintf("cannot open %s for writing: %s", clear_refs, strerror(-r));
                return r;
        }
        return 0;
}

/* --- init --- */

static int softdirty_init(Tracker *t) {
        _cleanup_free_ char *kpageflags = xasprintf("%s/kpageflags", t->ctx.proc_root);
        SoftDirty *sd;
        uint64_t e = 0;

        sd = xcalloc(1, sizeof(SoftDirty));
        sd->kpageflags_fd = open(kpageflags, O_RDONLY | O_CLOEXEC);
        if (sd->kpageflags_fd < 0) {
                log_debug_errno(negative_errno(), "softdirty: cannot open %s, PTE-mapped huge pages are "
                                "reported per 4 KiB page: %m", kpageflags);
                sd->kpageflags_fd = -EBADF;
        }
        sd->show_pfn = read_own_entry(t->ctx.proc_root, &e) >= 0 && pagemap_entry_pfn(e) != 0;
        if (!sd->show_pfn)
                log_debug("softdirty: pagemap shows no PFNs (no CAP_SYS_ADMIN), PTE-mapped huge pages are "
                          "reported per 4 KiB page");
        t->data = sd;
        return 0;
}

static void softdirty_cleanup(Tracker *t) {
        SoftDirty *sd = t->data;

        if (!sd)
                return;
        if (sd->kpageflags_fd >= 0)
                (void) close(sd->kpageflags_fd);
        free(sd);
        t->data = NULL;
}

static bool softdirty_folds(const SoftDirty *sd) {
        return sd->kpageflags_fd >= 0 && sd->show_pfn;
}

static int is_thp_head(uint64_t pfn, void *userdata) {
        SoftDirty *sd = userdata;
        uint64_t flags = 0;
        int r;

        r = pread_full(sd->kpageflags_fd, &flags, sizeof(flags), pfn * sizeof(flags), NULL);
        if (r < 0)
                return r;
        return (flags >> KPF_THP) & (flags >> KPF_COMPOUND_HEAD) & 1;
}

/* --- per target --- */

static void target_close(SoftDirtyTarget *st) {
        if (st->pagemap_fd >= 0)
                (void) close(st->pagemap_fd);
        if (st->clear_refs_fd >= 0)
                (void) close(st->clear_refs_fd); /* drops the flock */
        st->pagemap_fd = st->clear_refs_fd = -EBADF;
}

static SoftDirtyTarget *target_free(SoftDirtyTarget *st) {
        if (!st)
                return NULL;
        target_close(st);
        free(st->buf);
        free(st->tracer_comm);
        free(st);
        return NULL;
}

static int open_at_pid(Tracker *t, TrackerTarget *target, const char *name, int flags) {
        _cleanup_free_ char *path = xasprintf("%s/%d/%s", t->ctx.proc_root, (int) target->pid, name);
        int fd;

        fd = open(path, flags | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT || errno == ESRCH ? -ESRCH : negative_errno();
        return fd;
}

static int target_open(Tracker *t, TrackerTarget *target, SoftDirtyTarget *st) {
        int fd;

        fd = open_at_pid(t, target, "pagemap", O_RDONLY);
        if (fd < 0)
                return log_debug_errno(fd, "softdirty: pid %d: cannot open pagemap (ptrace read access, "
                                       "CAP_SYS_PTRACE for another user's process): %m", (int) target->pid);
        st->pagemap_fd = fd;
        fd = open_at_pid(t, target, "clear_refs", O_WRONLY);
        if (fd < 0)
                return log_debug_errno(fd, "softdirty: pid %d: cannot open clear_refs for writing "
                                       "(CAP_DAC_OVERRIDE for another user's process): %m", (int) target->pid);
        st->clear_refs_fd = fd;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno != EWOULDBLOCK)
                        return log_debug_errno(negative_errno(), "softdirty: pid %d: cannot lock clear_refs: %m",
                                               (int) target->pid);
                /* A conflict the operator must hear of: the manager only sees -EBUSY. */
                return log_warning_errno(-EBUSY, "softdirty: pid %d: another vtism instance tracks its soft-dirty "
                                         "bits already (its clear_refs is locked); two clearing users would each "
                                         "miss the other's writes", (int) target->pid);
        }
        return 0;
}

static int target_clear(SoftDirtyTarget *st) {
        ssize_t n;

        do
                n = write(st->clear_refs_fd, "4", 1);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return negative_errno();
        if (n != 1)
                return -EIO;
        st->clears++;
        return 0;
}

static uint64_t ranges_bytes(const TrackerTarget *target) {
        uint64_t sum = 0;

        for (size_t i = 0; i < target->n_ranges; i++)
                sum += target->ranges[i].len_bytes;
        return sum;
}

/* The address at byte offset off of the concatenated ranges. */
static uint64_t ranges_hva_at(const TrackerTarget *target, uint64_t off) {
        for (size_t i = 0; i < target->n_ranges; i++) {
                if (off < target->ranges[i].len_bytes)
                        return target->ranges[i].hva + off;
                off -= target->ranges[i].len_bytes;
        }
        return 0;
}

/*
 * Right after a clear, no present page should read soft-dirty but the few written in the
 * microseconds since. Re-read SAMPLE_PAGES entries spread over guest RAM (one per stride, the
 * start rotating from clear to clear) and count.
 */
static int sample_after_clear(TrackerTarget *target, SoftDirtyTarget *st) {
        uint64_t total = ranges_bytes(target) / PAGEMAP_PAGE_BYTES, stride;
        unsigned present = 0, dirty = 0;

        if (total == 0)
                return 0;
        stride = MAX(total / SAMPLE_PAGES, (uint64_t) 1);
        for (unsigned k = 0; k < SAMPLE_PAGES && k < total; k++) {
                uint64_t page = (st->sample_cursor + k * stride) % total, e = 0, hva;
                int r;

                hva = ranges_hva_at(target, page * PAGEMAP_PAGE_BYTES);
                r = pread_full(st->pagemap_fd, &e, sizeof(e), hva / PAGEMAP_PAGE_BYTES * sizeof(e), NULL);
                if (r < 0)
                        return r;
                if (e & PAGEMAP_PRESENT) {
                        present++;
                        dirty += !!(e & PAGEMAP_SOFT_DIRTY);
                }
        }
        st->sample_cursor = (st->sample_cursor + 1 + stride / 2) % total;
        st->sample_present = present;
        st->sample_dirty = dirty;
        st->clear_not_taking = present >= SAMPLE_MIN_PRESENT && dirty * 100 >= present * SAMPLE_SURVIVED_PERCENT;
        if (st->clear_not_taking && !st->warned_clear) {
                st->warned_clear = true;
                log_warning("softdirty: pid %d: %u of %u sampled pages still read soft-dirty right after the "
                            "clear: its pages may be pinned for DMA (VFIO), whose writes soft-dirty cannot see",
                            (int) target->pid, dirty, present);
        }
        return 0;
}

typedef struct ScanContext {
        HeatMap *heat;
} ScanContext;

static int on_written(uint64_t hva, uint64_t len_bytes, void *userdata) {
        ScanContext *c = userdata;

        return c->heat ? heatmap_sample_hva(c->heat, hva, len_bytes) : 0;
}

static int scan_range(SoftDirty *sd, SoftDirtyTarget *st, const HeatRangeSpec *range, HeatMap *heat,
                      PagemapCounts *counts) {
        uint64_t end = range->hva + range->len_bytes;
        ScanContext c = { .heat = heat };
        PagemapDecoder d;
        int r;

        pagemap_decoder_init(&d, range->hva, softdirty_folds(sd) ? is_thp_head : NULL, sd);
        for (uint64_t hva = range->hva; hva < end;) {
                /* Chunks end on CHUNK_BYTES boundaries: 2 MiB blocks never straddle two feeds. */
                uint64_t chunk_end = MIN(end, (hva / CHUNK_BYTES + 1) * CHUNK_BYTES);
                size_t n = (size_t) ((chunk_end - hva) / PAGEMAP_PAGE_BYTES);

                r = pread_full(st->pagemap_fd, st->buf, n * sizeof(uint64_t), hva / PAGEMAP_PAGE_BYTES * sizeof(uint64_t), NULL);
                if (r < 0)
                        return r;
                r = pagemap_decoder_feed(&d, st->buf, n, on_written, &c);
                if (r < 0)
                        return r;
                hva = chunk_end;
        }
        r = pagemap_decoder_finish(&d, on_written, &c);
        if (r < 0)
                return r;
        pagemap_counts_add(counts, &d.counts);
        return 0;
}

/* Replace anything but printable ASCII: a command name is chosen by whoever runs the process. */
static char *sanitize(const char *s) {
        char *copy = xstrdup(s);

        for (char *p = copy; *p; p++)
                if (*p < 0x20 || *p > 0x7e)
                        *p = '?';
        return copy;
}

static void check_tracer(Tracker *t, TrackerTarget *target, SoftDirtyTarget *st) {
        _cleanup_free_ char *path = xasprintf("%d/status", (int) target->pid), *status = NULL, *comm = NULL;
        const char *p;
        int tracer = 0;

        if (read_file_at(t->ctx.proc_root, path, &status) < 0)
                return;
        p = strstr(status, "\nTracerPid:");
        if (!p || sscanf(p + strlen("\nTracerPid:"), "%d", &tracer) != 1 || tracer < 0)
                tracer = 0;
        if (tracer == st->tracer)
                return;
        st->tracer = tracer;
        free(st->tracer_comm);
        st->tracer_comm = NULL;
        if (tracer == 0)
                return;
        free(path);
        path = xasprintf("%d/comm", tracer);
        if (read_line_at(t->ctx.proc_root, path, &comm) >= 0)
                st->tracer_comm = sanitize(comm);
        if (!st->warned_tracer) {
                st->warned_tracer = true;
                log_warning("softdirty: pid %d is traced by pid %d (%s): checkpoint and live-migration tools "
                            "such as CRIU clear soft-dirty bits themselves, which hides writes from vtism",
                            (int) target->pid, tracer, st->tracer_comm ?: "?");
        }
}

static int scan(Tracker *t, TrackerTarget *target, HeatMap *heat) {
        SoftDirty *sd = t->data;
        SoftDirtyTarget *st = target->data;
        PagemapCounts counts = {};
        int r;

        if (!st || !tracker_target_alive(&t->ctx, target))
                return -ESRCH;
        for (size_t i = 0; i < target->n_ranges; i++) {
                r = scan_range(sd, st, target->ranges + i, heat, &counts);
                if (r < 0)
                        return tracker_target_alive(&t->ctx, target) ? r : -ESRCH;
        }
        /* The pagemap of an exited process reads as holes: that was no idle VM. */
        if (!tracker_target_alive(&t->ctx, target))
                return -ESRCH;
        st->last = counts;
        st->checks++;
        if (counts.vma_dirty_runs > 0) {
                st->vma_dirty_checks++;
                if (!st->warned_vma) {
                        st->warned_vma = true;
                        log_warning("softdirty: pid %d: %" PRIu64 " KiB of guest RAM read soft-dirty with holes "
                                    "in it (a mapping created after vtism's clear, or bits nobody cleared); "
                                    "not counted as written", (int) target->pid,
                                    counts.vma_dirty_pages * PAGEMAP_PAGE_BYTES / KIB);
                }
        }
        check_tracer(t, target, st);
        log_debug("softdirty: pid %d: %" PRIu64 " KiB written of %" PRIu64 " KiB present (%" PRIu64
                  " KiB swapped), %" PRIu64 " KiB folded into huge pages, %" PRIu64 " KiB in new mappings",
                  (int) target->pid, counts.written_pages * 4, counts.present_pages * 4, counts.swapped_pages * 4,
                  counts.folded_pages * 4, counts.vma_dirty_pages * 4);
        return 0;
}

static int clear_and_sample(Tracker *t, TrackerTarget *target) {
        SoftDirtyTarget *st = target->data;
        int r;

        if (!st || !tracker_target_alive(&t->ctx, target))
                return -ESRCH;
        r = target_clear(st);
        if (r < 0)
                return r == -ESRCH || !tracker_target_alive(&t->ctx, target) ? -ESRCH : r;
        r = sample_after_clear(target, st);
        if (r < 0)
                return tracker_target_alive(&t->ctx, target) ? r : -ESRCH;
        return 0;
}

static int softdirty_target_add(Tracker *t, TrackerTarget *target) {
        SoftDirtyTarget *st;
        int r;

        if (!tracker_target_alive(&t->ctx, target))
                return -ESRCH;
        st = xcalloc(1, sizeof(SoftDirtyTarget));
        st->pagemap_fd = st->clear_refs_fd = -EBADF;
        st->buf = xcalloc(CHUNK_PAGES, sizeof(uint64_t));
        target->data = st;

        r = target_open(t, target, st);
        if (r >= 0)
                r = clear_and_sample(t, target); /* the first period starts now */
        if (r < 0) {
                target->data = target_free(st);
                return log_debug_errno(r, "softdirty: pid %d: cannot start tracking: %m", (int) target->pid);
        }
        return 0;
}

static void softdirty_target_remove(Tracker *t, TrackerTarget *target) {
        target->data = target_free(target->data);
        (void) t;
}

static int softdirty_prepare(Tracker *t, TrackerTarget *target) {
        int r = clear_and_sample(t, target);
        if (r < 0)
                log_debug_errno(r, "softdirty: clearing pid %d failed: %m", (int) target->pid);
        return r;
}

static int softdirty_check(Tracker *t, TrackerTarget *target, HeatMap *heat) {
        int r = scan(t, target, heat);
        if (r < 0)
                log_debug_errno(r, "softdirty: checking pid %d failed: %m", (int) target->pid);
        return r;
}

static bool softdirty_target_valid(Tracker *t, TrackerTarget *target) {
        return target->data && tracker_target_alive(&t->ctx, target);
}

static char *softdirty_describe_target(Tracker *t, TrackerTarget *target) {
        SoftDirty *sd = t->data;
        SoftDirtyTarget *st = target->data;
        _cleanup_free_ char *conflicts = NULL;

        if (!st)
                return xstrdup("softdirty: not tracking");
        if (st->tracer > 0)
                strextendf(&conflicts, "; traced by pid %d (%s), e.g. CRIU: writes may be missed", (int) st->tracer,
                           st->tracer_comm ?: "?");
        if (st->clear_not_taking)
                strextendf(&conflicts, "; %u of %u sampled pages stay soft-dirty after the clear (pinned for DMA?)",
                           st->sample_dirty, st->sample_present);
        if (st->vma_dirty_checks > 0)
                strextendf(&conflicts, "; soft-dirty with holes (new mappings) in %" PRIu64 " of %" PRIu64 " checks",
                           st->vma_dirty_checks, st->checks);
        return xasprintf("softdirty: writes, page-exact%s; last check %" PRIu64 " of %" PRIu64 " MiB present written, "
                         "%" PRIu64 " MiB swapped; %" PRIu64 " clears%s",
                         softdirty_folds(sd) ? ", PTE-mapped huge pages folded" : "",
                         st->last.written_pages * PAGEMAP_PAGE_BYTES / MIB,
                         st->last.present_pages * PAGEMAP_PAGE_BYTES / MIB,
                         st->last.swapped_pages * PAGEMAP_PAGE_BYTES / MIB, st->clears, conflicts ?: "");
}

const TrackerOps tracker_softdirty_ops = {
        .kind = TRACKER_SOFTDIRTY,
        .name = "softdirty",
        .probe = softdirty_probe,
        .init = softdirty_init,
        .cleanup = softdirty_cleanup,
        .target_add = softdirty_target_add,
        .target_remove = softdirty_target_remove,
        .prepare_access_checks = softdirty_prepare,
        .check_accesses = softdirty_check,
        .target_valid = softdirty_target_valid,
        .describe_target = softdirty_describe_target,
};
