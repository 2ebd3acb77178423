'use strict'

// V8 mode, the drop-in for node:wasi: V8 runs the module, @x/wasi serves
// its syscalls. Every case of cases.js (the same expected stdout, stderr and
// exit codes as native mode; only traps and link errors, which the engine
// decides, have V8 expectations of their own), then what only V8 mode has:
// start(module), the WASI names, a script written for node:wasi, misuse,
// memory growth, syscalls made outside start(), and node:wasi's import set.
// The engine option does not matter here: V8 compiles and runs the module.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { describe, test, after } = require('node:test')

const { WASI } = require('..')
const { cases, runCase, assertOutcome, openStdio } = require('./cases')
const { fixture, fixtureBytes } = require('./fixtures')

const PACKAGE_ROOT = path.resolve(__dirname, '..')
const NODE_WASI_SCRIPT = path.join(__dirname, 'fixtures', 'node-wasi-script.js')
const CHILD_TIMEOUT_MS = 120_000
const PAGE = 65536

const EFAULT = 21

// V8 words import errors differently across Node majors (Node 20:
// `module="env" function="f"`, later: `"env" "f"`): match the names in either.
const importNamed = (module, name) => new RegExp(`(module=)?"${module}"${name ? `( function=| )"${name}"` : ''}`)

const caseNamed = (name) => {
  const found = cases.find((c) => c.name === name)
  assert.ok(found, `no case named ${name}`)
  return found
}

describe('every case, V8 mode', () => {
  for (const caseDef of cases) {
    test(caseDef.name, async () => {
      assertOutcome(caseDef, await runCase(caseDef, { mode: 'v8' }), 'v8')
    })
  }

  test('V8 expectations differ from native ones only for errors, never for output or exit codes', () => {
    const overridden = cases.filter((c) => c.expect.v8)
    assert.ok(overridden.length > 0)
    for (const caseDef of overridden) {
      assert.ok(caseDef.expect.error && caseDef.expect.v8.error, `${caseDef.name}: a V8 override of a non-error outcome`)
      assert.deepEqual(Object.keys(caseDef.expect.v8), ['error'], caseDef.name)
    }
  })
})

// ---------------------------------------------------------------- helpers

// A temp dir with stdio files, removed after this file's tests.
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'xwasi-v8-'))
after(() => fs.rmSync(scratch, { recursive: true, force: true }))

// Runs `fn(stdio.fds)` with fresh stdio files; returns { value, stdout, stderr }.
async function withStdio(fn) {
  const stdio = openStdio(fs.mkdtempSync(path.join(scratch, 'stdio-')))
  let value
  try {
    value = await fn(stdio.fds)
  } finally {
    stdio.close()
  }
  return { value, stdout: stdio.read('stdout').toString(), stderr: stdio.read('stderr').toString() }
}

async function instantiate(fixtureName, imports) {
  return (await WebAssembly.instantiate(fixtureBytes(fixtureName), imports)).instance
}

function assertArgTypeError(fn, property) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof TypeError, `expected a TypeError, got ${err.constructor.name}: ${err.message}`)
    assert.equal(err.code, 'ERR_INVALID_ARG_TYPE', err.message)
    assert.match(err.message, new RegExp(`"${property.replace(/[.$]/g, '\\$&')}"`))
    return true
  })
}

// ---------------------------------------------------------------- link errors

describe('link errors are V8 own', () => {
  // The table's missing_import case in V8 mode is a TypeError: V8 meets the
  // "env" module, absent from WASI's import object, first. With "env" given,
  // V8 gets to the functions and throws LinkErrors naming the first missing one.
  test('a missing function of another module: LinkError naming it', async () => {
    const wasi = new WASI({})
    await assert.rejects(instantiate('wat:missing_import', { ...wasi.getImportObject(), env: {} }), (err) => {
      assert.ok(err instanceof WebAssembly.LinkError, `got ${err.constructor.name}: ${err.message}`)
      assert.match(err.message, importNamed('env', 'nope'))
      return true
    })
  })

  test('a name WASI does not have: LinkError naming it (the import object invents nothing)', async () => {
    const wasi = new WASI({})
    await assert.rejects(instantiate('wat:missing_import', { ...wasi.getImportObject(), env: { nope() {} } }), (err) => {
      assert.ok(err instanceof WebAssembly.LinkError, `got ${err.constructor.name}: ${err.message}`)
      assert.match(err.message, importNamed('wasi_snapshot_preview1', 'not_a_syscall'))
      assert.doesNotMatch(err.message, /fd_write/)
      return true
    })
  })
})

