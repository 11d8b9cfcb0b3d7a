/** Length-prefixed framing (4-byte little-endian length) for the byte-stream transports. */
import type { Socket } from 'node:net'

export function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + message.length)
  out.writeUInt32LE(message.length, 0)
  out.set(message, 4)
  return out
}

/** Calls `onMessage` for every complete frame arriving on `socket`. */
export function readFrames(socket: Socket, onMessage: (message: Buffer) => void): void {
  let pending: Buffer = Buffer.alloc(0)
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    let offset = 0
    while (pending.length - offset >= 4) {
      const len = pending.readUInt32LE(offset)
      if (pending.length - offset - 4 < len) break
      onMessage(pending.subarray(offset + 4, offset + 4 + len))
      offset += 4 + len
    }
    pending = offset === pending.length ? Buffer.alloc(0) : pending.subarray(offset)
  })
}
