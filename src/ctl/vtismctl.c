/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vtismctl: look at and steer vtismd. Everything but check-config goes over D-Bus
 * (org.vtism1 on the system bus, bus-api.h); the daemon is the only source of truth.
 *
 * Records come as a{sv} dicts: vtismctl takes the keys it knows (with the type bus-api.h gives
 * them), skips the others, and says once, on stderr, which it skipped, so that a newer vtismd
 * never makes an older vtismctl fail or silently drop a table.
 */
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include "vtism-build.h"
#include "vtism/bus-api.h"
#include "vtism/config.h"
#include "vtism/macro.h"
#include "vtism/util.h"

/* Exit codes, documented in vtismctl(8). */
enum {
        EXIT_OK = 0,
        EXIT_FAIL = 1,
        EXIT_USAGE = 2,
        EXIT_NOT_RUNNING = 3,
        EXIT_DENIED = 4,
};

static bool arg_json = false;
static const char *arg_verb = NULL;

/* ---- reading records ---- */

typedef struct IntArray {
        int32_t *v;
        size_t n;
} IntArray;

typedef struct U64Array {
        uint64_t *v;
        size_t n;
} U64Array;

/* Where the known keys of one kind of record go: its table in bus-api.h, and for each field the
 * offset of its slot in the C struct (the slot's C type follows the D-Bus type: s char *,
 * t uint64_t, u uint32_t, i int32_t, b bool, ai IntArray, at U64Array). */
typedef struct RecordLayout {
        const char *what;          /* for the "does not know" line, e.g. "VMs" */
        const BusField *fields;
        size_t n_fields;
        const size_t *offsets;
} RecordLayout;

/* "VMs.plan_bytes", "Plans (aa{sv})": what this vtismctl skipped, reported once. */
static char **unknown;
static size_t n_unknown;

static void note_unknown(const char *what, const char *key, const char *type) {
        _cleanup_free_ char *s = key ? xasprintf("%s.%s", what, key) : xasprintf("%s (%s)", what, type);

        for (size_t i = 0; i < n_unknown; i++)
                if (streq(unknown[i], s))
                        return;
        unknown = xreallocarray(unknown, n_unknown + 1, sizeof(char *));
        unknown[n_unknown++] = TAKE_PTR(s);
}

static void report_unknown(void) {
        if (n_unknown == 0)
                return;
        fprintf(stderr, "vtismctl: vtismd sent fields this vtismctl does not know (");
        for (size_t i = 0; i < n_unknown; i++)
                fprintf(stderr, "%s%s", i > 0 ? ", " : "", unknown[i]);
        fprintf(stderr, "); upgrade vtismctl to see them.\n");
        for (size_t i = 0; i < n_unknown; i++)
                free(unknown[i]);
        free(unknown);
        unknown = NULL;
        n_unknown = 0;
}

static int read_slot(sd_bus_message *m, const char *type, void *slot) {
        const void *p;
        size_t size;
        int r;

        switch (type[0]) {
        case 's': {
                const char *s;

                r = sd_bus_message_read_basic(m, 's', &s);
                if (r < 0)
                        return r;
                free(*(char **) slot);
                *(char **) slot = xstrdup(s);
                return 0;
        }
        case 'b': {
                int b;

                r = sd_bus_message_read_basic(m, 'b', &b);
                if (r < 0)
                        return r;
                *(bool *) slot = b;
                return 0;
        }
        case 't':
        case 'u':
        case 'i':
                return sd_bus_message_read_basic(m, type[0], slot);
        case 'a':
                r = sd_bus_message_read_array(m, type[1], &p, &size);
                if (r < 0)
                        return r;
                if (type[1] == 'i') {
                        IntArray *a = slot;
                        free(a->v);
                        a->n = size / sizeof(int32_t);
                        a->v = xmalloc(size);
                        memcpy(a->v, p, size);
                } else {
                        U64Array *a = slot;
                        free(a->v);
                        a->n = size / sizeof(uint64_t);
                        a->v = xmalloc(size);
                        memcpy(a->v, p, size);
                }
                return 0;
        default:
                return -EINVAL;
        }
}

/* Read one a{sv} record into dest; *ret_present gets a bit per field found. */
static int read_record(sd_bus_message *m, const RecordLayout *l, void *dest, uint64_t *ret_present) {
        uint64_t present = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const BusField *f;
                const char *key, *contents;

                r = sd_bus_message_read_basic(m, 's', &key);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(m, NULL, &contents);
                if (r < 0)
                        return r;
                f = bus_field_find(l->fields, l->n_fields, key);
                if (f && streq(f->type, contents)) {
                        size_t i = (size_t) (f - l->fields);

                        r = sd_bus_message_enter_container(m, 'v', contents);
                        if (r < 0)
                                return r;
                        r = read_slot(m, contents, (uint8_t *) dest + l->offsets[i]);
                        if (r < 0)
                                return r;
                        r = sd_bus_message_exit_container(m);
                        if (r < 0)
                                return r;
                        present |= UINT64_C(1) << i;
                } else {
                        /* Unknown here, or known with a type we cannot read: skip, and say so. */
                        _cleanup_free_ char *k = f ? xasprintf("%s:%s", key, contents) : xstrdup(key);

                        note_unknown(l->what, k, NULL);
                        r = sd_bus_message_skip(m, "v");
                        if (r < 0)
                                return r;
                }
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        if (ret_present)
                *ret_present = present;
        return sd_bus_message_exit_container(m);
}

static void record_done(const RecordLayout *l, void *dest) {
        for (size_t i = 0; i < l->n_fields; i++) {
                void *slot = (uint8_t *) dest + l->offsets[i];

                if (l->fields[i].type[0] == 's')
                        free(*(char **) slot);
                else if (l->fields[i].type[0] == 'a')
                        free(*(void **) slot); /* IntArray and U64Array start with their pointer */
        }
}

/* aa{sv}: a growing array of records of record_size bytes. */
static int read_records(sd_bus_message *m, const RecordLayout *l, size_t record_size, void **records, size_t *n,
                        void (*defaults)(void *record, uint64_t present)) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "a{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_at_end(m, false)) == 0) {
                uint64_t present;
                uint8_t *rec;

                *records = xreallocarray(*records, *n + 1, record_size);
                rec = (uint8_t *) *records + *n * record_size;
                memset(rec, 0, record_size);
                (*n)++;
                r = read_record(m, l, rec, &present);
                if (r < 0)
                        return r;
                if (defaults)
                        defaults(rec, present);
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

#define PRESENT(present, field) (((present) >> (field)) & 1)

typedef struct NodeInfo {
        int32_t id;
        char *tier;
        char *tier_source;
        int32_t memory_tier;   /* -1: none */
        char *cpus;
        uint64_t total_bytes;
        uint64_t free_bytes;
        IntArray targets;
} NodeInfo;

static const size_t node_offsets[_BUS_NODE_FIELD_MAX] = {
        [BUS_NODE_ID] = offsetof(NodeInfo, id),
        [BUS_NODE_TIER] = offsetof(NodeInfo, tier),
        [BUS_NODE_CLASSIFIED_BY] = offsetof(NodeInfo, tier_source),
        [BUS_NODE_MEMORY_TIER] = offsetof(NodeInfo, memory_tier),
        [BUS_NODE_CPUS] = offsetof(NodeInfo, cpus),
        [BUS_NODE_TOTAL_BYTES] = offsetof(NodeInfo, total_bytes),
        [BUS_NODE_FREE_BYTES] = offsetof(NodeInfo, free_bytes),
        [BUS_NODE_DEMOTION_TARGETS] = offsetof(NodeInfo, targets),
};
assert_cc(ELEMENTSOF(node_offsets) == _BUS_NODE_FIELD_MAX);
static const RecordLayout node_layout = { "Nodes", bus_node_fields, _BUS_NODE_FIELD_MAX, node_offsets };

static void node_defaults(void *p, uint64_t present) {
        NodeInfo *n = p;

        if (!PRESENT(present, BUS_NODE_MEMORY_TIER))
                n->memory_tier = -1;
        n->tier = n->tier ?: xstrdup("?");
        n->tier_source = n->tier_source ?: xstrdup("?");
        n->cpus = n->cpus ?: xstrdup("");
}

typedef struct VmInfo {
        char *id, *name, *uuid, *sources, *state, *error, *home_reason, *policy;
        char *not_tiered, *allowed_nodes;
        uint32_t pid;
        uint64_t ram_bytes, dram_bytes, cxl_bytes, hot_bytes, warm_bytes, cold_bytes, cycles, dram_budget_bytes;
        uint64_t dram_target_bytes, migration_rounds, pages_promoted, pages_demoted, bytes_promoted, bytes_demoted;
        uint64_t pages_failed, pages_failed_by[6], pages_would_move;
        int32_t home_node;     /* -1: none */
        bool residency_known;
        bool budget_known;
        bool target_known;
} VmInfo;

