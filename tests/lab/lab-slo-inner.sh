#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Runs INSIDE the lab (tests/lab/run --systemd, 2 nodes: DRAM node 0, CXL node 1): two memhog
# "VMs" under vtismd, DRAM oversubscribed by a filler (not a VM) and the free watermark so that
# the VMs share ~320 MiB:
#   s1: 320 MiB, hot window 96 MiB, cxl_access_max_percent = 5 (dram_max 100 %);
#   b1: 320 MiB, all of it hot, dram_budget = "100%".
# Both start on CXL. memhog reads each page of its hot window once a pass, so the share of its
# accesses served from CXL is the share of its hot window on the CXL node, which it reports itself
# (move_pages queries: hot_node1 / hot pages), never taken from vtismd. Checked: within
# SETTLE_CYCLES of vtismd's cycles (its own counter, counters.cycles in the status, from the moment
# both VMs are tracked) s1's share is <= 6 % (the cap + 1 point) in two reports in a row, b1 holds
# the rest of the room, status says the service level is met, and the estimate vtismd shows is
# within 5 points of the workload's own count.
# Then DRAM given back: s1's hot window shrinks to its first 16 MiB (memhog's phase shift on
# SIGUSR2: the guest went idle but for a little). Checked, counted by the workloads: within
# GIVE_BACK_CYCLES of vtismd's cycles (counted from its counter read before the shrink to the one
# read after the report that shows it done: never fewer than really passed) s1 holds at most its new hot set + 24 MiB of DRAM and b1 took what s1
# released (16 MiB of slack); coldest first: no still-hot page went to CXL in a cycle after which
# s1 still held more DRAM than its new hot set (+ 8 MiB) (at most 1 % of the window, counted
# between reports), and its share is <= 6 % then.
# The setup (configuration, vtismd under systemd, the filler) is lib/placement.sh's, shared with
# lab-placement.
# Usage: lab-slo-inner.sh SOURCE_ROOT BUILD_ROOT
set -euo pipefail

# shellcheck source=lib/placement.sh
. "$1/tests/lab/lib/placement.sh"
# shellcheck source=../lib/output.sh
. "$1/tests/lib/output.sh"
PL_NAME=lab-slo

pl_config_vms() {
        echo '        { cmdline = "*vm-s1.info*"; cxl_access_max_percent = 5; },'
        echo '        { cmdline = "*vm-b1.info*"; dram_budget = "100%"; }'
}

pl_setup "$1" "$2"
# The filler takes DRAM; the watermark leaves the VMs ~320 MiB (as lab-placement (e) does).
pl_shape_dram "" 320
room=$PL_ROOM

hog_start s1 --size=320M --hot=96M --phase-offset=0 --phase-hot=16M --bind=1 --thp=off
hog_start b1 --size=320M --hot=320M --bind=1 --thp=off
pl_wait_tracked "${HOG_PID[s1]}"
pl_wait_tracked "${HOG_PID[b1]}"
# The bounds, in vtismd's cycles. Settling: s1 starts with all 96 MiB of its hot window on CXL and
# the controller raises its target by a bounded step a cycle (slo.h) while the migrator moves at
# most 256 MiB/s, in the lab 10-25 MiB/s under load: 120 cycles is the 10 minutes at 5 s this test
# allowed before it counted cycles. Giving back: the 80 MiB gone cold cool by 12 % a cycle and
# the target follows them down (~32 cycles), plus the lab's migration lag: 50.
SETTLE_CYCLES=120
GIVE_BACK_CYCLES=50
daemon_cycles() { jq -r .counters.cycles <<<"$PL_STATUS"; }   # from the last pl_poll
pl_poll
cycle0=$(daemon_cycles)
stable=0 cycles=0
while :; do
        pl_wait_cycles "${HOG_PID[s1]}" 1
        hog_report s1; r1=$HOG_REPORT
        hog_report b1; r2=$HOG_REPORT
        hot1=$(( $(kv "$r1" hot_node0) + $(kv "$r1" hot_node1) ))
        share=$(( $(kv "$r1" hot_node1) * 10000 / hot1 ))
        b_dram=$(( $(kv "$r2" node0) * 4096 )) s_dram=$(( $(kv "$r1" node0) * 4096 ))
        pl_poll
        cycles=$(( $(daemon_cycles) - cycle0 ))
        est=$(pl_vm_get "${HOG_PID[s1]}" '.cxl_access_bp // -1')
        state=$(pl_vm_get "${HOG_PID[s1]}" '.slo_state // "none"')
        pl_log "cycle +$cycles: s1 $((share / 100)).$((share % 100 / 10)) % of its hot window on CXL (vtismd's estimate $est bp, $state), $((s_dram >> 20)) MiB on DRAM, target $(( $(pl_vm_get "${HOG_PID[s1]}" .dram_target_bytes) >> 20)) MiB; b1 $((b_dram >> 20)) MiB on DRAM"
        if ((share <= 600)) && [[ $state == met ]]; then
                stable=$((stable + 1))
                ((stable < 2)) || break
        else
                stable=0
        fi
        ((cycles < SETTLE_CYCLES)) || pl_fail "s1's CXL share not <= 6 % within $SETTLE_CYCLES of vtismd's cycles ($cycles passed)"
