/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The D-Bus face of vtismd: org.vtism1 /org/vtism1 org.vtism1.Manager (bus-api.h, vtismd(8)).
 * Only the vtable, the wire format and thin adapters into manager_*() (and the placement
 * views of manager.h) live here; every argument
 * is validated before the manager sees it. Properties are read through offsetof() or small typed
 * getters, never by comparing property names. Mutating methods need CAP_SYS_ADMIN: the D-Bus
 * policy file lets only root call them on the bus, and this file checks again, so a permissive
 * bus cannot bypass it.
 */
#include <linux/capability.h>
#include <stdarg.h>
#include <string.h>

#include "vtism-build.h"
#include "vtism/bus-api.h"
#include "vtism/bus.h"
#include "vtism/log.h"
#include "vtism/metrics-file.h"
#include "vtism/utf8.h"
#include "vtism/util.h"

/* ---- the wire format: every string and record that leaves vtismd goes through here ---- */

/*
 * The one place strings cross: VM names, UUIDs and command lines come from processes any local
 * user controls, config strings and error texts may hold any bytes, and sd-bus refuses a whole
 * reply over one invalid UTF-8 byte. Every property, record, method reply and error message
 * takes its strings from append_string() or bus_error_setf(), which escape (utf8.h).
 */
static int append_string(sd_bus_message *m, const char *s) {
        _cleanup_free_ char *valid = NULL;

        if (!s)
                s = "";
        else if (!utf8_is_valid(s))
                s = valid = utf8_escape_invalid(s);
        return sd_bus_message_append_basic(m, 's', s);
}

/* An error reply with a formatted message (made valid UTF-8, like every string we send). */
_printf_(3, 4) static int bus_error_setf(sd_bus_error *error, const char *name, const char *fmt, ...) {
        _cleanup_free_ char *text = NULL, *valid = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&text, fmt, ap);
        va_end(ap);
        if (r < 0)
                oom();
        valid = utf8_escape_invalid(text);
        return sd_bus_error_set(error, name, valid);
}

/*
 * A caller's string quoted back in an error message: at most QUOTE_MAX bytes of it, cut at a
 * UTF-8 character boundary, then "..." (QUOTED_FMT/QUOTED_ARGS). A name of 100 KiB is not sent
 * back whole.
 */
#define QUOTE_MAX 64
#define QUOTED_FMT "'%.*s%s'"
#define QUOTED_ARGS(s) quote_len(s), (s), strlen(s) > QUOTE_MAX ? "..." : ""

static int quote_len(const char *s) {
        size_t n = strlen(s);

        if (n <= QUOTE_MAX)
                return (int) n;
        n = QUOTE_MAX;
        while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80)
                n--;
        return (int) n;
}

static int dict_begin(sd_bus_message *m) {
        return sd_bus_message_open_container(m, 'a', "{sv}");
}

static int dict_end(sd_bus_message *m) {
        return sd_bus_message_close_container(m);
}

static int entry_begin(sd_bus_message *m, const BusField *f, const char *type) {
        int r;

        /* A key must be sent with the type its table gives it: the API promises that. */
        if (strcmp(f->type, type) != 0)
                return log_error_errno(-EINVAL, "Internal error: record key %s is %s, not %s.", f->key, f->type, type);
        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r < 0)
                return r;
        r = sd_bus_message_append_basic(m, 's', f->key);
        if (r < 0)
                return r;
        return sd_bus_message_open_container(m, 'v', type);
}

static int entry_end(sd_bus_message *m) {
        int r;

        r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

/* The key is left out when s is NULL: unknown or not applicable. */
static int dict_string(sd_bus_message *m, const BusField *f, const char *s) {
        int r;

        if (!s)
                return 0;
        r = entry_begin(m, f, "s");
        if (r < 0)
                return r;
        r = append_string(m, s);
        if (r < 0)
                return r;
        return entry_end(m);
}

static int dict_basic(sd_bus_message *m, const BusField *f, char type, const void *p) {
        char t[2] = { type, 0 };
        int r;

        r = entry_begin(m, f, t);
        if (r < 0)
                return r;
        r = sd_bus_message_append_basic(m, type, p);
        if (r < 0)
                return r;
        return entry_end(m);
}

static int dict_u64(sd_bus_message *m, const BusField *f, uint64_t v) {
        return dict_basic(m, f, 't', &v);
}

static int dict_u32(sd_bus_message *m, const BusField *f, uint32_t v) {
        return dict_basic(m, f, 'u', &v);
}

static int dict_i32(sd_bus_message *m, const BusField *f, int32_t v) {
        return dict_basic(m, f, 'i', &v);
}

static int dict_bool(sd_bus_message *m, const BusField *f, bool v) {
        int b = v;
        return dict_basic(m, f, 'b', &b);
}

/* type "ai" or "at": n elements of size bytes each */
static int dict_array(sd_bus_message *m, const BusField *f, char type, const void *v, size_t n, size_t size) {
        char t[3] = { 'a', type, 0 };
        int r;

        r = entry_begin(m, f, t);
        if (r < 0)
                return r;
        r = sd_bus_message_append_array(m, type, v, n * size);
        if (r < 0)
                return r;
        return entry_end(m);
}

/* ---- access ---- */

/*
 * Who may change the daemon's behaviour: a caller whose effective uid is 0 AND whose effective
 * capability set holds CAP_SYS_ADMIN. (sd_bus_query_sender_privilege() does not do that on a
 * dbus-daemon bus: the caps it would need are not in the message, so it falls back to "same uid
 * as us", and root with an empty capability set could Pause.)
 *
 * Where the facts come from: the euid is what dbus-daemon reports for the connection (taken from
 * the socket when the caller connected); the capabilities are not known to dbus-daemon and come
 * from /proc/PID/status of the pid it reports (sd-bus's "augmented" credentials). That read is
 * racy in principle (the caller may exit and its pid be reused), so it is only ever combined
 * with the trusted uid: an unprivileged user never passes, and a capability-less root caller
 * could only pass if a privileged process took over its pid between its call and this check.
 */
static int check_privileged(sd_bus_message *msg, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        const char *member = sd_bus_message_get_member(msg);
        uid_t euid;
        int r;

        r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_PID | SD_BUS_CREDS_EUID | SD_BUS_CREDS_EFFECTIVE_CAPS |
                                                   SD_BUS_CREDS_AUGMENT, &creds);
        if (r < 0)
                return bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                      "Permission denied: cannot tell who called %s: %s", member, strerror(-r));

        r = sd_bus_creds_get_euid(creds, &euid);
        if (r < 0 || (sd_bus_creds_get_augmented_mask(creds) & SD_BUS_CREDS_EUID))
                return bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                      "Permission denied: the bus did not say which user called %s.", member);
        if (euid != 0)
                return bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                      "Permission denied: %s needs root (CAP_SYS_ADMIN).", member);

        r = sd_bus_creds_has_effective_cap(creds, CAP_SYS_ADMIN);
        if (r < 0)
                return bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                      "Permission denied: cannot read the capabilities of the caller of %s: %s",
                                      member, strerror(-r));
        if (r == 0)
                return bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                      "Permission denied: %s needs root (CAP_SYS_ADMIN); the caller is root "
                                      "without CAP_SYS_ADMIN in its effective set.", member);
        return 0;
}

/* ---- methods ---- */

static int method_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *why = NULL;
        Manager *m = userdata;
        int r;

        r = check_privileged(msg, error);
        if (r < 0)
                return r;

        r = manager_reload(m, &why);
        if (r < 0)
                return bus_error_setf(error, VTISM_BUS_ERROR_CONFIG_INVALID, "previous configuration kept: %s",
                                      why ?: strerror(-r));
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_pause_resume(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        bool pause = streq(sd_bus_message_get_member(msg), VTISM_METHOD_PAUSE);
        const char *what;
        int r, mask;

        r = sd_bus_message_read(msg, "s", &what);
        if (r < 0)
                return r;

        mask = manager_subsystem_from_string(what);
        if (mask < 0)
                return bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                      "Unknown subsystem " QUOTED_FMT ": expected 'sampling', 'migration' or 'all'.",
                                      QUOTED_ARGS(what));

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

