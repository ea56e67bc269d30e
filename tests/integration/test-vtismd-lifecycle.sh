#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# A VM's lifecycle as vtismd follows it (vtismd(8), "VM lifecycle"), against two real private
# libvirtds with a TCG domain and real live migrations between them:
#   1. migrated in: the domain is started on libvirtd A and live-migrated to libvirtd B, which
#      vtismd watches. While the migration stream writes it, vtismd shows it "migrating in",
#      neither samples nor moves it; once it runs on B it starts fresh (a new heat map: its
#      cycle counter starts again from 0);
#   2. paused (virsh suspend) for a while: run_state "paused", not_tiered says why, the plan
#      freezes it with that reason, its heat is kept (no cycle sampled, hot/warm/cold bytes as
#      they were) and none of its pages is moved (its migration counters stand still); resumed:
#      sampled and tiered again;
#   3. migrating out, cancelled: a slow live migration from B back to A is seen as "migrating out"
#      (libvirt's migration job, from the migration-iteration event or the job poll), nothing is
#      sampled or moved meanwhile; virsh domjobabort ends it and the VM is tiered again, its heat
#      kept, without any lifecycle event from libvirt (the job poll notices);
#   4. migrated out: the same migration to the end: the VM is forgotten at once ("migrated away;
#      no longer tracked");
#   5. stopped: a second domain destroyed on B is forgotten at once.
#
# vtismd runs in B's mount namespace (lv_in_peer) with libvirt_uri qemu:///system, so it reads
# B's QEMU pid files; the bus and vtismctl are the test's. The topology is the DRAM+CXL fixture
# tests/data/sysfs-lab2 (tiering mode, so not_tiered has its lifecycle reasons to give) with a
# scratch page_idle "bitmap" (tracker page_idle, as in test-vtismd-libvirt: the heat is
# meaningless, the cycles are real). Pages cannot really move on this one-node host (every QEMU
# may use node 0 only: not_tiered says so while the VM runs); moves stopping for a VM that is not
# running is the plan's frozen VM (test-plan) and the lab's business. What this test proves is
# libvirt's word reaching the plan, the heat map and the bus. vtismd logs with --log-target=journal
# to a recorder on B's /run/systemd/journal/socket, so that every lifecycle entry is checked for its
# MESSAGE_ID and fields (message-ids.h, vtismd(8) LOGGING) as journald would store them.
#
# The domain carries 32 MiB of random bytes (QEMU's loader device) and the migrations are capped
# at 4 MiB/s, so each one takes ~8 s: long enough to be seen, short enough for CI (the one that is
# aborted at 1 MiB/s: ~35 s, so the abort comes before its end however slow the checks are). Budgets from
# measured worst cases: a TCG domain start up to ~45 s on a loaded 2-core machine (issue 17),
# a migration ~8 s idle; every wait polls. Only processes started here are stopped, by PID.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/integration/lib-libvirt.sh
source "$HERE/lib-libvirt.sh"
libvirt_enter_namespace "$@"
# shellcheck source=tests/integration/lib.sh
source "$HERE/lib.sh"
need dbus-daemon jq nsenter

LOG="$SCRATCH/journal.log"   # vtismd's journal entries (start_journal): FIELD=value lines, "--" after each
MIGRATE_TIMEOUT=${MIGRATE_TIMEOUT:-180}

lv_dump_vtismd() {
        [[ ! -s $SCRATCH/vtismd.log ]] || { echo "--- vtismd's stderr ---"; tail -n 20 "$SCRATCH/vtismd.log"; }
        [[ -f $LOG ]] || return 0
        echo "--- vtismd journal: run states ---"
        grep -E "^MESSAGE=.*(migrat|paused|runs again|started: pid|running:|: running\.|no longer tracked)" "$LOG" | tail -n 30
        echo "--- vtismd journal: messages (tail) ---"
        grep "^MESSAGE=" "$LOG" | tail -n 40
        [[ ! -s $SCRATCH/poll.log ]] || { echo "--- status polls (tail) ---"; tail -n 20 "$SCRATCH/poll.log"; }
}
libvirt_dump_logs_hook() { lv_dump_vtismd; }

fail() { lv_fail "$@"; }   # lib-libvirt.sh: the message, then libvirtd's, QEMU's and vtismd's logs

