/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

#include "vtism/migrate-failures.h"

/*
 * The D-Bus API of vtismd, shared by the daemon (src/daemon/bus.c) and vtismctl: bus name, object
 * path, interface, error names, property names, and the layout of every record. vtismd(8)
 * documents it for users; this header is where the code takes it from.
 *
 * Wire format:
 *   - Scalars are properties of their own (Mode "s", DryRun "b", SampleIntervalUSec "t", ...).
 *   - Every record that may grow is an a{sv} dict, and a list of records is aa{sv}: VMs (one dict
 *     per VM, as systemd-machined has one object per machine), Nodes, Trackers, Counters (one
 *     dict), and both parts of GetHeatmap()'s reply. The keys and their D-Bus types are the
 *     tables below. A newer vtismd may ADD keys; it never changes the type or meaning of a key.
 *     A key whose value is unknown or does not apply is left out (uuid of a VM without one,
 *     error of a VM that has none, home_node of a VM without one), never sent as a sentinel.
 *     A reader takes the keys it knows, skips the others and says so (vtismctl: one line on
 *     stderr, "upgrade vtismctl"); it never drops a record for an unknown key.
 *   - Every string is valid UTF-8. Names, UUIDs and command lines come from processes any local
 *     user controls, and config strings and error texts may hold any bytes: vtismd escapes each
 *     byte of an invalid sequence as the four characters \xNN (utf8.h), at one place.
 *   - The JSON of "vtismctl --json" uses the same keys.
 *
 * Adding a key: append it to the enum and table here (the wire knows keys by name, so order is
 * free), send it in bus.c with the dict_*() helper of its type (leave it out when unknown),
 * decide it in metrics.c (a metric_defs[] entry, a label, or metric_unexported[] with why;
 * test-metrics fails until you do; METRIC_WATCH_RATE puts its rate in 'vtismctl top'), and
 * document it in vtismd(8). vtismctl reads every key of these tables generically
 * (bus-snapshot.h): --json shows it with no code (null when absent); a text column is one
 * table_add_column() in vtismctl.c.
 * Adding a scalar property: its macro above, bus_status_fields[], the vtable in bus.c, its JSON
 * name in vtismctl.c (status_json[]) and metrics.c.
 * Adding a kind of record: a new enum and table here, an aa{sv}/a{sv} property or method, a
 * BusRecordKind in bus-snapshot.h.
 *
 * Access: every property, GetHeatmap, GetPlan and GetContiguity are open to every user; Reload,
 * Pause, Resume and SetDryRun need uid 0 and CAP_SYS_ADMIN in the caller's effective set (vtismd
 * checks both; the bus policy systemd/org.vtism1.conf lets only root call them). A new read method must be
 * allowed in that policy file, a new mutating one must call check_privileged() (bus.c).
 */

#define VTISM_BUS_NAME      "org.vtism1"
#define VTISM_BUS_PATH      "/org/vtism1"
#define VTISM_BUS_INTERFACE "org.vtism1.Manager"

#define VTISM_BUS_ERROR_CONFIG_INVALID "org.vtism1.Error.ConfigInvalid" /* Reload: the old config stays */
#define VTISM_BUS_ERROR_NO_SUCH_VM     "org.vtism1.Error.NoSuchVM"
#define VTISM_BUS_ERROR_NOT_SAMPLED    "org.vtism1.Error.NotSampled"    /* the VM has no heat map (yet) */
#define VTISM_BUS_ERROR_NOT_PLANNED    "org.vtism1.Error.NotPlanned"    /* no plan covered the VM (yet) */
#define VTISM_BUS_ERROR_SCAN_FAILED    "org.vtism1.Error.ScanFailed"    /* GetContiguity: the scan failed */

