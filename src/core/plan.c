/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The placement planner. The model, the contract with the migrator and the costs are in plan.h;
 * this file follows its sections:
 *
 *   scan_vm()        1. units and 6. placement: one pass over each VM's blocks and heat bytes
 *                    into histograms per heat level (known on DRAM, known on CXL, ambiguous,
 *                    unknown) and a summary per 2 MiB block: NODE and MIXED blocks of 4 KiB
 *                    pages by scan_block() (SSE2, 16 pages a step; only pages at or above the
 *                    promotion floor are counted by level, the rest lumped), block_units() for
 *                    the rest;
 *   set_targets()    2. DRAM targets, water-filling per home node;
 *   finish_scan()    the levels below the floor a selection can depend on (the coldest DRAM
 *                    pages a swap may give up, or all of them for a VM above its target), and
 *                    the lumps placed where the walks stop (selection_exact() checks it;
 *                    plan_compute_reference() counts every unit, test-plan-fast compares);
 *   select_vm()      3. which pages, as cut-offs on the histograms, within a page cap;
 *   share_pool()     5. the cycle's budget and the query pages, water-filling by weight;
 *   emit_vm()        the second pass, over the blocks holding selected units only, into runs;
 *   order_units()    5. the order within demotions and within promotions (a counting sort by
 *                    heat);
 *   simulate()       4. where, 5. demotions and promotions interleaved, the contract's prefix
 *                    invariant, and the moves (add_move() coalesces them);
 *   plan_queries()   6. the blocks to query for the next plan.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__) && defined(__x86_64__)
#include <emmintrin.h>
#endif

#include "vtism/heatmap.h"
#include "vtism/macro.h"
#include "vtism/plan.h"
#include "plan-reference.h"
#include "vtism/topology.h"
#include "vtism/util.h"

#define PAGE_SHIFT 12
#define PAGE_BYTES (UINT64_C(1) << PAGE_SHIFT)
#define HUGE_PAGES ((uint64_t) HEATMAP_BLOCK_PAGES)
#define LEVELS 256u
#define KEYS (2u * LEVELS)            /* promotion order: heat * 2 + (placement known) */
#define NONE_LOW 256u                 /* "no such unit" for a minimum heat */
#define NONE_HIGH (-1)                /* ... for a maximum heat */
#define STATUS_NONE INT_MIN           /* no exact status for this page */

static const char *const plan_direction_names[_PLAN_DIRECTION_MAX] = {
        [PLAN_PROMOTE] = "promote",
        [PLAN_DEMOTE] = "demote",
};
assert_cc(ELEMENTSOF(plan_direction_names) == _PLAN_DIRECTION_MAX);

const char *plan_direction_to_string(PlanDirection d) {
        if ((unsigned) d >= _PLAN_DIRECTION_MAX)
                return NULL;
        return plan_direction_names[d];
}

/* ---- policies (plan.h, "Policies") ---- */

/* What a policy asks of DRAM for one VM, from what the VM is. */
typedef struct PolicyAsk {
        uint64_t ask_pages;         /* what it wants on DRAM (<= RAM) */
        uint64_t min_pages;         /* guaranteed first in its class (<= ask_pages) */
} PolicyAsk;

typedef enum PolicyClass {
        POLICY_CLASS_PINNED,        /* served first; each keeps at least what it holds */
        POLICY_CLASS_SHARED,        /* then by weight, after the minimums */
        _POLICY_CLASS_MAX,
} PolicyClass;

typedef struct PolicyOps {
        const char *name;
        /* ask: what it wants, and its guaranteed minimum; label: the reason's first words */
        void (*ask)(const PlanPolicy *p, uint64_t ram_pages, uint64_t dram_pages, PolicyAsk *ret);
        void (*label)(const PlanPolicy *p, char *buf, size_t size);
        PolicyClass class;
        bool movable;               /* false: no moves at all, its DRAM use counted as it is */
        bool gives_up;              /* above target it demotes (a), and it swaps (c) */
        bool every_unit;            /* (b) promotes every unit whatever its heat (no floor) */
        bool keep_without_home;     /* without a home node it keeps what it holds (else it may shrink to its ask) */
} PolicyOps;

static void budget_ask(const PlanPolicy *p, uint64_t ram_pages, uint64_t dram_pages, PolicyAsk *ret) {
        *ret = (PolicyAsk) { .ask_pages = MIN(p->dram_budget_bytes >> PAGE_SHIFT, ram_pages) };
}

static void budget_label(const PlanPolicy *p, char *buf, size_t size) {
        char a[FORMAT_BYTES_MAX];

        snprintf(buf, size, "Budget %s", format_bytes(a, sizeof(a), p->dram_budget_bytes));
}

static void pin_ask(const PlanPolicy *p, uint64_t ram_pages, uint64_t dram_pages, PolicyAsk *ret) {
        *ret = (PolicyAsk) { .ask_pages = ram_pages };
}

static void pin_label(const PlanPolicy *p, char *buf, size_t size) {
        snprintf(buf, size, "Pinned to DRAM");
}

static void never_ask(const PlanPolicy *p, uint64_t ram_pages, uint64_t dram_pages, PolicyAsk *ret) {
        *ret = (PolicyAsk) { .ask_pages = dram_pages };
}

static void never_label(const PlanPolicy *p, char *buf, size_t size) {
        snprintf(buf, size, "Never migrated");
}

static void slo_ask(const PlanPolicy *p, uint64_t ram_pages, uint64_t dram_pages, PolicyAsk *ret) {
        uint64_t ask = MIN(p->dram_budget_bytes >> PAGE_SHIFT, ram_pages);

        *ret = (PolicyAsk) { .ask_pages = ask, .min_pages = MIN(p->dram_min_bytes >> PAGE_SHIFT, ask) };
}

static void slo_label(const PlanPolicy *p, char *buf, size_t size) {
        char a[FORMAT_BYTES_MAX], b[FORMAT_BYTES_MAX];

        snprintf(buf, size, "SLO at most %u.%02u %% of accesses from CXL, DRAM target %s (at least %s)",
                 p->cxl_access_max_bp / 100, p->cxl_access_max_bp % 100, format_bytes(a, sizeof(a), p->dram_budget_bytes),
                 format_bytes(b, sizeof(b), p->dram_min_bytes));
}

static const PolicyOps plan_policies[_PLAN_POLICY_KIND_MAX] = {
        [PLAN_POLICY_BUDGET] = { "budget", budget_ask, budget_label, POLICY_CLASS_SHARED, .movable = true, .gives_up = true },
        [PLAN_POLICY_PIN] = { "pin", pin_ask, pin_label, POLICY_CLASS_PINNED, .movable = true, .every_unit = true,
                              .keep_without_home = true },
        [PLAN_POLICY_NEVER] = { "never", never_ask, never_label, POLICY_CLASS_SHARED, .keep_without_home = true },
        [PLAN_POLICY_SLO] = { "slo", slo_ask, slo_label, POLICY_CLASS_SHARED, .movable = true, .gives_up = true },
#ifdef PLAN_POLICY_TABLE_EXTRA
        PLAN_POLICY_TABLE_EXTRA
#endif
};
assert_cc(ELEMENTSOF(plan_policies) == _PLAN_POLICY_KIND_MAX);

const char *plan_policy_kind_to_string(PlanPolicyKind k) {
        if ((unsigned) k >= _PLAN_POLICY_KIND_MAX)
                return NULL;
        return plan_policies[k].name;
}

PlanPolicyKind plan_policy_kind_from_string(const char *s) {
        for (size_t k = 0; s && k < _PLAN_POLICY_KIND_MAX; k++)
                if (plan_policies[k].name && streq(plan_policies[k].name, s))
                        return (PlanPolicyKind) k;
        return _PLAN_POLICY_KIND_INVALID;
}

/* ---- the host ---- */

typedef struct Node {
        int id;
        NodeTier tier;
        bool usable;                /* has memory */
        uint64_t total_pages, free_pages;
        uint64_t keep_pages;        /* DRAM: the free watermark; CXL: the minimum free ratio */
        uint64_t vm_pages;          /* of all VMs, before the plan */
        uint64_t fixed_pages;       /* DRAM: held by VMs that do not share this node's room */
        uint64_t room_pages;        /* DRAM: what the VMs homed here share */
} Node;

typedef struct Host {
        const Topology *t;
        Node *nodes;                /* topology order */
        size_t n_nodes;
} Host;

static int host_index(const Host *host, int id) {
        for (size_t i = 0; i < host->n_nodes; i++)
                if (host->nodes[i].id == id)
                        return (int) i;
        return -1;
}

/* ---- per VM ---- */

typedef enum UnitClass {
        UNIT_DRAM,      /* known on a DRAM node */
        UNIT_CXL,       /* known on a CXL node */
        UNIT_AMBIG,     /* in a known block, not known which node: promoted query-first */
        UNIT_UNKNOWN,   /* its block is unknown: queried, never moved */
        UNIT_MAYBE_DRAM,/* on a DRAM node or absent (a cold page of a NODE block not known full) */
        UNIT_SKIP,      /* absent, or on a node outside the topology */
} UnitClass;

/* What pass 1 learnt of one block, for pass 2 and the queries. */
typedef struct BlockSum {
        uint16_t dram_min;          /* lowest heat of a known-DRAM unit; NONE_LOW: none */
        int16_t cxl_max;            /* highest heat of a known-CXL unit; -1: none */
        int16_t ambig_max;          /* highest heat of an ambiguous unit; -1: none */
        uint16_t ambig_min;         /* lowest heat of an ambiguous or unknown unit; NONE_LOW: none */
        int16_t unknown_max;        /* highest heat of a unit of an unknown block; -1: none */
        int16_t above;              /* fast: pages hotter than this are on its node (known_above()) */
        bool requery;               /* only part of its ambiguous candidates promoted: ask */
        bool fast;                  /* counted by scan_fast_block(): levels below the floor lumped */
} BlockSum;

/* A walk over a histogram by heat, up (coldest first) or down (hottest first). */
typedef struct Cut {
        const uint64_t *hist;
        bool down;
        unsigned at;                /* position: every unit before it is taken, and */
        uint64_t part;              /* this many pages of the units at it, in address order */
} Cut;

typedef struct Selection {
        Cut demote;                 /* known-DRAM units, coldest first */
        Cut promote_known;          /* known-CXL units, hottest first */
        Cut promote_ambig;          /* ambiguous units (query-first), hottest first: into room only */
        uint64_t demote_pages, promote_pages, forced_pages, forced_unmet_pages;
        int next_known_heat;        /* hottest known-CXL promotion candidate left; -1: none */
        int next_ambig_heat;        /* hottest ambiguous one left; -1: none */
        int coldest_dram_heat;      /* coldest known-DRAM unit left; -1: none */
        unsigned swap_z;            /* the noise margin of its swaps (c), tenths of a standard deviation */
} Selection;

typedef struct Ctx {
        const PlanVm *in;
        const PolicyOps *ops;       /* plan_policies[in->policy.kind] */
        size_t index;
        PlanVmResult *res;
        const HeatParams *params;
        bool movable;               /* may get moves this cycle */
        bool scan;                  /* movable, or warming up: its blocks are looked at (queries) */
        const char *still;          /* why not, for the reason */
        int home;                   /* host index of the home node, -1: none */
        bool home_bad;              /* a home node was given but is no DRAM node with memory */
        bool home_denied;           /* ... or one outside the VM's allowed nodes */
        unsigned floor;             /* promotion floor F */
        int margin;                 /* hysteresis margin M (PLAN_MARGIN_HEAT unless limits say) */
        unsigned z_edge;            /* the swap rule's noise margin at the edge, tenths (3(c)); 0: none */
        uint64_t mass_div;          /* a swap demand of target / this or more is no edge noise */
        uint64_t ram_pages;
        uint64_t *node_pages;       /* per host node, before the plan */
        uint64_t dram_pages, cxl_pages, unknown_pages;
        uint64_t dram[LEVELS], cxl[LEVELS], ambig[LEVELS], unknown[LEVELS];
        /* Below the floor the histograms are exact only where a walk of select_vm() can stop
         * (see finish_scan()): what scan_fast_block() did not count by level is lumped, counted
         * here and added at one level each by finish_scan(). */
        bool exact;                 /* every unit counted at its level (no lumps) */
        bool exact_reference;       /* ... and through block_units() (plan_compute_reference()) */
        uint64_t dram_lump, cxl_lump, ambig_lump, unknown_lump;
        unsigned dram_lump_min;     /* lowest heat of the lumped known-DRAM pages (LEVELS: none) */
        unsigned ambig_min_heat;    /* lowest heat of an ambiguous or unknown unit; NONE_LOW: none */
        int cxl_max_heat;           /* highest heat of a known-CXL unit; -1: none */
        bool small_units;           /* a 4 KiB unit is a candidate */
        BlockSum **blocks;          /* per range, per block */
        size_t n_ranges;
        uint64_t ask_pages, min_pages, share_pages, target_pages;
        uint64_t weight_sum;        /* of the VMs sharing its home node's room with it (itself too) */
        Selection want, sel;        /* without and within the budget share */
        uint64_t budget_pages, query_share_pages, query_want_pages;
        uint64_t promoted_pages, demoted_pages, dropped_demote_pages, dropped_promote_pages, query_pages;
        uint64_t denied_demote_pages; /* dropped: no demotion target of its DRAM node is allowed to it */
        uint64_t sim_dram_pages;
} Ctx;

/* May the VM have pages on node id (PlanVm.allowed_nodes)? */
static bool vm_allows(const PlanVm *vm, int id) {
        return !vm->allowed_nodes || int_list_contains(vm->allowed_nodes, vm->n_allowed_nodes, id);
}

/* Does its policy give DRAM pages up: demote above its target (a), swap (c)? */
static bool ctx_gives_up(const Ctx *c) {
        return c->ops->gives_up;
}

/* Does its policy want every unit on DRAM, whatever its heat (pin)? */
static bool ctx_every_unit(const Ctx *c) {
        return c->ops->every_unit;
}

/* The heat a unit needs to be promoted: the floor F, or 0 for a VM that wants every unit. Pass 2
 * must take what select_vm() counted with it (its cuts say how many, not which heats). */
