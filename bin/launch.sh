# The tail of bin/x-wasi and bin/x-wasi-go, sourced with $bin_dir and
# $script set: runs node on bin/$script with the caller's arguments.
#
# Wasm that V8 runs uses the stack of the thread that calls it, and Node's
# main thread gives V8 under 1 MiB: too little for Go's wasm (a wasm call
# per Go call). So node starts here with --stack-size=8000 (KiB), as deep
# as the worker thread the CLI otherwise runs V8 on (8 MiB less the 192 KiB
# Node keeps in reserve), and the main thread runs wasm itself, which saves
# that worker's 30-40 ms (bin/x-wasi.js, mainThreadRunsWasm). The stack's
# soft limit goes up to 16 MiB first, so that the thread can hold it with
# room to spare (the frames below V8's, the native code of a syscall).
# Where the limit cannot be raised, node starts without the flag and the
# CLI takes the worker thread.
stack_flags=
stack_kib=$(ulimit -s 2>/dev/null)
if [ "$stack_kib" = unlimited ] ||
  { [ "$stack_kib" -ge 16384 ] 2>/dev/null; } ||
  ulimit -s 16384 2>/dev/null; then
  stack_flags=--stack-size=8000
fi
exec node $stack_flags "$bin_dir/$script" "$@"
