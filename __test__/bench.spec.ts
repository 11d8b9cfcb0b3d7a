import test from 'ava'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

test('shmring bench runs every transport with checked replies (correctness, not speed)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shmring-bench-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const json = join(dir, 'report.json')
  await promisify(execFile)(process.execPath, [cli, 'bench', '--runs', '1', '--samples', '300', '--seconds', '0.1', '--json', json], { timeout: 90_000 })
  const report = JSON.parse(readFileSync(json, 'utf8')) as { results: { name: string; oneWay: { median: number }; rtt: { p50: { median: number } } }[] }
  t.deepEqual(
    report.results.map((r) => r.name),
    ['shmring-sync', 'shmring-async', 'shmring-async-nospin', 'uds', 'tcp', 'ipc-json', 'ipc-advanced'],
  )
  for (const r of report.results) {
    t.true(r.oneWay.median > 0, `${r.name} streamed nothing`)
    t.true(r.rtt.p50.median > 0, `${r.name} has no round-trip samples`)
  }
})

test('shmring bench --help prints the usage', async (t) => {
  const { stdout } = await promisify(execFile)(process.execPath, [cli, '--help'])
  t.regex(stdout, /Usage: shmring bench/)
})
