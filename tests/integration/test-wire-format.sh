#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The wire format grows without breaking an older vtismctl (bus-api.h): against fake-vtismd, a
# "newer daemon" that adds a key to every kind of record and a property of an unknown type,
# vtismctl shows every VM and node it can, in text and JSON, and says in ONE stderr line what
# it skipped. Against the real vtismd it has nothing to skip.
. "$(dirname "$0")/lib.sh"
need dbus-daemon jq busctl

start_bus
"$VTISM_BUILD_ROOT/tests/integration/fake-vtismd" >"$SCRATCH/fake.log" 2>&1 &
PIDS+=($!)
fake_pid=$!
wait_for 10 grep -qx ready "$SCRATCH/fake.log" || fail "fake-vtismd did not start: $(cat "$SCRATCH/fake.log")"

expect_notice() {
        local err=$1 what=$2 key
        [[ $(wc -l <"$err") -eq 1 ]] || fail "$what: want exactly one line on stderr, got: $(cat "$err")"
        grep -q '^vtismctl: vtismd sent fields this vtismctl does not know (.*); upgrade vtismctl to see them\.$' "$err" \
                || fail "$what: notice: $(cat "$err")"
        for key in VMs.planned_dram_bytes VMs.numa_cells Nodes.bandwidth_bytes_per_sec Counters.pages_compacted \
                   'Plans (a(st))'; do
                grep -qF "$key" "$err" || fail "$what: notice lacks $key: $(cat "$err")"
        done
}

out=$("$VTISMCTL" status 2>"$SCRATCH/err") || fail "status against a newer daemon failed: $(cat "$SCRATCH/err")"
echo "$out"
grep -Eq '^future-vm +4242 +1 GiB' <<<"$out" || fail "VM row future-vm missing"
grep -Eq '^other-vm +4243 +1 GiB' <<<"$out" || fail "VM row other-vm missing"
grep -Eq '^ +1 +cxl +cpu-less' <<<"$out" || fail "node 1 missing"
grep -q 'Migrations: 20 pages promoted, 30 demoted, 40 failed' <<<"$out" || fail "known counters not shown"
expect_notice "$SCRATCH/err" status
cat "$SCRATCH/err"
ok "status: every VM and node shown, one line says what was skipped"

json=$("$VTISMCTL" status --json 2>"$SCRATCH/err") || fail "status --json failed: $(cat "$SCRATCH/err")"
jq -e '(.vms | length) == 2 and .vms[0].name == "future-vm" and .vms[0].hot_bytes == 134217728
       and .vms[0].uuid == null and .vms[1].id == "pid-4243" and .nodes[0].demotion_targets == [1]
       and .nodes[1].memory_tier == null and .counters.cycles == 10' <<<"$json" >/dev/null \
        || fail "JSON against a newer daemon: $json"
expect_notice "$SCRATCH/err" "status --json"
ok "status --json: valid JSON with every VM, the notice on stderr"

"$VTISMCTL" nodes >/dev/null 2>"$SCRATCH/err" || fail "nodes failed"
ok "nodes works"

kill "$fake_pid"
wait "$fake_pid" 2>/dev/null || true

# The real daemon: nothing unknown, nothing said.
start_notify
echo 'global = { sample_interval_ms = 200; };' >"$SCRATCH/vtism.conf"
start_vtismd "$SCRATCH/vtism.conf" --sysfs-root="$VTISM_SOURCE_ROOT/tests/data/sysfs-lab2"
wait_for 10 grep -qx READY=1 "$SCRATCH/notify.log" || fail "no READY=1"
"$VTISMCTL" status >/dev/null 2>"$SCRATCH/err" || fail "status failed: $(cat "$SCRATCH/err")"
[[ ! -s $SCRATCH/err ]] || fail "vtismctl skipped fields of its own vtismd: $(cat "$SCRATCH/err")"
"$VTISMCTL" status --json >/dev/null 2>"$SCRATCH/err"
[[ ! -s $SCRATCH/err ]] || fail "vtismctl --json skipped fields of its own vtismd: $(cat "$SCRATCH/err")"
ok "vtismctl knows every field of its own vtismd"

# The manager's change hook reaches the bus as PropertiesChanged. busctl monitor has no readiness
# signal: pause and resume until it has seen them.
busctl --system monitor org.vtism1 >"$SCRATCH/monitor.log" 2>&1 &
mon=$!
PIDS+=("$mon")
seen() { grep -q "\"$1\"" "$SCRATCH/monitor.log"; }
toggle() { "$VTISMCTL" pause sampling >/dev/null && "$VTISMCTL" resume >/dev/null && seen SamplingPaused; }
wait_for 10 toggle || fail "no PropertiesChanged for SamplingPaused: $(cat "$SCRATCH/monitor.log")"
printf 'global = { sample_interval_ms = 300; };\n' >"$SCRATCH/vtism.conf"
"$VTISMCTL" reload >/dev/null
wait_for 5 seen SampleIntervalUSec || fail "no PropertiesChanged for SampleIntervalUSec: $(cat "$SCRATCH/monitor.log")"
seen VMs || fail "no PropertiesChanged for VMs on reload"
kill "$mon"
ok "pause, resume and reload send PropertiesChanged"
kill -TERM "$VTISMD_PID"; wait "$VTISMD_PID" || fail "exit status on SIGTERM"
echo PASS
