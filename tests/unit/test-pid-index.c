/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pid index (pid-index.h), against a plain array of values by pid:
 *   1. the calls' contracts: empty, invalid pids and values, a pid added twice, unknown pids;
 *   2. a pid reused: removed and added again with another value;
 *   3. removal in the middle of a probe run: pids that share a home slot, and a pid homed in the
 *      run's next slot, removed first, in the middle and last, each survivor still found;
 *   4. growth and shrinking: 100,000 pids in a row (as a burst of new processes has them), then
 *      a burst of removals in random order, the table's size a power of two in its bounds after
 *      every call, every pid found with its value, no probe run longer than a small bound;
 *   5. 400,000 random adds, sets and removals over 3,000 pids, checked after each call.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "splitmix.h"
#include "vtism/pid-index.h"

#define NO_VALUE SIZE_MAX

/* The slot count's bounds (pid-index.h): a power of two, <= 3/4 used, >= 1/4 but at the minimum. */
static void check_shape(const PidIndex *x) {
        if (x->n == 0) {
                check(!x->slots && x->n_slots == 0);
                return;
        }
        check(x->slots);
        check(x->n_slots >= PID_INDEX_MIN_SLOTS && (x->n_slots & (x->n_slots - 1)) == 0);
        check(4 * x->n <= 3 * x->n_slots);
        check(x->n_slots == PID_INDEX_MIN_SLOTS || 4 * x->n >= x->n_slots);
}

/* Every pid 1..n_ref is in x exactly when ref says so, with ref's value; x holds no other. */
static void check_all(const PidIndex *x, const size_t *ref, size_t n_ref) {
        size_t n = 0, used = 0;

        check_shape(x);
        for (size_t p = 1; p <= n_ref; p++) {
                size_t v = 12345;
                bool in = pid_index_get(x, (pid_t) p, &v);

                check(in == (ref[p] != NO_VALUE));
                if (in) {
                        check_u64(v, ref[p]);
                        n++;
                } else
                        check_u64(v, 12345); /* untouched */
        }
        check_u64(x->n, n);
        for (size_t i = 0; i < x->n_slots; i++)
                used += x->slots[i].pid != 0;
        check_u64(used, n);
}

/* The longest run of used slots before a used slot: a bound on how far a lookup walks. */
static size_t longest_probe(const PidIndex *x) {
        size_t worst = 0;

        for (size_t i = 0; i < x->n_slots; i++) {
                pid_t p = x->slots[i].pid;
                size_t d = 0;

                if (p == 0)
                        continue;
                while (x->slots[(i - d - 1) & (x->n_slots - 1)].pid != 0 && d < x->n_slots)
                        d++;
                if (d > worst)
                        worst = d;
        }
        return worst;
}

static void test_contracts(void) {
        PidIndex x = {};
        size_t v = 7;

        check(!pid_index_get(&x, 1, &v));
        check_u64(v, 7);
        check_int(pid_index_remove(&x, 1), -ENOENT);
        check_int(pid_index_set(&x, 1, 3), -ENOENT);
        check_int(pid_index_add(&x, 0, 1), -EINVAL);
        check_int(pid_index_add(&x, -5, 1), -EINVAL);
        check_int(pid_index_add(&x, 5, (size_t) UINT32_MAX + 1), -EINVAL);
        check(!x.slots && x.n == 0);

        check_int(pid_index_add(&x, 5, UINT32_MAX), 0);
        check(pid_index_get(&x, 5, &v));
        check_u64(v, UINT32_MAX);
        check(pid_index_get(&x, 5, NULL));
        check_int(pid_index_add(&x, 5, 9), -EEXIST);
        check(pid_index_get(&x, 5, &v));
        check_u64(v, UINT32_MAX); /* a second add changes nothing */
        check_int(pid_index_set(&x, 5, 9), 0);
        check(pid_index_get(&x, 5, &v));
        check_u64(v, 9);
        check_int(pid_index_set(&x, 6, 9), -ENOENT);
        check_int(pid_index_set(&x, 5, (size_t) UINT32_MAX + 1), -EINVAL);
        check(!pid_index_get(&x, 0, NULL) && !pid_index_get(&x, -5, NULL) && !pid_index_get(&x, 6, NULL));
        check_int(pid_index_remove(&x, 6), -ENOENT);
        check_int(pid_index_remove(&x, 0), -ENOENT);
        check_u64(x.n, 1);
        check_int(pid_index_remove(&x, 5), 0);
        check(!x.slots && x.n == 0 && x.n_slots == 0); /* freed when empty */
        check(!pid_index_get(&x, 5, NULL));
        pid_index_clear(&x);
        pid_index_clear(&x); /* twice: harmless */
        printf("1. contracts: invalid pids and values, twice, unknown, empty\n");
}

