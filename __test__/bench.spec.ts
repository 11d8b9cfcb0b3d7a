/**
 * `npm run bench:check`: runs every transport of `shmring bench` briefly (all sizes classes,
 * idle receivers, the Rust ceiling if built, markdown/JSON/SVG output) and pins the checks that
 * make a lost or corrupted message fail a run. Correctness, not speed.
 */
import test from 'ava'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

import { check, COUNT, ECHO, message, newState, respond, stamp } from '../lib/bench/protocol.js'
import { MARKERS, writeMarkdown } from '../lib/bench/report.js'
import { measureSize, type BenchOptions, type Report } from '../lib/bench/run.js'
import { charts } from '../lib/bench/svg.js'
import type { Batch, Peer, Transport } from '../lib/bench/transport.js'

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url))
const ALL = ['shmring-sync', 'shmring-async', 'shmring-async-nospin', 'uds', 'tcp', 'ipc-json', 'ipc-advanced', 'worker']
const SIZES = [1, 4096, 1 << 20]

test('shmring bench runs every transport at every size class, with checked messages, idle receivers and all outputs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shmring-bench-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const [json, md, svg] = [join(dir, 'report.json'), join(dir, 'report.md'), join(dir, 'chart')]
  await promisify(execFile)(
    process.execPath,
    [cli, 'bench', '--runs', '1', '--sizes', '1,4K,1M', '--samples', '200', '--duration', '0.05', '--idle', '0.2', '--json', json, '--md', md, '--svg', svg],
    { timeout: 100_000 },
  )
  const report = JSON.parse(readFileSync(json, 'utf8')) as Report
  t.deepEqual(report.options.sizes, SIZES)
  t.deepEqual(report.results.map((r) => r.name), ALL)
  t.true(report.results.find((r) => r.name === 'worker')!.inProcess)
  for (const r of report.results) {
    t.deepEqual(r.sizes.map((s) => s.size), SIZES, r.name)
    for (const s of r.sizes) {
      const what = `${r.name}, ${s.size} B`
      t.true(s.rtt.samples >= 1 && s.rtt.samples <= 200, `${what}: ${s.rtt.samples} round trips`)
      t.true(s.rtt.p50.median > 0 && s.rtt.p50.median <= s.rtt.p99.median && s.rtt.p99.median <= s.rtt.p999.median, `${what}: percentiles out of order`)
      t.true(s.oneWay.messagesPerSecond.median > 0, `${what} streamed nothing`)
      t.is(s.oneWay.megabytesPerSecond.median, (s.oneWay.messagesPerSecond.median * s.size) / 1e6, what)
      t.true(s.rtt.cpuNs.median > 0 && s.oneWay.cpuNs.median > 0, `${what}: no CPU time measured`)
    }
  }
  // Every receiver in its own process waited, plus a channel held with nothing pending; the
  // in-process worker has no receiver process.
  t.deepEqual(report.idle.map((r) => r.name), [...ALL.slice(0, 3), 'shmring-held', ...ALL.slice(3, -1)])
  for (const r of report.idle) t.true(r.cpuPercent.median >= 0 && Number.isFinite(r.wakeupsPerSecond.median), r.name)
  if ('unavailable' in report.rust) t.regex(report.rust.unavailable, /not available/)
  else {
    t.deepEqual(report.rust.sizes.map((s) => s.size), SIZES)
    // With the Rust binary, the placement was probed before every transport's run.
    for (const r of report.results) {
      t.is(r.floorNs?.length, 1, r.name)
      t.true(r.floorNs![0]! > 0 && r.floorNs![0]! < 1e6, `${r.name}: floor ${r.floorNs![0]} ns`)
    }
  }
  t.true(report.machine.cores > 0 && /^v\d+/.test(report.machine.node) && report.machine.shmring.length > 0)

  const text = readFileSync(md, 'utf8')
  t.true(text.startsWith(MARKERS[0]) && text.trimEnd().endsWith(MARKERS[1]))
  for (const heading of ['### 1 B messages', '### 4 KiB messages', '### 1 MiB messages', '### Idle receivers']) t.true(text.includes(heading), heading)
  t.is(text.includes('### Placement'), report.results.some((r) => r.floorNs?.length), 'the placement table is there exactly when the floor was probed')
  for (const name of ALL) t.true(text.includes(`| ${name}`), name)
  for (const kind of ['latency', 'throughput']) {
    const chart = readFileSync(`${svg}-${kind}.svg`, 'utf8')
    t.regex(chart, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/)
    for (const name of ALL) t.true(chart.includes(`>${name}`), `${kind} chart: no legend entry for ${name}`)
  }
})

