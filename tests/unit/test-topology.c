/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "tmptree.h"
#include "vtism/macro.h"
#include "vtism/topology.h"
#include "vtism/util.h"

static const char *test_data;

static char *fixture(const char *name) {
        return xasprintf("%s/%s", test_data, name);
}

static int load(const char *name, const TopologyOverrides *o, Topology **ret) {
        _cleanup_free_ char *root = fixture(name);

        return topology_load(root, o, ret);
}

static Topology *load_ok(const char *name, const TopologyOverrides *o) {
        Topology *t = NULL;
        int r;

        r = load(name, o, &t);
        if (r < 0) {
                fprintf(stderr, "loading %s: %s\n", name, strerror(-r));
                exit(EXIT_FAILURE);
        }
        check(t);
        return t;
}

/* "2 3" */
static char *targets_str(const Topology *t, int id) {
        const TopologyNode *n = topology_node(t, id);
        char *s = xstrdup("");

        check(n);
        for (size_t i = 0; i < n->n_demotion_targets; i++) {
                char *next = xasprintf("%s%s%d", s, i > 0 ? " " : "", n->demotion_targets[i]);

                free(s);
                s = next;
        }
        return s;
}

static void check_targets(const Topology *t, int id, const char *expected) {
        _cleanup_free_ char *s = targets_str(t, id);

        if (!streq(s, expected)) {
                fprintf(stderr, "node %d demotion targets \"%s\", expected \"%s\"\n", id, s, expected);
                exit(EXIT_FAILURE);
        }
}

static void check_node(const Topology *t, int id, NodeTier tier, TierSource source, int memory_tier,
                       const char *cpus, uint64_t total_kb, uint64_t free_kb) {
        const TopologyNode *n = topology_node(t, id);
        _cleanup_free_ char *c = NULL;

        if (!n) {
                fprintf(stderr, "node %d missing\n", id);
                exit(EXIT_FAILURE);
        }
        c = format_int_list(n->cpus, n->n_cpus);
        check_int(n->id, id);
        check_str(node_tier_to_string(n->tier), node_tier_to_string(tier));
        check_str(tier_source_to_string(n->tier_source), tier_source_to_string(source));
        check_int(n->memory_tier, memory_tier);
        check_str(c, cpus);
        check_int(n->total_bytes, total_kb * KIB);
        check_int(n->free_bytes, free_kb * KIB);
        if (n->tier == NODE_TIER_CXL)
                check_int(n->n_demotion_targets, 0);
}

static void check_ids(const Topology *t, const char *expected) {
        _cleanup_free_ int *ids = xcalloc(t->n_nodes, sizeof(int));
        _cleanup_free_ char *s = NULL;

        for (size_t i = 0; i < t->n_nodes; i++) {
                ids[i] = t->nodes[i].id;
                if (i > 0)
                        check(ids[i] > ids[i - 1]);
        }
        s = format_int_list(ids, t->n_nodes);
        check_str(s, expected);
}

/* --- temp copies of fixtures --- */

static char *copy_fixture(const char *name) {
        _cleanup_free_ char *src = fixture(name);
        char *dst = tmptree_new("test-topology");

        tmptree_copy(src, dst);
        return dst;
}

static void write_file(const char *root, const char *path, const char *contents) {
        _cleanup_free_ char *full = xasprintf("%s/%s", root, path);
        _cleanup_fclose_ FILE *f = fopen(full, "we");

        check(f);
        check(fputs(contents, f) >= 0);
}

static void make_dir(const char *root, const char *path) {
        _cleanup_free_ char *full = xasprintf("%s/%s", root, path);

        check(mkdir(full, 0755) == 0);
}

static void remove_dir(const char *root, const char *path) {
        _cleanup_free_ char *full = xasprintf("%s/%s", root, path);

        check(rmdir(full) == 0);
}

static void unlink_file(const char *root, const char *path) {
        _cleanup_free_ char *full = xasprintf("%s/%s", root, path);

        check(unlink(full) == 0);
}

