import test from 'ava'
import { once } from 'node:events'

import { codes, isShmringError, spawn, type Channel } from '../lib/index.js'
import { rustEcho, spawnFixture } from './helpers/child.js'
import { message, sizes, verify } from './helpers/pair.js'

const N = Number(process.env.SHMRING_NODE_MESSAGES ?? 100_000)

/** Sends `count` random-size messages while receiving their echoes concurrently; verifies order and checksums. */
async function roundTripAll(t: { is: (a: unknown, b: unknown) => void }, channel: Channel, count: number, maxSize: number) {
  const size = sizes(42, maxSize)
  let expected = 0
  const received = new Promise<void>((resolve, reject) => {
    channel.on('message', (m) => {
      try {
        const seq = verify(m)
        if (seq !== expected) throw new Error(`expected message ${expected}, got ${seq}`)
        if (++expected === count) resolve()
      } catch (e) {
        reject(e)
      }
    })
  })
  for (let seq = 0; seq < count; seq++) await channel.send(message(seq, size()))
  await received
  t.is(expected, count)
}

test('a Node child echoes 10^5 checksummed messages of random sizes in order, across many wraps', async (t) => {
  const { channel, exited } = spawnFixture('echo', [], { capacity: 64 * 1024 })
  await roundTripAll(t, channel, N, 4096)
  channel.close()
  t.deepEqual(await exited, [0, null])
})

test('a Rust child echoes 10^5 checksummed messages of random sizes in order', async (t) => {
  const { child, channel } = spawn(rustEcho(), [], { stdio: ['ignore', 'inherit', 'inherit'], channel: { capacity: 64 * 1024 } })
  const exited = once(child, 'exit')
  await roundTripAll(t, channel, N, 4096)
  channel.close()
  t.deepEqual(await exited, [0, null])
})

test('a slow consumer makes send() wait for room without losing or reordering anything', async (t) => {
  const { channel, exited } = spawnFixture('slow-echo', [], { capacity: 16 * 1024 })
  await roundTripAll(t, channel, 20_000, 1024)
  channel.close()
  t.deepEqual(await exited, [0, null])
})

for (const mode of ['close', 'exit'] as const) {
  test(`a peer that sends then ends with ${mode} delivers everything, then the stream ends`, async (t) => {
    const { channel, exited } = spawnFixture('sender', ['5000', mode])
    let expected = 0
    let ending: unknown
    try {
      for await (const m of channel) t.is(verify(m), expected++)
    } catch (e) {
      ending = e
    }
    t.is(expected, 5000)
    if (mode === 'close') t.is(ending, undefined)
    else t.true(ending === undefined || isShmringError(ending, codes.PEER_DEAD), String(ending))
    t.deepEqual(await exited, [0, null])
  })
}

test('a peer killed with SIGKILL mid-stream yields intact messages, then ERR_SHMRING_PEER_DEAD promptly', async (t) => {
  for (let round = 0; round < 5; round++) {
    const { child, channel, exited } = spawnFixture('sender', ['0', 'forever'])
    let got = 0
    let killedAt = 0
    const error = await new Promise<unknown>((resolve) => {
      channel.on('message', (m) => {
        verify(m)
        if (++got === 2000) {
          killedAt = performance.now()
          child.kill('SIGKILL')
        }
      })
      channel.on('error', resolve)
      channel.on('close', () => resolve(undefined))
    })
    const latency = performance.now() - killedAt
    t.true(isShmringError(error, codes.PEER_DEAD), String(error))
    t.true(latency < 2000, `noticed after ${latency.toFixed(0)} ms`)
    t.log(`round ${round}: ${got} intact messages, dead peer noticed after ${latency.toFixed(1)} ms`)
    t.deepEqual(await exited, [null, 'SIGKILL'])
  }
})

test('a child that dies before attaching ends a pending recv() with ERR_SHMRING_PEER_DEAD', async (t) => {
  const { child, channel } = spawn(process.execPath, ['-e', 'process.exit(0)'], { stdio: 'ignore' })
  const started = performance.now()
  await t.throwsAsync(channel.recv(), { code: codes.PEER_DEAD })
  t.log(`noticed after ${(performance.now() - started).toFixed(0)} ms`)
  if (child.exitCode === null) await once(child, 'exit')
})
