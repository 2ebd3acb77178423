//! A synchronous `start()` in a worker thread: the guest runs on a thread of
//! its own while the worker's JS thread waits for it in short slices,
//! serving its host function calls (and lending it memory) in between.
//!
//! N-API has no hook for `worker.terminate()`: Node asks V8 to terminate the
//! worker's isolate and waits for its thread to return to the event loop,
//! which a guest computing, sleeping or reading stdin on that very thread
//! would never do. Waiting here instead, the JS thread probes every slice
//! whether it can still run JS; once it cannot, it stops the guest (as a
//! `timeout` does: a host interrupt in wasm, the 20 ms slices of blocking
//! syscalls), waits for its thread to end (dropping its WASI state: its
//! files close) and returns, so V8 can unwind the worker.

use std::ptr;
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use napi::sys::{self, napi_env, napi_value, Status};
use wasmer::{Engine, Module, Type, Value};

use crate::errors::{js_error, ErrorKind};
use crate::host_functions::{poll, HostCall, HostThrew, JsBridge};
use crate::memory_views::{MemoryViews, Window};
use crate::native::{self, Ending, HostFunctions, RunSetup};

/// How long the JS thread waits for the guest before probing JS again.
const SLICE: Duration = Duration::from_millis(20);

/// The guest's thread stack: host code (syscalls, wasmer's trap handling)
/// runs on it; wasm itself runs on a stack of wasmer's.
const THREAD_STACK: usize = 8 << 20;

enum ToJs {
    HostCall(HostCall),
    Done(Result<Ending, String>),
}

/// Host calls from the guest's thread, answered by the waiting JS thread.
struct WaitingBridge(Mutex<mpsc::Sender<ToJs>>);

impl JsBridge for WaitingBridge {
    fn call(
        &self,
        index: u32,
        args: &[Value],
        results: &[Type],
        window: Window,
    ) -> Result<Vec<Value>, HostThrew> {
        HostCall::make(index, args, results, window, |call| {
            let sender = self.0.lock().unwrap_or_else(|e| e.into_inner());
            sender.send(ToJs::HostCall(call)).is_ok()
        })
    }
}

/// Runs `_start` on a thread of its own and waits for it on this (JS)
/// thread; `dispatch` serves `provided` host functions.
///
/// # Safety
/// `env` is the current environment and `dispatch` a function of it.
pub unsafe fn start(
    env: napi_env,
    engine: Engine,
    module: Module,
    setup: RunSetup,
    host: Option<(napi_value, Vec<Vec<String>>)>,
    views: Rc<MemoryViews>,
) -> napi::Result<Ending> {
    let (sender, receiver) = mpsc::channel();
    let mut dispatch = ptr::null_mut();
    let setup = match host {
        Some((function, provided)) => {
            // SAFETY: forwarded from the caller.
            if unsafe { sys::napi_create_reference(env, function, 1, &mut dispatch) }
                != Status::napi_ok
            {
                return Err(napi::Error::from_reason(
                    "cannot keep the host function dispatcher",
                ));
            }
            let bridge: Arc<dyn JsBridge> = Arc::new(WaitingBridge(Mutex::new(sender.clone())));
            RunSetup {
                host: Some(HostFunctions { bridge, provided }),
                ..setup
            }
        }
        None => setup,
    };
    let interrupt = setup.interrupt.clone();
    let spawned = std::thread::Builder::new()
        .name("x-wasi start".into())
        .stack_size(THREAD_STACK)
        .spawn(move || {
            let done = native::run_start_caught(&engine, &module, setup);
            // The WASI state is dropped by now: its files are closed.
            let _ = sender.send(ToJs::Done(done));
        });
    let thread = match spawned {
        Ok(thread) => thread,
        Err(e) => {
            if !dispatch.is_null() {
                // SAFETY: our reference, deleted once.
                unsafe { sys::napi_delete_reference(env, dispatch) };
            }
            return Err(napi::Error::from_reason(format!(
                "cannot start the guest's thread: {e}"
            )));
        }
    };
    let mut terminating = false;
    // Right after a host call the guest is likely to make another.
    let mut serving = false;
    let done = loop {
        let next = match serving.then(|| poll(&receiver)) {
            Some(Ok(message)) => Ok(message),
            Some(Err(mpsc::TryRecvError::Disconnected)) => {
                Err(mpsc::RecvTimeoutError::Disconnected)
            }
            Some(Err(mpsc::TryRecvError::Empty)) | None => receiver.recv_timeout(SLICE),
        };
        serving = matches!(next, Ok(ToJs::HostCall(_)));
        match next {
            Ok(ToJs::HostCall(call)) => {
                let dispatch = (!terminating && !dispatch.is_null()).then_some(dispatch);
                // SAFETY: on the JS thread, our live reference; the guest
                // waits for the reply, its memory unmoved.
                unsafe { call.answer(env, dispatch, &views) };
            }
            Ok(ToJs::Done(done)) => break done,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // SAFETY: the current env, on its thread.
                if terminating || !unsafe { can_run_js(env) } {
                    terminating = true;
                    // Again every slice: a signal can miss a guest just
                    // entering wasm.
                    interrupt.request();
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err("[RuntimeError] the guest's thread ended without a word".into())
            }
        }
    };
    let _ = thread.join();
    if !dispatch.is_null() {
        // SAFETY: our reference, deleted once.
        unsafe { sys::napi_delete_reference(env, dispatch) };
    }
    views.release_idle();
    if terminating {
        return Err(js_error(
            ErrorKind::Runtime,
            "the worker was terminated while its guest ran",
        ));
    }
    done.map_err(|reason| napi::Error::new(napi::Status::GenericFailure, reason))
}

/// Whether this thread can still run JS: false once the worker is being
/// terminated (V8 then refuses to enter any JS).
///
/// # Safety
/// `env` is the current environment, on its thread.
unsafe fn can_run_js(env: napi_env) -> bool {
    // SAFETY: (all below) N-API calls on the current env, in a scope.
    unsafe {
        let mut scope = ptr::null_mut();
        sys::napi_open_handle_scope(env, &mut scope);
        let mut source = ptr::null_mut();
        sys::napi_create_string_utf8(env, c"0".as_ptr(), 1, &mut source);
        let mut result = ptr::null_mut();
        let status = sys::napi_run_script(env, source, &mut result);
        if status != Status::napi_ok {
            let mut exception = ptr::null_mut();
            sys::napi_get_and_clear_last_exception(env, &mut exception);
        }
        sys::napi_close_handle_scope(env, scope);
        status == Status::napi_ok
    }
}
