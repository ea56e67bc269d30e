/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The combinator tracker: two trackers feeding one heat-map cycle. Model, merge and cost:
 * vtism/tracker-combo.h.
 */

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vtism/log.h"
#include "vtism/tracker-combo.h"
#include "vtism/util.h"

/* Shadow heat values after the two part cycles (see the header). */
#define SEEN_BY_0 16u
#define SEEN_BY_1 32u
#define SEEN_BY_BOTH 48u

typedef struct Combo {
        Tracker *part[TRACKER_COMBO_PARTS];           /* NULL: this part could not start */
        char *why_off[TRACKER_COMBO_PARTS];
} Combo;

typedef struct ComboTarget {
        TrackerTarget sub[TRACKER_COMBO_PARTS];       /* each part keeps its own target data */
        bool on[TRACKER_COMBO_PARTS];
        char *why_off[TRACKER_COMBO_PARTS];
        int last_error[TRACKER_COMBO_PARTS];          /* of the last check, 0 if fine */
        HeatMap *shadow;                              /* created at the first merged check */
        size_t *by_hva;                               /* shadow range indexes, ascending hva */
        TrackerComboStats stats;
} ComboTarget;

static const TrackerComboOps *combo_ops(const Tracker *t) {
        return (const TrackerComboOps *) t->ops;
}

static int combo_probe_parts(const TrackerComboOps *o, const TrackerContext *ctx, char **ret_reason) {
        _cleanup_free_ char *reasons = NULL;
        unsigned usable = 0;

        for (unsigned i = 0; i < TRACKER_COMBO_PARTS; i++) {
                _cleanup_free_ char *why = NULL;

                if (o->parts[i]->probe(ctx, &why) >= 0)
                        usable++;
                else
                        strextendf(&reasons, "%s%s: %s", reasons ? "; " : "", o->parts[i]->name,
                                   why ?: "not usable here");
        }
        if (usable == 0) {
                *ret_reason = TAKE_PTR(reasons);
                return -EOPNOTSUPP;
        }
        return 0;
}

static int damon_softdirty_probe(const TrackerContext *ctx, char **ret_reason) {
        return combo_probe_parts(&tracker_damon_softdirty_ops, ctx, ret_reason);
}

static void combo_cleanup(Tracker *t) {
        Combo *c = t->data;

        if (!c)
                return;
        for (unsigned i = 0; i < TRACKER_COMBO_PARTS; i++) {
                tracker_free(c->part[i]);
                free(c->why_off[i]);
        }
        free(c);
        t->data = NULL;
}

static int combo_init(Tracker *t) {
        const TrackerComboOps *o = combo_ops(t);
        Combo *c = xcalloc(1, sizeof(Combo));
        int first_error = 0;

        t->data = c;
        for (unsigned i = 0; i < TRACKER_COMBO_PARTS; i++) {
                int r = tracker_new(o->parts[i], &t->ctx, &c->part[i]);

                if (r < 0) {
                        c->part[i] = NULL;
                        c->why_off[i] = xasprintf("failed to start: %s", strerror(-r));
                        log_debug_errno(r, "%s: %s failed to start: %m", o->ops.name,
                                        o->parts[i]->name);
                        if (first_error == 0)
                                first_error = r;
                }
        }
        if (!c->part[0] && !c->part[1]) {
                combo_cleanup(t);
                return first_error;
        }
        return 0;
}

static ComboTarget *combo_target_free(Tracker *t, ComboTarget *ct) {
        Combo *c = t->data;

        if (!ct)
                return NULL;
        for (unsigned i = 0; i < TRACKER_COMBO_PARTS; i++) {
                if (ct->on[i] && c->part[i]->ops->target_remove)
                        c->part[i]->ops->target_remove(c->part[i], &ct->sub[i]);
                free(ct->why_off[i]);
        }
        heatmap_free(ct->shadow);
        free(ct->by_hva);
        free(ct);
        return NULL;
}

