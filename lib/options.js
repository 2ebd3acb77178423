'use strict'
// Checks the options of `new WASI(options)` the way node:wasi does, and puts
// them in the shape the addon takes (src/options.rs).

const os = require('node:os')
const path = require('node:path')
const { argTypeError, argValueError } = require('./errors')
const { checkImports } = require('./host-imports')

const ENGINES = ['cranelift', 'singlepass']
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

function checkPreopens(preopens) {
  if (preopens === undefined) return []
  if (!isPlainObject(preopens)) throw argTypeError('options.preopens', 'of type object', preopens)
  return Object.keys(preopens).map((guest) => {
    const host = preopens[guest]
    if (typeof host !== 'string') throw argTypeError(`options.preopens['${guest}']`, 'of type string', host)
    return { guest, host: path.resolve(host) }
  })
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

/** The on-disk cache directory when none is given: $X_WASI_CACHE_DIR, else the user's cache dir. */
function defaultCacheDir() {
  if (process.env.X_WASI_CACHE_DIR) return path.resolve(process.env.X_WASI_CACHE_DIR)
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache')
  return path.join(base, 'x-wasi')
}

/**
 * Checks the compile options shared by `compile()` and `new WASI()`:
 * returns `{ engine, cacheDir }`, `cacheDir` undefined when caching is off.
 */
function normalizeCompileOptions(options) {
  const engine = checkChoice('engine', options.engine, ENGINES, 'cranelift')
  const cache = checkBoolean('cache', options.cache, true)
  let cacheDir
  if (options.cacheDir !== undefined) {
    if (typeof options.cacheDir !== 'string' || options.cacheDir === '') {
      throw argTypeError('options.cacheDir', 'a non-empty string', options.cacheDir)
    }
    cacheDir = path.resolve(options.cacheDir)
  }
  return { engine, cacheDir: cache ? cacheDir ?? defaultCacheDir() : undefined }
}

function checkMaxMemory(value) {
  if (value === undefined) return undefined
  if (!Number.isSafeInteger(value) || value <= 0) throw argTypeError('options.maxMemory', 'a positive integer (bytes)', value)
  return value
}

/**
 * Checks `new WASI(options)`'s options; returns
 * `{ returnOnExit, compile, imports, maxMemory, native }`.
 */
function normalizeOptions(options) {
  if (options === undefined) options = {}
  if (!isPlainObject(options)) throw argTypeError('options', 'of type object', options)
  return {
    returnOnExit: checkBoolean('returnOnExit', options.returnOnExit, true),
    compile: normalizeCompileOptions(options),
    imports: checkImports('options.imports', options.imports),
    maxMemory: checkMaxMemory(options.maxMemory),
    native: {
      args: checkArgs(options.args),
      env: checkEnv(options.env),
      preopens: checkPreopens(options.preopens),
      stdin: checkFd('stdin', options.stdin, 0),
      stdout: checkFd('stdout', options.stdout, 1),
      stderr: checkFd('stderr', options.stderr, 2),
      version: checkChoice('version', options.version, VERSIONS, undefined),
    },
  }
}

module.exports = { normalizeOptions, normalizeCompileOptions, checkMaxMemory }
