/**
 * A TypeScript program written as a user of the published package would write it, checked
 * (never run) by types.spec.ts against the built declarations in dist/. Every line marked
 * `@ts-expect-error` is a wrong call that the types must refuse; if one stops being an
 * error, tsc reports the unused directive and the spec fails.
 *
 * The import names dist/ by path so the project-wide `tsc -p tsconfig.json` resolves it too;
 * types.spec.ts also checks this file with the import rewritten to `'shmring'` and resolved
 * through the package's own `exports`, as an installed package is.
 */
import { once } from 'node:events'

import {
  Channel,
  codes,
  connect,
  fromParent,
  listen,
  type Server,
  isShmringError,
  spawn,
  toDuplex,
  type ChannelOptions,
  type Priority,
  type ShmringError,
} from '../../dist/index.js'

export async function server(path: string): Promise<void> {
  const server: Server = listen(path, { capacity: 1 << 16 })
  server.on('connection', (channel: Channel) => void channel.send(Buffer.from('hello')))
  server.on('error', (error: Error) => console.error(error.message))
  const client: Channel = await connect(path, { timeout: 1000, signal: AbortSignal.timeout(2000) })
  client.close()
  server.unref().close()
  // @ts-expect-error a 'connection' listener gets a Channel
  server.on('connection', (channel: string) => channel)
  // @ts-expect-error the timeout is a number of ms
  void connect(path, { timeout: '1s' })
}

export async function parent(script: string): Promise<number | null> {
  const options: ChannelOptions = { capacity: 1 << 20, highCapacity: 1 << 16 }
  const { child, channel } = spawn(process.execPath, [script], { stdio: 'inherit', channel: options })
  const sent: boolean = channel.trySend(Buffer.from('ping'))
  await channel.send(new Uint8Array([1, 2, 3]), { priority: 'critical', signal: AbortSignal.timeout(1000) })
  const reply: Buffer = await channel.recv({ signal: AbortSignal.timeout(1000) })
  const waiting: Buffer | null = channel.tryRecv()
  const length: number | null = channel.recvInto(Buffer.alloc(64))
  const batch: Buffer[] = channel.tryRecvBatch(16)
  const accepted: number = channel.trySendBatch([Buffer.from('a'), new Uint8Array(2)], 'high')
  const ratio: number = channel.fill('normal')
  const max: number = channel.maxMessageLength('low')
  const side: 'A' | 'B' = channel.side
  channel.on('message', (message) => {
    const copy: Buffer = message
    void copy
  })
  channel.on('error', (error) => {
    const code: ShmringError['code'] = error.code
    void code
  })
  channel.once('drain', () => {})
  channel.unref().ref()
  for await (const message of channel) {
    const bytes: Buffer = message
    void bytes
    break
  }
  const stream = toDuplex(channel)
  stream.write(Buffer.from('via stream'))
  void [sent, reply, waiting, length, batch, accepted, ratio, max, side]
  channel.close()
  const [exitCode] = (await once(child, 'exit')) as [number | null]
  return exitCode
}

export async function childSide(): Promise<void> {
  await using channel = fromParent()
  for await (const message of channel) await channel.send(message)
}

export function errors(e: unknown): string {
  const closed: 'ERR_SHMRING_CLOSED' = codes.CLOSED
  if (isShmringError(e, codes.PEER_DEAD)) return e.code
  if (isShmringError(e)) return `${e.message} (${e.code})`
  return closed
}

export function disposable(): void {
  using channel = Channel.create()
  const priorities: Priority[] = ['critical', 'high', 'normal', 'low']
  for (const priority of priorities) channel.fill(priority)
}

export function wrongCalls(channel: Channel): void {
  // @ts-expect-error 'urgent' is not a Priority
  channel.trySend(Buffer.from('x'), 'urgent')
  // @ts-expect-error a number is not a Buffer
  channel.trySend(42)
  // @ts-expect-error a string is not a Buffer
  void channel.send('text')
  // @ts-expect-error 'urgent' is not a Priority
  void channel.send(Buffer.from('x'), { priority: 'urgent' })
  // @ts-expect-error a signal must be an AbortSignal
  void channel.recv({ signal: 'soon' })
  // @ts-expect-error capacities are numbers
  Channel.create({ capacity: '4096' })
  // @ts-expect-error trySendBatch takes an array of buffers
  channel.trySendBatch(Buffer.from('x'))
  // @ts-expect-error the constructor is private: use Channel.create() or spawn()
  new Channel()
  // @ts-expect-error 'urgent' is not a Priority
  const priority: Priority = 'urgent'
  void priority
  // @ts-expect-error there is no such code
  void codes.NOPE
  // @ts-expect-error a 'message' listener gets a Buffer, not a string
  channel.on('message', (message: string) => message)
  // @ts-expect-error spawn() needs a command
  spawn()
}
