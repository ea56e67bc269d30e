/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz harness for the sysfs topology readers (src/core/topology.c): node lists, cpulists,
 * per-node meminfo, distance rows and memory tiers, plus tiers { } overrides. The input's
 * NUL-separated fields are the files of an in-memory sysfs tree (fuzz-tree.h; "-" = absent):
 *
 *   0 devices/system/node/online       1 .../has_memory        2 .../has_cpu
 *   3+3k node<k>/cpulist  4+3k node<k>/meminfo  5+3k node<k>/distance        (k = 0..3)
 *   15 memory_tier4/nodelist  16 memory_tier22/nodelist  17 memory_tier54/nodelist
 *      (devices/virtual/memory_tiering exists when any of them does)
 *   18 dram override list  19 cxl override list (kernel list syntax, "0-1,3")
 *   20 node0/meminfo again, for topology_refresh_meminfo()
 *
 * A successful load must be self-consistent: ids sorted and distinct, overrides applied,
 * memoryless nodes DRAM without targets, every DRAM node with memory demoting to every CXL node
 * once, nearest first; a failed refresh changes nothing.
 * Seeds: tests/fuzz/corpus/topology/ (made from the fixture trees tests/data/sysfs-*).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-tree.h"
#include "vtism/macro.h"
#include "vtism/topology.h"
#include "vtism/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NODES 4

static const char *const tiers[] = { "memory_tier4", "memory_tier22", "memory_tier54" };

static bool in_list(const int *l, size_t n, int x) {
        for (size_t i = 0; i < n; i++)
                if (l[i] == x)
                        return true;
        return false;
}

static void check_topology(const Topology *t, const TopologyOverrides *o) {
        size_t n_dram = 0, n_cxl = 0;

        if (t->n_nodes == 0 || !t->distance)
                abort();
        for (size_t i = 0; i < t->n_nodes; i++) {
                const TopologyNode *n = &t->nodes[i];

                if (i > 0 && n->id <= t->nodes[i - 1].id)
                        abort();
                if (topology_node(t, n->id) != n || !node_tier_to_string(n->tier) ||
                    !tier_source_to_string(n->tier_source))
                        abort();
                if (!n->has_memory && (n->tier != NODE_TIER_DRAM || n->total_bytes || n->n_demotion_targets))
                        abort();
                if (in_list(o->dram_nodes, o->n_dram_nodes, n->id) &&
                    (n->tier != NODE_TIER_DRAM || n->tier_source != TIER_SOURCE_CONFIG))
                        abort();
                if (in_list(o->cxl_nodes, o->n_cxl_nodes, n->id) &&
                    (n->tier != NODE_TIER_CXL || n->tier_source != TIER_SOURCE_CONFIG))
                        abort();
                for (size_t k = 1; k < n->n_cpus; k++)
                        if (n->cpus[k] <= n->cpus[k - 1])
                                abort();
                if (n->has_memory) {
                        n_dram += n->tier == NODE_TIER_DRAM;
                        n_cxl += n->tier == NODE_TIER_CXL;
                }
        }
        if (topology_count_tier(t, NODE_TIER_DRAM) != n_dram || topology_count_tier(t, NODE_TIER_CXL) != n_cxl)
                abort();
        for (size_t i = 0; i < t->n_nodes; i++) {
                const TopologyNode *n = &t->nodes[i];

                if (n->n_demotion_targets != (n->tier == NODE_TIER_DRAM && n->has_memory ? n_cxl : 0))
                        abort();
                for (size_t k = 0; k < n->n_demotion_targets; k++) {
                        const TopologyNode *c = topology_node(t, n->demotion_targets[k]);

                        if (!c || c->tier != NODE_TIER_CXL)
                                abort();
                        for (size_t j = 0; j < k; j++)
                                if (n->demotion_targets[j] == n->demotion_targets[k])
                                        abort();
                        if (k > 0 && topology_distance(t, n->id, n->demotion_targets[k]) <
                                             topology_distance(t, n->id, n->demotion_targets[k - 1]))
                                abort();
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ int *dram = NULL, *cxl = NULL;
        _cleanup_free_ char *root = NULL;
        size_t n_dram = 0, n_cxl = 0;
        Topology *t = NULL;
        TopologyOverrides o = {};
        FuzzFields f;
        bool any_tier = false;
        int r;

        if (size > 64 * 1024)
                return 0;
        fuzz_fields_split(&f, data, size);
        fuzz_tree_reset();
        root = xasprintf("%s/sys", fuzz_tree_root());

        fuzz_tree_put("sys/devices/system/node/online", fuzz_field(&f, 0));
        fuzz_tree_put("sys/devices/system/node/has_memory", fuzz_field(&f, 1));
        fuzz_tree_put("sys/devices/system/node/has_cpu", fuzz_field(&f, 2));
        for (int k = 0; k < NODES; k++) {
                static const char *const files[] = { "cpulist", "meminfo", "distance" };

                for (int j = 0; j < 3; j++) {
                        _cleanup_free_ char *rel = xasprintf("sys/devices/system/node/node%d/%s", k, files[j]);

                        fuzz_tree_put(rel, fuzz_field(&f, 3 + 3 * (size_t) k + (size_t) j));
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(tiers); i++)
                any_tier = any_tier || fuzz_field(&f, 15 + i);
        fuzz_tree_dir("sys/devices/virtual/memory_tiering", any_tier);
        for (size_t i = 0; i < ELEMENTSOF(tiers) && any_tier; i++) {
                _cleanup_free_ char *dir = xasprintf("sys/devices/virtual/memory_tiering/%s", tiers[i]);
                _cleanup_free_ char *rel = xasprintf("%s/nodelist", dir);

                fuzz_tree_dir(dir, fuzz_field(&f, 15 + i));
                if (fuzz_field(&f, 15 + i))
                        fuzz_tree_put(rel, fuzz_field(&f, 15 + i));
        }

        if (fuzz_field(&f, 18) && parse_int_list(fuzz_field(&f, 18), &dram, &n_dram) < 0)
                goto out;
        if (fuzz_field(&f, 19) && parse_int_list(fuzz_field(&f, 19), &cxl, &n_cxl) < 0)
                goto out;
        o = (TopologyOverrides) { .dram_nodes = dram, .n_dram_nodes = n_dram, .cxl_nodes = cxl, .n_cxl_nodes = n_cxl };

        r = topology_load(root, &o, &t);
        if (r < 0) {
                if (t)
                        abort(); /* *ret only on success */
                goto out;
        }
        check_topology(t, &o);

        /* a second read of the meminfo: all or nothing */
        if (fuzz_field(&f, 20)) {
                _cleanup_free_ uint64_t *total = xcalloc(t->n_nodes, sizeof(uint64_t));

                for (size_t i = 0; i < t->n_nodes; i++)
                        total[i] = t->nodes[i].total_bytes;
                fuzz_tree_put("sys/devices/system/node/node0/meminfo", fuzz_field(&f, 20));
                if (topology_refresh_meminfo(t, root) < 0)
                        for (size_t i = 0; i < t->n_nodes; i++)
                                if (t->nodes[i].total_bytes != total[i])
                                        abort();
        }
        topology_free(t);
out:
        fuzz_fields_done(&f);
        return 0;
}