static unsigned promote_floor(const Ctx *c) {
        return ctx_every_unit(c) ? 0 : c->floor;
}

static unsigned promote_key(unsigned heat, bool known) {
        return heat * 2 + (known ? 1 : 0);
}

static int cut_heat(const Cut *c) {
        if (c->at >= LEVELS)
                return -1;
        return (int) (c->down ? LEVELS - 1 - c->at : c->at);
}

/* Pages left at the cut's position, moving on past exhausted heat levels first. */
static uint64_t cut_left(Cut *c) {
        while (c->at < LEVELS && c->hist[cut_heat(c)] == c->part) {
                c->at++;
                c->part = 0;
        }
        return c->at < LEVELS ? c->hist[cut_heat(c)] - c->part : 0;
}

/* Is a unit at this heat taken (all of the heat levels before the cut, `*part` pages at it)? */
static bool cut_takes(const Cut *c, unsigned heat, uint64_t pages, uint64_t *part) {
        unsigned pos = c->down ? LEVELS - 1 - heat : heat;

        if (pos < c->at)
                return true;
        if (pos > c->at || *part < pages)
                return false;
        *part -= pages;
        return true;
}

/* ---- exact statuses from PlanVm.placement ---- */

typedef struct Overlay {
        const PlanPlacement *p;
        size_t n, i;
} Overlay;

static void overlay_seek(Overlay *o, uint64_t hva) {
        size_t lo = 0, hi = o->n;

        while (lo < hi) { /* the first entry ending after hva */
                size_t mid = lo + (hi - lo) / 2;

                if (o->p[mid].hva + ((uint64_t) o->p[mid].n_pages << PAGE_SHIFT) <= hva)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        o->i = lo;
}

/* Status of the page at hva (ascending calls between seeks); STATUS_NONE if not given. */
static int overlay_status(Overlay *o, uint64_t hva) {
        while (o->i < o->n && o->p[o->i].hva + ((uint64_t) o->p[o->i].n_pages << PAGE_SHIFT) <= hva)
                o->i++;
        if (o->i >= o->n || o->p[o->i].hva > hva)
                return STATUS_NONE;
        return o->p[o->i].status[(hva - o->p[o->i].hva) >> PAGE_SHIFT];
}

/* ---- units of one block ---- */

typedef struct BlockUnit {
        uint64_t page;              /* page index in the range */
        uint32_t pages;
        uint8_t heat;
        uint8_t cls;                /* UnitClass */
        int node;                   /* host index for UNIT_DRAM / UNIT_CXL */
} BlockUnit;

typedef struct RangeView {
        HeatRangeSpec spec;
        const uint8_t *heat;
        unsigned page_shift;        /* granule shift - PAGE_SHIFT: 0 or 9 */
} RangeView;

static uint8_t view_heat(const RangeView *v, uint64_t page) {
        return v->heat[page >> v->page_shift];
}

/* The hottest of n heat bytes (a THP's unit heat: one SSE2 step per 16 pages). */
static unsigned heat_max(const uint8_t *heat, size_t n) {
        unsigned m = 0;
        size_t i = 0;

#if defined(__SSE2__) && defined(__x86_64__)
        __m128i acc = _mm_setzero_si128();

        for (; i + 16 <= n; i += 16)
                acc = _mm_max_epu8(acc, _mm_loadu_si128((const __m128i *) (heat + i)));
        acc = _mm_max_epu8(acc, _mm_srli_si128(acc, 8));
        acc = _mm_max_epu8(acc, _mm_srli_si128(acc, 4));
        acc = _mm_max_epu8(acc, _mm_srli_si128(acc, 2));
        acc = _mm_max_epu8(acc, _mm_srli_si128(acc, 1));
        m = (unsigned) _mm_cvtsi128_si32(acc) & 0xffu;
#endif
        for (; i < n; i++)
                m = MAX(m, (unsigned) heat[i]);
        return m;
}

/* Range ri of h as a view, and the placement overlay moved to its start (ranges are walked in
 * address order). */
static void view_open(const HeatMap *h, size_t ri, RangeView *v, Overlay *ov) {
        size_t n_granules;

        (void) heatmap_range(h, ri, &v->spec, &v->heat, &n_granules);
        v->page_shift = v->spec.granule_bytes == HEATMAP_GRANULE_2M ? 9 : 0;
        overlay_seek(ov, v->spec.hva);
}

/* A node id → (class, host index) for a page known there. */
static UnitClass class_of_node(const Host *host, int id, int *ret_index) {
        int i = host_index(host, id);

        *ret_index = i;
        if (i < 0 || !host->nodes[i].usable)
                return UNIT_SKIP;
        return host->nodes[i].tier == NODE_TIER_DRAM ? UNIT_DRAM : UNIT_CXL;
}

static UnitClass class_of_status(const Host *host, int status, int *ret_index) {
        *ret_index = -1;
        if (status < 0)
                return UNIT_SKIP;
        return class_of_node(host, status, ret_index);
}

/*
 * The units of block b of range v: one for a THP (or a 2 MiB granule), else one per page, each
 * with its heat and what is known of its place.
 */
static size_t block_units(const Host *host, const RangeView *v, const HeatBlock *hb, Overlay *ov, BlockUnit *out) {
        uint64_t first = (hb->hva - v->spec.hva) >> PAGE_SHIFT;
        int node_index = -1;
        UnitClass known = UNIT_SKIP;
        size_t n = 0;

        if (hb->kind == HEAT_BLOCK_NODE || hb->kind == HEAT_BLOCK_MIXED)
                known = class_of_node(host, hb->node, &node_index);

        if (v->page_shift != 0 || (hb->huge && hb->n_pages == HUGE_PAGES)) {
                unsigned heat = 0;
                int status, idx = -1;
                UnitClass cls;

                if (v->page_shift == 0)
                        heat = heat_max(v->heat + first, hb->n_pages);
                else
                        for (uint64_t p = first; p < first + hb->n_pages; p += UINT64_C(1) << v->page_shift)
                                heat = MAX(heat, view_heat(v, p));
                status = overlay_status(ov, hb->hva);
                if (status != STATUS_NONE)
                        cls = class_of_status(host, status, &idx);
                else if (hb->kind == HEAT_BLOCK_NODE) {
                        cls = known;
                        idx = node_index;
                } else if (hb->kind == HEAT_BLOCK_ABSENT && heat == 0)
                        cls = UNIT_SKIP;
                else
                        cls = UNIT_UNKNOWN; /* a THP on two nodes cannot be: ask */
                out[n++] = (BlockUnit) { .page = first, .pages = (uint32_t) hb->n_pages, .heat = (uint8_t) heat,
                                         .cls = (uint8_t) cls, .node = idx };
                return n;
        }

        for (uint64_t p = first; p < first + hb->n_pages; p++) {
                uint8_t heat = view_heat(v, p);
                UnitClass cls;
                int idx = -1;

                if (hb->kind == HEAT_BLOCK_NODE && (heat > 0 || hb->all_present)) {
                        /* a page never touched (heat 0) may never have been faulted in */
                        cls = known;
                        idx = node_index;
                } else if (hb->kind == HEAT_BLOCK_MIXED && heat > hb->ceiling) {
                        cls = known;
                        idx = node_index;
                } else {
                        int status = overlay_status(ov, v->spec.hva + (p << PAGE_SHIFT));

                        if (status != STATUS_NONE)
                                cls = class_of_status(host, status, &idx);
                        else if (hb->kind == HEAT_BLOCK_NODE && known == UNIT_DRAM)
                                cls = UNIT_MAYBE_DRAM;
                        else if (hb->kind == HEAT_BLOCK_MIXED || hb->kind == HEAT_BLOCK_NODE)
                                cls = UNIT_AMBIG;
                        else if (hb->kind == HEAT_BLOCK_ABSENT && heat == 0)
                                cls = UNIT_SKIP;
                        else
                                cls = UNIT_UNKNOWN;
                }
                out[n++] = (BlockUnit) { .page = p, .pages = 1, .heat = heat, .cls = (uint8_t) cls, .node = idx };
        }
        return n;
}

/* ---- pass 1 ---- */

static void sum_init(BlockSum *s) {
        *s = (BlockSum) { .dram_min = NONE_LOW, .cxl_max = NONE_HIGH, .ambig_max = NONE_HIGH, .ambig_min = NONE_LOW,
                          .unknown_max = NONE_HIGH };
}

/* Count one unit: into the histograms, the block summary, and the placement estimate. */
static void count_unit(Ctx *c, BlockSum *s, const BlockUnit *u, bool estimate) {
        switch (u->cls) {
        case UNIT_DRAM:
                c->dram[u->heat] += u->pages;
                s->dram_min = MIN(s->dram_min, u->heat);
                break;
        case UNIT_CXL:
                c->cxl[u->heat] += u->pages;
                s->cxl_max = (int16_t) MAX(s->cxl_max, (int) u->heat);
                c->cxl_max_heat = MAX(c->cxl_max_heat, (int) u->heat);
                break;
        case UNIT_AMBIG:
                c->ambig[u->heat] += u->pages;
                s->ambig_max = (int16_t) MAX(s->ambig_max, (int) u->heat);
                s->ambig_min = MIN(s->ambig_min, u->heat);
                break;
        case UNIT_UNKNOWN:
                c->unknown[u->heat] += u->pages;
                s->ambig_min = MIN(s->ambig_min, u->heat);
                s->unknown_max = (int16_t) MAX(s->unknown_max, (int) u->heat);
                break;
        case UNIT_MAYBE_DRAM:
                c->unknown[u->heat] += u->pages;
                s->ambig_min = MIN(s->ambig_min, u->heat);
                break;
        default:
                return;
        }
        if (u->cls != UNIT_DRAM && u->cls != UNIT_CXL)
                c->ambig_min_heat = MIN(c->ambig_min_heat, (unsigned) u->heat);
        if (u->pages == 1 && u->cls != UNIT_UNKNOWN)
                c->small_units = true;
        if (estimate && (u->cls == UNIT_DRAM || u->cls == UNIT_CXL))
                c->node_pages[u->node] += u->pages;
}

/*
 * Pages of a NODE or MIXED block of 4 KiB pages hotter than this are known to be on its node, the
 * others are ambiguous (block_units() says why); -1: all known.
 */
static int known_above(const HeatBlock *hb) {
        if (hb->kind == HEAT_BLOCK_MIXED)
                return hb->ceiling;
        return hb->all_present ? -1 : 0;
}

/*
 * Pass 1's inner loop: the heat bytes of a NODE or MIXED block of 4 KiB pages without exact
 * statuses. Pages hotter than `above` are known on the block's node (known_above(); -1: all), the
 * others ambiguous. Only the pages at or above `hi` (the candidates of the walks above the floor,
 * and of hot_min_heat()) are counted by level, into khist or ahist; of the others only how many
 * and their extremes. SSE2: 16 pages a step, a candidate costs one table increment.
 */
typedef struct BlockScan {
        unsigned known_min, known_max;  /* over known pages (255 / 0 when none: see n_known) */
        unsigned ambig_min, ambig_max;  /* over ambiguous pages (ditto) */
        uint64_t n_known;
        uint64_t known_hi, ambig_hi;    /* of those, counted by level */
} BlockScan;

static inline void scan_page(unsigned x, bool known, unsigned hi, uint64_t *khist, uint64_t *ahist, BlockScan *r) {
        if (known) {
                r->n_known++;
                r->known_min = MIN(r->known_min, x);
                r->known_max = MAX(r->known_max, x);
        } else {
                r->ambig_min = MIN(r->ambig_min, x);
                r->ambig_max = MAX(r->ambig_max, x);
        }
        if (x >= hi) {
                if (known) {
                        khist[x]++;
                        r->known_hi++;
                } else {
                        ahist[x]++;
                        r->ambig_hi++;
                }
        }
}

#if defined(__SSE2__) && defined(__x86_64__)
static uint8_t hmin_epu8(__m128i v) {
        v = _mm_min_epu8(v, _mm_srli_si128(v, 8));
        v = _mm_min_epu8(v, _mm_srli_si128(v, 4));
        v = _mm_min_epu8(v, _mm_srli_si128(v, 2));
        v = _mm_min_epu8(v, _mm_srli_si128(v, 1));
        return (uint8_t) _mm_cvtsi128_si32(v);
}

static uint8_t hmax_epu8(__m128i v) {
        v = _mm_max_epu8(v, _mm_srli_si128(v, 8));
        v = _mm_max_epu8(v, _mm_srli_si128(v, 4));
        v = _mm_max_epu8(v, _mm_srli_si128(v, 2));
        v = _mm_max_epu8(v, _mm_srli_si128(v, 1));
        return (uint8_t) _mm_cvtsi128_si32(v);
}
#endif

static void scan_block(const uint8_t *heat, size_t n, int above, unsigned hi, uint64_t *khist, uint64_t *ahist, BlockScan *ret) {
        BlockScan r = { .known_min = 255, .ambig_min = 255 };
        size_t i = 0;

        assert(hi >= 1 && hi <= 255);
#if defined(__SSE2__) && defined(__x86_64__)
        {
                const __m128i ones = _mm_set1_epi8((char) 0xff), hiv = _mm_set1_epi8((char) hi);
                const __m128i av = _mm_set1_epi8((char) (above + 1)); /* known: x >= above + 1 */
                bool none_known = above >= 255, all_known = above < 0;
                __m128i kmin = ones, kmax = _mm_setzero_si128(), amin = ones, amax = _mm_setzero_si128();
                __m128i cnt = _mm_setzero_si128(), total = _mm_setzero_si128();

                for (unsigned step = 0; i + 16 <= n; i += 16) {
                        __m128i x = _mm_loadu_si128((const __m128i *) (heat + i));
                        __m128i k = all_known ? ones : none_known ? _mm_setzero_si128() : _mm_cmpeq_epi8(_mm_max_epu8(x, av), x);
                        unsigned m = (unsigned) _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(x, hiv), x));

                        kmin = _mm_min_epu8(kmin, _mm_or_si128(x, _mm_xor_si128(k, ones)));
                        kmax = _mm_max_epu8(kmax, _mm_and_si128(x, k));
                        amin = _mm_min_epu8(amin, _mm_or_si128(x, k));
                        amax = _mm_max_epu8(amax, _mm_andnot_si128(k, x));
                        cnt = _mm_sub_epi8(cnt, k); /* + 1 per known page, at most 255 steps a lane */
                        if (++step == 255) {
                                total = _mm_add_epi64(total, _mm_sad_epu8(cnt, _mm_setzero_si128()));
                                cnt = _mm_setzero_si128();
                                step = 0;
                        }
                        if (m) {
                                unsigned km = (unsigned) _mm_movemask_epi8(k);

                                do {
                                        unsigned b = (unsigned) __builtin_ctz(m), x1 = heat[i + b];

                                        m &= m - 1;
                                        if (km & (1u << b)) {
                                                khist[x1]++;
                                                r.known_hi++;
                                        } else {
                                                ahist[x1]++;
                                                r.ambig_hi++;
                                        }
                                } while (m);
                        }
                }
                total = _mm_add_epi64(total, _mm_sad_epu8(cnt, _mm_setzero_si128()));
                r.n_known = (uint64_t) _mm_cvtsi128_si64(total) + (uint64_t) _mm_cvtsi128_si64(_mm_unpackhi_epi64(total, total));
                r.known_min = hmin_epu8(kmin);
                r.known_max = hmax_epu8(kmax);
                r.ambig_min = hmin_epu8(amin);
                r.ambig_max = hmax_epu8(amax);
        }
