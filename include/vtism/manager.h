/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "vtism/config.h"
#include "vtism/contiguity-scan.h"
#include "vtism/cxl-devices.h"
#include "vtism/macro.h"
#include "vtism/migrator.h"
#include "vtism/pid-index.h"
#include "vtism/topology.h"
#include "vtism/tracker.h"
#include "vtism/vm.h"
#include "vtism/vmsource.h"

/*
 * The Manager owns the sd-event loop and drives one cycle per sampling interval:
 * discover -> sample -> age heat -> plan -> migrate -> account. It holds the last good
 * config and topology; a reload that fails leaves both as they were.
 */

typedef enum ManagerMode {
        MANAGER_MODE_TIERING,      /* DRAM and CXL nodes: hot pages up, cold pages down */
        MANAGER_MODE_MONITOR_ONLY, /* no CXL node (or no DRAM node): observe, never migrate */
        _MANAGER_MODE_MAX,
        _MANAGER_MODE_INVALID = -22,
} ManagerMode;

const char *manager_mode_to_string(ManagerMode m);

typedef enum ManagerSubsystem {
        MANAGER_SUBSYSTEM_SAMPLING  = 1 << 0,
        MANAGER_SUBSYSTEM_MIGRATION = 1 << 1,
        MANAGER_SUBSYSTEM_ALL       = MANAGER_SUBSYSTEM_SAMPLING | MANAGER_SUBSYSTEM_MIGRATION,
} ManagerSubsystem;

/* "sampling", "migration", "all" -> mask; -EINVAL for anything else */
int manager_subsystem_from_string(const char *s);

/*
 * What changed in the manager's state, as a mask, for whoever shows it (the bus registers a hook
 * with manager_set_change_hook() and maps these to its properties). The manager and its VM code
 * call manager_notify_changed(); they know nothing of D-Bus.
 */
typedef enum ManagerChange {
        MANAGER_CHANGED_MODE         = 1 << 0, /* mode and its reason, nodes and distances */
        MANAGER_CHANGED_CONFIG       = 1 << 1, /* settings from the config: interval, rate, URI, tracker */
        MANAGER_CHANGED_PAUSED       = 1 << 2, /* sampling or migration paused or resumed */
        MANAGER_CHANGED_DRY_RUN      = 1 << 3,
        MANAGER_CHANGED_RELOAD_ERROR = 1 << 4,
        MANAGER_CHANGED_TRACKERS     = 1 << 5, /* usable trackers, the active one */
        MANAGER_CHANGED_VMS          = 1 << 6, /* a VM came, went, or changed identity or policy */
        MANAGER_CHANGED_MIGRATION    = 1 << 7, /* the migration state (idle, moving, paused, ...) */
        MANAGER_CHANGED_ROUND        = 1 << 8, /* a migration round with moves ended: last_round */
        MANAGER_CHANGED_CYCLE        = 1 << 9, /* a cycle timer ran (counters, heat, placement moved on) */
} ManagerChange;

/* What is behind a NUMA node (manager-devices.c), as the bus shows it: lists comma-separated,
 * NULL when empty. */
typedef struct ManagerNodeView {
        int node;
        bool online;
        NodeKind kind;
        char *description;
        char *cxl_memdevs, *cxl_regions, *cxl_window;
        char *dax_devices, *dax_modes;
        uint64_t dax_bytes;
        bool zones_known;           /* online_bytes and movable_bytes are known */
        uint64_t online_bytes, movable_bytes;
} ManagerNodeView;

typedef struct ManagerContiguity ManagerContiguity; /* manager-contiguity.c */

typedef struct Manager Manager;
typedef void (*ManagerChangeHook)(Manager *m, unsigned changes, void *userdata);

