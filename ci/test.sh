#!/usr/bin/env bash
# Everything `npm test` runs, in order: the Rust workspace checks and tests (ci/rust.sh),
# the loom model checks (ci/loom.sh), then the Node addon's build and test suite
# (ci/node.sh) once the binding exists.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/rust.sh
bash ci/loom.sh
if [ -f ci/node.sh ]; then bash ci/node.sh; fi
