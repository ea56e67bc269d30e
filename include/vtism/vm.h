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
#include "vtism/vmsource.h"

/*
 * A VM as vtismd tracks it: identity (libvirt and/or /proc), its QEMU process, guest RAM ranges
 * {gpa, hva, len}, home DRAM node, heat map and tracker target.
 *
 * Identity. A VM is one QEMU process (the sources are merged by pid). What identifies it comes
 * from two places that are not trusted alike:
 *   - libvirt (the libvirt source): the domain's UUID and name, authoritative. libvirtd vouches for
 *     them, and the QEMU pid it names was checked (vmsource-libvirt.c).
 *   - the process's command line (the /proc source): "-uuid" and "-name" are CLAIMS. Any local user
 *     can start a qemu-system-* process and claim a real VM's name or UUID.
 * vm_resolve_identities() turns these into what the VM is shown, looked up and matched by:
 *   - id: the libvirt UUID for a libvirt domain, else always "pid-<pid>". A claimed UUID never
 *     becomes an id, so ids are unique (a UUID is a libvirt domain's, a pid is one process's).
 *   - name, uuid: libvirt's for a libvirt domain. For a /proc-only VM its claims, each only if no
 *     other VM has it: no libvirt domain (libvirt wins, also over a claim made first; the claimer
 *     is renamed when the domain appears), no VM found earlier that claimed it, no VM's id or
 *     default name. A claim that is not used leaves the default name ("qemu-<pid>", "EXE-<pid>")
 *     and no uuid, and says why in identity_conflict.
 *   - trusted: libvirt vouches for the VM, or its owner (the process's real uid) is one of the
 *     configured qemu_users. An untrusted VM is listed with state "ignored" and never uses its
 *     claims at all: it is never sampled, planned or migrated, so it cannot take DRAM from others.
 * Names and uuids are thereby unique among VMs but for libvirt names that happen to equal another
 * VM's default name or id; lookups (manager_find_vm()) refuse a name two VMs share.
 */

typedef enum VmSourceBit {
        VM_SOURCE_LIBVIRT = 1 << 0,
        VM_SOURCE_PROC    = 1 << 1,
} VmSourceBit;

typedef enum VmState {
        VM_STATE_NEW,         /* found, guest RAM not yet located */
        VM_STATE_TRACKED,     /* sampled every cycle */
        VM_STATE_UNTRACKABLE, /* guest RAM could not be located, or no tracker: see error */
        VM_STATE_IGNORED,     /* not trusted (its owner is not in qemu_users, see above): never sampled,
                               * planned or migrated; see error */
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
        char *source;              /* "FILE:LINE" of the vm entry or default_policy, "default" if built in;
                                    * "libvirt metadata (KEY=VALUE ...) over FILE:LINE" with metadata */
        char *metadata_error;      /* why the libvirt metadata is not used, NULL if it is or there is none */
} VmPolicy;