/* Since vtismd started; the migration counters are those of the migrator (pages of 4 KiB). */
typedef struct ManagerCounters {
        uint64_t cycles;
        uint64_t pages_promoted;
        uint64_t pages_demoted;
        uint64_t pages_failed;
        uint64_t bytes_migrated;
        uint64_t reloads;
        uint64_t reload_failures;
        uint64_t plans;                 /* cycles that planned (tiering mode, sampling on) */
        uint64_t rounds;                /* migration rounds that had moves */
        uint64_t bytes_promoted;
        uint64_t bytes_demoted;
        uint64_t pages_failed_by[_MIGRATOR_FAILURE_MAX]; /* busy, nomem, gone, shared, not-allowed, other, floor */
        uint64_t pages_dropped;         /* planned, never attempted (replaced, budget, VM gone, ...) */
        uint64_t pages_would_move;      /* dry-run */
        uint64_t pages_already;         /* query-first moves found already in place */
        uint64_t pages_queried;         /* placement queries (residency sweep and planned queries) */
        uint64_t cycle_usec;          /* CLOCK_MONOTONIC time spent in manager_cycle() */
        uint64_t sample_errors;       /* failed tracker reads of a VM */
        uint64_t metrics_file_errors; /* failed writes of global.metrics_textfile */
        uint64_t cycle_slices;        /* loop iterations the cycles' sampling took (manager_cycle_step()) */
        uint64_t slice_max_usec;      /* the longest of them */
        uint64_t cycles_overrun;      /* timer ticks skipped: the previous cycle was still sampling */
} ManagerCounters;

/* The last migration round that had moves, for the MigrationRound signal. */
typedef struct ManagerRound {
        uint64_t seq;
        MigratorRoundEnd end;
        bool dry_run;
        usec_t duration_usec;
        uint64_t budget_bytes;
        size_t n_vms;                   /* VMs that had moves in it */
        MigratorCounters total;
} ManagerRound;

struct Manager {
        sd_event *event;
        sd_bus *bus;                /* set up by bus_setup(), closed by manager_free() */
        ManagerChangeHook change_hook;
        void *change_userdata;
        sd_event_source *cycle_timer;
        int exit_error;             /* why the loop was left, 0 for a requested stop */

        char *config_path;
        char *sysfs_root;
        VtConf *config;
        Topology *topology;
        ManagerNodeView *node_views; /* what is behind each node (manager-devices.c), ascending */
        size_t n_node_views;
        ManagerContiguity *contiguity; /* contiguity summaries and their scans (manager-contiguity.c) */
        ManagerMode mode;
        char *mode_reason;          /* one sentence for vtismctl status */

        bool sampling_paused;
        bool migration_paused;
        int dry_run_override;       /* -1: follow the config; 0/1: set at runtime (SetDryRun) */
        int log_level_override;     /* -1: follow the config */

        char *last_reload_error;    /* NULL after a good (re)load */
        usec_t started_usec;        /* CLOCK_REALTIME */
        usec_t last_cycle_usec;     /* CLOCK_REALTIME, 0 before the first cycle */

        ManagerCounters counters;

        /* The cycle in flight: its sampling runs in slices from the loop (manager_cycle_step()). */
        sd_event_source *cycle_defer;
        bool cycle_running;
        usec_t cycle_begin_usec;    /* CLOCK_MONOTONIC */
        usec_t cycle_busy_usec;     /* in its slices so far */
        uint64_t cycle_n_slices;
        usec_t slice_usec;          /* a slice's budget: MANAGER_SLICE_USEC_DEFAULT, tests set less */
        size_t sample_cursor;       /* m->vms[0, cursor) had their turn in this cycle */
        Vm *sampling_vm;            /* the VM whose sliced tracker pass is in flight (vms[cursor - 1]) */

        /* VMs and where their access bits come from (manager-vms.c) */
        char *proc_root;
        Vm **vms;
        size_t n_vms;
        /* QEMU pid -> its VM's place in vms[], kept on every insertion, removal and move
         * (manager_vm_by_pid()); 10.7-32 bytes per VM (pid-index.h) */
        PidIndex vm_pids;
        uint64_t vm_seq;            /* discovery counter (Vm.seq) */
        /* Identities (vm.h) are resolved once per burst, not per event: see manager_identities_settle() */
        sd_event_source *identities_defer;
        bool identities_dirty;      /* a VM came, went or changed since the last resolution */
        uint64_t identity_resolutions; /* vm_resolve_identities() passes so far (tests, benchmarks) */
        uid_t *qemu_uids;           /* config qemu_users resolved (manager_vms_apply_config()) */
        size_t n_qemu_uids;
        bool qemu_users_all;        /* qemu_users = [ "*" ] */
        VmSource *libvirt_source;
        VmSource *proc_source;
        char *tracker_reasons[_TRACKER_KIND_MAX]; /* why each tracker is unusable; NULL if usable */
        Tracker *tracker;                         /* NULL: none usable (monitor VMs only) */
        char *tracker_choice;                     /* why that one, tracker_pick_explain() */

