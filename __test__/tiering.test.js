'use strict'
// engine: 'auto' (the default): a module never seen runs on the fast tier
// (Singlepass) at once; one seen before also gets Cranelift compiling it
// into the disk cache in a background process; from then on runs load the
// optimized code. Whatever tier runs, every case of the table has the same
// outcome. Caches are temporary directories, removed at the end.

const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { test, describe, after } = require('node:test')

const { compile } = require('..')
const { cases, runCase, assertOutcome } = require('./cases')
const { fixture, fixtureBytes } = require('./fixtures')

const ROOT = path.resolve(__dirname, '..')
const CLI = path.join(ROOT, 'bin', 'x-wasi.js')

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

function runInChild(wasm, cacheDir) {
  const child = spawnSync(process.execPath, ['-e', CHILD, ROOT, wasm], {
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

test('auto: without a disk cache, the fast tier; a module Singlepass refuses gets Cranelift', () => {
  const hello = fixtureBytes('wat:hello_unstable')
  const module = compile(hello, { cache: false })
  assert.equal(module.engine, 'singlepass')
  assert.equal(module.optimizeLater, false)
  module.release()
  // Multi-value results: Cranelift compiles them, Singlepass does not.
  const multi = compile(fixtureBytes('wat:host_multivalue'), { cache: false })
  assert.equal(multi.engine, 'cranelift')
  assert.equal(compile(hello, { engine: 'cranelift', cache: false }).engine, 'cranelift', "'cranelift' still forces Cranelift")
  assert.throws(() => compile(Buffer.from('\0asm\x01\0\0\0\x01'), { cache: false }), WebAssembly.CompileError)
})

test('auto: a live Cranelift module of the same bytes is used', () => {
  const bytes = fixtureBytes('wat:mixed_namespaces')
  const optimized = compile(bytes, { engine: 'cranelift', cache: false })
  const again = compile(bytes, { cache: false })
  assert.equal(again.engine, 'cranelift')
  assert.equal(again.origin, 'memory')
  optimized.release()
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

// The case table under 'auto': cold (the fast tier runs every case) and
// warm (Cranelift's code from the disk cache): the same outcomes, which are
// the ones the table requires of both engines.
describe('every case, native mode, auto', () => {
  const cacheDir = tempDir()
  process.env.X_WASI_CACHE_DIR = cacheDir
  // This block checks outcomes, not the background compile.
  process.env.X_WASI_NO_BACKGROUND_COMPILE = '1'
  const tierOf = (caseDef) => {
    const module = compile(fixtureBytes(caseDef.fixture), { cacheDir })
    const tier = module.engine
    module.release()
    return tier
  }
  for (const state of ['cold', 'warm']) {
    for (const caseDef of cases) {
      test(`${state}: ${caseDef.name}`, async () => {
        const bytes = fixtureBytes(caseDef.fixture)
        let expected = 'singlepass'
        if (state === 'warm') {
          compile(bytes, { engine: 'cranelift', cacheDir }).release()
          expected = 'cranelift'
        } else {
          for (const name of entries(cacheDir)) fs.rmSync(path.join(cacheDir, name))
        }
        const tier = tierOf(caseDef)
        // A module Singlepass cannot compile runs on Cranelift either way.
        if (tier !== 'cranelift' || expected !== 'singlepass') assert.equal(tier, expected)
        assertOutcome(caseDef, await runCase(caseDef, { engine: 'auto', mode: 'native' }))
      })
    }
  }
})
