#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The guest-physical layout rules (guest-layout.h) against QEMU's own answer: for real libvirt
# TCG domains, vm-layout (vm_locate_ram(), what vtismd uses: command line + /proc/PID/maps + the
# rules) lists the guest RAM ranges {gpa, hva, len}; then HMP "gpa2hva" is asked, for a handful of
# GPAs per range (first page, middle, last page, last byte) and around every split (end of low
# RAM, the PCI hole, just below and at 4 GiB, past the end of RAM), where QEMU has that GPA.
#   - a GPA inside one of our ranges: QEMU must name the same HVA;
#   - a GPA outside them: QEMU must say it is not RAM / not mapped, or name an HVA outside our
#     ranges (a ROM such as pc.bios), never one of the RAM backends.
# Domains (paused: QEMU -S, guest RAM mapped but untouched; see the table at the end): pc and q35
# below and at their split thresholds, pc-i440fx-1.7 (the old 3.5 GiB split), two guest NUMA
# cells (anonymous; memfd on q35 with the second cell straddling the split), a file backend, and
# -machine max-ram-below-4g on pc and q35.
# gpa2hva taints the domains: allowed in a test, never done by the daemon.
#
# Runs its own virtlogd + libvirtd in a private mount namespace (lib-libvirt.sh); needs root,
# libvirtd and qemu-system-x86_64 (else exit 77). Each domain takes ~1-2 s to start (its start
# time is logged) and ~1-3 s for its probes; ~30 s in all on an idle host, ~60 s loaded.
# VM_LAYOUT=path overrides the tool (default: $VTISM_BUILD_ROOT/tests/integration/vm-layout).

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/integration/lib-libvirt.sh
source "$HERE/lib-libvirt.sh"

libvirt_enter_namespace "$@"

VM_LAYOUT=${VM_LAYOUT:-${VTISM_BUILD_ROOT:+$VTISM_BUILD_ROOT/tests/integration/vm-layout}}
[[ -n $VM_LAYOUT && -x $VM_LAYOUT ]] || lv_skip "vm-layout not built (set VM_LAYOUT or run through meson test)"

URI=qemu:///system
V() { virsh -q -c "$URI" "$@"; }

trap libvirt_cleanup EXIT
libvirt_private_dirs

PAGE=4096
FOUR_G=$((1 << 32))
MIB=$((1 << 20))
FAILS=0
PROBES=0
N_DOMAINS=0

# domain_xml NAME MACHINE MEM_MIB CELLS BACKING [MAX_BELOW_4G]: CELLS 0 = no guest NUMA, else
# that many equal cells of MEM_MIB/CELLS, one vCPU each; BACKING "anon" (libvirt's default),
# "memfd" or "file" (libvirt's memory_backing_dir); MAX_BELOW_4G ("1G") adds
# -machine max-ram-below-4g= through <qemu:commandline> (libvirt has no element for it).
domain_xml() {
        local name=$1 machine=$2 mem=$3 cells=$4 backing=$5 max_below=${6:-} vcpus i
        vcpus=$((cells > 0 ? cells : 1))
        echo "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
        echo "  <name>$name</name>"
        echo "  <memory unit='MiB'>$mem</memory>"
        echo "  <vcpu placement='static'>$vcpus</vcpu>"
        if [[ $backing != anon ]]; then
                echo "  <memoryBacking><source type='$backing'/></memoryBacking>"
        fi
        echo "  <os><type arch='x86_64' machine='$machine'>hvm</type></os>"
        if ((cells > 0)); then
                echo "  <cpu><numa>"
                for ((i = 0; i < cells; i++)); do
                        echo "    <cell id='$i' cpus='$i' memory='$((mem / cells))' unit='MiB'/>"
                done
                echo "  </numa></cpu>"
        fi
        cat <<EOF
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <memballoon model='none'/>
  </devices>
EOF
        if [[ -n $max_below ]]; then
                echo "  <qemu:commandline>"
                echo "    <qemu:arg value='-machine'/><qemu:arg value='max-ram-below-4g=$max_below'/>"
                echo "  </qemu:commandline>"
        fi
        echo "</domain>"
}

# Our ranges of the current domain (from vm-layout), ascending gpa.
R_GPA=()
R_HVA=()
R_LEN=()

# expected_hva GPA: the HVA our ranges give for GPA, or "" if GPA is not in them.
expected_hva() {
        local gpa=$1 i
        for i in "${!R_GPA[@]}"; do
                if ((gpa >= R_GPA[i] && gpa < R_GPA[i] + R_LEN[i])); then
                        printf '0x%x' $((R_HVA[i] + gpa - R_GPA[i]))
                        return 0
                fi
        done
        echo ""
}

# hva_in_ranges HVA: is HVA inside the host mappings of our ranges?
hva_in_ranges() {
        local hva=$1 i
        for i in "${!R_HVA[@]}"; do
                ((hva >= R_HVA[i] && hva < R_HVA[i] + R_LEN[i])) && return 0
        done
        return 1
}

