#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lab-numatune: tests/integration/test-numatune.sh where it matters, in the lab's DRAM + CXL
# host (Debian's 6.12 kernel, cgroup v2 with cpuset): a private libvirtd runs TCG domains with
# each <numatune> mode, and guest pages are moved to the CPU-less node 1 with move_pages(2):
# refused with EACCES when the nodeset (cpuset.mems) leaves node 1 out, moved when it has it,
# allowed after 'virsh numatune --nodeset 0-1 --live'.

set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "$(readlink -f "$0")")/lib/common.sh"

main() {
        lab_init
        [[ -x $LAB_BUILD/tests/integration/move-probe ]] || lab_skip "move-probe was not built"
        command -v libvirtd >/dev/null || lab_skip "libvirtd is not installed"
        lab_boot n2 --nodes 2 --timeout 2400 -- "$LAB_SOURCE/tests/lab/lab-numatune-inner.sh" ||
                lab_fail "see the output above"
        lab_cleanup_results
        echo "PASS: $LAB_TEST: numatune modes vs. moves to the CXL node"
}

main "$@"
