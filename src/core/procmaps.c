/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vtism/macro.h"
#include "vtism/procmaps.h"
#include "vtism/util.h"

static const char *const mapping_kind_names[_MAPPING_KIND_MAX] = {
        [MAPPING_ANON] = "anon",
        [MAPPING_FILE] = "file",
        [MAPPING_MEMFD] = "memfd",
        [MAPPING_HUGETLBFS] = "hugetlbfs",
        [MAPPING_SHM] = "shm",
        [MAPPING_HEAP] = "heap",
        [MAPPING_STACK] = "stack",
        [MAPPING_SPECIAL] = "special",
};
assert_cc(ELEMENTSOF(mapping_kind_names) == _MAPPING_KIND_MAX);

const char *mapping_kind_to_string(MappingKind k) {
        if ((unsigned) k >= _MAPPING_KIND_MAX)
                return NULL;
        return mapping_kind_names[k];
}

MappingKind mapping_kind_from_string(const char *s) {
        if (!s)
                return _MAPPING_KIND_INVALID;
        for (unsigned k = 0; k < _MAPPING_KIND_MAX; k++)
                if (streq(s, mapping_kind_names[k]))
                        return (MappingKind) k;
        return _MAPPING_KIND_INVALID;
}

ProcMaps *procmaps_free(ProcMaps *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n; i++)
                free(m->mappings[i].path);
        free(m->mappings);
        free(m);
        return NULL;
}

static bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Does the path have a component that names a hugetlbfs mount by convention? */
static bool path_looks_hugetlbfs(const char *path) {
        const char *p = path;

        while (*p) {
                size_t l;

                while (*p == '/')
                        p++;
                l = strcspn(p, "/");
                if ((l >= 9 && startswith(p, "hugepages")) ||
                    (l >= 9 && startswith(p, "hugetlbfs")) ||
                    (l == 4 && startswith(p, "huge")))
                        return true;
                p += l;
        }
        return false;
}

