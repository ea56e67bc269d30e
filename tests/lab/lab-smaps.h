/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the lab programs and benchmarks read from /proc/PID/smaps. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "vtism/macro.h"

/* AnonHugePages (KiB) of the mapping of process pid (0: ourselves) that contains addr; -errno. */
static inline long lab_anon_huge_kib(pid_t pid, uint64_t addr) {
        char path[64], line[512];
        _cleanup_fclose_ FILE *f = NULL;
        bool in = false;

        if (pid > 0)
                snprintf(path, sizeof(path), "/proc/%d/smaps", (int) pid);
        else
                snprintf(path, sizeof(path), "/proc/self/smaps");
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                unsigned long long start, end;
                long kib;

                if (sscanf(line, "%llx-%llx ", &start, &end) == 2 && strchr(line, '-') < strchr(line, ' ')) {
                        in = start <= addr && addr < end;
                        continue;
                }
                if (in && sscanf(line, "AnonHugePages: %ld kB", &kib) == 1)
                        return kib;
        }
        return -ENOENT;
}