static const size_t vm_offsets[_BUS_VM_FIELD_MAX] = {
        [BUS_VM_ID] = offsetof(VmInfo, id),
        [BUS_VM_NAME] = offsetof(VmInfo, name),
        [BUS_VM_UUID] = offsetof(VmInfo, uuid),
        [BUS_VM_PID] = offsetof(VmInfo, pid),
        [BUS_VM_SOURCES] = offsetof(VmInfo, sources),
        [BUS_VM_STATE] = offsetof(VmInfo, state),
        [BUS_VM_ERROR] = offsetof(VmInfo, error),
        [BUS_VM_RAM_BYTES] = offsetof(VmInfo, ram_bytes),
        [BUS_VM_RESIDENCY_KNOWN] = offsetof(VmInfo, residency_known),
        [BUS_VM_DRAM_BYTES] = offsetof(VmInfo, dram_bytes),
        [BUS_VM_CXL_BYTES] = offsetof(VmInfo, cxl_bytes),
        [BUS_VM_HOT_BYTES] = offsetof(VmInfo, hot_bytes),
        [BUS_VM_WARM_BYTES] = offsetof(VmInfo, warm_bytes),
        [BUS_VM_COLD_BYTES] = offsetof(VmInfo, cold_bytes),
        [BUS_VM_CYCLES] = offsetof(VmInfo, cycles),
        [BUS_VM_HOME_NODE] = offsetof(VmInfo, home_node),
        [BUS_VM_HOME_REASON] = offsetof(VmInfo, home_reason),
        [BUS_VM_POLICY] = offsetof(VmInfo, policy),
        [BUS_VM_DRAM_BUDGET_BYTES] = offsetof(VmInfo, dram_budget_bytes),
        [BUS_VM_DRAM_TARGET_BYTES] = offsetof(VmInfo, dram_target_bytes),
        [BUS_VM_NOT_TIERED] = offsetof(VmInfo, not_tiered),
        [BUS_VM_ALLOWED_NODES] = offsetof(VmInfo, allowed_nodes),
        [BUS_VM_MIGRATION_ROUNDS] = offsetof(VmInfo, migration_rounds),
        [BUS_VM_PAGES_PROMOTED] = offsetof(VmInfo, pages_promoted),
        [BUS_VM_PAGES_DEMOTED] = offsetof(VmInfo, pages_demoted),
        [BUS_VM_BYTES_PROMOTED] = offsetof(VmInfo, bytes_promoted),
        [BUS_VM_BYTES_DEMOTED] = offsetof(VmInfo, bytes_demoted),
        [BUS_VM_PAGES_FAILED] = offsetof(VmInfo, pages_failed),
        [BUS_VM_PAGES_FAILED_BUSY] = offsetof(VmInfo, pages_failed_by[0]),
        [BUS_VM_PAGES_FAILED_NOMEM] = offsetof(VmInfo, pages_failed_by[1]),
        [BUS_VM_PAGES_FAILED_GONE] = offsetof(VmInfo, pages_failed_by[2]),
        [BUS_VM_PAGES_FAILED_SHARED] = offsetof(VmInfo, pages_failed_by[3]),
        [BUS_VM_PAGES_FAILED_NOT_ALLOWED] = offsetof(VmInfo, pages_failed_by[4]),
        [BUS_VM_PAGES_FAILED_OTHER] = offsetof(VmInfo, pages_failed_by[5]),
        [BUS_VM_PAGES_WOULD_MOVE] = offsetof(VmInfo, pages_would_move),
};
assert_cc(ELEMENTSOF(vm_offsets) == _BUS_VM_FIELD_MAX);
static const RecordLayout vm_layout = { "VMs", bus_vm_fields, _BUS_VM_FIELD_MAX, vm_offsets };

static void vm_defaults(void *p, uint64_t present) {
        VmInfo *v = p;

        if (!PRESENT(present, BUS_VM_HOME_NODE))
                v->home_node = -1;
        v->budget_known = PRESENT(present, BUS_VM_DRAM_BUDGET_BYTES);
        v->target_known = PRESENT(present, BUS_VM_DRAM_TARGET_BYTES);
        v->id = v->id ?: xstrdup("?");
        v->name = v->name ?: xstrdup(v->id);
        v->sources = v->sources ?: xstrdup("");
        v->state = v->state ?: xstrdup("?");
}

typedef struct TrackerInfo {
        char *name;
        bool usable;
        char *reason;
} TrackerInfo;

static const size_t tracker_offsets[_BUS_TRACKER_FIELD_MAX] = {
        [BUS_TRACKER_NAME] = offsetof(TrackerInfo, name),
        [BUS_TRACKER_USABLE] = offsetof(TrackerInfo, usable),
        [BUS_TRACKER_REASON] = offsetof(TrackerInfo, reason),
};
assert_cc(ELEMENTSOF(tracker_offsets) == _BUS_TRACKER_FIELD_MAX);
static const RecordLayout tracker_layout = { "Trackers", bus_tracker_fields, _BUS_TRACKER_FIELD_MAX,
                                             tracker_offsets };

static void tracker_defaults(void *p, uint64_t present) {
        TrackerInfo *t = p;

        t->name = t->name ?: xstrdup("?");
        t->reason = t->reason ?: xstrdup("");
}

/* Counters: one uint64_t per known key, in bus-api.h's order. */
typedef struct Counters {
        uint64_t value[_BUS_COUNTER_FIELD_MAX];
} Counters;

static const size_t counter_offsets[_BUS_COUNTER_FIELD_MAX] = {
#define C(f) [f] = offsetof(Counters, value[f])
        C(BUS_COUNTER_CYCLES), C(BUS_COUNTER_PAGES_PROMOTED), C(BUS_COUNTER_PAGES_DEMOTED),
        C(BUS_COUNTER_PAGES_FAILED), C(BUS_COUNTER_BYTES_MIGRATED), C(BUS_COUNTER_RELOADS),
        C(BUS_COUNTER_RELOAD_FAILURES), C(BUS_COUNTER_PLANS), C(BUS_COUNTER_ROUNDS), C(BUS_COUNTER_BYTES_PROMOTED),
        C(BUS_COUNTER_BYTES_DEMOTED), C(BUS_COUNTER_PAGES_FAILED_BUSY), C(BUS_COUNTER_PAGES_FAILED_NOMEM),
        C(BUS_COUNTER_PAGES_FAILED_GONE), C(BUS_COUNTER_PAGES_FAILED_SHARED), C(BUS_COUNTER_PAGES_FAILED_NOT_ALLOWED),
        C(BUS_COUNTER_PAGES_FAILED_OTHER), C(BUS_COUNTER_PAGES_DROPPED), C(BUS_COUNTER_PAGES_WOULD_MOVE),
        C(BUS_COUNTER_PAGES_ALREADY), C(BUS_COUNTER_PAGES_QUERIED),
#undef C
};
assert_cc(ELEMENTSOF(counter_offsets) == _BUS_COUNTER_FIELD_MAX);
static const RecordLayout counter_layout = { "Counters", bus_counter_fields, _BUS_COUNTER_FIELD_MAX,
                                             counter_offsets };

typedef struct Status {
        char *version, *mode, *mode_reason, *tracker, *config_file, *last_reload_error, *libvirt_uri;
        char *migration_state;   /* NULL: an older vtismd */
        bool sampling_paused, migration_paused, dry_run;
        uint64_t sample_interval_usec, rate_limit_bytes, started_at_usec, last_cycle_at_usec;
        NodeInfo *nodes;
        size_t n_nodes;
        uint32_t *distances; /* n_nodes x n_nodes */
        size_t n_distances;
        Counters counters;
        char *active_tracker;
        bool have_vms;           /* the daemon exports VMs this vtismctl can read */
        VmInfo *vms;
        size_t n_vms;
        TrackerInfo *trackers;
        size_t n_trackers;
} Status;

static void status_done(Status *s) {
        free(s->version);
        free(s->mode);
        free(s->mode_reason);
        free(s->tracker);
        free(s->config_file);
        free(s->last_reload_error);
        free(s->libvirt_uri);
        free(s->migration_state);
        for (size_t i = 0; i < s->n_nodes; i++)
                record_done(&node_layout, &s->nodes[i]);
        free(s->nodes);
        free(s->distances);
        free(s->active_tracker);
        for (size_t i = 0; i < s->n_vms; i++)
                record_done(&vm_layout, &s->vms[i]);
        free(s->vms);
        for (size_t i = 0; i < s->n_trackers; i++)
                record_done(&tracker_layout, &s->trackers[i]);
        free(s->trackers);
}

