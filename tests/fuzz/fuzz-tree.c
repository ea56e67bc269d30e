/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An in-memory file tree below FUZZ_TREE_ROOT, served through link-time wrappers of the libc
 * calls vtism's readers make (see fuzz-tree.h). Semantics as on sysfs/tmpfs for what the readers
 * rely on: open() of a missing file fails with ENOENT (O_CREAT creates it if the parent exists),
 * O_TRUNC empties, a directory opens for reading but read() says EISDIR and opening it for
 * writing EISDIR, readdir() lists ".", ".." and the entries right below.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "fuzz-tree.h"
#include "vtism/macro.h"

#define FUZZ_TREE_ROOT "/vtism-fuzz-tree"
#define FAKE_FD_BASE 1000000
#define FAKE_FDS 64
#define FAKE_DIRS 16
#define NODES_MAX 512
#define REL_MAX 256 /* longer paths below the root do not exist (ENAMETOOLONG) */

/*
 * No allocation per operation: ASan records a stack trace for every malloc(), and a tree that
 * allocated per lookup cost more than the code under test. Nodes keep their buffers when they
 * are removed, for the next node in that slot.
 */
typedef struct Node {
        char path[REL_MAX]; /* relative to the root, no leading or trailing '/'; "" is the root */
        uint64_t hash;
        bool dir;
        char *data;
        size_t len, cap;
} Node;

typedef struct FakeFd {
        bool used;
        size_t node;  /* index into nodes */
        size_t pos;
        bool write;
} FakeFd;

typedef struct FakeDir {
        bool used;
        size_t entries[NODES_MAX + 2]; /* node indexes; SIZE_MAX - 1 ".", SIZE_MAX ".." */
        size_t n, next;
        struct dirent64 de;
} FakeDir;

static Node nodes[NODES_MAX];
static size_t n_nodes;
static FakeFd fds[FAKE_FDS];
static FakeDir dirs[FAKE_DIRS];
static unsigned long writes;

int __real_open64(const char *path, int flags, ...);
ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __real_write(int fd, const void *buf, size_t n);
int __real_close(int fd);
int __real_access(const char *path, int mode);
DIR *__real_opendir(const char *path);
struct dirent64 *__real_readdir64(DIR *d);
int __real_closedir(DIR *d);
FILE *__real_fopen64(const char *path, const char *mode);

