'use strict'

// Native initialize(bytes | CompiledModule, imports?) for reactors: wasmer
// instantiates the module on the calling thread, runs `_initialize`, and
// returns `{ exports }` (functions, memories, globals). A Go reactor
// (go:adder_reactor, -buildmode=c-shared) and a WAT one (wat:wat_reactor)
// on both engines; commands are refused; V8-mode initialize(instance) is
// unchanged.

const assert = require('node:assert/strict')
const { describe, test, after } = require('node:test')

const { WASI, compile } = require('..')
const { fixtureBytes } = require('./fixtures')
const { ENGINES, PAGE, makeScratch, describeError, assertArgError, readString } = require('./native-api-helpers')

const scratch = makeScratch('xwasi-reactor-')
const openStdio = []
after(() => {
  for (const stdio of openStdio) stdio.close()
  scratch.remove()
})

/**
 * Initializes `fixtureName` natively with fresh stdio files; returns the
 * WASI object, initialize()'s result and a function that reads stdout so
 * far. `imports(ctx)` makes the host functions; ctx.wasi is set first.
 */
function initNative(fixtureName, { engine = 'cranelift', imports, wasiOptions = {}, perCall = true, source } = {}) {
  const stdio = scratch.stdio()
  openStdio.push(stdio)
  const ctx = {}
  const importObject = imports ? imports(ctx) : undefined
  const wasi = (ctx.wasi = new WASI({ engine, ...wasiOptions, ...stdio.fds, ...(importObject && !perCall ? { imports: importObject } : {}) }))
  const bytes = source ?? fixtureBytes(fixtureName)
  const result = importObject && perCall ? wasi.initialize(bytes, importObject) : wasi.initialize(bytes)
  return { wasi, result, exports: result?.exports, stdout: () => stdio.read('stdout').toString() }
}

const GO_GREETING = 'hello from the Go reactor'

// ---------------------------------------------------------------- Go reactor

describe('native initialize: Go reactor (go:adder_reactor)', () => {
  for (const engine of ENGINES) {
    test(`${engine}: numbers, host functions and fmt output from exports`, () => {
      const logged = []
      const receivers = []
      const { exports, stdout } = initNative('go:adder_reactor', {
        engine,
        imports: (ctx) => ({
          env: {
            hostLogString(ptr, len) {
              receivers.push(this)
              logged.push(readString(ctx.wasi.memory.buffer, ptr, len))
            },
          },
        }),
      })
      assert.ok(exports && typeof exports === 'object', 'initialize(bytes) must return { exports }')
      assert.equal(typeof exports.add, 'function')
      assert.equal(exports.initCount(), 1, 'package initialization ran once, through _initialize')
      assert.equal(exports.add(40, 2), 42)
      assert.equal(exports.add(2147483647, 1), -2147483648, 'i32 wraps')
      assert.equal(exports.add(-7, 3), -4)
      assert.equal(exports.add64(1n << 62n, 5n), (1n << 62n) + 5n)
      assert.equal(exports.add64(9223372036854775807n, 1n), -9223372036854775808n, 'i64 wraps')
      assert.equal(exports.scale(1.5, 0.1), 1.5 * Math.fround(0.1), 'an f32 argument is rounded to f32')
      exports.greet()
      exports.greet()
      assert.deepEqual(logged, [GO_GREETING, GO_GREETING])
      exports.printSum(3, 4)
      exports.printSum(-10, 2)
      assert.equal(stdout(), 'sum: 7\nsum: -8\n')
      assert.deepEqual(receivers, [undefined, undefined], 'host functions are called with this === undefined')
    })
  }

  test('i64 parameters must be BigInts: a Number is a TypeError', () => {
    const { exports } = initNative('go:adder_reactor', { imports: () => ({ env: { hostLogString() {} } }) })
    assert.throws(() => exports.add64(1, 2), TypeError)
  })

  test('the exported memory: bytes written through memory.buffer are what the guest reads', () => {
    const { exports, wasi } = initNative('go:adder_reactor', { imports: () => ({ env: { hostLogString() {} } }) })
    const addr = exports.bufferAddr()
    assert.ok(exports.memory.buffer instanceof ArrayBuffer, 'exports.memory.buffer is an ArrayBuffer')
    new Uint8Array(exports.memory.buffer, addr, 4).set([1, 2, 3, 250])
    assert.equal(exports.sumBuffer(4), 256)
    assert.equal(exports.sumBuffer(3), 6)
    // wasi.memory is the same linear memory.
    assert.deepEqual([...new Uint8Array(wasi.memory.buffer, addr, 4)], [1, 2, 3, 250])
  })

  test('imports from the constructor work too, and a CompiledModule is accepted', () => {
    const logged = []
    const { exports } = initNative('go:adder_reactor', {
      perCall: false,
      source: compile(fixtureBytes('go:adder_reactor')),
      imports: (ctx) => ({ env: { hostLogString: (ptr, len) => logged.push(readString(ctx.wasi.memory.buffer, ptr, len)) } }),
    })
    exports.greet()
    assert.deepEqual(logged, [GO_GREETING])
  })
})

