/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Memory blocks and the pfn -> node map; the model is in include/vtism/memory-blocks.h. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vtism/memory-blocks.h"
#include "vtism/util.h"

#define NODE_DIR "devices/system/node"
#define MEMORY_DIR "devices/system/memory"
#define PAGE_BYTES UINT64_C(4096)

static const char *const memory_block_state_table[_MEMORY_BLOCK_STATE_MAX] = {
        [MEMORY_BLOCK_ONLINE] = "online",
        [MEMORY_BLOCK_OFFLINE] = "offline",
        [MEMORY_BLOCK_GOING_OFFLINE] = "going-offline",
};
assert_cc(ELEMENTSOF(memory_block_state_table) == _MEMORY_BLOCK_STATE_MAX);

const char *memory_block_state_to_string(MemoryBlockStateKind s) {
        if ((unsigned) s >= _MEMORY_BLOCK_STATE_MAX)
                return NULL;
        return memory_block_state_table[s];
}

MemoryBlocks *memory_blocks_free(MemoryBlocks *m) {
        if (!m)
                return NULL;
        free(m->runs);
        free(m->spans);
        free(m);
        return NULL;
}

/* "nodeN" / "memoryN" -> N; -EINVAL for anything else. */
static int parse_numbered(const char *name, const char *prefix, uint64_t *ret) {
        size_t l = strlen(prefix);

        if (strncmp(name, prefix, l) != 0 || name[l] < '0' || name[l] > '9')
                return -EINVAL;
        return safe_atou64(name + l, ret);
}

static int read_hex_u64_at(const char *root, const char *path, uint64_t *ret) {
        _cleanup_free_ char *line = NULL;
        const char *p;
        char *end;
        uint64_t v;
        int r;

        r = read_line_at(root, path, &line);
        if (r < 0)
                return r;
        p = line;
        if (strncmp(p, "0x", 2) == 0)
                p += 2;
        if (!*p || strspn(p, "0123456789abcdefABCDEF") != strlen(p))
                return -EINVAL;
        errno = 0;
        v = strtoull(p, &end, 16);
        if (errno != 0)
                return -ERANGE;
        *ret = v;
        return 0;
}

typedef struct BlockLink {
        uint64_t index;
        int node;
} BlockLink;

static int cmp_link(const void *a, const void *b) {
        const BlockLink *x = a, *y = b;

        if (x->index != y->index)
                return (x->index > y->index) - (x->index < y->index);
        return (x->node > y->node) - (x->node < y->node);
}

/* Append every memoryN entry of node_dir (a directory below root) as (N, node). */
static int read_node_links(const char *root, int node, BlockLink **links, size_t *n, size_t *allocated) {
        _cleanup_free_ char *path = xasprintf("%s/" NODE_DIR "/node%d", root, node);
        _cleanup_(closedirp) DIR *d = opendir(path);

        if (!d)
                return negative_errno();
        for (;;) {
                struct dirent *de;
                uint64_t index;

                errno = 0;
                de = readdir(d);
                if (!de)
                        return errno != 0 ? negative_errno() : 0;
                if (parse_numbered(de->d_name, "memory", &index) < 0)
                        continue; /* memory_failure/, memory_side_cache/, ... */
                if (*n >= *allocated) {
                        *allocated = MAX(*allocated * 2, (size_t) 64);
                        *links = xreallocarray(*links, *allocated, sizeof(BlockLink));
                }
                (*links)[(*n)++] = (BlockLink) { .index = index, .node = node };
        }
}

static void push_run(MemoryBlocks *m, size_t *allocated, uint64_t index, int node, uint64_t mask) {
        MemoryBlockRun *last = m->n_runs > 0 ? &m->runs[m->n_runs - 1] : NULL;

        if (last && last->first + last->n_blocks == index && last->node == node && last->node_mask == mask) {
                last->n_blocks++;
                return;
        }
        if (m->n_runs >= *allocated) {
                *allocated = MAX(*allocated * 2, (size_t) 16);
                m->runs = xreallocarray(m->runs, *allocated, sizeof(MemoryBlockRun));
        }
        m->runs[m->n_runs++] = (MemoryBlockRun) { .first = index, .n_blocks = 1, .node = node, .node_mask = mask };
}

