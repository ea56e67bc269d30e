#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Strings that are not UTF-8 reach vtismd from every side (issue 12, defect 1): any local user can
# run a QEMU named "evil\xff", or a fake one whose -uuid holds such bytes; a config file (and its
# path) may hold them; a reload error quotes them. sd-bus refuses to send an invalid string and
# with it the whole reply, so before the fix 'vtismctl status' failed for everyone. Now each
# invalid byte crosses as \xNN: status works for root and nobody, heatmap finds the VM by the
# escaped name, the properties and the Reload error carry the escaped text.
. "$(dirname "$0")/lib.sh"
need dbus-daemon jq setpriv busctl qemu-system-x86_64

start_bus
start_notify
data="$VTISM_SOURCE_ROOT/tests/data"

conf="$SCRATCH/vtism"$'\xff'".conf"
# qemu_users = [ "*" ]: nobody's QEMUs are tiered and use their names here (test-identity has the
# default, where they are ignored).
printf 'global = {\n  sample_interval_ms = 200;\n  heat_range = "4M";\n  libvirt_uri = "qemu+unix:///system?socket=/nonexistent/\xff";\n  qemu_users = [ "*" ];\n};\n' >"$conf"
"$VTISMD" --check-config="$conf" >/dev/null || fail "a config with \\xff in a string should be accepted"
start_vtismd "$conf" --sysfs-root="$data/sysfs-1node"
wait_for 10 grep -qx READY=1 "$SCRATCH/notify.log" || fail "no READY=1"

status_works() {
        "$VTISMCTL" status >"$SCRATCH/out" 2>&1 || fail "status as root failed: $(cat "$SCRATCH/out")"
        as_nobody "$VTISMCTL" status >"$SCRATCH/out.nobody" 2>&1 || fail "status as nobody failed: $(cat "$SCRATCH/out.nobody")"
}
status_works
json=$("$VTISMCTL" status --json)
jq -e '.config_file | endswith("/vtism\\xff.conf")' <<<"$json" >/dev/null || fail "ConfigFile not escaped: $json"
uri=$(busctl --system --json=short get-property org.vtism1 /org/vtism1 org.vtism1.Manager LibvirtURI | jq -r .data)
[[ $uri == 'qemu+unix:///system?socket=/nonexistent/\xff' ]] || fail "LibvirtURI: '$uri'"
ok "config file path and libvirt_uri with \\xff: escaped in ConfigFile and LibvirtURI"

# A real QEMU run by nobody, named guest=evil\xff.
# (setpriv itself, not the as_nobody function: $! must be the QEMU's pid, for the cleanup)
nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
"${nobody[@]}" qemu-system-x86_64 -m 16 -name $'guest=evil\xff' -nodefaults -display none -S >"$SCRATCH/qemu.log" 2>&1 &
PIDS+=($!)
evil_ready() { "$VTISMCTL" status --json | jq -e '.vms[] | select(.name == "evil\\xff" and .ram_bytes == 16777216)' >/dev/null; }
wait_for 20 evil_ready || fail "QEMU 'evil\\xff' not listed: $("$VTISMCTL" status --json | jq -c .vms)"
status_works
grep -q 'evil\\xff' "$SCRATCH/out" || fail "status lacks the escaped name: $(cat "$SCRATCH/out")"
grep -q 'evil\\xff' "$SCRATCH/out.nobody" || fail "status as nobody lacks the escaped name"
"$VTISMCTL" heatmap 'evil\xff' >"$SCRATCH/heat" 2>&1 || fail "heatmap by the escaped name: $(cat "$SCRATCH/heat")"
grep -q '^VM evil\\xff (pid-' "$SCRATCH/heat" || fail "heatmap output: $(cat "$SCRATCH/heat")"
ok "QEMU named guest=evil\\xff by nobody: status works for root and nobody, heatmap finds it escaped"

# A fake QEMU (by argv[0]) whose -uuid and -name hold invalid bytes; a bash builtin waits on a FIFO
# so that no child outlives it.
mkfifo -m 0666 "$SCRATCH/fifo"
cat >"$SCRATCH/fake-qemu.sh" <<'SH'
exec -a qemu-system-x86_64 /bin/bash -c 'read -r -t 600 _ <>"$FIFO"' -uuid "$UUID" -name "$NAME"
SH
FIFO="$SCRATCH/fifo" UUID=$'\xff\xfe-not-a-uuid' NAME=$'guest=fake\xfe\xc0' \
        "${nobody[@]}" /bin/bash "$SCRATCH/fake-qemu.sh" &
fake_pid=$!
PIDS+=("$fake_pid")
fake_listed() { "$VTISMCTL" status --json | jq -e --argjson p "$fake_pid" '.vms[] | select(.pid == $p)' >/dev/null; }
wait_for 20 fake_listed || fail "fake QEMU not listed: $("$VTISMCTL" status --json | jq -c .vms)"
status_works
j=$("$VTISMCTL" status --json | jq -c --argjson p "$fake_pid" '.vms[] | select(.pid == $p)')
jq -e '.name == "fake\\xfe\\xc0" and (.uuid == null or .uuid == "\\xff\\xfe-not-a-uuid")' <<<"$j" >/dev/null \
        || fail "fake QEMU: $j"
ok "fake QEMU with -uuid/-name of invalid bytes: listed escaped ($(jq -r .id <<<"$j"))"

# A reload whose error quotes invalid bytes still gets its reply, escaped.
printf 'global = {\n  sample_interval_ms = 200;\n  tracker = "bogus\xff";\n};\n' >"$conf"
set +e
out=$(timeout 20 "$VTISMCTL" reload 2>&1); rc=$?
set -e
[[ $rc -eq 1 && $out == *"unknown tracker 'bogus\\xff'"* ]] || fail "Reload with an invalid-UTF-8 error: rc=$rc '$out'"
status_works
"$VTISMCTL" status --json | jq -e '.last_reload_error | contains("bogus\\xff")' >/dev/null \
        || fail "LastReloadError not escaped"
grep -q "Last reload: FAILED" "$SCRATCH/out" || fail "status does not show the failed reload"
ok "Reload error with \\xff: replied (exit 1), LastReloadError escaped, status works"

kill -0 "$VTISMD_PID" || fail "vtismd died"
kill -TERM "$VTISMD_PID"; wait "$VTISMD_PID" || fail "exit status on SIGTERM"
echo PASS
