#!/usr/bin/env node
'use strict'
// How soon `run()`'s `timeout` stops a guest, from the deadline to the
// rejection, for the three ways a guest can be busy:
//   spin   a WAT `loop br 0` (pure wasm, no syscalls: needs the signal)
//   sleep  a WAT poll_oneoff on a clock an hour away (Go's time.Sleep)
//   stdin  a WAT fd_read of a pipe no one writes to
// Peer, in the same run: node:wasi cannot be stopped in-process, so a test
// suite's way out is a child process running it, killed at the deadline;
// measured from the deadline to the child's 'exit'.
//
// Then `worker.terminate()` of a synchronous `start()` in a worker thread,
// from the call until the worker's 'exit', for the same guests; the peer is
// node:wasi's `start()` in a worker (in a child process of its own, as a
// worker node:wasi cannot stop stays blocked until its process ends).
//
//   node bench/stop-latency.js [--runs 10] [--timeout 200] [--json]

const { spawn } = require('node:child_process')
const { Worker } = require('node:worker_threads')
const path = require('node:path')
const { parseArgs } = require('node:util')
const { WASI } = require(path.join(__dirname, '..'))
const report = require('./report')
const { watsToWasm } = require('../__test__/raw-guest')

const GUESTS = {
  spin: `(module (memory (export "memory") 1) (func (export "_start") (loop (br 0))))`,
  sleep: `(module
    (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    ;; one clock subscription (tag 0, monotonic, timeout 2^60 ns, relative)
    (data (i32.const 8) "\\00\\00\\00\\00\\00\\00\\00\\00\\01\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\00\\10")
    (func (export "_start") (drop (call $poll (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 200)))))`,
  stdin: `(module
    (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "\\10\\00\\00\\00\\10\\00\\00\\00")
    (func (export "_start") (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 100)))))`,
}

/** A pipe read end no one writes to, kept open by a sleeping child. */
function silentPipe() {
  const child = spawn('sleep', ['3600'], { stdio: ['ignore', 'pipe', 'ignore'] })
  return { fd: child.stdout._handle.fd, close: () => child.kill() }
}

async function ours(bytes, guest, timeout) {
  const pipe = guest === 'stdin' ? silentPipe() : null
  const started = performance.now()
  try {
    await new WASI().run(bytes, { timeout, stdin: pipe ? pipe.fd : undefined })
    throw new Error(`${guest} finished before its timeout`)
  } catch (err) {
    if (err.code !== 'ERR_WASI_TIMEOUT') throw err
    return performance.now() - started - timeout
  } finally {
    pipe?.close()
  }
}

const CHILD = `
const { WASI } = require('node:wasi')
const bytes = Buffer.from(process.argv[1], 'base64')
const wasi = new WASI({ version: 'preview1' })
const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), wasi.getImportObject())
process.send('started')
wasi.start(instance)`

function peer(bytes, guest, timeout) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--no-warnings', '-e', CHILD, bytes.toString('base64')], {
      stdio: [guest === 'stdin' ? 'pipe' : 'ignore', 'ignore', 'inherit', 'ipc'],
    })
    let deadline = null
    child.once('message', () => {
      setTimeout(() => {
        deadline = performance.now()
        child.kill('SIGKILL')
      }, timeout)
    })
    child.once('exit', () => (deadline === null ? reject(new Error(`${guest}: the child ended early`)) : resolve(performance.now() - deadline)))
  })
}