# Probes of the current domain: queued with probe, asked all at once (one virsh session: a
# monitor command through libvirtd costs ~100 ms-1 s each here) and judged by run_probes.
P_GPA=()
P_WHY=()
P_OVERLAY=()
probe() {
        P_GPA+=("$(printf '0x%x' "$2")")
        P_WHY+=("$3")
        P_OVERLAY+=("${4:-}")
}

# judge DOMAIN GPA WHY QEMU_OUTPUT [overlay]: compare QEMU's gpa2hva answer with our ranges at
# GPA. "overlay": a GPA of the legacy window 0xa0000-0xfffff, RAM in the backend (so in our
# ranges, documented) that QEMU may show as a ROM instead; any answer is fine, it is only shown.
judge() {
        local dom=$1 gpa=$2 why=$3 out=$4 overlay=${5:-} want hva="" region=""
        want=$(expected_hva "$gpa")
        PROBES=$((PROBES + 1))
        if [[ $out =~ ^Host\ virtual\ address\ for\ (0x[0-9a-f]+)\ \((.*)\)\ is\ (0x[0-9a-f]+)$ ]]; then
                ((BASH_REMATCH[1] == gpa)) || lv_fail "$dom: asked gpa2hva $gpa, QEMU answered: $out"
                region=${BASH_REMATCH[2]}
                hva=${BASH_REMATCH[3]}
        elif [[ ! $out =~ ^(No\ memory\ is\ mapped\ at\ address|Memory\ at\ address\ .*\ is\ not\ RAM) ]]; then
                lv_fail "$dom: unexpected gpa2hva $gpa output: '$out'"
        fi
        if [[ -n $overlay ]]; then
                echo "  info $gpa ($why): we say ${want:-not RAM}, QEMU: $out"
                return 0
        fi
        if [[ -n $want ]]; then
                if [[ -n $hva ]] && ((hva == want)); then
                        echo "  ok  $gpa ($why): $hva ($region)"
                        return 0
                fi
                echo "MISMATCH $dom: gpa $gpa ($why): we say hva $want, QEMU says: $out" >&2
                FAILS=$((FAILS + 1))
                return 0
        fi
        if [[ -z $hva ]]; then
                echo "  ok  $gpa ($why): not in our ranges; QEMU: $out"
                return 0
        fi
        if hva_in_ranges "$hva" || [[ $region == pc.ram || $region == ram-node* ]]; then
                echo "MISMATCH $dom: gpa $gpa ($why): not in our ranges, QEMU says it is guest RAM: $out" >&2
                FAILS=$((FAILS + 1))
                return 0
        fi
        echo "  ok  $gpa ($why): not in our ranges; QEMU: $region at $hva (not guest RAM)"
}

