#!/usr/bin/env node
'use strict'
// `npm test`: builds once (scripts/setup.js), then runs
//   1. the official WASI test suite in each mode (scripts/wasi-testsuite.js),
//   2. the node:test files of __test__/ on every Node major package.json
//      declares (the addon is N-API: one build serves them all),
//   3. the Rust unit tests,
// and ends with one line "N passed, N failed". Everything runs with a
// temporary X_WASI_CACHE_DIR and TMPDIR, removed at the end: the user's
// cache gains nothing, and a test that leaves files in TMPDIR fails the run.
//
// Arguments: test files to run instead of all of __test__/*.test.js.
// X_WASI_TEST_NODES=current (or "22,24") narrows the Node majors for a quick
// local loop; CI leaves it unset and runs them all.

const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { declaredMajors, majorOf, nodeBinary, versionOf } = require('./node-majors')
const { defaultCacheDir } = require('../lib/disk-cache')

const ROOT = path.resolve(__dirname, '..')
const TEST_DIR = path.join(ROOT, '__test__')
// A run that takes longer than this is stuck: it is killed and counted failed.
const NODE_SUITE_LIMIT_MS = 25 * 60_000

function log(line = '') {
  process.stdout.write(`${line}\n`)
}

function testFiles(args) {
  if (args.length > 0) return args.map((file) => path.resolve(file))
  // Named one by one: Node >= 21 runs a directory given to --test as a module.
  return fs
    .readdirSync(TEST_DIR)
    .filter((name) => /\.test\.[cm]?js$/.test(name))
    .sort()
    .map((name) => path.join(TEST_DIR, name))
}

function selectedMajors() {
  const declared = declaredMajors()
  const wanted = (process.env.X_WASI_TEST_NODES || '').trim()
  if (!wanted) return declared
  if (wanted === 'current') return [majorOf(process.version)]
  const majors = wanted.split(',').map((major) => Number(major.trim()))
  const unknown = majors.filter((major) => !declared.includes(major))
  if (unknown.length > 0) throw new Error(`X_WASI_TEST_NODES: ${unknown.join(', ')} not in engines.node (${declared.join(', ')})`)
  return majors
}

/** Runs a child with the shared environment; its output goes to ours. */
function run(cmd, args, env, options = {}) {
  const result = spawnSync(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'inherit', 'inherit'], ...options })
  if (result.error) throw result.error
  return result
}

/** Runs a child, showing its stdout as it comes and keeping it: { status, stdout }. */
function tee(cmd, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] })
    const chunks = []
    child.stdout.on('data', (chunk) => {
      chunks.push(chunk)
      process.stdout.write(chunk)
    })
    child.on('error', reject)
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(chunks).toString('utf8') }))
  })
}

// The counts at the end of a TAP stream (node:test's tap reporter).
function tapCounts(tap) {
  const count = (name) => {
    const matches = [...tap.matchAll(new RegExp(`^# ${name} (\\d+)$`, 'gm'))]
    return matches.length ? Number(matches[matches.length - 1][1]) : null
  }
  return { tests: count('tests'), passed: count('pass'), failed: count('fail'), cancelled: count('cancelled'), skipped: count('skipped'), todo: count('todo') }
}

function runNodeSuite(major, files, env, work) {
  const node = nodeBinary(major, log)
  const version = versionOf(node)
  log(`\n== node:test on Node ${version} (${files.length} files)`)
  const tapFile = path.join(work, `node-${major}.tap`)
  const started = Date.now()
  const result = run(
    node,
    [
      '--test',
      '--test-concurrency=2',
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=tap',
      `--test-reporter-destination=${tapFile}`,
      ...files,
    ],
    // The major's node first on PATH: scripts run as `node` use it too.
    { ...env, PATH: `${path.dirname(node)}${path.delimiter}${env.PATH}` },
    { timeout: NODE_SUITE_LIMIT_MS, killSignal: 'SIGKILL' },
  )
  const counts = tapCounts(fs.existsSync(tapFile) ? fs.readFileSync(tapFile, 'utf8') : '')
  const seconds = Math.round((Date.now() - started) / 1000)
  const complete = counts.passed !== null && counts.failed !== null
  const failed = complete ? counts.failed + counts.cancelled : 1
  const note = result.signal ? `killed (${result.signal}) after ${seconds} s` : `exit code ${result.status}, ${seconds} s`
  return {
    label: `node ${version}`,
    passed: counts.passed ?? 0,
    failed,
    skipped: (counts.skipped ?? 0) + (counts.todo ?? 0),
    ok: result.status === 0 && complete && failed === 0,
    detail: complete
      ? `${counts.passed} passed, ${counts.failed} failed, ${counts.cancelled} cancelled, ${counts.skipped} skipped, ${counts.todo} todo (of ${counts.tests}; ${note})`
      : `no test summary (${note})`,
  }
}

async function runWasiTestsuite(env) {
  log('\n== wasi-testsuite (native Cranelift, native Singlepass, V8)')
  const result = await tee(process.execPath, ['scripts/wasi-testsuite.js', '--quiet', '--mode', 'cranelift,singlepass,v8'], env)
  const lines = [...result.stdout.matchAll(/^(wasi-testsuite (\S+): (\d+)\/(\d+) passed.*)$/gm)]
  if (lines.length === 0) {
    // No suite: the script said so and exited 0; anything else is a failure.
    return [{ label: 'wasi-testsuite', passed: 0, failed: result.status === 0 ? 0 : 1, skipped: 0, ok: result.status === 0, detail: firstLine(result.stdout) || `exit code ${result.status}` }]
  }
  return lines.map(([, line, , passed, total]) => ({
    label: line.split(':')[0],
    passed: Number(passed),
    failed: Number(total) - Number(passed),
    skipped: 0,
    ok: result.status === 0 && passed === total,
    detail: `${passed}/${total} passed`,
  }))
}

