'use strict'

// Host functions (the `imports` option) and `wasi.memory`, in three modes:
// native start(bytes), native run(bytes) and V8 (instantiate with
// getImportObject(), then start(instance)). Number conversions both ways
// (i32, i64 as BigInt, f32, f64, multi-value results) checked against what
// V8 does; guest memory read and written from inside host calls, also after
// the guest grew it; errors thrown by host functions surface as they were
// thrown; ArrayBuffers taken in a native host call are detached afterwards.

const assert = require('node:assert/strict')
const { describe, test, after } = require('node:test')

const { WASI } = require('..')
const { fixtureBytes } = require('./fixtures')
const { makeScratch, describeError, assertArgError, readString, f32Bits, f64Bits } = require('./native-api-helpers')

const scratch = makeScratch('xwasi-host-')
after(() => scratch.remove())

const MODES = ['native start', 'native run', 'v8']
const NATIVE_MODES = MODES.filter((mode) => mode !== 'v8')

/**
 * Runs `fixtureName` in `mode` with a fresh WASI object made from
 * `wasiOptions`. `makeImports(ctx)` returns the host functions; `ctx.wasi`
 * is the WASI object by the time the guest calls them. `perCall` imports go
 * to start(bytes, imports) / run(bytes, { imports }) (native modes only).
 * Never throws for the module's failures: they come back as `error`.
 */
async function runWith(mode, fixtureName, { makeImports, wasiOptions = {}, perCall } = {}) {
  const ctx = {}
  const imports = makeImports ? makeImports(ctx) : undefined
  const bytes = fixtureBytes(fixtureName)
  const options = { ...wasiOptions, ...(imports ? { imports } : {}) }
  let exitCode
  let error
  if (mode === 'native run') {
    const out = []
    const err = []
    const wasi = (ctx.wasi = new WASI(options))
    try {
      const result = await wasi.run(bytes, {
        stdout: (c) => out.push(c),
        stderr: (c) => err.push(c),
        ...(perCall ? { imports: perCall } : {}),
      })
      exitCode = result.exitCode
    } catch (e) {
      error = e
    }
    return { wasi, exitCode, error, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }
  }
  const stdio = scratch.stdio()
  let wasi
  try {
    wasi = ctx.wasi = new WASI({ ...options, ...stdio.fds })
    if (mode === 'native start') {
      exitCode = perCall ? wasi.start(bytes, perCall) : wasi.start(bytes)
    } else {
      const importObject = wasi.getImportObject()
      const { instance } = await WebAssembly.instantiate(bytes, importObject)
      exitCode = wasi.start(instance)
    }
  } catch (e) {
    error = e
  } finally {
    stdio.close()
  }
  return { wasi, exitCode, error, stdout: stdio.read('stdout').toString(), stderr: stdio.read('stderr').toString() }
}

function assertSucceeded(outcome) {
  assert.equal(outcome.error, undefined, `failed: ${describeError(outcome.error)}\n${outcome.error?.stack ?? ''}`)
  assert.equal(outcome.exitCode, 0)
}

// ---------------------------------------------------------------- go hostfuncs

const HOSTFUNCS_STDOUT = [
  'hostAdd64(40, 2) = 42',
  'hostAdd64(MaxInt64, 1) = -9223372036854775808',
  'hostAdd64(-5, 3) = -2',
  'hostScale(1.5) = 3.75',
  'hostFill: "filled by the host"',
  'grew memory by 64 MiB',
  'hostFill after growth: "filled by the host"',
  'done',
]
  .map((line) => `${line}\n`)
  .join('')