/* --- tests --- */

static void test_strings(void) {
        check_str(node_tier_to_string(NODE_TIER_DRAM), "dram");
        check_str(node_tier_to_string(NODE_TIER_CXL), "cxl");
        check(!node_tier_to_string(_NODE_TIER_MAX));
        check(!node_tier_to_string(_NODE_TIER_INVALID));
        check_int(node_tier_from_string("dram"), NODE_TIER_DRAM);
        check_int(node_tier_from_string("cxl"), NODE_TIER_CXL);
        check_int(node_tier_from_string("pmem"), _NODE_TIER_INVALID);
        check_int(node_tier_from_string(""), _NODE_TIER_INVALID);
        check_int(node_tier_from_string(NULL), _NODE_TIER_INVALID);

        check_str(tier_source_to_string(TIER_SOURCE_MEMORY_TIER), "memory-tier");
        check_str(tier_source_to_string(TIER_SOURCE_CPULESS), "cpu-less");
        check_str(tier_source_to_string(TIER_SOURCE_HAS_CPUS), "has-cpus");
        check_str(tier_source_to_string(TIER_SOURCE_CONFIG), "config");
        check(!tier_source_to_string(_TIER_SOURCE_MAX));
        check(!tier_source_to_string(_TIER_SOURCE_INVALID));
        for (TierSource s = 0; s < _TIER_SOURCE_MAX; s++)
                check_int(tier_source_from_string(tier_source_to_string(s)), s);
        check_int(tier_source_from_string("hmat"), _TIER_SOURCE_INVALID);
}

static void test_1node(void) {
        _cleanup_(topology_freep) Topology *t = load_ok("sysfs-1node", NULL);

        check_int(t->n_nodes, 1);
        check_ids(t, "0");
        check(t->nodes[0].has_memory);
        check_node(t, 0, NODE_TIER_DRAM, TIER_SOURCE_HAS_CPUS, 4, "0-1", 4679456, 3496072);
        check_int(topology_distance(t, 0, 0), 10);
        check_int(topology_distance(t, 0, 1), -ENOENT);
        check_int(topology_distance(t, 1, 0), -ENOENT);
        check_targets(t, 0, "");
        check_int(topology_count_tier(t, NODE_TIER_DRAM), 1);
        check_int(topology_count_tier(t, NODE_TIER_CXL), 0);
        check(!topology_node(t, 1));
        check(!topology_node(t, -1));
}

static void test_lab2(void) {
        _cleanup_(topology_freep) Topology *t = load_ok("sysfs-lab2", NULL);

        /* Both nodes in memory_tier4: one tier, so the CPU-less rule decides. */
        check_int(t->n_nodes, 2);
        check_ids(t, "0-1");
        check_node(t, 0, NODE_TIER_DRAM, TIER_SOURCE_HAS_CPUS, 4, "0-1", 1014260, 921884);
        check_node(t, 1, NODE_TIER_CXL, TIER_SOURCE_CPULESS, 4, "", 1031592, 1019548);
        check_int(topology_distance(t, 0, 0), 10);
        check_int(topology_distance(t, 0, 1), 20);
        check_int(topology_distance(t, 1, 0), 20);
        check_int(topology_distance(t, 1, 1), 10);
        check_targets(t, 0, "1");
        check_targets(t, 1, "");
        check_int(topology_count_tier(t, NODE_TIER_DRAM), 1);
        check_int(topology_count_tier(t, NODE_TIER_CXL), 1);
}

static void test_lab2_hmat(void) {
        _cleanup_(topology_freep) Topology *t = load_ok("sysfs-lab2-hmat", NULL);

        check_int(t->n_nodes, 2);
        check_node(t, 0, NODE_TIER_DRAM, TIER_SOURCE_MEMORY_TIER, 4, "0-1", 1014260, 921884);
        check_node(t, 1, NODE_TIER_CXL, TIER_SOURCE_MEMORY_TIER, 54, "", 1031592, 1019548);
        check_targets(t, 0, "1");
        check_int(topology_count_tier(t, NODE_TIER_DRAM), 1);
        check_int(topology_count_tier(t, NODE_TIER_CXL), 1);
}

