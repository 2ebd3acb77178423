'use strict'

// The `x-wasi` command line (bin/x-wasi, bin/x-wasi.js) and the `go test
// -exec` runner (bin/x-wasi-go), each run as a child process the way a user
// runs them: arguments, environment, preopened directories, exit codes,
// traps and bad usage, in both modes (native: wasmer; v8: V8 with our
// syscalls), and the launchers' stack (bin/launch.sh).

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { describe, test, before, after } = require('node:test')

const { fixture } = require('./fixtures')

// The launcher (what npm links), and the script it starts node on: run with
// plain `node`, V8 runs wasm on a worker thread instead of the main one.
const BIN = path.resolve(__dirname, '..', 'bin', 'x-wasi')
const BIN_JS = path.resolve(__dirname, '..', 'bin', 'x-wasi.js')
const GO_RUNNER = path.resolve(__dirname, '..', 'bin', 'x-wasi-go')
const CHILD_TIMEOUT_MS = 120_000
const MODES = ['native', 'v8']
const EXIT_TRAP = 134
const EXIT_USAGE = 2

// Only what a child needs: nothing else of this process's environment, so
// the tests see exactly what --env passes.
// The launchers start the `node` of PATH: this one, the Node under test.
const BASE_ENV = { PATH: [path.dirname(process.execPath), process.env.PATH ?? '/usr/bin:/bin'].join(path.delimiter) }
// ...and the test run's own settings for the addon (npm test's temporary
// cache directory): without them the CLI would use the user's real cache.
for (const name of ['X_WASI_CACHE_DIR', 'X_WASI_NO_BACKGROUND_COMPILE', 'TMPDIR']) {
  if (process.env[name] !== undefined) BASE_ENV[name] = process.env[name]
}

/** Runs a launcher as a user does, or a script of bin/ with this node. */
function runCli(args, { env = BASE_ENV, cwd, input, stdio, command = BIN } = {}) {
  const [file, argv] = command.endsWith('.js') ? [process.execPath, [command, ...args]] : [command, args]
  const child = spawnSync(file, argv, {
    encoding: 'utf8',
    env,
    cwd,
    input,
    stdio,
    timeout: CHILD_TIMEOUT_MS,
    maxBuffer: 64 << 20,
  })
  assert.equal(child.error, undefined, `x-wasi did not run: ${child.error}`)
  assert.equal(child.signal, null, `x-wasi died of ${child.signal}; stderr: ${child.stderr}`)
  return child
}

const lines = (...texts) => texts.map((text) => `${text}\n`).join('')

let scratch
before(() => {
  scratch = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'xwasi-cli-')))
  fs.mkdirSync(path.join(scratch, 'data'))
  fs.writeFileSync(path.join(scratch, 'data', 'input.txt'), 'from the host\n')
  fs.writeFileSync(path.join(scratch, 'outside.txt'), 'not for the guest\n')
})
after(() => fs.rmSync(scratch, { recursive: true, force: true }))

describe('x-wasi --help and --version', () => {
  test('--help prints the usage, with --mode and the exit statuses, and exits 0', () => {
    for (const args of [['--help'], ['help'], ['run', '-h']]) {
      const child = runCli(args)
      assert.equal(child.status, 0, args.join(' '))
      assert.match(child.stdout, /^Usage: x-wasi \[run\]/)
      assert.match(child.stdout, /--mode <MODE>/)
      assert.match(child.stdout, /134 +on a trap/)
      assert.match(child.stdout, /x-wasi-go/)
      assert.equal(child.stderr, '')
    }
  })

  test('--version prints the package version', () => {
    const child = runCli(['--version'])
    assert.equal(child.status, 0)
    assert.equal(child.stdout, `x-wasi ${require('../package.json').version}\n`)
  })
})

describe('arguments', () => {
  for (const mode of MODES) {
    test(`${mode}: argv[0] is the module's base name, the rest passes through as given`, () => {
      const module = fixture('go:argsenv')
      const child = runCli(['run', '--mode', mode, module, 'plain', 'with space', '', '--dir', '-x'])
      assert.equal(child.stderr, '')
      assert.equal(child.status, 0)
      assert.equal(
        child.stdout,
        lines(
          'argc=6',
          'argv[0]="argsenv.wasm"',
          'argv[1]="plain"',
          'argv[2]="with space"',
          'argv[3]=""',
          'argv[4]="--dir"',
          'argv[5]="-x"',
          'envc=0',
          'FOO="" set=false',
          'HOME set=false',
        ),
      )
    })
  }

  test('`x-wasi module.wasm` is `x-wasi run module.wasm`; --argv0 sets argv[0]', () => {
    const module = fixture('go:argsenv')
    const withRun = runCli(['run', module, 'a'])
    const withoutRun = runCli([module, 'a'])
    assert.equal(withRun.status, 0)
    assert.equal(withoutRun.stdout, withRun.stdout)
    assert.match(runCli(['--argv0', 'prog', module]).stdout, /^argv\[0\]="prog"$/m)
  })
})

