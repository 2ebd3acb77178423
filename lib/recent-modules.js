'use strict'
// Modules that start(bytes), run(bytes) and initialize(bytes) compiled are
// kept alive a little while after their run, so that running the same bytes
// again (a test suite starting one module in test after test) finds them in
// the addon's in-process cache instead of compiling or loading them again.
// Bounded in number and in time: a long-lived process that moves on to
// other modules does not keep their code (see src/engine.rs).

/** How many such modules stay alive at most, and for how long after their last use. */
const KEPT = 2
const IDLE_MS = 10_000

// Most recently used last: module -> timer.
const kept = new Map()

function drop(module) {
  clearTimeout(kept.get(module))
  kept.delete(module)
  module.release()
}

/** Keeps `module` (a CompiledModule this layer made) alive for a while, then releases it. */
function keepRecent(module) {
  if (kept.has(module)) clearTimeout(kept.get(module))
  kept.delete(module)
  const timer = setTimeout(() => drop(module), IDLE_MS)
  timer.unref()
  kept.set(module, timer)
  while (kept.size > KEPT) drop(kept.keys().next().value)
}

module.exports = { keepRecent }
