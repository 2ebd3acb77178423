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
  default: { name: '@x/wasi default (auto), empty cache', command: (bin) => [process.execPath, X_WASI_GO, bin], freshCache: true },
  v8: { name: '@x/wasi V8 mode', command: (bin) => [process.execPath, X_WASI_GO, bin], env: { X_WASI_GO_FLAGS: '--mode=v8' } },
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

function runAll(runtime, tests) {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'x-wasi-bench-gotest-'))
  const started = process.hrtime.bigint()
  const failed = []
  try {
    for (const { pkg, bin, dir } of tests) {
      const [command, ...args] = runtime.command(bin)
      const child = spawnSync(command, [...args, ...TEST_ARGS], {
        cwd: dir,
        stdio: ['ignore', 'ignore', 'ignore'],
        env: { ...process.env, ...runtime.env, X_WASI_CACHE_DIR: cache },
        timeout: 600_000,
      })
      if (child.status !== 0) failed.push(`${pkg} (${child.signal ?? `exit ${child.status}`})`)
    }
  } finally {
    fs.rmSync(cache, { recursive: true, force: true })
  }
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, passed: tests.length - failed.length, failed }
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
  const rows = []
  for (const key of values.runtimes.split(',')) {
    const runtime = RUNTIMES[key]
    if (!runtime) throw new Error(`unknown runtime '${key}' (${Object.keys(RUNTIMES).join(', ')})`)
    const result = runAll(runtime, tests)
    process.stderr.write(`go-test-exec: ${runtime.name}: ${result.seconds.toFixed(1)} s, ${result.passed}/${tests.length} passed${result.failed.length ? `; failed: ${result.failed.join(', ')}` : ''}\n`)
    rows.push({ name: runtime.name, ...result })
  }
  if (values.json) return process.stdout.write(JSON.stringify({ packages, rows }))
  const base = rows.find((r) => r.name === 'node:wasi')
  process.stdout.write(`| go test -exec, ${packages.length} std packages, test binaries prebuilt | wall | × node:wasi | passed |\n| --- | --- | --- | --- |\n`)
  for (const r of rows) {
    const ratio = base ? `${(r.seconds / base.seconds).toFixed(2)}×` : ''
    process.stdout.write(`| ${r.name} | ${r.seconds.toFixed(1)} s | ${ratio} | ${r.passed}/${packages.length} |\n`)
  }
}

main()
