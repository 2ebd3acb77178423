'use strict'

// Guest memory lent to JS (`wasi.memory.buffer` in a host call, a reactor's
// `exports.memory.buffer`) is never reachable once the lend is over, whatever
// JS did with the buffer: ArrayBuffer.prototype.transfer, structuredClone or
// postMessage with a transfer list (also to a worker that outlives the lend,
// and from a worker that exits), typed arrays kept over it. Such a buffer
// reads zeros afterwards and its writes never reach the guest. Each scenario
// runs in a child process, as the failure this guards against is a SIGSEGV.

const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { describe, test } = require('node:test')

const { fixture } = require('./fixtures')

const ROOT = path.join(__dirname, '..')
const COMMAND = fixture('wat:host_lend')
const REACTOR = fixture('wat:host_lend_reactor')
// Marker the fixtures keep at offset 64 ('g' of "guest marker").
const MARKER = 'g'.charCodeAt(0)

// ArrayBuffer.prototype.transfer is on by default from Node 21.
const FLAGS = typeof ArrayBuffer.prototype.transfer === 'function' ? [] : ['--harmony-rab-gsab-transfer']

/** Runs `body` (the text of a function of ({ WASI, fs, command, reactor, report })) in a child. */
function inChild(body) {
  const script = `
    'use strict'
    const [root, command, reactor] = process.argv.slice(1)
    const { WASI } = require(root)
    const fs = require('node:fs')
    const results = {}
    const report = (key, value) => { results[key] = value }
    const finish = () => process.stdout.write(JSON.stringify(results))
    Promise.resolve((${body})({ WASI, fs, command: fs.readFileSync(command), reactor: fs.readFileSync(reactor), report }))
      .then(finish, (err) => { console.error(err); process.exitCode = 3 })
  `
  const child = spawnSync(process.execPath, [...FLAGS, '-e', script, ROOT, COMMAND, REACTOR], {
    encoding: 'utf8',
    timeout: 60_000,
  })
  assert.equal(child.signal, null, `the child died of ${child.signal}\n${child.stderr}`)
  assert.equal(child.status, 0, `child exited ${child.status}\n${child.stderr}`)
  return JSON.parse(child.stdout)
}

/**
 * `run(WASI, bytes, lend, count)`: host_lend with `lend(step, wasi)`, `count`
 * spins; `post(port, buffer)` posts with a transfer list, or reports
 * `refused` where Node refuses to transfer an external buffer (22 and later).
 */
const COMMAND_IMPORTS = `
  const post = (port, buffer) => {
    try {
      port.postMessage(buffer, [buffer])
    } catch (err) {
      if (err.name !== 'DataCloneError') throw err
      report('refused', true)
    }
  }
  const run = (WASI, bytes, lend, count = 0) => {
    const wasi = new WASI({ returnOnExit: true, imports: { env: { lend: (step) => lend(step, wasi), spin() {}, count: () => count } } })
    return { wasi, exitCode: wasi.start(bytes) }
  }
`

