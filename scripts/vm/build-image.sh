#!/usr/bin/env bash
# Builds (once) the cgroup-v2 test VM's disk image under .cache/vm/ (gitignored): a minimal Debian 12 root
# filesystem made with debootstrap, with the Debian kernel (linux-image-amd64), bubblewrap, python3 and
# util-linux, written into an ext4 image with `mke2fs -d` (no loop device needed). The kernel and initrd
# are copied out next to it for qemu's -kernel/-initrd. Node 24 and the project are NOT in the image: the
# guest mounts the checkout read-only over 9p and runs its node_modules/.bin/node.
#
# Exit codes: 0 built or already cached; 3 = environment (no root, tools missing, mirror unreachable):
# callers report it as "VM lane skipped", never as a test failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=${BULKHEAD_VM_CACHE:-$PWD/.cache/vm}
mirror=${BULKHEAD_VM_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
# Bump when the package list or the stub init changes: a new version builds a new image.
version=1
image="$cache/rootfs-v$version.ext4"

env_fail() { echo "vm-image: ENVIRONMENT: $*" >&2; exit 3; }

if [ -f "$image" ] && [ -f "$cache/vmlinuz-v$version" ] && [ -f "$cache/initrd-v$version" ]; then
  echo "vm-image: cached $image"
  exit 0
fi
[ "$(id -u)" = 0 ] || env_fail "building the image needs root (debootstrap)"
for tool in debootstrap mke2fs qemu-system-x86_64; do
  command -v "$tool" >/dev/null 2>&1 || env_fail "$tool missing (apt-get install -y qemu-system-x86 debootstrap e2fsprogs)"
done

start=$(date +%s)
mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"

packages=linux-image-amd64,initramfs-tools,bubblewrap,python3,util-linux,procps,iproute2,kmod
if ! debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" > "$work/debootstrap.log" 2>&1; then
  tail -n 20 "$work/debootstrap.log" >&2
  if grep -qiE 'Failed getting release file|Couldn.t download|Temporary failure|unable to resolve|Connection refused|Network is unreachable' "$work/debootstrap.log"; then
    env_fail "debootstrap could not reach $mirror (no network?)"
  fi
  echo "vm-image: debootstrap failed (see above)" >&2
  exit 1
fi

# Stub init (PID 1): mounts what the real init script needs and hands over to the checkout's
# scripts/vm/guest-init.sh, so that changing the guest's steps needs no image rebuild.
cat > "$root/sbin/bulkhead-vm-init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /project
modprobe 9pnet_virtio 2>/dev/null; modprobe 9p 2>/dev/null
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,ro project /project; then
  exec /bin/sh /project/scripts/vm/guest-init.sh
fi
echo "BULKHEAD-VM-EXIT=97 (could not mount the project over 9p)"
echo o > /proc/sysrq-trigger
INIT
chmod 0755 "$root/sbin/bulkhead-vm-init"
echo 'bulkhead-vm' > "$root/etc/hostname"
cp "$root"/boot/vmlinuz-* "$work/vmlinuz"
cp "$root"/boot/initrd.img-* "$work/initrd"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
# 512 MiB of free space on top of what the files take (the guest writes only to tmpfs, and qemu runs it
# with -snapshot, so the image itself never changes).
size_mb=$(( $(du -sm "$root" | cut -f1) + 512 ))
mke2fs -q -t ext4 -L bulkhead-vm -d "$root" "$work/rootfs.ext4" "${size_mb}M"
mv "$work/vmlinuz" "$cache/vmlinuz-v$version"
mv "$work/initrd" "$cache/initrd-v$version"
mv "$work/rootfs.ext4" "$image"
echo "vm-image: built $image (${size_mb} MiB) in $(( $(date +%s) - start )) s"
