#!/usr/bin/env bash
# Tests a prebuilt addon on the kind of machine it is for, with no Rust toolchain needed: the
# workflow's test jobs download a build job's shmring.<triple>.node into the repository root
# and run this (Linux: inside node:<v>-slim / node:<v>-alpine containers; macOS and Windows:
# on the runner), after `npm ci --ignore-scripts`. Runs locally too, after `npm run build`.
#
# 1. dist/ from the TypeScript (tsc needs no native code; the ESM wrapper loads the addon);
# 2. `shmring doctor` (exits 1 when the binary does not load or an OS probe fails);
# 3. ci/pack.sh: the tarballs installed into a fresh project, ESM and CommonJS round trips;
# 4. the ava suite, on Linux and macOS with Node >= 20.19 (ava 7's floor). The specs that need
#    the Rust peers (cross-process, hostile) run only where cargo is present to build them.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== node $(node --version) on $(uname -sm)"
if ! ls shmring.*.node >/dev/null 2>&1; then
  echo "no shmring.*.node here: download the build artifact into the repository root (or npm run build)" >&2
  exit 1
fi

echo "== tsc"
npx tsc -p tsconfig.build.json
node scripts/esm-wrapper.mjs

echo "== shmring doctor"
node dist/cli.js doctor

echo "== tarball install test"
bash ci/pack.sh

case "$(uname -s)" in Linux | Darwin) ;; *)
  echo "== ava: skipped on $(uname -s) (many specs pass fds or probe Linux features; the tarball test above covered spawn and named channels)"
  exit 0
  ;;
esac
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "== ava: skipped on Node $(node --version) (ava 7 needs >= 20.19; the steps above ran)"
  exit 0
fi
specs=(__test__/*.spec.ts)
if command -v cargo >/dev/null; then
  echo "== Rust peers for the Node tests (echo, scribbler)"
  cargo build --locked -p shmring-channel --example echo --example scribbler
else
  echo "== no cargo here: cross-process.spec.ts and hostile.spec.ts (Rust peers) are left out"
  specs=()
  for spec in __test__/*.spec.ts; do
    case "$spec" in */cross-process.spec.ts | */hostile.spec.ts) ;; *) specs+=("$spec") ;; esac
  done
fi
echo "== ava"
npx ava "${specs[@]}"
