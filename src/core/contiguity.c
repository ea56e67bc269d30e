/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Contiguity of guest RAM in host-physical memory; the model is in include/vtism/contiguity.h.
 *
 * One pass over the records. Per record: extend or close the current range run (and node run),
 * and track the one huge-mapping window that can be open. Per closed run: one update of the
 * run-length counts, one of the offset groups, and the anchor entries it splits into (computed
 * arithmetically, not page by page). Coverage is computed at the end from the (size, count)
 * pairs, largest first.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vtism/contiguity.h"
#include "vtism/util.h"

const unsigned contig_top_entries[CONTIG_TOPS] = { 32, 64, 128, 256 };
const unsigned contig_target_percent[CONTIG_TARGETS] = { 80, 90, 99 };

static const char *const contig_mapping_table[_CONTIG_MAP_MAX] = {
        [CONTIG_MAP_4K] = "4k",
        [CONTIG_MAP_2M_THP] = "2m-thp",
        [CONTIG_MAP_2M_HUGETLB] = "2m-hugetlb",
        [CONTIG_MAP_1G_HUGETLB] = "1g-hugetlb",
};
assert_cc(ELEMENTSOF(contig_mapping_table) == _CONTIG_MAP_MAX);

static const char *const contig_page_state_table[_CONTIG_PAGE_STATE_MAX] = {
        [CONTIG_PAGE_ABSENT] = "absent",
        [CONTIG_PAGE_PRESENT] = "present",
        [CONTIG_PAGE_ZERO] = "zero",
};
assert_cc(ELEMENTSOF(contig_page_state_table) == _CONTIG_PAGE_STATE_MAX);

const char *contig_mapping_to_string(ContigMapping m) {
        if ((unsigned) m >= _CONTIG_MAP_MAX)
                return NULL;
        return contig_mapping_table[m];
}

ContigMapping contig_mapping_from_string(const char *s) {
        if (!s)
                return _CONTIG_MAP_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(contig_mapping_table); i++)
                if (streq(contig_mapping_table[i], s))
                        return (ContigMapping) i;
        return _CONTIG_MAP_INVALID;
}

const char *contig_page_state_to_string(ContigPageState s) {
        if ((unsigned) s >= _CONTIG_PAGE_STATE_MAX)
                return NULL;
        return contig_page_state_table[s];
}

void contig_params_init_default(ContigParams *p) {
        *p = (ContigParams) {
                .anchor_bytes = CONTIG_ANCHOR_BYTES_DEFAULT,
                .max_offset_groups = CONTIG_MAX_OFFSET_GROUPS_DEFAULT,
        };
}

int contig_params_validate(const ContigParams *p) {
        if (!p)
                return -EINVAL;
        if (p->anchor_bytes < CONTIG_PAGE_BYTES || p->anchor_bytes > CONTIG_ANCHOR_BYTES_MAX ||
            (p->anchor_bytes & (p->anchor_bytes - 1)) != 0)
                return -EINVAL;
        if (p->max_offset_groups < 1 || p->max_offset_groups > CONTIG_MAX_OFFSET_GROUPS_MAX)
                return -EINVAL;
        return 0;
}

double contiguity_per_gib(uint64_t runs, uint64_t pages) {
        if (pages == 0)
                return 0.0;
        return (double) runs * (double) CONTIG_PAGES_1G / (double) pages;
}

const ContigNode *contig_summary_node(const ContigSummary *s, int node) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_nodes; i++)
                if (s->nodes[i].node == node)
                        return &s->nodes[i];
        return NULL;
}

/* --- a small open-addressing map uint64 -> uint64; value 0 marks a free slot --- */

typedef struct U64Map {
        uint64_t *keys;
        uint64_t *values;
        size_t n_slots;     /* power of two, or 0 */
        size_t n_used;
} U64Map;

static void u64map_done(U64Map *m) {
        free(m->keys);
        free(m->values);
        *m = (U64Map) {};
}

static size_t u64map_slot(uint64_t key, size_t mask) {
        /* Fibonacci hashing: run lengths and offsets are anything but random. */
        return (size_t) ((key * UINT64_C(0x9e3779b97f4a7c15)) >> 17) & mask;
}

