#!/usr/bin/env node
'use strict'

// Fuzzes the addon's two untrusted inputs; the rule is that Node never
// crashes (and never hangs where it must not).
//
// modules   random bytes and mutated real modules (bit flips, byte changes,
//           truncations, insertions, deletions, duplicated ranges, section
//           swaps / drops / duplicates / size corruption, splices) given to
//           compile() and then start() (native, Cranelift or Singlepass) or
//           to V8 with getImportObject() + start(instance). Each input runs
//           in a pool of worker processes with a watchdog: a worker that dies
//           is a crash; one that does not answer in time while compiling is
//           a hang. A guest still running at the time limit is counted
//           apart (CPU time is not limited; a mutated loop may never end).
//           Some inputs run with run() and a short timeout (wasmer's SIGUSR1
//           interrupts), and the parent sends the worker foreign SIGUSR1s
//           all along (it listens, as an app would). Reactor inputs
//           (`conversions`) are instantiated natively and by V8, and their
//           exports, globals and memory.grow get random JS values (BigInts,
//           out-of-range and non-numbers): a conversion error on one side
//           must be the same error class on the other. Host functions of
//           `lend` inputs do what JS may do with the guest memory they are
//           lent (keep, transfer, structuredClone with a transfer list,
//           resize, write), and every kept buffer is read and written after
//           the run; `worker` inputs start() natively in a worker thread that
//           is terminated at a random moment (it must take under a second).
// syscalls  every wasiImport function of both WASI names in V8 mode, after
//           initialize() with a memory of 1-2 pages, called with random
//           argument values: pointers and lengths at and past the end of
//           memory, huge and negative values, i64 as BigInt extremes (and
//           as Numbers, and now and then values of the wrong JS type), with
//           a shared memory (a SharedArrayBuffer) one time in five.
//           Each call must return an errno (a Number 0..76) or throw a JS
//           error. Canary ArrayBuffers (allocated on both sides of the guest
//           memory) and a second, untouched wasm memory must keep their
//           content; a canary file beside the preopens must stay as it was.
//
//   node scripts/fuzz.js [--seconds 60] [--seed N] [--target all|modules|syscalls]
//                        [--module-workers 1] [--syscall-workers 1]
//                        [--compile-timeout 30000] [--run-timeout 3000]
//   node scripts/fuzz.js --replay fuzz/findings/<file>.wasm [--engine cranelift] [--mode native|run|v8|conversions|lend|worker] [--seed N]
//   node scripts/fuzz.js --syscall-replay <worker seed>:<call number>   (from a syscalls finding)
//
// Seeds: fuzz/corpus/*.wat (ours, as text) and the test fixtures built from
// source (Go hello, __test__/fixtures/wat/*). Module outcomes that ran are
// added to the corpus in memory. Crashing or hanging inputs go to
// fuzz/findings/, and so do inputs that made a compiler panic (the addon
// turns the panic into a CompileError and replaces the engine it poisoned;
// the worker carries on, so a regression there shows as later crashes). The same --seed gives the same inputs (with one worker
// per target; timing decides the order of results with more).
// Exit status: 0 when nothing crashed or hung, 1 otherwise.

const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { fork } = require('node:child_process')

const ROOT = path.resolve(__dirname, '..')
const CORPUS_DIR = path.join(ROOT, 'fuzz', 'corpus')
const FINDINGS_DIR = path.join(ROOT, 'fuzz', 'findings')

// ---------------------------------------------------------------- random

// mulberry32: small, fast, seedable.
function makeRandom(seed) {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
  const random = {
    u32: next,
    int: (n) => (n <= 0 ? 0 : next() % n),
    below: (n) => Math.floor((next() / 0x100000000) * n),
    chance: (p) => next() / 0x100000000 < p,
    pick: (list) => list[next() % list.length],
    bytes: (n) => {
      const out = Buffer.alloc(n)
      for (let i = 0; i < n; i++) out[i] = next() & 0xff
      return out
    },
    u64: () => (BigInt(next()) << 32n) | BigInt(next()),
  }
  return random
}

// ---------------------------------------------------------------- options

function parseArgs(argv) {
  const options = {
    seconds: 60,
    seed: crypto.randomBytes(4).readUInt32LE(),
    target: 'all',
    moduleWorkers: 1,
    syscallWorkers: 1,
    compileTimeout: 30_000,
    runTimeout: 3_000,
    engine: 'cranelift',
    mode: 'native',
  }
  const names = {
    '--seconds': ['seconds', Number],
    '--seed': ['seed', (v) => Number(v) >>> 0],
    '--target': ['target', String],
    '--module-workers': ['moduleWorkers', Number],
    '--syscall-workers': ['syscallWorkers', Number],
    '--compile-timeout': ['compileTimeout', Number],
    '--run-timeout': ['runTimeout', Number],
    '--replay': ['replay', String],
    '--syscall-replay': ['syscallReplay', String],
    '--engine': ['engine', String],
    '--mode': ['mode', String],
  }
  for (let i = 0; i < argv.length; i++) {
    let [flag, value] = argv[i].split(/=(.*)/s)
    if (flag === '--help' || flag === '-h') {
      process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(3, 36).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n')
      process.exit(0)
    }
    if (!names[flag]) throw new Error(`unknown option ${flag}`)
    if (value === undefined) value = argv[++i]
    const [key, convert] = names[flag]
    options[key] = convert(value)
  }
  if (!['all', 'modules', 'syscalls'].includes(options.target)) throw new Error(`--target: all, modules or syscalls`)
  return options
}

// ---------------------------------------------------------------- seeds

// Fixtures that would only repeat a known outcome on every mutant: one
// spins until the run's timeout, the other uses multi-value, which
// Singlepass refuses with a (caught) compiler panic — a wasmer limitation
// pinned by __test__/host-functions.test.js.
const NOT_SEEDS = new Set(['wat:infinite_loop', 'wat:host_multivalue'])

