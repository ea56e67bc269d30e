/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The record layouts of vtismd's D-Bus API (bus-api.h), shared by vtismd and vtismctl. */
#include <string.h>

#include "vtism/bus-api.h"
#include "vtism/macro.h"

const BusField bus_vm_fields[_BUS_VM_FIELD_MAX] = {
        [BUS_VM_ID] = { "id", "s" },
        [BUS_VM_NAME] = { "name", "s" },
        [BUS_VM_UUID] = { "uuid", "s" },
        [BUS_VM_PID] = { "pid", "u" },
        [BUS_VM_SOURCES] = { "sources", "s" },
        [BUS_VM_STATE] = { "state", "s" },
        [BUS_VM_ERROR] = { "error", "s" },
        [BUS_VM_RAM_BYTES] = { "ram_bytes", "t" },
        [BUS_VM_RESIDENCY_KNOWN] = { "residency_known", "b" },
        [BUS_VM_DRAM_BYTES] = { "dram_bytes", "t" },
        [BUS_VM_CXL_BYTES] = { "cxl_bytes", "t" },
        [BUS_VM_HOT_BYTES] = { "hot_bytes", "t" },
        [BUS_VM_WARM_BYTES] = { "warm_bytes", "t" },
        [BUS_VM_COLD_BYTES] = { "cold_bytes", "t" },
        [BUS_VM_CYCLES] = { "cycles", "t" },
        [BUS_VM_HOME_NODE] = { "home_node", "i" },
        [BUS_VM_HOME_REASON] = { "home_reason", "s" },
        [BUS_VM_POLICY] = { "policy", "s" },
        [BUS_VM_DRAM_BUDGET_BYTES] = { "dram_budget_bytes", "t" },
        [BUS_VM_DRAM_TARGET_BYTES] = { "dram_target_bytes", "t" },
        [BUS_VM_NOT_TIERED] = { "not_tiered", "s" },
        [BUS_VM_ALLOWED_NODES] = { "allowed_nodes", "s" },
        [BUS_VM_MIGRATION_ROUNDS] = { "migration_rounds", "t" },
        [BUS_VM_PAGES_PROMOTED] = { "pages_promoted", "t" },
        [BUS_VM_PAGES_DEMOTED] = { "pages_demoted", "t" },
        [BUS_VM_BYTES_PROMOTED] = { "bytes_promoted", "t" },
        [BUS_VM_BYTES_DEMOTED] = { "bytes_demoted", "t" },
        [BUS_VM_PAGES_FAILED] = { "pages_failed", "t" },
#define VM_FAILED(ID, WORD, KEY, WHAT) [BUS_VM_PAGES_FAILED_##ID] = { "pages_failed_" KEY, "t" },
        MIGRATE_FAILURES(VM_FAILED)
#undef VM_FAILED
        [BUS_VM_PAGES_WOULD_MOVE] = { "pages_would_move", "t" },
        [BUS_VM_IDENTITY_CONFLICT] = { "identity_conflict", "s" },
        [BUS_VM_TRACKERS] = { "trackers", "s" },
        [BUS_VM_TRACKER_DETAIL] = { "tracker_detail", "s" },
        [BUS_VM_CXL_ACCESS_BP] = { "cxl_access_bp", "u" },
        [BUS_VM_CXL_ACCESS_MIN_BP] = { "cxl_access_min_bp", "u" },
        [BUS_VM_CXL_ACCESS_MAX_BP] = { "cxl_access_max_bp", "u" },
        [BUS_VM_CXL_ACCESS_AGE] = { "cxl_access_age_cycles", "u" },
        [BUS_VM_SLO_CAP_BP] = { "slo_cap_bp", "u" },
        [BUS_VM_SLO_MET] = { "slo_met", "b" },
        [BUS_VM_SLO_STATE] = { "slo_state", "s" },
        [BUS_VM_RUN_STATE] = { "run_state", "s" },
        [BUS_VM_RUN_STATE_REASON] = { "run_state_reason", "s" },
};
assert_cc(ELEMENTSOF(bus_vm_fields) == _BUS_VM_FIELD_MAX);

