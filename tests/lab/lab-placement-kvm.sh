#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lab-placement-kvm: vtismd tiers a real KVM guest in the lab (issue 8, lab tests (b) and (g)),
# one boot of the patched kernel under systemd with KVM: convergence from where QEMU put its RAM
# and after the guest moves its hot window, bytes moved against the minimum, the steady state,
# the guest's own check of its memory after its pages moved, THP kept. See
# lab-placement-kvm-inner.sh.
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
                "$LAB_SOURCE/tests/lab/lab-placement-kvm-inner.sh" "$LAB_SOURCE" "$LAB_BUILD" || rc=$?
        [[ $rc -ne 77 ]] || lab_skip "the patched kernel is not available (tests/kernel/build failed)"
        [[ $rc -eq 0 ]] || lab_fail "placement of a KVM guest on the patched kernel (see above)"
        lab_cleanup_results
        echo "PASS: $LAB_TEST"
}

main "$@"
