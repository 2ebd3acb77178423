'use strict'
// @x/wasi: run WASI modules natively on wasmer, or serve node:wasi's API.
// This file is the thin JS layer: argument checks, node:wasi names, errors.
// The WASI core and the engine live in the addon (src/).

const { WasiHandle } = require('./binding.js')
const { normalizeOptions } = require('./lib/options')
const { callNative, argTypeError, wasiError } = require('./lib/errors')

/** Bytes of a `.wasm` file as a Uint8Array, without copying. */
function wasmBytes(source) {
  if (source instanceof Uint8Array) return source
  if (source instanceof ArrayBuffer) return new Uint8Array(source)
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength)
  return null
}

class WASI {
  #handle
  #returnOnExit
  #started = false

  /** @param {import('./index').WASIOptions} [options] */
  constructor(options) {
    const { returnOnExit, native } = normalizeOptions(options)
    this.#returnOnExit = returnOnExit
    this.#handle = callNative(() => new WasiHandle(native))
  }

  /**
   * Runs the module's `_start` and returns its exit code.
   * @param {Uint8Array | ArrayBuffer | ArrayBufferView} source the bytes of a `.wasm` file
   */
  start(source) {
    const bytes = wasmBytes(source)
    if (bytes === null) {
      throw argTypeError('source', 'a Buffer, Uint8Array or ArrayBuffer of a .wasm file', source)
    }
    if (this.#started) throw wasiError('ERR_WASI_ALREADY_STARTED', 'WASI instance has already started')
    this.#started = true
    const { exitCode, calledExit } = callNative(() => this.#handle.startNative(bytes))
    if (calledExit && !this.#returnOnExit) process.exit(exitCode)
    return exitCode
  }
}

module.exports = { WASI }
