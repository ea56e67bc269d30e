#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The libvirt VmSource against a real libvirtd 9.x with TCG domains, through libvirt-watch:
# initial resync, start, suspend and resume (the run state sent with CHANGED), destroy, QEMU killed,
# libvirtd restarted under a running domain, and
# libvirtd absent when the watcher starts. Runs its own virtlogd + libvirtd in a private mount
# namespace (see lib-libvirt.sh); needs root. ~45 s, ~20 s of it waiting for the keepalive timeout
# of a stopped libvirtd (step 7); domain start times are logged.
#
# LIBVIRT_WATCH=path overrides the driver (default: $VTISM_BUILD_ROOT/tests/integration/
# libvirt-watch); LIBVIRT_WATCH_WRAPPER="valgrind --leak-check=full …" runs the first watcher
# under a wrapper.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/integration/lib-libvirt.sh
source "$HERE/lib-libvirt.sh"

libvirt_enter_namespace "$@"

WATCH=${LIBVIRT_WATCH:-${VTISM_BUILD_ROOT:+$VTISM_BUILD_ROOT/tests/integration/libvirt-watch}}
[[ -n $WATCH && -x $WATCH ]] || lv_skip "libvirt-watch not built (set LIBVIRT_WATCH or run through meson test)"
command -v qemu-system-x86_64 >/dev/null || lv_skip "qemu-system-x86_64 is not installed"

URI=qemu:///system
V() { virsh -q -c "$URI" "$@"; }

W_PIDS=()
cleanup() {
        local pid
        for pid in "${W_PIDS[@]}"; do
                kill "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
        done
        libvirt_cleanup
}
trap cleanup EXIT

libvirt_dump_logs_hook() {
        local f
        for f in "$LV_SCRATCH"/watch*.out "$LV_SCRATCH"/watch*.err; do
                [[ -s $f ]] || continue
                echo "--- $f ---"
                tail -n 40 "$f"
        done
}

libvirt_private_dirs

# ---- watcher helpers: one output file per watcher, with a read cursor (line number) ----

declare -A CURSOR

# start_watcher ID [wrapper...]
start_watcher() {
        local id=$1
        shift
        : >"$LV_SCRATCH/watch$id.out"
        "$@" "$WATCH" -v "$URI" >"$LV_SCRATCH/watch$id.out" 2>"$LV_SCRATCH/watch$id.err" &
        W_PIDS+=($!)
        eval "WATCH${id}_PID=$!"
        CURSOR[$id]=0
}

# expect ID TIMEOUT REGEX: wait for a line after the cursor matching REGEX (whole line, ERE);
# moves the cursor to it and stores it in $LINE. (Not in $(…): the cursor must move here.)
expect() {
        local id=$1 timeout=$2 re=$3 f="$LV_SCRATCH/watch$1.out" deadline=$((SECONDS + $2)) n line
        while :; do
                n=0
                while IFS= read -r line; do
                        n=$((n + 1))
                        ((n > CURSOR[$id])) || continue
                        if [[ $line =~ ^$re$ ]]; then
                                CURSOR[$id]=$n
                                LINE=$line
                                return 0
                        fi
                done <"$f"
                ((SECONDS < deadline)) || lv_fail "watcher $id: no line matching '$re' within ${timeout} s (after line ${CURSOR[$id]})"
                sleep 0.1
        done
}

# lines_since ID FROM: lines after line FROM of watcher ID's output
lines_since() {
        tail -n "+$(($2 + 1))" "$LV_SCRATCH/watch$1.out"
}

