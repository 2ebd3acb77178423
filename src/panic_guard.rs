//! No panic reaches Node.
//!
//! A panic that unwinds out of an N-API callback is undefined behaviour, and
//! with an `extern "C"` callback Rust aborts the process. Every entry point
//! from JS therefore runs its body through `guarded`, which turns a panic
//! (ours, wasmer's or wasi-common's; wasmer carries a panic in a host
//! function across the wasm frames and resumes it in the caller) into a
//! `RuntimeError` naming the operation. The object the panic happened in may
//! be left half-updated, so callers mark it unusable (`Poison`); everything
//! else keeps working.
//!
//! `X_WASI_TEST_PANIC` (test-only, read once) makes named points panic once
//! each, so the tests can prove this on the release build; see SECURITY.md.

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use crate::errors::{js_error, ErrorKind};

/// Runs `body`, the work of JS-facing operation `operation`; a panic becomes
/// a `RuntimeError` and marks `poison` (when given).
pub fn guarded<T>(
    operation: &str,
    poison: Option<&Poison>,
    body: impl FnOnce() -> napi::Result<T>,
) -> napi::Result<T> {
    if let Some(poison) = poison {
        poison.check(operation)?;
    }
    let caught = catch_unwind(AssertUnwindSafe(|| {
        test_panic(operation);
        body()
    }));
    caught.unwrap_or_else(|payload| {
        if let Some(poison) = poison {
            poison.0.set(true);
        }
        Err(js_error(
            ErrorKind::Runtime,
            panic_message(operation, payload),
        ))
    })
}

/// The message of a caught panic, naming the operation it ended. The
/// payload is leaked, not dropped: a payload whose `Drop` panics again would
/// unwind out of here.
pub fn panic_message(operation: &str, payload: Box<dyn Any + Send>) -> String {
    let reason = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into());
    std::mem::forget(payload);
    format!("{operation} failed inside the addon (a Rust panic: {reason})")
}

/// Set once a panic went through an object's operation: its state may be
/// half-updated, so later operations on it fail rather than use it.
#[derive(Default)]
pub struct Poison(Cell<bool>);

impl Poison {
    fn check(&self, operation: &str) -> napi::Result<()> {
        if self.0.get() {
            return Err(js_error(
                ErrorKind::Runtime,
                format!("{operation}: this instance is unusable, an earlier call failed inside the addon"),
            ));
        }
        Ok(())
    }
}

/// Test-only: panics if `point` is listed in `X_WASI_TEST_PANIC` (comma
/// separated) and has not panicked yet. The variable is read once, at the
/// first check; unset (always, outside our tests) this is one atomic load.
pub fn test_panic(point: &str) {
    static ARMED: OnceLock<Vec<(String, AtomicBool)>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| {
        std::env::var("X_WASI_TEST_PANIC")
            .map(|list| {
                list.split(',')
                    .filter(|p| !p.is_empty())
                    .map(|p| (p.trim().to_string(), AtomicBool::new(false)))
                    .collect()
            })
            .unwrap_or_default()
    });
    if armed.is_empty() {
        return;
    }
    let fires = armed
        .iter()
        .any(|(name, fired)| name == point && !fired.swap(true, Ordering::AcqRel));
    if fires {
        panic!("X_WASI_TEST_PANIC: test panic in {point}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_runtime_error_naming_the_operation_and_poisons() {
        let poison = Poison::default();
        let result: napi::Result<()> = guarded("memory.grow", Some(&poison), || panic!("boom"));
        let reason = result.unwrap_err().reason;
        assert!(reason.starts_with("[RuntimeError] memory.grow failed inside the addon"));
        assert!(reason.contains("boom"));
        let again = guarded("global.set", Some(&poison), || Ok(1)).unwrap_err();
        assert!(again.reason.contains("unusable"));
        assert_eq!(guarded("compile", None, || Ok(2)).unwrap(), 2);
    }
}
