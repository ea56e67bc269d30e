/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * metrics.c: every key of the records 'vtismctl status' shows is a metric, a label or listed as
 * not exported (so a key added to bus-api.h cannot be forgotten), the names follow Prometheus'
 * rules, and a hand-made snapshot renders as expected: unknown values give no sample, labels are
 * escaped, states are one sample each. (promtool judges real output in test-metrics.sh.)
 */
#include <string.h>

#include "check.h"
#include "vtism/macro.h"
#include "vtism/metrics.h"

static bool unexported(BusRecordKind kind, unsigned field) {
        for (size_t i = 0; i < n_metric_unexported; i++)
                if (metric_unexported[i].kind == kind && metric_unexported[i].field == field)
                        return true;
        return false;
}

static void test_every_key_decided(void) {
        static const BusRecordKind kinds[] = { BUS_RECORD_STATUS, BUS_RECORD_COUNTERS, BUS_RECORD_NODE, BUS_RECORD_VM,
                                               BUS_RECORD_TRACKER, BUS_RECORD_CONTIGUITY };

        for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
                const BusRecordType *t = &bus_record_types[kinds[k]];

                for (unsigned f = 0; f < t->n_fields; f++) {
                        bool m = metric_find(kinds[k], f), l = metric_is_label(kinds[k], f), u = unexported(kinds[k], f);

                        if (m + l + u != 1) {
                                fprintf(stderr,
                                        "%s.%s: %s; give it one entry in metrics.c: metric_defs[] (a metric), "
                                        "label_defs[] or metric_unexported[] (with why)\n",
                                        t->what, t->fields[f].key, m + l + u == 0 ? "not decided" : "decided twice");
                                exit(EXIT_FAILURE);
                        }
                }
        }
}

static bool ends_with(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && streq(s + n - m, suffix);
}

