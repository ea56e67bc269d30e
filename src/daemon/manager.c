/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <systemd/sd-daemon.h>

#include "vtism-build.h"
#include "vtism/log.h"
#include "vtism/manager.h"
#include "vtism/message-ids.h"
#include "vtism/utf8.h"
#include "vtism/util.h"

static const char *const manager_mode_table[_MANAGER_MODE_MAX] = {
        [MANAGER_MODE_TIERING] = "tiering",
        [MANAGER_MODE_MONITOR_ONLY] = "monitor-only",
};
assert_cc(ELEMENTSOF(manager_mode_table) == _MANAGER_MODE_MAX);

const char *manager_mode_to_string(ManagerMode m) {
        if (m < 0 || m >= _MANAGER_MODE_MAX)
                return NULL;
        return manager_mode_table[m];
}

int manager_subsystem_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        if (streq(s, "sampling"))
                return MANAGER_SUBSYSTEM_SAMPLING;
        if (streq(s, "migration"))
                return MANAGER_SUBSYSTEM_MIGRATION;
        if (streq(s, "all"))
                return MANAGER_SUBSYSTEM_ALL;
        return -EINVAL;
}

int manager_new(const char *config_path, const char *sysfs_root, const char *proc_root, int log_level_override,
                Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = xcalloc(1, sizeof(Manager));
        m->config_path = xstrdup(config_path ?: VTISM_CONFIG_FILE);
        m->sysfs_root = xstrdup(sysfs_root ?: "/sys");
        m->proc_root = xstrdup(proc_root ?: "/proc");
        m->dry_run_override = -1;
        m->log_level_override = log_level_override;
        m->mode = MANAGER_MODE_MONITOR_ONLY;
        m->started_usec = clock_now_usec(CLOCK_REALTIME);

        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate event loop: %m");

        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        sd_event_source_unref(m->cycle_timer);
        sd_event_source_unref(m->cycle_defer);
        manager_contiguity_done(m); /* answers waiting callers while the bus is there */
        manager_placement_done(m);
        manager_vms_done(m);
        manager_devices_done(m);
        sd_bus_flush_close_unref(m->bus);
        sd_event_unref(m->event);
        config_free(m->config);
        topology_free(m->topology);
        free(m->mode_reason);
        free(m->last_reload_error);
        free(m->config_path);
        free(m->sysfs_root);
        free(m->proc_root);
        free(m);
        return NULL;
}

bool manager_dry_run(const Manager *m) {
        if (m->dry_run_override >= 0)
                return m->dry_run_override;
        return m->config && m->config->dry_run;
}

static void manager_apply_log_level(Manager *m) {
        log_set_max_level(m->log_level_override >= 0 ? m->log_level_override : m->config->log_level);
}

/* Derive the mode from the topology: tiering needs at least one DRAM and one CXL node. */
static void manager_pick_mode(Manager *m) {
        size_t n_dram = topology_count_tier(m->topology, NODE_TIER_DRAM);
        size_t n_cxl = topology_count_tier(m->topology, NODE_TIER_CXL);

        free(m->mode_reason);
        if (n_cxl == 0) {
                m->mode = MANAGER_MODE_MONITOR_ONLY;
                m->mode_reason = xasprintf("no CXL memory node found (%zu DRAM node%s), nothing to tier to",
                                           n_dram, n_dram == 1 ? "" : "s");
        } else if (n_dram == 0) {
                m->mode = MANAGER_MODE_MONITOR_ONLY;
                m->mode_reason = xasprintf("no DRAM node found (%zu CXL node%s), nothing to promote to",
                                           n_cxl, n_cxl == 1 ? "" : "s");
        } else {
                m->mode = MANAGER_MODE_TIERING;
                m->mode_reason = xasprintf("%zu DRAM node%s, %zu CXL node%s", n_dram, n_dram == 1 ? "" : "s",
                                           n_cxl, n_cxl == 1 ? "" : "s");
        }
}

