#!/usr/bin/env node
'use strict'

// `x-wasi`: run a WASI module from the command line with @x/wasi.
// Argument handling lives in lib/cli-args.js; this file only does the I/O.

const fs = require('node:fs')
const path = require('node:path')
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads')
const {
  EXIT_FAILURE,
  EXIT_TRAP,
  EXIT_USAGE,
  USAGE,
  UsageError,
  parseCommandLine,
  toWasiOptions,
} = require('../lib/cli-args')

const { chooseTier } = require('../lib/tiering')
const { START_IN_V8 } = require('../lib/v8-tier')

const PACKAGE_ROOT = path.join(__dirname, '..')

class CliError extends Error {
  constructor(message, exitCode) {
    super(message)
    this.exitCode = exitCode
  }
}

// Errors go straight to fd 2: touching process.stdout/stderr makes Node switch
// those pipes to non-blocking mode, which the guest shares through fds 1 and 2.
function printError(message) {
  fs.writeSync(2, `x-wasi: ${message}\n`)
}

function readModule(modulePath) {
  try {
    return fs.readFileSync(modulePath)
  } catch (err) {
    throw new CliError(`cannot read module '${modulePath}': ${err.message}`, EXIT_USAGE)
  }
}

function resolvePreopen(host) {
  let stats
  try {
    stats = fs.statSync(host)
  } catch (err) {
    throw new CliError(`cannot open --dir '${host}': ${err.message}`, EXIT_USAGE)
  }
  if (!stats.isDirectory()) throw new CliError(`--dir '${host}' is not a directory`, EXIT_USAGE)
  return path.resolve(host)
}

function loadAddon() {
  try {
    return require(PACKAGE_ROOT)
  } catch (err) {
    throw new CliError(`cannot load the @x/wasi native addon: ${err.message}`, EXIT_FAILURE)
  }
}

function isWasmError(err) {
  return (
    err instanceof WebAssembly.CompileError ||
    err instanceof WebAssembly.LinkError ||
    err instanceof WebAssembly.RuntimeError ||
    ['CompileError', 'LinkError', 'RuntimeError'].includes(err?.name)
  )
}

// V8 reports a wasm stack overflow as a RangeError of its own, not a trap.
function isV8StackOverflow(err) {
  return err instanceof RangeError && /call stack/i.test(err.message)
}

// The wasm frames of an error V8 threw (`at name (wasm://wasm/...)`); the
// native path already puts its wasm backtrace in the message.
function wasmFramesOf(err) {
  const stack = typeof err?.stack === 'string' ? err.stack : ''
  return stack.split('\n').filter((line) => /^\s+at .*(wasm:\/\/|wasm-function\[)/.test(line))
}

// Runs of one repeated frame (deep recursion) shown once with a count.
function collapseFrames(frames) {
  const shown = []
  for (let i = 0; i < frames.length; ) {
    let j = i + 1
    while (j < frames.length && frames[j] === frames[i]) j++
    shown.push(j - i > 1 ? `${frames[i]} (${j - i} times)` : frames[i])
    i = j
  }
  return shown
}

/** The error of a failed run, as printed: name, message, wasm backtrace. */
function describeRunError(err, mode) {
  if (isV8StackOverflow(err)) {
    return [`RuntimeError: call stack exhausted (V8: ${err.message})`, ...collapseFrames(wasmFramesOf(err))].join('\n')
  }
  const text = `${err.name}: ${err.message}`
  if (mode !== 'v8') return text
  return [text, ...collapseFrames(wasmFramesOf(err))].join('\n')
}

// V8 reports only the first missing import, and a missing namespace as a
// TypeError; name every one in a LinkError, as the native path does.
function checkImports(module, importObject) {
  const missing = WebAssembly.Module.imports(module)
    .filter(({ module: ns, name }) => !(importObject[ns] && Object.hasOwn(importObject[ns], name)))
    .map(({ module: ns, name }) => `${ns}::${name}`)
  if (missing.length > 0) {
    const list = [...new Set(missing)].sort().join(', ')
    throw new WebAssembly.LinkError(`WebAssembly.Instance(): unknown import(s) not provided by WASI or the host: ${list}`)
  }
}

async function startModule(run, WASI, wasiOptions, bytes, validation) {
  const wasi = new WASI(wasiOptions)
  // The default engine's V8 tier, chosen by runModule().
  if (run.tier === 'v8') return wasi[START_IN_V8](bytes, undefined, run.hash, validation)
  if (run.mode === 'v8') {
    const module = await WebAssembly.compile(bytes)
    const importObject = wasi.getImportObject()
    checkImports(module, importObject)
    // start(module), not start(instance): a module without a memory export
    // runs too (node:wasi's memory check is for instances).
    return wasi.start(module)
  }
  return wasi.start(bytes)
}

// Wasm that V8 runs uses the stack of the JS thread that calls it. Node's
// main thread gives V8 under 1 MiB, too little for Go (a wasm call per Go
// call), so V8 runs wasm (--mode v8, the default engine's V8 tier) on a
// thread with 8 MiB of stack: the same that the native path gives wasm
// (and Go's go_wasip1_wasm_exec gives wasmtime). That is the main thread
// when node was started with as much (bin/launch.sh does that), else a
// worker thread, which costs 30-40 ms more to start. The guest's stdio are
// fds 0-2 either way.
const V8_STACK_MB = 8
// What a worker with V8_STACK_MB gives V8: Node keeps 192 KiB in reserve.
const V8_STACK_KIB = V8_STACK_MB * 1024 - 192

/** Whether node's flags give this thread's V8 as much stack as the worker's. */
function mainThreadRunsWasm(execArgv = process.execArgv) {
  if (!isMainThread) return false
  let kib = 0
  for (const flag of execArgv) {
    const match = /^--stack[-_]size=(\d+)$/.exec(flag)
    if (match) kib = Number(match[1])
  }
  return kib >= V8_STACK_KIB
}

const WORKER_TAG = 'x-wasi --mode v8 run'

/** Runs the module on a worker thread; same outcome as runModuleHere(). */
function runModuleInWorker(run) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(__filename, {
      workerData: { [WORKER_TAG]: run },
      resourceLimits: { stackSizeMb: V8_STACK_MB },
    })
    let outcome
    worker.on('message', (message) => {
      outcome = message
    })
    worker.on('error', reject)
    worker.on('exit', () => {
      if (!outcome) reject(new Error('the --mode v8 worker ended without a result'))
      else if ('exitCode' in outcome) resolve(outcome.exitCode)
      else if (outcome.cliError) reject(new CliError(outcome.cliError.message, outcome.cliError.exitCode))
      else if (outcome.usageError) reject(new UsageError(outcome.usageError))
      else reject(new Error(outcome.unexpected))
    })
  })
}

