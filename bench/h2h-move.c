/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * h2h-move PID NODE START LEN [START LEN ...]
 *
 * Moves the 4 KiB pages of another process's address ranges to NODE with move_pages(2), in
 * batches of 4096 pages, and prints one line:
 *
 *   h2h-move: pid=P node=N pages=N moved=N absent=N failed=N
 *
 * (moved: pages whose status is NODE afterwards, those already there included; absent: never
 * faulted in; failed: any other status, e.g. -EBUSY for a THP subpage whose folio moved
 * with another subpage — a caller that needs the truth queries again, with numa-where).
 * bench/h2h-kvm-work places a KVM guest's RAM with it (the same starting placement for every
 * contender) and is the oracle that moves the guest's true hot window to DRAM. START and LEN:
 * numbers (0x hex or decimal) with an optional K, M or G suffix. Exit status 0, or 1 with a
 * reason on stderr (pid gone: "no such process").
 */
#include <errno.h>
#include <inttypes.h>
#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "../tests/lab/workloads/parse-num.h"

#define PAGE UINT64_C(4096)
#define BATCH 4096

int main(int argc, char **argv) {
        static void *addr[BATCH];
        static int nodes[BATCH], status[BATCH];
        uint64_t pid, node, pages = 0, moved = 0, absent = 0, failed = 0;

        if (argc < 5 || argc % 2 == 0 || parse_num(argv[1], &pid) < 0 || parse_num(argv[2], &node) < 0 ||
            node > 63) {
                fprintf(stderr, "Usage: h2h-move PID NODE START LEN [START LEN ...]\n");
                return 2;
        }
        for (int i = 0; i < BATCH; i++)
                nodes[i] = (int) node;
        for (int a = 3; a < argc; a += 2) {
                uint64_t start, len;

                if (parse_num(argv[a], &start) < 0 || parse_num(argv[a + 1], &len) < 0 ||
                    start % PAGE || len % PAGE) {
                        fprintf(stderr, "h2h-move: bad range '%s' '%s' (numbers, 4 KiB aligned)\n", argv[a], argv[a + 1]);
                        return 2;
                }
                for (uint64_t off = 0; off < len; off += BATCH * PAGE) {
                        unsigned long n = (unsigned long) ((len - off) / PAGE < BATCH ? (len - off) / PAGE : BATCH);

                        for (unsigned long i = 0; i < n; i++)
                                addr[i] = (void *) (uintptr_t) (start + off + i * PAGE);
                        if (move_pages((int) pid, n, addr, nodes, status, MPOL_MF_MOVE) < 0) {
                                fprintf(stderr, "h2h-move: move_pages(pid %" PRIu64 ", %lu pages at 0x%" PRIx64 "): %s\n",
                                        pid, n, start + off, errno == ESRCH ? "no such process" : strerror(errno));
                                return 1;
                        }
                        for (unsigned long i = 0; i < n; i++) {
                                if (status[i] == (int) node)
                                        moved++;
                                else if (status[i] == -ENOENT || status[i] == -EFAULT)
                                        absent++;
                                else
                                        failed++;
                        }
                        pages += n;
                }
        }
        printf("h2h-move: pid=%" PRIu64 " node=%" PRIu64 " pages=%" PRIu64 " moved=%" PRIu64 " absent=%" PRIu64
               " failed=%" PRIu64 "\n", pid, node, pages, moved, absent, failed);
        return 0;
}
