#!/usr/bin/env bash
# The full Autobahn|Testsuite run against chorus: all 517 cases, including 9.x (limits and
# performance) and 12.x/13.x (permessage-deflate). About 6–7 minutes on 2 cores.
#
#   ./scripts/autobahn.sh            # all cases
#   ./scripts/autobahn.sh '1.*,6.*'  # a case filter (comma-separated patterns), optional EXCLUDE second
#
# Builds the echo example in release, starts it on 127.0.0.1:$CHORUS_ECHO_PORT (default 9001),
# runs ../shared/tools/autobahn/run.sh (override with AUTOBAHN_RUN) into target/autobahn-full
# and prints the summary. Exits non-zero if any case is FAILED or UNIMPLEMENTED, or a closing
# handshake FAILED/was UNCLEAN, or cases are missing. Reports: target/autobahn-full/index.html.
# The quick subset (all but 9.*, 12.*, 13.*) is part of scripts/test.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CASES="${1:-*}"
EXCLUDE="${2:-}"
PORT="${CHORUS_ECHO_PORT:-9001}"
AUTOBAHN_RUN="${AUTOBAHN_RUN:-$(dirname "$ROOT")/shared/tools/autobahn/run.sh}"
OUT="$ROOT/target/autobahn-full"

[ -x "$AUTOBAHN_RUN" ] || { echo "autobahn.sh: Autobahn tool not found at $AUTOBAHN_RUN (shared/ must sit beside the repo)" >&2; exit 2; }

port_open() {
  python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.settimeout(0.5)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
EOF
}

echo "autobahn.sh: building the echo example (release)"
cargo build --release --example echo
ECHO_BIN="$ROOT/target/release/examples/echo"

if port_open "$PORT"; then
  echo "autobahn.sh: port $PORT is already in use (set CHORUS_ECHO_PORT)" >&2
  exit 2
fi
mkdir -p "$OUT"
"$ECHO_BIN" "$PORT" >"$OUT/echo.log" 2>&1 &
ECHO_PID=$!
trap 'kill "$ECHO_PID" 2>/dev/null || true; wait "$ECHO_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do
  port_open "$PORT" && break
  kill -0 "$ECHO_PID" 2>/dev/null || { cat "$OUT/echo.log" >&2; echo "autobahn.sh: echo example exited early" >&2; exit 1; }
  sleep 0.2
done
port_open "$PORT" || { echo "autobahn.sh: echo example is not listening on $PORT" >&2; exit 1; }

echo "autobahn.sh: running cases [$CASES] minus [$EXCLUDE] against ws://127.0.0.1:$PORT (reports: $OUT)"
rc=0
AUTOBAHN_OUT="$OUT" AUTOBAHN_AGENT=chorus-echo "$AUTOBAHN_RUN" "ws://127.0.0.1:$PORT" "$CASES" "$EXCLUDE" || rc=$?

# run.sh passes UNIMPLEMENTED (e.g. 12.x/13.x without permessage-deflate); this script does not.
unimpl="$(python3 - "$OUT/index.json" <<'EOF'
import json, sys
try:
    data = json.load(open(sys.argv[1]))
except Exception:
    sys.exit()
ids = sorted((k for cases in data.values() for k, v in cases.items() if v["behavior"] == "UNIMPLEMENTED"),
             key=lambda c: tuple(int(x) for x in c.split(".")))
if ids:
    print("%d UNIMPLEMENTED: %s%s" % (len(ids), " ".join(ids[:40]), " ..." if len(ids) > 40 else ""))
EOF
)"
if [ -n "$unimpl" ]; then
  echo "autobahn.sh: $unimpl"
  [ "$rc" -ne 0 ] || rc=1
fi
if [ "$rc" -eq 0 ]; then
  echo "autobahn.sh: PASS (reports: $OUT/index.html)"
else
  echo "autobahn.sh: FAIL (exit $rc; reports: $OUT/index.html)"
fi
exit "$rc"
