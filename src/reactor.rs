//! `initialize(bytes)`: a reactor module (Go `-buildmode=c-shared` with
//! `//go:wasmexport`, C with `-mexec-model=reactor`) instantiated natively
//! and kept, so JS can call its exports and reach its memories and globals.
//!
//! Calls run on the main thread, synchronously, like V8's. The JS layer
//! (`lib/native-instance.js`) builds the `exports` object: it converts
//! arguments the way V8 does, and turns endings into errors.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ptr;
use std::rc::Rc;

use napi::sys;
use napi::Env;
use napi_derive::napi;
use wasmer::{Extern, Mutability, Type, Value};

use crate::errors::{js_error, ErrorKind};
use crate::js_values::{from_js, results_to_js, to_js, type_name, RawJs};
use crate::memory_views::{Lend, MemoryViews};
use crate::native::{ending, lendable, Ending, Linked};
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

/// An instantiated reactor module.
#[napi(custom_finalize)]
pub struct NativeInstance {
    linked: Rc<RefCell<Linked>>,
    views: Rc<MemoryViews>,
    /// The lend of each exported memory JS asked for (`memory.buffer`).
    lends: RefCell<HashMap<String, Lend>>,
    /// The environment the lends were made in.
    env: Cell<sys::napi_env>,
    /// Native memory its module's code holds, as told to V8 (see `engine`).
    native_bytes: i64,
    /// Set by a panic in one of its calls (see panic_guard.rs).
    poison: Poison,
}

impl napi::bindgen_prelude::ObjectFinalize for NativeInstance {
    fn finalize(self, env: napi::Env) -> napi::Result<()> {
        env.adjust_external_memory(-self.native_bytes)?;
        Ok(())
    }
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
    /// `native_bytes`: what its code holds, already told to V8 with
    /// `adjust_external_memory`; given back when the instance is collected.
    pub fn new(linked: Linked, views: Rc<MemoryViews>, native_bytes: i64) -> Self {
        NativeInstance {
            linked: Rc::new(RefCell::new(linked)),
            views,
            lends: RefCell::default(),
            env: Cell::new(ptr::null_mut()),
            native_bytes,
            poison: Poison::default(),
        }
    }

    /// Ends the lends of memories that grew: their buffers are detached,
    /// as V8 detaches a memory's old buffer when it grows.
    fn end_grown_lends(&self) {
        let env = self.env.get();
        if env.is_null() {
            return;
        }
        let Ok(linked) = self.linked.try_borrow() else {
            return;
        };
        let mut lends = self.lends.borrow_mut();
        let grown: Vec<String> = lends
            .iter()
            .filter(|(name, lend)| {
                exported_memory(&linked, name)
                    .map(|memory| memory.view(&linked.store).data_size() as usize != lend.length())
                    .unwrap_or(true)
            })
            .map(|(name, _)| name.clone())
            .collect();
        drop(linked);
        for name in grown {
            if let Some(lend) = lends.remove(&name) {
                // SAFETY: a lend made in `env`, the current environment.
                unsafe { self.views.end(env, lend) };
            }
        }
    }
}

impl Drop for NativeInstance {
    fn drop(&mut self) {
        let env = self.env.get();
        for (_, lend) in self.lends.get_mut().drain() {
            // SAFETY: lends made in `env`, whose finalizers run on its thread.
            unsafe { self.views.abandon(env, lend) };
        }
        self.views.release_idle();
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

    /// The exported memory `name` as an ArrayBuffer lent over it (see
    /// `memory_views`). The same buffer while the memory keeps its size and
    /// JS has not moved it out; an older one is detached (or, moved out,
    /// reads zeros).
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
    /// The module's exports, in order.
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

    /// Calls export `name`; `args` already converted by JS to the parameter
    /// types. Returns `{ ending: 'returned', value }`, or the ending
    /// (`exited` with `code`, `hostThrew`).
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
        self.end_grown_lends();
        // SAFETY: building result objects in the current env.
        unsafe { ending_object(raw, outcome) }
    }

    /// The exported memory `name` as an ArrayBuffer lent over it (see
    /// `memory_views`). The same buffer while the memory keeps its size and
    /// JS has not moved it out; an older one is detached (or, moved out,
    /// reads zeros).
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
        let lendable = lendable(&memory, &linked.files, &linked.store);
        drop(linked);
        self.env.set(raw);
        let mut lends = self.lends.borrow_mut();
        if let Some(lend) = lends.get_mut(&name) {
            // SAFETY: (both) a lend made in the current env.
            if lend.length() == lendable.length && !unsafe { lend.moved_out(raw) } {
                return match unsafe { lend.buffer(raw) } {
                    Ok(Some(buffer)) => Ok(RawJs(buffer)),
                    Ok(None) => Err(busy()),
                    Err(e) => Err(napi::Error::from_reason(e)),
                };
            }
            // It grew, or JS moved its buffer out: only the newest buffer
            // of a memory stays attached to it.
            let lend = lends.remove(&name).expect("found above");
            // SAFETY: a lend made in the current env.
            unsafe { self.views.end(raw, lend) };
        }
        let file = lendable.file.ok_or_else(|| {
            js_error(
                ErrorKind::Runtime,
                format!("memory '{name}' cannot be lent to JS (it is not on a memory file)"),
            )
        })?;
        let mut lend = self
            .views
            .start(&file, lendable.length)
            .map_err(|e| js_error(ErrorKind::Runtime, e))?;
        // SAFETY: the current env.
        let buffer = match unsafe { lend.buffer(raw) } {
            Ok(Some(buffer)) => buffer,
            Ok(None) => return Err(busy()),
            Err(e) => {
                // SAFETY: as above.
                unsafe { self.views.end(raw, lend) };
                return Err(js_error(ErrorKind::Runtime, e));
            }
        };
        lends.insert(name, lend);
        Ok(RawJs(buffer))
    }

    /// Grows exported memory `name` by `delta` pages; the previous size in
    /// pages, as `WebAssembly.Memory.prototype.grow`.
    fn grow_memory(&self, name: String, delta: u32) -> napi::Result<u32> {
        let mut linked = self.linked.try_borrow_mut().map_err(|_| busy())?;
        let memory = exported_memory(&linked, &name)?;
        let grown = memory
            .grow(&mut linked.store, delta)
            .map(|pages| pages.0)
            .map_err(|e| {
                // V8's error for a memory that cannot grow that far.
                js_error(
                    ErrorKind::Range,
                    format!("WebAssembly.Memory.grow(): Maximum memory size exceeded ({e})"),
                )
            });
        drop(linked);
        self.end_grown_lends();
        grown
    }

    /// The value of exported global `name`.
    fn get_global(&self, env: Env, name: String) -> napi::Result<RawJs> {
        let mut linked = self.linked.try_borrow_mut().map_err(|_| busy())?;
        let global = exported_global(&linked, &name)?;
        let value = global.get(&mut linked.store);
        // SAFETY: the current env.
        unsafe { to_js(env.raw(), &value) }
            .map(RawJs)
            .map_err(|e| js_error(ErrorKind::Type, e))
    }

    /// Sets exported mutable global `name`.
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
