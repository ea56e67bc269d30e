/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The idle_pages tracker against a fake kernel: read() and lseek() are wrapped at link time
 * (-Wl,--wrap=read,--wrap=lseek64: lseek is lseek64 with
 * _FILE_OFFSET_BITS=64) and, for the fixture's /proc/PID/idle_pages file, emulate the
 * ABI of kernel-patches/README.md on a model address space: every read starts with SET_HVA,
 * jumps over gaps between VMAs with SET_HVA, describes every page inside VMAs (PTE or, for
 * aligned huge pages, PMD records), test-and-clears the accessed state, is bounded (bytes and
 * pages per read), and leaves the position after its last record; EOF above the last VMA.
 *
 * Checked: the baseline pass of target_add, accessed runs clipped to the guest RAM range (also
 * for a huge page straddling its end), THP marks from PMD records (and unmarks from PTE ones),
 * bounded reads continuing at the position, reads sized to the range (at most 4096 bytes), a gap
 * inside the range, bits cleared by reading, what the last read of a range reports of the next
 * one counted there, no liveness read on the normal path, and -ESRCH for a vanished process (an
 * empty read, then the stat file gone).
 */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "vtism/heatmap.h"
#include "vtism/idle-pages-format.h"
#include "vtism/log.h"
#include "vtism/tracker.h"
#include "vtism/util.h"

#define PID 4343
#define START_TIME 777ULL
#define BASE UINT64_C(0x10000000)
#define SPACE_PAGES 16384u                       /* 64 MiB modelled */
#define GAP_START (BASE + 16 * MIB)              /* no VMA in [16 MiB, 18 MiB) */
#define GAP_END (BASE + 18 * MIB)
#define THP_START (BASE + 32 * MIB)              /* [32 MiB, 36 MiB): two PMD-mapped huge pages */
#define THP_END (BASE + 36 * MIB)
#define MODEL_END (BASE + (uint64_t) SPACE_PAGES * 4096)
#define TASK_END (UINT64_C(1) << 47)

enum { HOLE, IDLE, ACCESSED };

ssize_t __real_read(int fd, void *buf, size_t n);
off64_t __real_lseek64(int fd, off64_t offset, int whence);
ssize_t __wrap_read(int fd, void *buf, size_t n);
off64_t __wrap_lseek64(int fd, off64_t offset, int whence);

static uint8_t state[SPACE_PAGES];
static uint64_t fake_pos;
static dev_t fake_dev;
static ino_t fake_ino;
static unsigned n_reads;
static size_t max_read_bytes;
static bool fake_exited;                          /* reads return 0, as once the mm is gone */
static char root[] = "/tmp/test-tracker-idle-pages.XXXXXX";

static bool is_fake(int fd) {
        struct stat st;

        return fake_ino != 0 && fstat(fd, &st) == 0 && st.st_dev == fake_dev && st.st_ino == fake_ino;
}

static bool in_vma(uint64_t a) {
        return a >= BASE && a < BASE + (uint64_t) SPACE_PAGES * 4096 && !(a >= GAP_START && a < GAP_END);
}

static uint8_t *page_state(uint64_t a) {
        return &state[(a - BASE) / 4096];
}

static void put_set_hva(uint8_t *buf, size_t *n, uint64_t a) {
        buf[(*n)++] = IDLE_PAGES_CMD_SET_HVA;
        for (int i = 7; i >= 0; i--)
                buf[(*n)++] = (uint8_t) (a >> (i * 8));
}

off64_t __wrap_lseek64(int fd, off64_t offset, int whence) {
        if (!is_fake(fd))
                return __real_lseek64(fd, offset, whence);
        if (whence == SEEK_SET)
                fake_pos = (uint64_t) offset;
        else if (whence == SEEK_CUR)
                fake_pos += (uint64_t) offset;
        else {
                errno = EINVAL;
                return -1;
        }
        return (off64_t) fake_pos;
}

/* The first address at or above a that lies in a VMA of the model; 0 if none. */
static uint64_t next_vma_addr(uint64_t a) {
        if (a < BASE)
                a = BASE;
        if (a >= GAP_START && a < GAP_END)
                a = GAP_END;
        return a < MODEL_END ? a : 0;
}

/*
 * The kernel's read: it covers at most count × 8 pages from the position's page (the bound) and
 * count bytes; one record per 4 KiB page (the kernel merges runs, decoders must not care), one
 * PMD record per huge page of [THP_START, THP_END) reported whole. A huge page is cleared only by
 * the read that reports its last page; a read that has reported something stops before a huge
 * page it cannot report to its end; a fresh one reports what it can with the state tested, not
 * cleared. The position afterwards: the bound if the read covered its range, else the address
 * after its last record; a read with nothing below its bound is a lone SET_HVA to where the next
 * VMA starts.
 */
