// The utility process of main.cjs: opens the channel by the name it was given and echoes
// every message until the main process closes it.
const { Channel } = require('shmring')

async function main() {
  const channel = Channel.openNamed(process.argv[2])
  try {
    for await (const message of channel) await channel.send(message)
  } finally {
    channel.close()
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  },
)
