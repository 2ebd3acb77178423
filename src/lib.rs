//! `@x/wasi`: run WASI modules from Node.js on wasmer, and serve node:wasi's
//! API over the same WASI core.
//!
//! Where things live:
//! - `options`: the options of a `WASI` object, parsed.
//! - `engine`: compilers (Cranelift, Singlepass) and the in-process module cache.
//! - `cache`: the on-disk cache of compiled modules.
//! - `limits`: `maxMemory`; `memory_definition`: where a syscall finds guest memory.
//! - `wasi`: the WASI core (fd table, preopens, clocks, scheduler) and its syscalls.
//! - `native`: running a module in wasmer (`start`).
//! - `run_thread`: running it on a thread of its own (`run`).
//! - `reactor`: an instantiated reactor and its exports (`initialize`).
//! - `host_functions`, `js_values`, `memory_views`: JS host functions, the
//!   values they exchange with wasm, and `wasi.memory` during their calls.
//! - `interrupt`: stopping a run (`timeout`, `signal`).
//! - `v8_bridge`: the syscalls as JS functions, for modules V8 runs.
//! - `stdio`: the guest's stdio on host file descriptors or into JS.
//! - `errors`: errors as JS sees them.
//! - `panic_guard`: every entry point turns a panic into a JS error.

#![deny(clippy::all)]

mod cache;
mod engine;
mod errors;
mod host_functions;
mod interrupt;
mod js_values;
mod limits;
mod memory_definition;
mod memory_file;
mod memory_views;
mod native;
mod options;
mod panic_guard;
mod reactor;
mod run_thread;
mod stdio;
mod v8_bridge;
mod wasi;
mod wasi_imports;
mod worker_start;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, FromNapiValue, Object, ObjectFinalize, Uint8Array};
use napi::Env;
use napi::Task;
use napi_derive::napi;

use crate::cache::DiskCache;
use crate::errors::{type_error, wasi_error};
use crate::host_functions::SyncBridge;
use crate::interrupt::Interrupt;
use crate::js_values::RawJs;
use crate::memory_views::MemoryViews;
use crate::native::{Ending, HostFunctions, RunSetup};
use crate::options::{EngineKind, RunStdio, WasiOptions, WasiVersions};
use crate::panic_guard::guarded;
use crate::reactor::NativeInstance;
use crate::run_thread::PendingRun;
use crate::v8_bridge::SharedCtx;

/// Bench only: an N-API function that takes a syscall's arguments and
/// returns 0, the floor of a syscall's cost in V8 mode.
#[napi(ts_return_type = "(...args: unknown[]) => number")]
pub fn empty_syscall(env: &Env) -> napi::Result<napi::bindgen_prelude::Unknown<'_>> {
    guarded("emptySyscall", None, || {
        let function = v8_bridge::empty_function(env.raw())?;
        // SAFETY: a live value just created in `env`.
        unsafe { napi::bindgen_prelude::Unknown::from_napi_value(env.raw(), function) }
    })
}

/// CLI only: ends the process with `code` at once, as `_exit(2)`. x-wasi
/// has written all of its output and the guest's (synchronously) by then;
/// Node's own exit would first wait for V8's background work (tier-up
/// compiles of the wasm that ran) and tear the isolate down, which takes
/// 70-125 ms after a Go test binary (docs/DESIGN.md, "Tiering").
#[napi]
pub fn exit_now(code: i32) {
    // SAFETY: ends the process; no state of ours needs flushing.
    unsafe { libc::_exit(code) }
}

/// A module compiled for the native path: reusable by any number of runs.
/// Its machine code lives as long as this object, or a run or reactor
/// using it, whichever is last (see `engine`).
#[napi(custom_finalize)]
pub struct CompiledModule {
    /// None once `release()`d.
    compiled: Option<Arc<engine::Compiled>>,
    kind: EngineKind,
    origin: engine::Origin,
    /// See `engine::AutoCompiled`.
    optimize_later: bool,
}

impl CompiledModule {
    /// Wraps a compile's result, telling V8 the native memory it holds.
    fn new(
        env: &Env,
        compiled: Arc<engine::Compiled>,
        origin: engine::Origin,
    ) -> napi::Result<Self> {
        env.adjust_external_memory(compiled.native_bytes)?;
        Ok(CompiledModule {
            kind: compiled.kind,
            compiled: Some(compiled),
            origin,
            optimize_later: false,
        })
    }

    /// Lets go of the code, and tells V8 so.
    fn drop_compiled(&mut self, env: &Env) -> napi::Result<()> {
        if let Some(compiled) = self.compiled.take() {
            env.adjust_external_memory(-compiled.native_bytes)?;
        }
        Ok(())
    }

