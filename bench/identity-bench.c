/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * identity-bench: what finding N VMs costs in identities. The manager re-resolves every VM's
 * identity against all others after each discovery (on_vm_started() -> vms_refresh() ->
 * vm_resolve_identities()), so starting N VMs at once makes N resolutions of 1..N VMs. This
 * replays exactly that: VM k is created as a source reports it, then all k are resolved. The mix
 * is the adversarial one of issue 12: half libvirt domains, half /proc processes that claim a
 * name and uuid (one in eight a name a libvirt domain has, one in eight one another process
 * claimed first). Prints the total and per-VM wall time and the resolution's share of each VM.
 *
 *   identity-bench [N...]      (default: 100 300 1000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "vtism/util.h"
#include "vtism/vm.h"

static uint64_t mono_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static unsigned changes;

static void on_changed(Vm *vm, void *userdata) {
        (void) vm;
        (void) userdata;
        changes++;
}

static double run(size_t n, unsigned *ret_conflicts) {
        Vm **vms = xcalloc(n, sizeof(Vm *));
        uint64_t t0 = mono_ns(), t;
        unsigned conflicts = 0;

        for (size_t k = 0; k < n; k++) {
                char uuid[64], name[48];
                Vm *vm = vm_new((pid_t) (10000 + k), 1000 + k);

                vm->seq = k + 1;
                vm->trusted = true;
                if (k % 2 == 0) {
                        snprintf(uuid, sizeof(uuid), "6f1c2a3b-4d5e-4f60-8a9b-%012zx", k);
                        snprintf(name, sizeof(name), "dom%zu", k);
                        (void) vm_update_identity(vm, VM_SOURCE_LIBVIRT, uuid, name, "qemu-system-x86_64", NULL, NULL);
                } else {
                        size_t other = k % 8 == 1 ? k - 1 : k % 8 == 3 ? k - 2 : k;

                        /* k % 8 == 1: the domain just before's; == 3: the process two before's */
                        snprintf(uuid, sizeof(uuid), "%s-4d5e-4f60-8a9b-%012zx", k % 8 == 1 ? "6f1c2a3b" : "0000aaaa",
                                 other);
                        snprintf(name, sizeof(name), "%s%zu", k % 8 == 1 ? "dom" : "proc", other);
                        (void) vm_update_identity(vm, VM_SOURCE_PROC, uuid, name, "qemu-system-x86_64 -name x", NULL, NULL);
                }
                vms[k] = vm;
                vm_resolve_identities(vms, k + 1, on_changed, NULL);
        }
        t = mono_ns() - t0;
        for (size_t k = 0; k < n; k++) {
                conflicts += vms[k]->identity_conflict != NULL;
                vm_free(vms[k]);
        }
        free(vms);
        *ret_conflicts = conflicts;
        return (double) t / 1e9;
}

int main(int argc, char **argv) {
        static const size_t defaults[] = { 100, 300, 1000 };
        size_t n_sizes = argc > 1 ? (size_t) argc - 1 : ELEMENTSOF(defaults);

        printf("identity-bench: N VMs found one after the other, all identities resolved after each (on_vm_started())\n");
        printf("| VMs | total | per VM | conflicts |\n|---|---|---|---|\n");
        for (size_t i = 0; i < n_sizes; i++) {
                size_t n = argc > 1 ? (size_t) strtoul(argv[i + 1], NULL, 10) : defaults[i];
                unsigned conflicts;
                double s;

                if (n == 0) {
                        fprintf(stderr, "identity-bench: '%s' is not a number of VMs\n", argv[i + 1]);
                        return 2;
                }
                s = run(n, &conflicts);
                printf("| %zu | %.3f s | %.1f us | %u |\n", n, s, s * 1e6 / (double) n, conflicts);
                fflush(stdout);
        }
        return 0;
}
