#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# vtismctl's conventions against a real vtismd: the JSON (schema_version, null for what is not
# known, lists as arrays), tables whose columns come from their content (CPU lists like
# 0-15,32-47, long VM names) and that give way with an ellipsis only on a terminal's width,
# --no-legend, and -H [USER@]HOST over ssh (a stand-in ssh runs systemd-stdio-bridge here, as
# the remote side would).
. "$(dirname "$0")/lib.sh"
need dbus-daemon jq systemd-stdio-bridge

start_bus
start_plain_vtismd sysfs-4node
long=a-guest-whose-name-is-much-longer-than-twenty-characters
start_fake_qemu "$long"
listed() { "$VTISMCTL" status --json | jq -e --arg n "$long" '.vms[] | select(.name == $n)' >/dev/null; }
wait_for 20 listed || fail "the long-named VM is not listed"

# JSON
json=$("$VTISMCTL" status --json)
jq -e --arg n "$long" '.schema_version == 1
        and (.nodes[0].cpus | type) == "array" and .nodes[0].cpus[0:2] == [0, 1] and (.nodes[0].cpus | length) == 32
        and .nodes[2].cpus == [] and (.nodes[0].demotion_targets | type) == "array"
        and ([.vms[] | select(.name == $n)][0] | .hot_bytes == null and .warm_bytes == null and .cold_bytes == null
             and (.sources | type) == "array" and .uuid == null and .cycles == 0)
        and .active_tracker == null and .last_reload_error == null' <<<"$json" >/dev/null \
        || fail "status --json conventions: $json"
jq -e '.schema_version == 1 and (.nodes | length) == 4' <<<"$("$VTISMCTL" nodes --json)" >/dev/null || fail "nodes --json"
jq -e --arg n "$long" '.schema_version == 1 and ([.vms[].name] | index($n)) != null' <<<"$("$VTISMCTL" vms --json)" \
        >/dev/null || fail "vms --json"
ok "JSON: schema_version 1, cpus and sources as arrays, null for unsampled heat and absent values"

# Tables: full cells when not on a terminal; the CPU lists line up.
out=$("$VTISMCTL" status)
grep -Eq '^   0  dram  memory-tier +4  0-15,32-47 +125.5 GiB' <<<"$out" || fail "node 0 row: $out"
grep -Eq '^   1  dram  memory-tier +4  16-31,48-63 +125.9 GiB' <<<"$out" || fail "node 1 row: $out"
grep -q "^$long " <<<"$out" || fail "long VM name cut although stdout is no terminal: $out"
col() { awk -v w="$1" '{ i = index($0, w); if (i) print i }' <<<"$2" | sort -u | wc -l; }
nodes=$(grep -E '^NODE|^ +[0-9]+  (dram|cxl)' <<<"$out")
[[ $(col " GiB  " "$nodes") -le 2 ]] || fail "node table columns do not line up: $nodes"
ok "tables: CPU lists and a $((${#long}))-character name whole, columns aligned"

# A terminal's width ($COLUMNS): the VM column gives way with an ellipsis, --full keeps it.
narrow=$(COLUMNS=100 LC_ALL=C.UTF-8 "$VTISMCTL" status)
row=$(grep "^a-g" <<<"$narrow")
[[ $row == *"…"* ]] || fail "no ellipsis at 100 columns: $narrow"
(($(LC_ALL=C.UTF-8 wc -L <<<"$row") <= 100)) || fail "VM row wider than 100 columns: $row"
COLUMNS=100 "$VTISMCTL" --full status | grep "^$long " >/dev/null || fail "--full still cut the name"
COLUMNS=100 LC_ALL=C "$VTISMCTL" status | grep '^a-g[a-z-]*\.\.\. ' >/dev/null || fail "no ASCII ellipsis in the C locale"
ok "at 100 columns the VM name ends in … (... in the C locale), --full keeps it whole"

# --no-legend: rows only.
"$VTISMCTL" --no-legend nodes | grep '^NODE' >/dev/null && fail "--no-legend nodes printed the header"
[[ $("$VTISMCTL" --no-legend nodes | grep -c 'dram\|cxl') -eq 4 ]] || fail "--no-legend nodes: $("$VTISMCTL" --no-legend nodes)"
output_has -E '^(ID|No VMs|[0-9]+ VMs? listed)' -- "$VTISMCTL" --no-legend vms && fail "--no-legend vms: header or footer"
"$VTISMCTL" --no-legend vms | grep " $long\$" >/dev/null || fail "--no-legend vms lacks the VM: $("$VTISMCTL" --no-legend vms)"
"$VTISMCTL" vms | grep '^ID  ' >/dev/null || fail "vms lacks its header"
ok "--no-legend drops headers and footers, keeps the rows"

# -H over ssh.
mkdir "$SCRATCH/bin"
cat >"$SCRATCH/bin/ssh" <<SH
#!/bin/sh
echo "\$*" >>"$SCRATCH/ssh.log"
shift 3   # -xT -- HOST; the rest runs "there": the bridge, to "that host's" system bus
exec "\$@" --bus-path="$DBUS_SYSTEM_BUS_ADDRESS"
SH
chmod +x "$SCRATCH/bin/ssh"
remote=$(env -u DBUS_SYSTEM_BUS_ADDRESS PATH="$SCRATCH/bin:$PATH" "$VTISMCTL" -H ops@cxl-host-7 status --json) \
        || fail "status -H: $remote"
jq -e '.mode == "tiering" and (.nodes | length) == 4' <<<"$remote" >/dev/null || fail "-H status: $remote"
grep -qx -- '-xT -- ops@cxl-host-7 systemd-stdio-bridge' "$SCRATCH/ssh.log" || fail "ssh invoked as: $(cat "$SCRATCH/ssh.log")"
m=$(env -u DBUS_SYSTEM_BUS_ADDRESS PATH="$SCRATCH/bin:$PATH" "$VTISMCTL" --host=ops@cxl-host-7 metrics) || fail "--host= metrics"
grep -q '^vtism_cycles_total ' <<<"$m" || fail "--host= metrics: $m"
# An unreachable host: a clear message, exit 3.
cat >"$SCRATCH/bin/ssh" <<'SH'
#!/bin/sh
echo "ssh: Could not resolve hostname $3" >&2
exit 255
SH
set +e
out=$(PATH="$SCRATCH/bin:$PATH" "$VTISMCTL" -H nowhere status 2>&1); rc=$?
set -e
[[ $rc -eq 3 && $out == *"cannot reach the system bus of nowhere"* ]] || fail "-H to an unreachable host: rc=$rc '$out'"
ok "-H USER@HOST talks to HOST's vtismd over 'ssh -xT -- USER@HOST systemd-stdio-bridge'; an unreachable one says so (exit 3)"
echo PASS
