#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# idle-pages-kvm: boot the lab on the patched kernel with KVM (SVM + NPT under TCG) and check that
# /proc/QEMU_PID/idle_pages sees a KVM guest's accesses page-exactly (idle-pages-kvm-inner).

set -euo pipefail
LAB_TEST=idle-pages-kvm
here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
# shellcheck source=../lab/lib/common.sh
. "$here/../lab/lib/common.sh"

main() {
        lab_init
        local f rc=0
        for f in tests/kernel/idle-pages-kvm tests/lab/workloads/vtguest.elf tests/lab/workloads/run-guest; do
                [[ -e $LAB_BUILD/$f ]] || lab_skip "$LAB_BUILD/$f was not built"
        done
        lab_boot kvm --kernel patched --kvm --timeout 600 -- \
                "$here/idle-pages-kvm-inner" "$LAB_BUILD" 5 || rc=$?
        case $rc in
        0) ;;
        77) lab_skip "no patched kernel, no idle_pages or no KVM in the lab" ;;
        *) lab_fail "idle-pages-kvm failed in the lab (status $rc)" ;;
        esac
        lab_cleanup_results
        echo "PASS: $LAB_TEST: a KVM guest's hot window seen page-exactly through idle_pages"
}

main "$@"
