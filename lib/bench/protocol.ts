/**
 * The workload every transport carries, identical for all: byte 0 of a message says what the
 * peer does with it. `ECHO`: send it back unchanged. `COUNT`: count it. `END`: reply with an
 * 8-byte message holding the number of COUNT messages received since the last END.
 * Bytes 1..8 of ECHO/COUNT messages hold a sequence number that the parent checks.
 */
export const ECHO = 0
export const COUNT = 1
export const END = 2

export function payload(kind: number, size: number, seq = 0): Buffer {
  const buf = Buffer.alloc(Math.max(size, 9))
  buf[0] = kind
  buf.writeUInt32LE(seq >>> 0, 1)
  return size >= 9 ? buf : buf.subarray(0, Math.max(size, 9))
}

/** What a peer does with one message: returns the reply to send, or null. */
export function respond(message: Uint8Array, state: { counted: number }): Buffer | Uint8Array | null {
  switch (message[0]) {
    case ECHO:
      return message
    case COUNT:
      state.counted++
      return null
    case END: {
      const reply = Buffer.alloc(9)
      reply[0] = END
      reply.writeUInt32LE(state.counted >>> 0, 1)
      state.counted = 0
      return reply
    }
    default:
      throw new Error(`benchmark protocol: unknown message kind ${message[0]}`)
  }
}