// ---------------------------------------------------------------- start(module)

describe('start(module): a WebAssembly.Module is instantiated in V8 with our imports', () => {
  test('new WebAssembly.Module(bytes): go hello', async () => {
    const module = new WebAssembly.Module(fixtureBytes('go:hello'))
    const run = await withStdio((fds) => new WASI({ args: ['hello'], ...fds }).start(module))
    assert.deepEqual(run, { value: 0, stdout: 'Hello, Wasm\n', stderr: '' })
  })

  test('WebAssembly.compile(bytes): go exit returns 3; a second start() throws and does not run it again', async () => {
    const module = await WebAssembly.compile(fixtureBytes('go:exit'))
    const run = await withStdio((fds) => {
      const wasi = new WASI({ args: ['exit', '3'], ...fds })
      const code = wasi.start(module)
      assert.throws(() => wasi.start(module), { code: 'ERR_WASI_ALREADY_STARTED' })
      return code
    })
    assert.deepEqual(run, { value: 3, stdout: 'exiting with 3\n', stderr: '' })
  })

  test('go argsenv: args and env reach the module', async () => {
    const caseDef = caseNamed('go argsenv: argv and env exactly as given, nothing inherited')
    const module = await WebAssembly.compile(fixtureBytes(caseDef.fixture))
    const run = await withStdio((fds) => new WASI({ args: caseDef.args, env: caseDef.env, ...fds }).start(module))
    assert.deepEqual(run, { value: 0, stdout: caseDef.expect.stdout, stderr: '' })
  })

  test('a module importing the legacy wasi_unstable name', async () => {
    const module = await WebAssembly.compile(fixtureBytes('wat:hello_unstable'))
    const run = await withStdio((fds) => new WASI({ ...fds }).start(module))
    assert.deepEqual(run, { value: 0, stdout: 'Hello from wasi_unstable!\n', stderr: '' })
  })
})

// ---------------------------------------------------------------- WASI names