static void test_4node(void) {
        _cleanup_(topology_freep) Topology *t = load_ok("sysfs-4node", NULL);
        static const int dist[4][4] = {
                { 10, 21, 24, 24 },
                { 21, 10, 14, 14 },
                { 24, 14, 10, 16 },
                { 24, 14, 16, 10 },
        };

        check_int(t->n_nodes, 4);
        check_ids(t, "0-3");
        check_node(t, 0, NODE_TIER_DRAM, TIER_SOURCE_MEMORY_TIER, 4, "0-15,32-47", 131621872, 98234512);
        check_node(t, 1, NODE_TIER_DRAM, TIER_SOURCE_MEMORY_TIER, 4, "16-31,48-63", 132067244, 101873320);
        check_node(t, 2, NODE_TIER_CXL, TIER_SOURCE_MEMORY_TIER, 22, "", 67108864, 66912340);
        check_node(t, 3, NODE_TIER_CXL, TIER_SOURCE_MEMORY_TIER, 22, "", 67108864, 67010112);
        for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++)
                        check_int(topology_distance(t, i, j), dist[i][j]);
        /* node 0: 2 and 3 both at 24, tie by id; node 1: both at 14 */
        check_targets(t, 0, "2 3");
        check_targets(t, 1, "2 3");
        check_targets(t, 2, "");
        check_targets(t, 3, "");
        check_int(topology_count_tier(t, NODE_TIER_DRAM), 2);
        check_int(topology_count_tier(t, NODE_TIER_CXL), 2);
}

static void test_sparse(void) {
        _cleanup_(topology_freep) Topology *t = load_ok("sysfs-sparse", NULL);

        check_int(t->n_nodes, 4);
        check_ids(t, "0-1,4,6");
        check_node(t, 0, NODE_TIER_DRAM, TIER_SOURCE_HAS_CPUS, 4, "0-7", 16326656, 12002304);
        check_node(t, 1, NODE_TIER_DRAM, TIER_SOURCE_HAS_CPUS, 4, "8-15", 16497408, 13580288);
        check_node(t, 4, NODE_TIER_CXL, TIER_SOURCE_CPULESS, 4, "", 33554432, 33400832);
        check_node(t, 6, NODE_TIER_CXL, TIER_SOURCE_CPULESS, 4, "", 33554432, 33521664);
        check(!topology_node(t, 2));
        check(!topology_node(t, 5));
        check(!topology_node(t, 7));
        /* Rows are in online order (0 1 4 6), not indexed by id. */
        check_int(topology_distance(t, 0, 4), 14);
        check_int(topology_distance(t, 0, 6), 24);
        check_int(topology_distance(t, 1, 6), 14);
        check_int(topology_distance(t, 4, 6), 26);
        check_int(topology_distance(t, 6, 4), 26);
        check_int(topology_distance(t, 6, 6), 10);
        check_int(topology_distance(t, 0, 2), -ENOENT);
        check_targets(t, 0, "4 6");
        check_targets(t, 1, "6 4");
        check_targets(t, 4, "");
        check_targets(t, 6, "");
}

