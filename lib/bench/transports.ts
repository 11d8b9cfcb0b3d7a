/**
 * The transports compared by `shmring bench`. Each one is a parent side (`start`, in the
 * benchmark process) and a child side (`serve`, in a real child process started from
 * `child.ts`), both speaking the workload of `protocol.ts`. Adding a transport is one entry here.
 */
import * as childProcess from 'node:child_process'
import { once } from 'node:events'
import * as net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { fromParent, spawn } from '../spawn'
import { frame, readFrames } from './framing'
import { respond } from './protocol'

/** The benchmark's view of a connected peer process. */
export interface Peer {
  /** Sends `message` and resolves with the reply (ECHO or END messages). */
  request(message: Buffer): Promise<Buffer>
  /** Sends one-way messages as fast as the transport allows (batched where it can). */
  sendMany(messages: Buffer[]): Promise<void>
  /** A spin-only round trip, for transports that have one (shmring sync). */
  requestSync?(message: Buffer): Buffer
  close(): Promise<void>
}

export interface Transport {
  name: string
  /** How it waits: shown in the report so spinning and sleeping variants are not confused. */
  note: string
  start(): Promise<Peer>
  serve(): Promise<void>
}

const childScript = join(__dirname, 'child.js')

function startChild(name: string, extraStdio: childProcess.StdioOptions = ['ignore', 'inherit', 'inherit']) {
  return childProcess.spawn(process.execPath, [childScript, name], { stdio: extraStdio })
}

