#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Runs INSIDE the lab (tests/lab/run --systemd --kvm): vtismd under systemd finds a KVM guest on
# its own, samples it with the tracker 'auto' picks on this kernel, and 'vtismctl heatmap' shows
# the guest's hot window at the right guest-physical address; with DAMON, vtismd SIGKILLed and
# restarted by systemd leaves no orphaned kdamond (the new one reclaims the old one's) and finds
# the guest as it was; when QEMU exits, the VM is dropped and the daemon carries on; a stop
# leaves no kdamond.
# Usage: lab-vtismd-kvm-inner.sh SOURCE_ROOT BUILD_ROOT EXPECTED_TRACKER
set -euo pipefail

SRC=$1
BUILD=$2
EXPECTED_TRACKER=$3
# shellcheck source=lib/install-vtism.sh
. "$SRC/tests/lab/lib/install-vtism.sh"
# shellcheck source=../lib/output.sh
. "$SRC/tests/lib/output.sh"

[[ ${VTISM_LAB:-} == 1 && -d /run/systemd/system ]] || {
        echo "SKIP: run me through tests/lab/run --systemd --kvm"
        exit 77
}
[[ -c /dev/kvm ]] || { echo "FAIL: no /dev/kvm in the lab"; exit 1; }

fail() {
        echo "FAIL: $*"
        journalctl --no-pager -o short-monotonic -u vtismd.service | tail -n 30
        exit 1
}

window_gpa=$((0x1000000))
window_bytes=$((8 << 20))
range_bytes=$((8 << 20))

cat >/tmp/vtism.conf <<'CONF'
global = {
        sample_interval_ms = 1000;
        heat_range = "8M";
};
CONF
install_vtism "$SRC" "$BUILD" /tmp/vtism.conf
systemctl start vtismd.service || fail "systemctl start vtismd"

"$BUILD/tests/lab/workloads/run-guest" --mem 64 --accel kvm --info /tmp/guest.info -- \
        hot=0x1000000+8M mode=write report=5 >/dev/null
. /tmp/guest.info
trap 'kill "$QEMU_PID" 2>/dev/null || true' EXIT
echo "guest: pid $QEMU_PID, accel $ACCEL, RAM at hva $RAM_HVA_START"

vm() { vtismctl status --json | jq -c --argjson p "$QEMU_PID" '.vms[] | select(.pid == $p)'; }
sampled() { vm | jq -en 'input | (.state == "tracked" and .cycles >= 25)' >/dev/null; }
deadline=$((SECONDS + 180))
until sampled; do
        ((SECONDS < deadline)) || fail "the guest was not sampled for 25 cycles: $(vm)"
        sleep 2
done
tracker=$(vtismctl status --json | jq -r .active_tracker)
[[ $tracker == "$EXPECTED_TRACKER" ]] || fail "tracker '$tracker', expected '$EXPECTED_TRACKER'"

# Which trackers feed the guest and why, as status says it (ActiveTrackerReason, VMs.trackers):
# the stock kernel lacks idle_pages and page_idle, so auto takes damon+softdirty and says why;
# on the patched kernel idle_pages, with nothing passed over.
status=$(vtismctl status --json)
reason=$(jq -r '.active_tracker_reason // ""' <<<"$status")
case $EXPECTED_TRACKER in
damon+softdirty)
        [[ $reason == "damon+softdirty (auto); unusable: idle_pages: kernel lacks /proc/PID/idle_pages"*"; page_idle: "* ]] \
                || fail "the stock kernel's reason: '$reason'"
        # Both parts follow the guest, and the detail names each part's role.
        vm | jq -en 'input | (.trackers == "damon+softdirty"
                and (.tracker_detail | startswith("damon (reads, per region) + softdirty (writes, page-exact), merged")))' \
                >/dev/null || fail "the guest's trackers on the stock kernel: $(vm)" ;;
idle_pages)
        [[ $reason == "idle_pages (auto)" ]] || fail "the patched kernel's reason: '$reason'"
        vm | jq -en 'input | (.trackers == "idle_pages" and .tracker_detail == "idle_pages")' >/dev/null \
                || fail "the guest's trackers on the patched kernel: $(vm)" ;;
*)
        vm | jq -en --arg t "$EXPECTED_TRACKER" 'input | .trackers == $t' >/dev/null || fail "the guest's trackers: $(vm)" ;;
esac
text=$(vtismctl status)
grep -qxF "      Tracker: $reason" <<<"$text" || fail "status lacks 'Tracker: $reason': $text"
grep -Eq "^[^ ].* tracked by ${EXPECTED_TRACKER//+/\\+} " <<<"$text" || fail "the VM row lacks 'tracked by $EXPECTED_TRACKER': $text"
# Read whole first: under pipefail, grep -q quitting at the match can kill a still-writing vtismctl.
metrics=$(vtismctl metrics)
grep -Eq "^vtism_vm_tracker_info\{id=\"[^\"]*\",name=\"[^\"]*\",trackers=\"${EXPECTED_TRACKER//+/\\+}\"\} 1$" <<<"$metrics" \
        || fail "metrics: $(grep tracker <<<"$metrics")"
echo "ok: status says the guest is fed by $EXPECTED_TRACKER, and why: $reason"
echo "    $(vm | jq -r .tracker_detail)"

# The first placement pass (move_pages queries in the migrator's slices, after the cycles) can
# lag the sampling under TCG on a loaded host: not done 88 cycles in, once. Wait for it.
placed() { vm | jq -en 'input | .residency_known' >/dev/null; }
deadline=$((SECONDS + 180))
until placed; do
        ((SECONDS < deadline)) || fail "the guest's first placement pass did not complete: $(vm)"
        sleep 2
