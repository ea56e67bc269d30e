/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The migrator: executes plans with move_pages(2) on a worker thread, in batches prepared and
 * finished in slices of the event loop, and sweeps the VMs' placement with queries. The model, the costs and every rule are in include/vtism/migrator.h.
 *
 * Inside: a registry of VMs sorted by key (forgetting one leaves a hole, the holes are squeezed
 * out once they outnumber the VMs); at most one running Job (a copy of the plan's moves,
 * a cursor into them, one Slot per plan VM, and two queues of Entries — one address each, a
 * 4 KiB page or a THP — for split-off THP remainders (ready at once) and busy retries (ready after
 * a delay)). A slice takes batches of Entries, first from the ready queue, then the retry queue
 * when due, then the moves. All counting of a batch goes into one MigratorCounters delta that is
 * added to the slot, the job, the VM and the totals when the batch is done; callbacks come last,
 * and the code re-checks after each whether its job ended or its VM was forgotten.
 *
 * A move batch is split at its call: batch_run() prepares it on the loop and hands it to the
 * worker thread (worker_main(); the slice wakes it as its last act), batch_collect() finishes it
 * on the loop when the worker's eventfd fires. Jobs that end while a call is in flight wait in
 * m->ending and are reported, in order, once its results are in.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <numaif.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "vtism/log.h"
#include "vtism/migrator.h"
#include "vtism/tracker.h"
#include "vtism/util.h"

#define PAGE_4K ((uint64_t) MIGRATOR_PAGE_BYTES)
#define HUGE_BYTES ((uint64_t) MIGRATOR_HUGE_PAGES * PAGE_4K)
#define NODE_ID_MAX 1024 /* MAX_NUMNODES of any kernel config */
#define STATUS_UNSET INT_MIN /* never written by the kernel: a node id or -errno */

/* Job.node_full[]: why nothing more goes into a node in this plan. */
enum { NODE_OPEN, NODE_NOMEM, NODE_FLOOR };

typedef struct Floor {
        uint64_t min_free_bytes;    /* 0: none */
        char *what;                 /* the setting, for messages; may be NULL */
} Floor;

/* /proc/PID/pagemap and /proc/kpageflags (Documentation/admin-guide/mm/pagemap.rst) */
#define PM_PRESENT (UINT64_C(1) << 63)
#define PM_PFN_MASK ((UINT64_C(1) << 55) - 1)
#define KPF_COMPOUND_HEAD 15
#define KPF_THP 22

enum { COST_MOVE_4K, COST_MOVE_THP, COST_QUERY, _COST_MAX };
/* Move batches are sized from the lowest of this many recent per-page measurements (see
 * sizing_ns()). */
#define COST_RECENT 8

static const char *const failure_table[_MIGRATOR_FAILURE_MAX] = {
#define FAILURE_NAME(ID, WORD, KEY, WHAT) [MIGRATOR_FAIL_##ID] = WORD,
        MIGRATE_FAILURES(FAILURE_NAME)
#undef FAILURE_NAME
};
assert_cc(ELEMENTSOF(failure_table) == _MIGRATOR_FAILURE_MAX);

static const char *const drop_table[_MIGRATOR_DROP_MAX] = {
        [MIGRATOR_DROP_EXITED] = "exited",
        [MIGRATOR_DROP_FORGOTTEN] = "forgotten",
        [MIGRATOR_DROP_DENIED] = "denied",
        [MIGRATOR_DROP_REPLACED] = "replaced",
        [MIGRATOR_DROP_NODE_FULL] = "node-full",
        [MIGRATOR_DROP_BUDGET] = "budget",
        [MIGRATOR_DROP_NO_ROOM] = "no-room",
};
assert_cc(ELEMENTSOF(drop_table) == _MIGRATOR_DROP_MAX);

static const char *const round_end_table[_MIGRATOR_ROUND_END_MAX] = {
        [MIGRATOR_ROUND_DONE] = "done",
        [MIGRATOR_ROUND_REPLACED] = "replaced",
        [MIGRATOR_ROUND_CANCELLED] = "cancelled",
};
assert_cc(ELEMENTSOF(round_end_table) == _MIGRATOR_ROUND_END_MAX);

static const char *const state_table[_MIGRATOR_STATE_MAX] = {
        [MIGRATOR_STATE_IDLE] = "idle",
        [MIGRATOR_STATE_MOVING] = "moving",
        [MIGRATOR_STATE_PAUSED] = "paused",
        [MIGRATOR_STATE_DRY_RUN] = "dry-run",
};
assert_cc(ELEMENTSOF(state_table) == _MIGRATOR_STATE_MAX);

#define DEFINE_TO_STRING(name, type, table, max)        \
        const char *name(type v) {                      \
                if ((int) v < 0 || (int) v >= (max))    \
                        return NULL;                    \
                return table[v];                        \
        }
DEFINE_TO_STRING(migrator_failure_to_string, MigratorFailure, failure_table, _MIGRATOR_FAILURE_MAX)
DEFINE_TO_STRING(migrator_drop_to_string, MigratorDrop, drop_table, _MIGRATOR_DROP_MAX)
DEFINE_TO_STRING(migrator_round_end_to_string, MigratorRoundEnd, round_end_table, _MIGRATOR_ROUND_END_MAX)
DEFINE_TO_STRING(migrator_state_to_string, MigratorState, state_table, _MIGRATOR_STATE_MAX)

void migrator_counters_add(MigratorCounters *sum, const MigratorCounters *c) {
        /* Every field is a uint64_t sum: add them as an array. */
        uint64_t *s = (uint64_t *) sum;
        const uint64_t *a = (const uint64_t *) c;

        assert_cc(sizeof(MigratorCounters) % sizeof(uint64_t) == 0);
        for (size_t i = 0; i < sizeof(MigratorCounters) / sizeof(uint64_t); i++)
                s[i] += a[i];
}

uint64_t migrator_counters_failed(const MigratorCounters *c) {
        uint64_t n = 0;

        for (size_t i = 0; i < _MIGRATOR_FAILURE_MAX; i++)
                n += c->failed_pages[i];
        return n;
}

typedef struct MigratorVm {
        void *key;
        char *id;
        pid_t pid;
        unsigned long long start_time;
        HeatRangeSpec *ranges;      /* ascending GPA */
        size_t n_ranges;
        uint64_t ram_bytes;
        uint64_t sweep_cursor;      /* byte offset into the ranges, in order */
        bool gone;                  /* exited: no more syscalls for it */
        bool forgotten;             /* unlinked, freed at the end of the slice */
        int pagemap_fd;
        MigratorCounters counters;
        PlanPlacement *placement;   /* the last plan's queries[] for it, sorted by hva */
        /* Runs an ended round's last call moved after the next plan was submitted (that plan could
         * not know): its moves of those pages to the same node are "already" (vm_moved_late()) */
        struct LateRun { uint64_t hva, n_pages; int to; } *late;
        size_t n_late;
        size_t n_placement;
        struct Slot *slots;         /* of the live jobs, made for it (Slot.next_of_vm) */
} MigratorVm;

/* One plan VM. */
typedef struct Slot {
        MigratorVm *vm;             /* NULL: not registered, forgotten, exited, denied */
        void *key;                  /* NULL once forgotten */
        char *id;
        MigratorDrop drop;          /* why vm is NULL */
        bool had_moves;
        uint8_t *blocked;           /* per node id: no more moves there for this VM (not allowed) */
        MigratorCounters c;
        /* While key is set: in the list of its VM's slots (MigratorVm.slots), all jobs', which
         * migrator_forget_vm() walks instead of every slot of every job; job_free() unlinks. */
        struct Slot *next_of_vm, **prev_of_vm;
} Slot;

/* A place in the registry: a VM, or the hole a forgotten one left (vm NULL, its key kept, so the
 * keys stay sorted and forgetting moves nothing: the holes are squeezed out in one pass once they
 * are more than the VMs, amortised O(1) a VM). */
typedef struct VmPlace {
        void *key;
        MigratorVm *vm;
} VmPlace;

/* One address handed to move_pages: a 4 KiB page, or a THP (huge: 512 pages). */
typedef struct Entry {
        uint64_t hva;
        usec_t not_before;
        uint32_t slot;
        int from;                   /* node, or PLAN_NODE_ANY */
        int to;
        uint8_t direction;
        uint8_t attempts;
        bool huge;
        bool counted;               /* a demotion from a known node: what it fails to free is
                                     * room needs_room promotions into that node must not take */
} Entry;

typedef struct Queue {
        Entry *e;
        size_t head, n, alloc;      /* live entries are e[head..n) */
} Queue;

typedef struct Job {
        uint64_t seq;
        PlanMove *moves;
        size_t n_moves;
        size_t next_move;
        uint64_t next_page;         /* within moves[next_move] */
        Slot *slots;
        size_t n_slots;
        size_t n_nodes;             /* node ids < n_nodes */
        uint8_t *node_full;         /* NODE_NOMEM, NODE_FLOOR: nothing more into it (a floor until
                                     * pages move off the node: floor_reopen()) */
        uint8_t *floor_noted;       /* per node: its floor cut a batch in this plan (noticed once) */
        uint64_t *shortfall;        /* per node: pages demotions from it failed to free, which
                                     * needs_room promotions into it have not given up yet */
        PlanQuery *queries;         /* before the moves: blocks whose placement the planner wants */
        size_t n_queries;
        size_t next_query;
        uint64_t budget_pages;
        uint64_t charged_pages;     /* moved + in flight */
        Queue ready;                /* split-off THP remainders */
        Queue retry;                /* busy pages, not_before ascending */
        bool ended;
        MigratorRoundEnd end;       /* why, once job_end() took it (reported in m->ending order) */
        bool dry_seen;
        bool probed;                /* the cost of a call was probed for it */
        usec_t started_usec;
        uint64_t slices;
        MigratorCounters total;
} Job;

/* What a THP batch found out, for the callbacks: per unit that moved, whether it moved whole;
 * if not, where its pages are now (status, 512 entries). */
typedef struct HugeResult {
        uint64_t hva;
        int from, to;
        uint8_t direction;
        bool whole;
        int *status;
} HugeResult;

/* A move batch from its preparation on the loop to its results: m->batch[0, n) share VM, target
 * node and kind; m->addrs/nodes/status hold the call's arguments while the worker makes it. */
typedef struct Batch {
        Job *job;
        uint32_t slot;
        pid_t pid;
        bool huge;
        int to;
        PlanDirection dir;
        size_t n;                   /* entries handed to move_pages (after the cuts) */
        size_t n_spot;              /* query-first: entries queried (spot_addrs/spot_status) */
        MigratorCounters d;         /* counted so far */
        bool detach;                /* the VM is done for in this job: detach_why */
        MigratorDrop detach_why;
        long r;                     /* what move_pages returned, */
        int err;                    /* its errno */
        usec_t call_usec;           /* and how long it took (on the worker) */
        HugeResult *hres;           /* THP batch: per unit that moved (batch_verify_huge) */
        size_t n_hres;
} Batch;

struct Migrator {
        sd_event *event;
        sd_event_source *defer;
        sd_event_source *timer;
        sd_event_source *done_source; /* the worker's eventfd: a move call returned */
        MigratorOptions o;
        char *proc_root;
        MigratorSink sink;
        void *userdata;

        VmPlace *vms;               /* sorted by key, holes included */
        size_t n_vms;               /* places */
        size_t n_holes;
        MigratorVm **graveyard;     /* forgotten during a slice */
        size_t n_graveyard;
        void *sweep_rotor;          /* key of the VM swept last */
        uint64_t sweep_allowance;

        Job *job;                   /* the running (or paused) plan */
        Job *running;               /* the job the current slice works on (may have ended) */
        bool in_slice;
        bool sweep_skipped;         /* the last slice had sweep work but no room for it */
        uint64_t slices_at_refresh; /* stats.slices at the last migrator_refresh_residency() */
        uint64_t iteration_at_refresh; /* and the event loop's iteration then */
        bool paused;
        bool dry_run;
        uint64_t seq;

        int kpageflags_fd;
        char *thp_probe_reason;

        Floor *floors;              /* by node id, n_floors entries */
        size_t n_floors;
        bool floor_read_failed;     /* logged once */

        MigratorCounters total;
        MigratorStats stats;
        uint64_t page_ns[_COST_MAX];  /* per 4 KiB page, beyond the fixed part of a call */
        uint64_t recent_ns[_COST_MAX][COST_RECENT]; /* the last measurements per page (0: none) */
        unsigned recent_at[_COST_MAX];
        uint64_t call_ns;             /* the fixed part of a move call (probed) */
        /* What a move batch costs beyond its call (batch_overhead_ns()): from handing one to the
         * worker to handing the next, less the first one's call */
        usec_t handed_usec, handed_call_usec;
        uint64_t handed_seq;          /* of the job it belongs to (0: none yet) */
        uint64_t recent_gap_ns[COST_RECENT];
        unsigned recent_gap_at;
        usec_t probed_usec;           /* when call_ns was last probed; 0: never */
        void *probe_page;             /* a page of our own for the probe; NULL: cannot probe */
        void *probe_page_alloc;
        int probe_node;