// The host side of go:hostfuncs, recording what it sees.
function hostfuncsImports(ctx, log) {
  Object.assign(log, { u32: [], add64: [], scale: [], strings: [], receivers: [], memories: new Set(), sizes: [], buffers: [], detachedMidRun: [] })
  const memory = () => {
    const m = ctx.wasi.memory
    log.memories.add(m)
    return m
  }
  return {
    env: {
      hostLogUint32(v) {
        log.receivers.push(this)
        log.u32.push(v)
        log.buffers.push(memory().buffer)
      },
      hostAdd64(a, b) {
        log.receivers.push(this)
        log.add64.push([a, b])
        // The buffer taken in the previous host call, now that it returned.
        const previous = log.buffers.at(-1)
        log.detachedMidRun.push(previous instanceof ArrayBuffer ? previous.byteLength : `not an ArrayBuffer: ${previous}`)
        return a + b
      },
      hostScale(x) {
        log.receivers.push(this)
        log.scale.push(x)
        return x * 2.5
      },
      hostLogString(ptr, len) {
        log.receivers.push(this)
        const m = memory()
        const buffer = m.buffer
        log.buffers.push(buffer)
        log.sizes.push([m.byteLength, buffer.byteLength])
        log.strings.push(readString(buffer, ptr, len))
      },
      hostFill(ptr, capacity) {
        log.receivers.push(this)
        const text = Buffer.from('filled by the host')
        const buffer = memory().buffer
        log.buffers.push(buffer)
        new Uint8Array(buffer, ptr, capacity).set(text.subarray(0, capacity))
        return Math.min(text.length, capacity)
      },
    },
  }
}

describe('go hostfuncs: numbers, strings and buffers through guest memory, before and after growth', () => {
  const runs = [...MODES.map((mode) => [mode, 'cranelift']), ['native run', 'singlepass']]
  for (const [mode, engine] of runs) {
    test(`${mode}${mode === 'v8' ? '' : `, ${engine}`}`, async () => {
      const log = {}
      const outcome = await runWith(mode, 'go:hostfuncs', { makeImports: (ctx) => hostfuncsImports(ctx, log), wasiOptions: { engine } })
      assertSucceeded(outcome)
      assert.equal(outcome.stdout, HOSTFUNCS_STDOUT)
      assert.equal(outcome.stderr, '')
      assert.deepEqual(log.u32, [7, -1], 'i32 arguments arrive as (signed) numbers')
      assert.deepEqual(log.add64, [[40n, 2n], [9223372036854775807n, 1n], [-5n, 3n]], 'i64 arguments arrive as BigInts')
      assert.deepEqual(log.scale, [1.5])
      assert.ok(log.buffers.every((b) => b instanceof ArrayBuffer), `wasi.memory.buffer in host calls: ${log.buffers.map(String)}`)
      assert.deepEqual(log.strings, ['hello from the guest ✓', 'logged from the end of 64 MiB'])
      assert.equal(log.memories.size, 1, 'wasi.memory is one object throughout the run')
      assert.equal([...log.memories][0], outcome.wasi.memory, 'wasi.memory keeps its identity')
      for (const [byteLength, bufferLength] of log.sizes) assert.equal(byteLength, bufferLength, 'memory.byteLength === memory.buffer.byteLength')
      const [before, afterGrowth] = log.sizes.map(([n]) => n)
      assert.ok(afterGrowth >= before + (64 << 20), `memory grew from ${before} to only ${afterGrowth}`)
      if (mode !== 'v8') {
        assert.deepEqual(log.detachedMidRun, [0, 0, 0], 'a buffer taken in a host call is detached once that call returned')
        assert.ok(log.buffers.every((b) => b.byteLength === 0), 'buffers taken in host calls are detached after the run')
      } else {
        assert.ok(outcome.wasi.memory.buffer.byteLength >= afterGrowth, 'V8 mode: wasi.memory stays valid after start()')
      }
      assert.ok(log.receivers.every((r) => r === undefined), `host functions are called with this === undefined, got ${log.receivers.find((r) => r !== undefined)}`)
    })
  }
})

// ---------------------------------------------------------------- wat host_i64

const HOST_I64_IMPORTS = {
  add64: (a, b) => a + b,
  ident32: () => 2 ** 32 + 5,
  scale32: (x) => x / 7,
  scale64: (x) => x * 3,
}

function hostI64Stdout(i32Line = '5') {
  return [
    'add64: -9223372036854775808',
    'add64: -2',
    `i32: ${i32Line}`,
    `f32 bits: ${f32Bits(1.5 / 7)}`,
    `f64: ${f64Bits(0.1 * 3)}`,
  ]
    .map((line) => `${line}\n`)
    .join('')
}

