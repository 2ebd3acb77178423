#!/usr/bin/env node
'use strict'

// Runs the official WebAssembly/wasi-testsuite (its prod/testsuite-base branch,
// which ships prebuilt tests) through `x-wasi`, and optionally through wasmtime
// and node:wasi for comparison. A small stand-in for the suite's Python runner,
// following its doc/specification.md. The suite itself is never vendored here.
// It runs on a temporary copy: the checkout may be read-only (it is in CI) and
// some tests write into their fixture directories.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { parseArgs } = require('node:util')
const { loadSpec, rootsOf, CLI_WORLD } = require('./wasi-testsuite/spec')
const { FixtureGuard, removeCleanupArtifacts } = require('./wasi-testsuite/fixtures')
const { RUNTIME_NAMES, X_WASI_MODES, selectRuntimes } = require('./wasi-testsuite/runtimes')
const { runTest } = require('./wasi-testsuite/executor')

// The runtimes driven here implement WASI preview 1 only.
const SUPPORTED_WASI_VERSIONS = ['wasm32-wasip1']
const DEFAULT_TIMEOUT_SECONDS = 5 // what the official runner allows each test
// Where every checkout of this project finds the suite (beside the repository).
const DEFAULT_SUITE = path.join(__dirname, '..', '..', 'shared', 'wasi-testsuite')

const HELP = `Usage: node scripts/wasi-testsuite.js [OPTIONS] [FILTER]...

Runs the wasi-testsuite (a checkout of its prod/testsuite-base branch) found
at --suite, else $WASI_TESTSUITE, else ../shared/wasi-testsuite beside this
repository. A --suite or $WASI_TESTSUITE that does not exist is an error;
without either and without ../shared/wasi-testsuite it says so and exits 0.
Prints one line per runtime, "wasi-testsuite <mode>: P/T passed" (T: every
test found, so a skipped test counts as not passed), and exits 1 unless every
runtime passed every test. FILTERs are substrings of test names (e.g. "rust/",
"path_open"); a test runs if it matches any, and T counts only those.

Options:
  --suite <DIR>        The wasi-testsuite checkout (default: see above).
  --runtime <LIST>     Comma-separated runtimes: ${RUNTIME_NAMES.join(', ')}
                       (default: $WASI_RUNTIME or x-wasi). wasmtime comes from
                       $WASMTIME or PATH; node uses the built-in node:wasi.
  --mode <LIST>        Comma-separated x-wasi modes: ${Object.keys(X_WASI_MODES).join(', ')}
                       (native with either compiler, or V8; default: the CLI's
                       default, native Cranelift). --engine is an alias.
  --timeout <SECONDS>  Per-test limit for each read and for the exit
                       (default: ${DEFAULT_TIMEOUT_SECONDS}, like the official runner).
  --verbose            Print the command line of every test.
  --quiet              Print failures and the summary lines only.
  -h, --help           Print this help.
`

function parseOptions(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      suite: { type: 'string' },
      runtime: { type: 'string', multiple: true },
      mode: { type: 'string', multiple: true },
      engine: { type: 'string', multiple: true },
      timeout: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  const timeoutSeconds = Number(values.timeout ?? DEFAULT_TIMEOUT_SECONDS)
  if (!(timeoutSeconds > 0)) throw new Error(`bad --timeout '${values.timeout}'`)
  return {
    help: values.help,
    suite: values.suite ?? process.env.WASI_TESTSUITE,
    runtimes: splitList(values.runtime ?? [process.env.WASI_RUNTIME || 'x-wasi']),
    modes: splitList([...(values.mode ?? []), ...(values.engine ?? [])]),
    timeoutMs: timeoutSeconds * 1000,
    verbose: values.verbose,
    quiet: values.quiet,
    filters: positionals,
  }
}

function splitList(values) {
  return values.flatMap((value) => value.split(',')).map((item) => item.trim()).filter(Boolean)
}

// ---- discovery -------------------------------------------------------------

/** Directories holding a manifest.json, like the official `run-tests` looks for. */
function findTestDirs(dir) {
  const entries = fs.readdirSync(dir, { withFileTypes: true })
  const here = entries.some((entry) => entry.isFile() && entry.name === 'manifest.json') ? [dir] : []
  const below = entries
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.') && entry.name !== 'node_modules')
    .flatMap((entry) => findTestDirs(path.join(dir, entry.name)))
  return [...here, ...below]
}

