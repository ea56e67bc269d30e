/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The migrator against a fake kernel: move_pages(2) is wrapped at link time
 * (-Wl,--wrap=move_pages) and follows mm/migrate.c of Linux 6.12 on a model of two QEMU
 * processes: a node per 4 KiB page, THP folios that move whole (and make later subpages of the
 * same call report -EBUSY), pages that are absent, unmapped, the zero page, shared, busy n times
 * or pinned (their migration fails: the call returns how many did not move and leaves statuses
 * unset), nodes with a capacity (ENOMEM), a cpuset (EACCES), and processes that exit (ESRCH),
 * turn into zombies (EINVAL) or whose pid is reused (the start time in the fake
 * /proc/PID/stat changes). Like the kernel, a call migrates its queued list whenever a page is
 * not queued or the target node changes.
 *
 * The slices run from a real sd-event loop, the move calls on the migrator's worker thread (the
 * fake kernel is only ever entered by one thread at a time: the migrator makes one call at a
 * time). Costs are simulated on the migrator's clock (what the fake kernel "spent", plus real
 * time spent waiting in the loop, for retry delays), so slice and batch bounds are checked
 * deterministically. A gate can hold a move call in the fake kernel, so cases can act while a
 * batch is in flight.
 *
 * Layout of each process (64 MiB at BASE, 16384 pages, 32 blocks of 2 MiB), redrawn per case:
 *
 *     block:  0   1   2   3  ...  31
 *             4K  4K  4K  4K ...  4K      (THP where a case says so)
 */
#include <fcntl.h>
#include <limits.h>
#include <numaif.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "splitmix.h"
#include "vtism/log.h"
#include "vtism/migrator.h"
#include "vtism/util.h"

#define NODES 3                         /* 0 DRAM, 1 and 2 CXL */
#define PAGES 16384u
#define BLOCKS (PAGES / 512u)
#define BASE UINT64_C(0x40000000)
#define K4 UINT64_C(4096)
#define M2 (UINT64_C(2) << 20)
#define ADDR(i) (BASE + (uint64_t) (i) * K4)

/* Simulated costs (microseconds) */
#define COST_4K_USEC 20                 /* per 4 KiB page moved */
#define COST_THP_USEC 2000              /* per THP moved */
#define COST_QUERY_NSEC 1000            /* per page queried */
#define COST_CALL_USEC 5                /* per call (fake_call_usec for moves) */

long __real_move_pages(int pid, unsigned long count, void **pages, const int *nodes, int *status, int flags);
long __wrap_move_pages(int pid, unsigned long count, void **pages, const int *nodes, int *status, int flags);

typedef struct FakeProc {
        pid_t pid;
        unsigned long long start;
        bool exited;                    /* no such task */
        bool zombie;                    /* task without mm */
        unsigned allowed;               /* cpuset.mems as a node mask */
        int node[PAGES];                /* -1: not present */
        bool unmapped[PAGES], zero[PAGES], shared[PAGES];
        uint8_t busy[PAGES];            /* -EBUSY this many more times */
        uint8_t pinned[PAGES];          /* migration fails this many more times */
        bool thp[BLOCKS];
        unsigned move_calls, query_calls;
        unsigned long moved_pages;      /* by the fake */
        unsigned exit_at_move_call;     /* exits just before that move call (1-based; 0: never) */
        unsigned zombie_at_move_call;
        unsigned exit_after_move_call;  /* exits right after that call (before any re-query) */
        unsigned reuse_after_move_call; /* its pid goes to a new process after that call */
        unsigned long moves_after_reuse; /* move calls that reached the new process */
        bool reused;
} FakeProc;

static FakeProc procs[2];
static long node_free[NODES];
static bool isolated[PAGES];
static _Atomic usec_t fake_spent;              /* the worker's calls and the loop add to it */
static usec_t fake_call_usec = COST_CALL_USEC;  /* fixed cost of a move call */
static unsigned stall_at_move_call;             /* that move call (of any process) takes 500 ms more */
static unsigned stall_every;                    /* every n-th move call takes 500 ms more (0: none) */
static usec_t fake_probe_usec;                  /* extra cost of the migrator's probe calls */
static unsigned n_move_calls;
static unsigned long call_pages[4096];          /* pages per move call, in order */
static unsigned long max_call_pages;
/* Floors (test_floors): what the migrator is told, what others allocate on a node at every move
 * call (after the migrator read the node's free memory), and what the fake reader does. */
static long floor_pages[NODES];
static long others_pages[NODES];
static long floor_slack_min;                    /* min over move calls of free - (floor - others) */
static bool free_read_fails;
static unsigned free_reads;
static usec_t free_read_usec;                   /* what a free-memory read costs the loop */
static bool measure_overhead;                   /* MigratorOptions.batch_overhead for the next setup() */
/* The gate: while closed, a move call waits in the fake kernel (before it touches anything). */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_closed;
static unsigned gate_entered;                   /* move calls that reached the gate */
static char root[] = "/tmp/test-migrator.XXXXXX";
static char *proc_root;

static usec_t real_now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

/* The migrator's clock: only what the fake kernel spent, plus the real time the loop spent
 * waiting between dispatches (see loop_run()), so slices and batches measure simulated costs
 * only, whatever the load of the machine (or valgrind). */
static usec_t test_clock(void *userdata) {
        return fake_spent;
}

static void write_file(const char *path, const char *s) {
        FILE *f = fopen(path, "we");

        check(f);
        check(fputs(s, f) >= 0);
        check(fclose(f) == 0);
}

static void write_stat(const FakeProc *p, unsigned long long start) {
        _cleanup_free_ char *dir = xasprintf("%s/%d", proc_root, (int) p->pid);
        _cleanup_free_ char *path = xasprintf("%s/stat", dir);
        _cleanup_free_ char *line = xasprintf("%d (qemu-system-x86) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %llu 0 0\n",
                                              (int) p->pid, start);

        (void) mkdir(dir, 0755);
        write_file(path, line);
}

static void remove_stat(const FakeProc *p) {
        _cleanup_free_ char *path = xasprintf("%s/%d/stat", proc_root, (int) p->pid);

        (void) unlink(path);
}

static FakeProc *proc_by_pid(int pid) {
        for (size_t i = 0; i < ELEMENTSOF(procs); i++)
                if (procs[i].pid == pid)
                        return &procs[i];
        return NULL;
}

/* A fresh model: every page of both processes present on node 0, no THP. */
static void fake_reset(void) {
        for (size_t k = 0; k < ELEMENTSOF(procs); k++) {
                FakeProc *p = &procs[k];

                memset(p, 0, sizeof(*p));
                p->pid = 4242 + (pid_t) k;
                p->start = 1000 + k;
                p->allowed = (1u << NODES) - 1;
                for (unsigned i = 0; i < PAGES; i++)
                        p->node[i] = 0;
                write_stat(p, p->start);
        }
        for (int n = 0; n < NODES; n++)
                node_free[n] = 1000000;
        fake_spent = USEC_PER_SEC;
        fake_call_usec = COST_CALL_USEC;
        stall_at_move_call = n_move_calls = stall_every = 0;
        fake_probe_usec = 0;
        max_call_pages = 0;
        memset(floor_pages, 0, sizeof(floor_pages));
        memset(others_pages, 0, sizeof(others_pages));
        floor_slack_min = LONG_MAX;
        free_read_fails = false;
        free_reads = 0;
        gate_closed = false;
        gate_entered = 0;
}

/* The migrator's reader of a node's free memory: the fake kernel's, which drops as pages move in
 * (and as others allocate). */
static int fake_node_free(void *userdata, int node, uint64_t *ret_bytes) {
        check(node >= 0 && node < NODES);
        free_reads++;
        fake_spent += free_read_usec;
        if (free_read_fails)
                return -EIO;
        *ret_bytes = (uint64_t) MAX(node_free[node], 0L) * K4;
        return 0;
}

static int lookup(const FakeProc *p, uint64_t addr, unsigned *ret_index) {
        uint64_t i;

        if (addr < BASE || addr >= BASE + (uint64_t) PAGES * K4)
                return -EFAULT;
        i = (addr - BASE) / K4;
        if (p->unmapped[i] || p->zero[i])
                return -EFAULT;
        if (p->node[i] < 0)
                return -ENOENT;
        *ret_index = (unsigned) i;
        return 0;
}

/* The first page of the folio holding page i. */
static unsigned folio_head(const FakeProc *p, unsigned i) {
        return p->thp[i / 512] ? i / 512 * 512 : i;
}

static unsigned folio_pages(const FakeProc *p, unsigned i) {
        return p->thp[i / 512] ? 512 : 1;
}

/* migrate_pages() of the queued folios to node: 0, -ENOMEM, or > 0 (failed + not attempted). */
static long flush(FakeProc *p, int node, unsigned *queue, size_t *n_queue, int *status, size_t start, size_t i,
                  size_t count) {
        long failed = 0;

        if (*n_queue == 0)
                return 0;
        for (size_t q = 0; q < *n_queue; q++) {
                unsigned head = queue[q], n = folio_pages(p, head);
                int from = p->node[head];

                isolated[head] = false;
                if (p->pinned[head] > 0) {
                        p->pinned[head]--;
                        failed++;
                        continue;
                }
                if (node_free[node] < (long) n) {
                        for (size_t r = q + 1; r < *n_queue; r++)
                                isolated[queue[r]] = false;
                        *n_queue = 0;
                        return -ENOMEM;
                }
                node_free[node] -= n;
                node_free[from] += n;
                for (unsigned k = head; k < head + n; k++)
                        p->node[k] = node;
                p->moved_pages += n;
                fake_spent += n == 512 ? COST_THP_USEC : COST_4K_USEC;
        }
        *n_queue = 0;
        if (failed > 0)
                return failed + (long) (count - i);
        for (size_t k = start; k < i; k++)
                status[k] = node;
        return 0;
}

/* 1 queued, 0 already there, -errno */
static int add_folio(FakeProc *p, uint64_t addr, int node, unsigned *queue, size_t *n_queue) {
        unsigned i, head;
        int r = lookup(p, addr, &i);

        if (r < 0)
                return r;
        head = folio_head(p, i);
        if (p->node[head] == node)
                return 0;
        if (p->shared[i])
                return -EACCES;
        if (isolated[head])
                return -EBUSY;
        if (p->busy[i] > 0) {
                p->busy[i]--;
                return -EBUSY;
        }
        isolated[head] = true;
        queue[(*n_queue)++] = head;
        return 1;
}

static long fake_move(FakeProc *p, unsigned long count, void **pages, const int *nodes, int *status) {
        static unsigned queue[PAGES * 2];
        size_t n_queue = 0, start = 0, i;
        int current = -1;
        long err = 0, err1;

        memset(isolated, 0, sizeof(isolated));
        for (i = 0; i < count; i++) {
                int node = nodes[i];

                if (node < 0 || node >= NODES) {
                        err = -ENODEV;
                        goto out_flush;
                }
                if (!(p->allowed & (1u << node))) {
                        err = -EACCES;
                        goto out_flush;
                }
                if (current < 0) {
                        current = node;
                        start = i;
                } else if (node != current) {
                        err = flush(p, current, queue, &n_queue, status, start, i, count);
                        if (err)
                                return err;
                        start = i;
                        current = node;
                }
                err = add_folio(p, (uintptr_t) pages[i], current, queue, &n_queue);
                if (err > 0)
                        continue;
                status[i] = err ?: current;
                err = flush(p, current, queue, &n_queue, status, start, i, count);
                if (err)
                        return err > 0 ? err - 1 : err;
                current = -1;
        }
out_flush:
        err1 = flush(p, current, queue, &n_queue, status, start, i, count);
        if (err >= 0)
                err = err1;
        return err;
}

long __wrap_move_pages(int pid, unsigned long count, void **pages, const int *nodes, int *status, int flags) {
        FakeProc *p = proc_by_pid(pid);
        long r;

        if (nodes && pid != 0) {
                (void) pthread_mutex_lock(&gate_lock);
                gate_entered++;
                (void) pthread_cond_broadcast(&gate_cond);
                while (gate_closed)
                        (void) pthread_cond_wait(&gate_cond, &gate_lock);
                (void) pthread_mutex_unlock(&gate_lock);
        }
        fake_spent += COST_CALL_USEC;
        if (pid == 0) {
                /* The migrator's probe of a call's fixed cost: a page of its own, on node 0. */
                for (unsigned long i = 0; i < count; i++)
                        status[i] = 0;
                if (nodes) {
                        check(count == 1 && nodes[0] == 0);
                        fake_spent += fake_call_usec + fake_probe_usec;
                }
                return 0;
        }
        if (!p || p->exited) {
                errno = ESRCH;
                return -1;
        }
        if (p->reused) {
                /* Another process has this pid now: nothing of ours may touch it. */
                if (nodes)
                        p->moves_after_reuse++;
                errno = ESRCH;
                return -1;
        }
        if (!nodes) {
                p->query_calls++;
                for (unsigned long i = 0; i < count; i++) {
                        unsigned idx;
                        int e = lookup(p, (uintptr_t) pages[i], &idx);

                        status[i] = e < 0 ? e : p->node[idx];
                }
                fake_spent += count * COST_QUERY_NSEC / 1000;
                return 0;
        }
        check(flags == MPOL_MF_MOVE);
        fake_spent += fake_call_usec;
        p->move_calls++;
        max_call_pages = MAX(max_call_pages, count);
        if (n_move_calls < ELEMENTSOF(call_pages))
                call_pages[n_move_calls] = count;
        if (++n_move_calls == stall_at_move_call || (stall_every > 0 && n_move_calls % stall_every == 0))
                fake_spent += 500 * USEC_PER_MSEC;
        if (p->exit_at_move_call && p->move_calls >= p->exit_at_move_call) {
                p->exited = true;
                remove_stat(p);
                errno = ESRCH;
                return -1;
        }
        if (p->zombie_at_move_call && p->move_calls >= p->zombie_at_move_call)
                p->zombie = true;
        if (p->zombie) {
                errno = EINVAL;
                return -1;
        }
        for (int n = 0; n < NODES; n++)
                node_free[n] -= MIN(others_pages[n], node_free[n]);
        r = fake_move(p, count, pages, nodes, status);
        if (count > 0 && nodes[0] >= 0 && nodes[0] < NODES && floor_pages[nodes[0]] > 0)
                floor_slack_min = MIN(floor_slack_min, node_free[nodes[0]] - (floor_pages[nodes[0]] - others_pages[nodes[0]]));
        if (p->exit_after_move_call && p->move_calls == p->exit_after_move_call) {
                p->exited = true;
                remove_stat(p);
        }
        if (p->reuse_after_move_call && p->move_calls == p->reuse_after_move_call) {
                p->reused = true;
                write_stat(p, p->start + 777);
        }
        if (r < 0) {
                errno = (int) -r;
                return -1;
        }
        return r;
}

