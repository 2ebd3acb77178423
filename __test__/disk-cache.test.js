'use strict'
// The on-disk cache is bounded: its size limit (option, environment
// variable), least-recently-used eviction, many processes at once, and the
// `x-wasi cache dir|size|clean` commands. Every cache here is a temporary
// directory, removed at the end.

const assert = require('node:assert/strict')
const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { test, after } = require('node:test')

const { compile } = require('..')
const { parseSize, defaultMaxBytes, usage, clean } = require('../lib/disk-cache')
const { fixture } = require('./fixtures')

const ROOT = path.resolve(__dirname, '..')
const CLI = path.join(ROOT, 'bin', 'x-wasi.js')
const HELLO = fixture('wat:hello_unstable')
const HELLO_OUTPUT = 'Hello from wasi_unstable!\n'

const dirs = []
after(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })))
function tempDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'x-wasi-disk-cache-'))
  dirs.push(dir)
  return dir
}

// A child that compiles variants of hello (the same code, a custom section
// naming the variant: another cache key each) with the given options
// (Cranelift unless told), runs each, and prints the modules' origins on
// stderr, comma-separated.
const CHILD = `
const { WASI, compile } = require(process.argv[1])
const base = require('node:fs').readFileSync(process.argv[2])
const origins = []
for (const variant of process.argv[3].split(',')) {
  const name = Buffer.from('variant'), payload = Buffer.from(variant)
  const section = Buffer.concat([Buffer.from([name.length]), name, payload])
  const options = { engine: 'cranelift', ...JSON.parse(process.argv[4]) }
  const module = compile(Buffer.concat([base, Buffer.from([0, section.length]), section]), options)
  const code = new WASI({ returnOnExit: true }).start(module)
  if (code !== 0) process.exit(3)
  origins.push(module.origin)
}
process.stderr.write(origins.join(','))
`

function childArgs(variant, options) {
  return ['-e', CHILD, ROOT, HELLO, String(variant), JSON.stringify(options)]
}

function compileInChild(variant, options, env = {}) {
  const child = spawnSync(process.execPath, childArgs(variant, options), { encoding: 'utf8', env: { ...process.env, ...env } })
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout, HELLO_OUTPUT.repeat(String(variant).split(',').length))
  return child.stderr
}

function entries(dir) {
  return fs.readdirSync(dir).filter((name) => name.endsWith('.module')).sort()
}

function entrySize(dir) {
  const sizes = entries(dir).map((name) => fs.statSync(path.join(dir, name)).size)
  return Math.max(...sizes)
}

/** Sets every entry's last use to `secondsAgo` seconds ago. */
function age(dir, name, secondsAgo) {
  const when = new Date(Date.now() - secondsAgo * 1000)
  fs.utimesSync(path.join(dir, name), when, when)
}

test('disk cache: sizes as the option and X_WASI_CACHE_MAX_BYTES take them', () => {
  assert.equal(parseSize('1073741824'), 2 ** 30)
  assert.equal(parseSize('512M'), 512 * 2 ** 20)
  assert.equal(parseSize('2GiB'), 2 * 2 ** 30)
  assert.equal(parseSize('1.5k'), 1536)
  assert.equal(parseSize('10 MB'), 10 * 2 ** 20)
  for (const bad of ['', 'abc', '-1', '1X', '1e9']) assert.equal(parseSize(bad), null, bad)
  assert.equal(defaultMaxBytes({}), 2 ** 30)
  assert.equal(defaultMaxBytes({ X_WASI_CACHE_MAX_BYTES: '64M' }), 64 * 2 ** 20)
  assert.throws(() => defaultMaxBytes({ X_WASI_CACHE_MAX_BYTES: 'lots' }), { name: 'TypeError', message: /X_WASI_CACHE_MAX_BYTES/ })
  for (const bad of [-1, 1.5, '1G', null]) {
    assert.throws(() => compile(fs.readFileSync(HELLO), { cacheDir: tempDir(), cacheMaxBytes: bad }), { name: 'TypeError', message: /cacheMaxBytes/ })
  }
})

test('disk cache: the least recently used entry goes first; a hit counts as a use', () => {
  const dir = tempDir()
  assert.equal(compileInChild('a', { cacheDir: dir }), 'compiled')
  const [a] = entries(dir)
  assert.equal(compileInChild('b', { cacheDir: dir }), 'compiled')
  const [b] = entries(dir).filter((name) => name !== a)
  // a is older than b, until a hit uses it.
  age(dir, a, 200)
  age(dir, b, 100)
  const limit = Math.floor(entrySize(dir) * 2.5)
  assert.equal(compileInChild('a', { cacheDir: dir, cacheMaxBytes: limit }), 'disk')
  assert.equal(compileInChild('c', { cacheDir: dir, cacheMaxBytes: limit }), 'compiled')
  assert.equal(entries(dir).length, 2)
  assert.ok(entries(dir).includes(a), 'the entry just used stays')
  assert.ok(!entries(dir).includes(b), 'the least recently used entry went')
  assert.equal(compileInChild('a', { cacheDir: dir, cacheMaxBytes: limit }), 'disk')
  assert.equal(compileInChild('b', { cacheDir: dir, cacheMaxBytes: limit }), 'compiled')
})

