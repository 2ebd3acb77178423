#!/usr/bin/env node
'use strict'

// Soak test: many runs of the Go hello module, watching the process for
// growth of resident memory (RSS) and of open file descriptors.
//
// sequential  --runs (10,000) `new WASI().start(bytes)` in this process,
//             stdout to /dev/null; the bytes compile once (the in-process
//             module cache serves every later start). Sampled every
//             --sample runs, after a full garbage collection.
// v8          --v8-runs (2,000) runs in V8 mode (one WebAssembly.Module,
//             a new instance and WASI object per run), twice: as V8 leaves
//             it (printed for information: garbage that V8 has no reason to
//             collect yet piles up), then with a full garbage collection
//             before each sample (the verdict: what is really kept).
// concurrent  --batches (300) batches of --concurrency (64) `run()`s at
//             once in this process (each on its own thread, stdin from a
//             string, stdout piped back and checked, a 60 s timeout that
//             never fires), sampled after each batch, after a full garbage
//             collection; threads are counted too.
// processes   (only with --children N) N child processes at once, each
//             doing --child-runs (100) sequential starts and sampling every
//             10 (after a full garbage collection).
//
// Why collect before sampling: a WASI object's native state (a few hundred
// bytes after a run) is freed by its finalizer, and V8, which does not see
// that memory, has little reason to collect while its own heap stays small.
// Without the collection RSS creeps up until V8 does one (measured: +20 MiB
// over 40,000 native starts of Go hello, flat with a collection every
// 1,000); that is deferred, not leaked. --no-gc samples without collecting.
//
// Verdict, per series: RSS over the second half of the runs must grow by at
// most 5% (a leak grows with every run, so half of it shows there; the
// allocator's warm-up — with 64 threads at once, glibc's per-thread arenas
// fragment and grow in steps for the first few thousand runs, then stay
// flat — happens mostly in the first half), open descriptors at the end
// must not exceed those after a warm-up of 10% of the runs (+2 for
// descriptors that await garbage collection), and threads must be back to
// that count. Before, after the warm-up, at half-way, last and maximum are
// printed.
//
// distinct    (only with --distinct N) N distinct modules (Go hello with a
//             custom section added), each compiled (a temporary disk cache)
//             and started, for --distinct-rounds rounds: more modules than
//             the in-process cache keeps (32), as a test suite with many
//             programs would. Sampled after each round; the verdict compares
//             the last round with the first.
//
//   node scripts/soak.js [--runs 10000] [--sample 250] [--v8-runs 2000]
//                        [--batches 300] [--concurrency 64]
//                        [--children 64] [--child-runs 100] [--engine cranelift]
//                        [--distinct 40 [--distinct-rounds 3]] [--no-gc] [--json results.json]
// Exit status: 0 when every verdict holds, 1 otherwise.

const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')

const ROOT = path.resolve(__dirname, '..')
const MiB = 1024 * 1024

function parseArgs(argv) {
  const options = { runs: 10_000, sample: 250, v8Runs: 2_000, batches: 300, concurrency: 64, children: 0, childRuns: 100, engine: 'cranelift', json: null, distinct: 0, distinctRounds: 3, gc: true }
  const names = {
    '--batches': 'batches',
    '--concurrency': 'concurrency',
    '--runs': 'runs',
    '--sample': 'sample',
    '--v8-runs': 'v8Runs',
    '--children': 'children',
    '--child-runs': 'childRuns',
    '--engine': 'engine',
    '--json': 'json',
    '--child': 'child',
    '--module': 'module',
    '--distinct': 'distinct',
    '--distinct-rounds': 'distinctRounds',
  }
  for (let i = 0; i < argv.length; i++) {
    let [flag, value] = argv[i].split(/=(.*)/s)
    if (flag === '--help' || flag === '-h') {
      process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(3, 26).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n')
      process.exit(0)
    }
    if (flag === '--no-gc') {
      options.gc = false
      continue
    }
    if (!names[flag]) throw new Error(`unknown option ${flag}`)
    if (value === undefined) value = argv[++i]
    const key = names[flag]
    options[key] = ['engine', 'json', 'module'].includes(key) ? value : Number(value)
  }
  return options
}

