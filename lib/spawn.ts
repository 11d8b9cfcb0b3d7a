/**
 * Rendezvous by inheritance: the parent creates a channel and starts a child that attaches
 * with `fromParent()` (no names, no files). On Unix the segment's fd goes in the child's
 * `stdio` array and `SHMRING_CHANNEL_FD` says which; on Windows, where `spawn` cannot pass a
 * section handle, `SHMRING_CHANNEL_HANDLE` names this process and its handle, which the child
 * duplicates (allowed between processes of one user at one integrity level; otherwise use a
 * named channel). Works for Node children and for any program that reads the variable (the
 * Rust crate's `Channel::from_parent`).
 */
import * as childProcess from 'node:child_process'
import { closeSync } from 'node:fs'

import { Channel, type ChannelOptions } from './channel'
import { checkObject, checkString, codes, shmringError } from './errors'

/** The environment variable that tells a child which inherited fd holds its channel (Unix). */
export const FD_ENV = 'SHMRING_CHANNEL_FD'
/** The environment variable that tells a child where to duplicate its channel's handle from (Windows). */
export const HANDLE_ENV = 'SHMRING_CHANNEL_HANDLE'

export interface SpawnOptions extends childProcess.SpawnOptions {
  /** Sizes of the new channel. */
  channel?: ChannelOptions
}

export interface SpawnedChild {
  child: childProcess.ChildProcess
  channel: Channel
}

/**
 * Creates a channel and spawns `command` with it; the child calls `fromParent()`. The `stdio`
 * option may be given as an array or a string as usual (on Unix the channel's fd is appended).
 */
export function spawn(command: string, args: readonly string[] = [], options: SpawnOptions = {}): SpawnedChild {
  checkString(command, 'command')
  checkObject(options, 'options')
  const { channel: channelOptions, ...spawnOptions } = options
  const channel = Channel.create(channelOptions)
  const env = { ...(spawnOptions.env ?? process.env) }
  delete env[FD_ENV]
  delete env[HANDLE_ENV]
  let fd: number | null = null
  try {
    let stdio = stdioArray(spawnOptions.stdio)
    if (process.platform === 'win32') {
      env[HANDLE_ENV] = channel.handleForChild()
    } else {
      fd = channel.shareFd()
      env[FD_ENV] = String(stdio.length)
      stdio = [...stdio, fd]
    }
    const child = childProcess.spawn(command, args, { ...spawnOptions, stdio, env })
    // Trust the pid we started, not the one the child writes into shared memory: a child
    // that dies before attaching ends the channel too.
    if (child.pid !== undefined) channel.watchPeer(child.pid)
    return { child, channel }
  } catch (e) {
    channel.close()
    throw e
  } finally {
    if (fd !== null) closeSync(fd)
  }
}

/** Attaches to the channel the parent passed with `spawn` (reads `SHMRING_CHANNEL_FD`, or `SHMRING_CHANNEL_HANDLE` on Windows). */
export function fromParent(): Channel {
  if (process.platform === 'win32') {
    const value = process.env[HANDLE_ENV]
    if (!value) throw notStarted(HANDLE_ENV, value)
    const channel = Channel.fromParentHandle(value)
    // A second fromParent() fails instead of attaching twice; our children do not see it.
    delete process.env[HANDLE_ENV]
    return channel
  }
  const value = process.env[FD_ENV]
  if (value === undefined || !/^\d+$/.test(value)) throw notStarted(FD_ENV, value)
  const fd = Number(value)
  const channel = Channel.fromFd(fd)
  channel.watchPeer(process.ppid)
  // The channel holds its own duplicate; close the inherited fd so that our own children
  // do not inherit it, and so that a second fromParent() fails instead of attaching twice.
  closeSync(fd)
  delete process.env[FD_ENV]
  return channel
}

function notStarted(variable: string, value: string | undefined): Error {
  return shmringError(
    codes.NOT_FOUND,
    `${variable} is ${value === undefined ? 'not set' : `"${value}"`}: start this process with shmring's spawn() (or pass the channel yourself)`,
  )
}

type StdioEntry = Exclude<childProcess.StdioOptions, string>[number]

function stdioArray(stdio: childProcess.StdioOptions | undefined): StdioEntry[] {
  if (stdio === undefined) return ['pipe', 'pipe', 'pipe']
  if (typeof stdio === 'string') return [stdio, stdio, stdio]
  return [...stdio]
}