test_cleanup() {
        cleanup           # lib.sh: vtismd, dbus-daemon, notify recorder; removes $SCRATCH
        libvirt_cleanup   # lib-libvirt.sh: domains of both libvirtds, libvirtd, virtlogd, QEMUs
}
trap test_cleanup EXIT

libvirt_private_dirs

# ---- helpers ----

A_URI=qemu:///system   # the test's own libvirtd
status() { "$VTISMCTL" status --json; }
vm_json() { status | jq -c --arg u "$1" '.vms[] | select(.uuid == $u and (.sources | index("libvirt")))'; }
vm_gone() { status >/dev/null && [[ -z $(vm_json "$1") ]]; }
# vm_is UUID JQ-PREDICATE
vm_is() { vm_json "$1" | jq -en "input | ($2)" >/dev/null; }
vm_field() { vm_json "$1" | jq -r "$2"; }
log_since() { tail -n "+$(($1 + 1))" "$LOG" | grep -E -- "$2"; }
log_lines() { wc -l <"$LOG"; }
# entry_has ERE FIELD=VALUE...: the last journal entry whose message matches ERE has these fields
# (FIELD=PREFIX* : a value starting with PREFIX).
entry_has() {
        local e f l ok
        e=$(journal_entry "$LOG" "$1") || fail "no journal entry for '$1'"
        shift
        for f in "$@"; do
                ok=""
                while IFS= read -r l; do
                        if [[ $f == *\* ]]; then [[ $l == "${f%\*}"* ]] && ok=1; else [[ $l == "$f" ]] && ok=1; fi
                done <<<"$e"
                [[ -n $ok ]] || fail "journal entry without $f: $(tr '\n' ' ' <<<"$e")"
        done
}
ID_PAUSED=$(message_id VM_PAUSED) ID_RESUMED=$(message_id VM_RESUMED)
ID_MIGRATING_OUT=$(message_id VM_MIGRATING_OUT) ID_ABORTED=$(message_id VM_MIGRATION_ABORTED)
ID_MIGRATING_IN=$(message_id VM_MIGRATING_IN) ID_MIGRATED_IN=$(message_id VM_MIGRATED_IN)
ID_LOST=$(message_id VM_LOST)
vtismd_alive() { kill -0 "$VTISMD_PID" 2>/dev/null || fail "vtismd died"; }
# Cycles vtismd ran (its own counter), to wait for a number of cycles rather than for a time.
daemon_cycles() { status | jq -e '.counters.cycles'; }
wait_cycles() {
        local want=$(($(daemon_cycles) + $1))
        wait_for 60 bash -c "(( \$('$VTISMCTL' status --json | jq -e .counters.cycles) >= $want ))" ||
                fail "vtismd did not run $1 cycles within 60 s"
}

# domain_xml NAME UUID: libvirt_domain_xml plus 32 MiB of random bytes at 16 MiB (QEMU's loader
# device: the migration has something to send, so it lasts).
domain_xml() {
        libvirt_domain_xml "$1" "$2" |
                sed -e "s|<domain type='qemu'>|<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>|" \
                    -e "s|</devices>|</devices><qemu:commandline><qemu:arg value='-device'/><qemu:arg value='loader,file=$LV_SCRATCH/fill.bin,addr=0x1000000'/></qemu:commandline>|"
}

# migrate FROM_URI TO_URI NAME NEW_NAME [MIB_PER_S]: start a live migration in the background (4 MiB/s
# unless told, over 127.0.0.1), renamed on the way so that the two libvirtds' cgroups
# (machine/qemu-ID-NAME) differ; $MIG_PID is virsh's.
migrate() {
        virsh -q -c "$1" migrate --live --bandwidth "${5:-4}" --dname "$4" "$3" "$2" --migrateuri tcp://127.0.0.1 \
                >"$SCRATCH/migrate.out" 2>&1 &
        MIG_PID=$!
}
# poll_start UUID: record "RUN_STATE CYCLES" of the VM (or ABSENT) as fast as vtismctl answers, in
# $SCRATCH/poll.log, until poll_stop: a state that lasts a few seconds is seen however slow one
# status call is on a loaded machine.
poll_start() {
        : >"$SCRATCH/poll.log"
        (
                while :; do
                        "$VTISMCTL" status --json 2>/dev/null | jq -r --arg u "$1" \
                                '[.vms[] | select(.uuid == $u and (.sources | index("libvirt")))] |
                                 if length == 1 then "\(.[0].run_state) \(.[0].cycles)" else "ABSENT" end' || echo ERROR
                done
        ) >>"$SCRATCH/poll.log" 2>&1 &
        POLL_PID=$!
        PIDS+=("$POLL_PID")
}
poll_stop() {
        kill "$POLL_PID" 2>/dev/null || true
        wait "$POLL_PID" 2>/dev/null || true
}
polled() { grep -q -x -E -- "$1" "$SCRATCH/poll.log"; }

