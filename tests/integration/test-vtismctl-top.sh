#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# vtismctl on a terminal, the way a person sees it, in tmux: 'vtismctl top' / 'status --watch'
# draws on the alternate screen and redraws in place (one frame on the screen, numbers moving,
# rates from the counters), fits a resized window, and q, Ctrl-C and SIGTERM each leave it with
# the terminal as it was (main screen back with the shell's lines, cursor shown, keys echoed).
# The pager: long output on a terminal goes through $PAGER (LESS=FRSXMK), never with --no-pager
# or when not on a terminal.
# shellcheck disable=SC2034 # read by lib.sh
PRIVATE_PIDS=1   # vtismd on the real /proc: see only our own processes (lib.sh)
. "$(dirname "$0")/lib.sh"
need dbus-daemon tmux jq

start_bus
start_plain_vtismd sysfs-4node
# A long VM name, to see the VM column give way on a narrow terminal.
long=guest-with-a-rather-long-name-for-a-terminal-column-0123456789
start_fake_qemu "$long"
listed() { "$VTISMCTL" status --json | jq -e --arg n "$long" '.vms[] | select(.name == $n)' >/dev/null; }
wait_for 20 listed || fail "the long-named VM is not listed"

T="$SCRATCH/tmux.sock"
tm() { tmux -S "$T" "$@"; }
stop_tmux() { tm kill-server 2>/dev/null || true; }
trap 'stop_tmux; cleanup' EXIT
tm new-session -d -x 200 -y 50 -e "DBUS_SYSTEM_BUS_ADDRESS=$DBUS_SYSTEM_BUS_ADDRESS" -e "LANG=C.UTF-8" \
        "bash --norc --noprofile" || fail "tmux does not start"
tm set-option -g remain-on-exit on
screen() { tm capture-pane -p; }
alt() { [[ $(tm display -p '#{alternate_on}') == "$1" ]]; }
shown() { screen | grep -F -- "$1" >/dev/null; }
tm send-keys "PS1='prompt\$ '; echo BEFORE-THE-VIEW" Enter
wait_for 10 shown BEFORE-THE-VIEW || fail "the shell in tmux does not answer: $(screen)"

# run_view HOW: start a live view; wait for its first frame.
run_view() {
        tm send-keys "$VTISMCTL $1; echo EXIT=\$?" Enter
        wait_for 20 alt 1 || fail "'$1' did not switch to the alternate screen: $(screen)"
        wait_for 20 shown "NODE  TIER" || fail "'$1' drew no frame: $(screen)"
}
# left_cleanly: main screen back with what was there, the exit status, a prompt that echoes.
left_cleanly() {
        wait_for 10 shown "EXIT=$1" || fail "the view did not exit with $1: $(screen)"
        alt 0 || fail "still on the alternate screen"
        shown BEFORE-THE-VIEW || fail "the main screen's lines are gone: $(screen)"
        ! shown "NODE  TIER" || fail "a frame was left on the main screen: $(screen)"
        [[ $(tm display -p '#{cursor_flag}') == 1 ]] || fail "the cursor is still hidden"
        tm send-keys "echo ECHO-IS-ON" Enter
        wait_for 5 shown "prompt\$ echo ECHO-IS-ON" || fail "typing is not echoed after the view: $(screen)"
        tm send-keys "clear; echo BEFORE-THE-VIEW" Enter
        wait_for 5 shown BEFORE-THE-VIEW || fail "shell lost"
}

run_view "top 0.5"
first=$(screen)
n=$(grep -c '^vtismctl top' <<<"$first")
((n == 1)) || fail "$n headers on the screen (frames must replace each other): $first"
shown_re() { output_has -E -e "$1" -- screen; }
wait_for 5 shown_re "Per second: cycles [1-9][0-9.]*, pages promoted 0, pages demoted 0" || fail "no rates line: $(screen)"
grep -Eq '^   0  dram  memory-tier +4  0-15,32-47 ' <<<"$first" || fail "node 0 row: $first"
cyc() { screen | sed -n 's/^ *Cycles: \([0-9]*\),.*/\1/p'; }
c1=$(cyc)
moved_on() { (($(cyc) > c1)); }
wait_for 10 moved_on || fail "the cycle count does not move: $(screen)"
grep -q 'DRAM/s' <<<"$(screen)" || fail "no DRAM/s column in the VM table: $(screen)"
((c1 > 0)) && ok "top: one frame at a time, redrawn in place (cycles $c1 -> $(cyc)), rates per second"

# A narrow window: lines fit, the long name is cut with an ellipsis, the table stays aligned.
tm resize-window -x 100 -y 30
wait_for 10 bash -c "tmux -S '$T' capture-pane -p | grep 'guest-with-a-rather.*…' >/dev/null" || fail "long name not ellipsized at 100 columns: $(screen)"
over=$(screen | LC_ALL=C.UTF-8 wc -L)
((over <= 100)) || fail "a line is $over columns wide in the 100-column window: $(screen)"
over=0
((over == 0)) || fail "$over lines wider than the 100-column window"
ok "resized to 100x30: redrawn to fit, the long VM name ends in …"

tm send-keys q
left_cleanly 0
ok "q: back to the shell, screen, cursor and echo restored"

run_view "status --watch=1"
tm send-keys C-c
left_cleanly 0
ok "Ctrl-C: left cleanly"

run_view "top 1"
view_pid=$(pgrep -n -P "$(tm display -p '#{pane_pid}')" vtismctl)
[[ -n $view_pid ]] || fail "cannot find the view's pid"
kill -TERM "$view_pid"
left_cleanly 0
ok "SIGTERM: left cleanly"

# Not a terminal: refused with a reason, nothing drawn.
set +e
out=$("$VTISMCTL" top 2>&1); rc=$?
set -e
[[ $rc -eq 2 && $out == *"needs a terminal"* ]] || fail "top without a terminal: rc=$rc $out"
ok "without a terminal top says it needs one (exit 2)"

# The pager: on the terminal, status goes through $PAGER with LESS=FRSXMK; --no-pager and a
# pipe do not use it.
cat >"$SCRATCH/pager" <<SH
#!/bin/sh
echo "LESS=\$LESS" >"$SCRATCH/pager.env"
cat >"$SCRATCH/pager.out"
SH
chmod +x "$SCRATCH/pager"
tm send-keys "PAGER=$SCRATCH/pager $VTISMCTL status; echo EXIT=\$?" Enter
wait_for 10 test -s "$SCRATCH/pager.out" || fail "status on a terminal did not use \$PAGER: $(screen)"
grep -q '^NODE  TIER' "$SCRATCH/pager.out" || fail "the pager got: $(cat "$SCRATCH/pager.out")"
grep -qx 'LESS=FRSXMK' "$SCRATCH/pager.env" || fail "pager environment: $(cat "$SCRATCH/pager.env")"
rm -f "$SCRATCH/pager.out"
tm send-keys "clear; PAGER=$SCRATCH/pager $VTISMCTL --no-pager status; echo NOPAGER-EXIT=\$?" Enter
wait_for 10 shown "NOPAGER-EXIT=0" || fail "--no-pager status: $(screen)"
[[ ! -e $SCRATCH/pager.out ]] || fail "--no-pager used the pager"
shown "NODE  TIER" || fail "--no-pager printed nothing on the terminal"
PAGER="$SCRATCH/pager" "$VTISMCTL" status >/dev/null
[[ ! -e $SCRATCH/pager.out ]] || fail "the pager was used with stdout not a terminal"
ok "pager: \$PAGER with LESS=FRSXMK on a terminal; not with --no-pager or into a pipe"
echo PASS
