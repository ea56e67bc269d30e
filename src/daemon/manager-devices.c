/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What is behind each NUMA node (cxl-devices.h): CXL memory devices, regions, windows, DAX
 * devices and their modes, movable onlining, the node's kind. Read when vtismd starts and on
 * every reload, like the topology (a node hotplugged later, e.g. by daxctl, is seen after a
 * reload: vtismd does not watch for hotplug), and kept as the lists the bus shows (Nodes and
 * OfflineNodes, bus-api.h). A read that fails keeps what was read before.
 */
#include <string.h>

#include "vtism/log.h"
#include "vtism/manager.h"
#include "vtism/util.h"

static char *join_names(char *const *names, size_t n) {
        char *s = NULL;

        for (size_t i = 0; i < n; i++) {
                char *next = xasprintf("%s%s%s", s ?: "", i > 0 ? "," : "", names[i]);

                free(s);
                s = next;
        }
        return s;
}

static void node_view_done(ManagerNodeView *v) {
        free(v->description);
        free(v->cxl_memdevs);
        free(v->cxl_regions);
        free(v->cxl_window);
        free(v->dax_devices);
        free(v->dax_modes);
}

static void node_views_free(ManagerNodeView *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                node_view_done(&v[i]);
        free(v);
}

/* The memory devices of the node's regions, each once, in region and interleave order. */
static char *node_memdevs(const CxlDevices *d, const NodeDevices *nd) {
        _cleanup_free_ char **names = NULL;
        size_t n = 0;

        for (size_t i = 0; i < nd->n_regions; i++) {
                const CxlRegion *g = &d->regions[nd->regions[i]];

                for (size_t k = 0; k < g->n_memdevs; k++) {
                        char *name = d->memdevs[g->memdevs[k]].name;
                        bool seen = false;

                        for (size_t j = 0; j < n && !seen; j++)
                                seen = streq(names[j], name);
                        if (seen)
                                continue;
                        names = xreallocarray(names, n + 1, sizeof(char *));
                        names[n++] = name;
                }
        }
        return join_names(names, n);
}

static void node_view_init(ManagerNodeView *v, const CxlDevices *d, const NodeDevices *nd) {
        _cleanup_free_ char **regions = NULL, **dax = NULL, **modes = NULL;

        *v = (ManagerNodeView) {
                .node = nd->node,
                .online = nd->online,
                .kind = nd->kind,
                .description = xstrdup(nd->description ?: ""),
                .zones_known = nd->zones_known,
                .online_bytes = nd->online_bytes,
                .movable_bytes = nd->movable_bytes,
        };
        regions = xcalloc(nd->n_regions + 1, sizeof(char *));
        for (size_t i = 0; i < nd->n_regions; i++)
                regions[i] = d->regions[nd->regions[i]].name;
        v->cxl_regions = join_names(regions, nd->n_regions);
        v->cxl_memdevs = node_memdevs(d, nd);
        if (nd->window >= 0)
                v->cxl_window = xstrdup(d->windows[nd->window].name);
        dax = xcalloc(nd->n_dax + 1, sizeof(char *));
        modes = xcalloc(nd->n_dax + 1, sizeof(char *));
        for (size_t i = 0; i < nd->n_dax; i++) {
                const DaxDevice *x = &d->dax[nd->dax[i]];

                dax[i] = x->name;
                modes[i] = (char *) dax_mode_to_string(x->mode);
                v->dax_bytes += x->size_bytes;
        }
        v->dax_devices = join_names(dax, nd->n_dax);
        v->dax_modes = join_names(modes, nd->n_dax);
}

const ManagerNodeView *manager_node_view(const Manager *m, int node) {
        for (size_t i = 0; i < m->n_node_views; i++)
                if (m->node_views[i].node == node)
                        return &m->node_views[i];
        return NULL;
}

static const ManagerNodeView *find_view(const ManagerNodeView *v, size_t n, int node) {
        for (size_t i = 0; i < n; i++)
                if (v[i].node == node)
                        return &v[i];
        return NULL;
}

void manager_devices_refresh(Manager *m) {
        _cleanup_(cxl_devices_freep) CxlDevices *d = NULL;
        ManagerNodeView *views;
        int r;

        r = cxl_devices_load(m->sysfs_root, m->proc_root, &d);
        if (r < 0) {
                log_warning_errno(r, "Cannot read the memory devices behind the NUMA nodes below %s%s: %m",
                                  m->sysfs_root, m->node_views ? "; showing what was read before" : "");
                return;
        }
        views = xcalloc(d->n_nodes + 1, sizeof(ManagerNodeView));
        for (size_t i = 0; i < d->n_nodes; i++) {
                const ManagerNodeView *old;

                node_view_init(&views[i], d, &d->nodes[i]);
                /* Said once per node, and again when it changes: DRAM nodes say nothing new. */
                old = find_view(m->node_views, m->n_node_views, views[i].node);
                if (views[i].kind != NODE_KIND_DRAM && (!old || !streq(old->description, views[i].description)))
                        log_info("Node %d%s: %s.", views[i].node, views[i].online ? "" : " (not online)",
                                 views[i].description);
        }
        node_views_free(m->node_views, m->n_node_views);
        m->node_views = views;
        m->n_node_views = d->n_nodes;
}

void manager_devices_done(Manager *m) {
        node_views_free(m->node_views, m->n_node_views);
        m->node_views = NULL;
        m->n_node_views = 0;
}