async function runRustTests(env) {
  log('\n== Rust unit tests (cargo test --release --lib)')
  const result = await tee(process.execPath, ['scripts/cargo-test.js'], env)
  const summaries = [...result.stdout.matchAll(/^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored/gm)]
  const sum = (i) => summaries.reduce((total, match) => total + Number(match[i]), 0)
  const failed = summaries.length ? sum(2) : 1
  return {
    label: 'rust unit tests',
    passed: sum(1),
    failed: result.status === 0 ? failed : Math.max(failed, 1),
    skipped: sum(3),
    ok: result.status === 0 && summaries.length > 0 && failed === 0,
    detail: summaries.length ? `${sum(1)} passed, ${sum(2)} failed, ${sum(3)} ignored` : `no test summary (exit code ${result.status})`,
  }
}

function firstLine(text) {
  return text.trim().split('\n')[0]
}

/** The names in `dir`, sorted. */
/** Names, sizes and mtimes in `dir`: what a test that used it would change. */
function snapshot(dir) {
  return listDir(dir).map((name) => {
    try {
      const stat = fs.statSync(path.join(dir, name))
      return `${name} ${stat.size} ${stat.mtimeMs}`
    } catch {
      return `${name} gone`
    }
  })
}

function listDir(dir) {
  try {
    return fs.readdirSync(dir).sort()
  } catch {
    return []
  }
}

async function main(args) {
  const started = Date.now()
  const files = testFiles(args)
  const majors = selectedMajors()

  const setup = spawnSync(process.execPath, ['scripts/setup.js'], { cwd: ROOT, stdio: 'inherit' })
  if (setup.status !== 0) {
    log(`setup failed (exit code ${setup.status})`)
    log('0 passed, 1 failed')
    return 1
  }

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'x-wasi-npm-test-'))
  const tmp = path.join(work, 'tmp')
  fs.mkdirSync(tmp)
  // Like /tmp: tests that run a child as nobody need it to reach their files.
  fs.chmodSync(work, 0o755)
  fs.chmodSync(tmp, 0o1777)
  const env = { ...process.env, X_WASI_CACHE_DIR: path.join(work, 'cache'), TMPDIR: tmp }
  // No detached background Cranelift compiles (engine 'auto') outliving the
  // tests that started them: they would take CPU from the tests and write into
  // a cache directory that is about to go. __test__/tiering.test.js turns them
  // back on for its own children.
  env.X_WASI_NO_BACKGROUND_COMPILE = '1'
  delete env.NODE_TEST_CONTEXT
  // npm (run by the packing test) keeps Node's compile cache in TMPDIR.
  env.NODE_DISABLE_COMPILE_CACHE = '1'
  const results = []
  // A step that leaves files in TMPDIR fails the run (they are removed).
  const step = async (label, fn) => {
    const outcome = await fn()
    results.push(...(Array.isArray(outcome) ? outcome : [outcome]))
    const left = listDir(tmp)
    if (left.length === 0) return
    results.push({ label: `temporary files left by ${label}`, passed: 0, failed: 1, skipped: 0, ok: false, detail: left.join(', ') })
    for (const name of left) fs.rmSync(path.join(tmp, name), { recursive: true, force: true })
  }
  // The user's own cache (the one without X_WASI_CACHE_DIR): no test may
  // read-and-touch, add or remove anything there.
  const userCache = defaultCacheDir({ ...process.env, X_WASI_CACHE_DIR: '' })
  const userCacheBefore = snapshot(userCache)
  try {
    await step('the wasi-testsuite run', () => runWasiTestsuite(env))
    for (const major of majors) await step(`the tests on Node ${major}`, () => runNodeSuite(major, files, env, work))
    await step('the Rust unit tests', () => runRustTests(env))
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
  const userCacheAfter = snapshot(userCache)
  const touched = userCacheAfter.filter((line) => !userCacheBefore.includes(line))
  const gone = userCacheBefore.filter((line) => !userCacheAfter.includes(line))
  const untouched = touched.length === 0 && gone.length === 0
  results.push({
    label: `the user's cache ${userCache}`,
    passed: untouched ? 1 : 0,
    failed: untouched ? 0 : 1,
    skipped: 0,
    ok: untouched,
    detail: untouched ? 'untouched' : `changed by the tests: ${[...touched, ...gone].map((line) => line.split(' ')[0]).join(', ')}`,
  })

  log('\n== summary')
  for (const result of results) log(`${result.ok ? 'ok  ' : 'FAIL'} ${result.label}: ${result.detail}`)
  log(`(${Math.round((Date.now() - started) / 1000)} s)`)
  const total = (key) => results.reduce((sum, result) => sum + result[key], 0)
  const allOk = results.every((result) => result.ok)
  // The closing line CI reads.
  log(`${total('passed')} passed, ${allOk ? total('failed') : Math.max(total('failed'), 1)} failed, ${total('skipped')} skipped`)
  return allOk ? 0 : 1
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    console.error(`npm test: ${err.stack}`)
    console.log('0 passed, 1 failed')
    process.exitCode = 1
  },
)
