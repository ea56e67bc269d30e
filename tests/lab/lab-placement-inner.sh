#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Runs INSIDE the lab (tests/lab/run --systemd, 2 nodes: DRAM node 0, CXL node 1): vtismd under
# systemd tiers memhog processes (found through the config's processes entry), and every claim is
# checked against the workloads' own placement reports (move_pages queries of every page,
# memhog's "report" lines), never against vtismd's view alone:
#   (a) 768 MiB with a 128 MiB hot window, DRAM budget 256 MiB: from all on CXL and from all on
#       DRAM, within 10 cycles >= 95 % of the window on DRAM and DRAM use <= budget + 2 %; again
#       after a shift of the window; bytes moved <= 1.5 x the minimum; < 1 % of its RAM moved per
#       minute in the steady state; the journal's per-round entries add up to the VM's counters;
#       (cycles whose round the next plan replaced unfinished are the emulated lab's migration
#       speed, 10-25 MiB/s under load, and are added to the 10: lib/placement.sh pl_converge);
#       a MigrationRound signal per round;
#   (f) dry-run moves nothing (placement identical) and still reports the plan; pausing
#       migration stops moves within one cycle;
#   (d) a CXL node at its minimum free ratio receives no more demotions, and one given a little
#       room takes no more than that;
#   (e) two VMs with weights 3:1 and oversubscribed DRAM get DRAM shares within 10 % of 3:1;
#   (g) vtismd restarted with migration on picks up the placement it made: 8 cycles later the
#       workloads' placement is unchanged (1 % of their RAM per node) and it moved <= 1 % of it;
#   and a process whose cpuset.mems holds no CXL node is not tiered, and says why.
# Usage: lab-placement-inner.sh SOURCE_ROOT BUILD_ROOT
set -euo pipefail

# shellcheck source=lib/placement.sh
. "$1/tests/lab/lib/placement.sh"
# shellcheck source=../lib/output.sh
. "$1/tests/lib/output.sh"
PL_NAME=lab-placement

A_SIZE=$((768 * MIB)) A_HOT=$((128 * MIB)) A_BUDGET=$((256 * MIB))
A2_BUDGET=256M PL_CXL_MIN_FREE_RATIO=10

pl_config_vms() {
        cat <<VMS
        { cmdline = "*vm-a1.info*"; dram_budget = "256M"; },
        { cmdline = "*vm-a2.info*"; dram_budget = "$A2_BUDGET"; },
        { cmdline = "*vm-f1.info*"; dram_budget = "256M"; },
        { cmdline = "*vm-e1.info*"; dram_budget = "100%"; weight = 300; },
        { cmdline = "*vm-e2.info*"; dram_budget = "100%"; weight = 100; },
        { cmdline = "*vm-c0.info*"; dram_budget = "32M"; }
VMS
}

pl_setup "$1" "$2"

# Every MigrationRound signal, for the end.
busctl --system monitor --json=short --match "type='signal',interface='org.vtism1.Manager',member='MigrationRound'" \
        >/tmp/rounds.json 2>/tmp/rounds.err &
monitor_pid=$!

# A process in a cpuset without the CXL node (what libvirt's numatune mode="strict" does).
echo +cpuset >/sys/fs/cgroup/cgroup.subtree_control || pl_fail "cannot enable the cpuset controller"
mkdir -p /sys/fs/cgroup/strict-dram
echo 0 >/sys/fs/cgroup/strict-dram/cpuset.mems || pl_fail "cannot set cpuset.mems"
HOG_CGROUP=/sys/fs/cgroup/strict-dram hog_start c0 --size=64M --hot=8M --thp=off
grep Mems_allowed_list "/proc/${HOG_PID[c0]}/status"

