/**
 * What a transport is to the benchmark runner: a parent side (`start`, in the benchmark
 * process) that returns a connected `Peer`, and a child side (`serve`, in a real child process
 * started from `child.js`, or a worker thread for in-process transports), both speaking the
 * workload of `protocol.ts`. Each transport is one file in `transports/`.
 */
import * as childProcess from 'node:child_process'
import { join } from 'node:path'

import { STATS } from './protocol'

/** One-way messages sent together: `messages[i]` are views into `packed` (so stamping one stamps both). */
export interface Batch {
  messages: Buffer[]
  packed: Buffer
  lengths: Uint32Array
}

/** The benchmark's view of a connected peer. */
export interface Peer {
  /** Sends `message` and resolves with the reply (ECHO, END or STATS messages). */
  request(message: Buffer): Promise<Buffer>
  /** Sends the batch's one-way messages as fast as the transport allows (batched where it can). */
  sendMany(batch: Batch): Promise<void>
  /**
   * A spin-only round trip, for transports that have one (shmring sync): the reply is copied
   * into `into` (as large as the largest message) and its length returned, so a round trip
   * makes no JavaScript object (`recvInto`, the sync API's allocation-free receive).
   */
  requestSync?(message: Buffer, into: Buffer): number
  close(): Promise<void>
}

export interface Transport {
  name: string
  /** How it waits: shown in the report so spinning and sleeping variants are not confused. */
  note: string
  /** Both sides in this process (worker threads): CPU time is the whole process's, counted once. */
  inProcess?: boolean
  /** Measured only in the idle table (it does not carry the workload). */
  idleOnly?: boolean
  start(): Promise<Peer>
  serve(): Promise<void>
}

/** The entry point of benchmark children and workers: `child.js <transport name>`. */
export const childScript = join(__dirname, 'child.js')

/** Starts `child.js name` as a plain child process. */
export function startChild(name: string, stdio: childProcess.StdioOptions = ['ignore', 'inherit', 'inherit']): childProcess.ChildProcess {
  return childProcess.spawn(process.execPath, [childScript, name], { stdio })
}

/** A rejection for requests still waiting when the peer went away. */
export function peerGone(name: string, how: string): Error {
  return new Error(`${name}: the benchmark peer ${how} before replying (see its error above)`)
}

/** Replies arrive in order; requests wait for them one by one. `fail` rejects every waiter. */
export class ReplyQueue {
  readonly #waiting: { resolve: (m: Buffer) => void; reject: (e: Error) => void }[] = []
  #failed: Error | null = null
  push(message: Buffer): void {
    this.#waiting.shift()?.resolve(message)
  }
  next(): Promise<Buffer> {
    if (this.#failed) return Promise.reject(this.#failed)
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }))
  }
  fail(error: Error): void {
    this.#failed ??= error
    for (const w of this.#waiting.splice(0)) w.reject(error)
  }
}

/** Any binary message as a Buffer (IPC and postMessage deliver Uint8Array or JSON forms). */
export function toBuffer(m: unknown): Buffer {
  if (Buffer.isBuffer(m)) return m
  if (m instanceof Uint8Array) return Buffer.from(m.buffer, m.byteOffset, m.byteLength)
  const json = m as { type?: string; data?: number[] }
  if (json?.type === 'Buffer' && Array.isArray(json.data)) return Buffer.from(json.data)
  throw new Error('benchmark: unexpected message (not binary)')
}

/**
 * Flow control for transports whose sends never push back (IPC, postMessage: unbounded queues):
 * after every `bytes` or `messages` sent one-way, a round trip (a STATS request, answered after
 * everything before it) waits until the peer has caught up. 8 MiB is shmring's lane size in this
 * benchmark, so no transport runs further ahead of its consumer than shmring can.
 */
export class FlowWindow {
  #bytes = 0
  #messages = 0
  constructor(
    readonly bytes = 1 << 23,
    readonly messages = 1 << 16,
  ) {}
  async sent(batch: Batch, peer: Peer): Promise<void> {
    this.#bytes += batch.packed.length
    this.#messages += batch.messages.length
    if (this.#bytes < this.bytes && this.#messages < this.messages) return
    this.#bytes = 0
    this.#messages = 0
    await peer.request(Buffer.from([STATS]))
  }
}

/**
 * The parent side of a message-passing transport (IPC, postMessage): `send` posts one message;
 * replies arrive through `replies`, in order; one-way streams send message by message (there
 * is no batch call) and are held to a `FlowWindow` (there is no backpressure).
 */
export function messagePeer(replies: ReplyQueue, send: (message: Buffer) => void, close: () => Promise<void>): Peer {
  const window = new FlowWindow()
  const peer: Peer = {
    request(message) {
      const reply = replies.next()
      send(message)
      return reply
    },
    async sendMany(batch) {
      for (const m of batch.messages) send(m)
      await window.sent(batch, peer)
    },
    close,
  }
  return peer
}
