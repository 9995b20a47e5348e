#!/usr/bin/env bash
# The whole chorus test suite, on a fresh Debian 12 machine or a developer's: ./scripts/test.sh
#
#  1. installs what the tests need, quickly when it is already there:
#       Debian's chromium (browser tests; skipped with CHORUS_TEST_SKIP_BROWSER=1),
#       Debian's redis-server, nats-server and nginx (the cluster tests start their own, on free ports,
#       and stop them by PID), g++ if
#       there is no C++ compiler (the fuzz targets' check builds libFuzzer),
#       e2e/node_modules (npm ci), e2e/.venv (Python websockets + pytest, e2e/requirements.txt)
#  2. cargo fmt --check, cargo clippy -D warnings, a check that the fuzz targets build, and
#     that no module imports one that imports it back (scripts/module-cycles.sh; installs
#     cargo-modules the first time, a few minutes)
#  3. Rust tests: cargo nextest (or cargo test), plus doc tests
#  4. builds target/debug/chorus and the echo example
#  5. external clients against a real `chorus serve`: node --test e2e/, pytest e2e/python; the
#     official socket.io clients (Node, Python) against examples/socketio_server, and Chromium
#     against the seed program P11 (examples/p11_socketio_chat); then the official Engine.IO
#     and Socket.IO protocol suites (../shared/conformance) against
#     examples/socketio_conformance on port 3000 (scripts/socketio-conformance.sh)
#  6. a quick Autobahn run against the echo example (all cases but 9.*, 12.*, 13.*), and
#     its compression cases 12.1.* and 13.1.* with permessage-deflate negotiated;
#     the full run is scripts/autobahn.sh
#
# Stops at the first failing step. The last line is always "N passed, N failed": tests counted
# from each runner's own summary (nextest / cargo test, node --test, pytest, the official
# suites' mocha counts, Autobahn cases);
# fmt, clippy, the fuzz targets' check and the build count only when they fail (as 1 failed).
#
# Environment:
#   CHORUS_TEST_SKIP_BROWSER=1  skip installing Chromium and the browser tests (e2e/browser)
#   CHROMIUM=/path              Chromium to use (default /usr/bin/chromium)
#   CHORUS_ECHO_PORT            port of the echo example for Autobahn (default 9001, or a free one if busy)
#   CHORUS_TEST_SKIP_AUTOBAHN=1 skip the quick Autobahn run
#   AUTOBAHN_RUN                path of the Autobahn run.sh (default ../shared/tools/autobahn/run.sh)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

LOGS="$ROOT/target/test-logs"
mkdir -p "$LOGS"
PASSED=0
FAILED=0
START_ALL=$(date +%s)
SKIP_BROWSER="${CHORUS_TEST_SKIP_BROWSER:-0}"
CHROMIUM_BIN="${CHROMIUM:-/usr/bin/chromium}"
ECHO_PORT="${CHORUS_ECHO_PORT:-9001}"
AUTOBAHN_RUN="${AUTOBAHN_RUN:-$(dirname "$ROOT")/shared/tools/autobahn/run.sh}"
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null
    fi
  done
  return 0
}
trap cleanup EXIT
trap 'echo "test.sh: interrupted" >&2; exit 130' INT TERM

banner() { printf '\n==== %s\n' "$*"; }

summary() { echo "$PASSED passed, $FAILED failed"; }

# fail STEP MESSAGE: stop here with a clear message and the summary line.
fail() {
  local step="$1"; shift
  printf '\ntest.sh: FAILED at step "%s": %s\n' "$step" "$*" >&2
  # A linker or compiler error can hide behind one very long command line: show the error
  # lines themselves, cut short, and the free disk space (a full disk fails at the linker).
  if [ -n "${LAST_LOG:-}" ] && [ -f "$LAST_LOG" ]; then
    strip_ansi "$LAST_LOG" \
      | grep -E '^(error|warning: unused)|No space left|collect2|/ld:|ld: |undefined reference|panicked at|FAIL \[' \
      | cut -c1-400 | tail -25 >&2
  fi
  df -h "$ROOT" >&2 || true
  printf 'test.sh: stopped after %ss; logs in %s\n' "$(( $(date +%s) - START_ALL ))" "$LOGS" >&2
  cleanup
  summary
  exit 1
}

