'use strict'

// The table of WASI programs the runtime must run, with the exact outcome of
// each, and the helpers that run a case and check its outcome. The table is
// mode-agnostic: the same cases run through `wasi.start(bytes)` (native)
// and through `WebAssembly.instantiate` + `wasi.start(instance)` (v8).
//
// A case:
//   name      test title
//   fixture   'go:<program>' or 'wat:<module>' (see fixtures.js)
//   args, env passed to the WASI constructor as they are
//   preopens  optional (root) => ({ guestPath: hostPath }); creates what it
//             maps (and any canary files) inside the per-run temp dir `root`
//   stdin     optional string or Buffer fed as standard input (else empty)
//   expect    either { stdout, stderr, exitCode, hostFiles? }
//             or     { error: { type, message, messageExcludes?, stack? } }
//             stdout/stderr are exact (string or Buffer); hostFiles maps a
//             path relative to `root` to its exact content after the run,
//             or null when the file must not exist; type is a
//             WebAssembly error class name (else a global one, such as
//             RangeError); message(Excludes) and stack are regexes.
//             expect.v8, when present, replaces expect in V8 mode: for what
//             the engine decides (trap messages and where the frames are
//             kept, link errors), not for anything WASI does.

const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { fixtureBytes } = require('./fixtures')

const lines = (...texts) => texts.map((text) => `${text}\n`).join('')

// ---------------------------------------------------------------- sandbox

const CANARY = 'CANARY: a host file outside the sandbox\n'
const HOST_INPUT = 'from the host\n'

// A preopen with a canary file beside it and two symlinks inside it that
// point at the canary: the guest must reach none of them.
function sandboxWithCanary(guestPath) {
  return (root) => {
    const sandbox = path.join(root, 'sandbox')
    fs.mkdirSync(sandbox)
    fs.writeFileSync(path.join(root, 'outside.txt'), CANARY)
    fs.writeFileSync(path.join(sandbox, 'input.txt'), HOST_INPUT)
    fs.symlinkSync(path.join(root, 'outside.txt'), path.join(sandbox, 'abs-link'))
    fs.symlinkSync('../outside.txt', path.join(sandbox, 'rel-link'))
    return { [guestPath]: sandbox }
  }
}

function fileioCase(guestPath) {
  return {
    name: `go fileio: file operations under preopen ${guestPath}, escapes denied`,
    fixture: 'go:fileio',
    args: ['fileio', guestPath],
    env: {},
    preopens: sandboxWithCanary(guestPath),
    expect: {
      stdout: lines(
        `read input.txt: ${JSON.stringify(HOST_INPUT)}`,
        'create+write notes.txt: 16 bytes',
        'append notes.txt: 14 bytes',
        'read notes.txt: "hello from wasi\\nappended line\\n"',
        'stat notes.txt: size=30 regular=true',
        'seek 6 + read 4: "from"',
        'mkdir: dir/nested is dir=true',
        'rename: old name gone=true',
        'list /: abs-link dir/ input.txt rel-link',
        'list dir: nested/ renamed.txt',
        'after remove, list dir: ""',
        'final list /: abs-link input.txt keep.txt rel-link',
        `control path_open input.txt: ${JSON.stringify(HOST_INPUT)}`,
        'escape os.Open /etc/passwd: denied',
        `escape os.Open ${guestPath}/../outside.txt: denied`,
        'escape path_open ../outside.txt: denied',
        'escape path_open /etc/passwd: denied',
        'escape path_open create ../created-outside.txt: denied',
        'escape symlink to absolute host path: denied',
        'escape symlink to ../outside.txt: denied',
        'sandbox held',
      ),
      stderr: '',
      exitCode: 0,
      hostFiles: {
        'sandbox/keep.txt': 'kept by guest\n',
        'sandbox/input.txt': HOST_INPUT,
        'sandbox/notes.txt': null,
        'sandbox/dir': null,
        'outside.txt': CANARY,
        'created-outside.txt': null,
      },
    },
  }
}

// ---------------------------------------------------------------- cpu

// Recomputes go/cpu's output with an independent JavaScript implementation
// of the same generator, so a miscompiled hash or sort cannot go unnoticed.
function xorshift32(seed) {
  let x = seed >>> 0
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x
  }
}

const sha256Hex = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex')

function littleEndianWords(words) {
  const bytes = Buffer.alloc(words.length * 4)
  words.forEach((word, i) => bytes.writeUInt32LE(word, i * 4))
  return bytes
}

