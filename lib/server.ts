/**
 * The server rendezvous (Unix): `listen(path)` gives every process that calls `connect(path)`
 * a channel of its own, like `net.createServer` / `net.connect` but with shared-memory
 * channels. Many clients → one server is how shmring serves many producers. The Unix socket
 * at `path` (mode 0600) carries only the handshake: the server creates a sealed channel per
 * client and passes its segment, both sides check that the other runs as the same user
 * (crates/channel/src/server.rs, docs/LAYOUT.md §14). Nothing blocks the event loop: a native
 * thread polls the socket and rings JavaScript (src/server.rs). Windows: not available yet
 * (`ERR_SHMRING_UNSUPPORTED`); use `spawn()` or a named channel there.
 */
import { EventEmitter } from 'node:events'

import { adoptNative, type Channel, type ChannelOptions, nativeOptions } from './channel'
import { abortError, checkInteger, checkObject, checkSignal, checkString, codes, shmringError } from './errors'
import { NativeConnection, NativeServer } from './native'

/** Clients accepted per event-loop turn before the rest wait for the next (no starvation). */
const ACCEPTS_PER_TURN = 64

/** How long `connect` waits for the server's answer by default, in ms. */
export const DEFAULT_CONNECT_TIMEOUT = 10_000

export interface ConnectOptions {
  /** Give up (ERR_SHMRING_TIMEOUT) if the server has not answered within this many ms (default 10 000). */
  timeout?: number
  /** Abort the wait. */
  signal?: AbortSignal
}

export interface ServerEvents {
  /** A client connected; `channel` is this process's side of its own channel. */
  connection: [channel: Channel]
  /** Accepting failed (the socket broke, or a channel could not be created); the server keeps listening unless closed. */
  error: [error: Error]
  /** The server stopped listening. */
  close: []
}

export interface Server {
  on<E extends keyof ServerEvents>(event: E, listener: (...args: ServerEvents[E]) => void): this
  once<E extends keyof ServerEvents>(event: E, listener: (...args: ServerEvents[E]) => void): this
  off<E extends keyof ServerEvents>(event: E, listener: (...args: ServerEvents[E]) => void): this
  emit<E extends keyof ServerEvents>(event: E, ...args: ServerEvents[E]): boolean
}

/** A listening server; see `listen`. Keeps the process alive until closed (or `unref()`). */
export class Server extends EventEmitter {
  /** The socket path clients connect to. */
  readonly path: string
  #native: NativeServer | null

  /** Use `listen(path)`. */
  constructor(native: NativeServer) {
    super()
    this.#native = native
    this.path = native.path
    native.watch(() => this.#acceptAll())
    native.setRef(true)
    native.arm()
  }

  /** Stops listening and removes the socket file; channels already handed out stay open. Idempotent. */
  close(): void {
    const native = this.#native
    if (!native) return
    this.#native = null
    native.close()
    process.nextTick(() => this.emit('close'))
  }

  /** Keeps the process alive while listening (the default). */
  ref(): this {
    this.#native?.setRef(true)
    return this
  }

  /** Listening alone no longer keeps the process alive. */
  unref(): this {
    this.#native?.setRef(false)
    return this
  }

  [Symbol.dispose](): void {
    this.close()
  }

  #acceptAll(): void {
    for (let i = 0; i < ACCEPTS_PER_TURN; i++) {
      const native = this.#native
      if (!native) return
      let channel: Channel
      try {
        const accepted = native.accept()
        if (accepted === null) {
          native.arm()
          return
        }
        channel = adoptNative(accepted)
      } catch (e) {
        this.#native?.arm()
        this.emit('error', e as Error)
        return
      }
      this.emit('connection', channel)
    }
    setImmediate(() => this.#acceptAll())
  }
}

/**
 * Listens on the Unix socket `path`; every client that `connect`s gets a channel of its own
 * (created with `options`), delivered by the `'connection'` event. A socket file that nobody
 * listens on any more is replaced; a live server there is `ERR_SHMRING_EXISTS`.
 */
export function listen(path: string, options?: ChannelOptions): Server {
  checkString(path, 'path')
  return new Server(NativeServer.listen(path, nativeOptions(options)))
}

/**
 * Connects to the server listening on `path` and resolves with this process's side of the
 * channel it creates for us. Rejects with `ERR_SHMRING_NOT_FOUND` when nobody listens there,
 * `ERR_SHMRING_TIMEOUT` when the server does not answer in time.
 */
export function connect(path: string, options?: ConnectOptions): Promise<Channel> {
  checkString(path, 'path')
  checkObject(options, 'options')
  const timeout = options?.timeout ?? DEFAULT_CONNECT_TIMEOUT
  checkInteger(timeout, 'options.timeout', 1, 2 ** 31 - 1)
  const signal = options?.signal
  checkSignal(signal, 'options.signal')
  if (signal?.aborted) return Promise.reject(abortError(signal))
  let native: NativeConnection
  try {
    native = NativeConnection.start(path)
  } catch (e) {
    return Promise.reject(e)
  }
  return new Promise<Channel>((resolve, reject) => {
    let settled = false
    const settle = (error: unknown, channel?: Channel) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      native.close()
      if (channel) resolve(channel)
      else reject(error)
    }
    const attempt = () => {
      if (settled) return
      try {
        const received = native.finish()
        if (received === null) return native.arm()
        settle(null, adoptNative(received))
      } catch (e) {
        settle(e)
      }
    }
    const onAbort = () => settle(abortError(signal!))
    const timer = setTimeout(
      () => settle(shmringError(codes.TIMEOUT, `the server at ${path} did not answer within ${timeout} ms; check that its event loop is not blocked`)),
      timeout,
    )
    signal?.addEventListener('abort', onAbort, { once: true })
    native.watch(attempt)
    attempt() // the answer may be there already
  })
}
