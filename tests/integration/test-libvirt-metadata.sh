#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Per-VM policy in libvirt domain metadata (vm-metadata.h), against a private libvirtd 9.x with
# TCG domains and vtismd on a private bus:
#   1. a domain without metadata gets the config file's vm entry (policy "FILE:LINE");
#   2. virsh metadata --live --set <policy dram_budget weight/>: vtismd re-reads it on libvirt's
#      metadata-change event; the metadata's keys win over the entry's, key by key, and the
#      policy's source says both;
#   3. changed again (never_migrate): the budget falls back to the entry's, never_migrate on;
#   4. an invalid element (weight 0): a warning naming the attribute, the config's policy applies;
#   5. --remove: back to the config file's entry alone; a reload keeps the metadata on top;
#   6. a domain defined with the metadata in its XML gets it from the start.
# Helpers from lib.sh (bus, vtismd) and lib-libvirt.sh (namespace, libvirtd, TCG domains; see
# test-vtismd-libvirt.sh for the scratch sysfs and the page_idle tracker on a regular file).

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/integration/lib-libvirt.sh
source "$HERE/lib-libvirt.sh"
libvirt_enter_namespace "$@"
# shellcheck source=tests/integration/lib.sh
source "$HERE/lib.sh"
need dbus-daemon jq virsh

URI=qemu:///system
NS=urn:vtism:policy:1
V() { virsh -q -c "$URI" "$@"; }
LOG="$SCRATCH/vtismd.log"
MIB=$((1 << 20))

libvirt_dump_logs_hook() {
        [[ -f $LOG ]] || return 0
        echo "--- vtismd log (tail) ---"
        tail -n 60 "$LOG"
}
fail() { lv_fail "$@"; }   # lib-libvirt.sh: the message, then libvirtd's, QEMU's and vtismd's logs
test_cleanup() {
        cleanup
        libvirt_cleanup
}
trap test_cleanup EXIT

libvirt_private_dirs

status() { "$VTISMCTL" status --json; }
vm_json() { status | jq -c --arg u "$1" '.vms[] | select(.uuid == $u)'; }
# vm_is UUID JQ: the VM's status object satisfies JQ
vm_is() { vm_json "$1" | jq -en "input | ($2)" >/dev/null 2>&1; }
log_since() { tail -n "+$(($1 + 1))" "$LOG" | grep -F -- "$2"; }
log_lines() { wc -l <"$LOG"; }

SYSFS="$SCRATCH/sysfs"
cp -a "$VTISM_SOURCE_ROOT/tests/data/sysfs-1node" "$SYSFS"
mkdir -p "$SYSFS/kernel/mm/page_idle"
truncate -s 64M "$SYSFS/kernel/mm/page_idle/bitmap"

A=vtism-md-$LV_ID-a
B=vtism-md-$LV_ID-b
A_UUID=$(cat /proc/sys/kernel/random/uuid)
B_UUID=$(cat /proc/sys/kernel/random/uuid)
conf="$SCRATCH/vtism.conf"
cat >"$conf" <<CONF
global = {
  sample_interval_ms = 200;
  libvirt_uri = "$URI";
  tracker = "page_idle";
};
vm = ( { name = "vtism-md-*"; dram_budget = "64M"; weight = 50; pin_dram = true; } );
CONF
entry="$conf:6"

start_bus strict
start_notify
libvirt_start_virtlogd
libvirt_start_libvirtd
start_vtismd "$conf" --sysfs-root="$SYSFS" --log-level=debug
wait_for 10 grep -q "Connected to libvirt at $URI" "$LOG" || fail "vtismd did not connect to libvirtd"

# ---- 1. no metadata: the config file's entry ----
libvirt_domain_xml "$A" "$A_UUID" >"$LV_SCRATCH/$A.xml"
libvirt_create "$A" "$LV_SCRATCH/$A.xml"
wait_for 20 vm_is "$A_UUID" ".policy == \"$entry\" and .dram_budget_bytes == $((64 * MIB))" \
        || fail "1. $A: $(vm_json "$A_UUID")"
ok "1. $A without metadata: policy $entry, DRAM budget 64 MiB"

# ---- 2. metadata set on the running domain: re-read on the event, its keys win ----
from=$(log_lines)
V metadata "$A" --uri "$NS" --key vtism --live --set '<policy dram_budget="32M" weight="300"/>'
output_has 'weight="300"' -- V metadata "$A" --uri "$NS" --live || fail "2. virsh metadata does not read back what was set"
want="libvirt metadata (dram_budget=$((32 * MIB)) weight=300) over $entry"
wait_for 10 vm_is "$A_UUID" ".policy == \"$want\" and .dram_budget_bytes == $((32 * MIB))" \
        || fail "2. $A after virsh metadata --set: $(vm_json "$A_UUID")"
