/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * forget-bench: what N VMs gone at once cost the migrator (src/daemon/migrator.c), as when a host's
 * VMs stop in a burst while a migration round runs. N VMs are registered (migrator_add_vm()), a
 * plan with one move for each is submitted (a job with N slots: it never runs, the loop is never
 * dispatched, so nothing is moved), then every VM is forgotten (migrator_forget_vm()) in a random
 * order; then the same without a job (the registry alone). Prints wall time per add and per
 * removal, the median of --runs runs.
 *
 *   forget-bench [--runs 5] [N...]      (default: 1000 10000)
 *
 * Before branch forget, each removal scanned every slot of every live job and memmoved the
 * registry: O(N) a removal, O(N^2) a burst. Prints numbers; never fails on time.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tests/unit/splitmix.h"
#include "vtism/log.h"
#include "vtism/migrator.h"
#include "vtism/util.h"

static void must(int r, const char *what) {
        if (r >= 0)
                return;
        fprintf(stderr, "forget-bench: %s: %s\n", what, strerror(-r));
        exit(EXIT_FAILURE);
}

static uint64_t seed = 42;

/* ns per VM of what took since t0_usec */
static double per_vm_ns(usec_t t0_usec, size_t n) {
        return (double) (clock_now_usec(CLOCK_MONOTONIC) - t0_usec) * 1000.0 / (double) n;
}

static void shuffle(size_t *a, size_t n) {
        for (size_t i = n - 1; i > 0; i--) {
                size_t j = (size_t) (splitmix64(&seed) % (i + 1)), t = a[i];

                a[i] = a[j];
                a[j] = t;
        }
}

typedef struct Run {
        double add_ns, forget_job_ns, forget_ns;
} Run;

/* One run with n VMs: ns per add, per removal with a job holding a slot of each, per removal
 * without one. */
static Run run_once(sd_event *e, size_t n) {
        _cleanup_free_ char *keys = xcalloc(n, 1);
        _cleanup_free_ size_t *order = xcalloc(n, sizeof(size_t));
        _cleanup_free_ PlanMove *moves = xcalloc(n, sizeof(PlanMove));
        _cleanup_free_ void **vms = xcalloc(n, sizeof(void *));
        MigratorOptions o;
        Migrator *m;
        Run r = {};
        usec_t t0;

        migrator_options_init_default(&o);
        o.thp_probe = false;
        must(migrator_new(e, &o, NULL, NULL, &m), "migrator_new");
        for (size_t i = 0; i < n; i++)
                order[i] = i;
        for (int pass = 0; pass < 2; pass++) {
                shuffle(order, n);
                t0 = clock_now_usec(CLOCK_MONOTONIC);
                for (size_t i = 0; i < n; i++)
                        must(migrator_add_vm(m, keys + order[i], "vm", getpid(), 1, NULL, 0), "migrator_add_vm");
                if (pass == 0) {
                        r.add_ns = per_vm_ns(t0, n);
                        Plan plan = { .moves = moves, .n_moves = n, .n_vms = n, .budget_bytes = UINT64_MAX };

                        for (size_t i = 0; i < n; i++) {
                                vms[i] = keys + i;
                                moves[i] = (PlanMove) { .vm = (uint32_t) i, .direction = PLAN_DEMOTE,
                                                        .hva = UINT64_C(0x40000000), .n_pages = 1,
                                                        .from_node = 0, .to_node = 1 };
                        }
                        must(migrator_submit(m, &plan, vms), "migrator_submit");
                }
                shuffle(order, n);
                t0 = clock_now_usec(CLOCK_MONOTONIC);
                for (size_t i = 0; i < n; i++)
                        migrator_forget_vm(m, keys + order[i]);
                if (pass == 0)
                        r.forget_job_ns = per_vm_ns(t0, n);
                else
                        r.forget_ns = per_vm_ns(t0, n);
                migrator_cancel(m);
        }
        migrator_free(m);
        return r;
}

static int double_cmp(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

static double median(double *v, size_t n) {
        qsort(v, n, sizeof(double), double_cmp);
        return v[n / 2];
}

int main(int argc, char **argv) {
        size_t sizes[16] = { 1000, 10000 }, n_sizes = 2, runs = 5;
        bool given = false;
        sd_event *e = NULL;

        log_set_max_level(LOG_ERR);
        for (int i = 1; i < argc; i++) {
                char *end;
                unsigned long v;

                if (streq(argv[i], "--runs") && i + 1 < argc) {
                        runs = strtoul(argv[++i], &end, 10);
                        if (*end || runs == 0)
                                goto usage;
                        continue;
                }
                v = strtoul(argv[i], &end, 10);
                if (*end || v < 2 || v > 10000000)
                        goto usage;
                if (!given)
                        n_sizes = 0;
                given = true;
                if (n_sizes < ELEMENTSOF(sizes))
                        sizes[n_sizes++] = v;
        }
        must(sd_event_new(&e), "sd_event_new");
        printf("| VMs | add, ns/VM | forget with a job of N slots, ns/VM | forget, registry alone, ns/VM |\n"
               "|---|---|---|---|\n");
        for (size_t s = 0; s < n_sizes; s++) {
                _cleanup_free_ double *add = xcalloc(runs, sizeof(double));
                _cleanup_free_ double *fj = xcalloc(runs, sizeof(double));
                _cleanup_free_ double *f = xcalloc(runs, sizeof(double));

                for (size_t k = 0; k < runs; k++) {
                        Run r = run_once(e, sizes[s]);

                        add[k] = r.add_ns;
                        fj[k] = r.forget_job_ns;
                        f[k] = r.forget_ns;
                }
                printf("| %zu | %.0f | %.0f | %.0f |\n", sizes[s], median(add, runs), median(fj, runs), median(f, runs));
        }
        sd_event_unref(e);
        return EXIT_SUCCESS;
usage:
        fprintf(stderr, "usage: forget-bench [--runs N] [VMs...]\n");
        return EXIT_FAILURE;
}
