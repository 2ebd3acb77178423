//! Guest linear memory on a memory file (memfd), so that JS can be lent an
//! alias mapping of its pages instead of the pages themselves.
//!
//! wasmer reserves each (static) memory as one anonymous mapping: 4 GiB for
//! the wasm32 address space plus a guard region. Right after wasmer creates
//! it, and before anything is written into it, the address-space part is
//! replaced, at the same address and with the same protection, by a shared
//! mapping of a fresh memfd. wasmer and the compiled code see no difference
//! (it grows by `mprotect`, frees by `munmap`); we can then map the same
//! pages a second time elsewhere (`map_alias`) and, when a lend ends, swap
//! that alias for private zero pages (`neutralize`) in one atomic `mmap`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::{self, NonNull};
use std::sync::{Arc, Mutex};

use wasmer_types::MemoryStyle;
use wasmer_vm::{MemoryError, VMMemory};

/// The memory file of one guest memory.
pub struct MemoryFile {
    fd: OwnedFd,
    /// Where wasmer's code sees the memory.
    base: usize,
}

impl MemoryFile {
    /// Where wasmer's code sees the memory: tells memory files apart.
    pub fn base(&self) -> usize {
        self.base
    }

    /// Maps the first `length` bytes of the memory at a new address.
    pub fn map_alias(&self, length: usize) -> io::Result<usize> {
        // SAFETY: a fresh shared mapping of our file; touches no memory of ours.
        let address = unsafe {
            libc::mmap(
                ptr::null_mut(),
                length,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                self.fd.as_raw_fd(),
                0,
            )
        };
        if address == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(address as usize)
    }

