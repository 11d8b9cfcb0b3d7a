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

/** Median with min–max of one figure over several runs. */
export function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b)
  return { median: quantile(sorted, 0.5), min: sorted[0] ?? Number.NaN, max: sorted[sorted.length - 1] ?? Number.NaN }
}
