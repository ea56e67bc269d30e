/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "vtism/libvirt-event.h"
#include "vtism/log.h"
#include "vtism/macro.h"
#include "vtism/pid-index.h"
#include "vtism/proc-pid.h"
#include "vtism/qemu-cmdline.h"
#include "vtism/util.h"
#include "vtism/vm-metadata.h"
#include "vtism/vmsource.h"

/*
 * VMs from a libvirt daemon. Connects (retrying with backoff while libvirtd is unreachable),
 * subscribes to lifecycle events, then resyncs: every running domain is announced between
 * RESYNC_BEGIN and RESYNC_END. A lost connection (close callback: EOF, keepalive timeout, error)
 * is torn down from the loop and the same happens again after the backoff.
 *
 * Threads. Every libvirt call can block for as long as libvirtd does not answer: a stopped or hung
 * libvirtd keeps virConnectOpen() waiting for its reply forever, and any RPC on a connection until
 * the keepalive gives up (~20 s). None of that may stop the daemon's loop (its watchdog, D-Bus,
 * SIGTERM). So all of libvirt runs in a thread of its own, "the worker", with its own sd-event loop
 * that libvirt's event implementation (libvirt-event.c) is bound to; nothing else in vtismd calls
 * libvirt. The worker and the caller's loop share one Shared record under a mutex:
 *
 *   worker -> loop   VM events, queued (copies) and signalled through an eventfd; the loop calls
 *                    the handler, in order, from its own thread. A status (connecting, connected,
 *                    unreachable; since when the worker has been inside a libvirt call, and which).
 *   loop -> worker   requests through another eventfd: a new URI (a reload), quit.
 *
 * Bounds. The loop checks every CHECK_INTERVAL_USEC whether the worker has been inside one libvirt
 * call for longer than its limit: CONNECT_TIMEOUT_USEC for a connection attempt (open, subscribe,
 * resync), CALL_TIMEOUT_USEC for any other call; if so it shuts the connection's socket down
 * (libvirt_event_abort_io()), the call fails at once, and the worker retries with backoff ("no
 * answer within 120 s"). The
 * same abort makes a URI change or quit effective at once when the worker is stuck. Once connected,
 * libvirt's keepalive (5 s, 3 missed) ends a connection to a hung libvirtd before that. On quit the
 * loop waits QUIT_WAIT_USEC for the worker, then leaves it behind (it frees itself when its call
 * returns): vtismd exits promptly even then. Only a connect(2) blocked in the kernel before libvirt
 * hands over the socket (a full listen backlog) cannot be aborted.
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
 * Guest-initiated shutdown (before QEMU exits) changes nothing.
 *
 * Run state (VmRunState), sent with STARTED and, when it changes, with CHANGED. It is read from
 * libvirt (virDomainGetState(), and virDomainGetJobStats() for the job's operation) when a domain
 * is announced, on its suspended, resumed and pmsuspended events, on every migration-iteration
 * event (QEMU's MIGRATION_PASS, from the first pass on: the start of an outgoing migration), and
 * every JOB_POLL_USEC while the domain is not running, because a live migration that fails or is
 * cancelled before the switch-over leaves the source running again without any lifecycle event:
 *   paused (virsh suspend), pmsuspended          PAUSED
 *   running or paused, with a job whose
 *   operation is "migration out"                 MIGRATING_OUT
 *   paused for migration/post-copy on the
 *   destination (announced by started/migrated,
 *   or libvirt refuses job statistics there)     MIGRATING_IN
 *   anything else                                RUNNING
 * A running domain costs no libvirt call between events.
 */

#define SYSTEM_RUN_DIR "/run/libvirt/qemu"
#define BACKOFF_MIN_USEC (1 * USEC_PER_SEC)
#define BACKOFF_MAX_USEC (60 * USEC_PER_SEC)
#define KEEPALIVE_INTERVAL_SEC 5
#define KEEPALIVE_COUNT 3
#define CALL_TIMEOUT_USEC (30 * USEC_PER_SEC)
/* A connection attempt includes libvirtd's own start when it is socket-activated (Debian enables
 * libvirtd.socket), and a first qemu:///system connection makes it probe QEMU's capabilities.
 * Measured in the lab (TCG, systemd, host load average ~30): the first `virsh list` of a cold,
 * socket-activated libvirtd answered after 40.5 s (the next one after 6.1 s, most of it virsh's own
 * start); 30 s cut exactly that start short, and lab-soak's vtismd warned "libvirt unreachable (no
 * answer within 30 s)" at start-up although libvirtd was only starting. About 3 times the worst
 * case measured; a libvirtd that hangs is still given up, after this long. */
#define CONNECT_TIMEOUT_USEC (120 * USEC_PER_SEC)
#define CHECK_INTERVAL_USEC (5 * USEC_PER_SEC)
#define QUIT_WAIT_USEC (5 * USEC_PER_SEC)
#define JOB_POLL_USEC (1 * USEC_PER_SEC)

typedef struct KnownVm {
        char *uuid;
        char *name;
        pid_t pid;
        unsigned long long start_time;
        char *cmdline;
        char *numa_nodeset;
        char *vcpu_cpuset;
        uint64_t memory_bytes;
        char *policy_xml;               /* <metadata> in VTISM_METADATA_NS, NULL if none */
        VmRunState run_state;
        char *run_state_why;            /* libvirt's word for it, NULL when running */
        bool incoming;                  /* announced by started/migrated: the destination of a migration */
        bool indexed;                   /* in Worker.by_uuid (else another VM has its key there) */
} KnownVm;

/* ---- what the worker and the loop share ---- */

typedef struct Message {
        VmEvent event;
        bool has_vm;
        KnownVm vm;                     /* a copy, owned by the message */
        struct Message *next;
} Message;

typedef enum LinkState {
        LINK_CONNECTING,
        LINK_CONNECTED,
        LINK_UNREACHABLE,
} LinkState;

typedef struct Shared {
        pthread_mutex_t lock;
        unsigned n_refs;                /* the worker's and the loop's */
        int notify_fd;                  /* eventfd: messages are queued (the loop polls it) */
        int wake_fd;                    /* eventfd: a request is pending (the worker polls it) */

        /* worker -> loop */
        Message *head, **tail;
        LinkState state;
        char *uri;                      /* the one the worker uses now */
        size_t n_domains;
        char *last_error;               /* why unreachable */
        usec_t retry_at_usec;           /* CLOCK_MONOTONIC */
        usec_t busy_since_usec;         /* inside a libvirt call since (CLOCK_MONOTONIC), 0 if not */
        usec_t busy_limit_usec;         /* cut it short after this long */
        const char *busy_what;          /* which, a static string */

        /* loop -> worker */
        char *uri_request;              /* a new URI, NULL if none pending */
        bool quit;
        bool aborted;                   /* the loop shut the socket down: the call timed out */
} Shared;

/* ---- the worker: everything that talks to libvirt ---- */

