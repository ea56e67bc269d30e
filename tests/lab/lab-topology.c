/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lab-topology NODES HMAT [SYSFS_ROOT]
 *
 * Runs inside the lab (tests/lab/run --nodes NODES [--hmat]). Checks that the kernel sees the
 * shape the runner asked QEMU for (which nodes have CPUs, the distance table, the memory tiers)
 * and that vtism's topology module classifies it: DRAM and CXL nodes, why (tier source) and the
 * demotion targets of every DRAM node. HMAT is 0 or 1. Prints what it found; exit status 0 when
 * everything matches, 1 otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab-check.h"
#include "vtism/macro.h"
#include "vtism/topology.h"
#include "vtism/util.h"

#define MAX_NODES 4

typedef struct Shape {
        size_t n_nodes;
        const char *cpulist[MAX_NODES];
        int distance[MAX_NODES][MAX_NODES];
        NodeTier tier[MAX_NODES];
        int demotion[MAX_NODES][MAX_NODES]; /* -1 terminated */
} Shape;

/* Must match numa_args() in tests/lab/run. */
static const Shape shape_2 = {
        .n_nodes = 2,
        .cpulist = { "0-1", "" },
        .distance = { { 10, 20 }, { 20, 10 } },
        .tier = { NODE_TIER_DRAM, NODE_TIER_CXL },
        .demotion = { { 1, -1 }, { -1 } },
};

static const Shape shape_4 = {
        .n_nodes = 4,
        .cpulist = { "0", "1", "", "" },
        .distance = {
                { 10, 21, 24, 24 },
                { 21, 10, 14, 14 },
                { 24, 14, 10, 16 },
                { 24, 14, 16, 10 },
        },
        .tier = { NODE_TIER_DRAM, NODE_TIER_DRAM, NODE_TIER_CXL, NODE_TIER_CXL },
        /* Both CXL nodes are equally far from each DRAM node: ties go to the lower id. */
        .demotion = { { 2, 3, -1 }, { 2, 3, -1 }, { -1 }, { -1 } },
};

/* One line of a sysfs file; "" (and a failure) when it cannot be read. */
static char *sysfs_line(const char *root, const char *path) {
        char *line = NULL;
        int r;

        r = read_line_at(root, path, &line);
        if (r < 0) {
                fail("cannot read %s/%s: %s", root, path, strerror(-r));
                return xstrdup("");
        }
        return line;
}

/* The raw kernel view: node list, CPUs, distances, memory tiers. Returns the number of memory
 * tiers that hold at least one of our nodes, or -1 when the kernel has none. */
static int check_kernel(const char *root, const Shape *s, int *ret_tier_of) {
        _cleanup_free_ char *online = NULL;
        _cleanup_free_ char *expect_online = NULL;
        int n_tiers = 0;

        online = sysfs_line(root, "devices/system/node/online");
        expect_online = xasprintf("0-%zu", s->n_nodes - 1);
        printf("kernel: online nodes %s\n", online);
        if (!streq(online, expect_online))
                fail("online nodes are '%s', expected '%s'", online, expect_online);

        for (size_t i = 0; i < s->n_nodes; i++) {
                _cleanup_free_ char *cpus_path = NULL, *dist_path = NULL, *cpus = NULL, *dist = NULL;
                char expect_dist[64];
                size_t len = 0;

                cpus_path = xasprintf("devices/system/node/node%zu/cpulist", i);
                dist_path = xasprintf("devices/system/node/node%zu/distance", i);
                cpus = sysfs_line(root, cpus_path);
                dist = sysfs_line(root, dist_path);
                printf("kernel: node%zu cpus [%s] distance [%s]\n", i, cpus, dist);

                if (!streq(cpus, s->cpulist[i]))
                        fail("node%zu has CPUs '%s', expected '%s'", i, cpus, s->cpulist[i]);

                expect_dist[0] = '\0';
                for (size_t j = 0; j < s->n_nodes; j++)
                        len += snprintf(expect_dist + len, sizeof(expect_dist) - len, "%s%d",
                                        j > 0 ? " " : "", s->distance[i][j]);
                if (!streq(dist, expect_dist))
                        fail("node%zu distances are '%s', expected '%s'", i, dist, expect_dist);
        }

        /* memory_tierN/nodelist: which tier each node is in. */
        for (size_t i = 0; i < s->n_nodes; i++)
                ret_tier_of[i] = -1;
        for (int tier = 0; tier < 1024; tier++) {
                _cleanup_free_ char *path = NULL, *line = NULL;
                _cleanup_free_ int *nodes = NULL;
                size_t n = 0;
                bool ours = false;

                path = xasprintf("devices/virtual/memory_tiering/memory_tier%d/nodelist", tier);
                if (read_line_at(root, path, &line) < 0)
                        continue;
                if (parse_int_list(line, &nodes, &n) < 0) {
                        fail("garbled %s: '%s'", path, line);
                        continue;
                }
                printf("kernel: memory_tier%d nodes %s\n", tier, line);
                for (size_t k = 0; k < n; k++)
                        if (nodes[k] >= 0 && (size_t) nodes[k] < s->n_nodes) {
                                ret_tier_of[nodes[k]] = tier;
                                ours = true;
                        }
                if (ours)
                        n_tiers++;
        }
        return n_tiers > 0 ? n_tiers : -1;
}

