/* SPDX-License-Identifier: GPL-2.0-or-later */
/* CXL and DAX devices behind NUMA nodes; the model is in include/vtism/cxl-devices.h. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vtism/cxl-devices.h"
#include "vtism/memory-blocks.h"
#include "vtism/util.h"

#define CXL_DEVICES "bus/cxl/devices"
#define DAX_DEVICES "bus/dax/devices"
#define NODE_DIR "devices/system/node"

static const char *const dax_mode_table[_DAX_MODE_MAX] = {
        [DAX_MODE_SYSTEM_RAM] = "system-ram",
        [DAX_MODE_DEVDAX] = "devdax",
        [DAX_MODE_DISABLED] = "disabled",
        [DAX_MODE_OTHER] = "other",
};
assert_cc(ELEMENTSOF(dax_mode_table) == _DAX_MODE_MAX);

static const char *const dax_source_table[_DAX_SOURCE_MAX] = {
        [DAX_SOURCE_CXL_REGION] = "cxl-region",
        [DAX_SOURCE_NVDIMM] = "nvdimm",
        [DAX_SOURCE_SOFT_RESERVED] = "soft-reserved",
        [DAX_SOURCE_OTHER] = "other",
};
assert_cc(ELEMENTSOF(dax_source_table) == _DAX_SOURCE_MAX);

static const char *const node_kind_table[_NODE_KIND_MAX] = {
        [NODE_KIND_DRAM] = "dram",
        [NODE_KIND_CXL] = "cxl",
        [NODE_KIND_PMEM] = "pmem",
        [NODE_KIND_SOFT_RESERVED] = "soft-reserved",
        [NODE_KIND_EMULATED] = "emulated",
        [NODE_KIND_BOOT_MEMORY] = "boot-memory",
};
assert_cc(ELEMENTSOF(node_kind_table) == _NODE_KIND_MAX);

const char *dax_mode_to_string(DaxMode m) {
        return (unsigned) m < _DAX_MODE_MAX ? dax_mode_table[m] : NULL;
}

const char *dax_source_to_string(DaxSource s) {
        return (unsigned) s < _DAX_SOURCE_MAX ? dax_source_table[s] : NULL;
}

const char *node_kind_to_string(NodeKind k) {
        return (unsigned) k < _NODE_KIND_MAX ? node_kind_table[k] : NULL;
}

CxlDevices *cxl_devices_free(CxlDevices *d) {
        if (!d)
                return NULL;
        for (size_t i = 0; i < d->n_memdevs; i++) {
                free(d->memdevs[i].name);
                free(d->memdevs[i].parent);
                free(d->memdevs[i].serial);
        }
        for (size_t i = 0; i < d->n_windows; i++)
                free(d->windows[i].name);
        for (size_t i = 0; i < d->n_regions; i++) {
                free(d->regions[i].name);
                free(d->regions[i].mode);
                free(d->regions[i].memdevs);
        }
        for (size_t i = 0; i < d->n_dax; i++) {
                free(d->dax[i].name);
                free(d->dax[i].provider);
                free(d->dax[i].ranges);
        }
        for (size_t i = 0; i < d->n_nodes; i++) {
                free(d->nodes[i].dax);
                free(d->nodes[i].regions);
                free(d->nodes[i].description);
        }
        free(d->memdevs);
        free(d->windows);
        free(d->regions);
        free(d->dax);
        free(d->nodes);
        free(d);
        return NULL;
}

/* --- small helpers --- */

static bool isdigit_c(char c) {
        return c >= '0' && c <= '9';
}

static bool dir_exists_at(const char *root, const char *path) {
        _cleanup_free_ char *full = xasprintf("%s/%s", root, path);
        _cleanup_(closedirp) DIR *d = opendir(full);

        return d != NULL;
}

