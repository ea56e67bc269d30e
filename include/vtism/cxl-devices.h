/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vtism/macro.h"

/*
 * What is behind each NUMA node's memory: CXL memory devices, regions and windows, DAX devices
 * and their mode, and whether the memory was onlined movable. Read below a sysfs root (and,
 * optionally, a proc root for the kernel command line); pure apart from those reads, no logging.
 *
 * The kernel's objects (Documentation/ABI/testing/sysfs-bus-cxl, sysfs-bus-dax,
 * sysfs-devices-memory; drivers/cxl, drivers/dax):
 *  - bus/cxl/devices/memN: a CXL memory device (type-3 expander); ram/size and pmem/size (hex
 *    bytes), serial, numa_node; its directory hangs below its PCI function.
 *  - bus/cxl/devices/decoderX.Y with devtype cxl_decoder_root: a CXL fixed memory window
 *    (CFMWS) of the platform: start, size (hex), interleave_ways/_granularity. Host-physical
 *    addresses in a window are CXL memory, whoever onlined them.
 *  - bus/cxl/devices/regionN: an interleave set: mode (ram|pmem), resource + size (hex),
 *    interleave_ways, interleave_granularity (bytes), commit, targetK = the endpoint decoder at
 *    position K, whose port endpointP links its memory device as "uport".
 *  - bus/dax/devices/daxX.Y: a device-DAX instance: size (decimal), target_node (the node its
 *    memory becomes as system RAM), mappingK/{start,end} (hex, root only); bound to the driver
 *    "kmem" it is system RAM (daxctl's mode system-ram), to "device_dax" a /dev/daxX.Y
 *    character device (mode devdax), unbound it is disabled. A ram region's dax device sits in
 *    regionN/dax_regionN/; a pmem region's (and an NVDIMM's) below an nd bus ("ndbusK", whose
 *    provider file says CXL, ACPI.NFIT or e820), after `ndctl create-namespace -m devdax`;
 *    soft-reserved (EFI specific-purpose) memory's below hmem.K.
 *  - devices/system/memory/memoryN/{state,valid_zones}: a block is onlined movable when it is
 *    online and its valid_zones reads "Movable" (kmem onlines movable when
 *    auto_online_blocks is offline and daxctl onlines it, or with memhp_default_state=online_movable).
 *  Devices are tied to each other and to nodes by host-physical address: a dax device's
 *  mappings lie in a region, a region in a window, a node's memory blocks in either.
 *
 * Node kinds, for online nodes and for nodes a dax device targets (first rule that applies):
 *  1. dram: the node has CPUs.
 *  2. cxl: a dax device targeting it, or a memory block of it, lies in a CXL window (so also CXL
 *     memory the firmware onlined as ordinary RAM, e.g. with efi=nosoftreserve, as long as
 *     cxl_acpi enumerated the window).
 *  3. pmem: a dax device targeting it comes from an NVDIMM (nd bus not provided by CXL).
 *  4. soft-reserved: a dax device targeting it comes from soft-reserved memory outside any CXL
 *     window (HBM, or CXL memory set up by firmware that the kernel does not enumerate).
 *  5. emulated: the kernel command line has numa=fake.
 *  6. boot-memory: CPU-less memory the firmware described (SRAT) with no device behind it: a
 *     virtual machine's -numa node (the vtism lab), plain CPU-less DRAM, or CXL memory onlined by
 *     firmware without CXL enumeration: the kernel cannot tell these apart.
 *
 * Cost: a readdir of the cxl and dax buses and of each node, a few attribute files per device,
 * and state + valid_zones of the memory blocks of CPU-less nodes and dax devices (2 reads per
 * block: ~16 per GiB with 128 MiB blocks). Memory: ~200 bytes per device.
 */

typedef enum DaxMode {
        DAX_MODE_SYSTEM_RAM,     /* bound to kmem: hotplugged as memory */
        DAX_MODE_DEVDAX,         /* bound to device_dax: /dev/daxX.Y */
        DAX_MODE_DISABLED,       /* bound to no driver */
        DAX_MODE_OTHER,          /* bound to another driver */
        _DAX_MODE_MAX,
        _DAX_MODE_INVALID = -22,
} DaxMode;

typedef enum DaxSource {
        DAX_SOURCE_CXL_REGION,   /* regionN/dax_regionN: a CXL ram region */
        DAX_SOURCE_NVDIMM,       /* an nd namespace (CXL pmem region, NVDIMM, legacy e820 pmem) */
        DAX_SOURCE_SOFT_RESERVED,/* hmem: EFI specific-purpose memory */
        DAX_SOURCE_OTHER,
        _DAX_SOURCE_MAX,
        _DAX_SOURCE_INVALID = -22,
} DaxSource;

