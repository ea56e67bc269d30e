#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lab-placement-4node: vtismd on the lab's 4-node shape (two sockets, DRAM nodes 0 and 1, CXL
# nodes 2 and 3) on Debian's stock kernel, where auto's tracker is damon+softdirty (issue 8, lab
# test (c), and (a) on the stock kernel): a process on socket 1 is tiered between node 1 and
# node 1's nearest CXL node; a 768 MiB process writing its hot window (soft-dirty sees the
# writes page by page, DAMON's regions the rest) converges from CXL. See
# lab-placement-4node-inner.sh.
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

        lab_boot stock4 --nodes 4 --cxl-mb 1024 --systemd --timeout 1800 -- \
                "$LAB_SOURCE/tests/lab/lab-placement-4node-inner.sh" "$LAB_SOURCE" "$LAB_BUILD" damon+softdirty ||
                lab_fail "placement on the 4-node shape, stock kernel (see above)"
        lab_cleanup_results
        echo "PASS: $LAB_TEST"
}

main "$@"