/* "mem12" -> prefix "mem", 12; for sorting names the way people count. */
static int cmp_names(const void *a, const void *b) {
        const char *x = *(const char *const *) a, *y = *(const char *const *) b;
        size_t px = strcspn(x, "0123456789"), py = strcspn(y, "0123456789");
        int c;

        if (px != py || strncmp(x, y, px) != 0)
                return strcmp(x, y);
        for (x += px, y += px; *x && *y;) {
                if (isdigit_c(*x) && isdigit_c(*y)) {
                        char *ex, *ey;
                        unsigned long long u = strtoull(x, &ex, 10), v = strtoull(y, &ey, 10);

                        x = ex;
                        y = ey;
                        if (u != v)
                                return (u > v) - (u < v);
                        continue;
                }
                if (*x != *y)
                        return (unsigned char) *x - (unsigned char) *y;
                x++, y++;
        }
        c = (unsigned char) *x - (unsigned char) *y;
        return c;
}

/* Entry names of a directory below root, sorted; -ENOENT when it does not exist. */
static int list_dir(const char *root, const char *path, char ***ret, size_t *ret_n) {
        _cleanup_free_ char *full = xasprintf("%s/%s", root, path);
        _cleanup_(closedirp) DIR *d = opendir(full);
        char **names = NULL;
        size_t n = 0, allocated = 0;

        if (!d)
                return negative_errno();
        for (;;) {
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0) {
                                int r = negative_errno();

                                for (size_t i = 0; i < n; i++)
                                        free(names[i]);
                                free(names);
                                return r;
                        }
                        break;
                }
                if (de->d_name[0] == '.')
                        continue;
                if (n >= allocated) {
                        allocated = MAX(allocated * 2, (size_t) 16);
                        names = xreallocarray(names, allocated, sizeof(char *));
                }
                names[n++] = xstrdup(de->d_name);
        }
        if (n > 0)
                qsort(names, n, sizeof(char *), cmp_names);
        *ret = names;
        *ret_n = n;
        return 0;
}

static void free_names(char **names, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

static bool numbered(const char *name, const char *prefix) {
        size_t l = strlen(prefix);

        return strncmp(name, prefix, l) == 0 && isdigit_c(name[l]) && strspn(name + l, "0123456789.") == strlen(name + l);
}

/* The real directory a bus entry points to, relative to root ("devices/..."), or NULL. */
static char *real_below(const char *root, const char *path) {
        _cleanup_free_ char *full = xasprintf("%s/%s", root, path), *real_root = realpath(root, NULL);
        char *real = realpath(full, NULL), *rel;
        size_t l;

        if (!real || !real_root)
                goto fail;
        l = strlen(real_root);
        if (strncmp(real, real_root, l) != 0 || (real[l] != '/' && real[l] != 0))
                goto fail; /* outside the root: not ours to read */
        rel = xstrdup(real[l] == '/' ? real + l + 1 : real + l);
        free(real);
        return rel;
fail:
        free(real);
        return NULL;
}

/* Last path component of a symlink's target below root (a driver, a uport), or NULL. */
static char *link_basename(const char *root, const char *path) {
        _cleanup_free_ char *full = xasprintf("%s/%s", root, path);
        char buf[PATH_MAX];
        ssize_t l = readlink(full, buf, sizeof(buf) - 1);
        const char *slash;

        if (l <= 0)
                return NULL;
        buf[l] = 0;
        slash = strrchr(buf, '/');
        return xstrdup(slash ? slash + 1 : buf);
}

static int read_string(const char *root, const char *dir, const char *file, char **ret) {
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, file);

        return read_line_at(root, path, ret);
}

static int read_u64(const char *root, const char *dir, const char *file, uint64_t *ret) {
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, file);

        return read_u64_at(root, path, ret);
}

static int read_unsigned(const char *root, const char *dir, const char *file, unsigned *ret) {
        uint64_t v;
        int r = read_u64(root, dir, file, &v);

        if (r < 0)
                return r;
        if (v > UINT_MAX)
                return -ERANGE;
        *ret = (unsigned) v;
        return 0;
}

/* An optional integer file (numa_node, target_node): -1 when absent. */
static int read_node_id(const char *root, const char *dir, const char *file, int *ret) {
        _cleanup_free_ char *s = NULL;
        int r = read_string(root, dir, file, &s), v;

        if (r == -ENOENT) {
                *ret = -1;
                return 0;
        }
        if (r < 0)
                return r;
        r = safe_atoi(s, &v);
        if (r < 0 || v < -1)
                return -EINVAL;
        *ret = v;
        return 0;
}

