//! Options of a `WASI` object, as handed over by the JS layer.
//!
//! `lib/options.js` checks JS types (and throws `TypeError`s naming the
//! option); this module parses the values whose meaning only Rust knows.

use napi_derive::napi;

use crate::errors::type_error;

/// One guest directory backed by a host directory.
#[napi(object)]
pub struct Preopen {
    /// Path the guest sees, e.g. `/sandbox`.
    pub guest: String,
    /// Host directory it maps to.
    pub host: String,
    /// Every change beneath it fails with EROFS; the host stays untouched.
    pub readonly: bool,
}

/// One environment variable.
#[napi(object)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

/// Validated options of `new WASI(options)`.
#[napi(object)]
pub struct WasiOptions {
    pub args: Vec<String>,
    pub env: Vec<EnvVar>,
    pub preopens: Vec<Preopen>,
    /// Host file descriptors used as the guest's fd 0, 1 and 2.
    pub stdin: i32,
    pub stdout: i32,
    pub stderr: i32,
    /// `preview1`, `unstable`, or absent for both at once.
    pub version: Option<String>,
}

/// The stdio a `run()` asks for, over the constructor's descriptors.
#[napi(object)]
pub struct RunStdio {
    /// stdin from these bytes (a string or Buffer in JS).
    pub stdin_data: Option<napi::bindgen_prelude::Buffer>,
    /// stdin, stdout, stderr from these host descriptors.
    pub stdin_fd: Option<i32>,
    pub stdout_fd: Option<i32>,
    pub stderr_fd: Option<i32>,
    /// stdout, stderr into JS (`'pipe'` or a callback).
    pub stdout_to_js: bool,
    pub stderr_to_js: bool,
}

/// The compiler a module is compiled with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EngineKind {
    /// Optimising: slower to compile, fast code. The default.
    Cranelift,
    /// Linear-time compiler: compiles fast, slower code.
    Singlepass,
}

impl EngineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Cranelift => "cranelift",
            EngineKind::Singlepass => "singlepass",
        }
    }

    pub fn parse(name: &str) -> napi::Result<Self> {
        match name {
            "cranelift" => Ok(EngineKind::Cranelift),
            "singlepass" => Ok(EngineKind::Singlepass),
            other => Err(type_error(format!(
                "The \"engine\" option must be 'cranelift' or 'singlepass'. Received '{other}'"
            ))),
        }
    }
}

/// Which WASI import namespaces a `WASI` object provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WasiVersions {
    pub preview1: bool,
    pub unstable: bool,
}

impl WasiVersions {
    /// `None` means both, always: a module built against either name links.
    pub fn parse(version: Option<&str>) -> napi::Result<Self> {
        match version {
            None => Ok(WasiVersions {
                preview1: true,
                unstable: true,
            }),
            Some("preview1") => Ok(WasiVersions {
                preview1: true,
                unstable: false,
            }),
            Some("unstable") => Ok(WasiVersions {
                preview1: false,
                unstable: true,
            }),
            Some(other) => Err(type_error(format!(
                "The \"version\" option must be 'preview1' or 'unstable'. Received '{other}'"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_names() {
        assert_eq!(
            EngineKind::parse("cranelift").unwrap(),
            EngineKind::Cranelift
        );
        assert_eq!(
            EngineKind::parse("singlepass").unwrap(),
            EngineKind::Singlepass
        );
        let err = EngineKind::parse("llvm").unwrap_err();
        assert!(err.reason.contains("\"engine\""), "{}", err.reason);
    }

    #[test]
    fn versions_default_to_both_names() {
        let both = WasiVersions::parse(None).unwrap();
        assert!(both.preview1 && both.unstable);
        let p1 = WasiVersions::parse(Some("preview1")).unwrap();
        assert!(p1.preview1 && !p1.unstable);
        assert!(WasiVersions::parse(Some("preview2")).is_err());
    }
}
