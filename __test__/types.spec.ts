/**
 * Specification of the published TypeScript types: `types/consumer.ts`, written as a user
 * would write it, compiles against dist/ (strict, no skipLibCheck), and every wrong call in
 * it marked `@ts-expect-error` is refused (an unused directive is itself an error).
 */
import test from 'ava'
import { execFile } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const types = join(root, '__test__', 'types')
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')

/** Runs tsc; resolves with its exit code and output (never rejects). */
function runTsc(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [tsc, ...args], { cwd: root, timeout: 120_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
      resolve({ code, output: `${stdout}${stderr}` })
    })
  })
}

/** A throwaway project next to nothing: `node_modules/shmring` links to this package. */
function installedProject(consumer: string): { dir: string; tsconfig: string } {
  const dir = mkdtempSync(join(tmpdir(), 'shmring-types-'))
  mkdirSync(join(dir, 'node_modules'))
  symlinkSync(root, join(dir, 'node_modules', 'shmring'), 'dir')
  symlinkSync(join(root, 'node_modules', '@types'), join(dir, 'node_modules', '@types'), 'dir')
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
  writeFileSync(join(dir, 'consumer.ts'), consumer)
  copyFileSync(join(types, 'tsconfig.json'), join(dir, 'tsconfig.json'))
  return { dir, tsconfig: join(dir, 'tsconfig.json') }
}

const consumerSource = () => readFileSync(join(types, 'consumer.ts'), 'utf8')
const asInstalled = (source: string) => source.replace("from '../../dist/index.js'", "from 'shmring'")

test.before((t) => {
  if (!existsSync(join(root, 'dist', 'index.d.ts'))) throw new Error('dist/ is missing: run `npm run build:debug` first')
  const built = statSync(join(root, 'dist', 'index.d.ts')).mtimeMs
  const newest = Math.max(...['channel', 'errors', 'index', 'spawn', 'stream'].map((f) => statSync(join(root, 'lib', `${f}.ts`)).mtimeMs))
  if (newest > built) t.log('note: lib/ is newer than dist/; these specs check dist/ (run `npm run build:debug`)')
})

test('a user program type-checks against the published declarations, and every @ts-expect-error line is refused', async (t) => {
  const { code, output } = await runTsc(['-p', join(types, 'tsconfig.json'), '--noEmit'])
  t.is(code, 0, output)
})

test("the same program importing 'shmring' resolves through the package's own exports, as when installed", async (t) => {
  const source = asInstalled(consumerSource())
  t.true(source.includes("from 'shmring'"))
  const { dir, tsconfig } = installedProject(source)
  try {
    const { code, output } = await runTsc(['-p', tsconfig, '--noEmit', '--traceResolution'])
    const resolved = output.match(/Module name 'shmring' was successfully resolved to '([^']+)'/)
    t.truthy(resolved, output.slice(-3000))
    t.is(resolved?.[1], join(root, 'dist', 'index.d.ts'))
    t.is(code, 0, output.split('\n').filter((l) => l.includes('error')).join('\n'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('control: a @ts-expect-error above a correct call fails the check', async (t) => {
  const source = `${asInstalled(consumerSource())}\nexport function correct(channel: Channel): void {\n  // @ts-expect-error this call is fine\n  channel.trySend(Buffer.from('x'), 'high')\n}\n`
  const { dir, tsconfig } = installedProject(source)
  try {
    const { code, output } = await runTsc(['-p', tsconfig, '--noEmit', '--skipLibCheck'])
    t.not(code, 0)
    t.regex(output, /TS2578: Unused '@ts-expect-error' directive/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