describe('WASI names: version and getImportObject()', () => {
  test("version: 'unstable': wasiImport is the wasi_unstable set; getImportObject() still has both names", async () => {
    for (const via of ['getImportObject()', 'wasiImport']) {
      const run = await withStdio(async (fds) => {
        const wasi = new WASI({ version: 'unstable', ...fds })
        assert.deepEqual(Object.keys(wasi.getImportObject()).sort(), ['wasi_snapshot_preview1', 'wasi_unstable'])
        assert.equal(wasi.getImportObject().wasi_unstable, wasi.wasiImport)
        const imports = via === 'wasiImport' ? { wasi_unstable: wasi.wasiImport } : wasi.getImportObject()
        return wasi.start(await instantiate('wat:hello_unstable', imports))
      })
      assert.deepEqual(run, { value: 0, stdout: 'Hello from wasi_unstable!\n', stderr: '' }, via)
    }
  })

  test("version: 'unstable': a preview1 module (go hello) links through getImportObject()", async () => {
    const run = await withStdio(async (fds) => {
      const wasi = new WASI({ version: 'unstable', args: ['hello'], ...fds })
      return wasi.start(await instantiate('go:hello', wasi.getImportObject()))
    })
    assert.deepEqual(run, { value: 0, stdout: 'Hello, Wasm\n', stderr: '' })
  })

  // node:wasi requires `version`, so every migrated script has one: the
  // wasi_unstable modules this package exists for must still link.
  test("version: 'preview1': wasiImport is the preview1 set; the TinyGo-style unstable and the mixed module run through getImportObject()", async () => {
    const wasi = new WASI({ version: 'preview1' })
    assert.deepEqual(Object.keys(wasi.getImportObject()).sort(), ['wasi_snapshot_preview1', 'wasi_unstable'])
    assert.equal(wasi.getImportObject().wasi_snapshot_preview1, wasi.wasiImport)
    const hello = await withStdio(async (fds) => {
      const wasi = new WASI({ version: 'preview1', ...fds })
      return wasi.start(await instantiate('wat:hello_unstable', wasi.getImportObject()))
    })
    assert.deepEqual(hello, { value: 0, stdout: 'Hello from wasi_unstable!\n', stderr: '' })
    const mixed = await withStdio(async (fds) => {
      const wasi = new WASI({ version: 'preview1', args: ['mixed', 'one', 'two', 'three'], ...fds })
      return wasi.start(await instantiate('wat:mixed_namespaces', wasi.getImportObject()))
    })
    assert.deepEqual(mixed, { value: 7, stdout: 'argc=4\n', stderr: '' })
  })

  test("version: 'preview1': natively too, a wasi_unstable module runs", async () => {
    const run = await withStdio((fds) => new WASI({ version: 'preview1', ...fds }).start(fixtureBytes('wat:hello_unstable')))
    assert.deepEqual(run, { value: 0, stdout: 'Hello from wasi_unstable!\n', stderr: '' })
  })

  test('no version: both names; wasiImport is the preview1 set', () => {
    const wasi = new WASI({})
    const imports = wasi.getImportObject()
    assert.deepEqual(Object.keys(imports).sort(), ['wasi_snapshot_preview1', 'wasi_unstable'])
    assert.equal(imports.wasi_snapshot_preview1, wasi.wasiImport)
    assert.equal(wasi.wasiImport, wasi.wasiImport, 'wasiImport is made once')
    assert.notEqual(imports.wasi_unstable, imports.wasi_snapshot_preview1)
  })

  test('no version: the TinyGo-style wasi_unstable hello through getImportObject()', async () => {
    const run = await withStdio(async (fds) => {
      const wasi = new WASI({ args: ['hello_unstable'], ...fds })
      return wasi.start(await instantiate('wat:hello_unstable', wasi.getImportObject()))
    })
    assert.deepEqual(run, { value: 0, stdout: 'Hello from wasi_unstable!\n', stderr: '' })
  })

  test('no version: one module importing from both names shares one WASI state (args, exit)', async () => {
    const run = await withStdio(async (fds) => {
      const wasi = new WASI({ args: ['mixed', 'one', 'two', 'three'], ...fds })
      return wasi.start(await instantiate('wat:mixed_namespaces', wasi.getImportObject()))
    })
    assert.deepEqual(run, { value: 7, stdout: 'argc=4\n', stderr: '' })
  })
})

// ---------------------------------------------------------------- node:wasi script

// Runs fixtures/node-wasi-script.js in a child with WASI taken from
// `wasiModule`, on a fresh copy of the case's preopens.
function runNodeWasiScript(caseDef, wasiModule, nodeFlags) {
  const root = fs.mkdtempSync(path.join(scratch, 'script-'))
  const preopens = caseDef.preopens ? caseDef.preopens(root) : {}
  const options = JSON.stringify({ args: caseDef.args, env: caseDef.env, preopens })
  const child = spawnSync(process.execPath, [...nodeFlags, NODE_WASI_SCRIPT, fixture(caseDef.fixture), options], {
    env: { ...process.env, WASI_MODULE: wasiModule },
    encoding: 'utf8',
    timeout: CHILD_TIMEOUT_MS,
  })
  assert.equal(child.error, undefined, `child failed to run: ${child.error}`)
  assert.equal(child.signal, null, `child died of ${child.signal}; stderr: ${child.stderr}`)
  const hostFiles = {}
  for (const relative of Object.keys(caseDef.expect.hostFiles ?? {})) {
    const file = path.join(root, relative)
    hostFiles[relative] = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null
  }
  return { status: child.status, stdout: child.stdout, stderr: child.stderr, hostFiles }
}

