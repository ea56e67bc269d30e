#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# What a domain's <numatune> means for page migration, measured against a real (private) libvirtd
# with TCG domains: for each mode (strict, restrictive, interleave, preferred, none) and nodeset,
# where libvirt puts the QEMU (cpuset cgroup, cpuset.mems), the QEMU's Mems_allowed_list, the
# memory policy of its guest RAM (numa_maps), whether move_pages(2) may move guest pages to a
# node outside the nodeset and with which errno it refuses, whether 'virsh numatune --live'
# can widen the nodeset, and what vtismd makes of it (home node, reason). On this one-node host
# only node 0 exists; tests/lab/lab-numatune.sh runs this same test in the lab, where node 1 is
# a CPU-less "CXL" node and the moves to it are the point. README.md "libvirt guests" and the
# planner take their facts from here.
# shellcheck disable=SC2001 # sed 's/^/    /' indents the tools' output
. "$(dirname "$0")/lib-libvirt.sh"
libvirt_enter_namespace "$@"
lv_need jq
VTISMD="$VTISM_BUILD_ROOT/src/daemon/vtismd"
VTISMCTL="$VTISM_BUILD_ROOT/src/ctl/vtismctl"
PROBE="$VTISM_BUILD_ROOT/tests/integration/move-probe"
[[ -x $PROBE ]] || lv_skip "move-probe was not built"

