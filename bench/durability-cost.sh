#!/usr/bin/env bash
# What durability costs: `zapi-dash serve` ingest with its state dir on disk
# (every batch fsync'd) against the same binary with the state dir on tmpfs
# (/dev/shm, where fsync does nothing), run after run, side by side.
# Prints each pair and the median of the per-run ratios (disk / tmpfs).
# Usage: bench/durability-cost.sh [runs] (needs wrk and a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
bin=target/release/zapi-dash
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
ratios=()
for i in $(seq "$runs"); do
  d=$(one "$work/state"); m=$(one "$shm")
  r=$(python3 -c "print(round($d/$m, 3))")
  ratios+=("$r")
  echo "run $i: disk $d/s  tmpfs $m/s  ratio $r"
done
python3 -c "import statistics,sys; print('median ratio', statistics.median(map(float, sys.argv[1:])))" "${ratios[@]}"
