//! The node:wasi drop-in: WASI syscalls as JS functions for modules that V8
//! runs, served by the same `WasiCtx` as the native path.
//!
//! Each syscall is a raw N-API function (no allocation per call). The JS
//! layer (`lib/v8-bridge.js`) calls it with the instance's current
//! `memory.buffer` first, then the wasm arguments, so the syscall reads and
//! writes guest memory in place and always sees it at its current size, even
//! after the guest grew it. A shared memory's `SharedArrayBuffer` comes as a
//! `Uint8Array` over it: N-API has no SharedArrayBuffer accessor on every
//! Node line we support (`napi_get_arraybuffer_info` refuses one), while
//! `napi_get_typedarray_info` takes a view over either kind.
//!
//! Each trampoline catches panics: one unwinding out of an `extern "C"`
//! function aborts the process (see panic_guard.rs).

use std::cell::{RefCell, UnsafeCell};
use std::ffi::{c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;

use napi::sys::{self, napi_env, napi_value, Status};
use wasi_common::WasiCtx;
use wiggle::GuestMemory;

use crate::panic_guard::{panic_message, test_panic};
use crate::wasi::syscalls::{self, Stop};

/// The WASI state of one `WASI` object, shared by its syscall functions.
pub type SharedCtx = Rc<RefCell<Option<WasiCtx>>>;

/// Why a call from JS did not produce an errno from the WASI core.
enum CallError {
    Stop(Stop),
    /// Not what wasm passes (a JS caller used the function by hand): EINVAL,
    /// as node:wasi answers.
    BadArgument,
    NoMemory,
}

/// errno `inval`, in both ABIs.
const ERRNO_INVAL: i32 = 28;

/// A wasm argument as V8 passes it to an import: i32 as a Number, i64 as a
/// BigInt.
trait WasmArg: Sized {
    /// # Safety
    /// `value` must be a live value of `env`, or absent.
    unsafe fn from_js(env: napi_env, value: Option<napi_value>) -> Result<Self, CallError>;
}

impl WasmArg for i32 {
    unsafe fn from_js(env: napi_env, value: Option<napi_value>) -> Result<Self, CallError> {
        let mut out = 0;
        let status = match value {
            Some(value) => unsafe { sys::napi_get_value_int32(env, value, &mut out) },
            None => Status::napi_invalid_arg,
        };
        if status == Status::napi_ok {
            Ok(out)
        } else {
            Err(CallError::BadArgument)
        }
    }
}

impl WasmArg for i64 {
    unsafe fn from_js(env: napi_env, value: Option<napi_value>) -> Result<Self, CallError> {
        let Some(value) = value else {
            return Err(CallError::BadArgument);
        };
        let mut out = 0;
        let mut lossless = false;
        if unsafe { sys::napi_get_value_bigint_int64(env, value, &mut out, &mut lossless) }
            == Status::napi_ok
        {
            return Ok(out);
        }
        // A Number, from a JS caller rather than wasm.
        if unsafe { sys::napi_get_value_int64(env, value, &mut out) } == Status::napi_ok {
            return Ok(out);
        }
        Err(CallError::BadArgument)
    }
}

/// One syscall of one ABI, taking its wasm arguments from JS values.
type SyscallFn = unsafe fn(
    napi_env,
    &mut WasiCtx,
    &mut GuestMemory<'_>,
    &[napi_value],
) -> Result<i32, CallError>;

/// A syscall's name, wasm parameter count and entry point.
pub struct SyscallEntry {
    pub name: &'static str,
    pub arity: u32,
    call: SyscallFn,
}

macro_rules! syscall_table {
    ($namespace:ident, $(($name:ident, [$($arg:ident : $ty:ty),*])),*) => {
        &[$(
            SyscallEntry {
                name: stringify!($name),
                arity: <[&str]>::len(&[$(stringify!($arg)),*]) as u32,
                call: {
                    #[allow(unused_variables)]
                    unsafe fn call(
                        env: napi_env,
                        ctx: &mut WasiCtx,
                        memory: &mut GuestMemory<'_>,
                        args: &[napi_value],
                    ) -> Result<i32, CallError> {
                        #[allow(unused_mut, unused_variables)]
                        let mut args = args.iter().copied();
                        $(let $arg = unsafe { <$ty as WasmArg>::from_js(env, args.next()) }?;)*
                        syscalls::$namespace::$name(ctx, memory, $($arg),*).map_err(CallError::Stop)
                    }
                    call
                },
            }
        ),*]
    };
}

/// Every `wasi_snapshot_preview1` syscall but `proc_exit`, which the JS layer
/// implements by unwinding the wasm stack with an exception.
pub const PREVIEW1: &[SyscallEntry] = crate::for_each_shared_syscall!(syscall_table!(
    preview1,
    (sock_accept, [fd: i32, flags: i32, result_fd: i32]),
));

/// Every `wasi_unstable` syscall but `proc_exit`.
pub const UNSTABLE: &[SyscallEntry] = crate::for_each_shared_syscall!(syscall_table!(unstable,));

/// What a syscall function carries: the object's WASI state and which call.
struct BoundSyscall {
    ctx: SharedCtx,
    name: &'static str,
    call: SyscallFn,
}

/// The most arguments a syscall takes (`path_open`), plus the memory.
const MAX_JS_ARGS: usize = 10;

unsafe extern "C" fn trampoline(env: napi_env, info: sys::napi_callback_info) -> napi_value {
    let mut argv = [ptr::null_mut(); MAX_JS_ARGS];
    let mut argc = argv.len();
    let mut data = ptr::null_mut();
    let status = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            &mut data,
        )
    };
    if status != Status::napi_ok || data.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: `data` is the BoundSyscall this function was created with; it
    // lives until the function is garbage-collected.
    let bound = unsafe { &*(data as *const BoundSyscall) };
    let argv = &argv[..argc.min(MAX_JS_ARGS)];
    let dispatched = catch_unwind(AssertUnwindSafe(|| {
        test_panic("WASI syscall");
        unsafe { dispatch(env, bound, argv) }
    }));
    let dispatched = dispatched.unwrap_or_else(|payload| {
        // The WASI state may be half-updated: drop it (closing the guest's
        // descriptors); later calls on this object then fail cleanly.
        let lost = bound.ctx.try_borrow_mut().ok().and_then(|mut c| c.take());
        if let Err(again) = catch_unwind(AssertUnwindSafe(|| drop(lost))) {
            std::mem::forget(again);
        }
        let operation = format!("WASI syscall {}", bound.name);
        Err(CallError::Stop(Stop::Trap(panic_message(
            &operation, payload,
        ))))
    });
    let errno = match dispatched {
        Ok(errno) => errno,
        Err(CallError::BadArgument) => ERRNO_INVAL,
        Err(CallError::Stop(stop)) => {
            throw_runtime_error(env, &stop.to_string());
            return ptr::null_mut();
        }
        Err(CallError::NoMemory) => {
            throw(
                env,
                "ERR_WASI_NOT_STARTED",
                "WASI syscall called before start() or initialize() was given an instance exporting 'memory'",
            );
            return ptr::null_mut();
        }
    };
    let mut result = ptr::null_mut();
    unsafe { sys::napi_create_int32(env, errno, &mut result) };
    result
}

