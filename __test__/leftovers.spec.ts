// `shmring ls` and `shmring clean`: a named channel whose creator was killed is listed as left
// over and removed by clean; one whose creator runs (this process) is listed as running and is
// never removed. Real processes: the creator is a child killed with SIGKILL. Only explicit
// names are cleaned here: other spec files run at the same time and own named channels too.
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

import test from 'ava'

import { Channel, codes } from '../lib/index.js'
import type { NativeNamedSegment } from '../lib/native.js'
import type { CleanResult } from '../lib/leftovers.js'
import { fixtures } from './helpers/child.js'

const root = fileURLToPath(new URL('..', import.meta.url))

function cli(args: string[]) {
  const r = spawnSync(process.execPath, ['--import=tsx', 'lib/cli.ts', ...args], { cwd: root, encoding: 'utf8' })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function ls(): NativeNamedSegment[] {
  const r = cli(['ls', '--json'])
  if (r.status !== 0) throw new Error(`ls failed: ${r.stderr}`)
  return JSON.parse(r.stdout) as NativeNamedSegment[]
}

/** A named channel created by a child process that was then killed. */
async function leftOver(name: string): Promise<number> {
  const child = spawn(process.execPath, ['--import=tsx', `${fixtures}named-creator.ts`, name], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = once(child, 'exit')
  const ready = once(child.stdout, 'data') as Promise<[Buffer]>
  // A creator that dies before it is ready fails the spec instead of hanging it.
  const first = await Promise.race([ready, exited.then(() => null)])
  if (first === null || first[0].toString().trim() !== 'ready') throw new Error(`the creator of ${name} did not get ready`)
  child.kill('SIGKILL')
  await exited
  return child.pid!
}

const unique = (what: string) => `shmring-test-${what}-${process.pid}-${Date.now().toString(36)}`

const linux = process.platform === 'linux' ? test : test.skip

linux('ls lists a killed creator\'s channel as exited and a live one as running; clean removes only the first', async (t) => {
  const deadName = unique('dead')
  const liveName = unique('live')
  const live = Channel.createNamed(liveName, { capacity: 1 << 16 })
  t.teardown(() => live.close())
  const deadPid = await leftOver(deadName)
  t.teardown(() => {
    cli(['clean', deadName]) // if an assertion failed before the spec removed it
  })

  const listed = ls()
  const dead = listed.find((s) => s.name === deadName)
  const alive = listed.find((s) => s.name === liveName)
  t.like(dead, { kind: 'channel', published: true, creatorPid: deadPid, creator: 'exited' })
  t.like(alive, { kind: 'channel', published: true, creatorPid: process.pid, creator: 'running' })
  t.true(dead!.bytes > 6 * (1 << 16), 'the size covers six 64 KiB lanes')
  t.true(Math.abs(dead!.createdMs - Date.now()) < 60_000)

  const text = cli(['ls'])
  t.is(text.status, 0)
  t.regex(text.stdout, new RegExp(`${deadName}\\s.*pid ${deadPid} exited`))
  t.regex(text.stdout, /shmring clean/)

  const dry = cli(['clean', '--dry-run', '--json', deadName, liveName])
  t.is(dry.status, 1, 'a name given that cannot be removed fails the command')
  const planned = JSON.parse(dry.stdout) as { dryRun: boolean; results: CleanResult[] }
  t.deepEqual(planned.results.map((r) => [r.name, r.outcome]), [[deadName, 'would-remove'], [liveName, 'kept']])
  t.truthy(ls().find((s) => s.name === deadName), 'a dry run removes nothing')

  const done = cli(['clean', deadName])
  t.is(done.status, 0, done.stderr)
  t.regex(done.stdout, new RegExp(`removed ${deadName} .*pid ${deadPid}, which exited`))
  t.falsy(ls().find((s) => s.name === deadName))
  t.throws(() => Channel.openNamed(deadName), { code: codes.NOT_FOUND })

  const kept = cli(['clean', liveName])
  t.is(kept.status, 1)
  t.regex(kept.stdout, new RegExp(`kept ${liveName}: in use \\(pid ${process.pid} or a process it forked\\)`))
  t.truthy(ls().find((s) => s.name === liveName))
})

linux('clean of an unknown name says so and exits 1; bad arguments exit 2', (t) => {
  const r = cli(['clean', unique('nothing')])
  t.is(r.status, 1)
  t.regex(r.stdout, /no such named shmring segment/)
  t.is(cli(['ls', 'extra']).status, 2)
  t.is(cli(['clean', '--nope']).status, 2)
  t.is(cli(['clean', '--help']).status, 0)
})
