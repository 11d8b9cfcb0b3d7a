/**
 * Which platform package fits this machine (`linux-x64-gnu`, `darwin-arm64`, …), worked out
 * in plain JavaScript, so it can be told even when no native binary loads.
 */

/** The suffix of the platform package (`@shmring/binding-<triple>`) this machine needs. */
export function platformTriple(): string {
  const { platform, arch } = process
  if (platform === 'linux') return `${platform}-${arch}-${libc() === 'musl' ? 'musl' : 'gnu'}`
  if (platform === 'win32') return `${platform}-${arch}-msvc`
  return `${platform}-${arch}`
}

/** The targets prebuilt binaries are published for (package.json `napi.targets`). */
export const PREBUILT = [
  'linux-x64-gnu',
  'linux-arm64-gnu',
  'linux-x64-musl',
  'linux-arm64-musl',
  'darwin-x64',
  'darwin-arm64',
  'win32-x64-msvc',
] as const

/**
 * On Linux, the C library Node runs on: Node's own report names the glibc version; without
 * one it is musl (Alpine). `undefined` elsewhere.
 */
export function libc(): string | undefined {
  if (process.platform !== 'linux') return undefined
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined
  const glibc = report?.header?.glibcVersionRuntime
  return glibc === undefined ? 'musl' : `glibc ${glibc}`
}
