/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The heat map's per 2 MiB block state (private to src/core/heatmap.c and its tests): one 16-bit
 * value per block of a RAM range, stored by chunks of BLOCK_STORE_CHUNK blocks (512 MiB of guest
 * RAM). A chunk whose blocks all hold the same value is that value alone (8 bytes); any other
 * chunk is an array of its values (8 + 2 bytes per block). A VM's placement is mostly long runs
 * of one state: never queried (all UNKNOWN), first touch (all on the home node), never-touched
 * RAM (ABSENT), a THP-backed VM's hot set moved in runs; the array is kept only where blocks
 * differ, and freed again as soon as they agree.
 *
 * Cost: get O(1) (one load and a branch, two loads for an array chunk); set O(1), except that a
 * write making a uniform chunk non-uniform copies its value into a new array (O(chunk), once per
 * change of state), and a write to a chunk's last block checks whether it became uniform (O(chunk):
 * the callers write blocks in ascending order, so a pass over a chunk pays it once);
 * block_store_compact() is the same check for a chunk the caller has finished with.
 * Memory: 8 bytes per chunk (0.000061 bytes per 4 KiB page) while uniform; at worst (no two
 * neighbours alike, e.g. alternating states) 8 + 2 × 256 bytes per chunk, plus the allocator's
 * header for the array: 2.03 bytes per block of state, 2.09 with glibc's 16 bytes per allocation
 * (0.0041 bytes per 4 KiB page, where a plain array of 2 bytes per block costs 0.0039).
 * test-block-store checks random update sequences against a plain array, and the worst case.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BLOCK_STORE_CHUNK_SHIFT 8u
#define BLOCK_STORE_CHUNK (1u << BLOCK_STORE_CHUNK_SHIFT)   /* blocks per chunk */

typedef struct BlockStore {
        /* per chunk: (value << 1) | 1 while every block of it holds value, else the address of an
         * array of its blocks' values (malloc()'s alignment keeps bit 0 clear) */
        uintptr_t *chunk;
        size_t n_blocks;
        size_t n_arrays;        /* chunks held as arrays */
} BlockStore;

/* n_blocks ≥ 1 blocks, all holding value. */
void block_store_init(BlockStore *s, size_t n_blocks, uint16_t value);
void block_store_done(BlockStore *s);

static inline uint16_t block_store_get(const BlockStore *s, size_t b) {
        uintptr_t c = s->chunk[b >> BLOCK_STORE_CHUNK_SHIFT];

        if (c & 1u)
                return (uint16_t) (c >> 1);
        return ((const uint16_t *) c)[b & (BLOCK_STORE_CHUNK - 1)];
}

void block_store_set(BlockStore *s, size_t b, uint16_t value);
/* Make chunk `index` one value again if all its blocks agree. */
void block_store_compact(BlockStore *s, size_t index);
/* Is block b the last of its chunk (the point to compact it after an ascending pass)? */
bool block_store_chunk_last(const BlockStore *s, size_t b);
/* The bytes held: descriptors and arrays (without the allocator's headers). */
uint64_t block_store_memory_bytes(const BlockStore *s);