/* Properties of VTISM_BUS_INTERFACE; their types are in the vtable (bus.c) and vtismd(8). */
#define VTISM_PROP_VERSION              "Version"            /* s, const */
#define VTISM_PROP_MODE                 "Mode"               /* s: "tiering", "monitor-only" */
#define VTISM_PROP_MODE_REASON          "ModeReason"         /* s */
#define VTISM_PROP_TRACKER              "Tracker"            /* s: the configured tracker */
#define VTISM_PROP_CONFIG_FILE          "ConfigFile"         /* s, const */
#define VTISM_PROP_LIBVIRT_URI          "LibvirtURI"         /* s */
#define VTISM_PROP_LIBVIRT_STATE        "LibvirtState"       /* s: the connection, one line; "" if none; no signal */
#define VTISM_PROP_LAST_RELOAD_ERROR    "LastReloadError"    /* s, "" after a good (re)load */
#define VTISM_PROP_SAMPLING_PAUSED      "SamplingPaused"     /* b */
#define VTISM_PROP_MIGRATION_PAUSED     "MigrationPaused"    /* b */
#define VTISM_PROP_DRY_RUN              "DryRun"             /* b */
#define VTISM_PROP_SAMPLE_INTERVAL_USEC "SampleIntervalUSec" /* t */
#define VTISM_PROP_MIGRATE_RATE_LIMIT   "MigrateRateLimit"   /* t, bytes per second, 0 unlimited */
#define VTISM_PROP_STARTED_AT           "StartedAt"          /* t, CLOCK_REALTIME usec, const */
#define VTISM_PROP_LAST_CYCLE_AT        "LastCycleAt"        /* t, CLOCK_REALTIME usec, 0 before the first */
#define VTISM_PROP_NODES                "Nodes"              /* aa{sv}: bus_node_fields */
#define VTISM_PROP_DISTANCES            "Distances"          /* aau: node distance matrix, Nodes' order */
#define VTISM_PROP_COUNTERS             "Counters"           /* a{sv}: bus_counter_fields */
#define VTISM_PROP_ACTIVE_TRACKER       "ActiveTracker"      /* s, "" if none is usable */
#define VTISM_PROP_ACTIVE_TRACKER_REASON "ActiveTrackerReason" /* s: why that one (or none), one clause per
                                                               * better tracker passed over, e.g.
                                                               * "damon+softdirty (auto); unusable: idle_pages:
                                                               * kernel lacks ...; page_idle: ..." */
#define VTISM_PROP_TRACKERS             "Trackers"           /* aa{sv}: bus_tracker_fields */
#define VTISM_PROP_VMS                  "VMs"                /* aa{sv}: bus_vm_fields */
#define VTISM_PROP_OFFLINE_NODES        "OfflineNodes"       /* aa{sv}: bus_node_fields (id and the device keys):
                                                              * nodes that are not online but a DAX device
                                                              * targets (memory not made system RAM yet) */
#define VTISM_PROP_CONTIGUITY          "Contiguity"         /* aa{sv}: bus_contig_fields with id and name:
                                                              * the summaries vtismd has of each VM ("now",
                                                              * "before_tiering"), never a scan */
#define VTISM_PROP_MIGRATION_STATE      "MigrationState"     /* s: "idle", "moving", "paused", "dry-run",
                                                              * "monitor-only" */

/*
 * The scalar properties as a table, for readers that take them generically (bus-snapshot.h):
 * key = the property name, type = its D-Bus type. Adding a scalar property: its macro above, an
 * entry here, the vtable in bus.c; vtismctl's JSON name for it (vtismctl.c) and vtismd(8).
 */
typedef enum BusStatusField {
        BUS_STATUS_VERSION,
        BUS_STATUS_MODE,
        BUS_STATUS_MODE_REASON,
        BUS_STATUS_TRACKER,
        BUS_STATUS_CONFIG_FILE,
        BUS_STATUS_LIBVIRT_URI,
        BUS_STATUS_LIBVIRT_STATE,
        BUS_STATUS_LAST_RELOAD_ERROR,
        BUS_STATUS_SAMPLING_PAUSED,
        BUS_STATUS_MIGRATION_PAUSED,
        BUS_STATUS_DRY_RUN,
        BUS_STATUS_SAMPLE_INTERVAL_USEC,
        BUS_STATUS_MIGRATE_RATE_LIMIT,
        BUS_STATUS_STARTED_AT,
        BUS_STATUS_LAST_CYCLE_AT,
        BUS_STATUS_ACTIVE_TRACKER,
        BUS_STATUS_MIGRATION_STATE,
        BUS_STATUS_ACTIVE_TRACKER_REASON,
        _BUS_STATUS_FIELD_MAX,
} BusStatusField;

