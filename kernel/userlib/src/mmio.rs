//! Device registers in a mapped device frame.
//!
//! [`Registers::map`] maps a frame capability (retyped from device Untyped) and only then
//! hands out accessors, so every access is to a page the kernel mapped for this program;
//! accesses are volatile and bounds-checked against the page.

use kernel_abi::{Error, Rights};

use crate::ipc::Cptr;
use crate::object;

/// A 4 KiB page of device registers mapped in this program.
pub struct Registers {
    base: usize,
}

impl Registers {
    /// Maps `frame` read-write at `address` of `address_space`.
    pub fn map(frame: Cptr, address_space: Cptr, address: usize) -> Result<Self, Error> {
        object::map_frame(frame, address_space, address, Rights::READ | Rights::WRITE)?;
        Ok(Self { base: address })
    }

    fn checked(&self, offset: usize, width: usize) -> usize {
        assert!(
            offset + width <= 4096 && offset.is_multiple_of(width),
            "register offset {offset:#x} out of the page"
        );
        self.base + offset
    }

    /// Reads the byte register at `offset`.
    pub fn read8(&self, offset: usize) -> u8 {
        let address = self.checked(offset, 1);
        // SAFETY: `address` is inside the page `map` mapped read-write for this program; if
        // the mapping was removed since, the access faults this program, nothing else.
        unsafe { core::ptr::read_volatile(address as *const u8) }
    }

    /// Writes the byte register at `offset`.
    pub fn write8(&self, offset: usize, value: u8) {
        let address = self.checked(offset, 1);
        // SAFETY: as in `read8`.
        unsafe { core::ptr::write_volatile(address as *mut u8, value) }
    }

    /// Reads the 32-bit register at `offset`.
    pub fn read32(&self, offset: usize) -> u32 {
        let address = self.checked(offset, 4);
        // SAFETY: as in `read8`, and the offset is 4-byte aligned.
        unsafe { core::ptr::read_volatile(address as *const u32) }
    }

    /// Writes the 32-bit register at `offset`.
    pub fn write32(&self, offset: usize, value: u32) {
        let address = self.checked(offset, 4);
        // SAFETY: as in `read32`.
        unsafe { core::ptr::write_volatile(address as *mut u32, value) }
    }
}
