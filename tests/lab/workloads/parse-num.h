/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * parse_num(): a command-line number for the lab's page tools (numa-where, bench/h2h-move):
 * decimal or 0x hex, with an optional K, M or G suffix (binary units). Returns 0 and sets *ret,
 * or -EINVAL (nothing parsed, trailing characters, out of range) and leaves *ret alone.
 */
#pragma once

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

static inline int parse_num(const char *s, uint64_t *ret) {
        char *end;
        uint64_t v;

        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno || end == s)
                return -EINVAL;
        switch (*end) {
        case 'K': v <<= 10; end++; break;
        case 'M': v <<= 20; end++; break;
        case 'G': v <<= 30; end++; break;
        default: break;
        }
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}
