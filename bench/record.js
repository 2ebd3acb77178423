#!/usr/bin/env node
'use strict'
// Runs a measuring command and keeps what it printed as a committed results
// file, with where it came from: the command, the commit (and whether the
// tree had changes), the machine, and how busy the machine was (load average
// before and after). The figures in README.md and SECURITY.md are quoted from
// these files.
//
//   node bench/record.js <results file> <command> [args...]
//   e.g. node bench/record.js bench/STOP-LATENCY.md node bench/stop-latency.js --runs 10
//
// The command's output is shown as it runs. The file is written whether the
// command succeeds or fails (a failed soak is a result too), with its exit
// status; this script's exit status is the command's. Unless X_WASI_CACHE_DIR is set, the command gets a
// temporary compile cache (removed after), never the user's.

const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..')

function git(args) {
  const out = spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' })
  return out.status === 0 ? out.stdout.trim() : null
}

/** "abc1234", or "abc1234 + uncommitted changes" when the code measured differs from it. */
function commit() {
  const head = git(['rev-parse', '--short', 'HEAD']) ?? 'unknown'
  // What the measurement runs, not the results files.
  const dirty = git(['status', '--porcelain', '--', 'src', 'lib', 'index.js', 'bin', 'scripts', 'bench', 'Cargo.toml', 'Cargo.lock', ':(exclude)bench/*.md'])
  return dirty ? `${head} + uncommitted changes` : head
}

function load() {
  return os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(' / ')
}

function tool(command, args) {
  const out = spawnSync(command, args, { encoding: 'utf8' })
  return out.status === 0 ? out.stdout.trim().split('\n')[0] : 'not found'
}

function main([file, command, ...args]) {
  if (!file || !command) {
    console.error('usage: node bench/record.js <results file> <command> [args...]')
    return Promise.resolve(2)
  }
  const started = new Date()
  const loadBefore = load()
  const chunks = []
  return new Promise((resolve) => {
    const cache = process.env.X_WASI_CACHE_DIR ? null : fs.mkdtempSync(path.join(os.tmpdir(), 'x-wasi-record-cache-'))
    const env = cache ? { ...process.env, X_WASI_CACHE_DIR: cache } : process.env
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['inherit', 'pipe', 'pipe'] })
    child.on('close', () => cache && fs.rmSync(cache, { recursive: true, force: true }))
    // stdout and stderr in the order they come (a warning belongs to the record).
    child.stdout.on('data', (chunk) => {
      chunks.push(chunk)
      process.stdout.write(chunk)
    })
    child.stderr.on('data', (chunk) => {
      chunks.push(chunk)
      process.stderr.write(chunk)
    })
    child.on('error', (err) => {
      console.error(`record: ${err.message}`)
      resolve(1)
    })
    child.on('close', (code, signal) => {
      const status = code === 0 ? 'succeeded (exit code 0)' : `**FAILED** (${signal ? `signal ${signal}` : `exit code ${code}`})`
      const seconds = ((Date.now() - started) / 1000).toFixed(0)
      const cpus = os.cpus()
      const header = [
        `# ${path.basename(file, path.extname(file))}`,
        '',
        `Written by \`node bench/record.js ${file} ${[command, ...args].join(' ')}\`; the output below is the command's (stdout and stderr), unchanged.`,
        '',
        '| | |',
        '| --- | --- |',
        `| Commit | ${commit()} |`,
        `| Date | ${started.toISOString()} (${seconds} s) |`,
        `| Machine | ${cpus[0]?.model ?? 'unknown'}, ${cpus.length} logical cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.type()} ${os.release()} ${os.arch()} |`,
        `| Node.js | ${process.version} |`,
        `| rustc | ${tool('rustc', ['--version'])} |`,
        `| Load average (1 / 5 / 15 min) | before: ${loadBefore}; after: ${load()} |`,
        `| Running as | ${process.getuid?.() === 0 ? 'root' : 'not root'} |`,
        `| Result | ${status} |`,
        '',
        ...(Math.max(...os.loadavg()) > cpus.length
          ? ['The load average was above the number of cores: other work competed for the CPU, so timings are noisier than on an idle machine. Compare rows of this file with each other, not with other runs.', '']
          : []),
        '```',
      ]
      const output = Buffer.concat(chunks).toString('utf8').replace(/\s+$/, '')
      fs.writeFileSync(path.resolve(ROOT, file), `${header.join('\n')}\n${output}\n\`\`\`\n`)
      console.error(`record: wrote ${file} (the command ${code === 0 ? 'succeeded' : 'FAILED'})`)
      resolve(code === 0 ? 0 : code || 1)
    })
  })
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
})