// The worker side: run, then post the outcome as plain data.
async function workerMain(run) {
  let outcome
  try {
    outcome = { exitCode: await runModuleHere(run) }
  } catch (err) {
    if (err instanceof CliError) outcome = { cliError: { message: err.message, exitCode: err.exitCode } }
    else if (err instanceof UsageError) outcome = { usageError: err.message }
    else outcome = { unexpected: err?.stack ?? String(err) }
  }
  parentPort.postMessage(outcome)
}

/**
 * The default engine ('auto') picks its tier here, on the main thread, so
 * that only a module V8 runs pays for a worker (lib/tiering.js):
 * `{ tier: 'v8', hash, bytes }` or `{ tier: 'native' }`.
 */
function chooseCliTier(run) {
  if (run.mode !== 'native' || (run.engine ?? 'auto') !== 'auto') return { tier: 'native' }
  const { CompiledModule } = loadAddon()
  const { normalizeCompileOptions } = require('../lib/options')
  const wasiOptions = toWasiOptions(run, resolvePreopen)
  const bytes = readModule(run.modulePath)
  return { ...chooseTier(CompiledModule.probe, bytes, normalizeCompileOptions(wasiOptions)), bytes }
}

// wasmer's validation of a module the V8 tier runs (lib/v8-tier.js) starts
// on the main thread while the worker boots, and its answer reaches the
// worker through shared memory: 0 while under way, then VALID or INVALID.
const VALID = 1
const INVALID = 2

/** The worker's view of the main thread's validation (`{ wait() }`). */
function validationOf(shared) {
  if (!shared) return undefined
  const state = new Int32Array(shared)
  return {
    wait() {
      Atomics.wait(state, 0, 0)
      return Atomics.load(state, 0) === VALID
    },
  }
}

/**
 * Runs the module on the V8 tier, validating it on another thread
 * meanwhile: here, or in the worker while this thread waits for wasmer.
 */
function runV8Tier(run, { hash, bytes }) {
  const validation = loadAddon().CompiledModule.validateInBackground(bytes)
  if (mainThreadRunsWasm()) return runModuleHere({ ...run, tier: 'v8', hash }, { bytes, validation })
  const shared = new SharedArrayBuffer(4)
  const outcome = runModuleInWorker({ ...run, tier: 'v8', hash, validation: shared })
  // Blocks this thread (which only waits for the worker) until wasmer has
  // answered, while the worker boots and V8 compiles.
  Atomics.store(new Int32Array(shared), 0, validation.wait() ? VALID : INVALID)
  Atomics.notify(new Int32Array(shared), 0)
  return outcome
}

