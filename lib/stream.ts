/**
 * A Node `Duplex` over a channel: writes become messages (`send`, with backpressure),
 * messages become reads (the ring holds what the stream's buffer cannot take). Object mode:
 * one chunk is one message.
 */
import { Duplex } from 'node:stream'

import type { Channel } from './channel'

export function toDuplex(channel: Channel): Duplex {
  const onMessage = (message: Buffer) => {
    if (!duplex.push(message)) channel.off('message', onMessage)
  }
  const duplex = new Duplex({
    objectMode: true,
    read() {
      if (!channel.closed && channel.listenerCount('message') === 0) channel.on('message', onMessage)
    },
    write(chunk: Uint8Array, _encoding, callback) {
      channel.send(chunk).then(() => callback(), callback)
    },
    final(callback) {
      channel.close()
      callback()
    },
    destroy(error, callback) {
      channel.off('message', onMessage)
      channel.close()
      callback(error)
    },
  })
  channel.once('close', () => duplex.push(null))
  channel.on('error', (e) => duplex.destroy(e))
  return duplex
}
