/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* One time type for the whole project, in microseconds. */
typedef uint64_t usec_t;
#define USEC_INFINITY ((usec_t) UINT64_MAX)
#define USEC_PER_MSEC ((usec_t) 1000ULL)
#define USEC_PER_SEC ((usec_t) 1000000ULL)

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define TIB (UINT64_C(1) << 40)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define assert_cc(expr) _Static_assert(expr, #expr)

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define DIV_ROUND_UP(x, y) (((x) + (y) - 1) / (y))

/* Return the old value of *p and clear it: for handing ownership on. */
#define TAKE_PTR(p)                             \
        ({                                      \
                __typeof__(p) _p_ = (p);        \
                (p) = NULL;                     \
                _p_;                            \
        })
#define TAKE_FD(fd)                             \
        ({                                      \
                int _fd_ = (fd);                \
                (fd) = -EBADF;                  \
                _fd_;                           \
        })

/* Out of memory is fatal in vtism: there is no sane way to go on. */
_noreturn_ void oom(void);

static inline void *xmalloc(size_t n) {
        void *p = malloc(n ?: 1);
        if (!p)
                oom();
        return p;
}
static inline void *xcalloc(size_t n, size_t m) {
        void *p = calloc(n ?: 1, m ?: 1);
        if (!p)
                oom();
        return p;
}
static inline void *xreallocarray(void *p, size_t n, size_t m) {
        p = reallocarray(p, n ?: 1, m ?: 1);
        if (!p)
                oom();
        return p;
}
char *xstrdup(const char *s);
_printf_(1, 2) char *xasprintf(const char *fmt, ...);

static inline void freep(void *p) {
        free(*(void **) p);
}
static inline void closep(int *fd) {
        if (*fd >= 0)
                (void) close(*fd);
}
static inline void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}
static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}

/* Declares name##p(), a cleanup wrapper around a destructor that accepts NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)         \
        static inline void func##p(type *p) {           \
                if (*p)                                 \
                        func(*p);                       \
        }

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}
