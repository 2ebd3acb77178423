'use strict'
// `engine: 'auto'`, the JS half: which tier a start(bytes) takes, and, when
// a fast tier (V8, or Singlepass) ran a module its disk cache has seen
// before, Cranelift compiles it into the cache in a background process, so
// a later run loads optimized code. The process is detached, niced and unref'd: it never
// delays this process's exit, and yields the CPU to whatever else runs
// (a `go test -exec` run never gets here: each test binary runs once).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const WORKER = path.join(__dirname, 'background-compile.js')
/** A lock older than this belongs to a compile that died. */
const STALE_LOCK_MS = 15 * 60 * 1000

/** Claims the right to compile `hash` (one process at a time); false if taken. */
function claim(lock) {
  try {
    fs.closeSync(fs.openSync(lock, 'wx'))
    return true
  } catch (err) {
    if (err.code !== 'EEXIST') return false
  }
  try {
    if (Date.now() - fs.statSync(lock).mtimeMs < STALE_LOCK_MS) return false
    fs.unlinkSync(lock)
    fs.closeSync(fs.openSync(lock, 'wx'))
    return true
  } catch {
    return false
  }
}

/**
 * Starts Cranelift compiling `bytes` into the disk cache in a background
 * process. Best effort: any failure leaves the next run on the fast tier.
 */
function optimizeInBackground(bytes, { cacheDir, cacheMaxBytes }) {
  if (!cacheDir || process.env.X_WASI_NO_BACKGROUND_COMPILE) return
  try {
    // Required here: a process that never compiles in the background (each
    // `go test -exec` binary) does not pay for loading them.
    const crypto = require('node:crypto')
    const { spawn } = require('node:child_process')
    const hash = crypto.createHash('sha256').update(bytes).digest('hex').slice(0, 32)
    const lock = path.join(cacheDir, `.${hash}.compiling`)
    if (!claim(lock)) return
    // The module's bytes go through a file: the child outlives this process.
    // Named like a temporary file, so the cache sweeps it if the child dies.
    const wasm = path.join(cacheDir, `.${hash}.${process.pid}.wasm.tmp`)
    fs.writeFileSync(wasm, bytes)
    const child = spawn(process.execPath, [WORKER, wasm, cacheDir, String(cacheMaxBytes), lock], {
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, X_WASI_NO_BACKGROUND_COMPILE: '1' },
    })
    child.on('error', () => {
      fs.rmSync(wasm, { force: true })
      fs.rmSync(lock, { force: true })
    })
    child.unref()
    if (child.pid) {
      try {
        os.setPriority(child.pid, os.constants.priority.PRIORITY_LOW)
      } catch {
        // it runs at normal priority then
      }
    }
  } catch {
    // best effort
  }
}

/**
 * `engine: 'auto'` for a `start(bytes)` that V8 may run (no option needs
 * native code): `{ tier: 'native' }` when Cranelift's code exists (a live
 * module, the disk cache) or V8 cannot run the module as wasmer would, else
 * `{ tier: 'v8', hash }` (for `sightedInV8`).
 * @param probe CompiledModule.probe (the addon's look, which compiles nothing)
 */
function chooseTier(probe, bytes, options) {
  const { optimized, v8Runnable, hash } = probe(bytes, options.cacheDir, options.cacheMaxBytes)
  return optimized || !v8Runnable ? { tier: 'native' } : { tier: 'v8', hash }
}

/**
 * V8 runs the module and wasmer finds it valid: a sighting for the disk
 * cache, as a native fast-tier run is. Seen before, it gets Cranelift compiling in the background.
 * @param markSeen CompiledModule.markSeen
 */
function sightedInV8(markSeen, hash, bytes, options) {
  if (!options.cacheDir) return
  let seenBefore = false
  try {
    seenBefore = markSeen(hash, options.cacheDir)
  } catch {
    // a cache we cannot write: no marker, no background compile
  }
  if (seenBefore) optimizeInBackground(bytes, options)
}

module.exports = { optimizeInBackground, chooseTier, sightedInV8 }
