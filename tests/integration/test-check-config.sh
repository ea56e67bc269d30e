#!/usr/bin/env bash
# What vtismd does with configuration files that are not what they should be: a FIFO, a device,
# a directory, an empty name, a huge file, an unterminated comment, a missing file (an error when
# named explicitly, the built-in defaults for the default path), drop-ins (listed; a bad one named). --check-config and the daemon's
# start-up must answer at once with a message naming the file, never hang or read forever; the
# daemon logs with levels on stderr in --foreground.
. "$(dirname "$0")/lib.sh"
need dbus-daemon timeout

default_conf=$("$VTISMD" --help | sed -n 's/.*Read FILE .*instead of \(.*\)$/\1/p')
[[ -n $default_conf ]] || fail "vtismd --help does not name the default configuration file"

# check_config EXPECTED_STATUS EXPECTED_OUTPUT ARGS...: vtismd ARGS, within 20 s.
check_config() {
        local want_rc=$1 want=$2 out rc
        shift 2
        set +e
        out=$(timeout 20 "$VTISMD" "$@" 2>&1)
        rc=$?
        set -e
        [[ $rc -ne 124 ]] || fail "vtismd $* hung (killed after 20 s)"
        [[ $rc -eq $want_rc ]] || fail "vtismd $*: exit $rc, expected $want_rc: $out"
        grep -qF -- "$want" <<<"$out" || fail "vtismd $*: '$out' does not say '$want'"
        ok "vtismd $*: $(head -n1 <<<"$out")"
}

check_config 0 "configuration OK" --check-config "$VTISM_SOURCE_ROOT/conf/vtism.conf"
check_config 1 "the configuration file name is empty" --check-config=
mkfifo "$SCRATCH/fifo.conf"
check_config 1 "$SCRATCH/fifo.conf: is a FIFO, not a regular file" --check-config "$SCRATCH/fifo.conf"
check_config 1 "/dev/zero: is a character device, not a regular file" --check-config /dev/zero
check_config 1 "$SCRATCH: is a directory, not a configuration file" --check-config "$SCRATCH"
truncate -s 70M "$SCRATCH/big.conf"
check_config 1 "$SCRATCH/big.conf: too large (70 MiB, at most 1 MiB)" --check-config "$SCRATCH/big.conf"
printf 'global = { dry_run = true; };\n/* tracker:\nglobal = { tracker = "bogus"; };\n' >"$SCRATCH/comment.conf"
check_config 1 "$SCRATCH/comment.conf:2: unterminated comment" --check-config "$SCRATCH/comment.conf"
check_config 1 "$SCRATCH/missing.conf: cannot read: No such file or directory" --check-config "$SCRATCH/missing.conf"

# Drop-ins: FILE.d/*.conf after FILE, listed by --check-config; an error names the drop-in.
printf 'global = { sample_interval_ms = 1000; };\n' >"$SCRATCH/d.conf"
mkdir "$SCRATCH/d.conf.d"
printf 'global = { dry_run = true; };\n' >"$SCRATCH/d.conf.d/10-dry.conf"
printf 'not a drop-in = ;\n' >"$SCRATCH/d.conf.d/README"
check_config 0 "drop-in $SCRATCH/d.conf.d/10-dry.conf" --check-config "$SCRATCH/d.conf"
[[ $("$VTISMD" --check-config "$SCRATCH/d.conf") == "drop-in $SCRATCH/d.conf.d/10-dry.conf"$'\n'"configuration OK" ]] \
        || fail "--check-config with a drop-in: $("$VTISMD" --check-config "$SCRATCH/d.conf" 2>&1)"
printf '# web servers\nvm = ( { name = "web*"; weight = 20000; } );\n' >"$SCRATCH/d.conf.d/20-web.conf"
check_config 1 "$SCRATCH/d.conf.d/20-web.conf:2: vm[0].weight:" --check-config "$SCRATCH/d.conf"
check_config 1 "vtismd: err: $SCRATCH/d.conf.d/20-web.conf:2: vm[0].weight:" --foreground --config "$SCRATCH/d.conf"
set +e
out=$("$VTISMCTL" check-config "$SCRATCH/d.conf" 2>&1); rc=$?
set -e
[[ $rc -eq 1 && $out == "$SCRATCH/d.conf.d/20-web.conf:2: vm[0].weight:"* ]] || fail "vtismctl check-config, bad drop-in: rc=$rc '$out'"
rm "$SCRATCH/d.conf.d/20-web.conf"
[[ $("$VTISMCTL" check-config "$SCRATCH/d.conf") == "drop-in $SCRATCH/d.conf.d/10-dry.conf"$'\n'"configuration OK" ]] \
        || fail "vtismctl check-config with a drop-in: $("$VTISMCTL" check-config "$SCRATCH/d.conf" 2>&1)"
ok "vtismctl check-config: the drop-ins listed, a bad one named"

# The daemon refuses a FIFO at once too (it used to block in open()), with the level shown.
check_config 1 "vtismd: err: $SCRATCH/fifo.conf: is a FIFO, not a regular file" --foreground --config "$SCRATCH/fifo.conf"

if [[ -e $default_conf || -L $default_conf ]]; then
        echo "note: $default_conf exists on this host: the missing-default-file checks are skipped"
        echo PASS
        exit 0
fi

# No default file: --check-config (as ExecStartPre= runs it) and the daemon run on the defaults.
check_config 0 "$default_conf does not exist: vtismd runs on the built-in defaults." --check-config
check_config 0 "configuration OK" --check-config

start_bus
start_notify
NOTIFY_SOCKET="$SCRATCH/notify.sock" WATCHDOG_USEC=400000 "$VTISMD" --foreground \
        >>"$SCRATCH/vtismd.log" 2>&1 &
VTISMD_PID=$!
PIDS+=("$VTISMD_PID")
wait_for 20 grep -qx READY=1 "$SCRATCH/notify.log" || fail "no READY=1 without $default_conf"
n=$(grep -c "^vtismd: notice: $default_conf does not exist, running on the built-in defaults" "$SCRATCH/vtismd.log" || true)
[[ $n -eq 1 ]] || fail "the missing default file was reported $n times, expected once"
grep -q '^vtismd: info: ' "$SCRATCH/vtismd.log" || fail "--foreground does not show levels"
ok "vtismd runs on the defaults without $default_conf and says so once"
kill "$VTISMD_PID"
wait "$VTISMD_PID" || fail "vtismd exited with $? on SIGTERM"
echo PASS