async function loadSeeds() {
  const { watToWasm } = require(path.join(ROOT, '__test__', 'raw-guest.js'))
  const { fixture } = require(path.join(ROOT, '__test__', 'fixtures.js'))
  const seeds = []
  for (const file of fs.readdirSync(CORPUS_DIR).filter((f) => f.endsWith('.wat')).sort()) {
    const wat = fs.readFileSync(path.join(CORPUS_DIR, file), 'utf8')
    seeds.push({ name: `corpus/${file}`, bytes: await watToWasm(wat, file) })
  }
  const fixturesWat = path.join(ROOT, '__test__', 'fixtures', 'wat')
  for (const file of fs.readdirSync(fixturesWat).filter((f) => f.endsWith('.wat')).sort()) {
    const name = `wat:${path.basename(file, '.wat')}`
    if (NOT_SEEDS.has(name)) continue
    // wat:conversions has a multi-value import, which Singlepass refuses
    // with a (caught) compiler panic: it and what grows from it use Cranelift.
    seeds.push({ name, bytes: fs.readFileSync(fixture(name)), craneliftOnly: name === 'wat:conversions' })
  }
  seeds.push({ name: 'go:hello', bytes: fs.readFileSync(fixture('go:hello')) })
  // Only for worker.terminate() (mode 'worker'): they run until stopped.
  for (const name of ['wat:infinite_loop', 'wat:poll_stdin', 'go:sleepforever']) {
    seeds.push({ name, bytes: fs.readFileSync(fixture(name)), endless: true })
  }
  return seeds
}

// ---------------------------------------------------------------- mutations

function readLeb(bytes, at) {
  let value = 0
  let shift = 0
  for (let i = 0; i < 5 && at + i < bytes.length; i++) {
    const byte = bytes[at + i]
    value += (byte & 0x7f) * 2 ** shift
    shift += 7
    if ((byte & 0x80) === 0) return { value, length: i + 1 }
  }
  return null
}

function leb(value) {
  const out = []
  do {
    let byte = value & 0x7f
    value = Math.floor(value / 128)
    if (value > 0) byte |= 0x80
    out.push(byte)
  } while (value > 0)
  return Buffer.from(out)
}

/** The sections of a module: [{ id, start, bodyStart, end }]; stops at the first malformed one. */
function sections(bytes) {
  const found = []
  let at = 8
  while (at < bytes.length) {
    const size = readLeb(bytes, at + 1)
    if (!size) break
    const bodyStart = at + 1 + size.length
    const end = bodyStart + size.value
    if (end > bytes.length) break
    found.push({ id: bytes[at], start: at, bodyStart, end })
    at = end
  }
  return found
}

const HEADER = Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])

const MUTATORS = {
  bitflip(r, b) {
    const out = Buffer.from(b)
    for (let n = 1 + r.int(8); n > 0; n--) {
      const at = r.int(out.length)
      out[at] ^= 1 << r.int(8)
    }
    return out
  },
  bytes(r, b) {
    const out = Buffer.from(b)
    const interesting = [0, 1, 0x7f, 0x80, 0xff, 0x40, 0x41, 0x0b, 0x10, 0x11, 0x20, 0x21]
    for (let n = 1 + r.int(4); n > 0; n--) out[r.int(out.length)] = r.chance(0.5) ? r.pick(interesting) : r.int(256)
    return out
  },
  truncate(r, b) {
    return b.subarray(0, r.int(b.length))
  },
  insert(r, b) {
    const at = r.int(b.length + 1)
    return Buffer.concat([b.subarray(0, at), r.bytes(1 + r.int(16)), b.subarray(at)])
  },
  remove(r, b) {
    const at = r.int(b.length)
    return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + r.int(64)))])
  },
  duplicate(r, b) {
    const at = r.int(b.length)
    const piece = b.subarray(at, at + 1 + r.int(256))
    const to = r.int(b.length + 1)
    return Buffer.concat([b.subarray(0, to), piece, b.subarray(to)])
  },
  // Bit flips inside one section's body: further past the decoder's checks.
  inSection(r, b) {
    const list = sections(b).filter((s) => s.end > s.bodyStart)
    if (list.length === 0) return MUTATORS.bitflip(r, b)
    const s = r.pick(list)
    const out = Buffer.from(b)
    for (let n = 1 + r.int(4); n > 0; n--) {
      const at = s.bodyStart + r.int(s.end - s.bodyStart)
      out[at] = r.chance(0.5) ? out[at] ^ (1 << r.int(8)) : r.int(256)
    }
    return out
  },
  sectionSwap(r, b) {
    const list = sections(b)
    if (list.length < 2) return MUTATORS.bitflip(r, b)
    const i = r.int(list.length)
    let j = r.int(list.length)
    if (j === i) j = (i + 1) % list.length
    const [a, c] = [list[Math.min(i, j)], list[Math.max(i, j)]]
    return Buffer.concat([b.subarray(0, a.start), b.subarray(c.start, c.end), b.subarray(a.end, c.start), b.subarray(a.start, a.end), b.subarray(c.end)])
  },
  sectionDrop(r, b) {
    const list = sections(b)
    if (list.length === 0) return MUTATORS.truncate(r, b)
    const s = r.pick(list)
    return Buffer.concat([b.subarray(0, s.start), b.subarray(s.end)])
  },
  sectionDuplicate(r, b) {
    const list = sections(b)
    if (list.length === 0) return MUTATORS.duplicate(r, b)
    const s = r.pick(list)
    const to = r.pick(list)
    return Buffer.concat([b.subarray(0, to.start), b.subarray(s.start, s.end), b.subarray(to.start)])
  },
  sectionSize(r, b) {
    const list = sections(b)
    if (list.length === 0) return MUTATORS.bytes(r, b)
    const s = r.pick(list)
    const size = s.end - s.bodyStart
    const value = r.pick([0, 1, size - 1, size + 1, 0x7fffffff, 0xffffffff, r.u32()])
    return Buffer.concat([b.subarray(0, s.start + 1), leb(Math.max(0, value) >>> 0), b.subarray(s.bodyStart)])
  },
  splice(r, b, seeds) {
    const other = r.pick(seeds).bytes
    const at = r.int(b.length)
    const from = r.int(other.length)
    return Buffer.concat([b.subarray(0, at), other.subarray(from, from + r.int(4096))])
  },
}

function randomInput(r) {
  const body = r.bytes(r.int(512))
  return r.chance(0.5) ? Buffer.concat([HEADER, body]) : body
}

