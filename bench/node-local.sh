#!/usr/bin/env bash
# Benchmark: all of firstboot's node-local init phases (preflight excluded: certs, kubeconfig,
# etcd, control-plane, kubelet-start) into a fresh root for kubeadm's reference configuration,
# with ECDSA-P256 and RSA-2048: median wall time of the whole `firstboot init` process over RUNS
# runs, and its peak RSS. Goal (issue 4): under 30 ms with ECDSA-P256, peak RSS under 30 MB.
# Usage: bench/node-local.sh [RUNS]   (default 9; needs /usr/bin/time)
set -euo pipefail
RUNS=${1:-9}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build --quiet --release -p firstboot --manifest-path "$ROOT/Cargo.toml"
BIN=$CARGO_TARGET_DIR/release/firstboot
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-11s %14s %12s\n' algorithm "init (ms)" "peak RSS"
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
  : > "$WORK/ms"; : > "$WORK/rss"
  for i in $(seq "$RUNS"); do
    rm -rf "$WORK/root"; mkdir -p "$WORK/root"
    /usr/bin/time -f "%e %M" -o "$WORK/t" "$BIN" init --root "$WORK/root" --config "$WORK/config.yaml" >/dev/null 2>&1
    awk '{print $1*1000}' "$WORK/t" >> "$WORK/ms"; awk '{print $2}' "$WORK/t" >> "$WORK/rss"
  done
  printf '%-11s %14s %9s KB\n' "$alg" "$(median < "$WORK/ms")" "$(sort -g "$WORK/rss" | tail -1)"
done
