/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host memory topology from sysfs.
 *
 * Which nodes: the online nodes (devices/system/node/online) that have memory or CPUs. A node has
 * memory when it is listed in has_memory (or, on kernels without that file, when its MemTotal is
 * not 0); it has CPUs when it is listed in has_cpu or its cpulist is not empty. Node ids may be
 * sparse; nodeN/distance rows are in online-node order and must have one entry per online node.
 *
 * Classification, first rule that applies:
 *
 *  1. Config override (TIER_SOURCE_CONFIG): a node listed in tiers { dram/cxl } gets that tier.
 *     A memoryless node may not be forced to CXL (-EINVAL): there is nothing to demote into.
 *
 *  2. Kernel memory tiers (TIER_SOURCE_MEMORY_TIER), used when the nodes with memory are spread
 *     over more than one devices/virtual/memory_tiering/memory_tierN (HMAT or CXL CDAT told the
 *     kernel about their performance). A lower N is faster memory. The DRAM tier is the fastest
 *     tier holding a node with CPUs (the fastest tier at all if no node with memory has CPUs).
 *     Nodes in the DRAM tier or a faster one (e.g. CPU-less HBM) are DRAM; nodes in slower tiers
 *     are CXL, even when they have CPUs: the tiers describe how fast the memory is, and CPUs next
 *     to slow memory do not make it fast. This also matches where the kernel itself demotes to.
 *     Operators who disagree use an override. A node with memory that no memory tier lists (a
 *     race with hotplug) falls back to rule 3.
 *
 *  3. CPU rule, when there is one memory tier only (no HMAT: the kernel puts every DRAM-like
 *     node in the default tier) or no memory_tiering directory at all (old kernel): nodes with
 *     CPUs are DRAM (TIER_SOURCE_HAS_CPUS), CPU-less memory nodes are CXL (TIER_SOURCE_CPULESS).
 *     If no node with memory has CPUs, there is no way to tell and every memory node is DRAM
 *     (still TIER_SOURCE_CPULESS: the source names the fact the rule looked at, never one the
 *     node does not have).
 *
 * Memoryless nodes (CPUs, no memory) are kept, so a VM's home node can be looked up, but with
 * has_memory = false, tier DRAM, source TIER_SOURCE_HAS_CPUS, memory_tier -1, 0 bytes and no
 * demotion targets. They are never placement targets and topology_count_tier() skips them.
 *
 * Demotion targets: each DRAM node with memory gets every CXL node, nearest (by the node distance
 * table) first, ties by lower id. CXL nodes get none.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vtism/macro.h"
#include "vtism/topology.h"
#include "vtism/util.h"

#define NODE_DIR "devices/system/node"
#define MEMORY_TIERING_DIR "devices/virtual/memory_tiering"

static const char *const node_tier_table[_NODE_TIER_MAX] = {
        [NODE_TIER_DRAM] = "dram",
        [NODE_TIER_CXL] = "cxl",
};
assert_cc(ELEMENTSOF(node_tier_table) == _NODE_TIER_MAX);

static const char *const tier_source_table[_TIER_SOURCE_MAX] = {
        [TIER_SOURCE_MEMORY_TIER] = "memory-tier",
        [TIER_SOURCE_CPULESS] = "cpu-less",
        [TIER_SOURCE_HAS_CPUS] = "has-cpus",
        [TIER_SOURCE_CONFIG] = "config",
};
assert_cc(ELEMENTSOF(tier_source_table) == _TIER_SOURCE_MAX);

const char *node_tier_to_string(NodeTier t) {
        if (t < 0 || t >= _NODE_TIER_MAX)
                return NULL;
        return node_tier_table[t];
}

NodeTier node_tier_from_string(const char *s) {
        if (!s)
                return _NODE_TIER_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(node_tier_table); i++)
                if (streq(node_tier_table[i], s))
                        return (NodeTier) i;
        return _NODE_TIER_INVALID;
}

