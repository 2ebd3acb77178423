'use strict'

// Native mode: `wasi.start(bytes)` compiles and runs on wasmer. Every case
// of cases.js on both engines, then the API's edges, and the process-level
// behaviour (exit, signals shared with V8, stdout ordering) in children.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { describe, test, after } = require('node:test')

const { WASI } = require('..')
const { cases, runCase, assertOutcome, openStdio } = require('./cases')
const { fixture, fixtureBytes } = require('./fixtures')

const ENGINES = ['cranelift', 'singlepass']
const PACKAGE_ROOT = path.resolve(__dirname, '..')
const CHILD_TIMEOUT_MS = 120_000

const caseNamed = (fixtureName) => cases.find((c) => c.fixture === fixtureName)

for (const engine of ENGINES) {
  describe(`every case, native mode, ${engine}`, () => {
    for (const caseDef of cases) {
      test(caseDef.name, async () => {
        assertOutcome(caseDef, await runCase(caseDef, { engine, mode: 'native' }))
      })
    }
  })
}

// A temp dir with stdio files, removed after this file's tests.
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'xwasi-native-'))
after(() => fs.rmSync(scratch, { recursive: true, force: true }))

function freshStdio() {
  return openStdio(fs.mkdtempSync(path.join(scratch, 'stdio-')))
}

describe('start()', () => {
  test('a second start() throws and does not run the module again', () => {
    const stdio = freshStdio()
    try {
      const wasi = new WASI({ args: ['hello'], ...stdio.fds })
      const bytes = fixtureBytes('go:hello')
      assert.equal(wasi.start(bytes), 0)
      assert.throws(() => wasi.start(bytes), { code: 'ERR_WASI_ALREADY_STARTED' })
    } finally {
      stdio.close()
    }
    assert.equal(stdio.read('stdout').toString(), 'Hello, Wasm\n')
  })

  test('accepts a Buffer, an offset Uint8Array view and an ArrayBuffer', () => {
    const bytes = fixtureBytes('wat:hello_unstable')
    const padded = new Uint8Array(bytes.length + 16)
    padded.set(bytes, 8)
    const copy = new Uint8Array(bytes)
    const sources = {
      Buffer: bytes,
      'Uint8Array view at offset 8': padded.subarray(8, 8 + bytes.length),
      ArrayBuffer: copy.buffer,
    }
    for (const [kind, source] of Object.entries(sources)) {
      const stdio = freshStdio()
      try {
        assert.equal(new WASI({ ...stdio.fds }).start(source), 0, kind)
      } finally {
        stdio.close()
      }
      assert.equal(stdio.read('stdout').toString(), 'Hello from wasi_unstable!\n', kind)
    }
  })

  const notWasm = {
    'text that is not wasm': { bytes: () => Buffer.from('this is not a wasm module'), reason: /magic|header/i },
    'a truncated module': { bytes: () => fixtureBytes('go:hello').subarray(0, 1000), reason: /end|eof|unexpected|incomplete|short/i },
    'an empty buffer': { bytes: () => Buffer.alloc(0), reason: /magic|header|end|eof|empty/i },
  }
  for (const [label, { bytes, reason }] of Object.entries(notWasm)) {
    test(`${label} throws WebAssembly.CompileError with a reason`, () => {
      assert.throws(
        () => new WASI({}).start(bytes()),
        (err) => {
          assert.ok(err instanceof WebAssembly.CompileError, `got ${err.constructor.name}: ${err.message}`)
          assert.match(err.message, reason)
          return true
        },
      )
    })
  }
})

describe('option checks', () => {
  const badOptions = [
    ['args', { args: 'prog a' }],
    ['env', { env: 'FOO=bar' }],
    ['env', { env: ['FOO=bar'] }],
    ['preopens', { preopens: '/tmp' }],
    ['preopens', { preopens: { '/sandbox': 42 } }],
    ['engine', { engine: 'bogus' }],
    ['engine', { engine: 1 }],
    ['stdout', { stdout: 'out.txt' }],
    ['stdout', { stdout: 1.5 }],
    ['stdin', { stdin: '0' }],
    ['stderr', { stderr: null }],
    ['returnOnExit', { returnOnExit: 'yes' }],
  ]
  for (const [option, options] of badOptions) {
    test(`${option}: ${JSON.stringify(options[option])} throws a TypeError naming the option`, () => {
      assert.throws(
        () => new WASI(options),
        (err) => {
          assert.ok(err instanceof TypeError, `got ${err.constructor.name}: ${err.message}`)
          assert.match(err.message, new RegExp(`\\b${option}\\b`))
          return true
        },
      )
    })
  }
})

