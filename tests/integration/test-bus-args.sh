#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Malformed arguments for every method of org.vtism1.Manager (issue 12, access control): missing,
# of the wrong type, extra, empty, huge (100 KiB, near the limit of one command-line argument),
# unknown values and unknown VMs, and Properties.Get/Set of what does not exist, all called as root
# (who may call everything). Each must be refused with a D-Bus error whose message is short (a huge
# argument is not echoed whole), vtismd must stay up and answer, and nothing may change. Strings
# that are not valid UTF-8 cannot be sent at all (sd-bus and dbus-daemon refuse them); what vtismd
# sends back is always valid (test-bus-utf8).
# shellcheck disable=SC2034 # read by lib.sh
PRIVATE_PIDS=1   # vtismd on the real /proc: see only our own processes (lib.sh)
. "$(dirname "$0")/lib.sh"
need dbus-daemon jq busctl

start_bus
start_notify
conf="$SCRATCH/vtism.conf"
printf 'global = {\n  sample_interval_ms = 200;\n  libvirt_uri = "qemu+unix:///system?socket=/nonexistent/vtism-test";\n};\n' >"$conf"
start_vtismd "$conf"
wait_for 10 grep -qx READY=1 "$SCRATCH/notify.log" || fail "no READY=1"

state() { "$VTISMCTL" status --json | jq -c '{sampling_paused, migration_paused, dry_run, reloads: .counters.reloads}'; }
before=$(state)
huge=$(head -c 102400 /dev/zero | tr '\0' a)
n=0

# refused WHAT MEMBER SIGNATURE [ARGS...]: the call fails with an error of at most 512 bytes,
# vtismd lives and its state is unchanged.
refused() {
        local what=$1 member=$2 out rc
        shift 2
        set +e
        out=$(timeout 20 busctl --system -- call org.vtism1 /org/vtism1 org.vtism1.Manager "$member" "$@" 2>&1)
        rc=$?
        set -e
        ((rc != 0)) || fail "$member with $what was accepted: $out"
        ((rc != 124)) || fail "$member with $what: no answer within 20 s"
        ((${#out} <= 512)) || fail "$member with $what: an error of ${#out} bytes: ${out:0:200}..."
        kill -0 "$VTISMD_PID" 2>/dev/null || fail "vtismd died after $member with $what"
        [[ $(state) == "$before" ]] || fail "$member with $what changed $before -> $(state)"
        n=$((n + 1))
        echo "  $member, $what: ${out:0:160}"
}

for m in GetHeatmap GetPlan Pause Resume SetDryRun; do
        refused "no argument" "$m" ""
done
for m in GetPlan; do
        refused "a number" "$m" u 7
        refused "two strings" "$m" ss a b
        refused "a huge name" "$m" s "$huge"
        refused "an unknown VM" "$m" s no-such-vm
done
refused "a number" GetHeatmap u 7
refused "two strings" GetHeatmap ss a b
refused "an empty name" GetHeatmap s ""
refused "a huge name" GetHeatmap s "$huge"
refused "an unknown VM" GetHeatmap s no-such-vm
refused "pid 0" GetHeatmap s pid-0
refused "a number too large for a pid" GetHeatmap s 99999999999999999999
refused "a negative pid" GetHeatmap s -1
for m in Pause Resume; do
        refused "a boolean" "$m" b true
        refused "two strings" "$m" ss sampling all
        refused "an empty subsystem" "$m" s ""
        refused "an unknown subsystem" "$m" s everything
        refused "a huge subsystem" "$m" s "$huge"
done
refused "a string" SetDryRun s yes
refused "a number" SetDryRun u 1
refused "two booleans" SetDryRun bb true false
refused "an argument" Reload s now
refused "an unknown method" NoSuchMethod ""

# Properties: unknown names, another interface, and writes (all read-only). These errors are
# sd-bus's own (its vtable dispatch): it quotes an unknown property name whole, back to the caller
# who sent it only, so their length is not checked.
props() {
        local what=$1 out rc
        shift
        set +e
        out=$(timeout 20 busctl --system "$@" 2>&1)
        rc=$?
        set -e
        ((rc != 0 && rc != 124)) || fail "$what: rc=$rc: $out"
        kill -0 "$VTISMD_PID" 2>/dev/null || fail "vtismd died after $what"
        [[ $(state) == "$before" ]] || fail "$what changed $before -> $(state)"
        n=$((n + 1))
        echo "  $what: ${out:0:160}"
}
props "Get of an unknown property" get-property org.vtism1 /org/vtism1 org.vtism1.Manager NoSuchProperty
props "Get of a huge property name" call org.vtism1 /org/vtism1 org.freedesktop.DBus.Properties Get ss org.vtism1.Manager "$huge"
props "GetAll of an unknown interface" call org.vtism1 /org/vtism1 org.freedesktop.DBus.Properties GetAll s org.example.Nothing
props "Set of a read-only property" set-property org.vtism1 /org/vtism1 org.vtism1.Manager DryRun b true
props "Set with the wrong type" call org.vtism1 /org/vtism1 org.freedesktop.DBus.Properties Set ssv org.vtism1.Manager DryRun s yes
props "a call on another object path" call org.vtism1 /org/vtism1/nothing org.vtism1.Manager Reload

# Still answering, with its bus name, and the valid calls work.
"$VTISMCTL" status >/dev/null || fail "vtismctl status after the malformed calls"
busctl --system call org.vtism1 /org/vtism1 org.vtism1.Manager Pause s sampling >/dev/null || fail "a valid Pause failed"
busctl --system call org.vtism1 /org/vtism1 org.vtism1.Manager Resume s all >/dev/null || fail "a valid Resume failed"
ok "$n malformed calls refused with short errors; vtismd up, nothing changed, valid calls still work"
