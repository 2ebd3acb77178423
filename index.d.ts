/**
 * `@x/wasi`: run WebAssembly System Interface (WASI preview1) modules from
 * Node.js natively on the wasmer engine, or serve node:wasi's API to modules
 * that V8 runs. Both modes share one WASI core per `WASI` object, so a
 * module behaves the same in either.
 *
 * @example Native (wasmer compiles and runs the module):
 * ```js
 * const { WASI } = require('@x/wasi')
 * const wasi = new WASI({ args: ['prog', 'x'], env: { FOO: 'bar' }, preopens: { '/sandbox': './data' } })
 * const exitCode = wasi.start(fs.readFileSync('main.wasm'))
 * ```
 *
 * @example Drop-in for node:wasi (V8 runs the module):
 * ```js
 * const { instance } = await WebAssembly.instantiate(bytes, wasi.getImportObject())
 * const exitCode = wasi.start(instance)
 * ```
 */

declare global {
  // The DOM lib declares WebAssembly; @types/node does not. These empty
  // interfaces merge with the DOM lib's declarations where it is loaded, and
  // elsewhere (a Node-only project: `lib: ["es2022"]`, `types: ["node"]`)
  // keep the names used below resolvable.
  namespace WebAssembly {
    interface Instance {}
    interface Module {}
  }
}

/** The bytes of a `.wasm` file. */
export type WasmSource = Uint8Array | ArrayBuffer | ArrayBufferView

/** A WASI syscall as a wasm import: i32 arguments are numbers, i64 arguments BigInts; returns an errno. */
export type WasiSyscall = (...args: Array<number | bigint>) => number | undefined

/** The functions of one WASI import namespace, by syscall name. */
export type WasiImportNamespace = Record<string, WasiSyscall>

export interface WASIOptions {
  /**
   * The guest's argv, `args[0]` being the program name. Each entry is
   * converted to a string, as node:wasi does. Default: `[]`.
   */
  args?: ReadonlyArray<string>
  /**
   * The guest's environment. Nothing of `process.env` is passed unless you
   * pass it (`env: process.env`). Entries whose value is `undefined` are
   * left out. Default: `{}`.
   */
  env?: Readonly<Record<string, string | undefined>>
  /**
   * Guest directories backed by host directories: `{ '/sandbox': './data' }`
   * lets the guest see `./data` (resolved against the current directory) as
   * `/sandbox`, and nothing outside it: `..` and symlinks cannot leave it.
   * Default: `{}` (no filesystem at all).
   */
  preopens?: Readonly<Record<string, string>>
  /**
   * When the guest calls `proc_exit(code)`: `true` makes `start()` return
   * `code`; `false` exits the Node process with `code`, as node:wasi does.
   * Default: `true`.
   */
  returnOnExit?: boolean
  /** Host file descriptor the guest reads as its fd 0. Default: `0`. */
  stdin?: number
  /**
   * Host file descriptor the guest's fd 1 writes to. Writes are unbuffered,
   * so they interleave in order with Node's own output. Default: `1`.
   */
  stdout?: number
  /** Host file descriptor the guest's fd 2 writes to. Default: `2`. */
  stderr?: number
  /**
   * The compiler for the native path: `'cranelift'` (optimising; slower to
   * compile, faster code) or `'singlepass'` (compiles in linear time, slower
   * code). Ignored by modules that V8 runs. Default: `'cranelift'`.
   */
  engine?: 'cranelift' | 'singlepass'
  /**
   * Narrows the WASI import names provided. By default both
   * `wasi_snapshot_preview1` and `wasi_unstable` are provided at once, each
   * with its own ABI, so modules built against either (or both) link.
   */
  version?: 'preview1' | 'unstable'
  /**
   * Whether modules compiled for the native path are also stored in, and
   * loaded from, the on-disk cache, so other processes skip compiling them.
   * Default: `true`.
   */
  cache?: boolean
  /**
   * Directory of the on-disk cache. Default: `$X_WASI_CACHE_DIR`, else
   * `x-wasi` in `$XDG_CACHE_HOME` (or `~/.cache`).
   */
  cacheDir?: string
}

/** The options of `compile()`: how the native path compiles and caches a module. */
export type CompileOptions = Pick<WASIOptions, 'engine' | 'cache' | 'cacheDir'>

/**
 * A module compiled for the native path by `compile()`: pass it to
 * `wasi.start()` of any number of `WASI` objects to run it without compiling
 * it again.
 */
export declare class CompiledModule {
  private constructor()
  /**
   * Where the compiled code came from: `'memory'` (compiled earlier in this
   * process), `'disk'` (the on-disk cache) or `'compiled'` (by this call).
   */
  readonly origin: 'memory' | 'disk' | 'compiled'
  /** The compiler it was compiled with. */
  readonly engine: 'cranelift' | 'singlepass'
}

/**
 * Compiles a module for the native path, once: the same bytes compile again
 * for free in this process, and the on-disk cache (unless `cache: false`)
 * serves other processes.
 * @throws `WebAssembly.CompileError` when the bytes are not a valid module.
 */
export declare function compile(source: WasmSource, options?: CompileOptions): CompiledModule

/**
 * The object `getImportObject()` returns: pass it to `WebAssembly.instantiate`.
 * (A type alias, not an interface: only an alias is assignable to the DOM
 * lib's `WebAssembly.Imports`, a `Record<string, ...>`.)
 */
export type WasiImportObject = {
  wasi_snapshot_preview1?: WasiImportNamespace
  wasi_unstable?: WasiImportNamespace
}

/**
 * A WASI instance: the arguments, environment, preopened directories and
 * stdio of one run of one module.
 *
 * Errors: bad options throw `TypeError`s naming the option (with node:wasi's
 * `code`s); bytes that are not wasm throw `WebAssembly.CompileError`; missing
 * imports throw `WebAssembly.LinkError` naming every missing `module::name`;
 * a trap throws `WebAssembly.RuntimeError` naming the trap and the wasm
 * stack. None of them takes the Node process down.
 */
export declare class WASI {
  constructor(options?: WASIOptions)

  /**
   * node:wasi's `wasiImport`: every syscall of the first WASI name this
   * object provides (`wasi_snapshot_preview1` unless `version: 'unstable'`).
   */
  readonly wasiImport: WasiImportNamespace

  /**
   * `{ wasi_snapshot_preview1, wasi_unstable }` (or only the one `version`
   * asks for), each with its own ABI.
   */
  getImportObject(): WasiImportObject

  /**
   * Runs a WASI command's `_start` and returns its exit code: 0 when
   * `_start` returns, the code passed to `proc_exit` otherwise.
   *
   * - Bytes: compiled (cached in-process) and run natively in wasmer, on this
   *   thread, on a wasm stack of its own.
   * - A `CompiledModule` from `compile()`: run natively, without compiling.
   * - A `WebAssembly.Instance` created with `getImportObject()` (or
   *   `{ wasi_snapshot_preview1: wasi.wasiImport }`), or a `WebAssembly.Module`:
   *   run by V8, exactly as node:wasi does.
   *
   * @throws `ERR_WASI_ALREADY_STARTED` when this object already ran a module.
   */
  start(source: WasmSource | CompiledModule | WebAssembly.Instance | WebAssembly.Module): number

  /**
   * Initializes a WASI reactor that V8 runs: calls its `_initialize` export
   * if present, never `_start`.
   * @throws `ERR_WASI_ALREADY_STARTED` when this object already ran a module.
   */
  initialize(instance: WebAssembly.Instance): void
}