describe('wat host_i64 and host_multivalue: conversions of every number type, multi-value results', () => {
  const runs = [...MODES.map((mode) => [mode, 'cranelift']), ['native start', 'singlepass']]
  for (const [mode, engine] of runs) {
    test(`${mode}${mode === 'v8' ? '' : `, ${engine}`}: arguments and results`, async () => {
      const seen = []
      const outcome = await runWith(mode, 'wat:host_i64', {
        wasiOptions: { engine },
        makeImports: () => ({
          env: {
            ...HOST_I64_IMPORTS,
            add64: (a, b) => (seen.push(['add64', a, b]), a + b),
            ident32: (x) => (seen.push(['ident32', x]), 2 ** 32 + 5),
            scale32: (x) => (seen.push(['scale32', x]), x / 7),
            scale64: (x) => (seen.push(['scale64', x]), x * 3),
          },
        }),
      })
      assertSucceeded(outcome)
      assert.equal(outcome.stdout, hostI64Stdout())
      assert.deepEqual(seen, [
        ['add64', 9223372036854775807n, 1n],
        ['add64', -5n, 3n],
        ['ident32', -1],
        ['scale32', 1.5],
        ['scale64', 0.1],
      ])
    })
  }

  // What an i32 result becomes: ToInt32, as V8 does it (checked in V8 mode too).
  const i32Results = [
    [2 ** 31, '-2147483648'],
    [-3.9, '-3'],
    ['12', '12'],
    [undefined, '0'],
    [true, '1'],
  ]
  for (const mode of MODES) {
    test(`${mode}: i32 results are converted with ToInt32`, async () => {
      for (const [value, printed] of i32Results) {
        const outcome = await runWith(mode, 'wat:host_i64', { makeImports: () => ({ env: { ...HOST_I64_IMPORTS, ident32: () => value } }) })
        assertSucceeded(outcome)
        assert.equal(outcome.stdout, hostI64Stdout(printed), `ident32 returning ${String(value)}`)
      }
    })
  }

  for (const mode of MODES) {
    test(`${mode}: a multi-value result (i32 f64) from an array`, async () => {
      const outcome = await runWith(mode, 'wat:host_multivalue', { makeImports: () => ({ env: { pair: () => [-7, 2.5] } }) })
      assertSucceeded(outcome)
      assert.equal(outcome.stdout, `pair: -7 ${f64Bits(2.5)}\n`)
    })

    test(`${mode}: a multi-value result from any iterable, converted per type`, async () => {
      const outcome = await runWith(mode, 'wat:host_multivalue', {
        makeImports: () => ({
          env: {
            *pair() {
              yield 2 ** 32 + 9
              yield '0.5'
            },
          },
        }),
      })
      assertSucceeded(outcome)
      assert.equal(outcome.stdout, `pair: 9 ${f64Bits(0.5)}\n`)
    })
  }

  // wasmer's Singlepass does not compile multi-value functions (wasmer
  // 7.4 panics; the addon turns that into a CompileError). README: Limits.
  test('singlepass, multi-value: refused with a CompileError', async () => {
    const outcome = await runWith('native start', 'wat:host_multivalue', {
      wasiOptions: { engine: 'singlepass' },
      makeImports: () => ({ env: { pair: () => [-7, 2.5] } }),
    })
    assert.ok(outcome.error instanceof WebAssembly.CompileError, `got ${outcome.error ? describeError(outcome.error) : `a run printing ${JSON.stringify(outcome.stdout)}`}`)
  })

  // V8 throws a TypeError for these (a string that is not a number would be a SyntaxError).
  const badResults = [
    ['wat:host_i64', 'an i64 result that is a Number', { ...HOST_I64_IMPORTS, add64: () => 5 }],
    ['wat:host_i64', 'an i64 result that is undefined', { ...HOST_I64_IMPORTS, add64: () => undefined }],
    ['wat:host_multivalue', 'a multi-value result with too few values', { pair: () => [1] }],
    ['wat:host_multivalue', 'a multi-value result with too many values', { pair: () => [1, 2, 3] }],
    ['wat:host_multivalue', 'a multi-value result that is not iterable', { pair: () => 5 }],
  ]
  for (const mode of MODES) {
    for (const [name, label, env] of badResults) {
      test(`${mode}: ${label} is a TypeError`, async () => {
        const outcome = await runWith(mode, name, { makeImports: () => ({ env }) })
        assert.ok(outcome.error instanceof TypeError, `expected a TypeError, got ${describeError(outcome.error)}`)
      })
    }
  }
})

