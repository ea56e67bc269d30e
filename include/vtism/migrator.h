/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "vtism/heatmap.h"
#include "vtism/macro.h"
#include "vtism/migrate-failures.h"
#include "vtism/plan.h"

/*
 * The migrator: the only owner of move_pages(2) in vtismd. It executes Plans (plan.h) and keeps
 * the VMs' page placement known; what it learns goes to a sink (callbacks) that the manager wires
 * to the heat maps, the journal and the bus. The manager stays thin:
 *
 *     acquire (sample, refresh residency) -> plan (plan_compute) -> act (migrator_submit)
 *
 * and dry-run is honoured only here, at the act step.
 *
 * VMs. The manager registers each VM whose guest RAM is known (migrator_add_vm: an opaque key,
 * e.g. its Vm *, the QEMU pid and start time, the RAM ranges) and forgets it when it goes
 * (migrator_forget_vm), at any time, even from inside a sink callback: its remaining moves are
 * dropped and counted, and nothing the migrator holds refers to it afterwards (round results
 * carry a copy of its id and a NULL key).
 *
 * Plans run in slices from the sd-event loop (an idle-priority defer source that re-arms itself,
 * a time source while only delayed retries are left). A batch is one move_pages(2) call for one
 * VM and one target node, made of consecutive moves of the plan in plan order, cut at 2 MiB
 * boundaries; a huge move (one THP, plan.h) is one address in it and is never split (so one THP
 * is the smallest batch: ~0.2 ms natively, 40-80 ms under the lab's TCG).
 *
 * Worker. The move calls themselves run on one worker thread per migrator (started by
 * migrator_new(), ended by migrator_free()); everything else stays on the loop, which owns all
 * state. Queue depth 1: the loop prepares a batch (start-time check, query-first query, floor
 * read, budget charge: all as before, right before the call), hands it over as the last act of
 * its slice (a mutex and a condition variable; the worker sees only the pid and the address,
 * node and status arrays, which the loop leaves alone meanwhile), and the worker writes an
 * eventfd when the call returns; that io source (same priority as the slices) runs the next
 * slice, which first applies the call's results exactly as a synchronous call's (statuses,
 * re-queries of busy pages and of THPs, counters, callbacks, EBUSY retries, ENOMEM stops), then
 * issues the next batch. The migrator makes one call at a time: while a batch is in flight the
 * loop makes no query either (no sweep, no planned query), so results reach the sink in the
 * order of the calls, and the fake kernels of the tests are entered by one thread at a time.
 * What blocks where: the worker blocks in move_pages (the fixed part, lru_cache_disable(), and
 * the copying); the loop never waits for it and serves D-Bus and the watchdog meanwhile; its own
 * work per slice (queries, preparing and finishing batches, dry-run) stops starting batches once
 * the next would end more than MigratorOptions.slice_usec (40 ms) after the slice's start. A
 * call in flight cannot be interrupted: pausing, dry-run, migrator_cancel(), a new plan or
 * migrator_forget_vm() take effect when it returns (its results are counted, then nothing more is
 * issued for what was stopped), and migrator_free() waits for it (one batch: sized to <=
 * batch_max_usec, 500 ms, from the estimates; the longest call measured in the lab at load 20 on
 * 2 host cores took 3.1 s). The probe of a call's fixed cost (below) stays on the
 * loop: two no-op calls, ~0.3 ms natively, 8-22 ms in the lab, at most every 10 s.
 * The thread costs its stack (glibc's default reservation, 8 MiB of address space, a few KiB
 * resident), one eventfd and no allocation per batch.
 *
 * Batch sizes. A move call costs a fixed part (lru_cache_disable() drains the LRU caches of every
 * CPU and waits for it; mmap lock; the TLB shootdown) plus a part per page; measured with
 * bench/migrate-bench calibrate (numbers in bench/README.md):
 *                                      fixed per move call    per 4 KiB page
 *     this host, native, 2 CPUs        76-150 us (no-op call)  query 150-200 ns
 *     lab, QEMU TCG, 2 vCPUs           4-11 ms                 move 55-150 us, THP 40-80 ms per
 *                                                              2 MiB, query 0.7-1 us
 *     Zen 3 (DESIGN.md §8)                                     move ~1.2 us, THP ~0.2 ms per 2 MiB
 * The fixed part grows with the number of CPUs (the drain waits for each), so the migrator
 * measures it: before a plan's first batch (at most every 10 s) it "moves" one page of its own to
 * the node it is on, twice (nothing migrates: ~one call's fixed cost; the faster counts; in a
 * slice of its own), and a call that takes less than that lowers the estimate. A batch
 * is sized to take .batch_usec (5 ms), or 50 x (the fixed part + what a batch costs beyond its
 * call) when that is longer (so both stay <= 2 % of the call), up to .batch_max_usec (500 ms).
 * What a batch costs beyond its call (.batch_overhead): the loop's work around it (start-time
 * check, free-memory read, THP re-query) and the two wake-ups between loop and worker, measured
 * as the time from handing one batch of a plan to the worker to handing the next, less the
 * first one's call, the lowest of the last 8. With the fixed part alone (0.57 ms probed in the
 * TCG lab at load ~12) THP batches were 28 ms, 1-2 THPs, 65 calls for 128 THPs, each paying
 * that overhead again: 0.68 of one bare call (bench/RESULTS.md; test-migrator's
 * test_batch_overhead: 17 calls for 32 THPs against 3 with a 2 ms overhead). The per-page part is measured on every
 * call (per kind: 4 KiB move, THP move, query), starting from MIGRATOR_COST_*_NS. Estimates follow
 * measurements up by at most doubling per call and down by halves, and a call's fixed part counts
 * as at most half of it when the per-page part is derived. Move batches are sized from the lowest
 * per-page cost of the last 8 calls that moved at least half their pages (the estimate until
 * there is one): with a stall every other call the estimate only grows (x -> 2x -> x + c/2), and
 * under the loaded lab's TCG THP batches sized from it shrank to 1-4 huge pages; a stall does not
 * make copying dearer, and a host that really slowed down shows it within 8 calls
 * (test-migrator: THP batches with a 500 ms stall every other call hold 5 THPs instead of 1). Sizes stay within
 * [.batch_pages_min, .batch_pages_max] (4 KiB pages; a THP counts 512). Natively that gives
 * batches of ~4,000 pages (16 MiB) or ~25 THPs; in the lab (fixed part 4-11 ms, measured 6.3)
 * calls of up to 500 ms: ~1,600 pages per call at 300 us per page on a loaded host, 1-4 THPs.
 * Before the worker, a batch had to fit a slice (<= 35 ms), so under TCG the fixed part was
 * 11-31 % of every call and the migrator reached only 0.69-0.89 of one bare call; with it, the
 * lab's medians were 0.84-1.30 (4 KiB) and 0.41-0.75 (THP, its batches shrunk by stall-inflated
 * estimates) at load 17-23, before batches were sized from the lowest recent cost: bench/RESULTS.md.
 * Before every move batch and every batch of planned queries the pid's start time is re-read
 * (/proc/PID/stat: ~10-40 us natively, ~60 us in the lab): a different process with the same pid
 * never gets moves. The residency sweep does not re-read it: its owner checks each VM once per
 * cycle before migrator_refresh_residency() (the daemon's budget is one stat read per VM per
 * cycle), a query moves nothing, and an exited process answers ESRCH.
 *
 * Per-page results, counted per VM and in total (MigratorCounters):
 *   node == target       moved (from the node the plan or the query said); sink->moved()
 *   -EBUSY               retried later (after .retry_delay_usec, at most .busy_retries times; a
 *                        busy page is queried first: it may have moved with its THP), then
 *                        failed "busy"
 *   -ENOMEM              (the call fails with ENOMEM: the target node is full) nothing more is
 *                        moved into that node for the rest of this plan: failed "nomem", the rest
 *                        dropped "node-full"
 *   (not handed over)    the target node is at its floor (see Floors): failed "floor"
 *   -EFAULT, -ENOENT     failed "gone": not mapped / not present (or the zero page)
 *   -EACCES              failed "shared": mapped by other processes too; not retried
 *   others               failed "other"
 * A call that stops part-way (returns > 0, or fails after some pages) leaves statuses unset: those
 * pages are queried (nodes = NULL) and counted by where they are. A call failing with EACCES means
 * the target node is outside the VM's allowed nodes (cpuset.mems, e.g. libvirt numatune strict):
 * failed "not-allowed", and that VM gets no more moves to that node in this plan. ESRCH or EINVAL
 * (the process has no mm any more: exited, a zombie) or a start-time mismatch: the VM has exited;
 * its remaining moves are dropped "exited", other VMs go on. EPERM (we may not touch the process):
 * its remaining moves are dropped "denied".
 *
 * THP. A huge move passes one address per 2 MiB unit; afterwards the unit's last 4 KiB page is
 * queried (one address per unit): there too means the whole folio moved (512 pages counted,
 * sink->huge(true)); not there means the unit was not one THP (any more): sink->huge(false), the
 * unit's pages are queried and the rest is moved as 4 KiB pages (within the unit's budget).
 * Query-first huge moves query the unit's first page only. Pages of a THP that move along with
 * a 4 KiB move (the planner did not know the block was huge) are found by the -EBUSY re-query,
 * but are not charged to the budget: the planner should mark them huge.
 *
 * Budget. A plan never moves more than plan->budget_bytes: every page handed to move_pages is
 * charged first and refunded if it did not move, so retries fit in the budget too; moves beyond
 * it are dropped "budget". Query-first moves charge only the pages they move.
 *
 * Query-first moves (from_node == PLAN_NODE_ANY) query their pages with nodes = NULL first;
 * pages already on to_node are counted "already", left alone and reported as
 * sink->moved(hva, n, to_node, to_node) ("found already there": the heat map learns from it as
 * from a move); absent ones are failed "gone"; the rest is moved from where the query found it.
 * Pages that failed are never reported.
 *
 * Floors. The planner keeps every DRAM node above dram_min_free_percent and every CXL node above
 * demotion_min_free_ratio judged from the free memory at the cycle's start; other processes
 * allocate meanwhile, and a round that outlives its cycle moves on stale numbers (under load a
 * round demoted 73 MiB into 48 MiB of room). So before every move batch into a node with a floor
 * (migrator_set_floor(): vtismd sets each node's every cycle from its size and the config) the
 * migrator reads that node's free memory (options.node_free: vtismd keeps the node's meminfo open
 * and reads it again, 55-120 us on the loaded build host, bench/migrate-bench calibrate; ~1-2 %
 * of a 5 ms batch natively) and hands over only the entries, in order, that fit above the
 * floor (whole THPs only): room = (free - floor) / 4 KiB pages. What does not fit fails "floor"
 * (a demotion's shortfall counts as for any failure, see Room), the node gets nothing more in
 * this plan until pages of the plan move off it (its moves until then fail "floor" too,
 * unattempted; after that its free memory is read again before the next batch into it), and one
 * notice per plan says so. The reopening is what an interleaved plan needs (plan.h, model 5):
 * on a DRAM node held at its watermark, a promotion batch right after the demotion batch that
 * made its room may be cut by a few pages (the demoted pages wait on per-CPU free lists, which
 * MemFree does not count); without it that cut would end every later promotion of the round. So after the
 * batch the node's free memory is >= floor - (what others allocated there during the batch) -
 * (the kernel's own inexactness of MemFree: per-CPU vmstat deltas, up to the zone's stat
 * threshold per CPU, and pages cached on per-CPU free lists, which MemFree does not count). A
 * reader that fails (-errno) lets the batch run as planned (debug message): the planner's check
 * stands. Dry-run counts "would move" without reading (nothing moves, nothing fills).
 *
 * Room (plan.h: needs_room). What a demotion with a known source node fails to free there (failed,
 * dropped for budget, a full or forbidden target, denied; not when the VM exited) is the node's
 * shortfall; a later needs_room promotion into that node gives up as many pages of itself
 * (dropped "no-room"; a THP only whole) and the shortfall shrinks by as much. A demotion still
 * waiting for a busy retry is not counted (yet).
 *
 * Queries (plan.h: queries[]). Before a plan's moves, its queries run, one call per run of
 * consecutive queries of one VM (up to a query batch), each reported as
 * sink->placement(..., MIGRATOR_QUERY_PLANNED) (for heatmap_residency_update()) and kept for
 * migrator_vm_placement(), which hands them to the next plan_compute() as PlanVm.placement; the
 * next migrator_submit() frees them. What the plan's moves then move (and query-first pages
 * found in place) is written into the kept statuses as it is reported to sink->moved, so they
 * say where the pages are after the moves, as the planner expects. Why first: a plan is often
 * replaced before its moves end (below); with the queries after the moves, a replaced round
 * left no placement knowledge, and on a host where every round is replaced the planner's
 * queries never ran (test-migrator's test_queries_first). Their cost comes before the first
 * move: at most PlanLimits.query_pages a plan (16384 pages, ~2.7 ms natively, ~33 ms at the
 * TCG lab's 2 us a page). Only a plan replaced before the loop ran at all leaves none.

 * Replacing. migrator_submit() while a plan is still running ends that round at once
 * (MIGRATOR_ROUND_REPLACED): its unfinished moves and pending retries are dropped "replaced"; the
 * new plan was computed from fresher heat and placement. Nothing done is lost by it: what moved is
 * in the heat maps (sink->moved), and as the planner interleaves demotions and promotions (plan.h,
 * model 5) a round cut anywhere has promoted about what it demoted; the next plan starts with
 * promotions into the room its last demotions made. (With all demotions first, under the lab's
 * TCG every round of bench/h2h-lab shift was replaced during its demotions: four rounds demoted
 * 11,527 pages and promoted none.) A plan submitted while the round before it has a call in
 * flight was computed without that call's results; what the call moved (reported when it is
 * back) is remembered until the next submit, and the new plan's moves of those pages to the same
 * node are counted "already" instead of being made again (move_pages(2) reports a page already
 * on the target node as moved: lab-placement-kvm counted up to 170 MiB of such repeats, 426 MiB
 * for a 256 MiB demotion; test-migrator's test_late_call). round_done() is called before
 * migrator_submit() returns, unless a batch is in flight: then once its results are in (they
 * count in the ended round), and rounds are always reported in the order they ended. A plan
 * with no moves only ends the current round (no round of its own).
 *
 * Dry-run (migrator_set_dry_run, checked before every batch): no move is made and no syscall for
 * the moves, not even the queries of query-first moves or the start-time check; every move the
 * budget allows counts in full as "would move" (query-first moves too: an upper bound; needs_room
 * promotions in full, nothing having failed). VMs forgotten are still dropped. The plan's
 * queries[] and the residency sweep still run (they move nothing).
 *
 * Pause (migrator_set_paused, checked before every batch): no move batch starts while paused (a
 * call in flight finishes and is counted, see Worker); the plan keeps its place and resuming continues it (the manager submits a fresh plan every cycle,
 * which replaces it, so at most one cycle's plan is ever resumed). The sweep goes on.
 *
 * Residency. migrator_refresh_residency(m, budget) allows `budget` 4 KiB pages of placement
 * queries (nodes = NULL) until the next call (not cumulative: a call resets the allowance). Called
 * once per cycle, it also runs one slice itself, first, when work was armed since the previous
 * call and loop iterations went by without a slice (the idle-priority source starves while cycles
 * overrun their interval: then each cycle still gets one slice, of moves and sweep alike;
 * stats.forced_slices). The queries run from the slices alongside the moves: one batch for one VM per turn, VMs in turn (round robin
 * that survives calls), each VM's RAM ranges swept in ascending GPA order with a cursor that
 * wraps, batches ending on 2 MiB block boundaries so each block is fed whole (a call may overrun
 * its allowance by less than one block): sink->placement(...,
 * MIGRATOR_QUERY_SWEEP), suitable for heatmap_residency_update(). So a global budget B per cycle
 * re-reads all guest RAM (R pages) every R / B cycles, at ~170 ns per page natively (B = 64 Ki
 * pages: ~11 ms per cycle of one core, and 4 TiB every 16,384 cycles: issue 10 wants the budget
 * global, or the queries limited to the planner's candidates).
 * THP detection: when /proc/kpageflags is readable and /proc/PID/pagemap shows PFNs (both need
 * CAP_SYS_ADMIN), every 2 MiB-aligned block of a sweep batch is probed: first page's pagemap
 * entry, its kpageflags (KPF_THP), and for a THP the last page's entry (PFN + 511: one folio)
 * -> sink->huge(block, true/false). Cost: 1.8-2.7 us per 2 MiB block natively, i.e. ~3-5 ns per
 * 4 KiB page, about 2-3 % on top of the query; without the capability the probe is off
 * (migrator_thp_probe_reason() says why).
 *
 * Wiring into the manager (one line each):
 *     start:          migrator_new(m->event, NULL, &sink, m, &m->migrator)
 *     VM has a heat map: migrator_add_vm(mig, vm, vm->id, vm->pid, vm->start_time, vm->ranges,
 *                     vm->n_ranges); before its heat map or the Vm is freed: migrator_forget_vm()
 *     every cycle:    migrator_refresh_residency(mig, budget) instead of vm_refresh_residency();
 *                     PlanVm.placement from migrator_vm_placement(); plan_compute();
 *                     migrator_submit(mig, plan, keys)
 *     pause/dry-run:  migrator_set_paused(), migrator_set_dry_run() from manager_set_*()
 *     sink:           placement(SWEEP or PLANNED) -> heatmap_residency_update(vm->heat, ...);
 *                     moved -> heatmap_residency_moved(); huge -> heatmap_mark_huge(2 MiB);
 *                     round_done -> one journal entry per VM that moved something
 *                     (VTISM_VM=id, VTISM_PROMOTED_BYTES=, VTISM_DEMOTED_BYTES=,
 *                     VTISM_FAILED_PAGES= migrator_counters_failed()) and the D-Bus signal
 *     status:         migrator_state(), migrator_counters(), migrator_vm_counters()
 *
 * Re-entrancy: sink callbacks may call migrator_submit(), migrator_cancel(),
 * migrator_forget_vm(), migrator_set_paused(), migrator_set_dry_run() and
 * migrator_refresh_residency(); never migrator_free().
 *
 * Memory: per VM ~200 bytes plus its ranges; per running plan a copy of its moves (40 bytes each)
 * and queries (24 each), ~40 bytes per pending retry; the last plan's query results, 4 bytes per
 * page queried (limits.query_pages: 16384 -> 64 KiB); batch buffers of .batch_pages_max entries
 * (~60 bytes each: ~1 MiB); a floor per node id up to the highest set (16 bytes each); the worker
 * thread (see Worker) and the list of rounds waiting for a call in flight (a pointer each).
 */

