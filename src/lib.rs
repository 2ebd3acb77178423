//! `@x/wasi`: run WASI modules from Node.js on wasmer, and serve node:wasi's
//! API over the same WASI core.
//!
//! Where things live:
//! - `options`: the options of a `WASI` object, parsed.
//! - `engine`: compilers (Cranelift, Singlepass) and the in-process module cache.
//! - `cache`: the on-disk cache of compiled modules.
//! - `wasi`: the WASI core (fd table, preopens, clocks) and its syscalls.
//! - `native`: running a module in wasmer.
//! - `v8_bridge`: the syscalls as JS functions, for modules V8 runs.
//! - `stdio`: the guest's stdio on host file descriptors.
//! - `errors`: errors as JS sees them.

#![deny(clippy::all)]

mod cache;
mod engine;
mod errors;
mod native;
mod options;
mod stdio;
mod v8_bridge;
mod wasi;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use napi::bindgen_prelude::{FromNapiValue, Object, Uint8Array};
use napi::Env;
use napi_derive::napi;

use crate::errors::{type_error, wasi_error};
use crate::options::{EngineKind, WasiOptions, WasiVersions};
use crate::v8_bridge::SharedCtx;

/// A module compiled for the native path: reusable by any number of runs.
#[napi]
pub struct CompiledModule {
    module: wasmer::Module,
    kind: EngineKind,
    origin: engine::Origin,
}

#[napi]
impl CompiledModule {
    /// Compiles `bytes` with `engine` (`cranelift` or `singlepass`), taking
    /// the result from the in-process cache or from the on-disk cache in
    /// `cache_dir` (none when absent) when there.
    #[napi(factory)]
    pub fn compile(
        bytes: Uint8Array,
        engine: String,
        cache_dir: Option<String>,
    ) -> napi::Result<Self> {
        let kind = EngineKind::parse(&engine)?;
        let (module, origin) = engine::compile(kind, &bytes, cache_dir.as_deref().map(Path::new))?;
        Ok(CompiledModule {
            module,
            kind,
            origin,
        })
    }

    /// `memory` (compiled earlier in this process), `disk` (on-disk cache) or
    /// `compiled` (compiled by this call).
    #[napi(getter)]
    pub fn origin(&self) -> &'static str {
        self.origin.as_str()
    }

    /// The compiler it was compiled with.
    #[napi(getter)]
    pub fn engine(&self) -> &'static str {
        self.kind.as_str()
    }
}

/// How a run of `_start` ended.
#[napi(object)]
pub struct RunOutcome {
    /// 0 when `_start` returned, else the code passed to `proc_exit`.
    pub exit_code: u32,
    /// Whether the guest called `proc_exit` (node:wasi then exits Node
    /// unless `returnOnExit`).
    pub called_exit: bool,
}

/// The native half of a JS `WASI` object (see `index.js`): its WASI state,
/// used by exactly one run, native or in V8.
#[napi]
pub struct WasiHandle {
    ctx: SharedCtx,
    versions: WasiVersions,
}

#[napi]
impl WasiHandle {
    #[napi(constructor)]
    pub fn new(options: WasiOptions) -> napi::Result<Self> {
        let versions = WasiVersions::parse(options.version.as_deref())?;
        let ctx = wasi::build_ctx(&options)?;
        Ok(WasiHandle {
            ctx: Rc::new(RefCell::new(Some(ctx))),
            versions,
        })
    }

    /// Runs `_start` of a compiled module in wasmer on this thread and says
    /// how it ended.
    #[napi]
    pub fn start_native(&self, module: &CompiledModule) -> napi::Result<RunOutcome> {
        // The run owns the WASI state: wasi-common needs it unshared (e.g.
        // for fd_fdstat_set_flags), and a WASI object runs only once.
        let ctx = self
            .ctx
            .borrow_mut()
            .take()
            .ok_or_else(|| wasi_error("this WASI object has already run a module"))?;
        native::run_start(
            &engine::engine(module.kind),
            &module.module,
            ctx,
            self.versions,
        )
    }

    /// Drops the WASI state (closing the guest's descriptors: its duplicates
    /// of stdio, its preopens, what it left open) once a command has run in
    /// V8, instead of when the garbage collector gets to this object.
    #[napi]
    pub fn release(&self) {
        self.ctx.borrow_mut().take();
    }

    /// The syscalls of `abi` (`preview1` or `unstable`) as JS functions that
    /// take the guest's `memory.buffer` first, then the wasm arguments.
    #[napi(
        ts_return_type = "Record<string, (memory: ArrayBuffer, ...args: Array<number | bigint>) => number>"
    )]
    pub fn syscall_functions<'env>(
        &self,
        env: &'env Env,
        abi: String,
    ) -> napi::Result<Object<'env>> {
        let table = v8_bridge::table(&abi)
            .ok_or_else(|| type_error(format!("unknown WASI ABI '{abi}'")))?;
        let object = v8_bridge::syscall_object(env.raw(), table, &self.ctx)?;
        // SAFETY: a live object just created in `env`.
        unsafe { Object::from_napi_value(env.raw(), object) }
    }

    /// The number of wasm parameters of each syscall of `abi`.
    #[napi]
    pub fn syscall_arities(&self, abi: String) -> napi::Result<HashMap<String, u32>> {
        let table = v8_bridge::table(&abi)
            .ok_or_else(|| type_error(format!("unknown WASI ABI '{abi}'")))?;
        Ok(table
            .iter()
            .map(|s| (s.name.to_string(), s.arity))
            .collect())
    }
}
