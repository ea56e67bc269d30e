/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The placement half of the manager, once per cycle after sampling (manager.h):
 *
 *     acquire   residency refresh: migrator_refresh_residency() with a global budget of placement
 *               queries, plus the whole RAM of every VM whose first complete pass is still due
 *               (a VM is frozen until it has one: plan.h wants it before the first plan)
 *     plan      one plan_compute() for all VMs with a heat map: heat, home node, policy resolved
 *               to a PlanPolicy, allowed nodes (the QEMU process's Mems_allowed_list), frozen when
 *               it must not move; limits from the config (the cycle's byte budget is the rate
 *               limit times the interval)
 *     act       migrator_submit() (the migrator moves on its worker thread; dry-run and
 *               pause are honoured there), each node's free-memory floor first
 *               (dram_min_free_percent, demotion_min_free_ratio of its size: the migrator re-reads
 *               the node's MemFree before every batch into it)
 *     account   the migrator's sink: placement and moves back into the heat maps, THP marks, one
 *               journal entry per round per VM that moved (or would have, or failed), the
 *               MigrationRound signal, the counters
 *
 * Nothing is planned in monitor-only mode (no CXL or no DRAM node); the residency refresh goes on,
 * because status shows placement whatever the mode.
 */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "vtism/log.h"
#include "vtism/manager.h"
#include "vtism/message-ids.h"
#include "vtism/plan.h"
#include "vtism/plan-index.h"
#include "vtism/proc-pid.h"
#include "vtism/slo.h"
#include "vtism/util.h"

/* Placement queries per cycle for all VMs together: 64 Ki pages (256 MiB of guest RAM; ~11 ms of
 * one core natively at ~170 ns a page, ~60 ms in the TCG lab), so 1 GiB of VMs is re-read every 4
 * cycles. A VM whose first pass is incomplete adds its whole RAM, up to 4 Mi pages (16 GiB) per
 * cycle. */
#define RESIDENCY_PAGES_PER_CYCLE UINT64_C(65536)
#define RESIDENCY_FIRST_PASS_MAX (UINT64_C(4) << 20)
/* Blocks the planner may have queried exactly per cycle (plan.h, limits.query_pages). */
#define PLAN_QUERY_PAGES UINT64_C(16384)
/* migrate_rate_limit_mbps = 0: a budget no cycle reaches (1 PiB). */
#define BUDGET_UNLIMITED (UINT64_C(1) << 50)
/* The allowed nodes are re-read this often: libvirt can change <numatune> of a running domain. */
#define ALLOWED_REFRESH_CYCLES 12u

#define PAGE_BYTES HEATMAP_GRANULE_4K

#define VM_FIELDS(vm) FIELDS({ "VTISM_VM", (vm)->id }, { "VTISM_VM_NAME", (vm)->name })

typedef struct VmTier {
        /* the last plan that covered this VM */
        bool planned;
        uint64_t plan_cycle;
        usec_t plan_usec;
        uint64_t plan_budget_bytes;
        PlanPolicy policy;
        char *policy_origin;        /* policy.origin points here */
        bool frozen, submitted;
        PlanVmResult result;        /* result.reason owned */
        VmPlanGroup *groups;
        size_t n_groups;
        /* the round that runs it */
        uint64_t round_seq;
        bool round_ended;
        MigratorRoundEnd round_end;
        MigratorCounters round;
        /* counters of earlier registrations with the migrator (a heat map rebuilt on reload) */
        MigratorCounters before;
        MigratorCounters shown;     /* before + the migrator's live counters, for readers */
        bool registered;
        /* where its pages may be */
        int *allowed;
        size_t n_allowed;
        char *allowed_str;
        bool allowed_known, recheck_allowed;
        unsigned allowed_age;
        char *not_tiered;           /* why it gets no moves; NULL: tiered */
        /* its CXL access share, how old, and its service level (slo.h) */
        bool have_est;
        SloEstimate est;
        SloEstimateAge est_age;
        bool slo_on;
        Slo slo;
        SloParams slo_params;
        char *slo_state;            /* "met", "not met: ..."; NULL before its first update */
        bool slo_reported;          /* "cannot be met" was logged for this episode */
} VmTier;

static VmTier *tier_of(Vm *vm) {
        if (!vm->tier)
                vm->tier = xcalloc(1, sizeof(VmTier));
        return vm->tier;
}

static void tier_clear_plan(VmTier *t) {
        free(t->result.reason);
        t->result = (PlanVmResult) {};
        free(t->groups);
        t->groups = NULL;
        t->n_groups = 0;
        free(t->policy_origin);
        t->policy_origin = NULL;
}

static VmTier *tier_free(VmTier *t) {
        if (!t)
                return NULL;
        tier_clear_plan(t);
        free(t->allowed);
        free(t->allowed_str);
        free(t->not_tiered);
        free(t->slo_state);
        free(t);
        return NULL;
}

static uint64_t sum(const uint64_t *v, size_t n) {
        uint64_t s = 0;

        for (size_t i = 0; i < n; i++)
                s += v[i];
        return s;
}

/* ---- what readers see ---- */

const char *manager_migration_state(const Manager *m) {
        if (m->mode == MANAGER_MODE_MONITOR_ONLY)
                return "monitor-only";
        if (!m->migrator)
                return m->migration_paused ? "paused" : manager_dry_run(m) ? "dry-run" : "idle";
        return migrator_state_to_string(migrator_state(m->migrator));
}

static void notify_migration_state(Manager *m) {
        const char *s = manager_migration_state(m);

        if (streq_ptr(s, m->migration_state))
                return;
        m->migration_state = s;
        manager_notify_changed(m, MANAGER_CHANGED_MIGRATION);
}

bool vm_plan_view(const Vm *vm, VmPlanView *ret) {
        const VmTier *t = vm->tier;

        if (!t || !t->planned)
                return false;
        *ret = (VmPlanView) {
                .cycle = t->plan_cycle,
                .computed_usec = t->plan_usec,
                .cycle_budget_bytes = t->plan_budget_bytes,
                .policy = t->policy,
                .frozen = t->frozen,
                .submitted = t->submitted,
                .result = &t->result,
                .groups = t->groups,
                .n_groups = t->n_groups,
                .round_seq = t->round_seq,
                .round_ended = t->round_ended,
                .round_end = t->round_end,
                .round = &t->round,
        };
        return true;
}

const MigratorCounters *vm_migration_counters(const Vm *vm) {
        return vm->tier ? &vm->tier->shown : NULL;
}

const char *vm_not_tiered_reason(const Vm *vm) {
        return vm->tier ? vm->tier->not_tiered : NULL;
}

const char *vm_allowed_nodes(const Vm *vm) {
        return vm->tier && vm->tier->allowed_known ? vm->tier->allowed_str : NULL;
}

bool vm_dram_target_bytes(const Vm *vm, uint64_t *ret) {
        if (!vm->tier || !vm->tier->planned)
                return false;
        *ret = vm->tier->result.dram_target_bytes;
        return true;
}

bool vm_cxl_access(const Vm *vm, unsigned *ret_bp, unsigned *ret_min_bp, unsigned *ret_max_bp, unsigned *ret_age) {
        const VmTier *t = vm->tier;

        if (!t || !t->have_est || !t->est.valid)
                return false;
        *ret_bp = t->est.share_bp;
        *ret_min_bp = t->est.share_min_bp;
        *ret_max_bp = t->est.share_max_bp;
        *ret_age = t->est_age.age;
        return true;
}

bool vm_slo(const Vm *vm, unsigned *ret_cap_bp, const char **ret_state, bool *ret_met) {
        const VmTier *t = vm->tier;

        if (!t || !t->slo_on)
                return false;
        *ret_cap_bp = t->slo_params.cap_bp;
        *ret_state = t->slo_state;
        *ret_met = slo_state_met(t->slo.state);
        return true;
}

/* Live counters: the migrator's since the VM was registered, plus earlier registrations. */
static void refresh_shown(Manager *m, Vm *vm) {
        VmTier *t = vm->tier;
        const MigratorCounters *c;

        if (!t)
                return;
        t->shown = t->before;
        c = t->registered && m->migrator ? migrator_vm_counters(m->migrator, vm) : NULL;
        if (c)
                migrator_counters_add(&t->shown, c);
}

void manager_placement_sync_counters(Manager *m) {
        ManagerCounters *k = &m->counters;
        const MigratorCounters *c;

        if (!m->migrator)
                return;
        c = migrator_counters(m->migrator);
        k->pages_promoted = c->moved_pages[PLAN_PROMOTE];
        k->pages_demoted = c->moved_pages[PLAN_DEMOTE];
        k->bytes_promoted = k->pages_promoted * PAGE_BYTES;
        k->bytes_demoted = k->pages_demoted * PAGE_BYTES;
        k->bytes_migrated = k->bytes_promoted + k->bytes_demoted;
        k->pages_failed = migrator_counters_failed(c);
        assert_cc(sizeof(k->pages_failed_by) == sizeof(c->failed_pages));
        memcpy(k->pages_failed_by, c->failed_pages, sizeof(k->pages_failed_by));
        k->pages_dropped = sum(c->dropped_pages, _MIGRATOR_DROP_MAX);
        k->pages_would_move = sum(c->would_move_pages, _PLAN_DIRECTION_MAX);
        k->pages_already = sum(c->already_pages, _PLAN_DIRECTION_MAX);
        k->pages_queried = c->queried_pages;
        for (size_t i = 0; i < m->n_vms; i++)
                refresh_shown(m, m->vms[i]);
}

/* ---- the sink: what the migrator learnt goes back into the heat maps ---- */

static void on_placement(void *userdata, void *key, uint64_t hva, const int *status, size_t n_pages, MigratorQuery kind) {
        Vm *vm = key;

        if (vm->heat)
                (void) heatmap_residency_update(vm->heat, hva, status, n_pages);
}

static void on_moved(void *userdata, void *key, uint64_t hva, size_t n_pages, int from_node, int to_node,
                     PlanDirection direction) {
        Vm *vm = key;

        if (vm->heat)
                (void) heatmap_residency_moved(vm->heat, hva, n_pages, from_node, to_node);
}

static void on_huge(void *userdata, void *key, uint64_t hva, bool huge) {
        Vm *vm = key;

        if (vm->heat)
                (void) heatmap_mark_huge(vm->heat, hva, HEATMAP_BLOCK_BYTES, huge);
}

/* "busy 3, gone 2" (the failures by reason), "" if none. */
static char *format_failures(const MigratorCounters *c) {
        char *s = xstrdup("");

        for (int f = 0; f < _MIGRATOR_FAILURE_MAX; f++) {
                char *next;

                if (c->failed_pages[f] == 0)
                        continue;
                next = xasprintf("%s%s%s %" PRIu64, s, *s ? ", " : "", migrator_failure_to_string(f), c->failed_pages[f]);
                free(s);
                s = next;
        }
        return s;
}

/* One journal entry per round per VM that moved something, would have (dry-run), or failed. */
static void log_round(const Vm *vm, const MigratorRound *r, const MigratorCounters *c) {
        uint64_t promoted = c->moved_pages[PLAN_PROMOTE] * PAGE_BYTES, demoted = c->moved_pages[PLAN_DEMOTE] * PAGE_BYTES;
        uint64_t would_p = c->would_move_pages[PLAN_PROMOTE] * PAGE_BYTES, would_d = c->would_move_pages[PLAN_DEMOTE] * PAGE_BYTES;
        uint64_t failed = migrator_counters_failed(c), floored = c->failed_pages[MIGRATOR_FAIL_FLOOR];
        char pb[24], db[24], fp[24], fl[24], wp[24], wd[24], seq[24], a[FORMAT_BYTES_MAX], b[FORMAT_BYTES_MAX];
        _cleanup_free_ char *why = NULL;

        if (promoted + demoted + failed + would_p + would_d == 0)
                return;
        snprintf(pb, sizeof(pb), "%" PRIu64, promoted);
        snprintf(db, sizeof(db), "%" PRIu64, demoted);
        snprintf(fp, sizeof(fp), "%" PRIu64, failed);
        snprintf(fl, sizeof(fl), "%" PRIu64, floored);
        snprintf(wp, sizeof(wp), "%" PRIu64, would_p);
        snprintf(wd, sizeof(wd), "%" PRIu64, would_d);
        snprintf(seq, sizeof(seq), "%" PRIu64, r->seq);
        why = format_failures(c);

        if (promoted + demoted + failed == 0) {
                log_fields(LOG_INFO,
                           FIELDS({ "MESSAGE_ID", VTISM_MESSAGE_MIGRATION_ROUND_STR }, { "VTISM_VM", vm->id },
                                  { "VTISM_VM_NAME", vm->name }, { "VTISM_ROUND", seq },
                                  { "VTISM_PROMOTED_BYTES", pb }, { "VTISM_DEMOTED_BYTES", db }, { "VTISM_FAILED_PAGES", fp },
                                  { "VTISM_WOULD_PROMOTE_BYTES", wp }, { "VTISM_WOULD_DEMOTE_BYTES", wd }, { "VTISM_DRY_RUN", "1" }),
                           "VM %s: dry-run: would promote %s and demote %s (round %" PRIu64 ").", vm->name,
                           format_bytes(a, sizeof(a), would_p), format_bytes(b, sizeof(b), would_d), r->seq);
                return;
        }
        log_fields(promoted + demoted == 0 ? LOG_NOTICE : LOG_INFO,
                   FIELDS({ "MESSAGE_ID", VTISM_MESSAGE_MIGRATION_ROUND_STR }, { "VTISM_VM", vm->id },
                          { "VTISM_VM_NAME", vm->name }, { "VTISM_ROUND", seq },
                          { "VTISM_PROMOTED_BYTES", pb }, { "VTISM_DEMOTED_BYTES", db }, { "VTISM_FAILED_PAGES", fp },
                          { "VTISM_FLOOR_PAGES", fl }),
                   "VM %s: promoted %s, demoted %s%s%s%s (round %" PRIu64 ", %s).", vm->name,
                   format_bytes(a, sizeof(a), promoted), format_bytes(b, sizeof(b), demoted),
                   failed > 0 ? "; pages failed: " : "", why,
                   floored > 0 ? " (floor: stopped where the target node would go below its free-memory floor, "
                               "dram_min_free_percent or demotion_min_free_ratio)" : "",
                   r->seq, migrator_round_end_to_string(r->end));
}

static void on_round_done(void *userdata, const MigratorRound *r) {
        Manager *m = userdata;

        for (size_t i = 0; i < m->n_vms; i++) {
                VmTier *t = m->vms[i]->tier;

                if (t && t->round_seq == r->seq) {
                        t->round_ended = true;
                        t->round_end = r->end;
                }
        }
        for (size_t i = 0; i < r->n_vms; i++) {
                const MigratorRoundVm *rv = &r->vms[i];
                Vm *vm = rv->vm;

                if (!vm)
                        continue; /* forgotten meanwhile: it is gone */
                if (vm->tier) {
                        if (vm->tier->round_seq == r->seq)
                                vm->tier->round = rv->counters;
                        if (rv->counters.failed_pages[MIGRATOR_FAIL_NOT_ALLOWED] > 0)
                                vm->tier->recheck_allowed = true;
                }
                log_round(vm, r, &rv->counters);
        }
        if (r->n_vms > 0) {
                m->counters.rounds++;
                m->last_round = (ManagerRound) {
                        .seq = r->seq,
                        .end = r->end,
                        .dry_run = r->dry_run,
                        .duration_usec = r->finished_usec - MIN(r->finished_usec, r->started_usec),
                        .budget_bytes = r->budget_bytes,
                        .n_vms = r->n_vms,
                        .total = r->total,
                };
        }
        manager_placement_sync_counters(m);
        manager_contiguity_round_done(m, r); /* what moved of each VM: a contiguity summary when enough did */
        if (r->n_vms > 0)
                manager_notify_changed(m, MANAGER_CHANGED_ROUND);
        notify_migration_state(m);
}

/* ---- the VMs ---- */

void manager_placement_add_vm(Manager *m, Vm *vm) {
        VmTier *t;
        int r;

        if (!vm->heat)
                return;
        t = tier_of(vm);
        if (t->registered || !m->migrator)
                return;
        r = migrator_add_vm(m->migrator, vm, vm->id, vm->pid, vm->start_time, vm->ranges, vm->n_ranges);
        if (r < 0) {
                log_fields(LOG_WARNING, VM_FIELDS(vm), "VM %s: cannot hand it to the migrator: %s", vm->name, strerror(-r));
                return;
        }
        t->registered = true;
}

void manager_placement_forget_vm(Manager *m, Vm *vm) {
        VmTier *t = vm->tier;
        const MigratorCounters *c;

        if (!t || !t->registered || !m->migrator)
                return;
        c = migrator_vm_counters(m->migrator, vm);
        if (c)
                migrator_counters_add(&t->before, c);
        migrator_forget_vm(m->migrator, vm);
        t->registered = false;
        t->shown = t->before;
}

void manager_placement_hold_vm(Manager *m, Vm *vm) {
        const VmTier *t = vm->tier;

        if (!t || !m->migrator || t->round_seq == 0 || t->round_ended)
                return;
        log_fields(LOG_DEBUG, VM_FIELDS(vm), "VM %s must not move: ending the running migration round %" PRIu64 ".",
                   vm->name, t->round_seq);
        migrator_cancel(m->migrator);
}

void manager_placement_free_vm(Manager *m, Vm *vm) {
        manager_placement_forget_vm(m, vm);
        vm->tier = tier_free(vm->tier);
}

/* Re-read the VM's Mems_allowed_list now and then (and after a move was refused for it). */
static void refresh_allowed(Manager *m, Vm *vm, VmTier *t) {
        _cleanup_free_ int *nodes = NULL;
        size_t n = 0;
        int r;

        if (t->allowed_known && !t->recheck_allowed && ++t->allowed_age < ALLOWED_REFRESH_CYCLES)
                return;
        t->allowed_age = 0;
        t->recheck_allowed = false;
        r = proc_pid_mems_allowed(m->proc_root, vm->pid, &nodes, &n);
        if (r < 0) {
                log_fields(LOG_DEBUG, VM_FIELDS(vm), "VM %s: cannot read its allowed memory nodes: %s", vm->name, strerror(-r));
                return;
        }
        if (t->allowed_known && t->n_allowed == n && memcmp(t->allowed, nodes, n * sizeof(int)) == 0)
                return;
        free(t->allowed);
        free(t->allowed_str);
        t->allowed = TAKE_PTR(nodes);
        t->n_allowed = n;
        t->allowed_str = format_int_list(t->allowed, t->n_allowed);
        t->allowed_known = true;
}

static bool tier_allows(const VmTier *t, int id) {
        return !t->allowed_known || int_list_contains(t->allowed, t->n_allowed, id);
}

/* Does the VM's cpuset allow every node with memory? Then the planner needs no list. */
static bool tier_allows_all(const VmTier *t, const Topology *topo) {
        for (size_t i = 0; i < topo->n_nodes; i++)
                if (topo->nodes[i].has_memory && !tier_allows(t, topo->nodes[i].id))
                        return false;
        return true;
}

static bool tier_allows_cxl(const VmTier *t, const Topology *topo) {
        for (size_t i = 0; i < topo->n_nodes; i++)
                if (topo->nodes[i].has_memory && topo->nodes[i].tier == NODE_TIER_CXL && tier_allows(t, topo->nodes[i].id))
                        return true;
        return false;
}

static bool residency_known(const Vm *vm) {
        HeatHistogram h;

        if (!vm->heat)
                return false;
        for (size_t i = 0; i < heatmap_n_histograms(vm->heat); i++)
                if (heatmap_residency(vm->heat, i, &h) < 0 || !h.residency_known)
                        return false;
        return true;
}

/* Why the VM gets no moves (NULL: it is tiered); logged once when it changes. */
static void update_not_tiered(Manager *m, Vm *vm, VmTier *t) {
        char *why = NULL;

        if (m->mode == MANAGER_MODE_MONITOR_ONLY)
                why = xasprintf("monitor-only: %s", m->mode_reason ?: "no CXL node");
        else if (vm->gone_usec > 0)
                why = xstrdup("its QEMU process is gone");
        else if (vm->run_state != VM_RUN_RUNNING)
                why = xasprintf("%s (%s): %s", vm_run_state_to_string(vm->run_state), vm->run_state_why ?: "libvirt",
                                vm->run_state == VM_RUN_PAUSED ? "its heat is kept as it was and its pages stay where they are" :
                                vm->run_state == VM_RUN_MIGRATING_OUT ? "its pages are not moved while it is sent away" :
                                "not sampled or moved until it runs here; its heat starts fresh then");
        else if (vm->state != VM_STATE_TRACKED)
                why = xasprintf("not sampled: %s", vm->error ?: "being set up");
        else if (vm->policy.policy.never_migrate)
                why = xasprintf("its policy says never_migrate (%s)", vm->policy.source ?: "default");
        else if (t->allowed_known && !tier_allows_cxl(t, m->topology))
                why = xasprintf("its QEMU process may not use any CXL node: its allowed memory nodes are %s "
                                "(cpuset.mems, e.g. libvirt <numatune> mode \"strict\" on DRAM nodes only)",
                                *t->allowed_str ? t->allowed_str : "none");

        if (streq_ptr(why, t->not_tiered)) {
                free(why);
                return;
        }
        if (why && m->mode != MANAGER_MODE_MONITOR_ONLY && vm->state == VM_STATE_TRACKED)
                log_fields(LOG_NOTICE, VM_FIELDS(vm), "VM %s is not tiered: %s.", vm->name, why);
        else if (!why && t->not_tiered && vm->state == VM_STATE_TRACKED)
                log_fields(LOG_INFO, VM_FIELDS(vm), "VM %s is tiered again.", vm->name);
        free(t->not_tiered);
        t->not_tiered = why;
        manager_notify_changed(m, MANAGER_CHANGED_VMS);
}

static PlanPolicy policy_of(const Vm *vm) {
        const VtPolicy *p = &vm->policy.policy;
        PlanPolicy pp = {
                .weight = MAX(p->weight, 1u),
                .origin = vm->policy.source,
        };
        uint64_t budget;

        if (p->never_migrate)
                pp.kind = PLAN_POLICY_NEVER;
        else if (p->pin_dram)
                pp.kind = PLAN_POLICY_PIN;
        else {
                pp.kind = PLAN_POLICY_BUDGET;
                if (vm_dram_budget_bytes(vm, &budget) < 0)
                        budget = vm->ram_bytes; /* a percentage of RAM not located yet: cannot be, it has a heat map */
                pp.dram_budget_bytes = MIN(budget, heatmap_ram_bytes(vm->heat));
        }
        return pp;
}

/* ---- the service level (slo.h) ---- */

static uint64_t dram_bytes_of(const Manager *m, const Vm *vm) {
        HeatHistogram h;
        uint64_t pages = 0;

        heatmap_histogram_total(vm->heat, &h);
        for (size_t i = 0; i < m->topology->n_nodes; i++) {
                const TopologyNode *n = &m->topology->nodes[i];

                if (n->tier == NODE_TIER_DRAM && n->id >= 0 && (unsigned) n->id < HEATMAP_NODES_MAX)
                        pages += h.node_pages[n->id];
        }
        return pages * PAGE_BYTES;
}

/* Every VM with a heat map, every cycle: the share of its sampled accesses served from CXL. */
/* The CXL access share: every cycle with a service level, every SLO_ESTIMATE_EVERY cycles without
 * (slo.h: it costs ~2.2 ns a page; only the controller needs it every cycle). */
static void tier_estimate(Manager *m, Vm *vm, VmTier *t) {
        const HeatParams *hp = heatmap_params(vm->heat);
        bool coarse = m->tracker && m->tracker->ops->kind == TRACKER_DAMON;

        if (!slo_estimate_due(&t->est_age, vm->policy.policy.cxl_access_max_percent > 0))
                return;
        t->have_est = slo_estimate(vm->heat, m->topology, coarse, MIN(hp->cold_max + PLAN_MARGIN_HEAT + 1, 255u), &t->est) >= 0;
        slo_estimate_made(&t->est_age, t->have_est, (unsigned) vm->pid);
}

/*
 * A VM whose policy has a service level: the controller moves its DRAM target, which the plan
 * takes as its ask (policy "slo"). Not while it is frozen: a plan that moves nothing for it
 * says nothing about its DRAM.
 */
static void tier_slo(Manager *m, Vm *vm, VmTier *t, PlanPolicy *pp, bool frozen) {
        const VtPolicy *vp = &vm->policy.policy;
        uint64_t ram = heatmap_ram_bytes(vm->heat);
        char buf[512], cap[24];
        SloInput in;
        int r;

        if (vp->cxl_access_max_percent == 0 || pp->kind != PLAN_POLICY_BUDGET || !t->have_est) {
                if (t->slo_on && vp->cxl_access_max_percent == 0) {
                        t->slo_on = false;
                        free(t->slo_state);
                        t->slo_state = NULL;
                }
                return;
        }
        if (!t->slo_on) {
                slo_init(&t->slo);
                t->slo_on = true;
                t->slo_reported = false;
        }
        t->slo_params = (SloParams) {
                .cap_bp = vp->cxl_access_max_percent * 100,
                .dram_min_bytes = vt_ram_size_bytes(&vp->dram_min, ram),
                .dram_max_bytes = vt_ram_size_bytes(&vp->dram_max, ram),
        };
        if (t->slo_params.dram_min_bytes > t->slo_params.dram_max_bytes)
                t->slo_params.dram_min_bytes = t->slo_params.dram_max_bytes; /* a percentage and a size: the size wins */
        in = (SloInput) {
                .est = &t->est,
                .ram_bytes = ram,
                .dram_bytes = dram_bytes_of(m, vm),
                .planned = t->planned && !t->frozen,
                .granted_bytes = t->result.dram_target_bytes,
                .moving = t->result.promote_bytes + t->result.demote_bytes > 0,
        };
        if (!frozen) {
                r = slo_update(&t->slo, &t->slo_params, &in);
                if (r < 0) {
                        log_fields(LOG_DEBUG, VM_FIELDS(vm), "VM %s: service level not updated: %s", vm->name, strerror(-r));
                        return;
                }
                slo_describe(&t->slo, &t->slo_params, &in, buf, sizeof(buf));
                if (!streq_ptr(buf, t->slo_state)) {
                        free(t->slo_state);
                        t->slo_state = xstrdup(buf);
                }
                snprintf(cap, sizeof(cap), "%u", t->slo_params.cap_bp);
                if (slo_cannot_be_met(&t->slo) && !t->slo_reported) {
                        log_fields(LOG_WARNING,
                                   FIELDS({ "MESSAGE_ID", VTISM_MESSAGE_SLO_NOT_MET_STR }, { "VTISM_VM", vm->id }, { "VTISM_VM_NAME", vm->name },
                                          { "VTISM_SLO_CAP_BP", cap }, { "VTISM_SLO_STATE", slo_state_to_string(t->slo.state) }),
                                   "VM %s: its service level cannot be met: %s.", vm->name, buf);
                        t->slo_reported = true;
                } else if (t->slo_reported && slo_state_met(t->slo.state)) {
                        log_fields(LOG_INFO,
                                   FIELDS({ "MESSAGE_ID", VTISM_MESSAGE_SLO_MET_STR }, { "VTISM_VM", vm->id }, { "VTISM_VM_NAME", vm->name },
                                          { "VTISM_SLO_CAP_BP", cap }),
                                   "VM %s: its service level is met again.", vm->name);
                        t->slo_reported = false;
                }
        }
        if (!t->slo.started)
                t->slo.target_bytes = MIN(in.dram_bytes, t->slo_params.dram_max_bytes);
        pp->kind = PLAN_POLICY_SLO;
        pp->dram_budget_bytes = MAX(MIN(t->slo.target_bytes, ram), MIN(t->slo_params.dram_min_bytes, ram));
        pp->dram_min_bytes = MIN(t->slo_params.dram_min_bytes, pp->dram_budget_bytes);
        pp->cxl_access_max_bp = t->slo_params.cap_bp;
}

/* The moves of one VM (their indices in plan order) summed per (direction, from, to). */
static void tier_groups(VmTier *t, const Plan *p, const size_t *order, size_t n_order) {
        for (size_t j = 0; j < n_order; j++) {
                const PlanMove *mv = &p->moves[order[j]];
                VmPlanGroup *g = NULL;

                for (size_t i = 0; i < t->n_groups; i++)
                        if (t->groups[i].direction == mv->direction && t->groups[i].from_node == mv->from_node &&
                            t->groups[i].to_node == mv->to_node)
                                g = &t->groups[i];
                if (!g) {
                        t->groups = xreallocarray(t->groups, t->n_groups + 1, sizeof(VmPlanGroup));
                        g = &t->groups[t->n_groups++];
                        *g = (VmPlanGroup) {
                                .direction = mv->direction,
                                .from_node = mv->from_node,
                                .to_node = mv->to_node,
                                .heat_min = mv->heat,
                                .heat_max = mv->heat,
                        };
                }
                g->moves++;
                g->pages += mv->n_pages;
                g->huge_units += mv->huge;
                g->needs_room_pages += mv->needs_room ? mv->n_pages : 0;
                g->heat_min = MIN(g->heat_min, mv->heat);
                g->heat_max = MAX(g->heat_max, mv->heat);
        }
}

/* ---- the cycle ---- */

/* The migrator's reader of a node's free memory, before every batch into a node with a floor. */
static int read_node_free(void *userdata, int node, uint64_t *ret_bytes) {
        Manager *m = userdata;

        return node_free_reader_read(m->node_free, node, ret_bytes);
}

/* Every node's floor from its size and the config, as the planner counts it (plan.c: whole pages,
 * rounded up); sizes change with memory hotplug, the percentages on reload. */
static void set_floors(Manager *m) {
        for (size_t i = 0; i < m->topology->n_nodes; i++) {
                const TopologyNode *n = &m->topology->nodes[i];
                bool dram = n->tier == NODE_TIER_DRAM;
                unsigned pct = dram ? m->config->dram_min_free_percent : m->config->demotion_min_free_ratio;
                uint64_t keep = n->has_memory ? DIV_ROUND_UP(n->total_bytes / PAGE_BYTES * pct, 100) * PAGE_BYTES : 0;
                _cleanup_free_ char *what = xasprintf("%s %u %%", dram ? "dram_min_free_percent" : "demotion_min_free_ratio", pct);

                (void) migrator_set_floor(m->migrator, n->id, keep, what);
        }
}

static uint64_t cycle_budget_bytes(const Manager *m) {
        const VtConf *c = m->config;
        unsigned __int128 b;

        if (c->migrate_rate_limit_bytes == 0)
                return BUDGET_UNLIMITED;
        b = (unsigned __int128) c->migrate_rate_limit_bytes * c->sample_interval_usec / USEC_PER_SEC;
        return (uint64_t) MIN(b, (unsigned __int128) BUDGET_UNLIMITED);
}

void manager_placement_cycle(Manager *m) {
        _cleanup_free_ PlanVm *in = NULL;
        _cleanup_free_ Vm **keys = NULL;
        _cleanup_(plan_freep) Plan *plan = NULL;
        _cleanup_free_ size_t *order = NULL, *first = NULL;
        uint64_t first_pass = 0, seq = 0;
        size_t n = 0;
        bool submitted = false;
        PlanLimits limits;
        int r;

        if (!m->migrator)
                return;

        /* acquire */
        for (size_t i = 0; i < m->n_vms; i++) {
                Vm *vm = m->vms[i];

                if (!vm->heat)
                        continue;
                manager_placement_add_vm(m, vm);
                if (!vm->tier)
                        continue;
                refresh_allowed(m, vm, vm->tier);
                update_not_tiered(m, vm, vm->tier);
                tier_estimate(m, vm, vm->tier);
                if (!residency_known(vm))
                        first_pass += heatmap_ram_bytes(vm->heat) / PAGE_BYTES;
        }
        migrator_refresh_residency(m->migrator, RESIDENCY_PAGES_PER_CYCLE + MIN(first_pass, RESIDENCY_FIRST_PASS_MAX));

        if (m->mode != MANAGER_MODE_TIERING) {
                notify_migration_state(m);
                return;
        }

        /* plan */
        in = xcalloc(MAX(m->n_vms, (size_t) 1), sizeof(PlanVm));
        keys = xcalloc(MAX(m->n_vms, (size_t) 1), sizeof(Vm *));
        for (size_t i = 0; i < m->n_vms; i++) {
                Vm *vm = m->vms[i];
                VmTier *t = vm->tier;
                PlanVm *p = &in[n];

                if (!vm->heat || !t || !t->registered)
                        continue;
                *p = (PlanVm) {
                        .id = vm->id,
                        .heat = vm->heat,
                        .home_node = vm->home_node,
                        .policy = policy_of(vm),
                };
                if (t->not_tiered && !vm->policy.policy.never_migrate) {
                        p->frozen = true;
                        p->frozen_why = t->not_tiered;
                } else if (!residency_known(vm)) {
                        p->frozen = true;
                        p->frozen_why = "its first placement pass is not complete yet: no moves";
                }
                tier_slo(m, vm, t, &p->policy, p->frozen);
                if (t->allowed_known && !tier_allows_all(t, m->topology)) {
                        p->allowed_nodes = t->allowed;
                        p->n_allowed_nodes = t->n_allowed;
                }
                migrator_vm_placement(m->migrator, vm, &p->placement, &p->n_placement);
                keys[n++] = vm;
        }
        limits = (PlanLimits) {
                .budget_bytes = cycle_budget_bytes(m),
                .dram_min_free_percent = m->config->dram_min_free_percent,
                .demotion_min_free_ratio = m->config->demotion_min_free_ratio,
                .query_pages = PLAN_QUERY_PAGES,
                .round = m->counters.plans,
        };
        r = plan_compute(m->topology, &limits, in, n, &plan);
        if (r < 0) {
                /* The inputs are ours: this is a bug, not the host's fault. Keep the old plan. */
                log_error_errno(r, "Internal error: planning %zu VMs failed: %m", n);
                return;
        }
        m->counters.plans++;

        /* act */
        set_floors(m);
        if (!m->migration_paused) {
                r = migrator_submit(m->migrator, plan, (void *const *) keys);
                if (r < 0)
                        log_error_errno(r, "Internal error: the migrator refused the plan: %m");
                else {
                        submitted = true;
                        if (plan->n_moves > 0 || plan->n_queries > 0)
                                seq = ++m->rounds_seen;
                }
        }
        m->plan_round_seq = seq;

        /* keep what status and GetPlan show */
        (void) plan_index_by_vm(plan, n, &order, &first); /* cannot fail: plan is not NULL */
        for (size_t v = 0; v < n; v++) {
                Vm *vm = keys[v];
                VmTier *t = vm->tier;

                tier_clear_plan(t);
                t->planned = true;
                t->plan_cycle = m->counters.cycles + 1; /* counted when the cycle ends */
                t->plan_usec = clock_now_usec(CLOCK_REALTIME);
                t->plan_budget_bytes = plan->budget_bytes;
                t->policy = in[v].policy;
                t->policy_origin = in[v].policy.origin ? xstrdup(in[v].policy.origin) : NULL;
                t->policy.origin = t->policy_origin;
                t->frozen = in[v].frozen;
                t->submitted = submitted;
                t->result = plan->vms[v];
                plan->vms[v].reason = NULL; /* ours now */
                tier_groups(t, plan, order + first[v], first[v + 1] - first[v]);
                t->round_seq = t->n_groups > 0 ? seq : 0;
                t->round_ended = false;
                t->round = (MigratorCounters) {};
        }
        if (plan->n_moves > 0)
                log_debug("Plan %" PRIu64 ": %zu moves for %zu VMs, promote %" PRIu64 " MiB, demote %" PRIu64
                          " MiB, budget %" PRIu64 " MiB%s.", m->counters.plans, plan->n_moves, n, plan->promote_bytes >> 20,
                          plan->demote_bytes >> 20, plan->budget_bytes >> 20, submitted ? "" : " (migration paused: not submitted)");
        manager_notify_changed(m, MANAGER_CHANGED_VMS);
        notify_migration_state(m);
}

/* ---- control ---- */

void manager_placement_set_paused(Manager *m, bool paused) {
        if (m->migrator)
                migrator_set_paused(m->migrator, paused);
        notify_migration_state(m);
}

void manager_placement_set_dry_run(Manager *m, bool dry_run) {
        if (m->migrator)
                migrator_set_dry_run(m->migrator, dry_run);
        notify_migration_state(m);
}

/* After a reload: monitor-only now means no plan may go on. */
void manager_placement_apply_config(Manager *m) {
        if (m->migrator && m->mode != MANAGER_MODE_TIERING)
                migrator_cancel(m->migrator);
        manager_placement_set_dry_run(m, manager_dry_run(m));
}

int manager_placement_start(Manager *m) {
        static const MigratorSink sink = {
                .placement = on_placement,
                .moved = on_moved,
                .huge = on_huge,
                .round_done = on_round_done,
        };
        MigratorOptions o;
        int r;

        migrator_options_init_default(&o);
        o.proc_root = m->proc_root;
        o.node_free = read_node_free;
        o.node_free_userdata = m;
        m->node_free = node_free_reader_new(m->sysfs_root);
        r = migrator_new(m->event, &o, &sink, m, &m->migrator);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the migrator: %m");
        migrator_set_paused(m->migrator, m->migration_paused);
        migrator_set_dry_run(m->migrator, manager_dry_run(m));
        if (migrator_thp_probe_reason(m->migrator))
                log_info("Transparent huge pages are not probed in the residency refresh: %s.",
                         migrator_thp_probe_reason(m->migrator));
        m->migration_state = manager_migration_state(m);
        return 0;
}

void manager_placement_done(Manager *m) {
        for (size_t i = 0; i < m->n_vms; i++)
                manager_placement_free_vm(m, m->vms[i]);
        m->migrator = migrator_free(m->migrator);
        m->node_free = node_free_reader_free(m->node_free);
}