    /// `engine` is `auto`, `cranelift` or `singlepass`.
    fn compile_now(
        env: &Env,
        bytes: &[u8],
        engine: &str,
        disk: Option<DiskCache>,
    ) -> napi::Result<Self> {
        let (compiled, origin, optimize_later) = compile_choice(bytes, engine, disk)?;
        let mut module = CompiledModule::new(env, compiled, origin)?;
        module.optimize_later = optimize_later;
        Ok(module)
    }

    fn compiled(&self) -> napi::Result<&engine::Compiled> {
        self.compiled
            .as_deref()
            .ok_or_else(|| wasi_error("this compiled module was released"))
    }
}

#[napi]
impl CompiledModule {
    /// Compiles `bytes` with `engine` (`cranelift` or `singlepass`), taking
    /// the result from a live module of this process or from the on-disk
    /// cache in `cache_dir` (none when absent) when there; that cache holds
    /// at most `cache_max_bytes` (plus the entry just stored).
    #[napi(factory)]
    pub fn compile(
        env: Env,
        bytes: Uint8Array,
        engine: String,
        cache_dir: Option<String>,
        cache_max_bytes: Option<f64>,
    ) -> napi::Result<Self> {
        guarded("compile", None, || {
            let disk = cache_dir
                .as_deref()
                .map(|dir| DiskCache::new(Path::new(dir), cache_max_bytes));
            CompiledModule::compile_now(&env, &bytes, &engine, disk)
        })
    }

    /// `engine: 'auto'` before compiling (`engine::probe_auto`): is there
    /// optimized code for `bytes`, else may V8 run them? Hashes and reads
    /// the module's imports; compiles nothing.
    #[napi]
    pub fn probe(
        bytes: Uint8Array,
        cache_dir: Option<String>,
        cache_max_bytes: Option<f64>,
    ) -> napi::Result<TierProbe> {
        guarded("probe", None, || {
            let disk = cache_dir
                .as_deref()
                .map(|dir| DiskCache::new(Path::new(dir), cache_max_bytes));
            let probe = engine::probe_auto(&bytes, disk);
            Ok(TierProbe {
                optimized: probe.optimized,
                v8_runnable: probe.v8_runnable,
                hash: probe.hash.to_hex().to_string(),
            })
        })
    }

    /// Records that V8 runs the module of `hash` (from `probe`) in the disk
    /// cache at `cache_dir` (`engine::mark_seen`); true when the cache had
    /// seen it before: Cranelift should compile it in the background.
    #[napi]
    pub fn mark_seen(hash: String, cache_dir: String) -> napi::Result<bool> {
        guarded("markSeen", None, || {
            let hash = blake3::Hash::from_hex(&hash)
                .map_err(|_| type_error("markSeen: not a BLAKE3 hash"))?;
            Ok(engine::mark_seen(
                &hash,
                DiskCache::new(Path::new(&cache_dir), None),
            ))
        })
    }

    /// Starts validating `bytes` as wasmer would compile them, on a thread
    /// of its own (`engine::validate_in_background`); `wait()` answers.
    #[napi]
    pub fn validate_in_background(bytes: Uint8Array) -> napi::Result<ModuleValidation> {
        guarded("validateInBackground", None, || {
            Ok(ModuleValidation {
                thread: Some(engine::validate_in_background(bytes.to_vec())),
                valid: None,
            })
        })
    }

