#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# INSIDE the lab (tests/lab/run --systemd --hmat, 2 nodes), for bench/h2h-lab: each workload under
# each tiering contender in turn, every contender from the same starting placement (a fresh
# h2h-work process places its own pages: DRAM_MIB on node 0, the rest on node 1; a fresh idle
# filler first takes node 0's free memory down to FREE_MIB, so that the DRAM node is under real
# pressure). Per contender it writes OUT/WORKLOAD/CONTENDER.json: the workload's own reports (one every
# INTERVAL s), /proc/vmstat deltas, the agent's CPU time, the workload's CPU time, its wall time
# and UTC start and end (bench/h2h-lab budgets boots from them and slices the host's load by
# them), and why it could not run if it could not. A benchmark: it never judges numbers; it exits
# 1 when a contender could not run, 3 when it left contenders unstarted because the boot's
# deadline was near (after trying all of them; bench/h2h-lab boots again for those).
# OUT/plan.txt, written by bench/h2h-lab, may hold "deadline EPOCH_SEC" (the boot is killed then)
# and "est WORKLOAD CONTENDER SEC" lines (measured wall times): a contender is not started when
# its estimate (else DURATION + 240 s, or the longest wall time measured in this boot) does not
# fit before the deadline.
# Usage: h2h-inner.sh SOURCE_ROOT BUILD_ROOT OUT WORKLOAD[,WORKLOAD] DURATION CONTENDER...
#   WORKLOAD: zipf | shift | pair | slo | kvm (each in turn, results in OUT/WORKLOAD/); pair: two processes
#   ("VMs") competing for DRAM, a (Zipf, 3/4 of the accesses, weight 300) and b (Zipf, 1/4,
#   weight 100); slo: two processes, s under vtismd's slo policy and f on a fixed budget, DRAM
#   oversubscribed (slo_start_workload below); kvm: a KVM guest (bench/h2h-kvm-work; the lab
#   booted with --kvm) whose hot guest-physical window shifts once, its DRAM filler started after
#   its guest RAM is placed; CONTENDER: alldram none oracle vtismd numab damon (or damon-nogoal,
#   damon-noyoung, damon-nogoal-noyoung); a CONTENDER@WORKLOAD runs for that workload only
# shellcheck disable=SC2046,SC2086 # lists of pids are split on purpose where they are used
set -euo pipefail
SRC=$1 BUILD=$2 OUT_ROOT=$3 WORKLOADS=$4 DURATION=$5
shift 5
CONTENDERS=("$@")
WORK=$BUILD/bench/h2h-work
SIZE_MIB=${VTISM_H2H_SIZE_MIB:-256} DRAM_MIB=${VTISM_H2H_DRAM_MIB:-64}
FREE_MIB=${VTISM_H2H_FREE_MIB:-36} RATE=${VTISM_H2H_RATE:-20000} INTERVAL=${VTISM_H2H_INTERVAL:-5}
PHASE=${VTISM_H2H_PHASE:-$((DURATION / 2))}
D=/sys/kernel/mm/damon/admin/kdamonds
VMSTAT_KEYS="pgmigrate_success pgmigrate_fail pgpromote_success pgpromote_candidate pgdemote_kswapd pgdemote_direct pgdemote_khugepaged numa_pages_migrated numa_hint_faults numa_pte_updates"

log() { echo "h2h: $*" >&2; }

[[ ${VTISM_LAB:-} == 1 && -d /run/systemd/system ]] || { echo "h2h-inner: run me through bench/h2h-lab" >&2; exit 77; }
mkdir -p "$OUT_ROOT"
. "$SRC/tests/lab/lib/install-vtism.sh"