/* --- the sink: records what it is told --- */

typedef struct Moved {
        void *vm;
        uint64_t hva, n;
        int from, to;
        PlanDirection dir;
} Moved;

typedef struct Rec {
        Moved moved[40000];
        size_t n_moved;
        uint64_t moved_pages[2];        /* by the callbacks, per VM */
        uint64_t huge_true, huge_false;
        uint64_t huge_mark[2][BLOCKS];  /* +1 true, count of false in the next */
        unsigned huge_seen[2][BLOCKS];
        uint64_t in_place_pages, planned_pages, sweep_pages[2];
        uint64_t sweep_next[2];         /* expected next sweep hva per VM (ascending, wraps) */
        unsigned sweep_wraps[2];
        bool sweep_order_ok;
        unsigned rounds;
        MigratorRound last;
        MigratorRoundVm last_vms[2];
        char last_ids[2][64];
        /* actions from inside callbacks */
        void (*on_moved)(void);
        void (*on_round)(const MigratorRound *r);
        bool forgotten[2];
} Rec;

static Rec rec;
static Migrator *mig;
static sd_event *ev;
static int vm_keys[2];                  /* their addresses are the keys */
#define KEY(k) ((void *) &vm_keys[k])

static int key_index(void *vm) {
        check(vm == KEY(0) || vm == KEY(1));
        return vm == KEY(0) ? 0 : 1;
}

static void on_placement(void *u, void *vm, uint64_t hva, const int *status, size_t n, MigratorQuery kind) {
        int k = key_index(vm);

        check(!rec.forgotten[k]);
        check(n > 0);
        if (kind == MIGRATOR_QUERY_PLANNED) {
                rec.planned_pages += n;
                for (size_t i = 0; i < n; i++)
                        check_int(status[i], procs[k].node[(hva - BASE) / K4 + i]);
                return;
        }
        rec.sweep_pages[k] += n;
        if (hva != rec.sweep_next[k]) {
                if (hva == BASE && rec.sweep_next[k] == BASE + (uint64_t) PAGES * K4)
                        rec.sweep_wraps[k]++;
                else
                        rec.sweep_order_ok = false;
        }
        /* whole 2 MiB blocks unless the allowance ran out */
        rec.sweep_next[k] = hva + n * K4;
        for (size_t i = 0; i < n; i++) {
                unsigned idx = (unsigned) ((hva - BASE) / K4 + i);

                check_int(status[i], procs[k].node[idx]);
        }
}

static void on_moved(void *u, void *vm, uint64_t hva, size_t n, int from, int to, PlanDirection dir) {
        int k = key_index(vm);

        check(!rec.forgotten[k]);
        check(n > 0);
        check(rec.n_moved < ELEMENTSOF(rec.moved));
        rec.moved[rec.n_moved++] = (Moved) { vm, hva, n, from, to, dir };
        if (from == to)
                rec.in_place_pages += n; /* found already there */
        else
                rec.moved_pages[k] += n;
        for (size_t i = 0; i < n; i++)
                check_int(procs[k].node[(hva - BASE) / K4 + i], to);
        if (rec.on_moved)
                rec.on_moved();
}

static void on_huge(void *u, void *vm, uint64_t hva, bool huge) {
        int k = key_index(vm);
        unsigned b = (unsigned) ((hva - BASE) / M2);

        check(!rec.forgotten[k]);
        check(hva % M2 == 0 && b < BLOCKS);
        if (huge)
                rec.huge_true++;
        else
                rec.huge_false++;
        rec.huge_mark[k][b] = huge;
        rec.huge_seen[k][b]++;
}

static void on_round(void *u, const MigratorRound *r) {
        rec.rounds++;
        rec.last = *r;
        check(r->n_vms <= 2);
        for (size_t i = 0; i < r->n_vms; i++) {
                rec.last_vms[i] = r->vms[i];
                snprintf(rec.last_ids[i], sizeof(rec.last_ids[i]), "%s", r->vms[i].id);
                rec.last_vms[i].id = rec.last_ids[i];
        }
        rec.last.vms = rec.last_vms;
        if (rec.on_round)
                rec.on_round(r);
}

static const MigratorSink sink = {
        .placement = on_placement,
        .moved = on_moved,
        .huge = on_huge,
        .round_done = on_round,
};


/* A fresh fake kernel and a migrator with sink sk and no VMs. */
static void setup_sink(const MigratorOptions *opt, const MigratorSink *sk) {
        MigratorOptions o;

        fake_reset();
        memset(&rec, 0, sizeof(rec));
        rec.sweep_order_ok = true;
        rec.sweep_next[0] = rec.sweep_next[1] = BASE;
        if (opt)
                o = *opt;
        else
                migrator_options_init_default(&o);
        o.proc_root = proc_root;
        o.clock = test_clock;
        /* the test clock counts the loop's real waits too: measured per-batch overheads would
         * depend on the machine's load (test_batch_overhead fakes one) */
        o.batch_overhead = measure_overhead;
        check_int(sd_event_new(&ev), 0);
        check_int(migrator_new(ev, &o, sk, NULL, &mig), 0);
}

static void setup(const MigratorOptions *opt) {
        setup_sink(opt, &sink);
        for (int k = 0; k < 2; k++) {
                HeatRangeSpec r = { .gpa = 0, .hva = BASE, .len_bytes = (uint64_t) PAGES * K4 };
                _cleanup_free_ char *id = xasprintf("vm%d", k);

                check_int(migrator_add_vm(mig, KEY(k), id, procs[k].pid, procs[k].start, &r, 1), 0);
        }
}

static void teardown(void) {
        mig = migrator_free(mig);
        ev = sd_event_unref(ev);
}

static void options_small(MigratorOptions *o) {
        migrator_options_init_default(o);
        o->retry_delay_usec = 1000;
}

/* options_small() with batches sized to take 1 us: always their minimum, 64 pages. */
static void options_min_batches(MigratorOptions *o) {
        options_small(o);
        o->batch_pages_min = 64;
        o->batch_usec = 1;
        o->batch_max_usec = 1;
}

static int loop_run(usec_t timeout) {
        usec_t t0 = real_now();
        int r = sd_event_run(ev, timeout);

        fake_spent += real_now() - t0;
        check(r >= 0);
        return r;
}

/* Run the loop until `rounds` rounds have ended and the migrator has nothing left to do. */
static void run_until_rounds(unsigned rounds) {
        usec_t deadline = real_now() + 20 * USEC_PER_SEC;

        while (rec.rounds < rounds || migrator_state(mig) == MIGRATOR_STATE_MOVING) {
                if (real_now() > deadline) {
                        fprintf(stderr, "timeout: %u of %u rounds ended, state %s\n", rec.rounds, rounds,
                                migrator_state_to_string(migrator_state(mig)));
                        exit(EXIT_FAILURE);
                }
                (void) loop_run(100 * USEC_PER_MSEC);
        }
}

/* Run for a while (until nothing is pending for `quiet_usec` and no call is on the worker). */
static void run_quiet(usec_t quiet_usec) {
        usec_t deadline = real_now() + 20 * USEC_PER_SEC;

        for (;;) {
                if (loop_run(quiet_usec) == 0 && migrator_stats(mig)->in_flight == 0)
                        return;
                check(real_now() < deadline);
        }
}

/* --- plans --- */

typedef struct PlanBuilder {
        Plan plan;
        PlanMove moves[4096];
        PlanQuery queries[64];
        PlanVmResult vms[2];
} PlanBuilder;

static PlanBuilder pb;

static void plan_begin(uint64_t budget_bytes) {
        memset(&pb, 0, sizeof(pb));
        pb.plan = (Plan) { .moves = pb.moves, .vms = pb.vms, .n_vms = 2, .queries = pb.queries,
                           .budget_bytes = budget_bytes };
}

static void plan_query(uint32_t vm, unsigned first_page, unsigned n_pages) {
        check(pb.plan.n_queries < ELEMENTSOF(pb.queries));
        pb.queries[pb.plan.n_queries++] = (PlanQuery) { .vm = vm, .hva = ADDR(first_page), .n_pages = n_pages };
}

static void plan_needs_room(void) {
        pb.moves[pb.plan.n_moves - 1].needs_room = true;
}

static void plan_add(uint32_t vm, PlanDirection dir, unsigned first_page, unsigned n_pages, int from, int to,
                     bool huge) {
        check(pb.plan.n_moves < ELEMENTSOF(pb.moves));
        pb.moves[pb.plan.n_moves++] = (PlanMove) {
                .vm = vm, .direction = dir, .hva = ADDR(first_page), .n_pages = n_pages,
                .from_node = from, .to_node = to, .huge = huge,
        };
}

static void submit(void) {
        void *keys[2] = { KEY(0), KEY(1) };

        check_int(migrator_submit(mig, &pb.plan, keys), 0);
}

static unsigned count_on(int k, unsigned first, unsigned n, int node) {
        unsigned c = 0;

        for (unsigned i = first; i < first + n; i++)
                c += procs[k].node[i] == node;
        return c;
}

/* --- cases --- */

/*
 * vm0: demote pages [0, 3000) 0 -> 1 (known from), promote none; vm1: demote [100, 1100).
 * All move; callbacks add up; more than one batch and slice.
 */
static void test_basic(void) {
        setup(NULL);
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, 3000, 0, 1, false);
        plan_add(1, PLAN_DEMOTE, 100, 1000, 0, 1, false);
        submit();
        check_int(migrator_state(mig), MIGRATOR_STATE_MOVING);
        run_until_rounds(1);
        check_int(count_on(0, 0, 3000, 1), 3000);
        check_int(count_on(1, 100, 1000, 1), 1000);
        check_int(count_on(1, 0, 100, 0), 100);
        check_int(rec.last.end, MIGRATOR_ROUND_DONE);
        check_int(rec.last.n_vms, 2);
        check_str(rec.last.vms[0].id, "vm0");
        check(rec.last.vms[0].vm == KEY(0));
        check_u64(rec.last.vms[0].counters.moved_pages[PLAN_DEMOTE], 3000);
        check_u64(rec.last.vms[1].counters.moved_pages[PLAN_DEMOTE], 1000);
        check_u64(rec.last.total.moved_pages[PLAN_DEMOTE], 4000);
        check_u64(migrator_counters_failed(&rec.last.total), 0);
        check_u64(rec.moved_pages[0], 3000);
        check_u64(rec.moved_pages[1], 1000);
        check_u64(migrator_counters(mig)->moved_pages[PLAN_DEMOTE], 4000);
        check_u64(migrator_counters(mig)->rounds, 1);
        check_u64(migrator_vm_counters(mig, KEY(0))->moved_pages[PLAN_DEMOTE], 3000);
        check_u64(migrator_vm_counters(mig, KEY(0))->rounds, 1);
        check(procs[0].move_calls > 1);
        check(migrator_stats(mig)->slices > 1);
        check(rec.moved[0].from == 0 && rec.moved[0].to == 1 && rec.moved[0].dir == PLAN_DEMOTE);
        check_int(migrator_state(mig), MIGRATOR_STATE_IDLE);
        teardown();
}

/*
 * vm0: demote [0, 512): pages 10..19 busy twice (moved on the 2nd retry), 30..34 busy 9 times
 * (failed busy after 3 retries), 40..44 pinned once (the call stops part-way; moved on retry).
 */
static void test_busy_and_partial(void) {
        MigratorOptions o;

        options_small(&o);
        setup(&o);
        for (unsigned i = 10; i < 20; i++)
                procs[0].busy[i] = 2;
        for (unsigned i = 30; i < 35; i++)
                procs[0].busy[i] = 9;
        for (unsigned i = 40; i < 45; i++)
                procs[0].pinned[i] = 1;
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, 512, 0, 1, false);
        submit();
        run_until_rounds(1);
        check_int(count_on(0, 0, 512, 1), 507);
        check_int(count_on(0, 30, 5, 0), 5);
        check_u64(rec.last.total.moved_pages[PLAN_DEMOTE], 507);
        check_u64(rec.last.total.failed_pages[MIGRATOR_FAIL_BUSY], 5);
        check_u64(migrator_counters_failed(&rec.last.total), 5);
        check(rec.last.total.retried_pages >= 10 * 2 + 5 * 3);
        check_u64(rec.moved_pages[0], 507);
        check(procs[0].busy[30] == 9 - 4); /* 1 attempt + 3 retries */
        teardown();
}

