# Shared helpers for the integration tests (sourced). Each test gets its own private
# system-style dbus-daemon with the project's policy file, in a scratch directory that is
# removed on exit. Only processes started here are ever stopped, by PID.

set -euo pipefail

# A test that runs vtismd on this machine's /proc sets PRIVATE_PIDS=1 before sourcing this file:
# it then runs again in a PID namespace of its own with its own /proc (and mount namespace), so
# that vtismd sees the test's processes only. On a shared machine /proc holds other tests' and
# other engineers' QEMUs (lab VMs of GiBs, run by root): vtismd would sample every one of them,
# and a test that counts cycles or names fails on their account. Without unshare the test runs
# as it is and says so.
if [[ ${PRIVATE_PIDS:-0} == 1 && -z ${VTISM_PRIVATE_PIDS_NS:-} && $EUID -eq 0 ]]; then
        if unshare --mount --pid --fork --mount-proc --propagation private true 2>/dev/null; then
                VTISM_PRIVATE_PIDS_NS=$$ exec unshare --mount --pid --fork --mount-proc --propagation private -- \
                        "$BASH" "$0" "$@"
        fi
        echo "note: no private PID namespace here (unshare failed): vtismd sees every process of this machine"
fi
# As PID 1 of its namespace the test gets only the signals it has a handler for: without these a
# SIGTERM (meson's timeout, Ctrl-C) would be ignored and the cleanup never run.
if [[ -n ${VTISM_PRIVATE_PIDS_NS:-} && $$ -eq 1 ]]; then
        trap 'echo "FAIL: interrupted (SIGTERM)" >&2; exit 143' TERM
        trap 'echo "FAIL: interrupted (SIGINT)" >&2; exit 130' INT
fi

: "${VTISM_SOURCE_ROOT:?run through meson test}"
: "${VTISM_BUILD_ROOT:?run through meson test}"
VTISMD="$VTISM_BUILD_ROOT/src/daemon/vtismd"
VTISMCTL="$VTISM_BUILD_ROOT/src/ctl/vtismctl"
NOTIFY_RECORDER="$VTISM_BUILD_ROOT/tests/integration/notify-recorder"
# output_has: grep a command's whole output (never `COMMAND | grep -q` under pipefail)
# shellcheck source=../lib/output.sh
. "$VTISM_SOURCE_ROOT/tests/lib/output.sh"

PIDS=()
SCRATCH=$(mktemp -d /var/tmp/vtism-test.XXXXXX)
chmod 755 "$SCRATCH"   # the bus socket must be reachable for 'nobody' too

cleanup() {
        local pid
        for pid in "${PIDS[@]}"; do
                kill "$pid" 2>/dev/null || true
        done
        for pid in "${PIDS[@]}"; do
                wait "$pid" 2>/dev/null || true
        done
        rm -rf "$SCRATCH"
}
trap cleanup EXIT

fail() {
        echo "FAIL: $*" >&2
        if [[ -f "$SCRATCH/vtismd.log" ]]; then
                echo "--- vtismd log ---" >&2
                cat "$SCRATCH/vtismd.log" >&2
        fi
        exit 1
}

skip() {
        echo "SKIP: $*"
        exit 77
}

ok() {
        echo "ok: $*"
}

need() {
        local c
        for c in "$@"; do
                command -v "$c" >/dev/null || skip "'$c' is not installed (bash .ci/run installs it)"
        done
}

[[ $EUID -eq 0 ]] || skip "needs root (private system bus policy, setpriv to nobody)"

# start_bus [permissive]: a private dbus-daemon configured like the system bus, with
# systemd/org.vtism1.conf included; "permissive" lets everyone call everything, to test
# vtismd's own privilege check behind the policy.
start_bus() {
        local mode=${1:-strict} extra=""
        if [[ $mode == permissive ]]; then
                extra='<policy context="mandatory"><allow send_destination="org.vtism1"/></policy>'
        fi
        sed -e "s#@SOCKET@#$SCRATCH/system_bus_socket#" \
            -e "s#@POLICY@#$VTISM_SOURCE_ROOT/systemd/org.vtism1.conf#" \
            -e "s#<!--EXTRA-->#$extra#" \
            "$VTISM_SOURCE_ROOT/tests/integration/system-bus.conf.in" >"$SCRATCH/bus.conf"
        dbus-daemon --config-file="$SCRATCH/bus.conf" --nofork --nopidfile \
                --print-address=3 3>"$SCRATCH/bus.address" 2>"$SCRATCH/bus.log" &
        BUS_PID=$!
        PIDS+=("$BUS_PID")
        wait_for 10 test -s "$SCRATCH/bus.address" || fail "dbus-daemon did not start: $(cat "$SCRATCH/bus.log")"
        export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$SCRATCH/system_bus_socket"
}

# wait_for SECONDS COMMAND...: poll every 50 ms until COMMAND succeeds.
wait_for() {
        local deadline=$((SECONDS + $1))
        shift
        while ! "$@" 2>/dev/null; do
                ((SECONDS < deadline)) || return 1
                sleep 0.05
        done
}