const BusField bus_status_fields[_BUS_STATUS_FIELD_MAX] = {
        [BUS_STATUS_VERSION] = { VTISM_PROP_VERSION, "s" },
        [BUS_STATUS_MODE] = { VTISM_PROP_MODE, "s" },
        [BUS_STATUS_MODE_REASON] = { VTISM_PROP_MODE_REASON, "s" },
        [BUS_STATUS_TRACKER] = { VTISM_PROP_TRACKER, "s" },
        [BUS_STATUS_CONFIG_FILE] = { VTISM_PROP_CONFIG_FILE, "s" },
        [BUS_STATUS_LIBVIRT_URI] = { VTISM_PROP_LIBVIRT_URI, "s" },
        [BUS_STATUS_LIBVIRT_STATE] = { VTISM_PROP_LIBVIRT_STATE, "s" },
        [BUS_STATUS_LAST_RELOAD_ERROR] = { VTISM_PROP_LAST_RELOAD_ERROR, "s" },
        [BUS_STATUS_SAMPLING_PAUSED] = { VTISM_PROP_SAMPLING_PAUSED, "b" },
        [BUS_STATUS_MIGRATION_PAUSED] = { VTISM_PROP_MIGRATION_PAUSED, "b" },
        [BUS_STATUS_DRY_RUN] = { VTISM_PROP_DRY_RUN, "b" },
        [BUS_STATUS_SAMPLE_INTERVAL_USEC] = { VTISM_PROP_SAMPLE_INTERVAL_USEC, "t" },
        [BUS_STATUS_MIGRATE_RATE_LIMIT] = { VTISM_PROP_MIGRATE_RATE_LIMIT, "t" },
        [BUS_STATUS_STARTED_AT] = { VTISM_PROP_STARTED_AT, "t" },
        [BUS_STATUS_LAST_CYCLE_AT] = { VTISM_PROP_LAST_CYCLE_AT, "t" },
        [BUS_STATUS_ACTIVE_TRACKER] = { VTISM_PROP_ACTIVE_TRACKER, "s" },
        [BUS_STATUS_MIGRATION_STATE] = { VTISM_PROP_MIGRATION_STATE, "s" },
        [BUS_STATUS_ACTIVE_TRACKER_REASON] = { VTISM_PROP_ACTIVE_TRACKER_REASON, "s" },
};
assert_cc(ELEMENTSOF(bus_status_fields) == _BUS_STATUS_FIELD_MAX);

const BusField bus_node_fields[_BUS_NODE_FIELD_MAX] = {
        [BUS_NODE_ID] = { "id", "i" },
        [BUS_NODE_TIER] = { "tier", "s" },
        [BUS_NODE_CLASSIFIED_BY] = { "classified_by", "s" },
        [BUS_NODE_MEMORY_TIER] = { "memory_tier", "i" },
        [BUS_NODE_CPUS] = { "cpus", "s" },
        [BUS_NODE_TOTAL_BYTES] = { "total_bytes", "t" },
        [BUS_NODE_FREE_BYTES] = { "free_bytes", "t" },
        [BUS_NODE_DEMOTION_TARGETS] = { "demotion_targets", "ai" },
        [BUS_NODE_KIND] = { "kind", "s" },
        [BUS_NODE_DESCRIPTION] = { "description", "s" },
        [BUS_NODE_CXL_MEMDEVS] = { "cxl_memdevs", "s" },
        [BUS_NODE_CXL_REGIONS] = { "cxl_regions", "s" },
        [BUS_NODE_CXL_WINDOW] = { "cxl_window", "s" },
        [BUS_NODE_DAX_DEVICES] = { "dax_devices", "s" },
        [BUS_NODE_DAX_MODES] = { "dax_modes", "s" },
        [BUS_NODE_DAX_BYTES] = { "dax_bytes", "t" },
        [BUS_NODE_ONLINE_BYTES] = { "online_bytes", "t" },
        [BUS_NODE_MOVABLE_BYTES] = { "movable_bytes", "t" },
};
assert_cc(ELEMENTSOF(bus_node_fields) == _BUS_NODE_FIELD_MAX);