# ---- (a) from all on CXL, then from all on DRAM -------------------------------------------------
pl_converge_fresh a1 "$A_BUDGET" "(a) from CXL" --size=768M --hot=128M --offset=0 --phase-offset=384M --bind=1 --thp=off
a1_conv=$FRESH_CYCLES a1_moved=$FRESH_MOVED a1_min=$FRESH_MIN
pl_converge_fresh a2 "$A_BUDGET" "(a) from DRAM" --size=768M --hot=128M --offset=0 --phase-offset=384M --bind=0 --thp=off
a2_conv=$FRESH_CYCLES a2_moved=$FRESH_MOVED a2_min=$FRESH_MIN

# ---- (a) the steady state: a minute -----------------------------------------------------------
pl_poll
s1=$(pl_moved_pages "${HOG_PID[a1]}") s2=$(pl_moved_pages "${HOG_PID[a2]}") ts=$SECONDS
sleep 60
pl_poll
d1=$(( ($(pl_moved_pages "${HOG_PID[a1]}") - s1) * 4096 )) d2=$(( ($(pl_moved_pages "${HOG_PID[a2]}") - s2) * 4096 ))
dt=$((SECONDS - ts))
pl_log "(a) steady state: a1 moved $d1 bytes, a2 $d2 bytes in $dt s (limit: 1 % of 768 MiB per minute)"
((d1 * 100 * 60 < A_SIZE * dt && d2 * 100 * 60 < A_SIZE * dt)) || pl_fail "(a) steady state moves too much"

# ---- (a) the hot window shifts ----------------------------------------------------------------
pl_poll
a1_m0=$(pl_moved_pages "${HOG_PID[a1]}") a2_m0=$(pl_moved_pages "${HOG_PID[a2]}")
kill -USR2 "${HOG_PID[a1]}" "${HOG_PID[a2]}"
for n in a1 a2; do
        for ((i = 0; i < 600; i++)); do grep -q '^memhog: phase ' "${HOG_INFO[$n]}" && break; sleep 0.1; done
        at=$(kv "$(grep '^memhog: phase ' "${HOG_INFO[$n]}")" at)
        [[ -n $at ]] || pl_fail "$n did not shift its window"
        eval "${n}_from=\$at"
        hog_probe "$n"
        eval "${n}_shift_min=\$(pl_min_bytes \"\$A_BUDGET\")"
        HOG_REPORT=$PROBE_LINE
        pl_log "$n shifted: $HOG_REPORT (minimum to move: $(( ${n}_shift_min >> 20)) MiB)"
done
# shellcheck disable=SC2154 # set by eval above
pl_converge a1 "${HOG_PID[a1]}" "$A_BUDGET" "$a1_from" 10 hog_probe
a1_sconv=$CONV_CYCLES
pl_converge a2 "${HOG_PID[a2]}" "$A_BUDGET" "$a2_from" 10 hog_probe
a2_sconv=$CONV_CYCLES
pl_wait_cycles "${HOG_PID[a2]}" 2
a1_smoved=$(( ($(pl_moved_pages "${HOG_PID[a1]}") - a1_m0) * 4096 ))
a2_smoved=$(( ($(pl_moved_pages "${HOG_PID[a2]}") - a2_m0) * 4096 ))
# shellcheck disable=SC2154 # set by eval above
pl_log "(a) shift: a1 converged in $a1_sconv cycles, moved $((a1_smoved >> 20)) MiB (minimum $((a1_shift_min >> 20)) MiB); a2 in $a2_sconv cycles, moved $((a2_smoved >> 20)) MiB (minimum $((a2_shift_min >> 20)) MiB)"
((a1_smoved * 2 <= a1_shift_min * 3)) || pl_fail "(a) shift: a1 moved $a1_smoved bytes > 1.5 x $a1_shift_min"
((a2_smoved * 2 <= a2_shift_min * 3)) || pl_fail "(a) shift: a2 moved $a2_smoved bytes > 1.5 x $a2_shift_min"

