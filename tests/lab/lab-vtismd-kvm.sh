#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lab-vtismd-kvm: vtismd end to end in the lab, under systemd, with a real KVM guest: found,
# sampled by the tracker 'auto' picks, its hot guest-physical window shown at the right GPA by
# 'vtismctl heatmap', dropped cleanly when QEMU exits. Twice: on Debian's kernel 'auto' picks
# DAMON together with soft-dirty; on our patched kernel it picks idle_pages (which reads KVM's
# NPT accessed bits).
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
                "$LAB_SOURCE/tests/lab/lab-vtismd-kvm-inner.sh" "$LAB_SOURCE" "$LAB_BUILD" damon+softdirty ||
                lab_fail "vtismd with a KVM guest on the stock kernel (see above)"

        local rc=0
        lab_boot patched --kernel patched --systemd --kvm --timeout 600 -- \
                "$LAB_SOURCE/tests/lab/lab-vtismd-kvm-inner.sh" "$LAB_SOURCE" "$LAB_BUILD" idle_pages || rc=$?
        [[ $rc -ne 77 ]] || lab_skip "the patched kernel is not available (tests/kernel/build failed)"
        [[ $rc -eq 0 ]] || lab_fail "vtismd with a KVM guest on the patched kernel (see above)"
        lab_cleanup_results
        echo "PASS: $LAB_TEST"
}

main "$@"
