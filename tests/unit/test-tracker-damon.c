/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The damon tracker's probe on fixture sysfs trees (probe only reads, so regular files do):
 * no DAMON sysfs, no kdamond (usable), another DAMON user's kdamonds (running or not: refused,
 * with the reason), a kdamond marked as vtism's whose owner is gone (usable: init reclaims it)
 * or still running (refused), and a vtism kdamond on a kernel without vaddr.
 * Without a kdamond, /proc/kallsyms tells whether the vaddr operations exist.
 * On a shared host DAMON belongs to nobody: probe and init write nothing (they used to create a
 * kdamond and remove it again even with no VM to follow), the kdamond is created for the first
 * target only if no other kdamond exists, and removed with the last one. Those writes are checked
 * on fixture trees of regular files (the tracker truncates what it writes, as a shell would).
 * The real thing, init/commit/tried regions and crash recovery, is tested in the lab
 * (tests/lab/trackers).
 */

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "vtism/tracker.h"
#include "vtism/util.h"

static char root[] = "/tmp/test-tracker-damon.XXXXXX";
static char *paths[128]; /* the fixtures' roots, freed at the end */
static size_t n_paths;

static void put(const char *base, const char *rel, const char *value) {
        _cleanup_free_ char *path = xasprintf("%s/%s", base, rel);
        char buf[512];
        int fd;

        snprintf(buf, sizeof(buf), "%s", path);
        for (char *p = buf + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        (void) mkdir(buf, 0755);
                        *p = '/';
                }
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        check(fd >= 0);
        check(write(fd, value, strlen(value)) == (ssize_t) strlen(value));
        close(fd);
}

/* A fresh sysfs+proc fixture named name; returns the context. */
static TrackerContext fixture(const char *name, int nr_kdamonds) {
        char *sys = xasprintf("%s/%s/sys", root, name), *proc = xasprintf("%s/%s/proc", root, name);
        char n[16];

        check(n_paths + 2 <= ELEMENTSOF(paths));
        paths[n_paths++] = sys;
        paths[n_paths++] = proc;
        snprintf(n, sizeof(n), "%d\n", nr_kdamonds);
        put(sys, "kernel/mm/damon/admin/kdamonds/nr_kdamonds", n);
        put(proc, "1/stat", "1 (init) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0\n");
        return (TrackerContext) { .proc_root = proc, .sysfs_root = sys };
}

static void kdamond(const TrackerContext *ctx, int i, const char *state, const char *update_us,
                    const char *mark_pid, const char *mark_start) {
        _cleanup_free_ char *kd = xasprintf("%s/kernel/mm/damon/admin/kdamonds/%d", ctx->sysfs_root, i);

        put(kd, "state", state);
        put(kd, "contexts/nr_contexts", "1\n");
        put(kd, "contexts/0/operations", "vaddr\n");
        put(kd, "contexts/0/avail_operations", "vaddr\nfvaddr\npaddr\n");
        put(kd, "contexts/0/monitoring_attrs/intervals/update_us", update_us);
        put(kd, "contexts/0/schemes/nr_schemes", "1\n");
        put(kd, "contexts/0/schemes/0/watermarks/metric", "none\n");
        put(kd, "contexts/0/schemes/0/watermarks/interval_us", "1987340659\n"); /* "vtis" */
        put(kd, "contexts/0/schemes/0/watermarks/high", mark_pid);
        put(kd, "contexts/0/schemes/0/watermarks/mid", mark_start);
}

static int probe(const TrackerContext *ctx, char **reason) {
        free(*reason);
        *reason = NULL;
        return tracker_damon_ops.probe(ctx, reason);
}

#define VTISM_UPDATE_US "33342043501625344\n" /* 0x0076746973000000 */

/* Every file below a fixture, with its contents and modification time, as one string. */
static char *snapshot_text;

static int snapshot_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        _cleanup_free_ char *contents = NULL;
        char *t;

        if (type != FTW_F)
                return 0;
        check(read_file_at(NULL, path, &contents) == 0);
        t = xasprintf("%s%s@%lld.%09ld=%s\n", snapshot_text, path, (long long) st->st_mtim.tv_sec,
                      st->st_mtim.tv_nsec, contents);
        free(snapshot_text);
        snapshot_text = t;
        return 0;
}

