#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# INSIDE the lab (--systemd), for bench/cycle-lab: vtismd samples and plans memhog processes;
# print what its cycles cost on the event loop (VTISM_CYCLE_USEC of its per-cycle journal entry:
# sampling, residency allowance and planning), per setup, in steady state (a benchmark: never
# fails on time).
# Usage: cycle-inner.sh SOURCE_ROOT BUILD_ROOT CYCLES
set -euo pipefail
SRC=$1 BUILD=$2 CYCLES=${3:-20}
. "$SRC/tests/lab/lib/install-vtism.sh"
memhog=$BUILD/tests/lab/workloads/memhog
cat >/tmp/vtism.conf <<'CONF'
global = { sample_interval_ms = 2000; log_level = "debug"; libvirt_uri = "qemu+unix:///system?socket=/nonexistent"; };
processes = ( { cmdline = "*--info=/tmp/bench-*"; } );
vm = ( { cmdline = "*--info=/tmp/bench-*"; dram_budget = "50%"; } );
CONF
install_vtism "$SRC" "$BUILD" /tmp/vtism.conf
systemctl start vtismd.service
tracker=$(vtismctl status --json | jq -r .active_tracker)

# run NAME "MEMHOG ARGS" [...]: the setup's processes, CYCLES steady cycles (after 6 to settle)
run() {
        local name=$1 pids=() i a t0 stats
        shift
        vtismctl pause sampling >/dev/null
        i=0
        for a in "$@"; do
                # shellcheck disable=SC2086 # the arguments of one memhog
                "$memhog" --info=/tmp/bench-$i.info --pause-us=300000 $a >/dev/null 2>&1 &
                pids+=($!)
                i=$((i + 1))
        done
        for ((i = 0; i < ${#pids[@]}; i++)); do
                until grep -q '^memhog: pid=' /tmp/bench-$i.info 2>/dev/null; do sleep 0.2; done
        done
        vtismctl resume sampling >/dev/null
        sleep $((2 * 6))
        t0=$(awk '{ print $1 }' /proc/uptime)
        sleep $((2 * CYCLES))
        stats=$(journalctl --no-pager -u vtismd.service -o json --output-fields=VTISM_CYCLE_USEC |
                jq -s --argjson a "$t0" '[.[] | select(.VTISM_CYCLE_USEC) | select((.__MONOTONIC_TIMESTAMP | tonumber) / 1e6 > $a)
                        | .VTISM_CYCLE_USEC | tonumber] | sort | "\(length) \(.[length / 2 | floor]) \(add / length | floor) \(.[-1])"' -r)
        read -r n p50 mean max <<<"$stats"
        printf '%-34s %-10s %6s %10s %10s %10s\n' "$name" "$tracker" "$n" "$p50" "$mean" "$max"
        kill "${pids[@]}"
        wait "${pids[@]}" 2>/dev/null || true
        rm -f /tmp/bench-*.info
        sleep 4
}

printf '%-34s %-10s %6s %10s %10s %10s\n' "setup (memhog processes)" tracker cycles "p50 us" "mean us" "max us"
run "1 x 768 MiB, 128 MiB hot, 4 KiB" "--size=768M --hot=128M --thp=off"
run "1 x 768 MiB, 128 MiB hot, THP" "--size=768M --hot=128M --thp=on"
run "4 x 192 MiB, 32 MiB hot, 4 KiB" "--size=192M --hot=32M --thp=off" "--size=192M --hot=32M --thp=off" \
        "--size=192M --hot=32M --thp=off" "--size=192M --hot=32M --thp=off"
vtismctl status | tail -n 3
systemctl stop vtismd.service