describe('a buffer moved out of a host call', () => {
  for (const [how, move] of [
    ['transfer()', '(b) => b.transfer()'],
    ['transferToFixedLength()', '(b) => b.transferToFixedLength()'],
    ['structuredClone with transfer', '(b) => structuredClone(b, { transfer: [b] })'],
  ]) {
    test(`${how}: reads zeros once the call returned, and its writes never reach the guest`, () => {
      const results = inChild(`({ WASI, command, report }) => {
        ${COMMAND_IMPORTS}
        const move = ${move}
        let kept
        const { exitCode } = run(WASI, command, (step, wasi) => {
          const fresh = () => new Uint8Array(wasi.memory.buffer)
          if (step === 0) {
            try {
              kept = move(wasi.memory.buffer)
            } catch (err) {
              // Node 22+ refuses to transfer external buffers (DataCloneError).
              if (err.name !== 'DataCloneError') throw err
              report('refused', true)
              kept = wasi.memory.buffer
            }
            report('inCall', new Uint8Array(kept)[64])
            report('freshAfterMove', fresh()[64])
          } else if (step === 1 && !results.refused) {
            report('nextCall', new Uint8Array(kept)[64])
            new Uint8Array(kept)[64] = 1
            report('guestAfterWrite', fresh()[64])
          }
        })
        report('exitCode', exitCode)
        if (!results.refused) report('afterRun', [new Uint8Array(kept)[64], new Uint8Array(kept)[65]])
        report('keptLength', kept.byteLength)
      }`)
      // A structured clone may copy the bytes (a snapshot taken during the
      // call) instead of moving the backing store: both are safe.
      const snapshot = how.startsWith('structuredClone') && results.nextCall === MARKER
      if (results.refused) {
        // Not moved: our buffer was detached when the call returned.
        assert.equal(results.keptLength, 0)
        return
      }
      assert.deepEqual(results, {
        inCall: MARKER,
        freshAfterMove: MARKER,
        nextCall: snapshot ? MARKER : 0,
        guestAfterWrite: MARKER,
        exitCode: 0,
        // Its own write, into pages nobody else sees.
        afterRun: [1, snapshot ? 'u'.charCodeAt(0) : 0],
        keptLength: 65536,
      })
    })
  }

  test('posted with a transfer list (same thread): never shows what the guest has since', async () => {
    const results = inChild(`async ({ WASI, command, report }) => {
      ${COMMAND_IMPORTS}
      const { port1, port2 } = new MessageChannel()
      const received = new Promise((resolve) => port2.once('message', resolve))
      run(WASI, command, (step, wasi) => {
        if (step === 0) post(port1, wasi.memory.buffer)
        // The guest's memory changes after the lend of step 0 ended.
        if (step === 1) new Uint8Array(wasi.memory.buffer)[64] = 88
        if (step === 2) report('guest', new Uint8Array(wasi.memory.buffer)[64])
      })
      if (!results.refused) {
        const buffer = await received
        report('received', new Uint8Array(buffer)[64])
        new Uint8Array(buffer).fill(9)
      }
      port1.close()
    }`)
    if (results.refused) return
    // Zeros (the moved alias, swapped out) or a copy taken in the call.
    assert.equal(results.guest, 88)
    assert.ok([0, MARKER].includes(results.received), `received ${results.received}`)
  })

  test('posted to a worker: it reads zeros once the call returned', async () => {
    const results = inChild(`async ({ WASI, command, report }) => {
      ${COMMAND_IMPORTS}
      const { Worker } = require('node:worker_threads')
      const worker = new Worker(\`
        const { parentPort } = require('node:worker_threads')
        parentPort.on('message', (buffer) => {
          const view = new Uint8Array(buffer)
          // Keep writing until the parent's run is over, then report.
          const until = Date.now() + 300
          while (Date.now() < until) view[64] = 7
          parentPort.postMessage(view[64] + ':' + view[65])
        })
      \`, { eval: true })
      const answer = new Promise((resolve) => worker.once('message', resolve))
      const { exitCode } = run(WASI, command, (step, wasi) => {
        if (step === 0) post(worker, wasi.memory.buffer)
        if (step === 1) new Uint8Array(wasi.memory.buffer)[65] = 88
        if (step === 2) report('guestAtEnd', new Uint8Array(wasi.memory.buffer)[65])
      })
      report('exitCode', exitCode)
      if (!results.refused) report('worker', await answer)
      await worker.terminate()
    }`)
    if (results.refused) return
    // The worker's writes never reach the guest; it sees its own write at 64
    // and, at 65, zeros (the moved alias, swapped out) or a copy taken in the
    // call ('u'), never what the guest wrote since (88).
    assert.equal(results.exitCode, 0)
    assert.equal(results.guestAtEnd, 88)
    assert.match(results.worker, /^7:(0|117)$/)
  })

  test('posted by a worker that then exits: the parent still reads it safely', async () => {
    const results = inChild(`async ({ WASI, command, report }) => {
      const { Worker } = require('node:worker_threads')
      const worker = new Worker(\`
        const { parentPort, workerData } = require('node:worker_threads')
        const { WASI } = require(workerData.root)
        const wasi = new WASI({ returnOnExit: true, imports: { env: {
          lend(step) {
            if (step !== 0) return
            const b = wasi.memory.buffer
            try {
              parentPort.postMessage(b, [b])
            } catch (err) {
              // Node 22+ refuses to transfer external buffers.
              if (err.name !== 'DataCloneError') throw err
              parentPort.postMessage('refused')
            }
          },
          spin() {}, count: () => 0,
        } } })
        wasi.start(workerData.command)
      \`, { eval: true, workerData: { root: process.argv[1], command } })
      const exited = new Promise((resolve) => worker.once('exit', resolve))
      const buffer = await new Promise((resolve) => worker.once('message', resolve))
      await exited
      if (buffer === 'refused') return report('afterWorkerExit', 5)
      if (global.gc) global.gc()
      await new Promise((resolve) => setTimeout(resolve, 50))
      const view = new Uint8Array(buffer)
      view[64] = 5
      report('afterWorkerExit', view[64] + view[100])
    }`)
    assert.deepEqual(results, { afterWorkerExit: 5 })
  })
})

describe('other ways to keep or reshape a lent buffer', () => {
  test('resize() is refused, typed arrays kept over it are detached with it, slice() copies', () => {
    const results = inChild(`({ WASI, command, report }) => {
      ${COMMAND_IMPORTS}
      let view
      let copy
      run(WASI, command, (step, wasi) => {
        if (step !== 0) return
        const buffer = wasi.memory.buffer
        try {
          buffer.resize(0)
          report('resize', 'resized')
        } catch (err) {
          report('resize', err.name)
        }
        view = new Uint8Array(buffer, 64, 12)
        copy = buffer.slice(64, 76)
      })
      report('view', view.length)
      report('copy', Buffer.from(copy).toString())
    }`)
    assert.deepEqual(results, { resize: 'TypeError', view: 0, copy: 'guest marker' })
  })
})

