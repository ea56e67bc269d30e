/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * idle-pages-kvm: the KVM path of /proc/PID/idle_pages. Run inside the lab on the patched kernel
 * (by idle-pages-kvm-inner) against a QEMU -accel kvm process whose guest writes a known hot
 * window of guest-physical memory in a loop.
 *
 *   idle-pages-kvm PID RAM_START RAM_END HOT_START HOT_END IGNORE_END ROUNDS INTERVAL_MS
 *
 * All addresses are host-virtual addresses in PID. Each round clears the accessed state of
 * [RAM_START, RAM_END) with one pass over idle_pages, waits INTERVAL_MS and reads it again: every
 * page of [HOT_START, HOT_END) must be accessed, every present page of [IGNORE_END, RAM_END)
 * outside the hot window idle ([RAM_START, IGNORE_END) holds the guest's image, stack and
 * mailbox, accessed all the time; it is not judged). Exit 0 if all rounds are exact.
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
#include <time.h>
#include <unistd.h>

#define PAGE_SZ 4096UL
#define PMD_SZ (2UL << 20)

/* Per 4 KiB page: 'A', 'I', 'H' (hole) or 0 (not reported); granule 'p' or 'P'. */
static char *state, *gran;
static uintptr_t base;
static size_t n_pages;

static int pass(int fd, uintptr_t start, uintptr_t end, double *ret_ms) {
        static uint8_t buf[1 << 16];
        uintptr_t pos = start;
        struct timespec t0, t1;

        memset(state, 0, n_pages);
        memset(gran, 0, n_pages);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (lseek(fd, (off_t) start, SEEK_SET) < 0)
                return -errno;
        while (pos < end) {
                /* A read of N bytes covers N × 8 pages: stop at the end of guest RAM. */
                size_t want = ((end - (pos & ~(PAGE_SZ - 1))) / PAGE_SZ + 7) / 8;
                ssize_t n = read(fd, buf, want < 10 ? 10 : want > sizeof(buf) ? sizeof(buf) : want);
                uintptr_t addr = 0;
                size_t i = 0;

                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                while (i < (size_t) n) {
                        uint8_t c = buf[i++];
                        unsigned type = c >> 4, count = c & 15;
                        size_t unit = PAGE_SZ;
                        char st, g = 'p';

                        if (c == 0xa0) {
                                if (i + 8 > (size_t) n)
                                        return -EBADMSG;
                                addr = 0;
                                for (int k = 0; k < 8; k++)
                                        addr = addr << 8 | buf[i + k];
                                i += 8;
                                continue;
                        }
                        switch (type) {
                        case 0: st = 'A'; break;
                        case 1: st = 'A'; unit = PMD_SZ; g = 'P'; break;
                        case 5: st = 'I'; break;
                        case 6: st = 'I'; unit = PMD_SZ; g = 'P'; break;
                        case 8: st = 'H'; break;
                        case 9: st = 'H'; unit = PMD_SZ; g = 'P'; break;
                        default: return -EBADMSG;
                        }
                        for (unsigned k = 0; k < count * (unit / PAGE_SZ); k++, addr += PAGE_SZ)
                                if (addr >= base && addr < base + n_pages * PAGE_SZ) {
                                        state[(addr - base) / PAGE_SZ] = st;
                                        gran[(addr - base) / PAGE_SZ] = g;
                                }
                }
                pos = (uintptr_t) lseek(fd, 0, SEEK_CUR);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        *ret_ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
        return 0;
}

int main(int argc, char **argv) {
        uintptr_t ram_start, ram_end, hot_start, hot_end, ignore_end;
        int rounds, interval_ms, fd, bad_rounds = 0;
        char path[64];

        if (argc != 9) {
                fprintf(stderr, "usage: %s PID RAM_START RAM_END HOT_START HOT_END IGNORE_END ROUNDS INTERVAL_MS\n",
                        argv[0]);
                return 2;
        }
        ram_start = strtoull(argv[2], NULL, 0);
        ram_end = strtoull(argv[3], NULL, 0);
        hot_start = strtoull(argv[4], NULL, 0);
        hot_end = strtoull(argv[5], NULL, 0);
        ignore_end = strtoull(argv[6], NULL, 0);
        rounds = atoi(argv[7]);
        interval_ms = atoi(argv[8]);
        snprintf(path, sizeof(path), "/proc/%s/idle_pages", argv[1]);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                printf("SKIP: %s: %s\n", path, strerror(errno));
                return 77;
        }
        base = ram_start;
        n_pages = (ram_end - ram_start) / PAGE_SZ;
        state = malloc(n_pages);
        gran = malloc(n_pages);
        if (!state || !gran)
                return 1;

        for (int r = 0; r < rounds; r++) {
                size_t hot = 0, hot_acc = 0, cold = 0, cold_acc = 0, holes = 0, huge = 0, unrep = 0;
                double ms_clear, ms_read;
                int e;

                if ((e = pass(fd, ram_start, ram_end, &ms_clear)) < 0 ||
                    (usleep(interval_ms * 1000), (e = pass(fd, ram_start, ram_end, &ms_read)) < 0)) {
                        printf("FAIL: round %d: reading %s: %s\n", r, path, strerror(-e));
                        return 1;
                }
                for (size_t i = 0; i < n_pages; i++) {
                        uintptr_t a = base + i * PAGE_SZ;

                        huge += gran[i] == 'P';
                        if (!state[i]) {
                                unrep++;
                                continue;
                        }
                        if (a >= hot_start && a < hot_end) {
                                hot++;
                                hot_acc += state[i] == 'A';
                        } else if (a >= ignore_end) {
                                if (state[i] == 'H') {
                                        holes++;
                                        continue;
                                }
                                cold++;
                                cold_acc += state[i] == 'A';
                        }
                }
                bool exact = hot == (hot_end - hot_start) / PAGE_SZ && hot_acc == hot && cold_acc == 0 && !unrep;
                printf("round %d: hot %zu/%zu pages accessed, cold %zu/%zu accessed, %zu holes, "
                       "%zu unreported, %zu%% in PMD records; passes took %.1f + %.1f ms: %s\n",
                       r, hot_acc, hot, cold_acc, cold, holes, unrep, n_pages ? huge * 100 / n_pages : 0,
                       ms_clear, ms_read, exact ? "exact" : "NOT EXACT");
                bad_rounds += !exact;
        }
        printf("%s: %d of %d rounds exact\n", bad_rounds ? "FAIL" : "PASS", rounds - bad_rounds, rounds);
        return bad_rounds ? 1 : 0;
}
