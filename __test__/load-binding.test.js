'use strict'
// The error a user sees when no native addon loads (lib/load-binding.js):
// it names the platform, and says what to do in each of the three cases.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const { bindingLoadError, platformName, prebuiltPlatforms } = require('../lib/load-binding')
const pkg = require('../package.json')

const here = platformName()

test('every napi target maps to its platform package directory under npm/', () => {
  const dirs = fs.readdirSync(path.join(__dirname, '..', 'npm')).sort()
  assert.deepEqual(prebuiltPlatforms().sort(), dirs)
  for (const dir of dirs) {
    const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'npm', dir, 'package.json'), 'utf8'))
    assert.equal(manifest.name, `${pkg.name}-${dir}`)
  }
})

test('in a checkout (no platform packages listed) the error says to build here', () => {
  const err = bindingLoadError(new Error('Cannot find native binding'), { ...pkg, optionalDependencies: undefined })
  assert.equal(err.code, 'ERR_X_WASI_NO_BINDING')
  assert.match(err.message, /checkout of the repository/)
  assert.match(err.message, /npm run setup/)
  assert.match(err.message, new RegExp(`x-wasi\\.${here}\\.node`))
  assert.match(err.message, /Loader error: Cannot find native binding/)
  assert.doesNotMatch(err.message, /optional\s+dependency/)
})

test('in the published package the error names the missing optional dependency and its version', () => {
  const wanted = `${pkg.name}-${here}`
  const published = { ...pkg, version: '9.9.9', optionalDependencies: { [wanted]: '9.9.9' } }
  const err = bindingLoadError(new Error('x'), published)
  assert.match(err.message, new RegExp(`${wanted.replace('/', '\\/')}@9\\.9\\.9, an optional`))
  assert.match(err.message, /--omit=optional/)
})

test('on a platform without a prebuilt addon the error lists the platforms that have one', () => {
  // One target that is not this platform.
  const [triple, other] = here === 'darwin-arm64' ? ['x86_64-unknown-linux-gnu', 'linux-x64-gnu'] : ['aarch64-apple-darwin', 'darwin-arm64']
  const err = bindingLoadError(new Error('x'), { ...pkg, napi: { targets: [triple] } })
  assert.match(err.message, /There is no prebuilt addon for this platform/)
  assert.match(err.message, new RegExp(`prebuilt addons exist for: ${other}\\.`))
})
