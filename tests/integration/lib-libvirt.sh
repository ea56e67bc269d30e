# shellcheck shell=bash
# Helpers for tests that need a real libvirtd (sourced, bash). The test runs in a private mount
# namespace where /run, /etc/libvirt, /var/lib/libvirt, /var/cache/libvirt and /var/log/libvirt
# are scratch directories: the virtlogd and libvirtd started here are the test's own and never
# meet a libvirtd of the machine or of another test (sockets, pid files, domain state all
# private). It is also a PID namespace with its own /proc: the test (PID 1 there), its libvirtd,
# QEMUs and vtismd see only each other, not the QEMUs of other tests or engineers on a shared
# machine (a vtismd scanning /proc sampled every one of them), and whatever the test leaves
# behind dies with it, even when the test itself is SIGKILLed at a timeout. Only processes
# started here are stopped, by PID.
#
#   libvirt_enter_namespace "$@"   first thing in the test: re-executes it inside the namespace
#   libvirt_private_dirs           scratch directories over libvirt's paths; hides /dev/kvm
#   libvirt_start_virtlogd         the private virtlogd
#   libvirt_start_libvirtd         the private libvirtd; waits until it answers and has probed QEMU
#   libvirt_create NAME XML [ARGS] virsh create ARGS XML; waits for the QEMU pid, logs the time
#   libvirt_domain_xml NAME        a small TCG domain (128 MiB, no disk, numatune nodeset 0)
#   libvirt_start_peer             a second private virtlogd + libvirtd ("another host" for live
#                                  migrations: own host UUID, own /run, /etc, /var/lib/libvirt ...)
#                                  in a mount namespace of its own; $LV_PEER_URI reaches it from
#                                  here, lv_in_peer CMD... runs CMD in its namespace
#   lv_* helpers                   skip/fail/ok/wait_for
#   $LV_ID                         the test's host PID, for domain names
#
# Every failure says why: lv_fail and any command that fails under set -e (the ERR trap below)
# print the cause and the tails of the logs (libvirtd, its capability cache decisions, virtlogd,
# QEMU), so a red CI run can be read from the test log alone.

set -eEuo pipefail

lv_skip() {
        echo "SKIP: $*"
        exit 77
}

lv_fail() {
        echo "FAIL: $*" >&2
        lv_dump_logs >&2
        # again after the logs: meson test --print-errorlogs shows only a log's last 100 lines
        echo "FAIL: $*" >&2
        exit 1
}

lv_ok() {
        echo "ok: $*"
}

# A command that fails under set -e ends the test without a word of its own: say which one, where,
# and show the logs. Only in the test's own shell (BASHPID == $$): a failure inside $(...) is
# reported once, by the command that uses its result.
lv_on_err() {
        local rc=$1 line=$2 cmd=$3 src=$4
        ((BASHPID == $$)) || return 0
        echo "FAIL: '$cmd' exited with status $rc (${src##*/}:$line)" >&2
        lv_dump_logs >&2
}
trap 'lv_on_err $? $LINENO "$BASH_COMMAND" "${BASH_SOURCE[0]}"' ERR

