#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lab-vtismd-kvm: vtismd end to end in the lab, under systemd, with a real KVM guest: found,
# sampled by the tracker 'auto' picks (DAMON on Debian's kernel), its hot guest-physical window
# shown at the right GPA by 'vtismctl heatmap', dropped cleanly when QEMU exits.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "$(readlink -f "$0")")/lib/common.sh"

main() {
        lab_init
        local f
        for f in src/daemon/vtismd src/ctl/vtismctl tests/lab/workloads/run-guest tests/lab/workloads/vtguest.elf; do
                [[ -e $LAB_BUILD/$f ]] || lab_skip "$LAB_BUILD/$f is not built"
        done
        command -v jq >/dev/null || lab_skip "jq is not installed (bash .ci/run installs it)"

        lab_boot stock --systemd --kvm --timeout 600 -- \
                "$LAB_SOURCE/tests/lab/lab-vtismd-kvm-inner.sh" "$LAB_SOURCE" "$LAB_BUILD" damon ||
                lab_fail "vtismd with a KVM guest on the stock kernel (see above)"
        lab_cleanup_results
        echo "PASS: $LAB_TEST"
}

main "$@"