# ---- accounting: the journal's per-round entries add up to the VMs' counters ---------------------
# A round can end between reading the counters and reading the journal (seen under load: one round
# of 30 pages), and journald may store an entry a moment after the counters moved: compare only
# when the counters read before and after the journal agree, and retry for up to ~10 cycles.
journal_sums() { # VM-ID -> "promoted demoted"
        journalctl --no-pager -o json -u vtismd.service VTISM_VM="$1" |
                jq -s '[ (map(.VTISM_PROMOTED_BYTES // "0" | tonumber) | add // 0), (map(.VTISM_DEMOTED_BYTES // "0" | tonumber) | add // 0) ] | @tsv' -r
}
pl_poll
for n in a1 a2; do
        pid=${HOG_PID[$n]}
        id=$(pl_vm_get "$pid" .id)
        acct_ok=0 acct_tries=0 acct_deadline=$((SECONDS + 10 * PL_INTERVAL_MS / 1000 + 30))
        while ((SECONDS < acct_deadline)); do
                acct_tries=$((acct_tries + 1))
                pl_poll
                want_p=$(pl_vm_get "$pid" .bytes_promoted) want_d=$(pl_vm_get "$pid" .bytes_demoted)
                read -r got_p got_d <<<"$(journal_sums "$id")"
                pl_poll
                again_p=$(pl_vm_get "$pid" .bytes_promoted) again_d=$(pl_vm_get "$pid" .bytes_demoted)
                if [[ $want_p == "$again_p" && $want_d == "$again_d" && $got_p == "$want_p" && $got_d == "$want_d" ]]; then
                        acct_ok=1
                        break
                fi
                sleep 1
        done
        pl_log "$n: journal says promoted $got_p demoted $got_d bytes; the VM record $want_p and $want_d ($acct_tries reads)"
        ((acct_ok)) || pl_fail "$n: journal entries ($got_p, $got_d) do not add up to the VM's counters ($want_p, $want_d), read $acct_tries times over $((10 * PL_INTERVAL_MS / 1000 + 30)) s"
        journalctl --no-pager -o json -u vtismd.service VTISM_VM="$id" |
                jq -s -e 'map(select(.VTISM_ROUND)) | length > 0 and all(.VTISM_VM_NAME and .VTISM_PROMOTED_BYTES and
                          .VTISM_DEMOTED_BYTES and .VTISM_FAILED_PAGES)' >/dev/null ||
                pl_fail "$n: no journal entry per round, or one lacks a VTISM_ field"
done

# ---- (g) a restart picks up the placement it made ----------------------------------------------
# A new vtismd knows nothing of the old one's heat: it must read where the pages are (its first
# residency pass), warm up, and then find a1 and a2 placed as they are, not move pages back and
# forth. Asserted over 8 of its cycles: the workloads' own reports unchanged within 1 % of their
# RAM per node and the hot window still >= 95 % on DRAM; the new vtismd's counters for both: at
# most 1 % of the RAM moved (the steady state's allowance per minute), in each direction.
pl_poll
for n in a1 a2; do
        hog_probe "$n"
        eval "${n}_pre=\$PROBE_LINE"
done
old_pid=$(systemctl show -p MainPID --value vtismd.service)
systemctl restart vtismd.service || pl_fail "(g) systemctl restart vtismd"
new_pid=$(systemctl show -p MainPID --value vtismd.service)
[[ $new_pid -gt 0 && $new_pid != "$old_pid" ]] || pl_fail "(g) vtismd was not restarted: MainPID $old_pid -> $new_pid"
pl_log "(g) vtismd restarted: pid $old_pid -> $new_pid"
for n in a1 a2; do pl_wait_tracked "${HOG_PID[$n]}"; done
pl_wait_cycles "${HOG_PID[a1]}" 8
pl_poll
for n in a1 a2; do
        pid=${HOG_PID[$n]}
        hog_probe "$n"
        eval "pre=\$${n}_pre"
        # shellcheck disable=SC2154 # set by eval above
        pl_log "(g) $n before the restart: $pre"
        pl_log "(g) $n 8 cycles after it:   $PROBE_LINE"
        pl_log "(g) $n: the new vtismd's plan: $(vtismctl plan --json "$pid" | jq -c '{cycle, frozen, reason, promote_bytes, demote_bytes}')"
        prom=$(pl_vm_get "$pid" .pages_promoted) dem=$(pl_vm_get "$pid" .pages_demoted)
        pl_log "(g) $n: the new vtismd promoted $((prom * 4096 >> 10)) KiB, demoted $((dem * 4096 >> 10)) KiB"
        [[ $(pl_vm_get "$pid" .residency_known) == true ]] || pl_fail "(g) $n: the new vtismd has no complete residency pass"
        ((prom * 4096 * 100 <= A_SIZE && dem * 4096 * 100 <= A_SIZE)) ||
                pl_fail "(g) $n: the new vtismd moved more than 1 % of its RAM: $prom pages promoted, $dem demoted"
        for k in node0 node1; do
                a=$(kv "$pre" "$k") b=$(kv "$PROBE_LINE" "$k")
                d=$((a > b ? a - b : b - a))
                ((d * 4096 * 100 <= A_SIZE)) || pl_fail "(g) $n: $k changed by $d pages across the restart ($a -> $b)"
        done
        ((PROBE_HOT > 0 && PROBE_HOT0 * 100 >= PROBE_HOT * 95)) ||
                pl_fail "(g) $n: the hot window is no longer on DRAM after the restart ($PROBE_HOT0/$PROBE_HOT pages)"