/** Runs the module; returns its exit code. */
function runModule(run) {
  const choice = isMainThread ? chooseCliTier(run) : { tier: 'native' }
  if (choice.tier === 'v8') return runV8Tier(run, choice)
  const inWorker = run.mode === 'v8' && isMainThread && !mainThreadRunsWasm()
  // The bytes chooseCliTier read (the default engine), not read again.
  return inWorker ? runModuleInWorker(run) : runModuleHere(run, { bytes: choice.bytes })
}

/**
 * @param bytes the module, when already read
 * @param validation the V8 tier's wasmer validation, when it runs here
 */
async function runModuleHere(run, { bytes = readModule(run.modulePath), validation = validationOf(run.validation) } = {}) {
  const wasiOptions = toWasiOptions(run, resolvePreopen)
  const { WASI } = loadAddon()
  Error.stackTraceLimit = 64 // more of the wasm backtrace of a V8 trap
  let exitCode
  try {
    exitCode = await startModule(run, WASI, wasiOptions, bytes, validation)
  } catch (err) {
    if (isWasmError(err) || isV8StackOverflow(err)) {
      throw new CliError(`failed to run '${run.modulePath}': ${describeRunError(err, run.mode)}`, EXIT_TRAP)
    }
    // The API's own errors (e.g. a module without `_start`) say what is
    // wrong; a JS stack would add nothing.
    if (err instanceof TypeError && /^ERR_/.test(err.code ?? '')) {
      throw new CliError(`cannot run '${run.modulePath}': ${err.message}`, EXIT_FAILURE)
    }
    throw err
  }
  // An exit status is 8 bits: 256 would read as success.
  if (!(exitCode >= 0 && exitCode <= 255)) {
    throw new CliError(`the module exited with code ${exitCode}, which is not an exit status (0-255)`, EXIT_FAILURE)
  }
  return exitCode
}

const countOf = (entries) => `${entries} ${entries === 1 ? 'entry' : 'entries'}`

/** `x-wasi cache dir|size|clean`; returns the exit status. */
function cacheCommand(action, env = process.env) {
  const diskCache = require('../lib/disk-cache')
  try {
    const dir = diskCache.defaultCacheDir(env)
    if (action === 'dir') {
      fs.writeSync(1, `${dir}\n`)
    } else if (action === 'size') {
      const { entries, bytes } = diskCache.usage(dir)
      const limit = diskCache.formatBytes(diskCache.defaultMaxBytes(env))
      fs.writeSync(1, `${diskCache.formatBytes(bytes)} in ${countOf(entries)} (limit ${limit}): ${dir}\n`)
    } else {
      const { entries, bytes } = diskCache.clean(dir)
      fs.writeSync(1, `removed ${countOf(entries)} (${diskCache.formatBytes(bytes)}) from ${dir}\n`)
    }
    return 0
  } catch (err) {
    printError(`cache ${action}: ${err.message}`)
    return EXIT_FAILURE
  }
}

/**
 * Runs the command line `argv` (the arguments after `x-wasi`) and resolves
 * to the exit status; never rejects. `env` is read for `--env NAME`.
 */
async function main(argv, env = process.env) {
  let command
  try {
    command = parseCommandLine(argv, env)
  } catch (err) {
    printError(err instanceof UsageError ? err.message : err?.stack ?? String(err))
    if (!(err instanceof UsageError)) return EXIT_FAILURE
    fs.writeSync(2, `\n${USAGE}`)
    return EXIT_USAGE
  }

  if (command.command === 'help') {
    fs.writeSync(1, USAGE)
    return 0
  }
  if (command.command === 'version') {
    fs.writeSync(1, `x-wasi ${require('../package.json').version}\n`)
    return 0
  }
  if (command.command === 'cache') return cacheCommand(command.action)

  try {
    return await runModule(command)
  } catch (err) {
    if (err instanceof UsageError) {
      printError(err.message)
      return EXIT_USAGE
    }
    if (err instanceof CliError) {
      printError(err.message)
      return err.exitCode
    }
    printError(err?.stack ?? String(err))
    return EXIT_FAILURE
  }
}

/**
 * Ends the process with `code` once main() has resolved. Everything x-wasi
 * and the guest wrote is written by then (synchronously, to fds 1 and 2),
 * so after a run the addon ends the process at once: Node's own exit would
 * first wait for V8's background compiles of the wasm that ran, and tear
 * everything down, 70-125 ms after a Go test binary. Without a run
 * (--version, a usage error), the addon is not even loaded for that.
 */
function exitWith(code) {
  const binding = require.cache[require.resolve('../binding.js')]?.exports
  if (typeof binding?.exitNow === 'function') binding.exitNow(code)
  process.exitCode = code
}

module.exports = { main, mainThreadRunsWasm, exitWith }

if (!isMainThread && workerData?.[WORKER_TAG]) {
  workerMain(workerData[WORKER_TAG])
} else if (isMainThread && require.main === module) {
  main(process.argv.slice(2)).then(exitWith)
}