/* Bytes of guest RAM on DRAM and on CXL nodes, from a histogram's residency. */
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

/* sampled: the VM has been sampled at least once; before that its heat is unknown and left out. */
static int append_heat_range(sd_bus_message *reply, const Topology *t, const HeatHistogram *h, bool sampled) {
        const BusField *f = bus_heat_range_fields;
        uint64_t dram, cxl;
        int r;

        residency_by_tier(t, h, &dram, &cxl);
        r = dict_begin(reply);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_HEAT_RANGE_GPA], h->gpa);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_HEAT_RANGE_RAM_BYTES], h->ram_bytes);
        if (r >= 0 && sampled)
                r = dict_u64(reply, &f[BUS_HEAT_RANGE_HOT_BYTES], h->class_bytes[HEAT_HOT]);
        if (r >= 0 && sampled)
                r = dict_u64(reply, &f[BUS_HEAT_RANGE_WARM_BYTES], h->class_bytes[HEAT_WARM]);
        if (r >= 0 && sampled)
                r = dict_u64(reply, &f[BUS_HEAT_RANGE_COLD_BYTES], h->class_bytes[HEAT_COLD]);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_HEAT_RANGE_DRAM_BYTES], dram);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_HEAT_RANGE_CXL_BYTES], cxl);
        if (r >= 0 && sampled)
                r = dict_array(reply, &f[BUS_HEAT_RANGE_HEAT_BUCKETS], 't', h->pages, ELEMENTSOF(h->pages),
                               sizeof(h->pages[0]));
        if (r >= 0)
                r = dict_end(reply);
        return r;
}

/* The VM a method's (s vm) argument names, or the NoSuchVM error. */
static int read_vm_arg(sd_bus_message *msg, Manager *m, sd_bus_error *error, Vm **ret) {
        const char *key;
        int r;

        r = sd_bus_message_read(msg, "s", &key);
        if (r < 0)
                return r;
        r = manager_find_vm(m, key, ret);
        if (r == -ENOTUNIQ)
                return bus_error_setf(error, VTISM_BUS_ERROR_NO_SUCH_VM,
                                      "More than one VM is named " QUOTED_FMT ": give its id or pid as 'vtismctl status' lists them.",
                                      QUOTED_ARGS(key));
        if (r < 0)
                return bus_error_setf(error, VTISM_BUS_ERROR_NO_SUCH_VM,
                                      "No VM " QUOTED_FMT " (give a name, UUID or pid as 'vtismctl status' lists them).",
                                      QUOTED_ARGS(key));
        return 0;
}

static int method_get_heatmap(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const BusField *f = bus_heatmap_fields;
        Manager *m = userdata;
        Vm *vm;
        int r;

        r = read_vm_arg(msg, m, error, &vm);
        if (r < 0)
                return r;
        if (!vm->heat)
                return bus_error_setf(error, VTISM_BUS_ERROR_NOT_SAMPLED, "VM %s is not sampled: %s", vm->name,
                                      vm->error ?: "its guest RAM is not located yet");

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = dict_begin(reply);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_HEATMAP_ID], vm->id);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_HEATMAP_NAME], vm->name);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_HEATMAP_RANGE_BYTES], heatmap_params(vm->heat)->hist_range_bytes);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_HEATMAP_CYCLES], vm->cycles);
        if (r >= 0)
                r = dict_end(reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < heatmap_n_histograms(vm->heat); i++) {
                HeatHistogram h;

                r = heatmap_histogram(vm->heat, i, &h);
                if (r >= 0)
                        r = append_heat_range(reply, m->topology, &h, vm->cycles > 0);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static uint64_t sum_u64(const uint64_t *v, size_t n) {
        uint64_t s = 0;

        for (size_t i = 0; i < n; i++)
                s += v[i];
        return s;
}

static int append_plan(sd_bus_message *reply, const Vm *vm, const VmPlanView *p) {
        const BusField *f = bus_plan_fields;
        const PlanVmResult *res = p->result;
        const MigratorCounters *c = p->round;
        int r;

        r = dict_begin(reply);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_PLAN_ID], vm->id);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_PLAN_NAME], vm->name);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_PLAN_CYCLE], p->cycle);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_PLAN_COMPUTED_AT], p->computed_usec);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_PLAN_CYCLE_BUDGET_BYTES], p->cycle_budget_bytes);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_PLAN_POLICY_KIND], plan_policy_kind_to_string(p->policy.kind));
        if (r >= 0)
                r = dict_string(reply, &f[BUS_PLAN_POLICY], p->policy.origin ?: "default");
        if (r >= 0)
                r = dict_u32(reply, &f[BUS_PLAN_WEIGHT], p->policy.weight);
        if (r >= 0 && p->policy.kind == PLAN_POLICY_BUDGET)
                r = dict_u64(reply, &f[BUS_PLAN_DRAM_BUDGET_BYTES], p->policy.dram_budget_bytes);
        if (r >= 0)
                r = dict_bool(reply, &f[BUS_PLAN_FROZEN], p->frozen);
        if (r >= 0)
                r = dict_bool(reply, &f[BUS_PLAN_SUBMITTED], p->submitted);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_PLAN_RAM_BYTES], res->ram_bytes);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_PLAN_DRAM_BYTES], res->dram_bytes);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_PLAN_CXL_BYTES], res->cxl_bytes);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_PLAN_UNKNOWN_BYTES], res->unknown_bytes);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_PLAN_DRAM_TARGET_BYTES], res->dram_target_bytes);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_PLAN_PROMOTE_BYTES], res->promote_bytes);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_PLAN_DEMOTE_BYTES], res->demote_bytes);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_PLAN_QUERY_BYTES], res->query_bytes);
        if (r >= 0)
                r = dict_u32(reply, &f[BUS_PLAN_HOT_MIN_HEAT], res->hot_min_heat);
        if (r >= 0)
                r = dict_u32(reply, &f[BUS_PLAN_COLD_MAX_HEAT], res->cold_max_heat);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_PLAN_REASON], res->reason ?: "");
        if (p->round_seq > 0) {
                if (r >= 0)
                        r = dict_u64(reply, &f[BUS_PLAN_ROUND], p->round_seq);
                if (r >= 0)
                        r = dict_string(reply, &f[BUS_PLAN_ROUND_STATE],
                                        p->round_ended ? migrator_round_end_to_string(p->round_end) : "running");
                if (r >= 0)
                        r = dict_u64(reply, &f[BUS_PLAN_ROUND_PAGES_PROMOTED], c->moved_pages[PLAN_PROMOTE]);
                if (r >= 0)
                        r = dict_u64(reply, &f[BUS_PLAN_ROUND_PAGES_DEMOTED], c->moved_pages[PLAN_DEMOTE]);
                if (r >= 0)
                        r = dict_u64(reply, &f[BUS_PLAN_ROUND_PAGES_FAILED], migrator_counters_failed(c));
                if (r >= 0)
                        r = dict_u64(reply, &f[BUS_PLAN_ROUND_PAGES_DROPPED], sum_u64(c->dropped_pages, _MIGRATOR_DROP_MAX));
                if (r >= 0)
                        r = dict_u64(reply, &f[BUS_PLAN_ROUND_PAGES_WOULD_MOVE],
                                     c->would_move_pages[PLAN_PROMOTE] + c->would_move_pages[PLAN_DEMOTE]);
                if (r >= 0)
                        r = dict_u64(reply, &f[BUS_PLAN_ROUND_PAGES_ALREADY],
                                     c->already_pages[PLAN_PROMOTE] + c->already_pages[PLAN_DEMOTE]);
        }
        if (r >= 0)
                r = dict_end(reply);
        return r;
}

