'use strict'
// Checks the options of `new WASI(options)` the way node:wasi does, and puts
// them in the shape the addon takes (src/options.rs).

const path = require('node:path')
const { argTypeError, argValueError } = require('./errors')
const { checkImports } = require('./host-imports')
const { materializeTree, removeTreeDir } = require('./memory-tree')
const { defaultCacheDir, defaultMaxBytes } = require('./disk-cache')

const ENGINES = ['auto', 'cranelift', 'singlepass']
const VERSIONS = ['preview1', 'unstable']

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function checkArgs(args) {
  if (args === undefined) return []
  if (!Array.isArray(args)) throw argTypeError('options.args', 'an instance of Array', args)
  // node:wasi turns each argument into a string; so do we.
  return args.map((arg) => String(arg))
}

function checkEnv(env) {
  if (env === undefined) return []
  if (!isPlainObject(env)) throw argTypeError('options.env', 'of type object', env)
  const vars = []
  for (const name of Object.keys(env)) {
    if (env[name] === undefined) continue
    if (name.includes('=')) throw argValueError(`options.env['${name}']`, "a name without '='", name)
    vars.push({ name, value: String(env[name]) })
  }
  return vars
}

/** Whether `value` is an object literal (not an array, Buffer, class instance...). */
function isObjectLiteral(value) {
  if (value === null || typeof value !== 'object') return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

const MOUNT_KEYS = ['path', 'readonly']

/**
 * Whether an object preopen is `{ path, readonly }` rather than a tree:
 * it has `path`, or a boolean `readonly` (so `{ readonly: true }` is told its
 * path is missing, while a tree may still hold a file named 'readonly').
 */
function isMount(value) {
  return Object.hasOwn(value, 'path') || typeof value.readonly === 'boolean'
}

/** `{ path, readonly? }`: a host directory, maybe read-only. */
function checkMount(name, mount) {
  for (const key of Object.keys(mount)) {
    if (!MOUNT_KEYS.includes(key)) throw argValueError(`${name}.${key}`, "absent (known keys: 'path', 'readonly')", mount[key])
  }
  if (typeof mount.path !== 'string' || mount.path === '') throw argTypeError(`${name}.path`, 'a non-empty string', mount.path)
  if (mount.readonly !== undefined && typeof mount.readonly !== 'boolean') {
    throw argTypeError(`${name}.readonly`, 'of type boolean', mount.readonly)
  }
  return { host: path.resolve(mount.path), readonly: mount.readonly ?? false }
}

/**
 * Each preopen is a host directory (a string, or `{ path, readonly }`) or an
 * in-memory tree of files (an object without `path`), written to a
 * temporary directory here. Returns `{ preopens, temporaryDirs }`: the
 * caller removes those directories once the run is over.
 */
function checkPreopens(preopens) {
  if (preopens === undefined) return { preopens: [], temporaryDirs: [] }
  if (!isPlainObject(preopens)) throw argTypeError('options.preopens', 'of type object', preopens)
  const checked = []
  const temporaryDirs = []
  try {
    for (const guest of Object.keys(preopens)) {
      const value = preopens[guest]
      const name = `options.preopens['${guest}']`
      if (typeof value === 'string') {
        checked.push({ guest, host: path.resolve(value), readonly: false })
      } else if (!isObjectLiteral(value)) {
        throw argTypeError(name, 'a string, { path, readonly } or an object of files', value)
      } else if (isMount(value)) {
        checked.push({ guest, ...checkMount(name, value) })
      } else {
        const host = materializeTree(value, name)
        temporaryDirs.push(host)
        checked.push({ guest, host, readonly: false })
      }
    }
  } catch (err) {
    temporaryDirs.forEach(removeTreeDir)
    throw err
  }
  return { preopens: checked, temporaryDirs }
}

function checkFd(name, value, fallback) {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) {
    throw argTypeError(`options.${name}`, 'a file descriptor (an integer >= 0)', value)
  }
  return value
}

function checkBoolean(name, value, fallback) {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw argTypeError(`options.${name}`, 'of type boolean', value)
  return value
}

function checkChoice(name, value, choices, fallback) {
  if (value === undefined) return fallback
  if (typeof value !== 'string') throw argTypeError(`options.${name}`, 'of type string', value)
  if (!choices.includes(value)) throw argValueError(`options.${name}`, `one of ${choices.map((c) => `'${c}'`).join(', ')}`, value)
  return value
}

/**
 * Checks the compile options shared by `compile()` and `new WASI()`:
 * returns `{ engine, cacheDir, cacheMaxBytes }`, `cacheDir` undefined when
 * caching is off.
 */
function normalizeCompileOptions(options) {
  const engine = checkChoice('engine', options.engine, ENGINES, 'auto')
  const cache = checkBoolean('cache', options.cache, true)
  let cacheDir
  if (options.cacheDir !== undefined) {
    if (typeof options.cacheDir !== 'string' || options.cacheDir === '') {
      throw argTypeError('options.cacheDir', 'a non-empty string', options.cacheDir)
    }
    cacheDir = path.resolve(options.cacheDir)
  }
  let cacheMaxBytes = options.cacheMaxBytes
  if (cacheMaxBytes !== undefined && (!Number.isSafeInteger(cacheMaxBytes) || cacheMaxBytes < 0)) {
    throw argTypeError('options.cacheMaxBytes', 'a non-negative integer (bytes)', cacheMaxBytes)
  }
  if (!cache) return { engine, cacheDir: undefined, cacheMaxBytes: undefined }
  return { engine, cacheDir: cacheDir ?? defaultCacheDir(), cacheMaxBytes: cacheMaxBytes ?? defaultMaxBytes() }
}

function checkMaxMemory(value) {
  if (value === undefined) return undefined
  if (!Number.isSafeInteger(value) || value <= 0) throw argTypeError('options.maxMemory', 'a positive integer (bytes)', value)
  return value
}

/**
 * Checks `new WASI(options)`'s options; returns `{ returnOnExit, compile,
 * imports, maxMemory, native, temporaryDirs, version }`. `temporaryDirs` hold the
 * in-memory preopens: the caller removes them (lib/memory-tree.js
 * removeTreeDir) when done.
 */
function normalizeOptions(options) {
  if (options === undefined) options = {}
  if (!isPlainObject(options)) throw argTypeError('options', 'of type object', options)
  const checked = {
    returnOnExit: checkBoolean('returnOnExit', options.returnOnExit, true),
    compile: normalizeCompileOptions(options),
    imports: checkImports('options.imports', options.imports),
    maxMemory: checkMaxMemory(options.maxMemory),
    native: {
      args: checkArgs(options.args),
      env: checkEnv(options.env),
      stdin: checkFd('stdin', options.stdin, 0),
      stdout: checkFd('stdout', options.stdout, 1),
      stderr: checkFd('stderr', options.stderr, 2),
    },
    // node:wasi's `version` (which it requires) only picks `wasiImport`:
    // every run serves both WASI names, so a wasi_unstable module links
    // under version: 'preview1' too (src/native.rs links both when the
    // addon is given no version).
    version: checkChoice('version', options.version, VERSIONS, 'preview1'),
  }
  // Last: an in-memory tree is written to disk only once all else is valid.
  const { preopens, temporaryDirs } = checkPreopens(options.preopens)
  checked.native.preopens = preopens
  checked.temporaryDirs = temporaryDirs
  return checked
}

module.exports = { normalizeOptions, normalizeCompileOptions, checkMaxMemory, checkFd }
