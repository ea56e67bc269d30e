/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The service level (slo.h): the CXL access share estimate on synthetic heat and placement, the
 * demand curve, and the controller on recorded sequences against a model of the planner and the
 * migrator (the VM's hottest pages on DRAM up to what has been moved, at most a rate a cycle).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vtism/heatmap.h"
#include "vtism/macro.h"
#include "vtism/slo.h"
#include "vtism/topology.h"
#include "vtism/util.h"

#define MIB (UINT64_C(1) << 20)
#define PG(mib) ((uint64_t) (mib) * 256)
#define HVA UINT64_C(0x7f0000000000)

/* [0 dram] [1 cxl] */
static Topology *two_nodes(void) {
        Topology *t = xcalloc(1, sizeof(Topology));

        t->n_nodes = 2;
        t->nodes = xcalloc(2, sizeof(TopologyNode));
        t->distance = xcalloc(4, 1);
        t->nodes[0] = (TopologyNode) { .id = 0, .tier = NODE_TIER_DRAM, .has_memory = true, .memory_tier = -1,
                                       .total_bytes = UINT64_C(1) << 30 };
        t->nodes[1] = (TopologyNode) { .id = 1, .tier = NODE_TIER_CXL, .has_memory = true, .memory_tier = -1,
                                       .total_bytes = UINT64_C(1) << 30 };
        return t;
}

static HeatMap *map_new(uint64_t pages, uint64_t granule) {
        HeatRangeSpec spec = { .gpa = 0, .hva = HVA, .len_bytes = pages << 12, .granule_bytes = granule };
        HeatMap *h = NULL;

        check_int(heatmap_new(&spec, 1, NULL, &h), 0);
        return h;
}

/* heat bytes written directly (before placement is fed: block ceilings come from what they see) */
static void heat_set(HeatMap *h, uint64_t first, uint64_t n, uint8_t heat) {
        HeatRangeSpec spec;
        const uint8_t *bytes;
        size_t ng;
        unsigned shift;

        check_int(heatmap_range(h, 0, &spec, &bytes, &ng), 0);
        shift = spec.granule_bytes == HEATMAP_GRANULE_2M ? 9 : 0;
        for (uint64_t p = first; p < first + n; p++)
                ((uint8_t *) bytes)[p >> shift] = heat;
}

/* The residency pass, in one go: pages [first, first + n) on node, the segments in order. */
typedef struct Place {
        uint64_t pages;
        int node;
} Place;

static void place(HeatMap *h, const Place *segs, size_t n) {
        uint64_t total = 0, k = 0;
        int *st;

        for (size_t i = 0; i < n; i++)
                total += segs[i].pages;
        st = xcalloc(total, sizeof(int));
        for (size_t i = 0; i < n; i++)
                for (uint64_t j = 0; j < segs[i].pages; j++)
                        st[k++] = segs[i].node;
        check_int(heatmap_residency_update(h, HVA, st, total), 0);
        free(st);
}
#define PLACE(h, ...) place(h, (const Place[]) { __VA_ARGS__ }, ELEMENTSOF(((const Place[]) { __VA_ARGS__ })))

static SloEstimate est_of(HeatMap *h, const Topology *t, bool coarse, unsigned rare_below) {
        SloEstimate e;

        check_int(slo_estimate(h, t, coarse, rare_below, &e), 0);
        return e;
}

/*
 * The estimate on synthetic maps. Pictures: RAM left to right as "pages@heat:node".
 */
static void test_estimate(void) {
        Topology *t = two_nodes();
        SloEstimate e;
        HeatMap *h;

        /* | 2M@200:0 | 2M@100:1 | 4M@0:1 |: 100 / 300 on CXL, exactly */
        h = map_new(PG(8), 0);
        heat_set(h, 0, PG(2), 200);
        heat_set(h, PG(2), PG(2), 100);
        PLACE(h, { PG(2), 0 }, { PG(6), 1 });
        e = est_of(h, t, false, 0);
        check(e.valid);
        check_u64(e.heat_total, PG(2) * 300);
        check_u64(e.heat_dram, PG(2) * 200);
        check_u64(e.heat_cxl, PG(2) * 100);
        check_u64(e.heat_unknown, 0);
        check_int(e.share_bp, 3333);
        check_int(e.share_min_bp, 3333);
        check_int(e.share_max_bp, 3333);
        check_u64(e.level_pages[200], PG(2));
        check_u64(e.level_pages[100], PG(2));
        check_u64(e.level_pages[0], 0); /* cold pages weigh nothing and are not counted */
        /* coarse changes nothing here: no run of one heat holds both tiers */
        e = est_of(h, t, true, 0);
        check_int(e.share_min_bp, 3333);
        check_int(e.share_max_bp, 3333);
        /* rare: the 100s are below a floor of 101 */
        e = est_of(h, t, false, 101);
        check_int(e.rare_bp, 3333);
        heatmap_free(h);

        /* nothing placed yet: all unknown, the point estimate half, the bounds 0..100 % */
        h = map_new(PG(2), 0);
        heat_set(h, 0, PG(2), 50);
        e = est_of(h, t, false, 0);
        check_u64(e.heat_unknown, e.heat_total);
        check_int(e.share_bp, 5000);
        check_int(e.share_min_bp, 0);
        check_int(e.share_max_bp, 10000);
        heatmap_free(h);

        /* nothing sampled: not valid, share 0 */
        h = map_new(PG(2), 0);
        PLACE(h, { PG(2), 1 });
        e = est_of(h, t, false, 0);
        check(!e.valid);
        check_int(e.share_bp, 0);
        check_u64(slo_dram_needed_bytes(&e, 500), 0);
        check_int(slo_predicted_share_bp(&e, 0), 0);
        heatmap_free(h);

        /*
         * A MIXED block: | 2M: every 4th page @200:0, the others @20:1 |. The block's ceiling is
         * 20: the 200s are known on DRAM, the 20s ambiguous. The residency pass says the hidden
         * pages are all on CXL, so the point estimate counts them there; the bounds show 0..all.
         */
        h = map_new(512, 0);
        {
                int st[512];

                for (unsigned p = 0; p < 512; p++) {
                        heat_set(h, p, 1, p % 4 == 0 ? 200 : 20);
                        st[p] = p % 4 == 0 ? 0 : 1;
                }
                check_int(heatmap_residency_update(h, HVA, st, 512), 0);
        }
        {
                HeatBlock b;

                check_int(heatmap_block_hva(h, HVA, &b), 0);
                check_int(b.kind, HEAT_BLOCK_MIXED);
                check_int(b.ceiling, 20);
        }
        e = est_of(h, t, false, 0);
        check_u64(e.heat_dram, 128 * 200);
        check_u64(e.heat_unknown, 384 * 20);
        check_u64(e.heat_cxl, 0);
        /* 7680 / (25600 + 7680) = 23.07 % */
        check_int(e.share_bp, 2307);
        check_int(e.share_min_bp, 0);
        check_int(e.share_max_bp, 2307);
        heatmap_free(h);

        /*
         * Coarse: | 2M@80:0 | 2M@80:1 | 4M@0:1 |, one run of heat 80 on both tiers (a DAMON
         * region half on DRAM): the page split says 50 %, the region's accesses may be anywhere.
         */
        h = map_new(PG(8), 0);
        heat_set(h, 0, PG(4), 80);
        PLACE(h, { PG(2), 0 }, { PG(6), 1 });
        e = est_of(h, t, false, 0);
        check_int(e.share_bp, 5000);
        check_int(e.share_min_bp, 5000);
        check_int(e.share_max_bp, 5000);
        e = est_of(h, t, true, 0);
        check(e.coarse);
        check_u64(e.split_dram, PG(2) * 80);
        check_u64(e.split_cxl, PG(2) * 80);
        check_int(e.share_bp, 5000);
        check_int(e.share_min_bp, 0);
        check_int(e.share_max_bp, 10000);
        heatmap_free(h);

        /* 2 MiB granules: | 2M@255:1 | 2M@255:0 |: a granule counts 512 pages */
        h = map_new(1024, HEATMAP_GRANULE_2M);
        heat_set(h, 0, 512, 255);
        heat_set(h, 512, 512, 255);
        PLACE(h, { 512, 1 }, { 512, 0 });
        e = est_of(h, t, false, 0);
        check_u64(e.heat_total, 1024 * 255);
        check_u64(e.level_pages[255], 1024);
        check_int(e.share_bp, 5000);
        heatmap_free(h);

        check_int(slo_estimate(NULL, t, false, 0, &e), -EINVAL);
        topology_free(t);
}

/* A synthetic estimate: levels[i] pages at heat[i], placed ideally with dram_pages on DRAM. */
static SloEstimate curve(const unsigned *heat, const uint64_t *pages, size_t n, uint64_t dram_pages) {
        SloEstimate e = {};

        for (size_t i = 0; i < n; i++) {
                e.level_pages[heat[i]] += pages[i];
                e.heat_total += pages[i] * heat[i];
        }
        e.valid = e.heat_total > 0;
        e.share_bp = slo_predicted_share_bp(&e, dram_pages << 12);
        e.share_min_bp = e.share_max_bp = e.share_bp;
        e.heat_cxl = (uint64_t) e.share_bp * e.heat_total / SLO_BP_MAX;
        e.heat_dram = e.heat_total - e.heat_cxl;
        return e;
}

static void test_demand_curve(void) {
        /* slo.h's example: 100 MiB at 255, 100 MiB at 32 */
        SloEstimate e = curve((const unsigned[]) { 255, 32 }, (const uint64_t[]) { PG(100), PG(100) }, 2, 0);
        uint64_t need = slo_dram_needed_bytes(&e, 500);

        check_int(slo_predicted_share_bp(&e, 0), 10000);
        check_int(slo_predicted_share_bp(&e, 200 * MIB), 0);
        check_int(slo_predicted_share_bp(&e, 100 * MIB), 1114); /* 3200 / 28700 */
        /* 100 MiB + 55.16 MiB of the warm part */
        check(need >= 155 * MIB && need <= 156 * MIB);
        check(slo_predicted_share_bp(&e, need) <= 500);
        check(slo_predicted_share_bp(&e, need - 4096) > 500 || slo_dram_needed_bytes(&e, 500) == need);
        /* above 32/287 = 11.1 % less than the hot part is enough: 12 % leaves 0.9 % of it out */
        check(slo_dram_needed_bytes(&e, 1200) > 99 * MIB && slo_dram_needed_bytes(&e, 1200) < 100 * MIB);
        check_u64(slo_dram_needed_bytes(&e, 10000), 0);
        check_u64(slo_dram_needed_bytes(&e, 0), 200 * MIB);

        /* a hot set and nothing else: the hot set for any cap below 100 % */
        e = curve((const unsigned[]) { 255 }, (const uint64_t[]) { PG(128) }, 1, 0);
        check_u64(slo_dram_needed_bytes(&e, 0), 128 * MIB);
        check_u64(slo_dram_needed_bytes(&e, 1), 128 * MIB - 3 * 4096); /* 0.01 % of 32768 pages */
        check(slo_dram_needed_bytes(&e, 500) >= 121 * MIB && slo_dram_needed_bytes(&e, 500) <= 122 * MIB + 4096);
}

/* ---- the controller against a model ---- */

typedef struct Plant {
        /* the VM: heat levels */
        unsigned heat[4];
        uint64_t pages[4];
        size_t n;
        uint64_t ram_pages;
        uint64_t dram_pages;        /* on DRAM: its hottest pages */
        uint64_t rate_pages;        /* moves per cycle (the rate limit); 0: unlimited */
        uint64_t room_pages;        /* what the planner can grant it (contention); 0: all */
        uint64_t granted_pages;
        bool planned, moving;
        SloEstimate est;
} Plant;

/* One cycle: the estimate, the controller, the plan (grant), the moves towards the grant. */
static int plant_cycle(Plant *pl, Slo *s, const SloParams *p) {
        SloInput in;
        uint64_t want, before = pl->dram_pages;
        int st;

        pl->est = curve(pl->heat, pl->pages, pl->n, pl->dram_pages);
        in = (SloInput) {
                .est = &pl->est,
                .ram_bytes = pl->ram_pages << 12,
                .dram_bytes = pl->dram_pages << 12,
                .planned = pl->planned,
                .granted_bytes = pl->granted_pages << 12,
                .moving = pl->moving,
        };
        st = slo_update(s, p, &in);
        check(st >= 0);
        check(s->target_bytes >= MIN(p->dram_min_bytes, in.ram_bytes));
        check(s->target_bytes <= MIN(p->dram_max_bytes, in.ram_bytes));
        /* the planner: the target, within the room */
        want = s->target_bytes >> 12;
        pl->granted_pages = pl->room_pages > 0 ? MIN(want, pl->room_pages) : want;
        pl->planned = true;
        /* the migrator: towards the grant at the rate */
        if (pl->dram_pages < pl->granted_pages)
                pl->dram_pages += pl->rate_pages ? MIN(pl->rate_pages, pl->granted_pages - pl->dram_pages)
                                                 : pl->granted_pages - pl->dram_pages;
        else if (pl->dram_pages > pl->granted_pages)
                pl->dram_pages -= pl->rate_pages ? MIN(pl->rate_pages, pl->dram_pages - pl->granted_pages)
                                                 : pl->dram_pages - pl->granted_pages;
        pl->moving = pl->dram_pages != before;
        return st;
}

static unsigned plant_share(Plant *pl) {
        SloEstimate e = curve(pl->heat, pl->pages, pl->n, pl->dram_pages);

        return e.share_bp;
}

/*
 * Step response: 1 GiB VM, a hot set of 128 MiB at 255, the rest cold, all on CXL; cap 5 %.
 * The target rises in bounded steps to the need at 3/4 of the cap (123.2 MiB: 3.75 % of the hot
 * set may stay on CXL) and stays; it never goes down on the way (no overshoot, no oscillation),
 * with and without a migration rate limit.
 */
static void test_step_response(void) {
        for (unsigned variant = 0; variant < 2; variant++) {
                Plant pl = { .heat = { 255, 0 }, .pages = { PG(128), PG(896) }, .n = 2, .ram_pages = PG(1024),
                             .rate_pages = variant == 0 ? 0 : PG(8) };
                SloParams p = { .cap_bp = 500, .dram_min_bytes = 0, .dram_max_bytes = UINT64_MAX };
                Slo s;
                uint64_t last = 0;
                int met_at = -1, changes = 0;

                slo_init(&s);
                for (int c = 0; c < 100; c++) {
                        int st = plant_cycle(&pl, &s, &p);

                        check(s.target_bytes >= last); /* monotone: no oscillation */
                        changes += s.target_bytes != last;
                        /* each step at most RAM / 16 */
                        check(s.target_bytes - last <= (PG(1024) << 12) / SLO_STEP_DIVISOR);
                        last = s.target_bytes;
                        if (met_at < 0 && st == SLO_MET)
                                met_at = c;
                        if (met_at >= 0)
                                check_int(st, SLO_MET); /* met once, met for good */
                }
                check(met_at >= 0);
                printf("step response (rate %s): met from cycle %d, target %" PRIu64 " KiB after %d changes, share %u bp\n",
                       variant == 0 ? "unlimited" : "8 MiB/cycle", met_at, s.target_bytes >> 10, changes, plant_share(&pl));
                /* 1 GiB / 16 = 64 MiB a step: two steps */
                check(met_at <= (variant == 0 ? 2 : 17));
                check(s.target_bytes >= 123 * MIB && s.target_bytes <= 124 * MIB);
                check(plant_share(&pl) <= 500);
                check(plant_share(&pl) * 2 >= 500); /* not wastefully far below either */
        }
}

/* Bounds: dram_max stops it (and says so), dram_min holds DRAM even when idle. */
static void test_bounds(void) {
        Plant pl = { .heat = { 255, 0 }, .pages = { PG(128), PG(896) }, .n = 2, .ram_pages = PG(1024) };
        SloParams p = { .cap_bp = 500, .dram_min_bytes = 0, .dram_max_bytes = 64 * MIB };
        char buf[256];
        Slo s;
        int st = -1;

        slo_init(&s);
        for (int c = 0; c < 10; c++)
                st = plant_cycle(&pl, &s, &p);
        check_int(st, SLO_AT_MAX);
        check_u64(s.target_bytes, 64 * MIB);
        check(s.not_met_cycles >= SLO_REPORT_CYCLES);
        check(slo_cannot_be_met(&s));
        {
                SloInput in = { .est = &pl.est, .ram_bytes = PG(1024) << 12, .dram_bytes = pl.dram_pages << 12,
                                .planned = true, .granted_bytes = pl.granted_pages << 12 };

                slo_describe(&s, &p, &in, buf, sizeof(buf));
        }
        check(strstr(buf, "not met: 50.00 % of accesses from CXL with dram_max 64 MiB on DRAM") == buf);

        /* dram_min: an idle VM keeps it */
        pl = (Plant) { .heat = { 0 }, .pages = { PG(1024) }, .n = 1, .ram_pages = PG(1024), .dram_pages = PG(1024) };
        p = (SloParams) { .cap_bp = 500, .dram_min_bytes = 200 * MIB, .dram_max_bytes = UINT64_MAX };
        slo_init(&s);
        for (int c = 0; c < 40; c++) {
                st = plant_cycle(&pl, &s, &p);
                check_int(st, SLO_NO_ESTIMATE);
                check(slo_state_met(st));
        }
        check_u64(s.target_bytes, 200 * MIB);
        check_u64(pl.dram_pages, PG(200));

        /* bad parameters */
        check_int(slo_update(&s, &(SloParams) { .cap_bp = 0, .dram_max_bytes = 1 }, &(SloInput) { .est = &pl.est }), -EINVAL);
        check_int(slo_update(&s, &(SloParams) { .cap_bp = 10001, .dram_max_bytes = 1 }, &(SloInput) { .est = &pl.est }), -EINVAL);
        check_int(slo_update(&s, &(SloParams) { .cap_bp = 5, .dram_min_bytes = 2, .dram_max_bytes = 1 },
                             &(SloInput) { .est = &pl.est }),
                  -EINVAL);
}

/*
 * Contention: the planner grants only 64 MiB. The controller says so, and does not wind its ask
 * up beyond a step above the grant; when the room comes back it converges as before.
 */
static void test_contention(void) {
        Plant pl = { .heat = { 255, 0 }, .pages = { PG(128), PG(896) }, .n = 2, .ram_pages = PG(1024), .room_pages = PG(64) };
        SloParams p = { .cap_bp = 500, .dram_max_bytes = UINT64_MAX };
        char buf[256];
        Slo s;
        int st = -1;

        slo_init(&s);
        for (int c = 0; c < 20; c++) {
                st = plant_cycle(&pl, &s, &p);
                check(s.target_bytes <= 64 * MIB + 64 * MIB);
        }
        check_int(st, SLO_CONTENDED);
        check(s.not_met_cycles >= SLO_REPORT_CYCLES);
        {
                SloInput in = { .est = &pl.est, .ram_bytes = PG(1024) << 12, .dram_bytes = pl.dram_pages << 12,
                                .planned = true, .granted_bytes = pl.granted_pages << 12 };

                slo_describe(&s, &p, &in, buf, sizeof(buf));
        }
        check(strstr(buf, "DRAM contended, 64 MiB granted of 12"));
        pl.room_pages = 0;
        for (int c = 0; c < 10; c++)
                st = plant_cycle(&pl, &s, &p);
        check_int(st, SLO_MET);
        check_int(s.not_met_cycles, 0);
        check(plant_share(&pl) <= 500);
}

/*
 * Giving DRAM back: the hot set shrinks from 128 to 32 MiB (the guest stops touching 96 MiB of
 * it), which then cools by 12 % a cycle. The target falls, never rises, and reaches the new hot
 * set's need within the cycles the heat takes to reach 0; the share stays under the cap all along.
 */
static void test_give_back(void) {
        Plant pl = { .heat = { 255, 255, 0 }, .pages = { PG(32), PG(96), PG(896) }, .n = 3, .ram_pages = PG(1024) };
        SloParams p = { .cap_bp = 500, .dram_max_bytes = UINT64_MAX };
        uint64_t last;
        int done_at = -1;
        Slo s;

        slo_init(&s);
        for (int c = 0; c < 10; c++)
                (void) plant_cycle(&pl, &s, &p);
        check(s.target_bytes >= 123 * MIB);
        last = s.target_bytes;
        for (int c = 0; c < 60; c++) {
                int st;

                /* the 96 MiB age (heatmap.h's model) */
                pl.heat[1] = pl.heat[1] * 88 / 100;
                st = plant_cycle(&pl, &s, &p);
                check(s.target_bytes <= last);
                last = s.target_bytes;
                check_int(st, SLO_MET);
                check(plant_share(&pl) <= 500);
                if (done_at < 0 && s.target_bytes <= 32 * MIB)
                        done_at = c;
        }
        printf("give back: 128 -> %" PRIu64 " KiB target in %d cycles\n", s.target_bytes >> 10, done_at + 1);
        check(done_at >= 0 && done_at < 40);
        check(s.target_bytes >= 30 * MIB);
}

/* Pages too rarely accessed to promote: the controller does not chase them and says why. */
static void test_rare(void) {
        SloEstimate e = curve((const unsigned[]) { 255, 32 }, (const uint64_t[]) { PG(100), PG(100) }, 2, PG(100));
        SloParams p = { .cap_bp = 500, .dram_max_bytes = UINT64_MAX };
        SloInput in = { .est = &e, .ram_bytes = PG(1024) << 12, .dram_bytes = 100 * MIB, .planned = true,
                        .granted_bytes = 100 * MIB };
        char buf[256];
        Slo s;

        e.heat_cxl_rare = e.heat_cxl;
        e.rare_bp = e.share_bp;
        slo_init(&s);
        check_int(slo_update(&s, &p, &in), SLO_RARE);
        check_u64(s.target_bytes, 100 * MIB);
        for (unsigned c = 1; c < SLO_REPORT_RARE_CYCLES; c++) {
                check(!slo_cannot_be_met(&s)); /* not for the pages touched once at the start */
                check_int(slo_update(&s, &p, &in), SLO_RARE);
        }
        check(slo_cannot_be_met(&s));
        slo_describe(&s, &p, &in, buf, sizeof(buf));
        check(strstr(buf, "too rarely to promote"));
        check_str(slo_state_to_string(SLO_AT_MAX), "at dram_max");
        check(!slo_state_to_string(_SLO_STATE_MAX));
}

/* The estimate's rate: every cycle with a service level; otherwise the first at once, the second
 * after stagger % 10 cycles, then every 10th, the age counting 0..9; a failed one is retried the
 * next cycle; a service level added makes it due at once. */
static void test_estimate_rate(void) {
        static const struct {
                unsigned stagger;
                const char *due; /* per cycle, 'x' due; all without a service level */
        } cases[] = {
                { 0, "xx.........x.........x" }, /* stagger 0: the second at once */
                { 3, "x...x.........x.........x" },
                { 19, "x.........x.........x" },
                { 7, "x.......x.........x" },
        };

        for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
                SloEstimateAge a = {};
                unsigned age = 0;

                for (size_t i = 0; cases[c].due[i]; i++) {
                        bool want = cases[c].due[i] == 'x', due = slo_estimate_due(&a, false);

                        if (due != want) {
                                fprintf(stderr, "stagger %u, cycle %zu: due %d, want %d\n", cases[c].stagger, i, due, want);
                                exit(EXIT_FAILURE);
                        }
                        if (due) {
                                slo_estimate_made(&a, true, cases[c].stagger);
                                age = 0;
                        } else
                                age++;
                        check_u64(a.age, age);
                        check(a.age < SLO_ESTIMATE_EVERY);
                }
        }

        /* with a service level: every cycle, age 0 */
        {
                SloEstimateAge a = {};

                for (unsigned i = 0; i < 25; i++) {
                        check(slo_estimate_due(&a, true));
                        slo_estimate_made(&a, true, 5);
                        check_u64(a.age, 0);
                }
                /* the service level dropped: the next one 10 cycles on */
                for (unsigned i = 0; i < SLO_ESTIMATE_EVERY - 1; i++)
                        check(!slo_estimate_due(&a, false));
                check_u64(a.age, SLO_ESTIMATE_EVERY - 1);
                /* and added again: due at once */
                check(slo_estimate_due(&a, true));
        }
        /* a failed estimate is due again the next cycle */
        {
                SloEstimateAge a = {};

                check(slo_estimate_due(&a, false));
                slo_estimate_made(&a, false, 4);
                check(!a.have);
                check(slo_estimate_due(&a, false));
                slo_estimate_made(&a, true, 4);
                for (unsigned i = 0; i < 4; i++)
                        check(!slo_estimate_due(&a, false));
                check(slo_estimate_due(&a, false));
        }
}

int main(void) {
        test_estimate_rate();
        test_estimate();
        test_demand_curve();
        test_step_response();
        test_bounds();
        test_contention();
        test_give_back();
        test_rare();
        printf("test-slo: OK\n");
        return 0;
}
