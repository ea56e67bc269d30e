# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# Helpers for the placement lab tests, sourced INSIDE the lab (tests/lab/run --systemd): poll
# vtismd's status, start memhog workloads and read their own placement reports (their ground
# truth), wait for convergence counting vtismd's cycles, and print every cause of a failure.
# The caller sets PL_NAME (test name) and may append to PL_DIAG_VMS (pids to show on failure).

PL_NAME=${PL_NAME:-placement}
PL_DIAG_VMS=()
declare -A HOG_PID HOG_INFO

pl_log() {
        echo "$PL_NAME: $*"
}

# Everything that tells why: status, each VM's plan, the workloads' last reports, the journal.
pl_diagnose() {
        local p
        echo "----- vtismctl status"
        vtismctl status 2>&1 || true
        for p in "${PL_DIAG_VMS[@]}"; do
                echo "----- vtismctl plan $p"
                vtismctl plan "$p" 2>&1 || true
        done
        for p in "${!HOG_INFO[@]}"; do
                echo "----- ${HOG_INFO[$p]} (last lines)"
                tail -n 8 "${HOG_INFO[$p]}" 2>&1 || true
        done
        echo "----- journalctl -u vtismd (last 40 lines)"
        journalctl --no-pager -o short-monotonic -u vtismd.service 2>&1 | tail -n 40 || true
}

pl_fail() {
        echo "FAIL: $PL_NAME: $*"
        pl_diagnose
        exit 1
}

# One status read per poll (vtismctl is slow under TCG): PL_STATUS.
pl_poll() {
        PL_STATUS=$(vtismctl status --json) || pl_fail "vtismctl status --json failed"
}

# pl_vm_get PID 'jq expression on the VM' (from the last poll)
pl_vm_get() {
        jq -r --argjson p "$1" ".vms[] | select(.pid == \$p) | $2" <<<"$PL_STATUS"
}

pl_node_get() { # NODE 'jq expression on the node'
        jq -r --argjson n "$1" ".nodes[] | select(.id == \$n) | $2" <<<"$PL_STATUS"
}

# Monotonic seconds (the journal's __MONOTONIC_TIMESTAMP, memhog's and numa-where's t=; the lab
# never suspends, so CLOCK_BOOTTIME is CLOCK_MONOTONIC).
pl_now() {
        awk '{ print $1 }' /proc/uptime
}

# Cycles vtismd finished in (T0, T1] (monotonic seconds), from its per-cycle journal entries
# (VTISM_CYCLE=, at log level debug): exact, however slow the polls are.
pl_cycles_between() {
        journalctl --no-pager -u vtismd.service -o json --output-fields=VTISM_CYCLE |
                jq -s --argjson a "$1" --argjson b "$2" \
                        '[.[] | select(.VTISM_CYCLE) | (.__MONOTONIC_TIMESTAMP | tonumber) / 1e6 | select(. > $a and . <= $b)] | length'
}

# Migration rounds that ended with moves left because the next cycle's plan replaced them, in
# (T0, T1] (monotonic seconds): cycles in which the lab moved pages slower than the cycle
# interval (under TCG on a loaded host: 10-25 MiB/s measured), not cycles the planner needed.
pl_rounds_replaced() {
        journalctl --no-pager -u vtismd.service -o json --output-fields=VTISM_ROUND,MESSAGE |
                jq -s --argjson a "$1" --argjson b "$2" \
                        '[.[] | select(.VTISM_ROUND and (.MESSAGE | type) == "string" and (.MESSAGE | endswith(", replaced).")))
                          | (.__MONOTONIC_TIMESTAMP | tonumber) / 1e6 | select(. > $a and . <= $b)] | length'
}

