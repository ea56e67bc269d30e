#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Runs INSIDE the lab (2 nodes: DRAM node 0, CPU-less "CXL" node 1; the patched kernel, tracker
# idle_pages): a libvirt domain paused for 30 s keeps its pages where they were and its heat, then
# is tiered again once resumed (issue 15, "a VM paused for 30 s keeps its pages where they were").
# A private libvirtd (tests/integration/lib-libvirt.sh, lab setup in lib/libvirt.sh) runs a TCG
# domain of 128 MiB booting vtguest (lab/workloads/guest: its hot window 16 MiB at guest-physical
# 16 MiB, written page by page); vtismd (the test's own, on a private bus) tiers it with a DRAM
# budget of 32 MiB. Ground truth: numa-where (a move_pages query of every guest page from outside)
# and the guest's serial markers.
#   1. tiered: within TIER_CYCLES of vtismd's cycles >= 95 % of the hot window is on DRAM and the
#      guest's DRAM use is within its budget + 4 MiB (QEMU put all of it on DRAM);
#   2. virsh suspend, 30 s: run_state "paused"; the pages per node of the hot window and of all
#      guest RAM are identical before and after, the hot window still >= 95 % on DRAM, its heat as
#      it was (hot/warm/cold bytes unchanged, not decayed by the cycles that ran meanwhile) and none
#      of its pages moved (pages_promoted, pages_demoted, migration_rounds unchanged) while vtismd
#      ran at least PAUSE_MIN_CYCLES cycles;
#   3. virsh resume: sampled again, and tiered: the guest moves its hot window to guest-physical
#      80 MiB (mailbox command 1, on CXL since step 1) and within RESUME_CYCLES >= 90 % of it is on
#      DRAM, promoted by vtismd (pages_promoted grows).
#   4. a live migration out to a second private libvirtd in the lab (libvirt_start_peer), too slow
#      to converge: run_state "migrating out"; its budget is halved (reload) meanwhile, and over
#      MIGRATING_CYCLES cycles nothing is sampled or moved (pages per node and counters identical);
#      virsh domjobabort: it runs here again and is demoted to its new budget (pages_demoted grows).
# Usage (through tests/lab/run, VTISM_SOURCE_ROOT and VTISM_BUILD_ROOT set): lab-lifecycle-inner.sh
set -euo pipefail

[[ ${VTISM_LAB:-} == 1 ]] || { echo "SKIP: run me through tests/lab/run (tests/lab/lab-lifecycle.sh)"; exit 77; }
# shellcheck source=lib/libvirt.sh
. "$VTISM_SOURCE_ROOT/tests/lab/lib/libvirt.sh"
# shellcheck source=../integration/lib-libvirt.sh
. "$VTISM_SOURCE_ROOT/tests/integration/lib-libvirt.sh"
libvirt_enter_namespace "$@"
# shellcheck source=../integration/lib.sh
. "$VTISM_SOURCE_ROOT/tests/integration/lib.sh"
need dbus-daemon jq

WHERE="$VTISM_BUILD_ROOT/tests/lab/workloads/numa-where"
GUEST_ELF="$VTISM_BUILD_ROOT/tests/lab/workloads/vtguest.elf"
[[ -x $WHERE && -r $GUEST_ELF ]] || skip "numa-where or vtguest.elf is not built"

MIB=$((1 << 20))
MEM=$((128 * MIB)) HOT_GPA=$((16 * MIB)) HOT=$((16 * MIB)) PHASE_GPA=$((80 * MIB)) BUDGET=$((32 * MIB))
INTERVAL_MS=2000
# Bounds in vtismd's cycles (counters.cycles). Tiering the fresh guest: its 96 MiB of cold pages
# are demoted once their heat is gone, at the lab's 10-25 MiB/s; the new window after the resume
# is promoted once it is hot. Measured at a host load average of ~17: tiered after 32 cycles,
# the moved window promoted after 17; bounds 80 and 40. Pausing 30 s at 2 s a cycle ran 36 cycles
# (the test's own reads take long there); 3 are enough to prove vtismd ran.
TIER_CYCLES=80 RESUME_CYCLES=40 PAUSE_SECONDS=30 PAUSE_MIN_CYCLES=3
# The live migration out (the destination listens on 127.0.0.1: libvirt's default, [::], needs
# IPv6, which the patched lab kernel lacks) is capped at 1 MiB/s while the guest rewrites its 16 MiB window a pass:
# it cannot converge, so it lasts until it is aborted; MIGRATING_CYCLES cycles are watched meanwhile.
MIGRATE_MIBPS=1 MIGRATING_CYCLES=5
LOG="$SCRATCH/vtismd.log"

