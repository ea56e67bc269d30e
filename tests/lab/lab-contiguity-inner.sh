#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Runs INSIDE the lab (tests/lab/run --systemd, 2 nodes: DRAM node 0, CXL node 1): vtismd under
# systemd tiers a THP-backed memhog of 256 MiB with a 32 MiB hot window and a DRAM budget of
# 64 MiB (found through the config's processes entry), so that it demotes ~192 MiB of cold memory
# to the CXL node, and vtismctl contiguity shows:
#   - the before-tiering summary (trigger tiering-start, nothing moved yet) with the memory on
#     node 0 and most of it in 2 MiB THP mappings;
#   - after moves, a summary vtismd took by itself (trigger migration, what it had moved, memory
#     on node 1) and its journal line against the before-tiering one;
#   - >= 95 % of the 2 MiB mappings kept across the moves (the planner moves a THP as one unit,
#     and the kernel migrates it whole when node 1 has free 2 MiB pages), checked both in the
#     summaries and against the kernel's own AnonHugePages of the process;
#   - the journal's line comparing the two.
# The workload is a process vtismd takes for a VM, not a KVM guest: its anonymous memory is what
# a guest's RAM is to QEMU.
# Usage: lab-contiguity-inner.sh SOURCE_ROOT BUILD_ROOT
set -euo pipefail

SRC=$1
BUILD=$2
# shellcheck disable=SC2034 # read by lib/placement.sh
PL_NAME=lab-contiguity
# shellcheck disable=SC2034 # read by lib/placement.sh
PL_MEMHOG=$BUILD/tests/lab/workloads/memhog
# shellcheck source=lib/install-vtism.sh
. "$SRC/tests/lab/lib/install-vtism.sh"
# shellcheck source=lib/placement.sh
. "$SRC/tests/lab/lib/placement.sh"

[[ ${VTISM_LAB:-} == 1 && -d /run/systemd/system ]] || {
        echo "SKIP: run me through tests/lab/run --systemd"
        exit 77
}

MIB=$((1 << 20))
SIZE=$((256 * MIB)) BUDGET=$((64 * MIB))
cat >/tmp/vtism.conf <<CONF
global = {
        sample_interval_ms = 3000;
        heat_range = "16M";
        migrate_rate_limit_mbps = 256;
        log_level = "debug";
        libvirt_uri = "qemu+unix:///system?socket=/nonexistent";
};
processes = ( { cmdline = "*--info=/tmp/vm-*"; } );
vm = ( { cmdline = "*vm-t1.info*"; dram_budget = "64M"; } );
CONF

thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo "not built in")
[[ $thp == *"[always]"* || $thp == *"[madvise]"* ]] || { echo "SKIP: no THP in the lab kernel ($thp)"; exit 77; }
echo "THP: $thp; defrag: $(cat /sys/kernel/mm/transparent_hugepage/defrag)"

install_vtism "$SRC" "$BUILD" /tmp/vtism.conf
systemctl start vtismd.service || pl_fail "systemctl start vtismd"

anon_huge() { awk '/^AnonHugePages:/ { s += $2 } END { print s * 1024 }' "/proc/$1/smaps"; }
contig() { timeout 600 vtismctl contiguity --json "$@"; }

hog_start t1 --size=256M --hot=32M --offset=0 --bind=0 --thp=on
pid=${HOG_PID[t1]}
PL_DIAG_VMS+=("$pid")
huge0=$(anon_huge "$pid")
pl_log "memhog t1 (pid $pid) placed: $(head -n 1 "${HOG_INFO[t1]}"); AnonHugePages $((huge0 >> 20)) MiB"
((huge0 * 10 >= SIZE * 9)) || pl_fail "memhog got only $((huge0 >> 20)) MiB of THPs of $((SIZE >> 20)) MiB"
pl_wait_tracked "$pid"

# ---- before tiering ----
deadline=$((SECONDS + 300))
while ! j=$(contig --max-age=86400 "$pid") || [[ $(jq -r '.before_tiering.trigger // empty' <<<"$j") != tiering-start ]]; do
        ((SECONDS < deadline)) || pl_fail "no before-tiering summary of t1: $j"
        sleep 2
