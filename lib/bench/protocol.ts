/**
 * The workload every transport carries, identical for all. The low 2 bits of byte 0 say what
 * the peer does with a message:
 *
 * - `ECHO`: send it back unchanged (the parent checks the echo);
 * - `COUNT`: check it and count it (one-way streams; sequence numbers must arrive in order);
 * - `END`: reply with the count and bytes of the COUNT messages since the last END;
 * - `STATS`: reply with the peer's CPU time and voluntary context switches so far.
 *
 * Message layout (any size ≥ 1 byte): byte 0 = kind | (seq & 63) << 2; bytes 1..4 = seq
 * (messages ≥ 5 bytes); last 4 bytes = ~seq (messages ≥ 9 bytes); the rest a fixed pattern, of
 * which 8 bytes spread over the message are checked. A lost, reordered, truncated or torn
 * message fails the run, at a cost that does not grow with the message size.
 */
export const ECHO = 0
export const COUNT = 1
export const END = 2
export const STATS = 3

/** One-way batches hold at most this many bytes (and at most `MAX_BATCH` messages). */
export const BATCH_BYTES = 256 << 10
export const MAX_BATCH = 256

/** Messages per one-way batch of `size`-byte messages: the same for every transport. */
export function batchCount(size: number): number {
  return Math.max(1, Math.min(MAX_BATCH, Math.floor(BATCH_BYTES / size)))
}

const PATTERN_CHECKS = 8

function pattern(i: number): number {
  return (i * 31 + 7) & 255
}

/** A `size`-byte message filled with the pattern, stamped as message `seq` of `kind`. */
export function message(kind: number, size: number, seq = 0): Buffer {
  const buf = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) buf[i] = pattern(i)
  stamp(buf, kind, seq)
  return buf
}

/** Writes `kind` and `seq` into `buf` (a message made by `message`). */
export function stamp(buf: Buffer, kind: number, seq: number): void {
  const n = buf.length
  buf[0] = kind | ((seq & 63) << 2)
  if (n >= 5) writeWord(buf, 1, seq)
  if (n >= 9) writeWord(buf, n - 4, ~seq)
}

// Little-endian 32-bit words by element access: what V8 compiles best (the stamp and the
// check run once per message, and at 10 M messages/s every nanosecond shows).
function writeWord(buf: Buffer, at: number, word: number): void {
  buf[at] = word
  buf[at + 1] = word >>> 8
  buf[at + 2] = word >>> 16
  buf[at + 3] = word >>> 24
}

/** The word `writeWord` wrote, as a signed 32-bit integer (compare with `seq | 0`, `~seq`). */
function readInt32(buf: Buffer, at: number): number {
  return buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)
}

export function kindOf(buf: Uint8Array): number {
  return buf[0]! & 3
}

/** Why `buf` is not message `seq` of `kind` and `size` bytes, or null if it is. */
export function check(buf: Buffer, kind: number, seq: number, size: number): string | null {
  return checkAt(buf, 0, buf.length, kind, seq, size)
}

/**
 * `check` for the `n` bytes at `offset` of `buf` (a packed receive buffer or a socket chunk),
 * read in place: a receiver that gets many messages in one buffer need not make a view of each.
 */
export function checkAt(buf: Buffer, offset: number, n: number, kind: number, seq: number, size: number): string | null {
  // The common case in int32 arithmetic only (no number leaves the small-integer range), the
  // description of a problem only when there is one: this runs once per message.
  if (
    n === size &&
    buf[offset] === (kind | ((seq & 63) << 2)) &&
    (n < 5 || readInt32(buf, offset + 1) === (seq | 0)) &&
    (n < 9 || readInt32(buf, offset + n - 4) === ~seq) &&
    (n <= 9 || patternIntact(buf, offset, n))
  ) {
    return null
  }
  return problemAt(buf, offset, n, kind, seq, size)
}

