#!/usr/bin/env node
'use strict'
// One step that makes a fresh checkout runnable: npm dependencies, the addon
// (one release build: Cranelift-compiled code from a debug build is far too
// slow), and the wasm fixtures and examples built from their sources.
// Each part is skipped when it is already up to date.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

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
  step('npm ci', () => run(npm, ['ci', '--no-audit', '--no-fund']))
}

function buildAddon() {
  // cargo decides what is stale; a no-op build takes a second or two.
  // Its progress goes to stderr so that stdout stays the example's output.
  step('addon (cargo release build)', () =>
    run(process.execPath, [path.join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js'), 'build', '--platform', '--release', '--js', 'binding.js', '--dts', 'binding.d.ts'], {
      stdio: ['ignore', process.stderr, 'inherit'],
    }),
  )
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
