#!/usr/bin/env bash
# The Node side: build the addon from source (release; `npm install` already built it through
# `prepare`, so this is incremental), check that the committed generated
# files (index.js, index.d.ts) are fresh, type-check the TypeScript, build the Rust peer used
# by the Node↔Rust tests, then run the ava suite.
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

echo "== Rust peers for the Node tests (echo, scribbler)"
cargo build --locked -p shmring-channel --example echo --example scribbler

echo "== ava"
npx ava
