/**
 * Specification of a channel's life around threads and processes: worker threads, worker
 * termination, garbage collection of unclosed channels, process.exit(), close() from inside
 * callbacks, and keep-alive (ref/unref). Anything that could crash or hang runs in a real
 * child process (fixtures `lifecycle-*.ts`), so a crash shows as a signal or a non-zero exit
 * code, and every wait is bounded.
 */
import test from 'ava'
import { spawn as spawnProcess, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { closeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { Channel, codes, connect, spawn, type ChannelOptions } from '../lib/index.js'
import { attach } from './fixtures/lifecycle-attach.js'
import { fixture, startWorker, within } from './fixtures/lifecycle-worker-boot.js'
import { message, verify } from './helpers/pair.js'

interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** performance.now() at the first stdout line containing each marker asked for. */
  marks: Record<string, number>
  exitedAt: number
}

/** Collects a child's output and exit; kills it (SIGKILL) if it has not exited after `limitMs`. */
function watch(child: ChildProcess, limitMs: number, markers: string[] = []): Promise<Exit> {
  let stdout = ''
  let stderr = ''
  const marks: Record<string, number> = {}
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
    for (const m of markers) if (!(m in marks) && stdout.includes(m)) marks[m] = performance.now()
  })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), limitMs)
  let exitedAt = 0
  child.once('exit', () => (exitedAt = performance.now()))
  // 'close', not 'exit': the last output may be read after 'exit' is emitted, and a marker
  // printed just before the exit must not be lost.
  return once(child, 'close').then(([code, signal]) => {
    clearTimeout(timer)
    return { code, signal, stdout, stderr, marks, exitedAt } as Exit
  })
}

/** Runs `__test__/fixtures/<name>.ts` in a plain child process (no channel). */
function runFixture(
  name: string,
  args: string[],
  limitMs: number,
  nodeArgs: string[] = [],
  markers: string[] = [],
  env: NodeJS.ProcessEnv = process.env,
) {
  const child = spawnProcess(process.execPath, [...nodeArgs, '--import=tsx', fixture(name), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  })
  return watch(child, limitMs, markers)
}

/** Starts `lifecycle-ref.ts <mode>` as a spawn() child: the test holds the other side. */
function refChild(mode: string) {
  const { child, channel } = spawn(process.execPath, ['--import=tsx', fixture('lifecycle-ref'), mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
    channel: { capacity: 16 * 1024 },
  })
  const waiting = new Promise<void>((resolve) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('waiting')) resolve()
    })
  })
  return { child, channel, waiting, exited: watch(child, 20_000) }
}

/** Two sides of one channel in this process. */
function pair(options?: ChannelOptions): [Channel, Channel] {
  const a = Channel.create(options)
  return [a, attach(a)]
}

const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!)

// --- worker threads ---------------------------------------------------------------------

test('a worker thread can create a channel pair and use every receive path', async (t) => {
  const worker = startWorker('lifecycle-worker', { mode: 'use-pair' })
  // Listen for 'exit' now: Node emits a worker's last messages and 'exit' in one go.
  const exited = once(worker, 'exit')
  const [result] = await within(once(worker, 'message'), 30_000, 'worker result')
  t.deepEqual(result, { ok: true, results: ['try', 'b1+b2', 'async', 'reply', 'event'], closed: [true, true] })
  t.is(await within(exited, 10_000, 'worker exit').then(([code]) => code), 0)
})

test("process.exit() from a worker's message listener or recv() continuation ends the worker with its code and no error", async (t) => {
  for (const mode of ['exit-in-listener', 'exit-after-recv']) {
    for (let round = 0; round < 5; round++) {
      const worker = startWorker('lifecycle-worker', { mode })
      const errors: unknown[] = []
      worker.on('error', (e) => errors.push(e))
      const [code] = await within(once(worker, 'exit'), 30_000, `worker ${mode} exit`)
      t.is(code, 7, mode)
      t.deepEqual(errors, [], mode)
    }
  }
})

