//! What programs that use files share: paths against a working directory ([`path`]), the
//! filesystem's operations as a trait ([`FileSystem`]), its implementation over the fs
//! server's client on Lattice ([`Remote`]), and, for host tests, an in-memory fake of the
//! server's promises ([`memory::MemoryFs`], feature `fake`).
//!
//! The shell resolves `cd`'s argument with [`path::resolve`] and passes its directory to
//! the programs it starts as `PWD`; the file tools (`apps/coreutils`) resolve their
//! arguments against it and do everything else through a `&mut dyn FileSystem`, so the
//! same code runs over the fake in host tests and over [`Remote`] on Lattice.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod path;

#[cfg(any(test, feature = "fake"))]
pub mod memory;

use alloc::vec::Vec;

pub use fs_api::{DirectoryEntry, FileKind, FsError, FsStatus, Metadata, OpenFlags};

/// The filesystem's operations, as the fs server offers them (`fs_api::Request`; see its
/// table for the right each needs and what it answers). Paths are absolute and normal
/// ([`path::resolve`] makes them so); handles are the server's.
pub trait FileSystem {
    /// Opens the file at `path`: its handle and size.
    fn open(&mut self, path: &str, flags: OpenFlags) -> Result<(u32, u64), FsError>;
    /// Reads from the handle's position into `buffer`: how many bytes, fewer than
    /// `buffer.len()` only at the end of the file.
    fn read(&mut self, handle: u32, buffer: &mut [u8]) -> Result<usize, FsError>;
    /// Writes all of `bytes` at the handle's position (the end, for `APPEND`).
    fn write(&mut self, handle: u32, bytes: &[u8]) -> Result<(), FsError>;
    /// Closes the handle (a written file's changes then reach the device).
    fn close(&mut self, handle: u32) -> Result<(), FsError>;
    /// The metadata of the file or directory at `path`.
    fn stat(&mut self, path: &str) -> Result<Metadata, FsError>;
    /// Every entry of the directory at `path`, in the directory's order, without `.` and
    /// `..`.
    fn read_directory(&mut self, path: &str) -> Result<Vec<DirectoryEntry>, FsError>;
    /// Makes the directory `path` (its parent must exist).
    fn make_directory(&mut self, path: &str) -> Result<(), FsError>;
    /// Removes the empty directory `path`.
    fn remove_directory(&mut self, path: &str) -> Result<(), FsError>;
    /// Removes the file `path`.
    fn unlink(&mut self, path: &str) -> Result<(), FsError>;
    /// Renames `from` to `to` (which must not exist; its parent must).
    fn rename(&mut self, from: &str, to: &str) -> Result<(), FsError>;
    /// Waits until every change is on the device.
    fn sync(&mut self) -> Result<(), FsError>;
    /// The volume's size and free space.
    fn stat_fs(&mut self) -> Result<FsStatus, FsError>;
}

/// A borrowed filesystem is one too (tests lend their fake).
impl<F: FileSystem + ?Sized> FileSystem for &mut F {
    fn open(&mut self, path: &str, flags: OpenFlags) -> Result<(u32, u64), FsError> {
        (**self).open(path, flags)
    }
    fn read(&mut self, handle: u32, buffer: &mut [u8]) -> Result<usize, FsError> {
        (**self).read(handle, buffer)
    }
    fn write(&mut self, handle: u32, bytes: &[u8]) -> Result<(), FsError> {
        (**self).write(handle, bytes)
    }
    fn close(&mut self, handle: u32) -> Result<(), FsError> {
        (**self).close(handle)
    }
    fn stat(&mut self, path: &str) -> Result<Metadata, FsError> {
        (**self).stat(path)
    }
    fn read_directory(&mut self, path: &str) -> Result<Vec<DirectoryEntry>, FsError> {
        (**self).read_directory(path)
    }
    fn make_directory(&mut self, path: &str) -> Result<(), FsError> {
        (**self).make_directory(path)
    }
    fn remove_directory(&mut self, path: &str) -> Result<(), FsError> {
        (**self).remove_directory(path)
    }
    fn unlink(&mut self, path: &str) -> Result<(), FsError> {
        (**self).unlink(path)
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), FsError> {
        (**self).rename(from, to)
    }
    fn sync(&mut self) -> Result<(), FsError> {
        (**self).sync()
    }
    fn stat_fs(&mut self) -> Result<FsStatus, FsError> {
        (**self).stat_fs()
    }
}

#[cfg(target_arch = "riscv64")]
mod remote;
#[cfg(target_arch = "riscv64")]
pub use remote::Remote;