        /* Placement: plans and the migrator (manager-placement.c) */
        Migrator *migrator;         /* the only owner of move_pages(2); NULL before manager_start() */
        NodeFreeReader *node_free;  /* its floor check's reader of the nodes' MemFree */
        const char *migration_state; /* as last signalled (manager_migration_state()) */
        uint64_t plan_round_seq;    /* the migrator round running the last plan, 0: none */
        uint64_t rounds_seen;       /* rounds the migrator started (its seq counter, mirrored) */
        ManagerRound last_round;
};

int manager_new(const char *config_path, const char *sysfs_root, const char *proc_root, int log_level_override,
                Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m) {
        manager_free(*m);
}

/* Load config and topology; on failure logs and returns -errno (startup is fatal). */
int manager_load(Manager *m);
/* Arm signals, the watchdog, the VM sources and the cycle timer, tell systemd READY=1. Run
 * bus_setup() before, so that READY=1 means the bus name is ours. */
int manager_start(Manager *m);
/* Run the loop until manager_exit(). Returns 0 after a requested stop (SIGTERM, SIGINT), -errno
 * when the daemon must stop because something it cannot work without went away (the bus): then
 * vtismd exits non-zero and systemd's Restart=on-failure restarts it. */
int manager_run(Manager *m);
/* Leave the loop: error 0 for a requested stop, else the -errno manager_run() returns. */
void manager_exit(Manager *m, int error);

/* Re-read config and topology. On failure keeps the old state, logs, and returns -errno with
 * *ret_error (if non-NULL) naming the file:line. */
int manager_reload(Manager *m, char **ret_error);

void manager_set_paused(Manager *m, unsigned subsystems, bool paused);
void manager_set_dry_run(Manager *m, bool dry_run);
bool manager_dry_run(const Manager *m);
void manager_update_status(Manager *m);

/* One hook (NULL to remove); called with a ManagerChange mask whenever the state changes. */
void manager_set_change_hook(Manager *m, ManagerChangeHook hook, void *userdata);
void manager_notify_changed(Manager *m, unsigned changes);

/*
 * The cycle. The timer starts one (manager_cycle_begin()) and runs its sampling in slices from a
 * defer source, each ending once it has used its budget (m->slice_usec): between two VMs, or
 * inside one VM's tracker pass for trackers that can step (TrackerOps.sample_step: page_idle),
 * so that D-Bus and the watchdog are served between slices however large the VMs. When every VM
 * had its turn the rest runs in one go (contiguity, placement: plan and the migrator's start)
 * and the cycle is counted. A tick that comes while a cycle still samples is skipped and counted
 * (cycles_overrun). manager_cycle() runs a whole cycle at once (tests, benchmarks).
 */
#define MANAGER_SLICE_USEC_DEFAULT (20 * USEC_PER_MSEC)
int manager_cycle(Manager *m);
/* Start a cycle: false when sampling is paused (no cycle) or one is in flight already. */
bool manager_cycle_begin(Manager *m);
/* One slice until deadline (CLOCK_MONOTONIC; USEC_INFINITY: all of it); 1 while work remains,
 * 0 when the cycle is complete (then counted and published). */
int manager_cycle_step(Manager *m, usec_t deadline_usec);

/* manager-devices.c: the memory devices behind each node (cxl-devices.h), read at start and on
 * every reload (manager_load(), manager_reload()); a failed read keeps the last good one. */
void manager_devices_refresh(Manager *m);
void manager_devices_done(Manager *m);
/* NULL if the node is not known there (the devices were never read, or the node is neither online
 * nor a DAX device's target). */
