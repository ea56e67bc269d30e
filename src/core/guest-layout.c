/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vtism/guest-layout.h"
#include "vtism/macro.h"
#include "vtism/util.h"

#define PC_MAX_RAM_BELOW_4G_DEFAULT UINT64_C(0xe0000000)  /* 3.5 GiB */
#define PC_GIGABYTE_ALIGN_LOWMEM UINT64_C(0xc0000000)     /* 3 GiB */
#define Q35_SPLIT_THRESHOLD UINT64_C(0xb0000000)          /* 2.75 GiB */
#define Q35_LOWMEM_SPLIT UINT64_C(0x80000000)             /* 2 GiB */
#define MICROVM_MAX_BELOW_4G UINT64_C(0xc0000000)         /* 3 GiB */
#define VIRT_RAM_BASE UINT64_C(0x40000000)                /* 1 GiB */
#define AMD_HT_START UINT64_C(0xfd00000000)               /* 1012 GiB */
#define PAGE_BYTES UINT64_C(4096)

static const char *const guest_machine_names[_GUEST_MACHINE_MAX] = {
        [GUEST_MACHINE_PC] = "pc",
        [GUEST_MACHINE_PC_LEGACY] = "pc-legacy",
        [GUEST_MACHINE_Q35] = "q35",
        [GUEST_MACHINE_MICROVM] = "microvm",
        [GUEST_MACHINE_VIRT] = "virt",
};
assert_cc(ELEMENTSOF(guest_machine_names) == _GUEST_MACHINE_MAX);

const char *guest_machine_to_string(GuestMachine m) {
        if ((unsigned) m >= _GUEST_MACHINE_MAX)
                return NULL;
        return guest_machine_names[m];
}

static bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* "1.7" → major 1; -EINVAL if no number */
static int version_major(const char *v, unsigned *ret) {
        unsigned major = 0;

        if (*v < '0' || *v > '9')
                return -EINVAL;
        for (; *v >= '0' && *v <= '9'; v++) {
                if (major > 1000)
                        return -EINVAL;
                major = major * 10 + (unsigned) (*v - '0');
        }
        if (*v && *v != '.')
                return -EINVAL;
        *ret = major;
        return 0;
}

int guest_machine_from_string(const char *s, GuestMachine *ret) {
        unsigned major;

        if (!s || !*s)
                return -EINVAL;
        if (streq(s, "pc") || streq(s, "pc-i440fx")) {
                *ret = GUEST_MACHINE_PC;
                return 0;
        }
        if (startswith(s, "pc-i440fx-") || (startswith(s, "pc-") && s[3] >= '0' && s[3] <= '9')) {
                const char *v = startswith(s, "pc-i440fx-") ? s + strlen("pc-i440fx-") : s + 3;

                if (version_major(v, &major) < 0)
                        return -EOPNOTSUPP;
                *ret = major < 2 ? GUEST_MACHINE_PC_LEGACY : GUEST_MACHINE_PC;
                return 0;
        }
        if (streq(s, "q35") || startswith(s, "pc-q35-") || streq(s, "pc-q35")) {
                *ret = GUEST_MACHINE_Q35;
                return 0;
        }
        if (streq(s, "microvm")) {
                *ret = GUEST_MACHINE_MICROVM;
                return 0;
        }
        if (streq(s, "virt") || startswith(s, "virt-")) {
                *ret = GUEST_MACHINE_VIRT;
                return 0;
        }
        if (streq(s, "pc-legacy")) {
                *ret = GUEST_MACHINE_PC_LEGACY;
                return 0;
        }
        return -EOPNOTSUPP;
}

