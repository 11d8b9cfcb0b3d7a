/**
 * `worker_threads` `postMessage` between the main thread and a worker: in-process (one
 * process, two threads), so it is marked as such; messages are structured-cloned (copied).
 */
import { once } from 'node:events'
import { parentPort, Worker } from 'node:worker_threads'

import { newState, respond } from '../protocol'
import { childScript, messagePeer, peerGone, ReplyQueue, toBuffer, type Transport } from '../transport'

const CLOSE = 'close'

export const worker: Transport = {
  name: 'worker',
  note: 'in-process: worker_threads postMessage to a worker thread (event loop), not between processes',
  inProcess: true,
  async start() {
    const thread = new Worker(childScript, { argv: ['worker'], stdout: false, stderr: false })
    const replies = new ReplyQueue()
    thread.on('message', (m) => replies.push(toBuffer(m)))
    thread.on('error', (e) => replies.fail(e))
    const exited = once(thread, 'exit')
    thread.on('exit', () => replies.fail(peerGone('worker', 'exited')))
    await once(thread, 'online')
    return messagePeer(
      replies,
      (message) => thread.postMessage(message),
      async () => {
        thread.postMessage(CLOSE)
        await exited
      },
    )
  },
  async serve() {
    const port = parentPort
    if (!port) throw new Error('the worker transport serves from a worker thread')
    const state = newState()
    await new Promise<void>((resolve, reject) => {
      port.on('message', (m: unknown) => {
        if (m === CLOSE) {
          port.close()
          resolve()
          return
        }
        try {
          const reply = respond(toBuffer(m), state)
          if (reply) port.postMessage(reply)
        } catch (e) {
          reject(e)
        }
      })
    })
  },
}