done
# the rest of the room is b1's (16 MiB of slack: the planner's view is a cycle old), within 10
# more cycles (the lab migrates at 10-25 MiB/s under load)
for ((i = 0; i < 10 && s_dram + b_dram + 16 * MIB < room; i++)); do
        pl_wait_cycles "${HOG_PID[b1]}" 1
        hog_report s1; s_dram=$(( $(kv "$HOG_REPORT" node0) * 4096 ))
        hog_report b1; b_dram=$(( $(kv "$HOG_REPORT" node0) * 4096 ))
        pl_log "b1 $((b_dram >> 20)) MiB on DRAM, s1 $((s_dram >> 20)) MiB"
done
((s_dram + b_dram + 16 * MIB >= room)) || pl_fail "b1 does not get the rest: s1 $((s_dram >> 20)) + b1 $((b_dram >> 20)) of $((room >> 20)) MiB"
((s_dram < 160 * MIB)) || pl_fail "s1 holds more DRAM ($((s_dram >> 20)) MiB) than its weight's half: the service level should cost less"
((est >= 0 && (est - share < 500) && (share - est < 500))) || pl_fail "vtismd's estimate $est bp is more than 5 points from the workload's $share bp"
output_has "service level 5.00 % of accesses from CXL: met" -- vtismctl status || pl_fail "status does not show the service level met: $(vtismctl status)"
pl_log "SUMMARY s1 (SLO 5 %): $((share / 100)).$((share % 100 / 10)) % of its accesses on CXL after $cycles of vtismd's cycles (bound $SETTLE_CYCLES) with $((s_dram >> 20)) MiB of DRAM (estimate $est bp); b1 $((b_dram >> 20)) MiB; $((SECONDS - PL_T_START)) s"

