// Spawns a child Node process with a shmring channel and plays ping-pong with it:
// round trips over the async (event-loop) path and over the sync spin path, then a batched
// one-way stream. Run: node examples/ping-pong.mjs   (after `npm run build`)
import { fileURLToPath } from 'node:url'

import { spawn, fromParent, FD_ENV, HANDLE_ENV } from '../dist/index.mjs'

if (process.env[FD_ENV] || process.env[HANDLE_ENV]) {
  // Child: echo every message back until the parent closes.
  const channel = fromParent()
  for await (const message of channel) await channel.send(message)
  process.exit(0)
}

const { child, channel } = spawn(process.execPath, [fileURLToPath(import.meta.url)], { stdio: 'inherit' })
const payload = Buffer.alloc(64, 7)

const asyncRounds = 20_000
let start = process.hrtime.bigint()
for (let i = 0; i < asyncRounds; i++) {
  await channel.send(payload)
  await channel.recv()
}
const asyncNs = Number(process.hrtime.bigint() - start) / asyncRounds
console.log(`async round trip (send + await recv), 64 B: ${(asyncNs / 1000).toFixed(1)} µs average over ${asyncRounds}`)

const syncRounds = 100_000
start = process.hrtime.bigint()
for (let i = 0; i < syncRounds; i++) {
  while (!channel.trySend(payload));
  while (channel.tryRecv() === null);
}
const syncNs = Number(process.hrtime.bigint() - start) / syncRounds
console.log(`sync spin round trip (trySend + tryRecv loop), 64 B: ${(syncNs / 1000).toFixed(2)} µs average over ${syncRounds}`)
console.log('(the child answers from its event loop; see benchmark/ for the full comparison)')

channel.close()
child.on('exit', (code) => process.exit(code ?? 1))
