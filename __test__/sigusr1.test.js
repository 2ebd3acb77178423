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
