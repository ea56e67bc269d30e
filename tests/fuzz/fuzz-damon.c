/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz harness for the DAMON tracker's sysfs readers (src/daemon/tracker-damon.c): what DAMON,
 * or another DAMON user, left in SYSFS/kernel/mm/damon/admin decides whether vtism may use DAMON
 * (probe, ownership marks, crash recovery), and the tried regions it reads become heat. The
 * input's NUL-separated fields are files of an in-memory tree (fuzz-tree.h; "-" = absent), written
 * over a kdamond 0 whose other files exist (so that the tracker's writes can succeed):
 *
 *   0 kdamonds/nr_kdamonds    1 kdamonds/0/state    2 kdamonds/0/contexts/nr_contexts
 *   3 contexts/0/operations   4 contexts/0/avail_operations   5 .../intervals/update_us
 *   6 contexts/0/schemes/nr_schemes   7..10 schemes/0/watermarks/{metric,interval_us,high,mid}
 *   11 kdamonds/1/state       12 /proc/kallsyms
 *   13+4k..16+4k schemes/0/tried_regions/<k>/{start,end,nr_accesses,age}   (k = 0..7)
 *
 * Then: probe (which must write nothing and explain a refusal), init, one VM (pid 1) added,
 * checked (its regions sampled into a heat map), removed, cleanup. A kdamond vtism created must
 * be gone afterwards. Seeds: tests/fuzz/corpus/damon/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz-tree.h"
#include "vtism/heatmap.h"
#include "vtism/macro.h"
#include "vtism/tracker.h"
#include "vtism/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KD "sys/kernel/mm/damon/admin/kdamonds/0"
#define CTX KD "/contexts/0"
#define REGIONS 8

static const char *const slots[] = {
        "sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds",
        KD "/state",
        KD "/contexts/nr_contexts",
        CTX "/operations",
        CTX "/avail_operations",
        CTX "/monitoring_attrs/intervals/update_us",
        CTX "/schemes/nr_schemes",
        CTX "/schemes/0/watermarks/metric",
        CTX "/schemes/0/watermarks/interval_us",
        CTX "/schemes/0/watermarks/high",
        CTX "/schemes/0/watermarks/mid",
        "sys/kernel/mm/damon/admin/kdamonds/1/state",
        "proc/kallsyms",
};

/* Written by the tracker; they exist on a real kernel once kdamond 0 does. */
static const char *const written[] = {
        CTX "/monitoring_attrs/intervals/sample_us", CTX "/monitoring_attrs/intervals/aggr_us",
        CTX "/monitoring_attrs/nr_regions/min", CTX "/monitoring_attrs/nr_regions/max",
        CTX "/targets/nr_targets", CTX "/targets/0/pid_target", CTX "/targets/0/regions/nr_regions",
        CTX "/targets/0/regions/0/start", CTX "/targets/0/regions/0/end", CTX "/schemes/0/action",
        CTX "/schemes/0/access_pattern/sz/min", CTX "/schemes/0/access_pattern/sz/max",
        CTX "/schemes/0/access_pattern/nr_accesses/min", CTX "/schemes/0/access_pattern/nr_accesses/max",
        CTX "/schemes/0/access_pattern/age/min", CTX "/schemes/0/access_pattern/age/max",
        CTX "/schemes/0/watermarks/low", CTX "/schemes/0/filters/nr_filters",
        CTX "/schemes/0/filters/0/type", CTX "/schemes/0/filters/0/matching",
        CTX "/schemes/0/filters/0/damon_target_idx",
};

static const char *const region_files[] = { "start", "end", "nr_accesses", "age" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const HeatRangeSpec range = { .gpa = 0, .hva = 0x7f0000000000, .len_bytes = 2 * MIB };
        _cleanup_free_ char *sys = NULL, *proc = NULL, *reason = NULL, *nr = NULL;
        TrackerTarget target = { .pid = 1, .start_time = 55, .ranges = &range, .n_ranges = 1 };
        TrackerContext ctx;
        HeatParams params;
        HeatMap *heat = NULL;
        Tracker *t = NULL;
        unsigned long writes;
        bool added = false;
        FuzzFields f;
        int r;

        if (size > 16 * 1024)
                return 0;
        fuzz_fields_split(&f, data, size);
        sys = xasprintf("%s/sys", fuzz_tree_root());
        proc = xasprintf("%s/proc", fuzz_tree_root());
        ctx = (TrackerContext) { .proc_root = proc, .sysfs_root = sys };

        fuzz_tree_reset();
        fuzz_tree_put("proc/1/stat", "1 (qemu) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0\n");
        for (size_t i = 0; i < ELEMENTSOF(written); i++)
                fuzz_tree_put(written[i], "0\n");
        for (size_t i = 0; i < ELEMENTSOF(slots); i++)
                fuzz_tree_put(slots[i], fuzz_field(&f, i));
        for (size_t k = 0; k < REGIONS; k++) {
                size_t base = ELEMENTSOF(slots) + 4 * k;
                _cleanup_free_ char *dir = xasprintf(CTX "/schemes/0/tried_regions/%zu", k);

                fuzz_tree_dir(dir, fuzz_field(&f, base));
                if (!fuzz_field(&f, base))
                        continue;
                for (size_t j = 0; j < ELEMENTSOF(region_files); j++) {
                        _cleanup_free_ char *rel = xasprintf("%s/%s", dir, region_files[j]);

                        fuzz_tree_put(rel, fuzz_field(&f, base + j) ?: "0");
                }
        }

        /* probe only reads, and says why not */
        writes = fuzz_tree_writes();
        r = tracker_damon_ops.probe(&ctx, &reason);
        if (fuzz_tree_writes() != writes)
                abort();
        if (r < 0) {
                if (!reason)
                        abort();
                goto out;
        }

        if (tracker_new(&tracker_damon_ops, &ctx, &t) < 0)
                goto out;
        heat_params_init_default(&params);
        if (heatmap_new(&range, 1, &params, &heat) < 0)
                abort();
        r = tracker_damon_ops.target_add(t, &target);
        if (r >= 0) {
                added = true;
                for (int cycle = 0; cycle < 2; cycle++) {
                        heatmap_cycle_begin(heat);
                        (void) tracker_damon_ops.check_accesses(t, &target, heat);
                        (void) heatmap_cycle_end(heat);
                        (void) tracker_damon_ops.prepare_access_checks(t, &target);
                }
                (void) tracker_damon_ops.target_valid(t, &target);
                tracker_damon_ops.target_remove(t, &target);
                if (target.data)
                        abort();
        } else if (target.data)
                abort();
        t = tracker_free(t);

        /* the kdamond vtism made is gone again */
        if (added && (read_line_at(fuzz_tree_root(), slots[0], &nr) < 0 || !streq(nr, "0")))
                abort();
out:
        heatmap_free(heat);
        tracker_free(t);
        fuzz_fields_done(&f);
        return 0;
}
