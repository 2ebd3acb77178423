'use strict'

// `await wasi.run(source, options)`: a WASI command on a thread of its own,
// while the event loop keeps running. Stdio modes (inherit, pipe, fd,
// callbacks; stdin as string, bytes, fd), parallel runs, timeouts and
// aborts wherever the guest is (pure wasm, poll_oneoff, a blocking read),
// maxMemory, clean endings (descriptors and threads released, nothing
// lost), errors, and argument checks.
//
// Timing assertions leave a wide margin (deadline + 1000 ms) for a busy
// 2-core machine; the measured latencies are reported as diagnostics. The
// latency the README quotes is measured by `npm run bench:stop`, whose
// output is committed as bench/STOP-LATENCY.md, not here.

const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { describe, test, after } = require('node:test')

const { WASI, compile } = require('..')
const { fixture, fixtureBytes } = require('./fixtures')
const {
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
  sleep,
} = require('./native-api-helpers')

const PACKAGE_ROOT = path.resolve(__dirname, '..')
const SLACK_MS = 1000 // allowed lateness of a timeout or an abort on a busy machine
const scratch = makeScratch('xwasi-run-')
after(() => scratch.remove())

// Compiled once per engine: runs then start at once, so a deadline measured
// from the call of run() is a deadline for the guest's code.
const compiled = new Map()
function compiledFixture(name, engine = 'cranelift') {
  const key = `${engine}:${name}`
  if (!compiled.has(key)) compiled.set(key, compile(fixtureBytes(name), { engine }))
  return compiled.get(key)
}

const RAWWRITE_STDOUT = 'raw stdout line\nsecond stdout line\n'
const RAWWRITE_STDERR = 'raw stderr line\n'

// cpuspin's default run: 2,100,000 rounds of SHA-256 (about 2 s here).
const CPUSPIN_DEFAULT = 'rounds: 2100000\nsha256: 3e42d112ab3aafd60f0e3e1bc8a3a55499d7bc50ab550474c045dc1ad199f264\n'

function cpuspinExpected(rounds) {
  let sum = crypto.createHash('sha256').update('x-wasi').digest()
  for (let i = 0; i < rounds; i++) sum = crypto.createHash('sha256').update(sum).digest()
  return `rounds: ${rounds}\nsha256: ${sum.toString('hex')}\n`
}

function assertTimeoutError(error) {
  assert.ok(error instanceof Error, `expected an Error with code ERR_WASI_TIMEOUT, got ${describeError(error)}`)
  assert.equal(error.code, 'ERR_WASI_TIMEOUT', describeError(error))
}

function assertAbortError(error, reason) {
  assert.ok(error instanceof Error, `expected an AbortError, got ${describeError(error)}`)
  assert.equal(error.name, 'AbortError', describeError(error))
  assert.equal(error.code, 'ABORT_ERR', describeError(error))
  assert.equal(error.cause, reason, 'cause is not signal.reason')
}

// ---------------------------------------------------------------- results and stdio