/* Turn a bus error into a message a user can act on, and an exit code. */
static int report_bus_error(const char *what, const sd_bus_error *error, int r) {
        if (sd_bus_error_has_names(error, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
                fprintf(stderr, "vtismctl: vtismd is not running (start it with 'systemctl start vtismd').\n");
                return EXIT_NOT_RUNNING;
        }
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_ACCESS_DENIED)) {
                const char *why = error->message ? strstr(error->message, "Permission denied: ") : NULL;

                /* vtismd's own refusal says why (e.g. root without CAP_SYS_ADMIN); the bus
                 * policy's is about rules and matches. */
                if (why == error->message && why)
                        fprintf(stderr, "vtismctl: permission denied: %s\n", why + strlen("Permission denied: "));
                else
                        fprintf(stderr, "vtismctl: permission denied: '%s' needs root (with CAP_SYS_ADMIN).\n", what);
                return EXIT_DENIED;
        }
        if (sd_bus_error_is_set(error))
                fprintf(stderr, "vtismctl: %s failed: %s\n", what, error->message ?: error->name);
        else
                fprintf(stderr, "vtismctl: %s failed: %s\n", what, strerror(-r));
        return EXIT_FAIL;
}

static int connect_bus(sd_bus **ret) {
        int r;

        r = sd_bus_open_system(ret);
        if (r < 0) {
                fprintf(stderr, "vtismctl: cannot connect to the system bus: %s (is dbus running? then vtismd "
                                "is not running either)\n", strerror(-r));
                return EXIT_NOT_RUNNING;
        }
        return EXIT_OK;
}

static int read_distances(sd_bus_message *m, Status *s) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "au");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'a', "u")) > 0) {
                uint32_t d;

                while ((r = sd_bus_message_read(m, "u", &d)) > 0) {
                        s->distances = xreallocarray(s->distances, s->n_distances + 1, sizeof(uint32_t));
                        s->distances[s->n_distances++] = d;
                }
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int read_property(sd_bus_message *m, const char *name, Status *s) {
        /* Scalars: name, type, where. */
        const struct {
                const char *name;
                const char *type;
                void *slot;
        } scalars[] = {
                { VTISM_PROP_VERSION, "s", &s->version },
                { VTISM_PROP_MODE, "s", &s->mode },
                { VTISM_PROP_MODE_REASON, "s", &s->mode_reason },
                { VTISM_PROP_TRACKER, "s", &s->tracker },
                { VTISM_PROP_CONFIG_FILE, "s", &s->config_file },
                { VTISM_PROP_LAST_RELOAD_ERROR, "s", &s->last_reload_error },
                { VTISM_PROP_LIBVIRT_URI, "s", &s->libvirt_uri },
                { VTISM_PROP_ACTIVE_TRACKER, "s", &s->active_tracker },
                { VTISM_PROP_MIGRATION_STATE, "s", &s->migration_state },
                { VTISM_PROP_SAMPLING_PAUSED, "b", &s->sampling_paused },
                { VTISM_PROP_MIGRATION_PAUSED, "b", &s->migration_paused },
                { VTISM_PROP_DRY_RUN, "b", &s->dry_run },
                { VTISM_PROP_SAMPLE_INTERVAL_USEC, "t", &s->sample_interval_usec },
                { VTISM_PROP_MIGRATE_RATE_LIMIT, "t", &s->rate_limit_bytes },
                { VTISM_PROP_STARTED_AT, "t", &s->started_at_usec },
                { VTISM_PROP_LAST_CYCLE_AT, "t", &s->last_cycle_at_usec },
        };
        const char *contents;
        int r;

        r = sd_bus_message_peek_type(m, NULL, &contents);
        if (r < 0)
                return r;

        for (size_t i = 0; i < ELEMENTSOF(scalars); i++)
                if (streq(name, scalars[i].name) && streq(contents, scalars[i].type)) {
                        r = sd_bus_message_enter_container(m, 'v', contents);
                        if (r >= 0)
                                r = read_slot(m, contents, scalars[i].slot);
                        goto done;
                }

        if (streq(name, VTISM_PROP_NODES) && streq(contents, "aa{sv}")) {
                r = sd_bus_message_enter_container(m, 'v', contents);
                if (r >= 0)
                        r = read_records(m, &node_layout, sizeof(NodeInfo), (void **) &s->nodes, &s->n_nodes,
                                         node_defaults);
        } else if (streq(name, VTISM_PROP_DISTANCES) && streq(contents, "aau")) {
                r = sd_bus_message_enter_container(m, 'v', contents);
                if (r >= 0)
                        r = read_distances(m, s);
        } else if (streq(name, VTISM_PROP_COUNTERS) && streq(contents, "a{sv}")) {
                r = sd_bus_message_enter_container(m, 'v', contents);
                if (r >= 0)
                        r = read_record(m, &counter_layout, &s->counters, NULL);
        } else if (streq(name, VTISM_PROP_VMS) && streq(contents, "aa{sv}")) {
                s->have_vms = true;
                r = sd_bus_message_enter_container(m, 'v', contents);
                if (r >= 0)
                        r = read_records(m, &vm_layout, sizeof(VmInfo), (void **) &s->vms, &s->n_vms, vm_defaults);
        } else if (streq(name, VTISM_PROP_TRACKERS) && streq(contents, "aa{sv}")) {
                r = sd_bus_message_enter_container(m, 'v', contents);
                if (r >= 0)
                        r = read_records(m, &tracker_layout, sizeof(TrackerInfo), (void **) &s->trackers,
                                         &s->n_trackers, tracker_defaults);
        } else {
                /* A newer (or older) daemon: skip what we cannot read, and say so. */
                note_unknown(name, NULL, contents);
                return sd_bus_message_skip(m, "v");
        }
done:
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int fetch_status(sd_bus *bus, Status *s) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *name;
        int r;

        r = sd_bus_call_method(bus, VTISM_BUS_NAME, VTISM_BUS_PATH, "org.freedesktop.DBus.Properties", "GetAll",
                               &error, &reply, "s", VTISM_BUS_INTERFACE);
        if (r < 0)
                return report_bus_error("status", &error, r);

        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                goto fail;
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                r = sd_bus_message_read(reply, "s", &name);
                if (r < 0)
                        goto fail;
                r = read_property(reply, name, s);
                if (r < 0)
                        goto fail;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        goto fail;
        }
        if (r < 0)
                goto fail;
        if (!s->version || !s->mode || s->n_distances != s->n_nodes * s->n_nodes) {
                fprintf(stderr, "vtismctl: vtismd's reply lacks expected properties (version mismatch?)\n");
                return EXIT_FAIL;
        }
        return EXIT_OK;
fail:
        fprintf(stderr, "vtismctl: cannot parse vtismd's reply: %s\n", strerror(-r));
        return EXIT_FAIL;
}

static uint64_t counter(const Status *s, BusCounterField c) {
        return s->counters.value[c];
}

static char *format_targets(const NodeInfo *n) {
        return n->targets.n > 0 ? join_int_list(n->targets.v, n->targets.n, " ") : xstrdup("-");
}