/*
 * Node 1 holds 300 more pages. vm0: demote [0, 1000) to 1, then promote [2000, 2100) to 0 from
 * node 1 (placed there first). The call that hits ENOMEM stops demotions into node 1; the
 * promotion still runs.
 */
static void test_nomem(void) {
        setup(NULL);
        for (unsigned i = 2000; i < 2100; i++)
                procs[0].node[i] = 1;
        node_free[1] = 300;
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, 1000, 0, 1, false);
        plan_add(0, PLAN_PROMOTE, 2000, 100, 1, 0, false);
        submit();
        run_until_rounds(1);
        check_int(count_on(0, 0, 1000, 1), 300);
        check_int(count_on(0, 2000, 100, 0), 100);
        check_u64(rec.last.total.moved_pages[PLAN_DEMOTE], 300);
        check_u64(rec.last.total.moved_pages[PLAN_PROMOTE], 100);
        check(rec.last.total.failed_pages[MIGRATOR_FAIL_NOMEM] > 0);
        check_u64(rec.last.total.failed_pages[MIGRATOR_FAIL_NOMEM] + rec.last.total.dropped_pages[MIGRATOR_DROP_NODE_FULL],
                  700);
        check_u64(rec.moved_pages[0], 400);
        teardown();
}

/*
 * vm0: demote [0, 100): 0..9 absent (-ENOENT), 10..14 unmapped and 15 the zero page (-EFAULT),
 * 20..29 shared (-EACCES, never retried).
 */
static void test_gone_and_shared(void) {
        setup(NULL);
        for (unsigned i = 0; i < 10; i++)
                procs[0].node[i] = -1;
        for (unsigned i = 10; i < 15; i++)
                procs[0].unmapped[i] = true;
        procs[0].zero[15] = true;
        for (unsigned i = 20; i < 30; i++)
                procs[0].shared[i] = true;
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, 100, 0, 1, false);
        submit();
        run_until_rounds(1);
        check_u64(rec.last.total.moved_pages[PLAN_DEMOTE], 74);
        check_u64(rec.last.total.failed_pages[MIGRATOR_FAIL_GONE], 16);
        check_u64(rec.last.total.failed_pages[MIGRATOR_FAIL_SHARED], 10);
        check_u64(rec.last.total.retried_pages, 0);
        check_int(procs[0].move_calls, 1);
        teardown();
}

/*
 * Small batches (64 pages). vm0 exits at its 3rd move call (ESRCH); vm1 becomes a zombie at its
 * 2nd (EINVAL): both end cleanly, their rests dropped "exited"; moves alternate between them.
 */
static void test_exit_mid_plan(void) {
        MigratorOptions o;

        options_min_batches(&o);
        o.batch_pages_max = 512;
        setup(&o);
        procs[0].exit_at_move_call = 3;
        procs[1].zombie_at_move_call = 2;
        plan_begin(UINT64_MAX);
        for (unsigned k = 0; k < 8; k++) {
                plan_add(0, PLAN_DEMOTE, k * 64, 64, 0, 1, false);
                plan_add(1, PLAN_DEMOTE, k * 64, 64, 0, 1, false);
        }
        submit();
        run_until_rounds(1);
        check_int(procs[0].move_calls, 3);
        check_int(procs[1].move_calls, 2);
        check_u64(rec.last.vms[0].counters.moved_pages[PLAN_DEMOTE], 128);
        check_u64(rec.last.vms[0].counters.dropped_pages[MIGRATOR_DROP_EXITED], 512 - 128);
        check_u64(rec.last.vms[1].counters.moved_pages[PLAN_DEMOTE], 64);
        check_u64(rec.last.vms[1].counters.dropped_pages[MIGRATOR_DROP_EXITED], 512 - 64);
        check_u64(migrator_counters_failed(&rec.last.total), 0);
        teardown();
}

/*
 * vm0 exits during its 2nd call (after the kernel moved what it could, before the re-query of
 * its 8 busy pages): those are dropped "exited" with the rest, the moved ones count.
 */
static void test_exit_during_call(void) {
        MigratorOptions o;

        options_min_batches(&o);
        setup(&o);
        procs[0].exit_after_move_call = 2;
        for (unsigned i = 64; i < 72; i++)
                procs[0].busy[i] = 1;
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, 256, 0, 1, false);
        submit();
        run_until_rounds(1);
        check_int(procs[0].move_calls, 2);
        check_u64(rec.last.total.moved_pages[PLAN_DEMOTE], 64 + 56);
        check_u64(rec.last.total.dropped_pages[MIGRATOR_DROP_EXITED], 8 + 128);
        check_u64(rec.last.total.retried_pages, 0);
        check_u64(rec.moved_pages[0], 64 + 56);
        teardown();
}

/*
 * The pid of vm0 is reused after its first move call (the start time changes): no move call may
 * reach the new process (the residency sweep's queries may: its owner re-checks each VM once per
 * cycle, migrator.h); vm1 goes on.
 */
static void test_pid_reuse(void) {
        MigratorOptions o;

        options_min_batches(&o);
        setup(&o);
        procs[0].reuse_after_move_call = 1;
        plan_begin(UINT64_MAX);
        for (unsigned k = 0; k < 4; k++) {
                plan_add(0, PLAN_DEMOTE, k * 64, 64, 0, 1, false);
                plan_add(1, PLAN_DEMOTE, k * 64, 64, 0, 1, false);
        }
        submit();
        migrator_refresh_residency(mig, 100000);
        run_until_rounds(1);
        run_quiet(10 * USEC_PER_MSEC);
        check_int(procs[0].move_calls, 1);
        check_int(procs[0].moves_after_reuse, 0);
        check_u64(rec.last.vms[0].counters.moved_pages[PLAN_DEMOTE], 64);
        check_u64(rec.last.vms[0].counters.dropped_pages[MIGRATOR_DROP_EXITED], 192);
        check_u64(rec.last.vms[1].counters.moved_pages[PLAN_DEMOTE], 256);
        teardown();
}

/*
 * Dry-run: vm0 demote [0, 1000) known, [1000, 2000) query-first, promote [3000, 3100); budget
 * 1500 pages. Nothing moves, no call at all, would-move capped by the budget.
 */
static void test_dry_run(void) {
        setup(NULL);
        migrator_set_dry_run(mig, true);
        check_int(migrator_state(mig), MIGRATOR_STATE_DRY_RUN);
        for (unsigned i = 3000; i < 3100; i++)
                procs[0].node[i] = 1;
        plan_begin(1500 * K4);
        plan_add(0, PLAN_DEMOTE, 0, 1000, 0, 1, false);
        plan_add(0, PLAN_PROMOTE, 3000, 100, 1, 0, false);
        plan_add(0, PLAN_DEMOTE, 1000, 1000, PLAN_NODE_ANY, 1, false);
        submit();
        run_until_rounds(1);
        check_int(procs[0].move_calls + procs[0].query_calls, 0);
        check_int(count_on(0, 0, 3000, 0), 3000);
        check(rec.last.dry_run);
        check_u64(rec.last.total.would_move_pages[PLAN_DEMOTE], 1400);
        check_u64(rec.last.total.would_move_pages[PLAN_PROMOTE], 100);
        check_u64(rec.last.total.dropped_pages[MIGRATOR_DROP_BUDGET], 600);
        check_u64(rec.last.total.moved_pages[PLAN_DEMOTE] + rec.last.total.moved_pages[PLAN_PROMOTE], 0);
        check_u64(rec.n_moved, 0);
        teardown();
}

/* Pause from inside the first moved() callback: no further batch; resuming continues the plan. */
static void pause_now(void) {
        if (!migrator_stats(mig)->move_calls || rec.n_moved != 1)
                return;
        migrator_set_paused(mig, true);
}

static void test_pause(void) {
        MigratorOptions o;
        unsigned calls;

        options_min_batches(&o);
        setup(&o);
        rec.on_moved = pause_now;
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, 640, 0, 1, false);
        submit();
        run_quiet(20 * USEC_PER_MSEC);
        check_int(migrator_state(mig), MIGRATOR_STATE_PAUSED);
        check_int(procs[0].move_calls, 1);
        check_int(rec.rounds, 0);
        calls = procs[0].move_calls;
        run_quiet(20 * USEC_PER_MSEC);
        check_int(procs[0].move_calls, calls);
        rec.on_moved = NULL;
        migrator_set_paused(mig, false);
        run_until_rounds(1);
        check_int(count_on(0, 0, 640, 1), 640);
        check_int(procs[0].move_calls, 10);
        check_u64(rec.last.total.moved_pages[PLAN_DEMOTE], 640);
        teardown();
}

/*
 * Plan A (vm0 demote [0, 4096) in batches of 64) is replaced after its 2nd batch by plan B
 * (vm1 demote [0, 128)): A ends REPLACED with its rest dropped "replaced", B runs to the end.
 */
static MigratorRound round_a;
static unsigned rounds_seen;

static void replace_now(void) {
        if (rec.n_moved != 2 || rounds_seen)
                return;
        rounds_seen = 1;
        plan_begin(UINT64_MAX);
        plan_add(1, PLAN_DEMOTE, 0, 128, 0, 1, false);
        submit(); /* from inside a callback */
}

static void remember_round(const MigratorRound *r) {
        if (r->seq == 1)
                round_a = *r;
}

static void test_replace(void) {
        MigratorOptions o;

        options_min_batches(&o);
        setup(&o);
        rounds_seen = 0;
        rec.on_moved = replace_now;
        rec.on_round = remember_round;
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, 4096, 0, 1, false);
        submit();
        run_until_rounds(2);
        check_int(round_a.end, MIGRATOR_ROUND_REPLACED);
        check_u64(round_a.total.moved_pages[PLAN_DEMOTE], 128);
        check_u64(round_a.total.dropped_pages[MIGRATOR_DROP_REPLACED], 4096 - 128);
        check_int(rec.last.seq, 2);
        check_int(rec.last.end, MIGRATOR_ROUND_DONE);
        check_u64(rec.last.total.moved_pages[PLAN_DEMOTE], 128);
        check_int(count_on(0, 0, 4096, 1), 128);
        check_int(count_on(1, 0, 128, 1), 128);
        check_int(procs[0].move_calls, 2);
        check_u64(migrator_counters(mig)->rounds, 2);

        /* An empty plan ends the running round and starts none; cancel ends one too. */
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 4096, 512, 0, 1, false);
        submit();
        plan_begin(UINT64_MAX);
        submit();
        check_int(rec.rounds, 3);
        check_int(rec.last.end, MIGRATOR_ROUND_REPLACED);
        check_int(migrator_state(mig), MIGRATOR_STATE_IDLE);
        plan_add(0, PLAN_DEMOTE, 4096, 512, 0, 1, false);
        submit();
        migrator_cancel(mig);
        check_int(rec.rounds, 4);
        check_int(rec.last.end, MIGRATOR_ROUND_CANCELLED);
        check_u64(rec.last.total.dropped_pages[MIGRATOR_DROP_REPLACED], 512);
        teardown();
}

/*
 * Budget: 1000 pages. vm0 demote [0, 800) known; [800, 1600) query-first with [800, 1200) already
 * on node 1 ("already", reported as moved 1 -> 1) and [1200, 1300) on node 2 (moved to 1 too: only
 * to_node counts as in place), so 400 remain; then [2000, 2600) known. With 40 busy pages retried
 * the total moved never exceeds 1000.
 */
static void test_budget(void) {
        MigratorOptions o;

        options_small(&o);
        setup(&o);
        for (unsigned i = 800; i < 1200; i++)
                procs[0].node[i] = 1;
        for (unsigned i = 1200; i < 1300; i++)
                procs[0].node[i] = 2;
        for (unsigned i = 100; i < 140; i++)
                procs[0].busy[i] = 1;
        plan_begin(1000 * K4);
        plan_add(0, PLAN_DEMOTE, 0, 800, 0, 1, false);
        plan_add(0, PLAN_DEMOTE, 800, 800, PLAN_NODE_ANY, 1, false);
        plan_add(0, PLAN_DEMOTE, 2000, 600, 0, 1, false);
        submit();
        run_until_rounds(1);
        check_u64(procs[0].moved_pages, 1000);
        check_u64(rec.last.total.moved_pages[PLAN_DEMOTE], 1000);
        check_u64(rec.last.total.already_pages[PLAN_DEMOTE], 400);
        check_u64(rec.last.total.dropped_pages[MIGRATOR_DROP_BUDGET], 800 + 400 + 600 - 1000);
        check_u64(rec.last.budget_bytes, 1000 * K4);
        check_int(count_on(0, 0, 800, 1), 800);
        check_int(count_on(0, 800, 600, 1), 600);
        check_int(count_on(0, 1400, 200, 0), 200);
        check_u64(rec.in_place_pages, 400);
        check_u64(rec.moved_pages[0], 1000);
        teardown();
}

/*
 * Slices: vm0 demotes 8000 pages at a simulated 20 us each (160 ms of work). With the defaults
 * (slices of <= 40 ms of loop work, 5 ms batches: the fixed part of 10 us is small) no slice takes
 * more than ~45 ms, the loop serves a pipe written from inside a callback before the next slice,
 * and sweeping goes on alongside (between the calls: one call at a time).
 */
static int pipe_fds[2];
static uint64_t slices_at_write, slices_at_read;

static void write_pipe(void) {
        if (slices_at_write == 0 && rec.n_moved > 3) {
                slices_at_write = migrator_stats(mig)->slices;
                check(write(pipe_fds[1], "x", 1) == 1);
        }
}

static int on_pipe(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        char c;

        check(read(fd, &c, 1) == 1);
        slices_at_read = migrator_stats(mig)->slices;
        return 0;
}

