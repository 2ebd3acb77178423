#!/usr/bin/env node
'use strict'
// The `go test -exec` workload: Go standard-library test binaries for
// GOOS=wasip1, built beforehand (no side pays for `go build`), each run ONCE
// the way `go test -exec RUNNER` runs it (in the package's directory, with
// -test.short), by each runtime in turn:
//
//   node:wasi         a Node script: preopens { '/': '/' }, PWD and PATH passed
//   @x/wasi default   bin/x-wasi-go (engine 'auto'), an empty disk cache
//   @x/wasi V8 mode   bin/x-wasi-go with --mode=v8
//
// bin/x-wasi-go is run as `go test` runs it (a shell script that starts the
// `node` of PATH: this one, put first on PATH).
//
// Reports the wall time of all packages per runtime and how many passed.
//
//   node bench/go-test-exec.js [--packages os,fmt,...] [--json] [--runtimes node,default,v8]

const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { parseArgs } = require('node:util')

const ROOT = path.join(__dirname, '..')
const BUILD_DIR = path.join(__dirname, 'build', 'go-test-exec')
const X_WASI_GO = path.join(ROOT, 'bin', 'x-wasi-go')
const GO_ENV = { ...process.env, GOOS: 'wasip1', GOARCH: 'wasm', GOTOOLCHAIN: 'local' }
const NODE_FIRST_PATH = [path.dirname(process.execPath), process.env.PATH].join(path.delimiter)
const TEST_ARGS = ['-test.short', '-test.count=1', '-test.timeout=300s', '-test.paniconexit0']

// node:wasi running one test binary as go_wasip1_wasm_exec runs wasmtime.
const NODE_WASI_EXEC = String.raw`
const fs = require('node:fs')
const { WASI } = require('node:wasi')
const [wasm, ...args] = process.argv.slice(1)
const wasi = new WASI({ version: 'preview1', args: [wasm, ...args], env: { PWD: process.cwd(), PATH: process.env.PATH }, preopens: { '/': '/' }, returnOnExit: true })
WebAssembly.instantiate(fs.readFileSync(wasm), wasi.getImportObject()).then(({ instance }) => { process.exitCode = wasi.start(instance) })
`

const RUNTIMES = {
  node: { name: 'node:wasi', command: (bin) => [process.execPath, '--no-warnings', '-e', NODE_WASI_EXEC, bin] },
  default: { name: '@x/wasi default (auto), empty cache', command: (bin) => [X_WASI_GO, bin], freshCache: true },
  v8: { name: '@x/wasi V8 mode', command: (bin) => [X_WASI_GO, bin], env: { X_WASI_GO_FLAGS: '--mode=v8' } },
}

function defaultPackages() {
  const source = fs.readFileSync(path.join(ROOT, 'scripts', 'go-std.js'), 'utf8')
  const list = /const DEFAULT_PACKAGES = \[([^\]]*)\]/.exec(source)[1]
  return [...list.matchAll(/'([^']+)'/g)].map((m) => m[1])
}

/** Builds each package's test binary once; returns [{ pkg, bin, dir }]. */
function build(packages) {
  fs.mkdirSync(BUILD_DIR, { recursive: true })
  return packages.map((pkg) => {
    const bin = path.join(BUILD_DIR, `${pkg.replaceAll('/', '_')}.test.wasm`)
    if (!fs.existsSync(bin)) {
      process.stderr.write(`go-test-exec: building ${pkg}\n`)
      execFileSync('go', ['test', '-c', '-o', bin, pkg], { env: GO_ENV, stdio: ['ignore', 'inherit', 'inherit'] })
    }
    const dir = execFileSync('go', ['list', '-f', '{{.Dir}}', pkg], { env: GO_ENV, encoding: 'utf8' }).trim()
    return { pkg, bin, dir }
  })
}

/** Runs one test binary; returns its wall seconds and whether it passed. */
function runOne(runtime, { bin, dir }, cache) {
  const [command, ...args] = runtime.command(bin)
  const started = process.hrtime.bigint()
  const child = spawnSync(command, [...args, ...TEST_ARGS], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'ignore'],
    env: { ...process.env, PATH: NODE_FIRST_PATH, ...runtime.env, X_WASI_CACHE_DIR: cache },
    timeout: 600_000,
  })
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  return { seconds, status: child.status === 0 ? null : (child.signal ?? `exit ${child.status}`) }
}

