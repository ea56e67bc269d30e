/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The real manager on a fixture tree, cycles run by hand (test-manager-faults,
 * test-manager-libvirt) or by its own loop (test-manager-slices): a fake /proc with fixture QEMUs whose pids are real processes (children
 * that wait, so that the migrator's move_pages(2) has a process to ask), a copy of one of
 * tests/data/sysfs-* with a page_idle bitmap, a vtism.conf, and the daemon's log captured in a
 * file the test reads back (shown at exit, whatever the outcome; capture_log()).
 *
 * Each fixture QEMU has RAM_MIB of guest RAM at BASE_HVA, its first N_PRESENT pages present at
 * PFN0 + i and the rest a hole in its pagemap. Both are every page of 64 MiB unless the test
 * defines them before including this header (test-manager-slices: 4,096 pages of 64 GiB).
 */
#pragma once

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"
#include "tmptree.h"
#include "vtism/log.h"
#include "vtism/manager.h"
#include "vtism/tracker.h"
#include "vtism/util.h"

#define BASE_HVA UINT64_C(0x40000000)
#ifndef RAM_MIB
#define RAM_MIB 64u
#endif
#define N_PAGES (RAM_MIB * 256u)
#ifndef N_PRESENT
#define N_PRESENT N_PAGES
#endif
#define PFN0 UINT64_C(0x10000)

static char *root;
static char *proc_root, *sysfs_root;
static int real_stderr = -EBADF;
static char *log_path;

/* pid's pagemap: N_PRESENT pages present, then a hole to the end of its RAM_MIB. */
static inline void write_pagemap(pid_t pid) {
        _cleanup_free_ uint64_t *present = xcalloc(N_PRESENT, sizeof(uint64_t));
        _cleanup_free_ char *p = xasprintf("%s/%d/pagemap", proc_root, (int) pid);

        for (unsigned i = 0; i < N_PRESENT; i++)
                present[i] = (UINT64_C(1) << 63) | (PFN0 + i);
        fixture_write_at(p, present, N_PRESENT * sizeof(uint64_t), BASE_HVA / 4096 * 8);
        check(truncate(p, (off_t) ((BASE_HVA + (uint64_t) RAM_MIB * MIB) / 4096 * 8)) == 0);
}

/* The tree under /tmp (name: the test's), with tests/data/SYSFS as /sys and conf as vtism.conf. */
static inline void build_fixture(const char *name, const char *sysfs, const char *conf) {
        _cleanup_free_ char *from = NULL, *bitmap = NULL, *kpageflags = NULL;
        uint64_t zero = 0;

        from = xasprintf("%s/%s", test_data_dir(), sysfs);
        root = tmptree_new(name);
        proc_root = xasprintf("%s/proc", root);
        sysfs_root = xasprintf("%s/sys", root);
        check(mkdir(proc_root, 0755) == 0);
        check(mkdir(sysfs_root, 0755) == 0);
        tmptree_copy(from, sysfs_root);

        tmptree_parents(sysfs_root, "kernel/mm/page_idle/bitmap");
        bitmap = xasprintf("%s/kernel/mm/page_idle/bitmap", sysfs_root);
        fixture_write_at(bitmap, &zero, sizeof(zero), (PFN0 + N_PRESENT) / 64 * 8);
        kpageflags = xasprintf("%s/kpageflags", proc_root);
        fixture_write_at(kpageflags, &zero, sizeof(zero), (PFN0 + N_PRESENT) * 8);

        tmptree_write_str(root, "vtism.conf", conf);
}

static inline void write_pid_file(pid_t pid, const char *file, const void *data, size_t size) {
        _cleanup_free_ char *path = xasprintf("%d/%s", (int) pid, file);

        tmptree_write(proc_root, path, data, size);
}

/* The start time the fixture's stat gives pid (field 22). */
static inline unsigned long long fixture_start_time(pid_t pid) {
        return 1000 + (unsigned long long) pid;
}

/* A fixture QEMU (root's) for the real process pid whose command line claims name and, unless
 * NULL, uuid. */
static inline void add_vm_claiming(pid_t pid, const char *name, const char *uuid) {
        _cleanup_free_ char *stat = NULL, *maps = NULL;
        static const char status[] = "Name:\tqemu-system-x86\nUid:\t0\t0\t0\t0\n";
        char buf[256];
        int n;

        n = snprintf(buf, sizeof(buf), "qemu-system-x86_64%c-m%c%u%c-name%cguest=%s%c", 0, 0, RAM_MIB, 0, 0, name, 0);
        if (uuid && n > 0 && (size_t) n < sizeof(buf))
                n += snprintf(buf + n, sizeof(buf) - (size_t) n, "-uuid%c%s%c", 0, uuid, 0);
        check(n > 0 && (size_t) n < sizeof(buf));
        write_pid_file(pid, "cmdline", buf, (size_t) n);
        stat = xasprintf("%d (qemu-system-x86) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %llu 0 0\n", (int) pid,
                         fixture_start_time(pid));
        write_pid_file(pid, "stat", stat, strlen(stat));
        write_pid_file(pid, "status", status, strlen(status));
        maps = xasprintf("%" PRIx64 "-%" PRIx64 " rw-p 00000000 00:00 0 \n", BASE_HVA, BASE_HVA + (uint64_t) RAM_MIB * MIB);
        write_pid_file(pid, "maps", maps, strlen(maps));
        write_pagemap(pid);
}

/* A fixture QEMU named name for the real process pid. */
static inline void add_vm(pid_t pid, const char *name) {
        add_vm_claiming(pid, name, NULL);
}

/* The fixture QEMU pid exits: its /proc directory goes. */
static inline void remove_pid_dir(pid_t pid) {
        char *dir = xasprintf("%s/%d", proc_root, (int) pid);

        tmptree_remove(dir);
}

static pid_t children[8];
static size_t n_children;

static inline pid_t spawn_sleeper(void) {
        pid_t pid = fork();

        check(pid >= 0);
        if (pid == 0) {
                for (;;)
                        pause();
        }
        check(n_children < ELEMENTSOF(children));
        children[n_children++] = pid;
        return pid;
}

/* ---- the log ---- */

static inline char *log_text(void) {
        char *text = NULL;

        fflush(stderr);
        check(read_file_at(NULL, log_path, &text) == 0);
        return text;
}

static inline unsigned count(const char *text, const char *needle) {
        unsigned n = 0;

        for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

/* The log from offset on must hold needle exactly `times` times. */
static inline void check_log(size_t from, const char *needle, unsigned times) {
        _cleanup_free_ char *text = log_text();
        unsigned n = count(text + MIN(from, strlen(text)), needle);

        if (n != times) {
                fprintf(stderr, "FAIL: '%s' logged %u times since offset %zu, expected %u\n", needle, n, from, times);
                exit(EXIT_FAILURE);
        }
}

/* check_log() of a formatted needle */
_printf_(3, 4) static inline void check_logf(size_t from, unsigned times, const char *fmt, ...) {
        _cleanup_free_ char *needle = NULL;
        va_list ap;

        va_start(ap, fmt);
        check(vasprintf(&needle, fmt, ap) >= 0);
        va_end(ap);
        check_log(from, needle, times);
}

static inline size_t log_offset(void) {
        _cleanup_free_ char *text = log_text();
        return strlen(text);
}

/* At exit, whatever the outcome: show the daemon's log, end the children, remove the tree. */
static inline void at_exit(void) {
        _cleanup_free_ char *text = NULL;

        fflush(stderr);
        if (real_stderr >= 0 && read_file_at(NULL, log_path, &text) >= 0)
                dprintf(real_stderr, "--- the daemon's log ---\n%s--- end of the log ---\n", text);
        for (size_t i = 0; i < n_children; i++)
                (void) kill(children[i], SIGKILL);
        while (wait(NULL) > 0)
                ;
        if (root)
                tmptree_remove(root);
        root = NULL;
}

/* The daemon's log goes to a file read back with log_text(); shown at exit. */
static inline void capture_log(void) {
        log_path = xasprintf("%s/log", root);
        real_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        check(real_stderr >= 0);
        check(freopen(log_path, "w", stderr));
        setvbuf(stderr, NULL, _IOLBF, 0);
        atexit(at_exit);
        log_setup("vtismd", LOG_TARGET_CONSOLE);
}

/* A manager on the fixture, its VM sources started, with the page_idle tracker on the fixture
 * (its probe wants a real /proc/self/pagemap). */
static inline Manager *fixture_manager(void) {
        _cleanup_free_ char *conf = xasprintf("%s/vtism.conf", root);
        TrackerContext ctx = { .proc_root = proc_root, .sysfs_root = sysfs_root };
        Manager *m = NULL;

        check(manager_new(conf, sysfs_root, proc_root, LOG_INFO, &m) == 0);
        check(manager_load(m) == 0);
        check(manager_vms_start(m) == 0);
        m->tracker = tracker_free(m->tracker);
        check(tracker_new(&tracker_page_idle_ops, &ctx, &m->tracker) == 0);
        return m;
}

/* ---- helpers ---- */

static inline Vm *vm_of(Manager *m, pid_t pid) {
        for (size_t i = 0; i < m->n_vms; i++)
                if (m->vms[i]->pid == pid)
                        return m->vms[i];
        return NULL;
}

/* One iteration of the manager's loop, not waiting; whether it dispatched anything. */
static inline bool loop_once(Manager *m) {
        int r = sd_event_run(m->event, 0);

        check(r >= 0);
        return r > 0;
}

static inline void cycles(Manager *m, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                check(manager_cycle(m) == 0);
}