#define MIGRATOR_PAGE_BYTES 4096u
#define MIGRATOR_HUGE_PAGES 512u     /* 4 KiB pages per 2 MiB THP */

/* Starting cost estimates (ns per 4 KiB page) before the first call is measured. */
#define MIGRATOR_COST_MOVE_4K_NS 20000u
#define MIGRATOR_COST_MOVE_THP_NS 10000u
#define MIGRATOR_COST_QUERY_NS 2000u
#define MIGRATOR_COST_CALL_NS 200000u /* fixed part of a move call */

/* MIGRATOR_FAIL_BUSY, _NOMEM, ...: one per line of vtism/migrate-failures.h, in its order. */
typedef enum MigratorFailure {
#define MIGRATOR_FAIL_ENUM(ID, WORD, KEY, WHAT) MIGRATOR_FAIL_##ID,
        MIGRATE_FAILURES(MIGRATOR_FAIL_ENUM)
#undef MIGRATOR_FAIL_ENUM
        _MIGRATOR_FAILURE_MAX,
        _MIGRATOR_FAILURE_INVALID = -22,
} MigratorFailure;

const char *migrator_failure_to_string(MigratorFailure f);

/* Moves never attempted. */
typedef enum MigratorDrop {
        MIGRATOR_DROP_EXITED,       /* the VM exited (or its pid was reused) */
        MIGRATOR_DROP_FORGOTTEN,    /* migrator_forget_vm(), or a plan VM that was never added */
        MIGRATOR_DROP_DENIED,       /* the kernel refused us the VM's process (EPERM) */
        MIGRATOR_DROP_REPLACED,     /* a new plan came first (or migrator_cancel()) */
        MIGRATOR_DROP_NODE_FULL,    /* into a node that failed with ENOMEM (or is not allowed) */
        MIGRATOR_DROP_BUDGET,       /* beyond the plan's byte budget */
        MIGRATOR_DROP_NO_ROOM,      /* a needs_room promotion whose room the demotions did not make */
        _MIGRATOR_DROP_MAX,
        _MIGRATOR_DROP_INVALID = -22,
} MigratorDrop;