static bool range_overlaps(const PhysRange *a, const PhysRange *b) {
        return a->start < b->end && b->start < a->end;
}

static ssize_t find_window(const CxlDevices *d, const PhysRange *r) {
        for (size_t i = 0; i < d->n_windows; i++)
                if (range_overlaps(&d->windows[i].range, r))
                        return (ssize_t) i;
        return -1;
}

static ssize_t find_region_by_range(const CxlDevices *d, const PhysRange *r) {
        for (size_t i = 0; i < d->n_regions; i++)
                if (range_overlaps(&d->regions[i].range, r))
                        return (ssize_t) i;
        return -1;
}

static ssize_t find_region_by_name(const CxlDevices *d, const char *name) {
        for (size_t i = 0; i < d->n_regions; i++)
                if (streq(d->regions[i].name, name))
                        return (ssize_t) i;
        return -1;
}

static ssize_t find_memdev(const CxlDevices *d, const char *name) {
        for (size_t i = 0; i < d->n_memdevs; i++)
                if (streq(d->memdevs[i].name, name))
                        return (ssize_t) i;
        return -1;
}

static void push_index(size_t **list, size_t *n, size_t v) {
        for (size_t i = 0; i < *n; i++)
                if ((*list)[i] == v)
                        return;
        *list = xreallocarray(*list, *n + 1, sizeof(size_t));
        (*list)[(*n)++] = v;
}

/* --- the CXL bus --- */

static int load_memdev(const char *root, const char *name, CxlDevices *d) {
        _cleanup_free_ char *link = xasprintf(CXL_DEVICES "/%s", name), *real = real_below(root, link);
        CxlMemdev m = { .numa_node = -1 };
        const char *slash;
        int r;

        if (!real)
                return -EINVAL;
        r = read_u64(root, real, "ram/size", &m.ram_bytes);
        if (r >= 0)
                r = read_u64(root, real, "pmem/size", &m.pmem_bytes);
        if (r >= 0)
                r = read_node_id(root, real, "numa_node", &m.numa_node);
        if (r < 0)
                return r == -ENOENT ? -EINVAL : r;
        (void) read_string(root, real, "serial", &m.serial);
        /* .../0000:0d:00.0/mem0: the PCI function is the parent directory */
        slash = strrchr(real, '/');
        if (slash && slash > real) {
                _cleanup_free_ char *dir = strndup(real, (size_t) (slash - real));
                const char *p;

                if (!dir)
                        oom();
                p = strrchr(dir, '/');
                m.parent = xstrdup(p ? p + 1 : dir);
        }
        m.name = xstrdup(name);
        d->memdevs = xreallocarray(d->memdevs, d->n_memdevs + 1, sizeof(CxlMemdev));
        d->memdevs[d->n_memdevs++] = m;
        return 0;
}

static int load_window(const char *root, const char *name, CxlDevices *d) {
        _cleanup_free_ char *devtype = NULL, *dir = xasprintf(CXL_DEVICES "/%s", name);
        CxlWindow w = {};
        uint64_t start, size, cap;
        int r;

        r = read_string(root, dir, "devtype", &devtype);
        if (r < 0)
                return r == -ENOENT ? -EINVAL : r;
        if (!streq(devtype, "cxl_decoder_root"))
                return 0; /* switch and endpoint decoders: read through regions */
        r = read_u64(root, dir, "start", &start);
        if (r >= 0)
                r = read_u64(root, dir, "size", &size);
        if (r >= 0)
                r = read_unsigned(root, dir, "interleave_ways", &w.interleave_ways);
        if (r >= 0)
                r = read_unsigned(root, dir, "interleave_granularity", &w.interleave_granularity);
        if (r < 0)
                return r == -ENOENT ? -EINVAL : r;
        if (start > UINT64_MAX - size)
                return -ERANGE;
        w.range = (PhysRange) { start, start + size };
        w.ram = read_u64(root, dir, "cap_ram", &cap) >= 0 && cap;
        w.pmem = read_u64(root, dir, "cap_pmem", &cap) >= 0 && cap;
        w.name = xstrdup(name);
        d->windows = xreallocarray(d->windows, d->n_windows + 1, sizeof(CxlWindow));
        d->windows[d->n_windows++] = w;
        return 0;
}

