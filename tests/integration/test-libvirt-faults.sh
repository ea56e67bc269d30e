#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# vtismd against a private libvirtd that misbehaves, and other faults that need libvirt (issue 12:
# defects 2, 3 and 7, fault injection):
#   1. libvirtd hangs (SIGSTOP) while vtismd is connected: vtismd keeps answering D-Bus (every
#      status poll within POLL_LIMIT_MS) and keeps sending WATCHDOG=1 (no gap as long as
#      WATCHDOG_USEC) while the keepalive gives up and for 30 s of the hung reconnection; it
#      is cut short after 120 s ("no answer within 120 s");
#   2. SIGTERM while the reconnection hangs: vtismd exits 0 within TERM_LIMIT s;
#   3. vtismd started while libvirtd hangs: READY=1, status answers, the running domain is found
#      via /proc; libvirtd continued: vtismd connects, the domain is libvirt's again;
#   4. reload with a changed libvirt_uri (defect 7) while connected to a libvirtd that hangs: the
#      new URI is tried at once (not after the keepalive), the VM /proc knows stays; libvirtd
#      continued and the URI changed again (to another spelling of the same socket): connected,
#      the domain is libvirt's again; and back to qemu:///system;
#   5. impostors of a libvirt domain (defect 2): a fake QEMU of root's claims domain B's name and
#      UUID before B starts, and holds them; B starts: libvirt wins, the fake is renamed and
#      flagged; one run by nobody is ignored; heatmap by B's UUID finds B;
#   6. SIGKILL of vtismd and a restart: the domains keep running with the same QEMU pids, the new
#      vtismd finds them with the same ids and reads their placement as it stands.
# Domain start times, status latencies and watchdog gaps are logged.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/integration/lib-libvirt.sh
source "$HERE/lib-libvirt.sh"
libvirt_enter_namespace "$@"
# shellcheck source=tests/integration/lib.sh
source "$HERE/lib.sh"
need dbus-daemon jq setpriv

URI=qemu:///system
LOG="$SCRATCH/vtismd.log"
# Budgets, from runs on a loaded 2-core machine (a status poll took < 0.3 s, SIGTERM < 0.5 s; the
# keepalive gives up 15-25 s after SIGSTOP): far above, so only a hang fails.
POLL_LIMIT_MS=5000
TERM_LIMIT=10
export WATCHDOG_USEC=3000000   # vtismd pings every 1.5 s; systemd would kill it after a 3 s gap

lv_dump_vtismd() {
        [[ -f $LOG ]] || return 0
        echo "--- vtismd log (tail) ---"
        tail -n 80 "$LOG"
}
libvirt_dump_logs_hook() { lv_dump_vtismd; }

fail() { lv_fail "$@"; }   # lib-libvirt.sh: the message, then libvirtd's, QEMU's and vtismd's logs

test_cleanup() {
        # A stopped libvirtd would hang the cleanup's virsh calls.
        [[ -z $LV_LIBVIRTD_PID ]] || kill -CONT "$LV_LIBVIRTD_PID" 2>/dev/null || true
        cleanup
        libvirt_cleanup
}
trap test_cleanup EXIT

libvirt_private_dirs

new_uuid() { cat /proc/sys/kernel/random/uuid; }
status() { timeout 20 "$VTISMCTL" status --json; }
vm_json() { status | jq -c --arg u "$1" '.vms[] | select(.uuid == $u)'; }
vm_by_pid() { status | jq -c --argjson p "$1" '.vms[] | select(.pid == $p)'; }
# -n + input: jq 1.6's -e exits 0 on empty input, so a VM not (yet) listed would pass.
vm_is() { vm_by_pid "$1" | jq -en "input | ($2)" >/dev/null; }
libvirt_state() { status | jq -r '.libvirt_state // ""'; }
libvirt_state_matches() { [[ $(libvirt_state) =~ $1 ]]; }
log_lines() { wc -l <"$LOG"; }
log_since() { tail -n "+$(($1 + 1))" "$LOG" | grep -E -- "$2"; }
vtismd_alive() { kill -0 "$VTISMD_PID" 2>/dev/null || fail "vtismd died"; }