/* Load a config file and the topology it implies, without touching m. */
static int load_state(Manager *m, VtConf **ret_config, Topology **ret_topology, char **ret_error) {
        _cleanup_(config_freep) VtConf *c = NULL;
        _cleanup_(topology_freep) Topology *t = NULL;
        _cleanup_free_ char *error = NULL;
        TopologyOverrides o;
        int r;

        /* Every setting is optional: without the default file, the defaults (a file named with
         * --config must exist). */
        if (streq(m->config_path, VTISM_CONFIG_FILE))
                r = config_load_or_defaults(m->config_path, &c, &error);
        else
                r = config_load(m->config_path, &c, &error);
        if (r < 0) {
                if (!error)
                        error = xasprintf("%s: %s", m->config_path, strerror(-r));
                *ret_error = TAKE_PTR(error);
                return r;
        }
        if (r > 0)
                log_notice("%s does not exist, running on the built-in defaults%s (see vtism.conf(5)).", m->config_path,
                           c->n_dropins > 0 ? " and its drop-ins" : "");
        for (size_t i = 0; i < c->n_dropins; i++)
                log_info("Configuration drop-in %s applied.", c->dropins[i]);

        o = (TopologyOverrides) {
                .dram_nodes = c->dram_nodes,
                .n_dram_nodes = c->n_dram_nodes,
                .cxl_nodes = c->cxl_nodes,
                .n_cxl_nodes = c->n_cxl_nodes,
        };
        r = topology_load(m->sysfs_root, &o, &t);
        if (r == -ENOENT && (c->n_dram_nodes > 0 || c->n_cxl_nodes > 0)) {
                *ret_error = xasprintf("%s: tiers: a node listed there is not online on this host", m->config_path);
                return r;
        }
        if (r < 0) {
                *ret_error = xasprintf("failed to read NUMA topology below %s: %s", m->sysfs_root, strerror(-r));
                return r;
        }

        *ret_config = TAKE_PTR(c);
        *ret_topology = TAKE_PTR(t);
        return 0;
}

static void manager_log_topology(Manager *m) {
        for (size_t i = 0; i < m->topology->n_nodes; i++) {
                const TopologyNode *n = &m->topology->nodes[i];
                _cleanup_free_ char *cpus = format_int_list(n->cpus, n->n_cpus);
                _cleanup_free_ char *targets = join_int_list(n->demotion_targets, n->n_demotion_targets, " ");
                char size[FORMAT_BYTES_MAX];

                log_info("Node %d: %s (%s), %s, CPUs %s%s%s", n->id, node_tier_to_string(n->tier),
                         tier_source_to_string(n->tier_source), format_bytes(size, sizeof(size), n->total_bytes),
                         *cpus ? cpus : "none", *targets ? ", demotes to " : "", targets);
        }
        if (m->mode == MANAGER_MODE_TIERING)
                log_info("Tiering mode: %s.", m->mode_reason);
        else
                log_notice("Monitor-only mode: %s. VMs are observed, nothing is migrated.", m->mode_reason);
}

int manager_load(Manager *m) {
        _cleanup_free_ char *error = NULL;
        int r;

        r = load_state(m, &m->config, &m->topology, &error);
        if (r < 0) {
                log_error("%s", error);
                return r;
        }
        manager_apply_log_level(m);
        manager_pick_mode(m);
        manager_log_topology(m);
        manager_devices_refresh(m);
        return 0;
}