static void format_duration(char *buf, size_t len, uint64_t usec) {
        uint64_t sec = usec / USEC_PER_SEC;

        if (usec < USEC_PER_SEC)
                snprintf(buf, len, "%" PRIu64 "ms", usec / USEC_PER_MSEC);
        else if (sec < 120)
                snprintf(buf, len, "%" PRIu64 "s", sec);
        else if (sec < 7200)
                snprintf(buf, len, "%" PRIu64 "min %" PRIu64 "s", sec / 60, sec % 60);
        else
                snprintf(buf, len, "%" PRIu64 "h %" PRIu64 "min", sec / 3600, sec % 3600 / 60);
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static void print_nodes(const Status *s) {
        printf("NODE  TIER  CLASSIFIED BY  MEMTIER  CPUS        SIZE        FREE        DEMOTES TO\n");
        for (size_t i = 0; i < s->n_nodes; i++) {
                const NodeInfo *n = &s->nodes[i];
                _cleanup_free_ char *targets = format_targets(n);
                char size[FORMAT_BYTES_MAX], free_[FORMAT_BYTES_MAX], tier[16];

                if (n->memory_tier >= 0)
                        snprintf(tier, sizeof(tier), "%d", n->memory_tier);
                else
                        snprintf(tier, sizeof(tier), "-");
                printf("%4d  %-4s  %-13s  %7s  %-10s  %10s  %10s  %s\n", n->id, n->tier, n->tier_source, tier,
                       *n->cpus ? n->cpus : "-", format_bytes(size, sizeof(size), n->total_bytes),
                       format_bytes(free_, sizeof(free_), n->free_bytes), targets);
        }
}

static void print_distances(const Status *s) {
        printf("\nnode distances:\nnode ");
        for (size_t j = 0; j < s->n_nodes; j++)
                printf(" %4d", s->nodes[j].id);
        printf("\n");
        for (size_t i = 0; i < s->n_nodes; i++) {
                printf("%4d:", s->nodes[i].id);
                for (size_t j = 0; j < s->n_nodes; j++)
                        printf(" %4" PRIu32, s->distances[i * s->n_nodes + j]);
                printf("\n");
        }
}

static void print_trackers(const Status *s) {
        for (size_t i = 0; i < s->n_trackers; i++)
                if (!s->trackers[i].usable)
                        printf("%13s: unavailable: %s\n", s->trackers[i].name, s->trackers[i].reason);
}

static const char *bytes_or_dash(char *buf, size_t len, uint64_t bytes, bool known) {
        return known ? format_bytes(buf, len, bytes) : "-";
}

static void print_vms(const Status *s) {
        if (s->n_vms == 0) {
                printf("VMs: none found\n");
                return;
        }
        printf("VM                    PID      RAM     BUDGET     TARGET       DRAM        CXL        HOT       WARM       COLD  HOME  "
               "STATE        POLICY\n");
        for (size_t i = 0; i < s->n_vms; i++) {
                const VmInfo *v = &s->vms[i];
                char ram[FORMAT_BYTES_MAX], dram[FORMAT_BYTES_MAX], cxl[FORMAT_BYTES_MAX], hot[FORMAT_BYTES_MAX],
                        warm[FORMAT_BYTES_MAX], cold[FORMAT_BYTES_MAX], budget[FORMAT_BYTES_MAX], target[FORMAT_BYTES_MAX],
                        home[16];
                bool sampled = streq(v->state, "tracked") && v->cycles > 0;

                if (v->home_node >= 0)
                        snprintf(home, sizeof(home), "%d", v->home_node);
                else
                        snprintf(home, sizeof(home), "-");
                printf("%-20.20s %5" PRIu32 " %10s %10s %10s %10s %10s %10s %10s %10s %5s  %-11s  %s\n", v->name, v->pid,
                       format_bytes(ram, sizeof(ram), v->ram_bytes),
                       bytes_or_dash(budget, sizeof(budget), v->dram_budget_bytes, v->budget_known),
                       bytes_or_dash(target, sizeof(target), v->dram_target_bytes, v->target_known && !v->not_tiered),
                       bytes_or_dash(dram, sizeof(dram), v->dram_bytes, v->residency_known),
                       bytes_or_dash(cxl, sizeof(cxl), v->cxl_bytes, v->residency_known),
                       bytes_or_dash(hot, sizeof(hot), v->hot_bytes, sampled),
                       bytes_or_dash(warm, sizeof(warm), v->warm_bytes, sampled),
                       bytes_or_dash(cold, sizeof(cold), v->cold_bytes, sampled), home, v->state,
                       v->policy ?: "-");
        }
        for (size_t i = 0; i < s->n_vms; i++) {
                const VmInfo *v = &s->vms[i];

                if (v->error && *v->error)
                        printf("  %s: %s\n", v->name, v->error);
                else if (v->not_tiered && *v->not_tiered)
                        printf("  %s: not tiered: %s\n", v->name, v->not_tiered);
        }
}

/* What the daemon's migrator is doing, in words. */
static const char *migration_state_text(const Status *s) {
        const char *st = s->migration_state;

        if (!st) /* an older vtismd: its mode and flags */
                st = streq(s->mode, "monitor-only") ? "monitor-only" :
                     s->migration_paused ? "paused" : s->dry_run ? "dry-run" : "idle";
        if (streq(st, "monitor-only"))
                return "monitor-only (no CXL or no DRAM node: nothing is planned or moved)";
        if (streq(st, "paused"))
                return "paused (nothing moves; 'vtismctl resume migration')";
        if (streq(st, "dry-run"))
                return "dry-run (planned and counted, nothing moves)";
        if (streq(st, "moving"))
                return "moving";
        if (streq(st, "idle"))
                return "idle";
        return st;
}

/* "busy 3, gone 2": pages failed by reason, "" for none. */
static char *failures_text(const uint64_t *by) {
        static const char *const names[6] = { "busy", "nomem", "gone", "shared", "not-allowed", "other" };
        char *t = xstrdup("");

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                char *next;

                if (by[i] == 0)
                        continue;
                next = xasprintf("%s%s%s %" PRIu64, t, *t ? ", " : "", names[i], by[i]);
                free(t);
                t = next;
        }
        return t;
}

static void print_status(const Status *s) {
        char interval[32], ago[32], up[32], rate[FORMAT_BYTES_MAX + 8], moved[FORMAT_BYTES_MAX];
        uint64_t now = now_usec();

        printf("vtismd %s, %s: %s\n", s->version, s->mode, s->mode_reason);
        format_duration(interval, sizeof(interval), s->sample_interval_usec);
        if (s->active_tracker && *s->active_tracker)
                printf("     Sampling: %s, every %s, tracker %s%s\n", s->sampling_paused ? "paused" : "running",
                       interval, s->active_tracker, streq(s->tracker, "auto") ? " (auto)" : "");
        else
                printf("     Sampling: %s, every %s, no usable tracker (configured: %s)\n",
                       s->sampling_paused ? "paused" : "running", interval, s->tracker);
        if (s->rate_limit_bytes > 0) {
                format_bytes(rate, sizeof(rate), s->rate_limit_bytes);
                strcat(rate, "/s");
        } else
                snprintf(rate, sizeof(rate), "unlimited");
        printf("    Migration: %s, rate limit %s\n", migration_state_text(s), rate);
        printf("       Config: %s\n", s->config_file);
        if (s->last_reload_error && *s->last_reload_error)
                printf("  Last reload: FAILED, previous configuration kept: %s\n", s->last_reload_error);
        format_duration(up, sizeof(up), now > s->started_at_usec ? now - s->started_at_usec : 0);
        if (s->last_cycle_at_usec > 0) {
                format_duration(ago, sizeof(ago), now > s->last_cycle_at_usec ? now - s->last_cycle_at_usec : 0);
                printf("       Cycles: %" PRIu64 ", last %s ago; up %s\n", counter(s, BUS_COUNTER_CYCLES), ago, up);
        } else
                printf("       Cycles: none yet; up %s\n", up);
        print_trackers(s);
        printf("\n");
        print_nodes(s);
        if (s->have_vms) {
                printf("\n");
                print_vms(s);
        }
        printf("\nMigrations: %" PRIu64 " pages promoted, %" PRIu64 " demoted, %" PRIu64 " failed, %s moved\n",
               counter(s, BUS_COUNTER_PAGES_PROMOTED), counter(s, BUS_COUNTER_PAGES_DEMOTED), counter(s, BUS_COUNTER_PAGES_FAILED),
               format_bytes(moved, sizeof(moved), counter(s, BUS_COUNTER_BYTES_MIGRATED)));
        if (counter(s, BUS_COUNTER_PLANS) > 0) {
                char p[FORMAT_BYTES_MAX], d[FORMAT_BYTES_MAX];
                uint64_t by[6] = {
                        counter(s, BUS_COUNTER_PAGES_FAILED_BUSY), counter(s, BUS_COUNTER_PAGES_FAILED_NOMEM),
                        counter(s, BUS_COUNTER_PAGES_FAILED_GONE), counter(s, BUS_COUNTER_PAGES_FAILED_SHARED),
                        counter(s, BUS_COUNTER_PAGES_FAILED_NOT_ALLOWED), counter(s, BUS_COUNTER_PAGES_FAILED_OTHER),
                };
                _cleanup_free_ char *why = failures_text(by);

                printf("            %s promoted, %s demoted in %" PRIu64 " rounds of %" PRIu64 " plans%s%s",
                       format_bytes(p, sizeof(p), counter(s, BUS_COUNTER_BYTES_PROMOTED)),
                       format_bytes(d, sizeof(d), counter(s, BUS_COUNTER_BYTES_DEMOTED)), counter(s, BUS_COUNTER_ROUNDS),
                       counter(s, BUS_COUNTER_PLANS), *why ? "; failed: " : "", why);
                if (counter(s, BUS_COUNTER_PAGES_WOULD_MOVE) > 0)
                        printf("; dry-run: %" PRIu64 " pages would have moved", counter(s, BUS_COUNTER_PAGES_WOULD_MOVE));
                printf("\n");
        }
}

static json_object *json_nodes(const Status *s) {
        json_object *a = json_object_new_array();

        for (size_t i = 0; i < s->n_nodes; i++) {
                const NodeInfo *n = &s->nodes[i];
                json_object *o = json_object_new_object(), *t = json_object_new_array(), *d = json_object_new_array();

                json_object_object_add(o, "id", json_object_new_int(n->id));
                json_object_object_add(o, "tier", json_object_new_string(n->tier));
                json_object_object_add(o, "classified_by", json_object_new_string(n->tier_source));
                json_object_object_add(o, "memory_tier", n->memory_tier >= 0 ? json_object_new_int(n->memory_tier) : NULL);
                json_object_object_add(o, "cpus", json_object_new_string(n->cpus));
                json_object_object_add(o, "total_bytes", json_object_new_uint64(n->total_bytes));
                json_object_object_add(o, "free_bytes", json_object_new_uint64(n->free_bytes));
                for (size_t j = 0; j < n->targets.n; j++)
                        json_object_array_add(t, json_object_new_int(n->targets.v[j]));
                json_object_object_add(o, "demotion_targets", t);
                for (size_t j = 0; j < s->n_nodes; j++)
                        json_object_array_add(d, json_object_new_int((int32_t) s->distances[i * s->n_nodes + j]));
                json_object_object_add(o, "distances", d);
                json_object_array_add(a, o);
        }
        return a;
}