describe('run(): result and stdio', () => {
  test("returns a promise of { exitCode, stdout, stderr } with 'pipe'", async () => {
    const wasi = new WASI({ args: ['rawwrite'] })
    const promise = wasi.run(fixtureBytes('go:rawwrite'), { stdout: 'pipe', stderr: 'pipe' })
    assert.ok(promise instanceof Promise, 'run() must return a Promise')
    const result = await promise
    assert.equal(result.exitCode, 0)
    assert.ok(Buffer.isBuffer(result.stdout), `stdout is ${typeof result.stdout}, not a Buffer`)
    assert.ok(Buffer.isBuffer(result.stderr), `stderr is ${typeof result.stderr}, not a Buffer`)
    assert.equal(result.stdout.toString(), RAWWRITE_STDOUT)
    assert.equal(result.stderr.toString(), RAWWRITE_STDERR)
  })

  for (const engine of ENGINES) {
    test(`${engine}: go hello, piped stdout, empty piped stderr`, async () => {
      const result = await new WASI({ engine }).run(fixtureBytes('go:hello'), { stdout: 'pipe', stderr: 'pipe' })
      assert.deepEqual({ ...result, stdout: result.stdout.toString() }, { exitCode: 0, stdout: 'Hello, Wasm\n', stderr: Buffer.alloc(0) })
    })
  }

  test('accepts a CompiledModule, an ArrayBuffer and an offset Uint8Array view', async () => {
    const bytes = fixtureBytes('wat:hello_unstable')
    const padded = new Uint8Array(bytes.length + 16)
    padded.set(bytes, 8)
    const sources = {
      CompiledModule: compiledFixture('wat:hello_unstable'),
      ArrayBuffer: new Uint8Array(bytes).buffer,
      'Uint8Array view at offset 8': padded.subarray(8, 8 + bytes.length),
    }
    for (const [kind, source] of Object.entries(sources)) {
      const result = await new WASI({}).run(source, { stdout: 'pipe' })
      assert.equal(result.exitCode, 0, kind)
      assert.equal(result.stdout.toString(), 'Hello from wasi_unstable!\n', kind)
    }
  })

  test('resolves with the proc_exit code, output written just before exit intact', async () => {
    for (const code of [0, 3, 255]) {
      const result = await new WASI({ args: ['exit', String(code)] }).run(fixtureBytes('go:exit'), { stdout: 'pipe', stderr: 'pipe' })
      assert.equal(result.exitCode, code)
      assert.equal(result.stdout.toString(), `exiting with ${code}\n`)
      assert.equal(result.stderr.toString(), '')
    }
  })

  test('stdout/stderr as fd numbers: output in the files, no stdout/stderr in the result, fds left open', async () => {
    const stdio = scratch.stdio()
    try {
      const result = await new WASI({ args: ['rawwrite'] }).run(fixtureBytes('go:rawwrite'), {
        stdout: stdio.fds.stdout,
        stderr: stdio.fds.stderr,
      })
      assert.equal(result.exitCode, 0)
      assert.equal(result.stdout, undefined)
      assert.equal(result.stderr, undefined)
      // run() borrows the caller's descriptors; it must not close them.
      fs.fstatSync(stdio.fds.stdout)
      fs.fstatSync(stdio.fds.stderr)
    } finally {
      stdio.close()
    }
    assert.equal(stdio.read('stdout').toString(), RAWWRITE_STDOUT)
    assert.equal(stdio.read('stderr').toString(), RAWWRITE_STDERR)
  })

  test("default and 'inherit' stdio are the constructor's fds", async () => {
    for (const mode of [undefined, 'inherit']) {
      const stdio = scratch.stdio('from the constructor stdin\n')
      try {
        const wasi = new WASI({ ...stdio.fds })
        const options = mode === undefined ? {} : { stdin: mode, stdout: mode, stderr: mode }
        const result = await wasi.run(fixtureBytes('go:stdinecho'), options)
        assert.equal(result.exitCode, 0)
        assert.equal(result.stdout, undefined)
      } finally {
        stdio.close()
      }
      assert.equal(stdio.read('stdout').toString(), 'from the constructor stdin\n', `stdio ${mode}`)
      assert.equal(stdio.read('stderr').toString(), 'copied 27 bytes\n', `stdio ${mode}`)
    }
  })

  test('callbacks get every chunk as a Buffer, in order, before the promise settles; nothing after', async () => {
    const input = Buffer.from(Array.from({ length: 5000 }, (_, i) => `line ${i}\n`).join(''))
    const out = []
    const err = []
    const result = await new WASI({}).run(fixtureBytes('go:stdinecho'), {
      stdin: input,
      stdout: (chunk) => out.push(chunk),
      stderr: (chunk) => err.push(chunk),
    })
    const counts = [out.length, err.length]
    assert.equal(result.exitCode, 0)
    assert.equal(result.stdout, undefined)
    assert.ok(out.length > 0 && out.every(Buffer.isBuffer), 'stdout chunks must be Buffers')
    assert.ok(Buffer.concat(out).equals(input), `stdout: ${Buffer.concat(out).length} bytes instead of ${input.length}`)
    assert.equal(Buffer.concat(err).toString(), `copied ${input.length} bytes\n`)
    await sleep(100)
    assert.deepEqual([out.length, err.length], counts, 'chunks arrived after the promise settled')
  })

  test('callbacks of stdout and stderr see the writes in the order the guest made them', async () => {
    const events = []
    const result = await new WASI({ args: ['rawwrite'] }).run(fixtureBytes('go:rawwrite'), {
      stdout: (chunk) => events.push(`out:${chunk}`),
      stderr: (chunk) => events.push(`err:${chunk}`),
    })
    assert.equal(result.exitCode, 0)
    // Each fd_write is one call; merge consecutive chunks of one stream.
    const merged = []
    for (const event of events) {
      const stream = event.slice(0, 4)
      if (merged.length && merged.at(-1).startsWith(stream)) merged[merged.length - 1] += event.slice(4)
      else merged.push(event)
    }
    assert.deepEqual(merged, ['out:raw stdout line\n', 'err:raw stderr line\n', 'out:second stdout line\n'])
  })

  test('stdin as a string (UTF-8), an empty string, a Buffer and an offset Uint8Array', async () => {
    const binary = Buffer.alloc(300000)
    for (let i = 0; i < binary.length; i++) binary[i] = (i * 7 + (i >> 8)) & 0xff
    const view = new Uint8Array(binary.buffer, binary.byteOffset + 5, 1000)
    const inputs = [
      ['string', 'héllo ✓\n', Buffer.from('héllo ✓\n')],
      ['empty string', '', Buffer.alloc(0)],
      ['Buffer (binary)', binary, binary],
      ['Uint8Array view', view, Buffer.from(view)],
    ]
    for (const [label, stdin, expected] of inputs) {
      const result = await new WASI({}).run(fixtureBytes('go:stdinecho'), { stdin, stdout: 'pipe', stderr: 'pipe' })
      assert.equal(result.exitCode, 0, label)
      assert.ok(result.stdout.equals(expected), `${label}: ${result.stdout.length} bytes came out of ${expected.length}`)
      assert.equal(result.stderr.toString(), `copied ${expected.length} bytes\n`, label)
    }
  })

  test('stdin as an fd number (left open) and 8 MiB through stdin and a piped stdout, nothing lost', async () => {
    const big = crypto.randomBytes(8 << 20)
    const stdio = scratch.stdio(big)
    try {
      const result = await new WASI({}).run(fixtureBytes('go:stdinecho'), { stdin: stdio.fds.stdin, stdout: 'pipe', stderr: 'pipe' })
      assert.equal(result.exitCode, 0)
      assert.equal(result.stderr.toString(), `copied ${big.length} bytes\n`)
      assert.ok(result.stdout.equals(big), `stdout: ${result.stdout.length} bytes of ${big.length}, or different`)
      fs.fstatSync(stdio.fds.stdin)
    } finally {
      stdio.close()
    }
  })

  test('cpuspin with 1000 rounds matches SHA-256 computed in JS', async () => {
    const result = await new WASI({ args: ['cpuspin', '1000'] }).run(fixtureBytes('go:cpuspin'), { stdout: 'pipe' })
    assert.equal(result.exitCode, 0)
    assert.equal(result.stdout.toString(), cpuspinExpected(1000))
  })
})

