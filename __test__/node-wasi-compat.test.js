'use strict'

// Node's own WASI tests (nodejs/node test/wasi: the C programs of
// test/wasi/c, the cases of test/wasi/test-wasi-*.js and
// test/common/wasi.js), mirrored by our programs in fixtures/c and
// fixtures/wat (see fixtures/c/README.md), each run the way Node runs it: a
// child process with `version: 'preview1'`, args, env and the /sandbox and
// /tmp preopens, checked on exit status and stdout.
//
// Ours run in V8 mode (start(instance), as node:wasi) and, where the case
// needs no WebAssembly.Instance, natively on both engines. node:wasi runs the
// same cases on the same Node, for the score printed at the end; its
// failures are information, not failures of this suite.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { describe, test, before, after } = require('node:test')

const { fixture } = require('./fixtures')

const PACKAGE_ROOT = path.resolve(__dirname, '..')
const CHILD = path.join(__dirname, 'fixtures', 'wasi-case-child.js')
const CHILD_TIMEOUT_MS = 120_000
const OURS = ['v8', 'cranelift', 'singlepass']

const EFAULT = 21
const EOVERFLOW = 61

const INPUT = 'hello from input.txt\n'
const INPUT2 = 'hello from input2.txt\n'
const IN_SUBDIR = 'hello from input in subdir.txt'

// Each case: the Node test it mirrors, the program, what the child gets,
// and what Node's test expects: exit status 0, empty stdout and start()
// returning 0 unless given (`returned: null`: start() does not return). A
// failed check in a program aborts (a trap), as assert() does in Node's.
// `v8Only`: the case needs the instance (exports called after start(), a
// patched import), which a native run does not hand out. `nodeWasi`:
// node:wasi's own expectation where it deliberately differs from ours
// (README, "Migrating from node:wasi").
const CASES = [
  { name: 'cant_dotdot', node: 'test-wasi-cant_dotdot.js', program: 'c:cant_dotdot' },
  { name: 'clock_getres', node: 'test-wasi.js', program: 'c:clock_getres' },
  { name: 'create_symlink', node: 'test-wasi-symlinks.js', program: 'c:create_symlink', stdout: IN_SUBDIR },
  { name: 'exitcode', node: 'test-wasi-exitcode.js', program: 'c:exitcode', returned: 120 },
  { name: 'exitcode, returnOnExit: true', node: 'test-wasi-exitcode.js', program: 'c:exitcode', returnOnExit: true, returned: 120 },
  { name: 'exitcode, returnOnExit: false', node: 'test-wasi-exitcode.js', program: 'c:exitcode', returnOnExit: false, status: 120, returned: null },
  { name: 'fd_prestat_get_refresh', node: 'test-wasi.js', program: 'c:fd_prestat_get_refresh' },
  { name: 'follow_symlink', node: 'test-wasi-symlinks.js', program: 'c:follow_symlink', stdout: IN_SUBDIR },
  { name: 'freopen', node: 'test-wasi-io.js', program: 'c:freopen', stdout: INPUT2 },
  { name: 'ftruncate', node: 'test-wasi.js', program: 'c:ftruncate' },
  { name: 'getentropy', node: 'test-wasi.js', program: 'c:getentropy' },
  { name: 'getrusage', node: 'test-wasi.js', program: 'c:getrusage' },
  { name: 'gettimeofday', node: 'test-wasi.js', program: 'c:gettimeofday' },
  { name: 'link', node: 'test-wasi-symlinks.js', program: 'c:link' },
  { name: 'main_args', node: 'test-wasi.js', program: 'c:main_args' },
  { name: 'notdir', node: 'test-wasi-notdir.js', program: 'c:notdir' },
  { name: 'poll', node: 'test-wasi-poll.js', program: 'c:poll' },
  { name: 'preopen_populates', node: 'test-wasi.js', program: 'c:preopen_populates' },
  { name: 'read_file', node: 'test-wasi-io.js', program: 'c:read_file', stdout: INPUT },
  { name: 'read_file_twice', node: 'test-wasi-io.js', program: 'c:read_file_twice', stdout: INPUT + INPUT },
  { name: 'readdir', node: 'test-wasi.js', program: 'c:readdir' },
  { name: 'sock', node: 'test-wasi.js', program: 'c:sock' },
  { name: 'stat', node: 'test-wasi.js', program: 'c:stat' },
  { name: 'stdin', node: 'test-wasi-io.js', program: 'c:stdin', stdin: 'hello world', stdout: 'hello world' },
  {
    name: 'stdio from files',
    node: 'test-wasi-stdio.js',
    program: 'c:stdin',
    returnOnExit: true,
    // 33 bytes in; the program's buffer holds 31 and a NUL.
    stdioFiles: { stdin: 'x'.repeat(33), stdout: '', stderr: '' },
    files: { stdout: 'x'.repeat(31), stderr: '' },
  },
  { name: 'symlink_escape', node: 'test-wasi-symlinks.js', program: 'c:symlink_escape' },
  { name: 'symlink_loop', node: 'test-wasi-symlinks.js', program: 'c:symlink_loop' },
  { name: 'write_file', node: 'test-wasi-write_file.js', program: 'c:write_file', tmpFiles: { 'output.txt': 'hello, file!' } },

  {
    name: 'return-on-exit: a proc_exit that throws',
    node: 'test-return-on-exit.js',
    program: 'c:exitcode',
    v8Only: true,
    returnOnExit: true,
    throwingExit: true,
    stdout: 'start() threw Error: test error\n',
    returned: null,
  },
  {
    name: 'high-bit-ptr: imports called after start()',
    node: 'test-wasi-high-bit-ptr.js',
    program: 'wat:high_bit_ptr',
    v8Only: true,
    returnOnExit: true,
    callAfterStart: { time_to_low_address: 0, time_to_high_bit_address: EFAULT, arg_sizes_to_high_bit_addresses: EFAULT },
    nodeWasi: { time_to_low_address: 0, time_to_high_bit_address: EOVERFLOW, arg_sizes_to_high_bit_addresses: EOVERFLOW },
  },
  {
    name: 'uint32-int32: pointers across the u32 range after start()',
    node: 'test-wasi-uint32-int32.js',
    program: 'wat:uint32_pointers',
    v8Only: true,
    returnOnExit: true,
    callAfterStart: { time_at_zero: 0, time_at_one: 0, time_at_int32_max: EFAULT, time_at_int32_min: EFAULT, time_at_uint32_max: EFAULT },
    nodeWasi: { time_at_zero: 0, time_at_one: 0, time_at_int32_max: EOVERFLOW, time_at_int32_min: EOVERFLOW, time_at_uint32_max: EOVERFLOW },
  },
]

