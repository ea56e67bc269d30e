/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The damon tracker: DAMON virtual-address monitoring through the sysfs interface,
 * SYSFS/kernel/mm/damon/admin (Linux 6.12 semantics).
 *
 * Layout. vtism creates and owns exactly one kdamond, kdamonds/0, and only when nr_kdamonds is 0
 * (growing nr_kdamonds makes DAMON recreate every kdamond directory, wiping the configuration of
 * the others, and fails with EBUSY while any runs: we never do that to another DAMON user). It
 * has one context (6.12 supports one per kdamond) with operations "vaddr" and one target per VM
 * (pid_target = the QEMU pid) whose initial regions are the VM's guest RAM ranges. Target i has
 * its own DAMOS scheme i: action "stat" (does nothing), every access-pattern bound written
 * (they default to 0..0) to match everything, and a "target" filter with matching N and
 * damon_target_idx i, so that the scheme only sees target i's regions: its tried_regions
 * directory then lists exactly that VM's regions (the directory does not say which target a
 * region belongs to, and the address spaces of different VMs overlap).
 *
 * Monitoring attributes (fixed; the defaults of DAMON's own tools): sampling 5 ms, aggregation
 * 100 ms, regions per target 10..1000. The vaddr "update" interval, which re-reads the process
 * layout and would replace our regions by the three big chunks of the whole address space, is
 * set beyond any uptime (DAMON_UPDATE_US, ~1000 years): DAMON works on the guest RAM only.
 *
 * Targets come and go online: the sysfs files are rewritten (nr_targets/nr_schemes recreate
 * their directories, so all of them) and the running kdamond takes them with the "commit" state
 * command (6.12 commits targets, regions and schemes positionally; existing regions inside the
 * new ranges keep their state). With no target the kdamond is off ("on" with no valid target
 * stops at once); the first target turns it on. A commit naming a pid that no longer exists makes
 * the kdamond terminate, and the kdamond stops by itself once every target process has exited:
 * dead targets are pruned before each commit and a stopped kdamond is rebuilt and restarted.
 *
 * Reading. Once per round (the first check_accesses after every target's snapshot has been
 * consumed), "update_schemes_tried_regions" is written to the state file, which blocks until the
 * kdamond has applied the schemes once more (about one aggregation interval plus DAMON sysfs'
 * 100 ms polling); then schemes/i/tried_regions/N/{start,end,nr_accesses,age} are read for every
 * target. A region with nr_accesses > 0 (accessed in at least one sample of the last aggregation
 * interval) is accessed: heatmap_sample_hva() of it clipped to guest RAM. So DAMON reports the
 * last 100 ms before the check, per region, not the whole period: cheap (kernel cost bounded
 * by the number of regions, not the RAM size) but coarse. prepare_access_checks is a no-op.
 *
 * A shared host. DAMON is one per machine and other users (damo, DAMON_RECLAIM, a second vtism)
 * may want it: vtism takes it only while it has a VM to follow. probe() only reads. init writes
 * nothing either, except to release a kdamond a vtism that is gone left behind (below). The
 * kdamond is created (nr_kdamonds 0 -> 1) when the first target is added, after checking once more
 * that no other kdamond exists, and released (off, nr_kdamonds 1 -> 0) when the last target is
 * removed and at cleanup. avail_operations can only be read once a kdamond exists, so a kernel
 * without vaddr whose /proc/kallsyms could not tell is found out at that first target.
 *
 * Ownership and crash recovery. Every scheme of ours carries a mark in its watermarks, which
 * DAMON ignores with metric "none": interval_us = DAMON_MARK ("vtis"), high = owner pid, mid =
 * owner start time (field 22 of /proc/PID/stat). A kdamond is vtism's when it is the only one
 * (nr_kdamonds = 1), has one context with operations vaddr, update_us = DAMON_UPDATE_US and
 * scheme 0 marked so. Such a kdamond whose owner is no longer running (pid gone or reused: start
 * time differs) or is ourselves is released at init; if its owner still runs, probe and init
 * refuse. Anything else present means another DAMON user: refused, never touched. Releasing ours
 * turns it off and sets nr_kdamonds back to 0, after checking the mark is still ours and nothing
 * was added next to it (else it only turns ours off).
 */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vtism/log.h"
#include "vtism/tracker.h"
#include "vtism/util.h"

#define DAMON_SAMPLE_US 5000u
#define DAMON_AGGR_US 100000u
#define DAMON_UPDATE_US UINT64_C(0x0076746973000000) /* ~1055 years, and a recognisable value */
#define DAMON_MIN_REGIONS 10u
#define DAMON_MAX_REGIONS 1000u
#define DAMON_MARK UINT64_C(0x76746973)              /* "vtis", in watermarks/interval_us */
#define DAMON_BUSY_RETRIES 200                        /* × 5 ms: DAMON sysfs uses mutex_trylock */
#define DAMON_KDAMONDS_SCAN_MAX 64                    /* other users' kdamonds looked at, for the message */

typedef struct DamonRegion {
        uint64_t start, end;
        unsigned nr_accesses, age;
} DamonRegion;

typedef struct DamonTarget {
        TrackerTarget *target;
        int index;               /* target/scheme index in the kdamond, -1 if not in it */
        bool dead;
        bool fresh;              /* regions hold a snapshot not consumed yet */
        DamonRegion *regions;
        size_t n_regions;
} DamonTarget;

typedef struct Damon {
        char *admin;             /* SYSFS/kernel/mm/damon/admin */
        char *kd;                /* admin/kdamonds/0 */
        char *ctx;               /* kd/contexts/0 */
        pid_t owner_pid;
        unsigned long long owner_start;
        bool created;            /* kdamonds/0 is ours: we set nr_kdamonds to 1 */
        DamonTarget **targets;
        size_t n_targets;
} Damon;

/* --- sysfs helpers --- */

static void sleep_msec(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };
        (void) nanosleep(&ts, NULL);
}

