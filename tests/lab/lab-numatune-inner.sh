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
exec "$VTISM_SOURCE_ROOT/tests/integration/test-numatune.sh"
