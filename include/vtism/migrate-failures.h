/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Why a page failed to move, one line per reason. Every list of the reasons is made from this
 * one: the migrator's MigratorFailure and its names (migrator.h), the keys pages_failed_KEY of
 * the Counters and VMs records (bus-api.h, bus.c), their metrics (metrics.c) and vtismctl's
 * "failed: busy 3, gone 2". Adding a reason is one line here, in the place it should take in
 * each of those lists (then say in vtismd(8) what its key counts). The order is free: the bus
 * knows keys by name.
 *
 * X(ID, WORD, KEY, WHAT): MIGRATOR_FAIL_ID; its name in words ("not-allowed"); the suffix of its
 * bus key and metric names (pages_failed_not_allowed, vtism_migration_failed_not_allowed_pages_total);
 * what the pages are, after "Pages " or "The VM's pages " in the metrics' help.
 */
#define MIGRATE_FAILURES(X)                                                                            \
        /* -EBUSY (or left unmoved by a partial call) after every retry */                             \
        X(BUSY, "busy", "busy", "still busy after their retries.")                                    \
        /* -ENOMEM: the target node ran out of memory */                                               \
        X(NOMEM, "nomem", "nomem", "not moved because the target node was full.")                     \
        /* -EFAULT, -ENOENT: not mapped, not present, zero page */                                     \
        X(GONE, "gone", "gone", "unmapped or not present any more when moved.")                       \
        /* -EACCES: mapped by other processes too */                                                   \
        X(SHARED, "shared", "shared", "not moved because other processes map them too.")              \
        /* the target node is not in the VM's allowed memory nodes */                                  \
        X(NOT_ALLOWED, "not-allowed", "not_allowed",                                                   \
          "not moved because the target node is outside the process's cpuset.mems.")                  \
        X(OTHER, "other", "other", "that failed to move for any other reason.")                       \
        /* not handed over: the target node's free memory reached its floor (migrator_set_floor(), \
         * checked before every batch) */                                                              \
        X(FLOOR, "floor", "floor",                                                                     \
          "not moved because the target node reached its free-memory floor (dram_min_free_percent, demotion_min_free_ratio).")
