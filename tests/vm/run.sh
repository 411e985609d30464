#!/usr/bin/env bash
# The VM end-to-end test (issue 7), opt-in: `scripts/test.sh` runs it after the normal suite when
# KUBEBAKE_VM_TESTS=1 (CI sets it); run it alone with `tests/vm/run.sh`.
#
#  1. base image: Debian 12 from scratch (debootstrap + mke2fs -d, no loop mounts) with containerd
#     and cloud-init — tests/vm/base-image.sh, cached in $KUBEBAKE_VM_CACHE (default .cache/vm)
#  2. two signed test bundles (v1.36.2 and the next patch, v1.36.3) from the fixtures: a local
#     release mirror of STAND-IN kubeadm/kubelet/kubectl (test programs that answer --version; the
#     kubelet stand-in keeps running and logs its arguments) and a local OCI layout of fixture images
#  3. golden image: the repository's packer/ qemu template stages the v1.36.2 bundle
#     (bake stage --import-images, bake check --fix); checks on the image it wrote
#  4. zero-touch boot: `firstboot userdata init` user-data as NoCloud seed, restricted user-mode
#     network; checks on the stopped disk (debugfs) and on what the guest reported
#  5. resume: a second boot of a fresh copy is killed once certs is done; booting it again
#     continues from the journal and ends like the uninterrupted boot
#  6. air-gapped upgrade rehearsal (in boot 4): the v1.36.3 bundle from a drive, copied into the
#     node; `firstboot upgrade plan --bundle` offers it
#
# Everything runs with QEMU TCG (-accel tcg -cpu max): see README "VM end-to-end test".
# Environment: KUBEBAKE_VM_CACHE (cache dir), KUBEBAKE_VM_BOOT_TIMEOUT (s per boot, default 900),
# CARGO_TARGET_DIR (where the kubebake binaries are built).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO="$(pwd)"
VM_DIR="$REPO/tests/vm"
CACHE="${KUBEBAKE_VM_CACHE:-$REPO/.cache/vm}"
mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd)"
WORK="$CACHE/run"
BOOT_TIMEOUT="${KUBEBAKE_VM_BOOT_TIMEOUT:-900}"
VERSION=v1.36.2
NEXT=v1.36.3
# The phase the resume test interrupts: the VM is killed as soon as the phase before it reports
# done on the console (firstboot's output goes to the journal and the console).
KILL_AFTER="[certs] done"

T0=$(date +%s)
TIMINGS=()
step() { printf '\n==> %s\n' "$*"; }
timed() { TIMINGS+=("$(printf '%-34s %4ss' "$1" "$2")"); }
fail() {
  echo "VM test FAILED: $*" >&2
  exit 1
}

need() { command -v "$1" >/dev/null 2>&1 || fail "\`$1\` is required: install the Debian package $2 (scripts/test.sh does with KUBEBAKE_VM_TESTS=1)"; }
need qemu-system-x86_64 "qemu-system-x86 (from bookworm-backports)"
need qemu-img qemu-utils
need debootstrap debootstrap
need mke2fs e2fsprogs
need debugfs e2fsprogs
need e2fsck e2fsprogs
need packer packer
need cloud-localds cloud-image-utils
need genisoimage genisoimage
need cloud-init cloud-init
need minisign minisign
need ssh-keygen openssh-client
need python3 python3

step "Building kubebake (cargo build --workspace --bins)"
cargo build --workspace --bins --quiet
BIN="$(cd "${CARGO_TARGET_DIR:-target}/debug" && pwd)"

rm -rf "$WORK"
mkdir -p "$WORK"
echo "work directory: $WORK"

# ---- 1. base image ---------------------------------------------------------------------------
step "1. Base image (debootstrap + mke2fs -d, cached)"
t=$(date +%s)
bash "$VM_DIR/base-image.sh" "$CACHE/base"
timed "base image" $(($(date +%s) - t))
BASE="$CACHE/base"

