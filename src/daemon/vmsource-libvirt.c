/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "vtism/libvirt-event.h"
#include "vtism/log.h"
#include "vtism/macro.h"
#include "vtism/proc-pid.h"
#include "vtism/qemu-cmdline.h"
#include "vtism/util.h"
#include "vtism/vmsource.h"

/*
 * VMs from a libvirt daemon. Connects (retrying with backoff while libvirtd is unreachable),
 * subscribes to lifecycle events, then resyncs: every running domain is announced between
 * RESYNC_BEGIN and RESYNC_END. A lost connection (close callback: EOF, keepalive timeout, error)
 * is torn down from the loop and the same happens again after the backoff.
 *
 * How libvirt 9.0 reports what happens to a QEMU domain, and what we make of it:
 *   virsh start / create             started/booted                   STARTED
 *   incoming migration               started/migrated (paused), then
 *                                    resumed/migrated                 STARTED (once)
 *   virsh resume                     resumed/unpaused                 STARTED if not announced yet
 *   virsh shutdown                   shutdown/finished, then
 *                                    stopped/shutdown                 STOPPED
 *   virsh destroy                    stopped/destroyed                STOPPED
 *   virsh save, managedsave          stopped/saved                    STOPPED
 *   QEMU killed (kill -9), QEMU
 *   crashed                          stopped/failed                   CRASHED
 *   guest panic (pvpanic, hyperv)    crashed/panicked; stopped/crashed
 *                                    follows with on_crash=destroy    CRASHED (once)
 *   outgoing migration done          stopped/migrated                 MIGRATED_OUT
 * Suspend, pmsuspend and guest-initiated shutdown (before QEMU exits) change nothing.
 */

#define SYSTEM_RUN_DIR "/run/libvirt/qemu"
#define BACKOFF_MIN_USEC (1 * USEC_PER_SEC)
#define BACKOFF_MAX_USEC (60 * USEC_PER_SEC)
#define KEEPALIVE_INTERVAL_SEC 5
#define KEEPALIVE_COUNT 3

typedef struct KnownVm {
        char *uuid;
        char *name;
        pid_t pid;
        unsigned long long start_time;
        char *cmdline;
        char *numa_nodeset;
        char *vcpu_cpuset;
        uint64_t memory_bytes;
} KnownVm;

typedef struct LibvirtSource {
        VmSource base;

        sd_event *event;
        char *uri;
        char *run_dir;                  /* where libvirt keeps NAME.pid; NULL: unknown (remote) */
        char *proc_root;                /* where QEMU pids are checked */
        VmSourceHandler handler;
        void *userdata;

        virConnectPtr conn;
        int lifecycle_id;               /* -1: not registered */
        bool close_registered;

        sd_event_source *retry_timer;   /* next connection attempt */
        sd_event_source *lost_event;    /* connection lost: tear down from the loop */
        usec_t backoff_usec;
        usec_t retry_at_usec;           /* CLOCK_MONOTONIC */
        char *last_error;               /* why the last attempt failed / the connection was lost */
        unsigned n_failures;            /* attempts since the last success, for log levels */

        KnownVm *vms;
        size_t n_vms;

        char *description;
} LibvirtSource;

static const VmSourceVTable libvirt_vtable;

static const char *startswith(const char *s, const char *prefix) {
        size_t l = strlen(prefix);

        return strncmp(s, prefix, l) == 0 ? s + l : NULL;
}

