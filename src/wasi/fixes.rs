//! Where wasi-common's answers differ from what the WASI test suite (and
//! wasmtime) expect, the syscall glue routes through these corrections.
//! They only combine public syscalls; the constants are the same in both ABIs.

use wasi_common::WasiCtx;
use wiggle::{GuestMemory, GuestPtr};

use super::syscalls::Stop;

const OFLAGS_TRUNC: i32 = 1 << 3;
const FDFLAGS_APPEND: i32 = 1 << 0;
const FDFLAGS_NONBLOCK: i32 = 1 << 2;
const FILETYPE_SOCKET_DGRAM: u8 = 5;
const FILETYPE_SOCKET_STREAM: u8 = 6;
const ERRNO_NOTSOCK: i32 = 57;
/// Size of `fdstat` in both ABIs.
pub const FDSTAT_SIZE: usize = 24;

/// A syscall with all but one `i32` argument bound.
type Syscall1<'a> = &'a mut dyn FnMut(&mut WasiCtx, &mut GuestMemory<'_>, i32) -> Result<i32, Stop>;
/// A syscall with all but two `i32` arguments bound.
type Syscall2<'a> =
    &'a mut dyn FnMut(&mut WasiCtx, &mut GuestMemory<'_>, i32, i32) -> Result<i32, Stop>;

/// `path_open` with `O_TRUNC` and `FDFLAGS_APPEND` at once: the host's
/// `open` options refuse that pair (EINVAL), POSIX allows it. Opens without
/// append, then sets the flags the descriptor may carry afterwards.
///
/// `open(ctx, memory, fdflags)` is the plain path_open; `set_flags(ctx,
/// memory, flags)` is fd_fdstat_set_flags on the descriptor that open wrote
/// to `opened_fd`.
pub fn path_open(
    ctx: &mut WasiCtx,
    memory: &mut GuestMemory<'_>,
    oflags: i32,
    fdflags: i32,
    opened_fd: i32,
    open: Syscall1<'_>,
    set_flags: Syscall2<'_>,
) -> Result<i32, Stop> {
    if oflags & OFLAGS_TRUNC == 0 || fdflags & FDFLAGS_APPEND == 0 {
        return open(ctx, memory, fdflags);
    }
    let errno = open(ctx, memory, fdflags & !FDFLAGS_APPEND)?;
    if errno != 0 {
        return Ok(errno);
    }
    let fd = memory
        .read(GuestPtr::<u32>::new(opened_fd as u32))
        .map_err(|e| Stop::Trap(format!("path_open: {e}")))?;
    set_flags(
        ctx,
        memory,
        fd as i32,
        fdflags & (FDFLAGS_APPEND | FDFLAGS_NONBLOCK),
    )
}

/// `sock_shutdown` on a descriptor that is open but not a socket is
/// ENOTSOCK (wasi-common says EBADF). `fdstat_errno` and `filetype` come
/// from fd_fdstat_get of that descriptor.
pub fn sock_shutdown(
    fdstat_errno: i32,
    filetype: u8,
    shutdown: &mut dyn FnMut() -> Result<i32, Stop>,
) -> Result<i32, Stop> {
    let is_socket = filetype == FILETYPE_SOCKET_DGRAM || filetype == FILETYPE_SOCKET_STREAM;
    if fdstat_errno == 0 && !is_socket {
        return Ok(ERRNO_NOTSOCK);
    }
    shutdown()
}

const ERRNO_NOTSUP: i32 = 58;

/// `sock_accept` on an open descriptor: ENOTSUP, as node:wasi answers (no
/// descriptor here is a listening socket: none can be preopened), where
/// wasi-common says EBADF. A closed descriptor stays EBADF.
/// `fdstat_errno` comes from fd_fdstat_get of that descriptor.
pub fn sock_accept(
    fdstat_errno: i32,
    accept: &mut dyn FnMut() -> Result<i32, Stop>,
) -> Result<i32, Stop> {
    if fdstat_errno == 0 {
        return Ok(ERRNO_NOTSUP);
    }
    accept()
}

/// errno `io`: what wasmtime answers for a host error WASI has no name for.
const ERRNO_IO: i32 = 29;