# ---- 2. test bundles -------------------------------------------------------------------------
step "2. Test bundles $VERSION and $NEXT (stand-in binaries, fixture images), signed"
minisign -G -W -f -p "$WORK/kubebake.pub" -s "$WORK/kubebake.key" >/dev/null
for v in "$VERSION" "$NEXT"; do
  "$BIN/kubebake-fixtures" demo --out "$WORK/fixtures-$v" --version "$v"
  cat >"$WORK/bundle-$v.yaml" <<EOF
apiVersion: kubebake.io/v1alpha1
kind: BundleSpec
name: k8s-$v
kubernetesVersion: $v
platform: linux/amd64
releaseMirror: $WORK/fixtures-$v/mirror
imageRepository: registry.k8s.io
imageLayout: $WORK/fixtures-$v/images
binaries: [kubeadm, kubelet, kubectl]
EOF
  "$BIN/bake" bundle create --spec "$WORK/bundle-$v.yaml" --out "$WORK/k8s-$v.bundle"
  "$BIN/bake" bundle sign "$WORK/k8s-$v.bundle" --secret-key "$WORK/kubebake.key"
done

# ---- 3. golden image -------------------------------------------------------------------------
step "3. Golden image: packer build -only=qemu.kubebake packer/"
ssh-keygen -q -t ed25519 -N '' -C kubebake-vmtest -f "$WORK/build_ed25519"
cat >"$WORK/golden.pkrvars.hcl" <<EOF
kubernetes_version   = "$VERSION"
bake_binary          = "$BIN/bake"
bundle               = "$WORK/k8s-$VERSION.bundle"
bundle_public_key    = "$WORK/kubebake.pub"
base_image           = "$BASE/base.qcow2"
kernel               = "$BASE/vmlinuz"
initrd               = "$BASE/initrd.img"
ssh_private_key_file = "$WORK/build_ed25519"
output_directory     = "$WORK/golden"
disk_size            = "4G"
serial_log           = "$WORK/packer-serial.log"
EOF
t=$(date +%s)
if ! PACKER_CACHE_DIR="$CACHE/packer_cache" PACKER_LOG=1 PACKER_LOG_PATH="$WORK/packer-debug.log" \
  packer build -color=false -var-file="$WORK/golden.pkrvars.hcl" -only=qemu.kubebake packer/ \
  >"$WORK/packer.log" 2>&1; then
  tail -40 "$WORK/packer.log" >&2
  fail "packer build (log: $WORK/packer.log, guest console: $WORK/packer-serial.log)"
fi
timed "packer build" $(($(date +%s) - t))
GOLDEN="$WORK/golden/kubebake-node-$VERSION.qcow2"
[ -f "$GOLDEN" ] || fail "packer wrote no $GOLDEN"
grep -E 'bake|ctr|Build|finished' "$WORK/packer.log" | grep -v Uploading | tail -25

# Read parts of a stopped disk: qemu-img convert to raw, replay the ext4 journal as the kernel
# would when mounting (after a kill, what the guest fsynced may still be only in the journal,
# which debugfs does not read), then debugfs rdump (modes and links kept).
extract() {
  local img="$1" dest="$2"
  shift 2
  local raw="$WORK/extract.raw"
  rm -rf "$dest"
  mkdir -p "$dest"
  qemu-img convert -O raw "$img" "$raw"
  local rc=0
  e2fsck -E journal_only -y "$raw" >/dev/null 2>&1 || rc=$?
  [ "$rc" -lt 4 ] || fail "e2fsck -E journal_only $img: exit $rc"
  for path in "$@"; do
    mkdir -p "$dest$(dirname "$path")"
    debugfs -R "rdump $path $dest$(dirname "$path")" "$raw" >/dev/null 2>&1 || true
  done
  rm -f "$raw"
}

extract "$GOLDEN" "$WORK/golden-root" /etc /opt/kubebake /usr/local /usr/share/kubebake \
  /usr/lib/systemd/system /var/lib/kubebake /var/lib/kubelet /var/lib/etcd /var/lib/cloud /var/lib/dbus \
  /var/log /tmp /run
