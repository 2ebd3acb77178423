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
//   node bench/stop-latency.js [--runs 10] [--timeout 200] [--json]

const { spawn } = require('node:child_process')
const path = require('node:path')
const { parseArgs } = require('node:util')
const { WASI } = require(path.join(__dirname, '..'))
const report = require('./report')

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

async function compileGuests() {
  const wabt = await require('wabt')()
  const bytes = {}
  for (const [name, source] of Object.entries(GUESTS)) {
    bytes[name] = Buffer.from(wabt.parseWat(`${name}.wat`, source).toBinary({}).buffer)
  }
  return bytes
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

const { median } = report

async function main() {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' }, timeout: { type: 'string', default: '200' }, json: { type: 'boolean', default: false } } })
  const runs = Number(values.runs)
  const timeout = Number(values.timeout)
  const bytes = await compileGuests()
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
  if (values.json) return void process.stdout.write(JSON.stringify({ runs, timeout, rows }, null, 2) + '\n')
  console.log(`stop latency after a ${timeout} ms timeout, ${runs} runs each (ms from the deadline until the run is over)`)
  console.log(report.table(
    ['guest', '@x/wasi run() median', 'max', 'node:wasi in a killed child median', 'max', 'ratio (median)'],
    rows.map((r) => [r.guest, r.oursMedianMs.toFixed(1), r.oursMaxMs.toFixed(1), r.peerMedianMs.toFixed(1), r.peerMaxMs.toFixed(1), `${(r.oursMedianMs / r.peerMedianMs).toFixed(2)}×`]),
  ))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