static usec_t now_monotonic(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

static void known_vm_done(KnownVm *v) {
        free(v->uuid);
        free(v->name);
        free(v->cmdline);
        free(v->numa_nodeset);
        free(v->vcpu_cpuset);
        *v = (KnownVm) {};
}

static void known_vms_clear(LibvirtSource *s) {
        for (size_t i = 0; i < s->n_vms; i++)
                known_vm_done(&s->vms[i]);
        free(s->vms);
        s->vms = NULL;
        s->n_vms = 0;
}

static KnownVm *known_vm_find(LibvirtSource *s, const char *uuid) {
        for (size_t i = 0; i < s->n_vms; i++)
                if (streq(s->vms[i].uuid, uuid))
                        return &s->vms[i];
        return NULL;
}

static void known_vm_remove(LibvirtSource *s, KnownVm *v) {
        size_t i = (size_t) (v - s->vms);

        known_vm_done(v);
        memmove(s->vms + i, s->vms + i + 1, (s->n_vms - i - 1) * sizeof(KnownVm));
        s->n_vms--;
}

static void emit(LibvirtSource *s, VmEvent event, const KnownVm *v) {
        VmIdentity id;

        if (!v) {
                s->handler(&s->base, event, NULL, s->userdata);
                return;
        }
        id = (VmIdentity) {
                .uuid = v->uuid,
                .name = v->name,
                .uid = (uid_t) -1,
                .pid = v->pid,
                .start_time = v->start_time,
                .cmdline = v->cmdline,
                .numa_nodeset = v->numa_nodeset,
                .vcpu_cpuset = v->vcpu_cpuset,
                .memory_bytes = v->memory_bytes,
        };
        s->handler(&s->base, event, &id, s->userdata);
}

/* ---- the QEMU pid ---- */

/* Where libvirt's QEMU driver keeps NAME.pid for this connection, NULL if not on this host. */
static char *run_dir_for_uri(const char *uri) {
        const char *p, *runtime;

        if (!uri)
                return NULL;
        /* Only "qemu:///…": a transport ("qemu+ssh://") or a host means another machine, or at
         * least a daemon whose files we cannot assume. */
        p = startswith(uri, "qemu:///");
        if (!p)
                return NULL;
        if (startswith(p, "system") && (p[6] == 0 || p[6] == '?'))
                return xstrdup(SYSTEM_RUN_DIR);
        if (startswith(p, "session") && (p[7] == 0 || p[7] == '?')) {
                runtime = getenv("XDG_RUNTIME_DIR");
                return runtime ? xasprintf("%s/libvirt/qemu/run", runtime) : NULL;
        }
        return NULL;
}

/* Is the executable behind /proc/PID/exe a system emulator? The link reads "PATH (deleted)"
 * once the binary was replaced by an upgrade. */
static bool exe_is_qemu(const char *proc_root, pid_t pid) {
        _cleanup_free_ char *path = xasprintf("%s/%d/exe", proc_root, (int) pid);
        char exe[PATH_MAX];
        ssize_t n;
        size_t l;

        n = readlink(path, exe, sizeof(exe) - 1);
        if (n <= 0)
                return false;
        exe[n] = 0;
        l = (size_t) n;
        if (l > strlen(" (deleted)") && streq(exe + l - strlen(" (deleted)"), " (deleted)"))
                exe[l - strlen(" (deleted)")] = 0;
        return qemu_cmdline_is_qemu(exe);
}

/* The process must exist, be a QEMU (by its executable or its argv[0]: qemu-system-*, qemu-kvm,
 * kvm), and, if its command line names a uuid (libvirt always passes "-uuid"), be the one of this
 * domain: a stale pid file must not make us tier a stranger. Fills in the start time and the
 * joined command line. */
static int qemu_pid_validate(LibvirtSource *s, pid_t pid, const char *uuid, KnownVm *v) {
        _cleanup_(proc_cmdline_freep) ProcCmdline *c = NULL;
        unsigned long long start_time;
        int r;

        r = proc_pid_cmdline(s->proc_root, pid, &c);
        if (r == -ENODATA)
                return -ESRCH;  /* a zombie, or a kernel thread */
        if (r < 0)
                return r;
        if (!exe_is_qemu(s->proc_root, pid) && !qemu_cmdline_is_qemu(c->argv[0]))
                return -EMEDIUMTYPE;

        for (size_t i = 0; i + 1 < c->argc; i++)
                if (streq(c->argv[i], "-uuid")) {
                        if (strcasecmp(c->argv[i + 1], uuid) != 0)
                                return -ESTALE;
                        break;
                }

        r = proc_pid_start_time(s->proc_root, pid, &start_time);
        if (r < 0)
                return r;
        v->start_time = start_time;
        v->cmdline = proc_cmdline_join(c);
        return 0;
}

/* Fills v->pid (0 if unknown), v->start_time and v->cmdline. */
static void domain_pid(LibvirtSource *s, const char *name, const char *uuid, KnownVm *v) {
        _cleanup_free_ char *file = NULL, *line = NULL;
        int r, pid;

        v->pid = 0;
        if (!s->run_dir)
                return;

        file = xasprintf("%s.pid", name);
        r = read_line_at(s->run_dir, file, &line);
        if (r >= 0)
                r = safe_atoi(line, &pid);
        if (r >= 0 && pid <= 0)
                r = -EINVAL;
        if (r < 0) {
                log_fields(LOG_DEBUG, FIELDS({"VTISM_VM", uuid}, {"VTISM_VM_NAME", name}),
                           "No usable pid file %s/%s for domain %s: %s", s->run_dir, file, name, strerror(-r));
                return;
        }
        r = qemu_pid_validate(s, pid, uuid, v);
        if (r < 0) {
                log_fields(LOG_DEBUG, FIELDS({"VTISM_VM", uuid}, {"VTISM_VM_NAME", name}),
                           "Pid %d from %s/%s is not the QEMU of domain %s: %s", pid, s->run_dir, file, name,
                           r == -EMEDIUMTYPE ? "not a qemu process" :
                           r == -ESTALE ? "another domain's uuid" : strerror(-r));
                return;
        }
        v->pid = pid;
}

/* ---- the rest of a domain's identity ---- */

static char *domain_numa_nodeset(virDomainPtr dom) {
        virTypedParameterPtr params = NULL;
        int n = 0;
        char *nodeset = NULL;

        if (virDomainGetNumaParameters(dom, NULL, &n, VIR_DOMAIN_AFFECT_LIVE) < 0 || n <= 0) {
                log_debug("No NUMA parameters for domain %s: %s", virDomainGetName(dom),
                          libvirt_last_error_message());
                return NULL;
        }
        params = xcalloc((size_t) n, sizeof(virTypedParameter));
        if (virDomainGetNumaParameters(dom, params, &n, VIR_DOMAIN_AFFECT_LIVE) < 0) {
                log_debug("Failed to get NUMA parameters of domain %s: %s", virDomainGetName(dom),
                          libvirt_last_error_message());
                free(params);
                return NULL;
        }
        for (int i = 0; i < n; i++)
                if (streq(params[i].field, VIR_DOMAIN_NUMA_NODESET) && params[i].type == VIR_TYPED_PARAM_STRING &&
                    params[i].value.s && params[i].value.s[0])
                        nodeset = xstrdup(params[i].value.s);
        virTypedParamsFree(params, n);
        return nodeset;
}

/* The union of the vCPUs' host CPU sets; NULL when it covers every online host CPU, which is what
 * libvirt reports for vCPUs that are not pinned. */
static char *domain_vcpu_cpuset(virConnectPtr conn, virDomainPtr dom, int n_vcpus) {
        _cleanup_free_ unsigned char *maps = NULL, *merged = NULL;
        _cleanup_free_ int *cpus = NULL;
        unsigned char *online = NULL;
        unsigned n_online = 0;
        size_t n_cpus_list = 0;
        bool covers_online = true;
        int n_host, maplen, n;

        n_host = virNodeGetCPUMap(conn, &online, &n_online, 0);
        if (n_host <= 0 || n_vcpus <= 0) {
                free(online);
                return NULL;
        }
        maplen = VIR_CPU_MAPLEN(n_host);
        maps = xcalloc((size_t) n_vcpus, (size_t) maplen);
        n = virDomainGetVcpuPinInfo(dom, n_vcpus, maps, maplen, VIR_DOMAIN_AFFECT_LIVE);
        if (n <= 0) {
                log_debug("Failed to get vCPU pinning of domain %s: %s", virDomainGetName(dom),
                          libvirt_last_error_message());
                free(online);
                return NULL;
        }

        merged = xcalloc(1, (size_t) maplen);
        for (int v = 0; v < n; v++)
                for (int b = 0; b < maplen; b++)
                        merged[b] |= VIR_GET_CPUMAP(maps, maplen, v)[b];

        cpus = xcalloc((size_t) n_host, sizeof(int));
        for (int c = 0; c < n_host; c++) {
                bool in = VIR_CPU_USED(merged, c);

                if (in)
                        cpus[n_cpus_list++] = c;
                if (online && VIR_CPU_USED(online, c) && !in)
                        covers_online = false;
        }
        free(online);

        if (covers_online || n_cpus_list == 0)
                return NULL;
        return format_int_list(cpus, n_cpus_list);
}

/* Fills v for a running domain. -ESRCH/-ENOENT if it is not running (any more). */
static int domain_identity(LibvirtSource *s, virDomainPtr dom, KnownVm *ret) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        const char *name;
        virDomainInfo info;
        KnownVm v = {};

        if (virDomainGetUUIDString(dom, uuid) < 0)
                return libvirt_last_error_errno();
        for (char *p = uuid; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        name = virDomainGetName(dom);
        if (!name)
                return libvirt_last_error_errno();
        if (virDomainGetInfo(dom, &info) < 0)
                return libvirt_last_error_errno();
        if (info.state == VIR_DOMAIN_SHUTOFF || info.state == VIR_DOMAIN_NOSTATE)
                return -ESRCH;

        v.uuid = xstrdup(uuid);
        v.name = xstrdup(name);
        v.memory_bytes = (uint64_t) info.memory * KIB;
        domain_pid(s, name, uuid, &v);
        v.numa_nodeset = domain_numa_nodeset(dom);
        v.vcpu_cpuset = domain_vcpu_cpuset(s->conn, dom, info.nrVirtCpu);

        *ret = v;
        return 0;
}

/* Announce a running domain unless it already was; returns the record or NULL. */
static KnownVm *announce(LibvirtSource *s, virDomainPtr dom, bool resync) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        KnownVm v, *known;
        char mem[FORMAT_BYTES_MAX];
        int r;

        if (virDomainGetUUIDString(dom, uuid) >= 0) {
                for (char *p = uuid; *p; p++)
                        *p = (char) tolower((unsigned char) *p);
                known = known_vm_find(s, uuid);
                if (known)
                        return known;
        }

        r = domain_identity(s, dom, &v);
        if (r < 0) {
                log_debug_errno(r, "Domain %s vanished before it could be announced: %m",
                                virDomainGetName(dom) ?: "?");
                return NULL;
        }

        s->vms = xreallocarray(s->vms, s->n_vms + 1, sizeof(KnownVm));
        s->vms[s->n_vms] = v;
        known = &s->vms[s->n_vms++];

        log_internal_fields(resync ? LOG_DEBUG : LOG_INFO, 0, __FILE__, __LINE__, __func__,
                            FIELDS({"VTISM_VM", known->uuid}, {"VTISM_VM_NAME", known->name}),
                            "VM %s %s: pid %d, %s, NUMA nodes %s, vCPUs on %s", known->name,
                            resync ? "running" : "started", (int) known->pid,
                            format_bytes(mem, sizeof(mem), known->memory_bytes),
                            known->numa_nodeset ?: "any", known->vcpu_cpuset ?: "any CPU");
        emit(s, VM_EVENT_STARTED, known);
        return known;
}