static json_object *json_trackers(const Status *s) {
        json_object *a = json_object_new_array();

        for (size_t i = 0; i < s->n_trackers; i++) {
                json_object *o = json_object_new_object();

                json_object_object_add(o, "name", json_object_new_string(s->trackers[i].name));
                json_object_object_add(o, "usable", json_object_new_boolean(s->trackers[i].usable));
                json_object_object_add(o, "reason", s->trackers[i].usable ? NULL :
                                                            json_object_new_string(s->trackers[i].reason));
                json_object_array_add(a, o);
        }
        return a;
}

static json_object *json_vms(const Status *s) {
        json_object *a = json_object_new_array();

        for (size_t i = 0; i < s->n_vms; i++) {
                const VmInfo *v = &s->vms[i];
                json_object *o = json_object_new_object();

                json_object_object_add(o, "id", json_object_new_string(v->id));
                json_object_object_add(o, "name", json_object_new_string(v->name));
                json_object_object_add(o, "uuid", v->uuid && *v->uuid ? json_object_new_string(v->uuid) : NULL);
                json_object_object_add(o, "pid", json_object_new_int64(v->pid));
                json_object_object_add(o, "sources", json_object_new_string(v->sources));
                json_object_object_add(o, "state", json_object_new_string(v->state));
                json_object_object_add(o, "error", v->error && *v->error ? json_object_new_string(v->error) : NULL);
                json_object_object_add(o, "ram_bytes", json_object_new_uint64(v->ram_bytes));
                json_object_object_add(o, "residency_known", json_object_new_boolean(v->residency_known));
                json_object_object_add(o, "dram_bytes", json_object_new_uint64(v->dram_bytes));
                json_object_object_add(o, "cxl_bytes", json_object_new_uint64(v->cxl_bytes));
                json_object_object_add(o, "hot_bytes", json_object_new_uint64(v->hot_bytes));
                json_object_object_add(o, "warm_bytes", json_object_new_uint64(v->warm_bytes));
                json_object_object_add(o, "cold_bytes", json_object_new_uint64(v->cold_bytes));
                json_object_object_add(o, "cycles", json_object_new_uint64(v->cycles));
                json_object_object_add(o, "home_node", v->home_node >= 0 ? json_object_new_int(v->home_node) : NULL);
                json_object_object_add(o, "home_reason", v->home_reason ? json_object_new_string(v->home_reason) : NULL);
                json_object_object_add(o, "policy", v->policy ? json_object_new_string(v->policy) : NULL);
                json_object_object_add(o, "dram_budget_bytes",
                                       v->budget_known ? json_object_new_uint64(v->dram_budget_bytes) : NULL);
                json_object_object_add(o, "dram_target_bytes",
                                       v->target_known ? json_object_new_uint64(v->dram_target_bytes) : NULL);
                json_object_object_add(o, "not_tiered", v->not_tiered ? json_object_new_string(v->not_tiered) : NULL);
                json_object_object_add(o, "allowed_nodes", v->allowed_nodes ? json_object_new_string(v->allowed_nodes) : NULL);
                json_object_object_add(o, "migration_rounds", json_object_new_uint64(v->migration_rounds));
                json_object_object_add(o, "pages_promoted", json_object_new_uint64(v->pages_promoted));
                json_object_object_add(o, "pages_demoted", json_object_new_uint64(v->pages_demoted));
                json_object_object_add(o, "bytes_promoted", json_object_new_uint64(v->bytes_promoted));
                json_object_object_add(o, "bytes_demoted", json_object_new_uint64(v->bytes_demoted));
                json_object_object_add(o, "pages_failed", json_object_new_uint64(v->pages_failed));
                for (size_t k = 0; k < ELEMENTSOF(v->pages_failed_by); k++)
                        json_object_object_add(o, bus_vm_fields[BUS_VM_PAGES_FAILED_BUSY + k].key,
                                               json_object_new_uint64(v->pages_failed_by[k]));
                json_object_object_add(o, "pages_would_move", json_object_new_uint64(v->pages_would_move));
                json_object_array_add(a, o);
        }
        return a;
}

static void print_json(const Status *s, bool nodes_only) {
        json_object *o, *c;

        if (nodes_only)
                o = json_nodes(s);
        else {
                o = json_object_new_object();
                json_object_object_add(o, "version", json_object_new_string(s->version));
                json_object_object_add(o, "mode", json_object_new_string(s->mode));
                json_object_object_add(o, "mode_reason", json_object_new_string(s->mode_reason ?: ""));
                json_object_object_add(o, "tracker", json_object_new_string(s->tracker ?: ""));
                json_object_object_add(o, "config_file", json_object_new_string(s->config_file ?: ""));
                json_object_object_add(o, "last_reload_error",
                                       s->last_reload_error && *s->last_reload_error ?
                                               json_object_new_string(s->last_reload_error) : NULL);
                json_object_object_add(o, "sampling_paused", json_object_new_boolean(s->sampling_paused));
                json_object_object_add(o, "migration_paused", json_object_new_boolean(s->migration_paused));
                json_object_object_add(o, "dry_run", json_object_new_boolean(s->dry_run));
                json_object_object_add(o, "migration_state",
                                       s->migration_state ? json_object_new_string(s->migration_state) : NULL);
                json_object_object_add(o, "sample_interval_usec", json_object_new_uint64(s->sample_interval_usec));
                json_object_object_add(o, "migrate_rate_limit_bytes", json_object_new_uint64(s->rate_limit_bytes));
                json_object_object_add(o, "started_at_usec", json_object_new_uint64(s->started_at_usec));
                json_object_object_add(o, "last_cycle_at_usec", json_object_new_uint64(s->last_cycle_at_usec));
                json_object_object_add(o, "nodes", json_nodes(s));
                c = json_object_new_object();
                for (size_t i = 0; i < _BUS_COUNTER_FIELD_MAX; i++)
                        json_object_object_add(c, bus_counter_fields[i].key, json_object_new_uint64(s->counters.value[i]));
                json_object_object_add(o, "counters", c);
                json_object_object_add(o, "active_tracker", s->active_tracker && *s->active_tracker ?
                                                                    json_object_new_string(s->active_tracker) : NULL);
                json_object_object_add(o, "trackers", json_trackers(s));
                json_object_object_add(o, "vms", json_vms(s));
        }
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
}

static int verb_status(sd_bus *bus, int argc, char **argv) {
        _cleanup_(status_done) Status s = {};
        bool nodes_only = streq(argv[0], "nodes");
        int r;

        if (argc > 1) {
                fprintf(stderr, "vtismctl: '%s' takes no arguments.\n", argv[0]);
                return EXIT_USAGE;
        }
        r = fetch_status(bus, &s);
        if (r != EXIT_OK)
                return r;
        if (arg_json)
                print_json(&s, nodes_only);
        else if (nodes_only) {
                print_nodes(&s);
                print_distances(&s);
        } else
                print_status(&s);
        return EXIT_OK;
}

static int call(sd_bus *bus, const char *what, const char *method, const char *types, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, VTISM_BUS_NAME, VTISM_BUS_PATH, VTISM_BUS_INTERFACE, method);
        if (r < 0)
                return report_bus_error(what, &error, r);
        va_start(ap, types);
        r = sd_bus_message_appendv(m, types, ap);
        va_end(ap);
        if (r < 0)
                return report_bus_error(what, &error, r);
        r = sd_bus_call(bus, m, 0, &error, &reply);
        if (r < 0)
                return report_bus_error(what, &error, r);
        return EXIT_OK;
}

typedef struct HeatInfo {
        char *id, *name;
        uint64_t range_bytes, cycles;
} HeatInfo;

static const size_t heat_info_offsets[_BUS_HEATMAP_FIELD_MAX] = {
        [BUS_HEATMAP_ID] = offsetof(HeatInfo, id),
        [BUS_HEATMAP_NAME] = offsetof(HeatInfo, name),
        [BUS_HEATMAP_RANGE_BYTES] = offsetof(HeatInfo, range_bytes),
        [BUS_HEATMAP_CYCLES] = offsetof(HeatInfo, cycles),
};
assert_cc(ELEMENTSOF(heat_info_offsets) == _BUS_HEATMAP_FIELD_MAX);
static const RecordLayout heat_info_layout = { "GetHeatmap", bus_heatmap_fields, _BUS_HEATMAP_FIELD_MAX,
                                               heat_info_offsets };

typedef struct HeatWindow {
        uint64_t gpa, ram_bytes, hot_bytes, warm_bytes, cold_bytes, dram_bytes, cxl_bytes;
        U64Array buckets;
} HeatWindow;

