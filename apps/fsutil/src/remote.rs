//! [`FileSystem`] on Lattice: the fs server, through a session capability.
//!
//! Small transfers travel inline; the first read or write larger than a message attaches
//! the session's shared buffer (`FsClient::attach_buffer`: its frames arrive in the slots
//! [`Remote::buffer_slots`] gave, and are mapped in the program's mapping window), and from
//! then on large transfers go through it. A program that never moves more than a message
//! at a time (`ls`, `stat`) never asks for one. If the buffer cannot be had (the donation
//! is spent, no slots were given), data goes on travelling inline.

use alloc::vec::Vec;
use core::ops::Range;

use fs_api::{FsClient, MAX_INLINE_BYTES};
use userlib::ipc::Cptr;
use userlib::rpc::CapabilitySlot;

use crate::{DirectoryEntry, FileSystem, FsError, FsStatus, Metadata, OpenFlags};

/// The fs server, through the session capability at a slot.
#[derive(Clone, Debug)]
pub struct Remote {
    client: FsClient,
    /// Free slots of the program's CSpace root for the shared buffer's frames.
    slots: Range<usize>,
    /// Whether the buffer was asked for (once: a refusal is not asked again).
    asked: bool,
}

impl Remote {
    /// The filesystem behind the session capability `session` (from a `Connect` to `fs`).
    pub const fn new(session: Cptr) -> Self {
        Self { client: FsClient::new(session), slots: 0..0, asked: false }
    }

    /// Lets it attach the shared buffer, its frames in `slots` (free slots of the
    /// program's CSpace root, one per page: 16 for the server's 64 KiB).
    pub fn buffer_slots(mut self, slots: Range<usize>) -> Self {
        self.slots = slots;
        self
    }

    /// Attaches the shared buffer the first time a transfer of `length` needs it.
    fn buffer_for(&mut self, length: usize) {
        if self.asked || length <= MAX_INLINE_BYTES || self.slots.is_empty() {
            return;
        }
        self.asked = true;
        let mut slots = self.slots.clone();
        // Refused: data goes on travelling inline, which is slower and nothing else.
        let _ = self.client.attach_buffer(|| slots.next().map(|index| CapabilitySlot { cnode: 0, index }));
    }
}

impl FileSystem for Remote {
    fn open(&mut self, path: &str, flags: OpenFlags) -> Result<(u32, u64), FsError> {
        self.client.open(path, flags)
    }
    fn read(&mut self, handle: u32, buffer: &mut [u8]) -> Result<usize, FsError> {
        self.buffer_for(buffer.len());
        self.client.read(handle, buffer)
    }
    fn write(&mut self, handle: u32, bytes: &[u8]) -> Result<(), FsError> {
        self.buffer_for(bytes.len());
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