static void test_slices(void) {
        _cleanup_(sd_event_source_unrefp) sd_event_source *io = NULL;
        const MigratorStats *st;

        setup(NULL);
        check(pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) == 0);
        check_int(sd_event_add_io(ev, &io, pipe_fds[0], EPOLLIN, on_pipe, NULL), 0);
        slices_at_write = slices_at_read = 0;
        rec.on_moved = write_pipe;
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, 8000, 0, 1, false);
        submit();
        migrator_refresh_residency(mig, 4096);
        run_until_rounds(1);
        st = migrator_stats(mig);
        check_int(count_on(0, 0, 8000, 1), 8000);
        check(st->slices >= 160 / 30);
        check(st->max_slice_usec <= 45 * USEC_PER_MSEC);
        /* 20 us per page: a slice of <= 50 ms moves <= 2500 pages */
        check(st->max_slice_pages <= 2500);
        check(max_call_pages <= 20000 / COST_4K_USEC);
        check(st->page_ns[0] >= 15000 && st->page_ns[0] <= 25000);
        check(slices_at_write > 0);
        check_u64(slices_at_read, slices_at_write);
        check_u64(rec.sweep_pages[0] + rec.sweep_pages[1], 4096);
        check(n_move_calls <= 8000 / 200 + 1);
        fprintf(stderr, "slices: %llu, longest %llu us, %zu pages; batch cost %llu ns/page\n",
                (unsigned long long) st->slices, (unsigned long long) st->max_slice_usec, st->max_slice_pages,
                (unsigned long long) st->page_ns[0]);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        teardown();
}

/*
 * One move call stalls for 500 ms (a loaded host): the batches after it shrink by half at most
 * once, and recover: the plan still needs few calls.
 */
static void test_slices_stall(void) {
        setup(NULL);
        stall_at_move_call = 3;
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, 8000, 0, 1, false);
        submit();
        run_until_rounds(1);
        check_int(count_on(0, 0, 8000, 1), 8000);
        check(call_pages[3] >= call_pages[2] / 2 - 1);
        check(n_move_calls <= 8000 / 100);
        fprintf(stderr, "stall: %u calls, after the stall %lu, %lu pages\n", n_move_calls, call_pages[3], call_pages[4]);
        teardown();
}

/* vm0's BLOCKS blocks all THP-backed, one plan demoting each as a 2 MiB unit, run to its end:
 * every page is on node 1 after it. */
static void demote_all_thp(void) {
        for (unsigned b = 0; b < BLOCKS; b++)
                procs[0].thp[b] = true;
        plan_begin(UINT64_MAX);
        for (unsigned b = 0; b < BLOCKS; b++)
                plan_add(0, PLAN_DEMOTE, b * 512, 512, 0, 1, true);
        submit();
        run_until_rounds(1);
        check_int(count_on(0, 0, PAGES, 1), PAGES);
}

/*
 * THP batches on a host that stalls every second move call by 500 ms (the loaded TCG lab, where
 * THP batches shrank to 1-4 huge pages): batches are sized from the lowest of the recent per-page
 * costs, so after the first two calls every batch holds what 10 ms of THP moves at the fake's
 * 2 ms per THP allow (4-5 THPs), stalls or not. (Sized from the running estimate, which doubles
 * at each stall and halves its excess per call, they held 1-2.) 32 THPs, 0 -> 1.
 */
static void test_slices_thp_stalls(void) {
        MigratorOptions o;

        options_small(&o);
        o.batch_usec = 10 * USEC_PER_MSEC;
        setup(&o);
        stall_every = 2;
        demote_all_thp();
        check_u64(rec.last.total.moved_huge[PLAN_DEMOTE], 32);
        fprintf(stderr, "THP stalls: %u move calls, THPs per call:", n_move_calls);
        for (unsigned i = 0; i < n_move_calls && i < ELEMENTSOF(call_pages); i++)
                fprintf(stderr, " %lu", call_pages[i]);
        fprintf(stderr, "; THP cost estimate %llu ns/page\n", (unsigned long long) migrator_stats(mig)->page_ns[1]);
        /* the first two calls go by the starting estimate, the last holds the rest */
        check(n_move_calls >= 4 && n_move_calls <= 10);
        for (unsigned i = 2; i + 1 < n_move_calls; i++)
                check(call_pages[i] >= 4);
        teardown();
}

/*
 * What a batch costs beyond its call (the loop's work around it, wake-ups of the worker): here
 * each batch's free-memory read costs the loop 2 ms, calls 5 us + 2 ms per THP, 32 THPs. Sized
 * to 50x the call's fixed part alone, batches take ~5 ms (batch_usec): 2-3 THPs, ~13 calls, each
 * paying the 2 ms again; sized to 50x (fixed part + 2 ms) they take ~100 ms: at most 5 calls.
 */
static void test_batch_overhead(void) {
        unsigned calls[2];

        for (int on = 0; on < 2; on++) {
                MigratorOptions o;

                measure_overhead = on;
                options_small(&o);
                o.node_free = fake_node_free;
                setup(&o);
                free_read_usec = 2000;
                check_int(migrator_set_floor(mig, 1, K4, "test floor"), 0);
                demote_all_thp();
                calls[on] = n_move_calls;
                teardown();
                measure_overhead = false;
                free_read_usec = 0;
        }
        fprintf(stderr, "batch overhead 2 ms: %u move calls for 32 THPs without measuring it, %u with\n", calls[0], calls[1]);
        check(calls[0] >= 8);
        check(calls[1] <= 5);
}

/*
 * The probe stalls (40 ms each time: it overestimates the fixed part 4x), real calls cost 10 ms
 * plus 20 us per page (like the loaded lab): batches are 50 x the estimate (capped at 500 ms:
 * the 8000 pages in one call or few), and the probe has a slice of its own.
 */
static void test_slices_bad_probe(void) {
        setup(NULL);
        fake_call_usec = 10000;
        fake_probe_usec = 30000;
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, 8000, 0, 1, false);
        submit();
        run_until_rounds(1);
        check_int(count_on(0, 0, 8000, 1), 8000);
        fprintf(stderr, "bad probe: %u calls, call estimate %llu us\n", n_move_calls,
                (unsigned long long) migrator_stats(mig)->call_ns / 1000);
        check(n_move_calls <= 10);
        check(migrator_stats(mig)->max_slice_usec <= 85 * USEC_PER_MSEC); /* the probe: 2 x 40 ms */
        teardown();
}

/*
 * The same with a fixed cost of 3 ms per move call (a big host whose lru_cache_disable() waits
 * for many CPUs, or the lab's TCG): the probe sees it, batches grow to ~150 ms (the fixed part
 * <= 2 %) on the worker, and no slice of the loop exceeds ~40 ms.
 */
static void test_slices_expensive_calls(void) {
        const MigratorStats *st;

        setup(NULL);
        fake_call_usec = 3000;
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, 8000, 0, 1, false);
        submit();
        run_until_rounds(1);
        st = migrator_stats(mig);
        check_int(count_on(0, 0, 8000, 1), 8000);
        check(st->call_ns >= 3000 * 1000);
        check(max_call_pages >= 1000);
        check(procs[0].move_calls <= 8000 / 1000 + 2);
        check(st->max_slice_usec <= 45 * USEC_PER_MSEC);
        fprintf(stderr, "expensive calls: %u calls, %lu pages at most, longest slice %llu us\n", procs[0].move_calls,
                max_call_pages, (unsigned long long) st->max_slice_usec);
        teardown();
}

/* --- batches in flight: the worker holds a call (the gate) while the loop goes on --- */

static void gate_set(bool closed) {
        (void) pthread_mutex_lock(&gate_lock);
        gate_closed = closed;
        (void) pthread_cond_broadcast(&gate_cond);
        (void) pthread_mutex_unlock(&gate_lock);
}

/* Run the loop until the n-th move call waits at the gate. */
static void wait_in_call(unsigned n) {
        usec_t deadline = real_now() + 20 * USEC_PER_SEC;

        for (;;) {
                unsigned entered;

                (void) pthread_mutex_lock(&gate_lock);
                entered = gate_entered;
                (void) pthread_mutex_unlock(&gate_lock);
                if (entered >= n)
                        return;
                check(real_now() < deadline);
                (void) loop_run(10 * USEC_PER_MSEC);
        }
}

typedef struct RoundSeen {
        uint64_t seq;
        MigratorRoundEnd end;
        uint64_t moved, dropped_replaced, dropped_forgotten;
        size_t n_moved_before;          /* moved() callbacks before this round ended */
} RoundSeen;

static RoundSeen rounds_in_order[8];

static void note_round(const MigratorRound *r) {
        check(rec.rounds <= ELEMENTSOF(rounds_in_order));
        rounds_in_order[rec.rounds - 1] = (RoundSeen) {
                .seq = r->seq,
                .end = r->end,
                .moved = r->total.moved_pages[PLAN_DEMOTE],
                .dropped_replaced = r->total.dropped_pages[MIGRATOR_DROP_REPLACED],
                .dropped_forgotten = r->total.dropped_pages[MIGRATOR_DROP_FORGOTTEN],
                .n_moved_before = rec.n_moved,
        };
}

/*
 * Each case: batches of 64 pages; vm0's first move call is held at the gate while the loop acts,
 * then released.
 *
 *   case          plan                                  while the call waits          then
 *   loop free     vm0 demote [0,64)                     a pipe is served; state       moved 64
 *                                                       moving, nothing counted yet
 *   pause         vm0 demote [0,640)                    pause                         its 64 counted, no 2nd
 *                                                                                     call; resume: all 640
 *   VM gone       vm0 [0,128), vm1 [0,128)              forget vm0                    vm0: 64 moved (counted,
 *                                                                                     no callback), 64 dropped
 *                                                                                     "forgotten", 1 call;
 *                                                                                     vm1: 128 moved
 *   in order      A: vm0 [0,256)                        submit B: vm1 [0,64), then    rounds A (replaced, 64
 *                                                       C: vm1 [64,128); no round     moved, 192 replaced),
 *                                                       reported yet                  B (replaced, 0 moved),
 *                                                                                     C (done, 64), in this
 *                                                                                     order; A's moved() first
 *   cancel        vm0 [0,256)                           cancel                        A cancelled, 64 moved
 *   stop          vm0 [0,256)                           (release), migrator_free()    it waits for the call
 */
static int on_pipe_flag(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        char c;

        check(read(fd, &c, 1) == 1);
        *(bool *) userdata = true;
        return 0;
}

static void setup_flight(void) {
        MigratorOptions o;

        options_min_batches(&o);
        setup(&o);
        memset(rounds_in_order, 0, sizeof(rounds_in_order));
        rec.on_round = note_round;
        gate_set(true);
}

/* The common start of an in-flight case: one plan demoting vm0's first N pages, its first call
 * held inside the fake kernel by the gate. */
static void flight_demote(unsigned n_pages) {
        setup_flight();
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, n_pages, 0, 1, false);
        submit();
        wait_in_call(1);
}

static void test_in_flight(void) {
        _cleanup_(sd_event_source_unrefp) sd_event_source *io = NULL;
        int fds[2];
        bool served = false;

        /* loop free */
        setup_flight();
        check(pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
        check_int(sd_event_add_io(ev, &io, fds[0], EPOLLIN, on_pipe_flag, &served), 0);
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, 64, 0, 1, false);
        submit();
        wait_in_call(1);
        check(write(fds[1], "x", 1) == 1);
        while (!served)
                (void) loop_run(100 * USEC_PER_MSEC);
        check_int(migrator_state(mig), MIGRATOR_STATE_MOVING);
        check_int(rec.rounds, 0);
        check_int(rec.n_moved, 0);
        gate_set(false);
        run_until_rounds(1);
        check_u64(rec.last.total.moved_pages[PLAN_DEMOTE], 64);
        check_int(count_on(0, 0, 64, 1), 64);
        io = sd_event_source_disable_unref(io);
        close(fds[0]);
        close(fds[1]);
        teardown();

        /* pause */
        flight_demote(640);
        migrator_set_paused(mig, true);
        gate_set(false);
        run_quiet(20 * USEC_PER_MSEC);
        check_int(migrator_state(mig), MIGRATOR_STATE_PAUSED);
        check_int(procs[0].move_calls, 1);
        check_u64(migrator_vm_counters(mig, KEY(0))->moved_pages[PLAN_DEMOTE], 64);
        check_u64(rec.moved_pages[0], 64);
        check_int(rec.rounds, 0);
        migrator_set_paused(mig, false);
        run_until_rounds(1);
        check_int(procs[0].move_calls, 10);
        check_u64(rec.last.total.moved_pages[PLAN_DEMOTE], 640);
        teardown();

        /* VM gone */
        setup_flight();
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, 128, 0, 1, false);
        plan_add(1, PLAN_DEMOTE, 0, 128, 0, 1, false);
        submit();
        wait_in_call(1);
        migrator_forget_vm(mig, KEY(0));
        rec.forgotten[0] = true;
        check(!migrator_vm_counters(mig, KEY(0)));
        gate_set(false);
        run_until_rounds(1);
        check_int(procs[0].move_calls, 1);
        check_int(count_on(0, 0, 64, 1), 64);   /* the call did move them */
        check(!rec.last.vms[0].vm);
        check_str(rec.last.vms[0].id, "vm0");
        check_u64(rec.last.vms[0].counters.moved_pages[PLAN_DEMOTE], 64);
        check_u64(rec.last.vms[0].counters.dropped_pages[MIGRATOR_DROP_FORGOTTEN], 64);
        check_u64(rec.last.vms[1].counters.moved_pages[PLAN_DEMOTE], 128);
        check_u64(rec.moved_pages[0], 0);
        check_u64(migrator_counters(mig)->moved_pages[PLAN_DEMOTE], 192);
        teardown();

        /* in order */
        flight_demote(256);
        plan_begin(UINT64_MAX);
        plan_add(1, PLAN_DEMOTE, 0, 64, 0, 1, false);
        submit();
        plan_begin(UINT64_MAX);
        plan_add(1, PLAN_DEMOTE, 64, 64, 0, 1, false);
        submit();
        check_int(rec.rounds, 0);
        check_int(migrator_state(mig), MIGRATOR_STATE_MOVING);
        gate_set(false);
        run_until_rounds(3);
        check_int(rounds_in_order[0].seq, 1);
        check_int(rounds_in_order[0].end, MIGRATOR_ROUND_REPLACED);
        check_u64(rounds_in_order[0].moved, 64);
        check_u64(rounds_in_order[0].dropped_replaced, 192);
        check_u64(rounds_in_order[0].n_moved_before, 1);
        check_int(rounds_in_order[1].seq, 2);
        check_int(rounds_in_order[1].end, MIGRATOR_ROUND_REPLACED);
        check_u64(rounds_in_order[1].moved, 0);
        check_u64(rounds_in_order[1].dropped_replaced, 64);
        check_int(rounds_in_order[2].seq, 3);
        check_int(rounds_in_order[2].end, MIGRATOR_ROUND_DONE);
        check_u64(rounds_in_order[2].moved, 64);
        check(rec.n_moved >= 2);
        check(rec.moved[0].vm == KEY(0) && rec.moved[0].hva == ADDR(0) && rec.moved[0].n == 64);
        for (size_t i = 1; i < rec.n_moved; i++)
                check(rec.moved[i].vm == KEY(1) && rec.moved[i].hva >= ADDR(64));
        check_int(procs[0].move_calls, 1);
        check_int(count_on(1, 0, 64, 0), 64);
        check_int(count_on(1, 64, 64, 1), 64);
        teardown();

        /* cancel */
        flight_demote(256);
        migrator_cancel(mig);
        check_int(rec.rounds, 0);
        gate_set(false);
        run_until_rounds(1);
        check_int(rec.last.end, MIGRATOR_ROUND_CANCELLED);
        check_u64(rec.last.total.moved_pages[PLAN_DEMOTE], 64);
        check_u64(rec.last.total.dropped_pages[MIGRATOR_DROP_REPLACED], 192);
        check_int(procs[0].move_calls, 1);
        check_int(migrator_state(mig), MIGRATOR_STATE_IDLE);
        teardown();

        /* stop: migrator_free() waits for the call in flight */
        flight_demote(256);
        gate_set(false);
        teardown();
        check_int(procs[0].move_calls, 1);
        check_int(count_on(0, 0, 64, 1), 64);
}