int __wrap_open64(const char *path, int flags, ...);
ssize_t __wrap_read(int fd, void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
int __wrap_close(int fd);
int __wrap_access(const char *path, int mode);
DIR *__wrap_opendir(const char *path);
struct dirent64 *__wrap_readdir64(DIR *d);
int __wrap_closedir(DIR *d);
FILE *__wrap_fopen64(const char *path, const char *mode);

/* ---- the fields ---- */

void fuzz_fields_split(FuzzFields *f, const uint8_t *data, size_t size) {
        char *p;

        *f = (FuzzFields) {};
        f->copy = xmalloc(size + 1);
        if (size > 0)
                memcpy(f->copy, data, size);
        f->copy[size] = 0;
        p = f->copy;
        while (f->n < FUZZ_FIELDS_MAX) {
                size_t l = strnlen(p, (size_t) (f->copy + size - p));

                f->field[f->n++] = p;
                if (p + l >= f->copy + size)
                        break;
                p += l + 1;
        }
}

void fuzz_fields_done(FuzzFields *f) {
        free(f->copy);
        *f = (FuzzFields) {};
}

const char *fuzz_field(const FuzzFields *f, size_t i) {
        if (i >= f->n || strcmp(f->field[i], "-") == 0)
                return NULL;
        return f->field[i];
}

/* ---- the tree ---- */

const char *fuzz_tree_root(void) {
        return FUZZ_TREE_ROOT;
}

unsigned long fuzz_tree_writes(void) {
        return writes;
}

/* Does s start with the directory prefix p ("p" or "p/...")? By hand, see find(). */
static bool below(const char *s, const char *p) {
        for (; *p; s++, p++)
                if (*s != *p)
                        return false;
        return *s == 0 || *s == '/';
}

/* The path below the root into rel, normalized ("a//b/" -> "a/b"): 1, or 0 if it is not below
 * the root, or -ENAMETOOLONG. */
static int relative(const char *path, char rel[static REL_MAX]) {
        size_t l = sizeof(FUZZ_TREE_ROOT) - 1;
        char *o = rel;

        if (!path || !below(path, FUZZ_TREE_ROOT))
                return 0;
        for (const char *p = path + l; *p; p++) {
                if (*p == '/' && (o == rel || o[-1] == '/'))
                        continue;
                if (o >= rel + REL_MAX - 1)
                        return -ENAMETOOLONG;
                *o++ = *p;
        }
        while (o > rel && o[-1] == '/')
                o--;
        *o = 0;
        return 1;
}

/*
 * Lookups compare hashes and then bytes by hand: libFuzzer hooks strcmp() and memcmp() to learn
 * from every comparison, which made the tree's own lookups cost more than the code under test
 * (this file is built without that instrumentation, see meson.build).
 */
static uint64_t hash(const char *s) {
        uint64_t h = UINT64_C(14695981039346656037);

        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * UINT64_C(1099511628211);
        return h;
}

static bool same(const char *a, const char *b) {
        for (; *a && *a == *b; a++, b++)
                ;
        return *a == *b;
}

static ssize_t find(const char *rel) {
        uint64_t h;

        if (!*rel)
                return -2; /* the root: a directory that always exists */
        h = hash(rel);
        for (size_t i = 0; i < n_nodes; i++)
                if (nodes[i].hash == h && same(nodes[i].path, rel))
                        return (ssize_t) i;
        return -1;
}

static bool is_dir(const char *rel) {
        ssize_t i = find(rel);

        return i == -2 || (i >= 0 && nodes[i].dir);
}

static size_t add(const char *rel, bool dir) {
        Node *x;

        if (n_nodes >= NODES_MAX || strlen(rel) >= REL_MAX)
                abort(); /* a harness bug */
        x = &nodes[n_nodes];
        snprintf(x->path, sizeof(x->path), "%s", rel);
        x->hash = hash(rel);
        x->dir = dir;
        x->len = 0;
        return n_nodes++;
}

static void remove_at(size_t i) {
        Node t;

        /* swap with the last one, whose buffer stays with it */
        n_nodes--;
        t = nodes[i];
        nodes[i] = nodes[n_nodes];
        nodes[n_nodes] = t;
        /* an open fd of the moved node follows it */
        for (size_t k = 0; k < FAKE_FDS; k++)
                if (fds[k].used && fds[k].node == n_nodes)
                        fds[k].node = i;
}

/* Create the parents of rel (not rel itself). */
static void make_parents(const char *rel) {
        char p[REL_MAX];

        snprintf(p, sizeof(p), "%s", rel);
        for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
                ssize_t i;

                *s = 0;
                i = find(p);
                if (i == -1)
                        add(p, true);
                else if (i >= 0 && !nodes[i].dir)
                        abort(); /* a file in the way: a harness bug */
                *s = '/';
        }
}

static void reserve(Node *x, size_t len) {
        if (len <= x->cap)
                return;
        x->cap = MAX(len, MAX(x->cap * 2, (size_t) 64));
        x->data = xreallocarray(x->data, x->cap, 1);
}

void fuzz_tree_reset(void) {
        for (size_t k = 0; k < FAKE_FDS; k++)
                if (fds[k].used)
                        abort(); /* the code under test leaked a file descriptor */
        for (size_t k = 0; k < FAKE_DIRS; k++)
                if (dirs[k].used)
                        abort();
        n_nodes = 0; /* the buffers stay, for the next input */
}

