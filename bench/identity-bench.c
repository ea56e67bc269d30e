/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * identity-bench: what finding N VMs costs in identities, in the real manager (manager-vms.c). A
 * source reports N VMs in one go, as a /proc scan or libvirt's queue or resync does: N calls of
 * the manager's VM event handler (on_vm_started()), one after the other, then
 *   before   identities resolved after every discovery (manager_identities_settle() after each
 *            event): the manager until the identities were coalesced, N passes of
 *            vm_resolve_identities() over 1..N VMs, O(n^2 log n);
 *   after    as the daemon does it now: the events only mark identities stale, and one iteration
 *            of the manager's event loop (sd_event_run()) runs its defer source, which resolves
 *            all of them once, O(n log n).
 * Both include all the handler does (merging by pid, trust, announcing each VM, its policy) but the
 * log lines (the manager logs at LOG_ERR here). The mix is the adversarial one of issue 12: half
 * libvirt domains (through tests/unit/fake-libvirt.h's source: vmsource_libvirt_new() is wrapped
 * at link time), half /proc processes of root's that claim a name and uuid (one in eight a name
 * and uuid a libvirt domain has, one in eight those another process claimed first). Prints the
 * total and per-VM wall time, the passes made and the conflicts found (the same both ways).
 *
 *   identity-bench [--no-before] [N...]      (default: 100 300 1000 3000)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../tests/unit/fake-libvirt.h" /* the manager's handler, to call ourselves */
#include "vtism/log.h"
#include "vtism/manager.h"
#include "vtism/util.h"
#include "vtism/vm.h"
#include "vtism/vmsource.h"

#ifndef IDENTITY_BENCH_DATA
#define IDENTITY_BENCH_DATA "tests/data"
#endif

/* Any source but the manager's libvirt one (fake-libvirt.h's) is its /proc source. */
static VmSource fake_proc;

/* ---- the run ---- */