# hog_start NAME MEMHOG-ARGS...: a memhog whose info file is /tmp/vm-NAME.info (the config's
# processes entry matches that), reporting its placement every 3 s and resting 0.3 s after each
# pass over its hot window (HOG_PAUSE_US: a guest does not spin on its memory either, and
# spinning workloads would starve vtismd and the kernel's migration of the lab's two CPUs).
# Sampling is paused until its first touch of every page is done, so that vtismd finds it placed
# (a slow first touch would otherwise be planned as a moving hot set); PL_T0 is when sampling
# resumed.
hog_start() {
        local name=$1 info=/tmp/vm-$1.info i
        shift
        rm -f "$info"
        vtismctl pause sampling >/dev/null || pl_fail "vtismctl pause sampling"
        # HOG_CGROUP: start it inside that cgroup (v2 directory) from its first instruction
        bash -c '[[ -z $1 ]] || echo $$ >"$1/cgroup.procs" || exit 99; shift; exec "$@"' _ "${HOG_CGROUP:-}" \
                "$PL_MEMHOG" --info="$info" --report-every=3 --pause-us="${HOG_PAUSE_US:-300000}" "$@" >"/tmp/vm-$name.log" 2>&1 &
        HOG_PID[$name]=$!
        HOG_INFO[$name]=$info
        PL_DIAG_VMS+=("${HOG_PID[$name]}")
        for ((i = 0; i < 3000; i++)); do
                [[ -s $info ]] && grep -q '^memhog: pid=' "$info" && break
                kill -0 "${HOG_PID[$name]}" 2>/dev/null || pl_fail "memhog $name exited: $(cat "/tmp/vm-$name.log")"
                sleep 0.2
        done
        grep -q '^memhog: pid=' "$info" || pl_fail "memhog $name did not start within 600 s: $(cat "/tmp/vm-$name.log")"
        vtismctl resume sampling >/dev/null || pl_fail "vtismctl resume sampling"
        PL_T0=$(pl_now)
        pl_log "started $name: $(head -n 1 "$info")"
}

hog_stop() {
        local name=$1
        kill "${HOG_PID[$name]}" 2>/dev/null || true
        wait "${HOG_PID[$name]}" 2>/dev/null || true
}

# kv LINE KEY: the value of KEY=... in a memhog line
kv() {
        local w
        for w in $1; do
                [[ $w == "$2="* ]] && { echo "${w#*=}"; return 0; }
        done
        echo ""
}

# hog_report NAME [wait]: a fresh placement report, its "report" line in HOG_REPORT: asked for
# with SIGUSR1, or with "wait" the next one memhog makes by itself (every 3 s; no extra query).
hog_report() {
        local name=$1 info=${HOG_INFO[$1]} before i
        before=$(grep -c '^memhog: report ' "$info" || true)
        [[ ${2:-} == wait ]] || kill -USR1 "${HOG_PID[$name]}" || pl_fail "memhog $name is gone"
        for ((i = 0; i < 600; i++)); do
                (($(grep -c '^memhog: report ' "$info" || true) > before)) && break
                sleep 0.1
        done
        HOG_REPORT=$(grep '^memhog: report ' "$info" | tail -n 1)
        [[ -n $HOG_REPORT ]] || pl_fail "memhog $name wrote no placement report"
}

# pl_wait_tracked PID: until vtismd samples it (its first cycle done)
pl_wait_tracked() {
        local deadline=$((SECONDS + 180))
        while :; do
                pl_poll
                [[ $(pl_vm_get "$1" '.state') == tracked && $(pl_vm_get "$1" '.cycles') -ge 1 ]] && return 0
                ((SECONDS < deadline)) || pl_fail "pid $1 not tracked after 180 s: $(pl_vm_get "$1" '.')"
                sleep 1
        done
}

# pl_wait_cycles PID N: until the VM has N more cycles than now (polls every second)
pl_wait_cycles() {
        local start target deadline=$((SECONDS + 60 * $2 + 60))
        pl_poll
        start=$(pl_vm_get "$1" '.cycles')
        target=$((start + $2))
        while (($(pl_vm_get "$1" '.cycles') < target)); do
                ((SECONDS < deadline)) || pl_fail "pid $1: $2 cycles did not pass"
                sleep 1
                pl_poll
        done
}

