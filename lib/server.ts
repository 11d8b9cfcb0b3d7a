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
import { AsyncResource } from 'node:async_hooks'
import { EventEmitter } from 'node:events'

import { adoptNative, type Channel, type ChannelOptions, nativeOptions } from './channel'
import { abortError, checkInteger, checkObject, checkSignal, checkString, codes, isShmringError, shmringError } from './errors'
import { NativeConnection, NativeServer } from './native'

/**
 * Clients accepted per event-loop turn before the rest wait for the next (no starvation).
 * Each costs a channel creation (~3.5 ms for the default 4 MiB lanes on the development VM:
 * the segment's memory is allocated up front), so a burst blocks the loop ~30 ms at most.
 */
const ACCEPTS_PER_TURN = 8
/** After the listening socket fails (e.g. out of fds), wait this long before accepting again, in ms. */
const ACCEPT_RETRY_MS = 100
/** While a server's queue of waiting clients is full, `connect` retries this often, in ms. */
const CONNECT_RETRY_MS = 5

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
  /** Accepting failed (the socket broke, or a channel could not be created); the server keeps listening unless closed. Without a listener: a process warning. */
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
    try {
      // In the context the server was made in, as a net.Server's 'connection' (see the
      // doorbells in channel.ts: a threadsafe function's call carries none on Node 24+).
      native.watch(AsyncResource.bind(() => this.#acceptAll(), 'shmring:server'))
    } catch (e) {
      native.close()
      throw e
    }
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
        try {
          channel = adoptNative(accepted)
        } catch (e) {
          accepted.close() // that client's channel only: the server goes on
          this.#report(e as Error)
          continue
        }
      } catch (e) {
        // The socket itself failed (clients that cannot be served are skipped natively):
        // report it, and accept again a little later rather than spin on a lasting failure.
        setTimeout(() => this.#native?.arm(), ACCEPT_RETRY_MS).unref()
        this.#report(e as Error)
        return
      }
      try {
        this.emit('connection', channel)
      } catch (error) {
        // A throwing listener must not stop the server: rethrown as an uncaught exception,
        // as from any event listener, while accepting goes on.
        process.nextTick(() => {
          throw error
        })
      }
    }
    setImmediate(() => this.#acceptAll())
  }

  /** `'error'` if anyone listens; otherwise a process warning (a server does not crash its process over one failed accept). */
  #report(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error)
    else process.emitWarning(error)
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
  return new Promise<Channel>((resolve, reject) => {
    let native: NativeConnection | null = null
    let settled = false
    let retry: NodeJS.Timeout | undefined
    const settle = (error: unknown, channel?: Channel) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      clearTimeout(retry)
      signal?.removeEventListener('abort', onAbort)
      native?.close()
      if (channel) resolve(channel)
      else reject(error)
    }
    const attempt = () => {
      if (settled || !native) return
      try {
        const received = native.finish()
        if (received === null) return native.arm()
        settle(null, adoptNative(received))
      } catch (e) {
        settle(e)
      }
    }
    // Connecting never waits natively: a server whose queue is full answers TIMEOUT at once,
    // and we try again until our own deadline.
    const start = () => {
      if (settled) return
      try {
        native = NativeConnection.start(path)
        native.watch(attempt)
      } catch (e) {
        if (isShmringError(e, codes.TIMEOUT)) retry = setTimeout(start, CONNECT_RETRY_MS)
        else settle(e)
        return
      }
      attempt() // the answer may be there already
    }
    const onAbort = () => settle(abortError(signal!))
    const timer = setTimeout(
      () => settle(shmringError(codes.TIMEOUT, `the server at ${path} did not answer within ${timeout} ms; check that it runs and that its event loop is not blocked`)),
      timeout,
    )
    signal?.addEventListener('abort', onAbort, { once: true })
    start()
  })
}
