'use strict'
// engine: 'auto' (the default): a module never seen runs on a fast tier at
// once (start(bytes): V8 where it can honour everything, else Singlepass;
// compile(): Singlepass); one seen before also gets Cranelift compiling it
// into the disk cache in a background process; from then on runs load the
// optimized code. Whatever tier runs, every case of the table has the same
// outcome, the native one. Caches are temporary directories, removed at the end.

const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { test, describe, after } = require('node:test')

const { WASI, compile } = require('..')
const { cases, runCase, assertOutcome } = require('./cases')
const { fixture, fixtureBytes } = require('./fixtures')

const ROOT = path.resolve(__dirname, '..')
const CLI = path.join(ROOT, 'bin', 'x-wasi.js')
const LAUNCHER = path.join(ROOT, 'bin', 'x-wasi')

const dirs = []
after(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })))
function tempDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'x-wasi-tiering-'))
  dirs.push(dir)
  return dir
}

const entries = (dir) => fs.readdirSync(dir).filter((name) => name.endsWith('.module'))

// A child process: compiles the fixture with the default engine, runs it,
// prints `engine origin optimizeLater` on stderr.
const CHILD = `
const { WASI, compile } = require(process.argv[1])
const module = compile(require('node:fs').readFileSync(process.argv[2]))
const code = new WASI({ returnOnExit: true }).start(module)
process.stderr.write([module.engine, module.origin, module.optimizeLater].join(' '))
process.exitCode = code
`

// The same with start(bytes): prints `wasi.tier`.
const START_CHILD = `
const { WASI } = require(process.argv[1])
const wasi = new WASI({ returnOnExit: true })
const code = wasi.start(require('node:fs').readFileSync(process.argv[2]))
process.stderr.write(wasi.tier)
process.exitCode = code
`

function runInChild(wasm, cacheDir, script = CHILD) {
  const child = spawnSync(process.execPath, ['-e', script, ROOT, wasm], {
    encoding: 'utf8',
    env: { ...process.env, X_WASI_CACHE_DIR: cacheDir, X_WASI_NO_BACKGROUND_COMPILE: '' },
  })
  assert.equal(child.status, 0, child.stderr)
  return { tier: child.stderr, stdout: child.stdout }
}

