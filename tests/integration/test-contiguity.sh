#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# vtismctl contiguity and GetContiguity against vtismd on this host's /proc, with fake QEMUs
# whose guest RAM is real memory (fake-guest: THP-backed, 4 KiB-mapped, and sparse ones of
# 64 GiB that cost no memory but take a while to scan), the page_idle tracker on a fake bitmap
# (so the VMs are tracked) and this host's memory blocks (so pages have their node):
#   1. the before-tiering summary is taken by itself when a VM is first tracked (journal line);
#   2. the numbers add up (present = 4 KiB-mapped + 2 MiB x THPs; nodes sum to present) and tell
#      THP from 4 KiB; text output has both columns and when the data was taken;
#   3. max age: a recent summary is returned as it is; older than the max age (and the floor)
#      scans again;
#   4. async replies: concurrent callers of one scan get the same summary; callers killed while
#      the scan runs harm nothing; the loop keeps answering (status latency, watchdog) meanwhile;
#   5. a VM that exits during its scan: the waiting caller gets NoSuchVM, vtismd carries on;
#   6. an ignored VM (owner not in qemu_users) is not read, nor one whose guest RAM is not
#      located; a VM name that does not exist fails; each with its D-Bus error.
# shellcheck disable=SC2034 # read by lib.sh
PRIVATE_PIDS=1   # vtismd on the real /proc: see only our own processes (lib.sh)
. "$(dirname "$0")/lib.sh"
need dbus-daemon dbus-send jq busctl setpriv

FAKE="$VTISM_BUILD_ROOT/tests/integration/fake-guest"
LOG="$SCRATCH/vtismd.log"
MIB=$((1 << 20))
status() { timeout 30 "$VTISMCTL" status --json; }
vm_by_name() { status | jq -c --arg n "$1" '.vms[] | select(.name == $n)'; }
vm_is() { vm_by_name "$1" | jq -en "input | ($2)" >/dev/null; }   # fails when not listed (jq 1.6 -e: 0 on no input)
vtismd_alive() { kill -0 "$VTISMD_PID" 2>/dev/null || fail "vtismd died"; }
contig() { timeout 300 "$VTISMCTL" contiguity --json "$@"; }
# raw_contig VM: GetContiguity(VM, 0) by dbus-send, which prints a D-Bus error's name
raw_contig() {
        timeout 300 dbus-send --system --print-reply --reply-timeout=300000 --dest=org.vtism1 /org/vtism1 \
                org.vtism1.Manager.GetContiguity "string:$1" uint64:0
}

# guest NAME SIZE THP TOUCH_MIB [RUN-AS-PREFIX...]: a fake QEMU; its pid in GUEST_PID
READY_DIR="$SCRATCH/ready"   # writable for a guest run as nobody
mkdir -m 1777 "$READY_DIR"
guest() {
        local name=$1 size=$2 thp=$3 touch=$4
        shift 4
        rm -f "$READY_DIR/$name"
        FAKE_GUEST_THP=$thp FAKE_GUEST_TOUCH=$touch FAKE_GUEST_READY="$READY_DIR/$name" \
                "$@" bash -c 'exec -a fake-guest-pending "$0" -m "$1" -name "guest=$2"' "$FAKE" "$size" "$name" &
        GUEST_PID=$!
        PIDS+=("$GUEST_PID")
        wait_for 120 test -s "$READY_DIR/$name" || fail "fake guest $name did not get ready"
}

