/** Length-prefixed framing (4-byte little-endian length) for the byte-stream transports. */
import type { Socket } from 'node:net'

export function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + message.length)
  out.writeUInt32LE(message.length, 0)
  out.set(message, 4)
  return out
}

/**
 * Calls `onMessage(buffer, offset, length)` for every complete frame arriving on `socket` (the
 * frame is `buffer[offset..offset + length]`, valid during the call). Chunks of a large frame
 * are collected and joined once, when the frame is complete (not re-joined per chunk).
 */
export function readFrames(socket: Socket, onMessage: (buffer: Buffer, offset: number, length: number) => void): void {
  let chunks: Buffer[] = []
  let buffered = 0
  let needed = 4 // bytes that must be buffered before the next step can proceed
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk)
    buffered += chunk.length
    if (buffered < needed) return
    let pending = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, buffered)
    let offset = 0
    for (;;) {
      if (pending.length - offset < 4) {
        needed = 4
        break
      }
      const len = pending.readUInt32LE(offset)
      if (pending.length - offset - 4 < len) {
        needed = 4 + len
        break
      }
      onMessage(pending, offset + 4, len)
      offset += 4 + len
    }
    pending = pending.subarray(offset)
    chunks = pending.length === 0 ? [] : [pending]
    buffered = pending.length
  })
}
