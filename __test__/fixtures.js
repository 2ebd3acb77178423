'use strict'

// Builds the test fixtures on demand and caches them under fixtures/build/.
//
//   fixture('go:hello')     -> absolute path of hello.wasm (Go, wasip1)
//   fixture('go:adder_reactor') -> a Go reactor: a directory name ending in
//                              `_reactor` builds with -buildmode=c-shared
//                              (exports _initialize, not _start)
//   fixture('wat:trap_oob') -> absolute path of trap_oob.wasm (WAT)
//   fixture('c:poll')       -> absolute path of poll.wasm (C, wasm32-wasi,
//                              built with `zig cc` from PyPI's ziglang,
//                              installed under .cache/ on first use)
//
// A cache entry's name carries a hash of everything that decides its bytes
// (sources, toolchain version, flags), so edits rebuild and repeated runs
// don't. Entries are written under a temporary name and renamed into place,
// so test files running in parallel never see a half-written fixture.
//
// `node __test__/fixtures.js` builds everything (used by the setup script).

const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')

const FIXTURES_DIR = path.join(__dirname, 'fixtures')
const GO_DIR = path.join(FIXTURES_DIR, 'go')
const WAT_DIR = path.join(FIXTURES_DIR, 'wat')
const C_DIR = path.join(FIXTURES_DIR, 'c')
const BUILD_DIR = path.join(FIXTURES_DIR, 'build')

const GO_ENV = { GOOS: 'wasip1', GOARCH: 'wasm', CGO_ENABLED: '0', GOTOOLCHAIN: 'local' }
const GO_BUILD_FLAGS = ['-trimpath']
// Go programs in a directory whose name ends in this are reactors.
const GO_REACTOR_SUFFIX = '_reactor'
const GO_REACTOR_FLAGS = ['-buildmode=c-shared']
// Keep the name section: backtraces in trap errors are asserted on.
const WAT_BINARY_OPTIONS = { write_debug_names: true }
// Shared memories (shared_memory.wat) need the threads proposal.
const WAT_FEATURES = { threads: true }

function hashOf(parts) {
  const hash = crypto.createHash('sha256')
  for (const part of parts) {
    hash.update(String(part.length)).update(':').update(part)
  }
  return hash.digest('hex').slice(0, 16)
}

function filesUnder(dir) {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath ?? entry.path, entry.name))
    .sort()
}

function goPrograms() {
  return fs
    .readdirSync(GO_DIR, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && fs.existsSync(path.join(GO_DIR, entry.name, 'main.go')))
    .map((entry) => entry.name)
    .sort()
}

// The names of the `<name><extension>` files in `dir`, sorted.
function sourceNames(dir, extension) {
  return fs
    .readdirSync(dir)
    .filter((file) => file.endsWith(extension))
    .map((file) => path.basename(file, extension))
    .sort()
}

function watModules() {
  return sourceNames(WAT_DIR, '.wat')
}

// Moves a finished temporary build into place. Another process may have
// finished the same entry first; its bytes are identical, so keep either.
function publish(tmpPath, finalPath) {
  try {
    fs.renameSync(tmpPath, finalPath)
  } catch (err) {
    if (!fs.existsSync(finalPath)) throw err
    fs.rmSync(tmpPath, { recursive: true, force: true })
  }
}

// Drops cache entries with the same prefix but another hash: they belong to
// sources or toolchains that no longer exist.
function pruneStale(prefix, keep) {
  for (const entry of fs.readdirSync(BUILD_DIR)) {
    if (entry.startsWith(prefix) && entry !== keep) {
      fs.rmSync(path.join(BUILD_DIR, entry), { recursive: true, force: true })
    }
  }
}

function tmpPathFor(finalName) {
  return path.join(BUILD_DIR, `.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}-${finalName}`)
}

// ---------------------------------------------------------------- Go

function goVersion() {
  try {
    return execFileSync('go', ['version'], { env: { ...process.env, ...GO_ENV }, encoding: 'utf8' }).trim()
  } catch (err) {
    throw new Error(`building Go fixtures needs the go toolchain on PATH: ${err.message}`)
  }
}

function goCacheDirName() {
  const sources = filesUnder(GO_DIR).flatMap((file) => [path.relative(GO_DIR, file), fs.readFileSync(file)])
  const toolchain = [
    goVersion(),
    JSON.stringify(GO_ENV),
    GO_BUILD_FLAGS.join(' '),
    `${GO_REACTOR_SUFFIX}: ${GO_REACTOR_FLAGS.join(' ')}`,
  ]
  return `go-${hashOf([...toolchain, ...sources])}`
}

