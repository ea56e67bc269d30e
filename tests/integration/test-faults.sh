#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Fault injection without libvirt (issue 12; test-libvirt-faults has libvirtd's faults,
# test-manager-faults the exact points inside a cycle). In every case vtismd stays alive, says
# what happened in one line, and loses no VM:
#   1. D-Bus clients killed in the middle of GetHeatmap of a big VM (a QEMU with 8 GiB of guest
#      RAM, 2 MiB ranges: 4096 ranges, a reply of ~0.5 MB), at spread delays: vtismd unharmed
#      (status and GetHeatmap answer, no fd leaked, nothing logged at warning or above);
#   2. a reload with a broken config while the VM is followed: the old configuration stays in force,
#      the VM keeps its id and heat map, one log line names the file and line;
#   3. QEMU processes that appear and exit at random during the /proc scans (discovery, command
#      line, start time, owner, guest RAM): none left listed, nothing logged at warning or above;
#   4. SIGKILL of vtismd and a restart: the QEMUs run on, the new vtismd finds them with the same
#      ids and reads their placement as it stands (a small one's: the big one's takes 64 cycles).
# shellcheck disable=SC2034 # read by lib.sh
PRIVATE_PIDS=1   # vtismd on the real /proc: see only our own processes (lib.sh)
. "$(dirname "$0")/lib.sh"
need dbus-daemon jq busctl qemu-system-x86_64

