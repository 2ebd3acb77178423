//! Lending the guest's memory to JS: `wasi.memory.buffer` inside a host
//! function, and a reactor's `exports.memory.buffer`.
//!
//! What V8 and N-API guarantee, and what follows from it:
//! - An external ArrayBuffer's finalizer runs once no ArrayBuffer holds its
//!   backing store any more; `transfer()`, `structuredClone` and
//!   `postMessage` with a transfer list MOVE the backing store (pointer and
//!   finalizer) into a new ArrayBuffer, possibly in another thread, and
//!   detach ours. So detaching our buffer does not end every way to the
//!   memory, and only the finalizer tells when the address is unreachable.
//! - Node calls that finalizer early when its environment shuts down, even
//!   if a worker holds the moved backing store.
//!
//! So JS is never lent the guest's pages themselves: it gets an alias
//! mapping of them (the memory lives on a memory file, `memory_file`). When
//! the lend ends (the host call returns, the reactor's memory grows or a new
//! buffer replaces it) our buffers are detached. If they all were still
//! attached, no JS object can reach the region any more and it is kept, as
//! it is, for the next lend (a guest making millions of host calls maps one
//! region). If JS had moved one out, the alias is swapped, atomically, for
//! private zero pages: whatever holds that backing store reads zeros and
//! writes into memory nobody reads, however long it lives. Such a region is
//! unmapped when its last buffer's finalizer runs, except at an
//! environment's shutdown (then it stays mapped: a worker may hold it).
//! Main thread only.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;

use napi::sys::{self, napi_env, napi_ref, napi_value, Status};

use crate::memory_file::{self, MemoryFile};

/// Regions kept for reuse, at most.
const IDLE_REGIONS: usize = 2;

/// The smallest alias region (one wasm page).
const MIN_REGION: usize = 64 << 10;

/// Where the guest's memory is during one host call: its memory file (none
/// when it could not be put on one) and its length.
#[derive(Clone)]
pub struct Lendable {
    pub file: Option<Arc<MemoryFile>>,
    pub length: usize,
}

/// The guest's memory during a host call, or None when it exports none.
pub type Window = Option<Lendable>;

/// An alias region: `capacity` bytes of our address space at `address`.
struct Region {
    address: usize,
    capacity: usize,
    /// The memory file it maps now (by its memory's base), 0 when zero pages.
    aliasing: Cell<usize>,
    /// Buffers over it whose finalizer has not run.
    buffers: Cell<usize>,
    /// Set at environment shutdown: leave the region mapped.
    leak: Cell<bool>,
    /// The shutdown hook of a region that escaped (see `EscapeHook`).
    hook: Cell<*mut Rc<Region>>,
}

impl Drop for Region {
    fn drop(&mut self) {
        if !self.leak.get() {
            memory_file::unmap(self.address, self.capacity);
        }
    }
}

/// One lend: buffers over `region` showing `length` bytes of the memory.
pub struct Lend {
    region: Rc<Region>,
    length: usize,
    /// Buffers made in this lend; the last is handed out again.
    buffers: Vec<napi_ref>,
}

/// One host call's view: its window and, once JS asked, its lend.
struct Frame {
    window: Window,
    lend: Option<Lend>,
}

#[derive(Default)]
pub struct MemoryViews {
    frames: RefCell<Vec<Frame>>,
    idle: RefCell<Vec<Rc<Region>>>,
}

impl MemoryViews {
    /// Runs `f` (which calls into JS) with the guest's memory at `window`
    /// lendable, then ends what was lent. Nested host calls get their own.
    ///
    /// # Safety
    /// `env` is the current environment; the guest stays suspended (its
    /// memory unmoved) until `f` returns.
    pub unsafe fn during_host_call<R>(
        &self,
        env: napi_env,
        window: Window,
        f: impl FnOnce() -> R,
    ) -> R {
        self.frames.borrow_mut().push(Frame { window, lend: None });
        let result = f();
        let frame = self.frames.borrow_mut().pop();
        if let Some(lend) = frame.and_then(|frame| frame.lend) {
            // SAFETY: our lend, in `env`.
            unsafe { self.end(env, lend) };
        }
        result
    }

    /// The guest's memory as an ArrayBuffer, or None outside a host call.
    ///
    /// # Safety
    /// `env` is the current environment, on the main thread.
    pub unsafe fn buffer(&self, env: napi_env) -> Result<Option<napi_value>, String> {
        let mut frames = self.frames.borrow_mut();
        let Some(frame) = frames.last_mut() else {
            return Ok(None);
        };
        let Some(window) = frame.window.clone() else {
            return Ok(None);
        };
        let Some(file) = window.file else {
            return Err(
                "the guest's memory cannot be lent to JS (it is not on a memory file)".into(),
            );
        };
        if frame.lend.is_none() {
            frame.lend = Some(self.start(&file, window.length)?);
        }
        let lend = frame.lend.as_mut().expect("set above");
        // SAFETY: forwarded from the caller.
        unsafe { lend.buffer(env) }
    }

