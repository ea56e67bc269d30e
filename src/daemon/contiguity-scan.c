/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest RAM -> host-physical layout of one VM, from its QEMU process's pagemap; the sources and
 * rules are in include/vtism/contiguity-scan.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vtism/contiguity-scan.h"
#include "vtism/proc-pid.h"
#include "vtism/tracker.h"
#include "vtism/util.h"

#define PAGE_BYTES UINT64_C(4096)
#define BATCH_BYTES ((uint64_t) CONTIG_SCAN_BATCH_PAGES * PAGE_BYTES)
#define WINDOW_2M (UINT64_C(2) << 20)
#define WINDOW_1G (UINT64_C(1) << 30)
#define PAGES_2M (WINDOW_2M / PAGE_BYTES)
#define PAGES_1G (WINDOW_1G / PAGE_BYTES)
#define WINDOWS_PER_BATCH (BATCH_BYTES / WINDOW_2M)
/* Every allowed batch size (a power of two in [MIN, MAX] pages) is a multiple of 2 MiB that
 * divides 1 GiB, and holds a 1 GiB head and its page 512. */
assert_cc(BATCH_BYTES % WINDOW_2M == 0 && WINDOW_1G % BATCH_BYTES == 0);
assert_cc(CONTIG_SCAN_BATCH_PAGES_MIN > PAGES_2M && CONTIG_SCAN_BATCH_PAGES_MIN <= CONTIG_SCAN_BATCH_PAGES);

/* /proc/PID/pagemap entries (Documentation/admin-guide/mm/pagemap.rst) */
#define PM_PRESENT (UINT64_C(1) << 63)
#define PM_PFN_MASK ((UINT64_C(1) << 55) - 1)

/* /proc/kpageflags bits (include/uapi/linux/kernel-page-flags.h) */
#define KPF_COMPOUND_HEAD (UINT64_C(1) << 15)
#define KPF_COMPOUND_TAIL (UINT64_C(1) << 16)
#define KPF_HUGE (UINT64_C(1) << 17)
#define KPF_THP (UINT64_C(1) << 22)
#define KPF_ZERO_PAGE (UINT64_C(1) << 24)

/* PAGEMAP_SCAN (Linux 6.7, include/uapi/linux/fs.h); Debian 12's headers predate it. */
#define VT_PAGEMAP_SCAN _IOWR('f', 16, struct vt_pm_scan_arg)
#define VT_PAGE_IS_HUGE (UINT64_C(1) << 6)

struct vt_page_region {
        uint64_t start, end, categories;
};

struct vt_pm_scan_arg {
        uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
        uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};

#define SCAN_REGIONS 64

struct ContiguityScan {
        char *proc_root;
        pid_t pid;
        unsigned long long start_time;
        int pagemap_fd, kpageflags_fd;
        MemoryBlocks *blocks;
        Contiguity *contig;

        uint64_t batch_bytes;           /* CONTIG_SCAN_BATCH_PAGES by default */
        HeatRangeSpec *ranges;          /* by gpa */
        size_t n_ranges, range_index;
        uint64_t range_off;             /* bytes of ranges[range_index] done */
        uint64_t total_pages, done_pages;

        /* the 1 GiB hugetlb window found at its head, if any */
        bool g1_valid;
        uint64_t g1_hva, g1_pfn;

        int pmd_scan;                   /* PAGEMAP_SCAN: 1 works, 0 not tried yet, -1 not there */

        uint64_t entries[CONTIG_SCAN_BATCH_PAGES];
        uint64_t flags[CONTIG_SCAN_BATCH_PAGES];
        ContigMapping mapping[CONTIG_SCAN_BATCH_PAGES];
        bool zero[CONTIG_SCAN_BATCH_PAGES];
        bool window_pmd[WINDOWS_PER_BATCH];     /* 2 MiB window mapped huge (PAGEMAP_SCAN) */
        ContigPage pages[CONTIG_SCAN_BATCH_PAGES];
        struct vt_page_region regions[SCAN_REGIONS];

        ContiguityScanStats stats;
        bool failed, finished;
};

ContiguityScan *contiguity_scan_free(ContiguityScan *s) {
        if (!s)
                return NULL;
        if (s->pagemap_fd >= 0)
                (void) close(s->pagemap_fd);
        if (s->kpageflags_fd >= 0)
                (void) close(s->kpageflags_fd);
        memory_blocks_free(s->blocks);
        contiguity_free(s->contig);
        free(s->ranges);
        free(s->proc_root);
        free(s);
        return NULL;
}

