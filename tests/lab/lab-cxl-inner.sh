#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lab-cxl-inner.sh CHECKER: runs inside the lab booted by lab-cxl.sh. Makes QEMU's emulated CXL
# memory a NUMA node the way an operator would (cxl create-region, ndctl create-namespace -m
# devdax, daxctl reconfigure-device -m system-ram) and runs CHECKER (lab-cxl) after each step.
# With VTISM_CXL_CAPTURE=1 it also captures the sysfs of each stage into the results directory
# as STAGE.tar (lib/capture-sysfs.sh): the source of tests/data/sysfs-cxl-lab-*.

set -euo pipefail
checker=${1:?usage: lab-cxl-inner.sh CHECKER}
here=$(dirname "$(readlink -f "$0")")
capture_dir=
[[ ${VTISM_CXL_CAPTURE:-0} == 0 ]] || capture_dir=${VTISM_LAB_RESULTS:?}

say() { echo "lab-cxl: $*"; }
fail() { echo "FAIL: lab-cxl: $*"; exit 1; }

stage() { # $1: stage name
        if [[ -n $capture_dir ]]; then
                "$here/lib/capture-sysfs.sh" "$capture_dir/$1.tar"
        fi
        "$checker" "$1"
}

for tool in cxl ndctl daxctl; do
        command -v "$tool" >/dev/null || { echo "SKIP: lab-cxl: $tool is not installed (apt-get install ndctl daxctl)"; exit 77; }
done

# cxl_pci probes the memdevs asynchronously after the modules are loaded.
for ((i = 0; i < 300; i++)); do
        [[ -e /sys/bus/cxl/devices/mem0 && -e /sys/bus/cxl/devices/mem1 ]] && break
        sleep 0.2
done
[[ -e /sys/bus/cxl/devices/mem1 ]] ||
        fail "no memdevs after 60 s: $(ls /sys/bus/cxl/devices 2>&1 | tr '\n' ' '); dmesg: $(dmesg | grep -i cxl | tail -n 5 | tr '\n' ' ')"

stage boot

say "cxl create-region -m -t pmem -d decoder0.0 -w 2 mem0 mem1"
cxl create-region -m -t pmem -d decoder0.0 -w 2 mem0 mem1 || fail "cxl create-region failed (dmesg: $(dmesg | tail -n 5 | tr '\n' ' '))"
region=$(ndctl list -R | sed -n 's/.*"dev":"\(region[0-9]*\)".*/\1/p' | head -n 1)
[[ -n $region ]] || fail "no nd region for the CXL pmem region"
say "ndctl create-namespace -r $region -m devdax"
ndctl create-namespace -r "$region" -m devdax >/dev/null || fail "ndctl create-namespace failed"
stage devdax

dax=$(daxctl list | sed -n 's/.*"chardev":"\(dax[0-9.]*\)".*/\1/p' | head -n 1)
[[ -n $dax ]] || fail "no dax device after create-namespace"
# Debian's kernel onlines hotplugged memory itself (auto_online_blocks=online, kernel zones); daxctl
# refuses that and onlines movable itself once the kernel leaves the blocks offline.
echo offline >/sys/devices/system/memory/auto_online_blocks
say "daxctl reconfigure-device -m system-ram $dax"
daxctl reconfigure-device -m system-ram "$dax" >/dev/null || fail "daxctl reconfigure-device failed"
stage system-ram
