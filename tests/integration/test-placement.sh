#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The placement cycle's face on the bus, against a private dbus-daemon and a real process: vtismd
# on a DRAM+CXL fixture topology (tests/data/sysfs-lab2) plans a memhog every cycle; GetPlan and
# 'vtismctl plan' report the plan in words and as JSON (this host has no tracker: the VM is frozen
# with its reason, its target is what it holds); MigrationState and the status line follow
# pause, resume and dry-run; the Counters and VM records carry the migration keys; monitor-only
# (the host's own one-node topology) plans nothing and says so; unknown VMs are refused.
# (Pages really move in the lab: tests/lab/lab-placement.)
# shellcheck disable=SC2034 # read by lib.sh
PRIVATE_PIDS=1   # vtismd on the real /proc: see only our own processes (lib.sh; others' QEMUs of GiBs
                 # made its cycles take seconds under ASan on a loaded machine)
. "$(dirname "$0")/lib.sh"
need dbus-daemon jq busctl
MEMHOG="$VTISM_BUILD_ROOT/tests/lab/workloads/memhog"
[[ -x $MEMHOG ]] || skip "memhog was not built"
data="$VTISM_SOURCE_ROOT/tests/data"

start_bus
start_notify

"$MEMHOG" --size=32 --hot=4 --info="$SCRATCH/memhog.info" >"$SCRATCH/memhog.log" 2>&1 &
memhog_pid=$!
PIDS+=("$memhog_pid")
wait_for 10 test -s "$SCRATCH/memhog.info" || fail "memhog did not start: $(cat "$SCRATCH/memhog.log")"
vm=memhog-$memhog_pid

conf="$SCRATCH/vtism.conf"
cat >"$conf" <<CONF
global = {
  sample_interval_ms = 200;
  migrate_rate_limit_mbps = 100;
  heat_range = "8M";
  libvirt_uri = "qemu+unix:///system?socket=$SCRATCH/no-libvirt-here";
};
processes = ( { exe = "*/memhog"; } );
vm = ( { cmdline = "*memhog*"; dram_budget = "8M"; weight = 300; } );
CONF
start_vtismd "$conf" --sysfs-root="$data/sysfs-lab2" ${VTISM_TEST_VTISMD_ARGS:-}
wait_for 10 grep -qx READY=1 "$SCRATCH/notify.log" || fail "no READY=1"

status() { "$VTISMCTL" status --json; }
vm_json() { status | jq -c --arg n "$vm" '.vms[] | select(.name == $n)'; }
planned() { "$VTISMCTL" plan --json "$vm" >/dev/null 2>&1; }
wait_for 15 planned || fail "no plan for $vm: $("$VTISMCTL" plan "$vm" 2>&1) $(vm_json)"

# GetPlan: the last plan in words and as JSON. Untrackable here (no tracker): frozen, with why.
p=$("$VTISMCTL" plan --json "$vm")
jq -e --arg c "$conf:8" '.name != null and .policy_kind == "budget" and .policy == $c and .weight == 300
        and .dram_budget_bytes == 8388608 and .frozen == true and .submitted == true
        and .ram_bytes == 33554432 and .dram_bytes + .cxl_bytes + .unknown_bytes == .ram_bytes
        and .dram_target_bytes == .dram_bytes and .promote_bytes == 0 and .demote_bytes == 0
        and (.reason | test("not sampled: no access tracker"))
        and .cycle >= 1 and .cycle_budget_bytes == 20971520 and .moves == []' <<<"$p" >/dev/null \
        || fail "GetPlan of a frozen VM: $p"
out=$("$VTISMCTL" plan "$vm")
for want in "VM $vm (pid-$memhog_pid): plan of cycle" "Policy: DRAM budget 8 MiB, weight 300 ($conf:8)" \
            "Placement: " "Thresholds: none" "Moves: none" "Why: Budget 8 MiB" "not sampled" \
            "Cycle budget: 20 MiB for all VMs"; do
        grep -qF "$want" <<<"$out" || fail "vtismctl plan lacks '$want': $out"