static void test_reuse(void) {
        PidIndex x = {};
        size_t v;

        check_int(pid_index_add(&x, 4242, 1), 0);
        check_int(pid_index_add(&x, 4243, 2), 0);
        check_int(pid_index_remove(&x, 4242), 0);
        check(!pid_index_get(&x, 4242, NULL));
        check_int(pid_index_add(&x, 4242, 3), 0); /* a new process with the old one's pid */
        check(pid_index_get(&x, 4242, &v));
        check_u64(v, 3);
        check(pid_index_get(&x, 4243, &v));
        check_u64(v, 2);
        check_u64(x.n, 2);
        pid_index_clear(&x);
        printf("2. a pid reused: removed and added again, found with its new value\n");
}

/* Where pid goes in the smallest table when it is alone there: its home slot. */
static size_t home_of(pid_t pid) {
        PidIndex x = {};
        size_t i;

        check_int(pid_index_add(&x, pid, 0), 0);
        check_u64(x.n_slots, PID_INDEX_MIN_SLOTS);
        for (i = 0; x.slots[i].pid != pid; i++)
                ;
        pid_index_clear(&x);
        return i;
}

/* n pids above after homed at slot home of the smallest table. */
static void pids_homed_at(size_t home, pid_t after, pid_t *ret, size_t n) {
        for (pid_t p = after + 1; n > 0; p++)
                if (home_of(p) == home) {
                        *ret++ = p;
                        n--;
                }
}

static void test_remove_in_run(void) {
        static const unsigned orders[][4] = {
                { 0, 1, 2, 3 }, { 1, 0, 2, 3 }, { 2, 1, 3, 0 }, { 3, 2, 1, 0 }, { 1, 3, 0, 2 },
        };
        pid_t same[3], next[1];

        /* in the minimal table (16 slots, at most 12 used): three pids homed at slot 15, the last
         * slot (their run wraps around to slots 0 and 1), one homed at slot 0 (pushed to 2) */
        pids_homed_at(PID_INDEX_MIN_SLOTS - 1, 100, same, 3);
        pids_homed_at(0, 100, next, 1);
        for (size_t o = 0; o < ELEMENTSOF(orders); o++) {
                pid_t pids[4] = { same[0], same[1], same[2], next[0] };
                PidIndex x = {};

                for (size_t i = 0; i < 4; i++)
                        check_int(pid_index_add(&x, pids[i], i), 0);
                check_u64(x.n_slots, PID_INDEX_MIN_SLOTS);
                check(x.slots[PID_INDEX_MIN_SLOTS - 1].pid == same[0] && x.slots[0].pid == same[1] &&
                      x.slots[1].pid == same[2] && x.slots[2].pid == next[0]);
                for (size_t r = 0; r < 4; r++) {
                        unsigned gone = orders[o][r];

                        check_int(pid_index_remove(&x, pids[gone]), 0);
                        pids[gone] = 0;
                        for (size_t i = 0; i < 4; i++) {
                                size_t v;

                                if (pids[i] == 0)
                                        continue;
                                check(pid_index_get(&x, pids[i], &v));
                                check_u64(v, i);
                        }
                }
                check(!x.slots);
        }
        printf("3. removal in the middle of a probe run (wrapping around the table): pids %d %d %d homed at slot 15, "
               "%d at 0, removed in %zu orders\n",
               (int) same[0], (int) same[1], (int) same[2], (int) next[0], ELEMENTSOF(orders));
}

