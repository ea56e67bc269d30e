/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The combinator tracker (src/daemon/tracker-combo.c) driving two fake trackers: the merge of
 * their two ascending streams into one heat-map cycle equals heatmap_apply_cycle() of the union,
 * over several cycles, two ranges whose HVA order is not their GPA order, one of them with
 * 2 MiB granules; who-saw-what statistics; degrading to one part (init, target_add or check
 * failing); -ESRCH; and auto's choice of trackers (tracker_pick, tracker_pick_explain).
 */

#include <string.h>

#include "check.h"
#include "vtism/heatmap.h"
#include "vtism/log.h"
#include "vtism/tracker-combo.h"
#include "vtism/util.h"

#define RUNS_MAX 64

typedef struct Fake {
        const char *name;
        int fail_init, fail_add, fail_check, fail_prepare;
        HeatSample runs[RUNS_MAX];     /* what check samples, ascending */
        size_t n_runs;
        unsigned inits, adds, removes, checks, prepares;
        bool valid;
} Fake;

static Fake fake_a = { .name = "fake-a" }, fake_b = { .name = "fake-b" };

static int fake_probe(const TrackerContext *ctx, char **ret_reason) {
        return 0;
}

static Fake *fake_of(Tracker *t) {
        return t->data;
}

static int fake_init_common(Tracker *t, Fake *f) {
        f->inits++;
        if (f->fail_init)
                return f->fail_init;
        t->data = f;
        return 0;
}

static int fake_a_init(Tracker *t) {
        return fake_init_common(t, &fake_a);
}

static int fake_b_init(Tracker *t) {
        return fake_init_common(t, &fake_b);
}

static int fake_target_add(Tracker *t, TrackerTarget *target) {
        Fake *f = fake_of(t);

        f->adds++;
        if (f->fail_add)
                return f->fail_add;
        target->data = f;
        return 0;
}

static void fake_target_remove(Tracker *t, TrackerTarget *target) {
        fake_of(t)->removes++;
        target->data = NULL;
}

static int fake_prepare(Tracker *t, TrackerTarget *target) {
        Fake *f = fake_of(t);

        check(target->data == f);
        f->prepares++;
        return f->fail_prepare;
}

static int fake_check(Tracker *t, TrackerTarget *target, HeatMap *heat) {
        Fake *f = fake_of(t);

        check(target->data == f);
        f->checks++;
        for (size_t i = 0; i < f->n_runs; i++)
                check_int(heatmap_sample_hva(heat, f->runs[i].hva, f->runs[i].len_bytes), 0);
        return f->fail_check;
}

static bool fake_valid(Tracker *t, TrackerTarget *target) {
        return fake_of(t)->valid;
}

static char *fake_describe(Tracker *t, TrackerTarget *target) {
        return xasprintf("%s here", fake_of(t)->name);
}

#define FAKE_OPS(n, init_fn)                                     \
        {                                                        \
                .kind = TRACKER_AUTO,                            \
                .name = n,                                       \
                .probe = fake_probe,                             \
                .init = init_fn,                                 \
                .target_add = fake_target_add,                   \
                .target_remove = fake_target_remove,             \
                .prepare_access_checks = fake_prepare,           \
                .check_accesses = fake_check,                    \
                .target_valid = fake_valid,                      \
                .describe_target = fake_describe,                \
        }

static const TrackerOps fake_a_ops = FAKE_OPS("fake-a", fake_a_init);
static const TrackerOps fake_b_ops = FAKE_OPS("fake-b", fake_b_init);

/* R0: GPA 0, 4 MiB of 4 KiB granules, high HVA; R1: GPA 4 MiB, 4 MiB of 2 MiB granules, low HVA. */
#define R0_HVA UINT64_C(0x200000000)
#define R1_HVA UINT64_C(0x100000000)
#define PG UINT64_C(4096)

static const HeatRangeSpec ranges[2] = {
        { .gpa = 0, .hva = R0_HVA, .len_bytes = 4 * MIB },
        { .gpa = 4 * MIB, .hva = R1_HVA, .len_bytes = 4 * MIB, .granule_bytes = HEATMAP_GRANULE_2M },
};

static void set_runs(Fake *f, const HeatSample *runs, size_t n) {
        check(n <= RUNS_MAX);
        if (n > 0) /* runs may be NULL then: memcpy(dst, NULL, 0) is undefined */
                memcpy(f->runs, runs, n * sizeof(HeatSample));
        f->n_runs = n;
}

