/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vtism/idle-pages-format.h"
#include "vtism/macro.h"
#include "vtism/util.h"

#define K4 IDLE_PAGES_PTE_SIZE
#define M2 IDLE_PAGES_PMD_SIZE
#define G1 IDLE_PAGES_PUD_SIZE

static void check_run(const IdlePagesRun *r, uint64_t start, uint64_t len, IdlePagesKind kind, uint64_t page_size, bool dirty) {
        check_int(r->start_hva, start);
        check_int(r->len_bytes, len);
        check_int(r->kind, kind);
        check_int(r->page_size_bytes, page_size);
        check_int(r->dirty, dirty);
}

static void put_be64(uint8_t *p, uint64_t v) {
        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t) (v >> (56 - 8 * i));
}

static void test_every_type(void) {
        /* each page type with count 3, one after the other, starting at 1 GiB */
        uint8_t buf[10];
        _cleanup_free_ IdlePagesRun *runs = NULL;
        size_t n;
        uint64_t a = G1;

        for (unsigned t = 0; t < 10; t++)
                buf[t] = IDLE_PAGES_RECORD(t, 3);
        check_int(idle_pages_decode(buf, sizeof buf, G1, &runs, &n), 0);
        check_int(n, 10);
        check_run(&runs[0], a, 3 * K4, IDLE_PAGES_KIND_ACCESSED, K4, false), a += 3 * K4;
        check_run(&runs[1], a, 3 * M2, IDLE_PAGES_KIND_ACCESSED, M2, false), a += 3 * M2;
        check_run(&runs[2], a, 3 * G1, IDLE_PAGES_KIND_ACCESSED, G1, false), a += 3 * G1;
        check_run(&runs[3], a, 3 * K4, IDLE_PAGES_KIND_ACCESSED, K4, true), a += 3 * K4;
        check_run(&runs[4], a, 3 * M2, IDLE_PAGES_KIND_ACCESSED, M2, true), a += 3 * M2;
        check_run(&runs[5], a, 3 * K4, IDLE_PAGES_KIND_IDLE, K4, false), a += 3 * K4;
        check_run(&runs[6], a, 3 * M2, IDLE_PAGES_KIND_IDLE, M2, false), a += 3 * M2;
        check_run(&runs[7], a, 3 * M2, IDLE_PAGES_KIND_IDLE, K4, false), a += 3 * M2;
        check_run(&runs[8], a, 3 * K4, IDLE_PAGES_KIND_HOLE, K4, false), a += 3 * K4;
        check_run(&runs[9], a, 3 * M2, IDLE_PAGES_KIND_HOLE, M2, false), a += 3 * M2;

        for (unsigned t = 0; t < _IDLE_PAGES_TYPE_MAX; t++)
                check(idle_pages_type_to_string(t));
        check(!idle_pages_type_to_string(_IDLE_PAGES_TYPE_MAX));
        check(streq(idle_pages_kind_to_string(IDLE_PAGES_KIND_HOLE), "hole"));
        check(!idle_pages_kind_to_string(_IDLE_PAGES_KIND_MAX));
}

