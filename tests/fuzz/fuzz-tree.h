/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * For harnesses of readers that take a root directory (sysfs, proc): the fuzz input becomes the
 * files of a tree below fuzz_tree_root(). The input is split at NUL bytes into fields, each the
 * contents of one file of a fixed list (a "slot"); a field "-" (or a missing one) means the file
 * does not exist.
 *
 * The tree lives in memory (fuzz-tree.c): the harness is linked with --wrap for open64, read,
 * write, close, access, opendir, readdir64, closedir and fopen64 (fuzz_tree_wrap in
 * tests/fuzz/meson.build), and paths below the root are served from memory, everything else
 * passes through.
 * A real scratch directory made a DAMON execution ~0.6 ms of system time; in memory it is a few
 * microseconds, so that a long run of 10 M executions takes minutes, not a day.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FUZZ_FIELDS_MAX 64

typedef struct FuzzFields {
        char *copy;                         /* the input, NUL-terminated fields */
        const char *field[FUZZ_FIELDS_MAX];
        size_t n;
} FuzzFields;

/* Split into at most FUZZ_FIELDS_MAX fields; the last one takes the rest of the input. */
void fuzz_fields_split(FuzzFields *f, const uint8_t *data, size_t size);
void fuzz_fields_done(FuzzFields *f);
/* Field i, or NULL if absent ("-" or past the end). */
const char *fuzz_field(const FuzzFields *f, size_t i);

/* The tree's root, "/vtism-fuzz-tree": not a real directory. */
const char *fuzz_tree_root(void);
/* How many times a file below the root was opened for writing, so far. */
unsigned long fuzz_tree_writes(void);
/* Empty the tree (call first for every input: no state carries over). */
void fuzz_tree_reset(void);
/* Write ROOT/rel (parents created), or remove it when contents is NULL. */
void fuzz_tree_put(const char *rel, const char *contents);
/* Create (with its parents) or remove (with everything below) the directory ROOT/rel. */
void fuzz_tree_dir(const char *rel, bool present);
