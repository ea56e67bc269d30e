/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vtismctl: look at and steer vtismd. Everything but check-config goes over D-Bus
 * (org.vtism1 on the system bus); the daemon is the only source of truth.
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
#include "vtism/config.h"
#include "vtism/macro.h"
#include "vtism/util.h"

#define BUS_NAME "org.vtism1"
#define BUS_PATH "/org/vtism1"
#define BUS_INTERFACE "org.vtism1.Manager"

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

typedef struct NodeInfo {
        int id;
        char *tier;
        char *tier_source;
        int memory_tier;
        char *cpus;
        uint64_t total_bytes;
        uint64_t free_bytes;
        int *targets;
        size_t n_targets;
} NodeInfo;

typedef struct Counter {
        char *name;
        uint64_t value;
} Counter;

typedef struct Status {
        char *version, *mode, *mode_reason, *tracker, *config_file, *last_reload_error, *libvirt_uri;
        bool sampling_paused, migration_paused, dry_run;
        uint64_t sample_interval_usec, rate_limit_bytes, started_at_usec, last_cycle_at_usec;
        NodeInfo *nodes;
        size_t n_nodes;
        uint32_t *distances; /* n_nodes x n_nodes */
        size_t n_distances;
        Counter *counters;
        size_t n_counters;
} Status;

static void status_done(Status *s) {
        free(s->version);
        free(s->mode);
        free(s->mode_reason);
        free(s->tracker);
        free(s->config_file);
        free(s->last_reload_error);
        free(s->libvirt_uri);
        for (size_t i = 0; i < s->n_nodes; i++) {
                free(s->nodes[i].tier);
                free(s->nodes[i].tier_source);
                free(s->nodes[i].cpus);
                free(s->nodes[i].targets);
        }
        free(s->nodes);
        free(s->distances);
        for (size_t i = 0; i < s->n_counters; i++)
                free(s->counters[i].name);
        free(s->counters);
}

/* Turn a bus error into a message a user can act on, and an exit code. */
static int report_bus_error(const char *what, const sd_bus_error *error, int r) {
        if (sd_bus_error_has_names(error, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
                fprintf(stderr, "vtismctl: vtismd is not running (start it with 'systemctl start vtismd').\n");
                return EXIT_NOT_RUNNING;
        }
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_ACCESS_DENIED)) {
                fprintf(stderr, "vtismctl: permission denied: '%s' needs root.\n", what);
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

static char *read_string(sd_bus_message *m) {
        const char *s;

        if (sd_bus_message_read(m, "s", &s) < 0)
                return NULL;
        return xstrdup(s);
}

static int read_nodes(sd_bus_message *m, Status *s) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(issisttai)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'r', "issisttai")) > 0) {
                const char *tier, *source, *cpus;
                const void *targets;
                size_t size;
                NodeInfo *n;

                s->nodes = xreallocarray(s->nodes, s->n_nodes + 1, sizeof(NodeInfo));
                n = &s->nodes[s->n_nodes];
                *n = (NodeInfo) {};
                r = sd_bus_message_read(m, "issistt", &n->id, &tier, &source, &n->memory_tier, &cpus,
                                        &n->total_bytes, &n->free_bytes);
                if (r < 0)
                        return r;
                r = sd_bus_message_read_array(m, 'i', &targets, &size);
                if (r < 0)
                        return r;
                n->tier = xstrdup(tier);
                n->tier_source = xstrdup(source);
                n->cpus = xstrdup(cpus);
                n->n_targets = size / sizeof(int);
                n->targets = xmalloc(size);
                memcpy(n->targets, targets, size);
                s->n_nodes++;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
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

static int read_counters(sd_bus_message *m, Status *s) {
        const char *name;
        uint64_t value;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{st}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "{st}", &name, &value)) > 0) {
                s->counters = xreallocarray(s->counters, s->n_counters + 1, sizeof(Counter));
                s->counters[s->n_counters++] = (Counter) { .name = xstrdup(name), .value = value };
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int read_property(sd_bus_message *m, const char *name, Status *s) {
        const struct {
                const char *name;
                char **field;
        } strings[] = {
                { "Version", &s->version },
                { "Mode", &s->mode },
                { "ModeReason", &s->mode_reason },
                { "Tracker", &s->tracker },
                { "ConfigFile", &s->config_file },
                { "LastReloadError", &s->last_reload_error },
                { "LibvirtURI", &s->libvirt_uri },
        };
        const struct {
                const char *name;
                bool *field;
        } bools[] = {
                { "SamplingPaused", &s->sampling_paused },
                { "MigrationPaused", &s->migration_paused },
                { "DryRun", &s->dry_run },
        };
        const struct {
                const char *name;
                uint64_t *field;
        } u64s[] = {
                { "SampleIntervalUSec", &s->sample_interval_usec },
                { "MigrateRateLimit", &s->rate_limit_bytes },
                { "StartedAt", &s->started_at_usec },
                { "LastCycleAt", &s->last_cycle_at_usec },
        };
        const char *contents;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, 'v', contents);
        if (r < 0)
                return r;

        for (size_t i = 0; i < ELEMENTSOF(strings); i++)
                if (streq(name, strings[i].name) && streq(contents, "s")) {
                        *strings[i].field = read_string(m);
                        goto done;
                }
        for (size_t i = 0; i < ELEMENTSOF(bools); i++)
                if (streq(name, bools[i].name) && streq(contents, "b")) {
                        int b;
                        r = sd_bus_message_read(m, "b", &b);
                        if (r < 0)
                                return r;
                        *bools[i].field = b;
                        goto done;
                }
        for (size_t i = 0; i < ELEMENTSOF(u64s); i++)
                if (streq(name, u64s[i].name) && streq(contents, "t")) {
                        r = sd_bus_message_read(m, "t", u64s[i].field);
                        if (r < 0)
                                return r;
                        goto done;
                }
        if (streq(name, "Nodes") && streq(contents, "a(issisttai)"))
                r = read_nodes(m, s);
        else if (streq(name, "Distances") && streq(contents, "aau"))
                r = read_distances(m, s);
        else if (streq(name, "Counters") && streq(contents, "a{st}"))
                r = read_counters(m, s);
        else /* a newer daemon: ignore what we do not know */
                r = sd_bus_message_skip(m, contents);
        if (r < 0)
                return r;
done:
        return sd_bus_message_exit_container(m);
}

