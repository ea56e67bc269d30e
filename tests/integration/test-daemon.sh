#!/usr/bin/env bash
# vtismd against a real (private) dbus-daemon with the project's policy: sd_notify protocol,
# watchdog, vtismctl output, privilege checks, pause/resume, reload with good and bad configs,
# clean exit on SIGTERM.
# shellcheck disable=SC2034 # read by lib.sh
PRIVATE_PIDS=1   # vtismd on the real /proc: see only our own processes (lib.sh; others' QEMUs of GiBs
                 # made its cycles take seconds under ASan on a loaded machine)
. "$(dirname "$0")/lib.sh"
need dbus-daemon dbus-send setpriv jq busctl

start_bus
start_notify

conf="$SCRATCH/vtism.conf"
cat >"$conf" <<'CONF'
global = {
  sample_interval_ms = 200;
  migrate_rate_limit_mbps = 64;
};
CONF

# Not running yet: a clear message and exit code 3.
set +e
out=$("$VTISMCTL" status 2>&1); rc=$?
set -e
[[ $rc -eq 3 && $out == *"vtismd is not running"* ]] || fail "status without daemon: rc=$rc '$out'"
ok "vtismctl says the daemon is not running (exit 3)"

start_vtismd "$conf"
wait_for 10 grep -qx READY=1 "$SCRATCH/notify.log" || fail "no READY=1"
ok "READY=1 received"
# READY=1 only after the bus name is taken: the name must be owned now.
busctl --system status org.vtism1 >/dev/null || fail "READY=1 before org.vtism1 was taken"
grep -q '^STATUS=Monitor-only' "$SCRATCH/notify.log" || fail "no STATUS= line: $(cat "$SCRATCH/notify.log")"
ok "STATUS= sent"

n0=$(notify_count WATCHDOG=1)
sleep 1.2
n1=$(notify_count WATCHDOG=1)
((n1 - n0 >= 3)) || fail "watchdog keep-alives: $n0 -> $n1 in 1.2 s (WATCHDOG_USEC=400ms)"
ok "WATCHDOG=1 keeps coming ($((n1 - n0)) in 1.2 s)"

# Human status.
out=$("$VTISMCTL" status)
echo "$out"
[[ $out == *"monitor-only: no CXL memory node found"* ]] || fail "status lacks the mode line"
[[ $out == *"Sampling: running, every 200ms"* ]] || fail "status lacks the sampling line"
[[ $out == *"rate limit 64 MiB/s"* ]] || fail "status lacks the rate limit"
grep -Eq '^ +0 +dram +' <<<"$out" || fail "status lacks node 0 as dram"
ok "vtismctl status"

# JSON status matches the config and the host.
json=$("$VTISMCTL" status --json)
jq -e '.mode == "monitor-only" and .sample_interval_usec == 200000 and .migrate_rate_limit_bytes == 67108864
       and .sampling_paused == false and .migration_paused == false and .dry_run == false
       and (.nodes | length) >= 1 and .nodes[0].tier == "dram" and .nodes[0].total_bytes > 0
       and .counters.cycles >= 1 and .last_reload_error == null' <<<"$json" >/dev/null \
        || fail "unexpected JSON: $json"
ok "vtismctl status --json"
output_has "node distances:" -- "$VTISMCTL" nodes || fail "vtismctl nodes lacks distances"
ok "vtismctl nodes"

# Every user may read, only root may change.
as_nobody "$VTISMCTL" status >/dev/null || fail "status as nobody failed"
for verb in "pause" "resume migration" "reload" "dry-run on"; do
        set +e
        # shellcheck disable=SC2086
        out=$(as_nobody "$VTISMCTL" $verb 2>&1); rc=$?
        set -e
        [[ $rc -eq 4 && $out == *"permission denied"*"needs root"* ]] || fail "'$verb' as nobody: rc=$rc '$out'"
done
ok "mutating calls denied for nobody, reads allowed"

# Pause/resume are reflected in status.
"$VTISMCTL" pause sampling >/dev/null
jq -e '.sampling_paused == true and .migration_paused == false' <<<"$("$VTISMCTL" status --json)" >/dev/null \
        || fail "pause sampling not reflected"
c1=$("$VTISMCTL" status --json | jq .counters.cycles)
sleep 0.6
c2=$("$VTISMCTL" status --json | jq .counters.cycles)
[[ $c1 == "$c2" ]] || fail "cycles went on while sampling was paused ($c1 -> $c2)"
"$VTISMCTL" pause migration >/dev/null
jq -e '.sampling_paused and .migration_paused' <<<"$("$VTISMCTL" status --json)" >/dev/null \
        || fail "pause migration not reflected"
