/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "vtism/config.h"
#include "vtism/log.h"

static int max_level = LOG_INFO;
static bool to_journal = false;
static bool stderr_journal = false; /* stderr is a journal stream: "<N>" prefixes set the priority */
static const char *identifier = "vtismd";
static const char *journal_socket = "/run/systemd/journal/socket"; /* sd_journal_sendv()'s */

/* True when systemd connected our stderr to the journal (see systemd.exec(5), $JOURNAL_STREAM). */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void log_set_journal_socket(const char *path) {
        journal_socket = path;
}

void log_setup(const char *ident, LogTarget target) {
        if (ident)
                identifier = ident;
        stderr_journal = stderr_is_journal();
        switch (target) {
        case LOG_TARGET_JOURNAL:
                to_journal = true;
                break;
        case LOG_TARGET_CONSOLE:
                to_journal = false;
                break;
        case LOG_TARGET_AUTO:
        default:
                to_journal = stderr_journal;
        }
}

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

_printf_(8, 0) static int log_dispatch(int level, int error, const char *file, int line, const char *func,
                                       const LogField *fields, size_t n_fields, const char *fmt, va_list ap) {
        char msg[2048];
        int saved = errno;

        if (error < 0)
                error = -error;
        if (level > max_level)
                return -error;

        errno = error;
        vsnprintf(msg, sizeof(msg), fmt, ap);

        /* Without journald (no socket: a container, early boot, a sandbox hiding /run) or when it
         * refuses the message, the line goes to stderr rather than nowhere. */
        if (to_journal && access(journal_socket, F_OK) >= 0) {
                size_t n = 0, max = 8 + n_fields;
                int r;
                struct iovec iov[max];
                char *strs[max];

                strs[n++] = xasprintf("MESSAGE=%s", msg);
                strs[n++] = xasprintf("PRIORITY=%d", level);
                strs[n++] = xasprintf("SYSLOG_IDENTIFIER=%s", identifier);
                strs[n++] = xasprintf("CODE_FILE=%s", file);
                strs[n++] = xasprintf("CODE_LINE=%d", line);
                strs[n++] = xasprintf("CODE_FUNC=%s", func);
                if (error > 0)
                        strs[n++] = xasprintf("ERRNO=%d", error);
                for (size_t i = 0; i < n_fields; i++)
                        if (fields[i].value)
                                strs[n++] = xasprintf("%s=%s", fields[i].key, fields[i].value);
                for (size_t i = 0; i < n; i++)
                        iov[i] = (struct iovec) { .iov_base = strs[i], .iov_len = strlen(strs[i]) };
                r = sd_journal_sendv(iov, (int) n);
                for (size_t i = 0; i < n; i++)
                        free(strs[i]);
                if (r >= 0) {
                        errno = saved;
                        return -error;
                }
        }

        if (stderr_journal)
                fprintf(stderr, "<%d>%s\n", level, msg); /* journald takes the priority from the prefix */
        else
                fprintf(stderr, "%s: %s: %s\n", identifier, log_level_to_string(level) ?: "log", msg);

        errno = saved;
        return -error;
}

int log_internal(int level, int error, const char *file, int line, const char *func, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = log_dispatch(level, error, file, line, func, NULL, 0, fmt, ap);
        va_end(ap);
        return r;
}

int log_internal_fields(int level, int error, const char *file, int line, const char *func,
                        const LogField *fields, size_t n_fields, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = log_dispatch(level, error, file, line, func, fields, n_fields, fmt, ap);
        va_end(ap);
        return r;
}
