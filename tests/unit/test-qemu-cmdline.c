/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include "check.h"
#include "vtism/macro.h"
#include "vtism/qemu-cmdline.h"

static QemuCmdline *parse(char *const *argv) {
        QemuCmdline *c = NULL;
        size_t argc = 0;

        while (argv[argc])
                argc++;
        check_int(qemu_cmdline_parse(argv, argc, &c), 0);
        return c;
}

static int parse_err(char *const *argv) {
        QemuCmdline *c = NULL;
        size_t argc = 0;
        int r;

        while (argv[argc])
                argc++;
        r = qemu_cmdline_parse(argv, argc, &c);
        check(!c || r >= 0);
        qemu_cmdline_free(c);
        return r;
}

static void test_is_qemu(void) {
        check(qemu_cmdline_is_qemu("/usr/bin/qemu-system-x86_64"));
        check(qemu_cmdline_is_qemu("qemu-system-aarch64"));
        check(qemu_cmdline_is_qemu("/usr/libexec/qemu-kvm"));
        check(qemu_cmdline_is_qemu("/usr/bin/kvm"));          /* the emulator vmsource-libvirt refused */
        check(!qemu_cmdline_is_qemu("/usr/bin/qemu-img"));
        check(!qemu_cmdline_is_qemu("/bin/bash"));
        check(!qemu_cmdline_is_qemu(NULL));
}

/* What libvirt 9.0 generates for QEMU 7.2 (JSON -object, machine memory-backend=). */
static void test_libvirt(void) {
        char *argv[] = {
                "/usr/bin/qemu-system-x86_64", "-name", "guest=web-1,debug-threads=on", "-S",
                "-object", "{\"qom-type\":\"secret\",\"id\":\"masterKey0\",\"format\":\"raw\",\"file\":\"/x\"}",
                "-machine", "pc-i440fx-7.2,usb=off,dump-guest-core=off,memory-backend=pc.ram",
                "-accel", "tcg", "-cpu", "qemu64", "-m", "256",
                "-object", "{\"qom-type\":\"memory-backend-ram\",\"id\":\"pc.ram\",\"size\":268435456}",
                "-overcommit", "mem-lock=off", "-smp", "1,sockets=1,cores=1,threads=1",
                "-uuid", "6F1C2A3B-4D5E-4F60-8A9B-0C1D2E3F4A5B", "-no-user-config", "-nodefaults",
                NULL,
        };
        _cleanup_(qemu_cmdline_freep) QemuCmdline *c = parse(argv);
        _cleanup_free_ const QemuBackend **ram = NULL;
        size_t n;

        check_str(c->name, "web-1");
        check_str(c->uuid, "6f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a5b");
        check_str(c->machine, "pc-i440fx-7.2");
        check_str(qemu_machine_family(c->machine), "pc");
        check_str(c->accel, "tcg");
        check_u64(c->ram_bytes, 256 * MIB);
        check_int(c->n_backends, 1);
        check_int(qemu_cmdline_ram_backends(c, &ram, &n), 0);
        check_int(n, 1);
        check_str(ram[0]->id, "pc.ram");
        check_int(ram[0]->kind, QEMU_BACKEND_RAM);
        check_u64(ram[0]->size_bytes, 256 * MIB);
}

/* libvirt with two guest NUMA cells bound to host nodes. */
static void test_libvirt_numa(void) {
        char *argv[] = {
                "qemu-system-x86_64", "-machine", "pc-q35-7.2,usb=off,max-ram-below-4g=1G", "-m", "size=4194304k",
                "-object", "{\"qom-type\":\"memory-backend-ram\",\"id\":\"ram-node1\",\"size\":2147483648,"
                           "\"host-nodes\":[2],\"policy\":\"bind\"}",
                "-object", "{\"qom-type\":\"memory-backend-file\",\"id\":\"ram-node0\",\"mem-path\":"
                           "\"/dev/hugepages/libvirt/qemu/1-vm\",\"share\":true,\"size\":2147483648,"
                           "\"host-nodes\":[0,1],\"policy\":\"bind\"}",
                "-numa", "node,nodeid=1,cpus=1,memdev=ram-node1",
                "-numa", "node,nodeid=0,cpus=0,memdev=ram-node0",
                "-enable-kvm", NULL,
        };
        _cleanup_(qemu_cmdline_freep) QemuCmdline *c = parse(argv);
        _cleanup_free_ const QemuBackend **ram = NULL;
        size_t n;

        check_str(qemu_machine_family(c->machine), "q35");
        check_u64(c->max_ram_below_4g_bytes, GIB);
        check_str(c->accel, "kvm");
        check_u64(c->ram_bytes, 4 * GIB);
        check_int(qemu_cmdline_ram_backends(c, &ram, &n), 0);
        check_int(n, 2);
        /* guest-physical order follows the guest node ids, not the command line */
        check_str(ram[0]->id, "ram-node0");
        check_int(ram[0]->guest_node, 0);
        check_int(ram[0]->kind, QEMU_BACKEND_FILE);
        check_str(ram[0]->mem_path, "/dev/hugepages/libvirt/qemu/1-vm");
        check(ram[0]->share);
        check_int(ram[0]->n_host_nodes, 2);
        check_int(ram[0]->host_nodes[1], 1);
        check_str(ram[1]->id, "ram-node1");
        check_int(ram[1]->guest_node, 1);
        check_int(ram[1]->n_host_nodes, 1);
        check_int(ram[1]->host_nodes[0], 2);
}

