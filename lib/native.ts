/**
 * The generated napi-rs loader (`index.js` at the package root) with its generated types.
 * Everything native goes through this module, so the rest of `lib/` never names a path.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
import binding = require('../index.js')

export const NativeChannel: typeof binding.NativeChannel = binding.NativeChannel
export type NativeChannel = binding.NativeChannel
export type NativeChannelOptions = binding.NativeChannelOptions

// The data path: free functions on a channel handle (much cheaper to call than methods).
export const channelTrySend: typeof binding.channelTrySend = binding.channelTrySend
export const channelTrySendBatch: typeof binding.channelTrySendBatch = binding.channelTrySendBatch
export const channelTrySendPacked: typeof binding.channelTrySendPacked = binding.channelTrySendPacked
export const channelTryRecv: typeof binding.channelTryRecv = binding.channelTryRecv
export const channelTryRecvBatch: typeof binding.channelTryRecvBatch = binding.channelTryRecvBatch
export const channelRecvInto: typeof binding.channelRecvInto = binding.channelRecvInto
export const channelRecvPacked: typeof binding.channelRecvPacked = binding.channelRecvPacked
