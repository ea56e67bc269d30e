/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vtismctl: look at and steer vtismd. Everything but check-config goes over D-Bus
 * (org.vtism1 on the system bus, or a remote one over SSH with -H; bus-api.h); the daemon is the
 * only source of truth.
 *
 * Records come as a{sv} dicts and are read generically (bus-snapshot.h): vtismctl takes the keys
 * it knows, skips the others, and says once, on stderr, which it skipped, so that a newer vtismd
 * never makes an older vtismctl fail or silently drop a table. What it shows of a record is a
 * table here (columns), the JSON of a record is every key of its bus-api.h table (null when the
 * daemon left it out), and the metrics come from metrics.c's table: a key added to the bus shows
 * up in --json and in 'vtismctl metrics' by its table entries, and in the text tables by a column.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-bus.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "pager.h"
#include "table.h"
#include "vtism-build.h"
#include "vtism/bus-api.h"
#include "vtism/bus-snapshot.h"
#include "vtism/config.h"
#include "vtism/macro.h"
#include "vtism/metrics.h"
#include "vtism/util.h"

/* How long 'contiguity' waits for vtismd's scan (a 1 TiB VM natively: ~2-3 min). */
#define CONTIGUITY_CALL_TIMEOUT_USEC (10 * 60 * USEC_PER_SEC)

/* Exit codes, documented in vtismctl(8). */
enum {
        EXIT_OK = 0,
        EXIT_FAIL = 1,
        EXIT_USAGE = 2,
        EXIT_NOT_RUNNING = 3,
        EXIT_DENIED = 4,
};

/* The JSON's shape: bumped when a key is removed or changes meaning or type; adding keys does
 * not bump it (vtismctl(8)). */
#define JSON_SCHEMA_VERSION 1

static bool arg_json = false;
static bool arg_legend = true;
static bool arg_pager = true;
static bool arg_full = false;
static const char *arg_host = NULL;
static bool arg_watch = false;
static usec_t arg_max_age_usec = 30 * USEC_PER_SEC; /* contiguity */
static usec_t arg_watch_usec = 2 * USEC_PER_SEC;
static size_t arg_width = TABLE_WIDTH_UNLIMITED; /* for tables: the terminal's, before any pager */

/* ---- the bus ---- */

/* The connection itself failed (with -H: ssh or the bridge on the other side). */
#define IN_SET_CONN_ERROR(r) ((r) == -ENOTCONN || (r) == -ECONNRESET || (r) == -EPIPE || (r) == -ECONNREFUSED)

/* Turn a bus error into a message a user can act on, and an exit code. */
static int report_bus_error(const char *what, const sd_bus_error *error, int r) {
        if (sd_bus_error_has_names(error, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
                fprintf(stderr, "vtismctl: vtismd is not running%s%s (start it with 'systemctl start vtismd').\n",
                        arg_host ? " on " : "", arg_host ?: "");
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
        if (arg_host && IN_SET_CONN_ERROR(r)) {
                /* ssh said why on stderr already */
                fprintf(stderr, "vtismctl: cannot reach the system bus of %s (ssh -xT -- %s systemd-stdio-bridge): %s\n",
                        arg_host, arg_host, strerror(-r));
                return EXIT_NOT_RUNNING;
        }
        if (sd_bus_error_is_set(error))
                fprintf(stderr, "vtismctl: %s failed: %s\n", what, error->message ?: error->name);
        else
                fprintf(stderr, "vtismctl: %s failed: %s\n", what, strerror(-r));
        return EXIT_FAIL;
}

static int connect_bus(sd_bus **ret) {
        int r;

        if (arg_host) {
                /* ssh -xT HOST systemd-stdio-bridge, as systemctl -H does. */
                r = sd_bus_open_system_remote(ret, arg_host);
                if (r < 0) {
                        fprintf(stderr, "vtismctl: cannot reach the system bus of %s (ssh -xT -- %s systemd-stdio-bridge): %s\n",
                                arg_host, arg_host, strerror(-r));
                        return EXIT_NOT_RUNNING;
                }
                return EXIT_OK;
        }
        r = sd_bus_open_system(ret);
        if (r < 0) {
                fprintf(stderr, "vtismctl: cannot connect to the system bus: %s (is dbus running? then vtismd "
                                "is not running either)\n", strerror(-r));
                return EXIT_NOT_RUNNING;
        }
        return EXIT_OK;
}

/* vtismd's properties, read into a snapshot. Errors are reported here. */
static int fetch_status(sd_bus *bus, BusSnapshot *s) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, VTISM_BUS_NAME, VTISM_BUS_PATH, "org.freedesktop.DBus.Properties", "GetAll",
                               &error, &reply, "s", VTISM_BUS_INTERFACE);
        if (r < 0)
                return report_bus_error("status", &error, r);

        r = bus_snapshot_read(reply, s);
        if (r < 0) {
                fprintf(stderr, "vtismctl: cannot parse vtismd's reply: %s\n", strerror(-r));
                return EXIT_FAIL;
        }
        if (!bus_record_has(&s->status, BUS_STATUS_VERSION) || !bus_record_has(&s->status, BUS_STATUS_MODE) ||
            s->n_distances != s->n_nodes * s->n_nodes) {
                fprintf(stderr, "vtismctl: vtismd's reply lacks expected properties (version mismatch?)\n");
                return EXIT_FAIL;
        }
        return EXIT_OK;
}

/* What this vtismctl skipped, one line, once per run. */
static BusUnknown skipped;

static void note_skipped(const BusUnknown *u) {
        for (size_t i = 0; i < u->n; i++) {
                bool seen = false;

                for (size_t j = 0; j < skipped.n; j++)
                        seen = seen || streq(skipped.names[j], u->names[i]);
                if (!seen) {
                        skipped.names = xreallocarray(skipped.names, skipped.n + 1, sizeof(char *));
                        skipped.names[skipped.n++] = xstrdup(u->names[i]);
                }
        }
}

static void report_skipped(void) {
        if (skipped.n == 0)
                return;
        fprintf(stderr, "vtismctl: vtismd sent fields this vtismctl does not know (");
        for (size_t i = 0; i < skipped.n; i++)
                fprintf(stderr, "%s%s", i > 0 ? ", " : "", skipped.names[i]);
        fprintf(stderr, "); upgrade vtismctl to see them.\n");
        bus_unknown_done(&skipped);
}

/* ---- formatting helpers ---- */

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

/* A byte count or "-" when the record does not have it. */
static const char *bytes_cell(char *buf, size_t len, const BusRecord *r, unsigned field) {
        return bus_record_has(r, field) ? format_bytes(buf, len, bus_record_u64(r, field, 0)) : NULL;
}

/* A value per second, with a "+" if plus (a gauge's change): "+2 MiB", "-512 KiB", "0 B", "1.5". */
static void format_rate(char *buf, size_t len, double per_sec, bool bytes, bool plus) {
        char b[FORMAT_BYTES_MAX];
        double a = per_sec < 0 ? -per_sec : per_sec;

        if (bytes) {
                format_bytes(b, sizeof(b), (uint64_t) (a + 0.5));
                snprintf(buf, len, "%s%s", (uint64_t) (a + 0.5) == 0 ? "" : per_sec < 0 ? "-" : plus ? "+" : "", b);
        } else if (a >= 100 || a == 0)
                snprintf(buf, len, "%s%.0f", per_sec < 0 ? "-" : "", a);
        else
                snprintf(buf, len, "%s%.1f", per_sec < 0 ? "-" : "", a);
}

/* "dram_bytes", "bytes_migrated": a number of bytes. */
static bool key_is_bytes(const char *key) {
        size_t n = strlen(key);
        return (n >= 6 && streq(key + n - 6, "_bytes")) || strncmp(key, "bytes_", 6) == 0;
}