static int cmp_range_gpa(const void *a, const void *b) {
        const HeatRangeSpec *x = a, *y = b;
        return (x->gpa > y->gpa) - (x->gpa < y->gpa);
}

static int open_below(const char *root, const char *path, int *ret_fd) {
        _cleanup_free_ char *full = xasprintf("%s/%s", root, path);
        int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY);

        if (fd < 0)
                return negative_errno();
        *ret_fd = fd;
        return 0;
}

/* The pid is still the process we were asked about (or start_time was not given). */
static int check_same_process(const ContiguityScan *s) {
        unsigned long long now;
        int r;

        if (s->start_time == 0)
                return 0;
        r = proc_pid_start_time(s->proc_root, s->pid, &now);
        if (r < 0)
                return -ESRCH;
        return now == s->start_time ? 0 : -ESRCH;
}

/* After pagemap read nothing: is the process gone, or as good as gone? A zombie or an exiting
 * process (past exit_mm() its pagemap reads empty while its stat is still there), or the pid now
 * another process's, counts as gone: proc_pid_check(). */
static bool process_gone(const ContiguityScan *s) {
        ProcPidStat st;
        int r;

        r = proc_pid_stat(s->proc_root, s->pid, &st);
        if (r < 0)
                return r == -ESRCH;
        /* start time 0: not known when the scan began, any process at that pid is it */
        return proc_pid_stat_check(&st, s->start_time ?: st.start_time) == -ESRCH;
}

int contiguity_scan_new(const char *proc_root, const char *sysfs_root, pid_t pid, unsigned long long start_time,
                        const HeatRangeSpec *ranges, size_t n_ranges, const ContigParams *params,
                        ContiguityScan **ret) {
        _cleanup_(contiguity_scan_freep) ContiguityScan *s = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        if (!proc_root || !sysfs_root || pid <= 0 || (n_ranges > 0 && !ranges) || !ret)
                return -EINVAL;

        s = xcalloc(1, sizeof(ContiguityScan));
        s->pagemap_fd = s->kpageflags_fd = -EBADF;
        s->proc_root = xstrdup(proc_root);
        s->pid = pid;
        s->start_time = start_time;
        s->batch_bytes = BATCH_BYTES;

        s->ranges = xcalloc(n_ranges, sizeof(HeatRangeSpec));
        memcpy(s->ranges, ranges, n_ranges * sizeof(HeatRangeSpec));
        s->n_ranges = n_ranges;
        qsort(s->ranges, n_ranges, sizeof(HeatRangeSpec), cmp_range_gpa);
        for (size_t i = 0; i < n_ranges; i++) {
                const HeatRangeSpec *g = &s->ranges[i];

                if (g->len_bytes == 0 || (g->gpa | g->hva | g->len_bytes) % PAGE_BYTES != 0 ||
                    g->gpa > UINT64_MAX - g->len_bytes || g->hva > UINT64_MAX - g->len_bytes)
                        return -EINVAL;
                if (i > 0 && s->ranges[i - 1].gpa + s->ranges[i - 1].len_bytes > g->gpa)
                        return -EINVAL;
                s->total_pages += g->len_bytes / PAGE_BYTES;
        }

        r = contiguity_new(params, &s->contig);
        if (r < 0)
                return r;

        path = xasprintf("%d/pagemap", (int) pid);
        r = open_below(proc_root, path, &s->pagemap_fd);
        if (r == -ENOENT)
                return -ESRCH;
        if (r < 0)
                return r;
        /* Opened after the check would let a reused pid slip in; checked after the open, the file
         * we hold belongs to the process with that start time. */
        r = check_same_process(s);
        if (r < 0)
                return r;

        r = open_below(proc_root, "kpageflags", &s->kpageflags_fd);
        if (r < 0)
                return r;

        r = memory_blocks_load(sysfs_root, proc_root, &s->blocks);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(s);
        return 0;
}

/* pread until n bytes or end of file; the bytes read. */
static ssize_t scan_pread(int fd, void *buf, size_t n, uint64_t offset) {
        size_t done = 0;

        while (done < n) {
                ssize_t k = pread(fd, (uint8_t *) buf + done, n - done, (off_t) (offset + done));

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                done += (size_t) k;
        }
        return (ssize_t) done;
}