typedef struct Worker {
        Shared *shared;
        sd_event *event;                /* the worker's own loop */
        sd_event_source *wake_source;

        char *uri;
        char *run_dir;                  /* where libvirt keeps NAME.pid; NULL: unknown (remote) */
        bool run_dir_known;
        char *proc_root;                /* where QEMU pids are checked */

        virConnectPtr conn;
        int lifecycle_id;               /* -1: not registered */
        int metadata_id;                /* -1: not registered */
        int iteration_id;               /* migration iteration events, -1: not registered */
        bool close_registered;
        sd_event_source *job_timer;     /* run states of domains that are not running */

        sd_event_source *retry_timer;   /* next connection attempt */
        sd_event_source *lost_event;    /* connection lost: tear down from the loop */
        usec_t backoff_usec;
        usec_t retry_at_usec;           /* CLOCK_MONOTONIC */
        char *last_error;               /* why the last attempt failed / the connection was lost */
        unsigned n_failures;            /* attempts since the last success, for log levels */
        unsigned busy_depth;            /* busy() nesting */

        /* The domains announced, in no order. By uuid through by_uuid: a PidIndex keyed by a hash
         * of the uuid (uuid_key(), 31 bits) to the place in vms, so that a lifecycle event finds its
         * domain in O(1), not by a scan of them all (n domains started or stopped at once were
         * O(n^2)). A domain whose key another one holds already stays out of the index
         * (!indexed) and is found by a scan, only while there is such a one (n_unindexed): two
         * keys alike among 10,000 uuids happen with probability ~2 %. */
        KnownVm *vms;
        size_t n_vms;
        PidIndex by_uuid;
        size_t n_unindexed;
} Worker;

static void publish(Worker *w);
static void emit(Worker *w, VmEvent event, const KnownVm *v);
static void busy(Worker *w, const char *what);

static const char *startswith(const char *s, const char *prefix) {
        size_t l = strlen(prefix);

        return strncmp(s, prefix, l) == 0 ? s + l : NULL;
}

static void known_vm_done(KnownVm *v) {
        free(v->uuid);
        free(v->name);
        free(v->cmdline);
        free(v->numa_nodeset);
        free(v->vcpu_cpuset);
        free(v->policy_xml);
        free(v->run_state_why);
        *v = (KnownVm) {};
}

static void known_vms_clear(Worker *w) {
        for (size_t i = 0; i < w->n_vms; i++)
                known_vm_done(&w->vms[i]);
        free(w->vms);
        w->vms = NULL;
        w->n_vms = 0;
        pid_index_clear(&w->by_uuid);
        w->n_unindexed = 0;
}

/* A uuid's key in w->by_uuid (a pid there: 1..INT32_MAX). */
static pid_t uuid_key(const char *uuid) {
        return (pid_t) (string_hash(uuid, false) % INT32_MAX) + 1;
}

/* w->vms[i] into the index, unless its key is taken. */
static void known_vm_index(Worker *w, size_t i) {
        KnownVm *v = &w->vms[i];

        v->indexed = pid_index_add(&w->by_uuid, uuid_key(v->uuid), i) >= 0;
        if (!v->indexed)
                w->n_unindexed++;
}

static KnownVm *known_vm_find(Worker *w, const char *uuid) {
        size_t i;

        if (pid_index_get(&w->by_uuid, uuid_key(uuid), &i) && streq(w->vms[i].uuid, uuid))
                return &w->vms[i];
        for (i = 0; w->n_unindexed > 0 && i < w->n_vms; i++)
                if (!w->vms[i].indexed && streq(w->vms[i].uuid, uuid))
                        return &w->vms[i];
        return NULL;
}

/* The domain's uuid, in lower case as the records keep it, in buf (VIR_UUID_STRING_BUFLEN); and
 * its record, if it was announced. Returns NULL and leaves buf empty if libvirt cannot say. */
