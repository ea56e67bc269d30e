/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Contiguity summaries of the VMs' guest RAM (manager.h, contiguity.h): a queue of scans, one
 * running at a time in slices from the event loop, and per VM the latest summary ("now"), the
 * one from before vtism moved its pages ("before tiering") and what vtism moved of it since.
 *
 * Slices. An idle-priority defer source (like the migrator's) runs contiguity_scan_step() in
 * batches sized to take about .batch_usec (8 ms) from the time per page measured so far (a
 * power of two of 1024..16384 pages: 4..64 MiB of guest RAM), and starts another batch only if
 * it is expected to end within .slice_usec (40 ms) of the slice's start; the first batch always
 * runs. Natively a batch of 16384 pages takes ~5-8 ms (contiguity-scan.h: ~90-130 ms per GiB);
 * under the lab's TCG ~10x that, so batches shrink to 1024-2048 pages there. While the loop is
 * never idle (cycles that overrun their interval) a scan still gets one slice per cycle.
 *
 * Order: scans that callers wait for first (oldest request first), then before-tiering scans,
 * then rescans after moves. Limits on what nobody waits for: a VM is rescanned after moves at
 * most every MAX(.rescan_min_usec, .rescan_busy_factor x its last scan's busy time) (60 s; a
 * 64 GiB VM scanned in ~6 s: every 10 min), and after any rescan of busy time B no other starts
 * for .auto_duty_factor x B (2 % of one core for all VMs together, however many there are).
 * Requests: a summary younger than MAX(max age, 1 s, 10 x the VM's last busy time) is answered
 * as it is, and requests for a VM whose scan runs join it, so callers cannot make vtismd spend
 * more than ~10 % of a core per VM on scans either.
 *
 * VMs are tracked by pointer, pid and start time: an entry whose VM is no longer in m->vms (or
 * whose pid now has another start time) is dropped in the next cycle, its waiting requests
 * answered -ESRCH; a scan notices an exit itself (-ESRCH from the pagemap) and says so at once.
 */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "vtism/log.h"
#include "vtism/manager.h"
#include "vtism/migrator.h"
#include "vtism/pid-index.h"
#include "vtism/util.h"

#define PAGE_BYTES UINT64_C(4096)
#define REQUESTS_PER_VM_MAX 64u
#define REQUESTS_MAX 256u
/* A rescan after moves once this much moved since the last summary: MIN(64 MiB, 1 % of RAM). */
#define RESCAN_MOVED_BYTES_MAX (UINT64_C(64) << 20)
#define RESCAN_MOVED_PERCENT 1u
/* Before the first batch is measured. */
#define START_NS_PER_PAGE 1000u

#define CLAMP(x, lo, hi) MIN(MAX((x), (lo)), (hi))
/* Of a VmContig: its copies of the id and name stay valid after the Vm is gone. */
#define VM_FIELDS(v) FIELDS({ "VTISM_VM", (v)->id }, { "VTISM_VM_NAME", (v)->name })

static const char *const contig_trigger_table[_CONTIG_TRIGGER_MAX] = {
        [CONTIG_TRIGGER_REQUEST] = "request",
        [CONTIG_TRIGGER_TIERING_START] = "tiering-start",
        [CONTIG_TRIGGER_MIGRATION] = "migration",
};
assert_cc(ELEMENTSOF(contig_trigger_table) == _CONTIG_TRIGGER_MAX);

const char *contig_trigger_to_string(ContigTrigger t) {
        if (t < 0 || t >= _CONTIG_TRIGGER_MAX)
                return NULL;
        return contig_trigger_table[t];
}

typedef struct Request {
        ManagerContigDone done;
        void *userdata;
        uint64_t seq;
} Request;

typedef struct VmContig {
        Vm *vm;                     /* valid while vm_alive() says so */
        pid_t pid;
        unsigned long long start_time;
        char *id, *name;            /* for messages, also once the Vm is gone */

        ContigRecord now, before;
        bool have_now, have_before;
        bool before_done;           /* have_before, or before_error says why not */
        char *before_error;
        bool want_before;           /* queued: the VM is tracked, no before summary yet */
        bool want_rescan;           /* queued: moved enough since the last summary */
        bool auto_off;              /* automatic scans stopped: they cannot work (permissions) */

        uint64_t moved_bytes;       /* vtism's moves of the VM (migrator rounds) */
        uint64_t moved_at_summary;  /* moved_bytes when the latest scan started */
        usec_t next_rescan_mono;    /* no rescan after moves before this */

        Request *requests;
        size_t n_requests;
} VmContig;

struct ManagerContiguity {
        ContigOptions o;
        VmContig **vms;
        size_t n_vms;
        /* pid -> the place in vms[] of the entry made last for that pid (an older one with the
         * pid is of a VM gone, dropped in the next cycle): vc_find() in O(1), not a scan of the
         * entries per VM (O(n^2) a cycle, and a bus listing of all VMs); 10.7-32 bytes an entry */
        PidIndex by_pid;
        size_t n_requests;
        uint64_t request_seq;

        /* the running scan */
        sd_event_source *defer;
        VmContig *job;
        ContiguityScan *scan;
        ContigTrigger trigger;
        bool job_tracked;           /* the VM was tracked when the scan started */
        uint64_t job_moved_start;
        usec_t job_start_mono;
        usec_t job_busy_usec;
        uint64_t job_slices;
        uint64_t slices_at_cycle;   /* job_slices at the last manager_contiguity_cycle() */
        uint64_t ns_per_page;       /* the scan's cost as measured */

        usec_t next_auto_mono;      /* no rescan after moves starts before this (duty limit) */
};

static void options_default(ContigOptions *o) {
        *o = (ContigOptions) {
                .slice_usec = 40 * USEC_PER_MSEC,
                .batch_usec = 8 * USEC_PER_MSEC,
                .rescan_min_usec = 60 * USEC_PER_SEC,
                .rescan_busy_factor = 100,
                .auto_duty_factor = 50,
                .floor_min_usec = USEC_PER_SEC,
                .floor_busy_factor = 10,
        };
}

static ManagerContiguity *mc_get(Manager *m) {
        if (!m->contiguity) {
                m->contiguity = xcalloc(1, sizeof(ManagerContiguity));
                options_default(&m->contiguity->o);
                m->contiguity->ns_per_page = START_NS_PER_PAGE;
        }
        return m->contiguity;
}

void manager_contiguity_set_options(Manager *m, const ContigOptions *o) {
        ManagerContiguity *c = mc_get(m);
        ContigOptions d;

        options_default(&d);
#define PICK(f) c->o.f = o->f ? o->f : d.f
        PICK(slice_usec);
        PICK(batch_usec);
        PICK(rescan_min_usec);
        PICK(rescan_busy_factor);
        PICK(auto_duty_factor);
        PICK(floor_min_usec);
        PICK(floor_busy_factor);
#undef PICK
}

/* ---- per VM ---- */

/* v's VM is still one of m->vms, the same process (v->vm may be freed: only compared). */
static bool vm_alive(const Manager *m, const VmContig *v) {
        const Vm *vm = manager_vm_by_pid(m, v->pid, NULL);

        return vm && vm == v->vm && vm->start_time == v->start_time;
}

static VmContig *vc_find(ManagerContiguity *c, const Vm *vm) {
        VmContig *v;
        size_t i;

        if (!pid_index_get(&c->by_pid, vm->pid, &i))
                return NULL;
        v = c->vms[i];
        return v->vm == vm && v->start_time == vm->start_time ? v : NULL;
}

static VmContig *vc_get(ManagerContiguity *c, Vm *vm) {
        VmContig *v = vc_find(c, vm);

        if (v)
                return v;
        v = xcalloc(1, sizeof(VmContig));
        v->vm = vm;
        v->pid = vm->pid;
        v->start_time = vm->start_time;
        v->id = xstrdup(vm->id);
        v->name = xstrdup(vm->name);
        if (pid_index_add(&c->by_pid, v->pid, c->n_vms) == -EEXIST)
                (void) pid_index_set(&c->by_pid, v->pid, c->n_vms); /* the older entry's VM is gone */
        c->vms = xreallocarray(c->vms, c->n_vms + 1, sizeof(VmContig *));
        c->vms[c->n_vms++] = v;
        return v;
}

static void vc_set_before_error(VmContig *v, const char *why) {
        v->before_done = true;
        v->want_before = false;
        free(v->before_error);
        v->before_error = xstrdup(why);
}

static ContigView vc_view(const VmContig *v) {
        return (ContigView) {
                .now = v->have_now ? &v->now : NULL,
                .before = v->have_before ? &v->before : NULL,
                .before_pending = !v->before_done,
                .before_error = v->have_before ? NULL : v->before_error,
                .moved_bytes = v->moved_bytes,
        };
}

bool manager_contiguity_view(Manager *m, const Vm *vm, ContigView *ret) {
        VmContig *v = m->contiguity ? vc_find(m->contiguity, vm) : NULL;

        if (!v || (!v->have_now && !v->have_before))
                return false;
        *ret = vc_view(v);
        return true;
}

/* Answer every waiting request of v: with its view (error 0) or the error. */
static void vc_answer(Manager *m, ManagerContiguity *c, VmContig *v, int error, const char *text) {
        Request *reqs = v->requests;
        size_t n = v->n_requests;
        ContigView view = vc_view(v);
        Vm *vm = vm_alive(m, v) ? v->vm : NULL;

        /* Detached first: a callback may ask again (and must find a clean state). */
        v->requests = NULL;
        v->n_requests = 0;
        c->n_requests -= n;
        for (size_t i = 0; i < n; i++)
                reqs[i].done(m, vm, error < 0 ? NULL : &view, error, text, reqs[i].userdata);
        free(reqs);
}

static VmContig *vc_free(VmContig *v) {
        if (!v)
                return NULL;
        free(v->requests);
        free(v->before_error);
        free(v->id);
        free(v->name);
        free(v);
        return NULL;
}

/* ---- the running scan ---- */

static void job_end(ManagerContiguity *c) {
        c->scan = contiguity_scan_free(c->scan);
        c->job = NULL;
        if (c->defer)
                (void) sd_event_source_set_enabled(c->defer, SD_EVENT_OFF);
}

static void vc_remove(Manager *m, ManagerContiguity *c, size_t index, int error, const char *text) {
        VmContig *v = c->vms[index];

        size_t at;

        if (c->job == v)
                job_end(c);
        if (pid_index_get(&c->by_pid, v->pid, &at) && at == index)
                (void) pid_index_remove(&c->by_pid, v->pid);
        c->vms[index] = c->vms[--c->n_vms];
        if (index < c->n_vms && pid_index_get(&c->by_pid, c->vms[index]->pid, &at) && at == c->n_vms)
                (void) pid_index_set(&c->by_pid, c->vms[index]->pid, index); /* the last one moved */
        if (v->n_requests > 0)
                vc_answer(m, c, v, error, text);
        vc_free(v);
}

/* Why a scan failed, in words for a caller and the journal. */
static char *scan_error_text(const VmContig *v, int r) {
        switch (r) {
        case -ESRCH:
                return xasprintf("VM %s exited during the contiguity scan", v->name);
        case -EPERM:
        case -EACCES:
                return xasprintf("cannot read where the guest RAM of VM %s is in host memory: %s (vtismd needs root "
                                 "with CAP_SYS_ADMIN for /proc/PID/pagemap page frames and /proc/kpageflags)",
                                 v->name, strerror(-r));
        case -ERANGE:
                return xasprintf("the guest RAM of VM %s is not mapped where it was located (did QEMU change its "
                                 "memory?): %s", v->name, strerror(-r));
        default:
                return xasprintf("contiguity scan of VM %s failed: %s", v->name, strerror(-r));
        }
}

static double percent(uint64_t part, uint64_t whole) {
        return whole ? 100.0 * (double) part / (double) whole : 0;
}

static void log_record(const VmContig *v, const ContigRecord *rec, bool is_before) {
        const ContigSummary *s = &rec->summary;
        char present[FORMAT_BYTES_MAX], moved[FORMAT_BYTES_MAX];
        uint64_t huge = s->thp_2m + s->hugetlb_2m;

        format_bytes(present, sizeof(present), s->present_pages * PAGE_BYTES);
        if (is_before) {
                log_fields(LOG_INFO, VM_FIELDS(v),
                           "VM %s before tiering: %s present, %" PRIu64 " in 2 MiB mappings (%.1f%%), %" PRIu64
                           " in 1 GiB ones, %" PRIu64 " range runs (scan %" PRIu64 " ms).",
                           v->name, present, huge, percent(huge * CONTIG_PAGES_2M, s->present_pages), s->hugetlb_1g,
                           s->runs.entries, rec->scan_usec / USEC_PER_MSEC);
        } else if (rec->trigger == CONTIG_TRIGGER_MIGRATION && v->have_before) {
                const ContigSummary *b = &v->before.summary;
                uint64_t before_huge = b->thp_2m + b->hugetlb_2m;

                format_bytes(moved, sizeof(moved), rec->moved_bytes);
                log_fields(LOG_INFO, VM_FIELDS(v),
                           "VM %s after %s moved: %" PRIu64 " 2 MiB mappings (%.1f%% of the %" PRIu64 " before tiering), "
                           "%" PRIu64 " range runs (before: %" PRIu64 ").",
                           v->name, moved, huge, percent(huge, before_huge), before_huge, s->runs.entries,
                           b->runs.entries);
        } else
                log_fields(LOG_DEBUG, VM_FIELDS(v),
                           "VM %s: contiguity summary (%s): %s present, %" PRIu64 " 2 MiB mappings, %" PRIu64
                           " range runs; scan %" PRIu64 " ms, %" PRIu64 " ms busy in %" PRIu64 " slices.",
                           v->name, contig_trigger_to_string(rec->trigger), present, huge, s->runs.entries,
                           rec->scan_usec / USEC_PER_MSEC, rec->busy_usec / USEC_PER_MSEC, rec->slices);
}

static void vc_remove_ptr(Manager *m, ManagerContiguity *c, VmContig *v, int error, const char *text) {
        for (size_t i = 0; i < c->n_vms; i++)
                if (c->vms[i] == v) {
                        vc_remove(m, c, i, error, text);
                        return;
                }
}

/* The scan of c->job ended with r (0: complete; or it could not start, r < 0). */
static void job_finished(Manager *m, ManagerContiguity *c, int r) {
        VmContig *v = c->job;
        usec_t now = clock_now_usec(CLOCK_MONOTONIC);
        ContigRecord rec = {};

        if (r >= 0)
                r = contiguity_scan_finish(c->scan, &rec.summary, &rec.stats);
        c->scan = contiguity_scan_free(c->scan);
        c->job = NULL;
        if (r >= 0 && !vm_alive(m, v))
                r = -ESRCH; /* the process may linger, but vtismd let go of the VM meanwhile */

        /* Whatever the outcome, the limits count the time spent. */
        if (c->trigger == CONTIG_TRIGGER_MIGRATION)
                c->next_auto_mono = now + (usec_t) c->o.auto_duty_factor * c->job_busy_usec;

        if (r == -ESRCH) {
                _cleanup_free_ char *text = scan_error_text(v, r);

                vc_remove_ptr(m, c, v, r, text);
                return;
        }
        if (r < 0) {
                _cleanup_free_ char *text = scan_error_text(v, r);

                if (r == -EPERM || r == -EACCES) {
                        /* Automatic scans would fail the same way: said once, and stopped. */
                        if (!v->auto_off)
                                log_fields(LOG_WARNING, VM_FIELDS(v), "%s; no automatic contiguity scans of it.", text);
                        v->auto_off = true;
                } else if (c->trigger != CONTIG_TRIGGER_REQUEST)
                        log_fields(LOG_NOTICE, VM_FIELDS(v), "%s.", text);
                if (c->trigger == CONTIG_TRIGGER_TIERING_START || (v->auto_off && !v->before_done))
                        vc_set_before_error(v, text);
                if (c->trigger == CONTIG_TRIGGER_MIGRATION) {
                        v->want_rescan = false;
                        v->next_rescan_mono = now + c->o.rescan_min_usec;
                }
                vc_answer(m, c, v, r, text);
                return;
        }

        rec.taken_usec = clock_now_usec(CLOCK_REALTIME);
        rec.taken_mono_usec = now;
        rec.scan_usec = now - c->job_start_mono;
        rec.busy_usec = c->job_busy_usec;
        rec.slices = c->job_slices;
        rec.trigger = c->trigger;
        rec.moved_bytes = c->job_moved_start;
        v->now = rec;
        v->have_now = true;
        v->moved_at_summary = c->job_moved_start;
        v->next_rescan_mono = now + MAX(c->o.rescan_min_usec, (usec_t) c->o.rescan_busy_factor * rec.busy_usec);
        v->want_rescan = false;

        if (!v->before_done && c->job_tracked) {
                if (c->job_moved_start == 0 && v->moved_bytes == 0) {
                        v->before = rec;
                        v->have_before = true;
                        v->before_done = true;
                        v->want_before = false;
                        log_record(v, &rec, true);
                } else
                        vc_set_before_error(v, "vtism moved pages of the VM before its first contiguity scan was complete");
        } else
                log_record(v, &rec, false);
        vc_answer(m, c, v, 0, NULL);
}

static unsigned log2_floor(uint64_t v) {
        unsigned k = 0;

        while (v >>= 1)
                k++;
        return k;
}

/* Pages per batch for about batch_usec at the measured cost. */
static size_t batch_pages(const ManagerContiguity *c) {
        uint64_t want = (uint64_t) c->o.batch_usec * 1000 / MAX(c->ns_per_page, (uint64_t) 1);

        want = CLAMP(want, (uint64_t) CONTIG_SCAN_BATCH_PAGES_MIN, (uint64_t) CONTIG_SCAN_BATCH_PAGES);
        return (size_t) 1 << log2_floor(want);
}

static void slice(Manager *m) {
        ManagerContiguity *c = m->contiguity;
        usec_t start = clock_now_usec(CLOCK_MONOTONIC), now = start;
        int r = 1;

        c->job_slices++;
        for (bool first = true; r > 0; first = false) {
                size_t pages = batch_pages(c);
                usec_t expect = (usec_t) pages * c->ns_per_page / 1000, t0 = now;
                uint64_t before = contiguity_scan_pages_done(c->scan), done;

                if (!first && now - start + expect > c->o.slice_usec)
                        break;
                (void) contiguity_scan_set_batch_pages(c->scan, pages);
                r = contiguity_scan_step(c->scan, pages);
                now = clock_now_usec(CLOCK_MONOTONIC);
                done = contiguity_scan_pages_done(c->scan) - before; /* a batch ends at a range's end too */
                if (r >= 0 && done > 0) {
                        uint64_t ns = (now - t0) * 1000 / done;

                        /* follow up by at most doubling, down by halves: one stall does not shrink
                         * the next batches to nothing, nor does one fast batch grow them past it */
                        c->ns_per_page = CLAMP(ns, c->ns_per_page / 2, c->ns_per_page * 2);
                        c->ns_per_page = MAX(c->ns_per_page, (uint64_t) 1);
                }
        }
        c->job_busy_usec += now - start;
        if (r <= 0)
                job_finished(m, c, r);
}

static void kick(Manager *m);

static int on_defer(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        ManagerContiguity *c = m->contiguity;

        if (c->job)
                slice(m);
        if (!c->job)
                kick(m); /* the next scan, if one is due (it enables the source again) */
        else
                (void) sd_event_source_set_enabled(c->defer, SD_EVENT_ONESHOT);
        return 0;
}

static int job_start(Manager *m, ManagerContiguity *c, VmContig *v, ContigTrigger trigger) {
        ContigParams params;
        Vm *vm = v->vm;
        int r;

        contig_params_init_default(&params);
        params.anchor_bytes = m->config->contiguity_anchor_bytes;
        r = contiguity_scan_new(m->proc_root, m->sysfs_root, vm->pid, vm->start_time, vm->ranges, vm->n_ranges, &params,
                                &c->scan);
        if (r < 0)
                return r;
        c->job = v;
        c->trigger = trigger;
        c->job_tracked = vm->state == VM_STATE_TRACKED;
        c->job_moved_start = v->moved_bytes;
        c->job_start_mono = clock_now_usec(CLOCK_MONOTONIC);
        c->job_busy_usec = 0;
        c->job_slices = 0;
        c->slices_at_cycle = 0;
        if (!c->defer) {
                r = sd_event_add_defer(m->event, &c->defer, on_defer, m);
                if (r < 0) {
                        job_end(c);
                        return r;
                }
                (void) sd_event_source_set_priority(c->defer, SD_EVENT_PRIORITY_IDLE);
                (void) sd_event_source_set_description(c->defer, "contiguity");
        }
        (void) sd_event_source_set_enabled(c->defer, SD_EVENT_ONESHOT);
        log_fields(LOG_DEBUG, VM_FIELDS(v), "VM %s: contiguity scan (%s) of %zu guest RAM range(s) started.", v->name,
                   contig_trigger_to_string(trigger), vm->n_ranges);
        return 0;
}

/* What to scan next: oldest request, then before-tiering, then rescans after moves (if allowed). */
static VmContig *pick_next(Manager *m, ManagerContiguity *c, ContigTrigger *ret_trigger) {
        usec_t now = clock_now_usec(CLOCK_MONOTONIC);
        VmContig *best = NULL;

        for (size_t i = 0; i < c->n_vms; i++) {
                VmContig *v = c->vms[i];

                if (v->n_requests > 0 && (!best || v->requests[0].seq < best->requests[0].seq))
                        best = v;
        }
        if (best) {
                *ret_trigger = CONTIG_TRIGGER_REQUEST;
                return best;
        }
        for (size_t i = 0; i < c->n_vms; i++)
                if (c->vms[i]->want_before && !c->vms[i]->auto_off) {
                        *ret_trigger = CONTIG_TRIGGER_TIERING_START;
                        return c->vms[i];
                }
        if (now < c->next_auto_mono)
                return NULL;
        for (size_t i = 0; i < c->n_vms; i++)
                if (c->vms[i]->want_rescan && !c->vms[i]->auto_off && now >= c->vms[i]->next_rescan_mono) {
                        *ret_trigger = CONTIG_TRIGGER_MIGRATION;
                        return c->vms[i];
                }
        return NULL;
}

/* Start the next scan if none runs. A scan that cannot start answers its requests at once and
 * leaves its automatic reasons unset (job_finished()), so this loop ends. */
static void kick(Manager *m) {
        ManagerContiguity *c = m->contiguity;

        while (c && !c->job) {
                ContigTrigger trigger;
                VmContig *v = pick_next(m, c, &trigger);
                int r;

                if (!v)
                        return;
                if (!vm_alive(m, v)) {
                        _cleanup_free_ char *text = xasprintf("VM %s is gone", v->name);

                        vc_remove_ptr(m, c, v, -ESRCH, text);
                        continue;
                }
                r = job_start(m, c, v, trigger);
                if (r < 0) {
                        c->job = v;     /* job_finished() takes it from here */
                        c->trigger = trigger;
                        c->job_busy_usec = 0;
                        job_finished(m, c, r);
                }
        }
}

/* ---- the manager's side ---- */

static bool record_fresh(const ManagerContiguity *c, const Manager *m, const VmContig *v, usec_t max_age_usec) {
        usec_t now = clock_now_usec(CLOCK_MONOTONIC), floor;

        if (!v->have_now || v->now.summary.params.anchor_bytes != m->config->contiguity_anchor_bytes)
                return false;
        floor = MAX(c->o.floor_min_usec, (usec_t) c->o.floor_busy_factor * v->now.busy_usec);
        return now - v->now.taken_mono_usec <= MAX(max_age_usec, floor);
}

int manager_contiguity_request(Manager *m, Vm *vm, usec_t max_age_usec, ManagerContigDone done, void *userdata) {
        ManagerContiguity *c = mc_get(m);
        VmContig *v;

        if (vm->state == VM_STATE_IGNORED || !vm->trusted)
                return -EPERM;
        if (vm->n_ranges == 0 || vm->ram_bytes == 0)
                return -ENODATA;
        v = vc_get(c, vm);
        if (record_fresh(c, m, v, max_age_usec)) {
                ContigView view = vc_view(v);

                done(m, vm, &view, 0, NULL, userdata);
                return 0;
        }
        if (v->n_requests >= REQUESTS_PER_VM_MAX || c->n_requests >= REQUESTS_MAX)
                return -EBUSY;
        v->requests = xreallocarray(v->requests, v->n_requests + 1, sizeof(Request));
        v->requests[v->n_requests++] = (Request) { .done = done, .userdata = userdata, .seq = ++c->request_seq };
        c->n_requests++;
        log_fields(LOG_DEBUG, VM_FIELDS(v), "VM %s: a contiguity request waits for %s (%zu waiting).", v->name,
                   c->job == v ? "its running scan" : "a scan", v->n_requests);
        kick(m); /* may answer it (and free v) at once: a scan that cannot start */
        return 0;
}

static uint64_t rescan_threshold(const Vm *vm) {
        return MIN(RESCAN_MOVED_BYTES_MAX, vm->ram_bytes / 100 * RESCAN_MOVED_PERCENT);
}

static void consider_rescan(VmContig *v) {
        if (v->have_now && !v->auto_off && v->moved_bytes - v->moved_at_summary >= MAX(rescan_threshold(v->vm), PAGE_BYTES))
                v->want_rescan = true;
}

void manager_contiguity_cycle(Manager *m) {
        ManagerContiguity *c = mc_get(m);

        for (size_t i = 0; i < c->n_vms;) {
                if (!vm_alive(m, c->vms[i])) {
                        _cleanup_free_ char *text = xasprintf("VM %s is gone", c->vms[i]->name);

                        vc_remove(m, c, i, -ESRCH, text);
                        continue;
                }
                i++;
        }

        /* The defer source is idle-priority: while cycles overrun their interval (many VMs, a slow
         * tracker, a loaded host) the loop is never idle and it would never run, and a caller
         * would wait for ever. A scan that had no slice since the last cycle gets one here. */
        if (c->job && c->job_slices == c->slices_at_cycle)
                slice(m);
        if (c->job)
                c->slices_at_cycle = c->job_slices;
        for (size_t i = 0; i < m->n_vms; i++) {
                Vm *vm = m->vms[i];
                VmContig *v;

                if (vm->state != VM_STATE_TRACKED || !vm->trusted || vm->n_ranges == 0)
                        continue;
                v = vc_get(c, vm);
                if (!v->before_done && !v->want_before) {
                        if (v->moved_bytes > 0)
                                vc_set_before_error(v, "vtism moved pages of the VM before it was tracked");
                        else
                                v->want_before = true;
                }
                consider_rescan(v);
        }
        kick(m);
}

void manager_contiguity_round_done(Manager *m, const struct MigratorRound *r) {
        ManagerContiguity *c = mc_get(m);

        for (size_t i = 0; i < r->n_vms; i++) {
                const MigratorRoundVm *rv = &r->vms[i];
                uint64_t moved = (rv->counters.moved_pages[PLAN_PROMOTE] + rv->counters.moved_pages[PLAN_DEMOTE]) * PAGE_BYTES;
                Vm *vm = rv->vm;
                VmContig *v;

                if (!vm || moved == 0)
                        continue;
                v = vc_get(c, vm);
                v->moved_bytes += moved;
                if (!v->before_done && !v->want_before && c->job != v)
                        vc_set_before_error(v, "vtism moved pages of the VM before it was tracked");
                consider_rescan(v);
        }
        kick(m);
}

void manager_contiguity_done(Manager *m) {
        ManagerContiguity *c = m->contiguity;

        if (!c)
                return;
        job_end(c);
        while (c->n_vms > 0) {
                _cleanup_free_ char *text = xasprintf("vtismd is stopping; the contiguity scan of VM %s was not finished",
                                                      c->vms[c->n_vms - 1]->name);

                vc_remove(m, c, c->n_vms - 1, -ECANCELED, text);
        }
        free(c->vms);
        pid_index_clear(&c->by_pid);
        c->defer = sd_event_source_disable_unref(c->defer);
        free(c);
        m->contiguity = NULL;
}
