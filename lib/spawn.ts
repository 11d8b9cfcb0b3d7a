/**
 * Rendezvous by inheritance: the parent creates a channel and starts a child with the
 * segment's fd in its `stdio` array (no names, no files); the child attaches with
 * `fromParent()`. Works for Node children and for any program that reads `SHMRING_CHANNEL_FD`
 * (the Rust crate's `Channel::from_parent`). Unix only: on Windows use a named channel.
 */
import * as childProcess from 'node:child_process'
import { closeSync } from 'node:fs'

import { Channel, type ChannelOptions } from './channel'
import { checkObject, checkString, codes, shmringError } from './errors'

/** The environment variable that tells a child which inherited fd holds its channel. */
export const FD_ENV = 'SHMRING_CHANNEL_FD'

export interface SpawnOptions extends childProcess.SpawnOptions {
  /** Sizes of the new channel. */
  channel?: ChannelOptions
}

export interface SpawnedChild {
  child: childProcess.ChildProcess
  channel: Channel
}

/**
 * Creates a channel and spawns `command` with the channel's fd appended to `stdio`; the child
 * calls `fromParent()`. The `stdio` option may be given as an array or a string as usual.
 */
export function spawn(command: string, args: readonly string[] = [], options: SpawnOptions = {}): SpawnedChild {
  checkString(command, 'command')
  checkObject(options, 'options')
  const { channel: channelOptions, ...spawnOptions } = options
  const channel = Channel.create(channelOptions)
  const fd = channel.shareFd()
  try {
    const stdio = stdioArray(spawnOptions.stdio)
    const childFd = stdio.length
    const child = childProcess.spawn(command, args, {
      ...spawnOptions,
      stdio: [...stdio, fd],
      env: { ...(spawnOptions.env ?? process.env), [FD_ENV]: String(childFd) },
    })
    // Trust the pid we started, not the one the child writes into shared memory: a child
    // that dies before attaching ends the channel too.
    if (child.pid !== undefined) channel.watchPeer(child.pid)
    return { child, channel }
  } catch (e) {
    channel.close()
    throw e
  } finally {
    closeSync(fd)
  }
}

/** Attaches to the channel the parent passed with `spawn` (reads `SHMRING_CHANNEL_FD`). */
export function fromParent(): Channel {
  const value = process.env[FD_ENV]
  if (value === undefined || !/^\d+$/.test(value)) {
    throw shmringError(
      codes.NOT_FOUND,
      `${FD_ENV} is ${value === undefined ? 'not set' : `"${value}"`}: start this process with shmring's spawn() (or pass the channel fd yourself)`,
    )
  }
  const fd = Number(value)
  const channel = Channel.fromFd(fd)
  channel.watchPeer(process.ppid)
  // The channel holds its own duplicate; close the inherited fd so that our own children
  // do not inherit it, and so that a second fromParent() fails instead of attaching twice.
  closeSync(fd)
  delete process.env[FD_ENV]
  return channel
}

type StdioEntry = Exclude<childProcess.StdioOptions, string>[number]

function stdioArray(stdio: childProcess.StdioOptions | undefined): StdioEntry[] {
  if (stdio === undefined) return ['pipe', 'pipe', 'pipe']
  if (typeof stdio === 'string') return [stdio, stdio, stdio]
  return [...stdio]
}