#endif
        for (; i < n; i++)
                scan_page(heat[i], (int) heat[i] > above, hi, khist, ahist, &r);
        *ret = r;
}

/*
 * A NODE or MIXED block of 4 KiB pages on a known node, without exact statuses (the common case:
 * a NODE block all present has every page known, the steady state of a scattered hot set is MIXED
 * blocks). In exact mode every page is counted at its level (the plain loop of block_units(), as
 * plan_compute_reference() wants it); else only pages at or above the floor are, the rest lumped.
 */
static void scan_fast_block(Ctx *c, BlockSum *s, const RangeView *v, const HeatBlock *hb, UnitClass cls, int idx, bool estimate) {
        uint64_t first = (hb->hva - v->spec.hva) >> PAGE_SHIFT, n_ambig;
        uint64_t *hist = cls == UNIT_DRAM ? c->dram : c->cxl;
        bool maybe_dram = hb->kind == HEAT_BLOCK_NODE && cls == UNIT_DRAM;
        uint64_t *ambig = maybe_dram ? c->unknown : c->ambig;
        int above = hb->kind == HEAT_BLOCK_NODE && hb->all_present ? -1 : known_above(hb);
        unsigned hi = c->exact ? 1 : c->floor; /* exact: heat 0 is counted below */
        BlockScan r;

        scan_block(v->heat + first, hb->n_pages, above, hi, hist, ambig, &r);
        n_ambig = hb->n_pages - r.n_known;
        s->above = (int16_t) above;
        s->fast = !c->exact;
        if (r.n_known > 0) {
                if (cls == UNIT_DRAM) {
                        s->dram_min = (uint16_t) r.known_min;
                        if (r.known_min < c->floor)
                                c->dram_lump_min = MIN(c->dram_lump_min, r.known_min);
                } else {
                        s->cxl_max = (int16_t) r.known_max;
                        c->cxl_max_heat = MAX(c->cxl_max_heat, (int) r.known_max);
                }
        }
        if (n_ambig > 0) {
                s->ambig_min = (uint16_t) r.ambig_min;
                c->ambig_min_heat = MIN(c->ambig_min_heat, r.ambig_min);
                if (!maybe_dram)
                        s->ambig_max = (int16_t) r.ambig_max;
        }
        if (c->exact) {
                /* the heat-0 pages scan_block() left out (hi = 1) */
                uint64_t k0 = r.n_known - r.known_hi, a0 = n_ambig - r.ambig_hi;

                hist[0] += k0;
                ambig[0] += a0;
        } else if (cls == UNIT_DRAM) {
                c->dram_lump += r.n_known - r.known_hi;
                *(maybe_dram ? &c->unknown_lump : &c->ambig_lump) += n_ambig - r.ambig_hi;
        } else {
                c->cxl_lump += r.n_known - r.known_hi;
                c->ambig_lump += n_ambig - r.ambig_hi;
        }
        c->small_units = true;
        if (estimate)
                c->node_pages[idx] += r.n_known;
}

/* Does the VM's exact placement cover any page of [hva, hva + n pages)? */
static bool overlay_touches(Overlay *o, uint64_t hva, uint64_t n_pages) {
        (void) overlay_status(o, hva); /* moves the cursor up to hva */
        return o->i < o->n && o->p[o->i].hva < hva + (n_pages << PAGE_SHIFT);
}

/* Windows of the heat map (start GPA, pass complete?), and the pages per host node of complete ones. */
static void count_known_windows(Ctx *c, const Host *host, uint64_t **ret_gpa, bool **ret_known, uint64_t *ret_absent) {
        const HeatMap *h = c->in->heat;
        size_t n = heatmap_n_histograms(h);
        bool *known = xcalloc(n, sizeof(bool));
        uint64_t *gpa = xcalloc(n, sizeof(uint64_t)), absent = 0;

        for (size_t w = 0; w < n; w++) {
                HeatHistogram r;

                if (heatmap_residency(h, w, &r) < 0)
                        continue;
                gpa[w] = r.gpa;
                if (!r.residency_known)
                        continue;
                known[w] = true;
                absent += r.absent_pages;
                for (size_t i = 0; i < host->n_nodes; i++) {
                        int id = host->nodes[i].id;

                        if (id >= 0 && (unsigned) id < HEATMAP_NODES_MAX)
                                c->node_pages[i] += r.node_pages[id];
                }
        }
        *ret_gpa = gpa;
        *ret_known = known;
        *ret_absent = absent;
}

/*
 * Pass 1: the placement before the plan (window counters where a pass completed, what the
 * blocks say elsewhere), and for a movable VM the histograms and block summaries.
 */
static void scan_vm(Ctx *c, const Host *host) {
        const HeatMap *h = c->in->heat;
        uint64_t window_bytes = c->params->hist_range_bytes;
        _cleanup_free_ bool *known = NULL;
        _cleanup_free_ uint64_t *window_gpa = NULL;
        _cleanup_free_ BlockUnit *units = xcalloc(HUGE_PAGES, sizeof(BlockUnit));
        size_t n_windows = heatmap_n_histograms(h), wi = 0;
        Overlay ov = { .p = c->in->placement, .n = c->in->placement ? c->in->n_placement : 0 };
        uint64_t present_known, absent;

        count_known_windows(c, host, &window_gpa, &known, &absent);
        c->n_ranges = heatmap_n_ranges(h);
        c->blocks = xcalloc(c->n_ranges, sizeof(BlockSum *));

        for (size_t ri = 0; ri < c->n_ranges; ri++) {
                RangeView v;
                size_t nb = heatmap_range_n_blocks(h, ri);

                view_open(h, ri, &v, &ov);
                c->blocks[ri] = xcalloc(nb, sizeof(BlockSum));

                for (size_t bi = 0; bi < nb; bi++) {
                        BlockSum *s = &c->blocks[ri][bi];
                        HeatBlock hb;
                        uint64_t gpa;
                        bool estimate;
                        int idx = -1;
                        UnitClass known_cls = UNIT_SKIP;
                        size_t n;

                        sum_init(s);
                        (void) heatmap_range_block(h, ri, bi, &hb);
                        /* ranges and blocks come in GPA order: the window holding the block's start */
                        gpa = v.spec.gpa + (hb.hva - v.spec.hva);
                        while (wi < n_windows && window_gpa[wi] + window_bytes <= gpa)
                                wi++;
                        estimate = !(wi < n_windows && known[wi]);
                        if (hb.kind == HEAT_BLOCK_NODE)
                                known_cls = class_of_node(host, hb.node, &idx);

                        if (!c->scan) {
                                /* only what it holds: whole NODE blocks where no pass is complete */
                                if (estimate && hb.all_present && (known_cls == UNIT_DRAM || known_cls == UNIT_CXL))
                                        c->node_pages[idx] += hb.n_pages;
                                continue;
                        }
                        if (c->exact_reference) {
                                /* plan_compute_reference(): every block unit by unit */
                        } else if (hb.kind == HEAT_BLOCK_NODE && hb.all_present && v.page_shift == 0 &&
                                   !(hb.huge && hb.n_pages == HUGE_PAGES) && (known_cls == UNIT_DRAM || known_cls == UNIT_CXL)) {
                                scan_fast_block(c, s, &v, &hb, known_cls, idx, estimate);
                                continue;
                        } else if ((hb.kind == HEAT_BLOCK_MIXED || hb.kind == HEAT_BLOCK_NODE) && v.page_shift == 0 &&
                                   !(hb.huge && hb.n_pages == HUGE_PAGES) && !overlay_touches(&ov, hb.hva, hb.n_pages)) {
                                int mi;
                                UnitClass mixed_cls = class_of_node(host, hb.node, &mi);

                                if (mixed_cls == UNIT_DRAM || mixed_cls == UNIT_CXL) {
                                        scan_fast_block(c, s, &v, &hb, mixed_cls, mi, estimate);
                                        continue;
                                }
                        }
                        n = block_units(host, &v, &hb, &ov, units);
                        for (size_t i = 0; i < n; i++)
                                count_unit(c, s, &units[i], estimate);
                }
        }

        for (size_t i = 0; i < host->n_nodes; i++) {
                if (!host->nodes[i].usable)
                        continue;
                if (host->nodes[i].tier == NODE_TIER_DRAM)
                        c->dram_pages += c->node_pages[i];
                else
                        c->cxl_pages += c->node_pages[i];
        }
        /* what neither a complete pass nor a known unit accounts for */
        present_known = c->dram_pages + c->cxl_pages;
        c->unknown_pages = c->ram_pages > present_known + absent ? c->ram_pages - present_known - absent : 0;
}

/*
 * The rest of pass 1, once the targets are known: below the floor, scan_fast_block() counted
 * pages by level only where needed. The walks of select_vm() read a histogram from one end up to
 * where they stop, and the results depend on the levels they take pages from, on the level where
 * they stop, and on totals (hidden_pages()); hot_min_heat() reads levels at or above the floor.
 * So each lump is placed where the walk stops without taking from it:
 *   - known-CXL and ambiguous units below the floor: the promotion walks stop at the first level
 *     below the floor they reach (b, c), and nothing of theirs depends on which one it is (a lower
 *     level has no known-CXL unit of any block above it either): the lump goes to floor - 1;
 *   - known-DRAM units: the demotion walk takes from the coldest up. (a) may go anywhere: every
 *     level is counted (the VM is above its target and demotes anyway). (c) takes DRAM units at
 *     most the hottest known-CXL unit's heat less the margin: levels up to there are counted, in
 *     the blocks whose coldest known-DRAM unit is that cold only; the lump of what is left goes
 *     to its coldest heat, which is exact (the coldest DRAM unit left is what queries ask for);
 *   - unknown (and maybe-DRAM) units: only their total and their coldest heat are read
 *     (ambig_min_heat); the lump goes to floor - 1.
 * selection_exact() checks after each selection that no walk took from a lump (the argument
 * above says it cannot), else rescan_exact() counts every unit and the VM is selected again.
 * test-plan-fast compares the plans with plan_compute_reference() move by move.
 */
static void finish_scan(Ctx *c) {
        const HeatMap *h = c->in->heat;
        unsigned floor = c->floor, low = LEVELS;
        int t = -1;

        if (!c->scan || c->exact)
                return;
        if (c->movable && ctx_gives_up(c)) {
                if (c->dram_pages > c->target_pages)
                        t = (int) floor - 1;
                else if (c->home >= 0 && c->cxl_max_heat >= (int) floor)
                        t = c->cxl_max_heat - c->margin;
        }
        t = MIN(t, (int) floor - 1);
        if (t >= 0 && c->dram_lump > 0) {
                uint64_t moved = 0;

                for (size_t ri = 0; ri < c->n_ranges; ri++) {
                        HeatRangeSpec spec;
                        const uint8_t *heat;
                        size_t n_granules, nb = heatmap_range_n_blocks(h, ri);

                        (void) heatmap_range(h, ri, &spec, &heat, &n_granules);
                        for (size_t bi = 0; bi < nb; bi++) {
                                const BlockSum *s = &c->blocks[ri][bi];
                                HeatBlock hb;
                                const uint8_t *x;

                                if (!s->fast || s->dram_min == NONE_LOW || s->dram_min >= floor)
                                        continue;
                                if ((int) s->dram_min > t) {
                                        low = MIN(low, (unsigned) s->dram_min);
                                        continue;
                                }
                                (void) heatmap_range_block(h, ri, bi, &hb);
                                x = heat + ((hb.hva - spec.hva) >> PAGE_SHIFT);
                                for (uint64_t i = 0; i < hb.n_pages; i++) {
                                        int y = x[i];

                                        if (y <= s->above || y >= (int) floor)
                                                continue;
                                        if (y <= t) {
                                                c->dram[y]++;
                                                moved++;
                                        } else
                                                low = MIN(low, (unsigned) y);
                                }
                        }
                }
                assert(moved <= c->dram_lump);
                c->dram_lump -= moved;
                c->dram_lump_min = low;
        }
        if (c->dram_lump > 0) {
                assert(c->dram_lump_min < floor && (int) c->dram_lump_min > t);
                c->dram[c->dram_lump_min] += c->dram_lump;
        }
        c->cxl[floor - 1] += c->cxl_lump;
        c->ambig[floor - 1] += c->ambig_lump;
        c->unknown[floor - 1] += c->unknown_lump;
}

/* Did a walk of this selection stay off the lumps (finish_scan())? */
static bool cut_clear_of(const Cut *cut, uint64_t lump, unsigned level) {
        unsigned pos = cut->down ? LEVELS - 1 - level : level;

        return lump == 0 || cut->at < pos || (cut->at == pos && cut->part == 0);
}

static bool selection_exact(const Ctx *c, const Selection *s) {
        return c->exact || (cut_clear_of(&s->demote, c->dram_lump, c->dram_lump_min) &&
                            cut_clear_of(&s->promote_known, c->cxl_lump, c->floor - 1) &&
                            cut_clear_of(&s->promote_ambig, c->ambig_lump, c->floor - 1));
}