/* ---- libvirt lifecycle events ---- */

static const char *lifecycle_to_string(int event) {
        static const char *const table[] = {
                [VIR_DOMAIN_EVENT_DEFINED] = "defined",
                [VIR_DOMAIN_EVENT_UNDEFINED] = "undefined",
                [VIR_DOMAIN_EVENT_STARTED] = "started",
                [VIR_DOMAIN_EVENT_SUSPENDED] = "suspended",
                [VIR_DOMAIN_EVENT_RESUMED] = "resumed",
                [VIR_DOMAIN_EVENT_STOPPED] = "stopped",
                [VIR_DOMAIN_EVENT_SHUTDOWN] = "shutdown",
                [VIR_DOMAIN_EVENT_PMSUSPENDED] = "pmsuspended",
                [VIR_DOMAIN_EVENT_CRASHED] = "crashed",
        };

        if (event < 0 || (size_t) event >= ELEMENTSOF(table) || !table[event])
                return "unknown";
        return table[event];
}

/* The detail of a lifecycle event as libvirt's virsh names it, "3" if we do not know it. */
static const char *detail_to_string(int event, int detail, char buf[static 12]) {
        static const char *const started[] = {
                [VIR_DOMAIN_EVENT_STARTED_BOOTED] = "booted",
                [VIR_DOMAIN_EVENT_STARTED_MIGRATED] = "migrated",
                [VIR_DOMAIN_EVENT_STARTED_RESTORED] = "restored",
                [VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT] = "from-snapshot",
                [VIR_DOMAIN_EVENT_STARTED_WAKEUP] = "wakeup",
        };
        static const char *const resumed[] = {
                [VIR_DOMAIN_EVENT_RESUMED_UNPAUSED] = "unpaused",
                [VIR_DOMAIN_EVENT_RESUMED_MIGRATED] = "migrated",
                [VIR_DOMAIN_EVENT_RESUMED_FROM_SNAPSHOT] = "from-snapshot",
                [VIR_DOMAIN_EVENT_RESUMED_POSTCOPY] = "postcopy",
        };
        static const char *const stopped[] = {
                [VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN] = "shutdown",
                [VIR_DOMAIN_EVENT_STOPPED_DESTROYED] = "destroyed",
                [VIR_DOMAIN_EVENT_STOPPED_CRASHED] = "crashed",
                [VIR_DOMAIN_EVENT_STOPPED_MIGRATED] = "migrated",
                [VIR_DOMAIN_EVENT_STOPPED_SAVED] = "saved",
                [VIR_DOMAIN_EVENT_STOPPED_FAILED] = "failed",
                [VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT] = "from-snapshot",
        };
        static const char *const shutdown[] = {
                [VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED] = "finished",
                [VIR_DOMAIN_EVENT_SHUTDOWN_GUEST] = "guest",
                [VIR_DOMAIN_EVENT_SHUTDOWN_HOST] = "host",
        };
        static const char *const crashed[] = {
                [VIR_DOMAIN_EVENT_CRASHED_PANICKED] = "panicked",
                [VIR_DOMAIN_EVENT_CRASHED_CRASHLOADED] = "crashloaded",
        };
        const char *const *table = NULL;
        size_t n = 0;

#define PICK(t) (table = (t), n = ELEMENTSOF(t))
        switch (event) {
        case VIR_DOMAIN_EVENT_STARTED:
                PICK(started);
                break;
        case VIR_DOMAIN_EVENT_RESUMED:
                PICK(resumed);
                break;
        case VIR_DOMAIN_EVENT_STOPPED:
                PICK(stopped);
                break;
        case VIR_DOMAIN_EVENT_SHUTDOWN:
                PICK(shutdown);
                break;
        case VIR_DOMAIN_EVENT_CRASHED:
                PICK(crashed);
                break;
        }
#undef PICK
        if (table && detail >= 0 && (size_t) detail < n && table[detail])
                return table[detail];
        snprintf(buf, 12, "%d", detail);
        return buf;
}