/* Methods. GetHeatmap(s vm) -> (a{sv} bus_heatmap_fields, aa{sv} bus_heat_range_fields).
 * GetPlan(s vm) -> (a{sv} bus_plan_fields, aa{sv} bus_plan_move_fields): the last plan that covered
 * the VM, its moves summed per (direction, from, to), and what its migration round did. */
#define VTISM_METHOD_GET_HEATMAP "GetHeatmap"
#define VTISM_METHOD_GET_PLAN    "GetPlan"
#define VTISM_METHOD_RELOAD      "Reload"
#define VTISM_METHOD_PAUSE       "Pause"      /* (s what): "sampling", "migration", "all" */
#define VTISM_METHOD_RESUME      "Resume"     /* (s what) */
#define VTISM_METHOD_SET_DRY_RUN "SetDryRun"  /* (b enable) */
/* GetContiguity(s vm, t max_age_usec) -> (a{sv} bus_contig_vm_fields, aa{sv} bus_contig_fields,
 * aa{sv} bus_contig_node_fields): the VM's contiguity summaries ("now" and "before_tiering"), a
 * scan first when the newest is older than max_age_usec (raised to a floor, vtismd(8)); the reply
 * comes when the scan is done. Open to every user. */
#define VTISM_METHOD_GET_CONTIGUITY "GetContiguity"

/* Signals. MigrationRound(a{sv} bus_round_fields): a migration round that had moves ended. */
#define VTISM_SIGNAL_MIGRATION_ROUND "MigrationRound"

/* One key of a record: its name and its D-Bus type ("s", "t", "u", "i", "b", "ai", "at"). */
typedef struct BusField {
        const char *key;
        const char *type;
} BusField;

