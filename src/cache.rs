//! The on-disk cache of compiled modules.
//!
//! wasmer's `Module::deserialize` loads machine code and is `unsafe`: a file
//! is only handed to it after we have checked that we wrote it, whole, for
//! exactly this module, engine, addon and CPU. Each entry is
//!
//! ```text
//! MAGIC (16 bytes) | key (32) | artifact length (u64 LE) | blake3(artifact) (32) | artifact
//! ```
//!
//! and is written to a temporary file then renamed into place, so concurrent
//! writers never leave a torn entry: readers see the old file, the new one,
//! or none. A corrupt, truncated or foreign entry is ignored and rebuilt.
//!
//! The directory is bounded: after each store, the least recently used
//! entries (a hit sets an entry's mtime: atime is often not kept) are removed
//! until the entries fit the limit again; the entry just stored is kept even
//! if it alone is larger, so the cache exceeds its limit by at most one
//! entry. Removing an entry cannot hurt a process reading it: a reader reads
//! the whole file, then checks it, and an unlinked file stays readable to
//! whoever has it open. `lib/disk-cache.js` (`x-wasi cache`) knows the same
//! file names.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use wasmer::{Engine, Module};

const MAGIC: &[u8; 16] = b"x-wasi-module\x00v1";
const HEADER_LEN: usize = MAGIC.len() + 32 + 8 + 32;
const ENTRY_SUFFIX: &str = ".module";
const TEMP_SUFFIX: &str = ".tmp";

const MARKER_SUFFIX: &str = ".seen";

/// A temporary file this old was left by a writer that died mid-write.
const STALE_TEMP: Duration = Duration::from_secs(3600);
/// A module not run for this long counts as never seen again.
const STALE_MARKER: Duration = Duration::from_secs(30 * 24 * 3600);

/// The limit when none is given (lib/options.js gives one: the same).
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// Where entries go, and how many bytes of them the directory may hold.
#[derive(Clone, Copy)]
pub struct DiskCache<'a> {
    pub dir: &'a Path,
    pub max_bytes: u64,
}

impl<'a> DiskCache<'a> {
    /// `dir` with the limit given in bytes (JS numbers), or the default.
    pub fn new(dir: &'a Path, max_bytes: Option<f64>) -> Self {
        DiskCache {
            dir,
            max_bytes: max_bytes.map_or(DEFAULT_MAX_BYTES, |bytes| bytes.max(0.0) as u64),
        }
    }
}

