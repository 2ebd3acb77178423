//! The hottest preview1 calls (a Go program reads a clock for every
//! `time.Now()` and writes stdout unbuffered; its start-up and wasi-libc's
//! ask for the args and env sizes) run on wasi-common's own implementation,
//! its `WasiSnapshotPreview1` methods over the same `WasiCtx`, without
//! wiggle's generated ABI glue around them. The glue costs several times
//! what the trivial calls do (~20 ns: a future state machine around
//! another, argument and result conversions), so it is skipped, not copied:
//! what is done here in its place is building the arguments' guest
//! pointers and writing the results back with the same checked writes (the
//! tests below hold both to the glue).
//!
//! For the calls without side effects, anything but plain success (an id
//! wasi-common refuses, an error of the call) returns `None` and the caller
//! takes the generic path, so those errnos still come from one place. The
//! reads and writes turn an error into an errno as the glue does, with the
//! error's own `downcast` (a failed write must not be tried twice).

use wasi_common::snapshots::preview_1::types::{self, Clockid};
use wasi_common::snapshots::preview_1::wasi_snapshot_preview1::WasiSnapshotPreview1 as Preview1;
use wasi_common::WasiCtx;
use wiggle::{GuestMemory, GuestPtr};

use super::syscalls::run_ready;

/// errno `fault`: a result pointer outside memory or misaligned, as the
/// glue answers.
const ERRNO_FAULT: i32 = 21;

/// Clock ids wasi-common reads itself (the CPU-time ones are ours, in
/// `clocks`).
const CLOCK_REALTIME: i32 = 0;
const CLOCK_MONOTONIC: i32 = 1;

/// Writes a `(count, size)` pair as the glue does: the size first (the
/// tests below hold this to the glue).
fn write_sizes(memory: &mut GuestMemory<'_>, (count, size): (u32, u32), at: [i32; 2]) -> i32 {
    let written = memory
        .write(GuestPtr::<u32>::new(at[1] as u32), size)
        .and_then(|()| memory.write(GuestPtr::<u32>::new(at[0] as u32), count));
    match written {
        Ok(()) => 0,
        Err(_) => ERRNO_FAULT,
    }
}

pub fn args_sizes_get(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    argc: i32,
    argv_buf_size: i32,
) -> Option<i32> {
    let sizes = run_ready(Preview1::args_sizes_get(ctx, memory))
        .ok()?
        .ok()?;
    Some(write_sizes(memory, sizes, [argc, argv_buf_size]))
}

pub fn environ_sizes_get(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    count: i32,
    buf_size: i32,
) -> Option<i32> {
    let sizes = run_ready(Preview1::environ_sizes_get(ctx, memory))
        .ok()?
        .ok()?;
    Some(write_sizes(memory, sizes, [count, buf_size]))
}

/// The time of the realtime or monotonic clock, written as a u64 at `time`.
pub fn clock_time_get(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    id: i32,
    precision: i64,
    time: i32,
) -> Option<i32> {
    let id = match id {
        CLOCK_REALTIME => Clockid::Realtime,
        CLOCK_MONOTONIC => Clockid::Monotonic,
        _ => return None,
    };
    let now = run_ready(Preview1::clock_time_get(ctx, memory, id, precision as u64))
        .ok()?
        .ok()?;
    Some(match memory.write(GuestPtr::<u64>::new(time as u32), now) {
        Ok(()) => 0,
        Err(_) => ERRNO_FAULT,
    })
}

/// A read or write of `size` bytes as the glue finishes it: the size
/// written at `at`, or the error's errno (or its trap).
fn size_or_errno(
    memory: &mut GuestMemory<'_>,
    called: Result<types::Size, types::Error>,
    at: i32,
) -> wiggle::error::Result<i32> {
    match called {
        Ok(size) => {
            memory.write(GuestPtr::<u32>::new(at as u32), size)?;
            Ok(0)
        }
        Err(err) => Ok(err.downcast()? as i32),
    }
}

