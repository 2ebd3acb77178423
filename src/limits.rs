//! Each run's memories: `maxMemory` (a cap on how far a guest's linear
//! memory may grow), their memory files (`memory_file`) and where their
//! definitions live (`memory_definition`).
//!
//! wasmer creates every memory through the engine's tunables, so a run uses
//! a copy of the shared engine whose tunables lower each memory's maximum to
//! the cap (`memory.grow` past it then returns -1, as for any declared
//! maximum) and put each memory on a memory file. The memory *style* is left
//! as the base tunables chose it when the module was compiled, so compiled
//! code stays valid.

use std::ptr::NonNull;

use crate::memory_definition::MemoryDefinitions;
use crate::memory_file::MemoryFiles;
use wasmer::sys::{BaseTunables, NativeEngineExt, Tunables};
use wasmer::Engine;
use wasmer_types::{MemoryType, Pages, TableType, WASM_PAGE_SIZE};
use wasmer_vm::{
    MemoryError, MemoryStyle, TableStyle, VMMemory, VMMemoryDefinition, VMTable, VMTableDefinition,
};

/// `engine` for one run: every memory capped at `max_bytes` (rounded down
/// to whole pages) if given, put on a memory file listed in `files`, and its
/// definition noted in `definitions`.
pub fn run_engine(
    engine: Engine,
    max_bytes: Option<u64>,
    files: MemoryFiles,
    definitions: MemoryDefinitions,
) -> Engine {
    let max =
        max_bytes.map(|bytes| Pages((bytes / WASM_PAGE_SIZE as u64).min(u32::MAX as u64) as u32));
    let mut engine = engine;
    engine.set_tunables(MemoryCap {
        base: BaseTunables::new(),
        max,
        files,
        definitions,
    });
    engine
}

struct MemoryCap {
    base: BaseTunables,
    max: Option<Pages>,
    files: MemoryFiles,
    definitions: MemoryDefinitions,
}

impl MemoryCap {
    fn capped(&self, ty: &MemoryType) -> Result<MemoryType, MemoryError> {
        let Some(max) = self.max else {
            return Ok(*ty);
        };
        if ty.minimum > max {
            return Err(MemoryError::Generic(format!(
                "the module needs {} bytes of memory to start, more than maxMemory ({} bytes)",
                ty.minimum.bytes().0,
                max.bytes().0
            )));
        }
        let mut capped = *ty;
        capped.maximum = Some(ty.maximum.map_or(max, |m| m.min(max)));
        Ok(capped)
    }
}

impl Tunables for MemoryCap {
    fn memory_style(&self, memory: &MemoryType) -> MemoryStyle {
        self.base.memory_style(memory)
    }

    fn table_style(&self, table: &TableType) -> TableStyle {
        self.base.table_style(table)
    }

    fn create_host_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
    ) -> Result<VMMemory, MemoryError> {
        let memory = self.base.create_host_memory(&self.capped(ty)?, style)?;
        self.files.back(&memory, style)?;
        self.definitions.record(&memory);
        Ok(memory)
    }

    unsafe fn create_vm_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
        vm_definition_location: NonNull<VMMemoryDefinition>,
    ) -> Result<VMMemory, MemoryError> {
        // SAFETY: forwarded from wasmer, which vouches for the location.
        let memory = unsafe {
            self.base
                .create_vm_memory(&self.capped(ty)?, style, vm_definition_location)
        }?;
        self.files.back(&memory, style)?;
        self.definitions.record(&memory);
        Ok(memory)
    }

    fn create_host_table(&self, ty: &TableType, style: &TableStyle) -> Result<VMTable, String> {
        self.base.create_host_table(ty, style)
    }

    unsafe fn create_vm_table(
        &self,
        ty: &TableType,
        style: &TableStyle,
        vm_definition_location: NonNull<VMTableDefinition>,
    ) -> Result<VMTable, String> {
        // SAFETY: forwarded from wasmer, which vouches for the location.
        unsafe { self.base.create_vm_table(ty, style, vm_definition_location) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_the_maximum_and_refuses_a_larger_minimum() {
        let cap = MemoryCap {
            base: BaseTunables::new(),
            max: Some(Pages(10)),
            files: MemoryFiles::default(),
            definitions: MemoryDefinitions::default(),
        };
        let unbounded = MemoryType::new(2, None, false);
        assert_eq!(cap.capped(&unbounded).unwrap().maximum, Some(Pages(10)));
        let smaller = MemoryType::new(2, Some(4), false);
        assert_eq!(cap.capped(&smaller).unwrap().maximum, Some(Pages(4)));
        let too_big = MemoryType::new(11, None, false);
        assert!(cap.capped(&too_big).is_err());
    }
}