pl_moved_pages() { # PID, from the last poll: promoted + demoted
        pl_vm_get "$1" '.pages_promoted + .pages_demoted'
}

# Probes: where a workload's pages are, from its own point of view. Each sets PROBE_HOT (pages of
# its hot window), PROBE_HOT0 (of those on its DRAM node), PROBE_NODE0 (all its pages on that
# node), PROBE_T (when, monotonic seconds) and PROBE_LINE (what it said).
# PL_DRAM_NODE: the VM's DRAM node (0 unless set).
hog_probe() { # NAME
        local h d=${PL_DRAM_NODE:-0}
        hog_report "$1" wait
        PROBE_LINE=$HOG_REPORT
        PROBE_T=$(kv "$HOG_REPORT" t)
        h=$(( $(kv "$HOG_REPORT" hot_node0) + $(kv "$HOG_REPORT" hot_node1) + $(kv "$HOG_REPORT" hot_node2) + $(kv "$HOG_REPORT" hot_node3) ))
        PROBE_HOT=$h
        PROBE_HOT0=$(kv "$HOG_REPORT" "hot_node$d")
        PROBE_NODE0=$(kv "$HOG_REPORT" "node$d")
}

# pl_converge NAME PID BUDGET_BYTES T0 MAX_CYCLES PROBE: probe until the hot window is >= 95 % on
# its DRAM node and its use of that node within budget + 2 %, one line per probe; CONV_CYCLES = vtismd's cycles
# from T0 (monotonic seconds) to the probe that saw it (exact, from the journal), which must be
# <= MAX_CYCLES plus the rounds the next plan replaced before they were done (pl_rounds_replaced:
# the planner's cycles are counted, not the emulated machine's migration speed). CONV_LINE: that
# probe.
pl_converge() {
        local name=$1 pid=$2 budget=$3 t0=$4 max=$5 probe=$6 c0 cycles lim replaced
        lim=$((budget + budget / 50))
        # The VM must be listed before anything is read of it (a QEMU that came up within a cycle
        # may not be yet); its cycles still count from T0.
        local deadline=$((SECONDS + 180))
        pl_poll
        until [[ -n $(pl_vm_get "$pid" '.pid') ]]; do
                ((SECONDS < deadline)) || pl_fail "$name (pid $pid) is not listed by vtismd after 180 s: $PL_STATUS"
                sleep 1
                pl_poll
        done
        c0=$(pl_vm_get "$pid" '.cycles')
        while :; do
                "$probe" "$name"
                pl_poll
                cycles=$(( $(pl_vm_get "$pid" '.cycles') - c0 ))
                pl_log "$name: t+$(awk -v a="$PROBE_T" -v b="$t0" 'BEGIN { printf "%.1f", a - b }') s: hot window $((PROBE_HOT0 * 100 / (PROBE_HOT > 0 ? PROBE_HOT : 1)))% on DRAM ($PROBE_HOT0/$PROBE_HOT pages), DRAM use $((PROBE_NODE0 * 4096 >> 20)) MiB (budget $((budget >> 20)) MiB), moved $(( $(pl_moved_pages "$pid") * 4096 >> 20)) MiB in all"
                if ((PROBE_HOT > 0 && PROBE_HOT0 * 100 >= PROBE_HOT * 95 && PROBE_NODE0 * 4096 <= lim)); then
                        CONV_LINE=$PROBE_LINE
                        CONV_CYCLES=$(pl_cycles_between "$t0" "$PROBE_T")
                        replaced=$(pl_rounds_replaced "$t0" "$PROBE_T")
                        pl_log "$name converged after $CONV_CYCLES cycles (journal: cycles ended between t0 and that probe; $replaced of their rounds were replaced unfinished: the lab moved slower than a cycle)"
                        ((CONV_CYCLES <= max + replaced)) ||
                                pl_fail "$name converged after $CONV_CYCLES cycles, more than $max (+ $replaced replaced rounds)"
                        return 0
                fi
                replaced=$(pl_rounds_replaced "$t0" "$(pl_now)")
                ((cycles <= max + replaced + 2)) ||
                        pl_fail "$name did not converge within $max cycles (+ $replaced replaced rounds; $cycles cycles since the first probe)"
                sleep "${PL_PROBE_SLEEP:-1}"
        done
}