/*
 * Forget vm0 from inside its first moved() callback: no further call or callback for it, the
 * round lists it with a NULL key and its id, its rest dropped "forgotten"; vm1 goes on. Then a
 * plan naming a VM never added drops its moves.
 */
static void forget_now(void) {
        if (rec.n_moved == 1) {
                migrator_forget_vm(mig, KEY(0));
                rec.forgotten[0] = true;
        }
}

static void test_forget(void) {
        MigratorOptions o;

        options_min_batches(&o);
        setup(&o);
        rec.on_moved = forget_now;
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, 128, 0, 1, false);
        plan_add(1, PLAN_DEMOTE, 0, 128, 0, 1, false);
        plan_add(0, PLAN_DEMOTE, 128, 128, 0, 1, false);
        submit();
        migrator_refresh_residency(mig, 100000);
        run_until_rounds(1);
        check_int(procs[0].move_calls, 1);
        check(!rec.last.vms[0].vm);
        check_str(rec.last.vms[0].id, "vm0");
        check_u64(rec.last.vms[0].counters.moved_pages[PLAN_DEMOTE], 64);
        check_u64(rec.last.vms[0].counters.dropped_pages[MIGRATOR_DROP_FORGOTTEN], 256 - 64);
        check_u64(rec.last.vms[1].counters.moved_pages[PLAN_DEMOTE], 128);
        check(!migrator_vm_counters(mig, KEY(0)));
        run_quiet(10 * USEC_PER_MSEC);

        /* Not registered (any more): dropped, never touched. */
        rec.on_moved = NULL;
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 1000, 64, 0, 1, false);
        submit();
        run_until_rounds(2);
        check_int(procs[0].move_calls, 1);
        check_u64(rec.last.total.dropped_pages[MIGRATOR_DROP_FORGOTTEN], 64);
        check_int(migrator_vm_counters(mig, KEY(0)) == NULL, 1);
        migrator_forget_vm(mig, KEY(0)); /* no-op */
        migrator_forget_vm(mig, KEY(1));
        teardown();
}

/*
 * THP: vm0 blocks 0..3 are THPs on node 0; block 4 is planned huge but is 4 KiB pages (split
 * meanwhile). Plan: demote blocks 0..4 as huge moves. Blocks 0..3 move whole (one address each,
 * tail re-queried: huge(true)); block 4: only its first page moves, huge(false), the other 511
 * follow as 4 KiB pages. Then block 6 (THP) is demoted with a 4 KiB plan of all its 512 pages:
 * the second subpage reports -EBUSY (its folio is isolated already) although it moved: the
 * re-query counts it moved, nothing is retried.
 */
static void test_thp(void) {
        MigratorOptions o;

        options_small(&o);
        setup(&o);
        for (unsigned b = 0; b < 4; b++)
                procs[0].thp[b] = true;
        procs[0].thp[6] = true;
        plan_begin(UINT64_MAX);
        for (unsigned b = 0; b < 5; b++)
                plan_add(0, PLAN_DEMOTE, b * 512, 512, 0, 1, true);
        submit();
        run_until_rounds(1);
        check_int(count_on(0, 0, 5 * 512, 1), 5 * 512);
        check_u64(rec.last.total.moved_pages[PLAN_DEMOTE], 5 * 512);
        check_u64(rec.last.total.moved_huge[PLAN_DEMOTE], 4);
        check_u64(rec.huge_true, 4);
        check_u64(rec.huge_false, 1);
        check(rec.huge_mark[0][4] == 0 && rec.huge_seen[0][4] == 1);
        check_u64(rec.moved_pages[0], 5 * 512);
        check_u64(migrator_counters_failed(&rec.last.total), 0);

        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 6 * 512, 512, 0, 1, false);
        submit();
        run_until_rounds(2);
        check_int(count_on(0, 6 * 512, 512, 1), 512);
        check_u64(rec.last.total.moved_pages[PLAN_DEMOTE], 512);
        check_u64(rec.last.total.retried_pages, 0);
        check_u64(migrator_counters_failed(&rec.last.total), 0);

        /* Huge and query-first: block 8 (THP) already on node 1: "already", reported whole as
         * found there; block 9 moves. */
        procs[0].thp[8] = procs[0].thp[9] = true;
        for (unsigned i = 8 * 512; i < 9 * 512; i++)
                procs[0].node[i] = 1;
        rec.in_place_pages = 0;
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 8 * 512, 512, PLAN_NODE_ANY, 1, true);
        plan_add(0, PLAN_DEMOTE, 9 * 512, 512, PLAN_NODE_ANY, 1, true);
        submit();
        run_until_rounds(3);
        check_u64(rec.last.total.already_pages[PLAN_DEMOTE], 512);
        check_u64(rec.in_place_pages, 512);
        check_u64(rec.last.total.moved_huge[PLAN_DEMOTE], 1);
        check_int(count_on(0, 9 * 512, 512, 1), 512);
        teardown();
}

/*
 * needs_room: vm0 demotes [0, 512) 0 -> 1 but 350 of those pages are shared (fail): node 0 is
 * 350 pages short. Then, in order: promote [1000, 1300) 1 -> 0 needs_room (300: all given up,
 * 50 short left), promote block 4 (a THP) needs_room (given up whole: 0 short), promote
 * [1500, 1600) needs_room (moves), and promote [1600, 1700) without needs_room (moves).
 */
static void test_needs_room(void) {
        MigratorOptions o;

        options_small(&o);
        setup(&o);
        for (unsigned i = 0; i < 350; i++)
                procs[0].shared[i] = true;
        for (unsigned i = 1000; i < 1700; i++)
                procs[0].node[i] = 1;
        procs[0].thp[4] = true;
        for (unsigned i = 4 * 512; i < 5 * 512; i++)
                procs[0].node[i] = 1;
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, 512, 0, 1, false);
        plan_add(0, PLAN_PROMOTE, 1000, 300, 1, 0, false);
        plan_needs_room();
        plan_add(0, PLAN_PROMOTE, 4 * 512, 512, 1, 0, true);
        plan_needs_room();
        plan_add(0, PLAN_PROMOTE, 1500, 100, 1, 0, false);
        plan_needs_room();
        plan_add(0, PLAN_PROMOTE, 1600, 100, 1, 0, false);
        submit();
        run_until_rounds(1);
        check_u64(rec.last.total.moved_pages[PLAN_DEMOTE], 162);
        check_u64(rec.last.total.failed_pages[MIGRATOR_FAIL_SHARED], 350);
        check_u64(rec.last.total.dropped_pages[MIGRATOR_DROP_NO_ROOM], 300 + 512);
        check_u64(rec.last.total.moved_pages[PLAN_PROMOTE], 200);
        check_int(count_on(0, 1000, 300, 1), 300);
        check_int(count_on(0, 4 * 512, 512, 1), 512);
        check_int(count_on(0, 1500, 200, 0), 200);
        teardown();
}

/*
 * Floors: before every move batch into a node with a floor, the migrator reads the node's free
 * memory (the fake reader: the fake kernel's count, which drops as pages move in and as "others"
 * take pages at every move call) and hands over only what keeps the node at or above its floor;
 * the rest fails "floor" and the node takes nothing more in the round until pages move off it
 * (then it is read again before the next batch into it: a plan interleaves demotions and the
 * promotions their room makes, plan.h model 5). In pages; vm0 only; every
 * page starts on node 0 (DRAM) unless a case puts it on node 1; nodes 1 and 2 are CXL.
 *
 *   case                 free (n0,n1,n2)  floor (n0,n1,n2)  moves of vm0                   result
 *   room for all         -, 10000, -      -, 1000, -        demote [0,3000) 0->1           3000 moved
 *   room for part        -, 1500, -       -, 1000, -        demote [0,3000), [3000,3100)   500 moved; 2600 floor;
 *                                                                                           node 1 left at 1000
 *   at its floor         -, 1000, -       -, 1000, -        demote [0,3000)                0 moved; 3000 floor
 *   below it already     -, 200, -        -, 1000, -        demote [0,3000)                0 moved; 3000 floor
 *   THPs whole           -, 2300, -       -, 1000, -        4 THPs (blocks 0-3) 0->1       2 THPs (1024) moved,
 *                                                                                           2 floor; 276 left above
 *   others allocate      -, 6000, -       -, 1000, -        demote [0,8000); others take   some moved, the rest
 *                                         (300 a call)      300 of node 1 every call       floor; never below
 *                                                                                           floor - 300
 *   reader fails         -, 5000, -       -, 4000, -        demote [0,3000)                3000 moved (the
 *                                                                                           planner's check stands)
 *   DRAM watermark       900, -, -        400, -, -         promote [5000,5800) 1->0       500 moved; 300 floor
 *   needs room           -, 1300, -       -, 1000, -        demote [0,600) 0->1, then      300 demoted, 300 floor;
 *                                                           promote [5000,5400) 1->0       promote gives up 300
 *                                                           needs_room                     (no-room), 100 moved
 *   other node free      -, 1000, 9000    -, 1000, 1000     demote [0,1000) ->1,           1000 moved (to 2);
 *                                                           [1000,2000) ->2                1000 floor
 *   reopened             500, -, -        400, -, -         promote [5000,5200) 1->0,      100 promoted, 100 floor;
 *                                                           demote [0,300) 0->1,           300 demoted (node 0 has
 *                                                           promote [5200,5500) 1->0       room again): 300 more
 *                                                           needs_room                     promoted (before: 0)
 *   no floor: no read    -, 10000, -      -, 0, -           demote [0,3000)                3000 moved, 0 reads
 *   dry-run              -, 1000, -       -, 1000, -        demote [0,3000), dry-run       3000 would move, 0 reads
 * ("-": 1000000 free, no floor)
 */
typedef struct FloorMove {
        unsigned first, n;
        int from, to;
        PlanDirection dir;
        bool huge, needs_room;
} FloorMove;

typedef struct FloorCase {
        const char *name;
        long free[NODES], floor[NODES], others[NODES];  /* free: 0 means "-" (1000000) */
        unsigned thp_blocks;                            /* blocks [0, thp_blocks) are THPs */
        unsigned on_node1_first, on_node1_n;            /* these pages start on node 1 */
        bool read_fails, dry_run;
        FloorMove moves[3];
        /* expected; moved_demote_max > 0: a range [moved_demote, moved_demote_max] */
        uint64_t moved_promote, moved_demote, moved_demote_max, failed_floor, no_room, would_move;
        long end_free1;                                 /* node 1's free pages at the end; -1: any */
        bool no_reads;
} FloorCase;

