/** Statistics shared by every transport: percentiles of one run, medians of several runs. */

/** The `q`-quantile (0..1) of sorted `values` (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank]!
}

export interface Latency {
  p50: number
  p99: number
  p999: number
}

/** p50/p99/p99.9 of round-trip samples in nanoseconds. */
export function latency(samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b)
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), p999: quantile(sorted, 0.999) }
}

export interface Spread {
  median: number
  min: number
  max: number
}

/** Median (the mean of the middle two for an even count, as in the Rust benchmark) with min–max of one figure over several runs. */
export function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b)
  const n = sorted.length
  const median = n === 0 ? Number.NaN : n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2
  return { median, min: sorted[0] ?? Number.NaN, max: sorted[n - 1] ?? Number.NaN }
}

/** `1 B`, `64 B`, `4 KiB`, `1 MiB`. */
export function formatSize(bytes: number): string {
  if (bytes >= 1 << 20 && bytes % (1 << 20) === 0) return `${bytes >> 20} MiB`
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes >> 10} KiB`
  return `${bytes} B`
}

/** Parses `1`, `64`, `4K`, `4KiB`, `1M`, `1MiB` (binary units) into bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+)\s*(b|k|kib|kb|m|mib|mb)?$/i.exec(text.trim())
  if (!m) throw new Error(`"${text}" is not a message size (use bytes, or a K/M suffix: 64, 4K, 1M)`)
  const unit = (m[2] ?? 'b').toLowerCase()[0]
  const bytes = Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1 << 20 : 1)
  if (bytes < 1 || bytes > 1 << 22) throw new Error(`message size ${text} is out of range (1 B to 4 MiB)`)
  return bytes
}
