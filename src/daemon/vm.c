/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>
#include <strings.h>

#include "vtism/log.h"
#include "vtism/util.h"
#include "vtism/vm-metadata.h"
#include "vtism/vm.h"

static const char *const vm_state_table[_VM_STATE_MAX] = {
        [VM_STATE_NEW] = "new",
        [VM_STATE_TRACKED] = "tracked",
        [VM_STATE_UNTRACKABLE] = "untrackable",
        [VM_STATE_IGNORED] = "ignored",
};
assert_cc(ELEMENTSOF(vm_state_table) == _VM_STATE_MAX);

const char *vm_state_to_string(VmState s) {
        if (s < 0 || s >= _VM_STATE_MAX)
                return NULL;
        return vm_state_table[s];
}

static const char *const vm_home_reason_table[_VM_HOME_REASON_MAX] = {
        [VM_HOME_NUMATUNE] = "numatune",
        [VM_HOME_VCPU_PINNING] = "vcpu pinning",
        [VM_HOME_MOST_PAGES] = "most pages",
        [VM_HOME_FIRST_DRAM_NODE] = "first DRAM node",
};
assert_cc(ELEMENTSOF(vm_home_reason_table) == _VM_HOME_REASON_MAX);

const char *vm_home_reason_to_string(VmHomeReason r) {
        if (r < 0 || r >= _VM_HOME_REASON_MAX)
                return NULL;
        return vm_home_reason_table[r];
}

Vm *vm_new(pid_t pid, unsigned long long start_time) {
        Vm *vm = xcalloc(1, sizeof(Vm));

        vm->pid = pid;
        vm->start_time = start_time;
        vm->id = xasprintf("pid-%d", (int) pid);
        vm->name = xasprintf("pid-%d", (int) pid);
        vm->default_name = xstrdup(vm->name);
        vm->uid = (uid_t) -1;
        vm->home_node = -1;
        vm->home_reason = _VM_HOME_REASON_INVALID;
        vm->state = VM_STATE_NEW;
        vm->target.pid = pid;
        vm->target.start_time = start_time;
        return vm;
}

Vm *vm_free(Vm *vm) {
        if (!vm)
                return NULL;
        heatmap_free(vm->heat);
        free(vm->ranges);
        free(vm->target_ranges);
        free(vm->id);
        free(vm->name);
        free(vm->uuid);
        free(vm->identity_conflict);
        free(vm->libvirt_uuid);
        free(vm->libvirt_name);
        free(vm->claimed_uuid);
        free(vm->claimed_name);
        free(vm->default_name);
        free(vm->cmdline);
        free(vm->policy.policy.pattern);
        free(vm->policy.source);
        free(vm->policy.metadata_error);
        free(vm->libvirt_policy);
        free(vm->machine);
        free(vm->numa_nodeset);
        free(vm->vcpu_cpuset);
        free(vm->error);
        free(vm->logged_error);
        free(vm->run_state_why);
        free(vm);
        return NULL;
}

static char *mfree(char *p) {
        free(p);
        return NULL;
}

/* Returns true if the value changed. */
static bool replace(char **field, const char *value) {
        if (streq_ptr(*field, value))
                return false;
        free(*field);
        *field = value ? xstrdup(value) : NULL;
        return true;
}

bool vm_update_identity(Vm *vm, unsigned source, const char *uuid, const char *name, const char *cmdline,
                        const char *numa_nodeset, const char *vcpu_cpuset) {
        bool changed = false;

        vm->sources |= source;
        if (cmdline)
                changed |= replace(&vm->cmdline, cmdline);
        if (source == VM_SOURCE_LIBVIRT) {
                if (uuid)
                        changed |= replace(&vm->libvirt_uuid, uuid);
                if (name)
                        changed |= replace(&vm->libvirt_name, name);
                replace(&vm->numa_nodeset, numa_nodeset);
                replace(&vm->vcpu_cpuset, vcpu_cpuset);
        } else {
                changed |= replace(&vm->claimed_uuid, uuid);
                changed |= replace(&vm->claimed_name, name);
        }
        return changed;
}

void vm_drop_source(Vm *vm, unsigned source) {
        vm->sources &= ~source;
        if (source == VM_SOURCE_LIBVIRT) {
                vm->libvirt_uuid = mfree(vm->libvirt_uuid);
                vm->libvirt_name = mfree(vm->libvirt_name);
                vm->numa_nodeset = mfree(vm->numa_nodeset);
                vm->vcpu_cpuset = mfree(vm->vcpu_cpuset);
                vm->libvirt_policy = mfree(vm->libvirt_policy);
        }
}