# describe ID: ask watcher ID for vmsource_describe(), into $DESC
describe() {
        local id=$1 pid_var="WATCH${1}_PID"
        kill -USR1 "${!pid_var}"
        expect "$id" 5 'DESCRIBE .*'
        DESC=${LINE#DESCRIBE }
}

check_qemu_pid() {   # NAME UUID PID
        local name=$1 uuid=$2 pid=$3 exe
        [[ $pid -gt 0 ]] || lv_fail "$name: pid $pid"
        [[ $(cat "/run/libvirt/qemu/$name.pid") == "$pid" ]] ||
                lv_fail "$name: pid $pid is not the one in /run/libvirt/qemu/$name.pid ($(cat "/run/libvirt/qemu/$name.pid"))"
        exe=$(readlink "/proc/$pid/exe") || lv_fail "$name: pid $pid is not running"
        [[ $exe == */qemu-system-x86_64 ]] || lv_fail "$name: pid $pid runs $exe"
        grep -qzxF -- "$uuid" "/proc/$pid/cmdline" || lv_fail "$name: pid $pid has no -uuid $uuid"
}

new_uuid() {
        cat /proc/sys/kernel/random/uuid
}

# create NAME UUID [vcpupin cpuset]: a transient domain; records its QEMU pid for the cleanup (and
# in $LV_PID) and logs its start time.
create() {
        local name=$1 uuid=$2 pin=${3:-} xml="$LV_SCRATCH/$1.xml"
        libvirt_domain_xml "$name" "$uuid" >"$xml"
        if [[ -n $pin ]]; then
                sed -i "s#<numatune>#<cputune><vcpupin vcpu='0' cpuset='$pin'/></cputune>\n  <numatune>#" "$xml"
        fi
        libvirt_create "$name" "$xml"
}

T0=$SECONDS
libvirt_start_virtlogd

# ---- 1. libvirtd absent when the watcher starts: it retries, says so, then connects ----
start_watcher 1 ${LIBVIRT_WATCH_WRAPPER:-}
lv_wait_for 30 grep -q "unreachable" "$LV_SCRATCH/watch1.err" || lv_fail "the watcher did not try to connect"
describe 1; d=$DESC
[[ $d == "libvirtd unreachable ("*"), retrying in "*" s" ]] || lv_fail "describe while libvirtd is absent: '$d'"
lv_ok "libvirtd absent at start: '$d'"

libvirt_start_libvirtd
lv_ok "libvirtd started in $((SECONDS - T0)) s"
expect 1 40 RESYNC_BEGIN
begin=${CURSOR[1]}
expect 1 5 RESYNC_END
((CURSOR[1] == begin + 1)) || lv_fail "domains announced on an empty libvirtd: $(lines_since 1 "$begin")"
describe 1; d=$DESC
[[ $d == "connected to qemu:///system, 0 domains" ]] || lv_fail "describe: '$d'"
lv_ok "watcher connected once libvirtd appeared, empty resync: '$d'"

# ---- 2. a domain running before the watcher starts is in its first resync ----
A=vtism-lvt-$LV_ID-a
A_UUID=$(new_uuid)
create "$A" "$A_UUID"
A_PID=$(cat "/run/libvirt/qemu/$A.pid")
expect 1 10 "STARTED $A_UUID $A $A_PID nodes=0 cpus=- mem=134217728"   # watcher 1 saw it start

start_watcher 2
expect 2 20 RESYNC_BEGIN
expect 2 5 "STARTED $A_UUID .*"; line=$LINE
expect 2 5 RESYNC_END
[[ $line == "STARTED $A_UUID $A $A_PID nodes=0 cpus=- mem=134217728" ]] || lv_fail "resync: '$line'"
check_qemu_pid "$A" "$A_UUID" "$A_PID"
lv_ok "initial resync lists the running domain: $line"
kill "$WATCH2_PID"

# ---- 3. start -> STARTED once (libvirt sends resumed/unpaused and started/booted) ----
B=vtism-lvt-$LV_ID-b
B_UUID=$(new_uuid)
pin=""
(($(nproc) > 1)) && pin=1
from=${CURSOR[1]}
create "$B" "$B_UUID" "$pin"
B_PID=$(cat "/run/libvirt/qemu/$B.pid")
expect 1 10 "STARTED $B_UUID .*"; line=$LINE
[[ $line == "STARTED $B_UUID $B $B_PID nodes=0 cpus=${pin:--} mem=134217728" ]] || lv_fail "start: '$line'"
check_qemu_pid "$B" "$B_UUID" "$B_PID"
V suspend "$B" >/dev/null
expect 1 10 "CHANGED $B_UUID .*"; line_s=$LINE
[[ $line_s == "CHANGED $B_UUID $B $B_PID nodes=0 cpus=${pin:--} mem=134217728 run=paused (libvirt: paused (user))" ]] ||
        lv_fail "suspend: '$line_s'"
V resume "$B" >/dev/null
expect 1 10 "CHANGED $B_UUID .*"; line_r=$LINE
[[ $line_r == "CHANGED $B_UUID $B $B_PID nodes=0 cpus=${pin:--} mem=134217728" ]] || lv_fail "resume: '$line_r'"
sleep 1
n=$(lines_since 1 "$from" | grep -c "^STARTED $B_UUID " || true)
[[ $n -eq 1 ]] || lv_fail "$n STARTED lines for $B (start, suspend, resume), expected 1"
n=$(lines_since 1 "$from" | grep -c "^CHANGED $B_UUID " || true)
[[ $n -eq 2 ]] || lv_fail "$n CHANGED lines for $B (suspend, resume), expected 2"
lv_ok "start: $line (once, also across suspend/resume); suspend: '${line_s##* run=}', resume: running again"

# ---- 4. virsh destroy -> STOPPED ----
V destroy "$B" >/dev/null
expect 1 10 "(STOPPED|CRASHED|MIGRATED_OUT) $B_UUID .*"; line=$LINE
[[ $line == "STOPPED $B_UUID $B $B_PID "* ]] || lv_fail "destroy: '$line'"
lv_ok "destroy: $line"

# ---- 5. QEMU killed -> CRASHED (libvirt 9.0: stopped/failed) ----
C=vtism-lvt-$LV_ID-c
C_UUID=$(new_uuid)
create "$C" "$C_UUID"
C_PID=$(cat "/run/libvirt/qemu/$C.pid")
expect 1 10 "STARTED $C_UUID $C $C_PID .*"
kill -9 "$C_PID"
expect 1 10 "(STOPPED|CRASHED|MIGRATED_OUT) $C_UUID .*"; line=$LINE
[[ $line == "CRASHED $C_UUID $C $C_PID "* ]] || lv_fail "kill -9: '$line'"
grep -q "libvirt event for domain $C: stopped/failed" "$LV_SCRATCH/watch1.err" ||
        lv_fail "libvirt did not report $C as stopped/failed"
lv_ok "QEMU killed: $line (libvirt: stopped/failed)"

# ---- 6. libvirtd restarted under a running domain: reconnect, resync, no STOPPED ----
from=${CURSOR[1]}
libvirt_kill_libvirtd TERM
sleep 0.3
describe 1; d=$DESC
[[ $d == "libvirtd unreachable ("*"), retrying in "*" s" ]] || lv_fail "describe after libvirtd exit: '$d'"
libvirt_start_libvirtd
expect 1 15 RESYNC_BEGIN
expect 1 5 "STARTED $A_UUID .*"; line=$LINE
expect 1 5 RESYNC_END
[[ $line == "STARTED $A_UUID $A $A_PID nodes=0 cpus=- mem=134217728" ]] || lv_fail "resync after restart: '$line'"
if lines_since 1 "$from" | grep -E "^(STOPPED|CRASHED|MIGRATED_OUT) "; then
        lv_fail "a domain was reported gone across the libvirtd restart"
fi
check_qemu_pid "$A" "$A_UUID" "$A_PID"
describe 1; d=$DESC
[[ $d == "connected to qemu:///system, 1 domain" ]] || lv_fail "describe: '$d'"
lv_ok "libvirtd restart: reconnected, resync re-announced $A with the same pid, nothing stopped ('$d')"

# ---- 7. libvirtd hangs (SIGSTOP): keepalive notices it, reconnects once it is back ----
from=${CURSOR[1]}
kill -STOP "$LV_LIBVIRTD_PID"
lv_wait_for 40 grep -q "(keepalive timeout)" "$LV_SCRATCH/watch1.err" ||
        { kill -CONT "$LV_LIBVIRTD_PID"; lv_fail "a stopped libvirtd went unnoticed for 40 s"; }
kill -CONT "$LV_LIBVIRTD_PID"
expect 1 20 RESYNC_BEGIN
expect 1 5 "STARTED $A_UUID .*"; line=$LINE
expect 1 5 RESYNC_END
[[ $line == "STARTED $A_UUID $A $A_PID nodes=0 cpus=- mem=134217728" ]] || lv_fail "resync after hang: '$line'"
if lines_since 1 "$from" | grep -E "^(STOPPED|CRASHED|MIGRATED_OUT) "; then
        lv_fail "a domain was reported gone across the libvirtd hang"
fi
lv_ok "libvirtd hung: keepalive timeout, reconnected after SIGCONT, $A re-announced"

# ---- 8. after all that, events still flow ----
V destroy "$A" >/dev/null
expect 1 10 "(STOPPED|CRASHED|MIGRATED_OUT) $A_UUID .*"; line=$LINE
[[ $line == "STOPPED $A_UUID $A $A_PID "* ]] || lv_fail "destroy after restart: '$line'"
lv_ok "events after the reconnection: $line"

# ---- the watcher exits cleanly on SIGTERM ----
kill "$WATCH1_PID"
rc=0
wait "$WATCH1_PID" || rc=$?
[[ $rc -eq 0 ]] || lv_fail "libvirt-watch exited with $rc"
if grep -q "ERROR SUMMARY" "$LV_SCRATCH/watch1.err"; then
        grep -E "ERROR SUMMARY|definitely lost|indirectly lost" "$LV_SCRATCH/watch1.err"
        grep -q "ERROR SUMMARY: 0 errors" "$LV_SCRATCH/watch1.err" || lv_fail "valgrind found errors"
fi
libvirt_start_summary
lv_ok "all done in $((SECONDS - T0)) s"
