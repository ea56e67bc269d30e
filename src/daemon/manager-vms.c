/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VM half of the manager: merges what the VM sources report (by pid: libvirt's word on
 * names wins, /proc finds the rest), locates each VM's guest RAM and keeps its heat map fed from
 * the tracker. Page residency and moves are the migrator's (manager-placement.c).
 */
#include <fnmatch.h>
#include <inttypes.h>
#include <string.h>

#include "vtism/log.h"
#include "vtism/manager.h"
#include "vtism/proc-pid.h"
#include "vtism/util.h"

/* An untrackable VM (RAM not located yet, e.g. QEMU still starting) is retried this often. */
#define RETRY_CYCLES 6u
/* A libvirt domain whose QEMU is gone is kept this many cycles for libvirt's stopped/crashed event. */
#define LIBVIRT_VERDICT_CYCLES 10u

static const char *source_name(unsigned bit) {
        return bit == VM_SOURCE_LIBVIRT ? "libvirt" : "proc";
}

#define VM_FIELDS(vm) FIELDS({ "VTISM_VM", (vm)->id }, { "VTISM_VM_NAME", (vm)->name })

static Vm *find_by_pid(Manager *m, pid_t pid, size_t *ret_index) {
        for (size_t i = 0; i < m->n_vms; i++)
                if (m->vms[i]->pid == pid) {
                        if (ret_index)
                                *ret_index = i;
                        return m->vms[i];
                }
        return NULL;
}

static void vm_detach_tracker(Manager *m, Vm *vm) {
        if (vm->target_added && m->tracker && m->tracker->ops->target_remove)
                m->tracker->ops->target_remove(m->tracker, &vm->target);
        vm->target_added = false;
}

static void remove_vm(Manager *m, size_t index, const char *why) {
        Vm *vm = m->vms[index];

        log_fields(LOG_INFO, VM_FIELDS(vm), "VM %s (pid %d) %s; no longer tracked.", vm->name, (int) vm->pid, why);
        vm_detach_tracker(m, vm);
        manager_placement_free_vm(m, vm);
        vm_free(vm);
        m->vms[index] = m->vms[--m->n_vms];
        manager_notify_changed(m, MANAGER_CHANGED_VMS);
}

/* (Re)resolve the VM's policy in the current config, and say so when it changed. */
static void vm_resolve_policy(Manager *m, Vm *vm) {
        char budget[FORMAT_BYTES_MAX + 32];
        const VtPolicy *p;

        if (!vm_apply_policy(vm, m->config))
                return;
        p = &vm->policy.policy;
        if (p->budget_is_percent)
                snprintf(budget, sizeof(budget), "%u%% of guest RAM", p->dram_budget_percent);
        else
                format_bytes(budget, sizeof(budget), p->dram_budget_bytes);
        log_fields(LOG_INFO, VM_FIELDS(vm), "VM %s: policy %s, DRAM budget %s, weight %u%s%s.", vm->name,
                   vm->policy.source, budget, p->weight, p->pin_dram ? ", pinned to DRAM" : "",
                   p->never_migrate ? ", never migrated" : "");
}