describe('environment', () => {
  test('--env NAME=VAL sets, --env NAME inherits, an unset NAME is left out, nothing else leaks', () => {
    const env = { ...BASE_ENV, FROM_PARENT: 'inherited value', HOME: '/home/nobody' }
    const args = ['--env', 'FOO=bar', '--env=EMPTY=', '--env', 'EQ=a=b', '--env', 'FROM_PARENT', '--env', 'NOT_SET_ANYWHERE']
    const child = runCli([...args, fixture('go:argsenv')], { env })
    assert.equal(child.stderr, '')
    assert.equal(child.status, 0)
    assert.equal(
      child.stdout,
      lines(
        'argc=1',
        'argv[0]="argsenv.wasm"',
        'envc=4',
        'env "EMPTY="',
        'env "EQ=a=b"',
        'env "FOO=bar"',
        'env "FROM_PARENT=inherited value"',
        'FOO="bar" set=true',
        'HOME set=false',
      ),
    )
  })
})

describe('directories', () => {
  for (const mode of MODES) {
    test(`${mode}: --dir HOST::GUEST shows the host directory at the guest path, and nothing else`, () => {
      const child = runCli(['--mode', mode, '--dir', `${scratch}/data::/guest`, fixture('go:cat'), '/guest/input.txt', '/guest/../outside.txt'])
      assert.equal(child.stderr, '')
      assert.match(child.stdout, /^wd: "\/guest"\n\/guest\/input.txt: "from the host\\n"\n/)
      assert.match(child.stdout, /^\/guest\/\.\.\/outside\.txt: error: /m)
      assert.equal(child.status, 1, 'cat exits 1 when a file is unreadable')
    })
  }

  test('--dir HOST (no ::GUEST) shows it under the same path; a relative HOST is taken from the cwd', () => {
    const absolute = runCli(['--dir', `${scratch}/data`, fixture('go:cat'), `${scratch}/data/input.txt`])
    assert.equal(absolute.stderr, '')
    assert.equal(absolute.stdout, lines(`wd: "${scratch}/data"`, `${scratch}/data/input.txt: "from the host\\n"`))
    assert.equal(absolute.status, 0)

    const relative = runCli(['--dir', 'data::/in', fixture('go:cat'), '/in/input.txt'], { cwd: scratch })
    assert.equal(relative.stderr, '')
    assert.equal(relative.stdout, lines('wd: "/in"', '/in/input.txt: "from the host\\n"'))
    assert.equal(relative.status, 0)
  })

  test('--dir /::/ (and --dir=/) gives the guest the host filesystem at the same paths', () => {
    for (const dir of [['--dir', '/::/'], ['--dir=/']]) {
      const child = runCli([...dir, '--env', `PWD=${scratch}`, fixture('go:cat'), 'data/input.txt', `${scratch}/outside.txt`])
      assert.equal(child.stderr, '')
      assert.equal(
        child.stdout,
        lines(`wd: "${scratch}"`, 'data/input.txt: "from the host\\n"', `${scratch}/outside.txt: "not for the guest\\n"`),
      )
      assert.equal(child.status, 0)
    }
  })

  test('without --dir the guest sees no filesystem', () => {
    const child = runCli([fixture('go:cat'), `${scratch}/data/input.txt`])
    assert.match(child.stdout, /input\.txt: error: /)
    assert.equal(child.status, 1)
  })

  test('a --dir that does not exist, or is a file, is a usage error', () => {
    const missing = runCli(['--dir', `${scratch}/nope::/x`, fixture('go:hello')])
    assert.equal(missing.status, EXIT_USAGE)
    assert.match(missing.stderr, /^x-wasi: cannot open --dir '.*nope': ENOENT/)
    const file = runCli(['--dir', `${scratch}/outside.txt`, fixture('go:hello')])
    assert.equal(file.status, EXIT_USAGE)
    assert.match(file.stderr, /is not a directory/)
  })
})

