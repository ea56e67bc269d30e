/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The page_idle tracker on a fixture tree built here: fake /proc/PID/{pagemap,stat},
 * /proc/kpageflags and /sys/kernel/mm/page_idle/bitmap as regular files. Checks which bitmap bits
 * prepare_access_checks sets (one per folio: THP tails folded to their head, swapped and absent
 * pages skipped) and what check_accesses reports once bits are cleared ("accessed"), including a
 * THP reported as a whole (and marked huge in the heat map), a THP whose head comes later in address order, a page that moved to
 * a new PFN, no liveness read on the normal path, and a vanished process (empty pagemap, no stat).
 *
 * A regular file is not the kernel's bitmap (a write there replaces words instead of setting
 * bits, a read does not harvest young bits), so the fixture only clears bits between the calls.
 */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"
#include "vtism/heatmap.h"
#include "vtism/log.h"
#include "vtism/tracker.h"
#include "vtism/util.h"

#define PID 4242
#define START_TIME 12345ULL
#define BASE_HVA UINT64_C(0x40000000)
#define N_PAGES 2048u
#define BITMAP_PFNS 0x40000u

#define PRESENT (UINT64_C(1) << 63)
#define SWAPPED (UINT64_C(1) << 62)
#define F_HEAD (UINT64_C(1) << 15)
#define F_TAIL (UINT64_C(1) << 16)
#define F_THP (UINT64_C(1) << 22)

static char root[] = "/tmp/test-tracker-page-idle.XXXXXX";
static char proc_root[256], sysfs_root[256];
static uint64_t pagemap[N_PAGES];
static char pm_stat_saved[300];

static void read_at(const char *path, void *buf, size_t size, uint64_t offset) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        check(fd >= 0);
        check(pread(fd, buf, size, (off_t) offset) == (ssize_t) size);
        close(fd);
}

static void set_flags(uint64_t pfn, uint64_t flags) {
        _cleanup_free_ char *p = xasprintf("%s/kpageflags", proc_root);
        fixture_write_at(p, &flags, sizeof(flags), pfn * 8);
}

static void write_pagemap(void) {
        _cleanup_free_ char *p = xasprintf("%s/%d/pagemap", proc_root, PID);
        fixture_write_at(p, pagemap, sizeof(pagemap), BASE_HVA / 4096 * 8);
}

static bool bit(uint64_t pfn) {
        _cleanup_free_ char *p = xasprintf("%s/kernel/mm/page_idle/bitmap", sysfs_root);
        uint64_t w;

        read_at(p, &w, sizeof(w), pfn / 64 * 8);
        return (w >> (pfn % 64)) & 1;
}

static void clear_bit(uint64_t pfn) {
        _cleanup_free_ char *p = xasprintf("%s/kernel/mm/page_idle/bitmap", sysfs_root);
        uint64_t w;

        read_at(p, &w, sizeof(w), pfn / 64 * 8);
        w &= ~(UINT64_C(1) << (pfn % 64));
        fixture_write_at(p, &w, sizeof(w), pfn / 64 * 8);
}

static uint64_t pfn_4k(unsigned i) {
        return 0x20000 + (uint64_t) ((i - 512) * 37 % 4096); /* scattered, distinct */
}

