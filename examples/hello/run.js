'use strict'
// Runs the Go hello example natively in wasmer through @x/wasi.
// Build it first: `node examples/build.js` (`npm start` does both).

const fs = require('node:fs')
const path = require('node:path')
const { WASI } = require('@x/wasi')

const wasi = new WASI({ args: ['hello', 'from', 'node'] })
const exitCode = wasi.start(fs.readFileSync(path.join(__dirname, 'hello.wasm')))
process.exitCode = exitCode
