//! ENOTCAPABLE for a path that leads out of its preopen, as node:wasi
//! answers. cap-std refuses such a path with a `PermissionDenied` error that
//! wasi-common turns into EPERM, the errno of a genuine permission error
//! too; so on EPERM, `escapes` resolves the path again, component by
//! component through the directory's own calls, to tell the two apart.

use std::collections::VecDeque;

use wasi_common::dir::WasiDir;
use wasi_common::snapshots::preview_1::types::Errno;
use wasi_common::Error;

/// As many symlinks as Linux follows in one path; more is a loop (ELOOP),
/// which is no escape.
const MAX_SYMLINKS: usize = 40;

/// `result`, with EPERM turned into ENOTCAPABLE when `path` leads out of
/// `dir` (`follow_last`: the last component is followed if a symlink).
pub async fn escape_is_notcapable<T>(
    result: Result<T, Error>,
    dir: &dyn WasiDir,
    path: &str,
    follow_last: bool,
) -> Result<T, Error> {
    match result {
        Err(err) if is_perm(&err) && escapes(dir, path, follow_last).await => {
            Err(Error::from(Errno::Notcapable).context("path leads outside the preopen"))
        }
        other => other,
    }
}

fn is_perm(err: &Error) -> bool {
    err.downcast_ref() == Some(&Errno::Perm)
}

fn components(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
}

/// Whether resolving `path` beneath `dir` leaves it: an absolute path, a
/// `..` above it, or a symlink (absolute, or relative with such a `..`)
/// on the way.
pub async fn escapes(dir: &dyn WasiDir, path: &str, follow_last: bool) -> bool {
    if path.starts_with('/') {
        return true;
    }
    let mut resolved: Vec<String> = Vec::new();
    let mut pending: VecDeque<String> = components(path).collect();
    let mut symlinks = 0;
    while let Some(component) = pending.pop_front() {
        if component == ".." {
            if resolved.pop().is_none() {
                return true;
            }
            continue;
        }
        let candidate = resolved
            .iter()
            .chain(std::iter::once(&component))
            .cloned()
            .collect::<Vec<_>>()
            .join("/");
        if !pending.is_empty() || follow_last {
            match dir.read_link(&candidate).await {
                Ok(target) => {
                    symlinks += 1;
                    if symlinks > MAX_SYMLINKS {
                        return false;
                    }
                    let target = target.to_string_lossy().into_owned();
                    if target.starts_with('/') {
                        return true;
                    }
                    for (i, c) in components(&target).enumerate() {
                        pending.insert(i, c);
                    }
                    continue;
                }
                // cap-std refuses to read an absolute link target.
                Err(err) if is_perm(&err) => return true,
                // Not a symlink, or not there: the name stays as it is.
                Err(_) => {}
            }
        }
        resolved.push(component);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasi::host_dir::test_support::ready;
    use cap_std::ambient_authority;
    use std::fs;
    use std::os::unix::fs::symlink;
    use wasi_common::sync::dir::Dir;

    #[test]
    fn tells_escapes_from_paths_that_stay() {
        let root = std::env::temp_dir().join(format!("xwasi-escape-{}", std::process::id()));
        let sandbox = root.join("sandbox");
        fs::create_dir_all(sandbox.join("sub")).unwrap();
        symlink("../../outside", sandbox.join("sub/out")).unwrap();
        symlink("/etc", sandbox.join("abs")).unwrap();
        symlink("../sub", sandbox.join("sub/back")).unwrap();
        symlink("loop2", sandbox.join("loop1")).unwrap();
        symlink("loop1", sandbox.join("loop2")).unwrap();
        let dir = Dir::from_cap_std(
            cap_std::fs::Dir::open_ambient_dir(&sandbox, ambient_authority()).unwrap(),
        );
        let escapes = |path, follow| ready(escapes(&dir, path, follow));
        assert!(escapes("../x", true));
        assert!(escapes("sub/../../x", false));
        assert!(escapes("/etc/passwd", false));
        assert!(escapes("sub/out", true));
        assert!(!escapes("sub/out", false), "the link itself is inside");
        assert!(escapes("abs/passwd", false));
        assert!(!escapes("sub/back/x", true));
        assert!(!escapes("sub/./x/../y", true));
        assert!(!escapes("loop1", true), "a loop is ELOOP, not an escape");
        fs::remove_dir_all(&root).unwrap();
    }
}
