#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Untrusted identity (issue 12, defect 2), without libvirt (test-libvirt-faults has an impostor
# against a libvirt domain). Any local user can run a "QEMU" that claims a real VM's -name and
# -uuid. Here:
#   1. a real QEMU run by root, "real-vm" with UUID U: id pid-N, name and uuid its claims;
#   2. a fake QEMU run by nobody claiming the same name and UUID, with the default qemu_users:
#      listed as ignored, id pid-M, name qemu-M, no uuid, the claims and the reason shown, one log
#      line; the real VM keeps its name and UUID; ids are unique; heatmap by UUID and by name
#      finds the real VM;
#   3. reload with qemu_users = [ "*" ]: the fake is trusted now but still may not take what the
#      VM found earlier has; when the real VM exits, the claim is free and the fake gets it;
#   4. reload back to the default: ignored again.
# shellcheck disable=SC2034 # read by lib.sh
PRIVATE_PIDS=1   # vtismd on the real /proc: see only our own processes (lib.sh)
. "$(dirname "$0")/lib.sh"
need dbus-daemon jq setpriv qemu-system-x86_64

start_bus
start_notify
data="$VTISM_SOURCE_ROOT/tests/data"
LOG="$SCRATCH/vtismd.log"
U=5c0ffee0-1d2e-4f3a-8b4c-5d6e7f8a9b0c

status() { "$VTISMCTL" status --json; }
vm_by_pid() { status | jq -c --argjson p "$1" '.vms[] | select(.pid == $p)'; }
# -n + input: jq 1.6's -e exits 0 on empty input, so a VM not (yet) listed would pass.
vm_is() { vm_by_pid "$1" | jq -en "input | ($2)" >/dev/null; }

conf="$SCRATCH/vtism.conf"
write_conf() {
        cat >"$conf" <<CONF
global = {
  sample_interval_ms = 200;
  heat_range = "4M";
  libvirt_uri = "qemu+unix:///system?socket=/nonexistent/vtism-test";
  $1
};
vm = ( { name = "real-vm"; dram_budget = "1M"; } );
CONF
}
write_conf ""
start_vtismd "$conf" --sysfs-root="$data/sysfs-1node"
wait_for 10 grep -qx READY=1 "$SCRATCH/notify.log" || fail "no READY=1"

# ---- 1. the real VM (root's) ----
qemu-system-x86_64 -accel tcg -m 16 -nodefaults -display none -S -name guest=real-vm -uuid "$U" \
        >"$SCRATCH/qemu.log" 2>&1 &
real=$!
PIDS+=("$real")
# residency_known: its guest RAM is located (QEMU may still be starting when first seen) and has a heat map
wait_for 30 vm_is "$real" '.name == "real-vm" and .residency_known' || fail "real VM not located: $(status | jq -c .vms)"
vm_is "$real" ".id == \"pid-$real\" and .uuid == \"$U\" and .state != \"ignored\" and .identity_conflict == null" ||
        fail "real VM: $(vm_by_pid "$real")"
ok "1. root's QEMU: id pid-$real, name real-vm, uuid $U"

# ---- 2. nobody's impostor ----
mkfifo -m 0666 "$SCRATCH/fifo"
cat >"$SCRATCH/fake-qemu.sh" <<'SH'
exec -a qemu-system-x86_64 /bin/bash -c 'read -r -t 600 _ <>"$FIFO"' -m 16 -name guest=real-vm -uuid "$UUID"
SH
FIFO="$SCRATCH/fifo" UUID=$U setpriv --reuid=nobody --regid=nogroup --clear-groups -- /bin/bash "$SCRATCH/fake-qemu.sh" &
fake=$!
PIDS+=("$fake")
wait_for 20 vm_is "$fake" '.' || fail "fake QEMU not listed: $(status | jq -c .vms)"
j=$(vm_by_pid "$fake")
nobody_uid=$(id -u nobody)
jq -e --arg id "pid-$fake" --arg n "qemu-$fake" --arg e "not tiered: its owner, uid $nobody_uid, is not in qemu_users" \
        '.id == $id and .name == $n and .uuid == null and .state == "ignored" and .error == $e
         and (.identity_conflict | contains("claims name '"'"'real-vm'"'"' and uuid '"$U"'"))
         and .cycles == 0 and .ram_bytes == null' <<<"$j" >/dev/null || fail "impostor: $j"
