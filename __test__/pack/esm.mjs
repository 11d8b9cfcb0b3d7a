// ESM entry of the tarball install test (see check.cjs): `import` from the installed package.
import * as shmring from 'shmring'
import { Channel, spawn, fromParent, codes } from 'shmring'
import { fileURLToPath } from 'node:url'
import check from './check.cjs'

// Named imports and the namespace are the same functions (one copy of the addon).
if (shmring.Channel !== Channel || shmring.spawn !== spawn || shmring.fromParent !== fromParent || shmring.codes !== codes) {
  throw new Error('named ESM exports differ from the namespace')
}
await check(shmring, fileURLToPath(import.meta.url), 'esm')