static void u64map_grow(U64Map *m) {
        size_t n = m->n_slots ? m->n_slots * 2 : 64;
        uint64_t *keys = xcalloc(n, sizeof(uint64_t)), *values = xcalloc(n, sizeof(uint64_t));

        for (size_t i = 0; i < m->n_slots; i++) {
                size_t s;

                if (m->values[i] == 0)
                        continue;
                for (s = u64map_slot(m->keys[i], n - 1); values[s] != 0; s = (s + 1) & (n - 1))
                        ;
                keys[s] = m->keys[i];
                values[s] = m->values[i];
        }
        free(m->keys);
        free(m->values);
        m->keys = keys;
        m->values = values;
        m->n_slots = n;
}

/* values[key] += delta (delta > 0). -E2BIG when the key is new and max_used keys are there. */
static int u64map_add(U64Map *m, uint64_t key, uint64_t delta, uint64_t max_used) {
        size_t s;

        if (m->n_slots > 0)
                for (s = u64map_slot(key, m->n_slots - 1); m->values[s] != 0; s = (s + 1) & (m->n_slots - 1))
                        if (m->keys[s] == key) {
                                m->values[s] += delta;
                                return 0;
                        }
        if (m->n_used >= max_used)
                return -E2BIG;
        if ((m->n_used + 1) * 2 > m->n_slots)
                u64map_grow(m);
        for (s = u64map_slot(key, m->n_slots - 1); m->values[s] != 0; s = (s + 1) & (m->n_slots - 1))
                ;
        m->keys[s] = key;
        m->values[s] = delta;
        m->n_used++;
        return 0;
}

/* --- coverage from (size, count) pairs --- */

typedef struct SizeCount {
        uint64_t size, count;
} SizeCount;

static int cmp_size_desc(const void *a, const void *b) {
        const SizeCount *x = a, *y = b;
        return (x->size < y->size) - (x->size > y->size);
}

/* ceil(present * percent / 100) without overflow for any present. */
static uint64_t target_pages(uint64_t present, unsigned percent) {
        uint64_t q = present / 100, r = present % 100;
        return q * percent + DIV_ROUND_UP(r * percent, 100);
}

/* pairs sorted by size, descending; counts > 0. */
static void coverage_compute(const SizeCount *pairs, size_t n, uint64_t present, ContigCoverage *ret) {
        uint64_t entries = 0, covered = 0;
        ContigCoverage c = {};

        c.largest_pages = n > 0 ? pairs[0].size : 0;
        for (size_t i = 0; i < n; i++) {
                uint64_t size = pairs[i].size, count = pairs[i].count;

                for (unsigned t = 0; t < CONTIG_TOPS; t++)
                        if (entries < contig_top_entries[t])
                                c.top_pages[t] += MIN(count, contig_top_entries[t] - entries) * size;

                for (unsigned t = 0; t < CONTIG_TARGETS; t++) {
                        uint64_t target = target_pages(present, contig_target_percent[t]);

                        if (c.entries_for[t] != 0 || target == 0 || covered + size * count < target)
                                continue;
                        c.entries_for[t] = entries + DIV_ROUND_UP(target - covered, size);
                }
                entries += count;
                covered += size * count;
        }
        c.entries = entries;
        *ret = c;
}

static void coverage_from_map(const U64Map *m, bool value_is_size, uint64_t present, ContigCoverage *ret) {
        _cleanup_free_ SizeCount *pairs = xcalloc(m->n_used, sizeof(SizeCount));
        size_t n = 0;

        for (size_t i = 0; i < m->n_slots; i++) {
                if (m->values[i] == 0)
                        continue;
                if (value_is_size)
                        pairs[n++] = (SizeCount) { .size = m->values[i], .count = 1 };
                else
                        pairs[n++] = (SizeCount) { .size = m->keys[i], .count = m->values[i] };
        }
        qsort(pairs, n, sizeof(SizeCount), cmp_size_desc);

        /* Offset groups come one per pair: merge equal sizes (sorted, so they are adjacent). */
        if (value_is_size && n > 0) {
                size_t k = 0;

                for (size_t i = 1; i < n; i++) {
                        if (pairs[i].size == pairs[k].size)
                                pairs[k].count += pairs[i].count;
                        else
                                pairs[++k] = pairs[i];
                }
                n = k + 1;
        }
        coverage_compute(pairs, n, present, ret);
}

