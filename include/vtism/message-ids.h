/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <systemd/sd-id128.h>

/*
 * The journal MESSAGE_IDs of the events an operator looks for, e.g.
 *
 *     journalctl -u vtismd MESSAGE_ID=e2b8a4d1b7f54d0c9c5f3f6a1e0d9b42
 *
 * finds every failed reload whatever its wording or language. Each one has an entry in
 * systemd/vtism.catalog (installed to the systemd catalog directory: `journalctl -x` shows it);
 * test-message-ids checks that every ID here has one and that the string and binary forms agree.
 * An ID, once released, never changes meaning; a new event gets a new ID (`systemd-id128 new`).
 *
 * Each ID is written once, as its 16 bytes; VTISM_MESSAGE_*_STR is the 32-hex-digit string the
 * journal field carries.
 */

#define VTISM_MESSAGE_ID_BYTES_VM_FOUND             b2,53,0e,54,83,97,41,61,b1,ea,05,06,de,65,3a,65
#define VTISM_MESSAGE_ID_BYTES_VM_LOST              64,c1,73,7a,06,17,4f,d5,a0,45,5d,a0,a7,0d,3b,38
#define VTISM_MESSAGE_ID_BYTES_MIGRATION_ROUND      88,2a,7e,95,bb,97,43,00,b3,99,4e,4e,90,8a,11,39
#define VTISM_MESSAGE_ID_BYTES_RELOAD_FAILED        48,1c,60,90,86,9d,4f,ea,8c,9f,bb,21,00,10,6e,bb
#define VTISM_MESSAGE_ID_BYTES_TRACKER_CHANGED      29,a7,35,9f,ce,10,42,aa,b5,88,9f,cc,50,d8,25,ea
#define VTISM_MESSAGE_ID_BYTES_SLO_NOT_MET          77,73,0e,97,94,9b,46,b6,b9,72,38,54,72,0e,d0,a2
#define VTISM_MESSAGE_ID_BYTES_SLO_MET              f3,6b,e4,fc,45,5a,4a,f2,a2,9a,e2,ce,b2,03,7e,8e
#define VTISM_MESSAGE_ID_BYTES_VM_PAUSED            01,43,f9,07,c1,53,42,90,82,2d,c6,1a,28,23,54,09
#define VTISM_MESSAGE_ID_BYTES_VM_RESUMED           11,41,3c,09,f8,54,42,ab,9b,66,80,c2,93,b2,37,72
#define VTISM_MESSAGE_ID_BYTES_VM_MIGRATING_OUT     37,d7,61,ad,52,8b,49,f2,a7,92,02,b3,92,ac,d3,dd
#define VTISM_MESSAGE_ID_BYTES_VM_MIGRATION_ABORTED 18,9a,95,5d,5f,11,49,e8,b7,c4,19,3e,a4,ac,dc,50
#define VTISM_MESSAGE_ID_BYTES_VM_MIGRATING_IN      11,44,2b,d0,01,d7,48,f5,80,9d,09,b1,6e,7b,ae,fb
#define VTISM_MESSAGE_ID_BYTES_VM_MIGRATED_IN       e6,8f,f0,82,dc,c5,41,bf,9d,f4,c2,ef,fd,a3,ba,6e

/* Expand the byte list first, then hand it to sd-id128's macros. */
#define VTISM_ID128_MAKE(bytes) VTISM_ID128_MAKE_(bytes)
#define VTISM_ID128_MAKE_(...) SD_ID128_MAKE(__VA_ARGS__)
#define VTISM_ID128_MAKE_STR(bytes) VTISM_ID128_MAKE_STR_(bytes)
#define VTISM_ID128_MAKE_STR_(...) SD_ID128_MAKE_STR(__VA_ARGS__)

/* A VM was found (libvirt or /proc) and is tracked: VTISM_VM=, VTISM_VM_NAME=. Priority info when
 * it will be tiered, notice when it is listed but ignored (the message says why). */
#define VTISM_MESSAGE_VM_FOUND VTISM_ID128_MAKE(VTISM_MESSAGE_ID_BYTES_VM_FOUND)
#define VTISM_MESSAGE_VM_FOUND_STR VTISM_ID128_MAKE_STR(VTISM_MESSAGE_ID_BYTES_VM_FOUND)
/* A VM is no longer tracked (it stopped, crashed, migrated away, its QEMU exited, libvirt no longer
 * reports it): VTISM_VM_LOST_REASON= says which ("stopped", "crashed", "migrated away", "gone"). */
#define VTISM_MESSAGE_VM_LOST VTISM_ID128_MAKE(VTISM_MESSAGE_ID_BYTES_VM_LOST)
#define VTISM_MESSAGE_VM_LOST_STR VTISM_ID128_MAKE_STR(VTISM_MESSAGE_ID_BYTES_VM_LOST)
/* One migration round of one VM that moved pages, had pages fail, or (dry-run) would have moved:
 * VTISM_ROUND=, VTISM_PROMOTED_BYTES=, VTISM_DEMOTED_BYTES=, VTISM_FAILED_PAGES=, … */
