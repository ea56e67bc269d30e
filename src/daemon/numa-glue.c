/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libnuma calls numa_error()/numa_warn() on failures and its default numa_error() may exit the
 * process. These strong definitions replace the weak library ones: log, never exit.
 */
#include <numa.h>
#include <stdarg.h>
#include <stdio.h>

#include "vtism/log.h"

void numa_error(char *where) {
        log_debug_errno(errno, "libnuma: %s: %m", where);
}

_printf_(2, 3) void numa_warn(int number, char *where, ...) {
        char buf[512];
        va_list ap;

        va_start(ap, where);
        vsnprintf(buf, sizeof(buf), where, ap);
        va_end(ap);
        log_debug("libnuma warning %d: %s", number, buf);
}