uint64_t plan_exact_rescans;

/* Count every unit at its level after all (selection_exact() failed): pass 1 again, exact. */
static void rescan_exact(Ctx *c, const Host *host) {
        plan_exact_rescans++; /* not thread-safe; a statistic for tests only */
        for (size_t ri = 0; ri < c->n_ranges; ri++)
                free(c->blocks[ri]);
        free(c->blocks);
        c->blocks = NULL;
        memset(c->node_pages, 0, host->n_nodes * sizeof(uint64_t));
        c->dram_pages = c->cxl_pages = c->unknown_pages = 0;
        memset(c->dram, 0, sizeof(c->dram));
        memset(c->cxl, 0, sizeof(c->cxl));
        memset(c->ambig, 0, sizeof(c->ambig));
        memset(c->unknown, 0, sizeof(c->unknown));
        c->dram_lump = c->cxl_lump = c->ambig_lump = c->unknown_lump = 0;
        c->dram_lump_min = LEVELS;
        c->ambig_min_heat = NONE_LOW;
        c->cxl_max_heat = -1;
        c->exact = true;
        scan_vm(c, host);
}

/* ---- water-filling ---- */

typedef struct Claim {
        uint64_t floor, want;       /* floor <= want */
        unsigned weight;            /* >= 1 */
} Claim;

static uint64_t claim_at(const Claim *c, unsigned __int128 lambda) {
        unsigned __int128 x = (lambda * c->weight) >> 20;

        return MAX(c->floor, (uint64_t) MIN(x, (unsigned __int128) c->want));
}

/*
 * share_i = clamp(lambda * weight_i, floor_i, want_i), the largest lambda whose shares fit pool,
 * and the pages left over (fewer than the VMs still growing) one each in index order. If even the
 * floors exceed pool, every share is its floor.
 */
static void waterfill(const Claim *c, size_t n, uint64_t pool, uint64_t *ret) {
        unsigned __int128 lo = 0, hi = 1, sum_want = 0, sum_floor = 0, f;
        uint64_t rem;

        for (size_t i = 0; i < n; i++) {
                sum_want += c[i].want;
                sum_floor += c[i].floor;
                hi = MAX(hi, (((unsigned __int128) c[i].want) << 20) / c[i].weight + 1);
        }
        if (sum_want <= pool || sum_floor >= pool) {
                for (size_t i = 0; i < n; i++)
                        ret[i] = sum_want <= pool ? c[i].want : c[i].floor;
                return;
        }
        while (lo + 1 < hi) { /* invariant: f(lo) <= pool < f(hi) */
                unsigned __int128 mid = lo + (hi - lo) / 2;

                f = 0;
                for (size_t i = 0; i < n; i++)
                        f += claim_at(&c[i], mid);
                if (f <= pool)
                        lo = mid;
                else
                        hi = mid;
        }
        f = 0;
        for (size_t i = 0; i < n; i++) {
                ret[i] = claim_at(&c[i], lo);
                f += ret[i];
        }
        rem = (uint64_t) (pool - f);
        for (size_t i = 0; i < n && rem > 0; i++)
                if (claim_at(&c[i], hi) > ret[i]) {
                        ret[i]++;
                        rem--;
                }
}

/* ---- 2. targets ---- */

static void set_targets(Ctx *ctx, size_t n_vms, Host *host) {
        _cleanup_free_ Claim *claims = xcalloc(n_vms, sizeof(Claim));
        _cleanup_free_ uint64_t *shares = xcalloc(n_vms, sizeof(uint64_t));
        _cleanup_free_ size_t *who = xcalloc(n_vms, sizeof(size_t));

        for (size_t v = 0; v < n_vms; v++) {
                Ctx *c = &ctx[v];

                PolicyAsk a;

                c->ops->ask(&c->in->policy, c->ram_pages, c->dram_pages, &a);
                c->ask_pages = MIN(a.ask_pages, c->ram_pages);
                c->min_pages = MIN(a.min_pages, c->ask_pages);
                for (size_t i = 0; i < host->n_nodes; i++) {
                        Node *n = &host->nodes[i];

                        n->vm_pages += c->node_pages[i];
                        if (!c->movable || c->home != (int) i)
                                n->fixed_pages += c->node_pages[i];
                }
        }

        for (size_t i = 0; i < host->n_nodes; i++) {
                Node *n = &host->nodes[i];
                uint64_t cap;

                if (n->tier != NODE_TIER_DRAM || !n->usable)
                        continue;
                cap = n->free_pages + n->vm_pages;
                cap = cap > n->keep_pages ? cap - n->keep_pages : 0;
                n->room_pages = cap > n->fixed_pages ? cap - n->fixed_pages : 0;

                /* pinned VMs first, then the others: their minimums by weight, then all by weight */
                for (int pass = 0; pass < 3; pass++) {
                        PolicyClass class = pass == 0 ? POLICY_CLASS_PINNED : POLICY_CLASS_SHARED;
                        size_t k = 0;
                        uint64_t used = 0;

                        for (size_t v = 0; v < n_vms; v++) {
                                Ctx *c = &ctx[v];
                                uint64_t elsewhere = c->dram_pages - c->node_pages[i], want, min;

                                if (!c->movable || c->home != (int) i || c->ops->class != class)
                                        continue;
                                want = c->ask_pages > elsewhere ? c->ask_pages - elsewhere : 0;
                                min = c->min_pages > elsewhere ? c->min_pages - elsewhere : 0;
                                if (pass == 0)
                                        claims[k] = (Claim) { .floor = MIN(c->node_pages[i], want), .want = want };
                                else if (pass == 1)
                                        claims[k] = (Claim) { .want = MIN(min, want) };
                                else
                                        claims[k] = (Claim) { .floor = c->share_pages, .want = MAX(want, c->share_pages) };
                                claims[k].weight = c->in->policy.weight;
                                who[k++] = v;
                        }
                        if (pass == 2)
                                /* the minimums come back into the room: shared again, as floors */
                                for (size_t j = 0; j < k; j++)
                                        n->room_pages += ctx[who[j]].share_pages;
                        waterfill(claims, k, n->room_pages, shares);
                        for (size_t j = 0; j < k; j++) {
                                Ctx *c = &ctx[who[j]];

                                if (pass != 1) {
                                        c->weight_sum = 0;
                                        for (size_t q = 0; q < k; q++)
                                                c->weight_sum += claims[q].weight;
                                }
                                c->share_pages = shares[j];
                                c->target_pages = shares[j] + (c->dram_pages - c->node_pages[i]);
                                used += shares[j];
                        }
                        n->room_pages = n->room_pages > used ? n->room_pages - used : 0;
                }
        }

        for (size_t v = 0; v < n_vms; v++) {
                Ctx *c = &ctx[v];

                if (!c->movable)
                        c->target_pages = c->dram_pages;
                else if (c->home < 0)
                        c->target_pages = c->ops->keep_without_home ? c->dram_pages : MIN(c->ask_pages, c->dram_pages);
        }
}

/* ---- 3. selection ---- */

/* The VM's pages on DRAM (or CXL) that no known unit accounts for: hidden among the ambiguous
 * and unknown ones, or not known to anyone (unknown_pages). */
static uint64_t hidden_pages(const Ctx *c, const uint64_t *known_hist, uint64_t tier_pages) {
        uint64_t known = 0;

        for (unsigned l = 0; l < LEVELS; l++)
                known += known_hist[l];
        return (tier_pages > known ? tier_pages - known : 0) + c->unknown_pages;
}

/*
 * Demotions take known-DRAM units no hotter than this: when some of the VM's DRAM pages are
 * hidden among ambiguous units (its DRAM use exceeds what is known on DRAM), a known unit hotter
 * than the coolest of those may be hotter than a hidden one: such demotions wait for queries.
 */
static unsigned hidden_dram_max_heat(const Ctx *c) {
        if (hidden_pages(c, c->dram, c->dram_pages) == 0)
                return LEVELS - 1;
        /* as cold as the coolest that might be hidden: fine */
        return c->ambig_min_heat < LEVELS ? c->ambig_min_heat : LEVELS - 1;
}

/* ---- 3(c). swaps at the edge: noise ---- */

static uint32_t isqrt64(uint64_t v) {
        uint64_t r = 0, bit = UINT64_C(1) << 62;

        while (bit > v)
                bit >>= 2;
        while (bit != 0) {
                if (v >= r + bit) {
                        v -= r + bit;
                        r = (r >> 1) + bit;
                } else
                        r >>= 1;
                bit >>= 2;
        }
        return (uint32_t) r;
}

/*
 * The variance of the heat of a granule seen in each cycle with probability p, p read off the
 * level h itself (such a granule's mean heat is p * w * 100 / d): with heat' = heat * (1 - d) +
 * w on access, var = w^2 p (1 - p) / (1 - (1 - d)^2), i.e. with x = h * d (d in %):
 * var = x (100 w - x) / (100^2 - (100 - d)^2). 0 without decay (a level is then no rate).
 */
static uint64_t heat_var(unsigned decay_percent, unsigned h) {
        uint64_t w = HEATMAP_ACCESS_WEIGHT, x = (uint64_t) h * decay_percent;
        uint64_t den = 100 * 100 - (uint64_t) (100 - decay_percent) * (100 - decay_percent);

        if (den == 0 || x >= 100 * w)
                return 0;
        return x * (100 * w - x) / den;
}

/*
 * Does a CXL unit at heat hc gain enough over a DRAM unit at hd to swap: by M, plus z10 / 10
 * standard deviations of the difference of two heats of the same rate, the rate their mean heat
 * stands for (the question being whether they are the same: the two extremes of thousands of
 * pages sampled at one rate are far above and below it, each with the noise of that rate).
 */
static bool swap_gains(const Ctx *c, int hc, int hd, unsigned z10) {
        uint64_t var;

        if (hc < hd + c->margin)
                return false;
        if (z10 == 0)
                return true;
        var = 2 * heat_var(c->params->decay_percent, (unsigned) (hc + hd) / 2);
        return (uint64_t) (hc - hd - c->margin) * 10 >= isqrt64((uint64_t) z10 * z10 * var);
}

/* The pages the swap pass (c) would trade from these cut positions with this noise margin, whatever
 * the cap. */
static uint64_t swap_demand(const Ctx *c, Cut pk, Cut d, unsigned floor, unsigned z10) {
        uint64_t pairs = 0;

        for (;;) {
                uint64_t kl = cut_left(&pk), dl = cut_left(&d), k;

                if (kl == 0 || dl == 0 || cut_heat(&pk) < (int) floor || !swap_gains(c, cut_heat(&pk), cut_heat(&d), z10))
                        return pairs;
                k = MIN(kl, dl);
                pk.part += k;
                d.part += k;
                pairs += k;
        }
}

/*
 * The noise margin of this swap pass (model 3(c)), in tenths of a standard deviation: none when
 * what the M rule alone would trade is a mass (at least target / mass_div pages: a hot set that
 * moved, or DRAM given to colder pages), else z_edge: what is left to trade then is the winners
 * of the sampling noise at the DRAM target's edge.
 */
static unsigned swap_z(const Ctx *c, Cut pk, Cut d, unsigned floor) {
        uint64_t demand;

        if (c->z_edge == 0)
                return 0;
        demand = swap_demand(c, pk, d, floor, 0);
        return demand >= MAX(c->target_pages / c->mass_div, 1) ? 0 : c->z_edge;
}

/*
 * Cut-offs on the histograms for at most cap pages: (a) a budget VM above its target demotes its
 * coldest known-DRAM pages; (b) below it, the hottest promotable pages fill the room (known
 * before ambiguous at equal heat); (c) swaps while the hottest known-CXL page is hotter than the
 * coldest known-DRAM one by the margin (PLAN_MARGIN_HEAT unless overridden), whether or not
 * colder DRAM pages hide among ambiguous ones: the swap gains at least the margin either way,
 * and waiting for those to be found (as (a) does) stalled a shifted hot set for as long as any
 * DRAM page stayed hidden. An ambiguous page is never swapped in: if it is on DRAM already, the
 * DRAM page given up for it would be lost for nothing; its block is queried instead.
 */
static void select_vm(const Ctx *c, uint64_t cap, Selection *ret) {
        Selection s = {
                .demote = { .hist = c->dram },
                .promote_known = { .hist = c->cxl, .down = true },
                .promote_ambig = { .hist = c->ambig, .down = true },
        };
        unsigned floor = promote_floor(c), dmax = hidden_dram_max_heat(c);
        uint64_t used = 0, room, demoted = 0, u = c->dram_pages, t = c->target_pages;
        /* ambiguous units can be on CXL only as many as the VM's CXL pages not known as units */
        uint64_t ambig_cap = hidden_pages(c, c->cxl, c->cxl_pages);
        Cut *d = &s.demote, *pk = &s.promote_known, *pa = &s.promote_ambig;

        /* (a) */
        if (ctx_gives_up(c) && u > t) {
                uint64_t need = u - t, left;

                while (need > 0 && used < cap && (left = cut_left(d)) > 0 && cut_heat(d) <= (int) dmax) {
                        uint64_t k = MIN(MIN(left, need), cap - used);

                        d->part += k;
                        need -= k;
                        used += k;
                        demoted += k;
                }
                s.forced_pages = demoted;
                s.forced_unmet_pages = need;
        }

        /* (b): pages whose place is not known might be on DRAM: no room is counted on them */
        room = t + demoted > u + c->unknown_pages ? t + demoted - u - c->unknown_pages : 0;
        if (c->home >= 0)
                while (room > 0 && used < cap) {
                        uint64_t kl = cut_left(pk), al = MIN(cut_left(pa), ambig_cap), k;
                        Cut *from = kl > 0 && (al == 0 || cut_heat(pk) >= cut_heat(pa)) ? pk : pa;

                        if ((from == pk ? kl : al) == 0 || cut_heat(from) < (int) floor)
                                break;
                        k = MIN(MIN(from == pk ? kl : al, room), cap - used);
                        if (from == pa)
                                ambig_cap -= k;
                        from->part += k;
                        room -= k;
                        used += k;
                        s.promote_pages += k;
                }

        /* (c) */
        s.swap_z = ctx_gives_up(c) && c->home >= 0 ? swap_z(c, *pk, *d, floor) : 0;
        if (ctx_gives_up(c) && c->home >= 0)
                for (;;) {
                        uint64_t kl = cut_left(pk), dl = cut_left(d), k;

                        if (kl == 0 || dl == 0 || cut_heat(pk) < (int) floor || !swap_gains(c, cut_heat(pk), cut_heat(d), s.swap_z) ||
                            cap - used < 2)
                                break;
                        k = MIN(MIN(kl, dl), (cap - used) / 2);
                        pk->part += k;
                        d->part += k;
                        used += 2 * k;
                        demoted += k;
                        s.promote_pages += k;
                }

        s.next_known_heat = cut_left(pk) > 0 && cut_heat(pk) >= (int) floor ? cut_heat(pk) : -1;
        s.next_ambig_heat = ambig_cap > 0 && cut_left(pa) > 0 && cut_heat(pa) >= (int) floor ? cut_heat(pa) : -1;
        s.coldest_dram_heat = cut_left(d) > 0 ? cut_heat(d) : -1;
        s.demote_pages = demoted;
        *ret = s;
}

