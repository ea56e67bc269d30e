/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * combo-bench — what merging two trackers into one heat-map cycle costs (tracker-combo.c), for a
 * guest of N GiB of 4 KiB granules, with two fake parts that replay fixed sample streams:
 * DAMON-like regions (REGIONS regions, every other one accessed) and soft-dirty-like scattered
 * pages (DENSITY in 1024 written, as single-page runs). Printed per cycle, CPU time (median of
 * REPEAT cycles):
 *
 *   direct    the page stream alone straight into the heat map (what softdirty costs the heat
 *             map without a combo: the floor)
 *   union     both parts through the combo's shadow, plain union
 *   explain   both through the shadow, writes explaining regions (what auto runs)
 *   apply     both streams collected into one array and handed to heatmap_apply_cycle() (sort +
 *             one sweep): the other way to merge
 *
 * The parts' own costs (reading pagemap, DAMON's sysfs) are not in here: the lab measures them.
 * Usage: combo-bench [GIB...] (default 1 16 64)
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vtism/heatmap.h"
#include "vtism/log.h"
#include "vtism/tracker-combo.h"
#include "vtism/util.h"

#define PG UINT64_C(4096)
#define HVA UINT64_C(0x7f0000000000)
#define REGIONS 1000u
#define DENSITY 32u     /* of 1024 pages written */
#define REPEAT 7

typedef struct Stream {
        HeatSample *runs;
        size_t n;
} Stream;

static Stream regions, pages;

static int fake_probe(const TrackerContext *ctx, char **ret_reason) {
        return 0;
}
static int fake_regions_init(Tracker *t) {
        t->data = &regions;
        return 0;
}
static int fake_pages_init(Tracker *t) {
        t->data = &pages;
        return 0;
}
static int fake_add(Tracker *t, TrackerTarget *target) {
        target->data = t->data;
        return 0;
}
static void fake_remove(Tracker *t, TrackerTarget *target) {
        target->data = NULL;
}
static int fake_prepare(Tracker *t, TrackerTarget *target) {
        return 0;
}
static int fake_check(Tracker *t, TrackerTarget *target, HeatMap *heat) {
        const Stream *s = t->data;

        for (size_t i = 0; i < s->n; i++)
                (void) heatmap_sample_hva(heat, s->runs[i].hva, s->runs[i].len_bytes);
        return 0;
}
static bool fake_valid(Tracker *t, TrackerTarget *target) {
        return true;
}

#define FAKE(n, init_fn) { .kind = TRACKER_AUTO, .name = n, .probe = fake_probe, .init = init_fn,            \
                           .target_add = fake_add, .target_remove = fake_remove,                              \
                           .prepare_access_checks = fake_prepare, .check_accesses = fake_check,              \
                           .target_valid = fake_valid }

static const TrackerOps regions_ops = FAKE("regions", fake_regions_init);
static const TrackerOps pages_ops = FAKE("pages", fake_pages_init);

static uint64_t cpu_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return (x > y) - (x < y);
}

static void build_streams(uint64_t bytes) {
        uint64_t n_pages = bytes / PG, region = bytes / REGIONS, x = 88172645463325252ULL;

        regions = (Stream) { .runs = xcalloc(REGIONS, sizeof(HeatSample)) };
        for (unsigned i = 0; i < REGIONS; i += 2)
                regions.runs[regions.n++] = (HeatSample) { HVA + i * region, region };
        pages = (Stream) {};
        for (uint64_t p = 0, allocated = 0; p < n_pages; p++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if ((x & 1023) >= DENSITY)
                        continue;
                if (pages.n == allocated) {
                        allocated = MAX(allocated * 2, (uint64_t) 1024);
                        pages.runs = xreallocarray(pages.runs, (size_t) allocated, sizeof(HeatSample));
                }
                pages.runs[pages.n++] = (HeatSample) { HVA + p * PG, PG };
        }
}

typedef enum Mode { MODE_DIRECT, MODE_UNION, MODE_EXPLAIN, MODE_APPLY, _MODE_MAX } Mode;

