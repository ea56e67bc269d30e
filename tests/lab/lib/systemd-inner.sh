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
printf '\nglobal = {\n        qemu_users = [ "root", "libvirt-qemu", "nobody" ];\n        sample_interval_ms = 1000;\n};\n' \
        >>/etc/vtism.conf
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

step "a process vtismd tiers: found, a migration round, lost"
# memhog as a VM (processes entry) with a DRAM budget of 4 MiB of its 16 MiB: vtismd demotes the
# rest to the CXL node and says so in a migration round entry. Small, because under TCG on a loaded
# host the first placement pass (a move_pages query of every page) took minutes for 64 MiB.
cat >>/etc/vtism.conf <<'CONF'
processes = ( { cmdline = "*--info=/tmp/vm-hog.info*"; } );
vm = ( { cmdline = "*--info=/tmp/vm-hog.info*"; dram_budget = "4M"; } );
CONF
check "reload with the memhog process and its budget" systemctl reload vtismd.service
# Sampling paused until memhog has mapped and touched its 16 MiB: a process found before that has
# no guest RAM to speak of (lib/placement.sh's hog_start does the same).
vtismctl pause sampling >/dev/null || echo "FAIL: vtismctl pause sampling"
"$BUILD/tests/lab/workloads/memhog" --size=16M --hot=2M --bind=0 --pause-us=300000 --info=/tmp/vm-hog.info \
        >/tmp/vm-hog.log 2>&1 &
hog_pid=$!
for ((i = 0; i < 3000; i++)); do
        grep -qs '^memhog: pid=' /tmp/vm-hog.info && break
        kill -0 "$hog_pid" 2>/dev/null || break
        sleep 0.2
done
check "memhog mapped its 16 MiB: $(head -n 1 /tmp/vm-hog.info 2>/dev/null || cat /tmp/vm-hog.log)" \
        grep -qs '^memhog: pid=' /tmp/vm-hog.info
vtismctl resume sampling >/dev/null || echo "FAIL: vtismctl resume sampling"
# MESSAGE_IDs as message-ids.h writes them (16 bytes, comma-separated)
message_id() {
        sed -n "s/^#define VTISM_MESSAGE_ID_BYTES_$1 *//p" "$SRC/include/vtism/message-ids.h" | tr -d ', '
}
ID_VM_FOUND=$(message_id VM_FOUND) ID_VM_LOST=$(message_id VM_LOST)
ID_ROUND=$(message_id MIGRATION_ROUND) ID_RELOAD_FAILED=$(message_id RELOAD_FAILED)
ID_TRACKER=$(message_id TRACKER_CHANGED)
echo "MESSAGE_IDs: found $ID_VM_FOUND lost $ID_VM_LOST round $ID_ROUND reload-failed $ID_RELOAD_FAILED tracker $ID_TRACKER"
entries() { # MESSAGE_ID: vtismd's entries with it, as one JSON array
        journalctl --no-pager -o json _SYSTEMD_UNIT=vtismd.service MESSAGE_ID="$1" | jq -s -c .
}
wait_entry() { # MESSAGE_ID, jq predicate on one entry, seconds
        local deadline=$((SECONDS + $3))
        until entries "$1" | jq -en "input | any(.[]; $2)" >/dev/null 2>&1 || ((SECONDS >= deadline)); do
                sleep 2
        done
        entries "$1" | jq -en "input | any(.[]; $2)" >/dev/null 2>&1
}
vm_id="pid-$hog_pid"
check "journal: VM found (MESSAGE_ID=$ID_VM_FOUND) with VTISM_VM=$vm_id" \
        wait_entry "$ID_VM_FOUND" ".VTISM_VM == \"$vm_id\" and .VTISM_VM_NAME == \"memhog-$hog_pid\" and .PRIORITY == \"6\"" 120
# TCG under load: a few cycles of sampling before the planner has heat to act on
check "journal: a migration round (MESSAGE_ID=$ID_ROUND) demoted memhog's pages" \
        wait_entry "$ID_ROUND" ".VTISM_VM == \"$vm_id\" and (.VTISM_DEMOTED_BYTES | tonumber) > 0 and (.VTISM_ROUND | tonumber) >= 1" 420