/*
 * Ambiguous or unknown pages at or below this heat would be demoted if they were known to be on
 * DRAM; -1: none. Only when some of the VM's DRAM pages are hidden among them (its DRAM use is
 * more than the pages known on DRAM): else every ambiguous page is on CXL already.
 */
static int query_demote_heat(const Ctx *c) {
        if (!ctx_gives_up(c) || hidden_pages(c, c->dram, c->dram_pages) == 0)
                return -1;
        if (c->want.forced_unmet_pages > 0)
                return (int) LEVELS - 1;
        if (c->home >= 0 && c->want.next_known_heat >= c->margin)
                return c->want.next_known_heat - c->margin;
        return -1;
}

/*
 * Ambiguous pages at or above this heat would be swapped in if they were known to be on CXL (see
 * select_vm()): their blocks are worth a query; -1: none.
 */
static int query_swap_heat(const Ctx *c) {
        const Selection *w = &c->want;
        int h;

        if (!ctx_gives_up(c) || c->home < 0 || w->next_ambig_heat < 0 || w->coldest_dram_heat < 0)
                return -1;
        for (h = MAX(w->coldest_dram_heat + c->margin, (int) c->floor); h <= w->next_ambig_heat; h++)
                if (swap_gains(c, h, w->coldest_dram_heat, w->swap_z))
                        return h;
        return -1;
}

/* How much a block is worth querying: promotion wants first (hottest), then demotion wants
 * (coldest), then any unknown block; -1: not at all. */
static int query_priority(const Ctx *c, const BlockSum *s, int demote_heat, int swap_heat) {
        unsigned floor = promote_floor(c);

        if (s->requery)
                return (int) (LEVELS + (unsigned) MAX(s->ambig_max, 0));
        if (s->unknown_max >= (int) floor && c->home >= 0 && s->unknown_max >= 0)
                return (int) (LEVELS + (unsigned) s->unknown_max);
        if (swap_heat >= 0 && s->ambig_max >= swap_heat)
                return (int) (LEVELS + (unsigned) s->ambig_max);
        if (demote_heat >= 0 && s->ambig_min != NONE_LOW && (int) s->ambig_min <= demote_heat)
                return (int) (1 + (LEVELS - 1 - s->ambig_min));
        if (s->unknown_max >= 0)
                return 0;
        return -1;
}

/* ---- 5. sharing the cycle's budget and the query pages ---- */

/*
 * Water-fill pool over the VMs' wants by weight; a VM that can only use whole units of `unit`
 * pages gets its share rounded down to them, the leftover going in whole units to VMs in turn
 * from `round`.
 */
static void share_pool(Ctx *ctx, size_t n_vms, uint64_t pool, const uint64_t *want, const uint64_t *unit, uint64_t round,
                       uint64_t *ret) {
        _cleanup_free_ Claim *claims = xcalloc(n_vms, sizeof(Claim));
        uint64_t left = pool;
        size_t start;

        for (size_t v = 0; v < n_vms; v++)
                claims[v] = (Claim) { .want = want[v], .weight = ctx[v].in->policy.weight ?: 1 };
        waterfill(claims, n_vms, pool, ret);
        for (size_t v = 0; v < n_vms; v++) {
                ret[v] -= ret[v] % unit[v];
                left -= ret[v];
        }
        /* one unit each, in turn, from where about the last round's units ended */
        start = n_vms > 0 ? (size_t) ((round * MAX(left / HUGE_PAGES, (uint64_t) 1)) % n_vms) : 0;
        for (bool progress = true; progress && left > 0;) {
                progress = false;
                for (size_t k = 0; k < n_vms && left > 0; k++) {
                        size_t v = (start + k) % n_vms;
                        uint64_t extra;

                        if (want[v] <= ret[v] || left < unit[v])
                                continue;
                        extra = unit[v] > 1 ? unit[v] : MIN(want[v] - ret[v], left);
                        ret[v] += extra;
                        left -= extra;
                        progress = true;
                }
        }
}

/* ---- pass 2: the selected units ---- */

/* Selected units; neighbouring 4 KiB ones of equal kind and heat as one run. */
typedef struct Unit {
        uint64_t hva;
        uint32_t vm;
        uint32_t range;
        uint32_t pages;
        int from;                   /* host index, -1: query first */
        uint8_t heat;
        bool promote, huge, known;
} Unit;

typedef struct Units {
        Unit *u;
        size_t n, allocated;
} Units;

static void units_add(Units *l, const Unit *u) {
        Unit *last = l->n > 0 ? &l->u[l->n - 1] : NULL;

        if (last && !u->huge && !last->huge && last->vm == u->vm && last->range == u->range && last->promote == u->promote &&
            last->known == u->known && last->from == u->from && last->heat == u->heat &&
            last->hva + ((uint64_t) last->pages << PAGE_SHIFT) == u->hva && last->pages < UINT32_MAX - u->pages) {
                last->pages += u->pages;
                return;
        }
        if (l->n >= l->allocated) {
                l->allocated = MAX(l->allocated * 2, (size_t) 256);
                l->u = xreallocarray(l->u, l->allocated, sizeof(Unit));
        }
        l->u[l->n++] = *u;
}

typedef struct EmitState {
        Ctx *c;
        const Selection *s;
        Units *out;
        size_t range;
        uint64_t *d_left, *k_left, *a_left;
} EmitState;

/* The cut of a walk as heats: units beyond `all` are taken, at `all` while part is left. */
static int cut_all_heat(const Cut *c) {
        return c->down ? (int) LEVELS - 1 - (int) c->at : (int) c->at;
}

/* What emit_block_fast() asks of each page. */
typedef struct EmitBlock {
        const HeatBlock *hb;
        UnitClass cls;
        int idx, above, d_at, k_at, a_at;
        bool ambig_ok;
        unsigned floor;             /* promote_floor(): an ambiguous page below it is not taken */
        uint64_t ambig_taken, ambig_left;
} EmitBlock;

/* Page i of the block (heat x): taken or not, as the cuts say. */
static inline void emit_page(EmitState *e, EmitBlock *b, uint64_t i, int x) {
        bool known = x > b->above, take;
        Unit u;

        if (known && b->cls == UNIT_DRAM) {
                take = x < b->d_at || (x == b->d_at && *e->d_left > 0 && (--*e->d_left, true));
                if (!take)
                        return;
                u = (Unit) { .from = b->idx, .known = true };
        } else if (known) {
                take = x > b->k_at || (x == b->k_at && *e->k_left > 0 && (--*e->k_left, true));
                if (!take)
                        return;
                u = (Unit) { .from = b->idx, .known = true, .promote = true };
        } else {
                if (!b->ambig_ok || x < (int) b->floor)
                        return;
                take = x > b->a_at || (x == b->a_at && *e->a_left > 0 && (--*e->a_left, true));
                b->ambig_taken += take;
                b->ambig_left += !take;
                if (!take)
                        return;
                u = (Unit) { .from = -1, .promote = true };
        }
        u.hva = b->hb->hva + (i << PAGE_SHIFT);
        u.vm = (uint32_t) e->c->index;
        u.range = (uint32_t) e->range;
        u.pages = 1;
        u.heat = (uint8_t) x;
        units_add(e->out, &u);
}

/*
 * emit_vm() over the heat bytes of a NODE or MIXED block of 4 KiB pages, without exact statuses.
 * SSE2: 16 pages a step find the pages emit_page() may act on (a known DRAM page at or below
 * the demotion cut, a known CXL one at or above the promotion cut, an ambiguous one at or above
 * promote_floor()); only those are visited, in address order. plan_compute_reference() takes
 * every block unit by unit through block_units() instead (test-plan-fast compares the two).
 */
static void emit_block_fast(EmitState *e, const RangeView *v, const HeatBlock *hb, UnitClass cls, int idx, bool want_d,
                            bool want_p, BlockSum *sum) {
        uint64_t first = (hb->hva - v->spec.hva) >> PAGE_SHIFT, i = 0;
        const uint8_t *heat = v->heat + first;
        EmitBlock b = {
                .hb = hb,
                .cls = cls,
                .idx = idx,
                .above = known_above(hb),
                .d_at = want_d ? cut_all_heat(&e->s->demote) : -1,
                .k_at = want_p ? cut_all_heat(&e->s->promote_known) : 256,
                .a_at = want_p ? cut_all_heat(&e->s->promote_ambig) : 256,
                .ambig_ok = want_p && !(cls == UNIT_DRAM && hb->kind == HEAT_BLOCK_NODE), /* such a page is not on CXL */
                .floor = promote_floor(e->c),
        };

        assert(!e->c->exact_reference);
#if defined(__SSE2__) && defined(__x86_64__)
        {
                const __m128i ones = _mm_set1_epi8((char) 0xff), zero = _mm_setzero_si128();
                const __m128i av = _mm_set1_epi8((char) (b.above + 1)), fv = _mm_set1_epi8((char) b.floor);
                bool dram = cls == UNIT_DRAM, all_known = b.above < 0, none_known = b.above >= 255;
                int cut = dram ? b.d_at : b.k_at;
                bool q_none = dram ? cut < 0 : cut > 255, q_all = dram ? cut >= 255 : cut <= 0;
                const __m128i cv = _mm_set1_epi8((char) (q_none || q_all ? 0 : cut));

                for (; i + 16 <= hb->n_pages; i += 16) {
                        __m128i x = _mm_loadu_si128((const __m128i *) (heat + i));
                        __m128i k = all_known ? ones : none_known ? zero : _mm_cmpeq_epi8(_mm_max_epu8(x, av), x);
                        __m128i q = q_none ? zero : q_all ? ones
                                  : dram ? _mm_cmpeq_epi8(_mm_min_epu8(x, cv), x) : _mm_cmpeq_epi8(_mm_max_epu8(x, cv), x);
                        __m128i a = b.ambig_ok ? _mm_cmpeq_epi8(_mm_max_epu8(x, fv), x) : zero;
                        unsigned m = (unsigned) _mm_movemask_epi8(_mm_or_si128(_mm_and_si128(k, q), _mm_andnot_si128(k, a)));

                        while (m) {
                                unsigned bit = (unsigned) __builtin_ctz(m);

                                m &= m - 1;
                                emit_page(e, &b, i + bit, heat[i + bit]);
                        }
                }
        }
#endif
        for (; i < hb->n_pages; i++)
                emit_page(e, &b, i, heat[i]);
        sum->requery = b.ambig_taken > 0 && b.ambig_left > 0;
}

/* ---- 7. ties: which units at a cut's own heat (plan.h, "Keeping 2 MiB blocks whole") ---- */

typedef enum TieClass {
        TIE_COMPLETES,  /* the block's other pages move anyway: all its ties keep it whole */
        TIE_WHOLE,      /* the block is all ties (or one THP): all of them or none keeps it whole */
        TIE_FREE,       /* the block is split already, or by this plan anyway: any number */
        TIE_SPLITS,     /* a whole block that any tie taken splits */
} TieClass;

typedef struct Tie {
        uint32_t range, block;
        uint32_t pages;             /* of units at the cut's heat */
        uint32_t allow;             /* of those, what this plan takes */
        uint8_t cls;                /* TieClass */
        bool unit;                  /* the ties are one THP (or 2 MiB granule): all or none */
} Tie;

typedef struct Ties {
        Tie *t;
        size_t n, allocated;
        size_t next;                /* emit_vm()'s cursor */
} Ties;

/* What one block holds for one cut: pages taken whatever the ties, and ties. */
typedef struct TieCount {
        uint64_t sure, tie;
        bool unit;
} TieCount;

/* Units of block hb against the demotion cut at heat d_at and the known promotion cut at k_at
 * (-1: not asked), counted as emit_vm() would see them; true if every page of the block is known
 * to be on one node (a whole block: the only kind that can be one host-physical run or one huge
 * page). plain: unit by unit through block_units() (plan_compute_reference()), else NODE and
 * MIXED blocks 16 pages a step. */
