/** Two sides of one channel inside this process: A creates, B attaches through a duplicate fd. */
import { closeSync } from 'node:fs'

import { Channel, type ChannelOptions } from '../../lib/index.js'

export function pair(options?: ChannelOptions): [Channel, Channel] {
  const a = Channel.create(options)
  const fd = a.shareFd()
  const b = Channel.fromFd(fd)
  closeSync(fd) // the channel keeps its own duplicate
  return [a, b]
}

/** A message carrying `seq` and a checksum, `size` bytes long (>= 16). */
export function message(seq: number, size: number): Buffer {
  const buf = Buffer.alloc(Math.max(16, size))
  buf.writeUInt32LE(seq, 0)
  for (let i = 16; i < buf.length; i++) buf[i] = (seq * 31 + i) & 0xff
  buf.writeUInt32LE(checksum(buf), 4)
  return buf
}

/** Verifies a `message()`: returns its sequence number or throws. */
export function verify(buf: Buffer): number {
  const seq = buf.readUInt32LE(0)
  const sum = buf.readUInt32LE(4)
  if (checksum(buf) !== sum) throw new Error(`checksum mismatch in message ${seq} (${buf.length} bytes)`)
  return seq
}

function checksum(buf: Buffer): number {
  let h = 0x811c9dc5
  for (let i = 16; i < buf.length; i++) h = Math.imul(h ^ buf[i]!, 0x01000193) >>> 0
  return (h ^ buf.length) >>> 0
}

/** Deterministic sizes: xorshift32. */
export function sizes(seed: number, max: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return 16 + (x % (max - 16))
  }
}