int guest_layout_split(GuestMachine m, uint64_t ram_bytes, uint64_t max_ram_below_4g_bytes,
                       uint64_t *ret_base_gpa, uint64_t *ret_low_bytes, uint64_t *ret_high_gpa) {
        uint64_t lowmem, low, base = 0;

        if (ram_bytes == 0 || max_ram_below_4g_bytes > GUEST_LAYOUT_4G)
                return -EINVAL;

        switch (m) {
        case GUEST_MACHINE_PC:
        case GUEST_MACHINE_PC_LEGACY:
                lowmem = max_ram_below_4g_bytes ?: PC_MAX_RAM_BELOW_4G_DEFAULT;
                if (m == GUEST_MACHINE_PC && ram_bytes >= lowmem)
                        lowmem = MIN(lowmem, PC_GIGABYTE_ALIGN_LOWMEM);
                low = ram_bytes >= lowmem ? lowmem : ram_bytes;
                break;
        case GUEST_MACHINE_Q35:
                lowmem = ram_bytes >= Q35_SPLIT_THRESHOLD ? Q35_LOWMEM_SPLIT : Q35_SPLIT_THRESHOLD;
                if (max_ram_below_4g_bytes > 0)
                        lowmem = MIN(lowmem, max_ram_below_4g_bytes);
                low = ram_bytes >= lowmem ? lowmem : ram_bytes;
                break;
        case GUEST_MACHINE_MICROVM:
                low = MIN(ram_bytes, MICROVM_MAX_BELOW_4G);
                break;
        case GUEST_MACHINE_VIRT:
                base = VIRT_RAM_BASE;
                if (ram_bytes > UINT64_MAX - base)
                        return -ERANGE;
                low = ram_bytes;
                break;
        default:
                return -EINVAL;
        }

        if (low < ram_bytes && ram_bytes - low > AMD_HT_START - GUEST_LAYOUT_4G)
                return -ERANGE;

        *ret_base_gpa = base;
        *ret_low_bytes = low;
        *ret_high_gpa = m == GUEST_MACHINE_VIRT ? base + low : GUEST_LAYOUT_4G;
        return 0;
}

static bool candidate_ok(const ProcMapping *x) {
        if (!x->read || !x->write || x->exec)
                return false;
        switch (x->kind) {
        case MAPPING_ANON:
        case MAPPING_FILE:
        case MAPPING_MEMFD:
        case MAPPING_HUGETLBFS:
        case MAPPING_SHM:
                return true;
        default:
                return false;
        }
}

/* Can b continue a: the same backing, split into two VMAs? */
static bool same_backing(const ProcMapping *a, const ProcMapping *b) {
        if (a->end_hva != b->start_hva || a->kind != b->kind || a->shared != b->shared ||
            a->read != b->read || a->write != b->write || a->exec != b->exec ||
            a->dev_major != b->dev_major || a->dev_minor != b->dev_minor || a->inode != b->inode ||
            !streq_ptr(a->path, b->path))
                return false;
        if (a->inode != 0 && b->offset_bytes != a->offset_bytes + proc_mapping_len(a))
                return false;
        return true;
}

typedef struct Match {
        size_t first, last;  /* mapping indexes, inclusive */
        bool found;
        bool guessed;
} Match;

static bool path_ok(const GuestBackend *b, const ProcMapping *x) {
        return !b->path || streq_ptr(b->path, x->path);
}

