#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# meson install into a scratch DESTDIR, twice, with /etc/vtism.conf edited in between: the edit
# survives, the shipped default is refreshed under DATADIR/vtism, and the bash completion lands
# where bash-completion's pkg-config file says; the journal catalog is taken by journalctl.
. "$(dirname "$0")/lib.sh"
need meson cmp

root="$SCRATCH/root"
install_once() {
        meson install -C "$VTISM_BUILD_ROOT" --no-rebuild --destdir "$root" >"$SCRATCH/install.log" 2>&1 \
                || fail "meson install: $(cat "$SCRATCH/install.log")"
}
prefix=$(meson introspect "$VTISM_BUILD_ROOT" --buildoptions | jq -r '.[] | select(.name == "prefix") | .value')
sysconfdir=$(meson introspect "$VTISM_BUILD_ROOT" --buildoptions | jq -r '.[] | select(.name == "sysconfdir") | .value')
[[ $sysconfdir == /* ]] || sysconfdir=$prefix/$sysconfdir
conf="$root$sysconfdir/vtism.conf"
default="$root$prefix/share/vtism/vtism.conf"

install_once
cmp -s "$conf" "$VTISM_SOURCE_ROOT/conf/vtism.conf" || fail "first install: $conf is not the default"
cmp -s "$default" "$VTISM_SOURCE_ROOT/conf/vtism.conf" || fail "first install: no default at $default"
"$VTISM_BUILD_ROOT/src/daemon/vtismd" --check-config "$conf" >/dev/null || fail "installed config does not check"
ok "first install: $sysconfdir/vtism.conf is the default"

printf 'global = { sample_interval_ms = 1000; };   # edited by the operator\n' >>"$conf"
edited=$(sha256sum <"$conf")
echo "# an older default" >"$default"
install_once
[[ $(sha256sum <"$conf") == "$edited" ]] || fail "second install changed the edited $conf"
cmp -s "$default" "$VTISM_SOURCE_ROOT/conf/vtism.conf" || fail "second install did not refresh $default"
ok "second install: the edited configuration is kept, the default under share/vtism refreshed"

rm "$conf"
install_once
cmp -s "$conf" "$VTISM_SOURCE_ROOT/conf/vtism.conf" || fail "a removed configuration is not put back"
ok "third install after removing it: the default is back"

want=$(pkg-config --define-variable=prefix="$prefix" --variable=completionsdir bash-completion 2>/dev/null ||
        echo "$prefix/share/bash-completion/completions")
[[ -f $root$want/vtismctl ]] || fail "no bash completion in $want: $(find "$root" -name vtismctl)"
ok "bash completion installed to $want"
# The journal catalog: installed under the prefix's lib/systemd/catalog, and journalctl accepts it
# (journalctl --update-catalog on the DESTDIR only: never the host's /var/lib/systemd).
catalog="$root$prefix/lib/systemd/catalog/vtism.catalog"
[[ -f $catalog ]] || fail "no journal catalog at $catalog: $(find "$root" -name '*.catalog')"
if command -v journalctl >/dev/null; then
        case $prefix in
        /usr | /usr/local) ;;
        *) mkdir -p "$root/usr/lib/systemd/catalog" && cp "$catalog" "$root/usr/lib/systemd/catalog/" ;;
        esac
        journalctl --root="$root" --update-catalog >"$SCRATCH/catalog.log" 2>&1 \
                || fail "journalctl --update-catalog refuses the catalog: $(cat "$SCRATCH/catalog.log")"
        [[ ! -s $SCRATCH/catalog.log ]] || fail "journalctl --update-catalog warns: $(cat "$SCRATCH/catalog.log")"
        [[ -f $root/var/lib/systemd/catalog/database ]] || fail "no catalog database written under $root"
        listed=$(journalctl --root="$root" --list-catalog 2>&1) || fail "journalctl --list-catalog: $listed"
        n=$(grep -c ' vtism: ' <<<"$listed" || true)
        want=$(grep -c '^-- ' "$VTISM_SOURCE_ROOT/systemd/vtism.catalog")
        [[ $n -eq $want ]] || fail "journalctl lists $n vtism catalog entries, the file has $want: $listed"
        ok "journal catalog installed to $prefix/lib/systemd/catalog; journalctl --update-catalog takes its $n entries"
else
        ok "journal catalog installed to $prefix/lib/systemd/catalog (no journalctl to check its format)"
fi
echo PASS
