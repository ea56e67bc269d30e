/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <json-c/json.h>
#include <string.h>

#include "vtism/macro.h"
#include "vtism/proc-pid.h"
#include "vtism/qemu-cmdline.h"
#include "vtism/util.h"

static const char *const backend_kind_table[_QEMU_BACKEND_KIND_MAX] = {
        [QEMU_BACKEND_RAM] = "memory-backend-ram",
        [QEMU_BACKEND_MEMFD] = "memory-backend-memfd",
        [QEMU_BACKEND_FILE] = "memory-backend-file",
        [QEMU_BACKEND_IMPLICIT] = "implicit",
};
assert_cc(ELEMENTSOF(backend_kind_table) == _QEMU_BACKEND_KIND_MAX);

const char *qemu_backend_kind_to_string(QemuBackendKind k) {
        if (k < 0 || k >= _QEMU_BACKEND_KIND_MAX)
                return NULL;
        return backend_kind_table[k];
}

static QemuBackendKind backend_kind_from_qom_type(const char *s) {
        for (int k = 0; k < QEMU_BACKEND_IMPLICIT; k++)
                if (streq(s, backend_kind_table[k]))
                        return k;
        return _QEMU_BACKEND_KIND_INVALID;
}

bool qemu_cmdline_is_qemu(const char *argv0) {
        const char *base;

        if (!argv0)
                return false;
        base = strrchr(argv0, '/');
        base = base ? base + 1 : argv0;
        return strncmp(base, "qemu-system-", 12) == 0 || streq(base, "qemu-kvm") || streq(base, "kvm");
}

QemuCmdline *qemu_cmdline_free(QemuCmdline *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_backends; i++) {
                free(c->backends[i].id);
                free(c->backends[i].mem_path);
                free(c->backends[i].host_nodes);
        }
        free(c->backends);
        free(c->binary);
        free(c->name);
        free(c->uuid);
        free(c->machine);
        free(c->accel);
        free(c);
        return NULL;
}

/* QEMU's option syntax: "[implied,]key=value,key=value" with ",," standing for a literal comma. */
typedef struct OptPair {
        char *key;   /* NULL for the leading implied value */
        char *value;
} OptPair;

typedef struct OptList {
        OptPair *pairs;
        size_t n;
} OptList;

static void opt_list_done(OptList *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->pairs[i].key);
                free(l->pairs[i].value);
        }
        free(l->pairs);
}

static void opt_list_parse(const char *s, OptList *ret) {
        OptList l = {};
        size_t len = strlen(s);
        char *buf = xmalloc(len + 1);

        for (size_t i = 0; i <= len;) {
                size_t n = 0;
                char *eq;

                /* Collect one item, un-doubling ",,". */
                while (i < len) {
                        if (s[i] == ',') {
                                if (i + 1 < len && s[i + 1] == ',') {
                                        buf[n++] = ',';
                                        i += 2;
                                        continue;
                                }
                                break;
                        }
                        buf[n++] = s[i++];
                }
                buf[n] = 0;
                i++; /* skip the separator (or the end) */

                if (n == 0)
                        continue;
                l.pairs = xreallocarray(l.pairs, l.n + 1, sizeof(OptPair));
                eq = strchr(buf, '=');
                if (eq) {
                        *eq = 0;
                        l.pairs[l.n++] = (OptPair) { .key = xstrdup(buf), .value = xstrdup(eq + 1) };
                } else
                        l.pairs[l.n++] = (OptPair) { .key = NULL, .value = xstrdup(buf) };
        }
        free(buf);
        *ret = l;
}

/* The value of key, or of the leading implied item when key_implied names it. Last one wins. */
static const char *opt_get(const OptList *l, const char *key, bool implied) {
        const char *v = NULL;

        for (size_t i = 0; i < l->n; i++)
                if (l->pairs[i].key ? streq(l->pairs[i].key, key) : (implied && i == 0))
                        v = l->pairs[i].value;
        return v;
}


/* host-nodes= beyond this is refused (QEMU's own limit, MAX_NODES, is 128). */
#define HOST_NODE_MAX 1023

typedef struct HostNodeSet {
        bool node[HOST_NODE_MAX + 1];
} HostNodeSet;

static int parse_host_node(const char **p, unsigned *ret) {
        unsigned v = 0;
        const char *start = *p;

        for (; **p >= '0' && **p <= '9'; (*p)++) {
                v = v * 10 + (unsigned) (**p - '0');
                if (v > HOST_NODE_MAX)
                        return -ERANGE;
        }
        if (*p == start)
                return -EINVAL;
        *ret = v;
        return 0;
}

/*
 * host-nodes=0-1, host-nodes=0:2 (QEMU's list syntax uses ':' too in places); repeated
 * host-nodes= add up. Into a set, so that no command line can make a big list: every id is
 * checked before a range is expanded. An empty value is no nodes.
 */
