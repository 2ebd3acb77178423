#!/usr/bin/env node
'use strict'
// The cost of one cheap WASI syscall: a WAT module calls it N times in a loop
// (trapping unless it returns 0), and an otherwise identical module without
// the call gives the loop's own cost, which is subtracted:
//   ns/call = (median time with calls - median time of the empty loop) / N
// Each runtime runs in this process, round-robin, after a warm-up run (so
// that V8 has optimised the loop); modules are compiled before timing.
//
// Two more figures, same run:
// - the floor of a V8-mode syscall: the args_sizes_get module with its
//   import an N-API function that only takes its arguments and returns 0,
//   called the way @x/wasi's V8-mode imports are (emptyCall below);
// - a whole guest: 1M clock_time_get, 1M args_sizes_get and 100k one-byte
//   fd_writes in one module, compiled once, its whole run timed (ms).
//
// With --wasmtime PATH, the wasmtime CLI too, for reference: one process per
// run (code cache on, warmed), its start-up cancelled by the empty module's.
//
//   node --no-warnings bench/syscall-overhead.js [--json] [--calls 1000000] [--runs 7] [--wasmtime PATH]

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { parseArgs } = require('node:util')
const NodeWASI = require('node:wasi').WASI
const { WASI, compile } = require(path.join(__dirname, '..'))
const report = require('./report')
const { watsToWasm } = require('../__test__/raw-guest')

// Memory layout: nwritten/sizes at 0..8, one iovec at 16 -> 1 byte at 32.
const SYSCALLS = {
  empty: null,
  args_sizes_get: { params: 'i32 i32', args: '(i32.const 0) (i32.const 4)' },
  clock_time_get: { params: 'i32 i64 i32', args: '(i32.const 1) (i64.const 1000) (i32.const 0)' }, // monotonic
  fd_write: { params: 'i32 i32 i32 i32', args: '(i32.const 1) (i32.const 16) (i32.const 1) (i32.const 0)' }, // 1 byte to stdout
}

// The whole-guest loop: [syscall, calls] in one run.
const GUEST_LOOP = [['clock_time_get', 1_000_000], ['args_sizes_get', 1_000_000], ['fd_write', 100_000]]

function guestLoopWat() {
  const imports = GUEST_LOOP.map(([name]) =>
    `(import "wasi_snapshot_preview1" "${name}" (func $${name} (param ${SYSCALLS[name].params}) (result i32)))`)
  const loops = GUEST_LOOP.map(([name, calls]) => `
    (local.set $i (i32.const 0))
    (loop $next
      (if (call $${name} ${SYSCALLS[name].args}) (then unreachable))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (i32.const ${calls}))))`)
  return `(module
  ${imports.join('\n  ')}
  (memory (export "memory") 1)
  (data (i32.const 16) "\\20\\00\\00\\00\\01\\00\\00\\00")
  (data (i32.const 32) "x")
  (func (export "_start") (local $i i32)${loops.join('')}))`
}

function wat(name, calls) {
  const syscall = SYSCALLS[name]
  return `(module
  ${syscall ? `(import "wasi_snapshot_preview1" "${name}" (func $call (param ${syscall.params}) (result i32)))` : ''}
  (memory (export "memory") 1)
  (data (i32.const 16) "\\20\\00\\00\\00\\01\\00\\00\\00")
  (data (i32.const 32) "x")
  (func (export "_start") (local $i i32)
    (loop $next
      ${syscall ? `(if (call $call ${syscall.args}) (then unreachable))` : ''}
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (i32.const ${calls}))))))`
}

function compileWat(calls) {
  const sources = Object.fromEntries(Object.keys(SYSCALLS).map((name) => [name, wat(name, calls)]))
  sources.guest_loop = guestLoopWat()
  return watsToWasm(sources)
}

const stdout = fs.openSync('/dev/null', 'w')
const options = () => ({ args: ['overhead'], env: {}, stdout, returnOnExit: true })

// How each runtime runs one module once; each module is compiled once up front.
const RUNTIMES = {
  'node:wasi': (m) => startInV8(new NodeWASI({ version: 'preview1', ...options() }), m.compiled),
  '@x/wasi V8 mode': (m) => startInV8(new WASI(options()), m.compiled),
  '@x/wasi native cranelift': (m) => new WASI({ ...options(), engine: 'cranelift' }).start(m.cranelift),
  '@x/wasi native singlepass': (m) => new WASI({ ...options(), engine: 'singlepass' }).start(m.singlepass),
}

// The V8-mode floor: args_sizes_get's module, its import an N-API function
// that does nothing, behind a wrapper of the same shape as @x/wasi's.
// (Absent from builds before it was added: no floor then.)
const binding = require(path.join(__dirname, '..', 'lib', 'load-binding')).loadBinding()
const emptySyscall = binding.emptySyscall ? binding.emptySyscall() : null
function emptyCall(compiled) {
  const memory = { buffer: undefined }
  const call = (a, b) => emptySyscall(memory.buffer, a, b)
  const instance = new WebAssembly.Instance(compiled, { wasi_snapshot_preview1: { args_sizes_get: call } })
  memory.buffer = instance.exports.memory.buffer
  instance.exports._start()
  return 0
}