static void test_memoryless(void) {
        _cleanup_(topology_freep) Topology *t = load_ok("sysfs-memoryless", NULL);
        const TopologyNode *n;

        /* Old kernel: no has_memory/has_cpu, no memory tiers. Node 3 has neither CPUs nor memory. */
        check_int(t->n_nodes, 3);
        check_ids(t, "0-2");
        check_node(t, 0, NODE_TIER_DRAM, TIER_SOURCE_HAS_CPUS, -1, "0-3", 2097152, 1800000);
        check_node(t, 1, NODE_TIER_DRAM, TIER_SOURCE_HAS_CPUS, -1, "4-7", 0, 0);
        check_node(t, 2, NODE_TIER_CXL, TIER_SOURCE_CPULESS, -1, "", 4194304, 4100000);
        check(topology_node(t, 0)->has_memory);
        check(!topology_node(t, 1)->has_memory);
        check(topology_node(t, 2)->has_memory);
        check(!topology_node(t, 3));
        /* column of the skipped node 3 is dropped */
        check_int(topology_distance(t, 0, 1), 12);
        check_int(topology_distance(t, 1, 2), 22);
        check_int(topology_distance(t, 2, 0), 20);
        check_int(topology_distance(t, 0, 3), -ENOENT);
        check_targets(t, 0, "2");
        check_targets(t, 1, "");
        /* the memoryless node is not a placement target */
        check_int(topology_count_tier(t, NODE_TIER_DRAM), 1);
        check_int(topology_count_tier(t, NODE_TIER_CXL), 1);

        /* forcing it to DRAM is harmless, to CXL is nonsense */
        {
                const int dram[] = { 1 }, cxl[] = { 1 };
                TopologyOverrides o = { .dram_nodes = dram, .n_dram_nodes = 1 };
                _cleanup_(topology_freep) Topology *u = load_ok("sysfs-memoryless", &o);
                Topology *v = NULL;

                n = topology_node(u, 1);
                check_int(n->tier, NODE_TIER_DRAM);
                check_int(n->tier_source, TIER_SOURCE_CONFIG);
                check_int(n->n_demotion_targets, 0);

                o = (TopologyOverrides) { .cxl_nodes = cxl, .n_cxl_nodes = 1 };
                check_int(load("sysfs-memoryless", &o, &v), -EINVAL);
                check(!v);
        }
        {
                /* an online node with nothing on it is not a node we know */
                const int cxl[] = { 3 };
                TopologyOverrides o = { .cxl_nodes = cxl, .n_cxl_nodes = 1 };
                Topology *v = NULL;

                check_int(load("sysfs-memoryless", &o, &v), -ENOENT);
                check(!v);
        }
}

