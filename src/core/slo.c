/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The per-VM service level: the CXL access share estimate and the DRAM target controller (slo.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "vtism/macro.h"
#include "vtism/slo.h"
#include "vtism/util.h"

#define PAGE_SHIFT 12
#define PAGE_BYTES (UINT64_C(1) << PAGE_SHIFT)
#define LEVELS (HEATMAP_HEAT_MAX + 1)

static const char *const slo_state_names[_SLO_STATE_MAX] = {
        [SLO_NO_ESTIMATE] = "no estimate",
        [SLO_MET] = "met",
        [SLO_CONVERGING] = "converging",
        [SLO_AT_MAX] = "at dram_max",
        [SLO_CONTENDED] = "contended",
        [SLO_RARE] = "rare pages",
};
assert_cc(ELEMENTSOF(slo_state_names) == _SLO_STATE_MAX);

const char *slo_state_to_string(SloState s) {
        if ((unsigned) s >= _SLO_STATE_MAX)
                return NULL;
        return slo_state_names[s];
}

bool slo_state_met(SloState s) {
        return s == SLO_MET || s == SLO_NO_ESTIMATE;
}

/* ---- the estimate ---- */

typedef enum Where {
        WHERE_UNKNOWN,
        WHERE_DRAM,
        WHERE_CXL,
} Where;

static Where where_node(const Topology *t, int id) {
        const TopologyNode *n = id >= 0 ? topology_node(t, id) : NULL;

        if (!n)
                return WHERE_UNKNOWN;
        return n->tier == NODE_TIER_CXL ? WHERE_CXL : WHERE_DRAM;
}

/* A run of consecutive pages of one non-zero heat (coarse trackers: one region). */
typedef struct Run {
        unsigned heat;
        uint64_t dram, cxl;         /* heat x pages known on each tier */
} Run;

static void run_flush(SloEstimate *e, Run *r) {
        if (r->dram > 0 && r->cxl > 0) {
                e->split_dram += r->dram;
                e->split_cxl += r->cxl;
        }
        *r = (Run) {};
}

static unsigned ratio_bp(uint64_t part, uint64_t total) {
        if (total == 0)
                return 0;
        return (unsigned) MIN((unsigned __int128) part * SLO_BP_MAX / total, (unsigned __int128) SLO_BP_MAX);
}

int slo_estimate(const HeatMap *h, const Topology *t, bool coarse, unsigned rare_below, SloEstimate *ret) {
        SloEstimate e = { .coarse = coarse };
        uint64_t known_dram_pages = 0, known_cxl_pages = 0, unknown_cxl = 0;
        HeatHistogram total;

        if (!h || !t || !ret)
                return -EINVAL;

        for (size_t ri = 0; ri < heatmap_n_ranges(h); ri++) {
                HeatRangeSpec spec;
                const uint8_t *heat;
                size_t n_granules, nb = heatmap_range_n_blocks(h, ri);
                unsigned shift;
                Run run = {};

                if (heatmap_range(h, ri, &spec, &heat, &n_granules) < 0)
                        continue;
                shift = spec.granule_bytes == HEATMAP_GRANULE_2M ? 9 : 0;
                for (size_t bi = 0; bi < nb; bi++) {
                        HeatBlock b;
                        uint64_t first;
                        Where node = WHERE_UNKNOWN;

                        if (heatmap_range_block(h, ri, bi, &b) < 0)
                                continue;
                        first = (b.hva - spec.hva) >> PAGE_SHIFT;
                        if (b.kind == HEAT_BLOCK_NODE || b.kind == HEAT_BLOCK_MIXED)
                                node = where_node(t, b.node);
                        for (uint64_t p = first; p < first + b.n_pages; p++) {
                                unsigned x = heat[p >> shift];
                                Where w = node;

                                if (x == 0) {
                                        /* weighs nothing; ends a run */
                                        if (run.heat != 0)
                                                run_flush(&e, &run);
                                        continue;
                                }
                                if (b.kind == HEAT_BLOCK_MIXED && x <= b.ceiling)
                                        w = WHERE_UNKNOWN;
                                e.level_pages[x]++;
                                e.heat_total += x;
                                if (x != run.heat) {
                                        run_flush(&e, &run);
                                        run.heat = x;
                                }
                                switch (w) {
                                case WHERE_DRAM:
                                        e.heat_dram += x;
                                        run.dram += x;
                                        known_dram_pages++;
                                        break;
                                case WHERE_CXL:
                                        e.heat_cxl += x;
                                        run.cxl += x;
                                        known_cxl_pages++;
                                        if (x < rare_below)
                                                e.heat_cxl_rare += x;
                                        break;
                                default:
                                        e.heat_unknown += x;
                                }
                        }
                }
                run_flush(&e, &run);
        }

        /* the unknown heat split as the pages no known unit accounts for are (residency counters) */
        heatmap_histogram_total(h, &total);
        if (e.heat_unknown > 0) {
                uint64_t res_dram = 0, res_cxl = 0, hid_dram, hid_cxl;

                if (total.residency_known)
                        for (size_t i = 0; i < t->n_nodes; i++) {
                                int id = t->nodes[i].id;

                                if (id < 0 || (unsigned) id >= HEATMAP_NODES_MAX)
                                        continue;
                                if (t->nodes[i].tier == NODE_TIER_CXL)
                                        res_cxl += total.node_pages[id];
                                else
                                        res_dram += total.node_pages[id];
                        }
                hid_dram = res_dram > known_dram_pages ? res_dram - known_dram_pages : 0;
                hid_cxl = res_cxl > known_cxl_pages ? res_cxl - known_cxl_pages : 0;
                if (hid_dram + hid_cxl > 0)
                        unknown_cxl = (uint64_t) ((unsigned __int128) e.heat_unknown * hid_cxl / (hid_dram + hid_cxl));
                else
                        unknown_cxl = e.heat_unknown / 2;
        }

        e.valid = e.heat_total > 0;
        e.share_bp = ratio_bp(e.heat_cxl + unknown_cxl, e.heat_total);
        e.share_min_bp = ratio_bp(e.heat_cxl - (coarse ? e.split_cxl : 0), e.heat_total);
        e.share_max_bp = ratio_bp(e.heat_cxl + e.heat_unknown + (coarse ? e.split_dram : 0), e.heat_total);
        e.rare_bp = ratio_bp(e.heat_cxl_rare, e.heat_total);
        *ret = e;
        return 0;
}

unsigned slo_predicted_share_bp(const SloEstimate *e, uint64_t dram_bytes) {
        uint64_t left = dram_bytes >> PAGE_SHIFT, on_dram = 0;

        if (!e->valid)
                return 0;
        for (int l = LEVELS - 1; l > 0 && left > 0; l--) {
                uint64_t k = MIN(left, e->level_pages[l]);

                on_dram += k * (uint64_t) l;
                left -= k;
        }
        return ratio_bp(e->heat_total - on_dram, e->heat_total);
}

uint64_t slo_dram_needed_bytes(const SloEstimate *e, unsigned share_bp) {
        /* the heat allowed off DRAM: share x total, rounded down */
        uint64_t allowed, outside, pages = 0;

        if (!e->valid)
                return 0;
        allowed = (uint64_t) ((unsigned __int128) e->heat_total * MIN(share_bp, SLO_BP_MAX) / SLO_BP_MAX);
        outside = e->heat_total;
        for (int l = LEVELS - 1; l > 0 && outside > allowed; l--) {
                uint64_t level = e->level_pages[l] * (uint64_t) l;

                if (outside - level >= allowed) {
                        outside -= level;
                        pages += e->level_pages[l];
                } else {
                        /* part of this level: ceil((outside - allowed) / l) pages */
                        pages += DIV_ROUND_UP(outside - allowed, (uint64_t) l);
                        outside = allowed;
                }
        }
        return pages << PAGE_SHIFT;
}

/* ---- the controller ---- */

void slo_init(Slo *s) {
        *s = (Slo) { .state = SLO_NO_ESTIMATE };
}

bool slo_cannot_be_met(const Slo *s) {
        return s->not_met_cycles >= (s->state == SLO_RARE ? SLO_REPORT_RARE_CYCLES : SLO_REPORT_CYCLES);
}

static uint64_t clamp_u64(uint64_t x, uint64_t lo, uint64_t hi) {
        return MAX(lo, MIN(x, hi));
}

static uint64_t page_align_up(uint64_t b) {
        return DIV_ROUND_UP(b, PAGE_BYTES) * PAGE_BYTES;
}

int slo_update(Slo *s, const SloParams *p, const SloInput *in) {
        const SloEstimate *e = in->est;
        uint64_t lo, hi, step, need, t;
        unsigned cap;
        SloState st;

        if (!s || !p || !in || !e || p->cap_bp == 0 || p->cap_bp > SLO_BP_MAX || p->dram_min_bytes > p->dram_max_bytes)
                return -EINVAL;
        cap = p->cap_bp;
        hi = MIN(p->dram_max_bytes, in->ram_bytes);
        lo = MIN(p->dram_min_bytes, hi);
        step = p->step_max_bytes ?: MAX(in->ram_bytes / SLO_STEP_DIVISOR, SLO_STEP_MIN_BYTES);
        if (!s->started) {
                s->target_bytes = clamp_u64(in->dram_bytes, lo, hi);
                s->started = true;
        }
        t = clamp_u64(s->target_bytes, lo, hi);
        need = page_align_up(slo_dram_needed_bytes(e, cap * 3 / 4));

        if (!e->valid) {
                /* nothing sampled: nothing is served from CXL; give back towards dram_min */
                t -= MIN(step, t - lo);
                st = SLO_NO_ESTIMATE;
        } else if (e->share_bp > cap) {
                bool granted = !in->planned || in->granted_bytes >= t;

                if (e->share_bp - MIN(e->rare_bp, e->share_bp) <= cap)
                        st = SLO_RARE; /* raising the target would promote none of it */
                else if (!granted)
                        st = SLO_CONTENDED; /* raising the ask of a VM not served changes nothing */
                else if (t >= hi)
                        st = SLO_AT_MAX;
                else if (need > t) {
                        /* the demand curve wants more, wherever the pages are now */
                        t += MIN(MIN(need - t, step), hi - t);
                        st = SLO_CONVERGING;
                } else if (in->planned && in->moving)
                        st = SLO_CONVERGING; /* enough asked: pages are still moving */
                else {
                        /* enough by the model, nothing moving, still over: hot pages of similar
                         * heat on both tiers, which only room brings in */
                        t += MIN(MAX(step / SLO_NUDGE_DIVISOR, PAGE_BYTES), hi - t);
                        st = SLO_CONVERGING;
                }
        } else {
                if (e->share_bp * 2 < cap && need < t)
                        t -= MIN(step, t - MAX(need, lo));
                st = SLO_MET;
        }

        /* no wind-up under contention: at most a step above what the planner could grant */
        if (in->planned)
                t = MIN(t, MAX(in->granted_bytes, lo) + step);
        s->target_bytes = clamp_u64(t, lo, hi);
        if (st == SLO_AT_MAX || st == SLO_CONTENDED || st == SLO_RARE)
                s->not_met_cycles++;
        else
                s->not_met_cycles = 0;
        s->state = st;
        s->share_bp = e->share_bp;
        s->updates++;
        return st;
}

void slo_describe(const Slo *s, const SloParams *p, const SloInput *in, char *buf, size_t size) {
        char a[FORMAT_BYTES_MAX], b[FORMAT_BYTES_MAX];
        unsigned x = s->share_bp, c = p->cap_bp;

        switch (s->state) {
        case SLO_NO_ESTIMATE:
                snprintf(buf, size, "met (no accesses sampled yet)");
                break;
        case SLO_MET:
                snprintf(buf, size, "met");
                break;
        case SLO_CONVERGING:
                snprintf(buf, size, "not met: converging (%u.%02u %% of accesses from CXL, cap %u.%02u %%; DRAM target %s, %s on DRAM)",
                         x / 100, x % 100, c / 100, c % 100, format_bytes(a, sizeof(a), s->target_bytes),
                         format_bytes(b, sizeof(b), in->dram_bytes));
                break;
        case SLO_AT_MAX:
                snprintf(buf, size, "not met: %u.%02u %% of accesses from CXL with dram_max %s on DRAM (cap %u.%02u %%)",
                         x / 100, x % 100, format_bytes(a, sizeof(a), s->target_bytes), c / 100, c % 100);
                break;
        case SLO_CONTENDED:
                snprintf(buf, size,
                         "not met: %u.%02u %% of accesses from CXL (cap %u.%02u %%): DRAM contended, %s granted of %s wanted",
                         x / 100, x % 100, c / 100, c % 100, format_bytes(a, sizeof(a), in->granted_bytes),
                         format_bytes(b, sizeof(b), s->target_bytes));
                break;
        case SLO_RARE:
                snprintf(buf, size,
                         "not met: %u.%02u %% of accesses from CXL (cap %u.%02u %%), %u.%02u %% to pages accessed too rarely to promote",
                         x / 100, x % 100, c / 100, c % 100, in->est->rare_bp / 100, in->est->rare_bp % 100);
                break;
        default:
                snprintf(buf, size, "unknown");
        }
}

bool slo_estimate_due(SloEstimateAge *a, bool every_cycle) {
        if (every_cycle || !a->have || a->wait == 0)
                return true;
        a->wait--;
        a->age++;
        return false;
}

void slo_estimate_made(SloEstimateAge *a, bool ok, unsigned stagger) {
        bool first = !a->have;

        a->have = ok;
        a->age = 0;
        a->wait = first ? stagger % SLO_ESTIMATE_EVERY : SLO_ESTIMATE_EVERY - 1;
}
