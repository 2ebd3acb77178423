//! Errors crossing into JavaScript.
//!
//! napi-rs throws plain `Error`s; the JS layer (`lib/errors.js`) turns the
//! `[Kind]` tag at the start of the message into the matching class
//! (`WebAssembly.CompileError`, `LinkError`, `RuntimeError`, `TypeError`), so
//! users can `instanceof` them exactly as with V8's own errors.

use std::fmt::Write as _;

use napi::{Error, Status};
use wasmer::RuntimeError;
use wasmer_types::TrapCode;

/// The JS error class an error is thrown as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Compile,
    Link,
    Runtime,
    Type,
    /// `RangeError`, e.g. a memory that cannot grow by the pages asked for.
    Range,
    /// A plain `Error`, e.g. a preopen directory that cannot be opened.
    Wasi,
}

impl ErrorKind {
    fn tag(self) -> &'static str {
        match self {
            ErrorKind::Compile => "CompileError",
            ErrorKind::Link => "LinkError",
            ErrorKind::Runtime => "RuntimeError",
            ErrorKind::Type => "TypeError",
            ErrorKind::Range => "RangeError",
            ErrorKind::Wasi => "WasiError",
        }
    }
}

/// Builds the napi error for `kind`; the message is what users read.
pub fn js_error(kind: ErrorKind, message: impl AsRef<str>) -> Error {
    Error::new(
        Status::GenericFailure,
        format!("[{}] {}", kind.tag(), message.as_ref()),
    )
}

pub fn type_error(message: impl AsRef<str>) -> Error {
    js_error(ErrorKind::Type, message)
}

pub fn wasi_error(message: impl AsRef<str>) -> Error {
    js_error(ErrorKind::Wasi, message)
}

/// Describes a wasm trap like V8 does: the trap, then one `at` line per
/// wasm frame, innermost first, with names from the module's name section.
/// wasmer records no frames for a stack overflow (unwinding an exhausted
/// stack is unsafe), so say so rather than print an empty backtrace.
pub fn describe_trap(err: &RuntimeError) -> String {
    let mut text = err.message();
    if err.trace().is_empty() && err.clone().to_trap() == Some(TrapCode::StackOverflow) {
        text.push_str(" (infinite recursion? wasmer keeps no wasm backtrace for a stack overflow)");
    }
    for frame in err.trace() {
        let func = frame.func_index();
        let _ = match frame.function_name() {
            Some(name) => write!(text, "\n    at {name} ({}[{func}])", frame.module_name()),
            None => write!(text, "\n    at {}[{func}]", frame.module_name()),
        };
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_the_message_with_the_error_class() {
        let err = js_error(ErrorKind::Link, "missing env::f");
        assert_eq!(err.reason, "[LinkError] missing env::f");
    }

    #[test]
    fn describes_a_trap_without_frames_by_its_message() {
        let err = RuntimeError::new("boom");
        assert_eq!(describe_trap(&err), "boom");
    }
}
