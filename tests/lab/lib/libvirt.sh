# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# Sourced INSIDE the lab (2 nodes: DRAM node 0, CPU-less "CXL" node 1) by the inner scripts that
# run a private libvirtd there with tests/integration/lib-libvirt.sh: what a Debian 12 host has and
# the lab's plain boot lacks, and libvirt's budgets for QEMU TCG inside QEMU TCG. Idempotent
# (lib-libvirt.sh re-executes its caller in a namespace of its own, which sources this again).

# A cgroup v2 hierarchy with the cpuset controller (libvirt puts each QEMU in a cpuset cgroup).
if ! grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts; then
        mount -t cgroup2 none /sys/fs/cgroup
fi
# Each one the kernel has (Debian's has all three; the patched lab kernel's config may lack some:
# one unknown name fails the whole write).
for c in cpuset memory pids; do
        if grep -qw "$c" /sys/fs/cgroup/cgroup.controllers; then
                echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control
        fi
done
# Live migrations stream over 127.0.0.1 (lib-libvirt.sh: --migrateuri tcp://127.0.0.1).
ip link set lo up
# /var/log is a tmpfs in the lab: the mount point lib-libvirt.sh binds over must exist.
mkdir -p /var/log/libvirt
if [[ -z ${VTISM_LIBVIRT_NS:-} ]]; then
        echo "lab: cgroup2 at /sys/fs/cgroup, controllers $(cat /sys/fs/cgroup/cgroup.subtree_control); numa_balancing $(cat /proc/sys/kernel/numa_balancing)"
fi
# libvirt in the lab is QEMU TCG inside QEMU TCG: a paused 128 MiB domain started in 28-58 s each
# (one create took over 60 s) at a host load average of ~9, against < 2 s on the host. Budgets
# about 5x those worst cases, so a hang still fails with its cause before the boot's limit.
export LV_CREATE_TIMEOUT=${LV_CREATE_TIMEOUT:-300} LV_LIBVIRTD_TIMEOUT=${LV_LIBVIRTD_TIMEOUT:-300}
export LV_PROBE_TIMEOUT=${LV_PROBE_TIMEOUT:-600}
# virtlogd's socket: 10 s on the host; in the lab at a host load average of ~17 the first start of
# virtlogd over 9p took longer than that.
export LV_VIRTLOGD_TIMEOUT=${LV_VIRTLOGD_TIMEOUT:-300}
