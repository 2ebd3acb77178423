'use strict'
// Errors as users see them. The addon tags each message with the class it
// stands for (`[LinkError] ...`, see src/errors.rs); here it becomes that
// class, so `instanceof WebAssembly.LinkError` works as with V8's own errors.

const CLASSES = {
  CompileError: WebAssembly.CompileError,
  LinkError: WebAssembly.LinkError,
  RuntimeError: WebAssembly.RuntimeError,
  TypeError,
  RangeError,
  WasiError: Error,
}

const TAG = /^\[(\w+)\] /

/** Rethrows an error of the addon as the JS class it stands for. */
function fromNative(err) {
  const match = err && typeof err.message === 'string' ? TAG.exec(err.message) : null
  if (!match || !CLASSES[match[1]]) return err
  const Class = CLASSES[match[1]]
  const converted = new Class(err.message.slice(match[0].length))
  if (Class === TypeError) converted.code = 'ERR_INVALID_ARG_VALUE'
  return converted
}

/** Calls `fn`, rethrowing addon errors as their JS classes. */
function callNative(fn) {
  try {
    return fn()
  } catch (err) {
    throw fromNative(err)
  }
}

/** A TypeError with a Node-style `code`, as node:wasi throws them. */
function argTypeError(name, expected, actual) {
  const err = new TypeError(`The "${name}" ${name.includes('.') ? 'property' : 'argument'} must be ${expected}. Received ${describe(actual)}`)
  err.code = 'ERR_INVALID_ARG_TYPE'
  return err
}

function argValueError(name, expected, actual) {
  const err = new TypeError(`The "${name}" ${name.includes('.') ? 'property' : 'argument'} must be ${expected}. Received ${describe(actual)}`)
  err.code = 'ERR_INVALID_ARG_VALUE'
  return err
}

function wasiError(code, message) {
  const err = new Error(message)
  err.code = code
  return err
}

function describe(value) {
  if (value === null) return 'null'
  if (value === undefined) return 'undefined'
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`
  if (typeof value === 'object') {
    const name = value.constructor && value.constructor.name
    return name ? `an instance of ${name}` : 'an object'
  }
  const shown = typeof value === 'string' ? `'${value.length > 28 ? value.slice(0, 25) + '...' : value}'` : String(value)
  return `type ${typeof value} (${shown})`
}

module.exports = { callNative, fromNative, argTypeError, argValueError, wasiError }
