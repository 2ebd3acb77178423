'use strict'

// Helpers shared by run.test.js, host-functions.test.js and reactor.test.js
// (the async run(), host functions and native initialize() API).

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { setTimeout: sleep } = require('node:timers/promises')

const { openStdio } = require('./cases')

const ENGINES = ['cranelift', 'singlepass']
const PAGE = 65536

/** A temp dir removed by the caller's after() hook. */
function makeScratch(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  return {
    dir,
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
    /** Fresh stdio files (stdin holding `stdinContent`), see cases.js openStdio. */
    stdio: (stdinContent = '') => openStdio(fs.mkdtempSync(path.join(dir, 'stdio-')), stdinContent),
    /** A FIFO opened read-write: reading it blocks forever (we hold a writer). */
    fifo() {
      const file = path.join(fs.mkdtempSync(path.join(dir, 'fifo-')), 'fifo')
      execFileSync('mkfifo', [file])
      const fd = fs.openSync(file, 'r+')
      return { fd, close: () => fs.closeSync(fd) }
    },
  }
}

/**
 * Calls `fn` and returns how it ended: `{ value }` or `{ error }`, whether
 * it threw synchronously (`sync: true`) or returned a promise that rejected.
 * For argument checks, where either is acceptable.
 */
async function settle(fn) {
  let promise
  try {
    promise = fn()
  } catch (error) {
    return { error, sync: true }
  }
  try {
    return { value: await promise, sync: false }
  } catch (error) {
    return { error, sync: false }
  }
}

/** Awaits `promise`; returns `{ value | error, ms }` with ms since `since`. */
async function timed(promise, since = performance.now()) {
  try {
    const value = await promise
    return { value, ms: performance.now() - since }
  } catch (error) {
    return { error, ms: performance.now() - since }
  }
}

const describeError = (err) =>
  err === undefined ? 'nothing' : err instanceof Error ? `${err.constructor.name} (${err.code}): ${err.message}` : String(err)

/** A TypeError with a Node-style code whose message names `option`. */
function assertArgError(err, option) {
  assert.ok(err !== undefined, `expected a TypeError naming ${option}, but nothing was thrown`)
  assert.ok(err instanceof TypeError, `expected a TypeError naming ${option}, got ${describeError(err)}`)
  assert.equal(typeof err.code, 'string', `TypeError without a code: ${err.message}`)
  assert.match(err.code, /^ERR_/)
  assert.match(err.message, new RegExp(`\\b${option}\\b`), `the message does not name ${option}`)
}

const fdCount = () => fs.readdirSync('/proc/self/fd').length
const threadCount = () => fs.readdirSync('/proc/self/task').length

/**
 * Polls `read()` for up to `ms` until it is at most `limit`; returns the
 * last value and how long it took.
 */
async function waitAtMost(read, limit, ms = 1000) {
  const start = performance.now()
  let value = read()
  while (value > limit && performance.now() - start < ms) {
    await sleep(10)
    value = read()
  }
  return { value, ms: performance.now() - start }
}

/** `read()` once it gave the same value twice 100 ms apart (or after 2 s). */
async function settled(read) {
  let value = read()
  for (let i = 0; i < 20; i++) {
    await sleep(100)
    const next = read()
    if (next === value) break
    value = next
  }
  return value
}

/** A string as the guest sees it in linear memory: UTF-8 at `ptr`. */
function readString(buffer, ptr, len) {
  return Buffer.from(buffer, ptr, len).toString('utf8')
}

/** The bits of a float as the WAT fixtures print them (signed decimal). */
const f64Bits = (x) => new BigInt64Array(new Float64Array([x]).buffer)[0]
const f32Bits = (x) => new Int32Array(new Float32Array([x]).buffer)[0]

module.exports = {
  ENGINES,
  PAGE,
  makeScratch,
  settle,
  timed,
  describeError,
  assertArgError,
  fdCount,
  threadCount,
  waitAtMost,
  settled,
  readString,
  f64Bits,
  f32Bits,
  sleep,
}
