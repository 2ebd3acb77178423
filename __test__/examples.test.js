'use strict'
// Runs every example in examples/ the way its README says, and checks what
// it prints. The examples load the package by its name (`require('@x/wasi')`),
// which resolves to this checkout through package.json's `exports`.

const assert = require('node:assert/strict')
const { execFile } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { describe, test, before } = require('node:test')

const ROOT = path.resolve(__dirname, '..')
const { buildAll, skipReason } = require('../examples/build')

/** Runs `node ...args` in the repository root; resolves to { code, stdout, stderr }. */
function node(args) {
  // Without NODE_TEST_CONTEXT, a nested `node --test` reports to its own
  // stdout instead of to this test runner.
  const env = { ...process.env }
  delete env.NODE_TEST_CONTEXT
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: ROOT, env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? error.code : 0, stdout, stderr })
    })
  })
}

function assertRan({ code, stdout, stderr }, expected) {
  assert.equal(code, 0, `exit code ${code}; stderr:\n${stderr}`)
  assert.equal(stdout, expected)
}

describe('examples', { concurrency: 2 }, () => {
  before(() => buildAll())

  test('hello: Go fmt.Println, native', async () => {
    assertRan(await node(['examples/hello/run.js']), 'Hello, Wasm\nrunning on wasip1/wasm, args ["from" "node"]\n')
  })

  test("rawwrite: Go with its own //go:wasmimport of fd_write, native and V8", async () => {
    const once = 'Hello from a raw fd_write\nfd 42: EBADF, as expected\n'
    assertRan(await node(['examples/rawwrite/run.js']), `native:\n${once}V8:\n${once}`)
  })

  test('tinygo-style: a module importing wasi_unstable, native and V8', async () => {
    assertRan(
      await node(['examples/tinygo-style/run.js']),
      'native: Hello from wasi_unstable!\nV8: Hello from wasi_unstable!\n',
    )
  })

  test("tinygo-style: node:wasi cannot link it, as its README says", async () => {
    const { code, stderr } = await node(['examples/tinygo-style/node-wasi.js'])
    assert.equal(code, 1)
    // V8's wording changes between Node majors: expect this Node's own.
    const bytes = fs.readFileSync(path.join(ROOT, 'examples', 'tinygo-style', 'tinygo-style.wasm'))
    const expected = await WebAssembly.instantiate(bytes, { wasi_snapshot_preview1: {} }).then(
      () => assert.fail('the module linked without wasi_unstable'),
      (err) => `${err.name}: ${err.message}`,
    )
    assert.match(expected, /^TypeError: .*"wasi_unstable"/)
    assert.ok(stderr.includes(expected), `expected ${JSON.stringify(expected)} in ${JSON.stringify(stderr)}`)
  })

  test('host-function: Go reactor with a JS host function, run by V8', { skip: skipReason('host-function') ?? false }, async () => {
    assertRan(
      await node(['examples/host-function/run.js']),
      [
        'Go reactor initialized',
        'hostLog: add(40, 2) is call #1',
        'add(40, 2) = 42',
        'hostLog: add(1, 2) is call #2',
        'add(1, 2) = 3',
        '',
      ].join('\n'),
    )
  })

  test('node-test: its node:test file passes', async () => {
    const { code, stdout, stderr } = await node(['--test', '--test-reporter=tap', 'examples/node-test/greet.test.js'])
    assert.equal(code, 0, `${stdout}${stderr}`)
    assert.match(stdout, /^# pass 4$/m)
    assert.match(stdout, /^# fail 0$/m)
  })
})
