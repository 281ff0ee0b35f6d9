#!/usr/bin/env bash
# `npm run test:vm`: the sandbox's cgroup limits on a cgroup-v2-only kernel. Builds the Debian VM image
# once (scripts/vm/build-image.sh, cached under .cache/vm/), boots the Debian kernel under
# qemu-system-x86_64 with software emulation (TCG, -smp 2) and `systemd.unified_cgroup_hierarchy=1
# cgroup_no_v1=all`, shares this checkout read-only over 9p (the guest runs node_modules/.bin/node) and
# runs scripts/vm/guest-init.sh as PID 1. The guest's result comes back on the serial console as
# `BULKHEAD-VM-EXIT=<status>`.
#
#   scripts/vm/test-vm.sh [tests|bench|doctor]     (default tests; bench = bench/sandbox-spawn.ts, emulated)
#
# Exit status: the guest's status (0 = every test passed); 3 = the image could not be built for
# environmental reasons (no root, no qemu/debootstrap, no network) — reported as SKIPPED, not as a pass;
# 4 = the guest never reported a status (boot failure, timeout). BULKHEAD_VM_ACCEL=kvm uses KVM where
# /dev/kvm exists (the figures in the docs are TCG).
set -uo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-tests}
cache=${BULKHEAD_VM_CACHE:-$PWD/.cache/vm}
version=1
accel=${BULKHEAD_VM_ACCEL:-tcg}
timeout_s=${BULKHEAD_VM_TIMEOUT:-2400}

t0=$(date +%s)
bash scripts/vm/build-image.sh
built=$?
if [ "$built" = 3 ]; then
  echo "test:vm: SKIPPED — the VM image could not be built for environmental reasons (see above)" >&2
  exit 3
fi
[ "$built" = 0 ] || { echo "test:vm: building the VM image failed" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null 2>&1 || { echo "test:vm: SKIPPED — qemu-system-x86_64 missing" >&2; exit 3; }
t1=$(date +%s)

log="$cache/last-$mode.log"
echo "test:vm: booting (accel $accel, mode $mode), console log $log"
timeout "$timeout_s" qemu-system-x86_64 \
  -machine q35,accel="$accel" -cpu max -smp 2 -m 3072 \
  -nographic -no-reboot -nic none \
  -kernel "$cache/vmlinuz-v$version" -initrd "$cache/initrd-v$version" \
  -append "root=/dev/vda rw console=ttyS0 panic=-1 loglevel=4 init=/sbin/bulkhead-vm-init systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all bulkhead.mode=$mode" \
  -drive file="$cache/rootfs-v$version.ext4",if=virtio,format=raw,snapshot=on \
  -virtfs local,path="$PWD",mount_tag=project,security_model=none,readonly=on \
  < /dev/null 2>&1 | tee "$log"
t2=$(date +%s)

status=$(tr -d '\r' < "$log" | sed -n 's/^BULKHEAD-VM-EXIT=\([0-9][0-9]*\).*/\1/p' | tail -n 1)
echo "test:vm: image $((t1 - t0)) s, VM run $((t2 - t1)) s, total $((t2 - t0)) s"
if [ -z "$status" ]; then
  echo "test:vm: FAILED — the guest never reported its exit status (boot failure or timeout ${timeout_s} s)" >&2
  exit 4
fi
[ "$status" = 0 ] && echo "test:vm: PASSED ($mode)" || echo "test:vm: FAILED ($mode): guest exit status $status" >&2
exit "$status"
