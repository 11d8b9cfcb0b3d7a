/**
 * Specification of the no-external-buffer guarantee: received messages are copied into
 * memory that JavaScript allocated, never handed out as external buffers, which Electron
 * >= 21 refuses (its V8 memory cage; napi-rs would then silently copy a second time).
 *
 * Without Electron here, `native/no-external-buffers.c` stands in for it: preloaded with
 * LD_PRELOAD, it makes napi_create_external_buffer / napi_create_external_arraybuffer fail
 * with napi_no_external_buffers_allowed, as Electron's do, and print a marker line when
 * called. A child process then receives payloads of 0 B to 1 MiB through every receive path.
 *
 * What this proves: the addon reaches Node-API through dlsym (napi-rs on Linux), the
 * preloaded dlsym hands it the shim's two functions, and no receive path called either of
 * them while every payload arrived intact. The controls come first: a module resolving and
 * calling napi_create_external_buffer the way napi-rs does prints the marker (so does a real
 * napi-rs addon that returns external buffers, if installed), LD_DEBUG=bindings shows our
 * addon's dlsym bound to the shim, and the shim reports handing the two functions to it.
 * (A first version of the shim returned the exported name, which the dynamic linker resolved
 * to node's own function: the first control caught that.) What it does not prove:
 * the rest of Electron's cage (its allocator, pointer compression, sandboxed ArrayBuffers),
 * loading in Electron's main process or a utilityProcess, or other platforms; only a real
 * Electron run in CI shows those.
 */
import test from 'ava'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

import { hasGcc, NativeBuild, runCollecting } from './helpers/native.js'

const MARKER = 'SHMRING-TEST: external buffer created'
const addon = fileURLToPath(new URL('../index.js', import.meta.url))
const receivePaths = fileURLToPath(new URL('./fixtures/lifecycle-receive-paths.ts', import.meta.url))

const linux = process.platform === 'linux'
const maybe = hasGcc && linux ? test.serial : test.skip
const why = !linux ? ' (skipped: needs Linux LD_PRELOAD)' : !hasGcc ? ' (skipped: gcc not found)' : ''

let build: NativeBuild | undefined
let shim = ''

test.before(() => {
  if (!hasGcc || !linux) return
  build = new NativeBuild('no-external-buffers.c', 'no-external-buffers.so', ['-shared', '-fPIC'], ['-ldl'])
  shim = build.path
})

test.after.always(() => build?.remove())

/** Runs node with the shim preloaded; resolves with its exit and output. */
function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runCollecting(process.execPath, args, { env: { ...process.env, LD_PRELOAD: shim, ...env } })
}

maybe(`control: a module that resolves napi_create_external_buffer as napi-rs does and calls it prints the marker${why}`, async (t) => {
  // The shim loaded as an addon: dlsym(dlopen(NULL), name), then a call (see the .c file).
  const r = await run(['-e', `process.dlopen({ exports: {} }, ${JSON.stringify(shim)})`])
  t.deepEqual([r.code, r.signal], [0, null], r.stderr)
  t.true(r.stderr.includes(MARKER), r.stderr)
  t.true(r.stderr.includes('SHMRING-TEST: control call was refused with napi_no_external_buffers_allowed'), r.stderr)
})

maybe(`control: under the shim, the addon's Node-API lookups go through the preloaded dlsym${why}`, async (t) => {
  const r = await run(['-e', `require(${JSON.stringify(addon)})`], { LD_DEBUG: 'bindings' })
  t.deepEqual([r.code, r.signal], [0, null], r.stderr.slice(-2000))
  const binding = r.stderr.split('\n').find((l) => /binding file .*shmring[^ ]*\.node .* to .*no-external-buffers\.so .*symbol `dlsym'/.test(l))
  t.truthy(binding, "LD_DEBUG=bindings must show the addon's dlsym bound to the shim")
  t.log(binding?.trim())
  t.true(r.stderr.includes('SHMRING-TEST: napi_create_external_buffer resolved to the shim'))
  t.true(r.stderr.includes('SHMRING-TEST: napi_create_external_arraybuffer resolved to the shim'))
  t.false(r.stderr.includes(MARKER), 'loading the addon creates no external buffer')
})

// A napi-rs addon that does return external buffers (the build tool's tar binding, present
// as a dev dependency of @napi-rs/cli) is caught by the shim and falls back to a copy.
let tar = ''
try {
  tar = createRequire(import.meta.url).resolve('@napi-rs/tar')
} catch {
  // not installed: the control below is skipped
}
const maybeTar = hasGcc && linux && tar ? test.serial : test.skip
maybeTar(`control: another napi-rs addon that returns an external Buffer prints the marker and still works${tar ? why : ' (skipped: @napi-rs/tar not installed)'}`, async (t) => {
  const code = `
    const tar = require(${JSON.stringify(tar)})
    const builder = new tar.Builder()
    builder.appendData('hello.txt', Buffer.from('hello world'))
    const archive = new tar.Archive(Uint8Array.from(builder.finish()))
    for (const entry of archive.entries()) console.log(String(entry.asBytes()))
  `
  const r = await run(['-e', code])
  t.deepEqual([r.code, r.signal], [0, null], r.stderr)
  t.is(r.stdout.trim(), 'hello world')
  t.true(r.stderr.includes(MARKER), r.stderr)
})

maybe(`every receive path delivers 0 B to 1 MiB payloads intact without creating an external buffer${why}`, async (t) => {
  const r = await run(['--import=tsx', receivePaths])
  t.deepEqual([r.code, r.signal], [0, null], r.stderr.slice(-2000))
  // The shim was really in the path of this child (see the control above).
  t.true(r.stderr.includes('SHMRING-TEST: napi_create_external_buffer resolved to the shim'))
  t.false(r.stderr.includes(MARKER), r.stderr)
  const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!)
  t.is(result.verified, 154)
  t.deepEqual(Object.keys(result.paths).sort(), ["'message'", 'for await', 'recv', 'recvInto', 'toDuplex', 'tryRecv', 'tryRecvBatch'])
  t.log(JSON.stringify(result.paths))
})
