#!/usr/bin/env bash
# Benchmark: `firstboot upgrade plan` on an air-gapped control-plane node (issue 6: "with no
# network and no mirror configured answers from the index in well under a second"). The node is
# made by firstboot's own node-local init phases for v1.35.2, with a staged release index that
# offers v1.35.9 and v1.36.4. Median wall time over RUNS runs, and peak RSS, of:
#   offline      `upgrade plan --offline` (never tries the API server)
#   refused      `upgrade plan`, the API server's port refuses connections -> falls back
#   unroutable   `upgrade plan`, the API server's address is 192.0.2.1 (TEST-NET-1): how long
#                depends on this machine's routing (no route: at once; dropped: the 3 s
#                connect timeout) -> falls back
#   hung         `upgrade plan`, the API server accepts the connection and never answers
#                -> falls back after 3 s (the TLS handshake counts against the connect timeout;
#                a server that completes it and then hangs hits the 5 s read timeout)
#   -o json      `upgrade plan --offline -o json`
# Usage: bench/upgrade-plan.sh [RUNS]   (default 9; needs /usr/bin/time)
set -euo pipefail
RUNS=${1:-9}
source "$(dirname "$0")/lib.sh"
firstboot_release
NODE=$WORK/root
mkdir -p "$NODE"
cat > "$WORK/config.yaml" <<'YAML'
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 192.0.2.2
nodeRegistration:
  name: cp1
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.35.2
controlPlaneEndpoint: 127.0.0.1:6443
encryptionAlgorithm: ECDSA-P256
---
apiVersion: kubebake.io/v1alpha1
kind: FirstbootConfiguration
skipPhases: [preflight, wait-control-plane, upload-config, upload-certs, mark-control-plane, bootstrap-token, kubelet-finalize, addon, show-join-command]
YAML
"$BIN" init --root "$NODE" --config "$WORK/config.yaml" >/dev/null
mkdir -p "$NODE/usr/share/kubebake" "$NODE/var/lib/kubebake"
echo '{"activeVersion":"v1.35.2"}' > "$NODE/usr/share/kubebake/staged.json"
cat > "$NODE/var/lib/kubebake/release-index.yaml" <<'YAML'
apiVersion: kubebake.io/v1alpha1
kind: ReleaseIndex
generatedAt: '2026-11-25T00:00:00Z'
source: file:///mirror
kubernetesVersion: v1.36.4
labels:
  stable: v1.36.4
  stable-1.35: v1.35.9
  stable-1.36: v1.36.4
components: {}
YAML
# A port nothing listens on.
FREE=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed "s#server: https://.*#server: https://127.0.0.1:$FREE#" "$NODE/etc/kubernetes/admin.conf" > "$WORK/refused.conf"
sed "s#server: https://.*#server: https://192.0.2.1:6443#" "$NODE/etc/kubernetes/admin.conf" > "$WORK/unroutable.conf"
"$BIN" --root "$NODE" upgrade plan --offline | grep -q "upgrade apply v1.36.4" \
  || { echo "the plan does not offer v1.36.4" >&2; exit 1; }
machine_line
printf '%-12s %12s %12s\n' case "wall (ms)" "peak RSS"
run_case() {
  local name=$1 n=$2; shift 2
  : > "$WORK/ms"; : > "$WORK/rss"
  for _ in $(seq "$n"); do timed "$WORK/ms" "$WORK/rss" "$@"; done
  printf '%-12s %12s %9s KB\n' "$name" "$(median < "$WORK/ms")" "$(sort -g "$WORK/rss" | tail -1)"
}
run_case offline "$RUNS" --root "$NODE" upgrade plan --offline
run_case "-o json" "$RUNS" --root "$NODE" upgrade plan --offline -o json
run_case refused "$RUNS" --root "$NODE" --kubeconfig "$WORK/refused.conf" upgrade plan
run_case unroutable 3 --root "$NODE" --kubeconfig "$WORK/unroutable.conf" upgrade plan
# A listener that accepts and never answers.
python3 - "$WORK/hung.port" <<'PY' &
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held = []
while True:
    c, _ = s.accept(); held.append(c)
PY
HUNG=$!
trap 'kill $HUNG 2>/dev/null; rm -rf "$WORK"' EXIT
while [ ! -s "$WORK/hung.port" ]; do sleep 0.1; done
sed "s#server: https://.*#server: https://127.0.0.1:$(cat "$WORK/hung.port")#" "$NODE/etc/kubernetes/admin.conf" > "$WORK/hung.conf"
run_case hung 3 --root "$NODE" --kubeconfig "$WORK/hung.conf" upgrade plan