static void test_merge_and_jumps(void) {
        _cleanup_free_ IdlePagesRun *runs = NULL;
        uint8_t buf[64];
        size_t n, l = 0;

        /* 15 + 5 accessed PTEs merge; PTE_IDLE up to 2 MiB merges with PMD_IDLE_PTES */
        buf[l++] = IDLE_PAGES_RECORD(IDLE_PAGES_PTE_ACCESSED, 15);
        buf[l++] = IDLE_PAGES_RECORD(IDLE_PAGES_PTE_ACCESSED, 5);
        buf[l++] = IDLE_PAGES_RECORD(IDLE_PAGES_PTE_IDLE, 12);             /* 0x14000 .. 0x20000 */
        buf[l++] = IDLE_PAGES_CMD_SET_HVA;                                 /* no-op jump: still merges */
        put_be64(buf + l, 0x20000), l += 8;
        buf[l++] = IDLE_PAGES_RECORD(IDLE_PAGES_PTE_IDLE, 15);
        buf[l++] = IDLE_PAGES_CMD_SET_HVA;                                 /* real jump to 2 MiB */
        put_be64(buf + l, M2), l += 8;
        buf[l++] = IDLE_PAGES_RECORD(IDLE_PAGES_PTE_IDLE, 1);
        buf[l++] = IDLE_PAGES_CMD_SET_HVA;                                 /* jump to 4 MiB */
        put_be64(buf + l, 2 * M2), l += 8;
        buf[l++] = IDLE_PAGES_RECORD(IDLE_PAGES_PMD_IDLE_PTES, 2);
        buf[l++] = IDLE_PAGES_RECORD(IDLE_PAGES_PTE_IDLE, 1);
        buf[l++] = IDLE_PAGES_RECORD(IDLE_PAGES_PTE_DIRTY_M, 1);
        buf[l++] = IDLE_PAGES_RECORD(IDLE_PAGES_PTE_ACCESSED, 1);

        check_int(idle_pages_decode(buf, l, 0, &runs, &n), 0);
        check_int(n, 6);
        check_run(&runs[0], 0, 20 * K4, IDLE_PAGES_KIND_ACCESSED, K4, false);
        check_run(&runs[1], 20 * K4, 27 * K4, IDLE_PAGES_KIND_IDLE, K4, false);
        check_run(&runs[2], M2, K4, IDLE_PAGES_KIND_IDLE, K4, false);
        check_run(&runs[3], 2 * M2, 2 * M2 + K4, IDLE_PAGES_KIND_IDLE, K4, false);
        check_run(&runs[4], 4 * M2 + K4, K4, IDLE_PAGES_KIND_ACCESSED, K4, true);
        check_run(&runs[5], 4 * M2 + 2 * K4, K4, IDLE_PAGES_KIND_ACCESSED, K4, false);
}

static void test_empty(void) {
        IdlePagesRun *runs = (IdlePagesRun *) 1;
        size_t n = 99;

        check_int(idle_pages_decode("", 0, 0x1000, &runs, &n), 0);
        check(!runs);
        check_int(n, 0);
}

static int expect_error(const uint8_t *buf, size_t l, uint64_t start) {
        IdlePagesRun *runs = NULL;
        size_t n = 7;
        int r;

        r = idle_pages_decode(buf, l, start, &runs, &n);
        check(r < 0);
        check(!runs); /* outputs untouched on failure */
        check_int(n, 7);
        return r;
}

static void test_errors(void) {
        uint8_t buf[32];

        for (unsigned t = _IDLE_PAGES_TYPE_MAX; t < 16; t++) {
                buf[0] = IDLE_PAGES_RECORD(IDLE_PAGES_PTE_ACCESSED, 1);
                buf[1] = IDLE_PAGES_RECORD(t, 1);
                check_int(expect_error(buf, 2, 0), -EBADMSG);
        }
        for (unsigned t = 0; t < IDLE_PAGES_PIP_CMD; t++) {
                buf[0] = IDLE_PAGES_RECORD(t, 0);
                check_int(expect_error(buf, 1, 0), -EBADMSG);
        }
        for (unsigned c = 1; c < 16; c++) {
                buf[0] = IDLE_PAGES_RECORD(IDLE_PAGES_PIP_CMD, c);
                check_int(expect_error(buf, 1, 0), -EBADMSG);
        }

        /* truncated address, at every length 0..7 */
        for (size_t k = 0; k < 8; k++) {
                buf[0] = IDLE_PAGES_CMD_SET_HVA;
                put_be64(buf + 1, 0x10000);
                check_int(expect_error(buf, 1 + k, 0), -ENODATA);
        }

        /* backwards */
        buf[0] = IDLE_PAGES_RECORD(IDLE_PAGES_PTE_ACCESSED, 4);
        buf[1] = IDLE_PAGES_CMD_SET_HVA;
        put_be64(buf + 2, 0x10000 + 3 * K4);
        check_int(expect_error(buf, 10, 0x10000), -ERANGE);
        /* ... but staying put is fine */
        put_be64(buf + 2, 0x10000 + 4 * K4);
        {
                _cleanup_free_ IdlePagesRun *runs = NULL;
                size_t n;
                check_int(idle_pages_decode(buf, 10, 0x10000, &runs, &n), 0);
                check_int(n, 1);
        }

        /* unaligned jump */
        buf[0] = IDLE_PAGES_CMD_SET_HVA;
        put_be64(buf + 1, 0x10001);
        check_int(expect_error(buf, 9, 0), -EBADMSG);

        /* overflow: a run reaching 2^64 */
        buf[0] = IDLE_PAGES_CMD_SET_HVA;
        put_be64(buf + 1, UINT64_MAX - 2 * M2 + 1);
        buf[9] = IDLE_PAGES_RECORD(IDLE_PAGES_PMD_ACCESSED, 1);
        buf[10] = IDLE_PAGES_RECORD(IDLE_PAGES_PMD_ACCESSED, 1);
        check_int(expect_error(buf, 11, 0), -ERANGE);
        {
                _cleanup_free_ IdlePagesRun *runs = NULL;
                size_t n;
                /* one 2 MiB page below the top still fits */
                check_int(idle_pages_decode(buf, 10, 0, &runs, &n), 0);
                check_int(n, 1);
                check_int(idle_pages_run_end(&runs[0]), UINT64_MAX - M2 + 1);
        }
        buf[0] = IDLE_PAGES_RECORD(IDLE_PAGES_PUD_PRESENT, 15);
        check_int(expect_error(buf, 1, UINT64_MAX - 14 * G1 - K4 + 1), -ERANGE);
}