    /// Starts a lend of the first `length` bytes of `file`'s memory.
    pub fn start(&self, file: &MemoryFile, length: usize) -> Result<Lend, String> {
        let reused = {
            let mut idle = self.idle.borrow_mut();
            idle.iter()
                .position(|region| region.capacity >= length)
                .map(|at| idle.swap_remove(at))
        };
        let region = match reused {
            Some(region) => region,
            None => {
                // Room to grow into, so a growing guest reuses it too.
                let capacity = length.max(MIN_REGION).next_power_of_two();
                let address = file
                    .map_alias(capacity)
                    .map_err(|e| format!("cannot lend the guest's memory to JS: {e}"))?;
                Rc::new(Region {
                    address,
                    capacity,
                    aliasing: Cell::new(file.base()),
                    buffers: Cell::new(0),
                    leak: Cell::new(false),
                    hook: Cell::new(ptr::null_mut()),
                })
            }
        };
        if region.aliasing.get() != file.base() {
            file.remap_alias(region.address, region.capacity)
                .map_err(|e| format!("cannot lend the guest's memory to JS: {e}"))?;
            region.aliasing.set(file.base());
        }
        Ok(Lend {
            region,
            length,
            buffers: Vec::new(),
        })
    }

    /// Ends a lend: our buffers are detached. A region whose buffers all
    /// were still ours is unreachable from JS and goes back for reuse, as it
    /// is; one JS moved a buffer out of becomes zero pages, unmapped once
    /// its buffers' finalizers ran.
    ///
    /// # Safety
    /// `env` is the current environment and the lend was made in it.
    pub unsafe fn end(&self, env: napi_env, lend: Lend) {
        let region = lend.region;
        let mut escaped = false;
        for reference in lend.buffers {
            // SAFETY: references we created in `env`.
            unsafe {
                let mut buffer = ptr::null_mut();
                sys::napi_get_reference_value(env, reference, &mut buffer);
                if !buffer.is_null() {
                    let mut detached = false;
                    sys::napi_is_detached_arraybuffer(env, buffer, &mut detached);
                    if detached {
                        escaped = true;
                    } else {
                        sys::napi_detach_arraybuffer(env, buffer);
                    }
                }
                sys::napi_delete_reference(env, reference);
            }
        }
        if !escaped {
            // Every buffer over it was ours and is detached: nothing in JS
            // reaches it any more, so it may keep its mapping for reuse.
            let mut idle = self.idle.borrow_mut();
            if idle.len() < IDLE_REGIONS {
                idle.push(region);
            }
            return;
        }
        region.aliasing.set(0);
        if memory_file::neutralize(region.address, region.capacity).is_err() {
            // Out of memory for the swap: a buffer JS moved out may point
            // here, so unmapping is no option; keep it as it is.
            region.leak.set(true);
        }
        // SAFETY: forwarded from the caller.
        unsafe { watch_shutdown(env, &region) };
    }
}

impl MemoryViews {
    /// Lets go of the regions kept for reuse (a run or instance is over), so
    /// they stop holding its memory.
    pub fn release_idle(&self) {
        self.idle.borrow_mut().clear();
    }

    /// Ends a lend where JS cannot be called (an instance being collected):
    /// the alias becomes zero pages, our buffers stay attached over them.
    ///
    /// # Safety
    /// `env` is the environment the lend was made in (or null if none was).
    pub unsafe fn abandon(&self, env: napi_env, lend: Lend) {
        let region = lend.region;
        region.aliasing.set(0);
        if memory_file::neutralize(region.address, region.capacity).is_err() {
            // Never unmap a region a live buffer may point into.
            region.leak.set(true);
        }
        if env.is_null() {
            return;
        }
        for reference in lend.buffers {
            // SAFETY: references we created in `env`.
            unsafe { sys::napi_delete_reference(env, reference) };
        }
        // SAFETY: forwarded from the caller.
        unsafe { watch_shutdown(env, &region) };
    }
}

impl Lend {
    /// The length it shows.
    pub fn length(&self) -> usize {
        self.length
    }

    /// Whether JS has detached (moved out) the buffer handed out last.
    ///
    /// # Safety
    /// `env` is the current environment.
    pub unsafe fn moved_out(&self, env: napi_env) -> bool {
        let Some(&last) = self.buffers.last() else {
            return false;
        };
        let mut buffer = ptr::null_mut();
        // SAFETY: our live reference, in `env`.
        unsafe {
            sys::napi_get_reference_value(env, last, &mut buffer);
            if buffer.is_null() {
                return false;
            }
            let mut detached = false;
            sys::napi_is_detached_arraybuffer(env, buffer, &mut detached);
            detached
        }
    }

