/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz harness for the /proc/PID/maps parser and the guest layout rules that consume it:
 * arbitrary text in; a successful parse must be ascending and self-consistent, and guest layout
 * computed from it (backend sizes taken from the parsed mappings) must cover exactly the RAM.
 * Seeds: tests/fuzz/corpus/procmaps/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vtism/guest-layout.h"
#include "vtism/macro.h"
#include "vtism/procmaps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(procmaps_freep) ProcMaps *m = NULL;
        _cleanup_free_ GuestRamRange *ranges = NULL;
        _cleanup_free_ char *text = NULL;
        GuestBackend backends[2] = {};
        size_t n_backends = 0, n_ranges = 0;
        uint64_t total = 0, sum = 0;
        GuestLayoutSpec spec;
        int r;

        if (size > 1024 * 1024)
                return 0;
        text = xmalloc(size + 1);
        memcpy(text, data, size);
        text[size] = 0;

        r = procmaps_parse_string(text, &m, NULL);
        if (r < 0)
                return 0;

        for (size_t i = 0; i < m->n; i++) {
                const ProcMapping *x = &m->mappings[i];

                if (x->start_hva >= x->end_hva || !mapping_kind_to_string(x->kind))
                        abort();
                if (i > 0 && x->start_hva < m->mappings[i - 1].end_hva)
                        abort();
                if (procmaps_find(m, x->start_hva) != x || procmaps_find(m, x->end_hva - 1) != x)
                        abort();
                if (x->path && strchr(x->path, '\n'))
                        abort();
                if (n_backends < ELEMENTSOF(backends) && x->read && x->write && !x->exec &&
                    proc_mapping_len(x) % 4096 == 0)
                        backends[n_backends++].size_bytes = proc_mapping_len(x);
        }
        if (n_backends == 0)
                return 0;

        spec = (GuestLayoutSpec) {
                .machine = (GuestMachine) (size % _GUEST_MACHINE_MAX),
                .backends = backends,
                .n_backends = n_backends,
        };
        r = guest_layout_compute(&spec, m, &ranges, &n_ranges);
        if (r < 0)
                return 0;
        for (size_t i = 0; i < n_backends; i++)
                total += backends[i].size_bytes;
        for (size_t i = 0; i < n_ranges; i++) {
                if (!procmaps_find(m, ranges[i].hva) || ranges[i].len_bytes == 0)
                        abort();
                if (i > 0 && ranges[i].gpa < ranges[i - 1].gpa + ranges[i - 1].len_bytes)
                        abort();
                sum += ranges[i].len_bytes;
        }
        if (sum != total)
                abort();
        return 0;
}
