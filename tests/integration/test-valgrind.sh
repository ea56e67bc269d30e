#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# vtismd under valgrind memcheck for one whole scenario (issue 12): start, a QEMU found in /proc
# and followed, status (text and JSON), GetHeatmap, Pause/Resume, SetDryRun, a good and a broken
# reload, the QEMU exiting, an unreachable libvirt retried, SIGTERM. Asserted: READY=1, every call
# answers, exit status 0, and memcheck reports 0 errors and 0 bytes definitely lost. The valgrind
# log is printed on failure. Not under a sanitizer build (valgrind cannot run ASan binaries).
# shellcheck disable=SC2034 # read by lib.sh
PRIVATE_PIDS=1   # vtismd on the real /proc: see only our own processes (lib.sh)
. "$(dirname "$0")/lib.sh"
need dbus-daemon valgrind jq busctl qemu-system-x86_64

if output_has -E 'libasan|libubsan' -- ldd "$VTISMD" 2>/dev/null; then
        skip "vtismd is built with a sanitizer (valgrind cannot run it): run this test from a plain build"
fi

VG_LOG="$SCRATCH/valgrind.log"
vg_fail() {
        echo "--- valgrind log ---" >&2
        cat "$VG_LOG" >&2 2>/dev/null || true
        fail "$@"
}
# Under memcheck vtismd runs 20-50 times slower: every wait below is long, each poll short.
call() { timeout 60 "$@"; }

start_bus
start_notify

conf="$SCRATCH/vtism.conf"
cat >"$conf" <<CONF
global = {
  sample_interval_ms = 500;
  heat_range = "4M";
  libvirt_uri = "qemu+unix:///system?socket=$SCRATCH/no-libvirtd";
};
CONF

qemu-system-x86_64 -m 16 -name guest=vg-vm -nodefaults -display none -S >"$SCRATCH/qemu.log" 2>&1 &
qemu=$!
PIDS+=("$qemu")

WATCHDOG_USEC=10000000 NOTIFY_SOCKET="$SCRATCH/notify.sock" \
        valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
        --errors-for-leak-kinds=definite --error-exitcode=99 --log-file="$VG_LOG" \
        "$VTISMD" --foreground --config="$conf" >>"$SCRATCH/vtismd.log" 2>&1 &
VTISMD_PID=$!
PIDS+=("$VTISMD_PID")
wait_for 120 grep -qx READY=1 "$SCRATCH/notify.log" || vg_fail "no READY=1 within 120 s under valgrind"
ok "READY=1 under valgrind"

vm_listed() { call "$VTISMCTL" status --json | jq -e '.vms[] | select(.name == "vg-vm")' >/dev/null; }
wait_for 120 vm_listed || vg_fail "the QEMU was never listed: $(call "$VTISMCTL" status --json | jq -c .vms)"
call "$VTISMCTL" status >/dev/null || vg_fail "vtismctl status failed"
cycles_before=$(call "$VTISMCTL" status --json | jq .counters.cycles)
ok "vg-vm listed, status answers (text and JSON)"

# The heat map of a VM whose guest RAM is located (it may be unsampled: no tracker on this host).
heatmap_ok() { call busctl --system call org.vtism1 /org/vtism1 org.vtism1.Manager GetHeatmap s vg-vm >/dev/null; }
wait_for 120 heatmap_ok || vg_fail "GetHeatmap vg-vm never answered"
set +e
out=$(call busctl --system call org.vtism1 /org/vtism1 org.vtism1.Manager GetHeatmap s no-such-vm 2>&1)
set -e
[[ $out == *"No VM 'no-such-vm'"* ]] || vg_fail "GetHeatmap of an unknown VM: '$out'"
ok "GetHeatmap answers, an unknown VM is refused"

call busctl --system call org.vtism1 /org/vtism1 org.vtism1.Manager Pause s all || vg_fail "Pause failed"
call busctl --system call org.vtism1 /org/vtism1 org.vtism1.Manager Resume s all || vg_fail "Resume failed"
call busctl --system call org.vtism1 /org/vtism1 org.vtism1.Manager SetDryRun b true || vg_fail "SetDryRun failed"
call busctl --system call org.vtism1 /org/vtism1 org.vtism1.Manager SetDryRun b false || vg_fail "SetDryRun failed"
ok "Pause, Resume, SetDryRun"

sed -i 's/heat_range = "4M"/heat_range = "3M"/' "$conf"
set +e
call busctl --system call org.vtism1 /org/vtism1 org.vtism1.Manager Reload >/dev/null 2>&1
set -e
wait_for 60 grep -q "Reload failed" "$SCRATCH/vtismd.log" || vg_fail "the broken reload was not reported"
sed -i 's/heat_range = "3M"/heat_range = "2M"/' "$conf"
call busctl --system call org.vtism1 /org/vtism1 org.vtism1.Manager Reload || vg_fail "the good reload failed"
wait_for 60 grep -q "Configuration reloaded" "$SCRATCH/vtismd.log" || vg_fail "the good reload was not logged"
ok "a broken reload rejected, a good one applied (the heat maps start over at 2 MiB ranges)"

kill "$qemu"
wait "$qemu" 2>/dev/null || true
gone() { ! call "$VTISMCTL" status --json | jq -e '.vms[] | select(.name == "vg-vm")' >/dev/null; }
wait_for 120 gone || vg_fail "the exited QEMU is still listed"
cycles_after=$(call "$VTISMCTL" status --json | jq .counters.cycles)
((cycles_after > cycles_before)) || vg_fail "no cycle ran under valgrind ($cycles_before -> $cycles_after)"
grep -q "libvirt at .* unreachable" "$SCRATCH/vtismd.log" || vg_fail "the unreachable libvirt was never tried"
ok "the QEMU exited and was dropped; $((cycles_after - cycles_before)) cycles; libvirt retried"

kill -TERM "$VTISMD_PID"
set +e
timeout 120 tail --pid="$VTISMD_PID" -f /dev/null
wait "$VTISMD_PID"
rc=$?
set -e
((rc == 0)) || vg_fail "vtismd under valgrind exited with status $rc (99: memcheck found errors)"
grep -q "ERROR SUMMARY: 0 errors" "$VG_LOG" || vg_fail "memcheck found errors"
if grep -q "definitely lost:" "$VG_LOG"; then
        grep -q "definitely lost: 0 bytes" "$VG_LOG" || vg_fail "memcheck found definite leaks"
fi
ok "memcheck: $(grep -o 'ERROR SUMMARY: [0-9]* errors' "$VG_LOG"); $(grep -o -E 'definitely lost: [0-9,]+ bytes|All heap blocks were freed' "$VG_LOG" | head -n1)"
sed -n 's/^==[0-9]*== *//p' "$VG_LOG" | sed -n '/HEAP SUMMARY/,$p'