static int write_str(const char *dir, const char *name, const char *value) {
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
        size_t len = strlen(value);

        for (int attempt = 0;; attempt++) {
                _cleanup_close_ int fd = -EBADF;
                ssize_t n;
                int r;

                /* O_TRUNC: what a shell's ">" does; sysfs ignores it, a fixture tree of regular
                 * files then holds what the kernel would show */
                fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
                if (fd < 0)
                        return log_debug_errno(negative_errno(), "damon: cannot open %s: %m", path);
                n = write(fd, value, len);
                if (n == (ssize_t) len)
                        return 0;
                r = n < 0 ? negative_errno() : -EIO;
                if ((r == -EBUSY || r == -EINTR) && attempt < DAMON_BUSY_RETRIES) {
                        sleep_msec(5);
                        continue;
                }
                return log_debug_errno(r, "damon: writing '%s' to %s failed: %m", value, path);
        }
}

static int write_u64(const char *dir, const char *name, uint64_t v) {
        char buf[32];

        snprintf(buf, sizeof(buf), "%" PRIu64, v);
        return write_str(dir, name, buf);
}

static int read_str(const char *dir, const char *name, char **ret) {
        int r = -EBUSY;

        for (int attempt = 0; attempt <= DAMON_BUSY_RETRIES; attempt++) {
                r = read_line_at(dir, name, ret);
                if (r != -EBUSY)
                        return r;
                sleep_msec(5);
        }
        return r;
}

static int read_u64(const char *dir, const char *name, uint64_t *ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = read_str(dir, name, &s);
        if (r < 0)
                return r;
        return safe_atou64(s, ret);
}

static bool str_has_word(const char *s, const char *word) {
        size_t l = strlen(word);

        for (const char *p = s; (p = strstr(p, word)); p += l)
                if ((p == s || p[-1] == '\n' || p[-1] == ' ') && (p[l] == 0 || p[l] == '\n' || p[l] == ' '))
                        return true;
        return false;
}