static MappingKind classify(const char *path) {
        size_t l;

        if (!path)
                return MAPPING_ANON;
        l = strlen(path);
        if (path[0] == '[' && l >= 2 && path[l - 1] == ']') {
                if (streq(path, "[heap]"))
                        return MAPPING_HEAP;
                if (streq(path, "[stack]") || startswith(path, "[stack:"))
                        return MAPPING_STACK;
                if (startswith(path, "[anon:"))
                        return MAPPING_ANON;
                if (startswith(path, "[anon_shmem:"))
                        return MAPPING_SHM;
                return MAPPING_SPECIAL;
        }
        if (startswith(path, "/memfd:"))
                return MAPPING_MEMFD;
        if (streq(path, "/anon_hugepage"))
                return MAPPING_HUGETLBFS;
        if (startswith(path, "/SYSV") || startswith(path, "/dev/shm/") || streq(path, "/dev/zero"))
                return MAPPING_SHM;
        if (path[0] == '/' && path_looks_hugetlbfs(path))
                return MAPPING_HUGETLBFS;
        if (path[0] != '/')
                return MAPPING_SPECIAL; /* e.g. "anon_inode:[...]" */
        return MAPPING_FILE;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Parse hex digits at *p (at least one), advance. */
static int parse_hex(const char **p, const char *end, uint64_t *ret) {
        const char *s = *p;
        uint64_t v = 0;

        if (s >= end || hexval(*s) < 0)
                return -EBADMSG;
        for (; s < end && hexval(*s) >= 0; s++) {
                if (v >> 60)
                        return -EBADMSG;
                v = (v << 4) | (uint64_t) hexval(*s);
        }
        *p = s;
        *ret = v;
        return 0;
}

static int parse_dec(const char **p, const char *end, uint64_t *ret) {
        const char *s = *p;
        uint64_t v = 0;

        if (s >= end || *s < '0' || *s > '9')
                return -EBADMSG;
        for (; s < end && *s >= '0' && *s <= '9'; s++) {
                if (v > (UINT64_MAX - 9) / 10)
                        return -EBADMSG;
                v = v * 10 + (uint64_t) (*s - '0');
        }
        *p = s;
        *ret = v;
        return 0;
}

static int expect_char(const char **p, const char *end, char c) {
        if (*p >= end || **p != c)
                return -EBADMSG;
        (*p)++;
        return 0;
}

static int skip_blanks(const char **p, const char *end) {
        const char *s = *p;

        while (s < end && (*s == ' ' || *s == '\t'))
                s++;
        if (s == *p)
                return -EBADMSG;
        *p = s;
        return 0;
}

#define DELETED_SUFFIX " (deleted)"

static int parse_line(const char *line, const char *end, ProcMapping *ret) {
        ProcMapping m = {};
        const char *p = line;
        uint64_t major, minor;
        int r;

        if ((r = parse_hex(&p, end, &m.start_hva)) < 0 ||
            (r = expect_char(&p, end, '-')) < 0 ||
            (r = parse_hex(&p, end, &m.end_hva)) < 0 ||
            (r = skip_blanks(&p, end)) < 0)
                return r;
        if (m.end_hva <= m.start_hva)
                return -EBADMSG;

        if (end - p < 4)
                return -EBADMSG;
        if (!strchr("r-", p[0]) || !strchr("w-", p[1]) || !strchr("x-", p[2]) || !strchr("sp", p[3]) ||
            p[0] == 0 || p[1] == 0 || p[2] == 0 || p[3] == 0)
                return -EBADMSG;
        m.read = p[0] == 'r';
        m.write = p[1] == 'w';
        m.exec = p[2] == 'x';
        m.shared = p[3] == 's';
        p += 4;

        if ((r = skip_blanks(&p, end)) < 0 ||
            (r = parse_hex(&p, end, &m.offset_bytes)) < 0 ||
            (r = skip_blanks(&p, end)) < 0 ||
            (r = parse_hex(&p, end, &major)) < 0 ||
            (r = expect_char(&p, end, ':')) < 0 ||
            (r = parse_hex(&p, end, &minor)) < 0 ||
            (r = skip_blanks(&p, end)) < 0 ||
            (r = parse_dec(&p, end, &m.inode)) < 0)
                return r;
        if (major > UINT32_MAX || minor > UINT32_MAX)
                return -EBADMSG;
        m.dev_major = (unsigned) major;
        m.dev_minor = (unsigned) minor;

        /* the kernel always writes a space after the inode; then padding, then the path */
        if (p < end && *p != ' ' && *p != '\t')
                return -EBADMSG;
        while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        if (p < end) {
                size_t l = (size_t) (end - p), sl = strlen(DELETED_SUFFIX);

                if (l > sl && memcmp(end - sl, DELETED_SUFFIX, sl) == 0) {
                        m.deleted = true;
                        l -= sl;
                }
                m.path = strndup(p, l);
                if (!m.path)
                        oom();
        }
        m.kind = classify(m.path);
        *ret = m;
        return 0;
}

int procmaps_parse_string(const char *text, ProcMaps **ret, unsigned *ret_error_line) {
        _cleanup_(procmaps_freep) ProcMaps *m = NULL;
        size_t allocated = 0;
        unsigned line_no = 0;
        const char *p = text;

        m = xcalloc(1, sizeof(ProcMaps));
        while (*p) {
                const char *nl = strchr(p, '\n'), *end = nl ?: p + strlen(p);
                ProcMapping mapping;
                int r;

                line_no++;
                if (end > p) {
                        r = parse_line(p, end, &mapping);
                        if (r >= 0 && m->n > 0 && mapping.start_hva < m->mappings[m->n - 1].end_hva) {
                                free(mapping.path);
                                r = -EBADMSG; /* the kernel lists mappings ascending, without overlap */
                        }
                        if (r < 0) {
                                if (ret_error_line)
                                        *ret_error_line = line_no;
                                return r;
                        }
                        if (m->n >= allocated) {
                                allocated = MAX(allocated * 2, (size_t) 64);
                                m->mappings = xreallocarray(m->mappings, allocated, sizeof(ProcMapping));
                        }
                        m->mappings[m->n++] = mapping;
                }
                p = nl ? nl + 1 : end;
        }
        *ret = TAKE_PTR(m);
        return 0;
}

int procmaps_read(const char *root, pid_t pid, ProcMaps **ret) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        int r;

        if (pid <= 0)
                return -EINVAL;
        path = xasprintf("proc/%d/maps", (int) pid);
        r = read_file_at(root && *root ? root : "", path, &text);
        if (r < 0)
                return r;
        return procmaps_parse_string(text, ret, NULL);
}

const ProcMapping *procmaps_find(const ProcMaps *m, uint64_t hva) {
        size_t lo = 0, hi = m->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const ProcMapping *x = &m->mappings[mid];

                if (hva < x->start_hva)
                        hi = mid;
                else if (hva >= x->end_hva)
                        lo = mid + 1;
                else
                        return x;
        }
        return NULL;
}
