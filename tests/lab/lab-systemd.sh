#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lab-systemd: boot the lab with systemd as PID 1 (tests/lab/run --systemd) and, inside
# (lib/systemd-inner.sh): install vtismd, vtismctl, vtismd.service, the D-Bus policy and
# /etc/vtism.conf into the overlay; systemctl start vtismd; systemctl is-active; vtismctl status;
# a QEMU of user nobody is seen through the hardened unit's sandbox (ignored while nobody is not
# in qemu_users, tiered with its guest RAM found once a reload adds it); a memhog process with a
# DRAM budget: the journal's VM found, migration round and VM lost entries read back by MESSAGE_ID
# with journalctl -o json, the tracker entry; systemctl reload vtismd with a bad configuration
# exits non-zero (ExecReload is the synchronous vtismctl reload), the daemon keeps its PID and the
# configuration in force, the journal has the reload-failed entry with VTISM_CONFIG_ERROR= and
# journalctl -x shows its catalog text; journalctl -u vtismd shows the daemon's start message.

set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "$(readlink -f "$0")")/lib/common.sh"

main() {
        lab_init
        local missing=() f
        for f in "$LAB_BUILD/src/daemon/vtismd" "$LAB_BUILD/src/ctl/vtismctl" "$LAB_BUILD/tests/lab/workloads/memhog"; do
                [[ -x $f ]] || missing+=("$f")
        done
        for f in systemd/vtismd.service systemd/org.vtism1.conf systemd/vtism.catalog conf/vtism.conf; do
                [[ -f $LAB_SOURCE/$f ]] || missing+=("$LAB_SOURCE/$f")
        done
        [[ ${#missing[@]} -eq 0 ]] || lab_skip "not built or not written yet: ${missing[*]}"
        [[ -x /lib/systemd/systemd ]] || lab_skip "systemd is not installed on the host (apt-get install systemd)"
        command -v dbus-daemon >/dev/null || lab_skip "dbus is not installed on the host (apt-get install dbus)"

        lab_boot systemd --systemd --timeout 1200 -- \
                "$LAB_SOURCE/tests/lab/lib/systemd-inner.sh" "$LAB_SOURCE" "$LAB_BUILD" ||
                lab_fail "the systemd flow failed (see above)"
        lab_cleanup_results
        echo "PASS: $LAB_TEST: systemctl start/reload (good and bad) vtismd, vtismctl status, MESSAGE_IDs and the catalog under the lab's systemd"
}

main "$@"