/* --- the accumulator --- */

struct Contiguity {
        ContigParams params;
        uint64_t anchor_pages_size;     /* A in pages */
        ContigSummary s;                /* counters; coverage filled in at the end */
        bool finished;

        bool have_last;
        uint64_t last_gfn;

        /* current range run */
        bool in_run;
        uint64_t run_start_gfn, run_len, run_last_pfn;
        /* current node run (a piece of the range run on one node) */
        size_t nrun_index;
        uint64_t nrun_len;

        /* the open huge-mapping window */
        bool win_open, win_good;
        ContigMapping win_kind;
        uint64_t win_start_gfn, win_size, win_marked, win_next_gfn, win_next_pfn;
        size_t win_node_index;

        U64Map run_lengths;      /* run length -> runs */
        U64Map anchor_lengths;   /* entry length -> entries */
        U64Map offsets;          /* pfn - gfn -> pages */
};

int contiguity_new(const ContigParams *params, Contiguity **ret) {
        ContigParams defaults;
        Contiguity *c;
        int r;

        if (!ret)
                return -EINVAL;
        if (!params) {
                contig_params_init_default(&defaults);
                params = &defaults;
        }
        r = contig_params_validate(params);
        if (r < 0)
                return r;

        c = xcalloc(1, sizeof(Contiguity));
        c->params = *params;
        c->s.params = *params;
        c->anchor_pages_size = params->anchor_bytes / CONTIG_PAGE_BYTES;
        *ret = c;
        return 0;
}

Contiguity *contiguity_free(Contiguity *c) {
        if (!c)
                return NULL;
        u64map_done(&c->run_lengths);
        u64map_done(&c->anchor_lengths);
        u64map_done(&c->offsets);
        free(c);
        return NULL;
}

uint64_t contiguity_memory_bytes(const Contiguity *c) {
        if (!c)
                return 0;
        return sizeof(Contiguity) +
                2 * sizeof(uint64_t) * (c->run_lengths.n_slots + c->anchor_lengths.n_slots + c->offsets.n_slots);
}

static ssize_t node_index(const Contiguity *c, int node) {
        for (size_t i = 0; i < c->s.n_nodes; i++)
                if (c->s.nodes[i].node == node)
                        return (ssize_t) i;
        return -1;
}

/* Insert keeping ascending ids; room was checked by the batch validation. */
static size_t node_index_add(Contiguity *c, int node) {
        ssize_t k = node_index(c, node);
        size_t pos;

        if (k >= 0)
                return (size_t) k;
        assert_cc(CONTIG_NODES_MAX > 0);
        for (pos = c->s.n_nodes; pos > 0 && c->s.nodes[pos - 1].node > node; pos--)
                c->s.nodes[pos] = c->s.nodes[pos - 1];
        c->s.nodes[pos] = (ContigNode) { .node = node };
        c->s.n_nodes++;
        /* Indexes held for the open node run and window shift with the insert. */
        if (c->nrun_len > 0 && c->nrun_index >= pos)
                c->nrun_index++;
        if (c->win_open && c->win_node_index >= pos)
                c->win_node_index++;
        return pos;
}

static uint64_t mapping_pages(ContigMapping m) {
        switch (m) {
        case CONTIG_MAP_2M_THP:
        case CONTIG_MAP_2M_HUGETLB:
                return CONTIG_PAGES_2M;
        case CONTIG_MAP_1G_HUGETLB:
                return CONTIG_PAGES_1G;
        default:
                return 1;
        }
}