static void test_overrides(void) {
        {
                /* force the CPU-less lab node to DRAM: no CXL left, no targets */
                const int dram[] = { 1 };
                TopologyOverrides o = { .dram_nodes = dram, .n_dram_nodes = 1 };
                _cleanup_(topology_freep) Topology *t = load_ok("sysfs-lab2", &o);

                check_node(t, 0, NODE_TIER_DRAM, TIER_SOURCE_HAS_CPUS, 4, "0-1", 1014260, 921884);
                check_node(t, 1, NODE_TIER_DRAM, TIER_SOURCE_CONFIG, 4, "", 1031592, 1019548);
                check_targets(t, 0, "");
                check_targets(t, 1, "");
                check_int(topology_count_tier(t, NODE_TIER_CXL), 0);
        }
        {
                /* 4-node host: force CPU node 1 to CXL; node 0 now demotes to 1 (21) before 2/3 (24) */
                const int cxl[] = { 1 };
                TopologyOverrides o = { .cxl_nodes = cxl, .n_cxl_nodes = 1 };
                _cleanup_(topology_freep) Topology *t = load_ok("sysfs-4node", &o);

                check_node(t, 1, NODE_TIER_CXL, TIER_SOURCE_CONFIG, 4, "16-31,48-63", 132067244, 101873320);
                check_node(t, 0, NODE_TIER_DRAM, TIER_SOURCE_MEMORY_TIER, 4, "0-15,32-47", 131621872, 98234512);
                check_targets(t, 0, "1 2 3");
                check_targets(t, 1, "");
                check_int(topology_count_tier(t, NODE_TIER_DRAM), 1);
                check_int(topology_count_tier(t, NODE_TIER_CXL), 3);
        }
        {
                /* both lists at once, sparse ids */
                const int dram[] = { 4 }, cxl[] = { 1 };
                TopologyOverrides o = {
                        .dram_nodes = dram, .n_dram_nodes = 1,
                        .cxl_nodes = cxl, .n_cxl_nodes = 1,
                };
                _cleanup_(topology_freep) Topology *t = load_ok("sysfs-sparse", &o);

                check_int(topology_node(t, 4)->tier, NODE_TIER_DRAM);
                check_int(topology_node(t, 4)->tier_source, TIER_SOURCE_CONFIG);
                check_int(topology_node(t, 1)->tier, NODE_TIER_CXL);
                check_int(topology_node(t, 1)->tier_source, TIER_SOURCE_CONFIG);
                check_int(topology_node(t, 6)->tier_source, TIER_SOURCE_CPULESS);
                check_targets(t, 0, "1 6");  /* 21, 24 */
                check_targets(t, 4, "1 6");  /* 24, 26 */
                check_targets(t, 1, "");
        }
        {
                /* empty override changes nothing */
                TopologyOverrides o = {};
                _cleanup_(topology_freep) Topology *t = load_ok("sysfs-4node", &o);

                check_int(topology_node(t, 2)->tier_source, TIER_SOURCE_MEMORY_TIER);
                check_targets(t, 0, "2 3");
        }
        {
                const int bad[] = { 2 }, neg[] = { -1 }, one[] = { 1 };
                TopologyOverrides o = { .dram_nodes = bad, .n_dram_nodes = 1 };
                Topology *t = NULL;

                /* node 2 is not online in the sparse tree */
                check_int(load("sysfs-sparse", &o, &t), -ENOENT);
                o = (TopologyOverrides) { .cxl_nodes = bad, .n_cxl_nodes = 1 };
                check_int(load("sysfs-sparse", &o, &t), -ENOENT);
                o = (TopologyOverrides) { .cxl_nodes = neg, .n_cxl_nodes = 1 };
                check_int(load("sysfs-lab2", &o, &t), -ENOENT);
                /* a node in both lists */
                o = (TopologyOverrides) { .dram_nodes = one, .n_dram_nodes = 1, .cxl_nodes = one, .n_cxl_nodes = 1 };
                check_int(load("sysfs-lab2", &o, &t), -EINVAL);
                check(!t);
        }
}

static void test_cpu_node_in_slow_tier(void) {
        char *root = copy_fixture("sysfs-4node");
        _cleanup_(topology_freep) Topology *t = NULL;

        /* The kernel puts node 1 (with CPUs) in the slow tier: it is CXL by the kernel's word. */
        write_file(root, "devices/virtual/memory_tiering/memory_tier4/nodelist", "0\n");
        write_file(root, "devices/virtual/memory_tiering/memory_tier22/nodelist", "1-3\n");
        check_int(topology_load(root, NULL, &t), 0);
        check_node(t, 0, NODE_TIER_DRAM, TIER_SOURCE_MEMORY_TIER, 4, "0-15,32-47", 131621872, 98234512);
        check_node(t, 1, NODE_TIER_CXL, TIER_SOURCE_MEMORY_TIER, 22, "16-31,48-63", 132067244, 101873320);
        check_targets(t, 0, "1 2 3");
        t = topology_free(t);

        /* A CPU-less node faster than the DRAM tier (HBM-like) counts as DRAM. */
        make_dir(root, "devices/virtual/memory_tiering/memory_tier2");
        write_file(root, "devices/virtual/memory_tiering/memory_tier2/nodelist", "2\n");
        write_file(root, "devices/virtual/memory_tiering/memory_tier4/nodelist", "0-1\n");
        write_file(root, "devices/virtual/memory_tiering/memory_tier22/nodelist", "3\n");
        check_int(topology_load(root, NULL, &t), 0);
        check_node(t, 2, NODE_TIER_DRAM, TIER_SOURCE_MEMORY_TIER, 2, "", 67108864, 66912340);
        check_node(t, 3, NODE_TIER_CXL, TIER_SOURCE_MEMORY_TIER, 22, "", 67108864, 67010112);
        check_targets(t, 0, "3");
        check_targets(t, 1, "3");
        check_targets(t, 2, "3");
        t = topology_free(t);

        /* No node with memory has CPUs: the fastest tier is DRAM. */
        write_file(root, "devices/system/node/has_cpu", "\n");
        write_file(root, "devices/system/node/node0/cpulist", "\n");
        write_file(root, "devices/system/node/node1/cpulist", "\n");
        write_file(root, "devices/virtual/memory_tiering/memory_tier2/nodelist", "\n");
        write_file(root, "devices/virtual/memory_tiering/memory_tier4/nodelist", "0-2\n");
        check_int(topology_load(root, NULL, &t), 0);
        check_int(topology_node(t, 0)->tier, NODE_TIER_DRAM);
        check_int(topology_node(t, 2)->tier, NODE_TIER_DRAM);
        check_int(topology_node(t, 3)->tier, NODE_TIER_CXL);
        check_targets(t, 1, "3");
        t = topology_free(t);

        /* ... and with one tier only, every memory node is DRAM: nothing to tier. */
        write_file(root, "devices/virtual/memory_tiering/memory_tier4/nodelist", "0-3\n");
        write_file(root, "devices/virtual/memory_tiering/memory_tier22/nodelist", "\n");
        check_int(topology_load(root, NULL, &t), 0);
        check_int(topology_count_tier(t, NODE_TIER_DRAM), 4);
        check_int(topology_count_tier(t, NODE_TIER_CXL), 0);
        for (size_t i = 0; i < t->n_nodes; i++) {
                check_int(t->nodes[i].tier_source, t->nodes[i].n_cpus > 0 ? TIER_SOURCE_HAS_CPUS : TIER_SOURCE_CPULESS);
                check_int(t->nodes[i].n_demotion_targets, 0);
        }

        tmptree_remove(root);
}

