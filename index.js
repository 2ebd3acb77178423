'use strict'
// @x/wasi: run WASI modules natively on wasmer, or serve node:wasi's API to
// modules that V8 runs. This file is the thin JS layer: argument checks,
// node:wasi's names and error codes, errors as JS classes. The WASI core and
// the engine live in the addon (src/).

const { WasiHandle, CompiledModule } = require('./lib/load-binding').loadBinding()
const { normalizeOptions, normalizeCompileOptions } = require('./lib/options')
const { callNative, fromNative, argTypeError, wasiError } = require('./lib/errors')
const { NAMESPACES, WasiExit, createImports } = require('./lib/v8-bridge')
const { removeTreeDir } = require('./lib/memory-tree')

/** Bytes of a `.wasm` file as a Uint8Array, without copying; else null. */
function wasmBytes(source) {
  if (source instanceof Uint8Array) return source
  if (source instanceof ArrayBuffer) return new Uint8Array(source)
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength)
  return null
}

function checkInstance(instance) {
  if (instance === null || typeof instance !== 'object') {
    throw argTypeError('instance', 'of type object', instance)
  }
  const exports = instance.exports
  if (exports === null || typeof exports !== 'object') {
    throw argTypeError('instance.exports', 'of type object', exports)
  }
  if (!(exports.memory instanceof WebAssembly.Memory)) {
    throw argTypeError('instance.exports.memory', 'an instance of WebAssembly.Memory', exports.memory)
  }
  return exports
}

/**
 * Compiles a module for the native path, once: the same bytes compile again
 * for free in this process, and the on-disk cache (unless `cache: false`)
 * serves other processes.
 */
function compile(source, options) {
  const bytes = wasmBytes(source)
  if (bytes === null) throw argTypeError('source', 'a Buffer, Uint8Array or ArrayBuffer of a .wasm file', source)
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw argTypeError('options', 'of type object', options)
  }
  return compileBytes(bytes, normalizeCompileOptions(options ?? {}))
}

/** compile() with options already checked: `{ engine, cacheDir }`. */
function compileBytes(bytes, { engine, cacheDir }) {
  return callNative(() => CompiledModule.compile(bytes, engine, cacheDir))
}

class WASI {
  #handle
  #compileOptions
  #returnOnExit
  #versions
  #memory
  #started = false
  #imports
  // In-memory preopens (lib/memory-tree.js): removed when the run ends.
  #temporaryDirs

  /** @param {import('./index').WASIOptions} [options] */
  constructor(options) {
    const { returnOnExit, compile, native, temporaryDirs } = normalizeOptions(options)
    this.#returnOnExit = returnOnExit
    this.#compileOptions = compile
    this.#versions = native.version ? [native.version] : ['preview1', 'unstable']
    this.#temporaryDirs = temporaryDirs
    try {
      this.#handle = callNative(() => new WasiHandle(native))
    } catch (err) {
      this.#removeTemporaryDirs()
      throw err
    }
  }

  /** Removes the in-memory preopens' directories (a run is over). */
  #removeTemporaryDirs() {
    this.#temporaryDirs.forEach(removeTreeDir)
    this.#temporaryDirs = []
  }

  /** Imports of each WASI name this object provides, made once. */
  #importsByAbi() {
    if (!this.#imports) {
      const buffer = () => this.#memory?.buffer
      this.#imports = {}
      for (const abi of this.#versions) this.#imports[abi] = createImports(this.#handle, abi, buffer)
    }
    return this.#imports
  }

  /** The syscalls, as node:wasi's `wasiImport` (of the first WASI name). */
  get wasiImport() {
    return this.#importsByAbi()[this.#versions[0]]
  }

  /** `{ wasi_snapshot_preview1, wasi_unstable }`: pass to WebAssembly.instantiate(). */
  getImportObject() {
    const object = {}
    for (const [abi, imports] of Object.entries(this.#importsByAbi())) object[NAMESPACES[abi]] = imports
    return object
  }

  #markStarted() {
    if (this.#started) throw wasiError('ERR_WASI_ALREADY_STARTED', 'WASI instance has already started')
    this.#started = true
  }

  /** Ends a run the way node:wasi does: an exit code, or Node's exit. */
  #finish(exitCode, calledExit) {
    if (calledExit && !this.#returnOnExit) process.exit(exitCode)
    return exitCode
  }

  /**
   * Runs a WASI command's `_start` and returns its exit code.
   * - bytes (Buffer, Uint8Array, ArrayBuffer) or a module from compile():
   *   run natively in wasmer;
   * - a `WebAssembly.Instance` (or `Module`): run by V8, with this object's syscalls.
   */
  start(source) {
    if (source instanceof CompiledModule) return this.#startNative(source)
    const bytes = wasmBytes(source)
    if (bytes !== null) return this.#startNative(bytes)
    if (source instanceof WebAssembly.Module) {
      source = new WebAssembly.Instance(source, this.getImportObject())
    }
    const exports = checkInstance(source)
    if (typeof exports._start !== 'function') {
      throw argTypeError('instance.exports._start', 'of type function', exports._start)
    }
    if (exports._initialize !== undefined) {
      throw argTypeError('instance.exports._initialize', 'undefined', exports._initialize)
    }
    this.#markStarted()
    this.#memory = exports.memory
    try {
      exports._start()
    } catch (err) {
      if (err instanceof WasiExit) return this.#finish(err.code, true)
      throw fromNative(err)
    } finally {
      // A command is done: close its descriptors now, not at GC.
      this.#handle.release()
      this.#removeTemporaryDirs()
    }
    return this.#finish(0, false)
  }

  #startNative(source) {
    const module = source instanceof CompiledModule ? source : compileBytes(source, this.#compileOptions)
    this.#markStarted()
    let outcome
    try {
      outcome = callNative(() => this.#handle.startNative(module))
    } finally {
      this.#removeTemporaryDirs()
    }
    return this.#finish(outcome.exitCode, outcome.calledExit)
  }

  /** Initializes a WASI reactor run by V8: calls `_initialize` if exported, never `_start`. */
  initialize(instance) {
    const exports = checkInstance(instance)
    if (exports._start !== undefined) {
      throw argTypeError('instance.exports._start', 'undefined', exports._start)
    }
    if (exports._initialize !== undefined && typeof exports._initialize !== 'function') {
      throw argTypeError('instance.exports._initialize', 'of type function', exports._initialize)
    }
    this.#markStarted()
    this.#memory = exports.memory
    try {
      if (exports._initialize) exports._initialize()
    } catch (err) {
      if (err instanceof WasiExit) return void this.#finish(err.code, true)
      throw fromNative(err)
    }
  }
}

module.exports = { WASI, compile, CompiledModule }