unsafe fn dispatch(
    env: napi_env,
    bound: &BoundSyscall,
    argv: &[napi_value],
) -> Result<i32, CallError> {
    let (memory_value, args) = argv.split_first().ok_or(CallError::NoMemory)?;
    // SAFETY: a live value of `env`, an argument of this call.
    let mut memory = match unsafe { guest_memory(env, *memory_value) } {
        Some(memory) => memory,
        None => return Err(CallError::NoMemory),
    };
    let mut ctx = bound.ctx.try_borrow_mut().map_err(|_| {
        CallError::Stop(Stop::Trap(
            "WASI syscall re-entered from inside a syscall".into(),
        ))
    })?;
    let ctx = ctx.as_mut().ok_or_else(|| {
        CallError::Stop(Stop::Trap(
            "this WASI object's state is gone (it was used by a native run, or lost to an earlier failure inside the addon)".into(),
        ))
    })?;
    unsafe { (bound.call)(env, ctx, &mut memory, args) }
}

/// The guest's memory from what JS passed: its `memory.buffer` (an
/// ArrayBuffer), or a Uint8Array over the whole `SharedArrayBuffer` of a
/// shared memory.
///
/// # Safety
/// `value` must be a live value of `env`; the memory is borrowed for the
/// duration of the N-API call that passed it.
unsafe fn guest_memory<'a>(env: napi_env, value: napi_value) -> Option<GuestMemory<'a>> {
    let mut data = ptr::null_mut();
    let mut len = 0;
    if unsafe { sys::napi_get_arraybuffer_info(env, value, &mut data, &mut len) } == Status::napi_ok
    {
        let bytes: &mut [u8] = if data.is_null() {
            &mut []
        } else {
            // SAFETY: the ArrayBuffer of the instance's memory, alive for
            // this call (it is an argument); wasm is suspended in this
            // import and a syscall never grows memory, so nothing else
            // touches it meanwhile.
            unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), len) }
        };
        return Some(GuestMemory::Unshared(bytes));
    }
    let mut is_typed_array = false;
    if unsafe { sys::napi_is_typedarray(env, value, &mut is_typed_array) } != Status::napi_ok
        || !is_typed_array
    {
        return None;
    }
    let mut kind = 0;
    let mut offset = 0;
    let mut buffer = ptr::null_mut();
    let status = unsafe {
        sys::napi_get_typedarray_info(
            env,
            value,
            &mut kind,
            &mut len,
            &mut data,
            &mut buffer,
            &mut offset,
        )
    };
    if status != Status::napi_ok || kind != sys::TypedarrayType::uint8_array {
        return None;
    }
    if data.is_null() || len == 0 {
        return Some(GuestMemory::Shared(&[]));
    }
    // SAFETY: the view's bytes, alive for this call (its buffer is reachable
    // from an argument). Other threads (workers holding the same shared
    // memory) may write them at any time, so they are borrowed as cells:
    // wiggle then copies in and out instead of handing out slices.
    Some(GuestMemory::Shared(unsafe {
        std::slice::from_raw_parts(data.cast::<UnsafeCell<u8>>(), len)
    }))
}