    /// `compile` on a thread of the libuv pool, so the event loop keeps
    /// going while Cranelift works (`run()` compiles this way).
    #[napi(ts_return_type = "Promise<CompiledModule>")]
    pub fn compile_async(
        bytes: Uint8Array,
        engine: String,
        cache_dir: Option<String>,
        cache_max_bytes: Option<f64>,
    ) -> napi::Result<AsyncTask<CompileTask>> {
        guarded("compileAsync", None, || {
            if engine != "auto" {
                EngineKind::parse(&engine)?;
            }
            Ok(AsyncTask::new(CompileTask {
                bytes: bytes.to_vec(),
                engine,
                cache_dir,
                cache_max_bytes,
            }))
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

    /// `engine: 'auto'` ran the fast tier for a module it has seen before:
    /// optimized code for it should be compiled into the disk cache (the JS
    /// layer does so in a background process).
    #[napi(getter)]
    pub fn optimize_later(&self) -> bool {
        self.optimize_later
    }

    /// Drops this object's hold on the machine code now rather than when
    /// the garbage collector gets to it (`start(bytes)` and `run(bytes)` call
    /// it once their run holds the module). Runs and reactors using it keep
    /// it alive themselves.
    #[napi]
    pub fn release(&mut self, env: Env) -> napi::Result<()> {
        self.drop_compiled(&env)
    }

    /// The module's function imports, with their types, for the JS layer to
    /// match against host functions.
    #[napi]
    pub fn function_imports(&self) -> napi::Result<Vec<FunctionImport>> {
        guarded("functionImports", None, || {
            Ok(self
                .compiled()?
                .module
                .imports()
                .filter_map(|import| match import.ty() {
                    wasmer::ExternType::Function(ty) => Some(FunctionImport {
                        module: import.module().to_string(),
                        name: import.name().to_string(),
                        params: ty
                            .params()
                            .iter()
                            .map(|t| js_values::type_name(*t).into())
                            .collect(),
                        results: ty
                            .results()
                            .iter()
                            .map(|t| js_values::type_name(*t).into())
                            .collect(),
                    }),
                    _ => None,
                })
                .collect())
        })
    }
}

impl ObjectFinalize for CompiledModule {
    fn finalize(mut self, env: Env) -> napi::Result<()> {
        self.drop_compiled(&env)
    }
}

/// Compiles with the engine named (`auto` picks a tier, see
/// `engine::compile_auto`); says whether optimized code should be made later.
fn compile_choice(
    bytes: &[u8],
    engine: &str,
    disk: Option<DiskCache>,
) -> napi::Result<(Arc<engine::Compiled>, engine::Origin, bool)> {
    if engine == "auto" {
        let auto = engine::compile_auto(bytes, disk)?;
        return Ok((auto.compiled, auto.origin, auto.optimize_later));
    }
    let (compiled, origin) = engine::compile(EngineKind::parse(engine)?, bytes, disk)?;
    Ok((compiled, origin, false))
}

/// A compile for `CompiledModule.compileAsync`.
pub struct CompileTask {
    bytes: Vec<u8>,
    engine: String,
    cache_dir: Option<String>,
    cache_max_bytes: Option<f64>,
}

impl Task for CompileTask {
    type Output = (Arc<engine::Compiled>, engine::Origin, bool);
    type JsValue = CompiledModule;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        // On a libuv thread: a panic unwinding out of napi-rs's `execute`
        // callback would abort the process.
        guarded("compile (async)", None, || {
            let disk = self
                .cache_dir
                .as_deref()
                .map(|dir| DiskCache::new(Path::new(dir), self.cache_max_bytes));
            compile_choice(&self.bytes, &self.engine, disk)
        })
    }

    fn resolve(
        &mut self,
        env: Env,
        (compiled, origin, optimize_later): Self::Output,
    ) -> napi::Result<CompiledModule> {
        let mut module = CompiledModule::new(&env, compiled, origin)?;
        module.optimize_later = optimize_later;
        Ok(module)
    }
}

/// A validation under way (`CompiledModule.validateInBackground`).
#[napi]
pub struct ModuleValidation {
    thread: Option<std::thread::JoinHandle<bool>>,
    valid: Option<bool>,
}

#[napi]
impl ModuleValidation {
    /// Whether wasmer finds the module valid; waits for the thread.
    #[napi]
    pub fn wait(&mut self) -> napi::Result<bool> {
        guarded("validation", None, || {
            if let Some(thread) = self.thread.take() {
                // A panic in the validator counts as invalid: the native
                // path then reports the module as it does.
                self.valid = Some(thread.join().unwrap_or(false));
            }
            Ok(self.valid.unwrap_or(false))
        })
    }
}

/// What `CompiledModule.probe` found (see `engine::Probe`).
#[napi(object)]
pub struct TierProbe {
    pub optimized: bool,
    pub v8_runnable: bool,
    /// The module's BLAKE3 hash, hex: for `markSeen`.
    pub hash: String,
}

/// A function a module imports.
#[napi(object)]
pub struct FunctionImport {
    pub module: String,
    pub name: String,
    pub params: Vec<String>,
    pub results: Vec<String>,
}

/// How a run of `_start` ended.
#[napi(object)]
pub struct RunOutcome {
    /// 0 when `_start` returned, else the code passed to `proc_exit`.
    pub exit_code: u32,
    /// Whether the guest called `proc_exit` (node:wasi then exits Node
    /// unless `returnOnExit`).
    pub called_exit: bool,
    /// A JS host function threw: the JS layer throws what it threw.
    pub host_threw: bool,
}

/// JS host functions for a native run: the JS layer's dispatcher, and
/// `[module, name]` of each function it serves, by dispatcher index.
#[napi(object)]
pub struct NativeRunOptions {
    #[napi(ts_type = "(index: number, ...args: Array<number | bigint>) => unknown")]
    pub dispatch: Option<RawJs>,
    pub provided: Option<Vec<Vec<String>>>,
    /// `maxMemory`, in bytes.
    pub max_memory: Option<f64>,
    /// start() in a worker: run the guest on a thread of its own, so that
    /// `worker.terminate()` can stop it (`worker_start`).
    pub own_thread: Option<bool>,
}

/// The native half of a JS `WASI` object (see `index.js`): its WASI state,
/// used by exactly one run, native or in V8.
#[napi]
pub struct WasiHandle {
    ctx: SharedCtx,
    versions: WasiVersions,
    interrupt: Arc<Interrupt>,
    views: Rc<MemoryViews>,
}

impl WasiHandle {
    /// Takes the WASI state for a native run: wasi-common needs it unshared
    /// (e.g. for fd_fdstat_set_flags), and a WASI object runs only once.
    fn take_ctx(&self) -> napi::Result<wasi_common::WasiCtx> {
        self.ctx
            .borrow_mut()
            .take()
            .ok_or_else(|| wasi_error("this WASI object has already run a module"))
    }

    fn setup(&self, ctx: wasi_common::WasiCtx, max_memory: Option<f64>) -> RunSetup {
        RunSetup {
            ctx,
            versions: self.versions,
            host: None,
            max_memory: max_memory.map(|bytes| bytes as u64),
            interrupt: self.interrupt.clone(),
        }
    }

    /// Host functions called on this (the main) thread.
    fn sync_host(
        &self,
        env: &Env,
        options: &NativeRunOptions,
    ) -> napi::Result<Option<HostFunctions>> {
        let (Some(dispatch), Some(provided)) = (&options.dispatch, &options.provided) else {
            return Ok(None);
        };
        // SAFETY: the current env; `dispatch` is an argument of this call.
        let bridge = unsafe { SyncBridge::new(env.raw(), dispatch.0, self.views.clone()) }
            .map_err(napi::Error::from_reason)?;
        Ok(Some(HostFunctions {
            bridge: Arc::new(bridge),
            provided: provided.clone(),
        }))
    }

    /// What a run on this (the main) thread needs: the WASI state, host
    /// functions called directly, the memory cap.
    fn sync_setup(&self, env: &Env, options: &NativeRunOptions) -> napi::Result<RunSetup> {
        let host = self.sync_host(env, options)?;
        let ctx = self.take_ctx()?;
        Ok(RunSetup {
            host,
            ..self.setup(ctx, options.max_memory)
        })
    }
}

#[napi]
impl WasiHandle {
    #[napi(constructor)]
    pub fn new(options: WasiOptions) -> napi::Result<Self> {
        guarded("new WASI", None, || {
            let versions = WasiVersions::parse(options.version.as_deref())?;
            let interrupt = Arc::new(Interrupt::default());
            let ctx = wasi::build_ctx(&options, &interrupt)?;
            Ok(WasiHandle {
                ctx: Rc::new(RefCell::new(Some(ctx))),
                versions,
                interrupt,
                views: Rc::default(),
            })
        })
    }

    /// Runs `_start` of a compiled module in wasmer on this thread and says
    /// how it ended.
    #[napi]
    pub fn start_native(
        &self,
        env: Env,
        module: &CompiledModule,
        options: NativeRunOptions,
    ) -> napi::Result<RunOutcome> {
        let compiled = module.compiled()?;
        let ending = guarded("start", None, || {
            Ok(if options.own_thread == Some(true) {
                let setup = self.setup(self.take_ctx()?, options.max_memory);
                let host = match (&options.dispatch, &options.provided) {
                    (Some(dispatch), Some(provided)) => Some((dispatch.0, provided.clone())),
                    _ => None,
                };
                // SAFETY: the current env; `dispatch` is an argument of this call.
                unsafe {
                    worker_start::start(
                        env.raw(),
                        compiled.engine.clone(),
                        compiled.module.clone(),
                        setup,
                        host,
                        self.views.clone(),
                    )
                }?
            } else {
                let setup = self.sync_setup(&env, &options)?;
                native::run_start(&compiled.engine, &compiled.module, setup)?
            })
        })?;
        Ok(match ending {
            Ending::Returned | Ending::Interrupted => RunOutcome {
                exit_code: 0,
                called_exit: false,
                host_threw: false,
            },
            Ending::Exited(code) => RunOutcome {
                exit_code: code,
                called_exit: true,
                host_threw: false,
            },
            Ending::HostThrew => RunOutcome {
                exit_code: 0,
                called_exit: false,
                host_threw: true,
            },
        })
    }

    /// Starts `_start` of a compiled module on a thread of its own.
    /// `on_event(kind, ...)` receives its output (kind 1 and 2, with a
    /// Buffer) when `stdio` sends it to JS, then how it ended (kind 3, with
    /// `ending`, `exitCode`, `error`).
    #[napi(
        ts_args_type = "module: CompiledModule, stdio: RunStdio, onEvent: (kind: number, ...payload: unknown[]) => void, options: NativeRunOptions"
    )]
    pub fn run_native(
        &self,
        env: Env,
        module: &CompiledModule,
        stdio: RunStdio,
        on_event: RawJs,
        options: NativeRunOptions,
    ) -> napi::Result<()> {
        // The run's own thread catches what panics there (run_thread.rs).
        guarded("run", None, || {
            let compiled = module.compiled()?;
            let ctx = self.take_ctx()?;
            // SAFETY: the current env; the functions are arguments of this call.
            let pending = unsafe {
                PendingRun::open(
                    env.raw(),
                    on_event.0,
                    options.dispatch.as_ref().map(|d| d.0),
                    self.views.clone(),
                )
            }?;
            wasi::set_run_stdio(&ctx, &stdio, &pending.output_sink(), &self.interrupt)?;
            let setup = self.setup(ctx, options.max_memory);
            pending.spawn(
                compiled.engine.clone(),
                compiled.module.clone(),
                setup,
                options.provided,
            )
        })
    }