done
busctl --system call org.vtism1 /org/vtism1 org.vtism1.Manager GetPlan s "$vm" >/dev/null || fail "busctl GetPlan"
ok "GetPlan / vtismctl plan: policy, placement, target, reason of a frozen VM; cycle budget = 100 MiB/s x 0.2 s"

# The VM record and the counters carry the placement keys.
j=$(vm_json)
jq -e '.dram_target_bytes != null and .migration_rounds == 0 and .pages_promoted == 0 and .pages_demoted == 0
       and .bytes_promoted == 0 and .pages_failed == 0 and .pages_failed_busy == 0 and .pages_failed_not_allowed == 0
       and .pages_would_move == 0 and (.allowed_nodes | type) == "string"' <<<"$j" >/dev/null || fail "VM record: $j"
s=$(status)
jq -e '.migration_state == "idle" and .counters.plans >= 1 and .counters.migration_rounds == 0
       and .counters.pages_queried > 0 and .counters.bytes_promoted == 0 and .counters.pages_failed_nomem == 0
       and .counters.pages_dropped == 0' <<<"$s" >/dev/null || fail "status counters: $(jq -c '.counters, .migration_state' <<<"$s")"
# grep without -q: with -q it may exit before vtismctl has written everything, and on a host
# with many QEMU processes found the status is long: SIGPIPE would fail the pipeline.
"$VTISMCTL" status | grep '^    Migration: idle, rate limit 100 MiB/s$' >/dev/null || fail "status line: $("$VTISMCTL" status)"
"$VTISMCTL" status | grep -E '^VM +PID +RAM +BUDGET +TARGET +DRAM +CXL ' >/dev/null || fail "status table header: $("$VTISMCTL" status)"
ok "VM record and Counters: targets, migration counters by reason; Migration: idle"

# Pause migration: the state says so at once, the next plans are not handed to the migrator.
"$VTISMCTL" pause migration >/dev/null
[[ $(status | jq -r .migration_state) == paused ]] || fail "MigrationState after pause: $(status | jq -c .migration_state)"
"$VTISMCTL" status | grep "Migration: paused (nothing moves; 'vtismctl resume migration')" >/dev/null || fail "paused status line"
not_submitted() { "$VTISMCTL" plan --json "$vm" | jq -e '.submitted == false' >/dev/null; }
wait_for 10 not_submitted || fail "a plan made while paused was submitted: $("$VTISMCTL" plan --json "$vm")"
"$VTISMCTL" plan "$vm" | grep "Round: none: the plan was not handed to the migrator (migration paused)" >/dev/null \
        || fail "vtismctl plan while paused: $("$VTISMCTL" plan "$vm")"
"$VTISMCTL" resume migration >/dev/null
[[ $(status | jq -r .migration_state) == idle ]] || fail "MigrationState after resume"
ok "pause migration: MigrationState paused, plans not submitted; resume: idle"

# Dry-run: the state says so (the migrator counts instead of moving: the lab checks the counts).
"$VTISMCTL" dry-run on >/dev/null
[[ $(status | jq -r .migration_state) == dry-run ]] || fail "MigrationState in dry-run"
"$VTISMCTL" status | grep "Migration: dry-run (planned and counted, nothing moves)" >/dev/null || fail "dry-run status line"
"$VTISMCTL" dry-run off >/dev/null
[[ $(status | jq -r .migration_state) == idle ]] || fail "MigrationState after dry-run off"
ok "dry-run: MigrationState dry-run and back"

# MigrationState is signalled (PropertiesChanged) when it changes.
busctl --system monitor --json=short --match "type='signal',interface='org.freedesktop.DBus.Properties'" \
        >"$SCRATCH/monitor.log" 2>&1 &
