/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Prometheus text exposition of vtismd's records (metrics.h). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "vtism/macro.h"
#include "vtism/metrics.h"
#include "vtism/util.h"

static const char *const mode_states[] = { "tiering", "monitor-only", NULL };
static const char *const vm_states[] = { "new", "tracked", "untrackable", NULL };
static const char *const vm_run_states[] = { "running", "paused", "migrating out", "migrating in", NULL };
static const char *const migration_states[] = { "idle", "moving", "paused", "dry-run", "monitor-only", NULL };

#define NL(l, f) { .label = l, .field = BUS_NODE_##f }
static const MetricLabel node_info_labels[] = {
        NL("cxl_memdevs", CXL_MEMDEVS), NL("cxl_regions", CXL_REGIONS), NL("cxl_window", CXL_WINDOW),
        NL("dax_devices", DAX_DEVICES), NL("dax_modes", DAX_MODES), { .label = NULL },
};
#undef NL

#define S(f) .kind = BUS_RECORD_STATUS, .field = BUS_STATUS_##f
#define C(f) .kind = BUS_RECORD_COUNTERS, .field = BUS_COUNTER_##f
#define N(f) .kind = BUS_RECORD_NODE, .field = BUS_NODE_##f
#define V(f) .kind = BUS_RECORD_VM, .field = BUS_VM_##f
#define T(f) .kind = BUS_RECORD_TRACKER, .field = BUS_TRACKER_##f
#define G(f) .kind = BUS_RECORD_CONTIGUITY, .field = BUS_CONTIG_##f
/* a contiguity summary's gauge: vtism_vm_contiguity_NAME{id,name,role} */
#define CG(f, n, h) { G(f), .name = "vtism_vm_contiguity_" n, .type = METRIC_GAUGE, .flags = 0, .help = h }

