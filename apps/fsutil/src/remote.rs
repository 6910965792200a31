//! [`FileSystem`] on Lattice: the fs server, through a session capability.
//!
//! Data travels inline (`FsClient::read` and `write` split it into messages): the shared
//! buffer needs its frame mapped, and a program the process manager starts holds no
//! capability to its own address space (see CAVEATS.md).

use alloc::vec::Vec;

use fs_api::FsClient;
use userlib::ipc::Cptr;

use crate::{DirectoryEntry, FileSystem, FsError, FsStatus, Metadata, OpenFlags};

/// The fs server, through the session capability at a slot.
#[derive(Clone, Copy, Debug)]
pub struct Remote {
    client: FsClient,
}

impl Remote {
    /// The filesystem behind the session capability `session` (from a `Connect` to `fs`).
    pub const fn new(session: Cptr) -> Self {
        Self { client: FsClient::new(session) }
    }
}

impl FileSystem for Remote {
    fn open(&mut self, path: &str, flags: OpenFlags) -> Result<(u32, u64), FsError> {
        self.client.open(path, flags)
    }
    fn read(&mut self, handle: u32, buffer: &mut [u8]) -> Result<usize, FsError> {
        self.client.read(handle, buffer)
    }
    fn write(&mut self, handle: u32, bytes: &[u8]) -> Result<(), FsError> {
        self.client.write(handle, bytes)
    }
    fn close(&mut self, handle: u32) -> Result<(), FsError> {
        self.client.close(handle)
    }
    fn stat(&mut self, path: &str) -> Result<Metadata, FsError> {
        self.client.stat(path)
    }
    fn read_directory(&mut self, path: &str) -> Result<Vec<DirectoryEntry>, FsError> {
        self.client.read_directory(path)
    }
    fn make_directory(&mut self, path: &str) -> Result<(), FsError> {
        self.client.make_directory(path)
    }
    fn remove_directory(&mut self, path: &str) -> Result<(), FsError> {
        self.client.remove_directory(path)
    }
    fn unlink(&mut self, path: &str) -> Result<(), FsError> {
        self.client.unlink(path)
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), FsError> {
        self.client.rename(from, to)
    }
    fn sync(&mut self) -> Result<(), FsError> {
        self.client.sync()
    }
    fn stat_fs(&mut self) -> Result<FsStatus, FsError> {
        self.client.stat_fs()
    }
}