static int append_plan_groups(sd_bus_message *reply, const VmPlanView *p) {
        const BusField *f = bus_plan_move_fields;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < p->n_groups; i++) {
                const VmPlanGroup *g = &p->groups[i];

                r = dict_begin(reply);
                if (r >= 0)
                        r = dict_string(reply, &f[BUS_PLAN_MOVE_DIRECTION], plan_direction_to_string(g->direction));
                if (r >= 0 && g->from_node >= 0)
                        r = dict_i32(reply, &f[BUS_PLAN_MOVE_FROM_NODE], g->from_node);
                if (r >= 0)
                        r = dict_i32(reply, &f[BUS_PLAN_MOVE_TO_NODE], g->to_node);
                if (r >= 0)
                        r = dict_u64(reply, &f[BUS_PLAN_MOVE_MOVES], g->moves);
                if (r >= 0)
                        r = dict_u64(reply, &f[BUS_PLAN_MOVE_PAGES], g->pages);
                if (r >= 0)
                        r = dict_u64(reply, &f[BUS_PLAN_MOVE_HUGE_UNITS], g->huge_units);
                if (r >= 0)
                        r = dict_u64(reply, &f[BUS_PLAN_MOVE_NEEDS_ROOM_PAGES], g->needs_room_pages);
                if (r >= 0)
                        r = dict_u32(reply, &f[BUS_PLAN_MOVE_HEAT_MIN], g->heat_min);
                if (r >= 0)
                        r = dict_u32(reply, &f[BUS_PLAN_MOVE_HEAT_MAX], g->heat_max);
                if (r >= 0)
                        r = dict_end(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static int method_get_plan(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        VmPlanView view;
        Vm *vm;
        int r;

        r = read_vm_arg(msg, m, error, &vm);
        if (r < 0)
                return r;
        if (!vm_plan_view(vm, &view)) {
                const char *why = vm_not_tiered_reason(vm);

                if (m->mode != MANAGER_MODE_TIERING)
                        return bus_error_setf(error, VTISM_BUS_ERROR_NOT_PLANNED, "Nothing is planned: %s (%s).",
                                              "vtismd is monitor-only", m->mode_reason ?: "no CXL node");
                return bus_error_setf(error, VTISM_BUS_ERROR_NOT_PLANNED, "VM %s has not been planned yet: %s.", vm->name,
                                      why ?: vm->error ?: (vm->heat ? "its first cycle is still to come"
                                                                    : "its guest RAM is not located yet"));
        }

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = append_plan(reply, vm, &view);
        if (r >= 0)
                r = append_plan_groups(reply, &view);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* ---- GetContiguity: answered when the VM's scan is done ---- */

/* A coverage (contiguity.h) under its keys: entries, largest, for 80/90/99 % (consecutive keys),
 * the top array; largest and the rest left out when k_largest is 0. */
static int append_coverage(sd_bus_message *m, const ContigCoverage *c, unsigned k_entries, unsigned k_largest,
                           unsigned k_for, unsigned k_top) {
        const BusField *f = bus_contig_fields;
        uint64_t top[CONTIG_TOPS];
        int r;

        r = dict_u64(m, &f[k_entries], c->entries);
        if (r < 0 || k_largest == 0)
                return r;
        r = dict_u64(m, &f[k_largest], c->largest_pages * CONTIG_PAGE_BYTES);
        for (unsigned i = 0; r >= 0 && i < CONTIG_TARGETS; i++)
                r = dict_u64(m, &f[k_for + i], c->entries_for[i]);
        for (unsigned i = 0; i < CONTIG_TOPS; i++)
                top[i] = c->top_pages[i] * CONTIG_PAGE_BYTES;
        if (r >= 0)
                r = dict_array(m, &f[k_top], 't', top, CONTIG_TOPS, sizeof(uint64_t));
        return r;
}

/* One summary; vm given: with its id and name (the Contiguity property). */
static int append_contig_record(sd_bus_message *m, const char *role, const ContigRecord *rec, usec_t now_mono, const Vm *vm) {
        const ContigSummary *s = &rec->summary;
        const BusField *f = bus_contig_fields;
        int r;

        r = dict_begin(m);
        if (r >= 0 && vm)
                r = dict_string(m, &f[BUS_CONTIG_ID], vm->id);
        if (r >= 0 && vm)
                r = dict_string(m, &f[BUS_CONTIG_NAME], vm->name);
        if (r >= 0)
                r = dict_string(m, &f[BUS_CONTIG_ROLE], role);
        if (r >= 0)
                r = dict_string(m, &f[BUS_CONTIG_TRIGGER], contig_trigger_to_string(rec->trigger));
        if (r >= 0)
                r = dict_u64(m, &f[BUS_CONTIG_TAKEN_AT], rec->taken_usec);
        if (r >= 0)
                r = dict_u64(m, &f[BUS_CONTIG_AGE_USEC], now_mono - MIN(now_mono, rec->taken_mono_usec));
        if (r >= 0)
                r = dict_u64(m, &f[BUS_CONTIG_SCAN_USEC], rec->scan_usec);
        if (r >= 0)
                r = dict_u64(m, &f[BUS_CONTIG_BUSY_USEC], rec->busy_usec);
        if (r >= 0)
                r = dict_u64(m, &f[BUS_CONTIG_MOVED_BYTES], rec->moved_bytes);
        if (r >= 0)
                r = dict_u64(m, &f[BUS_CONTIG_ANCHOR_BYTES], s->params.anchor_bytes);
        if (r >= 0)
                r = dict_u64(m, &f[BUS_CONTIG_RAM_BYTES], s->ram_pages * CONTIG_PAGE_BYTES);
        if (r >= 0)
                r = dict_u64(m, &f[BUS_CONTIG_PRESENT_BYTES], s->present_pages * CONTIG_PAGE_BYTES);
        if (r >= 0)
                r = dict_u64(m, &f[BUS_CONTIG_ZERO_BYTES], s->zero_pages * CONTIG_PAGE_BYTES);
        if (r >= 0)
                r = dict_u64(m, &f[BUS_CONTIG_ABSENT_BYTES], s->absent_pages * CONTIG_PAGE_BYTES);
        if (r >= 0)
                r = dict_u64(m, &f[BUS_CONTIG_MAPPED_4K_BYTES], s->pages_4k * CONTIG_PAGE_BYTES);
        if (r >= 0)
                r = dict_u64(m, &f[BUS_CONTIG_THP_2M], s->thp_2m);
        if (r >= 0)
                r = dict_u64(m, &f[BUS_CONTIG_HUGETLB_2M], s->hugetlb_2m);
        if (r >= 0)
                r = dict_u64(m, &f[BUS_CONTIG_HUGETLB_1G], s->hugetlb_1g);
        if (r >= 0)
                r = dict_u64(m, &f[BUS_CONTIG_HUGE_MISMATCH_BYTES], s->huge_mismatch_pages * CONTIG_PAGE_BYTES);
        if (r >= 0)
                r = dict_bool(m, &f[BUS_CONTIG_PMD_MAPPING_KNOWN], rec->stats.pmd_mapping_known);
        if (r >= 0)
                r = dict_u64(m, &f[BUS_CONTIG_UNKNOWN_NODE_BYTES], rec->stats.unknown_node_pages * CONTIG_PAGE_BYTES);
        if (r >= 0)
                r = append_coverage(m, &s->runs, BUS_CONTIG_RUNS, BUS_CONTIG_LARGEST_RUN_BYTES, BUS_CONTIG_RUNS_FOR_80PCT,
                                    BUS_CONTIG_RUNS_TOP_BYTES);
        if (r >= 0)
                r = append_coverage(m, &s->anchors, BUS_CONTIG_ANCHOR_ENTRIES, BUS_CONTIG_LARGEST_ANCHOR_ENTRY_BYTES,
                                    BUS_CONTIG_ANCHOR_ENTRIES_FOR_80PCT, BUS_CONTIG_ANCHOR_TOP_BYTES);
        if (r >= 0)
                r = dict_u64(m, &f[BUS_CONTIG_ANCHOR_COVERED_BYTES], s->anchor_pages * CONTIG_PAGE_BYTES);
        if (r >= 0)
                r = append_coverage(m, &s->offset_groups, BUS_CONTIG_OFFSET_GROUPS,
                                    s->offset_groups_overflow ? 0 : BUS_CONTIG_LARGEST_OFFSET_GROUP_BYTES,
                                    BUS_CONTIG_OFFSET_GROUPS_FOR_80PCT, BUS_CONTIG_OFFSET_GROUPS_TOP_BYTES);
        if (r >= 0)
                r = dict_bool(m, &f[BUS_CONTIG_OFFSET_GROUPS_OVERFLOW], s->offset_groups_overflow);
        if (r >= 0)
                r = dict_end(m);
        return r;
}

static int append_contig_nodes(sd_bus_message *m, const char *role, const ContigSummary *s) {
        const BusField *f = bus_contig_node_fields;
        int r = 0;

        for (size_t i = 0; r >= 0 && i < s->n_nodes; i++) {
                const ContigNode *n = &s->nodes[i];

                r = dict_begin(m);
                if (r >= 0)
                        r = dict_string(m, &f[BUS_CONTIG_NODE_ROLE], role);
                if (r >= 0 && n->node >= 0)
                        r = dict_i32(m, &f[BUS_CONTIG_NODE_NODE], n->node);
                if (r >= 0)
                        r = dict_u64(m, &f[BUS_CONTIG_NODE_BYTES], n->pages * CONTIG_PAGE_BYTES);
                if (r >= 0)
                        r = dict_u64(m, &f[BUS_CONTIG_NODE_HUGE_BYTES], n->huge_pages * CONTIG_PAGE_BYTES);
                if (r >= 0)
                        r = dict_u64(m, &f[BUS_CONTIG_NODE_RUNS], n->runs);
                if (r >= 0)
                        r = dict_u64(m, &f[BUS_CONTIG_NODE_LARGEST_RUN_BYTES], n->largest_run_pages * CONTIG_PAGE_BYTES);
                if (r >= 0)
                        r = dict_end(m);
        }
        return r;
}

static int contiguity_reply(sd_bus_message *msg, const Manager *m, const Vm *vm, const ContigView *view) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const BusField *f = bus_contig_vm_fields;
        struct {
                const char *role;
                const ContigRecord *rec;
        } parts[] = { { "now", view->now }, { "before_tiering", view->before } };
        usec_t now;
        int r;

        r = sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = dict_begin(reply);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_CONTIG_VM_ID], vm->id);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_CONTIG_VM_NAME], vm->name);
        if (r >= 0)
                r = dict_u32(reply, &f[BUS_CONTIG_VM_PID], (uint32_t) vm->pid);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_CONTIG_VM_RAM_BYTES], vm->ram_bytes);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_CONTIG_VM_MOVED_BYTES], view->moved_bytes);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_CONTIG_VM_ANCHOR_BYTES], m->config->contiguity_anchor_bytes);
        if (r >= 0)
                r = dict_bool(reply, &f[BUS_CONTIG_VM_BEFORE_TIERING_PENDING], view->before_pending);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_CONTIG_VM_BEFORE_TIERING_ERROR], view->before_error);
        if (r >= 0)
                r = dict_end(reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(parts); i++)
                if (parts[i].rec)
                        r = append_contig_record(reply, parts[i].role, parts[i].rec, now, NULL);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(parts); i++)
                if (parts[i].rec)
                        r = append_contig_nodes(reply, parts[i].role, &parts[i].rec->summary);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* The answer, now or when the scan ends. userdata is our reference to the call: a caller that has
 * disconnected meanwhile gets a reply nobody reads (the bus drops it), nothing more. */
