#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# .ci/packages in groups: '.ci/demo --host' installs only [build] and [run] (no QEMU, clang or
# kernel sources), '.ci/run' everything, every package is in exactly one group, and the host
# demo's own commands are in those two groups.
. "$(dirname "$0")/lib.sh"
cd "$VTISM_SOURCE_ROOT"

host=$(bash .ci/setup --list build run) || fail ".ci/setup --list build run"
all=$(bash .ci/setup --list) || fail ".ci/setup --list"
for p in qemu-system-x86 clang linux-source-6.12 libvirt-daemon valgrind prometheus; do
        grep -qx "$p" <<<"$host" && fail "the host demo would install $p"
        grep -qx "$p" <<<"$all" || fail "the full list lacks $p"
done
for p in build-essential meson ninja-build pkg-config libsystemd-dev dbus-daemon; do
        grep -qx "$p" <<<"$host" || fail "the host demo would not install $p"
done
groups=$(sed -n 's/^\[\(.*\)\]$/\1/p' .ci/packages)
# shellcheck disable=SC2086
union=$(for g in $groups; do bash .ci/setup --list "$g"; done | sort)
[[ $union == "$(sort <<<"$all")" ]] || fail "the groups do not add up to the whole list"
[[ -z $(uniq -d <<<"$union") ]] || fail "in more than one group: $(uniq -d <<<"$union")"
grep -q 'bash .ci/setup build run' .ci/demo || fail ".ci/demo --host does not ask for build and run only"
grep -Eq '^bash .ci/setup$' .ci/run || fail ".ci/run must install every group"
set +e
bash .ci/setup --list nonesuch >/dev/null 2>"$SCRATCH/err"; rc=$?
set -e
[[ $rc -eq 2 && $(cat "$SCRATCH/err") == *"no group [nonesuch]"* ]] || fail "unknown group: rc=$rc $(cat "$SCRATCH/err")"
ok "host demo: $(wc -l <<<"$host") packages of $(wc -l <<<"$all") (groups: $(tr '\n' ' ' <<<"$groups"))"
echo PASS