const char *tier_source_to_string(TierSource s) {
        if (s < 0 || s >= _TIER_SOURCE_MAX)
                return NULL;
        return tier_source_table[s];
}

TierSource tier_source_from_string(const char *s) {
        if (!s)
                return _TIER_SOURCE_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(tier_source_table); i++)
                if (streq(tier_source_table[i], s))
                        return (TierSource) i;
        return _TIER_SOURCE_INVALID;
}

Topology *topology_free(Topology *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_nodes; i++) {
                free(t->nodes[i].cpus);
                free(t->nodes[i].demotion_targets);
        }
        free(t->nodes);
        free(t->distance);
        free(t);
        return NULL;
}

static int read_int_list_at(const char *root, const char *path, int **ret_list, size_t *ret_n) {
        _cleanup_free_ char *line = NULL;
        int r;

        r = read_line_at(root, path, &line);
        if (r < 0)
                return r;
        return parse_int_list(line, ret_list, ret_n);
}

/* Index of node id in t->nodes (sorted by id), or -1. */
static ssize_t topology_index(const Topology *t, int id) {
        size_t lo = 0, hi = t->n_nodes;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (t->nodes[mid].id == id)
                        return (ssize_t) mid;
                if (t->nodes[mid].id < id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return -1;
}

/*
 * Parse a node meminfo file: "Node 0 MemTotal:        4679456 kB" lines. Every line must name
 * node id; MemTotal and MemFree must both be there.
 */
static int parse_node_meminfo(const char *s, int id, uint64_t *ret_total_bytes, uint64_t *ret_free_bytes) {
        uint64_t total = 0, free_kb = 0;
        bool have_total = false, have_free = false;

        for (const char *p = s; *p;) {
                const char *eol = strchrnul(p, '\n');
                _cleanup_free_ char *line = strndup(p, (size_t) (eol - p));
                char key[64];
                int node, key_end = 0, n;

                if (!line)
                        oom();
                p = *eol ? eol + 1 : eol;
                if (!*line)
                        continue;

                n = sscanf(line, "Node %d %63[^: ]:%n", &node, key, &key_end);
                if (n != 2 || key_end == 0 || node != id)
                        return -EINVAL;

                if (streq(key, "MemTotal") || streq(key, "MemFree")) {
                        const char *v = line + key_end;
                        char *end;
                        uint64_t kb;

                        v += strspn(v, " \t");
                        if (*v < '0' || *v > '9')
                                return -EINVAL;
                        errno = 0;
                        kb = strtoull(v, &end, 10);
                        if (errno != 0 || kb > UINT64_MAX / KIB)
                                return -ERANGE;
                        if (!streq(end, " kB"))
                                return -EINVAL;

                        if (streq(key, "MemTotal")) {
                                total = kb;
                                have_total = true;
                        } else {
                                free_kb = kb;
                                have_free = true;
                        }
                }
        }
        if (!have_total || !have_free)
                return -EINVAL;

        *ret_total_bytes = total * KIB;
        *ret_free_bytes = free_kb * KIB;
        return 0;
}

static int read_node_meminfo(const char *root, int id, uint64_t *ret_total_bytes, uint64_t *ret_free_bytes) {
        _cleanup_free_ char *path = NULL, *contents = NULL;
        int r;

        path = xasprintf(NODE_DIR "/node%d/meminfo", id);
        r = read_file_at(root, path, &contents);
        if (r < 0)
                return r;
        return parse_node_meminfo(contents, id, ret_total_bytes, ret_free_bytes);
}

/* Parse a distance row into row[]; it must have exactly n entries, each 0..255. */
static int parse_distance_row(const char *s, size_t n, uint8_t *row) {
        const char *p = s;
        size_t k = 0;

        for (;;) {
                char *end;
                long v;

                p += strspn(p, " \t\n");
                if (!*p)
                        break;
                if (*p < '0' || *p > '9' || k >= n)
                        return -EINVAL;
                errno = 0;
                v = strtol(p, &end, 10);
                if (errno != 0 || v > UINT8_MAX)
                        return -ERANGE;
                if (*end && !strchr(" \t\n", *end))
                        return -EINVAL;
                row[k++] = (uint8_t) v;
                p = end;
        }
        return k == n ? 0 : -EINVAL;
}

/*
 * Fill in memory_tier of each node from the memory_tierN/nodelist files. Returns 0 when the kernel
 * has no memory tiers (directory absent), 1 when it has, -errno on error.
 */
static int read_memory_tiers(const char *root, Topology *t) {
        _cleanup_free_ char *dirpath = NULL;
        DIR *d;
        int r = 1;

        dirpath = xasprintf("%s/" MEMORY_TIERING_DIR, root);
        d = opendir(dirpath);
        if (!d) {
                if (errno == ENOENT)
                        return 0;
                return negative_errno();
        }

        for (;;) {
                _cleanup_free_ char *path = NULL;
                _cleanup_free_ int *nodes = NULL;
                size_t n_nodes;
                struct dirent *de;
                int tier, consumed = 0;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                r = negative_errno();
                        break;
                }
                if (sscanf(de->d_name, "memory_tier%d%n", &tier, &consumed) != 1 ||
                    de->d_name[consumed] != 0 || tier < 0)
                        continue;

                path = xasprintf(MEMORY_TIERING_DIR "/%s/nodelist", de->d_name);
                r = read_int_list_at(root, path, &nodes, &n_nodes);
                if (r < 0)
                        break;
                r = 1;

                for (size_t i = 0; i < n_nodes; i++) {
                        ssize_t idx = topology_index(t, nodes[i]);

                        if (idx < 0)
                                continue; /* not a node we track */
                        if (t->nodes[idx].memory_tier >= 0) {
                                r = -EINVAL; /* one node in two tiers */
                                break;
                        }
                        t->nodes[idx].memory_tier = tier;
                }
                if (r < 0)
                        break;
        }

        closedir(d);
        return r;
}