static void on_contiguity(Manager *m, Vm *vm, const ContigView *view, int error, const char *text, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        if (error >= 0 && vm && view && view->now) {
                manager_identities_settle(m); /* the scan took a while: the VM's id and name as they are now */
                r = contiguity_reply(msg, m, vm, view);
                if (r >= 0)
                        return;
                error = r;
                text = NULL;
        }
        if (error >= 0)
                error = -ENODATA;
        bus_error_setf(&e, error == -ESRCH ? VTISM_BUS_ERROR_NO_SUCH_VM : VTISM_BUS_ERROR_SCAN_FAILED, "%s",
                       text ?: strerror(-error));
        r = sd_bus_reply_method_error(msg, &e);
        if (r < 0)
                log_debug_errno(r, "Failed to send the contiguity reply: %m");
}

static int method_get_contiguity(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        uint64_t max_age;
        Vm *vm;
        int r;

        r = read_vm_arg(msg, m, error, &vm);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "t", &max_age);
        if (r < 0)
                return r;

        r = manager_contiguity_request(m, vm, max_age, on_contiguity, sd_bus_message_ref(msg));
        if (r >= 0)
                return 1; /* answered, or to be answered by on_contiguity() */
        sd_bus_message_unref(msg);
        if (r == -EPERM)
                return bus_error_setf(error, VTISM_BUS_ERROR_NOT_SAMPLED,
                                      "VM %s is not tiered (%s): vtismd does not read its memory.", vm->name,
                                      vm->error ?: "ignored");
        if (r == -ENODATA)
                return bus_error_setf(error, VTISM_BUS_ERROR_NOT_SAMPLED, "The guest RAM of VM %s is not located: %s",
                                      vm->name, vm->error ?: "not yet (QEMU may still be starting)");
        if (r == -EBUSY)
                return bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                      "Too many contiguity requests are waiting for scans; try again when they are answered.");
        return bus_error_setf(error, VTISM_BUS_ERROR_SCAN_FAILED, "Cannot scan VM %s: %s", vm->name, strerror(-r));
}

/* ---- properties ---- */

#define PROPERTY_GETTER_ARGS                                                                          \
        sd_bus *bus, const char *path, const char *interface, const char *property, sd_bus_message *reply, \
                void *userdata, sd_bus_error *error

/* Generic getters for fields at an offsetof() into the Manager (sd-bus adds it to userdata). */
static int property_get_string(PROPERTY_GETTER_ARGS) {
        return append_string(reply, *(char **) userdata);
}

static int property_get_bool(PROPERTY_GETTER_ARGS) {
        int b = *(bool *) userdata;
        return sd_bus_message_append_basic(reply, 'b', &b);
}

static int property_get_usec(PROPERTY_GETTER_ARGS) {
        return sd_bus_message_append_basic(reply, 't', (usec_t *) userdata);
}

static int property_get_version(PROPERTY_GETTER_ARGS) {
        return append_string(reply, VTISM_VERSION);
}

/* Typed getters for what is not a field of the Manager: one line each. */
#define DEFINE_MANAGER_GETTER(name, append)                   \
        static int name(PROPERTY_GETTER_ARGS) {               \
                const Manager *m = userdata;                  \
                return append;                                \
        }

DEFINE_MANAGER_GETTER(property_get_mode, append_string(reply, manager_mode_to_string(m->mode)))
DEFINE_MANAGER_GETTER(property_get_tracker, append_string(reply, tracker_kind_to_string(m->config->tracker)))
DEFINE_MANAGER_GETTER(property_get_libvirt_uri, append_string(reply, m->config->libvirt_uri))
DEFINE_MANAGER_GETTER(property_get_libvirt_state,
                      append_string(reply, m->libvirt_source ? vmsource_describe(m->libvirt_source) : NULL))
DEFINE_MANAGER_GETTER(property_get_active_tracker, append_string(reply, m->tracker ? m->tracker->ops->name : NULL))
DEFINE_MANAGER_GETTER(property_get_dry_run, sd_bus_message_append(reply, "b", (int) manager_dry_run(m)))
DEFINE_MANAGER_GETTER(property_get_sample_interval, sd_bus_message_append(reply, "t", m->config->sample_interval_usec))
DEFINE_MANAGER_GETTER(property_get_rate_limit, sd_bus_message_append(reply, "t", m->config->migrate_rate_limit_bytes))
DEFINE_MANAGER_GETTER(property_get_migration_state, append_string(reply, manager_migration_state(m)))

