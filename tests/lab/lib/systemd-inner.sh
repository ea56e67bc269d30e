#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Runs INSIDE the lab booted with --systemd (tests/lab/run --systemd), as the oneshot unit
# vtism-lab.service: installs vtismd, vtismctl, the unit, the D-Bus policy and the default
# configuration into the lab's tmpfs overlay, then drives the real systemd/D-Bus/journal flow.
# Usage: systemd-inner.sh SOURCE_ROOT BUILD_ROOT

set -euo pipefail

SRC=$1
BUILD=$2
failures=0

step() {
        echo "--- $*"
}

check() { # description, command...
        local what=$1
        shift
        if "$@"; then
                echo "ok: $what"
        else
                echo "FAIL: $what"
                failures=$((failures + 1))
        fi
}

[[ ${VTISM_LAB:-} == 1 && -d /run/systemd/system ]] || {
        echo "SKIP: run me through tests/lab/run --systemd"
        exit 77
}

step "installing vtism into the lab's overlay"
# shellcheck source=install-vtism.sh
. "$SRC/tests/lab/lib/install-vtism.sh"
install_vtism "$SRC" "$BUILD"
echo "system bus: $(systemctl is-active dbus.service) (socket $(systemctl is-active dbus.socket))"

step "systemctl start vtismd"
check "systemctl start vtismd" systemctl start vtismd.service
check "vtismd is active" test "$(systemctl is-active vtismd.service)" = active
systemctl status --no-pager vtismd.service || true

step "vtismctl status"
status_out=$(vtismctl status 2>&1) && rc=0 || rc=$?
echo "$status_out"
check "vtismctl status exits 0" test "$rc" = 0
check "vtismctl status shows a CXL node" grep -qi cxl <<<"$status_out"

step "another user's QEMU is seen through the sandbox (ProtectProc=invisible, CAP_SYS_PTRACE)"
setpriv --reuid=nobody --regid=nogroup --clear-groups -- qemu-system-x86_64 -accel tcg -m 16 \
        -display none -nodefaults -S -name guest=nobody-vm >/dev/null 2>&1 &
qemu_pid=$!
vm_json() {
        vtismctl status --json | jq -c --argjson p "$qemu_pid" '.vms[] | select(.pid == $p)'
}
wait_vm() { # jq predicate on the VM, within 120 s (vtismd scans /proc every 5 s)
        local deadline=$((SECONDS + 120))
        until vm_json | jq -en "input | ($1)" >/dev/null 2>&1 || ((SECONDS >= deadline)); do
                sleep 1
        done
        vm_json | jq -en "input | ($1)" >/dev/null 2>&1
}
# Not in the default qemu_users (root, libvirt-qemu): listed, never tiered, its claimed name refused.
check "vtismd lists nobody's QEMU (pid $qemu_pid) as ignored: not in qemu_users" \
        wait_vm '.state == "ignored" and (.error | test("qemu_users"))'
vm_json || true
# With nobody in qemu_users (a reload), vtismd reads that QEMU's /proc/PID/{cmdline,maps} through
# the sandbox and finds its guest RAM.
printf '\nglobal = {\n        qemu_users = [ "root", "libvirt-qemu", "nobody" ];\n};\n' >>/etc/vtism.conf
check "reload with nobody in qemu_users" systemctl reload vtismd.service
check "vtismd tiers nobody's QEMU (pid $qemu_pid) with its 16 MiB of guest RAM" \
        wait_vm '.state != "ignored" and .ram_bytes == 16777216'
vm_json || true
kill "$qemu_pid" 2>/dev/null || true
wait "$qemu_pid" 2>/dev/null || true

step "systemctl reload vtismd"
pid_before=$(systemctl show -p MainPID --value vtismd.service)
check "systemctl reload vtismd" systemctl reload vtismd.service
check "vtismd still active after reload" test "$(systemctl is-active vtismd.service)" = active
check "same main PID after reload" test "$(systemctl show -p MainPID --value vtismd.service)" = "$pid_before"
check "vtismctl status after reload" vtismctl status >/dev/null

step "journalctl -u vtismd"
journalctl --no-pager -u vtismd.service || true
daemon_log=$(journalctl --no-pager -o cat _SYSTEMD_UNIT=vtismd.service _PID="$pid_before")
check "the journal has vtismd's start message" grep -qi 'started' <<<"$daemon_log"
check "the journal has vtismd's reload messages" grep -qi 'reload' <<<"$daemon_log"

step "systemctl stop vtismd"
check "systemctl stop vtismd" systemctl stop vtismd.service
check "vtismd is inactive" test "$(systemctl is-active vtismd.service || true)" = inactive

if [[ $failures -gt 0 ]]; then
        echo "systemd-inner: $failures check(s) failed"
        exit 1
fi
echo "systemd-inner: all checks passed"
