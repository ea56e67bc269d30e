/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vtismd's D-Bus records read generically (bus-snapshot.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vtism/bus-snapshot.h"
#include "vtism/macro.h"
#include "vtism/util.h"

const BusRecordType bus_record_types[_BUS_RECORD_KIND_MAX] = {
        [BUS_RECORD_STATUS] = { "Manager", bus_status_fields, _BUS_STATUS_FIELD_MAX },
        [BUS_RECORD_COUNTERS] = { "Counters", bus_counter_fields, _BUS_COUNTER_FIELD_MAX },
        [BUS_RECORD_NODE] = { "Nodes", bus_node_fields, _BUS_NODE_FIELD_MAX },
        [BUS_RECORD_VM] = { "VMs", bus_vm_fields, _BUS_VM_FIELD_MAX },
        [BUS_RECORD_TRACKER] = { "Trackers", bus_tracker_fields, _BUS_TRACKER_FIELD_MAX },
        [BUS_RECORD_CONTIGUITY_VM] = { "GetContiguity", bus_contig_vm_fields, _BUS_CONTIG_VM_FIELD_MAX },
        [BUS_RECORD_CONTIGUITY] = { "GetContiguity.summaries", bus_contig_fields, _BUS_CONTIG_FIELD_MAX },
        [BUS_RECORD_CONTIGUITY_NODE] = { "GetContiguity.nodes", bus_contig_node_fields, _BUS_CONTIG_NODE_FIELD_MAX },
        [BUS_RECORD_HEATMAP] = { "GetHeatmap", bus_heatmap_fields, _BUS_HEATMAP_FIELD_MAX },
        [BUS_RECORD_HEAT_RANGE] = { "GetHeatmap.ranges", bus_heat_range_fields, _BUS_HEAT_RANGE_FIELD_MAX },
        [BUS_RECORD_PLAN] = { "GetPlan", bus_plan_fields, _BUS_PLAN_FIELD_MAX },
        [BUS_RECORD_PLAN_MOVE] = { "GetPlan.moves", bus_plan_move_fields, _BUS_PLAN_MOVE_FIELD_MAX },
};
assert_cc(ELEMENTSOF(bus_record_types) == _BUS_RECORD_KIND_MAX);

void bus_unknown_add(BusUnknown *u, const char *what, const char *key, const char *type) {
        _cleanup_free_ char *s = key ? xasprintf("%s.%s", what, key) : xasprintf("%s (%s)", what, type);

        if (!u)
                return;
        for (size_t i = 0; i < u->n; i++)
                if (streq(u->names[i], s))
                        return;
        u->names = xreallocarray(u->names, u->n + 1, sizeof(char *));
        u->names[u->n++] = TAKE_PTR(s);
}

void bus_unknown_done(BusUnknown *u) {
        for (size_t i = 0; i < u->n; i++)
                free(u->names[i]);
        free(u->names);
        *u = (BusUnknown) {};
}

void bus_record_init(BusRecord *r, BusRecordKind kind) {
        r->kind = kind;
        r->v = xcalloc(bus_record_types[kind].n_fields, sizeof(BusValue));
}

static void value_clear(BusValue *v, const char *type) {
        if (!v->present)
                return;
        if (type[0] == 's')
                free(v->s);
        else if (type[0] == 'a')
                free(v->a.v);
        *v = (BusValue) {};
}

void bus_record_done(BusRecord *r) {
        if (!r->v)
                return;
        for (size_t i = 0; i < bus_record_types[r->kind].n_fields; i++)
                value_clear(&r->v[i], bus_record_types[r->kind].fields[i].type);
        free(r->v);
        r->v = NULL;
}

void bus_records_free(BusRecord *records, size_t n) {
        for (size_t i = 0; i < n; i++)
                bus_record_done(&records[i]);
        free(records);
}

const char *bus_record_str(const BusRecord *r, unsigned field, const char *dflt) {
        return r->v[field].present ? r->v[field].s : dflt;
}

uint64_t bus_record_u64(const BusRecord *r, unsigned field, uint64_t dflt) {
        return r->v[field].present ? r->v[field].u : dflt;
}

int64_t bus_record_i64(const BusRecord *r, unsigned field, int64_t dflt) {
        return r->v[field].present ? r->v[field].i : dflt;
}

bool bus_record_bool(const BusRecord *r, unsigned field, bool dflt) {
        return r->v[field].present ? r->v[field].b : dflt;
}