static const FloorCase floor_cases[] = {
        { "room for all", .free = { 0, 10000 }, .floor = { 0, 1000 }, .moves = { { 0, 3000, 0, 1, PLAN_DEMOTE, false, false } },
          .moved_demote = 3000, .end_free1 = 7000 },
        { "room for part", .free = { 0, 1500 }, .floor = { 0, 1000 },
          .moves = { { 0, 3000, 0, 1, PLAN_DEMOTE, false, false }, { 3000, 100, 0, 1, PLAN_DEMOTE, false, false } },
          .moved_demote = 500, .failed_floor = 2600, .end_free1 = 1000 },
        { "at its floor", .free = { 0, 1000 }, .floor = { 0, 1000 }, .moves = { { 0, 3000, 0, 1, PLAN_DEMOTE, false, false } },
          .failed_floor = 3000, .end_free1 = 1000 },
        { "below it already", .free = { 0, 200 }, .floor = { 0, 1000 }, .moves = { { 0, 3000, 0, 1, PLAN_DEMOTE, false, false } },
          .failed_floor = 3000, .end_free1 = 200 },
        { "THPs whole", .free = { 0, 2300 }, .floor = { 0, 1000 }, .thp_blocks = 4,
          .moves = { { 0, 512, 0, 1, PLAN_DEMOTE, true, false }, { 512, 512, 0, 1, PLAN_DEMOTE, true, false },
                     { 1024, 512, 0, 1, PLAN_DEMOTE, true, false } },
          .moved_demote = 1024, .failed_floor = 512, .end_free1 = 1276 },
        { "others allocate", .free = { 0, 6000 }, .floor = { 0, 1000 }, .others = { 0, 300 },
          .moves = { { 0, 8000, 0, 1, PLAN_DEMOTE, false, false } }, .moved_demote = 1, .moved_demote_max = 4999, .end_free1 = -1 },
        { "reader fails", .free = { 0, 5000 }, .floor = { 0, 4000 }, .read_fails = true,
          .moves = { { 0, 3000, 0, 1, PLAN_DEMOTE, false, false } }, .moved_demote = 3000, .end_free1 = 2000 },
        { "DRAM watermark", .free = { 900 }, .floor = { 400 }, .on_node1_first = 5000, .on_node1_n = 800,
          .moves = { { 5000, 800, 1, 0, PLAN_PROMOTE, false, false } }, .moved_promote = 500, .failed_floor = 300, .end_free1 = -1 },
        { "needs room", .free = { 0, 1300 }, .floor = { 0, 1000 }, .on_node1_first = 5000, .on_node1_n = 400,
          .moves = { { 0, 600, 0, 1, PLAN_DEMOTE, false, false }, { 5000, 400, 1, 0, PLAN_PROMOTE, false, true } },
          .moved_demote = 300, .failed_floor = 300, .no_room = 300, .moved_promote = 100, .end_free1 = -1 },
        { "other node free", .free = { 0, 1000, 9000 }, .floor = { 0, 1000, 1000 },
          .moves = { { 0, 1000, 0, 1, PLAN_DEMOTE, false, false }, { 1000, 1000, 0, 2, PLAN_DEMOTE, false, false } },
          .moved_demote = 1000, .failed_floor = 1000, .end_free1 = 1000 },
        { "reopened", .free = { 500 }, .floor = { 400 }, .on_node1_first = 5000, .on_node1_n = 800,
          .moves = { { 5000, 200, 1, 0, PLAN_PROMOTE, false, false }, { 0, 300, 0, 1, PLAN_DEMOTE, false, false },
                     { 5200, 300, 1, 0, PLAN_PROMOTE, false, true } },
          .moved_promote = 400, .moved_demote = 300, .failed_floor = 100, .end_free1 = -1 },
        { "no floor: no read", .free = { 0, 10000 }, .moves = { { 0, 3000, 0, 1, PLAN_DEMOTE, false, false } },
          .moved_demote = 3000, .end_free1 = 7000, .no_reads = true },
        { "dry-run", .free = { 0, 1000 }, .floor = { 0, 1000 }, .dry_run = true,
          .moves = { { 0, 3000, 0, 1, PLAN_DEMOTE, false, false } }, .would_move = 3000, .end_free1 = 1000, .no_reads = true },
};

static void test_floors(void) {
        for (size_t c = 0; c < ELEMENTSOF(floor_cases); c++) {
                const FloorCase *fc = &floor_cases[c];
                const MigratorCounters *t;
                MigratorOptions o;
                uint64_t demoted;

                fprintf(stderr, "floors: %s\n", fc->name);
                options_small(&o);
                o.node_free = fake_node_free;
                setup(&o);
                for (int n = 0; n < NODES; n++) {
                        node_free[n] = fc->free[n] ?: 1000000;
                        floor_pages[n] = fc->floor[n];
                        others_pages[n] = fc->others[n];
                        check_int(migrator_set_floor(mig, n, (uint64_t) fc->floor[n] * K4, "test floor"), 0);
                }
                free_read_fails = fc->read_fails;
                for (unsigned b = 0; b < fc->thp_blocks; b++)
                        procs[0].thp[b] = true;
                for (unsigned i = fc->on_node1_first; i < fc->on_node1_first + fc->on_node1_n; i++)
                        procs[0].node[i] = 1;
                migrator_set_dry_run(mig, fc->dry_run);
                plan_begin(UINT64_MAX);
                for (size_t k = 0; k < ELEMENTSOF(fc->moves) && fc->moves[k].n > 0; k++) {
                        const FloorMove *mv = &fc->moves[k];

                        plan_add(0, mv->dir, mv->first, mv->n, mv->from, mv->to, mv->huge);
                        if (mv->needs_room)
                                plan_needs_room();
                }
                submit();
                run_until_rounds(1);

                t = &rec.last.total;
                demoted = t->moved_pages[PLAN_DEMOTE];
                if (fc->moved_demote_max > 0)
                        check(demoted >= fc->moved_demote && demoted <= fc->moved_demote_max);
                else
                        check_u64(demoted, fc->moved_demote);
                check_u64(t->moved_pages[PLAN_PROMOTE], fc->moved_promote);
                check_u64(t->would_move_pages[PLAN_DEMOTE], fc->would_move);
                check_u64(t->dropped_pages[MIGRATOR_DROP_NO_ROOM], fc->no_room);
                if (fc->moved_demote_max > 0) {
                        /* everything not moved failed "floor" */
                        check(t->failed_pages[MIGRATOR_FAIL_FLOOR] > 0);
                        check_u64(demoted + t->failed_pages[MIGRATOR_FAIL_FLOOR], fc->moves[0].n);
                } else
                        check_u64(t->failed_pages[MIGRATOR_FAIL_FLOOR], fc->failed_floor);
                check_u64(migrator_counters_failed(t), t->failed_pages[MIGRATOR_FAIL_FLOOR]);
                check_u64(migrator_vm_counters(mig, KEY(0))->failed_pages[MIGRATOR_FAIL_FLOOR],
                          t->failed_pages[MIGRATOR_FAIL_FLOOR]);
                check_u64(rec.moved_pages[0], t->moved_pages[PLAN_DEMOTE] + t->moved_pages[PLAN_PROMOTE]);
                if (fc->end_free1 >= 0)
                        check_int(node_free[1], fc->end_free1);
                /* after every call the target kept its floor, but for what others took meanwhile */
                if (!fc->read_fails && floor_slack_min != LONG_MAX)
                        check(floor_slack_min >= 0);
                if (fc->no_reads)
                        check_int(free_reads, 0);
                else {
                        check(free_reads > 0);
                        /* one read per batch into a node with a floor, at most */
                        check(free_reads <= procs[0].move_calls + 1);
                        check_u64(migrator_stats(mig)->floor_reads, free_reads);
                }
                check_int(count_on(0, 0, PAGES, 1) + count_on(0, 0, PAGES, 0) + count_on(0, 0, PAGES, 2), PAGES);
                teardown();
        }
}

/*
 * queries[]: vm0 demotes [0, 64); the plan asks for vm0's block 1, vm1's pages [1024, 1280) and
 * vm0's block 0. They run after the moves (block 0 shows [0, 64) on node 1), each is reported
 * PLANNED, and migrator_vm_placement() returns them sorted by hva until the next submit. Dry-run
 * still runs them; a plan replaced first leaves none.
 */
static void check_placement_of(int k, size_t want) {
        const PlanPlacement *pl;
        size_t n;

        migrator_vm_placement(mig, KEY(k), &pl, &n);
        check_int(n, want);
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        check(pl[i].hva >= pl[i - 1].hva + pl[i - 1].n_pages * K4);
                for (size_t p = 0; p < pl[i].n_pages; p++)
                        check_int(pl[i].status[p], procs[k].node[(pl[i].hva - BASE) / K4 + p]);
        }
}

static void test_queries(void) {
        const PlanPlacement *pl;
        size_t n;

        setup(NULL);
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, 64, 0, 1, false);
        plan_query(0, 512, 512);
        plan_query(1, 1024, 256);
        plan_query(0, 0, 512);
        submit();
        run_until_rounds(1);
        check_u64(rec.planned_pages, 512 + 256 + 512);
        check_placement_of(0, 2);
        check_placement_of(1, 1);
        migrator_vm_placement(mig, KEY(0), &pl, &n);
        check(pl[0].hva == BASE && pl[0].status[0] == 1 && pl[0].status[63] == 1 && pl[0].status[64] == 0);
        check_u64(rec.last.total.queried_pages, 512 + 256 + 512);

        /* the next plan frees them; dry-run runs queries (but moves nothing) */
        migrator_set_dry_run(mig, true);
        plan_begin(UINT64_MAX);
        plan_add(1, PLAN_DEMOTE, 0, 64, 0, 1, false);
        plan_query(1, 0, 512);
        submit();
        check_placement_of(0, 0);
        check_placement_of(1, 0);
        run_until_rounds(2);
        check_placement_of(1, 1);
        check_int(count_on(1, 0, 64, 0), 64);
        migrator_set_dry_run(mig, false);

        /* replaced before it ran its queries: none kept */
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 64, 64, 0, 1, false);
        plan_query(0, 512, 512);
        submit();
        plan_begin(UINT64_MAX);
        submit();
        check_placement_of(0, 0);
        check_int(rec.last.end, MIGRATOR_ROUND_REPLACED);

        /* a query crossing a block boundary is refused */
        plan_begin(UINT64_MAX);
        plan_query(0, 500, 20);
        check_int(migrator_submit(mig, &pb.plan, (void *[]) { KEY(0), KEY(1) }), -EINVAL);
        teardown();
}

/*
 * A plan computed while the round before it had a call in flight cannot know what that call
 * moves: its moves of the same pages to the same node are counted "already", not moved again.
 * Batches of 64 pages: A demotes vm0 [0,256), its first call held; B (replacing A) demotes
 * [0,256) too; the held call comes back: B moves [64,256) (192) and counts [0,64) already.
 */
static void test_late_call(void) {
        flight_demote(256);
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, 256, 0, 1, false);
        submit();
        gate_set(false);
        run_until_rounds(2);
        check_int(rounds_in_order[0].end, MIGRATOR_ROUND_REPLACED);
        check_u64(rounds_in_order[0].moved, 64);
        check_u64(rounds_in_order[1].moved, 192);
        check_u64(rec.last.total.already_pages[PLAN_DEMOTE], 64);
        check_int(count_on(0, 0, 256, 1), 256);
        teardown();
}

/*
 * A plan's queries run before its moves, so a round replaced mid-way still leaves them for the
 * next plan (on a slow host every round may be replaced; before, their queries never ran and
 * placement was never refreshed). Batches of 64 pages, the first move call held at the gate:
 *   A: vm0 demote [0,256), query block 0     while its 1st call waits: block 0 kept, all on 0
 *   B (replaces A): vm0 query block 1        A's call comes back: block 0's statuses follow
 *                                            its 64 moved pages (1) until B frees them; then
 *                                            B's query runs: block 1 kept
 */
static void test_queries_first(void) {
        const PlanPlacement *pl;
        size_t n;

        setup_flight();
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, 256, 0, 1, false);
        plan_query(0, 0, 512);
        submit();
        wait_in_call(1);
        migrator_vm_placement(mig, KEY(0), &pl, &n);
        if (n != 1)
                fprintf(stderr, "queries first: %zu blocks of placement kept while the first move call waits, want 1\n", n);
        check_int(n, 1);
        check(pl[0].hva == ADDR(0) && pl[0].n_pages == 512 && pl[0].status[0] == 0 && pl[0].status[511] == 0);
        check_u64(rec.planned_pages, 512);

        /* the call comes back: the kept statuses of what it moved say where it went */
        gate_set(false);
        while (rec.n_moved == 0)
                check(loop_run(100 * USEC_PER_MSEC) >= 0);
        migrator_vm_placement(mig, KEY(0), &pl, &n);
        check_int(n, 1);
        check(pl[0].status[0] == 1 && pl[0].status[63] == 1);
        check(pl[0].status[256] == 0 && pl[0].status[511] == 0);
        gate_set(true);
        wait_in_call(2);

        /* B replaces A while A's second call waits; B's query runs once that call is back */
        plan_begin(UINT64_MAX);
        plan_query(0, 512, 512);
        submit();
        check_placement_of(0, 0);
        gate_set(false);
        run_until_rounds(2);
        check_int(rounds_in_order[0].end, MIGRATOR_ROUND_REPLACED);
        migrator_vm_placement(mig, KEY(0), &pl, &n);
        check_int(n, 1);
        check(pl[0].hva == ADDR(512) && pl[0].status[0] == 0);
        check_u64(rec.planned_pages, 1024);
        teardown();
}

/* The VM's cpuset allows node 0 only: demoting fails "not-allowed" once, the rest of its
 * demotions are dropped, its promotions and the other VM's demotions go on. */