// ---------------------------------------------------------------- event loop, parallelism

describe('run(): concurrency', () => {
  test('the event loop keeps ticking during a 2-second CPU-bound guest', async (t) => {
    const module = compiledFixture('go:cpuspin')
    let ticks = 0
    let maxGap = 0
    let last = performance.now()
    const timer = setInterval(() => {
      const now = performance.now()
      maxGap = Math.max(maxGap, now - last)
      last = now
      ticks++
    }, 10)
    const t0 = performance.now()
    let result
    let syncMs
    try {
      const promise = new WASI({ args: ['cpuspin'] }).run(module, { stdout: 'pipe' })
      syncMs = performance.now() - t0
      result = await promise
    } finally {
      clearInterval(timer)
    }
    const elapsed = performance.now() - t0
    t.diagnostic(`run() returned after ${syncMs.toFixed(1)} ms; settled after ${elapsed.toFixed(0)} ms; ${ticks} ticks of 10 ms, longest gap ${maxGap.toFixed(0)} ms`)
    assert.equal(result.stdout.toString(), CPUSPIN_DEFAULT)
    assert.ok(elapsed > 300, `the workload took only ${elapsed.toFixed(0)} ms: too short to tell`)
    assert.ok(syncMs < elapsed / 4, `run() blocked for ${syncMs.toFixed(0)} ms of ${elapsed.toFixed(0)} ms`)
    assert.ok(ticks >= Math.min(20, elapsed / 40), `only ${ticks} timer ticks in ${elapsed.toFixed(0)} ms: the event loop was blocked`)
  })

  test('runs of different WASI objects overlap (3 sleeping guests, 1500 ms timeouts)', async (t) => {
    const module = compiledFixture('go:sleepforever')
    const t0 = performance.now()
    const outcomes = await Promise.all(
      [0, 1, 2].map(() => timed(new WASI({}).run(module, { stdout: () => {}, timeout: 1500 }), t0)),
    )
    const total = performance.now() - t0
    t.diagnostic(`3 runs with 1500 ms timeouts settled after ${total.toFixed(0)} ms (sequential would be >= 4500)`)
    for (const { error } of outcomes) assertTimeoutError(error)
    assert.ok(total < 4000, `3 runs took ${total.toFixed(0)} ms: they did not run in parallel`)
  })

  test('parallel runs keep their own stdin and output', async () => {
    const inputs = Array.from({ length: 6 }, (_, i) => `input of run ${i}\n`.repeat(1000 * (i + 1)))
    const results = await Promise.all(
      inputs.map((stdin) => new WASI({}).run(fixtureBytes('go:stdinecho'), { stdin, stdout: 'pipe', stderr: 'pipe' })),
    )
    results.forEach((result, i) => {
      assert.equal(result.exitCode, 0, `run ${i}`)
      assert.equal(result.stdout.toString(), inputs[i], `run ${i}: stdout`)
      assert.equal(result.stderr.toString(), `copied ${inputs[i].length} bytes\n`, `run ${i}: stderr`)
    })
  })

  test('a WASI object runs once: run after run (even while running), start after run, run after start', async () => {
    const bytes = fixtureBytes('go:hello')
    const wasi = new WASI({})
    const first = wasi.run(bytes, { stdout: 'pipe' })
    const second = await settle(() => wasi.run(bytes, { stdout: 'pipe' }))
    assert.equal(second.error?.code, 'ERR_WASI_ALREADY_STARTED', `concurrent second run: ${describeError(second.error)}`)
    assert.equal(second.sync, false, 'the second run() threw instead of rejecting')
    assert.equal((await first).stdout.toString(), 'Hello, Wasm\n')
    await assert.rejects(wasi.run(bytes), { code: 'ERR_WASI_ALREADY_STARTED' })
    assert.throws(() => wasi.start(bytes), { code: 'ERR_WASI_ALREADY_STARTED' })

    const stdio = scratch.stdio()
    try {
      const started = new WASI({ ...stdio.fds })
      assert.equal(started.start(bytes), 0)
      await assert.rejects(started.run(bytes), { code: 'ERR_WASI_ALREADY_STARTED' })
    } finally {
      stdio.close()
    }
  })
})