static void build_fixture(void) {
        _cleanup_free_ char *piddir = NULL, *stat = NULL, *bitmap_dir = NULL, *bitmap = NULL, *zero = NULL;
        char statline[256];

        check(mkdtemp(root));
        snprintf(proc_root, sizeof(proc_root), "%s/proc", root);
        snprintf(sysfs_root, sizeof(sysfs_root), "%s/sys", root);
        snprintf(pm_stat_saved, sizeof(pm_stat_saved), "%s/stat.saved", root);
        piddir = xasprintf("%s/%d", proc_root, PID);
        fixture_mkdir_p(piddir);
        bitmap_dir = xasprintf("%s/kernel/mm/page_idle", sysfs_root);
        fixture_mkdir_p(bitmap_dir);

        stat = xasprintf("%s/stat", piddir);
        snprintf(statline, sizeof(statline),
                 "%d (qemu) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %llu 0 0\n", PID, START_TIME);
        fixture_write_at(stat, statline, strlen(statline), 0);

        bitmap = xasprintf("%s/kernel/mm/page_idle/bitmap", sysfs_root);
        zero = xcalloc(BITMAP_PFNS / 8, 1);
        fixture_write_at(bitmap, zero, BITMAP_PFNS / 8, 0);
        set_flags(BITMAP_PFNS, 0); /* size kpageflags */

        /* pages 0..511: a PMD-mapped THP at PFN 0x10000 */
        for (unsigned i = 0; i < 512; i++) {
                pagemap[i] = PRESENT | (0x10000 + i);
                set_flags(0x10000 + i, F_THP | (i == 0 ? F_HEAD : F_TAIL));
        }
        /* pages 512..1023: 4 KiB pages, every 10th absent, every 10th + 5 swapped */
        for (unsigned i = 512; i < 1024; i++) {
                if (i % 10 == 0)
                        pagemap[i] = 0;
                else if (i % 10 == 5)
                        pagemap[i] = SWAPPED | 0x1234; /* swap entry, no PFN */
                else {
                        pagemap[i] = PRESENT | pfn_4k(i);
                        set_flags(pfn_4k(i), 0);
                }
        }
        /* pages 1024..1535: a THP at PFN 0x30000 mapped with its halves swapped (PTE-mapped): the
         * first page in address order is a tail whose head comes later */
        for (unsigned i = 1024; i < 1536; i++) {
                uint64_t pfn = i < 1280 ? 0x30100 + (i - 1024) : 0x30000 + (i - 1280);
                pagemap[i] = PRESENT | pfn;
                set_flags(pfn, F_THP | (pfn == 0x30000 ? F_HEAD : F_TAIL));
        }
        /* pages 1536..2047: a hole */
        write_pagemap();
}

static void test_probe_missing(void) {
        _cleanup_free_ char *empty = xasprintf("%s/empty", root);
        TrackerContext ctx = { .proc_root = empty, .sysfs_root = empty };
        _cleanup_free_ char *reason = NULL;

        fixture_mkdir_p(empty);
        check(tracker_page_idle_ops.probe(&ctx, &reason) < 0);
        check(reason && strstr(reason, "page_idle"));
}

/*
 * The sliced pass (sample_step): a target of three 64 MiB chunks, stepped with a deadline that
 * has always passed (one chunk per call). The first pass only marks idle; the next one reports
 * what was accessed, from every chunk, and marks the units idle again in the same pass.
 */
#define STEP_PID 4343
#define STEP_PAGES 40000u
#define STEP_PFN0 UINT64_C(0x38000)

