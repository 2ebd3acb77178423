//! The WASI core of one `WASI` object: its fd table, preopens, args, env,
//! clocks and scheduler, served to both execution modes (wasmer and V8).
//!
//! The preview1 semantics come from wasmtime's `wasi-common` on `cap-std`,
//! which resolves every path beneath a preopen's directory handle (no `..`
//! or symlink escapes by construction). See docs/DESIGN.md for why.
//! `syscalls` is the ABI glue: guest arguments in, errno out.

mod fixes;
mod host_dir;
mod readonly;
pub mod syscalls;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use wasi_common::sync::WasiCtxBuilder;
use wasi_common::WasiCtx;

use host_dir::HostDir;

use crate::errors::{type_error, wasi_error};
use crate::options::WasiOptions;
use crate::stdio::HostFd;

/// Builds the WASI state of one `WASI` object from its options.
pub fn build_ctx(options: &WasiOptions) -> napi::Result<WasiCtx> {
    let mut builder = WasiCtxBuilder::new();
    for arg in &options.args {
        builder
            .arg(arg)
            .map_err(|e| type_error(format!("The \"args\" option: {e}")))?;
    }
    for var in &options.env {
        builder
            .env(&var.name, &var.value)
            .map_err(|e| type_error(format!("The \"env\" option: {e}")))?;
    }
    builder
        .stdin(Box::new(stdio_fd("stdin", options.stdin, false)?))
        .stdout(Box::new(stdio_fd("stdout", options.stdout, true)?))
        .stderr(Box::new(stdio_fd("stderr", options.stderr, true)?));
    let ctx = builder.build();
    for preopen in &options.preopens {
        let dir = Dir::open_ambient_dir(&preopen.host, ambient_authority()).map_err(|e| {
            wasi_error(format!(
                "cannot open preopen '{}' -> '{}': {e}",
                preopen.guest, preopen.host
            ))
        })?;
        // Writable preopens are `HostDir`s too: see host_dir.rs.
        ctx.push_preopened_dir(
            Box::new(HostDir::new(dir, preopen.readonly)),
            &preopen.guest,
        )
        .map_err(|e| wasi_error(format!("cannot preopen '{}': {e}", preopen.guest)))?;
    }
    Ok(ctx)
}

fn stdio_fd(option: &str, fd: i32, append: bool) -> napi::Result<HostFd> {
    HostFd::dup(fd, append).map_err(|e| {
        type_error(format!(
            "The \"{option}\" option: file descriptor {fd}: {e}"
        ))
    })
}