typedef enum NodeKind {
        NODE_KIND_DRAM,
        NODE_KIND_CXL,
        NODE_KIND_PMEM,
        NODE_KIND_SOFT_RESERVED,
        NODE_KIND_EMULATED,
        NODE_KIND_BOOT_MEMORY,
        _NODE_KIND_MAX,
        _NODE_KIND_INVALID = -22,
} NodeKind;

const char *dax_mode_to_string(DaxMode m);        /* "system-ram", "devdax", "disabled", "other" */
const char *dax_source_to_string(DaxSource s);    /* "cxl-region", "nvdimm", "soft-reserved", "other" */
const char *node_kind_to_string(NodeKind k);      /* "dram", "cxl", "pmem", "soft-reserved", "emulated", "boot-memory" */

typedef struct PhysRange {
        uint64_t start, end;     /* end exclusive */
} PhysRange;

typedef struct CxlMemdev {
        char *name;              /* "mem0" */
        char *parent;            /* the PCI function it belongs to ("0000:0d:00.0"), or NULL */
        uint64_t ram_bytes, pmem_bytes;
        char *serial;            /* as the kernel writes it ("0x0"), or NULL */
        int numa_node;           /* the device's own affinity, -1 none */
} CxlMemdev;

typedef struct CxlWindow {
        char *name;              /* root decoder "decoder0.0" */
        PhysRange range;
        unsigned interleave_ways, interleave_granularity;
        bool ram, pmem;          /* cap_ram, cap_pmem */
} CxlWindow;

typedef struct CxlRegion {
        char *name;              /* "region0" */
        char *mode;              /* "ram", "pmem", ... as the kernel writes it */
        PhysRange range;         /* empty when not yet sized */
        unsigned interleave_ways, interleave_granularity;
        bool committed;
        ssize_t window;          /* index into windows, -1 */
        size_t *memdevs;         /* indexes into memdevs, in interleave position order */
        size_t n_memdevs;
} CxlRegion;

typedef struct DaxDevice {
        char *name;              /* "dax0.0" */
        DaxMode mode;
        DaxSource source;
        char *provider;          /* nvdimm: the nd bus provider ("CXL", "ACPI.NFIT", "e820"), else NULL */
        uint64_t size_bytes;
        int target_node;         /* -1 when the kernel does not say */
        PhysRange *ranges;       /* from mappingK (root only); empty when unreadable */
        size_t n_ranges;
        ssize_t region;          /* the CXL region it lies in, -1 */
        ssize_t window;          /* the CXL window it lies in, -1 */
        uint64_t blocks, online_blocks, movable_blocks; /* memory blocks wholly inside its ranges */
} DaxDevice;

typedef struct NodeDevices {
        int node;
        bool online, has_cpus;
        NodeKind kind;
        uint64_t memory_bytes;   /* memory blocks linked to the node, times the block size */
        uint64_t online_bytes, movable_bytes; /* CPU-less nodes only (zones_known) */
        bool zones_known;
        size_t *dax;             /* dax devices targeting the node (not the empty seed devices) */
        size_t n_dax;
        size_t *regions;         /* CXL regions holding its memory or its dax devices */
        size_t n_regions;
        ssize_t window;          /* a CXL window holding its memory or its dax devices, -1 */
        char *description;       /* one sentence for vtismctl */
} NodeDevices;

typedef struct CxlDevices {
        CxlMemdev *memdevs;
        size_t n_memdevs;
        CxlWindow *windows;
        size_t n_windows;
        CxlRegion *regions;
        size_t n_regions;
        DaxDevice *dax;
        size_t n_dax;
        NodeDevices *nodes;      /* ascending node id */
        size_t n_nodes;
        uint64_t block_bytes;    /* memory block size, 0 without memory blocks */
        bool cxl_bus, dax_bus;   /* the kernel has the bus (driver core built or loaded) */
        bool numa_fake;          /* numa=fake on the command line (proc root given) */
} CxlDevices;

/*
 * Read it all below sysfs_root (normally "/sys"); proc_root (normally "/proc", or NULL) only for
 * cmdline. Missing buses are not errors (no CXL here); a device directory that lacks a file the
 * kernel always writes, or garbled contents, gives -EINVAL; the node list missing -ENOENT; other
 * read errors their -errno. Unreadable root-only files (dax mappings) leave those ranges empty.
 */
int cxl_devices_load(const char *sysfs_root, const char *proc_root, CxlDevices **ret);
CxlDevices *cxl_devices_free(CxlDevices *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(CxlDevices *, cxl_devices_free);

/* NULL when the node is neither online nor targeted by a dax device. */
const NodeDevices *cxl_devices_node(const CxlDevices *d, int node);
