/**
 * The byte-stream transports (Unix domain socket, TCP): the parent listens, starts the child,
 * hands it the address on fd 3, and both sides exchange length-prefixed frames (`framing.ts`)
 * on the connection, handled on the event loop.
 */
import { once } from 'node:events'
import * as net from 'node:net'

import { frame, readFrames } from './framing'
import { newState, respondAt } from './protocol'
import { peerGone, ReplyQueue, startChild, type Transport } from './transport'

export function streamTransport(name: string, note: string, listen: (server: net.Server) => Promise<net.AddressInfo | string>): Transport {
  return {
    name,
    note,
    async start() {
      const server = net.createServer()
      const address = await listen(server)
      const child = startChild(name, ['ignore', 'inherit', 'inherit', 'pipe'])
      const exited = once(child, 'exit')
      ;(child.stdio[3] as NodeJS.WritableStream).end(JSON.stringify(address))
      const [connection] = (await Promise.race([
        once(server, 'connection'),
        exited.then(() => Promise.reject(peerGone(name, 'exited'))),
      ])) as [net.Socket]
      connection.setNoDelay(true)
      server.close()
      const replies = new ReplyQueue()
      readFrames(connection, (buffer, offset, length) => replies.push(buffer.subarray(offset, offset + length)))
      connection.on('close', () => replies.fail(peerGone(name, 'closed the connection')))
      connection.on('error', () => {})
      return {
        request(message) {
          const reply = replies.next()
          connection.write(frame(message))
          return reply
        },
        async sendMany({ messages }) {
          if (!connection.write(Buffer.concat(messages.map(frame)))) await once(connection, 'drain')
        },
        async close() {
          connection.end()
          await exited
        },
      }
    },
    async serve() {
      const fd3 = new net.Socket({ fd: 3, readable: true })
      let text = ''
      for await (const chunk of fd3) text += String(chunk)
      const address = JSON.parse(text) as net.AddressInfo | string
      const connection = typeof address === 'string' ? net.connect(address) : net.connect(address.port, address.address)
      connection.setNoDelay(true)
      const state = newState()
      let failure: unknown = null
      readFrames(connection, (buffer, offset, length) => {
        try {
          const reply = respondAt(buffer, offset, length, state)
          if (reply) connection.write(frame(reply))
        } catch (e) {
          failure = e
          connection.destroy()
        }
      })
      await once(connection, 'close')
      if (failure) throw failure
    },
  }
}
