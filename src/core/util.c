/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vtism/macro.h"
#include "vtism/util.h"

void oom(void) {
        fputs("Out of memory.\n", stderr);
        abort();
}

char *xstrdup(const char *s) {
        char *p = strdup(s);
        if (!p)
                oom();
        return p;
}

char *xasprintf(const char *fmt, ...) {
        va_list ap;
        char *p;

        va_start(ap, fmt);
        if (vasprintf(&p, fmt, ap) < 0)
                oom();
        va_end(ap);
        return p;
}

char *strextendf(char **s, const char *fmt, ...) {
        va_list ap;
        char *add, *joined;

        va_start(ap, fmt);
        if (vasprintf(&add, fmt, ap) < 0)
                oom();
        va_end(ap);
        joined = xasprintf("%s%s", *s ?: "", add);
        free(add);
        free(*s);
        return (*s = joined);
}

bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}

uint64_t string_hash(const char *s, bool nocase) {
        uint64_t x = UINT64_C(0xcbf29ce484222325);

        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;

                if (nocase && c >= 'A' && c <= 'Z')
                        c = (unsigned char) (c - 'A' + 'a');
                x = (x ^ c) * UINT64_C(0x100000001b3);
        }
        return x ^ (x >> 29);
}

int read_file_at(const char *root, const char *path, char **ret_contents) {
        return read_file_at_size(root, path, ret_contents, NULL);
}

int read_file_at_size(const char *root, const char *path, char **ret_contents, size_t *ret_size) {
        return read_file_at_max(root, path, 64 * MIB, ret_contents, ret_size);
}

int read_file_at_max(const char *root, const char *path, size_t max_bytes, char **ret_contents, size_t *ret_size) {
        _cleanup_free_ char *full = NULL, *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t size = 0, allocated = 4096;

        full = xasprintf("%s/%s", root ?: "", path);
        fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();

        buf = xmalloc(allocated);
        for (;;) {
                ssize_t n;

                if (allocated - size < 2) {
                        allocated *= 2;
                        buf = xreallocarray(buf, allocated, 1);
                }
                n = read(fd, buf + size, allocated - size - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size > max_bytes)
                        return -EFBIG;
        }
        buf[size] = 0;
        *ret_contents = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = size;
        return 0;
}

int read_line_at(const char *root, const char *path, char **ret_line) {
        char *s;
        size_t l;
        int r;

        r = read_file_at(root, path, &s);
        if (r < 0)
                return r;
        l = strlen(s);
        while (l > 0 && isspace((unsigned char) s[l - 1]))
                s[--l] = 0;
        *ret_line = s;
        return 0;
}

static int cmp_int(const void *a, const void *b) {
        int x = *(const int *) a, y = *(const int *) b;
        return (x > y) - (x < y);
}

int parse_int_list(const char *s, int **ret_list, size_t *ret_n) {
        _cleanup_free_ int *list = NULL;
        size_t n = 0, allocated = 0;
        const char *p = s;

        while (isspace((unsigned char) *p))
                p++;
        while (*p && !isspace((unsigned char) *p)) {
                char *end;
                long a, b;

                if (!isdigit((unsigned char) *p))
                        return -EINVAL;
                errno = 0;
                a = strtol(p, &end, 10);
                if (errno != 0 || a > 1 << 20)
                        return -ERANGE;
                b = a;
                if (*end == '-') {
                        p = end + 1;
                        if (!isdigit((unsigned char) *p))
                                return -EINVAL;
                        b = strtol(p, &end, 10);
                        if (errno != 0 || b > 1 << 20)
                                return -ERANGE;
                        if (b < a)
                                return -EINVAL;
                }
                for (long i = a; i <= b; i++) {
                        if (n >= allocated) {
                                allocated = MAX(allocated * 2, (size_t) 16);
                                list = xreallocarray(list, allocated, sizeof(int));
                        }
                        list[n++] = (int) i;
                }
                p = end;
                if (*p == ',')
                        p++;
                else if (*p && !isspace((unsigned char) *p))
                        return -EINVAL;
        }
        while (isspace((unsigned char) *p))
                p++;
        if (*p)
                return -EINVAL;

        if (n > 0) {
                size_t k = 0;

                qsort(list, n, sizeof(int), cmp_int);
                for (size_t i = 0; i < n; i++)
                        if (k == 0 || list[k - 1] != list[i])
                                list[k++] = list[i];
                n = k;
        }
        *ret_list = TAKE_PTR(list);
        *ret_n = n;
        return 0;
}

