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

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmer::{Engine, Module};

const MAGIC: &[u8; 16] = b"x-wasi-module\x00v1";
const HEADER_LEN: usize = MAGIC.len() + 32 + 8 + 32;

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
    dir.join(format!("{}.module", key.to_hex()))
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
        Ok(module) => Some(module),
        Err(_) => {
            let _ = fs::remove_file(&path);
            None
        }
    }
}

/// Stores `module` under `key`. Failing to cache is not an error of the
/// run: the caller goes on with the module it has.
pub fn store(dir: &Path, key: &blake3::Hash, module: &Module) -> std::io::Result<()> {
    let artifact = module
        .serialize()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    fs::create_dir_all(dir)?;
    let final_path = entry_path(dir, key);
    let temp_path = dir.join(format!(
        ".{}.{}.{}.tmp",
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
    written
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

    #[test]
    fn keys_differ_by_engine() {
        let hash = blake3::hash(b"module");
        let cranelift = crate::engine::new_engine(crate::options::EngineKind::Cranelift);
        let singlepass = crate::engine::new_engine(crate::options::EngineKind::Singlepass);
        assert_ne!(cache_key(&hash, &cranelift), cache_key(&hash, &singlepass));
        assert_eq!(cache_key(&hash, &cranelift), cache_key(&hash, &cranelift));
    }
}