/* A VM (VMs property). */
typedef enum BusVmField {
        BUS_VM_ID,                /* s: the libvirt UUID of a libvirt domain, else "pid-N"; unique */
        BUS_VM_NAME,              /* s: libvirt's name, QEMU's -name if usable (vm.h), or "qemu-N" / "EXE-N" */
        BUS_VM_UUID,              /* s: absent if unknown or not usable */
        BUS_VM_PID,               /* u: the QEMU (or configured) process */
        BUS_VM_SOURCES,           /* s: "libvirt", "proc" or "libvirt,proc" */
        BUS_VM_STATE,             /* s: "new", "tracked", "untrackable", "ignored" */
        BUS_VM_ERROR,             /* s: why untrackable or ignored; absent if not */
        BUS_VM_RAM_BYTES,         /* t: guest RAM located */
        BUS_VM_RESIDENCY_KNOWN,   /* b: dram_bytes/cxl_bytes come from a complete placement pass */
        BUS_VM_DRAM_BYTES,        /* t */
        BUS_VM_CXL_BYTES,         /* t */
        BUS_VM_HOT_BYTES,         /* t */
        BUS_VM_WARM_BYTES,        /* t */
        BUS_VM_COLD_BYTES,        /* t */
        BUS_VM_CYCLES,            /* t: cycles sampled */
        BUS_VM_HOME_NODE,         /* i: absent if none */
        BUS_VM_HOME_REASON,       /* s: "numatune", "vcpu pinning", "most pages", "first DRAM node" */
        BUS_VM_POLICY,            /* s: where the policy that applies is, "FILE:LINE", or "default" */
        BUS_VM_DRAM_BUDGET_BYTES, /* t: that policy's DRAM budget, a percentage of guest RAM resolved;
                                   * absent while guest RAM is not located */
        BUS_VM_DRAM_TARGET_BYTES, /* t: what the last plan wants on DRAM; absent before a plan */
        BUS_VM_NOT_TIERED,        /* s: why it gets no moves; absent when it is tiered */
        BUS_VM_ALLOWED_NODES,     /* s: the nodes its QEMU may use (cpuset.mems), e.g. "0-1"; absent if unknown */
        BUS_VM_MIGRATION_ROUNDS,  /* t: migration rounds that had moves for it */
        BUS_VM_PAGES_PROMOTED,    /* t: 4 KiB pages moved CXL -> DRAM, since it was found */
        BUS_VM_PAGES_DEMOTED,     /* t */
        BUS_VM_BYTES_PROMOTED,    /* t */
        BUS_VM_BYTES_DEMOTED,     /* t */
        BUS_VM_PAGES_FAILED,      /* t: every failure, then by reason (migrate-failures.h): */
#define BUS_VM_FAILED_ENUM(ID, WORD, KEY, WHAT) BUS_VM_PAGES_FAILED_##ID, /* t: "pages_failed_" KEY */
        MIGRATE_FAILURES(BUS_VM_FAILED_ENUM)
#undef BUS_VM_FAILED_ENUM
        BUS_VM_PAGES_WOULD_MOVE,  /* t: dry-run */
        BUS_VM_IDENTITY_CONFLICT, /* s: what the command line claims (name, uuid) that is not used, and
                                   * why (another VM has it, the VM is untrusted); absent if none */
        BUS_VM_TRACKERS,          /* s: which trackers feed it, "+"-joined: "idle_pages", "damon+softdirty",
                                   * "damon" (soft-dirty cannot follow it), ..., or "none"; absent while new */
        BUS_VM_TRACKER_DETAIL,    /* s: and why, in words: the tracker's account of the VM (the parts of a
                                   * combination, what each saw), or why none; absent while new */
        /* The CXL access share (slo.h): heat-weighted share of sampled accesses hitting pages on
         * CXL nodes, in basis points (10000 = 100 %); absent before an access was sampled. */
        BUS_VM_CXL_ACCESS_BP,     /* u: the estimate */
        BUS_VM_CXL_ACCESS_MIN_BP, /* u: its bounds (placement not known; damon: regions on both tiers) */
        BUS_VM_CXL_ACCESS_MAX_BP, /* u */
        BUS_VM_CXL_ACCESS_AGE,    /* u: placement passes since it was computed: 0 for a VM with a service
                                   * level (every pass); others get it every 10th pass (staggered) */
        BUS_VM_SLO_CAP_BP,        /* u: the policy's cxl_access_max_percent x 100; absent without a service level */
        BUS_VM_SLO_MET,           /* b: the service level is met; absent without one, or while the VM has
                                   * been frozen since it was found (no update yet) */
        BUS_VM_SLO_STATE,         /* s: "met", "not met: <why>"; absent as slo_met */
        BUS_VM_RUN_STATE,         /* s: "running", "paused", "migrating out", "migrating in" (libvirt's
                                   * word; "running" without it); not running: neither sampled nor moved */
        BUS_VM_RUN_STATE_REASON,  /* s: libvirt's words for it, e.g. "libvirt: paused (user)"; absent when running */
        _BUS_VM_FIELD_MAX,
} BusVmField;
extern const BusField bus_vm_fields[_BUS_VM_FIELD_MAX];

extern const BusField bus_status_fields[_BUS_STATUS_FIELD_MAX];

/* A NUMA node (Nodes property). */
typedef enum BusNodeField {
        BUS_NODE_ID,               /* i */
        BUS_NODE_TIER,             /* s: "dram", "cxl" */
        BUS_NODE_CLASSIFIED_BY,    /* s: "memory-tier", "has-cpus", "cpu-less", "config" */
        BUS_NODE_MEMORY_TIER,      /* i: the kernel's memory tier, absent if none */
        BUS_NODE_CPUS,             /* s: cpulist, "" for none */
        BUS_NODE_TOTAL_BYTES,      /* t */
        BUS_NODE_FREE_BYTES,       /* t */
        BUS_NODE_DEMOTION_TARGETS, /* ai: CXL nodes, nearest first */
        /* What is behind the node (cxl-devices.h), read at start and on every reload: */
        BUS_NODE_KIND,             /* s: "dram", "cxl", "pmem", "soft-reserved", "emulated", "boot-memory";
                                    * absent if the devices could not be read */
        BUS_NODE_DESCRIPTION,      /* s: the devices behind it in one sentence */
        BUS_NODE_CXL_MEMDEVS,      /* s: CXL memory devices of its regions, "mem0,mem1"; absent if none */
        BUS_NODE_CXL_REGIONS,      /* s: CXL regions holding its memory, "region0"; absent if none */
        BUS_NODE_CXL_WINDOW,       /* s: the CXL fixed memory window (root decoder) it is in; absent if none */
        BUS_NODE_DAX_DEVICES,      /* s: DAX devices targeting it, "dax0.0"; absent if none */
        BUS_NODE_DAX_MODES,        /* s: their modes in that order, "system-ram", "devdax", "disabled", "other" */
        BUS_NODE_DAX_BYTES,        /* t: their total size; absent without DAX devices */
        BUS_NODE_ONLINE_BYTES,     /* t: memory blocks online (CPU-less nodes; absent when unknown) */
        BUS_NODE_MOVABLE_BYTES,    /* t: of those, onlined movable (ZONE_MOVABLE: can be offlined again) */
        _BUS_NODE_FIELD_MAX,
} BusNodeField;
extern const BusField bus_node_fields[_BUS_NODE_FIELD_MAX];