bool vm_set_libvirt_policy(Vm *vm, const char *xml) {
        if (streq_ptr(vm->libvirt_policy, xml))
                return false;
        free(vm->libvirt_policy);
        vm->libvirt_policy = xml ? xstrdup(xml) : NULL;
        return true;
}

/* ---- identity resolution (see vm.h) ---- */

static bool is_libvirt(const Vm *vm) {
        return (vm->sources & VM_SOURCE_LIBVIRT) && vm->libvirt_uuid;
}

/* What a VM is resolved to, before it is stored. */
typedef struct Resolved {
        char *id, *name, *uuid, *conflict;
        bool name_claimed;   /* name is an accepted claim (others may not claim it after us) */
        bool uuid_claimed;
} Resolved;

/* The id a VM gets: it depends on nothing but the VM itself. */
static char *resolved_id(const Vm *vm) {
        return is_libvirt(vm) ? xstrdup(vm->libvirt_uuid) : xasprintf("pid-%d", (int) vm->pid);
}

/*
 * Who holds a name or uuid, in O(log n) per question (resolving every VM once per discovery asked
 * each VM about every other: O(n^2) per resolution, O(n^3) to find n VMs, bench/identity-bench).
 *
 * Static holders depend on the VMs alone: a libvirt domain's name (rank 0), a VM's id and default
 * name (rank 1), a libvirt domain's uuid. They sit in one array sorted by (key, VM index, rank):
 * the first entry of a key whose VM is not the asker is the holder the old linear search found
 * first. Accepted claims are made in discovery order, at most one per key (a later claim of the
 * same key is refused), so they go into a hash table as they are accepted.
 */
typedef struct Holder {
        const char *key;
        size_t index;  /* in vms[] */
        unsigned rank; /* 0 libvirt name, 1 id or default name, 2 accepted claim */
} Holder;

typedef struct Claims {
        const char **keys;
        size_t *index;
        size_t mask;
        bool nocase;
} Claims;

typedef struct Index {
        Holder *names, *uuids;
        size_t n_names, n_uuids;
        char **ids; /* the resolved_id() of each VM, which the names refer to */
        Claims name_claims, uuid_claims;
} Index;

static int holder_cmp(const Holder *a, const Holder *b, bool nocase) {
        int c = nocase ? strcasecmp(a->key, b->key) : strcmp(a->key, b->key);

        if (c != 0)
                return c;
        if (a->index != b->index)
                return a->index < b->index ? -1 : 1;
        return a->rank < b->rank ? -1 : a->rank > b->rank;
}

static int holder_cmp_case(const void *a, const void *b) {
        return holder_cmp(a, b, false);
}

static int holder_cmp_nocase(const void *a, const void *b) {
        return holder_cmp(a, b, true);
}

/* The first holder of key that is not vms[self], or NULL. */
static const Holder *holder_find(const Holder *h, size_t n, const char *key, size_t self, bool nocase) {
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = nocase ? strcasecmp(h[mid].key, key) : strcmp(h[mid].key, key);

                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        for (; lo < n && (nocase ? strcasecmp(h[lo].key, key) : strcmp(h[lo].key, key)) == 0; lo++)
                if (h[lo].index != self)
                        return h + lo;
        return NULL;
}

static void claims_init(Claims *c, size_t n, bool nocase) {
        size_t cap = 16;

        while (cap < 2 * n)
                cap *= 2;
        c->keys = xcalloc(cap, sizeof(char *));
        c->index = xcalloc(cap, sizeof(size_t));
        c->mask = cap - 1;
        c->nocase = nocase;
}

static void claims_done(Claims *c) {
        free(c->keys);
        free(c->index);
}

/* The slot of key: where it is, or the empty one where it would go (never full: cap >= 2 n). */
static size_t claims_slot(const Claims *c, const char *key) {
        size_t i = string_hash(key, c->nocase) & c->mask;

        while (c->keys[i] && (c->nocase ? strcasecmp(c->keys[i], key) : strcmp(c->keys[i], key)) != 0)
                i = (i + 1) & c->mask;
        return i;
}

static void claims_add(Claims *c, const char *key, size_t index) {
        size_t i = claims_slot(c, key);

        c->keys[i] = key;
        c->index[i] = index;
}

static bool claims_find(const Claims *c, const char *key, size_t *ret_index) {
        size_t i = claims_slot(c, key);

        if (!c->keys[i])
                return false;
        *ret_index = c->index[i];
        return true;
}

