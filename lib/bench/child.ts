/**
 * Entry point of a benchmark peer: `node child.js <transport>` (a child process) or a worker
 * thread started with `argv: [<transport>]` serves that transport until the parent closes it.
 */
import { transports } from './transports/index'

const name = process.argv[2]
const transport = transports.find((t) => t.name === name)
if (!transport) {
  console.error(`shmring bench: unknown transport ${name}`)
  process.exit(2)
}
transport.serve().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`shmring bench peer (${name}):`, e)
    process.exit(1)
  },
)