/* A hand-started QEMU like the lab's: classic -object syntax, no name or uuid. */
static void test_plain(void) {
        char *argv[] = {
                "qemu-system-x86_64", "--accel", "tcg,thread=single", "-m", "2G",
                "-object", "memory-backend-ram,id=m0,size=1G,host-nodes=0-1,policy=bind",
                "-object", "memory-backend-memfd,id=m1,size=1024M,share=on",
                "-numa", "node,nodeid=0,cpus=0-1,memdev=m0", "-numa", "node,memdev=m1",
                "-numa", "dist,src=0,dst=1,val=20", "-name", "lab,,guest", "-nographic", NULL,
        };
        _cleanup_(qemu_cmdline_freep) QemuCmdline *c = parse(argv);
        _cleanup_free_ const QemuBackend **ram = NULL;
        size_t n;

        check_str(c->name, "lab,guest");
        check(!c->uuid);
        check(!c->machine);
        check_str(qemu_machine_family(c->machine), "pc");
        check_str(c->accel, "tcg");
        check_int(qemu_cmdline_ram_backends(c, &ram, &n), 0);
        check_int(n, 2);
        check_int(ram[0]->n_host_nodes, 2);
        check_int(ram[1]->kind, QEMU_BACKEND_MEMFD);
        check_int(ram[1]->guest_node, 1);
        check(ram[1]->share);
}

/* No backends at all: QEMU's own anonymous pc.ram of -m (default 128 MiB). */
static void test_implicit(void) {
        char *argv1[] = { "qemu-system-x86_64", "-M", "microvm", "-m", "64", NULL };
        char *argv2[] = { "qemu-system-x86_64", "-kernel", "guest.elf", NULL };
        _cleanup_(qemu_cmdline_freep) QemuCmdline *c1 = parse(argv1), *c2 = parse(argv2);
        _cleanup_free_ const QemuBackend **ram1 = NULL, **ram2 = NULL;
        size_t n;

        check_str(qemu_machine_family(c1->machine), "microvm");
        check_int(qemu_cmdline_ram_backends(c1, &ram1, &n), 0);
        check_int(n, 1);
        check_int(ram1[0]->kind, QEMU_BACKEND_IMPLICIT);
        check_u64(ram1[0]->size_bytes, 64 * MIB);
        check_int(qemu_cmdline_ram_backends(c2, &ram2, &n), 0);
        check_u64(ram2[0]->size_bytes, 128 * MIB);
}

static void test_proc(void) {
        static const char buf[] = "qemu-system-x86_64\0-m\0" "512M\0-uuid\0abc\0";
        _cleanup_(qemu_cmdline_freep) QemuCmdline *c = NULL;

        check_int(qemu_cmdline_parse_proc(buf, sizeof(buf) - 1, &c), 0);
        check_u64(c->ram_bytes, 512 * MIB);
        check_str(c->uuid, "abc");
        check_int(qemu_cmdline_parse_proc("", 0, &c), -EINVAL);
}

static void test_errors(void) {
        char *bad_m[] = { "qemu-system-x86_64", "-m", "lots", NULL };
        char *bad_size[] = { "qemu-system-x86_64", "-object", "memory-backend-ram,id=a,size=1Q", NULL };
        char *no_id[] = { "qemu-system-x86_64", "-object", "memory-backend-ram,size=1G", NULL };
        char *bad_json[] = { "qemu-system-x86_64", "-object", "{\"qom-type\":", NULL };
        char *dangling[] = { "qemu-system-x86_64", "-m", "1G", "-numa", "node,memdev=nope", NULL };
        char *twice[] = { "qemu-system-x86_64", "-object", "memory-backend-ram,id=a,size=1G",
                          "-numa", "node,memdev=a", "-numa", "node,memdev=a", NULL };
        char *mismatch[] = { "qemu-system-x86_64", "-m", "2G", "-object", "memory-backend-ram,id=a,size=1G",
                             "-numa", "node,memdev=a", NULL };
        _cleanup_(qemu_cmdline_freep) QemuCmdline *c = parse(mismatch);
        const QemuBackend **ram = NULL;
        size_t n;

        check_int(parse_err(bad_m), -EINVAL);
        check_int(parse_err(bad_size), -EINVAL);
        check_int(parse_err(no_id), -EINVAL);
        check_int(parse_err(bad_json), -EINVAL);
        check_int(parse_err(dangling), -EINVAL);
        check_int(parse_err(twice), -EINVAL);
        /* sizes not adding up to -m: the layout cannot be trusted */
        check_int(qemu_cmdline_ram_backends(c, &ram, &n), -EINVAL);
        check(!ram);
}

