#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lab-placement: vtismd tiers processes end to end in the lab (issue 8, lab tests (a), (d), (e),
# (f); issue 12, (g)), one boot of the patched kernel (idle_pages, exact) under systemd:
# convergence from CXL, from DRAM and after a shift of the hot window, bytes moved against the
# minimum, the steady state, the journal and the MigrationRound signal against the counters, a
# restart that keeps the placement it finds, dry-run and pause, the CXL minimum free ratio,
# weights 3:1, a DRAM-only cpuset. See lab-placement-inner.sh.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "$(readlink -f "$0")")/lib/common.sh"

main() {
        lab_init
        local f
        for f in src/daemon/vtismd src/ctl/vtismctl tests/lab/workloads/memhog; do
                [[ -e $LAB_BUILD/$f ]] || lab_skip "$LAB_BUILD/$f is not built"
        done
        command -v jq >/dev/null || lab_skip "jq is not installed (bash .ci/run installs it)"

        local rc=0
        lab_boot patched --kernel patched --systemd --dram-mb 1280 --cxl-mb 1536 --timeout 1800 -- \
                "$LAB_SOURCE/tests/lab/lab-placement-inner.sh" "$LAB_SOURCE" "$LAB_BUILD" || rc=$?
        [[ $rc -ne 77 ]] || lab_skip "the patched kernel is not available (tests/kernel/build failed)"
        [[ $rc -eq 0 ]] || lab_fail "placement of processes on the patched kernel (see above)"
        lab_cleanup_results
        echo "PASS: $LAB_TEST"
}

main "$@"
