//! Running a module natively in wasmer: link the WASI imports of both names,
//! instantiate, run `_start`, and turn the outcome into an exit code or a JS
//! error.

use std::collections::BTreeSet;

use wasi_common::WasiCtx;
use wasmer::{
    Engine, Function, FunctionEnv, FunctionEnvMut, Imports, Instance, InstantiationError, Memory,
    Module, RuntimeError, Store,
};
use wiggle::GuestMemory;

use crate::errors::{describe_trap, js_error, ErrorKind};
use crate::options::WasiVersions;
use crate::wasi::syscalls::{self, Stop};
use crate::RunOutcome;

const PREVIEW1: &str = "wasi_snapshot_preview1";
const UNSTABLE: &str = "wasi_unstable";

/// What the WASI host functions of one run can reach.
struct NativeEnv {
    ctx: WasiCtx,
    /// The instance's exported `memory`, set once instantiated.
    memory: Option<Memory>,
}

/// Borrows the guest's whole linear memory in place for one syscall.
fn guest_memory<'a>(
    memory: &Option<Memory>,
    store: &'a impl wasmer::AsStoreRef,
) -> Result<GuestMemory<'a>, RuntimeError> {
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
                        let mut memory = guest_memory(&data.memory, &store)?;
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

/// Turns how `_start` ended into an exit code or the error to throw.
fn outcome(ended: Result<Box<[wasmer::Value]>, RuntimeError>) -> napi::Result<RunOutcome> {
    let trap = match ended {
        Ok(_) => {
            return Ok(RunOutcome {
                exit_code: 0,
                called_exit: false,
            })
        }
        Err(trap) => trap,
    };
    match trap.downcast_ref::<Stop>() {
        Some(Stop::Exit(code)) => Ok(RunOutcome {
            exit_code: *code,
            called_exit: true,
        }),
        Some(Stop::Trap(message)) => Err(js_error(ErrorKind::Runtime, message)),
        None => Err(js_error(ErrorKind::Runtime, describe_trap(&trap))),
    }
}

/// Instantiates `module` against `ctx` and runs its `_start` on this thread.
pub fn run_start(
    engine: &Engine,
    module: &Module,
    ctx: WasiCtx,
    versions: WasiVersions,
) -> napi::Result<RunOutcome> {
    let mut store = Store::new(engine.clone());
    let env = FunctionEnv::new(&mut store, NativeEnv { ctx, memory: None });
    let imports = wasi_imports(&mut store, &env, versions);
    check_imports(module, &imports)?;
    let instance = Instance::new(&mut store, module, &imports).map_err(instantiation_error)?;
    env.as_mut(&mut store).memory = instance.exports.get_memory("memory").ok().cloned();
    let start = instance.exports.get_function("_start").map_err(|_| {
        js_error(
            ErrorKind::Type,
            "The module has no '_start' export: it is not a WASI command (use initialize() for a reactor)",
        )
    })?;
    outcome(start.call(&mut store, &[]))
}