char *format_int_list(const int *list, size_t n) {
        char *buf = xstrdup("");

        for (size_t i = 0; i < n;) {
                size_t j = i;
                char *next;

                while (j + 1 < n && list[j + 1] == list[j] + 1)
                        j++;
                if (j == i)
                        next = xasprintf("%s%s%d", buf, *buf ? "," : "", list[i]);
                else
                        next = xasprintf("%s%s%d-%d", buf, *buf ? "," : "", list[i], list[j]);
                free(buf);
                buf = next;
                i = j + 1;
        }
        return buf;
}

bool int_list_contains(const int *list, size_t n, int v) {
        for (size_t i = 0; i < n; i++)
                if (list[i] == v)
                        return true;
        return false;
}

char *join_int_list(const int *list, size_t n, const char *separator) {
        char *buf = xstrdup("");

        for (size_t i = 0; i < n; i++) {
                char *next = xasprintf("%s%s%d", buf, i > 0 ? separator : "", list[i]);
                free(buf);
                buf = next;
        }
        return buf;
}

int safe_atou64(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (!s || !isdigit((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0)
                return -ERANGE;
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int read_u64_at(const char *root, const char *path, uint64_t *ret) {
        _cleanup_free_ char *line = NULL;
        unsigned long long v;
        char *end;
        int r, base = 10;
        const char *p;

        r = read_line_at(root, path, &line);
        if (r < 0)
                return r;
        p = line;
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
                p += 2;
                base = 16;
        }
        if (!isxdigit((unsigned char) *p) || (base == 10 && !isdigit((unsigned char) *p)))
                return -EINVAL;
        errno = 0;
        v = strtoull(p, &end, base);
        if (errno != 0)
                return -ERANGE;
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int safe_atoi(const char *s, int *ret) {
        char *end;
        long v;

        if (!s || !*s)
                return -EINVAL;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || v < INT32_MIN || v > INT32_MAX)
                return -ERANGE;
        if (*end)
                return -EINVAL;
        *ret = (int) v;
        return 0;
}

int parse_size_unit(const char *s, uint64_t default_unit, uint64_t *ret_bytes) {
        static const char units[] = "BKMGTPE"; /* powers of 1024 */
        uint64_t factor = default_unit;
        unsigned long long v;
        char *end;

        if (!s || !isdigit((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0)
                return -ERANGE;
        while (*end == ' ')
                end++;
        if (*end) {
                const char *u = strchr(units, toupper((unsigned char) *end));

                if (!u || !*u)
                        return -EINVAL;
                factor = UINT64_C(1) << (10 * (u - units));
                end++;
                if (u != units) { /* "K", "KB", "KiB" */
                        if (*end == 'i')
                                end++;
                        if (*end == 'B')
                                end++;
                }
                if (*end)
                        return -EINVAL;
        }
        if (v > UINT64_MAX / factor)
                return -ERANGE;
        *ret_bytes = v * factor;
        return 0;
}

int parse_size(const char *s, uint64_t *ret_bytes) {
        return parse_size_unit(s, 1, ret_bytes);
}

char *format_bytes(char *buf, size_t len, uint64_t bytes) {
        static const char *const suffix[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
        size_t i = 0;
        uint64_t div = 1;

        while (i + 1 < ELEMENTSOF(suffix) && bytes / div >= 1024) {
                div *= 1024;
                i++;
        }
        if (i == 0)
                snprintf(buf, len, "%" PRIu64 " B", bytes);
        else {
                uint64_t tenths = (bytes * 10 + div / 2) / div;
                if (bytes > UINT64_MAX / 10)
                        tenths = bytes / (div / 10);
                if (tenths % 10 == 0)
                        snprintf(buf, len, "%" PRIu64 " %s", tenths / 10, suffix[i]);
                else
                        snprintf(buf, len, "%" PRIu64 ".%" PRIu64 " %s", tenths / 10, tenths % 10, suffix[i]);
        }
        return buf;
}

int pread_full(int fd, void *buf, size_t size, uint64_t offset, size_t *ret_done) {
        size_t done = 0;

        while (done < size) {
                ssize_t n = pread(fd, (uint8_t *) buf + done, size - done, (off_t) (offset + done));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;
                done += (size_t) n;
        }
        memset((uint8_t *) buf + done, 0, size - done);
        if (ret_done)
                *ret_done = done;
        return 0;
}

usec_t clock_now_usec(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}