const MetricDef metric_defs[] = {
        /* the daemon */
        { S(VERSION), .name = "vtism_build_info", .type = METRIC_INFO, .flags = 0, .help = "vtismd's version.", .label = "version" },
        { S(MODE), .name = "vtism_mode", .type = METRIC_STATESET, .flags = 0,
          .help = "The daemon's mode: tiering (DRAM and CXL nodes) or monitor-only.", .label = "mode", .states = mode_states },
        { S(TRACKER), .name = "vtism_tracker_configured_info", .type = METRIC_INFO, .flags = 0, .help = "The tracker the configuration asks for.",
          .label = "tracker" },
        { S(ACTIVE_TRACKER), .name = "vtism_tracker_active_info", .type = METRIC_INFO, .flags = 0,
          .help = "The tracker in use; no sample when none is usable.", .label = "tracker" },
        { S(LAST_RELOAD_ERROR), .name = "vtism_last_reload_failed", .type = METRIC_NONEMPTY, .flags = 0,
          .help = "1 if the last reload failed and the previous configuration is kept." },
        { S(SAMPLING_PAUSED), .name = "vtism_sampling_paused", .type = METRIC_GAUGE, .flags = 0, .help = "1 if sampling is paused." },
        { S(MIGRATION_PAUSED), .name = "vtism_migration_paused", .type = METRIC_GAUGE, .flags = 0, .help = "1 if migration is paused." },
        { S(DRY_RUN), .name = "vtism_dry_run", .type = METRIC_GAUGE, .flags = 0, .help = "1 if migrations are planned but not performed." },
        { S(MIGRATION_STATE), .name = "vtism_migration_state", .type = METRIC_STATESET, .flags = 0,
          .help = "What the migrator does: idle, moving (a plan is carried out), paused, dry-run or monitor-only.",
          .label = "state", .states = migration_states },
        { S(SAMPLE_INTERVAL_USEC), .name = "vtism_sample_interval_seconds", .type = METRIC_GAUGE, .flags = METRIC_USEC_TO_SECONDS,
          .help = "Time between two cycles." },
        { S(MIGRATE_RATE_LIMIT), .name = "vtism_migrate_rate_limit_bytes", .type = METRIC_GAUGE, .flags = 0,
          .help = "Migration rate limit in bytes per second, 0 for unlimited." },
        { S(STARTED_AT), .name = "vtism_start_time_seconds", .type = METRIC_GAUGE, .flags = METRIC_USEC_TO_SECONDS,
          .help = "When vtismd started, seconds since the Unix epoch." },
        { S(LAST_CYCLE_AT), .name = "vtism_last_cycle_time_seconds", .type = METRIC_GAUGE, .flags = METRIC_USEC_TO_SECONDS | METRIC_ZERO_IS_ABSENT, .help = "When the last cycle ended, seconds since the Unix epoch." },

        /* counters since vtismd started */
        { C(CYCLES), .name = "vtism_cycles_total", .type = METRIC_COUNTER, .flags = METRIC_WATCH_RATE, .help = "Cycles run." },
        { C(CYCLE_USEC), .name = "vtism_cycle_seconds_total", .type = METRIC_COUNTER, .flags = METRIC_USEC_TO_SECONDS,
          .help = "Time spent in cycles (rate() of it is the share of time vtismd is busy)." },
        { C(PAGES_PROMOTED), .name = "vtism_promoted_pages_total", .type = METRIC_COUNTER, .flags = METRIC_WATCH_RATE,
          .help = "Pages moved from CXL to DRAM." },
        { C(PAGES_DEMOTED), .name = "vtism_demoted_pages_total", .type = METRIC_COUNTER, .flags = METRIC_WATCH_RATE,
          .help = "Pages moved from DRAM to CXL." },
        { C(PAGES_FAILED), .name = "vtism_migration_failed_pages_total", .type = METRIC_COUNTER, .flags = METRIC_WATCH_RATE,
          .help = "Pages a migration failed to move." },
        { C(BYTES_MIGRATED), .name = "vtism_migrated_bytes_total", .type = METRIC_COUNTER, .flags = METRIC_WATCH_RATE, .help = "Bytes moved." },
        { C(PLANS), .name = "vtism_plans_total", .type = METRIC_COUNTER, .flags = 0, .help = "Cycles that made a plan." },
        { C(ROUNDS), .name = "vtism_migration_rounds_total", .type = METRIC_COUNTER, .flags = 0,
          .help = "Migration rounds that had moves." },
        { C(BYTES_PROMOTED), .name = "vtism_promoted_bytes_total", .type = METRIC_COUNTER, .flags = 0, .help = "Bytes moved from CXL to DRAM." },
        { C(BYTES_DEMOTED), .name = "vtism_demoted_bytes_total", .type = METRIC_COUNTER, .flags = 0, .help = "Bytes moved from DRAM to CXL." },
#define C_FAILED(ID, WORD, KEY, WHAT) { C(PAGES_FAILED_##ID), .name = "vtism_migration_failed_" KEY "_pages_total", \
                                        .type = METRIC_COUNTER, .flags = 0, .help = "Pages " WHAT },
        MIGRATE_FAILURES(C_FAILED)
