#!/usr/bin/env node
'use strict'
// What lending guest memory to JS and stoppable worker runs cost
// (SECURITY.md quotes this file's output, bench/HOST-CALLS.md):
//   - a JS host function called from wasm: empty, and one that takes
//     `wasi.memory.buffer` and reads a byte, on the main thread and in a
//     worker (where the guest runs on a thread of its own and each call
//     crosses to the worker's JS thread and back), beside V8 mode and
//     node:wasi calling the same JS function;
//   - Go hello's `start()` from a compiled module, main thread and worker;
//   - a guest that grows its memory by 64 MiB and touches every page (guest
//     memories live on a memfd so that JS can be lent an alias of them).
// ns per call subtract an otherwise identical loop without the call; every
// runtime runs in this process (the worker rows in one worker), round-robin.
//
//   node --no-warnings bench/host-calls.js [--calls 200000] [--runs 7] [--starts 50] [--json]

const fs = require('node:fs')
const path = require('node:path')
const { parseArgs } = require('node:util')
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads')
const NodeWASI = require('node:wasi').WASI
const { WASI, compile } = require(path.join(__dirname, '..'))
const report = require('./report')
const { watsToWasm } = require('../__test__/raw-guest')

const HELLO = path.join(__dirname, '..', 'examples', 'hello', 'hello.wasm')

/** A loop calling env.f(i) `calls` times, or not at all (`call` false). */
function loopWat(calls, call) {
  return `(module
  (import "env" "f" (func $f (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (loop $next
      ${call ? '(drop (call $f (local.get $i)))' : ''}
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (i32.const ${calls}))))))`
}

// Grows by 1024 pages (64 MiB) and writes a byte into each 4 KiB page.
const GROW_WAT = `(module
  (memory (export "memory") 1)
  (func (export "_start") (local $p i32)
    (if (i32.eq (memory.grow (i32.const 1024)) (i32.const -1)) (then unreachable))
    (local.set $p (i32.const 65536))
    (loop $next
      (i32.store8 (local.get $p) (i32.const 1))
      (local.set $p (i32.add (local.get $p) (i32.const 4096)))
      (br_if $next (i32.lt_u (local.get $p) (i32.const ${65536 * 1025}))))))`

/** Host functions: `empty` returns its argument, `memory` reads a byte of wasi.memory. */
function hostFunctions(memoryOf) {
  return {
    empty: (i) => i,
    memory: (i) => new Uint8Array(memoryOf().buffer)[i & 0xffff],
  }
}

function timed(fn) {
  const started = process.hrtime.bigint()
  fn()
  return Number(process.hrtime.bigint() - started) / 1e6
}

/** @x/wasi natively: start() of a compiled module with `fn` as env.f. */
function nativeRun(module, kind) {
  const wasi = new WASI({ returnOnExit: true })
  const f = hostFunctions(() => wasi.memory)[kind]
  return timed(() => wasi.start(module, { env: { f } }))
}

/** V8 runs the module: @x/wasi's V8 mode or node:wasi (`Wasi`). */
function v8Run(Wasi, module, kind) {
  const wasi = new Wasi({ version: 'preview1', returnOnExit: true })
  let instance
  const f = hostFunctions(() => instance.exports.memory)[kind]
  instance = new WebAssembly.Instance(module, { ...wasi.getImportObject(), env: { f } })
  return timed(() => wasi.start(instance))
}

/** ms per run of each way, `runs` rounds after a warm-up round. */
function hostCallTimes(ways, runs) {
  const times = Object.fromEntries(Object.keys(ways).map((k) => [k, []]))
  for (let round = -1; round < runs; round++) {
    for (const [name, way] of Object.entries(ways)) {
      const ms = way()
      if (round >= 0) times[name].push(ms)
    }
  }
  return times
}

/** The native host-call ways, in this thread (main or worker). */
function nativeWays(bytes) {
  const withCalls = compile(bytes.withCalls, { cache: false })
  const without = compile(bytes.without, { cache: false })
  return {
    empty: () => nativeRun(withCalls, 'empty'),
    memory: () => nativeRun(withCalls, 'memory'),
    loop: () => nativeRun(without, 'empty'),
  }
}

function helloStarts(starts) {
  const module = compile(fs.readFileSync(HELLO), { engine: 'cranelift' })
  const stdout = fs.openSync('/dev/null', 'w')
  const times = []
  try {
    for (let i = -1; i < starts; i++) {
      const ms = timed(() => new WASI({ args: ['hello'], stdout, returnOnExit: true }).start(module))
      if (i >= 0) times.push(ms)
    }
  } finally {
    fs.closeSync(stdout)
  }
  return times
}

