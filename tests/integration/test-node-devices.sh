#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# What is behind each NUMA node, through vtismd and vtismctl, on the CXL fixtures of tests/data
# (README-cxl.md): 'vtismctl nodes' (KIND and MOVABLE columns, one line per node that is not plain
# DRAM, nodes not online yet), 'nodes --json' and 'status --json' (the device lists as arrays),
# 'vtismctl metrics' (vtism_node_info with the devices as labels, online and movable bytes; promtool
# when it is installed); and the devices read again on reload: the lab's capture before and after
# 'daxctl reconfigure-device -m system-ram' swapped under a running vtismd.
. "$(dirname "$0")/lib.sh"
need dbus-daemon jq

data="$VTISM_SOURCE_ROOT/tests/data"
GIB=$((1 << 30))
MIB=$((1 << 20))

# run_on TREE: vtismd on that sysfs tree (a fixture, or a symlink to one)
run_on() {
        [[ -S $SCRATCH/notify.sock ]] || start_notify
        : >"$SCRATCH/notify.log"
        echo "global = { sample_interval_ms = 200; libvirt_uri = \"qemu+unix:///system?socket=$SCRATCH/none\"; };" \
                >"$SCRATCH/vtism.conf"
        start_vtismd "$SCRATCH/vtism.conf" --sysfs-root="$1"
        wait_for 20 grep -qx READY=1 "$SCRATCH/notify.log" || fail "no READY=1 on $1"
}
stop_vtismd() {
        kill "$VTISMD_PID"
        wait "$VTISMD_PID" 2>/dev/null || true
}
json_is() { # WHAT JSON FILTER
        jq -e "$3" <<<"$2" >/dev/null || fail "$1: $(jq -c "${4:-.}" <<<"$2")"
}

start_bus strict

# 1. Volatile CXL memory: two memdevs interleaved in one ram region, its dax device onlined
#    movable by kmem: node 1.
run_on "$data/sysfs-cxl-ram-interleaved"
nodes=$("$VTISMCTL" nodes --json)
json_is "node 1 of the interleaved host" "$nodes" '
        .nodes[1] | .id == 1 and .tier == "cxl" and .kind == "cxl" and .cxl_memdevs == ["mem0", "mem1"]
        and .cxl_regions == ["region0"] and .cxl_window == "decoder0.0" and .dax_devices == ["dax0.0"]
        and .dax_modes == ["system-ram"] and .dax_bytes == 4294967296 and .online_bytes == 4294967296
        and .movable_bytes == 4294967296
        and (.description | startswith("CXL memory: region0 (ram, 2-way interleave, 4096-byte granularity) of mem0 and mem1"))' .nodes
json_is "node 0 of the interleaved host" "$nodes" '
        .nodes[0] | .kind == "dram" and .cxl_memdevs == null and .dax_devices == null and .movable_bytes == null
        and .description == "DRAM next to CPUs"' .nodes
json_is "offline nodes of the interleaved host" "$nodes" '.offline_nodes == []'
status=$("$VTISMCTL" status --json)
json_is "status --json" "$status" '.nodes[1].kind == "cxl" and .nodes[1].dax_modes == ["system-ram"] and .offline_nodes == []' .nodes
text=$("$VTISMCTL" nodes)
echo "$text"
row=$(grep -E '^ +1 +cxl ' <<<"$text") || fail "no row for node 1: $text"
[[ $row =~ cxl\ +all$ ]] || fail "node 1's KIND and MOVABLE: '$row'"
grep -qE '^ +0 .* dram +-$' <<<"$text" || fail "node 0's row should end in KIND dram and no MOVABLE (-): $text"
grep -qF 'behind the nodes:' <<<"$text" || fail "no 'behind the nodes:' section"
grep -qx 'node 1: CXL memory: region0 (ram, 2-way interleave, 4096-byte granularity) of mem0 and mem1 in window decoder0.0; through dax0.0 (system-ram, 4 GiB); 4 GiB online, all of it movable' <<<"$text" \
        || fail "node 1's line: $(grep '^node 1' <<<"$text")"
grep -q '^node 0' <<<"$text" && fail "a line for the DRAM node"
metrics=$("$VTISMCTL" metrics)
grep -qxF 'vtism_node_info{node="1",tier="cxl",kind="cxl",cxl_memdevs="mem0,mem1",cxl_regions="region0",cxl_window="decoder0.0",dax_devices="dax0.0",dax_modes="system-ram"} 1' <<<"$metrics" \
        || fail "vtism_node_info of node 1: $(grep vtism_node_info <<<"$metrics")"
