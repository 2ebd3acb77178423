//! Compiling modules. Each compiled module has a wasmer engine of its own:
//! wasmer keeps machine code in the engine that compiled (or loaded) it until
//! that engine is dropped, so a module's code is freed when the last holder
//! of its `Compiled` (a `CompiledModule`, a run's thread, a reactor's store)
//! lets go. The in-process cache only holds weak references, so it serves
//! `start(bytes)` while some holder is alive and never pins code itself.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock, Weak};

use wasmer::sys::{Cranelift, Singlepass};
use wasmer::{Engine, Module};

use crate::cache::{self, DiskCache};
use crate::errors::{js_error, ErrorKind};
use crate::options::EngineKind;

/// Wasm stack for guest code. wasmer runs wasm on a stack of its own, not the
/// caller's, so deep guest recursion ends in a trap, never in a crash of Node.
const WASM_STACK_BYTES: usize = 8 << 20;

/// A compiled module and the engine holding its machine code.
pub struct Compiled {
    // Declared first so it is dropped first: the module's metadata points
    // into the engine's code memory.
    pub module: Module,
    pub engine: Engine,
    pub kind: EngineKind,
    /// What this module keeps in native memory, roughly: told to V8 so that
    /// its garbage collector frees dropped `CompiledModule`s in time.
    pub native_bytes: i64,
}

/// Native memory kept per byte of wasm, roughly: Go hello (2.6 MB of wasm)
/// keeps ~41 MiB compiled by Singlepass, ~36 MiB by Cranelift. A hint for
/// the GC, not an account.
const NATIVE_BYTES_PER_WASM_BYTE: i64 = 16;

/// A new engine for one module (or one generation of loads).
pub fn new_engine(kind: EngineKind) -> Engine {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        wasmer::sys::vm::set_stack_size(WASM_STACK_BYTES);
        // wasmer's signal handlers, with ours on top for SIGUSR1.
        crate::interrupt::init();
    });
    match kind {
        EngineKind::Cranelift => Cranelift::new().into(),
        EngineKind::Singlepass => Singlepass::new().into(),
    }
}

type CacheKey = (EngineKind, blake3::Hash);

/// Modules some holder still keeps alive, by engine and bytes.
fn live_modules() -> &'static Mutex<HashMap<CacheKey, Weak<Compiled>>> {
    static LIVE: OnceLock<Mutex<HashMap<CacheKey, Weak<Compiled>>>> = OnceLock::new();
    LIVE.get_or_init(Default::default)
}

fn live_get(key: &CacheKey) -> Option<Arc<Compiled>> {
    let live = live_modules().lock().unwrap_or_else(|e| e.into_inner());
    live.get(key).and_then(Weak::upgrade)
}

fn live_insert(key: CacheKey, compiled: &Arc<Compiled>) {
    let mut live = live_modules().lock().unwrap_or_else(|e| e.into_inner());
    // Dead entries are swept here, so the map is as big as what is alive.
    live.retain(|_, weak| weak.strong_count() > 0);
    live.insert(key, Arc::downgrade(compiled));
}

/// Compiles with wasmer. A panic inside a compiler (one was found by fuzzing:
/// Singlepass asserts on a NUL byte in a name-section name) becomes a
/// CompileError: unwinding past this frame would abort the Node process.
/// The engine it panicked in (its locks may be poisoned) is this module's
/// alone and is dropped with it.
fn compile_uncached(engine: &Engine, bytes: &[u8]) -> napi::Result<Module> {
    quiet_compiler_panics();
    // AssertUnwindSafe: what a panicking compile built is dropped with it.
    let compile = AssertUnwindSafe(|| Module::from_binary(engine, bytes));
    COMPILES_IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
    let caught = std::panic::catch_unwind(compile);
    COMPILES_IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    let compiled = caught.map_err(|panic| {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown reason".into());
        js_error(
            ErrorKind::Compile,
            format!("WebAssembly.Module(): the compiler failed on this module: {reason}"),
        )
    })?;
    compiled.map_err(|e| js_error(ErrorKind::Compile, format!("WebAssembly.Module(): {e}")))
}

