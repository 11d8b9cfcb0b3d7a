/**
 * `Channel`: the idiomatic Node API over one side of a native shmring channel.
 *
 * - Sync fast path: `trySend`, `tryRecv`, `recvInto`, `trySendBatch`, `tryRecvBatch` go
 *   straight to native code (no system call unless the peer sleeps).
 * - Async: `recv()`, `send()`, `'message'` events, `for await`, `AbortSignal`. A native
 *   doorbell (on Linux the event loop's own io_uring futex wait, else a thread) sleeps until
 *   data (or room) appears and calls back once; the callback
 *   drains every waiting message in one go, at most `MAX_PER_TURN` per event-loop turn
 *   (then continues on `setImmediate`), and re-arms the doorbell when the ring is empty.
 * - Latency: an empty `recv()` first polls the ring for an adaptive time (`spinMicros`,
 *   default ≤ 200 µs) so a quick reply costs no thread wake-up; then it sleeps.
 * - Keep-alive like `net.Socket`: a pending `recv()`/`send()`, a `'message'` listener, or a
 *   `'drain'` listener while a `'drain'` is owed keeps the process alive; `unref()` opts out.
 * - End of stream: every message the peer sent before closing (or dying) is delivered first;
 *   then `recv()` rejects with `ERR_SHMRING_PEER_CLOSED` (`…_PEER_DEAD`), iteration ends
 *   (throws), and `'close'` is emitted (after `'error'` for a dead or corrupt peer).
 */
import { AsyncResource } from 'node:async_hooks'
import { EventEmitter } from 'node:events'

import {
  abortError,
  checkBytes,
  checkNotShared,
  checkUint32Array,
  checkUint8Array,
  checkInteger,
  checkObject,
  checkSignal,
  checkString,
  codes,
  isShmringError,
  describe,
  rangeError,
  shmringError,
  type ShmringError,
} from './errors'
import {
  channelRecvInto,
  channelRecvPacked,
  channelTryRecv,
  channelTrySend,
  channelTrySendBatch,
  channelTrySendPacked,
  NativeChannel,
  type NativeChannelOptions,
} from './native'

/** For `lib/server.ts` only: the `Channel` around a native channel a server accepted or a connection received. */
export let adoptNative!: (native: NativeChannel) => Channel

/** The lane a message travels on: `critical` overtakes `high`, which overtakes `normal` (`low` is `normal`). */
export type Priority = 'critical' | 'high' | 'normal' | 'low'

const LANE: Record<Priority, number> = { critical: 0, high: 1, normal: 2, low: 2 }

/** Ring sizes of a new channel, in bytes: powers of two from 4 KiB to 1 GiB. A message may use up to half a lane. */
export interface ChannelOptions {
  /** Normal lane; default 4 MiB (messages up to 2 MiB). */
  capacity?: number
  /** High lane; default 256 KiB. */
  highCapacity?: number
  /** Critical lane; default 64 KiB. */
  criticalCapacity?: number
}

export interface SendOptions {
  /** Lane to send on; default `'normal'`. */
  priority?: Priority
  /** Aborts the wait for room (the message is then not sent). */
  signal?: AbortSignal
}

export interface RecvOptions {
  /** Aborts the wait for a message. */
  signal?: AbortSignal
}

/** Messages delivered per event-loop turn before yielding with `setImmediate`. */
export const MAX_PER_TURN = 1024

/**
 * Where received messages land first: a message that fits is copied from shared memory into
 * this scratch by one raw native call, then into a pooled `Buffer.allocUnsafe` (for small
 * messages far cheaper than a Buffer made by native code; measured with callgrind, about a
 * third of the instructions). Longer ones get a Buffer of their own from native code. One per
 * JavaScript thread (module instance); nothing runs between the fill and the copy.
 */
const scratch = Buffer.allocUnsafeSlow(64 * 1024)

/** The next message on `handle`, or `null`; throws what the native call throws. */
function takeMessage(handle: number): Buffer | null {
  const taken = channelTryRecv(handle, scratch)
  if (typeof taken !== 'number') return taken
  const message = Buffer.allocUnsafe(taken)
  scratch.copy(message, 0, 0, taken)
  return message
}