// Runs `source` in a fresh Node process with this package at hand.
function runChild(source, options = {}) {
  const prelude = `const { WASI } = require(${JSON.stringify(PACKAGE_ROOT)}); const fs = require('node:fs');\n`
  const child = spawnSync(process.execPath, ['-e', prelude + source], { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS, ...options })
  assert.equal(child.error, undefined, `child failed to run: ${child.error}`)
  return child
}

describe('returnOnExit: false', () => {
  for (const code of [0, 3]) {
    test(`proc_exit(${code}) ends the Node process with code ${code}`, () => {
      const child = runChild(`
        const wasi = new WASI({ args: ['exit', '${code}'], returnOnExit: false })
        wasi.start(fs.readFileSync(${JSON.stringify(fixture('go:exit'))}))
        process.stdout.write('start() returned\\n')
      `)
      assert.equal(child.signal, null, `child died of ${child.signal}; stderr: ${child.stderr}`)
      assert.equal(child.stdout, `exiting with ${code}\n`)
      assert.equal(child.status, code, `stderr: ${child.stderr}`)
    })
  }
})

// Only the trap kind: the case table checks the backtraces.
function assertTrap(result, kind) {
  assert.ok(result.error instanceof WebAssembly.RuntimeError, `expected a RuntimeError, got ${result.error}`)
  assert.match(result.error.message, kind)
}

describe('traps and V8 in one process', () => {
  for (const engine of ENGINES) {
    test(`${engine}: native and V8 traps alternate and the process keeps working`, async () => {
      const oob = caseNamed('wat:trap_oob')
      const overflow = caseNamed('wat:trap_stack_overflow')
      const v8Oob = (await WebAssembly.instantiate(fixtureBytes('wat:trap_oob'))).instance
      const v8Overflow = (await WebAssembly.instantiate(fixtureBytes('wat:trap_stack_overflow'))).instance
      for (let round = 0; round < 3; round++) {
        assertTrap(await runCase(oob, { engine }), /out of bounds memory access/)
        assert.throws(() => v8Oob.exports._start(), WebAssembly.RuntimeError)
        assertTrap(await runCase(overflow, { engine }), /call stack exhausted/)
        assert.throws(() => v8Overflow.exports._start(), RangeError)
      }
      const hello = caseNamed('go:hello')
      assertOutcome(hello, await runCase(hello, { engine }))
    })
  }

  test('a stack overflow in a fresh process is a RuntimeError, not a crash', () => {
    const child = runChild(`
      const bytes = fs.readFileSync(${JSON.stringify(fixture('wat:trap_stack_overflow'))})
      for (const engine of ${JSON.stringify(ENGINES)}) {
        try {
          new WASI({ engine }).start(bytes)
          console.log('no trap')
        } catch (err) {
          console.log(err instanceof WebAssembly.RuntimeError, /call stack exhausted/.test(err.message))
        }
      }
    `)
    assert.equal(child.signal, null, `child died of ${child.signal}; stderr: ${child.stderr}`)
    assert.equal(child.stdout, 'true true\ntrue true\n', `stderr: ${child.stderr}`)
    assert.equal(child.status, 0)
  })
})

describe('default stdio shares the Node process fds', () => {
  test('output keeps its order with process.stdout writes around start() (pipe)', () => {
    const child = runChild(`
      process.stdout.write('A\\n')
      new WASI({}).start(fs.readFileSync(${JSON.stringify(fixture('go:hello'))}))
      process.stdout.write('B\\n')
    `)
    assert.equal(child.stderr, '')
    assert.equal(child.stdout, 'A\nHello, Wasm\nB\n')
    assert.equal(child.status, 0)
  })

  test('stdout and stderr interleave in write order when both go to one file', () => {
    const combined = path.join(scratch, 'combined.txt')
    const fd = fs.openSync(combined, 'w')
    try {
      const child = runChild(
        `
        process.stdout.write('A\\n')
        process.stderr.write('E\\n')
        new WASI({ args: ['rawwrite'] }).start(fs.readFileSync(${JSON.stringify(fixture('go:rawwrite'))}))
        process.stdout.write('B\\n')
      `,
        { stdio: ['ignore', fd, fd] },
      )
      assert.equal(child.status, 0)
    } finally {
      fs.closeSync(fd)
    }
    assert.equal(fs.readFileSync(combined, 'utf8'), 'A\nE\nraw stdout line\nraw stderr line\nsecond stdout line\nB\n')
  })
})
