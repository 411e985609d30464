#!/usr/bin/env bash
# Benchmark of firstboot's certs phase (11 certificate keys + sa key, plan + generate + sign +
# atomic writes) for kubeadm's reference configuration (node vm, 192.0.2.2,
# controlPlaneEndpoint 127.0.0.1:6443), with RSA-2048 and ECDSA-P256.
# Reports the median wall time of the certs phase over RUNS runs, the median CPU time
# (user+sys) of the whole process and its peak RSS (from /usr/bin/time -v), plus the
# kubeconfig phase (5 client keys) for information.
# kubeadm v1.36.2 on the reference 2-core machine: 1.0–1.5 s (RSA-2048), 0.05–0.15 s
# (ECDSA-P256); the goal is at most half of that.
#
# Usage: bench/certs.sh [RUNS]   (default 7; needs /usr/bin/time from the Debian package `time`)
set -euo pipefail
RUNS=${1:-7}
source "$(dirname "$0")/lib.sh"
cargo build --quiet --release -p firstboot --example certs_phase --manifest-path "$ROOT/Cargo.toml"
BIN=$CARGO_TARGET_DIR/release/examples/certs_phase
machine_line
printf '%-11s %12s %14s %12s %16s\n' algorithm "certs (s)" "cpu u+s (s)" "peak RSS" "kubeconfig (s)"
for alg in RSA-2048 ECDSA-P256; do
  : >"$WORK/certs"; : >"$WORK/cpu"; : >"$WORK/rss"; : >"$WORK/kc"
  for i in $(seq "$RUNS"); do
    out="$WORK/run-$alg-$i"
    # certs phase only: wall time of the phase, CPU time and peak RSS of the process
    /usr/bin/time -v -o "$WORK/time.txt" "$BIN" "$out" "$alg" >"$WORK/line.txt"
    # "certs 0.412s (22 files)"
    awk '{sub("s$","",$2); print $2}' "$WORK/line.txt" >>"$WORK/certs"
    awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {print u+s}' "$WORK/time.txt" >>"$WORK/cpu"
    awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt" >>"$WORK/rss"
    # kubeconfig phase on top of the existing PKI (5 client keys)
    rm -rf "$out"
    "$BIN" "$out" "$alg" --kubeconfig >"$WORK/line.txt"
    # "certs 0.412s (22 files) kubeconfig 0.190s (5 files)"
    awk '{sub("s$","",$6); print $6}' "$WORK/line.txt" >>"$WORK/kc"
    rm -rf "$out"
  done
  printf '%-11s %12s %14s %9s KB %16s\n' "$alg" "$(median <"$WORK/certs")" "$(median <"$WORK/cpu")" \
    "$(sort -n "$WORK/rss" | tail -1)" "$(median <"$WORK/kc")"
done