const char *migrator_drop_to_string(MigratorDrop d);

/* Counts of 4 KiB pages (bytes = pages * MIGRATOR_PAGE_BYTES), per VM and in total. Grows at the
 * end; every field is a sum, so counters of rounds and VMs add up (migrator_counters_add). */
typedef struct MigratorCounters {
        uint64_t rounds;                                /* rounds with moves for it */
        uint64_t moved_pages[_PLAN_DIRECTION_MAX];      /* promoted, demoted */
        uint64_t moved_huge[_PLAN_DIRECTION_MAX];       /* of those, whole THPs moved (units of 512) */
        uint64_t would_move_pages[_PLAN_DIRECTION_MAX]; /* dry-run */
        uint64_t already_pages[_PLAN_DIRECTION_MAX];    /* query-first: already on to_node */
        uint64_t failed_pages[_MIGRATOR_FAILURE_MAX];
        uint64_t dropped_pages[_MIGRATOR_DROP_MAX];
        uint64_t retried_pages;                         /* busy attempts retried */
        uint64_t queried_pages;                         /* placement queries: sweep, queries[], around moves */
} MigratorCounters;

void migrator_counters_add(MigratorCounters *sum, const MigratorCounters *c);
uint64_t migrator_counters_failed(const MigratorCounters *c); /* sum over failed_pages[] */