/** The next module input: { bytes, how, engine, mode }. */
function nextModuleInput(r, corpus) {
  let bytes
  let how
  let craneliftOnly = false
  const mode = r.pick(['native', 'native', 'native', 'native', 'native', 'run', 'v8', 'v8', 'conversions', 'conversions', 'lend', 'lend', 'worker'])
  if (mode === 'worker' && r.chance(0.5)) {
    // Guests that never end on their own (spinning, sleeping, polling): what
    // worker.terminate() has to stop.
    const seed = r.pick(corpus.filter((candidate) => candidate.endless))
    bytes = seed.bytes
    how = seed.name
  } else if ((mode === 'conversions' || mode === 'lend') && r.chance(0.5)) {
    // The random part is the JS values; most mutants would not compile.
    const seed = r.pick(corpus.filter((candidate) => !candidate.endless))
    bytes = seed.bytes
    how = seed.name
    craneliftOnly = Boolean(seed.craneliftOnly)
  } else if (r.chance(0.05)) {
    bytes = randomInput(r)
    how = 'random bytes'
  } else {
    const seed = r.pick(corpus.filter((candidate) => !candidate.endless))
    bytes = seed.bytes
    craneliftOnly = Boolean(seed.craneliftOnly)
    const steps = []
    for (let n = 1 + (r.chance(0.3) ? r.int(4) : 0); n > 0; n--) {
      const name = r.pick(Object.keys(MUTATORS))
      bytes = MUTATORS[name](r, bytes, corpus)
      steps.push(name)
    }
    how = `${seed.name} + ${steps.join(', ')}`
  }
  const engine = craneliftOnly ? 'cranelift' : r.pick(['cranelift', 'singlepass'])
  return { bytes, how, engine, mode, seed: r.u32(), craneliftOnly }
}

// JS values for wasm parameters, globals and host results: right and wrong
// types, out of range, and values that convert only one way.
const JS_VALUES = [0, -1, 1.5, -0, NaN, Infinity, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 63), 0n, 1n, -1n, 2n ** 63n, 2n ** 64n + 1n, -(2n ** 70n), '7', 'abc', '0x10', '', true, false, undefined, null, {}, [], [1], { valueOf: () => 3 }, { valueOf: () => 3n }, Symbol('s')]
const GROW_DELTAS = [0, 1, 2, -1, -0.5, 0.5, 1.9, 2 ** 16, 2 ** 32, 2 ** 32 + 1, 2 ** 53, NaN, Infinity, '1', 'x', null, undefined, 1n, {}, Symbol('s')]

/** A comparable outcome of `fn()`: a value, or the class of what it threw. */
function settle(fn) {
  try {
    const value = fn()
    return { value: typeof value === 'bigint' ? `${value}n` : typeof value === 'symbol' ? 'symbol' : String(value) }
  } catch (err) {
    return { threw: err?.constructor?.name ?? typeof err }
  }
}

const CONVERSION_ERRORS = new Set(['TypeError', 'SyntaxError', 'RangeError'])

/**
 * Instantiates a reactor natively and in V8 with the same host functions
 * (each returns a value picked for it), then feeds both the same random JS
 * values: export arguments, global values, memory.grow deltas. Returns the
 * number of operations and the mismatches where either side failed to
 * convert (a TypeError, SyntaxError or RangeError) and the other did not
 * fail the same way.
 */
function compareConversions(WASI, bytes, engine, seed, wasiOptions) {
  const r = makeRandom(seed)
  const module = new WebAssembly.Module(bytes)
  const env = {}
  for (const { module: name, name: field, kind } of WebAssembly.Module.imports(module)) {
    if (kind !== 'function' || name.startsWith('wasi_')) continue
    const result = r.chance(0.5) ? r.pick(JS_VALUES) : [r.pick(JS_VALUES), r.pick(JS_VALUES)]
    ;(env[name] ??= {})[field] = () => result
  }
  const v8Wasi = new WASI(wasiOptions)
  const instance = new WebAssembly.Instance(module, { ...env, ...v8Wasi.getImportObject() })
  const v8 = instance.exports
  const native = new WASI({ ...wasiOptions, engine }).initialize(bytes, env).exports
  if (v8.memory instanceof WebAssembly.Memory) v8Wasi.initialize(instance)
  const mismatches = []
  let operations = 0
  const compare = (what, run) => {
    operations++
    const a = settle(() => run(native))
    const b = settle(() => run(v8))
    const conversion = CONVERSION_ERRORS.has(a.threw) || CONVERSION_ERRORS.has(b.threw)
    if (conversion && a.threw !== b.threw) mismatches.push(`${what}: native ${JSON.stringify(a)}, V8 ${JSON.stringify(b)}`)
  }
  const describe = (v) => (typeof v === 'bigint' ? `${v}n` : typeof v === 'symbol' ? 'Symbol()' : JSON.stringify(v) ?? String(v))
  for (let round = 0; round < 8; round++) {
    for (const [name, value] of Object.entries(v8)) {
      if (typeof native[name] !== typeof value) continue
      if (typeof value === 'function') {
        if (name === '_initialize') continue
        const args = Array.from({ length: value.length + r.int(2) }, () => r.pick(JS_VALUES))
        compare(`${name}(${args.map(describe).join(', ')})`, (e) => e[name](...args))
      } else if (value instanceof WebAssembly.Global && ['number', 'bigint'].includes(typeof value.value)) {
        const v = r.pick(JS_VALUES)
        compare(`${name}.value = ${describe(v)}`, (e) => {
          e[name].value = v
          return e[name].value
        })
      } else if (value instanceof WebAssembly.Memory) {
        const delta = r.pick(GROW_DELTAS)
        compare(`${name}.grow(${describe(delta)})`, (e) => e[name].grow(delta))
      }
    }
  }
  return { operations, mismatches }
}

// ---------------------------------------------------------------- module worker