    /// Maps the first `length` bytes of the memory again over an alias
    /// region of ours at `address` (made by `map_alias`, at least that long).
    pub fn remap_alias(&self, address: usize, length: usize) -> io::Result<()> {
        // SAFETY: `address..+length` is an alias region we own (the caller's
        // promise); MAP_FIXED replaces it atomically.
        let mapped = unsafe {
            libc::mmap(
                address as *mut libc::c_void,
                length,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_FIXED,
                self.fd.as_raw_fd(),
                0,
            )
        };
        if mapped == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Replaces an alias region by private zero pages: whoever still holds a
/// pointer into it reads zeros and writes into memory nobody else sees.
pub fn neutralize(address: usize, length: usize) -> io::Result<()> {
    // SAFETY: the caller owns the region; MAP_FIXED swaps it atomically.
    let mapped = unsafe {
        libc::mmap(
            address as *mut libc::c_void,
            length,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if mapped == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Unmaps an alias region.
pub fn unmap(address: usize, length: usize) {
    // SAFETY: the caller owns the region and nothing can reach it any more.
    unsafe { libc::munmap(address as *mut libc::c_void, length) };
}

/// The memory files of one store, found by the memory's base address.
#[derive(Clone, Default)]
pub struct MemoryFiles(Arc<Mutex<Vec<Arc<MemoryFile>>>>);

impl MemoryFiles {
    pub fn find(&self, base: usize) -> Option<Arc<MemoryFile>> {
        let files = self.0.lock().unwrap_or_else(|e| e.into_inner());
        files.iter().find(|file| file.base == base).cloned()
    }

    /// Puts a memory wasmer just created (static style, nothing written to
    /// it yet) on a memory file. A memory that cannot be moved stays as it
    /// is: it runs the same, it just cannot be lent to JS.
    pub fn back(&self, memory: &VMMemory, style: &MemoryStyle) -> Result<(), MemoryError> {
        if *style != MemoryStyle::Static {
            return Ok(());
        }
        let definition: NonNull<_> = memory.0.vmmemory();
        // SAFETY: wasmer's definition of a memory it just made.
        let (base, accessible) = unsafe {
            let definition = definition.as_ref();
            (definition.base as usize, definition.current_length)
        };
        let reserved = MemoryStyle::static_bound().bytes().0;
        // SAFETY: `base..+reserved` is the address-space part of wasmer's
        // fresh reservation for this memory, zero and unused so far.
        let fd = unsafe { replace_with_file(base, reserved, accessible) }
            .map_err(|e| MemoryError::Generic(format!("cannot map the guest's memory: {e}")))?;
        let Some(fd) = fd else {
            return Ok(());
        };
        let mut files = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // A memory of a store that was dropped may have had this address.
        files.retain(|file| file.base != base);
        files.push(Arc::new(MemoryFile { fd, base }));
        Ok(())
    }
}

/// Puts `base..+reserved` on a new memfd, `accessible` bytes of it readable
/// and writable. `Ok(None)`: no memfd (the memory is left, or put back, as
/// wasmer made it); `Err`: the memory is unusable.
///
/// # Safety
/// `base..+reserved` is a mapping of ours that nothing uses yet.
unsafe fn replace_with_file(
    base: usize,
    reserved: usize,
    accessible: usize,
) -> io::Result<Option<OwnedFd>> {
    let read_write = |length: usize| -> io::Result<()> {
        // SAFETY: a part of our reservation (see above).
        if length > 0
            && unsafe {
                libc::mprotect(
                    base as *mut libc::c_void,
                    length,
                    libc::PROT_READ | libc::PROT_WRITE,
                )
            } != 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: (all below) plain syscalls on our own mappings and file.
    unsafe {
        let raw = libc::memfd_create(c"x-wasi guest memory".as_ptr(), libc::MFD_CLOEXEC);
        if raw < 0 {
            return Ok(None);
        }
        let fd = OwnedFd::from_raw_fd(raw);
        if libc::ftruncate(fd.as_raw_fd(), reserved as libc::off_t) != 0 {
            return Ok(None);
        }
        let mapped = libc::mmap(
            base as *mut libc::c_void,
            reserved,
            libc::PROT_NONE,
            libc::MAP_SHARED | libc::MAP_FIXED,
            fd.as_raw_fd(),
            0,
        );
        if mapped == libc::MAP_FAILED {
            // A failed MAP_FIXED may have unmapped the range: put back an
            // anonymous reservation like wasmer's.
            let restored = libc::mmap(
                base as *mut libc::c_void,
                reserved,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE,
                -1,
                0,
            );
            if restored == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            read_write(accessible)?;
            return Ok(None);
        }
        read_write(accessible)?;
        Ok(Some(fd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_shows_the_memory_until_neutralized() {
        const RESERVED: usize = 1 << 20;
        const ACCESSIBLE: usize = 64 << 10;
        // SAFETY: a fresh reservation of ours, as wasmer makes one.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                RESERVED,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        } as usize;
        // SAFETY: unused so far.
        let fd = unsafe { replace_with_file(base, RESERVED, ACCESSIBLE) }
            .unwrap()
            .expect("memfd");
        let file = MemoryFile { fd, base };
        let memory = base as *mut u8;
        // SAFETY: the accessible part of the memory.
        unsafe { memory.add(64).write(42) };
        let alias = file.map_alias(ACCESSIBLE).unwrap() as *mut u8;
        // SAFETY: (below) our alias mapping of ACCESSIBLE bytes.
        unsafe {
            assert_eq!(alias.add(64).read(), 42, "the alias shows the memory");
            alias.add(65).write(7);
            assert_eq!(
                memory.add(65).read(),
                7,
                "writes through the alias reach it"
            );
            neutralize(alias as usize, ACCESSIBLE).unwrap();
            assert_eq!(alias.add(64).read(), 0, "a neutralized alias reads zeros");
            alias.add(66).write(9);
            assert_eq!(memory.add(66).read(), 0, "its writes reach nobody");
            assert_eq!(memory.add(64).read(), 42);
            file.remap_alias(alias as usize, ACCESSIBLE).unwrap();
            assert_eq!(alias.add(64).read(), 42, "a remapped alias shows it again");
            unmap(alias as usize, ACCESSIBLE);
            libc::munmap(base as *mut libc::c_void, RESERVED);
        }
    }
}