// ---------------------------------------------------------------- WAT reactor

const watImports = (ctx, calls = [], receivers = []) => ({
  env: {
    double(x) {
      // A host function inside an export call reads guest memory.
      receivers.push(this)
      calls.push([x, readString(ctx.wasi.memory.buffer, 16, 14)])
      return x * 2
    },
  },
})

describe('native initialize: WAT reactor (wat:wat_reactor)', () => {
  for (const engine of ENGINES) {
    test(`${engine}: functions of every number type`, () => {
      const { exports } = initNative('wat:wat_reactor', { engine, imports: watImports })
      assert.equal(exports.initialized.value, 1, '_initialize ran once')
      assert.equal(exports.add(40, 2), 42)
      assert.equal(exports.add(0xffffffff, 1), 0, 'arguments are converted with ToInt32')
      assert.equal(exports.add64(2n ** 63n - 1n, 1n), -(2n ** 63n))
      assert.equal(exports.mulf32(1.1, 3), Math.fround(Math.fround(1.1) * 3))
      assert.equal(exports.mulf64(0.1, 3), 0.30000000000000004)
      assert.equal(typeof exports.add64(1n, 2n), 'bigint')
    })

    test(`${engine}: host functions inside export calls, with wasi.memory`, () => {
      const calls = []
      const receivers = []
      const { exports } = initNative('wat:wat_reactor', { engine, imports: (ctx) => watImports(ctx, calls, receivers) })
      assert.equal(exports.twice(21), 84)
      assert.deepEqual(calls, [
        [21, 'reactor memory'],
        [21, 'reactor memory'],
      ])
      assert.deepEqual(receivers, [undefined, undefined], 'host functions are called with this === undefined')
    })
  }

  test('globals: value reads, sets when mutable, TypeError when immutable', () => {
    const { exports } = initNative('wat:wat_reactor', { imports: watImports })
    assert.equal(exports.counter.value, 0)
    assert.equal(exports.bump(), 1)
    assert.equal(exports.bump(), 2)
    assert.equal(exports.counter.value, 2, 'a global changed by the guest')
    exports.counter.value = 10
    assert.equal(exports.bump(), 11, 'a global set by the host is seen by the guest')
    assert.equal(exports.big.value, -1n)
    exports.big.value = 2n ** 40n
    assert.equal(exports.big.value, 2n ** 40n)
    assert.equal(exports.ratio.value, 0.5)
    exports.ratio.value = 0.1
    assert.equal(exports.ratio.value, Math.fround(0.1), 'an f32 global rounds to f32')
    assert.equal(exports.pi.value, Math.PI)
    assert.equal(exports.answer.value, 42)
    assert.throws(() => {
      exports.pi.value = 1
    }, TypeError)
    assert.throws(() => {
      exports.answer.value = 1
    }, TypeError)
    assert.equal(exports.pi.value, Math.PI)
    assert.equal(exports.answer.value, 42)
  })

  test('the exported memory: buffer and grow(pages)', () => {
    const { exports, wasi } = initNative('wat:wat_reactor', { imports: watImports })
    const memory = exports.memory
    assert.equal(readString(memory.buffer, 16, 14), 'reactor memory')
    assert.equal(memory.buffer.byteLength, PAGE)
    new Uint8Array(memory.buffer, 1000, 3).set([100, 20, 3])
    assert.equal(exports.sum_bytes(1000, 3), 123)
    assert.equal(memory.grow(2), 1, 'grow returns the old size in pages')
    assert.equal(exports.size(), 3)
    assert.equal(memory.buffer.byteLength, 3 * PAGE)
    assert.equal(exports.grow(1), 3, 'the guest grows it')
    assert.equal(memory.buffer.byteLength, 4 * PAGE, 'buffer follows growth by the guest')
    new Uint8Array(memory.buffer, 3 * PAGE + 8, 2).set([7, 8])
    assert.equal(exports.sum_bytes(3 * PAGE + 8, 2), 15, 'bytes in grown pages')
    assert.equal(wasi.memory.byteLength, 4 * PAGE, 'wasi.memory is the same memory')
  })

  test('WASI calls from exports: fd_write to the constructor stdout; proc_exit throws ERR_WASI_EXIT', () => {
    const { exports, stdout } = initNative('wat:wat_reactor', { imports: watImports })
    assert.equal(exports.greet(), 0)
    assert.equal(stdout(), 'hello from the wat reactor\n')
    assert.throws(
      () => exports.exit(7),
      (err) => {
        assert.ok(err instanceof Error, describeError(err))
        assert.equal(err.code, 'ERR_WASI_EXIT', describeError(err))
        assert.equal(err.exitCode, 7)
        return true
      },
    )
  })

  test('a trap in an export throws WebAssembly.RuntimeError', () => {
    const { exports } = initNative('wat:wat_reactor', { imports: watImports })
    assert.throws(() => exports.div(1, 0), (err) => err instanceof WebAssembly.RuntimeError && /divi/i.test(err.message))
  })

  test('a host function that throws inside an export call: the export throws that error', () => {
    const thrown = new Error('double failed')
    const { exports } = initNative('wat:wat_reactor', {
      imports: () => ({
        env: {
          double() {
            throw thrown
          },
        },
      }),
    })
    assert.throws(() => exports.twice(1), (err) => err === thrown)
  })

  test('maxMemory caps growth of the reactor memory: grow returns -1', () => {
    const { exports } = initNative('wat:wat_reactor', { imports: watImports, wasiOptions: { maxMemory: 4 * PAGE } })
    assert.equal(exports.grow(2), 1)
    assert.equal(exports.grow(2), -1, 'growing to 5 pages under a 4-page limit')
    assert.equal(exports.grow(1), 3)
    assert.equal(exports.size(), 4)
  })

  test('a missing host import is a LinkError naming it', () => {
    assert.throws(
      () => initNative('wat:wat_reactor'),
      (err) => err instanceof WebAssembly.LinkError && /\benv\b/.test(err.message) && /\bdouble\b/.test(err.message),
    )
  })
})