/**
 * Every package by every runtime, package by package, the runtimes' order
 * rotating so that the machine's noise spreads over all of them. Each
 * runtime has a cache directory of its own for the whole series (empty at
 * the start: a test binary is run once, as under `go test -exec`).
 */
function runAll(runtimes, tests) {
  const caches = runtimes.map(() => fs.mkdtempSync(path.join(os.tmpdir(), 'x-wasi-bench-gotest-')))
  const results = runtimes.map(() => [])
  try {
    tests.forEach((test, i) => {
      for (let k = 0; k < runtimes.length; k++) {
        const r = (i + k) % runtimes.length
        results[r][i] = runOne(runtimes[r], test, caches[r])
      }
    })
  } finally {
    for (const cache of caches) fs.rmSync(cache, { recursive: true, force: true })
  }
  return results
}

function main() {
  const { values } = parseArgs({
    options: {
      packages: { type: 'string' },
      runtimes: { type: 'string', default: 'node,default,v8' },
      json: { type: 'boolean', default: false },
    },
  })
  const packages = values.packages ? values.packages.split(',') : defaultPackages()
  const tests = build(packages)
  const runtimes = values.runtimes.split(',').map((key) => {
    if (!RUNTIMES[key]) throw new Error(`unknown runtime '${key}' (${Object.keys(RUNTIMES).join(', ')})`)
    return RUNTIMES[key]
  })
  const results = runAll(runtimes, tests)
  // The packages every runtime passed: a crash ends a package early, so
  // only these compare like with like.
  const common = tests.map((_, i) => i).filter((i) => results.every((r) => r[i].status === null))
  const rows = runtimes.map((runtime, r) => {
    const runs = results[r]
    const failed = tests.flatMap((t, i) => (runs[i].status === null ? [] : [`${t.pkg} (${runs[i].status})`]))
    const seconds = runs.reduce((sum, run) => sum + run.seconds, 0)
    const commonSeconds = common.reduce((sum, i) => sum + runs[i].seconds, 0)
    process.stderr.write(`go-test-exec: ${runtime.name}: ${seconds.toFixed(1)} s, ${tests.length - failed.length}/${tests.length} passed${failed.length ? `; failed: ${failed.join(', ')}` : ''}\n`)
    return { name: runtime.name, seconds, commonSeconds, passed: tests.length - failed.length, failed, perPackage: runs.map((run, i) => ({ pkg: tests[i].pkg, ...run })) }
  })
  if (values.json) return process.stdout.write(JSON.stringify({ packages, common: common.map((i) => packages[i]), rows }))
  const base = rows.find((r) => r.name === 'node:wasi')
  const ratio = (value, baseValue) => (base ? `${(value / baseValue).toFixed(2)}×` : '')
  process.stdout.write(`| go test -exec, ${packages.length} std packages, test binaries prebuilt | wall, all packages | × node:wasi | passed | wall, the ${common.length} packages every runtime passed | × node:wasi |\n| --- | --- | --- | --- | --- | --- |\n`)
  for (const r of rows) {
    process.stdout.write(`| ${r.name} | ${r.seconds.toFixed(1)} s | ${ratio(r.seconds, base?.seconds)} | ${r.passed}/${packages.length} | ${r.commonSeconds.toFixed(1)} s | ${ratio(r.commonSeconds, base?.commonSeconds)} |\n`)
  }
  if (!base || base.failed.length === 0) return
  // A failed package stops early (a crash) or skips work: its wall time
  // beside each runtime's shows what the "all packages" column compares.
  process.stdout.write(`\nnode:wasi failed ${base.failed.length}; wall time of each of those packages:\n\n| package | ${rows.map((r) => r.name).join(' | ')} |\n| --- |${rows.map(() => ' --- |').join('')}\n`)
  tests.forEach((test, i) => {
    if (base.perPackage[i].status === null) return
    const cells = rows.map((r) => `${r.perPackage[i].seconds.toFixed(2)} s${r.perPackage[i].status ? ` (${r.perPackage[i].status})` : ''}`)
    process.stdout.write(`| ${test.pkg} | ${cells.join(' | ')} |\n`)
  })
}

main()