grep -qxF 'vtism_node_info{node="0",tier="dram",kind="dram",cxl_memdevs="",cxl_regions="",cxl_window="",dax_devices="",dax_modes=""} 1' <<<"$metrics" \
        || fail "vtism_node_info of node 0: $(grep vtism_node_info <<<"$metrics")"
grep -qxF "vtism_node_movable_bytes{node=\"1\",tier=\"cxl\"} $((4 * GIB))" <<<"$metrics" || fail "vtism_node_movable_bytes"
grep -qxF "vtism_node_dax_bytes{node=\"1\",tier=\"cxl\"} $((4 * GIB))" <<<"$metrics" || fail "vtism_node_dax_bytes"
if command -v promtool >/dev/null; then
        promtool check metrics <<<"$metrics" >"$SCRATCH/promtool.out" 2>&1 || fail "promtool: $(cat "$SCRATCH/promtool.out")"
        ok "promtool accepts the node metrics"
fi
stop_vtismd
ok "interleaved CXL host: memdevs, region, window, dax device and mode, movable, in nodes, JSON and metrics"

# 2. The CXL host guide's starting point: soft-reserved memory as dax0.0 in devdax mode, its node
#    not online; vtismd has one node to show, and says what to do with the other.
run_on "$data/sysfs-hmem-devdax"
nodes=$("$VTISMCTL" nodes --json)
json_is "hmem: offline node 1" "$nodes" '
        (.nodes | length) == 1 and (.offline_nodes | length) == 1
        and (.offline_nodes[0] | .id == 1 and .kind == "soft-reserved" and .dax_devices == ["dax0.0"]
             and .dax_modes == ["devdax"] and .dax_bytes == 17179869184 and .tier == null and .online_bytes == 0
             and (.description | contains("daxctl reconfigure-device -m system-ram dax0.0")))'
text=$("$VTISMCTL" nodes)
grep -qE '^node 1 \(not online\): soft-reserved .* through dax0\.0 \(devdax, 16 GiB\), not system RAM yet: daxctl reconfigure-device -m system-ram dax0\.0; the node is not online$' <<<"$text" \
        || fail "hmem: the offline node's line: $text"
stop_vtismd
ok "soft-reserved devdax memory: the offline node and what to run"

# 3. Refreshed on reload: the lab's emulated CXL before and after daxctl made it system RAM,
#    swapped under a running vtismd by replacing a symlink.
ln -s "$data/sysfs-cxl-lab-devdax" "$SCRATCH/sysfs"
run_on "$SCRATCH/sysfs"
nodes=$("$VTISMCTL" nodes --json)
json_is "lab devdax" "$nodes" '
        ([.nodes[].id] == [0, 1]) and .nodes[1].kind == "boot-memory" and .nodes[1].movable_bytes == 0
        and (.offline_nodes | length) == 1
        and (.offline_nodes[0] | .id == 2 and .kind == "cxl" and .cxl_memdevs == ["mem0", "mem1"]
             and .cxl_regions == ["region0"] and .dax_modes == ["devdax"])'
output_has '^node 1: CPU-less memory the firmware described' -- "$VTISMCTL" nodes || fail "lab devdax: node 1's line"
ln -s "$data/sysfs-cxl-lab-system-ram" "$SCRATCH/sysfs.new"
mv -T "$SCRATCH/sysfs.new" "$SCRATCH/sysfs"
"$VTISMCTL" reload >/dev/null || fail "reload"
nodes=$("$VTISMCTL" nodes --json)
json_is "lab system-ram after the reload" "$nodes" '
        ([.nodes[].id] == [0, 1, 2]) and .offline_nodes == []
        and (.nodes[2] | .kind == "cxl" and .dax_devices == ["dax0.0"] and .dax_modes == ["system-ram"]
             and .cxl_memdevs == ["mem0", "mem1"] and .online_bytes == 402653184 and .movable_bytes == 402653184)'
text=$("$VTISMCTL" nodes)
echo "$text"
grep -qE '^ +2 +cxl .* cxl +all$' <<<"$text" || fail "lab system-ram: node 2's row: $text"
grep -q "Node 2: CXL memory: region0 (pmem, 2-way interleave" "$SCRATCH/vtismd.log" || fail "no journal line for node 2"
stop_vtismd
ok "reload reads the devices again: node 2 from devdax (offline) to system RAM, movable"