done
jq -c '.before_tiering | {taken_at_usec, moved_bytes, present_bytes, thp_2m, runs, nodes}' <<<"$j"
before_thp=$(jq .before_tiering.thp_2m <<<"$j")
jq -e --argjson s "$SIZE" '.before_tiering | .moved_bytes == 0 and .present_bytes >= $s * 0.95
        and .thp_2m * 2097152 >= $s * 0.9 and .nodes[0].node == 0 and .nodes[0].bytes == .present_bytes' <<<"$j" >/dev/null ||
        pl_fail "before tiering: not all on node 0 in THPs: $(jq -c .before_tiering <<<"$j")"
pl_log "before tiering: $before_thp 2 MiB THP mappings, all on node 0"

# ---- the moves ----
deadline=$((SECONDS + 600))
while :; do
        pl_poll
        dram=$(pl_vm_get "$pid" .dram_bytes) moved=$(( $(pl_moved_pages "$pid") * 4096 ))
        [[ $dram != null ]] && ((dram <= BUDGET + BUDGET / 50 && moved > 0)) && break
        ((SECONDS < deadline)) || pl_fail "t1 not down to its budget in 600 s: DRAM $dram, moved $moved"
        sleep 3
done
pl_log "t1 on DRAM: $((dram >> 20)) MiB (budget $((BUDGET >> 20)) MiB); vtism moved $((moved >> 20)) MiB"

# ---- the summary vtismd takes by itself after moves (60 s after the last one at the earliest) ----
deadline=$((SECONDS + 300))
while ! j=$(contig --max-age=86400 "$pid") || [[ $(jq -r .now.trigger <<<"$j") != migration ]]; do
        ((SECONDS < deadline)) || pl_fail "no summary after the moves within 300 s: $(jq -c '.now | {trigger, taken_at_usec, moved_bytes}' <<<"$j")"
        sleep 3
done
jq -c '.now | {trigger, moved_bytes, present_bytes, thp_2m, runs, nodes}' <<<"$j"
jq -e '.now.moved_bytes > 0 and .moved_bytes >= .now.moved_bytes and (.now.nodes | map(select(.node == 1)) | length) == 1
        and .before_tiering.trigger == "tiering-start"' <<<"$j" >/dev/null ||
        pl_fail "the summary after moves: nothing moved, nothing on node 1 or no before-tiering summary: $(jq -c . <<<"$j")"
line=$(journalctl --no-pager -u vtismd.service |
       grep -E "VM [^ ]+ after .* moved: [0-9]+ 2 MiB mappings \([0-9.]+% of the $before_thp before tiering\)") ||
        pl_fail "no journal line comparing the summary after moves with the one before tiering"
pl_log "by itself after $(( $(jq .now.moved_bytes <<<"$j") >> 20)) MiB moved: ${line#*vtismd*: }"

# ---- now, after the moves: the 2 MiB mappings kept ----
j=$(contig --max-age=0 "$pid") || pl_fail "vtismctl contiguity --max-age=0: $j"
jq -c '.now | {trigger, moved_bytes, present_bytes, thp_2m, runs, nodes}' <<<"$j"
after_thp=$(jq .now.thp_2m <<<"$j")
huge1=$(anon_huge "$pid")
jq -e '(.now.nodes | map(select(.node == 1)) | .[0].bytes) >= 128 * 1048576' <<<"$j" >/dev/null ||
        pl_fail "less than 128 MiB of t1 on node 1 after the moves: $(jq -c .now.nodes <<<"$j")"
pl_log "after $(( $(jq .now.moved_bytes <<<"$j") >> 20)) MiB moved: $after_thp 2 MiB THP mappings of $before_thp before tiering; AnonHugePages $((huge1 >> 20)) MiB (was $((huge0 >> 20)))"
((after_thp * 100 >= before_thp * 95)) || pl_fail "only $after_thp of $before_thp 2 MiB mappings kept across the moves"
((huge1 * 100 >= huge0 * 95)) || pl_fail "the kernel says only $((huge1 >> 20)) of $((huge0 >> 20)) MiB THPs are left"
jq -e '(.now.nodes | map(select(.node == 1)) | .[0] | .huge_bytes * 100 >= .bytes * 95)' <<<"$j" >/dev/null ||
        pl_fail "the memory moved to node 1 is not in THPs: $(jq -c .now.nodes <<<"$j")"

vtismctl contiguity "$pid"
hog_stop t1
echo "PASS: $PL_NAME"
