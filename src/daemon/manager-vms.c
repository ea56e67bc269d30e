/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VM half of the manager: merges what the VM sources report (by pid), decides whom to trust
 * and what each VM is called (vm.h: libvirt's word wins, a command line only claims), locates each
 * VM's guest RAM and keeps its heat map fed from the tracker. Page residency and moves are the
 * migrator's (manager-placement.c).
 */
#include <assert.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <pwd.h>
#include <string.h>

#include "vtism/log.h"
#include "vtism/manager.h"
#include "vtism/message-ids.h"
#include "vtism/proc-pid.h"
#include "vtism/util.h"

/* An untrackable VM (RAM not located yet, e.g. QEMU still starting) is retried this often. */
#define RETRY_CYCLES 6u
/* Guest RAM larger than this many times the host's memory is not tiered: at most 1/16 of it can
 * be resident, and its heat map alone (a byte per 4 KiB page, built in one go on the loop) would
 * cost 1/256 of the host's memory and more. A reserved mapping of TiBs costs its owner nothing:
 * an ASan-instrumented process's shadow memory (tens of TiB) is its largest anonymous mapping. */
#define RAM_MAX_HOST_FACTOR 16u
/* A libvirt domain whose QEMU is gone is kept this long for libvirt's stopped/crashed/migrated
 * event, which follows QEMU's exit by up to a second or so on an idle host and by more than 2 s
 * under ASan on a loaded one (test-vtismd-lifecycle). Time, not cycles: at sample_interval_ms = 200
 * ten cycles were 2 s, and the VM was dropped as "exited" before libvirt said "migrated". */
#define LIBVIRT_VERDICT_USEC (10 * USEC_PER_SEC)

static const char *source_name(unsigned bit) {
        return bit == VM_SOURCE_LIBVIRT ? "libvirt" : "proc";
}

#define VM_FIELDS(vm) FIELDS({ "VTISM_VM", (vm)->id }, { "VTISM_VM_NAME", (vm)->name })
/* The same with the MESSAGE_ID of an event operators search for (message-ids.h) */
#define VM_EVENT_FIELDS(vm, message_id) \
        FIELDS({ "MESSAGE_ID", message_id }, { "VTISM_VM", (vm)->id }, { "VTISM_VM_NAME", (vm)->name })

/* ---- m->vms and its pid index: every insertion, removal and move goes through these ---- */

Vm *manager_vm_by_pid(const Manager *m, pid_t pid, size_t *ret_index) {
        size_t i;

        if (!pid_index_get(&m->vm_pids, pid, &i))
                return NULL;
        assert(i < m->n_vms && m->vms[i]->pid == pid);
        if (ret_index)
                *ret_index = i;
        return m->vms[i];
}

static void vms_append(Manager *m, Vm *vm) {
        int r = pid_index_add(&m->vm_pids, vm->pid, m->n_vms);

        assert(r >= 0); /* on_vm_started() looked for the pid first */
        (void) r;
        m->vms = xreallocarray(m->vms, m->n_vms + 1, sizeof(Vm *));
        m->vms[m->n_vms++] = vm;
}

/* vm (in m->vms already) to place i. */
static void vms_put(Manager *m, size_t i, Vm *vm) {
        int r = pid_index_set(&m->vm_pids, vm->pid, i);

        assert(r >= 0);
        (void) r;
        m->vms[i] = vm;
}

static void vms_swap(Manager *m, size_t i, size_t j) {
        Vm *t = m->vms[i];

        vms_put(m, i, m->vms[j]);
        vms_put(m, j, t);
}

/* m->vms[index] out (the caller frees it), the last VM into its place. */
static void vms_remove(Manager *m, size_t index) {
        int r = pid_index_remove(&m->vm_pids, m->vms[index]->pid);

        assert(r >= 0);
        (void) r;
        m->n_vms--;
        if (index < m->n_vms)
                vms_put(m, index, m->vms[m->n_vms]);
}

static void vm_detach_tracker(Manager *m, Vm *vm) {
        if (m->sampling_vm == vm) {
                /* A sliced pass in flight ends here: its heat cycle closes with what it sampled. */
                if (vm->heat)
                        (void) heatmap_cycle_end(vm->heat);
                m->sampling_vm = NULL;
        }
        if (vm->target_added && m->tracker && m->tracker->ops->target_remove)
                m->tracker->ops->target_remove(m->tracker, &vm->target);
        vm->target_added = false;
}

static void identities_invalidate(Manager *m);

/* reason: VTISM_VM_LOST_REASON= ("stopped", "crashed", "migrated away", "exited", "gone"); why: the
 * message's words for it. */
static void remove_vm(Manager *m, size_t index, const char *reason, const char *why) {
        Vm *vm = m->vms[index];

        /* Found in this very burst (or its own identity changed in it): resolved first, so that
         * its "lost" line follows its "found" one and names it as it is (settling moves no VM in
         * m->vms). A VM gone that was known before costs no pass here: n gone, one pass. */
        if (vm->announce_source || vm->identity_stale)
                manager_identities_settle(m);
        log_fields(LOG_INFO, FIELDS({ "MESSAGE_ID", VTISM_MESSAGE_VM_LOST_STR }, { "VTISM_VM", vm->id }, { "VTISM_VM_NAME", vm->name },
                                    { "VTISM_VM_LOST_REASON", reason }),
                   "VM %s (pid %d) %s; no longer tracked.", vm->name, (int) vm->pid, why);
        vm_detach_tracker(m, vm);
        manager_placement_free_vm(m, vm);
        vms_remove(m, index);
        vm_free(vm);
        if (index < m->sample_cursor) {
                /* Keep [0, cursor) the VMs already sampled in the cycle in flight: the one moved
                 * into the hole (from the end) goes to the cursor's side. */
                m->sample_cursor--;
                if (index < m->sample_cursor && m->sample_cursor < m->n_vms)
                        vms_swap(m, index, m->sample_cursor);
                /* A sliced pass in flight goes on with its VM, which manager_vms_cycle_step()
                 * expects just before the cursor: it came to index if it was there or last. */
                if (m->sampling_vm && m->sample_cursor > 0 && m->vms[m->sample_cursor - 1] != m->sampling_vm) {
                        assert(m->vms[index] == m->sampling_vm);
                        vms_swap(m, index, m->sample_cursor - 1);
                }
        }
        manager_notify_changed(m, MANAGER_CHANGED_VMS);
        /* A name or uuid it held may be free for another VM's claim now. */
        identities_invalidate(m);
}

/* (Re)resolve the VM's policy in the current config, and say so when it changed. */
static void vm_resolve_policy(Manager *m, Vm *vm) {
        char budget[FORMAT_BYTES_MAX + 32];
        const VtPolicy *p;

        if (!vm_apply_policy(vm, m->config))
                return;
        if (!vm->trusted)
                return; /* never tiered: its policy does not matter, nor does a line about it */
        if (vm->policy.metadata_error)
                log_fields(LOG_WARNING, VM_FIELDS(vm), "VM %s: %s.", vm->name, vm->policy.metadata_error);
        p = &vm->policy.policy;
        if (p->budget_is_percent)
                snprintf(budget, sizeof(budget), "%u%% of guest RAM", p->dram_budget_percent);
        else
                format_bytes(budget, sizeof(budget), p->dram_budget_bytes);
        log_fields(LOG_INFO, VM_FIELDS(vm), "VM %s: policy %s, DRAM budget %s, weight %u%s%s.", vm->name,
                   vm->policy.source, budget, p->weight, p->pin_dram ? ", pinned to DRAM" : "",
                   p->never_migrate ? ", never migrated" : "");
}

/* ---- run state (vmsource.h: libvirt's word) ---- */

/*
 * What a VM that does not run means for its heat and pages:
 *   paused         not sampled: its heat is kept as it was (a paused guest touches nothing, and
 *                  sampling it would decay its hot set to cold); its pages stay where they are
 *                  (frozen in the plan: it keeps the DRAM it holds); sampled again when it runs
 *   migrating out  neither sampled (QEMU reads every page to send it: all would look hot) nor
 *                  moved (a moved page is a dirty page sent again); a round running moves for it
 *                  ends at once. Back to running (the migration failed or was cancelled): its heat
 *                  is the one from before, the tracker's period starts again (one cycle's accesses,
 *                  the migration's reads, are thrown away). Migrated away: forgotten (MIGRATED_OUT)
 *   migrating in   neither sampled (the migration stream writes every page) nor moved; when it
 *                  runs here it starts fresh: a new heat map and placement, as if just started
 */
/* A run state change's entry: its MESSAGE_ID (message-ids.h: one per event), the VM, the state it is
 * in now and libvirt's reason (none when running). */
#define RUN_STATE_FIELDS(vm, message_id)                                                               \
        FIELDS({ "MESSAGE_ID", message_id }, { "VTISM_VM", (vm)->id }, { "VTISM_VM_NAME", (vm)->name },  \
               { "VTISM_RUN_STATE", vm_run_state_to_string((vm)->run_state) ?: "?" },                     \
               { "VTISM_RUN_STATE_REASON", (vm)->run_state_why })

/* The line of a change of the VM's run state since its last one, if any. */
static void log_run_state(Vm *vm) {
        VmRunState rs = vm->run_state, old = vm->run_state_logged;
        const char *why = vm->run_state_why;

        if (rs == old)
                return;
        vm->run_state_logged = rs;
        if (rs != VM_RUN_RUNNING)
                log_fields(LOG_INFO, RUN_STATE_FIELDS(vm, rs == VM_RUN_PAUSED ? VTISM_MESSAGE_VM_PAUSED_STR :
                                                          rs == VM_RUN_MIGRATING_OUT ? VTISM_MESSAGE_VM_MIGRATING_OUT_STR :
                                                          VTISM_MESSAGE_VM_MIGRATING_IN_STR),
                           "VM %s (pid %d) %s (%s): %s.", vm->name, (int) vm->pid,
                           rs == VM_RUN_PAUSED ? "is paused" : rs == VM_RUN_MIGRATING_OUT ? "is being migrated out" : "is being migrated in",
                           why ?: "libvirt",
                           rs == VM_RUN_PAUSED ? "not sampled, its heat is kept and its pages stay where they are" :
                           rs == VM_RUN_MIGRATING_OUT ? "vtism stops moving its pages" :
                           "not sampled or moved until it runs here");
        else
                log_fields(LOG_INFO, RUN_STATE_FIELDS(vm, old == VM_RUN_MIGRATING_IN ? VTISM_MESSAGE_VM_MIGRATED_IN_STR :
                                                          old == VM_RUN_MIGRATING_OUT ? VTISM_MESSAGE_VM_MIGRATION_ABORTED_STR :
                                                          VTISM_MESSAGE_VM_RESUMED_STR),
                           "VM %s (pid %d) runs again (was %s)%s.", vm->name, (int) vm->pid, vm_run_state_to_string(old) ?: "?",
                           old == VM_RUN_MIGRATING_IN ? ": migrated in, its heat starts fresh" :
                           old == VM_RUN_MIGRATING_OUT ? ": the migration did not complete, it is tiered again" : "");
}

static void vm_set_run_state(Manager *m, Vm *vm, VmRunState rs, const char *why) {
        VmRunState old = vm->run_state;
        /* What the VM is called is resolved in this burst's pass, its lines wait for it: */
        bool wait = vm->announce_source || vm->identity_stale;

        if (rs == old && streq_ptr(why, vm->run_state_why))
                return;
        if (wait && rs != old && vm->run_state_logged != old) {
                /* ... but a line still waiting is said before the next one, not lost */
                manager_identities_settle(m);
                wait = false;
        }
        free(vm->run_state_why);
        vm->run_state_why = why ? xstrdup(why) : NULL;
        vm->run_state = rs;
        manager_notify_changed(m, MANAGER_CHANGED_VMS);
        if (rs == old)
                return;
        if (!wait)
                log_run_state(vm);

        if (rs != VM_RUN_RUNNING) {
                manager_placement_hold_vm(m, vm);
                return;
        }
        if (old == VM_RUN_MIGRATING_IN && vm->heat) {
                /* Start fresh: what was sampled or placed before it ran here is the migration's. */
                vm_detach_tracker(m, vm);
                manager_placement_free_vm(m, vm);
                vm->heat = heatmap_free(vm->heat);
                vm->cycles = 0;
                vm->setup_logged = false; /* say it again: a new heat map */
                if (vm->state == VM_STATE_TRACKED || vm->state == VM_STATE_UNTRACKABLE) {
                        vm->state = VM_STATE_NEW;
                        vm->retry_in_cycles = 0;
                }
        }
        if (old != VM_RUN_PAUSED)
                vm->restart_period = 1; /* the migration read or wrote every page since the last sample */
}

/* ---- trust and identity (vm.h) ---- */

static bool uid_allowed(const Manager *m, uid_t uid) {
        if (m->qemu_users_all)
                return true;
        if (uid == (uid_t) -1)
                return false;
        for (size_t i = 0; i < m->n_qemu_uids; i++)
                if (m->qemu_uids[i] == uid)
                        return true;
        return false;
}

/* config qemu_users -> uids: a user name first, else a decimal uid (as chown(1) reads them). */
static void resolve_qemu_users(Manager *m) {
        const VtConf *c = m->config;

        free(m->qemu_uids);
        m->qemu_uids = NULL;
        m->n_qemu_uids = 0;
        m->qemu_users_all = false;
        for (size_t i = 0; i < c->n_qemu_users; i++) {
                const char *u = c->qemu_users[i];
                struct passwd pw, *found = NULL;
                char buf[4096];
                uint64_t v;
                uid_t uid;

                if (streq(u, "*")) {
                        m->qemu_users_all = true;
                        continue;
                }
                if (getpwnam_r(u, &pw, buf, sizeof(buf), &found) == 0 && found)
                        uid = found->pw_uid;
                else if (safe_atou64(u, &v) >= 0 && v < (uid_t) -1)
                        uid = (uid_t) v;
                else {
                        log_info("%s: qemu_users: there is no user '%s' on this host, ignoring it.",
                                 c->path ?: "(built-in)", u);
                        continue;
                }
                m->qemu_uids = xreallocarray(m->qemu_uids, m->n_qemu_uids + 1, sizeof(uid_t));
                m->qemu_uids[m->n_qemu_uids++] = uid;
        }
}

/* Trusted: libvirt vouches for it, or its owner is allowed. Returns true if that changed. */
static bool vm_update_trust(Manager *m, Vm *vm) {
        bool trusted = (vm->sources & VM_SOURCE_LIBVIRT) || uid_allowed(m, vm->uid);

        if (trusted == vm->trusted && (trusted ? vm->state != VM_STATE_IGNORED : vm->state == VM_STATE_IGNORED))
                return false;
        vm->trusted = trusted;
        free(vm->error);
        vm->error = NULL;
        if (trusted) {
                vm->state = VM_STATE_NEW;
                vm->retry_in_cycles = 0;
                return true;
        }
        /* Never sampled, planned or migrated: let go of all it had. */
        vm_detach_tracker(m, vm);
        vm->heat = heatmap_free(vm->heat);
        vm->state = VM_STATE_IGNORED;
        vm->error = vm->uid == (uid_t) -1 ? xstrdup("not tiered: its owner cannot be read")
                                          : xasprintf("not tiered: its owner, uid %u, is not in qemu_users",
                                                      (unsigned) vm->uid);
        return true;
}

static void on_identity_changed(Vm *vm, void *userdata) {
        Manager *m = userdata;

        if (vm->trusted && vm->identity_conflict)
                log_fields(LOG_WARNING, VM_FIELDS(vm), "VM %s (pid %d, uid %d): %s.", vm->name, (int) vm->pid,
                           vm->uid == (uid_t) -1 ? -1 : (int) vm->uid, vm->identity_conflict);
        if (vm->policy.source) /* a new VM gets its policy once it is announced (vm_announce()) */
                vm_resolve_policy(m, vm);
        manager_notify_changed(m, MANAGER_CHANGED_VMS);
}

/* A VM found since the last resolution: what it is called now, its policy and run state. */
static void vm_announce(Manager *m, Vm *vm) {
        const char *source = source_name(vm->announce_source);

        vm->announce_source = 0;
        vm->policy_stale = false;
        if (vm->trusted)
                log_fields(LOG_INFO, VM_EVENT_FIELDS(vm, VTISM_MESSAGE_VM_FOUND_STR), "VM %s (pid %d) found via %s.", vm->name,
                           (int) vm->pid, source);
        else
                log_fields(LOG_NOTICE, VM_EVENT_FIELDS(vm, VTISM_MESSAGE_VM_FOUND_STR), "VM %s (pid %d) found via %s, ignored (%s)%s%s.",
                           vm->name, (int) vm->pid, source, vm->error, vm->identity_conflict ? "; " : "",
                           vm->identity_conflict ?: "");
        vm_resolve_policy(m, vm);
        log_run_state(vm);
}

static int cmp_vm_seq(const void *a, const void *b) {
        uint64_t x = (*(Vm *const *) a)->seq, y = (*(Vm *const *) b)->seq;

        return x < y ? -1 : x > y;
}

static int on_identities_defer(sd_event_source *s, void *userdata) {
        (void) s;
        manager_identities_settle(userdata);
        return 0;
}

/* After anything that may change whom to trust or what a VM is called: a VM came or went, a
 * source said something new, the config changed. Resolved once the current dispatch is over
 * (manager.h, manager_identities_settle()). */
static void identities_invalidate(Manager *m) {
        int r;

        m->identities_dirty = true;
        if (!m->event)
                return;
        if (!m->identities_defer) {
                r = sd_event_add_defer(m->event, &m->identities_defer, on_identities_defer, m);
                if (r < 0) {
                        /* They are settled all the same, by the next reader. */
                        log_debug_errno(r, "Cannot defer resolving VM identities: %m");
                        return;
                }
                /* Before every other source: the bus's calls and the cycle see them settled. */
                (void) sd_event_source_set_priority(m->identities_defer, SD_EVENT_PRIORITY_IMPORTANT);
                (void) sd_event_source_set_description(m->identities_defer, "identities");
        }
        (void) sd_event_source_set_enabled(m->identities_defer, SD_EVENT_ONESHOT);
}

void manager_identities_settle(Manager *m) {
        _cleanup_free_ bool *trust_changed = NULL;
        _cleanup_free_ Vm **found = NULL;
        size_t n_found = 0;

        if (!m->identities_dirty)
                return;
        m->identities_dirty = false;
        if (m->identities_defer)
                (void) sd_event_source_set_enabled(m->identities_defer, SD_EVENT_OFF);
        if (m->n_vms == 0)
                return;
        trust_changed = xcalloc(m->n_vms, sizeof(bool));
        for (size_t i = 0; i < m->n_vms; i++)
                trust_changed[i] = vm_update_trust(m, m->vms[i]);
        vm_resolve_identities(m->vms, m->n_vms, on_identity_changed, m);
        m->identity_resolutions++;
        found = xcalloc(m->n_vms, sizeof(Vm *));
        for (size_t i = 0; i < m->n_vms; i++) {
                Vm *vm = m->vms[i];

                vm->identity_stale = false;
                if (vm->announce_source) {
                        found[n_found++] = vm; /* its "found" line says it all */
                        continue;
                }
                log_run_state(vm); /* a change that waited for its name */
                if (vm->policy_stale) {
                        vm->policy_stale = false;
                        vm_resolve_policy(m, vm); /* its command line or libvirt metadata changed */
                }
                if (!trust_changed[i])
                        continue;
                if (vm->trusted)
                        log_fields(LOG_INFO, VM_FIELDS(vm), "VM %s (pid %d) is trusted now (%s) and will be tiered.",
                                   vm->name, (int) vm->pid,
                                   vm->sources & VM_SOURCE_LIBVIRT ? "libvirt vouches for it" : "its owner is in qemu_users");
                else
                        log_fields(LOG_NOTICE, VM_FIELDS(vm), "VM %s (pid %d) is ignored from now on (%s)%s%s.",
                                   vm->name, (int) vm->pid, vm->error, vm->identity_conflict ? "; " : "",
                                   vm->identity_conflict ?: "");
                vm_resolve_policy(m, vm);
                manager_notify_changed(m, MANAGER_CHANGED_VMS);
        }
        /* In discovery order (a VM gone meanwhile may have moved one found later before it). */
        qsort(found, n_found, sizeof(Vm *), cmp_vm_seq);
        for (size_t k = 0; k < n_found; k++)
                vm_announce(m, found[k]);
}

static void on_vm_started(Manager *m, unsigned source, const VmIdentity *id) {
        unsigned long long start_time;
        Vm *vm;

        if (id->pid <= 0) {
                log_debug("%s reported VM %s without a QEMU pid; ignoring it.", source_name(source), id->name);
                return;
        }
        vm = manager_vm_by_pid(m, id->pid, NULL);
        if (vm) {
                /* libvirt's <numatune> and vCPU pinning decide the home node: a VM found via /proc
                 * first got its home from its pages; pick it again once libvirt tells. */
                bool home_hints = source == VM_SOURCE_LIBVIRT && (!streq_ptr(vm->numa_nodeset, id->numa_nodeset) ||
                                                                  !streq_ptr(vm->vcpu_cpuset, id->vcpu_cpuset));
                bool changed = vm_update_identity(vm, source, id->uuid, id->name, id->cmdline, id->numa_nodeset,
                                                  id->vcpu_cpuset);

                if (home_hints && vm->heat) {
                        vm_pick_home_node(vm, m->topology);
                        changed = true;
                }

                if (source == VM_SOURCE_LIBVIRT && vm_set_libvirt_policy(vm, id->policy_xml))
                        changed = true;

                if (id->uid != (uid_t) -1 && vm->uid != id->uid) {
                        vm->uid = id->uid;
                        changed = true;
                }
                vm->resync_seen |= source;
                if (changed) {
                        vm->identity_stale = true;
                        vm->policy_stale = true; /* the command line or metadata may have changed */
                        identities_invalidate(m);
                        manager_notify_changed(m, MANAGER_CHANGED_VMS);
                }
                if (source == VM_SOURCE_LIBVIRT)
                        vm_set_run_state(m, vm, id->run_state, id->run_state_why);
                return;
        }
        start_time = id->start_time;
        if (start_time == 0) {
                int r = proc_pid_start_time(m->proc_root, id->pid, &start_time);
                if (r < 0) {
                        log_debug_errno(r, "VM %s (pid %d) cannot be followed: %s", id->name, (int) id->pid,
                                        r == -ESRCH ? "it is already gone" : "its start time is unreadable");
                        return;
                }
        }

        vm = vm_new(id->pid, start_time);
        vm->seq = ++m->vm_seq;
        vm->uid = id->uid;
        if (id->default_name) {
                free(vm->default_name);
                vm->default_name = xstrdup(id->default_name);
        }
        (void) vm_update_identity(vm, source, id->uuid, id->name, id->cmdline, id->numa_nodeset, id->vcpu_cpuset);
        if (source == VM_SOURCE_LIBVIRT)
                (void) vm_set_libvirt_policy(vm, id->policy_xml);
        (void) vm_update_trust(m, vm); /* said in its "found" line, not as a change */
        vm->resync_seen = source;
        vm->announce_source = source; /* once its identity is resolved: vm_announce() */
        vms_append(m, vm);
        identities_invalidate(m);
        if (source == VM_SOURCE_LIBVIRT)
                vm_set_run_state(m, vm, id->run_state, id->run_state_why);
        manager_notify_changed(m, MANAGER_CHANGED_VMS);
}

static void on_vm_event(VmSource *s, VmEvent event, const VmIdentity *id, void *userdata) {
        Manager *m = userdata;
        unsigned source = s == m->libvirt_source ? VM_SOURCE_LIBVIRT : VM_SOURCE_PROC;
        size_t index;

        switch (event) {
        case VM_EVENT_RESYNC_BEGIN:
                for (size_t i = 0; i < m->n_vms; i++)
                        m->vms[i]->resync_seen &= ~source;
                break;

        case VM_EVENT_STARTED:
        case VM_EVENT_CHANGED: /* the libvirt metadata: the known VM's identity path re-resolves its policy */
                on_vm_started(m, source, id);
                break;

        case VM_EVENT_STOPPED:
        case VM_EVENT_CRASHED:
        case VM_EVENT_MIGRATED_OUT:
                if (!id || !manager_vm_by_pid(m, id->pid, &index))
                        break;
                /* /proc only sees the process vanish; for a libvirt domain, libvirt says why. */
                if (source == VM_SOURCE_PROC && (m->vms[index]->sources & VM_SOURCE_LIBVIRT)) {
                        vm_drop_source(m->vms[index], VM_SOURCE_PROC);
                        break;
                }
                {
                        const char *reason = event == VM_EVENT_CRASHED ? "crashed" :
                                             event == VM_EVENT_MIGRATED_OUT ? "migrated away" : "stopped";
                        remove_vm(m, index, reason, reason);
                }
                break;

        case VM_EVENT_RESYNC_END: {
                bool dropped = false;

                for (size_t i = 0; i < m->n_vms;) {
                        Vm *vm = m->vms[i];

                        if ((vm->sources & source) && !(vm->resync_seen & source)) {
                                vm_drop_source(vm, source);
                                dropped = true;
                                if (vm->sources == 0) {
                                        remove_vm(m, i, "gone", "is gone");
                                        continue;
                                }
                                vm->identity_stale = true;
                                if (source == VM_SOURCE_LIBVIRT) /* nobody can say now: it runs */
                                        vm_set_run_state(m, vm, VM_RUN_RUNNING, NULL);
                        }
                        i++;
                }
                if (dropped)
                        identities_invalidate(m); /* libvirt no longer vouches for some: back to their claims */
                break;
        }

        default:
                break;
        }
}

/* Processes the configuration names explicitly ("processes" entries) are tracked like VMs. */
static bool proc_matcher(pid_t pid, char *const *argv, size_t argc, void *userdata) {
        Manager *m = userdata;
        const VtConf *c = m->config;
        _cleanup_free_ char *joined = NULL;

        if (c->n_processes == 0)
                return false;

        for (size_t i = 0; i < argc; i++) {
                char *next = xasprintf("%s%s%s", joined ?: "", i > 0 ? " " : "", argv[i]);
                free(joined);
                joined = next;
        }
        for (size_t i = 0; i < c->n_processes; i++) {
                const VtProcess *p = &c->processes[i];

                if (p->pid > 0 && p->pid == pid)
                        return true;
                if (p->exe && fnmatch(p->exe, argv[0], 0) == 0)
                        return true;
                if (p->cmdline && fnmatch(p->cmdline, joined, 0) == 0)
                        return true;
        }
        return false;
}

static void heat_params_from_config(const VtConf *c, HeatParams *p) {
        heat_params_init_default(p);
        p->decay_percent = c->heat_decay_percent;
        p->hist_range_bytes = c->heat_range_bytes;
}

#define TRACKER_FIELDS(name) FIELDS({ "MESSAGE_ID", VTISM_MESSAGE_TRACKER_CHANGED_STR }, { "VTISM_TRACKER", name })
/* Why the tracker in use is the one (or none is): after every pick, with the reasons as they
 * are then (a tracker that failed to start says so). */
static void tracker_choice_update(Manager *m) {
        free(m->tracker_choice);
        m->tracker_choice = tracker_pick_explain(m->config->tracker, m->tracker_reasons, m->tracker ? m->tracker->ops : NULL);
}

int manager_vm_trackers(const Manager *m, Vm *vm, char **ret_feeds, char **ret_why) {
        switch (vm->state) {
        case VM_STATE_NEW:
                return -ENODATA;
        case VM_STATE_TRACKED:
                if (m->tracker && vm->target_added) {
                        *ret_feeds = tracker_target_feeds(m->tracker, &vm->target);
                        *ret_why = tracker_describe_target(m->tracker, &vm->target);
                        return 0;
                }
                break;
        default:
                break;
        }
        *ret_feeds = xstrdup("none");
        *ret_why = xstrdup(vm->error ?: "not sampled");
        return 0;
}

int manager_tracker_setup(Manager *m) {
        const TrackerOps *ops = NULL;
        TrackerContext ctx = { .proc_root = m->proc_root, .sysfs_root = m->sysfs_root };
        Tracker *t = NULL;
        int r;

        for (int k = 0; k < _TRACKER_KIND_MAX; k++) {
                free(m->tracker_reasons[k]);
                m->tracker_reasons[k] = NULL;
        }
        tracker_probe_all(&ctx, m->tracker_reasons);
        r = tracker_pick(m->config->tracker, m->tracker_reasons, &ops);

        if (m->tracker && m->tracker->ops == ops) {
                tracker_choice_update(m); /* unchanged, the reasons re-probed */
                return 0;
        }

        /* Switching trackers: every VM starts over with the new one (heat is kept). */
        for (size_t i = 0; i < m->n_vms; i++) {
                vm_detach_tracker(m, m->vms[i]);
                m->vms[i]->setup_logged = false; /* say which tracker follows it now */
                if (m->vms[i]->state != VM_STATE_IGNORED)
                        m->vms[i]->state = VM_STATE_NEW;
        }
        m->tracker = tracker_free(m->tracker);

        /* A tracker that fails to start is no reason to exit: auto falls back to the next one. */
        if (r >= 0)
                r = tracker_start(m->config->tracker, &ctx, m->tracker_reasons, &t);
        if (r < 0) {
                if (m->config->tracker == TRACKER_AUTO)
                        log_fields(LOG_WARNING, TRACKER_FIELDS("none"), "No access tracker is usable on this host; VMs are listed but not sampled. "
                                    "idle_pages: %s; page_idle: %s; damon: %s; softdirty: %s.",
                                    m->tracker_reasons[TRACKER_IDLE_PAGES], m->tracker_reasons[TRACKER_PAGE_IDLE],
                                    m->tracker_reasons[TRACKER_DAMON], m->tracker_reasons[TRACKER_SOFTDIRTY]);
                else
                        log_fields(LOG_WARNING, TRACKER_FIELDS("none"), "The configured tracker %s is not usable: %s. VMs are listed but not sampled.",
                                    tracker_kind_to_string(m->config->tracker),
                                    m->tracker_reasons[m->config->tracker] ?: "unknown tracker");
                tracker_choice_update(m);
                return 0;
        }

        m->tracker = t;
        tracker_choice_update(m);
        log_fields(LOG_INFO, TRACKER_FIELDS(t->ops->name), "Access tracker: %s.", m->tracker_choice);
        return 0;
}

static void start_libvirt_source(Manager *m) {
        int r;

        if (!m->config->libvirt_uri || !*m->config->libvirt_uri)
                return;
        r = vmsource_libvirt_new(m->event, m->config->libvirt_uri, m->proc_root, on_vm_event, m, &m->libvirt_source);
        if (r < 0)
                log_warning_errno(r, "Cannot watch libvirt at %s, finding VMs in /proc only: %m", m->config->libvirt_uri);
}

/* After a reload: whom to trust (qemu_users), every VM's policy from the new config, the libvirt
 * URI, new heat parameters, and the tracker the config asks for now. */
int manager_vms_apply_config(Manager *m) {
        HeatParams params;

        resolve_qemu_users(m);
        identities_invalidate(m);
        manager_identities_settle(m); /* now: the policies below match on them */
        if (m->libvirt_source)
                (void) vmsource_libvirt_set_uri(m->libvirt_source, m->config->libvirt_uri);
        else
                start_libvirt_source(m);
        heat_params_from_config(m->config, &params);
        for (size_t i = 0; i < m->n_vms; i++) {
                Vm *vm = m->vms[i];

                vm_resolve_policy(m, vm);

                if (!vm->heat)
                        continue;
                if (heatmap_params(vm->heat)->hist_range_bytes != params.hist_range_bytes) {
                        /* The histogram windows changed size: start the VM's heat map over. */
                        vm_detach_tracker(m, vm);
                        manager_placement_forget_vm(m, vm);
                        vm->heat = heatmap_free(vm->heat);
                        vm->state = VM_STATE_NEW;
                        vm->setup_logged = false;
                        continue;
                }
                (void) heatmap_set_params(vm->heat, &params);
        }
        return manager_tracker_setup(m);
}

int manager_vms_start(Manager *m) {
        int r;

        resolve_qemu_users(m);
        start_libvirt_source(m);
        r = vmsource_proc_new(m->proc_root, proc_matcher, on_vm_event, m, &m->proc_source);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the /proc VM source: %m");
        (void) vmsource_proc_scan(m->proc_source);
        return manager_tracker_setup(m);
}

void manager_vms_done(Manager *m) {
        m->identities_defer = sd_event_source_unref(m->identities_defer);
        m->identities_dirty = false;
        for (size_t i = 0; i < m->n_vms; i++) {
                vm_detach_tracker(m, m->vms[i]);
                manager_placement_free_vm(m, m->vms[i]);
                vm_free(m->vms[i]);
        }
        free(m->vms);
        m->vms = NULL;
        m->n_vms = 0;
        pid_index_clear(&m->vm_pids);
        free(m->qemu_uids);
        m->qemu_uids = NULL;
        m->n_qemu_uids = 0;
        m->tracker = tracker_free(m->tracker);
        free(m->tracker_choice);
        m->tracker_choice = NULL;
        m->libvirt_source = vmsource_free(m->libvirt_source);
        m->proc_source = vmsource_free(m->proc_source);
        for (int k = 0; k < _TRACKER_KIND_MAX; k++) {
                free(m->tracker_reasons[k]);
                m->tracker_reasons[k] = NULL;
        }
}

/* Not sampled for now, retried every RETRY_CYCLES. One log line per outage, with its first reason,
 * not one per retry (a reason that changes meanwhile goes to debug; status shows the current one). */
static void vm_set_untrackable(Vm *vm, char *reason) {
        if (!vm->logged_error) {
                log_fields(LOG_NOTICE, VM_FIELDS(vm), "VM %s (pid %d) is not sampled: %s.", vm->name, (int) vm->pid,
                           reason);
                vm->logged_error = xstrdup(reason);
        } else if (!streq(vm->logged_error, reason)) {
                log_fields(LOG_DEBUG, VM_FIELDS(vm), "VM %s (pid %d) is still not sampled, now: %s.", vm->name,
                           (int) vm->pid, reason);
                free(vm->logged_error);
                vm->logged_error = xstrdup(reason);
        }
        vm->state = VM_STATE_UNTRACKABLE;
        free(vm->error);
        vm->error = reason;
        vm->retry_in_cycles = RETRY_CYCLES;
}

/* Locate guest RAM, build the heat map, hand the VM to the tracker. */
static int vm_setup(Manager *m, Vm *vm) {
        _cleanup_free_ char *reason = NULL;
        uint64_t host_bytes = 0;
        HeatParams params;
        int r;

        if (!vm->heat) {
                r = vm_locate_ram(vm, m->proc_root, &reason);
                if (r == -ESRCH)
                        return r;
                if (r < 0)
                        goto untrackable;
                for (size_t i = 0; i < m->topology->n_nodes; i++)
                        host_bytes += m->topology->nodes[i].total_bytes;
                if (host_bytes > 0 && vm->ram_bytes / RAM_MAX_HOST_FACTOR > host_bytes) {
                        char a[FORMAT_BYTES_MAX], b[FORMAT_BYTES_MAX];

                        reason = xasprintf("its guest RAM (%s) is more than %u times this host's memory (%s): not tiered",
                                           format_bytes(a, sizeof(a), vm->ram_bytes), RAM_MAX_HOST_FACTOR,
                                           format_bytes(b, sizeof(b), host_bytes));
                        goto untrackable;
                }

                heat_params_from_config(m->config, &params);
                r = heatmap_new(vm->ranges, vm->n_ranges, &params, &vm->heat);
                if (r < 0) {
                        reason = xasprintf("cannot build a heat map of its guest RAM: %s", strerror(-r));
                        goto untrackable;
                }
        }
        vm_pick_home_node(vm, m->topology);

        if (!m->tracker) {
                reason = m->config->tracker == TRACKER_AUTO ? xstrdup("no access tracker is usable on this host") :
                         xasprintf("the configured tracker %s is not usable on this host",
                                   tracker_kind_to_string(m->config->tracker) ?: "?");
                goto untrackable;
        }
        r = m->tracker->ops->target_add(m->tracker, &vm->target);
        if (r == -ESRCH)
                return r;
        if (r < 0) {
                reason = xasprintf("the %s tracker cannot follow it: %s", m->tracker->ops->name, strerror(-r));
                goto untrackable;
        }
        vm->target_added = true;
        vm->state = VM_STATE_TRACKED;
        free(vm->error);
        vm->error = NULL;
        if (!vm->setup_logged)
                log_fields(LOG_INFO, VM_FIELDS(vm), "VM %s: %zu guest RAM range%s, %" PRIu64 " MiB, home node %d (%s), tracker %s.",
                           vm->name, vm->n_ranges, vm->n_ranges == 1 ? "" : "s", vm->ram_bytes / MIB, vm->home_node,
                           vm_home_reason_to_string(vm->home_reason) ?: "none", m->tracker->ops->name);
        vm->setup_logged = true;
        return 0;

untrackable:
        vm_set_untrackable(vm, TAKE_PTR(reason));
        return 0;
}

/* After the VM's tracker pass (whole or the last step of a sliced one) returned r. */
static int vm_sampled(Manager *m, Vm *vm, const TrackerOps *ops, int r) {
        if (r == -ESRCH)
                return r;
        if (r < 0) {
                m->counters.sample_errors++;
                /* The VM runs but its tracker cannot read it (a kernel file gone or
                 * failing): say so once, keep its heat, try again in RETRY_CYCLES. */
                vm_detach_tracker(m, vm);
                vm_set_untrackable(vm, xasprintf("the %s tracker cannot follow it: %s", ops->name, strerror(-r)));
        } else {
                if (vm->logged_error && vm->cycles > 0)
                        log_fields(LOG_INFO, VM_FIELDS(vm), "VM %s (pid %d) is sampled again.", vm->name,
                                   (int) vm->pid);
                free(vm->logged_error);
                vm->logged_error = NULL;
                vm->cycles++;
        }

        /* Placement is refreshed by the migrator (manager-placement.c), sampled or not. */
        (void) vm_refresh_home_node(vm, m->topology);
        return 0;
}

/* The VM's cycle up to its tracker pass. Returns 1 when a sliced pass started (m->sampling_vm:
 * manager_vms_cycle_step() goes on with it), else 0 or -ESRCH with the VM's cycle done. */
static int vm_cycle(Manager *m, Vm *vm) {
        const TrackerOps *ops;
        int r;

        if (vm->state == VM_STATE_IGNORED) {
                /* Its owner could not be read when it was found: try again. */
                if (vm->uid == (uid_t) -1 && !(vm->sources & VM_SOURCE_LIBVIRT)) {
                        r = proc_pid_uid(m->proc_root, vm->pid, &vm->uid);
                        if (r == -ESRCH)
                                return r;
                        if (r >= 0)
                                identities_invalidate(m);
                }
                return 0;
        }

        if (vm->state != VM_STATE_TRACKED) {
                if (vm->retry_in_cycles > 0)
                        vm->retry_in_cycles--;
                else {
                        r = vm_setup(m, vm);
                        if (r < 0)
                                return r;
                }
        }

        if (vm->state != VM_STATE_TRACKED) {
                (void) vm_refresh_home_node(vm, m->topology);
                return 0;
        }

        if (vm->run_state != VM_RUN_RUNNING) {
                /* Not sampled: its heat stays as it is (see vm_set_run_state()). */
                (void) vm_refresh_home_node(vm, m->topology);
                return 0;
        }

        if (vm->restart_period > 0) {
                /* The accesses since the last sample are a migration's: read them into a heat map
                 * that is thrown away (a tracker that clears bits as it reads, idle_pages, has no
                 * other way to forget them), then start the period again. This one pass is not
                 * sliced: it happens once after a migration. */
                _cleanup_(heatmap_freep) HeatMap *scratch = NULL;

                vm->restart_period--;
                ops = m->tracker->ops;
                r = heatmap_new(vm->ranges, vm->n_ranges, heatmap_params(vm->heat), &scratch);
                if (r >= 0) {
                        heatmap_cycle_begin(scratch);
                        r = ops->check_accesses(m->tracker, &vm->target, scratch);
                        (void) heatmap_cycle_end(scratch);
                }
                if (r != -ESRCH)
                        r = ops->prepare_access_checks(m->tracker, &vm->target);
                if (r == -ESRCH)
                        return r;
                (void) vm_refresh_home_node(vm, m->topology);
                return 0;
        }

        ops = m->tracker->ops;
        heatmap_cycle_begin(vm->heat);
        if (ops->sample_step) {
                m->sampling_vm = vm;
                return 1;
        }
        r = ops->check_accesses(m->tracker, &vm->target, vm->heat);
        (void) heatmap_cycle_end(vm->heat);
        if (r >= 0)
                r = ops->prepare_access_checks(m->tracker, &vm->target);
        return vm_sampled(m, vm, ops, r);
}

/*
 * Liveness: one proc_pid_check() (one /proc/PID/stat read) per VM per cycle, here, before the
 * VM's cycle; the /proc scan reads nothing of pids it knows and the trackers do not check again
 * on their normal path (tracker.h). Only -ESRCH (gone, a zombie, the pid reused) ends a VM; any
 * other error leaves it and its heat alone until the next cycle.
 */
static int vm_check_alive(Manager *m, Vm *vm) {
        int r;

        r = proc_pid_check(m->proc_root, vm->pid, vm->start_time);
        if (r < 0 && r != -ESRCH)
                log_fields(LOG_DEBUG, VM_FIELDS(vm), "Cannot tell whether VM %s (pid %d) still runs, keeping it: %s",
                           vm->name, (int) vm->pid, strerror(-r));
        return r;
}

/* A VM's cycle ended with -ESRCH: it is gone (or, for libvirt's, waits for libvirt's word). */
static void vm_gone(Manager *m, size_t index) {
        Vm *vm = m->vms[index];

        /* libvirt's lifecycle event (stopped, crashed, migrated) follows QEMU's exit: wait a
         * while for its word. */
        usec_t now = clock_now_usec(CLOCK_MONOTONIC);

        if (vm->gone_usec == 0)
                vm->gone_usec = now;
        if ((vm->sources & VM_SOURCE_LIBVIRT) && now - vm->gone_usec < LIBVIRT_VERDICT_USEC) {
                vm_detach_tracker(m, vm);
                return;
        }
        log_fields(LOG_DEBUG, VM_FIELDS(vm), "VM %s (pid %d) vanished during the cycle.", vm->name, (int) vm->pid);
        if (m->proc_source)
                vmsource_proc_forget(m->proc_source, vm->pid); /* in case the pid was reused */
        remove_vm(m, index, "exited", "exited");
}

void manager_vms_cycle_begin(Manager *m) {
        if (m->proc_source)
                (void) vmsource_proc_scan(m->proc_source);
        manager_identities_settle(m); /* the scan's burst, in one pass */
        m->sample_cursor = 0;
}

int manager_vms_cycle_step(Manager *m, usec_t deadline_usec) {
        /* What happened between slices (the loop settles it first, a direct caller may not) */
        manager_identities_settle(m);
        for (bool first = true;; first = false) {
                Vm *vm = m->sampling_vm;
                int r;

                if (vm) {
                        /* The sliced pass of the VM just before the cursor. */
                        const TrackerOps *ops = m->tracker->ops;

                        assert(m->sample_cursor > 0 && m->vms[m->sample_cursor - 1] == vm);
                        r = ops->sample_step(m->tracker, &vm->target, vm->heat, deadline_usec);
                        if (r > 0)
                                return 1;
                        (void) heatmap_cycle_end(vm->heat);
                        m->sampling_vm = NULL;
                        r = vm_sampled(m, vm, ops, r);
                        if (r == -ESRCH)
                                vm_gone(m, m->sample_cursor - 1);
                        continue;
                }
                if (m->sample_cursor >= m->n_vms)
                        return 0;
                if (!first && deadline_usec != USEC_INFINITY && clock_now_usec(CLOCK_MONOTONIC) >= deadline_usec)
                        return 1;

                vm = m->vms[m->sample_cursor++];
                r = vm->gone_usec > 0 ? -ESRCH : vm_check_alive(m, vm);
                if (r != -ESRCH)
                        r = vm_cycle(m, vm);
                if (r == -ESRCH)
                        vm_gone(m, m->sample_cursor - 1);
        }
}

void manager_vms_cycle(Manager *m) {
        manager_vms_cycle_begin(m);
        while (manager_vms_cycle_step(m, USEC_INFINITY) > 0)
                ;
}