pub fn fd_write(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: i32,
    iovs: i32,
    iovs_len: i32,
    nwritten: i32,
) -> wiggle::error::Result<i32> {
    let iovs = GuestPtr::new((iovs as u32, iovs_len as u32));
    let called = run_ready(Preview1::fd_write(
        ctx,
        memory,
        types::Fd::from(fd as u32),
        iovs,
    ))?;
    size_or_errno(memory, called, nwritten)
}

pub fn fd_read(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    fd: i32,
    iovs: i32,
    iovs_len: i32,
    nread: i32,
) -> wiggle::error::Result<i32> {
    let iovs = GuestPtr::new((iovs as u32, iovs_len as u32));
    let called = run_ready(Preview1::fd_read(
        ctx,
        memory,
        types::Fd::from(fd as u32),
        iovs,
    ))?;
    size_or_errno(memory, called, nread)
}

#[cfg(test)]
mod tests {
    //! Each direct path against the generic one on the same calls: same
    //! errno, same memory, whatever the pointers (aligned, not, straddling
    //! the end, outside).
    use super::*;
    use crate::wasi::syscalls::{generic, preview1, Stop};
    use wasi_common::sync::WasiCtxBuilder;

    fn ctx() -> WasiCtx {
        let mut builder = WasiCtxBuilder::new();
        builder.arg("prog").unwrap().arg("ab").unwrap();
        builder.env("K", "value").unwrap();
        builder.build()
    }

    const POINTERS: [i32; 8] = [0, 4, 5, 8, 56, 60, 62, -1];

    #[test]
    fn sizes_match_the_generic_path() {
        let mut ctx = ctx();
        for a in POINTERS {
            for b in POINTERS {
                let (mut direct, mut generic) = ([0xAAu8; 64], [0xAAu8; 64]);
                let d = args_sizes_get(&mut ctx, &mut GuestMemory::Unshared(&mut direct), a, b);
                let g = preview1_generic_args(&mut ctx, &mut generic, a, b);
                assert_eq!((d, direct), (Some(g), generic), "args_sizes_get({a}, {b})");
                let (mut direct, mut generic) = ([0xAAu8; 64], [0xAAu8; 64]);
                let d = environ_sizes_get(&mut ctx, &mut GuestMemory::Unshared(&mut direct), a, b);
                let g = preview1_generic_env(&mut ctx, &mut generic, a, b);
                assert_eq!(
                    (d, direct),
                    (Some(g), generic),
                    "environ_sizes_get({a}, {b})"
                );
            }
        }
    }

    fn preview1_generic_args(ctx: &mut WasiCtx, bytes: &mut [u8], a: i32, b: i32) -> i32 {
        let mut memory = GuestMemory::Unshared(bytes);
        generic::args_sizes_get(ctx, &mut memory, a, b).unwrap()
    }

    fn preview1_generic_env(ctx: &mut WasiCtx, bytes: &mut [u8], a: i32, b: i32) -> i32 {
        let mut memory = GuestMemory::Unshared(bytes);
        generic::environ_sizes_get(ctx, &mut memory, a, b).unwrap()
    }

