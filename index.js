'use strict'
// @x/wasi: run WASI modules natively on wasmer, or serve node:wasi's API to
// modules that V8 runs. This file is the thin JS layer: argument checks,
// node:wasi's names and error codes, errors as JS classes. The WASI core and
// the engine live in the addon (src/).

const { WasiHandle, CompiledModule } = require('./lib/load-binding').loadBinding()
const { normalizeOptions, normalizeCompileOptions } = require('./lib/options')
const { callNative, fromNative, argTypeError, wasiError } = require('./lib/errors')
const { NAMESPACES, WasiExit, createImports } = require('./lib/v8-bridge')
const { checkImports, mergeImports, hostDispatcher, hostError } = require('./lib/host-imports')
const { normalizeRunOptions, startRun, abortError } = require('./lib/run')
const { wrapInstance } = require('./lib/native-instance')
const { removeTreeDir } = require('./lib/memory-tree')
const { isMainThread } = require('node:worker_threads')
const { optimizeInBackground, chooseTier, sightedInV8 } = require('./lib/tiering')
const v8Tier = require('./lib/v8-tier')
const { START_IN_V8 } = v8Tier
const { keepRecent } = require('./lib/recent-modules')

/** Bytes of a `.wasm` file as a Uint8Array, without copying; else null. */
function wasmBytes(source) {
  if (source instanceof Uint8Array) return source
  if (source instanceof ArrayBuffer) return new Uint8Array(source)
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength)
  return null
}

/**
 * node:wasi's checks of an instance given to start()/initialize(). `memory`
 * false skips the memory export's (for an instance made here from a
 * WebAssembly.Module, which node:wasi never sees: a module without memory
 * runs, and its syscalls see an empty memory).
 */
function checkInstance(instance, { memory = true } = {}) {
  if (instance === null || typeof instance !== 'object') {
    throw argTypeError('instance', 'of type object', instance)
  }
  const exports = instance.exports
  if (exports === null || typeof exports !== 'object') {
    throw argTypeError('instance.exports', 'of type object', exports)
  }
  if ((memory || exports.memory !== undefined) && !(exports.memory instanceof WebAssembly.Memory)) {
    throw argTypeError('instance.exports.memory', 'an instance of WebAssembly.Memory', exports.memory)
  }
  return exports
}

// What a module without a memory export sees: every pointer is out of range
// (EFAULT), and syscalls that take none (proc_exit, sched_yield) work.
const NO_MEMORY = Object.freeze({ buffer: new ArrayBuffer(0) })

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

/**
 * compile() with options already checked: `{ engine, cacheDir, cacheMaxBytes }`.
 * With `engine: 'auto'` the module may come from the fast tier while
 * optimized code is made in the background (lib/tiering.js).
 */
function compileBytes(bytes, options) {
  const { engine, cacheDir, cacheMaxBytes } = options
  const module = callNative(() => CompiledModule.compile(bytes, engine, cacheDir, cacheMaxBytes))
  if (module.optimizeLater) optimizeInBackground(bytes, options)
  return module
}

/** compileBytes() off the main thread. */
async function compileBytesAsync(bytes, options) {
  const { engine, cacheDir, cacheMaxBytes } = options
  let module
  try {
    module = await CompiledModule.compileAsync(bytes, engine, cacheDir, cacheMaxBytes)
  } catch (err) {
    throw fromNative(err)
  }
  if (module.optimizeLater) optimizeInBackground(bytes, options)
  return module
}

/** The guest's linear memory, as `wasi.memory` (see WASI#memory). */
class WasiMemory {
  #buffer
  constructor(buffer) {
    this.#buffer = buffer
  }

  /** The guest's memory, in place (a new ArrayBuffer after it grows). */
  get buffer() {
    return this.#buffer()
  }

  get byteLength() {
    return this.#buffer().byteLength
  }
}