        /* batch buffers */
        size_t cap;
        Entry *batch;
        void **addrs;
        int *nodes;
        int *status;
        uint8_t *outcome;
        void **qaddrs;
        int *qstatus;
        void **spot_addrs;          /* query-first results, kept for the callbacks */
        int *spot_status;
        size_t slice_pages;         /* handed to move_pages in the current slice */

        /* The worker thread: it makes the move calls, one at a time (see migrator.h, "Worker"). */
        Batch flight;               /* the batch handed over (valid while inflight) */
        bool inflight;              /* handed over and not collected yet: the loop makes no call */
        bool kick;                  /* handed over in this slice: wake the worker when it ends */
        Job **ending;               /* jobs ended while a call was in flight: reported in order */
        size_t n_ending;
        bool reporting;
        pthread_t worker;
        bool worker_started;
        int done_fd;                /* eventfd, written by the worker after each call */
        pthread_mutex_t lock;       /* guards the w_ fields */
        pthread_cond_t wake;
        bool w_pending, w_done, w_quit;
        pid_t w_pid;
        size_t w_n;
        long w_ret;
        int w_err;
        usec_t w_usec;
};

void migrator_options_init_default(MigratorOptions *o) {
        *o = (MigratorOptions) {
                .proc_root = "/proc",
                .slice_usec = 40 * USEC_PER_MSEC,
                .batch_usec = 5 * USEC_PER_MSEC,
                .batch_max_usec = 500 * USEC_PER_MSEC,
                .batch_pages_min = 256,
                .batch_pages_max = 16384,
                .busy_retries = 3,
                .retry_delay_usec = 20 * USEC_PER_MSEC,
                .priority = SD_EVENT_PRIORITY_IDLE,
                .thp_probe = true,
                .batch_overhead = true,
        };
}

static usec_t now_usec(const Migrator *m) {
        if (m->o.clock)
                return m->o.clock(m->o.clock_userdata);
        return clock_now_usec(CLOCK_MONOTONIC);
}

/* --- the VM registry --- */

static int key_cmp(const void *a, const void *b) {
        uintptr_t x = (uintptr_t) a, y = (uintptr_t) b;

        return x < y ? -1 : x > y;
}