static int load_blocks(const char *root, MemoryBlocks *m) {
        _cleanup_free_ char *path = xasprintf("%s/" NODE_DIR, root);
        _cleanup_free_ BlockLink *links = NULL;
        _cleanup_(closedirp) DIR *d = NULL;
        size_t n = 0, allocated = 0, runs_allocated = 0;
        bool any_node = false;
        int r;

        r = read_hex_u64_at(root, MEMORY_DIR "/block_size_bytes", &m->block_bytes);
        if (r == -ENOENT)
                m->block_bytes = 0;
        else if (r < 0)
                return r;
        else if (m->block_bytes < PAGE_BYTES || m->block_bytes % PAGE_BYTES != 0)
                return -EINVAL;

        d = opendir(path);
        if (!d)
                return negative_errno();
        for (;;) {
                struct dirent *de;
                uint64_t node;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return negative_errno();
                        break;
                }
                if (parse_numbered(de->d_name, "node", &node) < 0 || node > INT32_MAX)
                        continue;
                any_node = true;
                if (m->block_bytes == 0)
                        continue;
                r = read_node_links(root, (int) node, &links, &n, &allocated);
                if (r < 0)
                        return r;
        }
        if (!any_node)
                return -ENOENT;

        if (n > 0)
                qsort(links, n, sizeof(BlockLink), cmp_link);
        for (size_t i = 0; i < n;) {
                size_t j = i + 1;
                uint64_t mask = 0;

                while (j < n && links[j].index == links[i].index)
                        j++;
                if (j - i == 1) {
                        push_run(m, &runs_allocated, links[i].index, links[i].node, 0);
                        i = j;
                        continue;
                }
                for (size_t k = i; k < j; k++) {
                        if (k > i && links[k].node == links[k - 1].node)
                                return -EINVAL; /* one node cannot link a block twice */
                        if (links[k].node < 64)
                                mask |= UINT64_C(1) << links[k].node;
                }
                push_run(m, &runs_allocated, links[i].index, -2, mask);
                i = j;
        }
        return 0;
}

/*
 * /proc/zoneinfo: "Node 0, zone   Normal" starts a zone; its "spanned N" and, for populated
 * zones, "start_pfn: N" lines (indented) follow before the next header.
 */
static int parse_zoneinfo(const char *text, MemoryBlocks *m) {
        size_t allocated = 0;
        bool in_zone = false, have_spanned = false, have_start = false;
        int node = -1;
        uint64_t spanned = 0, start = 0;

        for (const char *p = text;; ) {
                const char *eol = strchrnul(p, '\n');
                _cleanup_free_ char *line = strndup(p, (size_t) (eol - p));
                bool header, last = !*eol;
                char key[32];
                uint64_t v;
                int n;

                if (!line)
                        oom();
                header = strncmp(line, "Node ", 5) == 0;
                if ((header || last) && in_zone) {
                        /* Unpopulated zones end after "protection:", without start_pfn. */
                        if (!have_spanned)
                                return -EINVAL;
                        if (spanned > 0 && have_start) {
                                if (start > UINT64_MAX - spanned)
                                        return -ERANGE;
                                if (m->n_spans >= allocated) {
                                        allocated = MAX(allocated * 2, (size_t) 8);
                                        m->spans = xreallocarray(m->spans, allocated, sizeof(ZoneSpan));
                                }
                                m->spans[m->n_spans++] = (ZoneSpan) {
                                        .node = node, .start_pfn = start, .end_pfn = start + spanned,
                                };
                        }
                        in_zone = false;
                }
                if (header) {
                        char zone[32];

                        if (sscanf(line, "Node %d, zone %31s", &node, zone) != 2 || node < 0)
                                return -EINVAL;
                        in_zone = true;
                        have_spanned = have_start = false;
                } else if (in_zone && sscanf(line, " %31s %" SCNu64 "%n", key, &v, &n) == 2) {
                        if (streq(key, "spanned")) {
                                spanned = v;
                                have_spanned = true;
                        } else if (streq(key, "start_pfn:")) {
                                start = v;
                                have_start = true;
                        }
                }
                if (last)
                        break;
                p = eol + 1;
        }
        return 0;
}

