'use strict'
// The same module with Node's built-in node:wasi, for comparison: it
// provides only `wasi_snapshot_preview1`, so instantiating fails.

const fs = require('node:fs')
const path = require('node:path')
const { WASI } = require('node:wasi')

async function main() {
  const wasi = new WASI({ version: 'preview1' })
  const bytes = fs.readFileSync(path.join(__dirname, 'tinygo-style.wasm'))
  const { instance } = await WebAssembly.instantiate(bytes, wasi.getImportObject())
  wasi.start(instance)
}

main().catch((err) => {
  console.error(`${err.name}: ${err.message}`)
  process.exitCode = 1
})