static void check_tiers(const Shape *s, bool hmat, const int *tier_of, int n_tiers) {
        int dram_tier = -1;

        if (n_tiers < 0) {
                fail("the kernel has no memory tiers (devices/virtual/memory_tiering)");
                return;
        }
        for (size_t i = 0; i < s->n_nodes; i++)
                if (tier_of[i] < 0)
                        fail("node%zu is in no memory tier", i);

        if (!hmat) {
                if (n_tiers != 1)
                        fail("without HMAT all nodes should share one memory tier, found %d", n_tiers);
                return;
        }

        /* With HMAT: every DRAM node in one tier, every CXL node in a slower (higher) one. */
        for (size_t i = 0; i < s->n_nodes; i++)
                if (s->tier[i] == NODE_TIER_DRAM) {
                        if (dram_tier >= 0 && tier_of[i] != dram_tier)
                                fail("DRAM nodes are in different memory tiers (%d, %d)", dram_tier, tier_of[i]);
                        dram_tier = tier_of[i];
                }
        for (size_t i = 0; i < s->n_nodes; i++)
                if (s->tier[i] == NODE_TIER_CXL && tier_of[i] <= dram_tier)
                        fail("with HMAT, CXL node%zu should be in a slower memory tier than DRAM's %d, it is in %d",
                             i, dram_tier, tier_of[i]);
}

static void check_topology(const char *root, const Shape *s, bool hmat, const int *tier_of) {
        _cleanup_(topology_freep) Topology *t = NULL;
        TierSource expect_source_cpus = hmat ? TIER_SOURCE_MEMORY_TIER : TIER_SOURCE_HAS_CPUS;
        TierSource expect_source_cpuless = hmat ? TIER_SOURCE_MEMORY_TIER : TIER_SOURCE_CPULESS;
        int r;

        r = topology_load(root, NULL, &t);
        if (r < 0) {
                fail("topology_load(%s) failed: %s", root, strerror(-r));
                return;
        }

        if (t->n_nodes != s->n_nodes)
                fail("topology has %zu nodes, expected %zu", t->n_nodes, s->n_nodes);

        for (size_t i = 0; i < s->n_nodes; i++) {
                const TopologyNode *n = topology_node(t, (int) i);
                _cleanup_free_ char *cpus = NULL, *targets = NULL, *expect_targets = NULL;
                size_t n_expect = 0;

                if (!n) {
                        fail("topology has no node%zu", i);
                        continue;
                }
                cpus = format_int_list(n->cpus, n->n_cpus);
                targets = join_int_list(n->demotion_targets, n->n_demotion_targets, " ");
                printf("vtism: node%d %s (%s) memory_tier %d cpus [%s] total %" PRIu64 " MiB demotion [%s]\n",
                       n->id, node_tier_to_string(n->tier), tier_source_to_string(n->tier_source),
                       n->memory_tier, cpus, n->total_bytes / MIB, targets);

                if (!n->has_memory || n->total_bytes == 0)
                        fail("node%zu has no memory according to vtism", i);
                if (n->free_bytes > n->total_bytes)
                        fail("node%zu: free %" PRIu64 " > total %" PRIu64, i, n->free_bytes, n->total_bytes);
                if (!streq(cpus, s->cpulist[i]))
                        fail("node%zu: vtism sees CPUs '%s', expected '%s'", i, cpus, s->cpulist[i]);
                if (n->tier != s->tier[i])
                        fail("node%zu classified %s, expected %s", i, node_tier_to_string(n->tier),
                             node_tier_to_string(s->tier[i]));
                TierSource expect_source = n->n_cpus > 0 ? expect_source_cpus : expect_source_cpuless;
                if (n->tier_source != expect_source)
                        fail("node%zu tier source %s, expected %s", i, tier_source_to_string(n->tier_source),
                             tier_source_to_string(expect_source));
                if (n->memory_tier != tier_of[i])
                        fail("node%zu: vtism says memory_tier %d, the kernel %d", i, n->memory_tier, tier_of[i]);

                while (s->demotion[i][n_expect] >= 0)
                        n_expect++;
                expect_targets = join_int_list(s->demotion[i], n_expect, " ");
                if (!streq(targets, expect_targets))
                        fail("node%zu demotion targets [%s], expected [%s]", i, targets, expect_targets);

                for (size_t j = 0; j < s->n_nodes; j++) {
                        int d = topology_distance(t, (int) i, (int) j);
                        if (d != s->distance[i][j])
                                fail("vtism distance %zu->%zu is %d, expected %d", i, j, d, s->distance[i][j]);
                }
        }

        for (NodeTier tier = 0; tier < _NODE_TIER_MAX; tier++) {
                size_t expect = 0;

                for (size_t i = 0; i < s->n_nodes; i++)
                        if (s->tier[i] == tier)
                                expect++;
                if (topology_count_tier(t, tier) != expect)
                        fail("topology_count_tier(%s) = %zu, expected %zu", node_tier_to_string(tier),
                             topology_count_tier(t, tier), expect);
        }
}

int main(int argc, char *argv[]) {
        const char *root = "/sys";
        const Shape *s;
        int tier_of[MAX_NODES];
        bool hmat;
        int n_tiers;

        if (argc < 3 || argc > 4) {
                fprintf(stderr, "Usage: %s NODES(2|4) HMAT(0|1) [SYSFS_ROOT]\n", argv[0]);
                return 2;
        }
        if (streq(argv[1], "2"))
                s = &shape_2;
        else if (streq(argv[1], "4"))
                s = &shape_4;
        else {
                fprintf(stderr, "NODES must be 2 or 4\n");
                return 2;
        }
        hmat = streq(argv[2], "1");
        if (argc == 4)
                root = argv[3];

        printf("lab-topology: %zu nodes, HMAT %s\n", s->n_nodes, hmat ? "on" : "off");
        n_tiers = check_kernel(root, s, tier_of);
        check_tiers(s, hmat, tier_of, n_tiers);
        check_topology(root, s, hmat, tier_of);

        if (n_failed > 0) {
                printf("lab-topology: %u check(s) failed\n", n_failed);
                return 1;
        }
        printf("lab-topology: all checks passed\n");
        return 0;
}