PLAN=$OUT_ROOT/plan.txt
DEADLINE=$(awk '$1 == "deadline" { print $2 }' "$PLAN" 2>/dev/null)
[[ $DEADLINE =~ ^[0-9]+$ ]] || DEADLINE=0
# the pair workload: two processes sharing the workload's DRAM, told apart by their seeds
PAIR_NAMES=(a b) PAIR_SEED=(1 2) PAIR_SHARE=(75 25) PAIR_WEIGHT=(300 100)
# The slo workload (issue 15): two processes ("VMs") of SIZE_MIB / 2, each a Zipf (s = SLO_ZIPF_S)
# over its own pages with half of the accesses, each starting with DRAM_MIB / 2 on DRAM (random
# pages: first touch), told apart by their seeds. s is under vtismd's slo policy
# (cxl_access_max_percent = SLO_CAP), f on a fixed budget (dram_budget = SLO_F_BUDGET_MIB); with
# the filler the two share ~DRAM_MIB + FREE_MIB of node 0 less vtismd's watermark, fewer than
# they ask together (s needs ~35 MiB at vtismd's aim of 3/4 of the cap, f asks 48 MiB): DRAM is
# oversubscribed. The workloads count their own accesses served from CXL (acc_cxl). s's true hot
# set is the least DRAM for the cap (h2h-work --cap: 24 MiB at Zipf 1.2 over 128 MiB and 5 %), f's
# the rest of DRAM_MIB: what the oracle places.
SLO_NAMES=(s f) SLO_SEED=(1 2) SLO_CAP=${VTISM_H2H_SLO_CAP:-5} SLO_ZIPF_S=${VTISM_H2H_SLO_ZIPF_S:-1.2}
SLO_F_BUDGET_MIB=$((DRAM_MIB * 3 / 4))
write_conf() { # WORKLOAD: vtismd's defaults plus the workload's DRAM budget (what it starts with
        # on DRAM); pair: no budgets (100 %, the default), DRAM shared by the weights
        {
                echo '# bench/h2h-lab: vtismd'"'"'s defaults, plus the workload'"'"'s DRAM budget or weights.'
                echo "global = { log_level = \"debug\"; libvirt_uri = \"qemu+unix:///system?socket=/nonexistent\";${VTISM_H2H_SAMPLE_MS:+ sample_interval_ms = $VTISM_H2H_SAMPLE_MS;} };"
                [[ $1 == kvm ]] || echo 'processes = ( { cmdline = "*h2h-work --pattern=*"; } );'
                if [[ $1 == kvm ]]; then
                        write_conf_kvm
                elif [[ $1 == pair ]]; then
                        echo "vm = ( { cmdline = \"*h2h-work --pattern=* --seed=${PAIR_SEED[0]} *\"; weight = ${PAIR_WEIGHT[0]}; },"
                        echo "       { cmdline = \"*h2h-work --pattern=* --seed=${PAIR_SEED[1]} *\"; weight = ${PAIR_WEIGHT[1]}; } );"
                elif [[ $1 == slo ]]; then
                        echo "vm = ( { cmdline = \"*h2h-work --pattern=* --seed=${SLO_SEED[0]} *\"; cxl_access_max_percent = $SLO_CAP; },"
                        echo "       { cmdline = \"*h2h-work --pattern=* --seed=${SLO_SEED[1]} *\"; dram_budget = \"${SLO_F_BUDGET_MIB}M\"; } );"
                else
                        echo "vm = ( { cmdline = \"*h2h-work --pattern=*\"; dram_budget = \"${DRAM_MIB}M\"; } );"
                fi
        } >/tmp/vtism.conf
}
write_conf_kvm() { # the KVM guest: QEMU found by vtismd's /proc scan, its budget by the guest image
        echo "vm = ( { cmdline = \"*vtguest*\"; dram_budget = \"${DRAM_MIB}M\"; } );"
}
write_conf zipf
# Under a loaded host systemd's D-Bus calls time out (25 s): the reloads install_vtism makes are
# retried until they succeed (a contender that cannot start still says why below).
install_vtism "$SRC" "$BUILD" /tmp/vtism.conf || true
for try in 1 2 3 4 5; do
        systemctl daemon-reload && systemctl try-reload-or-restart dbus.service && break
        log "systemctl daemon-reload / dbus reload failed (try $try of 5), retrying in 10 s"
        sleep 10
done