static void index_init(Index *x, Vm **vms, size_t n) {
        *x = (Index) {};
        x->names = xcalloc(3 * n, sizeof(Holder));
        x->uuids = xcalloc(n, sizeof(Holder));
        x->ids = xcalloc(n, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
                const Vm *o = vms[i];

                x->ids[i] = resolved_id(o);
                if (is_libvirt(o)) {
                        if (o->libvirt_name)
                                x->names[x->n_names++] = (Holder) { o->libvirt_name, i, 0 };
                        x->uuids[x->n_uuids++] = (Holder) { o->libvirt_uuid, i, 0 };
                }
                x->names[x->n_names++] = (Holder) { x->ids[i], i, 1 };
                if (o->default_name)
                        x->names[x->n_names++] = (Holder) { o->default_name, i, 1 };
        }
        qsort(x->names, x->n_names, sizeof(Holder), holder_cmp_case);
        qsort(x->uuids, x->n_uuids, sizeof(Holder), holder_cmp_nocase);
        claims_init(&x->name_claims, n, false);
        claims_init(&x->uuid_claims, n, true);
}

static void index_done(Index *x, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(x->ids[i]);
        free(x->ids);
        free(x->names);
        free(x->uuids);
        claims_done(&x->name_claims);
        claims_done(&x->uuid_claims);
}

/* Of a static holder and an accepted claim, the one the VMs' order puts first (the same VM:
 * the static one). */
static Holder first_holder(const Holder *h, const Claims *claims, const char *key, size_t self) {
        size_t ci;

        if (claims_find(claims, key, &ci) && ci != self && (!h || ci < h->index))
                return (Holder) { key, ci, 2 };
        return h ? *h : (Holder) { NULL, 0, 0 };
}

/* Who already has name, from the point of view of vms[self]. A description, or NULL if nobody. */
static char *name_holder(Vm **vms, const Index *x, size_t self, const char *name) {
        Holder h = first_holder(holder_find(x->names, x->n_names, name, self, false), &x->name_claims, name, self);
        const Vm *o;

        if (!h.key)
                return NULL;
        o = vms[h.index];
        if (h.rank == 0)
                return xasprintf("libvirt domain %s (pid %d) has it", o->libvirt_name, (int) o->pid);
        if (h.rank == 1)
                return xasprintf("it is VM %s's own", x->ids[h.index]);
        return xasprintf("VM %s, found earlier, has it", x->ids[h.index]);
}

static char *uuid_holder(Vm **vms, const Index *x, size_t self, const char *uuid) {
        Holder h = first_holder(holder_find(x->uuids, x->n_uuids, uuid, self, true), &x->uuid_claims, uuid, self);
        const Vm *o;

        if (!h.key)
                return NULL;
        o = vms[h.index];
        if (h.rank == 0)
                return xasprintf("libvirt domain %s (pid %d) has it", o->libvirt_name ?: o->libvirt_uuid, (int) o->pid);
        return xasprintf("VM pid-%d, found earlier, has it", (int) o->pid);
}

static void resolve_one(Vm **vms, Index *x, size_t self, Resolved *res) {
        const Vm *vm = vms[self];
        Resolved *r = &res[self];
        _cleanup_free_ char *name_why = NULL, *uuid_why = NULL;

        r->id = resolved_id(vm);
        if (is_libvirt(vm)) {
                r->uuid = xstrdup(vm->libvirt_uuid);
                r->name = xstrdup(vm->libvirt_name ?: vm->default_name);
                return;
        }

        if (!vm->trusted) {
                r->name = xstrdup(vm->default_name);
                if (vm->claimed_name || vm->claimed_uuid)
                        r->conflict = xasprintf("its command line claims%s%s%s%s%s%s, which an untrusted VM cannot use",
                                                vm->claimed_name ? " name '" : "", vm->claimed_name ?: "",
                                                vm->claimed_name ? "'" : "",
                                                vm->claimed_name && vm->claimed_uuid ? " and" : "",
                                                vm->claimed_uuid ? " uuid " : "", vm->claimed_uuid ?: "");
                return;
        }

        if (vm->claimed_name) {
                name_why = name_holder(vms, x, self, vm->claimed_name);
                if (!name_why) {
                        r->name = xstrdup(vm->claimed_name);
                        r->name_claimed = true;
                        claims_add(&x->name_claims, vm->claimed_name, self);
                }
        }
        if (!r->name)
                r->name = xstrdup(vm->default_name);
        if (vm->claimed_uuid) {
                uuid_why = uuid_holder(vms, x, self, vm->claimed_uuid);
                if (!uuid_why) {
                        r->uuid = xstrdup(vm->claimed_uuid);
                        r->uuid_claimed = true;
                        claims_add(&x->uuid_claims, vm->claimed_uuid, self);
                }
        }
        if (name_why && uuid_why)
                r->conflict = xasprintf("its command line claims name '%s' (%s) and uuid %s (%s); neither is used",
                                        vm->claimed_name, name_why, vm->claimed_uuid, uuid_why);
        else if (name_why)
                r->conflict = xasprintf("its command line claims name '%s', not used: %s", vm->claimed_name, name_why);
        else if (uuid_why)
                r->conflict = xasprintf("its command line claims uuid %s, not used: %s", vm->claimed_uuid, uuid_why);
}

