/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * idle-pages-bench: CPU time to find the accessed pages of a memory range and reset them,
 * /proc/PID/idle_pages (kernel-patches/) versus the page_idle bitmap plus the pagemap lookups it
 * needs, versus DAMON (vaddr) monitoring the same range of the same process. Runs as root in the
 * lab on the patched kernel (bench/idle-pages-lab):
 *
 *   idle-pages-bench [--size MIB] [--rounds N] [--thp on|off] [--hot-every N]
 *                    [--damon] [--damon-secs S] [--damon-warmup S] [--damon-sample-us US]
 *                    [--damon-aggr-us US] [--damon-max-regions N]
 *
 * Maps SIZE MiB (default 512) of anonymous memory, touches it, then per round and method:
 * touches every N-th page (default 8), measures the thread CPU time (user + system) of one
 * check-and-reset pass over the range, and counts the accessed pages it found. Prints CPU ms per
 * pass and per GiB and the ratio; times under TCG are only comparable within one run.
 *
 * With --damon (only inside the lab, VTISM_LAB=1: never on a host that runs its own kdamond),
 * it then creates a kdamond of its own through /sys/kernel/mm/damon/admin (one context, vaddr,
 * one target = this process, one initial region = the measured mapping), and for two region
 * settings — DAMON's defaults (10..MAX regions, adaptive) and pinned (MAX..MAX) — lets it
 * monitor for a warm-up and then for a window of S seconds while this process keeps touching
 * every N-th page once per aggregation interval. DAMON's cost is the kdamond thread's CPU time
 * over the window (/proc/PID/schedstat, the same clock as CLOCK_THREAD_CPUTIME_ID; utime+stime
 * of /proc/PID/stat printed as a cross-check). One DAMON "scan" is one aggregation interval: the
 * point at which DAMON hands out a complete access picture of the range, as one idle_pages pass
 * does. The summary shows both per GiB per picture and per GiB per second at the same freshness
 * (one idle_pages/page_idle pass per aggregation interval). DAMON's work is per region and
 * sample, not per page, so its per-GiB cost falls as the range grows.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE_SZ 4096UL
#define PMD_SZ (2UL << 20)

/* A measured range of some process: this one (host-only memory) or a VMM's guest RAM. */
typedef struct Range {
        pid_t pid;
        uintptr_t base;
        size_t len, n_pages;
        int ip_fd, pm_fd;       /* /proc/PID/idle_pages, /proc/PID/pagemap */
        uint64_t *pfns;         /* n_pages, for page_idle */
} Range;

/* The host-only range, in this process. */
static uint8_t *region;
static size_t region_len, n_pages;

static double thread_cpu_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void touch(size_t every) {
        for (size_t i = 0; i < n_pages; i += every)
                region[i * PAGE_SZ] = 1;
}

/* Touch [off, off + len) of the region, every page. */
static void touch_window(size_t off, size_t len) {
        for (size_t o = off; o < off + len && o < region_len; o += PAGE_SZ)
                region[o] = 1;
}

/*
 * One idle_pages pass over the range: returns the accessed 4 KiB pages, or -errno. A read of N
 * bytes covers at most N × 8 pages: each read is sized to end at the range's end (plus less than
 * 8 pages), so that the pass measures the range and nothing beyond it.
 */
static long pass_idle_pages(const Range *rg) {
        static uint8_t buf[1 << 16];
        uintptr_t base = rg->base, end = base + rg->len, pos = base;
        int fd = rg->ip_fd;
        long accessed = 0;

        if (lseek(fd, (off_t) base, SEEK_SET) < 0)
                return -errno;
        while (pos < end) {
                size_t want = ((end - (pos & ~(PAGE_SZ - 1))) / PAGE_SZ + 7) / 8;
                ssize_t n = read(fd, buf, want < 10 ? 10 : want > sizeof(buf) ? sizeof(buf) : want);
                uintptr_t addr = 0;

                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                for (ssize_t i = 0; i < n; i++) {
                        unsigned c = buf[i], type = c >> 4, count = c & 15;
                        size_t unit = (type == 1 || type == 6 || type == 9) ? PMD_SZ : PAGE_SZ;

                        if (c == 0xa0) {
                                addr = 0;
                                for (int k = 1; k <= 8; k++)
                                        addr = addr << 8 | buf[i + k];
                                i += 8;
                                continue;
                        }
                        for (unsigned k = 0; k < count; k++, addr += unit)
                                if ((type == 0 || type == 1) && addr >= base && addr < end)
                                        accessed += unit / PAGE_SZ;
                }
                pos = (uintptr_t) lseek(fd, 0, SEEK_CUR);
        }
        return accessed;
}

/*
 * The bitmap is a sysfs binary file: at most a page per read()/write(). It ends at max_pfn and
 * the kernel drops a last partial 64-bit word, so a read may come back short or empty near the
 * top of memory: the words it did not return read as 0 (not idle, i.e. counted as accessed —
 * at most 63 pages that page_idle cannot report), and writes there are dropped.
 */
