/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pid -> value, open addressing with linear probing (pid-index.h). */
#include <errno.h>
#include <stdlib.h>

#include "vtism/macro.h"
#include "vtism/pid-index.h"

_Static_assert(sizeof(PidIndexSlot) == 8, "a slot is 8 bytes (the memory cost in pid-index.h)");

/* The pid's home slot: the top bits of pid * 2^64/phi, so that pids in a row land far apart. */
static size_t home_slot(const PidIndex *x, pid_t pid) {
        unsigned bits = (unsigned) __builtin_ctzll((unsigned long long) x->n_slots);

        return (size_t) (((uint64_t) (uint32_t) pid * UINT64_C(0x9e3779b97f4a7c15)) >> (64 - bits));
}

/* The slot that holds pid, or the empty slot that ends its probe run (there always is one: at
 * most 3/4 of the slots are used). x must have slots. */
static size_t probe(const PidIndex *x, pid_t pid) {
        size_t mask = x->n_slots - 1, i = home_slot(x, pid);

        while (x->slots[i].pid != 0 && x->slots[i].pid != pid)
                i = (i + 1) & mask;
        return i;
}

static void rehash(PidIndex *x, size_t n_slots) {
        PidIndexSlot *old = x->slots;
        size_t n_old = x->n_slots;

        x->slots = xcalloc(n_slots, sizeof(PidIndexSlot));
        x->n_slots = n_slots;
        for (size_t i = 0; i < n_old; i++)
                if (old[i].pid != 0)
                        x->slots[probe(x, old[i].pid)] = old[i];
        free(old);
}

static bool valid(pid_t pid, size_t value) {
        return pid > 0 && value <= UINT32_MAX;
}

int pid_index_add(PidIndex *x, pid_t pid, size_t value) {
        size_t i;

        if (!valid(pid, value))
                return -EINVAL;
        if (x->n_slots == 0)
                rehash(x, PID_INDEX_MIN_SLOTS);
        i = probe(x, pid);
        if (x->slots[i].pid == pid)
                return -EEXIST;
        if (4 * (x->n + 1) > 3 * x->n_slots) {
                rehash(x, 2 * x->n_slots);
                i = probe(x, pid);
        }
        x->slots[i] = (PidIndexSlot) { .pid = pid, .value = (uint32_t) value };
        x->n++;
        return 0;
}

int pid_index_set(PidIndex *x, pid_t pid, size_t value) {
        size_t i;

        if (!valid(pid, value))
                return -EINVAL;
        if (x->n == 0)
                return -ENOENT;
        i = probe(x, pid);
        if (x->slots[i].pid != pid)
                return -ENOENT;
        x->slots[i].value = (uint32_t) value;
        return 0;
}

bool pid_index_get(const PidIndex *x, pid_t pid, size_t *ret) {
        size_t i;

        if (x->n == 0 || pid <= 0)
                return false;
        i = probe(x, pid);
        if (x->slots[i].pid != pid)
                return false;
        if (ret)
                *ret = x->slots[i].value;
        return true;
}

int pid_index_remove(PidIndex *x, pid_t pid) {
        size_t mask, hole;

        if (x->n == 0 || pid <= 0)
                return -ENOENT;
        mask = x->n_slots - 1;
        hole = probe(x, pid);
        if (x->slots[hole].pid != pid)
                return -ENOENT;
        /* Shift back what follows in the run: an entry may fill the hole unless its home lies
         * after the hole (cyclically in (hole, j]), where a lookup would no longer reach it. */
        for (size_t j = (hole + 1) & mask; x->slots[j].pid != 0; j = (j + 1) & mask)
                if (((j - home_slot(x, x->slots[j].pid)) & mask) >= ((j - hole) & mask)) {
                        x->slots[hole] = x->slots[j];
                        hole = j;
                }
        x->slots[hole] = (PidIndexSlot) {};
        x->n--;
        if (x->n == 0)
                pid_index_clear(x);
        else if (x->n_slots > PID_INDEX_MIN_SLOTS && 4 * x->n < x->n_slots)
                rehash(x, x->n_slots / 2);
        return 0;
}

void pid_index_clear(PidIndex *x) {
        free(x->slots);
        *x = (PidIndex) {};
}
