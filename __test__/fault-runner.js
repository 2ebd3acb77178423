'use strict'

// Child process for the fault tests: runs one WASI module with @x/wasi and
// reports how the run ended as one JSON line on fd 3 (a pipe the parent
// gives it), so the guest's own fds 0-2 stay untouched:
//   {"exitCode": n}  or  {"error": {"name", "message"}}
// The parent also sees this process's exit code and signal: a crash of Node
// would show there.
//
//   node fault-runner.js native|v8 module.wasm '{"args": [...], "preopens": {...}, "waitCue": true}'
//
// waitCue: read one byte from stdin before starting (the parent's go-ahead,
// e.g. after it closed the read end of our stdout).

const fs = require('node:fs')
const path = require('node:path')
const { WASI } = require(path.join(__dirname, '..'))

function report(result) {
  fs.writeSync(3, JSON.stringify(result) + '\n')
}

async function main() {
  const [mode, wasmPath, optionsJson = '{}'] = process.argv.slice(2)
  const { waitCue, engine = 'cranelift', ...options } = JSON.parse(optionsJson)
  const bytes = fs.readFileSync(wasmPath)
  if (waitCue) fs.readSync(0, Buffer.alloc(1))
  const wasi = new WASI({ ...options, engine, returnOnExit: true })
  let exitCode
  if (mode === 'native') exitCode = wasi.start(bytes)
  else exitCode = wasi.start((await WebAssembly.instantiate(bytes, wasi.getImportObject())).instance)
  report({ exitCode })
}

main().catch((err) => report({ error: { name: err?.constructor?.name, message: String(err?.message ?? err) } }))
