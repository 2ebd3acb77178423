//! Compiling modules: one wasmer engine per compiler, and an in-process cache
//! so that starting the same bytes again does not compile them again.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once, OnceLock};

use wasmer::sys::{Cranelift, Singlepass};
use wasmer::{Engine, Module};

use crate::cache;
use crate::errors::{js_error, ErrorKind};
use crate::options::EngineKind;

/// Wasm stack for guest code. wasmer runs wasm on a stack of its own, not the
/// caller's, so deep guest recursion ends in a trap, never in a crash of Node.
const WASM_STACK_BYTES: usize = 8 << 20;

/// Compiled modules kept per process; Go modules are large, so keep a few.
const CACHED_MODULES: usize = 32;

fn engine_slot(kind: EngineKind) -> &'static Mutex<Option<Engine>> {
    static CRANELIFT: Mutex<Option<Engine>> = Mutex::new(None);
    static SINGLEPASS: Mutex<Option<Engine>> = Mutex::new(None);
    match kind {
        EngineKind::Cranelift => &CRANELIFT,
        EngineKind::Singlepass => &SINGLEPASS,
    }
}

/// The process's engine for a compiler, made on first use.
pub fn engine(kind: EngineKind) -> Engine {
    let mut slot = engine_slot(kind).lock().unwrap_or_else(|e| e.into_inner());
    slot.get_or_insert_with(|| {
        wasmer::sys::vm::set_stack_size(WASM_STACK_BYTES);
        // wasmer's signal handlers, with ours on top for SIGUSR1.
        crate::interrupt::init();
        match kind {
            EngineKind::Cranelift => Cranelift::new().into(),
            EngineKind::Singlepass => Singlepass::new().into(),
        }
    })
    .clone()
}

/// Drops an engine a compiler panicked in (its internal locks may be
/// poisoned) and the modules it compiled; the next compile makes a new one.
fn discard_engine(kind: EngineKind) {
    *engine_slot(kind).lock().unwrap_or_else(|e| e.into_inner()) = None;
    cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .forget_engine(kind);
}

type CacheKey = (EngineKind, blake3::Hash);

#[derive(Default)]
struct ModuleCache {
    modules: HashMap<CacheKey, Module>,
    /// Insertion order, oldest first, for eviction.
    order: VecDeque<CacheKey>,
}

impl ModuleCache {
    fn get(&self, key: &CacheKey) -> Option<Module> {
        self.modules.get(key).cloned()
    }

    fn forget_engine(&mut self, kind: EngineKind) {
        self.modules.retain(|(k, _), _| *k != kind);
        self.order.retain(|(k, _)| *k != kind);
    }

    fn insert(&mut self, key: CacheKey, module: Module) {
        if self.modules.insert(key, module).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > CACHED_MODULES {
            if let Some(oldest) = self.order.pop_front() {
                self.modules.remove(&oldest);
            }
        }
    }
}

fn cache() -> &'static Mutex<ModuleCache> {
    static CACHE: OnceLock<Mutex<ModuleCache>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Compiles with wasmer. A panic inside a compiler (one was found by fuzzing:
/// Singlepass asserts on a NUL byte in a name-section name) becomes a
/// CompileError: unwinding past this frame would abort the Node process.
fn compile_uncached(kind: EngineKind, engine: &Engine, bytes: &[u8]) -> napi::Result<Module> {
    quiet_compiler_panics();
    // AssertUnwindSafe: compiling only reads the shared engine; what a
    // panicking compile built is dropped with it.
    let compile = AssertUnwindSafe(|| Module::from_binary(engine, bytes));
    COMPILES_IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
    let caught = std::panic::catch_unwind(compile);
    COMPILES_IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    let compiled = caught.map_err(|panic| {
        discard_engine(kind);
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
/// it from the in-process cache, or from the on-disk cache in `disk_cache`.
pub fn compile(
    kind: EngineKind,
    bytes: &[u8],
    disk_cache: Option<&Path>,
) -> napi::Result<(Module, Origin)> {
    let module_hash = blake3::hash(bytes);
    let key = (kind, module_hash);
    if let Some(module) = cache().lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok((module, Origin::Memory));
    }
    if !bytes.starts_with(b"\0asm") {
        return Err(js_error(
            ErrorKind::Compile,
            "WebAssembly.Module(): expected magic word 00 61 73 6d: not a wasm binary",
        ));
    }
    let engine = engine(kind);
    let disk_key = disk_cache.map(|dir| (dir, cache::cache_key(&module_hash, &engine)));
    let (module, origin) = match disk_key.and_then(|(dir, key)| cache::load(dir, &key, &engine)) {
        Some(module) => (module, Origin::Disk),
        None => {
            let module = compile_uncached(kind, &engine, bytes)?;
            if let Some((dir, key)) = disk_key {
                // A cache we cannot write costs the next start a compile, nothing more.
                let _ = cache::store(dir, &key, &module);
            }
            (module, Origin::Compiled)
        }
    };
    cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, module.clone());
    Ok((module, origin))
}