# Milliseconds since the epoch, and seconds since then with one decimal ("2.4").
lv_now_ms() {
        local t=${EPOCHREALTIME/[.,]/}
        echo $((t / 1000))
}
lv_secs_since() {
        local ms=$(($(lv_now_ms) - $1))
        printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

# wait_for SECONDS COMMAND...: poll every 100 ms until COMMAND succeeds.
lv_wait_for() {
        local deadline=$((SECONDS + $1))
        shift
        while ! "$@" 2>/dev/null; do
                ((SECONDS < deadline)) || return 1
                sleep 0.1
        done
}

lv_need() {
        local c
        for c in "$@"; do
                command -v "$c" >/dev/null || lv_skip "'$c' is not installed (apt-get install libvirt-daemon-system qemu-system-x86)"
        done
}

libvirt_enter_namespace() {
        if [[ -n ${VTISM_LIBVIRT_NS:-} ]]; then
                return 0
        fi
        [[ $EUID -eq 0 ]] || lv_skip "needs root (a private libvirtd for qemu:///system)"
        lv_need unshare mount libvirtd virtlogd virsh qemu-system-x86_64
        unshare --mount --pid --fork --mount-proc --propagation private true 2>/dev/null ||
                lv_skip "cannot create a mount and PID namespace here (needed to keep libvirtd private)"
        VTISM_LIBVIRT_NS=$$ exec unshare --mount --pid --fork --mount-proc --propagation private -- \
                "$BASH" "$0" "$@"
}

# The test's PID on the host (inside, $$ is 1): in domain names, so that a QEMU seen on the host
# (ps) names the test that started it.
# shellcheck disable=SC2034 # used by the tests that source this file
LV_ID=${VTISM_LIBVIRT_NS:-$$}

# As PID 1 of its namespace the test gets only the signals it has a handler for: without these
# a SIGTERM (meson on Ctrl-C) would be ignored and the cleanup never run.
if [[ -n ${VTISM_LIBVIRT_NS:-} && $$ -eq 1 ]]; then
        trap 'echo "FAIL: interrupted (SIGTERM)" >&2; exit 143' TERM
        trap 'echo "FAIL: interrupted (SIGINT)" >&2; exit 130' INT
fi

LV_SCRATCH=""
LV_LIBVIRTD_PID=""
LV_VIRTLOGD_PID=""
LV_EXTRA_PIDS=()

# Called once, inside the namespace: scratch directories over libvirt's paths.
libvirt_private_dirs() {
        local d
        LV_SCRATCH=$(mktemp -d /var/tmp/vtism-libvirt.XXXXXX)
        chmod 755 "$LV_SCRATCH"
        mkdir -p "$LV_SCRATCH"/{run,lib,cache,log,etc}
        cp -a /etc/libvirt/. "$LV_SCRATCH/etc/"
        # Nothing of the machine's own setup may start here (networks, storage pools).
        find "$LV_SCRATCH/etc" -path '*/autostart/*' -delete
        # No dnsmasq, firewall or numad games: the test domains have no network.
        mount --bind "$LV_SCRATCH/run" /run
        mount --bind "$LV_SCRATCH/etc" /etc/libvirt
        mount --bind "$LV_SCRATCH/lib" /var/lib/libvirt
        mount --bind "$LV_SCRATCH/cache" /var/cache/libvirt
        mount --bind "$LV_SCRATCH/log" /var/log/libvirt
        for d in /run/lock /var/lib/libvirt/qemu /var/cache/libvirt/qemu /var/log/libvirt/qemu; do
                mkdir -p "$d"
        done
        # The capability cache's decisions (why QEMU is probed again) go to a log of their own, read
        # by libvirt_create and shown on failure; everything else at libvirtd's default level.
        cat >>"$LV_SCRATCH/etc/libvirtd.conf" <<EOF

# vtism test (lib-libvirt.sh): log the QEMU capability cache's decisions.
log_filters="1:qemu.qemu_capabilities 1:util.filecache"
log_outputs="1:file:$LV_SCRATCH/libvirtd-caps.log 3:stderr"
EOF
        libvirt_hide_kvm
}

# Why /dev/kvm is hidden from the private libvirtd (issue 17: every virsh create of a small paused
# TCG domain took 36-48 s on a fresh 2-core Debian 12 machine whose /dev/kvm, PVM-based, is
# crw------- root: no udev there to apply Debian's root:kvm 0660 rule):
#   - libvirt probes QEMU's capabilities with CAP_DAC_OVERRIDE ("QEMU might run into permission
#     issues ... override them just for the purpose of probing", qemuProcessQMPLaunch), so the
#     probing QEMU opens /dev/kvm and the cached capabilities say KVM;
#   - every lookup of that cache (11 per virsh create) checks /dev/kvm as the QEMU user
#     (virQEMUCapsKVMUsable: virFileAccessibleAs(R_OK|W_OK, libvirt-qemu)), finds it unusable and
#     throws the cache away; with log_filters="1:qemu" libvirtd logs
#       virQEMUCapsKVMUsable:5261 : /dev/kvm has changed (1796103122 vs 0)
#       virQEMUCapsIsValid:5368 : KVM was enabled when probing '/usr/bin/qemu-system-x86_64',
#                                 but it is not available now
#       virFileCacheValidate:260 : Cached data '0x...' no longer valid for '/usr/bin/qemu-system-x86_64'
#     and probes again: two probing QEMUs (accel=kvm:tcg, then accel=tcg), ~2 s each, per lookup,
#     22 for one domain, 45 s, before the domain's own QEMU is spawned;
#   - /dev/null bound over /dev/kvm inverts the disagreement (anyone may open it, but the probe
#     finds no KVM: "KVM was not enabled when probing ..., but it should be usable now"): one
#     TCG-only probe per lookup, ~22 s per domain (30 s at a load of 6).
# A root-only copy of /dev/null over /dev/kvm makes both sides agree that there is no KVM: the
# QEMU user may not open it, and the probe's KVM_GET_API_VERSION fails ("failed to initialize kvm:
# Inappropriate ioctl for device"). One probe per libvirtd (the cache is saved in the scratch
# /var/cache/libvirt and still valid after a restart); then a paused domain starts in < 1 s idle.
# The test domains are TCG (<domain type='qemu'>) and never need KVM. A device node, not a plain
# file: libvirt moves the mounts under /dev into each domain's own /dev, which fails for a file
# mounted over a device ("Unable to move /run/libvirt/qemu/1-d1.kvm mount to /dev/kvm: Invalid
# argument"). libvirt chmods the node for the domain's /dev; it stays root-only.
libvirt_hide_kvm() {
        [[ -e /dev/kvm ]] || return 0
        mknod -m 600 "$LV_SCRATCH/no-kvm" c 1 3 ||
                lv_fail "cannot create the device node that hides /dev/kvm from libvirtd (see libvirt_hide_kvm)"
        mount --bind "$LV_SCRATCH/no-kvm" /dev/kvm
}

libvirt_start_virtlogd() {
        virtlogd >"$LV_SCRATCH/virtlogd.log" 2>&1 &
        LV_VIRTLOGD_PID=$!
        lv_wait_for "${LV_VIRTLOGD_TIMEOUT:-10}" test -S /run/libvirt/virtlogd-sock ||
                lv_fail "virtlogd did not start within ${LV_VIRTLOGD_TIMEOUT:-10} s: $(tail -n 5 "$LV_SCRATCH/virtlogd.log" 2>&1)"
}

# Budgets (seconds), far above what was measured on a loaded 2-core machine (libvirtd answers in
# < 1 s, the one capability probe takes ~2-5 s, a paused 128 MiB-4 GiB domain starts in < 2 s),
# so that a hang fails here with its cause instead of at the meson timeout.
LV_LIBVIRTD_TIMEOUT=${LV_LIBVIRTD_TIMEOUT:-60}
LV_PROBE_TIMEOUT=${LV_PROBE_TIMEOUT:-120}
LV_CREATE_TIMEOUT=${LV_CREATE_TIMEOUT:-60}

# libvirtd in the background (not -d: then $! is its PID); waits until it answers, then until it
# has QEMU's capabilities (probed on the first start, read back from its cache on a restart), so
# the first domain's start time is the domain's own.
libvirt_start_libvirtd() {
        local t0 t1 probes
        t0=$(lv_now_ms)
        libvirtd --pid-file /run/libvirtd.pid >>"$LV_SCRATCH/libvirtd.log" 2>&1 &
        LV_LIBVIRTD_PID=$!
        lv_wait_for "$LV_LIBVIRTD_TIMEOUT" lv_libvirtd_answers ||
                lv_fail "libvirtd (pid $LV_LIBVIRTD_PID) did not answer within $LV_LIBVIRTD_TIMEOUT s"
        t1=$(lv_now_ms)
        timeout -k 5 "$LV_PROBE_TIMEOUT" virsh -q -c qemu:///system domcapabilities --virttype qemu \
                --emulatorbin "$(command -v qemu-system-x86_64)" --arch x86_64 >"$LV_SCRATCH/domcaps.xml" ||
                lv_fail "libvirtd did not report QEMU's capabilities within $LV_PROBE_TIMEOUT s"
        probes=$(lv_probe_count)
        echo "libvirtd: answered after $(lv_secs_since "$t0") s, QEMU's capabilities after $(lv_secs_since "$t1") s more (capability probes of QEMU so far: $probes)"
}

lv_libvirtd_answers() {
        kill -0 "$LV_LIBVIRTD_PID" 2>/dev/null || lv_fail "libvirtd (pid $LV_LIBVIRTD_PID) exited"
        virsh -q -c qemu:///system uri >/dev/null
}

# How often libvirtd has probed QEMU: each probe ends with its result saved to the cache on disk.
lv_probe_count() {
        local n
        n=$(grep -c "virQEMUCapsSaveFile:.*Saved caps" "$LV_SCRATCH/libvirtd-caps.log" 2>/dev/null) || true
        echo "${n:-0}"
}

LV_START_TIMES=()

# libvirt_create NAME XML [VIRSH CREATE ARGS...]: start the domain defined in file XML (named
# NAME), wait for its QEMU pid file, record the pid for the cleanup (and in $LV_PID) and log how
# long it took. Fails, with libvirt's answer and the logs, if virsh fails or hangs, if there is no
# pid, or if libvirtd probed QEMU again (the cause of issue 17, see libvirt_hide_kvm).
libvirt_create() {
        local name=$1 xml=$2 t0 out rc=0 probes secs
        shift 2
        probes=$(lv_probe_count)
        t0=$(lv_now_ms)
        out=$(timeout -k 5 "$LV_CREATE_TIMEOUT" virsh -q -c qemu:///system create "$@" "$xml" 2>&1) || rc=$?
        ((rc != 124 && rc != 137)) ||
                lv_fail "$name: virsh create $* did not return within $LV_CREATE_TIMEOUT s${out:+: $out}"
        ((rc == 0)) || lv_fail "$name: virsh create $* failed after $(lv_secs_since "$t0") s (status $rc): $out"
        lv_wait_for 10 test -s "/run/libvirt/qemu/$name.pid" ||
                lv_fail "$name: no /run/libvirt/qemu/$name.pid 10 s after virsh create returned"
        LV_PID=$(<"/run/libvirt/qemu/$name.pid")
        LV_EXTRA_PIDS+=("$LV_PID")
        kill -0 "$LV_PID" 2>/dev/null || lv_fail "$name: QEMU pid $LV_PID (from its pid file) is not running"
        secs=$(lv_secs_since "$t0")
        LV_START_TIMES+=("$name=$secs")
        echo "  domain $name started in $secs s (QEMU pid $LV_PID)"
        if (($(lv_probe_count) != probes)); then
                lv_fail "$name: libvirtd probed QEMU's capabilities again during virsh create (its cache was thrown away; see libvirtd-caps.log below and libvirt_hide_kvm)"
        fi
}

# One line for the end of a test: every domain's start time.
libvirt_start_summary() {
        local e max=0 ms
        ((${#LV_START_TIMES[@]})) || return 0
        for e in "${LV_START_TIMES[@]}"; do
                ms=${e##*=}
                ms=$((${ms%.*} * 1000 + ${ms#*.} * 100))
                ((ms > max)) && max=$ms
        done
        echo "domain start times (s): ${LV_START_TIMES[*]}; slowest $((max / 1000)).$((max % 1000 / 100)) s"
}

libvirt_kill_libvirtd() {
        local sig=${1:-TERM}
        [[ -n $LV_LIBVIRTD_PID ]] || return 0
        kill "-$sig" "$LV_LIBVIRTD_PID" 2>/dev/null || true
        wait "$LV_LIBVIRTD_PID" 2>/dev/null || true
        LV_LIBVIRTD_PID=""
}

libvirt_dump_logs_hook() { :; }

lv_dump_logs() {
        local f
        libvirt_dump_logs_hook || true
        [[ -n $LV_SCRATCH ]] || return 0
        libvirt_start_summary
        for f in "$LV_SCRATCH"/virtlogd.log "$LV_SCRATCH"/libvirtd.log "$LV_SCRATCH"/log/qemu/*.log \
                ${LV_PEER:+"$LV_PEER"/libvirtd.log "$LV_PEER"/log/qemu/*.log}; do
                [[ -s $f ]] || continue
                echo "--- $f (tail) ---"
                tail -n 20 "$f"
        done
        f=$LV_SCRATCH/libvirtd-caps.log
        if [[ -s $f ]]; then
                echo "--- $f: QEMU probes and cache decisions (tail) ---"
                grep -E "Saved caps|no longer valid|Outdated|virQEMUCapsIsValid|virQEMUCapsKVMUsable|error|warning" "$f" | tail -n 20 || true
        fi
}

LV_PEER=""
LV_PEER_NS_PID=""
LV_PEER_URI=""

# libvirt_start_peer: a second libvirtd, as the destination (or source) of live migrations from
# the first. libvirt refuses to migrate to "the same host" by host UUID only, so the peer has a
# host_uuid of its own; its paths are scratch directories bound in a mount namespace of its own
# (below this test's), where its QEMUs' pid files are too. Same PID and network namespace: the
# migration stream goes over 127.0.0.1 (virsh migrate --migrateuri tcp://127.0.0.1). The QEMU
# capabilities are copied from the first libvirtd's cache (no second probe).
libvirt_start_peer() {
        local t0
        LV_PEER=$(mktemp -d /var/tmp/vtism-libvirt-peer.XXXXXX)
        chmod 755 "$LV_PEER"
        mkdir -p "$LV_PEER"/{run,lib,cache,log,etc}
        cp -a /etc/libvirt/. "$LV_PEER/etc/"
        cp -a /var/cache/libvirt/. "$LV_PEER/cache/"
        sed -i '/^log_filters=/d; /^log_outputs=/d' "$LV_PEER/etc/libvirtd.conf"
        printf '\n# vtism test (lib-libvirt.sh): the peer is "another host".\nhost_uuid = "%s"\n' \
                "$(cat /proc/sys/kernel/random/uuid)" >>"$LV_PEER/etc/libvirtd.conf"
        cat >"$LV_PEER/start.sh" <<EOF
set -e
mount --bind $LV_PEER/run /run
mount --bind $LV_PEER/etc /etc/libvirt
mount --bind $LV_PEER/lib /var/lib/libvirt
mount --bind $LV_PEER/cache /var/cache/libvirt
mount --bind $LV_PEER/log /var/log/libvirt
mkdir -p /run/lock /var/lib/libvirt/qemu /var/cache/libvirt/qemu /var/log/libvirt/qemu
virtlogd >$LV_PEER/virtlogd.log 2>&1 &
for i in \$(seq 100); do [ -S /run/libvirt/virtlogd-sock ] && break; sleep 0.1; done
libvirtd --pid-file /run/libvirtd.pid >>$LV_PEER/libvirtd.log 2>&1 &
wait
EOF
        t0=$(lv_now_ms)
        unshare --mount --propagation private -- bash "$LV_PEER/start.sh" &
        LV_PEER_NS_PID=$!
        LV_EXTRA_PIDS+=("$LV_PEER_NS_PID")
        LV_PEER_URI="qemu+unix:///system?socket=$LV_PEER/run/libvirt/libvirt-sock"
        lv_wait_for "$LV_LIBVIRTD_TIMEOUT" virsh -q -c "$LV_PEER_URI" uri ||
                lv_fail "the peer libvirtd did not answer within $LV_LIBVIRTD_TIMEOUT s"
        timeout -k 5 "$LV_PROBE_TIMEOUT" virsh -q -c "$LV_PEER_URI" domcapabilities --virttype qemu \
                --emulatorbin "$(command -v qemu-system-x86_64)" --arch x86_64 >/dev/null ||
                lv_fail "the peer libvirtd did not report QEMU's capabilities within $LV_PROBE_TIMEOUT s"
        echo "peer libvirtd: answered after $(lv_secs_since "$t0") s ($LV_PEER_URI)"
}

# lv_in_peer CMD...: run CMD in the peer's mount namespace (its /run/libvirt, pid files, qemu:///system).
lv_in_peer() {
        nsenter --mount="/proc/$LV_PEER_NS_PID/ns/mnt" -- "$@"
}

# Destroy the domains of the private libvirtd, stop it and virtlogd, kill what is left of the
# QEMUs it started (their pids were recorded), remove the scratch tree.
libvirt_cleanup() {
        local dom pid
        if [[ -n $LV_LIBVIRTD_PID ]]; then
                for dom in $(virsh -q -c qemu:///system list --name 2>/dev/null); do
                        virsh -q -c qemu:///system destroy "$dom" >/dev/null 2>&1 || true
                done
        fi
        if [[ -n $LV_PEER_URI ]]; then
                for dom in $(virsh -q -c "$LV_PEER_URI" list --name 2>/dev/null); do
                        virsh -q -c "$LV_PEER_URI" destroy "$dom" >/dev/null 2>&1 || true
                done
        fi
        libvirt_kill_libvirtd TERM
        for pid in "${LV_EXTRA_PIDS[@]}"; do
                kill -9 "$pid" 2>/dev/null || true
        done
        if [[ -n $LV_VIRTLOGD_PID ]]; then
                kill "$LV_VIRTLOGD_PID" 2>/dev/null || true
                wait "$LV_VIRTLOGD_PID" 2>/dev/null || true
        fi
        if [[ -n $LV_SCRATCH ]]; then
                umount /run /etc/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt 2>/dev/null || true
                rm -rf "$LV_SCRATCH"
        fi
        # The peer's libvirtd and virtlogd die with this test's PID namespace, its mounts with its
        # mount namespace.
        [[ -z $LV_PEER ]] || rm -rf "$LV_PEER"
}

# libvirt_domain_xml NAME [UUID]: TCG, 128 MiB, one vCPU, no disk, no network, serial to a
# file, memory bound to host node 0.
libvirt_domain_xml() {
        local name=$1 uuid=${2:-}
        cat <<EOF
<domain type='qemu'>
  <name>$name</name>
  ${uuid:+<uuid>$uuid</uuid>}
  <memory unit='MiB'>128</memory>
  <vcpu placement='static'>1</vcpu>
  <numatune>
    <memory mode='strict' nodeset='0'/>
  </numatune>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
  </os>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <serial type='file'>
      <source path='/var/log/libvirt/qemu/$name.serial'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}
