//! Whether a module imports nothing but WASI syscalls, each with its exact
//! signature: then V8 can run it with our syscalls as plain JS functions
//! (`engine: 'auto'`'s first tier) and link exactly as wasmer would. V8
//! accepts any JS function for any function import, so a wrong signature
//! would link there and fail in wasmer; such a module goes native. So does
//! one with a start function: it runs at instantiation, before V8 could
//! give up on a module for the native path without running anything twice.

use wasmparser::{CompositeInnerType, Parser, Payload, TypeRef, ValType};

const PREVIEW1: &str = "wasi_snapshot_preview1";
const UNSTABLE: &str = "wasi_unstable";

macro_rules! wasm_type {
    (i32) => {
        ValType::I32
    };
    (i64) => {
        ValType::I64
    };
}

macro_rules! signatures {
    ($(($name:ident, [$($arg:ident : $ty:tt),*])),* $(,)?) => {
        /// Every shared syscall: name and parameter types (each returns an i32 errno).
        const SHARED: &[(&str, &[ValType])] = &[$((stringify!($name), &[$(wasm_type!($ty)),*])),*];
    };
}
crate::for_each_shared_syscall!(signatures!());

/// Parameter and result types of the syscall `name` of `namespace`.
fn signature(namespace: &str, name: &str) -> Option<(&'static [ValType], &'static [ValType])> {
    const ERRNO: &[ValType] = &[ValType::I32];
    match (namespace, name) {
        (PREVIEW1 | UNSTABLE, "proc_exit") => Some((&[ValType::I32], &[])),
        (PREVIEW1, "sock_accept") => Some((&[ValType::I32; 3], ERRNO)),
        (PREVIEW1 | UNSTABLE, _) => SHARED
            .iter()
            .find(|(syscall, _)| *syscall == name)
            .map(|(_, params)| (*params, ERRNO)),
        _ => None,
    }
}

/// True when every import of `bytes` is a WASI syscall with its exact
/// signature and it has no start function. False for anything it cannot
/// read (the native path reports it).
pub fn v8_runnable(bytes: &[u8]) -> bool {
    check(bytes).unwrap_or(false)
}

fn check(bytes: &[u8]) -> wasmparser::Result<bool> {
    let mut types: Vec<Option<(Vec<ValType>, Vec<ValType>)>> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group?.into_types() {
                        types.push(match &sub.composite_type.inner {
                            CompositeInnerType::Func(func) => {
                                Some((func.params().to_vec(), func.results().to_vec()))
                            }
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    let TypeRef::Func(index) = import.ty else {
                        return Ok(false);
                    };
                    let Some(Some((params, results))) = types.get(index as usize) else {
                        return Ok(false);
                    };
                    match signature(import.module, import.name) {
                        Some((want_params, want_results))
                            if params == want_params && results == want_results => {}
                        _ => return Ok(false),
                    }
                }
            }
            Payload::StartSection { .. } => return Ok(false),
            // Imports and the start function come before code: nothing after matters here.
            Payload::CodeSectionStart { .. } | Payload::End(_) => break,
            _ => {}
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_every_syscall_with_its_types() {
        assert_eq!(
            signature(PREVIEW1, "fd_seek"),
            Some((
                &[ValType::I32, ValType::I64, ValType::I32, ValType::I32][..],
                &[ValType::I32][..]
            ))
        );
        assert_eq!(
            signature(UNSTABLE, "proc_exit"),
            Some((&[ValType::I32][..], &[][..]))
        );
        assert_eq!(signature(UNSTABLE, "sock_accept"), None);
        assert_eq!(signature("env", "fd_write"), None);
    }

    #[test]
    fn refuses_other_imports_and_wrong_signatures() {
        // (module (type (func (param i32) (result i32))) (import "M" "N" (func (type 0))))
        let module = |m: &str, n: &str| {
            let mut imports = vec![1u8, m.len() as u8];
            imports.extend(m.as_bytes());
            imports.push(n.len() as u8);
            imports.extend(n.as_bytes());
            imports.extend([0, 0]);
            let mut bytes = b"\0asm\x01\0\0\0".to_vec();
            bytes.extend([1, 6, 1, 0x60, 1, 0x7f, 1, 0x7f]);
            bytes.extend([2, imports.len() as u8]);
            bytes.extend(imports);
            bytes
        };
        assert!(v8_runnable(&module(PREVIEW1, "fd_close")));
        assert!(
            !v8_runnable(&module(PREVIEW1, "fd_write")),
            "wrong signature"
        );
        assert!(!v8_runnable(&module("env", "fd_close")), "not WASI");
        assert!(!v8_runnable(&module(PREVIEW1, "nope")), "no such syscall");
        assert!(v8_runnable(b"\0asm\x01\0\0\0"));
        // (module (func) (start 0)): type, function, start sections.
        let with_start = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x03\x02\x01\0\x08\x01\0";
        assert!(!v8_runnable(with_start), "a start function");
        assert!(!v8_runnable(b"\0asm\x01\0\0"));
    }
}