/* targetK = "decoderP.Q", an endpoint decoder below endpointP, whose uport is the memdev. */
static ssize_t target_memdev(const char *root, const CxlDevices *d, const char *decoder) {
        _cleanup_free_ char *link = xasprintf(CXL_DEVICES "/%s", decoder), *real = real_below(root, link);
        _cleanup_free_ char *uport = NULL, *name = NULL;
        char *slash;

        if (!real)
                return -1;
        slash = strrchr(real, '/');
        if (!slash)
                return -1;
        *slash = 0;
        uport = xasprintf("%s/uport", real);
        name = link_basename(root, uport);
        return name ? find_memdev(d, name) : -1;
}

static int load_region(const char *root, const char *name, CxlDevices *d) {
        _cleanup_free_ char *dir = xasprintf(CXL_DEVICES "/%s", name), *commit = NULL;
        CxlRegion g = { .window = -1 };
        uint64_t start, size;
        int r;

        r = read_string(root, dir, "mode", &g.mode);
        if (r >= 0)
                r = read_u64(root, dir, "resource", &start);
        if (r >= 0)
                r = read_u64(root, dir, "size", &size);
        if (r >= 0)
                r = read_unsigned(root, dir, "interleave_ways", &g.interleave_ways);
        if (r >= 0)
                r = read_unsigned(root, dir, "interleave_granularity", &g.interleave_granularity);
        if (r >= 0)
                r = read_string(root, dir, "commit", &commit);
        if (r < 0) {
                free(g.mode);
                return r == -ENOENT ? -EINVAL : r;
        }
        /* resource reads all ones until the region is sized */
        if (size > 0 && start <= UINT64_MAX - size)
                g.range = (PhysRange) { start, start + size };
        g.committed = streq(commit, "1");
        g.window = find_window(d, &g.range);

        for (unsigned k = 0; k < g.interleave_ways && k < 16; k++) {
                _cleanup_free_ char *file = xasprintf("target%u", k), *target = NULL;
                ssize_t m;

                if (read_string(root, dir, file, &target) < 0 || !*target)
                        continue; /* position not filled in (yet) */
                m = target_memdev(root, d, target);
                if (m >= 0)
                        push_index(&g.memdevs, &g.n_memdevs, (size_t) m);
        }
        g.name = xstrdup(name);
        d->regions = xreallocarray(d->regions, d->n_regions + 1, sizeof(CxlRegion));
        d->regions[d->n_regions++] = g;
        return 0;
}

static int load_cxl(const char *root, CxlDevices *d) {
        char **names = NULL;
        size_t n = 0;
        int r;

        r = list_dir(root, CXL_DEVICES, &names, &n);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        d->cxl_bus = true;

        /* memdevs and windows first: regions refer to both */
        for (size_t i = 0; i < n && r >= 0; i++)
                if (numbered(names[i], "mem"))
                        r = load_memdev(root, names[i], d);
                else if (numbered(names[i], "decoder"))
                        r = load_window(root, names[i], d);
        for (size_t i = 0; i < n && r >= 0; i++)
                if (numbered(names[i], "region"))
                        r = load_region(root, names[i], d);
        free_names(names, n);
        return r;
}

/* --- the DAX bus --- */