static void test_names(void) {
        for (size_t i = 0; i < n_metric_defs; i++) {
                const MetricDef *d = &metric_defs[i];

                check(strncmp(d->name, "vtism_", 6) == 0);
                for (const char *p = d->name; *p; p++)
                        check((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_');
                check(d->help && *d->help);
                check(d->field < bus_record_types[d->kind].n_fields);
                /* counters end in _total and nothing else does; every Counters key is a counter */
                check((d->type == METRIC_COUNTER) == ends_with(d->name, "_total"));
                if (d->kind == BUS_RECORD_COUNTERS)
                        check_int(d->type, METRIC_COUNTER);
                if (d->type == METRIC_INFO)
                        check(ends_with(d->name, "_info") && d->label);
                if (d->type == METRIC_STATESET)
                        check(d->label && d->states && d->states[0]);
                if (d->flags & METRIC_USEC_TO_SECONDS)
                        check(strstr(d->name, "seconds"));
                for (size_t j = 0; j < i; j++)
                        check(!streq(metric_defs[j].name, d->name));
        }
}

static void set_str(BusRecord *r, unsigned f, const char *s) {
        r->v[f].present = true;
        r->v[f].s = xstrdup(s);
}

static void set_u64(BusRecord *r, unsigned f, uint64_t u) {
        r->v[f].present = true;
        r->v[f].u = u;
}

static void test_format(void) {
        BusSnapshot s = {};
        _cleanup_free_ char *out = NULL;
        size_t len = 0;
        FILE *f;

        bus_record_init(&s.status, BUS_RECORD_STATUS);
        bus_record_init(&s.counters, BUS_RECORD_COUNTERS);
        s.have_counters = true;
        set_str(&s.status, BUS_STATUS_VERSION, "0.1.0");
        set_str(&s.status, BUS_STATUS_MODE, "monitor-only");
        set_str(&s.status, BUS_STATUS_ACTIVE_TRACKER, "");
        set_str(&s.status, BUS_STATUS_LAST_RELOAD_ERROR, "x.conf:1: bad");
        set_u64(&s.status, BUS_STATUS_SAMPLE_INTERVAL_USEC, 1500000);
        set_u64(&s.status, BUS_STATUS_LAST_CYCLE_AT, 0);
        set_u64(&s.counters, BUS_COUNTER_CYCLES, 7);
        set_u64(&s.counters, BUS_COUNTER_CYCLE_USEC, 2000001);

        s.nodes = xcalloc(1, sizeof(BusRecord));
        s.n_nodes = 1;
        bus_record_init(&s.nodes[0], BUS_RECORD_NODE);
        s.nodes[0].v[BUS_NODE_ID] = (BusValue) { .present = true, .i = 2 };
        set_str(&s.nodes[0], BUS_NODE_TIER, "cxl");
        set_u64(&s.nodes[0], BUS_NODE_TOTAL_BYTES, 1024);
        set_str(&s.nodes[0], BUS_NODE_KIND, "cxl");
        set_str(&s.nodes[0], BUS_NODE_CXL_MEMDEVS, "mem0,mem1");
        set_str(&s.nodes[0], BUS_NODE_DAX_DEVICES, "dax0.0");
        set_str(&s.nodes[0], BUS_NODE_DAX_MODES, "system-ram");
        set_str(&s.nodes[0], BUS_NODE_DESCRIPTION, "CXL memory: ...");
        set_u64(&s.nodes[0], BUS_NODE_MOVABLE_BYTES, 512);

        s.vms = xcalloc(1, sizeof(BusRecord));
        s.n_vms = 1;
        bus_record_init(&s.vms[0], BUS_RECORD_VM);
        set_str(&s.vms[0], BUS_VM_ID, "pid-7");
        set_str(&s.vms[0], BUS_VM_NAME, "a \"b\"\\c\nd");
        set_str(&s.vms[0], BUS_VM_STATE, "new");
        set_u64(&s.vms[0], BUS_VM_RAM_BYTES, 4096);

        /* the Contiguity property: a summary before tiering, one now */
        s.contiguity = xcalloc(2, sizeof(BusRecord));
        s.n_contiguity = 2;
        for (size_t i = 0; i < 2; i++) {
                bus_record_init(&s.contiguity[i], BUS_RECORD_CONTIGUITY);
                set_str(&s.contiguity[i], BUS_CONTIG_ID, "pid-7");
                set_str(&s.contiguity[i], BUS_CONTIG_NAME, "web");
                set_str(&s.contiguity[i], BUS_CONTIG_ROLE, i == 0 ? "now" : "before_tiering");
                set_str(&s.contiguity[i], BUS_CONTIG_TRIGGER, i == 0 ? "migration" : "tiering-start");
                set_u64(&s.contiguity[i], BUS_CONTIG_THP_2M, i == 0 ? 126 : 128);
                set_u64(&s.contiguity[i], BUS_CONTIG_SCAN_USEC, 459000);
        }
        s.contiguity[0].v[BUS_CONTIG_OFFSET_GROUPS_OVERFLOW] = (BusValue) { .present = true, .b = true };

        f = open_memstream(&out, &len);
        check(f);
        check_int(metrics_format(&s, f), 0);
        fclose(f);
        fputs(out, stdout);

        check(strstr(out, "# TYPE vtism_cycles_total counter\nvtism_cycles_total 7\n"));
        check(strstr(out, "\nvtism_cycle_seconds_total 2.000001\n"));
        check(strstr(out, "\nvtism_sample_interval_seconds 1.500000\n"));
        check(strstr(out, "\nvtism_build_info{version=\"0.1.0\"} 1\n"));
        check(strstr(out, "\nvtism_mode{mode=\"tiering\"} 0\nvtism_mode{mode=\"monitor-only\"} 1\n"));
        check(strstr(out, "\nvtism_last_reload_failed 1\n"));
        check(strstr(out, "\nvtism_node_size_bytes{node=\"2\",tier=\"cxl\"} 1024\n"));
        /* the info metric's details from other keys; an absent one is an empty label */
        check(strstr(out, "\nvtism_node_info{node=\"2\",tier=\"cxl\",kind=\"cxl\",cxl_memdevs=\"mem0,mem1\",cxl_regions=\"\","
                          "cxl_window=\"\",dax_devices=\"dax0.0\",dax_modes=\"system-ram\"} 1\n"));
        check(strstr(out, "\nvtism_node_movable_bytes{node=\"2\",tier=\"cxl\"} 512\n"));
        check(!strstr(out, "vtism_node_online_bytes"));
        check(!strstr(out, "CXL memory: ..."));
        check(strstr(out, "\nvtism_vm_ram_bytes{id=\"pid-7\",name=\"a \\\"b\\\"\\\\c\\nd\"} 4096\n"));
        check(strstr(out, "vtism_vm_state{id=\"pid-7\",name=\"a \\\"b\\\"\\\\c\\nd\",state=\"new\"} 1\n"));
        check(strstr(out, "state=\"tracked\"} 0\n"));
        /* unknown: no sample, and no family without samples */
        check(!strstr(out, "vtism_vm_hot_bytes"));
        check(!strstr(out, "vtism_node_free_bytes"));
        check(!strstr(out, "vtism_tracker_active_info"));       /* "" = none */
        check(!strstr(out, "vtism_last_cycle_time_seconds"));   /* 0 = not yet */
        check(!strstr(out, "vtism_tracker_usable"));            /* no trackers */
        check(strstr(out, "\nvtism_vm_contiguity_thp_2m_mappings{id=\"pid-7\",name=\"web\",role=\"now\"} 126\n"
                          "vtism_vm_contiguity_thp_2m_mappings{id=\"pid-7\",name=\"web\",role=\"before_tiering\"} 128\n"));
        check(strstr(out, "\nvtism_vm_contiguity_info{id=\"pid-7\",name=\"web\",role=\"before_tiering\",trigger=\"tiering-start\"} 1\n"));
        check(strstr(out, "\nvtism_vm_contiguity_scan_seconds{id=\"pid-7\",name=\"web\",role=\"now\"} 0.459000\n"));
        check(strstr(out, "\nvtism_vm_contiguity_offset_groups_overflow{id=\"pid-7\",name=\"web\",role=\"now\"} 1\n"));
        check(!strstr(out, "vtism_vm_contiguity_runs"));       /* not in the records */
        bus_snapshot_done(&s);
}

int main(void) {
        test_every_key_decided();
        test_names();
        test_format();
        return 0;
}