log_since "$from" "VM $A: vtism policy metadata added." >/dev/null || fail "2. no 'metadata added' log line"
# pin_dram stays from the entry (the metadata does not set it), the weight is the metadata's
log_since "$from" "VM $A: policy $want, DRAM budget 32 MiB, weight 300, pinned to DRAM." >/dev/null \
        || fail "2. no policy line with weight 300 and pin_dram from the entry: $(tail -n 5 "$LOG")"
ok "2. virsh metadata --set: policy '$want', 32 MiB, weight 300, still pinned (from the entry)"

# ---- 3. changed: what it no longer sets comes from the entry again ----
from=$(log_lines)
V metadata "$A" --uri "$NS" --key vtism --live --set '<policy pin_dram="no" never_migrate="yes"/>'
want="libvirt metadata (pin_dram=no never_migrate=yes) over $entry"
wait_for 10 vm_is "$A_UUID" ".policy == \"$want\" and .dram_budget_bytes == $((64 * MIB))" \
        || fail "3. $A after the change: $(vm_json "$A_UUID")"
log_since "$from" "VM $A: policy $want, DRAM budget 64 MiB, weight 50, never migrated." >/dev/null \
        || fail "3. no policy line with never_migrate: $(tail -n 5 "$LOG")"
ok "3. changed to never_migrate: budget 64 MiB and weight 50 from the entry again, never migrated"

# ---- 4. an invalid element is not used ----
from=$(log_lines)
V metadata "$A" --uri "$NS" --key vtism --live --set '<policy weight="0" dram_budget="1G"/>'
wait_for 10 vm_is "$A_UUID" ".policy == \"$entry\" and .dram_budget_bytes == $((64 * MIB))" \
        || fail "4. $A with invalid metadata: $(vm_json "$A_UUID")"
log_since "$from" "VM $A: its libvirt metadata <policy xmlns=\"$NS\"> is not used: weight: '0' is out of range (1..10000)." \
        >/dev/null || fail "4. no warning naming the bad attribute: $(tail -n 5 "$LOG")"
output_has "^vtismd: warning: " -- grep -F "VM $A: its libvirt metadata" "$LOG" || fail "4. the warning is not at priority warning"
kill -0 "$VTISMD_PID" || fail "4. vtismd died"
ok "4. weight=\"0\": not used, a warning names the attribute, the entry's policy applies"

# ---- 5. removed: the entry alone; a reload keeps metadata on top ----
V metadata "$A" --uri "$NS" --key vtism --live --set '<policy weight="700"/>'
wait_for 10 vm_is "$A_UUID" ".policy == \"libvirt metadata (weight=700) over $entry\"" || fail "5. $A: $(vm_json "$A_UUID")"
sed -i 's/dram_budget = "64M"; weight = 50;/dram_budget = "96M"; weight = 50;/' "$conf"
"$VTISMCTL" reload >/dev/null || fail "5. reload"
wait_for 10 vm_is "$A_UUID" ".policy == \"libvirt metadata (weight=700) over $entry\" and .dram_budget_bytes == $((96 * MIB))" \
        || fail "5. after a reload: $(vm_json "$A_UUID")"
V metadata "$A" --uri "$NS" --live --remove
wait_for 10 vm_is "$A_UUID" ".policy == \"$entry\" and .dram_budget_bytes == $((96 * MIB))" \
        || fail "5. $A after --remove: $(vm_json "$A_UUID")"
ok "5. a reload keeps the metadata over the new entry (96 MiB, weight 700); --remove: the entry alone"

# ---- 6. metadata in the domain XML from the start ----
libvirt_domain_xml "$B" "$B_UUID" |
        sed "s|</domain>|  <metadata>\n    <vtism:policy xmlns:vtism=\"$NS\" dram_budget=\"25%\"/>\n  </metadata>\n</domain>|" \
        >"$LV_SCRATCH/$B.xml"
libvirt_create "$B" "$LV_SCRATCH/$B.xml"
want="libvirt metadata (dram_budget=25%) over $entry"
wait_for 20 vm_is "$B_UUID" ".policy == \"$want\" and .dram_budget_bytes == $((32 * MIB))" \
        || fail "6. $B: $(vm_json "$B_UUID")"
grep -q "VM $B running\|VM $B started: .*, vtism policy in its metadata" "$LOG" || fail "6. the libvirt source did not see $B's metadata"
ok "6. $B defined with <vtism:policy dram_budget=\"25%\"/>: 32 MiB of 128 MiB from the start"

libvirt_start_summary
echo PASS