# start_notify: the notify recorder on $SCRATCH/notify.sock, messages in notify.log, their arrival
# times in notify.times ("MS FIRST-LINE", CLOCK_MONOTONIC).
start_notify() {
        "$NOTIFY_RECORDER" "$SCRATCH/notify.sock" "$SCRATCH/notify.times" >"$SCRATCH/notify.log" &
        PIDS+=($!)
        wait_for 5 test -S "$SCRATCH/notify.sock" || fail "notify recorder did not start"
}

# start_journal SOCKET LOG: the notify recorder playing journald's native socket (SOCKET, normally
# some root's /run/systemd/journal/socket) for a vtismd run with --log-target=journal: each entry
# lands in LOG as its FIELD=value lines and a "--" line (a field whose value has a newline comes in
# journald's binary form and reads garbled: vtismd's messages have none).
start_journal() {
        mkdir -p "$(dirname "$1")"
        "$NOTIFY_RECORDER" "$1" >"$2" &
        PIDS+=($!)
        wait_for 5 test -S "$1" || fail "journal recorder did not start on $1"
}

# journal_entry LOG ERE: the last entry of LOG whose MESSAGE= matches ERE (grep -E syntax), as
# its FIELD=value lines; fails (status 1) when there is none.
journal_entry() {
        ERE=$2 awk 'BEGIN { re = ENVIRON["ERE"] }
                    $0 == "--" { if (hit) last = cur; cur = ""; hit = 0; next }
                    { cur = cur $0 "\n"; if (substr($0, 1, 8) == "MESSAGE=" && substr($0, 9) ~ re) hit = 1 }
                    END { if (last == "") exit 1; printf "%s", last }' "$1"
}

# message_id NAME: the MESSAGE_ID VTISM_MESSAGE_NAME (include/vtism/message-ids.h), 32 hex digits.
message_id() {
        local id
        id=$(sed -n "s/^#define VTISM_MESSAGE_ID_BYTES_$1  *//p" "$VTISM_SOURCE_ROOT/include/vtism/message-ids.h" | tr -d ', ')
        [[ $id =~ ^[0-9a-f]{32}$ ]] || fail "message-ids.h has no VTISM_MESSAGE_ID_BYTES_$1"
        echo "$id"
}

# start_vtismd CONFIG [ARGS...]: run vtismd against the private bus; sets VTISMD_PID.
start_vtismd() {
        local config=$1
        shift
        NOTIFY_SOCKET="$SCRATCH/notify.sock" WATCHDOG_USEC=${WATCHDOG_USEC:-400000} \
                "$VTISMD" --foreground --config="$config" "$@" >>"$SCRATCH/vtismd.log" 2>&1 &
        VTISMD_PID=$!
        PIDS+=("$VTISMD_PID")
}

notify_count() {
        grep -c -x "$1" "$SCRATCH/notify.log" || true
}

# watchdog_max_gap_ms FROM_MS [TO_MS]: the longest time without a WATCHDOG=1 between the two
# CLOCK_MONOTONIC times (ms; TO defaults to now), counting both ends: a daemon that stopped
# pinging shows the gap up to now.
watchdog_max_gap_ms() {
        local from=$1 to=${2:-$(monotonic_ms)}
        awk -v from="$from" -v to="$to" '
                $2 == "WATCHDOG=1" && $1 >= from && $1 <= to { if ($1 - last > max) max = $1 - last; last = $1 }
                BEGIN { last = from; max = 0 }
                END { if (to - last > max) max = to - last; print max }' "$SCRATCH/notify.times"
}

# CLOCK_MONOTONIC in ms, as the notify recorder stamps it.
monotonic_ms() {
        "$NOTIFY_RECORDER" --now
}

as_nobody() {
        setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
}

# start_plain_vtismd SYSFS_TREE: vtismd sampling every 200 ms, on a sysfs fixture of
# tests/data, no libvirt (a socket that does not exist), with the notify recorder; waits for
# READY=1. For tests about what vtismctl shows.
start_plain_vtismd() {
        [[ -S $SCRATCH/notify.sock ]] || start_notify
        echo "global = { sample_interval_ms = 200; libvirt_uri = \"qemu+unix:///system?socket=$SCRATCH/none\"; };" \
                >"$SCRATCH/vtism.conf"
        start_vtismd "$SCRATCH/vtism.conf" --sysfs-root="$VTISM_TEST_DATA/$1"
        wait_for 10 grep -qx READY=1 "$SCRATCH/notify.log" || fail "no READY=1"
}

# start_fake_qemu NAME: a process vtismd's /proc scan takes for a QEMU (argv[0]
# qemu-system-x86_64, -name guest=NAME) with no guest RAM; it waits on a FIFO. Sets FAKE_QEMU_PID.
start_fake_qemu() {
        [[ -p $SCRATCH/fake-qemu.fifo ]] || mkfifo "$SCRATCH/fake-qemu.fifo"
        FIFO="$SCRATCH/fake-qemu.fifo" bash -c \
                'exec -a qemu-system-x86_64 /bin/bash -c '\''read -r -t 600 _ <>"$FIFO"'\'' -name "guest=$1"' _ "$1" &
        FAKE_QEMU_PID=$!
        PIDS+=("$FAKE_QEMU_PID")
}