# run_probes DOMAIN: ask QEMU about every queued GPA, judge each answer, empty the queue.
run_probes() {
        local dom=$1 cmds="" i=-1 gpa line out
        local -a answers=()
        for gpa in "${P_GPA[@]}"; do
                cmds+="echo @@probe; qemu-monitor-command --hmp $dom 'gpa2hva $gpa'; "
        done
        out=$(V "$cmds" 2>&1) || lv_fail "$dom: virsh qemu-monitor-command failed: $out"
        out=${out//@@probe/$'\n'@@probe$'\n'}   # virsh's echo ends no line
        while IFS= read -r line; do
                line=${line%$'\r'}
                if [[ $line == @@probe ]]; then
                        i=$((i + 1))
                        answers[i]=""
                elif [[ -n $line && $i -ge 0 ]]; then
                        answers[i]+=${answers[i]:+ }$line
                fi
        done <<<"$out"
        ((i + 1 == ${#P_GPA[@]})) || lv_fail "$dom: ${#P_GPA[@]} probes asked, $((i + 1)) answered: $out"
        for i in "${!P_GPA[@]}"; do
                judge "$dom" "${P_GPA[i]}" "${P_WHY[i]}" "${answers[i]}" "${P_OVERLAY[i]}"
        done
        P_GPA=()
        P_WHY=()
        P_OVERLAY=()
}

# check NAME MACHINE MEM_MIB CELLS BACKING EXPECTED_RANGES [MAX_BELOW_4G]: start, locate, probe,
# destroy. MACHINE is libvirt's (any pc-i440fx-*/pc-q35-* version); vm-layout reports its family.
check() {
        local name=vtism-g2h-$LV_ID-$1 machine=$2 mem=$3 cells=$4 backing=$5 n_expected=$6 max_below=${7:-}
        local xml="$LV_SCRATCH/$1.xml" t0 pid layout header family line total i gpa len end low_end

        t0=$(lv_now_ms)
        echo "--- $1: machine=$machine ${mem} MiB cells=$cells backing=$backing${max_below:+ max-ram-below-4g=$max_below}"
        domain_xml "$name" "$machine" "$mem" "$cells" "$backing" "$max_below" >"$xml"
        libvirt_create "$name" "$xml" --paused
        pid=$LV_PID
        layout=$("$VM_LAYOUT" "$pid" 2>&1) || lv_fail "$1: vm-layout $pid: $layout"
        printf '  %s\n' "${layout//$'\n'/$'\n  '}"
        header=$(head -n 1 <<<"$layout")
        family=$machine
        [[ $machine == pc-i440fx-1.* ]] && family=pc-legacy
        [[ $header == "machine=$family "* ]] || lv_fail "$1: vm-layout machine: '$header', expected $family"
        R_GPA=()
        R_HVA=()
        R_LEN=()
        while IFS= read -r line; do
                [[ $line =~ ^gpa=(0x[0-9a-f]+)\ hva=(0x[0-9a-f]+)\ len=(0x[0-9a-f]+)$ ]] ||
                        lv_fail "$1: vm-layout line '$line'"
                R_GPA+=($((BASH_REMATCH[1])))
                R_HVA+=($((BASH_REMATCH[2])))
                R_LEN+=($((BASH_REMATCH[3])))
        done < <(tail -n +2 <<<"$layout")
        total=0
        for len in "${R_LEN[@]}"; do
                total=$((total + len))
        done
        ((total == mem * MIB)) || lv_fail "$1: our ranges hold $total bytes, the domain has $((mem * MIB))"
        if ((${#R_GPA[@]} != n_expected)); then
                echo "MISMATCH $1: ${#R_GPA[@]} ranges, expected $n_expected" >&2
                FAILS=$((FAILS + 1))
        fi

        # Per range: first page, second page, middle, last page, last byte; and just past its end.
        low_end=0
        for i in "${!R_GPA[@]}"; do
                gpa=${R_GPA[i]}
                len=${R_LEN[i]}
                end=$((gpa + len))
                ((end <= FOUR_G)) && low_end=$end
                probe "$name" "$gpa" "range $i start"
                probe "$name" $((gpa + PAGE)) "range $i second page"
                probe "$name" $((gpa + (len / 2 / PAGE) * PAGE)) "range $i middle"
                probe "$name" $((end - PAGE)) "range $i last page"
                probe "$name" $((end - 1)) "range $i last byte"
                probe "$name" "$end" "range $i end"
        done
        # The PCI hole (between the end of low RAM and 4 GiB), below and at 4 GiB.
        probe "$name" $(((low_end + FOUR_G) / 2 / MIB * MIB)) "PCI hole"
        probe "$name" 0xe0000000 "3.5 GiB (pc threshold / PCI hole)"
        probe "$name" 0xb0000000 "2.75 GiB (q35 MMCONFIG)"
        probe "$name" $((FOUR_G - PAGE)) "just below 4 GiB"
        probe "$name" $FOUR_G "4 GiB"
        probe "$name" $((FOUR_G + PAGE)) "4 GiB + 4 KiB"
        # The legacy VGA/ROM window: shown, not judged (see judge).
        probe "$name" 0xa0000 "VGA window" overlay
        probe "$name" 0xc0000 "option ROM window" overlay
        probe "$name" 0xf0000 "BIOS window" overlay
        run_probes "$name"

        V destroy "$name" >/dev/null || lv_fail "$1: virsh destroy failed"
        N_DOMAINS=$((N_DOMAINS + 1))
        echo "  ($1: started, located, probed and destroyed in $(lv_secs_since "$t0") s)"
}

T0=$SECONDS
libvirt_start_virtlogd
libvirt_start_libvirtd
lv_ok "libvirtd started in $((SECONDS - T0)) s"

#     label           machine        MiB   cells backing ranges max-ram-below-4g
check pc-256          pc             256   0     anon    1
check pc-3584         pc             3584  0     anon    2      # the pc split's threshold: 3 GiB low
check q35-2816        q35            2816  0     anon    2      # the q35 split's threshold: 2 GiB low
check q35-2814        q35            2814  0     anon    1      # just below it: all low
check pc-numa         pc             256   2     anon    2
check q35-memfd-numa  q35            3072  2     memfd   3      # cell 1 straddles the split
check pc-1.7-4096     pc-i440fx-1.7  4096  0     anon    2      # no gigabyte alignment: 3.5 GiB low
check pc-file-max2g   pc             3072  0     file    2 2G   # a file backend; low RAM lowered
check q35-max1g       q35            2048  0     anon    2 1G

libvirt_start_summary
((FAILS == 0)) || lv_fail "$FAILS of $PROBES probes disagree with QEMU's gpa2hva (MISMATCH lines above)"
lv_ok "$PROBES gpa2hva probes agree with vm_locate_ram() on $N_DOMAINS domains, in $((SECONDS - T0)) s"
