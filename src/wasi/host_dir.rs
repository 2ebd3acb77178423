//! A host directory as the guest sees it: a preopen, or a directory opened
//! beneath one, writable or read-only.
//!
//! Every directory the guest holds is a `HostDir`, writable ones too: a
//! rename or link between two directories must know whether its destination
//! is read-only, and wasi-common's own `Dir` cannot tell (it downcasts the
//! destination to itself and answers EBADF for anything else). Reads and
//! writable changes go straight to wasi-common's `Dir` on cap-std, which
//! keeps every path beneath the directory's handle. A path cap-std refuses
//! for leading out answers ENOTCAPABLE, as in node:wasi (`super::escape`).

use std::any::Any;
use std::path::PathBuf;

use wasi_common::dir::{OpenResult, ReaddirCursor, ReaddirEntity, WasiDir};
use wasi_common::file::{FdFlags, Filestat, OFlags};
use wasi_common::sync::dir::{Dir, OpenResult as SyncOpenResult};
use wasi_common::{Error, ErrorExt, SystemTimeSpec};

use super::escape::escape_is_notcapable;
use super::readonly::{open_changes_host, read_only_error, ReadOnlyFile};

pub struct HostDir {
    dir: Dir,
    read_only: bool,
}

impl HostDir {
    pub fn new(dir: cap_std::fs::Dir, read_only: bool) -> Self {
        HostDir {
            dir: Dir::from_cap_std(dir),
            read_only,
        }
    }

    /// EROFS when this directory is beneath a read-only mount.
    fn check_writable(&self) -> Result<(), Error> {
        if self.read_only {
            Err(read_only_error())
        } else {
            Ok(())
        }
    }

    /// The other end of a rename or link, when both may change: EROFS if
    /// either is read-only, EBADF for a directory that is not ours.
    fn writable_peer<'a>(&self, other: &'a dyn WasiDir) -> Result<&'a HostDir, Error> {
        self.check_writable()?;
        let other = other
            .as_any()
            .downcast_ref::<HostDir>()
            .ok_or_else(|| Error::badf().context("not a host directory"))?;
        other.check_writable()?;
        Ok(other)
    }
}

#[async_trait::async_trait]
impl WasiDir for HostDir {
    fn as_any(&self) -> &dyn Any {
        self
    }

    async fn open_file(
        &self,
        symlink_follow: bool,
        path: &str,
        oflags: OFlags,
        read: bool,
        write: bool,
        fdflags: FdFlags,
    ) -> Result<OpenResult, Error> {
        if open_changes_host(oflags, write, fdflags) {
            self.check_writable()?;
        }
        let opened = self
            .dir
            .open_file_(symlink_follow, path, oflags, read, write, fdflags);
        let opened = escape_is_notcapable(opened, &self.dir, path, symlink_follow).await?;
        Ok(match opened {
            SyncOpenResult::Dir(dir) => OpenResult::Dir(Box::new(HostDir {
                dir,
                read_only: self.read_only,
            })),
            SyncOpenResult::File(file) if self.read_only => {
                OpenResult::File(Box::new(ReadOnlyFile::new(Box::new(file))))
            }
            SyncOpenResult::File(file) => OpenResult::File(Box::new(file)),
        })
    }

    async fn create_dir(&self, path: &str) -> Result<(), Error> {
        self.check_writable()?;
        escape_is_notcapable(self.dir.create_dir(path).await, &self.dir, path, false).await
    }

    async fn readdir(
        &self,
        cursor: ReaddirCursor,
    ) -> Result<Box<dyn Iterator<Item = Result<ReaddirEntity, Error>> + Send>, Error> {
        self.dir.readdir(cursor).await
    }

    async fn symlink(&self, old_path: &str, new_path: &str) -> Result<(), Error> {
        self.check_writable()?;
        let result = self.dir.symlink(old_path, new_path).await;
        escape_is_notcapable(result, &self.dir, new_path, false).await
    }

    async fn remove_dir(&self, path: &str) -> Result<(), Error> {
        self.check_writable()?;
        escape_is_notcapable(self.dir.remove_dir(path).await, &self.dir, path, false).await
    }

    async fn unlink_file(&self, path: &str) -> Result<(), Error> {
        self.check_writable()?;
        escape_is_notcapable(self.dir.unlink_file(path).await, &self.dir, path, false).await
    }

