/** Localhost TCP with TCP_NODELAY, length-prefixed frames, on the event loop. */
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'

import { streamTransport } from '../stream'

export const tcp = streamTransport('tcp', 'localhost TCP, TCP_NODELAY, length-prefixed frames (event loop)', async (server) => {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return server.address() as AddressInfo
})