static void test_no_tiering_dir(void) {
        char *root = copy_fixture("sysfs-lab2-hmat");
        _cleanup_(topology_freep) Topology *t = NULL;

        unlink_file(root, "devices/virtual/memory_tiering/memory_tier4/nodelist");
        unlink_file(root, "devices/virtual/memory_tiering/memory_tier54/nodelist");
        remove_dir(root, "devices/virtual/memory_tiering/memory_tier4");
        remove_dir(root, "devices/virtual/memory_tiering/memory_tier54");
        remove_dir(root, "devices/virtual/memory_tiering");

        check_int(topology_load(root, NULL, &t), 0);
        check_node(t, 0, NODE_TIER_DRAM, TIER_SOURCE_HAS_CPUS, -1, "0-1", 1014260, 921884);
        check_node(t, 1, NODE_TIER_CXL, TIER_SOURCE_CPULESS, -1, "", 1031592, 1019548);
        check_targets(t, 0, "1");
        tmptree_remove(root);
}

static void test_refresh_meminfo(void) {
        char *root = copy_fixture("sysfs-sparse");
        _cleanup_(topology_freep) Topology *t = NULL;

        check_int(topology_load(root, NULL, &t), 0);
        check_int(topology_node(t, 4)->free_bytes, UINT64_C(33400832) * KIB);

        write_file(root, "devices/system/node/node4/meminfo",
                   "Node 4 MemTotal:       33554432 kB\n"
                   "Node 4 MemFree:         1048576 kB\n"
                   "Node 4 MemUsed:        32505856 kB\n"
                   "Node 4 HugePages_Total:     0\n");
        check_int(topology_refresh_meminfo(t, root), 0);
        check_int(topology_node(t, 4)->total_bytes, UINT64_C(33554432) * KIB);
        check_int(topology_node(t, 4)->free_bytes, UINT64_C(1048576) * KIB);
        check_int(topology_node(t, 0)->free_bytes, UINT64_C(12002304) * KIB);

        /* all or nothing: node 4 changes, node 6 breaks, node 4 must keep its old numbers */
        write_file(root, "devices/system/node/node4/meminfo",
                   "Node 4 MemTotal:       33554432 kB\n"
                   "Node 4 MemFree:         2097152 kB\n");
        write_file(root, "devices/system/node/node6/meminfo", "Node 6 MemTotal:       33554432 kB\n");
        check_int(topology_refresh_meminfo(t, root), -EINVAL);
        check_int(topology_node(t, 4)->free_bytes, UINT64_C(1048576) * KIB);

        unlink_file(root, "devices/system/node/node6/meminfo");
        check_int(topology_refresh_meminfo(t, root), -ENOENT);
        check_int(topology_node(t, 4)->free_bytes, UINT64_C(1048576) * KIB);

        tmptree_remove(root);
}

