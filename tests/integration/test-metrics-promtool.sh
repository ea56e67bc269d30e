#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Metrics for a fleet: 'vtismctl metrics' and vtismd's global.metrics_textfile, judged by
# Prometheus' own promtool (Debian's prometheus package), for a tiering host (the lab's two-node
# sysfs) with a real QEMU: the series vtismctl status shows are there with the right labels,
# unknown values have no sample, every counter is monotonic across cycles and a reload, the file
# is replaced atomically (no reader ever sees half of it), is off by default and removed when
# turned off, and vtismd listens on no network socket.
# shellcheck disable=SC2034 # read by lib.sh
PRIVATE_PIDS=1   # vtismd on the real /proc: see only our own processes (lib.sh)
. "$(dirname "$0")/lib.sh"
need dbus-daemon jq promtool qemu-system-x86_64 setpriv

start_bus
start_notify

uuid=5d6e7f80-1a2b-4c3d-8e9f-0a1b2c3d4e5f
qemu-system-x86_64 -accel tcg -m 64 -nographic -nodefaults -display none -S \
        -name guest=metrics-vm -uuid "$uuid" >"$SCRATCH/qemu.log" 2>&1 &
PIDS+=($!)

mkdir "$SCRATCH/textfile"
prom="$SCRATCH/textfile/vtism.prom"
conf="$SCRATCH/vtism.conf"
write_conf() {
        cat >"$conf" <<CONF
global = {
  sample_interval_ms = 200;
  libvirt_uri = "qemu+unix:///system?socket=$SCRATCH/no-libvirt-here";
  $1
};
CONF
}

# Off by default: no file appears.
write_conf ""
start_vtismd "$conf" --sysfs-root="$VTISM_TEST_DATA/sysfs-lab2"
wait_for 10 grep -qx READY=1 "$SCRATCH/notify.log" || fail "no READY=1"
cycles() { "$VTISMCTL" status --json | jq .counters.cycles; }
cycles_above() { (($(cycles) > $1)); }
c0=$(cycles)
wait_for 10 cycles_above $((c0 + 2)) || fail "cycles do not advance"
[[ -z $(ls -A "$SCRATCH/textfile") ]] || fail "metrics file written without global.metrics_textfile: $(ls -A "$SCRATCH/textfile")"
ok "no metrics file by default"

# Turned on by a reload.
write_conf "metrics_textfile = \"$prom\";"
"$VTISMCTL" reload >/dev/null
wait_for 10 test -s "$prom" || fail "no $prom after the reload: $(tail -5 "$SCRATCH/vtismd.log")"
vm_located() { "$VTISMCTL" status --json | jq -e --arg u "$uuid" '.vms[] | select(.uuid == $u and .ram_bytes > 0 and .state == "untrackable")' >/dev/null; }
wait_for 15 vm_located || fail "metrics-vm not located: $("$VTISMCTL" status --json | jq -c .vms)"
# Found in /proc only, so its id is pid-based (its -uuid is a claim, shown as uuid).
id=$("$VTISMCTL" status --json | jq -r --arg u "$uuid" '.vms[] | select(.uuid == $u) | .id')

# promtool: both outputs are valid exposition, with no lint complaint.
"$VTISMCTL" metrics >"$SCRATCH/m.txt" || fail "vtismctl metrics failed"
promtool check metrics <"$SCRATCH/m.txt" >"$SCRATCH/promtool.out" 2>&1 \
        || fail "promtool on vtismctl metrics: $(cat "$SCRATCH/promtool.out")"
[[ ! -s $SCRATCH/promtool.out ]] || fail "promtool lint on vtismctl metrics: $(cat "$SCRATCH/promtool.out")"
cp "$prom" "$SCRATCH/file.txt"
promtool check metrics <"$SCRATCH/file.txt" >"$SCRATCH/promtool.out" 2>&1 \
        || fail "promtool on the textfile: $(cat "$SCRATCH/promtool.out")"
[[ ! -s $SCRATCH/promtool.out ]] || fail "promtool lint on the textfile: $(cat "$SCRATCH/promtool.out")"
as_nobody "$VTISMCTL" metrics >"$SCRATCH/m-nobody.txt" || fail "vtismctl metrics as nobody"
grep -q '^vtism_cycles_total ' "$SCRATCH/m-nobody.txt" || fail "metrics as nobody: $(cat "$SCRATCH/m-nobody.txt")"
ok "promtool check metrics: vtismctl metrics ($(grep -vc '^#' "$SCRATCH/m.txt") samples) and the textfile are clean"

