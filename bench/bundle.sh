#!/usr/bin/env bash
# Benchmark: verify + unpack of a synthetic bundle (default payload 2600 MiB → a ~1.1 GiB bundle
# file, mostly gzip'd image layers like a real bundle) with bake, against
# `tar -xzf` followed by `sha256sum -c` on the same file, same machine, same run.
# Prints wall time (median of RUNS) and peak RSS for each. Not a test: nothing is asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }
MIB=${1:-2600}
RUNS=${RUNS:-3}
W="$PWD/bench/out/bundle"
if [ "${REUSE:-}" != 1 ]; then rm -rf "$W"; fi
mkdir -p "$W"
cargo build --release --quiet -p bake -p testkit
B=target/release

if [ ! -f "$W/bench.bundle" ]; then
echo "fixtures: ${MIB} MiB of image payload"
"$B/kubebake-fixtures" bench --out "$W/fx" --mib "$MIB" >/dev/null
cat > "$W/spec.yaml" <<YAML
apiVersion: kubebake.io/v1alpha1
kind: BundleSpec
name: bench
kubernetesVersion: v1.36.2
releaseMirror: fx/mirror
imageLayout: fx/images
YAML
/usr/bin/time -f "create: %e s, peak RSS %M KiB" "$B/bake" bundle create --spec "$W/spec.yaml" --out "$W/bench.bundle" -q --no-firstboot
rm -rf "$W/fx"
fi
ls -l "$W/bench.bundle"
"$B/bake" bundle inspect "$W/bench.bundle" -o json > "$W/inventory.json"
python3 - "$W" <<'PY'
import json, sys
w = sys.argv[1]
inv = json.load(open(f"{w}/inventory.json"))
arts = inv["artifacts"]
total = sum(a["size"] for a in arts)
print(f"bundle file: {inv['size'] / 2**20:.0f} MiB; unpacked: {total / 2**20:.0f} MiB in {len(arts)} entries")
with open(f"{w}/SHA256SUMS", "w") as f:
    for a in arts:
        f.write(f"{a['sha256']}  {a['path']}\n")
PY

measure() { # name, command...
  local name=$1; shift
  local times=() rss=()
  for i in $(seq "$RUNS"); do
    rm -rf "$W/x"
    local out
    /usr/bin/time -f "%e %M" -o "$W/time.txt" "$@" >/dev/null 2>&1 || { echo "$name failed"; exit 1; }
    out=$(tail -1 "$W/time.txt")
    times+=("${out% *}"); rss+=("${out#* }")
  done
  local med
  med=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS+1)/2 ))p")
  local maxrss
  maxrss=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
  printf '%-44s median %6.2f s  (runs: %s)  peak RSS %6d KiB\n' "$name" "$med" "${times[*]}" "$maxrss"
  echo "$med" > "$W/$name.median"
}

measure "bake-verify" "$B/bake" bundle verify "$W/bench.bundle" -q
measure "bake-verify+unpack" "$B/bake" bundle unpack "$W/bench.bundle" --dest "$W/x" -q
measure "tar-xzf+sha256sum-c" sh -c "mkdir -p '$W/x' && tar -xzf '$W/bench.bundle' -C '$W/x' && cd '$W/x' && sha256sum -c --quiet '$W/SHA256SUMS'"
# bake stage into a fresh root vs. the manual equivalent: unpack, check, copy into place
measure "bake-stage" "$B/bake" stage "$W/bench.bundle" --root "$W/x" -q
measure "tar+sha256sum+cp" sh -c "mkdir -p '$W/x/u' '$W/x/root/opt/v/bin' '$W/x/root/var/lib/images' && tar -xzf '$W/bench.bundle' -C '$W/x/u' && cd '$W/x/u' && sha256sum -c --quiet '$W/SHA256SUMS' && cp -a bin/. '$W/x/root/opt/v/bin/' && tar -cf '$W/x/root/var/lib/images/images.oci.tar' -C images . && cp release-index.yaml bundle.yaml '$W/x/root/var/lib/'"
python3 - "$W" <<'PY'
import sys
w=sys.argv[1]
b=float(open(f"{w}/bake-verify+unpack.median").read())
t=float(open(f"{w}/tar-xzf+sha256sum-c.median").read())
print(f"speed-up of bake verify+unpack over tar -xzf + sha256sum -c: {t/b:.2f}x")
s=float(open(f"{w}/bake-stage.median").read())
c=float(open(f"{w}/tar+sha256sum+cp.median").read())
print(f"speed-up of bake stage over tar -xzf + sha256sum -c + copying into place: {c/s:.2f}x")
PY
rm -rf "$W/x"