/* "dram_bytes" -> "DRAM/s", "pages_promoted" -> "PAGES PROMOTED/s". */
static char *rate_header(const char *key) {
        size_t n = strlen(key) - (key_is_bytes(key) ? 6 : 0);
        char *h = xasprintf("%.*s/s", (int) n, key);

        for (char *p = h; *p && p < h + n; p++)
                *p = *p == '_' ? ' ' : (char) (*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
        return h;
}

/* ---- rates between two snapshots (the live view) ---- */

typedef struct Rates {
        const BusSnapshot *prev;
        double seconds;
} Rates;

static const BusRecord *find_vm(const BusSnapshot *s, const char *id) {
        for (size_t i = 0; i < s->n_vms; i++)
                if (streq_ptr(bus_record_str(&s->vms[i], BUS_VM_ID, NULL), id))
                        return &s->vms[i];
        return NULL;
}

/* The change per second of a numeric field between two records; false if unknown. */
static bool field_rate(const BusRecord *prev, const BusRecord *cur, unsigned field, double seconds, double *ret) {
        if (!prev || !bus_record_has(prev, field) || !bus_record_has(cur, field) || seconds <= 0)
                return false;
        *ret = ((double) bus_record_u64(cur, field, 0) - (double) bus_record_u64(prev, field, 0)) / seconds;
        return true;
}

/* ---- status, nodes, VMs ---- */

/* A node's movable memory: "all" or "none" of what is online, else the size; NULL if unknown. */
static const char *movable_cell(char *buf, size_t len, const BusRecord *n) {
        uint64_t online = bus_record_u64(n, BUS_NODE_ONLINE_BYTES, 0), movable = bus_record_u64(n, BUS_NODE_MOVABLE_BYTES, 0);

        if (!bus_record_has(n, BUS_NODE_ONLINE_BYTES) || !bus_record_has(n, BUS_NODE_MOVABLE_BYTES) || online == 0)
                return NULL;
        if (movable == 0)
                return "none";
        if (movable >= online)
                return "all";
        return format_bytes(buf, len, movable);
}

static void print_nodes(FILE *f, const BusSnapshot *s) {
        _cleanup_(table_freep) Table *t = table_new();

        table_add_column(t, "NODE", TABLE_RIGHT);
        table_add_column(t, "TIER", 0);
        table_add_column(t, "CLASSIFIED BY", 0);
        table_add_column(t, "MEMTIER", TABLE_RIGHT);
        table_add_column(t, "CPUS", TABLE_ELLIPSIZE);
        table_add_column(t, "SIZE", TABLE_RIGHT);
        table_add_column(t, "FREE", TABLE_RIGHT);
        table_add_column(t, "DEMOTES TO", TABLE_ELLIPSIZE);
        table_add_column(t, "KIND", 0);
        table_add_column(t, "MOVABLE", TABLE_RIGHT);
        for (size_t i = 0; i < s->n_nodes; i++) {
                const BusRecord *n = &s->nodes[i];
                const BusValue *targets = &n->v[BUS_NODE_DEMOTION_TARGETS];
                const char *cpus = bus_record_str(n, BUS_NODE_CPUS, NULL);
                char b1[FORMAT_BYTES_MAX], b2[FORMAT_BYTES_MAX];

                table_add_cellf(t, "%" PRIi64, bus_record_i64(n, BUS_NODE_ID, -1));
                table_add_cell(t, bus_record_str(n, BUS_NODE_TIER, "?"));
                table_add_cell(t, bus_record_str(n, BUS_NODE_CLASSIFIED_BY, "?"));
                if (bus_record_has(n, BUS_NODE_MEMORY_TIER))
                        table_add_cellf(t, "%" PRIi64, bus_record_i64(n, BUS_NODE_MEMORY_TIER, 0));
                else
                        table_add_cell(t, NULL);
                table_add_cell(t, cpus && *cpus ? cpus : NULL);
                table_add_cell(t, bytes_cell(b1, sizeof(b1), n, BUS_NODE_TOTAL_BYTES));
                table_add_cell(t, bytes_cell(b2, sizeof(b2), n, BUS_NODE_FREE_BYTES));
                if (targets->present && targets->a.n > 0) {
                        _cleanup_free_ int *list = xcalloc(targets->a.n, sizeof(int));
                        _cleanup_free_ char *joined = NULL;

                        for (size_t k = 0; k < targets->a.n; k++)
                                list[k] = ((const int32_t *) targets->a.v)[k];
                        joined = join_int_list(list, targets->a.n, " ");
                        table_add_cell(t, joined);
                } else
                        table_add_cell(t, NULL);
                table_add_cell(t, bus_record_str(n, BUS_NODE_KIND, NULL));
                table_add_cell(t, movable_cell(b1, sizeof(b1), n));
        }
        table_print(t, f, arg_width, arg_legend);
}

/* What is behind each node that is not plain DRAM, and the nodes a DAX device targets that are
 * not online yet: one line each, the daemon's sentence. */
static void print_node_devices(FILE *f, const BusSnapshot *s) {
        bool header = false;

        for (int pass = 0; pass < 2; pass++) {
                const BusRecord *list = pass == 0 ? s->nodes : s->offline_nodes;
                size_t n = pass == 0 ? s->n_nodes : s->n_offline_nodes;

                for (size_t i = 0; i < n; i++) {
                        const char *kind = bus_record_str(&list[i], BUS_NODE_KIND, NULL);
                        const char *what = bus_record_str(&list[i], BUS_NODE_DESCRIPTION, NULL);

                        if (!what || (pass == 0 && streq_ptr(kind, "dram")))
                                continue;
                        if (!header && arg_legend)
                                fprintf(f, "\nbehind the nodes:\n");
                        header = true;
                        fprintf(f, "node %" PRIi64 "%s: %s\n", bus_record_i64(&list[i], BUS_NODE_ID, -1),
                                pass == 0 ? "" : " (not online)", what);
                }
        }
}

static void print_distances(FILE *f, const BusSnapshot *s) {
        _cleanup_(table_freep) Table *t = table_new();

        if (arg_legend)
                fprintf(f, "\nnode distances:\n");
        table_add_column(t, "node", TABLE_RIGHT);
        for (size_t j = 0; j < s->n_nodes; j++) {
                _cleanup_free_ char *h = xasprintf("%" PRIi64, bus_record_i64(&s->nodes[j], BUS_NODE_ID, -1));
                table_add_column(t, h, TABLE_RIGHT);
        }
        for (size_t i = 0; i < s->n_nodes; i++) {
                table_add_cellf(t, "%" PRIi64 ":", bus_record_i64(&s->nodes[i], BUS_NODE_ID, -1));
                for (size_t j = 0; j < s->n_nodes; j++)
                        table_add_cellf(t, "%" PRIu32, s->distances[i * s->n_nodes + j]);
        }
        table_print(t, f, arg_width, arg_legend);
}

/* Why the daemon uses the tracker it uses, then the unusable trackers whose reason that
 * sentence does not already give. */
static void print_trackers(FILE *f, const BusSnapshot *s) {
        const char *choice = bus_record_str(&s->status, BUS_STATUS_ACTIVE_TRACKER_REASON, "");

        if (*choice)
                fprintf(f, "      Tracker: %s\n", choice);
        for (size_t i = 0; i < s->n_trackers; i++) {
                const char *why = bus_record_str(&s->trackers[i], BUS_TRACKER_REASON, "?");

                if (bus_record_bool(&s->trackers[i], BUS_TRACKER_USABLE, true) || (*why && strstr(choice, why)))
                        continue;
                fprintf(f, "%13s: unavailable: %s\n", bus_record_str(&s->trackers[i], BUS_TRACKER_NAME, "?"), why);
        }
}

/* The VM fields whose change per second the live view shows (metrics.c: METRIC_WATCH_RATE). */
static size_t vm_rate_fields(unsigned *fields, size_t max) {
        size_t n = 0;

        for (size_t i = 0; i < n_metric_defs && n < max; i++)
                if (metric_defs[i].kind == BUS_RECORD_VM && (metric_defs[i].flags & METRIC_WATCH_RATE))
                        fields[n++] = metric_defs[i].field;
        return n;
}

static void print_vms(FILE *f, const BusSnapshot *s, const Rates *rates) {
        _cleanup_(table_freep) Table *t = table_new();
        unsigned rate_fields[_BUS_VM_FIELD_MAX];
        size_t n_rate = rates ? vm_rate_fields(rate_fields, ELEMENTSOF(rate_fields)) : 0;
        bool with_share = false;

        if (s->n_vms == 0) {
                if (arg_legend)
                        fprintf(f, "VMs: none found\n");
                return;
        }
        table_add_column(t, "VM", TABLE_ELLIPSIZE);
        table_add_column(t, "PID", TABLE_RIGHT);
        table_add_column(t, "RAM", TABLE_RIGHT);
        table_add_column(t, "BUDGET", TABLE_RIGHT);
        table_add_column(t, "TARGET", TABLE_RIGHT);
        table_add_column(t, "DRAM", TABLE_RIGHT);
        table_add_column(t, "CXL", TABLE_RIGHT);
        table_add_column(t, "HOT", TABLE_RIGHT);
        table_add_column(t, "WARM", TABLE_RIGHT);
        table_add_column(t, "COLD", TABLE_RIGHT);
        /* the CXL access share, only once some VM has one (narrow terminals) */
        for (size_t i = 0; i < s->n_vms && !with_share; i++)
                with_share = bus_record_has(&s->vms[i], BUS_VM_CXL_ACCESS_BP);
        if (with_share)
                table_add_column(t, "CXL%", TABLE_RIGHT);
        for (size_t k = 0; k < n_rate; k++) {
                _cleanup_free_ char *h = rate_header(bus_vm_fields[rate_fields[k]].key);
                table_add_column(t, h, TABLE_RIGHT);
        }
        table_add_column(t, "HOME", TABLE_RIGHT);
        table_add_column(t, "STATE", 0);
        table_add_column(t, "POLICY", TABLE_ELLIPSIZE);

        for (size_t i = 0; i < s->n_vms; i++) {
                const BusRecord *v = &s->vms[i];
                const BusRecord *prev = rates ? find_vm(rates->prev, bus_record_str(v, BUS_VM_ID, "")) : NULL;
                const char *not_tiered = bus_record_str(v, BUS_VM_NOT_TIERED, NULL);
                char b[6][FORMAT_BYTES_MAX];

                table_add_cell(t, bus_record_str(v, BUS_VM_NAME, bus_record_str(v, BUS_VM_ID, "?")));
                table_add_cellf(t, "%" PRIu64, bus_record_u64(v, BUS_VM_PID, 0));
                table_add_cell(t, bytes_cell(b[0], sizeof(b[0]), v, BUS_VM_RAM_BYTES));
                table_add_cell(t, bytes_cell(b[1], sizeof(b[1]), v, BUS_VM_DRAM_BUDGET_BYTES));
                /* The last plan's DRAM target; none for a VM that gets no moves. */
                table_add_cell(t, not_tiered && *not_tiered ? NULL : bytes_cell(b[2], sizeof(b[2]), v, BUS_VM_DRAM_TARGET_BYTES));
                table_add_cell(t, bytes_cell(b[2], sizeof(b[2]), v, BUS_VM_DRAM_BYTES));
                table_add_cell(t, bytes_cell(b[3], sizeof(b[3]), v, BUS_VM_CXL_BYTES));
                table_add_cell(t, bytes_cell(b[4], sizeof(b[4]), v, BUS_VM_HOT_BYTES));
                table_add_cell(t, bytes_cell(b[5], sizeof(b[5]), v, BUS_VM_WARM_BYTES));
                table_add_cell(t, bytes_cell(b[0], sizeof(b[0]), v, BUS_VM_COLD_BYTES));
                /* the share of its sampled accesses served from CXL, "~" when the bounds are wide */
                if (!with_share)
                        ;
                else if (bus_record_has(v, BUS_VM_CXL_ACCESS_BP)) {
                        uint64_t x = bus_record_u64(v, BUS_VM_CXL_ACCESS_BP, 0);
                        uint64_t lo = bus_record_u64(v, BUS_VM_CXL_ACCESS_MIN_BP, x), hi = bus_record_u64(v, BUS_VM_CXL_ACCESS_MAX_BP, x);

                        table_add_cellf(t, "%s%" PRIu64 ".%" PRIu64, hi - lo > 100 ? "~" : "", x / 100, x % 100 / 10);
                } else
                        table_add_cell(t, NULL);
                for (size_t k = 0; k < n_rate; k++) {
                        char cell[32];
                        double per_sec;

                        if (field_rate(prev, v, rate_fields[k], rates->seconds, &per_sec)) {
                                format_rate(cell, sizeof(cell), per_sec, key_is_bytes(bus_vm_fields[rate_fields[k]].key),
                                            metric_find(BUS_RECORD_VM, rate_fields[k])->type == METRIC_GAUGE);
                                table_add_cell(t, cell);
                        } else
                                table_add_cell(t, NULL);
                }
                if (bus_record_has(v, BUS_VM_HOME_NODE))
                        table_add_cellf(t, "%" PRIi64, bus_record_i64(v, BUS_VM_HOME_NODE, -1));
                else
                        table_add_cell(t, NULL);
                /* A tracked VM's state says which trackers feed it: "tracked by damon+softdirty";
                 * one that does not run says what it does instead ("paused", "migrating out"). */
                if (bus_record_has(v, BUS_VM_RUN_STATE) && !streq(bus_record_str(v, BUS_VM_RUN_STATE, ""), "running"))
                        table_add_cell(t, bus_record_str(v, BUS_VM_RUN_STATE, "?"));
                else if (streq(bus_record_str(v, BUS_VM_STATE, ""), "tracked") && bus_record_has(v, BUS_VM_TRACKERS))
                        table_add_cellf(t, "tracked by %s", bus_record_str(v, BUS_VM_TRACKERS, "?"));
                else
                        table_add_cell(t, bus_record_str(v, BUS_VM_STATE, "?"));
                table_add_cell(t, bus_record_str(v, BUS_VM_POLICY, NULL));
        }
        table_print(t, f, arg_width, arg_legend);
        /* VMs without a service level get a new share every 10th cycle: say how old the oldest is */
        {
                uint64_t oldest = 0;

                for (size_t i = 0; i < s->n_vms; i++)
                        if (bus_record_has(&s->vms[i], BUS_VM_CXL_ACCESS_BP))
                                oldest = MAX(oldest, bus_record_u64(&s->vms[i], BUS_VM_CXL_ACCESS_AGE, 0));
                if (oldest > 0)
                        fprintf(f, "  CXL%%: estimated every 10th cycle for VMs without a service level, the oldest %" PRIu64
                                   " cycle%s ago\n",
                                oldest, oldest == 1 ? "" : "s");
        }
        for (size_t i = 0; i < s->n_vms; i++) {
                const char *error = bus_record_str(&s->vms[i], BUS_VM_ERROR, NULL);
                const char *not_tiered = bus_record_str(&s->vms[i], BUS_VM_NOT_TIERED, NULL);
                const char *feeds = bus_record_str(&s->vms[i], BUS_VM_TRACKERS, NULL);
                const char *detail = bus_record_str(&s->vms[i], BUS_VM_TRACKER_DETAIL, NULL);

                if (error && *error)
                        fprintf(f, "  %s: %s\n", bus_record_str(&s->vms[i], BUS_VM_NAME, "?"), error);
                else if (not_tiered && *not_tiered)
                        fprintf(f, "  %s: not tiered: %s\n", bus_record_str(&s->vms[i], BUS_VM_NAME, "?"), not_tiered);
                /* How its trackers fare, when that says more than their names (an error line
                 * already said why a VM has none). */
                if (detail && *detail && !streq_ptr(detail, feeds) && !(error && streq(error, detail)))
                        fprintf(f, "  %s: tracker: %s\n", bus_record_str(&s->vms[i], BUS_VM_NAME, "?"), detail);
        }
        for (size_t i = 0; i < s->n_vms; i++) {
                const BusRecord *v = &s->vms[i];
                const char *slo = bus_record_str(v, BUS_VM_SLO_STATE, NULL);
                uint64_t cap = bus_record_u64(v, BUS_VM_SLO_CAP_BP, 0), x = bus_record_u64(v, BUS_VM_CXL_ACCESS_BP, 0);

                if (!slo)
                        continue;
                fprintf(f, "  %s: service level %" PRIu64 ".%02" PRIu64 " %% of accesses from CXL: %s", bus_record_str(v, BUS_VM_NAME, "?"),
                        cap / 100, cap % 100, slo);
                if (bus_record_has(v, BUS_VM_CXL_ACCESS_MIN_BP) &&
                    bus_record_u64(v, BUS_VM_CXL_ACCESS_MAX_BP, x) - bus_record_u64(v, BUS_VM_CXL_ACCESS_MIN_BP, x) > 100)
                        fprintf(f, " (estimate %" PRIu64 ".%02" PRIu64 " %%, between %" PRIu64 ".%02" PRIu64 " and %" PRIu64 ".%02" PRIu64 " %%)",
                                x / 100, x % 100, bus_record_u64(v, BUS_VM_CXL_ACCESS_MIN_BP, 0) / 100,
                                bus_record_u64(v, BUS_VM_CXL_ACCESS_MIN_BP, 0) % 100, bus_record_u64(v, BUS_VM_CXL_ACCESS_MAX_BP, 0) / 100,
                                bus_record_u64(v, BUS_VM_CXL_ACCESS_MAX_BP, 0) % 100);
                fprintf(f, "\n");
        }
        for (size_t i = 0; i < s->n_vms; i++) {
                const char *conflict = bus_record_str(&s->vms[i], BUS_VM_IDENTITY_CONFLICT, NULL);

                if (conflict && *conflict)
                        fprintf(f, "  %s (%s): %s\n", bus_record_str(&s->vms[i], BUS_VM_NAME, "?"),
                                bus_record_str(&s->vms[i], BUS_VM_ID, "?"), conflict);
        }
}

/* The live view's line of counter rates: every counter metrics.c marks METRIC_WATCH_RATE. */
static void print_counter_rates(FILE *f, const BusSnapshot *s, const Rates *rates) {
        bool first = true;

        fprintf(f, "   Per second:");
        for (size_t i = 0; i < n_metric_defs; i++) {
                const MetricDef *d = &metric_defs[i];
                _cleanup_free_ char *label = NULL;
                const char *key;
                char cell[32];
                double per_sec;

                /* d->field indexes the fields of d->kind's record: only a counter's is ours */
                if (d->kind != BUS_RECORD_COUNTERS || !(d->flags & METRIC_WATCH_RATE))
                        continue;
                key = bus_counter_fields[d->field].key;
                label = xstrdup(key);
                for (char *p = label; *p; p++)
                        if (*p == '_')
                                *p = ' ';
                if (field_rate(&rates->prev->counters, &s->counters, d->field, rates->seconds, &per_sec))
                        format_rate(cell, sizeof(cell), per_sec, key_is_bytes(key), false);
                else
                        snprintf(cell, sizeof(cell), "-");
                fprintf(f, "%s %s %s", first ? "" : ",", label, cell);
                first = false;
        }
        fprintf(f, "\n");
}

/* What the daemon's migrator is doing, in words. */
static const char *migration_state_text(const BusRecord *st) {
        const char *state = bus_record_str(st, BUS_STATUS_MIGRATION_STATE, NULL);

        if (!state) /* an older vtismd: its mode and flags */
                state = streq(bus_record_str(st, BUS_STATUS_MODE, ""), "monitor-only") ? "monitor-only" :
                        bus_record_bool(st, BUS_STATUS_MIGRATION_PAUSED, false)          ? "paused" :
                        bus_record_bool(st, BUS_STATUS_DRY_RUN, false)                   ? "dry-run" :
                                                                                           "idle";
        if (streq(state, "monitor-only"))
                return "monitor-only (no CXL or no DRAM node: nothing is planned or moved)";
        if (streq(state, "paused"))
                return "paused (nothing moves; 'vtismctl resume migration')";
        if (streq(state, "dry-run"))
                return "dry-run (planned and counted, nothing moves)";
        return state; /* "idle", "moving" */
}

/* "busy 3, gone 2": pages failed by reason, "" for none. */
static char *failures_text(const BusRecord *c) {
        static const struct {
                BusCounterField field;
                const char *name;
        } reasons[] = {
#define REASON(ID, WORD, KEY, WHAT) { BUS_COUNTER_PAGES_FAILED_##ID, WORD },
                MIGRATE_FAILURES(REASON)
#undef REASON
        };
        char *t = xstrdup("");

        for (size_t i = 0; i < ELEMENTSOF(reasons); i++) {
                uint64_t n = bus_record_u64(c, reasons[i].field, 0);
                char *next;

                if (n == 0)
                        continue;
                next = xasprintf("%s%s%s %" PRIu64, t, *t ? ", " : "", reasons[i].name, n);
                free(t);
                t = next;
        }
        return t;
}

static void print_status(FILE *f, const BusSnapshot *s, const Rates *rates) {
        const BusRecord *st = &s->status;
        char interval[32], ago[32], up[32], rate[FORMAT_BYTES_MAX + 8], moved[FORMAT_BYTES_MAX];
        uint64_t now = clock_now_usec(CLOCK_REALTIME);
        const char *mode = bus_record_str(st, BUS_STATUS_MODE, "?"), *tracker = bus_record_str(st, BUS_STATUS_TRACKER, "?");
        const char *active = bus_record_str(st, BUS_STATUS_ACTIVE_TRACKER, ""), *reload_error =
                bus_record_str(st, BUS_STATUS_LAST_RELOAD_ERROR, "");
        bool sampling_paused = bus_record_bool(st, BUS_STATUS_SAMPLING_PAUSED, false);
        uint64_t rate_limit = bus_record_u64(st, BUS_STATUS_MIGRATE_RATE_LIMIT, 0);
        uint64_t started = bus_record_u64(st, BUS_STATUS_STARTED_AT, 0), last = bus_record_u64(st, BUS_STATUS_LAST_CYCLE_AT, 0);
        const BusRecord *c = &s->counters;

        fprintf(f, "vtismd %s, %s: %s\n", bus_record_str(st, BUS_STATUS_VERSION, "?"), mode,
                bus_record_str(st, BUS_STATUS_MODE_REASON, ""));
        format_duration(interval, sizeof(interval), bus_record_u64(st, BUS_STATUS_SAMPLE_INTERVAL_USEC, 0));
        if (*active)
                fprintf(f, "     Sampling: %s, every %s, tracker %s%s\n", sampling_paused ? "paused" : "running", interval,
                        active, streq(tracker, "auto") ? " (auto)" : "");
        else
                fprintf(f, "     Sampling: %s, every %s, no usable tracker (configured: %s)\n",
                        sampling_paused ? "paused" : "running", interval, tracker);
        if (rate_limit > 0) {
                format_bytes(rate, sizeof(rate), rate_limit);
                strcat(rate, "/s");
        } else
                snprintf(rate, sizeof(rate), "unlimited");
        fprintf(f, "    Migration: %s, rate limit %s\n", migration_state_text(st), rate);
        fprintf(f, "       Config: %s\n", bus_record_str(st, BUS_STATUS_CONFIG_FILE, "?"));
        if (*bus_record_str(st, BUS_STATUS_LIBVIRT_STATE, ""))
                fprintf(f, "      Libvirt: %s\n", bus_record_str(st, BUS_STATUS_LIBVIRT_STATE, ""));
        if (*reload_error)
                fprintf(f, "  Last reload: FAILED, previous configuration kept: %s\n", reload_error);
        format_duration(up, sizeof(up), now > started ? now - started : 0);
        if (last > 0) {
                format_duration(ago, sizeof(ago), now > last ? now - last : 0);
                fprintf(f, "       Cycles: %" PRIu64 ", last %s ago; up %s\n", bus_record_u64(c, BUS_COUNTER_CYCLES, 0), ago, up);
        } else
                fprintf(f, "       Cycles: none yet; up %s\n", up);
        if (rates)
                print_counter_rates(f, s, rates);
        print_trackers(f, s);
        fprintf(f, "\n");
        print_nodes(f, s);
        if (s->have_vms) {
                fprintf(f, "\n");
                print_vms(f, s, rates);
        }
        fprintf(f, "\nMigrations: %" PRIu64 " pages promoted, %" PRIu64 " demoted, %" PRIu64 " failed, %s moved\n",
                bus_record_u64(c, BUS_COUNTER_PAGES_PROMOTED, 0), bus_record_u64(c, BUS_COUNTER_PAGES_DEMOTED, 0),
                bus_record_u64(c, BUS_COUNTER_PAGES_FAILED, 0),
                format_bytes(moved, sizeof(moved), bus_record_u64(c, BUS_COUNTER_BYTES_MIGRATED, 0)));
        if (bus_record_u64(c, BUS_COUNTER_PLANS, 0) > 0) {
                _cleanup_free_ char *why = failures_text(c);
                char p[FORMAT_BYTES_MAX], d[FORMAT_BYTES_MAX];

                fprintf(f, "            %s promoted, %s demoted in %" PRIu64 " rounds of %" PRIu64 " plans%s%s",
                        format_bytes(p, sizeof(p), bus_record_u64(c, BUS_COUNTER_BYTES_PROMOTED, 0)),
                        format_bytes(d, sizeof(d), bus_record_u64(c, BUS_COUNTER_BYTES_DEMOTED, 0)),
                        bus_record_u64(c, BUS_COUNTER_ROUNDS, 0), bus_record_u64(c, BUS_COUNTER_PLANS, 0),
                        *why ? "; failed: " : "", why);
                if (bus_record_u64(c, BUS_COUNTER_PAGES_WOULD_MOVE, 0) > 0)
                        fprintf(f, "; dry-run: %" PRIu64 " pages would have moved",
                                bus_record_u64(c, BUS_COUNTER_PAGES_WOULD_MOVE, 0));
                fprintf(f, "\n");
        }
}

/* 'vtismctl vms': who is there, by the keys other verbs take. */
static void print_vm_list(FILE *f, const BusSnapshot *s) {
        _cleanup_(table_freep) Table *t = table_new();

        if (s->n_vms == 0) {
                if (arg_legend)
                        fprintf(f, "No VMs.\n");
                return;
        }
        table_add_column(t, "ID", 0);
        table_add_column(t, "PID", TABLE_RIGHT);
        table_add_column(t, "STATE", 0);
        table_add_column(t, "NAME", TABLE_ELLIPSIZE);
        for (size_t i = 0; i < s->n_vms; i++) {
                table_add_cell(t, bus_record_str(&s->vms[i], BUS_VM_ID, "?"));
                table_add_cellf(t, "%" PRIu64, bus_record_u64(&s->vms[i], BUS_VM_PID, 0));
                table_add_cell(t, bus_record_str(&s->vms[i], BUS_VM_STATE, "?"));
                table_add_cell(t, bus_record_str(&s->vms[i], BUS_VM_NAME, NULL));
        }
        table_print(t, f, arg_width, arg_legend);
        if (arg_legend)
                fprintf(f, "\n%zu VM%s listed.\n", s->n_vms, s->n_vms == 1 ? "" : "s");
}

/* ---- JSON: every key of a record's table, null when the daemon left it out ---- */

static json_object *json_value(const BusValue *v, const char *type) {
        json_object *a;

        if (!v->present)
                return NULL;
        switch (type[0]) {
        case 's':
                return json_object_new_string(v->s);
        case 'b':
                return json_object_new_boolean(v->b);
        case 'i':
                return json_object_new_int64(v->i);
        case 't':
        case 'u':
                return json_object_new_uint64(v->u);
        case 'a':
                a = json_object_new_array();
                for (size_t k = 0; k < v->a.n; k++)
                        json_object_array_add(a, type[1] == 'i' ? json_object_new_int(((const int32_t *) v->a.v)[k])
                                                                : json_object_new_uint64(((const uint64_t *) v->a.v)[k]));
                return a;
        default:
                return NULL;
        }
}

static json_object *json_record(const BusRecord *r) {
        const BusRecordType *t = &bus_record_types[r->kind];
        json_object *o = json_object_new_object();

        for (size_t i = 0; i < t->n_fields; i++)
                json_object_object_add(o, t->fields[i].key, json_value(&r->v[i], t->fields[i].type));
        return o;
}

/* A list carried as a string on the bus, as the JSON array a list is everywhere else. */
static json_object *json_int_list(const char *s) {
        _cleanup_free_ int *list = NULL;
        json_object *a;
        size_t n = 0;

        if (!s)
                return NULL;
        if (*s && parse_int_list(s, &list, &n) < 0)
                return json_object_new_string(s); /* not a list after all: as sent */
        a = json_object_new_array();
        for (size_t i = 0; i < n; i++)
                json_object_array_add(a, json_object_new_int(list[i]));
        return a;
}

static json_object *json_string_list(const char *s) {
        json_object *a;

        if (!s)
                return NULL;
        a = json_object_new_array();
        while (*s) {
                size_t n = strcspn(s, ",");

                if (n > 0)
                        json_object_array_add(a, json_object_new_string_len(s, (int) n));
                s += n + (s[n] == ',');
        }
        return a;
}

/* A node's lists carried as strings on the bus, as JSON arrays. */
static json_object *json_node(const BusRecord *n) {
        static const unsigned lists[] = { BUS_NODE_CXL_MEMDEVS, BUS_NODE_CXL_REGIONS, BUS_NODE_DAX_DEVICES,
                                          BUS_NODE_DAX_MODES };
        json_object *o = json_record(n);

        for (size_t k = 0; k < ELEMENTSOF(lists); k++)
                json_object_object_add(o, bus_node_fields[lists[k]].key, json_string_list(bus_record_str(n, lists[k], NULL)));
        return o;
}

static json_object *json_offline_nodes(const BusSnapshot *s) {
        json_object *a = json_object_new_array();

        for (size_t i = 0; i < s->n_offline_nodes; i++)
                json_object_array_add(a, json_node(&s->offline_nodes[i]));
        return a;
}

static json_object *json_nodes(const BusSnapshot *s) {
        json_object *a = json_object_new_array();

        for (size_t i = 0; i < s->n_nodes; i++) {
                json_object *o = json_node(&s->nodes[i]), *d = json_object_new_array();

                json_object_object_add(o, "cpus", json_int_list(bus_record_str(&s->nodes[i], BUS_NODE_CPUS, NULL)));
                for (size_t j = 0; j < s->n_nodes; j++)
                        json_object_array_add(d, json_object_new_int((int32_t) s->distances[i * s->n_nodes + j]));
                json_object_object_add(o, "distances", d);
                json_object_array_add(a, o);
        }
        return a;
}

static json_object *json_records(const BusRecord *r, size_t n) {
        json_object *a = json_object_new_array();

        for (size_t i = 0; i < n; i++)
                json_object_array_add(a, json_record(&r[i]));
        return a;
}

/* The scalar properties under their JSON names; "" or 0 where the daemon means "none". */
enum { JSON_EMPTY_IS_NULL = 1 << 0, JSON_ZERO_IS_NULL = 1 << 1 };
static const struct {
        const char *name;
        unsigned flags;
} status_json[_BUS_STATUS_FIELD_MAX] = {
        [BUS_STATUS_VERSION] = { "version", 0 },
        [BUS_STATUS_MODE] = { "mode", 0 },
        [BUS_STATUS_MODE_REASON] = { "mode_reason", 0 },
        [BUS_STATUS_TRACKER] = { "tracker", 0 },
        [BUS_STATUS_CONFIG_FILE] = { "config_file", 0 },
        [BUS_STATUS_LIBVIRT_URI] = { "libvirt_uri", 0 },
        [BUS_STATUS_LIBVIRT_STATE] = { "libvirt_state", JSON_EMPTY_IS_NULL },
        [BUS_STATUS_LAST_RELOAD_ERROR] = { "last_reload_error", JSON_EMPTY_IS_NULL },
        [BUS_STATUS_SAMPLING_PAUSED] = { "sampling_paused", 0 },
        [BUS_STATUS_MIGRATION_PAUSED] = { "migration_paused", 0 },
        [BUS_STATUS_DRY_RUN] = { "dry_run", 0 },
        [BUS_STATUS_SAMPLE_INTERVAL_USEC] = { "sample_interval_usec", 0 },
        [BUS_STATUS_MIGRATE_RATE_LIMIT] = { "migrate_rate_limit_bytes", 0 },
        [BUS_STATUS_STARTED_AT] = { "started_at_usec", 0 },
        [BUS_STATUS_LAST_CYCLE_AT] = { "last_cycle_at_usec", JSON_ZERO_IS_NULL },
        [BUS_STATUS_ACTIVE_TRACKER] = { "active_tracker", JSON_EMPTY_IS_NULL },
        [BUS_STATUS_MIGRATION_STATE] = { "migration_state", 0 },
        [BUS_STATUS_ACTIVE_TRACKER_REASON] = { "active_tracker_reason", JSON_EMPTY_IS_NULL },
};
assert_cc(ELEMENTSOF(status_json) == _BUS_STATUS_FIELD_MAX);

static json_object *json_status(const BusSnapshot *s) {
        json_object *o = json_object_new_object(), *vms;

        json_object_object_add(o, "schema_version", json_object_new_int(JSON_SCHEMA_VERSION));
        for (size_t i = 0; i < _BUS_STATUS_FIELD_MAX; i++) {
                const BusValue *v = &s->status.v[i];
                json_object *j = json_value(v, bus_status_fields[i].type);

                if (v->present && (status_json[i].flags & JSON_EMPTY_IS_NULL) && !*v->s)
                        j = (json_object_put(j), NULL);
                if (v->present && (status_json[i].flags & JSON_ZERO_IS_NULL) && v->u == 0)
                        j = (json_object_put(j), NULL);
                json_object_object_add(o, status_json[i].name, j);
        }
        json_object_object_add(o, "nodes", json_nodes(s));
        json_object_object_add(o, "offline_nodes", json_offline_nodes(s));
        json_object_object_add(o, "counters", s->have_counters ? json_record(&s->counters) : NULL);
        json_object_object_add(o, "trackers", json_records(s->trackers, s->n_trackers));
        vms = json_records(s->vms, s->n_vms);
        for (size_t i = 0; i < s->n_vms; i++)
                json_object_object_add(json_object_array_get_idx(vms, i), "sources",
                                       json_string_list(bus_record_str(&s->vms[i], BUS_VM_SOURCES, NULL)));
        json_object_object_add(o, "vms", vms);
        return o;
}

static void print_json(FILE *f, json_object *o) {
        fprintf(f, "%s\n",
                json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
}

/* ---- verbs ---- */

static int print_snapshot(const char *verb, FILE *f, const BusSnapshot *s, const Rates *rates) {
        if (streq(verb, "metrics"))
                return metrics_format(s, f) < 0 ? EXIT_FAIL : EXIT_OK;
        if (arg_json) {
                if (streq(verb, "nodes")) {
                        json_object *o = json_object_new_object();

                        json_object_object_add(o, "schema_version", json_object_new_int(JSON_SCHEMA_VERSION));
                        json_object_object_add(o, "nodes", json_nodes(s));
                        json_object_object_add(o, "offline_nodes", json_offline_nodes(s));
                        print_json(f, o);
                } else if (streq(verb, "vms")) {
                        json_object *o = json_status(s), *l = json_object_new_object();

                        json_object_object_add(l, "schema_version", json_object_new_int(JSON_SCHEMA_VERSION));
                        json_object_object_add(l, "vms", json_object_get(json_object_object_get(o, "vms")));
                        json_object_put(o);
                        print_json(f, l);
                } else
                        print_json(f, json_status(s));
        } else if (streq(verb, "nodes")) {
                print_nodes(f, s);
                print_distances(f, s);
                print_node_devices(f, s);
        } else if (streq(verb, "vms"))
                print_vm_list(f, s);
        else
                print_status(f, s, rates);
        return EXIT_OK;
}

static int run_watch(sd_bus *bus);

static int verb_status(sd_bus *bus, int argc, char **argv) {
        _cleanup_(bus_snapshot_done) BusSnapshot s = {};
        int r;

        if (argc > 1 && !(arg_watch && argc == 2)) {
                fprintf(stderr, "vtismctl: '%s' takes no arguments.\n", argv[0]);
                return EXIT_USAGE;
        }
        if (arg_watch)
                return run_watch(bus);
        r = fetch_status(bus, &s);
        if (r != EXIT_OK)
                return r;
        note_skipped(&s.unknown);
        pager_open();
        return print_snapshot(argv[0], stdout, &s, NULL);
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

/* One character per GPA range for the strip: how much of it is hot. */
static char heat_glyph(const BusRecord *w) {
        uint64_t ram = bus_record_u64(w, BUS_HEAT_RANGE_RAM_BYTES, 0), hot = bus_record_u64(w, BUS_HEAT_RANGE_HOT_BYTES, 0);
        uint64_t pct = ram ? hot * 100 / ram : 0;

        if (!bus_record_has(w, BUS_HEAT_RANGE_HOT_BYTES))
                return '?';
        if (hot == 0)
                return bus_record_u64(w, BUS_HEAT_RANGE_WARM_BYTES, 0) == 0 ? '_' : '.';
        return pct < 25 ? 'o' : pct < 50 ? 'O' : '#';
}

/* One character per heat bucket: the share of the range's pages in it, in tenths ('0' some but
 * under 10 %, '9' 90 % or more), so that no glyph of the strip above means something else here. */
static char bucket_glyph(uint64_t pages, uint64_t total) {
        uint64_t tenths = total ? pages * 10 / total : 0;

        return pages == 0 ? ' ' : (char) ('0' + MIN(tenths, 9));
}

static int print_heatmap(FILE *f, const BusRecord *info, const BusRecord *w, size_t n) {
        const char *id = bus_record_str(info, BUS_HEATMAP_ID, "?"), *name = bus_record_str(info, BUS_HEATMAP_NAME, id);
        uint64_t cycles = bus_record_u64(info, BUS_HEATMAP_CYCLES, 0);
        _cleanup_(table_freep) Table *t = NULL;
        char rb[FORMAT_BYTES_MAX];

        if (arg_json) {
                json_object *o = json_record(info);

                json_object_object_add(o, "schema_version", json_object_new_int(JSON_SCHEMA_VERSION));
                json_object_object_add(o, "ranges", json_records(w, n));
                print_json(f, o);
                return EXIT_OK;
        }

        fprintf(f, "VM %s (%s): %zu guest-physical range%s of %s, %" PRIu64 " cycles sampled\n", name, id, n,
                n == 1 ? "" : "s", format_bytes(rb, sizeof(rb), bus_record_u64(info, BUS_HEATMAP_RANGE_BYTES, 0)), cycles);
        if (cycles == 0)
                fprintf(f, "(not sampled yet: heat unknown, shown as '?' and '-')\n");
        fprintf(f, "heat strip, low GPA left: [");
        for (size_t i = 0; i < n; i++)
                fputc(heat_glyph(&w[i]), f);
        fprintf(f, "]");
        if (arg_legend)
                fprintf(f, "   _ cold  . warm  o <25%% hot  O <50%% hot  # half or more hot");
        fprintf(f, "\n");
        if (arg_legend)
                fprintf(f, "HEAT 0..255: pages per heat bucket (coldest left), in tenths of the range: "
                           "' ' none, 0 under 10%%, 1..9 that many tenths\n");
        fprintf(f, "\n");

        t = table_new();
        table_add_column(t, "GPA", 0);
        table_add_column(t, "RAM", TABLE_RIGHT);
        table_add_column(t, "HOT", TABLE_RIGHT);
        table_add_column(t, "WARM", TABLE_RIGHT);
        table_add_column(t, "COLD", TABLE_RIGHT);
        table_add_column(t, "DRAM", TABLE_RIGHT);
        table_add_column(t, "CXL", TABLE_RIGHT);
        table_add_column(t, "HEAT 0..255", 0);
        for (size_t i = 0; i < n; i++) {
                const BusValue *b = &w[i].v[BUS_HEAT_RANGE_HEAT_BUCKETS];
                const uint64_t *pages = b->present ? b->a.v : NULL;
                size_t n_buckets = b->present ? MIN(b->a.n, 8) : 0;
                char strip[11] = "[", cells[6][FORMAT_BYTES_MAX];
                uint64_t total = 0;

                for (size_t k = 0; k < n_buckets; k++)
                        total += pages[k];
                for (size_t k = 0; k < 8; k++)
                        strip[1 + k] = k < n_buckets ? bucket_glyph(pages[k], total) : ' ';
                strip[9] = ']';
                table_add_cellf(t, "0x%" PRIx64, bus_record_u64(&w[i], BUS_HEAT_RANGE_GPA, 0));
                table_add_cell(t, bytes_cell(cells[0], sizeof(cells[0]), &w[i], BUS_HEAT_RANGE_RAM_BYTES));
                table_add_cell(t, bytes_cell(cells[1], sizeof(cells[1]), &w[i], BUS_HEAT_RANGE_HOT_BYTES));
                table_add_cell(t, bytes_cell(cells[2], sizeof(cells[2]), &w[i], BUS_HEAT_RANGE_WARM_BYTES));
                table_add_cell(t, bytes_cell(cells[3], sizeof(cells[3]), &w[i], BUS_HEAT_RANGE_COLD_BYTES));
                table_add_cell(t, bytes_cell(cells[4], sizeof(cells[4]), &w[i], BUS_HEAT_RANGE_DRAM_BYTES));
                table_add_cell(t, bytes_cell(cells[5], sizeof(cells[5]), &w[i], BUS_HEAT_RANGE_CXL_BYTES));
                table_add_cell(t, strip);
        }
        table_print(t, f, arg_width, arg_legend);
        return EXIT_OK;
}

static int verb_heatmap(sd_bus *bus, int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(bus_unknown_done) BusUnknown unknown = {};
        BusRecord info = { .kind = BUS_RECORD_HEATMAP }, *w = NULL;
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

        r = bus_record_read(reply, BUS_RECORD_HEATMAP, &info, &unknown);
        if (r >= 0)
                r = bus_records_read(reply, BUS_RECORD_HEAT_RANGE, &w, &n, &unknown);
        if (r >= 0) {
                note_skipped(&unknown);
                pager_open();
                r = print_heatmap(stdout, &info, w, n);
        } else {
                fprintf(stderr, "vtismctl: cannot parse vtismd's reply: %s\n", strerror(-r));
                r = EXIT_FAIL;
        }
        bus_records_free(w, n);
        bus_record_done(&info);
        return r;
}

/* ---- plan ---- */

static const char *policy_text(const BusRecord *p) {
        const char *kind = bus_record_str(p, BUS_PLAN_POLICY_KIND, "?");

        return streq(kind, "pin")     ? "pinned to DRAM" :
               streq(kind, "never")   ? "never migrated" :
               streq(kind, "slo")     ? "service level (its DRAM target tunes itself, see Why)" :
                                        kind;
}

static int print_plan(FILE *f, const BusRecord *p, const BusRecord *g, size_t n) {
        char a[FORMAT_BYTES_MAX], b[FORMAT_BYTES_MAX], c[FORMAT_BYTES_MAX], d[FORMAT_BYTES_MAX], ago[32];
        uint64_t now = clock_now_usec(CLOCK_REALTIME), at = bus_record_u64(p, BUS_PLAN_COMPUTED_AT, 0);
        const char *id = bus_record_str(p, BUS_PLAN_ID, "?"), *kind = bus_record_str(p, BUS_PLAN_POLICY_KIND, "?");
        uint64_t hot_min = bus_record_u64(p, BUS_PLAN_HOT_MIN_HEAT, 0);

        if (arg_json) {
                json_object *o = json_record(p);

                json_object_object_add(o, "schema_version", json_object_new_int(JSON_SCHEMA_VERSION));
                json_object_object_add(o, "moves", json_records(g, n));
                print_json(f, o);
                return EXIT_OK;
        }

        format_duration(ago, sizeof(ago), now > at ? now - at : 0);
        fprintf(f, "VM %s (%s): plan of cycle %" PRIu64 ", %s ago\n", bus_record_str(p, BUS_PLAN_NAME, id), id,
                bus_record_u64(p, BUS_PLAN_CYCLE, 0), ago);
        if (streq(kind, "budget"))
                fprintf(f, "      Policy: DRAM budget %s, weight %" PRIu64 " (%s)\n",
                        format_bytes(a, sizeof(a), bus_record_u64(p, BUS_PLAN_DRAM_BUDGET_BYTES, 0)),
                        bus_record_u64(p, BUS_PLAN_WEIGHT, 0), bus_record_str(p, BUS_PLAN_POLICY, "default"));
        else
                fprintf(f, "      Policy: %s, weight %" PRIu64 " (%s)\n", policy_text(p), bus_record_u64(p, BUS_PLAN_WEIGHT, 0),
                        bus_record_str(p, BUS_PLAN_POLICY, "default"));
        fprintf(f, "   Placement: %s on DRAM, %s on CXL", format_bytes(a, sizeof(a), bus_record_u64(p, BUS_PLAN_DRAM_BYTES, 0)),
                format_bytes(b, sizeof(b), bus_record_u64(p, BUS_PLAN_CXL_BYTES, 0)));
        if (bus_record_u64(p, BUS_PLAN_UNKNOWN_BYTES, 0) > 0)
                fprintf(f, ", %s not known yet", format_bytes(c, sizeof(c), bus_record_u64(p, BUS_PLAN_UNKNOWN_BYTES, 0)));
        fprintf(f, " of %s; DRAM target %s\n", format_bytes(d, sizeof(d), bus_record_u64(p, BUS_PLAN_RAM_BYTES, 0)),
                format_bytes(c, sizeof(c), bus_record_u64(p, BUS_PLAN_DRAM_TARGET_BYTES, 0)));
        if (bus_record_bool(p, BUS_PLAN_FROZEN, false))
                fprintf(f, "  Thresholds: none (no moves for it this cycle)\n");
        else if (hot_min > 255)
                fprintf(f, "  Thresholds: nothing belongs on DRAM (heat 0..255)\n");
        else if (streq(kind, "budget"))
                fprintf(f, "  Thresholds: heat >= %" PRIu64 " belongs on DRAM, heat <= %" PRIu64 " may go to CXL (heat 0..255)\n",
                        hot_min, bus_record_u64(p, BUS_PLAN_COLD_MAX_HEAT, 0));
        else
                fprintf(f, "  Thresholds: heat >= %" PRIu64 " belongs on DRAM (heat 0..255)\n", hot_min);
        if (n == 0)
                fprintf(f, "       Moves: none\n");
        for (size_t i = 0; i < n; i++) {
                const BusRecord *m = &g[i];
                uint64_t moves = bus_record_u64(m, BUS_PLAN_MOVE_MOVES, 0), huge = bus_record_u64(m, BUS_PLAN_MOVE_HUGE_UNITS, 0);
                uint64_t room = bus_record_u64(m, BUS_PLAN_MOVE_NEEDS_ROOM_PAGES, 0);
                bool queried = !bus_record_has(m, BUS_PLAN_MOVE_FROM_NODE);
                char from[24];

                if (queried)
                        snprintf(from, sizeof(from), "any");
                else
                        snprintf(from, sizeof(from), "%" PRIi64, bus_record_i64(m, BUS_PLAN_MOVE_FROM_NODE, -1));
                fprintf(f, "%s%s %s from node %s to node %" PRIi64 ", heat %" PRIu64 "..%" PRIu64 ", %" PRIu64 " run%s",
                        i == 0 ? "       Moves: " : "              ", bus_record_str(m, BUS_PLAN_MOVE_DIRECTION, "?"),
                        format_bytes(a, sizeof(a), bus_record_u64(m, BUS_PLAN_MOVE_PAGES, 0) * 4096), from,
                        bus_record_i64(m, BUS_PLAN_MOVE_TO_NODE, -1), bus_record_u64(m, BUS_PLAN_MOVE_HEAT_MIN, 0),
                        bus_record_u64(m, BUS_PLAN_MOVE_HEAT_MAX, 0), moves, moves == 1 ? "" : "s");
                if (huge > 0)
                        fprintf(f, ", %" PRIu64 " whole THP%s", huge, huge == 1 ? "" : "s");
                if (queried)
                        fprintf(f, " (placement queried first)");
                if (room > 0)
                        fprintf(f, " (%s of it into room the demotions make)", format_bytes(b, sizeof(b), room * 4096));
                fprintf(f, "\n");
        }
        fprintf(f, "         Why: %s\n", bus_record_str(p, BUS_PLAN_REASON, ""));
        fprintf(f, "Cycle budget: %s for all VMs\n",
                format_bytes(a, sizeof(a), bus_record_u64(p, BUS_PLAN_CYCLE_BUDGET_BYTES, 0)));
        if (!bus_record_bool(p, BUS_PLAN_SUBMITTED, false))
                fprintf(f, "       Round: none: the plan was not handed to the migrator (migration paused)\n");
        else if (!bus_record_has(p, BUS_PLAN_ROUND))
                fprintf(f, "       Round: none (nothing to move or query)\n");
        else {
                uint64_t would = bus_record_u64(p, BUS_PLAN_ROUND_PAGES_WOULD_MOVE, 0);
                uint64_t already = bus_record_u64(p, BUS_PLAN_ROUND_PAGES_ALREADY, 0);

                fprintf(f, "       Round: %" PRIu64 ", %s: ", bus_record_u64(p, BUS_PLAN_ROUND, 0),
                        bus_record_str(p, BUS_PLAN_ROUND_STATE, "?"));
                if (would > 0)
                        fprintf(f, "dry-run, %s would have moved", format_bytes(a, sizeof(a), would * 4096));
                else
                        fprintf(f, "promoted %s, demoted %s",
                                format_bytes(a, sizeof(a), bus_record_u64(p, BUS_PLAN_ROUND_PAGES_PROMOTED, 0) * 4096),
                                format_bytes(b, sizeof(b), bus_record_u64(p, BUS_PLAN_ROUND_PAGES_DEMOTED, 0) * 4096));
                fprintf(f, ", %" PRIu64 " pages failed, %" PRIu64 " not attempted",
                        bus_record_u64(p, BUS_PLAN_ROUND_PAGES_FAILED, 0), bus_record_u64(p, BUS_PLAN_ROUND_PAGES_DROPPED, 0));
                if (already > 0)
                        fprintf(f, ", %" PRIu64 " found in place", already);
                fprintf(f, "\n");
        }
        return EXIT_OK;
}

static int verb_plan(sd_bus *bus, int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(bus_unknown_done) BusUnknown unknown = {};
        BusRecord info = { .kind = BUS_RECORD_PLAN }, *g = NULL;
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

        r = bus_record_read(reply, BUS_RECORD_PLAN, &info, &unknown);
        if (r >= 0)
                r = bus_records_read(reply, BUS_RECORD_PLAN_MOVE, &g, &n, &unknown);
        if (r >= 0) {
                note_skipped(&unknown);
                pager_open();
                r = print_plan(stdout, &info, g, n);
        } else {
                fprintf(stderr, "vtismctl: cannot parse vtismd's reply: %s\n", strerror(-r));
                r = EXIT_FAIL;
        }
        bus_records_free(g, n);
        bus_record_done(&info);
        return r;
}

/* ---- contiguity ---- */

/* The VM's summaries by role: [0] now, [1] before tiering; NULL if absent. */
static const char *const contig_roles[2] = { "now", "before_tiering" };

static const BusRecord *summary_of(const BusRecord *s, size_t n, const char *role) {
        for (size_t i = 0; i < n; i++)
                if (streq_ptr(bus_record_str(&s[i], BUS_CONTIG_ROLE, NULL), role))
                        return &s[i];
        return NULL;
}

/* Runs per GiB of a node record, or < 0 without memory there. */
static double node_runs_per_gib(const BusRecord *n) {
        uint64_t bytes = bus_record_u64(n, BUS_CONTIG_NODE_BYTES, 0);

        return bytes ? (double) bus_record_u64(n, BUS_CONTIG_NODE_RUNS, 0) * (double) GIB / (double) bytes : -1;
}

static json_object *json_contiguity(const BusRecord *vm, const BusRecord *s, size_t n_s, const BusRecord *nodes,
                                    size_t n_nodes) {
        json_object *o = json_record(vm);

        json_object_object_add(o, "schema_version", json_object_new_int(JSON_SCHEMA_VERSION));
        for (size_t k = 0; k < ELEMENTSOF(contig_roles); k++) {
                const BusRecord *sum = summary_of(s, n_s, contig_roles[k]);
                json_object *j = NULL, *a;

                if (sum) {
                        j = json_record(sum);
                        a = json_object_new_array();
                        for (size_t i = 0; i < n_nodes; i++) {
                                json_object *nj;
                                double per_gib = node_runs_per_gib(&nodes[i]);

                                if (!streq_ptr(bus_record_str(&nodes[i], BUS_CONTIG_NODE_ROLE, NULL), contig_roles[k]))
                                        continue;
                                nj = json_record(&nodes[i]);
                                json_object_object_add(nj, "runs_per_gib", per_gib >= 0 ? json_object_new_double(per_gib) : NULL);
                                json_object_array_add(a, nj);
                        }
                        json_object_object_add(j, "nodes", a);
                }
                json_object_object_add(o, contig_roles[k], j);
        }
        return o;
}

/* "1990 (97.2%)": a count of 2 MiB units and the share of present memory they hold. */
static void cell_huge(Table *t, const BusRecord *r, unsigned field, uint64_t unit_bytes) {
        uint64_t present = bus_record_u64(r, BUS_CONTIG_PRESENT_BYTES, 0), n = bus_record_u64(r, field, 0);

        if (!bus_record_has(r, field))
                table_add_cell(t, NULL);
        else if (n == 0 || present == 0)
                table_add_cellf(t, "%" PRIu64, n);
        else
                table_add_cellf(t, "%" PRIu64 " (%.1f%%)", n, 100.0 * (double) (n * unit_bytes) / (double) present);
}

static void cell_bytes_pct(Table *t, const BusRecord *r, unsigned field) {
        uint64_t present = bus_record_u64(r, BUS_CONTIG_PRESENT_BYTES, 0), v = bus_record_u64(r, field, 0);
        char b[FORMAT_BYTES_MAX];

        if (!bus_record_has(r, field))
                table_add_cell(t, NULL);
        else if (present == 0)
                table_add_cell(t, format_bytes(b, sizeof(b), v));
        else
                table_add_cellf(t, "%s (%.1f%%)", format_bytes(b, sizeof(b), v), 100.0 * (double) v / (double) present);
}

static void cell_u64(Table *t, const BusRecord *r, unsigned field) {
        if (bus_record_has(r, field))
                table_add_cellf(t, "%" PRIu64, bus_record_u64(r, field, 0));
        else
                table_add_cell(t, NULL);
}

/* "a / b / c" of three consecutive count keys */
static void cell_three(Table *t, const BusRecord *r, unsigned first) {
        if (bus_record_has(r, first) && bus_record_has(r, first + 1) && bus_record_has(r, first + 2))
                table_add_cellf(t, "%" PRIu64 " / %" PRIu64 " / %" PRIu64, bus_record_u64(r, first, 0),
                                bus_record_u64(r, first + 1, 0), bus_record_u64(r, first + 2, 0));
        else
                table_add_cell(t, NULL);
}

/* "3% / 24%": the share of present memory the largest 32 and 256 entries cover */
static void cell_top(Table *t, const BusRecord *r, unsigned field) {
        const BusValue *v = &r->v[field];
        uint64_t present = bus_record_u64(r, BUS_CONTIG_PRESENT_BYTES, 0);
        const uint64_t *top = v->present ? v->a.v : NULL;

        if (!top || v->a.n < 4 || present == 0)
                table_add_cell(t, NULL);
        else
                table_add_cellf(t, "%.1f%% / %.1f%%", 100.0 * (double) top[0] / (double) present,
                                100.0 * (double) top[3] / (double) present);
}

static void cell_taken(Table *t, const BusRecord *r) {
        time_t when = (time_t) (bus_record_u64(r, BUS_CONTIG_TAKEN_AT, 0) / USEC_PER_SEC);
        char clock[32], ago[32];
        struct tm tm;

        strftime(clock, sizeof(clock), "%Y-%m-%d %H:%M:%S", localtime_r(&when, &tm));
        format_duration(ago, sizeof(ago), bus_record_u64(r, BUS_CONTIG_AGE_USEC, 0));
        table_add_cellf(t, "%s (%s ago)", clock, ago);
}

static int print_contiguity(FILE *f, const BusRecord *vm, const BusRecord *s, size_t n_s, const BusRecord *nodes,
                            size_t n_nodes) {
        const BusRecord *cols[2];
        size_t n_cols = 0;
        _cleanup_(table_freep) Table *t = table_new();
        _cleanup_free_ int *ids = NULL;
        size_t n_ids = 0;
        bool unknown_node = false;
        char b1[FORMAT_BYTES_MAX], b2[FORMAT_BYTES_MAX], b3[FORMAT_BYTES_MAX];
        const char *why_none = bus_record_str(vm, BUS_CONTIG_VM_BEFORE_TIERING_ERROR, NULL);

        if (arg_json) {
                print_json(f, json_contiguity(vm, s, n_s, nodes, n_nodes));
                return EXIT_OK;
        }
        /* before tiering first, then now: left to right as time goes */
        if (summary_of(s, n_s, "before_tiering"))
                cols[n_cols++] = summary_of(s, n_s, "before_tiering");
        if (summary_of(s, n_s, "now"))
                cols[n_cols++] = summary_of(s, n_s, "now");
        if (!summary_of(s, n_s, "now")) {
                fprintf(stderr, "vtismctl: vtismd's reply has no current summary.\n");
                return EXIT_FAIL;
        }

        fprintf(f, "VM %s (%s): %s of guest RAM; anchor %s; vtism moved %s of it so far\n",
                bus_record_str(vm, BUS_CONTIG_VM_NAME, "?"), bus_record_str(vm, BUS_CONTIG_VM_ID, "?"),
                format_bytes(b1, sizeof(b1), bus_record_u64(vm, BUS_CONTIG_VM_RAM_BYTES, 0)),
                format_bytes(b2, sizeof(b2), bus_record_u64(vm, BUS_CONTIG_VM_ANCHOR_BYTES, 0)),
                format_bytes(b3, sizeof(b3), bus_record_u64(vm, BUS_CONTIG_VM_MOVED_BYTES, 0)));
        if (arg_legend)
                fprintf(f, "(guest-physical pages that are consecutive in host memory too; percentages of present memory)\n");
        fprintf(f, "\n");

        table_add_column(t, "", 0);
        for (size_t c = 0; c < n_cols; c++)
                table_add_column(t, cols[c] == summary_of(s, n_s, "now") ? "NOW" : "BEFORE TIERING", 0);

/* one row: its label, then stmt once per column with r its summary */
#define ROW(label, stmt)                                         \
        do {                                                     \
                table_add_cell(t, label);                        \
                for (size_t c = 0; c < n_cols; c++) {            \
                        const BusRecord *r = cols[c];            \
                        stmt;                                    \
                }                                                \
        } while (0)

        ROW("taken", cell_taken(t, r));
        ROW("why", table_add_cell(t, bus_record_str(r, BUS_CONTIG_TRIGGER, NULL)));
        ROW("scan took", ({
                char d[32];
                format_duration(d, sizeof(d), bus_record_u64(r, BUS_CONTIG_SCAN_USEC, 0));
                table_add_cell(t, d);
        }));
        ROW("vtism had moved", table_add_cell(t, bytes_cell(b1, sizeof(b1), r, BUS_CONTIG_MOVED_BYTES)));
        ROW("present", table_add_cell(t, bytes_cell(b1, sizeof(b1), r, BUS_CONTIG_PRESENT_BYTES)));
        ROW("  zero page / absent", table_add_cellf(t, "%s / %s", bytes_cell(b1, sizeof(b1), r, BUS_CONTIG_ZERO_BYTES) ?: "-",
                                                       bytes_cell(b2, sizeof(b2), r, BUS_CONTIG_ABSENT_BYTES) ?: "-"));
        ROW("2 MiB THP mappings", cell_huge(t, r, BUS_CONTIG_THP_2M, 2 * MIB));
        ROW("2 MiB hugetlb", cell_huge(t, r, BUS_CONTIG_HUGETLB_2M, 2 * MIB));
        ROW("1 GiB hugetlb", cell_huge(t, r, BUS_CONTIG_HUGETLB_1G, GIB));
        ROW("4 KiB-mapped", cell_bytes_pct(t, r, BUS_CONTIG_MAPPED_4K_BYTES));
        ROW("range runs", cell_u64(t, r, BUS_CONTIG_RUNS));
        ROW("  largest", table_add_cell(t, bytes_cell(b1, sizeof(b1), r, BUS_CONTIG_LARGEST_RUN_BYTES)));
        ROW("  for 80/90/99%", cell_three(t, r, BUS_CONTIG_RUNS_FOR_80PCT));
        ROW("  32/256 largest cover", cell_top(t, r, BUS_CONTIG_RUNS_TOP_BYTES));
        ROW("anchor entries", cell_u64(t, r, BUS_CONTIG_ANCHOR_ENTRIES));
        ROW("  for 80/90/99%", cell_three(t, r, BUS_CONTIG_ANCHOR_ENTRIES_FOR_80PCT));
        ROW("  anchored", cell_bytes_pct(t, r, BUS_CONTIG_ANCHOR_COVERED_BYTES));
        ROW("offset groups", ({
                if (bus_record_bool(r, BUS_CONTIG_OFFSET_GROUPS_OVERFLOW, false))
                        table_add_cellf(t, "more than %" PRIu64, bus_record_u64(r, BUS_CONTIG_OFFSET_GROUPS, 1) - 1);
                else
                        cell_u64(t, r, BUS_CONTIG_OFFSET_GROUPS);
        }));
        ROW("  for 80/90/99%", cell_three(t, r, BUS_CONTIG_OFFSET_GROUPS_FOR_80PCT));

        /* one row per host node either summary has, then memory on no known node */
        for (size_t i = 0; i < n_nodes; i++) {
                bool seen = false;
                int id;

                if (!bus_record_has(&nodes[i], BUS_CONTIG_NODE_NODE)) {
                        unknown_node = true;
                        continue;
                }
                id = (int) bus_record_i64(&nodes[i], BUS_CONTIG_NODE_NODE, -1);
                for (size_t k = 0; k < n_ids; k++)
                        seen = seen || ids[k] == id;
                if (!seen) {
                        ids = xreallocarray(ids, n_ids + 1, sizeof(int));
                        ids[n_ids++] = id;
                }
        }
        for (size_t k = 0; k <= n_ids; k++) {
                _cleanup_free_ char *label = NULL;

                if (k == n_ids && !unknown_node)
                        break;
                label = k < n_ids ? xasprintf("node %d", ids[k]) : xstrdup("no known node");
                table_add_cell(t, label);
                for (size_t c = 0; c < n_cols; c++) {
                        const char *role = bus_record_str(cols[c], BUS_CONTIG_ROLE, "");
                        const BusRecord *nr = NULL;

                        for (size_t i = 0; i < n_nodes && !nr; i++)
                                if (streq_ptr(bus_record_str(&nodes[i], BUS_CONTIG_NODE_ROLE, NULL), role) &&
                                    (k < n_ids ? bus_record_has(&nodes[i], BUS_CONTIG_NODE_NODE) &&
                                                         bus_record_i64(&nodes[i], BUS_CONTIG_NODE_NODE, -1) == ids[k]
                                               : !bus_record_has(&nodes[i], BUS_CONTIG_NODE_NODE)))
                                        nr = &nodes[i];
                        if (!nr) {
                                table_add_cell(t, NULL);
                                continue;
                        }
                        uint64_t runs = bus_record_u64(nr, BUS_CONTIG_NODE_RUNS, 0);

                        table_add_cellf(t, "%s, %" PRIu64 " run%s (%.1f per GiB)",
                                        format_bytes(b1, sizeof(b1), bus_record_u64(nr, BUS_CONTIG_NODE_BYTES, 0)), runs,
                                        runs == 1 ? "" : "s", MAX(node_runs_per_gib(nr), 0.0));
                }
        }
#undef ROW
        table_print(t, f, arg_width, arg_legend);

        if (!summary_of(s, n_s, "before_tiering")) {
                if (why_none)
                        fprintf(f, "\nNo before-tiering summary: %s.\n", why_none);
                else if (bus_record_bool(vm, BUS_CONTIG_VM_BEFORE_TIERING_PENDING, false))
                        fprintf(f, "\nNo before-tiering summary yet: vtismd takes one when it starts tiering the VM.\n");
        }
        return EXIT_OK;
}

static int verb_contiguity(sd_bus *bus, int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(bus_unknown_done) BusUnknown unknown = {};
        BusRecord vm = { .kind = BUS_RECORD_CONTIGUITY_VM }, *s = NULL, *nodes = NULL;
        size_t n_s = 0, n_nodes = 0;
        int r;

        if (argc != 2) {
                fprintf(stderr, "vtismctl: usage: vtismctl contiguity VM [--max-age=SECONDS] [--json]   (VM: name, UUID or pid-N as in status)\n");
                return EXIT_USAGE;
        }
        r = sd_bus_message_new_method_call(bus, &m, VTISM_BUS_NAME, VTISM_BUS_PATH, VTISM_BUS_INTERFACE,
                                           VTISM_METHOD_GET_CONTIGUITY);
        if (r >= 0)
                r = sd_bus_message_append(m, "st", argv[1], (uint64_t) arg_max_age_usec);
        if (r < 0)
                return report_bus_error("contiguity", &error, r);
        /* A scan takes ~0.1-0.2 s per GiB of guest RAM natively, much longer on a busy host. */
        r = sd_bus_call(bus, m, CONTIGUITY_CALL_TIMEOUT_USEC, &error, &reply);
        if (r < 0)
                return report_bus_error("contiguity", &error, r);

        r = bus_record_read(reply, BUS_RECORD_CONTIGUITY_VM, &vm, &unknown);
        if (r >= 0)
                r = bus_records_read(reply, BUS_RECORD_CONTIGUITY, &s, &n_s, &unknown);
        if (r >= 0)
                r = bus_records_read(reply, BUS_RECORD_CONTIGUITY_NODE, &nodes, &n_nodes, &unknown);
        if (r >= 0) {
                note_skipped(&unknown);
                pager_open();
                r = print_contiguity(stdout, &vm, s, n_s, nodes, n_nodes);
        } else {
                fprintf(stderr, "vtismctl: cannot parse vtismd's reply: %s\n", strerror(-r));
                r = EXIT_FAIL;
        }
        bus_records_free(s, n_s);
        bus_records_free(nodes, n_nodes);
        bus_record_done(&vm);
        return r;
}

static int verb_reload(sd_bus *bus, int argc, char **argv) {
        int r;

        if (argc > 1) {
                fprintf(stderr, "vtismctl: 'reload' takes no arguments.\n");
                return EXIT_USAGE;
        }
        r = call(bus, "reload", VTISM_METHOD_RELOAD, "");
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
        r = call(bus, argv[0], pause ? VTISM_METHOD_PAUSE : VTISM_METHOD_RESUME, "s", what);
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
        r = call(bus, "dry-run", VTISM_METHOD_SET_DRY_RUN, "b", enable);
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
        for (size_t i = 0; i < c->n_dropins; i++)
                printf("drop-in %s\n", c->dropins[i]);
        printf("configuration OK\n");
        return EXIT_OK;
}

/* ---- the live view: status --watch, top ---- */

static struct termios saved_termios;
static bool termios_saved, screen_entered;

static void screen_leave(void) {
        if (screen_entered) {
                /* cursor back, main screen back */
                fputs("\033[?25h\033[?1049l", stdout);
                fflush(stdout);
                screen_entered = false;
        }
        if (termios_saved) {
                (void) tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
                termios_saved = false;
        }
}

static int screen_enter(void) {
        struct termios raw;

        if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_termios) >= 0) {
                termios_saved = true;
                raw = saved_termios;
                /* keys one at a time, not echoed; Ctrl-C still a signal */
                raw.c_lflag &= ~(tcflag_t) (ICANON | ECHO);
                raw.c_cc[VMIN] = 0;
                raw.c_cc[VTIME] = 0;
                if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0)
                        termios_saved = false;
        }
        /* the alternate screen, cursor hidden: the terminal's contents come back on exit */
        fputs("\033[?1049h\033[?25l", stdout);
        fflush(stdout);
        screen_entered = true;
        return 0;
}