describe('lending during run() and many host calls', () => {
  test('run(): a moved-out buffer written from the main thread while the guest runs never reaches it', async () => {
    const results = inChild(`async ({ WASI, command, report }) => {
      let kept
      let writes = 0
      const timer = setInterval(() => { if (kept) { new Uint8Array(kept)[64] = 1; writes++ } }, 1)
      const wasi = new WASI({ imports: { env: {
        lend(step) {
          if (step === 0) kept = wasi.memory.buffer.transfer()
        },
        // Many host calls: the timer fires between them, while the guest runs.
        spin(i) {
          if (i === 19999) report('guestAtEnd', new Uint8Array(wasi.memory.buffer)[64])
        },
        count: () => 20000,
      } } })
      const { exitCode } = await wasi.run(command)
      clearInterval(timer)
      report('exitCode', exitCode)
      report('kept', new Uint8Array(kept)[64] === (writes > 0 ? 1 : 0))
    }`)
    assert.deepEqual(results, { guestAtEnd: MARKER, exitCode: 0, kept: true })
  })

  test('100,000 host calls that each take the buffer map no more than a few regions', () => {
    const results = inChild(`({ WASI, fs, command, report }) => {
      ${COMMAND_IMPORTS}
      const maps = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\\n').length
      const before = maps()
      let most = 0
      let sum = 0
      const wasi = new WASI({ returnOnExit: true, imports: { env: {
        lend() {},
        spin(i) {
          sum += new Uint8Array(wasi.memory.buffer)[64]
          if (i % 10000 === 0) most = Math.max(most, maps() - before)
        },
        count: () => 100000,
      } } })
      report('exitCode', wasi.start(command))
      report('sum', sum)
      report('fewMaps', most < 100)
    }`)
    assert.deepEqual(results, { exitCode: 0, sum: MARKER * 100000, fewMaps: true })
  })
})

describe("a reactor's exports.memory.buffer", () => {
  test('after transfer(), memory.buffer is a fresh attached buffer; the moved one reads zeros', () => {
    const results = inChild(`({ WASI, reactor, report }) => {
      const wasi = new WASI({ imports: { env: { lend() {} } } })
      const { exports } = wasi.initialize(reactor)
      const kept = exports.memory.buffer.transfer()
      report('keptInPlace', new Uint8Array(kept)[64])
      const fresh = exports.memory.buffer
      report('fresh', [fresh.byteLength, new Uint8Array(fresh)[64]])
      report('same', fresh === exports.memory.buffer)
      report('keptAfter', new Uint8Array(kept)[64])
      exports.poke(64, 42)
      report('wasiMemory', new Uint8Array(wasi.memory.buffer)[64])
      report('keptAfterPoke', new Uint8Array(kept)[64])
    }`)
    assert.deepEqual(results, {
      keptInPlace: MARKER,
      fresh: [65536, MARKER],
      same: true,
      keptAfter: 0,
      wasiMemory: 42,
      keptAfterPoke: 0,
    })
  })

  test('the old buffer is detached when the guest or JS grows the memory, as in V8', () => {
    const results = inChild(`({ WASI, reactor, report }) => {
      const wasi = new WASI({ imports: { env: { lend() {} } } })
      const { exports } = wasi.initialize(reactor)
      const first = exports.memory.buffer
      const view = new Uint8Array(first)
      report('grewFrom', exports.grow(1))
      report('firstAfterGuestGrow', [first.byteLength, view.length])
      const second = exports.memory.buffer
      report('second', [second.byteLength, new Uint8Array(second)[64]])
      exports.memory.grow(1)
      report('secondAfterJsGrow', second.byteLength)
      report('third', exports.memory.buffer.byteLength)
    }`)
    assert.deepEqual(results, {
      grewFrom: 1,
      firstAfterGuestGrow: [0, 0],
      second: [131072, MARKER],
      secondAfterJsGrow: 0,
      third: 196608,
    })
  })

  test('a host call of an export lends wasi.memory the same way', () => {
    const results = inChild(`({ WASI, reactor, report }) => {
      let kept
      const wasi = new WASI({ imports: { env: { lend() { kept = wasi.memory.buffer.transfer() } } } })
      const { exports } = wasi.initialize(reactor)
      exports.lend_now(0)
      new Uint8Array(kept)[64] = 3
      report('kept', new Uint8Array(kept)[64])
      report('guest', new Uint8Array(exports.memory.buffer)[64])
    }`)
    assert.deepEqual(results, { kept: 3, guest: MARKER })
  })
})
