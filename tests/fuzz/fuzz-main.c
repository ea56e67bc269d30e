/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * For compilers without libFuzzer: run a harness over files and directories given on the
 * command line, once each, so the corpora still serve as regression tests. Exit 0 if every input
 * ran (a harness reports a bug by crashing), 77 if there was nothing to run.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vtism/macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t size = 0, allocated = 4096;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        buf = xmalloc(allocated);
        for (;;) {
                ssize_t l;

                if (size == allocated) {
                        allocated *= 2;
                        buf = xreallocarray(buf, allocated, 1);
                }
                l = read(fd, buf + size, allocated - size);
                if (l < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (l == 0)
                        break;
                size += (size_t) l;
        }
        /* copy to an exact-size buffer so ASan/valgrind catch overreads */
        {
                _cleanup_free_ uint8_t *exact = xmalloc(size);
                if (size > 0)
                        memcpy(exact, buf, size);
                (void) LLVMFuzzerTestOneInput(exact, size);
        }
        return 1;
}

static int run_path(const char *path) {
        struct stat st;
        DIR *d;
        struct dirent *de;
        int n = 0;

        if (stat(path, &st) < 0) {
                fprintf(stderr, "%s: %m\n", path);
                return -errno;
        }
        if (!S_ISDIR(st.st_mode))
                return run_file(path);

        d = opendir(path);
        if (!d)
                return negative_errno();
        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL;
                int r;

                if (de->d_name[0] == '.')
                        continue;
                p = xasprintf("%s/%s", path, de->d_name);
                r = run_path(p);
                if (r < 0) {
                        closedir(d);
                        return r;
                }
                n += r;
        }
        closedir(d);
        return n;
}

int main(int argc, char *argv[]) {
        int total = 0;

        for (int i = 1; i < argc; i++) {
                int r = run_path(argv[i]);

                if (r < 0) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(-r));
                        return EXIT_FAILURE;
                }
                total += r;
        }
        if (total == 0) {
                fprintf(stderr, "no inputs\n");
                return 77;
        }
        printf("%d inputs ran\n", total);
        return 0;
}