vm_is "$real" ".name == \"real-vm\" and .uuid == \"$U\"" || fail "the real VM lost its identity: $(vm_by_pid "$real")"
n_ids=$(status | jq '[.vms[].id] | length') n_unique=$(status | jq '[.vms[].id] | unique | length')
((n_ids == n_unique)) || fail "ids not unique: $(status | jq -c '[.vms[] | {id, name, pid}]')"
line=$(grep -E "VM qemu-$fake \(pid $fake\) found via proc, ignored" "$LOG") || fail "no log line for the impostor"
[[ $(grep -c "pid $fake)" "$LOG") -eq 1 ]] || fail "more than one log line for the impostor: $(grep "pid $fake)" "$LOG")"
"$VTISMCTL" heatmap --json "$U" | jq -e --arg n real-vm '.name == $n' >/dev/null || fail "heatmap by UUID: $("$VTISMCTL" heatmap --json "$U" 2>&1)"
"$VTISMCTL" heatmap --json real-vm | jq -e --arg id "pid-$real" '.id == $id' >/dev/null || fail "heatmap by name"
out=$("$VTISMCTL" status)
grep -q "qemu-$fake (pid-$fake): its command line claims name 'real-vm'" <<<"$out" || fail "status does not show the claim: $out"
ok "2. nobody's impostor: ignored as qemu-$fake, no uuid, claims shown; the real VM keeps its identity; heatmap by UUID and name finds it ('${line#*: }')"

# ---- 3. every user trusted: still no taking what the VM found first has ----
write_conf 'qemu_users = [ "*" ];'
"$VTISMCTL" reload >/dev/null || fail "reload"
wait_for 10 vm_is "$fake" '.state != "ignored"' || fail "fake not trusted after qemu_users = [*]: $(vm_by_pid "$fake")"
j=$(vm_by_pid "$fake")
jq -e --arg n "qemu-$fake" --arg id "pid-$real" '.name == $n and .uuid == null and .policy == "default"
        and (.identity_conflict | contains("VM " + $id + ", found earlier, has it"))' <<<"$j" >/dev/null ||
        fail "trusted impostor: $j"
vm_is "$real" ".name == \"real-vm\" and .uuid == \"$U\" and .policy == \"$conf:7\"" || fail "real VM: $(vm_by_pid "$real")"
grep -qE "VM qemu-$fake \(pid $fake, uid $nobody_uid\): its command line claims name 'real-vm' \(VM pid-$real, found earlier, has it\)" "$LOG" ||
        fail "no warning for the conflicting claims"
ok "3a. qemu_users = [*]: the impostor is tiered but stays qemu-$fake (the real VM was found first), default policy"

kill "$real"
wait_for 10 vm_is "$fake" ".name == \"real-vm\" and .uuid == \"$U\" and .identity_conflict == null" ||
        fail "the freed claim was not given to the remaining VM: $(vm_by_pid "$fake")"
ok "3b. the real VM exited: the claims are free, the remaining VM (trusted by config) has them"

# ---- 4. back to the default ----
write_conf ""
"$VTISMCTL" reload >/dev/null || fail "reload"
wait_for 10 vm_is "$fake" ".state == \"ignored\" and .name == \"qemu-$fake\" and .uuid == null" ||
        fail "not ignored again: $(vm_by_pid "$fake")"
grep -q "VM qemu-$fake (pid $fake) is ignored from now on (not tiered: its owner, uid $nobody_uid, is not in qemu_users)" "$LOG" ||
        fail "no log line for the lost trust"
ok "4. default qemu_users again: ignored again"

kill -0 "$VTISMD_PID" || fail "vtismd died"
kill -TERM "$VTISMD_PID"; wait "$VTISMD_PID" || fail "exit status on SIGTERM"
echo PASS
