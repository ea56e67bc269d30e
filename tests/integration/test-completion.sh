#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# vtismctl's bash completion, sourced into a real bash with bash-completion loaded, against a
# real vtismd that sees three QEMU processes (found by the /proc scan) named "web-1", "db one"
# and "$(touch PWNED)": verbs, options, pause/resume and dry-run arguments, and for heatmap the
# VMs' ids, pids and names, quoted for the command line; the hostile name is offered quoted and
# never run. With -H the names come from the other host (a stand-in ssh runs
# systemd-stdio-bridge here).
# shellcheck disable=SC2034 # read by lib.sh
PRIVATE_PIDS=1   # vtismd on the real /proc: see only our own processes (another run's hostile QEMU
                 # was offered too)
. "$(dirname "$0")/lib.sh"
need dbus-daemon jq systemd-stdio-bridge
bc=/usr/share/bash-completion/bash_completion
[[ -r $bc ]] || skip "bash-completion is not installed (bash .ci/run installs it)"
completion="$VTISM_SOURCE_ROOT/shell-completion/bash/vtismctl"

start_bus
start_plain_vtismd sysfs-lab2
start_fake_qemu web-1
start_fake_qemu "db one"
start_fake_qemu "\$(touch $SCRATCH/PWNED)"
listed() { (($("$VTISMCTL" status --json | jq '[.vms[] | select(.name == "web-1" or .name == "db one" or (.name | startswith("$(touch")))] | length') == 3)); }
wait_for 20 listed || fail "fake QEMUs not listed: $("$VTISMCTL" status --json | jq -c '[.vms[].name]')"
web_pid=$("$VTISMCTL" status --json | jq -r '.vms[] | select(.name == "web-1") | .pid')
web_id=$("$VTISMCTL" status --json | jq -r '.vms[] | select(.name == "web-1") | .id')

# complete LINE: what bash would offer for the last word of LINE (one per line, sorted).
complete_line() {
        PATH="$VTISM_BUILD_ROOT/src/ctl:$PATH" LINE="$1" BC="$bc" COMPLETION="$completion" bash --norc --noprofile -c '
                . "$BC"
                . "$COMPLETION"
                read -r -a COMP_WORDS <<<"$LINE"
                [[ $LINE == *" " ]] && COMP_WORDS+=("")
                COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
                COMP_LINE=$LINE
                COMP_POINT=${#LINE}
                _vtismctl vtismctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
                printf "%s\n" "${COMPREPLY[@]}" | sort' 2>"$SCRATCH/complete.err"
}
expect() {
        local line=$1 want=$2 got
        got=$(complete_line "$line")
        [[ $got == "$want" ]] || fail "completing '$line': got [$got], want [$want] (stderr: $(cat "$SCRATCH/complete.err"))"
}

expect "vtismctl st" "status"
expect "vtismctl he" "heatmap"
expect "vtismctl con" "contiguity"
expect "vtismctl --max" "--max-age"
expect "vtismctl --no-" $'--no-legend\n--no-pager'
expect "vtismctl pause " $'all\nmigration\nsampling'
expect "vtismctl resume mi" "migration"
expect "vtismctl dry-run " $'off\non'
expect "vtismctl --json status --w" "--watch"
ok "verbs, options and their arguments"

expect "vtismctl heatmap web" "web-1"
expect "vtismctl heatmap db" 'db\ one'
expect "vtismctl contiguity web" "web-1"
offers() {
        local line=$1 want=$2 got
        got=$(complete_line "$line")
        grep -qxF -- "$want" <<<"$got" || fail "completing '$line': [$want] not among [$got]"
}
offers "vtismctl heatmap $web_pid" "$web_pid"
offers "vtismctl heatmap ${web_id:0:${#web_id}-1}" "$web_id"
expect "vtismctl --no-pager heatmap web" "web-1"
expect "vtismctl heatmap web-1 " ""
expect "vtismctl pl" "plan"
expect "vtismctl plan db" 'db\ one'
got=$(complete_line 'vtismctl heatmap \$')
[[ $got == "$(printf '%q' "\$(touch $SCRATCH/PWNED)")" ]] || fail "hostile name not offered quoted: [$got]"
offers "vtismctl heatmap " "$(printf '%q' "\$(touch $SCRATCH/PWNED)")"
[[ ! -e $SCRATCH/PWNED ]] || fail "completing a VM name ran the command in it"
# What bash offers must give the VM back when typed: heatmap accepts the quoted name.
eval "set -- $(complete_line 'vtismctl heatmap db')"
[[ $1 == "db one" ]] || fail "the offered 'db one' does not unquote to the name: [$1]"
ok "heatmap: VM names (quoted: 'db\\ one', the \$(...) one never run), ids and pids"

# -H: the names come from the host given, over ssh. This ssh logs its arguments and runs the
# bridge to the bus right here, as the remote side would.
mkdir "$SCRATCH/bin"
cat >"$SCRATCH/bin/ssh" <<SH
#!/bin/sh
echo "\$*" >>"$SCRATCH/ssh.log"
shift 3   # -xT -- HOST; what is left runs "there": the bridge, to "that host's" system bus
exec "\$@" --bus-path="$DBUS_SYSTEM_BUS_ADDRESS"
SH
chmod +x "$SCRATCH/bin/ssh"
got=$(PATH="$SCRATCH/bin:$PATH" complete_line "vtismctl -H admin@cxl-host-7 heatmap we")
[[ $got == web-1 ]] || fail "-H: got [$got]"
grep -q -- '-xT -- admin@cxl-host-7 systemd-stdio-bridge' "$SCRATCH/ssh.log" \
        || fail "completion did not ask the remote host: $(cat "$SCRATCH/ssh.log" 2>/dev/null)"
ok "with -H HOST the VM names come from HOST (ssh $(head -1 "$SCRATCH/ssh.log"))"
echo PASS