static void classify_by_cpus(Topology *t, bool any_memory_node_has_cpus) {
        for (size_t i = 0; i < t->n_nodes; i++) {
                TopologyNode *n = t->nodes + i;

                if (n->tier_source == TIER_SOURCE_MEMORY_TIER)
                        continue; /* already decided by rule 2 */
                n->tier_source = n->n_cpus > 0 ? TIER_SOURCE_HAS_CPUS : TIER_SOURCE_CPULESS;
                if (!n->has_memory || n->n_cpus > 0 || !any_memory_node_has_cpus)
                        n->tier = NODE_TIER_DRAM;
                else
                        n->tier = NODE_TIER_CXL;
        }
}

static void classify(Topology *t, bool has_tiers) {
        bool any_memory_node_has_cpus = false, multi_tier = false;
        int first_tier = -1, dram_tier = -1, fastest_tier = -1;

        for (size_t i = 0; i < t->n_nodes; i++) {
                TopologyNode *n = t->nodes + i;

                if (!n->has_memory)
                        continue;
                if (n->n_cpus > 0)
                        any_memory_node_has_cpus = true;
                if (n->memory_tier < 0)
                        continue;
                if (first_tier < 0)
                        first_tier = n->memory_tier;
                else if (n->memory_tier != first_tier)
                        multi_tier = true;
                if (fastest_tier < 0 || n->memory_tier < fastest_tier)
                        fastest_tier = n->memory_tier;
                if (n->n_cpus > 0 && (dram_tier < 0 || n->memory_tier < dram_tier))
                        dram_tier = n->memory_tier;
        }

        if (has_tiers && multi_tier) {
                if (dram_tier < 0)
                        dram_tier = fastest_tier;

                for (size_t i = 0; i < t->n_nodes; i++) {
                        TopologyNode *n = t->nodes + i;

                        if (!n->has_memory || n->memory_tier < 0)
                                continue;
                        n->tier = n->memory_tier <= dram_tier ? NODE_TIER_DRAM : NODE_TIER_CXL;
                        n->tier_source = TIER_SOURCE_MEMORY_TIER;
                }
        }

        classify_by_cpus(t, any_memory_node_has_cpus);
}