function expectedCpuOutput() {
  const next = xorshift32(2463534242)
  const buffer = Buffer.alloc(8 << 20)
  for (let i = 0; i < buffer.length; i += 4) buffer.writeUInt32LE(next(), i)
  const nums = new Uint32Array(300000).map(() => next()).sort()
  const record = { name: 'wasm \u2713', values: [3, 1, 4, 1, 5, 9, 2, 6], scores: { alpha: 0.5, beta: -2.25 }, ok: true }
  return lines(
    `buffer sha256: ${sha256Hex(buffer)}`,
    `sorted min=${nums[0]} max=${nums[nums.length - 1]} sha256: ${sha256Hex(littleEndianWords(nums))}`,
    `json: ${JSON.stringify(record)}`,
    'json round trip equal: true',
  )
}

// ---------------------------------------------------------------- stdin

// Large enough to need many fd_read calls.
const BIG_STDIN = Buffer.from(Array.from({ length: 12000 }, (_, i) => `line ${i} of stdin\n`).join(''))

function stdinCase(label, input) {
  const bytes = Buffer.from(input)
  return {
    name: `go stdin: ${label}`,
    fixture: 'go:stdin',
    args: ['stdin'],
    env: {},
    stdin: bytes,
    // Inputs are ASCII, where Go's bytes.ToUpper and toUpperCase agree.
    expect: { stdout: Buffer.from(bytes.toString('ascii').toUpperCase()), stderr: `read ${bytes.length} bytes\n`, exitCode: 0 },
  }
}

// ---------------------------------------------------------------- traps

// `mentions`: function names the backtrace must show, or other regexes.
// wasmer puts the backtrace in the message. V8 words its traps its own way
// and keeps the frames in `stack` only: `v8` gives its error type (default
// RuntimeError), its message, and the wasm functions its frames must name.
function trapCase(module, kind, mentions, v8) {
  return {
    name: `wat ${module}: RuntimeError "${kind}" mentioning ${mentions.map(String).join(', ')}`,
    fixture: `wat:${module}`,
    args: [module],
    env: {},
    expect: {
      error: {
        type: 'RuntimeError',
        message: [new RegExp(kind), ...mentions.map((m) => (m instanceof RegExp ? m : new RegExp(`\\b${m}\\b`)))],
      },
      v8: {
        error: {
          type: v8.type ?? 'RuntimeError',
          message: v8.message,
          // A V8 frame of a wasm function: "at <module>.<function> (wasm://..."
          stack: v8.frames.map((name) => new RegExp(`\\bat ${module}\\.${name} \\(wasm://`)),
        },
      },
    },
  }
}

// ---------------------------------------------------------------- table

const ARGS_WITH_EDGES = ['argsenv', 'plain', 'with space', '', 'ünïcödé ✓', 'quote"and\\backslash']
const ENV_WITH_EDGES = { FOO: 'bar', EMPTY: '', WITH_EQUALS: 'a=b=c', UNICODE: 'naïve ☃' }

