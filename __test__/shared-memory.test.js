'use strict'

// A module whose memory is shared ((memory 1 1 shared): its memory.buffer is
// a SharedArrayBuffer) runs in V8 mode as natively and under node:wasi:
// syscalls read from it (fd_write's iovec and text) and write into it
// (args_sizes_get), and the exit code is read back from it.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { test, after } = require('node:test')
const { WASI: NodeWASI } = require('node:wasi')

const { WASI } = require('..')
const { fixtureBytes } = require('./fixtures')

const BYTES = fixtureBytes('wat:shared_memory')
const ARGS = ['prog', 'a', 'b']
const TEXT = 'hello from shared memory\n'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xwasi-shared-'))
after(() => fs.rmSync(dir, { recursive: true, force: true }))

/** Runs `start(stdout fd)` with stdout into a file; returns [exit code, what it wrote]. */
function withStdout(name, start) {
  const file = path.join(dir, name)
  const fd = fs.openSync(file, 'w+')
  try {
    return [start(fd), fs.readFileSync(file, 'utf8')]
  } finally {
    fs.closeSync(fd)
  }
}

test('V8 mode runs a module with a shared memory: syscalls read and write it in place', () => {
  const [code, out] = withStdout('v8', (stdout) => {
    const wasi = new WASI({ args: ARGS, stdout, returnOnExit: true })
    const instance = new WebAssembly.Instance(new WebAssembly.Module(BYTES), wasi.getImportObject())
    assert.ok(instance.exports.memory.buffer instanceof SharedArrayBuffer)
    return wasi.start(instance)
  })
  assert.equal(out, TEXT)
  assert.equal(code, ARGS.length, 'args_sizes_get wrote the argument count into the shared memory')
})

test('the same module natively and under node:wasi gives the same output and exit code', () => {
  const native = withStdout('native', (stdout) => new WASI({ args: ARGS, stdout, returnOnExit: true }).start(BYTES))
  const node = withStdout('node', (stdout) => {
    const wasi = new NodeWASI({ version: 'preview1', args: ARGS, stdout, returnOnExit: true })
    return wasi.start(new WebAssembly.Instance(new WebAssembly.Module(BYTES), wasi.getImportObject()))
  })
  assert.deepEqual(native, [ARGS.length, TEXT])
  assert.deepEqual(node, [ARGS.length, TEXT])
})

test('wasiImport functions called by JS after initialize() with a shared WebAssembly.Memory write into it', () => {
  const wasi = new WASI({ args: ARGS, returnOnExit: true })
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true })
  wasi.initialize({ exports: { memory } })
  // Through the imports, which pass the guest's memory themselves.
  assert.equal(wasi.wasiImport.args_sizes_get(12, 16), 0)
  const view = new DataView(memory.buffer)
  assert.equal(view.getUint32(12, true), ARGS.length)
  assert.equal(view.getUint32(16, true), ARGS.join('\0').length + 1)
})