describe('exit codes and output', () => {
  for (const mode of MODES) {
    for (const code of [0, 3, 255]) {
      test(`${mode}: os.Exit(${code}) is the process's exit code`, () => {
        const child = runCli(['--mode', mode, fixture('go:exit'), String(code)])
        assert.equal(child.stdout, `exiting with ${code}\n`)
        assert.equal(child.stderr, '')
        assert.equal(child.status, code)
      })
    }

    test(`${mode}: a module without memory whose _start calls wasi_unstable::proc_exit(2) exits 2`, () => {
      const child = runCli(['--mode', mode, fixture('wat:exit_unstable_no_memory')])
      assert.equal(child.stderr, '')
      assert.equal(child.status, 2)
    })

    test(`${mode}: stdout and stderr keep their interleaving when they share a file`, () => {
      const file = path.join(scratch, `combined-${mode}.txt`)
      const fd = fs.openSync(file, 'w')
      try {
        const child = runCli(['--mode', mode, fixture('go:rawwrite')], { stdio: ['ignore', fd, fd] })
        assert.equal(child.status, 0)
      } finally {
        fs.closeSync(fd)
      }
      assert.equal(fs.readFileSync(file, 'utf8'), 'raw stdout line\nraw stderr line\nsecond stdout line\n')
    })

    test(`${mode}: stdin passes through`, () => {
      const child = runCli(['--mode', mode, fixture('go:stdin')], { input: 'hello stdin\nmore\n' })
      assert.equal(child.stdout, 'HELLO STDIN\nMORE\n')
      assert.equal(child.stderr, 'read 17 bytes\n')
      assert.equal(child.status, 0)
    })
  }

  test('a large output through a pipe arrives whole (the guest blocks, nothing is lost)', () => {
    const child = runCli([fixture('go:stdin')], { input: 'x'.repeat(1 << 20) })
    assert.equal(child.status, 0)
    assert.equal(child.stdout.length, 1 << 20)
  })
})

describe('traps', () => {
  const traps = [
    ['wat:trap_unreachable', /unreachable/, ['boom', 'before_boom']],
    ['wat:trap_oob', /out of bounds/, ['load_far']],
    ['wat:trap_div_zero', /divide by zero/, ['divide']],
    ['wat:trap_stack_overflow', /call stack exhausted/, []],
  ]
  // V8 on the main thread (the launcher) and on a worker (plain node).
  const entries = { native: [BIN], v8: [BIN, BIN_JS] }
  for (const mode of MODES) {
    for (const [name, kind, functions] of traps) for (const command of entries[mode]) {
      test(`${mode}, ${path.basename(command)}: ${name} prints RuntimeError, the trap and the wasm stack, and exits ${EXIT_TRAP}`, () => {
        const child = runCli(['--mode', mode, fixture(name)], { command })
        assert.equal(child.stdout, '')
        assert.match(child.stderr, /^x-wasi: failed to run '.*': RuntimeError: /)
        assert.match(child.stderr, kind)
        for (const fn of functions) assert.match(child.stderr, new RegExp(`at (\\w+\\.)?${fn} \\(`))
        assert.doesNotMatch(child.stderr, /bin\/x-wasi\.js|node:internal/, 'no JS stack')
        assert.equal(child.status, EXIT_TRAP)
      })
    }

    test(`${mode}: a missing import is a LinkError naming each one, exit ${EXIT_TRAP}`, () => {
      const child = runCli(['--mode', mode, fixture('wat:missing_import')])
      assert.match(child.stderr, /LinkError: .*env::nope.*wasi_snapshot_preview1::not_a_syscall/)
      assert.equal(child.status, EXIT_TRAP)
    })
  }
})

describe('bad usage and bad modules', () => {
  const usageErrors = [
    [['--nope', 'm.wasm'], /unknown option '--nope'/],
    [['--engine', 'llvm', 'm.wasm'], /unknown engine 'llvm'/],
    [['--mode', 'jit', 'm.wasm'], /unknown mode 'jit'/],
    [['--mode=v8', '--engine=singlepass', 'm.wasm'], /--engine singlepass has no effect with --mode v8/],
    [['--dir'], /option '--dir' needs a value/],
    [['--dir', 'a::b::c', 'm.wasm'], /bad --dir/],
    [[], /missing the module path/],
    [['run', '--env', 'A=1'], /missing the module path/],
  ]
  for (const [args, message] of usageErrors) {
    test(`\`x-wasi ${args.join(' ')}\`: a clear usage error and exit ${EXIT_USAGE}`, () => {
      const child = runCli(args)
      assert.equal(child.stdout, '')
      assert.match(child.stderr, new RegExp(`^x-wasi: ${message.source}`))
      assert.match(child.stderr, /\nUsage: x-wasi \[run\]/)
      assert.equal(child.status, EXIT_USAGE)
    })
  }

  test(`a missing module file: "cannot read module", exit ${EXIT_USAGE}`, () => {
    const child = runCli([path.join(scratch, 'missing.wasm')])
    assert.equal(child.stderr, `x-wasi: cannot read module '${path.join(scratch, 'missing.wasm')}': ENOENT: no such file or directory, open '${path.join(scratch, 'missing.wasm')}'\n`)
    assert.equal(child.status, EXIT_USAGE)
  })

  for (const mode of MODES) {
    test(`${mode}: a file that is not wasm is a CompileError, exit ${EXIT_TRAP}`, () => {
      const child = runCli(['--mode', mode, path.join(scratch, 'outside.txt')])
      assert.match(child.stderr, /^x-wasi: failed to run '.*outside\.txt': CompileError: .*magic/)
      assert.equal(child.status, EXIT_TRAP)
    })
  }
})