static int read_flags(ContiguityScan *s, uint64_t pfn, uint64_t *flags, size_t n) {
        ssize_t k;

        if (pfn > UINT64_MAX / 8 - n)
                return -EIO;
        k = scan_pread(s->kpageflags_fd, flags, n * sizeof(uint64_t), pfn * sizeof(uint64_t));
        if (k < 0)
                return (int) k;
        s->stats.kpageflags_reads++;
        s->stats.kpageflags_pages += n;
        return (size_t) k == n * sizeof(uint64_t) ? 0 : -EIO;
}

static bool present(uint64_t e) {
        return (e & PM_PRESENT) != 0;
}

static uint64_t pfn_of(uint64_t e) {
        return e & PM_PFN_MASK;
}

/*
 * Which 2 MiB windows of [hva, hva + n pages) are mapped huge, per PAGEMAP_SCAN. Sets
 * s->pmd_scan to -1 (and leaves window_pmd alone) when the file does not do the ioctl.
 */
static int scan_pmd_mapped(ContiguityScan *s, uint64_t hva, size_t n) {
        uint64_t end = hva + n * PAGE_BYTES, pos = hva;

        memset(s->window_pmd, 0, sizeof(s->window_pmd));
        while (pos < end) {
                struct vt_pm_scan_arg a = {
                        .size = sizeof(a),
                        .start = pos,
                        .end = end,
                        .vec = (uint64_t) (uintptr_t) s->regions,
                        .vec_len = SCAN_REGIONS,
                        .category_anyof_mask = VT_PAGE_IS_HUGE,
                        .return_mask = VT_PAGE_IS_HUGE,
                };
                long k = ioctl(s->pagemap_fd, VT_PAGEMAP_SCAN, &a);

                if (k < 0) {
                        if (s->pmd_scan == 0 && (errno == ENOTTY || errno == EINVAL || errno == EOPNOTSUPP)) {
                                s->pmd_scan = -1;
                                return 0;
                        }
                        return negative_errno();
                }
                s->pmd_scan = 1;
                for (long i = 0; i < k && i < SCAN_REGIONS; i++) {
                        uint64_t a0 = MAX(s->regions[i].start, hva), a1 = MIN(s->regions[i].end, end);

                        /* windows wholly inside the region */
                        for (uint64_t w = DIV_ROUND_UP(a0 - hva, WINDOW_2M); (w + 1) * WINDOW_2M <= a1 - hva; w++)
                                s->window_pmd[w] = true;
                }
                if (a.walk_end <= pos)
                        break;
                pos = a.walk_end;
        }
        return 0;
}

/* Is the 2 MiB window starting at entry i one huge folio? Sets *ret_kind. */
static int classify_2m(ContiguityScan *s, size_t i, size_t n, bool *ret_huge, bool *ret_hugetlb, bool *ret_zero) {
        uint64_t head = s->entries[i], hf = s->flags[i], p0, kind;

        *ret_huge = false;
        if (!present(head) || !(hf & KPF_COMPOUND_HEAD) || !(hf & (KPF_THP | KPF_HUGE)))
                return 0;
        p0 = pfn_of(head);
        if (p0 % PAGES_2M != 0)
                return 0;
        kind = hf & (KPF_THP | KPF_HUGE);
        for (size_t k = 1; k < PAGES_2M; k++) {
                uint64_t e = s->entries[i + k], f = s->flags[i + k];

                if (!present(e) || pfn_of(e) != p0 + k || !(f & KPF_COMPOUND_TAIL) || (f & (KPF_THP | KPF_HUGE)) != kind)
                        return 0;
        }
        if (kind & KPF_HUGE) {
                /* A 2 MiB piece of a bigger (1 GiB) hugetlb folio is no 2 MiB mapping. */
                uint64_t next;
                int r;

                if (i + PAGES_2M < n && present(s->entries[i + PAGES_2M]) && pfn_of(s->entries[i + PAGES_2M]) == p0 + PAGES_2M)
                        next = s->flags[i + PAGES_2M];
                else {
                        r = read_flags(s, p0 + PAGES_2M, &next, 1);
                        if (r < 0)
                                return r;
                }
                if (next & KPF_COMPOUND_TAIL)
                        return 0;
        }
        *ret_huge = true;
        *ret_hugetlb = (kind & KPF_HUGE) != 0;
        *ret_zero = (hf & KPF_ZERO_PAGE) != 0;
        return 0;
}

