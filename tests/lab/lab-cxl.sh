#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lab-cxl: boot the lab with QEMU 7.2's emulated CXL (q35, one CXL host bridge, two root ports,
# two 256 MiB type-3 memdevs, a 4 GiB fixed memory window) on Debian's stock kernel, make the
# CXL memory NUMA node 2 with cxl/ndctl/daxctl inside (lab-cxl-inner.sh) and check what
# vtism's readers report at each step (lab-cxl.c).
#
# Two things QEMU 7.2 needs on this kernel: pci=nomsi, or cxl_pci fails its probe (the device
# model has no event-log interrupt policy, and with MSI available the driver insists on it); and
# -cpu ...,hypervisor=off, or creating a region fails with ENXIO: the kernel refuses to commit a
# CXL region when it cannot invalidate CPU caches, which it assumes of every VM
# (cpu_cache_has_invalidate_memregion()). QEMU 7.2's type-3 device has persistent memory only,
# so the region is pmem and becomes RAM through an nd namespace in devdax mode.

set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "$(readlink -f "$0")")/lib/common.sh"

main() {
        lab_init
        local checker="$LAB_BUILD/tests/lab/lab-cxl"
        [[ -x $checker ]] || lab_skip "$checker was not built"
        local tool
        for tool in cxl ndctl daxctl; do
                command -v "$tool" >/dev/null || lab_skip "$tool is not installed (apt-get install ndctl daxctl)"
        done

        local q=() a
        # shellcheck disable=SC2054 # the commas belong to QEMU's option syntax
        for a in -M q35,cxl=on -cpu max,hypervisor=off \
                -object memory-backend-ram,id=cxl-mem0,size=256M -object memory-backend-ram,id=cxl-lsa0,size=1M \
                -object memory-backend-ram,id=cxl-mem1,size=256M -object memory-backend-ram,id=cxl-lsa1,size=1M \
                -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1 \
                -device cxl-rp,port=0,bus=cxl.1,id=rp0,chassis=0,slot=2 \
                -device cxl-type3,bus=rp0,memdev=cxl-mem0,lsa=cxl-lsa0,id=cxl-pmem0 \
                -device cxl-rp,port=1,bus=cxl.1,id=rp1,chassis=0,slot=3 \
                -device cxl-type3,bus=rp1,memdev=cxl-mem1,lsa=cxl-lsa1,id=cxl-pmem1 \
                -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G; do
                q+=(--qemu-arg "$a")
        done

        lab_boot cxl --cxl-modules --append pci=nomsi --timeout 480 "${q[@]}" -- \
                "$LAB_SOURCE/tests/lab/lab-cxl-inner.sh" "$checker" ||
                lab_fail "see the output above"
        if [[ ${VTISM_CXL_CAPTURE:-0} != 0 ]]; then
                lab_log "sysfs captures kept in ${LAB_RESULTS_ALL[*]}"
        else
                lab_cleanup_results
        fi
        echo "PASS: $LAB_TEST: emulated CXL memory became node 2 (region, devdax, system-ram movable) as the readers saw it"
}

main "$@"