migrate_wait() {
        local rc=0
        wait_for "$MIGRATE_TIMEOUT" bash -c "! kill -0 $MIG_PID 2>/dev/null" ||
                fail "virsh migrate did not return within $MIGRATE_TIMEOUT s"
        wait "$MIG_PID" || rc=$?
        MIG_RC=$rc
}

# ---- setup: both libvirtds, bus, vtismd in B's namespace ----

T0=$SECONDS
head -c 32M /dev/urandom >"$LV_SCRATCH/fill.bin"
chmod 644 "$LV_SCRATCH/fill.bin"
start_bus strict
start_notify
libvirt_start_virtlogd
libvirt_start_libvirtd
libvirt_start_peer
B_URI=$LV_PEER_URI
start_journal "$LV_PEER/run/systemd/journal/socket" "$LOG"   # B's /run is $LV_PEER/run
ok "two private libvirtds up in $((SECONDS - T0)) s"

SYSFS="$SCRATCH/sysfs"
cp -a "$VTISM_SOURCE_ROOT/tests/data/sysfs-lab2" "$SYSFS"
mkdir -p "$SYSFS/kernel/mm/page_idle"
truncate -s 64M "$SYSFS/kernel/mm/page_idle/bitmap"

conf="$SCRATCH/vtism.conf"
cat >"$conf" <<CONF
global = {
  sample_interval_ms = 200;
  heat_range = "32M";
  libvirt_uri = "qemu:///system";
  tracker = "page_idle";
  qemu_users = [ "root" ];
};
vm = ( { name = "vtism-lc-*"; dram_budget = "16M"; } );
CONF
# As start_vtismd (lib.sh), in B's mount namespace: nsenter execs vtismd, so $! is its pid (not
# through lv_in_peer: a shell function in the background is a subshell of its own).
NOTIFY_SOCKET="$SCRATCH/notify.sock" WATCHDOG_USEC=400000 \
        nsenter --mount="/proc/$LV_PEER_NS_PID/ns/mnt" -- "$VTISMD" --log-target=journal --config="$conf" --sysfs-root="$SYSFS" --log-level=debug >>"$SCRATCH/vtismd.log" 2>&1 &
VTISMD_PID=$!
PIDS+=("$VTISMD_PID")
wait_for 10 grep -qx READY=1 "$SCRATCH/notify.log" || fail "no READY=1"
wait_for 30 grep -q "Connected to libvirt at qemu:///system, 0 VMs running." "$LOG" || fail "vtismd did not connect to libvirtd B"
jq -en 'input | (.mode == "tiering" and .tracker == "page_idle")' <<<"$(status)" >/dev/null ||
        fail "status: $(status | jq -c 'del(.nodes)')"
ok "vtismd in B's namespace, connected to libvirtd B, tiering mode, tracker page_idle"