static char *admin_dir(const TrackerContext *ctx) {
        return xasprintf("%s/kernel/mm/damon/admin", ctx->sysfs_root);
}

/* --- ownership --- */

typedef enum Owner {
        OWNER_NONE,         /* no kdamond at all */
        OWNER_STALE,        /* vtism's, owner gone (or ourselves) */
        OWNER_LIVE,         /* vtism's, owner still running */
        OWNER_FOREIGN,      /* someone else's */
} Owner;

/* Is kdamond 0 below admin marked as vtism's? Sets the owner if so. */
static bool kdamond_is_ours(const char *admin, uint64_t *ret_pid, uint64_t *ret_start) {
        _cleanup_free_ char *kd = xasprintf("%s/kdamonds/0", admin);
        _cleanup_free_ char *ctx = xasprintf("%s/contexts/0", kd);
        _cleanup_free_ char *wm = xasprintf("%s/schemes/0/watermarks", ctx);
        _cleanup_free_ char *ops = NULL, *metric = NULL;
        uint64_t v, pid, start;

        if (read_u64(kd, "contexts/nr_contexts", &v) < 0 || v != 1)
                return false;
        if (read_str(ctx, "operations", &ops) < 0 || !streq(ops, "vaddr"))
                return false;
        if (read_u64(ctx, "monitoring_attrs/intervals/update_us", &v) < 0 || v != DAMON_UPDATE_US)
                return false;
        if (read_u64(ctx, "schemes/nr_schemes", &v) < 0 || v < 1)
                return false;
        if (read_str(wm, "metric", &metric) < 0 || !streq(metric, "none"))
                return false;
        if (read_u64(wm, "interval_us", &v) < 0 || v != DAMON_MARK)
                return false;
        if (read_u64(wm, "high", &pid) < 0 || read_u64(wm, "mid", &start) < 0)
                return false;
        *ret_pid = pid;
        *ret_start = start;
        return true;
}

static Owner damon_owner(const TrackerContext *ctx, const char *admin, char **ret_reason) {
        uint64_t n, pid = 0, start = 0, running = 0;
        unsigned long long s;

        if (read_u64(admin, "kdamonds/nr_kdamonds", &n) < 0) {
                *ret_reason = xasprintf("cannot read %s/kdamonds/nr_kdamonds", admin);
                return OWNER_FOREIGN;
        }
        if (n == 0)
                return OWNER_NONE;
        if (n == 1 && kdamond_is_ours(admin, &pid, &start)) {
                if (pid == (uint64_t) getpid())
                        return OWNER_STALE;
                if (pid > 0 && pid <= INT32_MAX &&
                    proc_pid_start_time(ctx->proc_root, (pid_t) pid, &s) >= 0 && s == start) {
                        *ret_reason = xasprintf("the DAMON kdamond of another running vtism instance (pid %" PRIu64
                                                ") exists", pid);
                        return OWNER_LIVE;
                }
                return OWNER_STALE;
        }
        /* nr_kdamonds comes from the kernel, but bound the walk anyway: it only makes the message */
        for (uint64_t i = 0; i < MIN(n, (uint64_t) DAMON_KDAMONDS_SCAN_MAX); i++) {
                _cleanup_free_ char *name = xasprintf("kdamonds/%" PRIu64 "/state", i), *state = NULL;

                if (read_str(admin, name, &state) >= 0 && streq(state, "on"))
                        running++;
        }
        if (running > 0)
                *ret_reason = xasprintf("%" PRIu64 " kdamond(s) of another DAMON user exist, %" PRIu64
                                        " running%s; DAMON sysfs cannot add one without stopping and "
                                        "recreating them", n, running,
                                        n > DAMON_KDAMONDS_SCAN_MAX ? " (of the first 64)" : "");
        else
                *ret_reason = xasprintf("%" PRIu64 " kdamond(s) of another DAMON user exist; adding one "
                                        "would make DAMON sysfs recreate them and lose their setup", n);
        return OWNER_FOREIGN;
}

