/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The lab test programs' failure reporting: every failed check is printed, the program goes on
 * and exits non-zero at the end if n_failed > 0. */
#pragma once

#include <stdarg.h>
#include <stdio.h>

#include "vtism/macro.h"

static unsigned n_failed;

_printf_(1, 2) static inline void fail(const char *fmt, ...) {
        va_list ap;

        fputs("FAIL: ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        n_failed++;
}
