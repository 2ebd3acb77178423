'use strict'
// `wasi.run()`: the options it takes and the promise it returns. The run
// itself happens on a thread of the addon's (src/run_thread.rs), which sends
// output chunks and, last, how it ended through `onEvent`.

const { argTypeError, argValueError, fromNative, wasiError } = require('./errors')
const { checkImports } = require('./host-imports')
const { checkMaxMemory, checkFd } = require('./options')

const EVENT_STDOUT = 1
const EVENT_STDERR = 2
const EVENT_DONE = 3

/** How often a stop request is repeated until the run has ended (ms). */
const STOP_RETRY_MS = 20

function checkStdin(value) {
  if (value === undefined || value === 'inherit') return {}
  if (typeof value === 'string') return { stdinData: Buffer.from(value, 'utf8') }
  if (value instanceof Uint8Array) return { stdinData: Buffer.from(value.buffer, value.byteOffset, value.byteLength) }
  if (typeof value === 'number') return { stdinFd: checkFd('stdin', value) }
  throw argTypeError('options.stdin', "'inherit', a string, a Buffer, a Uint8Array or a file descriptor", value)
}

/** One output stream's option: `{ fd?, toJs, pipe, callback }`. */
function checkOutput(name, value) {
  if (value === undefined || value === 'inherit') return { toJs: false }
  if (value === 'pipe') return { toJs: true, pipe: true }
  if (typeof value === 'function') return { toJs: true, callback: value }
  if (typeof value === 'number') return { toJs: false, fd: checkFd(name, value) }
  if (typeof value === 'string') throw argValueError(`options.${name}`, "'inherit', 'pipe', a file descriptor or a function", value)
  throw argTypeError(`options.${name}`, "'inherit', 'pipe', a file descriptor or a function", value)
}

/** Checks run()'s options. */
function normalizeRunOptions(options) {
  if (options === undefined) options = {}
  if (options === null || typeof options !== 'object') throw argTypeError('options', 'of type object', options)
  const { timeout, signal } = options
  if (timeout !== undefined && (!Number.isInteger(timeout) || timeout <= 0 || timeout > 0x7fffffff)) {
    throw argTypeError('options.timeout', 'a positive integer (milliseconds)', timeout)
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw argTypeError('options.signal', 'an instance of AbortSignal', signal)
  }
  const stdout = checkOutput('stdout', options.stdout)
  const stderr = checkOutput('stderr', options.stderr)
  return {
    stdio: {
      ...checkStdin(options.stdin),
      stdoutFd: stdout.fd,
      stdoutToJs: stdout.toJs,
      stderrFd: stderr.fd,
      stderrToJs: stderr.toJs,
    },
    stdout,
    stderr,
    timeout,
    signal,
    imports: checkImports('options.imports', options.imports),
    maxMemory: checkMaxMemory(options.maxMemory),
  }
}

function timeoutError(timeout) {
  return wasiError('ERR_WASI_TIMEOUT', `the WASI module did not finish within ${timeout} ms and was stopped`)
}

function abortError(signal) {
  const err = new Error('The operation was aborted', { cause: signal.reason })
  err.name = 'AbortError'
  err.code = 'ABORT_ERR'
  return err
}

/**
 * Starts the run and returns its promise.
 * @param handle   the WASI object's addon handle
 * @param module   a CompiledModule
 * @param options  from normalizeRunOptions
 * @param native   `{ dispatch, provided, maxMemory }` for the addon
 * @param hostError returns the error a throwing host function threw
 */
function startRun(handle, module, options, native, hostError) {
  return new Promise((resolve, reject) => {
    const collected = { [EVENT_STDOUT]: [], [EVENT_STDERR]: [] }
    const streams = { [EVENT_STDOUT]: options.stdout, [EVENT_STDERR]: options.stderr }
    let stopReason = null // 'timeout', 'abort' or a callback's error
    let timer = null
    let retry = null

    // interrupt() throws only after a panic inside the addon, and it sets
    // the stop flag before anything that can fail, so retrying still ends
    // the run; a throw here would be an uncaught exception in a timer.
    const interrupt = () => {
      try {
        handle.interrupt()
      } catch {}
    }
    const stop = (reason) => {
      if (stopReason !== null) return
      stopReason = reason
      interrupt()
      retry = setInterval(interrupt, STOP_RETRY_MS)
    }
    const onAbort = () => stop('abort')

    const finish = (ending, exitCode, error) => {
      clearTimeout(timer)
      clearInterval(retry)
      options.signal?.removeEventListener('abort', onAbort)
      if (stopReason !== null && typeof stopReason === 'object') return reject(stopReason.error)
      if (ending === 'interrupted' || (stopReason !== null && ending === 'error')) {
        return reject(stopReason === 'timeout' ? timeoutError(options.timeout) : abortError(options.signal))
      }
      if (ending === 'hostThrew') return reject(hostError())
      if (ending === 'error') return reject(fromNative(new Error(error)))
      const result = { exitCode: ending === 'exited' ? exitCode : 0 }
      if (options.stdout.pipe) result.stdout = Buffer.concat(collected[EVENT_STDOUT])
      if (options.stderr.pipe) result.stderr = Buffer.concat(collected[EVENT_STDERR])
      resolve(result)
    }

    const onEvent = (kind, a, b, c) => {
      if (kind === EVENT_DONE) return finish(a, b, c)
      const stream = streams[kind]
      if (stream.pipe) return void collected[kind].push(a)
      if (stopReason !== null) return // a callback threw: drop the rest
      try {
        stream.callback(a)
      } catch (error) {
        stop({ error })
      }
    }

    try {
      handle.runNative(module, options.stdio, onEvent, native)
    } catch (err) {
      return reject(fromNative(err))
    }
    if (options.timeout !== undefined) timer = setTimeout(() => stop('timeout'), options.timeout)
    options.signal?.addEventListener('abort', onAbort, { once: true })
  })
}

module.exports = { normalizeRunOptions, startRun, abortError }
