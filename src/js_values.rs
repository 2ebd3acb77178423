//! wasm values to and from JS values, the way V8 converts them at the
//! boundary: i32, f32 and f64 as Numbers, i64 as BigInt.
//!
//! The JS layer has already coerced what JS returns (`lib/host-imports.js`:
//! ToInt32, ToNumber, BigInt.asIntN), so here a wrong type is a bug of ours,
//! reported as an error rather than guessed at.

use std::ptr;

use napi::sys::{self, napi_env, napi_value, Status};
use wasmer::{Type, Value};

fn check(status: sys::napi_status, what: &str) -> Result<(), String> {
    if status == Status::napi_ok {
        Ok(())
    } else {
        Err(format!("{what} failed (napi status {status})"))
    }
}

/// # Safety
/// `env` must be the current environment, on its thread.
pub unsafe fn to_js(env: napi_env, value: &Value) -> Result<napi_value, String> {
    let mut out = ptr::null_mut();
    // SAFETY: `env` is live (caller), `out` a valid slot.
    let status = unsafe {
        match *value {
            Value::I32(v) => sys::napi_create_int32(env, v, &mut out),
            Value::I64(v) => sys::napi_create_bigint_int64(env, v, &mut out),
            Value::F32(v) => sys::napi_create_double(env, f64::from(v), &mut out),
            Value::F64(v) => sys::napi_create_double(env, v, &mut out),
            ref other => return Err(format!("a {} value cannot cross into JS", other.ty())),
        }
    };
    check(status, "creating a JS value")?;
    Ok(out)
}

/// # Safety
/// `env` must be the current environment, `value` a live value of it.
pub unsafe fn from_js(env: napi_env, value: napi_value, ty: Type) -> Result<Value, String> {
    // SAFETY: live env and value (caller); out-params are valid slots.
    unsafe {
        match ty {
            Type::I32 => {
                let mut v = 0;
                check(
                    sys::napi_get_value_int32(env, value, &mut v),
                    "reading an i32",
                )?;
                Ok(Value::I32(v))
            }
            Type::I64 => {
                let (mut v, mut lossless) = (0, false);
                check(
                    sys::napi_get_value_bigint_int64(env, value, &mut v, &mut lossless),
                    "reading an i64 (a BigInt)",
                )?;
                Ok(Value::I64(v))
            }
            Type::F32 => {
                let mut v = 0.0;
                check(
                    sys::napi_get_value_double(env, value, &mut v),
                    "reading an f32",
                )?;
                Ok(Value::F32(v as f32))
            }
            Type::F64 => {
                let mut v = 0.0;
                check(
                    sys::napi_get_value_double(env, value, &mut v),
                    "reading an f64",
                )?;
                Ok(Value::F64(v))
            }
            other => Err(format!("a {other} value cannot cross from JS")),
        }
    }
}

/// Results as JS returns them: nothing, one value, or an array of several.
///
/// # Safety
/// As `from_js`.
pub unsafe fn results_from_js(
    env: napi_env,
    value: napi_value,
    types: &[Type],
) -> Result<Vec<Value>, String> {
    match types {
        [] => Ok(Vec::new()),
        // SAFETY: forwarded from the caller.
        [ty] => Ok(vec![unsafe { from_js(env, value, *ty) }?]),
        _ => types
            .iter()
            .enumerate()
            .map(|(i, ty)| {
                let mut element = ptr::null_mut();
                // SAFETY: as above; a non-array gives an error status.
                unsafe {
                    check(
                        sys::napi_get_element(env, value, i as u32, &mut element),
                        "reading a result",
                    )?;
                    from_js(env, element, *ty)
                }
            })
            .collect(),
    }
}

/// Results for JS: undefined, one value, or an array of several (as V8 does
/// for multi-value functions).
///
/// # Safety
/// As `to_js`.
pub unsafe fn results_to_js(env: napi_env, values: &[Value]) -> Result<napi_value, String> {
    let mut out = ptr::null_mut();
    // SAFETY: live env (caller), valid out-params.
    unsafe {
        match values {
            [] => check(sys::napi_get_undefined(env, &mut out), "undefined")?,
            [one] => out = to_js(env, one)?,
            many => {
                check(
                    sys::napi_create_array_with_length(env, many.len(), &mut out),
                    "creating an array",
                )?;
                for (i, value) in many.iter().enumerate() {
                    let element = to_js(env, value)?;
                    check(
                        sys::napi_set_element(env, out, i as u32, element),
                        "filling an array",
                    )?;
                }
            }
        }
    }
    Ok(out)
}

/// The name JS sees for a wasm value type (`i32`, `i64`, `f32`, `f64`).
pub fn type_name(ty: Type) -> &'static str {
    match ty {
        Type::I32 => "i32",
        Type::I64 => "i64",
        Type::F32 => "f32",
        Type::F64 => "f64",
        Type::V128 => "v128",
        Type::ExternRef => "externref",
        Type::FuncRef => "funcref",
        Type::ExceptionRef => "exnref",
    }
}

/// A JS value passed through as is (typed by the `.d.ts`, checked by the JS
/// layer).
pub struct RawJs(pub napi_value);

impl napi::bindgen_prelude::ToNapiValue for RawJs {
    unsafe fn to_napi_value(_env: napi_env, value: Self) -> napi::Result<napi_value> {
        Ok(value.0)
    }
}

impl napi::bindgen_prelude::FromNapiValue for RawJs {
    unsafe fn from_napi_value(_env: napi_env, value: napi_value) -> napi::Result<Self> {
        Ok(RawJs(value))
    }
}

impl napi::bindgen_prelude::TypeName for RawJs {
    fn type_name() -> &'static str {
        "unknown"
    }

    fn value_type() -> napi::ValueType {
        napi::ValueType::Unknown
    }
}

impl napi::bindgen_prelude::ValidateNapiValue for RawJs {}
