'use strict'

// Command-line parsing for `x-wasi`, kept free of I/O so it can be unit tested.
// Flags follow wasmtime's CLI: `--dir HOST[::GUEST]`, `--env NAME[=VAL]`,
// options end at the module path and everything after it goes to the guest.

const path = require('node:path')

const ENGINES = ['auto', 'cranelift', 'singlepass']
// native: wasmer compiles and runs the module (`wasi.start(bytes)`);
// v8: V8 runs it with our syscalls (`WebAssembly.instantiate(bytes,
// wasi.getImportObject())`, then `wasi.start(instance)`), as with node:wasi.
const MODES = ['native', 'v8']

// Exit codes of the CLI itself (the guest's own exit code is passed through).
const EXIT_USAGE = 2 // bad flags, unreadable module or preopen directory
const EXIT_FAILURE = 1 // runtime unavailable or an unexpected host error
const EXIT_TRAP = 134 // 128 + SIGABRT, what wasmtime uses for a trap

// `x-wasi cache <action>`: the on-disk cache of compiled modules.
const CACHE_ACTIONS = ['dir', 'size', 'clean']

const USAGE = `Usage: x-wasi [run] [OPTIONS] <MODULE.wasm> [ARGS]...
       x-wasi cache dir | size | clean
       x-wasi help | --help | --version

Runs a WASI (preview 1) module with @x/wasi. Options must come before the
module path; everything after it is passed to the module.

Options:
  --dir <HOST[::GUEST]>   Preopen host directory HOST as GUEST in the guest.
                          Without ::GUEST the guest sees it under the path as
                          given (--dir ./data is ./data in the guest).
  --env <NAME[=VAL]>      Set NAME=VAL in the guest environment; a bare NAME
                          inherits the value from this process (skipped if unset).
  --engine <ENGINE>       auto (default): Cranelift's code from the disk
                          cache when there, else V8 now, with wasmer's
                          errors and exit codes (and, for a module run
                          before, Cranelift into the cache in the
                          background); or always cranelift or singlepass.
                          Native mode only.
  --mode <MODE>           Who runs the module: native (default; wasmer
                          compiles and runs it) or v8 (V8 runs it, as
                          node:wasi does, with @x/wasi's syscalls).
  --argv0 <NAME>          argv[0] for the guest (default: the module's file name).
  -h, --help              Print this help.
  -V, --version           Print the version.

Every option also accepts the --name=value form; -- ends the options.

The on-disk cache of compiled modules ($X_WASI_CACHE_DIR, else
$XDG_CACHE_HOME/x-wasi or ~/.cache/x-wasi; at most $X_WASI_CACHE_MAX_BYTES,
default 1 GiB, least recently used entries removed first):
  x-wasi cache dir        Print its directory.
  x-wasi cache size       Print how much it holds, and its limit.
  x-wasi cache clean      Remove every entry.
(A module file named 'cache' runs with: x-wasi run cache.)

For Go's test runner use x-wasi-go (beside x-wasi), which adds --dir=/ and
the PWD and PATH of the caller, like Go's go_wasip1_wasm_exec for wasmtime:
  GOOS=wasip1 GOARCH=wasm go test -exec /path/to/x-wasi-go ./...

Exit status:
  the module's exit code   when it returns or calls proc_exit
  ${EXIT_TRAP}                      on a trap (including a wasm stack overflow), a
                           compile or link error: the error and its wasm
                           backtrace go to stderr (128 + SIGABRT, as wasmtime)
  ${EXIT_USAGE}                        on bad usage, an unreadable module or a missing --dir
  ${EXIT_FAILURE}                        when the native addon cannot be loaded or on any
                           other host error
`

class UsageError extends Error {
  constructor(message) {
    super(message)
    this.name = 'UsageError'
  }
}

const VALUE_OPTIONS = new Set(['--dir', '--env', '--engine', '--mode', '--argv0'])
const FLAG_OPTIONS = new Map([
  ['-h', 'help'],
  ['--help', 'help'],
  ['-V', 'version'],
  ['--version', 'version'],
])

/**
 * Parses the arguments after `x-wasi` (i.e. process.argv.slice(2)).
 * Returns `{ command: 'help' | 'version' }` or
 * `{ command: 'run', modulePath, moduleArgs, dirs, env, engine, mode, argv0 }`
 * (`mode` is 'native' unless `--mode v8`).
 * `processEnv` is only read for `--env NAME` (inherit).
 */