class WASI {
  #handle
  #compileOptions
  #returnOnExit
  #wasiImportAbi
  #memory
  #started = false
  #imports
  #hostImports
  #maxMemory
  #host = null
  #tier = null
  #nativeMemory = null
  #guestMemory
  // In-memory preopens (lib/memory-tree.js): removed when the run ends.
  #temporaryDirs

  /** @param {import('./index').WASIOptions} [options] */
  constructor(options) {
    const { returnOnExit, compile, imports, maxMemory, native, temporaryDirs, version } = normalizeOptions(options)
    this.#returnOnExit = returnOnExit
    this.#compileOptions = compile
    this.#hostImports = imports
    this.#maxMemory = maxMemory
    // getImportObject() always serves both WASI names (a module built
    // against either links, as with no version); `version` picks wasiImport.
    this.#wasiImportAbi = version
    this.#temporaryDirs = temporaryDirs
    try {
      this.#handle = callNative(() => new WasiHandle(native))
    } catch (err) {
      this.#removeTemporaryDirs()
      throw err
    }
    this.#guestMemory = new WasiMemory(() => this.#memoryBuffer())
  }

  /** Removes the in-memory preopens' directories (a run is over). */
  #removeTemporaryDirs() {
    this.#temporaryDirs.forEach(removeTreeDir)
    this.#temporaryDirs = []
  }

  /**
   * The guest's linear memory: inside a host function (native and V8
   * modes), on a reactor from initialize(), and in V8 mode once started.
   */
  get memory() {
    return this.#guestMemory
  }

  /**
   * Which code ran (or runs) this object's module: 'v8' (an instance given
   * to start()/initialize(), or `engine: 'auto'`'s first tier for bytes),
   * 'cranelift' or 'singlepass'; null before a start.
   */
  get tier() {
    return this.#tier
  }

  #memoryBuffer() {
    const inHostCall = callNative(() => this.#handle.memoryBuffer())
    if (inHostCall != null) return inHostCall
    if (this.#nativeMemory) return this.#nativeMemory.buffer
    if (this.#memory) return this.#memory.buffer
    throw wasiError('ERR_WASI_NO_MEMORY', "The guest's memory is reachable inside a host function, on an instance from initialize(), or in V8 mode once started")
  }

  /**
   * What the addon needs for a native run of `module`: the host functions'
   * dispatcher (kept for #hostError) with `extra` imports over the
   * constructor's, and the memory cap.
   */
  #nativeOptions(module, extra, maxMemory) {
    const host = callNative(() => hostDispatcher(module, mergeImports(this.#hostImports, extra)))
    this.#host = host
    return { dispatch: host?.dispatch, provided: host?.provided, maxMemory: maxMemory ?? this.#maxMemory }
  }

  #hostError() {
    return hostError(this.#host)
  }

  /** Imports of both WASI names, made once. */
  #importsByAbi() {
    if (!this.#imports) {
      const buffer = () => this.#memory?.buffer
      this.#imports = {}
      for (const abi of Object.keys(NAMESPACES)) this.#imports[abi] = createImports(this.#handle, abi, buffer)
    }
    return this.#imports
  }

  /** The syscalls, as node:wasi's `wasiImport`: those of `version` ('preview1' unless 'unstable'). */
  get wasiImport() {
    return this.#importsByAbi()[this.#wasiImportAbi]
  }

  /**
   * `{ wasi_snapshot_preview1, wasi_unstable }` whatever `version`, plus the
   * `imports` option's host functions: pass to WebAssembly.instantiate().
   */
  getImportObject() {
    const object = { ...this.#hostImports }
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
   *   run natively in wasmer (bytes with `engine: 'auto'`: maybe in V8 first,
   *   with wasmer's behaviour; #startBytes);
   * - a `WebAssembly.Instance` (or `Module`): run by V8, with this object's syscalls.
   */
  start(source, imports) {
    imports = checkImports('imports', imports)
    if (source instanceof CompiledModule) return this.#startNative(source, imports)
    const bytes = wasmBytes(source)
    if (bytes !== null) return this.#startBytes(bytes, imports)
    const fromModule = source instanceof WebAssembly.Module
    if (fromModule) {
      source = new WebAssembly.Instance(source, mergeImports(this.getImportObject(), imports))
    } else if (imports !== undefined) {
      throw argTypeError('imports', 'undefined when starting an instance (it is linked already)', imports)
    }
    const exports = checkInstance(source, { memory: !fromModule })
    if (typeof exports._start !== 'function') {
      throw argTypeError('instance.exports._start', 'of type function', exports._start)
    }
    if (exports._initialize !== undefined) {
      throw argTypeError('instance.exports._initialize', 'undefined', exports._initialize)
    }
    this.#markStarted()
    this.#tier = 'v8'
    this.#memory = exports.memory ?? NO_MEMORY
    try {
      exports._start()
    } catch (err) {
      if (err instanceof WasiExit) return this.#finish(err.code, true)
      throw fromNative(err)
    } finally {
      // A command is done: close its descriptors now, not at GC. The
      // imports keep answering (args, env, clocks, random; EBADF on a
      // descriptor), as node:wasi's do after start().
      callNative(() => this.#handle.release())
      this.#removeTemporaryDirs()
    }
    return this.#finish(0, false)
  }

  /**
   * `engine: 'auto'` for bytes: V8 at once unless optimized code exists or
   * V8 cannot honour everything: `maxMemory` (V8 cannot cap a memory it
   * makes), a worker thread (worker.terminate() cannot stop V8 blocked in
   * a syscall; the native guest runs on a thread of its own). See
   * lib/tiering.js, lib/v8-tier.js.
   */
  #startBytes(bytes, imports) {
    const v8Possible = this.#compileOptions.engine === 'auto' && this.#maxMemory === undefined && isMainThread
    const choice = v8Possible && !this.#started ? chooseTier(CompiledModule.probe, bytes, this.#compileOptions) : { tier: 'native' }
    return choice.tier === 'v8' ? this[START_IN_V8](bytes, imports, choice.hash) : this.#startNative(bytes, imports)
  }

  /**
   * Runs `bytes` (whose BLAKE3 `hash` chooseTier gave) on the V8 tier; when
   * V8 gives up before `_start` (nothing ran), on the native path, which
   * reports the error. Also x-wasi's entry: it chooses the tier on its
   * main thread and runs V8 where the stack is big enough (that thread, or
   * a worker), which nothing terminates. `validation` is wasmer's
   * validation of `bytes` under way (`{ wait() }`), else it starts here.
   */
  [START_IN_V8](bytes, imports, hash, validation = CompiledModule.validateInBackground(bytes)) {
    const sighted = () => sightedInV8(CompiledModule.markSeen, hash, bytes, this.#compileOptions)
    const prepared = v8Tier.prepare(bytes, this.#handle, validation, sighted)
    if (prepared === null) return this.#startNative(bytes, imports)
    this.#markStarted()
    this.#tier = 'v8'
    let outcome
    try {
      outcome = prepared.run()
    } finally {
      // As after a native start: descriptors closed, trees removed.
      if (outcome !== null) {
        callNative(() => this.#handle.release())
        this.#removeTemporaryDirs()
      }
    }
    if (outcome === null) {
      // wasmer refuses the module: the native path says so, as natively.
      this.#started = false
      this.#tier = null
      return this.#startNative(bytes, imports)
    }
    return this.#finish(outcome.exitCode, outcome.calledExit)
  }

  #startNative(source, imports) {
    const own = !(source instanceof CompiledModule)
    const module = own ? compileBytes(source, this.#compileOptions) : source
    let outcome
    try {
      // In a worker, the guest gets a thread of its own so that
      // worker.terminate() can stop it (src/worker_start.rs).
      const options = { ...this.#nativeOptions(module, imports), ownThread: !isMainThread }
      this.#markStarted()
      this.#tier = module.engine
      outcome = callNative(() => this.#handle.startNative(module, options))
    } finally {
      // A module compiled for this call: its code goes soon, not at GC.
      if (own) keepRecent(module)
      this.#removeTemporaryDirs()
    }
    if (outcome.hostThrew) throw this.#hostError()
    return this.#finish(outcome.exitCode, outcome.calledExit)
  }

  /**
   * Runs a WASI command natively on a thread of its own; resolves
   * `{ exitCode, stdout?, stderr? }` (Buffers for streams set to 'pipe').
   * @param {Uint8Array | ArrayBuffer | CompiledModule} source
   * @param {import('./index').RunOptions} [options]
   */
  async run(source, options) {
    const bytes = source instanceof CompiledModule ? null : wasmBytes(source)
    if (!(source instanceof CompiledModule) && bytes === null) {
      throw argTypeError('source', 'a Buffer, Uint8Array or ArrayBuffer of a .wasm file, or a CompiledModule (run() runs natively; use start() for an instance)', source)
    }
    const runOptions = normalizeRunOptions(options)
    if (runOptions.signal?.aborted) throw abortError(runOptions.signal)
    this.#markStarted()
    let module = null
    try {
      module = bytes === null ? source : await compileBytesAsync(bytes, this.#compileOptions)
      if (runOptions.signal?.aborted) throw abortError(runOptions.signal)
      const native = this.#nativeOptions(module, runOptions.imports, runOptions.maxMemory)
      this.#tier = module.engine
      return await startRun(this.#handle, module, runOptions, native, () => this.#hostError())
    } finally {
      // A module compiled for this call: its code goes soon, not at GC.
      if (bytes !== null && module) keepRecent(module)
      // The run's thread has dropped the WASI state by the time startRun
      // settles; without a run (a compile error) drop it here.
      callNative(() => this.#handle.release())
      this.#removeTemporaryDirs()
    }
  }

  /**
   * Initializes a WASI reactor: calls `_initialize` if exported, never
   * `_start`. Given an instance, V8 runs it (as node:wasi); given bytes or a
   * CompiledModule, wasmer runs it and `{ exports }` is returned.
   */
  initialize(instance, imports) {
    if (instance instanceof CompiledModule || wasmBytes(instance) !== null) return this.#initializeNative(instance, imports)
    const exports = checkInstance(instance)
    if (exports._start !== undefined) {
      throw argTypeError('instance.exports._start', 'undefined', exports._start)
    }
    if (exports._initialize !== undefined && typeof exports._initialize !== 'function') {
      throw argTypeError('instance.exports._initialize', 'of type function', exports._initialize)
    }
    this.#markStarted()
    this.#tier = 'v8'
    this.#memory = exports.memory
    try {
      if (exports._initialize) exports._initialize()
    } catch (err) {
      if (err instanceof WasiExit) return void this.#finish(err.code, true)
      throw fromNative(err)
    }
  }

  #initializeNative(source, imports) {
    imports = checkImports('imports', imports)
    const own = !(source instanceof CompiledModule)
    const module = own ? compileBytes(source, this.#compileOptions) : source
    let native
    try {
      const options = this.#nativeOptions(module, imports)
      this.#markStarted()
      this.#tier = module.engine
      native = callNative(() => this.#handle.initializeNative(module, options))
    } finally {
      // The instance's store holds the code from here on.
      if (own) keepRecent(module)
    }
    const instance = wrapInstance(native, this.#host, () => this.#hostError())
    const { exports } = instance
    if (exports._start !== undefined) {
      throw argTypeError('instance.exports._start', 'undefined', exports._start)
    }
    if (exports.memory) this.#nativeMemory = exports.memory
    if (typeof exports._initialize === 'function') {
      try {
        exports._initialize()
      } catch (err) {
        if (err.code === 'ERR_WASI_EXIT' && !this.#returnOnExit) process.exit(err.exitCode)
        throw err
      }
    }
    return instance
  }
}

module.exports = { WASI, compile, CompiledModule }
