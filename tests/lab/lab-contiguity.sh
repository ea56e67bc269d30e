#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lab-contiguity: the contiguity summaries of a THP-backed memhog that vtismd tiers (issue 14,
# item 2 in part), one boot of the patched kernel under systemd (the real unit's sandbox): the
# before-tiering summary, the summary vtismd takes by itself after its moves, the memory on the
# CXL node and how many of the 2 MiB mappings survived the moves. See lab-contiguity-inner.sh.
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
        lab_boot patched --kernel patched --systemd --dram-mb 1280 --cxl-mb 1536 --timeout 1100 -- \
                "$LAB_SOURCE/tests/lab/lab-contiguity-inner.sh" "$LAB_SOURCE" "$LAB_BUILD" || rc=$?
        [[ $rc -ne 77 ]] || lab_skip "the patched kernel is not available (tests/kernel/build failed), or the lab said why above"
        [[ $rc -eq 0 ]] || lab_fail "contiguity of a tiered THP-backed process (see above)"
        lab_cleanup_results
        echo "PASS: $LAB_TEST"
}

main "$@"
