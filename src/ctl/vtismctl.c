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
        char *id, *name, *uuid, *sources, *state, *error, *home_reason, *policy, *identity_conflict;
        uint32_t pid;
        uint64_t ram_bytes, dram_bytes, cxl_bytes, hot_bytes, warm_bytes, cold_bytes, cycles, dram_budget_bytes;
        int32_t home_node;     /* -1: none */
        bool residency_known;
        bool budget_known;
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
        [BUS_VM_IDENTITY_CONFLICT] = offsetof(VmInfo, identity_conflict),
};
assert_cc(ELEMENTSOF(vm_offsets) == _BUS_VM_FIELD_MAX);
static const RecordLayout vm_layout = { "VMs", bus_vm_fields, _BUS_VM_FIELD_MAX, vm_offsets };

static void vm_defaults(void *p, uint64_t present) {
        VmInfo *v = p;

        if (!PRESENT(present, BUS_VM_HOME_NODE))
                v->home_node = -1;
        v->budget_known = PRESENT(present, BUS_VM_DRAM_BUDGET_BYTES);
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
        C(BUS_COUNTER_RELOAD_FAILURES),
#undef C
};
assert_cc(ELEMENTSOF(counter_offsets) == _BUS_COUNTER_FIELD_MAX);
static const RecordLayout counter_layout = { "Counters", bus_counter_fields, _BUS_COUNTER_FIELD_MAX,
                                             counter_offsets };

typedef struct Status {
        char *version, *mode, *mode_reason, *tracker, *config_file, *last_reload_error, *libvirt_uri, *libvirt_state;
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
        free(s->libvirt_state);
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
                { VTISM_PROP_LIBVIRT_STATE, "s", &s->libvirt_state },
                { VTISM_PROP_ACTIVE_TRACKER, "s", &s->active_tracker },
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
        printf("VM                    PID      RAM     BUDGET       DRAM        CXL        HOT       WARM       COLD  HOME  "
               "STATE        POLICY\n");
        for (size_t i = 0; i < s->n_vms; i++) {
                const VmInfo *v = &s->vms[i];
                char ram[FORMAT_BYTES_MAX], dram[FORMAT_BYTES_MAX], cxl[FORMAT_BYTES_MAX], hot[FORMAT_BYTES_MAX],
                        warm[FORMAT_BYTES_MAX], cold[FORMAT_BYTES_MAX], budget[FORMAT_BYTES_MAX], home[16];
                bool sampled = streq(v->state, "tracked") && v->cycles > 0;

                if (v->home_node >= 0)
                        snprintf(home, sizeof(home), "%d", v->home_node);
                else
                        snprintf(home, sizeof(home), "-");
                printf("%-20.20s %5" PRIu32 " %10s %10s %10s %10s %10s %10s %10s %5s  %-11s  %s\n", v->name, v->pid,
                       format_bytes(ram, sizeof(ram), v->ram_bytes),
                       bytes_or_dash(budget, sizeof(budget), v->dram_budget_bytes, v->budget_known),
                       bytes_or_dash(dram, sizeof(dram), v->dram_bytes, v->residency_known),
                       bytes_or_dash(cxl, sizeof(cxl), v->cxl_bytes, v->residency_known),
                       bytes_or_dash(hot, sizeof(hot), v->hot_bytes, sampled),
                       bytes_or_dash(warm, sizeof(warm), v->warm_bytes, sampled),
                       bytes_or_dash(cold, sizeof(cold), v->cold_bytes, sampled), home, v->state,
                       v->policy ?: "-");
        }
        for (size_t i = 0; i < s->n_vms; i++)
                if (s->vms[i].error && *s->vms[i].error)
                        printf("  %s: %s\n", s->vms[i].name, s->vms[i].error);
        for (size_t i = 0; i < s->n_vms; i++)
                if (s->vms[i].identity_conflict && *s->vms[i].identity_conflict)
                        printf("  %s (%s): %s\n", s->vms[i].name, s->vms[i].id, s->vms[i].identity_conflict);
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
        printf("    Migration: %s%s, rate limit %s\n",
               streq(s->mode, "monitor-only") ? (s->migration_paused ? "off (monitor-only), paused" : "off (monitor-only)")
                                              : s->migration_paused ? "paused" : "running",
               s->dry_run ? ", dry-run (planned, not performed)" : "", rate);
        printf("       Config: %s\n", s->config_file);
        if (s->libvirt_state && *s->libvirt_state)
                printf("      Libvirt: %s\n", s->libvirt_state);
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
                json_object_object_add(o, "identity_conflict", v->identity_conflict && *v->identity_conflict ?
                                                                       json_object_new_string(v->identity_conflict) : NULL);
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
                json_object_object_add(o, "libvirt_uri", json_object_new_string(s->libvirt_uri ?: ""));
                json_object_object_add(o, "libvirt_state", s->libvirt_state && *s->libvirt_state ?
                                                                   json_object_new_string(s->libvirt_state) : NULL);
                json_object_object_add(o, "last_reload_error",
                                       s->last_reload_error && *s->last_reload_error ?
                                               json_object_new_string(s->last_reload_error) : NULL);
                json_object_object_add(o, "sampling_paused", json_object_new_boolean(s->sampling_paused));
                json_object_object_add(o, "migration_paused", json_object_new_boolean(s->migration_paused));
                json_object_object_add(o, "dry_run", json_object_new_boolean(s->dry_run));
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
               "  reload                       Re-read %s (the old one stays if the new is bad)\n"
               "  pause [sampling|migration]   Pause sampling and/or migration (default: both)\n"
               "  resume [sampling|migration]  Resume them\n"
               "  dry-run on|off               Plan migrations without performing them, or stop that\n"
               "  check-config [FILE]          Check a configuration file without the daemon\n"
               "\n"
               "Options:\n"
               "  --json      Machine-readable output for status, nodes and heatmap\n"
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