static int parse_host_nodes(const char *s, HostNodeSet *set) {
        const char *p = s;

        while (*p) {
                unsigned a, b;
                int r;

                r = parse_host_node(&p, &a);
                if (r < 0)
                        return r;
                b = a;
                if (*p == '-') {
                        p++;
                        r = parse_host_node(&p, &b);
                        if (r < 0)
                                return r;
                        if (b < a)
                                return -EINVAL;
                }
                for (unsigned i = a; i <= b; i++)
                        set->node[i] = true;
                if (!*p)
                        break;
                if (*p != ',' && *p != ':')
                        return -EINVAL;
                p++;
        }
        return 0;
}

static void backend_set_host_nodes(QemuBackend *b, const HostNodeSet *set) {
        size_t n = 0;

        for (unsigned i = 0; i <= HOST_NODE_MAX; i++)
                n += set->node[i];
        free(b->host_nodes);
        b->host_nodes = n > 0 ? xcalloc(n, sizeof(int)) : NULL;
        b->n_host_nodes = 0;
        for (unsigned i = 0; i <= HOST_NODE_MAX; i++)
                if (set->node[i])
                        b->host_nodes[b->n_host_nodes++] = (int) i;
}

static QemuBackend *add_backend(QemuCmdline *c) {
        QemuBackend *b;

        c->backends = xreallocarray(c->backends, c->n_backends + 1, sizeof(QemuBackend));
        b = &c->backends[c->n_backends++];
        *b = (QemuBackend) { .guest_node = -1 };
        return b;
}

static int parse_object_json(QemuCmdline *c, const char *s) {
        json_object *o = json_tokener_parse(s), *v;
        QemuBackendKind kind;
        QemuBackend *b;
        int r = 0;

        if (!o || !json_object_is_type(o, json_type_object)) {
                r = -EINVAL;
                goto out;
        }
        if (!json_object_object_get_ex(o, "qom-type", &v) || !json_object_is_type(v, json_type_string))
                goto out; /* not for us */
        kind = backend_kind_from_qom_type(json_object_get_string(v));
        if (kind < 0)
                goto out;

        b = add_backend(c);
        b->kind = kind;
        if (!json_object_object_get_ex(o, "id", &v) || !json_object_is_type(v, json_type_string)) {
                r = -EINVAL;
                goto out;
        }
        b->id = xstrdup(json_object_get_string(v));
        if (!json_object_object_get_ex(o, "size", &v)) {
                r = -EINVAL;
                goto out;
        }
        if (json_object_is_type(v, json_type_int)) {
                int64_t sz = json_object_get_int64(v);
                if (sz <= 0) {
                        r = -EINVAL;
                        goto out;
                }
                b->size_bytes = (uint64_t) sz;
        } else if (json_object_is_type(v, json_type_string)) {
                r = parse_size_unit(json_object_get_string(v), 1, &b->size_bytes);
                if (r < 0)
                        goto out;
        } else {
                r = -EINVAL;
                goto out;
        }
        if (json_object_object_get_ex(o, "mem-path", &v) && json_object_is_type(v, json_type_string))
                b->mem_path = xstrdup(json_object_get_string(v));
        if (json_object_object_get_ex(o, "share", &v))
                b->share = json_object_get_boolean(v);
        if (json_object_object_get_ex(o, "host-nodes", &v) && json_object_is_type(v, json_type_array)) {
                _cleanup_free_ HostNodeSet *set = xcalloc(1, sizeof(HostNodeSet));
                size_t n = json_object_array_length(v);

                for (size_t i = 0; i < n; i++) {
                        json_object *e = json_object_array_get_idx(v, i);
                        int64_t id;

                        if (!json_object_is_type(e, json_type_int)) {
                                r = -EINVAL;
                                goto out;
                        }
                        id = json_object_get_int64(e);
                        if (id < 0 || id > HOST_NODE_MAX) {
                                r = -ERANGE;
                                goto out;
                        }
                        set->node[id] = true;
                }
                backend_set_host_nodes(b, set);
        }
out:
        json_object_put(o);
        return r;
}