done
vm | jq -en 'input | (.ram_bytes == 67108864 and .residency_known and .dram_bytes + .cxl_bytes > 0)' >/dev/null \
        || fail "VM record: $(vm)"
echo "ok: vtismd found and sampled the KVM guest with $tracker: $(vm)"

vtismctl heatmap "$QEMU_PID" | tee /tmp/heatmap.txt
# The HEAT column is digits (tenths of the range per bucket) and spaces: no glyph of the strip.
rows=$(grep -c '^0x' /tmp/heatmap.txt)
good=$(grep -Ec '^0x[0-9a-f]+ .*\[[0-9 ]{8}\]$' /tmp/heatmap.txt)
((rows > 0 && rows == good)) || fail "heatmap rows with a HEAT column other than [digits]: $((rows - good)) of $rows"
map=$(vtismctl heatmap --json "$QEMU_PID")
# Recall: the window's range is (almost) all hot. Precision: above the guest's own image and
# stack (range 0, which the guest touches every round), little else is hot. Warm pages at the
# window's edges are DAMON's region granularity cooling off, not hot.
hot_window=$(jq --argjson g "$window_gpa" '[.ranges[] | select(.gpa == $g) | .hot_bytes] | add // 0' <<<"$map")
hot_elsewhere=$(jq --argjson g "$window_gpa" '[.ranges[] | select(.gpa != $g and .gpa != 0) | .hot_bytes] | add // 0' <<<"$map")
echo "hot in the window: $hot_window of $window_bytes bytes; hot elsewhere above 8 MiB: $hot_elsewhere bytes"
((hot_window * 10 >= window_bytes * 9)) || fail "recall below 90 %: $hot_window of $window_bytes"
((hot_elsewhere * 10 <= window_bytes)) || fail "precision below 90 %: $hot_elsewhere bytes hot outside the window"
# The hottest range (by mean heat bucket) is the window's.
hottest=$(jq '[.ranges[] | {gpa, score: ([.heat_buckets_pages | to_entries[] | .key * .value] | add)}]
              | max_by(.score) | .gpa' <<<"$map")
((hottest == window_gpa)) || fail "hottest range at $hottest, expected $window_gpa"
echo "ok: heatmap puts the hot window at GPA 0x1000000 (range of $range_bytes bytes)"

admin=/sys/kernel/mm/damon/admin
main_pid() { systemctl show -p MainPID --value vtismd.service; }
# kdamonds: "N STATE OWNER" (owner: the pid in vtism's mark on scheme 0, tracker-damon.c), read
# through damon-regions, which retries EBUSY (DAMON's sysfs lock, taken by vtismd's own reads)
kdamonds() {
        local n state=- owner=- rd=$BUILD/tests/lab/workloads/damon-regions
        n=$("$rd" read "$admin/kdamonds/nr_kdamonds") || fail "cannot read DAMON's nr_kdamonds"
        if ((n > 0)); then
                state=$("$rd" read "$admin/kdamonds/0/state") || fail "cannot read kdamond 0's state"
                owner=$("$rd" read "$admin/kdamonds/0/contexts/0/schemes/0/watermarks/high" 2>/dev/null || echo -)
        fi
        echo "$n $state $owner"
}
if [[ $EXPECTED_TRACKER == damon ]]; then
        old=$(main_pid)
        [[ $(kdamonds) == "1 on $old" ]] || fail "vtismd's kdamond: $(kdamonds), MainPID $old"
        before=$(vm | jq -c '{id, pid, ram_bytes, cxl_bytes}')
        systemctl kill -s KILL vtismd.service
        deadline=$((SECONDS + 60))
        until [[ $(systemctl is-active vtismd.service) == active && $(main_pid) != "$old" && $(main_pid) != 0 ]]; do
                ((SECONDS < deadline)) || fail "systemd did not restart vtismd after SIGKILL: $(systemctl status vtismd.service | head -n 5)"
                sleep 1
        done
        new=$(main_pid)
        kill -0 "$QEMU_PID" || fail "the guest died with vtismd"
        resampled() { vm | jq -en 'input | (.state == "tracked" and .cycles >= 3 and .residency_known)' >/dev/null; }
        deadline=$((SECONDS + 120))
        until resampled; do
                ((SECONDS < deadline)) || fail "the guest was not sampled again after the restart: $(vm)"
                sleep 2
        done
        [[ $(kdamonds) == "1 on $new" ]] || fail "after the restart: kdamonds $(kdamonds), new MainPID $new (old $old)"
        after=$(vm | jq -c '{id, pid, ram_bytes, cxl_bytes}')
        [[ $after == "$before" ]] || fail "the guest after the restart: $after, before: $before"
        journalctl --no-pager -o cat -u vtismd.service | grep -E "damon" | tail -n 5
        echo "ok: SIGKILL of vtismd ($old): systemd restarted it ($new), its kdamond reclaimed (no orphan, not doubled), the guest found as it was: $after"
fi

kill "$QEMU_PID"
deadline=$((SECONDS + 30))
while [[ -n $(vm) ]]; do
        ((SECONDS < deadline)) || fail "the exited VM is still listed"
        sleep 1
done
[[ $(systemctl is-active vtismd.service) == active ]] || fail "vtismd is not active after the VM exited"
output_has "(pid $QEMU_PID) .*no longer tracked" -- journalctl --no-pager -o cat -u vtismd.service \
        || fail "no journal entry for the VM's exit"
echo "ok: the exited VM was dropped, vtismd keeps running"
systemctl stop vtismd.service
if [[ $EXPECTED_TRACKER == damon ]]; then
        [[ $(kdamonds) == "0 - -" ]] || fail "a kdamond was left behind after the stop: $(kdamonds)"
        echo "ok: no kdamond left after the stop"
fi
echo "lab-vtismd-kvm-inner: all checks passed"
