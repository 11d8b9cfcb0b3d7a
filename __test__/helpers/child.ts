/**
 * Runs a fixture as a real child process: `spawnFixture(name)` starts
 * `__test__/fixtures/<name>.ts` with tsx and a shmring channel (the test gets both ends of
 * the relationship: the `ChildProcess` and the parent's `Channel`).
 */
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import type { ChildProcess } from 'node:child_process'

import { spawn, type Channel, type ChannelOptions } from '../../lib/index.js'

export const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url))

export function spawnFixture(
  name: string,
  args: string[] = [],
  channel?: ChannelOptions,
): { child: ChildProcess; channel: Channel; exited: Promise<[number | null, NodeJS.Signals | null]> } {
  const spawned = spawn(process.execPath, ['--import=tsx', `${fixtures}${name}.ts`, ...args], {
    stdio: ['ignore', 'inherit', 'inherit'],
    channel,
  })
  const exited = once(spawned.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  return { ...spawned, exited }
}

/** Path of the Rust echo example, built by ci/node.sh (`cargo build -p shmring-channel --example echo`). */
export function rustEcho(): string {
  const target = process.env.CARGO_TARGET_DIR ?? fileURLToPath(new URL('../../target/', import.meta.url))
  const path = `${target.replace(/\/?$/, '/')}debug/examples/echo`
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`cargo build -p shmring-channel --example echo\` first`)
  return path
}