static int combo_target_add(Tracker *t, TrackerTarget *target) {
        Combo *c = t->data;
        ComboTarget *ct = xcalloc(1, sizeof(ComboTarget));
        int first_error = 0;
        bool gone = false;

        for (unsigned i = 0; i < TRACKER_COMBO_PARTS; i++) {
                int r;

                ct->sub[i] = (TrackerTarget) {
                        .pid = target->pid,
                        .start_time = target->start_time,
                        .ranges = target->ranges,
                        .n_ranges = target->n_ranges,
                };
                if (!c->part[i]) {
                        ct->why_off[i] = xstrdup(c->why_off[i]);
                        continue;
                }
                r = c->part[i]->ops->target_add(c->part[i], &ct->sub[i]);
                if (r >= 0) {
                        ct->on[i] = true;
                        continue;
                }
                ct->why_off[i] = xasprintf("cannot follow it: %s", strerror(-r));
                gone = gone || r == -ESRCH;
                if (first_error == 0)
                        first_error = r;
        }
        if (!ct->on[0] && !ct->on[1]) {
                combo_target_free(t, ct);
                return gone ? -ESRCH : first_error ?: -EOPNOTSUPP;
        }
        target->data = ct;
        return 0;
}

static void combo_target_remove(Tracker *t, TrackerTarget *target) {
        target->data = combo_target_free(t, target->data);
}

static int cmp_hva(const void *a, const void *b, void *userdata) {
        const HeatMap *h = userdata;
        HeatRangeSpec x, y;

        (void) heatmap_range(h, *(const size_t *) a, &x, NULL, NULL);
        (void) heatmap_range(h, *(const size_t *) b, &y, NULL, NULL);
        return (x.hva > y.hva) - (x.hva < y.hva);
}

static int shadow_setup(ComboTarget *ct, const TrackerTarget *target) {
        HeatParams p;
        size_t n;
        int r;

        if (ct->shadow)
                return 0;
        heat_params_init_default(&p);
        p.decay_percent = 100;
        p.hot_min = 1;
        p.cold_max = 0;
        r = heatmap_new(target->ranges, target->n_ranges, &p, &ct->shadow);
        if (r < 0)
                return r;
        n = heatmap_n_ranges(ct->shadow);
        ct->by_hva = xcalloc(n, sizeof(size_t));
        for (size_t i = 0; i < n; i++)
                ct->by_hva[i] = i;
        qsort_r(ct->by_hva, n, sizeof(size_t), cmp_hva, ct->shadow);
        ct->stats.shadow_bytes = heatmap_memory_bytes(ct->shadow);
        return 0;
}

/* One part's cycle into the shadow, at the given decay (see the header). */
static int shadow_cycle(Combo *c, ComboTarget *ct, unsigned part, unsigned decay_percent) {
        HeatParams p = *heatmap_params(ct->shadow);
        int r;

        p.decay_percent = decay_percent;
        r = heatmap_set_params(ct->shadow, &p);
        if (r < 0)
                return r;
        heatmap_cycle_begin(ct->shadow);
        r = c->part[part]->ops->check_accesses(c->part[part], &ct->sub[part], ct->shadow);
        (void) heatmap_cycle_end(ct->shadow);
        return r;
}

/* Adjacent granules handed over as one sample. */
typedef struct Emitter {
        HeatMap *heat;
        uint64_t hva, granule_bytes;     /* of the range */
        size_t start, end;               /* pending granules [start, end) */
        bool pending;
} Emitter;

static int emit_flush(Emitter *e) {
        if (!e->pending)
                return 0;
        e->pending = false;
        return heatmap_sample_hva(e->heat, e->hva + (uint64_t) e->start * e->granule_bytes,
                                  (uint64_t) (e->end - e->start) * e->granule_bytes);
}

static int emit(Emitter *e, size_t start, size_t end) {
        int r;

        if (e->pending && start == e->end) {
                e->end = end;
                return 0;
        }
        r = emit_flush(e);
        e->start = start;
        e->end = end;
        e->pending = true;
        return r;
}

/*
 * The granules [start, end) are all non-zero. Part 1 alone: reported. A run of part 0
 * (granules it saw, alone or with part 1): reported whole, unless part 1 is exact and saw
 * something inside it, which then explains it: only part 1's granules are reported.
 */
static int merge_run(Emitter *e, const uint8_t *v, size_t start, size_t end, bool explain, uint64_t *explained) {
        int r = 0;

        for (size_t i = start; i < end && r >= 0;) {
                size_t j = i;
                bool both = false;

                if (v[i] == SEEN_BY_1) {
                        r = emit(e, i, i + 1);
                        i++;
                        continue;
                }
                for (; j < end && v[j] != SEEN_BY_1; j++)
                        if (v[j] == SEEN_BY_BOTH)
                                both = true;
                if (!explain || !both)
                        r = emit(e, i, j);
                else
                        for (size_t k = i; k < j && r >= 0; k++) {
                                if (v[k] == SEEN_BY_BOTH)
                                        r = emit(e, k, k + 1);
                                else
                                        (*explained)++;
                        }
                i = j;
        }
        return r;
}

