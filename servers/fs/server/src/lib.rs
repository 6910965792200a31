//! The filesystem server's logic, apart from the kernel so the host tests can run it: a
//! FAT volume with long names ([`Volume`], on lamfat) over a write-back sector cache
//! ([`SectorCache`]) on a [`BlockDevice`], the sessions' open files and scopes, and the
//! mount check that repairs a volume left dirty ([`check_and_repair`]). `src/main.rs` is
//! the program around it: the virtio-blk driver and the server kit's loop.
//!
//! Layout: [`device`] (the block device trait and an in-memory device that logs writes),
//! [`layout`] (the boot sector's map of the volume), [`cache`] (the sector cache and its
//! sync order, and lamfat's storage over it), [`freed`] (the clusters freed since the last
//! complete sync, kept from reuse), [`check`] (the mount check and repair),
//! [`names`] (paths and names, checked before anything changes), [`lookups`] (where
//! recently used paths' entries lie), [`raw`] (what lamfat does
//! not fix after a directory moves, and where a file's directory entry lies), [`table`]
//! (the allocation table entry by entry), [`data`] (file contents read and written
//! straight through the cache), [`volume`] (the operations and sessions).
//!
//! Invariants across them: a request that is refused changed nothing; a sync answers
//! only when everything before it is on the device, written in an order after which a
//! crash loses nothing the sync acknowledged; nothing here panics on what a device or a
//! client sends.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod cache;
pub mod check;
pub mod data;
pub mod device;
pub mod freed;
pub mod layout;
pub mod lookups;
pub mod names;
pub mod raw;
pub mod table;
pub mod volume;

pub use cache::{CacheStats, Class, Purpose, SectorCache};
pub use check::{Repair, check_and_repair};
pub use device::{BlockDevice, DeviceError, MemoryDevice, SECTOR_SIZE};
pub use layout::Layout;
pub use volume::{Mounted, SessionId, SharedMemory, Volume};

#[cfg(test)]
mod tests;
