/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * What a QEMU command line tells about a VM's identity and guest RAM: name, UUID, machine type,
 * RAM size and the memory backends that hold guest RAM, in guest-physical order. Pure: parses
 * argv (from /proc/PID/cmdline), both the classic "key=value,..." and the JSON form of -object
 * that libvirt uses. Used for libvirt domains and plain qemu processes alike, so the daemon never
 * has to ask QEMU's monitor (which would taint a libvirt domain).
 */

typedef enum QemuBackendKind {
        QEMU_BACKEND_RAM,      /* memory-backend-ram: anonymous memory */
        QEMU_BACKEND_MEMFD,    /* memory-backend-memfd */
        QEMU_BACKEND_FILE,     /* memory-backend-file: hugetlbfs, tmpfs, DAX, plain file */
        QEMU_BACKEND_IMPLICIT, /* no -object: QEMU allocates "pc.ram"/"ram" itself (anonymous) */
        _QEMU_BACKEND_KIND_MAX,
        _QEMU_BACKEND_KIND_INVALID = -22,
} QemuBackendKind;

const char *qemu_backend_kind_to_string(QemuBackendKind k);

typedef struct QemuBackend {
        char *id;
        QemuBackendKind kind;
        uint64_t size_bytes;
        char *mem_path;       /* memory-backend-file only */
        bool share;
        int *host_nodes;      /* host-nodes= (all of them), sorted, distinct; empty if unset or empty */
        size_t n_host_nodes;
        int guest_node;       /* -numa node,nodeid=N,memdev=ID; -1 if not a NUMA memdev */
} QemuBackend;

typedef struct QemuCmdline {
        char *binary;         /* argv[0] */
        char *name;           /* -name guest=NAME or -name NAME; NULL if none */
        char *uuid;           /* -uuid, lower case; NULL if none */
        char *machine;        /* machine type as given: "pc-i440fx-7.2", "q35", ...; NULL = QEMU default */
        char *accel;          /* "kvm", "tcg", ...; NULL if not given */
        uint64_t max_ram_below_4g_bytes; /* -machine max-ram-below-4g=; 0 if not given */
        uint64_t ram_bytes;   /* -m, QEMU's default 128 MiB if not given */
        QemuBackend *backends; /* every memory backend object, in command-line order */
        size_t n_backends;
} QemuCmdline;

/* Is this argv[0] a system emulator? ("qemu-system-x86_64", "/usr/bin/qemu-kvm", ...) */
bool qemu_cmdline_is_qemu(const char *argv0);

/* Parse argv. -EINVAL for malformed values of options we need (-m, -object memory-backend-*,
 * -numa node); options we do not need are ignored. */
int qemu_cmdline_parse(char *const *argv, size_t argc, QemuCmdline **ret);
/* Parse the NUL-separated contents of /proc/PID/cmdline. */
int qemu_cmdline_parse_proc(const char *buf, size_t len, QemuCmdline **ret);
QemuCmdline *qemu_cmdline_free(QemuCmdline *c);
static inline void qemu_cmdline_freep(QemuCmdline **c) {
        qemu_cmdline_free(*c);
}

/* "pc", "q35", "microvm", "isapc", "virt", ...: the machine family, "pc" for NULL (QEMU's x86 default). */
const char *qemu_machine_family(const char *machine);

/*
 * The backends holding guest RAM, in guest-physical order: the memdevs of the -numa nodes in
 * nodeid order if there are any, else the machine's memory-backend=, else one implicit
 * anonymous backend of ram_bytes. Returns pointers into c (n >= 1) or -EINVAL when the
 * command line is inconsistent (a -numa memdev naming no backend, sizes not adding up to -m).
 */
int qemu_cmdline_ram_backends(const QemuCmdline *c, const QemuBackend ***ret, size_t *ret_n);
