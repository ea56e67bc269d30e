/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "vtism/bus-api.h"

/*
 * vtismd's state as its D-Bus records carry it, read generically: one BusRecord per a{sv} dict
 * (or, for the scalar properties, per GetAll reply), one BusValue per key of the record's table
 * in bus-api.h, each present or not. Nothing here knows what a key means; vtismctl's tables and
 * JSON, the metrics exposition (metrics.h) and vtismd's metrics file all read the same records,
 * so a key added to bus-api.h reaches each of them through one table entry.
 *
 * Readers: bus_snapshot_read() takes the reply of org.freedesktop.DBus.Properties.GetAll on
 * VTISM_BUS_INTERFACE (vtismctl gets it over the bus; vtismd builds the same message itself,
 * bus_snapshot_message() in bus.c). bus_record_read() takes one a{sv}. Keys a record's table does
 * not know, or knows with another type, are skipped and named in BusUnknown ("VMs.key",
 * "Plans (a(st))" for a whole property), never an error.
 *
 * Errors: -errno from sd-bus for a message that does not have the shape of the API (-ENXIO,
 * -EBADMSG, ...). Memory: one BusValue (24 bytes) per key per record, plus strings and arrays.
 */

typedef enum BusRecordKind {
        BUS_RECORD_STATUS,     /* the scalar properties, bus_status_fields */
        BUS_RECORD_COUNTERS,   /* Counters */
        BUS_RECORD_NODE,       /* Nodes[] */
        BUS_RECORD_VM,         /* VMs[] */
        BUS_RECORD_TRACKER,    /* Trackers[] */
        BUS_RECORD_CONTIGUITY_VM,   /* GetContiguity(), first part */
        BUS_RECORD_CONTIGUITY,      /* GetContiguity(), summaries[] */
        BUS_RECORD_CONTIGUITY_NODE, /* GetContiguity(), nodes[] */
        BUS_RECORD_HEATMAP,    /* GetHeatmap(), first part */
        BUS_RECORD_HEAT_RANGE, /* GetHeatmap(), ranges[] */
        BUS_RECORD_PLAN,       /* GetPlan(), first part */
        BUS_RECORD_PLAN_MOVE,  /* GetPlan(), moves[] */
        _BUS_RECORD_KIND_MAX,
} BusRecordKind;

typedef struct BusRecordType {
        const char *what;        /* "VMs": in the unknown-keys notice */
        const BusField *fields;
        size_t n_fields;
} BusRecordType;

extern const BusRecordType bus_record_types[_BUS_RECORD_KIND_MAX];

typedef struct BusValue {
        bool present;
        union {
                char *s;           /* "s" */
                uint64_t u;        /* "t", "u" */
                int64_t i;         /* "i" */
                bool b;            /* "b" */
                struct {
                        void *v;   /* "ai": int32_t[n], "at": uint64_t[n] */
                        size_t n;
                } a;
        };
} BusValue;

typedef struct BusRecord {
        BusRecordKind kind;
        BusValue *v;               /* bus_record_types[kind].n_fields */
} BusRecord;

/* Keys and properties skipped, each named once. */
typedef struct BusUnknown {
        char **names;
        size_t n;
} BusUnknown;

typedef struct BusSnapshot {
        BusRecord status;
        BusRecord counters;
        bool have_counters;
        BusRecord *nodes;
        size_t n_nodes;
        BusRecord *offline_nodes;  /* OfflineNodes: BUS_RECORD_NODE records too */
        size_t n_offline_nodes;
        uint32_t *distances;       /* n_nodes x n_nodes when complete */
        size_t n_distances;
        bool have_vms;             /* the VMs property was there */
        BusRecord *vms;
        size_t n_vms;
        BusRecord *trackers;
        size_t n_trackers;
        BusRecord *contiguity;     /* Contiguity: BUS_RECORD_CONTIGUITY records, with id and name */
        size_t n_contiguity;
        BusUnknown unknown;
} BusSnapshot;

void bus_record_init(BusRecord *r, BusRecordKind kind);
void bus_record_done(BusRecord *r);
/* Read one a{sv} into a fresh record (r is initialised here). */
int bus_record_read(sd_bus_message *m, BusRecordKind kind, BusRecord *r, BusUnknown *unknown);
/* Read aa{sv} into an array of fresh records. */
int bus_records_read(sd_bus_message *m, BusRecordKind kind, BusRecord **records, size_t *n, BusUnknown *unknown);
void bus_records_free(BusRecord *records, size_t n);

static inline const BusField *bus_record_field(const BusRecord *r, unsigned field) {
        return &bus_record_types[r->kind].fields[field];
}
static inline bool bus_record_has(const BusRecord *r, unsigned field) {
        return r->v[field].present;
}
/* The value, or dflt when absent. */
const char *bus_record_str(const BusRecord *r, unsigned field, const char *dflt);
uint64_t bus_record_u64(const BusRecord *r, unsigned field, uint64_t dflt);
int64_t bus_record_i64(const BusRecord *r, unsigned field, int64_t dflt);
bool bus_record_bool(const BusRecord *r, unsigned field, bool dflt);

/* The GetAll reply, positioned at its start. On failure s is left initialised and freeable. */
int bus_snapshot_read(sd_bus_message *reply, BusSnapshot *s);
void bus_snapshot_done(BusSnapshot *s);

void bus_unknown_add(BusUnknown *u, const char *what, const char *key, const char *type);
void bus_unknown_done(BusUnknown *u);
