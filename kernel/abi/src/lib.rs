//! The Lattice kernel ABI, defined once and shared by the kernel, the user runtime and the
//! host tools.
//!
//! Everything that crosses the user/kernel boundary lives here: syscall numbers, error codes,
//! the register convention and the boot archive layout. Numbers are explicit discriminants and
//! every conversion from a raw register is a checked `TryFrom`, so a new variant can never
//! silently shift an old one.
#![no_std]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod bootarchive;
pub mod bootinfo;
pub mod invocation;
pub mod ipc_buffer;
pub mod object;
pub mod syscall;

pub use object::{ObjectType, Rights};
pub use syscall::{Error, FaultKind, MessageInfo, Syscall};

/// Exit statuses the machine reports when the kernel powers it off (through the SiFive
/// test device on QEMU, where they become QEMU's exit code). The image builder's test
/// harness reads them.
pub mod exit_status {
    /// The root task exited with status 0.
    pub const SUCCESS: u16 = 0;
    /// The kernel could not start the system: no usable root task in the boot archive.
    pub const BOOT_FAILURE: u16 = 2;
    /// The root task was stopped by a fault.
    pub const ROOT_TASK_FAULTED: u16 = 3;
    /// The kernel panicked.
    pub const KERNEL_PANIC: u16 = 101;
}
