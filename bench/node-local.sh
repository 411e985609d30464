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
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build --quiet --release -p firstboot --manifest-path "$ROOT/Cargo.toml"
BIN=$CARGO_TARGET_DIR/release/firstboot
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# timed MS_FILE RSS_FILE ARGS...: runs firstboot once; appends wall ms (ns clock) and peak RSS.
timed() {
  local ms=$1 rss=$2; shift 2
  local t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -f "%M" -o "$WORK/t" "$BIN" "$@" >/dev/null 2>&1
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 100000 )) | awk '{printf "%.1f\n", $1/10}' >> "$ms"
  cat "$WORK/t" >> "$rss"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
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
