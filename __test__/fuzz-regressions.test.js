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
