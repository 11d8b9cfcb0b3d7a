/**
 * `npx shmring doctor`: what a user pastes into a bug report. Prints the platform, which
 * native binary loaded (or why none did), the segment and wait backends in use, live probes of
 * the OS features they need (memfd, seals, futex, os_sync, …; run by `src/info.rs`) and the
 * limits that apply. `--json` prints the same as one JSON object. Exits 1 when the binary does
 * not load or a probe fails, so CI can run it as a smoke test of an installed package.
 */
import { release, version as osVersion } from 'node:os'
import { join } from 'node:path'

import type { NativeInfo } from './native'
import { libc, platformTriple } from './platform'

export interface DoctorReport {
  /** This package: its version and where it is installed. */
  shmring: { version: string; path: string }
  node: { version: string; napi: string; platform: string; arch: string; libc?: string }
  /** The platform package this machine needs, the `.node` file that loaded, or the load error. */
  binary: { expected: string; path?: string; error?: { code?: string; message: string; causes: string[] } }
  os: { release: string; version: string }
  /** What the addon reports (absent when it did not load). */
  native?: NativeInfo
  /** The binary loaded and every probe passed. */
  ok: boolean
}

const root = join(__dirname, '..')

/** Gathers the report; never throws (a load failure is part of the report). */
export function doctor(): DoctorReport {
  const report: DoctorReport = {
    shmring: { version: packageVersion(), path: root },
    node: {
      version: process.version,
      napi: process.versions.napi ?? 'unknown',
      platform: process.platform,
      arch: process.arch,
      libc: libc(),
    },
    binary: { expected: `@shmring/binding-${platformTriple()}` },
    os: { release: release(), version: osVersion() },
    ok: false,
  }
  try {
    // Loaded here, not imported: when it fails, the report says why instead of crashing.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const native = require('./native') as typeof import('./native')
    report.binary.path = Object.keys(require.cache).find((p) => p.endsWith('.node') && p.includes('shmring'))
    report.native = native.nativeInfo()
    report.ok = report.native.probes.every((p) => p.ok)
  } catch (e) {
    report.binary.error = describeError(e)
  }
  return report
}

/** The human-readable form. */
export function formatReport(r: DoctorReport): string {
  const lines: string[] = []
  const row = (label: string, value: string) => lines.push(`  ${label.padEnd(16)}${value}`)
  lines.push('shmring doctor')
  row('shmring', `${r.shmring.version} (${r.shmring.path})`)
  row('node', `${r.node.version} (N-API ${r.node.napi}) ${r.node.platform} ${r.node.arch}${r.node.libc ? `, ${r.node.libc}` : ''}`)
  row('os', `${r.os.release} ${r.os.version}`)
  row('binary', r.binary.path ?? `not loaded (expected ${r.binary.expected})`)
  const n = r.native
  if (n) {
    row('built for', `${n.os} ${n.arch}${n.libc ? `, ${n.libc}` : ''}`)
    if (n.kernel) row('kernel', n.kernel)
    row('segments', `${n.segmentBackend} (anonymous), ${n.namedSegmentBackend} (named)`)
    row('wait/wake', n.waitBackend)
    lines.push('', 'Probes')
    const width = Math.max(...n.probes.map((p) => p.name.length)) + 2
    for (const p of n.probes) lines.push(`  ${p.ok ? 'ok  ' : 'FAIL'}  ${p.name.padEnd(width)}${p.detail}`)
    if (n.limits.length > 0) {
      lines.push('', 'Limits')
      const w = Math.max(...n.limits.map((l) => l.name.length)) + 2
      for (const l of n.limits) lines.push(`  ${l.name.padEnd(w)}${l.detail}`)
    }
    const failed = n.probes.filter((p) => !p.ok).map((p) => p.name)
    lines.push('', failed.length === 0 ? 'All probes passed.' : `Failed probes: ${failed.join(', ')}.`)
  } else if (r.binary.error) {
    lines.push('', `The native binary did not load (${r.binary.error.code ?? 'no code'}):`, `  ${r.binary.error.message}`)
    for (const cause of r.binary.error.causes) lines.push(`  caused by: ${cause}`)
  }
  return `${lines.join('\n')}\n`
}

/** `shmring doctor [--json]`; returns the exit code. */
export function runDoctor(args: readonly string[]): number {
  if (args.includes('-h') || args.includes('--help')) {
    process.stdout.write(usage)
    return 0
  }
  const unknown = args.filter((a) => a !== '--json')
  if (unknown.length > 0) {
    process.stderr.write(`shmring doctor: unknown argument ${unknown[0]}\n${usage}`)
    return 2
  }
  const report = doctor()
  process.stdout.write(args.includes('--json') ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report))
  return report.ok ? 0 : 1
}

export const usage = `Usage: shmring doctor [--json]

Prints the platform, the native binary in use, the segment and wait backends, live probes of
the OS features shmring needs and the limits that apply: paste it into a bug report.
Exits 1 when the binary does not load or a probe fails.

Options:
  --json            one JSON object instead of text
  -h, --help        this text
`

function packageVersion(): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(join(root, 'package.json')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

function describeError(e: unknown): { code?: string; message: string; causes: string[] } {
  const causes: string[] = []
  let cause = (e as { cause?: unknown } | null)?.cause
  // The generated loader chains one cause per file or package it tried.
  for (let depth = 0; cause !== undefined && cause !== null && depth < 10; depth++) {
    // First lines only: Node appends the whole require stack to each.
    causes.push((cause instanceof Error ? cause.message : String(cause)).split('\n')[0] ?? '')
    cause = (cause as { cause?: unknown }).cause
  }
  const code = (e as { code?: unknown } | null)?.code
  return {
    code: typeof code === 'string' ? code : undefined,
    message: e instanceof Error ? e.message : String(e),
    causes,
  }
}