#undef C_FAILED
        { C(PAGES_DROPPED), .name = "vtism_migration_dropped_pages_total", .type = METRIC_COUNTER, .flags = 0,
          .help = "Pages planned but never attempted (a newer plan, the budget, the VM gone)." },
        { C(PAGES_WOULD_MOVE), .name = "vtism_dry_run_pages_total", .type = METRIC_COUNTER, .flags = 0,
          .help = "Pages that would have moved in dry-run." },
        { C(PAGES_ALREADY), .name = "vtism_migration_in_place_pages_total", .type = METRIC_COUNTER, .flags = 0,
          .help = "Pages a move found already where it wanted them." },
        { C(PAGES_QUERIED), .name = "vtism_placement_queried_pages_total", .type = METRIC_COUNTER, .flags = 0,
          .help = "Pages whose placement was queried with move_pages(2)." },
        { C(RELOADS), .name = "vtism_reloads_total", .type = METRIC_COUNTER, .flags = 0, .help = "Successful configuration reloads." },
        { C(RELOAD_FAILURES), .name = "vtism_reload_failures_total", .type = METRIC_COUNTER, .flags = 0,
          .help = "Reloads refused because the new configuration was bad." },
        { C(SAMPLE_ERRORS), .name = "vtism_sample_errors_total", .type = METRIC_COUNTER, .flags = 0, .help = "Tracker reads of a VM that failed." },
        { C(METRICS_FILE_ERRORS), .name = "vtism_metrics_file_errors_total", .type = METRIC_COUNTER, .flags = 0,
          .help = "Failed writes of the metrics textfile." },

        /* per NUMA node */
        { N(TOTAL_BYTES), .name = "vtism_node_size_bytes", .type = METRIC_GAUGE, .flags = 0, .help = "Memory of the node." },
        { N(FREE_BYTES), .name = "vtism_node_free_bytes", .type = METRIC_GAUGE, .flags = 0, .help = "Free memory of the node." },
        { N(MEMORY_TIER), .name = "vtism_node_memory_tier", .type = METRIC_GAUGE, .flags = 0,
          .help = "The kernel's memory tier of the node (lower is faster); no sample without one." },
        { N(CLASSIFIED_BY), .name = "vtism_node_classified_info", .type = METRIC_INFO, .flags = 0,
          .help = "What classified the node as DRAM or CXL.", .label = "classified_by" },
        { N(KIND), .name = "vtism_node_info", .type = METRIC_INFO, .flags = 0,
          .help = "What is behind the node: kind (dram, cxl, pmem, soft-reserved, emulated, boot-memory), its CXL "
                  "memory devices, regions and window, its DAX devices and their modes (comma-separated).",
          .label = "kind", .labels = node_info_labels },
        { N(DAX_BYTES), .name = "vtism_node_dax_bytes", .type = METRIC_GAUGE, .flags = 0,
          .help = "Size of the DAX devices targeting the node; no sample without one." },
        { N(ONLINE_BYTES), .name = "vtism_node_online_bytes", .type = METRIC_GAUGE, .flags = 0,
          .help = "Memory blocks of a CPU-less node that are online; no sample when unknown." },
        { N(MOVABLE_BYTES), .name = "vtism_node_movable_bytes", .type = METRIC_GAUGE, .flags = 0,
          .help = "Of those, onlined movable (ZONE_MOVABLE, so it can be offlined again); no sample when unknown." },

        /* per VM */
        { V(STATE), .name = "vtism_vm_state", .type = METRIC_STATESET, .flags = 0, .help = "The VM's state: new, tracked (sampled) or untrackable.",
          .label = "state", .states = vm_states },
        { V(RUN_STATE), .name = "vtism_vm_run_state", .type = METRIC_STATESET, .flags = 0,
          .help = "What the VM does, by libvirt: running, paused, migrating out or in (neither sampled nor moved then).",
          .label = "run_state", .states = vm_run_states },
        { V(PID), .name = "vtism_vm_pid", .type = METRIC_GAUGE, .flags = 0, .help = "The VM's QEMU process." },
        { V(RAM_BYTES), .name = "vtism_vm_ram_bytes", .type = METRIC_GAUGE, .flags = 0, .help = "Guest RAM located." },
        { V(DRAM_BUDGET_BYTES), .name = "vtism_vm_dram_budget_bytes", .type = METRIC_GAUGE, .flags = 0,
          .help = "DRAM budget of the VM's policy; no sample while its RAM is not located." },
        { V(RESIDENCY_KNOWN), .name = "vtism_vm_residency_known", .type = METRIC_GAUGE, .flags = 0,
          .help = "1 once a complete placement pass has been made." },
        { V(DRAM_BYTES), .name = "vtism_vm_dram_bytes", .type = METRIC_GAUGE, .flags = METRIC_WATCH_RATE,
          .help = "Guest RAM on DRAM nodes; no sample before a complete placement pass." },
        { V(CXL_BYTES), .name = "vtism_vm_cxl_bytes", .type = METRIC_GAUGE, .flags = 0,
          .help = "Guest RAM on CXL nodes; no sample before a complete placement pass." },
        { V(HOT_BYTES), .name = "vtism_vm_hot_bytes", .type = METRIC_GAUGE, .flags = 0, .help = "Hot guest RAM; no sample before the first sample." },
        { V(WARM_BYTES), .name = "vtism_vm_warm_bytes", .type = METRIC_GAUGE, .flags = 0, .help = "Warm guest RAM; no sample before the first sample." },
        { V(COLD_BYTES), .name = "vtism_vm_cold_bytes", .type = METRIC_GAUGE, .flags = 0, .help = "Cold guest RAM; no sample before the first sample." },
        { V(CYCLES), .name = "vtism_vm_sampled_cycles_total", .type = METRIC_COUNTER, .flags = 0, .help = "Cycles in which the VM was sampled." },
        { V(HOME_NODE), .name = "vtism_vm_home_node", .type = METRIC_GAUGE, .flags = 0, .help = "The VM's home DRAM node; no sample without one." },
        { V(DRAM_TARGET_BYTES), .name = "vtism_vm_dram_target_bytes", .type = METRIC_GAUGE, .flags = 0,
          .help = "What the last plan wants of the VM on DRAM; no sample before a plan." },
        { V(CXL_ACCESS_BP), .name = "vtism_vm_cxl_access_basis_points", .type = METRIC_GAUGE, .flags = 0,
          .help = "Estimated share of the VM's sampled accesses served from CXL, 1/10000; no sample before an access." },
        { V(CXL_ACCESS_MIN_BP), .name = "vtism_vm_cxl_access_min_basis_points", .type = METRIC_GAUGE, .flags = 0,
          .help = "Lower bound of that estimate (placement not known, coarse tracker regions)." },
        { V(CXL_ACCESS_MAX_BP), .name = "vtism_vm_cxl_access_max_basis_points", .type = METRIC_GAUGE, .flags = 0,
          .help = "Upper bound of that estimate." },
        { V(CXL_ACCESS_AGE), .name = "vtism_vm_cxl_access_age_cycles", .type = METRIC_GAUGE, .flags = 0,
          .help = "Placement passes since that estimate was made: 0 with a service level, up to 9 without." },
        { V(SLO_CAP_BP), .name = "vtism_vm_slo_cxl_access_max_basis_points", .type = METRIC_GAUGE, .flags = 0,
          .help = "The VM's service level: most accesses from CXL, 1/10000; no sample without one." },
        { V(SLO_MET), .name = "vtism_vm_slo_met", .type = METRIC_GAUGE, .flags = 0,
          .help = "1 if the VM's service level is met, 0 if not; no sample without one." },
        { V(NOT_TIERED), .name = "vtism_vm_not_tiered", .type = METRIC_NONEMPTY, .flags = 0,
          .help = "1 if the VM gets no moves (monitor-only, never_migrate, a cpuset without CXL nodes)." },
        { V(MIGRATION_ROUNDS), .name = "vtism_vm_migration_rounds_total", .type = METRIC_COUNTER, .flags = 0,
          .help = "Migration rounds that had moves for the VM." },
        { V(PAGES_PROMOTED), .name = "vtism_vm_promoted_pages_total", .type = METRIC_COUNTER, .flags = 0,
          .help = "The VM's pages moved from CXL to DRAM." },
        { V(PAGES_DEMOTED), .name = "vtism_vm_demoted_pages_total", .type = METRIC_COUNTER, .flags = 0,
          .help = "The VM's pages moved from DRAM to CXL." },
        { V(BYTES_PROMOTED), .name = "vtism_vm_promoted_bytes_total", .type = METRIC_COUNTER, .flags = 0,
          .help = "The VM's bytes moved from CXL to DRAM." },
        { V(BYTES_DEMOTED), .name = "vtism_vm_demoted_bytes_total", .type = METRIC_COUNTER, .flags = 0,
          .help = "The VM's bytes moved from DRAM to CXL." },
        { V(PAGES_FAILED), .name = "vtism_vm_migration_failed_pages_total", .type = METRIC_COUNTER, .flags = 0,
          .help = "The VM's pages a migration failed to move." },