static int check_overrides(const Topology *t, const TopologyOverrides *o) {
        for (size_t i = 0; i < o->n_dram_nodes; i++)
                if (int_list_contains(o->cxl_nodes, o->n_cxl_nodes, o->dram_nodes[i]))
                        return -EINVAL;

        for (size_t i = 0; i < o->n_dram_nodes; i++)
                if (topology_index(t, o->dram_nodes[i]) < 0)
                        return -ENOENT;

        for (size_t i = 0; i < o->n_cxl_nodes; i++) {
                ssize_t idx = topology_index(t, o->cxl_nodes[i]);

                if (idx < 0)
                        return -ENOENT;
                if (!t->nodes[idx].has_memory)
                        return -EINVAL;
        }
        return 0;
}

static void apply_overrides(Topology *t, const TopologyOverrides *o) {
        for (size_t i = 0; i < o->n_dram_nodes; i++) {
                TopologyNode *n = t->nodes + topology_index(t, o->dram_nodes[i]);

                n->tier = NODE_TIER_DRAM;
                n->tier_source = TIER_SOURCE_CONFIG;
        }
        for (size_t i = 0; i < o->n_cxl_nodes; i++) {
                TopologyNode *n = t->nodes + topology_index(t, o->cxl_nodes[i]);

                n->tier = NODE_TIER_CXL;
                n->tier_source = TIER_SOURCE_CONFIG;
        }
}

static void compute_demotion_targets(Topology *t) {
        _cleanup_free_ size_t *cxl = xcalloc(t->n_nodes, sizeof(size_t));
        size_t n_cxl = 0;

        /* Indexes of the CXL nodes, in id order (t->nodes is sorted by id). */
        for (size_t j = 0; j < t->n_nodes; j++)
                if (t->nodes[j].tier == NODE_TIER_CXL)
                        cxl[n_cxl++] = j;

        for (size_t i = 0; i < t->n_nodes; i++) {
                TopologyNode *n = t->nodes + i;
                const uint8_t *row = t->distance + i * t->n_nodes;
                size_t *order;

                if (n->tier != NODE_TIER_DRAM || !n->has_memory || n_cxl == 0)
                        continue;

                /* Stable insertion sort by distance: ties keep id order. */
                order = xcalloc(n_cxl, sizeof(size_t));
                for (size_t k = 0; k < n_cxl; k++) {
                        size_t pos = k;

                        while (pos > 0 && row[order[pos - 1]] > row[cxl[k]]) {
                                order[pos] = order[pos - 1];
                                pos--;
                        }
                        order[pos] = cxl[k];
                }

                n->demotion_targets = xcalloc(n_cxl, sizeof(int));
                for (size_t k = 0; k < n_cxl; k++)
                        n->demotion_targets[k] = t->nodes[order[k]].id;
                n->n_demotion_targets = n_cxl;
                free(order);
        }
}