static KnownVm *known_vm_of(Worker *w, virDomainPtr dom, char *buf) {
        if (virDomainGetUUIDString(dom, buf) < 0) {
                buf[0] = 0;
                return NULL;
        }
        for (char *p = buf; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        return known_vm_find(w, buf);
}

/* The record goes; the last one takes its place (and, if it was indexed, one left out for the
 * same key takes its place in the index). */
static void known_vm_remove(Worker *w, KnownVm *v) {
        size_t i = (size_t) (v - w->vms), last = w->n_vms - 1;
        pid_t key = uuid_key(v->uuid);
        bool indexed = v->indexed;

        if (indexed)
                (void) pid_index_remove(&w->by_uuid, key);
        else
                w->n_unindexed--;
        known_vm_done(v);
        if (i != last) {
                w->vms[i] = w->vms[last];
                if (w->vms[i].indexed)
                        (void) pid_index_set(&w->by_uuid, uuid_key(w->vms[i].uuid), i);
        }
        w->n_vms--;
        for (size_t k = 0; indexed && w->n_unindexed > 0 && k < w->n_vms; k++)
                if (!w->vms[k].indexed && uuid_key(w->vms[k].uuid) == key) {
                        w->n_unindexed--;
                        known_vm_index(w, k);
                        break;
                }
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
static int qemu_pid_validate(Worker *w, pid_t pid, const char *uuid, KnownVm *v) {
        _cleanup_(proc_cmdline_freep) ProcCmdline *c = NULL;
        unsigned long long start_time;
        int r;

        r = proc_pid_cmdline(w->proc_root, pid, &c);
        if (r == -ENODATA)
                return -ESRCH;  /* a zombie, or a kernel thread */
        if (r < 0)
                return r;
        if (!exe_is_qemu(w->proc_root, pid) && !qemu_cmdline_is_qemu(c->argv[0]))
                return -EMEDIUMTYPE;

        for (size_t i = 0; i + 1 < c->argc; i++)
                if (streq(c->argv[i], "-uuid")) {
                        if (strcasecmp(c->argv[i + 1], uuid) != 0)
                                return -ESTALE;
                        break;
                }

        r = proc_pid_start_time(w->proc_root, pid, &start_time);
        if (r < 0)
                return r;
        v->start_time = start_time;
        v->cmdline = proc_cmdline_join(c);
        return 0;
}

/* Fills v->pid (0 if unknown), v->start_time and v->cmdline. */
static void domain_pid(Worker *w, const char *name, const char *uuid, KnownVm *v) {
        _cleanup_free_ char *file = NULL, *line = NULL;
        int r, pid;

        v->pid = 0;
        if (!w->run_dir)
                return;

        file = xasprintf("%s.pid", name);
        r = read_line_at(w->run_dir, file, &line);
        if (r >= 0)
                r = safe_atoi(line, &pid);
        if (r >= 0 && pid <= 0)
                r = -EINVAL;
        if (r < 0) {
                log_fields(LOG_DEBUG, FIELDS({"VTISM_VM", uuid}, {"VTISM_VM_NAME", name}),
                           "No usable pid file %s/%s for domain %s: %s", w->run_dir, file, name, strerror(-r));
                return;
        }
        r = qemu_pid_validate(w, pid, uuid, v);
        if (r < 0) {
                log_fields(LOG_DEBUG, FIELDS({"VTISM_VM", uuid}, {"VTISM_VM_NAME", name}),
                           "Pid %d from %s/%s is not the QEMU of domain %s: %s", pid, w->run_dir, file, name,
                           r == -EMEDIUMTYPE ? "not a qemu process" :
                           r == -ESTALE ? "another domain's uuid" : strerror(-r));
                return;
        }
        v->pid = pid;
}

/* ---- the rest of a domain's identity ---- */

/* The domain's vtism policy element (vm-metadata.h) as libvirt keeps it for the running domain;
 * NULL if it has none (or libvirt cannot say, logged at debug). */
static char *domain_policy_xml(virDomainPtr dom) {
        char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, VTISM_METADATA_NS, VIR_DOMAIN_AFFECT_LIVE);

        if (!xml) {
                virErrorPtr e = virGetLastError();

                if (!e || e->code != VIR_ERR_NO_DOMAIN_METADATA)
                        log_debug("No vtism metadata for domain %s: %s", virDomainGetName(dom) ?: "?",
                                  libvirt_last_error_message());
                return NULL;
        }
        return xml; /* malloc()ed by libvirt */
}

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

/* ---- what a domain is doing (run state) ---- */

static const char *paused_reason_to_string(int reason) {
        static const char *const table[] = {
                [VIR_DOMAIN_PAUSED_UNKNOWN] = "unknown",
                [VIR_DOMAIN_PAUSED_USER] = "user",
                [VIR_DOMAIN_PAUSED_MIGRATION] = "migration",
                [VIR_DOMAIN_PAUSED_SAVE] = "save",
                [VIR_DOMAIN_PAUSED_DUMP] = "dump",
                [VIR_DOMAIN_PAUSED_IOERROR] = "ioerror",
                [VIR_DOMAIN_PAUSED_WATCHDOG] = "watchdog",
                [VIR_DOMAIN_PAUSED_FROM_SNAPSHOT] = "from snapshot",
                [VIR_DOMAIN_PAUSED_SHUTTING_DOWN] = "shutting down",
                [VIR_DOMAIN_PAUSED_SNAPSHOT] = "snapshot",
                [VIR_DOMAIN_PAUSED_CRASHED] = "crashed",
                [VIR_DOMAIN_PAUSED_STARTING_UP] = "starting up",
                [VIR_DOMAIN_PAUSED_POSTCOPY] = "post-copy",
                [VIR_DOMAIN_PAUSED_POSTCOPY_FAILED] = "post-copy failed",
        };

        if (reason < 0 || (size_t) reason >= ELEMENTSOF(table) || !table[reason])
                return "other";
        return table[reason];
}

/* The operation of the domain's job (VIR_DOMAIN_JOB_OPERATION_*), 0 without a job; -EOPNOTSUPP
 * where libvirt has no statistics to give: the destination of a migration ("migration statistics
 * are available only on the source host"); other -errno if the call failed. */
static int domain_job_operation(virDomainPtr dom) {
        virTypedParameterPtr params = NULL;
        int type = VIR_DOMAIN_JOB_NONE, n = 0, op = 0;

        if (virDomainGetJobStats(dom, &type, &params, &n, 0) < 0) {
                virErrorPtr e = virGetLastError();

                if (e && e->code == VIR_ERR_OPERATION_UNSUPPORTED)
                        return -EOPNOTSUPP;
                log_debug("No job statistics for domain %s: %s", virDomainGetName(dom) ?: "?", libvirt_last_error_message());
                return libvirt_last_error_errno();
        }
        if (type != VIR_DOMAIN_JOB_NONE && virTypedParamsGetInt(params, n, VIR_DOMAIN_JOB_OPERATION, &op) <= 0)
                op = VIR_DOMAIN_JOB_OPERATION_UNKNOWN;
        virTypedParamsFree(params, n);
        return type == VIR_DOMAIN_JOB_NONE ? 0 : MAX(op, 0);
}

/* Sets v->run_state and v->run_state_why from libvirt; leaves both as they were if libvirt cannot
 * say (the domain is going, the connection failed: the events that follow tell). */
static void domain_run_state(virDomainPtr dom, KnownVm *v) {
        VmRunState rs = VM_RUN_RUNNING;
        char *why = NULL;
        int state, reason, op;

        if (virDomainGetState(dom, &state, &reason, 0) < 0) {
                log_debug("No state for domain %s: %s", virDomainGetName(dom) ?: "?", libvirt_last_error_message());
                return;
        }
        switch (state) {
        case VIR_DOMAIN_PAUSED:
                if (reason == VIR_DOMAIN_PAUSED_MIGRATION || reason == VIR_DOMAIN_PAUSED_POSTCOPY ||
                    reason == VIR_DOMAIN_PAUSED_POSTCOPY_FAILED) {
                        /* Known to be the destination: no job statistics to ask for (libvirtd
                         * would log an error for each refusal, every JOB_POLL_USEC). */
                        op = v->incoming ? VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN : domain_job_operation(dom);
                        if (op == VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT) {
                                rs = VM_RUN_MIGRATING_OUT;
                                why = xasprintf("libvirt: migration job, paused for %s", paused_reason_to_string(reason));
                                break;
                        }
                        if (op == VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN || op == -EOPNOTSUPP) {
                                rs = VM_RUN_MIGRATING_IN;
                                why = xstrdup("libvirt: incoming migration");
                                break;
                        }
                }
                rs = VM_RUN_PAUSED;
                why = xasprintf("libvirt: paused (%s)", paused_reason_to_string(reason));
                break;
        case VIR_DOMAIN_PMSUSPENDED:
                rs = VM_RUN_PAUSED;
                why = xstrdup("libvirt: pmsuspended (guest sleeps)");
                break;
        case VIR_DOMAIN_RUNNING:
        case VIR_DOMAIN_BLOCKED:
        case VIR_DOMAIN_SHUTDOWN:
                if (domain_job_operation(dom) == VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT) {
                        rs = VM_RUN_MIGRATING_OUT;
                        why = xstrdup("libvirt: migration job, live");
                }
                break;
        default:
                break;
        }
        if (rs == VM_RUN_RUNNING)
                v->incoming = false; /* it runs here now */
        v->run_state = rs;
        free(v->run_state_why);
        v->run_state_why = why;
}

/* Read the run state of a known domain again; tell the loop if it changed. */
static void refresh_run_state(Worker *w, virDomainPtr dom, KnownVm *v) {
        VmRunState old = v->run_state;
        _cleanup_free_ char *old_why = v->run_state_why ? xstrdup(v->run_state_why) : NULL;

        busy(w, "reading a domain's state");
        domain_run_state(dom, v);
        busy(w, NULL);
        if (v->run_state == old && streq_ptr(v->run_state_why, old_why))
                return;
        log_fields(LOG_INFO, FIELDS({"VTISM_VM", v->uuid}, {"VTISM_VM_NAME", v->name}), "VM %s: %s%s%s%s.", v->name,
                   vm_run_state_to_string(v->run_state), v->run_state_why ? " (" : "", v->run_state_why ?: "",
                   v->run_state_why ? ")" : "");
        emit(w, VM_EVENT_CHANGED, v);
        publish(w);
}

/* Fills v for a running domain. -ESRCH/-ENOENT if it is not running (any more). */
static int domain_identity(Worker *w, virDomainPtr dom, bool incoming, KnownVm *ret) {
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
        domain_pid(w, name, uuid, &v);
        v.numa_nodeset = domain_numa_nodeset(dom);
        v.vcpu_cpuset = domain_vcpu_cpuset(w->conn, dom, info.nrVirtCpu);
        v.policy_xml = domain_policy_xml(dom);
        v.incoming = incoming;
        domain_run_state(dom, &v);

        *ret = v;
        return 0;
}

/* Announce a running domain unless it already was; returns the record or NULL, and in *ret_new
 * whether it was announced now. incoming: libvirt said started/migrated. */
static KnownVm *announce(Worker *w, virDomainPtr dom, bool resync, bool incoming, bool *ret_new) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        KnownVm v, *known;
        char mem[FORMAT_BYTES_MAX];
        int r;

        /* A resync lists every domain once, into the list it has just emptied: nothing to look
         * for there (a search per domain made a resync of n domains O(n^2)). */
        if (!resync) {
                known = known_vm_of(w, dom, uuid);
                if (known) {
                        if (ret_new)
                                *ret_new = false;
                        return known;
                }
        }

        r = domain_identity(w, dom, incoming, &v);
        if (r < 0) {
                log_debug_errno(r, "Domain %s vanished before it could be announced: %m",
                                virDomainGetName(dom) ?: "?");
                return NULL;
        }

        w->vms = xreallocarray(w->vms, w->n_vms + 1, sizeof(KnownVm));
        w->vms[w->n_vms] = v;
        known_vm_index(w, w->n_vms);
        known = &w->vms[w->n_vms++];

        log_internal_fields(resync ? LOG_DEBUG : LOG_INFO, 0, __FILE__, __LINE__, __func__,
                            FIELDS({"VTISM_VM", known->uuid}, {"VTISM_VM_NAME", known->name}),
                            "VM %s %s: pid %d, %s, NUMA nodes %s, vCPUs on %s%s%s%s", known->name,
                            resync ? "running" : "started", (int) known->pid,
                            format_bytes(mem, sizeof(mem), known->memory_bytes),
                            known->numa_nodeset ?: "any", known->vcpu_cpuset ?: "any CPU",
                            known->policy_xml ? ", vtism policy in its metadata" : "",
                            known->run_state != VM_RUN_RUNNING ? ", " : "",
                            known->run_state != VM_RUN_RUNNING ? vm_run_state_to_string(known->run_state) : "");
        emit(w, VM_EVENT_STARTED, known);
        publish(w);
        if (ret_new)
                *ret_new = true;
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

static void retire(Worker *w, virDomainPtr dom, VmEvent event, const char *why) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        KnownVm *v = known_vm_of(w, dom, uuid);

        if (!v)
                return;  /* never announced, nobody knows it */

        log_fields(event == VM_EVENT_STOPPED ? LOG_INFO : LOG_NOTICE,
                   FIELDS({"VTISM_VM", v->uuid}, {"VTISM_VM_NAME", v->name}),
                   "VM %s (pid %d) %s (libvirt: %s).", v->name, (int) v->pid,
                   event == VM_EVENT_CRASHED ? "crashed" :
                   event == VM_EVENT_MIGRATED_OUT ? "migrated away" : "stopped", why);
        emit(w, event, v);
        known_vm_remove(w, v);
        publish(w);
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque) {
        Worker *w = opaque;
        _cleanup_free_ char *why = NULL;
        char buf[12];

        busy(w, "reading a domain");
        why = xasprintf("%s/%s", lifecycle_to_string(event), detail_to_string(event, detail, buf));
        log_debug("libvirt event for domain %s: %s", virDomainGetName(dom) ?: "?", why);

        switch (event) {
        case VIR_DOMAIN_EVENT_STARTED:
        case VIR_DOMAIN_EVENT_RESUMED:
        case VIR_DOMAIN_EVENT_SUSPENDED:
        case VIR_DOMAIN_EVENT_PMSUSPENDED: {
                bool is_new = false;
                KnownVm *v = announce(w, dom, false,
                                      event == VIR_DOMAIN_EVENT_STARTED && detail == VIR_DOMAIN_EVENT_STARTED_MIGRATED, &is_new);

                if (v && !is_new)
                        refresh_run_state(w, dom, v);
                break;
        }
        case VIR_DOMAIN_EVENT_STOPPED:
                switch (detail) {
                case VIR_DOMAIN_EVENT_STOPPED_FAILED:
                case VIR_DOMAIN_EVENT_STOPPED_CRASHED:
                        retire(w, dom, VM_EVENT_CRASHED, why);
                        break;
                case VIR_DOMAIN_EVENT_STOPPED_MIGRATED:
                        retire(w, dom, VM_EVENT_MIGRATED_OUT, why);
                        break;
                default:
                        retire(w, dom, VM_EVENT_STOPPED, why);
                }
                break;
        case VIR_DOMAIN_EVENT_CRASHED:
                retire(w, dom, VM_EVENT_CRASHED, why);
                break;
        default:
                break;
        }
        busy(w, NULL);
        return 0;
}