int manager_reload(Manager *m, char **ret_error) {
        _cleanup_(config_freep) VtConf *c = NULL;
        _cleanup_(topology_freep) Topology *t = NULL;
        _cleanup_free_ char *error = NULL;
        ManagerMode old_mode = m->mode;
        int r;

        (void) sd_notify(false, "RELOADING=1\nSTATUS=Reloading configuration...");
        log_info("Reloading configuration from %s.", m->config_path);

        r = load_state(m, &c, &t, &error);
        if (r < 0) {
                m->counters.reload_failures++;
                log_fields(LOG_ERR, FIELDS({ "MESSAGE_ID", VTISM_MESSAGE_RELOAD_FAILED_STR }, { "VTISM_CONFIG_ERROR", error }),
                           "Reload failed, keeping the previous configuration: %s", error);
                free(m->last_reload_error);
                m->last_reload_error = xstrdup(error);
                if (ret_error)
                        *ret_error = TAKE_PTR(error);
                (void) sd_notify(false, "READY=1");
                manager_update_status(m);
                manager_notify_changed(m, MANAGER_CHANGED_RELOAD_ERROR);
                return r;
        }

        config_free(m->config);
        m->config = TAKE_PTR(c);
        topology_free(m->topology);
        m->topology = TAKE_PTR(t);
        free(m->last_reload_error);
        m->last_reload_error = NULL;
        m->counters.reloads++;

        manager_apply_log_level(m);
        manager_pick_mode(m);
        if (m->mode != old_mode)
                manager_log_topology(m);
        manager_devices_refresh(m);
        if (m->cycle_timer)
                (void) sd_event_source_set_time_relative(m->cycle_timer, m->config->sample_interval_usec);
        (void) manager_vms_apply_config(m);
        manager_placement_apply_config(m);

        log_info("Configuration reloaded.");
        (void) sd_notify(false, "READY=1");
        manager_update_status(m);
        manager_notify_changed(m, MANAGER_CHANGED_MODE | MANAGER_CHANGED_CONFIG | MANAGER_CHANGED_DRY_RUN |
                                          MANAGER_CHANGED_RELOAD_ERROR | MANAGER_CHANGED_TRACKERS |
                                          MANAGER_CHANGED_VMS);
        return 0;
}

void manager_set_paused(Manager *m, unsigned subsystems, bool paused) {
        if (subsystems & MANAGER_SUBSYSTEM_SAMPLING && m->sampling_paused != paused) {
                m->sampling_paused = paused;
                log_info("Sampling %s.", paused ? "paused" : "resumed");
        }
        if (subsystems & MANAGER_SUBSYSTEM_MIGRATION && m->migration_paused != paused) {
                m->migration_paused = paused;
                log_info("Migration %s.", paused ? "paused: no page moves until it is resumed" : "resumed");
                manager_placement_set_paused(m, paused);
        }
        manager_update_status(m);
        manager_notify_changed(m, MANAGER_CHANGED_PAUSED);
}

void manager_set_dry_run(Manager *m, bool dry_run) {
        bool old = manager_dry_run(m);

        m->dry_run_override = dry_run;
        manager_placement_set_dry_run(m, dry_run);
        if (old != dry_run)
                log_info("Dry-run %s.", dry_run ? "enabled: migrations are planned but not performed"
                                                : "disabled: migrations are performed");
        manager_update_status(m);
        manager_notify_changed(m, MANAGER_CHANGED_DRY_RUN);
}

void manager_set_change_hook(Manager *m, ManagerChangeHook hook, void *userdata) {
        m->change_hook = hook;
        m->change_userdata = userdata;
}

void manager_notify_changed(Manager *m, unsigned changes) {
        if (m->change_hook && changes != 0)
                m->change_hook(m, changes, m->change_userdata);
}

void manager_update_status(Manager *m) {
        const char *state;

        if (m->sampling_paused)
                state = "Sampling paused";
        else if (m->mode == MANAGER_MODE_MONITOR_ONLY)
                state = "Monitor-only";
        else if (m->migration_paused)
                state = "Monitoring, migration paused";
        else if (manager_dry_run(m))
                state = "Tiering (dry-run)";
        else
                state = "Tiering";

        (void) sd_notifyf(false, "STATUS=%s%s; %" PRIu64 " cycles; %s", state,
                          m->last_reload_error ? " (last reload failed)" : "", m->counters.cycles,
                          m->mode_reason ?: "");
}

/* s as it is, or as the bus shows it (invalid UTF-8 escaped): what a user copies from status. */
static bool key_matches(const char *s, const char *key) {
        _cleanup_free_ char *shown = NULL;

        if (streq(s, key))
                return true;
        if (utf8_is_valid(s))
                return false;
        shown = utf8_escape_invalid(s);
        return streq(shown, key);
}

