// The classic: compiled with GOOS=wasip1 GOARCH=wasm, run by @x/wasi.
package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Println("Hello, Wasm")
	fmt.Printf("running on %s/%s, args %q\n", runtime.GOOS, runtime.GOARCH, os.Args[1:])
}
