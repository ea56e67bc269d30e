/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The future-knowing placement oracle; the model is in sim-oracle.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim-oracle.h"
#include "vtism/util.h"

typedef struct Pair {
        uint32_t key, unit;
} Pair;

typedef struct OVm {
        uint64_t pages, units;
        unsigned unit_pages;
        uint8_t *on_dram;            /* per page */
        uint32_t **ring;             /* H slots of per-page counts */
        uint64_t *sum;               /* per page: accesses in the held cycles */
        uint64_t *val;               /* per unit, this step */
        Pair *dram, *cxl, *scratch;  /* units by key */
        size_t n_dram, n_cxl;
        uint64_t dram_pages;
        uint64_t moved_pages;
} OVm;

struct SimOracle {
        OVm *vms;
        size_t n_vms;
        unsigned horizon, head, held;
        SimOracleStats stats;
};

int sim_oracle_new(const uint64_t *vm_pages, const unsigned *unit_pages, size_t n_vms, unsigned horizon, SimOracle **ret) {
        SimOracle *o;

        if (n_vms == 0 || !vm_pages || !unit_pages || horizon == 0 || horizon > SIM_ORACLE_HORIZON_MAX)
                return -EINVAL;
        for (size_t v = 0; v < n_vms; v++)
                if (vm_pages[v] == 0 || vm_pages[v] > UINT32_MAX || (unit_pages[v] != 1 && unit_pages[v] != 512) ||
                    vm_pages[v] % unit_pages[v] != 0)
                        return -EINVAL;

        o = xcalloc(1, sizeof(SimOracle));
        o->n_vms = n_vms;
        o->horizon = horizon;
        o->vms = xcalloc(n_vms, sizeof(OVm));
        for (size_t v = 0; v < n_vms; v++) {
                OVm *m = &o->vms[v];

                m->pages = vm_pages[v];
                m->unit_pages = unit_pages[v];
                m->units = m->pages / m->unit_pages;
                m->on_dram = xcalloc(m->pages, 1);
                m->ring = xcalloc(horizon, sizeof(uint32_t *));
                for (unsigned k = 0; k < horizon; k++)
                        m->ring[k] = xcalloc(m->pages, sizeof(uint32_t));
                m->sum = xcalloc(m->pages, sizeof(uint64_t));
                m->val = xcalloc(m->units, sizeof(uint64_t));
                m->dram = xcalloc(m->units, sizeof(Pair));
                m->cxl = xcalloc(m->units, sizeof(Pair));
                m->scratch = xcalloc(m->units, sizeof(Pair));
        }
        *ret = o;
        return 0;
}

SimOracle *sim_oracle_free(SimOracle *o) {
        if (!o)
                return NULL;
        for (size_t v = 0; v < o->n_vms; v++) {
                OVm *m = &o->vms[v];

                for (unsigned k = 0; k < o->horizon; k++)
                        free(m->ring[k]);
                free(m->ring);
                free(m->on_dram);
                free(m->sum);
                free(m->val);
                free(m->dram);
                free(m->cxl);
                free(m->scratch);
        }
        free(o->vms);
        free(o);
        return NULL;
}

uint8_t *sim_oracle_on_dram(SimOracle *o, size_t vm) {
        return vm < o->n_vms ? o->vms[vm].on_dram : NULL;
}

const SimOracleStats *sim_oracle_stats(const SimOracle *o) {
        return &o->stats;
}

uint64_t sim_oracle_moved_pages(const SimOracle *o, size_t vm) {
        return vm < o->n_vms ? o->vms[vm].moved_pages : 0;
}

unsigned sim_oracle_horizon(const SimOracle *o) {
        return o->horizon;
}

unsigned sim_oracle_held(const SimOracle *o) {
        return o->held;
}

int sim_oracle_push(SimOracle *o, const uint32_t *const *counts) {
        unsigned slot;

        if (o->held == o->horizon)
                return -ENOSPC;
        slot = (o->head + o->held) % o->horizon;
        for (size_t v = 0; v < o->n_vms; v++) {
                OVm *m = &o->vms[v];

                memcpy(m->ring[slot], counts[v], m->pages * sizeof(uint32_t));
                for (uint64_t p = 0; p < m->pages; p++)
                        m->sum[p] += counts[v][p];
        }
        o->held++;
        return 0;
}

int sim_oracle_pop(SimOracle *o) {
        if (o->held == 0)
                return -ENODATA;
        for (size_t v = 0; v < o->n_vms; v++) {
                OVm *m = &o->vms[v];
                const uint32_t *c = m->ring[o->head];

                for (uint64_t p = 0; p < m->pages; p++)
                        m->sum[p] -= c[p];
        }
        o->head = (o->head + 1) % o->horizon;
        o->held--;
        return 0;
}

/* Stable LSD radix sort by key, ascending (three 11-bit digits). */
static void sort_pairs(Pair *a, Pair *tmp, size_t n) {
        for (unsigned shift = 0; shift < 32; shift += 11) {
                size_t count[2049] = {};

                for (size_t i = 0; i < n; i++)
                        count[((a[i].key >> shift) & 0x7ff) + 1]++;
                for (size_t d = 1; d <= 2048; d++)
                        count[d] += count[d - 1];
                for (size_t i = 0; i < n; i++)
                        tmp[count[(a[i].key >> shift) & 0x7ff]++] = a[i];
                memcpy(a, tmp, n * sizeof(Pair));
        }
}