create() {   # NAME UUID: a transient domain; its QEMU pid in $QPID
        local name=$1 uuid=$2 xml="$LV_SCRATCH/$1.xml"
        libvirt_domain_xml "$name" "$uuid" >"$xml"
        libvirt_create "$name" "$xml"
        QPID=$LV_PID
}

conf="$SCRATCH/vtism.conf"
write_conf() {   # URI
        cat >"$conf" <<CONF
global = {
  sample_interval_ms = 200;
  heat_range = "32M";
  libvirt_uri = "$1";
  tracker = "page_idle";
};
CONF
}

# A status poller: one line per poll, "LATENCY_MS RC", until killed.
start_poller() {
        : >"$SCRATCH/poll.log"
        (
                while :; do
                        t0=$(monotonic_ms)
                        rc=0
                        timeout 30 "$VTISMCTL" status --json >/dev/null 2>&1 || rc=$?
                        echo "$(($(monotonic_ms) - t0)) $rc"
                        sleep 0.5
                done
        ) >>"$SCRATCH/poll.log" 2>&1 &
        POLL_PID=$!
        PIDS+=("$POLL_PID")
}
stop_poller() {
        kill "$POLL_PID" 2>/dev/null || true
        wait "$POLL_PID" 2>/dev/null || true
}
# check_polls WHAT: every poll answered, within the limit
check_polls() {
        local n max bad
        n=$(wc -l <"$SCRATCH/poll.log")
        max=$(awk '$1 > m { m = $1 } END { print m + 0 }' "$SCRATCH/poll.log")
        bad=$(awk -v lim="$POLL_LIMIT_MS" '($2 != 0 || $1 > lim) && n++ < 5' "$SCRATCH/poll.log")
        ((n >= 5)) || fail "$1: only $n status polls"
        [[ -z $bad ]] || fail "$1: status polls failed or took too long (latency ms, exit status): $bad"
        POLLS="$n polls, slowest $max ms"
}
check_watchdog() {   # WHAT FROM_MS [TO_MS]
        local gap
        gap=$(watchdog_max_gap_ms "$2" "${3:-}")
        ((gap < WATCHDOG_USEC / 1000)) ||
                fail "$1: no WATCHDOG=1 for $gap ms (WATCHDOG_USEC=$WATCHDOG_USEC): $(tail -n 5 "$SCRATCH/notify.times")"
        GAP=$gap
}

SYSFS="$SCRATCH/sysfs"
cp -a "$VTISM_SOURCE_ROOT/tests/data/sysfs-1node" "$SYSFS"
mkdir -p "$SYSFS/kernel/mm/page_idle"
truncate -s 64M "$SYSFS/kernel/mm/page_idle/bitmap"

T0=$SECONDS
start_bus strict
start_notify
libvirt_start_virtlogd
libvirt_start_libvirtd
write_conf "$URI"
start_vtismd "$conf" --sysfs-root="$SYSFS" --log-level=debug
wait_for 15 grep -qx READY=1 "$SCRATCH/notify.log" || fail "no READY=1"
wait_for 15 grep -q "Connected to libvirt at $URI, 0 VMs running." "$LOG" || fail "vtismd did not connect"

A=vtism-lvf-$LV_ID-a
A_UUID=$(new_uuid)
create "$A" "$A_UUID"
A_PID=$QPID
wait_for 20 vm_is "$A_PID" '.sources == ["libvirt", "proc"] and .state == "tracked"' ||
        fail "$A not tracked: $(status | jq -c .vms)"
ok "setup: $A tracked (libvirt,proc) in $((SECONDS - T0)) s"

# ---- 1. libvirtd hangs while connected ----
from=$(log_lines)
t_stop=$(monotonic_ms)
start_poller
kill -STOP "$LV_LIBVIRTD_PID"
wait_for 60 log_since "$from" "Lost the connection to libvirt at $URI \(keepalive timeout\)" >/dev/null ||
        fail "a stopped libvirtd went unnoticed for 60 s"
t_lost=$(monotonic_ms)
wait_for 20 libvirt_state_matches "connecting: no answer for [0-9]+ s" ||
        fail "no hung reconnection: LibvirtState '$(libvirt_state)'"
