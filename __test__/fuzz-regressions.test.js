'use strict'

// Inputs found by `npm run fuzz` (scripts/fuzz.js), kept as hex. Each is
// compiled and started on both engines in a child process: whatever the
// module does, Node must end normally (an error or an exit code), never die
// of a signal.

const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { test } = require('node:test')

const PACKAGE_ROOT = path.resolve(__dirname, '..')

const REGRESSIONS = [
  {
    name: 'a name section whose module name has a NUL byte ("a\\0b"), one function',
    hex: '0061736d01000000010401600000030201000a040102000b000b046e616d65000403610062',
    // Found as a 279-byte mutant of wat:hello_unstable. Singlepass writes the
    // name into DWARF with gimli, which asserts there is no NUL; that panic
    // used to abort Node (SIGABRT). src/engine.rs now turns it into a
    // CompileError.
    expect: { singlepass: /^"CompileError: .*compiler failed/ },
  },
  {
    name: 'an empty name in the name section, in a mutant of wat:command_and_reactor',
    hex: '0061736d0100000001040160000003030200000503010001072103066d656d6f72790200065f737461727400000b5f696e697469616c697a6500010a09020300000b0300000b0043046e616d65001413636f6d6d616e645f616e645f72656163746f7201140200057374617274010a696e697469616c697a650245020000010006090100066d656d6f7279',
    // Found by a bit flip (npm run fuzz, seed 2859008793). Singlepass again
    // hands the name to gimli, which asserts it is not empty; caught as a
    // CompileError. Cranelift compiles it and the module traps.
    expect: { singlepass: /^"CompileError: .*compiler failed/, cranelift: /^"RuntimeError: unreachable/ },
  },
]

// Runs compile() then start() in a child; reports how it ended.
function runInChild(hex, engine) {
  const source = `
    const { WASI, compile } = require(${JSON.stringify(PACKAGE_ROOT)})
    const bytes = Buffer.from(${JSON.stringify(hex)}, 'hex')
    let outcome
    try {
      const module = compile(bytes, { engine: ${JSON.stringify(engine)}, cache: false })
      outcome = 'exit code ' + new WASI({ engine: ${JSON.stringify(engine)} }).start(module)
    } catch (err) {
      outcome = err.constructor.name + ': ' + err.message
    }
    process.stdout.write(JSON.stringify(outcome))
  `
  return spawnSync(process.execPath, ['-e', source], { encoding: 'utf8', timeout: 60_000 })
}

for (const { name, hex, expect = {} } of REGRESSIONS) {
  for (const engine of ['cranelift', 'singlepass']) {
    test(`${engine}: ${name}: an error or a run, never a crash`, () => {
      const child = runInChild(hex, engine)
      assert.equal(child.error, undefined)
      assert.equal(child.signal, null, `Node died of ${child.signal}; stderr: ${child.stderr.slice(0, 500)}`)
      assert.equal(child.status, 0, `stderr: ${child.stderr.slice(0, 500)}`)
      assert.ok(child.stdout.length > 0)
      if (expect[engine]) assert.match(child.stdout, expect[engine])
    })
  }
}

// A panic inside wasmer's compiler can leave the engine's internal mutex
// poisoned (the panic unwound while it was held): every later compile with
// that engine then fails with "PoisonError", and the next use of the engine
// outside the caught path aborts the process. src/engine.rs therefore drops
// that engine and its modules after a panic. One bad module must not break
// the process for the modules after it.
test('singlepass: after the NUL-name CompileError, the same process still compiles and runs other modules', {
}, () => {
  const { fixture } = require('./fixtures')
  const source = `
    const fs = require('node:fs')
    const { WASI, compile } = require(${JSON.stringify(PACKAGE_ROOT)})
    const bad = Buffer.from(${JSON.stringify(REGRESSIONS[0].hex)}, 'hex')
    // Fresh bytes (a custom section added), so nothing comes from a cache.
    const good = Buffer.concat([fs.readFileSync(${JSON.stringify(fixture('wat:hello_unstable'))}), Buffer.from([0, 3, 1, 0x78, 0x31])])
    const before = Buffer.concat([good, Buffer.from([0, 3, 1, 0x78, 0x32])])
    const outcomes = []
    const attempt = (fn) => {
      try {
        outcomes.push(fn())
      } catch (err) {
        outcomes.push(err.constructor.name + ': ' + err.message.slice(0, 120))
      }
    }
    const run = (module) => 'exit code ' + new WASI({ engine: 'singlepass', stdout: fs.openSync('/dev/null', 'w') }).start(module)
    const earlier = compile(before, { engine: 'singlepass', cache: false })
    attempt(() => run(compile(bad, { engine: 'singlepass', cache: false })))
    attempt(() => run(compile(good, { engine: 'singlepass', cache: false })))
    attempt(() => run(earlier))
    process.stdout.write(JSON.stringify(outcomes))
  `
  const child = spawnSync(process.execPath, ['-e', source], { encoding: 'utf8', timeout: 60_000 })
  assert.equal(child.signal, null, `Node died of ${child.signal}; stderr: ${child.stderr.slice(-500)}`)
  const [bad, good, earlier] = JSON.parse(child.stdout)
  assert.match(bad, /^CompileError: .*compiler failed/)
  assert.equal(good, 'exit code 0', 'a module compiled after the bad one')
  assert.equal(earlier, 'exit code 0', 'a module compiled before the bad one')
})

// Inputs of the kinds the fuzzer has fed since the memory-safety work
// (shared memories in V8 mode, JS values converted as V8 converts them,
// foreign SIGUSR1s during runs), through the fuzzer's own code paths.
const { runModule, compareConversions } = require('../scripts/fuzz')

test('V8 mode: a module with a shared memory runs (its syscalls used to throw ERR_WASI_NOT_STARTED)', async () => {
  const { fixtureBytes } = require('./fixtures')
  const outcome = await runModule({ bytes: fixtureBytes('wat:shared_memory'), engine: 'cranelift', mode: 'v8', seed: 1 }, () => {})
  assert.deepEqual(outcome, { outcome: 'ran', exitCode: 1 }, 'exit code: the argument count, read back from the shared memory')
})

test('conversions: random JS values to exports, globals and memory.grow convert natively exactly as in V8', () => {
  const { WASI } = require('..')
  const { fixtureBytes } = require('./fixtures')
  const devNull = require('node:fs').openSync('/dev/null', 'r+')
  const options = { stdin: devNull, stdout: devNull, stderr: devNull, returnOnExit: true }
  try {
    for (const [fixture, seeds] of [['wat:conversions', [1, 2, 3, 4, 5, 6, 7, 8]], ['wat:wat_reactor', [1, 2, 3]]]) {
      for (const seed of seeds) {
        const { operations, mismatches } = compareConversions(WASI, fixtureBytes(fixture), 'cranelift', seed, options)
        assert.ok(operations > 50, `${fixture} seed ${seed}: ${operations} operations`)
        assert.deepEqual(mismatches, [], `${fixture} seed ${seed}`)
      }
    }
  } finally {
    require('node:fs').closeSync(devNull)
  }
})

test('foreign SIGUSR1s every millisecond while run() timeouts interrupt spinning guests: the process survives', async () => {
  const { spawn } = require('node:child_process')
  const { fixture } = require('./fixtures')
  const source = `
    const { runModule } = require(${JSON.stringify(path.join(PACKAGE_ROOT, 'scripts', 'fuzz.js'))})
    const bytes = require('node:fs').readFileSync(${JSON.stringify(fixture('wat:infinite_loop'))})
    let heard = 0
    process.on('SIGUSR1', () => heard++)
    process.stderr.write('ready\\n')
    ;(async () => {
      const seen = {}
      for (let seed = 0; seed < 60; seed++) {
        const outcome = await runModule({ bytes, engine: seed % 2 ? 'singlepass' : 'cranelift', mode: 'run', seed }, () => {})
        seen[outcome.code] = (seen[outcome.code] ?? 0) + 1
      }
      process.stdout.write(JSON.stringify({ seen, heard }) + '\\n')
      // Node resets SIGUSR1 to its default (ending the process) as it
      // exits, with or without the addon: wait until the storm is over.
      process.stdin.resume().on('end', () => process.exit(0))
    })()
  `
  const child = spawn(process.execPath, ['-e', source], { stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  const finished = new Promise((resolve) => child.stdout.on('data', (d) => (stdout += d).endsWith('\n') && resolve()))
  const exited = new Promise((resolve) => child.on('exit', (...ending) => resolve(ending)))
  // Signals only once its listener is in place (before, Node would start its inspector).
  await new Promise((resolve) => child.stderr.once('data', resolve))
  child.stderr.on('data', (d) => (stderr += d))
  const storm = setInterval(() => child.kill('SIGUSR1'), 1)
  await Promise.race([finished, exited])
  clearInterval(storm)
  child.stdin.end()
  const [status, signal] = await exited
  assert.equal(signal, null, `Node died of ${signal}; stderr: ${stderr.slice(-500)}`)
  assert.equal(status, 0, stderr.slice(-500))
  const { seen, heard } = JSON.parse(stdout)
  assert.deepEqual(seen, { ERR_WASI_TIMEOUT: 60 })
  assert.ok(heard > 0)
})

// The fuzzer's inputs for lent guest memory and worker.terminate().
test('lend: host functions keep, transfer, clone, resize and write the memory they are lent; what they kept is harmless afterwards', async () => {
  const { fixtureBytes } = require('./fixtures')
  let operations = 0
  for (let seed = 1; seed <= 24; seed++) {
    const engine = seed % 2 ? 'cranelift' : 'singlepass'
    const outcome = await runModule({ bytes: fixtureBytes('wat:host_lend'), engine, mode: 'lend', seed }, () => {})
    assert.equal(outcome.outcome, 'ran', `seed ${seed}: ${JSON.stringify(outcome)}`)
    operations += outcome.kept
  }
  assert.ok(operations > 24, `${operations} buffers kept across the lends`)
})

test('worker: a native start() in a worker (spinning, polling, sleeping) is terminated within a second', async () => {
  const { fixtureBytes } = require('./fixtures')
  for (const name of ['wat:infinite_loop', 'wat:poll_stdin', 'go:sleepforever']) {
    for (const engine of ['cranelift', 'singlepass']) {
      const outcome = await runModule({ bytes: fixtureBytes(name), engine, mode: 'worker', seed: 17 }, () => {})
      assert.equal(outcome.outcome, 'ran', `${name} on ${engine}: ${JSON.stringify(outcome)}`)
      assert.ok(outcome.terminateMs < 1000, `${name} on ${engine}: terminate() took ${outcome.terminateMs} ms`)
    }
  }
})
