/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A "newer vtismd" for test-wire-format.sh: owns org.vtism1 on the (private) system bus and
 * serves the Manager interface as bus-api.h lays it out, plus what a later version might add:
 * a key in every kind of record, a property of a type nobody knows yet. vtismctl must show
 * everything it knows, and say in one line what it skipped.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "vtism/bus-api.h"
#include "vtism/macro.h"
#include "vtism/util.h"

#define GETTER_ARGS                                                                                     \
        sd_bus *bus, const char *path, const char *interface, const char *property, sd_bus_message *reply, \
                void *userdata, sd_bus_error *error

static int kv(sd_bus_message *m, const BusField *f, const char *type, ...) {
        va_list ap;
        int r;

        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append_basic(m, 's', f->key);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', type);
        va_start(ap, type);
        if (r >= 0)
                r = sd_bus_message_appendv(m, type, ap);
        va_end(ap);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

static int get_string(GETTER_ARGS) {
        const char *v = streq(property, VTISM_PROP_VERSION) ? "99.0" :
                        streq(property, VTISM_PROP_MODE) ? "tiering" :
                        streq(property, VTISM_PROP_TRACKER) ? "auto" :
                        streq(property, VTISM_PROP_ACTIVE_TRACKER) ? "idle_pages" :
                        streq(property, VTISM_PROP_MODE_REASON) ? "1 DRAM node, 1 CXL node" : "";
        return sd_bus_message_append(reply, "s", v);
}

static int get_u64(GETTER_ARGS) {
        return sd_bus_message_append(reply, "t", (uint64_t) (streq(property, VTISM_PROP_SAMPLE_INTERVAL_USEC) ? 5000000 : 0));
}

static int get_bool(GETTER_ARGS) {
        return sd_bus_message_append(reply, "b", 0);
}

static int get_nodes(GETTER_ARGS) {
        const BusField *f = bus_node_fields;
        static const BusField future = { "bandwidth_bytes_per_sec", "t" };
        int r;

        r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (int id = 0; r >= 0 && id < 2; id++) {
                int32_t targets[] = { 1 };

                r = sd_bus_message_open_container(reply, 'a', "{sv}");
                if (r >= 0)
                        r = kv(reply, &f[BUS_NODE_ID], "i", id);
                if (r >= 0)
                        r = kv(reply, &f[BUS_NODE_TIER], "s", id == 0 ? "dram" : "cxl");
                if (r >= 0)
                        r = kv(reply, &f[BUS_NODE_CLASSIFIED_BY], "s", "cpu-less");
                if (r >= 0)
                        r = kv(reply, &f[BUS_NODE_CPUS], "s", id == 0 ? "0-1" : "");
                if (r >= 0)
                        r = kv(reply, &f[BUS_NODE_TOTAL_BYTES], "t", (uint64_t) 1 << 30);
                if (r >= 0)
                        r = kv(reply, &f[BUS_NODE_FREE_BYTES], "t", (uint64_t) 1 << 29);
                if (r >= 0)
                        r = kv(reply, &future, "t", (uint64_t) 12345);
                if (r >= 0 && id == 0) {
                        r = sd_bus_message_open_container(reply, 'e', "sv");
                        if (r >= 0)
                                r = sd_bus_message_append(reply, "s", f[BUS_NODE_DEMOTION_TARGETS].key);
                        if (r >= 0)
                                r = sd_bus_message_open_container(reply, 'v', "ai");
                        if (r >= 0)
                                r = sd_bus_message_append_array(reply, 'i', targets, sizeof(targets));
                        if (r >= 0)
                                r = sd_bus_message_close_container(reply);
                        if (r >= 0)
                                r = sd_bus_message_close_container(reply);
                }
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static int get_distances(GETTER_ARGS) {
        return sd_bus_message_append(reply, "aau", 2, 2, 10, 20, 2, 20, 10);
}

static int get_counters(GETTER_ARGS) {
        static const BusField future = { "pages_compacted", "t" };
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        for (size_t i = 0; r >= 0 && i < _BUS_COUNTER_FIELD_MAX; i++)
                r = kv(reply, &bus_counter_fields[i], "t", (uint64_t) (i + 1) * 10);
        if (r >= 0)
                r = kv(reply, &future, "t", (uint64_t) 4096);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static int get_trackers(GETTER_ARGS) {
        const BusField *f = bus_tracker_fields;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0)
                r = kv(reply, &f[BUS_TRACKER_NAME], "s", "idle_pages");
        if (r >= 0)
                r = kv(reply, &f[BUS_TRACKER_USABLE], "b", 1);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static int get_vms(GETTER_ARGS) {
        const BusField *f = bus_vm_fields;
        static const BusField future = { "planned_dram_bytes", "t" }, future2 = { "numa_cells", "a(tt)" };
        int r;

        r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (int i = 0; r >= 0 && i < 2; i++) {
                r = sd_bus_message_open_container(reply, 'a', "{sv}");
                if (r >= 0)
                        r = kv(reply, &f[BUS_VM_ID], "s", i == 0 ? "6f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a5b" : "pid-4243");
                if (r >= 0)
                        r = kv(reply, &f[BUS_VM_NAME], "s", i == 0 ? "future-vm" : "other-vm");
                if (r >= 0)
                        r = kv(reply, &f[BUS_VM_PID], "u", (uint32_t) (4242 + i));
                if (r >= 0)
                        r = kv(reply, &f[BUS_VM_SOURCES], "s", "proc");
                if (r >= 0)
                        r = kv(reply, &f[BUS_VM_STATE], "s", "tracked");
                if (r >= 0)
                        r = kv(reply, &f[BUS_VM_RAM_BYTES], "t", (uint64_t) 1 << 30);
                if (r >= 0)
                        r = kv(reply, &f[BUS_VM_CYCLES], "t", (uint64_t) 7);
                if (r >= 0)
                        r = kv(reply, &f[BUS_VM_HOT_BYTES], "t", (uint64_t) 1 << 27);
                if (r >= 0)
                        r = kv(reply, &future, "t", (uint64_t) 1 << 28);
                if (r >= 0)
                        r = kv(reply, &future2, "a(tt)", 1, (uint64_t) 0, (uint64_t) 1 << 30);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static int get_plans(GETTER_ARGS) {
        return sd_bus_message_append(reply, "a(st)", 1, "future-vm", (uint64_t) 1 << 28);
}

static const sd_bus_vtable vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY(VTISM_PROP_VERSION, "s", get_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY(VTISM_PROP_MODE, "s", get_string, 0, 0),
        SD_BUS_PROPERTY(VTISM_PROP_MODE_REASON, "s", get_string, 0, 0),
        SD_BUS_PROPERTY(VTISM_PROP_TRACKER, "s", get_string, 0, 0),
        SD_BUS_PROPERTY(VTISM_PROP_CONFIG_FILE, "s", get_string, 0, 0),
        SD_BUS_PROPERTY(VTISM_PROP_LIBVIRT_URI, "s", get_string, 0, 0),
        SD_BUS_PROPERTY(VTISM_PROP_LAST_RELOAD_ERROR, "s", get_string, 0, 0),
        SD_BUS_PROPERTY(VTISM_PROP_SAMPLING_PAUSED, "b", get_bool, 0, 0),
        SD_BUS_PROPERTY(VTISM_PROP_MIGRATION_PAUSED, "b", get_bool, 0, 0),
        SD_BUS_PROPERTY(VTISM_PROP_DRY_RUN, "b", get_bool, 0, 0),
        SD_BUS_PROPERTY(VTISM_PROP_SAMPLE_INTERVAL_USEC, "t", get_u64, 0, 0),
        SD_BUS_PROPERTY(VTISM_PROP_MIGRATE_RATE_LIMIT, "t", get_u64, 0, 0),
        SD_BUS_PROPERTY(VTISM_PROP_STARTED_AT, "t", get_u64, 0, 0),
        SD_BUS_PROPERTY(VTISM_PROP_LAST_CYCLE_AT, "t", get_u64, 0, 0),
        SD_BUS_PROPERTY(VTISM_PROP_NODES, "aa{sv}", get_nodes, 0, 0),
        SD_BUS_PROPERTY(VTISM_PROP_DISTANCES, "aau", get_distances, 0, 0),
        SD_BUS_PROPERTY(VTISM_PROP_COUNTERS, "a{sv}", get_counters, 0, 0),
        SD_BUS_PROPERTY(VTISM_PROP_ACTIVE_TRACKER, "s", get_string, 0, 0),
        SD_BUS_PROPERTY(VTISM_PROP_TRACKERS, "aa{sv}", get_trackers, 0, 0),
        SD_BUS_PROPERTY(VTISM_PROP_VMS, "aa{sv}", get_vms, 0, 0),
        SD_BUS_PROPERTY("Plans", "a(st)", get_plans, 0, 0),
        SD_BUS_VTABLE_END,
};

int main(void) {
        sd_bus *bus = NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, VTISM_BUS_PATH, VTISM_BUS_INTERFACE, vtable, NULL);
        if (r >= 0)
                r = sd_bus_request_name(bus, VTISM_BUS_NAME, 0);
        if (r < 0) {
                fprintf(stderr, "fake-vtismd: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        printf("ready\n");
        fflush(stdout);
        for (;;) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return EXIT_FAILURE;
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0)
                        return EXIT_FAILURE;
        }
}
