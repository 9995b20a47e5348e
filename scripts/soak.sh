#!/usr/bin/env bash
# Soak test: builds the release server, starts it on a fresh data directory with a fast
# heartbeat, and runs scripts/soak.mjs against it (clients connect, chat and churn in
# rounds; the server's connections, rooms, file descriptors and resident size must come
# back). Bounded: ~rounds x (seconds + 10) seconds.
#
#   scripts/soak.sh [--rounds 5] [--seconds 15] [--clients 300]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PORT="${SOAK_PORT:-9411}"
[ -d e2e/node_modules ] || (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
cargo build --release -q -p chorus
DATA="$(mktemp -d)"
ulimit -n "$(ulimit -Hn)"
./target/release/chorus serve --host 127.0.0.1 --port "$PORT" --data-dir "$DATA" \
    --ping-interval-ms 2000 --ping-timeout-ms 2000 --queue-capacity 256 \
    >"$DATA/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
    sleep 0.1
done
node scripts/soak.mjs --url "http://127.0.0.1:$PORT" --pid "$PID" "$@"