/**
 * Up to `max` messages on `handle`. An error after the first message ends the batch instead
 * of losing it (end of stream and corruption are sticky: the next call reports them).
 */
function takeMessages(handle: number, max: number): Buffer[] {
  const messages: Buffer[] = []
  while (messages.length < max) {
    let message: Buffer | null
    try {
      message = takeMessage(handle)
    } catch (e) {
      if (messages.length === 0) throw e
      break
    }
    if (message === null) break
    messages.push(message)
  }
  return messages
}

/** Default upper bound of the adaptive spin in `recv()`, in microseconds. */
export const DEFAULT_SPIN_MICROS = 200
/** Floor of the adaptive spin (unless `spinMicros` is lower), ns: a peer's turnaround between a reply and its next request. */
const MIN_SPIN_NS = 20_000
/** Every this many spins of `recv()`, one uses the full `spinMicros` (see `#spinNs`). */
const SPIN_PROBE_EVERY = 16

/**
 * Channels with a pending receive, a pending send or a `'message'` listener. Like a libuv
 * handle with a pending read, such a channel must stay reachable even if the program keeps
 * no reference to it (its doorbells only hold it weakly, so that an idle, forgotten channel
 * can be collected and closed).
 */
const active = new Set<Channel>()

interface Waiter<T> {
  resolve: (value: T) => void
  reject: (error: unknown) => void
  detach: () => void
}

interface PendingSend extends Waiter<void> {
  data: Uint8Array
  lane: number
}

export interface ChannelEvents {
  message: [message: Buffer]
  drain: []
  error: [error: ShmringError]
  close: []
}