const ManagerNodeView *manager_node_view(const Manager *m, int node);

/*
 * manager-contiguity.c: how contiguously each VM's guest RAM is mapped in host memory
 * (contiguity.h), scanned from its QEMU process's pagemap (contiguity-scan.h; root only, and
 * only of the VMs vtismd tiers) in slices from the event loop, one scan at a time:
 *   - on request (GetContiguity): a summary younger than the request's max age is answered at
 *     once, else a scan starts (or the running one of that VM is joined) and the answer follows
 *     when it is done;
 *   - "before tiering": the first scan made while the VM is tracked and before vtism moved any
 *     of its pages (queued when it is first tracked); kept for the VM's lifetime in vtismd;
 *   - after moves: once vtism moved at least MIN(64 MiB, 1 % of its RAM) of the VM since its
 *     last summary (manager_contiguity_round_done()), rate-limited per VM and overall.
 * Costs, limits and the rules for what counts as fresh: vtismd(8) and manager-contiguity.c.
 */
typedef enum ContigTrigger {
        CONTIG_TRIGGER_REQUEST,       /* a GetContiguity call */
        CONTIG_TRIGGER_TIERING_START, /* the VM was first tracked */
        CONTIG_TRIGGER_MIGRATION,     /* vtism moved enough of it since the last summary */
        _CONTIG_TRIGGER_MAX,
        _CONTIG_TRIGGER_INVALID = -22,
} ContigTrigger;

const char *contig_trigger_to_string(ContigTrigger t); /* "request", "tiering-start", "migration" */

typedef struct ContigRecord {
        ContigSummary summary;
        ContiguityScanStats stats;
        usec_t taken_usec;          /* CLOCK_REALTIME, when the scan ended */
        usec_t taken_mono_usec;     /* CLOCK_MONOTONIC, the same moment */
        usec_t scan_usec;           /* from the scan's start to its end */
        usec_t busy_usec;           /* of which in its slices */
        uint64_t slices;
        ContigTrigger trigger;
        uint64_t moved_bytes;       /* what vtism had moved of the VM when the scan started */
} ContigRecord;

typedef struct ContigView {
        const ContigRecord *now;    /* the latest summary (never NULL in a successful answer) */
        const ContigRecord *before; /* before tiering; NULL if none */
        bool before_pending;        /* none yet, one will be taken */
        const char *before_error;   /* none, and why there will be none; NULL if pending or there */
        uint64_t moved_bytes;       /* vtism's moves of the VM since it was found */
} ContigView;

/* The answer to a request: view (and vm) valid during the call, or error (< 0) with a sentence
 * (vm then NULL if the VM is gone). Called exactly once per request. */
typedef void (*ManagerContigDone)(Manager *m, Vm *vm, const ContigView *view, int error, const char *error_text,
                                  void *userdata);

/*
 * Ask for vm's contiguity summary no older than max_age_usec (raised to the VM's floor: 1 s, or
 * 10 x the time its last scan took, so that callers cannot keep a core busy scanning). done() is
 * called once: from this call when a summary is fresh enough, else from the slice that finishes
 * the scan (with error -ESRCH when the VM exits meanwhile, -ECANCELED when vtismd stops, or the
 * scan's error). Errors of the call itself (done() is then never called): -ENODATA guest RAM not
 * located yet, -EPERM the VM is not tiered (ignored: its memory is not read), -EBUSY too many
 * requests are waiting (64 per VM, 256 in all).
 */
