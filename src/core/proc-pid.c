/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>
#include <string.h>

#include "vtism/proc-pid.h"
#include "vtism/util.h"

/* stat and status are a few hundred bytes to a few KiB; anything larger is not a proc file. */
#define PROC_SMALL_FILE_MAX_BYTES (64 * 1024)

/* Read <proc_root>/<pid>/<name> whole, at most max bytes (-E2BIG beyond). */
static int read_pid_file(const char *proc_root, pid_t pid, const char *name, size_t max, char **ret,
                         size_t *ret_size) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (pid <= 0)
                return -ESRCH;
        path = xasprintf("%d/%s", (int) pid, name);
        r = read_file_at_max(proc_root ?: "/proc", path, max, ret, ret_size);
        if (r == -EFBIG)
                return -E2BIG;
        /* A missing directory or file, or a task that exited while we read it. */
        return r == -ENOENT || r == -ESRCH ? -ESRCH : r;
}

int proc_cmdline_split(const char *buf, size_t size, ProcCmdline **ret) {
        ProcCmdline *c;
        size_t n = 0;

        if (size == 0)
                return -ENODATA;

        c = xcalloc(1, sizeof(ProcCmdline));
        c->buf = xmalloc(size + 1);
        memcpy(c->buf, buf, size);
        c->buf[size] = 0;
        c->size = size;

        /* Arguments end at a NUL; the last one may lack its NUL (a rewritten argv area). */
        for (size_t i = 0; i < size; i++)
                if (c->buf[i] == 0)
                        n++;
        if (c->buf[size - 1] != 0)
                n++;
        c->argv = xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < size; i += strlen(c->buf + i) + 1)
                c->argv[c->argc++] = c->buf + i;
        *ret = c;
        return 0;
}

ProcCmdline *proc_cmdline_free(ProcCmdline *c) {
        if (!c)
                return NULL;
        free(c->argv);
        free(c->buf);
        free(c);
        return NULL;
}

char *proc_cmdline_join(const ProcCmdline *c) {
        char *s = xmalloc(c->size + 1), *p = s;

        /* Each argument and its separator take exactly the bytes they had in the file. */
        for (size_t i = 0; i < c->argc; i++) {
                size_t l = strlen(c->argv[i]);

                if (i > 0)
                        *p++ = ' ';
                memcpy(p, c->argv[i], l);
                p += l;
        }
        *p = 0;
        return s;
}

int proc_pid_cmdline(const char *proc_root, pid_t pid, ProcCmdline **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size;
        int r;

        r = read_pid_file(proc_root, pid, "cmdline", PROC_CMDLINE_MAX_BYTES, &buf, &size);
        if (r < 0)
                return r;
        return proc_cmdline_split(buf, size, ret);
}

int proc_pid_stat(const char *proc_root, pid_t pid, ProcPidStat *ret) {
        _cleanup_free_ char *buf = NULL;
        unsigned long long start_time;
        unsigned flags;
        const char *p;
        size_t size;
        char state;
        int ppid, r;

        r = read_pid_file(proc_root, pid, "stat", PROC_SMALL_FILE_MAX_BYTES, &buf, &size);
        if (r < 0)
                return r;
        if (size == 0)
                return -ESRCH; /* read after the task was released */
        if (strlen(buf) != size)
                return -EIO;

        /* "PID (COMM) STATE PPID ...": COMM may hold anything, even ") 1 2": the fields start
         * after the last ')'. */
        p = strrchr(buf, ')');
        if (!p)
                return -EIO;
        /* state, ppid, pgrp, session, tty_nr, tpgid, flags */
        if (sscanf(p + 1, " %c %d %*d %*d %*d %*d %u", &state, &ppid, &flags) != 3)
                return -EIO;
        /* Fields 3..21 are separated by single spaces; field 22 follows the 19th space. */
        p++;
        for (int field = 3; field <= 21; field++) {
                p = strchr(p + 1, ' ');
                if (!p)
                        return -EIO;
        }
        if (sscanf(p, " %llu", &start_time) != 1)
                return -EIO;

        *ret = (ProcPidStat) {
                .state = state,
                .ppid = (pid_t) ppid,
                .flags = flags,
                .start_time = start_time,
        };
        return 0;
}

int proc_pid_start_time(const char *proc_root, pid_t pid, unsigned long long *ret) {
        ProcPidStat st;
        int r;

        r = proc_pid_stat(proc_root, pid, &st);
        if (r < 0)
                return r;
        *ret = st.start_time;
        return 0;
}

int proc_pid_stat_check(const ProcPidStat *st, unsigned long long start_time) {
        if (st->start_time != start_time)
                return -ESRCH; /* the pid was reused */
        if (st->state == 'Z' || st->state == 'X')
                return -ESRCH; /* exited, not reaped yet: its memory is gone */
        if (st->flags & PROC_PF_EXITING)
                return -ESRCH; /* exiting: past exit_mm() its memory is gone, and its state is
                                * still R or D until it is a zombie (lab-soak saw a read of
                                * idle_pages fail in that window) */
        return 0;
}

int proc_pid_check(const char *proc_root, pid_t pid, unsigned long long start_time) {
        ProcPidStat st;
        int r;

        r = proc_pid_stat(proc_root, pid, &st);
        if (r < 0)
                return r;
        return proc_pid_stat_check(&st, start_time);
}

int proc_pid_uid(const char *proc_root, pid_t pid, uid_t *ret) {
        _cleanup_free_ char *buf = NULL;
        unsigned long uid;
        const char *p;
        size_t size;
        int r;

        r = read_pid_file(proc_root, pid, "status", PROC_SMALL_FILE_MAX_BYTES, &buf, &size);
        if (r < 0)
                return r;
        /* "Name:" comes first and holds the command name, which may contain "\nUid:": the
         * kernel escapes newlines there ("\n" as two characters), so a line start is real. */
        p = strstr(buf, "\nUid:");
        if (!p || sscanf(p + 5, "%lu", &uid) != 1)
                return -EIO;
        *ret = (uid_t) uid;
        return 0;
}

int proc_pid_mems_allowed(const char *proc_root, pid_t pid, int **ret_nodes, size_t *ret_n) {
        _cleanup_free_ char *buf = NULL, *list = NULL;
        const char *p;
        size_t size, len;
        int r;

        r = read_pid_file(proc_root, pid, "status", PROC_SMALL_FILE_MAX_BYTES, &buf, &size);
        if (r < 0)
                return r;
        /* as for Uid: a line start is real (the command name cannot hold a newline) */
        p = strstr(buf, "\nMems_allowed_list:");
        if (!p)
                return -EIO;
        p += strlen("\nMems_allowed_list:");
        p += strspn(p, " \t");
        len = strcspn(p, "\n");
        list = strndup(p, len);
        if (!list)
                oom();
        r = parse_int_list(list, ret_nodes, ret_n);
        return r < 0 ? -EIO : 0;
}