static int scan_batch(ContiguityScan *s) {
        const HeatRangeSpec *g = &s->ranges[s->range_index];
        uint64_t hva = g->hva + s->range_off, range_end = g->hva + g->len_bytes;
        uint64_t end = MIN(range_end, (hva / s->batch_bytes + 1) * s->batch_bytes);
        size_t n = (size_t) ((end - hva) / PAGE_BYTES);
        ssize_t got;
        int r;

        /* 1. pagemap */
        got = scan_pread(s->pagemap_fd, s->entries, n * sizeof(uint64_t), hva / PAGE_BYTES * sizeof(uint64_t));
        if (got < 0)
                return (int) got;
        s->stats.pagemap_reads++;
        if ((size_t) got != n * sizeof(uint64_t))
                /* pagemap reads nothing for a process whose mm is gone, and stops at the end of
                 * the address space. */
                return got == 0 && process_gone(s) ? -ESRCH : -ERANGE;
        s->stats.pages += n;

        /* 2. kpageflags, one read per run of consecutive pfns */
        memset(s->flags, 0, n * sizeof(uint64_t));
        for (size_t i = 0; i < n;) {
                size_t j = i + 1;

                if (!present(s->entries[i])) {
                        i++;
                        continue;
                }
                if (pfn_of(s->entries[i]) == 0)
                        return -EPERM; /* pfns are hidden from us: not CAP_SYS_ADMIN */
                while (j < n && present(s->entries[j]) && pfn_of(s->entries[j]) == pfn_of(s->entries[i]) + (j - i))
                        j++;
                r = read_flags(s, pfn_of(s->entries[i]), s->flags + i, j - i);
                if (r < 0)
                        return r;
                i = j;
        }

        /* 3. which windows the kernel maps huge */
        if (s->pmd_scan >= 0) {
                r = scan_pmd_mapped(s, hva, n);
                if (r < 0)
                        return r;
        }

        /* 4. mapping sizes */
        for (size_t i = 0; i < n; i++) {
                s->mapping[i] = CONTIG_MAP_4K;
                s->zero[i] = present(s->entries[i]) && (s->flags[i] & KPF_ZERO_PAGE);
        }
        for (uint64_t w = (hva + WINDOW_2M - 1) / WINDOW_2M * WINDOW_2M; w + WINDOW_2M <= end; w += WINDOW_2M) {
                size_t i = (size_t) ((w - hva) / PAGE_BYTES);
                bool pmd = s->pmd_scan <= 0 || s->window_pmd[(w - hva) / WINDOW_2M];
                bool huge, hugetlb = false, zero = false;

                /* A 1 GiB window starts at a batch start: its head and page 512 are here. */
                if (w % WINDOW_1G == 0) {
                        s->g1_valid = false;
                        if (w >= g->hva && w + WINDOW_1G <= range_end && present(s->entries[i]) &&
                            (s->flags[i] & (KPF_COMPOUND_HEAD | KPF_HUGE)) == (KPF_COMPOUND_HEAD | KPF_HUGE) &&
                            pfn_of(s->entries[i]) % PAGES_1G == 0 && present(s->entries[i + PAGES_2M]) &&
                            pfn_of(s->entries[i + PAGES_2M]) == pfn_of(s->entries[i]) + PAGES_2M &&
                            (s->flags[i + PAGES_2M] & (KPF_COMPOUND_TAIL | KPF_HUGE)) == (KPF_COMPOUND_TAIL | KPF_HUGE)) {
                                s->g1_valid = true;
                                s->g1_hva = w;
                                s->g1_pfn = pfn_of(s->entries[i]);
                        }
                }
                if (s->g1_valid && w >= s->g1_hva && w < s->g1_hva + WINDOW_1G) {
                        for (size_t k = 0; k < PAGES_2M; k++) {
                                uint64_t e = s->entries[i + k], f = s->flags[i + k];
                                uint64_t want = s->g1_pfn + (w - s->g1_hva) / PAGE_BYTES + k;

                                if (pmd && present(e) && pfn_of(e) == want && (f & KPF_HUGE) &&
                                    (f & (want == s->g1_pfn ? KPF_COMPOUND_HEAD : KPF_COMPOUND_TAIL)))
                                        s->mapping[i + k] = CONTIG_MAP_1G_HUGETLB;
                        }
                        continue;
                }

                r = classify_2m(s, i, n, &huge, &hugetlb, &zero);
                if (r < 0)
                        return r;
                if (!huge)
                        continue;
                for (size_t k = 0; k < PAGES_2M; k++) {
                        if (zero)
                                s->zero[i + k] = true;
                        else if (pmd)
                                s->mapping[i + k] = hugetlb ? CONTIG_MAP_2M_HUGETLB : CONTIG_MAP_2M_THP;
                }
        }

        /* 5. records */
        for (size_t i = 0; i < n; i++) {
                uint64_t e = s->entries[i];
                ContigPage *p = &s->pages[i];

                *p = (ContigPage) {
                        .gpa = g->gpa + (hva - g->hva) + i * PAGE_BYTES,
                        .node = -1,
                        .state = CONTIG_PAGE_ABSENT,
                };
                if (!present(e))
                        continue;
                if (s->zero[i]) {
                        p->state = CONTIG_PAGE_ZERO;
                        continue;
                }
                p->state = CONTIG_PAGE_PRESENT;
                p->pfn = pfn_of(e);
                p->mapping = s->mapping[i];
                p->node = memory_blocks_node_of_pfn(s->blocks, p->pfn);
                if (p->node < 0)
                        s->stats.unknown_node_pages++;
        }
        r = contiguity_add(s->contig, s->pages, n);
        if (r < 0)
                return r;

        s->done_pages += n;
        s->range_off += n * PAGE_BYTES;
        if (s->range_off >= g->len_bytes) {
                s->range_index++;
                s->range_off = 0;
                s->g1_valid = false;
        }
        return 0;
}