/* Read the value of a variant already entered, of a type the table gives. */
static int value_read(sd_bus_message *m, const char *type, BusValue *v) {
        const void *p;
        size_t size;
        int r;

        value_clear(v, type);
        switch (type[0]) {
        case 's':
        case 'b':
        case 't':
        case 'u':
        case 'i': {
                union {
                        const char *s;
                        int b;
                        uint64_t t;
                        uint32_t u;
                        int32_t i;
                } x;

                r = sd_bus_message_read_basic(m, type[0], &x);
                if (r < 0)
                        return r;
                if (type[0] == 's')
                        v->s = xstrdup(x.s);
                else if (type[0] == 'b')
                        v->b = x.b;
                else if (type[0] == 't')
                        v->u = x.t;
                else if (type[0] == 'u')
                        v->u = x.u;
                else
                        v->i = x.i;
                break;
        }
        case 'a':
                if (type[1] != 'i' && type[1] != 't')
                        return -EINVAL;
                r = sd_bus_message_read_array(m, type[1], &p, &size);
                if (r < 0)
                        return r;
                v->a.n = size / (type[1] == 'i' ? sizeof(int32_t) : sizeof(uint64_t));
                v->a.v = xmalloc(size ?: 1);
                if (size > 0)
                        memcpy(v->a.v, p, size);
                break;
        default:
                return -EINVAL;
        }
        v->present = true;
        return 0;
}

/* Read a variant whose contents are "contents" into field f of r, or skip it and note it. */
static int entry_read(sd_bus_message *m, BusRecord *r, const char *key, BusUnknown *unknown) {
        const BusRecordType *t = &bus_record_types[r->kind];
        const BusField *f;
        const char *contents;
        int k;

        k = sd_bus_message_peek_type(m, NULL, &contents);
        if (k < 0)
                return k;
        f = bus_field_find(t->fields, t->n_fields, key);
        if (!f || !streq(f->type, contents)) {
                /* Unknown here, or known with a type we cannot read: skip, and say so. */
                _cleanup_free_ char *name = f ? xasprintf("%s:%s", key, contents) : xstrdup(key);

                bus_unknown_add(unknown, t->what, name, NULL);
                return sd_bus_message_skip(m, "v");
        }
        k = sd_bus_message_enter_container(m, 'v', contents);
        if (k < 0)
                return k;
        k = value_read(m, contents, &r->v[f - t->fields]);
        if (k < 0)
                return k;
        return sd_bus_message_exit_container(m);
}

/* Every element of an array of contents ("{sv}", "a{sv}", "au"): fn(m, userdata) with m at the
 * element, which fn must consume. The one loop over the arrays of the API. */
static int array_for_each(sd_bus_message *m, const char *contents, int (*fn)(sd_bus_message *m, void *userdata),
                          void *userdata) {
        int k;

        k = sd_bus_message_enter_container(m, 'a', contents);
        if (k < 0)
                return k;
        while ((k = sd_bus_message_at_end(m, false)) == 0) {
                k = fn(m, userdata);
                if (k < 0)
                        return k;
        }
        if (k < 0)
                return k;
        return sd_bus_message_exit_container(m);
}

typedef struct DictReader {
        int (*fn)(sd_bus_message *m, const char *key, void *userdata);
        void *userdata;
} DictReader;

static int dict_entry(sd_bus_message *m, void *userdata) {
        DictReader *d = userdata;
        const char *key;
        int k;

        k = sd_bus_message_enter_container(m, 'e', "sv");
        if (k == 0)
                return -EBADMSG; /* not at the end, yet no entry */
        if (k < 0)
                return k;
        k = sd_bus_message_read_basic(m, 's', &key);
        if (k < 0)
                return k;
        k = d->fn(m, key, d->userdata);
        if (k < 0)
                return k;
        return sd_bus_message_exit_container(m);
}

/* Every entry of an a{sv}: fn(m, key, userdata) with m at the variant, which fn must consume. */
static int dict_for_each(sd_bus_message *m, int (*fn)(sd_bus_message *m, const char *key, void *userdata),
                         void *userdata) {
        return array_for_each(m, "{sv}", dict_entry, &(DictReader) { fn, userdata });
}

typedef struct RecordReader {
        BusRecord *record;
        BusUnknown *unknown;
} RecordReader;

static int record_entry(sd_bus_message *m, const char *key, void *userdata) {
        RecordReader *rr = userdata;
        return entry_read(m, rr->record, key, rr->unknown);
}

int bus_record_read(sd_bus_message *m, BusRecordKind kind, BusRecord *r, BusUnknown *unknown) {
        bus_record_init(r, kind);
        return dict_for_each(m, record_entry, &(RecordReader) { r, unknown });
}

typedef struct RecordsReader {
        BusRecordKind kind;
        BusRecord **records;
        size_t *n;
        BusUnknown *unknown;
} RecordsReader;

static int records_element(sd_bus_message *m, void *userdata) {
        RecordsReader *rr = userdata;

        *rr->records = xreallocarray(*rr->records, *rr->n + 1, sizeof(BusRecord));
        return bus_record_read(m, rr->kind, &(*rr->records)[(*rr->n)++], rr->unknown);
}

int bus_records_read(sd_bus_message *m, BusRecordKind kind, BusRecord **records, size_t *n, BusUnknown *unknown) {
        return array_for_each(m, "a{sv}", records_element, &(RecordsReader) { kind, records, n, unknown });
}

