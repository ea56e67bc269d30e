#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lab-lifecycle: a libvirt domain's lifecycle where pages can move (issue 15): in the lab's DRAM +
# CXL host on the patched kernel (tracker idle_pages), a private libvirtd runs a TCG domain booting
# vtguest, tiered by vtismd with a DRAM budget; paused for 30 s it keeps every page where it was
# and its heat, and once resumed it is tiered again; live-migrated out to a second libvirtd in the
# lab, none of its pages moves while the job runs. See lab-lifecycle-inner.sh.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "$(readlink -f "$0")")/lib/common.sh"

main() {
        lab_init
        local f
        for f in src/daemon/vtismd src/ctl/vtismctl tests/lab/workloads/numa-where tests/lab/workloads/vtguest.elf; do
                [[ -e $LAB_BUILD/$f ]] || lab_skip "$LAB_BUILD/$f is not built"
        done
        command -v libvirtd >/dev/null || lab_skip "libvirtd is not installed"
        command -v jq >/dev/null || lab_skip "jq is not installed (bash .ci/run installs it)"

        local rc=0
        lab_boot patched --kernel patched --nodes 2 --timeout 3300 -- "$LAB_SOURCE/tests/lab/lab-lifecycle-inner.sh" || rc=$?
        [[ $rc -ne 77 ]] || lab_skip "the patched kernel is not available, or the lab lacks what the test needs (see above)"
        [[ $rc -eq 0 ]] || lab_fail "see the output above"
        lab_cleanup_results
        echo "PASS: $LAB_TEST: a libvirt domain paused 30 s keeps its pages and heat, tiered again once resumed; nothing moved while it is migrated out"
}

main "$@"