/* Hand the shadow's verdicts to heat, ascending; count who saw what. */
static int shadow_merge(const TrackerComboOps *o, ComboTarget *ct, HeatMap *heat) {
        uint64_t by_value[256] = {};

        for (size_t k = 0; k < heatmap_n_ranges(ct->shadow); k++) {
                HeatRangeSpec spec;
                Emitter e = { .heat = heat };
                uint64_t explained = 0;
                const uint8_t *v;
                size_t n, g = 0;
                int r;

                r = heatmap_range(ct->shadow, ct->by_hva[k], &spec, &v, &n);
                if (r < 0)
                        return r;
                e.hva = spec.hva;
                e.granule_bytes = spec.granule_bytes;
                while (g < n) {
                        size_t start;

                        /* Skip zeros a word at a time: most of a big guest is cold. */
                        while (g + 8 <= n) {
                                uint64_t w;

                                memcpy(&w, v + g, sizeof(w));
                                if (w != 0)
                                        break;
                                g += 8;
                        }
                        while (g < n && v[g] == 0)
                                g++;
                        if (g >= n)
                                break;
                        start = g;
                        while (g < n && v[g] != 0)
                                by_value[v[g++]]++;
                        r = merge_run(&e, v, start, g, o->exact_explains, &explained);
                        if (r < 0)
                                return r;
                }
                r = emit_flush(&e);
                if (r < 0)
                        return r;
                /* All granules of a range have one size: count bytes per range. */
                ct->stats.only_bytes[0] += by_value[SEEN_BY_0] * spec.granule_bytes;
                ct->stats.only_bytes[1] += by_value[SEEN_BY_1] * spec.granule_bytes;
                ct->stats.both_bytes += by_value[SEEN_BY_BOTH] * spec.granule_bytes;
                ct->stats.explained_bytes += explained * spec.granule_bytes;
                memset(by_value, 0, sizeof(by_value));
        }
        return 0;
}

static int combo_check(Tracker *t, TrackerTarget *target, HeatMap *heat) {
        const TrackerComboOps *o = combo_ops(t);
        Combo *c = t->data;
        ComboTarget *ct = target->data;
        int r;

        if (!ct)
                return -ESRCH;
        if (!ct->on[0] || !ct->on[1]) {
                unsigned i = ct->on[0] ? 0 : 1;

                ct->stats.direct_cycles++;
                r = c->part[i]->ops->check_accesses(c->part[i], &ct->sub[i], heat);
                ct->last_error[i] = r < 0 ? r : 0;
                return r;
        }

        r = shadow_setup(ct, target);
        if (r < 0)
                return log_debug_errno(r, "%s: pid %d: cannot set up the shadow heat map: %m", o->ops.name,
                                       (int) target->pid);
        ct->last_error[0] = shadow_cycle(c, ct, 0, 100);
        ct->last_error[1] = shadow_cycle(c, ct, 1, 50);
        for (unsigned i = 0; i < TRACKER_COMBO_PARTS; i++) {
                if (ct->last_error[i] == -ESRCH)
                        return -ESRCH;
                if (ct->last_error[i] < 0)
                        log_debug_errno(ct->last_error[i], "%s: pid %d: %s check failed, using the other part's: %m",
                                        o->ops.name, (int) target->pid, o->parts[i]->name);
                else
                        ct->last_error[i] = 0;
        }
        ct->stats.only_bytes[0] = ct->stats.only_bytes[1] = ct->stats.both_bytes = ct->stats.explained_bytes = 0;
        r = shadow_merge(o, ct, heat);
        if (r < 0)
                return r;
        ct->stats.merged_cycles++;
        return ct->last_error[0] < 0 && ct->last_error[1] < 0 ? ct->last_error[0] : 0;
}

static int combo_prepare(Tracker *t, TrackerTarget *target) {
        Combo *c = t->data;
        ComboTarget *ct = target->data;
        int ret = 0;

        if (!ct)
                return -ESRCH;
        for (unsigned i = 0; i < TRACKER_COMBO_PARTS; i++) {
                int r;

                if (!ct->on[i])
                        continue;
                r = c->part[i]->ops->prepare_access_checks(c->part[i], &ct->sub[i]);
                if (r == -ESRCH || (r < 0 && ret == 0))
                        ret = r;
        }
        return ret;
}

