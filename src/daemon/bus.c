/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The D-Bus face of vtismd: org.vtism1 /org/vtism1 org.vtism1.Manager.
 * Only the vtable and thin adapters into manager_*() live here; every argument is validated
 * before the manager sees it. Mutating methods need root (CAP_SYS_ADMIN): the D-Bus policy file
 * enforces that on the bus, and this file checks again so a permissive bus cannot bypass it.
 */
#include <linux/capability.h>
#include <stdarg.h>
#include <string.h>

#include "vtism-build.h"
#include "vtism/bus.h"
#include "vtism/log.h"
#include "vtism/util.h"

static int check_privileged(sd_bus_message *msg, sd_bus_error *error) {
        int r;

        r = sd_bus_query_sender_privilege(msg, CAP_SYS_ADMIN);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to check the caller's privileges: %m");
        if (r == 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Permission denied: %s needs root (CAP_SYS_ADMIN).",
                                         sd_bus_message_get_member(msg));
        return 0;
}

static int method_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *why = NULL;
        Manager *m = userdata;
        int r;

        r = check_privileged(msg, error);
        if (r < 0)
                return r;

        r = manager_reload(m, &why);
        if (r < 0)
                return sd_bus_error_setf(error, "org.vtism1.Error.ConfigInvalid",
                                         "previous configuration kept: %s", why ?: strerror(-r));
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_pause_resume(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        bool pause = streq(sd_bus_message_get_member(msg), "Pause");
        const char *what;
        int r, mask;

        r = sd_bus_message_read(msg, "s", &what);
        if (r < 0)
                return r;

        mask = manager_subsystem_from_string(what);
        if (mask < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Unknown subsystem '%s': expected 'sampling', 'migration' or 'all'.", what);

        r = check_privileged(msg, error);
        if (r < 0)
                return r;

        manager_set_paused(m, (unsigned) mask, pause);
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_set_dry_run(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        int enable, r;

        r = sd_bus_message_read(msg, "b", &enable);
        if (r < 0)
                return r;

        r = check_privileged(msg, error);
        if (r < 0)
                return r;

        manager_set_dry_run(userdata, enable);
        return sd_bus_reply_method_return(msg, NULL);
}

static int property_get_mode(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", manager_mode_to_string(((Manager *) userdata)->mode));
}

static int property_get_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *v = NULL;

        if (streq(property, "Version"))
                v = VTISM_VERSION;
        else if (streq(property, "ModeReason"))
                v = m->mode_reason;
        else if (streq(property, "Tracker"))
                v = tracker_kind_to_string(m->config->tracker);
        else if (streq(property, "ConfigFile"))
                v = m->config_path;
        else if (streq(property, "LastReloadError"))
                v = m->last_reload_error;
        else if (streq(property, "LibvirtURI"))
                v = m->config->libvirt_uri;
        else if (streq(property, "ActiveTracker"))
                v = m->tracker ? m->tracker->ops->name : NULL;
        return sd_bus_message_append(reply, "s", v ?: "");
}

static int property_get_bool(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        bool v;

        if (streq(property, "SamplingPaused"))
                v = m->sampling_paused;
        else if (streq(property, "MigrationPaused"))
                v = m->migration_paused;
        else
                v = manager_dry_run(m);
        return sd_bus_message_append(reply, "b", v);
}

static int property_get_u64(sd_bus *bus, const char *path, const char *interface, const char *property,
                            sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        uint64_t v = 0;

        if (streq(property, "SampleIntervalUSec"))
                v = m->config->sample_interval_usec;
        else if (streq(property, "MigrateRateLimit"))
                v = m->config->migrate_rate_limit_bytes;
        else if (streq(property, "StartedAt"))
                v = m->started_usec;
        else if (streq(property, "LastCycleAt"))
                v = m->last_cycle_usec;
        return sd_bus_message_append(reply, "t", v);
}

static int property_get_nodes(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Topology *t = ((Manager *) userdata)->topology;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "(issisttai)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < t->n_nodes; i++) {
                const TopologyNode *n = &t->nodes[i];
                _cleanup_free_ char *cpus = format_int_list(n->cpus, n->n_cpus);

                r = sd_bus_message_open_container(reply, 'r', "issisttai");
                if (r < 0)
                        return r;
                r = sd_bus_message_append(reply, "issistt", n->id, node_tier_to_string(n->tier),
                                          tier_source_to_string(n->tier_source), n->memory_tier, cpus,
                                          n->total_bytes, n->free_bytes);
                if (r < 0)
                        return r;
                r = sd_bus_message_append_array(reply, 'i', n->demotion_targets,
                                                n->n_demotion_targets * sizeof(int));
                if (r < 0)
                        return r;
                r = sd_bus_message_close_container(reply);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int property_get_distances(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Topology *t = ((Manager *) userdata)->topology;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "au");
        if (r < 0)
                return r;
        for (size_t i = 0; i < t->n_nodes; i++) {
                r = sd_bus_message_open_container(reply, 'a', "u");
                if (r < 0)
                        return r;
                for (size_t j = 0; j < t->n_nodes; j++) {
                        r = sd_bus_message_append(reply, "u", (uint32_t) t->distance[i * t->n_nodes + j]);
                        if (r < 0)
                                return r;
                }
                r = sd_bus_message_close_container(reply);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int property_get_counters(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const ManagerCounters *c = &((Manager *) userdata)->counters;
        const struct {
                const char *name;
                uint64_t value;
        } table[] = {
                { "cycles", c->cycles },
                { "pages_promoted", c->pages_promoted },
                { "pages_demoted", c->pages_demoted },
                { "pages_failed", c->pages_failed },
                { "bytes_migrated", c->bytes_migrated },
                { "reloads", c->reloads },
                { "reload_failures", c->reload_failures },
        };
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{st}");
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                r = sd_bus_message_append(reply, "{st}", table[i].name, table[i].value);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

/* Bytes of a VM's guest RAM on DRAM and on CXL nodes, from the residency of its heat map. */
static void residency_by_tier(const Topology *t, const HeatHistogram *h, uint64_t *ret_dram, uint64_t *ret_cxl) {
        uint64_t dram = 0, cxl = 0;

        for (size_t i = 0; i < t->n_nodes; i++) {
                int id = t->nodes[i].id;

                if (id < 0 || (unsigned) id >= HEATMAP_NODES_MAX)
                        continue;
                if (t->nodes[i].tier == NODE_TIER_CXL)
                        cxl += h->node_pages[id] * HEATMAP_GRANULE_4K;
                else
                        dram += h->node_pages[id] * HEATMAP_GRANULE_4K;
        }
        *ret_dram = dram;
        *ret_cxl = cxl;
}

static const char *sources_to_string(unsigned sources) {
        switch (sources & (VM_SOURCE_LIBVIRT | VM_SOURCE_PROC)) {
        case VM_SOURCE_LIBVIRT | VM_SOURCE_PROC:
                return "libvirt,proc";
        case VM_SOURCE_LIBVIRT:
                return "libvirt";
        case VM_SOURCE_PROC:
                return "proc";
        default:
                return "";
        }
}

static int property_get_vms(sd_bus *bus, const char *path, const char *interface, const char *property,
                            sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "(sssussstttttttib)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_vms; i++) {
                const Vm *vm = m->vms[i];
                HeatHistogram h = {};
                uint64_t dram = 0, cxl = 0;

                if (vm->heat) {
                        heatmap_histogram_total(vm->heat, &h);
                        residency_by_tier(m->topology, &h, &dram, &cxl);
                }
                r = sd_bus_message_append(reply, "(sssussstttttttib)", vm->id, vm->name, vm->uuid ?: "",
                                          (uint32_t) vm->pid, sources_to_string(vm->sources),
                                          vm_state_to_string(vm->state), vm->error ?: "", vm->ram_bytes, dram, cxl,
                                          h.class_bytes[HEAT_HOT], h.class_bytes[HEAT_WARM], h.class_bytes[HEAT_COLD],
                                          vm->cycles, (int32_t) vm->home_node, (int) h.residency_known);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int property_get_trackers(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "(sbs)");
        if (r < 0)
                return r;
        for (int k = 0; k < _TRACKER_KIND_MAX; k++) {
                if (k == TRACKER_AUTO)
                        continue;
                r = sd_bus_message_append(reply, "(sbs)", tracker_kind_to_string(k), !m->tracker_reasons[k],
                                          m->tracker_reasons[k] ?: "");
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int method_get_heatmap(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        const char *key;
        Vm *vm;
        int r;

        r = sd_bus_message_read(msg, "s", &key);
        if (r < 0)
                return r;
        vm = manager_find_vm(m, key);
        if (!vm)
                return sd_bus_error_setf(error, "org.vtism1.Error.NoSuchVM",
                                         "No VM '%s' (give a name, UUID or pid as 'vtismctl status' lists them).", key);
        if (!vm->heat)
                return sd_bus_error_setf(error, "org.vtism1.Error.NotSampled", "VM %s is not sampled: %s", vm->name,
                                         vm->error ?: "its guest RAM is not located yet");

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "sstt", vm->id, vm->name, heatmap_params(vm->heat)->hist_range_bytes,
                                  vm->cycles);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(tttttttat)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < heatmap_n_histograms(vm->heat); i++) {
                HeatHistogram h;
                uint64_t dram, cxl;

                r = heatmap_histogram(vm->heat, i, &h);
                if (r < 0)
                        return r;
                residency_by_tier(m->topology, &h, &dram, &cxl);
                r = sd_bus_message_open_container(reply, 'r', "tttttttat");
                if (r < 0)
                        return r;
                r = sd_bus_message_append(reply, "ttttttt", h.gpa, h.ram_bytes, h.class_bytes[HEAT_HOT],
                                          h.class_bytes[HEAT_WARM], h.class_bytes[HEAT_COLD], dram, cxl);
                if (r < 0)
                        return r;
                r = sd_bus_message_append_array(reply, 't', h.pages, sizeof(h.pages));
                if (r < 0)
                        return r;
                r = sd_bus_message_close_container(reply);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Mode", "s", property_get_mode, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ModeReason", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("Tracker", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("ConfigFile", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("LibvirtURI", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("LastReloadError", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("SamplingPaused", "b", property_get_bool, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("MigrationPaused", "b", property_get_bool, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DryRun", "b", property_get_bool, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("SampleIntervalUSec", "t", property_get_u64, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("MigrateRateLimit", "t", property_get_u64, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("StartedAt", "t", property_get_u64, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("LastCycleAt", "t", property_get_u64, 0, 0),
        SD_BUS_PROPERTY("Nodes", "a(issisttai)", property_get_nodes, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("Distances", "aau", property_get_distances, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("Counters", "a{st}", property_get_counters, 0, 0),
        SD_BUS_PROPERTY("ActiveTracker", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("Trackers", "a(sbs)", property_get_trackers, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("VMs", "a(sssussstttttttib)", property_get_vms, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_METHOD_WITH_ARGS("GetHeatmap", SD_BUS_ARGS("s", vm),
                                SD_BUS_RESULT("s", id, "s", name, "t", range_bytes, "t", cycles,
                                              "a(tttttttat)", ranges),
                                method_get_heatmap, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Reload", "", "", method_reload, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Pause", SD_BUS_ARGS("s", what), SD_BUS_NO_RESULT, method_pause_resume,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Resume", SD_BUS_ARGS("s", what), SD_BUS_NO_RESULT, method_pause_resume,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetDryRun", SD_BUS_ARGS("b", enable), SD_BUS_NO_RESULT, method_set_dry_run,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int bus_setup(Manager *m) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = sd_bus_open_system_with_description(&bus, "vtismd");
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");

        r = sd_bus_add_object_vtable(bus, NULL, VTISM_BUS_PATH, VTISM_BUS_INTERFACE, manager_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to export the manager object: %m");

        r = sd_bus_attach_event(bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");

        /* If the bus goes away, leave: systemd restarts us once it is back. */
        r = sd_bus_set_exit_on_disconnect(bus, true);
        if (r < 0)
                return log_error_errno(r, "Failed to set exit-on-disconnect: %m");

        r = sd_bus_request_name(bus, VTISM_BUS_NAME, 0);
        if (r == -EEXIST)
                return log_error_errno(r, "Another vtismd already owns %s on the system bus.", VTISM_BUS_NAME);
        if (r == -EACCES || r == -EPERM)
                return log_error_errno(r, "Not allowed to own %s on the system bus: is the D-Bus policy file "
                                       "org.vtism1.conf installed, and are we root?", VTISM_BUS_NAME);
        if (r < 0)
                return log_error_errno(r, "Failed to take the bus name %s: %m", VTISM_BUS_NAME);

        m->bus = TAKE_PTR(bus);
        return 0;
}

void bus_emit_properties_changed(Manager *m, ...) {
        const char *names[32];
        size_t n = 0;
        va_list ap;

        if (!m->bus)
                return;

        va_start(ap, m);
        for (const char *p; (p = va_arg(ap, const char *)) && n < ELEMENTSOF(names) - 1;)
                names[n++] = p;
        va_end(ap);
        names[n] = NULL;

        (void) sd_bus_emit_properties_changed_strv(m->bus, VTISM_BUS_PATH, VTISM_BUS_INTERFACE, (char **) names);
}