static void on_vm_started(Manager *m, unsigned source, const VmIdentity *id) {
        unsigned long long start_time;
        Vm *vm;

        if (id->pid <= 0) {
                log_debug("%s reported VM %s without a QEMU pid; ignoring it.", source_name(source), id->name);
                return;
        }
        vm = find_by_pid(m, id->pid, NULL);
        if (vm) {
                if (vm_update_identity(vm, source, id->uuid, id->name, id->cmdline, id->numa_nodeset,
                                       id->vcpu_cpuset)) {
                        vm_resolve_policy(m, vm);
                        manager_notify_changed(m, MANAGER_CHANGED_VMS);
                }
                vm->resync_seen |= source;
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
        (void) vm_update_identity(vm, source, id->uuid, id->name, id->cmdline, id->numa_nodeset, id->vcpu_cpuset);
        vm->resync_seen = source;
        m->vms = xreallocarray(m->vms, m->n_vms + 1, sizeof(Vm *));
        m->vms[m->n_vms++] = vm;
        log_fields(LOG_INFO, VM_FIELDS(vm), "VM %s (pid %d) found via %s.", vm->name, (int) vm->pid,
                   source_name(source));
        vm_resolve_policy(m, vm);
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
                on_vm_started(m, source, id);
                break;

        case VM_EVENT_STOPPED:
        case VM_EVENT_CRASHED:
        case VM_EVENT_MIGRATED_OUT:
                if (!id || !find_by_pid(m, id->pid, &index))
                        break;
                /* /proc only sees the process vanish; for a libvirt domain, libvirt says why. */
                if (source == VM_SOURCE_PROC && (m->vms[index]->sources & VM_SOURCE_LIBVIRT)) {
                        m->vms[index]->sources &= ~VM_SOURCE_PROC;
                        break;
                }
                remove_vm(m, index, event == VM_EVENT_CRASHED ? "crashed" :
                                    event == VM_EVENT_MIGRATED_OUT ? "migrated away" : "stopped");
                break;

        case VM_EVENT_RESYNC_END:
                for (size_t i = 0; i < m->n_vms;) {
                        Vm *vm = m->vms[i];

                        if ((vm->sources & source) && !(vm->resync_seen & source)) {
                                vm->sources &= ~source;
                                if (vm->sources == 0) {
                                        remove_vm(m, i, "is gone");
                                        continue;
                                }
                        }
                        i++;
                }
                break;

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

int manager_tracker_setup(Manager *m) {
        const TrackerOps *ops = NULL;
        TrackerContext ctx = { .proc_root = m->proc_root, .sysfs_root = m->sysfs_root };
        Tracker *t;
        int r;

        for (int k = 0; k < _TRACKER_KIND_MAX; k++) {
                free(m->tracker_reasons[k]);
                m->tracker_reasons[k] = NULL;
        }
        tracker_probe_all(&ctx, m->tracker_reasons);
        r = tracker_pick(m->config->tracker, m->tracker_reasons, &ops);

        if (m->tracker && m->tracker->ops == ops)
                return 0; /* unchanged */

        /* Switching trackers: every VM starts over with the new one (heat is kept). */
        for (size_t i = 0; i < m->n_vms; i++) {
                vm_detach_tracker(m, m->vms[i]);
                m->vms[i]->state = VM_STATE_NEW;
        }
        m->tracker = tracker_free(m->tracker);

        if (r < 0) {
                if (m->config->tracker == TRACKER_AUTO)
                        log_warning("No access tracker is usable on this host; VMs are listed but not sampled. "
                                    "idle_pages: %s; page_idle: %s; damon: %s.",
                                    m->tracker_reasons[TRACKER_IDLE_PAGES], m->tracker_reasons[TRACKER_PAGE_IDLE],
                                    m->tracker_reasons[TRACKER_DAMON]);
                else
                        log_warning("The configured tracker %s is not usable: %s. VMs are listed but not sampled.",
                                    tracker_kind_to_string(m->config->tracker),
                                    m->tracker_reasons[m->config->tracker] ?: "unknown tracker");
                return 0;
        }

        r = tracker_new(ops, &ctx, &t);
        if (r < 0) {
                free(m->tracker_reasons[ops->kind]);
                m->tracker_reasons[ops->kind] = xasprintf("failed to start: %s", strerror(-r));
                return log_warning_errno(r, "Failed to start the %s tracker: %m", ops->name);
        }
        m->tracker = t;
        log_info("Access tracker: %s%s.", ops->name, m->config->tracker == TRACKER_AUTO ? " (auto)" : "");
        return 0;
}

/* After a reload: every VM's policy from the new config, new heat parameters, and the tracker
 * the config asks for now. */
int manager_vms_apply_config(Manager *m) {
        HeatParams params;

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
                        continue;
                }
                (void) heatmap_set_params(vm->heat, &params);
        }
        return manager_tracker_setup(m);
}

int manager_vms_start(Manager *m) {
        int r;

        if (m->config->libvirt_uri && *m->config->libvirt_uri) {
                r = vmsource_libvirt_new(m->event, m->config->libvirt_uri, m->proc_root, on_vm_event, m,
                                         &m->libvirt_source);
                if (r < 0)
                        log_warning_errno(r, "Cannot watch libvirt at %s, finding VMs in /proc only: %m",
                                          m->config->libvirt_uri);
        }
        r = vmsource_proc_new(m->proc_root, proc_matcher, on_vm_event, m, &m->proc_source);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the /proc VM source: %m");
        (void) vmsource_proc_scan(m->proc_source);
        return manager_tracker_setup(m);
}

void manager_vms_done(Manager *m) {
        for (size_t i = 0; i < m->n_vms; i++) {
                vm_detach_tracker(m, m->vms[i]);
                manager_placement_free_vm(m, m->vms[i]);
                vm_free(m->vms[i]);
        }
        free(m->vms);
        m->vms = NULL;
        m->n_vms = 0;
        m->tracker = tracker_free(m->tracker);
        m->libvirt_source = vmsource_free(m->libvirt_source);
        m->proc_source = vmsource_free(m->proc_source);
        for (int k = 0; k < _TRACKER_KIND_MAX; k++) {
                free(m->tracker_reasons[k]);
                m->tracker_reasons[k] = NULL;
        }
}

