#!/usr/bin/env bash
# Model checks with loom: the ring's orderings (crates/ring/tests/loom.rs) and the
# park/notify protocol (crates/wait/tests/loom.rs), each with a deliberately weakened
# variant that the model must catch (#[should_panic]). Separate target dir: --cfg loom
# rebuilds everything.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom"
cargo test --locked --release -p shmring-ring --test loom
cargo test --locked --release -p shmring-wait --test loom
