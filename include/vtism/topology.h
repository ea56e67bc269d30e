/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The host's memory topology, read from sysfs below a root directory (so the unit tests run on
 * fixture trees in tests/data/). Pure apart from the reads; logs nothing above debug.
 */

typedef enum NodeTier {
        NODE_TIER_DRAM,
        NODE_TIER_CXL,
        _NODE_TIER_MAX,
        _NODE_TIER_INVALID = -22, /* -EINVAL */
} NodeTier;

/* Why a node got its tier: shown by vtismctl so operators can tell. */
typedef enum TierSource {
        TIER_SOURCE_MEMORY_TIER, /* kernel memory tiers (HMAT/CXL CDAT adistance) */
        TIER_SOURCE_CPULESS,     /* one memory tier only: a CPU-less memory node is CXL */
        TIER_SOURCE_HAS_CPUS,    /* one memory tier only: a node with CPUs is DRAM */
        TIER_SOURCE_CONFIG,      /* tiers { } override in vtism.conf */
        _TIER_SOURCE_MAX,
        _TIER_SOURCE_INVALID = -22,
} TierSource;

const char *node_tier_to_string(NodeTier t);
NodeTier node_tier_from_string(const char *s);
const char *tier_source_to_string(TierSource s);
TierSource tier_source_from_string(const char *s);

typedef struct TopologyNode {
        int id;
        bool has_memory;          /* false: CPUs only (memoryless node), never a placement target;
                                   * such a node is DRAM, 0 bytes, no demotion targets */
        NodeTier tier;
        TierSource tier_source;
        int memory_tier;          /* N of memory_tierN, -1 when the kernel has no memory tiers */
        int *cpus;                /* sorted CPU ids, may be empty */
        size_t n_cpus;
        uint64_t total_bytes;     /* MemTotal of the node's meminfo */
        uint64_t free_bytes;      /* MemFree */
        int *demotion_targets;    /* DRAM nodes only: CXL node ids, nearest first (ties: lower id) */
        size_t n_demotion_targets;
} TopologyNode;

typedef struct Topology {
        TopologyNode *nodes;      /* online nodes with memory or CPUs, sorted by id */
        size_t n_nodes;
        uint8_t *distance;        /* n_nodes x n_nodes, by node index (not id) */
} Topology;

/* Config overrides: nodes listed here get that tier whatever the kernel says. */
typedef struct TopologyOverrides {
        const int *dram_nodes;
        size_t n_dram_nodes;
        const int *cxl_nodes;
        size_t n_cxl_nodes;
} TopologyOverrides;

/*
 * Read nodes, CPUs, meminfo, distances and memory tiers below sysfs_root (normally "/sys"),
 * classify each node and compute demotion targets (the rules are at the top of topology.c).
 * overrides may be NULL. An override naming a node that is not online (or has neither memory nor
 * CPUs) gives -ENOENT; a node in both lists, or a memoryless node forced to CXL, -EINVAL.
 * Missing sysfs files give their -errno, garbled ones -EINVAL; *ret is set only on success.
 */
int topology_load(const char *sysfs_root, const TopologyOverrides *overrides, Topology **ret);
Topology *topology_free(Topology *t);

/* Re-read MemTotal/MemFree of every node (cheap; called once per cycle). All or nothing: on
 * failure no node is changed. */
int topology_refresh_meminfo(Topology *t, const char *sysfs_root);
/* MemFree of one node's meminfo below sysfs_root, now (open, read, close). Errors as
 * topology_load(). */
int topology_read_node_free(const char *sysfs_root, int id, uint64_t *ret_free_bytes);

/*
 * The same, again and again (the migrator's floor check before every move batch): each node's
 * meminfo stays open and is read again from offset 0, where sysfs generates it anew; ~40 us
 * natively against ~150 us for open+read+close on a loaded host. A read that fails closes the
 * file (a node that went offline is opened again next time). -EINVAL for an id outside 0..1023,
 * else as topology_read_node_free(). One fd per node read.
 */
typedef struct NodeFreeReader NodeFreeReader;
NodeFreeReader *node_free_reader_new(const char *sysfs_root); /* NULL: "/sys" */
int node_free_reader_read(NodeFreeReader *r, int id, uint64_t *ret_free_bytes);
NodeFreeReader *node_free_reader_free(NodeFreeReader *r);

const TopologyNode *topology_node(const Topology *t, int id); /* NULL if absent */
int topology_distance(const Topology *t, int from_id, int to_id); /* -ENOENT if absent */
/* Placement targets of that tier: nodes with memory only (memoryless nodes are not counted). */
size_t topology_count_tier(const Topology *t, NodeTier tier);

static inline void topology_freep(Topology **t) {
        topology_free(*t);
}