static void set_contents(size_t i, const char *data, size_t len) {
        reserve(&nodes[i], len);
        if (len > 0)
                memcpy(nodes[i].data, data, len);
        nodes[i].len = len;
}

void fuzz_tree_put(const char *rel, const char *contents) {
        ssize_t i = find(rel);

        if (!contents) {
                if (i >= 0 && !nodes[i].dir)
                        remove_at((size_t) i);
                return;
        }
        if (i < 0) {
                make_parents(rel);
                i = (ssize_t) add(rel, false);
        }
        if (nodes[i].dir)
                abort();
        set_contents((size_t) i, contents, strlen(contents));
}

void fuzz_tree_dir(const char *rel, bool present) {
        if (present) {
                if (find(rel) == -1) {
                        make_parents(rel);
                        add(rel, true);
                }
                return;
        }
        for (size_t i = 0; i < n_nodes;)
                if (below(nodes[i].path, rel))
                        remove_at(i);
                else
                        i++;
}

/* ---- the wrappers ---- */

static FakeFd *fake_fd(int fd) {
        if (fd < FAKE_FD_BASE || fd >= FAKE_FD_BASE + FAKE_FDS || !fds[fd - FAKE_FD_BASE].used)
                return NULL;
        return &fds[fd - FAKE_FD_BASE];
}

int __wrap_open64(const char *path, int flags, ...) {
        bool writing = (flags & O_ACCMODE) != O_RDONLY;
        char rel[REL_MAX];
        ssize_t i;
        int r;

        r = relative(path, rel);
        if (r == 0) {
                va_list ap;
                mode_t mode;

                va_start(ap, flags);
                mode = (mode_t) va_arg(ap, int);
                va_end(ap);
                return __real_open64(path, flags, mode);
        }
        if (r < 0) {
                errno = -r;
                return -1;
        }
        i = find(rel);
        if (i == -1) {
                char parent[REL_MAX];
                char *slash;

                snprintf(parent, sizeof(parent), "%s", rel);
                slash = strrchr(parent, '/');
                if (slash)
                        *slash = 0;
                else
                        parent[0] = 0;
                if (!(flags & O_CREAT) || !is_dir(parent)) {
                        errno = ENOENT;
                        return -1;
                }
                i = (ssize_t) add(rel, false);
        }
        if ((i == -2 || nodes[i].dir) && writing) {
                errno = EISDIR;
                return -1;
        }
        if (i == -2) {
                errno = EACCES; /* nobody opens the root itself */
                return -1;
        }
        if (writing)
                writes++;
        if (!nodes[i].dir && writing && (flags & O_TRUNC))
                nodes[i].len = 0;
        for (int k = 0; k < FAKE_FDS; k++)
                if (!fds[k].used) {
                        fds[k] = (FakeFd) { .used = true, .node = (size_t) i, .write = writing };
                        return FAKE_FD_BASE + k;
                }
        errno = EMFILE;
        return -1;
}

ssize_t __wrap_read(int fd, void *buf, size_t n) {
        FakeFd *f = fake_fd(fd);
        Node *x;

        if (!f)
                return __real_read(fd, buf, n);
        x = &nodes[f->node];
        if (x->dir) {
                errno = EISDIR;
                return -1;
        }
        if (f->pos >= x->len)
                return 0;
        n = MIN(n, x->len - f->pos);
        memcpy(buf, x->data + f->pos, n);
        f->pos += n;
        return (ssize_t) n;
}

ssize_t __wrap_write(int fd, const void *buf, size_t n) {
        FakeFd *f = fake_fd(fd);
        Node *x;

        if (!f)
                return __real_write(fd, buf, n);
        if (!f->write) {
                errno = EBADF;
                return -1;
        }
        x = &nodes[f->node];
        reserve(x, f->pos + n);
        if (f->pos > x->len)
                memset(x->data + x->len, 0, f->pos - x->len);
        if (n > 0)
                memcpy(x->data + f->pos, buf, n);
        f->pos += n;
        x->len = MAX(x->len, f->pos);
        return (ssize_t) n;
}

