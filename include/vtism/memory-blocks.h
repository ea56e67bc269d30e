/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vtism/macro.h"

/*
 * Which host NUMA node a physical page frame belongs to, and the state of memory blocks, read
 * below a sysfs root (and, optionally, a proc root). Pure apart from those reads; no logging.
 *
 * The kernel cuts physical memory into memory blocks of block_size_bytes (hex in
 * devices/system/memory/block_size_bytes: 128 MiB on most x86 machines, up to 2 GiB on large
 * ones); block N covers pfns [N * B, (N + 1) * B) with B = block_size_bytes / 4096. Every node
 * directory links the blocks it owns (devices/system/node/nodeX/memoryN), so one readdir per
 * node gives the whole map: cheap (no file per block is read) and exact at block granularity,
 * which is where the kernel assigns memory to nodes for hotplugged memory (CXL, dax/kmem).
 * Boot memory can put a node boundary inside a block; such a block is linked from both nodes.
 * For those (and for kernels without devices/system/memory, CONFIG_MEMORY_HOTPLUG=n) the
 * zones' spanned pfn ranges from /proc/zoneinfo decide when exactly one of the candidate
 * nodes spans the pfn; otherwise the node is unknown (-1). Node spans alone would not do as
 * the only source: nodes may interleave, and a node's span includes holes.
 *
 * Memory: 24 bytes per run of consecutive blocks of one node (a handful per node), 16 per
 * shared block, 24 per populated zone.
 */

typedef struct MemoryBlockRun {
        uint64_t first;          /* block index */
        uint64_t n_blocks;
        int node;                /* -2: linked from more than one node, see node_mask */
        uint64_t node_mask;      /* shared blocks: candidate nodes < 64 (bit per node) */
} MemoryBlockRun;

typedef struct ZoneSpan {
        int node;
        uint64_t start_pfn, end_pfn; /* end exclusive */
} ZoneSpan;

typedef struct MemoryBlocks {
        uint64_t block_bytes;    /* 0 when the kernel has no memory blocks */
        MemoryBlockRun *runs;    /* ascending first, not overlapping */
        size_t n_runs;
        ZoneSpan *spans;         /* from /proc/zoneinfo; NULL when no proc root was given */
        size_t n_spans;
} MemoryBlocks;

/*
 * Read the block size and every node's memoryN links (sysfs_root, normally "/sys"); zone spans
 * from proc_root/zoneinfo when proc_root is not NULL. -ENOENT when there are no node
 * directories at all, -EINVAL for a garbled block size, zoneinfo or a memory block linked
 * twice from one node; other read errors as -errno.
 */
int memory_blocks_load(const char *sysfs_root, const char *proc_root, MemoryBlocks **ret);
MemoryBlocks *memory_blocks_free(MemoryBlocks *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(MemoryBlocks *, memory_blocks_free);

/* The node of a pfn (4 KiB frames): >= 0, or -1 when no block or span tells. */
int memory_blocks_node_of_pfn(const MemoryBlocks *m, uint64_t pfn);

/* Blocks overlapping the physical range [start, start + len), as block indexes [*first, *end). */
void memory_blocks_range(const MemoryBlocks *m, uint64_t start, uint64_t len, uint64_t *ret_first, uint64_t *ret_end);

typedef enum MemoryBlockStateKind {
        MEMORY_BLOCK_ONLINE,
        MEMORY_BLOCK_OFFLINE,
        MEMORY_BLOCK_GOING_OFFLINE,
        _MEMORY_BLOCK_STATE_MAX,
        _MEMORY_BLOCK_STATE_INVALID = -22,
} MemoryBlockStateKind;

const char *memory_block_state_to_string(MemoryBlockStateKind s);

typedef struct MemoryBlockState {
        MemoryBlockStateKind state;
        /* For an online block, the zone it is in ("Normal", "Movable", "DMA32", ...; "none" when it
         * spans zones); for an offline one the zone onlining would pick by default. */
        char zone[16];
        bool movable;            /* online and in ZONE_MOVABLE */
} MemoryBlockState;

/* devices/system/memory/memoryN/{state,valid_zones}. -ENOENT when the block does not exist,
 * -EINVAL for contents the kernel does not write. */
int memory_block_state_read(const char *sysfs_root, uint64_t index, MemoryBlockState *ret);
