#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# When is a VM gone? Only when /proc says so (proc-pid.h: -ESRCH):
#   A. vtismd on a fixture /proc tree (--proc-root): a QEMU whose stat becomes unreadable stays
#      listed; its pid reused by another QEMU (new start time) drops it and finds the new one; a
#      zombie and a vanished directory drop it.
#   B. vtismd on the real /proc, under strace, with a plain QEMU sampled by the page_idle tracker
#      (a regular file as the bitmap, as in test-vtismd-libvirt): exactly one /proc/PID/stat read
#      per VM per cycle.
# shellcheck disable=SC2034 # read by lib.sh
PRIVATE_PIDS=1   # vtismd on the real /proc: see only our own processes (lib.sh)
. "$(dirname "$0")/lib.sh"
need dbus-daemon jq strace qemu-system-x86_64

start_bus
start_notify
data="$VTISM_SOURCE_ROOT/tests/data"
status() { "$VTISMCTL" status --json; }
vm_json() { status | jq -c --arg n "$1" '.vms[] | select(.name == $n)'; }
vm_listed() { [[ -n $(vm_json "$1") ]]; }
vm_gone() { status >/dev/null && [[ -z $(vm_json "$1") ]]; }
cycles() { status | jq .counters.cycles; }
cycles_above() { (($(cycles) > $1)); }

# ---- A: fixture /proc ----
proc="$SCRATCH/proc"
# fake_qemu PID NAME START [STATE]
fake_qemu() {
        local dir="$proc/$1"
        rm -rf "$dir"
        mkdir -p "$dir"
        printf 'qemu-system-x86_64\0-name\0guest=%s\0-m\0%s\0' "$2" 64 >"$dir/cmdline"
        printf '%s (qemu-system-x86) %s 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %s 0 0\n' "$1" "${4:-S}" "$3" >"$dir/stat"
        printf 'Name:\tqemu-system-x86\nUid:\t0\t0\t0\t0\n' >"$dir/status"   # root's: trusted
        : >"$dir/maps"   # no guest RAM mapping: listed, untrackable, retried
}
mkdir -p "$proc/self"
fake_qemu 4242 fixture-a 1000

conf="$SCRATCH/vtism.conf"
cat >"$conf" <<CONF
global = {
  sample_interval_ms = 100;
  libvirt_uri = "qemu+unix:///system?socket=/nonexistent/vtism-test";
};
CONF
start_vtismd "$conf" --proc-root="$proc" --sysfs-root="$data/sysfs-1node" --log-level=debug
wait_for 10 grep -qx READY=1 "$SCRATCH/notify.log" || fail "no READY=1"
wait_for 10 vm_listed fixture-a || fail "fixture QEMU not found: $(status | jq -c .vms)"
ok "fixture QEMU 4242 listed"

# Unreadable stat (a directory: EISDIR, for root too): cannot tell, so it stays.
# (In one process: between a separate rm and mkdir a 100 ms cycle may see it vanished.)
python3 -c 'import os, sys; os.unlink(sys.argv[1]); os.mkdir(sys.argv[1])' "$proc/4242/stat"
c=$(cycles)
wait_for 10 cycles_above $((c + 10)) || fail "cycles stalled"
vm_listed fixture-a || fail "a VM whose stat cannot be read was dropped"
grep -q "Cannot tell whether VM fixture-a (pid 4242) still runs, keeping it: Is a directory" "$SCRATCH/vtismd.log" \
        || fail "no debug line for the unreadable stat"
ok "stat unreadable for 10 cycles: VM kept"

# The pid reused by another QEMU (another start time): the old VM goes, the new one is found.
rmdir "$proc/4242/stat"
fake_qemu 4242 fixture-b 2000
wait_for 10 vm_gone fixture-a || fail "VM with a reused pid still listed"
wait_for 10 vm_listed fixture-b || fail "the pid's new QEMU was not found: $(status | jq -c .vms)"
ok "pid reused: fixture-a dropped, fixture-b found under the same pid"

