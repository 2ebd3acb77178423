'use strict'

// Keeps the test-suite's fixture directories pristine between tests.
// The official runner deletes `*.cleanup` entries under a test's root before
// and after each run; on top of that we compare the root with a snapshot taken
// before the first test and undo anything a (misbehaving) runtime left behind,
// so one test's debris can't fail the next one.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const COPY_OPTIONS = { recursive: true, verbatimSymlinks: true, preserveTimestamps: true }

/** Deletes every `*.cleanup` file or directory under `dir` (symlinks are kept, like upstream). */
function removeCleanupArtifacts(dir) {
  for (const entry of safeReaddir(dir)) {
    const full = path.join(dir, entry.name)
    if (entry.isSymbolicLink()) continue
    if (entry.name.endsWith('.cleanup')) fs.rmSync(full, { recursive: true, force: true })
    else if (entry.isDirectory()) removeCleanupArtifacts(full)
  }
}

function safeReaddir(dir) {
  try {
    return fs.readdirSync(dir, { withFileTypes: true })
  } catch {
    return []
  }
}

// Directory mtimes are left out: adding and removing a file changes them.
function signature(full) {
  const stats = fs.lstatSync(full)
  if (stats.isSymbolicLink()) return `link ${fs.readlinkSync(full)}`
  if (stats.isDirectory()) return `dir ${stats.mode}`
  return `file ${stats.mode} ${stats.size} ${stats.mtimeMs}`
}

/** Map of relative path → signature for everything under `root`. */
function snapshot(root, relative = '', into = new Map()) {
  for (const entry of safeReaddir(path.join(root, relative))) {
    const rel = path.join(relative, entry.name)
    into.set(rel, signature(path.join(root, rel)))
    if (entry.isDirectory()) snapshot(root, rel, into)
  }
  return into
}

class FixtureGuard {
  constructor() {
    this.saved = new Map() // root → { entries, backup }
    this.backupParent = fs.mkdtempSync(path.join(os.tmpdir(), 'wasi-testsuite-fixtures-'))
  }

  /** Call before a test that preopens `root`. */
  prepare(root) {
    removeCleanupArtifacts(root)
    if (this.saved.has(root)) return
    const backup = path.join(this.backupParent, String(this.saved.size))
    fs.cpSync(root, backup, COPY_OPTIONS)
    this.saved.set(root, { entries: snapshot(root), backup })
  }

  /** Call after the test; returns a description of each repair made. */
  restore(root) {
    removeCleanupArtifacts(root)
    const { entries, backup } = this.saved.get(root)
    const repairs = []
    for (const rel of leftovers(entries, snapshot(root))) {
      fs.rmSync(path.join(root, rel), { recursive: true, force: true })
      repairs.push(`removed leftover '${rel}'`)
    }
    const current = snapshot(root)
    const restored = []
    for (const [rel, expected] of entries) {
      if (current.get(rel) === expected || isInside(rel, restored)) continue
      if (expected.startsWith('dir ') && current.get(rel)?.startsWith('dir ')) {
        fs.chmodSync(path.join(root, rel), fs.lstatSync(path.join(backup, rel)).mode)
        repairs.push(`restored mode of '${rel}'`)
        continue
      }
      fs.rmSync(path.join(root, rel), { recursive: true, force: true })
      fs.cpSync(path.join(backup, rel), path.join(root, rel), COPY_OPTIONS)
      restored.push(rel)
      repairs.push(`${current.has(rel) ? 'restored changed' : 'restored missing'} '${rel}'`)
    }
    // Copies keep timestamps only to the microsecond: re-read what is now pristine.
    if (restored.length > 0) this.saved.get(root).entries = snapshot(root)
    return repairs
  }

  dispose() {
    fs.rmSync(this.backupParent, { recursive: true, force: true })
  }
}

// New top-most entries only: removing a new directory removes its content too.
function leftovers(before, after) {
  const added = [...after.keys()].filter((rel) => !before.has(rel))
  return added.filter((rel) => !isInside(rel, added))
}

function isInside(rel, dirs) {
  return dirs.some((dir) => rel.startsWith(dir + path.sep))
}

module.exports = { FixtureGuard, removeCleanupArtifacts }