grep -q "Sampling: paused" <<<"$("$VTISMCTL" status)" || fail "human status does not say paused"  # not a pipe: grep -q would SIGPIPE a long status
"$VTISMCTL" resume >/dev/null
jq -e '(.sampling_paused or .migration_paused) | not' <<<"$("$VTISMCTL" status --json)" >/dev/null \
        || fail "resume not reflected"
cycles_above() { (($("$VTISMCTL" status --json | jq .counters.cycles) > $1)); }
wait_for 5 cycles_above "$c2" || fail "cycles did not resume"
"$VTISMCTL" dry-run on >/dev/null
jq -e '.dry_run' <<<"$("$VTISMCTL" status --json)" >/dev/null || fail "dry-run on not reflected"
"$VTISMCTL" dry-run off >/dev/null
ok "pause/resume and dry-run reflected in status"

# Bad arguments are refused with a clear message, by vtismctl and by the daemon itself.
set +e
out=$("$VTISMCTL" pause everything 2>&1); rc=$?
set -e
[[ $rc -eq 2 ]] || fail "vtismctl accepted 'pause everything'"
set +e
out=$(busctl --system call org.vtism1 /org/vtism1 org.vtism1.Manager Pause s everything 2>&1); rc=$?
set -e
[[ $rc -ne 0 && $out == *"Unknown subsystem 'everything'"* ]] || fail "daemon accepted Pause('everything'): $out"
set +e
out=$(busctl --system call org.vtism1 /org/vtism1 org.vtism1.Manager SetDryRun s yes 2>&1); rc=$?
set -e
[[ $rc -ne 0 ]] || fail "daemon accepted SetDryRun with a string"
ok "invalid arguments rejected"

# A second daemon must not start on the same bus.
set +e
timeout 10 "$VTISMD" --foreground --config="$conf" >"$SCRATCH/second.log" 2>&1; rc=$?
set -e
[[ $rc -ne 0 ]] && grep -q "Another vtismd already owns org.vtism1" "$SCRATCH/second.log" \
        || fail "second vtismd: rc=$rc $(cat "$SCRATCH/second.log")"
ok "second instance refused"

# SIGHUP with a broken config: the old config stays, the daemon lives, and says why.
cp "$conf" "$SCRATCH/good.conf"
printf 'global = {\n  sample_interval_ms = 300;\n  tracker = "nonsense";\n};\n' >"$conf"
kill -HUP "$VTISMD_PID"
wait_for 5 bash -c "\"$VTISMCTL\" status --json | jq -e '.last_reload_error != null' >/dev/null" \
        || fail "reload error not reported"
json=$("$VTISMCTL" status --json)
jq -e --arg f "$conf:3: global.tracker:" '(.last_reload_error | startswith($f)) and .sample_interval_usec == 200000' \
        <<<"$json" >/dev/null || fail "bad reload: $json"
kill -0 "$VTISMD_PID" || fail "vtismd died on a bad reload"
output_has "Last reload: FAILED, previous configuration kept: $conf:3:" -- "$VTISMCTL" status \
        || fail "human status does not show the failed reload"
grep -q "Reload failed, keeping the previous configuration: $conf:3: global.tracker" "$SCRATCH/vtismd.log" \
        || fail "the daemon did not log why the reload failed"
ok "SIGHUP with a broken config keeps the old one"

# The same through D-Bus: Reload fails with the file:line, exit 1.
set +e
out=$("$VTISMCTL" reload 2>&1); rc=$?
set -e
[[ $rc -eq 1 && $out == *"$conf:3: global.tracker: unknown tracker 'nonsense'"* ]] \
        || fail "vtismctl reload with a bad config: rc=$rc '$out'"
ok "vtismctl reload reports the bad line"

# The Reload method itself, as any D-Bus client (and systemctl reload's ExecReload) sees it: a
# synchronous error reply naming org.vtism1.Error.ConfigInvalid and file:line, and the
# configuration in force before stays in force.
failures_before=$("$VTISMCTL" status --json | jq '.counters.reload_failures')
set +e
out=$(dbus-send --system --print-reply --dest=org.vtism1 /org/vtism1 org.vtism1.Manager.Reload 2>&1); rc=$?
set -e
[[ $rc -ne 0 && $out == *"org.vtism1.Error.ConfigInvalid: previous configuration kept: $conf:3: global.tracker: unknown tracker 'nonsense'"* ]] \
        || fail "D-Bus Reload with a bad config: rc=$rc '$out'"
