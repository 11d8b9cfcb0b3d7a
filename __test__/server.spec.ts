// The server rendezvous: `listen(path)` gives every client process that calls
// `connect(path)` a channel of its own (real child processes); a missing server, a live one
// in the way, a silent server and an abort all end in coded errors, never a hang.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import test from 'ava'

import { type Channel, codes, connect, listen } from '../lib/index.js'
import { fixtures, rustEcho } from './helpers/child.js'
import { message, verify } from './helpers/pair.js'

const unix = process.platform === 'win32' ? test.skip : test
let counter = 0
const socketPath = () => join(tmpdir(), `shmring-${process.pid}-${Date.now().toString(36)}-${counter++}.sock`)

unix('three client processes each get a channel of their own and are echoed in full', async (t) => {
  const server = listen(socketPath(), { capacity: 1 << 16 })
  t.teardown(() => server.close())
  const served: Promise<number>[] = []
  server.on('connection', (channel: Channel) => {
    served.push(
      (async () => {
        let echoed = 0
        for await (const message of channel) {
          await channel.send(message)
          echoed++
        }
        return echoed
      })(),
    )
  })
  const clients = [0, 1, 2].map((id) =>
    spawn(process.execPath, ['--import=tsx', `${fixtures}server-client.ts`, server.path, '2000', String(id)], { stdio: 'inherit' }),
  )
  const exits = await Promise.all(clients.map((child) => once(child, 'exit')))
  t.deepEqual(exits, [[0, null], [0, null], [0, null]])
  t.deepEqual(await Promise.all(served), [2000, 2000, 2000])
  server.close()
  await once(server, 'close')
  t.false(existsSync(server.path), 'closing removes the socket file')
})

unix('connect with nobody listening is ERR_SHMRING_NOT_FOUND; a second server on a live path is ERR_SHMRING_EXISTS', async (t) => {
  const path = socketPath()
  await t.throwsAsync(connect(path), { code: codes.NOT_FOUND })
  const server = listen(path)
  t.teardown(() => server.close())
  t.throws(() => listen(path), { code: codes.EXISTS })
  const channel = await connect(path)
  t.is(channel.side, 'B')
  channel.close()
})

unix('a server that never answers times out, and an abort ends the wait', async (t) => {
  const path = socketPath()
  const silent = createServer(() => {}).listen(path)
  await once(silent, 'listening')
  t.teardown(() => silent.close())
  const started = Date.now()
  await t.throwsAsync(connect(path, { timeout: 200 }), { code: codes.TIMEOUT })
  t.true(Date.now() - started < 5000)
  const controller = new AbortController()
  const pending = connect(path, { signal: controller.signal })
  controller.abort()
  await t.throwsAsync(pending, { name: 'AbortError' })
  t.throws(() => connect(path, { timeout: -1 }), { code: codes.INVALID_ARG })
})

unix('a Rust client that connects to a Node server echoes checksummed messages in order', async (t) => {
  const server = listen(socketPath(), { capacity: 1 << 16 })
  t.teardown(() => server.close())
  const connected = once(server, 'connection') as Promise<[Channel]>
  const child = spawn(rustEcho(), ['--connect', server.path], { stdio: 'inherit' })
  const exited = once(child, 'exit')
  const [channel] = await connected
  for (let seq = 0; seq < 5000; seq++) {
    await channel.send(message(seq, 16 + ((seq * 7919) % 4000)))
    t.is(verify(await channel.recv()), seq)
  }
  channel.close()
  t.deepEqual(await exited, [0, null])
})

unix('a Node client of a Rust server echoes checksummed messages in order', async (t) => {
  const path = socketPath()
  const child = spawn(rustEcho(), ['--listen', path], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = once(child, 'exit')
  await once(child.stdout!, 'data') // "listening on …"
  const channel = await connect(path)
  for (let seq = 0; seq < 5000; seq++) {
    await channel.send(message(seq, 16 + ((seq * 7919) % 4000)))
    t.is(verify(await channel.recv()), seq)
  }
  channel.close()
  t.deepEqual(await exited, [0, null])
  t.false(existsSync(path), 'the Rust listener removed its socket file')
})

unix("'connection' runs in the AsyncLocalStorage context the server was made in, as a net.Server's does", async (t) => {
  const { AsyncLocalStorage } = await import('node:async_hooks')
  const store = new AsyncLocalStorage<string>()
  const server = store.run('server', () => listen(socketPath(), { capacity: 1 << 16 }))
  t.teardown(() => server.close())
  const connected = once(server, 'connection') as Promise<[Channel]>
  let seen: string | undefined
  server.on('connection', () => (seen = store.getStore()))
  const client = await store.run('client', () => connect(server.path))
  const [channel] = await connected
  t.is(seen, 'server')
  client.close()
  channel.close()
})
