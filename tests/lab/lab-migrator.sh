#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lab-migrator: inside the lab (2-node shape), vtismd's migrator runs hand-made plans for a
# memhog process of 256 MiB with the real kernel (tests/lab/lab-migrator.c): demote it all to the
# CXL node and promote it back, with THP off and on; placement checked page by page, THP still
# THP afterwards; dry-run moves nothing; memhog killed mid-plan ends the round cleanly.

set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "$(readlink -f "$0")")/lib/common.sh"

main() {
        lab_init
        local prog="$LAB_BUILD/tests/lab/lab-migrator" memhog="$LAB_BUILD/tests/lab/workloads/memhog"
        [[ -x $prog ]] || lab_skip "$prog was not built"
        [[ -x $memhog ]] || lab_skip "$memhog was not built"

        lab_boot n2 --nodes 2 --timeout 900 -- "$prog" "$memhog" 256 ||
                lab_fail "lab-migrator failed (its output is above)"
        lab_cleanup_results
        echo "PASS: $LAB_TEST: 256 MiB demoted and promoted through the migrator, 4 KiB and THP"
}

main "$@"
