/**
 * The benchmark runner, shared by every transport: the same sizes, warm-up, timer, sample
 * budget and checks for all, in the same run. Per run, each transport gets fresh processes
 * and sweeps every size (round trips, then a one-way stream), then all idle receivers wait
 * together. Replies and one-way messages are checked (`protocol.ts`): a lost or corrupted
 * message fails the run instead of flattering it.
 */
import { cpus, release, type } from 'node:os'
import { performance } from 'node:perf_hooks'

import { BATCH_BYTES, batchCount, check, checkAt, COUNT, ECHO, MAX_BATCH, endRequest, message, readEnd, readStats, stamp, statsRequest } from './protocol'
import { measureFloor, rustBench, rustCeiling, type RustChoice } from './rust'
import { formatSize, latency, spread, type Latency, type Spread } from './stats'
import type { Batch, Peer, Transport } from './transport'
import { transports } from './transports/index'

export const DEFAULT_SIZES = [1, 64, 1024, 4096, 65536, 1 << 20]
/** Warm-up: the first round trips of each size, at most this many (and at most a tenth of the time budget). */
const MAX_WARMUP = 2000

export interface BenchOptions {
  runs: number
  sizes: number[]
  /** Most timed round trips per size and run (fewer if `duration` runs out first). */
  samples: number
  /** Seconds per size and run: the round-trip budget, and the length of the timed one-way stream. */
  duration: number
  /** Seconds the idle receivers wait (0: no idle measurement). */
  idle: number
  only?: string[]
  /** The Rust↔Rust ceiling row: find the binary (`auto`), also build it (`build`), or skip it (`off`). */
  rust: RustChoice
  progress?: (p: Progress) => void
}

export interface Progress {
  step: number
  steps: number
  what: string
}

export interface SizeResult {
  size: number
  rtt: {
    p50: Spread
    p99: Spread
    p999: Spread
    /** Timed round trips the percentiles rest on (the fewest of the runs). */
    samples: number
    /** CPU time of both sides per round trip, ns. */
    cpuNs: Spread
  }
  oneWay: {
    messagesPerSecond: Spread
    megabytesPerSecond: Spread
    /** CPU time of both sides per message, ns. */
    cpuNs: Spread
    /** Messages per batch handed to the transport. */
    batch: number
  }
  /** Every run's figures (Node transports; the Rust row's are in shmring-bench's own JSON). */
  runs?: SizeRun[]
}

export interface TransportResult {
  name: string
  note: string
  inProcess: boolean
  sizes: SizeResult[]
  /**
   * The cache-line floor (ns, `measureFloor`) measured just before each run of this transport:
   * where the host had put the CPUs. Absent without the Rust benchmark binary; `null` where a
   * probe failed.
   */
  floorNs?: (number | null)[]
}

export interface IdleResult {
  name: string
  note: string
  /** CPU time of the waiting receiver process, percent of one core. */
  cpuPercent: Spread
  /** Its voluntary context switches (wake-ups) per second. */
  wakeupsPerSecond: Spread
  runs: { cpuPercent: number[]; wakeupsPerSecond: number[] }
}

export interface Report {
  machine: { cpu: string; cores: number; os: string; node: string; shmring: string }
  date: string
  elapsedSeconds: number
  options: Omit<BenchOptions, 'progress'> & { batchBytes: number; maxBatch: number; maxWarmup: number }
  results: TransportResult[]
  idle: IdleResult[]
  /** The Rust↔Rust ceiling, or why it is missing. */
  rust: TransportResult | { unavailable: string }
}

/** One run of one size on one transport (exported for the tests). */
export interface SizeRun {
  rtt: Latency
  samples: number
  rttCpuNs: number
  rate: number
  oneWayCpuNs: number
}

