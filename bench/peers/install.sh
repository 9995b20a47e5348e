#!/usr/bin/env bash
# Installs/builds the benchmark peer servers (see README.md in this directory).
#
#   bash bench/peers/install.sh        # from any directory
#
# * Node peers (ws, socket.io, uWebSockets.js): `npm ci` in bench/peers/node (skipped when
#   node_modules already matches package-lock.json), then checks that the uWebSockets.js
#   native binding loads on this machine.
# * Rust peers (socketioxide, tokio-tungstenite): `cargo build --release --locked`, into the
#   shared target dir bench/peers/target/.
# Idempotent; a second run only re-checks (a few seconds). Exits non-zero if anything failed,
# after doing everything it could.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NODE_DIR="$HERE/node"
export CARGO_TARGET_DIR="$HERE/target"
UWS_PKG="@trufflesuite/uws-js-unofficial"
status=0

say() { printf '==> %s\n' "$*"; }

for tool in node npm cargo; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: '$tool' not found on PATH" >&2
    exit 1
  fi
done

# ---------------------------------------------------------------- Node peers
say "Node $(node --version) (ABI $(node -p process.versions.modules)), npm $(npm --version 2>/dev/null)"
cd "$NODE_DIR"
stamp="node_modules/.chorus-install-stamp"
if [[ -f package-lock.json ]]; then
  want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)-$(node --version)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    say "node_modules up to date with package-lock.json (npm ci skipped)"
  else
    say "npm ci in $NODE_DIR"
    npm ci --no-audit --no-fund
    echo "$want" > "$stamp"
  fi
else
  say "no package-lock.json: npm install in $NODE_DIR"
  npm install --no-audit --no-fund
fi

say "checking the uWebSockets.js native binding ($UWS_PKG)"
if uws_out="$(node -e '
  try {
    const p = require.resolve(process.argv[1] + "/binaries/uws_" + process.platform + "_" + process.arch + "_" + process.versions.modules + ".node");
    const uWS = require(p);
    if (typeof uWS.App !== "function") throw new Error("loaded " + p + " but it has no App()");
    uWS.App(); // constructs a native app: proves the addon really runs
    console.log(p);
  } catch (e) {
    console.log(String(e && e.message).split("\n").slice(0, 3).join("\n"));
    process.exit(1);
  }
' "$UWS_PKG" 2>&1)"; then
  say "uWS binding OK: $uws_out"
else
  status=1
  cat >&2 <<MSG

!! The uWebSockets.js native binding does NOT load on this machine, so the uws peer
!! (node/uws-server.mjs) cannot run. Details:
$(printf '%s\n' "$uws_out" | sed 's/^/!!   /')
!! The package ships builds for Linux/macOS/Windows x64/arm64 and Node ABIs 93, 108 and 115
!! (Node 16, 18, 20) only; this is Node $(node --version) (ABI $(node -p process.versions.modules)),
!! glibc $(ldd --version 2>/dev/null | head -1 | awk '{print $NF}'). See bench/peers/README.md.
!! The other peers are unaffected.

MSG
fi

# ---------------------------------------------------------------- Rust peers
# The socketioxide crate builds two binaries: socketioxide-peer and socketioxide-redis-peer (the
# same peer as one node of a cluster over Redis: PORT, REDIS_URL; needs a Redis >= 6 to run).
for peer in socketioxide tokio-tungstenite; do
  say "cargo build --release --locked ($peer)"
  if ! (cd "$HERE/$peer" && cargo build --release --locked --quiet); then
    echo "error: building the $peer peer failed" >&2
    status=1
  fi
done
[[ -x "$CARGO_TARGET_DIR/release/socketioxide-redis-peer" ]] || { echo "error: missing $CARGO_TARGET_DIR/release/socketioxide-redis-peer" >&2; status=1; }

# ---------------------------------------------------------------- summary
echo
say "peers (start each with PORT=<port>; default 9001):"
printf '  %-18s %s\n' \
  "ws" "node $NODE_DIR/ws-server.mjs" \
  "socket.io" "node $NODE_DIR/socketio-server.mjs" \
  "uWebSockets.js" "node $NODE_DIR/uws-server.mjs" \
  "socketioxide" "$CARGO_TARGET_DIR/release/socketioxide-peer" \
  "tokio-tungstenite" "$CARGO_TARGET_DIR/release/tokio-tungstenite-peer"
for bin in socketioxide-peer tokio-tungstenite-peer; do
  [[ -x "$CARGO_TARGET_DIR/release/$bin" ]] || { echo "error: missing $CARGO_TARGET_DIR/release/$bin" >&2; status=1; }
done
if [[ $status -ne 0 ]]; then
  echo "install.sh: finished WITH ERRORS (see above)" >&2
fi
exit "$status"
