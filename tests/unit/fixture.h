/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Building fixture trees (fake /proc and /sys files) for the unit tests. */
#pragma once

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

/* mkdir -p */
static inline void fixture_mkdir_p(const char *path) {
        char buf[512];

        snprintf(buf, sizeof(buf), "%s", path);
        for (char *p = buf + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        (void) mkdir(buf, 0755);
                        *p = '/';
                }
        (void) mkdir(buf, 0755);
}

/* Write size bytes at offset, creating the file (sparse below offset). */
static inline void fixture_write_at(const char *path, const void *buf, size_t size, uint64_t offset) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

        check(fd >= 0);
        check(pwrite(fd, buf, size, (off_t) offset) == (ssize_t) size);
        close(fd);
}
