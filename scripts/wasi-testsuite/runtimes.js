'use strict'

// The runtimes the test-suite script can drive. All three take wasmtime-style
// flags, which is how the official adapters/wasmtime.py builds its command:
//   <runtime> --env K=V... [--dir ROOT::/] <test.wasm> <args...>

const { spawnSync } = require('node:child_process')
const path = require('node:path')

const PACKAGE_ROOT = path.join(__dirname, '..', '..')
// The launcher users run; it starts the `node` of PATH (see wasi-testsuite.js).
const X_WASI_BIN = path.join(PACKAGE_ROOT, 'bin', 'x-wasi')
const NODE_WASI_RUN = path.join(PACKAGE_ROOT, 'scripts', 'node-wasi-run.js')

const RUNTIME_NAMES = ['x-wasi', 'wasmtime', 'node']

// The ways x-wasi runs a module: natively with either compiler, or in V8.
const X_WASI_MODES = {
  cranelift: ['--engine', 'cranelift'],
  singlepass: ['--engine', 'singlepass'],
  v8: ['--mode', 'v8'],
}

function xWasi(mode) {
  if (mode && !X_WASI_MODES[mode]) {
    throw new Error(`unknown x-wasi mode '${mode}' (expected ${Object.keys(X_WASI_MODES).join(', ')})`)
  }
  return {
    name: mode ? `x-wasi/${mode}` : 'x-wasi',
    mode: mode ?? null,
    command: [X_WASI_BIN, 'run', ...(mode ? X_WASI_MODES[mode] : [])],
    // A missing addon is an error, not a skip: this runtime is what we test.
    required: true,
    unavailableReason: () => addonLoadError(),
  }
}

function addonLoadError() {
  const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(PACKAGE_ROOT)})`], {
    encoding: 'utf8',
  })
  if (probe.status === 0) return null
  const lastLine = probe.stderr.trim().split('\n').find((line) => /Error/.test(line))
  return `the native addon does not load (${lastLine ?? `exit ${probe.status}`}); build it first`
}

// WASMTIME may hold a command with options, like the official adapter allows.
function wasmtime() {
  const command = (process.env.WASMTIME || 'wasmtime').trim().split(/\s+/)
  return {
    name: 'wasmtime',
    command,
    required: false,
    unavailableReason: () => {
      const probe = spawnSync(command[0], ['--version'], { encoding: 'utf8' })
      return probe.status === 0 ? null : `'${command[0]} --version' failed (install wasmtime or set WASMTIME)`
    },
  }
}

function nodeWasi() {
  return {
    name: 'node',
    command: [process.execPath, '--no-warnings', NODE_WASI_RUN],
    required: false,
    unavailableReason: () => null,
  }
}

/** One runtime per run; x-wasi runs once per requested mode. */
function selectRuntimes(names, modes) {
  return names.flatMap((name) => {
    switch (name) {
      case 'x-wasi':
        return modes.length > 0 ? modes.map(xWasi) : [xWasi()]
      case 'wasmtime':
        return [wasmtime()]
      case 'node':
        return [nodeWasi()]
      default:
        throw new Error(`unknown runtime '${name}' (expected ${RUNTIME_NAMES.join(', ')})`)
    }
  })
}

/** argv for one `run` operation; paths are relative to the suite root (the child's cwd). */
function commandFor(runtime, testPath, run) {
  const envFlags = Object.entries(run.env).flatMap(([key, value]) => ['--env', `${key}=${value}`])
  const dirFlags = run.root ? ['--dir', `${run.root}::/`] : []
  return [...runtime.command, ...envFlags, ...dirFlags, testPath, ...run.args]
}

module.exports = { RUNTIME_NAMES, X_WASI_MODES, commandFor, selectRuntimes }
