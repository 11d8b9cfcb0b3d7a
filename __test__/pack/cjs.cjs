// CommonJS entry of the tarball install test (see check.cjs): `require` the installed package.
'use strict'
const shmring = require('shmring')
const check = require('./check.cjs')

check(shmring, __filename, 'cjs').catch((e) => {
  console.error(e)
  process.exit(1)
})