/* QEMU began another pass over the memory of a domain it sends away (the first one at the start). */
static void on_migration_iteration(virConnectPtr conn, virDomainPtr dom, int iteration, void *opaque) {
        Worker *w = opaque;
        char uuid[VIR_UUID_STRING_BUFLEN];
        KnownVm *v;

        log_debug("libvirt migration iteration %d for domain %s", iteration, virDomainGetName(dom) ?: "?");
        v = known_vm_of(w, dom, uuid);
        if (v && v->run_state != VM_RUN_MIGRATING_OUT)
                refresh_run_state(w, dom, v);
}

/* Every JOB_POLL_USEC: the domains that are not running, whose way back (a failed or cancelled
 * migration) may come without an event. */
static int on_job_poll(sd_event_source *es, uint64_t usec, void *userdata) {
        Worker *w = userdata;

        (void) sd_event_source_set_time(es, usec + JOB_POLL_USEC);
        if (!w->conn)
                return 0;
        for (size_t i = 0; i < w->n_vms && w->conn; i++) {
                KnownVm *v = &w->vms[i];
                virDomainPtr dom;

                if (v->run_state == VM_RUN_RUNNING)
                        continue;
                busy(w, "looking up a domain");
                dom = virDomainLookupByUUIDString(w->conn, v->uuid);
                busy(w, NULL);
                if (!dom)
                        continue; /* gone: its stopped event says so */
                refresh_run_state(w, dom, v); /* may emit; v stays valid (nothing is removed here) */
                virDomainFree(dom);
        }
        return 0;
}

