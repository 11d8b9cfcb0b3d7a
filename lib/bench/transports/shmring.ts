/**
 * shmring between two processes, in three ways of waiting: both sides spinning on the
 * non-blocking calls (`sync`), `send()`/`recv()` promises with the default adaptive spin
 * (`async`), and the same with `spinMicros = 0`, so every wait sleeps (`async-nospin`).
 */
import { once } from 'node:events'

import { codes } from '../../errors'
import { fromParent, spawn } from '../../spawn'
import { ECHO, kindOf, newState, respond, respondAt, STATS } from '../protocol'
import { type Batch, childScript, type Peer, peerGone, ReplyQueue, type Transport } from '../transport'

/** Lane size: room for several 1 MiB messages. */
const CAPACITY = 1 << 23
/** A synchronous wait for a reply gives up after this long (the peer died or hangs). */
const SYNC_TIMEOUT_NS = 10_000_000_000n

/** The parent closed its end: the normal end of a benchmark peer (anything else fails the run). */
function closedByParent(e: unknown): boolean {
  const code = (e as { code?: string } | null)?.code
  return code === codes.PEER_CLOSED || code === codes.CLOSED
}

function shmring(name: string, note: string, mode: 'spin' | 'async' | 'async-nospin'): Transport {
  const spinMicros = mode === 'async-nospin' ? 0 : undefined
  return {
    name,
    note,
    async start() {
      const { child, channel } = spawn(process.execPath, [childScript, name], { stdio: ['ignore', 'inherit', 'inherit'], channel: { capacity: CAPACITY } })
      const exited = once(child, 'exit')
      if (spinMicros !== undefined) channel.spinMicros = spinMicros
      const peer: Peer = {
        async request(message) {
          await channel.send(message)
          return channel.recv()
        },
        async sendMany(batch) {
          await sendPacked(batch)
        },
        async close() {
          channel.close()
          await exited
        },
      }
      // Only the spinning variant measures round trips with the sync calls; the others must
      // go through send()/recv(), or they would measure the sync path under another name.
      if (mode !== 'spin') return peer
      return {
        ...peer,
        requestSync(message, into) {
          while (!channel.trySend(message));
          let deadline = 0n // read the clock only once the reply is late, not in every round trip
          for (let i = 1; ; i++) {
            const length = channel.recvInto(into)
            if (length !== null) return length
            if ((i & 0xffff) === 0) {
              const now = process.hrtime.bigint()
              if (deadline === 0n) deadline = now + SYNC_TIMEOUT_NS
              else if (now > deadline) throw peerGone(name, 'gave no reply within 10 s')
            }
          }
        },
      }
      async function sendPacked({ messages, packed, lengths }: Batch): Promise<void> {
        let sent = 0
        let offset = 0
        while (sent < messages.length) {
          const n = channel.trySendPacked(packed.subarray(offset), lengths.subarray(sent))
          for (let i = sent; i < sent + n; i++) offset += lengths[i]!
          sent += n
          if (n === 0) {
            // Full lane: wait for room through the API, as a real producer would.
            await channel.send(messages[sent]!)
            offset += lengths[sent++]!
          }
        }
      }
    },
    async serve() {
      const channel = fromParent()
      if (spinMicros !== undefined) channel.spinMicros = spinMicros
      const state = newState()
      const target = Buffer.alloc(CAPACITY)
      const lengths = new Uint32Array(4096)
      const echoLength = new Uint32Array(1)
      if (mode === 'spin') {
        // Spin-only peer: drain whatever is waiting with one native call, never sleep.
        for (;;) {
          let n: number
          try {
            n = channel.recvPacked(target, lengths)
          } catch (e) {
            if (closedByParent(e)) return
            throw e
          }
          let offset = 0
          for (let i = 0; i < n; i++) {
            const length = lengths[i]!
            if (offset === 0 && length > 0 && kindOf(target) === ECHO) {
              // An echo where it landed, without a view: `packed` may be longer than `lengths` say.
              echoLength[0] = length
              while (channel.trySendPacked(target, echoLength) === 0);
            } else {
              const reply = respondAt(target, offset, length, state)
              if (reply) while (!channel.trySend(reply));
            }
            offset += length
          }
        }
      }
      // Drain bursts with one native call (recvPacked), wait with recv() when empty: the
      // stream transports likewise parse whole 'data' chunks at a time.
      const handle = (message: Buffer) => {
        const reply = respond(message, state)
        if (reply && !channel.trySend(reply)) return channel.send(reply)
        return undefined
      }
      try {
        for (;;) {
          const n = channel.recvPacked(target, lengths)
          let offset = 0
          for (let i = 0; i < n; i++) {
            const reply = respondAt(target, offset, lengths[i]!, state)
            if (reply && !channel.trySend(reply)) await channel.send(reply)
            offset += lengths[i]!
          }
          if (n === 0) await handle(await channel.recv())
        }
      } catch (e) {
        channel.close()
        if (!closedByParent(e)) throw e
      }
    },
  }
}

export const shmringSync = shmring('shmring-sync', 'shmring, both sides spin on the sync calls (trySend, recvInto/recvPacked; burns a core each, also when idle)', 'spin')
export const shmringAsync = shmring('shmring-async', 'shmring, send()/recv() promises; recv() spins adaptively ≤ 200 µs, then sleeps (Linux: the event loop waits on the futex via io_uring; else a doorbell thread)', 'async')
export const shmringAsyncNoSpin = shmring('shmring-async-nospin', 'shmring, send()/recv() promises with spinMicros = 0: always sleeps (Linux: the event loop waits on the futex via io_uring; else a doorbell thread + the event loop)', 'async-nospin')

/**
 * For the idle table only: a connected channel with nothing pending (no `recv()`, no polling),
 * as a sync-API user holds it between `tryRecv()` calls; what runs is shmring's own machinery.
 * STATS requests travel over the child's stdin/stdout pipes (idle pipes cost nothing: the event
 * loop waits in the kernel), so the channel itself is never touched.
 */
export const shmringHeld: Transport = {
  name: 'shmring-held',
  note: 'shmring, connected, nothing pending (sync API between tryRecv() calls); asked for its CPU time over a pipe',
  idleOnly: true,
  async start() {
    const { child, channel } = spawn(process.execPath, [childScript, 'shmring-held'], { stdio: ['pipe', 'pipe', 'inherit'], channel: { capacity: 1 << 16 } })
    const exited = once(child, 'exit')
    const replies = new ReplyQueue()
    let pending = Buffer.alloc(0)
    child.stdout!.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk])
      while (pending.length >= 17) {
        replies.push(pending.subarray(0, 17))
        pending = pending.subarray(17)
      }
    })
    child.on('exit', () => replies.fail(peerGone('shmring-held', 'exited')))
    return {
      request(message) {
        if (message[0] !== STATS) return Promise.reject(new Error('shmring-held answers STATS requests only'))
        const reply = replies.next()
        child.stdin!.write(message)
        return reply
      },
      async sendMany() {
        throw new Error('shmring-held is measured idle only')
      },
      async close() {
        child.stdin!.end()
        channel.close()
        await exited
      },
    }
  },
  async serve() {
    const channel = fromParent()
    const state = newState()
    process.stdin.on('data', (chunk: Buffer) => {
      for (const byte of chunk) process.stdout.write(respond(Buffer.from([byte]), state)!)
    })
    await once(process.stdin, 'end')
    channel.close()
  },
}
