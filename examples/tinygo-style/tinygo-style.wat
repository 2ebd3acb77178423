;; Hello world as TinyGo (2021) and other older WASI toolchains emit it:
;; WASI imported under its first name, "wasi_unstable" (WASI snapshot 0),
;; not "wasi_snapshot_preview1". Runtimes that provide only the newer name
;; cannot link it; @x/wasi provides both.
(module $tinygo_style
  (import "wasi_unstable" "fd_write"
    (func $fd_write (param $fd i32) (param $iovs i32) (param $iovs_len i32) (param $nwritten i32) (result i32)))
  (import "wasi_unstable" "proc_exit"
    (func $proc_exit (param $code i32)))
  (memory $memory 1)
  (export "memory" (memory $memory))

  ;; iovec {buf = 16, len = 26} at 0, nwritten at 8, the text at 16.
  (data (i32.const 0) "\10\00\00\00\1a\00\00\00")
  (data (i32.const 16) "Hello from wasi_unstable!\n")

  (func $main (export "_start")
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $proc_exit (i32.const 0)))
)