/* An access tracker (Trackers property). */
typedef enum BusTrackerField {
        BUS_TRACKER_NAME,   /* s */
        BUS_TRACKER_USABLE, /* b */
        BUS_TRACKER_REASON, /* s: why not usable; absent if usable */
        _BUS_TRACKER_FIELD_MAX,
} BusTrackerField;
extern const BusField bus_tracker_fields[_BUS_TRACKER_FIELD_MAX];

/* GetContiguity(), first part: the VM. */
typedef enum BusContigVmField {
        BUS_CONTIG_VM_ID,                     /* s */
        BUS_CONTIG_VM_NAME,                   /* s */
        BUS_CONTIG_VM_PID,                    /* u */
        BUS_CONTIG_VM_RAM_BYTES,              /* t: guest RAM located */
        BUS_CONTIG_VM_MOVED_BYTES,            /* t: what vtism moved of it so far (promoted + demoted) */
        BUS_CONTIG_VM_ANCHOR_BYTES,           /* t: global.contiguity_anchor now */
        BUS_CONTIG_VM_BEFORE_TIERING_PENDING, /* b: no before-tiering summary yet, one will be taken */
        BUS_CONTIG_VM_BEFORE_TIERING_ERROR,   /* s: why there is none and will be none; absent otherwise */
        _BUS_CONTIG_VM_FIELD_MAX,
} BusContigVmField;
extern const BusField bus_contig_vm_fields[_BUS_CONTIG_VM_FIELD_MAX];

/* GetContiguity(), second part: one dict per summary (contiguity.h has the definitions). Sizes in
 * bytes are 4 KiB pages x 4096; "top" arrays are what the largest 32, 64, 128 and 256 entries cover. */
