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

/* One idle_pages pass over the region: returns the accessed 4 KiB pages, or -errno. */
static long pass_idle_pages(int fd) {
        static uint8_t buf[1 << 16];
        uintptr_t base = (uintptr_t) region, end = base + region_len, pos = base;
        long accessed = 0;

        if (lseek(fd, (off_t) base, SEEK_SET) < 0)
                return -errno;
        while (pos < end) {
                ssize_t n = read(fd, buf, sizeof(buf));
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
static long pass_page_idle(int pm_fd, int bm_fd, uint64_t *pfns) {
        static uint64_t *words;
        static size_t words_len;
        const size_t chunk = 65536;
        uint64_t min_pfn = UINT64_MAX, max_pfn = 0;
        long accessed = 0;

        for (size_t i = 0; i < n_pages; i += chunk) {
                size_t n = n_pages - i < chunk ? n_pages - i : chunk;
                off_t off = (off_t) (((uintptr_t) region / PAGE_SZ + i) * 8);

                if (pread(pm_fd, pfns + i, n * 8, off) != (ssize_t) (n * 8))
                        return -EIO;
        }
        for (size_t i = 0; i < n_pages; i++) {
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
        for (size_t i = 0; i < n_pages; i++)
                if (pfns[i] != UINT64_MAX && !(words[pfns[i] / 64 - w0] >> (pfns[i] % 64) & 1))
                        accessed++;
        memset(words, 0, nw * 8);
        for (size_t i = 0; i < n_pages; i++)
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

/* Keep the workload alive: touch the hot pages once per aggregation interval, for secs. */
static void touch_for(double secs, unsigned long aggr_us, size_t every) {
        double end = mono_s() + secs;

        for (double now = mono_s(); now < end; now = mono_s()) {
                double left = end - now, nap = aggr_us / 1e6 < left ? aggr_us / 1e6 : left;

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

/* Configure kdamond 0: one vaddr context, this process, one region = the measured mapping. */
static int damon_setup(unsigned long sample_us, unsigned long aggr_us) {
        uintptr_t start = (uintptr_t) region, end = start + region_len;
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
            (r = damon_set(DAMON_CTX "/targets/0/pid_target", "%d", (int) getpid())) < 0 ||
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

/* Count the regions of the last tried_regions snapshot and check they lie in the mapping. */
static void damon_snapshot(DamonRun *run) {
        uintptr_t start = (uintptr_t) region, end = start + region_len;
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
static int damon_measure(DamonRun *run, unsigned long aggr_us, double warmup_s, double window_s, size_t every) {
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
        damon_snapshot(run);
off:
        (void) write_file(DAMON_KD "/state", "off");
        return r;
}

int main(int argc, char **argv) {
        size_t size_mib = 512, every = 8;
        unsigned long sample_us = 5000, aggr_us = 100000, max_regions = 1000;
        double damon_secs = 5, damon_warmup = 2;
        int rounds = 5;
        bool thp = false, damon = false;

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
                        damon_secs = atof(argv[++i]);
                else if (!strcmp(argv[i], "--damon-warmup") && i + 1 < argc)
                        damon_warmup = atof(argv[++i]);
                else if (!strcmp(argv[i], "--damon-sample-us") && i + 1 < argc)
                        sample_us = strtoul(argv[++i], NULL, 0);
                else if (!strcmp(argv[i], "--damon-aggr-us") && i + 1 < argc)
                        aggr_us = strtoul(argv[++i], NULL, 0);
                else if (!strcmp(argv[i], "--damon-max-regions") && i + 1 < argc)
                        max_regions = strtoul(argv[++i], NULL, 0);
                else {
                        fprintf(stderr,
                                "usage: %s [--size MIB] [--rounds N] [--thp on|off] [--hot-every N]\n"
                                "       [--damon] [--damon-secs S] [--damon-warmup S] [--damon-sample-us US]\n"
                                "       [--damon-aggr-us US] [--damon-max-regions N]\n", argv[0]);
                        return 2;
                }
        }
        if (!every)
                every = 1;
        if (rounds < 1)
                rounds = 1;
        if (damon && !(getenv("VTISM_LAB") && !strcmp(getenv("VTISM_LAB"), "1"))) {
                fprintf(stderr, "--damon only runs inside the lab (VTISM_LAB=1): the host's DAMON is not ours\n");
                return 2;
        }
        if (damon && (sample_us == 0 || aggr_us < sample_us || max_regions < 10 || damon_secs <= 0)) {
                fprintf(stderr, "--damon needs 0 < sample_us <= aggr_us, max regions >= 10, secs > 0\n");
                return 2;
        }

        int ip_fd = open("/proc/self/idle_pages", O_RDONLY | O_CLOEXEC);
        int pm_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        int bm_fd = open("/sys/kernel/mm/page_idle/bitmap", O_RDWR | O_CLOEXEC);
        if (ip_fd < 0 || pm_fd < 0 || bm_fd < 0) {
                printf("SKIP: needs /proc/self/idle_pages, pagemap and page_idle/bitmap as root (%s)\n",
                       strerror(errno));
                return 77;
        }

        region_len = size_mib << 20;
        n_pages = region_len / PAGE_SZ;
        uint8_t *p = mmap(NULL, region_len + PMD_SZ, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
                perror("mmap");
                return 1;
        }
        region = (uint8_t *) (((uintptr_t) p + PMD_SZ - 1) & ~(PMD_SZ - 1));
        madvise(region, region_len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
        touch(1);

        uint64_t *pfns = calloc(n_pages, 8);
        if (!pfns)
                return 1;

        double gib = region_len / (double) (1UL << 30), ms_ip = 0, ms_pi = 0;
        long exp = (long) ((n_pages + every - 1) / every);

        /* Warm up both (first passes find everything accessed). */
        pass_idle_pages(ip_fd);
        pass_page_idle(pm_fd, bm_fd, pfns);

        printf("idle-pages-bench: %zu MiB, %s, %d rounds, every %zu-th page touched (%ld pages)\n",
               size_mib, thp ? "THP" : "4 KiB pages", rounds, every, exp);
        for (int r = 0; r < rounds; r++) {
                double t0, t1;
                long a_ip, a_pi;

                touch(every);
                t0 = thread_cpu_ms();
                a_ip = pass_idle_pages(ip_fd);
                t1 = thread_cpu_ms();
                ms_ip += t1 - t0;
                double d_ip = t1 - t0;

                touch(every);
                t0 = thread_cpu_ms();
                a_pi = pass_page_idle(pm_fd, bm_fd, pfns);
                t1 = thread_cpu_ms();
                ms_pi += t1 - t0;
                printf("round %d: idle_pages %.1f ms, %ld accessed; page_idle+pagemap %.1f ms, %ld accessed\n",
                       r, d_ip, a_ip, t1 - t0, a_pi);
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

        DamonRun runs[2] = {
                { .min_regions = 10, .max_regions = max_regions },
                { .min_regions = max_regions, .max_regions = max_regions },
        };
        double per_s = 1e6 / aggr_us;   /* pictures per second */
        int r;

        if (damon_setup(sample_us, aggr_us) < 0)
                return 0;
        printf("DAMON vaddr: this process, one region = the mapping, sample %lu us, aggr %lu us, "
               "warm-up %.1f s, window %.1f s, touching every %zu-th page once per aggregation\n",
               sample_us, aggr_us, damon_warmup, damon_secs, every);
        for (size_t i = 0; i < 2; i++) {
                DamonRun *run = &runs[i];

                r = damon_measure(run, aggr_us, damon_warmup, damon_secs, every);
                if (r < 0) {
                        printf("DAMON: FAIL: monitoring run failed (%s)\n", strerror(-r));
                        damon_teardown();
                        return 1;
                }
                double aggrs = run->window_s * per_s, samples = run->window_s * 1e6 / sample_us;
                printf("DAMON %4lu..%lu regions: kdamond %.1f ms CPU in %.2f s (%.1f %% of a CPU; "
                       "utime+stime %.0f ms); ~%.0f regions after merging (snapshot %lu, %s; "
                       "sampled: up to 2-3x that, after the split)\n",
                       run->min_regions, run->max_regions, run->cpu_ms, run->window_s,
                       run->cpu_ms / run->window_s / 10, run->tick_ms, run->avg_regions,
                       run->snap_regions, run->snap_inside ? "all inside the mapping" : "NOT all inside the mapping");
                printf("      per aggregation %.2f ms = %.2f ms per GiB; per sample (every region once) %.3f ms = %.3f ms per GiB\n",
                       run->cpu_ms / aggrs, run->cpu_ms / aggrs / gib,
                       run->cpu_ms / samples, run->cpu_ms / samples / gib);
        }
        damon_teardown();

        printf("summary %zu MiB %s: CPU ms per GiB per full picture | CPU ms per GiB per s at one picture per %lu ms\n",
               size_mib, thp ? "THP" : "4K", aggr_us / 1000);
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
