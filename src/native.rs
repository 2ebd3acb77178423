//! Running a module natively in wasmer: link the WASI imports of both names
//! and the JS host functions, instantiate, run `_start`, and turn the
//! outcome into an ending or a JS error. Used on the main thread (`start`,
//! `initialize`) and on a run's own thread (`run_thread`).

use std::collections::BTreeSet;
use std::sync::Arc;

use wasi_common::WasiCtx;
use wasmer::{
    Engine, Function, FunctionEnv, FunctionEnvMut, Imports, Instance, InstantiationError, Memory,
    Module, RuntimeError, Store,
};
use wiggle::GuestMemory;

use crate::errors::{describe_trap, js_error, ErrorKind};
use crate::host_functions::{self, JsBridge};
use crate::interrupt::{Interrupt, RunningGuard};
use crate::limits;
use crate::memory_definition::{Definition, MemoryDefinitions};
use crate::memory_file::MemoryFiles;
use crate::memory_views::{Lendable, Window};
use crate::options::WasiVersions;
use crate::wasi::syscalls::{self, Stop};

const PREVIEW1: &str = "wasi_snapshot_preview1";
const UNSTABLE: &str = "wasi_unstable";

/// What the WASI host functions of one run can reach.
pub struct NativeEnv {
    ctx: WasiCtx,
    /// The instance's exported `memory`, set once instantiated.
    memory: Option<Memory>,
    /// Where that memory's base and length live, when known.
    definition: Option<Definition>,
    /// The memory files of the store's memories.
    files: MemoryFiles,
}

/// Where the guest's memory is now, for a host function's `wasi.memory`.
fn guest_window(
    memory: &Option<Memory>,
    files: &MemoryFiles,
    store: &impl wasmer::AsStoreRef,
) -> Window {
    memory.as_ref().map(|memory| lendable(memory, files, store))
}

/// What a lend of `memory` needs: its memory file and length.
pub fn lendable(memory: &Memory, files: &MemoryFiles, store: &impl wasmer::AsStoreRef) -> Lendable {
    let view = memory.view(store);
    Lendable {
        file: files.find(view.data_ptr() as usize),
        length: view.data_size() as usize,
    }
}

/// Borrows the guest's whole linear memory in place for one syscall.
fn guest_memory<'a>(
    memory: &Option<Memory>,
    definition: Option<Definition>,
    store: &'a impl wasmer::AsStoreRef,
) -> Result<GuestMemory<'a>, RuntimeError> {
    if let Some(definition) = definition {
        // SAFETY: the definition of this store's memory (alive while the
        // store is borrowed); the guest is suspended inside this syscall,
        // which never grows memory.
        return Ok(GuestMemory::Unshared(unsafe { definition.bytes() }));
    }
    let memory = memory.as_ref().ok_or_else(|| {
        RuntimeError::new("WASI syscall needs the module to export a memory named 'memory'")
    })?;
    let view = memory.view(store);
    let len = view.data_size() as usize;
    // SAFETY: the view's pointer and size describe the instance's linear
    // memory, which stays mapped and unmoved while the store is borrowed: a
    // syscall never grows memory, and the guest is suspended inside it.
    let bytes = unsafe { std::slice::from_raw_parts_mut(view.data_ptr(), len) };
    Ok(GuestMemory::Unshared(bytes))
}

macro_rules! define_syscalls {
    ($imports:ident, $store:ident, $env:ident, $module:expr, $namespace:ident,
     $(($name:ident, [$($arg:ident : $ty:ty),*])),*) => {
        $(
            $imports.define(
                $module,
                stringify!($name),
                Function::new_typed_with_env(
                    $store,
                    $env,
                    |mut fenv: FunctionEnvMut<NativeEnv>, $($arg: $ty),*| -> Result<i32, RuntimeError> {
                        let (data, store) = fenv.data_and_store_mut();
                        let mut memory = guest_memory(&data.memory, data.definition, &store)?;
                        syscalls::$namespace::$name(&mut data.ctx, &mut memory, $($arg),*)
                            .map_err(|stop| RuntimeError::user(Box::new(stop)))
                    },
                ),
            );
        )*
    };
}