/* --- configuration --- */

static int write_scheme(Damon *d, int i, int target_idx) {
        _cleanup_free_ char *s = xasprintf("%s/schemes/%d", d->ctx, i);
        int r;

        r = write_str(s, "action", "stat");
        if (r < 0)
                return r;
        /* Every bound: a new scheme's access pattern is 0..0. */
        if ((r = write_u64(s, "access_pattern/sz/min", 0)) < 0 ||
            (r = write_u64(s, "access_pattern/sz/max", UINT64_MAX)) < 0 ||
            (r = write_u64(s, "access_pattern/nr_accesses/min", 0)) < 0 ||
            (r = write_u64(s, "access_pattern/nr_accesses/max", UINT32_MAX)) < 0 ||
            (r = write_u64(s, "access_pattern/age/min", 0)) < 0 ||
            (r = write_u64(s, "access_pattern/age/max", UINT32_MAX)) < 0)
                return r;
        /* The ownership mark (ignored by DAMON with metric none). */
        if ((r = write_str(s, "watermarks/metric", "none")) < 0 ||
            (r = write_u64(s, "watermarks/interval_us", DAMON_MARK)) < 0 ||
            (r = write_u64(s, "watermarks/high", (uint64_t) d->owner_pid)) < 0 ||
            (r = write_u64(s, "watermarks/mid", d->owner_start)) < 0 ||
            (r = write_u64(s, "watermarks/low", 0)) < 0)
                return r;
        if (target_idx < 0)
                return write_u64(s, "filters/nr_filters", 0);
        if ((r = write_u64(s, "filters/nr_filters", 1)) < 0 ||
            (r = write_str(s, "filters/0/type", "target")) < 0 ||
            (r = write_str(s, "filters/0/matching", "N")) < 0 ||
            (r = write_u64(s, "filters/0/damon_target_idx", (uint64_t) target_idx)) < 0)
                return r;
        return 0;
}

/* Rewrite the whole context: attributes, the live targets, one scheme per target (at least one:
 * the ownership mark). Returns the number of targets. */
static int write_config(Damon *d) {
        _cleanup_free_ char *attrs = xasprintf("%s/monitoring_attrs", d->ctx);
        int n = 0, r;

        for (size_t i = 0; i < d->n_targets; i++) {
                DamonTarget *dt = d->targets[i];
                dt->index = dt->dead ? -1 : n++;
        }

        if ((r = write_str(d->ctx, "operations", "vaddr")) < 0 ||
            (r = write_u64(attrs, "intervals/sample_us", DAMON_SAMPLE_US)) < 0 ||
            (r = write_u64(attrs, "intervals/aggr_us", DAMON_AGGR_US)) < 0 ||
            (r = write_u64(attrs, "intervals/update_us", DAMON_UPDATE_US)) < 0 ||
            (r = write_u64(attrs, "nr_regions/max", DAMON_MAX_REGIONS)) < 0 ||
            (r = write_u64(attrs, "nr_regions/min", DAMON_MIN_REGIONS)) < 0)
                return r;

        r = write_u64(d->ctx, "targets/nr_targets", (uint64_t) n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < d->n_targets; i++) {
                DamonTarget *dt = d->targets[i];
                _cleanup_free_ char *td = NULL;

                if (dt->index < 0)
                        continue;
                td = xasprintf("%s/targets/%d", d->ctx, dt->index);
                if ((r = write_u64(td, "pid_target", (uint64_t) dt->target->pid)) < 0 ||
                    (r = write_u64(td, "regions/nr_regions", dt->target->n_ranges)) < 0)
                        return r;
                for (size_t k = 0; k < dt->target->n_ranges; k++) {
                        const HeatRangeSpec *range = dt->target->ranges + k;
                        _cleanup_free_ char *rd = xasprintf("%s/regions/%zu", td, k);

                        /* end first: DAMON does not check, but keep start < end at all times */
                        if ((r = write_u64(rd, "end", range->hva + range->len_bytes)) < 0 ||
                            (r = write_u64(rd, "start", range->hva)) < 0)
                                return r;
                }
        }

        r = write_u64(d->ctx, "schemes/nr_schemes", (uint64_t) MAX(n, 1));
        if (r < 0)
                return r;
        for (int i = 0; i < MAX(n, 1); i++) {
                r = write_scheme(d, i, n > 0 ? i : -1);
                if (r < 0)
                        return r;
        }
        return n;
}