static int load_dax_ranges(const char *root, const char *real, DaxDevice *x) {
        char **names = NULL;
        size_t n = 0;
        int r;

        r = list_dir(root, real, &names, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *m = NULL;
                uint64_t start, end;

                if (!numbered(names[i], "mapping"))
                        continue;
                m = xasprintf("%s/%s", real, names[i]);
                r = read_u64(root, m, "start", &start);
                if (r >= 0)
                        r = read_u64(root, m, "end", &end);
                if (r == -EACCES || r == -EPERM) {
                        r = 0; /* root only: leave the ranges unknown */
                        x->n_ranges = 0;
                        break;
                }
                if (r < 0)
                        break;
                if (end < start || end == UINT64_MAX) {
                        r = -EINVAL;
                        break;
                }
                x->ranges = xreallocarray(x->ranges, x->n_ranges + 1, sizeof(PhysRange));
                x->ranges[x->n_ranges++] = (PhysRange) { start, end + 1 };
        }
        free_names(names, n);
        return r;
}

/* Where the dax device comes from, by the directories above it. */
static void classify_dax_source(const char *root, const char *real, DaxDevice *x, char **ret_region) {
        _cleanup_free_ char *copy = xstrdup(real);
        char *save = NULL, *prev = NULL;
        size_t len = 0;

        x->source = DAX_SOURCE_OTHER;
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                len += strlen(c) + 1;
                if (numbered(c, "dax_region") && prev && numbered(prev, "region")) {
                        x->source = DAX_SOURCE_CXL_REGION;
                        free(*ret_region);
                        *ret_region = xstrdup(prev);
                } else if (numbered(c, "ndbus") && x->source == DAX_SOURCE_OTHER) {
                        _cleanup_free_ char *bus = strndup(real, len - 1);

                        if (!bus)
                                oom();
                        x->source = DAX_SOURCE_NVDIMM;
                        (void) read_string(root, bus, "provider", &x->provider);
                } else if (numbered(c, "hmem."))
                        x->source = DAX_SOURCE_SOFT_RESERVED;
                prev = c;
        }
}

static int count_blocks(const char *root, const MemoryBlocks *mb, const PhysRange *ranges, size_t n,
                        uint64_t *ret_blocks, uint64_t *ret_online, uint64_t *ret_movable) {
        uint64_t blocks = 0, online = 0, movable = 0;

        if (mb->block_bytes > 0)
                for (size_t i = 0; i < n; i++) {
                        /* blocks wholly inside: kmem adds memory block by block */
                        uint64_t first = DIV_ROUND_UP(ranges[i].start, mb->block_bytes), end = ranges[i].end / mb->block_bytes;

                        for (uint64_t b = first; b < end; b++) {
                                MemoryBlockState st;
                                int r = memory_block_state_read(root, b, &st);

                                if (r == -ENOENT)
                                        continue;
                                if (r < 0)
                                        return r;
                                blocks++;
                                online += st.state == MEMORY_BLOCK_ONLINE;
                                movable += st.movable;
                        }
                }
        *ret_blocks = blocks;
        *ret_online = online;
        *ret_movable = movable;
        return 0;
}

static int load_dax_one(const char *root, const MemoryBlocks *mb, const char *name, CxlDevices *d) {
        _cleanup_free_ char *link = xasprintf(DAX_DEVICES "/%s", name), *real = real_below(root, link);
        _cleanup_free_ char *drvlink = NULL, *driver = NULL, *region = NULL;
        DaxDevice x = { .region = -1, .window = -1 };
        int r;

        if (!real)
                return -EINVAL;
        r = read_u64(root, real, "size", &x.size_bytes);
        if (r >= 0)
                r = read_node_id(root, real, "target_node", &x.target_node);
        if (r >= 0)
                r = load_dax_ranges(root, real, &x);
        if (r < 0) {
                free(x.ranges);
                return r == -ENOENT ? -EINVAL : r;
        }

        drvlink = xasprintf("%s/driver", real);
        driver = link_basename(root, drvlink);
        if (!driver)
                x.mode = DAX_MODE_DISABLED;
        else if (streq(driver, "kmem"))
                x.mode = DAX_MODE_SYSTEM_RAM;
        else if (streq(driver, "device_dax"))
                x.mode = DAX_MODE_DEVDAX;
        else
                x.mode = DAX_MODE_OTHER;

        classify_dax_source(root, real, &x, &region);
        if (x.n_ranges > 0) {
                x.region = find_region_by_range(d, &x.ranges[0]);
                x.window = find_window(d, &x.ranges[0]);
        }
        if (x.region < 0 && region)
                x.region = find_region_by_name(d, region);
        if (x.window < 0 && x.region >= 0)
                x.window = d->regions[x.region].window;

        r = count_blocks(root, mb, x.ranges, x.n_ranges, &x.blocks, &x.online_blocks, &x.movable_blocks);
        if (r < 0) {
                free(x.ranges);
                free(x.provider);
                return r;
        }
        x.name = xstrdup(name);
        d->dax = xreallocarray(d->dax, d->n_dax + 1, sizeof(DaxDevice));
        d->dax[d->n_dax++] = x;
        return 0;
}

