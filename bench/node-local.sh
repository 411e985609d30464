#!/usr/bin/env bash
# Benchmark: all of firstboot's node-local init phases (preflight excluded: certs, kubeconfig,
# etcd, control-plane, kubelet-start) into a fresh root for kubeadm's reference configuration,
# with ECDSA-P256 and RSA-2048: median wall time of the whole `firstboot init` process over RUNS
# runs, and its peak RSS; and the certs phase alone (`firstboot init phase certs all`, 11 keys
# with the sa key). Goals (issue 4): all node-local phases under 30 ms with ECDSA-P256, peak RSS
# under 30 MB, the certs phase at most half of kubeadm's `init phase certs all` for the same
# algorithm (kubeadm 1.36 here: 1.0-1.5 s RSA-2048, 0.05-0.15 s ECDSA-P256, ~46 MB).
# Usage: bench/node-local.sh [RUNS]   (default 9; needs /usr/bin/time)
set -euo pipefail
RUNS=${1:-9}
source "$(dirname "$0")/lib.sh"
firstboot_release
machine_line
printf '%-11s %14s %12s %16s %12s\n' algorithm "init (ms)" "peak RSS" "certs (ms)" "peak RSS"
for alg in ECDSA-P256 RSA-2048; do
  cat > "$WORK/config.yaml" <<YAML
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 192.0.2.2
nodeRegistration:
  name: vm
  criSocket: unix:///run/containerd/containerd.sock
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.36.2
controlPlaneEndpoint: 127.0.0.1:6443
encryptionAlgorithm: $alg
---
apiVersion: kubebake.io/v1alpha1
kind: FirstbootConfiguration
skipPhases: [preflight, wait-control-plane, upload-config, upload-certs, mark-control-plane, bootstrap-token, kubelet-finalize, addon, show-join-command]
YAML
  : > "$WORK/ms"; : > "$WORK/rss"; : > "$WORK/cms"; : > "$WORK/crss"
  for i in $(seq "$RUNS"); do
    rm -rf "$WORK/root"; mkdir -p "$WORK/root"
    timed "$WORK/ms" "$WORK/rss" init --root "$WORK/root" --config "$WORK/config.yaml"
    rm -rf "$WORK/root"; mkdir -p "$WORK/root"
    timed "$WORK/cms" "$WORK/crss" init phase certs all --root "$WORK/root" --config "$WORK/config.yaml"
  done
  printf '%-11s %14s %9s KB %16s %9s KB\n' "$alg" "$(median < "$WORK/ms")" "$(sort -g "$WORK/rss" | tail -1)" \
    "$(median < "$WORK/cms")" "$(sort -g "$WORK/crss" | tail -1)"
done