// A worker that runs one guest with start(), synchronously; `module` is the
// package to take WASI from, `stdin` a descriptor to read.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const { WASI } = require(workerData.module)
const bytes = Buffer.from(workerData.bytes)
parentPort.postMessage('started')
if (workerData.module === 'node:wasi') {
  const wasi = new WASI({ version: 'preview1', stdin: workerData.stdin })
  wasi.start(new WebAssembly.Instance(new WebAssembly.Module(bytes), wasi.getImportObject()))
} else {
  new WASI({ stdin: workerData.stdin }).start(bytes)
}`

/** ms from terminate() until the worker's exit; null if not within `cap` ms. */
function terminateLatency(module, bytes, guest, timeout, cap) {
  // node:wasi reads its stdin with blocking reads: a non-blocking pipe would
  // answer EAGAIN, so its child's own stdin (a pipe no one writes to) is used.
  const pipe = guest === 'stdin' && module !== 'node:wasi' ? silentPipe() : null
  const worker = new Worker(WORKER, { eval: true, workerData: { module, bytes, stdin: pipe?.fd ?? 0 } })
  return new Promise((resolve, reject) => {
    let called = null
    let capTimer = null
    worker.once('error', reject)
    worker.once('message', () => {
      setTimeout(() => {
        called = performance.now()
        worker.terminate()
        capTimer = setTimeout(() => resolve(null), cap)
      }, timeout)
    })
    worker.once('exit', () => {
      clearTimeout(capTimer)
      pipe?.close()
      if (called === null) reject(new Error(`${guest}: the worker ended early`))
      else resolve(performance.now() - called)
    })
  })
}

// node:wasi's side runs in a child: a worker it cannot stop keeps running,
// and even process.exit() waits for it, so the child kills itself.
const PEER_TERMINATE = `
const [guest, timeout, cap, base64] = process.argv.slice(1)
const { terminateLatency } = require(${JSON.stringify(__filename)})
terminateLatency('node:wasi', Buffer.from(base64, 'base64'), guest, Number(timeout), Number(cap))
  .then((ms) => { require('node:fs').writeSync(1, JSON.stringify(ms)); process.kill(process.pid, 'SIGKILL') })`

function peerTerminate(bytes, guest, timeout, cap) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--no-warnings', '-e', PEER_TERMINATE, guest, String(timeout), String(cap), bytes.toString('base64')], {
      stdio: [guest === 'stdin' ? 'pipe' : 'ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.once('close', (code, signal) => (out ? resolve(JSON.parse(out)) : reject(new Error(`${guest}: peer child ended (${code ?? signal}) without a result`))))
  })
}

const { median } = report

/** "median / max", or how many runs were not stopped within the cap. */
function describeLatencies(values, cap) {
  const stopped = values.filter((v) => v !== null)
  if (stopped.length === 0) return [`not stopped within ${cap} ms (${values.length}/${values.length})`, '']
  const missed = values.length - stopped.length
  return [`${median(stopped).toFixed(1)}${missed ? ` (${missed}/${values.length} not stopped within ${cap} ms)` : ''}`, Math.max(...stopped).toFixed(1)]
}

async function main() {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' }, timeout: { type: 'string', default: '200' }, json: { type: 'boolean', default: false } } })
  const runs = Number(values.runs)
  const timeout = Number(values.timeout)
  const bytes = await watsToWasm(GUESTS)
  const rows = []
  for (const guest of Object.keys(GUESTS)) {
    const mine = []
    const theirs = []
    for (let i = 0; i < runs; i++) {
      mine.push(await ours(bytes[guest], guest, timeout))
      theirs.push(await peer(bytes[guest], guest, timeout))
    }
    rows.push({ guest, oursMedianMs: median(mine), oursMaxMs: Math.max(...mine), peerMedianMs: median(theirs), peerMaxMs: Math.max(...theirs) })
  }
  const cap = 2000
  const terminations = []
  for (const guest of Object.keys(GUESTS)) {
    const mine = []
    const theirs = []
    for (let i = 0; i < runs; i++) {
      mine.push(await terminateLatency(path.join(__dirname, '..'), bytes[guest], guest, timeout, cap))
      theirs.push(await peerTerminate(bytes[guest], guest, timeout, cap))
    }
    terminations.push({ guest, ours: mine, peer: theirs })
  }
  if (values.json) return void process.stdout.write(JSON.stringify({ runs, timeout, rows, terminations }, null, 2) + '\n')
  console.log(`stop latency after a ${timeout} ms timeout, ${runs} runs each (ms from the deadline until the run is over)`)
  console.log(report.table(
    ['guest', '@x/wasi run() median', 'max', 'node:wasi in a killed child median', 'max', 'ratio (median)'],
    rows.map((r) => [r.guest, r.oursMedianMs.toFixed(1), r.oursMaxMs.toFixed(1), r.peerMedianMs.toFixed(1), r.peerMaxMs.toFixed(1), `${(r.oursMedianMs / r.peerMedianMs).toFixed(2)}×`]),
  ))
  console.log()
  console.log(`worker.terminate() of a start() in a worker, ${timeout} ms after it started, ${runs} runs each (ms from the call until the worker's exit)`)
  console.log(report.table(
    ['guest', '@x/wasi start() median', 'max', 'node:wasi start() median', 'max'],
    terminations.map((t) => [t.guest, ...describeLatencies(t.ours, cap), ...describeLatencies(t.peer, cap)]),
  ))
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}

module.exports = { terminateLatency }
