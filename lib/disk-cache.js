'use strict'
// The on-disk cache of compiled modules, as users and `x-wasi cache` see it:
// where it is, how big it may grow, what it holds, emptying it. Entries are
// written, read and evicted by the addon (src/cache.rs); this file knows
// their names only: `<64 hex>.module`, `.<…>.tmp` while being written, and
// `<64 hex>.seen` for modules engine 'auto' has run.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

/** The limit when neither the option nor X_WASI_CACHE_MAX_BYTES sets one. */
const DEFAULT_MAX_BYTES = 2 ** 30

const ENTRY = /^[0-9a-f]{64}\.module$/
const TEMP = /^\.[0-9a-f]{32,64}\.\d+\.[0-9a-z]+\.tmp$/
// engine 'auto' marks the modules it has seen (src/cache.rs seen_before).
const MARKER = /^[0-9a-f]{64}\.seen$/

const UNITS = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }

/** The directory when none is given: $X_WASI_CACHE_DIR, else the user's cache dir. */
function defaultCacheDir(env = process.env) {
  if (env.X_WASI_CACHE_DIR) return path.resolve(env.X_WASI_CACHE_DIR)
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache')
  return path.join(base, 'x-wasi')
}

/** `1073741824`, `512M`, `2GiB`, `1.5g` → bytes; null when not a size. */
function parseSize(text) {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(String(text))
  if (!match) return null
  const bytes = Math.floor(Number(match[1]) * UNITS[match[2].toLowerCase()])
  return Number.isSafeInteger(bytes) ? bytes : null
}

/** The limit when none is given: $X_WASI_CACHE_MAX_BYTES, else 1 GiB. */
function defaultMaxBytes(env = process.env) {
  const text = env.X_WASI_CACHE_MAX_BYTES
  if (text === undefined || text === '') return DEFAULT_MAX_BYTES
  const bytes = parseSize(text)
  if (bytes === null) {
    const err = new TypeError(`X_WASI_CACHE_MAX_BYTES must be a size in bytes (e.g. 1073741824, 512M, 2G). Received '${text}'`)
    err.code = 'ERR_INVALID_ARG_VALUE'
    throw err
  }
  return bytes
}

/** The cache's files of one kind (entries or temporary files): `[{ file, bytes }]`. */
function filesOf(dir, pattern) {
  let names
  try {
    names = fs.readdirSync(dir)
  } catch (err) {
    if (err.code === 'ENOENT') return []
    throw err
  }
  const files = []
  for (const name of names) {
    if (!pattern.test(name)) continue
    const file = path.join(dir, name)
    try {
      files.push({ file, bytes: fs.statSync(file).size })
    } catch {
      // removed meanwhile by another process
    }
  }
  return files
}

/** `{ entries, bytes }` the cache in `dir` holds. */
function usage(dir) {
  const entries = filesOf(dir, ENTRY)
  return { entries: entries.length, bytes: entries.reduce((sum, e) => sum + e.bytes, 0) }
}

/**
 * Removes every entry (and temporary file, and seen-module marker) of the
 * cache in `dir`, nothing else; returns `{ entries, bytes }` removed. A process loading an entry
 * meanwhile still reads it whole, or compiles again.
 */
function clean(dir) {
  let entries = 0
  let bytes = 0
  for (const { file, bytes: size } of [...filesOf(dir, ENTRY), ...filesOf(dir, TEMP), ...filesOf(dir, MARKER)]) {
    try {
      fs.unlinkSync(file)
    } catch (err) {
      if (err.code === 'ENOENT') continue
      throw err
    }
    if (ENTRY.test(path.basename(file))) {
      entries++
      bytes += size
    }
  }
  return { entries, bytes }
}

/** `1.5 MiB` */
function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = -1
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(1)} ${units[unit]}`
}

module.exports = { DEFAULT_MAX_BYTES, defaultCacheDir, defaultMaxBytes, parseSize, usage, clean, formatBytes }
