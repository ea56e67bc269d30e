/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vtism/macro.h"

/*
 * /etc/vtism.conf, parsed with libconfig into a fresh VtConf. Pure apart from reading the file:
 * a failed parse leaves the caller's current config untouched. Defaults live in config.c (one
 * table of keys); conf/vtism.conf lists every key at its default.
 */

#define VTISM_CONFIG_PATH "/etc/vtism.conf"

typedef enum TrackerKind {
        TRACKER_AUTO,
        TRACKER_IDLE_PAGES,
        TRACKER_DAMON,
        TRACKER_PAGE_IDLE,
        TRACKER_SOFTDIRTY,
        _TRACKER_KIND_MAX,
        _TRACKER_KIND_INVALID = -22,
} TrackerKind;

const char *tracker_kind_to_string(TrackerKind k);
TrackerKind tracker_kind_from_string(const char *s);

/* syslog levels: LOG_ERR(3) .. LOG_DEBUG(7) */
const char *log_level_to_string(int level);
int log_level_from_string(const char *s);

typedef enum PolicyMatch {
        POLICY_MATCH_DEFAULT, /* the default policy: matches every VM no other policy matches */
        POLICY_MATCH_NAME,    /* libvirt domain name, fnmatch(3) glob */
        POLICY_MATCH_UUID,    /* libvirt/QEMU UUID, exact, case-insensitive */
        POLICY_MATCH_CMDLINE, /* fnmatch(3) glob against the QEMU command line joined by spaces */
        _POLICY_MATCH_MAX,
        _POLICY_MATCH_INVALID = -22,
} PolicyMatch;

const char *policy_match_to_string(PolicyMatch m);

/* A policy's size that may be a percentage of guest RAM (dram_min, dram_max). */
typedef struct VtRamSize {
        bool is_percent;
        uint64_t bytes;
        unsigned percent;             /* 0..100 */
} VtRamSize;

/* The size in bytes for a VM of ram_bytes: a percentage resolved (rounded down to 4 KiB pages). */
uint64_t vt_ram_size_bytes(const VtRamSize *s, uint64_t ram_bytes);

typedef struct VtPolicy {
        PolicyMatch match;
        char *pattern;                /* NULL for the default policy */
        /* DRAM budget: either bytes or a percentage of guest RAM (exactly one is in effect) */
        bool budget_is_percent;
        uint64_t dram_budget_bytes;
        unsigned dram_budget_percent; /* 0..100 */
        unsigned weight;              /* share of contended DRAM, 1..10000, default 100 */
        bool pin_dram;                /* keep all of this VM on DRAM, never demote */
        bool never_migrate;           /* leave this VM's pages where they are */
        /* A service level instead of a budget: at most this % of the VM's memory accesses served
         * from CXL (1..100), with a self-tuning DRAM target within [dram_min, dram_max] (slo.h);
         * 0 = none, the budget applies (default) */
        unsigned cxl_access_max_percent;
        VtRamSize dram_min;           /* default 0 */
        VtRamSize dram_max;           /* default 100% */
        const char *file;             /* the file it was defined in (the VtConf's path or one of
                                       * its dropins); NULL for the built-in default and strings */
        unsigned line;                /* where it was defined, 0 for the built-in default */
} VtPolicy;

/* processes = ( { exe = "…"; } , … ): a process to tier as if it were a VM (one match key). */
typedef struct VtProcess {
        int pid;           /* > 0: exactly this pid */
        char *exe;         /* fnmatch(3) glob against argv[0] */
        char *cmdline;     /* fnmatch(3) glob against the command line joined by spaces */
        unsigned line;
} VtProcess;

