/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The devices behind each node (include/vtism/cxl-devices.h) on sysfs fixtures (their origin:
 * tests/data/README-cxl.md):
 *   sysfs-cxl-ram-interleaved    a host with two volatile CXL memdevs in one 2-way region, its
 *                                dax device system RAM, onlined movable (node 1)
 *   sysfs-hmem-devdax            soft-reserved memory as a devdax device, not yet RAM, its node
 *                                offline (the CXL host guide's starting point, kmem blacklisted)
 *   sysfs-cxl-lab-devdax         captured in the lab: QEMU's emulated CXL (2 pmem memdevs, one
 *                                2-way pmem region, an nd namespace in devdax mode)
 *   sysfs-cxl-lab-system-ram     the same after daxctl reconfigure-device -m system-ram: node 2
 *   sysfs-lab2                   the plain lab: node 1 is a QEMU -numa node, no CXL at all
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tmptree.h"
#include "vtism/cxl-devices.h"
#include "vtism/util.h"

static CxlDevices *load(const char *fixture, const char *proc) {
        _cleanup_free_ char *root = xasprintf("%s/%s", test_data_dir(), fixture);
        CxlDevices *d = NULL;
        int r = cxl_devices_load(root, proc, &d);

        if (r < 0) {
                fprintf(stderr, "%s: %s\n", fixture, strerror(-r));
                exit(EXIT_FAILURE);
        }
        return d;
}

static void test_ram_interleaved(void) {
        _cleanup_(cxl_devices_freep) CxlDevices *d = load("sysfs-cxl-ram-interleaved", NULL);
        const NodeDevices *n;

        check(d->cxl_bus && d->dax_bus);
        check_u64(d->block_bytes, 128 << 20);
        check_int(d->n_memdevs, 2);
        check_str(d->memdevs[0].name, "mem0");
        check_str(d->memdevs[0].parent, "0000:36:00.0");
        check_u64(d->memdevs[0].ram_bytes, UINT64_C(2) << 30);
        check_u64(d->memdevs[0].pmem_bytes, 0);
        check_str(d->memdevs[1].serial, "0x1a2b3c4d00000002");
        check_int(d->memdevs[1].numa_node, 0);

        check_int(d->n_windows, 1);  /* the switch and endpoint decoders are not windows */
        check_str(d->windows[0].name, "decoder0.0");
        check_u64(d->windows[0].range.start, 0x880000000);
        check_u64(d->windows[0].range.end, 0xa80000000);
        check(d->windows[0].ram && d->windows[0].pmem);

        check_int(d->n_regions, 1);
        check_str(d->regions[0].name, "region0");
        check_str(d->regions[0].mode, "ram");
        check_u64(d->regions[0].range.start, 0x880000000);
        check_u64(d->regions[0].range.end, 0x980000000);
        check_int(d->regions[0].interleave_ways, 2);
        check_int(d->regions[0].interleave_granularity, 4096);
        check(d->regions[0].committed);
        check_int(d->regions[0].window, 0);
        check_int(d->regions[0].n_memdevs, 2);
        check_int(d->regions[0].memdevs[0], 0);  /* target0 = decoder2.0 of endpoint2 = mem0 */
        check_int(d->regions[0].memdevs[1], 1);

        check_int(d->n_dax, 2);
        check_str(d->dax[0].name, "dax0.0");
        check_int(d->dax[0].mode, DAX_MODE_SYSTEM_RAM);
        check_int(d->dax[0].source, DAX_SOURCE_CXL_REGION);
        check_u64(d->dax[0].size_bytes, UINT64_C(4) << 30);
        check_int(d->dax[0].target_node, 1);
        check_int(d->dax[0].n_ranges, 1);
        check_u64(d->dax[0].ranges[0].end, 0x980000000);  /* mapping0/end is inclusive */
        check_int(d->dax[0].region, 0);
        check_int(d->dax[0].window, 0);
        check_u64(d->dax[0].blocks, 32);
        check_u64(d->dax[0].online_blocks, 32);
        check_u64(d->dax[0].movable_blocks, 32);
        /* the seed device: no mapping to read, tied to its region by its directory */
        check_str(d->dax[1].name, "dax0.1");
        check_int(d->dax[1].mode, DAX_MODE_DISABLED);
        check_int(d->dax[1].n_ranges, 0);
        check_int(d->dax[1].region, 0);

        check_int(d->n_nodes, 2);
        n = cxl_devices_node(d, 0);
        check(n && n->online && n->has_cpus);
        check_int(n->kind, NODE_KIND_DRAM);
        check(!n->zones_known);
        check_u64(n->memory_bytes, UINT64_C(2) << 30);
        n = cxl_devices_node(d, 1);
        check(n && n->online && !n->has_cpus);
        check_str(node_kind_to_string(n->kind), "cxl");
        check(n->zones_known);
        check_u64(n->memory_bytes, UINT64_C(4) << 30);
        check_u64(n->online_bytes, UINT64_C(4) << 30);
        check_u64(n->movable_bytes, UINT64_C(4) << 30);
        check_int(n->n_dax, 1);      /* not the empty seed */
        check_int(n->dax[0], 0);
        check_int(n->n_regions, 1);
        check_int(n->window, 0);
        check_str(n->description,
                  "CXL memory: region0 (ram, 2-way interleave, 4096-byte granularity) of mem0 and mem1 in window "
                  "decoder0.0; through dax0.0 (system-ram, 4 GiB); 4 GiB online, all of it movable");
        check(!cxl_devices_node(d, 2));
        printf("ram-interleaved: OK\n");
}

