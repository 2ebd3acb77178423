'use strict'
// Builds the examples' wasm modules, each next to its sources:
// - Go programs (examples/<name>/*.go) to examples/<name>/<name>.wasm, with
//   scripts/go-wasm.js (GOOS=wasip1 GOARCH=wasm);
// - WAT (examples/<name>/<name>.wat) to examples/<name>/<name>.wasm, with
//   the wabt devDependency.
// Each output is rebuilt only when its sources or toolchain change (a
// `.hash` stamp beside it). `npm start`, `npm run setup` and the tests call
// this; `node examples/build.js` builds them all by hand.

const { execFileSync } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const { buildGoWasm } = require('../scripts/go-wasm')

// `minGo`: the oldest Go that builds it (//go:wasmexport is Go 1.24).
const GO_EXAMPLES = [
  { name: 'hello' },
  { name: 'rawwrite' },
  { name: 'node-test' },
  { name: 'host-function', flags: ['-buildmode=c-shared'], minGo: [1, 24] },
]
const WAT_EXAMPLES = ['tinygo-style']

let goVersion
function currentGoVersion() {
  if (goVersion === undefined) {
    const text = execFileSync('go', ['version'], { encoding: 'utf8' })
    const match = /go(\d+)\.(\d+)/.exec(text)
    goVersion = match ? [Number(match[1]), Number(match[2])] : [0, 0]
  }
  return goVersion
}

/** Why an example cannot be built with the tools at hand, or null. */
function skipReason(name) {
  const example = GO_EXAMPLES.find((e) => e.name === name)
  if (!example?.minGo) return null
  const [major, minor] = currentGoVersion()
  const [needMajor, needMinor] = example.minGo
  if (major > needMajor || (major === needMajor && minor >= needMinor)) return null
  return `examples/${name} needs Go >= ${needMajor}.${needMinor} (found go${major}.${minor})`
}

function watOutput(name) {
  return path.join(__dirname, name, `${name}.wasm`)
}

function watHash(name) {
  const source = fs.readFileSync(path.join(__dirname, name, `${name}.wat`))
  return crypto.createHash('sha256').update(require('wabt/package.json').version).update(source).digest('hex')
}

function watUpToDate(name) {
  const stamp = `${watOutput(name)}.hash`
  return fs.existsSync(watOutput(name)) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === watHash(name)
}

// wabt's API is async; buildAll() stays synchronous for the setup script by
// compiling in a child process (`node examples/build.js --wat NAME...`).
async function compileWats(names) {
  const wabt = await require('wabt')()
  for (const name of names) {
    const source = path.join(__dirname, name, `${name}.wat`)
    const module = wabt.parseWat(path.basename(source), fs.readFileSync(source, 'utf8'))
    try {
      module.resolveNames()
      module.validate()
      fs.writeFileSync(watOutput(name), module.toBinary({ write_debug_names: true }).buffer)
      fs.writeFileSync(`${watOutput(name)}.hash`, watHash(name))
    } finally {
      module.destroy()
    }
  }
}

/** Builds every example that is missing or stale; returns the outputs by name. */
function buildAll() {
  const built = {}
  for (const { name, flags } of GO_EXAMPLES) {
    const reason = skipReason(name)
    if (reason) {
      process.stderr.write(`skipping ${reason}\n`)
      continue
    }
    Object.assign(built, buildGoWasm(__dirname, [name], path.join(__dirname, name), flags))
  }
  const stale = WAT_EXAMPLES.filter((name) => !watUpToDate(name))
  if (stale.length > 0) {
    execFileSync(process.execPath, [__filename, '--wat', ...stale], { stdio: ['ignore', 'inherit', 'inherit'] })
  }
  for (const name of WAT_EXAMPLES) built[name] = watOutput(name)
  return built
}

if (require.main === module) {
  if (process.argv[2] === '--wat') {
    compileWats(process.argv.slice(3)).catch((err) => {
      console.error(err.message)
      process.exitCode = 1
    })
  } else {
    for (const file of Object.values(buildAll())) console.log(path.relative(process.cwd(), file))
  }
}

module.exports = { buildAll, skipReason }