/* The domain's metadata changed: for our namespace, read it again and tell the loop if it differs
 * (a --config-only change leaves the running domain's metadata as it was). */
static void on_metadata_change(virConnectPtr conn, virDomainPtr dom, int type, const char *nsuri, void *opaque) {
        Worker *w = opaque;
        char uuid[VIR_UUID_STRING_BUFLEN];
        _cleanup_free_ char *xml = NULL;
        KnownVm *v;

        log_debug("libvirt metadata event for domain %s: type %d, namespace %s", virDomainGetName(dom) ?: "?", type,
                  nsuri ?: "none");
        if (type != VIR_DOMAIN_METADATA_ELEMENT || !nsuri || !streq(nsuri, VTISM_METADATA_NS))
                return;
        v = known_vm_of(w, dom, uuid);
        if (!v)
                return; /* not running: read when it starts */
        busy(w, "reading a domain's metadata");
        xml = domain_policy_xml(dom);
        busy(w, NULL);
        if (streq_ptr(xml, v->policy_xml))
                return;
        log_fields(LOG_INFO, FIELDS({"VTISM_VM", v->uuid}, {"VTISM_VM_NAME", v->name}),
                   "VM %s: vtism policy metadata %s.", v->name, !xml ? "removed" : v->policy_xml ? "changed" : "added");
        free(v->policy_xml);
        v->policy_xml = TAKE_PTR(xml);
        emit(w, VM_EVENT_CHANGED, v);
        publish(w);
}

/* ---- the shared record ---- */

static Shared *shared_new(void) {
        Shared *sh = xcalloc(1, sizeof(Shared));

        (void) pthread_mutex_init(&sh->lock, NULL);
        sh->n_refs = 1;
        sh->tail = &sh->head;
        sh->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        sh->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (sh->notify_fd < 0 || sh->wake_fd < 0) {
                /* Only EMFILE/ENFILE/ENOMEM get here: report it as such. */
                if (sh->notify_fd >= 0)
                        (void) close(sh->notify_fd);
                if (sh->wake_fd >= 0)
                        (void) close(sh->wake_fd);
                (void) pthread_mutex_destroy(&sh->lock);
                free(sh);
                return NULL;
        }
        return sh;
}

static void message_free(Message *msg) {
        known_vm_done(&msg->vm);
        free(msg);
}

static void shared_unref(Shared *sh) {
        unsigned n;

        if (!sh)
                return;
        (void) pthread_mutex_lock(&sh->lock);
        n = --sh->n_refs;
        (void) pthread_mutex_unlock(&sh->lock);
        if (n > 0)
                return;
        while (sh->head) {
                Message *msg = sh->head;

                sh->head = msg->next;
                message_free(msg);
        }
        (void) close(sh->notify_fd);
        (void) close(sh->wake_fd);
        free(sh->uri);
        free(sh->last_error);
        free(sh->uri_request);
        (void) pthread_mutex_destroy(&sh->lock);
        free(sh);
}

static void signal_fd(int fd) {
        /* Cannot fail but for a counter at its maximum, which means a wake-up is pending anyway. */
        (void) eventfd_write(fd, 1);
}

static char *strdup_or_null(const char *s) {
        return s ? xstrdup(s) : NULL;
}

static void known_vm_copy(KnownVm *dst, const KnownVm *src) {
        *dst = (KnownVm) {
                .uuid = strdup_or_null(src->uuid),
                .name = strdup_or_null(src->name),
                .pid = src->pid,
                .start_time = src->start_time,
                .cmdline = strdup_or_null(src->cmdline),
                .numa_nodeset = strdup_or_null(src->numa_nodeset),
                .vcpu_cpuset = strdup_or_null(src->vcpu_cpuset),
                .memory_bytes = src->memory_bytes,
                .policy_xml = strdup_or_null(src->policy_xml),
                .run_state = src->run_state,
                .run_state_why = strdup_or_null(src->run_state_why),
                .incoming = src->incoming,
        };
}

/* ---- worker: talking to the loop ---- */

/* Queue an event for the loop's handler. */
static void emit(Worker *w, VmEvent event, const KnownVm *v) {
        Message *msg = xcalloc(1, sizeof(Message));
        Shared *sh = w->shared;

        msg->event = event;
        if (v) {
                msg->has_vm = true;
                known_vm_copy(&msg->vm, v);
        }
        (void) pthread_mutex_lock(&sh->lock);
        *sh->tail = msg;
        sh->tail = &msg->next;
        (void) pthread_mutex_unlock(&sh->lock);
        signal_fd(sh->notify_fd);
}

/* Tell the loop what describe() should say. */
static void publish(Worker *w) {
        Shared *sh = w->shared;

        (void) pthread_mutex_lock(&sh->lock);
        sh->state = w->conn ? LINK_CONNECTED : w->last_error ? LINK_UNREACHABLE : LINK_CONNECTING;
        if (!streq_ptr(sh->uri, w->uri)) {
                free(sh->uri);
                sh->uri = xstrdup(w->uri);
        }
        sh->n_domains = w->n_vms;
        if (!streq_ptr(sh->last_error, w->last_error)) {
                free(sh->last_error);
                sh->last_error = strdup_or_null(w->last_error);
        }
        sh->retry_at_usec = w->retry_at_usec;
        (void) pthread_mutex_unlock(&sh->lock);
}

/* Around every call into libvirt that may wait for libvirtd: the loop cuts it short after
 * limit_usec (see the top). busy_for(w, "what", limit) ... busy(w, NULL) pairs nest; the outermost
 * names the call and sets the limit. */
static void busy_for(Worker *w, const char *what, usec_t limit_usec) {
        Shared *sh = w->shared;

        if (what ? w->busy_depth++ > 0 : --w->busy_depth > 0)
                return;
        (void) pthread_mutex_lock(&sh->lock);
        sh->busy_since_usec = what ? clock_now_usec(CLOCK_MONOTONIC) : 0;
        sh->busy_limit_usec = limit_usec;
        sh->busy_what = what;
        if (!what)
                sh->aborted = false;
        (void) pthread_mutex_unlock(&sh->lock);
}

/* busy_for() a call on a connection: CALL_TIMEOUT_USEC */
static void busy(Worker *w, const char *what) {
        busy_for(w, what, CALL_TIMEOUT_USEC);
}

/* Did the loop cut the call short (it timed out)? Asked before busy(w, NULL). */
static bool was_aborted(Worker *w) {
        bool aborted;

        (void) pthread_mutex_lock(&w->shared->lock);
        aborted = w->shared->aborted;
        (void) pthread_mutex_unlock(&w->shared->lock);
        return aborted;
}

