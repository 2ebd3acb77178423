//! WASI preview1 syscalls, by ABI: the one list of every syscall with its
//! wasm signature, and the glue that runs each on a `WasiCtx` over guest
//! memory borrowed in place.
//!
//! `wasi_snapshot_preview1` and `wasi_unstable` share wasm signatures but not
//! struct layouts or constants; `wasi-common` implements each ABI, so the two
//! namespaces below call into its `preview_1` and `preview_0` modules.
//! `proc_exit` and `sock_accept` are outside the shared list: the first is
//! ours (any exit code, not only 0..126), the second exists in preview1 only.

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use wasi_common::WasiCtx;
use wiggle::GuestMemory;

use super::{clocks, direct, fixes};

/// Why a syscall stops the guest instead of returning an errno to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// `proc_exit(code)`.
    Exit(u32),
    /// A fault of the guest the syscall cannot answer with an errno.
    Trap(String),
    /// A JS host function threw; the JS layer holds the error.
    HostThrew,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Exit(code) => write!(f, "exit with code {code}"),
            Stop::Trap(message) => f.write_str(message),
            Stop::HostThrew => f.write_str("a host function threw"),
        }
    }
}

impl std::error::Error for Stop {}

/// `for_each_shared_syscall!(m!(a, b,))` expands to `m!(a, b, ...)` followed
/// by every syscall both namespaces share, as `(name, [argument: type, ...])`.
/// Every one returns an errno (`i32`).
#[macro_export]
macro_rules! for_each_shared_syscall {
    ($callback:ident ! ( $($prefix:tt)* )) => {
        $callback! {
            $($prefix)*
            (args_get, [argv: i32, argv_buf: i32]),
            (args_sizes_get, [argc: i32, argv_buf_size: i32]),
            (environ_get, [environ: i32, environ_buf: i32]),
            (environ_sizes_get, [count: i32, buf_size: i32]),
            (clock_res_get, [id: i32, resolution: i32]),
            (clock_time_get, [id: i32, precision: i64, time: i32]),
            (fd_advise, [fd: i32, offset: i64, len: i64, advice: i32]),
            (fd_allocate, [fd: i32, offset: i64, len: i64]),
            (fd_close, [fd: i32]),
            (fd_datasync, [fd: i32]),
            (fd_fdstat_get, [fd: i32, stat: i32]),
            (fd_fdstat_set_flags, [fd: i32, flags: i32]),
            (fd_fdstat_set_rights, [fd: i32, base: i64, inheriting: i64]),
            (fd_filestat_get, [fd: i32, stat: i32]),
            (fd_filestat_set_size, [fd: i32, size: i64]),
            (fd_filestat_set_times, [fd: i32, atim: i64, mtim: i64, fst_flags: i32]),
            (fd_pread, [fd: i32, iovs: i32, iovs_len: i32, offset: i64, nread: i32]),
            (fd_prestat_get, [fd: i32, prestat: i32]),
            (fd_prestat_dir_name, [fd: i32, path: i32, path_len: i32]),
            (fd_pwrite, [fd: i32, iovs: i32, iovs_len: i32, offset: i64, nwritten: i32]),
            (fd_read, [fd: i32, iovs: i32, iovs_len: i32, nread: i32]),
            (fd_readdir, [fd: i32, buf: i32, buf_len: i32, cookie: i64, bufused: i32]),
            (fd_renumber, [fd: i32, to: i32]),
            (fd_seek, [fd: i32, offset: i64, whence: i32, newoffset: i32]),
            (fd_sync, [fd: i32]),
            (fd_tell, [fd: i32, offset: i32]),
            (fd_write, [fd: i32, iovs: i32, iovs_len: i32, nwritten: i32]),
            (path_create_directory, [fd: i32, path: i32, path_len: i32]),
            (path_filestat_get, [fd: i32, flags: i32, path: i32, path_len: i32, stat: i32]),
            (path_filestat_set_times, [fd: i32, flags: i32, path: i32, path_len: i32, atim: i64, mtim: i64, fst_flags: i32]),
            (path_link, [old_fd: i32, old_flags: i32, old_path: i32, old_path_len: i32, new_fd: i32, new_path: i32, new_path_len: i32]),
            (path_open, [fd: i32, dirflags: i32, path: i32, path_len: i32, oflags: i32, rights_base: i64, rights_inheriting: i64, fdflags: i32, opened_fd: i32]),
            (path_readlink, [fd: i32, path: i32, path_len: i32, buf: i32, buf_len: i32, bufused: i32]),
            (path_remove_directory, [fd: i32, path: i32, path_len: i32]),
            (path_rename, [fd: i32, old_path: i32, old_path_len: i32, new_fd: i32, new_path: i32, new_path_len: i32]),
            (path_symlink, [old_path: i32, old_path_len: i32, fd: i32, new_path: i32, new_path_len: i32]),
            (path_unlink_file, [fd: i32, path: i32, path_len: i32]),
            (poll_oneoff, [subscriptions: i32, events: i32, nsubscriptions: i32, nevents: i32]),
            (proc_raise, [signal: i32]),
            (sched_yield, []),
            (random_get, [buf: i32, buf_len: i32]),
            (sock_recv, [fd: i32, ri_data: i32, ri_data_len: i32, ri_flags: i32, ro_datalen: i32, ro_flags: i32]),
            (sock_send, [fd: i32, si_data: i32, si_data_len: i32, si_flags: i32, so_datalen: i32]),
            (sock_shutdown, [fd: i32, how: i32])
        }
    };
}

