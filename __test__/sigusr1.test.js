'use strict'

// SIGUSR1 is shared: wasmer's host interrupt uses it to stop a guest
// spinning in wasm (run()'s timeout and signal), and Node uses it to start
// the inspector. src/interrupt.rs puts a guard handler on top of wasmer's:
// these tests check, in child processes, that a SIGUSR1 from outside still
// reaches Node (and never aborts the process), and that timeouts still stop
// a spinning guest after JS installs its own SIGUSR1 listener.

const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { test } = require('node:test')
const { fixture } = require('./fixtures')

const ROOT = path.resolve(__dirname, '..')

function child(script, args = []) {
  return spawnSync(process.execPath, [...args, '-e', script, ROOT, fixture('wat:infinite_loop'), fixture('go:hello')], {
    encoding: 'utf8',
    timeout: 60_000,
  })
}

test('a SIGUSR1 from outside after wasm has run starts the inspector, as without the addon', () => {
  const result = child(
    `const fs = require('node:fs')
     const { WASI } = require(process.argv[1])
     const stdout = fs.openSync('/dev/null', 'w')
     new WASI({ stdout }).start(fs.readFileSync(process.argv[3]))
     process.kill(process.pid, 'SIGUSR1')
     setTimeout(() => { console.log('alive'); process.exit(0) }, 300)`,
    ['--inspect-port=0'],
  )
  assert.equal(result.status, 0, result.stderr)
  assert.equal(result.stdout, 'alive\n')
  assert.match(result.stderr, /Debugger listening/)
})

test('with a process.on("SIGUSR1") listener added after wasm ran, timeouts still stop a spinning guest and the listener still hears SIGUSR1', () => {
  const result = child(
    `const fs = require('node:fs')
     const { WASI } = require(process.argv[1])
     const loop = fs.readFileSync(process.argv[2])
     ;(async () => {
       const first = await new WASI().run(loop, { timeout: 50 }).catch((e) => e.code)
       let heard = 0
       process.on('SIGUSR1', () => heard++)
       const started = Date.now()
       const second = await new WASI().run(loop, { timeout: 50 }).catch((e) => e.code)
       const took = Date.now() - started
       process.kill(process.pid, 'SIGUSR1')
       await new Promise((resolve) => setTimeout(resolve, 200))
       console.log(JSON.stringify({ first, second, heard, took }))
     })()`,
  )
  assert.equal(result.status, 0, result.stderr)
  const { first, second, heard, took } = JSON.parse(result.stdout)
  assert.equal(first, 'ERR_WASI_TIMEOUT')
  assert.equal(second, 'ERR_WASI_TIMEOUT')
  assert.equal(heard, 1)
  assert.ok(took < 5000, `the second timeout took ${took} ms`)
})

// The storm's sender: `kill <tid>` for every thread of process argv[1] (a
// process-directed signal, delivered to that thread when it does not block
// it). It stops as soon as that process, its parent, is gone: a sender that
// outlived it would go on signalling whatever process got its number next.
const STORM = `
import os, signal, sys
pid = int(sys.argv[1])
while os.getppid() == pid:
    try:
        tids = os.listdir('/proc/%d/task' % pid)
    except OSError:
        break
    for tid in tids:
        try:
            os.kill(int(tid), signal.SIGUSR1)
        except OSError:
            pass
`

test('foreign SIGUSR1s in a tight loop, aimed at every thread, during many short and long runs and sync starts: every run ends as it should and the process survives', () => {
  // The storm reaches run() threads (also as they exit),
  // pool threads and the main thread, in and out of wasm, while timeouts
  // send wasmer's own SIGUSR1s. Neither kind may reach the other's handler.
  // Before src/interrupt.rs blocked signals on exiting wasm threads, about
  // one such child in five died of SIGSEGV.
  const result = child(
    `const STORM = ${JSON.stringify(STORM)}
     const fs = require('node:fs')
     const { spawn } = require('node:child_process')
     const { WASI } = require(process.argv[1])
     const loop = fs.readFileSync(process.argv[2])
     const hello = fs.readFileSync(process.argv[3])
     const tiny = fs.readFileSync(require(process.argv[1] + '/__test__/fixtures').fixture('wat:hello_unstable'))
     let heard = 0
     process.on('SIGUSR1', () => heard++)
     const sender = spawn('python3', ['-c', STORM, String(process.pid)], { stdio: 'ignore' })
     const devnull = fs.openSync('/dev/null', 'w')
     ;(async () => {
       const seen = {}
       const count = (what) => { seen[what] = (seen[what] ?? 0) + 1 }
       const deadline = Date.now() + 4000
       let rounds = 0
       while (Date.now() < deadline) {
         rounds++
         const runs = [
           new WASI().run(loop, { timeout: 1 + (rounds % 7) }).then(() => 'returned', (e) => e.code),
           new WASI().run(loop, { timeout: 40 }).then(() => 'returned', (e) => e.code),
           new WASI().run(hello, { stdout: 'pipe' }).then((r) => 'exit ' + r.exitCode + ' ' + r.stdout.length, (e) => e.message),
         ]
         // Many short runs: many run() threads exiting (see BlockSignalsAtExit in src/interrupt.rs).
         for (let i = 0; i < 8; i++) runs.push(new WASI().run(tiny, { stdout: 'pipe' }).then((r) => 'tiny exit ' + r.exitCode, (e) => e.message))
         count('sync exit ' + new WASI({ stdout: devnull }).start(hello))
         for (let i = 0; i < 20; i++) process.kill(process.pid, 'SIGUSR1')
         for (const ending of await Promise.all(runs)) count(ending)
       }
       sender.kill()
       await new Promise((resolve) => setTimeout(resolve, 100))
       console.log(JSON.stringify({ rounds, seen, heard }))
     })()`,
  )
  assert.equal(result.signal, null, `the process died of ${result.signal}: ${result.stderr}`)
  assert.equal(result.status, 0, result.stderr)
  const { rounds, seen, heard } = JSON.parse(result.stdout)
  const helloBytes = 'Hello, Wasm\n'.length
  assert.deepEqual(Object.keys(seen).sort(), ['ERR_WASI_TIMEOUT', `exit 0 ${helloBytes}`, 'sync exit 0', 'tiny exit 0'].sort(), JSON.stringify(seen))
  assert.equal(seen['tiny exit 0'], 8 * rounds)
  assert.equal(seen.ERR_WASI_TIMEOUT, 2 * rounds)
  assert.equal(seen['sync exit 0'], rounds)
  assert.ok(heard >= 20 * rounds, `the listener heard ${heard} of at least ${20 * rounds} SIGUSR1s`)
})
