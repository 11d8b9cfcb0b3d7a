#!/usr/bin/env node
/**
 * `npx shmring <command>`: `bench` compares shmring with Node's own IPC on this machine.
 * (`ls`, `clean` and `doctor` are planned; see the issues.)
 */
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

import { markdown, runBenchmark } from './bench/run'

const usage = `Usage: shmring bench [options]

Measures shmring beside Unix sockets, localhost TCP and child_process IPC, between two real
processes, in one run: round-trip latency (p50/p99/p99.9) and one-way messages per second.

Options:
  --quick           3 short runs (under a minute)
  --runs N          runs per transport (default 5)
  --samples N       round trips per run (default 100000)
  --seconds S       one-way streaming time per run (default 2)
  --size BYTES      message size (default 64)
  --only a,b        transports: shmring-sync, shmring-async, shmring-async-nospin, uds, tcp,
                    ipc-json, ipc-advanced
  --json FILE       write the results as JSON
  --md FILE         write the markdown report
  -h, --help        this text
`

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      quick: { type: 'boolean' },
      runs: { type: 'string' },
      samples: { type: 'string' },
      seconds: { type: 'string' },
      size: { type: 'string' },
      only: { type: 'string' },
      json: { type: 'string' },
      md: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help || positionals[0] !== 'bench') {
    process.stdout.write(usage)
    return values.help ? 0 : 2
  }
  const number = (v: string | undefined, fallback: number) => (v === undefined ? fallback : Number(v))
  const quick = values.quick === true
  const samples = number(values.samples, quick ? 20_000 : 100_000)
  const report = await runBenchmark({
    runs: number(values.runs, quick ? 3 : 5),
    samples,
    warmup: Math.min(10_000, Math.ceil(samples / 10)),
    seconds: number(values.seconds, quick ? 0.5 : 2),
    size: number(values.size, 64),
    only: values.only?.split(','),
    progress: (line) => process.stderr.write(process.stderr.isTTY ? `\r\x1b[K${line}` : `${line}\n`),
  })
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K')
  const md = markdown(report)
  process.stdout.write(md)
  if (values.md) writeFileSync(values.md, md)
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2))
  return 0
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : e)
    process.exit(1)
  },
)