const isGoReactor = (name) => name.endsWith(GO_REACTOR_SUFFIX)

// One `go build` for all commands: the toolchain shares work between them,
// and the machine has few cores to spare. Reactors need another build mode,
// and `go build -buildmode=c-shared` takes one package at a time.
function buildGoPrograms(outDir) {
  fs.mkdirSync(outDir, { recursive: true })
  const goBuildWith = (args) =>
    execFileSync('go', ['build', ...GO_BUILD_FLAGS, ...args], {
      cwd: GO_DIR,
      env: { ...process.env, ...GO_ENV },
      stdio: ['ignore', 'inherit', 'inherit'],
    })
  const commands = goPrograms().filter((name) => !isGoReactor(name))
  goBuildWith(['-o', outDir + path.sep, ...commands.map((name) => `./${name}`)])
  for (const name of commands) {
    fs.renameSync(path.join(outDir, name), path.join(outDir, `${name}.wasm`))
  }
  for (const name of goPrograms().filter(isGoReactor)) {
    goBuildWith([...GO_REACTOR_FLAGS, '-o', path.join(outDir, `${name}.wasm`), `./${name}`])
  }
}

let goBuild = null

// Returns the directory holding <program>.wasm for every Go program.
function goBuildDir() {
  if (!goBuild) {
    const dirName = goCacheDirName()
    const dir = path.join(BUILD_DIR, dirName)
    if (!fs.existsSync(dir)) {
      fs.mkdirSync(BUILD_DIR, { recursive: true })
      const tmp = tmpPathFor(dirName)
      buildGoPrograms(tmp)
      publish(tmp, dir)
      pruneStale('go-', dirName)
    }
    goBuild = dir
  }
  return goBuild
}

function goFixture(name) {
  if (!goPrograms().includes(name)) throw new Error(`unknown Go fixture: ${name}`)
  return path.join(goBuildDir(), `${name}.wasm`)
}

// ---------------------------------------------------------------- WAT

// wabt only has an async API; compiling happens in a child process so that
// fixture() and buildAll() stay synchronous for the setup script and for
// tables built at require time.
function watCachePath(name) {
  const text = fs.readFileSync(path.join(WAT_DIR, `${name}.wat`), 'utf8')
  const version = require('wabt/package.json').version
  return path.join(BUILD_DIR, `wat-${name}-${hashOf([version, JSON.stringify(WAT_BINARY_OPTIONS), text])}.wasm`)
}

function compileWatsInChild(names) {
  execFileSync(process.execPath, [__filename, '--compile-wat', ...names], { stdio: ['ignore', 'inherit', 'inherit'] })
}

async function compileWats(names) {
  const wabt = await require('wabt')()
  fs.mkdirSync(BUILD_DIR, { recursive: true })
  for (const name of names) {
    const output = watCachePath(name)
    const source = path.join(WAT_DIR, `${name}.wat`)
    const module = wabt.parseWat(`${name}.wat`, fs.readFileSync(source, 'utf8'), WAT_FEATURES)
    try {
      module.resolveNames()
      module.validate(WAT_FEATURES)
      const tmp = tmpPathFor(path.basename(output))
      fs.writeFileSync(tmp, module.toBinary(WAT_BINARY_OPTIONS).buffer)
      publish(tmp, output)
      pruneStale(`wat-${name}-`, path.basename(output))
    } finally {
      module.destroy()
    }
  }
}

function watFixtures(names) {
  for (const name of names) {
    if (!watModules().includes(name)) throw new Error(`unknown WAT fixture: ${name}`)
  }
  const missing = names.filter((name) => !fs.existsSync(watCachePath(name)))
  if (missing.length > 0) compileWatsInChild(missing)
  return names.map(watCachePath)
}

// ---------------------------------------------------------------- C

// wasm32-wasi C needs clang with wasi-libc; PyPI's ziglang wheel is one
// (zig cc bundles both), installable anywhere pip reaches PyPI. It goes
// under the repository's .cache/ (gitignored), as does zig's own cache.
const REPO_ROOT = path.resolve(__dirname, '..')
const ZIG_DIR = path.join(REPO_ROOT, '.cache', 'ziglang')
const ZIG_PACKAGE = 'ziglang==0.17.1'
const C_FLAGS = ['-target', 'wasm32-wasi', '-O2', '-s', '-Wall', '-Werror']