static bool kdamond_running(Damon *d) {
        _cleanup_free_ char *state = NULL;

        return read_str(d->kd, "state", &state) >= 0 && streq(state, "on");
}

/* Mark vanished target processes dead. True if any changed. */
static bool prune_dead(Tracker *t, Damon *d) {
        bool changed = false;

        for (size_t i = 0; i < d->n_targets; i++) {
                DamonTarget *dt = d->targets[i];

                if (!dt->dead && !tracker_target_alive(&t->ctx, dt->target)) {
                        dt->dead = true;
                        changed = true;
                }
        }
        return changed;
}

/* Make the kdamond monitor the live targets: commit online, or (re)start, or stop. */
static int apply_config(Tracker *t, Damon *d) {
        bool running;
        int n, r;

        (void) prune_dead(t, d);
        running = kdamond_running(d);
        n = write_config(d);
        if (n < 0)
                return n;
        if (n == 0)
                return running ? write_str(d->kd, "state", "off") : 0;
        if (running) {
                r = write_str(d->kd, "state", "commit");
                /* An input the kernel rejected terminates the kdamond (e.g. a pid that just exited). */
                if (r >= 0 && kdamond_running(d))
                        return 0;
                (void) prune_dead(t, d);
                n = write_config(d);
                if (n <= 0)
                        return n;
        }
        return write_str(d->kd, "state", "on");
}

/* --- reading --- */

static int cmp_region(const void *a, const void *b) {
        const DamonRegion *x = a, *y = b;
        return x->start < y->start ? -1 : x->start > y->start;
}

static int read_tried_regions(Damon *d, DamonTarget *dt) {
        _cleanup_free_ char *dir = xasprintf("%s/schemes/%d/tried_regions", d->ctx, dt->index);
        _cleanup_free_ DamonRegion *regions = NULL;
        size_t n = 0, allocated = 0;
        DIR *dirp;
        struct dirent *de;
        int r = 0;

        dirp = opendir(dir);
        if (!dirp)
                return negative_errno();
        while ((de = readdir(dirp))) {
                _cleanup_free_ char *rd = NULL;
                uint64_t start, end, nr, age;

                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                rd = xasprintf("%s/%s", dir, de->d_name);
                if ((r = read_u64(rd, "start", &start)) < 0 || (r = read_u64(rd, "end", &end)) < 0 ||
                    (r = read_u64(rd, "nr_accesses", &nr)) < 0 || (r = read_u64(rd, "age", &age)) < 0)
                        break;
                if (n == allocated) {
                        allocated = MAX(allocated * 2, (size_t) 64);
                        regions = xreallocarray(regions, allocated, sizeof(DamonRegion));
                }
                regions[n++] = (DamonRegion) {
                        .start = start, .end = end,
                        .nr_accesses = (unsigned) MIN(nr, (uint64_t) UINT32_MAX),
                        .age = (unsigned) MIN(age, (uint64_t) UINT32_MAX),
                };
        }
        closedir(dirp);
        if (r < 0)
                return r;
        if (n > 0) /* no regions: regions is NULL, and qsort() wants a pointer */
                qsort(regions, n, sizeof(DamonRegion), cmp_region);
        free(dt->regions);
        dt->regions = TAKE_PTR(regions);
        dt->n_regions = n;
        dt->fresh = true;
        return 0;
}