/* The keys of what is behind a node (bus-api.h, manager-devices.c); nothing when unknown. */
static int append_node_devices(sd_bus_message *reply, const ManagerNodeView *v) {
        const BusField *f = bus_node_fields;
        int r = 0;

        if (!v)
                return 0;
        r = dict_string(reply, &f[BUS_NODE_KIND], node_kind_to_string(v->kind));
        if (r >= 0)
                r = dict_string(reply, &f[BUS_NODE_DESCRIPTION], v->description);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_NODE_CXL_MEMDEVS], v->cxl_memdevs);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_NODE_CXL_REGIONS], v->cxl_regions);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_NODE_CXL_WINDOW], v->cxl_window);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_NODE_DAX_DEVICES], v->dax_devices);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_NODE_DAX_MODES], v->dax_modes);
        if (r >= 0 && v->dax_devices)
                r = dict_u64(reply, &f[BUS_NODE_DAX_BYTES], v->dax_bytes);
        if (r >= 0 && v->zones_known)
                r = dict_u64(reply, &f[BUS_NODE_ONLINE_BYTES], v->online_bytes);
        if (r >= 0 && v->zones_known)
                r = dict_u64(reply, &f[BUS_NODE_MOVABLE_BYTES], v->movable_bytes);
        return r;
}

/* Nodes a DAX device targets that are not online (yet): id and what is behind them. */
static int property_get_offline_nodes(PROPERTY_GETTER_ARGS) {
        const Manager *m = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < m->n_node_views; i++) {
                const ManagerNodeView *v = &m->node_views[i];

                if (v->online)
                        continue;
                r = dict_begin(reply);
                if (r >= 0)
                        r = dict_i32(reply, &bus_node_fields[BUS_NODE_ID], v->node);
                if (r >= 0)
                        r = append_node_devices(reply, v);
                if (r >= 0)
                        r = dict_end(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static int property_get_nodes(PROPERTY_GETTER_ARGS) {
        const Manager *m = userdata;
        const Topology *t = m->topology;
        const BusField *f = bus_node_fields;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < t->n_nodes; i++) {
                const TopologyNode *n = &t->nodes[i];
                _cleanup_free_ char *cpus = format_int_list(n->cpus, n->n_cpus);

                r = dict_begin(reply);
                if (r >= 0)
                        r = dict_i32(reply, &f[BUS_NODE_ID], n->id);
                if (r >= 0)
                        r = dict_string(reply, &f[BUS_NODE_TIER], node_tier_to_string(n->tier));
                if (r >= 0)
                        r = dict_string(reply, &f[BUS_NODE_CLASSIFIED_BY], tier_source_to_string(n->tier_source));
                if (r >= 0 && n->memory_tier >= 0)
                        r = dict_i32(reply, &f[BUS_NODE_MEMORY_TIER], n->memory_tier);
                if (r >= 0)
                        r = dict_string(reply, &f[BUS_NODE_CPUS], cpus);
                if (r >= 0)
                        r = dict_u64(reply, &f[BUS_NODE_TOTAL_BYTES], n->total_bytes);
                if (r >= 0)
                        r = dict_u64(reply, &f[BUS_NODE_FREE_BYTES], n->free_bytes);
                if (r >= 0)
                        r = dict_array(reply, &f[BUS_NODE_DEMOTION_TARGETS], 'i', n->demotion_targets,
                                       n->n_demotion_targets, sizeof(int));
                if (r >= 0)
                        r = append_node_devices(reply, manager_node_view(m, n->id));
                if (r >= 0)
                        r = dict_end(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static int property_get_distances(PROPERTY_GETTER_ARGS) {
        const Topology *t = ((Manager *) userdata)->topology;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "au");
        for (size_t i = 0; r >= 0 && i < t->n_nodes; i++) {
                r = sd_bus_message_open_container(reply, 'a', "u");
                for (size_t j = 0; r >= 0 && j < t->n_nodes; j++)
                        r = sd_bus_message_append(reply, "u", (uint32_t) t->distance[i * t->n_nodes + j]);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

/* Where each counter of bus-api.h lives in ManagerCounters. */
static const size_t counter_offsets[_BUS_COUNTER_FIELD_MAX] = {
        [BUS_COUNTER_CYCLES] = offsetof(ManagerCounters, cycles),
        [BUS_COUNTER_PAGES_PROMOTED] = offsetof(ManagerCounters, pages_promoted),
        [BUS_COUNTER_PAGES_DEMOTED] = offsetof(ManagerCounters, pages_demoted),
        [BUS_COUNTER_PAGES_FAILED] = offsetof(ManagerCounters, pages_failed),
        [BUS_COUNTER_BYTES_MIGRATED] = offsetof(ManagerCounters, bytes_migrated),
        [BUS_COUNTER_RELOADS] = offsetof(ManagerCounters, reloads),
        [BUS_COUNTER_RELOAD_FAILURES] = offsetof(ManagerCounters, reload_failures),
        [BUS_COUNTER_PLANS] = offsetof(ManagerCounters, plans),
        [BUS_COUNTER_ROUNDS] = offsetof(ManagerCounters, rounds),
        [BUS_COUNTER_BYTES_PROMOTED] = offsetof(ManagerCounters, bytes_promoted),
        [BUS_COUNTER_BYTES_DEMOTED] = offsetof(ManagerCounters, bytes_demoted),
#define COUNTER_FAILED(ID, WORD, KEY, WHAT) \
        [BUS_COUNTER_PAGES_FAILED_##ID] = offsetof(ManagerCounters, pages_failed_by[MIGRATOR_FAIL_##ID]),
        MIGRATE_FAILURES(COUNTER_FAILED)
#undef COUNTER_FAILED
        [BUS_COUNTER_PAGES_DROPPED] = offsetof(ManagerCounters, pages_dropped),
        [BUS_COUNTER_PAGES_WOULD_MOVE] = offsetof(ManagerCounters, pages_would_move),
        [BUS_COUNTER_PAGES_ALREADY] = offsetof(ManagerCounters, pages_already),
        [BUS_COUNTER_PAGES_QUERIED] = offsetof(ManagerCounters, pages_queried),
        [BUS_COUNTER_CYCLE_USEC] = offsetof(ManagerCounters, cycle_usec),
        [BUS_COUNTER_SAMPLE_ERRORS] = offsetof(ManagerCounters, sample_errors),
        [BUS_COUNTER_METRICS_FILE_ERRORS] = offsetof(ManagerCounters, metrics_file_errors),
};
assert_cc(ELEMENTSOF(counter_offsets) == _BUS_COUNTER_FIELD_MAX);

static int property_get_counters(PROPERTY_GETTER_ARGS) {
        const uint8_t *c = (const uint8_t *) &((Manager *) userdata)->counters;
        int r;

        manager_placement_sync_counters(userdata); /* the migrator's, live */
        r = dict_begin(reply);
        for (size_t i = 0; r >= 0 && i < _BUS_COUNTER_FIELD_MAX; i++)
                r = dict_u64(reply, &bus_counter_fields[i], *(const uint64_t *) (c + counter_offsets[i]));
        if (r >= 0)
                r = dict_end(reply);
        return r;
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

/* A VM's migration counters (MigratorCounters) as bus_vm_fields. */
static int append_vm_migrations(sd_bus_message *reply, const MigratorCounters *c) {
        static const struct {
                BusVmField field;
                MigratorFailure failure;
        } failures[] = {
#define VM_FAILED(ID, WORD, KEY, WHAT) { BUS_VM_PAGES_FAILED_##ID, MIGRATOR_FAIL_##ID },
                MIGRATE_FAILURES(VM_FAILED)
#undef VM_FAILED
        };
        const BusField *f = bus_vm_fields;
        int r;

        assert_cc(ELEMENTSOF(failures) == _MIGRATOR_FAILURE_MAX);
        r = dict_u64(reply, &f[BUS_VM_MIGRATION_ROUNDS], c->rounds);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_VM_PAGES_PROMOTED], c->moved_pages[PLAN_PROMOTE]);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_VM_PAGES_DEMOTED], c->moved_pages[PLAN_DEMOTE]);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_VM_BYTES_PROMOTED], c->moved_pages[PLAN_PROMOTE] * HEATMAP_GRANULE_4K);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_VM_BYTES_DEMOTED], c->moved_pages[PLAN_DEMOTE] * HEATMAP_GRANULE_4K);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_VM_PAGES_FAILED], migrator_counters_failed(c));
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(failures); i++)
                r = dict_u64(reply, &f[failures[i].field], c->failed_pages[failures[i].failure]);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_VM_PAGES_WOULD_MOVE],
                             c->would_move_pages[PLAN_PROMOTE] + c->would_move_pages[PLAN_DEMOTE]);
        return r;
}

