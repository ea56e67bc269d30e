#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# capture-sysfs.sh DEST.tar: copy the parts of /sys that describe memory devices and NUMA nodes
# (CXL, DAX and NVDIMM buses, nodes, memory blocks) as plain files and the same relative
# symlinks into a tar file, so that a lab boot can become a unit-test fixture (tests/data/).
# Attribute files are read once each; binary, write-only and per-device noise files are left
# out. The files are gathered on the guest's tmpfs and written out as one tar (small writes
# over 9p are slow), read with builtins (under TCG a fork costs a good part of a second).

set -euo pipefail
DEST=${1:?usage: capture-sysfs.sh DEST.tar}
SYS=${SYSFS_ROOT:-/sys}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
declare -A made

mkdirp() { # $1: directory below TMP
        [[ -n ${made[$1]:-} ]] && return 0
        mkdir -p "$TMP/$1"
        made[$1]=1
}

skip_name() {
        case "${1##*/}" in
        uevent|modalias|dev|CDAT|config|rom|vpd|resource[0-9]*|label_storage_size|payload_max|subsystem|firmware_node|iommu|iommu_group) return 0 ;;
        esac
        case "$1" in
        */power/*|*/firmware/*|*/security/*|*/msi_irqs/*) return 0 ;;
        esac
        return 1
}

copy_file() { # $1: path below SYS
        local v='' opened=0
        [[ -r $SYS/$1 ]] || return 0
        # A builtin read (no fork): to NUL or end of file; write-only attributes fail the open.
        { opened=1; IFS= read -r -d '' v || true; } 2>/dev/null <"$SYS/$1" || true
        [[ $opened == 1 ]] || return 0
        mkdirp "${1%/*}"
        printf '%s' "$v" >"$TMP/$1"
}

copy_link() { # $1: path below SYS
        [[ -e $TMP/$1 || -L $TMP/$1 ]] && return 0
        mkdirp "${1%/*}"
        ln -s "$(readlink "$SYS/$1")" "$TMP/$1"
}

# Files and links of a device directory, two levels deep.
copy_dir() { # $1: real directory below SYS
        local p
        # (a pipe, not process substitution: the lab has no /dev/fd)
        find "$SYS/$1" -maxdepth 2 \( -type f -o -type l \) -print0 >"$TMP/.list"
        while IFS= read -r -d '' p; do
                p=${p#"$SYS"/}
                skip_name "$p" && continue
                if [[ -L $SYS/$p ]]; then
                        copy_link "$p"
                elif [[ -f $SYS/$p ]]; then
                        copy_file "$p"
                fi
        done <"$TMP/.list"
}

# Every device on a bus: the bus link and the device directory it points to.
copy_bus() { # $1: bus name
        local l real
        [[ -d $SYS/bus/$1/devices ]] || return 0
        mkdirp "bus/$1/devices"
        for l in "$SYS/bus/$1/devices"/*; do
                [[ -L $l ]] || continue
                copy_link "${l#"$SYS"/}"
                real=$(readlink -f "$l")
                copy_dir "${real#"$SYS"/}"
                # dax devices: their dax_region sits next to them
                if [[ -d $real/../dax_region ]]; then
                        real=$(readlink -f "$real/../dax_region")
                        copy_dir "${real#"$SYS"/}"
                fi
        done
}

copy_bus cxl
copy_bus dax
copy_bus nd

for f in online possible has_cpu has_memory has_normal_memory; do
        copy_file "devices/system/node/$f"
done
for n in "$SYS"/devices/system/node/node[0-9]*; do
        n=${n#"$SYS"/}
        copy_file "$n/cpulist"
        copy_file "$n/meminfo"
        copy_file "$n/distance"
        for m in "$SYS/$n"/memory[0-9]*; do
                [[ -L $m ]] && copy_link "${m#"$SYS"/}"
        done
done
copy_file devices/system/memory/block_size_bytes
copy_file devices/system/memory/auto_online_blocks
for m in "$SYS"/devices/system/memory/memory[0-9]*; do
        m=${m#"$SYS"/}
        copy_file "$m/state"
        copy_file "$m/valid_zones"
        copy_file "$m/phys_index"
        for l in "$SYS/$m"/node[0-9]*; do
                [[ -L $l ]] && copy_link "${l#"$SYS"/}"
        done
done
for d in devices/virtual/memory_tiering/memory_tier*; do
        [[ -d $SYS/$d ]] && copy_file "$d/nodelist"
done
rm -f "$TMP/.list"
tar -C "$TMP" -cf "$DEST" .
echo "captured $(find "$TMP" -type f | wc -l) files, $(find "$TMP" -type l | wc -l) links into $DEST"
