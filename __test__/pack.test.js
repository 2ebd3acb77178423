'use strict'
// The package as npm users get it: `npm pack` the root package and the
// linux-x64-gnu platform package (with the addon built here), install both
// tarballs into an empty project, offline, and use them from there with
// `require` and with `import`. Also: what a user sees when the platform
// package is missing.

const assert = require('node:assert/strict')
const { execFile } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { describe, test, before, after } = require('node:test')

const ROOT = path.resolve(__dirname, '..')
const PLATFORM = 'linux-x64-gnu'
const ADDON = `x-wasi.${PLATFORM}.node`
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const HELLO_OUTPUT = 'Hello, Wasm\nrunning on wasip1/wasm, args ["packed"]\n'

const onThisPlatform = process.platform === 'linux' && process.arch === 'x64'
  ? require('../lib/load-binding').platformName() === PLATFORM
  : false

function run(cmd, args, options) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 60_000, maxBuffer: 16 << 20, ...options }, (error, stdout, stderr) => {
      if (error && !options?.allowFailure) {
        reject(new Error(`${cmd} ${args.join(' ')} failed (${error.code}):\n${stdout}${stderr}`))
      } else {
        resolve({ code: error ? error.code : 0, stdout, stderr })
      }
    })
  })
}

// What `napi prepublish` does to the root package.json before publishing: it
// declares one optional dependency per napi target (the repository's
// package.json has none, so that `npm ci` works before the first release).
function declarePlatformPackages(manifest) {
  const { parseTriple } = require('@napi-rs/cli')
  const optionalDependencies = { ...manifest.optionalDependencies }
  for (const triple of manifest.napi.targets) {
    optionalDependencies[`${manifest.name}-${parseTriple(triple).platformArchABI}`] = manifest.version
  }
  return { ...manifest, optionalDependencies }
}

