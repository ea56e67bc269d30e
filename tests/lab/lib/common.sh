# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# Helpers for the lab tests (tests/lab/lab-*.sh); sourced, not run. The tests run on the host
# under `meson test --suite lab` and boot the lab with tests/lab/run.

LAB_TEST=${LAB_TEST:-${0##*/}}
LAB_TEST=${LAB_TEST%.sh}

lab_log() {
        echo "$LAB_TEST: $*" >&2
}

lab_skip() {
        echo "SKIP: $LAB_TEST: $*"
        exit 77
}

lab_fail() {
        echo "FAIL: $LAB_TEST: $*"
        exit 1
}

# Sets LAB_SOURCE, LAB_BUILD, LAB_RUN and checks what the lab needs before any boot.
lab_init() {
        local here
        here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
        LAB_SOURCE=${VTISM_SOURCE_ROOT:-$(cd "$here/../.." && pwd)}
        LAB_BUILD=${VTISM_BUILD_ROOT:-}
        [[ -n $LAB_BUILD && -d $LAB_BUILD ]] ||
                lab_skip "VTISM_BUILD_ROOT is not set (run me through meson test --suite lab)"
        LAB_RUN="$LAB_SOURCE/tests/lab/run"
        [[ -x $LAB_RUN ]] || lab_fail "$LAB_RUN is missing or not executable"

        if [[ $EUID -ne 0 ]]; then
                # As root the runner installs what it lacks; otherwise it cannot.
                command -v qemu-system-x86_64 >/dev/null ||
                        lab_skip "qemu-system-x86_64 is missing (apt-get install qemu-system-x86) and we are not root"
                [[ -x /bin/busybox ]] ||
                        lab_skip "busybox is missing (apt-get install busybox-static) and we are not root"
        fi
        mkdir -p /var/tmp/vtism-lab 2>/dev/null || true
        LAB_RESULTS_ALL=()
}

# Results directories of passing boots, removed by lab_cleanup_results when the test passes.
lab_cleanup_results() {
        local d
        for d in "${LAB_RESULTS_ALL[@]}"; do
                [[ -z $d ]] || rm -rf -- "$d"
        done
}

# lab_boot NAME [RUN OPTIONS] -- COMMAND...: one lab boot; returns COMMAND's status. Output of
# COMMAND goes to our stdout; the runner's own messages to stderr.
lab_boot() {
        local name=$1 results rc=0
        shift
        results=$(mktemp -d "/var/tmp/vtism-lab/$LAB_TEST-$name.XXXXXX") ||
                lab_fail "cannot create a results directory under /var/tmp/vtism-lab"
        lab_log "boot '$name': tests/lab/run --results $results $*"
        local start=$SECONDS
        "$LAB_RUN" --results "$results" "$@" || rc=$?
        lab_log "boot '$name' finished with status $rc after $((SECONDS - start)) s"
        if [[ $rc -eq 0 ]]; then
                LAB_RESULTS_ALL+=("$results")
        else
                # The inner script's FAIL lines come before its diagnostics (status, plans, the
                # journal), which can push them out of a CI log's tail: repeat them last.
                local cause
                cause=$(grep -a '^FAIL: ' "$results/.lab/stdout" 2>/dev/null | tr -d '\r' | tail -n 3) || true
                [[ -z $cause ]] || lab_log "boot '$name' failed on: $cause"
                lab_log "results of '$name' kept in $results"
        fi
        return "$rc"
}