python3 "$VM_DIR/check.py" golden "$WORK/golden-root" "$WORK/packer.log" "$VERSION"
echo "bake check --root <golden image>:"
"$BIN/bake" check --root "$WORK/golden-root" || fail "bake check found something in the golden image"

# ---- 4. zero-touch boot ----------------------------------------------------------------------
step "4. Zero-touch boot: firstboot userdata init → NoCloud seed → boot the golden image"
"$BIN/firstboot" userdata init --config "$VM_DIR/node-config.yaml" --out "$WORK/cp1.user-data"
cloud-init schema --config-file "$WORK/cp1.user-data"
cloud-init schema --config-file "$VM_DIR/guest/power.yaml"
# The product's user-data plus the test's own parts (report script, power-off), as cloud-init
# multi-part user-data.
cloud-init devel make-mime \
  -a "$WORK/cp1.user-data:cloud-config" \
  -a "$VM_DIR/guest/report.sh:x-shellscript" \
  -a "$VM_DIR/guest/power.yaml:cloud-config" >"$WORK/user-data"
printf 'instance-id: kubebake-vmtest-cp1\nlocal-hostname: cp1\n' >"$WORK/meta-data"
cloud-localds "$WORK/seed.img" "$WORK/user-data" "$WORK/meta-data"
# The next bundle on a drive of its own (the air-gapped site's media).
mkdir -p "$WORK/upgrade-media"
cp "$WORK/k8s-$NEXT.bundle" "$WORK/k8s-$NEXT.bundle.minisig" "$WORK/kubebake.pub" "$WORK/upgrade-media/"
size_mb=$(($(du -sm "$WORK/upgrade-media" | cut -f1) + 32))
mke2fs -q -t ext4 -L kbupgrade -d "$WORK/upgrade-media" "$WORK/upgrade.img" "${size_mb}M"

VM_PID=""
# A failing step never leaves this test's VM running.
trap 'if [ -n "$VM_PID" ]; then kill "$VM_PID" 2>/dev/null || true; fi' EXIT
# start_vm NAME DISK [EXTRA_DRIVE]: boots DISK (qcow2) with the seed, in the background.
start_vm() {
  local name="$1" disk="$2" extra="${3:-}"
  local args=(-accel tcg -cpu max -m 2048 -smp 2 -display none -no-reboot -monitor none
    -kernel "$BASE/vmlinuz" -initrd "$BASE/initrd.img"
    -append 'root=/dev/vda rw console=ttyS0 panic=-1'
    -drive "file=$disk,format=qcow2,if=virtio"
    -drive "file=$WORK/seed.img,format=raw,if=virtio,readonly=on"
    -nic user,model=virtio-net-pci,restrict=on
    -serial "file:$WORK/$name.serial.log")
  [ -n "$extra" ] && args+=(-drive "file=$extra,format=raw,if=virtio,readonly=on")
  qemu-system-x86_64 "${args[@]}" >"$WORK/$name.qemu.log" 2>&1 &
  VM_PID=$!
}
# wait_vm NAME: waits for the VM to power itself off (cloud-init power_state), at most BOOT_TIMEOUT.
wait_vm() {
  local name="$1" start
  start=$(date +%s)
  while kill -0 "$VM_PID" 2>/dev/null; do
    if [ $(($(date +%s) - start)) -gt "$BOOT_TIMEOUT" ]; then
      kill "$VM_PID" 2>/dev/null || true
      wait "$VM_PID" 2>/dev/null || true
      tail -30 "$WORK/$name.serial.log" >&2
      fail "$name: the VM did not power off within ${BOOT_TIMEOUT}s (console: $WORK/$name.serial.log)"
    fi
    sleep 2
  done
  wait "$VM_PID" || fail "$name: qemu exited with $? ($WORK/$name.qemu.log)"
  VM_PID=""
}
BOOT_DIRS=(/etc/kubernetes /etc/kubebake /var/lib/kubelet /var/lib/kubebake/firstboot /var/lib/kubebake/incoming
  /var/lib/kubebake-vmtest /var/lib/cloud/data /usr/share/kubebake /var/log)

