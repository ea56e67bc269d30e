#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The README demo, INSIDE the lab (tests/lab/run --systemd --kvm): vtismd under systemd on a
# DRAM + CXL host, a KVM guest whose hot window is known, and 'vtismctl status' / 'vtismctl
# heatmap' over time as the guest's heat builds up.
# Usage: demo-inner.sh SOURCE_ROOT BUILD_ROOT [ROUNDS]
set -euo pipefail

SRC=$1
BUILD=$2
ROUNDS=${3:-6}
# shellcheck source=lib/install-vtism.sh
. "$SRC/tests/lab/lib/install-vtism.sh"

[[ ${VTISM_LAB:-} == 1 && -d /run/systemd/system ]] || {
        echo "demo: run me through tests/lab/run --systemd --kvm" >&2
        exit 77
}

cat >/tmp/vtism.conf <<'CONF'
global = {
        sample_interval_ms = 1000;
        heat_range = "8M";
};
CONF

echo "== installing vtism and starting it: systemctl start vtismd"
install_vtism "$SRC" "$BUILD" /tmp/vtism.conf
systemctl start vtismd.service
systemctl --no-pager status vtismd.service | head -5

echo
echo "== starting a KVM guest (64 MiB) whose hot window is guest-physical 0x1000000-0x17fffff (8 MiB)"
"$BUILD/tests/lab/workloads/run-guest" --mem 64 --accel kvm --info /tmp/guest.info -- \
        hot=0x1000000+8M mode=write report=5
. /tmp/guest.info
trap 'kill "$QEMU_PID" 2>/dev/null || true' EXIT

for ((i = 1; i <= ROUNDS; i++)); do
        sleep 5
        echo
        echo "== $((i * 5)) s: vtismctl status"
        vtismctl status
        echo
        echo "== vtismctl heatmap $QEMU_PID"
        vtismctl heatmap "$QEMU_PID" || true
done

echo
echo "== journalctl -u vtismd"
journalctl --no-pager -o short-monotonic -u vtismd.service | tail -n 15
systemctl stop vtismd.service
