#!/usr/bin/env bash
# VM discovery on this host with real processes: a plain QEMU (TCG) found by the /proc source with
# its name, UUID and guest RAM located, placement (residency) read with move_pages; a process
# named in the config's processes list; VMs that exit are dropped; vtismctl status/heatmap show
# them. (Sampling needs a tracker, which this host lacks: the lab tests cover that.)
# shellcheck disable=SC2034 # read by lib.sh
PRIVATE_PIDS=1   # vtismd on the real /proc: see only our own processes (lib.sh)
. "$(dirname "$0")/lib.sh"
need dbus-daemon jq qemu-system-x86_64
MEMHOG="$VTISM_BUILD_ROOT/tests/lab/workloads/memhog"
[[ -x $MEMHOG ]] || skip "memhog was not built"

start_bus
start_notify

uuid=0b5e1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d
qemu-system-x86_64 -accel tcg -m 96 -nographic -nodefaults -display none -S \
        -name guest=itest-vm,debug-threads=on -uuid "$uuid" >"$SCRATCH/qemu.log" 2>&1 &
qemu_pid=$!
PIDS+=("$qemu_pid")
"$MEMHOG" --size=48 --hot=8 --info="$SCRATCH/memhog.info" >"$SCRATCH/memhog.log" 2>&1 &
memhog_pid=$!
PIDS+=("$memhog_pid")
wait_for 10 test -s "$SCRATCH/memhog.info" || fail "memhog did not start"
# A configured process that has not mapped its memory yet (sleep has only the loader's and libc's
# few pages): listed as untrackable with that reason, no RAM size, not tracked on a stray mapping.
bash -c 'exec -a not-mapped-yet sleep 600' &
unmapped_pid=$!
PIDS+=("$unmapped_pid")
# One whose largest mapping is 64 TiB, reserved (MAP_NORESERVE, 0x4000; what an ASan process's
# shadow memory looks like): refused at once with why, not a heat map of 16 Gi pages built on the
# event loop.
python3 -c 'import mmap, time; m = mmap.mmap(-1, 64 << 40, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x4000); print("mapped", flush=True); time.sleep(600)' reserved-tib >"$SCRATCH/reserved.log" 2>&1 &
reserved_pid=$!
PIDS+=("$reserved_pid")
# python3 started in up to >10 s at a load average of 40 (nice 19): a budget far above that.
wait_for 90 grep -q mapped "$SCRATCH/reserved.log" || fail "could not reserve 64 TiB: $(cat "$SCRATCH/reserved.log")"

conf="$SCRATCH/vtism.conf"
cat >"$conf" <<CONF
global = {
  sample_interval_ms = 200;
  heat_range = "32M";
  libvirt_uri = "qemu+unix:///system?socket=$SCRATCH/no-libvirt-here";
};
processes = ( { exe = "*/memhog"; }, { cmdline = "not-mapped-yet *"; }, { cmdline = "* reserved-tib"; } );
vm = (
  { name = "itest-*"; dram_budget = "25%"; },
  { cmdline = "*memhog*"; dram_budget = "8M"; }
);
CONF
start_vtismd "$conf"
wait_for 10 grep -qx READY=1 "$SCRATCH/notify.log" || fail "no READY=1"

vm_json() { "$VTISMCTL" status --json | jq -c --arg n "$1" '.vms[] | select(.name == $n)'; }
vm_ready() { vm_json "$1" | jq -en 'input | (.ram_bytes > 0 and .residency_known)' >/dev/null; }
wait_for 15 vm_ready itest-vm || fail "QEMU VM not located: $("$VTISMCTL" status --json | jq -c .vms)"

j=$(vm_json itest-vm)
# Found in /proc only: its id is its pid (a command line's -uuid is only a claim), its uuid the claim.
jq -e --arg u "$uuid" --argjson p "$qemu_pid" '.id == "pid-\($p)" and .uuid == $u and .pid == $p and .sources == ["proc"]
        and .ram_bytes == 100663296 and .home_node == 0' <<<"$j" >/dev/null || fail "QEMU VM: $j"
# QEMU -S has not touched its RAM: whatever is resident is on node 0, the only node here.
jq -e '.dram_bytes <= .ram_bytes and .cxl_bytes == 0' <<<"$j" >/dev/null || fail "residency: $j"
jq -e '.state == "untrackable" and (.error | test("no access tracker"))' <<<"$j" >/dev/null \
        || fail "this host has no tracker; the VM must say so: $j"
ok "plain QEMU found: name, uuid, pid, 96 MiB of guest RAM, residency"

# Its policy: the name entry (line 8 of the config), 25% of 96 MiB resolved to bytes.
jq -e --arg p "$conf:8" '.policy == $p and .dram_budget_bytes == 25165824' <<<"$j" >/dev/null \
        || fail "policy of the QEMU VM: $j"
ok "QEMU VM: policy $conf:8, DRAM budget 24 MiB"

wait_for 10 vm_ready "memhog-$memhog_pid" || fail "memhog not found via processes: $("$VTISMCTL" status --json | jq -c .vms)"
j=$(vm_json "memhog-$memhog_pid")
jq -e '.ram_bytes == 50331648 and .dram_bytes == 50331648' <<<"$j" >/dev/null || fail "memhog: $j"
ok "configured process found; its 48 MiB mapping is resident on DRAM"
jq -e --arg p "$conf:9" '.policy == $p and .dram_budget_bytes == 8388608' <<<"$j" >/dev/null \
        || fail "policy of memhog (by cmdline): $j"