/* Best candidate for backend b: a single mapping (pass 0) or a run of split VMAs (pass 1). */
static Match find_backend(const GuestBackend *b, const ProcMaps *maps, const bool *used, unsigned pass) {
        Match best = {};
        unsigned n_fit = 0;

        for (size_t i = 0; i < maps->n; i++) {
                const ProcMapping *x = &maps->mappings[i];
                uint64_t total = 0;
                size_t j;

                if (!candidate_ok(x) || !path_ok(b, x))
                        continue;
                if (pass == 0) {
                        if (proc_mapping_len(x) != b->size_bytes)
                                continue;
                        /* count taken ones too: backends after the first of a size were chosen by the rule as well */
                        n_fit++;
                        if (used[i])
                                continue;
                        j = i;
                } else {
                        if (used[i])
                                continue;
                        if (i > 0 && same_backing(&maps->mappings[i - 1], x))
                                continue; /* runs start at the first VMA of a backing */
                        for (j = i; j < maps->n; j++) {
                                if (j > i && (used[j] || !same_backing(&maps->mappings[j - 1], &maps->mappings[j])))
                                        break;
                                total += proc_mapping_len(&maps->mappings[j]);
                                if (total >= b->size_bytes)
                                        break;
                        }
                        if (j >= maps->n || total != b->size_bytes || j == i)
                                continue;
                        if (j + 1 < maps->n && !used[j + 1] && same_backing(&maps->mappings[j], &maps->mappings[j + 1]))
                                continue; /* the backing goes on: bigger than the backend */
                        n_fit++;
                }
                /* top-down mmap: the highest address was created first */
                if (!best.found || x->start_hva > maps->mappings[best.first].start_hva)
                        best = (Match) { .first = i, .last = j, .found = true };
        }
        best.guessed = n_fit > 1;
        return best;
}

static int cmp_range_gpa(const void *a, const void *b) {
        const GuestRamRange *x = a, *y = b;
        return (x->gpa > y->gpa) - (x->gpa < y->gpa);
}

int guest_layout_compute(const GuestLayoutSpec *spec, const ProcMaps *maps, GuestRamRange **ret, size_t *ret_n) {
        _cleanup_free_ GuestRamRange *ranges = NULL;
        _cleanup_free_ bool *used = NULL;
        uint64_t total = 0, base_gpa, low_bytes, high_gpa, off = 0;
        size_t n = 0;
        int r;

        if (!spec->backends || spec->n_backends == 0)
                return -EINVAL;
        for (size_t i = 0; i < spec->n_backends; i++) {
                uint64_t s = spec->backends[i].size_bytes;

                if (s == 0 || s % PAGE_BYTES != 0)
                        return -EINVAL;
                if (total > UINT64_MAX - s)
                        return -ERANGE;
                total += s;
        }
        r = guest_layout_split(spec->machine, total, spec->max_ram_below_4g_bytes, &base_gpa, &low_bytes, &high_gpa);
        if (r < 0)
                return r;

        used = xcalloc(maps->n, sizeof(bool));
        ranges = xcalloc(2 * spec->n_backends, sizeof(GuestRamRange));

        for (size_t i = 0; i < spec->n_backends; i++) {
                const GuestBackend *b = &spec->backends[i];
                uint64_t hva, end = off + b->size_bytes;
                Match m;

                m = find_backend(b, maps, used, 0);
                if (!m.found)
                        m = find_backend(b, maps, used, 1);
                if (!m.found)
                        return -ENOENT;
                for (size_t j = m.first; j <= m.last; j++)
                        used[j] = true;
                hva = maps->mappings[m.first].start_hva;

                if (off < low_bytes) {
                        uint64_t e = MIN(end, low_bytes);

                        ranges[n++] = (GuestRamRange) {
                                .gpa = base_gpa + off,
                                .hva = hva,
                                .len_bytes = e - off,
                                .node = (unsigned) i,
                                .backing = maps->mappings[m.first].kind,
                                .guessed = m.guessed,
                        };
                }
                if (end > low_bytes) {
                        uint64_t s = MAX(off, low_bytes);

                        ranges[n++] = (GuestRamRange) {
                                .gpa = high_gpa + (s - low_bytes),
                                .hva = hva + (s - off),
                                .len_bytes = end - s,
                                .node = (unsigned) i,
                                .backing = maps->mappings[m.first].kind,
                                .guessed = m.guessed,
                        };
                }
                off = end;
        }
        qsort(ranges, n, sizeof(GuestRamRange), cmp_range_gpa);

        *ret = TAKE_PTR(ranges);
        *ret_n = n;
        return 0;
}
