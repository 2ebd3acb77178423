//! The guest's fd 0, 1 and 2: host file descriptors as in node:wasi
//! (`HostFd`), or streams into JS for `run()` (`JsOutput`).
//!
//! Writes go straight to the descriptor, unbuffered, so the guest's output
//! interleaves with Node's own in the order it was written. Node may have put
//! a pipe into non-blocking mode; the guest expects blocking I/O, so a
//! `WouldBlock` waits for the descriptor with poll(2) instead of surfacing as
//! EAGAIN and losing the guest's bytes. Reads wait for data first, in slices,
//! so a stop request (`timeout`, `signal`) ends a guest blocked on stdin.

use std::any::Any;
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, IsTerminal, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;

use wasi_common::file::{FdFlags, FileType, Filestat, WasiFile};
use wasi_common::{Error, ErrorExt};

use crate::interrupt::Interrupt;

/// A duplicate of a host descriptor, owned by one guest fd.
pub struct HostFd {
    file: File,
    /// Whether the guest sees it opened for appending (stdout, stderr).
    append: bool,
    interrupt: Arc<Interrupt>,
}

impl HostFd {
    /// Duplicates `fd`, so the guest closing its fd never closes Node's.
    pub fn dup(fd: RawFd, append: bool, interrupt: Arc<Interrupt>) -> io::Result<Self> {
        if fd < 0 {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        // SAFETY: the descriptor is only borrowed for the duration of the dup;
        // an invalid one makes the dup fail with EBADF.
        let owned = unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()?;
        Ok(HostFd {
            file: File::from(owned),
            append,
            interrupt,
        })
    }

    /// A host socket shows as `Unknown`, as in wasmtime: stdio is a stream
    /// to the guest, not a WASI socket it could `sock_shutdown` (Node's
    /// child processes get socketpairs for their pipes).
    fn metadata_type(&self) -> FileType {
        use std::os::unix::fs::FileTypeExt;
        if self.file.is_terminal() {
            return FileType::CharacterDevice;
        }
        match self.file.metadata().map(|m| m.file_type()) {
            Ok(t) if t.is_file() => FileType::RegularFile,
            Ok(t) if t.is_dir() => FileType::Directory,
            Ok(t) if t.is_char_device() => FileType::CharacterDevice,
            Ok(t) if t.is_block_device() => FileType::BlockDevice,
            _ => FileType::Unknown,
        }
    }
}

/// Retries `op` while the descriptor is non-blocking and not ready.
fn blocking<T>(
    interrupt: &Interrupt,
    fd: RawFd,
    events: i16,
    mut op: impl FnMut() -> io::Result<T>,
) -> io::Result<T> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => interrupt.wait_for(fd, events)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => interrupt.check()?,
            other => return other,
        }
    }
}

fn to_u64(n: usize) -> Result<u64, Error> {
    u64::try_from(n).map_err(|_| Error::overflow())
}

#[async_trait::async_trait]
impl WasiFile for HostFd {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn pollable(&self) -> Option<BorrowedFd<'_>> {
        Some(self.file.as_fd())
    }

    fn isatty(&self) -> bool {
        self.file.is_terminal()
    }

    async fn get_filetype(&self) -> Result<FileType, Error> {
        Ok(self.metadata_type())
    }

    async fn get_fdflags(&self) -> Result<FdFlags, Error> {
        Ok(if self.append {
            FdFlags::APPEND
        } else {
            FdFlags::empty()
        })
    }

    async fn get_filestat(&self) -> Result<Filestat, Error> {
        use std::os::unix::fs::MetadataExt;
        let meta = self.file.metadata()?;
        Ok(Filestat {
            device_id: meta.dev(),
            inode: meta.ino(),
            filetype: self.metadata_type(),
            nlink: meta.nlink(),
            size: meta.len(),
            atim: meta.accessed().ok(),
            mtim: meta.modified().ok(),
            ctim: meta.created().ok(),
        })
    }

    async fn read_vectored<'a>(&self, bufs: &mut [IoSliceMut<'a>]) -> Result<u64, Error> {
        let fd = self.file.as_raw_fd();
        // Wait for data before a read that could block for ever.
        self.interrupt.wait_for(fd, libc::POLLIN)?;
        let n = blocking(&self.interrupt, fd, libc::POLLIN, || {
            (&self.file).read_vectored(bufs)
        })?;
        to_u64(n)
    }

    async fn write_vectored<'a>(&self, bufs: &[IoSlice<'a>]) -> Result<u64, Error> {
        let fd = self.file.as_raw_fd();
        let n = blocking(&self.interrupt, fd, libc::POLLOUT, || {
            (&self.file).write_vectored(bufs)
        })?;
        to_u64(n)
    }

    async fn seek(&self, pos: SeekFrom) -> Result<u64, Error> {
        if self.metadata_type() != FileType::RegularFile {
            return Err(Error::seek_pipe());
        }
        Ok((&self.file).seek(pos)?)
    }
}

/// Where a `run()`'s piped or streamed stdout and stderr go: the run's
/// channel to the main thread.
pub trait OutputSink: Send + Sync {
    /// Hands `bytes` of `stream` (1 or 2) to JS, in order.
    fn write(&self, stream: u32, bytes: Vec<u8>) -> io::Result<()>;
}

/// The guest's stdout or stderr streaming into JS.
pub struct JsOutput {
    pub stream: u32,
    pub sink: Arc<dyn OutputSink>,
}

#[async_trait::async_trait]
impl WasiFile for JsOutput {
    fn as_any(&self) -> &dyn Any {
        self
    }

    async fn get_filetype(&self) -> Result<FileType, Error> {
        Ok(FileType::Pipe)
    }

    async fn get_fdflags(&self) -> Result<FdFlags, Error> {
        Ok(FdFlags::APPEND)
    }

    async fn write_vectored<'a>(&self, bufs: &[IoSlice<'a>]) -> Result<u64, Error> {
        let bytes: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        let n = bytes.len();
        if n > 0 {
            self.sink.write(self.stream, bytes)?;
        }
        to_u64(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::IntoRawFd;

    fn run<F: std::future::Future>(f: F) -> F::Output {
        wiggle::run_in_dummy_executor(f).expect("future is ready at once")
    }

    #[test]
    fn rejects_a_bad_descriptor() {
        assert!(HostFd::dup(-1, false, Default::default()).is_err());
        assert!(HostFd::dup(1 << 20, false, Default::default()).is_err());
    }

    #[test]
    fn writes_through_a_full_non_blocking_pipe_without_losing_bytes() {
        let (reader, writer) = std::io::pipe().unwrap();
        let writer_fd = writer.into_raw_fd();
        // SAFETY: writer_fd is a pipe we own.
        unsafe {
            let flags = libc::fcntl(writer_fd, libc::F_GETFL);
            libc::fcntl(writer_fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        let out = HostFd::dup(writer_fd, true, Default::default()).unwrap();
        // SAFETY: our own descriptor, closed once; `out` holds a duplicate.
        unsafe { libc::close(writer_fd) };
        let chunk = vec![7u8; 1 << 20]; // larger than a pipe's buffer
        let drain = std::thread::spawn(move || {
            let mut all = Vec::new();
            let mut reader = reader;
            reader.read_to_end(&mut all).unwrap();
            all.len()
        });
        let mut written = 0;
        while written < chunk.len() {
            written +=
                run(out.write_vectored(&[IoSlice::new(&chunk[written..])])).unwrap() as usize;
        }
        drop(out);
        assert_eq!(drain.join().unwrap(), chunk.len());
    }
}
