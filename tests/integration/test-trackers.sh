#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Which trackers feed each VM, and why: vtismd's ActiveTrackerReason and each VM's trackers and
# tracker_detail, in 'vtismctl status' (text and --json) and 'vtismctl metrics'. A plain QEMU
# (TCG, -S) is the VM throughout.
#   A. This host's own kernel, tracker auto: whatever this machine offers (a CI machine may
#      offer nothing: then "none" and every tracker's reason must be given; else the VM is fed
#      by the tracker auto picked, or by a part of it).
#   B. A sysfs fixture with a page_idle bitmap (a regular file, as in test-vtismd-libvirt), auto:
#      page_idle, picked over idle_pages because this kernel lacks it (or idle_pages itself on
#      a kernel that has our patch).
#   C. Reloaded with tracker = "damon" on the same fixture (no DAMON there): none, as
#      configured, and why; the VM says it is not sampled.
# shellcheck disable=SC2034 # read by lib.sh
PRIVATE_PIDS=1   # vtismd on the real /proc: see only our own processes (lib.sh)
. "$(dirname "$0")/lib.sh"
need dbus-daemon jq qemu-system-x86_64

start_bus
start_notify
status() { "$VTISMCTL" status --json; }
vm_json() { status | jq -c '.vms[] | select(.name == "itest-trk")'; }
# The VM set up (tracked or not): its trackers are known.
vm_known() { vm_json | jq -en 'input | (.trackers != null and .state != "new")' >/dev/null; }
vm_fed_by() { vm_json | jq -en --arg t "$1" 'input | (.trackers == $t and .state == "tracked")' >/dev/null; }
# The whole output is grepped (output_has, lib.sh), polled so that a metric the next cycle sets
# is waited for.
metrics_has() { wait_for 10 output_has -xF "$1" -- "$VTISMCTL" metrics; }

qemu-system-x86_64 -accel tcg -m 32 -nographic -nodefaults -display none -S -name guest=itest-trk \
        >"$SCRATCH/qemu.log" 2>&1 &
qpid=$!
PIDS+=("$qpid")

conf="$SCRATCH/vtism.conf"
write_conf() {
        cat >"$conf" <<CONF
global = {
  sample_interval_ms = 200;
  heat_range = "16M";
  tracker = "$1";
  libvirt_uri = "qemu+unix:///system?socket=$SCRATCH/no-libvirt-here";
};
CONF
}

# ---- A: this host ----
write_conf auto
start_vtismd "$conf"
wait_for 10 grep -qx READY=1 "$SCRATCH/notify.log" || fail "no READY=1"
wait_for 20 vm_known || fail "VM not set up: $(status | jq -c .vms)"
s=$(status)
active=$(jq -r '.active_tracker // ""' <<<"$s")
reason=$(jq -r '.active_tracker_reason // ""' <<<"$s")
j=$(vm_json)
text=$("$VTISMCTL" status)
grep -qxF "      Tracker: $reason" <<<"$text" || fail "status text lacks 'Tracker: $reason': $text"
if [[ -z $active ]]; then
        # Nothing usable here: the daemon says so and why, for every tracker auto tries.
        [[ $reason == "none (auto); unusable: "* ]] || fail "no tracker, reason: '$reason'"
        for t in idle_pages page_idle damon softdirty; do
                why=$(jq -r --arg t "$t" '.trackers[] | select(.name == $t) | .reason // ""' <<<"$s")
                [[ -n $why && $reason == *"$t: $why"* ]] || fail "reason does not say why $t is unusable ('$why'): $reason"
        done
        jq -en --argjson v "$j" '$v | .trackers == "none" and .state == "untrackable"
                and (.tracker_detail | test("no access tracker")) and .tracker_detail == .error' >/dev/null \
                || fail "VM without a tracker: $j"
        grep -Eq '^itest-trk +[0-9]+ .* untrackable ' <<<"$text" || fail "VM row: $text"
        grep -qF "itest-trk: no access tracker is usable on this host" <<<"$text" || fail "VM's reason not shown: $text"
        metrics_has "vtism_vm_tracker_info{id=\"pid-$qpid\",name=\"itest-trk\",trackers=\"none\"} 1" \
                || fail "metrics: $("$VTISMCTL" metrics | grep tracker)"
        ok "this host has no usable tracker: status says none for the VM and why for each tracker ($reason)"