int manager_contiguity_request(Manager *m, Vm *vm, usec_t max_age_usec, ManagerContigDone done, void *userdata);
/* After manager_vms_cycle(): VMs gone, before-tiering scans of newly tracked VMs, rescans due. */
void manager_contiguity_cycle(Manager *m);
/* The migrator's round_done sink (migrator.h): what it moved of each VM. */
struct MigratorRound;
void manager_contiguity_round_done(Manager *m, const struct MigratorRound *r);
/* The summaries vtismd has of vm, without scanning (the Contiguity property); false if none. */
bool manager_contiguity_view(Manager *m, const Vm *vm, ContigView *ret);
/* Requests still waiting are answered -ECANCELED; the running scan ends. */
void manager_contiguity_done(Manager *m);
/* Tunables, for tests (0 fields: defaults). */
typedef struct ContigOptions {
        usec_t slice_usec;          /* a slice starts no batch expected to end later (40 ms) */
        usec_t batch_usec;          /* size batches to take about this long (8 ms) */
        usec_t rescan_min_usec;     /* per VM, between scans after moves, at least (60 s) */
        unsigned rescan_busy_factor;/* ... and at least this times the last scan's busy time (100) */
        unsigned auto_duty_factor;  /* after an automatic rescan of busy time B, no other for B x this (50: 2 %) */
        usec_t floor_min_usec;      /* a request's max age is at least this (1 s) ... */
        unsigned floor_busy_factor; /* ... and this times the last scan's busy time (10) */
} ContigOptions;
void manager_contiguity_set_options(Manager *m, const ContigOptions *o);

/* manager-vms.c: VM discovery, tracking and heat. */
int manager_vms_start(Manager *m);                 /* VM sources; after the loop exists */
int manager_tracker_setup(Manager *m);             /* (re)pick the tracker per config */
int manager_vms_apply_config(Manager *m);          /* after a reload */
/* Which trackers feed the VM, "+"-joined ("idle_pages", "damon+softdirty", "damon" when soft-dirty
 * cannot follow it), or "none"; and why in a sentence: the tracker's own account of the VM
 * (tracker_describe_target()), or why it is not sampled. Both malloc'ed. -ENODATA while the VM
 * is new (not set up yet: not known). */
int manager_vm_trackers(const Manager *m, Vm *vm, char **ret_feeds, char **ret_why);
void manager_vms_cycle(Manager *m);                /* begin + all steps at once */
void manager_vms_cycle_begin(Manager *m);          /* the /proc scan, the cursor to the first VM */
/* VMs' turns until deadline (after at least one): 1 while VMs remain, 0 when all had their turn. */
int manager_vms_cycle_step(Manager *m, usec_t deadline_usec);
void manager_vms_done(Manager *m);
/*
 * Identities are resolved once per burst of VM events. Whatever may change whom to trust or what a
 * VM is called (a VM found or gone, libvirt's word about it new or withdrawn, a reload, an owner
 * read at last) only marks them stale and enables a defer source of the loop's highest priority,
 * which settles them before anything else is dispatched: n VMs a source reports in one go (a /proc
 * scan, libvirt's queue or resync) cost one vm_resolve_identities() pass, O(n log n), not n. Until
 * then a VM just found has the placeholder id and name "pid-<pid>" (it claims nothing yet) and is
 * not announced (its "found" line, policy and run state are logged once resolved); a VM whose own
 * sources' word changed (libvirt's joined or left it) has its run-state lines wait the same way, so
 * that the journal names it as it is; the others keep what they were last resolved to. Everything
 * that reads an id, name, uuid, trust or policy (lookups, the bus's VM lists, the cycle and its
 * plan, a reload) calls manager_identities_settle() first, which resolves now if anything is
 * pending and costs nothing otherwise.
 */
void manager_identities_settle(Manager *m);
/*
 * The VM of QEMU pid pid, NULL if none, and (ret_index, if non-NULL) its place in m->vms. O(1):
 * m->vm_pids. A pid is one VM's at a time: a source that reports a pid the manager knows is taken
 * to report that VM (merged into it whatever start time it says); what ends a VM whose process is
 * gone, or whose pid a new process has, is the liveness check of pid and start time in its cycle.
 * Identities are not settled here.
 */
Vm *manager_vm_by_pid(const Manager *m, pid_t pid, size_t *ret_index);
/* By id, then uuid, then name, then QEMU pid (identities settled first). -ENOENT if none, -ENOTUNIQ if two VMs have that name
 * (then only the id or pid finds them). An id or name with invalid UTF-8 also matches as the bus
 * shows it (utf8_escape_invalid()). */