strip_ansi() { sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g' "$@"; }

# sum_matches FILE REGEX: the sum of the first number captured by every match of REGEX (ERE with one group).
sum_matches() {
  strip_ansi "$1" | grep -oE "$2" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}'
}

# run STEP LOGNAME CMD...: run a command, output to the terminal and to $LOGS/LOGNAME.log.
# Sets RC to its exit status.
run() {
  local step="$1" log="$LOGS/$2.log"; shift 2
  LAST_LOG="$log"
  banner "$step: $*"
  local t0=$(date +%s)
  "$@" 2>&1 | tee "$log"
  RC=${PIPESTATUS[0]}
  echo "---- $step: exit $RC after $(( $(date +%s) - t0 ))s"
}

# count P F STEP: add a runner's counts; a non-zero exit with no counted failure counts as one.
count() {
  local p="${1:-0}" f="${2:-0}" step="$3"
  if [ "$RC" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  PASSED=$(( PASSED + p ))
  FAILED=$(( FAILED + f ))
  echo "---- $step: $p passed, $f failed"
  if [ "$RC" -ne 0 ]; then fail "$step" "exit status $RC (see $LOGS)"; fi
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_open() { # port_open PORT -> 0 if something accepts connections on 127.0.0.1:PORT
  python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.settimeout(0.5)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
EOF
}

http_ok() { # http_ok URL -> 0 on HTTP 200
  python3 - "$1" <<'EOF'
import sys, urllib.request
try:
    sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}

# ---------------------------------------------------------------------------- 1. install
banner "install: test dependencies"
t0=$(date +%s)
if [ "$SKIP_BROWSER" = 1 ]; then
  echo "chromium: skipped (CHORUS_TEST_SKIP_BROWSER=1)"
elif [ -x "$CHROMIUM_BIN" ]; then
  echo "chromium: $CHROMIUM_BIN present"
else
  echo "chromium: installing Debian's chromium (apt-get)"
  as_root apt-get update -qq || fail install "apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >"$LOGS/apt-chromium.log" 2>&1 \
    || { tail -20 "$LOGS/apt-chromium.log" >&2; fail install "apt-get install chromium failed"; }
  [ -x "$CHROMIUM_BIN" ] || fail install "chromium installed but $CHROMIUM_BIN is missing (set CHROMIUM=...)"
fi

# The fuzz targets' check builds libFuzzer, which is C++.
if ! command -v c++ >/dev/null; then
  echo "c++: installing Debian's g++ (apt-get), for the fuzz targets' check"
  as_root apt-get update -qq || fail install "apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >"$LOGS/apt-gxx.log" 2>&1 \
    || { tail -20 "$LOGS/apt-gxx.log" >&2; fail install "apt-get install g++ failed"; }
fi

if [ -x /usr/sbin/nginx ]; then
  echo "nginx: present"
else
  echo "nginx: installing Debian's nginx (apt-get), for the cluster tests behind a load balancer"
  as_root apt-get update -qq || fail install "apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >"$LOGS/apt-nginx.log" 2>&1 \
    || { tail -20 "$LOGS/apt-nginx.log" >&2; fail install "apt-get install nginx-light failed"; }
  # The package starts the system's nginx on port 80; the tests run their own.
  as_root systemctl disable --now nginx >/dev/null 2>&1 || as_root service nginx stop >/dev/null 2>&1 || true
fi

if [ -x /usr/sbin/nats-server ] || [ -x /usr/bin/nats-server ]; then
  echo "nats-server: present"
else
  echo "nats-server: installing Debian's nats-server (apt-get), for the NATS cluster tests"
  as_root apt-get update -qq || fail install "apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >"$LOGS/apt-nats.log" 2>&1 \
    || { tail -20 "$LOGS/apt-nats.log" >&2; fail install "apt-get install nats-server failed"; }
  as_root systemctl disable --now nats-server >/dev/null 2>&1 || true
fi

if [ -x /usr/bin/redis-server ]; then
  echo "redis-server: present"
else
  echo "redis-server: installing Debian's redis-server (apt-get), for the cluster tests"
  as_root apt-get update -qq || fail install "apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >"$LOGS/apt-redis.log" 2>&1 \
    || { tail -20 "$LOGS/apt-redis.log" >&2; fail install "apt-get install redis-server failed"; }
fi
if [ -x /usr/bin/tmux ]; then
  echo "tmux: present"
else
  echo "tmux: installing Debian's tmux (apt-get), for the interactive \`chorus client\` test"
  as_root apt-get update -qq || fail install "apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >"$LOGS/apt-tmux.log" 2>&1 \
    || { tail -20 "$LOGS/apt-tmux.log" >&2; fail install "apt-get install tmux failed"; }
fi
command -v node >/dev/null || fail install "node is not installed (Node 20+ is needed for e2e/)"
# npm writes node_modules/.package-lock.json last: without it the install is missing or
# was cut short.
if [ ! -f e2e/node_modules/.package-lock.json ] || [ e2e/package.json -nt e2e/node_modules ] \
   || { [ -f e2e/package-lock.json ] && [ e2e/package-lock.json -nt e2e/node_modules ]; }; then
  echo "npm: installing e2e/node_modules"
  if [ -f e2e/package-lock.json ]; then npm_cmd=ci; else npm_cmd=install; fi
  (cd e2e && npm "$npm_cmd" --no-audit --no-fund --loglevel=error) || fail install "npm $npm_cmd in e2e/ failed"
  touch e2e/node_modules
else
  echo "npm: e2e/node_modules up to date"
fi

VENV_PY="$ROOT/e2e/.venv/bin/python"
if [ ! -x "$VENV_PY" ]; then
  echo "python: creating e2e/.venv"
  python3 -m venv e2e/.venv || fail install "python3 -m venv e2e/.venv failed (apt-get install python3-venv?)"
fi
if [ ! -f e2e/.venv/.requirements-stamp ] || [ e2e/requirements.txt -nt e2e/.venv/.requirements-stamp ]; then
  echo "python: installing e2e/requirements.txt"
  "$VENV_PY" -m pip install -q --disable-pip-version-check -r e2e/requirements.txt || fail install "pip install -r e2e/requirements.txt failed"
  touch e2e/.venv/.requirements-stamp
else
  echo "python: e2e/.venv up to date"
fi
echo "---- install: done after $(( $(date +%s) - t0 ))s"

# ---------------------------------------------------------------------------- 2. lint
run fmt fmt cargo fmt --all -- --check
[ "$RC" -eq 0 ] || { FAILED=$((FAILED + 1)); fail fmt "code is not formatted: run cargo fmt --all"; }

run clippy clippy cargo clippy --workspace --all-targets -- -D warnings
[ "$RC" -eq 0 ] || { FAILED=$((FAILED + 1)); fail clippy "clippy reported warnings or errors"; }

# The fuzz targets are a crate of their own (fuzz/, run with cargo-fuzz on nightly); checking
# that they still build against the library's API keeps them runnable.
run "fuzz targets" fuzz-check cargo check --manifest-path fuzz/Cargo.toml --bins
[ "$RC" -eq 0 ] || { FAILED=$((FAILED + 1)); fail "fuzz targets" "the fuzz targets do not build: cargo check --manifest-path fuzz/Cargo.toml --bins"; }

# The module graph of every crate, drawn by cargo-modules, has no cycle.
run "module cycles" module-cycles ./scripts/module-cycles.sh
[ "$RC" -eq 0 ] || { FAILED=$((FAILED + 1)); fail "module cycles" "a module imports one that imports it back: see scripts/module-cycles.sh's output"; }

# ---------------------------------------------------------------------------- 3. Rust tests
if cargo nextest --version >/dev/null 2>&1; then
  run "rust tests" rust-tests cargo nextest run --workspace --no-tests=warn
  # nextest: "Summary [ 1.2s] 42 tests run: 40 passed, 1 failed, 1 timed out, 0 skipped"
  sline="$(strip_ansi "$LOGS/rust-tests.log" | grep -E '[0-9]+ tests? run:' | tail -1)"
  p="$(echo "$sline" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' | head -1)"
  f="$(echo "$sline" | grep -oE '[0-9]+ (failed|timed out)' | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')"
  count "${p:-0}" "${f:-0}" "rust tests (nextest)"
else
  run "rust tests" rust-tests cargo test --workspace
  count "$(sum_matches "$LOGS/rust-tests.log" 'test result: [A-Za-z]+\. [0-9]+ passed')" \
        "$(sum_matches "$LOGS/rust-tests.log" '[0-9]+ failed;')" "rust tests (cargo test)"
fi

run "doc tests" doc-tests cargo test --workspace --doc
count "$(sum_matches "$LOGS/doc-tests.log" 'test result: [A-Za-z]+\. [0-9]+ passed')" \
      "$(sum_matches "$LOGS/doc-tests.log" '[0-9]+ failed;')" "doc tests"

# ---------------------------------------------------------------------------- 4. build
run build build cargo build --workspace --bins --examples
[ "$RC" -eq 0 ] || { FAILED=$((FAILED + 1)); fail build "cargo build failed"; }
CHORUS_BIN="$ROOT/target/debug/chorus"
ECHO_BIN="$ROOT/target/debug/examples/echo"
[ -x "$CHORUS_BIN" ] || { FAILED=$((FAILED + 1)); fail build "$CHORUS_BIN was not built"; }
[ -x "$ECHO_BIN" ] || { FAILED=$((FAILED + 1)); fail build "$ECHO_BIN (the echo example) was not built"; }

# ---------------------------------------------------------------------------- 5. external clients
PORT="$(free_port)"
export CHORUS_URL="http://127.0.0.1:$PORT"
banner "server: $CHORUS_BIN serve --host 127.0.0.1 --port $PORT --data-dir target/test-data/chorus-serve"
DATA_DIR="$ROOT/target/test-data/chorus-serve"
rm -rf "$DATA_DIR"
# The server API is on, with a key of this run's (the README tour's curl-to-browser test).
export CHORUS_API_KEY="test-run-key-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
CHORUS_API_KEYS="$CHORUS_API_KEY" "$CHORUS_BIN" serve --host 127.0.0.1 --port "$PORT" --data-dir "$DATA_DIR" >"$LOGS/chorus-serve.log" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
for _ in $(seq 1 150); do
  http_ok "$CHORUS_URL/healthz" && break
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -30 "$LOGS/chorus-serve.log" >&2; FAILED=$((FAILED + 1)); fail server "chorus serve exited early"; }
  sleep 0.2
done
http_ok "$CHORUS_URL/healthz" || { tail -30 "$LOGS/chorus-serve.log" >&2; FAILED=$((FAILED + 1)); fail server "GET $CHORUS_URL/healthz did not answer 200 within 30 s"; }
echo "server: up at $CHORUS_URL (log: $LOGS/chorus-serve.log)"

# start_example NAME LOG PORT [ENV=VALUE...] [-- ARGS...]: runs target/debug/examples/NAME from the
# repository root (so it finds e2e/node_modules/socket.io-client), waits until PORT accepts.
start_example() {
  local name="$1" log="$LOGS/$2.log" port="$3"; shift 3
  local envs=() args=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
  [ "${1:-}" = "--" ] && { shift; args=("$@"); }
  banner "example: ${envs[*]} $name ${args[*]} (port $port)"
  env "${envs[@]}" "$ROOT/target/debug/examples/$name" "${args[@]}" >"$log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 150); do
    port_open "$port" && return 0
    kill -0 "$pid" 2>/dev/null || { tail -30 "$log" >&2; FAILED=$((FAILED + 1)); fail server "example $name exited early"; }
    sleep 0.2
  done
  FAILED=$((FAILED + 1)); fail server "example $name is not listening on $port"
}

# The Socket.IO test app (its behaviour: e2e/socketio/reference-server.mjs), with a fast
# heartbeat so the heartbeat tests run too, and the seed programs P2, P4, P6, P11 (Socket.IO)
# and P1, P3, P5, P8, P10 (plain WebSocket) for their pages' browser tests (P1_URL … P11_URL).
SIO_PORT="$(free_port)"
start_example socketio_server socketio-server "$SIO_PORT" PORT="$SIO_PORT" PING_INTERVAL=1000 PING_TIMEOUT=500
export SOCKETIO_URL="http://127.0.0.1:$SIO_PORT"
for seed in p2_socketio_broadcast p4_socketio_emit p6_socketio_chat_room p11_socketio_chat \
            p1_hello p3_scream p5_chat_room p8_express_ws p10_suffix; do
  seed_port="$(free_port)"
  start_example "$seed" "$seed" "$seed_port" -- "$seed_port"
  export "$(echo "${seed%%_*}" | tr a-z A-Z)_URL=http://127.0.0.1:$seed_port"
done

shopt -s nullglob
NODE_TESTS=(e2e/*.test.mjs e2e/socketio/*.test.mjs)
if [ "$SKIP_BROWSER" = 1 ]; then
  export CHORUS_TEST_SKIP_BROWSER=1
  echo "browser tests: skipped (CHORUS_TEST_SKIP_BROWSER=1)"
else
  export CHROMIUM="$CHROMIUM_BIN"
  NODE_TESTS+=(e2e/browser/*.test.mjs)
fi
shopt -u nullglob
if [ "${#NODE_TESTS[@]}" -eq 0 ]; then
  FAILED=$((FAILED + 1)); fail "node tests" "no e2e/*.test.mjs files found"
fi
run "node tests" node-tests timeout 1200 node --test --test-reporter=spec --test-timeout=180000 "${NODE_TESTS[@]}"
# spec reporter: "ℹ pass 6" / "ℹ fail 0" / "ℹ cancelled 0" (tap reporter: "# pass 6")
count "$(sum_matches "$LOGS/node-tests.log" '^(ℹ|#) pass [0-9]+')" \
      "$(sum_matches "$LOGS/node-tests.log" '^(ℹ|#) (fail|cancelled) [0-9]+')" "node tests"

run "python tests" python-tests timeout 900 "$VENV_PY" -m pytest e2e/python -q -p no:cacheprovider
# pytest: "1 failed, 3 passed, 1 skipped in 0.88s"; exit 5 (no tests collected) is a failure here
pline="$(strip_ansi "$LOGS/python-tests.log" | grep -E '[0-9]+ (passed|failed|error)' | tail -1)"
count "$(echo "$pline" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' | head -1 || true)" \
      "$(echo "$pline" | grep -oE '[0-9]+ (failed|errors?)' | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')" "python tests"

kill "$SERVER_PID" 2>/dev/null
wait "$SERVER_PID" 2>/dev/null
cleanup
PIDS=()

# ------------------------------------------------- the official Engine.IO / Socket.IO suites
# Unmodified, from ../shared/conformance (its README), against the conformance example on
# the port they hard-code.
if port_open 3000; then
  FAILED=$((FAILED + 1)); fail conformance "port 3000 is in use: the official suites need it"
fi
run "socket.io conformance" conformance "$ROOT/scripts/socketio-conformance.sh"
# "conformance engine.io-protocol: 24 passing, 0 failing" (one line per suite)
count "$(sum_matches "$LOGS/conformance.log" '^conformance [a-z.-]+: ([0-9]+) passing')" \
      "$(sum_matches "$LOGS/conformance.log" ', [0-9]+ failing$')" \
      "socket.io conformance"

# ---------------------------------------------------------------------------- 6. quick Autobahn
if [ "${CHORUS_TEST_SKIP_AUTOBAHN:-0}" = 1 ]; then
  banner "autobahn: skipped (CHORUS_TEST_SKIP_AUTOBAHN=1)"
else
  [ -x "$AUTOBAHN_RUN" ] || { FAILED=$((FAILED + 1)); fail autobahn "Autobahn tool not found at $AUTOBAHN_RUN (shared/ must sit beside the repo)"; }
  if port_open "$ECHO_PORT"; then
    if [ -n "${CHORUS_ECHO_PORT:-}" ]; then
      FAILED=$((FAILED + 1)); fail autobahn "port $ECHO_PORT (CHORUS_ECHO_PORT) is already in use"
    fi
    ECHO_PORT="$(free_port)"
    echo "echo example: port 9001 is busy, using $ECHO_PORT"
  fi
  banner "echo example: $ECHO_BIN $ECHO_PORT"
  "$ECHO_BIN" "$ECHO_PORT" >"$LOGS/echo.log" 2>&1 &
  ECHO_PID=$!
  PIDS+=("$ECHO_PID")
  for _ in $(seq 1 150); do
    port_open "$ECHO_PORT" && break
    kill -0 "$ECHO_PID" 2>/dev/null || { tail -30 "$LOGS/echo.log" >&2; FAILED=$((FAILED + 1)); fail autobahn "echo example exited early"; }
    sleep 0.2
  done
  port_open "$ECHO_PORT" || { FAILED=$((FAILED + 1)); fail autobahn "echo example is not listening on $ECHO_PORT"; }

  # autobahn STEP LOG OUT CASES [EXCLUDE]: one Autobahn run against the echo example, counted.
  autobahn() {
    local step="$1" log="$2" out="$3"; shift 3
    mkdir -p "$out"
    run "$step" "$log" env AUTOBAHN_OUT="$out" AUTOBAHN_AGENT=chorus-echo AUTOBAHN_TIMEOUT=900 \
      "$AUTOBAHN_RUN" "ws://127.0.0.1:$ECHO_PORT" "$@"
    local ab_rc=$RC ap af ab_sel
    # passed: OK / NON-STRICT / INFORMATIONAL with an OK or INFORMATIONAL close; everything else failed
    read -r ap af < <(python3 - "$out/index.json" <<'EOF'
import json, sys
try:
    data = json.load(open(sys.argv[1]))
except Exception:
    print(0, 0); sys.exit()
p = f = 0
for cases in data.values():
    for v in cases.values():
        ok = v["behavior"] in ("OK", "NON-STRICT", "INFORMATIONAL") and v["behaviorClose"] not in ("FAILED", "UNCLEAN")
        p, f = (p + 1, f) if ok else (p, f + 1)
print(p, f)
EOF
)
    # cases selected but without a result (server crashed or hung) count as failed too
    ab_sel="$(grep -oE ', [0-9]+ cases:' "$LOGS/$log.log" | grep -oE '[0-9]+' | head -1)"
    if [ -n "$ab_sel" ] && [ "$ab_sel" -gt $(( ${ap:-0} + ${af:-0} )) ]; then
      echo "autobahn: $(( ab_sel - ${ap:-0} - ${af:-0} )) of $ab_sel selected cases have no result (counted as failed)"
      af=$(( ab_sel - ${ap:-0} ))
    fi
    RC=$ab_rc
    if [ "$RC" -eq 0 ] && [ "${af:-0}" -gt 0 ]; then RC=1; fi  # UNIMPLEMENTED counts as a failure here
    count "${ap:-0}" "${af:-0}" "$step"
  }
  autobahn "autobahn (quick)" autobahn "$ROOT/target/autobahn-quick" '*' '9.*,12.*,13.*'
  # permessage-deflate traffic itself, not only its handshake: the echo example negotiates
  # compression, and 12.1.* / 13.1.* send compressed messages of every size both ways.
  autobahn "autobahn (compression)" autobahn-compression "$ROOT/target/autobahn-compression" '12.1.*,13.1.*'
  kill "$ECHO_PID" 2>/dev/null
  wait "$ECHO_PID" 2>/dev/null
fi

banner "all steps passed in $(( $(date +%s) - START_ALL ))s"
summary
