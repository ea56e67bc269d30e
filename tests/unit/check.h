/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The unit tests' few assertion macros: print where and what, exit 1. Exit 77 means skip. */
#pragma once

#include <stdio.h>
#include <stdlib.h>

#include "vtism/util.h"

/* The tests' fixture directory (tests/data), which meson test passes as VTISM_TEST_DATA. A test
 * run by hand without it says so and exits 77, the skip status, rather than failing on a path. */
static inline const char *test_data_dir(void) {
        const char *d = getenv("VTISM_TEST_DATA");

        if (!d || !*d) {
                fprintf(stderr, "VTISM_TEST_DATA is not set (run me through meson test), skipping\n");
                exit(77);
        }
        return d;
}

#define check(expr)                                                                             \
        do {                                                                                    \
                if (!(expr)) {                                                                  \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr); \
                        exit(EXIT_FAILURE);                                                     \
                }                                                                               \
        } while (0)

#define check_int(a, b)                                                                         \
        do {                                                                                    \
                long long _a = (long long) (a), _b = (long long) (b);                           \
                if (_a != _b) {                                                                 \
                        fprintf(stderr, "%s:%d: %s == %lld (0x%llx), expected %s == %lld (0x%llx)\n", \
                                __FILE__, __LINE__, #a, _a, (unsigned long long) _a, #b, _b,    \
                                (unsigned long long) _b);                                       \
                        exit(EXIT_FAILURE);                                                     \
                }                                                                               \
        } while (0)

#define check_u64(a, b)                                                                         \
        do {                                                                                    \
                unsigned long long _a = (unsigned long long) (a), _b = (unsigned long long) (b); \
                if (_a != _b) {                                                                 \
                        fprintf(stderr, "%s:%d: %s == %llu (0x%llx), expected %s == %llu (0x%llx)\n", \
                                __FILE__, __LINE__, #a, _a, _a, #b, _b, _b);                    \
                        exit(EXIT_FAILURE);                                                     \
                }                                                                               \
        } while (0)

#define check_str(a, b)                                                                         \
        do {                                                                                    \
                const char *_a = (a), *_b = (b);                                                \
                if (!streq_ptr(_a, _b)) {                                                       \
                        fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__,     \
                                __LINE__, #a, _a ?: "(null)", _b ?: "(null)");                  \
                        exit(EXIT_FAILURE);                                                     \
                }                                                                               \
        } while (0)