static int parse_object(QemuCmdline *c, const char *s) {
        _cleanup_(opt_list_done) OptList l = {};
        const char *type, *v;
        QemuBackendKind kind;
        QemuBackend *b;
        int r;

        if (s[0] == '{')
                return parse_object_json(c, s);

        opt_list_parse(s, &l);
        type = opt_get(&l, "qom-type", true);
        if (!type)
                return 0;
        kind = backend_kind_from_qom_type(type);
        if (kind < 0)
                return 0;

        b = add_backend(c);
        b->kind = kind;
        v = opt_get(&l, "id", false);
        if (!v)
                return -EINVAL;
        b->id = xstrdup(v);
        r = parse_size_unit(opt_get(&l, "size", false), 1, &b->size_bytes);
        if (r < 0 || b->size_bytes == 0)
                return -EINVAL;
        v = opt_get(&l, "mem-path", false);
        if (v)
                b->mem_path = xstrdup(v);
        v = opt_get(&l, "share", false);
        b->share = v && (streq(v, "on") || streq(v, "true") || streq(v, "yes"));
        if (opt_get(&l, "host-nodes", false)) {
                _cleanup_free_ HostNodeSet *set = xcalloc(1, sizeof(HostNodeSet));

                for (size_t i = 0; i < l.n; i++)
                        if (l.pairs[i].key && streq(l.pairs[i].key, "host-nodes")) {
                                r = parse_host_nodes(l.pairs[i].value, set);
                                if (r < 0)
                                        return r;
                        }
                backend_set_host_nodes(b, set);
        }
        return 0;
}

typedef struct NumaRef {
        int nodeid;
        char *memdev;
} NumaRef;

static int parse_numa(const char *s, int default_nodeid, NumaRef *ret) {
        _cleanup_(opt_list_done) OptList l = {};
        const char *type, *v;
        int nodeid = default_nodeid, r;

        *ret = (NumaRef) { .nodeid = -1 };
        opt_list_parse(s, &l);
        type = opt_get(&l, "type", true);
        if (!type || !streq(type, "node"))
                return 0;
        v = opt_get(&l, "nodeid", false);
        if (v) {
                r = safe_atoi(v, &nodeid);
                if (r < 0 || nodeid < 0 || nodeid > 4095)
                        return -EINVAL;
        }
        v = opt_get(&l, "memdev", false);
        *ret = (NumaRef) { .nodeid = nodeid, .memdev = v ? xstrdup(v) : NULL };
        return 1;
}

static int parse_memory(QemuCmdline *c, const char *s) {
        _cleanup_(opt_list_done) OptList l = {};
        const char *v;

        opt_list_parse(s, &l);
        v = opt_get(&l, "size", true);
        if (!v)
                return 0;
        /* -m without a suffix is in MiB. */
        return parse_size_unit(v, MIB, &c->ram_bytes);
}

static void parse_machine(QemuCmdline *c, const char *s, char **memory_backend) {
        _cleanup_(opt_list_done) OptList l = {};
        const char *v;

        opt_list_parse(s, &l);
        v = opt_get(&l, "type", true);
        if (v) {
                free(c->machine);
                c->machine = xstrdup(v);
        }
        v = opt_get(&l, "accel", false);
        if (v) {
                free(c->accel);
                c->accel = strndup(v, strcspn(v, ":"));
                if (!c->accel)
                        oom();
        }
        v = opt_get(&l, "max-ram-below-4g", false);
        if (v && parse_size_unit(v, 1, &c->max_ram_below_4g_bytes) < 0)
                c->max_ram_below_4g_bytes = 0; /* QEMU would have refused it; use the default */
        v = opt_get(&l, "memory-backend", false);
        if (v) {
                free(*memory_backend);
                *memory_backend = xstrdup(v);
        }
}

static QemuBackend *find_backend(const QemuCmdline *c, const char *id) {
        for (size_t i = 0; i < c->n_backends; i++)
                if (streq(c->backends[i].id, id))
                        return &c->backends[i];
        return NULL;
}

/* The machine's memory-backend= is recorded as guest node -2 so ram_backends() can find it. */
#define MACHINE_BACKEND_NODE (-2)