qemu-img create -q -f qcow2 -b "$GOLDEN" -F qcow2 "$WORK/boot-a.qcow2"
t=$(date +%s)
start_vm boot-a "$WORK/boot-a.qcow2" "$WORK/upgrade.img"
wait_vm boot-a
timed "boot (uninterrupted + upgrade plan)" $(($(date +%s) - t))
extract "$WORK/boot-a.qcow2" "$WORK/boot-a-root" "${BOOT_DIRS[@]}"
grep -E '^\[|firstboot' "$WORK/boot-a.serial.log" | grep -vi 'systemd\[' | tail -20 || true
echo "firstboot status in the guest:"
cat "$WORK/boot-a-root/var/lib/kubebake-vmtest/status.txt" || true
python3 "$VM_DIR/check.py" boot "$WORK/boot-a-root" "$VERSION" \
  "$REPO/firstboot/tests/fixtures/kubeadm-v1.36.2/etc-kubernetes.modes.txt"

# ---- 6. air-gapped upgrade rehearsal (ran in boot 4) -----------------------------------------
step "6. Air-gapped upgrade rehearsal: firstboot upgrade plan --bundle k8s-$NEXT.bundle in the guest"
cat "$WORK/boot-a-root/var/lib/kubebake-vmtest/upgrade-plan.txt" || true
python3 "$VM_DIR/check.py" upgrade "$WORK/boot-a-root" "$NEXT"

# ---- 5. resume after reboot ------------------------------------------------------------------
step "5. Resume: kill the VM once '$KILL_AFTER' is on its console, boot the same disk again"
qemu-img create -q -f qcow2 -b "$GOLDEN" -F qcow2 "$WORK/boot-b.qcow2"
t=$(date +%s)
start_vm boot-b1 "$WORK/boot-b.qcow2"
while ! grep -qF "$KILL_AFTER" "$WORK/boot-b1.serial.log" 2>/dev/null; do
  kill -0 "$VM_PID" 2>/dev/null || fail "boot-b1: the VM stopped before '$KILL_AFTER' ($WORK/boot-b1.serial.log)"
  [ $(($(date +%s) - t)) -le "$BOOT_TIMEOUT" ] || {
    kill "$VM_PID"
    fail "boot-b1: no '$KILL_AFTER' within ${BOOT_TIMEOUT}s"
  }
  sleep 0.2
done
kill -KILL "$VM_PID"
wait "$VM_PID" 2>/dev/null || true
VM_PID=""
echo "killed the VM $(($(date +%s) - t))s after it started"
timed "boot killed part-way" $(($(date +%s) - t))
extract "$WORK/boot-b.qcow2" "$WORK/boot-b1-root" "${BOOT_DIRS[@]}"
python3 "$VM_DIR/check.py" interrupted "$WORK/boot-b1-root"
t=$(date +%s)
start_vm boot-b2 "$WORK/boot-b.qcow2"
wait_vm boot-b2
timed "boot resuming" $(($(date +%s) - t))
extract "$WORK/boot-b.qcow2" "$WORK/boot-b2-root" "${BOOT_DIRS[@]}"
python3 "$VM_DIR/check.py" boot "$WORK/boot-b2-root" "$VERSION" \
  "$REPO/firstboot/tests/fixtures/kubeadm-v1.36.2/etc-kubernetes.modes.txt"
python3 "$VM_DIR/check.py" resume "$WORK/boot-b1-root" "$WORK/boot-b2-root" "$WORK/boot-a-root"

timed "total" $(($(date +%s) - T0))
step "VM end-to-end test passed"
printf '%s\n' "${TIMINGS[@]}" | tee "$WORK/timings.txt"
