'use strict'
// compile() and the compiled-module caches: in-process, and on disk across
// processes (hit, miss, corrupt entries, concurrent writers, disabled).

const assert = require('node:assert/strict')
const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { after, test } = require('node:test')

const { WASI, compile, CompiledModule } = require('..')
const { fixture } = require('./fixtures')

const ROOT = path.resolve(__dirname, '..')
const HELLO = fixture('wat:hello_unstable')
const HELLO_OUTPUT = 'Hello from wasi_unstable!\n'

const tempDirs = []
after(() => tempDirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })))

function tempDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'x-wasi-cache-'))
  tempDirs.push(dir)
  return dir
}

// A child that compiles `wasmPath` with `options`, runs it, and prints the
// module's origin on stderr after the module's own output on stdout.
const CHILD = `
const { WASI, compile } = require(process.argv[1])
const module = compile(require('node:fs').readFileSync(process.argv[2]), JSON.parse(process.argv[3]))
const code = new WASI().start(module)
process.stderr.write(module.origin)
process.exitCode = code
`

// Cranelift unless told: the default engine, 'auto', stores only
// Cranelift's code (see tiering.test.js).
function childArgs(options) {
  return ['-e', CHILD, ROOT, HELLO, JSON.stringify({ engine: 'cranelift', ...options })]
}

function compileInChild(options, env = {}) {
  const child = spawnSync(process.execPath, childArgs(options), { encoding: 'utf8', env: { ...process.env, ...env } })
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout, HELLO_OUTPUT)
  return child.stderr
}

function cacheEntries(dir) {
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []
}

test('a second compile of the same bytes in one process comes from memory', () => {
  const bytes = fs.readFileSync(HELLO)
  const first = compile(bytes, { cache: false, engine: 'cranelift' })
  const second = compile(new Uint8Array(bytes), { cache: false, engine: 'cranelift' })
  assert.ok(first instanceof CompiledModule)
  assert.equal(second.origin, 'memory')
  assert.equal(second.engine, 'cranelift')
})

test('a compiled module runs in several WASI objects', () => {
  const module = compile(fs.readFileSync(fixture('wat:mixed_namespaces')), { cache: false })
  for (let i = 0; i < 2; i++) {
    const out = path.join(tempDir(), 'out')
    const fd = fs.openSync(out, 'w')
    try {
      assert.equal(new WASI({ args: ['a', 'b', 'c'], stdout: fd }).start(module), 7)
    } finally {
      fs.closeSync(fd)
    }
    assert.equal(fs.readFileSync(out, 'utf8'), 'argc=3\n')
  }
})

test('disk cache: a miss compiles and stores, the next process loads it', () => {
  const dir = tempDir()
  assert.equal(compileInChild({ cacheDir: dir }), 'compiled')
  assert.equal(cacheEntries(dir).length, 1)
  assert.match(cacheEntries(dir)[0], /^[0-9a-f]{64}\.module$/)
  assert.equal(compileInChild({ cacheDir: dir }), 'disk')
})

test('disk cache: each engine has its own entry', () => {
  const dir = tempDir()
  assert.equal(compileInChild({ cacheDir: dir, engine: 'cranelift' }), 'compiled')
  assert.equal(compileInChild({ cacheDir: dir, engine: 'singlepass' }), 'compiled')
  assert.equal(cacheEntries(dir).length, 2)
  assert.equal(compileInChild({ cacheDir: dir, engine: 'singlepass' }), 'disk')
})

test('disk cache: X_WASI_CACHE_DIR chooses the directory', () => {
  const dir = tempDir()
  assert.equal(compileInChild({}, { X_WASI_CACHE_DIR: dir }), 'compiled')
  assert.equal(cacheEntries(dir).length, 1)
  assert.equal(compileInChild({}, { X_WASI_CACHE_DIR: dir }), 'disk')
})

test('disk cache: cache: false writes and reads nothing', () => {
  const dir = tempDir()
  assert.equal(compileInChild({ cacheDir: dir, cache: false }), 'compiled')
  assert.deepEqual(cacheEntries(dir), [])
  assert.equal(compileInChild({ cacheDir: dir }), 'compiled')
  assert.equal(compileInChild({ cacheDir: dir, cache: false }), 'compiled', 'an existing entry is not read either')
})

