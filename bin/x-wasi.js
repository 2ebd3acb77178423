#!/usr/bin/env node
'use strict'

// `x-wasi`: run a WASI module from the command line with @x/wasi.
// Argument handling lives in lib/cli-args.js; this file only does the I/O.

const fs = require('node:fs')
const path = require('node:path')
const {
  EXIT_FAILURE,
  EXIT_TRAP,
  EXIT_USAGE,
  USAGE,
  UsageError,
  parseCommandLine,
  toWasiOptions,
} = require('../lib/cli-args')

const PACKAGE_ROOT = path.join(__dirname, '..')

class CliError extends Error {
  constructor(message, exitCode) {
    super(message)
    this.exitCode = exitCode
  }
}

// Errors go straight to fd 2: touching process.stdout/stderr makes Node switch
// those pipes to non-blocking mode, which the guest shares through fds 1 and 2.
function printError(message) {
  fs.writeSync(2, `x-wasi: ${message}\n`)
}

function readModule(modulePath) {
  try {
    return fs.readFileSync(modulePath)
  } catch (err) {
    throw new CliError(`cannot read module '${modulePath}': ${err.message}`, EXIT_USAGE)
  }
}

function resolvePreopen(host) {
  let stats
  try {
    stats = fs.statSync(host)
  } catch (err) {
    throw new CliError(`cannot open --dir '${host}': ${err.message}`, EXIT_USAGE)
  }
  if (!stats.isDirectory()) throw new CliError(`--dir '${host}' is not a directory`, EXIT_USAGE)
  return path.resolve(host)
}

function loadAddon() {
  try {
    return require(PACKAGE_ROOT)
  } catch (err) {
    throw new CliError(`cannot load the @x/wasi native addon: ${err.message}`, EXIT_FAILURE)
  }
}

function isWasmError(err) {
  return (
    err instanceof WebAssembly.CompileError ||
    err instanceof WebAssembly.LinkError ||
    err instanceof WebAssembly.RuntimeError ||
    ['CompileError', 'LinkError', 'RuntimeError'].includes(err?.name)
  )
}

function runModule(run) {
  const wasiOptions = toWasiOptions(run, resolvePreopen)
  const bytes = readModule(run.modulePath)
  const { WASI } = loadAddon()
  try {
    return new WASI(wasiOptions).start(bytes)
  } catch (err) {
    if (!isWasmError(err)) throw err
    throw new CliError(`failed to run '${run.modulePath}': ${err.name}: ${err.message}`, EXIT_TRAP)
  }
}

function main(argv) {
  let command
  try {
    command = parseCommandLine(argv, process.env)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    printError(err.message)
    fs.writeSync(2, `\n${USAGE}`)
    return EXIT_USAGE
  }

  if (command.command === 'help') {
    process.stdout.write(USAGE)
    return 0
  }
  if (command.command === 'version') {
    process.stdout.write(`x-wasi ${require('../package.json').version}\n`)
    return 0
  }

  try {
    return runModule(command)
  } catch (err) {
    if (err instanceof UsageError) {
      printError(err.message)
      return EXIT_USAGE
    }
    if (err instanceof CliError) {
      printError(err.message)
      return err.exitCode
    }
    printError(err?.stack ?? String(err))
    return EXIT_FAILURE
  }
}

// exitCode rather than exit() so pending writes on stdout/stderr still flush.
process.exitCode = main(process.argv.slice(2))