typedef enum BusContigField {
        BUS_CONTIG_ROLE,                      /* s: "now" (the newest), "before_tiering" */
        BUS_CONTIG_TRIGGER,                   /* s: why it was taken: "request", "tiering-start", "migration" */
        BUS_CONTIG_TAKEN_AT,                  /* t: CLOCK_REALTIME usec, when the scan ended */
        BUS_CONTIG_AGE_USEC,                  /* t: how long ago that was, when vtismd replied */
        BUS_CONTIG_SCAN_USEC,                 /* t: how long the scan took */
        BUS_CONTIG_BUSY_USEC,                 /* t: of which in its slices */
        BUS_CONTIG_MOVED_BYTES,               /* t: what vtism had moved of the VM when it started */
        BUS_CONTIG_ANCHOR_BYTES,              /* t: the anchor size it used */
        BUS_CONTIG_RAM_BYTES,                 /* t: guest RAM scanned */
        BUS_CONTIG_PRESENT_BYTES,             /* t: backed by host memory (the denominator of the percentages) */
        BUS_CONTIG_ZERO_BYTES,                /* t: mapped to the shared zero page (only ever read) */
        BUS_CONTIG_ABSENT_BYTES,              /* t: not backed (never touched, swapped out) */
        BUS_CONTIG_MAPPED_4K_BYTES,           /* t: present, not inside a 2 MiB or 1 GiB mapping */
        BUS_CONTIG_THP_2M,                    /* t: 2 MiB transparent huge page mappings */
        BUS_CONTIG_HUGETLB_2M,                /* t: 2 MiB hugetlbfs mappings */
        BUS_CONTIG_HUGETLB_1G,                /* t: 1 GiB hugetlbfs mappings */
        BUS_CONTIG_HUGE_MISMATCH_BYTES,       /* t: in huge host pages at guest addresses that cannot use them */
        BUS_CONTIG_PMD_MAPPING_KNOWN,         /* b: the kernel said which ranges are PMD-mapped (PAGEMAP_SCAN) */
        BUS_CONTIG_UNKNOWN_NODE_BYTES,        /* t: present on no node vtismd knows */
        BUS_CONTIG_RUNS,                      /* t: range runs: consecutive in guest- and host-physical memory */
        BUS_CONTIG_LARGEST_RUN_BYTES,         /* t */
        BUS_CONTIG_RUNS_FOR_80PCT,            /* t: runs needed, largest first, for 80 % of present */
        BUS_CONTIG_RUNS_FOR_90PCT,            /* t */
        BUS_CONTIG_RUNS_FOR_99PCT,            /* t */
        BUS_CONTIG_RUNS_TOP_BYTES,            /* at */
        BUS_CONTIG_ANCHOR_ENTRIES,            /* t: anchor entries (anchor_bytes) */
        BUS_CONTIG_ANCHOR_COVERED_BYTES,      /* t: covered by anchor entries proper */
        BUS_CONTIG_LARGEST_ANCHOR_ENTRY_BYTES,/* t */
        BUS_CONTIG_ANCHOR_ENTRIES_FOR_80PCT,  /* t */
        BUS_CONTIG_ANCHOR_ENTRIES_FOR_90PCT,  /* t */
        BUS_CONTIG_ANCHOR_ENTRIES_FOR_99PCT,  /* t */
        BUS_CONTIG_ANCHOR_TOP_BYTES,          /* at */
        BUS_CONTIG_OFFSET_GROUPS,             /* t: distinct host-minus-guest offsets (overflow: more than this - 1) */
        BUS_CONTIG_OFFSET_GROUPS_OVERFLOW,    /* b: too many to count; the keys below are then absent */
        BUS_CONTIG_LARGEST_OFFSET_GROUP_BYTES,/* t */
        BUS_CONTIG_OFFSET_GROUPS_FOR_80PCT,   /* t */
        BUS_CONTIG_OFFSET_GROUPS_FOR_90PCT,   /* t */
        BUS_CONTIG_OFFSET_GROUPS_FOR_99PCT,   /* t */
        BUS_CONTIG_OFFSET_GROUPS_TOP_BYTES,   /* at */
        BUS_CONTIG_ID,                        /* s: the VM's id (the Contiguity property only) */
        BUS_CONTIG_NAME,                      /* s: its name (the Contiguity property only) */
        _BUS_CONTIG_FIELD_MAX,
} BusContigField;
extern const BusField bus_contig_fields[_BUS_CONTIG_FIELD_MAX];

/* GetContiguity(), third part: per summary (role) and host node, ascending node. */
typedef enum BusContigNodeField {
        BUS_CONTIG_NODE_ROLE,                 /* s: the summary's role */
        BUS_CONTIG_NODE_NODE,                 /* i: absent for memory on no known node */
        BUS_CONTIG_NODE_BYTES,                /* t: present there */
        BUS_CONTIG_NODE_HUGE_BYTES,           /* t: of which inside 2 MiB / 1 GiB mappings */
        BUS_CONTIG_NODE_RUNS,                 /* t: range runs cut at node changes (runs per GiB: runs / (bytes / GiB)) */
        BUS_CONTIG_NODE_LARGEST_RUN_BYTES,    /* t */
        _BUS_CONTIG_NODE_FIELD_MAX,
} BusContigNodeField;
extern const BusField bus_contig_node_fields[_BUS_CONTIG_NODE_FIELD_MAX];