// Every non-WASI function import of `bytes` as a host function that does
// something JS may do with the guest memory it is lent (wasi.memory.buffer):
// keep it, transfer it, clone it with a transfer list, resize it, view it,
// write into it. After the run, every kept buffer is read and written: it
// must be detached or harmless (SECURITY.md), never the guest's memory.
async function abuseLentMemory(WASI, module, bytes, engine, seed, wasiOptions) {
  const r = makeRandom(seed)
  const kept = []
  const wasi = new WASI({ ...wasiOptions, engine })
  const abuse = () => {
    const buffer = wasi.memory.buffer
    const action = r.int(7)
    if (action === 0) kept.push(buffer)
    else if (action === 1) kept.push(new Uint8Array(buffer, r.int(Math.max(1, buffer.byteLength))))
    else if (action === 2) kept.push(buffer.transfer ? buffer.transfer() : buffer)
    else if (action === 3) kept.push(buffer.transfer ? buffer.transfer(r.int(2 * buffer.byteLength + 1)) : buffer)
    else if (action === 4) kept.push(structuredClone(buffer, { transfer: [buffer] }))
    else if (action === 5 && buffer.resize) buffer.resize(r.int(buffer.byteLength + 1))
    else if (buffer.byteLength > 0) new Uint8Array(buffer)[r.int(buffer.byteLength)] = r.int(256)
  }
  let names = []
  try {
    names = WebAssembly.Module.imports(new WebAssembly.Module(bytes))
  } catch {}
  const imports = {}
  for (const { module: name, name: field, kind } of names) {
    if (kind !== 'function' || name === 'wasi_snapshot_preview1' || name === 'wasi_unstable') continue
    imports[name] ??= {}
    imports[name][field] = () => {
      try {
        abuse()
      } catch {}
    }
  }
  let exitCode
  try {
    exitCode = r.chance(0.5) ? wasi.start(module, imports) : (await wasi.run(module, { imports, timeout: 200 })).exitCode
  } catch (err) {
    exitCode = err?.code ?? err?.constructor?.name
  }
  // The lends are over: reading and writing what JS kept must not crash.
  for (const item of kept) {
    try {
      const view = item instanceof Uint8Array ? item : new Uint8Array(item)
      for (let i = 0; i < 4 && view.length > 0; i++) view[r.int(view.length)] ^= view[r.int(view.length)] | 1
    } catch {}
  }
  return { outcome: 'ran', exitCode, kept: kept.length }
}

