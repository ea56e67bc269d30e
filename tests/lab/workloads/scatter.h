/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Scattered hot sets, shared by the lab workloads (memhog --scatter, vtguest scatter=) and the
 * scorer (tracker-check): a hot window is cut into units of unit_pages 4 KiB pages, and unit u
 * (counted from the window's start) is hot when scatter_hot(seed, u, per1024), i.e. for about
 * per1024 units in 1024, spread by a hash: no two runs of hot units line up with anything a
 * region-based tracker could isolate. Of a hot unit the workload touches one page,
 * scatter_page(seed, u, unit_pages) (a whole unit counts as hot: with 2 MiB units this is "one
 * write anywhere in a huge page"). At a phase shift the seed becomes seed + 1.
 *
 * 32-bit arithmetic only: vtguest is a 32-bit freestanding kernel.
 */

#include <stdbool.h>
#include <stdint.h>

static inline uint32_t scatter_mix(uint32_t x) {
        /* xor-shift-multiply rounds (the MurmurHash3 finaliser's constants) */
        x ^= x >> 16;
        x *= 0x85ebca6bu;
        x ^= x >> 13;
        x *= 0xc2b2ae35u;
        x ^= x >> 16;
        return x;
}

static inline bool scatter_hot(uint32_t seed, uint32_t unit, uint32_t per1024) {
        return (scatter_mix(unit ^ scatter_mix(seed + 0x9e3779b9u)) & 1023u) < per1024;
}

static inline uint32_t scatter_page(uint32_t seed, uint32_t unit, uint32_t unit_pages) {
        return unit_pages <= 1 ? 0 : scatter_mix(unit + seed * 0x27d4eb2fu) % unit_pages;
}
