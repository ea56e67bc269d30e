/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fake-guest -m SIZE [QEMU ARGUMENTS...]: a process vtismd takes for a QEMU whose guest RAM is
 * real memory: one anonymous mapping of exactly SIZE (MiB, or with a K, M, G suffix), 2 MiB
 * aligned and between PROT_NONE guards as QEMU's is. Run it as
 * `exec -a fake-guest-pending fake-guest -m 64 -name guest=NAME`: once its memory is written it
 * overwrites that argv[0] in place with "qemu-system-x86_64" (the same length, so
 * /proc/PID/cmdline shows it), and only then does vtismd's /proc scan take it for a QEMU; its
 * first summaries see the memory whole. The memory is written as told by the environment:
 *   FAKE_GUEST_THP=on|off    madvise(MADV_HUGEPAGE / MADV_NOHUGEPAGE) first (default: neither)
 *   FAKE_GUEST_TOUCH=MIB     write one byte per 4 KiB page of the first MIB MiB (default: all;
 *                            0: nothing, a sparse guest that costs no memory)
 *   FAKE_GUEST_READY=FILE    written ("pid=N hva=0x...") once the memory is touched
 * Then it waits for a signal. For the contiguity tests (test-contiguity.sh).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MIB (UINT64_C(1) << 20)

static int parse_mib(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || end == s)
                return -1;
        switch (*end) {
        case 0:
        case 'M':
        case 'm':
                *ret = v * MIB;
                return 0;
        case 'G':
        case 'g':
                *ret = v << 30;
                return 0;
        case 'K':
        case 'k':
                *ret = v << 10;
                return 0;
        default:
                return -1;
        }
}

#define PENDING_NAME "fake-guest-pending"
#define QEMU_NAME "qemu-system-x86_64"

int main(int argc, char *argv[]) {
        const char *thp = getenv("FAKE_GUEST_THP"), *touch = getenv("FAKE_GUEST_TOUCH"), *ready = getenv("FAKE_GUEST_READY");
        uint64_t size = 0, touch_bytes;
        uint8_t *base, *ram;

        for (int i = 1; i + 1 < argc; i++)
                if (strcmp(argv[i], "-m") == 0 && parse_mib(argv[i + 1], &size) < 0) {
                        fprintf(stderr, "fake-guest: bad size '%s'\n", argv[i + 1]);
                        return 2;
                }
        if (size == 0 || size % (2 * MIB) != 0) {
                fprintf(stderr, "fake-guest: give -m SIZE, a multiple of 2 MiB\n");
                return 2;
        }
        touch_bytes = touch ? (uint64_t) strtoull(touch, NULL, 10) * MIB : size;
        if (touch_bytes > size)
                touch_bytes = size;

        /* guard, 2 MiB-aligned RAM, guard: separate mappings that cannot merge with others */
        base = mmap(NULL, size + 4 * MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (base == MAP_FAILED) {
                perror("fake-guest: mmap");
                return 1;
        }
        ram = (uint8_t *) (((uintptr_t) base + 2 * MIB) & ~(uintptr_t) (2 * MIB - 1));
        if (mprotect(ram, size, PROT_READ | PROT_WRITE) < 0) {
                perror("fake-guest: mprotect");
                return 1;
        }
        if (thp && (strcmp(thp, "on") == 0 || strcmp(thp, "off") == 0) &&
            madvise(ram, size, strcmp(thp, "on") == 0 ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) < 0) {
                perror("fake-guest: madvise");
                return 1;
        }
        for (uint64_t o = 0; o < touch_bytes; o += 4096)
                ram[o] = 1;
        _Static_assert(sizeof(PENDING_NAME) == sizeof(QEMU_NAME), "argv[0] is rewritten in place");
        if (strcmp(argv[0], PENDING_NAME) == 0)
                memcpy(argv[0], QEMU_NAME, sizeof(QEMU_NAME));
        if (ready) {
                char tmp[4096];
                FILE *f;

                snprintf(tmp, sizeof(tmp), "%s.tmp", ready);
                f = fopen(tmp, "we");
                if (!f || fprintf(f, "pid=%d hva=%p\n", (int) getpid(), (void *) ram) < 0 || fclose(f) != 0 ||
                    rename(tmp, ready) < 0) {
                        perror("fake-guest: ready file");
                        return 1;
                }
        }
        for (;;)
                pause();
}
