import test from 'ava'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'

import { codes, isShmringError, spawn } from '../lib/index.js'
import { message } from './helpers/pair.js'

function scribblerPath(): string {
  const target = process.env.CARGO_TARGET_DIR ?? fileURLToPath(new URL('../target/', import.meta.url))
  return `${target.replace(/\/?$/, '/')}debug/examples/scribbler`
}

test('a peer that scribbles over the shared memory yields data or ERR_SHMRING_* errors, never a crash', async (t) => {
  const { child, channel } = spawn(scribblerPath(), ['1500'], { stdio: ['ignore', 'ignore', 'inherit'], channel: { capacity: 4096, highCapacity: 4096, criticalCapacity: 4096 } })
  const exited = once(child, 'exit')
  const seen = new Map<string, number>()
  const note = (what: string) => seen.set(what, (seen.get(what) ?? 0) + 1)
  const until = Date.now() + 1200
  const target = Buffer.alloc(4096)
  while (Date.now() < until && !channel.closed) {
    for (const call of [
      () => channel.trySend(message(1, 200)),
      () => channel.tryRecv(),
      () => channel.recvInto(target),
      () => channel.tryRecvBatch(16),
      () => channel.trySendBatch([message(2, 64), message(3, 64)], 'high'),
      () => channel.fill('critical'),
    ]) {
      try {
        const result = call()
        note(result === null ? 'null' : typeof result)
      } catch (e) {
        t.true(isShmringError(e), `unexpected error: ${String(e)}`)
        note((e as { code: string }).code)
      }
    }
    await new Promise((resolve) => setImmediate(resolve))
  }
  t.log(Object.fromEntries(seen))
  t.true(channel.closed, 'the scribbled channel ends (closed as corrupt)')
  t.true(seen.has(codes.CORRUPT) || seen.has(codes.PEER_CLOSED), 'corruption was detected')
  await exited
})
