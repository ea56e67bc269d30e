/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_resolve_identities(): VMs against each other (vm.h, "Identity"). Table-driven: each case is a
 * set of VMs as the sources described them, in array order (which is not discovery order), and
 * what each must end up as. The threat: any local user can run qemu-system-* with a real VM's
 * -name and -uuid.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vtism/macro.h"
#include "vtism/util.h"
#include "vtism/vm.h"

#define U1 "6f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a5b"
#define U2 "11111111-2222-4333-8444-555555555555"

typedef struct VmSpec {
        int pid;
        unsigned seq;              /* discovery order */
        bool trusted;
        const char *lv_uuid, *lv_name;          /* libvirt's word, or NULL */
        const char *claim_uuid, *claim_name;    /* the command line's, or NULL */
        /* expected */
        const char *id, *name, *uuid;
        const char *conflict;                   /* exact text, or NULL for none */
} VmSpec;

typedef struct Case {
        const char *what;
        VmSpec vms[4];
} Case;

#define IMPOSTOR_OF_WEB1 "its command line claims name 'web1' (libvirt domain web1 (pid 100) has it) and uuid " \
                         U1 " (libvirt domain web1 (pid 100) has it); neither is used"

static const Case cases[] = {
        { "an impostor found before the libvirt domain gives way to it",
          { { .pid = 200, .seq = 1, .trusted = true, .claim_uuid = U1, .claim_name = "web1",
              .id = "pid-200", .name = "qemu-200", .conflict = IMPOSTOR_OF_WEB1 },
            { .pid = 100, .seq = 2, .trusted = true, .lv_uuid = U1, .lv_name = "web1", .claim_uuid = U1,
              .claim_name = "web1", .id = U1, .name = "web1", .uuid = U1 } } },
        { "the same, found after it",
          { { .pid = 100, .seq = 1, .trusted = true, .lv_uuid = U1, .lv_name = "web1",
              .id = U1, .name = "web1", .uuid = U1 },
            { .pid = 200, .seq = 2, .trusted = true, .claim_uuid = U1, .claim_name = "web1",
              .id = "pid-200", .name = "qemu-200", .conflict = IMPOSTOR_OF_WEB1 } } },
        { "the uuid alone, in upper case",
          { { .pid = 100, .seq = 1, .lv_uuid = U1, .lv_name = "web1", .id = U1, .name = "web1", .uuid = U1 },
            { .pid = 200, .seq = 2, .trusted = true, .claim_uuid = "6F1C2A3B-4D5E-4F60-8A9B-0C1D2E3F4A5B",
              .claim_name = "mine", .id = "pid-200", .name = "mine",
              .conflict = "its command line claims uuid 6F1C2A3B-4D5E-4F60-8A9B-0C1D2E3F4A5B, not used: "
                          "libvirt domain web1 (pid 100) has it" } } },
        { "an untrusted process claims nothing, even what nobody has",
          { { .pid = 300, .seq = 1, .claim_uuid = U2, .claim_name = "free-name", .id = "pid-300",
              .name = "qemu-300",
              .conflict = "its command line claims name 'free-name' and uuid " U2
                          ", which an untrusted VM cannot use" },
            { .pid = 301, .seq = 2, .claim_name = "other", .id = "pid-301", .name = "qemu-301",
              .conflict = "its command line claims name 'other', which an untrusted VM cannot use" } } },
        { "two /proc VMs claim the same: the one found first keeps it, whatever the array order",
          { { .pid = 401, .seq = 7, .trusted = true, .claim_uuid = U2, .claim_name = "dup", .id = "pid-401",
              .name = "qemu-401",
              .conflict = "its command line claims name 'dup' (VM pid-400, found earlier, has it) and uuid " U2
                          " (VM pid-400, found earlier, has it); neither is used" },
            { .pid = 400, .seq = 3, .trusted = true, .claim_uuid = U2, .claim_name = "dup", .id = "pid-400",
              .name = "dup", .uuid = U2 } } },
        { "an untrusted claimer found first does not block a trusted one",
          { { .pid = 500, .seq = 1, .claim_name = "svc", .id = "pid-500", .name = "qemu-500",
              .conflict = "its command line claims name 'svc', which an untrusted VM cannot use" },
            { .pid = 501, .seq = 2, .trusted = true, .claim_name = "svc", .id = "pid-501", .name = "svc" } } },
        { "no claim on another VM's id or default name",
          { { .pid = 600, .seq = 1, .trusted = true, .id = "pid-600", .name = "qemu-600" },
            { .pid = 601, .seq = 2, .trusted = true, .claim_name = "qemu-600", .id = "pid-601", .name = "qemu-601",
              .conflict = "its command line claims name 'qemu-600', not used: it is VM pid-600's own" },
            { .pid = 602, .seq = 3, .trusted = true, .claim_name = "pid-600", .id = "pid-602", .name = "qemu-602",
              .conflict = "its command line claims name 'pid-600', not used: it is VM pid-600's own" },
            { .pid = 603, .seq = 4, .trusted = true, .claim_name = U1, .id = "pid-603", .name = U1 } } },
        { "a libvirt domain is what libvirt says, whoever else claims what",
          { { .pid = 700, .seq = 2, .lv_uuid = U1, .lv_name = "qemu-701", .id = U1, .name = "qemu-701", .uuid = U1 },
            { .pid = 701, .seq = 1, .trusted = true, .id = "pid-701", .name = "qemu-701" },
            { .pid = 702, .seq = 3, .lv_uuid = U2, .lv_name = "b", .claim_uuid = U1, .claim_name = "a",
              .id = U2, .name = "b", .uuid = U2 } } },
};