const BusField bus_tracker_fields[_BUS_TRACKER_FIELD_MAX] = {
        [BUS_TRACKER_NAME] = { "name", "s" },
        [BUS_TRACKER_USABLE] = { "usable", "b" },
        [BUS_TRACKER_REASON] = { "reason", "s" },
};
assert_cc(ELEMENTSOF(bus_tracker_fields) == _BUS_TRACKER_FIELD_MAX);

const BusField bus_contig_vm_fields[_BUS_CONTIG_VM_FIELD_MAX] = {
        [BUS_CONTIG_VM_ID] = { "id", "s" },
        [BUS_CONTIG_VM_NAME] = { "name", "s" },
        [BUS_CONTIG_VM_PID] = { "pid", "u" },
        [BUS_CONTIG_VM_RAM_BYTES] = { "ram_bytes", "t" },
        [BUS_CONTIG_VM_MOVED_BYTES] = { "moved_bytes", "t" },
        [BUS_CONTIG_VM_ANCHOR_BYTES] = { "anchor_bytes", "t" },
        [BUS_CONTIG_VM_BEFORE_TIERING_PENDING] = { "before_tiering_pending", "b" },
        [BUS_CONTIG_VM_BEFORE_TIERING_ERROR] = { "before_tiering_error", "s" },
};
assert_cc(ELEMENTSOF(bus_contig_vm_fields) == _BUS_CONTIG_VM_FIELD_MAX);

const BusField bus_contig_fields[_BUS_CONTIG_FIELD_MAX] = {
        [BUS_CONTIG_ROLE] = { "role", "s" },
        [BUS_CONTIG_TRIGGER] = { "trigger", "s" },
        [BUS_CONTIG_TAKEN_AT] = { "taken_at_usec", "t" },
        [BUS_CONTIG_AGE_USEC] = { "age_usec", "t" },
        [BUS_CONTIG_SCAN_USEC] = { "scan_usec", "t" },
        [BUS_CONTIG_BUSY_USEC] = { "busy_usec", "t" },
        [BUS_CONTIG_MOVED_BYTES] = { "moved_bytes", "t" },
        [BUS_CONTIG_ANCHOR_BYTES] = { "anchor_bytes", "t" },
        [BUS_CONTIG_RAM_BYTES] = { "ram_bytes", "t" },
        [BUS_CONTIG_PRESENT_BYTES] = { "present_bytes", "t" },
        [BUS_CONTIG_ZERO_BYTES] = { "zero_bytes", "t" },
        [BUS_CONTIG_ABSENT_BYTES] = { "absent_bytes", "t" },
        [BUS_CONTIG_MAPPED_4K_BYTES] = { "mapped_4k_bytes", "t" },
        [BUS_CONTIG_THP_2M] = { "thp_2m", "t" },
        [BUS_CONTIG_HUGETLB_2M] = { "hugetlb_2m", "t" },
        [BUS_CONTIG_HUGETLB_1G] = { "hugetlb_1g", "t" },
        [BUS_CONTIG_HUGE_MISMATCH_BYTES] = { "huge_mismatch_bytes", "t" },
        [BUS_CONTIG_PMD_MAPPING_KNOWN] = { "pmd_mapping_known", "b" },
        [BUS_CONTIG_UNKNOWN_NODE_BYTES] = { "unknown_node_bytes", "t" },
        [BUS_CONTIG_RUNS] = { "runs", "t" },
        [BUS_CONTIG_LARGEST_RUN_BYTES] = { "largest_run_bytes", "t" },
        [BUS_CONTIG_RUNS_FOR_80PCT] = { "runs_for_80pct", "t" },
        [BUS_CONTIG_RUNS_FOR_90PCT] = { "runs_for_90pct", "t" },
        [BUS_CONTIG_RUNS_FOR_99PCT] = { "runs_for_99pct", "t" },
        [BUS_CONTIG_RUNS_TOP_BYTES] = { "runs_top_bytes", "at" },
        [BUS_CONTIG_ANCHOR_ENTRIES] = { "anchor_entries", "t" },
        [BUS_CONTIG_ANCHOR_COVERED_BYTES] = { "anchor_covered_bytes", "t" },
        [BUS_CONTIG_LARGEST_ANCHOR_ENTRY_BYTES] = { "largest_anchor_entry_bytes", "t" },
        [BUS_CONTIG_ANCHOR_ENTRIES_FOR_80PCT] = { "anchor_entries_for_80pct", "t" },
        [BUS_CONTIG_ANCHOR_ENTRIES_FOR_90PCT] = { "anchor_entries_for_90pct", "t" },
        [BUS_CONTIG_ANCHOR_ENTRIES_FOR_99PCT] = { "anchor_entries_for_99pct", "t" },
        [BUS_CONTIG_ANCHOR_TOP_BYTES] = { "anchor_top_bytes", "at" },
        [BUS_CONTIG_OFFSET_GROUPS] = { "offset_groups", "t" },
        [BUS_CONTIG_OFFSET_GROUPS_OVERFLOW] = { "offset_groups_overflow", "b" },
        [BUS_CONTIG_ID] = { "id", "s" },
        [BUS_CONTIG_NAME] = { "name", "s" },
        [BUS_CONTIG_LARGEST_OFFSET_GROUP_BYTES] = { "largest_offset_group_bytes", "t" },
        [BUS_CONTIG_OFFSET_GROUPS_FOR_80PCT] = { "offset_groups_for_80pct", "t" },
        [BUS_CONTIG_OFFSET_GROUPS_FOR_90PCT] = { "offset_groups_for_90pct", "t" },
        [BUS_CONTIG_OFFSET_GROUPS_FOR_99PCT] = { "offset_groups_for_99pct", "t" },
        [BUS_CONTIG_OFFSET_GROUPS_TOP_BYTES] = { "offset_groups_top_bytes", "at" },
};
assert_cc(ELEMENTSOF(bus_contig_fields) == _BUS_CONTIG_FIELD_MAX);