# What status knows is there, labelled; what it does not know has no sample.
has() { grep -qxF "$1" "$SCRATCH/m.txt" || fail "no line '$1' in: $(cat "$SCRATCH/m.txt")"; }
has 'vtism_mode{mode="tiering"} 1'
has 'vtism_node_size_bytes{node="0",tier="dram"} 1038602240'
grep -Eq '^vtism_node_free_bytes\{node="1",tier="cxl"\} [0-9]+$' "$SCRATCH/m.txt" || fail "node 1 free bytes"
has "vtism_vm_ram_bytes{id=\"$id\",name=\"metrics-vm\"} 67108864"
has "vtism_vm_state{id=\"$id\",name=\"metrics-vm\",state=\"untrackable\"} 1"
has "vtism_vm_dram_budget_bytes{id=\"$id\",name=\"metrics-vm\"} 67108864"
! grep -q "^vtism_vm_hot_bytes{id=\"$id\"" "$SCRATCH/m.txt" || fail "an unsampled VM has a hot_bytes sample"
grep -Eq '^vtism_cycles_total [0-9]+$' "$SCRATCH/m.txt" || fail "no vtism_cycles_total"
has 'vtism_reloads_total 1'
has 'vtism_tracker_usable{tracker="idle_pages"} 0'
# The same numbers as status --json, field by field for the VM.
json=$("$VTISMCTL" status --json)
jq -e --arg u "$id" '.vms[] | select(.id == $u) | .hot_bytes == null and .state == "untrackable"' <<<"$json" >/dev/null \
        || fail "status --json of the VM: $json"
ok "node, VM, tracker and daemon series labelled as status shows them; unknown heat has no sample"

# Every counter, per series and per source, never goes down: over cycles, a good and a bad reload.
# (The live output and the textfile are compared each with itself: the file is written at the end
# of a cycle, and placement queries go on between cycles, so it may be behind the live value.)
declare -A last
check_counters() {   # FILE SOURCE
        local value key n=0 src=$2
        # counter families from the TYPE lines, then their samples
        while read -r key value; do
                if [[ -n ${last[$src:$key]:-} ]] && awk -v a="$value" -v b="${last[$src:$key]}" 'BEGIN { exit !(a < b) }'; then
                        fail "counter $key went down in $src: ${last[$src:$key]} -> $value"
                fi
                last[$src:$key]=$value
                n=$((n + 1))
        done < <(awk '$1 == "#" && $2 == "TYPE" && $4 == "counter" { c[$3] = 1; next }
                      /^#/ { next }
                      { name = $1; sub(/\{.*/, "", name); if (name in c) print $1, $2 }' "$1")
        ((n > 0)) || fail "no counter samples in $1"
}
for i in 1 2 3 4 5 6; do
        "$VTISMCTL" metrics >"$SCRATCH/m$i.txt"
        check_counters "$SCRATCH/m$i.txt" "vtismctl metrics"
        check_counters "$prom" "the textfile"
        if ((i == 3)); then "$VTISMCTL" reload >/dev/null; fi
        if ((i == 4)); then
                echo 'global = { sample_interval_ms = 200; bogus = 1; };' >"$conf"
                "$VTISMCTL" reload >/dev/null 2>&1 && fail "a bad config was accepted"
                write_conf "metrics_textfile = \"$prom\";"
        fi
        c=$(cycles)
        wait_for 10 cycles_above "$c" || fail "cycles stopped"
done
grep -qx 'vtism_reload_failures_total 1' "$SCRATCH/m6.txt" || fail "reload failure not counted: $(grep reload "$SCRATCH/m6.txt")"
grep -qx 'vtism_last_reload_failed 1' "$SCRATCH/m6.txt" || fail "last reload failure not shown"
((${#last[@]} >= 20)) || fail "only ${#last[@]} counter series (both sources)"
ok "$((${#last[@]} / 2)) counter series monotonic, live and in the textfile, over 6 snapshots, a reload and a failed reload"

# Atomic replacement: a reader never sees a partial file, and no temporary file is left.
for ((i = 0; i < 300; i++)); do
        content=$(<"$prom")
        [[ $content == *"# TYPE vtism_build_info gauge"* && $content == *'vtism_tracker_usable{tracker="'*'"} '[01] ]] \
                || fail "read $i saw a partial metrics file: $content"
done
ok "300 reads while vtismd rewrites the file every 200 ms: always whole"

# No network listener: every socket vtismd holds is AF_UNIX.
inodes=$(find "/proc/$VTISMD_PID/fd" -lname 'socket:*' -printf '%l\n' | sed 's/socket:\[\(.*\)\]/\1/')
[[ -n $inodes ]] || fail "vtismd holds no sockets at all?"
for ino in $inodes; do
        if awk -v i="$ino" 'FNR > 1 && $10 == i { found = 1 } END { exit !found }' \
                /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 2>/dev/null; then
                fail "vtismd has an IP socket (inode $ino)"
        fi
done
ok "vtismd holds $(wc -w <<<"$inodes") socket(s), none of them TCP or UDP"

# Turned off again: the file goes, nothing stale is left to scrape.
write_conf ""
"$VTISMCTL" reload >/dev/null
wait_for 5 test ! -e "$prom" || fail "metrics file left after turning it off"
[[ -z $(ls -A "$SCRATCH/textfile") ]] || fail "left in the directory: $(ls -A "$SCRATCH/textfile")"
ok "turning it off removes the file"

kill -TERM "$VTISMD_PID"; wait "$VTISMD_PID" || fail "exit status on SIGTERM"
echo PASS