/* The Counters property: one dict, every value "t", counted since vtismd started; pages are 4 KiB. */
typedef enum BusCounterField {
        BUS_COUNTER_CYCLES,
        BUS_COUNTER_PAGES_PROMOTED,
        BUS_COUNTER_PAGES_DEMOTED,
        BUS_COUNTER_PAGES_FAILED,        /* every failure, by reason below */
        BUS_COUNTER_BYTES_MIGRATED,      /* promoted + demoted */
        BUS_COUNTER_RELOADS,
        BUS_COUNTER_RELOAD_FAILURES,
        BUS_COUNTER_PLANS,               /* cycles that planned */
        BUS_COUNTER_ROUNDS,              /* migration rounds that had moves */
        BUS_COUNTER_BYTES_PROMOTED,
        BUS_COUNTER_BYTES_DEMOTED,
#define BUS_COUNTER_FAILED_ENUM(ID, WORD, KEY, WHAT) BUS_COUNTER_PAGES_FAILED_##ID, /* "pages_failed_" KEY */
        MIGRATE_FAILURES(BUS_COUNTER_FAILED_ENUM) /* by reason: migrate-failures.h */
#undef BUS_COUNTER_FAILED_ENUM
        BUS_COUNTER_PAGES_DROPPED,       /* planned, never attempted (replaced, budget, VM gone, ...) */
        BUS_COUNTER_PAGES_WOULD_MOVE,    /* dry-run */
        BUS_COUNTER_PAGES_ALREADY,       /* found where a move wanted them */
        BUS_COUNTER_PAGES_QUERIED,       /* placement queries */
        BUS_COUNTER_CYCLE_USEC,           /* time spent in cycles (CLOCK_MONOTONIC) */
        BUS_COUNTER_SAMPLE_ERRORS,        /* tracker reads of a VM that failed */
        BUS_COUNTER_METRICS_FILE_ERRORS,  /* failed writes of global.metrics_textfile */
        _BUS_COUNTER_FIELD_MAX,
} BusCounterField;
extern const BusField bus_counter_fields[_BUS_COUNTER_FIELD_MAX];

/* GetHeatmap(), first part: the VM. */
typedef enum BusHeatmapField {
        BUS_HEATMAP_ID,          /* s */
        BUS_HEATMAP_NAME,        /* s */
        BUS_HEATMAP_RANGE_BYTES, /* t: size of each guest-physical range */
        BUS_HEATMAP_CYCLES,      /* t */
        _BUS_HEATMAP_FIELD_MAX,
} BusHeatmapField;
extern const BusField bus_heatmap_fields[_BUS_HEATMAP_FIELD_MAX];

/* GetHeatmap(), second part: one dict per guest-physical range holding RAM, ascending gpa. */
typedef enum BusHeatRangeField {
        BUS_HEAT_RANGE_GPA,          /* t */
        BUS_HEAT_RANGE_RAM_BYTES,    /* t */
        BUS_HEAT_RANGE_HOT_BYTES,    /* t */
        BUS_HEAT_RANGE_WARM_BYTES,   /* t */
        BUS_HEAT_RANGE_COLD_BYTES,   /* t */
        BUS_HEAT_RANGE_DRAM_BYTES,   /* t */
        BUS_HEAT_RANGE_CXL_BYTES,    /* t */
        BUS_HEAT_RANGE_HEAT_BUCKETS, /* at: pages per heat bucket (heat / 32), coldest first */
        _BUS_HEAT_RANGE_FIELD_MAX,
} BusHeatRangeField;
extern const BusField bus_heat_range_fields[_BUS_HEAT_RANGE_FIELD_MAX];