/* ---- worker: connection ---- */

static int on_retry(sd_event_source *es, uint64_t usec, void *userdata);

static void schedule_retry(Worker *w, usec_t delay_usec) {
        int r;

        w->retry_at_usec = clock_now_usec(CLOCK_MONOTONIC) + delay_usec;
        if (!w->retry_timer) {
                r = sd_event_add_time(w->event, &w->retry_timer, CLOCK_MONOTONIC, w->retry_at_usec,
                                      10 * USEC_PER_MSEC, on_retry, w);
                if (r < 0) {
                        /* Only ENOMEM gets here. */
                        log_error_errno(r, "Failed to arm the libvirt reconnection timer: %m");
                        return;
                }
                (void) sd_event_source_set_description(w->retry_timer, "libvirt-retry");
                return;
        }
        (void) sd_event_source_set_time(w->retry_timer, w->retry_at_usec);
        (void) sd_event_source_set_enabled(w->retry_timer, SD_EVENT_ONESHOT);
}

static void on_close(virConnectPtr conn, int reason, void *opaque);

static void disconnect(Worker *w) {
        if (!w->conn)
                return;
        busy(w, "closing the connection");
        /* On a dead connection these fail after dropping their local state, which is all we
         * need; their errors are only logged at debug by the error hook. */
        if (w->lifecycle_id >= 0)
                (void) virConnectDomainEventDeregisterAny(w->conn, w->lifecycle_id);
        w->lifecycle_id = -1;
        if (w->metadata_id >= 0)
                (void) virConnectDomainEventDeregisterAny(w->conn, w->metadata_id);
        w->metadata_id = -1;
        if (w->iteration_id >= 0)
                (void) virConnectDomainEventDeregisterAny(w->conn, w->iteration_id);
        w->iteration_id = -1;
        if (w->close_registered)
                (void) virConnectUnregisterCloseCallback(w->conn, on_close);
        w->close_registered = false;
        (void) virConnectClose(w->conn);
        w->conn = NULL;
        busy(w, NULL);
        w->lost_event = sd_event_source_disable_unref(w->lost_event);
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
        Worker *w = userdata;

        disconnect(w);
        w->backoff_usec = BACKOFF_MIN_USEC;
        schedule_retry(w, w->backoff_usec);
        w->backoff_usec = MIN(w->backoff_usec * 2, BACKOFF_MAX_USEC);
        log_notice("Lost the connection to libvirt at %s (%s), reconnecting in %llu s; keeping its %zu VM%s until the resync.",
                   w->uri, w->last_error, (unsigned long long) (BACKOFF_MIN_USEC / USEC_PER_SEC),
                   w->n_vms, w->n_vms == 1 ? "" : "s");
        publish(w);
        return 0;
}

/* Called by libvirt from inside its I/O code: only note it, and tear down from the loop. */
static void on_close(virConnectPtr conn, int reason, void *opaque) {
        Worker *w = opaque;
        int r;

        free(w->last_error);
        w->last_error = xstrdup(was_aborted(w) ? "no answer within the time limit" : close_reason_to_string(reason));
        if (w->lost_event)
                return;
        r = sd_event_add_defer(w->event, &w->lost_event, on_lost, w);
        if (r < 0) {
                log_error_errno(r, "Failed to schedule the libvirt reconnection: %m");
                return;
        }
        (void) sd_event_source_set_description(w->lost_event, "libvirt-lost");
}

/* RESYNC_BEGIN, STARTED for each running domain, RESYNC_END. */
static int resync(Worker *w) {
        virDomainPtr *doms = NULL;
        int n;

        n = virConnectListAllDomains(w->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
        if (n < 0)
                return libvirt_last_error_errno();

        emit(w, VM_EVENT_RESYNC_BEGIN, NULL);
        known_vms_clear(w);
        for (int i = 0; i < n; i++) {
                (void) announce(w, doms[i], true, false, NULL);
                virDomainFree(doms[i]);
        }
        free(doms);
        emit(w, VM_EVENT_RESYNC_END, NULL);
        return 0;
}

static int try_connect(Worker *w) {
        int r;

        w->conn = virConnectOpen(w->uri);
        if (!w->conn)
                return libvirt_last_error_errno();

        if (!w->run_dir_known) {
                _cleanup_free_ char *uri = virConnectGetURI(w->conn);

                w->run_dir = run_dir_for_uri(uri ?: w->uri);
                w->run_dir_known = true;
                if (!w->run_dir)
                        log_notice("libvirt URI %s is not a local qemu:///system or qemu:///session, QEMU pids are unknown.",
                                   uri ?: w->uri);
        }

        if (virConnectRegisterCloseCallback(w->conn, on_close, w, NULL) < 0)
                goto fail;
        w->close_registered = true;

        /* Keepalive notices a libvirtd that hangs; one that exits closes the socket at once. */
        if (virConnectSetKeepAlive(w->conn, KEEPALIVE_INTERVAL_SEC, KEEPALIVE_COUNT) < 0)
                log_debug("libvirt keepalive not available: %s", libvirt_last_error_message());

        /* Subscribe before listing, so a domain starting in between is not missed. */
        w->lifecycle_id = virConnectDomainEventRegisterAny(w->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                           VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), w, NULL);
        if (w->lifecycle_id < 0)
                goto fail;
        w->metadata_id = virConnectDomainEventRegisterAny(w->conn, NULL, VIR_DOMAIN_EVENT_ID_METADATA_CHANGE,
                                                          VIR_DOMAIN_EVENT_CALLBACK(on_metadata_change), w, NULL);
        if (w->metadata_id < 0)
                goto fail;
        w->iteration_id = virConnectDomainEventRegisterAny(w->conn, NULL, VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION,
                                                           VIR_DOMAIN_EVENT_CALLBACK(on_migration_iteration), w, NULL);
        if (w->iteration_id < 0)
                goto fail;

        r = resync(w);
        if (r < 0) {
                disconnect(w);
                return r;
        }
        return 0;

fail:
        r = libvirt_last_error_errno();
        disconnect(w);
        return r;
}

static int on_retry(sd_event_source *es, uint64_t usec, void *userdata) {
        Worker *w = userdata;
        bool aborted;
        usec_t delay;
        int r;

        busy_for(w, "connecting", CONNECT_TIMEOUT_USEC);
        r = try_connect(w);
        aborted = was_aborted(w);
        busy(w, NULL);
        if (r >= 0) {
                log_info("Connected to libvirt at %s, %zu VM%s running.", w->uri, w->n_vms,
                         w->n_vms == 1 ? "" : "s");
                free(w->last_error);
                w->last_error = NULL;
                w->n_failures = 0;
                w->backoff_usec = BACKOFF_MIN_USEC;
                publish(w);
                return 0;
        }

        free(w->last_error);
        w->last_error = aborted ? xasprintf("no answer within %llu s", (unsigned long long) (CONNECT_TIMEOUT_USEC / USEC_PER_SEC))
                                : xstrdup(libvirt_last_error_message());
        delay = w->backoff_usec;
        schedule_retry(w, delay);
        w->backoff_usec = MIN(w->backoff_usec * 2, BACKOFF_MAX_USEC);
        /* Say it once (libvirtd not running is a normal state: info; one that hangs: warning), then
         * at debug. */
        log_full_errno(w->n_failures++ > 0 ? LOG_DEBUG : aborted ? LOG_WARNING : LOG_INFO, r,
                       "libvirt at %s unreachable (%s), retrying in %llu s.", w->uri, w->last_error,
                       (unsigned long long) (delay / USEC_PER_SEC));
        publish(w);
        return 0;
}

