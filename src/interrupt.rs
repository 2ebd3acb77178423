//! Stopping a run from another thread (`timeout`, `AbortSignal`).
//!
//! Two halves, because a guest is either running wasm or blocked in a
//! syscall:
//! - in wasm: wasmer's host interrupt (`experimental-host-interrupt`) sends
//!   SIGUSR1 to the run's thread and turns it into a `HostInterrupt` trap;
//! - in a syscall: every blocking wait (stdin reads, `poll_oneoff`, sleeps)
//!   waits in short slices and gives up once the flag is set.
//!
//! SIGUSR1 is also Node's "start the inspector" signal, and wasmer's handler
//! aborts the process when a SIGUSR1 arrives that it did not send (it asserts
//! on its bookkeeping). So once wasmer has installed its handler, a guard
//! handler goes on top: a SIGUSR1 reaches wasmer only on a thread we are
//! interrupting, and every other one goes to the handler that was there
//! before wasmer (Node's).

use std::cell::Cell;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use wasmer_types::StoreId;

/// How long a blocking wait sleeps before it looks at the flag again: the
/// worst-case delay between a request and a blocked guest stopping.
pub const SLICE: Duration = Duration::from_millis(20);

/// The stop switch of one `WASI` object's run.
#[derive(Default)]
pub struct Interrupt {
    requested: AtomicBool,
    /// The store running on the run's thread, while it runs.
    store: Mutex<Option<StoreId>>,
    /// Signals we sent that the run's thread has not handled yet (read by
    /// the guard handler, so an atomic, not a lock).
    signals_in_flight: AtomicUsize,
}

impl Interrupt {
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// Asks the run to stop: blocked syscalls notice within `SLICE`, and a
    /// guest in wasm gets a signal. Call again until the run ends: a signal
    /// can miss a guest that was just entering wasm.
    pub fn request(&self) {
        self.requested.store(true, Ordering::Release);
        let Some(store) = *self.store.lock().unwrap_or_else(|e| e.into_inner()) else {
            return;
        };
        reinstall_guard_if_replaced();
        self.signals_in_flight.fetch_add(1, Ordering::AcqRel);
        if wasmer_vm::interrupt_registry::interrupt(store).is_err() {
            // Nothing was sent (not in wasm right now, or a signal is
            // already on its way).
            self.signals_in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Marks the calling thread as running `store` for this interrupt until
    /// the guard is dropped.
    pub fn enter(self: &Arc<Self>, store: StoreId) -> RunningGuard {
        install_sigusr1_guard();
        *self.store.lock().unwrap_or_else(|e| e.into_inner()) = Some(store);
        CURRENT.with(|c| c.set(Arc::as_ptr(self)));
        RunningGuard {
            interrupt: self.clone(),
        }
    }

    /// Sleeps for `duration`, or less when a stop is requested.
    pub fn sleep(&self, duration: Duration) -> io::Result<()> {
        let deadline = Instant::now() + duration;
        loop {
            self.check()?;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(SLICE));
        }
    }

    /// Waits until `fd` is ready for `events`, or a stop is requested.
    pub fn wait_for(&self, fd: RawFd, events: i16) -> io::Result<()> {
        loop {
            self.check()?;
            let mut pollfd = libc::pollfd {
                fd,
                events,
                revents: 0,
            };
            // SAFETY: one valid pollfd, for the length we pass.
            let rc = unsafe { libc::poll(&mut pollfd, 1, SLICE.as_millis() as i32) };
            if rc > 0 {
                return Ok(());
            }
            if rc < 0 {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }

    /// `Err(Interrupted)` once a stop is requested.
    pub fn check(&self) -> io::Result<()> {
        if self.is_requested() {
            Err(interrupted())
        } else {
            Ok(())
        }
    }
}

/// The error a blocking wait returns when the run is being stopped.
pub fn interrupted() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "the run was stopped")
}

pub struct RunningGuard {
    interrupt: Arc<Interrupt>,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        *self
            .interrupt
            .store
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
        CURRENT.with(|c| c.set(ptr::null()));
    }
}

