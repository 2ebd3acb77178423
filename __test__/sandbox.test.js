'use strict'

// Sandbox escape suite. A WAT guest makes raw WASI calls (no libc or Go
// runtime in between to clean paths) that try to get out of its two
// preopens: `..` traversal, absolute paths, symlinks out (made by the host,
// absolute and relative, and made by the guest), symlink loops, hard links
// in and out, renames out and across preopens, NUL bytes, over-long paths,
// fd_readdir + open of `..`, fd_renumber games, set-times and removals of
// outside entries. The steps and their errnos are in escapes.js; wasmtime 49
// gives the same errno for every one (checked here when wasmtime is found).
//
// After each run: every step got its exact errno; the guest printed nothing
// it read through a breach (stderr is where it would); and nothing outside
// the preopens changed — content, mode, mtime, atime (a read shows with
// relatime), existence — and nothing named with the run's token appeared in
// the temp dir, /tmp or /.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { describe, test, after } = require('node:test')

const { buildGuest, decodeResults, parseDirents, errnoName, RUNNERS } = require('./raw-guest')
const { CANARY, CANARY_INNER, INSIDE, READDIR_STEP, makeLayout, escapeSteps, snapshotOutside } = require('./escapes')

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'xwasi-sandbox-'))
after(() => fs.rmSync(scratch, { recursive: true, force: true }))

let runCount = 0
function freshLayout() {
  // root: what the guest may try to reach; io: the run's own files.
  const run = path.join(scratch, `run-${runCount++}`)
  const root = path.join(run, 'host')
  const io = path.join(run, 'io')
  fs.mkdirSync(root, { recursive: true })
  fs.mkdirSync(io)
  const layout = makeLayout(root)
  const steps = escapeSteps(root, layout.token)
  return { root, io, ...layout, steps, before: snapshotOutside(root, layout.token, layout) }
}


// Runs the guest in-process; returns { exitCode, stdout, stderr }.
async function runInProcess(runner, layout, bytes) {
  const out = path.join(layout.io, 'stdout')
  const err = path.join(layout.io, 'stderr')
  const fds = { stdin: fs.openSync('/dev/null', 'r'), stdout: fs.openSync(out, 'w'), stderr: fs.openSync(err, 'w') }
  let exitCode
  try {
    exitCode = await runner(bytes, { args: ['escapes'], preopens: layout.preopens, ...fds })
  } finally {
    for (const fd of Object.values(fds)) fs.closeSync(fd)
  }
  return { exitCode, stdout: fs.readFileSync(out), stderr: fs.readFileSync(err) }
}

function wasmtimeBinary() {
  const candidate = process.env.WASMTIME || 'wasmtime'
  const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8' })
  return probe.status === 0 ? candidate : null
}

function runWasmtime(binary, layout, bytes) {
  const wasm = path.join(layout.io, 'guest.wasm')
  fs.writeFileSync(wasm, bytes)
  const dirs = Object.entries(layout.preopens).flatMap(([guest, host]) => ['--dir', `${host}::${guest}`])
  const child = spawnSync(binary, ['run', ...dirs, wasm], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 })
  assert.equal(child.error, undefined)
  return { exitCode: child.status, stdout: child.stdout, stderr: child.stderr }
}

