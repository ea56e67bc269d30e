/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The /proc/PID/idle_pages record stream (our kernel patch, kernel-patches/README.md), pure.
 *
 * A read() from file position P (a virtual address of process PID) returns a stream of one-byte
 * records, `(type << 4) | count`, describing consecutive pages starting at P:
 *
 *   type                 count covers    decoded as
 *   0  PTE_ACCESSED      count × 4 KiB   accessed, 4 KiB pages
 *   1  PMD_ACCESSED      count × 2 MiB   accessed, 2 MiB pages
 *   2  PUD_PRESENT       count × 1 GiB   accessed, 1 GiB pages (the kernel does not age PUD leaves:
 *                                        present counts as accessed, so nothing demotes them)
 *   3  PTE_DIRTY_M       count × 4 KiB   accessed + dirty, 4 KiB pages
 *   4  PMD_DIRTY_M       count × 2 MiB   accessed + dirty, 2 MiB pages
 *   5  PTE_IDLE          count × 4 KiB   idle, 4 KiB pages
 *   6  PMD_IDLE          count × 2 MiB   idle, 2 MiB pages
 *   7  PMD_IDLE_PTES     count × 2 MiB   idle, 4 KiB pages (a PTE table whose 512 entries are idle)
 *   8  PTE_HOLE          count × 4 KiB   hole (nothing mapped)
 *   9  PMD_HOLE          count × 2 MiB   hole
 *   10 PIP_CMD           —               command, count selects it:
 *        count 0 = SET_HVA: the next 8 bytes are a big-endian virtual address; the records that
 *        follow start there. It may only jump forward (or stay).
 *
 * count is 1..15 for page records. Everything else (types 11..15, count 0, commands other than
 * SET_HVA) is malformed.
 *
 * The decoder is a streaming state machine: feed it the buffers of consecutive read()s as they
 * come (a record, including the 8 address bytes of SET_HVA, may be split across buffers) and it
 * calls back with maximal runs: consecutive records of the same kind, page size and dirtiness
 * merge into one IdlePagesRun. A run is reported once the next different record (or the end) is
 * seen, so call idle_pages_decoder_finish() after the last buffer.
 *
 * Errors (sticky: once failed, every later call returns the same error):
 *   -EBADMSG  unknown type, count 0, unknown command, SET_HVA to an address not 4 KiB aligned
 *   -ERANGE   SET_HVA going backwards, or a run running past the top of the address space
 *   -ENODATA  the stream ended inside the 8 address bytes of SET_HVA (from _finish())
 *   anything the callback returned (< 0), which aborts the decode
 */

typedef enum IdlePagesType {
        IDLE_PAGES_PTE_ACCESSED = 0,
        IDLE_PAGES_PMD_ACCESSED = 1,
        IDLE_PAGES_PUD_PRESENT = 2,
        IDLE_PAGES_PTE_DIRTY_M = 3,
        IDLE_PAGES_PMD_DIRTY_M = 4,
        IDLE_PAGES_PTE_IDLE = 5,
        IDLE_PAGES_PMD_IDLE = 6,
        IDLE_PAGES_PMD_IDLE_PTES = 7,
        IDLE_PAGES_PTE_HOLE = 8,
        IDLE_PAGES_PMD_HOLE = 9,
        IDLE_PAGES_PIP_CMD = 10,
        _IDLE_PAGES_TYPE_MAX,
} IdlePagesType;

#define IDLE_PAGES_RECORD(type, count) ((uint8_t) (((unsigned) (type) << 4) | ((unsigned) (count) & 0xfu)))
#define IDLE_PAGES_CMD_SET_HVA IDLE_PAGES_RECORD(IDLE_PAGES_PIP_CMD, 0)
#define IDLE_PAGES_COUNT_MAX 15u
#define IDLE_PAGES_SET_HVA_BYTES 9u /* command byte + 8 address bytes */

#define IDLE_PAGES_PTE_SIZE (UINT64_C(1) << 12)
#define IDLE_PAGES_PMD_SIZE (UINT64_C(1) << 21)
#define IDLE_PAGES_PUD_SIZE (UINT64_C(1) << 30)

const char *idle_pages_type_to_string(IdlePagesType t);