static void reset_fakes(void) {
        fake_a = (Fake) { .name = "fake-a", .valid = true };
        fake_b = (Fake) { .name = "fake-b", .valid = true };
}

/* One cycle as the manager runs it. */
static int cycle(Tracker *t, TrackerTarget *target, HeatMap *h) {
        int r;

        heatmap_cycle_begin(h);
        r = t->ops->check_accesses(t, target, h);
        check_int(heatmap_cycle_end(h), 0);
        if (r >= 0)
                r = t->ops->prepare_access_checks(t, target);
        return r;
}

/* The reference: the union of both fakes' runs through heatmap_apply_cycle(). */
static void reference_cycle(HeatMap *ref, bool with_a, bool with_b) {
        HeatSample all[2 * RUNS_MAX];
        size_t n = 0;

        if (with_a)
                for (size_t i = 0; i < fake_a.n_runs; i++)
                        all[n++] = fake_a.runs[i];
        if (with_b)
                for (size_t i = 0; i < fake_b.n_runs; i++)
                        all[n++] = fake_b.runs[i];
        check_int(heatmap_apply_cycle(ref, all, n), 0);
}

static void check_same_heat(const HeatMap *h, const HeatMap *ref) {
        for (size_t r = 0; r < heatmap_n_ranges(h); r++) {
                const uint8_t *a, *b;
                size_t na, nb;

                check_int(heatmap_range(h, r, NULL, &a, &na), 0);
                check_int(heatmap_range(ref, r, NULL, &b, &nb), 0);
                check_int(na, nb);
                for (size_t g = 0; g < na; g++)
                        if (a[g] != b[g]) {
                                fprintf(stderr, "range %zu granule %zu: heat %u, reference %u\n", r, g, a[g], b[g]);
                                exit(EXIT_FAILURE);
                        }
        }
        check_u64(heatmap_stats(h)->out_of_order_bytes, 0);
        check_u64(heatmap_stats(h)->unmatched_bytes, 0);
}

static TrackerComboOps combo;

