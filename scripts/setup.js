#!/usr/bin/env node
'use strict'
// One step that makes a fresh checkout runnable: npm dependencies, the addon
// (one release build: Cranelift-compiled code from a debug build is far too
// slow), and the wasm fixtures and examples built from their sources.
// Each part is skipped when it is already up to date.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
// The file name binding.js (napi-generated, committed) loads for this platform.
const { platformName } = require('../lib/load-binding')

const root = path.resolve(__dirname, '..')
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

function run(cmd, args, options = {}) {
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit', ...options })
}

function step(name, fn) {
  const started = Date.now()
  process.stderr.write(`setup: ${name}...\n`)
  fn()
  process.stderr.write(`setup: ${name} done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
}

function installDependencies() {
  const lock = path.join(root, 'package-lock.json')
  const stamp = path.join(root, 'node_modules', '.package-lock.json')
  if (fs.existsSync(stamp) && fs.statSync(stamp).mtimeMs >= fs.statSync(lock).mtimeMs) return
  // `npm ci`: exactly the locked versions, and the lock is never rewritten
  // (the platform packages are not in package.json until `napi prepublish`
  // adds them at publish time, so the lock is complete without them).
  step('npm ci', () => run(npm, ['ci', '--no-audit', '--no-fund'], { stdio: ['ignore', process.stderr, 'inherit'] }))
}

function buildAddon() {
  // Plain `cargo build --release` (not `napi build`, which builds for an
  // explicit --target with other settings) so that `cargo test --release`
  // reuses the same dependency builds. cargo decides what is stale; a no-op
  // build takes a second. Output goes to stderr: stdout is the example's.
  step('addon (cargo build --release)', () => {
    run('cargo', ['build', '--release', '--lib'], { stdio: ['ignore', process.stderr, 'inherit'] })
    const library = { darwin: 'libx_wasi.dylib', win32: 'x_wasi.dll' }[process.platform] ?? 'libx_wasi.so'
    installLibrary(path.join(process.env.CARGO_TARGET_DIR || path.join(root, 'target'), 'release', library), path.join(root, `x-wasi.${platformName()}.node`))
  })
}

// Puts the built library in place without touching a file that running
// processes may have mapped: rewriting a loaded .node in place (as a plain
// copy over it does) kills them with SIGBUS or SIGSEGV. Unchanged: left
// alone. Changed: written beside it and renamed over it, so processes that
// loaded the old one keep it.
function installLibrary(from, to) {
  const built = fs.readFileSync(from)
  if (fs.existsSync(to) && built.equals(fs.readFileSync(to))) return
  const tmp = `${to}.tmp-${process.pid}`
  fs.writeFileSync(tmp, built, { mode: 0o755 })
  fs.renameSync(tmp, to)
}

function buildFixtures() {
  step('wasm fixtures and examples', () => {
    require(path.join(root, '__test__', 'fixtures.js')).buildAll()
    require(path.join(root, 'examples', 'build.js')).buildAll()
  })
}

installDependencies()
buildAddon()
buildFixtures()