static Vm *make(const VmSpec *v) {
        Vm *vm = vm_new(v->pid, 1);

        vm->seq = v->seq;
        vm->trusted = v->trusted || v->lv_uuid;
        free(vm->default_name);
        vm->default_name = xasprintf("qemu-%d", v->pid);
        if (v->claim_uuid || v->claim_name)
                (void) vm_update_identity(vm, VM_SOURCE_PROC, v->claim_uuid, v->claim_name, NULL, NULL, NULL);
        if (v->lv_uuid)
                (void) vm_update_identity(vm, VM_SOURCE_LIBVIRT, v->lv_uuid, v->lv_name, NULL, NULL, NULL);
        return vm;
}

static void count_changed(Vm *vm, void *userdata) {
        (*(unsigned *) userdata)++;
}

static void test_cases(void) {
        for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
                Vm *vms[ELEMENTSOF(cases[c].vms)];
                size_t n = 0;
                unsigned changed = 0;

                for (; n < ELEMENTSOF(cases[c].vms) && cases[c].vms[n].pid; n++)
                        vms[n] = make(&cases[c].vms[n]);
                vm_resolve_identities(vms, n, count_changed, &changed);
                check(changed == n); /* every id changed from its start ("pid-N" name) or name did */
                for (size_t i = 0; i < n; i++) {
                        const VmSpec *v = &cases[c].vms[i];

                        if (!streq_ptr(vms[i]->id, v->id) || !streq_ptr(vms[i]->name, v->name) ||
                            !streq_ptr(vms[i]->uuid, v->uuid) || !streq_ptr(vms[i]->identity_conflict, v->conflict)) {
                                fprintf(stderr,
                                        "case '%s', VM %d:\n  got      id=%s name=%s uuid=%s\n           conflict=%s\n"
                                        "  expected id=%s name=%s uuid=%s\n           conflict=%s\n",
                                        cases[c].what, v->pid, vms[i]->id, vms[i]->name, vms[i]->uuid ?: "(null)",
                                        vms[i]->identity_conflict ?: "(null)", v->id, v->name, v->uuid ?: "(null)",
                                        v->conflict ?: "(null)");
                                exit(EXIT_FAILURE);
                        }
                }
                /* The ids are unique, and so are the uuids. */
                for (size_t i = 0; i < n; i++)
                        for (size_t j = i + 1; j < n; j++) {
                                check(!streq(vms[i]->id, vms[j]->id));
                                check(!vms[i]->uuid || !vms[j]->uuid || strcasecmp(vms[i]->uuid, vms[j]->uuid) != 0);
                        }
                /* Resolving again changes nothing. */
                changed = 0;
                vm_resolve_identities(vms, n, count_changed, &changed);
                check_int(changed, 0);
                for (size_t i = 0; i < n; i++)
                        vm_free(vms[i]);
        }
}

/* Over time: the impostor keeps its claims until the domain shows up, gets them back when it is
 * gone, and a libvirt domain that libvirt stops vouching for is its claims again. */
static void test_sequence(void) {
        Vm *vms[2];
        unsigned changed = 0;

        vms[0] = make(&(VmSpec) { .pid = 200, .seq = 1, .trusted = true, .claim_uuid = U1, .claim_name = "web1" });
        vm_resolve_identities(vms, 1, count_changed, &changed);
        check_str(vms[0]->name, "web1");
        check_str(vms[0]->uuid, U1);
        check_str(vms[0]->id, "pid-200");

        vms[1] = make(&(VmSpec) { .pid = 100, .seq = 2, .lv_uuid = U1, .lv_name = "web1" });
        changed = 0;
        vm_resolve_identities(vms, 2, count_changed, &changed);
        check_int(changed, 2);
        check_str(vms[0]->name, "qemu-200");
        check(!vms[0]->uuid);
        check_str(vms[0]->identity_conflict, IMPOSTOR_OF_WEB1);
        check_str(vms[1]->name, "web1");
        check_str(vms[1]->id, U1);

        /* libvirt no longer reports the domain (resync without it), nor /proc: it is gone */
        vm_free(vms[1]);
        changed = 0;
        vm_resolve_identities(vms, 1, count_changed, &changed);
        check_int(changed, 1);
        check_str(vms[0]->name, "web1");
        check_str(vms[0]->uuid, U1);
        check(!vms[0]->identity_conflict);

        /* the VM loses its trust: its claims go */
        vms[0]->trusted = false;
        vm_resolve_identities(vms, 1, NULL, NULL);
        check_str(vms[0]->name, "qemu-200");
        check(!vms[0]->uuid);
        vm_free(vms[0]);
}

int main(void) {
        test_cases();
        test_sequence();
        printf("test-vm-identity: OK\n");
        return EXIT_SUCCESS;
}
