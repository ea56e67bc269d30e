#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The README demo, INSIDE the lab (tests/lab/run --systemd --kvm): vtismd under systemd on a
# DRAM + CXL host, a KVM guest whose hot window is known, its DRAM budget from the config, and
# 'vtismctl status' / 'heatmap' / 'plan' before and after vtismd tiered it: the hot window on
# DRAM, the rest demoted to CXL.
# Usage: demo-inner.sh SOURCE_ROOT BUILD_ROOT [MAX_SECONDS]
set -euo pipefail

SRC=$1
BUILD=$2
MAX_SECONDS=${3:-300}
# shellcheck source=lib/install-vtism.sh
. "$SRC/tests/lab/lib/install-vtism.sh"

[[ ${VTISM_LAB:-} == 1 && -d /run/systemd/system ]] || {
        echo "demo: run me through tests/lab/run --systemd --kvm" >&2
        exit 77
}

cat >/tmp/vtism.conf <<'CONF'
global = {
        sample_interval_ms = 2000;
        heat_range = "8M";
};
# The demo guest may keep 24 MiB of its 64 MiB on DRAM: its hottest pages.
vm = ( { cmdline = "*vtguest*"; dram_budget = "24M"; } );
CONF

echo "== installing vtism and starting it: systemctl start vtismd"
echo "   /etc/vtism.conf:"
sed 's/^/     /' /tmp/vtism.conf
install_vtism "$SRC" "$BUILD" /tmp/vtism.conf
systemctl start vtismd.service
systemctl --no-pager status vtismd.service | head -5

echo
echo "== starting a KVM guest (64 MiB) whose hot window is guest-physical 0x1000000-0x17fffff (8 MiB)"
"$BUILD/tests/lab/workloads/run-guest" --mem 64 --accel kvm --info /tmp/guest.info -- \
        hot=0x1000000+8M mode=write report=5
# shellcheck disable=SC1091 # written by run-guest
. /tmp/guest.info
trap 'kill "$QEMU_PID" 2>/dev/null || true' EXIT

vm() { vtismctl status --json | jq -c --argjson p "$QEMU_PID" '.vms[] | select(.pid == $p)'; }
deadline=$((SECONDS + 120))
until vm | jq -e '.state == "tracked" and .residency_known' >/dev/null 2>&1; do
        ((SECONDS < deadline)) || break
        sleep 1
done
echo
echo "== before: vtismctl status"
vtismctl status
echo
echo "== before: vtismctl heatmap $QEMU_PID"
vtismctl heatmap "$QEMU_PID" || true

# Until the guest's DRAM use is down to its target (or MAX_SECONDS).
deadline=$((SECONDS + MAX_SECONDS))
while ((SECONDS < deadline)); do
        v=$(vm)
        if jq -e '.dram_target_bytes != null and .dram_bytes <= .dram_target_bytes and .pages_demoted > 0' <<<"$v" >/dev/null; then
                break
        fi
        sleep 2
done
sleep 4
echo
echo "== after: vtismctl status"
vtismctl status
echo
echo "== after: vtismctl heatmap $QEMU_PID"
vtismctl heatmap "$QEMU_PID" || true
echo
echo "== vtismctl plan $QEMU_PID"
vtismctl plan "$QEMU_PID" || true
echo
echo "== journalctl -u vtismd"
journalctl --no-pager -o short-monotonic -u vtismd.service | tail -n 15
echo
v=$(vm)
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
if jq -en 'input | (.dram_target_bytes != null and .dram_bytes <= .dram_target_bytes and .cxl_bytes > 0)' <<<"$v" >/dev/null; then
        echo "demo: the guest is tiered: $(mib "$(jq .dram_bytes <<<"$v")") on DRAM (target $(mib "$(jq .dram_target_bytes <<<"$v")")), $(mib "$(jq .cxl_bytes <<<"$v")") on CXL; $(jq .pages_promoted <<<"$v") pages promoted, $(jq .pages_demoted <<<"$v") demoted"
else
        echo "demo: the guest is NOT tiered after ${MAX_SECONDS} s: $v" >&2
        systemctl stop vtismd.service
        exit 1
fi
systemctl stop vtismd.service