int manager_find_vm(Manager *m, const char *key, Vm **ret) {
        Vm *found = NULL;
        int pid;

        /* A VM found in this burst has no id or name yet, and may take one another has now. */
        manager_identities_settle(m);
        for (size_t i = 0; i < m->n_vms; i++)
                if (key_matches(m->vms[i]->id, key)) {
                        *ret = m->vms[i];
                        return 0;
                }
        for (size_t i = 0; i < m->n_vms; i++)
                if (m->vms[i]->uuid && (strcasecmp(m->vms[i]->uuid, key) == 0 || key_matches(m->vms[i]->uuid, key))) {
                        *ret = m->vms[i]; /* unique: vm_resolve_identities(), settled above */
                        return 0;
                }
        for (size_t i = 0; i < m->n_vms; i++)
                if (key_matches(m->vms[i]->name, key)) {
                        if (found)
                                return -ENOTUNIQ;
                        found = m->vms[i];
                }
        if (found) {
                *ret = found;
                return 0;
        }
        if (safe_atoi(key, &pid) >= 0 && (found = manager_vm_by_pid(m, pid, NULL))) {
                *ret = found;
                return 0;
        }
        return -ENOENT;
}

bool manager_cycle_begin(Manager *m) {
        int r;

        if (m->sampling_paused || m->cycle_running)
                return false;
        m->cycle_running = true;
        m->cycle_begin_usec = clock_now_usec(CLOCK_MONOTONIC);
        m->cycle_busy_usec = 0;
        m->cycle_n_slices = 0;

        r = topology_refresh_meminfo(m->topology, m->sysfs_root);
        if (r < 0)
                log_warning_errno(r, "Failed to refresh node memory info below %s: %m", m->sysfs_root);
        manager_vms_cycle_begin(m);
        m->cycle_busy_usec = clock_now_usec(CLOCK_MONOTONIC) - m->cycle_begin_usec;
        return true;
}

/* Every VM had its turn: the rest of the cycle, in one go. */
static void cycle_finish(Manager *m) {
        usec_t begin = clock_now_usec(CLOCK_MONOTONIC), busy, wall;

        manager_identities_settle(m); /* the plan matches trust and policies */
        manager_contiguity_cycle(m);
        manager_placement_cycle(m);

        /* What a cycle costs on the loop (the migrator's slices come after it). */
        busy = m->cycle_busy_usec + (clock_now_usec(CLOCK_MONOTONIC) - begin);
        wall = clock_now_usec(CLOCK_MONOTONIC) - m->cycle_begin_usec;
        m->cycle_running = false;
        m->counters.cycles++;
        m->counters.cycle_usec += busy;
        m->last_cycle_usec = clock_now_usec(CLOCK_REALTIME);
        {
                char n[24], u[24];

                snprintf(n, sizeof(n), "%" PRIu64, m->counters.cycles);
                snprintf(u, sizeof(u), "%" PRIu64, busy);
                log_fields(LOG_DEBUG, FIELDS({ "VTISM_CYCLE", n }, { "VTISM_CYCLE_USEC", u }),
                           "Cycle %" PRIu64 " done in %" PRIu64 " us (%" PRIu64 " slices over %" PRIu64 " ms): %zu VMs.",
                           m->counters.cycles, busy, m->cycle_n_slices, wall / USEC_PER_MSEC, m->n_vms);
        }
        manager_update_status(m);
}

int manager_cycle_step(Manager *m, usec_t deadline_usec) {
        usec_t begin, took;
        int r;

        if (!m->cycle_running)
                return 0;
        begin = clock_now_usec(CLOCK_MONOTONIC);
        r = manager_vms_cycle_step(m, deadline_usec);
        took = clock_now_usec(CLOCK_MONOTONIC) - begin;
        m->cycle_busy_usec += took;
        m->cycle_n_slices++;
        m->counters.cycle_slices++;
        m->counters.slice_max_usec = MAX(m->counters.slice_max_usec, took);
        if (r > 0)
                return 1;
        cycle_finish(m);
        return 0;
}

int manager_cycle(Manager *m) {
        /* A cycle the timer started is finished first. */
        while (manager_cycle_step(m, USEC_INFINITY) > 0)
                ;
        if (!manager_cycle_begin(m))
                return 0;
        while (manager_cycle_step(m, USEC_INFINITY) > 0)
                ;
        return 0;
}

