/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VM discovery by /proc scan: QEMU processes that libvirt does not manage (or while libvirtd is
 * unreachable), and processes the configuration names explicitly. The manager merges what this
 * and the libvirt source report, by pid.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "vtism/log.h"
#include "vtism/qemu-cmdline.h"
#include "vtism/tracker.h"
#include "vtism/util.h"
#include "vtism/vmsource.h"

typedef struct ProcEntry {
        pid_t pid;
        unsigned long long start_time;
        char *uuid;
        char *name;
        uint64_t memory_bytes;
        bool seen;
} ProcEntry;

typedef struct ProcSource {
        VmSource base;
        char *proc_root;
        VmSourceProcMatcher matcher;
        VmSourceHandler handler;
        void *userdata;
        ProcEntry *entries;
        size_t n_entries;
        bool scanned_once;
        char describe[128];
} ProcSource;

static void entry_done(ProcEntry *e) {
        free(e->uuid);
        free(e->name);
}

static void proc_source_free(VmSource *base) {
        ProcSource *s = (ProcSource *) base;

        for (size_t i = 0; i < s->n_entries; i++)
                entry_done(&s->entries[i]);
        free(s->entries);
        free(s->proc_root);
        free(s);
}

static const char *proc_source_describe(VmSource *base) {
        ProcSource *s = (ProcSource *) base;

        snprintf(s->describe, sizeof(s->describe), "%zu QEMU process%s found in %s", s->n_entries,
                 s->n_entries == 1 ? "" : "es", s->proc_root);
        return s->describe;
}

static const VmSourceVTable proc_source_vtable = {
        .name = "proc",
        .free = proc_source_free,
        .describe = proc_source_describe,
};

int vmsource_proc_new(const char *proc_root, VmSourceProcMatcher matcher, VmSourceHandler handler, void *userdata,
                      VmSource **ret) {
        ProcSource *s = xcalloc(1, sizeof(ProcSource));

        s->base.vtable = &proc_source_vtable;
        s->proc_root = xstrdup(proc_root ?: "/proc");
        s->matcher = matcher;
        s->handler = handler;
        s->userdata = userdata;
        *ret = &s->base;
        return 0;
}

static void announce(ProcSource *s, VmEvent event, const ProcEntry *e) {
        VmIdentity id = {
                .uuid = e->uuid,
                .name = e->name,
                .pid = e->pid,
                .memory_bytes = e->memory_bytes,
        };

        s->handler(&s->base, event, &id, s->userdata);
}

/* Look at one pid: 1 and a filled entry if it is a VM (or a configured process), 0 if not. */
static int inspect(ProcSource *s, pid_t pid, ProcEntry *ret) {
        _cleanup_free_ char *path = xasprintf("%d/cmdline", (int) pid), *buf = NULL;
        _cleanup_(qemu_cmdline_freep) QemuCmdline *c = NULL;
        _cleanup_free_ char **argv = NULL;
        unsigned long long start_time;
        size_t size, argc = 0;
        bool is_qemu;
        int r;

        r = read_file_at_size(s->proc_root, path, &buf, &size);
        if (r < 0 || size == 0)
                return 0; /* gone, or a kernel thread: not ours */

        /* NUL-separated arguments; buf[size] is a NUL too, so the last one is terminated. */
        argv = xcalloc(size + 1, sizeof(char *));
        for (size_t i = 0; i < size; i += strlen(buf + i) + 1)
                argv[argc++] = buf + i;

        is_qemu = qemu_cmdline_is_qemu(argv[0]);
        if (!is_qemu && !(s->matcher && s->matcher(pid, argv, argc, s->userdata)))
                return 0;

        r = proc_pid_start_time(s->proc_root, pid, &start_time);
        if (r < 0)
                return 0;

        *ret = (ProcEntry) { .pid = pid, .start_time = start_time };
        if (is_qemu && qemu_cmdline_parse(argv, argc, &c) >= 0) {
                ret->uuid = c->uuid ? xstrdup(c->uuid) : NULL;
                ret->name = c->name ? xstrdup(c->name) : NULL;
                ret->memory_bytes = c->ram_bytes;
        }
        if (!ret->name) {
                const char *base = strrchr(argv[0], '/');
                ret->name = is_qemu ? xasprintf("qemu-%d", (int) pid)
                                    : xasprintf("%s-%d", base ? base + 1 : argv[0], (int) pid);
        }
        return 1;
}

static ProcEntry *find_entry(ProcSource *s, pid_t pid, unsigned long long start_time) {
        for (size_t i = 0; i < s->n_entries; i++)
                if (s->entries[i].pid == pid && s->entries[i].start_time == start_time)
                        return &s->entries[i];
        return NULL;
}

int vmsource_proc_scan(VmSource *base) {
        ProcSource *s = (ProcSource *) base;
        _cleanup_(closedirp) DIR *d = NULL;
        bool first = !s->scanned_once;
        struct dirent *de;

        d = opendir(s->proc_root);
        if (!d)
                return log_warning_errno(errno, "Cannot scan %s for QEMU processes: %m", s->proc_root);

        for (size_t i = 0; i < s->n_entries; i++)
                s->entries[i].seen = false;
        if (first)
                s->handler(base, VM_EVENT_RESYNC_BEGIN, NULL, s->userdata);

        while ((de = readdir(d))) {
                ProcEntry e, *known;
                int pid;

                if (safe_atoi(de->d_name, &pid) < 0 || pid <= 0)
                        continue;
                if (inspect(s, pid, &e) <= 0)
                        continue;
                known = find_entry(s, e.pid, e.start_time);
                if (known) {
                        known->seen = true;
                        entry_done(&e);
                        continue;
                }
                e.seen = true;
                s->entries = xreallocarray(s->entries, s->n_entries + 1, sizeof(ProcEntry));
                s->entries[s->n_entries++] = e;
                log_debug("Found QEMU process %d (%s).", e.pid, e.name);
                announce(s, VM_EVENT_STARTED, &e);
        }

        for (size_t i = 0; i < s->n_entries;) {
                ProcEntry *e = &s->entries[i];

                if (e->seen) {
                        i++;
                        continue;
                }
                log_debug("QEMU process %d (%s) is gone.", e->pid, e->name);
                announce(s, VM_EVENT_STOPPED, e);
                entry_done(e);
                s->entries[i] = s->entries[--s->n_entries];
        }

        if (first)
                s->handler(base, VM_EVENT_RESYNC_END, NULL, s->userdata);
        s->scanned_once = true;
        return 0;
}