typedef struct Vm {
        /* What it is shown, looked up and matched by: vm_resolve_identities() sets these. */
        char *id;                  /* the libvirt UUID for a libvirt domain, else "pid-<pid>" */
        char *name;
        char *uuid;                /* NULL if unknown or not usable */
        char *identity_conflict;   /* why a claimed name or uuid is not used, NULL if none */

        /* What the sources said (vm_update_identity()). */
        char *libvirt_uuid;        /* libvirt's word, authoritative; NULL unless sources has LIBVIRT */
        char *libvirt_name;
        char *claimed_uuid;        /* the command line's -uuid / -name (the /proc source): untrusted */
        char *claimed_name;
        char *default_name;        /* "qemu-<pid>", "EXE-<pid>" (the /proc source), else "pid-<pid>" */
        char *cmdline;             /* the process's arguments joined by spaces (untrusted), NULL if unknown */
        uid_t uid;                 /* the process's real uid, (uid_t) -1 if unknown */
        bool trusted;              /* libvirt vouches for it or its owner is in qemu_users (the manager) */
        uint64_t seq;              /* discovery order: an earlier claim wins over a later one */

        pid_t pid;
        unsigned long long start_time;
        unsigned sources;          /* VmSourceBit */
        unsigned resync_seen;      /* sources that re-announced it during their current resync */
        /* The manager's, between a VM event and the resolution that follows it (manager.h,
         * manager_identities_settle()): */
        unsigned announce_source;  /* the source that found it, while its "found" line is to be said */
        bool identity_stale;       /* its own sources' word changed: its id and name are not its own yet */
        bool policy_stale;         /* its policy is to be resolved again */

        char *machine;             /* QEMU machine type as given, NULL for the default */
        uint64_t ram_bytes;
        HeatRangeSpec *ranges;     /* guest RAM, ascending gpa */
        size_t n_ranges;
        HeatRangeSpec *target_ranges; /* the same by ascending hva, for the tracker */

        char *numa_nodeset;        /* libvirt <numatune> host nodes */
        char *vcpu_cpuset;         /* libvirt vCPU pinning */
        char *libvirt_policy;      /* libvirt <metadata> policy element (vm-metadata.h), NULL if none */
        int home_node;             /* host DRAM node, -1 until known */
        VmHomeReason home_reason;  /* _VM_HOME_REASON_INVALID while home_node is -1 */
        uint64_t home_residency_generation; /* heatmap_residency_generation() + 1 when picked; 0: no heat map */

        VmState state;
        char *error;               /* why it is untrackable */
        char *logged_error;        /* the last "not sampled" reason logged, so each is said once */
        bool setup_logged;         /* its "N guest RAM ranges, tracker T" line was logged */
        unsigned retry_in_cycles;  /* untrackable: cycles until the next attempt */
        HeatMap *heat;
        TrackerTarget target;
        bool target_added;
        uint64_t cycles;
        usec_t gone_usec;          /* libvirt domain whose QEMU is gone: since when (CLOCK_MONOTONIC), 0 while it runs */
        VmRunState run_state;      /* libvirt's word (vmsource.h); RUNNING without it. Not RUNNING:
                                    * neither sampled (its heat is kept, not decayed) nor moved */
        char *run_state_why;       /* libvirt's words for it, NULL when RUNNING */
        VmRunState run_state_logged; /* the state its last line said (RUNNING before any): a change is
                                    * said once its identity is resolved */
        unsigned restart_period;   /* cycles whose accesses are thrown away (the tracker's period is
                                    * started again) after a migration read or wrote all of it */

        VmPolicy policy;           /* policy.source NULL until vm_apply_policy() */
        struct VmTier *tier;       /* manager-placement.c: its plans, rounds and counters; NULL
                                    * until it has a heat map */
} Vm;

Vm *vm_new(pid_t pid, unsigned long long start_time);
Vm *vm_free(Vm *vm);
static inline void vm_freep(Vm **vm) {
        vm_free(*vm);
}

/*
 * Record what a source reported: for VM_SOURCE_LIBVIRT the domain's uuid and name (NULL keeps the
 * previous word), numatune and pinning; for VM_SOURCE_PROC the command line's claims (NULL: none).
 * Both read the same /proc/PID/cmdline: the latest non-NULL one counts. Adds source to
 * vm->sources. Returns true if anything vm_resolve_identities() or a policy looks at changed. The
 * id, name and uuid change only in vm_resolve_identities().
 */
bool vm_update_identity(Vm *vm, unsigned source, const char *uuid, const char *name, const char *cmdline,
                        const char *numa_nodeset, const char *vcpu_cpuset);
/* The source no longer reports the VM: forget its word (libvirt's uuid, name, numatune, pinning
 * and policy metadata). */
void vm_drop_source(Vm *vm, unsigned source);

/* Record the libvirt domain's policy metadata (NULL: none); true if it changed. */
bool vm_set_libvirt_policy(Vm *vm, const char *xml);

/*
 * Set id, name, uuid and identity_conflict of every VM from what the sources said, by the rules
 * at the top of this file; vms in any order (discovery order is vm->seq). Calls changed() for each
 * VM whose id, name, uuid or identity_conflict changed. O(n log n): one sorted index of what the
 * VMs hold by themselves, a hash of the claims accepted so far, a binary search and a probe per
 * claim. Every VM is resolved against all others, so the manager runs it once per burst of VM
 * events, not once per event (manager_identities_settle(), bench/identity-bench).
 */
void vm_resolve_identities(Vm **vms, size_t n, void (*changed)(Vm *vm, void *userdata), void *userdata);

/* Resolve the VM's policy in c (config_match_policy() on name, uuid, cmdline), with the libvirt
 * metadata's settings over it key by key (an invalid element is not used: policy.metadata_error
 * says why), and keep a copy. Returns true if it (or metadata_error) differs from what it had. */
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
/* Once per cycle: a home that is only "the first DRAM node" is picked again when the heat map's
 * residency has changed since the last pick (heatmap_residency_generation()), not every cycle
 * (a VM whose pages are all on CXL stays there for ever). True if it was picked again. */
bool vm_refresh_home_node(Vm *vm, const Topology *t);
