#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Inside the lab (2 nodes: DRAM node 0, CPU-less "CXL" node 1): a cgroup v2 hierarchy with the
# cpuset controller, as a Debian 12 host has, then tests/integration/test-numatune.sh.
set -euo pipefail
if ! grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts; then
        mount -t cgroup2 none /sys/fs/cgroup
fi
echo "+cpuset +memory +pids" >/sys/fs/cgroup/cgroup.subtree_control
# /var/log is a tmpfs in the lab: the mount point lib-libvirt.sh binds over must exist.
mkdir -p /var/log/libvirt
echo "lab: cgroup2 at /sys/fs/cgroup, controllers $(cat /sys/fs/cgroup/cgroup.subtree_control); numa_balancing $(cat /proc/sys/kernel/numa_balancing)"
# libvirt in the lab is QEMU TCG inside QEMU TCG: a paused 128 MiB domain started in 28-58 s each
# (one create took over 60 s) at a host load average of ~9, against < 2 s on the host. Budgets
# about 5x those worst cases, so a hang still fails with its cause before the boot's limit.
export LV_CREATE_TIMEOUT=${LV_CREATE_TIMEOUT:-300} LV_LIBVIRTD_TIMEOUT=${LV_LIBVIRTD_TIMEOUT:-300}
export LV_PROBE_TIMEOUT=${LV_PROBE_TIMEOUT:-600}
exec "$VTISM_SOURCE_ROOT/tests/integration/test-numatune.sh"
