/**
 * Specification of the wake-up fallback: where io_uring is refused — a container under
 * Docker's default seccomp profile, `kernel.io_uring_disabled`, a kernel before 6.7 — a
 * sleeping receiver is woken by the doorbell thread instead of the event loop's futex wait
 * (src/loop_bell.rs, docs/DECISIONS.md §25), and everything works as before.
 *
 * `native/no-io-uring.c` stands in for such a container: it installs a seccomp filter under
 * which the three io_uring system calls fail with EPERM (as Docker's does) and executes the
 * command, whose children inherit the filter. Both processes of the exchange below run under
 * it. The first spec is the control: under the filter, the addon itself reports that it
 * could not set up io_uring and uses the doorbell thread.
 */
import test from 'ava'
import { fileURLToPath } from 'node:url'

import type { DoctorReport } from '../lib/doctor.js'
import { hasGcc, NativeBuild, runCollecting } from './helpers/native.js'

const root = fileURLToPath(new URL('..', import.meta.url))

const linux = process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64')
const maybe = hasGcc && linux ? test.serial : test.skip
const why = !linux ? ' (skipped: needs Linux x64 or arm64 seccomp)' : !hasGcc ? ' (skipped: gcc not found)' : ''

let wrapper: NativeBuild | undefined

test.before(() => {
  if (hasGcc && linux) wrapper = new NativeBuild('no-io-uring.c', 'no-io-uring')
})

test.after.always(() => wrapper?.remove())

/** Runs `node ...args` under the filter, without SHMRING_WAKE; resolves with its exit and output. */
function underFilter(args: string[]) {
  const { SHMRING_WAKE: _, ...env } = process.env
  return runCollecting(wrapper!.path, [process.execPath, ...args], { cwd: root, env })
}

maybe(`control: under the filter the addon cannot set up io_uring and says it uses the doorbell thread${why}`, async (t) => {
  const r = await underFilter(['--import=tsx', 'lib/cli.ts', 'doctor', '--json'])
  t.deepEqual([r.code, r.signal], [0, null], r.stderr)
  const probe = (JSON.parse(r.stdout) as DoctorReport).native?.probes.find((p) => p.name === 'data wake')
  t.true(probe?.ok, JSON.stringify(probe))
  t.regex(probe?.detail ?? '', /doorbell thread .*io_uring is unavailable/)
})

maybe(`two processes under the filter exchange messages on the async and sync paths and exit on their own${why}`, async (t) => {
  // The example: a child Node process echoes every message with `for await` + `await send`;
  // the parent does 20 000 async round trips (send + await recv), 100 000 spinning ones,
  // closes, and both exit without being told to (an idle channel keeps nothing alive).
  const r = await underFilter(['examples/ping-pong.mjs'])
  t.deepEqual([r.code, r.signal], [0, null], `${r.stdout}\n${r.stderr}`)
  t.regex(r.stdout, /async round trip \(send \+ await recv\), 64 B: [\d.]+ µs average over 20000/)
  t.regex(r.stdout, /sync spin round trip \(trySend \+ tryRecv loop\), 64 B: [\d.]+ µs average over 100000/)
})