describe('a script written for node:wasi runs unchanged on @x/wasi', () => {
  const scriptCases = [
    'go hello: fmt.Println',
    'go argsenv: argv and env exactly as given, nothing inherited',
    'go fileio: file operations under preopen /sandbox, escapes denied',
    'go exit: os.Exit(42) returns 42 after flushing output',
  ]
  for (const name of scriptCases) {
    test(name, () => {
      const caseDef = caseNamed(name)
      // node:wasi warns that it is experimental; @x/wasi must not.
      const withNode = runNodeWasiScript(caseDef, 'node:wasi', ['--no-warnings'])
      const withOurs = runNodeWasiScript(caseDef, PACKAGE_ROOT, [])
      const expected = {
        status: caseDef.expect.exitCode,
        stdout: `${caseDef.expect.stdout}exit code: ${caseDef.expect.exitCode}\n`,
        stderr: '',
        hostFiles: caseDef.expect.hostFiles ? caseDef.expect.hostFiles : {},
      }
      assert.deepEqual(withNode, expected, 'node:wasi itself')
      assert.deepEqual(withOurs, withNode, '@x/wasi against node:wasi')
    })
  }
})

// ---------------------------------------------------------------- misuse

describe('misuse throws node:wasi errors', () => {
  test('start() twice: ERR_WASI_ALREADY_STARTED, the module runs once', async () => {
    const run = await withStdio(async (fds) => {
      const wasi = new WASI({ ...fds })
      const instance = await instantiate('wat:hello_unstable', wasi.getImportObject())
      assert.equal(wasi.start(instance), 0)
      assert.throws(() => wasi.start(instance), { code: 'ERR_WASI_ALREADY_STARTED' })
    })
    assert.equal(run.stdout, 'Hello from wasi_unstable!\n')
  })

  test('initialize() twice, and start() after initialize(): ERR_WASI_ALREADY_STARTED, _initialize runs once', async () => {
    const wasi = new WASI({})
    const reactor = await instantiate('wat:reactor', wasi.getImportObject())
    const command = await instantiate('wat:hello_unstable', wasi.getImportObject())
    wasi.initialize(reactor)
    assert.throws(() => wasi.initialize(reactor), { code: 'ERR_WASI_ALREADY_STARTED' })
    assert.throws(() => wasi.start(command), { code: 'ERR_WASI_ALREADY_STARTED' })
    assert.equal(reactor.exports.initialize_calls(), 1)
  })

  test('initialize() after start(): ERR_WASI_ALREADY_STARTED', async () => {
    const { value } = await withStdio(async (fds) => {
      const wasi = new WASI({ ...fds })
      const command = await instantiate('wat:hello_unstable', wasi.getImportObject())
      const reactor = await instantiate('wat:reactor', wasi.getImportObject())
      wasi.start(command)
      assert.throws(() => wasi.initialize(reactor), { code: 'ERR_WASI_ALREADY_STARTED' })
      return reactor.exports.initialize_calls()
    })
    assert.equal(value, 0)
  })

  const notInstances = [
    ['a number', 42, 'instance'],
    ['null', null, 'instance'],
    ['undefined', undefined, 'instance'],
    ['a string', 'instance', 'instance'],
    ['a plain {}', {}, 'instance.exports'],
    ['{ exports: null }', { exports: null }, 'instance.exports'],
    ['exports without memory', { exports: { _start() {} } }, 'instance.exports.memory'],
    ['a memory that is not a WebAssembly.Memory', { exports: { memory: new ArrayBuffer(PAGE), _start() {} } }, 'instance.exports.memory'],
  ]
  for (const [label, value, property] of notInstances) {
    test(`start() and initialize() with ${label}: ERR_INVALID_ARG_TYPE naming "${property}"`, () => {
      const wasi = new WASI({})
      assertArgTypeError(() => wasi.start(value), property)
      assertArgTypeError(() => wasi.initialize(value), property)
    })
  }

  test('an instance that does not export its memory: ERR_INVALID_ARG_TYPE, nothing runs', async () => {
    const wasi = new WASI({})
    const instance = await instantiate('wat:no_memory_export', wasi.getImportObject())
    // _start is `unreachable`: had it run, this would be a RuntimeError.
    assertArgTypeError(() => wasi.start(instance), 'instance.exports.memory')
  })

  test('start(module) of a module without memory runs it: wasi_unstable::proc_exit(2) gives 2', () => {
    const module = new WebAssembly.Module(fixtureBytes('wat:exit_unstable_no_memory'))
    assert.equal(new WASI({ version: 'preview1' }).start(module), 2)
    // node:wasi's check stays where node:wasi has it: start(instance).
    const wasi = new WASI({ version: 'preview1' })
    assertArgTypeError(() => wasi.start(new WebAssembly.Instance(module, wasi.getImportObject())), 'instance.exports.memory')
  })

  test('start(module) without memory: a syscall that needs memory gets EFAULT, not a crash', () => {
    const wasi = new WASI({ args: ['a'] })
    const { wasi_unstable: unstable } = wasi.getImportObject()
    const exit = unstable.proc_exit
    let errno
    // proc_exit is the module's only import: make a syscall from inside it
    // (as node:wasi's tests patch wasiImport.proc_exit).
    unstable.proc_exit = (code) => {
      errno = unstable.args_sizes_get(0, 4)
      return exit(code)
    }
    assert.equal(wasi.start(new WebAssembly.Module(fixtureBytes('wat:exit_unstable_no_memory'))), 2)
    assert.equal(errno, EFAULT)
  })

  test('a rejected instance does not count as a start: a good one starts afterwards', async () => {
    const run = await withStdio(async (fds) => {
      const wasi = new WASI({ ...fds })
      assertArgTypeError(() => wasi.start(null), 'instance')
      assertArgTypeError(() => wasi.start({}), 'instance.exports')
      const noMemory = await instantiate('wat:no_memory_export', {})
      assertArgTypeError(() => wasi.start(noMemory), 'instance.exports.memory')
      return wasi.start(await instantiate('wat:hello_unstable', wasi.getImportObject()))
    })
    assert.deepEqual(run, { value: 0, stdout: 'Hello from wasi_unstable!\n', stderr: '' })
  })

  test('initialize() on a command (exports _start): ERR_INVALID_ARG_TYPE naming _start, nothing runs', async () => {
    const run = await withStdio(async (fds) => {
      const wasi = new WASI({ ...fds })
      const command = await instantiate('wat:hello_unstable', wasi.getImportObject())
      assertArgTypeError(() => wasi.initialize(command), 'instance.exports._start')
    })
    assert.equal(run.stdout, '')
  })

  test('start() on a reactor (no _start): ERR_INVALID_ARG_TYPE naming _start, _initialize not called', async () => {
    const wasi = new WASI({})
    const reactor = await instantiate('wat:reactor', wasi.getImportObject())
    assertArgTypeError(() => wasi.start(reactor), 'instance.exports._start')
    assert.equal(reactor.exports.initialize_calls(), 0)
  })

  test('start() on a module exporting _start and _initialize: names _initialize; initialize() names _start', async () => {
    const instance = await instantiate('wat:command_and_reactor', {})
    // Both exports are `unreachable`: had either run, this would be a RuntimeError.
    assertArgTypeError(() => new WASI({}).start(instance), 'instance.exports._initialize')
    assertArgTypeError(() => new WASI({}).initialize(instance), 'instance.exports._start')
  })

  test('a reactor: initialize() calls _initialize once, then its exports work and make syscalls', async () => {
    const run = await withStdio(async (fds) => {
      const wasi = new WASI({ ...fds })
      const reactor = await instantiate('wat:reactor', wasi.getImportObject())
      assert.equal(wasi.initialize(reactor), undefined)
      assert.equal(reactor.exports.initialize_calls(), 1)
      assert.equal(reactor.exports.add(40, 2), 42)
      assert.equal(reactor.exports.greet(), 0, 'fd_write errno')
      return reactor.exports.initialize_calls()
    })
    assert.deepEqual(run, { value: 1, stdout: 'hello from the reactor\n', stderr: '' })
  })

  test('initialize() on an instance with memory and no _initialize: accepted, nothing to call', () => {
    const wasi = new WASI({})
    assert.equal(wasi.initialize({ exports: { memory: new WebAssembly.Memory({ initial: 1 }) } }), undefined)
  })
})