# ---- 1. migrated in ----
D=vtism-lc-$LV_ID-a
D_UUID=$(cat /proc/sys/kernel/random/uuid)
domain_xml "$D" "$D_UUID" >"$LV_SCRATCH/$D.xml"
libvirt_create "$D" "$LV_SCRATCH/$D.xml"
from=$(log_lines)
DB=vtism-lc-$LV_ID-b
poll_start "$D_UUID"
migrate "$A_URI" "$B_URI" "$D" "$DB"
# not_tiered is set by the next placement pass after the event (it may still hold an older
# reason, or none for a VM just found): wait for it to name the run state too.
migrating_in_or_done() { vm_is "$D_UUID" '.run_state == "migrating in" and (.not_tiered // "" | startswith("migrating in"))' || ! kill -0 "$MIG_PID" 2>/dev/null; }
wait_for "$MIGRATE_TIMEOUT" migrating_in_or_done || true
j=$(vm_json "$D_UUID")
jq -en 'input | (.run_state == "migrating in" and (.not_tiered // "" | startswith("migrating in")))' <<<"$j" >/dev/null || j=""
migrate_wait
poll_stop
((MIG_RC == 0)) || fail "migration A -> B failed ($MIG_RC): $(cat "$SCRATCH/migrate.out")"
polled "migrating in 0" || fail "$DB never shown migrating in with 0 cycles sampled: polls $(sort "$SCRATCH/poll.log" | uniq -c | tr '\n' ' ')"
if [[ -n $j ]]; then
        jq -en 'input | (.run_state_reason == "libvirt: incoming migration" and (.not_tiered | startswith("migrating in (libvirt: incoming migration): not sampled or moved")) and .cycles == 0)' <<<"$j" >/dev/null ||
                fail "$DB while migrating in: $j"
fi
DB_PID=$(lv_in_peer cat "/run/libvirt/qemu/$DB.pid")
LV_EXTRA_PIDS+=("$DB_PID")
wait_for 30 vm_is "$D_UUID" '.run_state == "running" and .state == "tracked" and .cycles > 0' ||
        fail "$DB not tracked after the migration: $(vm_json "$D_UUID")"
line=$(log_since "$from" "VM $DB \(pid $DB_PID\) runs again \(was migrating in\)") || fail "no 'runs again' line for $DB"
[[ $line == *": migrated in, its heat starts fresh." ]] || fail "migrated in: '$line'"
log_since "$from" "VM $DB \(pid $DB_PID\) is being migrated in \(libvirt: incoming migration\)" >/dev/null ||
        fail "no 'is being migrated in' line for $DB"
# The heat map is built once it runs (the line comes after "runs again"), not kept from before.
tail -n "+$(($(grep -n -m1 -E "VM $DB \(pid $DB_PID\) runs again" "$LOG" | cut -d: -f1) + 1))" "$LOG" |
        grep -E "VM $DB: 1 guest RAM range, 128 MiB, .*tracker page_idle\." >/dev/null || fail "$DB got no new heat map once it ran"
entry_has "VM $DB \(pid $DB_PID\) is being migrated in " "MESSAGE_ID=$ID_MIGRATING_IN" "VTISM_VM=$D_UUID" "VTISM_VM_NAME=$DB" \
        "VTISM_RUN_STATE=migrating in" "VTISM_RUN_STATE_REASON=libvirt: incoming migration" "PRIORITY=6"
entry_has "VM $DB \(pid $DB_PID\) runs again \(was migrating in\)" "MESSAGE_ID=$ID_MIGRATED_IN" "VTISM_VM=$D_UUID" "VTISM_RUN_STATE=running"
ok "1. migrated in from A: shown 'migrating in' with cycles 0 (not sampled), then running and tracked with a fresh heat map ('${line##*: }')"

# ---- 2. paused ----
wait_cycles 5
from=$(log_lines)
virsh -q -c "$B_URI" suspend "$DB" >/dev/null
wait_for 10 vm_is "$D_UUID" '.run_state == "paused"' || fail "$DB not shown paused: $(vm_json "$D_UUID")"
wait_cycles 2   # a cycle that was running when the event came may still have sampled
before=$(vm_json "$D_UUID")
jq -en 'input | (.run_state_reason == "libvirt: paused (user)" and .not_tiered == "paused (libvirt: paused (user)): its heat is kept as it was and its pages stay where they are")' <<<"$before" >/dev/null ||
        fail "$DB paused: $before"
plan=$("$VTISMCTL" plan --json "$D_UUID")
jq -en 'input | (.frozen and (.reason | contains("paused (libvirt: paused (user))")))' <<<"$plan" >/dev/null ||
        fail "the plan of paused $DB: $plan"
wait_cycles 15  # 3 s at 200 ms
after=$(vm_json "$D_UUID")
keys='{cycles, hot_bytes, warm_bytes, cold_bytes, migration_rounds, pages_promoted, pages_demoted, pages_failed, pages_would_move}'
[[ $(jq -c "$keys" <<<"$before") == "$(jq -c "$keys" <<<"$after")" ]] ||
        fail "$DB changed while paused: $(jq -c "$keys" <<<"$before") -> $(jq -c "$keys" <<<"$after")"