done
pl_log "(g) restart: placement kept, nothing moved back and forth"

# ---- (f) dry-run, then pause --------------------------------------------------------------------
# A slow rate (8 MiB/s: 32 MiB per cycle) so that f1's 160 MiB take several cycles to move.
PL_RATE_MBPS=8
pl_reload
vtismctl dry-run on >/dev/null || pl_fail "dry-run on"
pl_poll
promoted0=$(jq .counters.pages_promoted <<<"$PL_STATUS") would0=$(jq .counters.pages_would_move <<<"$PL_STATUS")
hog_start f1 --size=160M --hot=160M --bind=1 --thp=off
hog_report f1
f1_before=$HOG_REPORT
pl_wait_tracked "${HOG_PID[f1]}"
pl_wait_cycles "${HOG_PID[f1]}" 5
pl_log "(f) f1: $(pl_cycles_between "$PL_T0" "$(pl_now)") cycles in dry-run"
hog_report f1
pl_poll
plan=$(vtismctl plan --json "${HOG_PID[f1]}") || pl_fail "vtismctl plan f1"
pl_log "(f) dry-run: placement before $f1_before"
pl_log "(f) dry-run: placement after  $HOG_REPORT"
[[ $(kv "$f1_before" node0) == "$(kv "$HOG_REPORT" node0)" && $(kv "$f1_before" node1) == "$(kv "$HOG_REPORT" node1)" ]] ||
        pl_fail "(f) dry-run moved pages"
jq -e '.promote_bytes > 0 and .round_pages_would_move > 0 and .round_pages_promoted == 0' <<<"$plan" >/dev/null ||
        pl_fail "(f) dry-run: the plan does not report what would move: $plan"
(($(jq .counters.pages_promoted <<<"$PL_STATUS") == promoted0)) || pl_fail "(f) dry-run: pages were promoted"
(($(jq .counters.pages_would_move <<<"$PL_STATUS") > would0)) || pl_fail "(f) dry-run: nothing counted as would-move"
[[ $(jq -r .migration_state <<<"$PL_STATUS") == dry-run ]] || pl_fail "(f) MigrationState is not dry-run"
output_has VTISM_WOULD_PROMOTE_BYTES -- journalctl --no-pager -o json -u vtismd.service VTISM_DRY_RUN=1 ||
        pl_fail "(f) no dry-run journal entry"
vtismctl plan "${HOG_PID[f1]}"
pl_log "(f) dry-run: nothing moved, the plan says $(jq .round_pages_would_move <<<"$plan") pages would"

vtismctl dry-run off >/dev/null || pl_fail "dry-run off"
deadline=$((SECONDS + 120))
while :; do
        pl_poll
        (($(pl_vm_get "${HOG_PID[f1]}" .pages_promoted) > 0)) && break
        ((SECONDS < deadline)) || pl_fail "(f) f1 did not start moving after dry-run off"
        sleep 0.5