static void test_sample_step(const TrackerContext *ctx) {
        _cleanup_(heatmap_freep) HeatMap *h = NULL;
        _cleanup_(tracker_freep) Tracker *t = NULL;
        _cleanup_free_ uint64_t *pm = xcalloc(STEP_PAGES, sizeof(uint64_t));
        _cleanup_free_ char *dir = xasprintf("%s/%d", proc_root, STEP_PID), *stat = NULL, *path = NULL;
        HeatRangeSpec range = { .gpa = 0, .hva = BASE_HVA, .len_bytes = (uint64_t) STEP_PAGES * 4096 };
        TrackerTarget target = { .pid = STEP_PID, .start_time = START_TIME, .ranges = &range, .n_ranges = 1 };
        HeatParams params;
        char statline[256];
        unsigned steps;
        int r;

        /* present 4 KiB pages: 100 at the start of each chunk (PFNs descending: the sorts run), in
         * bitmap words of their own (a fixture file's word is replaced by a write, not or-ed) */
        for (unsigned c = 0; c < 3; c++)
                for (unsigned i = 0; i < 100; i++) {
                        uint64_t pfn = STEP_PFN0 + c * 128 + (99 - i);

                        pm[c * 16384 + i] = PRESENT | pfn;
                        set_flags(pfn, 0);
                }
        fixture_mkdir_p(dir);
        stat = xasprintf("%s/stat", dir);
        snprintf(statline, sizeof(statline), "%d (qemu) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %llu 0 0\n", STEP_PID, START_TIME);
        fixture_write_at(stat, statline, strlen(statline), 0);
        path = xasprintf("%s/pagemap", dir);
        fixture_write_at(path, pm, STEP_PAGES * sizeof(uint64_t), BASE_HVA / 4096 * 8);

        heat_params_init_default(&params);
        check_int(heatmap_new(&range, 1, &params, &h), 0);
        check_int(tracker_new(&tracker_page_idle_ops, ctx, &t), 0);
        check(t->ops->sample_step);
        check_int(t->ops->target_add(t, &target), 0);

        /* the first pass: marks idle, one chunk per call */
        heatmap_cycle_begin(h);
        for (steps = 1; (r = t->ops->sample_step(t, &target, h, 0)) == 1; steps++)
                ;
        check_int(r, 0);
        heatmap_cycle_end(h);
        check_int(steps, 3);
        for (unsigned c = 0; c < 3; c++)
                for (unsigned i = 0; i < 100; i++)
                        check(bit(STEP_PFN0 + c * 128 + i));
        check_u64(heatmap_stats(h)->sampled_bytes, 0);

        /* accesses: pages 10..19 of every chunk */
        for (unsigned c = 0; c < 3; c++)
                for (unsigned i = 10; i < 20; i++)
                        clear_bit(STEP_PFN0 + c * 128 + (99 - i));
        heatmap_cycle_begin(h);
        for (steps = 1; (r = t->ops->sample_step(t, &target, h, 0)) == 1; steps++)
                ;
        check_int(r, 0);
        check_int(heatmap_cycle_end(h), 0);
        check_int(steps, 3);
        for (unsigned c = 0; c < 3; c++)
                for (unsigned i = 0; i < 200; i++) {
                        uint8_t heat;

                        check_int(heatmap_heat_hva(h, BASE_HVA + ((uint64_t) c * 16384 + i) * 4096, &heat), 0);
                        check_int(heat > 0, i >= 10 && i < 20);
                }
        /* ... and marked idle again in the same pass */
        for (unsigned c = 0; c < 3; c++)
                for (unsigned i = 0; i < 100; i++)
                        check(bit(STEP_PFN0 + c * 128 + i));

        /* a whole pass at once (USEC_INFINITY): one call */
        heatmap_cycle_begin(h);
        check_int(t->ops->sample_step(t, &target, h, USEC_INFINITY), 0);
        check_int(heatmap_cycle_end(h), 0);

        /* a pass that fails (the process is gone mid-pass) starts over next time */
        heatmap_cycle_begin(h);
        check_int(t->ops->sample_step(t, &target, h, 0), 1);
        check(truncate(path, 0) == 0);
        check(unlink(stat) == 0);
        check_int(t->ops->sample_step(t, &target, h, 0), -ESRCH);
        heatmap_cycle_end(h);
        t->ops->target_remove(t, &target);
        printf("sample_step: 3 chunks in 3 steps, accesses from every chunk, units marked idle again in the same pass\n");
}