static bool take(char **field, char **value) {
        bool changed = !streq_ptr(*field, *value);

        free(*field);
        *field = *value;
        *value = NULL;
        return changed;
}

static int cmp_seq(const void *a, const void *b, void *userdata) {
        Vm **vms = userdata;
        unsigned long long x = vms[*(const size_t *) a]->seq, y = vms[*(const size_t *) b]->seq;

        return x < y ? -1 : x > y;
}

void vm_resolve_identities(Vm **vms, size_t n, void (*changed)(Vm *vm, void *userdata), void *userdata) {
        _cleanup_free_ Resolved *res = NULL;
        _cleanup_free_ size_t *order = NULL;
        Index x;

        if (n == 0)
                return;
        res = xcalloc(n, sizeof(Resolved));
        order = xcalloc(n, sizeof(size_t));

        /* Discovery order */
        for (size_t i = 0; i < n; i++)
                order[i] = i;
        qsort_r(order, n, sizeof(size_t), cmp_seq, vms);
        index_init(&x, vms, n);
        for (size_t k = 0; k < n; k++)
                resolve_one(vms, &x, order[k], res);
        index_done(&x, n);

        for (size_t i = 0; i < n; i++) {
                Vm *vm = vms[i];
                bool c = false;

                c |= take(&vm->id, &res[i].id);
                c |= take(&vm->name, &res[i].name);
                c |= take(&vm->uuid, &res[i].uuid);
                c |= take(&vm->identity_conflict, &res[i].conflict);
                if (c && changed)
                        changed(vm, userdata);
        }
}

static bool policy_equal(const VmPolicy *a, const VtPolicy *b, const char *source) {
        const VtPolicy *p = &a->policy;

        return streq_ptr(a->source, source) && p->match == b->match && streq_ptr(p->pattern, b->pattern) &&
               p->budget_is_percent == b->budget_is_percent && p->dram_budget_bytes == b->dram_budget_bytes &&
               p->dram_budget_percent == b->dram_budget_percent && p->weight == b->weight &&
               p->pin_dram == b->pin_dram && p->never_migrate == b->never_migrate;
}

bool vm_apply_policy(Vm *vm, const VtConf *c) {
        const VtPolicy *match = config_match_policy(c, vm->name, vm->uuid, vm->cmdline);
        _cleanup_free_ char *source = match->line > 0 ? xasprintf("%s:%u", match->file ?: c->path ?: "(built-in)", match->line)
                                                      : xstrdup("default");
        _cleanup_free_ char *error = NULL;
        VtPolicy p = *match;

        /* the domain's own word over the config's, key by key (vtism.conf(5), "VM"); not when it is
         * invalid, or contradicts what it lies over */
        if (vm->libvirt_policy) {
                PolicyOverride o;
                _cleanup_free_ char *why = NULL;

                if (policy_override_parse(vm->libvirt_policy, &o, &why) >= 0 &&
                    policy_override_apply(&o, &p, &why) >= 0) {
                        _cleanup_free_ char *what = policy_override_describe(&o), *over = TAKE_PTR(source);

                        source = xasprintf("libvirt metadata (%s) over %s", *what ? what : "nothing set", over);
                } else
                        error = xasprintf("its libvirt metadata <policy xmlns=\"%s\"> is not used: %s",
                                          VTISM_METADATA_NS, why ?: "invalid");
        }

        if (policy_equal(&vm->policy, &p, source) && streq_ptr(vm->policy.metadata_error, error))
                return false;
        free(vm->policy.policy.pattern);
        free(vm->policy.source);
        free(vm->policy.metadata_error);
        vm->policy.policy = p;
        vm->policy.policy.pattern = p.pattern ? xstrdup(p.pattern) : NULL;
        vm->policy.policy.file = NULL; /* the VtConf's, gone on reload: source says it */
        vm->policy.source = TAKE_PTR(source);
        vm->policy.metadata_error = TAKE_PTR(error);
        return true;
}