jq -e --argjson n "$failures_before" '.sample_interval_usec == 200000 and .counters.reload_failures == $n + 1
        and .counters.reloads == 0' <<<"$("$VTISMCTL" status --json)" >/dev/null \
        || fail "after a refused Reload: $("$VTISMCTL" status --json | jq -c '{sample_interval_usec, counters}')"
ok "D-Bus Reload of a bad config: ConfigInvalid with file:line, the old config (200 ms) stays"

# A good config applies, on SIGHUP and on Reload.
printf 'global = {\n  sample_interval_ms = 300;\n};\n' >"$conf"
output_has "Configuration reloaded" -- "$VTISMCTL" reload || fail "vtismctl reload of a good config"
jq -e '.sample_interval_usec == 300000 and .last_reload_error == null and .counters.reloads == 1' \
        <<<"$("$VTISMCTL" status --json)" >/dev/null || fail "good reload not applied"
printf 'global = {\n  sample_interval_ms = 250;\n};\n' >"$conf"
kill -HUP "$VTISMD_PID"
wait_for 30 bash -c "\"$VTISMCTL\" status --json | jq -e '.sample_interval_usec == 250000' >/dev/null" \
        || fail "SIGHUP reload not applied"
wait_for 10 grep -q '^RELOADING=1' "$SCRATCH/notify.log" || fail "no RELOADING=1 sent within 10 s"
ok "good reloads applied (D-Bus and SIGHUP)"

# Drop-ins: $conf.d/*.conf after $conf on reload; a bad one is named and changes nothing.
mkdir "$conf.d"
printf 'global = {\n  sample_interval_ms = 400;\n};\n' >"$conf.d/50-interval.conf"
output_has "Configuration reloaded" -- "$VTISMCTL" reload || fail "vtismctl reload with a drop-in"
jq -e '.sample_interval_usec == 400000' <<<"$("$VTISMCTL" status --json)" >/dev/null \
        || fail "the drop-in's sample_interval_ms not applied: $("$VTISMCTL" status --json | jq .sample_interval_usec)"
grep -q "Configuration drop-in $conf.d/50-interval.conf applied" "$SCRATCH/vtismd.log" \
        || fail "vtismd does not log the drop-in it applied"
printf '\nglobal = { tracker = "nonsense"; };\n' >"$conf.d/60-bad.conf"
set +e
out=$("$VTISMCTL" reload 2>&1); rc=$?
set -e
[[ $rc -eq 1 && $out == *"previous configuration kept: $conf.d/60-bad.conf:2: global.tracker: unknown tracker 'nonsense'"* ]] \
        || fail "vtismctl reload with a bad drop-in: rc=$rc '$out'"
jq -e '.sample_interval_usec == 400000' <<<"$("$VTISMCTL" status --json)" >/dev/null || fail "a bad drop-in changed the config"
rm -r "$conf.d"
"$VTISMCTL" reload >/dev/null || fail "reload without the drop-ins"
jq -e '.sample_interval_usec == 250000 and .last_reload_error == null' <<<"$("$VTISMCTL" status --json)" >/dev/null \
        || fail "removing the drop-ins did not restore the main file's setting"
ok "drop-ins applied on reload, a bad one named by file:line, removing them restores the main file"

# SIGTERM: clean exit 0, STOPPING=1 sent.
kill -TERM "$VTISMD_PID"
set +e
wait "$VTISMD_PID"; rc=$?
set -e
[[ $rc -eq 0 ]] || fail "vtismd exited $rc on SIGTERM"
# The recorder is a separate process: the datagram may still be on its way when vtismd is gone.
wait_for 10 grep -qx STOPPING=1 "$SCRATCH/notify.log" || fail "no STOPPING=1 within 10 s: $(cat "$SCRATCH/notify.log")"
ok "SIGTERM: exit 0"

# The bus goes away: vtismd must exit non-zero (so that Restart=on-failure restarts it) and say why.
: >"$SCRATCH/notify.log"
start_vtismd "$conf"
wait_for 10 grep -qx READY=1 "$SCRATCH/notify.log" || fail "no READY=1 (second start)"
kill -TERM "$BUS_PID"
wait "$BUS_PID" 2>/dev/null || true
set +e
wait_for 10 bash -c "! kill -0 $VTISMD_PID 2>/dev/null"
wait "$VTISMD_PID"; rc=$?
set -e
[[ $rc -ne 0 && $rc -lt 128 ]] || fail "vtismd exited with $rc after losing the bus (want a failure status, not 0 or a signal)"
grep -q "Lost the connection to the system bus; exiting with failure so that systemd restarts vtismd." \
        "$SCRATCH/vtismd.log" || fail "vtismd did not say why it left"
ok "bus lost: vtismd exits $rc and says why"

echo "PASS"
