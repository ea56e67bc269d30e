/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

/* splitmix64: a small, fast, well-mixed generator for the tests' random cases; *state is the
 * seed and advances by one step per call, so a test's cases repeat run after run. */
static inline uint64_t splitmix64(uint64_t *state) {
        uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

/* a[0..n) = a random permutation of 0..n-1 (Fisher-Yates, from *state). */
static inline void splitmix_permutation(unsigned *a, unsigned n, uint64_t *state) {
        for (unsigned i = 0; i < n; i++)
                a[i] = i;
        for (unsigned i = n; i > 1; i--) {
                unsigned j = (unsigned) (splitmix64(state) % i), t = a[i - 1];

                a[i - 1] = a[j];
                a[j] = t;
        }
}
