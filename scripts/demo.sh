#!/usr/bin/env bash
# The README's main job on the embedded defaults, with no network: prepare a local release
# mirror and local images (stand-ins, from the repo's test kit), build the example bundle, verify
# it and print its inventory, stage it into demo/rootfs (a directory standing in for a machine
# image), check that image, and run firstboot's node-local init phases into it.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*"; }

step "Building kubebake (cargo build)"
cargo build --workspace --bins --quiet
BIN="${CARGO_TARGET_DIR:-target}/debug"

rm -rf demo && mkdir -p demo
step "Preparing a local release mirror and OCI image layout in demo/fixtures (stand-in binaries, fixture images)"
"$BIN/kubebake-fixtures" demo --out demo/fixtures

step "bake bundle create --spec examples/bundle.yaml --out demo/k8s-v1.36.2.bundle"
"$BIN/bake" bundle create --spec examples/bundle.yaml --out demo/k8s-v1.36.2.bundle

step "bake bundle verify demo/k8s-v1.36.2.bundle"
"$BIN/bake" bundle verify demo/k8s-v1.36.2.bundle

step "bake bundle inspect demo/k8s-v1.36.2.bundle"
"$BIN/bake" bundle inspect demo/k8s-v1.36.2.bundle

step "bake stage demo/k8s-v1.36.2.bundle --root demo/rootfs   (a directory standing in for a machine image)"
"$BIN/bake" stage demo/k8s-v1.36.2.bundle --root demo/rootfs

step "bake check --root demo/rootfs   (the last step of an image build)"
"$BIN/bake" check --root demo/rootfs

step "firstboot init --root demo/rootfs --config examples/firstboot-demo.yaml   (the node-local init phases)"
"$BIN/firstboot" init --root demo/rootfs --config examples/firstboot-demo.yaml

step "firstboot status --root demo/rootfs"
"$BIN/firstboot" status --root demo/rootfs
ls -l demo/rootfs/etc/kubernetes demo/rootfs/etc/kubernetes/manifests demo/rootfs/var/lib/kubelet

printf '\nDone. The bundle is demo/k8s-v1.36.2.bundle; `%s/bake bundle inspect demo/k8s-v1.36.2.bundle -o json` prints the same as data.\n' "$BIN"
