#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lab-runner: the runner's own contract (tests/lab/run --help, "Exit status"), on real boots:
#   - COMMAND's exit status comes back unchanged, even when the alphabetically last VTISM_*
#     variable names no directory (that once ended the run with status 1 and no message);
#   - a kernel that dies before the lab's init starts is booted once more, the first boot's
#     serial log is kept, and when the second boot dies too the run says why (exit 1). The early
#     death is made on purpose: rdinit= names no file, so the kernel finds no init in the
#     initramfs, no root device either, and panics before any of the lab runs.

set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "$(readlink -f "$0")")/lib/common.sh"

main() {
        lab_init
        local rc=0 err results

        # 1. Status passed through; a last VTISM_* that is not a directory is harmless.
        err=$(mktemp)
        VTISM_ZZZ_NOT_A_DIRECTORY=xyz lab_boot status --timeout 300 -- sh -c 'exit 3' 2>"$err" || rc=$?
        if [[ $rc != 3 ]]; then
                sed 's/^/    /' "$err"
                lab_fail "a COMMAND that exits 3 made the runner exit $rc"
        fi
        if grep -q 'booting once more' "$err"; then
                sed 's/^/    /' "$err"
                lab_fail "a boot that ran COMMAND was retried"
        fi
        rm -f "$err"

        # 2. A kernel that dies before init: retried once, both logs kept, the cause said.
        results=$(mktemp -d "/var/tmp/vtism-lab/$LAB_TEST-panic.XXXXXX")
        err=$(mktemp)
        rc=0
        "$LAB_RUN" --results "$results" --timeout 300 --append rdinit=/vtism-no-such-init \
                -- true 2>"$err" || rc=$?
        lab_log "early-death boot finished with status $rc"
        local problems=()
        [[ $rc == 1 ]] || problems+=("exit status $rc, not 1")
        grep -q 'the kernel died before the lab.s init started' "$err" ||
                problems+=("no retry announced")
        [[ $(grep -c 'guest ran for' "$err") == 2 ]] || problems+=("not exactly two boots")
        grep -q 'error: kernel panic: ' "$err" || problems+=("the final error does not name the panic")
        [[ -s $results/serial.log.boot1 ]] || problems+=("the first boot's serial log was not kept")
        grep -q 'Kernel panic' "$results/serial.log" 2>/dev/null ||
                problems+=("the second boot's serial log has no panic")
        if [[ ${#problems[@]} -gt 0 ]]; then
                sed 's/^/    /' "$err"
                lab_fail "early kernel death: ${problems[*]} (results in $results)"
        fi
        rm -rf -- "$results" "$err"

        lab_cleanup_results
        echo "PASS: $LAB_TEST: COMMAND's status passed through; an early kernel death retried once and reported"
}

main "$@"
