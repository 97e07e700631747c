#!/usr/bin/env bash
# Runs every end-to-end benchmark in one go and prints each figure with its target and a
# PASS/FAIL mark. Usage: bash bench/run.sh   (BENCH_SECS=10 by default; BENCH_SESSIONS is the
# comma-separated list of sessions-table sizes the scale check compares with 1,000, by default
# 10000,100000,1000000; BENCH_PAGE_ROUNDS=15; BENCH_FORWARD_ROUNDS=15;
# BENCH_ONLY=page,rotation,storm,memory,scale,flood,forward runs a subset; the forward-auth
# figure needs nginx; Latchkey runs at BENCH_RUST_LOG=warn, without its access log, unless
# BENCH_RUST_LOG=info asks for it)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
if ! command -v nginx >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
fi
cargo build --release --bin latchkey --example bench
exec target/release/examples/bench target/release/latchkey
