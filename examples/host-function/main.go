// host-function is a Go reactor: a library of exported functions that
// JavaScript calls after initializing it, rather than a program with a main
// that runs once. It imports a function of its own from the host (hostLog,
// written in JS) besides WASI, and exports `add`.
//
// Built with -buildmode=c-shared (see ../build.js): the module then exports
// `_initialize` instead of `_start`. Needs Go >= 1.24 (//go:wasmexport).
package main

import (
	"fmt"
	"os"
)

// hostLog is provided by the host as `env.hostLog`. A string parameter is
// passed as two i32s: its address in linear memory and its length.
//
//go:wasmimport env hostLog
func hostLog(message string)

var calls int

// add is exported to JavaScript as `add`.
//
//go:wasmexport add
func add(a, b int32) int32 {
	calls++
	hostLog(fmt.Sprintf("add(%d, %d) is call #%d", a, b, calls))
	return a + b
}

func init() {
	// Runs during `_initialize`: WASI works in reactors too.
	fmt.Fprintln(os.Stdout, "Go reactor initialized")
}

// main is required by the compiler but never runs in a reactor.
func main() {}