const BusField bus_contig_node_fields[_BUS_CONTIG_NODE_FIELD_MAX] = {
        [BUS_CONTIG_NODE_ROLE] = { "role", "s" },
        [BUS_CONTIG_NODE_NODE] = { "node", "i" },
        [BUS_CONTIG_NODE_BYTES] = { "bytes", "t" },
        [BUS_CONTIG_NODE_HUGE_BYTES] = { "huge_bytes", "t" },
        [BUS_CONTIG_NODE_RUNS] = { "runs", "t" },
        [BUS_CONTIG_NODE_LARGEST_RUN_BYTES] = { "largest_run_bytes", "t" },
};
assert_cc(ELEMENTSOF(bus_contig_node_fields) == _BUS_CONTIG_NODE_FIELD_MAX);

const BusField bus_counter_fields[_BUS_COUNTER_FIELD_MAX] = {
        [BUS_COUNTER_CYCLES] = { "cycles", "t" },
        [BUS_COUNTER_PAGES_PROMOTED] = { "pages_promoted", "t" },
        [BUS_COUNTER_PAGES_DEMOTED] = { "pages_demoted", "t" },
        [BUS_COUNTER_PAGES_FAILED] = { "pages_failed", "t" },
        [BUS_COUNTER_BYTES_MIGRATED] = { "bytes_migrated", "t" },
        [BUS_COUNTER_RELOADS] = { "reloads", "t" },
        [BUS_COUNTER_RELOAD_FAILURES] = { "reload_failures", "t" },
        [BUS_COUNTER_PLANS] = { "plans", "t" },
        [BUS_COUNTER_ROUNDS] = { "migration_rounds", "t" },
        [BUS_COUNTER_BYTES_PROMOTED] = { "bytes_promoted", "t" },
        [BUS_COUNTER_BYTES_DEMOTED] = { "bytes_demoted", "t" },
#define COUNTER_FAILED(ID, WORD, KEY, WHAT) [BUS_COUNTER_PAGES_FAILED_##ID] = { "pages_failed_" KEY, "t" },
        MIGRATE_FAILURES(COUNTER_FAILED)
#undef COUNTER_FAILED
        [BUS_COUNTER_PAGES_DROPPED] = { "pages_dropped", "t" },
        [BUS_COUNTER_PAGES_WOULD_MOVE] = { "pages_would_move", "t" },
        [BUS_COUNTER_PAGES_ALREADY] = { "pages_already", "t" },
        [BUS_COUNTER_PAGES_QUERIED] = { "pages_queried", "t" },
        [BUS_COUNTER_CYCLE_USEC] = { "cycle_usec", "t" },
        [BUS_COUNTER_SAMPLE_ERRORS] = { "sample_errors", "t" },
        [BUS_COUNTER_METRICS_FILE_ERRORS] = { "metrics_file_errors", "t" },
};
assert_cc(ELEMENTSOF(bus_counter_fields) == _BUS_COUNTER_FIELD_MAX);

