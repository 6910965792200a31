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
pub mod syscall;

pub use syscall::{Error, FaultKind, Syscall};