/// errno `fault`, in both ABIs.
const ERRNO_FAULT: i32 = 21;

/// Turns what a `wasi-common` syscall returned into an errno or a stop.
/// A pointer or length outside guest memory is EFAULT for the guest to
/// handle (as in node:wasi), never an access outside memory nor a trap; a
/// host OS error wasi-common has no errno for becomes its WASI errno.
fn finish(outcome: wiggle::error::Result<wiggle::error::Result<i32>>) -> Result<i32, Stop> {
    match outcome {
        Ok(Ok(errno)) => Ok(errno),
        Ok(Err(err)) | Err(err) => {
            if let Some(exit) = err.downcast_ref::<wasi_common::I32Exit>() {
                Err(Stop::Exit(exit.0 as u32))
            } else if err.downcast_ref::<wiggle::GuestError>().is_some() {
                Ok(ERRNO_FAULT)
            } else if let Some(os_errno) = err
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::raw_os_error)
            {
                Ok(fixes::errno_of_os_error(os_errno))
            } else {
                Err(Stop::Trap(format!("WASI syscall failed: {err:#}")))
            }
        }
    }
}

/// `proc_exit` in both namespaces: every `u32` is a valid exit code (Go's
/// `os.Exit(255)` must give 255, not a trap).
pub fn proc_exit(code: i32) -> Stop {
    Stop::Exit(code as u32)
}

/// Polls a future that is ready at once, on the stack (wiggle's
/// `run_in_dummy_executor` boxes it: an allocation per syscall).
pub(super) fn run_ready<F: Future>(future: F) -> wiggle::error::Result<F::Output> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Ok(output),
        Poll::Pending => Err(wiggle::error::Error::msg(
            "a WASI syscall tried to wait on a future",
        )),
    }
}

/// Runs one wasi-common syscall to completion: the `sync` implementations
/// block rather than wait, so their futures are ready when first polled.
macro_rules! run {
    ($imp:ident :: $name:ident ($($arg:expr),*)) => {
        finish(run_ready($imp::$name($($arg),*)))
    };
}

/// `direct`'s answer to a call, or wasi-common's glue's where `direct` has
/// none (anything but success).
macro_rules! direct_or_glue {
    ($imp:ident :: $name:ident ($($arg:expr),*)) => {
        match direct::$name($($arg),*) {
            Some(errno) => Ok(errno),
            None => run!($imp::$name($($arg),*)),
        }
    };
}