const openFds = () => fs.readdirSync('/proc/self/fd').length
const threads = () => fs.readdirSync('/proc/self/task').length

function sample(run) {
  const usage = process.memoryUsage()
  return { run, rssMiB: usage.rss / MiB, heapUsedMiB: usage.heapUsed / MiB, externalMiB: usage.external / MiB, fds: openFds(), threads: threads() }
}

/** Runs `once(i)` `runs` times, sampling every `every` runs; returns the samples and the time. */
async function series(runs, every, once, beforeSample) {
  const samples = [sample(0)]
  const started = process.hrtime.bigint()
  for (let i = 1; i <= runs; i++) {
    const code = await once(i)
    if (code !== 0) throw new Error(`run ${i} exited with ${code}`)
    if (i % every === 0 || i === runs) {
      if (beforeSample) await beforeSample()
      samples.push(sample(i))
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  return { runs, seconds, samples }
}

/** The verdict on one series of samples (see the top of this file). */
function verdict({ runs, samples }) {
  const warmupEnd = Math.ceil(runs / 10)
  const first = samples.find((s) => s.run >= warmupEnd) ?? samples[0]
  const last = samples[samples.length - 1]
  const max = (key) => Math.max(...samples.filter((s) => s.run >= first.run).map((s) => s[key]))
  const half = samples.find((s) => s.run >= runs / 2) ?? first
  const rssOk = last.rssMiB <= half.rssMiB * 1.05
  const fdsOk = last.fds <= first.fds + 2
  const threadsOk = last.threads <= first.threads
  return {
    warmupRuns: first.run,
    rssMiB: { first: first.rssMiB, half: half.rssMiB, last: last.rssMiB, max: max('rssMiB'), before: samples[0].rssMiB },
    fds: { first: first.fds, last: last.fds, max: max('fds'), before: samples[0].fds },
    threads: { first: first.threads, last: last.threads, max: max('threads'), before: samples[0].threads },
    heapUsedMiB: { first: first.heapUsedMiB, last: last.heapUsedMiB },
    ok: rssOk && fdsOk && threadsOk,
  }
}

const fmt = (n) => n.toFixed(1)
function describe(label, result) {
  const v = verdict(result)
  const perRun = (result.seconds * 1000) / result.runs
  return [
    `${label}: ${result.runs} runs in ${fmt(result.seconds)} s (${perRun.toFixed(2)} ms/run); warm-up ${v.warmupRuns} runs`,
    `  RSS MiB:  before ${fmt(v.rssMiB.before)}, after warm-up ${fmt(v.rssMiB.first)}, half-way ${fmt(v.rssMiB.half)}, last ${fmt(v.rssMiB.last)}, max ${fmt(v.rssMiB.max)}`,
    `  open fds: before ${v.fds.before}, after warm-up ${v.fds.first}, last ${v.fds.last}, max ${v.fds.max}`,
    `  threads: before ${v.threads.before}, after warm-up ${v.threads.first}, last ${v.threads.last}, max ${v.threads.max}`,
    `  heap used MiB: after warm-up ${fmt(v.heapUsedMiB.first)}, last ${fmt(v.heapUsedMiB.last)}`,
    `  verdict: ${v.ok ? 'no growth beyond noise' : 'GROWTH'} (RSS last <= half-way + 5%, fds last <= after warm-up + 2, threads last <= after warm-up)`,
  ].join('\n')
}

// ---------------------------------------------------------------- runs

// A full garbage collection, finalizers included (the addon's objects free
// their native state in finalizers).
async function collectGarbage() {
  require('node:v8').setFlagsFromString('--expose-gc')
  const gc = require('node:vm').runInNewContext('gc')
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise(setImmediate)
  }
}

function helloBytes(modulePath) {
  return fs.readFileSync(modulePath ?? require(path.join(ROOT, '__test__', 'fixtures.js')).fixture('go:hello'))
}

function nativeRunner(bytes, engine, devNull) {
  const { WASI } = require(ROOT)
  return () => new WASI({ args: ['hello'], stdout: devNull, engine }).start(bytes)
}

// ---------------------------------------------------------------- child

async function childMain(options) {
  const devNull = fs.openSync('/dev/null', 'w')
  const once = nativeRunner(helloBytes(options.module), options.engine, devNull)
  const result = await series(options.runs, options.sample, once, options.gc ? collectGarbage : undefined)
  process.stdout.write(JSON.stringify(result) + '\n')
}

function runChild(options, modulePath) {
  return new Promise((resolve) => {
    const args = [__filename, '--child', '1', '--runs', String(options.childRuns), '--sample', '10', '--engine', options.engine, '--module', modulePath, ...(options.gc ? [] : ['--no-gc'])]
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('close', (code, signal) => {
      let result = null
      try {
        result = JSON.parse(stdout)
      } catch {}
      resolve({ code, signal, stderr: stderr.slice(-2000), result })
    })
  })
}

// ---------------------------------------------------------------- main

async function main() {
  const options = parseArgs(process.argv.slice(2))
  if (options.child) return childMain(options)
  const { WASI, compile } = require(ROOT)
  const modulePath = require(path.join(ROOT, '__test__', 'fixtures.js')).fixture('go:hello')
  const bytes = helloBytes(modulePath)
  const devNull = fs.openSync('/dev/null', 'w')
  const report = { options, series: {} }
  const lines = []
  const print = (text) => {
    lines.push(text)
    console.log(text)
  }
  // Warms the disk cache too, so that the children load the module from it.
  const compiled = compile(bytes, { engine: options.engine })
  print(`soak: Go hello (${(bytes.length / MiB).toFixed(1)} MiB), ${options.engine}; module ${compiled.origin === 'disk' ? 'from the disk cache' : 'compiled'}`)

  if (options.runs > 0) {
    const result = await series(options.runs, options.sample, nativeRunner(bytes, options.engine, devNull), options.gc ? collectGarbage : undefined)
    report.series.sequential = { ...result, verdict: verdict(result) }
    print(describe(`sequential start(bytes), in-process module cache${options.gc ? ', a full GC before each sample' : ', no forced GC'}`, result))
  }

  if (options.v8Runs > 0) {
    const module = new WebAssembly.Module(bytes)
    const once = () => {
      const wasi = new WASI({ args: ['hello'], stdout: devNull })
      return wasi.start(new WebAssembly.Instance(module, wasi.getImportObject()))
    }
    // V8 collects garbage when its own heap asks for it; a WASI object's
    // native state (its syscall functions, its context) is small on the JS
    // heap, so without a collection it piles up. Two series: one as V8
    // leaves it (shown), one with a full collection before each sample,
    // which measures what is really kept (the verdict).
    const every = Math.max(1, Math.round(options.sample / 5))
    const asIs = await series(options.v8Runs, every, once)
    print(describe('V8 mode, one WebAssembly.Module, an instance per run; no forced GC (for information)', asIs).replace(/\n  verdict: .*$/, ''))
    await collectGarbage()
    const collected = await series(options.v8Runs, every, once, collectGarbage)
    report.series.v8NoForcedGc = { ...asIs, verdict: { ...verdict(asIs), informational: true } }
    report.series.v8 = { ...collected, verdict: verdict(collected) }
    print(describe(`V8 mode, the same, with a full GC before each sample (every ${every} runs)`, collected))
  }

  if (options.batches > 0 && options.concurrency > 0) {
    // Each batch counts as `concurrency` runs, so the warm-up and sampling
    // rules of `series` apply per run.
    const runBatch = async () => {
      const results = await Promise.all(
        Array.from({ length: options.concurrency }, () =>
          new WASI({ args: ['hello'], engine: options.engine }).run(compiled, { stdin: 'unused input', stdout: 'pipe', timeout: 60_000 }),
        ),
      )
      for (const { exitCode, stdout } of results) {
        if (exitCode !== 0 || stdout.toString() !== 'Hello, Wasm\n') throw new Error(`a run() gave exit ${exitCode}, stdout ${JSON.stringify(String(stdout))}`)
      }
      return 0
    }
    const result = await series(options.batches, 1, runBatch, options.gc ? collectGarbage : undefined)
    const perRun = { ...result, runs: result.runs * options.concurrency, samples: result.samples.map((s) => ({ ...s, run: s.run * options.concurrency })) }
    report.series.concurrent = { ...perRun, concurrency: options.concurrency, verdict: verdict(perRun) }
    print(describe(`concurrent: ${options.batches} batches of ${options.concurrency} run()s at once (threads, piped stdout)`, perRun))
  }

  if (options.children > 0) {
    const parentFdsBefore = openFds()
    const started = Date.now()
    const children = await Promise.all(Array.from({ length: options.children }, () => runChild(options, modulePath)))
    const seconds = (Date.now() - started) / 1000
    const failed = children.filter((c) => c.code !== 0 || c.signal || !c.result)
    const verdicts = children.filter((c) => c.result).map((c) => verdict(c.result))
    const range = (pick) => {
      const values = verdicts.map(pick)
      return `${fmt(Math.min(...values))}..${fmt(Math.max(...values))}`
    }
    const grew = verdicts.filter((v) => !v.ok).length
    report.series.processes = { children: options.children, childRuns: options.childRuns, seconds, failed: failed.length, grew, verdicts }
    print(
      [
        `processes: ${options.children} child processes x ${options.childRuns} starts = ${options.children * options.childRuns} runs in ${fmt(seconds)} s; ${failed.length} failed`,
        `  RSS MiB per child: after warm-up ${range((v) => v.rssMiB.first)}, last ${range((v) => v.rssMiB.last)}, max ${range((v) => v.rssMiB.max)}`,
        `  open fds per child: after warm-up ${range((v) => v.fds.first)}, last ${range((v) => v.fds.last)}, max ${range((v) => v.fds.max)}`,
        `  parent's open fds: ${parentFdsBefore} before, ${openFds()} after`,
        `  verdict: ${failed.length === 0 && grew === 0 ? 'no growth beyond noise in any child' : `${grew} children GREW, ${failed.length} failed`}`,
        ...failed.slice(0, 3).map((c) => `  failed child: exit ${c.code} signal ${c.signal}: ${c.stderr}`),
      ].join('\n'),
    )
  }

  if (options.distinct > 0) {
    const os = require('node:os')
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xwasi-soak-cache-'))
    try {
      const variants = Array.from({ length: options.distinct }, (_, i) => {
        const tag = Buffer.from(`soak-${i}`)
        return Buffer.concat([bytes, Buffer.from([0, tag.length + 2, 1, 0x78]), tag])
      })
      const samples = [sample(0)]
      const started = process.hrtime.bigint()
      for (let round = 1; round <= options.distinctRounds; round++) {
        for (const variant of variants) {
          const code = new WASI({ args: ['hello'], stdout: devNull, engine: options.engine }).start(compile(variant, { engine: options.engine, cacheDir }))
          if (code !== 0) throw new Error(`distinct module exited with ${code}`)
        }
        samples.push({ ...sample(round * options.distinct), round })
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      const first = samples[1]
      const last = samples[samples.length - 1]
      const ok = last.rssMiB <= first.rssMiB * 1.1 && last.fds <= first.fds + 2
      report.series.distinct = { runs: options.distinct * options.distinctRounds, seconds, samples, verdict: { ok } }
      print(
        [
          `distinct: ${options.distinct} distinct Go modules x ${options.distinctRounds} rounds in ${fmt(seconds)} s (${options.engine}, a temporary disk cache)`,
          `  RSS MiB after each round: ${samples.slice(1).map((s) => fmt(s.rssMiB)).join(', ')} (before: ${fmt(samples[0].rssMiB)})`,
          `  open fds after each round: ${samples.slice(1).map((s) => s.fds).join(', ')}`,
          `  verdict: ${ok ? 'no growth beyond noise' : 'GROWTH'} (RSS after the last round <= after the first + 10%)`,
        ].join('\n'),
      )
    } finally {
      fs.rmSync(cacheDir, { recursive: true, force: true })
    }
  }

  const ok = Object.values(report.series)
    .filter((s) => !s.verdict?.informational)
    .every((s) => (s.verdict ? s.verdict.ok : s.failed === 0 && s.grew === 0))
  print(`soak: ${ok ? 'PASS' : 'FAIL'}`)
  if (options.json) fs.writeFileSync(options.json, JSON.stringify(report, null, 2))
  process.exitCode = ok ? 0 : 1
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 2
})
