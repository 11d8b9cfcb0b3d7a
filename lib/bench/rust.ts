/**
 * The native ceiling row: two Rust processes on shmring, spinning, from the workspace
 * benchmark (`benchmark/rust`, binary `shmring-bench`), run with the same sizes, runs,
 * sample budget and duration. A user who only has `npx` gets the row marked as not available.
 * The same binary measures the placement (the cache-line floor) before each transport's run.
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'

import type { BenchOptions, SizeResult, TransportResult } from './run'
import { batchCount } from './protocol'
import type { Spread } from './stats'

export type RustChoice = 'auto' | 'build' | 'off'

const BUILD = 'cargo build --release -p shmring-bench'
const exe = process.platform === 'win32' ? 'shmring-bench.exe' : 'shmring-bench'

/** The workspace root (the directory with `benchmark/rust/Cargo.toml`) above this file, if any. */
function workspace(): string | null {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'benchmark', 'rust', 'Cargo.toml'))) return dir
    if (dirname(dir) === dir) return null
  }
}

/** `SHMRING_BENCH_BIN`, else `$CARGO_TARGET_DIR/release/shmring-bench`, else `<workspace>/target/release/shmring-bench`. */
export function findRustBench(): string | null {
  const root = workspace()
  const candidates = [
    process.env.SHMRING_BENCH_BIN,
    process.env.CARGO_TARGET_DIR && join(process.env.CARGO_TARGET_DIR, 'release', exe),
    root && join(root, 'target', 'release', exe),
  ]
  return candidates.find((c): c is string => !!c && existsSync(c)) ?? null
}

interface Figure {
  key: string
  unit: string
  median: number
  min: number
  max: number
  runs: number[]
}

/** The `shmring-bench` binary: found, or built first when `choice` is `build`; else why not. */
export async function rustBench(choice: Exclude<RustChoice, 'off'>): Promise<{ bin: string } | { unavailable: string }> {
  let bin = findRustBench()
  const root = workspace()
  if (!bin && choice === 'build' && root) {
    try {
      await promisify(execFile)('cargo', ['build', '--release', '-p', 'shmring-bench'], { cwd: root, maxBuffer: 1 << 26 })
    } catch (e) {
      return { unavailable: `not available: ${BUILD} failed (${(e as Error).message.split('\n')[0]})` }
    }
    bin = findRustBench()
  }
  if (!bin) return { unavailable: `not available (build it with \`${BUILD}\` in a checkout of the repository, or pass --rust to let the benchmark build it)` }
  return { bin }
}

/**
 * The cache-line floor: p50 in ns of a round trip of one `AtomicU64` each way between two
 * processes (`shmring-bench --only rt.floor`, one short run). It says where the host had put the
 * two CPUs at that moment; on a VM it can change several-fold within minutes, and every
 * shared-memory figure with it. `null` if the binary failed.
 */
export async function measureFloor(bin: string): Promise<number | null> {
  try {
    const figures = await benchFigures(bin, ['--only', 'rt.floor', '--runs', '1', '--samples', '20000', '--warmup', '2000'], 60_000)
    return figures.find((f) => f.key === 'rt.floor.p50')?.median ?? null
  } catch {
    return null
  }
}

/** Runs `shmring-bench args --json <temp file>` and returns the figures it wrote. */
async function benchFigures(bin: string, args: string[], timeout: number): Promise<Figure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'shmring-bench-'))
  try {
    const json = join(dir, 'figures.json')
    await promisify(execFile)(bin, [...args, '--json', json], { maxBuffer: 1 << 26, timeout })
    return (JSON.parse(readFileSync(json, 'utf8')) as { figures: Figure[] }).figures
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export async function rustCeiling(bin: string, options: Pick<BenchOptions, 'sizes' | 'runs' | 'samples' | 'duration'>): Promise<TransportResult | { unavailable: string }> {
  const args = ['--only', 'sizes', '--sizes', options.sizes.join(','), '--runs', String(options.runs), '--samples', String(options.samples)]
  args.push('--duration', String(options.duration))
  let figures: Figure[]
  try {
    figures = await benchFigures(bin, args, 600_000)
  } catch (e) {
    const why = (e as Error).message.split('\n')[0]
    return { unavailable: `not available: ${bin} ${args.join(' ')} failed (${why}); an older build without --sizes? rebuild it with \`${BUILD}\`` }
  }
  try {
    const get = (key: string): Spread => {
      const f = figures.find((x) => x.key === key)
      if (!f) throw new Error(`shmring-bench did not report ${key} (an older binary? rebuild it with ${BUILD})`)
      return { median: f.median, min: f.min, max: f.max }
    }
    const sizes: SizeResult[] = options.sizes.map((size) => {
      const k = `sizes.${size}`
      const rate = get(`${k}.oneway`)
      return {
        size,
        rtt: {
          p50: get(`${k}.rt.p50`),
          p99: get(`${k}.rt.p99`),
          p999: get(`${k}.rt.p999`),
          samples: get(`${k}.rt.samples`).min,
          cpuNs: get(`${k}.rt.cpu_ns`),
        },
        oneWay: {
          messagesPerSecond: rate,
          megabytesPerSecond: { median: (rate.median * size) / 1e6, min: (rate.min * size) / 1e6, max: (rate.max * size) / 1e6 },
          cpuNs: get(`${k}.oneway.cpu_ns`),
          batch: batchCount(size),
        },
      }
    })
    return { name: 'rust-shmring', note: 'native ceiling: two Rust processes, both spinning on try_send/try_recv_into (shmring-bench)', inProcess: false, sizes }
  } catch (e) {
    return { unavailable: `not available: ${(e as Error).message}` }
  }
}