/** Replies arrive in order; requests wait for them one by one. */
class ReplyQueue {
  readonly #waiting: ((m: Buffer) => void)[] = []
  push(message: Buffer): void {
    this.#waiting.shift()?.(message)
  }
  next(): Promise<Buffer> {
    return new Promise((resolve) => this.#waiting.push(resolve))
  }
}

function shmring(name: string, note: string, mode: 'spin' | 'async' | 'async-nospin'): Transport {
  const spin = mode === 'spin'
  const spinMicros = mode === 'async-nospin' ? 0 : undefined
  return {
    name,
    note,
    async start() {
      const { child, channel } = spawn(process.execPath, [childScript, name], { stdio: ['ignore', 'inherit', 'inherit'], channel: { capacity: 1 << 23 } })
      const exited = once(child, 'exit')
      if (spinMicros !== undefined) channel.spinMicros = spinMicros
      return {
        async request(message) {
          await channel.send(message)
          return channel.recv()
        },
        requestSync(message) {
          while (!channel.trySend(message));
          for (;;) {
            const reply = channel.tryRecv()
            if (reply !== null) return reply
          }
        },
        async sendMany(messages) {
          const { packed, lengths } = packedCache.get(messages) ?? pack(messages)
          let sent = 0
          while (sent < messages.length) {
            const n = channel.trySendPacked(packed.subarray(offsetOf(lengths, sent)), lengths.subarray(sent))
            sent += n
            if (n === 0) await channel.send(messages[sent++]!)
          }
        },
        async close() {
          channel.close()
          await exited
        },
      }
    },
    async serve() {
      const channel = fromParent()
      if (spinMicros !== undefined) channel.spinMicros = spinMicros
      const state = { counted: 0 }
      const target = Buffer.alloc(1 << 20)
      const lengths = new Uint32Array(4096)
      if (spin) {
        // Spin-only peer: drain whatever is waiting with one native call, never sleep.
        for (;;) {
          let n: number
          try {
            n = channel.recvPacked(target, lengths)
          } catch {
            return
          }
          let offset = 0
          for (let i = 0; i < n; i++) {
            const reply = respond(target.subarray(offset, offset + lengths[i]!), state)
            offset += lengths[i]!
            if (reply) while (!channel.trySend(reply));
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
            await handle(target.subarray(offset, offset + lengths[i]!))
            offset += lengths[i]!
          }
          if (n === 0) await handle(await channel.recv())
        }
      } catch {
        channel.close()
      }
    },
  }
}

const packedCache = new WeakMap<Buffer[], { packed: Buffer; lengths: Uint32Array }>()

/** The batch as one buffer plus lengths (computed once per batch array, like a real producer would). */
function pack(messages: Buffer[]): { packed: Buffer; lengths: Uint32Array } {
  const packed = { packed: Buffer.concat(messages), lengths: Uint32Array.from(messages, (m) => m.length) }
  packedCache.set(messages, packed)
  return packed
}

function offsetOf(lengths: Uint32Array, index: number): number {
  let offset = 0
  for (let i = 0; i < index; i++) offset += lengths[i]!
  return offset
}

function socket(name: string, note: string, listen: (server: net.Server) => Promise<net.AddressInfo | string>): Transport {
  return {
    name,
    note,
    async start() {
      const server = net.createServer()
      const address = await listen(server)
      const child = startChild(name, ['ignore', 'inherit', 'inherit', 'pipe'])
      ;(child.stdio[3] as NodeJS.WritableStream).end(JSON.stringify(address))
      const [connection] = (await once(server, 'connection')) as [net.Socket]
      connection.setNoDelay(true)
      server.close()
      const replies = new ReplyQueue()
      readFrames(connection, (m) => replies.push(m))
      const exited = once(child, 'exit')
      return {
        request(message) {
          const reply = replies.next()
          connection.write(frame(message))
          return reply
        },
        async sendMany(messages) {
          if (!connection.write(Buffer.concat(messages.map(frame)))) await once(connection, 'drain')
        },
        async close() {
          connection.end()
          await exited
        },
      }
    },
    async serve() {
      const fd3 = new net.Socket({ fd: 3, readable: true })
      let text = ''
      for await (const chunk of fd3) text += String(chunk)
      const address = JSON.parse(text) as net.AddressInfo | string
      const connection = typeof address === 'string' ? net.connect(address) : net.connect(address.port, address.address)
      connection.setNoDelay(true)
      const state = { counted: 0 }
      readFrames(connection, (m) => {
        const reply = respond(m, state)
        if (reply) connection.write(frame(reply))
      })
      await once(connection, 'close')
    },
  }
}

function ipc(serialization: 'json' | 'advanced'): Transport {
  const name = `ipc-${serialization}`
  return {
    name,
    note: `child_process IPC, serialization '${serialization}' (event loop)`,
    async start() {
      const child = childProcess.fork(childScript, [name], { serialization, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      const replies = new ReplyQueue()
      child.on('message', (m) => replies.push(toBuffer(m)))
      const exited = once(child, 'exit')
      return {
        request(message) {
          const reply = replies.next()
          child.send(message)
          return reply
        },
        async sendMany(messages) {
          for (const m of messages) child.send(m)
        },
        async close() {
          child.disconnect()
          await exited
        },
      }
    },
    async serve() {
      const state = { counted: 0 }
      process.on('message', (m) => {
        const reply = respond(toBuffer(m), state)
        if (reply) process.send!(Buffer.from(reply))
      })
      await once(process, 'disconnect')
    },
  }
}

function toBuffer(m: unknown): Buffer {
  if (Buffer.isBuffer(m)) return m
  if (m instanceof Uint8Array) return Buffer.from(m.buffer, m.byteOffset, m.byteLength)
  const json = m as { type?: string; data?: number[] }
  if (json?.type === 'Buffer' && Array.isArray(json.data)) return Buffer.from(json.data)
  throw new Error('benchmark: unexpected IPC message')
}

export const transports: Transport[] = [
  shmring('shmring-sync', 'shmring, both sides spin on trySend/tryRecv (burns a core each)', 'spin'),
  shmring('shmring-async', 'shmring, send()/recv() promises, for-await; recv() spins ≤ 20 µs, then sleeps (doorbell thread)', 'async'),
  shmring('shmring-async-nospin', 'shmring, send()/recv() promises with spinMicros = 0: always sleeps (doorbell thread + event loop)', 'async-nospin'),
  socket('uds', 'Unix domain socket, length-prefixed frames (event loop)', async (server) => {
    const path = join(tmpdir(), `shmring-bench-${process.pid}-${Date.now()}.sock`)
    server.listen(path)
    await once(server, 'listening')
    return path
  }),
  socket('tcp', 'localhost TCP, TCP_NODELAY, length-prefixed frames (event loop)', async (server) => {
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    return server.address() as net.AddressInfo
  }),
  ipc('json'),
  ipc('advanced'),
]

