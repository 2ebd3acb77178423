'use strict'
// Compiled code is freed once nothing uses it: many distinct modules run in
// one process keep its memory bounded. Each case runs in a child process and
// compares its growth in RSS with a control in the same child that keeps
// every module alive, so the bound does not depend on the machine.

const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const path = require('node:path')
const { test } = require('node:test')

const ROOT = path.resolve(__dirname, '..')

// The child: builds one WAT module with a lot of code, then compiles and
// runs `count` distinct variants of it (the same code, a custom section
// naming the variant) the way `how` says; prints RSS growth (MiB) after a
// warm-up, for that case and for a control that keeps every module.
const CHILD = String.raw`
const fs = require('node:fs')
const { WASI, compile } = require(process.argv[1])
const [how, count] = [process.argv[2], Number(process.argv[3])]

function wat(entry) {
  const funcs = []
  for (let f = 0; f < 300; f++) {
    const ops = []
    for (let i = 0; i < 40; i++) ops.push('(local.set 0 (i32.add (i32.mul (local.get 0) (i32.const ' + (f * 40 + i + 3) + ')) (i32.const ' + i + ')))')
    funcs.push('(func $f' + f + ' (param i32) (result i32) ' + ops.join(' ') + ' (local.get 0))')
  }
  return '(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32))) (memory (export "memory") 1) ' + funcs.join(' ') + ' (func (export "' + entry + '") (drop (call $f0 (i32.const 1)))))'
}

function leb(n) {
  const out = []
  do {
    let byte = n & 0x7f
    n >>>= 7
    if (n) byte |= 0x80
    out.push(byte)
  } while (n)
  return Buffer.from(out)
}

function variant(base, i) {
  const name = Buffer.from('variant')
  const body = Buffer.concat([leb(name.length), name, Buffer.from(String(i))])
  return Buffer.concat([base, Buffer.from([0]), leb(body.length), body])
}

const rss = () => process.memoryUsage.rss() / 2 ** 20
const options = { engine: 'singlepass', cache: false }

async function growth(base, offset, runOne) {
  const warmup = 20
  let before = 0
  for (let i = 0; i < count; i++) {
    await runOne(variant(base, offset + i))
    await new Promise(setImmediate) // lets finalizers of dropped objects run
    if (i === warmup - 1) {
      global.gc?.()
      before = rss()
    }
  }
  global.gc?.()
  await new Promise(setImmediate)
  return rss() - before
}

const ways = {
  start: (bytes) => new WASI({ ...options, returnOnExit: true }).start(bytes),
  run: (bytes) => new WASI(options).run(bytes),
  initialize: (bytes) => new WASI(options).initialize(bytes), // the instance is dropped
  // compile() without release(): the garbage collector frees it.
  compile: (bytes) => new WASI({ returnOnExit: true }).start(compile(bytes, options)),
}

;(async () => {
  const wabt = await require('wabt')()
  const entry = how === 'initialize' ? '_initialize' : '_start'
  const base = Buffer.from(wabt.parseWat('gen.wat', wat(entry)).toBinary({}).buffer)
  const kept = []
  const control = await growth(base, 0, (bytes) => kept.push(compile(bytes, options)))
  const measured = await growth(base, count, ways[how])
  process.stdout.write(JSON.stringify({ control, measured }))
})()
`

function measure(how, count) {
  const out = execFileSync(process.execPath, ['--expose-gc', '-e', CHILD, ROOT, how, String(count)], {
    encoding: 'utf8',
    env: { ...process.env, X_WASI_CACHE_DIR: '/nonexistent/x-wasi-never-written' },
  })
  return JSON.parse(out)
}

for (const how of ['start', 'run', 'initialize', 'compile']) {
  test(`engine release: ${how}() of many distinct modules keeps RSS bounded`, () => {
    const { control, measured } = measure(how, 120)
    console.log(`${how}: ${measured.toFixed(1)} MiB, keeping them all ${control.toFixed(1)} MiB`)
    // Keeping 100 modules must cost clearly more than this noise bound,
    // else the test could not tell a leak from a release.
    assert.ok(control > 40, `keeping every module grew RSS by only ${control.toFixed(1)} MiB`)
    assert.ok(
      measured < control / 4,
      `${how}(): RSS grew ${measured.toFixed(1)} MiB over 100 modules (keeping them all: ${control.toFixed(1)} MiB)`,
    )
  })
}

test('release(): a released module cannot start; runs and instances using it go on', async () => {
  const fs = require('node:fs')
  const { WASI, compile } = require('..')
  const { fixture } = require('./fixtures')
  const options = { cache: false }

  const hello = compile(fs.readFileSync(fixture('wat:hello_unstable')), options)
  const running = new WASI(options).run(hello, { stdout: 'pipe' })
  hello.release()
  hello.release() // twice is fine
  const { exitCode, stdout } = await running
  assert.equal(exitCode, 0)
  assert.equal(stdout.toString(), 'Hello from wasi_unstable!\n')
  assert.throws(() => new WASI(options).start(hello), /this compiled module was released/)
  await assert.rejects(new WASI(options).run(hello), /this compiled module was released/)

  const reactor = compile(fs.readFileSync(fixture('wat:reactor')), options)
  const { exports } = new WASI(options).initialize(reactor)
  reactor.release()
  assert.equal(exports.add(2, 3), 5)
  assert.equal(exports.initialize_calls(), 1)
})

test('start(bytes) keeps its module a little while: the same bytes again come from memory', () => {
  const fs = require('node:fs')
  const { WASI, compile } = require('..')
  const { fixture } = require('./fixtures')
  const bytes = fs.readFileSync(fixture('wat:mixed_namespaces'))
  const options = { cache: false, engine: 'cranelift', returnOnExit: true }
  const devNull = fs.openSync('/dev/null', 'w')
  try {
    new WASI({ ...options, args: ['a'], stdout: devNull }).start(bytes)
  } finally {
    fs.closeSync(devNull)
  }
  const again = compile(bytes, { cache: false, engine: 'cranelift' })
  assert.equal(again.origin, 'memory')
  again.release()
})