/* Draw a frame over the last one: each line cut to the width and cleared to its end, then the
 * rest of the screen cleared. Nothing is erased before it is overwritten, so nothing flickers. */
static void screen_draw(const char *frame, size_t cols, size_t lines) {
        _cleanup_free_ char *out = NULL;
        size_t len = 0, row = 0;
        FILE *o = open_memstream(&out, &len);
        const char *p = frame;

        if (!o)
                oom();
        fputs("\033[H", o);
        while (*p && row < lines) {
                size_t n = strcspn(p, "\n");
                _cleanup_free_ char *line = strndup(p, n), *cut = NULL;

                if (!line)
                        oom();
                cut = text_ellipsize(line, cols);
                fprintf(o, "%s\033[K", cut);
                p += n + (p[n] == '\n');
                if (++row < lines)
                        fputs("\r\n", o);
        }
        fputs("\033[J", o);
        fclose(o);
        fwrite(out, 1, len, stdout);
        fflush(stdout);
}

static char *render_frame(const BusSnapshot *cur, const BusSnapshot *prev, double seconds, const char *error) {
        _cleanup_free_ char *frame = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&frame, &len);
        char interval[32], clock[16];
        time_t now = time(NULL);
        struct tm tm;
        Rates rates = { prev, seconds };

        if (!f)
                oom();
        format_duration(interval, sizeof(interval), arg_watch_usec);
        strftime(clock, sizeof(clock), "%H:%M:%S", localtime_r(&now, &tm));
        fprintf(f, "vtismctl top%s%s, every %s (q quits, space refreshes), %s\n", arg_host ? " on " : "",
                arg_host ?: "", interval, clock);
        if (error)
                fprintf(f, "%s\n", error);
        else
                print_status(f, cur, prev ? &rates : NULL);
        fclose(f);
        return TAKE_PTR(frame);
}