log_since "$from" "VM $DB \(pid $DB_PID\) is paused \(libvirt: paused \(user\)\): not sampled, its heat is kept and its pages stay where they are\." >/dev/null ||
        fail "no 'is paused' line for $DB"
"$VTISMCTL" status --no-pager | grep -E "^  $DB: not tiered: paused \(libvirt: paused \(user\)\)" >/dev/null ||
        fail "vtismctl status does not say why $DB is not tiered: $("$VTISMCTL" status --no-pager)"
c_paused=$(jq .cycles <<<"$after")
virsh -q -c "$B_URI" resume "$DB" >/dev/null
wait_for 10 vm_is "$D_UUID" ".run_state == \"running\" and .cycles > $c_paused" || fail "$DB not sampled after resume: $(vm_json "$D_UUID")"
vm_is "$D_UUID" '.run_state_reason == null and (.not_tiered // "" | startswith("paused") | not)' || fail "$DB after resume: $(vm_json "$D_UUID")"
log_since "$from" "VM $DB \(pid $DB_PID\) runs again \(was paused\)\." >/dev/null || fail "no 'runs again (was paused)' line"
entry_has "VM $DB \(pid $DB_PID\) is paused " "MESSAGE_ID=$ID_PAUSED" "VTISM_VM=$D_UUID" "VTISM_RUN_STATE=paused" \
        "VTISM_RUN_STATE_REASON=libvirt: paused (user)"
entry_has "VM $DB \(pid $DB_PID\) runs again \(was paused\)" "MESSAGE_ID=$ID_RESUMED" "VTISM_VM=$D_UUID" "VTISM_RUN_STATE=running"
ok "2. paused for 15 cycles: run_state paused, not_tiered and the plan say why, heat and migration counters unchanged ($(jq -c "$keys" <<<"$after")); resumed: sampled again"

# ---- 3. migrating out, cancelled ----
wait_cycles 3
from=$(log_lines)
DA=vtism-lc-$LV_ID-c
# At 1 MiB/s (~35 s): under ASan on a loaded machine, seeing "migrating out" and the checks below
# took longer than the ~8 s of a 4 MiB/s migration, which then ended before the abort.
migrate "$B_URI" "$A_URI" "$DB" "$DA" 1
wait_for 60 vm_is "$D_UUID" '.run_state == "migrating out" and (.not_tiered // "" | startswith("migrating out"))' ||
        fail "$DB never shown migrating out (or not_tiered not set by a placement pass): $(vm_json "$D_UUID"); virsh: $(cat "$SCRATCH/migrate.out")"
kill -0 "$MIG_PID" 2>/dev/null || fail "the migration ended before the test could abort it: $(cat "$SCRATCH/migrate.out")"
before=$(vm_json "$D_UUID")
jq -en 'input | ((.run_state_reason | startswith("libvirt: migration job")) and (.not_tiered | startswith("migrating out (libvirt: migration job")) and (.not_tiered | endswith("its pages are not moved while it is sent away")))' <<<"$before" >/dev/null ||
        fail "$DB migrating out: $before"
sleep 1   # < the ~35 s the migration takes: sampled or moved meanwhile?
after=$(vm_json "$D_UUID")
[[ $(jq -c "$keys" <<<"$before") == "$(jq -c "$keys" <<<"$after")" ]] ||
        fail "$DB changed while migrating out: $(jq -c "$keys" <<<"$before") -> $(jq -c "$keys" <<<"$after")"