#define must(call)                                                                              \
        do {                                                                                    \
                int _r = (call);                                                                \
                if (_r < 0) {                                                                   \
                        fprintf(stderr, "identity-bench: %s: %s\n", #call, strerror(-_r));      \
                        exit(EXIT_FAILURE);                                                     \
                }                                                                               \
        } while (0)

static char *dir, *conf_path, *proc_root, *sysfs_root;

static uint64_t mono_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* VM k, as its source reports it. */
static void report(size_t k) {
        /* k % 8 == 1: the domain just before's claims; == 3: the process two before's */
        size_t other = k % 8 == 1 ? k - 1 : k % 8 == 3 ? k - 2 : k;
        char uuid[64], name[48], default_name[32];
        VmIdentity id = {
                .pid = (pid_t) (10000 + k),
                .start_time = 1000 + k,
                .uuid = uuid,
                .name = name,
                .cmdline = "qemu-system-x86_64 -name x",
                .run_state = VM_RUN_RUNNING,
        };

        if (k % 2 == 0) {
                snprintf(uuid, sizeof(uuid), "6f1c2a3b-4d5e-4f60-8a9b-%012zx", k);
                snprintf(name, sizeof(name), "dom%zu", k);
                id.uid = (uid_t) -1;
                libvirt_tell(VM_EVENT_STARTED, &id);
                return;
        }
        snprintf(uuid, sizeof(uuid), "%s-4d5e-4f60-8a9b-%012zx", k % 8 == 1 ? "6f1c2a3b" : "0000aaaa", other);
        snprintf(name, sizeof(name), "%s%zu", k % 8 == 1 ? "dom" : "proc", other);
        snprintf(default_name, sizeof(default_name), "qemu-%d", (int) id.pid);
        id.default_name = default_name;
        id.uid = 0; /* root: in the default qemu_users, so its claims count */
        libvirt->handler(&fake_proc, VM_EVENT_STARTED, &id, libvirt->userdata);
}

typedef struct Run {
        double seconds;
        double settle_seconds; /* of which in manager_identities_settle(): trust, the pass, announcing */
        uint64_t passes;
        unsigned conflicts;
} Run;

static Run run(size_t n, bool per_discovery) {
        _cleanup_(manager_freep) Manager *m = NULL;
        uint64_t t0, t1, settle_ns = 0, passes0;
        Run res = {};
        int r;

        must(manager_new(conf_path, sysfs_root, proc_root, LOG_ERR, &m));
        must(manager_load(m));
        must(manager_vms_start(m));
        if (!libvirt) {
                fprintf(stderr, "identity-bench: the manager did not start its libvirt source\n");
                exit(EXIT_FAILURE);
        }
        passes0 = m->identity_resolutions;

        t0 = mono_ns();
        for (size_t k = 0; k < n; k++) {
                report(k);
                if (per_discovery) {
                        t1 = mono_ns();
                        manager_identities_settle(m);
                        settle_ns += mono_ns() - t1;
                }
        }
        /* the loop's next iteration: the defer source (nothing else is pending) */
        t1 = mono_ns();
        while ((r = sd_event_run(m->event, 0)) > 0)
                ;
        settle_ns += mono_ns() - t1;
        res.seconds = (double) (mono_ns() - t0) / 1e9;
        res.settle_seconds = (double) settle_ns / 1e9;
        if (r < 0 || m->n_vms != n || m->identities_dirty) {
                fprintf(stderr, "identity-bench: %zu VMs known of %zu, identities %s (%s)\n", m->n_vms, n,
                        m->identities_dirty ? "not settled" : "settled", r < 0 ? strerror(-r) : "loop ok");
                exit(EXIT_FAILURE);
        }
        res.passes = m->identity_resolutions - passes0;
        for (size_t i = 0; i < m->n_vms; i++)
                res.conflicts += m->vms[i]->identity_conflict != NULL;
        return res; /* manager_free() frees the fake source */
}

static void setup(void) {
        const char *data = getenv("VTISM_TEST_DATA") ?: IDENTITY_BENCH_DATA;
        char tmpl[] = "/tmp/identity-bench-XXXXXX";
        FILE *f;

        dir = xstrdup(mkdtemp(tmpl) ?: "");
        if (!*dir) {
                perror("identity-bench: mkdtemp");
                exit(EXIT_FAILURE);
        }
        proc_root = xasprintf("%s/proc", dir); /* empty: the /proc source finds nothing itself */
        conf_path = xasprintf("%s/vtism.conf", dir);
        sysfs_root = xasprintf("%s/sysfs-1node", data);
        if (mkdir(proc_root, 0755) < 0 || !(f = fopen(conf_path, "w"))) {
                perror("identity-bench: the scratch tree");
                exit(EXIT_FAILURE);
        }
        /* libvirt_uri: the fake's; a policy entry, so that every VM's policy is matched against one */
        fputs("global = { libvirt_uri = \"qemu:///system\"; tracker = \"page_idle\"; };\n"
              "vm = ( { name = \"dom1*\"; dram_budget = \"1G\"; } );\n", f);
        fclose(f);
}

static void teardown(void) {
        (void) unlink(conf_path);
        (void) rmdir(proc_root);
        (void) rmdir(dir);
}

int main(int argc, char **argv) {
        static const size_t defaults[] = { 100, 300, 1000, 3000 };
        size_t sizes[64], n_sizes = 0;
        bool before = true;

        for (int i = 1; i < argc; i++) {
                unsigned long v;
                char *end;

                if (streq(argv[i], "--no-before")) {
                        before = false;
                        continue;
                }
                v = strtoul(argv[i], &end, 10);
                if (v == 0 || *end || n_sizes == ELEMENTSOF(sizes)) {
                        fprintf(stderr, "usage: identity-bench [--no-before] [N...]   ('%s' is not a number of VMs)\n",
                                argv[i]);
                        return 2;
                }
                sizes[n_sizes++] = v;
        }
        if (n_sizes == 0)
                for (size_t i = 0; i < ELEMENTSOF(defaults); i++)
                        sizes[n_sizes++] = defaults[i];

        log_setup("identity-bench", LOG_TARGET_CONSOLE);
        setup();
        printf("identity-bench: N VMs reported in one burst to the manager's VM event handler\n");
        printf("| VMs | before: resolved per discovery (of which resolving) | passes | after: once per burst, the loop's "
               "defer (of which resolving) | passes | per VM before / after | conflicts |\n|---|---|---|---|---|---|---|\n");
        for (size_t i = 0; i < n_sizes; i++) {
                size_t n = sizes[i];
                Run a = run(n, false), b = {};

                if (before) {
                        b = run(n, true);
                        if (b.conflicts != a.conflicts) {
                                fprintf(stderr, "identity-bench: %u conflicts one way, %u the other\n", b.conflicts,
                                        a.conflicts);
                                return EXIT_FAILURE;
                        }
                        printf("| %zu | %.3f s (%.3f s) | %" PRIu64 " | %.4f s (%.4f s) | %" PRIu64 " | %.1f us / %.1f us | %u |\n",
                               n, b.seconds, b.settle_seconds, b.passes, a.seconds, a.settle_seconds, a.passes,
                               b.seconds * 1e6 / (double) n, a.seconds * 1e6 / (double) n, a.conflicts);
                } else
                        printf("| %zu | - | - | %.4f s (%.4f s) | %" PRIu64 " | - / %.1f us | %u |\n", n, a.seconds,
                               a.settle_seconds, a.passes, a.seconds * 1e6 / (double) n, a.conflicts);
                fflush(stdout);
        }
        teardown();
        return 0;
}
