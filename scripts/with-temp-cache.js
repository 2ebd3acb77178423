'use strict'
// `node scripts/with-temp-cache.js CMD [ARGS...]`: runs CMD with the on-disk
// cache of compiled modules (X_WASI_CACHE_DIR) in a fresh temporary
// directory, removed afterwards, so `npm test` never writes the user's cache;
// and without background compiles (engine 'auto'), which would outlive it
// (tiering.test.js turns them on where it tests them).

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const [command, ...args] = process.argv.slice(2)
if (!command) {
  console.error('usage: node scripts/with-temp-cache.js CMD [ARGS...]')
  process.exit(2)
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'x-wasi-test-cache-'))
let status = 1
try {
  const bin = command === 'node' ? process.execPath : command
  const child = spawnSync(bin, args, { stdio: 'inherit', env: { ...process.env, X_WASI_CACHE_DIR: dir, X_WASI_NO_BACKGROUND_COMPILE: '1' } })
  if (child.error) throw child.error
  status = child.status ?? 1
} finally {
  fs.rmSync(dir, { recursive: true, force: true })
}
process.exit(status)
