'use strict'
// Testing a Go program compiled to WASI with node:test and @x/wasi: compile
// it once, run it once per test with its own args, env and stdio, and
// assert on what it printed and its exit code.
//
// Run: `node --test examples/node-test/greet.test.js` (after `node examples/build.js`;
// name the file: Node >= 21 runs a directory given to --test as a module).

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { test } = require('node:test')
const { WASI, compile } = require('@x/wasi')

// Compiled once (and cached on disk), run by every test.
const greet = compile(fs.readFileSync(path.join(__dirname, 'node-test.wasm')))

/** Runs greet with `args` and `env`; returns its exit code, stdout and stderr. */
function run(args, env = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'greet-'))
  const files = { stdout: path.join(dir, 'stdout'), stderr: path.join(dir, 'stderr') }
  const stdout = fs.openSync(files.stdout, 'w')
  const stderr = fs.openSync(files.stderr, 'w')
  try {
    const exitCode = new WASI({ args: ['greet', ...args], env, stdout, stderr }).start(greet)
    return {
      exitCode,
      stdout: fs.readFileSync(files.stdout, 'utf8'),
      stderr: fs.readFileSync(files.stderr, 'utf8'),
    }
  } finally {
    fs.closeSync(stdout)
    fs.closeSync(stderr)
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

test('greets its argument', () => {
  assert.deepEqual(run(['Gopher']), { exitCode: 0, stdout: 'Hello, Gopher!\n', stderr: '' })
})

test('greets every argument', () => {
  assert.equal(run(['Ada', 'Grace']).stdout, 'Hello, Ada and Grace!\n')
})

test('takes the greeting from $GREETING (and nothing from process.env)', () => {
  assert.equal(run(['Gopher'], { GREETING: 'Hi' }).stdout, 'Hi, Gopher!\n')
})

test('exits with 2 and a usage line when given no name', () => {
  assert.deepEqual(run([]), { exitCode: 2, stdout: '', stderr: 'usage: greet NAME...\n' })
})