start_bus
start_notify
data="$VTISM_SOURCE_ROOT/tests/data"
LOG="$SCRATCH/vtismd.log"
status() { timeout 20 "$VTISMCTL" status --json; }
vm_by_pid() { status | jq -c --argjson p "$1" '.vms[] | select(.pid == $p)'; }
# -n + input: jq 1.6's -e exits 0 on empty input, so a VM not (yet) listed would pass.
vm_is() { vm_by_pid "$1" | jq -en "input | ($2)" >/dev/null; }
log_lines() { wc -l <"$LOG"; }
log_since() { tail -n "+$(($1 + 1))" "$LOG" | grep -E -- "$2"; }
vtismd_alive() { kill -0 "$VTISMD_PID" 2>/dev/null || fail "vtismd died"; }
n_fds() { find "/proc/$VTISMD_PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
cycles() { status | jq .counters.cycles; }
cycles_above() { (($(cycles) > $1)); }
# Our own QEMUs only: the host's /proc holds other people's.
# The host's own facts are no complaint: libvirt is absent here, and a host without any usable
# tracker (CI's) says so at every start. The lines found are printed (to stderr), so a failure
# shows them.
quiet_since() {   # FROM: no line at warning level or above (vtismd words them so) about our processes
        local bad
        bad=$(log_since "$1" "(Failed|failed|error|Error|warning|Warning|Cannot|cannot|: err:|: crit:)" |
                grep -v -E "libvirt at .* unreachable|No access tracker is usable on this host") || true
        [[ -z $bad ]] || { printf 'complaints in the log:\n%s\n' "$bad" >&2; return 1; }
}

conf="$SCRATCH/vtism.conf"
cat >"$conf" <<CONF
global = {
  sample_interval_ms = 200;
  heat_range = "2M";
  libvirt_uri = "qemu+unix:///system?socket=/nonexistent/vtism-test";
};
CONF
start_vtismd "$conf" --sysfs-root="$data/sysfs-1node"
wait_for 10 grep -qx READY=1 "$SCRATCH/notify.log" || fail "no READY=1"

BIG=$((8 << 30))
qemu-system-x86_64 -accel tcg -m 8G -nodefaults -display none -S -name guest=big-vm \
        >"$SCRATCH/qemu.log" 2>&1 &
big=$!
PIDS+=("$big")
qemu-system-x86_64 -accel tcg -m 64 -nodefaults -display none -S -name guest=small-vm \
        >"$SCRATCH/qemu-small.log" 2>&1 &
small=$!
PIDS+=("$small")
wait_for 30 vm_is "$big" ".ram_bytes == $BIG" || fail "big VM not located: $(vm_by_pid "$big") $(cat "$SCRATCH/qemu.log")"
ID=$(vm_by_pid "$big" | jq -r .id)

# ---- 1. clients killed mid-GetHeatmap ----
heatmap() { timeout 60 busctl --system call org.vtism1 /org/vtism1 org.vtism1.Manager GetHeatmap s big-vm; }
wait_for 30 eval 'heatmap >/dev/null' || fail "no heat map of the big VM: $(heatmap 2>&1 | head -c 300)"
t0=$(monotonic_ms)
bytes=$(heatmap | wc -c) || fail "GetHeatmap of the big VM failed: $(heatmap 2>&1 | head -c 300)"
t1=$(monotonic_ms)
# Unknown values are left out of the records (no placement pass yet), so the text is ~300 KB.
((bytes > 250000)) || fail "GetHeatmap reply of only $bytes bytes (busctl text)"
fds_before=$(n_fds)
from=$(log_lines)
for i in $(seq 0 24); do
        busctl --system call org.vtism1 /org/vtism1 org.vtism1.Manager GetHeatmap s big-vm >/dev/null 2>&1 &
        client=$!
        sleep "0.$(printf '%03d' $((i * 13)))"   # 0 to 312 ms: before, during and after the reply
        kill -9 "$client" 2>/dev/null || true
        wait "$client" 2>/dev/null || true
done
vtismd_alive
heatmap >/dev/null || fail "GetHeatmap after the killed clients"
status >/dev/null || fail "status after the killed clients"
wait_for 10 bash -c "(( \$(find /proc/$VTISMD_PID/fd -mindepth 1 -maxdepth 1 | wc -l) <= $fds_before ))" ||
        fail "vtismd has $(n_fds) fds, $fds_before before the killed clients: $(ls -l "/proc/$VTISMD_PID/fd")"
quiet_since "$from" || fail "vtismd complained about the killed clients"
ok "1. 25 clients killed 0-312 ms into GetHeatmap (one reply: $bytes bytes of busctl text in $((t1 - t0)) ms): vtismd unharmed, $fds_before fds before and after"

# ---- 2. a broken config reloaded while the VM is followed ----
c0=$(cycles)
cp "$conf" "$SCRATCH/vtism.conf.good"
printf 'global = {\n  sample_interval_ms = 200;\n  heat_range = "3M";\n};\n' >"$conf"
from=$(log_lines)
set +e
out=$(timeout 20 "$VTISMCTL" reload 2>&1); rc=$?
set -e
[[ $rc -eq 1 && $out == *"$conf:3: global.heat_range: '3M' is not a power of two"* ]] || fail "reload of a broken config: rc=$rc '$out'"
wait_for 10 cycles_above $((c0 + 5)) || fail "cycles stopped after the failed reload"
vm_is "$big" ".id == \"$ID\" and .ram_bytes == $BIG" || fail "the VM changed: $(vm_by_pid "$big")"
"$VTISMCTL" heatmap --json big-vm | jq -e '.range_bytes == 2097152' >/dev/null || fail "the heat map changed"
status | jq -e '.counters.reload_failures == 1 and (.last_reload_error | contains("heat_range"))' >/dev/null ||
        fail "status after the failed reload: $(status | jq -c '{counters, last_reload_error}')"
n=$(log_since "$from" "Reload failed, keeping the previous configuration: $conf:3: global.heat_range" | wc -l)
((n == 1)) || fail "$n log lines for the failed reload"
cp "$SCRATCH/vtism.conf.good" "$conf"
ok "2. broken config reloaded: refused with $conf:3, the VM kept its id and 2 MiB heat map, cycles went on, one log line"

# ---- 3. QEMUs appearing and exiting during the scans ----
from=$(log_lines)
c0=$(cycles)
spawner() {   # fake QEMUs (by argv[0]) living 0-99 ms each, for ~8 s
        local end=$((SECONDS + 8))
        while ((SECONDS < end)); do
                # shellcheck disable=SC2016 # $BASHPID is the fake's own pid, expanded in it
                (exec -a qemu-system-x86_64 sleep "0.0$((RANDOM % 100))" -m 64 -name "guest=flash-$BASHPID") &
                sleep 0.0$((RANDOM % 50))
        done
        wait
}
spawners=()
for _ in 1 2 3 4; do
        spawner &
        spawners+=($!)
done
PIDS+=("${spawners[@]}")
wait "${spawners[@]}"
vtismd_alive
flash_gone() { status | jq -e '[.vms[] | select(.name | startswith("flash-"))] | length == 0' >/dev/null; }
wait_for 10 flash_gone ||
        fail "exited fake QEMUs still listed: $(status | jq -c '[.vms[] | select(.name | startswith("flash-"))]')"
found=$(log_since "$from" "VM flash-[0-9]+ \(pid [0-9]+\) found via proc" | wc -l)
gone=$(log_since "$from" "VM flash-[0-9]+ \(pid [0-9]+\) .*no longer tracked" | wc -l)
((found == gone)) || fail "$found fake QEMUs found, $gone dropped"
quiet_since "$from" || fail "vtismd complained about the short-lived QEMUs"
((found > 0)) || fail "no fake QEMU was ever seen (the test did not test anything)"
vm_is "$big" ".id == \"$ID\"" || fail "the big VM was lost"
c1=$(cycles)
ok "3. short-lived QEMUs during $((c1 - c0)) cycles: $found seen and all $gone dropped, none left, nothing logged above info, the big VM kept"

# ---- 4. SIGKILL and restart ----
ours() { status | jq -c --argjson a "$big" --argjson b "$small" \
        '[.vms[] | select(.pid == $a or .pid == $b) | {id, pid, ram_bytes, residency_known, dram_bytes, cxl_bytes}
          | if .pid == $a then del(.residency_known, .dram_bytes, .cxl_bytes) else . end] | sort_by(.pid)'; }
wait_for 30 vm_is "$small" '.residency_known' || fail "placement of the small VM never read"
before=$(ours)
kill -KILL "$VTISMD_PID"
wait "$VTISMD_PID" 2>/dev/null || true
{ kill -0 "$big" && kill -0 "$small"; } || fail "a QEMU died with vtismd"
from=$(log_lines)
ready=$(notify_count READY=1)
start_vtismd "$conf" --sysfs-root="$data/sysfs-1node"
wait_for 15 bash -c "(( \$(grep -c -x READY=1 '$SCRATCH/notify.log') > $ready ))" || fail "no READY=1 after SIGKILL"
wait_for 30 vm_is "$small" '.residency_known' || fail "the small VM not found again: $(vm_by_pid "$small")"
wait_for 30 vm_is "$big" ".ram_bytes == $BIG" || fail "the big VM not found again: $(vm_by_pid "$big")"
after=$(ours)
[[ $after == "$before" ]] || fail "after the restart: $after, before: $before"
quiet_since "$from" || fail "complaints after the restart"
ok "4. SIGKILL + restart: the QEMUs ran on; found again as before: $after"

kill -TERM "$VTISMD_PID"
wait "$VTISMD_PID" || fail "exit status on SIGTERM"
echo PASS