    /// The buffer of this lend: the last one while still attached (so
    /// `memory.buffer === memory.buffer`), else a new one over the region.
    ///
    /// # Safety
    /// `env` is the current environment.
    pub unsafe fn buffer(&mut self, env: napi_env) -> Result<Option<napi_value>, String> {
        if let Some(&last) = self.buffers.last() {
            let mut buffer = ptr::null_mut();
            // SAFETY: our live reference.
            unsafe { sys::napi_get_reference_value(env, last, &mut buffer) };
            let mut detached = true;
            if !buffer.is_null() {
                // SAFETY: a live value of `env`.
                unsafe { sys::napi_is_detached_arraybuffer(env, buffer, &mut detached) };
            }
            if !detached || (self.length == 0 && !buffer.is_null()) {
                return Ok(Some(buffer));
            }
        }
        // SAFETY: the region maps the memory until the lend ends.
        let buffer = unsafe { region_buffer(env, &self.region, self.length) }?;
        let mut reference = ptr::null_mut();
        // SAFETY: a weak reference (count 0) to a live value: the buffer may
        // be collected during the lend, its finalizer then does the rest.
        if unsafe { sys::napi_create_reference(env, buffer, 0, &mut reference) } != Status::napi_ok
        {
            return Err("cannot keep a reference to the memory buffer".into());
        }
        self.buffers.push(reference);
        Ok(Some(buffer))
    }
}

/// An external ArrayBuffer over `length` bytes of `region`, whose finalizer
/// holds the region.
///
/// # Safety
/// `env` is the current environment.
unsafe fn region_buffer(
    env: napi_env,
    region: &Rc<Region>,
    length: usize,
) -> Result<napi_value, String> {
    let mut buffer = ptr::null_mut();
    if length == 0 {
        // SAFETY: live env; an empty buffer needs no backing.
        unsafe { sys::napi_create_arraybuffer(env, 0, ptr::null_mut(), &mut buffer) };
        return Ok(buffer);
    }
    let hint = Box::into_raw(Box::new(region.clone()));
    // SAFETY: the region stays mapped while `hint` lives, which the
    // finalizer drops only once V8 let go of the backing store.
    let status = unsafe {
        sys::napi_create_external_arraybuffer(
            env,
            region.address as *mut c_void,
            length,
            Some(release_region),
            hint.cast(),
            &mut buffer,
        )
    };
    if status != Status::napi_ok {
        // SAFETY: not handed to V8, still ours.
        drop(unsafe { Box::from_raw(hint) });
        return Err(format!(
            "cannot expose the guest memory as an ArrayBuffer (napi status {status})"
        ));
    }
    region.buffers.set(region.buffers.get() + 1);
    Ok(buffer)
}

unsafe extern "C" fn release_region(env: napi_env, _data: *mut c_void, hint: *mut c_void) {
    // SAFETY: the box made in `region_buffer`, dropped once, here.
    let region = unsafe { Box::from_raw(hint.cast::<Rc<Region>>()) };
    let left = region.buffers.get().saturating_sub(1);
    region.buffers.set(left);
    let hook = region.hook.replace(ptr::null_mut());
    if left == 0 && !hook.is_null() {
        // SAFETY: the hook registered by `watch_shutdown`, not yet run.
        unsafe {
            sys::napi_remove_env_cleanup_hook(env, Some(on_shutdown), hook.cast());
            drop(Box::from_raw(hook));
        }
    } else {
        region.hook.set(hook);
    }
}

/// A region a buffer was moved out of: if the environment shuts down before
/// the buffers' finalizers ran, Node runs those finalizers anyway, though a
/// worker may still hold the backing store; this hook (added after the
/// buffers, so run before their finalizers) leaves the region mapped then.
///
/// # Safety
/// `env` is the current environment.
unsafe fn watch_shutdown(env: napi_env, region: &Rc<Region>) {
    if region.buffers.get() == 0 || !region.hook.get().is_null() {
        return;
    }
    let hook = Box::into_raw(Box::new(region.clone()));
    // SAFETY: live env; `on_shutdown` takes the box back.
    if unsafe { sys::napi_add_env_cleanup_hook(env, Some(on_shutdown), hook.cast()) }
        == Status::napi_ok
    {
        region.hook.set(hook);
    } else {
        region.leak.set(true);
        // SAFETY: not registered, still ours.
        drop(unsafe { Box::from_raw(hook) });
    }
}

unsafe extern "C" fn on_shutdown(arg: *mut c_void) {
    // SAFETY: the box made in `watch_shutdown`; once run, it is no longer
    // registered, so `release_region` must not remove or free it.
    let region = unsafe { Box::from_raw(arg.cast::<Rc<Region>>()) };
    region.leak.set(true);
    region.hook.set(ptr::null_mut());
}