#define V_FAILED(ID, WORD, KEY, WHAT) { V(PAGES_FAILED_##ID), .name = "vtism_vm_migration_failed_" KEY "_pages_total", \
                                        .type = METRIC_COUNTER, .flags = 0, .help = "The VM's pages " WHAT },
        MIGRATE_FAILURES(V_FAILED)
#undef V_FAILED
        { V(PAGES_WOULD_MOVE), .name = "vtism_vm_dry_run_pages_total", .type = METRIC_COUNTER, .flags = 0,
          .help = "The VM's pages that would have moved in dry-run." },

        { V(TRACKERS), .name = "vtism_vm_tracker_info", .type = METRIC_INFO, .flags = 0,
          .help = "Which trackers feed the VM, \"+\"-joined (damon+softdirty), or none; no sample while it is new.",
          .label = "trackers" },
        /* per tracker */
        { T(USABLE), .name = "vtism_tracker_usable", .type = METRIC_GAUGE, .flags = 0, .help = "1 if the tracker works on this kernel." },

        /* per VM and contiguity summary (role="now" or "before_tiering"; vtismd(8), CONTIGUITY) */
        { G(TRIGGER), .name = "vtism_vm_contiguity_info", .type = METRIC_INFO, .flags = 0,
          .help = "A contiguity summary of the VM's guest RAM and why it was taken (request, tiering-start, migration).",
          .label = "trigger" },
        { G(TAKEN_AT), .name = "vtism_vm_contiguity_taken_time_seconds", .type = METRIC_GAUGE, .flags = METRIC_USEC_TO_SECONDS,
          .help = "When the summary's scan ended, seconds since the Unix epoch." },
        { G(SCAN_USEC), .name = "vtism_vm_contiguity_scan_seconds", .type = METRIC_GAUGE, .flags = METRIC_USEC_TO_SECONDS,
          .help = "How long its scan took." },
        { G(BUSY_USEC), .name = "vtism_vm_contiguity_scan_busy_seconds", .type = METRIC_GAUGE, .flags = METRIC_USEC_TO_SECONDS,
          .help = "Of which vtismd was busy scanning." },
        CG(MOVED_BYTES, "moved_bytes", "What vtism had moved of the VM when the scan started."),
        CG(ANCHOR_BYTES, "anchor_size_bytes", "The anchor size the summary used."),
        CG(RAM_BYTES, "ram_bytes", "Guest RAM scanned."),
        CG(PRESENT_BYTES, "present_bytes", "Of it backed by host memory."),
        CG(ZERO_BYTES, "zero_page_bytes", "Mapped to the shared zero page."),
        CG(ABSENT_BYTES, "absent_bytes", "Not backed (never touched, swapped out)."),
        CG(MAPPED_4K_BYTES, "mapped_4k_bytes", "Present and not inside a 2 MiB or 1 GiB mapping."),
        CG(THP_2M, "thp_2m_mappings", "2 MiB transparent huge page mappings."),
        CG(HUGETLB_2M, "hugetlb_2m_mappings", "2 MiB hugetlbfs mappings."),
        CG(HUGETLB_1G, "hugetlb_1g_mappings", "1 GiB hugetlbfs mappings."),
        CG(HUGE_MISMATCH_BYTES, "huge_mismatch_bytes", "In huge host pages at guest addresses that cannot use them."),
        CG(PMD_MAPPING_KNOWN, "pmd_mapping_known", "1 if the kernel said which ranges are PMD-mapped (PAGEMAP_SCAN)."),
        CG(UNKNOWN_NODE_BYTES, "unknown_node_bytes", "Present on no node vtismd knows."),
        CG(RUNS, "runs", "Range runs: maximal runs of pages consecutive in guest- and host-physical memory."),
        CG(LARGEST_RUN_BYTES, "largest_run_bytes", "The largest range run."),
        CG(RUNS_FOR_80PCT, "runs_for_80_percent", "Range runs, largest first, that cover 80 % of present memory."),
        CG(RUNS_FOR_90PCT, "runs_for_90_percent", "Range runs that cover 90 % of present memory."),
        CG(RUNS_FOR_99PCT, "runs_for_99_percent", "Range runs that cover 99 % of present memory."),
        CG(ANCHOR_ENTRIES, "anchor_entries", "Anchor entries for the anchor size."),
        CG(ANCHOR_COVERED_BYTES, "anchor_covered_bytes", "Present memory covered by anchor entries proper."),
        CG(LARGEST_ANCHOR_ENTRY_BYTES, "largest_anchor_entry_bytes", "The largest anchor entry."),
        CG(ANCHOR_ENTRIES_FOR_80PCT, "anchor_entries_for_80_percent", "Anchor entries that cover 80 % of present memory."),
        CG(ANCHOR_ENTRIES_FOR_90PCT, "anchor_entries_for_90_percent", "Anchor entries that cover 90 % of present memory."),
        CG(ANCHOR_ENTRIES_FOR_99PCT, "anchor_entries_for_99_percent", "Anchor entries that cover 99 % of present memory."),
        CG(OFFSET_GROUPS, "offset_groups", "Distinct host-minus-guest offsets (pages sharing one, wherever they are)."),
        CG(OFFSET_GROUPS_OVERFLOW, "offset_groups_overflow", "1 if there were too many offset groups to count."),
        CG(LARGEST_OFFSET_GROUP_BYTES, "largest_offset_group_bytes", "The largest offset group; no sample on overflow."),
        CG(OFFSET_GROUPS_FOR_80PCT, "offset_groups_for_80_percent", "Offset groups that cover 80 % of present memory."),
        CG(OFFSET_GROUPS_FOR_90PCT, "offset_groups_for_90_percent", "Offset groups that cover 90 % of present memory."),
        CG(OFFSET_GROUPS_FOR_99PCT, "offset_groups_for_99_percent", "Offset groups that cover 99 % of present memory."),
};
const size_t n_metric_defs = ELEMENTSOF(metric_defs);

