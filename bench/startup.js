#!/usr/bin/env node
'use strict'
// Start-up inside one Node process: runs Go hello again and again, each way
// in turn (round-robin), and reports the first (cold) run and the median and
// minimum of the next N. @x/wasi's native path keeps compiled modules in an
// in-process cache, so its repeats skip compilation; node:wasi compiles with
// WebAssembly.compile each time (V8 may reuse its own code for identical
// bytes). The "module compiled once" cases are the fair peers of that cache.
//
//   node --no-warnings bench/startup.js [--json] [--runs 20] hello.wasm

const fs = require('node:fs')
const path = require('node:path')
const { parseArgs } = require('node:util')
const NodeWASI = require('node:wasi').WASI
const { WASI, compile } = require(path.join(__dirname, '..'))
const report = require('./report')

const stdout = fs.openSync('/dev/null', 'w')
const options = () => ({ args: ['hello'], env: {}, stdout, returnOnExit: true })

async function inV8(wasi, source) {
  const module = source instanceof WebAssembly.Module ? source : await WebAssembly.compile(source)
  const instance = await WebAssembly.instantiate(module, wasi.getImportObject())
  return wasi.start(instance)
}

// The on-disk cache is off (see child.js on why through compile()): the first
// run compiles, the next ones find the module in the in-process cache.
function native(engine, bytes) {
  return new WASI({ ...options(), engine }).start(compile(bytes, { engine, cache: false }))
}

function cases(bytes, compiled) {
  let module
  const cranelift = () => (module ??= compile(bytes, { engine: 'cranelift', cache: false }))
  return [
    { name: 'node:wasi', how: 'compile + instantiate + start', run: () => inV8(new NodeWASI({ version: 'preview1', ...options() }), bytes) },
    { name: '@x/wasi V8 mode', how: 'compile + instantiate + start', run: () => inV8(new WASI(options()), bytes) },
    { name: 'node:wasi, module compiled once', how: 'instantiate + start', run: () => inV8(new NodeWASI({ version: 'preview1', ...options() }), compiled) },
    { name: '@x/wasi V8 mode, module compiled once', how: 'instantiate + start', run: () => inV8(new WASI(options()), compiled) },
    { name: '@x/wasi native cranelift', how: 'compile + start, cached after the first', run: () => native('cranelift', bytes) },
    { name: '@x/wasi native singlepass', how: 'compile + start, cached after the first', run: () => native('singlepass', bytes) },
    { name: '@x/wasi native cranelift, compile() once', how: 'start(compiled module)', run: () => new WASI({ ...options(), engine: 'cranelift' }).start(cranelift()) },
  ]
}

async function timed(fn) {
  const started = process.hrtime.bigint()
  const code = await fn()
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  if (code !== 0) throw new Error(`exit code ${code}`)
  return ms
}

async function measure(wasmPath, runs) {
  const bytes = fs.readFileSync(wasmPath)
  const compiled = await WebAssembly.compile(bytes)
  const list = cases(bytes, compiled)
  const times = list.map(() => [])
  const first = []
  for (const c of list) first.push(await timed(c.run))
  for (let i = 0; i < runs; i++) {
    for (let k = 0; k < list.length; k++) times[k].push(await timed(list[k].run))
  }
  return {
    runs,
    wasmBytes: bytes.length,
    cases: list.map((c, k) => ({ name: c.name, how: c.how, first: first[k], median: report.median(times[k]), min: Math.min(...times[k]) })),
  }
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, runs: { type: 'string', default: '20' } },
  })
  const wasmPath = positionals[0] ?? path.join(__dirname, 'build', 'hello.wasm')
  const result = await measure(wasmPath, Number(values.runs))
  process.stdout.write(values.json ? JSON.stringify(result) + '\n' : report.startupTable(result) + '\n')
}

main().catch((err) => {
  fs.writeSync(2, `startup: ${err.stack}\n`)
  process.exitCode = 1
})
