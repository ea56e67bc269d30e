#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lab-contiguity-kvm: the contiguity of a real KVM guest's RAM before and after vtism moved it
# (issue 14, item 2: a THP-backed KVM guest keeps >= 95 % of its 2 MiB mappings across vtism's
# moves), one boot of the patched kernel under systemd with KVM. See lab-contiguity-kvm-inner.sh.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "$(readlink -f "$0")")/lib/common.sh"

main() {
        lab_init
        local f
        for f in src/daemon/vtismd src/ctl/vtismctl tests/lab/workloads/run-guest tests/lab/workloads/vtguest.elf \
                 tests/lab/workloads/numa-where; do
                [[ -e $LAB_BUILD/$f ]] || lab_skip "$LAB_BUILD/$f is not built"
        done
        command -v jq >/dev/null || lab_skip "jq is not installed (bash .ci/run installs it)"

        local rc=0
        lab_boot patched --kernel patched --systemd --kvm --dram-mb 1280 --cxl-mb 1536 --timeout 1800 -- \
                "$LAB_SOURCE/tests/lab/lab-contiguity-kvm-inner.sh" "$LAB_SOURCE" "$LAB_BUILD" || rc=$?
        [[ $rc -ne 77 ]] || lab_skip "the patched kernel is not available (tests/kernel/build failed), or the lab said why above"
        [[ $rc -eq 0 ]] || lab_fail "contiguity of a tiered KVM guest (see above)"
        lab_cleanup_results
        echo "PASS: $LAB_TEST"
}

main "$@"
