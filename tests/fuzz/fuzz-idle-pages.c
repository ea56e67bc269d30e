/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz harness for the idle_pages record stream decoder: arbitrary bytes in; the one-shot decode
 * and a streaming decode split at an input-dependent point must agree; a valid decode must
 * re-encode and decode again to the very same runs. Seeds: tests/fuzz/corpus/idle-pages/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vtism/idle-pages-format.h"
#include "vtism/macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Runs {
        IdlePagesRun *runs;
        size_t n, allocated;
} Runs;

static int push(const IdlePagesRun *run, void *userdata) {
        Runs *v = userdata;

        if (v->n >= v->allocated) {
                v->allocated = MAX(v->allocated * 2, (size_t) 16);
                v->runs = xreallocarray(v->runs, v->allocated, sizeof(IdlePagesRun));
        }
        v->runs[v->n++] = *run;
        return 0;
}

static bool same_runs(const IdlePagesRun *a, size_t na, const IdlePagesRun *b, size_t nb) {
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (a[i].start_hva != b[i].start_hva || a[i].len_bytes != b[i].len_bytes || a[i].kind != b[i].kind ||
                    a[i].page_size_bytes != b[i].page_size_bytes || a[i].dirty != b[i].dirty)
                        return false;
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ IdlePagesRun *runs = NULL, *again = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n = 0, n_again = 0, encoded = 0, cut;
        IdlePagesDecoder d;
        Runs split = {};
        int r, r2;

        r = idle_pages_decode(data, size, 0, &runs, &n);

        /* streaming, in three pieces */
        cut = size > 0 ? data[0] % (size + 1) : 0;
        idle_pages_decoder_init(&d, 0);
        r2 = idle_pages_decoder_feed(&d, data, cut / 2, push, &split);
        if (r2 >= 0)
                r2 = idle_pages_decoder_feed(&d, data + cut / 2, cut - cut / 2, push, &split);
        if (r2 >= 0)
                r2 = idle_pages_decoder_feed(&d, data + cut, size - cut, push, &split);
        if (r2 >= 0)
                r2 = idle_pages_decoder_finish(&d, push, &split);
        if (r != r2)
                abort();
        if (r >= 0 && !same_runs(runs, n, split.runs, split.n))
                abort();
        free(split.runs);
        if (r < 0)
                return 0;

        for (size_t i = 0; i < n; i++) {
                if (runs[i].len_bytes == 0 || runs[i].len_bytes % runs[i].page_size_bytes != 0)
                        abort();
                if (i > 0 && runs[i].start_hva < idle_pages_run_end(&runs[i - 1]))
                        abort();
        }

        if (idle_pages_encode(runs, n, 0, &buf, &encoded) < 0)
                abort();
        if (idle_pages_decode(buf, encoded, 0, &again, &n_again) < 0)
                abort();
        if (!same_runs(runs, n, again, n_again))
                abort();
        return 0;
}