/* One snapshot of every live target. */
static int refresh(Tracker *t, Damon *d) {
        int r;

        if (prune_dead(t, d) || !kdamond_running(d)) {
                r = apply_config(t, d);
                if (r < 0)
                        return r;
        }
        if (!kdamond_running(d))
                return 0; /* no live target */

        r = write_str(d->kd, "state", "update_schemes_tried_regions");
        if (r < 0)
                return r;
        for (size_t i = 0; i < d->n_targets; i++) {
                DamonTarget *dt = d->targets[i];

                if (dt->index < 0)
                        continue;
                r = read_tried_regions(d, dt);
                if (r < 0)
                        return log_debug_errno(r, "damon: reading the regions of pid %d failed: %m",
                                               (int) dt->target->pid);
        }
        return 0;
}

/* --- ops --- */

/*
 * Without a kdamond, avail_operations cannot be read without creating one. The functions of
 * DAMON's vaddr operations set (damon_va_*) are in /proc/kallsyms if the kernel has it: 1 yes,
 * 0 no, < 0 cannot tell (the first target checks avail_operations then). Only a kallsyms that
 * shows DAMON's other functions can tell "no": it may be hidden (systemd's ProtectKernelTunables=
 * puts an empty file over it) or filtered, and DAMON, whose sysfs is there, cannot be a module.
 */
static int kallsyms_has_vaddr(const TrackerContext *ctx) {
        _cleanup_free_ char *path = xasprintf("%s/kallsyms", ctx->proc_root);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        bool damon = false;
        char line[512];

        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                if (strstr(line, " damon_va_"))
                        return 1;
                damon = damon || strstr(line, " damon_");
        }
        if (ferror(f))
                return -EIO;
        return damon ? 0 : -ENODATA;
}

static int damon_probe(const TrackerContext *ctx, char **ret_reason) {
        _cleanup_free_ char *admin = admin_dir(ctx), *reason = NULL;
        Owner o;

        if (access(admin, F_OK) < 0) {
                *ret_reason = xstrdup("kernel lacks the DAMON sysfs interface (/sys/kernel/mm/damon/admin)");
                return -EOPNOTSUPP;
        }
        o = damon_owner(ctx, admin, &reason);
        if (o == OWNER_FOREIGN || o == OWNER_LIVE) {
                *ret_reason = TAKE_PTR(reason);
                return -EBUSY;
        }
        if (o == OWNER_STALE) {
                _cleanup_free_ char *avail = NULL;

                if (read_str(admin, "kdamonds/0/contexts/0/avail_operations", &avail) >= 0 &&
                    !str_has_word(avail, "vaddr")) {
                        *ret_reason = xstrdup("kernel lacks DAMON virtual address monitoring (CONFIG_DAMON_VADDR)");
                        return -EOPNOTSUPP;
                }
        }
        if (o == OWNER_NONE && kallsyms_has_vaddr(ctx) == 0) {
                *ret_reason = xstrdup("kernel lacks DAMON virtual address monitoring (CONFIG_DAMON_VADDR)");
                return -EOPNOTSUPP;
        }
        return 0;
}

static void damon_free(Damon *d) {
        if (!d)
                return;
        for (size_t i = 0; i < d->n_targets; i++) {
                free(d->targets[i]->regions);
                free(d->targets[i]);
        }
        free(d->targets);
        free(d->admin);
        free(d->kd);
        free(d->ctx);
        free(d);
}

/* Turn our kdamond off and remove it, if it is still ours and alone (nr_kdamonds = 0 would
 * remove others too). */