const MetricUnexported metric_unexported[] = {
        { S(MODE_REASON), .why = "free text" },
        { S(CONFIG_FILE), .why = "a path, constant" },
        { S(LIBVIRT_URI), .why = "configuration, not state" },
        { S(LIBVIRT_STATE), .why = "free text: the connection's state in words" },
        { N(CPUS), .why = "a CPU list" },
        { N(DEMOTION_TARGETS), .why = "a node list" },
        { N(DESCRIPTION), .why = "free text; vtism_node_info has its parts" },
        { V(UUID), .why = "the id when known" },
        { V(SLO_STATE), .why = "free text; vtism_vm_slo_met says whether" },
        { V(SOURCES), .why = "how it was found, not state" },
        { V(ERROR), .why = "free text; vtism_vm_state says untrackable" },
        { V(RUN_STATE_REASON), .why = "free text (libvirt's words); vtism_vm_run_state says which" },
        { V(HOME_REASON), .why = "free text" },
        { V(POLICY), .why = "a file:line" },
        { V(ALLOWED_NODES), .why = "a node list" },
        { V(IDENTITY_CONFLICT), .why = "free text: what a command line claims and may not use" },
        { V(TRACKER_DETAIL), .why = "free text; vtism_vm_tracker_info has the trackers" },
        { S(ACTIVE_TRACKER_REASON), .why = "free text; vtism_tracker_usable says which are unusable" },
        { T(REASON), .why = "free text; vtism_tracker_usable says 0" },
        { G(AGE_USEC), .why = "relative to the reply; vtism_vm_contiguity_taken_time_seconds says when" },
        { G(RUNS_TOP_BYTES), .why = "a list; the _for_*_percent metrics summarise it" },
        { G(ANCHOR_TOP_BYTES), .why = "a list; the _for_*_percent metrics summarise it" },
        { G(OFFSET_GROUPS_TOP_BYTES), .why = "a list; the _for_*_percent metrics summarise it" },
};
const size_t n_metric_unexported = ELEMENTSOF(metric_unexported);

