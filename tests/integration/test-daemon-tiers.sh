#!/usr/bin/env bash
# vtismd on fixture topologies (--sysfs-root): tiering mode with DRAM+CXL, demotion targets,
# tier overrides from the config, a reload naming an absent node, and the daemon's own
# privilege check behind a permissive bus policy.
. "$(dirname "$0")/lib.sh"
need dbus-daemon setpriv jq

start_bus permissive
start_notify
data="$VTISM_SOURCE_ROOT/tests/data"

conf="$SCRATCH/vtism.conf"
echo 'global = { sample_interval_ms = 200; };' >"$conf"
start_vtismd "$conf" --sysfs-root="$data/sysfs-4node"
wait_for 10 grep -qx READY=1 "$SCRATCH/notify.log" || fail "no READY=1"

json=$("$VTISMCTL" status --json)
jq -e '.mode == "tiering"
       and ([.nodes[] | select(.tier == "dram") | .id] == [0, 1])
       and ([.nodes[] | select(.tier == "cxl") | .id] == [2, 3])
       and .nodes[0].demotion_targets == [2, 3] and .nodes[1].demotion_targets == [2, 3]
       and .nodes[0].distances == [10, 21, 24, 24]' <<<"$json" >/dev/null || fail "4-node status: $json"
output_has "tiering: 2 DRAM nodes, 2 CXL nodes" -- "$VTISMCTL" status || fail "human status mode line"
output_has -E '^ +2 +cxl ' -- "$VTISMCTL" status || fail "human status lacks node 2 as cxl"
ok "4-node host: tiering mode, CXL nodes and demotion order"

# Behind a permissive bus, vtismd itself still refuses unprivileged callers.
set +e
out=$(as_nobody "$VTISMCTL" pause 2>&1); rc=$?
set -e
[[ $rc -eq 4 && $out == *"permission denied"* ]] || fail "daemon-side privilege check: rc=$rc '$out'"
jq -e '.sampling_paused == false' <<<"$("$VTISMCTL" status --json)" >/dev/null || fail "nobody paused sampling"
ok "daemon refuses unprivileged callers on a permissive bus"

# Override: make node 3 DRAM; node 0 then demotes to 2 only.
echo 'global = { sample_interval_ms = 200; }; tiers = { dram = [ 3 ]; };' >"$conf"
"$VTISMCTL" reload >/dev/null || fail "reload with a tier override"
json=$("$VTISMCTL" status --json)
jq -e '.nodes[3].tier == "dram" and .nodes[3].classified_by == "config" and .nodes[0].demotion_targets == [2]' \
        <<<"$json" >/dev/null || fail "override not applied: $json"
ok "tier override applied on reload"

# Override naming a node this host does not have: refused, previous state kept.
echo 'tiers = { cxl = [ 7 ]; };' >"$conf"
set +e
out=$("$VTISMCTL" reload 2>&1); rc=$?
set -e
[[ $rc -eq 1 && $out == *"tiers"*"not online"* ]] || fail "reload with absent node: rc=$rc '$out'"
jq -e '.nodes[3].tier == "dram"' <<<"$("$VTISMCTL" status --json)" >/dev/null || fail "state lost on bad reload"
ok "override naming an absent node refused, previous state kept"
kill -TERM "$VTISMD_PID"; wait "$VTISMD_PID" || fail "exit status on SIGTERM"

# The lab's two-node shape without and with HMAT memory tiers.
for shape in lab2:cpu-less lab2-hmat:memory-tier; do
        tree=${shape%%:*} by=${shape##*:}
        : >"$SCRATCH/notify.log"
        echo 'global = { sample_interval_ms = 200; };' >"$conf"
        start_vtismd "$conf" --sysfs-root="$data/sysfs-$tree"
        wait_for 10 grep -qx READY=1 "$SCRATCH/notify.log" || fail "$tree: no READY=1"
        json=$("$VTISMCTL" status --json)
        jq -e --arg by "$by" '.mode == "tiering" and .nodes[0].tier == "dram" and .nodes[1].tier == "cxl"
               and .nodes[1].classified_by == $by and .nodes[0].demotion_targets == [1]' <<<"$json" >/dev/null \
                || fail "$tree: $json"
        kill -TERM "$VTISMD_PID"; wait "$VTISMD_PID" || fail "$tree: exit status on SIGTERM"
        ok "$tree: node 1 is CXL by $by"
done

# A topology that cannot be read is a clear startup error, not a crash.
set +e
"$VTISMD" --foreground --config="$conf" --sysfs-root="$SCRATCH/nonexistent" >"$SCRATCH/bad.log" 2>&1; rc=$?
set -e
[[ $rc -eq 1 ]] && grep -q "failed to read NUMA topology below $SCRATCH/nonexistent" "$SCRATCH/bad.log" \
        || fail "unreadable topology: rc=$rc $(cat "$SCRATCH/bad.log")"
ok "unreadable topology reported"

echo "PASS"
