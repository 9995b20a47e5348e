#!/usr/bin/env bash
# Runs the official Engine.IO and Socket.IO protocol test suites against
# `cargo run --example socketio_conformance` (127.0.0.1:3000).
#
# The suites live in the public repositories socketio/engine.io-protocol and
# socketio/socket.io-protocol (directory test-suite/, mocha + node-fetch + ws). They are not
# vendored here: unmodified copies sit beside this checkout in ../shared/conformance/ (read
# its README), and scripts/test.sh runs them from there on every test run.
#
#   scripts/socketio-conformance.sh [ENGINE_IO_PROTOCOL_DIR SOCKET_IO_PROTOCOL_DIR]
#
# Defaults: $ENGINEIO_PROTOCOL / $SOCKETIO_PROTOCOL, else ../shared/conformance/… (a
# directory holding test-suite/, or a bare git directory: the tree is exported from HEAD).
# The suites are copied to target/ before `npm ci` (the shared tree is read-only).
# Port 3000 must be free: the suites hard-code http://localhost:3000.
# Prints one summary line per suite: `conformance <suite>: N passing, M failing`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="$(dirname "$ROOT")/shared/conformance"
ENGINE_SRC="${1:-${ENGINEIO_PROTOCOL:-$SHARED/engine.io-protocol}}"
SOCKET_SRC="${2:-${SOCKETIO_PROTOCOL:-$SHARED/socket.io-protocol}}"
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
  # The suites come without a lockfile: `npm install` within their package.json ranges.
  (cd "$dest" && npm install --no-audit --no-fund --loglevel=error)
}
export_suite "$ENGINE_SRC" engine.io-protocol
export_suite "$SOCKET_SRC" socket.io-protocol

cargo build --example socketio_conformance
"$ROOT/target/debug/examples/socketio_conformance" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null' EXIT
for _ in $(seq 1 50); do
  (exec 3<>/dev/tcp/127.0.0.1/3000) 2>/dev/null && break
  sleep 0.1
done

status=0
for suite in engine.io-protocol socket.io-protocol; do
  echo "==== $suite"
  log="$WORK/$suite.log"
  (cd "$WORK/$suite" && npx mocha --exit --reporter spec test-suite.js) >"$log" 2>&1 || status=1
  cat "$log"
  passing=$(grep -Eo '[0-9]+ passing' "$log" | grep -Eo '[0-9]+' || echo 0)
  failing=$(grep -Eo '[0-9]+ failing' "$log" | grep -Eo '[0-9]+' || echo 0)
  echo "conformance $suite: $passing passing, $failing failing"
done
exit $status