ssize_t __wrap_read(int fd, void *p, size_t count) {
        uint8_t *buf = p;
        uint64_t start = fake_pos & ~UINT64_C(4095), bound, a;
        size_t n = 0;
        bool emitted = false;

        if (!is_fake(fd))
                return __real_read(fd, p, count);
        if (count < 10) {
                errno = EINVAL;
                return -1;
        }
        n_reads++;
        if (fake_exited)
                return 0;
        bound = start + (uint64_t) count * 8 * 4096;
        max_read_bytes = MAX(max_read_bytes, count);
        a = next_vma_addr(start);
        if (!a) {
                fake_pos = TASK_END;
                return 0;
        }
        if (a >= bound) {
                put_set_hva(buf, &n, a);
                fake_pos = a;
                return (ssize_t) n;
        }
        put_set_hva(buf, &n, a);
        while (a < bound) {
                if (!in_vma(a)) {
                        uint64_t next = next_vma_addr(a);

                        if (!next || next >= bound)
                                break;
                        if (n + 10 > count) {
                                fake_pos = a;
                                return (ssize_t) n;
                        }
                        a = next;
                        put_set_hva(buf, &n, a);
                        continue;
                }
                if (a >= THP_START && a < THP_END) {
                        uint64_t h = a & ~(2 * MIB - 1), hend = h + 2 * MIB, reach = MIN(hend, bound);
                        size_t need = a == h && reach == hend ? 1 : DIV_ROUND_UP((reach - a) / 4096, 15u);
                        uint8_t *s = page_state(h);
                        bool acc = false;

                        for (unsigned i = 0; i < 512; i++)
                                acc = acc || s[i] == ACCESSED;
                        if (a != h)
                                need = (reach - a) / 4096; /* one record per page here */
                        if (reach == hend && n + need <= count) {
                                for (unsigned i = 0; i < 512; i++)
                                        s[i] = IDLE;
                                if (a == h) {
                                        buf[n++] = IDLE_PAGES_RECORD(acc ? IDLE_PAGES_PMD_ACCESSED : IDLE_PAGES_PMD_IDLE, 1);
                                        a = hend;
                                } else {
                                        for (; a < hend; a += 4096)
                                                buf[n++] = IDLE_PAGES_RECORD(acc ? IDLE_PAGES_PTE_ACCESSED : IDLE_PAGES_PTE_IDLE, 1);
                                }
                                emitted = true;
                                continue;
                        }
                        if (emitted) {
                                fake_pos = a;
                                return (ssize_t) n;
                        }
                        for (; a < reach && n < count; a += 4096)
                                buf[n++] = IDLE_PAGES_RECORD(acc ? IDLE_PAGES_PTE_ACCESSED : IDLE_PAGES_PTE_IDLE, 1);
                        fake_pos = a;
                        return (ssize_t) n;
                }
                if (n >= count) {
                        fake_pos = a;
                        return (ssize_t) n;
                }
                {
                        uint8_t *s = page_state(a);
                        IdlePagesType t = *s == HOLE ? IDLE_PAGES_PTE_HOLE :
                                          *s == ACCESSED ? IDLE_PAGES_PTE_ACCESSED : IDLE_PAGES_PTE_IDLE;

                        if (*s == ACCESSED)
                                *s = IDLE;
                        buf[n++] = IDLE_PAGES_RECORD(t, 1);
                        a += 4096;
                        emitted = true;
                }
        }
        fake_pos = bound;
        return (ssize_t) n;
}

static void write_file(const char *path, const char *s) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        check(fd >= 0);
        check(write(fd, s, strlen(s)) == (ssize_t) strlen(s));
        close(fd);
}

static void access_range(uint64_t from, uint64_t to) {
        for (uint64_t a = from; a < to; a += 4096)
                if (in_vma(a) && *page_state(a) != HOLE)
                        *page_state(a) = ACCESSED;
}

static unsigned heat_of(HeatMap *h, uint64_t hva) {
        uint8_t heat;

        check_int(heatmap_heat_hva(h, hva, &heat), 0);
        return heat;
}