static int load_dax(const char *root, const MemoryBlocks *mb, CxlDevices *d) {
        char **names = NULL;
        size_t n = 0;
        int r;

        r = list_dir(root, DAX_DEVICES, &names, &n);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        d->dax_bus = true;
        for (size_t i = 0; i < n && r >= 0; i++)
                if (numbered(names[i], "dax"))
                        r = load_dax_one(root, mb, names[i], d);
        free_names(names, n);
        return r;
}

/* --- nodes --- */

static NodeDevices *node_get(CxlDevices *d, int node) {
        size_t pos;

        for (pos = 0; pos < d->n_nodes && d->nodes[pos].node < node; pos++)
                ;
        if (pos < d->n_nodes && d->nodes[pos].node == node)
                return &d->nodes[pos];
        d->nodes = xreallocarray(d->nodes, d->n_nodes + 1, sizeof(NodeDevices));
        memmove(d->nodes + pos + 1, d->nodes + pos, (d->n_nodes - pos) * sizeof(NodeDevices));
        d->nodes[pos] = (NodeDevices) { .node = node, .window = -1 };
        d->n_nodes++;
        return &d->nodes[pos];
}

const NodeDevices *cxl_devices_node(const CxlDevices *d, int node) {
        if (!d)
                return NULL;
        for (size_t i = 0; i < d->n_nodes; i++)
                if (d->nodes[i].node == node)
                        return &d->nodes[i];
        return NULL;
}

static bool block_of_node(const MemoryBlockRun *run, int node) {
        return run->node == node || (run->node == -2 && node < 64 && (run->node_mask & (UINT64_C(1) << node)));
}

static int node_memory(const char *root, const MemoryBlocks *mb, CxlDevices *d, NodeDevices *n) {
        for (size_t i = 0; i < mb->n_runs; i++) {
                const MemoryBlockRun *run = &mb->runs[i];
                PhysRange range;

                if (!block_of_node(run, n->node))
                        continue;
                n->memory_bytes += run->n_blocks * mb->block_bytes;
                range = (PhysRange) { run->first * mb->block_bytes, (run->first + run->n_blocks) * mb->block_bytes };
                if (n->window < 0)
                        n->window = find_window(d, &range);
                for (size_t g = 0; g < d->n_regions; g++)
                        if (range_overlaps(&d->regions[g].range, &range))
                                push_index(&n->regions, &n->n_regions, g);
                if (!n->zones_known)
                        continue;
                for (uint64_t b = run->first; b < run->first + run->n_blocks; b++) {
                        MemoryBlockState st;
                        int r = memory_block_state_read(root, b, &st);

                        if (r == -ENOENT)
                                continue;
                        if (r < 0)
                                return r;
                        if (st.state == MEMORY_BLOCK_ONLINE)
                                n->online_bytes += mb->block_bytes;
                        if (st.movable)
                                n->movable_bytes += mb->block_bytes;
                }
        }
        return 0;
}

