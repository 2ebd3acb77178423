'use strict'

// Reads a test's JSON specification (doc/specification.md of wasi-testsuite)
// and normalises it to the operation-based form, converting legacy specs the
// way the official runner does.

const fs = require('node:fs')
const path = require('node:path')

const CLI_WORLD = 'wasi:cli/command'
const NEW_STYLE_KEYS = ['operations', 'proposals', 'servers']

function defaultSpec() {
  return { operations: [runOp({}, '.'), waitOp({})], proposals: [], world: CLI_WORLD, debug: false }
}

// `root` is relative to the directory of the JSON file.
function runOp(config, specDir) {
  return {
    type: 'run',
    args: config.args ?? [],
    env: config.env ?? {},
    root: config.root ? path.join(specDir, config.root) : null,
  }
}

function waitOp(config) {
  return { type: 'wait', exit_code: config.exit_code ?? 0 }
}

function readOp(config) {
  return { type: 'read', id: config.id ?? 'stdout', payload: config.payload ?? '' }
}

function normaliseOperation(op, specDir) {
  switch (op.type) {
    case 'run':
      return runOp(op, specDir)
    case 'wait':
      return waitOp(op)
    case 'read':
      return readOp(op)
    case 'write':
      return { type: 'write', id: op.id ?? 'stdin', payload: op.payload ?? '' }
    case 'kill':
      return { type: 'kill', signal: op.signal ?? 'SIGTERM' }
    default:
      // connect/send/recv/request: kept so the executor can report them.
      return { ...op }
  }
}

// Legacy specs are a single run with optional stdout/stderr checks.
function fromLegacy(config, specDir) {
  const operations = [runOp(config, specDir)]
  if (config.stdout != null) operations.push(readOp({ id: 'stdout', payload: config.stdout }))
  if (config.stderr != null) operations.push(readOp({ id: 'stderr', payload: config.stderr }))
  operations.push(waitOp(config))
  return { operations, proposals: [], world: CLI_WORLD, debug: false }
}

function fromOperations(config, specDir) {
  const operations = (config.operations ?? []).map((op) => normaliseOperation(op, specDir))
  return {
    operations: operations.length > 0 ? operations : defaultSpec().operations,
    proposals: config.proposals ?? [],
    world: config.world ?? CLI_WORLD,
    debug: Boolean(config.debug),
  }
}

/** The spec for `wasmPath` (`foo.wasm` → `foo.json`), or the default one. */
function loadSpec(wasmPath) {
  const specPath = wasmPath.replace(/\.wasm$/, '.json')
  if (!fs.existsSync(specPath)) return defaultSpec()
  const config = JSON.parse(fs.readFileSync(specPath, 'utf8'))
  const specDir = path.dirname(specPath)
  const isNewStyle = NEW_STYLE_KEYS.some((key) => config[key] != null)
  return isNewStyle ? fromOperations(config, specDir) : fromLegacy(config, specDir)
}

/** Host directories the test's `run` operations preopen as `/`. */
function rootsOf(spec) {
  return spec.operations.filter((op) => op.type === 'run' && op.root).map((op) => op.root)
}

module.exports = { CLI_WORLD, loadSpec, rootsOf }
