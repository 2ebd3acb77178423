'use strict'
// The background process of lib/tiering.js:
//   node background-compile.js WASM_FILE CACHE_DIR CACHE_MAX_BYTES LOCK_FILE
// compiles the module in WASM_FILE with Cranelift into the disk cache, then
// removes WASM_FILE and LOCK_FILE.

const fs = require('node:fs')

const [wasm, cacheDir, cacheMaxBytes, lock] = process.argv.slice(2)
try {
  const bytes = fs.readFileSync(wasm)
  fs.rmSync(wasm, { force: true })
  require('..').compile(bytes, { engine: 'cranelift', cacheDir, cacheMaxBytes: Number(cacheMaxBytes) }).release()
} catch {
  // nothing to report to: the next run compiles or tries again
} finally {
  fs.rmSync(wasm, { force: true })
  fs.rmSync(lock, { force: true })
}