static void node_classify(const CxlDevices *d, NodeDevices *n) {
        bool cxl = false, pmem = false, soft = false;

        for (size_t i = 0; i < n->n_dax; i++) {
                const DaxDevice *x = &d->dax[n->dax[i]];

                if (x->region >= 0)
                        push_index(&n->regions, &n->n_regions, (size_t) x->region);
                if (x->window >= 0 && n->window < 0)
                        n->window = x->window;
                if (x->source == DAX_SOURCE_CXL_REGION ||
                    (x->source == DAX_SOURCE_NVDIMM && streq_ptr(x->provider, "CXL")))
                        cxl = true;     /* even when its ranges could not be read */
                else if (x->source == DAX_SOURCE_NVDIMM)
                        pmem = true;
                if (x->source == DAX_SOURCE_SOFT_RESERVED)
                        soft = true;
        }
        for (size_t i = 0; i < n->n_regions && n->window < 0; i++)
                n->window = d->regions[n->regions[i]].window;

        if (n->has_cpus)
                n->kind = NODE_KIND_DRAM;
        else if (cxl || n->window >= 0 || n->n_regions > 0)
                n->kind = NODE_KIND_CXL;
        else if (pmem)
                n->kind = NODE_KIND_PMEM;
        else if (soft)
                n->kind = NODE_KIND_SOFT_RESERVED;
        else if (d->numa_fake)
                n->kind = NODE_KIND_EMULATED;
        else
                n->kind = NODE_KIND_BOOT_MEMORY;
}

/* --- the one sentence --- */

typedef struct Text {
        char *s;
} Text;

_printf_(2, 3) static void text_add(Text *t, const char *fmt, ...) {
        _cleanup_free_ char *piece = NULL;
        va_list ap;
        char *n;

        va_start(ap, fmt);
        if (vasprintf(&piece, fmt, ap) < 0)
                oom();
        va_end(ap);
        n = xasprintf("%s%s", t->s ?: "", piece);
        free(t->s);
        t->s = n;
}

static void describe_region(Text *t, const CxlDevices *d, const CxlRegion *g) {
        text_add(t, "%s (%s", g->name, g->mode);
        if (g->interleave_ways > 1)
                text_add(t, ", %u-way interleave, %u-byte granularity", g->interleave_ways, g->interleave_granularity);
        if (!g->committed)
                text_add(t, ", not committed");
        text_add(t, ")");
        for (size_t i = 0; i < g->n_memdevs; i++)
                text_add(t, "%s%s", i == 0 ? " of " : i + 1 == g->n_memdevs ? " and " : ", ", d->memdevs[g->memdevs[i]].name);
}

static void describe_movable(Text *t, const NodeDevices *n) {
        char a[FORMAT_BYTES_MAX], b[FORMAT_BYTES_MAX];

        if (!n->zones_known)
                return;
        if (n->online_bytes == 0) {
                text_add(t, "; no memory online");
                return;
        }
        text_add(t, "; %s online", format_bytes(a, sizeof(a), n->online_bytes));
        if (n->movable_bytes == n->online_bytes)
                text_add(t, ", all of it movable");
        else if (n->movable_bytes == 0)
                text_add(t, ", none of it movable (kernel zones: it cannot be offlined reliably)");
        else
                text_add(t, ", %s of it movable", format_bytes(b, sizeof(b), n->movable_bytes));
}

static void describe_dax(Text *t, const DaxDevice *x) {
        char a[FORMAT_BYTES_MAX];

        text_add(t, "%s (%s, %s)", x->name, dax_mode_to_string(x->mode), format_bytes(a, sizeof(a), x->size_bytes));
        if (x->mode == DAX_MODE_DEVDAX)
                text_add(t, ", not system RAM yet: daxctl reconfigure-device -m system-ram %s", x->name);
}