int vm_dram_budget_bytes(const Vm *vm, uint64_t *ret) {
        const VtPolicy *p = &vm->policy.policy;

        if (!vm->policy.source)
                return -ENODATA;
        if (!p->budget_is_percent) {
                *ret = p->dram_budget_bytes;
                return 0;
        }
        if (vm->ram_bytes == 0)
                return -ENODATA;
        /* ram * pct / 100 without overflow, rounded down to whole 4 KiB pages */
        *ret = (vm->ram_bytes / 100 * p->dram_budget_percent + vm->ram_bytes % 100 * p->dram_budget_percent / 100) /
               HEATMAP_GRANULE_4K * HEATMAP_GRANULE_4K;
        return 0;
}

static int first_dram_node_in(const Topology *t, const int *nodes, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const TopologyNode *node = topology_node(t, nodes[i]);

                if (node && node->tier == NODE_TIER_DRAM && node->total_bytes > 0)
                        return node->id;
        }
        return -1;
}

void vm_pick_home_node(Vm *vm, const Topology *t) {
        _cleanup_free_ int *nodes = NULL, *list = NULL;
        size_t n;
        int node = -1;

        vm->home_residency_generation = vm->heat ? heatmap_residency_generation(vm->heat) + 1 : 0;

        if (vm->numa_nodeset && parse_int_list(vm->numa_nodeset, &nodes, &n) >= 0) {
                node = first_dram_node_in(t, nodes, n);
                if (node >= 0) {
                        vm->home_node = node;
                        vm->home_reason = VM_HOME_NUMATUNE;
                        return;
                }
        }

        if (vm->vcpu_cpuset && parse_int_list(vm->vcpu_cpuset, &list, &n) >= 0) {
                /* The DRAM node holding most of the pinned CPUs. */
                size_t best = 0;

                for (size_t i = 0; i < t->n_nodes; i++) {
                        const TopologyNode *tn = &t->nodes[i];
                        size_t hits = 0;

                        if (tn->tier != NODE_TIER_DRAM || tn->total_bytes == 0)
                                continue;
                        for (size_t j = 0; j < tn->n_cpus; j++)
                                for (size_t k = 0; k < n; k++)
                                        hits += tn->cpus[j] == list[k];
                        if (hits > best) {
                                best = hits;
                                node = tn->id;
                        }
                }
                if (node >= 0) {
                        vm->home_node = node;
                        vm->home_reason = VM_HOME_VCPU_PINNING;
                        return;
                }
        }

        if (vm->heat) {
                /* Placement only, window by window: no scan of the heat bytes (this runs every
                 * cycle until a VM has a home; a whole-RAM histogram is O(RAM) each time). */
                HeatHistogram total = { .residency_known = heatmap_n_histograms(vm->heat) > 0 }, w;
                uint64_t best = 0;

                for (size_t i = 0; i < heatmap_n_histograms(vm->heat); i++) {
                        if (heatmap_residency(vm->heat, i, &w) < 0 || !w.residency_known) {
                                total.residency_known = false;
                                break;
                        }
                        for (unsigned k = 0; k < HEATMAP_NODES_MAX; k++)
                                total.node_pages[k] += w.node_pages[k];
                }
                if (total.residency_known)
                        for (size_t i = 0; i < t->n_nodes; i++) {
                                const TopologyNode *tn = &t->nodes[i];

                                if (tn->tier != NODE_TIER_DRAM || tn->id < 0 || (unsigned) tn->id >= HEATMAP_NODES_MAX)
                                        continue;
                                if (total.node_pages[tn->id] > best) {
                                        best = total.node_pages[tn->id];
                                        node = tn->id;
                                }
                        }
                if (node >= 0) {
                        vm->home_node = node;
                        vm->home_reason = VM_HOME_MOST_PAGES;
                        return;
                }
        }

        for (size_t i = 0; i < t->n_nodes; i++)
                if (t->nodes[i].tier == NODE_TIER_DRAM && t->nodes[i].total_bytes > 0) {
                        vm->home_node = t->nodes[i].id;
                        vm->home_reason = VM_HOME_FIRST_DRAM_NODE;
                        return;
                }
        vm->home_node = -1;
        vm->home_reason = _VM_HOME_REASON_INVALID;
}

bool vm_refresh_home_node(Vm *vm, const Topology *t) {
        if (!vm->heat || vm->home_reason != VM_HOME_FIRST_DRAM_NODE ||
            vm->home_residency_generation == heatmap_residency_generation(vm->heat) + 1)
                return false;
        vm_pick_home_node(vm, t);
        return true;
}