# A zombie is gone, and so is a vanished directory.
fake_qemu 4242 fixture-b 2000 Z
wait_for 10 vm_gone fixture-b || fail "zombie still listed"
fake_qemu 4343 fixture-c 3000
wait_for 10 vm_listed fixture-c || fail "fixture-c not found"
rm -rf "$proc/4343"
wait_for 10 vm_gone fixture-c || fail "vanished pid still listed"
kill -0 "$VTISMD_PID" || fail "vtismd died"
ok "zombie and vanished pid dropped"
kill -TERM "$VTISMD_PID"; wait "$VTISMD_PID" || fail "exit status on SIGTERM"

# ---- B: /proc/PID/stat reads per VM per cycle, on the real /proc ----
qemu-system-x86_64 -accel tcg -m 32 -nographic -nodefaults -display none -S -name guest=stat-count \
        >"$SCRATCH/qemu.log" 2>&1 &
qpid=$!
PIDS+=("$qpid")
sysfs="$SCRATCH/sysfs"
cp -a "$data/sysfs-1node" "$sysfs"
mkdir -p "$sysfs/kernel/mm/page_idle"
truncate -s 64M "$sysfs/kernel/mm/page_idle/bitmap"
cat >"$conf" <<CONF
global = {
  sample_interval_ms = 100;
  heat_range = "16M";
  tracker = "page_idle";
  libvirt_uri = "qemu+unix:///system?socket=/nonexistent/vtism-test";
};
CONF
: >"$SCRATCH/notify.log"
NOTIFY_SOCKET="$SCRATCH/notify.sock" strace -f -qq -e trace=openat -o "$SCRATCH/strace.log" \
        "$VTISMD" --foreground --config="$conf" --sysfs-root="$sysfs" >>"$SCRATCH/vtismd.log" 2>&1 &
PIDS+=($!)
wait_for 20 grep -q '^MAINPID=' "$SCRATCH/notify.log" || fail "vtismd under strace did not start"
VTISMD_PID=$(sed -n 's/^MAINPID=//p' "$SCRATCH/notify.log" | tail -n1)
PIDS+=("$VTISMD_PID")
vm_tracked() { vm_json stat-count | jq -en 'input | (.state == "tracked" and .cycles > 2)' >/dev/null; }
wait_for 30 vm_tracked || fail "QEMU not sampled: $(vm_json stat-count)"
# In its private PID namespace (lib.sh) vtismd sees this test's QEMU alone: other engineers' and
# other tests' QEMUs on the machine would add their own stat reads and cycle time.
if [[ -n ${VTISM_PRIVATE_PIDS_NS:-} ]]; then
        others=$(status | jq -r '[.vms[] | select(.name != "stat-count") | "\(.name) (pid \(.pid))"] | join(", ")')
        [[ -z $others ]] || fail "vtismd on /proc sees QEMUs other than the test's: $others"
        ok "private PID namespace: vtismd lists the test's QEMU only"
fi

stat_reads() { grep -c "\"/proc/$qpid/stat\"" "$SCRATCH/strace.log" || true; }
c1=$(cycles); s1=$(stat_reads)
wait_for 60 cycles_above $((c1 + 40)) || fail "cycles stalled"
c2=$(cycles); s2=$(stat_reads)
n=$((c2 - c1)) reads=$((s2 - s1))
# Reading the cycle counter (a vtismctl call, slow on a loaded machine) and the strace log is
# not atomic: cycles of 100 ms go on in between, so allow a fifth of the cycles (at least 2) of
# slack either way. The tree before the proc-pid helper did 6 reads per cycle.
slack=$((n / 5 > 2 ? n / 5 : 2))
((reads >= n - slack && reads <= n + slack)) \
        || fail "$reads opens of /proc/$qpid/stat in $n cycles (want one per cycle): $(grep "/proc/$qpid/" "$SCRATCH/strace.log" | tail -n 20)"
ok "$reads reads of /proc/$qpid/stat in $n cycles: one liveness check per VM per cycle"
kill -TERM "$VTISMD_PID"
wait_for 10 bash -c "! kill -0 $VTISMD_PID" || fail "vtismd did not exit on SIGTERM"

echo PASS