lab_dump() {
        echo "--- vtismctl status ---"
        "$VTISMCTL" status --no-pager 2>&1 | head -n 40 || true
        [[ -z ${D:-} ]] || { echo "--- guest serial (tail) ---"; tail -n 10 "/var/log/libvirt/qemu/$D.serial" 2>/dev/null || true; }
        [[ -f $LOG ]] || return 0
        echo "--- vtismd log: run states and rounds ---"
        grep -E "paused|runs again|no longer tracked|promoted|demoted" "$LOG" | tail -n 20
        echo "--- vtismd log (tail) ---"
        tail -n 30 "$LOG"
}
libvirt_dump_logs_hook() { lab_dump; }
fail() { lv_fail "$@"; }
test_cleanup() {
        cleanup           # lib.sh: vtismd, dbus-daemon, notify recorder; removes $SCRATCH
        libvirt_cleanup   # lib-libvirt.sh: the domain, libvirtd, virtlogd, QEMU
}
trap test_cleanup EXIT

libvirt_private_dirs
T0=$SECONDS
start_bus strict
start_notify
libvirt_start_virtlogd
libvirt_start_libvirtd
ok "libvirtd up in $((SECONDS - T0)) s"

cat >"$SCRATCH/vtism.conf" <<CONF
global = {
  sample_interval_ms = $INTERVAL_MS;
  libvirt_uri = "qemu:///system";
  tracker = "idle_pages";
};
vm = ( { name = "vtism-lab-lc-*"; dram_budget = "$((BUDGET / MIB))M"; } );
CONF
start_vtismd "$SCRATCH/vtism.conf" --log-level=debug
wait_for 300 grep -qx READY=1 "$SCRATCH/notify.log" || fail "no READY=1 from vtismd"
wait_for 300 grep -q "Connected to libvirt at qemu:///system" "$LOG" || fail "vtismd did not connect to libvirtd"

# ---- helpers ----
status() { "$VTISMCTL" status --json; }
daemon_cycles() { status | jq -e .counters.cycles; }
vm_json() { status | jq -c --arg n "$D" '.vms[] | select(.name == $n)'; }
vm_is() { vm_json | jq -en "input | ($1)" >/dev/null; }
keys='{cycles, hot_bytes, warm_bytes, cold_bytes, migration_rounds, pages_promoted, pages_demoted}'

# probe: where the hot window (HOT_GPA, or the moved one) and all guest RAM are; PROBE_HOT0 (hot
# window pages on DRAM), PROBE_RAM0 (guest RAM pages on DRAM), PROBE_LINE (every count, the
# comparison key across the pause).
probe() {
        local gpa=${1:-$HOT_GPA} out hot ram
        out=$("$WHERE" "$QEMU_PID" $((RAM_HVA + gpa)) "$HOT" "$RAM_HVA" "$MEM") || fail "numa-where: $out"
        hot=$(sed -n 1p <<<"$out") ram=$(sed -n 2p <<<"$out")
        PROBE_HOT0=$(kv "$hot" node0) PROBE_RAM0=$(kv "$ram" node0)
        PROBE_LINE="window: node0=$PROBE_HOT0 node1=$(kv "$hot" node1) absent=$(kv "$hot" absent); RAM: node0=$PROBE_RAM0 node1=$(kv "$ram" node1) absent=$(kv "$ram" absent)"
}
kv() {
        local w
        for w in $1; do [[ $w == "$2="* ]] && { echo "${w#*=}"; return 0; }; done
        echo ""
}
mailbox() {
        printf "\\x$(printf %02x "$1")\\x00\\x00\\x00" |
                dd of="/proc/$QEMU_PID/mem" bs=1 seek=$((RAM_HVA + MAILBOX_GPA)) conv=notrunc status=none
}