vm_is "$A_PID" ".id == \"$A_UUID\" and .sources == [\"libvirt\", \"proc\"]" || fail "$A changed while libvirtd hangs: $(vm_by_pid "$A_PID")"
# Status and the watchdog are checked through the keepalive's drop and 30 s of the hung
# reconnection (the loop does nothing else for the rest of it); the cut comes 120 s into it.
wait_for 60 libvirt_state_matches "connecting: no answer for ([3-9][0-9]|[1-9][0-9]{2,}) s" ||
        fail "the reconnection did not hang for 30 s: LibvirtState '$(libvirt_state)'"
t_polled=$(monotonic_ms)
stop_poller
check_polls "libvirtd stopped"
check_watchdog "libvirtd stopped" "$t_stop" "$t_polled"
# The bound on a connection attempt is 120 s (vmsource-libvirt.c, CONNECT_TIMEOUT_USEC).
wait_for 150 log_since "$from" "libvirt at $URI unreachable \(no answer within 120 s\), retrying in [0-9]+ s\." >/dev/null ||
        fail "the hung reconnection was not cut short after 120 s: LibvirtState '$(libvirt_state)'"
t_cut=$(monotonic_ms)
vtismd_alive
ok "1. libvirtd stopped: keepalive gave up after $(((t_lost - t_stop) / 1000)) s, the hung reconnection was cut at $(((t_cut - t_lost) / 1000)) s; status answered for $(((t_polled - t_stop) / 1000)) s of it ($POLLS), longest watchdog gap $GAP ms"

# ---- 2. SIGTERM while the reconnection hangs ----
wait_for 30 libvirt_state_matches "connecting: no answer for [0-9]+ s" ||
        fail "no second hung reconnection: LibvirtState '$(libvirt_state)'"
t0=$(monotonic_ms)
kill -TERM "$VTISMD_PID"
rc=0
timeout "$TERM_LIMIT" tail --pid="$VTISMD_PID" -f /dev/null || fail "vtismd did not exit within $TERM_LIMIT s of SIGTERM"
wait "$VTISMD_PID" || rc=$?
((rc == 0)) || fail "vtismd exited with $rc on SIGTERM"
grep -q "Received SIGTERM, shutting down." "$LOG" || fail "no log line for SIGTERM"
ok "2. SIGTERM during a hung reconnection: exited 0 after $(($(monotonic_ms) - t0)) ms"

# ---- 3. started while libvirtd hangs ----
from=$(log_lines)
ready=$(notify_count READY=1)
t0=$(monotonic_ms)
start_vtismd "$conf" --sysfs-root="$SYSFS" --log-level=debug
wait_for 15 bash -c "(( \$(grep -c -x READY=1 '$SCRATCH/notify.log') > $ready ))" || fail "no READY=1 while libvirtd hangs"
t_ready=$(monotonic_ms)
wait_for 20 vm_is "$A_PID" ".id == \"pid-$A_PID\" and .sources == [\"proc\"] and .name == \"$A\"" ||
        fail "$A not found via /proc: $(status | jq -c .vms)"
wait_for 20 libvirt_state_matches "connecting: no answer for [0-9]+ s" || fail "LibvirtState '$(libvirt_state)'"
ok "3a. started while libvirtd hangs: READY=1 after $((t_ready - t0)) ms, $A found via /proc, '$(libvirt_state)'"

from=$(log_lines)
kill -CONT "$LV_LIBVIRTD_PID"
wait_for 60 log_since "$from" "Connected to libvirt at $URI, 1 VM running\." >/dev/null ||
        fail "no connection once libvirtd was continued: LibvirtState '$(libvirt_state)'"
wait_for 10 vm_is "$A_PID" ".id == \"$A_UUID\" and .sources == [\"libvirt\", \"proc\"]" || fail "$A: $(vm_by_pid "$A_PID")"
ok "3b. libvirtd continued: connected, $A is libvirt's again (id $A_UUID)"

