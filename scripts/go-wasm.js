'use strict'
// Builds Go programs to wasip1 modules, once: each output is reused until its
// Go sources or the Go toolchain change (a stamp beside it keeps the hash).

const { execFileSync } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')

let goVersion
function currentGoVersion() {
  goVersion ??= execFileSync('go', ['version'], { encoding: 'utf8' }).trim()
  return goVersion
}

function sourcesHash(moduleDir, packageDir) {
  const hash = crypto.createHash('sha256').update(currentGoVersion())
  const files = [path.join(moduleDir, 'go.mod')]
  for (const name of fs.readdirSync(packageDir).sort()) {
    if (name.endsWith('.go')) files.push(path.join(packageDir, name))
  }
  for (const file of files) hash.update(file).update(fs.readFileSync(file))
  return hash.digest('hex')
}

/**
 * Builds `<moduleDir>/<name>` to `<outDir>/<name>.wasm` for every name whose
 * output is missing or stale; returns the output paths by name.
 * `buildFlags` go to `go build` (e.g. ['-buildmode=c-shared']).
 */
function buildGoWasm(moduleDir, names, outDir, buildFlags = []) {
  fs.mkdirSync(outDir, { recursive: true })
  const outputs = {}
  for (const name of names) {
    const output = path.join(outDir, `${name}.wasm`)
    const stamp = `${output}.hash`
    const hash = sourcesHash(moduleDir, path.join(moduleDir, name))
    outputs[name] = output
    if (fs.existsSync(output) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === hash) continue
    execFileSync('go', ['build', ...buildFlags, '-o', output, `./${name}`], {
      cwd: moduleDir,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, GOOS: 'wasip1', GOARCH: 'wasm' },
    })
    fs.writeFileSync(stamp, hash)
  }
  return outputs
}

module.exports = { buildGoWasm }