static bool tally_block(const Host *host, const RangeView *v, const HeatBlock *hb, Overlay *ov, BlockUnit *units, int d_at,
                        int k_at, bool plain, TieCount *d, TieCount *k) {
        uint64_t first = (hb->hva - v->spec.hva) >> PAGE_SHIFT, known = 0;
        int one = -2; /* the node all known units are on; -2 none yet, -1 more than one */
        size_t n;

        *d = *k = (TieCount) {};
        if (!plain && (hb->kind == HEAT_BLOCK_MIXED || hb->kind == HEAT_BLOCK_NODE) && v->page_shift == 0 &&
            !(hb->huge && hb->n_pages == HUGE_PAGES) && !overlay_touches(ov, hb->hva, hb->n_pages)) {
                int idx, above = known_above(hb);
                UnitClass cls = class_of_node(host, hb->node, &idx);
                const uint8_t *heat = v->heat + first;

                if (cls == UNIT_DRAM || cls == UNIT_CXL) {
                        int at = cls == UNIT_DRAM ? d_at : k_at;
                        TieCount *x1 = cls == UNIT_DRAM ? d : k;
                        uint64_t i = 0;

#if defined(__SSE2__) && defined(__x86_64__)
                        {
                                /* 16 pages a step: known, and of those sure (beyond the cut) and ties */
                                const __m128i ones = _mm_set1_epi8((char) 0xff), zero = _mm_setzero_si128();
                                const __m128i av = _mm_set1_epi8((char) (above + 1)), atv = _mm_set1_epi8((char) (at < 0 ? 0 : at));
                                /* DRAM: sure is x < at, i.e. x <= at - 1; CXL: x > at, i.e. x >= at + 1 */
                                bool dram = cls == UNIT_DRAM, asked = at >= 0;
                                bool sure_none = !asked || (dram ? at == 0 : at >= 255);
                                const __m128i sv = _mm_set1_epi8((char) (sure_none ? 0 : dram ? at - 1 : at + 1));
                                __m128i ck = zero, cs = zero, ct = zero;

                                for (; i + 16 <= hb->n_pages; i += 16) {
                                        __m128i x = _mm_loadu_si128((const __m128i *) (heat + i));
                                        __m128i kn = above < 0 ? ones : above >= 255 ? zero : _mm_cmpeq_epi8(_mm_max_epu8(x, av), x);
                                        __m128i su = sure_none ? zero
                                                   : dram ? _mm_cmpeq_epi8(_mm_min_epu8(x, sv), x) : _mm_cmpeq_epi8(_mm_max_epu8(x, sv), x);

                                        ck = _mm_sub_epi8(ck, kn); /* at most 32 steps a block: no lane overflows */
                                        if (asked) {
                                                cs = _mm_sub_epi8(cs, _mm_and_si128(kn, su));
                                                ct = _mm_sub_epi8(ct, _mm_and_si128(kn, _mm_cmpeq_epi8(x, atv)));
                                        }
                                }
                                ck = _mm_sad_epu8(ck, zero);
                                cs = _mm_sad_epu8(cs, zero);
                                ct = _mm_sad_epu8(ct, zero);
                                known += (uint64_t) _mm_cvtsi128_si64(ck) + (uint64_t) _mm_cvtsi128_si64(_mm_unpackhi_epi64(ck, ck));
                                x1->sure += (uint64_t) _mm_cvtsi128_si64(cs) + (uint64_t) _mm_cvtsi128_si64(_mm_unpackhi_epi64(cs, cs));
                                x1->tie += (uint64_t) _mm_cvtsi128_si64(ct) + (uint64_t) _mm_cvtsi128_si64(_mm_unpackhi_epi64(ct, ct));
                        }
#endif
                        for (; i < hb->n_pages; i++) {
                                int x = heat[i];

                                if (x <= above)
                                        continue;
                                known++;
                                if (cls == UNIT_DRAM && d_at >= 0) {
                                        d->sure += x < d_at;
                                        d->tie += x == d_at;
                                } else if (cls == UNIT_CXL && k_at >= 0) {
                                        k->sure += x > k_at;
                                        k->tie += x == k_at;
                                }
                        }
                        (void) x1;
                        return known == hb->n_pages;
                }
        }
        n = block_units(host, v, hb, ov, units);
        for (size_t i = 0; i < n; i++) {
                const BlockUnit *u = &units[i];
                TieCount *x = u->cls == UNIT_DRAM && d_at >= 0 ? d : u->cls == UNIT_CXL && k_at >= 0 ? k : NULL;
                int at = x == d ? d_at : k_at;

                if (u->cls != UNIT_DRAM && u->cls != UNIT_CXL)
                        continue;
                known += u->pages;
                one = one == -2 || one == u->node ? u->node : -1;
                if (!x)
                        continue;
                if (u->heat == at) {
                        x->tie += u->pages;
                        x->unit = x->unit || u->pages == HUGE_PAGES;
                } else if (x == d ? u->heat < at : u->heat > at)
                        x->sure += u->pages;
        }
        return one >= 0 && known == hb->n_pages;
}

static void ties_add(Ties *l, size_t ri, size_t bi, const TieCount *x, bool whole, uint64_t n_pages) {
        TieClass cls;

        if (x->tie == 0)
                return;
        if (x->unit)
                cls = TIE_WHOLE;
        else if (!whole)
                cls = TIE_FREE;
        else if (x->sure + x->tie == n_pages)
                cls = x->sure > 0 ? TIE_COMPLETES : TIE_WHOLE;
        else
                cls = x->sure > 0 ? TIE_FREE : TIE_SPLITS;
        if (l->n >= l->allocated) {
                l->allocated = MAX(l->allocated * 2, (size_t) 64);
                l->t = xreallocarray(l->t, l->allocated, sizeof(Tie));
        }
        l->t[l->n++] = (Tie) { .range = (uint32_t) ri, .block = (uint32_t) bi, .pages = (uint32_t) x->tie, .cls = (uint8_t) cls,
                               .unit = x->unit };
}

static int cmp_tie_pages(const void *a, const void *b) {
        const Tie *x = *(const Tie *const *) a, *y = *(const Tie *const *) b;

        if (x->pages != y->pages)
                return x->pages < y->pages ? -1 : 1;
        return (x > y) - (x < y); /* address order */
}

/*
 * Share the cut's `part` pages at its own heat out among the blocks holding them, so that as few
 * whole blocks as possible are split: first blocks that the ties complete (fewest ties first),
 * then blocks that are all ties (whole, in address order), then blocks split anyway (any number),
 * and only then, in address order, what splits a whole block.
 */
static void ties_allocate(Ties *l, uint64_t part) {
        _cleanup_free_ Tie **completes = xcalloc(MAX(l->n, (size_t) 1), sizeof(Tie *));
        size_t n = 0;

        for (size_t i = 0; i < l->n; i++)
                if (l->t[i].cls == TIE_COMPLETES)
                        completes[n++] = &l->t[i];
        qsort(completes, n, sizeof(Tie *), cmp_tie_pages);
        for (size_t i = 0; i < n && part > 0; i++)
                if (completes[i]->pages <= part) {
                        completes[i]->allow = completes[i]->pages;
                        part -= completes[i]->pages;
                }
        for (size_t i = 0; i < l->n && part > 0; i++)
                if (l->t[i].cls == TIE_WHOLE && l->t[i].pages <= part) {
                        l->t[i].allow = l->t[i].pages;
                        part -= l->t[i].pages;
                }
        for (size_t i = 0; i < l->n && part > 0; i++)
                if (l->t[i].cls == TIE_FREE) {
                        l->t[i].allow = (uint32_t) MIN((uint64_t) l->t[i].pages, part);
                        part -= l->t[i].allow;
                }
        for (size_t i = 0; i < l->n && part > 0; i++)
                if (l->t[i].allow == 0 && !l->t[i].unit) {
                        l->t[i].allow = (uint32_t) MIN((uint64_t) l->t[i].pages, part);
                        part -= l->t[i].allow;
                }
}

/* The allowance of block (ri, bi) (ascending calls). */
static uint64_t ties_allow(Ties *l, size_t ri, size_t bi) {
        while (l->next < l->n && (l->t[l->next].range < ri || (l->t[l->next].range == ri && l->t[l->next].block < bi)))
                l->next++;
        if (l->next < l->n && l->t[l->next].range == ri && l->t[l->next].block == bi)
                return l->t[l->next].allow;
        return 0;
}

/* Does the cut take only part of the units at its own heat (so that there is a choice)? */
static bool cut_has_ties(const Cut *c) {
        return c->part > 0 && c->at < LEVELS && c->part < c->hist[cut_heat(c)];
}

/* The ties of the demotion cut and of the known promotion cut, allocated (only for a cut that
 * takes part of its level: one that takes all of it takes every tie, see emit_vm()). */
static void plan_ties(Ctx *c, const Host *host, Ties *dt, Ties *kt) {
        const HeatMap *h = c->in->heat;
        const Selection *s = &c->sel;
        int d_at = cut_has_ties(&s->demote) ? cut_heat(&s->demote) : -1;
        int k_at = cut_has_ties(&s->promote_known) ? cut_heat(&s->promote_known) : -1;
        Overlay ov = { .p = c->in->placement, .n = c->in->placement ? c->in->n_placement : 0 };
        _cleanup_free_ BlockUnit *units = NULL;

        if (d_at < 0 && k_at < 0)
                return;
        units = xcalloc(HUGE_PAGES, sizeof(BlockUnit));
        for (size_t ri = 0; ri < c->n_ranges; ri++) {
                RangeView v;
                size_t nb = heatmap_range_n_blocks(h, ri);

                view_open(h, ri, &v, &ov);
                for (size_t bi = 0; bi < nb; bi++) {
                        const BlockSum *sum = &c->blocks[ri][bi];
                        bool want_d = d_at >= 0 && sum->dram_min != NONE_LOW && (int) sum->dram_min <= d_at;
                        bool want_k = k_at >= 0 && sum->cxl_max >= k_at;
                        TieCount d, k;
                        HeatBlock hb;
                        bool whole;

                        if (!want_d && !want_k)
                                continue;
                        (void) heatmap_range_block(h, ri, bi, &hb);
                        whole = tally_block(host, &v, &hb, &ov, units, want_d ? d_at : -1, want_k ? k_at : -1, c->exact_reference, &d, &k);
                        ties_add(dt, ri, bi, &d, whole, hb.n_pages);
                        ties_add(kt, ri, bi, &k, whole, hb.n_pages);
                }
        }
        ties_allocate(dt, s->demote.part);
        ties_allocate(kt, s->promote_known.part);
}

static void emit_vm(Ctx *c, const Host *host, Units *out) {
        const HeatMap *h = c->in->heat;
        const Selection *s = &c->sel;
        _cleanup_free_ BlockUnit *units = NULL;
        Overlay ov = { .p = c->in->placement, .n = c->in->placement ? c->in->n_placement : 0 };
        uint64_t a_left = s->promote_ambig.part;
        int k_min = LEVELS - 1 - (int) s->promote_known.at, a_min = LEVELS - 1 - (int) s->promote_ambig.at;
        Ties d_ties = {}, k_ties = {};
        bool d_all = s->demote.part > 0 && !cut_has_ties(&s->demote);
        bool k_all = s->promote_known.part > 0 && !cut_has_ties(&s->promote_known);

        if (s->demote_pages == 0 && s->promote_pages == 0)
                return;
        units = xcalloc(HUGE_PAGES, sizeof(BlockUnit));
        plan_ties(c, host, &d_ties, &k_ties);

        for (size_t ri = 0; ri < c->n_ranges; ri++) {
                RangeView v;
                size_t nb = heatmap_range_n_blocks(h, ri);

                view_open(h, ri, &v, &ov);

                for (size_t bi = 0; bi < nb; bi++) {
                        BlockSum *sum = &c->blocks[ri][bi];
                        uint64_t ambig_taken = 0, ambig_left = 0;
                        /* this block's share of the units at each cut's own heat (ties): all of
                         * them when the cut takes its whole level */
                        uint64_t d_left = d_all ? UINT64_MAX : ties_allow(&d_ties, ri, bi);
                        uint64_t k_left = k_all ? UINT64_MAX : ties_allow(&k_ties, ri, bi);
                        /* the hottest or coldest unit of each kind in the block against the cut-offs
                         * (at the cut's own heat only while some of its part is left) */
                        bool want_d = s->demote_pages > 0 && sum->dram_min != NONE_LOW &&
                                      (sum->dram_min < s->demote.at || (sum->dram_min == s->demote.at && d_left > 0));
                        bool want_p = s->promote_pages > 0 &&
                                      ((sum->cxl_max >= 0 && (sum->cxl_max > k_min || (sum->cxl_max == k_min && k_left > 0))) ||
                                       (sum->ambig_max >= 0 && (sum->ambig_max > a_min || (sum->ambig_max == a_min && a_left > 0))));
                        HeatBlock hb;
                        size_t n;

                        if (!want_d && !want_p)
                                continue;
                        (void) heatmap_range_block(h, ri, bi, &hb);
                        if (!c->exact_reference && (hb.kind == HEAT_BLOCK_MIXED || hb.kind == HEAT_BLOCK_NODE) && v.page_shift == 0 &&
                            !(hb.huge && hb.n_pages == HUGE_PAGES) && !overlay_touches(&ov, hb.hva, hb.n_pages)) {
                                int idx;
                                UnitClass cls = class_of_node(host, hb.node, &idx);

                                if (cls == UNIT_DRAM || cls == UNIT_CXL) {
                                        EmitState es = { c, s, out, ri, &d_left, &k_left, &a_left };

                                        emit_block_fast(&es, &v, &hb, cls, idx, want_d, want_p, sum);
                                        continue;
                                }
                        }
                        n = block_units(host, &v, &hb, &ov, units);
                        for (size_t i = 0; i < n; i++) {
                                const BlockUnit *b = &units[i];
                                Unit u = {
                                        .hva = v.spec.hva + (b->page << PAGE_SHIFT),
                                        .vm = (uint32_t) c->index,
                                        .range = (uint32_t) ri,
                                        .pages = b->pages,
                                        .heat = b->heat,
                                        .huge = b->pages == HUGE_PAGES,
                                };

                                if (b->cls == UNIT_DRAM && want_d) {
                                        if (!cut_takes(&s->demote, b->heat, b->pages, &d_left))
                                                continue;
                                        u.from = b->node;
                                        u.known = true;
                                        units_add(out, &u);
                                } else if ((b->cls == UNIT_CXL || b->cls == UNIT_AMBIG) && want_p) {
                                        bool take = b->cls == UNIT_CXL ? cut_takes(&s->promote_known, b->heat, b->pages, &k_left)
                                                                       : cut_takes(&s->promote_ambig, b->heat, b->pages, &a_left);

                                        if (b->cls == UNIT_AMBIG && b->heat >= promote_floor(c)) {
                                                ambig_taken += take;
                                                ambig_left += !take;
                                        }
                                        if (!take)
                                                continue;
                                        u.promote = true;
                                        u.known = b->cls == UNIT_CXL;
                                        u.from = u.known ? b->node : -1;
                                        units_add(out, &u);
                                }
                        }
                        /* moved and found-in-place pages report as one set only with all of them:
                         * with some left out the block stays ambiguous, so look at it instead */
                        sum->requery = ambig_taken > 0 && ambig_left > 0;
                }
        }
        free(d_ties.t);
        free(k_ties.t);
}

