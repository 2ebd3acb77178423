'use strict'
// The WASI imports for modules that V8 runs (node:wasi's `wasiImport` and
// `getImportObject()`). Each import calls the addon's syscall with the
// instance's current `memory.buffer`, read at every call because it changes
// whenever the guest grows its memory.

const { callNative } = require('./errors')

const NAMESPACES = { preview1: 'wasi_snapshot_preview1', unstable: 'wasi_unstable' }

/** Thrown through wasm frames by `proc_exit`, caught by start(). */
class WasiExit {
  constructor(code) {
    this.code = code
  }
}

// One wrapper per arity, so V8 calls each import with exactly its wasm
// parameters and no rest-argument array is built per call.
function bindSyscall(raw, arity, buffer) {
  switch (arity) {
    case 0: return () => raw(buffer())
    case 1: return (a) => raw(buffer(), a)
    case 2: return (a, b) => raw(buffer(), a, b)
    case 3: return (a, b, c) => raw(buffer(), a, b, c)
    case 4: return (a, b, c, d) => raw(buffer(), a, b, c, d)
    case 5: return (a, b, c, d, e) => raw(buffer(), a, b, c, d, e)
    case 6: return (a, b, c, d, e, f) => raw(buffer(), a, b, c, d, e, f)
    case 7: return (a, b, c, d, e, f, g) => raw(buffer(), a, b, c, d, e, f, g)
    case 8: return (a, b, c, d, e, f, g, h) => raw(buffer(), a, b, c, d, e, f, g, h)
    case 9: return (a, b, c, d, e, f, g, h, i) => raw(buffer(), a, b, c, d, e, f, g, h, i)
    default: throw new Error(`no wrapper for a syscall of ${arity} parameters`)
  }
}

/**
 * What the addon's syscalls take as the guest's memory: `buffer()` itself
 * when it is an ArrayBuffer; for a shared memory, a Uint8Array over its
 * SharedArrayBuffer (N-API reads a SharedArrayBuffer only through a view on
 * every Node line), made again only when the memory grows.
 *
 * `memory.buffer` is a C++ getter (~12 ns, as much as a whole node:wasi
 * `args_sizes_get`), so an ArrayBuffer is kept until it is detached: a
 * `WASI` object's memory is set once (at start), and growing it detaches
 * the old ArrayBuffer (byteLength 0). An empty one is never kept, so a
 * memory of 0 pages is read again each call.
 */
function memoryArgument(buffer) {
  let kept
  let shared = null
  let view = null
  return () => {
    if (kept !== undefined && kept.byteLength !== 0) return kept
    const current = buffer()
    if (current === undefined) return current
    if (current instanceof ArrayBuffer) {
      kept = current
      return current
    }
    if (current !== shared) {
      shared = current
      view = current instanceof SharedArrayBuffer ? new Uint8Array(current) : current
    }
    return view
  }
}

// The syscalls that nothing outside the process can tell were made: they
// only read the process's own state, and making them twice is harmless.
const UNSEEN_OUTSIDE = new Set([
  'args_get',
  'args_sizes_get',
  'environ_get',
  'environ_sizes_get',
  'clock_res_get',
  'clock_time_get',
  'random_get',
  'sched_yield',
  'fd_fdstat_get',
  'fd_filestat_get',
  'fd_prestat_get',
  'fd_prestat_dir_name',
  'path_filestat_get',
])

/**
 * The syscalls of `abi` ('preview1' or 'unstable') as wasm imports.
 * @param handle the addon's WasiHandle
 * @param buffer returns the guest's current memory.buffer (or undefined)
 * @param beforeSeen when given, called before each syscall that can be
 *   seen outside the process (any but UNSEEN_OUTSIDE, and proc_exit): it
 *   may throw to stop the guest first (the V8 tier's wait for wasmer's
 *   validation, lib/v8-tier.js)
 */
function createImports(handle, abi, guestBuffer, beforeSeen) {
  const buffer = memoryArgument(guestBuffer)
  // Folded into the memory argument, which every syscall reads anyway.
  const checkedBuffer = beforeSeen && (() => (beforeSeen(), buffer()))
  const raw = callNative(() => handle.syscallFunctions(abi))
  const arities = callNative(() => handle.syscallArities(abi))
  const imports = {}
  for (const name of Object.keys(raw).sort()) {
    const memory = checkedBuffer && !UNSEEN_OUTSIDE.has(name) ? checkedBuffer : buffer
    imports[name] = bindSyscall(raw[name], arities[name], memory)
  }
  // Every u32 is an exit code, as on the native path (src/wasi/syscalls.rs).
  imports.proc_exit = (code) => {
    beforeSeen?.()
    throw new WasiExit(code >>> 0)
  }
  return imports
}

module.exports = { NAMESPACES, UNSEEN_OUTSIDE, WasiExit, createImports }
