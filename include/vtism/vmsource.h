/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "vtism/macro.h"

/*
 * A VmSource discovers VMs and reports their lifecycle to one handler, from the sd-event loop.
 *
 * Resync protocol: after (re)connecting, a source sends RESYNC_BEGIN, STARTED for every VM
 * running now, then RESYNC_END. The consumer drops the VMs of this source that were not announced
 * in between and keeps the state (heat) of those that were. Outside a resync STARTED comes once
 * per VM run (a resume or a repeated libvirt event is not a new start), and STOPPED, CRASHED and
 * MIGRATED_OUT only for a VM announced before, with the identity it was announced with; CHANGED
 * (libvirt only) when a running domain's vtism metadata changed (VIR_DOMAIN_EVENT_ID_METADATA_CHANGE)
 * or its run state did (paused, resumed, a migration job began or ended: VmRunState), with the
 * whole identity again. A lost
 * connection is silent: VMs stay known until the next resync says otherwise. A VM whose pid
 * differs from the one known for its uuid is a new run (it restarted while the source was blind).
 */

typedef enum VmEvent {
        VM_EVENT_STARTED,
        VM_EVENT_STOPPED,       /* shut down, destroyed, saved */
        VM_EVENT_CRASHED,       /* the guest crashed, or QEMU died unexpectedly */
        VM_EVENT_MIGRATED_OUT,
        VM_EVENT_RESYNC_BEGIN,  /* vm == NULL */
        VM_EVENT_RESYNC_END,    /* vm == NULL */
        VM_EVENT_CHANGED,       /* a VM announced before has a new policy_xml (libvirt metadata) */
        _VM_EVENT_MAX,
        _VM_EVENT_INVALID = -22,
} VmEvent;

static inline const char *vm_event_to_string(VmEvent e) {
        static const char *const table[_VM_EVENT_MAX] = {
                [VM_EVENT_STARTED] = "STARTED",
                [VM_EVENT_STOPPED] = "STOPPED",
                [VM_EVENT_CRASHED] = "CRASHED",
                [VM_EVENT_MIGRATED_OUT] = "MIGRATED_OUT",
                [VM_EVENT_RESYNC_BEGIN] = "RESYNC_BEGIN",
                [VM_EVENT_RESYNC_END] = "RESYNC_END",
                [VM_EVENT_CHANGED] = "CHANGED",
        };
        assert_cc(ELEMENTSOF(table) == _VM_EVENT_MAX);

        if (e < 0 || e >= _VM_EVENT_MAX)
                return NULL;
        return table[e];
}

/*
 * What a running VM is doing, as far as its source can tell (/proc cannot: always RUNNING). What
 * vtismd makes of it (manager-vms.c): a VM that is not RUNNING is neither sampled (its heat stays
 * as it was, not decayed) nor moved.
 */
typedef enum VmRunState {
        VM_RUN_RUNNING,
        VM_RUN_PAUSED,          /* its vCPUs are stopped (virsh suspend, an I/O error, a watchdog, guest
                                 * S3): it touches no memory, so nothing can be learnt about its heat */
        VM_RUN_MIGRATING_OUT,   /* an outgoing migration job runs: QEMU reads (and sends) every page, and
                                 * a page moved now is a dirty page sent again */
        VM_RUN_MIGRATING_IN,    /* being received: the migration stream writes its memory, the guest
                                 * does not run yet */
        _VM_RUN_STATE_MAX,
        _VM_RUN_STATE_INVALID = -22,
} VmRunState;

/* "running", "paused", "migrating out", "migrating in"; NULL for anything else. */
static inline const char *vm_run_state_to_string(VmRunState s) {
        static const char *const table[_VM_RUN_STATE_MAX] = {
                [VM_RUN_RUNNING] = "running",
                [VM_RUN_PAUSED] = "paused",
                [VM_RUN_MIGRATING_OUT] = "migrating out",
                [VM_RUN_MIGRATING_IN] = "migrating in",
        };
        assert_cc(ELEMENTSOF(table) == _VM_RUN_STATE_MAX);

        if (s < 0 || s >= _VM_RUN_STATE_MAX)
                return NULL;
        return table[s];
}

/* Valid only during the handler call: copy what you keep. From libvirt, uuid and name are the
 * domain's; from /proc they are what the command line claims (-uuid, -name: untrusted, NULL if it
 * claims none), see vm.h. */
