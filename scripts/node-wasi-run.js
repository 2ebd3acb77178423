#!/usr/bin/env node
'use strict'

// Runs a WASI module on Node's built-in `node:wasi`, taking the same flags as
// `x-wasi` (lib/cli-args.js), so the test-suite script can compare the two.
// Run it with --no-warnings to hide node:wasi's ExperimentalWarning.

const fs = require('node:fs')
const path = require('node:path')
const { WASI } = require('node:wasi')
const { EXIT_TRAP, EXIT_USAGE, USAGE, parseCommandLine, toWasiOptions } = require('../lib/cli-args')

function fail(message, exitCode) {
  fs.writeSync(2, `node-wasi-run: ${message}\n`)
  process.exitCode = exitCode
}

function nodeWasiOptions(run) {
  const { args, env, preopens, returnOnExit } = toWasiOptions(run, (host) => path.resolve(host))
  return { version: 'preview1', args, env, preopens, returnOnExit }
}

function main(argv) {
  let run
  try {
    run = parseCommandLine(argv, process.env)
  } catch (err) {
    return fail(`${err.message}\n\n${USAGE}`, EXIT_USAGE)
  }
  if (run.command !== 'run') return fail('only `run` is supported', EXIT_USAGE)

  let bytes
  try {
    bytes = fs.readFileSync(run.modulePath)
  } catch (err) {
    return fail(`cannot read module '${run.modulePath}': ${err.message}`, EXIT_USAGE)
  }

  try {
    const wasi = new WASI(nodeWasiOptions(run))
    const module = new WebAssembly.Module(bytes)
    const instance = new WebAssembly.Instance(module, wasi.getImportObject())
    process.exitCode = wasi.start(instance)
  } catch (err) {
    fail(`${err.name}: ${err.message}`, EXIT_TRAP)
  }
}

main(process.argv.slice(2))
