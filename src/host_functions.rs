//! JS host functions for a module's non-WASI imports (`imports: { env: {
//! hostLog(v) {} } }`), called synchronously from wasm.
//!
//! The JS layer (`lib/host-imports.js`) wraps the user's functions in one
//! dispatcher, `dispatch(index, ...args)`, that converts the results the way
//! V8 would and never throws: when a host function throws, it keeps the
//! error and returns a symbol, and the run ends with `HostThrew` so the JS
//! layer can throw that very error (stack and identity kept). A bridge
//! carries a call to the dispatcher: directly when wasm runs on the main
//! thread (`SyncBridge`), through a thread-safe function from a run's thread
//! (`run_thread`).

use std::ptr;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use napi::sys::{self, napi_env, napi_ref, napi_value, Status};
use wasmer::{ExternType, FunctionType, Module, Type, Value};

use crate::errors::{js_error, ErrorKind};
use crate::js_values::{results_from_js, to_js, type_name};
use crate::memory_views::{MemoryViews, Window};

/// A host function threw (the JS layer holds what), or its call failed.
#[derive(Debug)]
pub struct HostThrew;

/// Calls host import number `index` with `args`; `window` is where the
/// guest's memory is for `wasi.memory` during the call.
pub trait JsBridge: Send + Sync {
    fn call(
        &self,
        index: u32,
        args: &[Value],
        results: &[Type],
        window: Window,
    ) -> Result<Vec<Value>, HostThrew>;
}

/// One import of the module that JS provides.
pub struct HostImport {
    pub index: u32,
    pub module: String,
    pub name: String,
    pub ty: FunctionType,
}

/// Matches the module's imports with what JS provides (`provided[i]` is
/// `[module, name]` of dispatcher index `i`). Imports JS does not provide
/// are left for the missing-imports check.
pub fn resolve(module: &Module, provided: &[Vec<String>]) -> napi::Result<Vec<HostImport>> {
    let mut found = Vec::new();
    for import in module.imports() {
        let Some(index) = provided
            .iter()
            .position(|p| p.len() == 2 && p[0] == import.module() && p[1] == import.name())
        else {
            continue;
        };
        let ty = match import.ty() {
            ExternType::Function(ty) => ty.clone(),
            other => {
                return Err(js_error(
                    ErrorKind::Link,
                    format!(
                        "WebAssembly.Instance(): import {}::{} is a {}: natively, only functions can be imported from JS",
                        import.module(),
                        import.name(),
                        extern_kind(other)
                    ),
                ))
            }
        };
        if let Some(bad) = ty
            .params()
            .iter()
            .chain(ty.results())
            .find(|t| !matches!(t, Type::I32 | Type::I64 | Type::F32 | Type::F64))
        {
            return Err(js_error(
                ErrorKind::Link,
                format!(
                    "WebAssembly.Instance(): import {}::{} uses type {}: host functions take and return i32, i64, f32 and f64",
                    import.module(),
                    import.name(),
                    type_name(*bad)
                ),
            ));
        }
        found.push(HostImport {
            index: index as u32,
            module: import.module().to_string(),
            name: import.name().to_string(),
            ty,
        });
    }
    Ok(found)
}

fn extern_kind(ty: &ExternType) -> &'static str {
    match ty {
        ExternType::Function(_) => "function",
        ExternType::Global(_) => "global",
        ExternType::Table(_) => "table",
        ExternType::Memory(_) => "memory",
        ExternType::Tag(_) => "tag",
    }
}

/// Calls the dispatcher on the main thread, where wasm runs synchronously.
pub struct SyncBridge {
    env: napi_env,
    dispatch: napi_ref,
    views: Rc<MemoryViews>,
}

// SAFETY: a SyncBridge is made, used and dropped on the main thread, inside
// one synchronous call from JS (start) or by an instance whose every use is
// a call from JS; wasmer only needs the bounds to store it.
unsafe impl Send for SyncBridge {}
unsafe impl Sync for SyncBridge {}

impl SyncBridge {
    /// # Safety
    /// `env` is the current environment and `dispatch` a function of it.
    pub unsafe fn new(
        env: napi_env,
        dispatch: napi_value,
        views: Rc<MemoryViews>,
    ) -> Result<Self, String> {
        let mut reference = ptr::null_mut();
        // SAFETY: forwarded from the caller.
        if unsafe { sys::napi_create_reference(env, dispatch, 1, &mut reference) }
            != Status::napi_ok
        {
            return Err("cannot keep the host function dispatcher".into());
        }
        Ok(SyncBridge {
            env,
            dispatch: reference,
            views,
        })
    }
}

impl Drop for SyncBridge {
    fn drop(&mut self) {
        // SAFETY: our reference, dropped on the main thread (see above).
        unsafe { sys::napi_delete_reference(self.env, self.dispatch) };
        // The run or instance is over: its memory need not stay mapped.
        self.views.release_idle();
    }
}

impl JsBridge for SyncBridge {
    fn call(
        &self,
        index: u32,
        args: &[Value],
        results: &[Type],
        window: Window,
    ) -> Result<Vec<Value>, HostThrew> {
        // SAFETY: on the main thread with a live env (see the Send impl).
        unsafe {
            call_dispatcher(
                self.env,
                self.dispatch,
                &self.views,
                index,
                args,
                results,
                window,
            )
        }
    }
}