/* The floor check's reader: the file stays open and a changed file is read anew from its start;
 * a garbled file fails -EINVAL, a node without one -ENOENT, ids outside 0..1023 -EINVAL. */
static void test_node_free_reader(void) {
        char *root = copy_fixture("sysfs-sparse");
        NodeFreeReader *r = node_free_reader_new(root);
        uint64_t f = 0;

        check_int(node_free_reader_read(r, 4, &f), 0);
        check_int(f, UINT64_C(33400832) * KIB);
        check_int(topology_read_node_free(root, 4, &f), 0);
        check_int(f, UINT64_C(33400832) * KIB);
        /* rewritten in place (same inode, as sysfs regenerates it): read again from the start */
        write_file(root, "devices/system/node/node4/meminfo",
                   "Node 4 MemTotal:       33554432 kB\n"
                   "Node 4 MemFree:         1048576 kB\n");
        check_int(node_free_reader_read(r, 4, &f), 0);
        check_int(f, UINT64_C(1048576) * KIB);
        check_int(node_free_reader_read(r, 0, &f), 0);
        check_int(f, UINT64_C(12002304) * KIB);
        write_file(root, "devices/system/node/node4/meminfo", "Node 4 MemTotal:       33554432 kB\n");
        check_int(node_free_reader_read(r, 4, &f), -EINVAL);
        check_int(node_free_reader_read(r, 5, &f), -ENOENT);
        check_int(node_free_reader_read(r, -1, &f), -EINVAL);
        check_int(node_free_reader_read(r, 1024, &f), -EINVAL);
        check_int(topology_read_node_free(root, 5, &f), -ENOENT);
        r = node_free_reader_free(r);
        tmptree_remove(root);
}

static void test_broken(void) {
        Topology *t = NULL;

        check_int(load("sysfs-broken-distance", NULL, &t), -EINVAL);
        check(!t);
        check_int(load("sysfs-broken-meminfo", NULL, &t), -ENOENT);
        check(!t);
        check_int(load("does-not-exist", NULL, &t), -ENOENT);
        check(!t);
}

/* Copy lab2, break one file, expect an error and no output. */
static void check_garbled(const char *path, const char *contents, int expected) {
        char *root = copy_fixture("sysfs-lab2");
        Topology *t = NULL;
        int r;

        if (contents)
                write_file(root, path, contents);
        else
                unlink_file(root, path);
        r = topology_load(root, NULL, &t);
        if (r != expected) {
                fprintf(stderr, "%s = \"%s\": got %d, expected %d\n", path, contents ?: "(missing)", r, expected);
                exit(EXIT_FAILURE);
        }
        check(!t);
        tmptree_remove(root);
}