test('shmring bench --help prints the usage (without loading the native binary)', async (t) => {
  const { stdout } = await promisify(execFile)(process.execPath, [cli, '--help'])
  t.regex(stdout, /shmring bench \[options\]/)
  for (const option of ['--quick', '--sizes', '--runs', '--duration', '--only', '--json', '--md', '--svg', '--idle', '--rust']) t.true(stdout.includes(option), option)
})

test('shmring bench rejects a bad size and an unknown transport with a message that says what to use', async (t) => {
  const run = (args: string[]) => promisify(execFile)(process.execPath, [cli, 'bench', ...args])
  await t.throwsAsync(run(['--sizes', '64,lots']), { message: /not a message size \(use bytes, or a K\/M suffix/ })
  await t.throwsAsync(run(['--only', 'carrier-pigeon', '--runs', '1']), { message: /unknown transport carrier-pigeon; known: shmring-sync/ })
})

test('message checks catch a wrong sequence number, a torn tail, a short message and a changed byte at every size', (t) => {
  for (const size of [1, 5, 9, 10, 64, 4096]) {
    const m = message(ECHO, size, 77)
    t.is(check(m, ECHO, 77, size), null, `${size} B`)
    t.not(check(m, ECHO, 78, size), null, `${size} B: wrong sequence number passes`)
    t.not(check(m, COUNT, 77, size), null, `${size} B: wrong kind passes`)
    if (size > 1) t.not(check(m.subarray(0, size - 1), ECHO, 77, size), null, `${size} B: short message passes`)
    if (size >= 9) {
      const torn = Buffer.from(m)
      torn[size - 1] = torn[size - 1]! ^ 1
      t.not(check(torn, ECHO, 77, size), null, `${size} B: torn tail passes`)
    }
  }
  const big = message(ECHO, 4096, 1)
  const corrupt = Buffer.from(big)
  const at = 5 + Math.floor((3 * (4096 - 9)) / 8) // one of the checked pattern bytes
  corrupt[at] = corrupt[at]! ^ 0xff
  t.regex(check(corrupt, ECHO, 1, 4096) ?? '', /byte \d+ is/)
  // Same low 6 bits in byte 0, different sequence word; and sequence numbers past 2^31.
  t.regex(check(message(ECHO, 64, 77), ECHO, 77 + 64, 64) ?? '', /carries sequence number 77$/)
  for (const seq of [2 ** 31 - 1, 2 ** 31 + 5, 2 ** 32 - 1]) {
    t.is(check(message(COUNT, 64, seq), COUNT, seq, 64), null, `sequence number ${seq}`)
    t.not(check(message(COUNT, 64, seq), COUNT, seq - 64, 64), null, `sequence number ${seq} - 64 passes`)
  }
})

test('the peer rejects one-way messages that arrive out of order', (t) => {
  const state = newState()
  t.is(respond(message(COUNT, 64, 0), state), null)
  t.throws(() => respond(message(COUNT, 64, 2), state), { message: /one-way message 1: wrong first byte/ })
})

/** A transport in this process that serves the workload through `respond`, with a fault. */
function faulty(fault: 'drop' | 'corrupt'): { transport: Transport; peer: Peer } {
  const state = newState()
  let echoes = 0
  const peer: Peer = {
    async request(m) {
      const reply = respond(Buffer.from(m), state)
      if (!reply) throw new Error('a request without a reply')
      const out = Buffer.from(reply)
      if (fault === 'corrupt' && out.length === 64 && ++echoes === 5) out[3] = out[3]! ^ 1
      return out
    },
    async sendMany(batch: Batch) {
      batch.messages.forEach((m, i) => {
        if (fault === 'drop' && i === 7) return
        respond(m, state)
      })
    },
    async close() {},
  }
  return { transport: { name: `faulty-${fault}`, note: '', inProcess: true, start: async () => peer, serve: async () => {} }, peer }
}

const tiny: BenchOptions = { runs: 1, sizes: [64], samples: 100, duration: 0.02, idle: 0, rust: 'off' }

test('a corrupted echo fails the run', async (t) => {
  const { transport, peer } = faulty('corrupt')
  await t.throwsAsync(measureSize(transport, peer, 64, tiny), { message: /faulty-corrupt, 64 B: wrong echo/ })
})

test('a lost one-way message fails the run (the receiver sees a gap)', async (t) => {
  const { transport, peer } = faulty('drop')
  await t.throwsAsync(measureSize(transport, peer, 64, tiny), { message: /benchmark peer: one-way message 7: wrong first byte/ })
})

test('--md replaces only the block between its markers and keeps the rest of the file', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shmring-bench-md-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'RESULTS.md')
  writeFileSync(file, `# Results\n\nintro\n\n${MARKERS[0]}\nold numbers\n${MARKERS[1]}\n\n# Rust\n\nkept\n`)
  writeMarkdown(file, 'new numbers\n')
  t.is(readFileSync(file, 'utf8'), `# Results\n\nintro\n\n${MARKERS[0]}\nnew numbers\n${MARKERS[1]}\n\n# Rust\n\nkept\n`)
  writeFileSync(file, '# Someone else\n')
  writeMarkdown(file, 'appended\n')
  t.is(readFileSync(file, 'utf8'), `# Someone else\n\n${MARKERS[0]}\nappended\n${MARKERS[1]}\n`)
})