test('a worker thread and the main thread talk over one channel', async (t) => {
  const channel = Channel.create({ capacity: 64 * 1024 })
  const fd = channel.shareFd()
  const worker = startWorker('lifecycle-worker', { mode: 'echo-fd', fd })
  t.deepEqual(await within(once(worker, 'message'), 30_000, 'worker attached'), ['attached'])
  closeSync(fd) // the worker's channel holds its own duplicate
  const done = once(worker, 'message')
  const count = 1000
  const echoes = (async () => {
    for (let i = 0; i < count; i++) t.is(verify(await within(channel.recv(), 10_000, `echo ${i}`)), i)
  })()
  for (let i = 0; i < count; i++) await channel.send(message(i, 200))
  await echoes
  channel.close()
  const [result] = await within(done, 10_000, 'worker done')
  t.deepEqual(result, { ok: true, echoed: count })
})

test('worker.terminate() while the worker waits in recv(), send(), a listener or for-await resolves, and the process stays healthy and exits by itself', async (t) => {
  const exit = await runFixture('lifecycle-terminate', ['2'], 90_000, [], ['terminated-all'])
  t.is(exit.stderr, '')
  t.deepEqual([exit.code, exit.signal], [0, null], exit.stderr)
  const summary = lastJson(exit.stdout)
  t.like(summary, { terminated: 16, peerClosedSeen: 8, reply: 'still alive', cases: 16 })
  // No joined-late thread or leftover handle: the process ends soon after the last worker.
  const tail = exit.exitedAt - exit.marks['terminated-all']!
  t.true(tail < 5_000, `exited ${tail.toFixed(0)} ms after the last termination`)
  t.log(`16 workers terminated mid-wait; exit ${tail.toFixed(0)} ms after the last one`)
})

// --- garbage collection -----------------------------------------------------------------

test('channels dropped unclosed with a started doorbell are collected: fds, threads and mappings stay flat and the process exits by itself', async (t) => {
  const exit = await runFixture('lifecycle-gc', ['2000'], 90_000, ['--expose-gc'])
  t.deepEqual([exit.code, exit.signal], [0, null], exit.stderr)
  const r = lastJson(exit.stdout)
  // 4 ways x 2000 iterations; a leak would add >= 2000 fds and threads each.
  t.true(r.after.fds - r.before.fds <= 16, `fds ${r.before.fds} -> ${r.after.fds}`)
  t.true(r.after.threads - r.before.threads <= 4, `threads ${r.before.threads} -> ${r.after.threads}`)
  // Every segment mapping is gone (each channel maps one); the total map count also moves with
  // V8's heap, so it only gets a loose bound.
  t.true(r.after.segments - r.before.segments <= 4, `segment mappings ${r.before.segments} -> ${r.after.segments}`)
  t.true(r.after.maps - r.before.maps <= 1000, `mappings ${r.before.maps} -> ${r.after.maps}`)
  t.true(r.after.rss - r.before.rss < 96 * 2 ** 20, `rss ${r.before.rss} -> ${r.after.rss}`)
  t.is(r.uncollectedWithPeerAlive, 0)
  t.deepEqual(r.collected, {
    'pending-recv': 2000,
    'pending-send': 2000,
    'pending-send-peer': 2000,
    'listener-removed': 2000,
    'room-watch': 2000,
  })
  t.log(
    `${r.iterations} x 4 channels in ${r.ms} ms: fds ${r.before.fds} -> ${r.after.fds}, threads ${r.before.threads} -> ${r.after.threads}, ` +
      `maps ${r.before.maps} -> ${r.after.maps} (segments ${r.before.segments} -> ${r.after.segments}), rss ${(r.before.rss / 2 ** 20).toFixed(0)} -> ${(r.after.rss / 2 ** 20).toFixed(0)} MiB`,
  )
})

// --- process.exit -----------------------------------------------------------------------