const BusField bus_heatmap_fields[_BUS_HEATMAP_FIELD_MAX] = {
        [BUS_HEATMAP_ID] = { "id", "s" },
        [BUS_HEATMAP_NAME] = { "name", "s" },
        [BUS_HEATMAP_RANGE_BYTES] = { "range_bytes", "t" },
        [BUS_HEATMAP_CYCLES] = { "cycles", "t" },
};
assert_cc(ELEMENTSOF(bus_heatmap_fields) == _BUS_HEATMAP_FIELD_MAX);

const BusField bus_heat_range_fields[_BUS_HEAT_RANGE_FIELD_MAX] = {
        [BUS_HEAT_RANGE_GPA] = { "gpa", "t" },
        [BUS_HEAT_RANGE_RAM_BYTES] = { "ram_bytes", "t" },
        [BUS_HEAT_RANGE_HOT_BYTES] = { "hot_bytes", "t" },
        [BUS_HEAT_RANGE_WARM_BYTES] = { "warm_bytes", "t" },
        [BUS_HEAT_RANGE_COLD_BYTES] = { "cold_bytes", "t" },
        [BUS_HEAT_RANGE_DRAM_BYTES] = { "dram_bytes", "t" },
        [BUS_HEAT_RANGE_CXL_BYTES] = { "cxl_bytes", "t" },
        [BUS_HEAT_RANGE_HEAT_BUCKETS] = { "heat_buckets_pages", "at" },
};
assert_cc(ELEMENTSOF(bus_heat_range_fields) == _BUS_HEAT_RANGE_FIELD_MAX);