int contiguity_scan_set_batch_pages(ContiguityScan *s, size_t pages) {
        if (!s || pages < CONTIG_SCAN_BATCH_PAGES_MIN || pages > CONTIG_SCAN_BATCH_PAGES || (pages & (pages - 1)) != 0)
                return -EINVAL;
        s->batch_bytes = (uint64_t) pages * PAGE_BYTES;
        return 0;
}

int contiguity_scan_step(ContiguityScan *s, uint64_t max_pages) {
        uint64_t start;

        if (!s)
                return -EINVAL;
        if (s->failed || s->finished)
                return -ESTALE;

        start = s->done_pages;
        while (s->range_index < s->n_ranges) {
                int r = scan_batch(s);

                if (r < 0) {
                        s->failed = true;
                        return r;
                }
                if (max_pages > 0 && s->done_pages - start >= max_pages)
                        break;
        }
        return s->range_index < s->n_ranges ? 1 : 0;
}

double contiguity_scan_progress(const ContiguityScan *s) {
        if (!s || s->total_pages == 0)
                return 1.0;
        return (double) s->done_pages / (double) s->total_pages;
}

uint64_t contiguity_scan_pages_done(const ContiguityScan *s) {
        return s ? s->done_pages : 0;
}

int contiguity_scan_finish(ContiguityScan *s, ContigSummary *ret, ContiguityScanStats *ret_stats) {
        int r;

        if (!s || !ret)
                return -EINVAL;
        if (s->failed || s->finished)
                return -ESTALE;
        if (s->range_index < s->n_ranges)
                return -EBUSY;
        r = contiguity_finish(s->contig, ret);
        if (r < 0)
                return r;
        s->finished = true;
        s->stats.pmd_mapping_known = s->pmd_scan > 0;
        if (ret_stats)
                *ret_stats = s->stats;
        return 0;
}

int contiguity_scan_vm(const char *proc_root, const char *sysfs_root, pid_t pid, unsigned long long start_time,
                       const HeatRangeSpec *ranges, size_t n_ranges, const ContigParams *params,
                       ContigSummary *ret, ContiguityScanStats *ret_stats) {
        _cleanup_(contiguity_scan_freep) ContiguityScan *s = NULL;
        int r;

        r = contiguity_scan_new(proc_root, sysfs_root, pid, start_time, ranges, n_ranges, params, &s);
        if (r < 0)
                return r;
        r = contiguity_scan_step(s, 0);
        if (r < 0)
                return r;
        return contiguity_scan_finish(s, ret, ret_stats);
}