virsh -q -c "$B_URI" domjobabort "$DB" >/dev/null || fail "virsh domjobabort $DB failed (did the migration end already? $(cat "$SCRATCH/migrate.out"))"
migrate_wait
((MIG_RC != 0)) || fail "the aborted migration succeeded"
wait_for 15 vm_is "$D_UUID" '.run_state == "running"' || fail "$DB not running after the aborted migration: $(vm_json "$D_UUID")"
c=$(vm_field "$D_UUID" .cycles)
wait_for 10 vm_is "$D_UUID" ".cycles > $c" || fail "$DB not sampled after the aborted migration"
line=$(log_since "$from" "VM $DB \(pid $DB_PID\) runs again \(was migrating out\)") || fail "no 'runs again' line after the abort"
vm_is "$D_UUID" ".pid == $DB_PID and .cycles > $(jq .cycles <<<"$after")" || fail "$DB's heat map started over: $(vm_json "$D_UUID")"
entry_has "VM $DB \(pid $DB_PID\) is being migrated out " "MESSAGE_ID=$ID_MIGRATING_OUT" "VTISM_VM=$D_UUID" "VTISM_RUN_STATE=migrating out" \
        "VTISM_RUN_STATE_REASON=libvirt: migration job*"
entry_has "VM $DB \(pid $DB_PID\) runs again \(was migrating out\)" "MESSAGE_ID=$ID_ABORTED" "VTISM_VM=$D_UUID" "VTISM_RUN_STATE=running"
ok "3. migrating out ($(jq -r .run_state_reason <<<"$before")): not sampled or moved; aborted: '${line##*: }', heat kept"

# ---- 4. migrated out ----
from=$(log_lines)
migrate "$B_URI" "$A_URI" "$DB" "$DA"
wait_for 60 vm_is "$D_UUID" '.run_state == "migrating out"' || fail "$DB never shown migrating out (2nd migration)"
migrate_wait
((MIG_RC == 0)) || fail "migration B -> A failed ($MIG_RC): $(cat "$SCRATCH/migrate.out")"
LV_EXTRA_PIDS+=("$(cat "/run/libvirt/qemu/$DA.pid")")
# (libvirt's stopped/migrated ends it; vtismd waits up to 10 s for it once QEMU is gone)
wait_for 20 vm_gone "$D_UUID" || fail "$DB still listed after it migrated away: $(vm_json "$D_UUID")"
log_since "$from" "VM $DB \(pid $DB_PID\) migrated away; no longer tracked\." >/dev/null || fail "no 'migrated away' line for $DB"
log_since "$from" "VM $DB \(pid $DB_PID\) migrated away \(libvirt: stopped/migrated\)" >/dev/null || fail "libvirt's stopped/migrated not logged"
entry_has "VM $DB \(pid $DB_PID\) migrated away; no longer tracked" "MESSAGE_ID=$ID_LOST" "VTISM_VM=$D_UUID" "VTISM_VM_LOST_REASON=migrated away"
ok "4. migrated out to A: forgotten at once ('migrated away; no longer tracked')"

# ---- 5. stopped ----
E=vtism-lc-$LV_ID-e
E_UUID=$(cat /proc/sys/kernel/random/uuid)
libvirt_domain_xml "$E" "$E_UUID" >"$LV_SCRATCH/$E.xml"
t=$(lv_now_ms)
timeout -k 5 "$LV_CREATE_TIMEOUT" virsh -q -c "$B_URI" create "$LV_SCRATCH/$E.xml" >/dev/null || fail "virsh create $E on B failed"
echo "  domain $E started on B in $(lv_secs_since "$t") s"
wait_for 30 vm_is "$E_UUID" '.state == "tracked"' || fail "$E not tracked: $(vm_json "$E_UUID")"
from=$(log_lines)
virsh -q -c "$B_URI" destroy "$E" >/dev/null
wait_for 10 vm_gone "$E_UUID" || fail "$E still listed after virsh destroy"
log_since "$from" "VM $E \(pid [0-9]+\) stopped; no longer tracked\." >/dev/null || fail "no 'stopped' line for $E"
entry_has "VM $E \(pid [0-9]+\) stopped; no longer tracked" "MESSAGE_ID=$ID_LOST" "VTISM_VM=$E_UUID" "VTISM_VM_NAME=$E" "VTISM_VM_LOST_REASON=stopped"
ok "5. destroyed: forgotten at once"

vtismd_alive
kill -TERM "$VTISMD_PID"
rc=0
wait "$VTISMD_PID" || rc=$?
((rc == 0)) || fail "vtismd exited with $rc on SIGTERM"
libvirt_start_summary
ok "journal: each lifecycle entry with its MESSAGE_ID and fields (migrating in/migrated in, paused/resumed, migrating out/not completed, migrated away, stopped)"
ok "all done in $((SECONDS - T0)) s"
echo PASS
