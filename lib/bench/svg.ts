/**
 * The report's two charts as standalone SVG, written by this code (no dependencies, no
 * network): round-trip latency p50 by message size (log-log) and one-way throughput in MB/s
 * by size (log-log), one series per transport, min–max of the runs as whiskers, a legend and
 * axis labels.
 */
import type { Report, TransportResult } from './run'
import { formatSize, type Spread } from './stats'

const WIDTH = 860
const HEIGHT = 460
const PLOT = { left: 96, top: 56, right: 640, bottom: 392 }
const COLORS = ['#d62728', '#ff7f0e', '#e377c2', '#1f77b4', '#2ca02c', '#9467bd', '#8c564b', '#7f7f7f', '#17becf', '#bcbd22']
const DASHED = (r: TransportResult) => !r.name.startsWith('shmring') && r.name !== 'rust-shmring'

interface Series {
  name: string
  color: string
  dashed: boolean
  points: { x: number; y: Spread }[]
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** Decade ticks covering [min, max] (both > 0). */
function decades(min: number, max: number): number[] {
  const ticks: number[] = []
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) ticks.push(10 ** e)
  return ticks
}

function chart(title: string, subtitle: string, yLabel: string, series: Series[], sizes: number[], yTick: (v: number) => string): string {
  const ys = series.flatMap((s) => s.points.flatMap((p) => [p.y.min, p.y.max, p.y.median])).filter((v) => v > 0 && Number.isFinite(v))
  const ticks = decades(Math.min(...ys), Math.max(...ys))
  const [yMin, yMax] = [Math.log10(ticks[0]!), Math.log10(ticks[ticks.length - 1]!)]
  const [xMin, xMax] = [Math.log2(sizes[0]!), Math.log2(sizes[sizes.length - 1]!)]
  const px = (size: number) => (xMax === xMin ? (PLOT.left + PLOT.right) / 2 : PLOT.left + ((Math.log2(size) - xMin) / (xMax - xMin)) * (PLOT.right - PLOT.left))
  const py = (v: number) => PLOT.bottom - ((Math.log10(Math.max(v, ticks[0]!)) - yMin) / (yMax - yMin || 1)) * (PLOT.bottom - PLOT.top)
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${(PLOT.left + PLOT.right) / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escape(title)}</text>`,
    `<text x="${(PLOT.left + PLOT.right) / 2}" y="38" text-anchor="middle" font-size="11" fill="#555">${escape(subtitle)}</text>`,
  ]
  for (const t of ticks) {
    const y = py(t).toFixed(1)
    out.push(`<line x1="${PLOT.left}" y1="${y}" x2="${PLOT.right}" y2="${y}" stroke="#e0e0e0"/>`)
    out.push(`<text x="${PLOT.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escape(yTick(t))}</text>`)
  }
  for (const size of sizes) {
    const x = px(size).toFixed(1)
    out.push(`<line x1="${x}" y1="${PLOT.top}" x2="${x}" y2="${PLOT.bottom}" stroke="#f0f0f0"/>`)
    out.push(`<text x="${x}" y="${PLOT.bottom + 18}" text-anchor="middle">${escape(formatSize(size))}</text>`)
  }
  out.push(`<rect x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.right - PLOT.left}" height="${PLOT.bottom - PLOT.top}" fill="none" stroke="#333"/>`)
  out.push(`<text x="${(PLOT.left + PLOT.right) / 2}" y="${PLOT.bottom + 42}" text-anchor="middle">message size (log scale)</text>`)
  const midY = (PLOT.top + PLOT.bottom) / 2
  out.push(`<text x="16" y="${midY}" text-anchor="middle" transform="rotate(-90 16 ${midY})">${escape(yLabel)}</text>`)
  for (const s of series) {
    const pts = s.points.filter((p) => p.y.median > 0 && Number.isFinite(p.y.median))
    const path = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${px(p.x).toFixed(1)},${py(p.y.median).toFixed(1)}`).join(' ')
    out.push(`<g stroke="${s.color}" fill="${s.color}">`)
    if (pts.length > 1) out.push(`<path d="${path}" fill="none" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`)
    for (const p of pts) {
      const x = px(p.x).toFixed(1)
      out.push(`<line x1="${x}" y1="${py(p.y.min).toFixed(1)}" x2="${x}" y2="${py(p.y.max).toFixed(1)}" stroke-width="1"/>`)
      out.push(`<circle cx="${x}" cy="${py(p.y.median).toFixed(1)}" r="3"/>`)
    }
    out.push('</g>')
  }
  series.forEach((s, i) => {
    const y = PLOT.top + 8 + i * 20
    const x = PLOT.right + 20
    out.push(`<line x1="${x}" y1="${y}" x2="${x + 24}" y2="${y}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`)
    out.push(`<circle cx="${x + 12}" cy="${y}" r="3" fill="${s.color}"/>`)
    out.push(`<text x="${x + 32}" y="${y}" dominant-baseline="middle">${escape(s.name)}</text>`)
  })
  const noteY = PLOT.top + 8 + series.length * 20 + 10
  out.push(`<text x="${PLOT.right + 20}" y="${noteY}" font-size="10" fill="#555">solid: shmring; dashed: alternatives</text>`)
  out.push(`<text x="${PLOT.right + 20}" y="${noteY + 14}" font-size="10" fill="#555">whiskers: min–max of runs</text>`)
  out.push('</svg>')
  return out.join('\n') + '\n'
}

function seriesOf(report: Report, y: (s: TransportResult['sizes'][number]) => Spread): Series[] {
  const rows = [...report.results, ...('sizes' in report.rust ? [report.rust] : [])]
  return rows.map((r, i) => ({
    name: r.inProcess ? `${r.name} (in-process)` : r.name === 'rust-shmring' ? 'rust-shmring (ceiling)' : r.name,
    color: COLORS[i % COLORS.length]!,
    dashed: DASHED(r),
    points: r.sizes.map((s) => ({ x: s.size, y: y(s) })),
  }))
}

/** Tick labels (the ticks are powers of ten). */
const clean = (v: number) => String(+v.toPrecision(6))
const us = (ns: number) => (ns >= 1e9 ? `${clean(ns / 1e9)} s` : ns >= 1e6 ? `${clean(ns / 1e6)} ms` : ns >= 1e3 ? `${clean(ns / 1e3)} µs` : `${clean(ns)} ns`)
const mbps = (v: number) => (v >= 1000 ? `${clean(v / 1000)} GB/s` : `${clean(v)} MB/s`)

/** The latency and throughput charts of `report`. */
export function charts(report: Report): { latency: string; throughput: string } {
  const m = report.machine
  const subtitle = `shmring bench, ${report.date.slice(0, 10)}: ${m.cpu}, ${m.cores} cores, ${m.os}, Node ${m.node}; median of ${report.options.runs} run${report.options.runs === 1 ? '' : 's'}`
  return {
    latency: chart('Round-trip latency p50 by message size', subtitle, 'round-trip latency p50 (log scale)', seriesOf(report, (s) => s.rtt.p50), report.options.sizes, us),
    throughput: chart('One-way throughput by message size', subtitle, 'one-way throughput, MB/s (log scale)', seriesOf(report, (s) => s.oneWay.megabytesPerSecond), report.options.sizes, mbps),
  }
}

/** Where `--svg FILE` writes: FILE without `.svg`, plus `-latency.svg` and `-throughput.svg`. */
export function svgPaths(file: string): { latency: string; throughput: string } {
  const base = file.replace(/\.svg$/i, '')
  return { latency: `${base}-latency.svg`, throughput: `${base}-throughput.svg` }
}
