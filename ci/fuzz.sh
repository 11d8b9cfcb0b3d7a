#!/usr/bin/env bash
# Fuzzes the ring's hostile-peer hardening with cargo-fuzz (libFuzzer + AddressSanitizer,
# debug assertions on): `record_parse` (record::parse against a reference model) and
# `consumer_scribble` (both ring ends while a simulated peer rewrites the shared bytes).
# First replays every input under fuzz/regressions/<target>/ (past findings), then fuzzes
# each target for N seconds (default 30). Exits non-zero if any target crashed.
#
# Usage: ci/fuzz.sh [seconds]
#
# cargo-fuzz needs a nightly toolchain (-Zsanitizer). Fresh machines may only have stable:
# then this script says so and exits 0 rather than failing the job. cargo-fuzz itself is
# installed from crates.io if missing. Crashes land in fuzz/artifacts/<target>/ (ignored
# by git); the corpus grows in fuzz/corpus/<target>/ (ignored too).
# SHMRING_FUZZ_LENIENT_LEN=1 relaxes consumer_scribble's record-length bound from
# capacity/2 to the data area (see fuzz/fuzz_targets/consumer_scribble.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
targets=(record_parse consumer_scribble)
target_dir="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "ci/fuzz.sh: no nightly toolchain (rustup toolchain install nightly); skipping the fuzz run."
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

cd fuzz
failed=()
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for target in "${targets[@]}"; do
    fuzz=(cargo +nightly fuzz run --debug-assertions --target-dir "$target_dir" "$target")
    shopt -s nullglob
    regressions=(regressions/"$target"/*)
    shopt -u nullglob
    if ((${#regressions[@]})); then
        echo "== $target: replaying ${#regressions[@]} regression input(s)"
        if ! "${fuzz[@]}" "${regressions[@]}" >"$log" 2>&1; then
            failed+=("$target (regression)")
            grep -E -A1 'panicked at|^Running: ' "$log" || tail -n 40 "$log"
        fi
    fi
    echo "== $target: fuzzing for ${seconds}s"
    if "${fuzz[@]}" -- -max_total_time="$seconds" >"$log" 2>&1; then status=0; else status=$?; fi
    grep -E '^#[0-9]+[[:space:]]+DONE|^Done [0-9]+ runs' "$log" || true
    if [ "$status" -ne 0 ]; then
        failed+=("$target")
        grep -E -A1 'panicked at|^ERROR: AddressSanitizer|^==[0-9]+==ERROR' "$log" || true
        grep -E 'Test unit written to|^Reproduce with|cargo fuzz run .*artifacts' "$log" || tail -n 40 "$log"
    fi
done

if ((${#failed[@]})); then
    echo "ci/fuzz.sh: FAILED: ${failed[*]} (reproducers in fuzz/artifacts/ or fuzz/regressions/)"
    exit 1
fi
echo "ci/fuzz.sh: all targets ran ${seconds}s without a crash"