    /// Asks a `run()` to stop (`timeout`, `signal`); call again until it
    /// has ended, as a signal can miss a guest just entering wasm.
    #[napi]
    pub fn interrupt(&self) -> napi::Result<()> {
        guarded("interrupt", None, || {
            self.interrupt.request();
            Ok(())
        })
    }

    /// Instantiates a reactor module in wasmer on this thread, for its
    /// exports (`initialize()` calls `_initialize` through them).
    #[napi]
    pub fn initialize_native(
        &self,
        env: Env,
        module: &CompiledModule,
        options: NativeRunOptions,
    ) -> napi::Result<NativeInstance> {
        guarded("initialize", None, || {
            let compiled = module.compiled()?;
            let setup = self.sync_setup(&env, &options)?;
            match native::instantiate(&compiled.engine, &compiled.module, setup)? {
                Ok(linked) => {
                    // The instance keeps the code alive: the GC should know.
                    env.adjust_external_memory(compiled.native_bytes)?;
                    Ok(NativeInstance::new(
                        linked,
                        self.views.clone(),
                        compiled.native_bytes,
                    ))
                }
                Err(_) => Err(errors::js_error(
                    errors::ErrorKind::Runtime,
                    "the module's start function did not return",
                )),
            }
        })
    }

    /// The guest's memory while one of its host functions runs (natively),
    /// else null.
    #[napi(ts_return_type = "ArrayBuffer | null")]
    pub fn memory_buffer(&self, env: Env) -> napi::Result<Option<RawJs>> {
        guarded("wasi.memory", None, || {
            // SAFETY: the current env, on the main thread.
            unsafe { self.views.buffer(env.raw()) }
                .map(|buffer| buffer.map(RawJs))
                .map_err(napi::Error::from_reason)
        })
    }