/* Which trackers feed the VM and why; nothing while it is new. */
static int append_vm_trackers(sd_bus_message *reply, const Manager *m, Vm *vm) {
        _cleanup_free_ char *feeds = NULL, *why = NULL;
        int r;

        if (manager_vm_trackers(m, vm, &feeds, &why) < 0)
                return 0;
        r = dict_string(reply, &bus_vm_fields[BUS_VM_TRACKERS], feeds);
        if (r >= 0)
                r = dict_string(reply, &bus_vm_fields[BUS_VM_TRACKER_DETAIL], why);
        return r;
}

static int append_vm(sd_bus_message *reply, const Manager *m, Vm *vm) {
        static const MigratorCounters none = {};
        const BusField *f = bus_vm_fields;
        HeatHistogram h = {};
        uint64_t dram = 0, cxl = 0, budget, target;
        unsigned share_bp, share_min_bp, share_max_bp, share_age, slo_cap_bp;
        const char *slo_state;
        bool slo_met;
        bool sampled = vm->heat && vm->state == VM_STATE_TRACKED && vm->cycles > 0;
        int r;

        if (vm->heat) {
                heatmap_histogram_total(vm->heat, &h);
                residency_by_tier(m->topology, &h, &dram, &cxl);
        }
        r = dict_begin(reply);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_VM_ID], vm->id);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_VM_NAME], vm->name);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_VM_UUID], vm->uuid);
        if (r >= 0)
                r = dict_u32(reply, &f[BUS_VM_PID], (uint32_t) vm->pid);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_VM_SOURCES], sources_to_string(vm->sources));
        if (r >= 0)
                r = dict_string(reply, &f[BUS_VM_STATE], vm_state_to_string(vm->state));
        if (r >= 0)
                r = dict_string(reply, &f[BUS_VM_ERROR], vm->error);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_VM_RUN_STATE], vm_run_state_to_string(vm->run_state));
        if (r >= 0)
                r = dict_string(reply, &f[BUS_VM_RUN_STATE_REASON], vm->run_state_why);
        /* Unknown values are left out (bus-api.h): the RAM size before its guest RAM is located
         * (a QEMU still starting, a process that has not mapped its memory: not "0 bytes"),
         * placement before a complete pass, heat before the first sample (a VM never sampled is
         * not "all cold"). */
        if (r >= 0 && vm->n_ranges > 0)
                r = dict_u64(reply, &f[BUS_VM_RAM_BYTES], vm->ram_bytes);
        if (r >= 0)
                r = dict_bool(reply, &f[BUS_VM_RESIDENCY_KNOWN], h.residency_known);
        if (r >= 0 && h.residency_known)
                r = dict_u64(reply, &f[BUS_VM_DRAM_BYTES], dram);
        if (r >= 0 && h.residency_known)
                r = dict_u64(reply, &f[BUS_VM_CXL_BYTES], cxl);
        if (r >= 0 && sampled)
                r = dict_u64(reply, &f[BUS_VM_HOT_BYTES], h.class_bytes[HEAT_HOT]);
        if (r >= 0 && sampled)
                r = dict_u64(reply, &f[BUS_VM_WARM_BYTES], h.class_bytes[HEAT_WARM]);
        if (r >= 0 && sampled)
                r = dict_u64(reply, &f[BUS_VM_COLD_BYTES], h.class_bytes[HEAT_COLD]);
        if (r >= 0)
                r = dict_u64(reply, &f[BUS_VM_CYCLES], vm->cycles);
        if (r >= 0 && vm->home_node >= 0)
                r = dict_i32(reply, &f[BUS_VM_HOME_NODE], vm->home_node);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_VM_HOME_REASON], vm_home_reason_to_string(vm->home_reason));
        if (r >= 0)
                r = dict_string(reply, &f[BUS_VM_POLICY], vm->policy.source);
        /* a service level has no budget: its target tunes itself (slo_state) */
        if (r >= 0 && vm->policy.policy.cxl_access_max_percent == 0 && vm_dram_budget_bytes(vm, &budget) >= 0)
                r = dict_u64(reply, &f[BUS_VM_DRAM_BUDGET_BYTES], budget);
        if (r >= 0 && vm_dram_target_bytes(vm, &target))
                r = dict_u64(reply, &f[BUS_VM_DRAM_TARGET_BYTES], target);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_VM_NOT_TIERED], vm_not_tiered_reason(vm));
        if (r >= 0)
                r = dict_string(reply, &f[BUS_VM_ALLOWED_NODES], vm_allowed_nodes(vm));
        if (r >= 0)
                r = append_vm_migrations(reply, vm_migration_counters(vm) ?: &none);
        if (r >= 0)
                r = dict_string(reply, &f[BUS_VM_IDENTITY_CONFLICT], vm->identity_conflict);
        if (r >= 0 && vm_cxl_access(vm, &share_bp, &share_min_bp, &share_max_bp, &share_age)) {
                r = dict_u32(reply, &f[BUS_VM_CXL_ACCESS_BP], share_bp);
                if (r >= 0)
                        r = dict_u32(reply, &f[BUS_VM_CXL_ACCESS_AGE], share_age);
                if (r >= 0)
                        r = dict_u32(reply, &f[BUS_VM_CXL_ACCESS_MIN_BP], share_min_bp);
                if (r >= 0)
                        r = dict_u32(reply, &f[BUS_VM_CXL_ACCESS_MAX_BP], share_max_bp);
        }
        if (r >= 0 && vm_slo(vm, &slo_cap_bp, &slo_state, &slo_met)) {
                r = dict_u32(reply, &f[BUS_VM_SLO_CAP_BP], slo_cap_bp);
                if (r >= 0 && slo_state)
                        r = dict_bool(reply, &f[BUS_VM_SLO_MET], slo_met);
                if (r >= 0 && slo_state)
                        r = dict_string(reply, &f[BUS_VM_SLO_STATE], slo_state);
        }
        if (r >= 0)
                r = append_vm_trackers(reply, m, vm);
        if (r >= 0)
                r = dict_end(reply);
        return r;
}

