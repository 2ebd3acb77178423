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
    interface Memory {}
    interface Global {}
    interface Table {}
  }
}

/** The bytes of a `.wasm` file. */
export type WasmSource = Uint8Array | ArrayBuffer | ArrayBufferView

/** A WASI syscall as a wasm import: i32 arguments are numbers, i64 arguments BigInts; returns an errno. */
export type WasiSyscall = (...args: Array<number | bigint>) => number | undefined

/** The functions of one WASI import namespace, by syscall name. */
export type WasiImportNamespace = Record<string, WasiSyscall>

/**
 * A host function a module imports: called synchronously from wasm with its
 * i32, f32 and f64 arguments as numbers and its i64 arguments as BigInts.
 * What it returns is converted as V8 converts an import's results (i32:
 * ToInt32, f32/f64: ToNumber (a BigInt is a TypeError), i64: ToBigInt (a
 * Number is a TypeError); several results: an array). What it throws ends the run, and `start()`/`run()` throw that very
 * error.
 */
export type HostFunction = (...args: any[]) => unknown

/**
 * Host imports for a module's non-WASI imports, by module and name:
 * `{ env: { hostLogUint32(v) { ... } } }`. Natively only functions can be
 * imported; in V8 mode (`getImportObject()`) also memories, globals and tables.
 */
export type HostImports = Readonly<Record<string, Readonly<Record<string, HostFunction | WebAssembly.Memory | WebAssembly.Global | WebAssembly.Table>>>>

/** A preopen backed by a host directory, optionally read-only. */
export interface HostMount {
  /** The host directory (resolved against the current directory). */
  path: string
  /**
   * When `true`, every write through this preopen (creating, writing,
   * truncating, renaming, removing, linking, setting times) fails with
   * `EROFS`, and nothing on the host changes. Default: `false`.
   */
  readonly?: boolean
}

/**
 * A preopen whose files exist only for the run: relative paths to contents,
 * `{ 'a.txt': 'hello', 'dir/b.bin': buffer }`. The guest may read and write
 * it; nothing reaches any directory of yours, and it is gone after the run.
 */
export type MemoryTree = Readonly<Record<string, string | Uint8Array>>

/**
 * The guest's linear memory, reachable from host functions as
 * `wasi.memory.buffer`. A host function gets a fresh `buffer` after the
 * guest grows its memory; `wasi.memory` itself stays valid.
 */
export interface WasiMemory {
  /**
   * The memory, in place (writes reach the guest). Natively, a buffer taken
   * inside a host function is detached (`byteLength` 0) once that call
   * returns: the guest's memory may move or be freed afterwards. One moved
   * out during the call (`transfer()`) reads zeros afterwards and its
   * writes no longer reach the guest.
   * @throws `ERR_WASI_NO_MEMORY` outside a host function, before start (V8
   * mode) and without an instance from `initialize()`.
   */
  readonly buffer: ArrayBuffer
  readonly byteLength: number
}

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
   * A value can also be `{ path, readonly: true }` (a read-only mount) or
   * an in-memory tree of files (`{ 'a.txt': 'hello', 'dir/b.bin': buffer }`).
   * Default: `{}` (no filesystem at all).
   */
  preopens?: Readonly<Record<string, string | HostMount | MemoryTree>>
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
   * compile, faster code), `'singlepass'` (compiles in linear time, slower
   * code) or `'auto'`: Cranelift's code from the disk cache when there,
   * else a fast tier now — for `start(bytes)`, V8 with wasmer's observable
   * behaviour unless `maxMemory`, a worker thread, imported host functions
   * or a start function need native code; else Singlepass — and, for a
   * module the cache has seen before, Cranelift into the cache in a
   * background process. `wasi.tier` says which ran. Ignored by instances
   * and `WebAssembly.Module`s given to `start()` (V8 runs them). Default:
   * `'auto'`.
   */
  engine?: 'auto' | 'cranelift' | 'singlepass'
  /**
   * Which WASI name `wasiImport` holds (node:wasi requires this option).
   * Default: `'preview1'`. `getImportObject()` and native runs always
   * provide both `wasi_snapshot_preview1` and `wasi_unstable`, each with its
   * own ABI, so modules built against either (or both) link.
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
  /**
   * How many bytes of compiled modules the on-disk cache may hold: after
   * storing one, the least recently used entries are removed until the rest
   * fit (the entry just stored is kept even when larger). Default:
   * `$X_WASI_CACHE_MAX_BYTES` (bytes, or with a unit: `512M`, `2G`), else
   * 1 GiB.
   */
  cacheMaxBytes?: number
  /**
   * JS host functions for the module's non-WASI imports, natively and in V8
   * mode (merged into `getImportObject()`). `start()`, `run()` and
   * `initialize()` can add more. See {@link HostFunction}.
   */
  imports?: HostImports
  /**
   * The most bytes the guest's memory may grow to: `memory.grow` beyond it
   * returns -1 (Go then fails with "out of memory"). Native runs only: in V8
   * mode V8 owns the memory. Default: no cap but wasm's own (4 GiB).
   */
  maxMemory?: number
}