// ---------------------------------------------------------------- memory growth

describe('memory growth: each syscall sees the current memory.buffer', () => {
  // The table's memory_grow and bigalloc cases check the output; these check
  // that the memory did grow under V8 while the module ran.
  const grows = [
    ['wat:memory_grow', ['memory_grow'], PAGE, 66 * PAGE],
    ['go:bigalloc', ['bigalloc'], 64 << 20, 64 << 20],
  ]
  for (const [name, args, maxBefore, minAfter] of grows) {
    test(`${name}: memory grows past ${minAfter} bytes while it runs, and the output is there`, async () => {
      const caseDef = cases.find((c) => c.fixture === name)
      let sizes
      const run = await withStdio(async (fds) => {
        const wasi = new WASI({ args, ...fds })
        const instance = await instantiate(name, wasi.getImportObject())
        const before = instance.exports.memory.buffer.byteLength
        const code = wasi.start(instance)
        sizes = { before, after: instance.exports.memory.buffer.byteLength }
        return code
      })
      assert.ok(sizes.before <= maxBefore, `memory before start: ${sizes.before} bytes`)
      assert.ok(sizes.after >= minAfter, `memory after start: ${sizes.after} bytes`)
      assert.deepEqual(run, { value: 0, stdout: caseDef.expect.stdout, stderr: '' })
    })
  }
})