# ---- 4. reload with another libvirt_uri ----
kill -STOP "$LV_LIBVIRTD_PID"   # connected to it, and it hangs
from=$(log_lines)
t0=$(monotonic_ms)
NOWHERE="qemu+unix:///system?socket=$SCRATCH/no-libvirtd-here"
write_conf "$NOWHERE"
timeout 20 "$VTISMCTL" reload >/dev/null || fail "reload"
wait_for 10 log_since "$from" "libvirt URI changed from $URI to .*no-libvirtd-here, reconnecting\." >/dev/null ||
        fail "the new URI was not taken up"
wait_for 10 log_since "$from" "libvirt at .*no-libvirtd-here unreachable \(Failed to connect socket" >/dev/null ||
        fail "the new URI was not tried at once: LibvirtState '$(libvirt_state)'"
t_new=$(monotonic_ms)
[[ $(busctl --system --json=short get-property org.vtism1 /org/vtism1 org.vtism1.Manager LibvirtURI | jq -r .data) == "$NOWHERE" ]] ||
        fail "LibvirtURI does not show the new URI"
libvirt_state_matches "^libvirtd unreachable \(Failed to connect socket to '.*no-libvirtd-here'" || fail "LibvirtState '$(libvirt_state)'"
vm_is "$A_PID" '.sources == ["proc"]' || fail "$A lost: $(status | jq -c .vms)"
ok "4a. reload to $NOWHERE while connected to a hung libvirtd: tried after $((t_new - t0)) ms, $A kept via /proc"

kill -CONT "$LV_LIBVIRTD_PID"
SAME="qemu:///system?socket=/run/libvirt/libvirt-sock"
from=$(log_lines)
write_conf "$SAME"
timeout 20 "$VTISMCTL" reload >/dev/null || fail "reload"
wait_for 30 log_since "$from" "Connected to libvirt at ${SAME//\?/\\?}, 1 VM running\." >/dev/null ||
        fail "no connection to $SAME: LibvirtState '$(libvirt_state)'"
wait_for 10 vm_is "$A_PID" ".id == \"$A_UUID\" and .sources == [\"libvirt\", \"proc\"]" || fail "$A: $(vm_by_pid "$A_PID")"
ok "4b. libvirtd continued, reload to $SAME: connected, $A is libvirt's again (id $A_UUID)"

from=$(log_lines)
write_conf "$URI"
timeout 20 "$VTISMCTL" reload >/dev/null || fail "reload"
wait_for 30 log_since "$from" "Connected to libvirt at $URI, 1 VM running\." >/dev/null ||
        fail "no connection back to $URI: LibvirtState '$(libvirt_state)'"
wait_for 10 vm_is "$A_PID" ".id == \"$A_UUID\" and .sources == [\"libvirt\", \"proc\"]" || fail "$A: $(vm_by_pid "$A_PID")"
log_since "$from" "VM $A .*no longer tracked" && fail "$A was dropped across the URI changes"
ok "4c. back to $URI: connected, $A kept all along"

# ---- 5. impostors of a libvirt domain ----
B=vtism-lvf-$LV_ID-b
B_UUID=$(new_uuid)
mkfifo -m 0666 "$SCRATCH/fifo"
cat >"$SCRATCH/fake-qemu.sh" <<'SH'
exec -a qemu-system-x86_64 /bin/bash -c 'read -r -t 600 _ <>"$FIFO"' -m 16 -name "guest=$NAME" -uuid "$UUID"
SH
FIFO="$SCRATCH/fifo" NAME=$B UUID=$B_UUID /bin/bash "$SCRATCH/fake-qemu.sh" &
rootfake=$!
PIDS+=("$rootfake")
FIFO="$SCRATCH/fifo" NAME=$B UUID=$B_UUID setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
        /bin/bash "$SCRATCH/fake-qemu.sh" &
nobodyfake=$!
PIDS+=("$nobodyfake")
wait_for 20 vm_is "$rootfake" ".name == \"$B\" and .uuid == \"$B_UUID\" and .id == \"pid-$rootfake\"" ||
        fail "root's fake does not hold the free claims: $(status | jq -c .vms)"
