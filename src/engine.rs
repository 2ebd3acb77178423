//! Compiling modules: one wasmer engine per compiler, and an in-process cache
//! so that starting the same bytes again does not compile them again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};

use wasmer::sys::{Cranelift, Singlepass};
use wasmer::{Engine, Module};

use crate::errors::{js_error, ErrorKind};
use crate::options::EngineKind;

/// Wasm stack for guest code. wasmer runs wasm on a stack of its own, not the
/// caller's, so deep guest recursion ends in a trap, never in a crash of Node.
const WASM_STACK_BYTES: usize = 8 << 20;

/// Compiled modules kept per process; Go modules are large, so keep a few.
const CACHED_MODULES: usize = 32;

pub fn engine(kind: EngineKind) -> &'static Engine {
    static CRANELIFT: OnceLock<Engine> = OnceLock::new();
    static SINGLEPASS: OnceLock<Engine> = OnceLock::new();
    let (cell, make): (_, fn() -> Engine) = match kind {
        EngineKind::Cranelift => (&CRANELIFT, || Cranelift::new().into()),
        EngineKind::Singlepass => (&SINGLEPASS, || Singlepass::new().into()),
    };
    cell.get_or_init(|| {
        wasmer::sys::vm::set_stack_size(WASM_STACK_BYTES);
        make()
    })
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

/// Compiles `bytes` (a binary wasm module) with the given compiler, or returns
/// the module compiled earlier from the same bytes.
pub fn compile(kind: EngineKind, bytes: &[u8]) -> napi::Result<Module> {
    let key = (kind, blake3::hash(bytes));
    if let Some(module) = cache().lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(module);
    }
    if !bytes.starts_with(b"\0asm") {
        return Err(js_error(
            ErrorKind::Compile,
            "WebAssembly.Module(): expected magic word 00 61 73 6d: not a wasm binary",
        ));
    }
    let module = Module::from_binary(engine(kind), bytes)
        .map_err(|e| js_error(ErrorKind::Compile, format!("WebAssembly.Module(): {e}")))?;
    cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, module.clone());
    Ok(module)
}