/// Throws a `WebAssembly.RuntimeError`, as a trap in V8 would.
fn throw_runtime_error(env: napi_env, message: &str) {
    // SAFETY: N-API calls on live values of `env`, from its thread.
    let thrown = unsafe {
        let mut global = ptr::null_mut();
        let mut namespace = ptr::null_mut();
        let mut class = ptr::null_mut();
        let mut text = ptr::null_mut();
        let mut error = ptr::null_mut();
        let ok = sys::napi_get_global(env, &mut global) == Status::napi_ok
            && sys::napi_get_named_property(env, global, c"WebAssembly".as_ptr(), &mut namespace)
                == Status::napi_ok
            && sys::napi_get_named_property(env, namespace, c"RuntimeError".as_ptr(), &mut class)
                == Status::napi_ok
            && sys::napi_create_string_utf8(
                env,
                message.as_ptr().cast(),
                message.len() as isize,
                &mut text,
            ) == Status::napi_ok
            && sys::napi_new_instance(env, class, 1, &text, &mut error) == Status::napi_ok;
        ok && sys::napi_throw(env, error) == Status::napi_ok
    };
    if !thrown {
        throw(env, "ERR_WASI_TRAP", message);
    }
}

fn throw(env: napi_env, code: &str, message: &str) {
    let code = CString::new(code).unwrap_or_default();
    let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
    unsafe { sys::napi_throw_error(env, code.as_ptr(), message.as_ptr()) };
}