/// The WASI errno (same numbers in both ABIs; the order of `errno` in
/// witx/preview1/typenames.witx) for a host OS error that
/// wasi-common turned into a trap ("Unknown OS error", e.g. EROFS, EXDEV):
/// the guest gets an errno it can handle, never a trap for a host condition.
pub fn errno_of_os_error(os_errno: i32) -> i32 {
    use libc::*;
    const TABLE: &[(i32, i32)] = &[
        (E2BIG, 1),
        (EACCES, 2),
        (EADDRINUSE, 3),
        (EADDRNOTAVAIL, 4),
        (EAFNOSUPPORT, 5),
        (EAGAIN, 6),
        (EALREADY, 7),
        (EBADF, 8),
        (EBADMSG, 9),
        (EBUSY, 10),
        (ECANCELED, 11),
        (ECHILD, 12),
        (ECONNABORTED, 13),
        (ECONNREFUSED, 14),
        (ECONNRESET, 15),
        (EDEADLK, 16),
        (EDESTADDRREQ, 17),
        (EDOM, 18),
        (EDQUOT, 19),
        (EEXIST, 20),
        (EFAULT, 21),
        (EFBIG, 22),
        (EHOSTUNREACH, 23),
        (EIDRM, 24),
        (EILSEQ, 25),
        (EINPROGRESS, 26),
        (EINTR, 27),
        (EINVAL, 28),
        (EIO, 29),
        (EISCONN, 30),
        (EISDIR, 31),
        (ELOOP, 32),
        (EMFILE, 33),
        (EMLINK, 34),
        (EMSGSIZE, 35),
        (EMULTIHOP, 36),
        (ENAMETOOLONG, 37),
        (ENETDOWN, 38),
        (ENETRESET, 39),
        (ENETUNREACH, 40),
        (ENFILE, 41),
        (ENOBUFS, 42),
        (ENODEV, 43),
        (ENOENT, 44),
        (ENOEXEC, 45),
        (ENOLCK, 46),
        (ENOLINK, 47),
        (ENOMEM, 48),
        (ENOMSG, 49),
        (ENOPROTOOPT, 50),
        (ENOSPC, 51),
        (ENOSYS, 52),
        (ENOTCONN, 53),
        (ENOTDIR, 54),
        (ENOTEMPTY, 55),
        (ENOTRECOVERABLE, 56),
        (ENOTSOCK, 57),
        (ENOTSUP, 58),
        (ENOTTY, 59),
        (ENXIO, 60),
        (EOVERFLOW, 61),
        (EOWNERDEAD, 62),
        (EPERM, 63),
        (EPIPE, 64),
        (EPROTO, 65),
        (EPROTONOSUPPORT, 66),
        (EPROTOTYPE, 67),
        (ERANGE, 68),
        (EROFS, 69),
        (ESPIPE, 70),
        (ESRCH, 71),
        (ESTALE, 72),
        (ETIMEDOUT, 73),
        (ETXTBSY, 74),
        (EXDEV, 75),
    ];
    TABLE
        .iter()
        .find(|(os, _)| *os == os_errno)
        .map_or(ERRNO_IO, |(_, wasi)| *wasi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasi_common::sync::WasiCtxBuilder;

    #[test]
    fn truncating_append_opens_without_append_then_sets_it() {
        let mut ctx = WasiCtxBuilder::new().build();
        let mut bytes = vec![0u8; 16];
        let mut memory = GuestMemory::Unshared(&mut bytes);
        let mut opened_with = None;
        let mut open = |_: &mut WasiCtx, m: &mut GuestMemory<'_>, flags: i32| {
            opened_with = Some(flags);
            m.write(GuestPtr::<u32>::new(8), 5).unwrap();
            Ok(0)
        };
        let mut set_to = None;
        let mut set_flags = |_: &mut WasiCtx, _: &mut GuestMemory<'_>, fd: i32, flags: i32| {
            set_to = Some((fd, flags));
            Ok(0)
        };
        let errno = path_open(
            &mut ctx,
            &mut memory,
            OFLAGS_TRUNC,
            FDFLAGS_APPEND | FDFLAGS_NONBLOCK,
            8,
            &mut open,
            &mut set_flags,
        );
        assert_eq!(errno, Ok(0));
        assert_eq!(opened_with, Some(FDFLAGS_NONBLOCK));
        assert_eq!(set_to, Some((5, FDFLAGS_APPEND | FDFLAGS_NONBLOCK)));
    }

    #[test]
    fn other_opens_pass_through_untouched() {
        let mut ctx = WasiCtxBuilder::new().build();
        let mut bytes = vec![0u8; 16];
        let mut memory = GuestMemory::Unshared(&mut bytes);
        let mut open = |_: &mut WasiCtx, _: &mut GuestMemory<'_>, flags: i32| Ok(100 + flags);
        let mut set_flags =
            |_: &mut WasiCtx, _: &mut GuestMemory<'_>, _: i32, _: i32| -> Result<i32, Stop> {
                panic!("no flags to fix")
            };
        assert_eq!(
            path_open(
                &mut ctx,
                &mut memory,
                OFLAGS_TRUNC,
                0,
                8,
                &mut open,
                &mut set_flags
            ),
            Ok(100)
        );
        assert_eq!(
            path_open(
                &mut ctx,
                &mut memory,
                0,
                FDFLAGS_APPEND,
                8,
                &mut open,
                &mut set_flags
            ),
            Ok(101)
        );
    }

    #[test]
    fn host_errors_map_to_their_wasi_errno() {
        assert_eq!(errno_of_os_error(libc::EROFS), 69);
        assert_eq!(errno_of_os_error(libc::EXDEV), 75);
        assert_eq!(errno_of_os_error(libc::EPIPE), 64);
        assert_eq!(errno_of_os_error(libc::ENOSPC), 51);
        assert_eq!(errno_of_os_error(libc::ENOENT), 44);
        assert_eq!(
            errno_of_os_error(100_000),
            ERRNO_IO,
            "unknown: EIO, as wasmtime"
        );
    }

    #[test]
    fn accept_on_an_open_descriptor_is_enotsup() {
        let mut accept = || Ok(8);
        assert_eq!(sock_accept(0, &mut accept), Ok(ERRNO_NOTSUP));
        assert_eq!(sock_accept(8, &mut accept), Ok(8), "a bad fd stays EBADF");
    }

    #[test]
    fn shutdown_of_a_non_socket_is_enotsock() {
        let mut shutdown = || Ok(8);
        assert_eq!(sock_shutdown(0, 4, &mut shutdown), Ok(ERRNO_NOTSOCK));
        assert_eq!(
            sock_shutdown(8, 0, &mut shutdown),
            Ok(8),
            "a bad fd stays EBADF"
        );
        assert_eq!(
            sock_shutdown(0, FILETYPE_SOCKET_STREAM, &mut shutdown),
            Ok(8)
        );
    }
}
