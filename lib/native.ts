/**
 * The generated napi-rs loader (`index.js` at the package root) with its generated types.
 * Everything native goes through this module, so the rest of `lib/` never names a path.
 * When no binary fits this machine, loading throws `ERR_SHMRING_NO_BINARY`, which names the
 * platform detected and says how to get or build the binary.
 */
import { codes, shmringError } from './errors'
import { PREBUILT, platformTriple } from './platform'

type Binding = typeof import('../index.js')

const binding: Binding = load()

function load(): Binding {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('../index.js') as Binding
  } catch (e) {
    throw noBinary(e)
  }
}

function noBinary(cause: unknown): Error {
  const triple = platformTriple()
  const error = shmringError(
    codes.NO_BINARY,
    `shmring could not load a native binary for this machine (detected ${triple}, Node ${process.version}; ` +
      `what the loader tried is in error.cause). ` +
      `Prebuilt binaries exist for ${PREBUILT.join(', ')}, each in an optional dependency ` +
      `(here @shmring/binding-${triple}). ` +
      `If your platform is listed, reinstall without --omit=optional / --no-optional and on this same ` +
      `platform (node_modules copied from another OS or libc lacks it). Otherwise build it from source: ` +
      `install Rust (rustup), clone the shmring repository, run \`npm install && npm run build\` there, ` +
      `and either install that checkout (\`npm install /path/to/shmring\`) or point ` +
      `NAPI_RS_NATIVE_LIBRARY_PATH at the shmring.${triple}.node it built.`,
  )
  error.cause = cause
  return error
}

export const NativeChannel: typeof binding.NativeChannel = binding.NativeChannel
export type NativeChannel = import('../index.js').NativeChannel
export type NativeChannelOptions = import('../index.js').NativeChannelOptions

// The data path: free functions on a channel handle (much cheaper to call than methods).
export const channelTrySend: typeof binding.channelTrySend = binding.channelTrySend
export const channelTrySendBatch: typeof binding.channelTrySendBatch = binding.channelTrySendBatch
export const channelTrySendPacked: typeof binding.channelTrySendPacked = binding.channelTrySendPacked
export const channelTryRecv: typeof binding.channelTryRecv = binding.channelTryRecv
export const channelTryRecvBatch: typeof binding.channelTryRecvBatch = binding.channelTryRecvBatch
export const channelRecvInto: typeof binding.channelRecvInto = binding.channelRecvInto
export const channelRecvPacked: typeof binding.channelRecvPacked = binding.channelRecvPacked

// The server rendezvous: `listen()` / `connect()` (src/server.rs).
export const NativeServer: typeof binding.NativeServer = binding.NativeServer
export type NativeServer = import('../index.js').NativeServer
export const NativeConnection: typeof binding.NativeConnection = binding.NativeConnection
export type NativeConnection = import('../index.js').NativeConnection

// Named segments left behind by creators that exited: `npx shmring ls` / `clean` (src/leftover.rs).
export const namedSegments: typeof binding.namedSegments = binding.namedSegments
export const removeLeftoverSegment: typeof binding.removeLeftoverSegment = binding.removeLeftoverSegment
export type NativeNamedSegment = import('../index.js').NativeNamedSegment

// What `npx shmring doctor` reports (src/info.rs).
export const nativeInfo: typeof binding.nativeInfo = binding.nativeInfo
export type NativeInfo = import('../index.js').NativeInfo