describe('--mode v8 matches native', () => {
  const runs = {
    'go:argsenv with args and env': { args: ['--env', 'FOO=bar', fixture('go:argsenv'), 'x', 'y z'] },
    'go:cat through a preopen': { args: ['--dir', `DATA::/sandbox`, fixture('go:cat'), '/sandbox/input.txt', '/etc/passwd'] },
    'go:exit 42': { args: [fixture('go:exit'), '42'] },
    'go:goroutines': { args: [fixture('go:goroutines')] },
    'go:cryptorand': { args: [fixture('go:cryptorand')] },
    'wat:mixed_namespaces': { args: [fixture('wat:mixed_namespaces'), 'one', 'two'] },
  }
  for (const [label, { args }] of Object.entries(runs)) {
    test(label, () => {
      const resolved = args.map((arg) => arg.replace('DATA', path.join(scratch, 'data')))
      const native = runCli(['--mode=native', ...resolved])
      const v8 = runCli(['--mode=v8', ...resolved])
      assert.equal(v8.stdout, native.stdout)
      assert.equal(v8.stderr, native.stderr)
      assert.equal(v8.status, native.status)
      assert.notEqual(native.stdout, '')
    })
  }
})

describe('x-wasi-go (go test -exec)', () => {
  test('gives the program --dir=/, PWD (the current directory) and PATH, and passes its arguments', () => {
    const env = { ...BASE_ENV, SECRET: 'not passed' }
    const child = runCli([fixture('go:cat'), 'data/input.txt', `${scratch}/outside.txt`], { command: GO_RUNNER, cwd: scratch, env })
    assert.equal(child.stderr, '')
    assert.equal(
      child.stdout,
      lines(`wd: "${scratch}"`, 'data/input.txt: "from the host\\n"', `${scratch}/outside.txt: "not for the guest\\n"`),
    )
    assert.equal(child.status, 0)

    const argsenv = runCli([fixture('go:argsenv'), '-test.v', '-test.short'], { command: GO_RUNNER, cwd: scratch, env })
    assert.match(argsenv.stdout, /^argc=3\nargv\[0\]="argsenv.wasm"\nargv\[1\]="-test.v"\nargv\[2\]="-test.short"\nenvc=2\n/)
    assert.match(argsenv.stdout, new RegExp(`^env "PATH=${BASE_ENV.PATH.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"$`, 'm'))
    assert.match(argsenv.stdout, new RegExp(`^env "PWD=${scratch}"$`, 'm'))
  })

  test('PWD is the real path of the current directory, not an inherited PWD through a symlink', () => {
    // The sandbox does not follow symlinks to absolute paths (nor does
    // wasmtime's), so a PWD through one would leave the guest without a cwd.
    const link = path.join(scratch, 'link-to-data')
    fs.symlinkSync(path.join(scratch, 'data'), link)
    try {
      const child = runCli([fixture('go:cat'), 'input.txt'], { command: GO_RUNNER, cwd: link, env: { ...BASE_ENV, PWD: link } })
      assert.equal(child.stdout, lines(`wd: "${scratch}/data"`, 'input.txt: "from the host\\n"'))
      assert.equal(child.status, 0)
    } finally {
      fs.unlinkSync(link)
    }
  })

  test('runs a Go package test: `GOOS=wasip1 GOARCH=wasm go test -exec x-wasi-go`', (t) => {
    const goTest = path.join(__dirname, 'fixtures', 'gotest')
    const child = spawnSync('go', ['test', '-count=1', '-v', '-exec', GO_RUNNER, '.', '-args', '-fail'], {
      cwd: goTest,
      encoding: 'utf8',
      env: { ...process.env, PATH: BASE_ENV.PATH, GOOS: 'wasip1', GOARCH: 'wasm', GOTOOLCHAIN: 'local' },
      timeout: 300_000,
    })
    if (child.error?.code === 'ENOENT') return t.skip('go is not installed')
    assert.equal(child.error, undefined, String(child.error))
    const output = `${child.stdout}${child.stderr}`
    assert.match(output, /--- PASS: TestReadsTestdata/, output)
    assert.match(output, /--- PASS: TestDeepRecursion/, output)
    assert.match(output, /--- FAIL: TestFailsWhenAsked/, output)
    assert.match(output, /^FAIL\s/m, output)
    assert.equal(child.status, 1, 'a failing test fails `go test`')
  })
})

