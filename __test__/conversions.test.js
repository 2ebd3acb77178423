'use strict'

// A reactor run natively (initialize(bytes)) converts JS values exactly as V8
// does for the same module: export arguments, globals, host function results
// (one and several) and Memory.prototype.grow's delta. Each case runs on a
// real WebAssembly instance of wat:conversions and on the native one, in the
// same test, and must give the same value or the same error class.

const assert = require('node:assert/strict')
const { test } = require('node:test')

const { WASI } = require('..')
const { fixtureBytes } = require('./fixtures')

const BYTES = fixtureBytes('wat:conversions')

// Values of every JS type, and the ones `Number(v) | 0` or `BigInt(v)` would
// take where V8 throws (BigInts for numbers, Numbers for i64).
const VALUES = [
  ['2n', 2n],
  ['-1n', -1n],
  ['2n ** 64n + 3n', 2n ** 64n + 3n],
  ['5', 5],
  ['1.5', 1.5],
  ['-0', -0],
  ['NaN', NaN],
  ['2 ** 40', 2 ** 40],
  ["'3'", '3'],
  ["'abc'", 'abc'],
  ["'0x10'", '0x10'],
  ['true', true],
  ['undefined', undefined],
  ['null', null],
  ['{ valueOf: 5 }', { valueOf: () => 5 }],
  ['{ valueOf: 7n }', { valueOf: () => 7n }],
  ['Symbol()', Symbol('s')],
]

const TYPES = ['i32', 'i64', 'f32', 'f64']

/** What `fn()` gives, as a comparable string: a value or an error class. */
function outcome(fn) {
  try {
    const value = fn()
    return typeof value === 'bigint' ? `${value}n` : Object.is(value, -0) ? '-0' : String(value)
  } catch (err) {
    return `throws ${err.constructor.name}`
  }
}

/** The V8 and the native instance of wat:conversions, with host functions `env`. */
function instances(env) {
  const v8 = new WebAssembly.Instance(new WebAssembly.Module(BYTES), { env })
  const native = new WASI({ returnOnExit: true }).initialize(BYTES, { env })
  return { v8: v8.exports, native: native.exports }
}

const noHost = { one: () => 0, one_f64: () => 0, pair: () => [0, 0n] }

test('export arguments: every JS value to every wasm type, as V8 (a BigInt for i32/f32/f64 is a TypeError, a Number for i64 too)', () => {
  const { v8, native } = instances(noHost)
  for (const type of TYPES) {
    for (const [label, value] of VALUES) {
      const expected = outcome(() => v8[`take_${type}`](value))
      assert.equal(outcome(() => native[`take_${type}`](value)), expected, `take_${type}(${label})`)
    }
  }
  // Spot checks of what V8 does, so the comparison cannot pass by both sides being wrong alike.
  assert.throws(() => native.take_i32(2n), TypeError)
  assert.throws(() => native.take_f64(2n), TypeError)
  assert.throws(() => native.take_i64(5), TypeError)
  assert.equal(native.take_i64('12'), 12n)
})

test('global.value = v: every JS value to every global type, as V8', () => {
  const { v8, native } = instances(noHost)
  for (const type of TYPES) {
    for (const [label, value] of VALUES) {
      const set = (exports) => () => {
        exports[`g_${type}`].value = value
        return exports[`g_${type}`].value
      }
      assert.equal(outcome(set(native)), outcome(set(v8)), `g_${type}.value = ${label}`)
    }
  }
  assert.throws(() => {
    native.g_i32.value = 2n
  }, TypeError)
})

test('host function results, one and several, converted as V8 converts them', () => {
  for (const [label, value] of VALUES) {
    const env = { one: () => value, one_f64: () => value, pair: () => [value, value] }
    const { v8, native } = instances(env)
    for (const name of ['call_one', 'call_one_f64', 'call_pair']) {
      assert.equal(outcome(() => native[name]()), outcome(() => v8[name]()), `${name}() with the host returning ${label}`)
    }
  }
  const { native } = instances({ ...noHost, pair: () => [2n, 2n] })
  assert.throws(() => native.call_pair(), TypeError, 'a BigInt for the i32 of a multi-value result')
})

test('memory.grow(delta): out-of-range, negative and non-number deltas as V8 (never wrapped), and growth past the maximum', () => {
  const { v8, native } = instances(noHost)
  const deltas = [
    ['2 ** 32', 2 ** 32],
    ['2 ** 32 + 1', 2 ** 32 + 1],
    ['2 ** 53', 2 ** 53],
    ['-1', -1],
    ['-0.5', -0.5],
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['undefined', undefined],
    ['2n', 2n],
    ['Symbol()', Symbol('s')],
    ["'abc'", 'abc'],
    ['null', null],
    ['1.7', 1.7],
    ["'1'", '1'],
    ['{ valueOf: 0 }', { valueOf: () => 0 }],
    ['4', 4],
    ['1', 1],
    ['0', 0],
  ]
  for (const [label, delta] of deltas) {
    assert.equal(outcome(() => native.memory.grow(delta)), outcome(() => v8.memory.grow(delta)), `memory.grow(${label})`)
    assert.equal(native.memory.buffer.byteLength, v8.memory.buffer.byteLength, `size after memory.grow(${label})`)
  }
  assert.throws(() => native.memory.grow(2 ** 32), TypeError, 'grow(2 ** 32) is refused, not grow(0)')
  assert.throws(() => native.memory.grow(1), RangeError, 'growing past the maximum is a RangeError')
})