static int fail(const IdlePagesRun *run, void *userdata) {
        (*(int *) userdata)++;
        return -ENOSPC;
}

static void test_sticky_and_callback_error(void) {
        IdlePagesDecoder d;
        uint8_t bad = 0xb1, good = IDLE_PAGES_RECORD(IDLE_PAGES_PTE_ACCESSED, 1);
        uint8_t two[2] = { IDLE_PAGES_RECORD(IDLE_PAGES_PTE_ACCESSED, 1), IDLE_PAGES_RECORD(IDLE_PAGES_PTE_IDLE, 1) };

        idle_pages_decoder_init(&d, 0);
        check_int(idle_pages_decoder_feed(&d, &good, 1, NULL, NULL), 0);
        check_int(idle_pages_decoder_feed(&d, &bad, 1, NULL, NULL), -EBADMSG);
        check_int(idle_pages_decoder_feed(&d, &good, 1, NULL, NULL), -EBADMSG);
        check_int(idle_pages_decoder_finish(&d, NULL, NULL), -EBADMSG);

        int calls = 0;
        idle_pages_decoder_init(&d, 0);
        check_int(idle_pages_decoder_feed(&d, two, 2, fail, &calls), -ENOSPC);
        check_int(calls, 1);
        check_int(idle_pages_decoder_finish(&d, fail, &calls), -ENOSPC);
        check_int(calls, 1);

        calls = 0;
        idle_pages_decoder_init(&d, 0);
        check_int(idle_pages_decoder_feed(&d, two, 1, fail, &calls), 0); /* pending, not yet reported */
        check_int(calls, 0);
        check_int(idle_pages_decoder_position(&d), K4);
        check_int(idle_pages_decoder_finish(&d, fail, &calls), -ENOSPC);
        check_int(calls, 1);
}

/* A deterministic pseudo-random sequence of valid, maximal runs. */
static uint64_t lcg_state = 0x9e3779b97f4a7c15ULL;
static uint64_t lcg(void) {
        lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
        return lcg_state >> 33;
}

static size_t make_runs(IdlePagesRun *runs, size_t max, uint64_t start) {
        uint64_t a = start;
        size_t n = 0;

        while (n < max) {
                IdlePagesRun r = {};
                uint64_t sizes[3] = { K4, M2, G1 };

                r.kind = lcg() % 3;
                r.page_size_bytes = sizes[lcg() % 10 == 0 ? 2 : lcg() % 2];
                if (r.page_size_bytes == G1)
                        r.kind = IDLE_PAGES_KIND_ACCESSED;
                r.dirty = r.kind == IDLE_PAGES_KIND_ACCESSED && r.page_size_bytes != G1 && lcg() % 2;
                if (lcg() % 4 == 0) /* a gap */
                        a += (1 + lcg() % 1000) * K4;
                if (r.page_size_bytes > K4 && lcg() % 2) /* align now and then */
                        a = (a + r.page_size_bytes - 1) & ~(r.page_size_bytes - 1);
                r.start_hva = a;
                r.len_bytes = (1 + lcg() % (r.page_size_bytes == G1 ? 3 : 700)) * r.page_size_bytes;
                if (n > 0 && idle_pages_run_end(&runs[n - 1]) == a &&
                    runs[n - 1].kind == r.kind && runs[n - 1].page_size_bytes == r.page_size_bytes &&
                    runs[n - 1].dirty == r.dirty)
                        continue; /* would merge: not maximal */
                runs[n++] = r;
                a += r.len_bytes;
        }
        return n;
}