/// A host call the guest made on a thread of its own (`run()`, `start()` in
/// a worker), travelling to the JS thread that answers it.
pub struct HostCall {
    index: u32,
    args: Vec<Value>,
    results: Vec<Type>,
    window: Window,
    reply: mpsc::SyncSender<Result<Vec<Value>, HostThrew>>,
}

/// A host call is two hand-offs between threads, and waking a sleeping
/// thread takes tens of µs on an idle machine: the guest's thread polls this
/// long for the answer before it sleeps.
const POLL: Duration = Duration::from_micros(50);

/// The next message if one comes within `POLL`, polling (and yielding the
/// CPU) without sleeping.
pub fn poll<T>(receiver: &mpsc::Receiver<T>) -> Result<T, mpsc::TryRecvError> {
    let started = Instant::now();
    loop {
        match receiver.try_recv() {
            Err(mpsc::TryRecvError::Empty) if started.elapsed() < POLL => std::thread::yield_now(),
            other => return other,
        }
    }
}

impl HostCall {
    /// On the guest's thread: hands the call to `post` (false: nobody will
    /// answer) and waits for the answer.
    pub fn make(
        index: u32,
        args: &[Value],
        results: &[Type],
        window: Window,
        post: impl FnOnce(HostCall) -> bool,
    ) -> Result<Vec<Value>, HostThrew> {
        let (reply, answer) = mpsc::sync_channel(1);
        let call = HostCall {
            index,
            args: args.to_vec(),
            results: results.to_vec(),
            window,
            reply,
        };
        if !post(call) {
            return Err(HostThrew);
        }
        match poll(&answer) {
            Ok(answer) => answer,
            Err(mpsc::TryRecvError::Empty) => answer.recv().unwrap_or(Err(HostThrew)),
            Err(mpsc::TryRecvError::Disconnected) => Err(HostThrew),
        }
    }

    /// On the JS thread: calls the dispatcher (none: the call fails) and
    /// sends the guest its answer.
    ///
    /// # Safety
    /// As `call_dispatcher`, for `dispatch` when given.
    pub unsafe fn answer(self, env: napi_env, dispatch: Option<napi_ref>, views: &MemoryViews) {
        let answer = match dispatch {
            // SAFETY: forwarded from the caller.
            Some(dispatch) => unsafe {
                call_dispatcher(
                    env,
                    dispatch,
                    views,
                    self.index,
                    &self.args,
                    &self.results,
                    self.window,
                )
            },
            None => Err(HostThrew),
        };
        let _ = self.reply.send(answer);
    }

    /// Fails the call without running JS (the environment is going away).
    pub fn refuse(self) {
        let _ = self.reply.send(Err(HostThrew));
    }
}

/// Calls `dispatch(index, ...args)` and reads its results, in a handle
/// scope of its own (a guest may make millions of calls in one run, and a
/// synchronous `start()` would otherwise keep every handle until it returns).
///
/// # Safety
/// `env` is the current environment and `dispatch` a reference to a
/// function of it; `window` as `MemoryViews::during_host_call` requires.
pub unsafe fn call_dispatcher(
    env: napi_env,
    dispatch: napi_ref,
    views: &MemoryViews,
    index: u32,
    args: &[Value],
    results: &[Type],
    window: Window,
) -> Result<Vec<Value>, HostThrew> {
    // SAFETY: forwarded from the caller; every value below lives in the
    // scope opened here.
    unsafe {
        let mut scope = ptr::null_mut();
        sys::napi_open_handle_scope(env, &mut scope);
        let call = || {
            let mut function = ptr::null_mut();
            sys::napi_get_reference_value(env, dispatch, &mut function);
            let mut argv = Vec::with_capacity(args.len() + 1);
            let mut js_index = ptr::null_mut();
            sys::napi_create_uint32(env, index, &mut js_index);
            argv.push(js_index);
            for arg in args {
                argv.push(to_js(env, arg).map_err(|_| HostThrew)?);
            }
            let mut receiver = ptr::null_mut();
            sys::napi_get_undefined(env, &mut receiver);
            let mut returned = ptr::null_mut();
            let status = views.during_host_call(env, window, || {
                sys::napi_call_function(
                    env,
                    receiver,
                    function,
                    argv.len(),
                    argv.as_ptr(),
                    &mut returned,
                )
            });
            if status != Status::napi_ok {
                // The dispatcher catches what host functions throw, so this
                // is the dispatcher itself failing (e.g. JS out of stack).
                let mut exception = ptr::null_mut();
                sys::napi_get_and_clear_last_exception(env, &mut exception);
                return Err(HostThrew);
            }
            let mut kind = sys::ValueType::napi_undefined;
            sys::napi_typeof(env, returned, &mut kind);
            if kind == sys::ValueType::napi_symbol {
                return Err(HostThrew);
            }
            results_from_js(env, returned, results).map_err(|_| HostThrew)
        };
        let outcome = call();
        sys::napi_close_handle_scope(env, scope);
        outcome
    }
}