static bool combo_target_valid(Tracker *t, TrackerTarget *target) {
        Combo *c = t->data;
        ComboTarget *ct = target->data;

        if (!ct)
                return false;
        for (unsigned i = 0; i < TRACKER_COMBO_PARTS; i++)
                if (ct->on[i] && c->part[i]->ops->target_valid(c->part[i], &ct->sub[i]))
                        return true;
        return false;
}

static char *combo_describe_target(Tracker *t, TrackerTarget *target) {
        const TrackerComboOps *o = combo_ops(t);
        Combo *c = t->data;
        ComboTarget *ct = target->data;
        char *s = NULL;

        if (!ct)
                return xasprintf("%s: not tracking", o->ops.name);
        for (unsigned i = 0; i < TRACKER_COMBO_PARTS; i++)
                if (ct->on[i])
                        strextendf(&s, "%s%s (%s)", s ? " + " : "", o->parts[i]->name, o->roles[i]);
        if (ct->stats.merged_cycles > 0 && ct->on[0] && ct->on[1]) {
                strextendf(&s, ", merged; last cycle: %" PRIu64 " MiB seen by %s only, %" PRIu64 " MiB by %s only, "
                           "%" PRIu64 " MiB by both", ct->stats.only_bytes[0] / MIB, o->parts[0]->name,
                           ct->stats.only_bytes[1] / MIB, o->parts[1]->name, ct->stats.both_bytes / MIB);
                if (o->exact_explains)
                        strextendf(&s, ", %" PRIu64 " MiB of %s's explained by %s's and dropped",
                                   ct->stats.explained_bytes / MIB, o->parts[0]->name, o->parts[1]->name);
        }
        for (unsigned i = 0; i < TRACKER_COMBO_PARTS; i++) {
                if (!ct->on[i])
                        strextendf(&s, "; without %s (%s): %s", o->parts[i]->name, o->roles[i],
                                   ct->why_off[i] ?: "off");
                else if (ct->last_error[i] < 0)
                        strextendf(&s, "; %s's last check failed: %s", o->parts[i]->name, strerror(-ct->last_error[i]));
        }
        for (unsigned i = 0; i < TRACKER_COMBO_PARTS; i++)
                if (ct->on[i] && c->part[i]->ops->describe_target) {
                        _cleanup_free_ char *d = c->part[i]->ops->describe_target(c->part[i], &ct->sub[i]);

                        if (d)
                                strextendf(&s, " [%s]", d);
                }
        return s;
}

void tracker_combo_ops_init(TrackerComboOps *o, const char *name, const TrackerOps *a, const char *role_a,
                            const TrackerOps *b, const char *role_b, bool exact_explains) {
        *o = (TrackerComboOps) {
                .ops = tracker_damon_softdirty_ops.ops,
                .parts = { a, b },
                .roles = { role_a, role_b },
                .exact_explains = exact_explains,
        };
        o->ops.name = name;
        o->ops.probe = NULL; /* no context to find o from: probe the parts */
}

int tracker_combo_target_stats(Tracker *t, TrackerTarget *target, TrackerComboStats *ret) {
        ComboTarget *ct;

        if (t->ops->init != combo_init)
                return -EINVAL;
        ct = target->data;
        if (!ct)
                return -ENOENT;
        *ret = ct->stats;
        return 0;
}

unsigned tracker_combo_target_parts(Tracker *t, TrackerTarget *target) {
        ComboTarget *ct;
        unsigned mask = 0;

        if (t->ops->init != combo_init || !(ct = target->data))
                return 0;
        for (unsigned i = 0; i < TRACKER_COMBO_PARTS; i++)
                if (ct->on[i])
                        mask |= 1u << i;
        return mask;
}

const TrackerComboOps tracker_damon_softdirty_ops = {
        .ops = {
                .kind = TRACKER_AUTO,
                .name = "damon+softdirty",
                .probe = damon_softdirty_probe,
                .init = combo_init,
                .cleanup = combo_cleanup,
                .target_add = combo_target_add,
                .target_remove = combo_target_remove,
                .prepare_access_checks = combo_prepare,
                .check_accesses = combo_check,
                .target_valid = combo_target_valid,
                .describe_target = combo_describe_target,
        },
        .parts = { &tracker_damon_ops, &tracker_softdirty_ops },
        .roles = { "reads, per region", "writes, page-exact" },
        .exact_explains = true,
};
