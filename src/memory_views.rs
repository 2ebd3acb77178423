//! `wasi.memory.buffer` inside a host function: an ArrayBuffer over the
//! guest's linear memory, in place, for exactly as long as it is safe.
//!
//! While a host function runs, the guest is suspended in it and its memory
//! stays where it is, so an external ArrayBuffer over it is sound. Once the
//! host function returns, the guest may grow (and move) its memory and the
//! run may end and free it: so every buffer handed out during a host call is
//! detached when the call returns (its `byteLength` becomes 0) rather than
//! left pointing at memory we no longer own. Main thread only.

use std::cell::{Cell, RefCell};
use std::ptr;

use napi::sys::{self, napi_env, napi_ref, napi_value, Status};

/// Where the guest's memory is during one host call: (address, length).
pub type Window = Option<(usize, usize)>;

#[derive(Default)]
pub struct MemoryViews {
    window: Cell<Window>,
    /// Buffers handed out during the current host call; the last one is
    /// handed out again while the window is the same.
    buffers: RefCell<Vec<napi_ref>>,
}

impl MemoryViews {
    /// Runs `f` (which calls into JS) with the guest's memory at `window`
    /// reachable, then detaches every buffer made over it. Nested host calls
    /// (an export called from a host function) keep the outer window.
    ///
    /// # Safety
    /// `env` is the current environment; `window` describes memory that stays
    /// valid and unmoved until `f` returns.
    pub unsafe fn during_host_call<R>(
        &self,
        env: napi_env,
        window: Window,
        f: impl FnOnce() -> R,
    ) -> R {
        let outer = self.window.replace(window);
        let outer_count = self.buffers.borrow().len();
        let result = f();
        self.window.set(outer);
        let made: Vec<napi_ref> = self.buffers.borrow_mut().split_off(outer_count);
        for reference in made {
            // SAFETY: references we created in `env`; detaching an external
            // buffer only severs it from the memory.
            unsafe {
                let mut buffer = ptr::null_mut();
                if sys::napi_get_reference_value(env, reference, &mut buffer) == Status::napi_ok
                    && !buffer.is_null()
                {
                    sys::napi_detach_arraybuffer(env, buffer);
                }
                sys::napi_delete_reference(env, reference);
            }
        }
        result
    }

    /// The guest's memory as an ArrayBuffer, or None outside a host call.
    ///
    /// # Safety
    /// `env` is the current environment, on the main thread.
    pub unsafe fn buffer(&self, env: napi_env) -> Result<Option<napi_value>, String> {
        let Some((address, length)) = self.window.get() else {
            return Ok(None);
        };
        // The same buffer again while the memory has not changed, so
        // `wasi.memory.buffer === wasi.memory.buffer` holds within a call.
        if let Some(&last) = self.buffers.borrow().last() {
            let mut buffer = ptr::null_mut();
            // SAFETY: a live reference of ours.
            unsafe { sys::napi_get_reference_value(env, last, &mut buffer) };
            if !buffer.is_null() && unsafe { byte_length(env, buffer) } == Some(length) {
                return Ok(Some(buffer));
            }
        }
        // SAFETY: the caller of `during_host_call` vouched for the window.
        let buffer = unsafe { external_buffer(env, address, length) }?;
        let mut reference = ptr::null_mut();
        // SAFETY: live env and value.
        if unsafe { sys::napi_create_reference(env, buffer, 1, &mut reference) } != Status::napi_ok
        {
            return Err("cannot keep a reference to the memory buffer".into());
        }
        self.buffers.borrow_mut().push(reference);
        Ok(Some(buffer))
    }
}

/// An ArrayBuffer over `length` bytes at `address`, not owned by V8.
///
/// # Safety
/// The bytes must stay valid for as long as the buffer is attached.
pub unsafe fn external_buffer(
    env: napi_env,
    address: usize,
    length: usize,
) -> Result<napi_value, String> {
    let mut buffer = ptr::null_mut();
    let status = if length == 0 {
        // SAFETY: live env; an empty buffer needs no backing.
        unsafe { sys::napi_create_arraybuffer(env, 0, ptr::null_mut(), &mut buffer) }
    } else {
        // SAFETY: forwarded from the caller; no finalizer: we do not own it.
        unsafe {
            sys::napi_create_external_arraybuffer(
                env,
                address as *mut std::ffi::c_void,
                length,
                None,
                ptr::null_mut(),
                &mut buffer,
            )
        }
    };
    if status != Status::napi_ok {
        return Err(format!(
            "cannot expose the guest memory as an ArrayBuffer (napi status {status})"
        ));
    }
    Ok(buffer)
}

/// # Safety
/// `buffer` is a live ArrayBuffer of `env`.
unsafe fn byte_length(env: napi_env, buffer: napi_value) -> Option<usize> {
    let mut data = ptr::null_mut();
    let mut length = 0;
    // SAFETY: forwarded from the caller.
    (unsafe { sys::napi_get_arraybuffer_info(env, buffer, &mut data, &mut length) }
        == Status::napi_ok)
        .then_some(length)
}
