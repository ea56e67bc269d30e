/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * idle-pages-bench: CPU time to find the accessed pages of a memory range and reset them,
 * /proc/PID/idle_pages (kernel-patches/) versus the page_idle bitmap plus the pagemap lookups it
 * needs. Runs as root in the lab on the patched kernel (bench/idle-pages-lab):
 *
 *   idle-pages-bench [--size MIB] [--rounds N] [--thp on|off] [--hot-every N]
 *
 * Maps SIZE MiB (default 512) of anonymous memory, touches it, then per round and method:
 * touches every N-th page (default 8), measures the thread CPU time (user + system) of one
 * check-and-reset pass over the range, and counts the accessed pages it found. Prints CPU ms per
 * pass and per GiB and the ratio; times under TCG are only comparable within one run.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
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

/* The bitmap is a sysfs binary file: at most a page per read()/write(). */
static int bitmap_io(int fd, uint64_t *words, size_t nw, size_t w0, bool wr) {
        for (size_t done = 0; done < nw * 8;) {
                size_t len = nw * 8 - done < 4096 ? nw * 8 - done : 4096;
                ssize_t n = wr ? pwrite(fd, (uint8_t *) words + done, len, (off_t) (w0 * 8 + done))
                               : pread(fd, (uint8_t *) words + done, len, (off_t) (w0 * 8 + done));
                if (n <= 0)
                        return -EIO;
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

int main(int argc, char **argv) {
        size_t size_mib = 512, every = 8;
        int rounds = 5;
        bool thp = false;

        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--size") && i + 1 < argc)
                        size_mib = strtoul(argv[++i], NULL, 0);
                else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
                        rounds = atoi(argv[++i]);
                else if (!strcmp(argv[i], "--thp") && i + 1 < argc)
                        thp = !strcmp(argv[++i], "on");
                else if (!strcmp(argv[i], "--hot-every") && i + 1 < argc)
                        every = strtoul(argv[++i], NULL, 0);
                else {
                        fprintf(stderr, "usage: %s [--size MIB] [--rounds N] [--thp on|off] [--hot-every N]\n", argv[0]);
                        return 2;
                }
        }
        if (!every)
                every = 1;

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
        printf("idle_pages:       %8.1f ms CPU per pass, %8.1f ms per GiB\n", ms_ip / rounds, ms_ip / rounds / gib);
        printf("page_idle+pagemap:%8.1f ms CPU per pass, %8.1f ms per GiB\n", ms_pi / rounds, ms_pi / rounds / gib);
        printf("ratio page_idle/idle_pages: %.2f\n", ms_ip > 0 ? ms_pi / ms_ip : 0);
        return 0;
}