static uint64_t run_mode(Mode mode, const HeatRangeSpec *range, uint64_t *ret_shadow_bytes) {
        TrackerContext ctx = { .proc_root = "/proc", .sysfs_root = "/sys" };
        TrackerTarget target = { .pid = 1, .ranges = range, .n_ranges = 1 };
        TrackerComboOps combo;
        Tracker *t = NULL;
        HeatMap *h;
        HeatSample *all = NULL;
        uint64_t times[REPEAT];
        TrackerComboStats st = {};

        if (heatmap_new(range, 1, NULL, &h) < 0)
                abort();
        if (mode == MODE_UNION || mode == MODE_EXPLAIN) {
                tracker_combo_ops_init(&combo, "regions+pages", &regions_ops, "reads", &pages_ops, "writes",
                                       mode == MODE_EXPLAIN);
                if (tracker_new(&combo.ops, &ctx, &t) < 0 || t->ops->target_add(t, &target) < 0)
                        abort();
        }
        if (mode == MODE_APPLY)
                all = xcalloc(regions.n + pages.n, sizeof(HeatSample));

        for (unsigned k = 0; k < REPEAT; k++) {
                uint64_t t0 = cpu_usec();

                switch (mode) {
                case MODE_DIRECT:
                        heatmap_cycle_begin(h);
                        for (size_t i = 0; i < pages.n; i++)
                                (void) heatmap_sample_hva(h, pages.runs[i].hva, pages.runs[i].len_bytes);
                        (void) heatmap_cycle_end(h);
                        break;
                case MODE_UNION:
                case MODE_EXPLAIN:
                        heatmap_cycle_begin(h);
                        (void) t->ops->check_accesses(t, &target, h);
                        (void) heatmap_cycle_end(h);
                        break;
                case MODE_APPLY:
                        memcpy(all, regions.runs, regions.n * sizeof(HeatSample));
                        memcpy(all + regions.n, pages.runs, pages.n * sizeof(HeatSample));
                        (void) heatmap_apply_cycle(h, all, regions.n + pages.n);
                        break;
                default:
                        abort();
                }
                times[k] = cpu_usec() - t0;
        }
        if (t) {
                (void) tracker_combo_target_stats(t, &target, &st);
                t->ops->target_remove(t, &target);
                tracker_free(t);
        }
        *ret_shadow_bytes = st.shadow_bytes;
        free(all);
        heatmap_free(h);
        qsort(times, REPEAT, sizeof(uint64_t), cmp_u64);
        return times[REPEAT / 2];
}

int main(int argc, char **argv) {
        static const unsigned defaults[] = { 1, 16, 64 };
        size_t n = argc > 1 ? (size_t) argc - 1 : ELEMENTSOF(defaults);

        log_set_max_level(LOG_WARNING);
        printf("combo-bench: %u regions (every other accessed), %u pages in 1024 written, 4 KiB granules, "
               "median of %d cycles, CPU time\n", REGIONS, DENSITY, REPEAT);
        printf("%6s %10s %10s %10s %10s %10s %12s\n", "GiB", "samples", "direct ms", "union ms", "explain ms",
               "apply ms", "shadow MiB");
        for (size_t i = 0; i < n; i++) {
                unsigned gib = argc > 1 ? (unsigned) strtoul(argv[i + 1], NULL, 10) : defaults[i];
                HeatRangeSpec range = { .gpa = 0, .hva = HVA, .len_bytes = (uint64_t) gib * GIB };
                uint64_t us[_MODE_MAX], shadow = 0, s;

                if (gib == 0 || gib > 1024) {
                        fprintf(stderr, "combo-bench: GiB must be 1..1024\n");
                        return 2;
                }
                build_streams(range.len_bytes);
                for (int m = 0; m < _MODE_MAX; m++) {
                        us[m] = run_mode((Mode) m, &range, &s);
                        shadow = MAX(shadow, s);
                }
                printf("%6u %10zu %10.2f %10.2f %10.2f %10.2f %12.1f\n", gib, regions.n + pages.n, us[0] / 1000.0,
                       us[1] / 1000.0, us[2] / 1000.0, us[3] / 1000.0, (double) shadow / MIB);
                free(regions.runs);
                free(pages.runs);
        }
        return 0;
}
