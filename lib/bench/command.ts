/**
 * `shmring bench`: its options, usage text and driver (progress display, output files). Loads
 * the runner (and with it the native binary) only when the benchmark runs, so `--help` works
 * without it.
 */
import { writeFileSync } from 'node:fs'

import type { Progress } from './run'
import { parseSize } from './stats'

const TRANSPORTS = 'shmring-sync, shmring-async, shmring-async-nospin, uds, tcp, ipc-json,\n                    ipc-advanced, worker, rust; shmring-held (idle table only)'

export const benchUsage = `Measures shmring beside a Unix domain socket, localhost TCP, child_process IPC (json and
advanced serialization) and worker_threads postMessage (in-process), between two real processes,
in one run, plus a Rust↔Rust shmring pair as the native ceiling: per message size, round-trip
latency p50/p99/p99.9, one-way messages/s and MB/s, CPU time per message of both processes; and
the CPU used by idle receivers. Every figure is the median [min–max] of several runs.

Bench options:
  --quick           3 runs of sizes 64 B, 4 KiB and 1 MiB, short budgets (under a minute)
  --sizes LIST      message sizes, e.g. 1,64,1K,4K,64K,1M (the default); --size is an alias
  --runs N          runs, each with fresh processes (default 3)
  --samples N       most timed round trips per size and run (default 100000; fewer if
                    --duration runs out first: the report gives the count per row)
  --duration S      seconds per size and run: round-trip budget and one-way stream length
                    (default 1; --seconds is an alias)
  --idle S          seconds the idle receivers wait (default 5; 1 with --quick; 0 skips it)
  --only LIST       transports: ${TRANSPORTS}
  --rust            build the Rust ceiling (cargo build --release -p shmring-bench) if missing;
                    --no-rust skips it (by default it runs if already built); the same binary
                    measures the cache-line floor before each transport's run (the placement)
  --json FILE       write every figure as JSON
  --md FILE         write the markdown report (between its markers if FILE has them, so the
                    rest of FILE is kept; else appended)
  --svg FILE        write the charts: FILE-latency.svg and FILE-throughput.svg (.svg dropped)
  -h, --help        this text
`

/** The `parseArgs` options of `shmring bench`. */
export const benchOptions = {
  quick: { type: 'boolean' },
  sizes: { type: 'string' },
  size: { type: 'string' },
  runs: { type: 'string' },
  samples: { type: 'string' },
  duration: { type: 'string' },
  seconds: { type: 'string' },
  idle: { type: 'string' },
  only: { type: 'string' },
  rust: { type: 'boolean' },
  'no-rust': { type: 'boolean' },
  json: { type: 'string' },
  md: { type: 'string' },
  svg: { type: 'string' },
} as const

export type BenchValues = { [K in keyof typeof benchOptions]?: (typeof benchOptions)[K]['type'] extends 'boolean' ? boolean : string }

function positive(text: string | undefined, fallback: number, name: string, integer: boolean, zero = false): number {
  if (text === undefined) return fallback
  const n = Number(text)
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < 0 || (n === 0 && !zero)) throw new Error(`--${name}: "${text}" is not a ${integer ? 'whole' : ''} number${zero ? ' ≥ 0' : ' > 0'}`)
  return n
}

export async function benchCommand(values: BenchValues): Promise<number> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { DEFAULT_SIZES, runBenchmark } = require('./run') as typeof import('./run')
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { markdown, writeMarkdown } = require('./report') as typeof import('./report')
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { charts, svgPaths } = require('./svg') as typeof import('./svg')
  const quick = values.quick === true
  const sizesText = values.sizes ?? values.size
  const sizes = sizesText === undefined ? (quick ? [64, 4096, 1 << 20] : DEFAULT_SIZES) : sizesText.split(',').map(parseSize)
  const tty = process.stderr.isTTY === true
  const started = Date.now()
  const report = await runBenchmark({
    runs: positive(values.runs, 3, 'runs', true),
    sizes: [...new Set(sizes)].sort((a, b) => a - b),
    samples: positive(values.samples, quick ? 20_000 : 100_000, 'samples', true),
    duration: positive(values.duration ?? values.seconds, quick ? 0.1 : 1, 'duration', false),
    idle: positive(values.idle, quick ? 1 : 5, 'idle', false, true),
    only: values.only?.split(',').map((s) => s.trim()),
    rust: values['no-rust'] ? 'off' : values.rust ? 'build' : 'auto',
    progress: (p: Progress) => {
      const elapsed = Math.round((Date.now() - started) / 1000)
      const line = `[${p.step}/${p.steps}] ${p.what} (${elapsed} s)`
      if (!tty) return void process.stderr.write(`${line}\n`)
      const width = 20
      const done = Math.round((width * (p.step - 1)) / p.steps)
      process.stderr.write(`\r\x1b[K${'█'.repeat(done)}${'░'.repeat(width - done)} ${line}`)
    },
  })
  if (tty) process.stderr.write('\r\x1b[K')
  const md = markdown(report)
  process.stdout.write(md)
  if (values.md) writeMarkdown(values.md, md)
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n')
  if (values.svg) {
    const svg = charts(report)
    const paths = svgPaths(values.svg)
    writeFileSync(paths.latency, svg.latency)
    writeFileSync(paths.throughput, svg.throughput)
  }
  for (const file of [values.md, values.json, ...(values.svg ? Object.values(svgPaths(values.svg)) : [])]) if (file) process.stderr.write(`shmring bench: wrote ${file}\n`)
  return 0
}