static char *snapshot(const TrackerContext *ctx) {
        snapshot_text = xstrdup("");
        check(nftw(ctx->sysfs_root, snapshot_one, 16, FTW_PHYS) == 0);
        return snapshot_text;
}

static void check_file(const TrackerContext *ctx, const char *rel, const char *expected) {
        _cleanup_free_ char *path = xasprintf("%s/kernel/mm/damon/admin/%s", ctx->sysfs_root, rel), *v = NULL;

        check(read_file_at(NULL, path, &v) == 0);
        if (!streq(v, expected)) {
                fprintf(stderr, "%s: \"%s\", expected \"%s\"\n", rel, v, expected);
                exit(EXIT_FAILURE);
        }
}

/* The files of kdamonds/0 the tracker writes, as DAMON would show them after nr_kdamonds = 1. */
static void kdamond_files(const TrackerContext *ctx, const char *avail) {
        static const char *const files[] = {
                "contexts/nr_contexts", "contexts/0/operations",
                "contexts/0/monitoring_attrs/intervals/sample_us", "contexts/0/monitoring_attrs/intervals/aggr_us",
                "contexts/0/monitoring_attrs/intervals/update_us", "contexts/0/monitoring_attrs/nr_regions/min",
                "contexts/0/monitoring_attrs/nr_regions/max", "contexts/0/targets/nr_targets",
                "contexts/0/targets/0/pid_target", "contexts/0/targets/0/regions/nr_regions",
                "contexts/0/targets/0/regions/0/start", "contexts/0/targets/0/regions/0/end",
                "contexts/0/schemes/nr_schemes", "contexts/0/schemes/0/action",
                "contexts/0/schemes/0/access_pattern/sz/min", "contexts/0/schemes/0/access_pattern/sz/max",
                "contexts/0/schemes/0/access_pattern/nr_accesses/min",
                "contexts/0/schemes/0/access_pattern/nr_accesses/max",
                "contexts/0/schemes/0/access_pattern/age/min", "contexts/0/schemes/0/access_pattern/age/max",
                "contexts/0/schemes/0/watermarks/metric", "contexts/0/schemes/0/watermarks/interval_us",
                "contexts/0/schemes/0/watermarks/high", "contexts/0/schemes/0/watermarks/mid",
                "contexts/0/schemes/0/watermarks/low", "contexts/0/schemes/0/filters/nr_filters",
                "contexts/0/schemes/0/filters/0/type", "contexts/0/schemes/0/filters/0/matching",
                "contexts/0/schemes/0/filters/0/damon_target_idx",
        };
        _cleanup_free_ char *kd = xasprintf("%s/kernel/mm/damon/admin/kdamonds/0", ctx->sysfs_root);

        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                put(kd, files[i], "0\n");
        put(kd, "state", "off\n");
        put(kd, "contexts/0/avail_operations", avail);
}