static void test_hmem_devdax(void) {
        _cleanup_(cxl_devices_freep) CxlDevices *d = load("sysfs-hmem-devdax", NULL);
        const NodeDevices *n;

        check(!d->cxl_bus && d->dax_bus);
        check_int(d->n_dax, 1);
        check_str(dax_mode_to_string(d->dax[0].mode), "devdax");
        check_str(dax_source_to_string(d->dax[0].source), "soft-reserved");
        check_int(d->dax[0].window, -1);
        check_u64(d->dax[0].blocks, 0);   /* not hotplugged: no memory blocks */
        n = cxl_devices_node(d, 1);       /* offline, but a dax device targets it */
        check(n && !n->online);
        check_int(n->kind, NODE_KIND_SOFT_RESERVED);
        check_u64(n->memory_bytes, 0);
        check(strstr(n->description, "through dax0.0 (devdax, 16 GiB), not system RAM yet: daxctl "
                                     "reconfigure-device -m system-ram dax0.0; the node is not online"));
        printf("hmem-devdax: OK\n");
}

static void test_lab(void) {
        _cleanup_(cxl_devices_freep) CxlDevices *plain = load("sysfs-lab2", NULL), *fake = NULL;
        _cleanup_free_ char *proc = tmptree_new("test-cxl-devices");
        const NodeDevices *n;

        check(!plain->cxl_bus && !plain->dax_bus);
        check_int(plain->n_nodes, 2);
        n = cxl_devices_node(plain, 1);
        check_int(n->kind, NODE_KIND_BOOT_MEMORY);
        check(!n->zones_known); /* the fixture has no memory blocks */
        check(strstr(n->description, "a virtual machine's NUMA node"));
        check_int(cxl_devices_node(plain, 0)->kind, NODE_KIND_DRAM);

        tmptree_write_str(proc, "cmdline", "BOOT_IMAGE=/vmlinuz ro numa=fake=2 quiet\n");
        fake = load("sysfs-lab2", proc);
        check(fake->numa_fake);
        check_str(node_kind_to_string(cxl_devices_node(fake, 1)->kind), "emulated");
        tmptree_remove(TAKE_PTR(proc));
        printf("lab2: OK\n");
}