for (const where of ['timer', 'message', 'recv', 'worker'] as const) {
  test(`process.exit(7) from a ${where === 'timer' ? 'timer' : where === 'worker' ? 'process whose workers wait in shmring' : `${where} callback`} with open, waiting channels exits promptly with code 7`, async (t) => {
    const exit = await runFixture('lifecycle-exit', ['7', where], 30_000, [], ['exiting with 7'])
    t.deepEqual([exit.code, exit.signal], [7, null], exit.stderr)
    const tail = exit.exitedAt - exit.marks['exiting with 7']!
    t.true(tail < 3_000, `exit took ${tail.toFixed(0)} ms after process.exit()`)
  })
}

test('process.exit(3) in a spawn() child with a pending recv() on the parent channel exits promptly, and the parent sees the end', async (t) => {
  const { child, channel } = spawn(process.execPath, ['--import=tsx', fixture('lifecycle-exit'), '3', 'parent'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exit = await watch(child, 30_000, ['exiting with 3'])
  t.deepEqual([exit.code, exit.signal], [3, null], exit.stderr)
  t.true(exit.exitedAt - exit.marks['exiting with 3']! < 3_000)
  const end = await within(channel.recv().then(String, (e: { code?: string }) => e.code), 5_000, 'end of stream')
  t.true(end === codes.PEER_DEAD || end === codes.PEER_CLOSED, String(end))
  channel.close()
})

// --- close() from anywhere --------------------------------------------------------------

/** Counts 'close' and 'error' events. */
function events(channel: Channel) {
  const seen = { close: 0, error: 0 }
  channel.on('close', () => seen.close++)
  channel.on('error', () => seen.error++)
  return seen
}

const tick = (ms = 20) => new Promise((resolve) => setTimeout(resolve, ms))

test('close() twice is safe: one close event, and every call after it throws ERR_SHMRING_CLOSED', async (t) => {
  const [a, b] = pair()
  const seen = events(b)
  b.close()
  b.close()
  b[Symbol.dispose]()
  await b[Symbol.asyncDispose]()
  await tick()
  t.deepEqual(seen, { close: 1, error: 0 })
  t.true(b.closed)
  t.throws(() => b.trySend(Buffer.from('x')), { code: codes.CLOSED })
  t.throws(() => b.tryRecv(), { code: codes.CLOSED })
  t.throws(() => b.recvInto(Buffer.alloc(8)), { code: codes.CLOSED })
  t.throws(() => b.tryRecvBatch(), { code: codes.CLOSED })
  await t.throwsAsync(b.recv(), { code: codes.CLOSED })
  await t.throwsAsync(b.send(Buffer.from('x')), { code: codes.CLOSED })
  a.close()
})

test("close() inside a 'message' handler is safe: no error, one close event", async (t) => {
  const [a, b] = pair()
  const seen = events(b)
  let delivered = 0
  b.on('message', () => {
    delivered++
    b.close()
  })
  for (let i = 0; i < 10; i++) a.trySend(Buffer.from([i]))
  await within(once(b, 'close'), 5_000, 'close event')
  await tick()
  t.true(delivered >= 1)
  t.deepEqual(seen, { close: 1, error: 0 })
  t.throws(() => a.trySend(Buffer.from('x')), { code: codes.PEER_CLOSED })
  a.close()
})

// Pins a fixed bug: #drain used to emit the rest of a received batch after a handler closed
// the channel.
test("close() inside a 'message' handler stops delivery of the rest of the batch", async (t) => {
  const [a, b] = pair()
  let delivered = 0
  b.on('message', () => {
    delivered++
    b.close()
  })
  for (let i = 0; i < 10; i++) a.trySend(Buffer.from([i]))
  await within(once(b, 'close'), 5_000, 'close event')
  await tick()
  t.is(delivered, 1)
  a.close()
})

test('close() inside recv().then is safe and the peer sees the end of stream', async (t) => {
  const [a, b] = pair()
  const seen = events(b)
  a.trySend(Buffer.from('one'))
  a.trySend(Buffer.from('two'))
  const first = await b.recv().then((m) => {
    b.close()
    return String(m)
  })
  t.is(first, 'one')
  await t.throwsAsync(within(a.recv(), 5_000, 'peer end'), { code: codes.PEER_CLOSED })
  await tick()
  t.deepEqual(seen, { close: 1, error: 0 })
  a.close()
})

test('close() inside a for-await loop ends the loop without an error', async (t) => {
  const [a, b] = pair()
  for (let i = 0; i < 5; i++) a.trySend(Buffer.from([i]))
  let n = 0
  await within(
    (async () => {
      for await (const _ of b) {
        n++
        b.close()
      }
    })(),
    5_000,
    'loop end',
  )
  t.is(n, 1)
  a.close()
})

test("close() inside a 'drain' handler is safe; the peer still gets everything sent before", async (t) => {
  const [a, b] = pair({ capacity: 4096 })
  const seen = events(a)
  let sent = 0
  while (a.trySend(message(sent, 1000))) sent++
  const sending = a.send(message(sent++, 1000))
  const drained = new Promise<void>((resolve) =>
    a.once('drain', () => {
      a.close()
      resolve()
    }),
  )
  const got: number[] = []
  for (;;) {
    try {
      got.push(verify(await within(b.recv(), 5_000, `message ${got.length}`)))
    } catch (e) {
      t.is((e as { code?: string }).code, codes.PEER_CLOSED)
      break
    }
  }
  await sending
  await drained
  await tick()
  t.deepEqual(got, [...Array(sent).keys()])
  t.deepEqual(seen, { close: 1, error: 0 })
  b.close()
})

test("each side closing from the other's callbacks while messages flow is safe", async (t) => {
  const [a, b] = pair({ capacity: 16 * 1024 })
  const seenA = events(a)
  const seenB = events(b)
  let pumping = true
  const pump = () => {
    if (!pumping || a.closed) return
    try {
      while (a.trySend(Buffer.alloc(64))) {}
    } catch {
      return
    }
    setImmediate(pump)
  }
  pump()
  let n = 0
  b.on('message', () => {
    if (++n === 500) {
      a.close()
      b.close()
    }
  })
  a.on('message', () => {})
  await within(once(b, 'close'), 5_000, 'b close')
  pumping = false
  await tick()
  t.true(n >= 500)
  t.deepEqual(seenA, { close: 1, error: 0 })
  t.deepEqual(seenB, { close: 1, error: 0 })
})

test('close() while the doorbell thread is ringing from a flood is safe, many times over', async (t) => {
  for (let round = 0; round < 50; round++) {
    const [a, b] = pair({ capacity: 16 * 1024 })
    b.on('message', () => {})
    b.on('error', () => {})
    const pump = () => {
      if (a.closed) return
      try {
        while (a.trySend(Buffer.alloc(32))) {}
      } catch {
        return
      }
      setImmediate(pump)
    }
    pump()
    await tick(round % 5)
    b.close()
    a.close()
  }
  await tick()
  t.pass()
})

// --- keep-alive -------------------------------------------------------------------------

for (const what of ['recv', 'listener', 'iterator', 'send'] as const) {
  const wait = what === 'recv' ? 'recv()' : what === 'listener' ? "'message' listener" : what === 'iterator' ? 'for-await loop' : 'send() waiting for room'
  test(`a child with only an unref()'d pending ${wait} exits by itself while the parent keeps the channel open`, async (t) => {
    const { channel, waiting, exited } = refChild(`unref-${what}`)
    await within(waiting, 20_000, 'child waiting')
    const exit = await exited
    t.deepEqual([exit.code, exit.signal], [0, null], exit.stderr)
    t.false(channel.closed)
    channel.close()
  })
}

for (const what of ['recv', 'listener', 'iterator'] as const) {
  const wait = what === 'recv' ? 'recv()' : what === 'listener' ? "'message' listener" : 'for-await loop'
  test(`a pending ${wait} keeps a child alive until a message comes, which it echoes`, async (t) => {
    const { child, channel, waiting, exited } = refChild(`ref-${what}`)
    await within(waiting, 20_000, 'child waiting')
    await tick(300)
    t.deepEqual([child.exitCode, child.signalCode], [null, null], 'the child must still be alive after 300 ms')
    t.true(channel.trySend(Buffer.from('hello')))
    t.is(String(await within(channel.recv(), 5_000, 'echo')), 'echo:hello')
    const exit = await exited
    t.deepEqual([exit.code, exit.signal], [0, null], exit.stderr)
    channel.close()
  })
}

test('a producer whose reader is SIGKILLed while its lane is full learns ERR_SHMRING_PEER_DEAD everywhere and exits by itself', async (t) => {
  const child = spawnProcess(process.execPath, ['--import=tsx', fixture('lifecycle-dead-reader')], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = watch(child, 20_000)
  const [line] = (await once(child.stdout!, 'data')) as [Buffer]
  const pid = Number(/waiting (\d+)/.exec(line.toString())?.[1])
  t.true(pid > 0, line.toString())
  process.kill(pid, 'SIGKILL')
  const exit = await exited
  t.deepEqual([exit.code, exit.signal], [0, null], `the producer must end by itself (stderr: ${exit.stderr})`)
  t.regex(exit.stdout, /send rejected ERR_SHMRING_PEER_DEAD/)
  t.regex(exit.stdout, /trySend threw ERR_SHMRING_PEER_DEAD/)
})

test('a send() waiting for room keeps a child alive until the parent reads', async (t) => {
  const { child, channel, waiting, exited } = refChild('ref-send')
  await within(waiting, 20_000, 'child waiting')
  await tick(300)
  t.deepEqual([child.exitCode, child.signalCode], [null, null], 'the child must still be alive after 300 ms')
  let received = 0
  for await (const m of channel) {
    t.true(m[0] === 1 || m[0] === 2)
    received++
  }
  const exit = await exited
  t.deepEqual([exit.code, exit.signal], [0, null], exit.stderr)
  t.true(exit.stdout.includes(`sent ${received}`), `${exit.stdout} / received ${received}`)
  channel.close()
})

const unixOnly = process.platform === 'win32' ? test.skip : test
const serverPath = (what: string) => join(tmpdir(), `shmring-lifecycle-${process.pid}-${what}.sock`)

unixOnly('an unref()\'d server lets its process exit; a ref\'d one keeps it alive until it closes itself', async (t) => {
  const unrefd = await runFixture('lifecycle-server', [serverPath('unref'), 'unref'], 20_000)
  t.deepEqual([unrefd.code, unrefd.signal], [0, null], unrefd.stderr)
  t.regex(unrefd.stdout, /listening/)

  const path = serverPath('close')
  const child = spawnProcess(process.execPath, ['--import=tsx', fixture('lifecycle-server'), path, 'close'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = watch(child, 20_000)
  await once(child.stdout!, 'data')
  await tick(300)
  t.deepEqual([child.exitCode, child.signalCode], [null, null], 'a listening server keeps its process alive')
  const channel = await connect(path)
  const exit = await exited
  t.deepEqual([exit.code, exit.signal], [0, null], exit.stderr)
  t.regex(exit.stdout, /served one/)
  channel.close()
})

unixOnly('worker.terminate() of a worker with a listening server is clean', async (t) => {
  const exit = await runFixture('lifecycle-server', [serverPath('worker'), 'worker'], 20_000)
  t.deepEqual([exit.code, exit.signal], [0, null], exit.stderr)
  t.regex(exit.stdout, /listening\nterminated/)
})

test('a \'message\' listener that throws is an uncaught exception, and the channel goes on delivering to a sleeping receiver', async (t) => {
  for (const wake of ['loop', 'thread']) {
    const exit = await runFixture('channel-throwing-listener', [], 20_000, [], [], { ...process.env, SHMRING_WAKE: wake })
    t.deepEqual([exit.code, exit.signal], [0, null], `${wake}: ${exit.stderr}`)
    t.regex(exit.stdout, /received second,third uncaught 1/, wake)
  }
})

unixOnly('a \'connection\' listener that throws is an uncaught exception, and the server goes on serving', async (t) => {
  const exit = await runFixture('server-throwing-listener', [serverPath('throwing')], 20_000)
  t.deepEqual([exit.code, exit.signal], [0, null], exit.stderr)
  t.regex(exit.stdout, /served second uncaught 1/)
})