int topology_load(const char *sysfs_root, const TopologyOverrides *overrides, Topology **ret) {
        _cleanup_(topology_freep) Topology *t = NULL;
        _cleanup_free_ int *online = NULL, *has_memory = NULL, *has_cpu = NULL;
        _cleanup_free_ ssize_t *column = NULL;
        size_t n_online = 0, n_has_memory = 0, n_has_cpu = 0;
        bool have_has_memory = false, have_has_cpu = false;
        int r;

        if (!sysfs_root || !ret)
                return -EINVAL;

        r = read_int_list_at(sysfs_root, NODE_DIR "/online", &online, &n_online);
        if (r < 0)
                return r;
        if (n_online == 0)
                return -EINVAL;

        r = read_int_list_at(sysfs_root, NODE_DIR "/has_memory", &has_memory, &n_has_memory);
        if (r >= 0)
                have_has_memory = true;
        else if (r != -ENOENT)
                return r;

        r = read_int_list_at(sysfs_root, NODE_DIR "/has_cpu", &has_cpu, &n_has_cpu);
        if (r >= 0)
                have_has_cpu = true;
        else if (r != -ENOENT)
                return r;

        t = xcalloc(1, sizeof(Topology));
        t->nodes = xcalloc(n_online, sizeof(TopologyNode));

        /* column[i]: index in t->nodes of the i-th online node, -1 when it is skipped. */
        column = xcalloc(n_online, sizeof(ssize_t));

        for (size_t i = 0; i < n_online; i++) {
                _cleanup_free_ char *path = NULL;
                _cleanup_free_ int *cpus = NULL;
                size_t n_cpus = 0;
                uint64_t total, free_bytes;
                bool mem, cpu;
                TopologyNode *n;

                path = xasprintf(NODE_DIR "/node%d/cpulist", online[i]);
                r = read_int_list_at(sysfs_root, path, &cpus, &n_cpus);
                if (r < 0)
                        return r;

                r = read_node_meminfo(sysfs_root, online[i], &total, &free_bytes);
                if (r < 0)
                        return r;

                mem = have_has_memory ? int_list_contains(has_memory, n_has_memory, online[i]) : total > 0;
                cpu = n_cpus > 0 || (have_has_cpu && int_list_contains(has_cpu, n_has_cpu, online[i]));
                if (!mem && !cpu) {
                        column[i] = -1;
                        continue;
                }

                column[i] = (ssize_t) t->n_nodes;
                n = t->nodes + t->n_nodes++;
                *n = (TopologyNode) {
                        .id = online[i],
                        .has_memory = mem,
                        .tier = NODE_TIER_DRAM,
                        .tier_source = TIER_SOURCE_CPULESS,
                        .memory_tier = -1,
                        .cpus = TAKE_PTR(cpus),
                        .n_cpus = n_cpus,
                        .total_bytes = mem ? total : 0,
                        .free_bytes = mem ? free_bytes : 0,
                };
        }
        if (t->n_nodes == 0)
                return -ENOENT;

        t->distance = xcalloc(t->n_nodes * t->n_nodes, sizeof(uint8_t));
        for (size_t i = 0; i < n_online; i++) {
                _cleanup_free_ char *path = NULL, *line = NULL;
                _cleanup_free_ uint8_t *row = NULL;
                size_t idx;

                if (column[i] < 0)
                        continue;
                idx = (size_t) column[i];

                path = xasprintf(NODE_DIR "/node%d/distance", online[i]);
                r = read_line_at(sysfs_root, path, &line);
                if (r < 0)
                        return r;

                row = xcalloc(n_online, sizeof(uint8_t));
                r = parse_distance_row(line, n_online, row);
                if (r < 0)
                        return r;

                for (size_t j = 0; j < n_online; j++)
                        if (column[j] >= 0)
                                t->distance[idx * t->n_nodes + (size_t) column[j]] = row[j];
        }

        r = read_memory_tiers(sysfs_root, t);
        if (r < 0)
                return r;

        classify(t, r > 0);

        if (overrides) {
                r = check_overrides(t, overrides);
                if (r < 0)
                        return r;
                apply_overrides(t, overrides);
        }

        compute_demotion_targets(t);

        *ret = TAKE_PTR(t);
        return 0;
}

int topology_read_node_free(const char *sysfs_root, int id, uint64_t *ret_free_bytes) {
        uint64_t total;

        if (!sysfs_root || id < 0 || !ret_free_bytes)
                return -EINVAL;
        return read_node_meminfo(sysfs_root, id, &total, ret_free_bytes);
}

#define NODE_FREE_READER_MAX_ID 1024 /* MAX_NUMNODES of any kernel config */

