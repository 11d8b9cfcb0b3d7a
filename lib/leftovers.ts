/**
 * `npx shmring ls` and `npx shmring clean`: the named segments (named channels) of this user,
 * and removing those whose creator exited.
 *
 * A named channel's name is removed when its creator closes it or exits normally; a creator
 * that crashes leaves the name behind, and on Linux the channel's memory with it (a file in
 * `/dev/shm`) until someone removes it or the machine restarts. `clean` removes only names
 * that nothing holds open from their creation (the creator's lock is gone) and whose creator
 * pid no longer exists (`crates/segment/src/leftover.rs`), and removing a name never disturbs
 * a channel already connected: only new `openNamed` calls stop finding it. Linux only: macOS cannot list shared-memory names, and Windows frees a named
 * section with its last handle, so nothing is left behind there.
 */
import { parseArgs } from 'node:util'

import { codes, isShmringError } from './errors'
import type { NativeNamedSegment } from './native'

const lsUsage = `Usage: shmring ls [--json]

Lists the named segments (named channels) of this user: name, size, kind, when and by which
process it was created, and whether it is still in use ("running": open from its creation by
the creator or a process it forked). "exited" marks one left over by a crashed creator:
\`shmring clean\` removes it. Linux only.
`

const cleanUsage = `Usage: shmring clean [--dry-run] [--json] [NAME...]

Removes named segments whose creator process has exited (left over by a crash), or only the
NAMEs given. A segment still in use by its creator (or a process it forked), or one whose state
cannot be told, is never removed. Connected channels are not disturbed: only new openNamed()
calls stop finding a removed name. Linux only. Exits 1 when a NAME given was not removed.

  --dry-run   say what would be removed, remove nothing
  --json      print what was found and done as JSON
`

/** One `clean` decision. */
export interface CleanResult {
  name: string
  /**
   * `removed`; `would-remove` (--dry-run); `kept` (in use, or cannot tell); `not-found`;
   * `error` (removing failed: `error` says why; the other names are still tried).
   */
  outcome: 'removed' | 'would-remove' | 'kept' | 'not-found' | 'error'
  segment?: NativeNamedSegment
  error?: string
}

/** `shmring ls`; returns the exit code. */
export function runLs(argv: string[]): number {
  const args = parse(argv, lsUsage, false)
  if (typeof args === 'number') return args
  const json = args.values.json === true
  const segments = listOrExplain()
  if (segments === null) {
    if (json) process.stdout.write('[]\n')
    return 0
  }
  if (json) {
    process.stdout.write(`${JSON.stringify(segments, null, 2)}\n`)
    return 0
  }
  if (segments.length === 0) {
    process.stdout.write('No named shmring segments.\n')
    return 0
  }
  const rows = segments.map((s) => [s.name, formatBytes(s.bytes), s.published ? s.kind : `${s.kind} (unpublished)`, formatTime(s.createdMs), describeCreator(s)])
  process.stdout.write(table(['NAME', 'SIZE', 'KIND', 'CREATED', 'CREATOR'], rows))
  const left = segments.filter((s) => s.creator === 'exited')
  if (left.length > 0) process.stdout.write(`\n${left.length} left over (creator exited, ${formatBytes(sum(left))}): \`shmring clean\` removes them.\n`)
  return 0
}

/** `shmring clean`; returns the exit code (1 when a NAME given was not removed). */
export function runClean(argv: string[]): number {
  const args = parse(argv, cleanUsage, true)
  if (typeof args === 'number') return args
  const dryRun = args.values['dry-run'] === true
  const names = args.positionals
  const segments = listOrExplain()
  const results = segments === null ? [] : clean(segments, names, dryRun)
  if (args.values.json) {
    process.stdout.write(`${JSON.stringify({ dryRun, results }, null, 2)}\n`)
  } else if (segments !== null) {
    for (const r of results) process.stdout.write(`${describeResult(r)}\n`)
    const removed = results.filter((r) => r.outcome === 'removed' || r.outcome === 'would-remove')
    const verb = dryRun ? 'Would remove' : 'Removed'
    process.stdout.write(removed.length === 0 ? 'Nothing to clean.\n' : `${verb} ${removed.length} (${formatBytes(sum(removed.map((r) => r.segment!)))}).\n`)
  }
  const failed = segments === null || results.some((r) => r.outcome !== (dryRun ? 'would-remove' : 'removed'))
  return names.length > 0 && failed ? 1 : 0
}