ok "memhog: policy by cmdline $conf:9, DRAM budget 8 MiB"

unmapped=not-mapped-yet-$unmapped_pid
wait_for 10 bash -c "\"$VTISMCTL\" status --json | jq -e '.vms[] | select(.name == \"$unmapped\")' >/dev/null" \
        || fail "the process without memory is not listed: $("$VTISMCTL" status --json | jq -c .vms)"
j=$(vm_json "$unmapped")
jq -en --argjson j "$j" '$j | .state == "untrackable" and .ram_bytes == null and .residency_known == false
        and (.error | test("^it has not mapped its memory yet: its largest anonymous private writable mapping is [0-9]+ KiB, less than 2 MiB$"))' \
        >/dev/null || fail "a process that has not mapped its memory: $j"
out=$("$VTISMCTL" status)
grep -Eq "^$unmapped +$unmapped_pid +- .* untrackable " <<<"$out" || fail "status row of $unmapped (RAM '-'): $out"
grep -q "^  $unmapped: it has not mapped its memory yet" <<<"$out" || fail "status lacks why $unmapped is untrackable: $out"
ok "a process that has not mapped its memory yet: untrackable, says so, RAM '-' (not 0)"

wait_for 10 bash -c "\"$VTISMCTL\" status --json | jq -e '.vms[] | select(.pid == $reserved_pid and .state == \"untrackable\")' >/dev/null" \
        || fail "the process with 64 TiB reserved is not listed as untrackable: $("$VTISMCTL" status --json | jq -c .vms)"
j=$("$VTISMCTL" status --json | jq -c --argjson p "$reserved_pid" '.vms[] | select(.pid == $p)')
jq -en --argjson j "$j" '$j | .ram_bytes == 70368744177664 and .residency_known == false
        and (.error | test("^its guest RAM \\(64 TiB\\) is more than 16 times this host.s memory \\([0-9.]+ [KMGT]iB\\): not tiered$"))' \
        >/dev/null || fail "a process with 64 TiB reserved: $j"
ok "a process whose largest mapping is 64 TiB (reserved): not tiered, says why"

out=$("$VTISMCTL" status)
grep -Eq '^itest-vm +[0-9]+ +96 MiB +24 MiB .* untrackable +'"$conf"':8$' <<<"$out" \
        || fail "status table lacks the VM, its budget or its policy: $out"
grep -q "itest-vm: no access tracker is usable on this host" <<<"$out" || fail "status lacks the reason"
output_has "3 guest-physical ranges of 32 MiB" -- "$VTISMCTL" heatmap itest-vm || fail "heatmap of itest-vm"
"$VTISMCTL" heatmap --json "$uuid" | jq -e '(.ranges | length) == 3 and .ranges[2].gpa == 67108864' >/dev/null \
        || fail "heatmap --json by uuid"
# Not sampled (no tracker here): its heat is unknown, not cold.
hm=$("$VTISMCTL" heatmap itest-vm)
grep -q '^heat strip, low GPA left: \[???\]' <<<"$hm" || fail "unsampled heat strip: $hm"
grep -Eq '^0x0 +32 MiB +- +- +- ' <<<"$hm" || fail "unsampled range row: $hm"
"$VTISMCTL" heatmap --json "$uuid" | jq -e '.schema_version == 1 and .cycles == 0 and .ranges[0].ram_bytes == 33554432
        and .ranges[0].hot_bytes == null and .ranges[0].cold_bytes == null and .ranges[0].heat_buckets_pages == null' >/dev/null \
        || fail "unsampled heatmap --json: $("$VTISMCTL" heatmap --json "$uuid")"
set +e
out=$("$VTISMCTL" heatmap no-such-vm 2>&1); rc=$?
set -e
[[ $rc -eq 1 && $out == *"No VM 'no-such-vm'"* ]] || fail "heatmap of an unknown VM: rc=$rc $out"
ok "vtismctl heatmap by name, UUID and for an unknown VM"

kill "$qemu_pid"
wait_for 10 bash -c "! \"$VTISMCTL\" status --json | jq -e '.vms[] | select(.name == \"itest-vm\")' >/dev/null" \
        || fail "exited VM still listed"
grep -q "VM itest-vm (pid $qemu_pid) .*no longer tracked" "$SCRATCH/vtismd.log" || fail "no log line for the VM's exit"
kill -0 "$VTISMD_PID" || fail "vtismd died"
ok "an exiting VM is dropped cleanly"

# A reload that changes the histogram ranges starts heat maps over, keeps the VMs; the policy
# follows the new file (the cmdline entry no longer matches: the built-in default, 100%).
sed -i -e 's/heat_range = "32M"/heat_range = "16M"/' -e 's/\*memhog\*/*no-such-process*/' "$conf"
"$VTISMCTL" reload >/dev/null
wait_for 10 bash -c "\"$VTISMCTL\" heatmap --json memhog-$memhog_pid | jq -e '.range_bytes == 16777216' >/dev/null" \
        || fail "new heat range not applied"
ok "reload applies the new heat range"
j=$(vm_json "memhog-$memhog_pid")
jq -e '.policy == "default" and .dram_budget_bytes == .ram_bytes' <<<"$j" >/dev/null \
        || fail "policy after the reload: $j"
grep -q "VM memhog-$memhog_pid: policy default, DRAM budget 100% of guest RAM" "$SCRATCH/vtismd.log" \
        || fail "no log line for the new policy"
ok "reload: memhog's policy follows (default, 100%)"

kill -TERM "$VTISMD_PID"; wait "$VTISMD_PID" || fail "exit status"
echo PASS
