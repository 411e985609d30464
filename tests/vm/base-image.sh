#!/usr/bin/env bash
# Builds the base Debian 12 VM image of the VM end-to-end test from scratch, without loop mounts:
# debootstrap (minbase + systemd, cloud-init, sshd, sudo, containerd) into a directory, then
# `mke2fs -d` turns the directory into an ext4 disk (no partition table, no bootloader: the VM
# boots with -kernel/-initrd, which are copied out next to it).
#
#   tests/vm/base-image.sh DIR      # writes DIR/base.qcow2, DIR/vmlinuz, DIR/initrd.img
#
# A DIR that already holds an image built by this same script is kept (the cache within a run and
# between runs); delete DIR to rebuild. Downloaded .debs are kept in DIR/../debs.
set -euo pipefail
out="${1:?usage: base-image.sh DIR}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
here="$(cd "$(dirname "$0")" && pwd)"
stamp="$(sha256sum "$here/base-image.sh" | cut -c1-16)"
if [ -f "$out/base.qcow2" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ] &&
  [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "base image: cached in $out"
  exit 0
fi
rm -f "$out/base.qcow2" "$out/stamp"

# The package mirror apt already uses (the machine's only route to Debian packages).
mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
mirror="${mirror:-http://deb.debian.org/debian}"
debs="$(dirname "$out")/debs"
mkdir -p "$debs"
rootfs="$out/rootfs"
rm -rf "$rootfs"

# python3-cffi-backend must be listed or configuring python3-cryptography (cloud-init) fails.
packages=systemd-sysv,udev,dbus,linux-image-cloud-amd64,cloud-init,python3-cffi-backend,openssh-server,ifupdown,isc-dhcp-client,sudo,iproute2,procps,containerd,locales
echo "base image: debootstrap bookworm from $mirror"
debootstrap --variant=minbase --cache-dir="$debs" --include="$packages" bookworm "$rootfs" "$mirror" \
  >"$out/debootstrap.log" 2>&1 || {
  tail -30 "$out/debootstrap.log" >&2
  exit 1
}

echo '/dev/vda / ext4 defaults 0 1' >"$rootfs/etc/fstab"
# NoCloud only (a seed drive labelled cidata); None keeps cloud-init quiet without one.
printf 'datasource_list: [ NoCloud, None ]\n' >"$rootfs/etc/cloud/cloud.cfg.d/90-kubebake-vmtest.cfg"
# Without a generated locale cloud-init's locale module records an error.
echo 'en_US.UTF-8 UTF-8' >"$rootfs/etc/locale.gen"
chroot "$rootfs" locale-gen >/dev/null
# cloud-init writes the NIC's configuration (DHCP) to interfaces.d.
printf 'source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n' >"$rootfs/etc/network/interfaces"
cp "$rootfs"/boot/vmlinuz-* "$out/vmlinuz"
cp "$rootfs"/boot/initrd.img-* "$out/initrd.img"
# Readable by the unprivileged qemu Packer may start.
chmod 0644 "$out/vmlinuz" "$out/initrd.img"

rm -f "$out/disk.raw"
mke2fs -q -t ext4 -d "$rootfs" "$out/disk.raw" 3G
qemu-img convert -O qcow2 "$out/disk.raw" "$out/base.qcow2"
rm -rf "$out/disk.raw" "$rootfs"
echo "$stamp" >"$out/stamp"
echo "base image: $out/base.qcow2"