export async function runBenchmark(options: BenchOptions): Promise<Report> {
  const chosen = transports.filter((t) => !options.only || options.only.includes(t.name))
  const known = transports.map((t) => t.name)
  for (const name of options.only ?? []) {
    if (name !== 'rust' && !known.includes(name)) throw new Error(`--only: unknown transport ${name}; known: ${known.join(', ')}, rust`)
  }
  const wantRust = options.rust !== 'off' && (!options.only || options.only.includes('rust'))
  // The Rust benchmark binary also measures the placement (the cache-line floor) before each
  // transport's run, so it is looked for (or built) first.
  const bench = options.rust === 'off' ? null : await rustBench(options.rust)
  const floorBin = bench && 'bin' in bench ? bench.bin : null
  const floors = new Map<string, (number | null)[]>(chosen.map((t) => [t.name, []]))
  const idleOf = chosen.filter((t) => !t.inProcess)
  const swept = chosen.filter((t) => !t.idleOnly)
  const steps = options.runs * (swept.length * options.sizes.length + (options.idle > 0 && idleOf.length > 0 ? 1 : 0)) + (wantRust ? 1 : 0)
  let step = 0
  const progress = (what: string) => options.progress?.({ step: ++step, steps, what })
  const started = Date.now()
  const runs = new Map<string, SizeRun[][]>(swept.map((t) => [t.name, options.sizes.map(() => [])]))
  const idleRuns = new Map<string, { cpu: number[]; wakeups: number[] }>(idleOf.map((t) => [t.name, { cpu: [], wakeups: [] }]))
  for (let run = 1; run <= options.runs; run++) {
    for (const transport of swept) {
      if (floorBin) floors.get(transport.name)!.push(await measureFloor(floorBin))
      const peer = await transport.start()
      try {
        for (const [i, size] of options.sizes.entries()) {
          progress(`${transport.name}, ${formatSize(size)}, run ${run}/${options.runs}`)
          runs.get(transport.name)![i]!.push(await measureSize(transport, peer, size, options))
        }
      } finally {
        await peer.close()
      }
    }
    if (options.idle > 0 && idleOf.length > 0) {
      progress(`idle receivers (${options.idle} s), run ${run}/${options.runs}`)
      for (const [name, r] of await measureIdle(idleOf, options.idle)) {
        idleRuns.get(name)!.cpu.push(r.cpuPercent)
        idleRuns.get(name)!.wakeups.push(r.wakeupsPerSecond)
      }
    }
  }
  const results = swept.map((t) => ({
    name: t.name,
    note: t.note,
    inProcess: t.inProcess === true,
    sizes: options.sizes.map((size, i) => summarize(size, runs.get(t.name)![i]!)),
    ...(floorBin ? { floorNs: floors.get(t.name)! } : {}),
  }))
  const idle = idleOf
    .filter(() => options.idle > 0)
    .map((t) => {
      const r = idleRuns.get(t.name)!
      return { name: t.name, note: t.note, cpuPercent: spread(r.cpu), wakeupsPerSecond: spread(r.wakeups), runs: { cpuPercent: r.cpu, wakeupsPerSecond: r.wakeups } }
    })
  let rust: Report['rust'] = { unavailable: 'not measured (--rust off or --only without rust)' }
  if (wantRust && bench) {
    progress('rust↔rust shmring ceiling (shmring-bench)')
    rust = 'bin' in bench ? await rustCeiling(bench.bin, options) : bench
  }
  const { progress: _, ...rest } = options
  return {
    machine: machine(),
    date: new Date(started).toISOString(),
    elapsedSeconds: (Date.now() - started) / 1000,
    options: { ...rest, batchBytes: BATCH_BYTES, maxBatch: MAX_BATCH, maxWarmup: MAX_WARMUP },
    results,
    idle,
    rust,
  }
}

function summarize(size: number, runs: SizeRun[]): SizeResult {
  const batch = batchCount(size)
  return {
    size,
    rtt: {
      p50: spread(runs.map((r) => r.rtt.p50)),
      p99: spread(runs.map((r) => r.rtt.p99)),
      p999: spread(runs.map((r) => r.rtt.p999)),
      samples: Math.min(...runs.map((r) => r.samples)),
      cpuNs: spread(runs.map((r) => r.rttCpuNs)),
    },
    oneWay: {
      messagesPerSecond: spread(runs.map((r) => r.rate)),
      megabytesPerSecond: spread(runs.map((r) => (r.rate * size) / 1e6)),
      cpuNs: spread(runs.map((r) => r.oneWayCpuNs)),
      batch,
    },
    runs,
  }
}

/** Nanoseconds on a monotonic clock: `performance.now()`, the cheapest high-resolution clock
 * in Node (one read is part of every round-trip sample, for every transport alike). */
const now = () => performance.now() * 1e6

/** CPU microseconds used so far by both sides (the peer's through a STATS request). */
async function cpuMicros(transport: Transport, peer: Peer): Promise<number> {
  const own = process.cpuUsage()
  if (transport.inProcess) return own.user + own.system // the whole process: both threads
  return own.user + own.system + readStats(await peer.request(statsRequest())).cpuMicros
}