// ---------------------------------------------------------------- errors

describe('run(): errors reject', () => {
  test('bytes that are not wasm: CompileError', async () => {
    const outcome = await settle(() => new WASI({}).run(Buffer.from('this is not a wasm module')))
    assert.equal(outcome.sync, false, 'run() threw instead of rejecting')
    assert.ok(outcome.error instanceof WebAssembly.CompileError, describeError(outcome.error))
  })

  test('a missing import: LinkError naming it', async () => {
    const outcome = await settle(() => new WASI({}).run(fixtureBytes('wat:missing_import')))
    assert.equal(outcome.sync, false, 'run() threw instead of rejecting')
    assert.ok(outcome.error instanceof WebAssembly.LinkError, describeError(outcome.error))
    assert.match(outcome.error.message, /::/)
  })

  test('a trap: RuntimeError; output written just before it arrives (callbacks and files)', async () => {
    const chunks = { out: [], err: [] }
    const viaCallbacks = await settle(() =>
      new WASI({}).run(fixtureBytes('wat:write_then_trap'), {
        stdout: (c) => chunks.out.push(c),
        stderr: (c) => chunks.err.push(c),
      }),
    )
    assert.ok(viaCallbacks.error instanceof WebAssembly.RuntimeError, describeError(viaCallbacks.error))
    assert.match(viaCallbacks.error.message, /unreachable/)
    assert.equal(Buffer.concat(chunks.out).toString(), 'last words on stdout\n')
    assert.equal(Buffer.concat(chunks.err).toString(), 'last words on stderr\n')

    const stdio = scratch.stdio()
    try {
      await assert.rejects(new WASI({}).run(fixtureBytes('wat:write_then_trap'), { stdout: stdio.fds.stdout, stderr: stdio.fds.stderr }), WebAssembly.RuntimeError)
    } finally {
      stdio.close()
    }
    assert.equal(stdio.read('stdout').toString(), 'last words on stdout\n')
    assert.equal(stdio.read('stderr').toString(), 'last words on stderr\n')
  })

  test('a stdout callback that throws ends the run; run() rejects with that error', async (t) => {
    const thrown = new Error('callback failed')
    const hello = await settle(() => new WASI({}).run(fixtureBytes('go:hello'), { stdout: () => { throw thrown } }))
    assert.equal(hello.error, thrown, `rejected with ${describeError(hello.error)}`)

    // The guest would sleep an hour after its first write: the throw must end it.
    const t0 = performance.now()
    const sleeper = await timed(new WASI({}).run(compiledFixture('go:sleepforever'), { stdout: () => { throw thrown } }), t0)
    t.diagnostic(`sleeping guest ended ${sleeper.ms.toFixed(0)} ms after run()`)
    assert.equal(sleeper.error, thrown, `rejected with ${describeError(sleeper.error)}`)
    assert.ok(sleeper.ms < 5000, `took ${sleeper.ms.toFixed(0)} ms`)
  })
})

