/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vtism/macro.h"

/*
 * /proc/PID/maps, parsed. Each line is
 *
 *     START-END PERMS OFFSET MAJOR:MINOR INODE [padding] [PATH]
 *
 * PATH is everything after the padding up to the end of the line, kept byte for byte (spaces
 * included, trailing ones too) except that a trailing " (deleted)" is removed and reported in
 * `deleted`. The kernel escapes only '\n' in paths (as "\012"); that is left as it is. A path can
 * never start with a space (d_path() starts with '/', special names with '[' or a word), so
 * skipping the padding is unambiguous.
 *
 * kind is a classification from the text alone:
 *   no path                      → ANON
 *   [heap]                       → HEAP;  [stack], [stack:TID] → STACK
 *   [anon:NAME] (prctl name)     → ANON;  [anon_shmem:NAME] → SHM
 *   other [...] (vdso, vvar, ...) → SPECIAL
 *   /memfd:NAME                  → MEMFD (QEMU memory-backend-memfd shows "/memfd:memory-backend-memfd (deleted)")
 *   /anon_hugepage               → HUGETLBFS (MAP_HUGETLB anonymous memory)
 *   /SYSV%08x, /dev/shm/..., /dev/zero (shared anonymous) → SHM
 *   a path with a component "hugepages*", "hugetlbfs*" or "huge" (/dev/hugepages/...,
 *   /mnt/huge/...) → HUGETLBFS: a heuristic; the caller can refine with smaps' KernelPageSize
 *   other paths                  → FILE
 */

typedef enum MappingKind {
        MAPPING_ANON,
        MAPPING_FILE,
        MAPPING_MEMFD,
        MAPPING_HUGETLBFS,
        MAPPING_SHM,
        MAPPING_HEAP,
        MAPPING_STACK,
        MAPPING_SPECIAL,
        _MAPPING_KIND_MAX,
        _MAPPING_KIND_INVALID = -22,
} MappingKind;

const char *mapping_kind_to_string(MappingKind k);
MappingKind mapping_kind_from_string(const char *s);

typedef struct ProcMapping {
        uint64_t start_hva;
        uint64_t end_hva;           /* exclusive */
        bool read, write, exec, shared;  /* shared: 's' (MAP_SHARED), else private 'p' */
        uint64_t offset_bytes;
        unsigned dev_major, dev_minor;
        uint64_t inode;
        char *path;                 /* NULL when the line has none */
        bool deleted;               /* " (deleted)" was stripped from path */
        MappingKind kind;
} ProcMapping;

static inline uint64_t proc_mapping_len(const ProcMapping *m) {
        return m->end_hva - m->start_hva;
}

typedef struct ProcMaps {
        ProcMapping *mappings;      /* in file order (ascending addresses) */
        size_t n;
} ProcMaps;

ProcMaps *procmaps_free(ProcMaps *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(ProcMaps *, procmaps_free);

/*
 * Parse maps text. -EBADMSG for a malformed line, or one not above the previous mapping (ret_error_line, if not NULL, gets its 1-based
 * number; untouched on success); empty text gives an empty ProcMaps. NUL ends the text.
 */
int procmaps_parse_string(const char *text, ProcMaps **ret, unsigned *ret_error_line);
/* Read ROOT/proc/PID/maps (root NULL or "" = "/"). -ENOENT/-ESRCH when the process is gone. */
int procmaps_read(const char *root, pid_t pid, ProcMaps **ret);

/* The mapping containing hva, or NULL (binary search). */
const ProcMapping *procmaps_find(const ProcMaps *m, uint64_t hva);