// Typed events, merged into the class below.
export interface Channel {
  on<K extends keyof ChannelEvents>(event: K, listener: (...args: ChannelEvents[K]) => void): this
  once<K extends keyof ChannelEvents>(event: K, listener: (...args: ChannelEvents[K]) => void): this
  off<K extends keyof ChannelEvents>(event: K, listener: (...args: ChannelEvents[K]) => void): this
  emit<K extends keyof ChannelEvents>(event: K, ...args: ChannelEvents[K]): boolean
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class Channel extends EventEmitter implements AsyncIterable<Buffer> {
  #native: NativeChannel | null
  /** The native handle for the data-path functions (valid while `#native` is set). */
  readonly #handle: number
  readonly #receivers: Waiter<Buffer>[] = []
  readonly #sends: PendingSend[] = []
  #watchingData = false
  #watchingRoom = false
  /** A data doorbell ring is pending (armed, not yet rung): never arm twice. */
  #dataArmed = false
  /**
   * Likewise for the room doorbell. Arming costs a system call (a wait submitted to the kernel,
   * or a doorbell thread woken), so a
   * spin loop retrying `trySend` on a full lane must not arm on every try: once armed, the
   * doorbell rings on any release after that, which covers every later try too.
   */
  #roomArmed = false
  #keepAlive = true
  #draining = false
  #wantDrainEvent = false
  #ended: ShmringError | null = null
  #closeEmitted = false
  /** A capped drain scheduled its continuation (`#drain`). */
  #continuing = false
  /** `recv()` calls resolved at once since the event loop last turned (see `recv`). */
  #resolvedThisTurn = 0
  #maxSpinNs = DEFAULT_SPIN_MICROS * 1000
  /**
   * Current adaptive spin budget of `recv()`: back to the full `spinMicros` when a spin caught
   * a message, halved when it did not; every `SPIN_PROBE_EVERY`-th spin uses the full budget
   * anyway. Without the probe, two peers that both fell asleep stay asleep: each one's short
   * spin ends before the other has woken up and replied.
   */
  #spinNs = DEFAULT_SPIN_MICROS * 1000
  #spins = 0

  static {
    adoptNative = (native) => new Channel(native)
  }

  /** Use the static factories (`create`, `createNamed`, `openNamed`, `fromFd`), `spawn`/`fromParent` or `listen`/`connect`. */
  private constructor(native: NativeChannel) {
    super()
    this.#native = native
    this.#handle = native.handle
    this.#watchListeners()
  }

  /** Like `EventEmitter`'s; the channel's own listener hooks survive a call without an event. */
  override removeAllListeners(event?: string | symbol): this {
    super.removeAllListeners(event)
    if (event === undefined || event === 'newListener' || event === 'removeListener') this.#watchListeners()
    this.#updateInterest()
    return this
  }

  /** Adding or removing a 'message'/'drain' listener starts or stops the doorbells it needs. */
  #watchListeners(): void {
    if (super.listeners('newListener').includes(this.#onNewListener)) return
    super.on('newListener', this.#onNewListener)
    super.on('removeListener', this.#onRemoveListener)
  }

  readonly #onNewListener = (event: string | symbol): void => {
    if (event === 'message' || event === 'drain') queueMicrotask(() => this.#updateInterest())
  }

  readonly #onRemoveListener = (event: string | symbol): void => {
    if (event === 'message' || event === 'drain') this.#updateInterest()
  }

  /** Creates an anonymous channel; hand it to a child with `spawn` (or `shareFd`). */
  static create(options?: ChannelOptions): Channel {
    return new Channel(NativeChannel.create(nativeOptions(options)))
  }

  /**
   * Creates a channel under `name` (owner-only; never opens an existing one) for a process
   * that cannot inherit an fd, such as an Electron `utilityProcess`. Removed when closed.
   */
  static createNamed(name: string, options?: ChannelOptions): Channel {
    checkString(name, 'name')
    return new Channel(NativeChannel.createNamed(name, nativeOptions(options)))
  }

  /** Attaches to the channel another process created with `createNamed(name)`. */
  static openNamed(name: string): Channel {
    checkString(name, 'name')
    return new Channel(NativeChannel.openNamed(name))
  }

  /** Attaches to a channel whose segment fd this process inherited or received; the channel keeps its own duplicate, so close `fd` when you no longer need it. */
  static fromFd(fd: number): Channel {
    checkInteger(fd, 'fd', 0, 2 ** 31 - 1)
    return new Channel(NativeChannel.fromFd(fd))
  }

  /**
   * Windows: attaches to the channel a parent named in `SHMRING_CHANNEL_HANDLE` (`value` is
   * that variable; `fromParent()` reads it for you). The parent's section handle is
   * duplicated into this process, and the parent is watched as the peer.
   */
  static fromParentHandle(value: string): Channel {
    checkString(value, 'value')
    return new Channel(NativeChannel.fromParentHandle(value))
  }

  /**
   * Watches process `pid` as the peer (`spawn` does this with the child's pid, `fromParent`
   * with the parent's): its death ends the channel with `ERR_SHMRING_PEER_DEAD` even if it
   * never attached, and the pid the peer writes into shared memory is not trusted.
   */
  watchPeer(pid: number): void {
    checkInteger(pid, 'pid', 1, 2 ** 31 - 1)
    this.#open().watchPeer(pid)
  }

  /** `'A'` for the side that created the channel, `'B'` for the side that attached. */
  get side(): 'A' | 'B' {
    return this.#open().side as 'A' | 'B'
  }

  /** Whether the other side has attached. */
  get peerAttached(): boolean {
    return this.#native?.peerAttached ?? false
  }

  /** Whether this side is closed (by `close()` or because the stream ended). */
  get closed(): boolean {
    return this.#native === null
  }

  /**
   * Upper bound, in microseconds, of the adaptive spin `recv()` does before it sleeps: when no
   * message is waiting, `recv()` polls the ring synchronously for up to this long (adapting to
   * how often that pays off) before handing the wait to the doorbell. A reply that comes
   * within the spin skips a sleep and its wake-ups (microseconds on bare metal, 100 µs and more on
   * a virtual machine whose idle vCPU must be woken through the hypervisor); the cost is
   * blocking the event loop for at most this long per empty `recv()` (usually far less: the
   * budget halves down to 20 µs while spins do not pay off, and only every 16th spin probes with
   * the full budget). 0 turns spinning off. Default 200.
   */
  get spinMicros(): number {
    return this.#maxSpinNs / 1000
  }

  set spinMicros(value: number) {
    checkInteger(value, 'spinMicros', 0, 1000)
    this.#maxSpinNs = value * 1000
    this.#spinNs = this.#maxSpinNs
  }

  /** A new fd of the segment for a child process (close it after spawning). Unix only. */
  shareFd(): number {
    return this.#open().shareFd()
  }

  /**
   * Windows: the value of `SHMRING_CHANNEL_HANDLE` for a child process, which duplicates the
   * segment's handle from this process while the channel is open (`spawn` sets it for you).
   */
  handleForChild(): string {
    return this.#open().handleForChild()
  }

  /** Largest message the lane of `priority` accepts, in bytes. */
  maxMessageLength(priority: Priority = 'normal'): number {
    return this.#open().maxMessageLen(lane(priority))
  }

  /** Fill ratio of the outbound lane of `priority`, from 0 (empty) to 1 (full). */
  fill(priority: Priority = 'normal'): number {
    return this.#open().fill(lane(priority))
  }

  /**
   * Sends `data` now if there is room. Returns `false` when the lane is full (or earlier
   * `send()` calls are still waiting, to keep order); `'drain'` follows when room returns.
   */
  trySend(data: Uint8Array, priority: Priority = 'normal'): boolean {
    checkUint8Array(data, 'data')
    if (this.#native === null) this.#open() // throws why
    const lanes = lane(priority)
    if (this.#sends.length > 0) {
      // Queued send() calls go first. No native call, which would refuse a SharedArrayBuffer
      // view: check here instead.
      checkBytes(data, 'data')
      this.#oweDrain()
      return false
    }
    if (channelTrySend(this.#handle, data, lanes)) return true
    // Room released between the failed try and a fresh arm would ring nothing: look once more.
    if (this.#armRoom() && channelTrySend(this.#handle, data, lanes)) return true
    this.#oweDrain()
    return false
  }

  /** Sends as many of `messages` as fit now, in order, with one wake of the peer. Returns how many. */
  trySendBatch(messages: Uint8Array[], priority: Priority = 'normal'): number {
    if (!Array.isArray(messages)) throw Object.assign(new TypeError('messages must be an array'), { code: codes.INVALID_ARG })
    // A copy, checked at every index (holes included), so that what native code reads is
    // exactly what was checked (no getters, no later changes).
    messages = Array.from(messages)
    for (let i = 0; i < messages.length; i++) checkBytes(messages[i], `messages[${i}]`)
    this.#open()
    const lanes = lane(priority)
    if (this.#sends.length > 0 || messages.length === 0) {
      if (messages.length > 0) this.#oweDrain()
      return 0
    }
    const sent = channelTrySendBatch(this.#handle, messages, lanes)
    // As in `trySend`: after a fresh arm, look once more.
    return this.#retryAfterArm(sent, messages.length, () => channelTrySendBatch(this.#handle, messages.slice(sent), lanes))
  }

  /**
   * Sends messages packed back to back in `packed` (message `i` is `lengths[i]` bytes), as many
   * as fit now, with one wake of the peer. Returns how many were sent. The fastest way to
   * stream many small messages: no JavaScript object per message.
   */
  trySendPacked(packed: Uint8Array, lengths: Uint32Array, priority: Priority = 'normal'): number {
    checkUint8Array(packed, 'packed')
    checkUint32Array(lengths, 'lengths')
    if (this.#native === null) this.#open() // throws why
    const lanes = lane(priority)
    if (this.#sends.length > 0 || lengths.length === 0) {
      // No native call (which would refuse a SharedArrayBuffer view): check here instead.
      checkBytes(packed, 'packed')
      checkNotShared(lengths, 'lengths')
      if (lengths.length > 0) this.#oweDrain()
      return 0
    }
    const sent = channelTrySendPacked(this.#handle, packed, lengths, lanes)
    // As in `trySend`: after a fresh arm, look once more (from the first message not sent).
    return this.#retryAfterArm(sent, lengths.length, () => {
      let offset = 0
      for (let i = 0; i < sent; i++) offset += lengths[i]!
      return channelTrySendPacked(this.#handle, packed.subarray(offset), lengths.subarray(sent), lanes)
    })
  }

  /**
   * Receives waiting messages into `target`, back to back, and their lengths into `lengths`;
   * stops when the next one does not fit (it stays queued) or `lengths` is full. Returns how
   * many (0 when none is waiting). Throws `ERR_SHMRING_BUFFER_TOO_SMALL` if not even the
   * first fits. With `tryRecvBatch`, the fastest way to drain a burst.
   */
  recvPacked(target: Uint8Array, lengths: Uint32Array): number {
    checkUint8Array(target, 'target')
    checkUint32Array(lengths, 'lengths')
    if (this.#native === null) this.#open() // throws why
    try {
      return channelRecvPacked(this.#handle, target, lengths)
    } catch (e) {
      throw this.#receiveFailed(e)
    }
  }

  /** The next waiting message, or `null`. Copies it from shared memory into a new Buffer. */
  tryRecv(): Buffer | null {
    return this.#receive(takeMessage)
  }

  /**
   * Copies the next waiting message into `target` and returns its length, or `null` when none
   * is waiting. Throws `ERR_SHMRING_BUFFER_TOO_SMALL` (the message stays queued) if it does not fit.
   */
  recvInto(target: Uint8Array): number | null {
    checkUint8Array(target, 'target')
    if (this.#native === null) this.#open() // throws why
    try {
      return channelRecvInto(this.#handle, target)
    } catch (e) {
      throw this.#receiveFailed(e)
    }
  }

  /** Up to `max` waiting messages (possibly none). */
  tryRecvBatch(max = MAX_PER_TURN): Buffer[] {
    checkInteger(max, 'max', 1, 2 ** 32 - 1)
    return this.#receive((handle) => takeMessages(handle, max))
  }

  /** The next message; waits for one. Rejects with `ERR_SHMRING_PEER_CLOSED` after the last. */
  recv(options?: RecvOptions): Promise<Buffer> {
    checkObject(options, 'options')
    const signal = options?.signal
    checkSignal(signal, 'options.signal')
    if (signal?.aborted) return Promise.reject(abortError(signal))
    // At most MAX_PER_TURN receives resolve at once per event-loop turn: a `for await` over a
    // flood would otherwise run in microtasks forever and starve timers and I/O. Past the cap,
    // the wait goes through the doorbell (a macrotask), as the 'message' drain does.
    const fast = this.#receivers.length === 0 && this.listenerCount('message') === 0
    if (fast && this.#resolvedThisTurn < MAX_PER_TURN) {
      try {
        const message = this.tryRecv() ?? this.#spinRecv()
        if (message !== null) {
          if (this.#resolvedThisTurn++ === 0) setImmediate(() => (this.#resolvedThisTurn = 0))
          return Promise.resolve(message)
        }
      } catch (e) {
        return Promise.reject(e)
      }
    } else if (this.#ended || !this.#native) {
      return Promise.reject(this.#ended ?? closedError())
    }
    return new Promise<Buffer>((resolve, reject) => {
      const waiter = this.#waiter(this.#receivers, resolve, reject, signal)
      this.#receivers.push(waiter)
      this.#enqueued(this.#receivers, waiter, () => this.#updateInterest())
    })
  }

  /** Sends `data`, waiting for room if the lane is full. */
  send(data: Uint8Array, options?: SendOptions): Promise<void> {
    checkBytes(data, 'data')
    checkObject(options, 'options')
    const signal = options?.signal
    checkSignal(signal, 'options.signal')
    const lanes = lane(options?.priority ?? 'normal')
    if (signal?.aborted) return Promise.reject(abortError(signal))
    let native: NativeChannel
    try {
      native = this.#open()
      if (this.#sends.length === 0 && channelTrySend(this.#handle, data, lanes)) return Promise.resolve()
    } catch (e) {
      return Promise.reject(e)
    }
    return new Promise<void>((resolve, reject) => {
      // The waiter object itself goes in the queue: its abort handler removes exactly it.
      const pending = Object.assign(this.#waiter(this.#sends, resolve, reject, signal), { data, lane: lanes })
      this.#sends.push(pending)
      this.#enqueued(this.#sends, pending, () => {
        this.#armRoom()
        this.#flushSends()
        this.#updateInterest()
      })
    })
  }

  /** Messages until the peer closes; throws if it dies or corrupts the channel. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    for (;;) {
      try {
        yield await this.recv()
      } catch (e) {
        if (isShmringError(e, codes.PEER_CLOSED) || isShmringError(e, codes.CLOSED)) return
        throw e
      }
    }
  }

  /** Lets pending receives and `'message'` listeners keep the process alive (the default). */
  ref(): this {
    this.#keepAlive = true
    this.#updateInterest()
    return this
  }

  /** Pending receives and listeners no longer keep the process alive. */
  unref(): this {
    this.#keepAlive = false
    this.#updateInterest()
    return this
  }

  /**
   * Closes this side: the peer receives every message sent so far, then
   * `ERR_SHMRING_PEER_CLOSED`. Pending `recv()`/`send()` reject with `ERR_SHMRING_CLOSED`.
   * Idempotent.
   */
  close(): void {
    // After the peer ended the channel, our own close() still makes later calls report
    // ERR_SHMRING_CLOSED (this side closed), not the peer's ending again.
    if (!this.#native) this.#ended = null
    this.#finish(closedError(), false)
  }

  [Symbol.dispose](): void {
    this.close()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close()
  }

  /** Polls for a message for up to the adaptive spin budget (see `spinMicros`). */
  #spinRecv(): Buffer | null {
    if (this.#maxSpinNs === 0) return null
    const budget = ++this.#spins % SPIN_PROBE_EVERY === 0 ? this.#maxSpinNs : this.#spinNs
    const deadline = process.hrtime.bigint() + BigInt(Math.round(budget))
    do {
      const message = this.tryRecv()
      if (message !== null) {
        this.#spinNs = this.#maxSpinNs
        return message
      }
    } while (process.hrtime.bigint() < deadline)
    this.#spinNs = Math.max(Math.min(MIN_SPIN_NS, this.#maxSpinNs), this.#spinNs / 2)
    return null
  }

  #open(): NativeChannel {
    if (this.#ended) throw this.#ended
    if (!this.#native) throw closedError()
    return this.#native
  }

  /** Runs a native receive; an end-of-stream error ends the channel before it is thrown. */
  #receive<T>(call: (handle: number) => T): T {
    this.#open()
    try {
      return call(this.#handle)
    } catch (e) {
      throw this.#receiveFailed(e)
    }
  }

  /** A native receive threw `e`: an end of stream ends the channel. Returns `e`, to throw. */
  #receiveFailed(e: unknown): unknown {
    if (isEnd(e)) this.#finish(e, true)
    return e
  }

  /**
   * Runs `start` (which starts the doorbells `waiter` needs); if that throws (a doorbell thread
   * could not be started), `waiter` leaves `list` and is rejected instead of waiting forever.
   */
  #enqueued<T>(list: Waiter<T>[], waiter: Waiter<T>, start: () => void): void {
    try {
      start()
    } catch (e) {
      const i = list.indexOf(waiter)
      if (i >= 0) list.splice(i, 1)
      waiter.reject(e)
    }
  }

  #waiter<T>(list: Waiter<T>[], resolve: (v: T) => void, reject: (e: unknown) => void, signal?: AbortSignal): Waiter<T> {
    const onAbort = () => {
      const i = list.indexOf(waiter)
      if (i >= 0) list.splice(i, 1)
      reject(abortError(signal!))
      // An aborted send at the head may have held back smaller ones that fit now.
      if (i === 0 && (list as unknown[]) === this.#sends) this.#flushSends()
      else this.#updateInterest()
    }
    const waiter: Waiter<T> = {
      resolve: (v) => {
        signal?.removeEventListener('abort', onAbort)
        resolve(v)
      },
      reject: (e) => {
        signal?.removeEventListener('abort', onAbort)
        reject(e)
      },
      detach: () => signal?.removeEventListener('abort', onAbort),
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    return waiter
  }

  /** Starts or re-arms the doorbells this channel needs now, and sets keep-alive. */
  #updateInterest(): void {
    const native = this.#native
    if (!native) return
    const wantsData = this.#receivers.length > 0 || this.listenerCount('message') > 0
    const wantsRoom = this.#sends.length > 0 || (this.#wantDrainEvent && this.listenerCount('drain') > 0)
    if (wantsData || wantsRoom) active.add(this)
    else active.delete(this)
    if (wantsData && !this.#watchingData) {
      const self = new WeakRef(this)
      // Bound to the async context it starts in (AsyncLocalStorage, async_hooks), as a socket's
      // callbacks run in its creator's: the native side calls it from the event loop or a
      // threadsafe function, and the latter carries no context on Node 24+.
      native.watchData(
        AsyncResource.bind(() => {
          const channel = self.deref()
          if (channel) channel.#onReadable()
        }, 'shmring:data'),
      )
      this.#watchingData = true
    }
    if (wantsData && !this.#draining && !this.#dataArmed) {
      this.#dataArmed = true
      native.armData()
    }
    native.setRef(this.#keepAlive && (wantsData || wantsRoom))
  }

  /**
   * A batch try-send sent `sent` of `count`: if short, arm the room doorbell and, if it armed
   * afresh, try the rest once more (`retry`). An error of the retry after messages went out is
   * not thrown (the caller must learn how many were sent; errors are sticky, the next call
   * reports it). Owes a `'drain'` when still short.
   */
  #retryAfterArm(sent: number, count: number, retry: () => number): number {
    if (sent < count && this.#armRoom()) {
      try {
        sent += retry()
      } catch (e) {
        if (sent === 0) throw e
        return sent
      }
    }
    if (sent < count) this.#oweDrain()
    return sent
  }

  /**
   * A try-send found its lane full: `'drain'` is owed once room returns. While it is owed and
   * listened for, the channel keeps the process alive (as a socket with a pending write would).
   */
  #oweDrain(): void {
    this.#armRoom()
    if (!this.#wantDrainEvent) {
      this.#wantDrainEvent = true
      this.#updateInterest()
    }
  }

  /**
   * Arms the room doorbell unless it is armed already; returns whether it armed now (the
   * caller should then try once more: a release just before the arm rings nothing).
   */
  #armRoom(): boolean {
    const native = this.#native
    if (!native) return false
    if (!this.#watchingRoom) {
      const self = new WeakRef(this)
      native.watchRoom(
        AsyncResource.bind(() => {
          const channel = self.deref()
          if (!channel) return
          channel.#roomArmed = false
          channel.#flushSends()
        }, 'shmring:room'),
      )
      this.#watchingRoom = true
    }
    if (this.#roomArmed) return false
    native.armRoom()
    this.#roomArmed = true
    return true
  }

  /** Doorbell: messages are probably waiting. Drains them, capped per turn. */
  #onReadable(): void {
    this.#dataArmed = false
    if (this.#draining || !this.#native) return
    this.#draining = true
    try {
      this.#drain() // re-arms the doorbell itself, unless it continues on setImmediate
    } finally {
      this.#draining = false
    }
  }

  #drain(): void {
    let delivered = 0
    while (delivered < MAX_PER_TURN && this.#native) {
      const waiter = this.#receivers[0]
      if (waiter) {
        const message = this.#tryReceive(() => takeMessage(this.#handle))
        if (message === undefined) return
        if (message === null) break
        this.#receivers.shift()
        waiter.resolve(message)
        delivered++
        continue
      }
      // One message at a time: a listener may remove itself (`once`) or close the channel,
      // and what it did not get must stay queued.
      if (this.listenerCount('message') === 0) return this.#updateInterest()
      const message = this.#tryReceive(() => takeMessage(this.#handle))
      if (message === undefined) return
      if (message === null) break
      delivered++
      this.#emitMessage(message)
    }
    if (!this.#native) return
    if (delivered >= MAX_PER_TURN) {
      // One continuation at a time: a doorbell ring before it runs must not start a second
      // chain (each would deliver its own MAX_PER_TURN per turn).
      if (this.#continuing) return
      this.#continuing = true
      setImmediate(() => {
        this.#continuing = false
        if (!this.#dataArmed) this.#onReadable()
      })
      return
    }
    this.#draining = false
    this.#updateInterest()
  }

  /**
   * Emits one message. A listener that throws does not stop delivery: the error is rethrown
   * on the next tick (an uncaught exception, as from any event listener).
   */
  #emitMessage(message: Buffer): void {
    try {
      this.emit('message', message)
    } catch (error) {
      process.nextTick(() => {
        throw error
      })
    }
  }

  /** A native receive inside the drain loop: `undefined` when the stream ended. */
  #tryReceive<T>(call: () => T): T | undefined {
    try {
      return call()
    } catch (e) {
      this.#finish(e as ShmringError, true)
      return undefined
    }
  }

  /** Doorbell: room probably returned. Sends queued messages in order. */
  #flushSends(): void {
    if (!this.#native) return
    while (this.#sends.length > 0) {
      const head = this.#sends[0]!
      let sent: boolean
      try {
        sent = channelTrySend(this.#handle, head.data, head.lane)
        // Armed afresh before the retry: a release in between rings. Already armed: it rings.
        if (!sent && this.#armRoom()) sent = channelTrySend(this.#handle, head.data, head.lane)
      } catch (e) {
        this.#sends.shift()
        head.reject(e)
        if (isShmringError(e, codes.PEER_CLOSED) || isShmringError(e, codes.PEER_DEAD)) {
          // Nothing queued can go out, and no 'drain' will come. What the peer sent before it
          // went is still to be received: then the receive side ends the channel after
          // delivering it (a receive reports the end); with nothing waiting, it ends now.
          for (const pending of this.#sends.splice(0)) pending.reject(e)
          this.#wantDrainEvent = false
          if (!this.#inboundWaiting()) return this.#finish(e, true)
          return this.#updateInterest()
        }
        if (isEnd(e)) return this.#finish(e, true)
        continue
      }
      if (!sent) return this.#updateInterest()
      this.#sends.shift()
      head.resolve()
    }
    if (this.#wantDrainEvent) {
      this.#wantDrainEvent = false
      try {
        this.emit('drain')
      } finally {
        this.#updateInterest() // even if a listener threw: nothing is owed any more
      }
      return
    }
    this.#updateInterest()
  }

  /** Whether a message is waiting to be received (false if that cannot be told). */
  #inboundWaiting(): boolean {
    try {
      return this.#native?.hasInbound() ?? false
    } catch {
      return false
    }
  }

  /** Ends this side with `reason`: rejects waiters, closes native, emits `'error'`/`'close'`. */
  #finish(reason: ShmringError, byPeer: boolean): void {
    if (!this.#native) return
    const native = this.#native
    this.#native = null
    active.delete(this)
    if (byPeer) this.#ended = reason
    native.close()
    for (const waiter of this.#receivers.splice(0)) waiter.reject(reason)
    for (const pending of this.#sends.splice(0)) pending.reject(byPeer ? reason : closedError())
    const failed = byPeer && reason.code !== codes.PEER_CLOSED
    process.nextTick(() => {
      try {
        if (failed && (this.listenerCount('error') > 0 || this.listenerCount('message') > 0)) this.emit('error', reason)
      } finally {
        if (!this.#closeEmitted) {
          this.#closeEmitted = true
          this.emit('close')
        }
      }
    })
  }
}

function lane(priority: Priority): number {
  if (priority === 'normal') return LANE.normal // the default, on every message: no keyed lookup
  if (typeof priority !== 'string' || !Object.hasOwn(LANE, priority)) {
    throw rangeError(`priority must be 'critical', 'high', 'normal' or 'low', got ${describe(priority)}`)
  }
  return LANE[priority]
}

/** Checked channel options as the addon takes them (also for `lib/server.ts`). */
export function nativeOptions(options: ChannelOptions | undefined): NativeChannelOptions | undefined {
  checkObject(options, 'options')
  if (!options) return undefined
  const out: NativeChannelOptions = {}
  for (const key of ['capacity', 'highCapacity', 'criticalCapacity'] as const) {
    const value = options[key]
    if (value === undefined) continue
    checkInteger(value, `options.${key}`, 4096, 2 ** 30)
    if ((value & (value - 1)) !== 0) throw rangeError(`options.${key} must be a power of two, got ${value}`)
    out[key] = value
  }
  return out
}

function closedError(): ShmringError {
  return shmringError(codes.CLOSED, 'channel closed; create a new channel')
}

function isEnd(e: unknown): e is ShmringError {
  return (
    isShmringError(e, codes.PEER_CLOSED) ||
    isShmringError(e, codes.PEER_DEAD) ||
    isShmringError(e, codes.CORRUPT) ||
    isShmringError(e, codes.CLOSED)
  )
}