/** Where `run()` takes the guest's stdin from. */
export type RunStdin = 'inherit' | string | Uint8Array | number

/**
 * Where `run()` sends the guest's stdout or stderr: `'inherit'` (the `WASI`
 * object's descriptor), `'pipe'` (collected into the result), a host file
 * descriptor, or a callback that gets every chunk, in order, before the
 * promise settles.
 */
export type RunOutput = 'inherit' | 'pipe' | number | ((chunk: Buffer) => void)

export interface RunOptions {
  /**
   * `'inherit'` (default: the `WASI` object's `stdin`), a string (UTF-8) or
   * bytes the guest reads then sees end-of-file, or a host file descriptor.
   */
  stdin?: RunStdin
  /** Default: `'inherit'`. A callback that throws ends the run; `run()` rejects with its error. */
  stdout?: RunOutput
  /** Default: `'inherit'`. */
  stderr?: RunOutput
  /**
   * Milliseconds after which the run is stopped, whether the guest is
   * computing, sleeping or waiting for input; `run()` then rejects with
   * `code: 'ERR_WASI_TIMEOUT'`.
   */
  timeout?: number
  /** Stops the run when aborted; `run()` then rejects with an `AbortError` (`code: 'ABORT_ERR'`). */
  signal?: AbortSignal
  /** More host functions, over the constructor's. */
  imports?: HostImports
  /** Overrides the constructor's `maxMemory`. */
  maxMemory?: number
}

/** How a `run()` ended. */
export interface RunResult {
  /** 0 when `_start` returned, else the code passed to `proc_exit`. */
  exitCode: number
  /** Everything the guest wrote to stdout, when `stdout: 'pipe'`. */
  stdout?: Buffer
  /** Everything the guest wrote to stderr, when `stderr: 'pipe'`. */
  stderr?: Buffer
}

/** An exported memory of a reactor from `initialize()`, like a `WebAssembly.Memory`. */
export interface NativeMemory {
  /**
   * The memory, in place. The same buffer until the memory grows (the old
   * one is then detached, as in V8) or JS moves it out with `transfer()`
   * (a fresh one then, and the moved one reads zeros).
   */
  readonly buffer: ArrayBuffer
  /**
   * Grows the memory by `delta` pages of 64 KiB; returns its previous size in pages.
   * As V8: a `TypeError` unless `delta` is a finite number in 0..2^32-1 (never
   * wrapped), a `RangeError` when the memory cannot grow that far.
   */
  grow(delta: number): number
}

/** An exported global of a reactor from `initialize()`, like a `WebAssembly.Global`. */
export interface NativeGlobal {
  /**
   * i32/f32/f64 as numbers, i64 as a BigInt; set values convert as V8 converts
   * them (a BigInt for an i32/f32/f64 global, a Number for an i64 one: a
   * `TypeError`). Setting an immutable global throws a `TypeError`.
   */
  value: number | bigint
  valueOf(): number | bigint
}

/** The exports of a reactor from `initialize()`: functions, memories and globals by name. */
export type NativeExports = Readonly<Record<string, ((...args: any[]) => any) | NativeMemory | NativeGlobal>>

/**
 * A reactor instantiated natively by `initialize()`. Its exported functions
 * run synchronously on the calling thread: arguments and results convert as
 * in V8; a trap throws `WebAssembly.RuntimeError`; `proc_exit` inside one
 * throws an Error with `code: 'ERR_WASI_EXIT'` and `exitCode`.
 */