fn proc_exit(store: &mut Store, env: &FunctionEnv<NativeEnv>) -> Function {
    Function::new_typed_with_env(
        store,
        env,
        |_: FunctionEnvMut<NativeEnv>, code: i32| -> Result<(), RuntimeError> {
            Err(RuntimeError::user(Box::new(syscalls::proc_exit(code))))
        },
    )
}

/// The WASI imports of every namespace `versions` asks for.
fn wasi_imports(
    store: &mut Store,
    env: &FunctionEnv<NativeEnv>,
    versions: WasiVersions,
) -> Imports {
    let mut imports = Imports::new();
    if versions.preview1 {
        crate::for_each_shared_syscall!(define_syscalls!(
            imports, store, env, PREVIEW1, preview1,
            (sock_accept, [fd: i32, flags: i32, result_fd: i32]),
        ));
        imports.define(PREVIEW1, "proc_exit", proc_exit(store, env));
    }
    if versions.unstable {
        crate::for_each_shared_syscall!(define_syscalls!(imports, store, env, UNSTABLE, unstable,));
        imports.define(UNSTABLE, "proc_exit", proc_exit(store, env));
    }
    imports
}

/// Names every import the module needs that `imports` lacks, so a user sees
/// all of them at once rather than one per attempt.
fn check_imports(module: &Module, imports: &Imports) -> napi::Result<()> {
    let missing: BTreeSet<String> = module
        .imports()
        .filter(|import| !imports.exists(import.module(), import.name()))
        .map(|import| format!("{}::{}", import.module(), import.name()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.into_iter().collect::<Vec<_>>().join(", ");
    Err(js_error(
        ErrorKind::Link,
        format!(
            "WebAssembly.Instance(): unknown import(s) not provided by WASI or the host: {list}"
        ),
    ))
}

fn instantiation_error(err: InstantiationError) -> napi::Error {
    match err {
        InstantiationError::Start(trap) => js_error(ErrorKind::Runtime, describe_trap(&trap)),
        other => js_error(ErrorKind::Link, format!("WebAssembly.Instance(): {other}")),
    }
}

/// How a run of `_start` (or a call of an export) ended, short of a trap.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// It returned.
    Returned,
    /// The guest called `proc_exit(code)`.
    Exited(u32),
    /// A JS host function threw; the JS layer throws what it threw.
    HostThrew,
    /// `timeout` or `signal` stopped it.
    Interrupted,
}

/// Turns how a call into the guest ended into an ending or the error to throw.
pub fn ending(ended: Result<(), RuntimeError>, interrupt: &Interrupt) -> napi::Result<Ending> {
    let Err(trap) = ended else {
        return Ok(Ending::Returned);
    };
    match trap.downcast_ref::<Stop>() {
        Some(Stop::Exit(code)) => Ok(Ending::Exited(*code)),
        Some(Stop::HostThrew) => Ok(Ending::HostThrew),
        _ if interrupt.is_requested() => Ok(Ending::Interrupted),
        Some(Stop::Trap(message)) => Err(js_error(ErrorKind::Runtime, message)),
        None => Err(js_error(ErrorKind::Runtime, describe_trap(&trap))),
    }
}

/// JS host functions for a module's non-WASI imports: the bridge to call
/// them through, and `[module, name]` of each, in dispatcher order.
pub struct HostFunctions {
    pub bridge: Arc<dyn JsBridge>,
    pub provided: Vec<Vec<String>>,
}

/// What a run needs besides the module.
pub struct RunSetup {
    pub ctx: WasiCtx,
    pub versions: WasiVersions,
    pub host: Option<HostFunctions>,
    pub max_memory: Option<u64>,
    pub interrupt: Arc<Interrupt>,
}

/// An instantiated module with its store; `_guard` marks this thread as
/// running it, for `Interrupt::request`.
pub struct Linked {
    pub store: Store,
    pub instance: Instance,
    pub interrupt: Arc<Interrupt>,
    /// The memory files of the store's memories.
    pub files: MemoryFiles,
    _guard: RunningGuard,
}

fn host_imports(
    store: &mut Store,
    env: &FunctionEnv<NativeEnv>,
    module: &Module,
    host: &HostFunctions,
    imports: &mut Imports,
) -> napi::Result<()> {
    for import in host_functions::resolve(module, &host.provided)? {
        let bridge = host.bridge.clone();
        let results = import.ty.results().to_vec();
        let index = import.index;
        let function = Function::new_with_env(
            store,
            env,
            import.ty.clone(),
            move |mut fenv: FunctionEnvMut<NativeEnv>, args: &[wasmer::Value]| {
                let (data, store) = fenv.data_and_store_mut();
                let window = guest_window(&data.memory, &data.files, &store);
                bridge
                    .call(index, args, &results, window)
                    .map_err(|_| RuntimeError::user(Box::new(Stop::HostThrew)))
            },
        );
        imports.define(&import.module, &import.name, function);
    }
    Ok(())
}

/// Links and instantiates `module`, running its start function if it has
/// one: `Err(ending)` when that function exited, was stopped or a host
/// function it called threw.
pub fn instantiate(
    engine: &Engine,
    module: &Module,
    setup: RunSetup,
) -> napi::Result<Result<Linked, Ending>> {
    let files = MemoryFiles::default();
    let definitions = MemoryDefinitions::default();
    let engine = limits::run_engine(
        engine.clone(),
        setup.max_memory,
        files.clone(),
        definitions.clone(),
    );
    let mut store = Store::new(engine);
    let guard = setup.interrupt.enter(store.id());
    let env = FunctionEnv::new(
        &mut store,
        NativeEnv {
            ctx: setup.ctx,
            memory: None,
            definition: None,
            files: files.clone(),
        },
    );
    let mut imports = wasi_imports(&mut store, &env, setup.versions);
    if let Some(host) = &setup.host {
        host_imports(&mut store, &env, module, host, &mut imports)?;
    }
    check_imports(module, &imports)?;
    let instance = match Instance::new(&mut store, module, &imports) {
        Ok(instance) => instance,
        Err(InstantiationError::Start(trap)) => {
            return match ending(Err(trap.clone()), &setup.interrupt)? {
                Ending::Returned => Err(instantiation_error(InstantiationError::Start(trap))),
                stopped => Ok(Err(stopped)),
            }
        }
        Err(err) => return Err(instantiation_error(err)),
    };
    let memory = instance.exports.get_memory("memory").ok().cloned();
    let definition = memory
        .as_ref()
        .and_then(|memory| definitions.find(memory.view(&store).data_ptr()));
    let data = env.as_mut(&mut store);
    data.memory = memory;
    data.definition = definition;
    Ok(Ok(Linked {
        store,
        instance,
        interrupt: setup.interrupt,
        files,
        _guard: guard,
    }))
}

/// `run_start` on a thread of its own (`run()`, `start()` in a worker),
/// where a panic must not unwind out of the thread: it becomes the run's
/// error. The error is the reason text the JS side turns into an error.
pub fn run_start_caught(
    engine: &Engine,
    module: &Module,
    setup: RunSetup,
) -> Result<Ending, String> {
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_start(engine, module, setup)
    }));
    match ran {
        Ok(Ok(ending)) => Ok(ending),
        Ok(Err(err)) => Err(err.reason),
        Err(_) => Err("[RuntimeError] the run failed inside the addon (a panic)".into()),
    }
}

/// Instantiates `module` and runs its `_start` on this thread.
pub fn run_start(engine: &Engine, module: &Module, setup: RunSetup) -> napi::Result<Ending> {
    let interrupt = setup.interrupt.clone();
    if interrupt.is_requested() {
        return Ok(Ending::Interrupted);
    }
    let mut linked = match instantiate(engine, module, setup)? {
        Ok(linked) => linked,
        Err(stopped) => return Ok(stopped),
    };
    let start = linked.instance.exports.get_function("_start").map_err(|_| {
        js_error(
            ErrorKind::Type,
            "The module has no '_start' export: it is not a WASI command (use initialize() for a reactor)",
        )
    })?;
    let start = start.clone();
    let ended = start.call(&mut linked.store, &[]).map(|_| ());
    ending(ended, &interrupt)
}