struct NodeFreeReader {
        char *root;
        int *fds;                   /* by node id; < 0: not open */
        size_t n_fds;
};

NodeFreeReader *node_free_reader_new(const char *sysfs_root) {
        NodeFreeReader *r = xcalloc(1, sizeof(NodeFreeReader));

        r->root = xstrdup(sysfs_root ?: "/sys");
        return r;
}

NodeFreeReader *node_free_reader_free(NodeFreeReader *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_fds; i++)
                if (r->fds[i] >= 0)
                        (void) close(r->fds[i]);
        free(r->fds);
        free(r->root);
        free(r);
        return NULL;
}

int node_free_reader_read(NodeFreeReader *r, int id, uint64_t *ret_free_bytes) {
        char buf[8192];
        size_t size = 0;
        uint64_t total;
        int fd;

        if (!r || id < 0 || id >= NODE_FREE_READER_MAX_ID || !ret_free_bytes)
                return -EINVAL;
        if ((size_t) id >= r->n_fds) {
                r->fds = xreallocarray(r->fds, (size_t) id + 1, sizeof(int));
                for (size_t i = r->n_fds; i <= (size_t) id; i++)
                        r->fds[i] = -EBADF;
                r->n_fds = (size_t) id + 1;
        }
        if (r->fds[id] < 0) {
                _cleanup_free_ char *path = xasprintf("%s/" NODE_DIR "/node%d/meminfo", r->root, id);

                r->fds[id] = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (r->fds[id] < 0)
                        return negative_errno();
        }
        fd = r->fds[id];
        /* From offset 0 every time: sysfs (seq_file) generates the file anew for a read there. */
        for (;;) {
                ssize_t n = pread(fd, buf + size, sizeof(buf) - 1 - size, (off_t) size);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        /* e.g. ENODEV: the node went offline; open it again next time */
                        int e = negative_errno();

                        (void) close(fd);
                        r->fds[id] = -EBADF;
                        return e;
                }
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size >= sizeof(buf) - 1)
                        return -EFBIG;
        }
        buf[size] = 0;
        return parse_node_meminfo(buf, id, &total, ret_free_bytes);
}

int topology_refresh_meminfo(Topology *t, const char *sysfs_root) {
        _cleanup_free_ uint64_t *total = NULL, *free_bytes = NULL;
        int r;

        if (!t || !sysfs_root)
                return -EINVAL;

        total = xcalloc(t->n_nodes, sizeof(uint64_t));
        free_bytes = xcalloc(t->n_nodes, sizeof(uint64_t));

        for (size_t i = 0; i < t->n_nodes; i++) {
                if (!t->nodes[i].has_memory)
                        continue;
                r = read_node_meminfo(sysfs_root, t->nodes[i].id, total + i, free_bytes + i);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < t->n_nodes; i++) {
                if (!t->nodes[i].has_memory)
                        continue;
                t->nodes[i].total_bytes = total[i];
                t->nodes[i].free_bytes = free_bytes[i];
        }
        return 0;
}

const TopologyNode *topology_node(const Topology *t, int id) {
        ssize_t idx;

        if (!t)
                return NULL;
        idx = topology_index(t, id);
        return idx < 0 ? NULL : t->nodes + idx;
}

int topology_distance(const Topology *t, int from_id, int to_id) {
        ssize_t a, b;

        if (!t)
                return -EINVAL;
        a = topology_index(t, from_id);
        b = topology_index(t, to_id);
        if (a < 0 || b < 0)
                return -ENOENT;
        return t->distance[(size_t) a * t->n_nodes + (size_t) b];
}

size_t topology_count_tier(const Topology *t, NodeTier tier) {
        size_t k = 0;

        if (!t)
                return 0;
        for (size_t i = 0; i < t->n_nodes; i++)
                if (t->nodes[i].has_memory && t->nodes[i].tier == tier)
                        k++;
        return k;
}