typedef struct Collect {
        IdlePagesRun runs[512];
        size_t n;
} Collect;

static int collect(const IdlePagesRun *run, void *userdata) {
        Collect *c = userdata;

        check(c->n < ELEMENTSOF(c->runs));
        c->runs[c->n++] = *run;
        return 0;
}

static void test_round_trip_and_split_buffers(void) {
        static IdlePagesRun runs[300];
        static Collect c;
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_free_ IdlePagesRun *out = NULL;
        size_t n, size, n_out;
        uint64_t start = 0x7f0000000000ULL;

        n = make_runs(runs, ELEMENTSOF(runs), start);
        check_int(idle_pages_encode(runs, n, start, &buf, &size), 0);
        check(size > n);

        check_int(idle_pages_decode(buf, size, start, &out, &n_out), 0);
        check_int(n_out, n);
        for (size_t i = 0; i < n; i++)
                check_run(&out[i], runs[i].start_hva, runs[i].len_bytes, runs[i].kind, runs[i].page_size_bytes, runs[i].dirty);

        /* byte by byte, and split at every position into two reads */
        for (size_t step = 1; step <= 13; step += 3) {
                IdlePagesDecoder d;

                c.n = 0;
                idle_pages_decoder_init(&d, start);
                for (size_t i = 0; i < size; i += step)
                        check_int(idle_pages_decoder_feed(&d, buf + i, MIN(step, size - i), collect, &c), 0);
                check_int(idle_pages_decoder_finish(&d, collect, &c), 0);
                check_int(c.n, n);
                for (size_t i = 0; i < n; i++) /* field by field: padding bytes differ */
                        check_run(&c.runs[i], out[i].start_hva, out[i].len_bytes, out[i].kind, out[i].page_size_bytes, out[i].dirty);
        }
        for (size_t cut = 0; cut <= size; cut++) {
                IdlePagesDecoder d;

                c.n = 0;
                idle_pages_decoder_init(&d, start);
                check_int(idle_pages_decoder_feed(&d, buf, cut, collect, &c), 0);
                check_int(idle_pages_decoder_feed(&d, buf + cut, size - cut, collect, &c), 0);
                check_int(idle_pages_decoder_finish(&d, collect, &c), 0);
                check_int(c.n, n);
                for (size_t i = 0; i < n; i++) /* field by field: padding bytes differ */
                        check_run(&c.runs[i], out[i].start_hva, out[i].len_bytes, out[i].kind, out[i].page_size_bytes, out[i].dirty);
        }
}