/// Compiles under way (on any thread): a panic meanwhile is a compiler's,
/// reported in the CompileError, so the default hook's print to stderr is
/// left out. wasmer compiles functions on worker threads of its own, hence
/// a process-wide count rather than a flag of the calling thread.
static COMPILES_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

fn quiet_compiler_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if COMPILES_IN_FLIGHT.load(Ordering::Acquire) == 0 {
                default(info);
            }
        }));
    });
}

/// Where a compiled module came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// This process compiled the same bytes before.
    Memory,
    /// The on-disk cache.
    Disk,
    /// Compiled now.
    Compiled,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Memory => "memory",
            Origin::Disk => "disk",
            Origin::Compiled => "compiled",
        }
    }
}

/// Compiles `bytes` (a binary wasm module) with the given compiler, or takes
/// it from a live module of this process, or from the on-disk cache in
/// `disk_cache`.
pub fn compile(
    kind: EngineKind,
    bytes: &[u8],
    disk_cache: Option<DiskCache>,
) -> napi::Result<(Arc<Compiled>, Origin)> {
    let module_hash = blake3::hash(bytes);
    let key = (kind, module_hash);
    if let Some(compiled) = live_get(&key) {
        return Ok((compiled, Origin::Memory));
    }
    if !bytes.starts_with(b"\0asm") {
        return Err(js_error(
            ErrorKind::Compile,
            "WebAssembly.Module(): expected magic word 00 61 73 6d: not a wasm binary",
        ));
    }
    let engine = new_engine(kind);
    let disk_key = disk_cache.map(|disk| (disk, cache::cache_key(&module_hash, &engine)));
    let loaded = disk_key.and_then(|(disk, key)| cache::load(disk.dir, &key, &engine));
    let (module, origin) = match loaded {
        Some(module) => (module, Origin::Disk),
        None => {
            let module = compile_uncached(&engine, bytes)?;
            if let Some((disk, key)) = disk_key {
                // A cache we cannot write costs the next start a compile, nothing more.
                let _ = cache::store(disk, &key, &module);
            }
            (module, Origin::Compiled)
        }
    };
    let compiled = Arc::new(Compiled {
        module,
        engine,
        kind,
        native_bytes: bytes.len() as i64 * NATIVE_BYTES_PER_WASM_BYTE,
    });
    live_insert(key, &compiled);
    Ok((compiled, origin))
}

/// What `compile_auto` chose.
pub struct AutoCompiled {
    pub compiled: Arc<Compiled>,
    pub origin: Origin,
    /// The fast tier ran for a module this cache has seen before: the caller
    /// should have Cranelift compile it into the disk cache in the
    /// background, so that a later run finds optimized code.
    pub optimize_later: bool,
}

