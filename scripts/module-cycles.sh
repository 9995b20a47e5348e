#!/usr/bin/env bash
# No module of a chorus crate imports a module that imports it back.
#
#   scripts/module-cycles.sh            # every library crate of the workspace
#
# `cargo modules` (installed here when missing, pinned: 0.27 is the last that builds with
# this toolchain) draws each crate's module graph — modules only, `use` edges only — and
# scripts/module_cycles.py finds the cycles in it, printing each with the edges that tie it.
# (`cargo modules dependencies --acyclic` checks the graph of every item, where a type whose
# methods name it is already a cycle; modules are what we lay out.) Exits non-zero on the
# first crate with a cycle.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VERSION="0.27.0"

if ! cargo modules --version 2>/dev/null | grep -q "$VERSION"; then
    echo "module-cycles: installing cargo-modules $VERSION (a few minutes, once)"
    cargo install cargo-modules --locked --version "$VERSION" --quiet
fi

mkdir -p "$ROOT/target"
status=0
for crate in chorus-proto chorus-core chorus-store chorus-broker chorus; do
    for cfg in "" "--cfg-test"; do
        printf '%s %s: ' "$crate" "${cfg:-(lib)}"
        if ! cargo modules dependencies --lib -p "$crate" $cfg \
                --no-externs --no-fns --no-sysroot --no-traits --no-types --no-owns \
                > "$ROOT/target/module-graph-$crate.dot" 2> "$ROOT/target/module-graph-$crate.err"; then
            echo "cargo modules failed:"; tail -20 "$ROOT/target/module-graph-$crate.err"
            exit 1
        fi
        python3 "$ROOT/scripts/module_cycles.py" < "$ROOT/target/module-graph-$crate.dot" || status=1
    done
done
exit "$status"
