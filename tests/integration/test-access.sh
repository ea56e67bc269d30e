#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Access control (issue 12, defect 10 and the matrix): every property and method of
# org.vtism1.Manager called as
#   root          uid 0 with every capability
#   root-nocaps   uid 0 with an empty effective set (setpriv --bounding-set=-all)
#   root-noadmin  uid 0 with every capability but CAP_SYS_ADMIN
#   nobody        an unprivileged user
# on the real policy (systemd/org.vtism1.conf) and behind a permissive bus (vtismd's own check
# alone): every read (Get, GetAll, Introspect, GetHeatmap, GetPlan, GetContiguity) is allowed to
# all, every mutation (Reload, Pause, Resume, SetDryRun) only to root with CAP_SYS_ADMIN, and a
# denied mutation changes nothing. Properties.Set is refused to everyone (read-only properties).
. "$(dirname "$0")/lib.sh"
need dbus-daemon jq setpriv busctl qemu-system-x86_64

data="$VTISM_SOURCE_ROOT/tests/data"
conf="$SCRATCH/vtism.conf"
printf 'global = {\n  sample_interval_ms = 200;\n  heat_range = "4M";\n  libvirt_uri = "qemu+unix:///system?socket=/nonexistent/vtism-test";\n};\n' >"$conf"

qemu-system-x86_64 -m 16 -name guest=access-vm -nodefaults -display none -S >"$SCRATCH/qemu.log" 2>&1 &
PIDS+=($!)

as_caller() {
        local who=$1
        shift
        case $who in
        root) "$@" ;;
        root-nocaps) setpriv --inh-caps=-all --ambient-caps=-all --bounding-set=-all -- "$@" ;;
        root-noadmin) setpriv --inh-caps=-sys_admin --ambient-caps=-sys_admin --bounding-set=-sys_admin -- "$@" ;;
        nobody) setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@" ;;
        esac
}

# The callers are who they claim to be.
[[ $(as_caller root-nocaps awk '/^CapEff/ { print $2 }' /proc/self/status) == 0000000000000000 ]] \
        || fail "setpriv did not empty the effective set"
eff=$(as_caller root-noadmin awk '/^CapEff/ { print $2 }' /proc/self/status)
(( (0x$eff >> 21) & 1 )) && fail "setpriv left CAP_SYS_ADMIN in $eff"
(( 0x$eff != 0 )) || fail "root-noadmin has no capabilities at all"

B() { busctl --system "$@" org.vtism1 /org/vtism1 org.vtism1.Manager; }
# call WHO ARGS...: busctl as WHO; "ok", "denied" or "error" (any other failure), with its output
call() {
        local who=$1 out rc
        shift
        set +e
        out=$(as_caller "$who" busctl --system "$@" 2>&1); rc=$?
        set -e
        if ((rc == 0)); then
                echo "ok"
        elif [[ $out == *"Access denied"* || $out == *"Permission denied"* || $out == *AccessDenied* ]]; then
                echo "denied"
        else
                echo "error: $out"
        fi
}
expect() {
        local want=$1 who=$2 what=$3 got
        shift 3
        got=$(call "$who" "$@")
        [[ $got == "$want"* ]] || fail "[$MODE] $what as $who: want $want, got $got"
        CHECKS=$((CHECKS + 1))
}
state() { "$VTISMCTL" status --json | jq -c '[.sampling_paused, .migration_paused, .dry_run, .counters.reloads]'; }