static void retire(LibvirtSource *s, virDomainPtr dom, VmEvent event, const char *why) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        KnownVm *v;

        if (virDomainGetUUIDString(dom, uuid) < 0)
                return;
        for (char *p = uuid; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        v = known_vm_find(s, uuid);
        if (!v)
                return;  /* never announced, nobody knows it */

        log_fields(event == VM_EVENT_STOPPED ? LOG_INFO : LOG_NOTICE,
                   FIELDS({"VTISM_VM", v->uuid}, {"VTISM_VM_NAME", v->name}),
                   "VM %s (pid %d) %s (libvirt: %s).", v->name, (int) v->pid,
                   event == VM_EVENT_CRASHED ? "crashed" :
                   event == VM_EVENT_MIGRATED_OUT ? "migrated away" : "stopped", why);
        emit(s, event, v);
        /* The handler may not free us, but it may have made libvirt calls: look up again. */
        v = known_vm_find(s, uuid);
        if (v)
                known_vm_remove(s, v);
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque) {
        LibvirtSource *s = opaque;
        _cleanup_free_ char *why = NULL;
        char buf[12];


        why = xasprintf("%s/%s", lifecycle_to_string(event), detail_to_string(event, detail, buf));
        log_debug("libvirt event for domain %s: %s", virDomainGetName(dom) ?: "?", why);

        switch (event) {
        case VIR_DOMAIN_EVENT_STARTED:
        case VIR_DOMAIN_EVENT_RESUMED:
                (void) announce(s, dom, false);
                break;
        case VIR_DOMAIN_EVENT_STOPPED:
                switch (detail) {
                case VIR_DOMAIN_EVENT_STOPPED_FAILED:
                case VIR_DOMAIN_EVENT_STOPPED_CRASHED:
                        retire(s, dom, VM_EVENT_CRASHED, why);
                        break;
                case VIR_DOMAIN_EVENT_STOPPED_MIGRATED:
                        retire(s, dom, VM_EVENT_MIGRATED_OUT, why);
                        break;
                default:
                        retire(s, dom, VM_EVENT_STOPPED, why);
                }
                break;
        case VIR_DOMAIN_EVENT_CRASHED:
                retire(s, dom, VM_EVENT_CRASHED, why);
                break;
        default:
                break;
        }
        return 0;
}

