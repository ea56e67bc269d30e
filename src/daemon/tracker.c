/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>
#include <string.h>

#include "vtism/log.h"
#include "vtism/tracker-combo.h"
#include "vtism/util.h"

/*
 * auto, best first: idle_pages is exact per page, cheap and sees KVM's EPT/NPT bits; page_idle
 * is exact but costs pagemap lookups and bitmap writes; DAMON samples regions and misses a hot
 * set scattered page by page, which soft-dirty sees if it is written, so on a stock kernel the
 * two together beat either; soft-dirty alone is blind to reads (read-hot pages would look
 * cold), so it comes last.
 */
typedef struct AutoChoice {
        const TrackerOps *ops;
        TrackerKind needs[2];           /* all must be usable; _TRACKER_KIND_INVALID: none */
} AutoChoice;

static const AutoChoice preference[] = {
        { &tracker_idle_pages_ops, { TRACKER_IDLE_PAGES, _TRACKER_KIND_INVALID } },
        { &tracker_page_idle_ops, { TRACKER_PAGE_IDLE, _TRACKER_KIND_INVALID } },
        { &tracker_damon_softdirty_ops.ops, { TRACKER_DAMON, TRACKER_SOFTDIRTY } },
        { &tracker_damon_ops, { TRACKER_DAMON, _TRACKER_KIND_INVALID } },
        { &tracker_softdirty_ops, { TRACKER_SOFTDIRTY, _TRACKER_KIND_INVALID } },
};

static bool choice_usable(const AutoChoice *c, char *const reasons[_TRACKER_KIND_MAX]) {
        for (size_t i = 0; i < ELEMENTSOF(c->needs); i++)
                if (c->needs[i] != _TRACKER_KIND_INVALID && reasons[c->needs[i]])
                        return false;
        return true;
}

const TrackerOps *tracker_ops_from_kind(TrackerKind kind) {
        switch (kind) {
        case TRACKER_IDLE_PAGES:
                return &tracker_idle_pages_ops;
        case TRACKER_PAGE_IDLE:
                return &tracker_page_idle_ops;
        case TRACKER_DAMON:
                return &tracker_damon_ops;
        case TRACKER_SOFTDIRTY:
                return &tracker_softdirty_ops;
        default:
                return NULL;
        }
}

void tracker_probe_all(const TrackerContext *ctx, char *reasons[_TRACKER_KIND_MAX]) {
        for (int k = 0; k < _TRACKER_KIND_MAX; k++) {
                const TrackerOps *ops = tracker_ops_from_kind(k);
                char *why = NULL;

                reasons[k] = NULL;
                if (!ops)
                        continue;
                if (ops->probe(ctx, &why) < 0)
                        reasons[k] = why ?: xasprintf("%s is not usable here", ops->name);
                else
                        free(why);
        }
}

int tracker_pick(TrackerKind wanted, char *const reasons[_TRACKER_KIND_MAX], const TrackerOps **ret) {
        if (wanted != TRACKER_AUTO) {
                const TrackerOps *ops = tracker_ops_from_kind(wanted);

                if (!ops || reasons[wanted])
                        return -EOPNOTSUPP;
                *ret = ops;
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(preference); i++)
                if (choice_usable(&preference[i], reasons)) {
                        *ret = preference[i].ops;
                        return 0;
                }
        return -EOPNOTSUPP;
}

int tracker_start(TrackerKind wanted, const TrackerContext *ctx, char *reasons[_TRACKER_KIND_MAX], Tracker **ret) {
        const TrackerOps *ops, *failed_ops = NULL;
        int r;

        while (tracker_pick(wanted, reasons, &ops) >= 0 && ops != failed_ops) {
                TrackerKind failed[ELEMENTSOF(preference[0].needs)] = { ops->kind, _TRACKER_KIND_INVALID };

                r = tracker_new(ops, ctx, ret);
                if (r >= 0)
                        return 0;
                log_warning_errno(r, "Failed to start the %s tracker%s: %m", ops->name,
                                  wanted == TRACKER_AUTO ? ", trying the next one" : "");
                /* A combination fails to start only when each of its parts does: all of them are
                 * out, and the next choice needs none of them. */
                for (size_t i = 0; i < ELEMENTSOF(preference); i++)
                        if (preference[i].ops == ops)
                                memcpy(failed, preference[i].needs, sizeof(failed));
                for (size_t i = 0; i < ELEMENTSOF(failed); i++) {
                        if (failed[i] == _TRACKER_KIND_INVALID || failed[i] == TRACKER_AUTO)
                                continue;
                        free(reasons[failed[i]]);
                        reasons[failed[i]] = xasprintf("failed to start: %s", strerror(-r));
                }
                failed_ops = ops;
        }
        return -EOPNOTSUPP;
}

char *tracker_pick_explain(TrackerKind wanted, char *const reasons[_TRACKER_KIND_MAX], const TrackerOps *picked) {
        bool seen[_TRACKER_KIND_MAX] = {};
        unsigned any = 0;
        char *s = NULL;

        if (wanted != TRACKER_AUTO) {
                if (picked)
                        return xasprintf("%s, as configured", picked->name);
                return xasprintf("none: the configured tracker %s is not usable: %s", tracker_kind_to_string(wanted) ?: "?",
                                 (unsigned) wanted < _TRACKER_KIND_MAX && reasons[wanted] ? reasons[wanted] : "unknown tracker");
        }
        strextendf(&s, "%s (auto)", picked ? picked->name : "none");
        /* The better choices passed over: why each of their trackers is unusable, once. */
        for (size_t i = 0; i < ELEMENTSOF(preference) && preference[i].ops != picked; i++)
                for (size_t k = 0; k < ELEMENTSOF(preference[i].needs); k++) {
                        TrackerKind n = preference[i].needs[k];

                        if (n == _TRACKER_KIND_INVALID || !reasons[n] || seen[n])
                                continue;
                        seen[n] = true;
                        strextendf(&s, "%s%s: %s", any++ ? "; " : "; unusable: ", tracker_kind_to_string(n), reasons[n]);
                }
        return s;
}

char *tracker_describe_target(Tracker *t, TrackerTarget *target) {
        char *s = NULL;

        if (t->ops->describe_target)
                s = t->ops->describe_target(t, target);
        return s ?: xstrdup(t->ops->name);
}

char *tracker_target_feeds(Tracker *t, TrackerTarget *target) {
        unsigned parts = tracker_combo_target_parts(t, target); /* 0 unless t is a combo */
        const TrackerComboOps *o = (const TrackerComboOps *) t->ops;
        char *s = NULL;

        if (parts == 0)
                return xstrdup(t->ops->name);
        for (unsigned i = 0; i < TRACKER_COMBO_PARTS; i++)
                if (parts & (1u << i))
                        strextendf(&s, "%s%s", s ? "+" : "", o->parts[i]->name);
        return s;
}

int tracker_new(const TrackerOps *ops, const TrackerContext *ctx, Tracker **ret) {
        Tracker *t;
        int r;

        t = xcalloc(1, sizeof(Tracker));
        t->ops = ops;
        t->ctx = *ctx;
        if (ops->init) {
                r = ops->init(t);
                if (r < 0) {
                        free(t);
                        return r;
                }
        }
        *ret = t;
        return 0;
}

Tracker *tracker_free(Tracker *t) {
        if (!t)
                return NULL;
        if (t->ops->cleanup)
                t->ops->cleanup(t);
        free(t);
        return NULL;
}

bool tracker_target_alive(const TrackerContext *ctx, const TrackerTarget *target) {
        return proc_pid_check(ctx->proc_root, target->pid, target->start_time) != -ESRCH;
}
