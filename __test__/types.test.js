'use strict'
// Type-checks the public API (index.d.ts, index.d.mts) with the TypeScript
// devDependency: __test__/types/usage.ts and usage.mts use every option and
// method as CommonJS and ES module consumers (with the DOM lib, as most
// projects have), node-only.ts as a project without it. `@x/wasi` resolves
// through the package's own `exports` map (a package may import itself by
// name). Lines marked `// @ts-expect-error` must be rejected, so the check
// also proves that wrong options fail to compile.

const assert = require('node:assert/strict')
const { execFile } = require('node:child_process')
const path = require('node:path')
const { test } = require('node:test')

const ROOT = path.resolve(__dirname, '..')
const TYPES = path.join(__dirname, 'types')
// Not skippable: typescript is a devDependency, so a missing one is a broken
// install and fails here.
const TSC = require.resolve('typescript/bin/tsc', { paths: [ROOT] })

function tsc(project) {
  return new Promise((resolve) => {
    execFile(process.execPath, [TSC, '--noEmit', '-p', path.join(TYPES, project)], { cwd: ROOT }, (error, stdout, stderr) => {
      resolve({ code: error ? error.code : 0, output: `${stdout}${stderr}` })
    })
  })
}

// The compilations run side by side: the first two take several seconds each.
const results = {
  dom: tsc('tsconfig.json'),
  node: tsc('tsconfig.node.json'),
  wrong: tsc('tsconfig.wrong.json'),
}

test('index.d.ts and index.d.mts type-check every use in usage.ts and usage.mts (CommonJS and ESM)', async () => {
  const { code, output } = await results.dom
  assert.equal(code, 0, `tsc reported errors:\n${output}`)
})

test('the types need no DOM lib (a Node-only project, no skipLibCheck)', async () => {
  const { code, output } = await results.node
  assert.equal(code, 0, `tsc reported errors:\n${output}`)
})

test('tsc does fail on type errors (the check is not vacuous)', async () => {
  // usage.ts's @ts-expect-error lines only prove something if tsc reports
  // the unused ones: wrong.ts has one, and a wrong option.
  const { code, output } = await results.wrong
  assert.notEqual(code, 0)
  assert.match(output, /wrong\.ts\(\d+,\d+\): error TS2322: Type '"llvm"' is not assignable/)
  assert.match(output, /wrong\.ts\(\d+,\d+\): error TS2578: Unused '@ts-expect-error' directive/)
})