/* ---- connection ---- */

static int on_retry(sd_event_source *es, uint64_t usec, void *userdata);

static void schedule_retry(LibvirtSource *s, usec_t delay_usec) {
        int r;

        s->retry_at_usec = now_monotonic() + delay_usec;
        if (!s->retry_timer) {
                r = sd_event_add_time(s->event, &s->retry_timer, CLOCK_MONOTONIC, s->retry_at_usec,
                                      10 * USEC_PER_MSEC, on_retry, s);
                if (r < 0) {
                        /* Only ENOMEM gets here. */
                        log_error_errno(r, "Failed to arm the libvirt reconnection timer: %m");
                        return;
                }
                (void) sd_event_source_set_description(s->retry_timer, "libvirt-retry");
                return;
        }
        (void) sd_event_source_set_time(s->retry_timer, s->retry_at_usec);
        (void) sd_event_source_set_enabled(s->retry_timer, SD_EVENT_ONESHOT);
}

static void on_close(virConnectPtr conn, int reason, void *opaque);

static void disconnect(LibvirtSource *s) {
        if (!s->conn)
                return;
        /* On a dead connection these fail after dropping their local state, which is all we
         * need; their errors are only logged at debug by the error hook. */
        if (s->lifecycle_id >= 0)
                (void) virConnectDomainEventDeregisterAny(s->conn, s->lifecycle_id);
        s->lifecycle_id = -1;
        if (s->close_registered)
                (void) virConnectUnregisterCloseCallback(s->conn, on_close);
        s->close_registered = false;
        (void) virConnectClose(s->conn);
        s->conn = NULL;
        s->lost_event = sd_event_source_disable_unref(s->lost_event);
}

