/**
 * shmring: shared-memory messaging between processes on one machine.
 *
 * ```ts
 * import { spawn } from 'shmring'
 * const { child, channel } = spawn(process.execPath, ['worker.js'])
 * await channel.send(Buffer.from('ping'))
 * const reply = await channel.recv()
 * ```
 */
export { Channel, DEFAULT_SPIN_MICROS, MAX_PER_TURN } from './channel'
export type { ChannelEvents, ChannelOptions, Priority, RecvOptions, SendOptions } from './channel'
export { codes, isShmringError } from './errors'
export type { ErrorCode, ShmringError } from './errors'
export { FD_ENV, fromParent, HANDLE_ENV, spawn } from './spawn'
export type { SpawnedChild, SpawnOptions } from './spawn'
export { connect, DEFAULT_CONNECT_TIMEOUT, listen, Server } from './server'
export type { ConnectOptions, ServerEvents } from './server'
export { toDuplex } from './stream'
