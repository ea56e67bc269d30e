/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Scratch directory trees for unit tests that need a file the fixtures do not have. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "vtism/macro.h"
#include "vtism/util.h"

/* A fresh directory /tmp/NAME-XXXXXX; free it with tmptree_remove(). */
static inline char *tmptree_new(const char *name) {
        char *dir = xasprintf("/tmp/%s-XXXXXX", name);

        check(mkdtemp(dir));
        return dir;
}

/* mkdir -p of the directory part of path below root. */
static inline void tmptree_parents(const char *root, const char *path) {
        _cleanup_free_ char *full = xasprintf("%s/%s", root, path);

        for (char *p = full + strlen(root) + 1; (p = strchr(p, '/')); p++) {
                *p = 0;
                check(mkdir(full, 0755) == 0 || errno == EEXIST);
                *p = '/';
        }
}

static inline void tmptree_write(const char *root, const char *path, const void *data, size_t size) {
        _cleanup_free_ char *full = xasprintf("%s/%s", root, path);
        _cleanup_close_ int fd = -EBADF;

        tmptree_parents(root, path);
        fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        check(fd >= 0);
        check(write(fd, data, size) == (ssize_t) size);
}

static inline void tmptree_write_str(const char *root, const char *path, const char *contents) {
        tmptree_write(root, path, contents, strlen(contents));
}

static inline void tmptree_symlink(const char *root, const char *path, const char *target) {
        _cleanup_free_ char *full = xasprintf("%s/%s", root, path);

        tmptree_parents(root, path);
        check(symlink(target, full) == 0);
}

static inline int tmptree_remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        return remove(path);
}

static inline void tmptree_remove(char *dir) {
        check(nftw(dir, tmptree_remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0);
        free(dir);
}

/* tmptree_copy()'s walk (nftw() passes no user data). */
static const char *tmptree_copy_from, *tmptree_copy_to;

static inline int tmptree_copy_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        const char *rel = path + strlen(tmptree_copy_from);
        _cleanup_free_ char *text = NULL, *dir = NULL;
        size_t size;

        if (type == FTW_D) {
                if (!*rel)
                        return 0;
                dir = xasprintf("%s%s", tmptree_copy_to, rel);
                return mkdir(dir, 0755);
        }
        if (type == FTW_F) {
                check(read_file_at_size(NULL, path, &text, &size) == 0);
                tmptree_write(tmptree_copy_to, rel + 1, text, size);
        }
        return 0;
}

/* Copy the directories and regular files below from into the directory to, which exists. */
static inline void tmptree_copy(const char *from, const char *to) {
        tmptree_copy_from = from;
        tmptree_copy_to = to;
        check(nftw(from, tmptree_copy_one, 16, FTW_PHYS) == 0);
}