/* A reload changed the URI: what the old one said no longer counts (an empty resync drops libvirt's
 * word on every VM; those /proc knows stay), and the new one is tried at once. */
static void worker_set_uri(Worker *w, char *uri) {
        if (streq(uri, w->uri)) {
                free(uri);
                return;
        }
        log_info("libvirt URI changed from %s to %s, reconnecting.", w->uri, uri);
        disconnect(w);
        emit(w, VM_EVENT_RESYNC_BEGIN, NULL);
        known_vms_clear(w);
        emit(w, VM_EVENT_RESYNC_END, NULL);
        free(w->uri);
        w->uri = uri;
        free(w->run_dir);
        w->run_dir = NULL;
        w->run_dir_known = false;
        free(w->last_error);
        w->last_error = NULL;
        w->n_failures = 0;
        w->backoff_usec = BACKOFF_MIN_USEC;
        schedule_retry(w, 0);
        publish(w);
}

static int on_wake(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;
        Shared *sh = w->shared;
        eventfd_t v;
        char *uri;
        bool quit;

        (void) eventfd_read(fd, &v);
        (void) pthread_mutex_lock(&sh->lock);
        quit = sh->quit;
        uri = TAKE_PTR(sh->uri_request);
        (void) pthread_mutex_unlock(&sh->lock);

        if (quit) {
                free(uri);
                return sd_event_exit(w->event, 0);
        }
        if (uri)
                worker_set_uri(w, uri);
        return 0;
}

static Worker *worker_free(Worker *w) {
        if (!w)
                return NULL;
        disconnect(w);
        /* Run the free callbacks libvirt queued while closing: the loop does not run again. */
        libvirt_event_flush();
        sd_event_source_disable_unref(w->retry_timer);
        sd_event_source_disable_unref(w->job_timer);
        sd_event_source_disable_unref(w->lost_event);
        sd_event_source_disable_unref(w->wake_source);
        sd_event_unref(w->event);
        known_vms_clear(w);
        free(w->uri);
        free(w->run_dir);
        free(w->proc_root);
        free(w->last_error);
        shared_unref(w->shared);
        free(w);
        return NULL;
}

static void *worker_main(void *userdata) {
        Worker *w = userdata;
        int r;

        r = sd_event_loop(w->event);
        if (r < 0)
                log_error_errno(r, "The libvirt connection's event loop failed: %m");
        worker_free(w);
        return NULL;
}

/* ---- the VmSource, on the caller's loop ---- */

typedef struct LibvirtSource {
        VmSource base;

        sd_event *event;
        Shared *shared;
        pthread_t thread;
        sd_event_source *notify_source;
        sd_event_source *check_timer;
        VmSourceHandler handler;
        void *userdata;
        char *uri;                      /* the last one asked for */
        usec_t aborted_busy_since;      /* the busy period already cut short */
        char *description;
} LibvirtSource;

static const VmSourceVTable libvirt_vtable;

static void dispatch(LibvirtSource *s, Message *msg) {
        VmIdentity id;

        if (!msg->has_vm) {
                s->handler(&s->base, msg->event, NULL, s->userdata);
                return;
        }
        id = (VmIdentity) {
                .uuid = msg->vm.uuid,
                .name = msg->vm.name,
                .uid = (uid_t) -1,
                .pid = msg->vm.pid,
                .start_time = msg->vm.start_time,
                .cmdline = msg->vm.cmdline,
                .numa_nodeset = msg->vm.numa_nodeset,
                .vcpu_cpuset = msg->vm.vcpu_cpuset,
                .memory_bytes = msg->vm.memory_bytes,
                .policy_xml = msg->vm.policy_xml,
                .run_state = msg->vm.run_state,
                .run_state_why = msg->vm.run_state_why,
        };
        s->handler(&s->base, msg->event, &id, s->userdata);
}

static int on_notify(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        LibvirtSource *s = userdata;
        Shared *sh = s->shared;
        Message *list;
        eventfd_t v;

        (void) eventfd_read(fd, &v);
        (void) pthread_mutex_lock(&sh->lock);
        list = sh->head;
        sh->head = NULL;
        sh->tail = &sh->head;
        (void) pthread_mutex_unlock(&sh->lock);

        while (list) {
                Message *msg = list;

                list = msg->next;
                dispatch(s, msg);
                message_free(msg);
        }
        return 0;
}

/* Cut a libvirt call short that has waited for libvirtd too long. */
static int on_check(sd_event_source *es, uint64_t usec, void *userdata) {
        LibvirtSource *s = userdata;
        Shared *sh = s->shared;
        usec_t now = clock_now_usec(CLOCK_MONOTONIC), since;

        (void) pthread_mutex_lock(&sh->lock);
        since = sh->busy_since_usec;
        if (since > 0 && now - since >= sh->busy_limit_usec && since != s->aborted_busy_since) {
                s->aborted_busy_since = since;
                sh->aborted = true;
                (void) libvirt_event_abort_io();
        }
        (void) pthread_mutex_unlock(&sh->lock);

        (void) sd_event_source_set_time(es, usec + CHECK_INTERVAL_USEC);
        (void) sd_event_source_set_enabled(es, SD_EVENT_ON);
        return 0;
}

static void libvirt_source_free(VmSource *base) {
        LibvirtSource *s = (LibvirtSource *) base;
        struct timespec deadline;
        const char *what = NULL;
        int r;

        if (s->shared) {
                Shared *sh = s->shared;

                /* The connection goes anyway: shut its socket down first, so that neither a call
                 * stuck now nor the closing RPCs wait for a libvirtd that does not answer. */
                (void) pthread_mutex_lock(&sh->lock);
                sh->quit = true;
                what = sh->busy_since_usec > 0 ? sh->busy_what : NULL;
                sh->aborted = true;
                (void) libvirt_event_abort_io();
                (void) pthread_mutex_unlock(&sh->lock);
                signal_fd(sh->wake_fd);

                clock_gettime(CLOCK_REALTIME, &deadline);
                deadline.tv_sec += QUIT_WAIT_USEC / USEC_PER_SEC;
                r = pthread_timedjoin_np(s->thread, NULL, &deadline);
                if (r != 0) {
                        log_warning("The libvirt connection did not let go within %llu s (%s); leaving it behind.",
                                    (unsigned long long) (QUIT_WAIT_USEC / USEC_PER_SEC), what ?: "busy");
                        (void) pthread_detach(s->thread);
                }
        }
        sd_event_source_disable_unref(s->notify_source);
        sd_event_source_disable_unref(s->check_timer);
        sd_event_unref(s->event);
        shared_unref(s->shared);
        free(s->uri);
        free(s->description);
        free(s);
}

