/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VM identities are resolved once per burst of VM events (manager.h, manager_identities_settle()):
 * the real manager and /proc source on a fixture tree (manager-fixture.h), a fake libvirt source
 * (fake-libvirt.h) whose events the test delivers itself, and the manager's own event loop run one
 * iteration at a time (sd_event_run()). No cycle runs: the VMs' pids need not be processes.
 *
 *   1. A burst (a /proc scan finding 16 claimers, then 16 libvirt domains, with no loop iteration
 *      between): nothing is resolved or announced during it, and no VM has a name or uuid but its
 *      placeholder; the loop's next iteration resolves all of them in ONE pass (once per discovery
 *      before: 32) and announces them in discovery order; the next finds nothing to do.
 *   2. An impostor (/proc, root's, claiming name web1 and its uuid) found in the same burst as
 *      the libvirt domain web1, before it: lookups right after, before the deferred pass, find the
 *      domain by name and uuid, never the impostor, which never showed web1 or the uuid; the
 *      domain has web1's policy, the impostor the default one.
 *   3. A claimer that had its claims (web2) before the domain web2 appears: lookups right after
 *      the domain's discovery find the domain, the claimer is renamed and loses web2's policy.
 *   4. libvirt's resync without the domain web1 and four others: they go in one resolution, and
 *      the impostor of 2. gets web1, its uuid and its policy.
 *   5. A domain found paused, and one found and stopped in the same burst: "found" first, then
 *      its run state or its end, each once.
 *   6. A /proc VM libvirt then reports paused, and resumed, in one burst: both lines, in order,
 *      name it as libvirt does, never by the name it had before.
 *   7. A reload resolves once, at once.
 */
#include <errno.h>

#include "fake-libvirt.h"
#include "manager-fixture.h"

#define U1 "6f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a51"
#define U2 "6f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a52"
#define N_BURST 16
#define PROC_PID0 3000
#define LIBVIRT_PID0 5000

static const char conf[] = "global = {\n"
                           "  tracker = \"page_idle\";\n"
                           "  heat_range = \"32M\";\n"
                           "  dry_run = true;\n"
                           "  libvirt_uri = \"qemu:///system\";\n" /* the fake's */
                           "};\n"
                           "vm = ( { name = \"web1\"; dram_budget = \"1M\"; },\n"
                           "       { name = \"web2\"; dram_budget = \"2M\"; } );\n";

static char *domain_uuid(unsigned i) {
        return xasprintf("0d0d0d0d-4d5e-4f60-8a9b-%012x", i);
}

static void domain_started(pid_t pid, const char *uuid, const char *name) {
        VmIdentity id = libvirt_domain(pid, uuid, name, fixture_start_time(pid), (uint64_t) RAM_MIB * MIB);

        libvirt_tell(VM_EVENT_STARTED, &id);
}

/* Where needle first is in text from offset from on, SIZE_MAX if nowhere. */
/* (not inlined: gcc 12 takes the log text for a pointer to log_text()'s local) */
__attribute__((noinline)) static size_t text_pos(const char *text, size_t from, const char *needle) {
        const char *p = strstr(text + MIN(from, strlen(text)), needle);

        return p ? (size_t) (p - text) : SIZE_MAX;
}

/* Where needle first is in the log from offset from on; it must be there. */
static size_t log_pos(size_t from, const char *needle) {
        _cleanup_free_ char *text = log_text();
        size_t pos = text_pos(text, from, needle);

        if (pos == SIZE_MAX) {
                fprintf(stderr, "FAIL: '%s' not logged since offset %zu\n", needle, from);
                exit(EXIT_FAILURE);
        }
        return pos;
}

static Vm *find(Manager *m, const char *key) {
        Vm *vm = NULL;

        check(manager_find_vm(m, key, &vm) == 0);
        return vm;
}

/* No two VMs have one id, one uuid or (but for a libvirt name equal to another's default) one name. */
static void check_unique(const Manager *m) {
        for (size_t i = 0; i < m->n_vms; i++)
                for (size_t j = i + 1; j < m->n_vms; j++) {
                        const Vm *a = m->vms[i], *b = m->vms[j];

                        check(!streq(a->id, b->id));
                        check(!streq(a->name, b->name));
                        check(!a->uuid || !b->uuid || strcasecmp(a->uuid, b->uuid) != 0);
                }
}

static void test_burst(Manager *m) {
        uint64_t before = m->identity_resolutions;
        size_t from = log_offset(), last = 0;

        for (unsigned i = 0; i < N_BURST; i++) {
                _cleanup_free_ char *name = xasprintf("proc-%u", i), *uuid = xasprintf("0a0a0a0a-4d5e-4f60-8a9b-%012x", i);

                add_vm_claiming(PROC_PID0 + (pid_t) i, name, uuid);
        }
        check(vmsource_proc_scan(m->proc_source) == 0);
        for (unsigned i = 0; i < N_BURST; i++) {
                _cleanup_free_ char *name = xasprintf("dom-%u", i), *uuid = domain_uuid(i);

                domain_started(LIBVIRT_PID0 + (pid_t) i, uuid, name);
        }
        check_int(m->n_vms, 2 * N_BURST);
        /* during the burst: nothing resolved, nothing announced, nothing claimed */
        check_u64(m->identity_resolutions, before);
        check_log(from, "found via", 0);
        for (size_t i = 0; i < m->n_vms; i++) {
                _cleanup_free_ char *placeholder = xasprintf("pid-%d", (int) m->vms[i]->pid);

                check_str(m->vms[i]->id, placeholder);
                check_str(m->vms[i]->name, placeholder);
                check(!m->vms[i]->uuid);
                check(!m->vms[i]->policy.source);
        }

        check(loop_once(m));
        check_u64(m->identity_resolutions, before + 1);
        check_log(from, "found via", 2 * N_BURST);
        for (unsigned i = 0; i < N_BURST; i++) {
                _cleanup_free_ char *name = xasprintf("proc-%u", i), *uuid = domain_uuid(i);
                Vm *p = vm_of(m, PROC_PID0 + (pid_t) i), *d = vm_of(m, LIBVIRT_PID0 + (pid_t) i);

                check_str(p->name, name);
                check(p->uuid && !p->identity_conflict);
                check_str(d->id, uuid);
                check_str(d->uuid, uuid);
                check_str(d->policy.source, "default");
        }
        /* announced in discovery order (the scan's is readdir's): m->vms is in it, none was removed */
        for (size_t i = 0; i < m->n_vms; i++) {
                const Vm *vm = m->vms[i];
                _cleanup_free_ char *line = xasprintf("VM %s (pid %d) found via %s.", vm->name, (int) vm->pid,
                                                      vm->sources & VM_SOURCE_LIBVIRT ? "libvirt" : "proc");
                size_t pos = log_pos(from, line);

                check(i == 0 || (vm->seq > m->vms[i - 1]->seq && pos > last));
                last = pos;
        }
        check_unique(m);
        check(!loop_once(m)); /* nothing left to do */
        check(find(m, "dom-3") == vm_of(m, LIBVIRT_PID0 + 3));
        check_u64(m->identity_resolutions, before + 1);
        printf("1. %d VMs found in one burst: resolved in 1 pass at the next loop iteration, announced in order\n",
               2 * N_BURST);
}

static void test_impostor_in_burst(Manager *m) {
        const pid_t impostor = PROC_PID0 + 100, domain = LIBVIRT_PID0 + 100;
        uint64_t before = m->identity_resolutions;
        size_t from = log_offset();
        Vm *vm;

        add_vm_claiming(impostor, "web1", U1);
        check(vmsource_proc_scan(m->proc_source) == 0);
        domain_started(domain, U1, "web1");
        vm = vm_of(m, impostor);
        check_str(vm->name, "pid-3100"); /* its placeholder: it claims nothing before it is resolved */
        check(!vm->uuid);

        /* lookups right after the burst, before the loop's deferred pass */
        check(find(m, "web1") == vm_of(m, domain));
        check_u64(m->identity_resolutions, before + 1);
        check(find(m, U1) == vm_of(m, domain));
        check(find(m, "6F1C2A3B-4D5E-4F60-8A9B-0C1D2E3F4A51") == vm_of(m, domain));
        vm = find(m, "pid-3100");
        check(vm->pid == impostor);
        check_str(vm->name, "qemu-3100");
        check(!vm->uuid);
        check(vm->identity_conflict && strstr(vm->identity_conflict, "libvirt domain web1 (pid 5100) has it"));
        check_str(vm->policy.source, "default");
        vm = vm_of(m, domain);
        check_str(vm->id, U1);
        check(strstr(vm->policy.source, "vtism.conf:") && !vm->policy.policy.budget_is_percent &&
              vm->policy.policy.dram_budget_bytes == MIB);
        check_unique(m);
        check(!loop_once(m));
        check_u64(m->identity_resolutions, before + 1);

        check(log_pos(from, "VM qemu-3100 (pid 3100) found via proc.") < log_pos(from, "VM web1 (pid 5100) found via libvirt."));
        check_log(from, "VM web1 (pid 3100)", 0);
        check_log(from, "VM qemu-3100 (pid 3100, uid 0): its command line claims name 'web1'", 1);
        check_log(from, "VM web1: policy", 1);
        printf("2. an impostor found with the domain it claims to be: lookups before the deferred pass find the domain\n");
}

static void test_claimer_before_domain(Manager *m) {
        const pid_t claimer = PROC_PID0 + 200, domain = LIBVIRT_PID0 + 200;
        uint64_t before;
        size_t from;
        Vm *vm;

        add_vm_claiming(claimer, "web2", U2);
        check(vmsource_proc_scan(m->proc_source) == 0);
        check(loop_once(m));
        vm = find(m, "web2");
        check(vm->pid == claimer);
        check_str(vm->uuid, U2);
        check(vm->policy.policy.dram_budget_bytes == 2 * MIB);

        before = m->identity_resolutions;
        from = log_offset();
        domain_started(domain, U2, "web2");
        check(find(m, "web2") == vm_of(m, domain));
        check(find(m, U2) == vm_of(m, domain));
        check_u64(m->identity_resolutions, before + 1);
        vm = vm_of(m, claimer);
        check_str(vm->name, "qemu-3200");
        check(!vm->uuid);
        check_str(vm->policy.source, "default");
        check(vm_of(m, domain)->policy.policy.dram_budget_bytes == 2 * MIB);
        check_unique(m);
        check_log(from, "VM web2: policy", 1);
        check_log(from, "VM qemu-3200: policy default", 1);
        printf("3. a claimer renamed by the domain that appears: found by the domain's name and uuid at once\n");
}

static void test_resync_drops(Manager *m) {
        uint64_t before = m->identity_resolutions;
        size_t from = log_offset();
        Vm *vm;

        /* libvirt's resync: every domain again but web1 and dom-0..3 */
        libvirt_tell(VM_EVENT_RESYNC_BEGIN, NULL);
        for (unsigned i = 4; i < N_BURST; i++) {
                _cleanup_free_ char *name = xasprintf("dom-%u", i), *uuid = domain_uuid(i);

                domain_started(LIBVIRT_PID0 + (pid_t) i, uuid, name);
        }
        domain_started(LIBVIRT_PID0 + 200, U2, "web2");
        libvirt_tell(VM_EVENT_RESYNC_END, NULL);
        check_u64(m->identity_resolutions, before);
        check_log(from, "; no longer tracked.", 5);
        check(!vm_of(m, LIBVIRT_PID0 + 100));

        check(loop_once(m));
        check_u64(m->identity_resolutions, before + 1);
        vm = find(m, "web1");
        check(vm->pid == PROC_PID0 + 100);
        check_str(vm->uuid, U1);
        check(!vm->identity_conflict);
        check(vm->policy.policy.dram_budget_bytes == MIB);
        check(find(m, U1) == vm);
        check_unique(m);
        check_u64(m->identity_resolutions, before + 1);
        printf("4. five domains gone in one resync: one pass, the impostor gets web1 back with its policy\n");
}

static void test_announce_order(Manager *m) {
        VmIdentity paused = libvirt_domain(LIBVIRT_PID0 + 300, "0e0e0e0e-4d5e-4f60-8a9b-000000000300", "paused-vm",
                                           fixture_start_time(LIBVIRT_PID0 + 300), (uint64_t) RAM_MIB * MIB);
        size_t from = log_offset();

        paused.run_state = VM_RUN_PAUSED;
        paused.run_state_why = "user";
        libvirt_tell(VM_EVENT_STARTED, &paused);
        domain_started(LIBVIRT_PID0 + 301, "0e0e0e0e-4d5e-4f60-8a9b-000000000301", "brief");
        libvirt_tell(VM_EVENT_STOPPED, &(VmIdentity) { .pid = LIBVIRT_PID0 + 301 });
        check(!vm_of(m, LIBVIRT_PID0 + 301));
        /* the stopped one was announced as it went (and the paused one with it) */
        check(log_pos(from, "VM brief (pid 5301) found via libvirt.") < log_pos(from, "VM brief (pid 5301) stopped; no longer tracked."));
        check(log_pos(from, "VM paused-vm (pid 5300) found via libvirt.") <
              log_pos(from, "VM paused-vm (pid 5300) is paused (user)"));
        while (loop_once(m))
                ;
        check_log(from, "(pid 5300)", 2);
        check_log(from, "(pid 5301)", 2);
        check(vm_of(m, LIBVIRT_PID0 + 300)->run_state == VM_RUN_PAUSED);
        printf("5. found paused, found and stopped in one burst: \"found\" first, then its state or its end\n");
}

static void test_merged_run_state(Manager *m) {
        const pid_t pid = PROC_PID0 + 400;
        VmIdentity id = libvirt_domain(pid, "0f0f0f0f-4d5e-4f60-8a9b-000000000400", "merged", fixture_start_time(pid),
                                       (uint64_t) RAM_MIB * MIB);
        size_t from;

        add_vm(pid, "claimed");
        check(vmsource_proc_scan(m->proc_source) == 0);
        check(loop_once(m));
        check_str(vm_of(m, pid)->name, "claimed");

        from = log_offset();
        id.run_state = VM_RUN_PAUSED;
        id.run_state_why = "user";
        libvirt_tell(VM_EVENT_STARTED, &id); /* libvirt's word joins the /proc VM: the line waits */
        check_log(from, "is paused", 0);
        id.run_state = VM_RUN_RUNNING;
        id.run_state_why = NULL;
        libvirt_tell(VM_EVENT_CHANGED, &id); /* the waiting line is said first */
        check(log_pos(from, "VM merged (pid 3400) is paused (user)") < log_pos(from, "VM merged (pid 3400) runs again (was paused)"));
        while (loop_once(m))
                ;
        check_log(from, "(pid 3400)", 2);
        check_log(from, "VM claimed", 0);
        check_str(vm_of(m, pid)->id, id.uuid);
        printf("6. a /proc VM libvirt reports paused and resumed in one burst: both lines, in order, named by libvirt\n");
}

static void test_reload(Manager *m) {
        uint64_t before = m->identity_resolutions;

        check(manager_reload(m, NULL) == 0);
        check_u64(m->identity_resolutions, before + 1);
        check(!loop_once(m));
        check_u64(m->identity_resolutions, before + 1);
        printf("7. a reload: one pass, at once\n");
}

int main(void) {
        _cleanup_(manager_freep) Manager *m = NULL;

        test_data_dir();
        build_fixture("test-manager-identity", "sysfs-1node", conf);
        capture_log();
        m = fixture_manager();
        check(libvirt);

        test_burst(m);
        test_impostor_in_burst(m);
        test_claimer_before_domain(m);
        test_resync_drops(m);
        test_announce_order(m);
        test_merged_run_state(m);
        test_reload(m);

        m = manager_free(m);
        check(!libvirt);
        printf("test-manager-identity: OK\n");
        return EXIT_SUCCESS;
}
