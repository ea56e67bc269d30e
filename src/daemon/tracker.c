/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>
#include <string.h>

#include "vtism/tracker.h"
#include "vtism/util.h"

/* Best first: idle_pages is exact per page, cheap and sees KVM's EPT/NPT bits; page_idle is
 * exact but costs pagemap lookups and bitmap writes; DAMON samples regions. */
static const TrackerKind preference[] = { TRACKER_IDLE_PAGES, TRACKER_PAGE_IDLE, TRACKER_DAMON };

const TrackerOps *tracker_ops_from_kind(TrackerKind kind) {
        switch (kind) {
        case TRACKER_IDLE_PAGES:
                return &tracker_idle_pages_ops;
        case TRACKER_PAGE_IDLE:
                return &tracker_page_idle_ops;
        case TRACKER_DAMON:
                return &tracker_damon_ops;
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
                if (!reasons[preference[i]]) {
                        *ret = tracker_ops_from_kind(preference[i]);
                        return 0;
                }
        return -EOPNOTSUPP;
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
