'use strict'

// worker.terminate() stops a worker whose guest runs natively in a
// synchronous start(): computing, sleeping, waiting in poll_oneoff, reading
// stdin, or calling host functions. Within 1 s; the guest's thread ends and
// its descriptors close; the process and another worker keep working.
// Each case runs in a child process: on failure it would hang for ever.

const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { describe, test } = require('node:test')

const { fixture } = require('./fixtures')

const ROOT = path.join(__dirname, '..')

/**
 * The child: starts a worker running `fixtureName` with start() (stdin a
 * FIFO nobody writes to), terminates it once the guest runs, and reports
 * how long terminate() took, the guest threads and descriptors left, and
 * whether a second worker and the main thread still run modules.
 */
const CHILD = `
  'use strict'
  const fs = require('node:fs')
  const path = require('node:path')
  const { execFileSync } = require('node:child_process')
  const { Worker } = require('node:worker_threads')
  const [root, guest, hello, hostCalls, dir] = process.argv.slice(1)
  const { WASI } = require(root)

  const guestThreads = () => fs.readdirSync('/proc/self/task')
    .filter((t) => { try { return fs.readFileSync('/proc/self/task/' + t + '/comm', 'utf8').startsWith('x-wasi') } catch { return false } }).length
  const fds = () => fs.readdirSync('/proc/self/fd').length

  const fifo = path.join(dir, 'fifo')
  execFileSync('mkfifo', [fifo])
  const stdin = fs.openSync(fifo, 'r+')
  const preopen = fs.mkdtempSync(path.join(dir, 'preopen-'))
  const devnull = fs.openSync('/dev/null', 'w')

  const WORKER = \`
    const { parentPort, workerData } = require('node:worker_threads')
    const { WASI } = require(workerData.root)
    const bytes = require('node:fs').readFileSync(workerData.guest)
    let told = false
    const tell = () => { if (!told) { told = true; parentPort.postMessage('running') } }
    const wasi = new WASI({
      returnOnExit: true,
      stdin: workerData.stdin,
      stdout: workerData.devnull,
      preopens: { '/sandbox': workerData.preopen },
      imports: { env: { lend: tell, spin: tell, count: () => 2 ** 31 - 1 } },
    })
    // Posted at once, even though this thread then blocks in start().
    if (!workerData.hostCalls) tell()
    parentPort.postMessage('exit ' + wasi.start(bytes))
  \`

  async function main() {
    const fdsBefore = fds()
    const worker = new Worker(WORKER, { eval: true, workerData: { root, guest, stdin, devnull, preopen, hostCalls: hostCalls === 'yes' } })
    const first = await new Promise((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    if (first !== 'running') throw new Error('the worker said ' + first)
    // Let the guest get going (into its loop, sleep, poll or read).
    await new Promise((resolve) => setTimeout(resolve, 300))
    const threadsWhileRunning = guestThreads()
    const exited = new Promise((resolve) => worker.once('exit', resolve))
    const started = Date.now()
    await worker.terminate()
    await exited
    const terminateMs = Date.now() - started
    await new Promise((resolve) => setTimeout(resolve, 100))

    // Another worker and the main thread still run modules.
    const other = new Worker(\`
      const { parentPort, workerData } = require('node:worker_threads')
      const { WASI } = require(workerData.root)
      const wasi = new WASI({ returnOnExit: true, stdout: require('node:fs').openSync('/dev/null', 'w') })
      parentPort.postMessage(wasi.start(require('node:fs').readFileSync(workerData.hello)))
    \`, { eval: true, workerData: { root, hello } })
    const otherExited = new Promise((resolve) => other.once('exit', resolve))
    const otherExit = await new Promise((resolve, reject) => { other.once('message', resolve); other.once('error', reject) })
    await otherExited
    const mainExit = new WASI({ returnOnExit: true, stdout: devnull }).start(fs.readFileSync(hello))
    const fdsLeft = fds() - fdsBefore

    fs.closeSync(stdin)
    fs.closeSync(devnull)
    process.stdout.write(JSON.stringify({
      threadsWhileRunning,
      terminateMs,
      threadsAfter: guestThreads(),
      fdsLeft,
      otherExit,
      mainExit,
    }))
  }
  main().catch((err) => { console.error(err); process.exitCode = 3 })
`

