/**
 * The C stand-ins under `__test__/native/` (a preload shim, a seccomp wrapper): built with the
 * machine's gcc into a temporary directory for one spec file, and run with their output
 * collected.
 */
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Whether gcc runs here (the specs that need it are skipped otherwise). */
export const hasGcc = spawnSync('gcc', ['--version']).status === 0

/** A C file of `__test__/native/` compiled to `output` in a temporary directory (`gccArgs` before the source, `libs` after it). */
export class NativeBuild {
  readonly path: string
  readonly #dir: string

  constructor(source: string, output: string, gccArgs: string[] = [], libs: string[] = []) {
    this.#dir = mkdtempSync(join(tmpdir(), 'shmring-native-'))
    this.path = join(this.#dir, output)
    const file = fileURLToPath(new URL(`../native/${source}`, import.meta.url))
    const built = spawnSync('gcc', ['-Wall', ...gccArgs, '-o', this.path, file, ...libs], { encoding: 'utf8' })
    if (built.status !== 0) throw new Error(`gcc failed on ${source}:\n${built.stderr}`)
  }

  remove(): void {
    rmSync(this.#dir, { recursive: true, force: true })
  }
}

export interface Finished {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Runs `command`, collecting its output; killed after `limitMs`. */
export async function runCollecting(command: string, args: string[], options: SpawnOptions, limitMs = 60_000): Promise<Finished> {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c))
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c))
  const timer = setTimeout(() => child.kill('SIGKILL'), limitMs)
  // 'close', not 'exit': output can be read after 'exit' is emitted, and callers assert on all
  // of it (a marker's absence as much as its presence).
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null]
  clearTimeout(timer)
  return { code, signal, stdout, stderr }
}