/// The body of one syscall: wasi-common's, a correction from `fixes`, or
/// (the hottest of preview1) a direct call from `direct`, falling back to
/// wasi-common's glue for anything but success.
macro_rules! syscall_body {
    (preview1, args_sizes_get, $imp:ident, $ctx:ident, $memory:ident, [$argc:ident, $size:ident]) => {
        direct_or_glue!($imp::args_sizes_get($ctx, $memory, $argc, $size))
    };
    (preview1, environ_sizes_get, $imp:ident, $ctx:ident, $memory:ident, [$count:ident, $size:ident]) => {
        direct_or_glue!($imp::environ_sizes_get($ctx, $memory, $count, $size))
    };
    (preview1, clock_time_get, $imp:ident, $ctx:ident, $memory:ident, [$id:ident, $precision:ident, $time:ident]) => {
        clocks::clock_query($memory, $id, false, $time, &mut |memory, at| {
            direct_or_glue!($imp::clock_time_get($ctx, memory, $id, $precision, at))
        })
    };
    (preview1, fd_write, $imp:ident, $ctx:ident, $memory:ident, [$fd:ident, $iovs:ident, $len:ident, $out:ident]) => {
        finish(Ok(direct::fd_write($ctx, $memory, $fd, $iovs, $len, $out)))
    };
    (preview1, fd_read, $imp:ident, $ctx:ident, $memory:ident, [$fd:ident, $iovs:ident, $len:ident, $out:ident]) => {
        finish(Ok(direct::fd_read($ctx, $memory, $fd, $iovs, $len, $out)))
    };
    ($namespace:ident, $($rest:tt)*) => {
        syscall_body!(@any $($rest)*)
    };
    (@any path_open, $imp:ident, $ctx:ident, $memory:ident,
     [$fd:ident, $dirflags:ident, $path:ident, $path_len:ident, $oflags:ident,
      $base:ident, $inheriting:ident, $fdflags:ident, $opened_fd:ident]) => {
        fixes::path_open(
            $ctx, $memory, $oflags, $fdflags, $opened_fd,
            &mut |ctx, memory, fdflags| run!($imp::path_open(
                ctx, memory, $fd, $dirflags, $path, $path_len, $oflags, $base, $inheriting,
                fdflags, $opened_fd
            )),
            &mut |ctx, memory, fd, flags| run!($imp::fd_fdstat_set_flags(ctx, memory, fd, flags)),
        )
    };
    (@any clock_time_get, $imp:ident, $ctx:ident, $memory:ident, [$id:ident, $precision:ident, $time:ident]) => {
        clocks::clock_query($memory, $id, false, $time, &mut |memory, at| {
            run!($imp::clock_time_get($ctx, memory, $id, $precision, at))
        })
    };
    (@any clock_res_get, $imp:ident, $ctx:ident, $memory:ident, [$id:ident, $resolution:ident]) => {
        clocks::clock_query($memory, $id, true, $resolution, &mut |memory, at| {
            run!($imp::clock_res_get($ctx, memory, $id, at))
        })
    };
    (@any sock_accept, $imp:ident, $ctx:ident, $memory:ident, [$fd:ident, $flags:ident, $result_fd:ident]) => {{
        let mut fdstat = [0u8; fixes::FDSTAT_SIZE];
        let fdstat_errno = run!($imp::fd_fdstat_get($ctx, &mut GuestMemory::Unshared(&mut fdstat), $fd, 0))?;
        fixes::sock_accept(fdstat_errno, &mut || run!($imp::sock_accept($ctx, $memory, $fd, $flags, $result_fd)))
    }};
    (@any sock_shutdown, $imp:ident, $ctx:ident, $memory:ident, [$fd:ident, $how:ident]) => {{
        let mut fdstat = [0u8; fixes::FDSTAT_SIZE];
        let fdstat_errno = run!($imp::fd_fdstat_get($ctx, &mut GuestMemory::Unshared(&mut fdstat), $fd, 0))?;
        fixes::sock_shutdown(fdstat_errno, fdstat[0], &mut || run!($imp::sock_shutdown($ctx, $memory, $fd, $how)))
    }};
    (@any $name:ident, $imp:ident, $ctx:ident, $memory:ident, [$($arg:ident),*]) => {
        run!($imp::$name($ctx, $memory $(, $arg)*))
    };
}

macro_rules! namespace {
    ($namespace:ident, $implementation:path, $(($name:ident, [$($arg:ident : $ty:ty),*])),*) => {
        pub mod $namespace {
            use super::*;
            use $implementation as imp;
            $(
                #[allow(clippy::too_many_arguments)]
                pub fn $name(
                    ctx: &mut WasiCtx,
                    memory: &mut GuestMemory<'_>,
                    $($arg: $ty),*
                ) -> Result<i32, Stop> {
                    crate::panic_guard::test_panic("syscall");
                    syscall_body!($namespace, $name, imp, ctx, memory, [$($arg),*])
                }
            )*
        }
    };
}