/* Anchor entries of the run [g, g + len) whose pfns are g + offset, ... */
static void anchors_add(Contiguity *c, uint64_t g, uint64_t len, uint64_t offset) {
        uint64_t a = c->anchor_pages_size, end = g + len;
        uint64_t first_anchor = DIV_ROUND_UP(g, a) * a;
        uint64_t pre_end = MIN(first_anchor, end);
        uint64_t small = 0, big = 0;

        /* Before the first anchor: 2 MiB entries where gfn and pfn are both 2 MiB aligned and
         * the piece fits (only when A > 2 MiB, else no 2 MiB piece fits before an anchor). */
        if (pre_end > g) {
                uint64_t first_2m = DIV_ROUND_UP(g, CONTIG_PAGES_2M) * CONTIG_PAGES_2M;

                if (a > CONTIG_PAGES_2M && offset % CONTIG_PAGES_2M == 0 && first_2m + CONTIG_PAGES_2M <= pre_end) {
                        big = (pre_end - first_2m) / CONTIG_PAGES_2M;
                        small = (pre_end - g) - big * CONTIG_PAGES_2M;
                } else
                        small = pre_end - g;
        }
        if (small > 0)
                (void) u64map_add(&c->anchor_lengths, 1, small, UINT64_MAX);
        if (big > 0)
                (void) u64map_add(&c->anchor_lengths, CONTIG_PAGES_2M, big, UINT64_MAX);

        if (first_anchor < end) {
                uint64_t covered = end - first_anchor;

                if (covered / a > 0)
                        (void) u64map_add(&c->anchor_lengths, a, covered / a, UINT64_MAX);
                if (covered % a > 0)
                        (void) u64map_add(&c->anchor_lengths, covered % a, 1, UINT64_MAX);
                c->s.anchor_pages += covered;
        }
}

static void node_run_end(Contiguity *c) {
        ContigNode *n;

        if (c->nrun_len == 0)
                return;
        n = &c->s.nodes[c->nrun_index];
        n->runs++;
        n->largest_run_pages = MAX(n->largest_run_pages, c->nrun_len);
        c->nrun_len = 0;
}

static void run_end(Contiguity *c) {
        uint64_t offset;

        node_run_end(c);
        if (!c->in_run)
                return;
        c->in_run = false;

        (void) u64map_add(&c->run_lengths, c->run_len, 1, UINT64_MAX);

        offset = c->run_last_pfn - (c->run_start_gfn + c->run_len - 1);
        if (!c->s.offset_groups_overflow &&
            u64map_add(&c->offsets, offset, c->run_len, c->params.max_offset_groups) < 0) {
                c->s.offset_groups_overflow = true;
                u64map_done(&c->offsets);
        }

        anchors_add(c, c->run_start_gfn, c->run_len, offset);
}

static void window_close(Contiguity *c) {
        if (!c->win_open)
                return;
        c->win_open = false;
        if (c->win_good && c->win_marked == c->win_size) {
                switch (c->win_kind) {
                case CONTIG_MAP_2M_THP:
                        c->s.thp_2m++;
                        break;
                case CONTIG_MAP_2M_HUGETLB:
                        c->s.hugetlb_2m++;
                        break;
                case CONTIG_MAP_1G_HUGETLB:
                        c->s.hugetlb_1g++;
                        break;
                default:
                        break;
                }
                c->s.nodes[c->win_node_index].huge_pages += c->win_size;
        } else {
                c->s.pages_4k += c->win_marked;
                c->s.huge_mismatch_pages += c->win_marked;
        }
}

static void window_open(Contiguity *c, const ContigPage *p, uint64_t gfn, size_t node_idx) {
        uint64_t w = mapping_pages(p->mapping);

        c->win_open = true;
        c->win_kind = p->mapping;
        c->win_size = w;
        c->win_start_gfn = gfn & ~(w - 1);
        c->win_good = gfn == c->win_start_gfn && p->pfn % w == 0;
        c->win_marked = 1;
        c->win_next_gfn = gfn + 1;
        c->win_next_pfn = p->pfn + 1;
        c->win_node_index = node_idx;
}

