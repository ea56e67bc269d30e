#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# idle-pages: boot the lab on the patched kernel (kernel-patches/, built and cached by
# tests/kernel/build) and run the /proc/PID/idle_pages selftest (tests/kernel/idle-pages-test.c).

set -euo pipefail
LAB_TEST=idle-pages
here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
# shellcheck source=../lab/lib/common.sh
. "$here/../lab/lib/common.sh"

main() {
        lab_init
        local prog="$LAB_BUILD/tests/kernel/idle-pages-test" rc=0
        [[ -x $prog ]] || lab_skip "$prog was not built"

        # --kvm: the selftest creates a KVM VM for its second pass (single-threaded TCG, see DESIGN §5)
        lab_boot patched --kernel patched --kvm --nodes 2 --timeout 600 -- "$prog" || rc=$?
        case $rc in
        0) ;;
        77) lab_skip "the patched kernel could not be provided, or it has no idle_pages" ;;
        *) lab_fail "idle-pages-test failed in the lab (status $rc)" ;;
        esac
        lab_cleanup_results
        echo "PASS: $LAB_TEST: /proc/PID/idle_pages selftest on the patched kernel"
}

main "$@"
