//! `initialize(bytes)`: a reactor module (Go `-buildmode=c-shared` with
//! `//go:wasmexport`, C with `-mexec-model=reactor`) instantiated natively
//! and kept, so JS can call its exports and reach its memories and globals.
//!
//! Calls run on the main thread, synchronously, like V8's. The JS layer
//! (`lib/native-instance.js`) builds the `exports` object: it converts
//! arguments the way V8 does, and turns endings into errors.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;
use std::ptr;
use std::rc::Rc;

use napi::sys::{self, napi_ref, Status};
use napi::Env;
use napi_derive::napi;
use wasmer::{Extern, Mutability, Type, Value};

use crate::errors::{js_error, ErrorKind};
use crate::js_values::{from_js, results_to_js, to_js, type_name, RawJs};
use crate::memory_views::{external_buffer, MemoryViews};
use crate::native::{ending, Ending, Linked};
use crate::panic_guard::{guarded, Poison};

/// What JS needs to know to wrap one export.
#[napi(object)]
pub struct ExportInfo {
    pub name: String,
    /// `function`, `memory`, `global`, `table` or `tag`.
    pub kind: String,
    /// Function parameter and result types (`i32`, `i64`, `f32`, `f64`, ...).
    pub params: Vec<String>,
    pub results: Vec<String>,
    /// A global's type and whether it can be set.
    pub value_type: Option<String>,
    pub mutable: bool,
}

/// A memory buffer handed out, and where it pointed.
struct HandedOut {
    address: usize,
    length: usize,
    buffer: napi_ref,
}

/// An instantiated reactor module.
#[napi]
pub struct NativeInstance {
    linked: Rc<RefCell<Linked>>,
    views: Rc<MemoryViews>,
    buffers: RefCell<HashMap<String, HandedOut>>,
    /// Set by a panic in one of its calls (see panic_guard.rs).
    poison: Poison,
}

fn no_export(name: &str, kind: &str) -> napi::Error {
    js_error(
        ErrorKind::Type,
        format!("the module exports no {kind} named '{name}'"),
    )
}

fn busy() -> napi::Error {
    js_error(
        ErrorKind::Wasi,
        "cannot call into the module from inside one of its host functions (re-entering wasm is not supported natively)",
    )
}

/// The exported memory `name`.
fn exported_memory(linked: &Linked, name: &str) -> napi::Result<wasmer::Memory> {
    linked
        .instance
        .exports
        .get_memory(name)
        .cloned()
        .map_err(|_| no_export(name, "memory"))
}

/// The exported global `name`.
fn exported_global(linked: &Linked, name: &str) -> napi::Result<wasmer::Global> {
    linked
        .instance
        .exports
        .get_global(name)
        .cloned()
        .map_err(|_| no_export(name, "global"))
}

impl NativeInstance {
    pub fn new(linked: Linked, views: Rc<MemoryViews>) -> Self {
        NativeInstance {
            linked: Rc::new(RefCell::new(linked)),
            views,
            buffers: RefCell::default(),
            poison: Poison::default(),
        }
    }
}

#[napi]
impl NativeInstance {
    /// The module's exports, in order.
    #[napi]
    pub fn exports_info(&self) -> napi::Result<Vec<ExportInfo>> {
        guarded(
            "exports",
            Some(&self.poison),
            || Ok(self.describe_exports()),
        )
    }

    /// Calls export `name`; `args` already converted by JS to the parameter
    /// types. Returns `{ ending: 'returned', value }`, or the ending
    /// (`exited` with `code`, `hostThrew`).
    #[napi(
        ts_args_type = "name: string, args: Array<number | bigint>",
        ts_return_type = "{ ending: string, value?: unknown, code?: number }"
    )]
    pub fn call(&self, env: Env, name: String, args: Vec<RawJs>) -> napi::Result<RawJs> {
        guarded("export call", Some(&self.poison), || {
            self.call_export(env, name, args)
        })
    }

    /// The exported memory `name` as an ArrayBuffer over it, in place. The
    /// same buffer while the memory keeps its size; a buffer keeps the
    /// instance alive.
    #[napi(ts_return_type = "ArrayBuffer")]
    pub fn memory_buffer(&self, env: Env, name: String) -> napi::Result<RawJs> {
        guarded("memory.buffer", Some(&self.poison), || {
            self.memory_buffer_of(env, name)
        })
    }

    /// Grows exported memory `name` by `delta` pages; the previous size in
    /// pages, as `WebAssembly.Memory.prototype.grow`.
    #[napi]
    pub fn memory_grow(&self, name: String, delta: u32) -> napi::Result<u32> {
        guarded("memory.grow", Some(&self.poison), || {
            self.grow_memory(name, delta)
        })
    }

    /// The value of exported global `name`.
    #[napi(ts_return_type = "number | bigint")]
    pub fn global_get(&self, env: Env, name: String) -> napi::Result<RawJs> {
        guarded("global.value", Some(&self.poison), || {
            self.get_global(env, name)
        })
    }

    /// Sets exported mutable global `name`.
    #[napi(ts_args_type = "name: string, value: number | bigint")]
    pub fn global_set(&self, env: Env, name: String, value: RawJs) -> napi::Result<()> {
        guarded("global.value set", Some(&self.poison), || {
            self.set_global(env, name, value)
        })
    }
}

