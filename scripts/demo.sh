#!/usr/bin/env bash
# The README's main job on the embedded defaults, with no network: prepare a local release
# mirror and local images (stand-ins, from the repo's test kit), build the example bundle, verify
# it and print its inventory, stage it into demo/rootfs (a directory standing in for a machine
# image), check that image, render cloud-init user-data for a first control-plane node and a worker
# (with a CA set and a bootstrap token made before any machine exists), and run firstboot's
# node-local init phases into the staged root, signed by that CA set.
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

step "firstboot userdata ca --out demo/cluster-ca   (the cluster's CAs, made before any machine exists)"
CA_HASH=$("$BIN/firstboot" userdata ca --out demo/cluster-ca)
echo "caCertHashes for the joins: $CA_HASH"
TOKEN=$("$BIN/firstboot" token generate)
umask 077   # the node configurations below hold the bootstrap token
cat > demo/cp1.yaml <<YAML
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
  - token: $TOKEN
localAPIEndpoint:
  advertiseAddress: 192.0.2.10
nodeRegistration:
  name: demo-node
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.36.2
controlPlaneEndpoint: 192.0.2.10:6443
YAML
cat > demo/worker.yaml <<YAML
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: 192.0.2.10:6443
    token: $TOKEN
    caCertHashes: [$CA_HASH]
nodeRegistration:
  name: demo-worker
YAML
umask 022
echo "wrote demo/cp1.yaml (InitConfiguration with a pre-created bootstrap token) and demo/worker.yaml (JoinConfiguration), mode 0600"

step "firstboot userdata init --config demo/cp1.yaml --ca-dir demo/cluster-ca --out demo/cp1.user-data"
"$BIN/firstboot" userdata init --config demo/cp1.yaml --ca-dir demo/cluster-ca --out demo/cp1.user-data
step "firstboot userdata join --config demo/worker.yaml --out demo/worker.user-data"
"$BIN/firstboot" userdata join --config demo/worker.yaml --out demo/worker.user-data
echo "files cloud-init will write on the first control-plane node (demo/cp1.user-data, mode $(stat -c %a demo/cp1.user-data)):"
grep -E '^ *- path:|^ *path:' demo/cp1.user-data | sed 's/^ */  /'

step "Writing the CA set into demo/rootfs/etc/kubernetes/pki, as cloud-init's write_files does on the node"
mkdir -p demo/rootfs/etc/kubernetes
cp -a demo/cluster-ca demo/rootfs/etc/kubernetes/pki

step "firstboot init --root demo/rootfs --config examples/firstboot-demo.yaml   (the node-local init phases; the CAs above sign)"
"$BIN/firstboot" init --root demo/rootfs --config examples/firstboot-demo.yaml

step "firstboot status --root demo/rootfs"
"$BIN/firstboot" status --root demo/rootfs
ls -l demo/rootfs/etc/kubernetes demo/rootfs/etc/kubernetes/manifests demo/rootfs/var/lib/kubelet

printf '\nDone. The bundle is demo/k8s-v1.36.2.bundle; `%s/bake bundle inspect demo/k8s-v1.36.2.bundle -o json` prints the same as data.\n' "$BIN"