/* Index of the first VM with key >= key. */
static size_t vm_lower_bound(const Migrator *m, const void *key) {
        size_t lo = 0, hi = m->n_vms;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (key_cmp(m->vms[mid].key, key) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static MigratorVm *vm_find(const Migrator *m, const void *key) {
        size_t i = vm_lower_bound(m, key);

        return i < m->n_vms && m->vms[i].key == key ? m->vms[i].vm : NULL;
}

/* Squeeze the holes out of the registry. */
static void vm_places_compact(Migrator *m) {
        size_t n = 0;

        for (size_t i = 0; i < m->n_vms; i++)
                if (m->vms[i].vm)
                        m->vms[n++] = m->vms[i];
        m->n_vms = n;
        m->n_holes = 0;
}

static void vm_clear_placement(MigratorVm *vm) {
        for (size_t i = 0; i < vm->n_placement; i++)
                free((int *) vm->placement[i].status);
        free(vm->placement);
        vm->placement = NULL;
        vm->n_placement = 0;
}

/* Of [hva, hva + n pages): how many pages from hva a late call put on node `to` (*ret_clear: how
 * many from hva none did, up to the first that one did). */
static uint64_t vm_moved_late(const MigratorVm *vm, uint64_t hva, uint64_t n_pages, int to, uint64_t *ret_clear) {
        uint64_t end = hva + n_pages * PAGE_4K, clear = n_pages;

        for (size_t i = 0; i < vm->n_late; i++) {
                const struct LateRun *r = &vm->late[i];
                uint64_t rend = r->hva + r->n_pages * PAGE_4K;

                if (r->to != to || rend <= hva || r->hva >= end)
                        continue;
                if (r->hva <= hva) {
                        *ret_clear = 0;
                        return (MIN(rend, end) - hva) / PAGE_4K;
                }
                clear = MIN(clear, (r->hva - hva) / PAGE_4K);
        }
        *ret_clear = clear;
        return 0;
}

/* Keep a query's statuses (copied), sorted by hva; one that overlaps an earlier one replaces it. */
static void vm_store_placement(MigratorVm *vm, uint64_t hva, const int *status, size_t n) {
        size_t at = 0;
        int *copy = xmalloc(n * sizeof(int));

        memcpy(copy, status, n * sizeof(int));
        while (at < vm->n_placement && vm->placement[at].hva + vm->placement[at].n_pages * PAGE_4K <= hva)
                at++;
        while (at < vm->n_placement && vm->placement[at].hva < hva + n * PAGE_4K) {
                free((int *) vm->placement[at].status);
                memmove(vm->placement + at, vm->placement + at + 1, (vm->n_placement - at - 1) * sizeof(PlanPlacement));
                vm->n_placement--;
        }
        vm->placement = xreallocarray(vm->placement, vm->n_placement + 1, sizeof(PlanPlacement));
        memmove(vm->placement + at + 1, vm->placement + at, (vm->n_placement - at) * sizeof(PlanPlacement));
        vm->placement[at] = (PlanPlacement) { .hva = hva, .n_pages = n, .status = copy };
        vm->n_placement++;
}

/* Pages of the VM that moved to `to`: the kept query statuses of those pages say so too, as the
 * queries ran before the moves (migrator.h, "Queries"). */
static void vm_placement_moved(MigratorVm *vm, uint64_t hva, size_t n, int to) {
        uint64_t end = hva + n * PAGE_4K;

        for (size_t i = 0; i < vm->n_placement; i++) {
                PlanPlacement *pl = &vm->placement[i];
                uint64_t pend = pl->hva + pl->n_pages * PAGE_4K, from = MAX(hva, pl->hva), to_hva = MIN(end, pend);

                if (pl->hva >= end)
                        break;
                for (uint64_t a = from; a < to_hva; a += PAGE_4K)
                        ((int *) pl->status)[(a - pl->hva) / PAGE_4K] = to;
        }
}

static MigratorVm *vm_free(MigratorVm *vm) {
        if (!vm)
                return NULL;
        vm_clear_placement(vm);
        free(vm->late);
        if (vm->pagemap_fd >= 0)
                (void) close(vm->pagemap_fd);
        free(vm->id);
        free(vm->ranges);
        free(vm);
        return NULL;
}

static int range_gpa_cmp(const void *a, const void *b) {
        const HeatRangeSpec *x = a, *y = b;

        return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

static void vm_mark_gone(MigratorVm *vm) {
        vm->gone = true;
        if (vm->pagemap_fd >= 0)
                (void) close(vm->pagemap_fd);
        vm->pagemap_fd = -EBADF;
}

/* 1: the same process, 0: exited or the pid was reused, < 0: cannot tell. */
static int vm_check_alive(const Migrator *m, MigratorVm *vm) {
        unsigned long long start;
        int r;

        if (vm->gone)
                return 0;
        r = proc_pid_start_time(m->proc_root, vm->pid, &start);
        if (r == -ESRCH || (r >= 0 && start != vm->start_time)) {
                vm_mark_gone(vm);
                return 0;
        }
        return r < 0 ? r : 1;
}

/* --- accounting --- */

static void account(Migrator *m, Job *j, uint32_t slot, const MigratorCounters *delta) {
        Slot *s = &j->slots[slot];

        migrator_counters_add(&s->c, delta);
        migrator_counters_add(&j->total, delta);
        if (s->vm)
                migrator_counters_add(&s->vm->counters, delta);
        migrator_counters_add(&m->total, delta);
}

static void account_drop(Migrator *m, Job *j, uint32_t slot, MigratorDrop why, uint64_t pages) {
        MigratorCounters d = {};

        if (pages == 0)
                return;
        d.dropped_pages[why] = pages;
        account(m, j, slot, &d);
}

static uint64_t entry_pages(const Entry *e) {
        return e->huge ? MIGRATOR_HUGE_PAGES : 1;
}

/* --- queues --- */

static void queue_push(Queue *q, const Entry *e) {
        if (q->head > 0 && q->head == q->n)
                q->head = q->n = 0;
        if (q->n == q->alloc) {
                if (q->head > q->alloc / 2) {
                        memmove(q->e, q->e + q->head, (q->n - q->head) * sizeof(Entry));
                        q->n -= q->head;
                        q->head = 0;
                } else {
                        q->alloc = MAX(q->alloc * 2, (size_t) 64);
                        q->e = xreallocarray(q->e, q->alloc, sizeof(Entry));
                }
        }
        q->e[q->n++] = *e;
}

static size_t queue_len(const Queue *q) {
        return q->n - q->head;
}

/* --- jobs --- */

/* A slot made for a registered VM goes into that VM's list of slots. */
static void slot_link(Slot *s, MigratorVm *vm) {
        s->next_of_vm = vm->slots;
        if (s->next_of_vm)
                s->next_of_vm->prev_of_vm = &s->next_of_vm;
        s->prev_of_vm = &vm->slots;
        vm->slots = s;
}

static void slot_unlink(Slot *s) {
        *s->prev_of_vm = s->next_of_vm;
        if (s->next_of_vm)
                s->next_of_vm->prev_of_vm = s->prev_of_vm;
        s->next_of_vm = NULL;
        s->prev_of_vm = NULL;
}

static void job_free(Job *j) {
        if (!j)
                return;
        for (size_t i = 0; i < j->n_slots; i++) {
                Slot *s = &j->slots[i];

                if (s->key)
                        slot_unlink(s);
                free(s->id);
                free(s->blocked);
        }
        free(j->slots);
        free(j->moves);
        free(j->node_full);
        free(j->floor_noted);
        free(j->shortfall);
        free(j->queries);
        free(j->ready.e);
        free(j->retry.e);
        free(j);
}

/* Every move attempted or dropped, nothing waiting for a retry. */
static bool job_moves_done(const Job *j) {
        return j->next_move >= j->n_moves && queue_len(&j->ready) == 0 && queue_len(&j->retry) == 0;
}

static bool job_complete(const Job *j) {
        return job_moves_done(j) && j->next_query >= j->n_queries;
}

static bool node_blocked(const Job *j, const Slot *s, int node) {
        if (node < 0 || (size_t) node >= j->n_nodes)
                return true;
        return j->node_full[node] || (s->blocked && s->blocked[node]);
}

static void slot_block_node(Job *j, Slot *s, int node) {
        if (node < 0 || (size_t) node >= j->n_nodes)
                return;
        if (!s->blocked)
                s->blocked = xcalloc(j->n_nodes, 1);
        if (!s->blocked[node])
                log_notice("VM %s may not use memory of node %d (its allowed memory nodes exclude it); no more moves "
                           "there in migration round %" PRIu64 ".", s->id, node, j->seq);
        s->blocked[node] = 1;
}

static void job_node_full(Job *j, int node, int err) {
        if (node < 0 || (size_t) node >= j->n_nodes || j->node_full[node])
                return;
        j->node_full[node] = NODE_NOMEM;
        log_notice("Node %d %s; nothing more is moved into it in migration round %" PRIu64 ".", node,
                   err == ENODEV ? "has no memory" : "is out of memory", j->seq);
}

/* A demotion that will not free its pages on its source node (failed, dropped): needs_room
 * promotions into that node give up as much. */
static void room_lost(Job *j, const Entry *e, uint64_t pages) {
        if (e->counted && e->from >= 0 && (size_t) e->from < j->n_nodes)
                j->shortfall[e->from] += pages;
}

static void account(Migrator *m, Job *j, uint32_t slot, const MigratorCounters *delta);
static void account_drop(Migrator *m, Job *j, uint32_t slot, MigratorDrop why, uint64_t pages);

/* pages of e that cannot go: its VM is done for (dropped, its reason), or nothing more goes into
 * its target (at its floor: failed "floor"; full or not allowed: dropped "node-full"). */
static void count_blocked(Migrator *m, Job *j, const Entry *e, uint64_t pages) {
        const Slot *s = &j->slots[e->slot];
        MigratorDrop why = s->vm ? MIGRATOR_DROP_NODE_FULL : s->drop;

        if (s->vm && j->node_full[e->to] == NODE_FLOOR && !(s->blocked && s->blocked[e->to])) {
                MigratorCounters d = {};

                d.failed_pages[MIGRATOR_FAIL_FLOOR] = pages;
                account(m, j, e->slot, &d);
        } else
                account_drop(m, j, e->slot, why, pages);
        if (why != MIGRATOR_DROP_EXITED && why != MIGRATOR_DROP_FORGOTTEN)
                room_lost(j, e, pages);
}

/* The slot's VM is done for in this job (exited, denied, forgotten): its queued work is dropped
 * as the cursor meets it. */
static void slot_detach(Slot *s, MigratorDrop why) {
        s->vm = NULL;
        s->drop = why;
}

/* Count everything not yet attempted as dropped (why, unless its slot has its own reason). */
static void job_drop_rest(Migrator *m, Job *j, MigratorDrop why) {
        for (size_t i = j->next_move; i < j->n_moves; i++) {
                const PlanMove *mv = &j->moves[i];
                const Slot *s = &j->slots[mv->vm];
                uint64_t pages = mv->n_pages - (i == j->next_move ? j->next_page : 0);

                account_drop(m, j, mv->vm, s->vm ? why : s->drop, pages);
        }
        j->next_move = j->n_moves;
        j->next_page = 0;
        for (Queue *q = &j->ready; q; q = q == &j->ready ? &j->retry : NULL) {
                for (size_t i = q->head; i < q->n; i++) {
                        const Slot *s = &j->slots[q->e[i].slot];

                        account_drop(m, j, q->e[i].slot, s->vm ? why : s->drop, entry_pages(&q->e[i]));
                }
                q->head = q->n = 0;
        }
}

static void rearm(Migrator *m);

/* The round of an ended job: sink->round_done(), then the job is freed (unless a slice or a
 * collection works on it: it frees it). */
static void job_report(Migrator *m, Job *j) {
        _cleanup_free_ MigratorRoundVm *rvms = NULL;
        const MigratorRoundEnd end = j->end;
        MigratorRound round;
        size_t n = 0;

        /* What its last batch queued (busy retries, THP remainders) after it ended. */
        job_drop_rest(m, j, MIGRATOR_DROP_REPLACED);
        j->ended = true;

        rvms = xcalloc(j->n_slots, sizeof(MigratorRoundVm));
        for (size_t i = 0; i < j->n_slots; i++) {
                Slot *s = &j->slots[i];

                if (!s->had_moves)
                        continue;
                s->c.rounds = 1;
                if (s->vm)
                        s->vm->counters.rounds++;
                rvms[n++] = (MigratorRoundVm) { .vm = s->key, .id = s->id, .counters = s->c };
        }
        j->total.rounds = 1;
        m->total.rounds++;

        round = (MigratorRound) {
                .seq = j->seq,
                .end = end,
                .dry_run = j->dry_seen,
                .started_usec = j->started_usec,
                .finished_usec = now_usec(m),
                .budget_bytes = j->budget_pages * PAGE_4K,
                .slices = j->slices,
                .total = j->total,
                .vms = rvms,
                .n_vms = n,
        };
        log_debug("Migration round %" PRIu64 " %s: %" PRIu64 " pages promoted, %" PRIu64 " demoted, %" PRIu64
                  " failed, %zu VMs.", round.seq, migrator_round_end_to_string(end),
                  j->total.moved_pages[PLAN_PROMOTE], j->total.moved_pages[PLAN_DEMOTE],
                  migrator_counters_failed(&j->total), n);
        if (m->sink.round_done)
                m->sink.round_done(m->userdata, &round);
        if (m->running != j)
                job_free(j);
        rearm(m);
}

/* Report the ended jobs in the order they ended; none while a call is in flight (the batch on
 * the worker may belong to one of them: its results go into its round first). */
static void jobs_report_ended(Migrator *m) {
        if (m->reporting || m->inflight)
                return;
        m->reporting = true;
        while (m->n_ending > 0) {
                Job *j = m->ending[0];

                memmove(m->ending, m->ending + 1, (m->n_ending - 1) * sizeof(Job *));
                m->n_ending--;
                job_report(m, j);
        }
        m->reporting = false;
}

/* End the running job: nothing more of it is issued (its rest dropped "replaced"); its round is
 * reported now, or, while a batch is in flight, once that batch's results are in. */
static void job_end(Migrator *m, MigratorRoundEnd end) {
        Job *j = m->job;

        if (!j)
                return;
        m->job = NULL;
        job_drop_rest(m, j, MIGRATOR_DROP_REPLACED);
        j->end = end;
        m->ending = xreallocarray(m->ending, m->n_ending + 1, sizeof(Job *));
        m->ending[m->n_ending++] = j;
        jobs_report_ended(m);
}

/* --- the slices --- */

/* The fixed part of a kind of call: moves pay for lru_cache_disable() (it drains the LRU caches
 * of every CPU) and the TLB shootdown; a query only for the syscall. */
static uint64_t call_ns(const Migrator *m, int kind) {
        return kind == COST_QUERY ? 0 : m->call_ns;
}

/* Follow a measured cost: up fast (doubling per call at most, so one stall of a loaded host
 * does not shrink the next batches to nothing), down by halves (one fast call proves little). */
static uint64_t cost_follow(uint64_t old, uint64_t measured) {
        if (measured >= old)
                return MIN(measured, 2 * old);
        return (old + measured) / 2 ?: 1;
}

/* Returns the call's cost per page as measured (0: not measured). */
static uint64_t update_cost(Migrator *m, int kind, usec_t dt, uint64_t pages) {
        uint64_t t = dt * 1000, fixed = call_ns(m, kind), ns;

        if (dt > m->stats.max_batch_usec)
                m->stats.max_batch_usec = dt;
        if (kind != COST_QUERY && t < fixed) {
                /* A whole call took less than its supposed fixed part: that estimate was high. */
                m->call_ns = MAX(t / 2, (uint64_t) 1);
                m->stats.call_ns = m->call_ns;
                fixed = m->call_ns;
        }
        /* Tiny calls (spot queries) say more about the syscall than about pages; below the
         * smallest batch, so estimates never freeze. */
        if (pages < MIN((size_t) 16, m->o.batch_pages_min))
                return 0;
        /* The fixed part is taken as at most half of a call: with tiny batches a high fixed
         * estimate must not make pages look cheap, nor the other way round. */
        ns = MAX((t - MIN(fixed, t / 2)) / pages, (uint64_t) 1);
        m->page_ns[kind] = cost_follow(m->page_ns[kind], ns);
        m->stats.page_ns[kind] = m->page_ns[kind];
        return ns;
}

/* A move call's cost per page, for sizing_ns(): only from calls that moved at least half of
 * their pages (a call whose pages failed at once looks cheap and says nothing of copying). */
static void cost_recent(Migrator *m, int kind, uint64_t ns, uint64_t moved, uint64_t pages) {
        if (ns == 0 || moved * 2 < pages)
                return;
        m->recent_ns[kind][m->recent_at[kind]++ % COST_RECENT] = ns;
}

/*
 * The per-page cost move batches are sized from: the lowest of the last COST_RECENT measurements
 * of calls that moved (cost_recent()); before there are any, the running estimate. Why not the
 * estimate itself: it follows a stall up at once (doubling per call) and down by halves, so with
 * a stall every other call it only grows (x -> 2x -> x + c/2), and on a loaded host stalls come
 * every few calls; in the TCG lab THP batches shrank to 1-4 huge pages and vtismd reached
 * 0.41-0.75 of one bare move_pages (bench/RESULTS.md). A stall does not make a page dearer to
 * copy; the cheapest recent call says what a call costs when nothing else runs, and a host that
 * really got slower shows it within COST_RECENT calls. A batch sized so may take longer than
 * batch_usec when the next call stalls too: it runs on the worker, and pause and floors act
 * between calls. Queries use the estimate.
 */
static uint64_t sizing_ns(const Migrator *m, int kind) {
        uint64_t low = UINT64_MAX;

        if (kind == COST_QUERY)
                return m->page_ns[kind];
        for (unsigned i = 0; i < COST_RECENT; i++)
                if (m->recent_ns[kind][i] > 0)
                        low = MIN(low, m->recent_ns[kind][i]);
        return low == UINT64_MAX ? m->page_ns[kind] : low;
}

/*
 * What a move batch costs beyond its move call: the loop's work around it (start-time check,
 * free-memory read, THP re-query, accounting) and the two wake-ups between the loop and the
 * worker, i.e. the time from handing one batch of a plan to the worker to handing the next, less
 * the first one's call; the lowest of the last COST_RECENT (a retry's wait or a stall of the loop
 * is no cost of a batch). 0 before there is one. Measured in the TCG lab at load ~12: THP batches
 * sized to 50x the call's fixed part alone (0.57 ms: 28 ms, 1-2 THPs) paid this every 2 MiB and
 * reached 0.68 of one bare move_pages (bench/RESULTS.md).
 */
static uint64_t batch_overhead_ns(const Migrator *m) {
        uint64_t low = UINT64_MAX;

        for (unsigned i = 0; i < COST_RECENT; i++)
                if (m->recent_gap_ns[i] > 0)
                        low = MIN(low, m->recent_gap_ns[i]);
        return low == UINT64_MAX ? 0 : low;
}

/* A batch is handed to the worker: measure the gap since the last one of the same job. */
static void note_handed(Migrator *m, const Job *j) {
        usec_t now = now_usec(m);

        if (m->o.batch_overhead && m->handed_seq == j->seq && m->handed_usec > 0 &&
            now > m->handed_usec + m->handed_call_usec)
                m->recent_gap_ns[m->recent_gap_at++ % COST_RECENT] = (now - m->handed_usec - m->handed_call_usec) * 1000;
        m->handed_seq = j->seq;
        m->handed_usec = now;
        m->handed_call_usec = 0;
}

/* How long a batch of this kind should take: the configured time, or longer when the fixed part
 * of a call and what each batch costs beyond it are large (then 50x both, so they stay <= 2 %:
 * the move runs on the worker, the loop does not wait for it), within batch_max_usec. */
static usec_t batch_target_usec(const Migrator *m, int kind) {
        uint64_t fixed = kind == COST_QUERY ? 0 : call_ns(m, kind) + batch_overhead_ns(m);
        usec_t t = MAX(m->o.batch_usec, (usec_t) (fixed * 50 / 1000));

        return MIN(t, MAX(m->o.batch_max_usec, m->o.batch_usec));
}

/* 4 KiB pages a batch of this kind should hold. */
static size_t batch_pages(const Migrator *m, int kind) {
        uint64_t t = batch_target_usec(m, kind) * 1000, fixed = call_ns(m, kind), pages;

        pages = (t > fixed ? t - fixed : t / 2) / MAX(sizing_ns(m, kind), (uint64_t) 1);
        pages = MAX(pages, (uint64_t) m->o.batch_pages_min);
        pages = MIN(pages, (uint64_t) m->o.batch_pages_max);
        return (size_t) pages;
}

/*
 * Measure the fixed part of a move call: move one page of our own to the node it is on (nothing
 * migrates; lru_cache_disable() and the lookup still run), twice, and keep the faster (a stall
 * only adds time). Before a plan's first batch, at most every 10 s.
 */
static void probe_call_cost(Migrator *m) {
        usec_t now = now_usec(m);
        uint64_t best = UINT64_MAX;
        int st = STATUS_UNSET;

        if (!m->probe_page || (m->probed_usec > 0 && now - m->probed_usec < 10 * USEC_PER_SEC))
                return;
        if (m->probe_node < 0) {
                if (move_pages(0, 1, &m->probe_page, NULL, &st, 0) < 0 || st < 0) {
                        m->probe_page = NULL;
                        log_debug("Cannot query the node of a page of our own; move call costs are not probed.");
                        return;
                }
                m->probe_node = st;
        }
        for (int i = 0; i < 2; i++) {
                usec_t t0 = now_usec(m);

                if (move_pages(0, 1, &m->probe_page, &m->probe_node, &st, MPOL_MF_MOVE) < 0)
                        return;
                best = MIN(best, (uint64_t) (now_usec(m) - t0) * 1000);
        }
        m->probed_usec = now_usec(m);
        /* The faster of two is robust to a stall already: up at once, down by halves. */
        m->call_ns = best >= m->call_ns ? best : (m->call_ns + best) / 2;
        m->stats.call_ns = m->call_ns;
}

static long do_query(Migrator *m, pid_t pid, size_t n, void **addrs, int *status) {
        usec_t t0 = now_usec(m);
        long r;

        for (size_t i = 0; i < n; i++)
                status[i] = STATUS_UNSET;
        r = move_pages(pid, n, addrs, NULL, status, 0);
        if (r < 0)
                r = negative_errno();
        m->stats.query_calls++;
        update_cost(m, COST_QUERY, now_usec(m) - t0, n);
        return r;
}

static bool entry_same_batch(const Entry *a, const Entry *b) {
        return a->slot == b->slot && a->to == b->to && a->huge == b->huge &&
               (a->from == PLAN_NODE_ANY) == (b->from == PLAN_NODE_ANY);
}

/*
 * Fill m->batch with the next entries: the ready queue, due retries, then the plan's moves.
 * Moves whose VM or node cannot take them are dropped (counted) on the way. Returns the number
 * of entries (0: nothing ready now).
 */
static size_t batch_fill(Migrator *m, Job *j, usec_t now) {
        size_t n = 0, pages = 0, limit = 0;
        Queue *queues[] = { &j->ready, &j->retry };

        for (size_t k = 0; k < ELEMENTSOF(queues); k++) {
                Queue *q = queues[k];

                while (q->head < q->n && n < m->cap) {
                        Entry *e = &q->e[q->head];
                        Slot *s = &j->slots[e->slot];

                        if (e->not_before > now)
                                break;
                        if (!s->vm || node_blocked(j, s, e->to)) {
                                count_blocked(m, j, e, entry_pages(e));
                                q->head++;
                                continue;
                        }
                        if (n == 0)
                                limit = batch_pages(m, e->huge ? COST_MOVE_THP : COST_MOVE_4K);
                        else if (!entry_same_batch(&m->batch[0], e) || pages + entry_pages(e) > limit)
                                break;
                        m->batch[n++] = *e;
                        pages += entry_pages(e);
                        q->head++;
                }
                if (n > 0)
                        return n;
        }

        while (j->next_move < j->n_moves && n < m->cap) {
                const PlanMove *mv = &j->moves[j->next_move];
                Slot *s = &j->slots[mv->vm];
                Entry e = {
                        .slot = mv->vm,
                        .from = mv->from_node,
                        .to = mv->to_node,
                        .direction = (uint8_t) mv->direction,
                        .huge = mv->huge,
                        .counted = mv->direction == PLAN_DEMOTE && mv->from_node >= 0,
                };
                uint64_t left = mv->n_pages - j->next_page, take, clear = 0;

                if (!s->vm || node_blocked(j, s, mv->to_node)) {
                        count_blocked(m, j, &e, left);
                        j->next_move++;
                        j->next_page = 0;
                        continue;
                }
                if (s->vm->n_late > 0) {
                        uint64_t done = vm_moved_late(s->vm, mv->hva + j->next_page * PAGE_4K, left, mv->to_node, &clear);

                        if (done > 0 && (!mv->huge || done >= left)) {
                                MigratorCounters d = {};

                                d.already_pages[mv->direction] = done;
                                account(m, j, mv->vm, &d);
                                j->next_page += done;
                                if (j->next_page >= mv->n_pages) {
                                        j->next_move++;
                                        j->next_page = 0;
                                }
                                continue;
                        }
                } else
                        clear = left;
                if (mv->needs_room && mv->direction == PLAN_PROMOTE && j->shortfall[mv->to_node] > 0) {
                        /* The demotions that were to make room for it on to_node did not: give up
                         * as much of it (a THP only whole). */
                        uint64_t skip = mv->huge ? left : MIN(left, j->shortfall[mv->to_node]);

                        j->shortfall[mv->to_node] -= MIN(skip, j->shortfall[mv->to_node]);
                        account_drop(m, j, mv->vm, MIGRATOR_DROP_NO_ROOM, skip);
                        j->next_page += skip;
                        if (j->next_page >= mv->n_pages) {
                                j->next_move++;
                                j->next_page = 0;
                        }
                        continue;
                }
                if (n == 0)
                        limit = batch_pages(m, mv->huge ? COST_MOVE_THP : COST_MOVE_4K);
                else if (!entry_same_batch(&m->batch[0], &e))
                        break;
                if (pages >= limit)
                        break;

                if (mv->huge) {
                        if (n > 0 && pages + MIGRATOR_HUGE_PAGES > limit)
                                break;
                        e.hva = mv->hva;
                        m->batch[n++] = e;
                        pages += MIGRATOR_HUGE_PAGES;
                        j->next_move++;
                        j->next_page = 0;
                        continue;
                }

                take = MIN(left, (uint64_t) (limit - pages));
                take = MIN(take, (uint64_t) (m->cap - n));
                take = MIN(take, MAX(clear, (uint64_t) 1)); /* up to what a late call moved */
                if (take < left) {
                        /* End the batch on a 2 MiB boundary if one lies inside it. */
                        uint64_t start = mv->hva + j->next_page * PAGE_4K;
                        uint64_t cut = (start + take * PAGE_4K) & ~(HUGE_BYTES - 1);

                        if (cut > start)
                                take = (cut - start) / PAGE_4K;
                }
                for (uint64_t p = 0; p < take; p++) {
                        e.hva = mv->hva + (j->next_page + p) * PAGE_4K;
                        m->batch[n++] = e;
                }
                pages += take;
                j->next_page += take;
                if (j->next_page >= mv->n_pages) {
                        j->next_move++;
                        j->next_page = 0;
                }
        }
        return n;
}

enum {
        OUT_NONE,     /* not moved, already dealt with */
        OUT_MOVED,    /* status says moved; THP: to be verified */
        OUT_QUERY,    /* status unknown or busy: query */
        OUT_RETRY,    /* not moved, queued for a retry */
};

static MigratorFailure failure_from_errno(int e) {
        switch (e) {
        case EBUSY:
                return MIGRATOR_FAIL_BUSY;
        case ENOMEM:
                return MIGRATOR_FAIL_NOMEM;
        case EFAULT:
        case ENOENT:
                return MIGRATOR_FAIL_GONE;
        case EACCES:
                return MIGRATOR_FAIL_SHARED;
        default:
                return MIGRATOR_FAIL_OTHER;
        }
}

/* A page that did not move this time: retry it later (returns true), or count its failure. */
static bool entry_not_moved(Migrator *m, Job *j, Entry *e, MigratorFailure why, bool retry, MigratorCounters *d) {
        if (retry && e->attempts < m->o.busy_retries) {
                Entry r = *e;

                r.attempts++;
                r.not_before = now_usec(m) + m->o.retry_delay_usec;
                queue_push(&j->retry, &r);
                d->retried_pages += entry_pages(e);
                return true;
        }
        d->failed_pages[why] += entry_pages(e);
        return false;
}

/* Pages moved (or found on `to` already): the kept query statuses follow, then the sink hears it. */
static void report_moved(Migrator *m, Slot *s, uint64_t hva, size_t n, int from, int to, PlanDirection dir) {
        if (s->vm)
                vm_placement_moved(s->vm, hva, n, to);
        /* a round replaced while this call was in flight: the plan after it did not know */
        if (s->vm && m->job && (s < m->job->slots || s >= m->job->slots + m->job->n_slots) && from != to) {
                s->vm->late = xreallocarray(s->vm->late, s->vm->n_late + 1, sizeof(*s->vm->late));
                s->vm->late[s->vm->n_late++] = (struct LateRun) { .hva = hva, .n_pages = n, .to = to };
        }
        if (m->sink.moved)
                m->sink.moved(m->userdata, s->key, hva, n, from, to, dir);
}

/* Emit moved() for runs of consecutive entries with outcome OUT_MOVED. Returns false if the job
 * ended or the VM was forgotten meanwhile. */
static bool emit_moved_runs(Migrator *m, Slot *s, size_t n) {
        for (size_t i = 0; i < n;) {
                size_t k = i + 1;

                if (m->outcome[i] != OUT_MOVED || m->batch[i].huge) {
                        i++;
                        continue;
                }
                while (k < n && m->outcome[k] == OUT_MOVED && !m->batch[k].huge &&
                       m->batch[k].hva == m->batch[k - 1].hva + PAGE_4K && m->batch[k].from == m->batch[i].from)
                        k++;
                report_moved(m, s, m->batch[i].hva, k - i, m->batch[i].from, m->batch[i].to,
                             (PlanDirection) m->batch[i].direction);
                if (!s->key)
                        return false;
                i = k;
        }
        return true;
}

/* Query-first: where are the batch's pages? Keeps only those to move (in place); counts the rest.
 * The answers stay in spot_addrs/spot_status for the callbacks. */
static size_t batch_query_first(Migrator *m, Job *j, Slot *s, size_t n, MigratorCounters *d, bool *ret_gone) {
        size_t kept = 0;
        long r;

        for (size_t i = 0; i < n; i++)
                m->spot_addrs[i] = (void *) (uintptr_t) m->batch[i].hva;
        r = do_query(m, s->vm->pid, n, m->spot_addrs, m->spot_status);
        d->queried_pages += n;
        if (r == -ESRCH || r == -EINVAL) {
                *ret_gone = true;
                return 0;
        }
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        d->failed_pages[MIGRATOR_FAIL_OTHER] += entry_pages(&m->batch[i]);
                return 0;
        }
        for (size_t i = 0; i < n; i++) {
                Entry *e = &m->batch[i];
                int st = m->spot_status[i];

                if (st == e->to)
                        d->already_pages[e->direction] += entry_pages(e);
                else if (st < 0 && st != STATUS_UNSET)
                        d->failed_pages[failure_from_errno(-st)] += entry_pages(e);
                else {
                        e->from = st >= 0 ? st : PLAN_NODE_ANY;
                        m->batch[kept++] = *e;
                }
        }
        return kept;
}

/* The query-first pages found on their target already: moved(node, node), in runs (plan.h: the
 * heat map learns from "found already there" as from a move). A THP counts whole. */
static bool emit_in_place(Migrator *m, Slot *s, size_t n, int to, bool huge, PlanDirection dir) {
        for (size_t i = 0; i < n;) {
                size_t k = i + 1;

                if (m->spot_status[i] != to) {
                        i++;
                        continue;
                }
                while (!huge && k < n && m->spot_status[k] == to &&
                       (uintptr_t) m->spot_addrs[k] == (uintptr_t) m->spot_addrs[k - 1] + PAGE_4K)
                        k++;
                report_moved(m, s, (uintptr_t) m->spot_addrs[i], huge ? MIGRATOR_HUGE_PAGES : k - i, to, to, dir);
                if (!s->key)
                        return false;
                i = k;
        }
        return true;
}

/*
 * After a THP batch: query the last page of every unit that moved. There too: the whole folio
 * moved. Not there: the unit was not one THP; query it all, count what moved, and queue the rest
 * as 4 KiB pages. Fills res[] (one per moved unit). Returns false if the VM turned out gone.
 */
static bool batch_verify_huge(Migrator *m, Job *j, Slot *s, size_t n, MigratorCounters *d, HugeResult *res,
                              size_t *ret_n_res) {
        size_t k = 0, n_res = 0;
        long r;

        for (size_t i = 0; i < n; i++)
                if (m->outcome[i] == OUT_MOVED)
                        m->qaddrs[k++] = (void *) (uintptr_t) (m->batch[i].hva + HUGE_BYTES - PAGE_4K);
        *ret_n_res = 0;
        if (k == 0)
                return true;
        r = do_query(m, s->vm->pid, k, m->qaddrs, m->qstatus);
        d->queried_pages += k;
        if (r == -ESRCH || r == -EINVAL)
                return false;

        k = 0;
        for (size_t i = 0; i < n; i++) {
                const Entry *e = &m->batch[i];
                HugeResult *h;
                uint64_t moved = 0;
                int tail;

                if (m->outcome[i] != OUT_MOVED)
                        continue;
                tail = r >= 0 ? m->qstatus[k] : STATUS_UNSET;
                k++;
                h = &res[n_res++];
                *h = (HugeResult) { .hva = e->hva, .from = e->from, .to = e->to, .direction = e->direction };
                if (tail == e->to) {
                        d->moved_pages[e->direction] += MIGRATOR_HUGE_PAGES;
                        d->moved_huge[e->direction]++;
                        h->whole = true;
                        continue;
                }

                /* Not one THP (any more): see what moved, move the rest page by page. */
                void *pages[MIGRATOR_HUGE_PAGES];

                h->status = xcalloc(MIGRATOR_HUGE_PAGES, sizeof(int));
                for (size_t p = 0; p < MIGRATOR_HUGE_PAGES; p++)
                        pages[p] = (void *) (uintptr_t) (e->hva + p * PAGE_4K);
                if (do_query(m, s->vm->pid, MIGRATOR_HUGE_PAGES, pages, h->status) < 0)
                        for (size_t p = 0; p < MIGRATOR_HUGE_PAGES; p++)
                                h->status[p] = STATUS_UNSET;
                d->queried_pages += MIGRATOR_HUGE_PAGES;
                for (size_t p = 0; p < MIGRATOR_HUGE_PAGES; p++) {
                        int st = h->status[p];
                        Entry sub = *e;

                        if (st == e->to)
                                moved++;
                        else if (st < 0 && st != STATUS_UNSET) {
                                d->failed_pages[failure_from_errno(-st)]++;
                                room_lost(j, e, 1);
                        } else {
                                sub.hva = e->hva + p * PAGE_4K;
                                sub.huge = false;
                                sub.attempts = 0;
                                sub.not_before = 0;
                                sub.from = st >= 0 ? st : PLAN_NODE_ANY;
                                sub.counted = e->counted && sub.from == e->from;
                                queue_push(&j->ready, &sub);
                        }
                }
                d->moved_pages[e->direction] += moved;
                /* The unit was charged in full; its split-off pages are charged when tried. */
                j->charged_pages -= MIGRATOR_HUGE_PAGES - moved;
        }
        *ret_n_res = n_res;
        return true;
}

/* Every entry of the batch [0, n) that did not move is dropped: the VM is gone (or denied us). */
static void batch_drop(Migrator *m, Job *j, Slot *s, size_t n, bool charged, MigratorDrop why, MigratorCounters *d) {
        for (size_t i = 0; i < n; i++) {
                if (charged && m->outcome[i] == OUT_MOVED)
                        continue;
                if (charged && m->outcome[i] == OUT_QUERY)
                        j->charged_pages -= entry_pages(&m->batch[i]);
                if (!charged || m->outcome[i] != OUT_NONE)
                        d->dropped_pages[why] += entry_pages(&m->batch[i]);
        }
        if (s->vm && why == MIGRATOR_DROP_EXITED)
                vm_mark_gone(s->vm);
}

static void emit_huge_results(Migrator *m, Slot *s, HugeResult *h, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (m->sink.huge) {
                        m->sink.huge(m->userdata, s->key, h[i].hva, h[i].whole);
                        if (!s->key)
                                return;
                }
                if (h[i].whole) {
                        report_moved(m, s, h[i].hva, MIGRATOR_HUGE_PAGES, h[i].from, h[i].to, (PlanDirection) h[i].direction);
                        if (!s->key)
                                return;
                        continue;
                }
                for (size_t p = 0; p < MIGRATOR_HUGE_PAGES;) {
                        size_t q = p;

                        while (q < MIGRATOR_HUGE_PAGES && h[i].status[q] == h[i].to)
                                q++;
                        if (q == p) {
                                p++;
                                continue;
                        }
                        report_moved(m, s, h[i].hva + p * PAGE_4K, q - p, h[i].from, h[i].to, (PlanDirection) h[i].direction);
                        if (!s->key)
                                return;
                        p = q;
                }
        }
}

/*
 * The target's floor (migrator.h, "Floors"): keep the entries of the batch [0, n), in order, that
 * fit in the target's free memory above its floor; the rest fail "floor" and the node takes
 * nothing more in this plan. Returns how many are kept.
 */
static size_t batch_fit_floor(Migrator *m, Job *j, size_t n, MigratorCounters *d) {
        const int to = m->batch[0].to;
        const Floor *f = (size_t) to < m->n_floors ? &m->floors[to] : NULL;
        uint64_t free_bytes, room, used = 0;
        size_t k;
        int r;

        if (!m->o.node_free || !f || f->min_free_bytes == 0)
                return n;
        r = m->o.node_free(m->o.node_free_userdata, to, &free_bytes);
        m->stats.floor_reads++;
        if (r < 0) {
                if (!m->floor_read_failed)
                        log_debug("Cannot read the free memory of node %d: %s; moving as planned.", to, strerror(-r));
                m->floor_read_failed = true;
                return n;
        }
        room = free_bytes > f->min_free_bytes ? (free_bytes - f->min_free_bytes) / PAGE_4K : 0;
        for (k = 0; k < n && used + entry_pages(&m->batch[k]) <= room; k++)
                used += entry_pages(&m->batch[k]);
        if (k == n)
                return n;

        m->stats.floor_cuts++;
        for (size_t i = k; i < n; i++) {
                d->failed_pages[MIGRATOR_FAIL_FLOOR] += entry_pages(&m->batch[i]);
                room_lost(j, &m->batch[i], entry_pages(&m->batch[i]));
        }
        if (!j->node_full[to])
                j->node_full[to] = NODE_FLOOR;
        if (!j->floor_noted[to]) {
                char a[FORMAT_BYTES_MAX], b[FORMAT_BYTES_MAX];

                j->floor_noted[to] = true;
                log_notice("Node %d has %s free and must keep %s%s%s%s: moving only what fits above that, then nothing "
                           "more into it in migration round %" PRIu64 " until pages move off it.", to,
                           format_bytes(a, sizeof(a), free_bytes), format_bytes(b, sizeof(b), f->min_free_bytes),
                           f->what ? " (" : "", f->what ?: "", f->what ? ")" : "", j->seq);
        }
        return k;
}

/* Dry-run: count what the budget lets through as "would move". */
static void batch_dry(Migrator *m, Job *j, size_t n) {
        MigratorCounters d = {};

        for (size_t i = 0; i < n; i++) {
                uint64_t pages = entry_pages(&m->batch[i]);

                if (j->charged_pages + pages > j->budget_pages) {
                        d.dropped_pages[MIGRATOR_DROP_BUDGET] += pages;
                        continue;
                }
                j->charged_pages += pages;
                d.would_move_pages[m->batch[i].direction] += pages;
        }
        j->dry_seen = true;
        account(m, j, m->batch[0].slot, &d);
}

/*
 * The end of a batch, on the loop: what demotions did not free, the counts, then the callbacks
 * (last; each may end the job or forget the VM). Frees b->hres.
 */
/*
 * Pages moved off a node that was at its floor: it has room again, so the plan's moves into it go
 * on (each batch into it still reads its free memory first). This is what the interleaved plan
 * needs (plan.h, model 5): a promotion batch cut at the DRAM floor, by the kernel's inexact
 * MemFree (pages freed by the demotions before it wait on per-CPU lists, which MemFree does not
 * count) or by another process's allocation, would otherwise end every promotion of the round;
 * now the next demotion batch from that node reopens it, and only the cut part failed "floor".
 */
static void floor_reopen(Migrator *m, Job *j, size_t n) {
        for (size_t i = 0; i < n; i++) {
                int from = m->batch[i].from;

                if (m->outcome[i] == OUT_MOVED && from >= 0 && (size_t) from < j->n_nodes && j->node_full[from] == NODE_FLOOR)
                        j->node_full[from] = NODE_OPEN;
        }
}

static void batch_end(Migrator *m, Batch *b) {
        Job *j = b->job;
        Slot *s = &j->slots[b->slot];

        /* What demotions did not free (an exit frees it all anyway; a forgotten VM is not ours). */
        if (!(b->detach && (b->detach_why == MIGRATOR_DROP_EXITED || b->detach_why == MIGRATOR_DROP_FORGOTTEN)))
                for (size_t i = 0; i < b->n; i++)
                        if (m->outcome[i] != OUT_MOVED && m->outcome[i] != OUT_RETRY)
                                room_lost(j, &m->batch[i], entry_pages(&m->batch[i]));
        floor_reopen(m, j, b->n);
        account(m, j, b->slot, &b->d);
        if (b->detach && s->vm) {
                log_debug("VM %s (pid %d) %s during migration; its remaining moves are dropped.", s->id, (int) b->pid,
                          b->detach_why == MIGRATOR_DROP_DENIED ? "denied us access" : "exited");
                slot_detach(s, b->detach_why);
        }

        if (!s->key)
                goto out; /* forgotten: no callbacks for it */
        if (b->n_spot > 0 && !emit_in_place(m, s, b->n_spot, b->to, b->huge, b->dir))
                goto out;
        if (!b->huge && !emit_moved_runs(m, s, b->n))
                goto out;
        emit_huge_results(m, s, b->hres, b->n_hres);
out:
        for (size_t i = 0; i < b->n_hres; i++)
                free(b->hres[i].status);
        free(b->hres);
        b->hres = NULL;
        b->n_hres = 0;
}

/*
 * One batch of moves for one VM (m->batch[0..n) share VM, target node and kind), on the loop up
 * to the call: the start-time check, the query of query-first moves, the target's floor and the
 * budget. What is left to move is handed to the worker (m->inflight; the slice wakes it as its
 * last act) and finished by batch_collect(); a batch left with nothing to move ends here.
 */
static void batch_run(Migrator *m, Job *j, size_t n) {
        Batch *b = &m->flight;
        Slot *s = &j->slots[m->batch[0].slot];
        MigratorVm *vm = s->vm;
        size_t k;
        long r;

        *b = (Batch) {
                .job = j,
                .slot = m->batch[0].slot,
                .pid = vm->pid,
                .huge = m->batch[0].huge,
                .to = m->batch[0].to,
                .dir = (PlanDirection) m->batch[0].direction,
                .n = n,
                .detach_why = MIGRATOR_DROP_EXITED,
        };
        for (size_t i = 0; i < n; i++)
                m->outcome[i] = OUT_NONE;

        /* Still the same process? (pid reuse: a different process must never get moves) */
        r = vm_check_alive(m, vm);
        if (r == 0) {
                batch_drop(m, j, s, n, false, MIGRATOR_DROP_EXITED, &b->d);
                b->detach = true;
                goto end;
        }
        if (r < 0) {
                log_debug("Cannot read the start time of pid %d: %s; moving nothing now.", (int) vm->pid,
                          strerror((int) -r));
                for (size_t i = 0; i < n; i++)
                        if (entry_not_moved(m, j, &m->batch[i], MIGRATOR_FAIL_OTHER, true, &b->d))
                                m->outcome[i] = OUT_RETRY;
                goto end;
        }

        if (m->batch[0].from == PLAN_NODE_ANY) {
                bool gone = false;
                size_t asked = n;

                n = batch_query_first(m, j, s, n, &b->d, &gone);
                if (gone) {
                        batch_drop(m, j, s, asked, false, MIGRATOR_DROP_EXITED, &b->d);
                        b->detach = true;
                        goto end;
                }
                b->n = n;
                b->n_spot = asked;
                if (n == 0)
                        goto end;
        }

        /* No more than the target's floor allows (what does not fit fails "floor"). */
        n = b->n = batch_fit_floor(m, j, n, &b->d);
        if (n == 0)
                goto end;

        /* Charge what we hand over; what does not fit is dropped. */
        k = 0;
        for (size_t i = 0; i < n; i++) {
                uint64_t pages = entry_pages(&m->batch[i]);

                if (j->charged_pages + pages > j->budget_pages) {
                        b->d.dropped_pages[MIGRATOR_DROP_BUDGET] += pages;
                        room_lost(j, &m->batch[i], pages);
                        continue;
                }
                j->charged_pages += pages;
                m->batch[k++] = m->batch[i];
        }
        n = b->n = k;
        if (n == 0)
                goto end;

        for (size_t i = 0; i < n; i++) {
                m->addrs[i] = (void *) (uintptr_t) m->batch[i].hva;
                m->nodes[i] = b->to;
                m->status[i] = STATUS_UNSET;
                m->outcome[i] = OUT_QUERY;
        }
        m->stats.move_calls++;
        m->slice_pages += b->huge ? n * MIGRATOR_HUGE_PAGES : n;
        note_handed(m, j);
        m->inflight = true;
        m->stats.in_flight = 1;
        m->kick = true;
        return;
end:
        batch_end(m, b);
}

/*
 * A forgotten VM's batch came back: count what the statuses say (a THP unverified), touch the VM
 * no more (no query), report nothing; pages of unknown fate are dropped "forgotten".
 */
static void batch_forgotten(Migrator *m, Batch *b) {
        Job *j = b->job;

        if (b->r < 0 && (b->err == ENOMEM || b->err == ENODEV))
                job_node_full(j, b->to, b->err);
        for (size_t i = 0; i < b->n; i++) {
                const Entry *e = &m->batch[i];
                int st = m->status[i];

                if (st == b->to) {
                        m->outcome[i] = OUT_MOVED;
                        b->d.moved_pages[e->direction] += entry_pages(e);
                        continue;
                }
                m->outcome[i] = OUT_NONE;
                j->charged_pages -= entry_pages(e);
                if (st == -ENOMEM)
                        job_node_full(j, b->to, ENOMEM);
                if (st < 0 && st != STATUS_UNSET && st != -EBUSY)
                        b->d.failed_pages[failure_from_errno(-st)] += entry_pages(e);
                else
                        b->d.dropped_pages[MIGRATOR_DROP_FORGOTTEN] += entry_pages(e);
        }
        b->detach = true;
        b->detach_why = MIGRATOR_DROP_FORGOTTEN;
}

/* After the worker's call, on the loop: every status counted, busy and unknown ones queried, THPs
 * verified; then batch_end(). The job may have ended meanwhile (its results still count in its
 * round), the VM may have been forgotten (batch_forgotten()). */
static void batch_collect(Migrator *m, Batch *b) {
        Job *j = b->job;
        Slot *s = &j->slots[b->slot];
        MigratorVm *vm = s->vm;
        const size_t n = b->n;
        const int to = b->to, err = b->err;
        const long r = b->r;
        uint64_t cost;
        size_t k;

        cost = update_cost(m, b->huge ? COST_MOVE_THP : COST_MOVE_4K, b->call_usec, b->huge ? n * MIGRATOR_HUGE_PAGES : n);
        if (!vm) {
                batch_forgotten(m, b);
                goto end;
        }

        if (r < 0 && (err == ESRCH || err == EINVAL || err == EPERM)) {
                /* Nothing happened: no such task, no mm any more (exited, a zombie), or no access. */
                b->detach_why = err == EPERM ? MIGRATOR_DROP_DENIED : MIGRATOR_DROP_EXITED;
                if (err == EPERM)
                        log_debug("move_pages(%d) was denied; no more moves for VM %s in this round.", (int) vm->pid,
                                  s->id);
                batch_drop(m, j, s, n, true, b->detach_why, &b->d);
                b->detach = true;
                goto end;
        }
        if (r < 0 && (err == ENOMEM || err == ENODEV))
                job_node_full(j, to, err);
        else if (r < 0 && err == EACCES)
                slot_block_node(j, s, to);

        /* Per-page statuses; unset (the call stopped part-way) and busy ones are queried. */
        k = 0;
        for (size_t i = 0; i < n; i++) {
                int st = m->status[i];

                if (st == to)
                        m->outcome[i] = OUT_MOVED;
                else if (st == STATUS_UNSET || st == -EBUSY)
                        m->qaddrs[k++] = m->addrs[i];
                else {
                        if (st == -ENOMEM)
                                job_node_full(j, to, ENOMEM);
                        m->outcome[i] = OUT_NONE;
                        b->d.failed_pages[st >= 0 ? MIGRATOR_FAIL_OTHER : failure_from_errno(-st)] +=
                                entry_pages(&m->batch[i]);
                        j->charged_pages -= entry_pages(&m->batch[i]);
                }
        }
        if (k > 0) {
                long q = do_query(m, vm->pid, k, m->qaddrs, m->qstatus);

                b->d.queried_pages += k;
                if (q == -ESRCH || q == -EINVAL) {
                        batch_drop(m, j, s, n, true, MIGRATOR_DROP_EXITED, &b->d);
                        b->detach = true;
                        goto count_moved;
                }
                k = 0;
                for (size_t i = 0; i < n; i++) {
                        Entry *e = &m->batch[i];
                        int st;

                        if (m->outcome[i] != OUT_QUERY)
                                continue;
                        st = q >= 0 ? m->qstatus[k] : STATUS_UNSET;
                        k++;
                        if (st == to) {
                                m->outcome[i] = OUT_MOVED;
                                continue;
                        }
                        m->outcome[i] = OUT_NONE;
                        j->charged_pages -= entry_pages(e);
                        if (r >= 0) {
                                if (entry_not_moved(m, j, e, MIGRATOR_FAIL_BUSY, true, &b->d))
                                        m->outcome[i] = OUT_RETRY;
                        } else if (err == ENOMEM)
                                b->d.failed_pages[MIGRATOR_FAIL_NOMEM] += entry_pages(e);
                        else if (err == EACCES)
                                b->d.failed_pages[MIGRATOR_FAIL_NOT_ALLOWED] += entry_pages(e);
                        else
                                b->d.failed_pages[MIGRATOR_FAIL_OTHER] += entry_pages(e);
                }
        }

count_moved:
        if (b->huge && !b->detach) {
                b->hres = xcalloc(n, sizeof(HugeResult));
                if (!batch_verify_huge(m, j, s, n, &b->d, b->hres, &b->n_hres)) {
                        /* Gone right after the move: the units moved, unverified. */
                        for (size_t i = 0; i < n; i++)
                                if (m->outcome[i] == OUT_MOVED)
                                        b->d.moved_pages[m->batch[i].direction] += MIGRATOR_HUGE_PAGES;
                        b->detach = true;
                        vm_mark_gone(vm);
                }
        } else
                for (size_t i = 0; i < n; i++)
                        if (m->outcome[i] == OUT_MOVED)
                                b->d.moved_pages[m->batch[i].direction] += entry_pages(&m->batch[i]);
        cost_recent(m, b->huge ? COST_MOVE_THP : COST_MOVE_4K, cost, b->d.moved_pages[b->dir],
                    b->huge ? n * MIGRATOR_HUGE_PAGES : n);
end:
        batch_end(m, b);
}

/* --- the residency sweep --- */

/* The next VM to sweep after the rotor, in key order, wrapping; NULL if none can be. */
static MigratorVm *sweep_next_vm(const Migrator *m) {
        size_t start;

        if (m->n_vms == 0)
                return NULL;
        start = vm_lower_bound(m, m->sweep_rotor);
        if (start < m->n_vms && m->vms[start].key == m->sweep_rotor)
                start++;
        for (size_t k = 0; k < m->n_vms; k++) {
                MigratorVm *vm = m->vms[(start + k) % m->n_vms].vm;

                if (vm && !vm->gone && vm->ram_bytes > 0)
                        return vm;
        }
        return NULL;
}

static void thp_probe_disable(Migrator *m, const char *reason) {
        if (m->kpageflags_fd >= 0)
                (void) close(m->kpageflags_fd);
        m->kpageflags_fd = -EBADF;
        if (!m->thp_probe_reason) {
                m->thp_probe_reason = xstrdup(reason);
                log_debug("THP probing in the residency sweep is off: %s.", reason);
        }
}

static int pread_u64(int fd, uint64_t index, uint64_t *ret) {
        ssize_t n = pread(fd, ret, sizeof(*ret), (off_t) (index * sizeof(uint64_t)));

        if (n < 0)
                return -errno;
        return n == sizeof(*ret) ? 0 : -EIO;
}

/* Is the 2 MiB block at hva one THP? 1 yes, 0 no, < 0 cannot tell. */
static int thp_probe_block(Migrator *m, MigratorVm *vm, uint64_t hva) {
        uint64_t first, last, flags, pfn;
        int r;

        if (vm->pagemap_fd < 0) {
                _cleanup_free_ char *path = xasprintf("%s/%d/pagemap", m->proc_root, (int) vm->pid);

                vm->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
                if (vm->pagemap_fd < 0)
                        return -errno;
        }
        r = pread_u64(vm->pagemap_fd, hva / PAGE_4K, &first);
        if (r < 0)
                return r;
        if (!(first & PM_PRESENT))
                return 0;
        pfn = first & PM_PFN_MASK;
        if (pfn == 0) {
                thp_probe_disable(m, "/proc/PID/pagemap shows no page frame numbers (that needs CAP_SYS_ADMIN)");
                return -EPERM;
        }
        if (pfn % MIGRATOR_HUGE_PAGES != 0)
                return 0;
        r = pread_u64(m->kpageflags_fd, pfn, &flags);
        if (r < 0)
                return r;
        if (!(flags & (UINT64_C(1) << KPF_THP)) || !(flags & (UINT64_C(1) << KPF_COMPOUND_HEAD)))
                return 0;
        r = pread_u64(vm->pagemap_fd, hva / PAGE_4K + MIGRATOR_HUGE_PAGES - 1, &last);
        if (r < 0)
                return r;
        return (last & PM_PRESENT) && (last & PM_PFN_MASK) == pfn + MIGRATOR_HUGE_PAGES - 1;
}

/* One batch of placement queries for the next VM in turn. Returns false if there was none. */
static bool sweep_batch(Migrator *m) {
        MigratorVm *vm = sweep_next_vm(m);
        MigratorCounters d = {};
        const HeatRangeSpec *range = NULL;
        uint64_t offset = 0, hva, left, n;
        long r;

        if (!vm)
                return false;
        m->sweep_rotor = vm->key;
        if (vm->sweep_cursor >= vm->ram_bytes)
                vm->sweep_cursor = 0;
        for (size_t i = 0; i < vm->n_ranges; i++) {
                if (vm->sweep_cursor < offset + vm->ranges[i].len_bytes) {
                        range = &vm->ranges[i];
                        break;
                }
                offset += vm->ranges[i].len_bytes;
        }
        hva = range->hva + (vm->sweep_cursor - offset);
        left = (range->hva + range->len_bytes - hva) / PAGE_4K;
        n = MIN(left, m->sweep_allowance);
        n = MIN(n, (uint64_t) batch_pages(m, COST_QUERY));
        n = MIN(n, (uint64_t) m->cap);
        if (n < left) {
                /* Feed whole 2 MiB blocks: end on a block boundary, the one before the end if
                 * there is one, else the next (the allowance may be overrun by < 512 pages). */
                uint64_t end = hva + n * PAGE_4K, cut = end & ~(HUGE_BYTES - 1);

                if (cut <= hva)
                        cut = (hva + HUGE_BYTES) & ~(HUGE_BYTES - 1);
                n = MIN(left, (cut - hva) / PAGE_4K);
        }

        /* No start-time check here (moves and planned queries have theirs): the owner checks
         * every VM once per cycle before it allows the sweep (migrator_refresh_residency()), a
         * query moves nothing, and an exited process answers ESRCH. */
        if (vm->gone) {
                m->sweep_allowance -= MIN(m->sweep_allowance, n);
                return true;
        }
        for (uint64_t p = 0; p < n; p++)
                m->qaddrs[p] = (void *) (uintptr_t) (hva + p * PAGE_4K);
        r = do_query(m, vm->pid, n, m->qaddrs, m->qstatus);
        m->sweep_allowance -= MIN(m->sweep_allowance, n);
        if (r == -ESRCH || r == -EINVAL) {
                vm_mark_gone(vm);
                return true;
        }
        vm->sweep_cursor += n * PAGE_4K;
        if (r < 0) {
                log_debug("Placement query of pid %d failed: %s", (int) vm->pid, strerror((int) -r));
                return true;
        }
        d.queried_pages = n;
        migrator_counters_add(&vm->counters, &d);
        migrator_counters_add(&m->total, &d);

        if (m->sink.placement) {
                m->sink.placement(m->userdata, vm->key, hva, m->qstatus, n, MIGRATOR_QUERY_SWEEP);
                if (vm->forgotten)
                        return true;
        }
        if (m->kpageflags_fd < 0)
                return true;
        for (uint64_t b = (hva + HUGE_BYTES - 1) & ~(HUGE_BYTES - 1); b + HUGE_BYTES <= hva + n * PAGE_4K;
             b += HUGE_BYTES) {
                int huge = thp_probe_block(m, vm, b);

                if (huge < 0) {
                        if (m->kpageflags_fd < 0)
                                break;
                        continue;
                }
                m->stats.probe_blocks++;
                if (m->sink.huge) {
                        m->sink.huge(m->userdata, vm->key, b, huge);
                        if (vm->forgotten || vm->gone)
                                break;
                }
        }
        return true;
}

/* --- the event sources --- */

static bool job_ready(const Migrator *m, const Job *j, usec_t now) {
        if (job_complete(j) || j->next_move < j->n_moves || queue_len(&j->ready) > 0 || j->next_query < j->n_queries)
                return true;
        return queue_len(&j->retry) > 0 && j->retry.e[j->retry.head].not_before <= now;
}

static void rearm(Migrator *m) {
        usec_t now = now_usec(m), wait = USEC_INFINITY;
        bool work = false;
        Job *j = m->job;

        if (m->in_slice)
                return; /* the slice re-arms when it ends */
        if (m->inflight) {
                /* One call at a time: the worker's eventfd runs the next slice. */
                (void) sd_event_source_set_enabled(m->defer, SD_EVENT_OFF);
                (void) sd_event_source_set_enabled(m->timer, SD_EVENT_OFF);
                return;
        }
        if (j && !m->paused) {
                if (job_ready(m, j, now))
                        work = true;
                else if (queue_len(&j->retry) > 0)
                        wait = j->retry.e[j->retry.head].not_before - now;
        }
        if (m->sweep_allowance > 0 && sweep_next_vm(m))
                work = true;

        (void) sd_event_source_set_enabled(m->defer, work ? SD_EVENT_ONESHOT : SD_EVENT_OFF);
        if (!work && wait != USEC_INFINITY) {
                (void) sd_event_source_set_time_relative(m->timer, MAX(wait, (usec_t) 1));
                (void) sd_event_source_set_enabled(m->timer, SD_EVENT_ONESHOT);
        } else
                (void) sd_event_source_set_enabled(m->timer, SD_EVENT_OFF);
}

/*
 * Before the moves: the plan's queries[] of one VM (consecutive ones, up to a query batch) in one
 * call; each is kept for migrator_vm_placement() (report_moved() keeps it true as the moves go)
 * and reported as MIGRATOR_QUERY_PLANNED.
 */
static bool query_batch(Migrator *m, Job *j) {
        const PlanQuery *first = &j->queries[j->next_query];
        Slot *s = &j->slots[first->vm];
        MigratorCounters d = {};
        size_t n_q = 0, n = 0, limit = batch_pages(m, COST_QUERY);
        long r;

        if (!s->vm) {
                j->next_query++;
                return true;
        }
        while (j->next_query + n_q < j->n_queries) {
                const PlanQuery *q = &j->queries[j->next_query + n_q];

                if (q->vm != first->vm || (n > 0 && n + q->n_pages > limit))
                        break;
                for (uint64_t p = 0; p < q->n_pages; p++)
                        m->qaddrs[n++] = (void *) (uintptr_t) (q->hva + p * PAGE_4K);
                n_q++;
        }
        j->next_query += n_q;

        if (vm_check_alive(m, s->vm) == 0) {
                slot_detach(s, MIGRATOR_DROP_EXITED);
                return true;
        }
        r = do_query(m, s->vm->pid, n, m->qaddrs, m->qstatus);
        if (r == -ESRCH || r == -EINVAL) {
                vm_mark_gone(s->vm);
                slot_detach(s, MIGRATOR_DROP_EXITED);
                return true;
        }
        if (r < 0) {
                log_debug("Placement query of pid %d failed: %s", (int) s->vm->pid, strerror((int) -r));
                return true;
        }
        d.queried_pages = n;
        account(m, j, first->vm, &d);

        n = 0;
        for (size_t i = 0; i < n_q; i++) {
                const PlanQuery *q = &j->queries[j->next_query - n_q + i];

                vm_store_placement(s->vm, q->hva, m->qstatus + n, q->n_pages);
                if (m->sink.placement) {
                        m->sink.placement(m->userdata, s->key, q->hva, m->qstatus + n, q->n_pages,
                                          MIGRATOR_QUERY_PLANNED);
                        if (!s->key)
                                break;
                }
                n += q->n_pages;
        }
        return true;
}

/* --- the worker --- */

/* The worker thread: waits for a batch, makes its move call, hands the result back. It touches
 * nothing but the w_ fields (under the lock) and the call's arrays, which the loop leaves alone
 * while the batch is in flight; a batch handed over is always made, even when quitting. */
static void *worker_main(void *userdata) {
        Migrator *m = userdata;

        (void) pthread_mutex_lock(&m->lock);
        for (;;) {
                usec_t t0, dt;
                long r;
                int err;

                while (!m->w_pending && !m->w_quit)
                        (void) pthread_cond_wait(&m->wake, &m->lock);
                if (!m->w_pending)
                        break;
                m->w_pending = false;
                (void) pthread_mutex_unlock(&m->lock);

                t0 = now_usec(m);
                r = move_pages(m->w_pid, m->w_n, m->addrs, m->nodes, m->status, MPOL_MF_MOVE);
                err = r < 0 ? errno : 0;
                dt = now_usec(m) - t0;

                (void) pthread_mutex_lock(&m->lock);
                m->w_ret = r;
                m->w_err = err;
                m->w_usec = dt;
                m->w_done = true;
                (void) eventfd_write(m->done_fd, 1);
        }
        (void) pthread_mutex_unlock(&m->lock);
        return NULL;
}

/* The batch handed over in this slice goes to the worker. */
static void worker_kick(Migrator *m) {
        if (!m->kick)
                return;
        m->kick = false;
        (void) pthread_mutex_lock(&m->lock);
        m->w_pid = m->flight.pid;
        m->w_n = m->flight.n;
        m->w_pending = true;
        (void) pthread_cond_signal(&m->wake);
        (void) pthread_mutex_unlock(&m->lock);
}

/* If the worker's call returned: finish its batch, end its job if that is complete, report the
 * rounds that ended meanwhile. Returns true if it did. */
static bool batch_collect_flight(Migrator *m) {
        Batch *b = &m->flight;
        Job *j = b->job;
        bool done;

        if (!m->inflight || m->kick)
                return false;
        (void) pthread_mutex_lock(&m->lock);
        done = m->w_done;
        if (done) {
                m->w_done = false;
                b->r = m->w_ret;
                b->err = m->w_err;
                b->call_usec = m->w_usec;
                m->handed_call_usec = m->w_usec;
        }
        (void) pthread_mutex_unlock(&m->lock);
        if (!done)
                return false;

        m->inflight = false;
        m->stats.in_flight = 0;
        m->running = j;
        batch_collect(m, b);
        if (!j->ended && m->job == j && job_complete(j))
                job_end(m, MIGRATOR_ROUND_DONE);
        jobs_report_ended(m);
        m->running = NULL;
        if (j->ended)
                job_free(j);
        return true;
}

static int worker_start(Migrator *m) {
        sigset_t all, saved;
        int r;

        m->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (m->done_fd < 0)
                return -errno;
        /* The worker takes no signals (the loop's signal sources need them blocked everywhere). */
        sigfillset(&all);
        (void) pthread_sigmask(SIG_SETMASK, &all, &saved);
        r = -pthread_create(&m->worker, NULL, worker_main, m);
        (void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
        if (r < 0)
                return r;
        m->worker_started = true;
        return 0;
}

/* Waits for a call in flight (it cannot be interrupted) and ends the thread. */
static void worker_stop(Migrator *m) {
        if (m->worker_started) {
                (void) pthread_mutex_lock(&m->lock);
                m->w_quit = true;
                (void) pthread_cond_signal(&m->wake);
                (void) pthread_mutex_unlock(&m->lock);
                (void) pthread_join(m->worker, NULL);
                m->worker_started = false;
        }
        if (m->done_fd >= 0)
                (void) close(m->done_fd);
        m->done_fd = -EBADF;
}

/* One batch of the running job, if one is ready. Returns true if it did anything. */
static bool job_step(Migrator *m, usec_t now) {
        Job *j = m->job;
        bool did = false;
        size_t n;

        if (!j || m->paused || m->inflight)
                return false;
        if (!m->dry_run && !j->probed) {
                /* Counts as a batch of the slice: it can take two calls' fixed cost. */
                probe_call_cost(m);
                j->probed = true;
                return true;
        }
        m->running = j;
        /* The plan's queries first (migrator.h, "Queries"): a round replaced mid-way still leaves
         * them for the next plan. */
        if (j->next_query < j->n_queries)
                did = query_batch(m, j);
        else if ((n = batch_fill(m, j, now)) > 0) {
                if (m->dry_run)
                        batch_dry(m, j, n);
                else
                        batch_run(m, j, n);
                did = true;
        }
        if (!j->ended && !m->inflight && m->job == j && job_complete(j)) {
                job_end(m, MIGRATOR_ROUND_DONE);
                did = true;
        }
        m->running = NULL;
        if (j->ended)
                job_free(j);
        return did;
}

/*
 * One slice: batches while the next one is expected to end within slice_usec of the start (the
 * first always runs). Moves first; one sweep batch per slice when it fits, or first thing in the
 * slice after one where it did not fit, so neither starves the other.
 */
static void slice(Migrator *m) {
        usec_t start = now_usec(m), elapsed;
        bool swept = false, sweep_first = m->sweep_skipped;
        unsigned did = 0;
        Job *j;

        m->in_slice = true;
        m->slice_pages = 0;
        m->stats.slices++;
        /* The worker's call returned: its batch first (the results of one call are applied
         * before anything else is issued). */
        if (batch_collect_flight(m))
                did++;
        j = m->job;
        if (j && !m->paused)
                j->slices++;
        /* Loop work (queries, preparing and finishing batches, dry-run) while it fits; a move
         * batch handed to the worker ends the slice: one call at a time. */
        while (!m->inflight) {
                usec_t now = now_usec(m);
                bool fits = did == 0 || now - start + batch_target_usec(m, COST_QUERY) <= m->o.slice_usec;

                if (sweep_first && !swept && m->sweep_allowance > 0) {
                        swept = true;
                        if (sweep_batch(m)) {
                                did++;
                                continue;
                        }
                }
                if (fits && job_step(m, now)) {
                        did++;
                        continue;
                }
                if (fits && m->sweep_allowance > 0 && sweep_batch(m)) {
                        swept = true;
                        did++;
                        continue;
                }
                break;
        }
        m->sweep_skipped = !swept && m->sweep_allowance > 0;
        elapsed = now_usec(m) - start;
        m->stats.max_slice_usec = MAX(m->stats.max_slice_usec, elapsed);
        m->stats.max_slice_pages = MAX(m->stats.max_slice_pages, m->slice_pages);
        m->in_slice = false;

        for (size_t i = 0; i < m->n_graveyard; i++)
                vm_free(m->graveyard[i]);
        m->n_graveyard = 0;
        worker_kick(m);
        rearm(m);
}

static int on_defer(sd_event_source *s, void *userdata) {
        slice(userdata);
        return 0;
}

static int on_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        eventfd_t v;

        (void) eventfd_read(fd, &v);
        slice(userdata);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        slice(userdata);
        return 0;
}

/* --- the API --- */

int migrator_new(sd_event *e, const MigratorOptions *o, const MigratorSink *sink, void *userdata, Migrator **ret) {
        _cleanup_(migrator_freep) Migrator *m = NULL;
        MigratorOptions def;
        int r;

        if (!e)
                return -EINVAL;
        if (!o) {
                migrator_options_init_default(&def);
                o = &def;
        }
        if (o->slice_usec == 0 || o->batch_usec == 0 || o->batch_max_usec < o->batch_usec || o->batch_pages_min == 0 ||
            o->batch_pages_max < MAX(o->batch_pages_min, (size_t) MIGRATOR_HUGE_PAGES) || o->busy_retries > 100)
                return -EINVAL;

        m = xcalloc(1, sizeof(Migrator));
        m->o = *o;
        m->proc_root = xstrdup(o->proc_root ?: "/proc");
        m->o.proc_root = m->proc_root;
        if (sink)
                m->sink = *sink;
        m->userdata = userdata;
        m->kpageflags_fd = -EBADF;
        m->done_fd = -EBADF;
        (void) pthread_mutex_init(&m->lock, NULL);
        (void) pthread_cond_init(&m->wake, NULL);
        m->event = sd_event_ref(e);
        m->page_ns[COST_MOVE_4K] = MIGRATOR_COST_MOVE_4K_NS;
        m->page_ns[COST_MOVE_THP] = MIGRATOR_COST_MOVE_THP_NS;
        m->page_ns[COST_QUERY] = MIGRATOR_COST_QUERY_NS;
        m->call_ns = MIGRATOR_COST_CALL_NS;
        assert_cc(ELEMENTSOF(m->stats.page_ns) == _COST_MAX);
        memcpy(m->stats.page_ns, m->page_ns, sizeof(m->page_ns));
        m->stats.call_ns = m->call_ns;
        m->probe_node = -1;
        m->probe_page = aligned_alloc(PAGE_4K, PAGE_4K);
        if (!m->probe_page)
                oom();
        memset(m->probe_page, 0, PAGE_4K);
        m->probe_page_alloc = m->probe_page;

        m->cap = o->batch_pages_max;
        m->batch = xcalloc(m->cap, sizeof(Entry));
        m->addrs = xcalloc(m->cap, sizeof(void *));
        m->nodes = xcalloc(m->cap, sizeof(int));
        m->status = xcalloc(m->cap, sizeof(int));
        m->outcome = xcalloc(m->cap, 1);
        m->qaddrs = xcalloc(m->cap, sizeof(void *));
        m->qstatus = xcalloc(m->cap, sizeof(int));
        m->spot_addrs = xcalloc(m->cap, sizeof(void *));
        m->spot_status = xcalloc(m->cap, sizeof(int));

        r = sd_event_add_defer(e, &m->defer, on_defer, m);
        if (r < 0)
                return r;
        r = sd_event_add_time_relative(e, &m->timer, CLOCK_MONOTONIC, USEC_PER_SEC, 1, on_timer, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(m->defer, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(m->timer, SD_EVENT_OFF);
        (void) sd_event_source_set_priority(m->defer, o->priority);
        (void) sd_event_source_set_priority(m->timer, o->priority);
        (void) sd_event_source_set_description(m->defer, "migrator");
        (void) sd_event_source_set_description(m->timer, "migrator-retry");

        r = worker_start(m);
        if (r < 0)
                return r;
        r = sd_event_add_io(e, &m->done_source, m->done_fd, EPOLLIN, on_done, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_priority(m->done_source, o->priority);
        (void) sd_event_source_set_description(m->done_source, "migrator-worker");

        if (!o->thp_probe)
                m->thp_probe_reason = xstrdup("switched off");
        else {
                _cleanup_free_ char *path = xasprintf("%s/kpageflags", m->proc_root);

                m->kpageflags_fd = open(path, O_RDONLY | O_CLOEXEC);
                if (m->kpageflags_fd < 0)
                        m->thp_probe_reason = xasprintf("cannot open %s: %s%s", path, strerror(errno),
                                                        errno == EACCES || errno == EPERM ? " (it needs CAP_SYS_ADMIN)" : "");
        }

        *ret = TAKE_PTR(m);
        return 0;
}

Migrator *migrator_free(Migrator *m) {
        if (!m)
                return NULL;
        /* A call in flight finishes first; its round just ends, like the running one. */
        worker_stop(m);
        /* (a job in flight is the running one or one of those ending) */
        for (size_t i = 0; i < m->n_ending; i++)
                job_free(m->ending[i]);
        free(m->ending);
        for (size_t i = 0; i < m->flight.n_hres; i++)
                free(m->flight.hres[i].status);
        free(m->flight.hres);
        job_free(m->job);
        for (size_t i = 0; i < m->n_vms; i++)
                vm_free(m->vms[i].vm);
        free(m->vms);
        for (size_t i = 0; i < m->n_graveyard; i++)
                vm_free(m->graveyard[i]);
        free(m->graveyard);
        sd_event_source_disable_unref(m->defer);
        sd_event_source_disable_unref(m->timer);
        sd_event_source_disable_unref(m->done_source);
        (void) pthread_mutex_destroy(&m->lock);
        (void) pthread_cond_destroy(&m->wake);
        sd_event_unref(m->event);
        if (m->kpageflags_fd >= 0)
                (void) close(m->kpageflags_fd);
        free(m->thp_probe_reason);
        for (size_t i = 0; i < m->n_floors; i++)
                free(m->floors[i].what);
        free(m->floors);
        free(m->proc_root);
        free(m->batch);
        free(m->addrs);
        free(m->nodes);
        free(m->status);
        free(m->outcome);
        free(m->qaddrs);
        free(m->qstatus);
        free(m->spot_addrs);
        free(m->spot_status);
        free(m->probe_page_alloc);
        free(m);
        return NULL;
}

int migrator_add_vm(Migrator *m, void *key, const char *id, pid_t pid, unsigned long long start_time,
                    const HeatRangeSpec *ranges, size_t n_ranges) {
        MigratorVm *vm;
        size_t at;

        if (!key || pid <= 0 || (n_ranges > 0 && !ranges))
                return -EINVAL;
        for (size_t i = 0; i < n_ranges; i++)
                if (ranges[i].hva % PAGE_4K || ranges[i].len_bytes % PAGE_4K ||
                    ranges[i].hva + ranges[i].len_bytes < ranges[i].hva)
                        return -EINVAL;
        at = vm_lower_bound(m, key);
        if (at < m->n_vms && m->vms[at].key == key && m->vms[at].vm)
                return -EEXIST;

        vm = xcalloc(1, sizeof(MigratorVm));
        vm->key = key;
        vm->id = xstrdup(id ?: "");
        vm->pid = pid;
        vm->start_time = start_time;
        vm->pagemap_fd = -EBADF;
        vm->ranges = xcalloc(n_ranges, sizeof(HeatRangeSpec));
        if (n_ranges > 0)
                memcpy(vm->ranges, ranges, n_ranges * sizeof(HeatRangeSpec));
        vm->n_ranges = n_ranges;
        qsort(vm->ranges, n_ranges, sizeof(HeatRangeSpec), range_gpa_cmp);
        for (size_t i = 0; i < n_ranges; i++)
                vm->ram_bytes += ranges[i].len_bytes;

        /* Into a hole if there is one where the key goes (its own, or a neighbour's: the keys
         * stay sorted), else a place is made. */
        if (at < m->n_vms && !m->vms[at].vm)
                m->n_holes--;
        else if (at > 0 && !m->vms[at - 1].vm) {
                at--;
                m->n_holes--;
        } else {
                m->vms = xreallocarray(m->vms, m->n_vms + 1, sizeof(VmPlace));
                memmove(m->vms + at + 1, m->vms + at, (m->n_vms - at) * sizeof(VmPlace));
                m->n_vms++;
        }
        m->vms[at] = (VmPlace) { .key = key, .vm = vm };
        rearm(m);
        return 0;
}

void migrator_forget_vm(Migrator *m, void *key) {
        size_t at;
        MigratorVm *vm;

        if (!key)
                return;
        at = vm_lower_bound(m, key);
        if (at >= m->n_vms || m->vms[at].key != key || !m->vms[at].vm)
                return;
        vm = m->vms[at].vm;
        m->vms[at].vm = NULL;
        m->n_holes++;
        if (m->n_holes > m->n_vms - m->n_holes)
                vm_places_compact(m);
        /* Its slots in every job alive (the running one, the one a slice works on, the one in
         * flight, those whose round is not reported yet): dropped "forgotten" from now on. */
        while (vm->slots) {
                Slot *s = vm->slots;

                slot_unlink(s);
                if (s->vm)
                        slot_detach(s, MIGRATOR_DROP_FORGOTTEN);
                s->key = NULL;
        }
        vm->forgotten = true;
        if (m->in_slice) {
                m->graveyard = xreallocarray(m->graveyard, m->n_graveyard + 1, sizeof(MigratorVm *));
                m->graveyard[m->n_graveyard++] = vm;
        } else
                vm_free(vm);
        rearm(m);
}

static int validate_move(const PlanMove *mv, size_t n_vms) {
        if (mv->vm >= n_vms || (unsigned) mv->direction >= _PLAN_DIRECTION_MAX)
                return -EINVAL;
        if (mv->to_node < 0 || mv->to_node >= NODE_ID_MAX || mv->from_node >= NODE_ID_MAX ||
            (mv->from_node < 0 && mv->from_node != PLAN_NODE_ANY))
                return -EINVAL;
        if (mv->n_pages == 0 || mv->hva % PAGE_4K || mv->n_pages > UINT64_MAX / PAGE_4K ||
            mv->hva + mv->n_pages * PAGE_4K < mv->hva)
                return -EINVAL;
        if (mv->huge && (mv->hva % HUGE_BYTES || mv->n_pages != MIGRATOR_HUGE_PAGES))
                return -EINVAL;
        return 0;
}

static int validate_query(const PlanQuery *q, size_t n_vms) {
        if (q->vm >= n_vms || q->hva % PAGE_4K || q->n_pages == 0 || q->n_pages > MIGRATOR_HUGE_PAGES)
                return -EINVAL;
        /* a block, or its part inside a RAM range */
        if (q->hva / HUGE_BYTES != (q->hva + q->n_pages * PAGE_4K - 1) / HUGE_BYTES)
                return -EINVAL;
        return 0;
}

int migrator_submit(Migrator *m, const Plan *plan, void *const *vms) {
        Job *j;
        int max_node = 0;

        if (!plan || (plan->n_moves > 0 && !plan->moves) || (plan->n_queries > 0 && !plan->queries) ||
            (plan->n_vms > 0 && !vms))
                return -EINVAL;
        for (size_t i = 0; i < plan->n_moves; i++) {
                int r = validate_move(&plan->moves[i], plan->n_vms);

                if (r < 0)
                        return r;
                max_node = MAX(max_node, MAX(plan->moves[i].to_node, plan->moves[i].from_node));
        }
        for (size_t i = 0; i < plan->n_queries; i++)
                if (validate_query(&plan->queries[i], plan->n_vms) < 0)
                        return -EINVAL;

        /* The running round ends first (its callback may submit again: end that one too). */
        while (m->job)
                job_end(m, MIGRATOR_ROUND_REPLACED);
        /* The last plan's query results went into this plan; they are done with. */
        for (size_t i = 0; i < m->n_vms; i++) {
                MigratorVm *vm = m->vms[i].vm;

                if (!vm)
                        continue;
                vm_clear_placement(vm);
                free(vm->late);
                vm->late = NULL;
                vm->n_late = 0;
        }
        if (plan->n_moves == 0 && plan->n_queries == 0)
                return 0;

        j = xcalloc(1, sizeof(Job));
        j->moves = xcalloc(plan->n_moves, sizeof(PlanMove));
        if (plan->n_moves > 0)
                memcpy(j->moves, plan->moves, plan->n_moves * sizeof(PlanMove));
        j->n_moves = plan->n_moves;
        j->queries = xcalloc(plan->n_queries, sizeof(PlanQuery));
        if (plan->n_queries > 0)
                memcpy(j->queries, plan->queries, plan->n_queries * sizeof(PlanQuery));
        j->n_queries = plan->n_queries;
        j->budget_pages = plan->budget_bytes / PAGE_4K;
        j->n_nodes = (size_t) max_node + 1;
        j->node_full = xcalloc(j->n_nodes, 1);
        j->floor_noted = xcalloc(j->n_nodes, 1);
        j->shortfall = xcalloc(j->n_nodes, sizeof(uint64_t));

        j->n_slots = plan->n_vms;
        j->slots = xcalloc(MAX(j->n_slots, (size_t) 1), sizeof(Slot));
        for (size_t i = 0; i < j->n_slots; i++) {
                Slot *s = &j->slots[i];

                s->vm = vms[i] ? vm_find(m, vms[i]) : NULL;
                if (s->vm) {
                        s->key = vms[i];
                        slot_link(s, s->vm);
                        s->id = xstrdup(s->vm->id);
                        if (s->vm->gone)
                                slot_detach(s, MIGRATOR_DROP_EXITED);
                } else {
                        s->id = xstrdup("(not registered)");
                        s->drop = MIGRATOR_DROP_FORGOTTEN;
                }
        }
        for (size_t i = 0; i < j->n_moves; i++)
                j->slots[j->moves[i].vm].had_moves = true;

        j->seq = ++m->seq;
        j->started_usec = now_usec(m);
        m->job = j;
        rearm(m);
        return 0;
}

void migrator_vm_placement(const Migrator *m, void *key, const PlanPlacement **ret, size_t *ret_n) {
        MigratorVm *vm = vm_find(m, key);

        *ret = vm ? vm->placement : NULL;
        *ret_n = vm ? vm->n_placement : 0;
}

void migrator_cancel(Migrator *m) {
        while (m->job)
                job_end(m, MIGRATOR_ROUND_CANCELLED);
}

int migrator_set_floor(Migrator *m, int node, uint64_t min_free_bytes, const char *what) {
        Floor *f;

        if (node < 0 || node >= NODE_ID_MAX)
                return -EINVAL;
        if ((size_t) node >= m->n_floors) {
                if (min_free_bytes == 0)
                        return 0;
                m->floors = xreallocarray(m->floors, (size_t) node + 1, sizeof(Floor));
                memset(m->floors + m->n_floors, 0, ((size_t) node + 1 - m->n_floors) * sizeof(Floor));
                m->n_floors = (size_t) node + 1;
        }
        f = &m->floors[node];
        f->min_free_bytes = min_free_bytes;
        free(f->what);
        f->what = what && min_free_bytes > 0 ? xstrdup(what) : NULL;
        return 0;
}

void migrator_set_paused(Migrator *m, bool paused) {
        m->paused = paused;
        rearm(m);
}

void migrator_set_dry_run(Migrator *m, bool dry_run) {
        m->dry_run = dry_run;
}

MigratorState migrator_state(const Migrator *m) {
        if (m->paused)
                return MIGRATOR_STATE_PAUSED;
        if (m->dry_run)
                return MIGRATOR_STATE_DRY_RUN;
        return m->job || m->inflight ? MIGRATOR_STATE_MOVING : MIGRATOR_STATE_IDLE;
}

void migrator_refresh_residency(Migrator *m, uint64_t budget_pages) {
        uint64_t iteration = 0;
        int enabled = SD_EVENT_OFF;

        /* The slices' sources are idle-priority: while cycles overrun their interval (a loaded
         * host, many or large VMs, a sanitizer build) the loop is never idle and they would never
         * run: no first residency pass, so no VM ever planned. Work left armed since the last
         * cycle, through loop iterations that ran no slice, gets one here, once per cycle (at
         * most ~slice_usec). */
        (void) sd_event_get_iteration(m->event, &iteration);
        if (!m->in_slice && m->stats.slices == m->slices_at_refresh && iteration != m->iteration_at_refresh &&
            (m->inflight || (sd_event_source_get_enabled(m->defer, &enabled) >= 0 && enabled != SD_EVENT_OFF))) {
                m->stats.forced_slices++;
                slice(m);
        }
        m->slices_at_refresh = m->stats.slices;
        m->iteration_at_refresh = iteration;
        m->sweep_allowance = budget_pages;
        rearm(m);
}

const MigratorCounters *migrator_counters(const Migrator *m) {
        return &m->total;
}

const MigratorCounters *migrator_vm_counters(const Migrator *m, void *key) {
        MigratorVm *vm = vm_find(m, key);

        return vm ? &vm->counters : NULL;
}

const MigratorStats *migrator_stats(const Migrator *m) {
        return &m->stats;
}

const char *migrator_thp_probe_reason(const Migrator *m) {
        return m->thp_probe_reason;
}