static void test_merge(void) {
        /* DAMON-like regions; soft-dirty-like single pages, some inside the regions. */
        static const HeatSample regions[] = {
                { R1_HVA, 3 * MIB },
                { R0_HVA + 1 * MIB, 1 * MIB },
        };
        static const HeatSample pages[] = {
                { R1_HVA + 5 * PG, PG },
                { R0_HVA + 10 * PG, PG },
                { R0_HVA + 1 * MIB + PG, PG },
                { R0_HVA + 3 * MIB, PG },
        };
        static const HeatSample regions2[] = { { R0_HVA, 2 * MIB } };
        static const HeatSample pages2[] = { { R1_HVA + 3 * MIB, PG }, { R0_HVA + 2 * MIB, 2 * PG } };
        _cleanup_(tracker_freep) Tracker *t = NULL;
        _cleanup_(heatmap_freep) HeatMap *h = NULL, *ref = NULL;
        TrackerContext ctx = { .proc_root = "/nonexistent", .sysfs_root = "/nonexistent" };
        TrackerTarget target = { .pid = 1, .ranges = ranges, .n_ranges = 2 };
        TrackerComboStats st;
        _cleanup_free_ char *d = NULL;

        reset_fakes();
        check_int(heatmap_new(ranges, 2, NULL, &h), 0);
        check_int(heatmap_new(ranges, 2, NULL, &ref), 0);
        check_int(tracker_new(&combo.ops, &ctx, &t), 0);
        check_int(t->ops->target_add(t, &target), 0);
        check_int(tracker_combo_target_parts(t, &target), 3);
        d = tracker_target_feeds(t, &target);
        check_str(d, "fake-a+fake-b");
        free(d);
        d = NULL;

        set_runs(&fake_a, regions, ELEMENTSOF(regions));
        set_runs(&fake_b, pages, ELEMENTSOF(pages));
        check_int(cycle(t, &target, h), 0);
        reference_cycle(ref, true, true);
        check_same_heat(h, ref);

        check_int(tracker_combo_target_stats(t, &target, &st), 0);
        check_u64(st.merged_cycles, 1);
        check_u64(st.direct_cycles, 0);
        /* R1 (2 MiB granules): granule 0 both, granule 1 region only. R0: region pages 256..511,
         * page 256+1 also written; pages 10 and 768 written only. */
        check_u64(st.both_bytes, 2 * MIB + PG);
        check_u64(st.only_bytes[0], 2 * MIB + 255 * PG);
        check_u64(st.only_bytes[1], 2 * PG);
        check(st.shadow_bytes >= 1024 + 2);

        /* More cycles with other runs, and one with nothing at all: the heat still matches. */
        set_runs(&fake_a, regions2, ELEMENTSOF(regions2));
        set_runs(&fake_b, pages2, ELEMENTSOF(pages2));
        check_int(cycle(t, &target, h), 0);
        reference_cycle(ref, true, true);
        check_same_heat(h, ref);
        set_runs(&fake_a, NULL, 0);
        set_runs(&fake_b, NULL, 0);
        check_int(cycle(t, &target, h), 0);
        reference_cycle(ref, true, true);
        check_same_heat(h, ref);
        check_int(fake_a.checks, 3);
        check_int(fake_b.checks, 3);
        check_int(fake_a.prepares, 3);
        check_int(fake_b.prepares, 3);

        d = tracker_describe_target(t, &target);
        printf("%s\n", d);
        check_str(d, "fake-a (reads) + fake-b (writes), merged; last cycle: 0 MiB seen by fake-a only, 0 MiB by "
                     "fake-b only, 0 MiB by both [fake-a here] [fake-b here]");

        /* A part's check failing: the other's samples count, the cycle succeeds. */
        set_runs(&fake_a, regions, ELEMENTSOF(regions));
        set_runs(&fake_b, pages, ELEMENTSOF(pages));
        fake_a.fail_check = -EIO;
        check_int(cycle(t, &target, h), 0);
        reference_cycle(ref, true, true); /* the fake sampled before failing */
        check_same_heat(h, ref);
        free(d);
        d = tracker_describe_target(t, &target);
        check(strstr(d, "; fake-a's last check failed: Input/output error"));
        fake_b.fail_check = -EIO;
        check_int(cycle(t, &target, h), -EIO);
        reference_cycle(ref, true, true);
        fake_a.fail_check = 0;
        fake_b.fail_check = -ESRCH;
        check_int(cycle(t, &target, h), -ESRCH);
        reference_cycle(ref, false, false); /* a vanished target's cycle adds nothing */
        check_same_heat(h, ref);
        fake_b.fail_check = 0;

        /* prepare: -ESRCH wins over another error. */
        fake_a.fail_prepare = -EIO;
        fake_b.fail_prepare = -ESRCH;
        check_int(t->ops->prepare_access_checks(t, &target), -ESRCH);
        fake_a.fail_prepare = fake_b.fail_prepare = 0;

        /* valid while any part says so */
        check(t->ops->target_valid(t, &target));
        fake_a.valid = false;
        check(t->ops->target_valid(t, &target));
        fake_b.valid = false;
        check(!t->ops->target_valid(t, &target));

        t->ops->target_remove(t, &target);
        check(!target.data);
        check_int(fake_a.removes, 1);
        check_int(fake_b.removes, 1);
}

/* exact_explains: a region holding a write is replaced by the writes; one without stays. */
static void test_explain(void) {
        static const HeatSample regions[] = {
                { R1_HVA, 3 * MIB },
                { R0_HVA + 1 * MIB, 1 * MIB },
                { R0_HVA + 3 * MIB + 100 * PG, 8 * PG },
        };
        static const HeatSample pages[] = {
                { R1_HVA + 5 * PG, PG },
                { R0_HVA + 10 * PG, PG },
                { R0_HVA + 1 * MIB + PG, PG },
                { R0_HVA + 3 * MIB, PG },
        };
        static const HeatSample want[] = {
                { R1_HVA, 2 * MIB },                    /* the 2 MiB granule holding the write */
                { R0_HVA + 10 * PG, PG },
                { R0_HVA + 1 * MIB + PG, PG },
                { R0_HVA + 3 * MIB, PG },
                { R0_HVA + 3 * MIB + 100 * PG, 8 * PG }, /* a region without writes: read heat */
        };
        _cleanup_(tracker_freep) Tracker *t = NULL;
        _cleanup_(heatmap_freep) HeatMap *h = NULL, *ref = NULL;
        TrackerContext ctx = { .proc_root = "/nonexistent", .sysfs_root = "/nonexistent" };
        TrackerTarget target = { .pid = 1, .ranges = ranges, .n_ranges = 2 };
        TrackerComboOps explaining;
        TrackerComboStats st;
        _cleanup_free_ char *d = NULL;

        reset_fakes();
        tracker_combo_ops_init(&explaining, "fake-a+fake-b", &fake_a_ops, "reads", &fake_b_ops, "writes", true);
        check_int(heatmap_new(ranges, 2, NULL, &h), 0);
        check_int(heatmap_new(ranges, 2, NULL, &ref), 0);
        check_int(tracker_new(&explaining.ops, &ctx, &t), 0);
        check_int(t->ops->target_add(t, &target), 0);
        set_runs(&fake_a, regions, ELEMENTSOF(regions));
        set_runs(&fake_b, pages, ELEMENTSOF(pages));
        for (unsigned c = 0; c < 3; c++) {
                check_int(cycle(t, &target, h), 0);
                check_int(heatmap_apply_cycle(ref, want, ELEMENTSOF(want)), 0);
                check_same_heat(h, ref);
        }
        check_int(tracker_combo_target_stats(t, &target, &st), 0);
        check_u64(st.explained_bytes, 2 * MIB + 255 * PG);
        check_u64(st.only_bytes[0], 2 * MIB + 255 * PG + 8 * PG);
        check_u64(st.both_bytes, 2 * MIB + PG);
        d = tracker_describe_target(t, &target);
        printf("%s\n", d);
        check(strstr(d, ", 2 MiB of fake-a's explained by fake-b's and dropped"));
        t->ops->target_remove(t, &target);
}

