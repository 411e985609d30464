# Shared by the firstboot benchmarks (sourced, not run): ROOT, CARGO_TARGET_DIR, /usr/bin/time
# installed when missing, a scratch dir WORK removed on exit, and the timing helpers.
# `BIN` is the program `timed` runs; each script builds and sets it.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# firstboot_release: builds the release firstboot and sets BIN to it.
firstboot_release() {
  cargo build --quiet --release -p firstboot --manifest-path "$ROOT/Cargo.toml"
  BIN=$CARGO_TARGET_DIR/release/firstboot
}

# timed MS_FILE RSS_FILE ARGS...: runs $BIN once; appends wall ms (ns clock) and peak RSS (KB).
timed() {
  local ms=$1 rss=$2; shift 2
  local t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -f "%M" -o "$WORK/t" "$BIN" "$@" >/dev/null 2>&1
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 100000 )) | awk '{printf "%.1f\n", $1/10}' >> "$ms"
  cat "$WORK/t" >> "$rss"
}

# median: the median of the numbers on stdin.
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# machine_line: CPUs and load, printed above every table.
machine_line() { echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"; }
