//! Guest memory for a syscall in two loads. wasmer keeps each memory's
//! current base and length in a `VMMemoryDefinition` that compiled code
//! reads too and that never moves while the store lives; the run's tunables
//! (`limits`) note where each one is, and the native syscalls read the
//! instance's memory from there instead of building a `Memory::view`
//! through the store on every call (several lookups, ~5% of a trivial
//! syscall).

use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use wasmer_vm::{VMMemory, VMMemoryDefinition};

/// Where one memory's base and length live.
#[derive(Clone, Copy)]
pub struct Definition(NonNull<VMMemoryDefinition>);

// SAFETY: a location only; it is read on the thread running the store.
unsafe impl Send for Definition {}
unsafe impl Sync for Definition {}

impl Definition {
    /// The memory's bytes as they are now.
    ///
    /// # Safety
    /// The store owning the memory is alive and not running wasm on
    /// another thread, and nothing else borrows the bytes meanwhile (a
    /// syscall runs while its guest is suspended in it; it never grows
    /// memory).
    pub unsafe fn bytes<'a>(self) -> &'a mut [u8] {
        // SAFETY: wasmer's definition of a live memory (see above).
        let definition = unsafe { self.0.as_ref() };
        if definition.base.is_null() || definition.current_length == 0 {
            return &mut [];
        }
        // SAFETY: base..+current_length is the memory's accessible part.
        unsafe { std::slice::from_raw_parts_mut(definition.base, definition.current_length) }
    }
}

/// The definitions of the memories one run's store made.
#[derive(Clone, Default)]
pub struct MemoryDefinitions(Arc<Mutex<Vec<Definition>>>);

impl MemoryDefinitions {
    /// Notes where a memory wasmer just made keeps its definition.
    pub fn record(&self, memory: &VMMemory) {
        let definition = Definition(memory.0.vmmemory());
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(definition);
    }

    /// The definition of the memory whose bytes start at `base` now, among
    /// those of a store that instantiated successfully (all alive). None
    /// for no bytes at all: another empty memory could share that base.
    pub fn find(&self, base: *const u8) -> Option<Definition> {
        if base.is_null() {
            return None;
        }
        let definitions = self.0.lock().unwrap_or_else(|e| e.into_inner());
        definitions
            .iter()
            // SAFETY: see above: every recorded memory lives with the store.
            .find(|d| unsafe { d.0.as_ref() }.base.cast_const() == base)
            .copied()
    }
}
