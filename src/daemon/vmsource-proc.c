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
        bool forgotten;            /* vmsource_proc_forget(): looked at afresh in the next scan */
} ProcEntry;

typedef struct ProcSource {
        VmSource base;
        char *proc_root;
        VmSourceProcMatcher matcher;
        VmSourceHandler handler;
        void *userdata;
        ProcEntry *entries;        /* sorted by pid */
        size_t n_entries;
        size_t n_forgotten;        /* of them */
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

        size_t n = s->n_entries - s->n_forgotten;

        snprintf(s->describe, sizeof(s->describe), "%zu QEMU process%s found in %s", n, n == 1 ? "" : "es",
                 s->proc_root);
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

static int cmp_entry_pid(const void *a, const void *b) {
        pid_t x = ((const ProcEntry *) a)->pid, y = ((const ProcEntry *) b)->pid;

        return x < y ? -1 : x > y;
}

/* The processes a scan found (fresh, in readdir's order) into entries, in one merge from the back:
 * a burst of k new VMs among E known costs O(E + k log k), not a memmove of the entries after each
 * (readdir gives each pid once, and a fresh pid is not among the entries: it was looked up). */
static void merge_fresh(ProcSource *s, ProcEntry *fresh, size_t n_fresh) {
        size_t i = s->n_entries, j = n_fresh, w = s->n_entries + n_fresh;

        if (n_fresh == 0)
                return;
        qsort(fresh, n_fresh, sizeof(ProcEntry), cmp_entry_pid);
        s->entries = xreallocarray(s->entries, s->n_entries + n_fresh, sizeof(ProcEntry));
        while (j > 0)
                if (i > 0 && s->entries[i - 1].pid > fresh[j - 1].pid)
                        s->entries[--w] = s->entries[--i];
                else
                        s->entries[--w] = fresh[--j];
        s->n_entries += n_fresh;
}

/* The entries not seen in the scan out, in one pass (the order stays sorted). */
static void drop_unseen(ProcSource *s) {
        size_t w = 0;

        for (size_t i = 0; i < s->n_entries; i++) {
                ProcEntry *e = &s->entries[i];

                if (e->seen) {
                        s->entries[w++] = *e;
                        continue;
                }
                if (e->forgotten)
                        s->n_forgotten--;
                entry_done(e);
        }
        s->n_entries = w;
}

/* Kept until the next scan (which looks at the pid afresh, or drops the entry when it is no VM
 * now, without an event either way): dropping it here would move every entry after it, and a
 * cycle can forget many (every VM whose pid a zombie or another process has). */
void vmsource_proc_forget(VmSource *base, pid_t pid) {
        ProcSource *s = (ProcSource *) base;
        ProcEntry *e;

        if (!s || s->base.vtable != &proc_source_vtable)
                return;
        e = find_entry(s, pid);
        if (e && !e->forgotten) {
                log_debug("Forgetting process %d (%s): it is gone or its pid was reused.", e->pid,
                          e->name ?: e->default_name);
                e->forgotten = true;
                s->n_forgotten++;
        }
}

int vmsource_proc_scan(VmSource *base) {
        ProcSource *s = (ProcSource *) base;
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_free_ ProcEntry *fresh = NULL;
        size_t n_fresh = 0, fresh_allocated = 0;
        bool first = !s->scanned_once;
        struct dirent *de;
        int r = 0;

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
                if (known && !known->forgotten) {
                        known->seen = true;
                        continue;
                }
                if (inspect(s, pid, &e) <= 0)
                        continue; /* a forgotten entry left unseen goes, without an event */
                e.seen = true;
                if (known) {
                        /* forgotten, a VM again (another process has the pid): in its place */
                        entry_done(known);
                        *known = e;
                        s->n_forgotten--;
                } else {
                        if (n_fresh == fresh_allocated) {
                                fresh_allocated = MAX(fresh_allocated * 2, (size_t) 16);
                                fresh = xreallocarray(fresh, fresh_allocated, sizeof(ProcEntry));
                        }
                        fresh[n_fresh++] = e;
                }
                log_debug("Found QEMU process %d (%s).", e.pid, e.name ?: e.default_name);
                announce(s, VM_EVENT_STARTED, &e);
        }

        if (errno != 0)
                /* A partial listing says nothing about the pids it did not reach: keep them all. */
                r = log_warning_errno(errno, "Scanning %s for QEMU processes failed, trying again next cycle: %m",
                                      s->proc_root);
        else {
                /* The known ones not seen are gone: announced in pid order, then dropped in one
                 * pass (n gone of E known: O(E), not a memmove each). */
                for (size_t i = 0; i < s->n_entries; i++) {
                        const ProcEntry *e = &s->entries[i];

                        if (e->seen || e->forgotten)
                                continue;
                        log_debug("QEMU process %d (%s) is gone.", e->pid, e->name ?: e->default_name);
                        announce(s, VM_EVENT_STOPPED, e);
                }
                drop_unseen(s);
        }
        merge_fresh(s, fresh, n_fresh);

        if (first)
                s->handler(base, VM_EVENT_RESYNC_END, NULL, s->userdata);
        s->scanned_once = true;
        return r;
}
