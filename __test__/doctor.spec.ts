// `shmring doctor`: what it reports on this Linux machine is checked against what the machine
// says through other channels (Node's os/fs/process, /proc), and a binary that cannot load is
// reported with ERR_SHMRING_NO_BINARY and exit code 1 instead of a crash.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, statfsSync } from 'node:fs'
import { release } from 'node:os'
import { fileURLToPath } from 'node:url'

import test from 'ava'

import type { DoctorReport } from '../lib/doctor.js'

const root = fileURLToPath(new URL('..', import.meta.url))

function doctor(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, ['--import=tsx', 'lib/cli.ts', 'doctor', ...args], { cwd: root, env, encoding: 'utf8' })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

const linux = process.platform === 'linux' ? test : test.skip

linux('doctor --json reports the Linux backends and probes that hold here', (t) => {
  const r = doctor(['--json'])
  t.is(r.status, 0, r.stderr)
  const report = JSON.parse(r.stdout) as DoctorReport
  const native = report.native
  if (!native) return t.fail(`the binary did not load: ${JSON.stringify(report.binary)}`)
  t.true(report.ok)
  t.is(native.os, 'linux')
  t.is(native.arch, process.arch === 'arm64' ? 'aarch64' : process.arch === 'x64' ? 'x86_64' : process.arch)
  t.is(native.segmentBackend, 'memfd+seals')
  t.is(native.waitBackend, 'futex')
  t.regex(report.binary.path ?? '', /shmring\.linux-[a-z0-9]+-(gnu|musl)\.node$/)
  const probes = new Map(native.probes.map((p) => [p.name, p]))
  for (const name of ['segment', 'seals', 'fd passing', 'futex', 'named segment', 'server', 'memfd_create', 'pidfd_open']) {
    t.true(probes.has(name), `probe ${name} missing`)
  }
  for (const name of ['segment', 'seals', 'fd passing', 'futex', 'named segment', 'server', 'memfd_create']) {
    t.true(probes.get(name)?.ok, `${name}: ${probes.get(name)?.detail}`)
  }
  t.regex(probes.get('seals')?.detail ?? '', /seals 0x[0-9a-f]*7\)/)

  // The same facts, read another way.
  t.true(native.kernel?.startsWith(release()), native.kernel)
  const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime
  t.is(native.libc, glibc === undefined ? 'musl' : `glibc ${glibc}`)
  const limits = new Map(native.limits.map((l) => [l.name, l.value]))
  t.is(limits.get('vm.max_map_count'), Number(readFileSync('/proc/sys/vm/max_map_count', 'utf8')))
  const shm = statfsSync('/dev/shm')
  t.is(limits.get('/dev/shm size'), shm.blocks * shm.bsize)
  const softNofile = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim()
  t.is(limits.get('RLIMIT_NOFILE'), softNofile === 'unlimited' ? undefined : Number(softNofile))
})

linux('doctor says how a sleeping receiver is woken, and SHMRING_WAKE=thread switches to the doorbell thread', (t) => {
  const wake = (env: NodeJS.ProcessEnv) => {
    const r = doctor(['--json'], env)
    t.is(r.status, 0, r.stderr)
    const probe = (JSON.parse(r.stdout) as DoctorReport).native?.probes.find((p) => p.name === 'data wake')
    t.true(probe?.ok, JSON.stringify(probe))
    return probe?.detail ?? ''
  }
  const { SHMRING_WAKE: _, ...inherited } = process.env
  const normal = wake(inherited)
  // Linux 6.7+ has io_uring FUTEX_WAIT, unless io_uring is switched off (sysctl or seccomp).
  const [major = 0, minor = 0] = release().split('.').map(Number)
  const sysctl = '/proc/sys/kernel/io_uring_disabled'
  const switchedOff = existsSync(sysctl) && readFileSync(sysctl, 'utf8').trim() !== '0'
  if ((major > 6 || (major === 6 && minor >= 7)) && !switchedOff) t.regex(normal, /io_uring FUTEX_WAIT polled by libuv/)
  else t.log(`data wake here: ${normal}`)
  t.regex(wake({ ...inherited, SHMRING_WAKE: 'thread' }), /doorbell thread .*SHMRING_WAKE=thread is set/)
})

linux('doctor prints the same as text, with every probe marked', (t) => {
  const r = doctor([])
  t.is(r.status, 0, r.stderr)
  t.regex(r.stdout, /^ {2}segments {8}memfd\+seals \(anonymous\)/m)
  t.regex(r.stdout, /^ {2}wait\/wake {7}futex$/m)
  t.regex(r.stdout, /^ {2}ok {4}seals /m)
  t.notRegex(r.stdout, /FAIL/)
  t.regex(r.stdout, /All probes passed\.\n$/)
})

test('doctor reports a binary that does not load, with the platform, and exits 1', (t) => {
  const r = doctor(['--json'], { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: `${root}no-such-binary.node` })
  t.is(r.status, 1, r.stderr)
  const report = JSON.parse(r.stdout) as DoctorReport
  t.false(report.ok)
  t.is(report.native, undefined)
  t.is(report.binary.error?.code, 'ERR_SHMRING_NO_BINARY')
  t.true(report.binary.error?.message.includes(`detected ${report.binary.expected.replace('@shmring/binding-', '')}`))
  t.regex(report.binary.error?.message ?? '', /npm run build/)
  t.true(report.binary.error?.causes.some((c) => c.includes('no-such-binary.node')), JSON.stringify(report.binary.error))
})

test('doctor --help and unknown arguments', (t) => {
  t.is(doctor(['--help']).status, 0)
  const bad = doctor(['--nope'])
  t.is(bad.status, 2)
  t.regex(bad.stderr, /unknown argument --nope/)
})