int manager_find_vm(Manager *m, const char *key, Vm **ret);

/*
 * manager-placement.c: the placement half of the cycle. Every cycle after sampling: the residency
 * refresh (a global budget of placement queries, more while a VM's first pass is incomplete), then
 * one plan for all VMs at once (plan_compute(): heat maps, homes, policies, allowed nodes, limits
 * from the config) handed to the migrator, which moves pages from a worker thread; its
 * reports go back to the heat maps, the journal (one entry per round per VM that moved) and the
 * counters. Nothing is planned in monitor-only mode; the residency refresh goes on.
 */
int manager_placement_start(Manager *m);           /* the migrator; after the loop exists */
void manager_placement_done(Manager *m);
void manager_placement_cycle(Manager *m);
/* A VM got a heat map (register it with the migrator), or is about to lose it or go. */
void manager_placement_add_vm(Manager *m, Vm *vm);
void manager_placement_forget_vm(Manager *m, Vm *vm);
/* The VM's pages must not move from now on (it is paused or being migrated): a running round with
 * moves for it ends now (CANCELLED; the other VMs get their moves in the next cycle's plan). */
void manager_placement_hold_vm(Manager *m, Vm *vm);
/* Its per-VM state too (the VM is being freed). */
void manager_placement_free_vm(Manager *m, Vm *vm);
/* After a reload (mode, dry-run from the config). */
void manager_placement_apply_config(Manager *m);
/* m->counters' migration part from the migrator's (and each VM's live counters). */
void manager_placement_sync_counters(Manager *m);
void manager_placement_set_paused(Manager *m, bool paused);
void manager_placement_set_dry_run(Manager *m, bool dry_run);
/* "idle", "moving", "paused", "dry-run" or "monitor-only" */
const char *manager_migration_state(const Manager *m);

/* What status and GetPlan show of a VM's placement (NULL/false when it was never planned). */
typedef struct VmPlanGroup {
        PlanDirection direction;
        int from_node;              /* PLAN_NODE_ANY: query first */
        int to_node;
        uint64_t moves, pages, huge_units, needs_room_pages;
        uint8_t heat_min, heat_max;
} VmPlanGroup;

typedef struct VmPlanView {
        uint64_t cycle;             /* the manager cycle it was made in */
        usec_t computed_usec;       /* CLOCK_REALTIME */
        uint64_t cycle_budget_bytes;/* of the whole plan */
        PlanPolicy policy;          /* origin valid as long as the view */
        bool frozen;
        bool submitted;             /* false: migration paused, monitor-only, or the plan failed */
        const PlanVmResult *result;
        const VmPlanGroup *groups;
        size_t n_groups;
        uint64_t round_seq;         /* the migrator round that ran it, 0: none */
        bool round_ended;
        MigratorRoundEnd round_end;
        const MigratorCounters *round; /* this VM's part of that round so far */
} VmPlanView;

bool vm_plan_view(const Vm *vm, VmPlanView *ret);
/* Counters of every round since the VM was found; NULL if it never had a heat map. */
const MigratorCounters *vm_migration_counters(const Vm *vm);
/* Why the VM gets no moves (one sentence), NULL if it is tiered. */
const char *vm_not_tiered_reason(const Vm *vm);
/* Its allowed memory nodes ("0-1"), NULL if not known. */
const char *vm_allowed_nodes(const Vm *vm);
/* The last plan's DRAM target; false if none. */
bool vm_dram_target_bytes(const Vm *vm, uint64_t *ret);
/* The VM's CXL access share (slo.h), basis points, and its age in placement passes (0 for a VM
 * with a service level; up to 9 for others, estimated every 10th pass); false before an access
 * was sampled. */
bool vm_cxl_access(const Vm *vm, unsigned *ret_bp, unsigned *ret_min_bp, unsigned *ret_max_bp, unsigned *ret_age);
/* Its service level, if its policy has one: its cap, and "met" or "not met: ..." (state NULL before
 * the controller's first update: a VM frozen since it was found). */
bool vm_slo(const Vm *vm, unsigned *ret_cap_bp, const char **ret_state, bool *ret_met);