    /// Closes the guest's descriptors (its duplicates of stdio, its
    /// preopens, what it left open) once a command has run in V8, instead of
    /// when the garbage collector gets to this object. The rest of the WASI
    /// state stays: node:wasi's imports keep answering after start().
    #[napi]
    pub fn release(&self) -> napi::Result<()> {
        guarded("release", None, || {
            if let Ok(mut ctx) = self.ctx.try_borrow_mut() {
                if let Some(ctx) = ctx.as_mut() {
                    wasi::close_descriptors(ctx);
                }
            }
            Ok(())
        })
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
        guarded("wasiImport", None, || {
            let table = v8_bridge::table(&abi)
                .ok_or_else(|| type_error(format!("unknown WASI ABI '{abi}'")))?;
            let object = v8_bridge::syscall_object(env.raw(), table, &self.ctx)?;
            // SAFETY: a live object just created in `env`.
            unsafe { Object::from_napi_value(env.raw(), object) }
        })
    }

    /// The number of wasm parameters of each syscall of `abi`.
    #[napi]
    pub fn syscall_arities(&self, abi: String) -> napi::Result<HashMap<String, u32>> {
        guarded("wasiImport", None, || {
            let table = v8_bridge::table(&abi)
                .ok_or_else(|| type_error(format!("unknown WASI ABI '{abi}'")))?;
            Ok(table
                .iter()
                .map(|s| (s.name.to_string(), s.arity))
                .collect())
        })
    }
}