    async fn read_link(&self, path: &str) -> Result<PathBuf, Error> {
        escape_is_notcapable(self.dir.read_link(path).await, &self.dir, path, false).await
    }

    async fn get_filestat(&self) -> Result<Filestat, Error> {
        self.dir.get_filestat().await
    }

    async fn get_path_filestat(
        &self,
        path: &str,
        follow_symlinks: bool,
    ) -> Result<Filestat, Error> {
        let result = self.dir.get_path_filestat(path, follow_symlinks).await;
        escape_is_notcapable(result, &self.dir, path, follow_symlinks).await
    }

    async fn rename(
        &self,
        path: &str,
        dest_dir: &dyn WasiDir,
        dest_path: &str,
    ) -> Result<(), Error> {
        let dest_dir = self.writable_peer(dest_dir)?;
        let result = self.dir.rename_(path, &dest_dir.dir, dest_path);
        let result = escape_is_notcapable(result, &self.dir, path, false).await;
        escape_is_notcapable(result, &dest_dir.dir, dest_path, false).await
    }

    async fn hard_link(
        &self,
        path: &str,
        target_dir: &dyn WasiDir,
        target_path: &str,
    ) -> Result<(), Error> {
        let target_dir = self.writable_peer(target_dir)?;
        let result = self.dir.hard_link_(path, &target_dir.dir, target_path);
        let result = escape_is_notcapable(result, &self.dir, path, false).await;
        escape_is_notcapable(result, &target_dir.dir, target_path, false).await
    }

    async fn set_times(
        &self,
        path: &str,
        atime: Option<SystemTimeSpec>,
        mtime: Option<SystemTimeSpec>,
        follow_symlinks: bool,
    ) -> Result<(), Error> {
        self.check_writable()?;
        let result = self
            .dir
            .set_times(path, atime, mtime, follow_symlinks)
            .await;
        escape_is_notcapable(result, &self.dir, path, follow_symlinks).await
    }
}

/// Helpers for the unit tests of this module and `readonly`.
#[cfg(test)]
pub mod test_support {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use wasi_common::snapshots::preview_1::types::Errno;
    use wasi_common::Error;