static void test_shared_host(void) {
        HeatRangeSpec range = { .gpa = 0, .hva = 0x7f0000000000, .len_bytes = 2 * MIB };
        TrackerTarget target = { .pid = 1, .start_time = 55, .ranges = &range, .n_ranges = 1 };
        _cleanup_free_ char *reason = NULL, *pid = NULL;
        char *before, *after;
        TrackerContext ctx;
        Tracker *t = NULL;

        /* DAMON vaddr present, no kdamond, no VM: probe, init and cleanup write nothing */
        ctx = fixture("shared", 0);
        put(ctx.proc_root, "kallsyms", "0000000000000000 t damon_va_check_accesses\n");
        before = snapshot(&ctx);
        check_int(probe(&ctx, &reason), 0);
        check_int(tracker_new(&tracker_damon_ops, &ctx, &t), 0);
        t = tracker_free(t);
        after = snapshot(&ctx);
        check_str(after, before);
        free(before);
        free(after);

        /* the first VM creates the kdamond, the last one going removes it */
        ctx = fixture("one-vm", 0);
        put(ctx.proc_root, "kallsyms", "0000000000000000 t damon_va_check_accesses\n");
        kdamond_files(&ctx, "vaddr\nfvaddr\npaddr\n");
        before = snapshot(&ctx);
        check_int(tracker_new(&tracker_damon_ops, &ctx, &t), 0);
        after = snapshot(&ctx);
        check_str(after, before);
        free(after);
        check_int(tracker_damon_ops.target_add(t, &target), 0);
        check_file(&ctx, "kdamonds/nr_kdamonds", "1");
        check_file(&ctx, "kdamonds/0/state", "on");
        check_file(&ctx, "kdamonds/0/contexts/nr_contexts", "1");
        check_file(&ctx, "kdamonds/0/contexts/0/targets/nr_targets", "1");
        check_file(&ctx, "kdamonds/0/contexts/0/targets/0/pid_target", "1");
        check_file(&ctx, "kdamonds/0/contexts/0/targets/0/regions/0/start", "139637976727552");
        check_file(&ctx, "kdamonds/0/contexts/0/targets/0/regions/0/end", "139637978824704");
        pid = xasprintf("%d", (int) getpid());
        check_file(&ctx, "kdamonds/0/contexts/0/schemes/0/watermarks/high", pid);
        tracker_damon_ops.target_remove(t, &target);
        check_file(&ctx, "kdamonds/0/state", "off");
        check_file(&ctx, "kdamonds/nr_kdamonds", "0");
        free(before);
        before = snapshot(&ctx);
        t = tracker_free(t);
        after = snapshot(&ctx);
        check_str(after, before);
        free(before);
        free(after);

        /* another DAMON user took DAMON after init: the VM is refused, nothing touched */
        ctx = fixture("foreign-later", 0);
        put(ctx.proc_root, "kallsyms", "0000000000000000 t damon_va_check_accesses\n");
        check_int(tracker_new(&tracker_damon_ops, &ctx, &t), 0);
        put(ctx.sysfs_root, "kernel/mm/damon/admin/kdamonds/nr_kdamonds", "1\n");
        kdamond(&ctx, 0, "on\n", "1000000\n", "0\n", "0\n");
        before = snapshot(&ctx);
        check_int(tracker_damon_ops.target_add(t, &target), -EBUSY);
        check(!target.data);
        t = tracker_free(t);
        after = snapshot(&ctx);
        check_str(after, before);
        free(before);
        free(after);

        /* kallsyms could not tell, the kdamond shows no vaddr: refused, and removed again */
        ctx = fixture("no-vaddr-late", 0);
        kdamond_files(&ctx, "paddr\n");
        check_int(probe(&ctx, &reason), 0);
        check_int(tracker_new(&tracker_damon_ops, &ctx, &t), 0);
        check_int(tracker_damon_ops.target_add(t, &target), -EOPNOTSUPP);
        check_file(&ctx, "kdamonds/nr_kdamonds", "0");
        t = tracker_free(t);

        /* a kdamond a vtism that is gone left running: init releases it (it blocks everyone) */
        ctx = fixture("stale-init", 1);
        kdamond(&ctx, 0, "on\n", VTISM_UPDATE_US, "99999\n", "54\n");
        check_int(tracker_new(&tracker_damon_ops, &ctx, &t), 0);
        check_file(&ctx, "kdamonds/0/state", "off");
        check_file(&ctx, "kdamonds/nr_kdamonds", "0");
        t = tracker_free(t);
}

