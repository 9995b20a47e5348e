#!/usr/bin/env bash
# Fuzz every decoder for a while: ./scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
#  1. installs cargo-fuzz (crates.io) if `cargo fuzz` is missing;
#  2. builds the targets of fuzz/ (libFuzzer, AddressSanitizer, debug assertions on);
#  3. runs each target (default: all of them) for SECONDS_PER_TARGET (default 30), starting
#     from its committed seeds in fuzz/corpus/<target>/ plus what earlier runs found;
#  4. prints one line per target: runs, exec/s, corpus (inputs/bytes), edges covered.
#
# On a finding it stops at once, exits 1 and prints the crashing input's path (under
# fuzz/artifacts/<target>/) with the commands to reproduce and minimise it. A finding is
# fixed in the decoder and its input becomes a unit test beside that decoder.
#
# The seeds are read, never written: new inputs go to fuzz/target/fuzz-corpus/<target>/
# (not committed; `cargo fuzz cmin` there, then copy a few back by hand if they are worth
# keeping as seeds).
#
# Toolchain: cargo-fuzz passes nightly-only flags (-Zsanitizer=address). With a nightly
# toolchain installed through rustup, it is used; otherwise the default (stable) toolchain
# runs with RUSTC_BOOTSTRAP=1, which allows those flags. FUZZ_TOOLCHAIN=name picks one.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_TARGET="${1:-30}"
shift || true
ALL_TARGETS=(native_command engineio_packet engineio_payload socketio_packet config_toml ws_frames cluster_envelope socketio_adapter)
if [ "$#" -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

if ! [[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || [ "$SECONDS_PER_TARGET" -lt 1 ]; then
    echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]   (targets: ${ALL_TARGETS[*]})" >&2
    exit 2
fi

for target in "${TARGETS[@]}"; do
    if [ ! -d "$ROOT/fuzz/corpus/$target" ]; then
        echo "fuzz: unknown target '$target' (targets: ${ALL_TARGETS[*]})" >&2
        exit 2
    fi
done

# The toolchain, as `cargo` arguments and environment.
CARGO=(cargo)
if [ -n "${FUZZ_TOOLCHAIN:-}" ]; then
    CARGO=(cargo "+$FUZZ_TOOLCHAIN")
elif command -v rustup >/dev/null && rustup toolchain list | grep '^nightly' >/dev/null; then
    CARGO=(cargo +nightly)
fi
if ! "${CARGO[@]}" --version | grep nightly >/dev/null; then
    export RUSTC_BOOTSTRAP=1
fi
echo "fuzz: $("${CARGO[@]}" --version)${RUSTC_BOOTSTRAP:+ with RUSTC_BOOTSTRAP=1}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked --version '^0.13'
fi

cd "$ROOT/fuzz"
# Built once, up front: the runs below start the binaries themselves, so a build problem
# (another change half made in the tree) is never taken for a finding, and a target runs
# the code that was built when the script started. Only `config_toml` needs the server
# crate; the codec targets (`ws_frames` among them) are built without it.
features() { case "$1" in config_toml|socketio_adapter) ;; *) echo --no-default-features ;; esac; }
TARGET_DIR="$ROOT/fuzz/target"
for target in "${TARGETS[@]}"; do
    # shellcheck disable=SC2046 # one flag or none
    if ! "${CARGO[@]}" fuzz build --target-dir "$TARGET_DIR" $(features "$target") "$target"; then
        echo "fuzz: $target does not build (see above); nothing was fuzzed" >&2
        exit 2
    fi
done
BIN="$TARGET_DIR/$(rustc -vV | sed -n 's/^host: //p')/release"
# What `cargo fuzz run` sets for AddressSanitizer.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0"

LOGS="$ROOT/fuzz/target/fuzz-logs"
mkdir -p "$LOGS"
SUMMARY=()
for target in "${TARGETS[@]}"; do
    seeds="corpus/$target"
    grown="target/fuzz-corpus/$target"
    mkdir -p "$grown" "artifacts/$target"
    log="$LOGS/$target.log"
    echo "fuzz: $target for ${SECONDS_PER_TARGET}s (log: fuzz/target/fuzz-logs/$target.log)"
    # The first corpus directory receives new inputs; the seeds only feed the run.
    if ! "$BIN/$target" -artifact_prefix="artifacts/$target/" \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -print_final_stats=1 \
        "$grown" "$seeds" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        crash="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
        echo >&2
        echo "fuzz: $target FOUND A FAILURE" >&2
        if [ -n "$crash" ]; then
            fuzz="${RUSTC_BOOTSTRAP:+RUSTC_BOOTSTRAP=1 }${CARGO[*]} fuzz"
            flags="$(features "$target")"
            echo "  input:      fuzz/$crash" >&2
            echo "  reproduce:  (cd fuzz && $fuzz run ${flags:+$flags }$target $crash)" >&2
            echo "  minimise:   (cd fuzz && $fuzz tmin ${flags:+$flags }$target $crash)" >&2
        fi
        exit 1
    fi
    stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
    last="$(grep 'DONE *cov:' "$log" | tail -n 1)"
    field() { grep -o "$1: [^ ]*" <<<"$last" | cut -d' ' -f2; }
    SUMMARY+=("$(printf '%-17s %10s runs in %4ss  %7s exec/s  corpus %-13s cov %s' \
        "$target" "$(stat number_of_executed_units)" "$SECONDS_PER_TARGET" \
        "$(stat average_exec_per_sec)" "$(field corp)" "$(field cov)")")
done

echo
echo "fuzz: no findings"
printf '%s\n' "${SUMMARY[@]}"