/* Demotions coldest first, then promotions hottest first (known before query-first); stable. */
static void order_units(Units *l) {
        _cleanup_free_ size_t *count = xcalloc(LEVELS + KEYS + 1, sizeof(size_t));
        _cleanup_free_ Unit *sorted = xcalloc(l->n, sizeof(Unit));

        for (size_t i = 0; i < l->n; i++) {
                const Unit *u = &l->u[i];
                size_t b = u->promote ? LEVELS + (KEYS - 1 - promote_key(u->heat, u->known)) : u->heat;

                count[b + 1]++;
        }
        for (size_t b = 1; b <= LEVELS + KEYS; b++)
                count[b] += count[b - 1];
        for (size_t i = 0; i < l->n; i++) {
                const Unit *u = &l->u[i];
                size_t b = u->promote ? LEVELS + (KEYS - 1 - promote_key(u->heat, u->known)) : u->heat;

                sorted[count[b]++] = *u;
        }
        free(l->u);
        l->u = TAKE_PTR(sorted);
        l->allocated = l->n;
}

/* A realized piece of a run becomes a move, or grows the last one if it continues it. */
static void add_move(Plan *p, const Host *host, const Unit *u, uint64_t hva, uint64_t pages, int to, bool needs_room,
                     uint32_t *last_range) {
        PlanMove *last = p->n_moves > 0 ? &p->moves[p->n_moves - 1] : NULL;
        PlanMove m = {
                .vm = u->vm,
                .direction = u->promote ? PLAN_PROMOTE : PLAN_DEMOTE,
                .hva = hva,
                .n_pages = pages,
                .from_node = u->from >= 0 ? host->nodes[u->from].id : PLAN_NODE_ANY,
                .to_node = host->nodes[to].id,
                .heat = u->heat,
                .huge = u->huge,
                .needs_room = needs_room,
        };

        if (last && !u->huge && !last->huge && last->vm == m.vm && last->direction == m.direction &&
            last->from_node == m.from_node && last->to_node == m.to_node && last->heat == m.heat &&
            last->needs_room == m.needs_room && last->hva + (last->n_pages << PAGE_SHIFT) == m.hva && *last_range == u->range) {
                last->n_pages += m.n_pages;
                return;
        }
        if (p->n_moves % 256 == 0)
                p->moves = xreallocarray(p->moves, p->n_moves + 256, sizeof(PlanMove));
        p->moves[p->n_moves++] = m;
        *last_range = u->range;
}

/* What simulate() tracks of the nodes while it lays out the moves. */
typedef struct SimState {
        uint64_t *free_pages;       /* per host node, after the moves so far */
        int64_t *without_demotions; /* per host node: free pages had no demotion run (promotions
                                     * beyond it have needs_room) */
        uint32_t last_range;        /* add_move()'s */
} SimState;

/* The first n of a demotion run's pages left (*left from *hva) go to the nearest CXL node of its
 * DRAM node that keeps its minimum free ratio (split over several if need be); what fits nowhere
 * is dropped. */
static void sim_demote(Ctx *ctx, Host *host, SimState *st, const Unit *u, uint64_t *hva, uint64_t *left, uint64_t n,
                       Plan *p) {
        const TopologyNode *tn = &host->t->nodes[u->from];
        Ctx *c = &ctx[u->vm];
        uint64_t part = MIN(n, *left), at = *hva;
        bool any_allowed = false;

        *hva += part << PAGE_SHIFT;
        *left -= part;
        for (size_t k = 0; k < tn->n_demotion_targets && part > 0; k++) {
                int ci = host_index(host, tn->demotion_targets[k]);
                uint64_t room, take;

                if (ci < 0 || !host->nodes[ci].usable || host->nodes[ci].tier != NODE_TIER_CXL)
                        continue;
                if (!vm_allows(c->in, host->nodes[ci].id))
                        continue;
                any_allowed = true;
                room = st->free_pages[ci] > host->nodes[ci].keep_pages ? st->free_pages[ci] - host->nodes[ci].keep_pages : 0;
                take = u->huge ? (room >= part ? part : 0) : MIN(part, room);
                if (take == 0)
                        continue;
                add_move(p, host, u, at, take, ci, false, &st->last_range);
                st->free_pages[ci] -= take;
                st->free_pages[u->from] += take;
                c->sim_dram_pages -= MIN(c->sim_dram_pages, take);
                c->demoted_pages += take;
                at += take << PAGE_SHIFT;
                part -= take;
        }
        if (any_allowed)
                c->dropped_demote_pages += part;
        else
                c->denied_demote_pages += part;
}

/*
 * A promotion run (its first *left pages from *hva) goes to the VM's home node as far as the
 * node's watermark and the VM's target allow now. last: no demotion is left to make more room,
 * so what does not fit is dropped; else it waits. Returns true when the run is done with.
 */
static bool sim_promote(Ctx *ctx, Host *host, SimState *st, const Unit *u, uint64_t *hva, uint64_t *left, bool last,
                        Plan *p) {
        Ctx *c = &ctx[u->vm];
        int hi = c->home;
        uint64_t node_room = st->free_pages[hi] > host->nodes[hi].keep_pages ? st->free_pages[hi] - host->nodes[hi].keep_pages : 0;
        uint64_t vm_room = c->target_pages > c->sim_dram_pages ? c->target_pages - c->sim_dram_pages : 0;
        uint64_t take = MIN(*left, MIN(node_room, vm_room)), own;

        if (u->huge && take < *left)
                take = 0;
        /* the first pages fit in what was free before any demotion, the rest need it */
        own = st->without_demotions[hi] > (int64_t) host->nodes[hi].keep_pages
                      ? MIN(take, (uint64_t) (st->without_demotions[hi] - (int64_t) host->nodes[hi].keep_pages))
                      : 0;
        if (u->huge && own < take)
                own = 0; /* a THP moves whole, in one move: all of it needs the room */
        if (own > 0)
                add_move(p, host, u, *hva, own, hi, false, &st->last_range);
        if (take > own)
                add_move(p, host, u, *hva + (own << PAGE_SHIFT), take - own, hi, true, &st->last_range);
        st->free_pages[hi] -= take;
        if (u->from >= 0)
                st->free_pages[u->from] += take;
        st->without_demotions[hi] -= (int64_t) take;
        c->sim_dram_pages += take;
        c->promoted_pages += take;
        *hva += take << PAGE_SHIFT;
        *left -= take;
        if (*left > 0 && !last)
                return false;
        c->dropped_promote_pages += *left;
        return true;
}

/*
 * 4. and the prefix invariant, in the plan's order (5): promotions, hottest first, as soon as
 * the home node's watermark and the VM's target let them in; when the next one does not fit,
 * the next chunk of demotions, coldest first (limits.interleave_pages of them, a THP whole, or
 * all that are left once every promotion is placed), then promotions again. So a
 * prefix of the plan promotes about as much as it demoted, and a round cut short (replaced by
 * the next plan) has made its promotions along with its demotions. Each promotion is placed when
 * it first fits, never later than after all demotions (where the demotions-first order placed
 * it): the same moves as that order, only sooner; what does not fit then is dropped. The moves
 * come out coalesced.
 */
static void simulate(Ctx *ctx, Host *host, const Units *l, uint64_t chunk_pages, Plan *p) {
        _cleanup_free_ uint64_t *free_pages = xcalloc(host->n_nodes, sizeof(uint64_t));
        _cleanup_free_ int64_t *without_demotions = xcalloc(host->n_nodes, sizeof(int64_t));
        SimState st = { .free_pages = free_pages, .without_demotions = without_demotions, .last_range = UINT32_MAX };
        size_t n_demote = 0, di = 0, pi;
        uint64_t hva = 0, left = 0, dhva = 0, dleft = 0;

        for (size_t i = 0; i < host->n_nodes; i++) {
                free_pages[i] = host->nodes[i].free_pages;
                without_demotions[i] = (int64_t) host->nodes[i].free_pages;
        }
        /* order_units(): the demotions, then the promotions */
        while (n_demote < l->n && !l->u[n_demote].promote)
                n_demote++;
        pi = n_demote;
        if (pi < l->n) {
                hva = l->u[pi].hva;
                left = l->u[pi].pages;
        }
        if (di < n_demote) {
                dhva = l->u[di].hva;
                dleft = l->u[di].pages;
        }

        for (;;) {
                uint64_t chunk = 0;

                while (pi < l->n && sim_promote(ctx, host, &st, &l->u[pi], &hva, &left, di == n_demote, p))
                        if (++pi < l->n) {
                                hva = l->u[pi].hva;
                                left = l->u[pi].pages;
                        }
                if (di == n_demote)
                        break;
                while (di < n_demote && (chunk < chunk_pages || pi == l->n)) {
                        /* a chunk ends inside a run of 4 KiB pages, or after a THP */
                        uint64_t n = pi == l->n || l->u[di].huge ? dleft : MIN(dleft, chunk_pages - chunk);

                        sim_demote(ctx, host, &st, &l->u[di], &dhva, &dleft, n, p);
                        chunk += n;
                        if (dleft == 0 && ++di < n_demote) {
                                dhva = l->u[di].hva;
                                dleft = l->u[di].pages;
                        }
                }
        }
}

/* ---- queries ---- */

typedef struct Want {
        uint64_t hva, n_pages;
        uint64_t seq;               /* ties: the VM's blocks from a point that moves every round */
        uint32_t vm;
        int priority;
} Want;

static void collect_wants(Ctx *c, uint64_t round, Want **wants, size_t *n_wants, size_t *allocated) {
        const HeatMap *h = c->in->heat;
        int demote_heat = query_demote_heat(c), swap_heat = query_swap_heat(c);
        uint64_t n_blocks = 0, seq = 0, start;

        for (size_t ri = 0; ri < c->n_ranges; ri++)
                n_blocks += heatmap_range_n_blocks(h, ri);
        /* a different third of the VM first each round, so equal wants are all served in turn */
        start = n_blocks > 0 ? (round * (n_blocks / 3 + 1)) % n_blocks : 0;
        for (size_t ri = 0; ri < c->n_ranges; ri++) {
                size_t nb = heatmap_range_n_blocks(h, ri);

                for (size_t bi = 0; bi < nb; bi++, seq++) {
                        int pr = query_priority(c, &c->blocks[ri][bi], demote_heat, swap_heat);
                        HeatBlock hb;

                        if (pr < 0)
                                continue;
                        (void) heatmap_range_block(h, ri, bi, &hb);
                        if (*n_wants >= *allocated) {
                                *allocated = MAX(*allocated * 2, (size_t) 64);
                                *wants = xreallocarray(*wants, *allocated, sizeof(Want));
                        }
                        (*wants)[(*n_wants)++] = (Want) {
                                .hva = hb.hva,
                                .n_pages = hb.n_pages,
                                .seq = (seq + n_blocks - start) % n_blocks,
                                .vm = (uint32_t) c->index,
                                .priority = pr,
                        };
                }
        }
}

static int cmp_want(const void *a, const void *b) {
        const Want *x = a, *y = b;

        if (x->priority != y->priority)
                return x->priority > y->priority ? -1 : 1;
        if (x->vm != y->vm)
                return x->vm < y->vm ? -1 : 1;
        return (x->seq > y->seq) - (x->seq < y->seq);
}

static void plan_queries(Ctx *ctx, size_t n_vms, const PlanLimits *limits, Plan *p) {
        _cleanup_free_ Want *wants = NULL;
        _cleanup_free_ uint64_t *want = xcalloc(n_vms, sizeof(uint64_t));
        _cleanup_free_ uint64_t *unit = xcalloc(n_vms, sizeof(uint64_t));
        _cleanup_free_ uint64_t *share = xcalloc(n_vms, sizeof(uint64_t));
        size_t n_wants = 0, allocated = 0;

        if (limits->query_pages == 0)
                return;
        for (size_t v = 0; v < n_vms; v++) {
                size_t first = n_wants;

                unit[v] = HUGE_PAGES;
                if (!ctx[v].scan)
                        continue;
                collect_wants(&ctx[v], limits->round, &wants, &n_wants, &allocated);
                for (size_t i = first; i < n_wants; i++)
                        want[v] += wants[i].n_pages;
                ctx[v].query_want_pages = want[v];
        }
        if (n_wants == 0)
                return;
        share_pool(ctx, n_vms, limits->query_pages, want, unit, limits->round, share);
        qsort(wants, n_wants, sizeof(Want), cmp_want);
        p->queries = xcalloc(n_wants, sizeof(PlanQuery));
        for (size_t i = 0; i < n_wants; i++) {
                const Want *w = &wants[i];
                Ctx *c = &ctx[w->vm];

                if (c->query_pages + w->n_pages > share[w->vm])
                        continue;
                c->query_pages += w->n_pages;
                p->queries[p->n_queries++] = (PlanQuery) { .vm = w->vm, .hva = w->hva, .n_pages = w->n_pages };
                p->query_pages += w->n_pages;
        }
}

/* ---- results ---- */

typedef struct Text {
        char *s;
        size_t n;
} Text;

_printf_(2, 3) static void text_add(Text *t, const char *fmt, ...) {
        _cleanup_free_ char *piece = NULL;
        va_list ap;
        size_t k;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&piece, fmt, ap);
        va_end(ap);
        if (r < 0)
                oom();
        k = (size_t) r;
        t->s = xreallocarray(t->s, t->n + k + 1, 1);
        memcpy(t->s + t->n, piece, k + 1);
        t->n += k;
}

static const char *size_str(char buf[static FORMAT_BYTES_MAX], uint64_t pages) {
        return format_bytes(buf, FORMAT_BYTES_MAX, pages << PAGE_SHIFT);
}

static unsigned hot_min_heat(const Ctx *c) {
        uint64_t above = 0;
        unsigned floor = c->floor;

        if (c->target_pages == 0)
                return 256;
        for (int l = (int) LEVELS - 1; l >= (int) floor; l--) {
                above += c->dram[l] + c->cxl[l] + c->ambig[l] + c->unknown[l];
                if (above > c->target_pages)
                        return (unsigned) l == LEVELS - 1 ? LEVELS - 1 : (unsigned) l + 1;
        }
        return floor;
}