int __wrap_close(int fd) {
        FakeFd *f = fake_fd(fd);

        if (!f)
                return __real_close(fd);
        f->used = false;
        return 0;
}

int __wrap_access(const char *path, int mode) {
        char rel[REL_MAX];
        int r;

        r = relative(path, rel);
        if (r == 0)
                return __real_access(path, mode);
        if (r < 0 || find(rel) == -1) {
                errno = r < 0 ? -r : ENOENT;
                return -1;
        }
        return 0;
}

static bool fake_dir(DIR *d, FakeDir **ret) {
        for (size_t k = 0; k < FAKE_DIRS; k++)
                if (dirs[k].used && (DIR *) &dirs[k] == d) {
                        *ret = &dirs[k];
                        return true;
                }
        return false;
}

DIR *__wrap_opendir(const char *path) {
        char rel[REL_MAX];
        size_t l;
        int r;

        r = relative(path, rel);
        if (r == 0)
                return __real_opendir(path);
        if (r < 0 || !is_dir(rel)) {
                errno = r < 0 ? -r : find(rel) == -1 ? ENOENT : ENOTDIR;
                return NULL;
        }
        l = strlen(rel);
        for (size_t k = 0; k < FAKE_DIRS; k++) {
                FakeDir *d = &dirs[k];

                if (d->used)
                        continue;
                d->used = true;
                d->n = d->next = 0;
                d->entries[d->n++] = SIZE_MAX - 1;
                d->entries[d->n++] = SIZE_MAX;
                for (size_t i = 0; i < n_nodes; i++) {
                        const char *p = nodes[i].path;

                        if (l > 0 && (!below(p, rel) || p[l] != '/'))
                                continue;
                        p += l > 0 ? l + 1 : 0;
                        if (!strchr(p, '/'))
                                d->entries[d->n++] = i;
                }
                return (DIR *) d;
        }
        errno = EMFILE;
        return NULL;
}

struct dirent64 *__wrap_readdir64(DIR *dirp) {
        FakeDir *d;
        size_t e;
        const char *name;

        if (!fake_dir(dirp, &d))
                return __real_readdir64(dirp);
        if (d->next >= d->n)
                return NULL;
        e = d->entries[d->next++];
        if (e == SIZE_MAX - 1)
                name = ".";
        else if (e == SIZE_MAX)
                name = "..";
        else {
                name = strrchr(nodes[e].path, '/');
                name = name ? name + 1 : nodes[e].path;
        }
        memset(&d->de, 0, sizeof(d->de));
        snprintf(d->de.d_name, sizeof(d->de.d_name), "%s", name);
        return &d->de;
}

int __wrap_closedir(DIR *dirp) {
        FakeDir *d;

        if (!fake_dir(dirp, &d))
                return __real_closedir(dirp);
        d->used = false;
        return 0;
}

FILE *__wrap_fopen64(const char *path, const char *mode) {
        char rel[REL_MAX];
        ssize_t i;
        FILE *f;
        int r;

        r = relative(path, rel);
        if (r == 0)
                return __real_fopen64(path, mode);
        i = r < 0 ? -1 : find(rel);
        if (i == -1) {
                errno = r < 0 ? -r : ENOENT;
                return NULL;
        }
        if (i == -2 || nodes[i].dir || mode[0] != 'r') {
                errno = EISDIR;
                return NULL;
        }
        if (nodes[i].len == 0)
                return __real_fopen64("/dev/null", "re");
        /* a buffer of its own, freed by fclose() */
        f = fmemopen(NULL, nodes[i].len, "w+");
        if (!f)
                return NULL;
        if (fwrite(nodes[i].data, 1, nodes[i].len, f) != nodes[i].len)
                abort();
        rewind(f);
        return f;
}
