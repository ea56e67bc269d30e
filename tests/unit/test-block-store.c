/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The heat map's per block store (src/core/block-store.h) against a plain array of values:
 * random update sequences (runs, single blocks, few and many distinct values, ascending passes
 * and random order) over sizes around the chunk size, the worst case (alternating values) with
 * its memory, and compaction: a chunk whose blocks come to agree is one value again.
 */
#include <string.h>

#include "../../src/core/block-store.h"
#include "check.h"
#include "splitmix.h"
#include "vtism/macro.h"

#define CHUNK BLOCK_STORE_CHUNK

static uint64_t rng = 7;

static uint64_t rnd(void) {
        return splitmix64(&rng);
}

static size_t rnd_below(size_t n) {
        return (size_t) (rnd() % n);
}

static size_t n_chunks(size_t n_blocks) {
        return (n_blocks + CHUNK - 1) / CHUNK;
}

/* Every block as the reference says; arrays exactly where a chunk's blocks differ and the memory
 * the store reports is what its arrays and descriptors take. */
static void check_same(const BlockStore *s, const uint16_t *ref, size_t n, bool compacted) {
        uint64_t mem = n_chunks(n) * sizeof(uintptr_t);
        size_t arrays = 0;

        for (size_t b = 0; b < n; b++)
                if (block_store_get(s, b) != ref[b]) {
                        fprintf(stderr, "block %zu of %zu: %u, expected %u\n", b, n, block_store_get(s, b), ref[b]);
                        check(false);
                }
        for (size_t c = 0; c < n_chunks(n); c++) {
                size_t len = MIN((size_t) CHUNK, n - c * CHUNK);
                bool uniform = true;

                for (size_t i = 1; i < len; i++)
                        uniform = uniform && ref[c * CHUNK + i] == ref[c * CHUNK];
                if (!(s->chunk[c] & 1u)) {
                        arrays++;
                        mem += len * sizeof(uint16_t);
                }
                if (compacted)
                        check_int(!(s->chunk[c] & 1u), !uniform);
                else if (!uniform)
                        check(!(s->chunk[c] & 1u));
        }
        check_u64(s->n_arrays, arrays);
        check_u64(block_store_memory_bytes(s), mem);
}

static void compact_all(BlockStore *s, size_t n) {
        for (size_t c = 0; c < n_chunks(n); c++)
                block_store_compact(s, c);
}

static void test_random(void) {
        static const size_t sizes[] = { 1, 2, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17, 8 * CHUNK };

        for (size_t si = 0; si < ELEMENTSOF(sizes); si++)
                for (unsigned round = 0; round < 40; round++) {
                        size_t n = sizes[si];
                        unsigned distinct = round % 4 == 0 ? 2 : round % 4 == 1 ? 4 : round % 4 == 2 ? 64 : 65536;
                        uint16_t *ref = xmalloc(n * sizeof(uint16_t)), init = (uint16_t) rnd();
                        BlockStore s;

                        block_store_init(&s, n, init);
                        for (size_t b = 0; b < n; b++)
                                ref[b] = init;
                        check_same(&s, ref, n, true);
                        for (unsigned op = 0; op < 400; op++) {
                                uint16_t v = (uint16_t) (rnd_below(distinct) * 0x9e37u);
                                size_t b = rnd_below(n), len;

                                switch (rnd_below(4)) {
                                case 0: /* one block */
                                        block_store_set(&s, b, v);
                                        ref[b] = v;
                                        break;
                                case 1: /* a run, ascending (a residency pass, THP marks) */
                                        len = 1 + rnd_below(MIN(n - b, (size_t) 3 * CHUNK));
                                        for (size_t i = b; i < b + len; i++) {
                                                block_store_set(&s, i, v);
                                                ref[i] = v;
                                        }
                                        break;
                                case 2: /* a read-modify-write pass of the whole store (the sweep) */
                                        for (size_t i = 0; i < n; i++) {
                                                uint16_t x = block_store_get(&s, i);

                                                if ((x & 3u) == 1u)
                                                        x = (uint16_t) (x + 4u);
                                                block_store_set(&s, i, x);
                                                ref[i] = x;
                                                if (block_store_chunk_last(&s, i))
                                                        block_store_compact(&s, i / CHUNK);
                                        }
                                        break;
                                default: /* the whole store to one value, then some noise */
                                        for (size_t i = 0; i < n; i++) {
                                                block_store_set(&s, i, v);
                                                ref[i] = v;
                                        }
                                        check_same(&s, ref, n, true);
                                        check_u64(s.n_arrays, 0);
                                        break;
                                }
                                check_same(&s, ref, n, false);
                        }
                        compact_all(&s, n);
                        check_same(&s, ref, n, true);
                        block_store_done(&s);
                        free(ref);
                }
}

/* Alternating values everywhere: every chunk an array, memory 8 + 2 per block per chunk. */
static void test_worst_case(void) {
        size_t n = 4 * CHUNK + 3;
        BlockStore s;

        block_store_init(&s, n, 0);
        check_u64(block_store_memory_bytes(&s), 5 * sizeof(uintptr_t));
        for (size_t b = 0; b < n; b++)
                block_store_set(&s, b, (uint16_t) (b & 1 ? 0x0142 : 0x0001));
        for (size_t b = 0; b < n; b++)
                check_int(block_store_get(&s, b), b & 1 ? 0x0142 : 0x0001);
        check_u64(s.n_arrays, 5);
        check_u64(block_store_memory_bytes(&s), 5 * sizeof(uintptr_t) + n * sizeof(uint16_t));
        compact_all(&s, n);
        check_u64(s.n_arrays, 5);
        /* the odd blocks of chunk 1 back to the even ones' value: that chunk is one value again,
         * at the write of its last block */
        for (size_t b = CHUNK; b < 2 * CHUNK; b++)
                block_store_set(&s, b, 0x0001);
        check_u64(s.n_arrays, 4);
        check(s.chunk[1] & 1u);
        check_int(block_store_get(&s, CHUNK + 1), 0x0001);
        /* a chunk that agrees except in its last block stays an array */
        for (size_t b = 0; b + 1 < CHUNK; b++)
                block_store_set(&s, b, 0x0007);
        check(!(s.chunk[0] & 1u));
        block_store_set(&s, CHUNK - 1, 0x0007);
        check(s.chunk[0] & 1u);
        check_u64(s.n_arrays, 3);
        /* the short last chunk (3 blocks) */
        block_store_set(&s, n - 3, 0x0001);
        block_store_set(&s, n - 2, 0x0001);
        block_store_set(&s, n - 1, 0x0001);
        check(s.chunk[4] & 1u);
        check_u64(s.n_arrays, 2);
        block_store_done(&s);
        block_store_done(&s); /* harmless twice */
}

int main(void) {
        test_random();
        test_worst_case();
        printf("block store: random sequences and the worst case match a plain array\n");
        return 0;
}