/* GetPlan(), first part: the VM's last plan and its round. */
typedef enum BusPlanField {
        BUS_PLAN_ID,                  /* s */
        BUS_PLAN_NAME,                /* s */
        BUS_PLAN_CYCLE,               /* t: the daemon cycle that made it */
        BUS_PLAN_COMPUTED_AT,         /* t: CLOCK_REALTIME usec */
        BUS_PLAN_CYCLE_BUDGET_BYTES,  /* t: bytes the whole plan (all VMs) may move */
        BUS_PLAN_POLICY_KIND,         /* s: "budget", "pin", "never", "slo" */
        BUS_PLAN_POLICY,              /* s: "FILE:LINE" or "default" */
        BUS_PLAN_WEIGHT,              /* u */
        BUS_PLAN_DRAM_BUDGET_BYTES,   /* t: policy "budget" only */
        BUS_PLAN_FROZEN,              /* b: no moves for it this cycle (see reason) */
        BUS_PLAN_SUBMITTED,           /* b: false when migration was paused */
        BUS_PLAN_RAM_BYTES,           /* t */
        BUS_PLAN_DRAM_BYTES,          /* t: on DRAM when planned, as far as known */
        BUS_PLAN_CXL_BYTES,           /* t */
        BUS_PLAN_UNKNOWN_BYTES,       /* t: placement not known to the planner */
        BUS_PLAN_DRAM_TARGET_BYTES,   /* t */
        BUS_PLAN_PROMOTE_BYTES,       /* t: planned */
        BUS_PLAN_DEMOTE_BYTES,        /* t */
        BUS_PLAN_QUERY_BYTES,         /* t: RAM whose placement it asked for */
        BUS_PLAN_HOT_MIN_HEAT,        /* u: heat >= this belongs on DRAM (256: nothing) */
        BUS_PLAN_COLD_MAX_HEAT,       /* u: heat <= this may go to CXL */
        BUS_PLAN_REASON,              /* s: in words */
        BUS_PLAN_ROUND,               /* t: the migration round that runs it; absent if none */
        BUS_PLAN_ROUND_STATE,         /* s: "running", "done", "replaced", "cancelled"; absent if none */
        BUS_PLAN_ROUND_PAGES_PROMOTED,/* t: what that round did for this VM (so far) */
        BUS_PLAN_ROUND_PAGES_DEMOTED, /* t */
        BUS_PLAN_ROUND_PAGES_FAILED,  /* t */
        BUS_PLAN_ROUND_PAGES_DROPPED, /* t */
        BUS_PLAN_ROUND_PAGES_WOULD_MOVE, /* t: dry-run */
        BUS_PLAN_ROUND_PAGES_ALREADY, /* t */
        _BUS_PLAN_FIELD_MAX,
} BusPlanField;
extern const BusField bus_plan_fields[_BUS_PLAN_FIELD_MAX];

/* GetPlan(), second part: the plan's moves of this VM summed per (direction, from, to). */
typedef enum BusPlanMoveField {
        BUS_PLAN_MOVE_DIRECTION,      /* s: "promote", "demote" */
        BUS_PLAN_MOVE_FROM_NODE,      /* i: absent: where each page is is queried first */
        BUS_PLAN_MOVE_TO_NODE,        /* i */
        BUS_PLAN_MOVE_MOVES,          /* t: runs of pages */
        BUS_PLAN_MOVE_PAGES,          /* t: 4 KiB pages */
        BUS_PLAN_MOVE_HUGE_UNITS,     /* t: of those, whole 2 MiB THPs */
        BUS_PLAN_MOVE_NEEDS_ROOM_PAGES, /* t: promotions that need the room earlier demotions make */
        BUS_PLAN_MOVE_HEAT_MIN,       /* u */
        BUS_PLAN_MOVE_HEAT_MAX,       /* u */
        _BUS_PLAN_MOVE_FIELD_MAX,
} BusPlanMoveField;
extern const BusField bus_plan_move_fields[_BUS_PLAN_MOVE_FIELD_MAX];

/* The MigrationRound signal. */
typedef enum BusRoundField {
        BUS_ROUND_SEQ,                /* t: 1, 2, ... */
        BUS_ROUND_END,                /* s: "done", "replaced" (a newer plan came), "cancelled" */
        BUS_ROUND_DRY_RUN,            /* b */
        BUS_ROUND_DURATION_USEC,      /* t */
        BUS_ROUND_BUDGET_BYTES,       /* t */
        BUS_ROUND_VMS,                /* u: VMs that had moves */
        BUS_ROUND_PAGES_PROMOTED,     /* t */
        BUS_ROUND_PAGES_DEMOTED,      /* t */
        BUS_ROUND_PAGES_FAILED,       /* t */
        BUS_ROUND_PAGES_DROPPED,      /* t */
        BUS_ROUND_PAGES_WOULD_MOVE,   /* t */
        _BUS_ROUND_FIELD_MAX,
} BusRoundField;
extern const BusField bus_round_fields[_BUS_ROUND_FIELD_MAX];

/* The field named key in a table, or NULL. */
const BusField *bus_field_find(const BusField *fields, size_t n, const char *key);
