'use strict'
// JS host functions for a module's non-WASI imports, served to the addon
// through one dispatcher: `dispatch(index, ...args)` calls host function
// `index` and converts what it returns the way V8 converts an import's
// results (i32: ToInt32, f32/f64: ToNumber, i64: a BigInt, wrapped to 64
// bits; several results: an iterable). It never throws: a throw (by the host
// function or the conversion) is kept in `state.error` and the dispatcher
// returns HOST_THREW, which ends the run so start()/run() can throw that
// very error.

const { argTypeError, callNative } = require('./errors')

const WASI_MODULES = new Set(['wasi_snapshot_preview1', 'wasi_unstable'])
const HOST_THREW = Symbol('x-wasi host function threw')

/**
 * JS values to wasm values, by type, as V8 converts them at the boundary
 * (ToWebAssemblyValue): i32 ToInt32, f32/f64 ToNumber — both throw a
 * TypeError for a BigInt, where `Number(value)` would accept it — and i64
 * ToBigInt (a TypeError for a Number, a SyntaxError for a bad string),
 * wrapped to 64 bits. `BigInt.asIntN` applies ToBigInt itself.
 */
const TO_WASM = {
  i32: (value) => value | 0,
  i64: (value) => BigInt.asIntN(64, value),
  f32: (value) => Math.fround(+value),
  f64: (value) => +value,
}

/** A converter from what a host function returns to the `results` types. */
function resultConverter(results, where) {
  if (results.length === 0) return () => undefined
  if (results.length === 1) {
    const convert = TO_WASM[results[0]]
    return (value) => {
      if (typeof value === 'bigint' && results[0] !== 'i64') {
        throw new TypeError(`${where} returned a BigInt for a ${results[0]} result`)
      }
      return convert(value)
    }
  }
  const converts = results.map((type) => TO_WASM[type])
  return (value) => {
    if (value === null || typeof value !== 'object' || typeof value[Symbol.iterator] !== 'function') {
      throw new TypeError(`${where} must return an iterable of ${results.length} values`)
    }
    const values = Array.from(value)
    if (values.length !== results.length) {
      throw new TypeError(`${where} returned ${values.length} values; its type has ${results.length} results`)
    }
    return values.map((v, i) => converts[i](v))
  }
}

/**
 * Checks an `imports` option: `{ module: { name: function | WebAssembly.Memory | Global | Table } }`.
 * Returns it (or undefined), so merges can use it directly.
 */
function checkImports(name, imports) {
  if (imports === undefined) return undefined
  if (imports === null || typeof imports !== 'object' || Array.isArray(imports)) {
    throw argTypeError(name, 'of type object', imports)
  }
  for (const module of Object.keys(imports)) {
    const namespace = imports[module]
    if (namespace === null || typeof namespace !== 'object') {
      throw argTypeError(`${name}.${module}`, 'of type object', namespace)
    }
    if (WASI_MODULES.has(module)) {
      throw argTypeError(`${name}.${module}`, 'not a WASI namespace (this WASI object provides it)', namespace)
    }
    for (const field of Object.keys(namespace)) {
      const value = namespace[field]
      const ok =
        typeof value === 'function' ||
        value instanceof WebAssembly.Memory ||
        value instanceof WebAssembly.Global ||
        value instanceof WebAssembly.Table
      if (!ok) throw argTypeError(`${name}.${module}.${field}`, 'a function (or, for V8 mode, a WebAssembly.Memory, Global or Table)', value)
    }
  }
  return imports
}

/** `base` with `extra`'s namespaces merged over it, name by name. */
function mergeImports(base, extra) {
  if (!extra) return base
  if (!base) return extra
  const merged = { ...base }
  for (const module of Object.keys(extra)) merged[module] = { ...base[module], ...extra[module] }
  return merged
}

/**
 * The dispatcher for a native run of `compiled` with host functions from
 * `imports`. Returns `{ dispatch, provided, state }`, or null when the
 * module imports nothing from JS.
 */
function hostDispatcher(compiled, imports) {
  const functions = []
  const converters = []
  const provided = []
  for (const { module, name, results } of callNative(() => compiled.functionImports())) {
    if (WASI_MODULES.has(module)) continue
    const fn = imports?.[module]?.[name]
    if (fn === undefined) continue // reported as a missing import by the addon
    if (typeof fn !== 'function') {
      throw new WebAssembly.LinkError(`WebAssembly.Instance(): import ${module}::${name}: function import requires a callable (natively, host imports must be functions)`)
    }
    functions.push(fn)
    converters.push(resultConverter(results, `host function ${module}::${name}`))
    provided.push([module, name])
  }
  if (functions.length === 0) return null
  const state = { threw: false, error: undefined }
  const dispatch = (index, ...args) => {
    try {
      // Called as a plain function: `this` is undefined, as in V8.
      const fn = functions[index]
      return converters[index](fn(...args))
    } catch (error) {
      if (!state.threw) {
        state.threw = true
        state.error = error
      }
      return HOST_THREW
    }
  }
  return { dispatch, provided, state }
}

/** The error to throw when a run ended because a host function threw. */
function hostError(host) {
  if (host?.state.threw) return host.state.error
  return new Error('a host function failed')
}

module.exports = { checkImports, mergeImports, hostDispatcher, hostError, TO_WASM, WASI_MODULES }