/* Values and keys of the VM's units; its DRAM units ascending and CXL units with value > 0. */
static void value_units(const SimOracle *o, OVm *m) {
        uint64_t kmax = UINT32_MAX / (o->horizon + 1) - 1;

        m->n_dram = m->n_cxl = 0;
        m->dram_pages = 0;
        for (uint64_t u = 0; u < m->units; u++) {
                uint64_t first = u * m->unit_pages, val = 0;
                unsigned next = o->horizon;
                uint32_t key = 0;

                for (uint64_t p = first; p < first + m->unit_pages; p++) {
                        if (m->sum[p] == 0)
                                continue;
                        val += m->sum[p];
                        for (unsigned k = 0; k < next; k++)
                                if (m->ring[(o->head + k) % o->horizon][p] > 0) {
                                        next = k;
                                        break;
                                }
                }
                m->val[u] = val;
                if (val > 0)
                        key = (uint32_t) (MIN(val, kmax) * (o->horizon + 1) + (o->horizon - next));
                if (m->on_dram[first]) {
                        m->dram[m->n_dram++] = (Pair) { key, (uint32_t) u };
                        m->dram_pages += m->unit_pages;
                } else if (val > 0)
                        m->cxl[m->n_cxl++] = (Pair) { key, (uint32_t) u };
        }
        sort_pairs(m->dram, m->scratch, m->n_dram);
        sort_pairs(m->cxl, m->scratch, m->n_cxl);
}

static void set_unit(OVm *m, uint64_t u, bool dram) {
        memset(m->on_dram + u * m->unit_pages, dram, m->unit_pages);
}

int64_t sim_oracle_step(SimOracle *o, const uint64_t *caps, uint64_t budget_pages) {
        size_t *di, *ci;
        uint64_t used = 0;

        if (o->held == 0)
                return -ENODATA;
        for (size_t v = 0; v < o->n_vms; v++)
                if (caps[v] > o->vms[v].pages)
                        return -EINVAL;

        di = xcalloc(o->n_vms, sizeof(size_t));
        ci = xcalloc(o->n_vms, sizeof(size_t));
        for (size_t v = 0; v < o->n_vms; v++) {
                OVm *m = &o->vms[v];

                value_units(o, m);
                /* (a) */
                while (m->dram_pages > caps[v] && di[v] < m->n_dram && used + m->unit_pages <= budget_pages) {
                        set_unit(m, m->dram[di[v]++].unit, false);
                        m->dram_pages -= m->unit_pages;
                        m->moved_pages += m->unit_pages;
                        used += m->unit_pages;
                        o->stats.demoted_pages += m->unit_pages;
                }
        }
        /* (b) */
        for (;;) {
                double best_gain = 0;
                size_t best = SIZE_MAX;
                bool best_fill = false;

                for (size_t v = 0; v < o->n_vms; v++) {
                        OVm *m = &o->vms[v];
                        uint64_t vc, u = m->unit_pages;
                        double gain;

                        if (ci[v] >= m->n_cxl)
                                continue;
                        vc = m->val[m->cxl[m->n_cxl - 1 - ci[v]].unit];
                        if (m->dram_pages + u <= caps[v] && used + u <= budget_pages) {
                                gain = (double) vc / (double) u;
                                if (gain > best_gain) {
                                        best_gain = gain;
                                        best = v;
                                        best_fill = true;
                                }
                        } else if (di[v] < m->n_dram && used + 2 * u <= budget_pages && vc > m->val[m->dram[di[v]].unit]) {
                                gain = (double) (vc - m->val[m->dram[di[v]].unit]) / (double) (2 * u);
                                if (gain > best_gain) {
                                        best_gain = gain;
                                        best = v;
                                        best_fill = false;
                                }
                        }
                }
                if (best == SIZE_MAX)
                        break;

                OVm *m = &o->vms[best];

                set_unit(m, m->cxl[m->n_cxl - 1 - ci[best]++].unit, true);
                used += m->unit_pages;
                m->moved_pages += m->unit_pages;
                o->stats.promoted_pages += m->unit_pages;
                if (best_fill)
                        m->dram_pages += m->unit_pages;
                else {
                        set_unit(m, m->dram[di[best]++].unit, false);
                        used += m->unit_pages;
                        m->moved_pages += m->unit_pages;
                        o->stats.demoted_pages += m->unit_pages;
                }
        }
        free(di);
        free(ci);
        return (int64_t) used;
}

void sim_oracle_hits(const SimOracle *o, size_t vm, uint64_t *ret_dram, uint64_t *ret_total) {
        const OVm *m = &o->vms[vm];
        const uint32_t *c = m->ring[o->head];
        uint64_t dram = 0, total = 0;

        if (o->held > 0)
                for (uint64_t p = 0; p < m->pages; p++) {
                        total += c[p];
                        dram += m->on_dram[p] ? c[p] : 0;
                }
        *ret_dram = dram;
        *ret_total = total;
}
