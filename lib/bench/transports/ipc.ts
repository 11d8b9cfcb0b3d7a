/** `child_process` IPC (`fork`), with `serialization: 'json'` or `'advanced'`, on the event loop. */
import * as childProcess from 'node:child_process'
import { once } from 'node:events'

import { newState, respond } from '../protocol'
import { childScript, messagePeer, peerGone, ReplyQueue, toBuffer, type Transport } from '../transport'

function ipc(serialization: 'json' | 'advanced'): Transport {
  const name = `ipc-${serialization}`
  return {
    name,
    note: `child_process IPC, serialization '${serialization}' (event loop)`,
    async start() {
      const child = childProcess.fork(childScript, [name], { serialization, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      const replies = new ReplyQueue()
      child.on('message', (m) => replies.push(toBuffer(m)))
      const exited = once(child, 'exit')
      child.on('exit', () => replies.fail(peerGone(name, 'exited')))
      return messagePeer(
        replies,
        (message) => child.send(message),
        async () => {
          child.disconnect()
          await exited
        },
      )
    },
    async serve() {
      const state = newState()
      let failure: unknown = null
      process.on('message', (m) => {
        try {
          const reply = respond(toBuffer(m), state)
          if (reply) process.send!(reply)
        } catch (e) {
          failure = e
          process.disconnect()
        }
      })
      await once(process, 'disconnect')
      if (failure) throw failure
    },
  }
}

export const ipcJson = ipc('json')
export const ipcAdvanced = ipc('advanced')