/**
 * Decides (and unless `dryRun`, removes) for `names`, or else for every left-over segment and
 * every one whose state cannot be told (reported as kept).
 */
export function clean(segments: NativeNamedSegment[], names: string[], dryRun: boolean): CleanResult[] {
  const { removeLeftoverSegment } = native()
  const targets = names.length > 0 ? names : segments.filter((s) => s.creator !== 'running').map((s) => s.name)
  return targets.map((name): CleanResult => {
    const segment = segments.find((s) => s.name === name)
    if (!segment) return { name, outcome: 'not-found' }
    if (segment.creator !== 'exited') return { name, outcome: 'kept', segment }
    if (dryRun) return { name, outcome: 'would-remove', segment }
    try {
      // Examined again natively just before removing: it may be in use again, or replaced.
      return { name, outcome: removeLeftoverSegment(name) ? 'removed' : 'kept', segment }
    } catch (e) {
      if (isShmringError(e, codes.NOT_FOUND)) return { name, outcome: 'not-found' }
      return { name, outcome: 'error', segment, error: e instanceof Error ? e.message : String(e) }
    }
  })
}

function describeResult(r: CleanResult): string {
  const s = r.segment
  switch (r.outcome) {
    case 'removed':
    case 'would-remove':
      return `${r.outcome === 'removed' ? 'removed' : 'would remove'} ${r.name} (${formatBytes(s!.bytes)}, created ${formatTime(s!.createdMs)} by pid ${s!.creatorPid}, which exited)`
    case 'kept':
      return `kept ${r.name}: ${s!.creator === 'exited' ? 'in use again or replaced while cleaning' : describeCreator(s!)}`
    case 'not-found':
      return `${r.name}: no such named shmring segment of this user`
    case 'error':
      return `${r.name}: not removed: ${r.error}`
  }
}

function describeCreator(s: NativeNamedSegment): string {
  if (s.creator === 'exited') return `pid ${s.creatorPid} exited`
  if (s.creator === 'running') return `in use (pid ${s.creatorPid} or a process it forked)`
  return `pid ${s.creatorPid}: cannot tell whether it is in use (kept)`
}

/** The segments, or `null` after explaining why this OS cannot list them. */
function listOrExplain(): NativeNamedSegment[] | null {
  try {
    return native().namedSegments()
  } catch (e) {
    if (!isShmringError(e, codes.UNSUPPORTED)) throw e
    process.stderr.write(`${e.message}.\n`)
    return null
  }
}

/** Loaded on use, so `--help` works without the native binary. */
function native(): typeof import('./native') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./native') as typeof import('./native')
}

const options = {
  json: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

/** Parsed arguments, or the exit code after printing help or a usage error. */
function parse(argv: string[], usage: string, allowDryRun: boolean) {
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options })
    if (!allowDryRun && (parsed.values['dry-run'] || parsed.positionals.length > 0)) throw new Error('ls takes no names and no --dry-run')
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${usage}`)
    return 2
  }
  if (parsed.values.help) {
    process.stdout.write(usage)
    return 0
  }
  return parsed
}

function sum(segments: NativeNamedSegment[]): number {
  return segments.reduce((total, s) => total + s.bytes, 0)
}

function formatBytes(bytes: number): string {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(1)} GiB`
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`
  if (bytes >= 1 << 10) return `${(bytes / (1 << 10)).toFixed(1)} KiB`
  return `${bytes} B`
}

/** A header's creation time (written by whoever created the object: any number). */
function formatTime(ms: number): string {
  const date = new Date(ms)
  return ms > 0 && Number.isFinite(date.getTime()) ? date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : 'unknown'
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')
  return `${[header, ...rows].map(line).join('\n')}\n`
}
