#!/usr/bin/env bash
# The Node side: build the addon from source (release; `npm install` already built it through
# `prepare`, so this is incremental), check that the committed generated
# files (index.js, index.d.ts) are fresh, type-check the TypeScript, build the Rust peers used
# by the Node↔Rust tests and the Rust benchmark used by the bench spec, then run the ava suite.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== napi build + tsc"
npm run --silent build

echo "== generated loader and typings are committed and fresh"
if ! git diff --exit-code -- index.js index.d.ts; then
  echo "index.js / index.d.ts are stale: run 'npm run build' and commit them (never edit them by hand)" >&2
  exit 1
fi

echo "== tsc --noEmit (lib, tests, benchmark, examples)"
npx tsc -p tsconfig.json

echo "== Rust peers for the Node tests (echo, scribbler), and the Rust benchmark for the bench spec"
cargo build --locked -p shmring-channel --example echo --example scribbler
# Release, as `shmring bench` looks for it: the spec then also covers the Rust ceiling row and
# the placement probes (without it they are reported as not available, and not checked).
cargo build --locked --release -p shmring-bench

echo "== ava"
npx ava