for (const [damage, corrupt] of [
  ['truncated', (bytes) => bytes.subarray(0, bytes.length - 100)],
  ['a flipped byte in the machine code', (bytes) => {
    bytes[bytes.length - 10] ^= 0xff
    return bytes
  }],
  ['a flipped byte in the header', (bytes) => {
    bytes[3] ^= 0xff
    return bytes
  }],
  ['empty', () => Buffer.alloc(0)],
  ['another entry\'s content', () => Buffer.from('x-wasi-module\0v1' + 'garbage'.repeat(20))],
]) {
  test(`disk cache: an entry that is ${damage} is ignored and rebuilt`, () => {
    const dir = tempDir()
    compileInChild({ cacheDir: dir })
    const [entry] = cacheEntries(dir)
    const file = path.join(dir, entry)
    fs.writeFileSync(file, corrupt(fs.readFileSync(file)))
    assert.equal(compileInChild({ cacheDir: dir }), 'compiled')
    assert.deepEqual(cacheEntries(dir), [entry], 'rewritten under the same name, no temporary files left')
    assert.equal(compileInChild({ cacheDir: dir }), 'disk')
  })
}

test('disk cache: concurrent writers of one entry leave one whole entry', async () => {
  const dir = tempDir()
  const runs = Array.from({ length: 6 }, () => new Promise((resolve) => {
    const child = spawn(process.execPath, childArgs({ cacheDir: dir }), { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => { stdout += chunk })
    child.stderr.on('data', (chunk) => { stderr += chunk })
    child.on('close', (status) => resolve({ status, stdout, stderr }))
  }))
  for (const { status, stdout, stderr } of await Promise.all(runs)) {
    assert.equal(status, 0, stderr)
    assert.equal(stdout, HELLO_OUTPUT)
    assert.match(stderr, /^(compiled|disk)$/)
  }
  const entries = cacheEntries(dir)
  assert.equal(entries.length, 1, `one entry, no temporary files: ${entries}`)
  assert.equal(compileInChild({ cacheDir: dir }), 'disk')
})

test('disk cache: an unwritable directory only costs the cache', () => {
  const file = path.join(tempDir(), 'not-a-directory')
  fs.writeFileSync(file, '')
  assert.equal(compileInChild({ cacheDir: file }), 'compiled')
})

test('compile() checks its arguments', () => {
  assert.throws(() => compile('not bytes'), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => compile(fs.readFileSync(HELLO), { engine: 'llvm' }), { name: 'TypeError', message: /engine/ })
  assert.throws(() => compile(fs.readFileSync(HELLO), { cacheDir: 42 }), { name: 'TypeError', message: /cacheDir/ })
  assert.throws(() => compile(fs.readFileSync(HELLO), { cache: 'yes' }), { name: 'TypeError', message: /cache/ })
  assert.throws(() => compile(Buffer.from('not wasm'), { cache: false }), WebAssembly.CompileError)
})

test('new WASI({ cache, cacheDir }).start(bytes) honours the cache options', () => {
  const envDir = tempDir()
  const startInChild = (options) => {
    const script = `const { WASI } = require(process.argv[1]);
      process.exitCode = new WASI(JSON.parse(process.argv[3])).start(require('node:fs').readFileSync(process.argv[2]))`
    const child = spawnSync(process.execPath, ['-e', script, ROOT, HELLO, JSON.stringify(options)], {
      encoding: 'utf8',
      env: { ...process.env, X_WASI_CACHE_DIR: envDir },
    })
    assert.equal(child.status, 0, child.stderr)
    assert.equal(child.stdout, HELLO_OUTPUT)
  }
  const dir = tempDir()
  startInChild({ cacheDir: dir, cache: false })
  assert.deepEqual(cacheEntries(dir), [], 'cache: false writes nothing')
  assert.deepEqual(cacheEntries(envDir), [], 'not even to the default directory')
  startInChild({ cacheDir: dir, engine: 'cranelift' })
  assert.equal(cacheEntries(dir).length, 1, 'the default stores the compiled module')
})
