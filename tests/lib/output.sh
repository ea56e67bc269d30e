# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Sourced by the integration and lab test scripts (bash, under set -o pipefail).
#
# output_has GREP-ARGS... -- COMMAND [ARG...]
#   True when COMMAND succeeds and its standard output, read whole first, matches
#   `grep -q GREP-ARGS`. Use it instead of `COMMAND | grep -q PATTERN`: under pipefail that
#   pipeline fails when grep quits at the match while COMMAND is still writing (it dies of
#   SIGPIPE), so a match reads as a failure at random, more often the slower COMMAND is
#   (vtismctl under ASan, journalctl on a loaded host).
output_has() {
        local -a grep_args=()
        local out

        while (($# > 0)) && [[ $1 != -- ]]; do
                grep_args+=("$1")
                shift
        done
        if (($# < 2)); then
                echo "output_has: usage: output_has GREP-ARGS... -- COMMAND [ARG...]" >&2
                return 2
        fi
        shift
        out=$("$@") || return
        grep -q "${grep_args[@]}" <<<"$out"
}
