/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The contiguity reader on the running kernel, scanning this test's own memory (the only process
 * it reads): 8 MiB of anonymous memory asked to be THP-backed and touched, then
 *   - one page of the second 2 MiB window made read-only: the kernel splits that PMD but keeps
 *     the folio whole, so only PAGEMAP_SCAN (Linux 6.7+) can tell the window is no longer
 *     2 MiB-mapped;
 *   - one page of the third window dropped (MADV_DONTNEED): that window has a hole.
 * Needs root (pfns and /proc/kpageflags) and THP not "never"; exits 77 otherwise, or when the
 * kernel gave fewer THPs than asked for (memory too fragmented to test with).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "vtism/contiguity-scan.h"
#include "vtism/tracker.h"
#include "vtism/util.h"

#define MB (UINT64_C(1) << 20)
#define SIZE (8 * MB)

static void scan(uint8_t *buf, unsigned long long start_time, ContigSummary *ret, ContiguityScanStats *st) {
        HeatRangeSpec r = { .gpa = 0, .hva = (uint64_t) (uintptr_t) buf, .len_bytes = SIZE };
        int k = contiguity_scan_vm("/proc", "/sys", getpid(), start_time, &r, 1, NULL, ret, st);

        if (k < 0) {
                fprintf(stderr, "scanning our own memory: %s\n", strerror(-k));
                exit(EXIT_FAILURE);
        }
}

int main(void) {
        _cleanup_free_ char *thp = NULL;
        unsigned long long start_time;
        ContiguityScanStats st;
        ContigSummary s;
        uint8_t *raw, *buf;

        if (geteuid() != 0) {
                printf("SKIP: needs root (pfns in pagemap, /proc/kpageflags)\n");
                return 77;
        }
        if (read_line_at("/sys", "kernel/mm/transparent_hugepage/enabled", &thp) < 0 || strstr(thp, "[never]")) {
                printf("SKIP: transparent huge pages are off on this kernel\n");
                return 77;
        }
        check_int(proc_pid_start_time("/proc", getpid(), &start_time), 0);

        raw = mmap(NULL, SIZE + 2 * MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        check(raw != MAP_FAILED);
        buf = (uint8_t *) (((uintptr_t) raw + 2 * MB - 1) & ~(uintptr_t) (2 * MB - 1));
        check(madvise(buf, SIZE, MADV_HUGEPAGE) == 0);
        for (uint64_t o = 0; o < SIZE; o += 4096)
                buf[o] = (uint8_t) (o >> 12 | 1);

        scan(buf, start_time, &s, &st);
        check_u64(s.ram_pages, 2048);
        check_u64(s.present_pages, 2048);
        if (s.thp_2m < 4) {
                printf("SKIP: the kernel gave %llu of 4 THPs (fragmented memory?)\n", (unsigned long long) s.thp_2m);
                return 77;
        }
        check_u64(s.thp_2m, 4);
        check_u64(s.huge_mismatch_pages, 0);
        check(s.runs.largest_pages >= 512);
        {
                uint64_t huge = 0;

                check(s.n_nodes >= 1);          /* a host with several nodes may spread them */
                for (size_t i = 0; i < s.n_nodes; i++) {
                        check(s.nodes[i].node >= 0); /* every pfn's memory block is known */
                        huge += s.nodes[i].huge_pages;
                }
                check_u64(huge, 2048);
        }
        check_u64(st.unknown_node_pages, 0);
        printf("4 THPs: OK (PAGEMAP_SCAN %s)\n", st.pmd_mapping_known ? "used" : "not available");

        /* PMD split, folio whole */
        check(mprotect(buf + 2 * MB + 4096, 4096, PROT_READ) == 0);
        scan(buf, start_time, &s, &st);
        check_u64(s.present_pages, 2048);
        if (st.pmd_mapping_known) {
                check_u64(s.thp_2m, 3);
                check_u64(s.pages_4k, 512);
        } else
                check_u64(s.thp_2m, 4); /* documented limit without PAGEMAP_SCAN */
        printf("PTE-mapped THP: OK\n");

        /* a hole */
        check(madvise(buf + 4 * MB + 8192, 4096, MADV_DONTNEED) == 0);
        scan(buf, start_time, &s, &st);
        check_u64(s.present_pages, 2047);
        check_u64(s.absent_pages, 1);
        check_u64(s.thp_2m, st.pmd_mapping_known ? 2 : 3);
        check_u64(s.huge_mismatch_pages, 0);
        printf("hole: OK\n");

        check(munmap(raw, SIZE + 2 * MB) == 0);
        printf("test-contiguity-scan-self: OK\n");
        return 0;
}