/** The root tarball as published: unpacked, package.json as napi prepublish leaves it, packed again. */
async function asPublished(tarball, dest) {
  const unpacked = path.join(dest, 'published')
  fs.mkdirSync(unpacked)
  await run('tar', ['-xzf', tarball, '-C', unpacked])
  const dir = path.join(unpacked, 'package')
  const manifestPath = path.join(dir, 'package.json')
  const manifest = declarePlatformPackages(JSON.parse(fs.readFileSync(manifestPath, 'utf8')))
  fs.writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`)
  fs.mkdirSync(path.join(dest, 'publish'))
  return { manifest, ...(await pack(dir, path.join(dest, 'publish'))) }
}

/** `npm pack` of `dir` into `dest`; returns npm's description of the tarball. */
async function pack(dir, dest) {
  const { stdout } = await run(NPM, ['pack', '--json', '--ignore-scripts', '--pack-destination', dest], { cwd: dir })
  const [info] = JSON.parse(stdout)
  return { ...info, tarball: path.join(dest, info.filename), paths: info.files.map((f) => f.path).sort() }
}

// The scripts that use the installed package; `hello.wasm` is the Go example.
const CJS_SCRIPT = `
const fs = require('node:fs')
const { WASI, compile, CompiledModule } = require('@x/wasi')
const compiled = compile(fs.readFileSync('hello.wasm'))
if (!(compiled instanceof CompiledModule)) throw new Error('compile() did not return a CompiledModule')
process.exitCode = new WASI({ args: ['hello', 'packed'] }).start(compiled)
// Where the addon came from: the platform package, not a file of the checkout.
const addon = Object.keys(require.cache).find((file) => file.endsWith('.node'))
process.stderr.write(require('node:path').relative(process.cwd(), addon))
`
const ESM_SCRIPT = `
import fs from 'node:fs'
import xwasi, { WASI, compile, CompiledModule } from '@x/wasi'
const compiled = compile(fs.readFileSync('hello.wasm'))
if (!(compiled instanceof CompiledModule) || xwasi.WASI !== WASI) throw new Error('bad ESM exports')
process.exitCode = new WASI({ args: ['hello', 'packed'] }).start(fs.readFileSync('hello.wasm'))
`

describe('npm pack and install', { skip: onThisPlatform ? false : `packs the ${PLATFORM} addon, and this is not ${PLATFORM}` }, () => {
  let tmp
  let app
  let root
  let platform
  let published

  before(async () => {
    require('../examples/build').buildAll()
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'x-wasi-pack-'))

    // The platform package as CI would publish it: npm/<platform>/ plus the addon.
    const platformDir = path.join(tmp, PLATFORM)
    fs.cpSync(path.join(ROOT, 'npm', PLATFORM), platformDir, { recursive: true })
    fs.copyFileSync(path.join(ROOT, ADDON), path.join(platformDir, ADDON))
    ;[root, platform] = await Promise.all([pack(ROOT, tmp), pack(platformDir, tmp)])
    published = await asPublished(root.tarball, tmp)

    app = path.join(tmp, 'app')
    fs.mkdirSync(app)
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }))
    fs.copyFileSync(path.join(ROOT, 'examples', 'hello', 'hello.wasm'), path.join(app, 'hello.wasm'))
    fs.writeFileSync(path.join(app, 'hello.cjs'), CJS_SCRIPT)
    fs.writeFileSync(path.join(app, 'hello.mjs'), ESM_SCRIPT)
    // Offline: nothing may come from the registry. The root package's
    // optional dependencies on other platforms' packages are skipped.
    await run(NPM, ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', published.tarball, platform.tarball], { cwd: app })
  })

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
  })

  // Each script gets a cache directory of its own: nothing outside tmp.
  function node(script) {
    return run(process.execPath, [script], { cwd: app, allowFailure: true, env: { ...process.env, X_WASI_CACHE_DIR: path.join(tmp, 'cache') } })
  }

  test('the root package holds the JS, the types, the loader and the docs, and no addon', () => {
    for (const file of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'index.js', 'index.mjs', 'index.d.ts', 'index.d.mts', 'binding.js', 'binding.d.ts', 'lib/load-binding.js', 'bin/x-wasi', 'bin/x-wasi.js', 'bin/x-wasi-go', 'bin/x-wasi-go.js', 'bin/launch.sh']) {
      assert.ok(root.paths.includes(file), `${file} missing from ${root.filename}: ${root.paths.join(', ')}`)
    }
    assert.deepEqual(root.paths.filter((file) => file.endsWith('.node') || file.startsWith('src/') || file.startsWith('__test__/')), [])
  })

  test('the platform package holds the addon', () => {
    assert.deepEqual(platform.paths, ['README.md', ADDON, 'package.json'].sort())
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'npm', PLATFORM, 'package.json'), 'utf8'))
    const rootManifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
    assert.equal(manifest.main, ADDON)
    assert.equal(manifest.version, rootManifest.version)
    // Declared only at publish time (napi prepublish), from napi.targets.
    assert.equal(rootManifest.optionalDependencies, undefined)
    assert.equal(published.manifest.optionalDependencies[manifest.name], rootManifest.version)
  })

  test('require("@x/wasi") runs a Go module with the addon of the platform package', async () => {
    const { code, stdout, stderr } = await node('hello.cjs')
    assert.equal(code, 0, stderr)
    assert.equal(stdout, HELLO_OUTPUT)
    assert.equal(stderr, path.join('node_modules', '@x', `wasi-${PLATFORM}`, ADDON))
  })

  test('import from "@x/wasi" runs it too', async () => {
    const { code, stdout, stderr } = await node('hello.mjs')
    assert.equal(code, 0, stderr)
    assert.equal(stdout, HELLO_OUTPUT)
  })

  test('the bins npm links (x-wasi, x-wasi-go: shell launchers) run the Go module', async () => {
    // They start the `node` of PATH: this one.
    const env = { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}`, X_WASI_CACHE_DIR: path.join(tmp, 'cache') }
    for (const bin of ['x-wasi', 'x-wasi-go']) {
      const linked = path.join(app, 'node_modules', '.bin', bin)
      assert.ok(fs.lstatSync(linked).isSymbolicLink(), `${bin} is not linked`)
      const { code, stdout, stderr } = await run(linked, ['hello.wasm', 'packed'], { cwd: app, allowFailure: true, env })
      assert.equal(code, 0, stderr)
      assert.equal(stdout, HELLO_OUTPUT)
    }
  })

  test('without the platform package, loading fails with what to do', async () => {
    const installed = path.join(app, 'node_modules', '@x', `wasi-${PLATFORM}`)
    const hidden = `${installed}.hidden`
    fs.renameSync(installed, hidden)
    try {
      const loader = path.join(app, 'node_modules', '@x', 'wasi', 'lib', 'load-binding.js')
      fs.writeFileSync(path.join(app, 'missing.cjs'), `
        try {
          require(${JSON.stringify(loader)}).loadBinding()
        } catch (err) {
          process.stdout.write(JSON.stringify({ code: err.code, message: err.message }))
        }
        try {
          require('@x/wasi')
        } catch (err) {
          process.stderr.write(err.message)
        }
      `)
      const { code, stdout, stderr } = await node('missing.cjs')
      assert.equal(code, 0, stderr)
      const { code: errorCode, message } = JSON.parse(stdout)
      assert.equal(errorCode, 'ERR_X_WASI_NO_BINDING')
      assert.match(message, /could not load its native addon for linux\/x64 \(glibc\)/)
      assert.match(message, new RegExp(`the package @x/wasi-${PLATFORM}@\\d+\\.\\d+\\.\\d+`))
      assert.match(message, /npm run setup/)
      assert.match(message, /cargo/)
      assert.match(message, /Cannot find native binding/)
      // require('@x/wasi') fails as well (and says so, not just a stack).
      assert.notEqual(stderr, '')
    } finally {
      fs.renameSync(hidden, installed)
    }
  })
})
