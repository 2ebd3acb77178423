#!/usr/bin/env node
'use strict'
// Memory of a long-lived process that runs many distinct modules: Go hello
// with a different custom section each time (the same code, a new module to
// every cache), run `--modules` times in one process, each way in its own
// child process. Reports RSS after the first 15 modules and at the end, and
// what each further module kept: (end - at 15) / (modules - 15).
//
//   node bench/module-memory.js HELLO.wasm [--modules 45] [--json]

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { parseArgs } = require('node:util')

const ROOT = path.join(__dirname, '..')
const AFTER = 15

const WAYS = {
  'node:wasi': 'node-wasi',
  '@x/wasi V8 mode': 'v8',
  '@x/wasi native auto (default), no disk cache': 'native:auto',
  '@x/wasi native cranelift, no disk cache': 'native:cranelift',
}

// The child: runs the variants one after the other, prints RSS (MiB) after each.
const CHILD = String.raw`
const fs = require('node:fs')
const [root, wasmPath, count, way] = process.argv.slice(1)
const base = fs.readFileSync(wasmPath)
const leb = (n) => { const out = []; do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; out.push(b) } while (n); return Buffer.from(out) }
function variant(i) {
  const name = Buffer.from('bench-variant')
  const body = Buffer.concat([leb(name.length), name, Buffer.from(String(i))])
  return Buffer.concat([base, Buffer.from([0]), leb(body.length), body])
}
const stdout = fs.openSync('/dev/null', 'w')
;(async () => {
  const rss = []
  for (let i = 0; i < Number(count); i++) {
    const bytes = variant(i)
    if (way === 'node-wasi' || way === 'v8') {
      const { WASI } = way === 'v8' ? require(root) : require('node:wasi')
      const wasi = new WASI({ version: 'preview1', returnOnExit: true, stdout })
      const { instance } = await WebAssembly.instantiate(bytes, wasi.getImportObject())
      wasi.start(instance)
    } else {
      const { WASI } = require(root)
      new WASI({ returnOnExit: true, stdout, engine: way.split(':')[1], cache: false }).start(bytes)
    }
    await new Promise(setImmediate)
    rss.push(process.memoryUsage.rss() / 2 ** 20)
  }
  process.stdout.write(JSON.stringify(rss))
})()
`

function measure(wasm, modules) {
  const rows = []
  for (const [name, way] of Object.entries(WAYS)) {
    const rss = JSON.parse(execFileSync(process.execPath, ['-e', CHILD, ROOT, wasm, String(modules), way], { encoding: 'utf8', maxBuffer: 1 << 20 }))
    const atAfter = rss[AFTER - 1]
    const end = rss[rss.length - 1]
    rows.push({ name, first: rss[0], atAfter, end, perModule: (end - atAfter) / (modules - AFTER) })
    process.stderr.write(`module-memory: ${name}: ${rss.map((v) => v.toFixed(0)).join(' ')}\n`)
  }
  return rows
}

function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { modules: { type: 'string', default: '45' }, json: { type: 'boolean', default: false } },
  })
  const [wasm] = positionals
  const modules = Number(values.modules)
  if (!wasm || !fs.existsSync(wasm) || !(modules > AFTER)) {
    process.stderr.write(`usage: node bench/module-memory.js HELLO.wasm [--modules N>${AFTER}] [--json]\n`)
    process.exit(2)
  }
  const rows = measure(wasm, modules)
  if (values.json) return process.stdout.write(JSON.stringify({ modules, after: AFTER, rows }))
  process.stdout.write(`| ${modules} distinct Go hello modules, one process | RSS after 1 | after ${AFTER} | after ${modules} | kept per module after ${AFTER} |\n| --- | --- | --- | --- | --- |\n`)
  for (const r of rows) {
    process.stdout.write(`| ${r.name} | ${r.first.toFixed(0)} MiB | ${r.atAfter.toFixed(0)} MiB | ${r.end.toFixed(0)} MiB | ${r.perModule.toFixed(2)} MiB |\n`)
  }
}

main()
