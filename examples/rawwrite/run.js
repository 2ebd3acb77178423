'use strict'
// Runs the rawwrite example twice: natively in wasmer, then in V8 with
// @x/wasi's syscalls (the node:wasi way). Build it first:
// `node examples/build.js` (`npm run setup` does it too).

const fs = require('node:fs')
const path = require('node:path')
const { WASI } = require('@x/wasi')

async function main() {
  const bytes = fs.readFileSync(path.join(__dirname, 'rawwrite.wasm'))

  console.log('native:')
  const nativeExit = new WASI().start(bytes)

  console.log('V8:')
  const wasi = new WASI()
  const { instance } = await WebAssembly.instantiate(bytes, wasi.getImportObject())
  const v8Exit = wasi.start(instance)

  process.exitCode = nativeExit || v8Exit
}

main()