// Node's test/wasi/c/pthread.c is left out: it needs wasi-threads
// (`wasi::thread-spawn`, an imported shared memory), which neither
// node:wasi nor @x/wasi provides.

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'xwasi-node-compat-'))
const cacheDir = path.join(scratch, 'cache')
after(() => fs.rmSync(scratch, { recursive: true, force: true }))

/**
 * A fresh copy of the tree Node's tests run in: /sandbox (test/fixtures/wasi
 * and the symlinks test's sandbox in one), a file beside it that no path may
 * reach, and /tmp.
 */
function makeRoot() {
  const root = fs.mkdtempSync(path.join(scratch, 'run-'))
  const sandbox = path.join(root, 'sandbox')
  const subdir = path.join(sandbox, 'subdir')
  fs.mkdirSync(subdir, { recursive: true })
  fs.mkdirSync(path.join(root, 'tmp'))
  fs.writeFileSync(path.join(root, 'outside.txt'), 'this should be inaccessible')
  fs.writeFileSync(path.join(sandbox, 'input.txt'), INPUT)
  fs.writeFileSync(path.join(sandbox, 'input2.txt'), INPUT2)
  fs.writeFileSync(path.join(sandbox, 'notadir'), '')
  fs.writeFileSync(path.join(subdir, 'input-in-subdir.txt'), IN_SUBDIR)
  fs.symlinkSync('./input-in-subdir.txt', path.join(subdir, 'input_link.txt'))
  fs.symlinkSync('../../outside.txt', path.join(subdir, 'outside.txt'))
  fs.symlinkSync('loop2', path.join(subdir, 'loop1'))
  fs.symlinkSync('loop1', path.join(subdir, 'loop2'))
  return root
}

