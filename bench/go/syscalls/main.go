// syscalls: many small syscalls. 100,000 unbuffered stdout writes, then
// 64 MiB written to a file in 4 KiB chunks, read back, checked and removed.
// Usage: syscalls DIR (a directory it may write to).
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

const (
	lines     = 100_000
	fileBytes = 64 << 20
	chunk     = 4 << 10
)

func fill(buf []byte, n int) {
	for i := range buf {
		buf[i] = byte(n + i)
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: syscalls DIR")
		os.Exit(2)
	}
	line := []byte("a short line of output\n")
	for i := 0; i < lines; i++ {
		if _, err := os.Stdout.Write(line); err != nil {
			panic(err)
		}
	}

	name := filepath.Join(os.Args[1], "syscalls.bin")
	f, err := os.Create(name)
	if err != nil {
		panic(err)
	}
	buf := make([]byte, chunk)
	for n := 0; n < fileBytes/chunk; n++ {
		fill(buf, n)
		if _, err := f.Write(buf); err != nil {
			panic(err)
		}
	}
	if err := f.Close(); err != nil {
		panic(err)
	}

	f, err = os.Open(name)
	if err != nil {
		panic(err)
	}
	want := make([]byte, chunk)
	for n := 0; n < fileBytes/chunk; n++ {
		if _, err := io.ReadFull(f, buf); err != nil {
			panic(err)
		}
		fill(want, n)
		if !bytes.Equal(buf, want) {
			panic(fmt.Sprintf("chunk %d differs", n))
		}
	}
	if _, err := f.Read(buf); err != io.EOF {
		panic(fmt.Sprintf("expected EOF, got %v", err))
	}
	f.Close()
	if err := os.Remove(name); err != nil {
		panic(err)
	}
}
