/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>

#include "vtism/idle-pages-format.h"
#include "vtism/macro.h"

typedef struct TypeInfo {
        const char *name;
        IdlePagesKind kind;
        uint64_t unit_bytes;      /* what one count covers */
        uint64_t page_size_bytes; /* granule reported in the run */
        bool dirty;
} TypeInfo;

static const TypeInfo type_info[_IDLE_PAGES_TYPE_MAX] = {
        [IDLE_PAGES_PTE_ACCESSED] = { "pte-accessed", IDLE_PAGES_KIND_ACCESSED, IDLE_PAGES_PTE_SIZE, IDLE_PAGES_PTE_SIZE, false },
        [IDLE_PAGES_PMD_ACCESSED] = { "pmd-accessed", IDLE_PAGES_KIND_ACCESSED, IDLE_PAGES_PMD_SIZE, IDLE_PAGES_PMD_SIZE, false },
        [IDLE_PAGES_PUD_PRESENT] = { "pud-present", IDLE_PAGES_KIND_ACCESSED, IDLE_PAGES_PUD_SIZE, IDLE_PAGES_PUD_SIZE, false },
        [IDLE_PAGES_PTE_DIRTY_M] = { "pte-dirty", IDLE_PAGES_KIND_ACCESSED, IDLE_PAGES_PTE_SIZE, IDLE_PAGES_PTE_SIZE, true },
        [IDLE_PAGES_PMD_DIRTY_M] = { "pmd-dirty", IDLE_PAGES_KIND_ACCESSED, IDLE_PAGES_PMD_SIZE, IDLE_PAGES_PMD_SIZE, true },
        [IDLE_PAGES_PTE_IDLE] = { "pte-idle", IDLE_PAGES_KIND_IDLE, IDLE_PAGES_PTE_SIZE, IDLE_PAGES_PTE_SIZE, false },
        [IDLE_PAGES_PMD_IDLE] = { "pmd-idle", IDLE_PAGES_KIND_IDLE, IDLE_PAGES_PMD_SIZE, IDLE_PAGES_PMD_SIZE, false },
        [IDLE_PAGES_PMD_IDLE_PTES] = { "pmd-idle-ptes", IDLE_PAGES_KIND_IDLE, IDLE_PAGES_PMD_SIZE, IDLE_PAGES_PTE_SIZE, false },
        [IDLE_PAGES_PTE_HOLE] = { "pte-hole", IDLE_PAGES_KIND_HOLE, IDLE_PAGES_PTE_SIZE, IDLE_PAGES_PTE_SIZE, false },
        [IDLE_PAGES_PMD_HOLE] = { "pmd-hole", IDLE_PAGES_KIND_HOLE, IDLE_PAGES_PMD_SIZE, IDLE_PAGES_PMD_SIZE, false },
        [IDLE_PAGES_PIP_CMD] = { "pip-cmd", _IDLE_PAGES_KIND_MAX, 0, 0, false },
};
assert_cc(ELEMENTSOF(type_info) == _IDLE_PAGES_TYPE_MAX);

static const char *const kind_names[_IDLE_PAGES_KIND_MAX] = {
        [IDLE_PAGES_KIND_ACCESSED] = "accessed",
        [IDLE_PAGES_KIND_IDLE] = "idle",
        [IDLE_PAGES_KIND_HOLE] = "hole",
};
assert_cc(ELEMENTSOF(kind_names) == _IDLE_PAGES_KIND_MAX);

const char *idle_pages_type_to_string(IdlePagesType t) {
        if ((unsigned) t >= _IDLE_PAGES_TYPE_MAX)
                return NULL;
        return type_info[t].name;
}

const char *idle_pages_kind_to_string(IdlePagesKind k) {
        if ((unsigned) k >= _IDLE_PAGES_KIND_MAX)
                return NULL;
        return kind_names[k];
}

static bool run_mergeable(const IdlePagesRun *a, const IdlePagesRun *b) {
        return a->kind == b->kind &&
                a->page_size_bytes == b->page_size_bytes &&
                a->dirty == b->dirty &&
                idle_pages_run_end(a) == b->start_hva;
}