// Starts `bytes` natively in a worker thread (synchronous start()) and
// terminates the worker after a random moment: terminate() must finish
// within a second, whatever the guest is doing.
async function terminateWorker(bytes, engine, seed) {
  const { Worker } = require('node:worker_threads')
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads')
     const { WASI } = require(workerData.root)
     const fs = require('node:fs')
     const devNull = fs.openSync('/dev/null', 'r+')
     // Compiled first: a compile in progress is not what terminate() stops
     // (it finishes first; see SECURITY.md), the guest's run is.
     let module
     try {
       module = require(workerData.root).compile(workerData.bytes, { engine: workerData.engine, cache: false })
     } catch {}
     parentPort.postMessage('started')
     try {
       if (module) new WASI({ stdout: devNull, stderr: devNull }).start(module)
     } catch {}`,
    { eval: true, workerData: { root: ROOT, bytes, engine }, stdin: true },
  )
  const exited = new Promise((resolve) => worker.once('exit', resolve))
  worker.on('error', () => {})
  await Promise.race([new Promise((resolve) => worker.once('message', resolve)), exited])
  await new Promise((resolve) => setTimeout(resolve, seed % 50))
  const asked = Date.now()
  await Promise.race([worker.terminate(), new Promise((resolve) => setTimeout(resolve, 5000))])
  const took = Date.now() - asked
  if (took > 1000) return { outcome: 'mismatch', mismatches: [`worker.terminate() took ${took} ms`] }
  return { outcome: 'ran', exitCode: 0, terminateMs: took }
}

// Runs one module input; tells the parent when compilation is over.
async function runModule({ bytes, engine, mode, seed }, send) {
  const { WASI, compile } = require(ROOT)
  const devNull = fs.openSync('/dev/null', 'r+')
  const wasiOptions = { args: ['fuzz'], env: {}, stdin: devNull, stdout: devNull, stderr: devNull, returnOnExit: true }
  try {
    if (mode === 'native') {
      const module = compile(bytes, { engine, cache: false })
      send({ phase: 'run' })
      return { outcome: 'ran', exitCode: new WASI({ ...wasiOptions, engine }).start(module) }
    }
    if (mode === 'run') {
      const module = compile(bytes, { engine, cache: false })
      send({ phase: 'run' })
      const { exitCode } = await new WASI({ ...wasiOptions, engine }).run(module, { timeout: 1 + (seed % 100) })
      return { outcome: 'ran', exitCode }
    }
    if (mode === 'lend') {
      const module = compile(bytes, { engine, cache: false })
      send({ phase: 'run' })
      return await abuseLentMemory(WASI, module, bytes, engine, seed, wasiOptions)
    }
    if (mode === 'worker') {
      compile(bytes, { engine, cache: false })
      send({ phase: 'run' })
      return await terminateWorker(bytes, engine, seed)
    }
    if (mode === 'conversions') {
      compile(bytes, { engine, cache: false })
      send({ phase: 'run' })
      const { operations, mismatches } = compareConversions(WASI, bytes, engine, seed, wasiOptions)
      return { outcome: mismatches.length ? 'mismatch' : 'ran', operations, mismatches: mismatches.slice(0, 5) }
    }
    const module = new WebAssembly.Module(bytes)
    send({ phase: 'run' })
    const wasi = new WASI(wasiOptions)
    const instance = new WebAssembly.Instance(module, wasi.getImportObject())
    return { outcome: 'ran', exitCode: wasi.start(instance) }
  } catch (err) {
    const name = err instanceof Error ? err.constructor.name : typeof err
    return { outcome: 'error', name, code: err?.code, message: String(err?.message ?? err).slice(0, 200) }
  } finally {
    fs.closeSync(devNull)
  }
}

// XWASI_FUZZ_INJECT=crash|hang makes each worker die of SIGSEGV, or stop
// answering, at its 20th input: a check that the harness notices.
const INJECT = process.env.XWASI_FUZZ_INJECT

function moduleWorkerMain() {
  let inputs = 0
  // The parent sends foreign SIGUSR1s: listen as an app would (without a
  // listener Node starts its inspector).
  let heard = 0
  process.on('SIGUSR1', () => heard++)
  process.on('message', async (message) => {
    if (INJECT && ++inputs === 20) {
      if (INJECT === 'crash') process.kill(process.pid, 'SIGSEGV')
      else for (;;);
    }
    const result = await runModule({ ...message, bytes: Buffer.from(message.bytes) }, (m) => process.send({ id: message.id, ...m }))
    process.send({ id: message.id, ...result, heard, rss: process.memoryUsage().rss })
  })
  process.send({ ready: true })
}

// ---------------------------------------------------------------- syscall worker

const ERRNO_MAX = 76
const PAGE = 65536
// Where the path pointers and the descriptors are in each path function's arguments.
const PATH_ARGS = {
  path_create_directory: [[1], [0]],
  path_filestat_get: [[2], [0]],
  path_filestat_set_times: [[2], [0]],
  path_link: [[2, 5], [0, 4]],
  path_open: [[2], [0]],
  path_readlink: [[1], [0]],
  path_remove_directory: [[1], [0]],
  path_rename: [[1, 4], [0, 3]],
  path_symlink: [[0, 3], [2]],
  path_unlink_file: [[1], [0]],
}
const PATHS = ['a', 'a/b', '.', '..', '../canary.txt', '/', '/etc/passwd', 'link', 'dir', 'dir/', 'file.txt', '', 'x'.repeat(300), 'a\0b', '../../..', 'sub/../../canary.txt']

async function syscallWorkerMain({ seed, seconds, index, stopAt }) {
  const { WASI } = require(ROOT)
  const { SIGNATURES } = require(path.join(ROOT, '__test__', 'raw-guest.js'))
  const r = makeRandom(seed)
  const deadline = Date.now() + seconds * 1000
  const send = process.send ? (message) => process.send(message) : () => {}

  // A canary file beside the two preopens, and a place to record each call
  // before it is made (read by the parent if this process dies or hangs).
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `xwasi-fuzz-${index}-`))
  const canaryFile = path.join(root, 'canary.txt')
  fs.writeFileSync(canaryFile, 'canary\n')
  const canaryStat = fs.statSync(canaryFile)
  const sandboxes = ['a', 'b'].map((name) => path.join(root, name))
  const lastCall = fs.openSync(path.join(root, 'last-call'), 'w')
  send({ root })

  const devNull = fs.openSync('/dev/null', 'r+')
  const pattern = (buffer, salt) => {
    const bytes = new Uint8Array(buffer)
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + salt) & 0xff
    return bytes
  }
  const sameAsPattern = (bytes, salt) => {
    for (let i = 0; i < bytes.length; i++) if (bytes[i] !== ((i * 31 + salt) & 0xff)) return false
    return true
  }

  let calls = 0
  const perFunction = {}
  let returned = 0
  let thrown = 0
  const thrownKinds = {}
  const violations = []
  let wasi
  let memory
  let imports
  let canaries

  function freshState() {
    for (const dir of sandboxes) {
      fs.rmSync(dir, { recursive: true, force: true })
      fs.mkdirSync(dir)
      fs.writeFileSync(path.join(dir, 'file.txt'), 'inside\n')
      fs.mkdirSync(path.join(dir, 'dir'))
      fs.symlinkSync('file.txt', path.join(dir, 'link'))
    }
    const before = pattern(new ArrayBuffer(2 * PAGE), 1)
    const initial = 1 + r.int(2)
    const shared = r.chance(0.2)
    memory = new WebAssembly.Memory({ initial, maximum: 2, ...(shared ? { shared: true } : {}) })
    const after = pattern(new ArrayBuffer(2 * PAGE), 2)
    const other = new WebAssembly.Memory({ initial: 1 })
    pattern(other.buffer, 3)
    canaries = { before, after, other }
    wasi = new WASI({
      args: ['fuzz', ...Array.from({ length: r.int(4) }, () => r.bytes(r.int(8)).toString('latin1'))],
      env: r.chance(0.5) ? { A: 'b', EMPTY: '' } : {},
      preopens: { '/a': sandboxes[0], '/b': sandboxes[1] },
      stdin: devNull,
      stdout: devNull,
      stderr: devNull,
    })
    // Now and then: calls before initialize(), which must throw.
    if (!r.chance(0.005)) wasi.initialize({ exports: { memory } })
    imports = Object.values(wasi.getImportObject())
    fillMemory()
  }

  // Random bytes here and there, iovecs, and path strings the arguments can point at.
  function fillMemory() {
    const bytes = new Uint8Array(memory.buffer)
    bytes.fill(0)
    for (let n = r.int(64); n > 0; n--) bytes.set(r.bytes(1 + r.int(64)), r.int(bytes.length - 64))
    for (let n = r.int(16); n > 0; n--) {
      const at = r.int(bytes.length - 8) & ~3
      const view = new DataView(memory.buffer)
      view.setUint32(at, r.chance(0.5) ? r.int(bytes.length) : r.u32(), true)
      view.setUint32(at + 4, r.chance(0.5) ? r.int(256) : r.u32(), true)
    }
    pathSpots = []
    for (const text of PATHS) {
      const encoded = Buffer.from(text)
      const at = r.int(bytes.length - encoded.length)
      bytes.set(encoded, at)
      pathSpots.push([at, encoded.length])
    }
  }
  let pathSpots = []

  function checkCanaries() {
    const ok =
      sameAsPattern(new Uint8Array(canaries.before), 1) &&
      sameAsPattern(new Uint8Array(canaries.after), 2) &&
      sameAsPattern(new Uint8Array(canaries.other.buffer), 3)
    if (!ok) violations.push({ kind: 'canary memory changed', calls })
    const st = fs.statSync(canaryFile)
    if (fs.readFileSync(canaryFile, 'utf8') !== 'canary\n' || st.mtimeMs !== canaryStat.mtimeMs) {
      violations.push({ kind: 'canary file outside the preopens changed', calls })
    }
  }

  const i32 = () => {
    const size = memory.buffer.byteLength
    switch (r.int(12)) {
      case 0: return r.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, -1, -2])
      case 1: return r.pick([0x7fffffff, -0x80000000, 0xffff, 0x10000, 0x20000, 0x7ffffff0])
      case 2: return size - r.int(16)
      case 3: return size + r.int(16)
      case 4: return r.u32() | 0
      case 5: return r.int(64)
      case 6: return r.int(size)
      case 7: return PAGE - r.int(8)
      case 8: return -r.int(64)
      default: return r.int(r.pick([4, 16, 256, size]))
    }
  }
  const i64 = () => {
    if (r.chance(0.1)) return r.pick([0, 1, -1, 2 ** 53, -(2 ** 53), 1e300, -0])
    return r.pick([
      () => 0n,
      () => 1n,
      () => -1n,
      () => 2n ** 63n - 1n,
      () => -(2n ** 63n),
      () => 2n ** 64n - 1n,
      () => 2n ** 64n,
      () => -(2n ** 65n),
      () => BigInt(r.int(1 << 20)),
      () => BigInt.asIntN(64, r.u64()),
      () => BigInt(memory.buffer.byteLength) + BigInt(r.int(16)) - 8n,
    ])()
  }
  const wrongType = () => r.pick([undefined, null, '1', {}, [], 1.5, NaN, Infinity, -Infinity, true, Symbol('s'), () => 1, 2 ** 40, -(2 ** 40), 1n, 2n ** 100n])

  function argumentsFor(name, arity) {
    const types = SIGNATURES[name] ?? Array(arity).fill('i32')
    const args = types.slice(0, arity).map((type) => (type === 'i64' ? i64() : i32()))
    while (args.length < arity) args.push(i32())
    // Descriptors are mostly small; (pointer, length) pairs of path
    // functions mostly name one of the path strings in memory.
    const [pathAt, fdAt] = PATH_ARGS[name] ?? [[], [0]]
    for (const at of fdAt) if (at < args.length && r.chance(0.7)) args[at] = r.int(9)
    for (const at of pathAt) {
      if (at + 1 < args.length && r.chance(0.7)) [args[at], args[at + 1]] = r.pick(pathSpots)
    }
    if (r.chance(0.02)) args[r.int(args.length + 1)] = wrongType()
    if (r.chance(0.01)) args.push(i32())
    if (r.chance(0.01)) args.pop()
    // A clock subscription with a long timeout makes poll_oneoff sleep that
    // long (as the guest asked): keep every timeout it would read small,
    // where the addon will read them (a Number is taken modulo 2^32).
    if (name === 'poll_oneoff' && typeof args[0] === 'number' && typeof args[2] === 'number') {
      const view = new DataView(memory.buffer)
      const base = asU32(args[0])
      const count = Math.min(asU32(args[2]), Math.ceil(view.byteLength / 48))
      for (let i = 0; i < count; i++) {
        const at = base + 48 * i + 24
        if (at + 8 > view.byteLength) break
        view.setBigUint64(at, BigInt(r.int(1_000_000)), true)
      }
    }
    return args
  }
  // How napi_get_value_int32 reads a Number: the low 32 bits of its integer part.
  const asU32 = (n) => (Number.isFinite(n) ? Number(BigInt.asUintN(32, BigInt(Math.trunc(n)))) : 0)

  const describeArg = (a) => (typeof a === 'bigint' ? `${a}n` : typeof a === 'symbol' ? 'Symbol()' : typeof a === 'function' ? '() => 1' : JSON.stringify(a) ?? String(a))

  freshState()
  let lastReport = Date.now()
  while (Date.now() < deadline) {
    for (let batch = 0; batch < 200; batch++) {
      const abi = r.int(imports.length)
      const names = Object.keys(imports[abi]).filter((n) => n !== 'proc_exit' || r.chance(0.01))
      const name = r.pick(names)
      const fn = imports[abi][name]
      const args = argumentsFor(name, fn.length)
      const key = `${abi === 0 ? '' : 'unstable.'}${name}`
      perFunction[key] = (perFunction[key] ?? 0) + 1
      const record = `#${calls + 1} ${abi === 0 ? '' : 'unstable.'}${name}(${args.map(describeArg).join(', ')}) memory=${memory.buffer.byteLength}\n`
      fs.writeSync(lastCall, record, 0)
      if (stopAt && calls + 1 === stopAt) {
        // Replaying a hang or crash: show the call and the memory it reads.
        const bytes = new Uint8Array(memory.buffer)
        const at = typeof args[0] === 'number' ? args[0] >>> 0 : 0
        console.log(`call ${record.trim()}`)
        console.log(`memory at ${at}: ${Buffer.from(bytes.subarray(at, at + 48 * 8)).toString('hex')}`)
        for (let fd = 0; fd < 10; fd++) {
          const errno = wasi.wasiImport.fd_fdstat_get(fd, 0)
          console.log(`fd ${fd}: fdstat errno ${errno}, filetype ${bytes[0]}`)
        }
        const started = Date.now()
        const result = fn(...args)
        console.log(`returned ${result} after ${Date.now() - started} ms`)
        process.exit(0)
      }
      calls++
      if (INJECT && calls === 20) {
        if (INJECT === 'crash') process.kill(process.pid, 'SIGSEGV')
        else for (;;);
      }
      try {
        const result = fn(...args)
        returned++
        if (typeof result !== 'number' || !Number.isInteger(result) || result < 0 || result > ERRNO_MAX) {
          violations.push({ kind: `returned ${describeArg(result)}`, call: record.trim() })
        }
      } catch (err) {
        thrown++
        const detail = err instanceof Error ? err.code ?? err.message.replace(/\d+/g, 'N').slice(0, 60) : ''
        const kind = err instanceof Error ? `${err.constructor.name}: ${detail}` : `non-Error ${err?.constructor?.name ?? typeof err}`
        thrownKinds[kind] = (thrownKinds[kind] ?? 0) + 1
        // proc_exit unwinds with a WasiExit object, as designed.
        if (!(err instanceof Error) && err?.constructor?.name !== 'WasiExit') violations.push({ kind: `threw ${kind}`, call: record.trim() })
      }
      if (r.chance(0.001) && memory.buffer.byteLength < 2 * PAGE) memory.grow(1)
    }
    if (calls % 5000 < 200) {
      checkCanaries()
      freshState()
    } else if (r.chance(0.1)) fillMemory()
    if (Date.now() - lastReport > 250) {
      send({ progress: { calls } })
      lastReport = Date.now()
      // Let the message go out.
      await new Promise(setImmediate)
    }
  }
  checkCanaries()
  fs.rmSync(root, { recursive: true, force: true })
  send({ done: { calls, returned, thrown, thrownKinds, violations, perFunction } })
}