int main(void) {
        _cleanup_(heatmap_freep) HeatMap *h = NULL;
        _cleanup_(tracker_freep) Tracker *t = NULL;
        TrackerContext ctx;
        HeatRangeSpec range = { .gpa = 0, .hva = BASE_HVA, .len_bytes = (uint64_t) N_PAGES * 4096 };
        TrackerTarget target = { .pid = PID, .start_time = START_TIME, .ranges = &range, .n_ranges = 1 };
        HeatParams params;
        uint8_t heat;
        int r;

        log_set_max_level(LOG_DEBUG);
        build_fixture();
        test_probe_missing();
        ctx = (TrackerContext) { .proc_root = proc_root, .sysfs_root = sysfs_root };

        check_int(tracker_new(&tracker_page_idle_ops, &ctx, &t), 0);
        check_int(t->ops->target_add(t, &target), 0);
        check(t->ops->target_valid(t, &target));
        /* target_add() walks nothing (a large target's pass takes seconds): no bit is set yet. */
        check(!bit(0x10000));
        check_int(t->ops->prepare_access_checks(t, &target), 0); /* marks idle: the first period starts */

        /* One bit per folio: THP heads only, present 4 KiB pages, nothing for swapped/absent. */
        check(bit(0x10000));
        for (unsigned i = 1; i < 512; i++)
                check(!bit(0x10000 + i));
        for (unsigned i = 512; i < 1024; i++)
                if (i % 10 != 0 && i % 10 != 5)
                        check(bit(pfn_4k(i)));
        check(bit(0x30000));
        check(!bit(0x30100));
        check(!bit(0x30001));
        check(!bit(0x1234));

        /* "Accesses": the first THP, pages 600..609, and page 700 moved to a new PFN. */
        clear_bit(0x10000);
        for (unsigned i = 600; i < 610; i++)
                if (pagemap[i] & PRESENT)
                        clear_bit(pfn_4k(i));
        pagemap[700] = PRESENT | 0x2f000;
        set_flags(0x2f000, 0);
        write_pagemap();

        heat_params_init_default(&params);
        check_int(heatmap_new(&range, 1, &params, &h), 0);
        heatmap_cycle_begin(h);
        check_int(t->ops->check_accesses(t, &target, h), 0);
        check_int(heatmap_cycle_end(h), 0);

        for (unsigned i = 0; i < N_PAGES; i++) {
                bool want = i < 512 || (i >= 600 && i < 610 && (pagemap[i] & PRESENT)) || i == 700;

                check_int(heatmap_heat_hva(h, BASE_HVA + (uint64_t) i * 4096, &heat), 0);
                if ((heat > 0) != want) {
                        fprintf(stderr, "page %u: heat %u, expected %s\n", i, heat, want ? "accessed" : "idle");
                        return EXIT_FAILURE;
                }
        }
        check_u64(heatmap_stats(h)->unmatched_bytes, 0);
        check_u64(heatmap_stats(h)->out_of_order_bytes, 0);

        /* THP marks: block 0 is one THP, block 1 4 KiB pages, block 2 one folio (PTE-mapped, but
         * moved whole all the same), block 3 a hole (left as it was: unmarked). */
        for (unsigned b = 0; b < 4; b++) {
                HeatBlock hb;

                check_int(heatmap_block_hva(h, BASE_HVA + (uint64_t) b * 512 * 4096, &hb), 0);
                check_int(hb.huge, b == 0 || b == 2);
        }

        /* The next period: the accessed folios are marked idle again, the moved page's new PFN too. */
        check_int(t->ops->prepare_access_checks(t, &target), 0);
        check(bit(0x10000));
        check(bit(0x2f000));
        check(!bit(0x10001));

        /* The normal path reads no /proc/PID/stat (the manager checks liveness once per cycle). */
        {
                _cleanup_free_ char *stat = xasprintf("%s/%d/stat", proc_root, PID);
                _cleanup_free_ char *pm = xasprintf("%s/%d/pagemap", proc_root, PID);

                check(rename(stat, pm_stat_saved) == 0);
                check(!t->ops->target_valid(t, &target));
                check_int(t->ops->prepare_access_checks(t, &target), 0);
                heatmap_cycle_begin(h);
                check_int(t->ops->check_accesses(t, &target, h), 0);
                check_int(heatmap_cycle_end(h), 0);

                /* The pagemap of an exited process reads empty: now the tracker asks, -ESRCH. */
                check(truncate(pm, 0) == 0);
                r = t->ops->prepare_access_checks(t, &target);
                check_int(r, -ESRCH);
                heatmap_cycle_begin(h);
                check_int(t->ops->check_accesses(t, &target, h), -ESRCH);
                heatmap_cycle_end(h);
                /* The same while the process runs: an error, not "gone". */
                check(rename(pm_stat_saved, stat) == 0);
                check_int(t->ops->prepare_access_checks(t, &target), -ENODATA);
        }

        t->ops->target_remove(t, &target);
        test_sample_step(&ctx);
        {
                _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", root);
                check(system(cmd) == 0);
        }
        printf("test-tracker-page-idle: OK\n");
        return EXIT_SUCCESS;
}
