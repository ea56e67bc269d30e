#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lab-slo: a service level end to end in the lab (issue 15), one boot of the patched kernel
# (idle_pages, exact) under systemd: a VM with "at most 5 % of accesses from CXL" next to one with
# a fixed budget, DRAM oversubscribed; the SLO VM's CXL share as the workload itself measures it
# settles under the cap (+1 point) while the other VM gets the rest; then its hot set shrinks and
# it gives the DRAM back to the other, coldest pages first. See lab-slo-inner.sh.
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
        lab_boot patched --kernel patched --systemd --dram-mb 1280 --cxl-mb 1536 --timeout 2400 -- \
                "$LAB_SOURCE/tests/lab/lab-slo-inner.sh" "$LAB_SOURCE" "$LAB_BUILD" || rc=$?
        [[ $rc -ne 77 ]] || lab_skip "the patched kernel is not available (tests/kernel/build failed)"
        [[ $rc -eq 0 ]] || lab_fail "service level on the patched kernel (see above)"
        lab_cleanup_results
        echo "PASS: $LAB_TEST"
}

main "$@"