// ---------------------------------------------------------------- outside start()

describe('syscalls outside start()', () => {
  test('a syscall called from JS before start(): ERR_WASI_NOT_STARTED, not a crash', () => {
    const wasi = new WASI({ args: ['a'] })
    for (const [name, args] of [['fd_write', [1, 0, 1, 8]], ['args_sizes_get', [0, 4]], ['random_get', [0, 16]]]) {
      assert.throws(
        () => wasi.wasiImport[name](...args),
        (err) => {
          assert.equal(err.code, 'ERR_WASI_NOT_STARTED', `${name}: ${err.message}`)
          assert.match(err.message, /start\(\)/)
          return true
        },
        name,
      )
    }
  })

  test("a guest calling a syscall before start() (its _start called directly): ERR_WASI_NOT_STARTED; start() still works", async () => {
    const run = await withStdio(async (fds) => {
      const wasi = new WASI({ ...fds })
      const instance = await instantiate('wat:hello_unstable', wasi.getImportObject())
      assert.throws(() => instance.exports._start(), { code: 'ERR_WASI_NOT_STARTED' })
      return wasi.start(instance)
    })
    assert.deepEqual(run, { value: 0, stdout: 'Hello from wasi_unstable!\n', stderr: '' })
  })

  test('after initialize(), wasiImport called from JS works on the instance memory, grown or not', async () => {
    const wasi = new WASI({ args: ['prog', 'x y'], env: { K: 'v' } })
    const reactor = await instantiate('wat:reactor', wasi.getImportObject())
    wasi.initialize(reactor)
    const memory = reactor.exports.memory
    const u32 = (at) => new DataView(memory.buffer).getUint32(at, true)
    const cString = (at) => {
      const bytes = new Uint8Array(memory.buffer)
      return Buffer.from(bytes.subarray(at, bytes.indexOf(0, at))).toString()
    }

    assert.equal(wasi.wasiImport.args_sizes_get(100, 104), 0)
    assert.deepEqual([u32(100), u32(104)], [2, 'prog\0x y\0'.length])
    assert.equal(wasi.wasiImport.args_get(200, 300), 0)
    assert.deepEqual([cString(u32(200)), cString(u32(204))], ['prog', 'x y'])
    assert.equal(wasi.wasiImport.environ_sizes_get(100, 104), 0)
    assert.deepEqual([u32(100), u32(104)], [1, 'K=v\0'.length])

    // The guest's memory grows from JS: the next call must use the new buffer.
    assert.equal(memory.grow(1), 1)
    assert.equal(wasi.wasiImport.args_sizes_get(PAGE + 100, PAGE + 104), 0)
    assert.deepEqual([u32(PAGE + 100), u32(PAGE + 104)], [2, 'prog\0x y\0'.length])
  })

  test('pointers outside memory are EFAULT, and nothing is written', async () => {
    const run = await withStdio(async (fds) => {
      const wasi = new WASI({ args: ['a'], ...fds })
      const reactor = await instantiate('wat:reactor', wasi.getImportObject())
      wasi.initialize(reactor)
      const end = reactor.exports.memory.buffer.byteLength
      return [
        wasi.wasiImport.fd_write(1, end - 4, 1, 8), // the iovec runs past the end
        wasi.wasiImport.fd_write(1, 0xfffffff0, 1, 8),
        wasi.wasiImport.args_sizes_get(end - 2, 0),
      ]
    })
    assert.deepEqual(run, { value: [EFAULT, EFAULT, EFAULT], stdout: '', stderr: '' })
  })
})