/** Runs one case in a child; returns what went wrong (a list, empty when it passed). */
function runCase(caseDef, wasiModule, mode) {
  const root = makeRoot()
  try {
    const options = {
      args: ['foo', '-bar', '--baz=value'],
      env: { NODE_PLATFORM: process.platform },
      preopens: { '/sandbox': path.join(root, 'sandbox'), '/tmp': path.join(root, 'tmp') },
      returnOnExit: caseDef.returnOnExit,
      throwingExit: caseDef.throwingExit,
      callAfterStart: caseDef.callAfterStart && Object.keys(caseDef.callAfterStart),
    }
    if (caseDef.stdioFiles) {
      options.stdioFiles = {}
      for (const [name, content] of Object.entries(caseDef.stdioFiles)) {
        options.stdioFiles[name] = path.join(root, `${name}.txt`)
        fs.writeFileSync(options.stdioFiles[name], content)
      }
    }
    const child = spawnSync(process.execPath, ['--no-warnings', CHILD, wasiModule, mode, fixture(caseDef.program), JSON.stringify(options)], {
      input: caseDef.stdin,
      encoding: 'utf8',
      timeout: CHILD_TIMEOUT_MS,
      env: { ...process.env, X_WASI_CACHE_DIR: cacheDir },
    })
    const problems = []
    const expectedStdout = caseDef.callAfterStart
      ? `${JSON.stringify(wasiModule === 'node:wasi' ? caseDef.nodeWasi : caseDef.callAfterStart)}\n`
      : caseDef.stdout ?? ''
    if (child.error) problems.push(`the child did not run: ${child.error.message}`)
    if (child.signal !== null) problems.push(`killed by ${child.signal}`)
    if (child.status !== (caseDef.status ?? 0)) problems.push(`exit status ${child.status}, want ${caseDef.status ?? 0}`)
    if (child.stdout !== expectedStdout) problems.push(`stdout ${JSON.stringify(child.stdout)}, want ${JSON.stringify(expectedStdout)}`)
    const returned = /^start\(\) returned (\d+)$/m.exec(child.stderr)?.[1]
    const wantReturned = caseDef.returned === undefined ? 0 : caseDef.returned
    if (wantReturned !== null && returned !== String(wantReturned)) {
      problems.push(`start() returned ${returned ?? 'nothing'}, want ${wantReturned}`)
    }
    for (const [name, want] of Object.entries(caseDef.files ?? {})) {
      const got = fs.readFileSync(options.stdioFiles[name], 'utf8')
      if (got !== want) problems.push(`${name} file holds ${JSON.stringify(got)}, want ${JSON.stringify(want)}`)
    }
    for (const [name, want] of Object.entries(caseDef.tmpFiles ?? {})) {
      const file = path.join(root, 'tmp', name)
      const got = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null
      if (got !== want) problems.push(`/tmp/${name} holds ${JSON.stringify(got)}, want ${JSON.stringify(want)}`)
    }
    if (problems.length > 0 && child.stderr) problems.push(`stderr: ${child.stderr.trim()}`)
    return problems
  } finally {
    fs.rmSync(root, { recursive: true, force: true })
  }
}

const scores = {}
function record(column, passed) {
  scores[column] ??= { passed: 0, total: 0 }
  scores[column].total++
  if (passed) scores[column].passed++
}

before(() => {
  // Build every program once, up front (the first C build installs zig).
  for (const caseDef of CASES) fixture(caseDef.program)
})

for (const mode of OURS) {
  describe(`Node's test/wasi cases, @x/wasi ${mode === 'v8' ? 'in V8 mode' : `natively (${mode})`}`, () => {
    for (const caseDef of CASES) {
      const skip = mode !== 'v8' && caseDef.v8Only ? 'needs the WebAssembly.Instance (V8 mode only)' : false
      test(`${caseDef.name} (${caseDef.node})`, { skip }, () => {
        const problems = runCase(caseDef, PACKAGE_ROOT, mode)
        record(`@x/wasi ${mode}`, problems.length === 0)
        assert.deepEqual(problems, [])
      })
    }
  })
}

describe(`Node's test/wasi cases, node:wasi on Node ${process.version} (information only)`, () => {
  for (const caseDef of CASES) {
    test(`${caseDef.name} (${caseDef.node})`, (t) => {
      const problems = runCase(caseDef, 'node:wasi', 'v8')
      record('node:wasi', problems.length === 0)
      if (problems.length > 0) t.diagnostic(`node:wasi fails ${caseDef.name}: ${problems.join('; ')}`)
    })
  }
})

after(() => {
  const line = Object.entries(scores)
    .map(([column, { passed, total }]) => `${column} ${passed}/${total}`)
    .join(', ')
  process.stdout.write(`# Node ${process.version}, Node's test/wasi cases passed: ${line}\n`)
})
