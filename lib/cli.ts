#!/usr/bin/env node
/**
 * `npx shmring <command>`: `bench` compares shmring with Node's own IPC on this machine;
 * `doctor` reports the platform, backends, OS feature probes and limits (`lib/doctor.ts`);
 * `ls` lists named segments and `clean` removes those left by crashed creators
 * (`lib/leftovers.ts`).
 */
import { parseArgs } from 'node:util'

import { benchCommand, benchOptions, benchUsage } from './bench/command'
import { runDoctor } from './doctor'
import { runClean, runLs } from './leftovers'

const usage = `Usage: shmring bench [options]
       shmring doctor [--json]   (platform, backends, probes, limits; see shmring doctor --help)
       shmring ls [--json]       (named segments of this user and whether they are still in use)
       shmring clean [--dry-run] [--json] [NAME...]   (removes named segments whose creator exited)

${benchUsage}`

async function main(): Promise<number> {
  // Before parsing: doctor has its own flags, and must work when the native binary does not load.
  if (process.argv[2] === 'doctor') return runDoctor(process.argv.slice(3))
  if (process.argv[2] === 'ls') return runLs(process.argv.slice(3))
  if (process.argv[2] === 'clean') return runClean(process.argv.slice(3))
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      ...benchOptions,
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help || positionals[0] !== 'bench') {
    process.stdout.write(usage)
    return values.help ? 0 : 2
  }
  // The runner is loaded on use: it loads the native binary, which `doctor` and `--help` must not need.
  return benchCommand(values)
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : e)
    process.exit(1)
  },
)
