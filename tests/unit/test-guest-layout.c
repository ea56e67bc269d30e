/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vtism/guest-layout.h"
#include "vtism/macro.h"
#include "vtism/procmaps.h"
#include "vtism/util.h"

#define M1 (UINT64_C(1) << 20)
#define G1 (UINT64_C(1) << 30)
#define G4 (UINT64_C(4) << 30)

static void *mfree(void *p) {
        free(p);
        return NULL;
}

static const char *data_dir(void) {
        const char *d = getenv("VTISM_TEST_DATA");
        return d ?: "tests/data";
}

static char *load_text(const char *name) {
        _cleanup_free_ char *path = NULL;
        char *text = NULL;

        path = xasprintf("procmaps/%s", name);
        if (read_file_at(data_dir(), path, &text) < 0) {
                fprintf(stderr, "cannot read %s/%s, skipping (set VTISM_TEST_DATA)\n", data_dir(), path);
                exit(77);
        }
        return text;
}

static void check_split(GuestMachine m, uint64_t ram, uint64_t max_below, uint64_t base, uint64_t low, uint64_t high) {
        uint64_t b = 1, l = 1, h = 1;

        check_int(guest_layout_split(m, ram, max_below, &b, &l, &h), 0);
        check_int(b, base);
        check_int(l, low);
        check_int(h, high);
}

static void test_split_rules(void) {
        uint64_t b, l, h;

        /* pc: 3.5 GiB threshold, 3 GiB low part */
        check_split(GUEST_MACHINE_PC, 256 * M1, 0, 0, 256 * M1, G4);
        check_split(GUEST_MACHINE_PC, 3583 * M1, 0, 0, 3583 * M1, G4);
        check_split(GUEST_MACHINE_PC, 3584 * M1, 0, 0, 3 * G1, G4);
        check_split(GUEST_MACHINE_PC, 64 * G1, 0, 0, 3 * G1, G4);
        check_split(GUEST_MACHINE_PC, 3 * G1, 2 * G1, 0, 2 * G1, G4);       /* max-ram-below-4g=2G */
        check_split(GUEST_MACHINE_PC, 1 * G1, 2 * G1, 0, 1 * G1, G4);
        check_split(GUEST_MACHINE_PC, 4 * G1, G4, 0, 3 * G1, G4);           /* capped at 3 GiB */
        /* pc-1.x: 3.5 GiB low part */
        check_split(GUEST_MACHINE_PC_LEGACY, 4 * G1, 0, 0, 3584 * M1, G4);
        check_split(GUEST_MACHINE_PC_LEGACY, 3583 * M1, 0, 0, 3583 * M1, G4);
        /* q35: 2.75 GiB threshold, 2 GiB low part */
        check_split(GUEST_MACHINE_Q35, 2 * G1, 0, 0, 2 * G1, G4);
        check_split(GUEST_MACHINE_Q35, 2815 * M1, 0, 0, 2815 * M1, G4);
        check_split(GUEST_MACHINE_Q35, 2816 * M1, 0, 0, 2 * G1, G4);
        check_split(GUEST_MACHINE_Q35, 6 * G1, 0, 0, 2 * G1, G4);
        check_split(GUEST_MACHINE_Q35, 2 * G1, 1 * G1, 0, 1 * G1, G4);
        check_split(GUEST_MACHINE_Q35, 6 * G1, 3 * G1, 0, 2 * G1, G4);      /* a larger max does not raise it */
        /* microvm: 3 GiB */
        check_split(GUEST_MACHINE_MICROVM, 3 * G1, 0, 0, 3 * G1, G4);
        check_split(GUEST_MACHINE_MICROVM, 3074 * M1, 0, 0, 3 * G1, G4);
        /* virt: from 1 GiB, contiguous */
        check_split(GUEST_MACHINE_VIRT, 8 * G1, 0, G1, 8 * G1, 9 * G1);

        check_int(guest_layout_split(GUEST_MACHINE_PC, 0, 0, &b, &l, &h), -EINVAL);
        check_int(guest_layout_split(GUEST_MACHINE_PC, G1, G4 + 1, &b, &l, &h), -EINVAL);
        check_int(guest_layout_split(_GUEST_MACHINE_MAX, G1, 0, &b, &l, &h), -EINVAL);
        check_int(guest_layout_split(GUEST_MACHINE_Q35, 1010 * G1, 0, &b, &l, &h), 0);
        check_int(guest_layout_split(GUEST_MACHINE_Q35, 1011 * G1, 0, &b, &l, &h), -ERANGE); /* 1 GiB over: HT hole */
        check_int(guest_layout_split(GUEST_MACHINE_VIRT, UINT64_MAX - 4095, 0, &b, &l, &h), -ERANGE);
}