const cases = [
  {
    name: 'go hello: fmt.Println',
    fixture: 'go:hello',
    args: ['hello'],
    env: {},
    expect: { stdout: 'Hello, Wasm\n', stderr: '', exitCode: 0 },
  },
  {
    name: 'go rawwrite: own fd_write import, gathered iovecs, stdout and stderr',
    fixture: 'go:rawwrite',
    args: ['rawwrite'],
    env: {},
    expect: { stdout: 'raw stdout line\nsecond stdout line\n', stderr: 'raw stderr line\n', exitCode: 0 },
  },
  {
    name: 'go argsenv: argv and env exactly as given, nothing inherited',
    fixture: 'go:argsenv',
    args: ARGS_WITH_EDGES,
    env: ENV_WITH_EDGES,
    expect: {
      stdout: lines(
        'argc=6',
        'argv[0]="argsenv"',
        'argv[1]="plain"',
        'argv[2]="with space"',
        'argv[3]=""',
        'argv[4]="ünïcödé ✓"',
        'argv[5]="quote\\"and\\\\backslash"',
        'envc=4',
        'env "EMPTY="',
        'env "FOO=bar"',
        'env "UNICODE=naïve ☃"',
        'env "WITH_EQUALS=a=b=c"',
        'FOO="bar" set=true',
        'HOME set=false',
      ),
      stderr: '',
      exitCode: 0,
    },
  },
  {
    name: 'go argsenv: only argv[0], empty env',
    fixture: 'go:argsenv',
    args: ['only-argv0'],
    env: {},
    expect: {
      stdout: lines('argc=1', 'argv[0]="only-argv0"', 'envc=0', 'FOO="" set=false', 'HOME set=false'),
      stderr: '',
      exitCode: 0,
    },
  },
  fileioCase('/sandbox'),
  fileioCase('/mnt/deeper/data'),
  ...[0, 1, 3, 42, 255].map((code) => ({
    name: `go exit: os.Exit(${code}) returns ${code} after flushing output`,
    fixture: 'go:exit',
    args: ['exit', String(code)],
    env: {},
    expect: { stdout: `exiting with ${code}\n`, stderr: '', exitCode: code },
  })),
  {
    name: 'go goroutines: channels, worker pool, sleeps wake in deadline order',
    fixture: 'go:goroutines',
    args: ['goroutines'],
    env: {},
    expect: {
      stdout: lines(
        'squares: [1 4 9 16 25 36 49 64 81 100]',
        'sum: 385',
        'wake order: [fast medium slow]',
        'slept at least 60ms: true',
        'ticks: 3',
      ),
      stderr: '',
      exitCode: 0,
    },
  },
  {
    name: 'go cryptorand: random_get fills buffers with fresh bytes',
    fixture: 'go:cryptorand',
    args: ['cryptorand'],
    env: {},
    expect: { stdout: lines('len: 32', 'nonzero: true', 'differ: true'), stderr: '', exitCode: 0 },
  },
  {
    name: 'go cpu: sha256, sort and JSON match a JavaScript recomputation',
    fixture: 'go:cpu',
    args: ['cpu'],
    env: {},
    expect: { stdout: expectedCpuOutput(), stderr: '', exitCode: 0 },
  },
  stdinCase('small input upper-cased', 'hello stdin\nsecond line\n'),
  stdinCase('empty input is EOF at once', ''),
  stdinCase(`${BIG_STDIN.length} bytes in many reads`, BIG_STDIN),
  {
    name: 'wat hello_unstable: legacy wasi_unstable fd_write',
    fixture: 'wat:hello_unstable',
    args: ['hello_unstable'],
    env: {},
    expect: { stdout: 'Hello from wasi_unstable!\n', stderr: '', exitCode: 0 },
  },
  {
    name: 'wat mixed_namespaces: wasi_unstable and wasi_snapshot_preview1 in one module',
    fixture: 'wat:mixed_namespaces',
    args: ['mixed', 'one', 'two'],
    env: {},
    expect: { stdout: 'argc=3\n', stderr: '', exitCode: 7 },
  },
  trapCase('trap_unreachable', 'unreachable', ['boom', 'before_boom'], {
    message: /^unreachable$/,
    frames: ['boom', 'before_boom'],
  }),
  trapCase('trap_div_zero', 'integer divide by zero', ['divide'], { message: /divide by zero/, frames: ['divide'] }),
  trapCase('trap_oob', 'out of bounds memory access', ['load_far'], {
    message: /memory access out of bounds/,
    frames: ['load_far'],
  }),
  // wasmer keeps no frames for a stack overflow; the message says so instead.
  // V8 reports it as the RangeError of any JS stack overflow, with frames.
  trapCase('trap_stack_overflow', 'call stack exhausted', [/no wasm backtrace for a stack overflow/], {
    type: 'RangeError',
    message: /Maximum call stack size exceeded/,
    frames: ['deep'],
  }),
  trapCase('trap_indirect_mismatch', 'indirect call type mismatch', ['call_wrong_type'], {
    message: /function signature mismatch/,
    frames: ['call_wrong_type'],
  }),
  {
    name: 'wat missing_import: LinkError names every missing import, not the provided one',
    fixture: 'wat:missing_import',
    args: ['missing_import'],
    env: {},
    expect: {
      error: {
        type: 'LinkError',
        message: [/env::nope/, /wasi_snapshot_preview1::not_a_syscall/],
        messageExcludes: [/fd_write/],
      },
      // V8 stops at the first import it cannot resolve. Here that is one of
      // a module ("env") that WASI's import object does not have at all,
      // which the JS API makes a TypeError, not a LinkError (node:wasi's
      // import object gives the same). v8.test.js checks V8's LinkErrors
      // with "env" provided.
      v8: {
        error: {
          type: 'TypeError',
          message: [/Import #1 (module=)?"env"/, /not an object or function/], // V8's wording: Node 20's, or later majors'
        },
      },
    },
  },
  {
    name: 'wat memory_grow: fd_write from pages grown after start (iovec, text and nwritten there)',
    fixture: 'wat:memory_grow',
    args: ['memory_grow'],
    env: {},
    expect: { stdout: lines('before growing', 'from page 1 of 2', 'from page 65 of 66'), stderr: '', exitCode: 0 },
  },
  {
    name: 'go bigalloc: os.Stdout.Write from the end of a 64 MiB allocation',
    fixture: 'go:bigalloc',
    args: ['bigalloc'],
    env: {},
    // sum of byte(i) over 64 MiB: 2^18 runs of 0..255, 32640 each.
    expect: { stdout: lines('written from the end of a 64 MiB allocation', `sum: ${32640 * 2 ** 18}`), stderr: '', exitCode: 0 },
  },
]

// ---------------------------------------------------------------- running

function loadAddonWASI() {
  return require('..').WASI
}

// Temp files standing in for the guest's stdio, so output is captured
// in-process through real host fds.
function openStdio(dir, stdinContent = '') {
  const file = (name) => path.join(dir, name)
  fs.writeFileSync(file('stdin'), stdinContent)
  const fds = {
    stdin: fs.openSync(file('stdin'), 'r'),
    stdout: fs.openSync(file('stdout'), 'w'),
    stderr: fs.openSync(file('stderr'), 'w'),
  }
  return {
    fds,
    close() {
      for (const fd of Object.values(fds)) fs.closeSync(fd)
    },
    read: (name) => fs.readFileSync(file(name)),
  }
}

const START = {
  native: (wasi, bytes) => wasi.start(bytes),
  v8: async (wasi, bytes) => {
    const { instance } = await WebAssembly.instantiate(bytes, wasi.getImportObject())
    return wasi.start(instance)
  },
}

function readHostFiles(root, expected = {}) {
  const found = {}
  for (const relative of Object.keys(expected)) {
    const file = path.join(root, relative)
    found[relative] = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null
  }
  return found
}

// Runs one case in-process and returns what happened; never throws for
// the module's own failures (those come back as `error`).
// `WASI` can be swapped for another implementation with the same API.
async function runCase(caseDef, { engine = 'cranelift', mode = 'native', WASI = loadAddonWASI() } = {}) {
  const start = START[mode]
  if (!start) throw new Error(`unknown mode ${mode}; expected one of ${Object.keys(START).join(', ')}`)
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xwasi-case-'))
  try {
    const stdioDir = path.join(root, 'stdio')
    fs.mkdirSync(stdioDir)
    const preopens = caseDef.preopens ? caseDef.preopens(root) : {}
    const bytes = fixtureBytes(caseDef.fixture)
    const stdio = openStdio(stdioDir, caseDef.stdin)
    let exitCode
    let error
    try {
      const wasi = new WASI({ args: caseDef.args, env: caseDef.env, preopens, returnOnExit: true, ...stdio.fds, engine })
      exitCode = await start(wasi, bytes)
    } catch (err) {
      error = err
    } finally {
      stdio.close()
    }
    return {
      exitCode,
      error,
      stdout: stdio.read('stdout'),
      stderr: stdio.read('stderr'),
      hostFiles: readHostFiles(root, expectationFor(caseDef, mode).hostFiles),
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------- checking

const asList = (value) => (value === undefined ? [] : [].concat(value))

function assertOutput(actual, expected, stream) {
  if (Buffer.isBuffer(expected)) {
    assert.ok(actual.equals(expected), `${stream}: ${actual.length} bytes differ from the expected ${expected.length}`)
  } else {
    assert.equal(actual.toString('utf8'), expected, `${stream} differs`)
  }
}

// WebAssembly.<type> if there is one, else the global <type> (RangeError).
function errorClass(type) {
  const name = WebAssembly[type] ? `WebAssembly.${type}` : type
  const Class = WebAssembly[type] ?? globalThis[type]
  assert.equal(typeof Class, 'function', `no error class named ${type}`)
  return { name, Class }
}

function assertError(actual, expected) {
  const { name, Class } = errorClass(expected.type)
  assert.ok(actual, `expected ${name}, but start() did not throw`)
  const describe = `${actual.constructor?.name}: ${actual.message}`
  assert.ok(actual instanceof Class, `expected ${name}, got ${describe}`)
  for (const pattern of asList(expected.message)) assert.match(actual.message, pattern)
  for (const pattern of asList(expected.messageExcludes)) assert.doesNotMatch(actual.message, pattern)
  for (const pattern of asList(expected.stack)) assert.match(actual.stack, pattern)
}

// The case's expectation in `mode`: expect.<mode> if given, else expect.
function expectationFor(caseDef, mode = 'native') {
  return caseDef.expect[mode] ?? caseDef.expect
}

// Checks a runCase() result against the case's expectation in `mode`.
function assertOutcome(caseDef, result, mode = 'native') {
  const expect = expectationFor(caseDef, mode)
  if (expect.error) {
    assertError(result.error, expect.error)
    return
  }
  assert.ifError(result.error)
  assertOutput(result.stdout, expect.stdout, 'stdout')
  assertOutput(result.stderr, expect.stderr, 'stderr')
  assert.equal(result.exitCode, expect.exitCode, 'exit code')
  if (expect.hostFiles) assert.deepEqual(result.hostFiles, expect.hostFiles, 'host files after the run')
}

module.exports = { cases, runCase, assertOutcome, expectationFor, openStdio, CANARY }