static void test_lab_cxl(void) {
        _cleanup_(cxl_devices_freep) CxlDevices *dd = load("sysfs-cxl-lab-devdax", NULL);
        _cleanup_(cxl_devices_freep) CxlDevices *ram = load("sysfs-cxl-lab-system-ram", NULL);
        const NodeDevices *n;

        /* devdax: node 2 exists only as the dax device's target */
        check_int(dd->n_memdevs, 2);
        check_u64(dd->memdevs[0].pmem_bytes, 256 << 20);
        check_int(dd->n_regions, 1);
        check_str(dd->regions[0].mode, "pmem");
        check_int(dd->regions[0].interleave_ways, 2);
        check_int(dd->regions[0].n_memdevs, 2);
        check_int(dd->n_dax, 1);
        check_int(dd->dax[0].source, DAX_SOURCE_NVDIMM);
        check_str(dd->dax[0].provider, "CXL");
        check_int(dd->dax[0].mode, DAX_MODE_DEVDAX);
        check_int(dd->dax[0].region, 0);      /* by its physical range */
        check_int(dd->dax[0].target_node, 2);
        n = cxl_devices_node(dd, 2);
        check(n && !n->online);
        check_int(n->kind, NODE_KIND_CXL);
        check(strstr(n->description, "CXL memory: region0 (pmem, 2-way interleave, 256-byte granularity) of mem0 and "
                                     "mem1 in window decoder0.0; through dax0.0 (devdax,"));
        check_int(cxl_devices_node(dd, 1)->kind, NODE_KIND_BOOT_MEMORY);

        /* system-ram: kmem added the three whole 128 MiB blocks of the 502 MiB device, movable */
        check_int(ram->dax[0].mode, DAX_MODE_SYSTEM_RAM);
        check_u64(ram->dax[0].blocks, 3);
        check_u64(ram->dax[0].online_blocks, 3);
        check_u64(ram->dax[0].movable_blocks, 3);
        n = cxl_devices_node(ram, 2);
        check(n && n->online && !n->has_cpus);
        check_int(n->kind, NODE_KIND_CXL);
        check_u64(n->memory_bytes, 384 << 20);
        check_u64(n->movable_bytes, 384 << 20);
        check(strstr(n->description, "; 384 MiB online, all of it movable"));
        /* the lab's own CPU-less node has no device behind it, and its memory is not movable */
        n = cxl_devices_node(ram, 1);
        check_int(n->kind, NODE_KIND_BOOT_MEMORY);
        check(n->zones_known && n->online_bytes > 0 && n->movable_bytes == 0);
        printf("lab-cxl: OK\n");
}

static void test_errors(void) {
        char *t = tmptree_new("test-cxl-devices");
        CxlDevices *untouched = (CxlDevices *) 1;

        check_int(cxl_devices_load(t, NULL, &untouched), -ENOENT);   /* no nodes at all */
        tmptree_write_str(t, "devices/system/node/online", "0\n");
        tmptree_write_str(t, "devices/system/node/node0/cpulist", "0\n");
        tmptree_write_str(t, "devices/cxl/region0/size", "zz\n");
        tmptree_write_str(t, "devices/cxl/region0/mode", "ram\n");
        tmptree_write_str(t, "devices/cxl/region0/resource", "0x1000\n");
        tmptree_write_str(t, "devices/cxl/region0/interleave_ways", "1\n");
        tmptree_write_str(t, "devices/cxl/region0/interleave_granularity", "256\n");
        tmptree_write_str(t, "devices/cxl/region0/commit", "0\n");
        tmptree_symlink(t, "bus/cxl/devices/region0", "../../../devices/cxl/region0");
        check_int(cxl_devices_load(t, NULL, &untouched), -EINVAL);   /* garbled size */
        tmptree_write_str(t, "devices/cxl/region0/size", "0x0\n");
        tmptree_write_str(t, "devices/cxl/mem0/pmem/size", "0x0\n");
        tmptree_symlink(t, "bus/cxl/devices/mem0", "../../../devices/cxl/mem0");
        check_int(cxl_devices_load(t, NULL, &untouched), -EINVAL);   /* a memdev without ram/size */
        check(untouched == (CxlDevices *) 1);
        tmptree_write_str(t, "devices/cxl/mem0/ram/size", "0x10000000\n");
        {
                _cleanup_(cxl_devices_freep) CxlDevices *d = NULL;

                check_int(cxl_devices_load(t, NULL, &d), 0);
                check_int(d->n_memdevs, 1);
                check_int(d->memdevs[0].numa_node, -1);     /* no numa_node file */
                check_int(d->n_regions, 1);
                check_u64(d->regions[0].range.end, 0);        /* not sized */
                check(!d->regions[0].committed);
                check_int(d->regions[0].window, -1);
        }
        check_int(cxl_devices_load(NULL, NULL, &untouched), -EINVAL);
        check_str(dax_mode_to_string(DAX_MODE_OTHER), "other");
        check(!node_kind_to_string(_NODE_KIND_MAX));
        tmptree_remove(t);
        printf("errors: OK\n");
}

int main(void) {
        test_data_dir();
        test_ram_interleaved();
        test_hmem_devdax();
        test_lab();
        test_lab_cxl();
        test_errors();
        printf("test-cxl-devices: OK\n");
        return 0;
}
