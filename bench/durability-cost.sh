#!/usr/bin/env bash
# What durability costs: `zapi-dash serve` ingest with its state dir on disk
# (every batch fsync'd) against the same binary with the state dir on tmpfs
# (/dev/shm, where fsync does nothing), run after run, side by side.
# Prints each pair, the disk's fdatasync latency measured just before the
# pair (what bounds the disk run: with 64 connections and every answer after
# an fsync, at most 64 answers per fsync round trip), and the median of the
# per-run ratios (disk / tmpfs).
# Usage: bench/durability-cost.sh [runs] (needs wrk and a release build);
# ZAPI_DASH_BIN=path runs another build.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
bin=${ZAPI_DASH_BIN:-target/release/zapi-dash}
[ -x "$bin" ] || cargo build --release
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
work=$(mktemp -d) shm=$(mktemp -d -p /dev/shm)
trap 'rm -rf "$work" "$shm"' EXIT
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
printf 'listen = "127.0.0.1:%s"\npoll_interval = 0\n' "$port" > "$work/c.toml"
one() { # state dir -> events/s
  rm -rf "${1:?}"/*
  "$bin" serve --config "$work/c.toml" --state-dir "$1" >/dev/null 2>"$work/err" &
  local pid=$!
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  wrk -t1 -c64 -d8s -s bench/wrk-post.lua "http://127.0.0.1:$port/hooks" | awk '/Requests\/sec/ {print $2}'
  kill -TERM "$pid"; wait "$pid" || true
}
fsync_p50() { # 100 appends of 2 KB, each fdatasync'd, in the disk state dir -> p50 ms
  python3 bench/fsync-p50.py "$1"
}
ratios=()
mkdir -p "$work/state"
for i in $(seq "$runs"); do
  f=$(fsync_p50 "$work/state")
  d=$(one "$work/state"); m=$(one "$shm")
  r=$(python3 -c "print(round($d/$m, 3))")
  ratios+=("$r")
  echo "run $i: disk $d/s  tmpfs $m/s  ratio $r  (fdatasync p50 $f ms before the run)"
done
python3 -c "import statistics,sys; print('median ratio', statistics.median(map(float, sys.argv[1:])))" "${ratios[@]}"