typedef enum MigratorRoundEnd {
        MIGRATOR_ROUND_DONE,        /* every move attempted (or dropped) */
        MIGRATOR_ROUND_REPLACED,    /* a new plan was submitted */
        MIGRATOR_ROUND_CANCELLED,   /* migrator_cancel() */
        _MIGRATOR_ROUND_END_MAX,
        _MIGRATOR_ROUND_END_INVALID = -22,
} MigratorRoundEnd;

const char *migrator_round_end_to_string(MigratorRoundEnd e);

typedef struct MigratorRoundVm {
        void *vm;                   /* the key of migrator_add_vm(); NULL if forgotten meanwhile */
        const char *id;             /* its id (valid during the callback) */
        MigratorCounters counters;  /* this round only */
} MigratorRoundVm;

/* One plan's execution. Valid during sink->round_done() only. */
typedef struct MigratorRound {
        uint64_t seq;               /* 1, 2, ... per migrator */
        MigratorRoundEnd end;
        bool dry_run;               /* at least one batch was counted, not moved */
        usec_t started_usec;        /* CLOCK_MONOTONIC (the options' clock) */
        usec_t finished_usec;
        uint64_t budget_bytes;
        uint64_t slices;
        MigratorCounters total;     /* this round */
        const MigratorRoundVm *vms; /* the plan's VMs that had moves, in plan order */
        size_t n_vms;
} MigratorRound;