function startInV8(wasi, compiled) {
  return wasi.start(new WebAssembly.Instance(compiled, wasi.getImportObject()))
}

function timed(fn) {
  const started = process.hrtime.bigint()
  const code = fn()
  const ns = Number(process.hrtime.bigint() - started)
  if (code !== 0) throw new Error(`exit code ${code}`)
  return ns
}

/** Wall time of one `wasmtime run` of each module, round-robin, in ns. */
function wasmtimeTimes(wasmtime, binaries, runs) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'x-wasi-overhead-'))
  try {
    const files = Object.fromEntries(Object.entries(binaries).map(([name, bytes]) => {
      const file = path.join(dir, `${name}.wasm`)
      fs.writeFileSync(file, bytes)
      return [name, file]
    }))
    const once = (file) => {
      const started = process.hrtime.bigint()
      const child = spawnSync(wasmtime, ['run', '-C', 'cache=y', file], { stdio: ['ignore', 'ignore', 'inherit'] })
      if (child.status !== 0) throw new Error(`wasmtime: exit ${child.status ?? child.signal}`)
      return Number(process.hrtime.bigint() - started)
    }
    Object.values(files).forEach(once) // compiles into wasmtime's cache
    const times = Object.fromEntries(Object.keys(files).map((name) => [name, []]))
    for (let i = 0; i < runs; i++) for (const [name, file] of Object.entries(files)) times[name].push(once(file))
    return times
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

async function measure(calls, runs, wasmtime) {
  const binaries = await compileWat(calls)
  const modules = Object.fromEntries(
    Object.entries(binaries).map(([name, bytes]) => [name, {
      compiled: new WebAssembly.Module(bytes),
      cranelift: compile(bytes, { engine: 'cranelift', cache: false }),
      singlepass: compile(bytes, { engine: 'singlepass', cache: false }),
    }]),
  )
  const loopModule = modules.guest_loop
  delete modules.guest_loop
  const times = {}
  for (const syscall of Object.keys(modules)) {
    times[syscall] = {}
    for (const [runtime, run] of Object.entries(RUNTIMES)) {
      timed(() => run(modules[syscall])) // warm-up
      times[syscall][runtime] = []
    }
  }
  const floorModule = (name) => ({ compiled: modules[name].compiled })
  const floor = emptySyscall ? { empty: [], args_sizes_get: [] } : {}
  const guestLoop = Object.fromEntries(Object.keys(RUNTIMES).map((runtime) => [runtime, []]))
  for (const name of Object.keys(floor)) timed(() => emptyCall(floorModule(name).compiled))
  for (const run of Object.values(RUNTIMES)) timed(() => run(loopModule))
  for (let i = 0; i < runs; i++) {
    for (const syscall of Object.keys(modules)) {
      for (const [runtime, run] of Object.entries(RUNTIMES)) times[syscall][runtime].push(timed(() => run(modules[syscall])))
    }
    for (const name of Object.keys(floor)) floor[name].push(timed(() => emptyCall(floorModule(name).compiled)))
    for (const [runtime, run] of Object.entries(RUNTIMES)) guestLoop[runtime].push(timed(() => run(loopModule)))
  }
  const runtimes = Object.keys(RUNTIMES)
  if (wasmtime) {
    runtimes.push('wasmtime CLI')
    const cli = wasmtimeTimes(wasmtime, binaries, runs)
    for (const syscall of Object.keys(modules)) times[syscall]['wasmtime CLI'] = cli[syscall]
  }
  const rows = []
  for (const syscall of Object.keys(modules).filter((name) => name !== 'empty')) {
    for (const runtime of runtimes) {
      const loop = report.median(times.empty[runtime])
      rows.push({ syscall, runtime, nsPerCall: (report.median(times[syscall][runtime]) - loop) / calls, loopNs: loop / calls })
    }
  }
  const emptyNapi = emptySyscall ? (report.median(floor.args_sizes_get) - report.median(floor.empty)) / calls : undefined
  const loopMs = Object.fromEntries(Object.entries(guestLoop).map(([runtime, ns]) => [runtime, report.median(ns) / 1e6]))
  return { calls, runs, runtimes, rows, emptyNapi, guestLoop: { calls: GUEST_LOOP, ms: loopMs } }
}

async function main() {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      calls: { type: 'string', default: '1000000' },
      runs: { type: 'string', default: '7' },
      wasmtime: { type: 'string' },
    },
  })
  const result = await measure(Number(values.calls), Number(values.runs), values.wasmtime)
  process.stdout.write(values.json ? JSON.stringify(result) + '\n' : report.syscallTable(result) + '\n')
}

main().catch((err) => {
  fs.writeSync(2, `syscall-overhead: ${err.stack}\n`)
  process.exitCode = 1
})