// ---------------------------------------------------------------- errors from host functions

describe('a host function that throws ends the run with that very value', () => {
  for (const mode of MODES) {
    test(`${mode}: an Error keeps its identity and stack; output before it is kept`, async () => {
      const thrown = new Error('boom from the host')
      const stack = thrown.stack
      const outcome = await runWith(mode, 'wat:host_throw', { makeImports: () => ({ env: { boom: () => { throw thrown } } }) })
      assert.equal(outcome.error, thrown, `got ${describeError(outcome.error)}`)
      assert.equal(outcome.error.stack, stack, 'the stack was changed')
      assert.equal(outcome.exitCode, undefined)
      assert.equal(outcome.stdout, 'before boom\n')
    })

    test(`${mode}: a thrown non-Error (object, string) arrives unchanged`, async () => {
      for (const thrown of [{ tag: 'not an error' }, 'a string']) {
        const outcome = await runWith(mode, 'wat:host_throw', { makeImports: () => ({ env: { boom: () => { throw thrown } } }) })
        assert.equal(outcome.error, thrown, `got ${describeError(outcome.error)}`)
      }
    })
  }
})

// ---------------------------------------------------------------- per-call imports, linking

describe('imports per call and linking', () => {
  const thrower = () => {
    throw new Error('the constructor import ran')
  }

  for (const mode of NATIVE_MODES) {
    test(`${mode}: imports given to the call override the constructor's`, async () => {
      const outcome = await runWith(mode, 'wat:host_throw', {
        makeImports: () => ({ env: { boom: thrower } }),
        perCall: { env: { boom: () => {} } },
      })
      assertSucceeded(outcome)
      assert.equal(outcome.stdout, 'before boom\nafter boom\n')
    })

    test(`${mode}: imports given only to the call`, async () => {
      const outcome = await runWith(mode, 'wat:host_throw', { perCall: { env: { boom: () => {} } } })
      assertSucceeded(outcome)
      assert.equal(outcome.stdout, 'before boom\nafter boom\n')
    })

    test(`${mode}: a host import nobody provides is a LinkError naming it`, async () => {
      const outcome = await runWith(mode, 'wat:host_throw')
      assert.ok(outcome.error instanceof WebAssembly.LinkError, `got ${describeError(outcome.error)}`)
      assert.match(outcome.error.message, /\benv\b/)
      assert.match(outcome.error.message, /\bboom\b/)
      assert.equal(outcome.stdout, '', 'the module ran')
    })
  }

  test("V8 mode: getImportObject() holds the constructor's imports beside both WASI names", () => {
    const boom = () => {}
    const object = new WASI({ imports: { env: { boom } } }).getImportObject()
    assert.equal(object.env?.boom, boom)
    assert.equal(typeof object.wasi_snapshot_preview1?.fd_write, 'function')
    assert.equal(typeof object.wasi_unstable?.fd_write, 'function')
  })
})

// ---------------------------------------------------------------- argument checks

describe('imports: bad values are TypeErrors naming imports', () => {
  const bad = [
    ['a function that is a number', { env: { f: 1 } }],
    ['a module that is a number', { env: 5 }],
    ['a number', 5],
    ['a string', 'env'],
  ]
  for (const [label, imports] of bad) {
    test(`new WASI({ imports: ${label} })`, () => {
      let error
      try {
        new WASI({ imports })
      } catch (err) {
        error = err
      }
      assertArgError(error, 'imports')
    })
  }

  test('start(bytes, imports) with a function that is not a function', () => {
    const stdio = scratch.stdio()
    let error
    try {
      new WASI({ ...stdio.fds }).start(fixtureBytes('wat:host_throw'), { env: { boom: 'not a function' } })
    } catch (err) {
      error = err
    } finally {
      stdio.close()
    }
    assertArgError(error, 'imports')
    assert.equal(stdio.read('stdout').toString(), '', 'the module ran')
  })
})