# The least a plan must move to get the probed workload converged with this budget: the hot
# window's pages not on its DRAM node come up, and as much goes down as the budget needs.
pl_min_bytes() { # BUDGET_BYTES (from the last probe)
        local p=$(( (PROBE_HOT - PROBE_HOT0) * 4096 )) over
        over=$(( PROBE_NODE0 * 4096 + p - $1 ))
        ((over > 0)) || over=0
        echo $((p + over))
}

# pl_converge_fresh NAME BUDGET_BYTES WHAT MEMHOG-ARGS...: start a memhog, require convergence
# within 10 cycles and at most 1.5 x the minimum moved (counted 2 cycles later). Sets
# FRESH_CYCLES, FRESH_MOVED, FRESH_MIN (bytes).
pl_converge_fresh() {
        local name=$1 budget=$2 what=$3 t0
        shift 3
        hog_start "$name" "$@"
        t0=$PL_T0
        hog_probe "$name"
        FRESH_MIN=$(pl_min_bytes "$budget")
        pl_log "$name placed: $PROBE_LINE (minimum to move: $((FRESH_MIN >> 20)) MiB)"
        pl_converge "$name" "${HOG_PID[$name]}" "$budget" "$t0" 10 hog_probe
        FRESH_CYCLES=$CONV_CYCLES
        pl_wait_cycles "${HOG_PID[$name]}" 2
        FRESH_MOVED=$(( $(pl_moved_pages "${HOG_PID[$name]}") * 4096 ))
        pl_log "$what: converged in $FRESH_CYCLES cycles; moved $((FRESH_MOVED >> 20)) MiB, minimum $((FRESH_MIN >> 20)) MiB"
        ((FRESH_MOVED * 2 <= FRESH_MIN * 3)) || pl_fail "$what: moved $FRESH_MOVED bytes > 1.5 x the minimum $FRESH_MIN"
}

# ---- The setup shared by the memhog tests under systemd (lab-placement, lab-slo) ---------------
# pl_setup SOURCE_ROOT BUILD_ROOT: exit 77 outside a lab booted with --systemd; then install vtism,
# write the configuration (pl_write_config) and start vtismd.service; PL_T_START = $SECONDS then.
# The configuration is these tests' globals (one sample every PL_INTERVAL_MS, 64 MiB heat ranges,
# debug logging: one journal entry per cycle, which the tests count; no libvirt) from the
# variables below, read at every write, so that a test changes one and calls pl_reload; the
# caller defines pl_config_vms, which prints the entries of its vm list (comma-separated):
#   PL_INTERVAL_MS         sample_interval_ms (VTISM_PLACEMENT_INTERVAL_MS, else 5000)
#   PL_DRAM_MIN_FREE       dram_min_free_percent (5)
#   PL_RATE_MBPS           migrate_rate_limit_mbps (256)
#   PL_CXL_MIN_FREE_RATIO  demotion_min_free_ratio (empty: vtismd's default)
MIB=$((1 << 20))
PL_INTERVAL_MS=${VTISM_PLACEMENT_INTERVAL_MS:-5000}
PL_DRAM_MIN_FREE=5 PL_RATE_MBPS=256 PL_CXL_MIN_FREE_RATIO=
PL_LIB=$(dirname "${BASH_SOURCE[0]}")

pl_write_config() {
        {
                echo 'global = {'
                echo "        sample_interval_ms = $PL_INTERVAL_MS;"
                echo '        heat_range = "64M";'
                [[ -z $PL_CXL_MIN_FREE_RATIO ]] || echo "        demotion_min_free_ratio = $PL_CXL_MIN_FREE_RATIO;"
                echo "        dram_min_free_percent = $PL_DRAM_MIN_FREE;"
                echo "        migrate_rate_limit_mbps = $PL_RATE_MBPS;"
                echo '        log_level = "debug";            # one journal entry per cycle (VTISM_CYCLE=): the tests count cycles'
                echo '        libvirt_uri = "qemu+unix:///system?socket=/nonexistent";'
                echo '};'
                echo 'processes = ( { cmdline = "*--info=/tmp/vm-*"; } );'
                echo 'vm = ('
                pl_config_vms
                echo ');'
        } >/tmp/vtism.conf
}