export interface NativeInstance {
  readonly exports: NativeExports
}

/** The options of `compile()`: how the native path compiles and caches a module. */
export type CompileOptions = Pick<WASIOptions, 'engine' | 'cache' | 'cacheDir' | 'cacheMaxBytes'>

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
  /**
   * `engine: 'auto'` ran Singlepass for a module its disk cache had seen
   * before: Cranelift is compiling it into the cache in the background.
   */
  readonly optimizeLater: boolean
  /**
   * Frees the compiled code now instead of when the garbage collector
   * collects this object (runs and instances already using it keep it until
   * they end). Using the module afterwards throws.
   */
  release(): void
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
   * node:wasi's `wasiImport`: every syscall of the WASI name `version`
   * chooses (`wasi_snapshot_preview1` unless `version: 'unstable'`).
   * Its functions keep answering after `start()` returns, as node:wasi's do
   * (the guest's descriptors are closed by then: EBADF).
   */
  readonly wasiImport: WasiImportNamespace

  /**
   * `{ wasi_snapshot_preview1, wasi_unstable }` whatever `version` says,
   * each with its own ABI.
   */
  getImportObject(): WasiImportObject

  /**
   * Runs a WASI command's `_start` and returns its exit code: 0 when
   * `_start` returns, the code passed to `proc_exit` otherwise.
   *
   * - Bytes: compiled (cached in-process) and run natively in wasmer, on this
   *   thread, on a wasm stack of its own; with `engine: 'auto'` and no
   *   Cranelift code yet, run in V8 at once with wasmer's observable
   *   behaviour (`tier` says which ran).
   * - A `CompiledModule` from `compile()`: run natively, without compiling.
   * - A `WebAssembly.Instance` created with `getImportObject()` (or
   *   `{ wasi_snapshot_preview1: wasi.wasiImport }`), or a `WebAssembly.Module`:
   *   run by V8, exactly as node:wasi does. An instance must export its
   *   memory; a `Module` without a memory export runs too.
   *
   * @throws `ERR_WASI_ALREADY_STARTED` when this object already ran a module.
   */
  start(source: WasmSource | CompiledModule | WebAssembly.Instance | WebAssembly.Module, imports?: HostImports): number

  /**
   * Runs a WASI command's `_start` natively on a thread of its own, so the
   * event loop keeps running; several runs (of different `WASI` objects)
   * proceed in parallel. Resolves when `_start` returns or the guest calls
   * `proc_exit` (never exits Node, whatever `returnOnExit` says).
   *
   * @example
   * ```js
   * const { exitCode, stdout } = await new WASI().run(bytes, { stdin: 'hi', stdout: 'pipe', timeout: 5000 })
   * ```
   * Rejects with what `start()` throws, with `ERR_WASI_TIMEOUT` / an
   * `AbortError` when stopped, or with what a host function or an output
   * callback threw. However it ends, its descriptors and thread are released.
   */
  run(source: WasmSource | CompiledModule, options?: RunOptions): Promise<RunResult>

  /**
   * Initializes a WASI reactor that V8 runs: calls its `_initialize` export
   * if present, never `_start`.
   * @throws `ERR_WASI_ALREADY_STARTED` when this object already ran a module.
   */
  initialize(instance: WebAssembly.Instance): void
  /**
   * Instantiates a WASI reactor natively (Go `-buildmode=c-shared` with
   * `//go:wasmexport`, C with `-mexec-model=reactor`), calls its
   * `_initialize` if exported, and returns it: `exports.add(40, 2)`.
   * @throws `TypeError` when the module exports `_start` (a command).
   */
  initialize(source: WasmSource | CompiledModule, imports?: HostImports): NativeInstance

  /** The guest's linear memory, for host functions. */
  readonly memory: WasiMemory

  /**
   * Which code ran this object's module, once started: `'v8'` (an instance
   * or `WebAssembly.Module` given to `start()`/`initialize()`, or the first
   * tier of `engine: 'auto'` for bytes), `'cranelift'` or `'singlepass'`;
   * `null` before.
   */
  readonly tier: 'v8' | 'cranelift' | 'singlepass' | null
}
