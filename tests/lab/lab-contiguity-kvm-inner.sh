#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Runs INSIDE the lab (tests/lab/run --systemd --kvm, 2 nodes: DRAM node 0, CXL node 1): vtismd
# under systemd finds a real KVM guest (QEMU running vtguest, 512 MiB of THP-backed guest RAM,
# its hot window 128 MiB at guest-physical 128 MiB) by itself and tiers it with a DRAM budget of
# 256 MiB (the sizes of lab-placement-kvm), and vtismctl contiguity shows what that cost:
#   - placed: with migration paused, the guest's RAM as QEMU and the guest put it (all on node 0,
#     >= 80 % of it in 2 MiB THP mappings: the guest wrote every page), and vtismd's own
#     before-tiering summary (trigger tiering-start, nothing moved);
#   - after vtism converged (the window >= 95 % on DRAM, DRAM use within budget + 2 %):
#     >= 128 MiB of the guest on node 1, >= 95 % of the placed summary's 2 MiB mappings kept,
#     >= 95 % of what is on node 1 in huge mappings, and the kernel's AnonHugePages of the guest
#     RAM mapping (numa-where) >= 95 % of what it was;
#   - the guest kept running and its memory is intact (mailbox command 3: bad=0).
# Usage: lab-contiguity-kvm-inner.sh SOURCE_ROOT BUILD_ROOT
set -euo pipefail

SRC=$1
BUILD=$2
# shellcheck disable=SC2034 # read by lib/placement.sh
PL_NAME=lab-contiguity-kvm
# shellcheck source=lib/install-vtism.sh
. "$SRC/tests/lab/lib/install-vtism.sh"
# shellcheck source=lib/placement.sh
. "$SRC/tests/lab/lib/placement.sh"

[[ ${VTISM_LAB:-} == 1 && -d /run/systemd/system ]] || {
        echo "SKIP: run me through tests/lab/run --systemd --kvm"
        exit 77
}
[[ -c /dev/kvm ]] || pl_fail "no /dev/kvm in the lab"
thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo "not built in")
[[ $thp == *"[always]"* || $thp == *"[madvise]"* ]] || { echo "SKIP: no THP in the lab kernel ($thp)"; exit 77; }

MIB=$((1 << 20))
INTERVAL_MS=${VTISM_PLACEMENT_INTERVAL_MS:-8000}
MEM=$((512 * MIB)) HOT_GPA=$((128 * MIB)) HOT=$((128 * MIB)) BUDGET=$((256 * MIB))
# shellcheck disable=SC2034 # read by lib/placement.sh
PL_PROBE_SLEEP=3
WHERE=$BUILD/tests/lab/workloads/numa-where

cat >/tmp/vtism.conf <<CONF
global = {
        sample_interval_ms = $INTERVAL_MS;
        heat_range = "64M";
        log_level = "debug";            # one journal entry per cycle (VTISM_CYCLE=): pl_converge counts cycles
        libvirt_uri = "qemu+unix:///system?socket=/nonexistent";
};
vm = ( { cmdline = "*vtguest*"; dram_budget = "256M"; } );
CONF
install_vtism "$SRC" "$BUILD" /tmp/vtism.conf
systemctl start vtismd.service || pl_fail "systemctl start vtismd"
t_start=$SECONDS

# Nothing is sampled while the guest writes its memory once (slow under TCG), and nothing moves
# until the placed summary is taken.
vtismctl pause all >/dev/null || pl_fail "vtismctl pause all"
"$BUILD/tests/lab/workloads/run-guest" --mem $((MEM >> 20)) --accel kvm --timeout 900 --info /tmp/guest.info --log /tmp/guest.log -- \
        hot=$((HOT_GPA))+$((HOT)) mode=write report=5 verify=1 || pl_fail "run-guest: $(tail -n 20 /tmp/guest.log)"