static const size_t heat_window_offsets[_BUS_HEAT_RANGE_FIELD_MAX] = {
        [BUS_HEAT_RANGE_GPA] = offsetof(HeatWindow, gpa),
        [BUS_HEAT_RANGE_RAM_BYTES] = offsetof(HeatWindow, ram_bytes),
        [BUS_HEAT_RANGE_HOT_BYTES] = offsetof(HeatWindow, hot_bytes),
        [BUS_HEAT_RANGE_WARM_BYTES] = offsetof(HeatWindow, warm_bytes),
        [BUS_HEAT_RANGE_COLD_BYTES] = offsetof(HeatWindow, cold_bytes),
        [BUS_HEAT_RANGE_DRAM_BYTES] = offsetof(HeatWindow, dram_bytes),
        [BUS_HEAT_RANGE_CXL_BYTES] = offsetof(HeatWindow, cxl_bytes),
        [BUS_HEAT_RANGE_HEAT_BUCKETS] = offsetof(HeatWindow, buckets),
};
assert_cc(ELEMENTSOF(heat_window_offsets) == _BUS_HEAT_RANGE_FIELD_MAX);
static const RecordLayout heat_window_layout = { "GetHeatmap.ranges", bus_heat_range_fields,
                                                 _BUS_HEAT_RANGE_FIELD_MAX, heat_window_offsets };

/* One character per GPA range for the strip: how much of it is hot. */
static char heat_glyph(const HeatWindow *w) {
        uint64_t pct = w->ram_bytes ? w->hot_bytes * 100 / w->ram_bytes : 0;

        if (w->hot_bytes == 0)
                return w->warm_bytes == 0 ? '_' : '.';
        return pct < 25 ? 'o' : pct < 50 ? 'O' : '#';
}

/* One character per heat bucket: the share of the range's pages in it. */
static char bucket_glyph(uint64_t pages, uint64_t total) {
        uint64_t pct = total ? pages * 100 / total : 0;

        return pages == 0 ? ' ' : pct < 10 ? '.' : pct < 25 ? ':' : pct < 50 ? '+' : '#';
}

static int print_heatmap(const HeatInfo *info, const HeatWindow *w, size_t n);

static int verb_heatmap(sd_bus *bus, int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        HeatWindow *w = NULL;
        HeatInfo info = {};
        size_t n = 0;
        int r;

        if (argc != 2) {
                fprintf(stderr, "vtismctl: usage: vtismctl heatmap VM   (VM: name, UUID or pid-N as in status)\n");
                return EXIT_USAGE;
        }
        r = sd_bus_call_method(bus, VTISM_BUS_NAME, VTISM_BUS_PATH, VTISM_BUS_INTERFACE, VTISM_METHOD_GET_HEATMAP,
                               &error, &reply, "s", argv[1]);
        if (r < 0)
                return report_bus_error("heatmap", &error, r);

        r = read_record(reply, &heat_info_layout, &info, NULL);
        if (r >= 0)
                r = read_records(reply, &heat_window_layout, sizeof(HeatWindow), (void **) &w, &n, NULL);
        if (r >= 0)
                r = print_heatmap(&info, w, n);
        else
                fprintf(stderr, "vtismctl: cannot parse vtismd's reply: %s\n", strerror(-r));
        for (size_t i = 0; i < n; i++)
                record_done(&heat_window_layout, &w[i]);
        free(w);
        record_done(&heat_info_layout, &info);
        return r < 0 ? EXIT_FAIL : EXIT_OK;
}

static int print_heatmap(const HeatInfo *info, const HeatWindow *w, size_t n) {
        const char *id = info->id ?: "?", *name = info->name ?: id;
        uint64_t range_bytes = info->range_bytes, cycles = info->cycles;

        if (arg_json) {
                json_object *o = json_object_new_object(), *a = json_object_new_array();

                json_object_object_add(o, "id", json_object_new_string(id));
                json_object_object_add(o, "name", json_object_new_string(name));
                json_object_object_add(o, "range_bytes", json_object_new_uint64(range_bytes));
                json_object_object_add(o, "cycles", json_object_new_uint64(cycles));
                for (size_t i = 0; i < n; i++) {
                        json_object *e = json_object_new_object(), *b = json_object_new_array();

                        json_object_object_add(e, "gpa", json_object_new_uint64(w[i].gpa));
                        json_object_object_add(e, "ram_bytes", json_object_new_uint64(w[i].ram_bytes));
                        json_object_object_add(e, "hot_bytes", json_object_new_uint64(w[i].hot_bytes));
                        json_object_object_add(e, "warm_bytes", json_object_new_uint64(w[i].warm_bytes));
                        json_object_object_add(e, "cold_bytes", json_object_new_uint64(w[i].cold_bytes));
                        json_object_object_add(e, "dram_bytes", json_object_new_uint64(w[i].dram_bytes));
                        json_object_object_add(e, "cxl_bytes", json_object_new_uint64(w[i].cxl_bytes));
                        for (size_t k = 0; k < w[i].buckets.n; k++)
                                json_object_array_add(b, json_object_new_uint64(w[i].buckets.v[k]));
                        json_object_object_add(e, "heat_buckets_pages", b);
                        json_object_array_add(a, e);
                }
                json_object_object_add(o, "ranges", a);
                puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(o);
                return 0;
        }

        char rb[FORMAT_BYTES_MAX];
        printf("VM %s (%s): %zu guest-physical range%s of %s, %" PRIu64 " cycles sampled\n", name, id, n,
               n == 1 ? "" : "s", format_bytes(rb, sizeof(rb), range_bytes), cycles);
        if (cycles == 0)
                printf("(not sampled yet: heat is unknown, shown as cold)\n");
        printf("heat strip, low GPA left: [");
        for (size_t i = 0; i < n; i++)
                putchar(heat_glyph(&w[i]));
        printf("]   _ cold  . warm  o <25%% hot  O <50%% hot  # mostly hot\n\n");
        printf("GPA                      RAM        HOT       WARM       COLD       DRAM        CXL  HEAT 0..255\n");
        for (size_t i = 0; i < n; i++) {
                char ram[FORMAT_BYTES_MAX], hot[FORMAT_BYTES_MAX], warm[FORMAT_BYTES_MAX], cold[FORMAT_BYTES_MAX],
                        dram[FORMAT_BYTES_MAX], cxl[FORMAT_BYTES_MAX], strip[9] = {};
                size_t n_buckets = MIN(w[i].buckets.n, sizeof(strip) - 1);
                uint64_t total = 0;

                for (size_t k = 0; k < n_buckets; k++)
                        total += w[i].buckets.v[k];
                for (size_t k = 0; k < n_buckets; k++)
                        strip[k] = bucket_glyph(w[i].buckets.v[k], total);
                printf("0x%-12" PRIx64 " %10s %10s %10s %10s %10s %10s  [%-8s]\n", w[i].gpa,
                       format_bytes(ram, sizeof(ram), w[i].ram_bytes), format_bytes(hot, sizeof(hot), w[i].hot_bytes),
                       format_bytes(warm, sizeof(warm), w[i].warm_bytes),
                       format_bytes(cold, sizeof(cold), w[i].cold_bytes),
                       format_bytes(dram, sizeof(dram), w[i].dram_bytes),
                       format_bytes(cxl, sizeof(cxl), w[i].cxl_bytes), strip);
        }
        return 0;
}

/* ---- plan ---- */

typedef struct PlanInfo {
        char *id, *name, *policy_kind, *policy, *reason, *round_state;
        uint64_t cycle, computed_at_usec, cycle_budget_bytes, dram_budget_bytes, ram_bytes, dram_bytes, cxl_bytes,
                unknown_bytes, dram_target_bytes, promote_bytes, demote_bytes, query_bytes, round, round_promoted,
                round_demoted, round_failed, round_dropped, round_would_move, round_already;
        uint32_t weight, hot_min_heat, cold_max_heat;
        bool frozen, submitted;
        uint64_t present;
} PlanInfo;

