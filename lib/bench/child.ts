/** Entry point of a benchmark child process: `node child.js <transport>` serves that transport. */
import { transports } from './transports'

const name = process.argv[2]
const transport = transports.find((t) => t.name === name)
if (!transport) {
  console.error(`unknown transport ${name}`)
  process.exit(2)
}
transport.serve().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e)
    process.exit(1)
  },
)
