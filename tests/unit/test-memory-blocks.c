/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Memory blocks and the pfn -> node map (include/vtism/memory-blocks.h) on
 * tests/data/memory-blocks: 128 MiB blocks (32768 pages); node 0 links blocks 0..8, node 1
 * blocks 8..15 (block 8 holds the node boundary: zoneinfo puts node 0's DMA32 at pfns
 * [0x1000, 0x41000) and node 1's Normal at [0x41000, 0x80000)), node 2 blocks 20..21 (a
 * hotplugged Movable range, block 21 offline); blocks 16..19 do not exist.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tmptree.h"
#include "vtism/memory-blocks.h"
#include "vtism/util.h"

#define PPB UINT64_C(32768) /* pages per block */

static char *data(const char *path) {
        return xasprintf("%s/memory-blocks/%s", test_data_dir(), path);
}

static void test_map(void) {
        _cleanup_free_ char *sys = data("sys"), *proc = data("proc");
        _cleanup_(memory_blocks_freep) MemoryBlocks *m = NULL, *nospans = NULL;
        uint64_t first, end;

        check_int(memory_blocks_load(sys, proc, &m), 0);
        check_u64(m->block_bytes, 128 << 20);
        check_int(m->n_runs, 4);
        check_u64(m->runs[0].first, 0);
        check_u64(m->runs[0].n_blocks, 8);
        check_int(m->runs[0].node, 0);
        check_u64(m->runs[1].first, 8);
        check_int(m->runs[1].node, -2);
        check_u64(m->runs[1].node_mask, 3);
        check_u64(m->runs[2].first, 9);
        check_u64(m->runs[2].n_blocks, 7);
        check_int(m->runs[2].node, 1);
        check_u64(m->runs[3].first, 20);
        check_u64(m->runs[3].n_blocks, 2);
        check_int(m->runs[3].node, 2);
        /* zones with pages: node 0 DMA, DMA32; node 1 Normal; node 2 Movable */
        check_int(m->n_spans, 4);

        check_int(memory_blocks_node_of_pfn(m, 0), 0);
        check_int(memory_blocks_node_of_pfn(m, 8 * PPB - 1), 0);
        check_int(memory_blocks_node_of_pfn(m, 0x40000), 0);       /* block 8, node 0's span */
        check_int(memory_blocks_node_of_pfn(m, 0x40fff), 0);
        check_int(memory_blocks_node_of_pfn(m, 0x41000), 1);       /* block 8, node 1's span */
        check_int(memory_blocks_node_of_pfn(m, 9 * PPB), 1);
        check_int(memory_blocks_node_of_pfn(m, 16 * PPB - 1), 1);
        check_int(memory_blocks_node_of_pfn(m, 16 * PPB), -1);     /* no block */
        check_int(memory_blocks_node_of_pfn(m, 20 * PPB + 5), 2);
        check_int(memory_blocks_node_of_pfn(m, 22 * PPB), -1);
        check_int(memory_blocks_node_of_pfn(m, UINT64_MAX), -1);
        check_int(memory_blocks_node_of_pfn(NULL, 0), -1);

        /* Without zoneinfo the shared block is unknown, the others are not. */
        check_int(memory_blocks_load(sys, NULL, &nospans), 0);
        check_int(nospans->n_spans, 0);
        check_int(memory_blocks_node_of_pfn(nospans, 0x40000), -1);
        check_int(memory_blocks_node_of_pfn(nospans, 0x3ffff), 0);

        memory_blocks_range(m, UINT64_C(1) << 30, 256 << 20, &first, &end);
        check_u64(first, 8);
        check_u64(end, 10);
        memory_blocks_range(m, (UINT64_C(1) << 30) + 1, 128 << 20, &first, &end);
        check_u64(first, 8);
        check_u64(end, 10);
        memory_blocks_range(m, 0, 0, &first, &end);
        check_u64(end - first, 0);
        printf("map: OK\n");
}

static void test_states(void) {
        _cleanup_free_ char *sys = data("sys");
        MemoryBlockState s;

        check_int(memory_block_state_read(sys, 8, &s), 0);
        check_int(s.state, MEMORY_BLOCK_ONLINE);
        check_str(s.zone, "DMA32");
        check(!s.movable);
        check_int(memory_block_state_read(sys, 0, &s), 0);
        check_str(s.zone, "none");
        check_int(memory_block_state_read(sys, 20, &s), 0);
        check_str(s.zone, "Movable");
        check(s.movable);
        check_int(memory_block_state_read(sys, 21, &s), 0);   /* offline, would online movable */
        check_int(s.state, MEMORY_BLOCK_OFFLINE);
        check_str(s.zone, "Movable");
        check(!s.movable);
        check_int(memory_block_state_read(sys, 17, &s), -ENOENT);
        check_str(memory_block_state_to_string(MEMORY_BLOCK_GOING_OFFLINE), "going-offline");
        printf("states: OK\n");
}

static void test_errors(void) {
        _cleanup_free_ char *lab = xasprintf("%s/sysfs-lab2", test_data_dir()), *proc = data("proc");
        _cleanup_(memory_blocks_freep) MemoryBlocks *m = NULL;
        MemoryBlocks *untouched = (MemoryBlocks *) 1;
        MemoryBlockState st;
        char *t;

        /* No devices/system/memory (CONFIG_MEMORY_HOTPLUG=n): zone spans only. */
        check_int(memory_blocks_load(lab, proc, &m), 0);
        check_u64(m->block_bytes, 0);
        check_int(m->n_runs, 0);
        check_int(memory_blocks_node_of_pfn(m, 0x50000), 1);
        check_int(memory_blocks_node_of_pfn(m, 0x90000), -1);

        check_int(memory_blocks_load("/nonexistent", NULL, &untouched), -ENOENT);
        check_int(memory_blocks_load(NULL, NULL, &untouched), -EINVAL);
        check(untouched == (MemoryBlocks *) 1);

        t = tmptree_new("test-memory-blocks");
        tmptree_write_str(t, "devices/system/node/node0/cpulist", "0\n");
        tmptree_write_str(t, "devices/system/memory/block_size_bytes", "zz\n");
        check_int(memory_blocks_load(t, NULL, &untouched), -EINVAL);
        tmptree_write_str(t, "devices/system/memory/block_size_bytes", "800\n");   /* 2 KiB */
        check_int(memory_blocks_load(t, NULL, &untouched), -EINVAL);
        tmptree_write_str(t, "devices/system/memory/block_size_bytes", "8000000\n");
        tmptree_write_str(t, "zoneinfo", "Node 0, zone Normal\n  start_pfn: 5\n");   /* no spanned */
        check_int(memory_blocks_load(t, t, &untouched), -EINVAL);
        tmptree_write_str(t, "zoneinfo", "Node x, zone Normal\n");
        check_int(memory_blocks_load(t, t, &untouched), -EINVAL);
        check(untouched == (MemoryBlocks *) 1);
        tmptree_write_str(t, "devices/system/memory/memory3/state", "sleeping\n");
        tmptree_write_str(t, "devices/system/memory/memory3/valid_zones", "Normal\n");
        check_int(memory_block_state_read(t, 3, &st), -EINVAL);
        tmptree_write_str(t, "devices/system/memory/memory3/state", "online\n");
        tmptree_write_str(t, "devices/system/memory/memory3/valid_zones", "\n");
        check_int(memory_block_state_read(t, 3, &st), -EINVAL);
        tmptree_remove(t);
        printf("errors: OK\n");
}

int main(void) {
        test_data_dir();
        test_map();
        test_states();
        test_errors();
        printf("test-memory-blocks: OK\n");
        return 0;
}
