//! The WASI core of one `WASI` object: its fd table, preopens, args, env,
//! clocks and scheduler, served to both execution modes (wasmer and V8).
//!
//! The preview1 semantics come from wasmtime's `wasi-common` on `cap-std`,
//! which resolves every path beneath a preopen's directory handle (no `..`
//! or symlink escapes by construction). See docs/DESIGN.md for why.
//! `syscalls` is the ABI glue: guest arguments in, errno out; `direct`
//! runs the hottest preview1 calls without wiggle's glue.

mod clocks;
mod direct;
mod escape;
mod fixes;
mod host_dir;
mod readonly;
mod sched;
pub mod syscalls;

use std::sync::Arc;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use wasi_common::pipe::ReadPipe;
use wasi_common::sync::{clocks_ctx, random_ctx};
use wasi_common::table::Table;
use wasi_common::WasiCtx;
use wiggle::GuestMemory;

use host_dir::HostDir;

use crate::errors::{type_error, wasi_error};
use crate::interrupt::Interrupt;
use crate::options::{RunStdio, WasiOptions};
use crate::stdio::{HostFd, JsOutput, OutputSink};

/// Builds the WASI state of one `WASI` object from its options. Its blocking
/// waits (stdin, `poll_oneoff`, sleeps) give up when `interrupt` is requested.
pub fn build_ctx(options: &WasiOptions, interrupt: &Arc<Interrupt>) -> napi::Result<WasiCtx> {
    let scheduler = Box::new(sched::InterruptibleSched {
        interrupt: interrupt.clone(),
    });
    let mut ctx = WasiCtx::new(random_ctx(), clocks_ctx(), scheduler, Table::new());
    for arg in &options.args {
        ctx.push_arg(arg)
            .map_err(|e| type_error(format!("The \"args\" option: {e}")))?;
    }
    for var in &options.env {
        ctx.push_env(&var.name, &var.value)
            .map_err(|e| type_error(format!("The \"env\" option: {e}")))?;
    }
    ctx.set_stdin(Box::new(stdio_fd(
        "stdin",
        options.stdin,
        false,
        interrupt,
    )?));
    ctx.set_stdout(Box::new(stdio_fd(
        "stdout",
        options.stdout,
        true,
        interrupt,
    )?));
    ctx.set_stderr(Box::new(stdio_fd(
        "stderr",
        options.stderr,
        true,
        interrupt,
    )?));
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

/// Closes every descriptor of `ctx` (stdio, preopens, what the guest
/// opened), as a process's close when it ends, and keeps the rest: after a
/// V8 `start()` returns, args, env, clocks and random still answer (as
/// node:wasi's imports do), a descriptor EBADF.
pub fn close_descriptors(ctx: &mut WasiCtx) {
    // Keys come from `push` (counting up) or `insert_at` (stdio), and
    // fd_renumber only moves onto a key in use: all lie below the key
    // `push` hands out next.
    let end = {
        let table = ctx.table();
        let Ok(end) = table.push(Arc::new(())) else {
            return;
        };
        table.delete::<()>(end);
        end
    };
    for fd in 0..end {
        if ctx.table().contains_key(fd) {
            // Every entry is a file or a directory, which fd_close closes.
            let _ =
                syscalls::preview1::fd_close(ctx, &mut GuestMemory::Unshared(&mut []), fd as i32);
        }
    }
}

/// Replaces the stdio a `run()` asks for; streams it leaves out keep the
/// descriptors given to the constructor.
pub fn set_run_stdio(
    ctx: &WasiCtx,
    stdio: &RunStdio,
    sink: &Arc<dyn OutputSink>,
    interrupt: &Arc<Interrupt>,
) -> napi::Result<()> {
    if let Some(data) = &stdio.stdin_data {
        ctx.set_stdin(Box::new(ReadPipe::from(data.to_vec())));
    } else if let Some(fd) = stdio.stdin_fd {
        ctx.set_stdin(Box::new(stdio_fd("stdin", fd, false, interrupt)?));
    }
    for (stream, fd, to_js) in [
        (1, stdio.stdout_fd, stdio.stdout_to_js),
        (2, stdio.stderr_fd, stdio.stderr_to_js),
    ] {
        let file: Box<dyn wasi_common::WasiFile> = if to_js {
            Box::new(JsOutput {
                stream,
                sink: sink.clone(),
            })
        } else if let Some(fd) = fd {
            let option = if stream == 1 { "stdout" } else { "stderr" };
            Box::new(stdio_fd(option, fd, true, interrupt)?)
        } else {
            continue;
        };
        if stream == 1 {
            ctx.set_stdout(file);
        } else {
            ctx.set_stderr(file);
        }
    }
    Ok(())
}

fn stdio_fd(
    option: &str,
    fd: i32,
    append: bool,
    interrupt: &Arc<Interrupt>,
) -> napi::Result<HostFd> {
    HostFd::dup(fd, append, interrupt.clone()).map_err(|e| {
        type_error(format!(
            "The \"{option}\" option: file descriptor {fd}: {e}"
        ))
    })
}
