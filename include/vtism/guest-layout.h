/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vtism/procmaps.h"

/*
 * Where a QEMU guest's RAM lives: guest-physical layout + host-virtual mappings, pure.
 *
 * Input: the machine type, the guest RAM backends in guest NUMA node order (their sizes, as in
 * `-object memory-backend-*,size=` / libvirt's <numa><cell memory=>; one backend of the whole
 * size without NUMA), optionally max-ram-below-4g, and the parsed /proc/PID/maps of QEMU.
 *
 * 1. Backend → mapping (checked on QEMU 7.2, tests/data/procmaps/README.md): QEMU maps each RAM
 *    backend as one mapping of exactly the backend size (rw, never executable), followed by a
 *    PROT_NONE guard page that is a separate mapping:
 *      memory-backend-ram (and the implicit "pc.ram") → anonymous rw-p, 2 MiB aligned
 *      memory-backend-memfd → rw-s "/memfd:memory-backend-memfd (deleted)"
 *      memory-backend-file → rw-s PATH (hugetlbfs: a temporary file in the mount, "(deleted)")
 *    Rules: candidates are rw, non-executable mappings of kind anon, file, memfd, hugetlbfs or shm
 *    whose length equals the backend size, and whose path equals GuestBackend.path when given.
 *    Backends are created in command-line (= node) order and Linux hands out mmap addresses top
 *    down, so among equal-sized candidates backend k takes the k-th highest address (verified on
 *    QEMU 7.2 with 2 and 3 equal backends; `guessed` marks ranges where this rule decided). If no
 *    single mapping fits, a run of adjacent mappings with the same backing (a VMA split by
 *    mprotect/madvise/mbind on part of it) whose lengths add up to the size is accepted.
 * 2. RAM offsets: backends are concatenated in node order into one RAM space [0, total).
 * 3. Split of that space into guest-physical addresses (QEMU 7.2, verified with `info mtree` and
 *    gpa2hva, see the fixtures):
 *      pc (i440fx, pc-i440fx-2.0 and later): total ≥ 3.5 GiB (0xe0000000) → 3 GiB below 4 GiB,
 *        the rest from 4 GiB; else all below. With max-ram-below-4g=M: the low part is M when
 *        total ≥ M, capped at 3 GiB (gigabyte alignment).
 *      pc-i440fx-1.x / pc-0.x (GUEST_MACHINE_PC_LEGACY): as pc without the 3 GiB cap (3.5 GiB below).
 *      q35: total ≥ 2.75 GiB (0xb0000000) → 2 GiB below 4 GiB, else all below; a smaller
 *        max-ram-below-4g lowers the limit.
 *      microvm: up to 3 GiB below 4 GiB, the rest from 4 GiB (max-ram-below-4g ignored).
 *      virt (ARM): one block from 1 GiB (0x40000000), no split — from QEMU's memory map, not
 *        verified here (no aarch64 QEMU on the build hosts).
 *    Low RAM starts at GPA 0; the legacy VGA/ROM window 0xa0000-0xfffff overlays it in the guest but
 *    it is still RAM in the backend, so ranges include it.
 *
 * Limits: no memory hotplug (pc-dimm, virtio-mem, nvdimm: their backends are extra mappings that
 * this does not place); no QEMU ≥ 7.1 relocation of above-4G RAM to 1 TiB on AMD hosts when the
 * guest's RAM would reach the HyperTransport hole (RAM above 4 GiB ending past 1012 GiB, -ERANGE);
 * -mem-path without a backend object behaves like one file backend (pass its path); a guest whose
 * RAM size equals another QEMU buffer of the same size (e.g. 16 MiB VGA RAM) can be mismatched.
 */

typedef enum GuestMachine {
        GUEST_MACHINE_PC,
        GUEST_MACHINE_PC_LEGACY,
        GUEST_MACHINE_Q35,
        GUEST_MACHINE_MICROVM,
        GUEST_MACHINE_VIRT,
        _GUEST_MACHINE_MAX,
        _GUEST_MACHINE_INVALID = -22,
} GuestMachine;

const char *guest_machine_to_string(GuestMachine m);
/*
 * Accepts QEMU/libvirt machine type names: "pc", "pc-i440fx-7.2", "pc-1.7", "q35", "pc-q35-7.2",
 * "microvm", "virt", "virt-7.2", ... -EOPNOTSUPP for other machines (isapc, s390, ...).
 */
int guest_machine_from_string(const char *s, GuestMachine *ret);

#define GUEST_LAYOUT_4G (UINT64_C(1) << 32)

/*
 * Split total RAM: ret_low_bytes at ret_base_gpa, the rest (if any) at ret_high_gpa.
 * max_ram_below_4g_bytes 0 = the machine's default. -EINVAL on bad input (0 RAM, max > 4 GiB),
 * -ERANGE when the result would overflow or reach the AMD HyperTransport hole (1012 GiB).
 */
int guest_layout_split(GuestMachine m, uint64_t ram_bytes, uint64_t max_ram_below_4g_bytes,
                       uint64_t *ret_base_gpa, uint64_t *ret_low_bytes, uint64_t *ret_high_gpa);

typedef struct GuestBackend {
        uint64_t size_bytes;
        const char *path;          /* optional: the mapping's path (without " (deleted)") must equal it */
} GuestBackend;

typedef struct GuestLayoutSpec {
        GuestMachine machine;
        const GuestBackend *backends; /* guest NUMA node order */
        size_t n_backends;
        uint64_t max_ram_below_4g_bytes; /* 0 = default */
} GuestLayoutSpec;

typedef struct GuestRamRange {
        uint64_t gpa;
        uint64_t hva;
        uint64_t len_bytes;
        unsigned node;             /* guest NUMA node (backend index) */
        MappingKind backing;
        bool guessed;              /* several mappings fit: the top-down rule chose */
} GuestRamRange;

/*
 * Ranges sorted by GPA, at most two per backend. -EINVAL for a bad spec (no backends, a size 0 or
 * not 4 KiB aligned), -ENOENT when a backend has no matching mapping, -ERANGE as above.
 */
int guest_layout_compute(const GuestLayoutSpec *spec, const ProcMaps *maps, GuestRamRange **ret, size_t *ret_n);
