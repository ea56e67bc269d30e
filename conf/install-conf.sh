#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# meson install: put the default configuration in place only where there is none, so that an
# edited /etc/vtism.conf survives every reinstall. The default itself is always installed as $1.
#   $1  the default as installed (DATADIR/vtism/vtism.conf)   $2  the configuration file (/etc/vtism.conf)
set -eu
default="${DESTDIR:-}$1"
conf="${DESTDIR:-}$2"
if [ -e "$conf" ] || [ -L "$conf" ]; then
        if cmp -s "$default" "$conf"; then
                echo "vtism: $2 is the default already"
        else
                echo "vtism: keeping $2 as it is (the shipped default is $1; compare with diff)"
        fi
else
        mkdir -p "$(dirname "$conf")"
        cp "$default" "$conf"
        chmod 0644 "$conf"
        echo "vtism: installed the default $2"
fi