static void test_machine_names(void) {
        static const struct {
                const char *s;
                int r;
                GuestMachine m;
        } cases[] = {
                { "pc", 0, GUEST_MACHINE_PC },
                { "pc-i440fx-7.2", 0, GUEST_MACHINE_PC },
                { "pc-i440fx-2.0", 0, GUEST_MACHINE_PC },
                { "pc-i440fx-1.7", 0, GUEST_MACHINE_PC_LEGACY },
                { "pc-1.3", 0, GUEST_MACHINE_PC_LEGACY },
                { "pc-0.15", 0, GUEST_MACHINE_PC_LEGACY },
                { "q35", 0, GUEST_MACHINE_Q35 },
                { "pc-q35-7.2", 0, GUEST_MACHINE_Q35 },
                { "microvm", 0, GUEST_MACHINE_MICROVM },
                { "virt", 0, GUEST_MACHINE_VIRT },
                { "virt-7.2", 0, GUEST_MACHINE_VIRT },
                { "isapc", -EOPNOTSUPP, 0 },
                { "pc-i440fx-x", -EOPNOTSUPP, 0 },
                { "s390-ccw-virtio", -EOPNOTSUPP, 0 },
                { "", -EINVAL, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                GuestMachine m = _GUEST_MACHINE_INVALID;

                check_int(guest_machine_from_string(cases[i].s, &m), cases[i].r);
                if (cases[i].r == 0)
                        check_int(m, cases[i].m);
                else
                        check_int(m, _GUEST_MACHINE_INVALID);
        }
        for (unsigned k = 0; k < _GUEST_MACHINE_MAX; k++) {
                GuestMachine m;
                check_int(guest_machine_from_string(guest_machine_to_string(k), &m), 0);
                check_int(m, k);
        }
        check(!guest_machine_to_string(_GUEST_MACHINE_MAX));
}

/* Check our ranges against every `gpa2hva` answer QEMU gave for this fixture. */
static void check_fixture(const char *name, GuestMachine machine, uint64_t max_below, const GuestBackend *backends, size_t n_backends,
                          size_t expect_ranges, MappingKind expect_kind) {
        _cleanup_free_ char *maps_name = NULL, *gpa_name = NULL, *maps_text = NULL, *gpa_text = NULL;
        _cleanup_(procmaps_freep) ProcMaps *maps = NULL;
        _cleanup_free_ GuestRamRange *ranges = NULL;
        GuestLayoutSpec spec = {
                .machine = machine,
                .backends = backends,
                .n_backends = n_backends,
                .max_ram_below_4g_bytes = max_below,
        };
        size_t n = 0, n_checked = 0;
        uint64_t total = 0, sum = 0;
        char *line, *saveptr = NULL;

        maps_name = xasprintf("qemu72-%s.maps", name);
        gpa_name = xasprintf("qemu72-%s.gpa2hva", name);
        maps_text = load_text(maps_name);
        gpa_text = load_text(gpa_name);
        check_int(procmaps_parse_string(maps_text, &maps, NULL), 0);

        check_int(guest_layout_compute(&spec, maps, &ranges, &n), 0);
        if (n != expect_ranges)
                fprintf(stderr, "%s: %zu ranges\n", name, n);
        check_int(n, expect_ranges);
        for (size_t i = 0; i < n_backends; i++)
                total += backends[i].size_bytes;
        for (size_t i = 0; i < n; i++) {
                sum += ranges[i].len_bytes;
                check_int(ranges[i].backing, expect_kind);
                if (i > 0)
                        check(ranges[i].gpa >= ranges[i - 1].gpa + ranges[i - 1].len_bytes);
        }
        check_int(sum, total);

        for (line = strtok_r(gpa_text, "\n", &saveptr); line; line = strtok_r(NULL, "\n", &saveptr)) {
                unsigned long long gpa, hva;
                bool found = false;

                check(sscanf(line, "%llx %llx", &gpa, &hva) == 2);
                for (size_t i = 0; i < n; i++)
                        if (gpa >= ranges[i].gpa && gpa - ranges[i].gpa < ranges[i].len_bytes) {
                                uint64_t ours = ranges[i].hva + (gpa - ranges[i].gpa);

                                if (ours != hva)
                                        fprintf(stderr, "%s: gpa 0x%llx: ours 0x%" PRIx64 ", QEMU 0x%llx\n", name, gpa, ours, hva);
                                check_int(ours, hva);
                                found = true;
                        }
                if (!found)
                        fprintf(stderr, "%s: gpa 0x%llx not in our ranges\n", name, gpa);
                check(found);
                n_checked++;
        }
        check(n_checked >= 2);
}

static void test_qemu_fixtures(void) {
        const MappingKind anon = MAPPING_ANON;

        check_fixture("pc256", GUEST_MACHINE_PC, 0, (GuestBackend[]) { { .size_bytes = 256 * M1 } }, 1, 1, anon);
        check_fixture("pc3583", GUEST_MACHINE_PC, 0, (GuestBackend[]) { { .size_bytes = 3583 * M1 } }, 1, 1, anon);
        check_fixture("pc4g", GUEST_MACHINE_PC, 0, (GuestBackend[]) { { .size_bytes = 4 * G1 } }, 1, 2, anon);
        check_fixture("pc_maxbelow", GUEST_MACHINE_PC, 2 * G1, (GuestBackend[]) { { .size_bytes = 3 * G1 } }, 1, 2, anon);
        check_fixture("q35_2g", GUEST_MACHINE_Q35, 0, (GuestBackend[]) { { .size_bytes = 2 * G1 } }, 1, 1, anon);
        check_fixture("q35_2815", GUEST_MACHINE_Q35, 0, (GuestBackend[]) { { .size_bytes = 2815 * M1 } }, 1, 1, anon);
        check_fixture("q35_2816", GUEST_MACHINE_Q35, 0, (GuestBackend[]) { { .size_bytes = 2816 * M1 } }, 1, 2, anon);
        check_fixture("q35_4g", GUEST_MACHINE_Q35, 0, (GuestBackend[]) { { .size_bytes = 4 * G1 } }, 1, 2, anon);
        check_fixture("pc2n", GUEST_MACHINE_PC, 0, (GuestBackend[]) { { .size_bytes = 3 * G1 }, { .size_bytes = G1 } }, 2, 2, anon);
        check_fixture("pc2x1g", GUEST_MACHINE_PC, 0, (GuestBackend[]) { { .size_bytes = G1 }, { .size_bytes = G1 } }, 2, 2, anon);
        check_fixture("q35_3n", GUEST_MACHINE_Q35, 0, (GuestBackend[]) { { .size_bytes = 2 * G1 }, { .size_bytes = 2 * G1 }, { .size_bytes = 2 * G1 } }, 3, 3, anon);
        check_fixture("q35_2n_memfd", GUEST_MACHINE_Q35, 0, (GuestBackend[]) { { .size_bytes = G1 }, { .size_bytes = 2 * G1 } }, 2, 3, MAPPING_MEMFD);
        check_fixture("pc_file", GUEST_MACHINE_PC, 0, (GuestBackend[]) { { .size_bytes = 512 * M1, .path = "/tmp/qx/ramfile/guest ram" } }, 1, 1, MAPPING_FILE);
        check_fixture("microvm1g", GUEST_MACHINE_MICROVM, 0, (GuestBackend[]) { { .size_bytes = G1 } }, 1, 1, anon);
        check_fixture("microvm4g", GUEST_MACHINE_MICROVM, 0, (GuestBackend[]) { { .size_bytes = 4 * G1 } }, 1, 2, anon);
}

static void test_details(void) {
        _cleanup_free_ char *text = NULL;
        _cleanup_(procmaps_freep) ProcMaps *maps = NULL;
        _cleanup_free_ GuestRamRange *ranges = NULL;
        size_t n;

        /* pc2n: exact ranges, node numbers, no guessing (sizes differ) */
        text = load_text("qemu72-pc2n.maps");
        check_int(procmaps_parse_string(text, &maps, NULL), 0);
        {
                GuestBackend b[] = { { .size_bytes = 3 * G1 }, { .size_bytes = G1 } };
                GuestLayoutSpec spec = { GUEST_MACHINE_PC, b, 2, 0 };

                check_int(guest_layout_compute(&spec, maps, &ranges, &n), 0);
                check_int(n, 2);
                check_int(ranges[0].gpa, 0);
                check_int(ranges[0].hva, 0x7f7763e00000);
                check_int(ranges[0].len_bytes, 3 * G1);
                check_int(ranges[0].node, 0);
                check(!ranges[0].guessed);
                check_int(ranges[1].gpa, G4);
                check_int(ranges[1].hva, 0x7f7723c00000);
                check_int(ranges[1].node, 1);
                ranges = mfree(ranges);

                /* a third backend that does not exist */
                GuestBackend b3[] = { { .size_bytes = 3 * G1 }, { .size_bytes = G1 }, { .size_bytes = 2 * G1 } };
                spec.backends = b3, spec.n_backends = 3;
                check_int(guest_layout_compute(&spec, maps, &ranges, &n), -ENOENT);
                check(!ranges);
                /* the TCG translation buffer (rwx, 1 GiB - 4 KiB) never matches */
                GuestBackend tcg[] = { { .size_bytes = G1 - 4096 } };
                spec.backends = tcg, spec.n_backends = 1;
                check_int(guest_layout_compute(&spec, maps, &ranges, &n), -ENOENT);
                /* bad specs */
                spec.n_backends = 0;
                check_int(guest_layout_compute(&spec, maps, &ranges, &n), -EINVAL);
                GuestBackend odd[] = { { .size_bytes = G1 + 1 } };
                spec.backends = odd, spec.n_backends = 1;
                check_int(guest_layout_compute(&spec, maps, &ranges, &n), -EINVAL);
        }
        maps = procmaps_free(maps);
        text = mfree(text);

        /* equal sizes: the top-down rule, flagged as guessed */
        text = load_text("qemu72-q35_3n.maps");
        check_int(procmaps_parse_string(text, &maps, NULL), 0);
        {
                GuestBackend b[] = { { .size_bytes = 2 * G1 }, { .size_bytes = 2 * G1 }, { .size_bytes = 2 * G1 } };
                GuestLayoutSpec spec = { GUEST_MACHINE_Q35, b, 3, 0 };

                check_int(guest_layout_compute(&spec, maps, &ranges, &n), 0);
                check_int(n, 3);
                for (size_t i = 0; i < n; i++) {
                        check(ranges[i].guessed);
                        check_int(ranges[i].node, i);
                }
                check_int(ranges[2].gpa, 6 * G1);
                check_int(ranges[2].hva, 0x7fb717a00000);
                ranges = mfree(ranges);
        }
}

/* Written by hand: hugetlbfs backends (libvirt <hugepages/>), a decoy of the same size, split VMAs. */
static const char synthetic_hugetlbfs[] =
        "7f0000000000-7f0080000000 rw-p 00000000 00:00 0 \n"
        "7f0080000000-7f0080001000 ---p 00000000 00:00 0 \n"
        "7f0100000000-7f0180000000 rw-s 00000000 00:2f 1001                       /dev/hugepages/libvirt/qemu/1-vm/qemu_back_mem.ram-node1.XYZ (deleted)\n"
        "7f0180000000-7f0180001000 ---p 00000000 00:00 0 \n"
        "7f0200000000-7f0280000000 rw-s 00000000 00:2f 1000                       /dev/hugepages/libvirt/qemu/1-vm/qemu_back_mem.ram-node0.ABC (deleted)\n"
        "7f0280000000-7f0280001000 ---p 00000000 00:00 0 \n"
        "7f0300000000-7f0320000000 rw-p 00000000 00:00 0 \n"
        "7f0320000000-7f0330000000 rw-p 00000000 00:00 0                          [anon:split]\n"
        "7f0330000000-7f0340000000 rw-p 00000000 00:00 0 \n";

static void test_synthetic(void) {
        _cleanup_(procmaps_freep) ProcMaps *maps = NULL;
        _cleanup_free_ GuestRamRange *ranges = NULL;
        size_t n;

        check_int(procmaps_parse_string(synthetic_hugetlbfs, &maps, NULL), 0);
        {
                GuestBackend b[] = {
                        { .size_bytes = 2 * G1, .path = "/dev/hugepages/libvirt/qemu/1-vm/qemu_back_mem.ram-node0.ABC" },
                        { .size_bytes = 2 * G1, .path = "/dev/hugepages/libvirt/qemu/1-vm/qemu_back_mem.ram-node1.XYZ" },
                };
                GuestLayoutSpec spec = { GUEST_MACHINE_Q35, b, 2, 0 };

                check_int(guest_layout_compute(&spec, maps, &ranges, &n), 0);
                check_int(n, 2);
                check_int(ranges[0].gpa, 0);
                check_int(ranges[0].hva, 0x7f0200000000);
                check_int(ranges[0].backing, MAPPING_HUGETLBFS);
                check(!ranges[0].guessed);
                check_int(ranges[1].gpa, G4);
                check_int(ranges[1].hva, 0x7f0100000000);
                ranges = mfree(ranges);
        }
        {
                /* without paths: three 2 GiB candidates, top-down */
                GuestBackend b[] = { { .size_bytes = 2 * G1 }, { .size_bytes = 2 * G1 } };
                GuestLayoutSpec spec = { GUEST_MACHINE_Q35, b, 2, 0 };

                check_int(guest_layout_compute(&spec, maps, &ranges, &n), 0);
                check_int(ranges[0].hva, 0x7f0200000000);
                check_int(ranges[1].hva, 0x7f0100000000);
                check(ranges[0].guessed && ranges[1].guessed);
                ranges = mfree(ranges);
        }
        {
                /* 1 GiB from 0x7f0300000000 is split into three VMAs: only the anon ones are the same backing */
                GuestBackend b[] = { { .size_bytes = 512 * M1 } };
                GuestLayoutSpec spec = { GUEST_MACHINE_PC, b, 1, 0 };

                check_int(guest_layout_compute(&spec, maps, &ranges, &n), 0);
                check_int(ranges[0].hva, 0x7f0300000000);
                check_int(ranges[0].len_bytes, 512 * M1);
                ranges = mfree(ranges);

                GuestBackend whole[] = { { .size_bytes = G1 } };
                spec.backends = whole;
                check_int(guest_layout_compute(&spec, maps, &ranges, &n), -ENOENT);
        }
}

static void test_split_vma(void) {
        _cleanup_(procmaps_freep) ProcMaps *maps = NULL;
        _cleanup_free_ GuestRamRange *ranges = NULL;
        size_t n;
        /* a 1 GiB anonymous backend whose VMA was split in three (e.g. mbind on the middle) */
        static const char text[] =
                "7f0000000000-7f0010000000 rw-p 00000000 00:00 0 \n"
                "7f0010000000-7f0020000000 rw-p 00000000 00:00 0 \n"
                "7f0020000000-7f0040000000 rw-p 00000000 00:00 0 \n"
                "7f0040000000-7f0040001000 ---p 00000000 00:00 0 \n";
        GuestBackend b[] = { { .size_bytes = G1 } };
        GuestLayoutSpec spec = { GUEST_MACHINE_PC, b, 1, 0 };

        check_int(procmaps_parse_string(text, &maps, NULL), 0);
        check_int(guest_layout_compute(&spec, maps, &ranges, &n), 0);
        check_int(n, 1);
        check_int(ranges[0].hva, 0x7f0000000000);
        check_int(ranges[0].len_bytes, G1);
        ranges = mfree(ranges);

        /* 768 MiB: the run would stop inside the backing: not accepted */
        b[0].size_bytes = 768 * M1;
        check_int(guest_layout_compute(&spec, maps, &ranges, &n), -ENOENT);
}

int main(void) {
        test_split_rules();
        test_machine_names();
        test_qemu_fixtures();
        test_details();
        test_synthetic();
        test_split_vma();
        printf("test-guest-layout: OK\n");
        return 0;
}
