#!/usr/bin/env bash
# Everything `npm test` runs, in order: the Rust workspace checks and tests (ci/rust.sh),
# the loom model checks (ci/loom.sh), the Node addon's build and ava suite (ci/node.sh), the
# packed tarballs installed into a fresh project and run from there (ci/pack.sh), and
# the addon on the other Node lines (ci/node-lines.sh: 18 smoke test; 22, 24, 26 smoke test
# and ava suite; the Node binaries come from the npm registry).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/rust.sh
bash ci/loom.sh
bash ci/node.sh
bash ci/pack.sh
bash ci/node-lines.sh
