/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "vtism/macro.h"

/* Small string and file helpers shared by core and daemon. All return 0/-errno. */

/* Read a whole (small) file below root, e.g. read_file_at("/sys", "devices/system/node/online"). */
int read_file_at(const char *root, const char *path, char **ret_contents);
/* Same, and the size read (the buffer is NUL-terminated after it; contents may hold NULs). */
int read_file_at_size(const char *root, const char *path, char **ret_contents, size_t *ret_size);
/* Same, but -EFBIG as soon as the file turns out longer than max_bytes (read_file_at_size(): 64 MiB). */
int read_file_at_max(const char *root, const char *path, size_t max_bytes, char **ret_contents, size_t *ret_size);
/* Same, stripping trailing whitespace. */
int read_line_at(const char *root, const char *path, char **ret_line);

/* pread() size bytes at offset, on EINTR again; what lies past the end of the file reads as zeros
 * (an exited process' pagemap reads empty). ret_done (may be NULL): the bytes the file had. */
int pread_full(int fd, void *buf, size_t size, uint64_t offset, size_t *ret_done);

/* Parse a kernel cpulist/nodelist ("0-3,8,10-11") into a sorted, deduplicated array. */
int parse_int_list(const char *s, int **ret_list, size_t *ret_n);
/* Format a sorted list back into the compact "0-3,8" form (never NULL; "" for empty). */
char *format_int_list(const int *list, size_t n);

/* Whether list (any order) holds v. */
bool int_list_contains(const int *list, size_t n, int v);

/* Join a list in its given order, e.g. demotion targets "2 3" (never NULL; "" for empty). */
char *join_int_list(const int *list, size_t n, const char *separator);

int safe_atou64(const char *s, uint64_t *ret);
/* A sysfs number below root: decimal, or hexadecimal with a 0x prefix ("0x10000000"). */
int read_u64_at(const char *root, const char *path, uint64_t *ret);
int safe_atoi(const char *s, int *ret);

/* Parse "4G", "512M", "1048576", "2T" (binary units, optional "iB"/"B" suffix). */
int parse_size(const char *s, uint64_t *ret_bytes);
/* The same with suffixes B, K, M, G, T, P, E (powers of 1024), and default_unit without one. */
int parse_size_unit(const char *s, uint64_t default_unit, uint64_t *ret_bytes);
/* Format bytes as "1.5 GiB"; buf must hold FORMAT_BYTES_MAX. */
#define FORMAT_BYTES_MAX 16
char *format_bytes(char *buf, size_t len, uint64_t bytes);

/* Append to the malloc'ed string *s (NULL counts as ""); returns the new *s. */
_printf_(2, 3) char *strextendf(char **s, const char *fmt, ...);

bool streq_ptr(const char *a, const char *b);
/* A 64-bit hash of s (FNV-1a, its top bits folded in), of s in lower case if nocase (ASCII). */
uint64_t string_hash(const char *s, bool nocase);
static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

/* clock_gettime(clock) in microseconds. */
usec_t clock_now_usec(clockid_t clock);