# sysfs: one node, the page_idle tracker's bitmap (it reads zeros: every page accessed), and this
# host's memory blocks of node 0 so that the scans know where each page is.
SYSFS="$SCRATCH/sysfs"
cp -a "$VTISM_SOURCE_ROOT/tests/data/sysfs-1node" "$SYSFS"
mkdir -p "$SYSFS/kernel/mm/page_idle" "$SYSFS/devices/system/memory"
truncate -s 64M "$SYSFS/kernel/mm/page_idle/bitmap"
cp /sys/devices/system/memory/block_size_bytes "$SYSFS/devices/system/memory/" || skip "no memory blocks on this host"
for b in /sys/devices/system/node/node0/memory[0-9]*; do
        n=${b##*/}
        mkdir -p "$SYSFS/devices/system/memory/$n"
        ln -s "../../memory/$n" "$SYSFS/devices/system/node/node0/$n"
done

conf="$SCRATCH/vtism.conf"
cat >"$conf" <<CONF
global = {
  sample_interval_ms = 5000;   # page_idle's cycles read the sparse guests' whole pagemap
  heat_range = "32M";
  tracker = "page_idle";
  libvirt_uri = "qemu+unix:///system?socket=/nonexistent/vtism-test";
};
CONF
start_bus strict
start_notify
WATCHDOG_USEC=6000000 start_vtismd "$conf" --sysfs-root="$SYSFS" --log-level=debug
wait_for 20 grep -qx READY=1 "$SCRATCH/notify.log" || fail "no READY=1"

thp_mode=$(sed -n 's/.*\[\(.*\)\].*/\1/p' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo never)
guest thp-vm 64 on 64
guest small4k 64 off 64
for v in thp-vm small4k; do
        wait_for 60 vm_is "$v" '.state == "tracked"' || fail "$v not tracked: $(vm_by_name "$v")"
done

# ---- 1. before tiering, by itself ----
for v in thp-vm small4k; do
        wait_for 60 grep -q "VM $v before tiering: " "$LOG" || fail "no before-tiering summary of $v logged"
done
grep "before tiering: " "$LOG"
ok "1. before-tiering summaries taken when the VMs were first tracked"

# ---- 2. the numbers ----
thp=$(contig thp-vm) || fail "contiguity thp-vm: $thp"
small=$(contig small4k) || fail "contiguity small4k: $small"
jq -c '.now | {present_bytes, mapped_4k_bytes, thp_2m, runs, largest_run_bytes, runs_for_99pct, offset_groups, nodes}' <<<"$thp"
jq -c '.now | {present_bytes, mapped_4k_bytes, thp_2m, runs, largest_run_bytes, runs_for_99pct, offset_groups, nodes}' <<<"$small"
for j in "$thp" "$small"; do
        jq -e --argjson m $((64 * MIB)) '
                .schema_version == 1 and .ram_bytes == $m and .moved_bytes == 0 and .anchor_bytes == 2097152
                and .before_tiering.trigger == "tiering-start" and .before_tiering.moved_bytes == 0
                and .before_tiering_pending == false and .before_tiering_error == null
                and (.now | .present_bytes == $m and .ram_bytes == $m and .absent_bytes == 0
                     and .mapped_4k_bytes + 2097152 * (.thp_2m + .hugetlb_2m) + 1073741824 * .hugetlb_1g == .present_bytes
                     and ([.nodes[].bytes] | add) == .present_bytes and .nodes[0].node == 0 and .unknown_node_bytes == 0
                     and .runs >= 1 and .runs_for_80pct <= .runs_for_90pct and .runs_for_90pct <= .runs_for_99pct
                     and .runs_for_99pct <= .runs and .largest_run_bytes <= .present_bytes
                     and (.runs_top_bytes | length) == 4 and .offset_groups >= 1 and .offset_groups <= .runs
                     and .anchor_entries >= .runs and .taken_at_usec > 0 and .age_usec < 600000000)' <<<"$j" >/dev/null ||
                fail "summary does not add up: $j"
done
jq -e '.now.thp_2m == 0 and .now.mapped_4k_bytes == 67108864' <<<"$small" >/dev/null || fail "small4k: THPs under MADV_NOHUGEPAGE: $small"
if [[ $thp_mode != never ]]; then
        # madvise(MADV_HUGEPAGE) on a 2 MiB-aligned mapping: the kernel gives THPs where it finds free
        # 2 MiB pages; on a loaded host most, not necessarily all.
        jq -e '.now.thp_2m >= 16 and .now.largest_run_bytes >= 2097152 and (.now.runs_top_bytes[0] >= 2097152)' <<<"$thp" >/dev/null ||
                fail "thp-vm: fewer than half of its 32 2 MiB pieces mapped by THPs (THP $thp_mode): $(jq -c .now <<<"$thp")"
fi
text=$(timeout 300 "$VTISMCTL" contiguity thp-vm) || fail "contiguity (text): $text"
echo "$text"
grep -qE '^ +BEFORE TIERING +NOW$' <<<"$text" || fail "no BEFORE TIERING / NOW columns"
grep -qE '^taken +20[0-9-]+ [0-9:]+ \(.* ago\) +20[0-9-]+ [0-9:]+ \(.* ago\)$' <<<"$text" || fail "no 'taken' row with both times"
grep -qE '^2 MiB THP mappings +' <<<"$text" || fail "no THP row"
grep -qE '^node 0 +64 MiB, [0-9]+ runs? \([0-9.]+ per GiB\) +64 MiB, ' <<<"$text" || fail "no node 0 row"
timeout 300 "$VTISMCTL" contiguity small4k || fail "contiguity small4k (text)"
ok "2. numbers add up; THP $(jq .now.thp_2m <<<"$thp") of 32, 4 KiB $(jq .now.runs <<<"$small") runs; text has both columns and times"

# ---- 2b. the same summaries as metrics (the Contiguity property; reading it never scans) ----
"$VTISMCTL" metrics >"$SCRATCH/m.txt" || fail "vtismctl metrics failed"
if command -v promtool >/dev/null; then
        promtool check metrics <"$SCRATCH/m.txt" >"$SCRATCH/promtool.out" 2>&1 || fail "promtool: $(cat "$SCRATCH/promtool.out")"
        [[ ! -s $SCRATCH/promtool.out ]] || fail "promtool lint: $(cat "$SCRATCH/promtool.out")"
else
        echo "note: no promtool here (Debian's prometheus package; CI installs it): the exposition is not linted"
fi
for v in thp-vm small4k; do
        j=$(contig --max-age=86400 "$v") || fail "contiguity $v: $j"
        id=$(jq -r .id <<<"$j")
        for role in now before_tiering; do
                for pair in thp_2m:thp_2m_mappings runs:runs present_bytes:present_bytes mapped_4k_bytes:mapped_4k_bytes \
                            runs_for_99pct:runs_for_99_percent anchor_entries:anchor_entries offset_groups:offset_groups; do
                        key=${pair%%:*} metric=vtism_vm_contiguity_${pair#*:}
                        want=$(jq -r --arg r "$role" --arg k "$key" '.[$r][$k]' <<<"$j")
                        line="$metric{id=\"$id\",name=\"$v\",role=\"$role\"} $want"
                        grep -qxF "$line" "$SCRATCH/m.txt" || fail "no '$line' in the metrics: $(grep "^$metric" "$SCRATCH/m.txt")"
                done
                trigger=$(jq -r --arg r "$role" '.[$r].trigger' <<<"$j")
                grep -qxF "vtism_vm_contiguity_info{id=\"$id\",name=\"$v\",role=\"$role\",trigger=\"$trigger\"} 1" "$SCRATCH/m.txt" ||
                        fail "no vtism_vm_contiguity_info of $v ($role, $trigger): $(grep '^vtism_vm_contiguity_info' "$SCRATCH/m.txt")"
        done
        # the metrics were read from the summaries as they were: no scan since
        [[ $(contig --max-age=86400 "$v" | jq .now.taken_at_usec) == "$(jq .now.taken_at_usec <<<"$j")" ]] ||
                fail "reading the metrics scanned $v again"
done
ok "2b. vtismctl metrics: both summaries of both VMs as vtism_vm_contiguity_* (promtool-clean), no scan for it"

# ---- 3. max age ----
t1=$(contig --max-age=3600 thp-vm | jq .now.taken_at_usec)
j=$(contig --max-age=3600 thp-vm)
t2=$(jq .now.taken_at_usec <<<"$j")
[[ $t1 == "$t2" ]] || fail "a summary younger than --max-age was scanned again ($t1, $t2)"
# past the floor of a max age: 1 s, or 10 x the busy time of the VM's last scan
sleep "$(jq '[1, .now.busy_usec * 10 / 1000000] | max + 0.5' <<<"$j")"
t3=$(contig --max-age=0 thp-vm | jq '.now | [.taken_at_usec, .trigger]')
(($(jq '.[0]' <<<"$t3") > t2)) && [[ $(jq -r '.[1]' <<<"$t3") == request ]] || fail "--max-age=0 did not scan again: $t2 -> $t3"
ok "3. --max-age: kept while young enough, scanned again after"

# ---- 4. async: concurrent callers, killed callers, a responsive loop ----
# A sparse guest of 64 GiB costs no memory and takes ~0.5 s or more to scan (its pagemap is read
# all the same: ~8 ms per GiB natively here, more on a loaded host; the page_idle tracker reads it
# too, every cycle, ~15 ms per GiB, which is why it is not larger). The callers ask as soon as its
# RAM is located: they join the scan that runs (before tiering or theirs) and get one summary.
SPARSE_SIZE=64G SPARSE_BYTES=$((64 << 30))
guest sparse1 "$SPARSE_SIZE" default 0
sparse1=$GUEST_PID
wait_for 60 vm_is sparse1 ".ram_bytes == $SPARSE_BYTES" || fail "sparse1 not located: $(vm_by_name sparse1)"
from_ms=$(monotonic_ms)
for i in 1 2 3; do
        busctl --system --timeout=300 call org.vtism1 /org/vtism1 org.vtism1.Manager GetContiguity st sparse1 0 \
                >"$SCRATCH/call$i.out" 2>&1 &
        eval "c$i=\$!"
done
killed=()
for i in 1 2 3 4 5; do   # callers that go away while the scan runs
        busctl --system call org.vtism1 /org/vtism1 org.vtism1.Manager GetContiguity st sparse1 0 >/dev/null 2>&1 &
        killed+=($!)
done
sleep 0.05
kill -9 "${killed[@]}" 2>/dev/null || true
wait "${killed[@]}" 2>/dev/null || true
kill -0 "$c1" 2>/dev/null || fail "the scan of sparse1 ended before the killed callers were gone: $(cat "$SCRATCH/call1.out")"
worst=0 polls=0
while kill -0 "$c1" 2>/dev/null; do
        t0=$(monotonic_ms)
        status >/dev/null || fail "status failed during the scan"
        d=$(($(monotonic_ms) - t0))
        ((d > worst)) && worst=$d
        polls=$((polls + 1))
        sleep 0.1
done
for i in 1 2 3; do
        eval "wait \$c$i" || fail "caller $i: $(cat "$SCRATCH/call$i.out")"
done
# the three got the same scan: busctl prints taken_at_usec as "taken_at_usec" t N
for i in 1 2 3; do
        grep -m1 -o '"taken_at_usec" t [0-9]*' "$SCRATCH/call$i.out"
done | sort -u >"$SCRATCH/taken"
[[ $(wc -l <"$SCRATCH/taken") -eq 1 ]] || fail "concurrent callers got different summaries: $(cat "$SCRATCH/taken")"
scan_ms=$(grep -m1 -o '"scan_usec" t [0-9]*' "$SCRATCH/call1.out" | awk '{ print int($3 / 1000) }')
vtismd_alive
gap=$(watchdog_max_gap_ms "$from_ms")
# (the page_idle tracker reads the sparse guest's pagemap too, in its cycle: that is most of it)
((gap < 6000)) || fail "no WATCHDOG=1 for $gap ms during the scan: systemd would have killed vtismd"
# A status call may wait for a cycle, whose page_idle pass reads the same 64 GiB pagemap (~1 s,
# 6.6 s measured on a host at a load average of ~20 while the scan took 25 s): bounded, not the scan.
((worst < 10000)) || fail "status took $worst ms during the scan"
ok "4. 3 concurrent callers answered by one scan of $scan_ms ms (sparse $SPARSE_SIZE), 5 killed callers harmless; $polls status calls meanwhile, the slowest $worst ms; watchdog gap $gap ms"
kill "$sparse1"

# ---- 5. a VM that exits during its scan ----
guest sparse2 "$SPARSE_SIZE" default 0
sparse2=$GUEST_PID
wait_for 60 vm_is sparse2 ".ram_bytes == $SPARSE_BYTES" || fail "sparse2 not located: $(vm_by_name sparse2)"
raw_contig sparse2 >"$SCRATCH/exit.out" 2>&1 &
caller=$!
wait_for 60 grep -q "VM sparse2: a contiguity request waits for " "$LOG" || fail "GetContiguity(sparse2) is not waiting for a scan"
kill "$sparse2"
rc=0
wait "$caller" || rc=$?
out=$(cat "$SCRATCH/exit.out")
((rc != 0)) && [[ $out == *"Error org.vtism1.Error.NoSuchVM: "*"exited during the contiguity scan"* ||
        $out == *"Error org.vtism1.Error.NoSuchVM: "*"is gone"* ]] ||
        fail "the caller of a VM that exited during its scan got rc=$rc: $out"
vtismd_alive
contig --max-age=3600 thp-vm >/dev/null || fail "contiguity after a VM exited during its scan"
ok "5. a VM exiting during its scan: its caller told (${out#Error }), vtismd carries on"

# ---- 6. not read: an ignored VM, one whose RAM is not located, one that does not exist ----
cp "$FAKE" "$SCRATCH/fake-guest"
chmod 755 "$SCRATCH/fake-guest"
FAKE="$SCRATCH/fake-guest"
guest nobodys 64 default 0 setpriv --reuid=nobody --regid=nogroup --clear-groups --
nobodys=$GUEST_PID   # untrusted: listed by pid as qemu-PID, its command line's name not taken
vm_pid_is() { status | jq -c --argjson p "$1" '.vms[] | select(.pid == $p)' | jq -en "input | ($2)" >/dev/null; }
wait_for 30 vm_pid_is "$nobodys" '.state == "ignored"' || fail "nobody's VM not ignored: $(status | jq -c .vms)"
set +e
out=$(timeout 60 "$VTISMCTL" contiguity "pid-$nobodys" 2>&1); rc=$?
set -e
[[ $rc -eq 1 && $out == *"is not tiered"*"vtismd does not read its memory"* ]] || fail "ignored VM: rc=$rc $out"
out=$(raw_contig "pid-$nobodys" 2>&1) && fail "GetContiguity of an ignored VM answered: $out"
[[ $out == *"Error org.vtism1.Error.NotSampled: "* ]] || fail "ignored VM: $out"
start_fake_qemu noram   # a QEMU process without guest RAM: vtismd cannot locate it
PIDS+=("$FAKE_QEMU_PID")
wait_for 30 vm_is noram '.state == "untrackable"' || fail "noram not untrackable: $(vm_by_name noram)"
out=$(raw_contig noram 2>&1) && fail "GetContiguity of a VM not located answered: $out"
[[ $out == *"Error org.vtism1.Error.NotSampled: The guest RAM of VM noram is not located: "* ]] || fail "noram: $out"
out=$(raw_contig no-such-vm 2>&1) && fail "GetContiguity of no VM answered: $out"
[[ $out == *"Error org.vtism1.Error.NoSuchVM: No VM 'no-such-vm'"* ]] || fail "no-such-vm: $out"
set +e
out=$(timeout 60 "$VTISMCTL" contiguity no-such-vm 2>&1); rc=$?
set -e
[[ $rc -eq 1 && $out == *"No VM 'no-such-vm'"* ]] || fail "unknown VM: rc=$rc $out"
vtismd_alive
ok "6. an ignored VM is not read (NotSampled), nor one not located (NotSampled), an unknown one is refused (NoSuchVM)"