nodes=$(cat /sys/devices/system/node/online)
# The CPU-less memory node, if any: the lab's "CXL".
cxl=""
for d in /sys/devices/system/node/node[0-9]*; do
        n=${d##*node}
        if [[ -z $(tr -d '\n' <"$d/cpulist") ]] && awk '/MemTotal:/ { found = $4 > 0 } END { exit !found }' "$d/meminfo"; then
                cxl=$n
        fi
done
echo "host nodes: $nodes; CPU-less memory node: ${cxl:-none}"

libvirt_private_dirs
BUS_PID=""
cleanup() {
        [[ -n ${VTISMD_PID:-} ]] && { kill "$VTISMD_PID" 2>/dev/null; wait "$VTISMD_PID" 2>/dev/null || true; }
        [[ -n $BUS_PID ]] && kill "$BUS_PID" 2>/dev/null
        libvirt_cleanup
}
trap cleanup EXIT
libvirt_start_virtlogd
libvirt_start_libvirtd

# domain NAME MODE NODESET: a 128 MiB TCG domain, running, with that <numatune> ("" = none).
domain_xml() {
        local name=$1 mode=$2 nodeset=$3
        libvirt_domain_xml "$name" | if [[ -z $mode ]]; then
                sed '/<numatune>/,/<\/numatune>/d'
        else
                sed "s|<memory mode='strict' nodeset='0'/>|<memory mode='$mode' nodeset='$nodeset'/>|"
        fi >"$LV_SCRATCH/$name.xml"
}

ram=$((128 * 1024 * 1024))
cpuset_of() { sed -n 's/^[0-9]*:cpuset:\(.*\)/\1/p' "/proc/$1/cgroup"; }
cpuset_mems() {
        local cg
        cg=$(cpuset_of "$1")
        if [[ -n $cg && -r /sys/fs/cgroup/cpuset$cg/cpuset.mems ]]; then
                cat "/sys/fs/cgroup/cpuset$cg/cpuset.mems"
        elif [[ -r /sys/fs/cgroup$(sed -n 's/^0::\(.*\)/\1/p' "/proc/$1/cgroup")/cpuset.mems.effective ]]; then
                cat "/sys/fs/cgroup$(sed -n 's/^0::\(.*\)/\1/p' "/proc/$1/cgroup")/cpuset.mems.effective"
        else
                echo "(no cpuset)"
        fi
}

declare -A RESULT
report() { printf '%-34s %s\n' "$1:" "$2"; }

cases=("strict:0" "restrictive:0" "interleave:0" "preferred:0" "none:")
[[ -n $cxl ]] && cases+=("strict:0-$cxl" "restrictive:0-$cxl")
i=0
for c in "${cases[@]}"; do
        mode=${c%%:*} nodeset=${c#*:}
        [[ $mode == none ]] && mode=""
        name=vtism-nt-$LV_ID-$i
        i=$((i + 1))
        domain_xml "$name" "$mode" "$nodeset"
        libvirt_create "$name" "$LV_SCRATCH/$name.xml"
        pid=$LV_PID
        lv_wait_for 20 "$PROBE" "$pid" "$ram" >/dev/null || lv_fail "$name: guest RAM of $ram bytes not found in /proc/$pid/maps"
        echo "== <numatune> ${mode:-none} ${nodeset:+nodeset=$nodeset} (domain $name, QEMU $pid)"
        report "virsh numatune" "$(virsh -q -c qemu:///system numatune "$name" | tr -s ' \n' ' ')"
        report "cpuset cgroup" "$(cpuset_of "$pid") mems=$(cpuset_mems "$pid")"
        out=$("$PROBE" "$pid" "$ram" ${cxl:+"$cxl"})
        sed 's/^/    /' <<<"$out"
        RESULT[$c]=$(grep '^move to' <<<"$out" || true)
        RESULT[$c.mems]=$(sed -n 's/^Mems_allowed_list:[[:space:]]*//p' <<<"$out")
        RESULT[$c.policy]=$(sed -n 's/^policy: //p' <<<"$out")
        RESULT[$c.cpuset]=$(cpuset_mems "$pid")
        RESULT[$c.pid]=$pid
        RESULT[$c.name]=$name
done

# What must hold everywhere: strict and restrictive confine the QEMU to the nodeset through the
# cpuset cgroup (when libvirt has one: then Mems_allowed_list is the nodeset); interleave and
# preferred do not confine; strict does it with a cgroup and no memory policy on the guest RAM.
have_cgroup=false
[[ ${RESULT[strict:0.cpuset]} != "(no cpuset)" ]] && have_cgroup=true
if $have_cgroup; then
        for c in strict:0 restrictive:0; do
                [[ ${RESULT[$c.mems]} == 0 && ${RESULT[$c.cpuset]} == 0 ]] ||
                        lv_fail "$c: QEMU not confined to node 0: Mems_allowed_list ${RESULT[$c.mems]}, cpuset.mems ${RESULT[$c.cpuset]}"
        done
        lv_ok "strict and restrictive nodeset=0: the QEMU is in a cpuset cgroup with cpuset.mems=0 (Mems_allowed_list 0)"
else
        echo "note: this libvirtd has no cpuset cgroup for its domains"
fi
[[ ${RESULT[interleave:0.mems]} == "${RESULT[none:.mems]}" ]] ||
        lv_fail "interleave confines the QEMU: ${RESULT[interleave:0.mems]} vs ${RESULT[none:.mems]}"
lv_ok "policies: strict=${RESULT[strict:0.policy]} restrictive=${RESULT[restrictive:0.policy]} interleave=${RESULT[interleave:0.policy]} preferred=${RESULT[preferred:0.policy]} none=${RESULT[none:.policy]}"

if [[ -n $cxl ]]; then
        echo "== moves of guest pages to the CXL node $cxl"
        for c in "${cases[@]}"; do
                printf '  %-22s cpuset.mems %-6s %s\n' "$c" "${RESULT[$c.cpuset]}" "${RESULT[$c]}"
        done
        if $have_cgroup; then
                for c in strict:0 restrictive:0; do
                        [[ ${RESULT[$c]} == "move to node $cxl: error EACCES" ]] ||
                                lv_fail "$c: move_pages to node $cxl outside the nodeset: '${RESULT[$c]}', expected EACCES"
                done
                lv_ok "strict and restrictive with a DRAM-only nodeset: move_pages to the CXL node fails with EACCES (the cpuset)"
        fi
        for c in "strict:0-$cxl" "restrictive:0-$cxl" interleave:0 preferred:0 none:; do
                [[ ${RESULT[$c]} == "move to node $cxl: ok moved="* ]] || lv_fail "$c: move to node $cxl: '${RESULT[$c]}'"
        done
        lv_ok "a nodeset with the CXL node, interleave, preferred and no numatune: pages move to node $cxl"

        # Widening the nodeset of a running domain.
        for c in restrictive:0 strict:0; do
                name=${RESULT[$c.name]} pid=${RESULT[$c.pid]}
                if out=$(virsh -q -c qemu:///system numatune "$name" --nodeset "0-$cxl" --live 2>&1); then
                        after=$("$PROBE" "$pid" "$ram" "$cxl" | grep '^move to')
                        echo "  $c: virsh numatune --nodeset 0-$cxl --live: ok; cpuset.mems $(cpuset_mems "$pid"); $after"
                        RESULT[$c.live]=$after
                else
                        echo "  $c: virsh numatune --nodeset 0-$cxl --live: refused: $out"
                        RESULT[$c.live]="refused: $out"
                fi
        done
        if $have_cgroup; then
                [[ ${RESULT[restrictive:0.live]} == "move to node $cxl: ok"* ]] ||
                        lv_fail "restrictive: widening the nodeset live did not allow the move: ${RESULT[restrictive:0.live]}"
                lv_ok "restrictive: 'virsh numatune DOM --nodeset 0-$cxl --live' widens cpuset.mems; then pages move"
                [[ ${RESULT[strict:0.live]} == refused:* ]] ||
                        lv_fail "strict: libvirt 9.0 refused live nodeset changes of strict domains; now: ${RESULT[strict:0.live]}"
                lv_ok "strict: the nodeset of a running domain cannot be changed (${RESULT[strict:0.live]##*error: })"
        fi
fi

# vtismd: the nodeset's first DRAM node is the home node, reason "numatune".
sed -e "s#@SOCKET@#$LV_SCRATCH/system_bus_socket#" -e "s#@POLICY@#$VTISM_SOURCE_ROOT/systemd/org.vtism1.conf#" \
        -e "s#<!--EXTRA-->##" "$VTISM_SOURCE_ROOT/tests/integration/system-bus.conf.in" >"$LV_SCRATCH/bus.conf"
dbus-daemon --config-file="$LV_SCRATCH/bus.conf" --nofork --nopidfile 2>"$LV_SCRATCH/bus.log" &
BUS_PID=$!
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$LV_SCRATCH/system_bus_socket"
lv_wait_for 10 test -S "$LV_SCRATCH/system_bus_socket" || lv_fail "dbus-daemon did not start"
echo 'global = { sample_interval_ms = 300; };' >"$LV_SCRATCH/vtism.conf"
"$VTISMD" --foreground --config="$LV_SCRATCH/vtism.conf" >"$LV_SCRATCH/vtismd.log" 2>&1 &
VTISMD_PID=$!
all_seen() { (($("$VTISMCTL" status --json | jq '[.vms[] | select((.sources | index("libvirt")) and .home_reason != null)] | length') == ${#cases[@]})); }
lv_wait_for 30 all_seen || lv_fail "vtismd does not list every domain: $("$VTISMCTL" status --json | jq -c '[.vms[] | {name, sources}]')"
homes=$("$VTISMCTL" status --json | jq -r '.vms[] | "\(.name) \(.home_node) \(.home_reason)"' | sort)
echo "vtismd's view (name, home node, reason):"
sed 's/^/    /' <<<"$homes"
for c in strict:0 restrictive:0 interleave:0 preferred:0; do
        grep -qx "${RESULT[$c.name]} 0 numatune" <<<"$homes" || lv_fail "$c: vtismd's home node: $(grep "${RESULT[$c.name]}" <<<"$homes")"
done
lv_ok "vtismd: home node 0 from the numatune nodeset for strict, restrictive, interleave and preferred"
libvirt_start_summary
echo PASS