#define VTISM_MESSAGE_MIGRATION_ROUND VTISM_ID128_MAKE(VTISM_MESSAGE_ID_BYTES_MIGRATION_ROUND)
#define VTISM_MESSAGE_MIGRATION_ROUND_STR VTISM_ID128_MAKE_STR(VTISM_MESSAGE_ID_BYTES_MIGRATION_ROUND)
/* A reload (SIGHUP, D-Bus Reload, systemctl reload) was refused; the previous configuration stays.
 * VTISM_CONFIG_ERROR= carries the file:line message. */
#define VTISM_MESSAGE_RELOAD_FAILED VTISM_ID128_MAKE(VTISM_MESSAGE_ID_BYTES_RELOAD_FAILED)
#define VTISM_MESSAGE_RELOAD_FAILED_STR VTISM_ID128_MAKE_STR(VTISM_MESSAGE_ID_BYTES_RELOAD_FAILED)
/* The access tracker in use was chosen or changed (at start, on reload): VTISM_TRACKER= names it,
 * "none" when no tracker is usable (VMs are listed but not sampled). */
#define VTISM_MESSAGE_TRACKER_CHANGED VTISM_ID128_MAKE(VTISM_MESSAGE_ID_BYTES_TRACKER_CHANGED)
#define VTISM_MESSAGE_TRACKER_CHANGED_STR VTISM_ID128_MAKE_STR(VTISM_MESSAGE_ID_BYTES_TRACKER_CHANGED)
/* A VM's service level (cxl_access_max_percent) cannot be met: VTISM_SLO_CAP_BP=, VTISM_SLO_STATE=
 * ("at dram_max", "contended", "rare pages"); once per episode, priority warning. */
#define VTISM_MESSAGE_SLO_NOT_MET VTISM_ID128_MAKE(VTISM_MESSAGE_ID_BYTES_SLO_NOT_MET)
#define VTISM_MESSAGE_SLO_NOT_MET_STR VTISM_ID128_MAKE_STR(VTISM_MESSAGE_ID_BYTES_SLO_NOT_MET)
/* That VM's service level is met again (priority info). */
#define VTISM_MESSAGE_SLO_MET VTISM_ID128_MAKE(VTISM_MESSAGE_ID_BYTES_SLO_MET)
#define VTISM_MESSAGE_SLO_MET_STR VTISM_ID128_MAKE_STR(VTISM_MESSAGE_ID_BYTES_SLO_MET)
/* A VM's run state (libvirt's word, vtismd(8) "VM lifecycle") changed, one ID per event, each with
 * VTISM_VM=, VTISM_VM_NAME=, VTISM_RUN_STATE= (the new state) and VTISM_RUN_STATE_REASON= (libvirt's
 * reason, e.g. "libvirt: paused (user)"); priority info. Paused: not sampled, heat kept, pages
 * left where they are. */
#define VTISM_MESSAGE_VM_PAUSED VTISM_ID128_MAKE(VTISM_MESSAGE_ID_BYTES_VM_PAUSED)
#define VTISM_MESSAGE_VM_PAUSED_STR VTISM_ID128_MAKE_STR(VTISM_MESSAGE_ID_BYTES_VM_PAUSED)
/* Paused, it runs again: sampled and tiered again with the heat it had. */
#define VTISM_MESSAGE_VM_RESUMED VTISM_ID128_MAKE(VTISM_MESSAGE_ID_BYTES_VM_RESUMED)
#define VTISM_MESSAGE_VM_RESUMED_STR VTISM_ID128_MAKE_STR(VTISM_MESSAGE_ID_BYTES_VM_RESUMED)
/* A live migration out began (libvirt's migration job): no page of it is moved until it ends. */
#define VTISM_MESSAGE_VM_MIGRATING_OUT VTISM_ID128_MAKE(VTISM_MESSAGE_ID_BYTES_VM_MIGRATING_OUT)
#define VTISM_MESSAGE_VM_MIGRATING_OUT_STR VTISM_ID128_MAKE_STR(VTISM_MESSAGE_ID_BYTES_VM_MIGRATING_OUT)
/* That migration did not complete (failed, cancelled): the VM runs here, tiered again, heat kept. A
 * migration that completes ends in VM_LOST instead, with VTISM_VM_LOST_REASON="migrated away". */
#define VTISM_MESSAGE_VM_MIGRATION_ABORTED VTISM_ID128_MAKE(VTISM_MESSAGE_ID_BYTES_VM_MIGRATION_ABORTED)
#define VTISM_MESSAGE_VM_MIGRATION_ABORTED_STR VTISM_ID128_MAKE_STR(VTISM_MESSAGE_ID_BYTES_VM_MIGRATION_ABORTED)
/* A live migration in began: the VM is neither sampled nor moved until it runs here. */
#define VTISM_MESSAGE_VM_MIGRATING_IN VTISM_ID128_MAKE(VTISM_MESSAGE_ID_BYTES_VM_MIGRATING_IN)
#define VTISM_MESSAGE_VM_MIGRATING_IN_STR VTISM_ID128_MAKE_STR(VTISM_MESSAGE_ID_BYTES_VM_MIGRATING_IN)
/* Migrated in, it runs here: tiered from a fresh heat map. */
#define VTISM_MESSAGE_VM_MIGRATED_IN VTISM_ID128_MAKE(VTISM_MESSAGE_ID_BYTES_VM_MIGRATED_IN)
#define VTISM_MESSAGE_VM_MIGRATED_IN_STR VTISM_ID128_MAKE_STR(VTISM_MESSAGE_ID_BYTES_VM_MIGRATED_IN)
