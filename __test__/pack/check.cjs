// The tarball install test's checks, run by ci/pack.sh inside a fresh project that has only
// the packed `shmring` and its platform package installed. `esm.mjs` and `cjs.cjs` load
// shmring their own way and hand it here; children start the same entry script again, so every
// process uses the installed package through that entry point.
'use strict'
const assert = require('node:assert/strict')
const childProcess = require('node:child_process')
const { once } = require('node:events')
const path = require('node:path')

/** A message whose length and bytes depend on `i`, so a lost, reordered or torn one shows. */
function message(i) {
  const body = Buffer.alloc(1 + ((i * 37) % 2000))
  for (let j = 0; j < body.length; j++) body[j] = (i + j * 7) & 0xff
  return body
}

/** Echo until the other side closes. */
async function echo(channel) {
  for await (const m of channel) await channel.send(m)
  channel.close()
}

/** `count` checked round trips one by one, then `count` pipelined ones (all sent, then all read). */
async function roundTrips(channel, count) {
  for (let i = 0; i < count; i++) {
    const m = message(i)
    await channel.send(m)
    assert.deepEqual(await channel.recv(), m, `round trip ${i}`)
  }
  for (let i = 0; i < count; i++) await channel.send(message(count + i))
  for (let i = 0; i < count; i++) assert.deepEqual(await channel.recv(), message(count + i), `pipelined ${i}`)
  return 2 * count
}

async function exitOf(child) {
  const [code, signal] = child.exitCode !== null ? [child.exitCode, null] : await once(child, 'exit')
  assert.equal(code, 0, `child exited with ${code} ${signal ?? ''}`)
}

module.exports = async function check(shmring, script, entry) {
  const [role, name] = process.argv.slice(2)
  if (role === 'child') return echo(shmring.fromParent())
  if (role === 'named') return echo(shmring.Channel.openNamed(name))

  // Loaded from the fresh project, never from a source tree.
  const resolved = require.resolve('shmring')
  const installed = path.join(process.cwd(), 'node_modules', 'shmring') + path.sep
  assert.ok(resolved.startsWith(installed), `shmring resolved to ${resolved}, not under ${installed}`)
  const binary = Object.keys(require.cache).find((p) => p.endsWith('.node'))
  assert.match(binary ?? '', /[\\/]node_modules[\\/]@shmring[\\/]binding-[a-z0-9-]+[\\/]shmring\.[a-z0-9-]+\.node$/, `binary: ${binary}`)

  // 1. spawn + fromParent: the child inherits the channel's fd (Unix) or duplicates the
  // parent's section handle (Windows).
  const { child, channel } = shmring.spawn(process.execPath, [script, 'child'], { stdio: ['ignore', 'inherit', 'inherit'] })
  const spawned = await roundTrips(channel, 200)
  channel.close()
  await exitOf(child)

  // 2. A named channel, opened by a second process that inherits nothing.
  const channelName = `shmring-pack-${entry}-${process.pid}`
  const named = shmring.Channel.createNamed(channelName)
  const peer = childProcess.spawn(process.execPath, [script, 'named', channelName], { stdio: ['ignore', 'inherit', 'inherit'] })
  named.watchPeer(peer.pid)
  const viaName = await roundTrips(named, 100)
  named.close()
  await exitOf(peer)
  assert.throws(() => shmring.Channel.openNamed(channelName), { code: shmring.codes.NOT_FOUND }, 'closing removes the name')

  console.log(`${entry}: ${spawned} messages with a spawned child, ${viaName} over a named channel; binary ${binary}`)
}