static int property_get_vms(PROPERTY_GETTER_ARGS) {
        Manager *m = userdata;
        int r;

        manager_identities_settle(m); /* no VM listed by a placeholder id, nor two by one name */
        manager_placement_sync_counters(m); /* each VM's, live */
        r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < m->n_vms; i++)
                r = append_vm(reply, m, m->vms[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

/* The summaries vtismd has of each VM, as they are: reading the property never starts a scan. */
static int property_get_contiguity(PROPERTY_GETTER_ARGS) {
        Manager *m = userdata;
        usec_t now;
        int r;

        manager_identities_settle(m);
        r = sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < m->n_vms; i++) {
                ContigView view;

                if (!manager_contiguity_view(m, m->vms[i], &view))
                        continue;
                if (view.now)
                        r = append_contig_record(reply, "now", view.now, now, m->vms[i]);
                if (r >= 0 && view.before)
                        r = append_contig_record(reply, "before_tiering", view.before, now, m->vms[i]);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static int property_get_trackers(PROPERTY_GETTER_ARGS) {
        const Manager *m = userdata;
        const BusField *f = bus_tracker_fields;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (int k = 0; r >= 0 && k < _TRACKER_KIND_MAX; k++) {
                if (k == TRACKER_AUTO)
                        continue;
                r = dict_begin(reply);
                if (r >= 0)
                        r = dict_string(reply, &f[BUS_TRACKER_NAME], tracker_kind_to_string(k));
                if (r >= 0)
                        r = dict_bool(reply, &f[BUS_TRACKER_USABLE], !m->tracker_reasons[k]);
                if (r >= 0)
                        r = dict_string(reply, &f[BUS_TRACKER_REASON], m->tracker_reasons[k]);
                if (r >= 0)
                        r = dict_end(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

#define EMITS_CHANGE SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define EMITS_INVALIDATION SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION
#define CONST SD_BUS_VTABLE_PROPERTY_CONST
#define OFFSET(field) offsetof(Manager, field)

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY(VTISM_PROP_VERSION, "s", property_get_version, 0, CONST),
        SD_BUS_PROPERTY(VTISM_PROP_MODE, "s", property_get_mode, 0, EMITS_CHANGE),
        SD_BUS_PROPERTY(VTISM_PROP_MODE_REASON, "s", property_get_string, OFFSET(mode_reason), EMITS_INVALIDATION),
        SD_BUS_PROPERTY(VTISM_PROP_TRACKER, "s", property_get_tracker, 0, EMITS_INVALIDATION),
        SD_BUS_PROPERTY(VTISM_PROP_CONFIG_FILE, "s", property_get_string, OFFSET(config_path), CONST),
        SD_BUS_PROPERTY(VTISM_PROP_LIBVIRT_URI, "s", property_get_libvirt_uri, 0, EMITS_INVALIDATION),
        SD_BUS_PROPERTY(VTISM_PROP_LIBVIRT_STATE, "s", property_get_libvirt_state, 0, 0),
        SD_BUS_PROPERTY(VTISM_PROP_LAST_RELOAD_ERROR, "s", property_get_string, OFFSET(last_reload_error), EMITS_CHANGE),
        SD_BUS_PROPERTY(VTISM_PROP_SAMPLING_PAUSED, "b", property_get_bool, OFFSET(sampling_paused), EMITS_CHANGE),
        SD_BUS_PROPERTY(VTISM_PROP_MIGRATION_PAUSED, "b", property_get_bool, OFFSET(migration_paused), EMITS_CHANGE),
        SD_BUS_PROPERTY(VTISM_PROP_DRY_RUN, "b", property_get_dry_run, 0, EMITS_CHANGE),
        SD_BUS_PROPERTY(VTISM_PROP_SAMPLE_INTERVAL_USEC, "t", property_get_sample_interval, 0, EMITS_CHANGE),
        SD_BUS_PROPERTY(VTISM_PROP_MIGRATE_RATE_LIMIT, "t", property_get_rate_limit, 0, EMITS_CHANGE),
        SD_BUS_PROPERTY(VTISM_PROP_STARTED_AT, "t", property_get_usec, OFFSET(started_usec), CONST),
        SD_BUS_PROPERTY(VTISM_PROP_LAST_CYCLE_AT, "t", property_get_usec, OFFSET(last_cycle_usec), 0),
        SD_BUS_PROPERTY(VTISM_PROP_NODES, "aa{sv}", property_get_nodes, 0, EMITS_INVALIDATION),
        SD_BUS_PROPERTY(VTISM_PROP_DISTANCES, "aau", property_get_distances, 0, EMITS_INVALIDATION),
        SD_BUS_PROPERTY(VTISM_PROP_COUNTERS, "a{sv}", property_get_counters, 0, 0),
        SD_BUS_PROPERTY(VTISM_PROP_ACTIVE_TRACKER, "s", property_get_active_tracker, 0, EMITS_INVALIDATION),
        SD_BUS_PROPERTY(VTISM_PROP_TRACKERS, "aa{sv}", property_get_trackers, 0, EMITS_INVALIDATION),
        SD_BUS_PROPERTY(VTISM_PROP_VMS, "aa{sv}", property_get_vms, 0, EMITS_INVALIDATION),
        SD_BUS_PROPERTY(VTISM_PROP_CONTIGUITY, "aa{sv}", property_get_contiguity, 0, 0),
        SD_BUS_PROPERTY(VTISM_PROP_OFFLINE_NODES, "aa{sv}", property_get_offline_nodes, 0, EMITS_INVALIDATION),
        SD_BUS_PROPERTY(VTISM_PROP_MIGRATION_STATE, "s", property_get_migration_state, 0, EMITS_CHANGE),
        SD_BUS_PROPERTY(VTISM_PROP_ACTIVE_TRACKER_REASON, "s", property_get_string, OFFSET(tracker_choice),
                        EMITS_INVALIDATION),
        SD_BUS_METHOD_WITH_ARGS(VTISM_METHOD_GET_PLAN, SD_BUS_ARGS("s", vm),
                                SD_BUS_RESULT("a{sv}", plan, "aa{sv}", moves),
                                method_get_plan, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS(VTISM_SIGNAL_MIGRATION_ROUND, SD_BUS_ARGS("a{sv}", round), 0),
        SD_BUS_METHOD_WITH_ARGS(VTISM_METHOD_GET_HEATMAP, SD_BUS_ARGS("s", vm),
                                SD_BUS_RESULT("a{sv}", vm, "aa{sv}", ranges),
                                method_get_heatmap, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(VTISM_METHOD_GET_CONTIGUITY, SD_BUS_ARGS("s", vm, "t", max_age_usec),
                                SD_BUS_RESULT("a{sv}", vm, "aa{sv}", summaries, "aa{sv}", nodes),
                                method_get_contiguity, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD(VTISM_METHOD_RELOAD, "", "", method_reload, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(VTISM_METHOD_PAUSE, SD_BUS_ARGS("s", what), SD_BUS_NO_RESULT, method_pause_resume,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(VTISM_METHOD_RESUME, SD_BUS_ARGS("s", what), SD_BUS_NO_RESULT, method_pause_resume,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(VTISM_METHOD_SET_DRY_RUN, SD_BUS_ARGS("b", enable), SD_BUS_NO_RESULT,
                                method_set_dry_run, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

/* ---- the same properties without a caller: GetAll's reply built here ---- */

int bus_properties_message(Manager *m, sd_bus_message **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        int r;

        if (!m->bus)
                return -ENOTCONN;
        /* A message of our own that is never sent: its body is what GetAll would return. */
        r = sd_bus_message_new_signal(m->bus, &msg, VTISM_BUS_PATH, VTISM_BUS_INTERFACE, "Snapshot");
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(msg, 'a', "{sv}");
        for (const sd_bus_vtable *v = manager_vtable; r >= 0 && v->type != _SD_BUS_VTABLE_END; v++) {
                if (v->type != _SD_BUS_VTABLE_PROPERTY && v->type != _SD_BUS_VTABLE_WRITABLE_PROPERTY)
                        continue;
                r = sd_bus_message_open_container(msg, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append_basic(msg, 's', v->x.property.member);
                if (r >= 0)
                        r = sd_bus_message_open_container(msg, 'v', v->x.property.signature);
                if (r >= 0)
                        r = v->x.property.get(m->bus, VTISM_BUS_PATH, VTISM_BUS_INTERFACE, v->x.property.member, msg,
                                              (uint8_t *) m + v->x.property.offset, &error);
                if (r >= 0)
                        r = sd_bus_message_close_container(msg);
                if (r >= 0)
                        r = sd_bus_message_close_container(msg);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(msg);
        if (r >= 0)
                r = sd_bus_message_seal(msg, 1, 0);
        if (r >= 0)
                r = sd_bus_message_rewind(msg, true);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(msg);
        return 0;
}

/* ---- change notification: ManagerChange -> PropertiesChanged ---- */

/* Which properties a change touches. Every one listed must emit (checked in bus_setup()); the
 * others (Counters, LastCycleAt, LibvirtState) change all the time and are read, not signalled. */
static const struct {
        const char *property;
        unsigned changes;
} property_changes[] = {
        { VTISM_PROP_MODE, MANAGER_CHANGED_MODE },
        { VTISM_PROP_MODE_REASON, MANAGER_CHANGED_MODE },
        { VTISM_PROP_NODES, MANAGER_CHANGED_MODE },
        { VTISM_PROP_DISTANCES, MANAGER_CHANGED_MODE },
        { VTISM_PROP_OFFLINE_NODES, MANAGER_CHANGED_MODE },
        { VTISM_PROP_TRACKER, MANAGER_CHANGED_CONFIG },
        { VTISM_PROP_LIBVIRT_URI, MANAGER_CHANGED_CONFIG },
        { VTISM_PROP_SAMPLE_INTERVAL_USEC, MANAGER_CHANGED_CONFIG },
        { VTISM_PROP_MIGRATE_RATE_LIMIT, MANAGER_CHANGED_CONFIG },
        { VTISM_PROP_SAMPLING_PAUSED, MANAGER_CHANGED_PAUSED },
        { VTISM_PROP_MIGRATION_PAUSED, MANAGER_CHANGED_PAUSED },
        { VTISM_PROP_DRY_RUN, MANAGER_CHANGED_DRY_RUN | MANAGER_CHANGED_CONFIG },
        { VTISM_PROP_LAST_RELOAD_ERROR, MANAGER_CHANGED_RELOAD_ERROR },
        { VTISM_PROP_ACTIVE_TRACKER, MANAGER_CHANGED_TRACKERS },
        { VTISM_PROP_TRACKERS, MANAGER_CHANGED_TRACKERS },
        { VTISM_PROP_ACTIVE_TRACKER_REASON, MANAGER_CHANGED_TRACKERS },
        { VTISM_PROP_VMS, MANAGER_CHANGED_VMS | MANAGER_CHANGED_MODE },
        { VTISM_PROP_MIGRATION_STATE, MANAGER_CHANGED_MIGRATION | MANAGER_CHANGED_MODE | MANAGER_CHANGED_PAUSED |
                                              MANAGER_CHANGED_DRY_RUN },
};

/* MigrationRound(a{sv}): the round in m->last_round. */
static int emit_round(sd_bus *bus, const Manager *m) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        const ManagerRound *rd = &m->last_round;
        const BusField *f = bus_round_fields;
        int r;

        r = sd_bus_message_new_signal(bus, &msg, VTISM_BUS_PATH, VTISM_BUS_INTERFACE, VTISM_SIGNAL_MIGRATION_ROUND);
        if (r < 0)
                return r;
        r = dict_begin(msg);
        if (r >= 0)
                r = dict_u64(msg, &f[BUS_ROUND_SEQ], rd->seq);
        if (r >= 0)
                r = dict_string(msg, &f[BUS_ROUND_END], migrator_round_end_to_string(rd->end));
        if (r >= 0)
                r = dict_bool(msg, &f[BUS_ROUND_DRY_RUN], rd->dry_run);
        if (r >= 0)
                r = dict_u64(msg, &f[BUS_ROUND_DURATION_USEC], rd->duration_usec);
        if (r >= 0)
                r = dict_u64(msg, &f[BUS_ROUND_BUDGET_BYTES], rd->budget_bytes);
        if (r >= 0)
                r = dict_u32(msg, &f[BUS_ROUND_VMS], (uint32_t) rd->n_vms);
        if (r >= 0)
                r = dict_u64(msg, &f[BUS_ROUND_PAGES_PROMOTED], rd->total.moved_pages[PLAN_PROMOTE]);
        if (r >= 0)
                r = dict_u64(msg, &f[BUS_ROUND_PAGES_DEMOTED], rd->total.moved_pages[PLAN_DEMOTE]);
        if (r >= 0)
                r = dict_u64(msg, &f[BUS_ROUND_PAGES_FAILED], migrator_counters_failed(&rd->total));
        if (r >= 0)
                r = dict_u64(msg, &f[BUS_ROUND_PAGES_DROPPED], sum_u64(rd->total.dropped_pages, _MIGRATOR_DROP_MAX));
        if (r >= 0)
                r = dict_u64(msg, &f[BUS_ROUND_PAGES_WOULD_MOVE],
                             rd->total.would_move_pages[PLAN_PROMOTE] + rd->total.would_move_pages[PLAN_DEMOTE]);
        if (r >= 0)
                r = dict_end(msg);
        if (r < 0)
                return r;
        return sd_bus_send(bus, msg, NULL);
}

static void on_manager_changed(Manager *m, unsigned changes, void *userdata) {
        sd_bus *bus = userdata;
        const char *names[ELEMENTSOF(property_changes) + 1];
        size_t n = 0;
        int r;

        if (changes & MANAGER_CHANGED_ROUND) {
                r = emit_round(bus, m);
                if (r < 0)
                        log_debug_errno(r, "Failed to emit MigrationRound: %m");
        }
        for (size_t i = 0; i < ELEMENTSOF(property_changes); i++)
                if (property_changes[i].changes & changes)
                        names[n++] = property_changes[i].property;
        names[n] = NULL;
        if (changes & MANAGER_CHANGED_CYCLE)
                (void) metrics_file_update(m);
        if (n == 0)
                return;
        r = sd_bus_emit_properties_changed_strv(bus, VTISM_BUS_PATH, VTISM_BUS_INTERFACE, (char **) names);
        if (r < 0)
                log_debug_errno(r, "Failed to emit PropertiesChanged: %m");
}

static int check_property_changes(void) {
        for (size_t i = 0; i < ELEMENTSOF(property_changes); i++) {
                const sd_bus_vtable *v;

                for (v = manager_vtable; v->type != _SD_BUS_VTABLE_END; v++)
                        if (v->type == _SD_BUS_VTABLE_PROPERTY && streq(v->x.property.member, property_changes[i].property))
                                break;
                if (v->type == _SD_BUS_VTABLE_END || !(v->flags & (EMITS_CHANGE | EMITS_INVALIDATION)))
                        return log_error_errno(-EINVAL, "Internal error: property %s is signalled but does not emit.",
                                               property_changes[i].property);
        }
        return 0;
}

/* sd-bus delivers this when the connection is gone (dbus-daemon exited or restarted). vtismd cannot
 * be reached or controlled without it: stop with failure, so that Restart=on-failure brings it
 * back once the bus is there again. */
static int on_disconnected(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        log_error("Lost the connection to the system bus; exiting with failure so that systemd restarts vtismd.");
        manager_exit(m, -ECONNRESET);
        return 0;
}

int bus_export(Manager *m, sd_bus *bus) {
        int r;

        r = check_property_changes();
        if (r < 0)
                return r;

        r = sd_bus_add_object_vtable(bus, NULL, VTISM_BUS_PATH, VTISM_BUS_INTERFACE, manager_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to export the manager object: %m");

        r = sd_bus_attach_event(bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");
        return 0;
}

int bus_setup(Manager *m) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = sd_bus_open_system_with_description(&bus, "vtismd");
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");

        r = bus_export(m, bus);
        if (r < 0)
                return r;

        /* If the bus goes away, leave with failure: systemd restarts us once it is back. The match
         * says why and sets the exit status; exit-on-disconnect is the safety net behind it. */
        r = sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                                "org.freedesktop.DBus.Local", "Disconnected", on_disconnected, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch for the loss of the bus: %m");
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
        manager_set_change_hook(m, on_manager_changed, m->bus);
        return 0;
}
