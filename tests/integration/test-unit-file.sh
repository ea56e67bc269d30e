#!/usr/bin/env bash
# The systemd unit passes 'systemd-analyze verify' with nothing on stderr, vtismd --check-config
# (its ExecStartPre) accepts the shipped config, ExecReload is the synchronous vtismctl reload, and
# the offline security exposure stays low.
set -euo pipefail
: "${VTISM_SOURCE_ROOT:?run through meson test}" "${VTISM_BUILD_ROOT:?}"
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze missing"; exit 77; }

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
vtismd="$VTISM_BUILD_ROOT/src/daemon/vtismd"

vtismctl="$VTISM_BUILD_ROOT/src/ctl/vtismctl"

# Point ExecStart= and ExecReload= at the built binaries (verify checks that they exist and are
# executable).
sed -e "s#/usr/sbin/vtismd#$vtismd#g" -e "s#/usr/bin/vtismctl#$vtismctl#g" \
        "$VTISM_SOURCE_ROOT/systemd/vtismd.service" >"$scratch/vtismd.service"
systemd-analyze verify --man=no "$scratch/vtismd.service" 2>"$scratch/verify.err" \
        || { cat "$scratch/verify.err"; echo "FAIL: systemd-analyze verify"; exit 1; }
if [[ -s "$scratch/verify.err" ]]; then
        cat "$scratch/verify.err"
        echo "FAIL: systemd-analyze verify printed warnings"
        exit 1
fi
echo "ok: systemd-analyze verify clean"

grep -qx 'Type=notify' "$scratch/vtismd.service" || { echo "FAIL: not Type=notify"; exit 1; }
grep -q '^WatchdogSec=' "$scratch/vtismd.service" || { echo "FAIL: no WatchdogSec"; exit 1; }
# Reload through the synchronous D-Bus call, so that 'systemctl reload' fails on a bad config
# (test-daemon checks vtismctl reload's exit code and message, lab-systemd systemctl reload's).
grep -qx "ExecReload=$vtismctl reload" "$scratch/vtismd.service" \
        || { echo "FAIL: ExecReload is not 'vtismctl reload': $(grep '^ExecReload' "$scratch/vtismd.service")"; exit 1; }
echo "ok: ExecReload=vtismctl reload"

[[ $("$vtismd" --check-config "$VTISM_SOURCE_ROOT/conf/vtism.conf") == "configuration OK" ]] \
        || { echo "FAIL: shipped conf/vtism.conf does not pass --check-config"; exit 1; }
echo "ok: shipped config passes --check-config"

exposure=$(systemd-analyze security --offline=true "$scratch/vtismd.service" 2>/dev/null \
        | sed -n 's/.*Overall exposure level for vtismd.service: \([0-9.]*\).*/\1/p')
echo "exposure: $exposure"
# 1.6 with the shipped unit (2.8 before PrivateNetwork=, IPAddressDeny=, PrivateMounts=,
# ProtectKernelTunables= and ProtectProc=); what remains is what vtismd needs: root,
# CAP_SYS_ADMIN/PTRACE/NICE/DAC_READ_SEARCH, AF_UNIX, move_pages (in @resources), all of /proc.
awk -v e="$exposure" 'BEGIN { exit !(e != "" && e + 0 <= 2.0) }' \
        || { echo "FAIL: exposure $exposure above 2.0 (something in the sandboxing regressed)"; exit 1; }
echo "ok: systemd-analyze security exposure $exposure"
echo PASS