const BusField bus_plan_fields[_BUS_PLAN_FIELD_MAX] = {
        [BUS_PLAN_ID] = { "id", "s" },
        [BUS_PLAN_NAME] = { "name", "s" },
        [BUS_PLAN_CYCLE] = { "cycle", "t" },
        [BUS_PLAN_COMPUTED_AT] = { "computed_at_usec", "t" },
        [BUS_PLAN_CYCLE_BUDGET_BYTES] = { "cycle_budget_bytes", "t" },
        [BUS_PLAN_POLICY_KIND] = { "policy_kind", "s" },
        [BUS_PLAN_POLICY] = { "policy", "s" },
        [BUS_PLAN_WEIGHT] = { "weight", "u" },
        [BUS_PLAN_DRAM_BUDGET_BYTES] = { "dram_budget_bytes", "t" },
        [BUS_PLAN_FROZEN] = { "frozen", "b" },
        [BUS_PLAN_SUBMITTED] = { "submitted", "b" },
        [BUS_PLAN_RAM_BYTES] = { "ram_bytes", "t" },
        [BUS_PLAN_DRAM_BYTES] = { "dram_bytes", "t" },
        [BUS_PLAN_CXL_BYTES] = { "cxl_bytes", "t" },
        [BUS_PLAN_UNKNOWN_BYTES] = { "unknown_bytes", "t" },
        [BUS_PLAN_DRAM_TARGET_BYTES] = { "dram_target_bytes", "t" },
        [BUS_PLAN_PROMOTE_BYTES] = { "promote_bytes", "t" },
        [BUS_PLAN_DEMOTE_BYTES] = { "demote_bytes", "t" },
        [BUS_PLAN_QUERY_BYTES] = { "query_bytes", "t" },
        [BUS_PLAN_HOT_MIN_HEAT] = { "hot_min_heat", "u" },
        [BUS_PLAN_COLD_MAX_HEAT] = { "cold_max_heat", "u" },
        [BUS_PLAN_REASON] = { "reason", "s" },
        [BUS_PLAN_ROUND] = { "round", "t" },
        [BUS_PLAN_ROUND_STATE] = { "round_state", "s" },
        [BUS_PLAN_ROUND_PAGES_PROMOTED] = { "round_pages_promoted", "t" },
        [BUS_PLAN_ROUND_PAGES_DEMOTED] = { "round_pages_demoted", "t" },
        [BUS_PLAN_ROUND_PAGES_FAILED] = { "round_pages_failed", "t" },
        [BUS_PLAN_ROUND_PAGES_DROPPED] = { "round_pages_dropped", "t" },
        [BUS_PLAN_ROUND_PAGES_WOULD_MOVE] = { "round_pages_would_move", "t" },
        [BUS_PLAN_ROUND_PAGES_ALREADY] = { "round_pages_already", "t" },
};
assert_cc(ELEMENTSOF(bus_plan_fields) == _BUS_PLAN_FIELD_MAX);

const BusField bus_plan_move_fields[_BUS_PLAN_MOVE_FIELD_MAX] = {
        [BUS_PLAN_MOVE_DIRECTION] = { "direction", "s" },
        [BUS_PLAN_MOVE_FROM_NODE] = { "from_node", "i" },
        [BUS_PLAN_MOVE_TO_NODE] = { "to_node", "i" },
        [BUS_PLAN_MOVE_MOVES] = { "moves", "t" },
        [BUS_PLAN_MOVE_PAGES] = { "pages", "t" },
        [BUS_PLAN_MOVE_HUGE_UNITS] = { "huge_units", "t" },
        [BUS_PLAN_MOVE_NEEDS_ROOM_PAGES] = { "needs_room_pages", "t" },
        [BUS_PLAN_MOVE_HEAT_MIN] = { "heat_min", "u" },
        [BUS_PLAN_MOVE_HEAT_MAX] = { "heat_max", "u" },
};
assert_cc(ELEMENTSOF(bus_plan_move_fields) == _BUS_PLAN_MOVE_FIELD_MAX);

const BusField bus_round_fields[_BUS_ROUND_FIELD_MAX] = {
        [BUS_ROUND_SEQ] = { "seq", "t" },
        [BUS_ROUND_END] = { "end", "s" },
        [BUS_ROUND_DRY_RUN] = { "dry_run", "b" },
        [BUS_ROUND_DURATION_USEC] = { "duration_usec", "t" },
        [BUS_ROUND_BUDGET_BYTES] = { "budget_bytes", "t" },
        [BUS_ROUND_VMS] = { "vms", "u" },
        [BUS_ROUND_PAGES_PROMOTED] = { "pages_promoted", "t" },
        [BUS_ROUND_PAGES_DEMOTED] = { "pages_demoted", "t" },
        [BUS_ROUND_PAGES_FAILED] = { "pages_failed", "t" },
        [BUS_ROUND_PAGES_DROPPED] = { "pages_dropped", "t" },
        [BUS_ROUND_PAGES_WOULD_MOVE] = { "pages_would_move", "t" },
};
assert_cc(ELEMENTSOF(bus_round_fields) == _BUS_ROUND_FIELD_MAX);

const BusField *bus_field_find(const BusField *fields, size_t n, const char *key) {
        for (size_t i = 0; i < n; i++)
                if (fields[i].key && strcmp(fields[i].key, key) == 0)
                        return &fields[i];
        return NULL;
}
