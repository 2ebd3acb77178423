'use strict'
// Runs the tinygo-style example, whose WASI imports are named
// "wasi_unstable", natively in wasmer and then in V8. Build it first:
// `node examples/build.js` (`npm run setup` does it too).

const fs = require('node:fs')
const path = require('node:path')
const { WASI } = require('@x/wasi')

async function main() {
  const bytes = fs.readFileSync(path.join(__dirname, 'tinygo-style.wasm'))

  process.stdout.write('native: ')
  const nativeExit = new WASI().start(bytes)

  process.stdout.write('V8: ')
  const wasi = new WASI()
  // getImportObject() has both `wasi_snapshot_preview1` and `wasi_unstable`.
  const { instance } = await WebAssembly.instantiate(bytes, wasi.getImportObject())
  const v8Exit = wasi.start(instance)

  process.exitCode = nativeExit || v8Exit
}

main()
