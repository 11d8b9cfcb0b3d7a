// shmring from an Electron main process: the main process creates a named channel and starts a
// `utilityProcess` (which cannot inherit file descriptors) with the channel's *name*; the
// utility process opens it by name and echoes every message. Also works with a plain Node child
// (`child_process.spawn` + shmring's `spawn()`), which can inherit the channel instead.
//
// Run (in an Electron app that depends on shmring): electron examples/electron/main.cjs
// NOT run on the development machine (Electron cannot be downloaded there); the receive paths
// it uses are the ones `__test__/electron.spec.ts` proves free of external buffers.
const { app, utilityProcess } = require('electron')
const { randomBytes } = require('node:crypto')
const path = require('node:path')
const { Channel } = require('shmring')

app.whenReady().then(async () => {
  // Owner-only, refuses a name that exists; a random suffix keeps two app instances apart.
  const name = `my-app-${process.pid}-${randomBytes(4).toString('hex')}`
  const channel = Channel.createNamed(name)
  const worker = utilityProcess.fork(path.join(__dirname, 'utility.cjs'), [name])
  worker.once('exit', (code) => console.log(`utility process exited with ${code}`))

  const rounds = 10_000
  const payload = Buffer.alloc(64, 7)
  const start = process.hrtime.bigint()
  for (let i = 0; i < rounds; i++) {
    await channel.send(payload)
    const reply = await channel.recv() // a Buffer owned by JavaScript (no external buffer)
    if (!reply.equals(payload)) throw new Error(`reply ${i} differs`)
  }
  const micros = Number(process.hrtime.bigint() - start) / rounds / 1000
  console.log(`${rounds} round trips main ⇄ utility process, ${micros.toFixed(1)} µs each`)
  channel.close() // the utility process's loop ends with ERR_SHMRING_PEER_CLOSED
  app.quit()
})