// ---------------------------------------------------------------- parent

function saveFinding(kind, bytes) {
  fs.mkdirSync(FINDINGS_DIR, { recursive: true })
  const name = `${kind}-${crypto.createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.wasm`
  fs.writeFileSync(path.join(FINDINGS_DIR, name), bytes)
  return path.relative(ROOT, path.join(FINDINGS_DIR, name))
}

function forkWorker(args) {
  return fork(__filename, args, { serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
}

const WORKER_RSS_LIMIT = 1536 * 1024 * 1024

// Feeds module inputs to `count` workers until the deadline.
function fuzzModules(options, seeds, stats) {
  const r = makeRandom(options.seed)
  const corpus = [...seeds]
  const deadline = Date.now() + options.seconds * 1000
  const startWorker = () =>
    new Promise((resolve) => {
      const worker = { child: forkWorker(['--module-worker']), stderr: '' }
      worker.child.stderr.on('data', (d) => (worker.stderr = (worker.stderr + d).slice(-4000)))
      worker.child.once('message', () => resolve(worker))
    })

  async function loop() {
    let worker = await startWorker()
    // Foreign SIGUSR1s at the worker while it compiles and runs.
    const storm = setInterval(() => {
      try {
        worker.child.kill('SIGUSR1')
        stats.modules.foreignSignals++
      } catch {}
    }, 2)
    while (Date.now() < deadline) {
      const input = nextModuleInput(r, corpus)
      const id = stats.modules.executions
      stats.modules.executions++
      const outcome = await new Promise((resolve) => {
        let phase = 'compile'
        let timer
        const arm = (ms) => {
          clearTimeout(timer)
          timer = setTimeout(() => {
            worker.child.removeAllListeners('exit')
            worker.child.kill('SIGKILL')
            resolve({ outcome: phase === 'compile' ? 'hang' : 'timeout' })
          }, ms)
        }
        arm(options.compileTimeout)
        const onMessage = (m) => {
          if (m.id !== id) return
          if (m.phase === 'run') {
            phase = 'run'
            arm(options.runTimeout)
            return
          }
          clearTimeout(timer)
          worker.child.off('message', onMessage)
          worker.child.removeAllListeners('exit')
          resolve(m)
        }
        worker.child.on('message', onMessage)
        worker.child.once('exit', (code, signal) => {
          clearTimeout(timer)
          resolve({ outcome: 'crash', code, signal, phase })
        })
        worker.child.send({ id, bytes: input.bytes, engine: input.engine, mode: input.mode, seed: input.seed })
      })
      const key = outcome.outcome === 'error' ? `error ${outcome.name}` : outcome.outcome
      stats.modules.outcomes[key] = (stats.modules.outcomes[key] ?? 0) + 1
      stats.modules.modes[input.mode] = (stats.modules.modes[input.mode] ?? 0) + 1
      // Endless guests (mode 'worker') would only spin in the other modes.
      if (outcome.outcome === 'ran' && input.mode !== 'worker' && corpus.length < 200 && input.bytes.length < 4 << 20) {
        corpus.push({ name: `ran#${id}`, bytes: input.bytes, craneliftOnly: input.craneliftOnly })
      }
      if (outcome.operations) stats.modules.conversions += outcome.operations
      if (outcome.kept) stats.modules.keptBuffers += outcome.kept
      if (outcome.outcome === 'mismatch') {
        const file = saveFinding('mismatch', input.bytes)
        stats.findings.push({ kind: 'violation', target: 'modules', how: input.how, engine: input.engine, mode: input.mode, seed: input.seed, file, detail: outcome.mismatches })
      }
      if (outcome.outcome === 'crash' || outcome.outcome === 'hang') {
        const file = saveFinding(outcome.outcome, input.bytes)
        stats.findings.push({ kind: outcome.outcome, target: 'modules', how: input.how, engine: input.engine, mode: input.mode, file, detail: `exit ${outcome.code ?? ''} signal ${outcome.signal ?? ''} in ${outcome.phase ?? 'compile'}`, stderr: worker.stderr.slice(-1500) })
      }
      // wasmer never frees the machine code of a module while its engine
      // lives (the addon keeps one engine per compiler for the process), so
      // a worker grows with every distinct module it compiles: recycle it.
      // A compiler panic the addon caught (a CompileError "the compiler
      // failed on this module"): Node survived, but keep the input.
      if (outcome.outcome === 'error' && /compiler failed on this module/.test(outcome.message ?? '')) {
        const file = saveFinding('panic', input.bytes)
        stats.findings.push({ kind: 'panic', target: 'modules', how: input.how, engine: input.engine, mode: input.mode, file, detail: outcome.message })
      }
      const recycle = outcome.rss > WORKER_RSS_LIMIT
      if (recycle) {
        stats.modules.recycled++
        worker.child.kill()
      }
      if (recycle || outcome.outcome === 'crash' || outcome.outcome === 'hang' || outcome.outcome === 'timeout') {
        worker = await startWorker()
      }
    }
    clearInterval(storm)
    worker.child.kill()
  }
  return Promise.all(Array.from({ length: options.moduleWorkers }, loop))
}

function fuzzSyscalls(options, stats) {
  const one = (index) =>
    new Promise((resolve) => {
      const seed = (options.seed + 0x9e3779b9 * (index + 1)) >>> 0
      const child = forkWorker(['--syscall-worker', JSON.stringify({ seed, seconds: options.seconds, index })])
      let stderr = ''
      let root
      let calls = 0
      let lastProgress = Date.now()
      child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)))
      // The worker writes each call to its last-call file before making it:
      // a file that stops changing (and no message) means a call that does
      // not return. Checked from the file, so that a busy parent or IPC
      // delays are not taken for a hang.
      let lastRecord = ''
      const watchdog = setInterval(() => {
        let record = ''
        try {
          record = root ? fs.readFileSync(path.join(root, 'last-call'), 'utf8') : ''
        } catch {}
        if (record !== lastRecord) {
          lastRecord = record
          lastProgress = Date.now()
        }
        if (Date.now() - lastProgress > options.compileTimeout) child.kill('SIGKILL')
      }, 1000)
      let done = null
      child.on('message', (m) => {
        lastProgress = Date.now()
        if (m.root) root = m.root
        if (m.progress) calls = m.progress.calls
        if (m.done) done = m.done
      })
      child.on('exit', (code, signal) => {
        clearInterval(watchdog)
        if (done) {
          stats.syscalls.executions += done.calls
          stats.syscalls.returned += done.returned
          stats.syscalls.thrown += done.thrown
          for (const [k, v] of Object.entries(done.thrownKinds)) stats.syscalls.thrownKinds[k] = (stats.syscalls.thrownKinds[k] ?? 0) + v
          for (const [k, v] of Object.entries(done.perFunction)) stats.syscalls.perFunction[k] = (stats.syscalls.perFunction[k] ?? 0) + v
          for (const v of done.violations.slice(0, 20)) stats.findings.push({ kind: 'violation', target: 'syscalls', seed, ...v })
          stats.syscalls.violations += done.violations.length
        } else {
          stats.syscalls.executions += calls
          let call = '(unknown)'
          try {
            call = fs.readFileSync(path.join(root, 'last-call'), 'utf8').split('\n')[0]
          } catch {}
          const kind = signal === 'SIGKILL' ? 'hang' : 'crash'
          stats.findings.push({ kind, target: 'syscalls', seed, detail: `exit ${code} signal ${signal} after ${calls} calls`, call, stderr: stderr.slice(-1500) })
        }
        if (root) fs.rmSync(root, { recursive: true, force: true })
        resolve()
      })
    })
  return Promise.all(Array.from({ length: options.syscallWorkers }, (_, i) => one(i)))
}