int memory_blocks_load(const char *sysfs_root, const char *proc_root, MemoryBlocks **ret) {
        _cleanup_(memory_blocks_freep) MemoryBlocks *m = NULL;
        int r;

        if (!sysfs_root || !ret)
                return -EINVAL;

        m = xcalloc(1, sizeof(MemoryBlocks));
        r = load_blocks(sysfs_root, m);
        if (r < 0)
                return r;

        if (proc_root) {
                _cleanup_free_ char *text = NULL;

                r = read_file_at(proc_root, "zoneinfo", &text);
                if (r < 0)
                        return r;
                r = parse_zoneinfo(text, m);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(m);
        return 0;
}

/* The one node among `mask` (all nodes if mask is 0) whose zones span pfn, else -1. */
static int node_by_span(const MemoryBlocks *m, uint64_t pfn, uint64_t mask) {
        int found = -1;

        for (size_t i = 0; i < m->n_spans; i++) {
                const ZoneSpan *s = &m->spans[i];

                if (pfn < s->start_pfn || pfn >= s->end_pfn)
                        continue;
                if (mask != 0 && (s->node >= 64 || !(mask & (UINT64_C(1) << s->node))))
                        continue;
                if (found >= 0 && found != s->node)
                        return -1; /* spans of two candidates overlap here */
                found = s->node;
        }
        return found;
}

int memory_blocks_node_of_pfn(const MemoryBlocks *m, uint64_t pfn) {
        uint64_t pages_per_block, index;
        size_t lo = 0, hi;

        if (!m)
                return -1;
        if (m->block_bytes == 0)
                return node_by_span(m, pfn, 0);

        pages_per_block = m->block_bytes / PAGE_BYTES;
        index = pfn / pages_per_block;
        hi = m->n_runs;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const MemoryBlockRun *r = &m->runs[mid];

                if (index < r->first)
                        hi = mid;
                else if (index >= r->first + r->n_blocks)
                        lo = mid + 1;
                else if (r->node >= 0)
                        return r->node;
                else
                        return r->node_mask != 0 ? node_by_span(m, pfn, r->node_mask) : -1;
        }
        return -1;
}

void memory_blocks_range(const MemoryBlocks *m, uint64_t start, uint64_t len, uint64_t *ret_first, uint64_t *ret_end) {
        if (!m || m->block_bytes == 0 || len == 0) {
                *ret_first = *ret_end = 0;
                return;
        }
        *ret_first = start / m->block_bytes;
        *ret_end = start > UINT64_MAX - len ? UINT64_MAX / m->block_bytes + 1 : DIV_ROUND_UP(start + len, m->block_bytes);
}

int memory_block_state_read(const char *sysfs_root, uint64_t index, MemoryBlockState *ret) {
        _cleanup_free_ char *path = NULL, *state = NULL, *zones = NULL;
        MemoryBlockState s = {};
        size_t l;
        int r;

        if (!sysfs_root || !ret)
                return -EINVAL;

        path = xasprintf(MEMORY_DIR "/memory%" PRIu64 "/state", index);
        r = read_line_at(sysfs_root, path, &state);
        if (r < 0)
                return r;
        free(path);
        path = xasprintf(MEMORY_DIR "/memory%" PRIu64 "/valid_zones", index);
        r = read_line_at(sysfs_root, path, &zones);
        if (r < 0)
                return r;

        s.state = _MEMORY_BLOCK_STATE_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(memory_block_state_table); i++)
                if (streq(state, memory_block_state_table[i]))
                        s.state = (MemoryBlockStateKind) i;
        if (s.state < 0)
                return -EINVAL;

        /* "Movable" (online), "Normal Movable" (offline: default first), "none" */
        l = strcspn(zones, " ");
        if (l == 0 || l >= sizeof(s.zone))
                return -EINVAL;
        memcpy(s.zone, zones, l);
        s.zone[l] = 0;
        s.movable = s.state == MEMORY_BLOCK_ONLINE && streq(s.zone, "Movable");

        *ret = s;
        return 0;
}