typedef enum MigratorQuery {
        MIGRATOR_QUERY_SWEEP,       /* residency sweep: consecutive pages, ascending per range */
        MIGRATOR_QUERY_PLANNED,     /* one of the plan's queries[]: a block, out of the sweep's turn */
        _MIGRATOR_QUERY_MAX,
        _MIGRATOR_QUERY_INVALID = -22,
} MigratorQuery;

/*
 * Where results go. Every callback may be NULL; `vm` is the key given to migrator_add_vm(), and
 * is never a forgotten VM.
 */
typedef struct MigratorSink {
        /* status[i] is the placement of the page at hva + i * 4 KiB: node, or -errno. */
        void (*placement)(void *userdata, void *vm, uint64_t hva, const int *status, size_t n_pages,
                          MigratorQuery kind);
        /* n_pages consecutive pages at hva moved from from_node (-1: unknown) to to_node. */
        void (*moved)(void *userdata, void *vm, uint64_t hva, size_t n_pages, int from_node, int to_node,
                      PlanDirection direction);
        /* The 2 MiB block at hva (2 MiB aligned) is (true) or is not (false) one THP. */
        void (*huge)(void *userdata, void *vm, uint64_t hva, bool huge);
        /* A round (one plan) ended; see MigratorRound. */
        void (*round_done)(void *userdata, const MigratorRound *round);
} MigratorSink;

