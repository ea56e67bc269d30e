/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lab-move-pages [FROM TO]
 *
 * Runs inside the lab. Moves 4 KiB pages and transparent huge pages of this process from node
 * FROM (default 0) to node TO (default 1) and back with move_pages(2) (numa_move_pages()), and
 * checks after every step, by querying, that each page is where it was sent and still holds its
 * data. For THPs the per-subpage status of a move may be -EBUSY although the huge page moved as a
 * whole, so placement is always re-queried, never taken from the move's status array.
 */
#include <errno.h>
#include <inttypes.h>
#include <numa.h>
#include <numaif.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lab-check.h"
#include "lab-smaps.h"
#include "vtism/macro.h"

#define PAGE_SIZE_4K 4096UL
#define THP_SIZE (2UL * 1024 * 1024)
#define SMALL_PAGES 64
#define N_THP 2

/* libnuma would print and sometimes exit; we want failures reported by our checks. */
void numa_error(char *where) {
        printf("libnuma error in %s: %s\n", where, strerror(errno));
}

_printf_(2, 3) void numa_warn(int num, char *fmt, ...) {
        va_list ap;

        fputs("libnuma warning: ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
}

typedef struct Region {
        const char *name;
        char *base;
        size_t len;
        size_t n_pages; /* 4 KiB pages */
        void **pages;
        int *nodes;
        int *status;
} Region;

static void region_init(Region *r, const char *name, char *base, size_t len) {
        r->name = name;
        r->base = base;
        r->len = len;
        r->n_pages = len / PAGE_SIZE_4K;
        r->pages = xcalloc(r->n_pages, sizeof(void *));
        r->nodes = xcalloc(r->n_pages, sizeof(int));
        r->status = xcalloc(r->n_pages, sizeof(int));
        for (size_t i = 0; i < r->n_pages; i++)
                r->pages[i] = base + i * PAGE_SIZE_4K;
}

static void region_done(Region *r) {
        free(r->pages);
        free(r->nodes);
        free(r->status);
}

static void region_fill(Region *r) {
        for (size_t i = 0; i < r->n_pages; i++)
                memset(r->pages[i], (int) (i * 7 + 1) & 0xff, PAGE_SIZE_4K);
}

static bool region_data_ok(const Region *r) {
        for (size_t i = 0; i < r->n_pages; i++) {
                const unsigned char *p = r->pages[i];
                unsigned char want = (unsigned char) ((i * 7 + 1) & 0xff);

                for (size_t k = 0; k < PAGE_SIZE_4K; k += 512)
                        if (p[k] != want)
                                return false;
        }
        return true;
}

/* Where are the pages now? Fills r->status; returns how many are on node (others printed). */
static size_t region_query(Region *r, int node, bool verbose) {
        size_t on_node = 0, shown = 0;

        if (numa_move_pages(0, r->n_pages, r->pages, NULL, r->status, 0) < 0) {
                fail("%s: querying placement failed: %m", r->name);
                return 0;
        }
        for (size_t i = 0; i < r->n_pages; i++) {
                if (r->status[i] == node)
                        on_node++;
                else if (verbose && shown++ < 4)
                        printf("  %s page %zu: status %d\n", r->name, i, r->status[i]);
        }
        return on_node;
}

/* The second opinion: get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR) on the first and last page. */
static void region_check_mempolicy(const Region *r, int node) {
        const size_t idx[] = { 0, r->n_pages - 1 };

        for (size_t k = 0; k < ELEMENTSOF(idx); k++) {
                int n = -1;

                if (get_mempolicy(&n, NULL, 0, r->pages[idx[k]], MPOL_F_NODE | MPOL_F_ADDR) < 0)
                        fail("%s: get_mempolicy failed: %m", r->name);
                else if (n != node)
                        fail("%s page %zu: get_mempolicy says node %d, expected %d", r->name, idx[k], n, node);
        }
}

static void move_and_check(Region *r, int to, const char *step) {
        size_t on, busy = 0, errors = 0;
        long r_move;

        for (size_t i = 0; i < r->n_pages; i++)
                r->nodes[i] = to;
        r_move = numa_move_pages(0, r->n_pages, r->pages, r->nodes, r->status, MPOL_MF_MOVE);
        if (r_move < 0) {
                fail("%s %s: move_pages to node %d failed: %m", r->name, step, to);
                return;
        }
        for (size_t i = 0; i < r->n_pages; i++)
                if (r->status[i] == -EBUSY)
                        busy++;
                else if (r->status[i] < 0)
                        errors++;

        on = region_query(r, to, true);
        printf("%s %s: move_pages returned %ld; %zu subpage(s) said -EBUSY, %zu other error(s); re-query: %zu/%zu on node %d\n",
               r->name, step, r_move, busy, errors, on, r->n_pages, to);
        if (on != r->n_pages)
                fail("%s %s: %zu of %zu pages are on node %d", r->name, step, on, r->n_pages, to);
        region_check_mempolicy(r, to);
        if (!region_data_ok(r))
                fail("%s %s: data changed by the move", r->name, step);
}

static void round_trip(Region *r, int from, int to) {
        size_t on;

        /* Start from a known place (first touch already put it near our CPU, usually there). */
        move_and_check(r, from, "setup");
        on = region_query(r, from, false);
        if (on != r->n_pages)
                return;
        move_and_check(r, to, "there");
        move_and_check(r, from, "back");
}

int main(int argc, char *argv[]) {
        int from = 0, to = 1;
        Region small = {}, huge = {};
        char *raw, *aligned, *small_base;
        long kib;

        if (argc == 3) {
                from = atoi(argv[1]);
                to = atoi(argv[2]);
        } else if (argc != 1) {
                fprintf(stderr, "Usage: %s [FROM TO]\n", argv[0]);
                return 2;
        }

        if (numa_available() < 0) {
                printf("SKIP: no NUMA support in this kernel\n");
                return 77;
        }
        if (numa_max_node() < MAX(from, to)) {
                printf("SKIP: need nodes %d and %d, the highest node is %d\n", from, to, numa_max_node());
                return 77;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);

        /* 4 KiB pages: explicitly no THP (the lab kernel has THP "always"). */
        small_base = mmap(NULL, SMALL_PAGES * PAGE_SIZE_4K, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (small_base == MAP_FAILED) {
                perror("mmap");
                return 1;
        }
        (void) madvise(small_base, SMALL_PAGES * PAGE_SIZE_4K, MADV_NOHUGEPAGE);
        region_init(&small, "4K", small_base, SMALL_PAGES * PAGE_SIZE_4K);
        region_fill(&small);

        /* THPs: a 2 MiB aligned range with MADV_HUGEPAGE, touched whole. */
        raw = mmap(NULL, (N_THP + 1) * THP_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (raw == MAP_FAILED) {
                perror("mmap");
                return 1;
        }
        aligned = (char *) (((uintptr_t) raw + THP_SIZE - 1) & ~(THP_SIZE - 1));
        if (madvise(aligned, N_THP * THP_SIZE, MADV_HUGEPAGE) < 0)
                fail("madvise(MADV_HUGEPAGE): %m");
        region_init(&huge, "THP", aligned, N_THP * THP_SIZE);
        region_fill(&huge);

        kib = lab_anon_huge_kib(0, (uintptr_t) aligned);
        printf("THP: AnonHugePages of the range after touching: %ld kB\n", kib);
        if (kib < (long) (N_THP * THP_SIZE / 1024))
                fail("THP: the range is not backed by huge pages (AnonHugePages %ld kB); is THP enabled?", kib);

        printf("moving between node %d and node %d\n", from, to);
        round_trip(&small, from, to);
        round_trip(&huge, from, to);

        kib = lab_anon_huge_kib(0, (uintptr_t) aligned);
        printf("THP: AnonHugePages after the round trip: %ld kB (%s)\n", kib,
               kib >= (long) (N_THP * THP_SIZE / 1024) ? "still huge" : "split by migration");

        region_done(&small);
        region_done(&huge);

        if (n_failed > 0) {
                printf("lab-move-pages: %u check(s) failed\n", n_failed);
                return 1;
        }
        printf("lab-move-pages: all checks passed\n");
        return 0;
}
