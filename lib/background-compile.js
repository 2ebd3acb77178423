'use strict'
// The background process of lib/tiering.js:
//   node background-compile.js WASM_FILE CACHE_DIR CACHE_MAX_BYTES LOCK_FILE
// compiles the module in WASM_FILE with Cranelift into the disk cache, then
// removes WASM_FILE and LOCK_FILE.

const fs = require('node:fs')
const os = require('node:os')

// Yield the CPU to the runs that started this compile. The parent already
// set this process's nice value, but Linux schedules each session (this one
// is detached: a session of its own) as a group first, nice values only
// counting inside a group; so the group's own nice goes to the lowest too.
// Threads made from here on (the compiler's) inherit this thread's nice.
try {
  os.setPriority(os.constants.priority.PRIORITY_LOW)
  fs.writeFileSync('/proc/self/autogroup', '19')
} catch {
  // not Linux, or autogroups off: the parent's setPriority is what there is
}

const [wasm, cacheDir, cacheMaxBytes, lock] = process.argv.slice(2)
try {
  const bytes = fs.readFileSync(wasm)
  fs.rmSync(wasm, { force: true })
  require('..').compile(bytes, { engine: 'cranelift', cacheDir, cacheMaxBytes: Number(cacheMaxBytes) }).release()
} catch {
  // nothing to report to: the next run compiles or tries again
} finally {
  fs.rmSync(wasm, { force: true })
  fs.rmSync(lock, { force: true })
}
