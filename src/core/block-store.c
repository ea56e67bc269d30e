/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdlib.h>

#include "block-store.h"
#include "vtism/macro.h"

static size_t n_chunks(const BlockStore *s) {
        return DIV_ROUND_UP(s->n_blocks, (size_t) BLOCK_STORE_CHUNK);
}

/* Blocks in chunk index: BLOCK_STORE_CHUNK but for the last chunk. */
static size_t chunk_len(const BlockStore *s, size_t index) {
        return MIN((size_t) BLOCK_STORE_CHUNK, s->n_blocks - (index << BLOCK_STORE_CHUNK_SHIFT));
}

static uintptr_t uniform(uint16_t value) {
        return ((uintptr_t) value << 1) | 1u;
}

void block_store_init(BlockStore *s, size_t n_blocks, uint16_t value) {
        *s = (BlockStore) { .n_blocks = n_blocks };
        s->chunk = xcalloc(n_chunks(s), sizeof(uintptr_t));
        for (size_t i = 0; i < n_chunks(s); i++)
                s->chunk[i] = uniform(value);
}

void block_store_done(BlockStore *s) {
        if (!s->chunk)
                return;
        for (size_t i = 0; i < n_chunks(s); i++)
                if (!(s->chunk[i] & 1u))
                        free((void *) s->chunk[i]);
        free(s->chunk);
        *s = (BlockStore) {};
}

void block_store_compact(BlockStore *s, size_t index) {
        const uint16_t *a;
        size_t n;

        if (s->chunk[index] & 1u)
                return;
        a = (const uint16_t *) s->chunk[index];
        n = chunk_len(s, index);
        for (size_t i = 1; i < n; i++)
                if (a[i] != a[0])
                        return;
        s->chunk[index] = uniform(a[0]);
        free((void *) a);
        s->n_arrays--;
}

bool block_store_chunk_last(const BlockStore *s, size_t b) {
        return (b & (BLOCK_STORE_CHUNK - 1)) == BLOCK_STORE_CHUNK - 1 || b + 1 == s->n_blocks;
}

void block_store_set(BlockStore *s, size_t b, uint16_t value) {
        size_t index = b >> BLOCK_STORE_CHUNK_SHIFT;
        uintptr_t c = s->chunk[index];
        uint16_t *a;

        if (c & 1u) {
                uint16_t old = (uint16_t) (c >> 1);
                size_t n;

                if (old == value)
                        return;
                n = chunk_len(s, index);
                a = xmalloc(n * sizeof(uint16_t));
                for (size_t i = 0; i < n; i++)
                        a[i] = old;
                s->chunk[index] = (uintptr_t) a;
                s->n_arrays++;
        } else
                a = (uint16_t *) c;
        a[b & (BLOCK_STORE_CHUNK - 1)] = value;
        if (block_store_chunk_last(s, b))
                block_store_compact(s, index);
}

uint64_t block_store_memory_bytes(const BlockStore *s) {
        uint64_t m = (uint64_t) n_chunks(s) * sizeof(uintptr_t);

        for (size_t i = 0; i < n_chunks(s); i++)
                if (!(s->chunk[i] & 1u))
                        m += chunk_len(s, i) * sizeof(uint16_t);
        return m;
}
