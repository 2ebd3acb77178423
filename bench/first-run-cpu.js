#!/usr/bin/env node
'use strict'
// CPU time (user + sys) of whole first runs, side by side with node:wasi in
// the same run: steadier than wall time on a shared machine. Each run is a
// fresh process (bench/child.js) under `bash -c '…; times'`, which reports
// the CPU its children used; a background compile (detached) is not counted,
// and an empty cache starts none. Workloads: bench/build/<name>.wasm, built
// by bench/run.js (or scripts/go-wasm.js).
//
//   node bench/first-run-cpu.js [--runs 3] [--workloads hello,cpu,big]

const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { parseArgs } = require('node:util')
const { median } = require('./report')

const CHILD = path.join(__dirname, 'child.js')
const BUILD_DIR = path.join(__dirname, 'build')

// Node 20's node:wasi segfaults now and then at the end of `cpu`
// (bench/README.md): see runOnce.
const RUNTIMES = [
  { name: 'node:wasi', mode: 'node-wasi' },
  { name: '@x/wasi V8 mode', mode: 'v8' },
  { name: '@x/wasi default, first run', mode: 'native:auto:fresh-cache' },
  { name: '@x/wasi singlepass, first run', mode: 'native:singlepass:fresh-cache' },
]

let crashes = 0

/**
 * CPU seconds and wall seconds of one run. A node:wasi run that segfaults
 * (at exit) is replaced by one with returnOnExit: false, as bench/run.js
 * falls back to, and counted.
 */
function runOnce(mode, wasm) {
  const spec = JSON.stringify({ wasm, args: [path.basename(wasm)], preopens: {} })
  const started = process.hrtime.bigint()
  const child = spawnSync('bash', ['-c', '"$@" >/dev/null || exit 70; times', 'bash', process.execPath, '--no-warnings', CHILD, mode, spec], {
    encoding: 'utf8',
  })
  const wall = Number(process.hrtime.bigint() - started) / 1e9
  if (child.status !== 0 && mode === 'node-wasi' && /Segmentation fault/.test(child.stderr)) {
    crashes++
    return runOnce('node-wasi-exit', wasm)
  }
  if (child.status !== 0) throw new Error(`${mode} failed: ${child.stderr}`)
  // `times`: the shell's user and sys, then its children's.
  const [, children] = child.stdout.trim().split('\n')
  const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map(([, m, s]) => Number(m) * 60 + Number(s))
  return { cpu: seconds[0] + seconds[1], wall }
}

function main() {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, workloads: { type: 'string', default: 'hello,cpu,big' } } })
  const runs = Number(values.runs)
  console.log(`load average ${require('node:os').loadavg().map((l) => l.toFixed(1)).join(' ')}, ${runs} runs, median`)
  console.log('| workload | runtime | CPU s | × node:wasi | wall s | × node:wasi |')
  console.log('| --- | --- | --- | --- | --- | --- |')
  for (const workload of values.workloads.split(',')) {
    const wasm = path.join(BUILD_DIR, `${workload}.wasm`)
    const samples = Object.fromEntries(RUNTIMES.map((r) => [r.name, { cpu: [], wall: [] }]))
    for (let i = 0; i < runs; i++) {
      // Turns rotate so that the machine's noise spreads over all.
      for (let k = 0; k < RUNTIMES.length; k++) {
        const runtime = RUNTIMES[(i + k) % RUNTIMES.length]
        const { cpu, wall } = runOnce(runtime.mode, wasm)
        samples[runtime.name].cpu.push(cpu)
        samples[runtime.name].wall.push(wall)
      }
    }
    const base = samples['node:wasi']
    for (const runtime of RUNTIMES) {
      const { cpu, wall } = samples[runtime.name]
      const ratio = (a, b) => `${(median(a) / median(b)).toFixed(2)}×`
      console.log(`| ${workload} | ${runtime.name} | ${median(cpu).toFixed(2)} | ${ratio(cpu, base.cpu)} | ${median(wall).toFixed(2)} | ${ratio(wall, base.wall)} |`)
    }
  }
}

main()
if (crashes > 0) console.log(`(${crashes} node:wasi run(s) crashed with SIGSEGV at exit and were run again with returnOnExit: false)`)