    #[test]
    fn clock_reads_match_the_generic_path() {
        // The time moves between two calls: same errno, and where one wrote
        // a time the other wrote a close one.
        let mut ctx = ctx();
        for id in [CLOCK_REALTIME, CLOCK_MONOTONIC] {
            for at in POINTERS {
                let (mut direct, mut generic) = ([0u8; 64], [0u8; 64]);
                let d =
                    clock_time_get(&mut ctx, &mut GuestMemory::Unshared(&mut direct), id, 0, at);
                let mut memory = GuestMemory::Unshared(&mut generic);
                let g = generic::clock_time_get(&mut ctx, &mut memory, id, 0, at).unwrap();
                assert_eq!(d, Some(g), "clock_time_get({id}, {at})");
                if g != 0 {
                    assert_eq!((direct, generic), ([0; 64], [0; 64]), "nothing written");
                    continue;
                }
                let at = at as usize;
                let time =
                    |bytes: &[u8; 64]| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
                assert!(time(&generic).abs_diff(time(&direct)) < 10_000_000_000);
                direct[at..at + 8].fill(0);
                generic[at..at + 8].fill(0);
                assert_eq!(
                    (direct, generic),
                    ([0; 64], [0; 64]),
                    "only the time written"
                );
            }
        }
        let mut bytes = [0u8; 64];
        let mut memory = GuestMemory::Unshared(&mut bytes);
        assert_eq!(
            clock_time_get(&mut ctx, &mut memory, 2, 0, 0),
            None,
            "a CPU clock is not wasi-common's"
        );
        assert_eq!(
            clock_time_get(&mut ctx, &mut memory, 9, 0, 0),
            None,
            "nor an unknown one"
        );
        assert_eq!(
            preview1::clock_time_get(&mut ctx, &mut memory, 1, 0, 0),
            Ok(0)
        );
    }

    /// A context whose stdout collects what is written and whose stdin
    /// holds `input`.
    fn piped(input: &[u8]) -> (WasiCtx, std::sync::Arc<std::sync::RwLock<Vec<u8>>>) {
        use wasi_common::pipe::{ReadPipe, WritePipe};
        let out = std::sync::Arc::new(std::sync::RwLock::new(Vec::new()));
        let ctx = ctx();
        ctx.set_stdout(Box::new(WritePipe::from_shared(out.clone())));
        ctx.set_stdin(Box::new(ReadPipe::from(input.to_vec())));
        (ctx, out)
    }

    /// Memory with two iovecs at 16 (8 bytes at 32, 4 at 61) and text.
    fn iovec_memory() -> [u8; 64] {
        let mut bytes = [0u8; 64];
        bytes[16..32].copy_from_slice(&[32, 0, 0, 0, 8, 0, 0, 0, 61, 0, 0, 0, 3, 0, 0, 0]);
        bytes[32..40].copy_from_slice(b"abcdefgh");
        bytes
    }

    /// A preview1 call with fd, iovecs, their count and a result pointer.
    type IoCall = fn(&mut WasiCtx, &mut GuestMemory<'_>, i32, i32, i32, i32) -> Result<i32, Stop>;

    #[test]
    fn reads_and_writes_match_the_generic_path() {
        // fds: stdin (read only), stdout, none; iovecs: both, one, none,
        // a straddling array; results: aligned, not, straddling, outside.
        // Each write, then each read, on the same two contexts.
        let calls: [(&str, IoCall, IoCall); 2] = [
            ("fd_write", preview1::fd_write, generic::fd_write),
            ("fd_read", preview1::fd_read, generic::fd_read),
        ];
        for fd in [0, 1, 2, 3, 9] {
            for (iovs, len) in [(16, 2), (24, 1), (16, 0), (56, 2), (-4, 1)] {
                for out in [0, 2, 60, 62, -1] {
                    let (mut direct_ctx, direct_out) = piped(b"input");
                    let (mut generic_ctx, generic_out) = piped(b"input");
                    for (name, direct_call, generic_call) in calls {
                        let (mut direct, mut generic) = (iovec_memory(), iovec_memory());
                        let mut memory = GuestMemory::Unshared(&mut direct);
                        let d = direct_call(&mut direct_ctx, &mut memory, fd, iovs, len, out);
                        let mut memory = GuestMemory::Unshared(&mut generic);
                        let g = generic_call(&mut generic_ctx, &mut memory, fd, iovs, len, out);
                        let what = format!("{name}({fd}, {iovs}, {len}, {out})");
                        assert_eq!(d, g, "{what}");
                        assert_eq!(direct, generic, "{what}");
                        assert_eq!(
                            *direct_out.read().unwrap(),
                            *generic_out.read().unwrap(),
                            "{what}"
                        );
                    }
                }
            }
        }
    }
}
