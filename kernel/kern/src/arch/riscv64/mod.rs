//! RISC-V 64: boot entry, trap entry and exit, CSR access, the SBI firmware interface, and
//! floating-point state save/restore.
//!
//! This folder and `memory.rs` (page tables and user memory through the direct map) are the
//! only places with `unsafe` in the kernel.

pub mod csr;
pub mod entry;
pub mod fpu;
pub mod sbi;
pub mod trap;
pub mod zero;