pl_reload() {
        pl_write_config
        cp /tmp/vtism.conf /etc/vtism.conf
        vtismctl reload >/dev/null || pl_fail "vtismctl reload: $(vtismd --check-config 2>&1)"
}

pl_setup() {
        [[ ${VTISM_LAB:-} == 1 && -d /run/systemd/system ]] || {
                echo "SKIP: run me through tests/lab/run --systemd"
                exit 77
        }
        # shellcheck source=install-vtism.sh
        . "$PL_LIB/install-vtism.sh"
        PL_MEMHOG=$2/tests/lab/workloads/memhog
        pl_write_config
        install_vtism "$1" "$2" /tmp/vtism.conf
        systemctl start vtismd.service || pl_fail "systemctl start vtismd: $(journalctl -u vtismd.service -n 5 --no-pager 2>&1)"
        PL_T_START=$SECONDS
}

# pl_node_bytes NODE FIELD: bytes of a field of the node's meminfo (MemTotal, MemFree)
pl_node_bytes() {
        awk -v k="$2:" '$3 == k { printf "%.0f\n", $4 * 1024 }' "/sys/devices/system/node/node$1/meminfo"
}

# pl_shape_dram WHAT ROOM_MIB: oversubscribe the DRAM node. A filler (a memhog bound to node 0,
# not a VM: /tmp/filler.info is outside the processes entry) takes 384 MiB, then
# dram_min_free_percent is set (pl_reload) so that the VMs share ~ROOM_MIB above it. The node's
# free memory is the kernel's, read once the filler has touched all of it: vtismd's view is up to
# a cycle old. With 384 MiB of filler the watermark needed is ~40 % of a 1280 MiB node (256 MiB
# left it at 50.4 % once, above the key's range). Sets PL_FILLER (its pid), PL_DRAM_TOTAL,
# PL_DRAM_FREE (with the filler) and PL_ROOM (bytes above the watermark).
pl_shape_dram() {
        local what=$1 i
        "$PL_MEMHOG" --size=384M --hot=4M --bind=0 --thp=off --info=/tmp/filler.info >/tmp/filler.log 2>&1 &
        PL_FILLER=$!
        for ((i = 0; i < 600; i++)); do [[ -s /tmp/filler.info ]] && break; sleep 0.2; done
        [[ -s /tmp/filler.info ]] || pl_fail "${what:+$what }the filler did not touch its memory in 120 s: $(cat /tmp/filler.log)"
        PL_DRAM_TOTAL=$(pl_node_bytes 0 MemTotal) PL_DRAM_FREE=$(pl_node_bytes 0 MemFree)
        PL_DRAM_MIN_FREE=$(( (PL_DRAM_FREE - $2 * MIB) * 100 / PL_DRAM_TOTAL ))
        ((PL_DRAM_MIN_FREE >= 1 && PL_DRAM_MIN_FREE <= 50)) ||
                pl_fail "${what:+$what }cannot shape the DRAM node: $((PL_DRAM_FREE >> 20)) MiB free, the watermark for $2 MiB would be $PL_DRAM_MIN_FREE %"
        pl_reload
        PL_ROOM=$((PL_DRAM_FREE - PL_DRAM_TOTAL * PL_DRAM_MIN_FREE / 100))
        pl_log "${what:+$what }DRAM node 0: $((PL_DRAM_FREE >> 20)) of $((PL_DRAM_TOTAL >> 20)) MiB free; dram_min_free_percent = $PL_DRAM_MIN_FREE: the VMs share $((PL_ROOM >> 20)) MiB"
}
