'use strict'

// Builds the test fixtures on demand and caches them under fixtures/build/.
//
//   fixture('go:hello')     -> absolute path of hello.wasm (Go, wasip1)
//   fixture('go:adder_reactor') -> a Go reactor: a directory name ending in
//                              `_reactor` builds with -buildmode=c-shared
//                              (exports _initialize, not _start)
//   fixture('wat:trap_oob') -> absolute path of trap_oob.wasm (WAT)
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

function watModules() {
  return fs
    .readdirSync(WAT_DIR)
    .filter((file) => file.endsWith('.wat'))
    .map((file) => path.basename(file, '.wat'))
    .sort()
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

// ---------------------------------------------------------------- API

function parseFixtureName(name) {
  const match = /^(go|wat):([\w-]+)$/.exec(name)
  if (!match) throw new Error(`fixture name must look like go:<program> or wat:<module>, got ${JSON.stringify(name)}`)
  return { kind: match[1], base: match[2] }
}

function fixture(name) {
  const { kind, base } = parseFixtureName(name)
  return kind === 'go' ? goFixture(base) : watFixtures([base])[0]
}

function fixtureBytes(name) {
  return fs.readFileSync(fixture(name))
}

function buildAll() {
  return [...goPrograms().map(goFixture), ...watFixtures(watModules())]
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