static int run_watch(sd_bus *bus) {
        _cleanup_(bus_snapshot_done) BusSnapshot a = {}, b = {};
        BusSnapshot *cur = &a, *prev = &b;
        bool have_cur = false, have_prev = false;
        usec_t t_cur = 0, t_prev = 0;
        _cleanup_free_ char *error = NULL;
        _cleanup_close_ int sfd = -EBADF;
        sigset_t mask;
        int r = EXIT_OK;

        if (!isatty(STDOUT_FILENO)) {
                fprintf(stderr, "vtismctl: --watch needs a terminal (for a log, run 'vtismctl status' in a loop).\n");
                return EXIT_USAGE;
        }
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGQUIT);
        sigaddset(&mask, SIGWINCH);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
                fprintf(stderr, "vtismctl: cannot watch signals: %m\n");
                return EXIT_FAIL;
        }
        screen_enter();

        for (bool fetch = true;;) {
                struct pollfd p[2] = { { .fd = sfd, .events = POLLIN }, { .fd = STDIN_FILENO, .events = POLLIN } };
                size_t cols = terminal_columns(STDOUT_FILENO), lines = terminal_lines(STDOUT_FILENO);
                _cleanup_free_ char *frame = NULL;
                int timeout;

                if (fetch) {
                        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                        BusSnapshot *t;

                        free(error);
                        error = NULL;
                        t = prev;
                        prev = cur;
                        cur = t;
                        have_prev = have_cur;
                        t_prev = t_cur;
                        bus_snapshot_done(cur);
                        have_cur = false;
                        r = sd_bus_call_method(bus, VTISM_BUS_NAME, VTISM_BUS_PATH, "org.freedesktop.DBus.Properties",
                                               "GetAll", &e, &reply, "s", VTISM_BUS_INTERFACE);
                        if (r >= 0)
                                r = bus_snapshot_read(reply, cur);
                        if (r >= 0) {
                                have_cur = true;
                                t_cur = clock_now_usec(CLOCK_MONOTONIC);
                                note_skipped(&cur->unknown);
                        } else {
                                /* Keep watching: vtismd may come back (a restart). */
                                error = xasprintf("vtismd cannot be reached: %s (still trying; q to quit)",
                                                  sd_bus_error_is_set(&e) ? e.message ?: e.name : strerror(-r));
                                have_prev = false;
                        }
                        r = EXIT_OK;
                }
                arg_width = arg_full ? TABLE_WIDTH_UNLIMITED : cols;
                frame = render_frame(cur, have_prev ? prev : NULL, (double) (t_cur - t_prev) / USEC_PER_SEC,
                                     have_cur ? NULL : error ?: "waiting for vtismd");
                screen_draw(frame, cols, lines);

                timeout = (int) (arg_watch_usec / USEC_PER_MSEC);
                fetch = false;
                for (usec_t until = clock_now_usec(CLOCK_MONOTONIC) + arg_watch_usec;;) {
                        usec_t now = clock_now_usec(CLOCK_MONOTONIC);
                        int k;

                        if (now >= until) {
                                fetch = true;
                                break;
                        }
                        timeout = (int) ((until - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC);
                        k = poll(p, termios_saved ? 2 : 1, timeout);
                        if (k < 0 && errno != EINTR) {
                                r = EXIT_FAIL;
                                goto done;
                        }
                        if (k <= 0)
                                continue;
                        if (p[0].revents & POLLIN) {
                                struct signalfd_siginfo si;

                                if (read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo == SIGWINCH)
                                        break; /* redraw at the new size, same data */
                                goto done;     /* SIGINT, SIGTERM, SIGHUP, SIGQUIT */
                        }
                        if (p[1].revents & (POLLIN | POLLHUP)) {
                                char c;
                                ssize_t n = read(STDIN_FILENO, &c, 1);

                                if (n <= 0 || c == 'q' || c == 'Q')
                                        goto done;
                                if (c == ' ' || c == 'r') {
                                        fetch = true;
                                        break;
                                }
                        }
                }
        }
done:
        screen_leave();
        return r;
}