/// `engine: 'auto'`: optimized code where it exists (a live Cranelift
/// module, the disk cache's Cranelift entry), else Singlepass now, which
/// compiles ~4x faster and behaves the same (both are wasmer: same traps,
/// limits, host functions). A module seen before by this disk cache also
/// asks for its optimized code to be made (see `optimize_later`); one run
/// once (`go test -exec`) costs nobody a Cranelift compile.
pub fn compile_auto(bytes: &[u8], disk_cache: Option<DiskCache>) -> napi::Result<AutoCompiled> {
    let module_hash = blake3::hash(bytes);
    let live = |kind| live_get(&(kind, module_hash));
    let found = |compiled, origin| AutoCompiled {
        compiled,
        origin,
        optimize_later: false,
    };
    if let Some(compiled) = live(EngineKind::Cranelift) {
        return Ok(found(compiled, Origin::Memory));
    }
    if !bytes.starts_with(b"\0asm") {
        return Err(js_error(
            ErrorKind::Compile,
            "WebAssembly.Module(): expected magic word 00 61 73 6d: not a wasm binary",
        ));
    }
    if let Some(disk) = disk_cache {
        let engine = new_engine(EngineKind::Cranelift);
        let key = cache::cache_key(&module_hash, &engine);
        if let Some(module) = cache::load(disk.dir, &key, &engine) {
            let compiled = Arc::new(Compiled {
                module,
                engine,
                kind: EngineKind::Cranelift,
                native_bytes: bytes.len() as i64 * NATIVE_BYTES_PER_WASM_BYTE,
            });
            live_insert((EngineKind::Cranelift, module_hash), &compiled);
            return Ok(found(compiled, Origin::Disk));
        }
    }
    if let Some(compiled) = live(EngineKind::Singlepass) {
        return Ok(found(compiled, Origin::Memory));
    }
    // The fast tier is not stored: a module run once must not cost the
    // cache its size; one run again gets Cranelift's entry instead.
    let Ok((compiled, origin)) = compile(EngineKind::Singlepass, bytes, None) else {
        // Singlepass lacks some features (e.g. multi-value results):
        // Cranelift compiles what it refuses, and reports what is invalid.
        let (compiled, origin) = compile(EngineKind::Cranelift, bytes, disk_cache)?;
        return Ok(found(compiled, origin));
    };
    let optimize_later = disk_cache.is_some_and(|disk| cache::seen_before(disk.dir, &module_hash));
    Ok(AutoCompiled {
        compiled,
        origin,
        optimize_later,
    })
}

/// What `probe_auto` found, without compiling anything.
pub struct Probe {
    /// Cranelift's code for these bytes is live in this process or stored
    /// in the disk cache: `compile_auto` will take it.
    pub optimized: bool,
    /// Nothing optimized, and the module imports only WASI syscalls with
    /// their exact signatures and has no start function: V8 may run it once
    /// wasmer has found it valid too (`validate_in_background`).
    pub v8_runnable: bool,
    /// The bytes' BLAKE3 hash, for `mark_seen`.
    pub hash: blake3::Hash,
}

/// `engine: 'auto'` before compiling: optimized code where it exists, else
/// may V8 run the module (the JS layer decides, see lib/v8-tier.js)?
pub fn probe_auto(bytes: &[u8], disk_cache: Option<DiskCache>) -> Probe {
    let hash = blake3::hash(bytes);
    let on_disk = || {
        disk_cache.is_some_and(|disk| {
            let engine = new_engine(EngineKind::Cranelift);
            cache::has_entry(disk.dir, &cache::cache_key(&hash, &engine))
        })
    };
    let optimized = live_get(&(EngineKind::Cranelift, hash)).is_some() || on_disk();
    let v8_runnable =
        !optimized && bytes.starts_with(b"\0asm") && crate::wasi_imports::v8_runnable(bytes);
    Probe {
        optimized,
        v8_runnable,
        hash,
    }
}

/// A module V8 runs counts as a sighting, as one `compile_auto` runs on the
/// fast tier: whether the cache has seen it before (then Cranelift should
/// compile it in the background, as `AutoCompiled::optimize_later`).
/// Marked only once V8 runs it and wasmer has found it valid: a module V8
/// gives up on is marked by `compile_auto` on the native path, once, and
/// one wasmer refuses never is (it has no optimized code to make).
pub fn mark_seen(hash: &blake3::Hash, disk: DiskCache) -> bool {
    cache::seen_before(disk.dir, hash)
}

/// Validates `bytes` as wasmer would compile them, on a thread of its own:
/// V8 compiles the module meanwhile, and a module wasmer refuses must fail
/// as it does natively even where V8 would run it. Join the handle for the
/// answer.
pub fn validate_in_background(bytes: Vec<u8>) -> std::thread::JoinHandle<bool> {
    let engine = new_engine(EngineKind::Cranelift);
    std::thread::spawn(move || Module::validate(&engine, &bytes).is_ok())
}
