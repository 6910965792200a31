//! Kernel algorithms that need no hardware, so they run and are tested on the host.
//!
//! The privileged kernel (`kernel/kern`) supplies the hardware parts: it gives these
//! algorithms physical memory through [`paging::PhysicalMemory`] and the device tree as a
//! byte slice. Nothing here allocates; every collection has a fixed capacity and says what
//! happens when it is full.
#![no_std]

pub mod board;
pub mod elf;
pub mod frames;
pub mod layout;
pub mod paging;
pub mod runqueue;
