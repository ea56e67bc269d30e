/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * contiguity-vm PID [ANCHOR_BYTES]: locate the guest RAM of the QEMU process PID as vtismd does
 * (vm_locate_ram: command line + maps), scan its layout in host memory (contiguity-scan) and
 * print the summary: a preview of `vtismctl contiguity` until the daemon serves it, and a way to
 * time a scan of a real guest. Reads only that process's pagemap. Needs root.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vtism/contiguity-scan.h"
#include "vtism/tracker.h"
#include "vtism/util.h"
#include "vtism/vm.h"

static void print_coverage(const char *what, const ContigCoverage *c) {
        printf("%-14s %8" PRIu64 " entries, largest %" PRIu64 " pages; for 80/90/99 %%: %" PRIu64 " / %" PRIu64 " / %" PRIu64
               "; the largest 32/64/128/256 cover %" PRIu64 " / %" PRIu64 " / %" PRIu64 " / %" PRIu64 " pages\n",
               what, c->entries, c->largest_pages, c->entries_for[0], c->entries_for[1], c->entries_for[2],
               c->top_pages[0], c->top_pages[1], c->top_pages[2], c->top_pages[3]);
}

int main(int argc, char *argv[]) {
        _cleanup_free_ char *reason = NULL;
        unsigned long long start_time;
        ContigParams params;
        ContiguityScanStats st;
        ContigSummary s;
        char a[FORMAT_BYTES_MAX];
        struct timespec t0, t1;
        Vm *vm;
        int pid, r;

        if (argc < 2 || safe_atoi(argv[1], &pid) < 0 || pid <= 0) {
                fprintf(stderr, "usage: contiguity-vm PID [ANCHOR_BYTES]\n");
                return 2;
        }
        contig_params_init_default(&params);
        if (argc > 2 && parse_size(argv[2], &params.anchor_bytes) < 0) {
                fprintf(stderr, "bad anchor size '%s'\n", argv[2]);
                return 2;
        }
        r = proc_pid_start_time("/proc", pid, &start_time);
        if (r < 0) {
                fprintf(stderr, "pid %d: %s\n", pid, strerror(-r));
                return 1;
        }
        vm = vm_new(pid, start_time);
        r = vm_locate_ram(vm, "/proc", &reason);
        if (r < 0) {
                fprintf(stderr, "pid %d: guest RAM not found: %s\n", pid, reason ?: strerror(-r));
                vm_free(vm);
                return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        r = contiguity_scan_vm("/proc", "/sys", pid, start_time, vm->ranges, vm->n_ranges, &params, &s, &st);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (r < 0) {
                fprintf(stderr, "pid %d: scan: %s\n", pid, strerror(-r));
                vm_free(vm);
                return 1;
        }
        printf("guest RAM      %s in %zu ranges; %" PRIu64 " pages present, %" PRIu64 " zero, %" PRIu64 " absent\n",
               format_bytes(a, sizeof(a), vm->ram_bytes), vm->n_ranges, s.present_pages, s.zero_pages, s.absent_pages);
        printf("mappings       %" PRIu64 " x 4 KiB, %" PRIu64 " x 2 MiB THP, %" PRIu64 " x 2 MiB hugetlb, %" PRIu64
               " x 1 GiB hugetlb%s\n", s.pages_4k, s.thp_2m, s.hugetlb_2m, s.hugetlb_1g,
               st.pmd_mapping_known ? "" : " (PMD mappings guessed: no PAGEMAP_SCAN)");
        print_coverage("range runs", &s.runs);
        print_coverage("anchor entries", &s.anchors);
        printf("               (anchor %s: %" PRIu64 " pages covered by anchors proper)\n",
               format_bytes(a, sizeof(a), s.params.anchor_bytes), s.anchor_pages);
        if (s.offset_groups_overflow)
                printf("offset groups  more than %" PRIu64 "\n", s.params.max_offset_groups);
        else
                print_coverage("offset groups", &s.offset_groups);
        for (size_t i = 0; i < s.n_nodes; i++)
                printf("node %-3d       %s, %" PRIu64 " pages in huge mappings, %" PRIu64 " runs (largest %" PRIu64
                       " pages): %.1f runs per GiB\n", s.nodes[i].node,
                       format_bytes(a, sizeof(a), s.nodes[i].pages * CONTIG_PAGE_BYTES), s.nodes[i].huge_pages,
                       s.nodes[i].runs, s.nodes[i].largest_run_pages, contiguity_per_gib(s.nodes[i].runs, s.nodes[i].pages));
        printf("scan           %.1f ms, %" PRIu64 " pagemap + %" PRIu64 " kpageflags reads\n",
               (double) (t1.tv_sec - t0.tv_sec) * 1e3 + (double) (t1.tv_nsec - t0.tv_nsec) / 1e6, st.pagemap_reads,
               st.kpageflags_reads);
        vm_free(vm);
        return 0;
}