/// Identifies a compiled artifact: the module's bytes and everything that
/// makes its machine code valid (engine and its settings, wasmer, this
/// addon, the CPU's features).
pub fn cache_key(module_hash: &blake3::Hash, engine: &Engine) -> blake3::Hash {
    let target = wasmer::sys::Target::default();
    let mut hasher = blake3::Hasher::new();
    hasher.update(module_hash.as_bytes());
    for part in [
        engine.deterministic_id(),
        engine.artifact_format(),
        format!("{:?}", target.triple()),
        format!("{:?}", target.cpu_features()),
        concat!(env!("CARGO_PKG_NAME"), " ", env!("CARGO_PKG_VERSION")).to_string(),
        format!("wasmer {}", wasmer_types::VERSION),
    ] {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize()
}

fn entry_path(dir: &Path, key: &blake3::Hash) -> PathBuf {
    dir.join(format!("{}{ENTRY_SUFFIX}", key.to_hex()))
}

/// The artifact stored under `key`, if the file there is whole and ours.
fn read_artifact(path: &Path, key: &blake3::Hash) -> Option<Vec<u8>> {
    let mut bytes = fs::read(path).ok()?;
    if bytes.len() < HEADER_LEN || &bytes[..MAGIC.len()] != MAGIC {
        return None;
    }
    let (header, artifact) = bytes.split_at(HEADER_LEN);
    let stored_key = &header[MAGIC.len()..MAGIC.len() + 32];
    let length = u64::from_le_bytes(header[MAGIC.len() + 32..MAGIC.len() + 40].try_into().ok()?);
    let digest = &header[MAGIC.len() + 40..];
    if stored_key != key.as_bytes()
        || length != artifact.len() as u64
        || blake3::hash(artifact).as_bytes() != digest
    {
        return None;
    }
    Some(bytes.split_off(HEADER_LEN))
}

/// Loads the module cached under `key`, or `None` (and the entry is
/// removed) when there is none or it does not pass every check.
pub fn load(dir: &Path, key: &blake3::Hash, engine: &Engine) -> Option<Module> {
    let path = entry_path(dir, key);
    let Some(artifact) = read_artifact(&path, key) else {
        if path.exists() {
            let _ = fs::remove_file(&path);
        }
        return None;
    };
    // SAFETY: the artifact is byte for byte what `store` wrote for this key,
    // which names this engine, wasmer, addon version and CPU; wasmer checks
    // its own header and version on top.
    match unsafe { Module::deserialize(engine, artifact) } {
        Ok(module) => {
            mark_used(&path);
            Some(module)
        }
        Err(_) => {
            let _ = fs::remove_file(&path);
            None
        }
    }
}

/// Whether an entry is stored under `key`, without reading it (a cheap
/// look before choosing a tier; `load` still checks it whole).
pub fn has_entry(dir: &Path, key: &blake3::Hash) -> bool {
    entry_path(dir, key).is_file()
}

/// Whether this cache has seen `module_hash` before (`engine: 'auto'`
/// compiles optimized code only for those); marks it seen. A marker is an
/// empty file named after the module's bytes; unused ones are swept by
/// `evict` after `STALE_MARKER`.
pub fn seen_before(dir: &Path, module_hash: &blake3::Hash) -> bool {
    let marker = dir.join(format!("{}{MARKER_SUFFIX}", module_hash.to_hex()));
    if marker.exists() {
        mark_used(&marker);
        return true;
    }
    let _ = fs::create_dir_all(dir).and_then(|()| fs::File::create(&marker));
    false
}

/// Records a hit for eviction: the entry's mtime is its last use.
fn mark_used(path: &Path) {
    if let Ok(file) = fs::File::open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

/// Stores `module` under `key`, then evicts least recently used entries
/// beyond the limit. Failing to cache is not an error of the run: the
/// caller goes on with the module it has.
pub fn store(cache: DiskCache, key: &blake3::Hash, module: &Module) -> std::io::Result<()> {
    let path = write_entry(cache.dir, key, module)?;
    evict(cache.dir, cache.max_bytes, &path)
}

/// Removes the least recently used entries until those left fit in
/// `max_bytes`, never `keep` (just stored); and temporary files that
/// writers which died left behind.
fn evict(dir: &Path, max_bytes: u64, keep: &Path) -> std::io::Result<()> {
    let now = SystemTime::now();
    let mut entries = Vec::new();
    let mut total: u64 = 0;
    for item in fs::read_dir(dir)? {
        let Ok(item) = item else { continue };
        let name = item.file_name();
        let name = name.to_string_lossy();
        // Another process may remove it meanwhile: skip what is gone.
        let Ok(meta) = item.metadata() else { continue };
        let modified = meta.modified().unwrap_or(now);
        if name.ends_with(ENTRY_SUFFIX) && meta.is_file() {
            total += meta.len();
            entries.push((modified, item.path(), meta.len()));
        } else {
            let age = now.duration_since(modified).unwrap_or_default();
            let stale = (name.starts_with('.') && name.ends_with(TEMP_SUFFIX) && age > STALE_TEMP)
                || (name.ends_with(MARKER_SUFFIX) && age > STALE_MARKER);
            if stale {
                let _ = fs::remove_file(item.path());
            }
        }
    }
    if total <= max_bytes {
        return Ok(());
    }
    entries.sort_by_key(|(modified, _, _)| *modified);
    for (_, path, len) in entries {
        if total <= max_bytes {
            break;
        }
        // Gone already (another process evicted it) counts as removed.
        if path != keep
            && fs::remove_file(&path)
                .or_else(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => Ok(()),
                    _ => Err(e),
                })
                .is_ok()
        {
            total -= len;
        }
    }
    Ok(())
}

/// Writes the entry for `key` (temporary file, then rename); returns its path.
fn write_entry(dir: &Path, key: &blake3::Hash, module: &Module) -> std::io::Result<PathBuf> {
    let artifact = module
        .serialize()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    fs::create_dir_all(dir)?;
    let final_path = entry_path(dir, key);
    let temp_path = dir.join(format!(
        ".{}.{}.{}{TEMP_SUFFIX}",
        key.to_hex(),
        std::process::id(),
        blake3::hash(&artifact)
            .to_hex()
            .as_str()
            .get(..8)
            .unwrap_or("0")
    ));
    let written = (|| {
        let mut file = fs::File::create(&temp_path)?;
        file.write_all(MAGIC)?;
        file.write_all(key.as_bytes())?;
        file.write_all(&(artifact.len() as u64).to_le_bytes())?;
        file.write_all(blake3::hash(&artifact).as_bytes())?;
        file.write_all(&artifact)?;
        file.sync_all()?;
        fs::rename(&temp_path, &final_path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp_path);
    }
    written.map(|()| final_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_entry(path: &Path, key: &blake3::Hash, artifact: &[u8]) {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(key.as_bytes());
        bytes.extend_from_slice(&(artifact.len() as u64).to_le_bytes());
        bytes.extend_from_slice(blake3::hash(artifact).as_bytes());
        bytes.extend_from_slice(artifact);
        fs::write(path, bytes).unwrap();
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("x-wasi-cache-test-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reads_back_a_whole_entry() {
        let dir = temp_dir("whole");
        let key = blake3::hash(b"k");
        let path = entry_path(&dir, &key);
        write_entry(&path, &key, b"artifact");
        assert_eq!(
            read_artifact(&path, &key).as_deref(),
            Some(&b"artifact"[..])
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn refuses_truncated_flipped_or_foreign_entries() {
        let dir = temp_dir("bad");
        let key = blake3::hash(b"k");
        let path = entry_path(&dir, &key);
        write_entry(&path, &key, b"artifact");
        let whole = fs::read(&path).unwrap();

        fs::write(&path, &whole[..whole.len() - 1]).unwrap();
        assert!(read_artifact(&path, &key).is_none(), "truncated");

        let mut flipped = whole.clone();
        *flipped.last_mut().unwrap() ^= 1;
        fs::write(&path, &flipped).unwrap();
        assert!(read_artifact(&path, &key).is_none(), "a flipped bit");

        fs::write(&path, &whole).unwrap();
        assert!(
            read_artifact(&path, &blake3::hash(b"other")).is_none(),
            "another key"
        );

        fs::write(&path, b"not a cache entry").unwrap();
        assert!(read_artifact(&path, &key).is_none(), "garbage");
        fs::remove_dir_all(dir).unwrap();
    }

    /// An entry of `len` bytes last used `age_secs` ago.
    fn aged_file(dir: &Path, name: &str, len: usize, age_secs: u64) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, vec![0u8; len]).unwrap();
        let when = SystemTime::now() - Duration::from_secs(age_secs);
        fs::File::open(&path).unwrap().set_modified(when).unwrap();
        path
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn evicts_least_recently_used_entries_down_to_the_limit() {
        let dir = temp_dir("evict");
        aged_file(&dir, "a.module", 100, 400);
        aged_file(&dir, "b.module", 100, 300);
        aged_file(&dir, "c.module", 100, 200);
        let new = aged_file(&dir, "d.module", 100, 0);
        aged_file(&dir, "not-an-entry", 1000, 500);
        evict(&dir, 250, &new).unwrap();
        assert_eq!(names(&dir), ["c.module", "d.module", "not-an-entry"]);
        evict(&dir, 250, &new).unwrap();
        assert_eq!(names(&dir).len(), 3, "within the limit: nothing to do");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn keeps_the_entry_just_stored_even_over_the_limit() {
        let dir = temp_dir("keep");
        aged_file(&dir, "old.module", 100, 100);
        let big = aged_file(&dir, "big.module", 500, 1000);
        evict(&dir, 200, &big).unwrap();
        assert_eq!(names(&dir), ["big.module"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn removes_temporary_files_of_dead_writers_only() {
        let dir = temp_dir("temp");
        aged_file(&dir, ".x.1.ab.tmp", 10, 2 * 3600);
        aged_file(&dir, ".y.2.cd.tmp", 10, 10);
        let kept = aged_file(&dir, "e.module", 10, 0);
        evict(&dir, 1 << 20, &kept).unwrap();
        assert_eq!(names(&dir), [".y.2.cd.tmp", "e.module"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn keys_differ_by_engine() {
        let hash = blake3::hash(b"module");
        let cranelift = crate::engine::new_engine(crate::options::EngineKind::Cranelift);
        let singlepass = crate::engine::new_engine(crate::options::EngineKind::Singlepass);
        assert_ne!(cache_key(&hash, &cranelift), cache_key(&hash, &singlepass));
        assert_eq!(cache_key(&hash, &cranelift), cache_key(&hash, &cranelift));
    }
}