static void add_one(Contiguity *c, const ContigPage *p) {
        uint64_t gfn = p->gpa / CONTIG_PAGE_BYTES;
        bool huge;
        size_t idx;

        c->s.ram_pages++;
        c->have_last = true;
        c->last_gfn = gfn;

        if (c->win_open && gfn >= c->win_start_gfn + c->win_size)
                window_close(c);

        if (p->state != CONTIG_PAGE_PRESENT) {
                if (p->state == CONTIG_PAGE_ZERO)
                        c->s.zero_pages++;
                else
                        c->s.absent_pages++;
                c->win_good = false;   /* a hole inside an open window (if any) spoils it */
                run_end(c);
                return;
        }

        idx = node_index_add(c, p->node);
        c->s.present_pages++;
        c->s.nodes[idx].pages++;

        /* Huge-mapping windows. */
        huge = p->mapping != CONTIG_MAP_4K;
        if (c->win_open && (!huge || p->mapping != c->win_kind)) {
                c->win_good = false;
                if (huge)
                        window_close(c);
        }
        if (!huge)
                c->s.pages_4k++;
        else if (c->win_open) {
                if (gfn != c->win_next_gfn || p->pfn != c->win_next_pfn)
                        c->win_good = false;
                c->win_marked++;
                c->win_next_gfn = gfn + 1;
                c->win_next_pfn = p->pfn + 1;
        } else
                window_open(c, p, gfn, idx);

        /* Range and node runs. */
        if (c->in_run && gfn == c->run_start_gfn + c->run_len && p->pfn == c->run_last_pfn + 1) {
                c->run_len++;
                c->run_last_pfn = p->pfn;
                if (c->nrun_len > 0 && c->nrun_index == idx)
                        c->nrun_len++;
                else {
                        node_run_end(c);
                        c->nrun_index = idx;
                        c->nrun_len = 1;
                }
                return;
        }
        run_end(c);
        c->in_run = true;
        c->run_start_gfn = gfn;
        c->run_len = 1;
        c->run_last_pfn = p->pfn;
        c->nrun_index = idx;
        c->nrun_len = 1;
}

static int validate_batch(const Contiguity *c, const ContigPage *pages, size_t n) {
        int new_nodes[CONTIG_NODES_MAX];
        size_t n_new = 0;
        bool have_last = c->have_last;
        uint64_t last = c->last_gfn;

        for (size_t i = 0; i < n; i++) {
                const ContigPage *p = &pages[i];
                uint64_t gfn = p->gpa / CONTIG_PAGE_BYTES;
                bool known = false;

                if (p->gpa % CONTIG_PAGE_BYTES != 0 || (have_last && gfn <= last))
                        return -EINVAL;
                if ((unsigned) p->state >= _CONTIG_PAGE_STATE_MAX)
                        return -EINVAL;
                have_last = true;
                last = gfn;
                if (p->state != CONTIG_PAGE_PRESENT)
                        continue;
                if ((unsigned) p->mapping >= _CONTIG_MAP_MAX || p->node < -1)
                        return -EINVAL;

                if (node_index(c, p->node) >= 0)
                        continue;
                for (size_t k = 0; k < n_new && !known; k++)
                        known = new_nodes[k] == p->node;
                if (known)
                        continue;
                if (c->s.n_nodes + n_new >= CONTIG_NODES_MAX)
                        return -E2BIG;
                new_nodes[n_new++] = p->node;
        }
        return 0;
}

int contiguity_add(Contiguity *c, const ContigPage *pages, size_t n) {
        int r;

        if (!c || (n > 0 && !pages))
                return -EINVAL;
        if (c->finished)
                return -ESTALE;
        r = validate_batch(c, pages, n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                add_one(c, &pages[i]);
        return 0;
}

int contiguity_finish(Contiguity *c, ContigSummary *ret) {
        ContigSummary *s;

        if (!c || !ret)
                return -EINVAL;
        if (c->finished)
                return -ESTALE;
        c->finished = true;

        window_close(c);
        run_end(c);

        s = &c->s;
        coverage_from_map(&c->run_lengths, false, s->present_pages, &s->runs);
        coverage_from_map(&c->anchor_lengths, false, s->present_pages, &s->anchors);
        if (s->offset_groups_overflow)
                s->offset_groups = (ContigCoverage) { .entries = c->params.max_offset_groups + 1 };
        else
                coverage_from_map(&c->offsets, true, s->present_pages, &s->offset_groups);

        *ret = *s;
        return 0;
}

int contiguity_compute(const ContigPage *pages, size_t n, const ContigParams *params, ContigSummary *ret) {
        _cleanup_(contiguity_freep) Contiguity *c = NULL;
        int r;

        if (!ret)
                return -EINVAL;
        r = contiguity_new(params, &c);
        if (r < 0)
                return r;
        r = contiguity_add(c, pages, n);
        if (r < 0)
                return r;
        return contiguity_finish(c, ret);
}