static void restore_terminal_at_exit(void) {
        screen_leave();
}

/* ---- main ---- */

static void help(void) {
        printf("Usage: vtismctl [OPTIONS] COMMAND\n"
               "\n"
               "Look at and steer vtismd, the VM memory tiering daemon.\n"
               "\n"
               "Commands:\n"
               "  status [--watch [SECONDS]]   Daemon state, nodes and tiers, VMs, migration counters\n"
               "  top [SECONDS]                The same as a live view (status --watch)\n"
               "  nodes                        NUMA nodes, tiers, demotion targets and distances\n"
               "  vms                          The VMs: id, pid, state, name\n"
               "  heatmap VM                   Heat and placement of a VM's guest RAM per GPA range\n"
               "  plan VM                      The last plan for a VM in words: target, thresholds, moves, why\n"
               "  contiguity VM                How contiguously its guest RAM is in host memory: huge\n"
               "                               pages, runs, per node; before tiering and now\n"
               "  metrics                      Everything status knows, as Prometheus text exposition\n"
               "  reload                       Re-read %s (the old one stays if the new is bad)\n"
               "  pause [sampling|migration]   Pause sampling and/or migration (default: both)\n"
               "  resume [sampling|migration]  Resume them\n"
               "  dry-run on|off               Plan migrations without performing them, or stop that\n"
               "  check-config [FILE]          Check a configuration file without the daemon\n"
               "\n"
               "Options:\n"
               "  --json                Machine-readable output for status, nodes, vms, heatmap, plan\n"
               "                        and contiguity\n"
               "  --max-age=SECONDS     contiguity: a summary this old will do (default 30; 0: scan now)\n"
               "  -H, --host=[USER@]HOST  Talk to vtismd on HOST over SSH\n"
               "  -w, --watch[=SECONDS]  Refresh status in place every SECONDS (default 2)\n"
               "  -l, --full            Do not shorten table cells to the terminal's width\n"
               "  --no-legend           No column headers, legends and footers\n"
               "  --no-pager            Do not pipe long output into a pager\n"
               "  -h, --help            Show this help\n"
               "  --version             Show the version\n"
               "\n"
               "Exit status: 0 success, 1 failure, 2 bad usage, 3 vtismd not running, 4 permission denied.\n"
               "See vtismctl(8).\n",
               VTISM_CONFIG_FILE);
}

