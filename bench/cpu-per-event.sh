#!/usr/bin/env bash
# Ingest throughput and server CPU per event, side by side: each round runs
# every given `zapi-dash` build under `serve` (state dir on disk, the
# 1,000-instance config of scripts/bench) and then the bare axum handler
# (`benchkit bare`), each under the same wrk load as scripts/bench
# (-t1 -c64, bench/wrk-post.lua). CPU is utime+stime of the server process
# (/proc/<pid>/stat) over the wrk run, divided by the requests wrk made. Also
# prints the disk's fdatasync p50 before each round.
# Usage: bench/cpu-per-event.sh [rounds] [seconds] BIN...   (default: target/release/zapi-dash)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; secs=${2:-7}; shift $(( $# >= 2 ? 2 : $# ))
bins=("$@"); [ ${#bins[@]} -gt 0 ] || bins=(target/release/zapi-dash)
kit=target/release/examples/benchkit
[ -x "$kit" ] || cargo build --release --example benchkit
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$kit" config --out "$work/c1000.toml" --instances 1000 >/dev/null
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
load() { # PID URL -> "events/s cpu_us_per_event"
  local t0 t1 out
  t0=$(ticks "$1")
  out=$(wrk -t1 -c64 -d"${secs}s" -s bench/wrk-post.lua "$2")
  t1=$(ticks "$1")
  local rps reqs hz
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out"); reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  hz=$(getconf CLK_TCK)
  python3 -c "print(round($rps), round(($t1-$t0)/$hz*1e6/$reqs, 1))"
}
fsync_p50() {
  python3 bench/fsync-p50.py "$1"
}
for r in $(seq "$rounds"); do
  line="round $r (fdatasync p50 $(fsync_p50 "$work") ms):"
  for b in "${bins[@]}"; do
    st=$work/state; rm -rf "$st"; mkdir -p "$st"
    "$b" serve --config "$work/c1000.toml" --state-dir "$st" --listen 127.0.0.1:0 --log-level warn >/dev/null 2>"$work/err" &
    pid=$!
    for _ in $(seq 100); do grep -q "listening on" "$work/err" && break; sleep 0.1; done
    addr=$(grep -oE 'listening on [0-9.:]+' "$work/err" | awk '{print $3}')
    read -r rps cpu < <(load "$pid" "http://$addr/hooks")
    kill -TERM "$pid"; wait "$pid" || true
    line="$line  $b: $rps/s $cpu µs"
  done
  "$kit" bare --listen 127.0.0.1:0 >"$work/bare" 2>/dev/null &
  pid=$!
  for _ in $(seq 100); do grep -q addr "$work/bare" && break; sleep 0.1; done
  addr=$(grep -oE '"addr":"[0-9.:]+"' "$work/bare" | cut -d'"' -f4)
  read -r rps cpu < <(load "$pid" "http://$addr/hooks")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$line  bare: $rps/s $cpu µs"
done