/* ---- decoder ---- */

void idle_pages_decoder_init(IdlePagesDecoder *d, uint64_t start_hva) {
        *d = (IdlePagesDecoder) {
                .cur_hva = start_hva,
        };
}

static int decoder_fail(IdlePagesDecoder *d, int error) {
        d->error = error;
        return error;
}

static int decoder_flush(IdlePagesDecoder *d, IdlePagesRunFunc cb, void *userdata) {
        int r;

        if (!d->has_pending)
                return 0;
        d->has_pending = false;
        if (!cb)
                return 0;
        r = cb(&d->pending, userdata);
        if (r < 0)
                return decoder_fail(d, r);
        return 0;
}

static int decoder_page_record(IdlePagesDecoder *d, uint8_t byte, IdlePagesRunFunc cb, void *userdata) {
        unsigned type = byte >> 4, count = byte & 0xfu;
        const TypeInfo *ti;
        IdlePagesRun run;
        uint64_t len;
        int r;

        ti = &type_info[type];
        if (count == 0)
                return decoder_fail(d, -EBADMSG);

        len = ti->unit_bytes * count;
        /* the run must end at or below 2^64 - 1: an end of exactly 2^64 is not representable */
        if (d->cur_hva > UINT64_MAX - len)
                return decoder_fail(d, -ERANGE);

        run = (IdlePagesRun) {
                .start_hva = d->cur_hva,
                .len_bytes = len,
                .kind = ti->kind,
                .page_size_bytes = ti->page_size_bytes,
                .dirty = ti->dirty,
        };
        d->cur_hva += len;

        if (d->has_pending && run_mergeable(&d->pending, &run)) {
                d->pending.len_bytes += len;
                return 0;
        }
        r = decoder_flush(d, cb, userdata);
        if (r < 0)
                return r;
        d->pending = run;
        d->has_pending = true;
        return 0;
}

