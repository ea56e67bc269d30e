/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * migrate-bench: what move_pages(2) costs, and what vtismd's migrator makes of it.
 *
 *   migrate-bench calibrate [--size MIB] [--thp on|off] [--from N] [--to N]
 *   migrate-bench compare   [--size MIB[,MIB...]] [--thp on|off] [--from N] [--to N] [--rounds N]
 *
 * calibrate: maps SIZE MiB (default 256) of anonymous memory of this process, touches it, and
 * moves all of it FROM -> TO and back with bare move_pages(2) calls of growing batch sizes (4 KiB
 * pages: one address per page; THP: one address per 2 MiB, and for comparison every subpage),
 * then times placement queries (nodes = NULL), the start-time check (/proc/self/stat), the floor
 * check (node0/meminfo) and the THP probe (pagemap + kpageflags per 2 MiB). Prints ns per 4 KiB page and per call: the numbers
 * the migrator's batch sizes come from (include/vtism/migrator.h). Needs two memory nodes: run it
 * in the lab (bench/migrate-lab). With one node only the query and probe costs are measured.
 *
 * compare: for each SIZE (default 1,4,16,64,256,512 MiB) moves the region FROM -> TO with ONE
 * bare move_pages(2) call over all its pages (THP: one address per 2 MiB), back, and the same
 * through the migrator (a hand-made Plan run from a real sd-event loop, batched and sliced, every
 * status counted, the target's free memory read before every batch as vtismd does), back, ROUNDS
 * times (default 7), alternating which of the two goes first. Each round gives a paired ratio
 * bare / migrator of two measurements seconds apart (1.0 = as fast as one bare call; the target
 * is >= 0.9); printed: the median time of each, the median ratio and its spread (min..max over
 * the rounds), so the load of a shared host moves the spread, not the verdict. Placement is
 * checked after every move. Times under TCG are only comparable within one run.
 *
 * A benchmark: prints numbers, never fails on time.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <numa.h>
#include <numaif.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lab-smaps.h"
#include "vtism/log.h"
#include "vtism/macro.h"
#include "vtism/migrator.h"
#include "vtism/topology.h"
#include "vtism/tracker.h"

#define PAGE_SZ 4096UL
#define HUGE_SZ (2UL << 20)
#define SUBPAGES (HUGE_SZ / PAGE_SZ)

#define ROUNDS_MAX 64u

typedef struct Args {
        uint64_t sizes_mib[16];
        size_t n_sizes;
        bool thp;
        int from, to;
        unsigned rounds;
} Args;

/* libnuma would print and sometimes exit. */
void numa_error(char *where) {
        fprintf(stderr, "libnuma error in %s: %s\n", where, strerror(errno));
}
_printf_(2, 3) void numa_warn(int num _unused_, char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static double now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

typedef struct Region {
        uint8_t *base;
        size_t len, n_pages;
        void **pages;    /* every 4 KiB page */
        void **heads;    /* one per 2 MiB */
        int *nodes, *status;
} Region;

static int region_map(Region *r, size_t len, bool thp) {
        size_t map_len = len + HUGE_SZ;
        uint8_t *p = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (p == MAP_FAILED)
                return -errno;
        r->base = (uint8_t *) (((uintptr_t) p + HUGE_SZ - 1) & ~(HUGE_SZ - 1));
        r->len = len;
        r->n_pages = len / PAGE_SZ;
        if (madvise(r->base, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) < 0)
                return -errno;
        for (size_t i = 0; i < r->n_pages; i++)
                r->base[i * PAGE_SZ] = (uint8_t) (i + 1);
        r->pages = xcalloc(r->n_pages, sizeof(void *));
        r->heads = xcalloc(r->n_pages / SUBPAGES + 1, sizeof(void *));
        r->nodes = xcalloc(r->n_pages, sizeof(int));
        r->status = xcalloc(r->n_pages, sizeof(int));
        for (size_t i = 0; i < r->n_pages; i++)
                r->pages[i] = r->base + i * PAGE_SZ;
        for (size_t i = 0; i < r->n_pages / SUBPAGES; i++)
                r->heads[i] = r->base + i * HUGE_SZ;
        return 0;
}

/* How many pages are on node (every 4 KiB page queried). */
static size_t region_count_on(Region *r, int node) {
        size_t n = 0;

        if (move_pages(0, r->n_pages, r->pages, NULL, r->status, 0) < 0)
                return 0;
        for (size_t i = 0; i < r->n_pages; i++)
                n += r->status[i] == node;
        return n;
}

/* Move `count` addresses of list to node in calls of `batch`; returns ns, or < 0. */
static double bare_move(void **list, size_t count, size_t batch, int node, int *nodes, int *status, size_t *ret_calls) {
        double t0 = now_ns();
        size_t calls = 0;

        for (size_t i = 0; i < count; i++)
                nodes[i] = node;
        for (size_t i = 0; i < count; i += batch) {
                size_t n = MIN(batch, count - i);

                if (move_pages(0, n, list + i, nodes + i, status + i, MPOL_MF_MOVE) < 0)
                        return -1;
                calls++;
        }
        if (ret_calls)
                *ret_calls = calls;
        return now_ns() - t0;
}

static void calibrate_moves(const Args *a, Region *r) {
        static const size_t batches_4k[] = { 1, 16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384, 0 };
        static const size_t batches_thp[] = { 1, 2, 4, 8, 16, 32, 64, 0 };
        size_t units = r->n_pages / SUBPAGES;

        printf("%-26s %8s %10s %10s %12s %10s\n", "move", "batch", "ns/page", "MiB/s", "us/call", "on-target");
        if (!a->thp) {
                for (size_t k = 0; k < ELEMENTSOF(batches_4k); k++) {
                        size_t batch = batches_4k[k] ?: r->n_pages, calls = 0;
                        /* at most 256 calls per batch size (small batches are slow under TCG) */
                        size_t count = MIN(r->n_pages, MAX(batch * 256, (size_t) 4096));
                        double there, back;
                        size_t on = 0;

                        if (batch > r->n_pages)
                                continue;
                        there = bare_move(r->pages, count, batch, a->to, r->nodes, r->status, &calls);
                        for (size_t i = 0; i < count; i++)
                                on += r->status[i] == a->to;
                        back = bare_move(r->pages, count, count, a->from, r->nodes, r->status, NULL);
                        if (there < 0 || back < 0) {
                                printf("move_pages failed: %m\n");
                                return;
                        }
                        printf("%-26s %8zu %10.0f %10.0f %12.1f %9.1f%%\n", "4K, one addr per page", batch,
                               there / (double) count, (double) count * PAGE_SZ / MIB / (there / 1e9),
                               there / 1e3 / (double) calls, 100.0 * (double) on / (double) count);
                }
                return;
        }
        for (size_t k = 0; k < ELEMENTSOF(batches_thp); k++) {
                size_t batch = batches_thp[k] ?: units, calls = 0;
                double there, back;
                long huge_before = lab_anon_huge_kib(0, (uintptr_t) r->base), huge_after;

                if (batch > units)
                        continue;
                there = bare_move(r->heads, units, batch, a->to, r->nodes, r->status, &calls);
                size_t on = region_count_on(r, a->to);
                back = bare_move(r->heads, units, batch, a->from, r->nodes, r->status, NULL);
                huge_after = lab_anon_huge_kib(0, (uintptr_t) r->base);
                if (there < 0 || back < 0) {
                        printf("move_pages failed: %m\n");
                        return;
                }
                printf("%-26s %8zu %10.0f %10.0f %12.1f %9.1f%%  AnonHugePages %ld -> %ld KiB\n",
                       "THP, one addr per 2 MiB", batch, there / (double) r->n_pages,
                       (double) r->len / MIB / (there / 1e9), there / 1e3 / (double) calls,
                       100.0 * (double) on / (double) r->n_pages, huge_before, huge_after);
        }
        /* Every subpage given: the kernel flushes its list at each already-isolated subpage. */
        double there = bare_move(r->pages, r->n_pages, r->n_pages, a->to, r->nodes, r->status, NULL);
        size_t busy = 0, on_node = 0;
        for (size_t i = 0; i < r->n_pages; i++) {
                busy += r->status[i] == -EBUSY;
                on_node += r->status[i] == a->to;
        }
        size_t on = region_count_on(r, a->to);
        (void) bare_move(r->heads, units, units, a->from, r->nodes, r->status, NULL);
        printf("%-26s %8zu %10.0f %10.0f %12.1f %9.1f%%  status: %zu on node, %zu -EBUSY\n",
               "THP, every subpage", r->n_pages, there / (double) r->n_pages,
               (double) r->len / MIB / (there / 1e9), there / 1e3, 100.0 * (double) on / (double) r->n_pages,
               on_node, busy);
}

static void calibrate_queries(Region *r) {
        static const size_t batches[] = { 16, 256, 1024, 4096, 16384, 0 };

        printf("%-26s %8s %10s %12s\n", "query (nodes = NULL)", "batch", "ns/page", "us/call");
        for (size_t k = 0; k < ELEMENTSOF(batches); k++) {
                size_t batch = batches[k] ?: r->n_pages, calls = 0;
                double t0 = now_ns(), t;

                if (batch > r->n_pages)
                        continue;
                for (size_t i = 0; i < r->n_pages; i += batch, calls++)
                        (void) move_pages(0, MIN(batch, r->n_pages - i), r->pages + i, NULL, r->status + i, 0);
                t = now_ns() - t0;
                printf("%-26s %8zu %10.1f %12.1f\n", "query", batch, t / (double) r->n_pages, t / 1e3 / (double) calls);
        }
}

/* A move_pages call that moves nothing (every page already on its node): the fixed part of a
 * call (lru_cache_disable() draining every CPU's LRU caches, mmap lock), plus the lookups. */
static void calibrate_noop_moves(Region *r) {
        static const size_t batches[] = { 1, 16, 512, 4096 };
        int node = -1;

        if (move_pages(0, 1, r->pages, NULL, &node, 0) < 0 || node < 0) {
                printf("no-op move: cannot query: %m\n");
                return;
        }
        printf("%-26s %8s %10s %12s\n", "no-op move (on its node)", "batch", "ns/page", "us/call");
        for (size_t k = 0; k < ELEMENTSOF(batches); k++) {
                size_t batch = MIN(batches[k], r->n_pages), calls = MIN((size_t) 256, r->n_pages / batch);
                double t0, t;

                for (size_t i = 0; i < batch; i++)
                        r->nodes[i] = node;
                t0 = now_ns();
                for (size_t c = 0; c < calls; c++)
                        (void) move_pages(0, batch, r->pages, r->nodes, r->status, MPOL_MF_MOVE);
                t = now_ns() - t0;
                printf("%-26s %8zu %10.1f %12.1f\n", "no-op move", batch, t / (double) (batch * calls),
                       t / 1e3 / (double) calls);
        }
}

static void calibrate_checks(Region *r) {
        const unsigned n = 2000;
        char buf[1024];
        uint64_t entries[SUBPAGES], flags;
        double t0, t, t1;
        int pm, kpf;

        t0 = now_ns();
        for (unsigned i = 0; i < n; i++) {
                int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);

                if (fd < 0 || read(fd, buf, sizeof(buf)) <= 0)
                        break;
                close(fd);
        }
        t = now_ns() - t0;
        printf("%-40s %10.1f us\n", "start-time check (/proc/PID/stat)", t / 1e3 / n);

        /* The migrator's floor check before every batch: the target node's MemFree, as vtismd
         * reads it (the file kept open, read again from 0), and opened each time. */
        NodeFreeReader *nf = node_free_reader_new("/sys");
        uint64_t free_bytes;
        unsigned reads = 0, opened = 0;

        t0 = now_ns();
        for (unsigned i = 0; i < n / 4; i++)
                reads += node_free_reader_read(nf, 0, &free_bytes) >= 0;
        t = now_ns() - t0;
        nf = node_free_reader_free(nf);
        t1 = now_ns();
        for (unsigned i = 0; i < n / 4; i++)
                opened += topology_read_node_free("/sys", 0, &free_bytes) >= 0;
        t1 = now_ns() - t1;
        if (reads == n / 4 && opened == n / 4)
                printf("%-40s %10.1f us (open+read+close: %.1f us)\n", "floor check (node0/meminfo MemFree)",
                       t / 1e3 / reads, t1 / 1e3 / opened);
        else
                printf("%-40s %s\n", "floor check (node0/meminfo MemFree)", "unavailable");

        pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        kpf = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
        if (pm < 0 || kpf < 0) {
                printf("%-40s %s\n", "THP probe (pagemap + kpageflags)", "unavailable");
                goto out;
        }
        /* What the migrator's residency sweep does per 2 MiB block: the first subpage's pagemap
         * entry, its kpageflags, and for a THP the last subpage's entry (same folio?). */
        size_t units = r->n_pages / SUBPAGES, thp = 0;
        t0 = now_ns();
        for (size_t u = 0; u < units; u++) {
                off_t off = (off_t) ((uintptr_t) r->heads[u] / PAGE_SZ * 8);
                uint64_t pfn;

                if (pread(pm, entries, 8, off) != 8)
                        break;
                pfn = entries[0] & ((UINT64_C(1) << 55) - 1);
                if (!(entries[0] >> 63) || pfn == 0)
                        continue;
                if (pread(kpf, &flags, sizeof(flags), (off_t) (pfn * 8)) != (ssize_t) sizeof(flags))
                        break;
                if (!((flags >> 22) & 1))
                        continue;
                if (pread(pm, entries + 1, 8, off + (off_t) (SUBPAGES - 1) * 8) != 8)
                        break;
                thp += (entries[1] & ((UINT64_C(1) << 55) - 1)) == pfn + SUBPAGES - 1;
        }
        t = now_ns() - t0;
        printf("%-40s %10.2f us per 2 MiB (%.2f ns per 4 KiB page), %zu of %zu blocks THP\n",
               "THP probe (pagemap + kpageflags)", t / 1e3 / (double) units, t / (double) r->n_pages, thp,
               units);
out:
        if (pm >= 0)
                close(pm);
        if (kpf >= 0)
                close(kpf);
}

static int cmd_calibrate(const Args *a) {
        Region r = {};
        int k;

        k = region_map(&r, a->sizes_mib[0] * MIB, a->thp);
        if (k < 0) {
                fprintf(stderr, "mmap: %s\n", strerror(-k));
                return 1;
        }
        printf("calibrate: %" PRIu64 " MiB, THP %s, node %d <-> %d, %d node(s), AnonHugePages %ld KiB\n",
               a->sizes_mib[0], a->thp ? "on" : "off", a->from, a->to, numa_num_configured_nodes(),
               lab_anon_huge_kib(0, (uintptr_t) r.base));
        calibrate_queries(&r);
        calibrate_noop_moves(&r);
        calibrate_checks(&r);
        if (numa_num_configured_nodes() < 2) {
                printf("one NUMA node only: moves not measured (run bench/migrate-lab)\n");
                return 0;
        }
        calibrate_moves(a, &r);
        return 0;
}

/* --- compare: one bare call against the migrator --- */

typedef struct Done {
        bool done;
        MigratorCounters total;
        uint64_t slices;
} Done;

static void on_round(void *userdata, const MigratorRound *round) {
        Done *d = userdata;

        d->done = true;
        d->total = round->total;
        d->slices = round->slices;
}

/* The region FROM -> TO through the migrator: one plan, a move per 2 MiB; returns ns. */
static double migrator_move(Migrator *m, sd_event *e, Done *d, const Region *r, bool thp, int from, int to) {
        _cleanup_free_ PlanMove *moves = xcalloc(r->n_pages / SUBPAGES + 1, sizeof(PlanMove));
        size_t n = 0;
        Plan p;
        double t0;

        /* One move per 2 MiB (a THP: huge), as the planner makes them. */
        for (size_t first = 0; first < r->n_pages; first += SUBPAGES)
                moves[n++] = (PlanMove) {
                        .vm = 0,
                        .direction = to < from ? PLAN_PROMOTE : PLAN_DEMOTE,
                        .hva = (uintptr_t) r->base + first * PAGE_SZ,
                        .n_pages = MIN(SUBPAGES, r->n_pages - first),
                        .from_node = from,
                        .to_node = to,
                        .huge = thp,
                };
        p = (Plan) { .moves = moves, .n_moves = n, .n_vms = 1, .budget_bytes = r->len };
        d->done = false;
        t0 = now_ns();
        if (migrator_submit(m, &p, (void *[]) { (void *) r }) < 0)
                return -1;
        while (!d->done)
                if (sd_event_run(e, 10 * USEC_PER_SEC) <= 0)
                        return -1; /* nothing happened for 10 s: stuck */
        return now_ns() - t0;
}

/* vtismd's reader of a node's free memory (manager-placement.c), so every batch pays for it. */
static int read_node_free(void *userdata, int node, uint64_t *ret_bytes) {
        return node_free_reader_read(userdata, node, ret_bytes);
}

static int double_cmp(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

/* Median, min and max of v[0..n) (sorts a copy). */
static void spread(const double *v, size_t n, double *ret_median, double *ret_min, double *ret_max) {
        double c[ROUNDS_MAX];

        memcpy(c, v, n * sizeof(double));
        qsort(c, n, sizeof(double), double_cmp);
        *ret_median = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
        *ret_min = c[0];
        *ret_max = c[n - 1];
}

int migrate_bench_compare(const Args *a);
int migrate_bench_compare(const Args *a) {
        _cleanup_(migrator_freep) Migrator *m = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        const MigratorSink sink = { .round_done = on_round };
        unsigned long long start_time;
        MigratorOptions o;
        Done d = {};
        int k;

        if (numa_num_configured_nodes() < 2 && !getenv("MIGRATE_BENCH_ONE_NODE")) {
                printf("compare needs two memory nodes: run it in the lab (bench/migrate-lab)\n");
                return 77;
        }
        log_set_max_level(LOG_WARNING);
        migrator_options_init_default(&o);
        o.node_free = read_node_free;
        o.node_free_userdata = node_free_reader_new("/sys");
        if (sd_event_new(&e) < 0 || migrator_new(e, &o, &sink, &d, &m) < 0 ||
            proc_pid_start_time("/proc", getpid(), &start_time) < 0) {
                fprintf(stderr, "cannot set up the migrator\n");
                return 1;
        }
        /* A floor on the target that never binds: the read before every batch is paid, as in vtismd. */
        (void) migrator_set_floor(m, a->to, PAGE_SZ, "bench");
        printf("compare: THP %s, node %d -> %d, %u rounds, bare and migrator alternating first; bare = one move_pages "
               "call over all pages%s\n",
               a->thp ? "on" : "off", a->from, a->to, a->rounds, a->thp ? " (one address per 2 MiB)" : "");
        printf("%6s %22s %22s %7s %13s %6s %7s %9s %s\n", "MiB", "bare ms median (min-max)", "migrator ms median (min-max)",
               "ratio", "ratio min-max", "calls", "slices", "slice ms", a->thp ? "AnonHugePages KiB before -> after" : "");
        for (size_t s = 0; s < a->n_sizes; s++) {
                Region r = {};
                double t_bare[ROUNDS_MAX], t_mig[ROUNDS_MAX], ratio[ROUNDS_MAX], mb, mb0, mb1, mm, mm0, mm1, mr, mr0, mr1;
                uint64_t calls0 = migrator_stats(m)->move_calls, calls = 0, slices = 0;
                long huge_before, huge_after;
                bool ok = true;
                HeatRangeSpec range;

                if (a->thp && a->sizes_mib[s] * MIB < HUGE_SZ)
                        continue;
                k = region_map(&r, a->sizes_mib[s] * MIB, a->thp);
                if (k < 0) {
                        fprintf(stderr, "mmap: %s\n", strerror(-k));
                        return 1;
                }
                range = (HeatRangeSpec) { .hva = (uintptr_t) r.base, .len_bytes = r.len };
                k = migrator_add_vm(m, &r, "bench", getpid(), start_time, &range, 1);
                if (k < 0) {
                        fprintf(stderr, "migrator_add_vm: %s\n", strerror(-k));
                        return 1;
                }
                huge_before = lab_anon_huge_kib(0, (uintptr_t) r.base);
                for (unsigned i = 0; i < a->rounds; i++) {
                        void **list = a->thp ? r.heads : r.pages;
                        size_t count = a->thp ? r.n_pages / SUBPAGES : r.n_pages;

                        /* Alternate which goes first, so a trend of the host's load (or of the
                         * kernel's state after a move) favours neither. */
                        for (unsigned k2 = 0; k2 < 2; k2++) {
                                if ((k2 == 0) == (i % 2 == 0)) {
                                        t_bare[i] = bare_move(list, count, count, a->to, r.nodes, r.status, NULL);
                                        ok = ok && t_bare[i] >= 0 && region_count_on(&r, a->to) == r.n_pages;
                                } else {
                                        calls0 = migrator_stats(m)->move_calls;
                                        t_mig[i] = migrator_move(m, e, &d, &r, a->thp, a->from, a->to);
                                        calls = migrator_stats(m)->move_calls - calls0;
                                        slices = d.slices;
                                        ok = ok && t_mig[i] >= 0 && region_count_on(&r, a->to) == r.n_pages &&
                                             d.total.moved_pages[PLAN_DEMOTE] + d.total.moved_pages[PLAN_PROMOTE] == r.n_pages;
                                }
                                (void) bare_move(list, count, count, a->from, r.nodes, r.status, NULL);
                                ok = ok && region_count_on(&r, a->from) == r.n_pages;
                        }
                        ratio[i] = t_mig[i] > 0 ? t_bare[i] / t_mig[i] : 0;
                }
                huge_after = lab_anon_huge_kib(0, (uintptr_t) r.base);
                spread(t_bare, a->rounds, &mb, &mb0, &mb1);
                spread(t_mig, a->rounds, &mm, &mm0, &mm1);
                spread(ratio, a->rounds, &mr, &mr0, &mr1);
                printf("%6" PRIu64 " %8.1f (%5.1f-%6.1f) %8.1f (%5.1f-%6.1f) %7.3f %6.2f-%-6.2f %6" PRIu64 " %7" PRIu64
                       " %9.2f",
                       a->sizes_mib[s], mb / 1e6, mb0 / 1e6, mb1 / 1e6, mm / 1e6, mm0 / 1e6, mm1 / 1e6, mr, mr0, mr1, calls,
                       slices, (double) migrator_stats(m)->max_slice_usec / 1e3);
                if (a->thp)
                        printf(" %ld -> %ld", huge_before, huge_after);
                printf("%s\n", ok ? "" : "  (placement check FAILED)");
                migrator_forget_vm(m, &r);
                munmap(r.base, r.len);
                free(r.pages);
                free(r.heads);
                free(r.nodes);
                free(r.status);
        }
        const MigratorStats *st = migrator_stats(m);
        printf("migrator: cost estimates ns/page: 4K move %" PRIu64 ", THP move %" PRIu64 ", query %" PRIu64
               "; fixed part of a move call %" PRIu64 " ns"
               "; longest call %.2f ms, longest slice %.2f ms (%zu pages); %" PRIu64 " free-memory reads for %" PRIu64
               " move calls\n",
               st->page_ns[0], st->page_ns[1], st->page_ns[2], st->call_ns, (double) st->max_batch_usec / 1e3,
               (double) st->max_slice_usec / 1e3, st->max_slice_pages, st->floor_reads, st->move_calls);
        m = migrator_free(m);
        node_free_reader_free(o.node_free_userdata);
        return 0;
}

static int parse_sizes(const char *s, Args *a) {
        char *end;

        a->n_sizes = 0;
        while (*s && a->n_sizes < ELEMENTSOF(a->sizes_mib)) {
                unsigned long long v = strtoull(s, &end, 10);

                if (end == s || v == 0 || v > 65536)
                        return -EINVAL;
                a->sizes_mib[a->n_sizes++] = v;
                s = *end == ',' ? end + 1 : end;
                if (*end && *end != ',')
                        return -EINVAL;
        }
        return a->n_sizes > 0 ? 0 : -EINVAL;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "size", required_argument, NULL, 's' },
                { "thp", required_argument, NULL, 't' },
                { "from", required_argument, NULL, 'f' },
                { "to", required_argument, NULL, 'T' },
                { "rounds", required_argument, NULL, 'r' },
                {}
        };
        Args a = { .from = 0, .to = 1, .rounds = 7 };
        bool compare;
        int c;

        if (argc < 2 || (strcmp(argv[1], "calibrate") != 0 && strcmp(argv[1], "compare") != 0)) {
                fprintf(stderr, "usage: migrate-bench calibrate|compare [--size MIB[,MIB...]] [--thp on|off] "
                                "[--from N] [--to N] [--rounds N]\n");
                return 2;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        compare = strcmp(argv[1], "compare") == 0;
        if (compare) {
                const uint64_t def[] = { 1, 4, 16, 64, 256, 512 };
                memcpy(a.sizes_mib, def, sizeof(def));
                a.n_sizes = ELEMENTSOF(def);
        } else {
                a.sizes_mib[0] = 256;
                a.n_sizes = 1;
        }
        optind = 2;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        if (parse_sizes(optarg, &a) < 0) {
                                fprintf(stderr, "bad --size: %s\n", optarg);
                                return 2;
                        }
                        break;
                case 't':
                        a.thp = strcmp(optarg, "on") == 0;
                        break;
                case 'f':
                        a.from = atoi(optarg);
                        break;
                case 'T':
                        a.to = atoi(optarg);
                        break;
                case 'r':
                        a.rounds = (unsigned) MIN(MAX(1, atoi(optarg)), (int) ROUNDS_MAX);
                        break;
                default:
                        return 2;
                }
        if (compare)
                return migrate_bench_compare(&a);
        return cmd_calibrate(&a);
}
