#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Inside the lab (2 nodes: DRAM node 0, CPU-less "CXL" node 1): a cgroup v2 hierarchy with the
# cpuset controller, as a Debian 12 host has (lib/libvirt.sh), then tests/integration/test-numatune.sh.
set -euo pipefail
# shellcheck source=lib/libvirt.sh
. "$VTISM_SOURCE_ROOT/tests/lab/lib/libvirt.sh"
exec "$VTISM_SOURCE_ROOT/tests/integration/test-numatune.sh"