static int fetch_status(sd_bus *bus, Status *s) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *name;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, "org.freedesktop.DBus.Properties", "GetAll", &error, &reply,
                               "s", BUS_INTERFACE);
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

static uint64_t counter(const Status *s, const char *name) {
        for (size_t i = 0; i < s->n_counters; i++)
                if (streq(s->counters[i].name, name))
                        return s->counters[i].value;
        return 0;
}

static char *format_targets(const NodeInfo *n) {
        return n->n_targets > 0 ? join_int_list(n->targets, n->n_targets, " ") : xstrdup("-");
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

static void print_status(const Status *s) {
        char interval[32], ago[32], up[32], rate[FORMAT_BYTES_MAX + 8], moved[FORMAT_BYTES_MAX];
        uint64_t now = now_usec();

        printf("vtismd %s, %s: %s\n", s->version, s->mode, s->mode_reason);
        format_duration(interval, sizeof(interval), s->sample_interval_usec);
        printf("     Sampling: %s, every %s, tracker %s\n", s->sampling_paused ? "paused" : "running", interval,
               s->tracker);
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
        if (s->last_reload_error && *s->last_reload_error)
                printf("  Last reload: FAILED, previous configuration kept: %s\n", s->last_reload_error);
        format_duration(up, sizeof(up), now > s->started_at_usec ? now - s->started_at_usec : 0);
        if (s->last_cycle_at_usec > 0) {
                format_duration(ago, sizeof(ago), now > s->last_cycle_at_usec ? now - s->last_cycle_at_usec : 0);
                printf("       Cycles: %" PRIu64 ", last %s ago; up %s\n", counter(s, "cycles"), ago, up);
        } else
                printf("       Cycles: none yet; up %s\n", up);
        printf("\n");
        print_nodes(s);
        printf("\nMigrations: %" PRIu64 " pages promoted, %" PRIu64 " demoted, %" PRIu64 " failed, %s moved\n",
               counter(s, "pages_promoted"), counter(s, "pages_demoted"), counter(s, "pages_failed"),
               format_bytes(moved, sizeof(moved), counter(s, "bytes_migrated")));
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
                for (size_t j = 0; j < n->n_targets; j++)
                        json_object_array_add(t, json_object_new_int(n->targets[j]));
                json_object_object_add(o, "demotion_targets", t);
                for (size_t j = 0; j < s->n_nodes; j++)
                        json_object_array_add(d, json_object_new_int((int32_t) s->distances[i * s->n_nodes + j]));
                json_object_object_add(o, "distances", d);
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
                json_object_object_add(o, "sample_interval_usec", json_object_new_uint64(s->sample_interval_usec));
                json_object_object_add(o, "migrate_rate_limit_bytes", json_object_new_uint64(s->rate_limit_bytes));
                json_object_object_add(o, "started_at_usec", json_object_new_uint64(s->started_at_usec));
                json_object_object_add(o, "last_cycle_at_usec", json_object_new_uint64(s->last_cycle_at_usec));
                json_object_object_add(o, "nodes", json_nodes(s));
                c = json_object_new_object();
                for (size_t i = 0; i < s->n_counters; i++)
                        json_object_object_add(c, s->counters[i].name, json_object_new_uint64(s->counters[i].value));
                json_object_object_add(o, "counters", c);
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

        r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, BUS_PATH, BUS_INTERFACE, method);
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
               "  reload                       Re-read %s (the old one stays if the new is bad)\n"
               "  pause [sampling|migration]   Pause sampling and/or migration (default: both)\n"
               "  resume [sampling|migration]  Resume them\n"
               "  dry-run on|off               Plan migrations without performing them, or stop that\n"
               "  check-config [FILE]          Check a configuration file without the daemon\n"
               "\n"
               "Options:\n"
               "  --json      Machine-readable output for status and nodes\n"
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
                        return verbs[i].run(bus, n, args);
                }

        fprintf(stderr, "vtismctl: unknown command '%s'. Try 'vtismctl --help'.\n", arg_verb);
        return EXIT_USAGE;
}