/// The operations behind the entry points above.
impl NativeInstance {
    fn describe_exports(&self) -> Vec<ExportInfo> {
        let linked = self.linked.borrow();
        let store = &linked.store;
        linked
            .instance
            .exports
            .iter()
            .map(|(name, export)| {
                let mut info = ExportInfo {
                    name: name.clone(),
                    kind: String::new(),
                    params: Vec::new(),
                    results: Vec::new(),
                    value_type: None,
                    mutable: false,
                };
                match export {
                    Extern::Function(f) => {
                        let ty = f.ty(store);
                        info.kind = "function".into();
                        info.params = ty.params().iter().map(|t| type_name(*t).into()).collect();
                        info.results = ty.results().iter().map(|t| type_name(*t).into()).collect();
                    }
                    Extern::Memory(_) => info.kind = "memory".into(),
                    Extern::Global(g) => {
                        let ty = g.ty(store);
                        info.kind = "global".into();
                        info.value_type = Some(type_name(ty.ty).into());
                        info.mutable = ty.mutability == Mutability::Var;
                    }
                    Extern::Table(_) => info.kind = "table".into(),
                    Extern::Tag(_) => info.kind = "tag".into(),
                }
                info
            })
            .collect()
    }

    fn call_export(&self, env: Env, name: String, args: Vec<RawJs>) -> napi::Result<RawJs> {
        let raw = env.raw();
        let mut linked = self.linked.try_borrow_mut().map_err(|_| busy())?;
        let function = linked
            .instance
            .exports
            .get_function(&name)
            .map_err(|_| no_export(&name, "function"))?
            .clone();
        let params = function.ty(&linked.store).params().to_vec();
        if args.len() != params.len() {
            return Err(js_error(
                ErrorKind::Type,
                format!(
                    "{name} takes {} arguments, got {}",
                    params.len(),
                    args.len()
                ),
            ));
        }
        let mut values = Vec::with_capacity(args.len());
        for (arg, ty) in args.iter().zip(&params) {
            // SAFETY: live values of the current env.
            let value = unsafe { from_js(raw, arg.0, *ty) }
                .map_err(|e| js_error(ErrorKind::Type, format!("{name}: {e}")))?;
            values.push(value);
        }
        let outcome = match function.call(&mut linked.store, &values) {
            Ok(results) => Ok(results),
            Err(trap) => Err(ending(Err(trap), &linked.interrupt)?),
        };
        drop(linked);
        // SAFETY: building result objects in the current env.
        unsafe { ending_object(raw, outcome) }
    }

    fn memory_buffer_of(&self, env: Env, name: String) -> napi::Result<RawJs> {
        let raw = env.raw();
        let Ok(linked) = self.linked.try_borrow() else {
            // Inside a host function: the guest's memory, as `wasi.memory`.
            // SAFETY: main thread, live env.
            return match unsafe { self.views.buffer(raw) } {
                Ok(Some(buffer)) => Ok(RawJs(buffer)),
                _ => Err(busy()),
            };
        };
        let memory = exported_memory(&linked, &name)?;
        let view = memory.view(&linked.store);
        let (address, length) = (view.data_ptr() as usize, view.data_size() as usize);
        drop(linked);
        let mut buffers = self.buffers.borrow_mut();
        if let Some(previous) = buffers.get(&name) {
            let mut buffer = ptr::null_mut();
            // SAFETY: our live reference (weak: the buffer may be gone).
            unsafe { sys::napi_get_reference_value(raw, previous.buffer, &mut buffer) };
            if previous.address == address && previous.length == length && !buffer.is_null() {
                return Ok(RawJs(buffer));
            }
            if previous.address != address && !buffer.is_null() {
                // The memory moved: the old buffer must not reach the old place.
                // SAFETY: a live ArrayBuffer of ours.
                unsafe { sys::napi_detach_arraybuffer(raw, buffer) };
            }
            // SAFETY: our reference, deleted once.
            unsafe { sys::napi_delete_reference(raw, previous.buffer) };
        }
        // SAFETY: the memory stays mapped while the instance lives, and the
        // buffer keeps the instance alive (its finalizer holds a clone).
        let buffer = unsafe { keep_alive_buffer(raw, address, length, self.linked.clone()) }?;
        let mut reference = ptr::null_mut();
        // SAFETY: a weak reference (count 0) to a live value.
        unsafe { sys::napi_create_reference(raw, buffer, 0, &mut reference) };
        buffers.insert(
            name,
            HandedOut {
                address,
                length,
                buffer: reference,
            },
        );
        Ok(RawJs(buffer))
    }