#undef S
#undef C
#undef N
#undef V
#undef T
#undef G
#undef CG

static const char *const metric_type_table[_METRIC_TYPE_MAX] = {
        [METRIC_GAUGE] = "gauge",
        [METRIC_COUNTER] = "counter",
        [METRIC_INFO] = "gauge",
        [METRIC_STATESET] = "gauge",
        [METRIC_NONEMPTY] = "gauge",
};
assert_cc(ELEMENTSOF(metric_type_table) == _METRIC_TYPE_MAX);

const char *metric_type_to_string(MetricType t) {
        if (t < 0 || t >= _METRIC_TYPE_MAX)
                return NULL;
        return metric_type_table[t];
}

/* The labels each kind of record puts on its samples: label name, field. */
typedef struct LabelDef {
        BusRecordKind kind;
        const char *label;
        unsigned field;
} LabelDef;

static const LabelDef label_defs[] = {
        { BUS_RECORD_NODE, "node", BUS_NODE_ID },
        { BUS_RECORD_NODE, "tier", BUS_NODE_TIER },
        { BUS_RECORD_VM, "id", BUS_VM_ID },
        { BUS_RECORD_VM, "name", BUS_VM_NAME },
        { BUS_RECORD_TRACKER, "tracker", BUS_TRACKER_NAME },
        { BUS_RECORD_CONTIGUITY, "id", BUS_CONTIG_ID },
        { BUS_RECORD_CONTIGUITY, "name", BUS_CONTIG_NAME },
        { BUS_RECORD_CONTIGUITY, "role", BUS_CONTIG_ROLE },
};

