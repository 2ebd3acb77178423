'use strict'

// No panic reaches Node (src/panic_guard.rs). The release build has a
// test-only switch, X_WASI_TEST_PANIC=<point>[,<point>...] (read once per
// process), that makes each named point panic the first time it is reached;
// see SECURITY.md. For every kind of entry point — N-API functions and
// methods, the V8-mode syscall trampolines, the libuv compile task, the
// run() thread, and a syscall deep under wasm frames — a child process
// makes it panic, and must get a RuntimeError naming the operation, then
// see the next call (or a new object's) work, and exit normally.

const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { test } = require('node:test')
const { fixture } = require('./fixtures')

const ROOT = path.resolve(__dirname, '..')

// Runs `body` (async function source, gets `ctx`) in a child with the
// switch set to `points`; returns what it printed as JSON.
function inChild(points, body) {
  const script = `
    const fs = require('node:fs')
    const { WASI, compile } = require(${JSON.stringify(ROOT)})
    const ctx = {
      WASI, compile,
      hello: fs.readFileSync(${JSON.stringify(fixture('go:hello'))}),
      reactor: fs.readFileSync(${JSON.stringify(fixture('wat:wat_reactor'))}),
      loop: fs.readFileSync(${JSON.stringify(fixture('wat:infinite_loop'))}),
      // No _initialize: its first export call is the test's.
      conversions: fs.readFileSync(${JSON.stringify(fixture('wat:conversions'))}),
      stdout: fs.openSync('/dev/null', 'w'),
      // How a call ended: its value, or the error's class and message.
      settle: async (fn) => {
        try { return { value: await fn() } } catch (err) { return { error: err.constructor.name + ': ' + err.message, code: err.code } }
      },
    }
    ctx.reactorImports = { env: { double: (x) => 2 * x } }
    ctx.plainReactor = () => new WASI().initialize(ctx.conversions, { env: { one: () => 1, one_f64: () => 1, pair: () => [1, 1n] } }).exports
    ctx.initialize = () => new WASI({ stdout: ctx.stdout }).initialize(ctx.reactor, ctx.reactorImports).exports
    ctx.v8Start = () => {
      const wasi = new WASI({ stdout: ctx.stdout, returnOnExit: true })
      const instance = new WebAssembly.Instance(new WebAssembly.Module(ctx.hello), wasi.getImportObject())
      return wasi.start(instance)
    }
    ;(async (ctx) => { ${body} })(ctx).then((result) => process.stdout.write(JSON.stringify(result)))
  `
  const result = spawnSync(process.execPath, ['-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, X_WASI_TEST_PANIC: points },
  })
  assert.equal(result.signal, null, `killed by ${result.signal}: ${result.stderr}`)
  assert.equal(result.status, 0, result.stderr)
  return JSON.parse(result.stdout)
}

/** The error a panic at `point` inside operation `operation` must become. */
function panicError(operation, point) {
  return `RuntimeError: ${operation} failed inside the addon (a Rust panic: X_WASI_TEST_PANIC: test panic in ${point})`
}

