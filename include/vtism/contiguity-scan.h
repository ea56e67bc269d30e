/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vtism/contiguity.h"
#include "vtism/heatmap.h"
#include "vtism/macro.h"
#include "vtism/memory-blocks.h"

/*
 * The daemon's reader for the contiguity model (vtism/contiguity.h): where a VM's guest RAM is
 * in host-physical memory, from its QEMU process's page tables.
 *
 * Sources, all below the given proc and sysfs roots (so a unit test runs on fixture files):
 *  - PROC/PID/pagemap of the VM's QEMU pid, and of no other process: one 64-bit entry per
 *    4 KiB of its address space; bit 63 present, bits 0-54 the pfn. The pfns read as 0 without
 *    CAP_SYS_ADMIN: that is -EPERM here, not a layout. Read in batches of
 *    CONTIG_SCAN_BATCH_PAGES entries (128 KiB, 64 MiB of guest RAM; fewer with
 *    contiguity_scan_set_batch_pages()) with one pread each.
 *  - PROC/kpageflags, 64 bits per pfn: COMPOUND_HEAD (15), COMPOUND_TAIL (16), HUGE (17,
 *    hugetlb), THP (22, any large anonymous folio, not only PMD-sized), ZERO_PAGE (24). Read
 *    with one pread per run of consecutive pfns in a batch: one per 2 MiB or less for THP-backed
 *    RAM, one per page for RAM scattered page by page.
 *  - The pfn -> node map of vtism/memory-blocks.h (SYS memory blocks, PROC/zoneinfo).
 *  - When the kernel has it (6.7+), the PAGEMAP_SCAN ioctl on the same pagemap file, asking
 *    only for PAGE_IS_HUGE: which ranges are mapped by a PMD (THP) or hugetlb entry. Without
 *    it (older kernels; regular files in tests) a THP folio whose 512 pages are present and
 *    consecutive counts as 2 MiB-mapped even if the kernel maps it with 512 PTEs (after a
 *    partial mprotect or a split PMD): stats.pmd_mapping_known tells which was used.
 *
 * Mapping sizes, per 2 MiB (and 1 GiB) window of host-virtual addresses lying wholly inside a
 * RAM range: the window is 2 MiB-mapped when its first page is a compound head with THP (or
 * HUGE), its pfn 512-aligned, and the other 511 pages are present, consecutive and compound tails
 * of the same kind (for HUGE also: the page after them is no tail, i.e. the folio is not
 * bigger); 1 GiB-mapped when its first page is a HUGE head at a 262144-aligned pfn and the page
 * 512 pages later is a HUGE tail at the consecutive pfn (then every page of the window whose
 * pfn follows on is marked 1 GiB; contiguity.h checks the window is complete). The shared zero
 * page (4 KiB, or the huge zero page) gives state ZERO. Everything else present is 4 KiB.
 *
 * The scan is incremental so the daemon can run it in slices from its event loop:
 * contiguity_scan_new() opens the files, each contiguity_scan_step() reads at most about
 * max_pages pages (whole batches), contiguity_scan_finish() returns the summary. Cost,
 * measured with bench/contiguity-bench on the (loaded, 2-core) build machine: ~90 ms of CPU per
 * GiB of THP-backed RAM, ~130 ms per GiB of 4 KiB pages; about half of it is the model itself
 * (~170 ns per page record). So a 64 GiB VM takes seconds: step it in slices. Memory: ~0.9 MiB
 * of batch buffers plus the contiguity accumulator (see contiguity.h).
 */

#define CONTIG_SCAN_BATCH_PAGES 16384u
#define CONTIG_SCAN_BATCH_PAGES_MIN 1024u

typedef struct ContiguityScanStats {
        uint64_t pages;                 /* pagemap entries read */
        uint64_t pagemap_reads;
        uint64_t kpageflags_reads;
        uint64_t kpageflags_pages;
        uint64_t unknown_node_pages;    /* present pages whose pfn no memory block or zone spans */
        bool pmd_mapping_known;         /* PAGEMAP_SCAN told which ranges are PMD/hugetlb-mapped */
} ContiguityScanStats;

typedef struct ContiguityScan ContiguityScan;

/*
 * Open PROC/PID/pagemap and PROC/kpageflags and load the memory block map. ranges are the VM's
 * guest RAM (Vm.ranges: gpa, hva, len; 4 KiB aligned, not overlapping in gpa), in any order.
 * start_time, when not 0, is the process start time (/proc/PID/stat field 22) the pid must
 * still have after the files are open: a pid reused by another process gives -ESRCH, never a
 * scan of that process. params NULL = defaults.
 * Errors: -EINVAL bad arguments or ranges; -ESRCH the process is gone (or not that process);
 * -EACCES/-EPERM from opening pagemap (needs ptrace-read access) or kpageflags (root); errors
 * of memory_blocks_load().
 */
int contiguity_scan_new(const char *proc_root, const char *sysfs_root, pid_t pid, unsigned long long start_time,
                        const HeatRangeSpec *ranges, size_t n_ranges, const ContigParams *params,
                        ContiguityScan **ret);
ContiguityScan *contiguity_scan_free(ContiguityScan *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(ContiguityScan *, contiguity_scan_free);

/*
 * Batches of `pages` pagemap entries from now on (a power of two, CONTIG_SCAN_BATCH_PAGES_MIN
 * .. CONTIG_SCAN_BATCH_PAGES; default the maximum), each ending on a multiple of its size in
 * host-virtual addresses: smaller batches for slices of a loaded event loop (the daemon's,
 * under the lab's TCG where a 64 MiB batch can take ~100 ms). The summary does not depend on
 * the batch size. -EINVAL for another size.
 */
int contiguity_scan_set_batch_pages(ContiguityScan *s, size_t pages);

/*
 * Scan the next batches, at least one, until about max_pages pages are read (0: all). Returns
 * 1 while there is more to do, 0 when the scan is complete. Errors: -EPERM pfns hidden (not
 * CAP_SYS_ADMIN); -ESRCH the process exited (pagemap reads 0 bytes for a dead process); -ERANGE
 * a range reaches beyond the process's address space; -EIO a short kpageflags read (a pfn
 * beyond the end of memory); other read errors as -errno. After an error the scan is dead.
 */
int contiguity_scan_step(ContiguityScan *s, uint64_t max_pages);

/* Fraction done, 0..1 (for progress messages). */
double contiguity_scan_progress(const ContiguityScan *s);
/* Pagemap entries read so far (for cost measurements). */
uint64_t contiguity_scan_pages_done(const ContiguityScan *s);

/* The summary once contiguity_scan_step() returned 0 (-EBUSY before, -ESTALE twice). stats may be NULL. */
int contiguity_scan_finish(ContiguityScan *s, ContigSummary *ret, ContiguityScanStats *ret_stats);

/* All in one call (blocking; for tools and tests). */
int contiguity_scan_vm(const char *proc_root, const char *sysfs_root, pid_t pid, unsigned long long start_time,
                       const HeatRangeSpec *ranges, size_t n_ranges, const ContigParams *params,
                       ContigSummary *ret, ContiguityScanStats *ret_stats);