entries "$ID_ROUND" | jq -c '.[] | {MESSAGE, VTISM_ROUND, VTISM_PROMOTED_BYTES, VTISM_DEMOTED_BYTES, VTISM_FAILED_PAGES}' | tail -n 3 || true
if ! entries "$ID_ROUND" | jq -en "input | any(.[]; .VTISM_VM == \"$vm_id\")" >/dev/null 2>&1; then
        echo "--- no migration round for $vm_id: what vtismd says"
        vtismctl status --no-pager 2>&1 | tail -n 25 || true
        vtismctl plan --no-pager "$vm_id" 2>&1 | head -n 30 || true
        journalctl --no-pager -o cat -u vtismd.service | tail -n 30 || true
fi
kill "$hog_pid" 2>/dev/null || true
wait "$hog_pid" 2>/dev/null || true
check "journal: VM lost (MESSAGE_ID=$ID_VM_LOST) for $vm_id" wait_entry "$ID_VM_LOST" ".VTISM_VM == \"$vm_id\"" 60
check "journal: the tracker chosen (MESSAGE_ID=$ID_TRACKER) with VTISM_TRACKER=" \
        wait_entry "$ID_TRACKER" '(.VTISM_TRACKER | length) > 0' 10
entries "$ID_TRACKER" | jq -c '.[] | {MESSAGE, VTISM_TRACKER}' || true

step "systemctl reload vtismd with a bad configuration fails"
cp /etc/vtism.conf /tmp/vtism.conf.good
printf 'global_settings = { };\n' >>/etc/vtism.conf
bad_line=$(wc -l </etc/vtism.conf)
bad_where="/etc/vtism.conf:$bad_line: global_settings: unknown section"
set +e
reload_out=$(systemctl reload vtismd.service 2>&1)
reload_rc=$?
set -e
echo "systemctl reload: exit $reload_rc: $reload_out"
check "systemctl reload with a bad config exits non-zero" test "$reload_rc" -ne 0
check "vtismd still active after the refused reload" test "$(systemctl is-active vtismd.service)" = active
check "same main PID after the refused reload" test "$(systemctl show -p MainPID --value vtismd.service)" = "$pid_before"
json=$(vtismctl status --json)
check "status names the bad line ($bad_where)" \
        jq -en --arg w "$bad_where" 'input | .last_reload_error | startswith($w)' <<<"$json"
check "the configuration in force stays (1 s sampling from the last good reload)" \
        jq -en 'input | .sample_interval_usec == 1000000' <<<"$json"
check "ExecReload's vtismctl said why, in the unit's journal" \
        bash -c "journalctl --no-pager -o cat -u vtismd.service | grep -qF \"vtismctl: reload failed: previous configuration kept: $bad_where\""
check "journal: reload failed (MESSAGE_ID=$ID_RELOAD_FAILED) with VTISM_CONFIG_ERROR=$bad_where..." \
        wait_entry "$ID_RELOAD_FAILED" "(.VTISM_CONFIG_ERROR | startswith(\"$bad_where\")) and .PRIORITY == \"3\"" 10
catalog=$(journalctl --no-pager -x -u vtismd.service MESSAGE_ID="$ID_RELOAD_FAILED" 2>&1 || true)
echo "$catalog" | tail -n 12
check "journalctl -x shows the catalog's explanation of the failed reload" \
        grep -q "The configuration in force before the reload stays in force" <<<"$catalog"
check "journalctl -x puts the error into the catalog text (@VTISM_CONFIG_ERROR@)" \
        grep -qF -- "$bad_where" <<<"$(grep -A8 'Subject: vtismd refused a new configuration' <<<"$catalog")"
cp /tmp/vtism.conf.good /etc/vtism.conf
check "systemctl reload with the good config again" systemctl reload vtismd.service
check "status clears the reload error" jq -en 'input | .last_reload_error == null' <<<"$(vtismctl status --json)"

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