typedef struct MigratorOptions {
        const char *proc_root;      /* "/proc": PID/stat start times, PID/pagemap, kpageflags */
        usec_t slice_usec;          /* a slice starts no loop work expected to end later (40 ms) */
        usec_t batch_usec;          /* size batches to take about this long (5 ms) ... */
        usec_t batch_max_usec;      /* ... or up to this when a call's fixed cost is large (500 ms;
                                     * the call runs on the worker, pause and floors act between
                                     * calls) */
        size_t batch_pages_min;     /* 4 KiB pages per call, at least (256: so the fixed part of a
                                     * call is amortised even when per-page costs are misjudged) */
        size_t batch_pages_max;     /* and at most (16384; a THP counts 512) */
        unsigned busy_retries;      /* retries of a busy page (3) */
        usec_t retry_delay_usec;    /* before a retry (20 ms) */
        int64_t priority;           /* of the slice sources and the worker's (SD_EVENT_PRIORITY_IDLE) */
        bool thp_probe;             /* probe THPs in the sweep when possible (true) */
        bool batch_overhead;        /* size move batches to what each costs beyond its call too
                                     * (true; see batch_overhead_ns() in migrator.c) */
        /* The clock slices and batch costs are measured with; NULL: CLOCK_MONOTONIC. For tests. */
        usec_t (*clock)(void *clock_userdata);
        void *clock_userdata;
        /* The free memory of a node now, in bytes (>= 0), or -errno: read before every move batch
         * into a node with a floor (see "Floors"). NULL: floors are not checked. vtismd reads
         * /sys/devices/system/node/nodeN/meminfo's MemFree; tests pass a fake. */
        int (*node_free)(void *node_free_userdata, int node, uint64_t *ret_bytes);
        void *node_free_userdata;
} MigratorOptions;