static const char *close_reason_to_string(int reason) {
        switch (reason) {
        case VIR_CONNECT_CLOSE_REASON_ERROR:
                return "connection error";
        case VIR_CONNECT_CLOSE_REASON_EOF:
                return "libvirtd closed the connection";
        case VIR_CONNECT_CLOSE_REASON_KEEPALIVE:
                return "keepalive timeout";
        case VIR_CONNECT_CLOSE_REASON_CLIENT:
                return "closed by client";
        default:
                return "unknown reason";
        }
}

static int on_lost(sd_event_source *es, void *userdata) {
        LibvirtSource *s = userdata;

        disconnect(s);
        s->backoff_usec = BACKOFF_MIN_USEC;
        schedule_retry(s, s->backoff_usec);
        s->backoff_usec = MIN(s->backoff_usec * 2, BACKOFF_MAX_USEC);
        log_notice("Lost the connection to libvirt at %s (%s), reconnecting in %llu s; keeping its %zu VM%s until the resync.",
                   s->uri, s->last_error, (unsigned long long) (BACKOFF_MIN_USEC / USEC_PER_SEC),
                   s->n_vms, s->n_vms == 1 ? "" : "s");
        return 0;
}

/* Called by libvirt from inside its I/O code: only note it, and tear down from the loop. */
static void on_close(virConnectPtr conn, int reason, void *opaque) {
        LibvirtSource *s = opaque;
        int r;

        free(s->last_error);
        s->last_error = xstrdup(close_reason_to_string(reason));
        if (s->lost_event)
                return;
        r = sd_event_add_defer(s->event, &s->lost_event, on_lost, s);
        if (r < 0) {
                log_error_errno(r, "Failed to schedule the libvirt reconnection: %m");
                return;
        }
        (void) sd_event_source_set_description(s->lost_event, "libvirt-lost");
}