static int parse_seconds(const char *s, usec_t *ret) {
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno != 0 || end == s || *end || !(v >= 0.1 && v <= 86400))
                return -EINVAL;
        *ret = (usec_t) (v * USEC_PER_SEC);
        return 0;
}

enum {
        ARG_VERSION = 0x100,
        ARG_JSON,
        ARG_NO_LEGEND,
        ARG_NO_PAGER,
        ARG_MAX_AGE,
};

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "json", no_argument, NULL, ARG_JSON },
                { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
                { "no-pager", no_argument, NULL, ARG_NO_PAGER },
                { "max-age", required_argument, NULL, ARG_MAX_AGE },
                { "full", no_argument, NULL, 'l' },
                { "host", required_argument, NULL, 'H' },
                { "watch", optional_argument, NULL, 'w' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        static const struct {
                const char *name;
                int (*run)(sd_bus *bus, int argc, char **argv);
        } verbs[] = {
                { "status", verb_status },
                { "top", verb_status },
                { "nodes", verb_status },
                { "vms", verb_status },
                { "metrics", verb_status },
                { "reload", verb_reload },
                { "pause", verb_pause_resume },
                { "resume", verb_pause_resume },
                { "dry-run", verb_dry_run },
                { "heatmap", verb_heatmap },
                { "plan", verb_plan },
                { "contiguity", verb_contiguity },
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        const char *verb;
        char **args;
        int c, r, n;

        setlocale(LC_CTYPE, "");
        /* Options go anywhere ("vtismctl status --json"), as with systemctl. */
        while ((c = getopt_long(argc, argv, "hlH:w::", options, NULL)) >= 0)
                switch (c) {
                case ARG_JSON:
                        arg_json = true;
                        break;
                case ARG_NO_LEGEND:
                        arg_legend = false;
                        break;
                case ARG_NO_PAGER:
                        arg_pager = false;
                        break;
                case ARG_MAX_AGE: {
                        char *end;
                        double v;

                        errno = 0;
                        v = strtod(optarg, &end);
                        if (errno != 0 || end == optarg || *end || !(v >= 0 && v <= 86400 * 365)) {
                                fprintf(stderr, "vtismctl: --max-age: '%s' is not a number of seconds.\n", optarg);
                                return EXIT_USAGE;
                        }
                        arg_max_age_usec = (usec_t) (v * USEC_PER_SEC);
                        break;
                }
                case 'l':
                        arg_full = true;
                        break;
                case 'H':
                        arg_host = optarg;
                        break;
                case 'w':
                        arg_watch = true;
                        if (optarg && parse_seconds(optarg, &arg_watch_usec) < 0) {
                                fprintf(stderr, "vtismctl: --watch: '%s' is not a number of seconds (0.1 to 86400).\n",
                                        optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                case ARG_VERSION:
                        printf("vtismctl " VTISM_VERSION "\n");
                        return EXIT_OK;
                default:
                        fprintf(stderr, "Try 'vtismctl --help'.\n");
                        return EXIT_USAGE;
                }

        args = argv + optind;
        n = argc - optind;
        verb = n > 0 ? args[0] : "status";
        if (n == 0) {
                static char *dflt[] = { (char *) "status", NULL };
                args = dflt;
                n = 1;
        }
        if (streq(verb, "top")) {
                arg_watch = true;
                if (n == 2 && parse_seconds(args[1], &arg_watch_usec) < 0) {
                        fprintf(stderr, "vtismctl: top: '%s' is not a number of seconds (0.1 to 86400).\n", args[1]);
                        return EXIT_USAGE;
                }
        } else if (arg_watch && streq(verb, "status") && n == 2 && parse_seconds(args[1], &arg_watch_usec) < 0) {
                fprintf(stderr, "vtismctl: --watch: '%s' is not a number of seconds (0.1 to 86400).\n", args[1]);
                return EXIT_USAGE;
        } else if (arg_watch && !streq(verb, "status")) {
                fprintf(stderr, "vtismctl: --watch goes with status (or use 'vtismctl top').\n");
                return EXIT_USAGE;
        }
        if (arg_watch && arg_json) {
                fprintf(stderr, "vtismctl: --watch shows a live view; for JSON, poll 'vtismctl status --json'.\n");
                return EXIT_USAGE;
        }
        if (!arg_pager || arg_watch)
                setenv("VTISM_PAGER", "", 1);
        /* Tables fit the terminal as it is now, before a pager takes over standard output. */
        arg_width = arg_full ? TABLE_WIDTH_UNLIMITED : terminal_columns(STDOUT_FILENO);

        if (streq(verb, "check-config"))
                return verb_check_config(n, args);

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verb, verbs[i].name)) {
                        r = connect_bus(&bus);
                        if (r != EXIT_OK)
                                return r;
                        atexit(restore_terminal_at_exit);
                        r = verbs[i].run(bus, n, args);
                        pager_close();
                        report_skipped();
                        return r;
                }

        fprintf(stderr, "vtismctl: unknown command '%s'. Try 'vtismctl --help'.\n", verb);
        return EXIT_USAGE;
}