/** Why the message at `offset` failed `checkAt`. */
function problemAt(buf: Buffer, offset: number, n: number, kind: number, seq: number, size: number): string {
  if (n !== size) return `message ${seq}: ${n} bytes, expected ${size}`
  if (buf[offset] !== (kind | ((seq & 63) << 2))) return `message ${seq}: wrong first byte ${buf[offset]}`
  if (n >= 5 && readInt32(buf, offset + 1) !== (seq | 0)) return `message ${seq}: carries sequence number ${readInt32(buf, offset + 1) >>> 0}`
  if (n >= 9 && readInt32(buf, offset + n - 4) !== ~seq) return `message ${seq}: torn (wrong tail stamp)`
  if (n > 9) {
    const at = patternPositions(n)
    for (let s = 0; s < PATTERN_CHECKS; s++) {
      if (buf[offset + at[s]!] !== pattern(at[s]!)) return `message ${seq}: byte ${at[s]} is ${buf[offset + at[s]!]}, expected ${pattern(at[s]!)}`
    }
  }
  return `message ${seq}: fails the check` // unreachable: checkAt and problemAt test the same
}

function patternIntact(buf: Buffer, offset: number, n: number): boolean {
  const at = patternPositions(n)
  for (let s = 0; s < PATTERN_CHECKS; s++) {
    if (buf[offset + at[s]!] !== expected[s]) return false
  }
  return true
}

/** Where the pattern is checked in an `n`-byte message: 8 bytes spread between the stamps. */
function patternPositions(n: number): Int32Array {
  if (n !== positionsFor) {
    for (let s = 0; s < PATTERN_CHECKS; s++) {
      positions[s] = 5 + Math.floor((s * (n - 9)) / PATTERN_CHECKS)
      expected[s] = pattern(positions[s]!)
    }
    positionsFor = n
  }
  return positions
}
const positions = new Int32Array(PATTERN_CHECKS)
const expected = new Uint8Array(PATTERN_CHECKS)
let positionsFor = -1

/** The state of a serving peer (one per connection). */
export interface PeerState {
  counted: number
  bytes: number
}

export function newState(): PeerState {
  return { counted: 0, bytes: 0 }
}

/** What a peer does with one message: returns the reply to send, or null. Throws on a bad message. */
export function respond(m: Buffer, state: PeerState): Buffer | null {
  switch (kindOf(m)) {
    case ECHO:
      return m
    case COUNT: {
      const problem = check(m, COUNT, state.counted, m.length)
      if (problem) throw new Error(`benchmark peer: one-way ${problem}`)
      state.counted++
      state.bytes += m.length
      return null
    }
    case END: {
      const reply = Buffer.alloc(17)
      reply[0] = END
      reply.writeDoubleLE(state.counted, 1)
      reply.writeDoubleLE(state.bytes, 9)
      state.counted = 0
      state.bytes = 0
      return reply
    }
    default: {
      const usage = process.resourceUsage()
      const reply = Buffer.alloc(17)
      reply[0] = STATS
      reply.writeDoubleLE(usage.userCPUTime + usage.systemCPUTime, 1)
      reply.writeDoubleLE(usage.voluntaryContextSwitches, 9)
      return reply
    }
  }
}

/**
 * `respond` to the `len`-byte message at `offset` of `buf`: one-way (COUNT) messages, the
 * stream, are checked in place, without a view per message (what a receiver of many messages
 * per buffer would do: the packed shmring receive, a socket chunk); the rest get a view.
 */
export function respondAt(buf: Buffer, offset: number, len: number, state: PeerState): Buffer | null {
  if (len === 0 || (buf[offset]! & 3) !== COUNT) return respond(buf.subarray(offset, offset + len), state)
  const problem = checkAt(buf, offset, len, COUNT, state.counted, len)
  if (problem) throw new Error(`benchmark peer: one-way ${problem}`)
  state.counted++
  state.bytes += len
  return null
}

/** A parent's request for the peer's CPU time so far. */
export const statsRequest = (): Buffer => Buffer.from([STATS])
/** A parent's request for the count of one-way messages since the last END. */
export const endRequest = (): Buffer => Buffer.from([END])

/** CPU microseconds and voluntary context switches, from a STATS reply. */
export function readStats(reply: Buffer): { cpuMicros: number; wakeups: number } {
  if (reply.length !== 17 || reply[0] !== STATS) throw new Error('benchmark: malformed STATS reply')
  return { cpuMicros: reply.readDoubleLE(1), wakeups: reply.readDoubleLE(9) }
}

/** Messages and bytes counted, from an END reply. */
export function readEnd(reply: Buffer): { counted: number; bytes: number } {
  if (reply.length !== 17 || reply[0] !== END) throw new Error('benchmark: malformed END reply')
  return { counted: reply.readDoubleLE(1), bytes: reply.readDoubleLE(9) }
}