describe('launchers: node starts with the stack V8 runs wasm on (bin/launch.sh)', () => {
  const LAUNCH = path.resolve(__dirname, '..', 'bin', 'launch.sh')
  // What launch.sh starts node with: its flags and the stack's soft limit.
  const REPORT = `const limit = /^Max stack size\\s+(\\S+)/m.exec(require('fs').readFileSync('/proc/self/limits', 'utf8'))[1]
console.log(JSON.stringify({ execArgv: process.execArgv, limit, args: process.argv.slice(2) }))`

  function launch(ulimits, args = []) {
    const dir = fs.mkdtempSync(path.join(scratch, 'launch-'))
    fs.writeFileSync(path.join(dir, 'report.js'), REPORT)
    const script = `${ulimits}; bin_dir='${dir}'; script=report.js; . '${LAUNCH}'`
    const child = spawnSync('sh', ['-c', script, 'sh', ...args], { encoding: 'utf8', env: BASE_ENV })
    assert.equal(child.stderr, '')
    return JSON.parse(child.stdout)
  }

  test('a stack limit it can raise: --stack-size=8000 and a 16 MiB limit; arguments passed as they are', (t) => {
    if (process.platform !== 'linux') return t.skip('reads /proc/self/limits')
    const report = launch('ulimit -Ss 8192', ['a b', '', '-x'])
    assert.deepEqual(report.execArgv, ['--stack-size=8000'])
    assert.equal(report.limit, String(16 << 20))
    assert.deepEqual(report.args, ['a b', '', '-x'])
  })

  test('an unlimited stack: --stack-size=8000, the limit left alone', (t) => {
    if (process.platform !== 'linux') return t.skip('reads /proc/self/limits')
    const unlimited = spawnSync('sh', ['-c', 'ulimit -Ss unlimited']).status === 0
    if (!unlimited) return t.skip('the hard limit is not unlimited here')
    const report = launch('ulimit -Ss unlimited')
    assert.deepEqual(report.execArgv, ['--stack-size=8000'])
    assert.equal(report.limit, 'unlimited')
  })

  test('a hard limit below 16 MiB: no flag, and V8 runs wasm on a worker with its own stack', (t) => {
    if (process.platform !== 'linux') return t.skip('reads /proc/self/limits')
    const report = launch('ulimit -s 8192')
    assert.deepEqual(report.execArgv, [])
    // The same limit on the real launcher: a stack overflow is still a trap.
    const overflow = spawnSync('sh', ['-c', `ulimit -s 8192; exec '${BIN}' --mode=v8 '${fixture('wat:trap_stack_overflow')}'`], { encoding: 'utf8', env: BASE_ENV })
    assert.match(overflow.stderr, /RuntimeError: call stack exhausted/)
    assert.equal(overflow.status, EXIT_TRAP)
  })

  test('found through a relative symlink (npm links bins) and from its own directory', () => {
    const link = path.join(scratch, 'x-wasi-link')
    fs.symlinkSync(path.relative(scratch, BIN), link)
    try {
      assert.match(runCli(['--version'], { command: link }).stdout, /^x-wasi \d/)
    } finally {
      fs.unlinkSync(link)
    }
    const here = spawnSync('sh', ['x-wasi', '--version'], { cwd: path.dirname(BIN), encoding: 'utf8', env: BASE_ENV })
    assert.match(here.stdout, /^x-wasi \d/)
  })

  test('the CLI runs V8 on its main thread only when node has the stack for it', () => {
    const { mainThreadRunsWasm } = require('../bin/x-wasi.js')
    assert.equal(mainThreadRunsWasm(['--stack-size=8000']), true)
    assert.equal(mainThreadRunsWasm(['--stack_size=65500']), true)
    assert.equal(mainThreadRunsWasm(['--stack-size=7999']), false)
    assert.equal(mainThreadRunsWasm(['--stack-size=8000', '--stack-size=984']), false, 'the last flag counts, as in V8')
    assert.equal(mainThreadRunsWasm([]), false)
  })
})
