/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vtism/config.h"
#include "vtism/heatmap.h"
#include "vtism/topology.h"
#include "vtism/tracker.h"

/*
 * A VM as vtismd tracks it: identity (libvirt and/or /proc), its QEMU process, guest RAM ranges
 * {gpa, hva, len}, home DRAM node, heat map and tracker target.
 */

typedef enum VmSourceBit {
        VM_SOURCE_LIBVIRT = 1 << 0,
        VM_SOURCE_PROC    = 1 << 1,
} VmSourceBit;

typedef enum VmState {
        VM_STATE_NEW,         /* found, guest RAM not yet located */
        VM_STATE_TRACKED,     /* sampled every cycle */
        VM_STATE_UNTRACKABLE, /* guest RAM could not be located, or no tracker: see error */
        _VM_STATE_MAX,
        _VM_STATE_INVALID = -22,
} VmState;

const char *vm_state_to_string(VmState s);

/* Why a VM's home DRAM node is the one it is, strongest first (vm_pick_home_node()). */
typedef enum VmHomeReason {
        VM_HOME_NUMATUNE,        /* libvirt <numatune> names it */
        VM_HOME_VCPU_PINNING,    /* holds most of the host CPUs the vCPUs are pinned to */
        VM_HOME_MOST_PAGES,      /* holds most of the VM's pages (residency) */
        VM_HOME_FIRST_DRAM_NODE, /* nothing better known yet: re-picked every cycle */
        _VM_HOME_REASON_MAX,
        _VM_HOME_REASON_INVALID = -22, /* no home node (no DRAM node with memory) */
} VmHomeReason;

/* "numatune", "vcpu pinning", "most pages", "first DRAM node"; NULL for anything else. */
const char *vm_home_reason_to_string(VmHomeReason r);

/*
 * The policy that applies to a VM: a deep copy of the VtPolicy config_match_policy() picked,
 * because a reload frees the config it came from. Resolved when the VM is found, when its
 * identity (name, uuid, command line) changes, and on every reload.
 */
typedef struct VmPolicy {
        VtPolicy policy;           /* pattern owned by the copy */
        char *source;              /* "FILE:LINE" of the vm entry or default_policy, "default" if built in */
} VmPolicy;

typedef struct Vm {
        char *id;                  /* the UUID if known, else "pid-<pid>" */
        char *name;
        char *uuid;                /* NULL if unknown */
        char *cmdline;             /* the process's arguments joined by spaces (untrusted), NULL if unknown */
        pid_t pid;
        unsigned long long start_time;
        unsigned sources;          /* VmSourceBit */
        unsigned resync_seen;      /* sources that re-announced it during their current resync */

        char *machine;             /* QEMU machine type as given, NULL for the default */
        uint64_t ram_bytes;
        HeatRangeSpec *ranges;     /* guest RAM, ascending gpa */
        size_t n_ranges;
        HeatRangeSpec *target_ranges; /* the same by ascending hva, for the tracker */

        char *numa_nodeset;        /* libvirt <numatune> host nodes */
        char *vcpu_cpuset;         /* libvirt vCPU pinning */
        int home_node;             /* host DRAM node, -1 until known */
        VmHomeReason home_reason;  /* _VM_HOME_REASON_INVALID while home_node is -1 */

        VmState state;
        char *error;               /* why it is untrackable */
        unsigned retry_in_cycles;  /* untrackable: cycles until the next attempt */
        HeatMap *heat;
        TrackerTarget target;
        bool target_added;
        uint64_t cycles;
        unsigned gone_cycles;      /* libvirt domain whose QEMU is gone: cycles waited for libvirt's event */

        VmPolicy policy;           /* policy.source NULL until vm_apply_policy() */
        struct VmTier *tier;       /* manager-placement.c: its plans, rounds and counters; NULL
                                    * until it has a heat map */
} Vm;

Vm *vm_new(pid_t pid, unsigned long long start_time);
Vm *vm_free(Vm *vm);
static inline void vm_freep(Vm **vm) {
        vm_free(*vm);
}

/* Set name/uuid/id/cmdline from what a source reported; libvirt's word wins over /proc's on name
 * and uuid. Returns true if the name, uuid or command line changed (re-resolve the policy). */
bool vm_update_identity(Vm *vm, unsigned source, const char *uuid, const char *name, const char *cmdline,
                        const char *numa_nodeset, const char *vcpu_cpuset);

/* Resolve the VM's policy in c (config_match_policy() on name, uuid, cmdline) and keep a copy.
 * Returns true if it differs from the one it had. */
bool vm_apply_policy(Vm *vm, const VtConf *c);

/* The VM's DRAM budget in bytes: a percentage of its guest RAM resolved, a size as it is.
 * -ENODATA while a percentage cannot be resolved (guest RAM not located yet). */
int vm_dram_budget_bytes(const Vm *vm, uint64_t *ret);

/*
 * Locate guest RAM: parse /proc/PID/cmdline (machine, backends) and /proc/PID/maps (the
 * mappings that hold them), and lay them out in guest-physical address space. On failure
 * returns -errno and a one-sentence reason.
 */
int vm_locate_ram(Vm *vm, const char *proc_root, char **ret_reason);

/* Pick the home DRAM node: numatune, else vCPU pinning, else where most of its pages are
 * (from the heat map's residency), else the first DRAM node. */
void vm_pick_home_node(Vm *vm, const Topology *t);
