#!/usr/bin/env bash
# Builds the release addon for one published target: `napi build --platform --release
# --target <target> [flags]`, leaving shmring.<triple>.node in the repository root for the
# workflow to upload. The committed index.js / index.d.ts are not rewritten (--no-js; the
# typings go to target/build-target.d.ts): ci/node.sh checks that they are fresh, once, on Linux.
#
# Usage: bash ci/build-target.sh <rust-target> [napi build flags]
#   e.g. bash ci/build-target.sh aarch64-unknown-linux-gnu --use-napi-cross   (glibc 2.17 gcc)
#        bash ci/build-target.sh x86_64-unknown-linux-musl -x                 (cargo-zigbuild)
# The Rust target must be installed (rustup target add); -x needs zig and cargo-zigbuild.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: ci/build-target.sh <rust-target> [napi build flags]}
shift
# --dts is relative to the crate; target/ is ignored by git.
npx napi build --platform --release --target "$target" --no-js --dts target/build-target.d.ts "$@"
ls -l shmring.*.node