/** Waits until the background compile is done: its lock file is gone. */
async function backgroundDone(dir) {
  // Not a timing assertion: a generous ceiling so a lost process fails the
  // test instead of hanging it.
  for (let waited = 0; waited < 300_000; waited += 100) {
    if (!fs.readdirSync(dir).some((name) => name.endsWith('.compiling') || name.endsWith('.wasm.tmp'))) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  assert.fail('the background compile did not finish')
}

test('auto: fast tier at first, optimized code once the module is seen again', async () => {
  const dir = tempDir()
  const hello = fixture('go:hello')

  const first = runInChild(hello, dir)
  assert.equal(first.tier, 'singlepass compiled false', 'a module never seen: fast tier, nothing compiled later')
  assert.equal(first.stdout, 'Hello, Wasm\n')
  assert.deepEqual(entries(dir), [], 'the fast tier is not stored')

  const second = runInChild(hello, dir)
  assert.equal(second.tier, 'singlepass compiled true', 'seen before: fast tier now, Cranelift in the background')
  assert.equal(second.stdout, first.stdout)
  await backgroundDone(dir)
  assert.equal(entries(dir).length, 1, 'the background compile stored Cranelift code')

  const third = runInChild(hello, dir)
  assert.equal(third.tier, 'cranelift disk false', 'optimized code from the run where it exists')
  assert.equal(third.stdout, first.stdout)
})

test('auto, start(bytes): V8 at first, optimized code once the module is seen again', async () => {
  const dir = tempDir()
  const hello = fixture('go:hello')

  const first = runInChild(hello, dir, START_CHILD)
  assert.equal(first.tier, 'v8', 'a module never seen: V8 at once')
  assert.equal(first.stdout, 'Hello, Wasm\n')
  assert.deepEqual(entries(dir), [], 'nothing compiled, nothing stored')
  assert.equal(fs.readdirSync(dir).filter((name) => name.endsWith('.seen')).length, 1, 'the module is marked seen')

  const second = runInChild(hello, dir, START_CHILD)
  assert.equal(second.tier, 'v8', 'seen before: V8 now, Cranelift in the background')
  assert.equal(second.stdout, first.stdout)
  await backgroundDone(dir)
  assert.equal(entries(dir).length, 1, 'the background compile stored Cranelift code')

  const third = runInChild(hello, dir, START_CHILD)
  assert.equal(third.tier, 'cranelift', 'optimized code from the run where it exists')
  assert.equal(third.stdout, first.stdout)
})

test('auto, start(bytes): options and modules V8 cannot honour take a native tier', async () => {
  const cacheDir = tempDir()
  const start = (fixtureName, options = {}, imports) => {
    const wasi = new WASI({ returnOnExit: true, cacheDir, stdout: fs.openSync('/dev/null', 'w'), ...options })
    let error = null
    try {
      wasi.start(fixtureBytes(fixtureName), imports)
    } catch (err) {
      error = err
    }
    return { tier: wasi.tier, error }
  }
  assert.equal(start('wat:hello_unstable').tier, 'v8')
  assert.equal(start('wat:hello_unstable', { maxMemory: 1 << 20 }).tier, 'singlepass', 'maxMemory: V8 cannot cap its memory')
  assert.equal(start('wat:hello_unstable', { engine: 'singlepass' }).tier, 'singlepass', "'singlepass' forces Singlepass")
  // In a worker, worker.terminate() must stop a guest blocked in a syscall:
  // only the native path (the guest on a thread of its own) can.
  const { Worker } = require('node:worker_threads')
  const inWorker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads')
     const { WASI } = require(workerData.root)
     const wasi = new WASI({ cacheDir: workerData.cacheDir, stdout: require('node:fs').openSync('/dev/null', 'w') })
     wasi.start(require('node:fs').readFileSync(workerData.wasm))
     parentPort.postMessage(wasi.tier)`,
    { eval: true, workerData: { root: ROOT, cacheDir, wasm: fixture('wat:hello_unstable') } },
  )
  const workerTier = await new Promise((resolve, reject) => inWorker.once('message', resolve).once('error', reject))
  assert.equal(workerTier, 'singlepass', 'a worker thread takes the native path')
  // Host functions run natively (a module importing one is not V8's);
  // host functions a module does not import change nothing.
  const calls = []
  const host = { env: { log: (n) => calls.push(n) } }
  assert.equal(start('wat:hello_unstable', { imports: host }).tier, 'v8')
  const withHost = start('wat:host_throw', {}, { env: { fail: () => { throw new Error('from the host') } } })
  assert.notEqual(withHost.tier, 'v8')
  // A link error is the native one, from the native path.
  const missing = start('wat:missing_import')
  assert.equal(missing.tier, 'singlepass', 'the native path reported it')
  assert.ok(missing.error instanceof WebAssembly.LinkError)
  assert.match(missing.error.message, /^WebAssembly\.Instance\(\): unknown import\(s\) not provided by WASI or the host: env::nope, wasi_snapshot_preview1::not_a_syscall$/)
  // A reactor (no _start): V8 gives up before running anything; the native
  // path says why, and marks the module seen once.
  const reactorDir = tempDir()
  const reactor = start('wat:reactor', { cacheDir: reactorDir })
  assert.equal(reactor.tier, 'singlepass')
  assert.equal(`${reactor.error}`, `${start('wat:reactor', { engine: 'singlepass' }).error}`)
  assert.match(`${reactor.error}`, /has no '_start' export/)
  assert.deepEqual(fs.readdirSync(reactorDir).map((name) => path.extname(name)), ['.seen'])
  // An invalid module: the native CompileError.
  const invalid = Buffer.from('\0asm\x01\0\0\0\x01')
  const errors = ['auto', 'singlepass'].map((engine) => {
    try {
      new WASI({ engine, cacheDir }).start(invalid)
    } catch (err) {
      return `${err.constructor.name}: ${err.message}`
    }
  })
  assert.match(errors[0], /^CompileError: WebAssembly\.Module\(\): /)
  assert.equal(errors[0], errors[1])
})

test('auto, start(bytes) on V8: wasi.memory, a second start and proc_exit as natively', () => {
  const cacheDir = tempDir()
  const bytes = fixtureBytes('wat:mixed_namespaces')
  const behaviour = (engine) => {
    const wasi = new WASI({ returnOnExit: true, cacheDir, engine, stdout: fs.openSync('/dev/null', 'w') })
    const code = wasi.start(bytes)
    const memory = (() => {
      try {
        return wasi.memory.buffer
      } catch (err) {
        return err.code
      }
    })()
    const again = (() => {
      try {
        return wasi.start(bytes)
      } catch (err) {
        return err.code
      }
    })()
    return { tier: wasi.tier, outcome: { code, memory, again } }
  }
  const v8 = behaviour('auto')
  assert.equal(v8.tier, 'v8')
  const native = behaviour('singlepass')
  assert.deepEqual(v8.outcome, native.outcome)
  assert.deepEqual(v8.outcome, { code: 7, memory: 'ERR_WASI_NO_MEMORY', again: 'ERR_WASI_ALREADY_STARTED' })

  // proc_exit without returnOnExit ends the process with its code.
  const script = `
    const { WASI } = require(process.argv[1])
    const wasi = new WASI({ returnOnExit: false, engine: process.argv[3], args: ['exit', '42'] })
    wasi.start(require('node:fs').readFileSync(process.argv[2]))
    process.stdout.write('not reached')
  `
  for (const engine of ['auto', 'singlepass']) {
    const child = spawnSync(process.execPath, ['-e', script, ROOT, fixture('go:exit'), engine], {
      encoding: 'utf8',
      env: { ...process.env, X_WASI_CACHE_DIR: cacheDir },
    })
    assert.equal(child.status, 42, `${engine}: ${child.stderr}`)
    assert.equal(child.stdout, 'exiting with 42\n', engine)
  }
})

test('auto, start(bytes) on V8: trap messages equal the native ones, character for character', async () => {
  const cacheDir = tempDir()
  const outcome = (bytes, engine) => {
    const wasi = new WASI({ returnOnExit: true, cacheDir, engine, stdout: fs.openSync('/dev/null', 'w'), stderr: fs.openSync('/dev/null', 'w') })
    try {
      wasi.start(bytes)
      return { tier: wasi.tier, error: null }
    } catch (err) {
      return { tier: wasi.tier, error: `${err.constructor.name}: ${err.message}` }
    }
  }
  const wabt = await require('wabt')()
  // Without a name section (functions as <module>[index]), with imports
  // shifting the indexes, and traps the case table lacks.
  const watModules = {
    unnamed: `(module (import "wasi_snapshot_preview1" "sched_yield" (func (result i32)))
      (memory (export "memory") 1) (func unreachable) (func (call 1)) (func (export "_start") (call 2)))`,
    remainder: '(module (memory (export "memory") 1) (func $f (drop (i32.rem_u (i32.const 1) (i32.const 0)))) (func (export "_start") (call $f)))',
    overflow: '(module (memory (export "memory") 1) (func (export "_start") (drop (i32.div_s (i32.const 0x80000000) (i32.const -1)))))',
    table: '(module (type $t (func)) (memory (export "memory") 1) (table 1 funcref) (func (export "_start") (call_indirect (type $t) (i32.const 5))))',
    memoryFill: '(module (memory (export "memory") 1) (func (export "_start") (memory.fill (i32.const 65530) (i32.const 0) (i32.const 100))))',
  }
  const modules = Object.entries(watModules).map(([name, text]) => [name, Buffer.from(wabt.parseWat(`${name}.wat`, text).toBinary({ write_debug_names: name !== 'unnamed' }).buffer)])
  for (const name of ['trap_unreachable', 'trap_div_zero', 'trap_oob', 'trap_stack_overflow', 'trap_indirect_mismatch', 'write_then_trap']) {
    modules.push([name, fixtureBytes(`wat:${name}`)])
  }
  for (const [name, bytes] of modules) {
    const v8 = outcome(bytes, 'auto')
    assert.equal(v8.tier, 'v8', name)
    assert.ok(v8.error, name)
    assert.equal(v8.error, outcome(bytes, 'singlepass').error, name)
  }
})

test('x-wasi, default engine: V8 at first, the native outcome either way', () => {
  const dir = tempDir()
  const env = { ...process.env, X_WASI_CACHE_DIR: dir }
  for (const name of ['go:hello', 'go:exit', 'wat:trap_unreachable', 'wat:trap_stack_overflow', 'wat:missing_import']) {
    const run = (extra) => spawnSync(process.execPath, [CLI, ...extra, fixture(name), '3'], { encoding: 'utf8', env })
    const auto = run([])
    const native = run(['--engine', 'singlepass'])
    assert.deepEqual([auto.status, auto.stdout, auto.stderr], [native.status, native.stdout, native.stderr], name)
  }
})

test('auto: without a disk cache, the fast tier; a module Singlepass refuses gets Cranelift', () => {
  const hello = fixtureBytes('wat:hello_unstable')
  const module = compile(hello, { cache: false })
  assert.equal(module.engine, 'singlepass')
  assert.equal(module.optimizeLater, false)
  module.release()
  // Multi-value results: Cranelift compiles them, Singlepass does not.
  const multi = compile(fixtureBytes('wat:host_multivalue'), { cache: false })
  assert.equal(multi.engine, 'cranelift')
  const forced = compile(hello, { engine: 'cranelift', cache: false })
  assert.equal(forced.engine, 'cranelift', "'cranelift' still forces Cranelift")
  // Released: a live Cranelift module would be used by the tests below.
  forced.release()
  multi.release()
  assert.throws(() => compile(Buffer.from('\0asm\x01\0\0\0\x01'), { cache: false }), WebAssembly.CompileError)
})

test('auto: a live Cranelift module of the same bytes is used', () => {
  const bytes = fixtureBytes('wat:mixed_namespaces')
  const optimized = compile(bytes, { engine: 'cranelift', cache: false })
  const again = compile(bytes, { cache: false })
  assert.equal(again.engine, 'cranelift')
  assert.equal(again.origin, 'memory')
  optimized.release()
  again.release()
})

test('x-wasi --engine auto runs; other names are refused', () => {
  const dir = tempDir()
  const run = spawnSync(process.execPath, [CLI, '--engine', 'auto', fixture('go:hello')], {
    encoding: 'utf8',
    env: { ...process.env, X_WASI_CACHE_DIR: dir },
  })
  assert.equal(run.status, 0, run.stderr)
  assert.equal(run.stdout, 'Hello, Wasm\n')
  const bad = spawnSync(process.execPath, [CLI, '--engine', 'llvm', fixture('go:hello')], { encoding: 'utf8' })
  assert.equal(bad.status, 2)
  assert.match(bad.stderr, /unknown engine 'llvm' \(expected auto, cranelift, singlepass\)/)
})

// The case table under 'auto': cold (V8 runs every case it can, Singlepass
// the rest) and warm (Cranelift's code from the disk cache): the same
// outcomes, the native ones (not the table's `expect.v8`).
describe('every case, native mode, auto', () => {
  const cacheDir = tempDir()
  process.env.X_WASI_CACHE_DIR = cacheDir
  // This block checks outcomes, not the background compile.
  process.env.X_WASI_NO_BACKGROUND_COMPILE = '1'
  // Records which tier each start ran.
  let tier
  class RecordingWASI extends WASI {
    start(...args) {
      try {
        return super.start(...args)
      } finally {
        tier = this.tier
      }
    }
  }
  for (const state of ['cold', 'warm']) {
    for (const caseDef of cases) {
      test(`${state}: ${caseDef.name}`, async () => {
        const bytes = fixtureBytes(caseDef.fixture)
        // V8 cannot link a module with imports WASI lacks: the native path
        // reports them.
        let expected = caseDef.expect.error?.type === 'LinkError' ? 'singlepass' : 'v8'
        if (state === 'warm') {
          compile(bytes, { engine: 'cranelift', cacheDir }).release()
          expected = 'cranelift'
        } else {
          for (const name of entries(cacheDir)) fs.rmSync(path.join(cacheDir, name))
        }
        tier = undefined
        const result = await runCase(caseDef, { engine: 'auto', mode: 'native', WASI: RecordingWASI })
        assert.equal(tier, expected)
        assertOutcome(caseDef, result)
      })
    }
  }
})

test('the syscalls a V8-tier guest makes before the validation is known are syscalls of both names', () => {
  const { UNSEEN_OUTSIDE } = require('../lib/v8-bridge')
  const wasi = new WASI({ version: 'preview1' })
  const names = [wasi.getImportObject().wasi_snapshot_preview1, new WASI({ version: 'unstable' }).getImportObject().wasi_unstable].map((imports) => Object.keys(imports))
  for (const name of UNSEEN_OUTSIDE) {
    for (const list of names) assert.ok(list.includes(name), `${name} is not a syscall`)
  }
  // Nothing that writes, reads a stream, opens or exits waits for nothing.
  for (const name of ['fd_write', 'fd_read', 'path_open', 'proc_exit', 'poll_oneoff', 'fd_fdstat_set_flags']) {
    assert.ok(!UNSEEN_OUTSIDE.has(name), name)
  }
})

test('a module V8 runs but wasmer refuses (a tail call) fails as natively, from start(bytes) and x-wasi, and nothing it wrote comes out', async () => {
  const wabt = await require('wabt')()
  // It reads the clock (nothing outside can tell), then writes to stdout:
  // V8 has run that far before wasmer's verdict counts.
  const parsed = wabt.parseWat('tail_call.wat', `(module
    (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "seen\\n")
    (func $zero (result i32) (i32.const 0))
    (func $tail (result i32) (return_call $zero))
    (func (export "_start")
      (drop (call $clock (i32.const 0) (i64.const 0) (i32.const 32)))
      (i32.store (i32.const 0) (i32.const 16))
      (i32.store (i32.const 4) (i32.const 5))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (drop (call $tail))))`, { tail_call: true })
  const bytes = Buffer.from(parsed.toBinary({}).buffer)
  parsed.destroy()
  assert.ok(WebAssembly.validate(bytes), 'V8 would run it')
  const native = (() => {
    try {
      compile(bytes, { engine: 'singlepass', cache: false })
    } catch (err) {
      return err
    }
    assert.fail('wasmer compiled a tail call')
  })()
  assert.ok(native instanceof WebAssembly.CompileError)
  const dir = tempDir()
  const out = path.join(dir, 'stdout')
  const fd = fs.openSync(out, 'w')
  try {
    // Twice: a module wasmer refuses is no sighting, so the second run
    // starts no background compile (which could only fail).
    for (let run = 0; run < 2; run++) {
      const wasi = new WASI({ cacheDir: dir, stdout: fd })
      assert.throws(() => wasi.start(bytes), (err) => err instanceof WebAssembly.CompileError && err.message === native.message)
      assert.equal(wasi.tier, null, 'no tier ran it')
    }
  } finally {
    fs.closeSync(fd)
  }
  assert.equal(fs.readFileSync(out, 'utf8'), '')
  assert.deepEqual(fs.readdirSync(dir).filter((name) => /\.(seen|compiling)$|\.wasm\.tmp$/.test(name)), [], 'no marker, no background compile')
  // x-wasi, V8 on a worker (plain node) and on the main thread (launcher).
  const wasm = path.join(dir, 'tail_call.wasm')
  fs.writeFileSync(wasm, bytes)
  const env = { ...process.env, X_WASI_CACHE_DIR: dir }
  const singlepass = spawnSync(process.execPath, [CLI, '--engine', 'singlepass', wasm], { encoding: 'utf8', env })
  assert.match(singlepass.stderr, /CompileError: .*tail call/)
  const worker = spawnSync(process.execPath, [CLI, wasm], { encoding: 'utf8', env })
  const launcher = spawnSync(LAUNCHER, [wasm], { encoding: 'utf8', env: { ...env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${env.PATH}` } })
  for (const auto of [worker, launcher]) {
    assert.deepEqual([auto.status, auto.stdout, auto.stderr], [singlepass.status, singlepass.stdout, singlepass.stderr])
  }
})
