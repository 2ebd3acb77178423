//! `run()`: a module's `_start` on a thread of its own, so the event loop
//! keeps going.
//!
//! Everything the run sends to JS goes through ONE thread-safe function, in
//! order: output chunks, host function calls (the run's thread waits for the
//! answer) and, last, how the run ended. One queue means a test sees every
//! byte of output before the promise settles. The queue is bounded, so a
//! guest that writes faster than JS reads waits instead of piling up memory.

use std::ffi::c_void;
use std::io;
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;

use napi::sys::{self, napi_env, napi_ref, napi_value, Status};
use wasmer::{Engine, Module, Type, Value};

use crate::host_functions::{HostCall, HostThrew, JsBridge};
use crate::memory_views::{MemoryViews, Window};
use crate::native::{self, Ending, HostFunctions, RunSetup};
use crate::stdio::OutputSink;

/// Messages queued to JS, at most this many at once.
const QUEUE_LENGTH: usize = 64;

/// What the JS `onEvent(kind, ...)` callback receives, by `kind`.
const EVENT_STDOUT: u32 = 1;
const EVENT_STDERR: u32 = 2;
const EVENT_DONE: u32 = 3;

enum Message {
    Output { stream: u32, bytes: Vec<u8> },
    HostCall(HostCall),
    Done(Result<Ending, String>),
}

/// The run's thread-safe function; released when the last clone is gone.
struct Channel(sys::napi_threadsafe_function);

// SAFETY: thread-safe functions are made to be called from any thread.
unsafe impl Send for Channel {}
unsafe impl Sync for Channel {}

impl Channel {
    /// Queues `message`, waiting while the queue is full. False when the
    /// environment is going away (Node is exiting).
    fn send(&self, message: Message) -> bool {
        let data = Box::into_raw(Box::new(message));
        // SAFETY: a live thread-safe function; `call_js` takes the box back.
        let status = unsafe {
            sys::napi_call_threadsafe_function(
                self.0,
                data.cast(),
                sys::ThreadsafeFunctionCallMode::blocking,
            )
        };
        if status != Status::napi_ok {
            // SAFETY: not queued, so still ours.
            drop(unsafe { Box::from_raw(data) });
            return false;
        }
        true
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        // SAFETY: this thread's use of the function ends here.
        unsafe {
            sys::napi_release_threadsafe_function(
                self.0,
                sys::ThreadsafeFunctionReleaseMode::release,
            )
        };
    }
}

impl OutputSink for Channel {
    fn write(&self, stream: u32, bytes: Vec<u8>) -> io::Result<()> {
        if self.send(Message::Output { stream, bytes }) {
            Ok(())
        } else {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
    }
}

/// Host function calls from the run's thread, answered on the main thread.
struct ThreadBridge(Arc<Channel>);

impl JsBridge for ThreadBridge {
    fn call(
        &self,
        index: u32,
        args: &[Value],
        results: &[Type],
        window: Window,
    ) -> Result<Vec<Value>, HostThrew> {
        HostCall::make(index, args, results, window, |call| {
            self.0.send(Message::HostCall(call))
        })
    }
}

/// Main-thread state of one run, owned by its thread-safe function.
struct MainThreadState {
    views: Rc<MemoryViews>,
    dispatch: Option<napi_ref>,
}

/// A run's thread, made by `start`, with what JS needs to finish setting up
/// its WASI state (stdio into JS) before the thread starts.
pub struct PendingRun {
    channel: Arc<Channel>,
}

impl PendingRun {
    /// Opens the channel to JS: `on_event(kind, ...)` gets output chunks
    /// (kind 1, 2, a Buffer) and the ending (kind 3); `dispatch` serves the
    /// host functions.
    ///
    /// # Safety
    /// `env` is the current environment; the values are functions of it.
    pub unsafe fn open(
        env: napi_env,
        on_event: napi_value,
        dispatch: Option<napi_value>,
        views: Rc<MemoryViews>,
    ) -> napi::Result<Self> {
        // SAFETY: forwarded from the caller.
        unsafe {
            let dispatch = match dispatch {
                Some(function) => {
                    let mut reference = ptr::null_mut();
                    check(sys::napi_create_reference(env, function, 1, &mut reference))?;
                    Some(reference)
                }
                None => None,
            };
            let state = Box::into_raw(Box::new(MainThreadState { views, dispatch }));
            let mut name = ptr::null_mut();
            check(sys::napi_create_string_utf8(
                env,
                c"x-wasi run".as_ptr(),
                10,
                &mut name,
            ))?;
            let mut function = ptr::null_mut();
            let status = sys::napi_create_threadsafe_function(
                env,
                on_event,
                ptr::null_mut(),
                name,
                QUEUE_LENGTH,
                1,
                state.cast(),
                Some(finalize),
                state.cast(),
                Some(call_js),
                &mut function,
            );
            if status != Status::napi_ok {
                finalize(env, state.cast(), ptr::null_mut());
                return Err(napi::Error::from_reason(
                    "cannot open the run's channel to JS",
                ));
            }
            Ok(PendingRun {
                channel: Arc::new(Channel(function)),
            })
        }
    }

    /// Where the guest's stdout and stderr go when piped into JS.
    pub fn output_sink(&self) -> Arc<dyn OutputSink> {
        self.channel.clone()
    }