static const char *libvirt_source_describe(VmSource *base) {
        LibvirtSource *s = (LibvirtSource *) base;
        Shared *sh = s->shared;
        usec_t now = clock_now_usec(CLOCK_MONOTONIC), left, busy_for = 0;

        free(s->description);
        (void) pthread_mutex_lock(&sh->lock);
        if (sh->busy_since_usec > 0 && now > sh->busy_since_usec)
                busy_for = now - sh->busy_since_usec;
        switch (sh->state) {
        case LINK_CONNECTED:
                s->description = xasprintf("connected to %s, %zu domain%s", sh->uri, sh->n_domains,
                                           sh->n_domains == 1 ? "" : "s");
                break;
        case LINK_UNREACHABLE:
                if (busy_for == 0) {
                        left = sh->retry_at_usec > now ? sh->retry_at_usec - now : 0;
                        s->description = xasprintf("libvirtd unreachable (%s), retrying in %llu s", sh->last_error,
                                                   (unsigned long long) DIV_ROUND_UP(left, USEC_PER_SEC));
                        break;
                }
                __attribute__((fallthrough));
        default:
                s->description = xasprintf("connecting to %s", sh->uri ?: s->uri);
        }
        /* A call that takes seconds means libvirtd is not answering: say so. */
        if (busy_for >= USEC_PER_SEC) {
                char *t = xasprintf("%s; %s: no answer for %llu s", s->description, sh->busy_what,
                                    (unsigned long long) (busy_for / USEC_PER_SEC));

                free(s->description);
                s->description = t;
        }
        (void) pthread_mutex_unlock(&sh->lock);
        return s->description;
}

static const VmSourceVTable libvirt_vtable = {
        .name = "libvirt",
        .free = libvirt_source_free,
        .describe = libvirt_source_describe,
};

int vmsource_libvirt_set_uri(VmSource *base, const char *uri) {
        LibvirtSource *s = (LibvirtSource *) base;
        Shared *sh;

        if (!s || s->base.vtable != &libvirt_vtable || !uri || !*uri)
                return -EINVAL;
        if (streq(uri, s->uri))
                return 0;
        free(s->uri);
        s->uri = xstrdup(uri);

        sh = s->shared;
        (void) pthread_mutex_lock(&sh->lock);
        free(sh->uri_request);
        sh->uri_request = xstrdup(uri);
        /* The old connection goes: shut it down now, so that neither a call stuck on it nor the
         * closing RPCs wait for a libvirtd that does not answer. */
        sh->aborted = true;
        (void) libvirt_event_abort_io();
        (void) pthread_mutex_unlock(&sh->lock);
        signal_fd(sh->wake_fd);
        return 1;
}

/* The worker runs with every signal blocked: they are the caller's loop's business. */
static int start_thread(pthread_t *ret, Worker *w) {
        sigset_t all, saved;
        int r;

        sigfillset(&all);
        (void) pthread_sigmask(SIG_SETMASK, &all, &saved);
        r = pthread_create(ret, NULL, worker_main, w);
        (void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
        if (r == 0)
                (void) pthread_setname_np(*ret, "vtism-libvirt");
        return -r;
}

int vmsource_libvirt_new(sd_event *event, const char *uri, const char *proc_root, VmSourceHandler handler,
                         void *userdata, VmSource **ret) {
        LibvirtSource *s;
        Worker *w;
        Shared *sh;
        usec_t now;
        int r;

        if (!event || !handler || !ret)
                return -EINVAL;
        uri = uri ?: "qemu:///system";

        sh = shared_new();
        if (!sh)
                return -errno;
        w = xcalloc(1, sizeof(Worker));
        w->shared = sh;
        w->uri = xstrdup(uri);
        w->proc_root = xstrdup(proc_root ?: "/proc");
        w->lifecycle_id = -1;
        w->metadata_id = -1;
        w->iteration_id = -1;
        w->backoff_usec = BACKOFF_MIN_USEC;

        r = sd_event_new(&w->event);
        if (r < 0)
                goto fail_worker;
        r = libvirt_event_attach(w->event);
        if (r < 0)
                goto fail_worker;
        r = sd_event_add_io(w->event, &w->wake_source, sh->wake_fd, EPOLLIN, on_wake, w);
        if (r < 0)
                goto fail_worker;
        (void) sd_event_source_set_description(w->wake_source, "libvirt-wake");
        r = sd_event_add_time_relative(w->event, &w->job_timer, CLOCK_MONOTONIC, JOB_POLL_USEC, 100 * USEC_PER_MSEC,
                                       on_job_poll, w);
        if (r < 0)
                goto fail_worker;
        (void) sd_event_source_set_description(w->job_timer, "libvirt-job-poll");
        (void) sd_event_source_set_enabled(w->job_timer, SD_EVENT_ON);
        schedule_retry(w, 0); /* the first attempt, from the worker's loop */
        if (!w->retry_timer) {
                r = -ENOMEM;
                goto fail_worker;
        }
        publish(w);

        s = xcalloc(1, sizeof(LibvirtSource));
        s->base.vtable = &libvirt_vtable;
        s->event = sd_event_ref(event);
        s->handler = handler;
        s->userdata = userdata;
        s->uri = xstrdup(uri);
        r = sd_event_add_io(event, &s->notify_source, sh->notify_fd, EPOLLIN, on_notify, s);
        if (r >= 0) {
                (void) sd_event_source_set_description(s->notify_source, "libvirt-notify");
                r = sd_event_now(event, CLOCK_MONOTONIC, &now);
        }
        if (r >= 0)
                r = sd_event_add_time(event, &s->check_timer, CLOCK_MONOTONIC, now + CHECK_INTERVAL_USEC,
                                      USEC_PER_SEC / 2, on_check, s);
        if (r >= 0) {
                (void) sd_event_source_set_description(s->check_timer, "libvirt-check");
                r = sd_event_source_set_enabled(s->check_timer, SD_EVENT_ON);
        }
        if (r < 0) {
                libvirt_source_free(&s->base); /* no thread yet: s->shared is NULL */
                goto fail_worker;
        }

        /* From here on the worker owns w and one reference to sh; we hold the other. */
        sh->n_refs = 2;
        s->shared = sh;
        r = start_thread(&s->thread, w);
        if (r < 0) {
                sh->n_refs = 1;
                s->shared = NULL;
                libvirt_source_free(&s->base);
                goto fail_worker;
        }

        *ret = &s->base;
        return 0;

fail_worker:
        worker_free(w); /* drops sh */
        return r;
}
