/**
 * The generated napi-rs loader (`index.js` at the package root) with its generated types.
 * Everything native goes through this module, so the rest of `lib/` never names a path.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
import binding = require('../index.js')

export const NativeChannel: typeof binding.NativeChannel = binding.NativeChannel
export type NativeChannel = binding.NativeChannel
export type NativeChannelOptions = binding.NativeChannelOptions