test('the charts put every transport on log axes with decade ticks', (t) => {
  const spread = (v: number) => ({ median: v, min: v * 0.9, max: v * 1.1 })
  const row = (name: string, base: number) => ({
    name,
    note: '',
    inProcess: false,
    sizes: [64, 1 << 20].map((size) => ({
      size,
      rtt: { p50: spread(base * size), p99: spread(base * size * 2), p999: spread(base * size * 3), samples: 1000, cpuNs: spread(1) },
      oneWay: { messagesPerSecond: spread(1e6 / base), megabytesPerSecond: spread(size / base), cpuNs: spread(1), batch: 1 },
    })),
  })
  const report = {
    machine: { cpu: 'Test CPU <1>', cores: 2, os: 'os', node: 'v20', shmring: '0' },
    date: '2026-01-01T00:00:00.000Z',
    options: { sizes: [64, 1 << 20], runs: 3 },
    results: [row('shmring-sync', 1), row('uds', 100)],
    rust: { unavailable: 'not available' },
  } as unknown as Report
  const { latency, throughput } = charts(report)
  for (const svg of [latency, throughput]) {
    t.is((svg.match(/<path /g) ?? []).length, 2, 'one line per transport')
    t.true(svg.includes('Test CPU &lt;1&gt;'), 'text is escaped')
    t.true(svg.includes('>64 B<') && svg.includes('>1 MiB<'))
  }
  // p50 from 64 ns to 100 MiB·ns: decades 10 ns … 1 s.
  for (const tick of ['>10 ns<', '>1 µs<', '>1 ms<', '>1 s<']) t.true(latency.includes(tick), tick)
  t.true(throughput.includes('>1 GB/s<') || throughput.includes('>10 GB/s<'))
})
