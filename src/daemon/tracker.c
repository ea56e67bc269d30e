/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>
#include <string.h>

#include "vtism/log.h"
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

int tracker_start(TrackerKind wanted, const TrackerContext *ctx, char *reasons[_TRACKER_KIND_MAX], Tracker **ret) {
        const TrackerOps *ops;
        int r;

        while (tracker_pick(wanted, reasons, &ops) >= 0) {
                r = tracker_new(ops, ctx, ret);
                if (r >= 0)
                        return 0;
                free(reasons[ops->kind]);
                reasons[ops->kind] = xasprintf("failed to start: %s", strerror(-r));
                log_warning_errno(r, "Failed to start the %s tracker%s: %m", ops->name,
                                  wanted == TRACKER_AUTO ? ", trying the next one" : "");
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

int proc_pid_start_time(const char *proc_root, pid_t pid, unsigned long long *ret) {
        _cleanup_free_ char *path = xasprintf("%d/stat", (int) pid), *stat = NULL;
        unsigned long long v;
        const char *p;
        int r;

        r = read_file_at(proc_root, path, &stat);
        if (r == -ENOENT)
                return -ESRCH;
        if (r < 0)
                return r;
        /* The command name may contain anything, even ") ": fields start after the last ')'. */
        p = strrchr(stat, ')');
        if (!p)
                return -EIO;
        p++;
        for (int field = 3; field < 22; field++) {
                p = strchr(p + 1, ' ');
                if (!p)
                        return -EIO;
        }
        if (sscanf(p, " %llu", &v) != 1)
                return -EIO;
        *ret = v;
        return 0;
}

bool tracker_target_alive(const TrackerContext *ctx, const TrackerTarget *target) {
        unsigned long long start;

        return proc_pid_start_time(ctx->proc_root, target->pid, &start) >= 0 && start == target->start_time;
}