function terminateCase(fixtureName, { hostCalls = false } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xwasi-terminate-'))
  let child
  try {
    child = spawnSync(
      process.execPath,
      ['-e', CHILD, ROOT, fixture(fixtureName), fixture('go:hello'), hostCalls ? 'yes' : 'no', dir],
      { encoding: 'utf8', timeout: 30_000 },
    )
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
  assert.equal(child.signal, null, `the child did not finish (${child.signal}): terminate() hung?\n${child.stderr}`)
  assert.equal(child.status, 0, `child exited ${child.status}\n${child.stderr}`)
  return JSON.parse(child.stdout)
}

describe('worker.terminate() of a worker in a native start()', () => {
  for (const [what, fixtureName, options] of [
    ['computing (a wasm loop)', 'wat:infinite_loop'],
    ['sleeping (Go time.Sleep)', 'go:sleepforever'],
    ['waiting in poll_oneoff on stdin', 'wat:poll_stdin'],
    ['reading stdin', 'go:stdin'],
    ['calling host functions', 'wat:host_lend', { hostCalls: true }],
  ]) {
    test(`${what}: stops within 1 s, frees its thread and files, others keep working`, () => {
      const result = terminateCase(fixtureName, options)
      assert.equal(result.threadsWhileRunning, 1, 'the guest runs on a thread of its own')
      assert.ok(result.terminateMs < 1000, `terminate() took ${result.terminateMs} ms`)
      assert.equal(result.threadsAfter, 0, 'no guest thread is left')
      assert.equal(result.fdsLeft, 0, 'every descriptor of the worker and its guest is closed')
      assert.equal(result.otherExit, 0, 'another worker still runs a module')
      assert.equal(result.mainExit, 0, 'the main thread still runs a module')
    })
  }
})

describe('worker.terminate() of a worker in a V8-mode start()', () => {
  test('a looping guest stops within 1 s (V8 stops it)', async () => {
    const { Worker } = require('node:worker_threads')
    const worker = new Worker(
      `
      const { parentPort, workerData } = require('node:worker_threads')
      const { WASI } = require(workerData.root)
      const wasi = new WASI({ returnOnExit: true })
      const module = new WebAssembly.Module(require('node:fs').readFileSync(workerData.loop))
      const instance = new WebAssembly.Instance(module, wasi.getImportObject())
      parentPort.postMessage('running')
      wasi.start(instance)
      `,
      { eval: true, workerData: { root: ROOT, loop: fixture('wat:infinite_loop') } },
    )
    await new Promise((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    await new Promise((resolve) => setTimeout(resolve, 200))
    const started = Date.now()
    await worker.terminate()
    assert.ok(Date.now() - started < 1000, `terminate() took ${Date.now() - started} ms`)
  })
})

describe('start() in a worker (the guest on its own thread) behaves as on the main thread', () => {
  test('host functions: this, arguments, memory, the very error thrown; traps and deep recursion; output', async (t) => {
    const { Worker } = require('node:worker_threads')
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xwasi-worker-'))
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
    const worker = new Worker(
      `
      const { parentPort, workerData } = require('node:worker_threads')
      const fs = require('node:fs')
      const { WASI } = require(workerData.root)
      const out = {}
      const thrown = new Error('from the host')
      let wasi
      wasi = new WASI({ returnOnExit: true, imports: { env: {
        lend(step) {
          'use strict'
          if (step === 0) {
            out.receiver = this === undefined
            out.marker = Buffer.from(wasi.memory.buffer, 64, 12).toString()
          }
          if (step === 1) throw thrown
        },
        spin() {}, count: () => 0,
      } } })
      try {
        wasi.start(fs.readFileSync(workerData.lend))
      } catch (err) {
        out.sameError = err === thrown
      }
      try {
        new WASI({ returnOnExit: true }).start(fs.readFileSync(workerData.overflow))
      } catch (err) {
        out.overflow = err instanceof WebAssembly.RuntimeError && /call stack exhausted/.test(err.message)
      }
      const file = require('node:path').join(workerData.dir, 'out')
      const fd = fs.openSync(file, 'w')
      out.helloExit = new WASI({ returnOnExit: true, stdout: fd }).start(fs.readFileSync(workerData.hello))
      fs.closeSync(fd)
      out.hello = fs.readFileSync(file, 'utf8')
      parentPort.postMessage(out)
      `,
      {
        eval: true,
        workerData: {
          root: ROOT,
          lend: fixture('wat:host_lend'),
          overflow: fixture('wat:trap_stack_overflow'),
          hello: fixture('go:hello'),
          dir,
        },
      },
    )
    const exited = new Promise((resolve) => worker.once('exit', resolve))
    const out = await new Promise((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    await exited
    assert.deepEqual(
      { ...out, hello: out.hello.length > 0 },
      { receiver: true, marker: 'guest marker', sameError: true, overflow: true, helloExit: 0, hello: true },
    )
  })
})