static void describe(Ctx *c, const Host *host, uint64_t budget_pages) {
        const PlanPolicy *pol = &c->in->policy;
        const char *origin = pol->origin ?: "default";
        char a[FORMAT_BYTES_MAX], b[FORMAT_BYTES_MAX], d[FORMAT_BYTES_MAX], label[256];
        Text t = {};

        c->ops->label(pol, label, sizeof(label));
        text_add(&t, "%s (%s)", label, origin);
        text_add(&t, ": %s on DRAM, %s on CXL", size_str(a, c->dram_pages), size_str(b, c->cxl_pages));
        if (c->unknown_pages > 0)
                text_add(&t, ", %s not known yet", size_str(a, c->unknown_pages));
        if (!c->movable) {
                text_add(&t, "; %s.", c->still);
                c->res->reason = t.s;
                return;
        }
        if (c->home < 0)
                text_add(&t, "; %s: nothing is promoted",
                         c->home_denied ? "its home node is not among its allowed nodes" :
                         c->home_bad ? "its home node is no DRAM node" : "no home DRAM node");
        else {
                text_add(&t, "; target %s on node %d", size_str(a, c->target_pages), host->nodes[c->home].id);
                if (c->target_pages < c->ask_pages && c->weight_sum > pol->weight)
                        text_add(&t, " of %s asked (node %d's DRAM shared by weight, %u of %" PRIu64 ")", size_str(b, c->ask_pages),
                                 host->nodes[c->home].id, pol->weight, c->weight_sum);
                else if (c->target_pages < c->ask_pages)
                        text_add(&t, " of %s asked (all node %d holds for VMs above its free watermark)", size_str(b, c->ask_pages),
                                 host->nodes[c->home].id);
                if (ctx_every_unit(c) && c->target_pages < c->ram_pages)
                        text_add(&t, ": does not fit");
        }
        text_add(&t, ". ");
        if (c->promoted_pages == 0 && c->demoted_pages == 0)
                text_add(&t, c->want.demote_pages + c->want.promote_pages == 0 ? "In place" : "Nothing moves this cycle");
        else
                text_add(&t, "Demoting %s, promoting %s", size_str(a, c->demoted_pages), size_str(b, c->promoted_pages));
        text_add(&t, " (hot >= %u", c->res->hot_min_heat);
        if (ctx_gives_up(c))
                text_add(&t, ", cold <= %u", c->res->cold_max_heat);
        text_add(&t, ")");
        if (c->want.demote_pages + c->want.promote_pages > c->budget_pages)
                text_add(&t, "; budget share %s of this cycle's %s, %s wanted", size_str(a, c->budget_pages),
                         size_str(b, budget_pages), size_str(d, c->want.demote_pages + c->want.promote_pages));
        if (c->dropped_demote_pages > 0)
                text_add(&t, "; %s not demoted: no CXL node keeps its minimum free ratio", size_str(a, c->dropped_demote_pages));
        if (c->denied_demote_pages > 0)
                text_add(&t, "; %s not demoted: no CXL node is among its allowed nodes", size_str(a, c->denied_demote_pages));
        if (c->dropped_promote_pages > 0)
                text_add(&t, "; %s not promoted: no room", size_str(a, c->dropped_promote_pages));
        if (c->query_pages > 0)
                text_add(&t, "; querying %s", size_str(a, c->query_pages));
        text_add(&t, ".");
        c->res->reason = t.s;
}

static void fill_result(Ctx *c) {
        PlanVmResult *r = c->res;

        r->ram_bytes = c->ram_pages << PAGE_SHIFT;
        r->dram_bytes = c->dram_pages << PAGE_SHIFT;
        r->cxl_bytes = c->cxl_pages << PAGE_SHIFT;
        r->unknown_bytes = c->unknown_pages << PAGE_SHIFT;
        r->dram_target_bytes = c->target_pages << PAGE_SHIFT;
        r->promote_bytes = c->promoted_pages << PAGE_SHIFT;
        r->demote_bytes = c->demoted_pages << PAGE_SHIFT;
        r->query_bytes = c->query_pages << PAGE_SHIFT;
        if (!c->movable || !c->ops->movable) {
                r->hot_min_heat = 256;
                r->cold_max_heat = 0;
        } else if (ctx_every_unit(c)) {
                r->hot_min_heat = 0;
                r->cold_max_heat = 0;
        } else {
                unsigned hot = hot_min_heat(c), m = (unsigned) c->margin, cold = hot > m ? hot - 1 - m : 0;

                if (c->want.forced_pages > 0) {
                        unsigned top = c->want.demote.part > 0 || c->want.demote.at == 0 ? c->want.demote.at
                                                                                           : c->want.demote.at - 1;

                        cold = MAX(cold, MIN(top, LEVELS - 1));
                }
                r->hot_min_heat = hot;
                r->cold_max_heat = cold;
        }
}

/* ---- the whole ---- */

static int validate(const Topology *t, const PlanLimits *limits, const PlanVm *vms, size_t n_vms) {
        if (!t || !limits || (n_vms > 0 && !vms))
                return -EINVAL;
        if (limits->dram_min_free_percent > 100 || limits->demotion_min_free_ratio > 100 || limits->margin_heat > 255 ||
            (limits->swap_edge_z10 > 100 && limits->swap_edge_z10 != PLAN_SWAP_EDGE_OFF))
                return -EINVAL;
        if (n_vms > UINT32_MAX)
                return -EINVAL;
        for (size_t v = 0; v < n_vms; v++) {
                const PlanVm *vm = &vms[v];

                if (!vm->heat || vm->policy.weight == 0 || (unsigned) vm->policy.kind >= _PLAN_POLICY_KIND_MAX ||
                    !plan_policies[vm->policy.kind].ask)
                        return -EINVAL;
                for (size_t i = 0; vm->placement && i < vm->n_placement; i++) {
                        const PlanPlacement *pl = &vm->placement[i];
                        uint64_t g0, g1;

                        if ((pl->hva & (PAGE_BYTES - 1)) || pl->n_pages == 0 || !pl->status)
                                return -EINVAL;
                        if (heatmap_hva_to_gpa(vm->heat, pl->hva, &g0) < 0 ||
                            heatmap_hva_to_gpa(vm->heat, pl->hva + ((uint64_t) (pl->n_pages - 1) << PAGE_SHIFT), &g1) < 0 ||
                            g1 - g0 != (uint64_t) (pl->n_pages - 1) << PAGE_SHIFT)
                                return -EINVAL;
                        if (i > 0 && vm->placement[i - 1].hva + ((uint64_t) vm->placement[i - 1].n_pages << PAGE_SHIFT) > pl->hva)
                                return -EINVAL;
                }
        }
        return 0;
}

static void host_init(Host *host, const Topology *t, const PlanLimits *limits) {
        host->t = t;
        host->n_nodes = t->n_nodes;
        host->nodes = xcalloc(t->n_nodes, sizeof(Node));
        for (size_t i = 0; i < t->n_nodes; i++) {
                const TopologyNode *tn = &t->nodes[i];
                Node *n = &host->nodes[i];
                unsigned pct = tn->tier == NODE_TIER_DRAM ? limits->dram_min_free_percent : limits->demotion_min_free_ratio;

                *n = (Node) {
                        .id = tn->id,
                        .tier = tn->tier,
                        .usable = tn->has_memory && tn->total_bytes > 0,
                        .total_pages = tn->total_bytes >> PAGE_SHIFT,
                        .free_pages = MIN(tn->free_bytes, tn->total_bytes) >> PAGE_SHIFT,
                };
                n->keep_pages = DIV_ROUND_UP(n->total_pages * pct, 100);
        }
}

static void ctx_init(Ctx *c, const Host *host, const PlanLimits *limits, const PlanVm *vm, size_t index, PlanVmResult *res) {
        const HeatStats *st = heatmap_stats(vm->heat);

        c->in = vm;
        c->ops = &plan_policies[vm->policy.kind];
        c->index = index;
        c->res = res;
        c->params = heatmap_params(vm->heat);
        c->ram_pages = heatmap_ram_bytes(vm->heat) >> PAGE_SHIFT;
        c->node_pages = xcalloc(host->n_nodes, sizeof(uint64_t));
        c->margin = (int) (limits->margin_heat > 0 ? limits->margin_heat : PLAN_MARGIN_HEAT);
        c->floor = MIN(c->params->cold_max + (unsigned) c->margin + 1, LEVELS - 1);
        c->z_edge = limits->swap_edge_z10 == PLAN_SWAP_EDGE_OFF ? 0
                    : limits->swap_edge_z10 > 0             ? limits->swap_edge_z10
                                                            : PLAN_SWAP_EDGE_Z10;
        c->mass_div = limits->swap_mass_div > 0 ? limits->swap_mass_div : PLAN_SWAP_MASS_DIV;
        c->exact = c->ops->every_unit; /* its walks go down to heat 0 */
        c->dram_lump_min = LEVELS;
        c->ambig_min_heat = NONE_LOW;
        c->cxl_max_heat = -1;
        c->home = -1;
        if (vm->home_node >= 0) {
                int i = host_index(host, vm->home_node);

                if (i >= 0 && host->nodes[i].usable && host->nodes[i].tier == NODE_TIER_DRAM && vm_allows(vm, vm->home_node))
                        c->home = i;
                else if (i >= 0 && host->nodes[i].usable && host->nodes[i].tier == NODE_TIER_DRAM)
                        c->home_denied = c->home_bad = true;
                else
                        c->home_bad = true;
        }
        c->want = (Selection) { .next_known_heat = -1, .next_ambig_heat = -1, .coldest_dram_heat = -1 };
        c->movable = true;
        if (!c->ops->movable)
                c->still = "its pages stay where they are";
        else if (vm->frozen)
                c->still = vm->frozen_why ?: "frozen: no moves this cycle, its DRAM use counts";
        else if (st->cycles < PLAN_WARMUP_CYCLES) {
                c->still = st->cycles == 0 ? "no heat yet: no moves" : "heat of 1 cycle only: no moves yet";
                c->scan = true;
        } else {
                c->scan = true;
                return;
        }
        c->movable = false;
}

static int plan_compute_mode(const Topology *t, const PlanLimits *limits, const PlanVm *vms, size_t n_vms, bool reference,
                             Plan **ret) {
        _cleanup_(plan_freep) Plan *p = NULL;
        _cleanup_free_ uint64_t *need = NULL, *unit = NULL, *share = NULL;
        uint64_t budget_pages;
        Units units = {};
        Host host = {};
        Ctx *ctx;
        int r;

        r = validate(t, limits, vms, n_vms);
        if (r < 0)
                return r;

        p = xcalloc(1, sizeof(Plan));
        p->vms = xcalloc(n_vms, sizeof(PlanVmResult));
        p->n_vms = n_vms;
        p->budget_bytes = limits->budget_bytes;
        budget_pages = limits->budget_bytes >> PAGE_SHIFT;
        host_init(&host, t, limits);
        ctx = xcalloc(n_vms, sizeof(Ctx));

        for (size_t v = 0; v < n_vms; v++) {
                ctx_init(&ctx[v], &host, limits, &vms[v], v, &p->vms[v]);
                ctx[v].exact = ctx[v].exact || reference;
                ctx[v].exact_reference = reference;
                scan_vm(&ctx[v], &host);
        }
        set_targets(ctx, n_vms, &host);
        for (size_t v = 0; v < n_vms; v++)
                finish_scan(&ctx[v]);

        need = xcalloc(n_vms, sizeof(uint64_t));
        unit = xcalloc(n_vms, sizeof(uint64_t));
        share = xcalloc(n_vms, sizeof(uint64_t));
        for (size_t v = 0; v < n_vms; v++) {
                Ctx *c = &ctx[v];

                unit[v] = c->small_units ? 1 : HUGE_PAGES;
                if (!c->movable)
                        continue;
                select_vm(c, UINT64_MAX, &c->want);
                if (!selection_exact(c, &c->want)) {
                        rescan_exact(c, &host);
                        select_vm(c, UINT64_MAX, &c->want);
                }
                need[v] = c->want.demote_pages + c->want.promote_pages;
        }
        share_pool(ctx, n_vms, budget_pages, need, unit, limits->round, share);
        for (size_t v = 0; v < n_vms; v++) {
                Ctx *c = &ctx[v];

                c->budget_pages = share[v];
                c->sim_dram_pages = c->dram_pages + c->unknown_pages; /* at most */
                if (c->movable) {
                        select_vm(c, share[v], &c->sel);
                        if (!selection_exact(c, &c->sel)) {
                                rescan_exact(c, &host);
                                select_vm(c, share[v], &c->sel);
                        }
                }
                emit_vm(c, &host, &units);
        }
        order_units(&units);
        simulate(ctx, &host, &units, limits->interleave_pages > 0 ? limits->interleave_pages : PLAN_INTERLEAVE_PAGES, p);
        plan_queries(ctx, n_vms, limits, p);

        for (size_t v = 0; v < n_vms; v++) {
                Ctx *c = &ctx[v];

                fill_result(c);
                describe(c, &host, budget_pages);
                p->promote_bytes += c->promoted_pages << PAGE_SHIFT;
                p->demote_bytes += c->demoted_pages << PAGE_SHIFT;
                for (size_t ri = 0; ri < c->n_ranges; ri++)
                        free(c->blocks[ri]);
                free(c->blocks);
                free(c->node_pages);
        }
        free(ctx);
        free(units.u);
        free(host.nodes);
        *ret = TAKE_PTR(p);
        return 0;
}

int plan_compute(const Topology *t, const PlanLimits *limits, const PlanVm *vms, size_t n_vms, Plan **ret) {
        return plan_compute_mode(t, limits, vms, n_vms, false, ret);
}

int plan_compute_reference(const Topology *t, const PlanLimits *limits, const PlanVm *vms, size_t n_vms, Plan **ret) {
        return plan_compute_mode(t, limits, vms, n_vms, true, ret);
}

Plan *plan_free(Plan *p) {
        if (!p)
                return NULL;
        for (size_t v = 0; v < p->n_vms; v++)
                free(p->vms[v].reason);
        free(p->vms);
        free(p->moves);
        free(p->queries);
        free(p);
        return NULL;
}