const MetricDef *metric_find(BusRecordKind kind, unsigned field) {
        for (size_t i = 0; i < n_metric_defs; i++)
                if (metric_defs[i].kind == kind && metric_defs[i].field == field)
                        return &metric_defs[i];
        return NULL;
}

bool metric_is_label(BusRecordKind kind, unsigned field) {
        for (size_t i = 0; i < ELEMENTSOF(label_defs); i++)
                if (label_defs[i].kind == kind && label_defs[i].field == field)
                        return true;
        for (size_t i = 0; i < n_metric_defs; i++)
                for (const MetricLabel *l = metric_defs[i].labels; metric_defs[i].kind == kind && l && l->label; l++)
                        if (l->field == field)
                                return true;
        return false;
}

static void put_label_value(FILE *f, const char *s) {
        for (; *s; s++)
                switch (*s) {
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                default:
                        fputc(*s, f);
                }
}

/* Opens "{" and writes the record's labels, then extra (name, value) if given, then more (the
 * values of other keys). Closes "}" unless nothing was written. */
static void put_labels(FILE *f, const BusRecord *r, const char *extra_label, const char *extra_value,
                       const MetricLabel *more) {
        bool any = false;

        for (size_t i = 0; i < ELEMENTSOF(label_defs); i++) {
                const LabelDef *l = &label_defs[i];
                const BusValue *v;

                if (l->kind != r->kind)
                        continue;
                v = &r->v[l->field];
                fputs(any ? "," : "{", f);
                any = true;
                fprintf(f, "%s=\"", l->label);
                if (!v->present)
                        ;
                else if (bus_record_field(r, l->field)->type[0] == 's')
                        put_label_value(f, v->s);
                else if (bus_record_field(r, l->field)->type[0] == 'i')
                        fprintf(f, "%" PRIi64, v->i);
                else
                        fprintf(f, "%" PRIu64, v->u);
                fputc('"', f);
        }
        if (extra_label) {
                fputs(any ? "," : "{", f);
                any = true;
                fprintf(f, "%s=\"", extra_label);
                put_label_value(f, extra_value);
                fputc('"', f);
        }
        for (const MetricLabel *l = more; l && l->label; l++) {
                fputs(any ? "," : "{", f);
                any = true;
                fprintf(f, "%s=\"", l->label);
                put_label_value(f, bus_record_str(r, l->field, ""));
                fputc('"', f);
        }
        if (any)
                fputc('}', f);
}