typedef struct VtConf {
        char *path;                          /* the file it came from, NULL for built-in defaults */
        char **dropins;                      /* PATH.d/\*.conf applied after it, in that order */
        size_t n_dropins;

        /* global { } */
        usec_t sample_interval_usec;         /* sample_interval_ms */
        TrackerKind tracker;
        uint64_t migrate_rate_limit_bytes;   /* per second; migrate_rate_limit_mbps; 0 = unlimited */
        bool dry_run;
        int log_level;
        unsigned dram_min_free_percent;      /* free-memory watermark on DRAM nodes */
        unsigned demotion_min_free_ratio;    /* % of a CXL node that must stay free to demote into */
        unsigned heat_decay_percent;         /* heat lost per cycle: heat = heat*(100-d)/100 + hits */
        uint64_t heat_range_bytes;           /* size of the GPA ranges of the heat histograms */
        char *libvirt_uri;
        char *metrics_textfile;              /* Prometheus textfile written each cycle; NULL: none */
        /* qemu_users: whose QEMU processes found in /proc (not through libvirt) are tiered: user
         * names or decimal uids, as written (resolved by the daemon); "*" alone = every user;
         * empty = none. Default: root and libvirt-qemu (the user libvirt runs QEMU as on Debian). */
        char **qemu_users;
        size_t n_qemu_users;
        /* contiguity_anchor: the anchor size of the contiguity summaries (vtismctl contiguity),
         * a power of two, 4 KiB .. 1 TiB (contiguity.h) */
        uint64_t contiguity_anchor_bytes;

        /* tiers { dram = [..]; cxl = [..]; }: sorted, no node in both; unlisted nodes are classified
         * automatically (n_* == 0: no override) */
        int *dram_nodes;
        size_t n_dram_nodes;
        int *cxl_nodes;
        size_t n_cxl_nodes;

        VtPolicy default_policy;
        VtPolicy *policies;                  /* vm = ( {..}, .. ) in file order; each entry starts
                                              * from default_policy and overrides what it sets */
        size_t n_policies;

        VtProcess *processes;                /* processes = ( {..}, .. ): non-QEMU processes to tier */
        size_t n_processes;
} VtConf;

/* A config with every default filled in. */
VtConf *config_new_default(void);
VtConf *config_free(VtConf *c);
static inline void config_freep(VtConf **c) {
        config_free(*c);
}

/* Largest configuration file accepted, main file or drop-in (vtism.conf(5) says so). */
#define CONFIG_FILE_MAX_BYTES (UINT64_C(1) << 20)
/* Most drop-ins read from PATH.d (each up to CONFIG_FILE_MAX_BYTES). */
#define CONFIG_DROPINS_MAX 256

/*
 * Parse path into a new VtConf. Only a regular file of at most CONFIG_FILE_MAX_BYTES is read
 * (opened non-blocking, checked before reading: a FIFO or a device never hangs or floods us). On
 * failure returns -errno (-ENOENT, -EACCES, -EISDIR, -EFBIG; -EINVAL for any other kind of file,
 * an empty path, any syntax or validation error) and, when ret_error is non-NULL, a message
 * naming the place: "/etc/vtism.conf:12: global.tracker: unknown tracker 'foo' (expected auto,
 * idle_pages, damon, page_idle, softdirty)". Unknown keys are errors. Strings from the file are
 * shown shortened to 64 bytes ("...") with control characters escaped.
 *
 * Then the drop-ins: every PATH.d/NAME.conf (not starting with "."), in strcmp order of NAME, each
 * read like the main file and applied after it. Section by section (global, tiers,
 * default_policy, vm, processes), each file's settings replace those of the files before it, key
 * by key; vm and processes entries are appended after the earlier files' (the first matching vm
 * entry wins, so an earlier file's entry for the same VM still does); every vm entry starts from
 * the default_policy of all files together. An error in a drop-in names the drop-in
 * ("/etc/vtism.conf.d/50-web.conf:3: vm[0].weight: ..."), and fails the whole load. No PATH.d is
 * no drop-ins; a PATH.d that is not a directory, or that cannot be listed, is an error, as are
 * more than CONFIG_DROPINS_MAX drop-ins (-E2BIG).
 */
int config_load(const char *path, VtConf **ret, char **ret_error);

/*
 * As config_load(), but a path that does not exist (not even as a dangling symlink) gives the
 * built-in defaults (path NULL) with the drop-ins of PATH.d applied, if there are any, and returns
 * 1: every setting is optional, so a missing default
 * /etc/vtism.conf is no error. Callers say so once. A file named explicitly by the user should go
 * through config_load(), so that a typo in its name is reported.
 */
int config_load_or_defaults(const char *path, VtConf **ret, char **ret_error);

/* Parse from a string (tests, fuzzing); name is used in messages in place of the path. */
int config_load_string(const char *text, const char *name, VtConf **ret, char **ret_error);

/* The first policy whose pattern matches (name, uuid, cmdline may be NULL), else the default. */
const VtPolicy *config_match_policy(const VtConf *c, const char *name, const char *uuid, const char *cmdline);
