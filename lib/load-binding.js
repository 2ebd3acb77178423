'use strict'
// Loads the native addon through the napi-rs generated loader (binding.js)
// and, when that fails, replaces its generic "Cannot find native binding"
// with what a user needs: the platform we detected, the package that would
// have fitted it, and how to build the addon from source.

const fs = require('node:fs')

const pkg = require('../package.json')

/** 'glibc', 'musl', or null off Linux. */
function detectLibc() {
  if (process.platform !== 'linux') return null
  try {
    const report = process.report?.getReport?.()
    const header = report?.header ?? {}
    if (header.glibcVersionRuntime) return 'glibc'
    if ((report?.sharedObjects ?? []).some((f) => f.includes('libc.musl-') || f.includes('ld-musl-'))) return 'musl'
  } catch {
    // fall through to the file check
  }
  try {
    if (fs.readFileSync('/usr/bin/ldd', 'utf8').includes('musl')) return 'musl'
  } catch {
    // no ldd: assume glibc, the common case
  }
  return 'glibc'
}

/** The napi-rs platform name (`linux-x64-gnu`, `darwin-arm64`, ...) of this process. */
function platformName(platform = process.platform, arch = process.arch, libc = detectLibc()) {
  const abi = platform === 'linux' ? (libc === 'musl' ? '-musl' : '-gnu') : platform === 'win32' ? '-msvc' : ''
  return `${platform}-${arch}${abi}`
}

const ARCH = { x86_64: 'x64', aarch64: 'arm64', i686: 'ia32', armv7: 'arm' }
const OS = { linux: 'linux', darwin: 'darwin', windows: 'win32' }

/** The napi-rs platform name of a Rust target triple (`aarch64-apple-darwin` → `darwin-arm64`). */
function tripleToPlatform(triple) {
  const [arch, , os, abi] = triple.split('-')
  const platform = OS[os] ?? os
  const suffix = platform === 'linux' ? `-${abi === 'musl' ? 'musl' : 'gnu'}` : platform === 'win32' ? '-msvc' : ''
  return `${platform}-${ARCH[arch] ?? arch}${suffix}`
}

/**
 * The platforms a prebuilt addon is made for: package.json's `napi.targets`
 * (the release workflow builds exactly those; `napi prepublish` then lists
 * their packages as optionalDependencies of the published package only).
 */
function prebuiltPlatforms(manifest = pkg) {
  return (manifest.napi?.targets ?? []).map(tripleToPlatform)
}

/**
 * The Error thrown when no addon fits; `cause` is the loader's own error,
 * `manifest` the package.json it was installed with.
 */
function bindingLoadError(cause, manifest = pkg) {
  const libc = detectLibc()
  const name = platformName(process.platform, process.arch, libc)
  const wanted = `${manifest.name}-${name}`
  const detected = `${process.platform}/${process.arch}${libc ? ` (${libc})` : ''}, Node.js ${process.version}`
  const prebuilt = prebuiltPlatforms(manifest)
  const lines = [`${manifest.name}: could not load its native addon for ${detected}.`]
  if (!prebuilt.includes(name)) {
    lines.push(
      `There is no prebuilt addon for this platform (it would be the package ${wanted});`,
      `prebuilt addons exist for: ${prebuilt.join(', ')}.`,
    )
  } else if (manifest.optionalDependencies?.[wanted]) {
    lines.push(
      `The prebuilt addon for this platform is the package ${wanted}@${manifest.version}, an optional`,
      `dependency of ${manifest.name}. It is missing or does not load: reinstall without --omit=optional`,
      `or --no-optional, e.g. \`npm install ${wanted}@${manifest.version}\` (npm sometimes`,
      'skips optional dependencies when package-lock.json was made on another platform:',
      'https://github.com/npm/cli/issues/4828).',
    )
  } else {
    lines.push(`This is a checkout of the repository, not the published package: the addon is built here.`)
  }
  lines.push(
    'To build it from source, in a checkout of the repository: `npm run setup` (needs a Rust',
    'toolchain with cargo, and Go for the test fixtures), which builds the addon next to index.js',
    `as x-wasi.${name}.node.`,
  )
  for (let error = cause, depth = 0; error && depth < 6; error = error.cause, depth++) {
    lines.push(`${depth === 0 ? 'Loader error' : '  caused by'}: ${String(error?.message ?? error).split('\n')[0]}`)
  }
  const error = new Error(lines.join('\n'))
  error.code = 'ERR_X_WASI_NO_BINDING'
  error.cause = cause
  return error
}

function loadBinding() {
  try {
    return require('../binding.js')
  } catch (cause) {
    throw bindingLoadError(cause)
  }
}

/**
 * The addon's exports. index.js uses:
 *   const { WasiHandle, CompiledModule } = require('./lib/load-binding').loadBinding()
 */
module.exports = { loadBinding, bindingLoadError, platformName, detectLibc, tripleToPlatform, prebuiltPlatforms }
