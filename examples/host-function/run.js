'use strict'
// Runs the host-function example in V8: a Go reactor that imports a JS
// function (`env.hostLog`) besides WASI, and exports `add`. Build it first:
// `node examples/build.js` (`npm run setup` does it too; needs Go >= 1.24).

const fs = require('node:fs')
const path = require('node:path')
const { WASI } = require('@x/wasi')

async function main() {
  const bytes = fs.readFileSync(path.join(__dirname, 'host-function.wasm'))
  const wasi = new WASI()

  let memory
  // Go passes a string as (address, length) in its linear memory.
  function hostLog(ptr, len) {
    console.log(`hostLog: ${Buffer.from(memory.buffer, ptr, len).toString('utf8')}`)
  }

  const { instance } = await WebAssembly.instantiate(bytes, { ...wasi.getImportObject(), env: { hostLog } })
  memory = instance.exports.memory
  // A reactor: `_initialize` runs Go's runtime and init functions; no `_start`.
  wasi.initialize(instance)

  console.log(`add(40, 2) = ${instance.exports.add(40, 2)}`)
  console.log(`add(1, 2) = ${instance.exports.add(1, 2)}`)
}

main()