static void test_growth(void) {
        const size_t n = 100000, base = 300000;
        size_t *ref = xcalloc(base + n + 1, sizeof(size_t)), *order = xcalloc(n, sizeof(size_t));
        size_t grown = 0, shrunk = 0, last_slots = 0, worst_probe;
        uint64_t seed = 10;
        PidIndex x = {};

        for (size_t p = 0; p <= base + n; p++)
                ref[p] = NO_VALUE;
        for (size_t k = 0; k < n; k++) {
                pid_t p = (pid_t) (base + 1 + k);

                check_int(pid_index_add(&x, p, k), 0);
                ref[p] = k;
                check_shape(&x);
                if (x.n_slots != last_slots)
                        grown++;
                last_slots = x.n_slots;
        }
        check_all(&x, ref, base + n);
        check_u64(x.n_slots, 256 * 1024); /* 100,000 > 3/4 of 128 Ki */
        worst_probe = longest_probe(&x);
        check(worst_probe < 64);

        for (size_t k = 0; k < n; k++)
                order[k] = k;
        for (size_t k = n - 1; k > 0; k--) {
                size_t j = (size_t) (splitmix64(&seed) % (k + 1)), t = order[k];

                order[k] = order[j];
                order[j] = t;
        }
        for (size_t k = 0; k < n; k++) {
                pid_t p = (pid_t) (base + 1 + order[k]);

                check_int(pid_index_remove(&x, p), 0);
                ref[p] = NO_VALUE;
                check_shape(&x);
                if (x.n_slots != last_slots)
                        shrunk++;
                last_slots = x.n_slots;
                if (k % 9973 == 0)
                        check_all(&x, ref, base + n);
        }
        check(!x.slots && x.n == 0);
        check_u64(grown, 15); /* 16 slots, then 14 doublings to 256 Ki */
        check_u64(shrunk, 15);
        free(ref);
        free(order);
        printf("4. 100,000 pids in a row: grew 14 times to 262,144 slots, longest probe run %zu; "
               "removed in random order: shrank back and freed\n",
               worst_probe);
}

static void test_random(void) {
        const size_t n_pids = 3000;
        size_t *ref = xcalloc(n_pids + 1, sizeof(size_t));
        size_t resized = 0, last_slots = 0;
        uint64_t seed = 77;
        PidIndex x = {};

        for (size_t p = 0; p <= n_pids; p++)
                ref[p] = NO_VALUE;
        for (size_t step = 0; step < 400000; step++) {
                uint64_t r = splitmix64(&seed);
                /* phases that fill and drain, so that the table grows and shrinks many times */
                bool filling = (step / 50000) % 2 == 0;
                pid_t p = (pid_t) (1 + r % n_pids);
                unsigned op = (unsigned) ((r >> 32) % 10);
                size_t v = (size_t) (r >> 40), got;

                if (op < (filling ? 6u : 2u)) {
                        check_int(pid_index_add(&x, p, v), ref[p] == NO_VALUE ? 0 : -EEXIST);
                        if (ref[p] == NO_VALUE)
                                ref[p] = v;
                } else if (op < 4 + (filling ? 2u : 0u)) {
                        check_int(pid_index_set(&x, p, v), ref[p] == NO_VALUE ? -ENOENT : 0);
                        if (ref[p] != NO_VALUE)
                                ref[p] = v;
                } else {
                        check_int(pid_index_remove(&x, p), ref[p] == NO_VALUE ? -ENOENT : 0);
                        ref[p] = NO_VALUE;
                }
                check_shape(&x);
                resized += x.n_slots != last_slots;
                last_slots = x.n_slots;
                check(pid_index_get(&x, p, &got) == (ref[p] != NO_VALUE));
                if (ref[p] != NO_VALUE)
                        check_u64(got, ref[p]);
                if (step % 1000 == 0)
                        check_all(&x, ref, n_pids);
        }
        check_all(&x, ref, n_pids);
        check(resized >= 8); /* between about 750 and 1,800 pids: 2,048 and 4,096 slots in turn */
        pid_index_clear(&x);
        free(ref);
        printf("5. 400,000 random adds, sets and removals over 3,000 pids: as the array says after each; "
               "resized %zu times\n", resized);
}

int main(void) {
        test_contracts();
        test_reuse();
        test_remove_in_run();
        test_growth();
        test_random();
        printf("test-pid-index: OK\n");
        return EXIT_SUCCESS;
}
