'use strict'

// Moving from node:wasi takes one changed `require`: a script written for
// node:wasi (fixtures/node-wasi-script.js, `version: 'preview1'` kept, as
// node:wasi requires it) runs unchanged on @x/wasi, and then also runs the
// wasi_unstable modules node:wasi cannot link (TinyGo's and other older
// toolchains' output).

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { test, after } = require('node:test')

const { fixture } = require('./fixtures')

const PACKAGE_ROOT = path.resolve(__dirname, '..')
const SCRIPT = path.join(__dirname, 'fixtures', 'node-wasi-script.js')
const CHILD_TIMEOUT_MS = 120_000

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'xwasi-migration-'))
after(() => fs.rmSync(scratch, { recursive: true, force: true }))

/** Runs the node:wasi script on `module` with WASI from `wasiModule`. */
function runScript(wasiModule, module, options) {
  const child = spawnSync(process.execPath, ['--no-warnings', SCRIPT, module, JSON.stringify(options)], {
    env: { ...process.env, WASI_MODULE: wasiModule, X_WASI_CACHE_DIR: path.join(scratch, 'cache') },
    encoding: 'utf8',
    timeout: CHILD_TIMEOUT_MS,
  })
  assert.equal(child.error, undefined, `the child did not run: ${child.error}`)
  return { status: child.status, signal: child.signal, stdout: child.stdout, stderr: child.stderr }
}

test('a wasi_unstable module (TinyGo-style hello) runs under the unchanged node:wasi script', (t) => {
  const ours = runScript(PACKAGE_ROOT, fixture('wat:hello_unstable'), {})
  assert.deepEqual(ours, { status: 0, signal: null, stdout: 'Hello from wasi_unstable!\nexit code: 0\n', stderr: '' })
  // What the same script does with node:wasi, for the record: it cannot
  // link the module (the failure this package exists to fix).
  const theirs = runScript('node:wasi', fixture('wat:hello_unstable'), {})
  t.diagnostic(`node:wasi on ${process.version}: status ${theirs.status}, ${theirs.stderr.split('\n').find((line) => /Error/.test(line)) ?? 'no error'}`)
})

test('a Go module: the same outcome as node:wasi, args, env and preopens included', () => {
  const root = fs.mkdtempSync(path.join(scratch, 'go-'))
  fs.writeFileSync(path.join(root, 'input.txt'), 'from the host\n')
  const options = { args: ['cat', '/data/input.txt'], env: { LANG: 'C' }, preopens: { '/data': root } }
  const ours = runScript(PACKAGE_ROOT, fixture('go:cat'), options)
  assert.deepEqual(ours, { status: 0, signal: null, stdout: 'wd: "/data"\n/data/input.txt: "from the host\\n"\nexit code: 0\n', stderr: '' })
  assert.deepEqual(runScript('node:wasi', fixture('go:cat'), options), ours, 'node:wasi gives the same')
  const exit = { args: ['exit', '3'] }
  const oursExit = runScript(PACKAGE_ROOT, fixture('go:exit'), exit)
  assert.deepEqual(oursExit, { status: 3, signal: null, stdout: 'exiting with 3\nexit code: 3\n', stderr: '' })
  assert.deepEqual(runScript('node:wasi', fixture('go:exit'), exit), oursExit, 'node:wasi gives the same')
})