/** In a worker: the native rows, measured there. */
function workerMain() {
  const { bytes, runs, starts } = workerData
  const ways = nativeWays({ withCalls: Buffer.from(bytes.withCalls), without: Buffer.from(bytes.without) })
  parentPort.postMessage({ hostCalls: hostCallTimes(ways, runs), hello: helloStarts(starts) })
}

function inWorker(bytes, runs, starts) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(__filename, { workerData: { bytes, runs, starts } })
    worker.once('message', resolve)
    worker.once('error', reject)
  })
}

async function main() {
  const { values } = parseArgs({
    options: {
      calls: { type: 'string', default: '200000' },
      runs: { type: 'string', default: '7' },
      starts: { type: 'string', default: '50' },
      json: { type: 'boolean', default: false },
    },
  })
  const calls = Number(values.calls)
  const runs = Number(values.runs)
  const starts = Number(values.starts)
  const bytes = await watsToWasm({ withCalls: loopWat(calls, true), without: loopWat(calls, false), grow: GROW_WAT })
  const v8With = new WebAssembly.Module(bytes.withCalls)
  const v8Without = new WebAssembly.Module(bytes.without)

  const main = hostCallTimes(
    {
      ...Object.fromEntries(Object.entries(nativeWays(bytes)).map(([k, v]) => [`native ${k}`, v])),
      'v8 empty': () => v8Run(WASI, v8With, 'empty'),
      'v8 memory': () => v8Run(WASI, v8With, 'memory'),
      'v8 loop': () => v8Run(WASI, v8Without, 'empty'),
      'node:wasi empty': () => v8Run(NodeWASI, v8With, 'empty'),
      'node:wasi memory': () => v8Run(NodeWASI, v8With, 'memory'),
      'node:wasi loop': () => v8Run(NodeWASI, v8Without, 'empty'),
    },
    runs,
  )
  const mainHello = helloStarts(starts)
  const worker = await inWorker({ withCalls: bytes.withCalls, without: bytes.without }, runs, starts)

  const growModule = compile(bytes.grow, { cache: false })
  const growV8 = new WebAssembly.Module(bytes.grow)
  const grow = hostCallTimes(
    {
      '@x/wasi native': () => timed(() => new WASI({ returnOnExit: true }).start(growModule)),
      '@x/wasi V8 mode': () => v8Run(WASI, growV8, 'empty'),
      'node:wasi': () => v8Run(NodeWASI, growV8, 'empty'),
    },
    runs,
  )

  const median = report.median
  const nsPerCall = (times, kind) => ((median(times[`${kind}`]) - median(times.loop)) * 1e6) / calls
  const pick = (times, prefix) => Object.fromEntries(Object.entries(times).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]))
  const rows = [
    ['@x/wasi native, main thread', pick(main, 'native ')],
    ['@x/wasi native, in a worker', worker.hostCalls],
    ['@x/wasi V8 mode', pick(main, 'v8 ')],
    ['node:wasi', pick(main, 'node:wasi ')],
  ].map(([name, times]) => ({ name, empty: nsPerCall(times, 'empty'), memory: nsPerCall(times, 'memory') }))
  const result = {
    calls,
    runs,
    hostCalls: rows,
    hello: { main: median(mainHello), worker: median(worker.hello), starts },
    grow: Object.fromEntries(Object.entries(grow).map(([k, v]) => [k, median(v)])),
  }
  if (values.json) return void process.stdout.write(JSON.stringify(result, null, 2) + '\n')

  const peer = rows.find((r) => r.name === 'node:wasi')
  console.log(`A JS host function called from wasm, ${calls.toLocaleString('en')} calls, median of ${runs} runs (ns per call, the loop's own cost subtracted)`)
  console.log(report.table(
    ['runtime', 'empty function', '× node:wasi', 'reads wasi.memory.buffer', '× node:wasi'],
    rows.map((r) => [r.name, r.empty.toFixed(0), `${(r.empty / peer.empty).toFixed(2)}×`, r.memory.toFixed(0), `${(r.memory / peer.memory).toFixed(2)}×`]),
  ))
  console.log()
  console.log(`Go hello start() from a compiled module (Cranelift), median of ${starts}: main thread ${result.hello.main.toFixed(2)} ms, in a worker ${result.hello.worker.toFixed(2)} ms`)
  console.log()
  console.log(`A guest growing its memory by 64 MiB and writing a byte into each 4 KiB page, median of ${runs} runs`)
  const base = result.grow['node:wasi']
  console.log(report.table(['runtime', 'ms', '× node:wasi'], Object.entries(result.grow).map(([k, v]) => [k, v.toFixed(1), `${(v / base).toFixed(2)}×`])))
}

if (isMainThread) {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
} else {
  workerMain()
}
