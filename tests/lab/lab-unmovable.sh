#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lab-unmovable: inside the lab (stock kernel, 2 nodes), what move_pages(2) does with plain,
# mlock()ed, memfd, hugetlbfs (with and without a huge page free on the target) and long-term
# pinned (io_uring registered buffers, as VFIO pins guest RAM) memory moved from DRAM node 0 to
# the CPU-less node 1 (tests/lab/lab-unmovable.c). README.md's "What vtism cannot move" states
# what this measures.

set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "$(readlink -f "$0")")/lib/common.sh"

main() {
        lab_init
        local prog="$LAB_BUILD/tests/lab/lab-unmovable"
        [[ -x $prog ]] || lab_skip "$prog was not built"
        lab_boot n2 --nodes 2 --timeout 300 -- "$prog" 0 1 || lab_fail "see the output above"
        lab_cleanup_results
        echo "PASS: $LAB_TEST: anon, mlock, memfd, hugetlbfs and pinned pages vs. move_pages"
}

main "$@"
