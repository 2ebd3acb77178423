'use strict'
// The Node.js majors the tests run on, and a binary for each. The majors are
// the ones package.json's `engines.node` lists ("20 || 22 || 24"), so what
// is declared is what is tested. Binaries come from the npm registry
// (node-<platform>-<arch>@<major>) into .cache/node/<major> (gitignored) once,
// and are reused; the running Node serves its own major.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..')
const CACHE = path.join(ROOT, '.cache', 'node')
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

/** [20, 22, ...] from an engines range made of whole majors joined by `||`. */
function declaredMajors() {
  const range = require(path.join(ROOT, 'package.json')).engines.node
  const majors = range.split('||').map((part) => part.trim())
  if (!majors.every((major) => /^\d+$/.test(major))) {
    throw new Error(`package.json engines.node '${range}' is not a list of majors like "20 || 22"`)
  }
  return majors.map(Number)
}

function majorOf(version) {
  return Number(version.replace(/^v/, '').split('.')[0])
}

function versionOf(nodePath) {
  return execFileSync(nodePath, ['--version'], { encoding: 'utf8' }).trim()
}

/** A node binary of `major`: this process's, a cached one, or one installed now. */
function nodeBinary(major, log = (line) => process.stderr.write(`${line}\n`)) {
  if (majorOf(process.version) === major) return process.execPath
  const packageName = `node-${process.platform}-${process.arch}`
  const dir = path.join(CACHE, String(major))
  const binary = path.join(dir, 'node_modules', packageName, 'bin', process.platform === 'win32' ? 'node.exe' : 'node')
  if (fs.existsSync(binary) && majorOf(versionOf(binary)) === major) return binary
  log(`node ${major}: installing ${packageName}@${major} into ${path.relative(ROOT, dir)}`)
  fs.mkdirSync(dir, { recursive: true })
  // --prefix makes `dir` the project: its own package.json and lock, never ours.
  execFileSync(npm, ['install', '--prefix', dir, '--no-audit', '--no-fund', '--loglevel=error', `${packageName}@${major}`], {
    cwd: dir,
    stdio: ['ignore', process.stderr, 'inherit'],
  })
  if (!fs.existsSync(binary)) throw new Error(`${packageName}@${major} did not install ${binary}`)
  return binary
}

module.exports = { declaredMajors, majorOf, nodeBinary, versionOf }
