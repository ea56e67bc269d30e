/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdio.h>

#include "vtism/bus-snapshot.h"

/*
 * vtismd's state as Prometheus text exposition (format 0.0.4, what node_exporter's textfile
 * collector and a scrape both read), made from the records of a BusSnapshot: the very records
 * 'vtismctl status' shows. One table, metric_defs[] in metrics.c, maps a key of a record
 * (bus-api.h) to a metric: its name, type, help text and unit conversion. A key added to the
 * bus becomes a metric by one entry there (or is a label, label_defs[], or is listed in
 * metric_unexported[] with why not; the unit test test-metrics fails for a key that is in none).
 *
 * Per-record labels: node="ID",tier="dram|cxl" for Nodes (vtism_node_info adds kind and the CXL
 * and DAX devices behind the node); id="ID",name="NAME" for VMs;
 * tracker="NAME" for Trackers; none for the scalar properties and Counters. A value the record
 * does not carry (unknown, see bus-api.h) gives no sample: an unsampled VM has no
 * vtism_vm_hot_bytes, rather than 0. Label values are escaped (\\, \", \n) and are UTF-8 since
 * everything on the bus is.
 *
 * Example, a 64 MiB VM half on CXL:
 *   vtism_vm_ram_bytes{id="pid-321",name="qemu-321"} 67108864
 *   vtism_vm_cxl_bytes{id="pid-321",name="qemu-321"} 33554432
 *   vtism_cycles_total 45
 * Cost: a few hundred bytes per VM and node, one pass over the records.
 */

typedef enum MetricType {
        METRIC_GAUGE,    /* the value as it is (bools 0/1) */
        METRIC_COUNTER,  /* monotonic since vtismd started; name ends in _total */
        METRIC_INFO,     /* a string value as label `label`, sample value 1; no sample for "" */
        METRIC_STATESET, /* one sample per value in `states`, label `label`, 1 for the current one */
        METRIC_NONEMPTY, /* a string: 1 if it is non-empty, else 0 */
        _METRIC_TYPE_MAX,
} MetricType;

enum {
        METRIC_USEC_TO_SECONDS = 1 << 0, /* the value is in microseconds; exported in seconds */
        METRIC_ZERO_IS_ABSENT  = 1 << 1, /* 0 means "not yet" (a timestamp before the first cycle) */
        METRIC_WATCH_RATE      = 1 << 2, /* vtismctl's live view shows its change per second */
};

/* A label taken from another key of the same record (an info metric's details). */
typedef struct MetricLabel {
        const char *label;
        unsigned field;           /* a key of type "s"; an absent one gives label="" (no label) */
} MetricLabel;

typedef struct MetricDef {
        BusRecordKind kind;
        unsigned field;           /* index into bus_record_types[kind].fields */
        const char *name;
        MetricType type;
        unsigned flags;
        const char *help;
        const char *label;        /* METRIC_INFO, METRIC_STATESET */
        const char *const *states; /* METRIC_STATESET, NULL-terminated */
        const MetricLabel *labels; /* METRIC_INFO: more labels, terminated by { NULL }; may be NULL */
} MetricDef;

extern const MetricDef metric_defs[];
extern const size_t n_metric_defs;

/* Keys deliberately not exported (labels elsewhere, free text, lists); see metrics.c. */
typedef struct MetricUnexported {
        BusRecordKind kind;
        unsigned field;
        const char *why;
} MetricUnexported;
extern const MetricUnexported metric_unexported[];
extern const size_t n_metric_unexported;

/* The first metric of a key, or NULL. */
const MetricDef *metric_find(BusRecordKind kind, unsigned field);
/* Whether the key is a label of its record's samples, or of an info metric's (MetricDef.labels). */
bool metric_is_label(BusRecordKind kind, unsigned field);

const char *metric_type_to_string(MetricType t);

/* Write the exposition of s to f. Returns 0, or -EIO if writing to f failed. */
int metrics_format(const BusSnapshot *s, FILE *f);