test('disk cache: X_WASI_CACHE_MAX_BYTES sets the limit; an entry larger than it is kept alone', () => {
  const dir = tempDir()
  for (const variant of ['a', 'b', 'c']) compileInChild(variant, { cacheDir: dir })
  assert.equal(entries(dir).length, 3)
  assert.equal(compileInChild('d', { cacheDir: dir }, { X_WASI_CACHE_MAX_BYTES: '1' }), 'compiled')
  assert.equal(entries(dir).length, 1, 'only the entry just stored')
  assert.equal(compileInChild('d', { cacheDir: dir }, { X_WASI_CACHE_MAX_BYTES: '1' }), 'disk')
  assert.equal(compileInChild('e', { cacheDir: dir, cacheMaxBytes: 0 }), 'compiled', 'the option wins over the variable')
  assert.equal(entries(dir).length, 1)
})

test('disk cache: many processes writing and reading at once stay within the limit, every entry whole', async () => {
  const dir = tempDir()
  compileInChild('probe', { cacheDir: dir })
  const size = entrySize(dir)
  fs.rmSync(path.join(dir, entries(dir)[0]))
  const limit = size * 3
  const options = JSON.stringify({ cacheDir: dir, cacheMaxBytes: limit })
  const runs = []
  for (let p = 0; p < 8; p++) {
    // Each process compiles or loads four of six variants; they overlap, so
    // some read entries while others evict them.
    const variants = [0, 1, 2, 3].map((i) => (p + i) % 6).join(',')
    const child = spawn(process.execPath, ['-e', CHILD, ROOT, HELLO, variants, options], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    runs.push(new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr }))))
  }
  for (const { code, stdout, stderr } of await Promise.all(runs)) {
    assert.equal(code, 0, stderr)
    assert.equal(stdout, HELLO_OUTPUT.repeat(4))
    assert.match(stderr, /^((compiled|disk),){3}(compiled|disk)$/)
  }
  const { entries: left, bytes } = usage(dir)
  assert.ok(bytes <= limit + size, `${bytes} bytes held, limit ${limit} (+ one entry of ${size})`)
  assert.deepEqual(fs.readdirSync(dir).filter((name) => name.endsWith('.tmp')), [], 'no temporary file left')
  // Every entry left is whole: each loads rather than being rebuilt.
  const origins = compileInChild('0,1,2,3,4,5', { cacheDir: dir, cacheMaxBytes: 2 ** 30 }).split(',')
  assert.equal(origins.filter((origin) => origin === 'disk').length, left)
})

function cli(args, env) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env } })
}

test('x-wasi cache dir|size|clean', () => {
  const dir = tempDir()
  const env = { X_WASI_CACHE_DIR: dir, X_WASI_CACHE_MAX_BYTES: '256M' }
  assert.equal(cli(['cache', 'dir'], env).stdout, `${dir}\n`)
  assert.match(cli(['cache', 'size'], env).stdout, /^0 B in 0 entries \(limit 256\.0 MiB\): /)

  for (const variant of ['a', 'b']) compileInChild(variant, {}, env)
  const other = path.join(dir, 'not-ours.txt')
  fs.writeFileSync(other, 'kept')
  const { bytes } = usage(dir)
  const size = cli(['cache', 'size'], env)
  assert.equal(size.status, 0, size.stderr)
  assert.match(size.stdout, / in 2 entries \(limit 256\.0 MiB\): /)
  assert.ok(bytes > 0)

  const cleaned = cli(['cache', 'clean'], env)
  assert.equal(cleaned.status, 0, cleaned.stderr)
  assert.match(cleaned.stdout, /^removed 2 entries \(/)
  assert.deepEqual(fs.readdirSync(dir), ['not-ours.txt'], 'only cache entries are removed')
  assert.deepEqual(clean(dir), { entries: 0, bytes: 0 })

  const missing = path.join(dir, 'never-made')
  assert.match(cli(['cache', 'size'], { X_WASI_CACHE_DIR: missing }).stdout, /^0 B in 0 entries/)
  assert.equal(cli(['cache', 'clean'], { X_WASI_CACHE_DIR: missing }).status, 0)
  assert.ok(!fs.existsSync(missing), 'looking at a cache does not create it')

  const bad = cli(['cache', 'wipe'], env)
  assert.equal(bad.status, 2)
  assert.match(bad.stderr, /unknown cache action 'wipe' \(expected dir, size, clean\)/)
})