    /// Polls a future that is ready at once (the `sync` implementations are).
    pub fn ready<F: Future>(future: F) -> F::Output {
        match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("the future waited"),
        }
    }

    /// The errno of a failed call; `None` when it succeeded.
    pub fn errno_of<T>(result: Result<T, Error>) -> Option<Errno> {
        result.err().map(|e| *e.downcast_ref().expect("an errno"))
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{errno_of, ready};
    use super::*;
    use cap_std::ambient_authority;
    use std::fs;
    use wasi_common::snapshots::preview_1::types::Errno;

    /// A fresh host directory holding `file.txt` ("data") and `sub/`,
    /// removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let root =
                std::env::temp_dir().join(format!("x-wasi-host-dir-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(root.join("sub")).unwrap();
            fs::write(root.join("file.txt"), "data").unwrap();
            Scratch(root)
        }

        fn open(&self, read_only: bool) -> HostDir {
            let dir = cap_std::fs::Dir::open_ambient_dir(&self.0, ambient_authority()).unwrap();
            HostDir::new(dir, read_only)
        }

        /// Every name in the tree with its contents (files) or `/` (dirs).
        fn listing(&self) -> Vec<(String, String)> {
            let mut out = Vec::new();
            let mut pending = vec![self.0.clone()];
            while let Some(dir) = pending.pop() {
                for entry in fs::read_dir(&dir).unwrap() {
                    let path = entry.unwrap().path();
                    let name = path.strip_prefix(&self.0).unwrap().display().to_string();
                    if path.is_dir() {
                        out.push((name, "/".into()));
                        pending.push(path);
                    } else {
                        out.push((name, fs::read_to_string(&path).unwrap()));
                    }
                }
            }
            out.sort();
            out
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn open(dir: &HostDir, path: &str, oflags: OFlags, write: bool) -> Result<OpenResult, Error> {
        ready(dir.open_file(false, path, oflags, true, write, FdFlags::empty()))
    }

    #[test]
    fn a_read_only_dir_reads() {
        let scratch = Scratch::new("reads");
        let dir = scratch.open(true);
        let Ok(OpenResult::File(file)) = open(&dir, "file.txt", OFlags::empty(), false) else {
            panic!("file.txt opens for reading");
        };
        let mut buf = [0u8; 8];
        let n = ready(file.read_vectored(&mut [std::io::IoSliceMut::new(&mut buf)])).unwrap();
        assert_eq!(&buf[..n as usize], b"data");
        let names: Vec<String> = ready(dir.readdir(ReaddirCursor::from(0)))
            .unwrap()
            .map(|e| e.unwrap().name)
            .collect();
        assert!(names.contains(&"sub".to_string()), "{names:?}");
        assert_eq!(
            ready(dir.get_path_filestat("file.txt", true)).unwrap().size,
            4
        );
    }

    #[test]
    fn a_read_only_dir_refuses_every_change() {
        let scratch = Scratch::new("refuses");
        let before = scratch.listing();
        let dir = scratch.open(true);
        let rofs = Some(Errno::Rofs);
        assert_eq!(errno_of(open(&dir, "new", OFlags::CREATE, false)), rofs);
        assert_eq!(
            errno_of(open(&dir, "file.txt", OFlags::TRUNCATE, false)),
            rofs
        );
        assert_eq!(
            errno_of(open(&dir, "file.txt", OFlags::empty(), true)),
            rofs
        );
        assert_eq!(errno_of(ready(dir.create_dir("d"))), rofs);
        assert_eq!(errno_of(ready(dir.remove_dir("sub"))), rofs);
        assert_eq!(errno_of(ready(dir.unlink_file("file.txt"))), rofs);
        assert_eq!(errno_of(ready(dir.symlink("file.txt", "link"))), rofs);
        assert_eq!(errno_of(ready(dir.rename("file.txt", &dir, "moved"))), rofs);
        assert_eq!(
            errno_of(ready(dir.hard_link("file.txt", &dir, "linked"))),
            rofs
        );
        assert_eq!(
            errno_of(ready(dir.set_times(
                "file.txt",
                None,
                Some(SystemTimeSpec::SymbolicNow),
                true
            ))),
            rofs
        );
        let Ok(OpenResult::File(file)) = open(&dir, "file.txt", OFlags::empty(), false) else {
            panic!("file.txt opens for reading");
        };
        assert_eq!(errno_of(ready(file.set_filestat_size(0))), rofs);
        assert_eq!(scratch.listing(), before);
    }

    #[test]
    fn a_subdirectory_of_a_read_only_dir_is_read_only() {
        let scratch = Scratch::new("subdir");
        let dir = scratch.open(true);
        let Ok(OpenResult::Dir(sub)) = open(&dir, "sub", OFlags::DIRECTORY, false) else {
            panic!("sub opens as a directory");
        };
        assert_eq!(errno_of(ready(sub.create_dir("d"))), Some(Errno::Rofs));
        assert!(!scratch.0.join("sub/d").exists());
    }

    #[test]
    fn renames_and_links_across_mounts_need_both_ends_writable() {
        let writable = Scratch::new("across-w");
        let read_only = Scratch::new("across-r");
        let (w, r) = (writable.open(false), read_only.open(true));
        let rofs = Some(Errno::Rofs);
        assert_eq!(errno_of(ready(w.rename("file.txt", &r, "in"))), rofs);
        assert_eq!(errno_of(ready(r.rename("file.txt", &w, "out"))), rofs);
        assert_eq!(errno_of(ready(w.hard_link("file.txt", &r, "in"))), rofs);
        assert_eq!(errno_of(ready(r.hard_link("file.txt", &w, "out"))), rofs);
        assert!(!read_only.0.join("in").exists() && !writable.0.join("out").exists());
        assert!(read_only.0.join("file.txt").exists());

        // Between writable directories everything still works.
        let w2 = writable.open(false);
        assert_eq!(errno_of(ready(w.rename("file.txt", &w2, "moved"))), None);
        assert!(writable.0.join("moved").exists());
        assert_eq!(errno_of(ready(w.hard_link("moved", &w2, "linked"))), None);
        assert!(writable.0.join("linked").exists());
    }

    #[test]
    fn a_writable_dir_creates() {
        let scratch = Scratch::new("writable");
        let dir = scratch.open(false);
        assert!(matches!(
            open(&dir, "new", OFlags::CREATE, true),
            Ok(OpenResult::File(_))
        ));
        assert_eq!(errno_of(ready(dir.create_dir("d"))), None);
        assert!(scratch.0.join("new").is_file() && scratch.0.join("d").is_dir());
    }
}
