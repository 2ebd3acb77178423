'use strict'
// Runs one WASI module once, in a fresh Node process, the way a user would.
// bench/run.js times this whole process (start-up included).
//
//   node --no-warnings bench/child.js <mode> '{"wasm":…,"args":[…],"preopens":{…}}'
//
// modes: node-wasi, node-wasi-exit (returnOnExit: false), v8 (@x/wasi, V8
// runs the code), native:<engine> (@x/wasi, wasmer runs it; `cache: false`),
// native:<engine>:cache (with the on-disk cache in spec.cacheDir) and
// native:<engine>:fresh-cache (an empty cache: a first run).
// The guest's stdout is /dev/null, opened here and passed as `stdout`.

const fs = require('node:fs')
const path = require('node:path')

const [mode, json] = process.argv.slice(2)
const { wasm, args, preopens, cacheDir } = JSON.parse(json)
const bytes = fs.readFileSync(wasm)
const options = {
  args,
  env: {},
  preopens,
  stdout: fs.openSync('/dev/null', 'w'),
  returnOnExit: mode !== 'node-wasi-exit',
}

/** node:wasi's documented way: instantiate with the imports, then start(). */
async function runInV8(wasi) {
  const { instance } = await WebAssembly.instantiate(bytes, wasi.getImportObject())
  return wasi.start(instance)
}

async function main() {
  if (mode === 'node-wasi' || mode === 'node-wasi-exit') {
    const { WASI } = require('node:wasi')
    return runInV8(new WASI({ version: 'preview1', ...options }))
  }
  const { WASI, compile } = require(path.join(__dirname, '..'))
  if (mode === 'v8') return runInV8(new WASI(options))
  const [, engine, cached] = /^native:(\w+)(:cache|:fresh-cache)?$/.exec(mode) ?? []
  if (!engine) throw new Error(`unknown mode '${mode}'`)
  if (cached === ':cache') return new WASI({ ...options, engine, cacheDir }).start(bytes)
  if (cached === ':fresh-cache') {
    // A first run as a user has it: the default cache, but empty.
    const fresh = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'x-wasi-bench-first-'))
    try {
      return new WASI({ ...options, engine, cacheDir: fresh }).start(bytes)
    } finally {
      fs.rmSync(fresh, { recursive: true, force: true })
    }
  }
  // compile() with `cache: false`, not start(bytes) with it: at the time of
  // writing, WASI's start(bytes) reads the on-disk cache whatever `cache` says.
  return new WASI({ ...options, engine }).start(compile(bytes, { engine, cache: false }))
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    fs.writeSync(2, `bench child (${mode}): ${err && err.stack ? err.stack : err}\n`)
    process.exitCode = 70
  },
)