typedef enum IdlePagesKind {
        IDLE_PAGES_KIND_ACCESSED,
        IDLE_PAGES_KIND_IDLE,
        IDLE_PAGES_KIND_HOLE,
        _IDLE_PAGES_KIND_MAX,
} IdlePagesKind;

const char *idle_pages_kind_to_string(IdlePagesKind k);

typedef struct IdlePagesRun {
        uint64_t start_hva;
        uint64_t len_bytes;         /* multiple of page_size_bytes, never 0 */
        IdlePagesKind kind;
        uint64_t page_size_bytes;   /* 4 KiB, 2 MiB or 1 GiB: the mapping granule of the run */
        bool dirty;                 /* only for accessed 4 KiB/2 MiB runs */
} IdlePagesRun;

static inline uint64_t idle_pages_run_end(const IdlePagesRun *r) {
        return r->start_hva + r->len_bytes;
}

/* Called once per run, in ascending address order. Return < 0 to stop the decode with that error. */
typedef int (*IdlePagesRunFunc)(const IdlePagesRun *run, void *userdata);

typedef struct IdlePagesDecoder {
        uint64_t cur_hva;          /* where the next page record starts */
        IdlePagesRun pending;      /* the run being merged, valid when has_pending */
        bool has_pending;
        uint8_t addr_bytes;        /* address bytes of a SET_HVA collected so far (0 = none pending) */
        bool in_set_hva;
        uint64_t addr;             /* partial SET_HVA address */
        int error;                 /* sticky */
        uint64_t n_records;        /* statistics: records decoded (SET_HVA counts as one) */
} IdlePagesDecoder;

/* start_hva is the file position the read started at. */
void idle_pages_decoder_init(IdlePagesDecoder *d, uint64_t start_hva);
int idle_pages_decoder_feed(IdlePagesDecoder *d, const void *buf, size_t size, IdlePagesRunFunc cb, void *userdata);
/* Flush the last run; -ENODATA if the stream stopped inside a SET_HVA address. */
int idle_pages_decoder_finish(IdlePagesDecoder *d, IdlePagesRunFunc cb, void *userdata);
/* Where the next record would start: after a short read, the position for the next pread(). */
static inline uint64_t idle_pages_decoder_position(const IdlePagesDecoder *d) {
        return d->cur_hva;
}

/* One shot: decode a whole buffer into a freshly allocated array of runs (NULL, 0 if empty). */
int idle_pages_decode(const void *buf, size_t size, uint64_t start_hva, IdlePagesRun **ret_runs, size_t *ret_n);

/*
 * Encoder, for tests, fixtures and benches (the kernel has its own). Runs added in ascending
 * order are merged when adjacent with equal attributes; a gap is encoded as SET_HVA. Idle 4 KiB
 * runs use PMD_IDLE_PTES for their 2 MiB-aligned parts. The raw calls write exactly the record
 * asked for (to craft streams, including malformed ones).
 */
typedef struct IdlePagesEncoder {
        uint8_t *buf;
        size_t size, allocated;
        uint64_t cur_hva;          /* end of what has been encoded */
        IdlePagesRun pending;
        bool has_pending;
} IdlePagesEncoder;

void idle_pages_encoder_init(IdlePagesEncoder *e, uint64_t start_hva);
/* Frees the buffer; the encoder can be init'ed again. */
void idle_pages_encoder_done(IdlePagesEncoder *e);
/*
 * -EINVAL: len 0 or not a multiple of the page size, unknown page size or kind, dirty on something
 *          other than an accessed 4 KiB/2 MiB run, start not 4 KiB aligned;
 * -ERANGE: the run starts below the end of the previous one, or wraps the address space.
 */
int idle_pages_encoder_add(IdlePagesEncoder *e, const IdlePagesRun *run);
/* Flushes, then hands over the buffer (ret_buf may be NULL for an empty stream); e is reset. */
int idle_pages_encoder_finish(IdlePagesEncoder *e, uint8_t **ret_buf, size_t *ret_size);
/* Raw records (flush merged runs first). */
void idle_pages_encoder_raw_byte(IdlePagesEncoder *e, uint8_t byte);
void idle_pages_encoder_raw_set_hva(IdlePagesEncoder *e, uint64_t hva);

/* Encode runs in one go. */
int idle_pages_encode(const IdlePagesRun *runs, size_t n, uint64_t start_hva, uint8_t **ret_buf, size_t *ret_size);
