//! `clock_time_get` and `clock_res_get`, corrected to answer as node:wasi
//! does where wasi-common does not:
//! - the CPU-time clocks (process, thread) read the host's, where
//!   wasi-common answers EBADF (wasi-libc's clock(), getrusage() and
//!   times() read the process one);
//! - the result may sit at any address inside memory, aligned or not
//!   (wiggle refuses an unaligned u64); outside memory is EFAULT.

use wiggle::{GuestMemory, GuestPtr};

use super::syscalls::Stop;

/// Clock ids, the same in both ABIs.
const CLOCK_PROCESS_CPUTIME: i32 = 2;
const CLOCK_THREAD_CPUTIME: i32 = 3;
const ERRNO_FAULT: i32 = 21;
const ERRNO_INVAL: i32 = 28;

/// A clock query of wasi-common, writing its u64 to the given pointer.
pub type ClockQuery<'a> = &'a mut dyn FnMut(&mut GuestMemory<'_>, i32) -> Result<i32, Stop>;

/// The host clock behind a CPU-time clock id.
fn cpu_clock(id: i32) -> Option<libc::clockid_t> {
    match id {
        CLOCK_PROCESS_CPUTIME => Some(libc::CLOCK_PROCESS_CPUTIME_ID),
        CLOCK_THREAD_CPUTIME => Some(libc::CLOCK_THREAD_CPUTIME_ID),
        _ => None,
    }
}

fn host_clock(clock: libc::clockid_t, resolution: bool) -> Result<u64, i32> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write.
    let rc = unsafe {
        if resolution {
            libc::clock_getres(clock, &mut ts)
        } else {
            libc::clock_gettime(clock, &mut ts)
        }
    };
    if rc != 0 {
        return Err(ERRNO_INVAL);
    }
    Ok(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// `clock_time_get` (`resolution` false) or `clock_res_get` (true) of clock
/// `id`, its u64 written at `result`; `query` is wasi-common's.
pub fn clock_query(
    memory: &mut GuestMemory<'_>,
    id: i32,
    resolution: bool,
    result: i32,
    query: ClockQuery<'_>,
) -> Result<i32, Stop> {
    let value = match cpu_clock(id) {
        Some(clock) => match host_clock(clock, resolution) {
            Ok(value) => value.to_le_bytes(),
            Err(errno) => return Ok(errno),
        },
        None => {
            // Into an aligned scratch u64, then copied to `result`.
            let mut scratch = [0u8; 8];
            let errno = query(&mut GuestMemory::Unshared(&mut scratch), 0)?;
            if errno != 0 {
                return Ok(errno);
            }
            scratch
        }
    };
    let target = GuestPtr::<[u8]>::new((result as u32, value.len() as u32));
    Ok(match memory.copy_from_slice(&value, target) {
        Ok(()) => 0,
        Err(_) => ERRNO_FAULT,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unused(_: &mut GuestMemory<'_>, _: i32) -> Result<i32, Stop> {
        panic!("a CPU clock is read from the host")
    }

    #[test]
    fn cpu_clocks_read_the_host() {
        for id in [CLOCK_PROCESS_CPUTIME, CLOCK_THREAD_CPUTIME] {
            for resolution in [false, true] {
                let mut bytes = [0u8; 16];
                let mut memory = GuestMemory::Unshared(&mut bytes);
                assert_eq!(
                    clock_query(&mut memory, id, resolution, 3, &mut unused),
                    Ok(0)
                );
                assert_ne!(u64::from_le_bytes(bytes[3..11].try_into().unwrap()), 0);
            }
        }
    }

    #[test]
    fn results_go_to_any_address_inside_memory_and_efault_outside() {
        let mut bytes = [0u8; 16];
        let mut memory = GuestMemory::Unshared(&mut bytes);
        let mut query = |m: &mut GuestMemory<'_>, at: i32| {
            m.write(GuestPtr::<u64>::new(at as u32), 0x0102_0304_0506_0708)
                .unwrap();
            Ok(0)
        };
        assert_eq!(clock_query(&mut memory, 0, false, 1, &mut query), Ok(0));
        assert_eq!(
            clock_query(&mut memory, 0, false, 9, &mut query),
            Ok(ERRNO_FAULT)
        );
        assert_eq!(
            clock_query(&mut memory, 0, false, -1, &mut query),
            Ok(ERRNO_FAULT)
        );
        assert_eq!(bytes[0], 0);
        assert_eq!(
            u64::from_le_bytes(bytes[1..9].try_into().unwrap()),
            0x0102_0304_0506_0708
        );
        assert_eq!(bytes[9..], [0; 7], "nothing written past the end");
    }

    #[test]
    fn errors_of_the_query_pass_through() {
        let mut bytes = [0u8; 16];
        let mut memory = GuestMemory::Unshared(&mut bytes);
        assert_eq!(
            clock_query(&mut memory, 7, false, 0, &mut |_, _| Ok(ERRNO_INVAL)),
            Ok(ERRNO_INVAL)
        );
    }
}
