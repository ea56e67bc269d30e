/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vtism/macro.h"

/*
 * The one reader of /proc/PID: a process's command line, start time, state, liveness and owner,
 * below a proc root ("/proc" in the daemon, a fixture tree in tests). Nothing else in vtism opens
 * /proc/PID/{cmdline,stat,status}.
 *
 * Errors. -ESRCH means the process is gone, and only that: its directory or file is missing, the
 * kernel answers ESRCH (the task exited while we read), it is a zombie, or — for the liveness
 * check — the pid now belongs to a process with another start time. Every other error (-EACCES,
 * -EMFILE, -ENOMEM, -EIO for a file that does not parse, ...) means "cannot tell right now":
 * callers keep what they know about the process (a VM, its heat) and ask again later.
 *
 * Everything a process controls is untrusted: its command name may hold spaces, parentheses and
 * newlines (the stat parser finds the fields after the LAST ')'), its command line any bytes (no
 * UTF-8, empty arguments, no final NUL after a rewrite of its argv area) and up to
 * PROC_CMDLINE_MAX_BYTES of them.
 *
 * Cost: each call opens and reads one small file (stat ~300 bytes, status ~1.5 KiB, cmdline its
 * size). The daemon's budget is one proc_pid_check() per VM per cycle (see manager-vms.c).
 */

/* A longer command line is refused (-E2BIG); QEMU's, even libvirt's, are a few KiB. */
#define PROC_CMDLINE_MAX_BYTES (1024 * 1024)

typedef struct ProcCmdline {
        char *buf;      /* the raw bytes, NUL-terminated one past size */
        size_t size;
        char **argv;    /* argc pointers into buf, then NULL */
        size_t argc;    /* >= 1 */
} ProcCmdline;

/* Split the NUL-separated contents of a cmdline file: "a\0\0b\0" is { "a", "", "b" }; a final
 * argument without its NUL counts too. -ENODATA for size 0 (a kernel thread or a zombie). Pure. */
int proc_cmdline_split(const char *buf, size_t size, ProcCmdline **ret);
ProcCmdline *proc_cmdline_free(ProcCmdline *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(ProcCmdline *, proc_cmdline_free);
/* The arguments joined by single spaces, as config patterns (cmdline = "...") match them. */
char *proc_cmdline_join(const ProcCmdline *c);

/* /proc/PID/cmdline: -ESRCH gone, -ENODATA empty (kernel thread, zombie), -E2BIG too long. */
int proc_pid_cmdline(const char *proc_root, pid_t pid, ProcCmdline **ret);

typedef struct ProcPidStat {
        char state;                    /* field 3: R, S, D, T, t, Z, X, I, ... */
        pid_t ppid;                    /* field 4 */
        unsigned flags;                /* field 9: the kernel's PF_* bits */
        unsigned long long start_time; /* field 22: clock ticks after boot; tells a reused pid apart */
} ProcPidStat;

/* PF_EXITING (include/linux/sched.h): the task is in do_exit(). */
#define PROC_PF_EXITING 0x00000004u

/* /proc/PID/stat: -ESRCH gone, -EIO if it does not parse. A zombie is returned (state 'Z'). */
int proc_pid_stat(const char *proc_root, pid_t pid, ProcPidStat *ret);
/* Field 22 of /proc/PID/stat (zombies included). */
int proc_pid_start_time(const char *proc_root, pid_t pid, unsigned long long *ret);

/* Is pid still the process that started at start_time? 0: yes, neither exiting nor a zombie;
 * -ESRCH: gone, exiting (PF_EXITING), a zombie, or the pid was reused; any other -errno: cannot
 * tell now (keep the process). */
int proc_pid_check(const char *proc_root, pid_t pid, unsigned long long start_time);
/* proc_pid_check() on a stat already read. Pure. */
int proc_pid_stat_check(const ProcPidStat *st, unsigned long long start_time);

/* The real uid of the process (first field of "Uid:" in /proc/PID/status). */
int proc_pid_uid(const char *proc_root, pid_t pid, uid_t *ret);

/* The NUMA nodes the process may allocate on ("Mems_allowed_list:" in /proc/PID/status, its
 * cpuset.mems: libvirt's numatune mode strict sets it), sorted. -EIO if the line is missing or
 * does not parse. */
int proc_pid_mems_allowed(const char *proc_root, pid_t pid, int **ret_nodes, size_t *ret_n);