typedef struct VmIdentity {
        const char *uuid;          /* canonical lower-case */
        const char *name;
        const char *default_name;  /* /proc: "qemu-<pid>" or "EXE-<pid>", for when the claim is unusable */
        uid_t uid;                 /* /proc: the process's real uid, (uid_t) -1 if unknown (libvirt) */
        pid_t pid;                 /* QEMU pid, from libvirt's pid file, checked against /proc;
                                    * 0 if it could not be found (remote URI, unreadable file) */
        unsigned long long start_time; /* of pid (proc-pid.h), 0 if unknown */
        const char *cmdline;       /* pid's command line joined by spaces (untrusted bytes), NULL if unknown */
        const char *numa_nodeset;  /* host nodes of <numatune><memory nodeset=…>, NULL if none */
        const char *vcpu_cpuset;   /* union of the vCPUs' pinning, NULL if unpinned (every vCPU
                                    * may run on every host CPU) */
        uint64_t memory_bytes;     /* current guest memory */
        const char *policy_xml;    /* libvirt: the domain's <metadata> element in vtism's namespace
                                    * (vm-metadata.h), NULL if none; re-sent with CHANGED */
        VmRunState run_state;      /* /proc: always RUNNING */
        const char *run_state_why; /* libvirt's word for it, e.g. "libvirt: paused (user)", "libvirt:
                                    * migration job (migration out)"; NULL when RUNNING */
} VmIdentity;

typedef struct VmSource VmSource;

typedef void (*VmSourceHandler)(VmSource *s, VmEvent event, const VmIdentity *vm, void *userdata);

/* What every source implements; a source struct starts with a VmSource. */
typedef struct VmSourceVTable {
        const char *name;                          /* "libvirt", "proc" */
        void (*free)(VmSource *s);
        const char *(*describe)(VmSource *s);
} VmSourceVTable;

struct VmSource {
        const VmSourceVTable *vtable;
};

/*
 * Watch the libvirt daemon at uri (NULL: "qemu:///system"); the handler is called from event's
 * loop. Never fails because libvirtd is unreachable: it then retries with backoff (1 s doubling to
 * 60 s) and the handler sees the first resync once connected; the same after libvirtd went away.
 * libvirt itself runs in a thread of the source's own, so a libvirtd that hangs never blocks
 * event's loop; a connection attempt that waits 120 s for an answer (a socket-activated libvirtd
 * may be starting), any other libvirt call that waits 30 s, is cut short and retried
 * (vmsource-libvirt.c). -EBUSY if libvirt's event implementation is still bound to another
 * source's thread. QEMU pids from libvirt's pid files are checked below proc_root (NULL: "/proc").
 * vmsource_free() returns within ~5 s even while libvirtd hangs.
 */
int vmsource_libvirt_new(sd_event *event, const char *uri, const char *proc_root, VmSourceHandler handler,
                         void *userdata, VmSource **ret);

/* Connect to another URI (a reload changed it): the old connection is dropped, an empty resync
 * withdraws what it said (VMs that only it knew go, those /proc knows stay), and the new URI is
 * tried at once, even while a call to the old one hangs. 1 if it changed, 0 if not, -EINVAL. */
int vmsource_libvirt_set_uri(VmSource *s, const char *uri);

static inline VmSource *vmsource_free(VmSource *s) {
        if (s)
                s->vtable->free(s);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(VmSource *, vmsource_free);

/* One line for status output, e.g. "connected to qemu:///system, 3 domains" or
 * "libvirtd unreachable (Failed to connect socket …: Connection refused), retrying in 8 s".
 * Valid until the next call or event. */
static inline const char *vmsource_describe(VmSource *s) {
        return s->vtable->describe(s);
}

static inline const char *vmsource_name(const VmSource *s) {
        return s->vtable->name;
}

/*
 * Plain QEMU processes found by scanning proc_root (normally "/proc"): every process whose argv[0]
 * is a system emulator (qemu-system-*, qemu-kvm, kvm), plus those the matcher accepts (explicitly
 * configured processes; NULL for none). No events of its own: each vmsource_proc_scan() compares
 * with the previous scan and reports STARTED/STOPPED; the first scan is wrapped in a resync.
 *
 * A scan reads the command line (and, for a VM, the start time) of pids it does not know yet, and
 * nothing of those it knows: a known pid whose directory is gone is STOPPED; that a known pid now
 * belongs to another process is the consumer's finding (its liveness check compares start
 * times), which it reports with vmsource_proc_forget(). A pid that cannot be read (EACCES,
 * EMFILE, ...) is looked at again in the next scan.
 */
typedef bool (*VmSourceProcMatcher)(pid_t pid, char *const *argv, size_t argc, void *userdata);
int vmsource_proc_new(const char *proc_root, VmSourceProcMatcher matcher, VmSourceHandler handler,
                      void *userdata, VmSource **ret);
int vmsource_proc_scan(VmSource *s);
/* pid is gone or reused: drop it without an event, so the next scan looks at it afresh. */
void vmsource_proc_forget(VmSource *s, pid_t pid);
