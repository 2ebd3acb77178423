//! `@x/wasi`: run WASI modules from Node.js on wasmer, and serve node:wasi's
//! API over the same WASI core.
//!
//! Where things live:
//! - `options`: the options of a `WASI` object, parsed.
//! - `engine`: compilers (Cranelift, Singlepass) and the compiled-module cache.
//! - `wasi`: the WASI core (fd table, preopens, clocks) and its syscalls.
//! - `native`: running a module in wasmer.
//! - `stdio`: the guest's stdio on host file descriptors.
//! - `errors`: errors as JS sees them.

#![deny(clippy::all)]

mod engine;
mod errors;
mod native;
mod options;
mod stdio;
mod wasi;

use napi::bindgen_prelude::Uint8Array;
use napi_derive::napi;

use crate::options::{EngineKind, WasiOptions};
use crate::wasi::WasiCore;

/// How a run of `_start` ended.
#[napi(object)]
pub struct RunOutcome {
    /// 0 when `_start` returned, else the code passed to `proc_exit`.
    pub exit_code: u32,
    /// Whether the guest called `proc_exit` (node:wasi then exits Node
    /// unless `returnOnExit`).
    pub called_exit: bool,
}

/// The native half of a JS `WASI` object (see `index.js`).
#[napi]
pub struct WasiHandle {
    core: WasiCore,
    engine: EngineKind,
}

#[napi]
impl WasiHandle {
    #[napi(constructor)]
    pub fn new(options: WasiOptions) -> napi::Result<Self> {
        let engine = EngineKind::parse(&options.engine)?;
        let core = WasiCore::new(&options)?;
        Ok(WasiHandle { core, engine })
    }

    /// Compiles `bytes` (or takes them from the cache), runs `_start` in
    /// wasmer on this thread and says how it ended.
    #[napi]
    pub fn start_native(&self, bytes: Uint8Array) -> napi::Result<RunOutcome> {
        let module = engine::compile(self.engine, &bytes)?;
        native::run_start(
            engine::engine(self.engine),
            &module,
            self.core.ctx.clone(),
            self.core.versions,
        )
    }
}