CHECKS=0
start_notify
for MODE in strict permissive; do
        start_bus "$MODE"
        : >"$SCRATCH/notify.log"
        # A DRAM + CXL topology, so that access-vm gets planned (GetPlan has something to show).
        start_vtismd "$conf" --sysfs-root="$data/sysfs-lab2"
        wait_for 10 grep -qx READY=1 "$SCRATCH/notify.log" || fail "[$MODE] no READY=1"
        vm_ready() { "$VTISMCTL" heatmap --json access-vm >/dev/null 2>&1 && "$VTISMCTL" plan --json access-vm >/dev/null 2>&1; }
        wait_for 20 vm_ready || fail "[$MODE] access-vm has no heat map or plan: $("$VTISMCTL" status --json | jq -c .vms)"

        mapfile -t props < <(busctl --system introspect --list org.vtism1 /org/vtism1 org.vtism1.Manager |
                             awk '$2 == "property" { sub(/^\./, "", $1); print $1 }')
        ((${#props[@]} >= 20)) || fail "[$MODE] introspection lists ${#props[@]} properties"

        for who in root root-nocaps root-noadmin nobody; do
                # Reads: open to all.
                expect ok "$who" Introspect introspect org.vtism1 /org/vtism1
                expect ok "$who" GetAll call org.vtism1 /org/vtism1 org.freedesktop.DBus.Properties GetAll s org.vtism1.Manager
                for p in "${props[@]}"; do
                        expect ok "$who" "Get $p" get-property org.vtism1 /org/vtism1 org.vtism1.Manager "$p"
                done
                expect ok "$who" GetHeatmap call org.vtism1 /org/vtism1 org.vtism1.Manager GetHeatmap s access-vm
                expect ok "$who" GetPlan call org.vtism1 /org/vtism1 org.vtism1.Manager GetPlan s access-vm
                expect ok "$who" GetContiguity call --timeout=120 org.vtism1 /org/vtism1 org.vtism1.Manager GetContiguity st access-vm 0
                as_caller "$who" "$VTISMCTL" status >/dev/null || fail "[$MODE] vtismctl status as $who"
                as_caller "$who" "$VTISMCTL" heatmap access-vm >/dev/null || fail "[$MODE] vtismctl heatmap as $who"
                as_caller "$who" "$VTISMCTL" plan access-vm >/dev/null || fail "[$MODE] vtismctl plan as $who"
                as_caller "$who" "$VTISMCTL" contiguity access-vm >/dev/null || fail "[$MODE] vtismctl contiguity as $who"

                # Properties.Set: nobody may write a property.
                got=$(call "$who" set-property org.vtism1 /org/vtism1 org.vtism1.Manager DryRun b true)
                [[ $got != ok ]] || fail "[$MODE] Set DryRun as $who succeeded"
                CHECKS=$((CHECKS + 1))

                # Mutations: root with CAP_SYS_ADMIN only; a refused one changes nothing.
                if [[ $who == root ]]; then
                        want=ok
                else
                        want=denied
                fi
                before=$(state)
                expect $want "$who" Pause call org.vtism1 /org/vtism1 org.vtism1.Manager Pause s sampling
                [[ $want == ok ]] || [[ $(state) == "$before" ]] || fail "[$MODE] a refused Pause by $who changed $before -> $(state)"
                expect $want "$who" Resume call org.vtism1 /org/vtism1 org.vtism1.Manager Resume s all
                expect $want "$who" SetDryRun call org.vtism1 /org/vtism1 org.vtism1.Manager SetDryRun b true
                [[ $want == ok ]] || [[ $(state) == "$before" ]] || fail "[$MODE] a refused SetDryRun by $who changed state"
                expect $want "$who" SetDryRun call org.vtism1 /org/vtism1 org.vtism1.Manager SetDryRun b false
                expect $want "$who" Reload call org.vtism1 /org/vtism1 org.vtism1.Manager Reload
                [[ $want == ok ]] || [[ $(state) == "$before" ]] || fail "[$MODE] a refused Reload by $who changed state"
                if [[ $want == denied ]]; then
                        set +e
                        out=$(as_caller "$who" "$VTISMCTL" pause 2>&1); rc=$?
                        set -e
                        [[ $rc -eq 4 && $out == *"permission denied"* ]] || fail "[$MODE] vtismctl pause as $who: rc=$rc $out"
                fi
        done
        # What vtismctl says to a root shell without CAP_SYS_ADMIN (vtismd's own words).
        out=$(as_caller root-nocaps "$VTISMCTL" dry-run on 2>&1 || true)
        [[ $out == *"SetDryRun needs root (CAP_SYS_ADMIN); the caller is root without CAP_SYS_ADMIN"* ]] \
                || fail "[$MODE] message for root without CAP_SYS_ADMIN: $out"
        jq -e '.sampling_paused == false and .dry_run == false' <<<"$("$VTISMCTL" status --json)" >/dev/null \
                || fail "[$MODE] final state"
        ok "[$MODE] ${#props[@]} properties, GetHeatmap, GetPlan, GetContiguity and 4 mutations x 4 callers: reads open, mutations root+CAP_SYS_ADMIN only"
        kill -TERM "$VTISMD_PID"; wait "$VTISMD_PID" || fail "[$MODE] exit status on SIGTERM"
        kill "$BUS_PID"; wait "$BUS_PID" 2>/dev/null || true
done
ok "$CHECKS checks"
echo PASS