static void damon_release(Damon *d) {
        uint64_t n = 0, pid = 0, start = 0;

        if (!d->created)
                return;
        d->created = false;
        if (kdamond_running(d))
                (void) write_str(d->kd, "state", "off");
        if (read_u64(d->admin, "kdamonds/nr_kdamonds", &n) >= 0 && n == 1 &&
            kdamond_is_ours(d->admin, &pid, &start) && pid == (uint64_t) d->owner_pid && start == d->owner_start)
                (void) write_u64(d->admin, "kdamonds/nr_kdamonds", 0);
        else
                log_debug("damon: kdamond 0 is no longer only ours; turned off, not removed");
        for (size_t i = 0; i < d->n_targets; i++)
                d->targets[i]->index = -1;
}

/* A kdamond of a vtism that is gone (or of ourselves): turn it off and remove it. */
static int release_stale(Damon *d) {
        int r;

        log_debug("damon: releasing the kdamond left behind by a vtism that is gone");
        if (kdamond_running(d)) {
                r = write_str(d->kd, "state", "off");
                if (r < 0)
                        return r;
        }
        return write_u64(d->admin, "kdamonds/nr_kdamonds", 0);
}

/* Create our kdamond, if no other exists (DAMON's state may have changed since init). */
static int damon_acquire(Tracker *t, Damon *d) {
        _cleanup_free_ char *reason = NULL, *avail = NULL;
        int r;

        if (d->created)
                return 0;
        switch (damon_owner(&t->ctx, d->admin, &reason)) {
        case OWNER_NONE:
                break;
        case OWNER_STALE:
                r = release_stale(d);
                if (r < 0)
                        return r;
                break;
        case OWNER_FOREIGN:
        case OWNER_LIVE:
                log_debug("damon: not creating a kdamond: %s", reason);
                return -EBUSY;
        }

        r = write_u64(d->admin, "kdamonds/nr_kdamonds", 1);
        if (r < 0)
                return r;
        r = write_u64(d->kd, "contexts/nr_contexts", 1);
        if (r < 0)
                goto fail_remove;
        r = read_str(d->ctx, "avail_operations", &avail);
        if (r < 0)
                goto fail_remove;
        if (!str_has_word(avail, "vaddr")) {
                log_debug("damon: kernel lacks DAMON virtual address monitoring (avail_operations: %s)", avail);
                r = -EOPNOTSUPP;
                goto fail_remove;
        }
        d->created = true;
        return 0;

fail_remove:
        (void) write_u64(d->admin, "kdamonds/nr_kdamonds", 0);
        return r;
}

static int damon_init(Tracker *t) {
        _cleanup_free_ char *reason = NULL;
        Damon *d;
        int r;

        d = xcalloc(1, sizeof(Damon));
        d->admin = admin_dir(&t->ctx);
        d->kd = xasprintf("%s/kdamonds/0", d->admin);
        d->ctx = xasprintf("%s/contexts/0", d->kd);
        d->owner_pid = getpid();
        if (proc_pid_start_time(t->ctx.proc_root, d->owner_pid, &d->owner_start) < 0)
                d->owner_start = 0;

        switch (damon_owner(&t->ctx, d->admin, &reason)) {
        case OWNER_FOREIGN:
        case OWNER_LIVE:
                log_debug("damon: %s", reason);
                damon_free(d);
                return -EBUSY;
        case OWNER_STALE:
                /* Ours, from a vtism that is gone: nobody can use DAMON while it exists. */
                r = release_stale(d);
                if (r < 0) {
                        damon_free(d);
                        return r;
                }
                break;
        case OWNER_NONE:
                break;
        }
        t->data = d;
        return 0;
}

static void damon_cleanup(Tracker *t) {
        Damon *d = t->data;

        if (!d)
                return;
        damon_release(d);
        damon_free(d);
        t->data = NULL;
}

/* After a target left: with none, DAMON goes back to whoever else wants it. */
static void damon_targets_changed(Tracker *t, Damon *d) {
        if (d->n_targets == 0)
                damon_release(d);
        else
                (void) apply_config(t, d);
}

