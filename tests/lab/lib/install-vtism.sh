# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced INSIDE a lab booted with --systemd: install vtism from a build tree into the lab's
# writable overlay, the way 'meson install' lays it out, and make systemd and D-Bus see it.
# install_vtism SOURCE_ROOT BUILD_ROOT [CONFIG_FILE]
install_vtism() {
        local src=$1 build=$2 conf=${3:-$1/conf/vtism.conf}

        install -D -m 0755 "$build/src/daemon/vtismd" /usr/sbin/vtismd
        install -D -m 0755 "$build/src/ctl/vtismctl" /usr/bin/vtismctl
        install -D -m 0644 "$src/systemd/vtismd.service" /etc/systemd/system/vtismd.service
        install -D -m 0644 "$src/systemd/org.vtism1.conf" /usr/share/dbus-1/system.d/org.vtism1.conf
        install -D -m 0644 "$src/systemd/vtism.catalog" /usr/lib/systemd/catalog/vtism.catalog
        install -D -m 0644 "$conf" /etc/vtism.conf
        # the lab's own /var/lib/systemd/catalog (the overlay), for journalctl -x
        journalctl --update-catalog
        systemctl daemon-reload
        # dbus-daemon reads its policy files at start and on reload.
        systemctl try-reload-or-restart dbus.service
}
