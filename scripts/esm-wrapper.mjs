// Writes dist/index.mjs: an ES module that re-exports the CommonJS build by name, so both
// `import { Channel } from 'shmring'` and `require('shmring')` load one copy of the addon.
import { createRequire } from 'node:module'
import { writeFileSync } from 'node:fs'

const require = createRequire(import.meta.url)
const names = Object.keys(require('../dist/index.js')).filter((n) => n !== 'default' && n !== '__esModule')
const body = `import cjs from './index.js'\n${names.map((n) => `export const ${n} = cjs.${n}`).join('\n')}\nexport default cjs\n`
writeFileSync(new URL('../dist/index.mjs', import.meta.url), body)
