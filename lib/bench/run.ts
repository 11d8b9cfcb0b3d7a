/**
 * The benchmark runner: every transport gets the same workload, warm-up, timer and sample
 * count, in the same run. Replies are checked (sequence numbers, counts): a lost or corrupted
 * message fails the run instead of flattering it.
 */
import { cpus, release, type } from 'node:os'

import { latency, spread, type Latency, type Spread } from './stats'
import { COUNT, ECHO, END, payload } from './protocol'
import { transports, type Transport } from './transports'

export interface BenchOptions {
  runs: number
  /** Round-trip samples per run (after `warmup`). */
  samples: number
  warmup: number
  /** Seconds of one-way streaming per run. */
  seconds: number
  size: number
  only?: string[]
  progress?: (line: string) => void
}

export interface TransportResult {
  name: string
  note: string
  rtt: { p50: Spread; p99: Spread; p999: Spread }
  oneWay: Spread
}

export interface Report {
  machine: { cpu: string; cores: number; os: string; node: string; shmring: string }
  options: Omit<BenchOptions, 'progress'>
  results: TransportResult[]
}

export async function runBenchmark(options: BenchOptions): Promise<Report> {
  const chosen = transports.filter((t) => !options.only || options.only.includes(t.name))
  if (chosen.length === 0) throw new Error(`no transport matches --only ${options.only?.join(',')}; known: ${transports.map((t) => t.name).join(', ')}`)
  const results: TransportResult[] = []
  for (const transport of chosen) {
    const rtts: Latency[] = []
    const rates: number[] = []
    for (let run = 1; run <= options.runs; run++) {
      options.progress?.(`${transport.name}: run ${run}/${options.runs}`)
      const { rtt, rate } = await measure(transport, options)
      rtts.push(rtt)
      rates.push(rate)
    }
    results.push({
      name: transport.name,
      note: transport.note,
      rtt: { p50: spread(rtts.map((r) => r.p50)), p99: spread(rtts.map((r) => r.p99)), p999: spread(rtts.map((r) => r.p999)) },
      oneWay: spread(rates),
    })
  }
  const { progress: _, ...rest } = options
  return { machine: machine(), options: rest, results }
}

async function measure(transport: Transport, options: BenchOptions): Promise<{ rtt: Latency; rate: number }> {
  const peer = await transport.start()
  try {
    const samples: number[] = []
    for (let i = 0; i < options.warmup + options.samples; i++) {
      const message = payload(ECHO, options.size, i)
      const start = process.hrtime.bigint()
      const reply = peer.requestSync ? peer.requestSync(message) : await peer.request(message)
      const elapsed = Number(process.hrtime.bigint() - start)
      if (reply.readUInt32LE(1) !== i >>> 0 || reply.length !== message.length) throw new Error(`${transport.name}: wrong echo for message ${i}`)
      if (i >= options.warmup) samples.push(elapsed)
    }
    const batch = Array.from({ length: 256 }, (_, i) => payload(COUNT, options.size, i))
    let sent = 0
    const start = process.hrtime.bigint()
    const until = start + BigInt(Math.round(options.seconds * 1e9))
    while (process.hrtime.bigint() < until) {
      await peer.sendMany(batch)
      sent += batch.length
    }
    const reply = await peer.request(payload(END, options.size))
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    const counted = reply.readUInt32LE(1)
    if (reply[0] !== END || counted !== sent >>> 0) throw new Error(`${transport.name}: peer counted ${counted} of ${sent} one-way messages`)
    return { rtt: latency(samples), rate: sent / seconds }
  } finally {
    await peer.close()
  }
}

function machine(): Report['machine'] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { version } = require('../../package.json') as { version: string }
  return { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, os: `${type()} ${release()}`, node: process.version, shmring: version }
}

/** The report as markdown: one row per transport, medians with min–max, ratios to the best alternative. */
export function markdown(report: Report): string {
  const { machine: m, options: o } = report
  const us = (ns: number) => (ns / 1000).toFixed(ns < 10_000 ? 2 : 1)
  const cell = (s: Spread, f: (n: number) => string) => `${f(s.median)} (${f(s.min)}–${f(s.max)})`
  const alternatives = report.results.filter((r) => !r.name.startsWith('shmring'))
  const bestRtt = Math.min(...alternatives.map((r) => r.rtt.p50.median))
  const bestRate = Math.max(...alternatives.map((r) => r.oneWay.median))
  const lines = [
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.os}, Node ${m.node}, shmring ${m.shmring}.`,
    `Workload: ${o.size} B messages; ${o.samples} round trips per run after ${o.warmup} warm-up; ${o.seconds} s of one-way streaming (batches of 256); ${o.runs} runs; median (min–max) over runs.`,
    '',
    '| transport | how it waits | RTT p50 µs | RTT p99 µs | RTT p99.9 µs | one-way msg/s | vs best alternative (RTT p50 / msg/s) |',
    '|---|---|---|---|---|---|---|',
  ]
  for (const r of report.results) {
    const ratio = r.name.startsWith('shmring') && alternatives.length > 0
      ? `${(bestRtt / r.rtt.p50.median).toFixed(1)}× faster / ${(r.oneWay.median / bestRate).toFixed(1)}×`
      : ''
    lines.push(`| ${r.name} | ${r.note} | ${cell(r.rtt.p50, us)} | ${cell(r.rtt.p99, us)} | ${cell(r.rtt.p999, us)} | ${cell(r.oneWay, (n) => (n / 1e6).toFixed(2) + ' M')} | ${ratio} |`)
  }
  return lines.join('\n') + '\n'
}