/* With one part missing the combo runs the other straight into the heat map: one cycle. */
static Tracker *one_part(TrackerTarget *target, unsigned want_parts, const char *want_describe) {
        TrackerContext ctx = { .proc_root = "/nonexistent", .sysfs_root = "/nonexistent" };
        _cleanup_(heatmap_freep) HeatMap *h = NULL, *ref = NULL;
        TrackerComboStats st;
        Tracker *t;
        char *d;

        check_int(heatmap_new(ranges, 2, NULL, &h), 0);
        check_int(heatmap_new(ranges, 2, NULL, &ref), 0);
        check_int(tracker_new(&combo.ops, &ctx, &t), 0);
        check_int(t->ops->target_add(t, target), 0);
        check_int(tracker_combo_target_parts(t, target), want_parts);
        d = tracker_target_feeds(t, target);
        check_str(d, want_parts == 1 ? "fake-a" : "fake-b"); /* only the part that follows it */
        free(d);
        check_int(cycle(t, target, h), 0);
        reference_cycle(ref, want_parts & 1, want_parts & 2);
        check_same_heat(h, ref);
        check_int(tracker_combo_target_stats(t, target, &st), 0);
        check_u64(st.direct_cycles, 1);
        check_u64(st.merged_cycles, 0);
        check_u64(st.shadow_bytes, 0);
        d = tracker_describe_target(t, target);
        printf("%s\n", d);
        check_str(d, want_describe);
        free(d);
        return t;
}

static void test_degraded(void) {
        static const HeatSample regions[] = { { R0_HVA, 1 * MIB } };
        static const HeatSample pages[] = { { R0_HVA + 2 * MIB, PG } };
        TrackerContext ctx = { .proc_root = "/nonexistent", .sysfs_root = "/nonexistent" };
        TrackerTarget target = { .pid = 1, .ranges = ranges, .n_ranges = 2 };
        TrackerComboStats st;
        Tracker *t;
        char *d;

        /* Part a cannot start: b alone. */
        reset_fakes();
        fake_a.fail_init = -EBUSY;
        set_runs(&fake_b, pages, ELEMENTSOF(pages));
        t = one_part(&target, 2, "fake-b (writes); without fake-a (reads): failed to start: Device or resource busy "
                                 "[fake-b here]");
        t->ops->target_remove(t, &target);
        tracker_free(t);

        /* Both cannot start: no tracker. */
        reset_fakes();
        fake_a.fail_init = -EBUSY;
        fake_b.fail_init = -EPERM;
        check_int(tracker_new(&combo.ops, &ctx, &t), -EBUSY);

        /* Part b cannot follow the target: a alone. */
        reset_fakes();
        fake_b.fail_add = -EACCES;
        set_runs(&fake_a, regions, ELEMENTSOF(regions));
        t = one_part(&target, 1, "fake-a (reads); without fake-b (writes): cannot follow it: Permission denied "
                                 "[fake-a here]");
        check_int(fake_b.checks, 0);
        check_int(fake_b.prepares, 0);
        t->ops->target_remove(t, &target);
        check_int(fake_b.removes, 0);

        /* Neither can: the target fails, -ESRCH first. */
        fake_a.fail_add = -EIO;
        check_int(t->ops->target_add(t, &target), -EIO);
        fake_b.fail_add = -ESRCH;
        check_int(t->ops->target_add(t, &target), -ESRCH);
        check(!target.data);
        tracker_free(t);

        /* Not a combo. */
        reset_fakes();
        check_int(tracker_new(&fake_a_ops, &ctx, &t), 0);
        check_int(tracker_combo_target_stats(t, &target, &st), -EINVAL);
        check_int(tracker_combo_target_parts(t, &target), 0);
        d = tracker_target_feeds(t, &target);
        check_str(d, "fake-a");
        free(d);
        tracker_free(t);
}

