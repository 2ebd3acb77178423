'use strict'

// The wasi-testsuite script's own logic, on tiny hand-made inputs (no suite,
// no addon needed).

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { afterEach, beforeEach, describe, it } = require('node:test')
const { loadSpec, rootsOf } = require('../scripts/wasi-testsuite/spec')
const { FixtureGuard } = require('../scripts/wasi-testsuite/fixtures')
const { commandFor } = require('../scripts/wasi-testsuite/runtimes')

let tmp
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wasi-testsuite-harness-'))
})
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true })
})

function writeSpec(name, spec) {
  const wasm = path.join(tmp, `${name}.wasm`)
  if (spec !== undefined) fs.writeFileSync(path.join(tmp, `${name}.json`), JSON.stringify(spec))
  return wasm
}

describe('loadSpec', () => {
  it('defaults to run + wait for exit code 0 without a JSON file', () => {
    assert.deepEqual(loadSpec(writeSpec('none')).operations, [
      { type: 'run', args: [], env: {}, root: null },
      { type: 'wait', exit_code: 0 },
    ])
  })

  it('turns a legacy spec into run, read stdout, read stderr, wait', () => {
    const spec = loadSpec(writeSpec('legacy', { args: ['a'], env: { K: 'v' }, root: 'dir', stdout: 'out', stderr: 'err', exit_code: 3 }))
    assert.deepEqual(spec.operations, [
      { type: 'run', args: ['a'], env: { K: 'v' }, root: path.join(tmp, 'dir') },
      { type: 'read', id: 'stdout', payload: 'out' },
      { type: 'read', id: 'stderr', payload: 'err' },
      { type: 'wait', exit_code: 3 },
    ])
    assert.deepEqual(rootsOf(spec), [path.join(tmp, 'dir')])
  })

  it('checks no output when a legacy spec does not mention it', () => {
    const types = loadSpec(writeSpec('exit', { exit_code: 33 })).operations.map((op) => op.type)
    assert.deepEqual(types, ['run', 'wait'])
  })

  it('fills in defaults of operation-based specs', () => {
    const spec = loadSpec(writeSpec('ops', { proposals: ['sockets'], operations: [{ type: 'run', root: 'r' }, { type: 'read' }, { type: 'wait' }] }))
    assert.deepEqual(spec.proposals, ['sockets'])
    assert.deepEqual(spec.operations, [
      { type: 'run', args: [], env: {}, root: path.join(tmp, 'r') },
      { type: 'read', id: 'stdout', payload: '' },
      { type: 'wait', exit_code: 0 },
    ])
  })
})

describe('commandFor', () => {
  it('passes env, the root as / and args the way adapters/wasmtime.py does', () => {
    const runtime = { command: ['rt', 'run'] }
    const argv = commandFor(runtime, 'tests/t.wasm', { args: ['x'], env: { A: '1', B: 'two words' }, root: 'tests/fs.dir' })
    assert.deepEqual(argv, ['rt', 'run', '--env', 'A=1', '--env', 'B=two words', '--dir', 'tests/fs.dir::/', 'tests/t.wasm', 'x'])
  })
})

describe('FixtureGuard', () => {
  it('undoes leftovers, deletions and changes while keeping the fixtures', () => {
    const root = path.join(tmp, 'fs.dir')
    fs.mkdirSync(path.join(root, 'sub'), { recursive: true })
    fs.writeFileSync(path.join(root, 'keep'), 'original')
    fs.writeFileSync(path.join(root, 'sub', 'nested'), 'nested')
    const guard = new FixtureGuard()
    try {
      guard.prepare(root)
      fs.writeFileSync(path.join(root, 'keep'), 'changed!!')
      fs.rmSync(path.join(root, 'sub'), { recursive: true })
      fs.mkdirSync(path.join(root, 'debris', 'deep'), { recursive: true })
      fs.writeFileSync(path.join(root, 'x.cleanup'), '')

      const repairs = guard.restore(root)

      assert.deepEqual(fs.readdirSync(root).sort(), ['keep', 'sub'])
      assert.equal(fs.readFileSync(path.join(root, 'keep'), 'utf8'), 'original')
      assert.equal(fs.readFileSync(path.join(root, 'sub', 'nested'), 'utf8'), 'nested')
      assert.deepEqual(repairs.sort(), ["removed leftover 'debris'", "restored changed 'keep'", "restored missing 'sub'"])
      assert.deepEqual(guard.restore(root), [])
    } finally {
      guard.dispose()
    }
  })
})