/* One row of the distance matrix, appended. */
static int distances_row(sd_bus_message *m, void *userdata) {
        BusSnapshot *s = userdata;
        const void *p;
        size_t size, n;
        int k;

        k = sd_bus_message_read_array(m, 'u', &p, &size);
        if (k < 0)
                return k;
        n = size / sizeof(uint32_t);
        if (n == 0)
                return 0;
        s->distances = xreallocarray(s->distances, s->n_distances + n, sizeof(uint32_t));
        memcpy(s->distances + s->n_distances, p, n * sizeof(uint32_t));
        s->n_distances += n;
        return 0;
}

static int distances_read(sd_bus_message *m, BusSnapshot *s) {
        return array_for_each(m, "au", distances_row, s);
}

/* The aa{sv} properties: where their records go in a BusSnapshot. */
static const struct {
        const char *name;
        BusRecordKind kind;
        size_t records, n;
} list_properties[] = {
        { VTISM_PROP_NODES, BUS_RECORD_NODE, offsetof(BusSnapshot, nodes), offsetof(BusSnapshot, n_nodes) },
        { VTISM_PROP_OFFLINE_NODES, BUS_RECORD_NODE, offsetof(BusSnapshot, offline_nodes),
          offsetof(BusSnapshot, n_offline_nodes) },
        { VTISM_PROP_VMS, BUS_RECORD_VM, offsetof(BusSnapshot, vms), offsetof(BusSnapshot, n_vms) },
        { VTISM_PROP_TRACKERS, BUS_RECORD_TRACKER, offsetof(BusSnapshot, trackers), offsetof(BusSnapshot, n_trackers) },
        { VTISM_PROP_CONTIGUITY, BUS_RECORD_CONTIGUITY, offsetof(BusSnapshot, contiguity), offsetof(BusSnapshot, n_contiguity) },
};

/* One property of GetAll's reply, the variant not entered yet. */
static int property_read(sd_bus_message *m, const char *name, BusSnapshot *s) {
        const char *contents;
        int k;

        k = sd_bus_message_peek_type(m, NULL, &contents);
        if (k < 0)
                return k;

        if (bus_field_find(bus_status_fields, _BUS_STATUS_FIELD_MAX, name))
                return entry_read(m, &s->status, name, &s->unknown);

        for (size_t i = 0; i < ELEMENTSOF(list_properties); i++) {
                BusRecord **records = (BusRecord **) ((uint8_t *) s + list_properties[i].records);
                size_t *n = (size_t *) ((uint8_t *) s + list_properties[i].n);

                if (!streq(name, list_properties[i].name) || !streq(contents, "aa{sv}"))
                        continue;
                bus_records_free(*records, *n);
                *records = NULL;
                *n = 0;
                if (list_properties[i].kind == BUS_RECORD_VM)
                        s->have_vms = true;
                k = sd_bus_message_enter_container(m, 'v', contents);
                if (k >= 0)
                        k = bus_records_read(m, list_properties[i].kind, records, n, &s->unknown);
                goto done;
        }

        if (streq(name, VTISM_PROP_COUNTERS) && streq(contents, "a{sv}")) {
                bus_record_done(&s->counters);
                s->have_counters = true;
                k = sd_bus_message_enter_container(m, 'v', contents);
                if (k >= 0)
                        k = bus_record_read(m, BUS_RECORD_COUNTERS, &s->counters, &s->unknown);
        } else if (streq(name, VTISM_PROP_DISTANCES) && streq(contents, "aau")) {
                free(s->distances);
                s->distances = NULL;
                s->n_distances = 0;
                k = sd_bus_message_enter_container(m, 'v', contents);
                if (k >= 0)
                        k = distances_read(m, s);
        } else {
                /* A newer (or older) daemon: skip what we cannot read, and say so. */
                bus_unknown_add(&s->unknown, name, NULL, contents);
                return sd_bus_message_skip(m, "v");
        }
done:
        if (k < 0)
                return k;
        return sd_bus_message_exit_container(m);
}

static int property_entry(sd_bus_message *m, const char *name, void *userdata) {
        return property_read(m, name, userdata);
}

int bus_snapshot_read(sd_bus_message *reply, BusSnapshot *s) {
        *s = (BusSnapshot) {};
        bus_record_init(&s->status, BUS_RECORD_STATUS);
        bus_record_init(&s->counters, BUS_RECORD_COUNTERS);
        return dict_for_each(reply, property_entry, s);
}

void bus_snapshot_done(BusSnapshot *s) {
        bus_record_done(&s->status);
        bus_record_done(&s->counters);
        bus_records_free(s->nodes, s->n_nodes);
        bus_records_free(s->offline_nodes, s->n_offline_nodes);
        free(s->distances);
        bus_records_free(s->vms, s->n_vms);
        bus_records_free(s->trackers, s->n_trackers);
        bus_records_free(s->contiguity, s->n_contiguity);
        bus_unknown_done(&s->unknown);
        *s = (BusSnapshot) {};
}