function parseCommandLine(argv, processEnv = {}) {
  if (argv[0] === 'help') return { command: 'help' }
  if (argv[0] === 'cache') return parseCacheCommand(argv.slice(1))
  const rest = argv[0] === 'run' ? argv.slice(1) : argv
  const run = { command: 'run', dirs: [], env: {}, engine: undefined, mode: 'native', argv0: undefined }

  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]
    if (arg === '--') return withModule(run, rest.slice(i + 1))
    if (!arg.startsWith('-') || arg === '-') return withModule(run, rest.slice(i))

    if (FLAG_OPTIONS.has(arg)) return { command: FLAG_OPTIONS.get(arg) }

    const { name, inlineValue } = splitOption(arg)
    if (!VALUE_OPTIONS.has(name)) throw new UsageError(`unknown option '${name}'`)
    let value = inlineValue
    if (value === undefined) {
      if (i + 1 >= rest.length) throw new UsageError(`option '${name}' needs a value`)
      value = rest[++i]
    }
    applyOption(run, name, value, processEnv)
  }
  throw new UsageError('missing the module path')
}

/** `cache <action>` → { command: 'cache', action }. */
function parseCacheCommand(rest) {
  const expected = CACHE_ACTIONS.join(', ')
  if (rest.length === 0) throw new UsageError(`'cache' needs an action (${expected})`)
  if (!CACHE_ACTIONS.includes(rest[0])) throw new UsageError(`unknown cache action '${rest[0]}' (expected ${expected})`)
  if (rest.length > 1) throw new UsageError(`'cache ${rest[0]}' takes no arguments`)
  return { command: 'cache', action: rest[0] }
}

function splitOption(arg) {
  const eq = arg.indexOf('=')
  if (!arg.startsWith('--') || eq < 0) return { name: arg, inlineValue: undefined }
  return { name: arg.slice(0, eq), inlineValue: arg.slice(eq + 1) }
}

function applyOption(run, name, value, processEnv) {
  switch (name) {
    case '--dir':
      run.dirs.push(parseDirSpec(value))
      break
    case '--env': {
      const entry = parseEnvSpec(value, processEnv)
      if (entry) run.env[entry[0]] = entry[1]
      break
    }
    case '--engine':
      if (!ENGINES.includes(value)) {
        throw new UsageError(`unknown engine '${value}' (expected ${ENGINES.join(', ')})`)
      }
      run.engine = value
      break
    case '--mode':
      if (!MODES.includes(value)) {
        throw new UsageError(`unknown mode '${value}' (expected ${MODES.join(' or ')})`)
      }
      run.mode = value
      break
    case '--argv0':
      run.argv0 = value
      break
  }
}

function withModule(run, moduleAndArgs) {
  if (moduleAndArgs.length === 0) throw new UsageError('missing the module path')
  if (run.mode === 'v8' && run.engine !== undefined) {
    throw new UsageError(`--engine ${run.engine} has no effect with --mode v8 (V8 compiles the module)`)
  }
  const [modulePath, ...moduleArgs] = moduleAndArgs
  return { ...run, modulePath, moduleArgs }
}

/** `HOST::GUEST` → { host, guest }; a bare `HOST` is visible under the same path. */
function parseDirSpec(spec) {
  const parts = spec.split('::')
  if (parts.length > 2 || parts.some((part) => part === '')) {
    throw new UsageError(`bad --dir '${spec}' (expected HOST or HOST::GUEST)`)
  }
  const [host, guest = host] = parts
  return { host, guest }
}

/** `NAME=VAL` → [NAME, VAL]; `NAME` → [NAME, inherited] or null when unset. */
function parseEnvSpec(spec, processEnv) {
  const eq = spec.indexOf('=')
  const name = eq < 0 ? spec : spec.slice(0, eq)
  if (name === '') throw new UsageError(`bad --env '${spec}' (expected NAME=VAL or NAME)`)
  if (eq >= 0) return [name, spec.slice(eq + 1)]
  return Object.prototype.hasOwnProperty.call(processEnv, name) ? [name, processEnv[name]] : null
}

/** Like wasmtime, argv[0] is the module's base name so host paths don't leak. */
function defaultArgv0(modulePath) {
  return path.basename(modulePath)
}

/**
 * Turns a parsed `run` command into options for `new WASI(...)`.
 * `resolveHost` maps a host directory to the path handed to the runtime.
 */
function toWasiOptions(run, resolveHost = (host) => host) {
  const preopens = {}
  for (const { host, guest } of run.dirs) {
    if (Object.prototype.hasOwnProperty.call(preopens, guest)) {
      throw new UsageError(`guest path '${guest}' is preopened twice`)
    }
    preopens[guest] = resolveHost(host)
  }
  const options = {
    args: [run.argv0 ?? defaultArgv0(run.modulePath), ...run.moduleArgs],
    env: { ...run.env },
    preopens,
    returnOnExit: true,
    stdin: 0,
    stdout: 1,
    stderr: 2,
  }
  if (run.engine) options.engine = run.engine
  return options
}

module.exports = {
  CACHE_ACTIONS,
  ENGINES,
  EXIT_FAILURE,
  EXIT_TRAP,
  EXIT_USAGE,
  MODES,
  USAGE,
  UsageError,
  defaultArgv0,
  parseCommandLine,
  parseDirSpec,
  parseEnvSpec,
  toWasiOptions,
}