int qemu_cmdline_parse(char *const *argv, size_t argc, QemuCmdline **ret) {
        _cleanup_(qemu_cmdline_freep) QemuCmdline *c = NULL;
        _cleanup_free_ char *memory_backend = NULL;
        NumaRef *numa = NULL;
        size_t n_numa = 0;
        int r = 0;

        if (argc == 0 || !argv[0])
                return -EINVAL;

        c = xcalloc(1, sizeof(QemuCmdline));
        c->binary = xstrdup(argv[0]);
        c->ram_bytes = 128 * MIB;

        for (size_t i = 1; i < argc; i++) {
                const char *opt = argv[i], *arg;

                if (opt[0] != '-')
                        continue;
                opt += opt[1] == '-' ? 2 : 1;

                if (streq(opt, "enable-kvm")) {
                        free(c->accel);
                        c->accel = xstrdup("kvm");
                        continue;
                }
                if (i + 1 >= argc)
                        break;
                arg = argv[i + 1];

                if (streq(opt, "name")) {
                        _cleanup_(opt_list_done) OptList l = {};
                        const char *v;

                        opt_list_parse(arg, &l);
                        v = opt_get(&l, "guest", true);
                        if (v) {
                                free(c->name);
                                c->name = xstrdup(v);
                        }
                } else if (streq(opt, "uuid")) {
                        free(c->uuid);
                        c->uuid = xstrdup(arg);
                        for (char *p = c->uuid; *p; p++)
                                *p = (char) tolower((unsigned char) *p);
                } else if (streq(opt, "machine") || streq(opt, "M"))
                        parse_machine(c, arg, &memory_backend);
                else if (streq(opt, "accel")) {
                        _cleanup_(opt_list_done) OptList l = {};
                        const char *v;

                        opt_list_parse(arg, &l);
                        v = opt_get(&l, "accel", true);
                        if (v) {
                                free(c->accel);
                                c->accel = xstrdup(v);
                        }
                } else if (streq(opt, "m")) {
                        r = parse_memory(c, arg);
                } else if (streq(opt, "object")) {
                        r = parse_object(c, arg);
                } else if (streq(opt, "numa")) {
                        NumaRef ref;

                        r = parse_numa(arg, (int) n_numa, &ref);
                        if (r > 0) {
                                numa = xreallocarray(numa, n_numa + 1, sizeof(NumaRef));
                                numa[n_numa++] = ref;
                                r = 0;
                        }
                } else
                        continue;
                if (r < 0)
                        goto out;
                i++;
        }

        for (size_t i = 0; i < n_numa; i++) {
                QemuBackend *b;

                if (!numa[i].memdev)
                        continue;
                b = find_backend(c, numa[i].memdev);
                if (!b || b->guest_node != -1) {
                        r = -EINVAL;
                        goto out;
                }
                b->guest_node = numa[i].nodeid;
        }
        if (memory_backend) {
                QemuBackend *b = find_backend(c, memory_backend);

                if (!b || b->guest_node != -1) {
                        r = -EINVAL;
                        goto out;
                }
                b->guest_node = MACHINE_BACKEND_NODE;
        } else {
                bool have_numa_ram = false;

                for (size_t i = 0; i < c->n_backends; i++)
                        have_numa_ram = have_numa_ram || c->backends[i].guest_node >= 0;
                if (!have_numa_ram) {
                        /* QEMU allocates guest RAM itself ("pc.ram" on x86): anonymous memory. */
                        QemuBackend *b = add_backend(c);

                        b->id = xstrdup("pc.ram");
                        b->kind = QEMU_BACKEND_IMPLICIT;
                        b->size_bytes = c->ram_bytes;
                        b->guest_node = MACHINE_BACKEND_NODE;
                }
        }

        *ret = TAKE_PTR(c);
        r = 0;
out:
        for (size_t i = 0; i < n_numa; i++)
                free(numa[i].memdev);
        free(numa);
        return r;
}

int qemu_cmdline_parse_proc(const char *buf, size_t len, QemuCmdline **ret) {
        _cleanup_(proc_cmdline_freep) ProcCmdline *c = NULL;
        int r;

        r = proc_cmdline_split(buf, len, &c);
        if (r < 0)
                return -EINVAL;
        return qemu_cmdline_parse(c->argv, c->argc, ret);
}

const char *qemu_machine_family(const char *machine) {
        if (!machine || streq(machine, "pc") || strncmp(machine, "pc-i440fx-", 10) == 0 ||
            (strncmp(machine, "pc-", 3) == 0 && strncmp(machine, "pc-q35-", 7) != 0))
                return "pc";
        if (streq(machine, "q35") || strncmp(machine, "pc-q35-", 7) == 0)
                return "q35";
        return machine;
}

static int cmp_backend_node(const void *a, const void *b) {
        const QemuBackend *x = *(const QemuBackend *const *) a, *y = *(const QemuBackend *const *) b;
        return (x->guest_node > y->guest_node) - (x->guest_node < y->guest_node);
}

int qemu_cmdline_ram_backends(const QemuCmdline *c, const QemuBackend ***ret, size_t *ret_n) {
        _cleanup_free_ const QemuBackend **list = NULL;
        uint64_t total = 0;
        size_t n = 0;

        list = xcalloc(c->n_backends + 1, sizeof(QemuBackend *));
        for (size_t i = 0; i < c->n_backends; i++)
                if (c->backends[i].guest_node >= 0)
                        list[n++] = &c->backends[i];

        if (n > 0)
                qsort(list, n, sizeof(QemuBackend *), cmp_backend_node);
        else {
                for (size_t i = 0; i < c->n_backends; i++)
                        if (c->backends[i].guest_node == MACHINE_BACKEND_NODE)
                                list[n++] = &c->backends[i];
        }

        if (n == 0)
                return -EINVAL; /* cannot happen: parse adds an implicit backend */

        for (size_t i = 0; i < n; i++)
                total += list[i]->size_bytes;
        if (total != c->ram_bytes)
                return -EINVAL;

        *ret = TAKE_PTR(list);
        *ret_n = n;
        return 0;
}
