/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * A map from pid to a small value (an index into an array), pure: what the manager uses to find
 * the VM of a QEMU pid (m->vm_pids: pid -> its place in m->vms). A linear scan of the VMs per VM
 * event made a burst of n events O(n^2): 0.82 s of a 0.87 s burst at 30,000 VMs
 * (bench/README.md, identity-bench); with the index an event's lookup is O(1) expected.
 *
 * Open addressing with linear probing, the pid hashed by a multiplicative (Fibonacci) hash, so
 * that consecutive pids spread over the table; removal shifts the entries of its probe run back
 * (no tombstones: lookups stay short however many pids came and went). A pid is a key once: the
 * caller decides what a reused pid means (the manager: the VM that has it now, whatever its start
 * time, exactly as its scan did). Pids are > 0, values at most UINT32_MAX.
 *
 * Memory: 8 bytes a slot, a power of two of them, at least 16 (128 bytes) once anything is in it,
 * nothing when empty. The table doubles when more than 3/4 of its slots would be used and halves
 * when fewer than 1/4 are: 10.7 to 32 bytes per pid (21.3 right after it grew, 16 right after it
 * shrank). Growing or shrinking rehashes every pid, O(n), amortised O(1) per insertion or removal.
 */

typedef struct PidIndexSlot {
        pid_t pid;              /* 0: empty */
        uint32_t value;
} PidIndexSlot;

typedef struct PidIndex {
        PidIndexSlot *slots;    /* NULL when empty */
        size_t n_slots;         /* 0, or a power of two >= PID_INDEX_MIN_SLOTS */
        size_t n;               /* pids in it */
} PidIndex;

#define PID_INDEX_MIN_SLOTS 16u

/* 0; -EEXIST if pid is in it already (its value unchanged), -EINVAL for pid <= 0 or a value
 * above UINT32_MAX. */
int pid_index_add(PidIndex *x, pid_t pid, size_t value);
/* pid's new value: 0; -ENOENT if pid is not in it, -EINVAL as above. */
int pid_index_set(PidIndex *x, pid_t pid, size_t value);
/* Whether pid is in it; its value in *ret (if non-NULL) when it is. */
bool pid_index_get(const PidIndex *x, pid_t pid, size_t *ret);
/* 0; -ENOENT if pid is not in it. */
int pid_index_remove(PidIndex *x, pid_t pid);
/* Empty again, its memory freed. */
void pid_index_clear(PidIndex *x);
