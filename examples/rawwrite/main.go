// rawwrite writes to stdout through its own import of WASI's fd_write, the
// way bindings and hand-written modules call WASI: no fmt, no os, just the
// syscall and an iovec array in linear memory.
package main

import (
	"unsafe"
)

//go:wasmimport wasi_snapshot_preview1 fd_write
//go:noescape
func fdWrite(fd int32, iovs unsafe.Pointer, iovsLen int32, nwritten unsafe.Pointer) int32

// iovec is WASI's ciovec: a 32-bit address in linear memory and a length.
type iovec struct {
	buf uint32
	len uint32
}

// write hands all parts to one fd_write call, one iovec each, and returns
// the errno and the number of bytes written.
func write(fd int32, parts ...string) (errno int32, written uint32) {
	iovs := make([]iovec, len(parts))
	for i, p := range parts {
		iovs[i] = iovec{buf: uint32(uintptr(unsafe.Pointer(unsafe.StringData(p)))), len: uint32(len(p))}
	}
	errno = fdWrite(fd, unsafe.Pointer(&iovs[0]), int32(len(iovs)), unsafe.Pointer(&written))
	return errno, written
}

func main() {
	parts := []string{"Hello ", "from a raw ", "fd_write\n"}
	errno, written := write(1, parts...)
	if errno != 0 || int(written) != len(parts[0])+len(parts[1])+len(parts[2]) {
		panic("fd_write failed or wrote short")
	}
	// A bad file descriptor is an errno (8, EBADF), not a crash.
	if errno, _ := write(42, "nowhere\n"); errno != 8 {
		panic("expected EBADF")
	}
	write(1, "fd 42: EBADF, as expected\n")
}
