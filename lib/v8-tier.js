'use strict'
// `engine: 'auto'`'s first tier for a module never compiled natively: V8
// runs it (lazy compilation, no wait for wasmer) with the same WASI core,
// and whatever happens is reported as the native tiers report it. Anything
// that fails before `_start` runs gives up (returns null): the caller then
// takes the native path, which reports compile and link errors itself.
// A trap is rewritten from V8's wording to wasmer's (src/errors.rs
// `describe_trap`): the trap's name, then `at` lines of the wasm frames.

const { fromNative } = require('./errors')
const { NAMESPACES, WasiExit, createImports } = require('./v8-bridge')
const { wasmNames } = require('./wasm-names')

// V8's trap messages (Node 20 to 26) → wasmer's (wasmer-types TrapCode).
// V8 reports a null table entry and a signature mismatch alike, and a NaN
// like an out-of-range float in a truncation: each maps to the more
// common of wasmer's two (docs/DESIGN.md, "Tiering").
const TRAPS = new Map([
  ['unreachable', 'unreachable'],
  ['memory access out of bounds', 'out of bounds memory access'],
  ['divide by zero', 'integer divide by zero'],
  ['remainder by zero', 'integer divide by zero'],
  ['divide result unrepresentable', 'integer overflow'],
  ['float unrepresentable in integer range', 'integer overflow'],
  ['table index is out of bounds', 'undefined element: out of bounds table access'],
  ['null function or function signature mismatch', 'indirect call type mismatch'],
  ['function signature mismatch', 'indirect call type mismatch'],
  ['null function', 'uninitialized element'],
  ['operation does not support unaligned accesses', 'unaligned atomic access'],
])

// wasmer's words for a stack overflow, which it keeps no frames of.
const STACK_OVERFLOW = 'call stack exhausted (infinite recursion? wasmer keeps no wasm backtrace for a stack overflow)'
const V8_STACK_OVERFLOW = 'Maximum call stack size exceeded'

/** The function index of each wasm frame of `err`, innermost first. */
function wasmFrameIndexes(err) {
  const previous = Error.prepareStackTrace
  let sites
  try {
    // Call sites, not the formatted stack: a user's prepareStackTrace
    // cannot change what is read here.
    Error.prepareStackTrace = (_, callSites) => callSites
    sites = err.stack
  } finally {
    Error.prepareStackTrace = previous
  }
  const lines = Array.isArray(sites) ? sites.map(String) : String(sites).split('\n')
  const indexes = []
  for (const line of lines) {
    const match = /wasm-function\[(\d+)\]:0x[0-9a-f]+\)?$/.exec(line)
    if (match) indexes.push(Number(match[1]))
  }
  return indexes
}

/** `message` and the wasm backtrace of `err`, worded as wasmer does. */
function describeFrames(message, err, bytes) {
  const indexes = wasmFrameIndexes(err)
  if (indexes.length === 0) return message
  const names = wasmNames(bytes)
  const module = names.module ?? '<module>'
  const frames = indexes.map((index) => {
    const name = names.functions.get(index)
    return name === undefined ? `\n    at ${module}[${index}]` : `\n    at ${name} (${module}[${index}])`
  })
  return message + frames.join('')
}

/** What the native tiers would have thrown for `err`, thrown by V8's run. */
function nativeError(err, bytes) {
  if (err instanceof RangeError && err.message === V8_STACK_OVERFLOW) {
    return new WebAssembly.RuntimeError(STACK_OVERFLOW)
  }
  if (err instanceof WebAssembly.RuntimeError) {
    const trap = TRAPS.get(err.message) ?? err.message
    return new WebAssembly.RuntimeError(describeFrames(trap, err, bytes))
  }
  // The WASI core's own failures (tagged by the addon) stop wasm as traps.
  const converted = fromNative(err)
  if (converted !== err && converted instanceof WebAssembly.RuntimeError) {
    return new WebAssembly.RuntimeError(describeFrames(converted.message, err, bytes))
  }
  return converted
}

// Thrown through the guest's frames to stop it (see verdict).
const GIVE_UP = Object.freeze({ toString: () => 'x-wasi: wasmer refuses this module' })

/**
 * wasmer's verdict on the module, waited for only when needed: V8 runs the
 * guest meanwhile, up to its first syscall that can be seen outside the
 * process, or its end. A module wasmer refuses is then stopped (GIVE_UP
 * thrown through its frames) before anything it did could be seen, and
 * runs on the native path instead, which refuses it as natively; one it
 * accepts is `onValid()`'s.
 */
function verdict(validation, onValid) {
  let valid
  const isValid = () => {
    if (valid === undefined) {
      valid = validation.wait()
      if (valid) onValid()
    }
    return valid
  }
  return {
    isValid,
    beforeSeen() {
      if (valid !== true && !isValid()) throw GIVE_UP
    },
  }
}

/**
 * Compiles and instantiates `bytes` in V8 with `handle`'s syscalls. Returns
 * `{ run }` — `run()` calls `_start` and returns `{ exitCode, calledExit }`,
 * or null when wasmer refuses the module (then nothing the guest did was
 * seen outside the process), or throws the native tiers' error — or null
 * when V8 cannot run it exactly as wasmer would (V8 finds it invalid, a
 * link error, no `_start`, an `_initialize`, no memory export or a shared
 * one).
 * @param {Uint8Array} bytes a module whose only imports are WASI syscalls
 *   with their exact signatures and without a start function
 *   (CompiledModule.probe's `v8Runnable`)
 * @param validation wasmer's validation of `bytes` under way on another
 *   thread (`{ wait(): boolean }`, CompiledModule.validateInBackground)
 * @param onValid called once V8 runs the module and wasmer has found it
 *   valid (a sighting for the disk cache): never for a module either
 *   refuses
 */
function prepare(bytes, handle, validation, onValid) {
  const wasmer = verdict(validation, onValid)
  let instance
  try {
    const module = new WebAssembly.Module(bytes)
    let memory
    const imports = {}
    for (const [abi, namespace] of Object.entries(NAMESPACES)) {
      imports[namespace] = createImports(handle, abi, () => memory?.buffer, wasmer.beforeSeen)
    }
    instance = new WebAssembly.Instance(module, imports)
    memory = instance.exports.memory
  } catch {
    validation.wait()
    return null
  }
  const { _start: start, _initialize: initialize, memory } = instance.exports
  if (typeof start !== 'function' || initialize !== undefined) return null
  if (!(memory instanceof WebAssembly.Memory) || !(memory.buffer instanceof ArrayBuffer)) return null
  return {
    run() {
      // wasmer names every frame of a trap; V8 records 10 unless told.
      const limit = Error.stackTraceLimit
      Error.stackTraceLimit = Infinity
      let outcome
      let failure
      try {
        start()
        outcome = { exitCode: 0, calledExit: false }
      } catch (err) {
        if (err instanceof WasiExit) outcome = { exitCode: err.code, calledExit: true }
        else failure = err
      } finally {
        Error.stackTraceLimit = limit
      }
      // The guest's end is seen too: its exit code, or its trap.
      if (!wasmer.isValid()) return null
      if (failure !== undefined) throw nativeError(failure, bytes)
      return outcome
    },
  }
}

// WASI's method that runs bytes on this tier (index.js), for x-wasi
// (bin/x-wasi.js), which chooses the tier itself: not part of the API.
const START_IN_V8 = Symbol('x-wasi start in V8')

module.exports = { prepare, nativeError, START_IN_V8 }