static void test_pick(void) {
        char *none[_TRACKER_KIND_MAX] = {};
        char *stock[_TRACKER_KIND_MAX] = {
                [TRACKER_IDLE_PAGES] = (char *) "kernel lacks /proc/PID/idle_pages",
                [TRACKER_PAGE_IDLE] = (char *) "kernel lacks page_idle",
        };
        const TrackerOps *ops = NULL;
        char *why;

        check_int(tracker_pick(TRACKER_AUTO, none, &ops), 0);
        check(ops == &tracker_idle_pages_ops);
        why = tracker_pick_explain(TRACKER_AUTO, none, ops);
        check_str(why, "idle_pages (auto)");
        free(why);

        /* A stock kernel: damon + softdirty. */
        check_int(tracker_pick(TRACKER_AUTO, stock, &ops), 0);
        check(ops == &tracker_damon_softdirty_ops.ops);
        why = tracker_pick_explain(TRACKER_AUTO, stock, ops);
        check_str(why, "damon+softdirty (auto); unusable: idle_pages: kernel lacks /proc/PID/idle_pages; "
                       "page_idle: kernel lacks page_idle");
        free(why);

        /* DAMON taken by someone else: softdirty would be blind to reads, damon alone is preferred
         * when only softdirty is missing, softdirty alone when only damon is. */
        stock[TRACKER_DAMON] = (char *) "another DAMON user";
        check_int(tracker_pick(TRACKER_AUTO, stock, &ops), 0);
        check(ops == &tracker_softdirty_ops);
        why = tracker_pick_explain(TRACKER_AUTO, stock, ops);
        check_str(why, "softdirty (auto); unusable: idle_pages: kernel lacks /proc/PID/idle_pages; page_idle: "
                       "kernel lacks page_idle; damon: another DAMON user");
        free(why);
        stock[TRACKER_DAMON] = NULL;
        stock[TRACKER_SOFTDIRTY] = (char *) "no soft-dirty";
        check_int(tracker_pick(TRACKER_AUTO, stock, &ops), 0);
        check(ops == &tracker_damon_ops);
        stock[TRACKER_DAMON] = (char *) "another DAMON user";
        check_int(tracker_pick(TRACKER_AUTO, stock, &ops), -EOPNOTSUPP);
        why = tracker_pick_explain(TRACKER_AUTO, stock, NULL);
        check(strstr(why, "none (auto); unusable: idle_pages"));
        check(strstr(why, "softdirty: no soft-dirty"));
        free(why);

        /* Configured explicitly. */
        check_int(tracker_pick(TRACKER_SOFTDIRTY, none, &ops), 0);
        check(ops == &tracker_softdirty_ops);
        why = tracker_pick_explain(TRACKER_SOFTDIRTY, none, ops);
        check_str(why, "softdirty, as configured");
        free(why);
        check_int(tracker_pick(TRACKER_SOFTDIRTY, stock, &ops), -EOPNOTSUPP);
        why = tracker_pick_explain(TRACKER_SOFTDIRTY, stock, NULL);
        check_str(why, "none: the configured tracker softdirty is not usable: no soft-dirty");
        free(why);
        check(tracker_ops_from_kind(TRACKER_SOFTDIRTY) == &tracker_softdirty_ops);
        check(!tracker_ops_from_kind(TRACKER_AUTO));
}

static void test_probe(void) {
        TrackerContext ctx = { .proc_root = "/nonexistent", .sysfs_root = "/nonexistent" };
        char *why = NULL;

        check(tracker_damon_softdirty_ops.ops.probe(&ctx, &why) < 0);
        printf("%s\n", why);
        check(strstr(why, "damon: ") && strstr(why, "; softdirty: "));
        free(why);
}

int main(void) {
        log_set_max_level(LOG_DEBUG);
        tracker_combo_ops_init(&combo, "fake-a+fake-b", &fake_a_ops, "reads", &fake_b_ops, "writes", false);
        test_merge();
        test_explain();
        test_degraded();
        test_pick();
        test_probe();
        printf("test-tracker-combo: OK\n");
        return EXIT_SUCCESS;
}