static int bitmap_io(int fd, uint64_t *words, size_t nw, size_t w0, bool wr) {
        for (size_t done = 0; done < nw * 8;) {
                size_t len = nw * 8 - done < 4096 ? nw * 8 - done : 4096;
                ssize_t n = wr ? pwrite(fd, (uint8_t *) words + done, len, (off_t) (w0 * 8 + done))
                               : pread(fd, (uint8_t *) words + done, len, (off_t) (w0 * 8 + done));
                if (n < 0)
                        return -errno;
                if (n == 0) {
                        if (!wr)
                                memset((uint8_t *) words + done, 0, nw * 8 - done);
                        break;
                }
                done += (size_t) n;
        }
        return 0;
}

/*
 * One page_idle pass: pagemap to get the PFNs, read the idle bits of the bitmap words holding
 * them (a clear bit = accessed since marked idle), then write them back with our pages' bits set
 * to mark them idle again. Reads and writes cover the contiguous word range in page-sized
 * chunks, the most sysfs allows (the best case for page_idle). A THP is tracked by its head
 * page: all its pages take its state.
 */
static long pass_page_idle(const Range *rg, int bm_fd) {
        static uint64_t *words;
        static size_t words_len;
        const size_t chunk = 65536;
        uint64_t min_pfn = UINT64_MAX, max_pfn = 0, *pfns = rg->pfns;
        size_t np = rg->n_pages;
        long accessed = 0;

        for (size_t i = 0; i < np; i += chunk) {
                size_t n = np - i < chunk ? np - i : chunk;
                off_t off = (off_t) ((rg->base / PAGE_SZ + i) * 8);

                if (pread(rg->pm_fd, pfns + i, n * 8, off) != (ssize_t) (n * 8))
                        return -EIO;
        }
        for (size_t i = 0; i < np; i++) {
                if (!(pfns[i] >> 63)) {
                        pfns[i] = UINT64_MAX;
                        continue;
                }
                pfns[i] &= (UINT64_C(1) << 55) - 1;
                if (pfns[i] < min_pfn)
                        min_pfn = pfns[i];
                if (pfns[i] > max_pfn)
                        max_pfn = pfns[i];
        }
        if (min_pfn > max_pfn)
                return 0;

        size_t w0 = min_pfn / 64, nw = max_pfn / 64 - w0 + 1;
        if (nw > words_len) {
                free(words);
                words = malloc(nw * 8);
                if (!words)
                        return -ENOMEM;
                words_len = nw;
        }
        if (bitmap_io(bm_fd, words, nw, w0, false) < 0)
                return -EIO;
        for (size_t i = 0; i < np; i++)
                if (pfns[i] != UINT64_MAX && !(words[pfns[i] / 64 - w0] >> (pfns[i] % 64) & 1))
                        accessed++;
        memset(words, 0, nw * 8);
        for (size_t i = 0; i < np; i++)
                if (pfns[i] != UINT64_MAX)
                        words[pfns[i] / 64 - w0] |= UINT64_C(1) << (pfns[i] % 64);
        if (bitmap_io(bm_fd, words, nw, w0, true) < 0)
                return -EIO;
        return accessed;
}

/*
 * DAMON through its sysfs interface. Only kdamond 0 is used, and only if no kdamond was configured
 * before (nr_kdamonds was 0): writing nr_kdamonds would tear down somebody else's.
 */
#define DAMON_KDAMONDS "/sys/kernel/mm/damon/admin/kdamonds"
#define DAMON_KD DAMON_KDAMONDS "/0"
#define DAMON_CTX DAMON_KD "/contexts/0"
#define DAMON_SCHEME DAMON_CTX "/schemes/0"

typedef struct DamonRun {
        unsigned long min_regions, max_regions;
        double cpu_ms;          /* kdamond sum_exec_runtime over the window */
        double tick_ms;         /* kdamond utime+stime over the window */
        double window_s;
        double avg_regions;     /* from the stat scheme's nr_tried */
        unsigned long snap_regions;
        bool snap_inside;       /* every region of the snapshot lies inside the mapping */
} DamonRun;

static int write_file(const char *path, const char *value) {
        /* DAMON's state file answers EBUSY while another command is in flight: retry a while. */
        for (int tries = 0;; tries++) {
                int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

                if (fd < 0)
                        return -errno;
                if (write(fd, value, strlen(value)) < 0)
                        r = -errno;
                close(fd);
                if (r != -EBUSY || tries >= 300)
                        return r;
                usleep(10000);
        }
}

static int damon_set(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int damon_set(const char *path, const char *fmt, ...) {
        char value[64];
        va_list ap;
        int r;

        va_start(ap, fmt);
        vsnprintf(value, sizeof(value), fmt, ap);
        va_end(ap);
        r = write_file(path, value);
        if (r < 0)
                fprintf(stderr, "DAMON: writing '%s' to %s: %s\n", value, path, strerror(-r));
        return r;
}

static int read_ul(const char *path, unsigned long *ret) {
        char buf[64];
        ssize_t n;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return n < 0 ? -errno : -EIO;
        buf[n] = 0;
        errno = 0;
        *ret = strtoul(buf, NULL, 0);
        return errno ? -errno : 0;
}

/* CPU time of a (kernel) thread: sum_exec_runtime from schedstat, utime+stime from stat. */
static int task_cpu_ms(pid_t pid, double *sched_ms, double *tick_ms) {
        unsigned long long run_ns;
        unsigned long utime, stime;
        char path[64], buf[1024], *p;
        ssize_t n;
        FILE *f;
        int fd;

        snprintf(path, sizeof(path), "/proc/%d/schedstat", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        if (fscanf(f, "%llu", &run_ns) != 1) {
                fclose(f);
                return -EIO;
        }
        fclose(f);

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return -EIO;
        buf[n] = 0;
        p = strrchr(buf, ')');  /* the command name may hold anything */
        if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                         &utime, &stime) != 2)
                return -EIO;

        *sched_ms = run_ns / 1e6;
        *tick_ms = (utime + stime) * 1e3 / sysconf(_SC_CLK_TCK);
        return 0;
}