// ---------------------------------------------------------------- refusals

describe('native initialize: what it refuses', () => {
  for (const name of ['wat:hello_unstable', 'wat:command_and_reactor', 'go:hello']) {
    test(`a module exporting _start (${name}) is a TypeError, and nothing runs`, () => {
      const stdio = scratch.stdio()
      let error
      try {
        new WASI({ ...stdio.fds }).initialize(fixtureBytes(name))
      } catch (err) {
        error = err
      } finally {
        stdio.close()
      }
      assert.ok(error instanceof TypeError, `expected a TypeError, got ${describeError(error)}`)
      assert.match(error.message, /_start/)
      assert.equal(stdio.read('stdout').toString(), '')
    })
  }

  test('a second initialize(), or start() after it: ERR_WASI_ALREADY_STARTED', () => {
    const { wasi } = initNative('wat:wat_reactor', { imports: watImports })
    const bytes = fixtureBytes('wat:wat_reactor')
    assert.throws(() => wasi.initialize(bytes, watImports({ wasi })), { code: 'ERR_WASI_ALREADY_STARTED' })
    assert.throws(() => wasi.start(fixtureBytes('wat:hello_unstable')), { code: 'ERR_WASI_ALREADY_STARTED' })
  })

  test('imports that are not functions: a TypeError naming imports', () => {
    let error
    try {
      new WASI({}).initialize(fixtureBytes('wat:wat_reactor'), { env: { double: 2 } })
    } catch (err) {
      error = err
    }
    assertArgError(error, 'imports')
  })
})

// ---------------------------------------------------------------- V8 mode

describe('V8-mode initialize(instance) is unchanged', () => {
  test('wat:reactor: returns undefined, _initialize runs once, exports work', async () => {
    const stdio = scratch.stdio()
    try {
      const wasi = new WASI({ ...stdio.fds })
      const { instance } = await WebAssembly.instantiate(fixtureBytes('wat:reactor'), wasi.getImportObject())
      assert.equal(wasi.initialize(instance), undefined)
      assert.equal(instance.exports.initialize_calls(), 1)
      assert.equal(instance.exports.greet(), 0)
      assert.throws(() => wasi.initialize(instance), { code: 'ERR_WASI_ALREADY_STARTED' })
    } finally {
      stdio.close()
    }
    assert.equal(stdio.read('stdout').toString(), 'hello from the reactor\n')
  })

  test("wat:wat_reactor with the constructor's imports through getImportObject(); wasi.memory once initialized", async () => {
    const ctx = {}
    const calls = []
    const receivers = []
    const wasi = (ctx.wasi = new WASI({ imports: watImports(ctx, calls, receivers) }))
    const { instance } = await WebAssembly.instantiate(fixtureBytes('wat:wat_reactor'), wasi.getImportObject())
    assert.equal(wasi.initialize(instance), undefined)
    assert.equal(instance.exports.initialized.value, 1)
    assert.equal(instance.exports.twice(5), 20)
    assert.deepEqual(calls, [
      [5, 'reactor memory'],
      [5, 'reactor memory'],
    ])
    assert.deepEqual(receivers, [undefined, undefined])
    assert.equal(readString(wasi.memory.buffer, 16, 14), 'reactor memory')
  })

  test('go:adder_reactor run by V8', async () => {
    const ctx = {}
    const logged = []
    const wasi = (ctx.wasi = new WASI({ imports: { env: { hostLogString: (p, n) => logged.push(readString(ctx.wasi.memory.buffer, p, n)) } } }))
    const { instance } = await WebAssembly.instantiate(fixtureBytes('go:adder_reactor'), wasi.getImportObject())
    wasi.initialize(instance)
    assert.equal(instance.exports.add(40, 2), 42)
    instance.exports.greet()
    assert.deepEqual(logged, [GO_GREETING])
  })
})