    fn grow_memory(&self, name: String, delta: u32) -> napi::Result<u32> {
        let mut linked = self.linked.try_borrow_mut().map_err(|_| busy())?;
        let memory = exported_memory(&linked, &name)?;
        memory
            .grow(&mut linked.store, delta)
            .map(|pages| pages.0)
            .map_err(|e| {
                // V8's error for a memory that cannot grow that far.
                js_error(
                    ErrorKind::Range,
                    format!("WebAssembly.Memory.grow(): Maximum memory size exceeded ({e})"),
                )
            })
    }

    fn get_global(&self, env: Env, name: String) -> napi::Result<RawJs> {
        let mut linked = self.linked.try_borrow_mut().map_err(|_| busy())?;
        let global = exported_global(&linked, &name)?;
        let value = global.get(&mut linked.store);
        // SAFETY: the current env.
        unsafe { to_js(env.raw(), &value) }
            .map(RawJs)
            .map_err(|e| js_error(ErrorKind::Type, e))
    }

    fn set_global(&self, env: Env, name: String, value: RawJs) -> napi::Result<()> {
        let mut linked = self.linked.try_borrow_mut().map_err(|_| busy())?;
        let global = exported_global(&linked, &name)?;
        let ty: Type = global.ty(&linked.store).ty;
        // SAFETY: a live value of the current env.
        let value =
            unsafe { from_js(env.raw(), value.0, ty) }.map_err(|e| js_error(ErrorKind::Type, e))?;
        global
            .set(&mut linked.store, value)
            .map_err(|e| js_error(ErrorKind::Type, format!("global {name}: {e}")))
    }
}

/// `{ ending, value?, code? }` for JS.
unsafe fn ending_object(
    env: sys::napi_env,
    outcome: Result<Box<[Value]>, Ending>,
) -> napi::Result<RawJs> {
    // SAFETY: (all below) N-API calls on the current env.
    unsafe {
        let mut object = ptr::null_mut();
        sys::napi_create_object(env, &mut object);
        let set = |key: &std::ffi::CStr, value: sys::napi_value| {
            sys::napi_set_named_property(env, object, key.as_ptr(), value);
        };
        let text = |s: &str| {
            let mut out = ptr::null_mut();
            sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut out);
            out
        };
        match outcome {
            Ok(results) => {
                set(c"ending", text("returned"));
                let value =
                    results_to_js(env, &results).map_err(|e| js_error(ErrorKind::Type, e))?;
                set(c"value", value);
            }
            Err(Ending::Exited(code)) => {
                set(c"ending", text("exited"));
                let mut value = ptr::null_mut();
                sys::napi_create_uint32(env, code, &mut value);
                set(c"code", value);
            }
            Err(Ending::HostThrew) => set(c"ending", text("hostThrew")),
            Err(Ending::Interrupted) => set(c"ending", text("interrupted")),
            Err(Ending::Returned) => set(c"ending", text("returned")),
        }
        Ok(RawJs(object))
    }
}

/// An external ArrayBuffer over the instance's memory whose finalizer holds
/// the instance, so the memory outlives every buffer over it.
unsafe fn keep_alive_buffer(
    env: sys::napi_env,
    address: usize,
    length: usize,
    owner: Rc<RefCell<Linked>>,
) -> napi::Result<sys::napi_value> {
    if length == 0 {
        // SAFETY: forwarded; an empty buffer owns nothing.
        return unsafe { external_buffer(env, 0, 0) }.map_err(napi::Error::from_reason);
    }
    let hint = Box::into_raw(Box::new(owner));
    let mut buffer = ptr::null_mut();
    // SAFETY: the bytes stay valid while `hint` (the instance) lives, which
    // the finalizer drops only when V8 collects the buffer.
    let status = unsafe {
        sys::napi_create_external_arraybuffer(
            env,
            address as *mut c_void,
            length,
            Some(release_owner),
            hint.cast(),
            &mut buffer,
        )
    };
    if status != Status::napi_ok {
        // SAFETY: not handed to V8, still ours.
        drop(unsafe { Box::from_raw(hint) });
        return Err(napi::Error::from_reason(
            "cannot expose the memory as an ArrayBuffer",
        ));
    }
    Ok(buffer)
}

unsafe extern "C" fn release_owner(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
    // SAFETY: the box made in `keep_alive_buffer`, dropped once.
    drop(unsafe { Box::from_raw(hint.cast::<Rc<RefCell<Linked>>>()) });
}