static double mono_s(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Keep the workload alive: touch the hot pages once per aggregation interval, for secs. every 0:
 * nothing to touch (a KVM guest keeps its own hot window busy): just wait.
 */
static void touch_for(double secs, unsigned long aggr_us, size_t every) {
        double end = mono_s() + secs;

        for (double now = mono_s(); now < end; now = mono_s()) {
                double left = end - now, nap = aggr_us / 1e6 < left ? aggr_us / 1e6 : left;

                if (every)
                        touch(every);
                usleep((useconds_t) (nap * 1e6));
        }
}

static void damon_teardown(void) {
        unsigned long pid;

        if (read_ul(DAMON_KD "/pid", &pid) >= 0 && (long) pid > 0)
                (void) write_file(DAMON_KD "/state", "off");
        (void) write_file(DAMON_KDAMONDS "/nr_kdamonds", "0");
}

/* Configure kdamond 0: one vaddr context, the range's process, one region = the range. */
static int damon_setup(const Range *rg, unsigned long sample_us, unsigned long aggr_us) {
        uintptr_t start = rg->base, end = start + rg->len;
        unsigned long nr;
        int r;

        r = read_ul(DAMON_KDAMONDS "/nr_kdamonds", &nr);
        if (r < 0) {
                printf("DAMON: SKIP: no DAMON sysfs interface (%s)\n", strerror(-r));
                return r;
        }
        if (nr != 0) {
                printf("DAMON: SKIP: %lu kdamond(s) already configured by someone else\n", nr);
                return -EBUSY;
        }
        if ((r = damon_set(DAMON_KDAMONDS "/nr_kdamonds", "1")) < 0 ||
            (r = damon_set(DAMON_KD "/contexts/nr_contexts", "1")) < 0 ||
            (r = damon_set(DAMON_CTX "/operations", "vaddr")) < 0 ||
            (r = damon_set(DAMON_CTX "/monitoring_attrs/intervals/sample_us", "%lu", sample_us)) < 0 ||
            (r = damon_set(DAMON_CTX "/monitoring_attrs/intervals/aggr_us", "%lu", aggr_us)) < 0 ||
            /*
             * vaddr replaces the target's regions by the "three regions" of its whole address
             * space at every ops update: keep that from happening while we measure, or DAMON
             * would monitor our stack and libraries too.
             */
            (r = damon_set(DAMON_CTX "/monitoring_attrs/intervals/update_us", "%lu", 3600UL * 1000000)) < 0 ||
            (r = damon_set(DAMON_CTX "/targets/nr_targets", "1")) < 0 ||
            (r = damon_set(DAMON_CTX "/targets/0/pid_target", "%d", (int) rg->pid)) < 0 ||
            (r = damon_set(DAMON_CTX "/targets/0/regions/nr_regions", "1")) < 0 ||
            (r = damon_set(DAMON_CTX "/targets/0/regions/0/start", "%lu", (unsigned long) start)) < 0 ||
            (r = damon_set(DAMON_CTX "/targets/0/regions/0/end", "%lu", (unsigned long) end)) < 0 ||
            /*
             * A "stat" scheme that matches every region (the bounds default to 0..0, so set them
             * all): its nr_tried counts regions per aggregation, and its tried_regions show where
             * DAMON's regions are. It does nothing to memory; its cost is one check per region per
             * aggregation, against two page-table walks per region per sample.
             */
            (r = damon_set(DAMON_CTX "/schemes/nr_schemes", "1")) < 0 ||
            (r = damon_set(DAMON_SCHEME "/action", "stat")) < 0 ||
            (r = damon_set(DAMON_SCHEME "/access_pattern/sz/max", "%lu", ULONG_MAX)) < 0 ||
            (r = damon_set(DAMON_SCHEME "/access_pattern/nr_accesses/max", "%u", UINT_MAX)) < 0 ||
            (r = damon_set(DAMON_SCHEME "/access_pattern/age/max", "%u", UINT_MAX)) < 0) {
                damon_teardown();
                return r;
        }
        return 0;
}

/* Count the regions of the last tried_regions snapshot and check they lie in the range. */
static void damon_snapshot(DamonRun *run, const Range *rg) {
        uintptr_t start = rg->base, end = start + rg->len;
        char path[PATH_MAX];
        struct dirent *de;
        DIR *d;

        run->snap_regions = 0;
        run->snap_inside = true;
        d = opendir(DAMON_SCHEME "/tried_regions");
        if (!d) {
                run->snap_inside = false;
                return;
        }
        while ((de = readdir(d))) {
                unsigned long s, e;

                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                snprintf(path, sizeof(path), DAMON_SCHEME "/tried_regions/%s/start", de->d_name);
                if (read_ul(path, &s) < 0)
                        continue;
                snprintf(path, sizeof(path), DAMON_SCHEME "/tried_regions/%s/end", de->d_name);
                if (read_ul(path, &e) < 0)
                        continue;
                run->snap_regions++;
                if (s < start || e > end || s >= e)
                        run->snap_inside = false;
        }
        closedir(d);
}

/* One monitoring run with the given region bounds; kdamond 0 is set up and off. */
static int damon_measure(DamonRun *run, const Range *rg, unsigned long aggr_us, double warmup_s, double window_s,
                         size_t every) {
        double c0, c1, k0, k1, t0, t1;
        unsigned long pid, tried0, tried1;
        int r;

        if ((r = damon_set(DAMON_CTX "/monitoring_attrs/nr_regions/max", "%lu", run->max_regions)) < 0 ||
            (r = damon_set(DAMON_CTX "/monitoring_attrs/nr_regions/min", "%lu", run->min_regions)) < 0 ||
            (r = damon_set(DAMON_KD "/state", "on")) < 0)
                return r;
        r = read_ul(DAMON_KD "/pid", &pid);
        if (r < 0 || (long) pid <= 0) {
                (void) write_file(DAMON_KD "/state", "off");
                return r < 0 ? r : -ESRCH;
        }

        touch_for(warmup_s, aggr_us, every);
        /* Commands run in kdamond's context: issue them outside the measured window. */
        if ((r = damon_set(DAMON_KD "/state", "update_schemes_stats")) < 0 ||
            (r = read_ul(DAMON_SCHEME "/stats/nr_tried", &tried0)) < 0 ||
            (r = task_cpu_ms((pid_t) pid, &c0, &k0)) < 0)
                goto off;
        t0 = mono_s();
        touch_for(window_s, aggr_us, every);
        r = task_cpu_ms((pid_t) pid, &c1, &k1);
        t1 = mono_s();
        if (r < 0)
                goto off;
        if ((r = damon_set(DAMON_KD "/state", "update_schemes_stats")) < 0 ||
            (r = read_ul(DAMON_SCHEME "/stats/nr_tried", &tried1)) < 0 ||
            (r = damon_set(DAMON_KD "/state", "update_schemes_tried_regions")) < 0)
                goto off;

        run->cpu_ms = c1 - c0;
        run->tick_ms = k1 - k0;
        run->window_s = t1 - t0;
        run->avg_regions = (tried1 - tried0) / (run->window_s * 1e6 / aggr_us);
        damon_snapshot(run, rg);
off:
        (void) write_file(DAMON_KD "/state", "off");
        return r;
}

typedef struct DamonOpts {
        unsigned long sample_us, aggr_us, max_regions;
        double secs, warmup;
} DamonOpts;

/*
 * DAMON over a range with both region settings; every: the host-only workload to keep touching
 * (0: a KVM guest that keeps itself busy). Returns 0, or < 0 after printing why (a skip is 1).
 */
static int run_damon(const Range *rg, const DamonOpts *o, size_t every, DamonRun runs[2]) {
        double gib = rg->len / (double) (1UL << 30), per_s = 1e6 / o->aggr_us;
        int r;

        runs[0] = (DamonRun) { .min_regions = 10, .max_regions = o->max_regions };
        runs[1] = (DamonRun) { .min_regions = o->max_regions, .max_regions = o->max_regions };
        if (damon_setup(rg, o->sample_us, o->aggr_us) < 0)
                return 1;
        printf("DAMON vaddr: pid %d, one region = the range, sample %lu us, aggr %lu us, "
               "warm-up %.1f s, window %.1f s, %s\n", (int) rg->pid, o->sample_us, o->aggr_us, o->warmup, o->secs,
               every ? "touching every N-th page once per aggregation" : "the guest touching its hot window");
        for (size_t i = 0; i < 2; i++) {
                DamonRun *run = &runs[i];

                r = damon_measure(run, rg, o->aggr_us, o->warmup, o->secs, every);
                if (r < 0) {
                        printf("DAMON: FAIL: monitoring run failed (%s)\n", strerror(-r));
                        damon_teardown();
                        return r;
                }
                double aggrs = run->window_s * per_s, samples = run->window_s * 1e6 / o->sample_us;
                printf("DAMON %4lu..%lu regions: kdamond %.1f ms CPU in %.2f s (%.1f %% of a CPU; "
                       "utime+stime %.0f ms); ~%.0f regions after merging (snapshot %lu, %s; "
                       "sampled: up to 2-3x that, after the split)\n",
                       run->min_regions, run->max_regions, run->cpu_ms, run->window_s,
                       run->cpu_ms / run->window_s / 10, run->tick_ms, run->avg_regions,
                       run->snap_regions, run->snap_inside ? "all inside the range" : "NOT all inside the range");
                printf("      per aggregation %.2f ms = %.2f ms per GiB; per sample (every region once) %.3f ms = %.3f ms per GiB\n",
                       run->cpu_ms / aggrs, run->cpu_ms / aggrs / gib,
                       run->cpu_ms / samples, run->cpu_ms / samples / gib);
        }
        damon_teardown();
        return 0;
}

static int range_open(Range *rg, pid_t pid, uintptr_t base, size_t len) {
        char path[64];

        *rg = (Range) { .pid = pid, .base = base, .len = len, .n_pages = len / PAGE_SZ };
        snprintf(path, sizeof(path), "/proc/%d/idle_pages", (int) pid);
        rg->ip_fd = open(path, O_RDONLY | O_CLOEXEC);
        snprintf(path, sizeof(path), "/proc/%d/pagemap", (int) pid);
        rg->pm_fd = open(path, O_RDONLY | O_CLOEXEC);
        rg->pfns = calloc(rg->n_pages, 8);
        if (rg->ip_fd < 0 || rg->pm_fd < 0) {
                printf("SKIP: needs /proc/%d/idle_pages and pagemap as root (%s)\n", (int) pid, strerror(errno));
                return -errno;
        }
        if (!rg->pfns)
                return -ENOMEM;
        return 0;
}

static int map_region(size_t len, bool thp) {
        uint8_t *p = mmap(NULL, len + PMD_SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (p == MAP_FAILED) {
                perror("mmap");
                return -errno;
        }
        region_len = len;
        n_pages = len / PAGE_SZ;
        region = (uint8_t *) (((uintptr_t) p + PMD_SZ - 1) & ~(PMD_SZ - 1));
        madvise(region, region_len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
        touch(1);
        return 0;
}

/* Thread CPU time of one pass; *ret_accessed < 0 on failure. */
static double timed_idle_pages(const Range *rg, long *ret_accessed) {
        double t0 = thread_cpu_ms();

        *ret_accessed = pass_idle_pages(rg);
        return thread_cpu_ms() - t0;
}

static double timed_page_idle(const Range *rg, int bm_fd, long *ret_accessed) {
        double t0 = thread_cpu_ms();

        *ret_accessed = pass_page_idle(rg, bm_fd);
        return thread_cpu_ms() - t0;
}

/*
 * Secondary-MMU aging calls of one idle_pages pass over the range, counted with KVM's kvm_age_hva
 * tracepoint (every clear_young, clear_flush_young and clear_young_bitmap call into KVM fires it
 * once, with the range): calls, and how many of them covered one 4 KiB page, one 2 MiB page, or
 * another size. Lab only (tracefs, mounted here if needed). Returns < 0 if tracing is missing.
 */
#define TRACEFS "/sys/kernel/tracing"
static int count_age_calls(const Range *rg, unsigned long *calls, unsigned long *c4k, unsigned long *c2m,
                           unsigned long *cother) {
        char line[512];
        FILE *f;
        int r;

        *calls = *c4k = *c2m = *cother = 0;
        if (access(TRACEFS "/trace", W_OK) < 0 &&
            system("mount -t tracefs nodev " TRACEFS " 2>/dev/null") != 0)
                return -ENOENT;
        if ((r = write_file(TRACEFS "/events/kvm/kvm_age_hva/enable", "0")) < 0 ||
            (r = write_file(TRACEFS "/buffer_size_kb", "8192")) < 0 ||
            (r = write_file(TRACEFS "/trace", "")) < 0 ||
            (r = write_file(TRACEFS "/events/kvm/kvm_age_hva/enable", "1")) < 0)
                return r;
        r = pass_idle_pages(rg) < 0 ? -EIO : 0;
        (void) write_file(TRACEFS "/events/kvm/kvm_age_hva/enable", "0");
        if (r < 0)
                return r;
        f = fopen(TRACEFS "/trace", "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                char *p = strstr(line, "kvm_age_hva:");
                unsigned long long a, b;

                /* "mmu notifier age hva: 0x...  -- 0x..." */
                if (!p || !(p = strstr(p, "age hva: ")) || sscanf(p + 9, "%llx -- %llx", &a, &b) != 2)
                        continue;
                if (a < rg->base || b > rg->base + rg->len)
                        continue;
                (*calls)++;
                if (b - a == PAGE_SZ)
                        (*c4k)++;
                else if (b - a == PMD_SZ)
                        (*c2m)++;
                else
                        (*cother)++;
        }
        fclose(f);
        (void) write_file(TRACEFS "/trace", "");
        return 0;
}

/*
 * How KVM maps guest memory right now (all VMs): its pages_4k/pages_2m/pages_1g statistics in
 * debugfs (mounted here if needed; lab only). A THP-backed guest whose NPT/EPT entries are 4 KiB
 * costs 512 SPTEs per huge page to age, not one.
 */
#define DEBUGFS_KVM "/sys/kernel/debug/kvm"
static void print_kvm_mapping(void) {
        unsigned long p4k, p2m, p1g;

        if (access(DEBUGFS_KVM, R_OK) < 0 &&
            system("mount -t debugfs none /sys/kernel/debug 2>/dev/null") != 0)
                return;
        if (read_ul(DEBUGFS_KVM "/pages_4k", &p4k) < 0 || read_ul(DEBUGFS_KVM "/pages_2m", &p2m) < 0 ||
            read_ul(DEBUGFS_KVM "/pages_1g", &p1g) < 0) {
                printf("KVM mappings: no statistics in " DEBUGFS_KVM "\n");
                return;
        }
        printf("KVM mappings (all VMs): %lu of 4 KiB, %lu of 2 MiB, %lu of 1 GiB (%.0f%% of the mapped "
               "memory in 2 MiB)\n", p4k, p2m, p1g,
               p4k + p2m * 512 + p1g * 262144 ? 100.0 * p2m * 512 / (p4k + p2m * 512 + p1g * 262144) : 0);
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

/* The median of n values (sorts them). */
static double median(double *v, size_t n) {
        qsort(v, n, sizeof(*v), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * KVM mode: a VMM's guest RAM [start, end) in pid against the same amount of host-only memory in
 * this process (THP or not as the guest), touched the way the guest touches its own (a hot
 * window): CPU time per check-and-reset pass of idle_pages over each, the ratio, page_idle over
 * the guest, the notifier calls of one pass, DAMON over the guest.
 */
static int kvm_mode(pid_t pid, uintptr_t start, uintptr_t end, bool thp, int rounds, size_t hot_off, size_t hot_len,
                    bool count_calls, bool damon, const DamonOpts *dopts) {
        int bm_fd = open("/sys/kernel/mm/page_idle/bitmap", O_RDWR | O_CLOEXEC);
        double ip_host, ip_kvm, pi_host, pi_kvm, *v_ih, *v_ik, *v_ph, *v_pk;
        size_t len = end - start;
        double gib = len / (double) (1UL << 30);
        Range host, kvm;
        int r;

        if (bm_fd < 0) {
                printf("SKIP: needs /sys/kernel/mm/page_idle/bitmap as root (%s)\n", strerror(errno));
                return 77;
        }
        if (start % PAGE_SZ || end <= start || len % PAGE_SZ) {
                fprintf(stderr, "--kvm-range: START-END, page aligned, START < END\n");
                return 2;
        }
        if (range_open(&kvm, pid, start, len) < 0)
                return 77;
        if (map_region(len, thp) < 0 || range_open(&host, getpid(), (uintptr_t) region, len) < 0)
                return 1;
        v_ih = calloc((size_t) rounds, sizeof(double));
        v_ik = calloc((size_t) rounds, sizeof(double));
        v_ph = calloc((size_t) rounds, sizeof(double));
        v_pk = calloc((size_t) rounds, sizeof(double));
        if (!v_ih || !v_ik || !v_ph || !v_pk)
                return 1;
        if (count_calls)
                print_kvm_mapping();

        /* Warm up (first passes find everything accessed). */
        pass_idle_pages(&host);
        pass_idle_pages(&kvm);
        pass_page_idle(&host, bm_fd);
        pass_page_idle(&kvm, bm_fd);

        printf("idle-pages-bench --kvm: guest RAM of pid %d, 0x%lx-0x%lx (%zu MiB), host-only %s of the same size "
               "touching [%zu, %zu) MiB per round (as the guest), %d rounds\n", (int) pid, (unsigned long) start,
               (unsigned long) end, len >> 20, thp ? "THP" : "4 KiB pages", hot_off >> 20, (hot_off + hot_len) >> 20,
               rounds);
        for (int i = 0; i < rounds; i++) {
                long a_ih, a_ik, a_ph, a_pk;
                double d_ih, d_ik, d_ph, d_pk;

                touch_window(hot_off, hot_len);
                d_ih = timed_idle_pages(&host, &a_ih);
                d_ik = timed_idle_pages(&kvm, &a_ik);
                touch_window(hot_off, hot_len);
                d_ph = timed_page_idle(&host, bm_fd, &a_ph);
                d_pk = timed_page_idle(&kvm, bm_fd, &a_pk);
                printf("round %d: idle_pages host %.1f ms (%ld accessed), KVM %.1f ms (%ld); "
                       "page_idle+pagemap host %.1f ms (%ld), KVM %.1f ms (%ld)\n",
                       i, d_ih, a_ih, d_ik, a_ik, d_ph, a_ph, d_pk, a_pk);
                if (a_ih < 0 || a_ik < 0 || a_ph < 0 || a_pk < 0) {
                        printf("FAIL: a pass failed\n");
                        return 1;
                }
                v_ih[i] = d_ih;
                v_ik[i] = d_ik;
                v_ph[i] = d_ph;
                v_pk[i] = d_pk;
                usleep(100000);
        }
        /*
         * Medians: under single-threaded TCG the lab's vCPUs share one host thread, so a pass is
         * sometimes charged for the other vCPU's time slice (the guest's QEMU); the median is
         * robust against those outliers.
         */
        ip_host = median(v_ih, (size_t) rounds);
        ip_kvm = median(v_ik, (size_t) rounds);
        pi_host = median(v_ph, (size_t) rounds);
        pi_kvm = median(v_pk, (size_t) rounds);
        printf("medians of %d rounds:\n", rounds);
        printf("idle_pages host-only:       %8.2f ms CPU per pass, %8.1f ms per GiB\n", ip_host, ip_host / gib);
        printf("idle_pages KVM guest:       %8.2f ms CPU per pass, %8.1f ms per GiB\n", ip_kvm, ip_kvm / gib);
        printf("page_idle+pagemap host-only:%8.2f ms CPU per pass, %8.1f ms per GiB\n", pi_host, pi_host / gib);
        printf("page_idle+pagemap KVM guest:%8.2f ms CPU per pass, %8.1f ms per GiB\n", pi_kvm, pi_kvm / gib);
        printf("ratio idle_pages KVM/host-only (%s): %.2fx (goal: <= %dx)\n", thp ? "THP" : "4K",
               ip_host > 0 ? ip_kvm / ip_host : 0, thp ? 2 : 3);
        printf("ratio page_idle KVM / idle_pages KVM: %.2fx\n", ip_kvm > 0 ? pi_kvm / ip_kvm : 0);

        if (count_calls) {
                unsigned long calls, c4k, c2m, cother;

                r = count_age_calls(&kvm, &calls, &c4k, &c2m, &cother);
                if (r < 0)
                        printf("notifier calls: not counted (tracing: %s)\n", strerror(-r));
                else
                        printf("notifier calls of one idle_pages pass over the guest (kvm_age_hva): %lu "
                               "(%lu of 4 KiB, %lu of 2 MiB, %lu other), %.2f per 2 MiB of guest RAM\n",
                               calls, c4k, c2m, cother, calls / (len / (double) PMD_SZ));
        }

        if (damon) {
                DamonRun runs[2];
                double per_s = 1e6 / dopts->aggr_us;

                r = run_damon(&kvm, dopts, 0, runs);
                if (r < 0)
                        return 1;
                if (r == 0) {
                        printf("summary KVM %zu MiB %s: CPU ms per GiB per full picture | per GiB per s at one picture per %lu ms\n",
                               len >> 20, thp ? "THP" : "4K", dopts->aggr_us / 1000);
                        printf("  idle_pages host-only (one pass)  %9.2f | %9.1f\n", ip_host / gib, ip_host / gib * per_s);
                        printf("  idle_pages KVM (one pass)        %9.2f | %9.1f\n", ip_kvm / gib, ip_kvm / gib * per_s);
                        printf("  page_idle KVM (one pass)         %9.2f | %9.1f\n", pi_kvm / gib, pi_kvm / gib * per_s);
                        for (size_t i = 0; i < 2; i++) {
                                double v = runs[i].cpu_ms / (runs[i].window_s * per_s) / gib;

                                printf("  DAMON KVM %4lu..%-4lu (one aggr.) %9.2f | %9.1f   (DAMON/idle_pages KVM %.2fx)\n",
                                       runs[i].min_regions, runs[i].max_regions, v, v * per_s,
                                       ip_kvm > 0 ? v / (ip_kvm / gib) : 0);
                        }
                }
        }
        return 0;
}

static void usage(const char *argv0) {
        fprintf(stderr,
                "usage: %s [--size MIB] [--rounds N] [--thp on|off] [--hot-every N]\n"
                "       [--damon] [--damon-secs S] [--damon-warmup S] [--damon-sample-us US]\n"
                "       [--damon-aggr-us US] [--damon-max-regions N]\n"
                "       [--kvm-pid PID --kvm-range START-END [--hot-window OFF_MIB+LEN_MIB] [--count-calls]]\n",
                argv0);
}

int main(int argc, char **argv) {
        size_t size_mib = 512, every = 8, hot_off = 32UL << 20, hot_len = 8UL << 20;
        DamonOpts dopts = { .sample_us = 5000, .aggr_us = 100000, .max_regions = 1000, .secs = 5, .warmup = 2 };
        uintptr_t kvm_start = 0, kvm_end = 0;
        pid_t kvm_pid = 0;
        int rounds = 5;
        bool thp = false, damon = false, count_calls = false;

        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--size") && i + 1 < argc)
                        size_mib = strtoul(argv[++i], NULL, 0);
                else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
                        rounds = atoi(argv[++i]);
                else if (!strcmp(argv[i], "--thp") && i + 1 < argc)
                        thp = !strcmp(argv[++i], "on");
                else if (!strcmp(argv[i], "--hot-every") && i + 1 < argc)
                        every = strtoul(argv[++i], NULL, 0);
                else if (!strcmp(argv[i], "--damon"))
                        damon = true;
                else if (!strcmp(argv[i], "--damon-secs") && i + 1 < argc)
                        dopts.secs = atof(argv[++i]);
                else if (!strcmp(argv[i], "--damon-warmup") && i + 1 < argc)
                        dopts.warmup = atof(argv[++i]);
                else if (!strcmp(argv[i], "--damon-sample-us") && i + 1 < argc)
                        dopts.sample_us = strtoul(argv[++i], NULL, 0);
                else if (!strcmp(argv[i], "--damon-aggr-us") && i + 1 < argc)
                        dopts.aggr_us = strtoul(argv[++i], NULL, 0);
                else if (!strcmp(argv[i], "--damon-max-regions") && i + 1 < argc)
                        dopts.max_regions = strtoul(argv[++i], NULL, 0);
                else if (!strcmp(argv[i], "--kvm-pid") && i + 1 < argc)
                        kvm_pid = (pid_t) strtol(argv[++i], NULL, 0);
                else if (!strcmp(argv[i], "--kvm-range") && i + 1 < argc) {
                        char *e;

                        kvm_start = strtoull(argv[++i], &e, 0);
                        if (*e != '-') {
                                usage(argv[0]);
                                return 2;
                        }
                        kvm_end = strtoull(e + 1, NULL, 0);
                } else if (!strcmp(argv[i], "--hot-window") && i + 1 < argc) {
                        char *e;

                        hot_off = strtoul(argv[++i], &e, 0) << 20;
                        if (*e != '+') {
                                usage(argv[0]);
                                return 2;
                        }
                        hot_len = strtoul(e + 1, NULL, 0) << 20;
                } else if (!strcmp(argv[i], "--count-calls"))
                        count_calls = true;
                else {
                        usage(argv[0]);
                        return 2;
                }
        }
        if (!every)
                every = 1;
        if (rounds < 1)
                rounds = 1;
        if ((damon || count_calls) && !(getenv("VTISM_LAB") && !strcmp(getenv("VTISM_LAB"), "1"))) {
                fprintf(stderr, "--damon and --count-calls only run inside the lab (VTISM_LAB=1): "
                        "the host's DAMON and tracing are not ours\n");
                return 2;
        }
        if (damon && (dopts.sample_us == 0 || dopts.aggr_us < dopts.sample_us || dopts.max_regions < 10 ||
                      dopts.secs <= 0)) {
                fprintf(stderr, "--damon needs 0 < sample_us <= aggr_us, max regions >= 10, secs > 0\n");
                return 2;
        }
        if (kvm_pid > 0 || kvm_end)
                return kvm_mode(kvm_pid, kvm_start, kvm_end, thp, rounds, hot_off, hot_len, count_calls, damon, &dopts);

        int bm_fd = open("/sys/kernel/mm/page_idle/bitmap", O_RDWR | O_CLOEXEC);
        Range self;

        if (bm_fd < 0) {
                printf("SKIP: needs /proc/self/idle_pages, pagemap and page_idle/bitmap as root (%s)\n",
                       strerror(errno));
                return 77;
        }
        if (map_region(size_mib << 20, thp) < 0)
                return 1;
        if (range_open(&self, getpid(), (uintptr_t) region, region_len) < 0)
                return 77;

        double gib = region_len / (double) (1UL << 30), ms_ip = 0, ms_pi = 0;
        long exp = (long) ((n_pages + every - 1) / every);

        /* Warm up both (first passes find everything accessed). */
        pass_idle_pages(&self);
        pass_page_idle(&self, bm_fd);

        printf("idle-pages-bench: %zu MiB, %s, %d rounds, every %zu-th page touched (%ld pages)\n",
               size_mib, thp ? "THP" : "4 KiB pages", rounds, every, exp);
        for (int r = 0; r < rounds; r++) {
                long a_ip, a_pi;
                double d_ip, d_pi;

                touch(every);
                d_ip = timed_idle_pages(&self, &a_ip);
                ms_ip += d_ip;
                touch(every);
                d_pi = timed_page_idle(&self, bm_fd, &a_pi);
                ms_pi += d_pi;
                printf("round %d: idle_pages %.1f ms, %ld accessed; page_idle+pagemap %.1f ms, %ld accessed\n",
                       r, d_ip, a_ip, d_pi, a_pi);
                if (a_ip < 0 || a_pi < 0) {
                        printf("FAIL: a pass failed (%s)\n", strerror((int) -(a_ip < 0 ? a_ip : a_pi)));
                        return 1;
                }
        }
        double ip_gib = ms_ip / rounds / gib, pi_gib = ms_pi / rounds / gib;
        printf("idle_pages:       %8.1f ms CPU per pass, %8.1f ms per GiB\n", ms_ip / rounds, ip_gib);
        printf("page_idle+pagemap:%8.1f ms CPU per pass, %8.1f ms per GiB\n", ms_pi / rounds, pi_gib);
        printf("ratio page_idle/idle_pages: %.2f\n", ms_ip > 0 ? ms_pi / ms_ip : 0);
        if (!damon)
                return 0;

        DamonRun runs[2];
        double per_s = 1e6 / dopts.aggr_us;     /* pictures per second */
        int r = run_damon(&self, &dopts, every, runs);

        if (r != 0)
                return r < 0 ? 1 : 0;
        printf("summary %zu MiB %s: CPU ms per GiB per full picture | CPU ms per GiB per s at one picture per %lu ms\n",
               size_mib, thp ? "THP" : "4K", dopts.aggr_us / 1000);
        printf("  idle_pages (one pass)             %9.2f | %9.1f\n", ip_gib, ip_gib * per_s);
        printf("  page_idle+pagemap (one pass)      %9.2f | %9.1f\n", pi_gib, pi_gib * per_s);
        for (size_t i = 0; i < 2; i++) {
                double v = runs[i].cpu_ms / (runs[i].window_s * per_s) / gib;

                printf("  DAMON %4lu..%-4lu (one aggregation) %9.2f | %9.1f   (page_idle/DAMON %.1fx, idle_pages/DAMON %.2fx)\n",
                       runs[i].min_regions, runs[i].max_regions, v, v * per_s,
                       v > 0 ? pi_gib / v : 0, v > 0 ? ip_gib / v : 0);
        }
        return 0;
}
