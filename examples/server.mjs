// A server that many processes connect to, each with a channel of its own (Unix): the parent
// listens, starts four client processes, and answers each client's requests (upper-cases
// them). Run: node examples/server.mjs   (after `npm run build`)
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { connect, listen } from '../dist/index.mjs'

if (process.argv[2] === 'client') {
  const channel = await connect(process.argv[3])
  const started = process.hrtime.bigint()
  for (let i = 0; i < 10_000; i++) {
    await channel.send(Buffer.from(`hello ${i} from ${process.pid}`))
    const reply = (await channel.recv()).toString()
    if (reply !== `HELLO ${i} FROM ${process.pid}`) throw new Error(`unexpected reply ${reply}`)
  }
  const micros = Number(process.hrtime.bigint() - started) / 10_000 / 1000
  console.log(`client ${process.pid}: 10 000 requests, ${micros.toFixed(1)} µs per round trip on average`)
  channel.close()
} else {
  const path = join(tmpdir(), `shmring-example-${process.pid}.sock`)
  const server = listen(path)
  server.on('connection', async (channel) => {
    for await (const request of channel) await channel.send(Buffer.from(request.toString().toUpperCase()))
  })
  const script = fileURLToPath(import.meta.url)
  const clients = Array.from({ length: 4 }, () => spawn(process.execPath, [script, 'client', path], { stdio: 'inherit' }))
  const codes = await Promise.all(clients.map(async (child) => (await once(child, 'exit'))[0]))
  server.close()
  console.log(`all clients done (exit codes ${codes.join(', ')}); server closed`)
}