/* The samples of one metric for one record that metric_has_sample() accepted; returns how many. */
static size_t put_samples(FILE *f, const MetricDef *d, const BusRecord *r) {
        const BusValue *v = &r->v[d->field];
        const char *type = bus_record_field(r, d->field)->type;

        switch (d->type) {
        case METRIC_INFO:
                fputs(d->name, f);
                put_labels(f, r, d->label, v->s, d->labels);
                fputs(" 1\n", f);
                return 1;
        case METRIC_STATESET: {
                size_t n = 0;

                for (const char *const *st = d->states; *st; st++, n++) {
                        fputs(d->name, f);
                        put_labels(f, r, d->label, *st, NULL);
                        fprintf(f, " %d\n", streq(*st, v->s));
                }
                return n;
        }
        case METRIC_NONEMPTY:
                fputs(d->name, f);
                put_labels(f, r, NULL, NULL, NULL);
                fprintf(f, " %d\n", *v->s != 0);
                return 1;
        case METRIC_GAUGE:
        case METRIC_COUNTER:
                fputs(d->name, f);
                put_labels(f, r, NULL, NULL, NULL);
                if (type[0] == 'b')
                        fprintf(f, " %d\n", v->b);
                else if (type[0] == 'i')
                        fprintf(f, " %" PRIi64 "\n", v->i);
                else if (d->flags & METRIC_USEC_TO_SECONDS)
                        fprintf(f, " %" PRIu64 ".%06" PRIu64 "\n", v->u / 1000000, v->u % 1000000);
                else
                        fprintf(f, " %" PRIu64 "\n", v->u);
                return 1;
        default:
                return 0;
        }
}

static bool metric_has_sample(const MetricDef *d, const BusRecord *r) {
        const BusValue *v = &r->v[d->field];
        const char *type = bus_record_field(r, d->field)->type;

        if (!v->present)
                return false;
        switch (d->type) {
        case METRIC_INFO:
                return type[0] == 's' && *v->s;
        case METRIC_STATESET:
        case METRIC_NONEMPTY:
                return type[0] == 's';
        case METRIC_GAUGE:
        case METRIC_COUNTER:
                if (!strchr("btui", type[0]))
                        return false;
                return !((d->flags & METRIC_ZERO_IS_ABSENT) && strchr("tu", type[0]) && v->u == 0);
        default:
                return false;
        }
}

/* The records of a kind in a snapshot. */
static const BusRecord *records_of(const BusSnapshot *s, BusRecordKind kind, size_t *ret_n) {
        switch (kind) {
        case BUS_RECORD_STATUS:
                *ret_n = 1;
                return &s->status;
        case BUS_RECORD_COUNTERS:
                *ret_n = s->have_counters;
                return &s->counters;
        case BUS_RECORD_NODE:
                *ret_n = s->n_nodes;
                return s->nodes;
        case BUS_RECORD_VM:
                *ret_n = s->n_vms;
                return s->vms;
        case BUS_RECORD_TRACKER:
                *ret_n = s->n_trackers;
                return s->trackers;
        case BUS_RECORD_CONTIGUITY:
                *ret_n = s->n_contiguity;
                return s->contiguity;
        default:
                *ret_n = 0;
                return NULL;
        }
}

int metrics_format(const BusSnapshot *s, FILE *f) {
        for (size_t i = 0; i < n_metric_defs; i++) {
                const MetricDef *d = &metric_defs[i];
                const BusRecord *recs;
                size_t n, any = 0;

                recs = records_of(s, d->kind, &n);
                for (size_t k = 0; k < n; k++)
                        any += metric_has_sample(d, &recs[k]);
                if (any == 0)
                        continue;
                fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name, metric_type_to_string(d->type));
                for (size_t k = 0; k < n; k++)
                        if (metric_has_sample(d, &recs[k]))
                                (void) put_samples(f, d, &recs[k]);
        }
        if (fflush(f) != 0 || ferror(f))
                return -EIO;
        return 0;
}
