#!/usr/bin/env bash
# Where the ingest ratio goes (BENCHMARKS.md, "What is not met"). Builds HEAD
# with bench/ablation.patch applied, in a throwaway git worktree: environment
# switches that turn parts of `serve`'s durable path off. Then runs each
# variant and the bare handler (`benchkit bare`) alternately under the ingest
# load of scripts/bench (wrk -t1 -c64, bench/wrk-post.lua), and prints per
# variant the median events/s, the server's CPU (utime+stime) per event, and
# the median of the per-round ratios to the bare handler. The patch never
# reaches the product; when it no longer applies, refresh it.
# Usage: bench/ablation.sh [rounds] [seconds]        (default 5 rounds of 5 s)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rounds=${1:-5}; secs=${2:-5}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release --example benchkit >&2
kit=$root/target/release/examples/benchkit
tree=$(mktemp -d); work=$(mktemp -d)
cleanup() { git worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"; rm -rf "$work"; }
trap cleanup EXIT
git worktree add --detach "$tree" HEAD >/dev/null 2>&1
git -C "$tree" apply "$root/bench/ablation.patch" ||
  { echo "bench/ablation.patch no longer applies to HEAD: refresh it" >&2; exit 1; }
CARGO_TARGET_DIR=$root/target/ablation cargo build --release --manifest-path "$tree/Cargo.toml" --bin zapi-dash >&2
bin=$root/target/ablation/release/zapi-dash
"$kit" config --out "$work/c1000.toml" --instances 1000 >/dev/null

# name:environment (bare is the baseline every ratio is taken against)
variants=(
  "bare:"
  "no-log:ABL_NOLOG=1"
  "runtime-echo:ABL_ECHO=1"
  "log-no-fsync-no-hub:ABL_NOFSYNC=1 ABL_HUBNOP=1"
  "log-no-fsync:ABL_NOFSYNC=1"
  "log-no-hub:ABL_HUBNOP=1"
  "as-shipped:"
)
: >"$work/runs"
for r in $(seq "$rounds"); do
  for v in "${variants[@]}"; do
    name=${v%%:*}; envs=${v#*:}
    st=$work/state; rm -rf "$st"; mkdir -p "$st"
    if [ "$name" = bare ]; then
      "$kit" bare --listen 127.0.0.1:0 >/dev/null 2>"$st/err" &
    else
      env $envs "$bin" serve --config "$work/c1000.toml" --state-dir "$st" --listen 127.0.0.1:0 --log-level warn >/dev/null 2>"$st/err" &
    fi
    pid=$!
    for _ in $(seq 100); do grep -q "listening on" "$st/err" && break; sleep 0.1; done
    addr=$(grep -oE 'listening on [0-9.:]+' "$st/err" | awk '{print $3}')
    t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
    out=$(wrk -t1 -c64 -d"${secs}s" -s bench/wrk-post.lua "http://$addr/hooks")
    t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out"); reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    cpu=$(python3 -c "print(round(($t1-$t0)/$(getconf CLK_TCK)*1e6/$reqs, 2))")
    echo "round $r $name: $rps events/s, $cpu µs/event" >&2
    echo "$r $name $rps $cpu" >>"$work/runs"
  done
done
python3 - "$work/runs" <<'PY'
import sys, statistics as s
runs = {}
for line in open(sys.argv[1]):
    r, name, rps, cpu = line.split()
    runs.setdefault(name, {})[r] = (float(rps), float(cpu))
bare = runs["bare"]
print(f"{'variant':<22} {'events/s':>10} {'µs/event':>9} {'ratio to bare':>14}")
for name, by_round in runs.items():
    ratios = [v[0] / bare[r][0] for r, v in by_round.items()]
    print(f"{name:<22} {s.median(v[0] for v in by_round.values()):>10.0f} "
          f"{s.median(v[1] for v in by_round.values()):>9.2f} {s.median(ratios):>14.3f}")
PY