# ---- DRAM given back: s1's hot set shrinks 96 -> 16 MiB ----
# Its 80 MiB gone cold cool by 12 % a cycle; the controller lowers its target as they do (slo.h:
# at the new hot set once they read 0, ~32 cycles), the plan demotes them, coldest first, and b1
# (all hot, budget 100 %) is promoted into the room, within GIVE_BACK_CYCLES (above).
NEW_HOT=$((16 * MIB))
s_dram0=$s_dram b_dram0=$b_dram
pl_poll
cycle0=$(daemon_cycles)   # before the shrink: the count below can only be too high
kill -USR2 "${HOG_PID[s1]}"
for ((i = 0; i < 600; i++)); do grep -q '^memhog: phase ' "${HOG_INFO[s1]}" && break; sleep 0.1; done
grep -q "^memhog: phase .* hot_size=$NEW_HOT " "${HOG_INFO[s1]}" || pl_fail "s1 did not shrink its hot window: $(tail -n 3 "${HOG_INFO[s1]}")"
hog_report s1
hot_cxl0=$(kv "$HOG_REPORT" hot_node1)
hot_pages=$(( $(kv "$HOG_REPORT" hot_node0) + hot_cxl0 ))
((hot_pages == NEW_HOT / 4096)) || pl_fail "s1's report counts $hot_pages hot pages, not $((NEW_HOT / 4096))"
pl_log "s1's hot window shrank to 16 MiB ($hot_cxl0 of its pages on CXL); s1 $((s_dram0 >> 20)) MiB on DRAM, b1 $((b_dram0 >> 20)) MiB"
gave=0 max_share=0 demoted_hot=0 prev_hot_cxl=$hot_cxl0 c=0
while ((c <= GIVE_BACK_CYCLES)); do
        pl_wait_cycles "${HOG_PID[s1]}" 1
        hog_report s1; r1=$HOG_REPORT
        hog_report b1; r2=$HOG_REPORT
        s_dram=$(( $(kv "$r1" node0) * 4096 )) b_dram=$(( $(kv "$r2" node0) * 4096 ))
        hot_cxl=$(kv "$r1" hot_node1)
        share=$((hot_cxl * 10000 / hot_pages))
        # still-hot pages that went to CXL although s1 kept DRAM to spare for all of them (colder
        # pages stayed on DRAM instead): the service level may trade a few hot pages for DRAM only
        # once it holds less than its hot set
        if ((hot_cxl > prev_hot_cxl && s_dram >= NEW_HOT + 8 * MIB)); then
                demoted_hot=$((demoted_hot + hot_cxl - prev_hot_cxl))
        fi
        prev_hot_cxl=$hot_cxl
        ((share > max_share)) && max_share=$share
        pl_poll
        c=$(( $(daemon_cycles) - cycle0 ))   # read after the reports: at least the cycles they saw
        pl_log "give-back cycle +$c: s1 $((s_dram >> 20)) MiB on DRAM (target $(( $(pl_vm_get "${HOG_PID[s1]}" .dram_target_bytes) >> 20)) MiB), $hot_cxl hot pages on CXL; b1 $((b_dram >> 20)) MiB"
        if ((c <= GIVE_BACK_CYCLES && s_dram <= NEW_HOT + 24 * MIB && b_dram + 16 * MIB >= b_dram0 + s_dram0 - s_dram)); then
                gave=$c
                break
        fi
done
((gave > 0)) || pl_fail "s1 did not give its DRAM back within $GIVE_BACK_CYCLES of vtismd's cycles ($c passed): s1 $((s_dram0 >> 20)) -> $((s_dram >> 20)) MiB (want <= $(( (NEW_HOT >> 20) + 24 )) MiB), b1 $((b_dram0 >> 20)) -> $((b_dram >> 20)) MiB"
((demoted_hot <= hot_pages / 100)) || pl_fail "$demoted_hot of s1's $hot_pages still-hot pages went to CXL while it held more DRAM than they need (not coldest first)"
((share <= 600)) || pl_fail "s1's share is $((share / 100)).$((share % 100 / 10)) % after it gave DRAM back (at most $((max_share / 100)).$((max_share % 100 / 10)) % meanwhile)"
pl_log "SUMMARY give-back: s1's hot set 96 -> 16 MiB; after $gave of vtismd's cycles (bound $GIVE_BACK_CYCLES) s1 $((s_dram0 >> 20)) -> $((s_dram >> 20)) MiB of DRAM, b1 $((b_dram0 >> 20)) -> $((b_dram >> 20)) MiB; $demoted_hot of its still-hot pages went to CXL while it had DRAM for them ($hot_cxl0 of $hot_pages were on CXL at the shrink), its share at most $((max_share / 100)).$((max_share % 100 / 10)) %, now $((share / 100)).$((share % 100 / 10)) %"
vtismctl plan "${HOG_PID[s1]}"
hog_stop s1
hog_stop b1
kill "$PL_FILLER" 2>/dev/null || true
systemctl stop vtismd.service
echo "lab-slo-inner: all checks passed"