void migrator_options_init_default(MigratorOptions *o);

typedef enum MigratorState {
        MIGRATOR_STATE_IDLE,        /* no plan running */
        MIGRATOR_STATE_MOVING,      /* a plan is running */
        MIGRATOR_STATE_PAUSED,      /* paused (with or without a plan waiting) */
        MIGRATOR_STATE_DRY_RUN,     /* dry-run (with or without a plan running) */
        _MIGRATOR_STATE_MAX,
        _MIGRATOR_STATE_INVALID = -22,
} MigratorState;

const char *migrator_state_to_string(MigratorState s);

/* Work done, for status and benchmarks. */
typedef struct MigratorStats {
        uint64_t slices;
        uint64_t move_calls;
        uint64_t query_calls;
        uint64_t probe_blocks;      /* 2 MiB blocks probed for THP */
        uint64_t forced_slices;     /* slices run from migrator_refresh_residency() (starved) */
        usec_t max_slice_usec;      /* longest slice so far */
        usec_t max_batch_usec;      /* longest single call */
        size_t max_slice_pages;     /* most 4 KiB pages handed to move_pages in one slice */
        uint64_t page_ns[3];        /* estimates per 4 KiB page: move 4K, move THP, query */
        uint64_t call_ns;           /* estimate of the fixed part of a move call */
        uint64_t floor_reads;       /* node_free() calls (one per move batch into a node with a floor) */
        uint64_t floor_cuts;        /* batches shortened or stopped at a floor */
        unsigned in_flight;         /* move calls on the worker now, not collected yet (0 or 1) */
} MigratorStats;

