'use strict'

// Runs one test's operations against a child process, the way the official
// runner (test-runner/wasi_test_runner/test_suite_runner.py) does:
// `read` takes exactly as many characters as expected from the stream and
// compares them, `wait` closes stdin and checks the exit code.

const { spawn } = require('node:child_process')
const { commandFor } = require('./runtimes')

const OUTPUT_EXCERPT_CHARS = 4000
const FAILURE_GRACE_MS = 1000

/** Buffers a child's output stream and lets operations consume it in order. */
class StreamReader {
  constructor(stream) {
    this.chunks = []
    this.ended = false
    this.consumed = 0
    this.listeners = new Set()
    stream.on('data', (chunk) => this.push(chunk))
    stream.on('end', () => this.finish())
    stream.on('error', () => this.finish())
  }

  push(chunk) {
    this.chunks.push(chunk)
    this.notify()
  }

  finish() {
    this.ended = true
    this.notify()
  }

  notify() {
    for (const listener of this.listeners) listener()
  }

  // Python's text mode decodes UTF-8 and turns \r\n and \r into \n.
  text() {
    return Buffer.concat(this.chunks).toString('utf8').replace(/\r\n?/g, '\n')
  }

  /** Resolves with the next `length` characters, fewer at end of stream, or null on timeout. */
  read(length, timeoutMs) {
    return new Promise((resolve) => {
      const check = () => {
        const available = this.text().length - this.consumed
        if (available < length && !this.ended) return
        done(this.take(length))
      }
      const timer = setTimeout(() => done(null), timeoutMs)
      const done = (value) => {
        clearTimeout(timer)
        this.listeners.delete(check)
        resolve(value)
      }
      this.listeners.add(check)
      check()
    })
  }

  take(length) {
    const taken = this.text().slice(this.consumed, this.consumed + length)
    this.consumed += taken.length
    return taken
  }
}

class TestProcess {
  constructor(argv, { cwd, env }) {
    this.child = spawn(argv[0], argv.slice(1), { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] })
    this.child.stdin.on('error', () => {}) // the guest may exit without reading stdin
    this.streams = { stdout: new StreamReader(this.child.stdout), stderr: new StreamReader(this.child.stderr) }
    this.exit = new Promise((resolve) => {
      this.child.on('error', (err) => resolve({ code: null, signal: null, error: err }))
      this.child.on('close', (code, signal) => resolve({ code, signal, error: null }))
    })
  }

  /** Resolves with the exit status, or null if it did not exit in time. */
  async waitForExit(timeoutMs) {
    this.child.stdin.end()
    let timer
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs)
    })
    const status = await Promise.race([this.exit, timeout])
    clearTimeout(timer)
    return status
  }

  async kill() {
    this.child.kill('SIGKILL')
    await this.exit
  }

  outputExcerpt() {
    return ['stdout', 'stderr']
      .map((id) => [id, this.streams[id].text()])
      .filter(([, text]) => text.length > 0)
      .map(([id, text]) => `==${id.toUpperCase()}==\n${clip(text)}`)
      .join('\n')
  }
}

function clip(text) {
  return text.length <= OUTPUT_EXCERPT_CHARS ? text : `${text.slice(0, OUTPUT_EXCERPT_CHARS)}\n[... ${text.length - OUTPUT_EXCERPT_CHARS} more characters]`
}

function describeStatus(status) {
  if (status.error) return `spawn error: ${status.error.message}`
  if (status.signal) return `signal ${status.signal}`
  return `exit code ${status.code}`
}

class TestRun {
  constructor(test, runtime, options) {
    this.test = test
    this.runtime = runtime
    this.options = options
    this.process = null // the running process, if any
    this.lastProcess = null // the latest process started, for the failure report
    this.failures = []
    this.timedOut = false
    this.argv = []
  }

  fail(message) {
    this.failures.push(message)
  }

  async run() {
    try {
      for (const op of this.test.spec.operations) {
        if (this.failures.length > 0) break
        await this.perform(op)
      }
      if (this.failures.length === 0 && this.process) this.fail('process still running after the last operation')
    } finally {
      await this.stopProcess()
    }
    return this.failures
  }

  // On failure the process gets a moment to finish so the report shows its
  // whole output; the verdict is already settled.
  async stopProcess() {
    if (this.process) {
      if (this.failures.length > 0 && !this.timedOut) await this.process.waitForExit(FAILURE_GRACE_MS)
      await this.process.kill()
    }
    const output = this.failures.length > 0 && this.lastProcess ? this.lastProcess.outputExcerpt() : ''
    if (output) this.failures.push(output)
  }

  async perform(op) {
    if (op.type !== 'run' && !this.process) {
      this.fail(`operation '${op.type}' has no running process (spec error)`)
      return
    }
    switch (op.type) {
      case 'run':
        return this.start(op)
      case 'read':
        return this.read(op)
      case 'write':
        this.process.child.stdin.write(op.payload)
        return
      case 'wait':
        return this.wait(op)
      case 'kill':
        this.process.child.kill(op.signal)
        return
      default:
        this.fail(`operation '${op.type}' is not supported by this executor`)
    }
  }

  start(op) {
    this.argv = commandFor(this.runtime, this.test.relativePath, op)
    const env = { ...process.env, ...(this.test.spec.debug ? { DEBUG: 'true' } : {}) }
    this.process = new TestProcess(this.argv, { cwd: this.options.cwd, env })
    this.lastProcess = this.process
  }

  async read(op) {
    const got = await this.process.streams[op.id].read(op.payload.length, this.options.timeoutMs)
    if (got === null) {
      this.timedOut = true
      this.fail(`read ${op.id}: expected ${JSON.stringify(op.payload)}, timed out after ${this.options.timeoutMs / 1000}s`)
    } else if (got !== op.payload) {
      this.fail(`read ${op.id}: expected ${JSON.stringify(op.payload)}, got ${JSON.stringify(got)}`)
    }
  }

  async wait(op) {
    const status = await this.process.waitForExit(this.options.timeoutMs)
    if (status === null) {
      this.timedOut = true
      this.fail(`wait: timed out after ${this.options.timeoutMs / 1000}s`)
      return
    }
    if (status.code !== op.exit_code) {
      this.fail(`wait: expected exit code ${op.exit_code}, got ${describeStatus(status)}`)
    }
    // The process is gone; a later `run` starts a new one.
    if (this.failures.length === 0) this.process = null
  }
}

/**
 * Runs `test` ({ relativePath, spec }) on `runtime`; `options` = { cwd, timeoutMs }.
 * Resolves with { failures: string[], argv: string[] }.
 */
async function runTest(test, runtime, options) {
  const testRun = new TestRun(test, runtime, options)
  const failures = await testRun.run()
  return { failures, argv: testRun.argv }
}

module.exports = { runTest }