static void node_describe(const CxlDevices *d, NodeDevices *n) {
        Text t = {};

        switch (n->kind) {
        case NODE_KIND_DRAM:
                text_add(&t, "DRAM next to CPUs");
                break;
        case NODE_KIND_CXL:
                text_add(&t, "CXL memory");
                for (size_t i = 0; i < n->n_regions; i++) {
                        text_add(&t, i == 0 ? ": " : ", ");
                        describe_region(&t, d, &d->regions[n->regions[i]]);
                }
                if (n->window >= 0)
                        text_add(&t, " in window %s", d->windows[n->window].name);
                if (n->n_regions == 0 && n->n_dax == 0)
                        text_add(&t, ", onlined by the firmware as ordinary RAM (no region or DAX device)");
                break;
        case NODE_KIND_PMEM:
                text_add(&t, "persistent memory (NVDIMM) used as RAM");
                break;
        case NODE_KIND_SOFT_RESERVED:
                text_add(&t, "soft-reserved (EFI specific-purpose) memory outside any CXL window: HBM, or CXL memory "
                         "the firmware set up that the kernel does not enumerate");
                break;
        case NODE_KIND_EMULATED:
                text_add(&t, "an emulated NUMA node (numa=fake)");
                break;
        case NODE_KIND_BOOT_MEMORY:
                text_add(&t, "CPU-less memory the firmware described, with no CXL or DAX device behind it: a virtual "
                         "machine's NUMA node, plain CPU-less DRAM, or CXL memory onlined by firmware without CXL "
                         "enumeration");
                break;
        default:
                break;
        }
        for (size_t i = 0; i < n->n_dax; i++) {
                text_add(&t, i == 0 ? "; through " : ", ");
                describe_dax(&t, &d->dax[n->dax[i]]);
        }
        if (!n->online)
                text_add(&t, "; the node is not online");
        else
                describe_movable(&t, n);
        n->description = t.s;
}

static int load_nodes(const char *root, const MemoryBlocks *mb, CxlDevices *d) {
        _cleanup_free_ char *line = NULL;
        _cleanup_free_ int *online = NULL;
        size_t n_online = 0;
        int r;

        r = read_line_at(root, NODE_DIR "/online", &line);
        if (r < 0)
                return r;
        r = parse_int_list(line, &online, &n_online);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n_online; i++) {
                _cleanup_free_ char *path = xasprintf(NODE_DIR "/node%d/cpulist", online[i]), *cpus = NULL;
                NodeDevices *n = node_get(d, online[i]);

                n->online = true;
                r = read_line_at(root, path, &cpus);
                if (r < 0)
                        return r;
                n->has_cpus = *cpus != 0;
        }
        /* (a zero-sized dax device is a region's seed for the next one, not memory) */
        for (size_t i = 0; i < d->n_dax; i++)
                if (d->dax[i].target_node >= 0 && d->dax[i].size_bytes > 0) {
                        NodeDevices *n = node_get(d, d->dax[i].target_node);

                        push_index(&n->dax, &n->n_dax, i);
                }
        for (size_t i = 0; i < d->n_nodes; i++) {
                NodeDevices *n = &d->nodes[i];

                n->zones_known = !n->has_cpus && mb->block_bytes > 0;
                r = node_memory(root, mb, d, n);
                if (r < 0)
                        return r;
                node_classify(d, n);
                node_describe(d, n);
        }
        return 0;
}

static bool cmdline_has_numa_fake(const char *proc_root) {
        _cleanup_free_ char *cmdline = NULL;

        if (!proc_root || read_line_at(proc_root, "cmdline", &cmdline) < 0)
                return false;
        for (const char *p = cmdline; (p = strstr(p, "numa=fake=")); p++)
                if (p == cmdline || p[-1] == ' ')
                        return true;
        return false;
}

int cxl_devices_load(const char *sysfs_root, const char *proc_root, CxlDevices **ret) {
        _cleanup_(cxl_devices_freep) CxlDevices *d = NULL;
        _cleanup_(memory_blocks_freep) MemoryBlocks *mb = NULL;
        int r;

        if (!sysfs_root || !ret)
                return -EINVAL;
        if (!dir_exists_at(sysfs_root, NODE_DIR))
                return -ENOENT;

        d = xcalloc(1, sizeof(CxlDevices));
        r = memory_blocks_load(sysfs_root, NULL, &mb);
        if (r < 0)
                return r;
        d->block_bytes = mb->block_bytes;
        d->numa_fake = cmdline_has_numa_fake(proc_root);

        r = load_cxl(sysfs_root, d);
        if (r < 0)
                return r;
        r = load_dax(sysfs_root, mb, d);
        if (r < 0)
                return r;
        r = load_nodes(sysfs_root, mb, d);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(d);
        return 0;
}