function cPrograms() {
  return sourceNames(C_DIR, '.c')
}

function python() {
  return process.env.PYTHON || 'python3'
}

function zigEnv() {
  const cache = path.join(REPO_ROOT, '.cache', 'zig')
  return { ...process.env, PYTHONPATH: ZIG_DIR, ZIG_GLOBAL_CACHE_DIR: cache, ZIG_LOCAL_CACHE_DIR: cache }
}

function zig(args, options = {}) {
  return execFileSync(python(), ['-m', 'ziglang', ...args], { env: zigEnv(), encoding: 'utf8', ...options })
}

// Installs ziglang from PyPI into .cache/ziglang once: into a temporary
// directory first, then renamed, so parallel test files never see half of it.
function ensureZig() {
  if (fs.existsSync(path.join(ZIG_DIR, 'ziglang'))) return
  fs.mkdirSync(path.dirname(ZIG_DIR), { recursive: true })
  const tmp = `${ZIG_DIR}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`
  try {
    execFileSync(python(), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-warn-script-location', '--target', tmp, ZIG_PACKAGE], {
      stdio: ['ignore', 'inherit', 'inherit'],
      // Root is the usual user in CI containers: no warning about it.
      env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' },
    })
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true })
    throw new Error(
      `building the C fixtures (__test__/fixtures/c) needs zig cc: \`${python()} -m pip install --target ${ZIG_DIR} ${ZIG_PACKAGE}\` failed ` +
        `(${err.message.split('\n')[0]}). Install Python 3 with pip and reach PyPI, or put that package in ${ZIG_DIR} by hand.`,
    )
  }
  publish(tmp, ZIG_DIR)
}

let zigVersionText = null
function zigVersion() {
  if (zigVersionText === null) {
    ensureZig()
    zigVersionText = zig(['version']).trim()
  }
  return zigVersionText
}

function cCachePath(name) {
  const source = fs.readFileSync(path.join(C_DIR, `${name}.c`))
  // The shared headers beside the programs are part of every program.
  const headers = fs.readdirSync(C_DIR).filter((file) => file.endsWith('.h')).sort()
  const headerParts = headers.flatMap((file) => [file, fs.readFileSync(path.join(C_DIR, file))])
  return path.join(BUILD_DIR, `c-${name}-${hashOf([zigVersion(), C_FLAGS.join(' '), source, ...headerParts])}.wasm`)
}

function cFixture(name) {
  if (!cPrograms().includes(name)) throw new Error(`unknown C fixture: ${name}`)
  const output = cCachePath(name)
  if (!fs.existsSync(output)) {
    fs.mkdirSync(BUILD_DIR, { recursive: true })
    const tmp = tmpPathFor(path.basename(output))
    zig(['cc', ...C_FLAGS, '-o', tmp, path.join(C_DIR, `${name}.c`)], { stdio: ['ignore', 'inherit', 'inherit'] })
    publish(tmp, output)
    pruneStale(`c-${name}-`, path.basename(output))
  }
  return output
}

// ---------------------------------------------------------------- API

function parseFixtureName(name) {
  const match = /^(go|wat|c):([\w-]+)$/.exec(name)
  if (!match) throw new Error(`fixture name must look like go:<program>, wat:<module> or c:<program>, got ${JSON.stringify(name)}`)
  return { kind: match[1], base: match[2] }
}

function fixture(name) {
  const { kind, base } = parseFixtureName(name)
  if (kind === 'go') return goFixture(base)
  if (kind === 'c') return cFixture(base)
  return watFixtures([base])[0]
}

function fixtureBytes(name) {
  return fs.readFileSync(fixture(name))
}

function buildAll() {
  return [...goPrograms().map(goFixture), ...watFixtures(watModules()), ...cPrograms().map(cFixture)]
}

module.exports = { fixture, fixtureBytes, buildAll }

function main(argv) {
  if (argv[0] === '--compile-wat') {
    compileWats(argv.slice(1)).catch((err) => {
      console.error(err.message)
      process.exitCode = 1
    })
    return
  }
  for (const file of buildAll()) console.log(path.relative(process.cwd(), file))
}

if (require.main === module) main(process.argv.slice(2))