// ---------------------------------------------------------------- timeout

describe('run(): timeout', () => {
  const TIMEOUT = 300
  const blockers = [
    { label: 'spinning in pure wasm (infinite_loop)', fixture: 'wat:infinite_loop' },
    { label: 'spinning in pure wasm (infinite_loop), singlepass', fixture: 'wat:infinite_loop', engine: 'singlepass' },
    { label: 'sleeping in poll_oneoff (sleepforever)', fixture: 'go:sleepforever', firstOutput: 'sleeping\n' },
    { label: 'blocked reading an fd stdin that never ends', fixture: 'go:stdinecho', stdin: 'fd' },
    { label: "blocked reading the constructor's ('inherit') stdin that never ends", fixture: 'go:stdinecho', stdin: 'inherit' },
  ]
  for (const { label, fixture: name, engine, firstOutput, stdin } of blockers) {
    test(`rejects with ERR_WASI_TIMEOUT when ${label}`, async (t) => {
      const module = compiledFixture(name, engine)
      const fifo = stdin ? scratch.fifo() : null
      const out = []
      try {
        const wasi = new WASI(stdin === 'inherit' ? { stdin: fifo.fd } : {})
        const t0 = performance.now()
        const { error, ms } = await timed(
          wasi.run(module, { timeout: TIMEOUT, stdout: (c) => out.push(c), ...(stdin === 'fd' ? { stdin: fifo.fd } : {}) }),
          t0,
        )
        t.diagnostic(`rejected ${ms.toFixed(0)} ms after run() (timeout ${TIMEOUT}; ${(ms - TIMEOUT).toFixed(0)} ms late)`)
        assertTimeoutError(error)
        assert.ok(ms >= TIMEOUT - 5, `rejected after ${ms.toFixed(0)} ms, before the ${TIMEOUT} ms deadline`)
        assert.ok(ms < TIMEOUT + SLACK_MS, `rejected ${(ms - TIMEOUT).toFixed(0)} ms after the deadline`)
        if (firstOutput) assert.equal(Buffer.concat(out).toString(), firstOutput)
        if (fifo) fs.fstatSync(fifo.fd) // the caller's fd is still open
      } finally {
        fifo?.close()
      }
    })
  }

  test('a run that ends before its timeout resolves normally', async () => {
    const result = await new WASI({}).run(fixtureBytes('go:hello'), { timeout: 60_000, stdout: 'pipe' })
    assert.equal(result.stdout.toString(), 'Hello, Wasm\n')
  })
})

// ---------------------------------------------------------------- abort