# shellcheck disable=SC1091 # written by run-guest
. /tmp/guest.info
trap 'kill "$QEMU_PID" 2>/dev/null || true' EXIT
PL_DIAG_VMS+=("$QEMU_PID")
grep '^VTGUEST: ready' "$LOG"
mailbox_gpa=$(sed -n 's/^VTGUEST: ready .* mailbox=\(0x[0-9a-f]*\) .*/\1/p' "$LOG")
[[ -n $mailbox_gpa ]] || pl_fail "cannot parse the guest's ready line: $(cat "$LOG")"
[[ $ACCEL == kvm ]] || pl_fail "the guest does not run on KVM"
pl_log "guest: QEMU pid $QEMU_PID, accel $ACCEL, guest RAM at hva $RAM_HVA_START, mailbox at gpa $mailbox_gpa"

mailbox() {
        printf "\\x$(printf %02x "$1")\\x00\\x00\\x00" |
                dd of="/proc/$QEMU_PID/mem" bs=1 seek=$((RAM_HVA_START + mailbox_gpa)) conv=notrunc status=none
}

# Where the guest's pages are (numa-where: a move_pages query of every page from outside).
# shellcheck disable=SC2034 # PROBE_* are read by pl_converge (lib/placement.sh)
guest_probe() {
        local out hot total
        out=$("$WHERE" "$QEMU_PID" $((RAM_HVA_START + HOT_GPA)) "$HOT" "$RAM_HVA_START" "$HOT_GPA" \
                $((RAM_HVA_START + HOT_GPA + HOT)) $((MEM - HOT_GPA - HOT))) || pl_fail "numa-where: $out"
        hot=$(sed -n 1p <<<"$out") total=$(sed -n 4p <<<"$out")
        PROBE_HOT=$(kv "$hot" pages)
        PROBE_HOT0=$(kv "$hot" node0)
        PROBE_NODE0=$(kv "$total" node0)
        PROBE_THP_KIB=$(kv "$total" anon_huge_kib)
        PROBE_T=$(kv "$total" t)
        PROBE_LINE="hot: node0=$PROBE_HOT0 node1=$(kv "$hot" node1); RAM: node0=$PROBE_NODE0 node1=$(kv "$total" node1) absent=$(kv "$total" absent); AnonHugePages $PROBE_THP_KIB kB"
}

verify() {
        local before i line
        before=$(grep -c '^VTGUEST: verify' "$LOG" || true)
        mailbox 3
        for ((i = 0; i < 1200; i++)); do
                (($(grep -c '^VTGUEST: verify' "$LOG" || true) > before)) && break
                kill -0 "$QEMU_PID" 2>/dev/null || pl_fail "the guest died: $(tail -n 5 "$LOG")"
                sleep 0.1
        done
        line=$(grep '^VTGUEST: verify' "$LOG" | tail -n 1)
        pl_log "guest after $1: $line"
        [[ $line == *" bad=0"* ]] || pl_fail "the guest's memory changed after $1: $line"
}

contig() { timeout 600 vtismctl contiguity --json "$@"; }
brief() { jq -c "$1"' | {trigger, moved_bytes, present_bytes, thp_2m, mapped_4k_bytes, runs, nodes}'; }

# ---- placed: sampling on (so the guest is tracked and its before-tiering summary taken), nothing moves ----
vtismctl resume sampling >/dev/null || pl_fail "vtismctl resume sampling"
pl_wait_tracked "$QEMU_PID"
deadline=$((SECONDS + 300))
while ! j=$(contig --max-age=86400 "$QEMU_PID") || [[ $(jq -r '.before_tiering.trigger // empty' <<<"$j") != tiering-start ]]; do
        ((SECONDS < deadline)) || pl_fail "no before-tiering summary of the guest: $j"
        sleep 2