function readManifest(dir) {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'))
  const versionFromDir = path.basename(dir).startsWith('wasm32-') ? path.basename(dir) : 'wasm32-wasip1'
  return { name: manifest.name ?? dir, wasiVersion: manifest.version ?? versionFromDir }
}

// "tests/rust/testsuite/wasm32-wasip1" → "rust/wasm32-wasip1"
function shortSuiteName(suiteRoot, dir) {
  const parts = path.relative(suiteRoot, dir).split(path.sep)
  return parts.filter((part) => part !== 'tests' && part !== 'testsuite').join('/') || path.basename(dir)
}

function discoverTests(suiteRoot) {
  const testsRoot = fs.existsSync(path.join(suiteRoot, 'tests')) ? path.join(suiteRoot, 'tests') : suiteRoot
  return findTestDirs(testsRoot).map((dir) => {
    const manifest = readManifest(dir)
    const prefix = shortSuiteName(suiteRoot, dir)
    const tests = fs
      .readdirSync(dir)
      .filter((name) => name.endsWith('.wasm'))
      .sort()
      .map((name) => describeTest(suiteRoot, dir, prefix, name))
    return { dir, ...manifest, tests }
  })
}

function describeTest(suiteRoot, dir, prefix, fileName) {
  const spec = loadSpec(path.join(dir, fileName))
  // Children run in the suite root with relative paths, as `./run-tests` does.
  for (const op of spec.operations) {
    if (op.type === 'run' && op.root) op.root = path.relative(suiteRoot, op.root)
  }
  return {
    id: `${prefix}/${fileName.replace(/\.wasm$/, '')}`,
    relativePath: path.relative(suiteRoot, path.join(dir, fileName)),
    spec,
  }
}

/** The tests matching the filters; `total` also counts those of unsupported suites. */
function selectTests(suites, filters) {
  const runnable = []
  let total = 0
  for (const suite of suites) {
    const matching = suite.tests.filter((test) => filters.length === 0 || filters.some((f) => test.id.includes(f)))
    total += matching.length
    if (!SUPPORTED_WASI_VERSIONS.includes(suite.wasiVersion)) {
      console.log(`skip suite "${suite.name}": ${suite.wasiVersion} is not supported (${matching.length} tests)`)
      continue
    }
    runnable.push(...matching)
  }
  return { runnable, total }
}

// ---- running ---------------------------------------------------------------

function formatSeconds(ms) {
  return `${(ms / 1000).toFixed(2)}s`
}

function indent(text) {
  return text.replace(/^/gm, '    ')
}

async function runOne(test, runtime, context) {
  if (test.spec.world !== CLI_WORLD) {
    console.log(`SKIP ${test.id}: world ${test.spec.world} is not supported`)
    return 'skipped'
  }
  const roots = rootsOf(test.spec).map((root) => path.join(context.suiteRoot, root))
  roots.forEach((root) => context.fixtures.prepare(root))

  const started = Date.now()
  const { failures, argv } = await runTest(test, runtime, { cwd: context.suiteRoot, timeoutMs: context.timeoutMs })
  const elapsed = formatSeconds(Date.now() - started)

  const repairs = roots.flatMap((root) => context.fixtures.restore(root))
  const passed = failures.length === 0
  if (!passed || !context.quiet) {
    console.log(`${passed ? 'PASS' : 'FAIL'} ${test.id} (${elapsed})${passed ? '' : `: ${firstLine(failures[0])}`}`)
  }
  if (context.verbose || !passed) console.log(indent(`$ ${argv.map(shellQuote).join(' ')}`))
  if (!passed) console.log(indent(failures.join('\n')))
  for (const repair of repairs) console.log(indent(`fixture: ${repair}`))
  return passed ? 'passed' : 'failed'
}

function firstLine(text) {
  return text.split('\n')[0]
}