static const size_t plan_offsets[_BUS_PLAN_FIELD_MAX] = {
        [BUS_PLAN_ID] = offsetof(PlanInfo, id),
        [BUS_PLAN_NAME] = offsetof(PlanInfo, name),
        [BUS_PLAN_CYCLE] = offsetof(PlanInfo, cycle),
        [BUS_PLAN_COMPUTED_AT] = offsetof(PlanInfo, computed_at_usec),
        [BUS_PLAN_CYCLE_BUDGET_BYTES] = offsetof(PlanInfo, cycle_budget_bytes),
        [BUS_PLAN_POLICY_KIND] = offsetof(PlanInfo, policy_kind),
        [BUS_PLAN_POLICY] = offsetof(PlanInfo, policy),
        [BUS_PLAN_WEIGHT] = offsetof(PlanInfo, weight),
        [BUS_PLAN_DRAM_BUDGET_BYTES] = offsetof(PlanInfo, dram_budget_bytes),
        [BUS_PLAN_FROZEN] = offsetof(PlanInfo, frozen),
        [BUS_PLAN_SUBMITTED] = offsetof(PlanInfo, submitted),
        [BUS_PLAN_RAM_BYTES] = offsetof(PlanInfo, ram_bytes),
        [BUS_PLAN_DRAM_BYTES] = offsetof(PlanInfo, dram_bytes),
        [BUS_PLAN_CXL_BYTES] = offsetof(PlanInfo, cxl_bytes),
        [BUS_PLAN_UNKNOWN_BYTES] = offsetof(PlanInfo, unknown_bytes),
        [BUS_PLAN_DRAM_TARGET_BYTES] = offsetof(PlanInfo, dram_target_bytes),
        [BUS_PLAN_PROMOTE_BYTES] = offsetof(PlanInfo, promote_bytes),
        [BUS_PLAN_DEMOTE_BYTES] = offsetof(PlanInfo, demote_bytes),
        [BUS_PLAN_QUERY_BYTES] = offsetof(PlanInfo, query_bytes),
        [BUS_PLAN_HOT_MIN_HEAT] = offsetof(PlanInfo, hot_min_heat),
        [BUS_PLAN_COLD_MAX_HEAT] = offsetof(PlanInfo, cold_max_heat),
        [BUS_PLAN_REASON] = offsetof(PlanInfo, reason),
        [BUS_PLAN_ROUND] = offsetof(PlanInfo, round),
        [BUS_PLAN_ROUND_STATE] = offsetof(PlanInfo, round_state),
        [BUS_PLAN_ROUND_PAGES_PROMOTED] = offsetof(PlanInfo, round_promoted),
        [BUS_PLAN_ROUND_PAGES_DEMOTED] = offsetof(PlanInfo, round_demoted),
        [BUS_PLAN_ROUND_PAGES_FAILED] = offsetof(PlanInfo, round_failed),
        [BUS_PLAN_ROUND_PAGES_DROPPED] = offsetof(PlanInfo, round_dropped),
        [BUS_PLAN_ROUND_PAGES_WOULD_MOVE] = offsetof(PlanInfo, round_would_move),
        [BUS_PLAN_ROUND_PAGES_ALREADY] = offsetof(PlanInfo, round_already),
};
assert_cc(ELEMENTSOF(plan_offsets) == _BUS_PLAN_FIELD_MAX);
static const RecordLayout plan_layout = { "GetPlan", bus_plan_fields, _BUS_PLAN_FIELD_MAX, plan_offsets };

typedef struct PlanGroup {
        char *direction;
        int32_t from_node, to_node;
        uint64_t moves, pages, huge_units, needs_room_pages;
        uint32_t heat_min, heat_max;
} PlanGroup;

static const size_t plan_group_offsets[_BUS_PLAN_MOVE_FIELD_MAX] = {
        [BUS_PLAN_MOVE_DIRECTION] = offsetof(PlanGroup, direction),
        [BUS_PLAN_MOVE_FROM_NODE] = offsetof(PlanGroup, from_node),
        [BUS_PLAN_MOVE_TO_NODE] = offsetof(PlanGroup, to_node),
        [BUS_PLAN_MOVE_MOVES] = offsetof(PlanGroup, moves),
        [BUS_PLAN_MOVE_PAGES] = offsetof(PlanGroup, pages),
        [BUS_PLAN_MOVE_HUGE_UNITS] = offsetof(PlanGroup, huge_units),
        [BUS_PLAN_MOVE_NEEDS_ROOM_PAGES] = offsetof(PlanGroup, needs_room_pages),
        [BUS_PLAN_MOVE_HEAT_MIN] = offsetof(PlanGroup, heat_min),
        [BUS_PLAN_MOVE_HEAT_MAX] = offsetof(PlanGroup, heat_max),
};
assert_cc(ELEMENTSOF(plan_group_offsets) == _BUS_PLAN_MOVE_FIELD_MAX);
static const RecordLayout plan_group_layout = { "GetPlan.moves", bus_plan_move_fields, _BUS_PLAN_MOVE_FIELD_MAX,
                                                plan_group_offsets };

static void plan_group_defaults(void *p, uint64_t present) {
        PlanGroup *g = p;

        if (!PRESENT(present, BUS_PLAN_MOVE_FROM_NODE))
                g->from_node = -1;
        g->direction = g->direction ?: xstrdup("?");
}

static int print_plan(const PlanInfo *p, const PlanGroup *g, size_t n);

static int verb_plan(sd_bus *bus, int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        PlanGroup *g = NULL;
        PlanInfo info = {};
        size_t n = 0;
        int r;

        if (argc != 2) {
                fprintf(stderr, "vtismctl: usage: vtismctl plan VM   (VM: name, UUID or pid-N as in status)\n");
                return EXIT_USAGE;
        }
        r = sd_bus_call_method(bus, VTISM_BUS_NAME, VTISM_BUS_PATH, VTISM_BUS_INTERFACE, VTISM_METHOD_GET_PLAN, &error,
                               &reply, "s", argv[1]);
        if (r < 0)
                return report_bus_error("plan", &error, r);

        r = read_record(reply, &plan_layout, &info, &info.present);
        if (r >= 0)
                r = read_records(reply, &plan_group_layout, sizeof(PlanGroup), (void **) &g, &n, plan_group_defaults);
        if (r >= 0)
                r = print_plan(&info, g, n);
        else
                fprintf(stderr, "vtismctl: cannot parse vtismd's reply: %s\n", strerror(-r));
        for (size_t i = 0; i < n; i++)
                record_done(&plan_group_layout, &g[i]);
        free(g);
        record_done(&plan_layout, &info);
        return r < 0 ? EXIT_FAIL : EXIT_OK;
}