    /// Runs `_start` on a new thread; its ending arrives as the last event.
    pub fn spawn(
        self,
        engine: Engine,
        module: Module,
        setup: RunSetup,
        host: Option<Vec<Vec<String>>>,
    ) -> napi::Result<()> {
        let channel = self.channel;
        let bridge: Arc<dyn JsBridge> = Arc::new(ThreadBridge(channel.clone()));
        let setup = RunSetup {
            host: host.map(|provided| HostFunctions { bridge, provided }),
            ..setup
        };
        let thread_channel = channel.clone();
        std::thread::Builder::new()
            .name("x-wasi run".into())
            .spawn(move || {
                let done = native::run_start_caught(&engine, &module, setup);
                // The WASI state (and its descriptors) is dropped by now, so
                // they are closed when JS hears that the run ended.
                thread_channel.send(Message::Done(done));
            })
            .map_err(|e| napi::Error::from_reason(format!("cannot start the run's thread: {e}")))?;
        drop(channel);
        Ok(())
    }
}

fn check(status: sys::napi_status) -> napi::Result<()> {
    if status == Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::from_reason(format!(
            "napi call failed (status {status})"
        )))
    }
}

unsafe extern "C" fn finalize(env: napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: the state boxed in `open`, freed once, here.
    let state = unsafe { Box::from_raw(data.cast::<MainThreadState>()) };
    if let Some(dispatch) = state.dispatch {
        // SAFETY: our reference, on the main thread.
        unsafe { sys::napi_delete_reference(env, dispatch) };
    }
}

unsafe extern "C" fn call_js(
    env: napi_env,
    on_event: napi_value,
    context: *mut c_void,
    data: *mut c_void,
) {
    // SAFETY: a message boxed by `Channel::send`.
    let message = unsafe { Box::from_raw(data.cast::<Message>()) };
    if env.is_null() {
        // Node is tearing down: answer a waiting host call so the run's
        // thread does not wait for ever.
        if let Message::HostCall(call) = *message {
            call.refuse();
        }
        return;
    }
    // SAFETY: the state outlives the function (freed by `finalize`).
    let state = unsafe { &*context.cast::<MainThreadState>() };
    // SAFETY: on the main thread with a live env, inside its own scope.
    unsafe {
        let mut scope = ptr::null_mut();
        sys::napi_open_handle_scope(env, &mut scope);
        deliver(env, on_event, state, *message);
        sys::napi_close_handle_scope(env, scope);
    }
}

unsafe fn deliver(env: napi_env, on_event: napi_value, state: &MainThreadState, message: Message) {
    // SAFETY: (all below) N-API calls on live values of `env`, on its thread.
    unsafe {
        match message {
            Message::HostCall(call) => call.answer(env, state.dispatch, &state.views),
            Message::Output { stream, bytes } => {
                let mut buffer = ptr::null_mut();
                let mut data = ptr::null_mut();
                sys::napi_create_buffer_copy(
                    env,
                    bytes.len(),
                    bytes.as_ptr().cast(),
                    &mut data,
                    &mut buffer,
                );
                let kind = if stream == 1 {
                    EVENT_STDOUT
                } else {
                    EVENT_STDERR
                };
                emit(env, on_event, &[uint(env, kind), buffer]);
            }
            Message::Done(done) => {
                state.views.release_idle();
                let (ending, code, error) = match done {
                    Ok(Ending::Returned) => ("returned", 0, None),
                    Ok(Ending::Exited(code)) => ("exited", code, None),
                    Ok(Ending::HostThrew) => ("hostThrew", 0, None),
                    Ok(Ending::Interrupted) => ("interrupted", 0, None),
                    Err(message) => ("error", 0, Some(message)),
                };
                let mut error_value = ptr::null_mut();
                match error {
                    Some(message) => sys::napi_create_string_utf8(
                        env,
                        message.as_ptr().cast(),
                        message.len() as isize,
                        &mut error_value,
                    ),
                    None => sys::napi_get_undefined(env, &mut error_value),
                };
                emit(
                    env,
                    on_event,
                    &[
                        uint(env, EVENT_DONE),
                        string(env, ending),
                        uint(env, code),
                        error_value,
                    ],
                );
            }
        }
    }
}

unsafe fn uint(env: napi_env, value: u32) -> napi_value {
    let mut out = ptr::null_mut();
    // SAFETY: forwarded from the caller.
    unsafe { sys::napi_create_uint32(env, value, &mut out) };
    out
}

unsafe fn string(env: napi_env, value: &str) -> napi_value {
    let mut out = ptr::null_mut();
    // SAFETY: forwarded from the caller.
    unsafe {
        sys::napi_create_string_utf8(env, value.as_ptr().cast(), value.len() as isize, &mut out)
    };
    out
}

/// Calls `on_event(...args)`. It is the JS layer's own function and catches
/// what user callbacks throw; anything else is cleared, not left pending.
unsafe fn emit(env: napi_env, on_event: napi_value, args: &[napi_value]) {
    // SAFETY: forwarded from the caller.
    unsafe {
        let mut receiver = ptr::null_mut();
        sys::napi_get_undefined(env, &mut receiver);
        let mut returned = ptr::null_mut();
        if sys::napi_call_function(
            env,
            receiver,
            on_event,
            args.len(),
            args.as_ptr(),
            &mut returned,
        ) != Status::napi_ok
        {
            let mut exception = ptr::null_mut();
            sys::napi_get_and_clear_last_exception(env, &mut exception);
        }
    }
}