static void test_encoder(void) {
        IdlePagesEncoder e;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size;
        IdlePagesRun r;

        /* idle 4 KiB run from 4 KiB to 6 MiB: 511 PTEs = 34×15 + 1, then PMD_IDLE_PTES×2 */
        r = (IdlePagesRun) { .start_hva = K4, .len_bytes = 3 * M2 - K4, .kind = IDLE_PAGES_KIND_IDLE, .page_size_bytes = K4 };
        idle_pages_encoder_init(&e, 0);
        check_int(idle_pages_encoder_add(&e, &r), 0);
        check_int(idle_pages_encoder_finish(&e, &buf, &size), 0);
        check_int(size, 9 + 35 + 1);
        check_int(buf[0], IDLE_PAGES_CMD_SET_HVA);
        check_int(buf[7], 0x10);
        check_int(buf[8], 0x00);
        check_int(buf[9], IDLE_PAGES_RECORD(IDLE_PAGES_PTE_IDLE, 15));
        check_int(buf[9 + 34], IDLE_PAGES_RECORD(IDLE_PAGES_PTE_IDLE, 1));
        check_int(buf[9 + 35], IDLE_PAGES_RECORD(IDLE_PAGES_PMD_IDLE_PTES, 2));
        free(buf), buf = NULL;

        /* adjacent equal runs merge: 10 + 10 PMDs = 15 + 5 */
        idle_pages_encoder_init(&e, 0);
        r = (IdlePagesRun) { .start_hva = 0, .len_bytes = 10 * M2, .kind = IDLE_PAGES_KIND_ACCESSED, .page_size_bytes = M2 };
        check_int(idle_pages_encoder_add(&e, &r), 0);
        r.start_hva = 10 * M2;
        check_int(idle_pages_encoder_add(&e, &r), 0);
        check_int(idle_pages_encoder_finish(&e, &buf, &size), 0);
        check_int(size, 2);
        check_int(buf[0], IDLE_PAGES_RECORD(IDLE_PAGES_PMD_ACCESSED, 15));
        check_int(buf[1], IDLE_PAGES_RECORD(IDLE_PAGES_PMD_ACCESSED, 5));
        free(buf), buf = NULL;

        /* invalid runs */
        idle_pages_encoder_init(&e, 0x100000);
        r = (IdlePagesRun) { .start_hva = 0x100000, .len_bytes = 0, .kind = IDLE_PAGES_KIND_IDLE, .page_size_bytes = K4 };
        check_int(idle_pages_encoder_add(&e, &r), -EINVAL);
        r.len_bytes = K4 + 1;
        check_int(idle_pages_encoder_add(&e, &r), -EINVAL);
        r.len_bytes = K4, r.page_size_bytes = 8192;
        check_int(idle_pages_encoder_add(&e, &r), -EINVAL);
        r.page_size_bytes = K4, r.dirty = true;
        check_int(idle_pages_encoder_add(&e, &r), -EINVAL);
        r.kind = IDLE_PAGES_KIND_ACCESSED, r.page_size_bytes = G1, r.len_bytes = G1;
        check_int(idle_pages_encoder_add(&e, &r), -EINVAL);
        r.kind = IDLE_PAGES_KIND_HOLE, r.dirty = false;
        check_int(idle_pages_encoder_add(&e, &r), -EINVAL);
        r.kind = _IDLE_PAGES_KIND_MAX, r.page_size_bytes = K4, r.len_bytes = K4;
        check_int(idle_pages_encoder_add(&e, &r), -EINVAL);
        r.kind = IDLE_PAGES_KIND_IDLE, r.start_hva = 0x100800;
        check_int(idle_pages_encoder_add(&e, &r), -EINVAL);
        r.start_hva = 0xff000; /* below the start */
        check_int(idle_pages_encoder_add(&e, &r), -ERANGE);
        r.start_hva = UINT64_MAX - K4 + 1; /* ends at 2^64 */
        check_int(idle_pages_encoder_add(&e, &r), -ERANGE);
        r.start_hva = 0x200000;
        check_int(idle_pages_encoder_add(&e, &r), 0);
        r.start_hva = 0x1ff000; /* backwards after a run */
        check_int(idle_pages_encoder_add(&e, &r), -ERANGE);
        idle_pages_encoder_done(&e);

        /* raw records, including a malformed one */
        idle_pages_encoder_init(&e, 0);
        idle_pages_encoder_raw_byte(&e, IDLE_PAGES_RECORD(IDLE_PAGES_PTE_HOLE, 2));
        idle_pages_encoder_raw_set_hva(&e, 0x123456789000ULL);
        idle_pages_encoder_raw_byte(&e, IDLE_PAGES_RECORD(IDLE_PAGES_PMD_HOLE, 0));
        check_int(idle_pages_encoder_finish(&e, &buf, &size), 0);
        check_int(size, 11);
        check_int(buf[1], IDLE_PAGES_CMD_SET_HVA);
        check_int(buf[2], 0x00);
        check_int(buf[3], 0x00);
        check_int(buf[4], 0x12);
        check_int(buf[8], 0x90);
        check_int(buf[9], 0x00);
        check_int(expect_error(buf, size, 0), -EBADMSG);
}

int main(void) {
        test_every_type();
        test_merge_and_jumps();
        test_empty();
        test_errors();
        test_sticky_and_callback_error();
        test_round_trip_and_split_buffers();
        test_encoder();
        printf("test-idle-pages-format: OK\n");
        return 0;
}