const CASES = [
  {
    point: 'compile',
    body: `return [await ctx.settle(() => ctx.compile(ctx.hello, { cache: false }) && 'compiled'), await ctx.settle(() => ctx.compile(ctx.hello, { cache: false }) && 'compiled')]`,
    expect: [{ error: panicError('compile', 'compile') }, { value: 'compiled' }],
  },
  {
    point: 'compileAsync',
    body: `const run = () => new ctx.WASI({ compile: { cache: false } }).run(ctx.hello, { stdout: 'pipe' }).then((r) => r.exitCode)
      return [await ctx.settle(run), await ctx.settle(run)]`,
    expect: [{ error: panicError('compileAsync', 'compileAsync') }, { value: 0 }],
  },
  {
    point: 'compile (async)',
    body: `const run = () => new ctx.WASI({ compile: { cache: false } }).run(ctx.hello, { stdout: 'pipe' }).then((r) => r.exitCode)
      return [await ctx.settle(run), await ctx.settle(run)]`,
    expect: [{ error: panicError('compile (async)', 'compile (async)') }, { value: 0 }],
  },
  {
    point: 'new WASI',
    body: `const make = () => new ctx.WASI() && 'made'
      return [await ctx.settle(make), await ctx.settle(make)]`,
    expect: [{ error: panicError('new WASI', 'new WASI') }, { value: 'made' }],
  },
  {
    // Native starts force an engine: with the default one, bytes without
    // Cranelift code in the cache run in V8 (lib/v8-tier.js), where no
    // native start happens.
    point: 'start',
    body: `const start = () => new ctx.WASI({ stdout: ctx.stdout, engine: 'singlepass' }).start(ctx.hello)
      return [await ctx.settle(start), await ctx.settle(start)]`,
    expect: [{ error: panicError('start', 'start') }, { value: 0 }],
  },
  {
    // A syscall of a native start: the panic unwinds through wasm frames.
    point: 'syscall',
    body: `const start = () => new ctx.WASI({ stdout: ctx.stdout, engine: 'singlepass' }).start(ctx.hello)
      return [await ctx.settle(start), await ctx.settle(start)]`,
    expect: [{ error: panicError('start', 'syscall') }, { value: 0 }],
  },
  {
    point: 'run',
    body: `const run = () => new ctx.WASI().run(ctx.hello, { stdout: 'pipe' }).then((r) => r.exitCode)
      return [await ctx.settle(run), await ctx.settle(run)]`,
    expect: [{ error: panicError('run', 'run') }, { value: 0 }],
  },
  {
    // A syscall on a run()'s own thread (caught there, src/run_thread.rs).
    point: 'syscall',
    name: 'syscall on a run() thread',
    body: `const run = () => new ctx.WASI().run(ctx.hello, { stdout: 'pipe' }).then((r) => r.exitCode)
      return [await ctx.settle(run), await ctx.settle(run)]`,
    expect: [{ error: 'RuntimeError: the run failed inside the addon (a panic)' }, { value: 0 }],
  },
  {
    // The first interrupt() panics; the retry 20 ms later stops the guest.
    point: 'interrupt',
    body: `const run = () => new ctx.WASI().run(ctx.loop, { timeout: 50 })
      const first = await ctx.settle(run)
      return [{ code: first.code }, (await ctx.settle(run)).code]`,
    expect: [{ code: 'ERR_WASI_TIMEOUT' }, 'ERR_WASI_TIMEOUT'],
  },
  {
    point: 'initialize',
    body: `const init = () => ctx.initialize().add(2, 3)
      return [await ctx.settle(init), await ctx.settle(init)]`,
    expect: [{ error: panicError('initialize', 'initialize') }, { value: 5 }],
  },
  {
    // The instance a panic went through is unusable afterwards; others work.
    point: 'export call',
    body: `const exports = ctx.plainReactor()
      return [await ctx.settle(() => exports.take_i32(5)), await ctx.settle(() => exports.take_i32(5)), await ctx.settle(() => ctx.plainReactor().take_i32(5))]`,
    expect: [
      { error: panicError('export call', 'export call') },
      { error: 'RuntimeError: export call: this instance is unusable, an earlier call failed inside the addon' },
      { value: 5 },
    ],
  },
  {
    // A syscall made by an export (greet writes to stdout).
    point: 'syscall',
    name: 'syscall under an export call',
    body: `return [await ctx.settle(() => ctx.initialize().greet()), await ctx.settle(() => ctx.initialize().greet())]`,
    expect: [{ error: panicError('export call', 'syscall') }, { value: 0 }],
  },
  {
    point: 'memory.grow',
    body: `return [await ctx.settle(() => ctx.initialize().memory.grow(1)), await ctx.settle(() => ctx.initialize().memory.grow(1))]`,
    expect: [{ error: panicError('memory.grow', 'memory.grow') }, { value: 1 }],
  },
  {
    point: 'memory.buffer',
    body: `return [await ctx.settle(() => ctx.initialize().memory.buffer.byteLength), await ctx.settle(() => ctx.initialize().memory.buffer.byteLength)]`,
    expect: [{ error: panicError('memory.buffer', 'memory.buffer') }, { value: 65536 }],
  },
  {
    point: 'global.value set',
    body: `const set = () => { const e = ctx.initialize(); e.counter.value = 7; return e.counter.value }
      return [await ctx.settle(set), await ctx.settle(set)]`,
    expect: [{ error: panicError('global.value set', 'global.value set') }, { value: 7 }],
  },
  {
    point: 'global.value',
    body: `const get = () => ctx.initialize().counter.value
      return [await ctx.settle(get), await ctx.settle(get)]`,
    expect: [{ error: panicError('global.value', 'global.value') }, { value: 0 }],
  },
  {
    point: 'exports',
    body: `const init = () => ctx.initialize().add(1, 1)
      return [await ctx.settle(init), await ctx.settle(init)]`,
    expect: [{ error: panicError('exports', 'exports') }, { value: 2 }],
  },
  {
    // A V8-mode syscall trampoline (an extern "C" function called by V8).
    point: 'WASI syscall',
    body: `return [await ctx.settle(ctx.v8Start), await ctx.settle(ctx.v8Start)]`,
    expect: [{ error: /^RuntimeError: WASI syscall \w+ failed inside the addon \(a Rust panic: X_WASI_TEST_PANIC: test panic in WASI syscall\)$/ }, { value: 0 }],
  },
  {
    point: 'syscall',
    name: 'syscall in V8 mode',
    body: `return [await ctx.settle(ctx.v8Start), await ctx.settle(ctx.v8Start)]`,
    expect: [{ error: /^RuntimeError: WASI syscall \w+ failed inside the addon \(a Rust panic: X_WASI_TEST_PANIC: test panic in syscall\)$/ }, { value: 0 }],
  },
  {
    point: 'wasiImport',
    body: `return [await ctx.settle(ctx.v8Start), await ctx.settle(ctx.v8Start)]`,
    expect: [{ error: panicError('wasiImport', 'wasiImport') }, { value: 0 }],
  },
  {
    point: 'functionImports',
    body: `const start = () => new ctx.WASI({ stdout: ctx.stdout, engine: 'singlepass' }).start(ctx.hello)
      return [await ctx.settle(start), await ctx.settle(start)]`,
    expect: [{ error: panicError('functionImports', 'functionImports') }, { value: 0 }],
  },
]

/** Compares an outcome with its expectation; a RegExp matches an error message. */
function assertOutcome(actual, expected, label) {
  if (expected && expected.error instanceof RegExp) {
    assert.match(actual.error ?? '', expected.error, label)
    return
  }
  if (expected && typeof expected === 'object' && 'code' in expected && !('error' in expected)) {
    assert.equal(actual.code, expected.code, label)
    return
  }
  if (actual && typeof actual === 'object') delete actual.code
  assert.deepEqual(actual, expected, label)
}

for (const { point, name, body, expect } of CASES) {
  test(`a panic in ${name ?? point} is a JS error naming the operation; the process survives and later calls work`, () => {
    const outcomes = inChild(point, body)
    assert.equal(outcomes.length, expect.length)
    outcomes.forEach((outcome, i) => assertOutcome(outcome, expect[i], `call ${i + 1}`))
  })
}

test('without the switch nothing panics (the same calls all work)', () => {
  const outcomes = inChild('', `return [await ctx.settle(() => ctx.initialize().add(2, 3)), await ctx.settle(ctx.v8Start)]`)
  assert.deepEqual(outcomes, [{ value: 5 }, { value: 0 }])
})
