/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz harness for the QEMU command-line parser (src/core/qemu-cmdline.c) and the guest layout
 * (src/core/guest-layout.c) as vm_locate_ram() chains them: any local user's command line
 * reaches them. Input: a /proc/PID/cmdline (NUL-separated arguments), optionally followed by
 * an empty argument ("\0\0") and /proc/PID/maps text. Without maps text, one is made from the
 * parsed backends the way QEMU maps them (top down, a guard page each), and the layout must then
 * be found. Checked: backends are consistent (ids, sorted distinct host nodes), RAM backends add
 * up to the RAM size in guest node order, and layout ranges are inside the mappings, ordered by
 * guest-physical address without overlap, and cover exactly the RAM.
 * Seeds: tests/fuzz/corpus/qemu-cmdline/.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vtism/guest-layout.h"
#include "vtism/macro.h"
#include "vtism/procmaps.h"
#include "vtism/qemu-cmdline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAPS_TOP UINT64_C(0x7f0000000000)

/* maps text for the RAM backends as QEMU 7.2 lays them out, or NULL when they cannot be mapped. */
static char *synthesize_maps(const QemuBackend *const *ram, size_t n) {
        uint64_t top = MAPS_TOP, total = 0;
        char *text = xstrdup(""), *t;

        for (size_t i = 0; i < n; i++) {
                if (ram[i]->size_bytes == 0 || ram[i]->size_bytes % 4096 != 0 || ram[i]->size_bytes > MAPS_TOP / 2)
                        goto fail;
                total += ram[i]->size_bytes + 4096;
                if (total > MAPS_TOP / 2)
                        goto fail;
        }
        /* backend 0 highest: maps text ascends, so write the last one first */
        top -= total;
        for (size_t k = n; k-- > 0;) {
                const QemuBackend *b = ram[k];
                const char *path = "";

                if (b->kind == QEMU_BACKEND_MEMFD)
                        path = "/memfd:memory-backend-memfd (deleted)";
                else if (b->kind == QEMU_BACKEND_FILE)
                        path = b->mem_path ?: "/tmp/guest-ram";
                if (strchr(path, '\n'))
                        goto fail;
                t = xasprintf("%s%012" PRIx64 "-%012" PRIx64 " ---p 00000000 00:00 0\n"
                              "%012" PRIx64 "-%012" PRIx64 " rw-%c 00000000 00:00 %d %s\n",
                              text, top, top + 4096, top + 4096, top + 4096 + b->size_bytes,
                              b->kind == QEMU_BACKEND_RAM || b->kind == QEMU_BACKEND_IMPLICIT ? 'p' : 's',
                              *path ? 42 : 0, path);
                free(text);
                text = t;
                top += 4096 + b->size_bytes;
        }
        return text;
fail:
        free(text);
        return NULL;
}

/* Would /proc/PID/maps show this backend's mem-path as it is? (It drops " (deleted)", and paths
 * not starting with '/' are not files.) Else the layout may rightly not find it. */
static bool path_shown_as_is(const QemuBackend *b) {
        const char *p = b->mem_path;
        size_t l;

        if (b->kind != QEMU_BACKEND_FILE)
                return !p; /* QEMU refuses mem-path= for them; the layout would look for it */
        if (!p || p[0] != '/' || strchr(p, '\n'))
                return false;
        l = strlen(p);
        return l < 10 || strcmp(p + l - 10, " (deleted)") != 0;
}

static void check_cmdline(const QemuCmdline *c) {
        if (!c->binary || c->n_backends == 0 || !qemu_machine_family(c->machine))
                abort();
        for (size_t i = 0; i < c->n_backends; i++) {
                const QemuBackend *b = &c->backends[i];

                if (!b->id || !qemu_backend_kind_to_string(b->kind))
                        abort();
                for (size_t k = 0; k < b->n_host_nodes; k++)
                        if (b->host_nodes[k] < 0 || b->host_nodes[k] > 1023 ||
                            (k > 0 && b->host_nodes[k] <= b->host_nodes[k - 1]))
                                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(qemu_cmdline_freep) QemuCmdline *c = NULL;
        _cleanup_(procmaps_freep) ProcMaps *maps = NULL;
        _cleanup_free_ const QemuBackend **ram = NULL;
        _cleanup_free_ GuestBackend *gb = NULL;
        _cleanup_free_ GuestRamRange *ranges = NULL;
        _cleanup_free_ char *maps_text = NULL;
        const uint8_t *sep = NULL;
        size_t n_ram, n_ranges, cmdline_len = size;
        uint64_t total = 0, sum = 0;
        GuestLayoutSpec spec = {};
        bool synthesized = false;
        int r;

        if (size > 256 * 1024)
                return 0;
        for (size_t i = 0; i + 1 < size; i++)
                if (data[i] == 0 && data[i + 1] == 0) {
                        sep = data + i;
                        cmdline_len = i + 1;
                        break;
                }

        r = qemu_cmdline_parse_proc((const char *) data, cmdline_len, &c);
        if (r < 0) {
                if (c)
                        abort();
                return 0;
        }
        check_cmdline(c);

        r = qemu_cmdline_ram_backends(c, &ram, &n_ram);
        if (r < 0)
                return 0;
        if (n_ram == 0)
                abort();
        for (size_t i = 0; i < n_ram; i++) {
                if (i > 0 && ram[i]->guest_node < ram[i - 1]->guest_node)
                        abort();
                total += ram[i]->size_bytes;
        }
        if (total != c->ram_bytes)
                abort();

        if (guest_machine_from_string(c->machine ?: "pc", &spec.machine) < 0)
                return 0;
        gb = xcalloc(n_ram, sizeof(GuestBackend));
        for (size_t i = 0; i < n_ram; i++)
                gb[i] = (GuestBackend) { .size_bytes = ram[i]->size_bytes, .path = ram[i]->mem_path };
        spec.backends = gb;
        spec.n_backends = n_ram;
        spec.max_ram_below_4g_bytes = c->max_ram_below_4g_bytes;

        if (sep) {
                maps_text = xmalloc(size - cmdline_len);
                memcpy(maps_text, sep + 2, size - cmdline_len - 1);
                maps_text[size - cmdline_len - 1] = 0;
        } else {
                maps_text = synthesize_maps(ram, n_ram);
                if (!maps_text)
                        return 0;
                synthesized = true;
        }
        r = procmaps_parse_string(maps_text, &maps, NULL);
        if (r < 0) {
                if (synthesized) {
                        fprintf(stderr, "made-up maps do not parse:\n%s", maps_text);
                        abort();
                }
                return 0;
        }

        r = guest_layout_compute(&spec, maps, &ranges, &n_ranges);
        if (r < 0) {
                /* QEMU's own layout must be found (unless the sizes or the split are impossible) */
                bool as_is = true;

                for (size_t i = 0; i < n_ram; i++)
                        as_is = as_is && path_shown_as_is(ram[i]);
                if (synthesized && as_is && r == -ENOENT) {
                        fprintf(stderr, "layout not found in made-up maps:\n%s", maps_text);
                        abort();
                }
                return 0;
        }
        for (size_t i = 0; i < n_ranges; i++) {
                const GuestRamRange *x = &ranges[i];

                if (x->len_bytes == 0 || x->node >= n_ram || !procmaps_find(maps, x->hva) ||
                    !procmaps_find(maps, x->hva + x->len_bytes - 1))
                        abort();
                if (i > 0 && x->gpa < ranges[i - 1].gpa + ranges[i - 1].len_bytes)
                        abort();
                sum += x->len_bytes;
        }
        if (sum != total)
                abort();
        return 0;
}
