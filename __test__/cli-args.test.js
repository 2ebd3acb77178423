'use strict'

const assert = require('node:assert/strict')
const { describe, it } = require('node:test')
const {
  UsageError,
  defaultArgv0,
  parseCommandLine,
  parseDirSpec,
  parseEnvSpec,
  toWasiOptions,
} = require('../lib/cli-args')

describe('parseCommandLine', () => {
  it('treats `run` as optional', () => {
    const withRun = parseCommandLine(['run', 'app.wasm', 'a'])
    const withoutRun = parseCommandLine(['app.wasm', 'a'])
    assert.deepEqual(withRun, withoutRun)
    assert.equal(withRun.command, 'run')
    assert.equal(withRun.modulePath, 'app.wasm')
    assert.deepEqual(withRun.moduleArgs, ['a'])
  })

  it('stops option parsing at the module path', () => {
    const run = parseCommandLine(['--env', 'A=1', 'app.wasm', '--dir', 'x', '--help', '-V'])
    assert.deepEqual(run.env, { A: '1' })
    assert.deepEqual(run.dirs, [])
    assert.deepEqual(run.moduleArgs, ['--dir', 'x', '--help', '-V'])
  })

  it('accepts both `--opt value` and `--opt=value`', () => {
    const spaced = parseCommandLine(['--dir', 'd::/g', '--env', 'A=1', '--engine', 'singlepass', 'm.wasm'])
    const inline = parseCommandLine(['--dir=d::/g', '--env=A=1', '--engine=singlepass', 'm.wasm'])
    assert.deepEqual(spaced, inline)
    assert.deepEqual(spaced.dirs, [{ host: 'd', guest: '/g' }])
    assert.equal(spaced.engine, 'singlepass')
  })

  it('keeps repeated --dir and --env in order, later --env wins', () => {
    const run = parseCommandLine(['--dir', 'a', '--dir', 'b::/b', '--env', 'K=1', '--env', 'K=2', 'm.wasm'])
    assert.deepEqual(run.dirs, [{ host: 'a', guest: 'a' }, { host: 'b', guest: '/b' }])
    assert.deepEqual(run.env, { K: '2' })
  })

  it('inherits a bare --env NAME from the given environment', () => {
    const run = parseCommandLine(['--env', 'HOME', '--env', 'UNSET', 'm.wasm'], { HOME: '/root' })
    assert.deepEqual(run.env, { HOME: '/root' })
  })

  it('lets -- end the options so a module may start with a dash', () => {
    const run = parseCommandLine(['--env', 'A=1', '--', '-odd.wasm', 'x'])
    assert.equal(run.modulePath, '-odd.wasm')
    assert.deepEqual(run.moduleArgs, ['x'])
  })

  it('recognises help and version before the module', () => {
    for (const flag of ['-h', '--help', 'help']) assert.deepEqual(parseCommandLine([flag]), { command: 'help' })
    for (const flag of ['-V', '--version']) assert.deepEqual(parseCommandLine([flag]), { command: 'version' })
    assert.deepEqual(parseCommandLine(['run', '--dir', 'x', '--help']), { command: 'help' })
  })

  it('takes --mode native|v8, native by default', () => {
    assert.equal(parseCommandLine(['m.wasm']).mode, 'native')
    assert.equal(parseCommandLine(['--mode', 'v8', 'm.wasm']).mode, 'v8')
    assert.equal(parseCommandLine(['--mode=native', '--engine=singlepass', 'm.wasm']).mode, 'native')
  })

  it('records --argv0', () => {
    assert.equal(parseCommandLine(['--argv0', 'prog', 'm.wasm']).argv0, 'prog')
  })

  it('rejects bad usage with a UsageError', () => {
    const cases = [
      [[], /missing the module path/],
      [['run'], /missing the module path/],
      [['--env', 'A=1'], /missing the module path/],
      [['--'], /missing the module path/],
      [['--nope', 'm.wasm'], /unknown option '--nope'/],
      [['--nope=1', 'm.wasm'], /unknown option '--nope'/],
      [['--dir'], /needs a value/],
      [['--engine', 'llvm', 'm.wasm'], /unknown engine 'llvm'/],
      [['--mode', 'wasmtime', 'm.wasm'], /unknown mode 'wasmtime'/],
      [['--mode=v8', '--engine=cranelift', 'm.wasm'], /--engine cranelift has no effect with --mode v8/],
      [['--dir', 'a::b::c', 'm.wasm'], /bad --dir/],
      [['--dir', '::/g', 'm.wasm'], /bad --dir/],
      [['--env', '=x', 'm.wasm'], /bad --env/],
    ]
    for (const [argv, message] of cases) {
      assert.throws(() => parseCommandLine(argv), (err) => err instanceof UsageError && message.test(err.message), argv.join(' '))
    }
  })
})

