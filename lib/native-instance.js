'use strict'
// The `exports` of a reactor instantiated natively (`initialize(bytes)`),
// shaped like a WebAssembly.Instance's: functions, memories (`buffer`,
// `grow`) and globals (`value`). Arguments are converted as V8 converts
// them: i32 ToInt32, i64 ToBigInt (wrapped to 64 bits), f32/f64 ToNumber.

const { callNative, wasiError } = require('./errors')
const { TO_WASM } = require('./host-imports')

function exitError(code) {
  const err = wasiError('ERR_WASI_EXIT', `the WASI module called proc_exit(${code})`)
  err.exitCode = code
  return err
}

function wrapFunction(native, name, params, host, hostError) {
  const converts = params.map((type) => TO_WASM[type])
  const fn = {
    [name](...args) {
      const values = converts.map((convert, i) => convert(args[i]))
      if (host) host.state.threw = false
      const outcome = callNative(() => native.call(name, values))
      if (outcome.ending === 'returned') return outcome.value
      if (outcome.ending === 'exited') throw exitError(outcome.code)
      throw hostError()
    },
  }[name]
  return fn
}

/**
 * `delta` of Memory.prototype.grow as V8 takes it ([EnforceRange] unsigned
 * long): ToNumber (a BigInt is a TypeError), then a TypeError unless finite
 * and within 0..2^32-1, then truncated. Never wrapped: grow(2 ** 32) must
 * not become grow(0).
 */
function growDelta(delta) {
  const number = +delta
  const fail = (what) => new TypeError(`WebAssembly.Memory.grow(): Argument 0 must be ${what}`)
  if (!Number.isFinite(number)) throw fail('convertible to a valid number')
  if (number < 0) throw fail('non-negative')
  if (number > 0xffffffff) throw fail('in the unsigned long range')
  return Math.trunc(number)
}

class NativeMemory {
  #native
  #name
  constructor(native, name) {
    this.#native = native
    this.#name = name
  }

  /** The memory, in place; replaced by a longer one after it grows. */
  get buffer() {
    return callNative(() => this.#native.memoryBuffer(this.#name))
  }

  /** Grows by `delta` pages of 64 KiB; returns the previous size in pages. */
  grow(delta) {
    const pages = growDelta(delta)
    return callNative(() => this.#native.memoryGrow(this.#name, pages))
  }
}

class NativeGlobal {
  #native
  #name
  #type
  #mutable
  constructor(native, name, type, mutable) {
    this.#native = native
    this.#name = name
    this.#type = type
    this.#mutable = mutable
  }

  get value() {
    return callNative(() => this.#native.globalGet(this.#name))
  }

  set value(value) {
    if (!this.#mutable) throw new TypeError(`global ${this.#name} is immutable`)
    const converted = TO_WASM[this.#type](value)
    callNative(() => this.#native.globalSet(this.#name, converted))
  }

  valueOf() {
    return this.value
  }
}

/** `{ exports }` for a NativeInstance of the addon. */
function wrapInstance(native, host, hostError) {
  const exports = Object.create(null)
  for (const info of callNative(() => native.exportsInfo())) {
    if (info.kind === 'function') exports[info.name] = wrapFunction(native, info.name, info.params, host, hostError)
    else if (info.kind === 'memory') exports[info.name] = new NativeMemory(native, info.name)
    else if (info.kind === 'global') exports[info.name] = new NativeGlobal(native, info.name, info.valueType, info.mutable)
  }
  return { exports: Object.freeze(exports) }
}

module.exports = { wrapInstance }