// ---------------------------------------------------------------- returnOnExit

describe('returnOnExit: false in V8 mode', () => {
  test('proc_exit(3) ends the Node process with code 3, after the output', () => {
    const child = spawnSync(
      process.execPath,
      [
        '-e',
        `const { WASI } = require(${JSON.stringify(PACKAGE_ROOT)})
        const bytes = require('node:fs').readFileSync(${JSON.stringify(fixture('go:exit'))})
        const wasi = new WASI({ args: ['exit', '3'], returnOnExit: false })
        WebAssembly.instantiate(bytes, wasi.getImportObject()).then(({ instance }) => {
          wasi.start(instance)
          process.stdout.write('start() returned\\n')
        })`,
      ],
      { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS },
    )
    assert.equal(child.error, undefined, `child failed to run: ${child.error}`)
    assert.equal(child.signal, null, `child died of ${child.signal}; stderr: ${child.stderr}`)
    assert.equal(child.stdout, 'exiting with 3\n')
    assert.equal(child.stderr, '')
    assert.equal(child.status, 3)
  })
})

// ---------------------------------------------------------------- node:wasi's imports

describe("wasiImport has node:wasi's functions", () => {
  // node:wasi warns once that it is experimental; keep that off the test output.
  function nodeWasi(version) {
    const { WASI: NodeWASI } = require('node:wasi')
    const emitWarning = process.emitWarning
    process.emitWarning = () => {}
    try {
      return new NodeWASI({ version })
    } finally {
      process.emitWarning = emitWarning
    }
  }

  test("version: 'preview1': the same names, each a function of the same arity", () => {
    const theirs = nodeWasi('preview1').wasiImport
    const ours = new WASI({ version: 'preview1' }).wasiImport
    assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort())
    for (const name of Object.keys(theirs)) {
      assert.equal(typeof ours[name], 'function', name)
      assert.equal(ours[name].length, theirs[name].length, `${name}: arity`)
    }
  })

  test("version: 'unstable': node:wasi's names except sock_accept, which wasi_unstable never had", () => {
    // node:wasi gives both versions one list; sock_accept came to
    // wasi_snapshot_preview1 only, long after wasi_unstable was frozen.
    const theirs = Object.keys(nodeWasi('unstable').wasiImport).sort()
    const ours = new WASI({ version: 'unstable' }).wasiImport
    assert.deepEqual(Object.keys(ours).sort(), theirs.filter((name) => name !== 'sock_accept'))
    for (const name of Object.keys(ours)) assert.equal(typeof ours[name], 'function', name)
  })

  test("getImportObject() has node:wasi's namespace for each version, and the other WASI name too", () => {
    for (const version of ['preview1', 'unstable']) {
      const ours = Object.keys(new WASI({ version }).getImportObject()).sort()
      for (const name of Object.keys(nodeWasi(version).getImportObject())) assert.ok(ours.includes(name), `${version}: ${name}`)
      assert.deepEqual(ours, ['wasi_snapshot_preview1', 'wasi_unstable'], version)
    }
  })
})