describe('run(): AbortSignal', () => {
  test('aborting a sleeping guest rejects with an AbortError whose cause is the reason', async (t) => {
    const controller = new AbortController()
    const reason = new Error('stop it')
    let aborted
    const run = new WASI({}).run(compiledFixture('go:sleepforever'), {
      signal: controller.signal,
      stdout: (chunk) => {
        if (chunk.toString().includes('sleeping')) {
          setTimeout(() => {
            aborted = performance.now()
            controller.abort(reason)
          }, 50)
        }
      },
    })
    const { error } = await timed(run)
    assert.ok(aborted !== undefined, `settled before the abort: ${describeError(error)}`)
    const late = performance.now() - aborted
    t.diagnostic(`rejected ${late.toFixed(0)} ms after abort()`)
    assertAbortError(error, reason)
    assert.ok(late < SLACK_MS, `rejected ${late.toFixed(0)} ms after abort()`)
  })

  for (const engine of ENGINES) {
    test(`${engine}: aborting a guest spinning in pure wasm`, async (t) => {
      const controller = new AbortController()
      const run = new WASI({ engine }).run(compiledFixture('wat:infinite_loop', engine), { signal: controller.signal })
      await sleep(200)
      const aborted = performance.now()
      controller.abort()
      const { error } = await timed(run)
      const late = performance.now() - aborted
      t.diagnostic(`rejected ${late.toFixed(0)} ms after abort()`)
      assertAbortError(error, controller.signal.reason)
      assert.ok(late < SLACK_MS, `rejected ${late.toFixed(0)} ms after abort()`)
    })
  }

  test('aborting a guest blocked reading stdin', async () => {
    const fifo = scratch.fifo()
    try {
      const controller = new AbortController()
      const run = new WASI({}).run(compiledFixture('go:stdinecho'), { signal: controller.signal, stdin: fifo.fd })
      await sleep(200)
      const aborted = performance.now()
      controller.abort('reason as a string')
      const { error } = await timed(run)
      assertAbortError(error, 'reason as a string')
      assert.ok(performance.now() - aborted < SLACK_MS)
    } finally {
      fifo.close()
    }
  })

  test('an already-aborted signal rejects at once, without running the module', async () => {
    const reason = new Error('aborted before')
    const out = []
    const t0 = performance.now()
    const outcome = await settle(() => new WASI({}).run(fixtureBytes('go:hello'), { signal: AbortSignal.abort(reason), stdout: (c) => out.push(c) }))
    const ms = performance.now() - t0
    assert.equal(outcome.sync, false, 'run() threw instead of rejecting')
    assertAbortError(outcome.error, reason)
    assert.ok(ms < SLACK_MS, `took ${ms.toFixed(0)} ms`)
    await sleep(100)
    assert.equal(out.length, 0, `the module ran and wrote ${JSON.stringify(Buffer.concat(out).toString())}`)
  })

  test('AbortSignal.timeout() works as a signal', async () => {
    const signal = AbortSignal.timeout(200)
    const { error } = await timed(new WASI({}).run(compiledFixture('wat:infinite_loop'), { signal }))
    assertAbortError(error, signal.reason)
    assert.equal(error.cause?.name, 'TimeoutError')
  })

  test('aborting after the run ended changes nothing', async () => {
    const controller = new AbortController()
    const result = await new WASI({}).run(fixtureBytes('go:hello'), { signal: controller.signal, stdout: 'pipe' })
    controller.abort()
    await sleep(50)
    assert.equal(result.exitCode, 0)
    assert.equal(result.stdout.toString(), 'Hello, Wasm\n')
  })
})

// ---------------------------------------------------------------- maxMemory

describe('maxMemory', () => {
  test('memhog dies with "out of memory", exit code 2, well below the limit of 256 MiB it would reach', async () => {
    const result = await new WASI({ args: ['memhog', '256'], maxMemory: 64 << 20 }).run(fixtureBytes('go:memhog'), {
      stdout: 'pipe',
      stderr: 'pipe',
      timeout: 60_000,
    })
    const stderr = result.stderr.toString()
    assert.equal(result.stdout.toString(), '', 'memhog reached 256 MiB: the limit was not applied')
    assert.match(stderr, /out of memory/)
    assert.equal(result.exitCode, 2)
    const counts = [...stderr.matchAll(/allocated (\d+) MiB/g)].map((m) => Number(m[1]))
    assert.ok(counts.every((n) => n <= 64), `allocated up to ${Math.max(...counts)} MiB under a 64 MiB limit`)
  })

  test('memory.grow returns -1 at the limit: 1 MiB → 16 pages, 1.5 MiB → 24, 100000 bytes → 1, none → 1024', async () => {
    const cases = [
      [1 << 20, 16],
      [1.5 * (1 << 20), 24],
      [100000, 1],
      [undefined, 1024],
    ]
    for (const [maxMemory, pages] of cases) {
      const result = await new WASI(maxMemory === undefined ? {} : { maxMemory }).run(fixtureBytes('wat:grow_until_fail'), { stdout: 'pipe' })
      assert.equal(result.stdout.toString(), `pages: ${pages}\n`, `maxMemory ${maxMemory}`)
    }
  })

  test("run()'s maxMemory overrides the constructor's", async () => {
    const result = await new WASI({ maxMemory: 1 << 20 }).run(fixtureBytes('wat:grow_until_fail'), { stdout: 'pipe', maxMemory: 32 * PAGE })
    assert.equal(result.stdout.toString(), 'pages: 32\n')
  })

  for (const engine of ENGINES) {
    test(`${engine}: applies to start(bytes) too`, () => {
      const stdio = scratch.stdio()
      try {
        assert.equal(new WASI({ engine, maxMemory: 4 * PAGE, ...stdio.fds }).start(fixtureBytes('wat:grow_until_fail')), 0)
      } finally {
        stdio.close()
      }
      assert.equal(stdio.read('stdout').toString(), 'pages: 4\n')
    })
  }

  for (const bad of [0, -1, 1.5, '1048576', null]) {
    test(`new WASI({ maxMemory: ${JSON.stringify(bad)} }) throws a TypeError naming maxMemory`, () => {
      let error
      try {
        new WASI({ maxMemory: bad })
      } catch (err) {
        error = err
      }
      assertArgError(error, 'maxMemory')
    })
  }
})

