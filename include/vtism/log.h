/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>
#include <syslog.h>

#include "vtism/macro.h"

/*
 * Daemon-side logging. Under systemd (JOURNAL_STREAM names our stderr) messages go to the journal
 * with structured fields; otherwise to stderr as "vtismd: LEVEL: message" (LEVEL err, warning,
 * notice, info or debug). When the journal cannot take a message (its socket is absent, or it
 * refuses), the message goes to stderr instead: "<N>message" if stderr is a journal stream (the
 * prefix carries the priority), else as above. The pure core never logs.
 */

typedef enum LogTarget {
        LOG_TARGET_AUTO,
        LOG_TARGET_CONSOLE,
        LOG_TARGET_JOURNAL,
} LogTarget;

typedef struct LogField {
        const char *key;   /* e.g. "VTISM_VM" */
        const char *value;
} LogField;

void log_setup(const char *ident, LogTarget target);
/* Where the journal's native socket is looked for (tests); default /run/systemd/journal/socket. */
void log_set_journal_socket(const char *path);
void log_set_max_level(int level);
int log_get_max_level(void);

/* Returns -abs(error) (or 0 if error is 0) so callers can "return log_error_errno(r, ...)".
 * errno is set to error while formatting, so "%m" names it. */
_printf_(6, 7) int log_internal(int level, int error, const char *file, int line, const char *func,
                                const char *fmt, ...);
_printf_(8, 9) int log_internal_fields(int level, int error, const char *file, int line, const char *func,
                                       const LogField *fields, size_t n_fields, const char *fmt, ...);

#define log_full_errno(level, error, ...) log_internal(level, error, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_full(level, ...) log_full_errno(level, 0, __VA_ARGS__)
#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)

/* With structured journal fields: log_fields(LOG_INFO, FIELDS({"VTISM_VM", id}), "…", …) */
#define FIELDS(...) ((const LogField[]){ __VA_ARGS__ }), \
        (sizeof((const LogField[]){ __VA_ARGS__ }) / sizeof(LogField))
#define log_fields(level, fields_and_n, ...) \
        log_internal_fields(level, 0, __FILE__, __LINE__, __func__, fields_and_n, __VA_ARGS__)