thread_local! {
    /// The interrupt of the run on this thread (read by the signal handler:
    /// a const-initialised Cell needs no lazy setup there).
    static CURRENT: Cell<*const Interrupt> = const { Cell::new(ptr::null()) };
}

static mut BEFORE_WASMER: MaybeUninit<libc::sigaction> = MaybeUninit::uninit();
static mut WASMER: MaybeUninit<libc::sigaction> = MaybeUninit::uninit();

/// Installs the guard handler once, after making sure wasmer's is in place.
fn install_sigusr1_guard() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: plain sigaction calls; the statics are written once, here,
        // before the guard that reads them is installed.
        unsafe {
            let before = &raw mut BEFORE_WASMER;
            let wasmer = &raw mut WASMER;
            libc::sigaction(libc::SIGUSR1, ptr::null(), (*before).as_mut_ptr());
            wasmer_vm::init_traps();
            libc::sigaction(libc::SIGUSR1, ptr::null(), (*wasmer).as_mut_ptr());
            install_guard_handler();
        }
    });
}

/// Puts the guard back on top if someone replaced it since (Node does when
/// JS adds the first `process.on('SIGUSR1')` listener): what replaced it
/// becomes the handler every foreign SIGUSR1 goes to.
fn reinstall_guard_if_replaced() {
    // SAFETY: plain sigaction calls. Updating BEFORE_WASMER races only with
    // a foreign SIGUSR1 arriving in these few instructions.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGUSR1, ptr::null(), &mut current);
        if current.sa_sigaction == sigusr1_guard as *const () as usize {
            return;
        }
        (&raw mut BEFORE_WASMER).write(MaybeUninit::new(current));
        install_guard_handler();
    }
}

/// # Safety
/// WASMER and BEFORE_WASMER must be set.
unsafe fn install_guard_handler() {
    // SAFETY: a plain sigaction call with a handler of the right type.
    unsafe {
        let mut guard: libc::sigaction = std::mem::zeroed();
        guard.sa_sigaction = sigusr1_guard as *const () as usize;
        guard.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut guard.sa_mask);
        libc::sigaction(libc::SIGUSR1, &guard, ptr::null_mut());
    }
}

/// Makes sure wasmer's trap handlers are installed under our guard; call
/// before any wasm runs in the process.
pub fn init() {
    install_sigusr1_guard();
}

extern "C" fn sigusr1_guard(
    signum: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    let ours = CURRENT.with(|c| {
        let current = c.get();
        // SAFETY: set by `enter` for the lifetime of the running guard, on
        // this very thread.
        !current.is_null()
            && unsafe { &*current }
                .signals_in_flight
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok()
    });
    // SAFETY: both were filled in before this handler was installed.
    let next = unsafe {
        if ours {
            (&raw const WASMER).read().assume_init()
        } else {
            (&raw const BEFORE_WASMER).read().assume_init()
        }
    };
    // SAFETY: calling the handler that would have run without us, the way
    // the kernel would have.
    unsafe { forward(&next, signum, info, context) }
}

unsafe fn forward(
    action: &libc::sigaction,
    signum: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    let handler = action.sa_sigaction;
    if handler == libc::SIG_IGN {
        return;
    }
    if handler == libc::SIG_DFL {
        // SIGUSR1's default is to end the process: do what it would have.
        // SAFETY: restoring the default disposition and re-raising.
        unsafe {
            libc::signal(signum, libc::SIG_DFL);
            libc::raise(signum);
        }
        return;
    }
    // SAFETY: `handler` is a handler installed for this signal, of the kind
    // its flags say.
    unsafe {
        if action.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(handler);
            f(signum, info, context);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(handler);
            f(signum);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requested_stop_ends_sleeps_and_waits_within_a_slice() {
        let interrupt = Arc::new(Interrupt::default());
        let stopper = {
            let interrupt = interrupt.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                interrupt.request();
            })
        };
        let started = Instant::now();
        let err = interrupt.sleep(Duration::from_secs(30)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
        assert!(started.elapsed() < Duration::from_secs(2));
        stopper.join().unwrap();

        let (reader, _writer) = std::io::pipe().unwrap();
        use std::os::fd::AsRawFd;
        let err = interrupt
            .wait_for(reader.as_raw_fd(), libc::POLLIN)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
    }
}