done
vtismctl pause migration >/dev/null || pl_fail "pause migration"
pl_poll
paused_at=$(pl_vm_get "${HOG_PID[f1]}" .pages_promoted)
[[ $(jq -r .migration_state <<<"$PL_STATUS") == paused ]] || pl_fail "(f) MigrationState is not paused"
pl_wait_cycles "${HOG_PID[f1]}" 1
hog_report f1
r1=$HOG_REPORT
pl_poll
c1=$(pl_vm_get "${HOG_PID[f1]}" .pages_promoted)
pl_wait_cycles "${HOG_PID[f1]}" 3
hog_report f1
pl_poll
c2=$(pl_vm_get "${HOG_PID[f1]}" .pages_promoted)
pl_log "(f) paused with $paused_at pages promoted; one cycle later $c1 ($r1); three more cycles later $c2 ($HOG_REPORT)"
[[ $(kv "$r1" node0) == "$(kv "$HOG_REPORT" node0)" && $c1 == "$c2" ]] || pl_fail "(f) pages still moved more than one cycle after the pause"
(($(kv "$HOG_REPORT" node0) < 38912)) || pl_fail "(f) f1 was done moving before the pause: nothing shown"
PL_RATE_MBPS=256
pl_reload
vtismctl resume migration >/dev/null || pl_fail "resume migration"
pl_converge f1 "${HOG_PID[f1]}" $((256 * MIB)) "$(pl_now)" 12 hog_probe
pl_log "(f) resumed: f1 converged in $CONV_CYCLES cycles"
hog_stop f1

# ---- (d) a CXL node at its minimum free ratio ------------------------------------------------------
# The ratio is set 3 points (~45 MiB) above the node's free memory as the kernel has it now, not as
# vtismd last read it: vtismd rightly demotes into room the node gains, and its view is up to a
# cycle old (f1 just exited, leaving up to 8 MiB of the node free that vtismd had seen taken; a
# ratio 1 point up gave 0-15 MiB of margin, and CI once saw 18 MiB demoted in trickles there).
pl_poll
cxl_total=$(pl_node_get 1 .total_bytes) cxl_free=$(pl_node_bytes 1 MemFree)
# The bytes node 1 keeps free under a ratio, as vtismd counts them: whole pages, rounded up.
ratio_keep() { echo $(( (cxl_total / 4096 * $1 + 99) / 100 * 4096 )); }
PL_CXL_MIN_FREE_RATIO=$((cxl_free * 100 / cxl_total + 3))
keep=$(ratio_keep "$PL_CXL_MIN_FREE_RATIO")
A2_BUDGET=128M
pl_reload
pl_log "(d) CXL node 1: $((cxl_free >> 20)) of $((cxl_total >> 20)) MiB free; demotion_min_free_ratio = $PL_CXL_MIN_FREE_RATIO % (keep $((keep >> 20)) MiB): no room; a2's budget now 128 MiB"
hog_report a2
before=$HOG_REPORT
pl_poll
dem0=$(pl_vm_get "${HOG_PID[a2]}" .pages_demoted)
pl_wait_cycles "${HOG_PID[a2]}" 4
hog_report a2
pl_poll
plan=$(vtismctl plan --json "${HOG_PID[a2]}")
pl_log "(d) a2 before $before"
pl_log "(d) a2 after  $HOG_REPORT"
(($(pl_vm_get "${HOG_PID[a2]}" .pages_demoted) == dem0)) ||
        pl_fail "(d) demotions into a CXL node at its minimum free ratio: $(( ($(pl_vm_get "${HOG_PID[a2]}" .pages_demoted) - dem0) * 4096 >> 10)) KiB; node 1 has $(($(pl_node_bytes 1 MemFree) >> 10)) KiB free now, the ratio keeps $((keep >> 10)) KiB"
