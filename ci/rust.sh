#!/usr/bin/env bash
# Rust checks and tests of the workspace: formatting, clippy (deny warnings), rustdoc
# (deny warnings), then every crate's unit, integration, cross-process and doc tests.
# Long variants (10^7 records, 60 s scribbler) run with SHMRING_LONG=1.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
echo "== cargo test (debug)"
cargo test --workspace --locked
