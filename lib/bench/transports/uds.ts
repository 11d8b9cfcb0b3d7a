/** A Unix domain socket (a named pipe on Windows), length-prefixed frames, on the event loop. */
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { streamTransport } from '../stream'

export const uds = streamTransport('uds', 'Unix domain socket, length-prefixed frames (event loop)', async (server) => {
  const path =
    process.platform === 'win32'
      ? `\\\\.\\pipe\\shmring-bench-${process.pid}-${Date.now()}`
      : join(tmpdir(), `shmring-bench-${process.pid}-${Date.now()}.sock`)
  server.listen(path)
  await once(server, 'listening')
  return path
})