[[ $(kv "$before" node1) == "$(kv "$HOG_REPORT" node1)" ]] || pl_fail "(d) a2's pages on the CXL node changed"
jq -e '.reason | test("minimum free ratio")' <<<"$plan" >/dev/null || pl_fail "(d) the plan does not say why: $plan"
pl_log "(d) no demotion; the plan says: $(jq -r .reason <<<"$plan")"

# A little room (~48 MiB above the ratio): demotions take it, and no more. The migrator re-reads
# the node's MemFree before every batch into it and hands over only what fits above the ratio
# (whole THPs only), so a batch's granularity adds nothing; what may remain below the ratio is the
# kernel's own inexactness: MemFree's unfolded per-CPU vmstat deltas, up to the zone's stat
# threshold per CPU, in vtismd's read and in ours (2 x threshold x CPUs per zone of node 1, from
# /proc/zoneinfo: ~0.4 MiB in the lab). The node's free memory is read by us from the kernel:
# its zones' pages free plus the pages on their per-CPU free lists (MemFree leaves those out);
# the most of three reads 0.3 s apart, so a refill of a per-CPU list racing one read does not
# count (what demotions took stays taken: an overshoot would show in all three).
cxl_true_free() {
        awk '$1 == "Node" { on = ($2 == "1,") } on && $1 == "pages" && $2 == "free" { f += $3 }
             on && $1 == "count:" { f += $2 } END { printf "%.0f\n", f * 4096 }' /proc/zoneinfo
}
cxl_slack=$(awk '$1 == "Node" { on = ($2 == "1,") } on && $1 == "vm" && $2 == "stats" && $3 == "threshold:" { p += 2 * $4 }
                 END { printf "%.0f\n", p * 4096 }' /proc/zoneinfo)
pl_poll
cxl_free=$(pl_node_get 1 .free_bytes)
PL_CXL_MIN_FREE_RATIO=$(( (cxl_free - 48 * MIB) * 100 / cxl_total ))
keep=$(ratio_keep "$PL_CXL_MIN_FREE_RATIO")
floor0=$(jq .counters.pages_failed_floor <<<"$PL_STATUS")
cxl_start=$(cxl_true_free)
pl_reload
pl_wait_cycles "${HOG_PID[a2]}" 5
cxl_end=0
for i in 1 2 3; do
        f=$(cxl_true_free)
        ((f > cxl_end)) && cxl_end=$f
        sleep 0.3
done
pl_poll
dem1=$(pl_vm_get "${HOG_PID[a2]}" .pages_demoted)
floor1=$(jq .counters.pages_failed_floor <<<"$PL_STATUS")
pl_log "(d) ratio $PL_CXL_MIN_FREE_RATIO % (keep $((keep >> 10)) KiB free): a2 demoted $(( (dem1 - dem0) * 4096 >> 20)) MiB more, $((floor1 - floor0)) pages stopped at the floor; CXL free now $((cxl_end >> 10)) KiB (the kernel's slack $((cxl_slack >> 10)) KiB)"
((dem1 > dem0)) || pl_fail "(d) no demotion into the room above the ratio"
# Below the ratio at the end is vtismd's doing only if it demoted more than the room the node had
# when the ratio was set: others (the kernel, journald, a process exiting) allocate on the node too.
if ((cxl_end + cxl_slack < keep)); then
        (( (dem1 - dem0) * 4096 > cxl_start - keep + cxl_slack )) &&
                pl_fail "(d) the CXL node went below its minimum free ratio: $cxl_end bytes free < $keep - the kernel's vmstat slack $cxl_slack; a2 demoted $(( (dem1 - dem0) * 4096 )) bytes into a room of $((cxl_start - keep)) bytes"
        pl_log "(d) the CXL node is $(( (keep - cxl_end) >> 10)) KiB below its ratio, not by vtismd: it demoted $(( (dem1 - dem0) * 4096 >> 10)) KiB into the $(( (cxl_start - keep) >> 10)) KiB there were; others took the rest"
fi
PL_CXL_MIN_FREE_RATIO=10 A2_BUDGET=256M
pl_reload
hog_stop a1
hog_stop a2

# ---- (e) weights 3:1, DRAM oversubscribed ----------------------------------------------------------
# A filler (not a VM) takes DRAM; the watermark leaves the two VMs ~320 MiB of their 2 x 320 MiB
# (lib/placement.sh pl_shape_dram).
pl_shape_dram "(e)" 320
hog_start e1 --size=320M --hot=320M --bind=1 --thp=off
hog_start e2 --size=320M --hot=320M --bind=1 --thp=off
pl_wait_tracked "${HOG_PID[e1]}"
pl_wait_tracked "${HOG_PID[e2]}"
deadline=$((SECONDS + 600))
stable=0
while :; do
        pl_wait_cycles "${HOG_PID[e1]}" 1
        hog_report e1; r1=$HOG_REPORT
        hog_report e2; r2=$HOG_REPORT
        x1=$(kv "$r1" node0) x2=$(kv "$r2" node0)
        pl_log "(e) e1 (weight 300) $((x1 * 4096 >> 20)) MiB on DRAM, e2 (weight 100) $((x2 * 4096 >> 20)) MiB; targets $(( $(pl_vm_get "${HOG_PID[e1]}" .dram_target_bytes) >> 20)) and $(( $(pl_vm_get "${HOG_PID[e2]}" .dram_target_bytes) >> 20)) MiB"
        if ((x2 > 0 && x1 * 10 >= x2 * 27 && x1 * 10 <= x2 * 33)); then
                stable=$((stable + 1))
                ((stable < 2)) || break
        else
                stable=0
        fi
        ((SECONDS < deadline)) || pl_fail "(e) DRAM shares not 3:1 (+-10 %) within 10 minutes"
done
pl_log "(e) DRAM shares $((x1 * 4096 >> 20)) : $((x2 * 4096 >> 20)) MiB = $((x1 * 100 / x2)) / 100 (3:1 +-10 %)"
vtismctl plan "${HOG_PID[e2]}"
hog_stop e1
hog_stop e2
kill "$PL_FILLER" 2>/dev/null || true

# ---- not tiered: the cpuset without CXL ----------------------------------------------------------
pl_poll
c0=$(pl_vm_get "${HOG_PID[c0]}" '.')
pl_log "c0 (cpuset.mems 0): $c0"
jq -e '.allowed_nodes == "0" and (.not_tiered | test("may not use any CXL node")) and .pages_demoted == 0 and .pages_failed == 0' \
        <<<"$c0" >/dev/null || pl_fail "c0 in a DRAM-only cpuset: $c0"
output_has "not tiered: its QEMU process may not use any CXL node" -- vtismctl status || pl_fail "status does not say why c0 is not tiered"
hog_stop c0

# ---- MigrationRound signals -----------------------------------------------------------------------
kill "$monitor_pid" 2>/dev/null || true
wait "$monitor_pid" 2>/dev/null || true
n=$(grep -c MigrationRound /tmp/rounds.json || true)
pl_log "MigrationRound signals seen: $n"
((n > 0)) || pl_fail "no MigrationRound signal: $(head -c 2000 /tmp/rounds.json) $(cat /tmp/rounds.err)"
grep -q '"pages_promoted"' /tmp/rounds.json || pl_fail "MigrationRound lacks pages_promoted: $(head -n 2 /tmp/rounds.json)"

pl_log "SUMMARY (a) from CXL: $a1_conv cycles, $((a1_moved >> 20))/$((a1_min >> 20)) MiB moved/minimum; from DRAM: $a2_conv cycles, $((a2_moved >> 20))/$((a2_min >> 20)) MiB; shift: $a1_sconv and $a2_sconv cycles, $((a1_smoved >> 20))/$((a1_shift_min >> 20)) and $((a2_smoved >> 20))/$((a2_shift_min >> 20)) MiB; steady: $d1 and $d2 bytes in $dt s; (e) $((x1 * 100 / x2))/100; interval $PL_INTERVAL_MS ms; $((SECONDS - PL_T_START)) s"
systemctl stop vtismd.service
echo "lab-placement-inner: all checks passed"
