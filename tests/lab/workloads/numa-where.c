/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numa-where PID START LEN [START LEN ...]
 *
 * Where the 4 KiB pages of another process's address ranges are, per NUMA node (a move_pages(2)
 * query of every page, nodes = NULL: nothing moves), and how much of the mappings holding them is
 * backed by transparent huge pages (AnonHugePages in /proc/PID/smaps). The lab's ground truth for
 * QEMU guests, whose workload cannot report from inside. One line per range:
 *
 *   numa-where: pid=P start=0x.. pages=N node0=N node1=N node2=N node3=N absent=N error=N
 *
 * and a last line for all ranges together, with the THP backing of the mappings they touch:
 *
 *   numa-where: total pages=N node0=N .. node3=N absent=N error=N anon_huge_kib=K t=SEC
 *
 * (t: CLOCK_MONOTONIC seconds when the queries ended, as the journal's monotonic timestamps).
 * START and LEN: numbers (0x hex or decimal) with an optional K, M or G suffix. Exit status 0, or 1
 * with a reason on stderr (pid gone: "no such process").
 */
#include <errno.h>
#include <inttypes.h>
#include <numaif.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "parse-num.h"

#define PAGE UINT64_C(4096)
#define BATCH 4096
#define NODES 4

typedef struct Count {
        uint64_t pages, node[NODES], absent, error;
} Count;

static int query(pid_t pid, uint64_t start, uint64_t len, Count *c) {
        void *addrs[BATCH];
        int status[BATCH];

        for (uint64_t done = 0; done < len / PAGE;) {
                unsigned long n = (unsigned long) (len / PAGE - done < BATCH ? len / PAGE - done : BATCH);

                for (unsigned long i = 0; i < n; i++)
                        addrs[i] = (void *) (uintptr_t) (start + (done + i) * PAGE);
                if (move_pages(pid, n, addrs, NULL, status, 0) < 0)
                        return -errno;
                for (unsigned long i = 0; i < n; i++) {
                        if (status[i] >= 0 && status[i] < NODES)
                                c->node[status[i]]++;
                        else if (status[i] == -ENOENT || status[i] == -EFAULT)
                                c->absent++;
                        else
                                c->error++;
                }
                c->pages += n;
                done += n;
        }
        return 0;
}

static void print(const char *head, const Count *c) {
        printf("numa-where: %s pages=%" PRIu64, head, c->pages);
        for (int i = 0; i < NODES; i++)
                printf(" node%d=%" PRIu64, i, c->node[i]);
        printf(" absent=%" PRIu64 " error=%" PRIu64, c->absent, c->error);
}

/* AnonHugePages of the mappings that overlap any of the ranges. */
static uint64_t anon_huge_kib(pid_t pid, const uint64_t *ranges, int n) {
        char path[64], line[512];
        uint64_t total = 0, lo = 0, hi = 0;
        bool inside = false;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/smaps", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f)) {
                unsigned long long a, b, kib;

                if (sscanf(line, "%llx-%llx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' ')) {
                        lo = a;
                        hi = b;
                        inside = false;
                        for (int i = 0; i < n; i++)
                                if (ranges[2 * i] < hi && ranges[2 * i] + ranges[2 * i + 1] > lo)
                                        inside = true;
                } else if (inside && sscanf(line, "AnonHugePages: %llu kB", &kib) == 1)
                        total += kib;
        }
        fclose(f);
        return total;
}

int main(int argc, char **argv) {
        uint64_t *ranges;
        struct timespec ts;
        Count all = {};
        pid_t pid;
        int n, r;

        if (argc < 4 || (argc - 2) % 2) {
                fprintf(stderr, "usage: numa-where PID START LEN [START LEN ...]\n");
                return 2;
        }
        pid = (pid_t) atoi(argv[1]);
        n = (argc - 2) / 2;
        ranges = calloc((size_t) n * 2, sizeof(uint64_t));
        if (!ranges)
                abort();
        for (int i = 0; i < n; i++) {
                Count c = {};
                char head[96];

                if (parse_num(argv[2 + 2 * i], &ranges[2 * i]) < 0 || parse_num(argv[3 + 2 * i], &ranges[2 * i + 1]) < 0 ||
                    ranges[2 * i] % PAGE || ranges[2 * i + 1] % PAGE) {
                        fprintf(stderr, "numa-where: bad range %s %s (4 KiB aligned numbers)\n", argv[2 + 2 * i], argv[3 + 2 * i]);
                        return 2;
                }
                r = query(pid, ranges[2 * i], ranges[2 * i + 1], &c);
                if (r < 0) {
                        fprintf(stderr, "numa-where: move_pages(%d) failed: %s\n", (int) pid, strerror(-r));
                        return 1;
                }
                snprintf(head, sizeof(head), "pid=%d start=0x%" PRIx64, (int) pid, ranges[2 * i]);
                print(head, &c);
                printf("\n");
                all.pages += c.pages;
                for (int k = 0; k < NODES; k++)
                        all.node[k] += c.node[k];
                all.absent += c.absent;
                all.error += c.error;
        }
        print("total", &all);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        printf(" anon_huge_kib=%" PRIu64 " t=%.3f\n", anon_huge_kib(pid, ranges, n),
               (double) ts.tv_sec + (double) ts.tv_nsec / 1e9);
        free(ranges);
        return 0;
}