else
        [[ $reason == "$active (auto)"* ]] || fail "tracker $active, reason: '$reason'"
        # Every tracker auto passed over for the one it took is named with its reason.
        wait_for 20 vm_fed_by "$(vm_json | jq -r .trackers)" || fail "VM not tracked: $(vm_json)"
        j=$(vm_json)
        feeds=$(jq -r .trackers <<<"$j")
        IFS=+ read -ra parts <<<"$feeds"
        for p in "${parts[@]}"; do
                [[ +$active+ == *"+$p+"* ]] || fail "VM fed by $feeds, not a part of $active"
                jq -en --argjson s "$s" --arg p "$p" '$s | any(.trackers[]; .name == $p and .usable)' >/dev/null \
                        || fail "VM fed by $p, which is not usable: $(jq -c .trackers <<<"$s")"
        done
        jq -en --argjson v "$j" '$v | (.tracker_detail | length) > 0' >/dev/null || fail "no tracker_detail: $j"
        text=$("$VTISMCTL" status)
        grep -Eq "^itest-trk +[0-9]+ .* tracked by ${feeds//+/\\+} " <<<"$text" || fail "VM row lacks 'tracked by $feeds': $text"
        metrics_has "vtism_vm_tracker_info{id=\"pid-$qpid\",name=\"itest-trk\",trackers=\"$feeds\"} 1" \
                || fail "metrics: $("$VTISMCTL" metrics | grep tracker)"
        ok "this host's tracker: $reason; the VM is fed by $feeds ($(jq -r .tracker_detail <<<"$j"))"
fi
kill -TERM "$VTISMD_PID"; wait "$VTISMD_PID" || fail "exit status on SIGTERM"

# ---- B: page_idle on a sysfs fixture, auto ----
sysfs="$SCRATCH/sysfs"
cp -a "$VTISM_SOURCE_ROOT/tests/data/sysfs-1node" "$sysfs"
mkdir -p "$sysfs/kernel/mm/page_idle"
truncate -s 64M "$sysfs/kernel/mm/page_idle/bitmap"
: >"$SCRATCH/notify.log"
start_vtismd "$conf" --sysfs-root="$sysfs"
wait_for 10 grep -qx READY=1 "$SCRATCH/notify.log" || fail "no READY=1 (B)"
s=$(status)
active=$(jq -r '.active_tracker // ""' <<<"$s")
reason=$(jq -r '.active_tracker_reason // ""' <<<"$s")
case $active in
page_idle)
        why=$(jq -r '.trackers[] | select(.name == "idle_pages") | .reason // ""' <<<"$s")
        [[ -n $why && $reason == "page_idle (auto); unusable: idle_pages: $why" ]] \
                || fail "page_idle picked, reason: '$reason' (idle_pages: '$why')" ;;
idle_pages)
        [[ $reason == "idle_pages (auto)" ]] || fail "idle_pages picked, reason: '$reason'" ;;
*)
        fail "auto on a page_idle fixture picked '$active': $reason" ;;
esac
wait_for 20 vm_fed_by "$active" || fail "VM not fed by $active: $(vm_json)"
j=$(vm_json)
jq -en --argjson v "$j" --arg a "$active" '$v | .tracker_detail == $a' >/dev/null || fail "tracker_detail: $j"
text=$("$VTISMCTL" status)
grep -qxF "      Tracker: $reason" <<<"$text" || fail "status text lacks the reason: $text"
grep -Eq "^itest-trk +[0-9]+ .* tracked by $active " <<<"$text" || fail "VM row lacks 'tracked by $active': $text"
# The Tracker line named why idle_pages is out: no second "unavailable" line for it.
if [[ $active == page_idle ]]; then
        grep -q "idle_pages: unavailable" <<<"$text" && fail "idle_pages explained twice: $text"
fi
metrics_has "vtism_vm_tracker_info{id=\"pid-$qpid\",name=\"itest-trk\",trackers=\"$active\"} 1" \
        || fail "metrics (B): $("$VTISMCTL" metrics | grep tracker)"
ok "auto on the page_idle fixture: $reason; the VM is fed by $active"

# ---- C: reload with a configured tracker that is not usable ----
write_conf damon
"$VTISMCTL" reload >/dev/null || fail "reload"
s=$(status)
reason=$(jq -r '.active_tracker_reason // ""' <<<"$s")
[[ $(jq -r '.active_tracker' <<<"$s") == null ]] || fail "damon on a fixture without DAMON is active: $s"
[[ $reason == "none: the configured tracker damon is not usable: kernel lacks the DAMON sysfs interface"* ]] \
        || fail "configured damon, reason: '$reason'"
wait_for 10 bash -c "\"$VTISMCTL\" status --json | jq -en 'input | any(.vms[]; .name == \"itest-trk\"
        and .trackers == \"none\" and .state == \"untrackable\"
        and .tracker_detail == \"the configured tracker damon is not usable on this host\")' >/dev/null" \
        || fail "VM after the reload: $(vm_json)"
text=$("$VTISMCTL" status)
grep -qxF "      Tracker: $reason" <<<"$text" || fail "status text lacks the reason (C): $text"
grep -Eq '^itest-trk +[0-9]+ .* untrackable ' <<<"$text" || fail "VM row (C): $text"
grep -qxF "  itest-trk: the configured tracker damon is not usable on this host" <<<"$text" || fail "VM's reason (C): $text"
# damon's reason is in the Tracker line: not repeated as "damon: unavailable".
grep -q "damon: unavailable" <<<"$text" && fail "damon explained twice: $text"
ok "reloaded with tracker = damon: $reason; the VM is fed by none"
kill -0 "$VTISMD_PID" || fail "vtismd died"
kill -TERM "$VTISMD_PID"; wait "$VTISMD_PID" || fail "exit status on SIGTERM (C)"
echo PASS