static void test_garbled(void) {
        check_garbled("devices/system/node/online", "0-x\n", -EINVAL);
        check_garbled("devices/system/node/online", "\n", -EINVAL);
        check_garbled("devices/system/node/online", NULL, -ENOENT);
        check_garbled("devices/system/node/has_memory", "zero\n", -EINVAL);
        check_garbled("devices/system/node/node0/cpulist", "0-1;2\n", -EINVAL);
        check_garbled("devices/system/node/node0/cpulist", NULL, -ENOENT);
        check_garbled("devices/system/node/node0/distance", "10 20 30\n", -EINVAL);
        check_garbled("devices/system/node/node0/distance", "10 twenty\n", -EINVAL);
        check_garbled("devices/system/node/node0/distance", "10 -20\n", -EINVAL);
        check_garbled("devices/system/node/node0/distance", "10 2000\n", -ERANGE);
        check_garbled("devices/system/node/node0/distance", "\n", -EINVAL);
        check_garbled("devices/system/node/node1/distance", NULL, -ENOENT);
        check_garbled("devices/system/node/node0/meminfo", "", -EINVAL);
        check_garbled("devices/system/node/node0/meminfo",
                      "Node 0 MemTotal:        1014260 kB\n", -EINVAL);
        check_garbled("devices/system/node/node0/meminfo",
                      "Node 0 MemTotal:        1014260 kB\nNode 0 MemFree:  lots kB\n", -EINVAL);
        check_garbled("devices/system/node/node0/meminfo",
                      "Node 0 MemTotal:        1014260 MB\nNode 0 MemFree:  1000 kB\n", -EINVAL);
        check_garbled("devices/system/node/node0/meminfo",
                      "Node 1 MemTotal:        1014260 kB\nNode 1 MemFree:  1000 kB\n", -EINVAL);
        check_garbled("devices/system/node/node0/meminfo", "garbage\n", -EINVAL);
        check_garbled("devices/virtual/memory_tiering/memory_tier4/nodelist", "0-1-2\n", -EINVAL);
        check_garbled("devices/virtual/memory_tiering/memory_tier4/nodelist", NULL, -ENOENT);
}

static void test_node_in_two_tiers(void) {
        char *root = copy_fixture("sysfs-lab2-hmat");
        Topology *t = NULL;

        write_file(root, "devices/virtual/memory_tiering/memory_tier54/nodelist", "0-1\n");
        check_int(topology_load(root, NULL, &t), -EINVAL);
        check(!t);
        tmptree_remove(root);
}

static void test_real_sys(void) {
        _cleanup_(topology_freep) Topology *t = NULL;
        size_t n_cpus = 0;
        int r;

        r = topology_load("/sys", NULL, &t);
        if (r == -ENOENT) {
                printf("no NUMA in /sys here (%s), skipping the real-sysfs check\n", strerror(-r));
                return;
        }
        check_int(r, 0);
        check(t->n_nodes >= 1);
        check(topology_count_tier(t, NODE_TIER_DRAM) >= 1);
        for (size_t i = 0; i < t->n_nodes; i++) {
                const TopologyNode *n = t->nodes + i;

                n_cpus += n->n_cpus;
                check(n->free_bytes <= n->total_bytes);
                if (n->has_memory)
                        check(n->total_bytes > 0);
                check_int(topology_distance(t, n->id, n->id), 10);
                printf("real node %d: %s (%s), memory_tier %d, %zu CPUs, %" PRIu64 " MiB, %" PRIu64 " MiB free\n",
                       n->id, node_tier_to_string(n->tier), tier_source_to_string(n->tier_source),
                       n->memory_tier, n->n_cpus, n->total_bytes / MIB, n->free_bytes / MIB);
        }
        check(n_cpus >= 1);
        if (t->n_nodes == 1) {
                /* the build machines: one node, all CPUs, no CXL */
                check_int(topology_count_tier(t, NODE_TIER_CXL), 0);
                check(t->nodes[0].n_cpus == (size_t) sysconf(_SC_NPROCESSORS_ONLN));
        }
        check_int(topology_refresh_meminfo(t, "/sys"), 0);
}

int main(void) {
        test_data = test_data_dir();

        test_strings();
        test_1node();
        test_lab2();
        test_lab2_hmat();
        test_4node();
        test_sparse();
        test_memoryless();
        test_overrides();
        test_cpu_node_in_slow_tier();
        test_no_tiering_dir();
        test_refresh_meminfo();
        test_node_free_reader();
        test_broken();
        test_garbled();
        test_node_in_two_tiers();
        test_real_sys();

        printf("test-topology: all passed\n");
        return EXIT_SUCCESS;
}
