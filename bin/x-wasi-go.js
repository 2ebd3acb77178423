#!/usr/bin/env node
'use strict'

// Go's test runner for GOOS=wasip1 on @x/wasi, started by bin/x-wasi-go
// (which gives node the stack Go's wasm needs on the main thread):
//
//   GOOS=wasip1 GOARCH=wasm go test -exec /path/to/x-wasi-go ./...
//
// `go test` (and `go run`) call it as `x-wasi-go prog.wasm [args...]`. It
// runs `x-wasi run` the way Go's own go_wasip1_wasm_exec runs wasmtime: the
// host's / preopened as the guest's /, PWD (the current directory) and PATH
// passed on, so Go's os.Getwd (which reads PWD on wasip1) is the package
// directory that `go test` runs in and relative paths such as testdata/
// resolve. The wasm stack is 8 MiB, as `-W max-wasm-stack=8388608` there.
//
// X_WASI_GO_FLAGS adds x-wasi options before the module, split on spaces,
// e.g. X_WASI_GO_FLAGS='--engine=singlepass' or '--mode=v8'.

const { main, exitWith } = require('./x-wasi.js')

// PWD is the real path of the current directory, never an inherited PWD
// that spells it through a symlink: the sandbox (like wasmtime's) does not
// follow a symlink to an absolute path, so the guest could not use it.
function workingDirectory() {
  return process.cwd()
}

function commandLine(argv, env) {
  const extra = (env.X_WASI_GO_FLAGS ?? '').split(/\s+/).filter(Boolean)
  const pass = ['--env', `PWD=${workingDirectory()}`]
  if (env.PATH !== undefined) pass.push('--env', `PATH=${env.PATH}`)
  return ['run', '--dir=/', ...pass, ...extra, '--', ...argv]
}

main(commandLine(process.argv.slice(2), process.env)).then(exitWith)