done
brief .before_tiering <<<"$j"
jq -e '.before_tiering.moved_bytes == 0' <<<"$j" >/dev/null || pl_fail "the before-tiering summary says vtism had moved memory"
pl_log "before tiering (vtismd's own, at tracking start): $(jq .before_tiering.thp_2m <<<"$j") 2 MiB THP mappings of $(( $(jq .before_tiering.present_bytes <<<"$j") >> 20)) MiB present"
j=$(contig --max-age=0 "$QEMU_PID") || pl_fail "vtismctl contiguity --max-age=0 (placed): $j"
brief .now <<<"$j"
placed_thp=$(jq .now.thp_2m <<<"$j") placed_present=$(jq .now.present_bytes <<<"$j")
jq -e --argjson m "$MEM" '.now | .moved_bytes == 0 and .present_bytes >= $m * 0.9 and .thp_2m * 2097152 >= $m * 0.8
        and (.nodes | map(select(.node == 1)) | length) == 0' <<<"$j" >/dev/null ||
        pl_fail "placed: not >= 90 % present, >= 80 % in THPs and all off node 1: $(jq -c .now <<<"$j")"
guest_probe
thp_before=$PROBE_THP_KIB
pl_log "placed: $placed_thp 2 MiB THP mappings, $((placed_present >> 20)) MiB present; $PROBE_LINE"

# ---- vtism tiers it ----
vtismctl resume migration >/dev/null || pl_fail "vtismctl resume migration"
pl_converge guest "$QEMU_PID" "$BUDGET" "$(pl_now)" 10 guest_probe
pl_wait_cycles "$QEMU_PID" 2
pl_poll
moved=$(( $(pl_moved_pages "$QEMU_PID") * 4096 ))
guest_probe
pl_log "converged: vtism moved $((moved >> 20)) MiB; $PROBE_LINE"
((moved > 0)) || pl_fail "vtism moved nothing"

# ---- after the moves ----
j=$(contig --max-age=0 "$QEMU_PID") || pl_fail "vtismctl contiguity --max-age=0 (after the moves): $j"
brief .now <<<"$j"
after_thp=$(jq .now.thp_2m <<<"$j")
jq -e '.now.moved_bytes > 0 and .before_tiering.trigger == "tiering-start"' <<<"$j" >/dev/null ||
        pl_fail "after the moves: the summary says nothing moved, or the before-tiering one is gone: $(jq -c . <<<"$j")"
jq -e '(.now.nodes | map(select(.node == 1)) | .[0].bytes // 0) >= 128 * 1048576' <<<"$j" >/dev/null ||
        pl_fail "less than 128 MiB of the guest on node 1 after the moves: $(jq -c .now.nodes <<<"$j")"
pl_log "after $(( $(jq .now.moved_bytes <<<"$j") >> 20)) MiB moved: $after_thp 2 MiB THP mappings of $placed_thp placed; AnonHugePages $PROBE_THP_KIB kB (was $thp_before kB)"
((after_thp * 100 >= placed_thp * 95)) || pl_fail "only $after_thp of $placed_thp 2 MiB mappings kept across vtism's moves"
jq -e '(.now.nodes | map(select(.node == 1)) | .[0] | .huge_bytes * 100 >= .bytes * 95)' <<<"$j" >/dev/null ||
        pl_fail "the guest memory moved to node 1 is not in huge mappings: $(jq -c .now.nodes <<<"$j")"
((PROBE_THP_KIB * 100 >= thp_before * 95)) || pl_fail "the kernel says AnonHugePages $thp_before -> $PROBE_THP_KIB kB"
verify "vtism moved its pages"

vtismctl contiguity "$QEMU_PID"
pl_log "SUMMARY 2 MiB THP mappings $placed_thp placed -> $after_thp after $((moved >> 20)) MiB moved; runs $(jq .before_tiering.runs <<<"$j") before tiering -> $(jq .now.runs <<<"$j"); $((SECONDS - t_start)) s"
mailbox 2
systemctl stop vtismd.service
echo "PASS: $PL_NAME"
