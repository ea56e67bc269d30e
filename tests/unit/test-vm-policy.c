/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Policy per VM: vm_apply_policy() resolves it with config_match_policy() and keeps a copy that
 * outlives the config; it follows identity changes (vm_update_identity()) and reloads; the DRAM
 * budget is resolved to bytes.
 */
#include <string.h>

#include "check.h"
#include "vtism/config.h"
#include "vtism/util.h"
#include "vtism/vm.h"

#define U_WEB "6f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a5b"

/* line 1 */
static const char *const conf1 =
        "default_policy = { dram_budget = \"75%\"; weight = 50; };\n"     /* 1 */
        "vm = (\n"                                                      /* 2 */
        "  { name = \"web-*\"; dram_budget = \"4G\"; weight = 200; },\n" /* 3 */
        "  { uuid = \"" U_WEB "\"; pin_dram = true; },\n"               /* 4 */
        "  { cmdline = \"*-name guest=batch*\"; never_migrate = true; dram_budget = \"10%\"; }\n" /* 5 */
        ");\n";

/* after a reload: the web entry moved to line 2 and changed its budget; no default_policy */
static const char *const conf2 =
        "vm = (\n"                                                      /* 1 */
        "  { name = \"web-*\"; dram_budget = \"1G\"; }\n"                /* 2 */
        ");\n";

static VtConf *load(const char *text) {
        _cleanup_free_ char *error = NULL;
        VtConf *c = NULL;

        if (config_load_string(text, "test.conf", &c, &error) < 0) {
                fprintf(stderr, "config: %s\n", error);
                exit(EXIT_FAILURE);
        }
        return c;
}

static void check_policy(const Vm *vm, const char *source, int64_t budget) {
        uint64_t b = 0;
        int r = vm_dram_budget_bytes(vm, &b);

        check_str(vm->policy.source, source);
        if (budget < 0)
                check_int(r, -ENODATA);
        else {
                check_int(r, 0);
                check_u64(b, budget);
        }
}

int main(void) {
        _cleanup_(vm_freep) Vm *vm = vm_new(4242, 1), *plain = vm_new(4343, 2);
        VtConf *c = load(conf1);
        const char *source_path;

        source_path = c->path ?: "(built-in)";
        check_str(source_path, "test.conf");

        /* Found by /proc (owner trusted): the command line says batch; guest RAM not located yet. */
        vm->trusted = plain->trusted = true;
        check(vm_update_identity(vm, VM_SOURCE_PROC, NULL, "batch-1",
                                 "qemu-system-x86_64 -name guest=batch-1 -m 8G", NULL, NULL));
        vm_resolve_identities(&vm, 1, NULL, NULL);
        check(vm_apply_policy(vm, c));
        check_policy(vm, "test.conf:5", -1);           /* 10% of RAM not known yet */
        check(vm->policy.policy.never_migrate);
        check(!vm_apply_policy(vm, c));                /* unchanged */
        vm->ram_bytes = 8 * GIB;
        check_policy(vm, "test.conf:5", 858992640);    /* 10% of 8 GiB, down to whole pages */

        /* Identity change: libvirt names it web-1 and gives its UUID: the name entry comes first. */
        check(vm_update_identity(vm, VM_SOURCE_LIBVIRT, U_WEB, "web-1", NULL, NULL, NULL));
        vm_resolve_identities(&vm, 1, NULL, NULL);
        check(vm_apply_policy(vm, c));
        check_policy(vm, "test.conf:3", 4 * GIB);
        check_int(vm->policy.policy.weight, 200);
        check(!vm->policy.policy.never_migrate);
        check(!vm_update_identity(vm, VM_SOURCE_LIBVIRT, U_WEB, "web-1", NULL, NULL, NULL)); /* same again */
        /* /proc's word on the name does not override libvirt's */
        check(!vm_update_identity(vm, VM_SOURCE_PROC, NULL, "batch-1", NULL, NULL, NULL));
        vm_resolve_identities(&vm, 1, NULL, NULL);
        check_str(vm->name, "web-1");

        /* No entry matches: default_policy, from the file. */
        (void) vm_update_identity(plain, VM_SOURCE_PROC, NULL, "qemu-4343", "qemu-system-x86_64 -m 1G", NULL, NULL);
        vm_resolve_identities(&plain, 1, NULL, NULL);
        check(vm_apply_policy(plain, c));
        check_policy(plain, "test.conf:1", -1);
        plain->ram_bytes = 100 * MIB + 12345;          /* 75%, rounded down to a 4 KiB page */
        check_policy(plain, "test.conf:1", (100 * MIB + 12345) * 75 / 100 / 4096 * 4096);
        check_int(plain->policy.policy.weight, 50);

        /* Reload: the old config is freed first; the copies stay valid (ASan/valgrind would say). */
        config_free(c);
        check_str(vm->policy.source, "test.conf:3");
        check_u64(vm->policy.policy.dram_budget_bytes, 4 * GIB);
        check_str(vm->policy.policy.pattern, "web-*");
        c = load(conf2);
        check(vm_apply_policy(vm, c));
        check_policy(vm, "test.conf:2", 1 * GIB);
        check_int(vm->policy.policy.weight, 100);      /* the built-in default weight */
        check(vm_apply_policy(plain, c));
        check_policy(plain, "default", (100 * MIB + 12345) / 4096 * 4096); /* built-in: 100% */
        check(!vm_apply_policy(plain, c));
        config_free(c);

        printf("test-vm-policy: OK\n");
        return EXIT_SUCCESS;
}