/*
 * host-nodes=: any user's command line reaches this. An empty value used to reach
 * memcpy(dst, NULL, 0) (undefined behaviour, caught by UBSan), a big range made a big list.
 */
static void test_host_nodes(void) {
        char *empty[] = { "qemu-system-x86_64", "-m", "1G", "-object", "memory-backend-ram,id=m0,size=1G,host-nodes=",
                          "-numa", "node,memdev=m0", NULL };
        char *repeated[] = { "qemu-system-x86_64", "-m", "1G",
                             "-object", "memory-backend-ram,id=m0,size=1G,host-nodes=3,host-nodes=1-3:0,host-nodes=",
                             "-numa", "node,memdev=m0", NULL };
        char *json[] = { "qemu-system-x86_64", "-m", "1G",
                         "-object", "{\"qom-type\":\"memory-backend-ram\",\"id\":\"m0\",\"size\":1073741824,"
                                    "\"host-nodes\":[2,0,2,1023]}",
                         NULL };
        char *json_empty[] = { "qemu-system-x86_64", "-m", "1G",
                               "-object", "{\"qom-type\":\"memory-backend-ram\",\"id\":\"m0\",\"size\":1073741824,"
                                          "\"host-nodes\":[]}",
                               NULL };
        char *too_big[] = { "qemu-system-x86_64", "-object", "memory-backend-ram,id=m0,size=1G,host-nodes=0-1048576", NULL };
        char *too_big2[] = { "qemu-system-x86_64", "-object", "memory-backend-ram,id=m0,size=1G,host-nodes=99999999999999999999", NULL };
        char *negative[] = { "qemu-system-x86_64", "-object",
                             "{\"qom-type\":\"memory-backend-ram\",\"id\":\"m0\",\"size\":1,\"host-nodes\":[-1]}", NULL };
        char *json_big[] = { "qemu-system-x86_64", "-object",
                             "{\"qom-type\":\"memory-backend-ram\",\"id\":\"m0\",\"size\":1,\"host-nodes\":[1024]}", NULL };
        char *backwards[] = { "qemu-system-x86_64", "-object", "memory-backend-ram,id=m0,size=1G,host-nodes=3-1", NULL };
        char *garbage[] = { "qemu-system-x86_64", "-object", "memory-backend-ram,id=m0,size=1G,host-nodes=1;2", NULL };
        char *dash[] = { "qemu-system-x86_64", "-object", "memory-backend-ram,id=m0,size=1G,host-nodes=1-", NULL };
        QemuCmdline *c;

        c = parse(empty);
        check_int(c->n_backends, 1);
        check_int(c->backends[0].n_host_nodes, 0);
        c = qemu_cmdline_free(c);

        /* repeated host-nodes= add up, sorted and without duplicates */
        c = parse(repeated);
        check_int(c->backends[0].n_host_nodes, 4);
        for (int i = 0; i < 4; i++)
                check_int(c->backends[0].host_nodes[i], i);
        c = qemu_cmdline_free(c);

        c = parse(json);
        check_int(c->backends[0].n_host_nodes, 3);
        check_int(c->backends[0].host_nodes[0], 0);
        check_int(c->backends[0].host_nodes[1], 2);
        check_int(c->backends[0].host_nodes[2], 1023);
        c = qemu_cmdline_free(c);
        c = parse(json_empty);
        check_int(c->backends[0].n_host_nodes, 0);
        c = qemu_cmdline_free(c);

        check_int(parse_err(too_big), -ERANGE);
        check_int(parse_err(too_big2), -ERANGE);
        check_int(parse_err(negative), -ERANGE);
        check_int(parse_err(json_big), -ERANGE);
        check_int(parse_err(backwards), -EINVAL);
        check_int(parse_err(garbage), -EINVAL);
        check_int(parse_err(dash), -EINVAL);
}

int main(void) {
        test_is_qemu();
        test_libvirt();
        test_libvirt_numa();
        test_plain();
        test_implicit();
        test_proc();
        test_errors();
        test_host_nodes();
        printf("test-qemu-cmdline: ok\n");
        return 0;
}