// ---------------------------------------------------------------- clean endings

describe('run(): every ending releases descriptors and the thread', () => {
  // Each ending, with a preopen (a directory descriptor) and piped stdio, so
  // descriptors left behind show up in /proc/self/fd.
  const endings = [
    { label: 'exit', fixture: 'go:exit', args: ['exit', '3'], expect: (o) => assert.equal(o.value?.exitCode, 3, describeError(o.error)) },
    { label: 'trap', fixture: 'wat:trap_unreachable', expect: (o) => assert.ok(o.error instanceof WebAssembly.RuntimeError, describeError(o.error)) },
    { label: 'timeout in pure wasm', fixture: 'wat:infinite_loop', options: () => ({ timeout: 200 }), expect: (o) => assertTimeoutError(o.error) },
    { label: 'timeout while sleeping', fixture: 'go:sleepforever', options: () => ({ timeout: 200 }), expect: (o) => assertTimeoutError(o.error) },
    { label: 'timeout while reading stdin', fixture: 'go:stdinecho', fifo: true, options: () => ({ timeout: 200 }), expect: (o) => assertTimeoutError(o.error) },
    {
      label: 'abort',
      fixture: 'go:sleepforever',
      options: () => ({ signal: AbortSignal.timeout(200) }), // a signal is single-use
      expect: (o) => assert.equal(o.error?.code, 'ABORT_ERR', describeError(o.error)),
    },
    {
      label: 'a throwing stdout callback',
      fixture: 'go:sleepforever',
      options: () => ({ stdout: () => { throw new Error('callback') } }),
      expect: (o) => assert.equal(o.error?.message, 'callback', describeError(o.error)),
    },
  ]

  for (const ending of endings) {
    test(ending.label, async (t) => {
      const module = compiledFixture(ending.fixture)
      const sandbox = fs.mkdtempSync(path.join(scratch.dir, 'preopen-'))
      const fifo = ending.fifo ? scratch.fifo() : null
      const once = async () => {
        const options = { stdout: 'pipe', stderr: 'pipe', ...(fifo ? { stdin: fifo.fd } : {}), ...ending.options?.() }
        const outcome = await timed(new WASI({ args: ending.args, preopens: { '/sandbox': sandbox } }).run(module, options))
        ending.expect(outcome)
      }
      try {
        await once() // warm-up: lazily created process-wide resources
        // Threads of earlier runs may still be on their way out.
        const fds = await settled(fdCount)
        const threads = await settled(threadCount)
        for (let i = 0; i < 3; i++) await once()
        const fdsAfter = await waitAtMost(fdCount, fds)
        const threadsAfter = await waitAtMost(threadCount, threads, 2000)
        t.diagnostic(`fds ${fds} -> ${fdsAfter.value} (${fdsAfter.ms.toFixed(0)} ms); threads ${threads} -> ${threadsAfter.value} (${threadsAfter.ms.toFixed(0)} ms)`)
        assert.ok(fdsAfter.value <= fds, `${fdsAfter.value - fds} more open descriptors after 3 runs`)
        assert.ok(threadsAfter.value <= threads, `${threadsAfter.value - threads} more threads after 3 runs`)
      } finally {
        fifo?.close()
      }
    })
  }

  test('a guest spinning in pure wasm stops burning CPU once its run timed out', async (t) => {
    const { error } = await timed(new WASI({}).run(compiledFixture('wat:infinite_loop'), { timeout: 200 }))
    assertTimeoutError(error)
    const before = process.cpuUsage()
    await sleep(1000)
    const used = process.cpuUsage(before)
    const ms = (used.user + used.system) / 1000
    t.diagnostic(`${ms.toFixed(0)} ms of CPU in the 1000 ms after the timeout`)
    assert.ok(ms < 500, `the process used ${ms.toFixed(0)} ms of CPU in 1000 ms: the guest is still spinning`)
  })
})

// ---------------------------------------------------------------- in a child process