wait_for 20 vm_is "$nobodyfake" ".state == \"ignored\" and .name == \"qemu-$nobodyfake\" and .uuid == null" ||
        fail "nobody's fake: $(vm_by_pid "$nobodyfake")"
from=$(log_lines)
create "$B" "$B_UUID"
B_PID=$QPID
wait_for 20 vm_is "$B_PID" ".id == \"$B_UUID\" and .name == \"$B\" and .uuid == \"$B_UUID\" and (.sources | index(\"libvirt\") != null)" ||
        fail "$B: $(vm_by_pid "$B_PID")"
wait_for 10 vm_is "$rootfake" ".name == \"qemu-$rootfake\" and .uuid == null and (.identity_conflict | contains(\"libvirt domain $B (pid $B_PID) has it\"))" ||
        fail "root's impostor not renamed: $(vm_by_pid "$rootfake")"
vm_is "$nobodyfake" ".state == \"ignored\" and .name == \"qemu-$nobodyfake\"" || fail "nobody's fake: $(vm_by_pid "$nobodyfake")"
line=$(log_since "$from" "VM qemu-$rootfake \(pid $rootfake, uid 0\): its command line claims name '$B' \(libvirt domain $B \(pid $B_PID\) has it\)") ||
        fail "no warning for the renamed impostor"
n_ids=$(status | jq '[.vms[].id] | length') n_unique=$(status | jq '[.vms[].id] | unique | length')
((n_ids == n_unique)) || fail "ids not unique: $(status | jq -c '[.vms[] | {id, name, pid}]')"
[[ $(status | jq --arg u "$B_UUID" '[.vms[] | select(.uuid == $u)] | length') -eq 1 ]] || fail "two VMs with $B_UUID"
wait_for 20 vm_is "$B_PID" '.residency_known' || fail "$B's guest RAM not located: $(vm_by_pid "$B_PID")"
"$VTISMCTL" heatmap --json "$B_UUID" | jq -e --arg id "$B_UUID" '.id == $id' >/dev/null ||
        fail "heatmap by UUID: $("$VTISMCTL" heatmap --json "$B_UUID" 2>&1)"
ok "5. $B started after a fake (root's) claimed it: libvirt wins, the fake is qemu-$rootfake ('${line#*: }'); nobody's fake ignored; heatmap $B_UUID finds $B"
kill "$rootfake" "$nobodyfake"

# ---- 6. SIGKILL and restart ----
wait_for 20 vm_is "$B_PID" '.residency_known' || fail "$B placement not read"
before=$(status | jq -c '[.vms[] | select(.sources | index("libvirt") != null) | {id, pid, ram_bytes}] | sort_by(.id)')
kill -KILL "$VTISMD_PID"
wait "$VTISMD_PID" 2>/dev/null || true
{ kill -0 "$A_PID" && kill -0 "$B_PID"; } || fail "a QEMU died with vtismd"
from=$(log_lines)
ready=$(notify_count READY=1)
start_vtismd "$conf" --sysfs-root="$SYSFS" --log-level=debug
wait_for 15 bash -c "(( \$(grep -c -x READY=1 '$SCRATCH/notify.log') > $ready ))" || fail "no READY=1 after SIGKILL"
wait_for 20 log_since "$from" "Connected to libvirt at $URI, 2 VMs running\." >/dev/null || fail "no reconnection after SIGKILL"
wait_for 20 vm_is "$A_PID" '.residency_known and .state == "tracked"' || fail "$A not tracked again"
wait_for 20 vm_is "$B_PID" '.residency_known and .state == "tracked"' || fail "$B not tracked again"
after=$(status | jq -c '[.vms[] | select(.sources | index("libvirt") != null) | {id, pid, ram_bytes}] | sort_by(.id)')
[[ $after == "$before" ]] || fail "VMs after the restart: $after, before: $before"
log_since "$from" "(warning|error|Failed)" && fail "warnings after the restart"
ok "6. SIGKILL + restart: both QEMUs ran on, found again with the same ids and pids, placement read again: $after"

kill -TERM "$VTISMD_PID"
wait "$VTISMD_PID" || fail "exit status"
libvirt_start_summary
ok "all done in $((SECONDS - T0)) s"
echo PASS