/* RESYNC_BEGIN, STARTED for each running domain, RESYNC_END. */
static int resync(LibvirtSource *s) {
        virDomainPtr *doms = NULL;
        int n;

        n = virConnectListAllDomains(s->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
        if (n < 0)
                return libvirt_last_error_errno();

        emit(s, VM_EVENT_RESYNC_BEGIN, NULL);
        known_vms_clear(s);
        for (int i = 0; i < n; i++) {
                (void) announce(s, doms[i], true);
                virDomainFree(doms[i]);
        }
        free(doms);
        emit(s, VM_EVENT_RESYNC_END, NULL);
        return 0;
}

static int try_connect(LibvirtSource *s) {
        int r;

        s->conn = virConnectOpen(s->uri);
        if (!s->conn)
                return libvirt_last_error_errno();

        if (!s->run_dir) {
                _cleanup_free_ char *uri = virConnectGetURI(s->conn);

                s->run_dir = run_dir_for_uri(uri ?: s->uri);
                if (!s->run_dir)
                        log_notice("libvirt URI %s is not a local qemu:///system or qemu:///session, QEMU pids are unknown.",
                                   uri ?: s->uri);
        }

        if (virConnectRegisterCloseCallback(s->conn, on_close, s, NULL) < 0)
                goto fail;
        s->close_registered = true;

        /* Keepalive notices a libvirtd that hangs; one that exits closes the socket at once. */
        if (virConnectSetKeepAlive(s->conn, KEEPALIVE_INTERVAL_SEC, KEEPALIVE_COUNT) < 0)
                log_debug("libvirt keepalive not available: %s", libvirt_last_error_message());

        /* Subscribe before listing, so a domain starting in between is not missed. */
        s->lifecycle_id = virConnectDomainEventRegisterAny(s->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                           VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), s, NULL);
        if (s->lifecycle_id < 0)
                goto fail;

        r = resync(s);
        if (r < 0) {
                disconnect(s);
                return r;
        }
        return 0;

fail:
        r = libvirt_last_error_errno();
        disconnect(s);
        return r;
}