function runChild(source) {
  const prelude = `const { WASI } = require(${JSON.stringify(PACKAGE_ROOT)}); const fs = require('node:fs');\n`
  const t0 = performance.now()
  const child = spawnSync(process.execPath, ['-e', prelude + source], { encoding: 'utf8', timeout: 120_000 })
  assert.equal(child.error, undefined, `child failed to run: ${child.error}`)
  return { ...child, ms: performance.now() - t0 }
}

describe('run() in a child process', () => {
  test('returnOnExit: false does not apply: run() resolves with the exit code, Node lives on', () => {
    const child = runChild(`
      new WASI({ args: ['exit', '3'], returnOnExit: false })
        .run(fs.readFileSync(${JSON.stringify(fixture('go:exit'))}))
        .then((r) => console.log('resolved', r.exitCode), (e) => console.log('rejected', e.message))
    `)
    assert.equal(child.signal, null, `child died of ${child.signal}; stderr: ${child.stderr}`)
    assert.equal(child.stdout, 'exiting with 3\nresolved 3\n', `stderr: ${child.stderr}`)
    assert.equal(child.status, 0)
  })

  test('a finished run with a long timeout and a signal leaves nothing keeping Node alive', (t) => {
    const child = runChild(`
      const controller = new AbortController()
      new WASI({}).run(fs.readFileSync(${JSON.stringify(fixture('go:hello'))}), { timeout: 60_000, signal: controller.signal, stdout: 'pipe' })
        .then((r) => console.log(String(r.stdout).trim(), r.exitCode))
    `)
    t.diagnostic(`child ran for ${child.ms.toFixed(0)} ms`)
    assert.equal(child.stdout, 'Hello, Wasm 0\n', `stderr: ${child.stderr}`)
    assert.equal(child.status, 0)
    assert.ok(child.ms < 30_000, `the child lived ${child.ms.toFixed(0)} ms: a timer or handle outlived the run`)
  })

  test('a timed-out guest does not keep Node from exiting', (t) => {
    const child = runChild(`
      new WASI({}).run(fs.readFileSync(${JSON.stringify(fixture('wat:infinite_loop'))}), { timeout: 300 })
        .catch((e) => console.log(e.code))
    `)
    t.diagnostic(`child ran for ${child.ms.toFixed(0)} ms`)
    assert.equal(child.signal, null, `child died of ${child.signal}; stderr: ${child.stderr}`)
    assert.equal(child.stdout, 'ERR_WASI_TIMEOUT\n', `stderr: ${child.stderr}`)
    assert.equal(child.status, 0)
    assert.ok(child.ms < 30_000, `the child lived ${child.ms.toFixed(0)} ms`)
  })
})

// ---------------------------------------------------------------- argument checks

describe('run(): bad arguments are TypeErrors naming the option', () => {
  const bad = [
    ['timeout', { timeout: -1 }],
    ['timeout', { timeout: 0 }],
    ['timeout', { timeout: 1.5 }],
    ['timeout', { timeout: '100' }],
    ['stdout', { stdout: 'bogus' }],
    ['stdout', { stdout: -1 }],
    ['stderr', { stderr: 'bogus' }],
    ['stderr', { stderr: {} }],
    ['stdin', { stdin: {} }],
    ['stdin', { stdin: 1.5 }],
    ['stdin', { stdin: null }],
    ['signal', { signal: {} }],
    ['signal', { signal: 'abort' }],
    ['imports', { imports: { env: { f: 1 } } }],
    ['imports', { imports: 'env' }],
    ['maxMemory', { maxMemory: 0 }],
    ['maxMemory', { maxMemory: -1 }],
  ]
  for (const [option, options] of bad) {
    const shown = JSON.stringify(options[option]) ?? String(options[option])
    test(`${option}: ${shown}`, async () => {
      const out = []
      const { error } = await settle(() => new WASI({}).run(fixtureBytes('go:hello'), { stdout: (c) => out.push(c), ...options }))
      assertArgError(error, option)
      assert.equal(out.length, 0, 'the module ran despite the bad option')
    })
  }

  test('options that are not an object', async () => {
    assertArgError((await settle(() => new WASI({}).run(fixtureBytes('go:hello'), 'pipe'))).error, 'options')
  })

  for (const [label, source] of [['a string', 'hello.wasm'], ['a plain object', {}], ['null', null], ['a number', 42]]) {
    test(`source: ${label}`, async () => {
      assertArgError((await settle(() => new WASI({}).run(source))).error, 'source')
    })
  }
})