static int on_cycle_defer(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        usec_t budget = m->slice_usec ?: MANAGER_SLICE_USEC_DEFAULT;

        if (manager_cycle_step(m, clock_now_usec(CLOCK_MONOTONIC) + budget) > 0)
                (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        else
                manager_notify_changed(m, MANAGER_CHANGED_CYCLE);
        return 0;
}

static int on_cycle_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        if (m->cycle_running) {
                m->counters.cycles_overrun++;
                log_debug("Cycle %" PRIu64 " still samples (%" PRIu64 " slices so far); skipping this tick.",
                          m->counters.cycles + 1, m->cycle_n_slices);
        } else if (manager_cycle_begin(m))
                (void) sd_event_source_set_enabled(m->cycle_defer, SD_EVENT_ONESHOT);
        else
                manager_notify_changed(m, MANAGER_CHANGED_CYCLE);
        (void) sd_event_source_set_time(s, usec + m->config->sample_interval_usec);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) manager_reload(userdata, NULL);
        return 0;
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        log_info("Received SIG%s, shutting down.", sigabbrev_np((int) si->ssi_signo));
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Shutting down...");
        manager_exit(m, 0);
        return 0;
}

void manager_exit(Manager *m, int error) {
        if (error < 0 && m->exit_error == 0)
                m->exit_error = error;
        (void) sd_event_exit(m->event, error < 0 ? EXIT_FAILURE : 0);
}

int manager_start(Manager *m) {
        sigset_t mask;
        usec_t now;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Failed to block signals: %m");

        r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGTERM, on_exit_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGINT, on_exit_signal, m);
        if (r < 0)
                return log_error_errno(r, "Failed to install signal handlers: %m");

        /* Sends WATCHDOG=1 at half of WATCHDOG_USEC from the loop itself, so a hung loop is caught. */
        r = sd_event_set_watchdog(m->event, true);
        if (r < 0)
                log_warning_errno(r, "Failed to enable the watchdog, continuing without: %m");

        r = manager_placement_start(m);
        if (r < 0)
                return r;
        r = manager_vms_start(m);
        if (r < 0)
                return r;

        r = sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return log_error_errno(r, "Failed to read the clock: %m");
        r = sd_event_add_time(m->event, &m->cycle_timer, CLOCK_MONOTONIC, now + m->config->sample_interval_usec,
                              10 * USEC_PER_MSEC, on_cycle_timer, m);
        if (r < 0)
                return log_error_errno(r, "Failed to arm the cycle timer: %m");
        (void) sd_event_source_set_description(m->cycle_timer, "cycle");
        r = sd_event_add_defer(m->event, &m->cycle_defer, on_cycle_defer, m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the cycle's slices: %m");
        /* Below every other source: a defer source is pending again as soon as it is re-enabled,
         * and at equal priority sd-event would dispatch it before the bus's and the timers'
         * events that arrived meanwhile (it is older). */
        (void) sd_event_source_set_priority(m->cycle_defer, SD_EVENT_PRIORITY_IDLE);
        (void) sd_event_source_set_enabled(m->cycle_defer, SD_EVENT_OFF);
        (void) sd_event_source_set_description(m->cycle_defer, "cycle-slice");

        (void) sd_notifyf(false, "READY=1\nMAINPID=%d", (int) getpid());
        manager_update_status(m);
        log_info("vtismd " VTISM_VERSION " started; config %s, sampling every %" PRIu64 " ms%s.",
                 m->config_path, m->config->sample_interval_usec / USEC_PER_MSEC,
                 manager_dry_run(m) ? ", dry-run" : "");
        return 0;
}

int manager_run(Manager *m) {
        int r;

        r = sd_event_loop(m->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        if (m->exit_error < 0)
                return m->exit_error;
        if (r != 0)
                /* Someone asked the loop to exit with a failure code without saying why (sd-bus's
                 * exit-on-disconnect does): a failure all the same, never a clean stop. */
                return log_error_errno(-EPIPE, "Event loop left with status %d, stopping with failure.", r);
        return 0;
}