int idle_pages_decoder_feed(IdlePagesDecoder *d, const void *buf, size_t size, IdlePagesRunFunc cb, void *userdata) {
        const uint8_t *p = buf;
        int r;

        if (d->error < 0)
                return d->error;

        for (size_t i = 0; i < size; i++) {
                uint8_t byte = p[i];

                if (d->in_set_hva) {
                        d->addr = (d->addr << 8) | byte;
                        if (++d->addr_bytes < 8)
                                continue;
                        d->in_set_hva = false;
                        d->addr_bytes = 0;
                        if (d->addr & (IDLE_PAGES_PTE_SIZE - 1))
                                return decoder_fail(d, -EBADMSG);
                        if (d->addr < d->cur_hva)
                                return decoder_fail(d, -ERANGE);
                        /* a jump ends the run being merged unless it is a no-op */
                        if (d->addr != d->cur_hva) {
                                r = decoder_flush(d, cb, userdata);
                                if (r < 0)
                                        return r;
                        }
                        d->cur_hva = d->addr;
                        continue;
                }

                d->n_records++;
                if ((byte >> 4) >= _IDLE_PAGES_TYPE_MAX)
                        return decoder_fail(d, -EBADMSG);
                if ((byte >> 4) == IDLE_PAGES_PIP_CMD) {
                        if (byte != IDLE_PAGES_CMD_SET_HVA)
                                return decoder_fail(d, -EBADMSG);
                        d->in_set_hva = true;
                        d->addr_bytes = 0;
                        d->addr = 0;
                        continue;
                }
                r = decoder_page_record(d, byte, cb, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

int idle_pages_decoder_finish(IdlePagesDecoder *d, IdlePagesRunFunc cb, void *userdata) {
        if (d->error < 0)
                return d->error;
        if (d->in_set_hva)
                return decoder_fail(d, -ENODATA);
        return decoder_flush(d, cb, userdata);
}

typedef struct RunVec {
        IdlePagesRun *runs;
        size_t n, allocated;
} RunVec;

static int runvec_push(const IdlePagesRun *run, void *userdata) {
        RunVec *v = userdata;

        if (v->n >= v->allocated) {
                v->allocated = MAX(v->allocated * 2, (size_t) 16);
                v->runs = xreallocarray(v->runs, v->allocated, sizeof(IdlePagesRun));
        }
        v->runs[v->n++] = *run;
        return 0;
}

int idle_pages_decode(const void *buf, size_t size, uint64_t start_hva, IdlePagesRun **ret_runs, size_t *ret_n) {
        IdlePagesDecoder d;
        RunVec v = {};
        int r;

        idle_pages_decoder_init(&d, start_hva);
        r = idle_pages_decoder_feed(&d, buf, size, runvec_push, &v);
        if (r >= 0)
                r = idle_pages_decoder_finish(&d, runvec_push, &v);
        if (r < 0) {
                free(v.runs);
                return r;
        }
        *ret_runs = v.runs;
        *ret_n = v.n;
        return 0;
}

/* ---- encoder ---- */

void idle_pages_encoder_init(IdlePagesEncoder *e, uint64_t start_hva) {
        *e = (IdlePagesEncoder) {
                .cur_hva = start_hva,
        };
}

void idle_pages_encoder_done(IdlePagesEncoder *e) {
        free(e->buf);
        *e = (IdlePagesEncoder) {};
}

static void encoder_put(IdlePagesEncoder *e, uint8_t byte) {
        if (e->size >= e->allocated) {
                e->allocated = MAX(e->allocated * 2, (size_t) 256);
                e->buf = xreallocarray(e->buf, e->allocated, 1);
        }
        e->buf[e->size++] = byte;
}

static void encoder_put_set_hva(IdlePagesEncoder *e, uint64_t hva) {
        encoder_put(e, IDLE_PAGES_CMD_SET_HVA);
        for (int shift = 56; shift >= 0; shift -= 8)
                encoder_put(e, (uint8_t) (hva >> shift));
}

/* Emit count-limited records of one type for len bytes (a multiple of the type's unit). */
static void encoder_put_type(IdlePagesEncoder *e, IdlePagesType type, uint64_t len) {
        uint64_t units = len / type_info[type].unit_bytes;

        while (units > 0) {
                unsigned c = (unsigned) MIN(units, (uint64_t) IDLE_PAGES_COUNT_MAX);

                encoder_put(e, IDLE_PAGES_RECORD(type, c));
                units -= c;
        }
}

static IdlePagesType run_type(const IdlePagesRun *run) {
        switch (run->kind) {
        case IDLE_PAGES_KIND_ACCESSED:
                if (run->page_size_bytes == IDLE_PAGES_PTE_SIZE)
                        return run->dirty ? IDLE_PAGES_PTE_DIRTY_M : IDLE_PAGES_PTE_ACCESSED;
                if (run->page_size_bytes == IDLE_PAGES_PMD_SIZE)
                        return run->dirty ? IDLE_PAGES_PMD_DIRTY_M : IDLE_PAGES_PMD_ACCESSED;
                return IDLE_PAGES_PUD_PRESENT;
        case IDLE_PAGES_KIND_IDLE:
                return run->page_size_bytes == IDLE_PAGES_PTE_SIZE ? IDLE_PAGES_PTE_IDLE : IDLE_PAGES_PMD_IDLE;
        case IDLE_PAGES_KIND_HOLE:
        default:
                return run->page_size_bytes == IDLE_PAGES_PTE_SIZE ? IDLE_PAGES_PTE_HOLE : IDLE_PAGES_PMD_HOLE;
        }
}

static void encoder_flush(IdlePagesEncoder *e) {
        const IdlePagesRun *run = &e->pending;
        uint64_t hva, end;

        if (!e->has_pending)
                return;
        e->has_pending = false;

        if (run->start_hva != e->cur_hva)
                encoder_put_set_hva(e, run->start_hva);

        hva = run->start_hva;
        end = idle_pages_run_end(run);
        if (run->kind == IDLE_PAGES_KIND_IDLE && run->page_size_bytes == IDLE_PAGES_PTE_SIZE) {
                /* 4 KiB records up to a 2 MiB boundary, PMD_IDLE_PTES for whole tables, the tail in 4 KiB */
                while (hva < end) {
                        uint64_t to_boundary = (IDLE_PAGES_PMD_SIZE - (hva & (IDLE_PAGES_PMD_SIZE - 1))) & (IDLE_PAGES_PMD_SIZE - 1);
                        uint64_t n;

                        if (to_boundary == 0 && end - hva >= IDLE_PAGES_PMD_SIZE) {
                                n = (end - hva) & ~(IDLE_PAGES_PMD_SIZE - 1);
                                encoder_put_type(e, IDLE_PAGES_PMD_IDLE_PTES, n);
                        } else {
                                n = to_boundary == 0 ? end - hva : MIN(to_boundary, end - hva);
                                encoder_put_type(e, IDLE_PAGES_PTE_IDLE, n);
                        }
                        hva += n;
                }
        } else
                encoder_put_type(e, run_type(run), run->len_bytes);
        e->cur_hva = end;
}

int idle_pages_encoder_add(IdlePagesEncoder *e, const IdlePagesRun *run) {
        uint64_t prev_end;

        if (run->len_bytes == 0 || (run->start_hva & (IDLE_PAGES_PTE_SIZE - 1)))
                return -EINVAL;
        if (run->page_size_bytes != IDLE_PAGES_PTE_SIZE &&
            run->page_size_bytes != IDLE_PAGES_PMD_SIZE &&
            run->page_size_bytes != IDLE_PAGES_PUD_SIZE)
                return -EINVAL;
        if (run->len_bytes % run->page_size_bytes != 0)
                return -EINVAL;
        switch (run->kind) {
        case IDLE_PAGES_KIND_ACCESSED:
                if (run->dirty && run->page_size_bytes == IDLE_PAGES_PUD_SIZE)
                        return -EINVAL;
                break;
        case IDLE_PAGES_KIND_IDLE:
        case IDLE_PAGES_KIND_HOLE:
                if (run->dirty || run->page_size_bytes == IDLE_PAGES_PUD_SIZE)
                        return -EINVAL;
                break;
        default:
                return -EINVAL;
        }
        if (run->start_hva > UINT64_MAX - run->len_bytes)
                return -ERANGE;

        prev_end = e->has_pending ? idle_pages_run_end(&e->pending) : e->cur_hva;
        if (run->start_hva < prev_end)
                return -ERANGE;

        if (e->has_pending && run_mergeable(&e->pending, run)) {
                if (e->pending.len_bytes > UINT64_MAX - run->len_bytes)
                        return -ERANGE;
                e->pending.len_bytes += run->len_bytes;
                return 0;
        }
        encoder_flush(e);
        e->pending = *run;
        e->has_pending = true;
        return 0;
}

int idle_pages_encoder_finish(IdlePagesEncoder *e, uint8_t **ret_buf, size_t *ret_size) {
        encoder_flush(e);
        *ret_buf = TAKE_PTR(e->buf);
        *ret_size = e->size;
        *e = (IdlePagesEncoder) {};
        return 0;
}

void idle_pages_encoder_raw_byte(IdlePagesEncoder *e, uint8_t byte) {
        unsigned type = byte >> 4;

        encoder_flush(e);
        encoder_put(e, byte);
        if (type < _IDLE_PAGES_TYPE_MAX && type != IDLE_PAGES_PIP_CMD)
                e->cur_hva += type_info[type].unit_bytes * (byte & 0xfu);
}

void idle_pages_encoder_raw_set_hva(IdlePagesEncoder *e, uint64_t hva) {
        encoder_flush(e);
        encoder_put_set_hva(e, hva);
        e->cur_hva = hva;
}

int idle_pages_encode(const IdlePagesRun *runs, size_t n, uint64_t start_hva, uint8_t **ret_buf, size_t *ret_size) {
        IdlePagesEncoder e;
        int r;

        idle_pages_encoder_init(&e, start_hva);
        for (size_t i = 0; i < n; i++) {
                r = idle_pages_encoder_add(&e, &runs[i]);
                if (r < 0) {
                        idle_pages_encoder_done(&e);
                        return r;
                }
        }
        return idle_pages_encoder_finish(&e, ret_buf, ret_size);
}