# ---- the domain ----
D=vtism-lab-lc-$LV_ID
cp "$GUEST_ELF" "$LV_SCRATCH/vtguest.elf"
chmod 644 "$LV_SCRATCH/vtguest.elf"
cat >"$LV_SCRATCH/$D.xml" <<EOF
<domain type='qemu'>
  <name>$D</name>
  <memory unit='MiB'>$((MEM / MIB))</memory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$LV_SCRATCH/vtguest.elf</kernel>
    <cmdline>hot=$(printf 0x%x $HOT_GPA)+$(printf 0x%x $HOT) phase=$(printf 0x%x $PHASE_GPA) mode=write report=5</cmdline>
  </os>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <serial type='file'>
      <source path='/var/log/libvirt/qemu/$D.serial'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
libvirt_create "$D" "$LV_SCRATCH/$D.xml"
QEMU_PID=$LV_PID
SERIAL=/var/log/libvirt/qemu/$D.serial
wait_for 300 grep -q '^VTGUEST: ready' "$SERIAL" || fail "the guest did not say ready within 300 s: $(tail -n 5 "$SERIAL" 2>&1)"
MAILBOX_GPA=$(sed -n 's/^VTGUEST: ready .* mailbox=\(0x[0-9a-f]*\) .*/\1/p' "$SERIAL")
[[ -n $MAILBOX_GPA ]] || fail "cannot parse the guest's ready line: $(grep VTGUEST "$SERIAL")"
# Guest RAM: QEMU's anonymous mapping of exactly the guest's size.
RAM_HVA=""
while read -r range _ offset _ inode rest; do
        s=$((16#${range%-*})) e=$((16#${range#*-}))
        if ((e - s == MEM && inode == 0)) && [[ -z $rest && $offset == 00000000 ]]; then
                [[ -z $RAM_HVA ]] || fail "two mappings of $((MEM / MIB)) MiB in QEMU: $(printf 0x%x "$RAM_HVA") and 0x${range%-*}"
                RAM_HVA=$s
        fi
done <"/proc/$QEMU_PID/maps"
[[ -n $RAM_HVA ]] || fail "no anonymous mapping of $((MEM / MIB)) MiB in QEMU $QEMU_PID's maps"
ok "domain $D: QEMU pid $QEMU_PID, guest RAM at hva $(printf 0x%x "$RAM_HVA"), $(grep -m1 '^VTGUEST: ready' "$SERIAL")"
wait_for 300 vm_is '.state == "tracked" and .run_state == "running" and .cycles >= 1' || fail "$D not tracked: $(vm_json)"

# ---- 1. tiered ----
c0=$(daemon_cycles)
while :; do
        probe
        c=$(($(daemon_cycles) - c0))
        echo "  cycle +$c: $PROBE_LINE"
        ((PROBE_HOT0 * 100 >= HOT / 4096 * 95 && PROBE_RAM0 * 4096 <= BUDGET + 4 * MIB)) && break
        ((c < TIER_CYCLES)) || fail "not tiered within $TIER_CYCLES cycles: $PROBE_LINE; $(vm_json | jq -c "$keys")"
        sleep 2
done
ok "1. tiered after $c of vtismd's cycles (bound $TIER_CYCLES): $PROBE_LINE"

# ---- 2. paused for 30 s ----
virsh -q -c qemu:///system suspend "$D" >/dev/null || fail "virsh suspend $D"
wait_for 120 vm_is '.run_state == "paused"' || fail "$D not shown paused: $(vm_json)"
c=$(daemon_cycles)
wait_for 300 bash -c "(( \$('$VTISMCTL' status --json | jq -e .counters.cycles) >= $c + 2 ))" ||
        fail "vtismd did not run 2 cycles within 60 s"   # a round planned before the event may still finish
probe
before=$PROBE_LINE before_hot0=$PROBE_HOT0
vm_before=$(vm_json)
c_pause=$(daemon_cycles) t=$SECONDS
# Heat is hot or warm: a page reaches hot (128) after 6 sampled cycles in a row (+32 per access,
# 12 % decay), and on a loaded host step 1 can end 5 cycles in, the window still warm (CI, once).
jq -en 'input | (.hot_bytes + .warm_bytes > 0 and (.not_tiered // "" | startswith("paused")))' <<<"$vm_before" >/dev/null ||
        fail "$D paused: no heat (hot + warm) or not_tiered does not say paused: $vm_before"
sleep "$PAUSE_SECONDS"
probe
vm_after=$(vm_json)
ran=$(($(daemon_cycles) - c_pause))
echo "  paused $((SECONDS - t)) s, vtismd ran $ran cycles; before: $before; after: $PROBE_LINE"
echo "  counters before: $(jq -c "$keys" <<<"$vm_before"); after: $(jq -c "$keys" <<<"$vm_after")"
jq -en 'input | .run_state == "paused"' <<<"$vm_after" >/dev/null || fail "$D no longer paused: $vm_after"
((ran >= PAUSE_MIN_CYCLES)) || fail "vtismd ran only $ran cycles in $PAUSE_SECONDS s (want >= $PAUSE_MIN_CYCLES)"
[[ $PROBE_LINE == "$before" ]] || fail "pages moved while $D was paused: $before -> $PROBE_LINE"
((before_hot0 * 100 >= HOT / 4096 * 95)) || fail "the hot window is not on DRAM while paused: $before"
[[ $(jq -c "$keys" <<<"$vm_before") == "$(jq -c "$keys" <<<"$vm_after")" ]] ||
        fail "$D's heat or counters changed while paused: $(jq -c "$keys" <<<"$vm_before") -> $(jq -c "$keys" <<<"$vm_after")"
ok "2. paused $PAUSE_SECONDS s ($ran cycles): pages per node identical ($PROBE_LINE), heat kept ($(jq -c '{hot_bytes, warm_bytes, cold_bytes}' <<<"$vm_after")), no move"

# ---- 3. resumed: tiered again ----
c_vm=$(jq .cycles <<<"$vm_after") promoted=$(jq .pages_promoted <<<"$vm_after")
virsh -q -c qemu:///system resume "$D" >/dev/null || fail "virsh resume $D"
wait_for 300 vm_is ".run_state == \"running\" and .cycles > $c_vm" || fail "$D not sampled after resume: $(vm_json)"
phases=$(grep -c '^VTGUEST: phase' "$SERIAL" || true)
mailbox 1
wait_for 300 bash -c "(( \$(grep -c '^VTGUEST: phase' '$SERIAL') > $phases ))" || fail "the guest did not move its hot window (mailbox 1)"
probe "$PHASE_GPA"
echo "  window moved to $(printf 0x%x $PHASE_GPA): $PROBE_LINE"
c0=$(daemon_cycles)
while :; do
        probe "$PHASE_GPA"
        c=$(($(daemon_cycles) - c0))
        echo "  cycle +$c: $PROBE_LINE"
        ((PROBE_HOT0 * 100 >= HOT / 4096 * 90)) && break
        ((c < RESUME_CYCLES)) || fail "the moved window not on DRAM within $RESUME_CYCLES cycles after the resume: $PROBE_LINE; $(vm_json | jq -c "$keys")"
        sleep 2
done
now=$(vm_json)
(($(jq .pages_promoted <<<"$now") > promoted)) || fail "pages_promoted did not grow after the resume: $(jq -c "$keys" <<<"$now")"
ok "3. resumed: the moved window on DRAM after $c of vtismd's cycles (bound $RESUME_CYCLES): $PROBE_LINE; pages_promoted $promoted -> $(jq .pages_promoted <<<"$now")"

grep -E "VM $D \(pid $QEMU_PID\) is paused " "$LOG" >/dev/null || fail "no 'is paused' line"
grep -E "VM $D \(pid $QEMU_PID\) runs again \(was paused\)" "$LOG" >/dev/null || fail "no 'runs again (was paused)' line"

# ---- 4. migrating out: no move while the job runs, though the plan has a reason to ----
libvirt_start_peer
t=$SECONDS
virsh -q -c qemu:///system migrate --live --bandwidth "$MIGRATE_MIBPS" --dname "$D-b" "$D" "$LV_PEER_URI" \
        --migrateuri tcp://127.0.0.1 --listen-address 127.0.0.1 >"$SCRATCH/migrate.out" 2>&1 &
MIG_PID=$!
PIDS+=("$MIG_PID")
wait_for "$LV_CREATE_TIMEOUT" vm_is '.run_state == "migrating out" and (.not_tiered // "" | startswith("migrating out"))' ||
        fail "$D never shown migrating out: $(vm_json); virsh: $(cat "$SCRATCH/migrate.out")"
echo "  migrating out $((SECONDS - t)) s after virsh migrate ($(vm_json | jq -r .run_state_reason))"
c=$(daemon_cycles)
wait_for 300 bash -c "(( \$('$VTISMCTL' status --json | jq -e .counters.cycles) >= $c + 2 ))" ||
        fail "vtismd did not run 2 cycles within 60 s"   # a slice already running ends at once
probe
before=$PROBE_LINE vm_before=$(vm_json)
# The reason to move: its budget halves (32 -> 16 MiB), 16 MiB to demote once it may.
sed -i "s/dram_budget = \"$((BUDGET / MIB))M\"/dram_budget = \"$((BUDGET / 2 / MIB))M\"/" "$SCRATCH/vtism.conf"
from=$(wc -l <"$LOG")
kill -HUP "$VTISMD_PID"
wait_for 120 bash -c "tail -n +$((from + 1)) '$LOG' | grep -q 'Configuration reloaded.'" || fail "vtismd did not reload"
c=$(daemon_cycles)
wait_for 300 bash -c "(( \$('$VTISMCTL' status --json | jq -e .counters.cycles) >= $c + $MIGRATING_CYCLES ))" ||
        fail "vtismd did not run $MIGRATING_CYCLES cycles within 120 s"
probe
vm_after=$(vm_json)
kill -0 "$MIG_PID" 2>/dev/null && vm_is '.run_state == "migrating out"' ||
        fail "the migration ended before the check (at $MIGRATE_MIBPS MiB/s it should not converge): $(vm_json); virsh: $(cat "$SCRATCH/migrate.out")"
echo "  migrating out, $MIGRATING_CYCLES cycles with a budget of $((BUDGET / 2 / MIB)) MiB: before $before; after $PROBE_LINE"
echo "  counters before: $(jq -c "$keys" <<<"$vm_before"); after: $(jq -c "$keys" <<<"$vm_after")"
[[ $PROBE_LINE == "$before" ]] || fail "pages moved while $D was migrating out: $before -> $PROBE_LINE"
[[ $(jq -c "$keys" <<<"$vm_before") == "$(jq -c "$keys" <<<"$vm_after")" ]] ||
        fail "$D sampled or moved while migrating out: $(jq -c "$keys" <<<"$vm_before") -> $(jq -c "$keys" <<<"$vm_after")"
virsh -q -c qemu:///system domjobabort "$D" >/dev/null || fail "virsh domjobabort $D: $(cat "$SCRATCH/migrate.out")"
wait_for 300 bash -c "! kill -0 $MIG_PID 2>/dev/null" || fail "virsh migrate did not return after domjobabort"
rc=0
wait "$MIG_PID" || rc=$?
((rc != 0)) || fail "the aborted migration succeeded"
wait_for 300 vm_is '.run_state == "running"' || fail "$D not running after the aborted migration: $(vm_json)"
demoted=$(jq .pages_demoted <<<"$vm_after")
c0=$(daemon_cycles)
while :; do
        probe "$PHASE_GPA"
        c=$(($(daemon_cycles) - c0))
        echo "  cycle +$c after the abort: $PROBE_LINE"
        ((PROBE_RAM0 * 4096 <= BUDGET / 2 + 4 * MIB)) && break
        ((c < RESUME_CYCLES)) || fail "not within its new budget $RESUME_CYCLES cycles after the aborted migration: $PROBE_LINE; $(vm_json | jq -c "$keys")"
        sleep 2
done
now=$(vm_json)
(($(jq .pages_demoted <<<"$now") > demoted)) || fail "pages_demoted did not grow after the abort: $(jq -c "$keys" <<<"$now")"
ok "4. migrating out ($MIGRATING_CYCLES cycles, a budget halved meanwhile): nothing sampled or moved ($before); aborted: within its new budget after $c cycles (pages_demoted $demoted -> $(jq .pages_demoted <<<"$now"))"
libvirt_start_summary
ok "all done in $((SECONDS - T0)) s"
echo PASS