crate::for_each_shared_syscall!(namespace!(
    preview1,
    wasi_common::snapshots::preview_1::wasi_snapshot_preview1,
    (sock_accept, [fd: i32, flags: i32, result_fd: i32]),
));
crate::for_each_shared_syscall!(namespace!(
    unstable,
    wasi_common::snapshots::preview_0::wasi_unstable,
));

/// preview1's hottest calls through wasi-common's glue only, for the tests
/// that hold `direct` to it.
#[cfg(test)]
pub mod generic {
    use super::*;
    use wasi_common::snapshots::preview_1::wasi_snapshot_preview1 as imp;

    macro_rules! glue_only {
        ($(fn $name:ident($($arg:ident: $ty:ty),*);)*) => {$(
            pub fn $name(
                ctx: &mut WasiCtx,
                memory: &mut GuestMemory<'_>,
                $($arg: $ty),*
            ) -> Result<i32, Stop> {
                run!(imp::$name(ctx, memory $(, $arg)*))
            }
        )*};
    }

    glue_only! {
        fn args_sizes_get(count: i32, size: i32);
        fn environ_sizes_get(count: i32, size: i32);
        fn clock_time_get(id: i32, precision: i64, at: i32);
        fn fd_write(fd: i32, iovs: i32, len: i32, out: i32);
        fn fd_read(fd: i32, iovs: i32, len: i32, out: i32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasi_common::sync::WasiCtxBuilder;

    fn ctx_with_args(args: &[&str]) -> WasiCtx {
        let mut builder = WasiCtxBuilder::new();
        for arg in args {
            builder.arg(arg).unwrap();
        }
        builder.build()
    }

    fn bytes_snapshot(memory: &GuestMemory<'_>) -> Vec<u8> {
        match memory {
            GuestMemory::Unshared(bytes) => bytes.to_vec(),
            GuestMemory::Shared(_) => unreachable!(),
        }
    }

    #[test]
    fn args_sizes_get_writes_both_counts_into_guest_memory() {
        let mut ctx = ctx_with_args(&["prog", "ab"]);
        let mut bytes = vec![0u8; 64];
        let mut memory = GuestMemory::Unshared(&mut bytes);
        assert_eq!(
            preview1::args_sizes_get(&mut ctx, &mut memory, 8, 12),
            Ok(0)
        );
        assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 2);
        assert_eq!(u32::from_le_bytes(bytes[12..16].try_into().unwrap()), 8);
    }

    #[test]
    fn a_pointer_past_the_end_of_memory_is_an_errno_not_a_fault() {
        let mut ctx = ctx_with_args(&["prog"]);
        let mut bytes = vec![0u8; 16];
        let mut memory = GuestMemory::Unshared(&mut bytes);
        assert_eq!(
            unstable::args_sizes_get(&mut ctx, &mut memory, 14, 60),
            Ok(ERRNO_FAULT)
        );
        assert_eq!(
            bytes_snapshot(&memory),
            vec![0; 16],
            "a straddling write writes nothing"
        );
        assert_eq!(
            preview1::args_sizes_get(&mut ctx, &mut memory, u32::MAX as i32, 0),
            Ok(ERRNO_FAULT)
        );
    }

    #[test]
    fn the_two_namespaces_lay_out_filestat_differently() {
        // preview1's filestat is 64 bytes (8-byte nlink), preview0's is 56
        // (4-byte nlink): for the same file, only preview1 writes bytes 56..64.
        let mut ctx = ctx_with_args(&[]);
        let mut p1 = vec![0xAAu8; 128];
        let mut p0 = vec![0xAAu8; 128];
        let e1 = preview1::fd_filestat_get(&mut ctx, &mut GuestMemory::Unshared(&mut p1), 0, 0);
        let e0 = unstable::fd_filestat_get(&mut ctx, &mut GuestMemory::Unshared(&mut p0), 0, 0);
        assert_eq!((e1, e0), (Ok(0), Ok(0)));
        assert_eq!(p0[56..64], [0xAA; 8]);
        assert_ne!(p1[56..64], [0xAA; 8]);
    }

    #[test]
    fn proc_exit_keeps_every_code() {
        assert_eq!(proc_exit(255), Stop::Exit(255));
        assert_eq!(proc_exit(-1), Stop::Exit(u32::MAX));
    }
}
