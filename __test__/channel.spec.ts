import test from 'ava'
import { once } from 'node:events'
import { closeSync, fstatSync, openSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

import { Channel, codes, MAX_PER_TURN } from '../lib/index.js'
import { message, pair, verify } from './helpers/pair.js'

test('tryRecv() returns null on an empty channel', (t) => {
  const [a, b] = pair()
  t.is(b.tryRecv(), null)
  a.close()
  b.close()
})

test('a message sent with trySend() arrives intact on the other side', (t) => {
  const [a, b] = pair()
  t.true(a.trySend(Buffer.from('hello')))
  t.deepEqual(b.tryRecv(), Buffer.from('hello'))
  t.true(b.trySend(new Uint8Array([1, 2, 3])))
  t.deepEqual(a.tryRecv(), Buffer.from([1, 2, 3]))
  a.close()
  b.close()
})

test('recvInto() copies into the caller buffer and returns the length', (t) => {
  const [a, b] = pair()
  a.trySend(Buffer.from('abc'))
  const target = Buffer.alloc(8)
  t.is(b.recvInto(target), 3)
  t.is(target.subarray(0, 3).toString(), 'abc')
  t.is(b.recvInto(target), null)
  a.close()
  b.close()
})

test('recvInto() a short buffer throws ERR_SHMRING_BUFFER_TOO_SMALL and keeps the message', (t) => {
  const [a, b] = pair()
  a.trySend(Buffer.from('twelve bytes'))
  t.throws(() => b.recvInto(Buffer.alloc(4)), { code: codes.BUFFER_TOO_SMALL })
  t.is(b.tryRecv()?.toString(), 'twelve bytes')
  a.close()
  b.close()
})

test('batch forms send and receive many messages in order', (t) => {
  const [a, b] = pair()
  const messages = Array.from({ length: 100 }, (_, i) => message(i, 64))
  t.is(a.trySendBatch(messages), 100)
  const got = b.tryRecvBatch(1000)
  t.is(got.length, 100)
  t.deepEqual(got.map(verify), messages.map((_, i) => i))
  a.close()
  b.close()
})

test('trySend() on a full lane returns false and send() waits for room', async (t) => {
  const [a, b] = pair({ capacity: 4096 })
  let sent = 0
  while (a.trySend(message(sent, 1000))) sent++
  t.true(sent >= 3 && sent <= 4)
  const drained = new Promise<void>((resolve) => a.once('drain', () => resolve()))
  const pending = a.send(message(sent, 1000))
  setTimeout(() => {
    for (let i = 0; i < sent; i++) t.is(verify(b.tryRecv()!), i)
  }, 20)
  await pending
  await drained
  t.is(verify((await b.recv())!), sent)
  a.close()
  b.close()
})

test("a spin loop retrying trySend() on a full lane still gets 'drain', every time the lane fills", async (t) => {
  const [a, b] = pair({ capacity: 4096 })
  for (let round = 0; round < 3; round++) {
    let sent = 0
    while (a.trySend(message(sent, 1000))) sent++
    // Thousands of failed tries: the room doorbell is armed once, not once per try.
    for (let i = 0; i < 10_000; i++) t.false(a.trySend(message(sent, 1000)))
    const drained = new Promise<void>((resolve) => a.once('drain', () => resolve()))
    setTimeout(() => {
      for (let i = 0; i < sent; i++) t.is(verify(b.tryRecv()!), i)
    }, 10)
    await drained
    t.is(b.tryRecv(), null, `round ${round}: nothing but what was sent`)
  }
  a.close()
  b.close()
})

test('a packed or batch send that stops at a too-large message reports what it sent; the next call throws ERR_SHMRING_TOO_LARGE', (t) => {
  const [a, b] = pair({ capacity: 4096 })
  const big = a.maxMessageLength() + 1
  t.is(a.trySendPacked(Buffer.alloc(10 + big), new Uint32Array([10, big])), 1, 'the first message went out')
  t.throws(() => a.trySendPacked(Buffer.alloc(big), new Uint32Array([big])), { code: codes.TOO_LARGE })
  t.is(a.trySendBatch([Buffer.alloc(20), Buffer.alloc(big)]), 1)
  t.throws(() => a.trySendBatch([Buffer.alloc(big)]), { code: codes.TOO_LARGE })
  t.deepEqual([b.tryRecv()?.length, b.tryRecv()?.length, b.tryRecv()], [10, 20, null])
  a.close()
  b.close()
})

test('critical messages overtake normal ones', (t) => {
  const [a, b] = pair()
  a.trySend(Buffer.from('normal'))
  a.trySend(Buffer.from('critical'), 'critical')
  a.trySend(Buffer.from('high'), 'high')
  t.deepEqual(b.tryRecvBatch(3).map(String), ['critical', 'high', 'normal'])
  a.close()
  b.close()
})

test('recv() resolves when a message arrives later', async (t) => {
  const [a, b] = pair()
  const received = b.recv()
  setTimeout(() => a.trySend(Buffer.from('later')), 20)
  t.is((await received).toString(), 'later')
  a.close()
  b.close()
})

test("'message' events deliver every message in order", async (t) => {
  const [a, b] = pair()
  const got: number[] = []
  const done = new Promise<void>((resolve) => {
    b.on('message', (m) => {
      got.push(verify(m))
      if (got.length === 5000) resolve()
    })
  })
  for (let i = 0; i < 5000; i++) await a.send(message(i, 100))
  await done
  t.deepEqual(got, Array.from({ length: 5000 }, (_, i) => i))
  a.close()
  b.close()
})

test('for await ends after the last message when the peer closes', async (t) => {
  const [a, b] = pair()
  for (let i = 0; i < 10; i++) a.trySend(message(i, 32))
  a.close()
  const got: number[] = []
  for await (const m of b) got.push(verify(m))
  t.deepEqual(got, [...Array(10).keys()])
  await t.throwsAsync(b.recv(), { code: codes.PEER_CLOSED })
})

test('an AbortSignal aborts a pending recv()', async (t) => {
  const [a, b] = pair()
  const controller = new AbortController()
  const pending = b.recv({ signal: controller.signal })
  setTimeout(() => controller.abort(), 10)
  await t.throwsAsync(pending, { name: 'AbortError' })
  a.trySend(Buffer.from('still delivered'))
  t.is((await b.recv()).toString(), 'still delivered')
  a.close()
  b.close()
})

test('close() rejects pending receives with ERR_SHMRING_CLOSED and is idempotent', async (t) => {
  const [a, b] = pair()
  const pending = b.recv()
  b.close()
  b.close()
  await t.throwsAsync(pending, { code: codes.CLOSED })
  t.throws(() => b.tryRecv(), { code: codes.CLOSED })
  t.true(b.closed)
  a.close()
})

test("the peer sees 'close' after close()", async (t) => {
  const [a, b] = pair()
  const closed = new Promise<void>((resolve) => b.once('close', () => resolve()))
  b.on('message', () => {})
  a.close()
  await closed
  t.true(b.closed)
})

test('Symbol.dispose closes the channel', (t) => {
  const [a, b] = pair()
  {
    using disposable = a
    t.false(disposable.closed)
  }
  t.true(a.closed)
  b.close()
})

test('a named channel connects two channels by name', (t) => {
  const name = `shmring-test-${process.pid}-${Date.now()}`
  const server = Channel.createNamed(name)
  const client = Channel.openNamed(name)
  client.trySend(Buffer.from('hi'))
  t.is(server.tryRecv()?.toString(), 'hi')
  t.throws(() => Channel.createNamed(name), { code: codes.EXISTS })
  server.close()
  client.close()
  t.throws(() => Channel.openNamed(name), { code: codes.NOT_FOUND })
})

test('fromFd() refuses stdio fds and leaves a foreign fd open (the caller owns it)', (t) => {
  for (const fd of [0, 1, 2]) t.throws(() => Channel.fromFd(fd), { code: codes.INVALID_ARG })
  const fd = openSync(fileURLToPath(import.meta.url), 'r')
  try {
    t.throws(() => Channel.fromFd(fd), { code: codes.INCOMPATIBLE })
    t.notThrows(() => fstatSync(fd), 'the caller still owns its fd')
  } finally {
    closeSync(fd)
  }
})

test('the Windows handle rendezvous is refused elsewhere with a message that says what to use', (t) => {
  if (process.platform === 'win32') return t.pass('Windows: covered by the tarball test (ci/pack.sh) in the workflow')
  t.throws(() => Channel.fromParentHandle('4242:420:0123456789abcdef'), { code: codes.INVALID_ARG, message: /for Windows; on this platform the channel arrives as an fd/ })
  const [a, b] = pair()
  t.throws(() => a.handleForChild(), { code: codes.INVALID_ARG, message: /shareFd/ })
  t.throws(() => Channel.fromParentHandle(''), { instanceOf: TypeError, code: codes.INVALID_ARG })
  a.close()
  b.close()
})

test('views on a SharedArrayBuffer are refused with a TypeError', (t) => {
  const [a, b] = pair()
  const shared = new Uint8Array(new SharedArrayBuffer(16))
  const sharedLengths = new Uint32Array(new SharedArrayBuffer(16))
  const refused = { instanceOf: TypeError, code: codes.INVALID_ARG, message: /SharedArrayBuffer/ }
  t.throws(() => a.trySend(shared), refused)
  t.throws(() => a.trySendPacked(shared, new Uint32Array([4])), refused)
  t.throws(() => a.trySendPacked(Buffer.alloc(4), sharedLengths), refused)
  t.throws(() => a.trySendBatch([shared]), refused)
  t.throws(() => b.recvInto(shared), refused)
  t.throws(() => b.recvPacked(shared, new Uint32Array(4)), refused)
  t.throws(() => b.recvPacked(Buffer.alloc(16), sharedLengths), refused)
  t.is(a.trySend(Buffer.from('still fine')), true, 'a refused argument sends nothing and breaks nothing')
  t.is(b.tryRecv()?.toString(), 'still fine')
  a.close()
  b.close()
})

/** Fills a's outbound normal lane to the last byte (b does not read); returns how many messages went in. */
function fill(a: Channel): number {
  let sent = 0
  while (a.trySend(Buffer.alloc(1024))) sent++
  while (a.trySend(Buffer.alloc(1))) sent++ // no message fits any more, however short
  return sent
}

test('an aborted send() is never sent, and the sends queued behind it still are', async (t) => {
  const [a, b] = pair({ capacity: 4096 })
  const filled = fill(a)
  const controller = new AbortController()
  const aborted = a.send(Buffer.from('never'), { signal: controller.signal })
  const after = a.send(Buffer.from('after'))
  controller.abort()
  await t.throwsAsync(aborted, { name: 'AbortError' })
  const received: string[] = []
  for (let i = 0; i < filled; i++) await b.recv()
  await after
  received.push((await b.recv()).toString())
  t.deepEqual(received, ['after'])
  t.is(b.tryRecv(), null, 'the aborted message did not follow')
  a.close()
  b.close()
})

test('a once(\'message\') listener takes one message of a burst; the rest stay queued', async (t) => {
  const [a, b] = pair()
  for (const word of ['one', 'two', 'three']) t.true(a.trySend(Buffer.from(word)))
  const [first] = (await once(b, 'message')) as [Buffer]
  t.is(first.toString(), 'one')
  t.is((await b.recv()).toString(), 'two')
  t.is(b.tryRecv()?.toString(), 'three')
  a.close()
  b.close()
})

test('a queued send that finds the peer closed does not lose what the peer sent before closing', async (t) => {
  const [a, b] = pair({ capacity: 4096 })
  fill(a)
  const queued = a.send(Buffer.from('too late'))
  for (const word of ['last', 'words']) t.true(b.trySend(Buffer.from(word)))
  b.close()
  await t.throwsAsync(queued, { code: codes.PEER_CLOSED })
  t.is((await a.recv()).toString(), 'last')
  t.is((await a.recv()).toString(), 'words')
  await t.throwsAsync(a.recv(), { code: codes.PEER_CLOSED })
})

test('a for-await loop over a flood lets timers run (at most MAX_PER_TURN receives per turn)', async (t) => {
  const [a, b] = pair({ capacity: 1 << 20 })
  const count = 5 * MAX_PER_TURN
  for (let i = 0; i < count; i++) t.true(a.trySend(message(i, 64)))
  a.close()
  let ticks = 0
  const timer = setInterval(() => ticks++, 0)
  let received = 0
  for await (const m of b) t.is(verify(m), received++)
  clearInterval(timer)
  t.is(received, count)
  t.true(ticks >= 2, `the timer ran ${ticks} times during ${count} receives`)
})

test('removeAllListeners() does not stop a later \'message\' listener from receiving', async (t) => {
  const [a, b] = pair()
  b.on('message', () => {})
  b.removeAllListeners()
  const received = once(b, 'message')
  t.true(a.trySend(Buffer.from('still heard')))
  const [message] = (await received) as [Buffer]
  t.is(message.toString(), 'still heard')
  a.close()
  b.close()
})

test('after the peer ended the channel, our own close() makes later calls report ERR_SHMRING_CLOSED', async (t) => {
  const [a, b] = pair()
  b.close()
  await t.throwsAsync(a.recv(), { code: codes.PEER_CLOSED })
  t.throws(() => a.trySend(Buffer.from('x')), { code: codes.PEER_CLOSED }, 'before our close: the peer ended it')
  a.close()
  t.throws(() => a.trySend(Buffer.from('x')), { code: codes.CLOSED })
  await t.throwsAsync(a.recv(), { code: codes.CLOSED })
})

test("'message' listeners run in the AsyncLocalStorage context they were added in, as a socket's do", async (t) => {
  const { AsyncLocalStorage } = await import('node:async_hooks')
  const store = new AsyncLocalStorage<string>()
  const seen: Record<string, string | undefined> = {}
  const channels: Channel[] = []
  const arrived: Promise<unknown>[] = []
  for (const name of ['first', 'second', 'third']) {
    store.run(name, () => {
      const [a, b] = pair()
      channels.push(a, b)
      arrived.push(once(b, 'message'))
      b.on('message', () => (seen[name] = store.getStore()))
      // Sent later, from another context, so the receiver is asleep and the event loop wakes it.
      setTimeout(() => store.run('sender', () => a.trySend(Buffer.from(name))), 20)
    })
  }
  await Promise.all(arrived)
  for (const channel of channels) channel.close()
  t.deepEqual(seen, { first: 'first', second: 'second', third: 'third' })
})