// Every check of one run; returns { attempts, denied }.
function checkRun(layout, run) {
  const { steps } = layout
  assert.equal(run.exitCode, 0, `guest exit code; stderr: ${run.stderr}`)
  const results = decodeResults(run.stdout, steps)

  const wrong = results
    .filter(({ step, errno }) => errno !== step.expect)
    .map(({ step, errno }) => `  ${step.kind} "${step.name}": ${errnoName(errno)}, expected ${errnoName(step.expect)}`)
  assert.deepEqual(wrong, [], `steps with another errno than expected:\n${wrong.join('\n')}`)

  // Nothing read through a breach: the guest writes what it read to stderr.
  const leaked = run.stderr.toString('latin1')
  assert.equal(leaked, '', 'the guest read something it should not have')
  for (const secret of [CANARY, CANARY_INNER, 'root:']) {
    assert.ok(!run.stdout.includes(secret), `stdout shows ${JSON.stringify(secret)}`)
  }

  // The preopen's listing reached the host (fd_readdir control step): it
  // names `..`, the entry the next attempts try to open.
  const readdirIndex = steps.findIndex((step) => step.name === READDIR_STEP)
  const listed = parseDirents(run.stdout.subarray(0, run.stdout.length - 8 * steps.length)).map((e) => e.name)
  assert.ok(readdirIndex >= 0)
  for (const name of ['.', '..', 'inside.txt', 'link-abs']) assert.ok(listed.includes(name), `fd_readdir lists ${name}: ${listed}`)

  // Nothing outside the preopens changed; nothing was created anywhere.
  const afterSnapshot = snapshotOutside(layout.root, layout.token, layout)
  assert.deepEqual(afterSnapshot.stray, [], 'entries created outside the sandbox')
  assert.deepEqual(afterSnapshot.entries, layout.before.entries, 'the host outside the preopens changed')
  assert.equal(fs.readFileSync(path.join(layout.root, 'canary.txt'), 'utf8'), CANARY)

  // The legitimate operations did happen, where they should.
  const inOther = (name) => fs.readFileSync(path.join(layout.other, name), 'utf8')
  assert.equal(inOther('moved-across.txt'), 'movable\n', 'rename across preopens')
  assert.equal(inOther('inside-hard.txt'), INSIDE, 'hard link across preopens')
  assert.equal(fs.readlinkSync(path.join(layout.other, 'link-rel-moved')), '../canary.txt')
  assert.equal(fs.existsSync(path.join(layout.sandbox, 'movable.txt')), false)
  assert.equal(fs.readlinkSync(path.join(layout.sandbox, 'g-rel')), '../canary.txt', 'the guest planted its symlink')

  const attempts = results.filter(({ step }) => step.kind === 'attempt')
  return { attempts: attempts.length, denied: attempts.filter(({ errno }) => errno !== 0).length }
}

describe('sandbox escapes: raw WASI calls that try to leave the preopens', () => {
  for (const [mode, runner] of Object.entries(RUNNERS)) {
    test(`${mode}: every attempt denied with its errno, nothing outside read or changed`, async (t) => {
      const layout = freshLayout()
      const { bytes } = await buildGuest(layout.steps)
      const counts = checkRun(layout, await runInProcess(runner, layout, bytes))
      t.diagnostic(`escape attempts: ${counts.attempts}, denied: ${counts.denied}`)
      assert.ok(counts.attempts >= 100, `only ${counts.attempts} attempts`)
      assert.equal(counts.denied, counts.attempts)
    })
  }

  // On the steps of a real layout, so that it holds when run alone too.
  test('the suite covers each kind of escape the issue lists', () => {
    const { steps } = freshLayout()
    const names = steps.map((s) => s.name).join('\n')
    for (const topic of ['.. :', 'absolute:', 'host symlink:', 'guest symlink:', 'loop:', 'hard link:', 'rename:', 'NUL:', 'long:', 'remove:', 'times:', 'renumber:', 'fd_readdir']) {
      assert.ok(names.includes(topic), topic)
    }
    assert.ok(steps.length > 150, `only ${steps.length} steps`)
  })

  const wasmtime = wasmtimeBinary()
  test('wasmtime gives the same errno for every step', { skip: wasmtime ? false : 'no wasmtime (set $WASMTIME or put it on PATH)' }, async (t) => {
    const layout = freshLayout()
    const { bytes } = await buildGuest(layout.steps)
    const counts = checkRun(layout, runWasmtime(wasmtime, layout, bytes))
    t.diagnostic(`wasmtime: escape attempts: ${counts.attempts}, denied: ${counts.denied}`)
  })
})