async function replay(options) {
  const bytes = fs.readFileSync(options.replay)
  console.log(`replaying ${options.replay} (${bytes.length} bytes), ${options.mode}, ${options.engine}`)
  const result = await runModule({ bytes, engine: options.engine, mode: options.mode, seed: options.seed }, (m) => console.log('phase:', m.phase))
  console.log(result)
}

async function main() {
  const options = parseArgs(process.argv.slice(2))
  if (options.replay) return replay(options)
  if (options.syscallReplay) {
    // Runs one syscall worker in this process up to a given call.
    const [seed, stopAt] = options.syscallReplay.split(':').map(Number)
    return syscallWorkerMain({ seed, seconds: 1e6, index: 0, stopAt })
  }
  const started = Date.now()
  const stats = {
    modules: { executions: 0, outcomes: {}, modes: {}, recycled: 0, conversions: 0, keptBuffers: 0, foreignSignals: 0 },
    syscalls: { executions: 0, returned: 0, thrown: 0, thrownKinds: {}, violations: 0, perFunction: {} },
    findings: [],
  }
  console.log(`fuzz: seed ${options.seed}, ${options.seconds} s, target ${options.target}` + ` (replay with --seed ${options.seed})`)
  const jobs = []
  if (options.target !== 'syscalls') {
    const seeds = await loadSeeds()
    console.log(`fuzz: ${seeds.length} seeds: ${seeds.map((s) => s.name).join(', ')}`)
    jobs.push(fuzzModules(options, seeds, stats))
  }
  if (options.target !== 'modules') jobs.push(fuzzSyscalls(options, stats))
  await Promise.all(jobs)
  const elapsed = (Date.now() - started) / 1000

  const crashes = stats.findings.filter((f) => f.kind === 'crash' || f.kind === 'violation').length
  const hangs = stats.findings.filter((f) => f.kind === 'hang').length
  const panics = stats.findings.filter((f) => f.kind === 'panic').length
  const rate = (n) => (n / elapsed).toFixed(1)
  console.log(`\nfuzz: ${elapsed.toFixed(1)} s, seed ${options.seed}`)
  if (options.target !== 'syscalls') {
    const m = stats.modules
    console.log(`modules:  ${m.executions} executions (${rate(m.executions)}/s); outcomes: ${JSON.stringify(m.outcomes)}; workers recycled at ${WORKER_RSS_LIMIT / 1024 / 1024} MiB RSS: ${m.recycled}`)
    console.log(`modules:  ${m.conversions} export calls, global sets and memory.grow with random JS values compared with V8; ${m.foreignSignals} foreign SIGUSR1s sent to the workers`)
    console.log(`modules:  executions by mode: ${JSON.stringify(m.modes)}; ${m.keptBuffers} lent buffers kept, moved or cloned by host functions and used after their lend; a worker.terminate() slower than 1 s is a mismatch`)
  }
  if (options.target !== 'modules') {
    const s = stats.syscalls
    console.log(`syscalls: ${s.executions} executions (${rate(s.executions)}/s); returned an errno: ${s.returned}, threw: ${s.thrown} ${JSON.stringify(s.thrownKinds)}; violations: ${s.violations}`)
    const counts = Object.values(s.perFunction)
    if (counts.length) {
      console.log(`syscalls: ${counts.length} functions called (wasi_snapshot_preview1 and wasi_unstable), each ${Math.min(...counts)} to ${Math.max(...counts)} times`)
    }
  }
  console.log(`crashes: ${crashes}, hangs: ${hangs}, compiler panics caught as CompileErrors: ${panics}`)
  for (const finding of stats.findings) console.log(`  ${JSON.stringify(finding)}`)
  process.exitCode = crashes + hangs > 0 ? 1 : 0
}

if (require.main !== module) {
  // For __test__/fuzz-regressions.test.js: the same code paths on fixed inputs.
  module.exports = { runModule, compareConversions, abuseLentMemory, terminateWorker }
} else if (process.argv[2] === '--module-worker') moduleWorkerMain()
else if (process.argv[2] === '--syscall-worker') {
  syscallWorkerMain(JSON.parse(process.argv[3])).catch((err) => {
    console.error(err)
    process.exit(3)
  })
}
else {
  main().catch((err) => {
    console.error(err)
    process.exitCode = 2
  })
}
