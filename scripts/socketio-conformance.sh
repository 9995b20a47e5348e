#!/usr/bin/env bash
# Runs the official Engine.IO and Socket.IO protocol test suites against
# `cargo run --example socketio_conformance` (127.0.0.1:3000).
#
# The suites live in the public repositories socketio/engine.io-protocol and
# socketio/socket.io-protocol (directory test-suite/, mocha + node-fetch + ws). They are not
# vendored here: point the script at checkouts of them.
#
#   scripts/socketio-conformance.sh [ENGINE_IO_PROTOCOL_DIR SOCKET_IO_PROTOCOL_DIR]
#
# Defaults: $ENGINEIO_PROTOCOL / $SOCKETIO_PROTOCOL, else the mirrors at
# ../.mirror/socketio+engine.io-protocol/repo and ../.mirror/socketio+socket.io-protocol/repo
# (bare git directories are fine: the test-suite/ tree is exported from HEAD).
# Port 3000 must be free: the suites hard-code http://localhost:3000.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MIRROR="$(dirname "$ROOT")/.mirror"
ENGINE_SRC="${1:-${ENGINEIO_PROTOCOL:-$MIRROR/socketio+engine.io-protocol/repo}}"
SOCKET_SRC="${2:-${SOCKETIO_PROTOCOL:-$MIRROR/socketio+socket.io-protocol/repo}}"
WORK="$ROOT/target/socketio-conformance"
mkdir -p "$WORK"

# export_suite SRC NAME: copies SRC's test-suite/ (a work tree or a git directory) to $WORK/NAME.
export_suite() {
  local src="$1" name="$2" dest="$WORK/$2"
  if [ -d "$dest/node_modules" ]; then return; fi
  rm -rf "$dest" && mkdir -p "$dest"
  if [ -d "$src/test-suite" ]; then
    cp -r "$src/test-suite/." "$dest/"
  elif git --git-dir="$src" rev-parse HEAD >/dev/null 2>&1; then
    git --git-dir="$src" archive HEAD test-suite | tar -x -C "$dest" --strip-components=1
  else
    echo "socketio-conformance: no test suite at $src" >&2; exit 2
  fi
  (cd "$dest" && npm ci --no-audit --no-fund --loglevel=error)
}
export_suite "$ENGINE_SRC" engine.io-protocol
export_suite "$SOCKET_SRC" socket.io-protocol

cargo build --release --example socketio_conformance
"$ROOT/target/release/examples/socketio_conformance" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null' EXIT
for _ in $(seq 1 50); do
  (exec 3<>/dev/tcp/127.0.0.1/3000) 2>/dev/null && break
  sleep 0.1
done

status=0
for suite in engine.io-protocol socket.io-protocol; do
  echo "==== $suite"
  (cd "$WORK/$suite" && npx mocha --exit test-suite.js) || status=1
done
exit $status