mon=$!
PIDS+=("$mon")
sleep 0.5
"$VTISMCTL" pause migration >/dev/null
"$VTISMCTL" resume migration >/dev/null
wait_for 5 grep -q '"MigrationState"' "$SCRATCH/monitor.log" || fail "no PropertiesChanged for MigrationState: $(cat "$SCRATCH/monitor.log")"
kill "$mon" 2>/dev/null || true
ok "MigrationState emits PropertiesChanged"

# Unknown VMs.
set +e
out=$("$VTISMCTL" plan no-such-vm 2>&1); rc=$?
set -e
[[ $rc -eq 1 && $out == *"No VM 'no-such-vm'"* ]] || fail "plan of an unknown VM: rc=$rc $out"
set +e
out=$("$VTISMCTL" plan 2>&1); rc=$?
set -e
[[ $rc -eq 2 && $out == *"usage: vtismctl plan VM"* ]] || fail "plan without a VM: rc=$rc $out"
ok "plan: unknown VM and usage errors"

# A service level (vtism.conf: cxl_access_max_percent): the plan takes the "slo" kind with its
# bounds; the VM record has its cap and no budget. (Frozen here: no estimate, no controller
# update, so no slo_state; the controller itself: test-slo, test-plan's simulated SLO case.)
sed -i 's|dram_budget = "8M"; weight = 300;|cxl_access_max_percent = 5; dram_min = "4M"; dram_max = "50%"; weight = 300;|' "$conf"
"$VTISMCTL" reload >/dev/null || fail "reload with a service level"
slo_planned() { "$VTISMCTL" plan --json "$vm" 2>/dev/null | jq -en 'input | .policy_kind == "slo"' >/dev/null; }
wait_for 10 slo_planned || fail "no slo plan: $("$VTISMCTL" plan --json "$vm" 2>&1)"
p=$("$VTISMCTL" plan --json "$vm")
jq -en 'input | (.reason | test("^SLO at most 5.00 % of accesses from CXL, DRAM target [0-9.]+ [KM]iB \\(at least 4 MiB\\)"))' <<<"$p" >/dev/null || fail "GetPlan of an SLO VM: $p"
vm_json | jq -en 'input | .slo_cap_bp == 500 and .dram_budget_bytes == null' >/dev/null || fail "VM record of an SLO VM: $(vm_json)"
ok "service level: plan kind slo with its target and dram_min, cap 500 bp in the VM record"
kill -TERM "$VTISMD_PID"; wait "$VTISMD_PID" || fail "exit status on SIGTERM"

# Monitor-only (this host: one node): nothing is planned, and both status and GetPlan say so.
: >"$SCRATCH/notify.log"
start_vtismd "$conf" --sysfs-root="$data/sysfs-1node"
wait_for 10 grep -qx READY=1 "$SCRATCH/notify.log" || fail "monitor-only: no READY=1"
located() { vm_json | jq -e '.ram_bytes > 0 and .residency_known' >/dev/null; }
wait_for 15 located || fail "monitor-only: $vm not located: $(vm_json)"
s=$(status)
jq -e '.mode == "monitor-only" and .migration_state == "monitor-only" and .counters.plans == 0' <<<"$s" >/dev/null \
        || fail "monitor-only state: $(jq -c '.mode, .migration_state, .counters' <<<"$s")"
"$VTISMCTL" status | grep "Migration: monitor-only (no CXL or no DRAM node: nothing is planned or moved)" >/dev/null \
        || fail "monitor-only status line: $("$VTISMCTL" status)"
set +e
out=$("$VTISMCTL" plan "$vm" 2>&1); rc=$?
set -e
[[ $rc -eq 1 && $out == *"Nothing is planned: vtismd is monitor-only"* ]] || fail "plan in monitor-only mode: rc=$rc $out"
vm_json | jq -e '.not_tiered | test("^monitor-only")' >/dev/null || fail "monitor-only VM reason: $(vm_json)"
ok "monitor-only: nothing planned; status, VM record and GetPlan say why"
kill -TERM "$VTISMD_PID"; wait "$VTISMD_PID" || fail "exit status on SIGTERM"
echo PASS