export async function measureSize(transport: Transport, peer: Peer, size: number, options: BenchOptions): Promise<SizeRun> {
  const name = `${transport.name}, ${formatSize(size)}`
  const budgetNs = options.duration * 1e9
  // Round trips: warm-up, then timed ones until `samples` or the time budget is reached.
  const ping = message(ECHO, size)
  // One byte more than the echo: a longer reply is reported as a wrong echo, not as a full buffer.
  const into = peer.requestSync ? Buffer.alloc(size + 1) : null
  const roundTrip = async (seq: number): Promise<number> => {
    stamp(ping, ECHO, seq)
    let start: number, elapsed: number, problem: string | null
    if (into) {
      start = now()
      const length = peer.requestSync!(ping, into)
      elapsed = now() - start
      problem = checkAt(into, 0, length, ECHO, seq, size)
    } else {
      start = now()
      const reply = await peer.request(ping)
      elapsed = now() - start
      problem = check(reply, ECHO, seq, size)
    }
    if (problem) throw new Error(`${name}: wrong echo: ${problem}`)
    return elapsed
  }
  let seq = 0
  const warmupEnd = now() + budgetNs / 10
  const warmup = Math.min(MAX_WARMUP, Math.ceil(options.samples / 10))
  while (seq < warmup && now() < warmupEnd) await roundTrip(seq++)
  const samples: number[] = []
  let cpuBefore = await cpuMicros(transport, peer)
  const end = now() + budgetNs
  while (samples.length < options.samples && (samples.length === 0 || now() < end)) samples.push(await roundTrip(seq++))
  const rttCpuNs = ((await cpuMicros(transport, peer)) - cpuBefore) * 1000 / samples.length

  // One way: an untimed tenth of the duration, then the timed stream; END (which travels
  // behind the data) returns when the peer has checked and counted every message.
  const batch = makeBatch(size, batchCount(size))
  let next = 0
  const stream = async (ns: number): Promise<number> => {
    const until = now() + ns
    const first = next
    do {
      for (let i = 0; i < batch.messages.length; i++) stamp(batch.messages[i]!, COUNT, next + i)
      await peer.sendMany(batch)
      next += batch.messages.length
    } while (now() < until)
    return next - first
  }
  const settle = async (expected: number) => {
    const { counted, bytes } = readEnd(await peer.request(endRequest()))
    if (counted !== expected || bytes !== expected * size) throw new Error(`${name}: the peer counted ${counted} one-way messages (${bytes} bytes) of ${expected} sent`)
  }
  await settle(await stream(budgetNs / 10))
  next = 0
  cpuBefore = await cpuMicros(transport, peer)
  const start = now()
  const sent = await stream(budgetNs)
  await settle(sent)
  const seconds = (now() - start) / 1e9
  const oneWayCpuNs = ((await cpuMicros(transport, peer)) - cpuBefore) * 1000 / sent
  return { rtt: latency(samples), samples: samples.length, rttCpuNs, rate: sent / seconds, oneWayCpuNs }
}

function makeBatch(size: number, count: number): Batch {
  const packed = Buffer.concat(Array.from({ length: count }, () => message(COUNT, size)))
  const messages = Array.from({ length: count }, (_, i) => packed.subarray(i * size, (i + 1) * size))
  return { messages, packed, lengths: new Uint32Array(count).fill(size) }
}

/**
 * Every receiver connected at the same time, nothing sent for `seconds`: each one's CPU time
 * and voluntary context switches over the wait, from STATS requests before and after.
 */
async function measureIdle(chosen: Transport[], seconds: number): Promise<Map<string, { cpuPercent: number; wakeupsPerSecond: number }>> {
  const peers: [Transport, Peer][] = []
  try {
    for (const t of chosen) peers.push([t, await t.start()])
    await sleep(200) // start-up work (module loading, first timers) is not idle time
    const before = await Promise.all(peers.map(async ([, p]) => readStats(await p.request(statsRequest()))))
    const start = now()
    await sleep(seconds * 1000)
    const after = await Promise.all(peers.map(async ([, p]) => readStats(await p.request(statsRequest()))))
    const wallSeconds = (now() - start) / 1e9
    return new Map(
      peers.map(([t], i) => [
        t.name,
        {
          cpuPercent: (100 * (after[i]!.cpuMicros - before[i]!.cpuMicros)) / 1e6 / wallSeconds,
          wakeupsPerSecond: (after[i]!.wakeups - before[i]!.wakeups) / wallSeconds,
        },
      ]),
    )
  } finally {
    for (const [, p] of peers) await p.close()
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))


function machine(): Report['machine'] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { version } = require('../../package.json') as { version: string }
  return { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, os: `${type()} ${release()}`, node: process.version, shmring: version }
}
