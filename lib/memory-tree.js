'use strict'
// In-memory preopens: a tree of files such as `{ 'a.txt': 'hello',
// 'dir/b.bin': buf }` is written to a fresh private directory on a RAM-backed
// tmpfs (/dev/shm) when there is one, else in the temp dir, and preopened
// from there. The guest may change it; nothing reaches a directory of the
// user. Each directory is removed when its run ends, or at process exit for
// an object that never ran.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { argTypeError, argValueError } = require('./errors')

const PREFIX = 'x-wasi-tree-'

// Directories made and not yet removed; removed at process exit.
const pending = new Set()
let exitHookInstalled = false

function removeAllAtExit() {
  for (const dir of pending) removeTreeDir(dir)
}

/** Where trees go: /dev/shm (really in memory) when usable, else the temp dir. */
function treeParent() {
  try {
    if (fs.statSync('/dev/shm').isDirectory()) {
      fs.accessSync('/dev/shm', fs.constants.W_OK | fs.constants.X_OK)
      return '/dev/shm'
    }
  } catch {
    // no /dev/shm here (not Linux, or a container without it)
  }
  return os.tmpdir()
}

/** The segments of a tree key: a relative path of plain names only. */
function keySegments(key, name) {
  const segments = key.split('/')
  const bad = key.includes('\0') || key.startsWith('/') || segments.some((s) => s === '' || s === '.' || s === '..')
  if (bad) throw argValueError(name, "a relative file path without '', '.' or '..' segments or NUL bytes", key)
  return segments
}

/** Checks a tree; returns its files as [[segments, contents]]. */
function checkTree(tree, optionName) {
  const files = []
  for (const key of Object.keys(tree)) {
    const name = `${optionName}['${key}']`
    const contents = tree[key]
    if (typeof contents !== 'string' && !(contents instanceof Uint8Array)) {
      throw argTypeError(name, 'a string, Buffer or Uint8Array', contents)
    }
    files.push([keySegments(key, name), contents, name])
  }
  // A name cannot be a file and a directory at once ('a' and 'a/b').
  const filePaths = new Set(files.map(([segments]) => segments.join('/')))
  for (const [segments, , name] of files) {
    for (let i = 1; i < segments.length; i++) {
      const parent = segments.slice(0, i).join('/')
      if (filePaths.has(parent)) {
        throw argValueError(name, `a path whose parent '${parent}' is not also a file`, segments.join('/'))
      }
    }
  }
  return files
}

/**
 * Writes `tree` (checked here; TypeErrors name `optionName`) into a new
 * directory only this user can enter, and returns that directory.
 */
function materializeTree(tree, optionName) {
  const files = checkTree(tree, optionName)
  const dir = fs.mkdtempSync(path.join(treeParent(), PREFIX))
  pending.add(dir)
  if (!exitHookInstalled) {
    process.on('exit', removeAllAtExit)
    exitHookInstalled = true
  }
  try {
    fs.chmodSync(dir, 0o700)
    for (const [segments, contents] of files) {
      const file = path.join(dir, ...segments)
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
      fs.writeFileSync(file, contents, { flag: 'wx', mode: 0o600 })
    }
  } catch (err) {
    removeTreeDir(dir)
    throw err
  }
  return dir
}

/**
 * Removes a directory made by materializeTree, whatever the guest left in it.
 * Never throws (it runs after a run, whose outcome must not be lost): a
 * failure becomes a process warning.
 */
function removeTreeDir(dir) {
  if (!pending.delete(dir)) return
  try {
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 2 })
  } catch (err) {
    process.emitWarning(`could not remove the in-memory preopen ${dir}: ${err.message}`)
  }
}

module.exports = { materializeTree, removeTreeDir }
