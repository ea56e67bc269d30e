/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lab-migrator MEMHOG [SIZE_MIB]
 *
 * Runs inside the lab. Starts memhog (SIZE MiB, default 256, its hot window being written all
 * along), once with THP off and once with THP on, and runs hand-made plans through vtismd's real
 * migrator (src/daemon/migrator.c) from a real sd-event loop against the real kernel:
 *   1. demote all of it DRAM -> CXL (half of the moves with a known source node, half
 *      query-first), check by querying every page that it is on the CXL node, and that THP stayed
 *      THP (AnonHugePages of memhog's mapping in /proc/PID/smaps not reduced);
 *   2. promote all of it back, same checks;
 *   3. dry-run of a demotion: nothing moves (placement identical), would-move counted;
 *   4. a demotion during which memhog is killed (SIGKILL, after the first slice): the round ends
 *      cleanly with the rest dropped "exited", no move after the exit.
 * The residency sweep runs alongside (budget per "cycle") and must report every page of the VM.
 * Nodes: the first DRAM and the first CXL node of the topology (tests/lab/run's 2-node shape).
 */
#include <errno.h>
#include <inttypes.h>
#include <numaif.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lab-check.h"
#include "lab-smaps.h"
#include "vtism/log.h"
#include "vtism/migrator.h"
#include "vtism/topology.h"
#include "vtism/tracker.h"
#include "vtism/util.h"

#define PAGE UINT64_C(4096)
#define HUGE (UINT64_C(2) << 20)

typedef struct Hog {
        pid_t pid;
        uint64_t addr, size;
        unsigned long long start_time;
        char info[64];
} Hog;

typedef struct Run {
        unsigned rounds;
        MigratorRound last;
        MigratorCounters last_total;
        uint64_t moved_pages, sweep_pages, huge_true, huge_false;
        Hog *kill_hog;              /* kill it after the first moved() */
        bool killed;
        uint64_t moves_after_kill;
} Run;

static usec_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

static void on_placement(void *u, void *vm, uint64_t hva, const int *status, size_t n, MigratorQuery kind) {
        Run *r = u;

        if (kind == MIGRATOR_QUERY_SWEEP)
                r->sweep_pages += n;
}

static void on_moved(void *u, void *vm, uint64_t hva, size_t n, int from, int to, PlanDirection d) {
        Run *r = u;

        r->moved_pages += n;
        if (r->killed)
                r->moves_after_kill++;
        if (r->kill_hog && !r->killed) {
                (void) kill(r->kill_hog->pid, SIGKILL);
                (void) waitpid(r->kill_hog->pid, NULL, 0);
                r->killed = true;
        }
}

static void on_huge(void *u, void *vm, uint64_t hva, bool huge) {
        Run *r = u;

        if (huge)
                r->huge_true++;
        else
                r->huge_false++;
}

static void on_round(void *u, const MigratorRound *round) {
        Run *r = u;

        r->rounds++;
        r->last = *round;
        r->last.vms = NULL;
        r->last_total = round->total;
}

static int hog_start(const char *memhog, uint64_t size_mib, bool thp, Hog *ret) {
        _cleanup_free_ char *size = xasprintf("--size=%" PRIu64, size_mib);
        char path[] = "/tmp/lab-migrator-info.XXXXXX";
        int fd = mkstemp(path);
        usec_t deadline = now_usec() + 120 * USEC_PER_SEC;
        pid_t pid;

        if (fd < 0)
                return -errno;
        close(fd);
        unlink(path);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                _cleanup_free_ char *info = xasprintf("--info=%s", path);

                execl(memhog, memhog, size, "--hot=32", thp ? "--thp=on" : "--thp=off", info, (char *) NULL);
                _exit(127);
        }
        /* memhog writes its info line after touching everything. */
        for (;;) {
                _cleanup_fclose_ FILE *f = fopen(path, "re");
                char line[1024];
                unsigned long long a = 0, s = 0;
                int p = 0;

                if (f && fgets(line, sizeof(line), f) &&
                    sscanf(line, "memhog: pid=%d addr=0x%llx size=%llu", &p, &a, &s) == 3) {
                        *ret = (Hog) { .pid = pid, .addr = a, .size = s };
                        snprintf(ret->info, sizeof(ret->info), "%s", path);
                        break;
                }
                if (now_usec() > deadline || waitpid(pid, NULL, WNOHANG) == pid) {
                        fail("memhog did not start");
                        return -ETIMEDOUT;
                }
                usleep(20000);
        }
        return proc_pid_start_time("/proc", pid, &ret->start_time);
}

static void hog_stop(Hog *h) {
        if (h->pid > 0) {
                (void) kill(h->pid, SIGTERM);
                (void) waitpid(h->pid, NULL, 0);
        }
        (void) unlink(h->info);
        h->pid = 0;
}

/* Pages of the hog on node; *ret_other gets the rest (elsewhere, absent, errors). */
static uint64_t count_on(const Hog *h, int node, uint64_t *ret_other) {
        const uint64_t n = h->size / PAGE, chunk = 16384;
        _cleanup_free_ void **pages = xcalloc(chunk, sizeof(void *));
        _cleanup_free_ int *status = xcalloc(chunk, sizeof(int));
        uint64_t on = 0, other = 0;

        for (uint64_t i = 0; i < n; i += chunk) {
                uint64_t k = MIN(chunk, n - i);

                for (uint64_t p = 0; p < k; p++)
                        pages[p] = (void *) (uintptr_t) (h->addr + (i + p) * PAGE);
                if (move_pages(h->pid, k, pages, NULL, status, 0) < 0) {
                        fail("query of pid %d failed: %m", (int) h->pid);
                        return 0;
                }
                for (uint64_t p = 0; p < k; p++) {
                        if (status[p] == node)
                                on++;
                        else
                                other++;
                }
        }
        *ret_other = other;
        return on;
}

#define N_QUERIES 4

/* The whole hog from -> to: every other 2 MiB known-source, the rest query-first; THP: huge.
 * And queries of its first N_QUERIES blocks (they run after the moves). */
static void build_plan(Plan *p, PlanMove *moves, PlanQuery *queries, const Hog *h, PlanDirection dir, int from,
                       int to, bool thp) {
        size_t n = 0;

        for (size_t q = 0; q < N_QUERIES; q++)
                queries[q] = (PlanQuery) { .vm = 0, .hva = h->addr + q * HUGE, .n_pages = HUGE / PAGE };
        for (uint64_t off = 0; off < h->size; off += HUGE)
                moves[n++] = (PlanMove) {
                        .vm = 0,
                        .direction = dir,
                        .hva = h->addr + off,
                        .n_pages = HUGE / PAGE,
                        .from_node = (off / HUGE) % 2 ? PLAN_NODE_ANY : from,
                        .to_node = to,
                        .huge = thp,
                };
        *p = (Plan) { .moves = moves, .n_moves = n, .n_vms = 1, .budget_bytes = h->size, .queries = queries,
                      .n_queries = N_QUERIES };
}

static int run_round(sd_event *e, Migrator *m, Run *r, unsigned want_rounds, usec_t timeout) {
        usec_t deadline = now_usec() + timeout, next_sweep = 0;

        while (r->rounds < want_rounds) {
                if (now_usec() > deadline) {
                        fail("the round did not end within %llu s", (unsigned long long) (timeout / USEC_PER_SEC));
                        return -ETIMEDOUT;
                }
                if (now_usec() >= next_sweep) {
                        /* a "cycle" of the manager: 16 MiB of placement queries */
                        migrator_refresh_residency(m, 4096);
                        next_sweep = now_usec() + 200 * USEC_PER_MSEC;
                }
                if (sd_event_run(e, 50 * USEC_PER_MSEC) < 0)
                        return -EIO;
        }
        return 0;
}

static void print_round(const char *what, const Run *r, double secs, uint64_t bytes) {
        const MigratorCounters *c = &r->last_total;

        printf("  %s: %.2f s, %.0f MiB/s; moved %" PRIu64 " promoted %" PRIu64 " demoted (%" PRIu64 "+%" PRIu64
               " THPs), already %" PRIu64 ", would %" PRIu64 ", failed %" PRIu64 " (busy %" PRIu64 ", nomem %" PRIu64
               ", gone %" PRIu64 ", shared %" PRIu64 ", other %" PRIu64 "), retried %" PRIu64 ", dropped exited %" PRIu64
               ", queried %" PRIu64 ", slices %" PRIu64 "\n",
               what, secs, secs > 0 ? (double) bytes / MIB / secs : 0.0, c->moved_pages[PLAN_PROMOTE],
               c->moved_pages[PLAN_DEMOTE], c->moved_huge[PLAN_PROMOTE], c->moved_huge[PLAN_DEMOTE],
               c->already_pages[PLAN_PROMOTE] + c->already_pages[PLAN_DEMOTE],
               c->would_move_pages[PLAN_PROMOTE] + c->would_move_pages[PLAN_DEMOTE], migrator_counters_failed(c),
               c->failed_pages[MIGRATOR_FAIL_BUSY], c->failed_pages[MIGRATOR_FAIL_NOMEM],
               c->failed_pages[MIGRATOR_FAIL_GONE], c->failed_pages[MIGRATOR_FAIL_SHARED],
               c->failed_pages[MIGRATOR_FAIL_OTHER], c->retried_pages, c->dropped_pages[MIGRATOR_DROP_EXITED],
               c->queried_pages, r->last.slices);
}

static void check_placement(const Hog *h, int node, const char *step) {
        uint64_t other = 0, on = count_on(h, node, &other), n = h->size / PAGE;

        printf("  %s: %" PRIu64 " of %" PRIu64 " pages on node %d (%" PRIu64 " elsewhere)\n", step, on, n, node, other);
        /* Everything was touched and NUMA balancing is off: all of it, exactly. */
        if (on != n)
                fail("%s: %" PRIu64 " of %" PRIu64 " pages on node %d", step, on, n, node);
}

typedef struct Case {
        Migrator *m;
        sd_event *e;
        Run r;
        Hog h;
        PlanMove *moves;
        PlanQuery queries[N_QUERIES];
        bool thp;
        long huge0;             /* AnonHugePages at the start */
} Case;

/* The plan's queries ran after its moves: the blocks are where the moves put them. */
static void check_queries(const Case *c, int node, const char *what) {
        const PlanPlacement *pl;
        size_t n, on = 0, pages = 0;

        migrator_vm_placement(c->m, (void *) &c->h, &pl, &n);
        for (size_t i = 0; i < n; i++)
                for (size_t p = 0; p < pl[i].n_pages; p++) {
                        pages++;
                        on += pl[i].status[p] == node;
                }
        if (n != N_QUERIES || on != pages || pages != N_QUERIES * HUGE / PAGE)
                fail("%s: the plan's queries found %zu of %zu pages on node %d (%zu queries)", what, on, pages, node, n);
}

/* One round moving the whole hog from -> to (dry-run or not); placement must end up on `expect`. */
static int step(Case *c, const char *what, PlanDirection dir, int from, int to, int expect) {
        const uint64_t n = c->h.size / PAGE;
        const MigratorCounters *tot = &c->r.last_total;
        usec_t t0 = now_usec();
        unsigned want = c->r.rounds + 1;
        long huge;
        Plan p;

        build_plan(&p, c->moves, c->queries, &c->h, dir, from, to, c->thp);
        if (migrator_submit(c->m, &p, (void *[]) { &c->h }) < 0) {
                fail("%s: migrator_submit failed", what);
                return -EINVAL;
        }
        if (run_round(c->e, c->m, &c->r, want, 600 * USEC_PER_SEC) < 0)
                return -ETIMEDOUT;
        print_round(what, &c->r, (double) (now_usec() - t0) / 1e6, c->r.last.dry_run ? 0 : c->h.size);
        if (c->r.kill_hog)
                return 0;
        check_placement(&c->h, expect, what);
        check_queries(c, expect, what);
        if (c->r.last.dry_run) {
                if (tot->would_move_pages[dir] != n)
                        fail("%s: %" PRIu64 " pages would move, expected %" PRIu64, what, tot->would_move_pages[dir], n);
                return 0;
        }
        if (tot->moved_pages[dir] != n)
                fail("%s: %" PRIu64 " pages counted moved, expected %" PRIu64, what, tot->moved_pages[dir], n);
        huge = lab_anon_huge_kib(c->h.pid, c->h.addr);
        printf("  AnonHugePages %ld -> %ld KiB\n", c->huge0, huge);
        if (c->thp && huge < c->huge0)
                fail("%s split THPs: AnonHugePages %ld -> %ld KiB", what, c->huge0, huge);
        if (c->thp && tot->moved_huge[dir] == 0)
                fail("%s: no THP counted moved whole", what);
        return 0;
}

static void run_case(const char *memhog, uint64_t size_mib, bool thp, int dram, int cxl) {
        _cleanup_free_ PlanMove *moves = xcalloc(size_mib * MIB / HUGE + 1, sizeof(PlanMove));
        _cleanup_(migrator_freep) Migrator *m = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        const MigratorSink sink = { on_placement, on_moved, on_huge, on_round };
        Case c = { .moves = moves, .thp = thp };
        const MigratorStats *st;
        HeatRangeSpec range;
        int k;

        printf("THP %s, %" PRIu64 " MiB, DRAM node %d, CXL node %d\n", thp ? "on" : "off", size_mib, dram, cxl);
        if (hog_start(memhog, size_mib, thp, &c.h) < 0) {
                fail("cannot start memhog");
                return;
        }
        c.huge0 = lab_anon_huge_kib(c.h.pid, c.h.addr);
        printf("  memhog pid %d at 0x%" PRIx64 ", AnonHugePages %ld KiB\n", (int) c.h.pid, c.h.addr, c.huge0);
        if (thp && c.huge0 < (long) (size_mib * 1024 / 2))
                fail("THP on, but only %ld KiB of %" PRIu64 " MiB are huge to begin with", c.huge0, size_mib);
        check_placement(&c.h, dram, "start");

        if (sd_event_new(&e) < 0 || migrator_new(e, NULL, &sink, &c.r, &m) < 0) {
                fail("migrator_new failed");
                goto out;
        }
        c.m = m;
        c.e = e;
        printf("  THP probe: %s\n", migrator_thp_probe_reason(m) ?: "on");
        range = (HeatRangeSpec) { .gpa = 0, .hva = c.h.addr, .len_bytes = c.h.size };
        k = migrator_add_vm(m, &c.h, "memhog", c.h.pid, c.h.start_time, &range, 1);
        if (k < 0) {
                fail("migrator_add_vm: %s", strerror(-k));
                goto out;
        }

        /* 1. demote, 2. promote back, 3. a dry-run demotion moves nothing */
        if (step(&c, "demote", PLAN_DEMOTE, dram, cxl, cxl) < 0 || step(&c, "promote", PLAN_PROMOTE, cxl, dram, dram) < 0)
                goto out;
        migrator_set_dry_run(m, true);
        if (step(&c, "dry-run", PLAN_DEMOTE, dram, cxl, dram) < 0)
                goto out;
        if (!c.r.last.dry_run)
                fail("dry-run: the round does not say so");
        migrator_set_dry_run(m, false);

        /* The sweep, a "cycle" after another, until it has seen the whole VM once. */
        for (usec_t deadline = now_usec() + 120 * USEC_PER_SEC; c.r.sweep_pages < c.h.size / PAGE && now_usec() < deadline;) {
                migrator_refresh_residency(m, 4096);
                (void) sd_event_run(e, 50 * USEC_PER_MSEC);
        }
        if (c.r.sweep_pages < c.h.size / PAGE)
                fail("the residency sweep reported %" PRIu64 " pages, fewer than the VM's %" PRIu64, c.r.sweep_pages,
                     c.h.size / PAGE);
        printf("  sweep: %" PRIu64 " pages reported, THP probe: %" PRIu64 " huge, %" PRIu64 " not\n", c.r.sweep_pages,
               c.r.huge_true, c.r.huge_false);
        if (thp && !migrator_thp_probe_reason(m) && c.r.huge_true == 0)
                fail("THP on and the probe is on, but no block was found huge");

        /* 4. the VM exits mid-plan */
        c.r.kill_hog = &c.h;
        if (step(&c, "exit mid-plan", PLAN_DEMOTE, dram, cxl, cxl) < 0)
                goto out;
        if (!c.r.killed)
                fail("exit mid-plan: memhog was not killed (no move happened?)");
        if (c.r.last_total.dropped_pages[MIGRATOR_DROP_EXITED] == 0)
                fail("exit mid-plan: nothing counted dropped \"exited\"");
        if (c.r.moves_after_kill > 0)
                fail("exit mid-plan: %" PRIu64 " moves reported after the exit", c.r.moves_after_kill);
        c.h.pid = 0; /* reaped */

        st = migrator_stats(m);
        printf("  stats: %" PRIu64 " slices, longest %" PRIu64 " us (%zu pages), longest call %" PRIu64
               " us; cost ns/page: 4K %" PRIu64 ", THP %" PRIu64 ", query %" PRIu64 ", per move call %" PRIu64 " ns\n",
               st->slices, st->max_slice_usec, st->max_slice_pages, st->max_batch_usec, st->page_ns[0], st->page_ns[1],
               st->page_ns[2], st->call_ns);
out:
        hog_stop(&c.h);
}

int main(int argc, char **argv) {
        _cleanup_(topology_freep) Topology *t = NULL;
        uint64_t size_mib = argc > 2 ? strtoull(argv[2], NULL, 10) : 256;
        int dram = -1, cxl = -1, r;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc < 2) {
                fprintf(stderr, "usage: lab-migrator MEMHOG [SIZE_MIB]\n");
                return 2;
        }
        if (!getenv("VTISM_LAB")) {
                printf("SKIP: lab-migrator moves pages between NUMA nodes: run it in the lab\n");
                return 77;
        }
        log_set_max_level(LOG_INFO);
        r = topology_load("/sys", NULL, &t);
        if (r < 0) {
                fail("topology_load: %s", strerror(-r));
                return 1;
        }
        for (size_t i = 0; i < t->n_nodes; i++) {
                if (!t->nodes[i].has_memory)
                        continue;
                if (t->nodes[i].tier == NODE_TIER_DRAM && dram < 0)
                        dram = t->nodes[i].id;
                if (t->nodes[i].tier == NODE_TIER_CXL && cxl < 0)
                        cxl = t->nodes[i].id;
        }
        if (dram < 0 || cxl < 0) {
                fail("need a DRAM and a CXL node (found %d and %d)", dram, cxl);
                return 1;
        }
        run_case(argv[1], size_mib, false, dram, cxl);
        run_case(argv[1], size_mib, true, dram, cxl);
        printf("%s: %u failure(s)\n", n_failed ? "FAIL" : "PASS", n_failed);
        return n_failed ? 1 : 0;
}