int main(void) {
        _cleanup_free_ char *reason = NULL;
        TrackerContext ctx;

        check(mkdtemp(root));

        /* no DAMON sysfs */
        ctx = (TrackerContext) { .proc_root = root, .sysfs_root = root };
        check(probe(&ctx, &reason) < 0);
        check(reason && strstr(reason, "DAMON sysfs"));

        /* nothing there: usable */
        ctx = fixture("empty", 0);
        check_int(probe(&ctx, &reason), 0);
        check(!reason);

        /* nothing there, a kernel whose symbols show no vaddr operations */
        ctx = fixture("no-vaddr-syms", 0);
        put(ctx.proc_root, "kallsyms", "0000000000000000 T damon_pa_apply_scheme\n0000000000000000 t damon_start\n");
        check_int(probe(&ctx, &reason), -EOPNOTSUPP);
        check(reason && strstr(reason, "CONFIG_DAMON_VADDR"));
        put(ctx.proc_root, "kallsyms", "0000000000000000 t damon_va_check_accesses\n");
        check_int(probe(&ctx, &reason), 0);
        /* a kallsyms without any DAMON symbol is hidden (an empty file under systemd's
         * ProtectKernelTunables=) or filtered: it cannot tell, the first target will */
        put(ctx.proc_root, "kallsyms", "");
        check_int(probe(&ctx, &reason), 0);
        put(ctx.proc_root, "kallsyms", "0000000000000000 T start_kernel\n");
        check_int(probe(&ctx, &reason), 0);

        /* another user's kdamond, running */
        ctx = fixture("foreign-on", 1);
        kdamond(&ctx, 0, "on\n", "1000000\n", "0\n", "0\n");
        check_int(probe(&ctx, &reason), -EBUSY);
        check(reason && strstr(reason, "another DAMON user") && strstr(reason, "1 running"));

        /* another user's kdamonds, all off: still refused (growing would recreate them) */
        ctx = fixture("foreign-off", 2);
        kdamond(&ctx, 0, "off\n", "1000000\n", "0\n", "0\n");
        kdamond(&ctx, 1, "off\n", "1000000\n", "0\n", "0\n");
        check_int(probe(&ctx, &reason), -EBUSY);
        check(reason && strstr(reason, "2 kdamond(s)") && strstr(reason, "lose their setup"));

        /* vtism's mark, owner pid 1 with another start time: stale, usable (init reclaims) */
        ctx = fixture("stale", 1);
        kdamond(&ctx, 0, "on\n", VTISM_UPDATE_US, "1\n", "54\n");
        check_int(probe(&ctx, &reason), 0);

        /* vtism's mark, owner pid gone */
        ctx = fixture("stale-gone", 1);
        kdamond(&ctx, 0, "on\n", VTISM_UPDATE_US, "99999\n", "54\n");
        check_int(probe(&ctx, &reason), 0);

        /* vtism's mark, owner still running (pid 1, start time 55) */
        ctx = fixture("live", 1);
        kdamond(&ctx, 0, "on\n", VTISM_UPDATE_US, "1\n", "55\n");
        check_int(probe(&ctx, &reason), -EBUSY);
        check(reason && strstr(reason, "another running vtism"));

        /* the mark alone is not enough: another update_us is someone else's */
        ctx = fixture("almost", 1);
        kdamond(&ctx, 0, "off\n", "1000000\n", "99999\n", "54\n");
        check_int(probe(&ctx, &reason), -EBUSY);

        /* ours, next to someone else's: not ours to take */
        ctx = fixture("two", 2);
        kdamond(&ctx, 0, "off\n", VTISM_UPDATE_US, "99999\n", "54\n");
        kdamond(&ctx, 1, "on\n", "1000000\n", "0\n", "0\n");
        check_int(probe(&ctx, &reason), -EBUSY);

        /* a stale vtism kdamond on a kernel without vaddr */
        ctx = fixture("novaddr", 1);
        kdamond(&ctx, 0, "off\n", VTISM_UPDATE_US, "99999\n", "54\n");
        put(ctx.sysfs_root, "kernel/mm/damon/admin/kdamonds/0/contexts/0/avail_operations", "paddr\nfvaddr\n");
        check_int(probe(&ctx, &reason), -EOPNOTSUPP);
        check(reason && strstr(reason, "virtual address"));

        test_shared_host();

        {
                _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", root);
                check(system(cmd) == 0);
        }
        for (size_t i = 0; i < n_paths; i++)
                free(paths[i]);
        printf("test-tracker-damon: OK\n");
        return EXIT_SUCCESS;
}
