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
//! handler goes on top and forwards to wasmer only the signals wasmer sent,
//! every other one to the handler that was there before wasmer (Node's).
//!
//! Which signals wasmer sent is decided from the signal itself, not from
//! state kept beside it (that state and the signal's arrival race): wasmer
//! sends with `pthread_kill` (`si_code == SI_TKILL`, `si_pid` our own), and
//! only after it has recorded the target that its handler asserts on. `kill`
//! from another process or from `process.kill()` is `SI_USER`, so it can
//! never reach wasmer, whatever the interrupts under way. A count of the
//! interrupts sent and not yet handled adds that no tkill is forwarded
//! while none is under way. The handler touches no thread-local (a first
//! touch of one in a dynamically loaded library may allocate) and takes no
//! lock: two atomics, `getpid`, and the saved handlers, which are replaced
//! whole (never written in place) so a signal never reads half of one.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
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
}

/// Interrupt signals wasmer sent (or is about to send) that no thread has
/// handled yet, across the process.
static SIGNALS_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

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
        // Counted before sending: the signal may be handled before
        // `interrupt` returns.
        SIGNALS_IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
        if wasmer_vm::interrupt_registry::interrupt(store).is_err() {
            // Nothing was sent (not in wasm right now, or a signal is
            // already on its way).
            SIGNALS_IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Marks the calling thread as running `store` for this interrupt until
    /// the guard is dropped.
    pub fn enter(self: &Arc<Self>, store: StoreId) -> RunningGuard {
        install_sigusr1_guard();
        *self.store.lock().unwrap_or_else(|e| e.into_inner()) = Some(store);
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
        // Wasm has run on this thread by now, so wasmer's signal stack is
        // set up and this registers after it (see BlockSignalsAtExit).
        BLOCK_SIGNALS_AT_EXIT.with(|_| ());
    }
}

/// Blocks every signal on a thread that ran wasm, as it exits.
///
/// wasmer gives each such thread an alternate signal stack and unmaps it in
/// a thread-local destructor without unregistering it; a SIGUSR1 (whose
/// handlers run on that stack) arriving after that, while the thread
/// finishes exiting, cannot be delivered and the kernel kills the process
/// with SIGSEGV (seen under a storm of foreign SIGUSR1s). Thread-local
/// destructors run last registered first, and this one is registered after
/// wasmer's, so the thread stops taking signals before the stack goes; they
/// go to the process's other threads instead.
struct BlockSignalsAtExit;

impl Drop for BlockSignalsAtExit {
    fn drop(&mut self) {
        // SAFETY: blocking signals for the calling thread only.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_BLOCK, &all, ptr::null_mut());
        }
    }
}

thread_local! {
    static BLOCK_SIGNALS_AT_EXIT: BlockSignalsAtExit = const { BlockSignalsAtExit };
}

/// Where foreign SIGUSR1s go: the handler before wasmer's (Node's), or what
/// replaced our guard since. Each value is leaked, never freed or written
/// again, so a signal handler holding an old pointer still reads a whole
/// one (a few such replacements per process at most).
static BEFORE_WASMER: AtomicPtr<libc::sigaction> = AtomicPtr::new(ptr::null_mut());
static mut WASMER: MaybeUninit<libc::sigaction> = MaybeUninit::uninit();

fn set_before_wasmer(action: libc::sigaction) {
    BEFORE_WASMER.store(Box::into_raw(Box::new(action)), Ordering::Release);
}

/// Installs the guard handler once, after making sure wasmer's is in place.
fn install_sigusr1_guard() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: plain sigaction calls; the statics are written once, here,
        // before the guard that reads them is installed.
        unsafe {
            let wasmer = &raw mut WASMER;
            let mut before: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGUSR1, ptr::null(), &mut before);
            set_before_wasmer(before);
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
    // SAFETY: plain sigaction calls. A signal meanwhile reads either the
    // old saved handler or the new one, both whole.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGUSR1, ptr::null(), &mut current);
        if current.sa_sigaction == sigusr1_guard as *const () as usize {
            return;
        }
        set_before_wasmer(current);
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

/// Whether a SIGUSR1 with this `si_code` and `si_pid` is an interrupt wasmer
/// sent: a `pthread_kill` from this process while one is under way (then
/// counted as handled). Async-signal-safe.
fn sent_by_wasmer(si_code: libc::c_int, si_pid: libc::pid_t, own_pid: libc::pid_t) -> bool {
    si_code == libc::SI_TKILL
        && si_pid == own_pid
        && SIGNALS_IN_FLIGHT
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
}

extern "C" fn sigusr1_guard(
    signum: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel's siginfo for this SA_SIGINFO handler; getpid is
    // async-signal-safe.
    let ours = !info.is_null()
        && unsafe { sent_by_wasmer((*info).si_code, (*info).si_pid(), libc::getpid()) };
    // SAFETY: both were set before this handler was installed; saved
    // handlers are never written in place.
    let next = unsafe {
        if ours {
            (&raw const WASMER).read().assume_init()
        } else {
            *BEFORE_WASMER.load(Ordering::Acquire)
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
    fn only_a_tkill_from_this_process_with_an_interrupt_under_way_goes_to_wasmer() {
        let me = 4242;
        // Nothing under way: even wasmer's kind of signal goes to Node.
        assert!(!sent_by_wasmer(libc::SI_TKILL, me, me));
        SIGNALS_IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
        // kill(1) or process.kill(): SI_USER, never wasmer's, and the
        // count is left for the real one.
        assert!(!sent_by_wasmer(libc::SI_USER, me, me));
        assert!(!sent_by_wasmer(libc::SI_USER, 1, me));
        // tgkill from another process.
        assert!(!sent_by_wasmer(libc::SI_TKILL, 1, me));
        assert!(sent_by_wasmer(libc::SI_TKILL, me, me));
        assert_eq!(SIGNALS_IN_FLIGHT.load(Ordering::Acquire), 0);
    }

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
