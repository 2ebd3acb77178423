//! `poll_oneoff`, `sched_yield` and sleeps that a stop request can cut short.
//!
//! Like wasi-common's sync scheduler (poll(2) on the subscribed descriptors
//! with the earliest clock deadline as timeout), but it waits in slices of
//! `interrupt::SLICE` so a `timeout` or `AbortSignal` stops a guest blocked in
//! `poll_oneoff` (Go's `time.Sleep`) too. Files with no host descriptor
//! (stdin from a string, stdout into a pipe to JS) are always ready, where
//! the sync scheduler answers EINVAL. A read end whose peer has closed
//! (a pipe, or the socketpair Node gives a child for stdin) is ready with
//! HANGUP, as in node:wasi: poll(2) says POLLHUP for a pipe but only
//! POLLRDHUP for a socket, so both are asked for and both mean hangup.

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use wasi_common::sched::subscription::{RwEventFlags, Subscription};
use wasi_common::sched::{Poll, WasiSched};
use wasi_common::{Error, ErrorExt};

use crate::interrupt::{Interrupt, SLICE};

/// The peer of a socket shut its writing end (Linux only; elsewhere POLLHUP
/// alone tells).
#[cfg(any(target_os = "linux", target_os = "android"))]
const POLLRDHUP: libc::c_short = libc::POLLRDHUP;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const POLLRDHUP: libc::c_short = 0;

pub struct InterruptibleSched {
    pub interrupt: Arc<Interrupt>,
}

#[async_trait::async_trait]
impl WasiSched for InterruptibleSched {
    async fn poll_oneoff<'a>(&self, poll: &mut Poll<'a>) -> Result<(), Error> {
        if poll.is_empty() {
            return Ok(());
        }
        loop {
            self.interrupt.check()?;
            let timeout = poll
                .earliest_clock_deadline()
                .map(|clock| clock.duration_until().unwrap_or(Duration::ZERO));
            let wait = timeout.map_or(SLICE, |t| t.min(SLICE));
            if poll_ready(poll, wait)? {
                return Ok(());
            }
            if timeout.is_some_and(|t| t <= wait) {
                // The clock's deadline has passed: `results()` reports it.
                return Ok(());
            }
        }
    }

    async fn sched_yield(&self) -> Result<(), Error> {
        std::thread::yield_now();
        Ok(())
    }

    async fn sleep(&self, duration: Duration) -> Result<(), Error> {
        Ok(self.interrupt.sleep(duration)?)
    }
}

/// Polls the read/write subscriptions for at most `wait`; completes those
/// that are ready and says whether any was.
fn poll_ready(poll: &mut Poll<'_>, wait: Duration) -> Result<bool, Error> {
    let mut pollfds = Vec::new();
    let mut always_ready = false;
    for subscription in poll.rw_subscriptions() {
        let (file, events) = match subscription {
            Subscription::Read(s) => (s.file, libc::POLLIN | POLLRDHUP),
            Subscription::Write(s) => (s.file, libc::POLLOUT),
            Subscription::MonotonicClock(_) => continue,
        };
        match file.pollable() {
            Some(fd) => pollfds.push(libc::pollfd {
                fd: fd.as_raw_fd(),
                events,
                revents: 0,
            }),
            None => {
                always_ready = true;
                // Keep the indexes of `pollfds` aligned with subscriptions.
                pollfds.push(libc::pollfd {
                    fd: -1,
                    events: 0,
                    revents: 0,
                });
            }
        }
    }
    if pollfds.is_empty() {
        // Only clocks: wait for the next slice or the deadline.
        std::thread::sleep(wait);
        return Ok(false);
    }
    let timeout_ms = if always_ready {
        0
    } else {
        // Round up: a deadline 0.4 ms away must not spin with a 0 timeout.
        wait.as_micros().div_ceil(1000) as i32
    };
    // SAFETY: `pollfds` is a valid array of its length; fd -1 is ignored.
    let rc = unsafe {
        libc::poll(
            pollfds.as_mut_ptr(),
            pollfds.len() as libc::nfds_t,
            timeout_ms,
        )
    };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        return if err.kind() == std::io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(err.into())
        };
    }
    if rc == 0 && !always_ready {
        return Ok(false);
    }
    for (subscription, pollfd) in poll.rw_subscriptions().zip(&pollfds) {
        let (rw, is_read) = match subscription {
            Subscription::Read(s) => (s, true),
            Subscription::Write(s) => (s, false),
            Subscription::MonotonicClock(_) => continue,
        };
        // A file without a descriptor (fd -1) is ready, with no flags.
        let revents = pollfd.revents;
        if revents == 0 && pollfd.fd != -1 {
            continue;
        }
        let size = if is_read {
            rw.file.num_ready_bytes()?.max(1)
        } else {
            0
        };
        if revents & libc::POLLNVAL != 0 {
            rw.error(Error::badf());
        } else if revents & libc::POLLERR != 0 {
            rw.error(Error::io());
        } else if revents & (libc::POLLHUP | POLLRDHUP) != 0 {
            rw.complete(size, RwEventFlags::HANGUP);
        } else {
            rw.complete(size, RwEventFlags::empty());
        }
    }
    Ok(true)
}
