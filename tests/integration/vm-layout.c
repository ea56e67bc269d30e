/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm-layout [--proc-root DIR] PID: locate the guest RAM of a QEMU (or any) process the way vtismd
 * does (vm_locate_ram(): command line + maps + the GPA layout rules) and print it on stdout:
 *   machine=TYPE ram=0xBYTES ranges=N
 *   gpa=0x... hva=0x... len=0x...        one line per range, ascending gpa
 * Exit 1 with the reason on stderr if it cannot, 2 on bad usage. Used by test-gpa2hva.sh to
 * compare our rules with QEMU's own answer (HMP gpa2hva), which the daemon never asks for.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "vtism/log.h"
#include "vtism/macro.h"
#include "vtism/util.h"
#include "vtism/vm.h"

static int usage(const char *argv0) {
        fprintf(stderr, "usage: %s [--proc-root DIR] PID\n", argv0);
        return 2;
}

int main(int argc, char *argv[]) {
        _cleanup_(vm_freep) Vm *vm = NULL;
        _cleanup_free_ char *reason = NULL;
        const char *proc_root = "/proc";
        int i = 1, pid, r;

        log_setup("vm-layout", LOG_TARGET_CONSOLE);
        if (i + 1 < argc && streq(argv[i], "--proc-root")) {
                proc_root = argv[i + 1];
                i += 2;
        }
        if (i + 1 != argc)
                return usage(argv[0]);
        if (safe_atoi(argv[i], &pid) < 0 || pid <= 0) {
                fprintf(stderr, "%s: '%s' is not a pid\n", argv[0], argv[i]);
                return 2;
        }

        vm = vm_new((pid_t) pid, 0);
        r = vm_locate_ram(vm, proc_root, &reason);
        if (r < 0) {
                if (!reason)
                        reason = r == -ESRCH ? xstrdup("the process is gone") : xstrdup(strerror(-r));
                fprintf(stderr, "pid %d: cannot locate guest RAM: %s (%s)\n", pid, reason, strerror(-r));
                return 1;
        }

        printf("machine=%s ram=0x%" PRIx64 " ranges=%zu\n", vm->machine ?: "-", vm->ram_bytes, vm->n_ranges);
        for (size_t k = 0; k < vm->n_ranges; k++)
                printf("gpa=0x%" PRIx64 " hva=0x%" PRIx64 " len=0x%" PRIx64 "\n", vm->ranges[k].gpa,
                       vm->ranges[k].hva, vm->ranges[k].len_bytes);
        return 0;
}