/* Locate guest RAM, build the heat map, hand the VM to the tracker. */
static int vm_setup(Manager *m, Vm *vm) {
        _cleanup_free_ char *reason = NULL;
        HeatParams params;
        int r;

        if (!vm->heat) {
                r = vm_locate_ram(vm, m->proc_root, &reason);
                if (r == -ESRCH)
                        return r;
                if (r < 0)
                        goto untrackable;

                heat_params_from_config(m->config, &params);
                r = heatmap_new(vm->ranges, vm->n_ranges, &params, &vm->heat);
                if (r < 0) {
                        reason = xasprintf("cannot build a heat map of its guest RAM: %s", strerror(-r));
                        goto untrackable;
                }
        }
        vm_pick_home_node(vm, m->topology);

        if (!m->tracker) {
                reason = xstrdup("no access tracker is usable on this host");
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
        log_fields(LOG_INFO, VM_FIELDS(vm), "VM %s: %zu guest RAM range%s, %" PRIu64 " MiB, home node %d (%s), tracker %s.",
                   vm->name, vm->n_ranges, vm->n_ranges == 1 ? "" : "s", vm->ram_bytes / MIB, vm->home_node,
                   vm_home_reason_to_string(vm->home_reason) ?: "none", m->tracker->ops->name);
        return 0;

untrackable:
        if (vm->state != VM_STATE_UNTRACKABLE || !streq_ptr(vm->error, reason))
                log_fields(LOG_NOTICE, VM_FIELDS(vm), "VM %s (pid %d) is not sampled: %s.", vm->name, (int) vm->pid,
                           reason);
        vm->state = VM_STATE_UNTRACKABLE;
        free(vm->error);
        vm->error = TAKE_PTR(reason);
        vm->retry_in_cycles = RETRY_CYCLES;
        return 0;
}

static int vm_cycle(Manager *m, Vm *vm) {
        int r;

        if (vm->state != VM_STATE_TRACKED) {
                if (vm->retry_in_cycles > 0)
                        vm->retry_in_cycles--;
                else {
                        r = vm_setup(m, vm);
                        if (r < 0)
                                return r;
                }
        }

        if (vm->state == VM_STATE_TRACKED) {
                const TrackerOps *ops = m->tracker->ops;

                heatmap_cycle_begin(vm->heat);
                r = ops->check_accesses(m->tracker, &vm->target, vm->heat);
                (void) heatmap_cycle_end(vm->heat);
                if (r >= 0)
                        r = ops->prepare_access_checks(m->tracker, &vm->target);
                if (r == -ESRCH)
                        return r;
                if (r < 0)
                        log_fields(LOG_DEBUG, VM_FIELDS(vm), "Sampling VM %s failed: %s", vm->name, strerror(-r));
                vm->cycles++;
        }

        /* Placement is refreshed by the migrator (manager-placement.c), sampled or not. */
        if (vm->heat && vm->home_reason == VM_HOME_FIRST_DRAM_NODE)
                vm_pick_home_node(vm, m->topology);
        return 0;
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

void manager_vms_cycle(Manager *m) {
        if (m->proc_source)
                (void) vmsource_proc_scan(m->proc_source);

        for (size_t i = 0; i < m->n_vms;) {
                Vm *vm = m->vms[i];
                int r = vm->gone_cycles > 0 ? -ESRCH : vm_check_alive(m, vm);

                if (r != -ESRCH)
                        r = vm_cycle(m, vm);
                if (r == -ESRCH) {
                        /* libvirt's lifecycle event (stopped, crashed, migrated) follows QEMU's exit
                         * by up to a second or so: wait a few cycles for its word. */
                        if ((vm->sources & VM_SOURCE_LIBVIRT) && vm->gone_cycles++ < LIBVIRT_VERDICT_CYCLES) {
                                vm_detach_tracker(m, vm);
                                i++;
                                continue;
                        }
                        log_fields(LOG_DEBUG, VM_FIELDS(vm), "VM %s (pid %d) vanished during the cycle.", vm->name,
                                   (int) vm->pid);
                        if (m->proc_source)
                                vmsource_proc_forget(m->proc_source, vm->pid); /* in case the pid was reused */
                        remove_vm(m, i, "exited");
                        continue;
                }
                i++;
        }
}
