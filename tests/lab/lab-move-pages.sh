#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lab-move-pages: inside the lab, move 4 KiB pages and THPs from a DRAM node to a CXL node and
# back with move_pages(2) and check placement by querying (tests/lab/lab-move-pages.c): in the
# 2-node shape node 0 <-> 1, in the 4-node shape node 0 <-> 2 and node 1 <-> 3.

set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "$(readlink -f "$0")")/lib/common.sh"

main() {
        lab_init
        local prog="$LAB_BUILD/tests/lab/lab-move-pages"
        [[ -x $prog ]] || lab_skip "$prog was not built (libnuma missing?)"

        local failed=()
        lab_boot n2 --nodes 2 --timeout 300 -- "$prog" 0 1 || failed+=("2 nodes, 0<->1")
        lab_boot n4 --nodes 4 --timeout 300 -- sh -c "'$prog' 0 2 && '$prog' 1 3" ||
                failed+=("4 nodes, 0<->2 and 1<->3")

        if [[ ${#failed[@]} -gt 0 ]]; then
                lab_fail "failed: ${failed[*]}"
        fi
        lab_cleanup_results
        echo "PASS: $LAB_TEST: 4K and THP round trips in the 2-node and 4-node shapes"
}

main "$@"