describe('wasiImport called by hand from JS', () => {
  const EINVAL = 28
  const started = () => {
    const wasi = new WASI({ args: ['prog'] })
    wasi.initialize({ exports: { memory: new WebAssembly.Memory({ initial: 1 }) } })
    return wasi.wasiImport
  }

  test('arguments wasm would never pass are EINVAL, as in node:wasi', () => {
    const { args_sizes_get, clock_time_get, fd_seek } = started()
    assert.equal(args_sizes_get('1', 2), EINVAL)
    assert.equal(args_sizes_get(), EINVAL)
    assert.equal(args_sizes_get({}, null), EINVAL)
    assert.equal(clock_time_get(0, 'x', 16), EINVAL)
    assert.equal(fd_seek(1, undefined, 0, 16), EINVAL)
  })

  test('well-typed calls work, i64 as BigInt or Number', () => {
    const { args_sizes_get, clock_time_get } = started()
    assert.equal(args_sizes_get(0, 8), 0)
    assert.equal(clock_time_get(0, 1n, 16), 0)
    assert.equal(clock_time_get(0, 1, 16), 0)
  })

  test('before start(), a syscall throws ERR_WASI_NOT_STARTED', () => {
    assert.throws(() => new WASI().wasiImport.fd_write(1, 0, 0, 0), { code: 'ERR_WASI_NOT_STARTED', message: /start\(\)/ })
  })
})

describe('after start() returns, the imports keep answering (as node:wasi)', () => {
  test('args, clocks and random answer; a descriptor answers EBADF; no native-run error', () => {
    const EBADF = 8
    const devNull = fs.openSync('/dev/null', 'w')
    try {
      const wasi = new WASI({ version: 'preview1', args: ['prog', 'x'], stdout: devNull })
      const memory = new WebAssembly.Memory({ initial: 1 })
      const view = new DataView(memory.buffer)
      const instance = new WebAssembly.Instance(new WebAssembly.Module(fixtureBytes('wat:high_bit_ptr')), wasi.getImportObject())
      assert.equal(wasi.start(instance), 0)
      const wasm = new DataView(instance.exports.memory.buffer)
      assert.equal(instance.exports.time_to_low_address(), 0)
      assert.ok(wasm.getBigUint64(16, true) > 0n, 'the time was written')
      assert.equal(instance.exports.time_to_high_bit_address(), EFAULT)
      assert.equal(instance.exports.arg_sizes_to_high_bit_addresses(), EFAULT)
      const { args_sizes_get, random_get, fd_write } = wasi.wasiImport
      assert.equal(args_sizes_get(32, 36), 0)
      assert.equal(wasm.getUint32(32, true), 2, 'argc')
      assert.equal(random_get(64, 16), 0)
      assert.equal(fd_write(1, 0, 0, 40), EBADF, "stdout was closed when start() returned")
      assert.equal(view.byteLength, PAGE)
    } finally {
      fs.closeSync(devNull)
    }
  })
})

test('a command run by V8 closes its descriptors when start() returns, not at GC', () => {
  const module = new WebAssembly.Module(fixtureBytes('wat:hello_unstable'))
  const devNull = fs.openSync('/dev/null', 'w')
  try {
    const openFds = () => fs.readdirSync('/proc/self/fd').length
    const before = openFds()
    const keep = [] // hold every WASI object so that GC cannot be what closes them
    for (let i = 0; i < 50; i++) {
      const wasi = new WASI({ stdout: devNull, preopens: { '/tmp': os.tmpdir() } })
      keep.push(wasi)
      assert.equal(wasi.start(new WebAssembly.Instance(module, wasi.getImportObject())), 0)
    }
    assert.ok(openFds() - before < 5, `descriptors grew from ${before} to ${openFds()} over 50 runs`)
  } finally {
    fs.closeSync(devNull)
  }
})