function shellQuote(arg) {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`
}

async function runSuiteOn(runtime, tests, context) {
  if (!context.quiet) console.log(`\n== ${runtime.name}: ${tests.length} tests`)
  const counts = { passed: 0, failed: 0, skipped: 0, failedIds: [] }
  for (const test of tests) {
    const outcome = await runOne(test, runtime, context)
    counts[outcome]++
    if (outcome === 'failed') counts.failedIds.push(test.id)
  }
  if (!context.quiet) console.log(`${runtime.name}: ${summaryLine(counts)}`)
  return counts
}

function summaryLine({ passed, failed, skipped }) {
  return `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`
}

/** Drops unavailable peers with a note; a missing x-wasi addon is fatal. */
function availableRuntimes(runtimes) {
  const available = []
  for (const runtime of runtimes) {
    const reason = runtime.unavailableReason()
    if (reason === null) available.push(runtime)
    else if (runtime.required) throw new Error(`${runtime.name}: ${reason}`)
    else console.log(`skip runtime ${runtime.name}: ${reason}`)
  }
  return available
}

// "x-wasi/v8" → "v8": the line names the mode when the runtime is ours.
function modeName(runtime) {
  return runtime.mode ?? runtime.name
}

function printResults(results, total) {
  for (const { runtime, counts } of results) {
    const failed = counts.failedIds.length ? `  (failed: ${counts.failedIds.join(' ')})` : ''
    console.log(`wasi-testsuite ${modeName(runtime)}: ${counts.passed}/${total} passed${failed}`)
  }
}

/** Where the suite is, or null (with the reason printed) when there is none to run. */
function locateSuite(option) {
  if (option) {
    if (!fs.existsSync(option)) throw new Error(`the suite '${option}' does not exist (from --suite or WASI_TESTSUITE)`)
    return path.resolve(option)
  }
  if (fs.existsSync(DEFAULT_SUITE)) return path.resolve(DEFAULT_SUITE)
  console.log(
    `wasi-testsuite: skipped: no suite (WASI_TESTSUITE is not set and ${path.resolve(DEFAULT_SUITE)} does not exist; ` +
      'point WASI_TESTSUITE at a checkout of WebAssembly/wasi-testsuite, branch prod/testsuite-base)',
  )
  return null
}

// Files keep their exec bit; everything becomes writable by us, as in a git
// checkout (the shared copy is read-only).
function copySuite(from, to) {
  fs.cpSync(from, to, { recursive: true, verbatimSymlinks: true })
  const makeWritable = (dir) => {
    fs.chmodSync(dir, fs.statSync(dir).mode | 0o700)
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name)
      if (entry.isDirectory()) makeWritable(full)
      else if (entry.isFile()) fs.chmodSync(full, fs.statSync(full).mode | 0o600)
    }
  }
  makeWritable(to)
}

async function main(argv) {
  const options = parseOptions(argv)
  if (options.help) {
    process.stdout.write(HELP)
    return 0
  }
  const source = locateSuite(options.suite)
  if (source === null) return 0
  const runtimes = availableRuntimes(selectRuntimes(options.runtimes, options.modes))

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'x-wasi-testsuite-'))
  const fixtures = new FixtureGuard()
  const results = []
  let total
  try {
    const suiteRoot = path.join(work, 'suite')
    copySuite(source, suiteRoot)
    // The children compile every test: keep that out of the user's cache.
    if (!process.env.X_WASI_CACHE_DIR) process.env.X_WASI_CACHE_DIR = path.join(work, 'cache')
    // x-wasi's launcher starts the `node` of PATH: the one running this.
    process.env.PATH = [path.dirname(process.execPath), process.env.PATH].join(path.delimiter)
    const suites = discoverTests(suiteRoot)
    suites.forEach((suite) => removeCleanupArtifacts(suite.dir)) // leftovers of earlier runs
    const selected = selectTests(suites, options.filters)
    total = selected.total
    if (total === 0) throw new Error(`no tests found in '${source}'${options.filters.length ? ' matching the filters' : ''}`)
    const context = { suiteRoot, fixtures, timeoutMs: options.timeoutMs, verbose: options.verbose, quiet: options.quiet }
    for (const runtime of runtimes) {
      results.push({ runtime, counts: await runSuiteOn(runtime, selected.runnable, context) })
    }
  } finally {
    fixtures.dispose()
    fs.rmSync(work, { recursive: true, force: true })
  }

  if (!options.quiet) console.log('')
  printResults(results, total)
  return results.every(({ counts }) => counts.passed === total) ? 0 : 1
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    console.error(`wasi-testsuite: ${err.message}`)
    process.exitCode = 1
  },
)