describe('parseDirSpec', () => {
  it('maps HOST::GUEST and defaults the guest path to the host path as given', () => {
    assert.deepEqual(parseDirSpec('./data::/sandbox'), { host: './data', guest: '/sandbox' })
    assert.deepEqual(parseDirSpec('./data'), { host: './data', guest: './data' })
    assert.deepEqual(parseDirSpec('/tmp::/'), { host: '/tmp', guest: '/' })
  })
})

describe('parseEnvSpec', () => {
  it('splits on the first = only and allows empty values', () => {
    assert.deepEqual(parseEnvSpec('A=b=c', {}), ['A', 'b=c'])
    assert.deepEqual(parseEnvSpec('A=', {}), ['A', ''])
  })

  it('returns null for an inherited variable that is not set', () => {
    assert.equal(parseEnvSpec('NOPE', {}), null)
    assert.deepEqual(parseEnvSpec('X', { X: '' }), ['X', ''])
  })
})

describe('toWasiOptions', () => {
  it('builds the WASI constructor options', () => {
    const run = parseCommandLine(['--dir', 'host::/g', '--env', 'A=1', '--engine', 'cranelift', 'dir/app.wasm', 'x', 'y'])
    assert.deepEqual(toWasiOptions(run, (host) => `/abs/${host}`), {
      args: ['app.wasm', 'x', 'y'],
      env: { A: '1' },
      preopens: { '/g': '/abs/host' },
      returnOnExit: true,
      stdin: 0,
      stdout: 1,
      stderr: 2,
      engine: 'cranelift',
    })
  })

  it('keeps the mode out of the WASI options', () => {
    assert.equal('mode' in toWasiOptions(parseCommandLine(['--mode', 'v8', 'app.wasm'])), false)
  })

  it('leaves the engine unset unless asked and honours --argv0', () => {
    const options = toWasiOptions(parseCommandLine(['--argv0', 'prog', 'app.wasm']))
    assert.equal('engine' in options, false)
    assert.deepEqual(options.args, ['prog'])
  })

  it('rejects two directories preopened at the same guest path', () => {
    const run = parseCommandLine(['--dir', 'a::/g', '--dir', 'b::/g', 'm.wasm'])
    assert.throws(() => toWasiOptions(run), UsageError)
  })
})

describe('defaultArgv0', () => {
  it('is the base name of the module path, like wasmtime', () => {
    assert.equal(defaultArgv0('tests/rust/foo.wasm'), 'foo.wasm')
    assert.equal(defaultArgv0('foo.wasm'), 'foo.wasm')
    assert.equal(defaultArgv0('/abs/path/foo.wasm'), 'foo.wasm')
  })
})

it('parses the cache commands', () => {
  const { parseCommandLine: parse, UsageError: Usage } = require('../lib/cli-args')
  for (const action of ['dir', 'size', 'clean']) assert.deepEqual(parse(['cache', action]), { command: 'cache', action })
  assert.throws(() => parse(['cache']), Usage)
  assert.throws(() => parse(['cache', 'wipe']), /unknown cache action 'wipe'/)
  assert.throws(() => parse(['cache', 'size', 'x']), /takes no arguments/)
  assert.equal(parse(['run', 'cache']).modulePath, 'cache', 'a module named cache runs with `run`')
})
