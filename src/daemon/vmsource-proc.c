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
#include "vtism/proc-pid.h"
#include "vtism/qemu-cmdline.h"
#include "vtism/util.h"
#include "vtism/vmsource.h"

typedef struct ProcEntry {
        pid_t pid;
        unsigned long long start_time;
        char *uuid;                /* claimed by -uuid, NULL if none */
        char *name;                /* claimed by -name, NULL if none */
        char *default_name;        /* qemu-PID, EXE-PID */
        uid_t uid;                 /* real uid, (uid_t) -1 if unreadable */
        char *cmdline;             /* joined by spaces */
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
        free(e->default_name);
        free(e->cmdline);
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
                .default_name = e->default_name,
                .uid = e->uid,
                .pid = e->pid,
                .start_time = e->start_time,
                .cmdline = e->cmdline,
                .memory_bytes = e->memory_bytes,
        };

        s->handler(&s->base, event, &id, s->userdata);
}

/* Look at a pid we do not know: 1 and a filled entry if it is a VM (or a configured process), 0
 * if not, or if it cannot be read now (gone, EACCES, EMFILE, ...: the next scan looks again). */
static int inspect(ProcSource *s, pid_t pid, ProcEntry *ret) {
        _cleanup_(proc_cmdline_freep) ProcCmdline *cmdline = NULL;
        _cleanup_(qemu_cmdline_freep) QemuCmdline *c = NULL;
        unsigned long long start_time;
        const char *base;
        bool is_qemu;
        uid_t uid;
        int r;

        r = proc_pid_cmdline(s->proc_root, pid, &cmdline);
        if (r == -ENODATA || r == -ESRCH)
                return 0; /* a kernel thread, a zombie, or gone: not ours */
        if (r < 0) {
                log_debug_errno(r, "Cannot read the command line of pid %d, looking again next scan: %m", (int) pid);
                return 0;
        }

        is_qemu = qemu_cmdline_is_qemu(cmdline->argv[0]);
        if (!is_qemu && !(s->matcher && s->matcher(pid, cmdline->argv, cmdline->argc, s->userdata)))
                return 0;

        r = proc_pid_start_time(s->proc_root, pid, &start_time);
        if (r < 0) {
                if (r != -ESRCH)
                        log_debug_errno(r, "Cannot read the start time of pid %d, looking again next scan: %m",
                                        (int) pid);
                return 0;
        }

        r = proc_pid_uid(s->proc_root, pid, &uid);
        if (r == -ESRCH)
                return 0;
        if (r < 0) {
                log_debug_errno(r, "Cannot read the owner of pid %d: %m", (int) pid);
                uid = (uid_t) -1;  /* untrusted until the manager can read it */
        }

        base = strrchr(cmdline->argv[0], '/');
        *ret = (ProcEntry) {
                .pid = pid,
                .start_time = start_time,
                .uid = uid,
                .cmdline = proc_cmdline_join(cmdline),
                .default_name = is_qemu ? xasprintf("qemu-%d", (int) pid)
                                        : xasprintf("%s-%d", base ? base + 1 : cmdline->argv[0], (int) pid),
        };
        if (is_qemu && qemu_cmdline_parse(cmdline->argv, cmdline->argc, &c) >= 0) {
                ret->uuid = c->uuid ? xstrdup(c->uuid) : NULL;
                ret->name = c->name ? xstrdup(c->name) : NULL;
                ret->memory_bytes = c->ram_bytes;
        }
        return 1;
}

/* entries[] is sorted by pid: a scan of P pids with E known costs P log E, not P x E (at 1,000
 * VMs the linear search was a million comparisons a cycle, bench/scale-bench). */
static size_t entry_lower_bound(const ProcSource *s, pid_t pid) {
        size_t lo = 0, hi = s->n_entries;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (s->entries[mid].pid < pid)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static ProcEntry *find_entry(ProcSource *s, pid_t pid) {
        size_t i = entry_lower_bound(s, pid);

        return i < s->n_entries && s->entries[i].pid == pid ? &s->entries[i] : NULL;
}

static void insert_entry(ProcSource *s, const ProcEntry *e) {
        size_t i = entry_lower_bound(s, e->pid);

        s->entries = xreallocarray(s->entries, s->n_entries + 1, sizeof(ProcEntry));
        memmove(&s->entries[i + 1], &s->entries[i], (s->n_entries - i) * sizeof(ProcEntry));
        s->entries[i] = *e;
        s->n_entries++;
}

/* The next entry takes e's place (the order stays sorted). */
static void remove_entry(ProcSource *s, ProcEntry *e) {
        size_t i = (size_t) (e - s->entries);

        entry_done(e);
        memmove(&s->entries[i], &s->entries[i + 1], (s->n_entries - i - 1) * sizeof(ProcEntry));
        s->n_entries--;
}

void vmsource_proc_forget(VmSource *base, pid_t pid) {
        ProcSource *s = (ProcSource *) base;
        ProcEntry *e;

        if (!s || s->base.vtable != &proc_source_vtable)
                return;
        e = find_entry(s, pid);
        if (e) {
                log_debug("Forgetting process %d (%s): it is gone or its pid was reused.", e->pid,
                          e->name ?: e->default_name);
                remove_entry(s, e);
        }
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

        for (;;) {
                ProcEntry e, *known;
                int pid;

                errno = 0;
                de = readdir(d);
                if (!de)
                        break;
                if (safe_atoi(de->d_name, &pid) < 0 || pid <= 0)
                        continue;
                /* A known pid costs nothing here: the manager checks each VM once per cycle. */
                known = find_entry(s, pid);
                if (known) {
                        known->seen = true;
                        continue;
                }
                if (inspect(s, pid, &e) <= 0)
                        continue;
                e.seen = true;
                insert_entry(s, &e);
                log_debug("Found QEMU process %d (%s).", e.pid, e.name ?: e.default_name);
                announce(s, VM_EVENT_STARTED, &e);
        }

        if (errno != 0) {
                /* A partial listing says nothing about the pids it did not reach: keep them all. */
                int r = log_warning_errno(errno, "Scanning %s for QEMU processes failed, trying again next cycle: %m",
                                          s->proc_root);
                if (first)
                        s->handler(base, VM_EVENT_RESYNC_END, NULL, s->userdata);
                s->scanned_once = true;
                return r;
        }

        for (size_t i = 0; i < s->n_entries;) {
                ProcEntry *e = &s->entries[i];

                if (e->seen) {
                        i++;
                        continue;
                }
                log_debug("QEMU process %d (%s) is gone.", e->pid, e->name ?: e->default_name);
                announce(s, VM_EVENT_STOPPED, e);
                remove_entry(s, e);
        }

        if (first)
                s->handler(base, VM_EVENT_RESYNC_END, NULL, s->userdata);
        s->scanned_once = true;
        return 0;
}