node_kb() { # NODE FIELD: kB of a field of the node's meminfo
        awk -v f="$2:" '$3 == f { print $4 }' "/sys/devices/system/node/node$1/meminfo"
}
vmstat_json() {
        local k
        printf '{'
        for k in $VMSTAT_KEYS; do
                printf '"%s":%s,' "$k" "$(awk -v k="$k" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' /proc/vmstat)"
        done
        printf '"_":0}'
}
cpu_ticks() { # PID...: utime + stime of the processes (0 for gone ones)
        local p s=0 st
        for p in "$@"; do
                st=$(cat "/proc/$p/stat" 2>/dev/null) || continue
                st=${st##*) }
                set -- $st
                s=$((s + ${12} + ${13}))
        done
        echo "$s"
}
TCK=$(getconf CLK_TCK)
kswapd_pids() { pgrep -x 'kswapd[0-9]*' | tr '\n' ' '; }

# Memory tiers (HMAT): the CXL node must sit in a lower tier than the DRAM node.
tiers=$(for t in /sys/devices/virtual/memory_tiering/memory_tier*; do [[ -e $t/nodelist ]] && echo "${t##*/}=$(cat "$t/nodelist")"; done | tr '\n' ' ')
log "kernel $(uname -r); memory tiers: ${tiers:-none}; node0 $(($(node_kb 0 MemTotal) >> 10)) MiB, node1 $(($(node_kb 1 MemTotal) >> 10)) MiB"
sysctl -qw kernel.numa_balancing=0 2>/dev/null || true
echo 0 >/sys/kernel/mm/numa/demotion_enabled 2>/dev/null || true
BASE_FREE0=$(node_kb 0 MemFree)

# ---- contenders: start_X sets AGENT_PIDS (whose CPU is the agent's) and may fail with WHY
start_none() { :; }
stop_none() { :; }
start_alldram() { :; }
stop_alldram() { :; }
start_oracle() { :; }
stop_oracle() { :; }

start_vtismd() {
        write_conf "$WORKLOAD"
        install -m 0644 /tmp/vtism.conf /etc/vtism.conf
        timeout 600 systemctl start vtismd.service ||
                { WHY="systemctl start vtismd failed or took over 600 s: $(journalctl -u vtismd -n 5 --no-pager)"; return 1; }
        local i
        for ((i = 0; i < 60; i++)); do
                vtismctl status --json >/tmp/st.json 2>/dev/null && break
                sleep 1
        done
        # systemctl's D-Bus call can time out on a loaded host: then the lab's only vtismd by name
        AGENT_PIDS=$(systemctl show -P MainPID vtismd.service 2>/dev/null) || true
        [[ $AGENT_PIDS =~ ^[1-9][0-9]*$ ]] || AGENT_PIDS=$(pgrep -x vtismd | head -n 1)
        if [[ $WORKLOAD == pair ]]; then
                NOTE="tracker $(jq -r .active_tracker /tmp/st.json 2>/dev/null), no budgets, weights ${PAIR_WEIGHT[0]} and ${PAIR_WEIGHT[1]}, defaults otherwise"
        elif [[ $WORKLOAD == slo ]]; then
                NOTE="tracker $(jq -r .active_tracker /tmp/st.json 2>/dev/null), s: cxl_access_max_percent = $SLO_CAP, f: dram_budget = ${SLO_F_BUDGET_MIB}M, defaults otherwise"
        else
                NOTE="tracker $(jq -r .active_tracker /tmp/st.json 2>/dev/null), budget ${DRAM_MIB} MiB, defaults otherwise"
        fi
}
stop_vtismd() {
        local vmpids=$WPID
        [[ $WORKLOAD != kvm ]] || vmpids=$(kvm_qemu_pid)
        vtismctl status --json >"$OUT/$C.vtismctl.json" 2>/dev/null || true
        AGENT_EXTRA=$(jq -c --arg p "$vmpids" '($p | split(" ") | map(tonumber)) as $ps |
                [.vms[] | select(.pid as $x | $ps | index($x))] | map({pid, pages_promoted, pages_demoted, cycles, tracker}
                        + if .slo_state then {slo_state, slo_met, cxl_access_bp, dram_target_bytes} else {} end) |
                if length == 1 then .[0] else {vms: .} end' "$OUT/$C.vtismctl.json" 2>/dev/null || echo '{}')
        journalctl -u vtismd.service --no-pager -o short-monotonic >"$OUT/$C.journal.txt" 2>&1 || true
        systemctl stop vtismd.service || true
}

# DAMON's tiering, as SeongJae Park's auto-tuned memory tiering (lkml 20250420194030.75838-1-sj@kernel.org,
# mainline 6.16; damo scripts/mem_tier.sh) sets it up, within what 6.12 offers: one paddr kdamond per
# node; node 0: migrate_cold to node 1 on nr_accesses 0, a quota of 200 MiB per 1 s aiming at 0.5 %
# of node 0 free, young pages rejected; node 1: migrate_hot to node 0 on >= 5 % access rate, 200 MiB
# per 1 s aiming at 99.7 % of node 0 used, only young pages; actions applied every 1 s. 6.12 has
# neither the node_mem_free_bp / node_mem_used_bp goal metrics (6.16) nor the intervals auto-tuning
# (6.15), nor allow-filters (6.14): the goals are user_input goals that damon_feedback() below
# feeds every second with those two metrics computed from node 0's meminfo (the use the DAMON
# documentation gives user_input); the intervals are fixed where the 6.15 tuner's goal (4 % of
# the possible access events seen within 3 aggregations) lands for this workload's pace: sample
# 200 ms, aggregation 4 s (DAMON's default ratio 1:20; its defaults, 5 ms / 100 ms, see almost no
# access of pages touched every few seconds); "allow young" is a young filter with matching N
# (reject what is not young).
DAMON_SAMPLE_US=${VTISM_H2H_DAMON_SAMPLE_US:-200000} DAMON_AGGR_US=${VTISM_H2H_DAMON_AGGR_US:-4000000}
node_range() { # NODE: physical address range "START END" of its zones (/proc/zoneinfo)
        awk -v n="$1" '$1 == "Node" { z = ($2 == n ",") } z && $1 == "spanned" { sp = $2 }
                z && $1 == "start_pfn:" && sp > 0 { if (lo == "" || $2 < lo) lo = $2; if ($2 + sp > hi) hi = $2 + sp }
                END { if (lo != "") printf "%.0f %.0f\n", lo * 4096, hi * 4096 }' /proc/zoneinfo
}
damon_scheme() { # KDAMOND ACTION TARGET_NID NR_MIN NR_MAX FILTER_MATCHING GOAL_TARGET_BP
        # (DAMON_GOALS=0: no quota goal, the plain 200 MiB/s quota; DAMON_YOUNG=0: no young filter)
        local s=$D/$1/contexts/0/schemes/0
        echo 1 >"$D/$1/contexts/0/schemes/nr_schemes"
        echo "$2" >"$s/action"
        echo "$3" >"$s/target_nid"
        echo 0 >"$s/access_pattern/sz/min"; echo 18446744073709551615 >"$s/access_pattern/sz/max"
        echo "$4" >"$s/access_pattern/nr_accesses/min"; echo "$5" >"$s/access_pattern/nr_accesses/max"
        echo 0 >"$s/access_pattern/age/min"; echo 4294967295 >"$s/access_pattern/age/max"
        echo 1000000 >"$s/apply_interval_us"
        echo $((200 << 20)) >"$s/quotas/bytes"
        echo 1000 >"$s/quotas/reset_interval_ms"
        if ((DAMON_GOALS)); then
                echo 1 >"$s/quotas/goals/nr_goals"
                echo user_input >"$s/quotas/goals/0/target_metric"
                echo "$7" >"$s/quotas/goals/0/target_value"
                echo "$7" >"$s/quotas/goals/0/current_value"
        fi
        if ((DAMON_YOUNG)); then
                echo 1 >"$s/filters/nr_filters"
                echo young >"$s/filters/0/type"
                echo "$6" >"$s/filters/0/matching"
        fi
}
damon_kdamond() { # KDAMOND NODE
        local c=$D/$1/contexts/0 r
        read -r -a r <<<"$(node_range "$2")"
        ((${#r[@]} == 2)) || { WHY="no physical range of node $2 in /proc/zoneinfo"; return 1; }
        echo 1 >"$D/$1/contexts/nr_contexts"
        echo paddr >"$c/operations"
        echo "$DAMON_SAMPLE_US" >"$c/monitoring_attrs/intervals/sample_us"
        echo "$DAMON_AGGR_US" >"$c/monitoring_attrs/intervals/aggr_us"
        echo 1000000 >"$c/monitoring_attrs/intervals/update_us"
        echo 1 >"$c/targets/nr_targets"
        echo 1 >"$c/targets/0/regions/nr_regions"
        echo "${r[0]}" >"$c/targets/0/regions/0/start"
        echo "${r[1]}" >"$c/targets/0/regions/0/end"
}
damon_feedback() { # every second: node 0's free and used ratios (bp) as the goals' current values;
        # every INTERVAL s one line of each scheme's statistics and effective quota to DAMON_SERIES
        local tot free n=0 k s t0
        t0=$(awk '{ print $1 }' /proc/uptime)
        while :; do
                tot=$(node_kb 0 MemTotal) free=$(node_kb 0 MemFree)
                if ((DAMON_GOALS)); then
                        echo $((free * 10000 / tot)) >"$D/0/contexts/0/schemes/0/quotas/goals/0/current_value"
                        echo $(((tot - free) * 10000 / tot)) >"$D/1/contexts/0/schemes/0/quotas/goals/0/current_value"
                        echo commit_schemes_quota_goals >"$D/0/state"
                        echo commit_schemes_quota_goals >"$D/1/state"
                fi
                if ((n++ % INTERVAL == 0)); then
                        for k in 0 1; do
                                echo update_schemes_stats >"$D/$k/state"
                                echo update_schemes_effective_quotas >"$D/$k/state"
                        done
                        for k in 0 1; do
                                s=$D/$k/contexts/0/schemes/0
                                printf '{"t":%s,"kdamond":%s,"node0_free_bp":%s,"effective_bytes":%s,"nr_tried":%s,"sz_tried":%s,"nr_applied":%s,"sz_applied":%s,"qt_exceeds":%s}\n' \
                                        "$(awk -v t0="$t0" '{ print $1 - t0 }' /proc/uptime)" "$k" "$((free * 10000 / tot))" \
                                        "$(cat $s/quotas/effective_bytes)" "$(cat $s/stats/nr_tried)" "$(cat $s/stats/sz_tried)" \
                                        "$(cat $s/stats/nr_applied)" "$(cat $s/stats/sz_applied)" "$(cat $s/stats/qt_exceeds)"
                        done >>"$DAMON_SERIES"
                fi
                sleep 1
        done
}
start_damon() { # damon: the published setup; damon-nogoal, damon-noyoung, damon-nogoal-noyoung:
        # the same without the quota goals or the young filters (to tell what each does on 6.12)
        DAMON_GOALS=1 DAMON_YOUNG=1
        [[ $C == *-nogoal* ]] && DAMON_GOALS=0
        [[ $C == *-noyoung* ]] && DAMON_YOUNG=0
        DAMON_SERIES=$OUT/$C.damon-series.jsonl
        : >"$DAMON_SERIES"
        [[ -d $D ]] || { WHY="no DAMON sysfs interface ($D): kernel without CONFIG_DAMON_SYSFS"; return 1; }
        grep -qw paddr <<<"$(echo 1 >"$D/nr_kdamonds" && echo 1 >"$D/0/contexts/nr_contexts" && cat "$D/0/contexts/0/avail_operations")" ||
                { WHY="DAMON has no paddr operations"; return 1; }
        echo 2 >"$D/nr_kdamonds"
        local hot_min=$(( (DAMON_AGGR_US / DAMON_SAMPLE_US * 5 + 99) / 100 ))
        damon_kdamond 0 0 || return 1
        damon_scheme 0 migrate_cold 1 0 0 Y 50
        damon_kdamond 1 1 || return 1
        damon_scheme 1 migrate_hot 0 "$hot_min" $((DAMON_AGGR_US / DAMON_SAMPLE_US)) N 9970
        echo on >"$D/0/state" || { WHY="kdamond 0 (node 0, migrate_cold) did not start: $(dmesg | tail -n 3)"; return 1; }
        echo on >"$D/1/state" || { WHY="kdamond 1 (node 1, migrate_hot) did not start: $(dmesg | tail -n 3)"; return 1; }
        damon_feedback 2>/dev/null &
        FEEDBACK_PID=$!
        AGENT_PIDS="$(cat "$D/0/pid") $(cat "$D/1/pid")"
        NOTE="paddr kdamonds $AGENT_PIDS on node 0 [$(node_range 0)) and node 1 [$(node_range 1)); sample ${DAMON_SAMPLE_US} us, aggregation ${DAMON_AGGR_US} us; migrate_hot nr_accesses >= $hot_min; quota goals $( ((DAMON_GOALS)) && echo on || echo off), young filters $( ((DAMON_YOUNG)) && echo on || echo off)"
}
stop_damon() {
        local k
        kill "$FEEDBACK_PID" 2>/dev/null || true
        wait "$FEEDBACK_PID" 2>/dev/null || true
        for k in 0 1; do
                echo update_schemes_stats >"$D/$k/state" 2>/dev/null || true
        done
        AGENT_EXTRA=$(for k in 0 1; do
                s=$D/$k/contexts/0/schemes/0/stats
                printf '{"kdamond":%s,"nr_tried":%s,"sz_tried":%s,"nr_applied":%s,"sz_applied":%s,"qt_exceeds":%s}\n' \
                        "$k" "$(cat $s/nr_tried)" "$(cat $s/sz_tried)" "$(cat $s/nr_applied)" "$(cat $s/sz_applied)" "$(cat $s/qt_exceeds)"
        done | jq -sc --slurpfile series "$DAMON_SERIES" '{schemes: ., series: $series}')
        for k in 0 1; do
                echo off >"$D/$k/state" 2>/dev/null || true
        done
        echo 0 >"$D/nr_kdamonds" || true
}

# NUMA balancing's memory tiering mode (TPP-style): hint faults promote hot pages of the lower
# tier; kswapd demotes cold ones when the DRAM node is low (the filler keeps it so). Its CPU:
# kswapd's, plus the workload's system time beyond the no-tiering run's (task_numa_work and the
# hint faults run in the workload's own context) — reported as workload_sys_s.
start_numab() {
        [[ -w /proc/sys/kernel/numa_balancing ]] || { WHY="kernel without CONFIG_NUMA_BALANCING"; return 1; }
        [[ -w /sys/kernel/mm/numa/demotion_enabled ]] || { WHY="no /sys/kernel/mm/numa/demotion_enabled"; return 1; }
        [[ $tiers == *" "*=* ]] || { WHY="one memory tier only ($tiers): no promotion or demotion target"; return 1; }
        sysctl -qw kernel.numa_balancing=2 || { WHY="kernel.numa_balancing=2 refused"; return 1; }
        echo 1 >/sys/kernel/mm/numa/demotion_enabled
        AGENT_PIDS=$(kswapd_pids)
        NOTE="kernel.numa_balancing=2, demotion_enabled=1, other settings at their defaults (promote rate limit $(cat /proc/sys/kernel/numa_balancing_promote_rate_limit_MBps) MB/s)"
}
stop_numab() {
        sysctl -qw kernel.numa_balancing=0
        echo 0 >/sys/kernel/mm/numa/demotion_enabled
}

# Until node 0 has its starting free memory back (within 32 MiB), at most 30 s: the last
# contender's processes are gone. The filler is sized from what is free then, so every contender
# starts with the same free memory on node 0 whatever the lab itself holds by then.
wait_free() {
        local i
        for ((i = 0; i < 30; i++)); do
                (($(node_kb 0 MemFree) + 32768 >= BASE_FREE0)) && return 0
                sleep 1
        done
        log "node 0 free $(($(node_kb 0 MemFree) >> 10)) MiB, was $((BASE_FREE0 >> 10)) MiB at the start"
}

wait_ready() { # FILE PID WHAT
        local i
        for ((i = 1; i <= 1200; i++)); do
                grep -q '"ready"' "$1" 2>/dev/null && return 0
                kill -0 "$2" 2>/dev/null || { WHY="$3 exited before it was ready: $(dmesg | tail -n 5)"; return 1; }
                ((i % 60)) || log "waiting for $3: node 0 free $(($(node_kb 0 MemFree) >> 10)) MiB, node 1 free $(($(node_kb 1 MemFree) >> 10)) MiB"
                sleep 0.5
        done
        WHY="$3 not ready after 600 s: $(dmesg | tail -n 5)"
        return 1
}

start_filler() { # LEAVE_MIB: an idle h2h-work taking node 0's free memory down to LEAVE_MIB + FREE_MIB
        # (none for alldram); sets filler_mib and FPID
        filler_mib=0
        [[ $C != alldram ]] || return 0
        filler_mib=$(( ($(node_kb 0 MemFree) >> 10) - $1 - FREE_MIB ))
        ((filler_mib > 0)) || { filler_mib=0; return 0; }
        "$WORK" --idle --size="$filler_mib" >/tmp/filler.out 2>&1 &
        FPID=$!
        log "$C: filler of $filler_mib MiB (node 0 free $(($(node_kb 0 MemFree) >> 10)) MiB)"
        wait_ready /tmp/filler.out "$FPID" "the DRAM filler"
}

est_of() { # WORKLOAD CONTENDER: seconds the contender is expected to take, setup included
        local e
        e=$(awk -v w="$1" -v c="$2" '$1 == "est" && $2 == w && $3 == c { print $4 }' "$PLAN" 2>/dev/null | tail -n 1)
        [[ $e =~ ^[0-9]+$ ]] || e=$((DURATION + 240))
        ((e >= LONGEST)) || e=$LONGEST
        echo "$e"
}
# The workload's processes: one, or pair's two (their JSON lines in /tmp/w-C-N.out)
start_workload() { # C: sets WPIDS, WOUTS
        local n
        WPIDS=() WOUTS=()
        if [[ $WORKLOAD == kvm ]]; then
                start_workload_kvm
        elif [[ $WORKLOAD == slo ]]; then
                slo_start_workload
        elif [[ $WORKLOAD == pair ]]; then
                for n in 0 1; do
                        local share=${PAIR_SHARE[$n]}
                        "$WORK" "${wargs[@]}" --seed="${PAIR_SEED[$n]}" --size=$((SIZE_MIB / 2)) \
                                --dram=$((DRAM_MIB * share / 100)) --hot=$((DRAM_MIB * share / 100)) \
                                --rate=$((RATE * share / 100)) --linger >"/tmp/w-$C-$n.out" 2>"/tmp/w-$C-$n.err" &
                        WPIDS+=($!) WOUTS+=("/tmp/w-$C-$n.out")
                done
        else
                "$WORK" "${wargs[@]}" --seed=1 --size="$SIZE_MIB" --dram="$DRAM_MIB" --hot="$HOT_MIB" --rate="$RATE" \
                        --linger >"/tmp/w-$C-0.out" 2>"/tmp/w-$C-0.err" &
                WPIDS=($!) WOUTS=("/tmp/w-$C-0.out")
        fi
}
# kvm: bench/h2h-kvm-work starts the guest and speaks h2h-work's protocol (its ready line also
# names the QEMU pid, the VM vtismd tiers)
start_workload_kvm() {
        "$SRC/bench/h2h-kvm-work" --build="$BUILD" "${wargs[@]}" --size="$SIZE_MIB" --dram="$DRAM_MIB" --hot="$HOT_MIB" \
                --linger >"/tmp/w-$C-0.out" 2>"/tmp/w-$C-0.err" &
        WPIDS=($!) WOUTS=("/tmp/w-$C-0.out")
}
kvm_qemu_pid() { jq -r 'select(.ready) | .qemu_pid' "${WOUTS[0]}" 2>/dev/null | head -n 1; }
# slo: s first (its hot set, the least DRAM for the cap, is in its ready line), then f with the
# rest of DRAM_MIB as its hot set. A failure shows in the caller's wait_ready of each process.
slo_start_workload() {
        local n hot s_hot f_mib
        for n in 0 1; do
                if ((n == 0)); then
                        hot=(--cap="$SLO_CAP")
                else
                        wait_ready "${WOUTS[0]}" "${WPIDS[0]}" "h2h-work (s)" || true
                        s_hot=$(jq -r 'select(.ready) | .hot_pages' "${WOUTS[0]}" 2>/dev/null)
                        [[ $s_hot =~ ^[0-9]+$ ]] || s_hot=0
                        f_mib=$(( (DRAM_MIB * 256 - s_hot) / 256 ))
                        ((f_mib >= 1)) || f_mib=1
                        hot=(--hot="$f_mib")
                fi
                "$WORK" "${wargs[@]}" --seed="${SLO_SEED[$n]}" --size=$((SIZE_MIB / 2)) --dram=$((DRAM_MIB / 2)) \
                        --zipf-s="$SLO_ZIPF_S" "${hot[@]}" --rate=$((RATE / 2)) --linger >"/tmp/w-$C-$n.out" 2>"/tmp/w-$C-$n.err" &
                WPIDS+=($!) WOUTS+=("/tmp/w-$C-$n.out")
        done
}
# The processes' reports summed per report, each process's own under .procs with the fields its
# META_JSON argument gives (access_share: its share of the accesses, which weighs w_dram)
combine_procs() { # META_JSON...
        local n=0 m
        for m in "$@"; do
                jq -c 'select((.exit or .ready) | not)' "${WOUTS[$n]}" | jq -sc --argjson m "$m" '$m + {samples: .}'
                n=$((n + 1))
        done | jq -sc '. as $p | ([.[].samples | length] | min) as $n |
                {procs: $p, samples: [range($n) as $i | [$p[].samples[$i]] |
                        {t: .[0].t, phase: .[0].phase, ops: (map(.ops) | add), busy_s: (map(.busy_s) | add),
                         acc_dram: (map(.acc_dram) | add), acc_cxl: (map(.acc_cxl // 0) | add), hot_pages: (map(.hot_pages) | add),
                         hot_dram: (map(.hot_dram) | add), node0: (map(.node0) | add), node1: (map(.node1) | add),
                         other: (map(.other) | add), oracle_moved: (map(.oracle_moved) | add),
                         w_dram: ([range(length) as $k | .[$k].w_dram * $p[$k].access_share] | add)}]}'
}
# The contender's JSON samples: one process's reports, or the processes' (pair, slo) combined
samples_json() {
        case $WORKLOAD in
        pair)
                combine_procs "$(jq -nc --arg name "${PAIR_NAMES[0]}" --argjson w "${PAIR_WEIGHT[0]}" --argjson share "${PAIR_SHARE[0]}" \
                                        '{name: $name, weight: $w, access_share: ($share / 100)}')" \
                              "$(jq -nc --arg name "${PAIR_NAMES[1]}" --argjson w "${PAIR_WEIGHT[1]}" --argjson share "${PAIR_SHARE[1]}" \
                                        '{name: $name, weight: $w, access_share: ($share / 100)}')" ;;
        slo)
                combine_procs "$(jq -nc --arg name "${SLO_NAMES[0]}" --argjson cap "$SLO_CAP" \
                                        '{name: $name, role: "slo", cap_pct: $cap, weight: 100, access_share: 0.5}')" \
                              "$(jq -nc --arg name "${SLO_NAMES[1]}" --argjson b "$SLO_F_BUDGET_MIB" \
                                        '{name: $name, role: "budget", budget_mib: $b, weight: 100, access_share: 0.5}')" ;;
        *)
                jq -c 'select((.exit or .ready) | not)' "${WOUTS[0]}" | jq -sc . ;;
        esac
}

failed=() skipped=() LONGEST=0
for WORKLOAD in ${WORKLOADS//,/ }; do
OUT=$OUT_ROOT/$WORKLOAD
mkdir -p "$OUT"
case $WORKLOAD in
zipf) HOT_MIB=${VTISM_H2H_HOT_MIB:-16} ;;
kvm) HOT_MIB=${VTISM_H2H_HOT_MIB:-48}   # the guest's window; [[ -c /dev/kvm ]] is checked by h2h-kvm-work
     ;;
shift) HOT_MIB=${VTISM_H2H_HOT_MIB:-48} ;;
pair) HOT_MIB=$DRAM_MIB ;;     # each process's hot set is its share of the DRAM: the oracle's placement
slo) HOT_MIB=$DRAM_MIB ;;      # s's least DRAM for the cap and f's rest of the DRAM: the oracle's placement
*) log "unknown workload '$WORKLOAD'"; failed+=("$WORKLOAD: unknown workload"); continue ;;
esac
log "workload $WORKLOAD: ${#CONTENDERS[@]} contenders x $DURATION s"
for C in "${CONTENDERS[@]}"; do
        # CONTENDER@WORKLOAD: that workload only
        if [[ $C == *@* ]]; then
                [[ ${C#*@} == "$WORKLOAD" ]] || continue
                C=${C%@*}
        fi
        declare -F "start_${C%%-*}" >/dev/null || { log "unknown contender '$C'"; failed+=("$WORKLOAD/$C: unknown contender"); continue; }
        if ((DEADLINE)); then
                est=$(est_of "$WORKLOAD" "$C") left=$((DEADLINE - $(date +%s)))
                if ((est > left)); then
                        log "$WORKLOAD/$C: not started: $left s left before the boot's deadline, it needs ~$est s"
                        skipped+=("$WORKLOAD/$C: not started, $left s left of the boot, needs ~$est s")
                        continue
                fi
        fi
        WHY='' NOTE='' AGENT_PIDS='' AGENT_EXTRA='{}' FPID='' WPID=''
        wall0=$(date +%s) utc0=$(date -u +%FT%TZ)
        wait_free
        wargs=(--pattern="$([[ $WORKLOAD == pair || $WORKLOAD == slo ]] && echo zipf || echo "$WORKLOAD")"
               --interval="$INTERVAL" --phase="$PHASE" --duration="$DURATION" --wait-go)
        filler_mib=0
        [[ $C != alldram ]] || wargs+=(--all-dram)     # the reference: every page on node 0, no filler
        [[ $C == oracle ]] && wargs+=(--oracle)
        if [[ $WORKLOAD != kvm ]]; then
                # the filler leaves DRAM_MIB for the workload and FREE_MIB free on node 0
                start_filler "$DRAM_MIB" || { log "$C: $WHY"; failed+=("$WORKLOAD/$C: $WHY"); kill "$FPID"; continue; }
        fi
        start_workload
        WPID=${WPIDS[*]}
        ok=1
        for n in "${!WPIDS[@]}"; do
                if ! wait_ready "${WOUTS[$n]}" "${WPIDS[$n]}" "h2h-work"; then
                        WHY="$WHY: $(cat "${WOUTS[$n]%.out}.err")"
                        ok=0
                        break
                fi
        done
        # kvm: QEMU first touched its RAM on node 0 and the workload placed it; then the filler
        # leaves FREE_MIB free
        ((!ok)) || [[ $WORKLOAD != kvm ]] || start_filler 0 || ok=0
        if ((!ok)); then
                log "$C: $WHY"; failed+=("$WORKLOAD/$C: $WHY")
                jq -n --arg c "$C" --arg why "$WHY" '{contender: $c, error: $why}' >"$OUT/$C.json"
                kill $WPID "$FPID" 2>/dev/null || true
                wait $WPID "$FPID" 2>/dev/null || true
                continue
        fi
        free_before=$(node_kb 0 MemFree)
        v0=$(vmstat_json)
        ks0=$(cpu_ticks $(kswapd_pids))
        t0=$(awk '{ print $1 }' /proc/uptime)
        log "$C: workload placed ($(jq -c 'select(.ready)' "${WOUTS[@]}" | tr '\n' ' ')); starting the contender"
        if ! "start_${C%%-*}"; then
                log "$C could not run: $WHY"
                failed+=("$WORKLOAD/$C: $WHY")
                kill $WPID "$FPID" 2>/dev/null || true
                wait $WPID "$FPID" 2>/dev/null || true
                jq -n --arg c "$C" --arg why "$WHY" '{contender: $c, error: $why}' >"$OUT/$C.json"
                continue
        fi
        a0=$(cpu_ticks $AGENT_PIDS)
        log "$C: running ${DURATION} s ($NOTE); node 0 free $((free_before >> 10)) MiB with the workload and the filler (${filler_mib} MiB)"
        kill -USR1 $WPID
        # until every workload process's exit line (they linger: the agent can still be asked about them)
        for ((i = 0; i < DURATION + 600; i++)); do
                ((${#WOUTS[@]} == $(cat "${WOUTS[@]}" | grep -c '"exit"'))) && break
                for p in $WPID; do
                        kill -0 "$p" 2>/dev/null || { log "$C: h2h-work $p ended early: $(cat /tmp/w-"$C"-*.err)"; break 2; }
                done
                sleep 1
        done
        a1=$(cpu_ticks $AGENT_PIDS)
        ks1=$(cpu_ticks $(kswapd_pids))
        v1=$(vmstat_json)
        t1=$(awk '{ print $1 }' /proc/uptime)
        "stop_${C%%-*}"
        kill $WPID "$FPID" 2>/dev/null || true
        wait $WPID "$FPID" 2>/dev/null || true
        wall=$(($(date +%s) - wall0))
        ((wall <= LONGEST)) || LONGEST=$wall
        samples_json >/tmp/samples.json
        cat "${WOUTS[@]}" | jq -s \
                --arg c "$C" --arg w "$WORKLOAD" --arg note "$NOTE" --arg kernel "$(uname -r)" \
                --argjson v0 "$v0" --argjson v1 "$v1" --argjson extra "$AGENT_EXTRA" \
                --argjson agent "$(awk -v a="$a0" -v b="$a1" -v t="$TCK" 'BEGIN { print (b - a) / t }')" \
                --argjson kswapd "$(awk -v a="$ks0" -v b="$ks1" -v t="$TCK" 'BEGIN { print (b - a) / t }')" \
                --argjson t0 "$t0" --argjson t1 "$t1" --argjson filler "$filler_mib" \
                --argjson size "$SIZE_MIB" --argjson dram "$DRAM_MIB" --argjson hot "$HOT_MIB" --argjson rate "$RATE" --argjson phase "$PHASE" \
                --argjson wall "$wall" --argjson duration "$DURATION" --arg utc0 "$utc0" --arg utc1 "$(date -u +%FT%TZ)" --slurpfile s /tmp/samples.json \
                '{contender: $c, workload: $w, kernel: $kernel, note: $note, t0: $t0, t1: $t1,
                  wall_s: $wall, duration_s: $duration, utc_start: $utc0, utc_end: $utc1,
                  size_mib: $size, dram_mib: $dram, phase_sec: $phase, hot_mib: $hot, rate: $rate, filler_mib: $filler,
                  agent_cpu_s: $agent, kswapd_cpu_s: $kswapd, agent: $extra,
                  vmstat: ($v1 | with_entries(.value -= ($v0[.key] // 0)) | del(._)),
                  workload_start: (map(select(.ready)) | .[0] // {}),
                  workload_cpu: (map(select(.exit)) | if length == 0 then {} elif length == 1 then .[0] else
                        {utime_s: (map(.utime_s) | add), stime_s: (map(.stime_s) | add), minflt: (map(.minflt) | add), procs: .} end)}
                 + (if ($s[0] | type) == "array" then {samples: $s[0]} else $s[0] end)' >"$OUT/$C.json"
        log "$WORKLOAD/$C: done in $wall s, $(jq '.samples | length' "$OUT/$C.json") reports"
done
done
((${#failed[@]} == 0 && ${#skipped[@]} == 0)) && exit 0
printf 'h2h: could not run: %s\n' "${failed[@]}" >&2
printf 'h2h: %s\n' "${skipped[@]}" >&2
((${#failed[@]} == 0)) || exit 1
exit 3