static int print_plan(const PlanInfo *p, const PlanGroup *g, size_t n) {
        const char *name = p->name ?: p->id ?: "?";
        bool have_round = PRESENT(p->present, BUS_PLAN_ROUND);
        char a[FORMAT_BYTES_MAX], b[FORMAT_BYTES_MAX], c[FORMAT_BYTES_MAX], d[FORMAT_BYTES_MAX], ago[32];
        uint64_t now = now_usec();

        if (arg_json) {
                json_object *o = json_object_new_object(), *moves = json_object_new_array();

                for (size_t i = 0; i < _BUS_PLAN_FIELD_MAX; i++) {
                        const BusField *f = &bus_plan_fields[i];
                        const void *slot = (const uint8_t *) p + plan_offsets[i];
                        json_object *v = NULL;

                        if (!PRESENT(p->present, i))
                                v = NULL;
                        else if (f->type[0] == 's')
                                v = json_object_new_string(*(char *const *) slot ?: "");
                        else if (f->type[0] == 't')
                                v = json_object_new_uint64(*(const uint64_t *) slot);
                        else if (f->type[0] == 'u')
                                v = json_object_new_uint64(*(const uint32_t *) slot);
                        else if (f->type[0] == 'b')
                                v = json_object_new_boolean(*(const bool *) slot);
                        json_object_object_add(o, f->key, v);
                }
                for (size_t i = 0; i < n; i++) {
                        json_object *e = json_object_new_object();

                        json_object_object_add(e, "direction", json_object_new_string(g[i].direction));
                        json_object_object_add(e, "from_node", g[i].from_node >= 0 ? json_object_new_int(g[i].from_node) : NULL);
                        json_object_object_add(e, "to_node", json_object_new_int(g[i].to_node));
                        json_object_object_add(e, "moves", json_object_new_uint64(g[i].moves));
                        json_object_object_add(e, "pages", json_object_new_uint64(g[i].pages));
                        json_object_object_add(e, "huge_units", json_object_new_uint64(g[i].huge_units));
                        json_object_object_add(e, "needs_room_pages", json_object_new_uint64(g[i].needs_room_pages));
                        json_object_object_add(e, "heat_min", json_object_new_uint64(g[i].heat_min));
                        json_object_object_add(e, "heat_max", json_object_new_uint64(g[i].heat_max));
                        json_object_array_add(moves, e);
                }
                json_object_object_add(o, "moves", moves);
                puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(o);
                return 0;
        }

        format_duration(ago, sizeof(ago), now > p->computed_at_usec ? now - p->computed_at_usec : 0);
        printf("VM %s (%s): plan of cycle %" PRIu64 ", %s ago\n", name, p->id ?: "?", p->cycle, ago);
        if (p->policy_kind && streq(p->policy_kind, "budget"))
                printf("      Policy: DRAM budget %s, weight %" PRIu32 " (%s)\n",
                       format_bytes(a, sizeof(a), p->dram_budget_bytes), p->weight, p->policy ?: "default");
        else
                printf("      Policy: %s, weight %" PRIu32 " (%s)\n",
                       p->policy_kind && streq(p->policy_kind, "pin") ? "pinned to DRAM" :
                       p->policy_kind && streq(p->policy_kind, "never") ? "never migrated" : (p->policy_kind ?: "?"),
                       p->weight, p->policy ?: "default");
        printf("   Placement: %s on DRAM, %s on CXL", format_bytes(a, sizeof(a), p->dram_bytes),
               format_bytes(b, sizeof(b), p->cxl_bytes));
        if (p->unknown_bytes > 0)
                printf(", %s not known yet", format_bytes(c, sizeof(c), p->unknown_bytes));
        printf(" of %s; DRAM target %s\n", format_bytes(d, sizeof(d), p->ram_bytes),
               format_bytes(c, sizeof(c), p->dram_target_bytes));
        if (p->frozen)
                printf("  Thresholds: none (no moves for it this cycle)\n");
        else if (p->hot_min_heat > 255)
                printf("  Thresholds: nothing belongs on DRAM (heat 0..255)\n");
        else if (p->policy_kind && streq(p->policy_kind, "budget"))
                printf("  Thresholds: heat >= %" PRIu32 " belongs on DRAM, heat <= %" PRIu32 " may go to CXL (heat 0..255)\n",
                       p->hot_min_heat, p->cold_max_heat);
        else
                printf("  Thresholds: heat >= %" PRIu32 " belongs on DRAM (heat 0..255)\n", p->hot_min_heat);
        if (n == 0)
                printf("       Moves: none\n");
        for (size_t i = 0; i < n; i++) {
                char from[16];

                if (g[i].from_node >= 0)
                        snprintf(from, sizeof(from), "%" PRId32, g[i].from_node);
                else
                        snprintf(from, sizeof(from), "any");
                printf("%s%s %s from node %s to node %" PRId32 ", heat %" PRIu32 "..%" PRIu32 ", %" PRIu64 " run%s",
                       i == 0 ? "       Moves: " : "              ", g[i].direction,
                       format_bytes(a, sizeof(a), g[i].pages * 4096), from, g[i].to_node, g[i].heat_min, g[i].heat_max,
                       g[i].moves, g[i].moves == 1 ? "" : "s");
                if (g[i].huge_units > 0)
                        printf(", %" PRIu64 " whole THP%s", g[i].huge_units, g[i].huge_units == 1 ? "" : "s");
                if (g[i].from_node < 0)
                        printf(" (placement queried first)");
                if (g[i].needs_room_pages > 0)
                        printf(" (%s of it into room the demotions make)", format_bytes(b, sizeof(b), g[i].needs_room_pages * 4096));
                printf("\n");
        }
        printf("         Why: %s\n", p->reason ?: "");
        printf(" Cycle budget: %s for all VMs\n", format_bytes(a, sizeof(a), p->cycle_budget_bytes));
        if (!p->submitted)
                printf("       Round: none: the plan was not handed to the migrator (migration paused)\n");
        else if (!have_round)
                printf("       Round: none (nothing to move or query)\n");
        else {
                printf("       Round: %" PRIu64 ", %s: ", p->round, p->round_state ?: "?");
                if (p->round_would_move > 0)
                        printf("dry-run, %s would have moved", format_bytes(a, sizeof(a), p->round_would_move * 4096));
                else
                        printf("promoted %s, demoted %s", format_bytes(a, sizeof(a), p->round_promoted * 4096),
                               format_bytes(b, sizeof(b), p->round_demoted * 4096));
                printf(", %" PRIu64 " pages failed, %" PRIu64 " not attempted", p->round_failed, p->round_dropped);
                if (p->round_already > 0)
                        printf(", %" PRIu64 " found in place", p->round_already);
                printf("\n");
        }
        return 0;
}

static int verb_reload(sd_bus *bus, int argc, char **argv) {
        int r;

        if (argc > 1) {
                fprintf(stderr, "vtismctl: 'reload' takes no arguments.\n");
                return EXIT_USAGE;
        }
        r = call(bus, "reload", "Reload", "");
        if (r == EXIT_OK)
                printf("Configuration reloaded.\n");
        return r;
}

static int verb_pause_resume(sd_bus *bus, int argc, char **argv) {
        bool pause = streq(argv[0], "pause");
        const char *what = argc > 1 ? argv[1] : "all";
        int r;

        if (argc > 2 || !(streq(what, "sampling") || streq(what, "migration") || streq(what, "all"))) {
                fprintf(stderr, "vtismctl: usage: vtismctl %s [sampling|migration|all]\n", argv[0]);
                return EXIT_USAGE;
        }
        r = call(bus, argv[0], pause ? "Pause" : "Resume", "s", what);
        if (r == EXIT_OK)
                printf("%s %s.\n", streq(what, "all") ? "Sampling and migration" :
                                   streq(what, "sampling") ? "Sampling" : "Migration",
                       pause ? "paused" : "resumed");
        return r;
}

static int verb_dry_run(sd_bus *bus, int argc, char **argv) {
        int enable, r;

        if (argc != 2 || ((enable = streq(argv[1], "on")) == 0 && !streq(argv[1], "off"))) {
                fprintf(stderr, "vtismctl: usage: vtismctl dry-run on|off\n");
                return EXIT_USAGE;
        }
        r = call(bus, "dry-run", "SetDryRun", "b", enable);
        if (r == EXIT_OK)
                printf("Dry-run %s.\n", enable ? "on: migrations are planned, not performed" : "off");
        return r;
}

static int verb_check_config(int argc, char **argv) {
        _cleanup_(config_freep) VtConf *c = NULL;
        _cleanup_free_ char *error = NULL;
        const char *path = argc > 1 ? argv[1] : VTISM_CONFIG_FILE;
        int r;

        if (argc > 2) {
                fprintf(stderr, "vtismctl: usage: vtismctl check-config [FILE]\n");
                return EXIT_USAGE;
        }
        r = config_load(path, &c, &error);
        if (r < 0) {
                fprintf(stderr, "%s\n", error ?: strerror(-r));
                return EXIT_FAIL;
        }
        printf("configuration OK\n");
        return EXIT_OK;
}

static void help(void) {
        printf("Usage: vtismctl [OPTIONS] COMMAND\n"
               "\n"
               "Look at and steer vtismd, the VM memory tiering daemon.\n"
               "\n"
               "Commands:\n"
               "  status                       Daemon state, nodes and tiers, migration counters\n"
               "  nodes                        NUMA nodes, tiers, demotion targets and distances\n"
               "  heatmap VM                   Heat and placement of a VM's guest RAM per GPA range\n"
               "  plan VM                      The last plan for a VM in words: target, thresholds, moves, why\n"
               "  reload                       Re-read %s (the old one stays if the new is bad)\n"
               "  pause [sampling|migration]   Pause sampling and/or migration (default: both)\n"
               "  resume [sampling|migration]  Resume them\n"
               "  dry-run on|off               Plan migrations without performing them, or stop that\n"
               "  check-config [FILE]          Check a configuration file without the daemon\n"
               "\n"
               "Options:\n"
               "  --json      Machine-readable output for status, nodes, heatmap and plan\n"
               "  -h, --help  Show this help\n"
               "  --version   Show the version\n"
               "\n"
               "Exit status: 0 success, 1 failure, 2 bad usage, 3 vtismd not running, 4 permission denied.\n"
               "See vtismctl(8).\n",
               VTISM_CONFIG_FILE);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        static const struct {
                const char *name;
                int (*run)(sd_bus *bus, int argc, char **argv);
        } verbs[] = {
                { "status", verb_status },
                { "nodes", verb_status },
                { "reload", verb_reload },
                { "pause", verb_pause_resume },
                { "resume", verb_pause_resume },
                { "dry-run", verb_dry_run },
                { "heatmap", verb_heatmap },
                { "plan", verb_plan },
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int c, r;

        /* "+": stop at the verb, so "vtismctl pause migration" keeps its arguments in order. */
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'j':
                        arg_json = true;
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                case 'V':
                        printf("vtismctl " VTISM_VERSION "\n");
                        return EXIT_OK;
                default:
                        fprintf(stderr, "Try 'vtismctl --help'.\n");
                        return EXIT_USAGE;
                }

        /* Allow "--json" after the verb too: "vtismctl status --json". */
        int n = 0;
        char **args = argv + optind;
        for (int i = 0; i < argc - optind; i++) {
                if (streq(args[i], "--json"))
                        arg_json = true;
                else if (streq(args[i], "--help") || streq(args[i], "-h")) {
                        help();
                        return EXIT_OK;
                } else
                        args[n++] = args[i];
        }
        arg_verb = n > 0 ? args[0] : "status";
        if (n == 0)
                args[n++] = (char *) arg_verb;

        if (streq(arg_verb, "check-config"))
                return verb_check_config(n, args);

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(arg_verb, verbs[i].name)) {
                        r = connect_bus(&bus);
                        if (r != EXIT_OK)
                                return r;
                        r = verbs[i].run(bus, n, args);
                        report_unknown();
                        return r;
                }

        fprintf(stderr, "vtismctl: unknown command '%s'. Try 'vtismctl --help'.\n", arg_verb);
        return EXIT_USAGE;
}
