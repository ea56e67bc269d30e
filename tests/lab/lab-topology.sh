#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lab-topology: boot the lab in every shape (2 and 4 nodes, each without and with HMAT) and check,
# inside, with lab-topology (tests/lab/lab-topology.c), that the kernel sees the CPU-less nodes,
# distances and memory tiers the runner asked for, and that vtism's topology module classifies
# the nodes (DRAM/CXL, tier source, demotion targets) accordingly.

set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "$(readlink -f "$0")")/lib/common.sh"

main() {
        lab_init
        local checker="$LAB_BUILD/tests/lab/lab-topology"
        [[ -x $checker ]] ||
                lab_skip "$checker was not built (src/core/topology.c missing when meson was configured? run meson setup --reconfigure)"

        local nodes hmat failed=()
        for nodes in 2 4; do
                for hmat in 0 1; do
                        local opts=(--nodes "$nodes" --timeout 300)
                        [[ $hmat == 0 ]] || opts+=(--hmat)
                        if ! lab_boot "n$nodes-hmat$hmat" "${opts[@]}" -- "$checker" "$nodes" "$hmat"; then
                                failed+=("$nodes nodes, HMAT $hmat")
                        fi
                done
        done

        if [[ ${#failed[@]} -gt 0 ]]; then
                lab_fail "shapes that failed: ${failed[*]}"
        fi
        lab_cleanup_results
        echo "PASS: $LAB_TEST: 2-node and 4-node shapes, with and without HMAT"
}

main "$@"
