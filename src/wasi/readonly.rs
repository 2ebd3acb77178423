//! The rules of a read-only mount: which opens would change the host, the
//! error every change gets (EROFS, errno 69), and `ReadOnlyFile`, a file
//! opened beneath a read-only mount that serves reads and refuses changes.
//!
//! The directory side is `super::host_dir::HostDir`.

use std::any::Any;
use std::io::{IoSlice, IoSliceMut, SeekFrom};
use std::os::fd::BorrowedFd;

use wasi_common::file::{Advice, FdFlags, FileType, Filestat, OFlags, WasiFile};
use wasi_common::snapshots::preview_1::types::Errno;
use wasi_common::{Error, SystemTimeSpec};

/// What every change beneath a read-only mount answers: EROFS, as a
/// read-only filesystem would (the same errno in both ABIs).
pub fn read_only_error() -> Error {
    Error::from(Errno::Rofs).context("read-only mount")
}

/// Whether a `path_open` would change the file or create one: opened for
/// writing, created, truncated, or appended to (Rust's `append` opens for
/// writing too).
pub fn open_changes_host(oflags: OFlags, write: bool, fdflags: FdFlags) -> bool {
    write
        || oflags.intersects(OFlags::CREATE | OFlags::EXCLUSIVE | OFlags::TRUNCATE)
        || fdflags.contains(FdFlags::APPEND)
}

/// A file opened beneath a read-only mount. It was opened without write
/// access, but a descriptor opened for reading may still set its times or,
/// on some systems, its size; those and every write are refused here.
pub struct ReadOnlyFile(Box<dyn WasiFile>);

impl ReadOnlyFile {
    pub fn new(file: Box<dyn WasiFile>) -> Self {
        ReadOnlyFile(file)
    }
}

#[async_trait::async_trait]
impl WasiFile for ReadOnlyFile {
    fn as_any(&self) -> &dyn Any {
        self
    }

    // The scheduler polls this descriptor for `poll_oneoff`.
    fn pollable(&self) -> Option<BorrowedFd<'_>> {
        self.0.pollable()
    }

    fn isatty(&self) -> bool {
        self.0.isatty()
    }

    async fn get_filetype(&self) -> Result<FileType, Error> {
        self.0.get_filetype().await
    }

    async fn datasync(&self) -> Result<(), Error> {
        self.0.datasync().await
    }

    async fn sync(&self) -> Result<(), Error> {
        self.0.sync().await
    }

    async fn get_fdflags(&self) -> Result<FdFlags, Error> {
        self.0.get_fdflags().await
    }

    // Append mode on a descriptor that cannot write changes nothing.
    async fn set_fdflags(&mut self, flags: FdFlags) -> Result<(), Error> {
        self.0.set_fdflags(flags).await
    }

    async fn get_filestat(&self) -> Result<Filestat, Error> {
        self.0.get_filestat().await
    }

    async fn set_filestat_size(&self, _size: u64) -> Result<(), Error> {
        Err(read_only_error())
    }

    async fn advise(&self, offset: u64, len: u64, advice: Advice) -> Result<(), Error> {
        self.0.advise(offset, len, advice).await
    }

    async fn set_times(
        &self,
        _atime: Option<SystemTimeSpec>,
        _mtime: Option<SystemTimeSpec>,
    ) -> Result<(), Error> {
        Err(read_only_error())
    }

    async fn read_vectored<'a>(&self, bufs: &mut [IoSliceMut<'a>]) -> Result<u64, Error> {
        self.0.read_vectored(bufs).await
    }

    async fn read_vectored_at<'a>(
        &self,
        bufs: &mut [IoSliceMut<'a>],
        offset: u64,
    ) -> Result<u64, Error> {
        self.0.read_vectored_at(bufs, offset).await
    }

    async fn write_vectored<'a>(&self, _bufs: &[IoSlice<'a>]) -> Result<u64, Error> {
        Err(read_only_error())
    }

    async fn write_vectored_at<'a>(
        &self,
        _bufs: &[IoSlice<'a>],
        _offset: u64,
    ) -> Result<u64, Error> {
        Err(read_only_error())
    }

    async fn seek(&self, pos: SeekFrom) -> Result<u64, Error> {
        self.0.seek(pos).await
    }

    async fn peek(&self, buf: &mut [u8]) -> Result<u64, Error> {
        self.0.peek(buf).await
    }

    fn num_ready_bytes(&self) -> Result<u64, Error> {
        self.0.num_ready_bytes()
    }

    async fn readable(&self) -> Result<(), Error> {
        self.0.readable().await
    }

    async fn writable(&self) -> Result<(), Error> {
        self.0.writable().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasi::host_dir::test_support::{errno_of, ready};

    /// A file that records whether anything reached it.
    struct Recorder;

    #[async_trait::async_trait]
    impl WasiFile for Recorder {
        fn as_any(&self) -> &dyn Any {
            self
        }
        async fn get_filetype(&self) -> Result<FileType, Error> {
            Ok(FileType::RegularFile)
        }
        async fn read_vectored<'a>(&self, _bufs: &mut [IoSliceMut<'a>]) -> Result<u64, Error> {
            Ok(7)
        }
        async fn write_vectored<'a>(&self, _bufs: &[IoSlice<'a>]) -> Result<u64, Error> {
            panic!("a write reached the file")
        }
        async fn set_filestat_size(&self, _size: u64) -> Result<(), Error> {
            panic!("a truncation reached the file")
        }
        async fn set_times(
            &self,
            _atime: Option<SystemTimeSpec>,
            _mtime: Option<SystemTimeSpec>,
        ) -> Result<(), Error> {
            panic!("set_times reached the file")
        }
    }

    #[test]
    fn only_plain_reads_leave_the_host_alone() {
        let none = (OFlags::empty(), FdFlags::empty());
        assert!(!open_changes_host(none.0, false, none.1));
        assert!(!open_changes_host(
            OFlags::DIRECTORY,
            false,
            FdFlags::NONBLOCK
        ));
        assert!(open_changes_host(none.0, true, none.1));
        assert!(open_changes_host(OFlags::CREATE, false, none.1));
        assert!(open_changes_host(OFlags::EXCLUSIVE, false, none.1));
        assert!(open_changes_host(OFlags::TRUNCATE, false, none.1));
        assert!(open_changes_host(none.0, false, FdFlags::APPEND));
    }

    #[test]
    fn a_read_only_file_reads_and_refuses_every_change() {
        let file = ReadOnlyFile::new(Box::new(Recorder));
        let mut buf = [0u8; 4];
        assert_eq!(
            ready(file.read_vectored(&mut [IoSliceMut::new(&mut buf)])).unwrap(),
            7
        );
        let rofs = Some(Errno::Rofs);
        assert_eq!(
            errno_of(ready(file.write_vectored(&[IoSlice::new(b"x")]))),
            rofs
        );
        assert_eq!(
            errno_of(ready(file.write_vectored_at(&[IoSlice::new(b"x")], 0))),
            rofs
        );
        assert_eq!(errno_of(ready(file.set_filestat_size(0))), rofs);
        assert_eq!(
            errno_of(ready(
                file.set_times(None, Some(SystemTimeSpec::SymbolicNow))
            )),
            rofs
        );
    }
}
