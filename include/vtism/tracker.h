/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vtism/config.h"
#include "vtism/heatmap.h"
#include "vtism/proc-pid.h"

/*
 * Access trackers: where the access bits of a VM's guest RAM come from. Trackers produce
 * samples, never decisions. One ops table per tracker; the manager drives, per VM and cycle:
 *
 *     heatmap_cycle_begin(h);
 *     ops->check_accesses(t, target, h);     accessed since the last prepare -> heatmap_sample_hva()
 *     heatmap_cycle_end(h);
 *     ops->prepare_access_checks(t, target); start the next period (clear bits), may be a no-op
 *
 * Liveness: the manager checks each VM once per cycle (proc_pid_check(), one /proc/PID/stat
 * read) before check_accesses(); the ops do not check again on their normal path. Where a kernel
 * file's answer is ambiguous (an empty read where data was due, an error) they ask
 * tracker_target_alive() and return -ESRCH if the target is gone; the manager then drops the VM,
 * logging at debug. Any other error keeps the VM and its heat. target_valid() is that question
 * on its own. probe() explains in one sentence why a tracker cannot work on this host.
 */

typedef struct TrackerContext {
        const char *proc_root;   /* "/proc" */
        const char *sysfs_root;  /* "/sys" */
} TrackerContext;

typedef struct TrackerTarget {
        pid_t pid;
        unsigned long long start_time; /* field 22 of /proc/PID/stat: tells a reused pid apart */
        const HeatRangeSpec *ranges;   /* guest RAM ranges (gpa, hva, len), ascending hva */
        size_t n_ranges;
        void *data;                    /* the tracker's per-target state */
} TrackerTarget;

typedef struct Tracker Tracker;

typedef struct TrackerOps {
        TrackerKind kind;
        const char *name;
        int (*probe)(const TrackerContext *ctx, char **ret_reason);
        int (*init)(Tracker *t);
        void (*cleanup)(Tracker *t);
        int (*target_add)(Tracker *t, TrackerTarget *target);
        void (*target_remove)(Tracker *t, TrackerTarget *target);
        int (*prepare_access_checks)(Tracker *t, TrackerTarget *target);
        int (*check_accesses)(Tracker *t, TrackerTarget *target, HeatMap *heat);
        bool (*target_valid)(Tracker *t, TrackerTarget *target);
        /* Optional: one line for the status, what feeds this target and how it went (malloc'ed). */
        char *(*describe_target)(Tracker *t, TrackerTarget *target);
        /*
         * Optional, for trackers whose pass over a large target takes long (page_idle reads 8
         * bytes of pagemap and more per guest page): the cycle's check_accesses() and
         * prepare_access_checks() for target as a resumable pass, so that the manager can give
         * the loop back between steps. Each call works until deadline_usec (CLOCK_MONOTONIC)
         * has passed, after at least one unit of work, and returns 1 while the pass goes on
         * (call again with the same heat map, still inside its cycle), 0 when it is done, or
         * -errno as check_accesses() does (the pass then starts over next time). The first pass
         * after target_add() only starts the first period: it samples nothing. target_remove()
         * ends a pass in flight. When set, the manager calls only this in its cycle, and
         * target_add() must not walk the target's memory.
         */
        int (*sample_step)(Tracker *t, TrackerTarget *target, HeatMap *heat, usec_t deadline_usec);
} TrackerOps;

struct Tracker {
        const TrackerOps *ops;
        TrackerContext ctx;
        void *data; /* the tracker's global state */
};

extern const TrackerOps tracker_idle_pages_ops;
extern const TrackerOps tracker_page_idle_ops;
extern const TrackerOps tracker_damon_ops;
/* Writes only, page-exact, on stock kernels; every clear costs the guest a fault per page it
 * writes (and, under KVM, per page it touches): see tracker-softdirty.c. */
extern const TrackerOps tracker_softdirty_ops;

/* NULL for TRACKER_AUTO or an unknown kind. */
const TrackerOps *tracker_ops_from_kind(TrackerKind kind);

/* Probe every tracker. reasons[k] is NULL for a usable tracker, else why not (caller frees). */
void tracker_probe_all(const TrackerContext *ctx, char *reasons[_TRACKER_KIND_MAX]);

/*
 * Pick wanted, or for TRACKER_AUTO the best usable given the probe results:
 *   idle_pages                  page-exact reads and writes (vtism's kernel patch)
 *   page_idle                   page-exact reads and writes (CONFIG_IDLE_PAGE_TRACKING)
 *   damon + softdirty           reads per DAMON region, writes page-exact (stock kernels;
 *                               tracker_damon_softdirty_ops, see vtism/tracker-combo.h)
 *   damon                       reads and writes per region
 *   softdirty                   writes only: blind to reads, so last
 * -EOPNOTSUPP if none (or the wanted one) is usable.
 */
int tracker_pick(TrackerKind wanted, char *const reasons[_TRACKER_KIND_MAX], const TrackerOps **ret);
/* Why tracker_pick() chose picked, in a sentence for the status (malloc'ed): for auto, the
 * better trackers it passed over and why they are unusable. */
char *tracker_pick_explain(TrackerKind wanted, char *const reasons[_TRACKER_KIND_MAX], const TrackerOps *picked);
/* What feeds target and how it went: the tracker's describe_target(), else its name (malloc'ed). */
char *tracker_describe_target(Tracker *t, TrackerTarget *target);
/* Which trackers feed target, by name: the tracker's, or a combination's parts that follow it,
 * "+"-joined ("damon+softdirty"; "damon" when soft-dirty could not add it). Malloc'ed. */
char *tracker_target_feeds(Tracker *t, TrackerTarget *target);

int tracker_new(const TrackerOps *ops, const TrackerContext *ctx, Tracker **ret);

/* tracker_pick() and tracker_new(); when the picked tracker fails to start, reasons[] says so
 * ("failed to start: ...", logged as a warning; for damon+softdirty, which fails only when both
 * parts do, for both) and, for TRACKER_AUTO, the next usable one is tried. -EOPNOTSUPP when none
 * could be started. */
int tracker_start(TrackerKind wanted, const TrackerContext *ctx, char *reasons[_TRACKER_KIND_MAX], Tracker **ret);
Tracker *tracker_free(Tracker *t);
static inline void tracker_freep(Tracker **t) {
        tracker_free(*t);
}

/* False only if the target is gone for sure (proc_pid_check() says -ESRCH: exited, a zombie, or
 * its pid reused); true while it runs or when that cannot be told now. One /proc/PID/stat read. */
bool tracker_target_alive(const TrackerContext *ctx, const TrackerTarget *target);