typedef struct Migrator Migrator;

/* o may be NULL (defaults). -EINVAL for bad options; the sources are created disabled. */
int migrator_new(sd_event *e, const MigratorOptions *o, const MigratorSink *sink, void *userdata,
                 Migrator **ret);
/* Waits for a move call in flight; no callbacks are made; a running round just ends. */
Migrator *migrator_free(Migrator *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Migrator *, migrator_free);

/*
 * Register a VM: key (not NULL, unique), id (copied, for round results), its QEMU pid and start
 * time (field 22 of /proc/PID/stat), guest RAM ranges (copied; swept in GPA order). -EEXIST for a
 * known key, -EINVAL for bad arguments (pid <= 0, a range not 4 KiB aligned).
 */
int migrator_add_vm(Migrator *m, void *vm, const char *id, pid_t pid, unsigned long long start_time,
                    const HeatRangeSpec *ranges, size_t n_ranges);
/* Drop everything about it (its remaining moves counted "forgotten"). No-op for an unknown key. */
void migrator_forget_vm(Migrator *m, void *vm);

/*
 * Run plan (copied; it may be freed on return). vms[i] is the key of the plan's VM i (plan->n_vms
 * entries; NULL or unknown keys: their moves are dropped "forgotten"). A running round ends
 * REPLACED first, and the previous plan's query results are freed. -EINVAL for a move naming a
 * VM index >= n_vms or a bad node, a huge move not 2 MiB aligned or not 512 pages, a move not
 * 4 KiB aligned, or a query not inside one 2 MiB block (nothing changes then).
 */
int migrator_submit(Migrator *m, const Plan *plan, void *const *vms);
/*
 * What the last plan's queries[] found for this VM: sorted by hva, not overlapping (a later query
 * of the same pages replaces an earlier one), for PlanVm.placement of the next plan_compute().
 * Valid until the next migrator_submit() or migrator_forget_vm(vm); none: NULL, 0.
 */
void migrator_vm_placement(const Migrator *m, void *vm, const PlanPlacement **ret, size_t *ret_n);
/* End the running round now (CANCELLED); no-op when idle. */
void migrator_cancel(Migrator *m);

/*
 * The free memory node `node` must keep: moves into it stop where they would take it below
 * min_free_bytes (see "Floors"); 0 removes its floor. what names the setting for messages
 * ("demotion_min_free_ratio 12 %"; copied; may be NULL). Takes effect at the next batch, also
 * for a running plan. -EINVAL for a node id < 0 or >= 1024.
 */
int migrator_set_floor(Migrator *m, int node, uint64_t min_free_bytes, const char *what);

void migrator_set_paused(Migrator *m, bool paused);
void migrator_set_dry_run(Migrator *m, bool dry_run);
MigratorState migrator_state(const Migrator *m);

/* Allow budget_pages of residency queries until the next call (see above). */
void migrator_refresh_residency(Migrator *m, uint64_t budget_pages);

const MigratorCounters *migrator_counters(const Migrator *m);              /* since migrator_new */
const MigratorCounters *migrator_vm_counters(const Migrator *m, void *vm); /* NULL if unknown */
const MigratorStats *migrator_stats(const Migrator *m);
/* NULL if THPs are probed in the sweep, else why not (one sentence). */
const char *migrator_thp_probe_reason(const Migrator *m);