static void test_not_allowed(void) {
        MigratorOptions o;

        options_min_batches(&o);
        setup(&o);
        procs[0].allowed = 1u << 0;
        for (unsigned i = 1000; i < 1064; i++)
                procs[0].node[i] = 1;
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, 256, 0, 1, false);
        plan_add(1, PLAN_DEMOTE, 0, 64, 0, 1, false);
        plan_add(0, PLAN_PROMOTE, 1000, 64, 1, 0, false);
        submit();
        run_until_rounds(1);
        check_u64(rec.last.vms[0].counters.failed_pages[MIGRATOR_FAIL_NOT_ALLOWED], 64);
        check_u64(rec.last.vms[0].counters.dropped_pages[MIGRATOR_DROP_NODE_FULL], 192);
        check_u64(rec.last.vms[0].counters.moved_pages[PLAN_PROMOTE], 64);
        check_u64(rec.last.vms[1].counters.moved_pages[PLAN_DEMOTE], 64);
        check_int(procs[0].move_calls, 2);
        teardown();
}

/*
 * Residency sweep: budget 5000 pages per call, 2 VMs of 16384 pages: batches alternate between
 * the VMs, each VM's pages come in ascending order in whole 2 MiB blocks (every batch ends on a
 * block boundary, so a call may overrun its budget by < 512 pages), cursors continue across
 * calls and wrap; a call resets the allowance (unused allowance is not carried). THP probe from fixture pagemap/kpageflags files: blocks
 * 0, 5 and 31 of vm1 are THPs.
 */
static void write_at(const char *path, uint64_t index, uint64_t value) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

        check(fd >= 0);
        check(pwrite(fd, &value, sizeof(value), (off_t) (index * 8)) == 8);
}

static void make_pagemap_fixture(void) {
        _cleanup_free_ char *kpf = xasprintf("%s/kpageflags", proc_root);

        for (int k = 0; k < 2; k++) {
                _cleanup_free_ char *pm = xasprintf("%s/%d/pagemap", proc_root, (int) procs[k].pid);

                for (unsigned i = 0; i < PAGES; i++) {
                        uint64_t pfn = 0x10000 + (uint64_t) k * PAGES + i;
                        bool thp = k == 1 && (i / 512 == 0 || i / 512 == 5 || i / 512 == 31);

                        write_at(pm, ADDR(i) / K4, (UINT64_C(1) << 63) | pfn);
                        write_at(kpf, pfn, thp ? ((UINT64_C(1) << 22) | (i % 512 == 0 ? UINT64_C(1) << 15 : UINT64_C(1) << 16)) : 0);
                }
        }
}

static void test_sweep(void) {
        unsigned total_huge;
        uint64_t swept;

        make_pagemap_fixture();
        setup(NULL);
        check(!migrator_thp_probe_reason(mig));
        migrator_refresh_residency(mig, 5000);
        run_quiet(10 * USEC_PER_MSEC);
        swept = rec.sweep_pages[0] + rec.sweep_pages[1];
        check(swept >= 5000 && swept < 5000 + 512);
        check(rec.sweep_order_ok);
        migrator_refresh_residency(mig, 1000);
        migrator_refresh_residency(mig, 3000); /* not cumulative */
        run_quiet(10 * USEC_PER_MSEC);
        check(rec.sweep_pages[0] + rec.sweep_pages[1] - swept >= 3000);
        check(rec.sweep_pages[0] + rec.sweep_pages[1] - swept < 3000 + 512);
        for (int c = 0; c < 10; c++) {
                swept = rec.sweep_pages[0] + rec.sweep_pages[1];
                migrator_refresh_residency(mig, 5000);
                run_quiet(10 * USEC_PER_MSEC);
                check(rec.sweep_pages[0] + rec.sweep_pages[1] - swept >= 5000);
                check(rec.sweep_pages[0] + rec.sweep_pages[1] - swept < 5000 + 512);
        }
        check(rec.sweep_order_ok);
        check(rec.sweep_wraps[0] >= 1 && rec.sweep_wraps[1] >= 1);
        /* fair: within one batch of each other */
        check(rec.sweep_pages[0] > 20000 && rec.sweep_pages[1] > 20000);
        check(rec.huge_mark[1][0] && rec.huge_mark[1][5] && rec.huge_mark[1][31]);
        total_huge = 0;
        for (int k = 0; k < 2; k++)
                for (unsigned b = 0; b < BLOCKS; b++)
                        total_huge += (unsigned) rec.huge_mark[k][b];
        check_int(total_huge, 3);
        check(rec.huge_seen[0][1] > 0 && rec.huge_seen[1][7] > 0);
        check(migrator_stats(mig)->probe_blocks > 0);
        check_u64(migrator_vm_counters(mig, KEY(0))->queried_pages, rec.sweep_pages[0]);

        /* A VM that exits is skipped; placement queries of a gone VM stop. */
        procs[0].exited = true;
        remove_stat(&procs[0]);
        uint64_t before = rec.sweep_pages[0];
        migrator_refresh_residency(mig, 5000);
        run_quiet(10 * USEC_PER_MSEC);
        check_u64(rec.sweep_pages[0], before);
        teardown();

        /* Without kpageflags the probe is off and says why. */
        _cleanup_free_ char *kpf = xasprintf("%s/kpageflags", proc_root);
        check(unlink(kpf) == 0);
        setup(NULL);
        check(migrator_thp_probe_reason(mig));
        check(strstr(migrator_thp_probe_reason(mig), "kpageflags"));
        teardown();
}

static int on_busy(sd_event_source *s, void *userdata) {
        return 0;
}

/* A loop that is never idle (cycles that overrun their interval) still gets one slice per call. */
static void test_sweep_starved(void) {
        _cleanup_(sd_event_source_disable_unrefp) sd_event_source *busy = NULL;
        uint64_t swept;

        make_pagemap_fixture();
        setup(NULL);
        check_int(sd_event_add_defer(ev, &busy, on_busy, NULL), 0);
        check_int(sd_event_source_set_enabled(busy, SD_EVENT_ON), 0); /* always pending, priority 0 */
        migrator_refresh_residency(mig, 5000);
        for (int i = 0; i < 20; i++)
                (void) loop_run(0);
        check_u64(rec.sweep_pages[0] + rec.sweep_pages[1], 0); /* starved */
        check_u64(migrator_stats(mig)->forced_slices, 0);
        for (int c = 1; c <= 3; c++) {
                swept = rec.sweep_pages[0] + rec.sweep_pages[1];
                migrator_refresh_residency(mig, 5000); /* the next cycle: one slice of the last one's work */
                check_u64(migrator_stats(mig)->forced_slices, (uint64_t) c);
                check(rec.sweep_pages[0] + rec.sweep_pages[1] > swept);
                for (int i = 0; i < 20; i++)
                        (void) loop_run(0);
        }
        /* A second call within the same loop iteration (no cycle went by) forces nothing. */
        migrator_refresh_residency(mig, 5000);
        check_u64(migrator_stats(mig)->forced_slices, 4);
        migrator_refresh_residency(mig, 5000);
        check_u64(migrator_stats(mig)->forced_slices, 4);
        busy = sd_event_source_disable_unref(busy);
        /* An idle loop runs the slices itself: nothing forced. */
        run_quiet(10 * USEC_PER_MSEC);
        migrator_refresh_residency(mig, 5000);
        run_quiet(10 * USEC_PER_MSEC);
        migrator_refresh_residency(mig, 5000);
        check_u64(migrator_stats(mig)->forced_slices, 4);
        teardown();
}

static void test_invalid(void) {
        void *keys[2] = { KEY(0), KEY(1) };
        HeatRangeSpec bad = { .hva = BASE + 1, .len_bytes = K4 };

        setup(NULL);
        check_int(migrator_add_vm(mig, KEY(0), "x", 1, 1, NULL, 0), -EEXIST);
        check_int(migrator_add_vm(mig, (void *) 1, "x", 0, 1, NULL, 0), -EINVAL);
        check_int(migrator_add_vm(mig, (void *) 1, "x", 1, 1, &bad, 1), -EINVAL);
        plan_begin(UINT64_MAX);
        plan_add(2, PLAN_DEMOTE, 0, 1, 0, 1, false);
        check_int(migrator_submit(mig, &pb.plan, keys), -EINVAL);
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 1, 512, 0, 1, true); /* huge, not 2 MiB aligned */
        check_int(migrator_submit(mig, &pb.plan, keys), -EINVAL);
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, 0, 0, 1, false);
        check_int(migrator_submit(mig, &pb.plan, keys), -EINVAL);
        plan_begin(UINT64_MAX);
        plan_add(0, PLAN_DEMOTE, 0, 1, -5, 1, false);
        check_int(migrator_submit(mig, &pb.plan, keys), -EINVAL);
        check_int(migrator_state(mig), MIGRATOR_STATE_IDLE);
        check_int(rec.rounds, 0);
        check_str(migrator_failure_to_string(MIGRATOR_FAIL_NOT_ALLOWED), "not-allowed");
        check_str(migrator_failure_to_string(MIGRATOR_FAIL_FLOOR), "floor");
        check_int(migrator_set_floor(mig, -1, 4096, NULL), -EINVAL);
        check_int(migrator_set_floor(mig, 1024, 4096, NULL), -EINVAL);
        check_int(migrator_set_floor(mig, 1023, 0, NULL), 0);
        check_str(migrator_drop_to_string(MIGRATOR_DROP_BUDGET), "budget");
        check(!migrator_drop_to_string(_MIGRATOR_DROP_MAX));
        teardown();
}

/* --- many VMs, forgotten in any order while jobs hold their slots --- */

#define CROWD 240u                      /* VMs: 120 on each fake process */
#define CROWD_PAGES 64u                 /* each its own 64 pages: one batch of options_min_batches() */

static int crowd_keys[CROWD];           /* ascending addresses: key order is index order */
#define CKEY(k) ((void *) &crowd_keys[k])

typedef struct CrowdRound {
        uint64_t seq;
        MigratorRoundEnd end;
        size_t n_vms;
        int key[CROWD];                 /* index of the key, -1: NULL */
        int id[CROWD];                  /* index of "cK", -1: "(not registered)" */
        MigratorCounters c[CROWD];
} CrowdRound;

typedef struct Crowd {
        bool registered[CROWD], forgotten[CROWD];
        uint64_t moved_pages[CROWD];    /* by the moved() callbacks */
        unsigned forget_order[CROWD];   /* a permutation: who goes next */
        unsigned n_forgotten;           /* of forget_order */
        unsigned forget_per_moved;      /* forgotten from inside each moved() callback */
        unsigned forget_every_sweep;    /* one from inside every n-th sweep callback (0: none) */
        int last_swept;                 /* -1: none yet */
        unsigned swept, sweep_wraps;
        CrowdRound rounds[2];
} Crowd;

static Crowd crowd;

static int crowd_index(void *vm) {
        check((int *) vm >= crowd_keys && (int *) vm < crowd_keys + CROWD);
        return (int) ((int *) vm - crowd_keys);
}

static unsigned crowd_first_page(unsigned k) {
        return k / 2 * CROWD_PAGES;
}

static void crowd_add(unsigned k) {
        HeatRangeSpec r = { .gpa = 0, .hva = ADDR(crowd_first_page(k)), .len_bytes = CROWD_PAGES * K4 };
        _cleanup_free_ char *id = xasprintf("c%u", k);

        check_int(migrator_add_vm(mig, CKEY(k), id, procs[k % 2].pid, procs[k % 2].start, &r, 1), 0);
        crowd.registered[k] = true;
        crowd.forgotten[k] = false;
}

static void crowd_forget(unsigned k) {
        migrator_forget_vm(mig, CKEY(k));
        check(!migrator_vm_counters(mig, CKEY(k)));
        if (crowd.registered[k])
                crowd.forgotten[k] = true;
        crowd.registered[k] = false;
}

static void crowd_forget_next(unsigned n) {
        for (unsigned i = 0; i < n && crowd.n_forgotten < CROWD; i++)
                crowd_forget(crowd.forget_order[crowd.n_forgotten++]);
}

static void crowd_on_placement(void *u, void *vm, uint64_t hva, const int *status, size_t n, MigratorQuery kind) {
        int k = crowd_index(vm), last = crowd.last_swept;

        check(crowd.registered[k]);
        check(kind == MIGRATOR_QUERY_SWEEP);
        check(hva == ADDR(crowd_first_page((unsigned) k)) && n == CROWD_PAGES);
        for (size_t i = 0; i < n; i++)
                check_int(status[i], procs[k % 2].node[crowd_first_page((unsigned) k) + i]);
        /* In key order, wrapping, none registered skipped. */
        if (last >= 0 && k <= last)
                crowd.sweep_wraps++;
        for (int i = 0; i < (int) CROWD; i++) {
                bool between = last < 0 ? i < k : k > last ? i > last && i < k : i > last || i < k;

                if (between)
                        check(!crowd.registered[i]);
        }
        crowd.last_swept = k;
        crowd.swept++;
        if (crowd.forget_every_sweep > 0 && crowd.swept % crowd.forget_every_sweep == 0)
                crowd_forget_next(1);
}

static void crowd_on_moved(void *u, void *vm, uint64_t hva, size_t n, int from, int to, PlanDirection dir) {
        int k = crowd_index(vm);

        check(crowd.registered[k]);
        check(hva == ADDR(crowd_first_page((unsigned) k)) && n == CROWD_PAGES);
        check_int(count_on(k % 2, crowd_first_page((unsigned) k), CROWD_PAGES, to), CROWD_PAGES);
        crowd.moved_pages[k] += n;
        crowd_forget_next(crowd.forget_per_moved);
}