static int on_retry(sd_event_source *es, uint64_t usec, void *userdata) {
        LibvirtSource *s = userdata;
        usec_t delay;
        int r;

        r = try_connect(s);
        if (r >= 0) {
                log_info("Connected to libvirt at %s, %zu VM%s running.", s->uri, s->n_vms,
                         s->n_vms == 1 ? "" : "s");
                free(s->last_error);
                s->last_error = NULL;
                s->n_failures = 0;
                s->backoff_usec = BACKOFF_MIN_USEC;
                return 0;
        }

        free(s->last_error);
        s->last_error = xstrdup(libvirt_last_error_message());
        delay = s->backoff_usec;
        schedule_retry(s, delay);
        s->backoff_usec = MIN(s->backoff_usec * 2, BACKOFF_MAX_USEC);
        /* Say it once at info (libvirtd not running is a normal state), then at debug. */
        log_full_errno(s->n_failures++ == 0 ? LOG_INFO : LOG_DEBUG, r,
                       "libvirt at %s unreachable (%s), retrying in %llu s.", s->uri, s->last_error,
                       (unsigned long long) (delay / USEC_PER_SEC));
        return 0;
}

/* ---- VmSource ---- */

static void libvirt_source_free(VmSource *base) {
        LibvirtSource *s = (LibvirtSource *) base;

        disconnect(s);
        /* Run the free callbacks libvirt queued while closing: the loop may never run again. */
        libvirt_event_flush();
        sd_event_source_disable_unref(s->retry_timer);
        sd_event_source_disable_unref(s->lost_event);
        sd_event_unref(s->event);
        known_vms_clear(s);
        free(s->uri);
        free(s->run_dir);
        free(s->proc_root);
        free(s->last_error);
        free(s->description);
        free(s);
}

static const char *libvirt_source_describe(VmSource *base) {
        LibvirtSource *s = (LibvirtSource *) base;
        usec_t now = now_monotonic(), left;

        free(s->description);
        if (s->conn)
                s->description = xasprintf("connected to %s, %zu domain%s", s->uri, s->n_vms,
                                           s->n_vms == 1 ? "" : "s");
        else if (s->last_error) {
                left = s->retry_at_usec > now ? s->retry_at_usec - now : 0;
                s->description = xasprintf("libvirtd unreachable (%s), retrying in %llu s", s->last_error,
                                           (unsigned long long) DIV_ROUND_UP(left, USEC_PER_SEC));
        } else
                s->description = xasprintf("connecting to %s", s->uri);
        return s->description;
}

static const VmSourceVTable libvirt_vtable = {
        .name = "libvirt",
        .free = libvirt_source_free,
        .describe = libvirt_source_describe,
};

int vmsource_libvirt_new(sd_event *event, const char *uri, const char *proc_root, VmSourceHandler handler,
                         void *userdata, VmSource **ret) {
        LibvirtSource *s;
        int r;

        if (!event || !handler || !ret)
                return -EINVAL;

        r = libvirt_event_attach(event);
        if (r < 0)
                return r;

        s = xcalloc(1, sizeof(LibvirtSource));
        s->base.vtable = &libvirt_vtable;
        s->event = sd_event_ref(event);
        s->uri = xstrdup(uri ?: "qemu:///system");
        s->proc_root = xstrdup(proc_root ?: "/proc");
        s->handler = handler;
        s->userdata = userdata;
        s->lifecycle_id = -1;
        s->backoff_usec = BACKOFF_MIN_USEC;

        /* First attempt from the loop, so the handler never runs before we return. */
        schedule_retry(s, 0);
        if (!s->retry_timer) {
                libvirt_source_free(&s->base);
                return -ENOMEM;
        }

        *ret = &s->base;
        return 0;
}