static int damon_target_add(Tracker *t, TrackerTarget *target) {
        Damon *d = t->data;
        DamonTarget *dt;
        int r;

        if (!tracker_target_alive(&t->ctx, target))
                return -ESRCH;
        r = damon_acquire(t, d);
        if (r < 0)
                return log_debug_errno(r, "damon: cannot follow pid %d: %m", (int) target->pid);

        dt = xcalloc(1, sizeof(DamonTarget));
        dt->target = target;
        dt->index = -1;
        target->data = dt;
        d->targets = xreallocarray(d->targets, d->n_targets + 1, sizeof(DamonTarget *));
        d->targets[d->n_targets++] = dt;

        r = apply_config(t, d);
        if (r >= 0 && !dt->dead)
                return 0;
        if (r >= 0 || dt->dead)
                r = -ESRCH;
        log_debug_errno(r, "damon: adding pid %d failed: %m", (int) target->pid);
        d->n_targets--;
        free(dt);
        target->data = NULL;
        damon_targets_changed(t, d);
        return r;
}

static void damon_target_remove(Tracker *t, TrackerTarget *target) {
        Damon *d = t->data;
        DamonTarget *dt = target->data;

        if (!dt)
                return;
        for (size_t i = 0; i < d->n_targets; i++)
                if (d->targets[i] == dt) {
                        memmove(d->targets + i, d->targets + i + 1, (d->n_targets - i - 1) * sizeof(DamonTarget *));
                        d->n_targets--;
                        break;
                }
        free(dt->regions);
        free(dt);
        target->data = NULL;
        damon_targets_changed(t, d);
}

static int damon_prepare(Tracker *t, TrackerTarget *target) {
        DamonTarget *dt = target->data;

        /* DAMON samples continuously: nothing to start. */
        return dt && !dt->dead && tracker_target_alive(&t->ctx, target) ? 0 : -ESRCH;
}

static int damon_check(Tracker *t, TrackerTarget *target, HeatMap *heat) {
        Damon *d = t->data;
        DamonTarget *dt = target->data;
        uint64_t accessed = 0;
        int r;

        if (!dt || dt->dead || !tracker_target_alive(&t->ctx, target))
                return -ESRCH;
        if (!dt->fresh) {
                r = refresh(t, d);
                if (r < 0)
                        return log_debug_errno(r, "damon: updating the tried regions failed: %m");
                if (dt->dead)
                        return -ESRCH;
                if (!dt->fresh)
                        return -EAGAIN; /* the kdamond was just (re)started */
        }
        dt->fresh = false;

        /* Ranges and regions both ascend: samples come in address order. */
        for (size_t k = 0; k < target->n_ranges; k++) {
                uint64_t lo = target->ranges[k].hva, hi = lo + target->ranges[k].len_bytes;

                for (size_t i = 0; i < dt->n_regions; i++) {
                        const DamonRegion *reg = dt->regions + i;
                        uint64_t s = MAX(reg->start, lo), e = MIN(reg->end, hi);

                        if (reg->nr_accesses == 0 || e <= s)
                                continue;
                        r = heatmap_sample_hva(heat, s, e - s);
                        if (r < 0)
                                return r;
                        accessed += e - s;
                }
        }
        log_debug("damon: pid %d: %zu regions, %" PRIu64 " KiB accessed", (int) target->pid, dt->n_regions,
                  accessed / 1024);
        return 0;
}

static bool damon_target_valid(Tracker *t, TrackerTarget *target) {
        DamonTarget *dt = target->data;

        return dt && !dt->dead && tracker_target_alive(&t->ctx, target);
}

const TrackerOps tracker_damon_ops = {
        .kind = TRACKER_DAMON,
        .name = "damon",
        .probe = damon_probe,
        .init = damon_init,
        .cleanup = damon_cleanup,
        .target_add = damon_target_add,
        .target_remove = damon_target_remove,
        .prepare_access_checks = damon_prepare,
        .check_accesses = damon_check,
        .target_valid = damon_target_valid,
};