static void crowd_on_round(void *u, const MigratorRound *r) {
        CrowdRound *cr;

        check(rec.rounds < ELEMENTSOF(crowd.rounds));
        cr = &crowd.rounds[rec.rounds++];
        cr->seq = r->seq;
        cr->end = r->end;
        cr->n_vms = r->n_vms;
        check(r->n_vms <= CROWD);
        for (size_t i = 0; i < r->n_vms; i++) {
                unsigned id;

                cr->key[i] = r->vms[i].vm ? crowd_index(r->vms[i].vm) : -1;
                if (streq(r->vms[i].id, "(not registered)"))
                        cr->id[i] = -1;
                else {
                        check(sscanf(r->vms[i].id, "c%u", &id) == 1 && id < CROWD);
                        cr->id[i] = (int) id;
                }
                cr->c[i] = r->vms[i].counters;
        }
}

static const MigratorSink crowd_sink = {
        .placement = crowd_on_placement,
        .moved = crowd_on_moved,
        .round_done = crowd_on_round,
};

static void setup_crowd(void) {
        MigratorOptions o;

        options_min_batches(&o);
        setup_sink(&o, &crowd_sink);
        memset(&crowd, 0, sizeof(crowd));
        crowd.last_swept = -1;
        for (unsigned k = 0; k < CROWD; k++)
                crowd_add(k);
}

/* A plan demoting every VM's pages, 0 -> to, plan VM i being key plan_vm[i]. */
static void crowd_submit(const unsigned *plan_vm, int to) {
        static PlanMove moves[CROWD];
        void *keys[CROWD];
        Plan plan = { .moves = moves, .n_moves = CROWD, .n_vms = CROWD, .budget_bytes = UINT64_MAX };

        for (unsigned i = 0; i < CROWD; i++) {
                keys[i] = CKEY(plan_vm[i]);
                moves[i] = (PlanMove) { .vm = i, .direction = PLAN_DEMOTE, .hva = ADDR(crowd_first_page(plan_vm[i])),
                                        .n_pages = CROWD_PAGES, .from_node = 0, .to_node = to };
        }
        check_int(migrator_submit(mig, &plan, keys), 0);
}

/* One round's entry for plan VM i: its key and id, moved and dropped "why" pages. */
static void check_crowd_vm(const CrowdRound *r, size_t i, int key, int id, uint64_t moved, MigratorDrop why,
                           uint64_t dropped) {
        MigratorCounters c = {};

        c.moved_pages[PLAN_DEMOTE] = moved;
        c.dropped_pages[why] = dropped;
        c.rounds = 1;
        check_int(r->key[i], key);
        check_int(r->id[i], id);
        check(memcmp(&r->c[i], &c, sizeof(c)) == 0);
}

/*
 * 240 VMs, 64 pages each, one batch each, forgotten in a random order (the same run after run):
 *
 *   one job     a plan of all of them in another random order; each moved() callback forgets
 *               the next 2: a VM met by the cursor after it was forgotten is dropped
 *               "forgotten" whole, one forgotten after its batch keeps its 64 moved; the round
 *               lists them all with a NULL key for each forgotten one (a simulation of the
 *               cursor says which is which)
 *   two jobs    plan A's first call (VM a) held at the gate; 10 forgotten; plan B (to node 2)
 *               replaces A, which waits in flight; 110 more forgotten: A's slots, B's and the
 *               one in flight; then the call returns. A (replaced): a's 64 moved, the 10
 *               dropped "forgotten", the rest "replaced"; B (done): "(not registered)" for the
 *               10, "forgotten" for the 110, the others moved; counters of the survivors: both
 *               rounds. Then 30 forgotten keys come back (into their holes or a neighbour's:
 *               fresh counters) and one sweep goes round twice in key order while every 7th of
 *               its callbacks forgets one more (the registry's holes squeezed out meanwhile):
 *               no VM swept after it was forgotten, none registered skipped
 *   the rest    everything forgotten (an empty registry), one added again and moved; a plan
 *               held in flight with its VMs forgotten meanwhile, then migrator_free()
 *
 * Every forget is a walk of the VM's own slots (job_free() unlinks them): a slot left linked to
 * a freed job, or one missed, fails here (or under ASan).
 */
static void test_forget_crowd(void) {
        unsigned plan_vm[CROWD], plan_b[CROWD];
        bool fg[CROWD] = {}, was[CROWD];
        uint64_t seed = 10, moved = 0, dropped = 0;
        unsigned next = 0, a, back[30];

        /* one job */
        setup_crowd();
        splitmix_permutation(plan_vm, CROWD, &seed);
        splitmix_permutation(crowd.forget_order, CROWD, &seed);
        crowd.forget_per_moved = 2;
        crowd_submit(plan_vm, 1);
        run_until_rounds(1);
        check_int(crowd.rounds[0].end, MIGRATOR_ROUND_DONE);
        check_int(crowd.rounds[0].n_vms, CROWD);
        /* the cursor: a VM forgotten when it gets there is dropped, else moved (and 2 go) */
        for (unsigned i = 0; i < CROWD; i++) {
                unsigned k = plan_vm[i];

                was[k] = fg[k];
                if (!was[k])
                        for (unsigned f = 0; f < 2 && next < CROWD; f++)
                                fg[crowd.forget_order[next++]] = true;
        }
        check_int(next, crowd.n_forgotten);
        for (unsigned i = 0; i < CROWD; i++) {
                unsigned k = plan_vm[i];

                check_crowd_vm(&crowd.rounds[0], i, fg[k] ? -1 : (int) k, (int) k, was[k] ? 0 : CROWD_PAGES,
                               MIGRATOR_DROP_FORGOTTEN, was[k] ? CROWD_PAGES : 0);
                check_u64(crowd.moved_pages[k], was[k] ? 0 : CROWD_PAGES);
                check_int(crowd.forgotten[k], fg[k]);
                moved += was[k] ? 0 : CROWD_PAGES;
                dropped += was[k] ? CROWD_PAGES : 0;
        }
        check(dropped > 0 && moved > 0);
        check_u64(migrator_counters(mig)->moved_pages[PLAN_DEMOTE], moved);
        check_u64(migrator_counters(mig)->dropped_pages[MIGRATOR_DROP_FORGOTTEN], dropped);
        check_u64(migrator_counters(mig)->rounds, 1);
        for (unsigned k = 0; k < CROWD; k++)
                if (!fg[k]) {
                        check_u64(migrator_vm_counters(mig, CKEY(k))->moved_pages[PLAN_DEMOTE], CROWD_PAGES);
                        check_u64(migrator_vm_counters(mig, CKEY(k))->rounds, 1);
                }
        teardown();

        /* two jobs */
        setup_crowd();
        gate_set(true);
        splitmix_permutation(plan_vm, CROWD, &seed);
        splitmix_permutation(plan_b, CROWD, &seed);
        splitmix_permutation(crowd.forget_order, CROWD, &seed);
        crowd_submit(plan_vm, 1);
        wait_in_call(1);
        a = plan_vm[0];
        crowd_forget_next(10);
        crowd_submit(plan_b, 2);
        check_int(rec.rounds, 0);
        crowd_forget_next(110);
        gate_set(false);
        run_until_rounds(2);
        check_int(crowd.rounds[0].seq, 1);
        check_int(crowd.rounds[0].end, MIGRATOR_ROUND_REPLACED);
        check_int(crowd.rounds[1].seq, 2);
        check_int(crowd.rounds[1].end, MIGRATOR_ROUND_DONE);
        memset(fg, 0, sizeof(fg));
        for (unsigned f = 0; f < 10; f++)
                fg[crowd.forget_order[f]] = true;
        moved = CROWD_PAGES;
        for (unsigned i = 0; i < CROWD; i++) {
                unsigned k = plan_vm[i];

                check_crowd_vm(&crowd.rounds[0], i, crowd.forgotten[k] ? -1 : (int) k, (int) k,
                               k == a ? CROWD_PAGES : 0, fg[k] ? MIGRATOR_DROP_FORGOTTEN : MIGRATOR_DROP_REPLACED,
                               k == a ? 0 : CROWD_PAGES);
                k = plan_b[i];
                check_crowd_vm(&crowd.rounds[1], i, crowd.forgotten[k] ? -1 : (int) k, fg[k] ? -1 : (int) k,
                               crowd.forgotten[k] ? 0 : CROWD_PAGES, MIGRATOR_DROP_FORGOTTEN,
                               crowd.forgotten[k] ? CROWD_PAGES : 0);
                moved += crowd.forgotten[k] ? 0 : CROWD_PAGES;
                check_u64(crowd.moved_pages[k], crowd.forgotten[k] ? 0 : k == a ? 2 * CROWD_PAGES : CROWD_PAGES);
        }
        check_u64(migrator_counters(mig)->moved_pages[PLAN_DEMOTE], moved);
        check_u64(migrator_counters(mig)->dropped_pages[MIGRATOR_DROP_FORGOTTEN], 2 * 10 * CROWD_PAGES + 110 * CROWD_PAGES);
        check_u64(migrator_counters(mig)->dropped_pages[MIGRATOR_DROP_REPLACED], (CROWD - 11) * CROWD_PAGES);
        check_u64(migrator_counters(mig)->rounds, 2);
        for (unsigned k = 0; k < CROWD; k++)
                if (!crowd.forgotten[k]) {
                        check_u64(migrator_vm_counters(mig, CKEY(k))->moved_pages[PLAN_DEMOTE],
                                  k == a ? 2 * CROWD_PAGES : CROWD_PAGES);
                        check_u64(migrator_vm_counters(mig, CKEY(k))->rounds, 2);
                }
        /* back: 30 of the forgotten (the registry has as many holes as VMs now) */
        for (unsigned i = 0; i < 30; i++) {
                back[i] = crowd.forget_order[crowd.n_forgotten - 1 - 3 * i];
                crowd_add(back[i]);
                check(memcmp(migrator_vm_counters(mig, CKEY(back[i])), &(MigratorCounters) {}, sizeof(MigratorCounters)) == 0);
        }
        crowd.forget_every_sweep = 7;
        migrator_refresh_residency(mig, 2 * CROWD * CROWD_PAGES);
        run_quiet(10 * USEC_PER_MSEC);
        check_int(crowd.swept, 2 * CROWD); /* the allowance, one VM's 64 pages a batch */
        check(crowd.sweep_wraps >= 2);
        check(crowd.n_forgotten > CROWD / 2 + 30); /* the holes were squeezed out meanwhile */
        for (unsigned k = 0; k < CROWD; k++)
                check_int(!!migrator_vm_counters(mig, CKEY(k)), crowd.registered[k]);

        /* the rest: keys into holes (their own, the one at their place, the one before it) */
        crowd.forget_every_sweep = 0;
        for (unsigned k = 0; k < CROWD; k++)
                crowd_forget(k);
        crowd_add(10);
        crowd_add(20);
        crowd_add(30);
        crowd_add(40);
        crowd_forget(20);
        crowd_add(19);
        crowd_forget(30);
        crowd_add(31);
        crowd_add(15);
        crowd_forget(10);
        crowd_add(10);
        for (unsigned k = 0; k < CROWD; k++)
                check_int(!!migrator_vm_counters(mig, CKEY(k)), crowd.registered[k]);
        crowd.swept = 0;
        crowd.last_swept = -1;
        migrator_refresh_residency(mig, 12 * CROWD_PAGES);
        run_quiet(10 * USEC_PER_MSEC);
        check_int(crowd.swept, 12);
        for (unsigned k = 0; k < CROWD; k++)
                crowd_forget(k);
        crowd_add(5);
        rec.rounds = 0;
        memset(crowd.moved_pages, 0, sizeof(crowd.moved_pages));
        plan_vm[0] = 5;
        {
                static PlanMove mv;
                void *key = CKEY(5);
                Plan plan = { .moves = &mv, .n_moves = 1, .n_vms = 1, .budget_bytes = UINT64_MAX };

                mv = (PlanMove) { .vm = 0, .direction = PLAN_DEMOTE, .hva = ADDR(crowd_first_page(5)),
                                  .n_pages = CROWD_PAGES, .from_node = 2, .to_node = 1 };
                check_int(migrator_submit(mig, &plan, &key), 0);
        }
        run_until_rounds(1);
        check_u64(crowd.moved_pages[5], CROWD_PAGES);
        check_u64(migrator_vm_counters(mig, CKEY(5))->moved_pages[PLAN_DEMOTE], CROWD_PAGES);
        teardown();

        setup_crowd();
        gate_set(true);
        splitmix_permutation(plan_vm, CROWD, &seed);
        splitmix_permutation(crowd.forget_order, CROWD, &seed);
        crowd_submit(plan_vm, 1);
        wait_in_call(1);
        crowd_submit(plan_b, 2);
        crowd_forget_next(CROWD / 2);
        gate_set(false);
        teardown();
}

int main(void) {
        _cleanup_free_ char *cmd = NULL;

        log_set_max_level(LOG_INFO);
        check(mkdtemp(root));
        proc_root = xasprintf("%s/proc", root);
        check(mkdir(proc_root, 0755) == 0);

        test_invalid();
        test_basic();
        test_busy_and_partial();
        test_nomem();
        test_gone_and_shared();
        test_exit_mid_plan();
        test_exit_during_call();
        test_pid_reuse();
        test_dry_run();
        test_pause();
        test_replace();
        test_budget();
        test_slices();
        test_slices_expensive_calls();
        test_slices_stall();
        test_slices_thp_stalls();
        test_batch_overhead();
        test_slices_bad_probe();
        test_in_flight();
        test_forget();
        test_forget_crowd();
        test_thp();
        test_not_allowed();
        test_needs_room();
        test_floors();
        test_queries();
        test_queries_first();
        test_late_call();
        test_sweep();
        test_sweep_starved();

        cmd = xasprintf("rm -rf '%s'", root);
        check(system(cmd) == 0);
        free(proc_root);
        printf("test-migrator: OK\n");
        return EXIT_SUCCESS;
}