int main(void) {
        _cleanup_(heatmap_freep) HeatMap *h = NULL;
        _cleanup_(tracker_freep) Tracker *t = NULL;
        _cleanup_free_ char *proc = NULL, *piddir = NULL, *self = NULL, *path = NULL, *stat_path = NULL;
        _cleanup_free_ char *reason = NULL, *statline = NULL;
        /* guest RAM: [4 MiB, 35 MiB) of the model: starts inside VMA 1, spans the gap, ends inside
         * the second huge page */
        HeatRangeSpec range = { .gpa = 0, .hva = BASE + 4 * MIB, .len_bytes = 31 * MIB };
        TrackerTarget target = { .pid = PID, .start_time = START_TIME, .ranges = &range, .n_ranges = 1 };
        TrackerContext ctx;
        HeatParams params;
        struct stat st;

        log_set_max_level(LOG_DEBUG);
        check(mkdtemp(root));
        proc = xasprintf("%s/proc", root);
        piddir = xasprintf("%s/%d", proc, PID);
        self = xasprintf("%s/self", proc);
        check(mkdir(proc, 0755) == 0 && mkdir(piddir, 0755) == 0 && mkdir(self, 0755) == 0);

        ctx = (TrackerContext) { .proc_root = proc, .sysfs_root = root };
        check(tracker_idle_pages_ops.probe(&ctx, &reason) < 0);
        check(reason && strstr(reason, "idle_pages"));
        free(reason);
        reason = NULL;

        path = xasprintf("%s/idle_pages", self);
        write_file(path, "");
        check_int(tracker_idle_pages_ops.probe(&ctx, &reason), 0);
        free(path);
        path = xasprintf("%s/idle_pages", piddir);
        write_file(path, "");
        check(stat(path, &st) == 0);
        fake_dev = st.st_dev;
        fake_ino = st.st_ino;
        stat_path = xasprintf("%s/stat", piddir);
        statline = xasprintf("%d (qemu-system-x86) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %llu 0 0\n", PID, START_TIME);
        write_file(stat_path, statline);

        /* Everything present, [8 MiB, 9 MiB) not faulted in, and all of it accessed once. */
        for (unsigned i = 0; i < SPACE_PAGES; i++)
                state[i] = IDLE;
        for (uint64_t a = BASE + 8 * MIB; a < BASE + 9 * MIB; a += 4096)
                *page_state(a) = HOLE;
        access_range(BASE, BASE + (uint64_t) SPACE_PAGES * 4096);

        check_int(tracker_new(&tracker_idle_pages_ops, &ctx, &t), 0);
        check_int(t->ops->target_add(t, &target), 0);   /* baseline: clears the range */
        check(n_reads > 1);                               /* bounded reads, continued */
        check(*page_state(BASE + 4 * MIB) == IDLE);
        check(*page_state(BASE + 34 * MIB) == IDLE);      /* the huge page at the end, as a whole */
        check(*page_state(BASE + 4 * MIB - 4096) == ACCESSED); /* below the range: not read */

        heat_params_init_default(&params);
        check_int(heatmap_new(&range, 1, &params, &h), 0);

        /* A period with nothing accessed in the range: nothing reported. The block at 6 MiB was
         * (wrongly) marked huge: its PTE records unmark it; the PMD-mapped one at 32 MiB is marked;
         * the one at 34 MiB ends past the range (a partial block is never one THP of ours). */
        check_int(heatmap_mark_huge(h, BASE + 6 * MIB, 2 * MIB, true), 0);
        access_range(BASE, BASE + 4 * MIB);
        heatmap_cycle_begin(h);
        check_int(t->ops->check_accesses(t, &target, h), 0);
        check_int(heatmap_cycle_end(h), 0);
        check_int(t->ops->prepare_access_checks(t, &target), 0);
        for (uint64_t a = range.hva; a < range.hva + range.len_bytes; a += 4096)
                check_int(heat_of(h, a), 0);
        for (uint64_t a = BASE + 4 * MIB; a < BASE + 34 * MIB; a += 2 * MIB) {
                HeatBlock b;

                if (a == GAP_START)
                        continue;
                check_int(heatmap_block_hva(h, a, &b), 0);
                check_int(b.huge, a == THP_START);
        }

        /* Accesses: [5 MiB, 5 MiB + 40 KiB), the page before the gap, a hole (stays a hole),
         * the second huge page (its 2 MiB run ends past the range: clipped). */
        access_range(BASE + 5 * MIB, BASE + 5 * MIB + 40 * KIB);
        access_range(GAP_START - 4096, GAP_START);
        access_range(BASE + 8 * MIB, BASE + 9 * MIB);
        access_range(BASE + 34 * MIB + 4096, BASE + 34 * MIB + 8192);
        access_range(BASE + 40 * MIB, BASE + 41 * MIB); /* outside the range */
        n_reads = 0;
        heatmap_cycle_begin(h);
        check_int(t->ops->check_accesses(t, &target, h), 0);
        check_int(heatmap_cycle_end(h), 0);
        check(n_reads > 1);
        for (uint64_t a = range.hva; a < range.hva + range.len_bytes; a += 4096) {
                bool want = (a >= BASE + 5 * MIB && a < BASE + 5 * MIB + 40 * KIB) || a == GAP_START - 4096 ||
                            a >= BASE + 34 * MIB;
                unsigned heat = a >= GAP_START && a < GAP_END ? 0 : heat_of(h, a);

                if (a >= GAP_START && a < GAP_END)
                        continue;
                if ((heat > 0) != want) {
                        fprintf(stderr, "0x%llx: heat %u, expected %s\n", (unsigned long long) a, heat,
                                want ? "accessed" : "idle");
                        return EXIT_FAILURE;
                }
        }
        check_u64(heatmap_stats(h)->unmatched_bytes, 0);
        check_u64(heatmap_stats(h)->out_of_order_bytes, 0);
        /* Reads sized to the range: no further than its end rounded up to 2 MiB (36 MiB), plus
         * less than the 8 pages one byte of a read covers. */
        check(*page_state(BASE + 36 * MIB + 8 * 4096) == ACCESSED);
        check(*page_state(BASE + 40 * MIB) == ACCESSED);
        check(max_read_bytes <= 4096);

        /* Read again at once: cleared by the previous read. */
        heatmap_cycle_begin(h);
        check_int(t->ops->check_accesses(t, &target, h), 0);
        check_int(heatmap_cycle_end(h), 0);
        check_u64(heatmap_stats(h)->sampled_bytes, 40 * KIB + 4096 + 1 * MIB);

        /*
         * Two adjacent ranges, the first ending 100 pages past a 2 MiB boundary: its last read
         * (sized to 22 MiB) reports and clears the head of the second, which must count there.
         */
        {
                _cleanup_(heatmap_freep) HeatMap *h2 = NULL;
                HeatRangeSpec two[2] = {
                        { .gpa = 0, .hva = BASE + 18 * MIB, .len_bytes = 2 * MIB + 100 * 4096 },
                        { .gpa = 64 * MIB, .hva = BASE + 20 * MIB + 100 * 4096, .len_bytes = 6 * MIB - 100 * 4096 },
                };
                TrackerTarget target2 = { .pid = PID, .start_time = START_TIME, .ranges = two, .n_ranges = 2 };
                uint64_t r2_head = two[1].hva, r1_tail = BASE + 20 * MIB;

                check_int(heatmap_new(two, 2, &params, &h2), 0);
                check_int(t->ops->target_add(t, &target2), 0);
                access_range(r1_tail, r1_tail + 10 * 4096);
                access_range(r2_head, r2_head + 50 * 4096);
                access_range(BASE + 25 * MIB, BASE + 25 * MIB + 4096);
                heatmap_cycle_begin(h2);
                check_int(t->ops->check_accesses(t, &target2, h2), 0);
                check_int(heatmap_cycle_end(h2), 0);
                for (size_t k = 0; k < 2; k++)
                        for (uint64_t a = two[k].hva; a < two[k].hva + two[k].len_bytes; a += 4096) {
                                bool want = (a >= r1_tail && a < r1_tail + 10 * 4096) ||
                                            (a >= r2_head && a < r2_head + 50 * 4096) || a == BASE + 25 * MIB;

                                if ((heat_of(h2, a) > 0) != want) {
                                        fprintf(stderr, "two ranges: 0x%llx: heat %u, expected %s\n",
                                                (unsigned long long) a, heat_of(h2, a), want ? "accessed" : "idle");
                                        return EXIT_FAILURE;
                                }
                        }
                check_u64(heatmap_stats(h2)->sampled_bytes, (10 + 50 + 1) * 4096);
                check_u64(heatmap_stats(h2)->out_of_order_bytes, 0);
                check_u64(heatmap_stats(h2)->unmatched_bytes, 0);
                t->ops->target_remove(t, &target2);
        }

        /* The normal path reads no /proc/PID/stat (the manager checks liveness once per cycle):
         * with the stat file gone, a cycle still works; target_valid() is the explicit question. */
        check(unlink(stat_path) == 0);
        check(!t->ops->target_valid(t, &target));
        heatmap_cycle_begin(h);
        check_int(t->ops->check_accesses(t, &target, h), 0);
        check_int(heatmap_cycle_end(h), 0);
        check_int(t->ops->prepare_access_checks(t, &target), 0);

        /* An empty read where records were due: the mm is gone. Only now the tracker asks. */
        fake_exited = true;
        heatmap_cycle_begin(h);
        check_int(t->ops->check_accesses(t, &target, h), -ESRCH);
        heatmap_cycle_end(h);
        /* The same from a process that still runs: an error, not "gone". */
        write_file(stat_path, statline);
        heatmap_cycle_begin(h);
        check_int(t->ops->check_accesses(t, &target, h), -EIO);
        heatmap_cycle_end(h);
        fake_exited = false;
        heatmap_cycle_begin(h);
        check_int(t->ops->check_accesses(t, &target, h), 0); /* reopened */
        heatmap_cycle_end(h);
        t->ops->target_remove(t, &target);

        {
                _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", root);
                check(system(cmd) == 0);
        }
        printf("test-tracker-idle-pages: OK\n");
        return EXIT_SUCCESS;
}