unsafe extern "C" fn drop_bound(_env: napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: created by Box::into_raw in `create_function`, dropped once.
    let bound = unsafe { Box::from_raw(data.cast::<BoundSyscall>()) };
    // Dropping the last one closes the guest's descriptors; a panic there
    // must not unwind into V8's garbage collector.
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(bound))) {
        std::mem::forget(payload);
    }
}

/// Creates the JS function for `entry`, bound to `ctx`.
fn create_function(
    env: napi_env,
    entry: &SyscallEntry,
    ctx: &SharedCtx,
) -> napi::Result<napi_value> {
    let bound = Box::into_raw(Box::new(BoundSyscall {
        ctx: ctx.clone(),
        name: entry.name,
        call: entry.call,
    }));
    let mut function = ptr::null_mut();
    let status = unsafe {
        sys::napi_create_function(
            env,
            entry.name.as_ptr().cast(),
            entry.name.len() as isize,
            Some(trampoline),
            bound.cast(),
            &mut function,
        )
    };
    let status = if status == Status::napi_ok {
        unsafe {
            sys::napi_add_finalizer(
                env,
                function,
                bound.cast(),
                Some(drop_bound),
                ptr::null_mut(),
                ptr::null_mut(),
            )
        }
    } else {
        status
    };
    if status != Status::napi_ok {
        // SAFETY: not handed to a finalizer, so still ours to free.
        drop(unsafe { Box::from_raw(bound) });
    }
    check(status)?;
    Ok(function)
}

/// What every syscall function must do and nothing else: take its
/// arguments and return an errno (0). The floor of a V8-mode syscall's
/// cost, for bench/syscall-overhead.js.
unsafe extern "C" fn empty_trampoline(env: napi_env, info: sys::napi_callback_info) -> napi_value {
    let mut argv = [ptr::null_mut(); MAX_JS_ARGS];
    let mut argc = argv.len();
    let mut result = ptr::null_mut();
    unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        );
        sys::napi_create_int32(env, 0, &mut result);
    }
    result
}

/// A JS function doing what `empty_trampoline` does.
pub fn empty_function(env: napi_env) -> napi::Result<napi_value> {
    let mut function = ptr::null_mut();
    let name = "emptySyscall";
    check(unsafe {
        sys::napi_create_function(
            env,
            name.as_ptr().cast(),
            name.len() as isize,
            Some(empty_trampoline),
            ptr::null_mut(),
            &mut function,
        )
    })?;
    Ok(function)
}

/// The syscall table of an ABI name (`preview1` or `unstable`).
pub fn table(abi: &str) -> Option<&'static [SyscallEntry]> {
    match abi {
        "preview1" => Some(PREVIEW1),
        "unstable" => Some(UNSTABLE),
        _ => None,
    }
}

/// A JS object with one function per syscall of `entries`, bound to `ctx`.
pub fn syscall_object(
    env: napi_env,
    entries: &[SyscallEntry],
    ctx: &SharedCtx,
) -> napi::Result<napi_value> {
    let mut object = ptr::null_mut();
    check(unsafe { sys::napi_create_object(env, &mut object) })?;
    for entry in entries {
        let function = create_function(env, entry, ctx)?;
        let name = CString::new(entry.name).expect("syscall names have no NUL");
        check(unsafe { sys::napi_set_named_property(env, object, name.as_ptr(), function) })?;
    }
    Ok(object)
}

fn check(status: sys::napi_status) -> napi::Result<()> {
    if status == Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::new(
            napi::Status::GenericFailure,
            format!("N-API call failed with status {status}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_list_every_syscall_but_proc_exit() {
        // preview1 has 46 syscalls and preview0 45 (no sock_accept).
        assert_eq!(PREVIEW1.len(), 45);
        assert_eq!(UNSTABLE.len(), 44);
        assert!(PREVIEW1.iter().all(|s| s.name != "proc_exit"));
        let path_open = PREVIEW1.iter().find(|s| s.name == "path_open").unwrap();
        assert_eq!(path_open.arity, 9);
        assert!(PREVIEW1.iter().all(|s| (s.arity as usize) < MAX_JS_ARGS));
    }
}
