//! The client wrapper: one method per request; inline reads and writes are split into
//! messages, directory pages fetched until the last.

use alloc::string::ToString;
use alloc::vec::Vec;

use userlib::ipc::Cptr;
use userlib::rpc::{CapabilitySlot, Client, RpcError, Transfer};

use crate::{
    DirectoryEntry, Fs, FsError, FsStatus, MAX_INLINE_BYTES, Metadata, OpenFlags, Place, Request, Response,
    SeekFrom, Source,
};

/// An answer of the wrong kind: the server does not speak this protocol's version.
fn unexpected() -> FsError {
    FsError::Rpc(RpcError::Malformed)
}

/// A client of the filesystem, through a session capability.
#[derive(Clone, Copy, Debug)]
pub struct FsClient {
    client: Client<Fs>,
}

impl FsClient {
    /// A client calling through `endpoint`.
    pub const fn new(endpoint: Cptr) -> Self {
        Self { client: Client::new(endpoint) }
    }

    fn done(&self, request: &Request) -> Result<(), FsError> {
        match self.client.call(request)? {
            Response::Done => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// Opens `path`; returns the handle and the file's size.
    pub fn open(&self, path: &str, flags: OpenFlags) -> Result<(u32, u64), FsError> {
        match self.client.call(&Request::Open { path: path.to_string(), flags })? {
            Response::Opened { handle, size } => Ok((handle, size)),
            _ => Err(unexpected()),
        }
    }

    /// Reads up to `buffer.len()` bytes inline (as many messages as it takes, until the
    /// end of the file); returns how many.
    pub fn read(&self, handle: u32, buffer: &mut [u8]) -> Result<usize, FsError> {
        let mut done = 0;
        while done < buffer.len() {
            let want = (buffer.len() - done).min(MAX_INLINE_BYTES);
            let max = u32::try_from(want).unwrap_or(u32::MAX);
            let Response::Data(bytes) =
                self.client.call(&Request::Read { handle, into: Place::Inline { max } })?
            else {
                return Err(unexpected());
            };
            let Some(target) = buffer.get_mut(done..done + bytes.len()) else { return Err(unexpected()) };
            target.copy_from_slice(&bytes);
            done += bytes.len();
            if bytes.len() < want {
                break;
            }
        }
        Ok(done)
    }

    /// Reads up to `length` bytes into the shared buffer at `offset`; returns how many.
    pub fn read_shared(&self, handle: u32, offset: u32, length: u32) -> Result<u32, FsError> {
        match self.client.call(&Request::Read { handle, into: Place::Shared { offset, length } })? {
            Response::Transferred { count } => Ok(count),
            _ => Err(unexpected()),
        }
    }

    /// Writes all of `bytes` inline, in as many messages as it takes.
    pub fn write(&self, handle: u32, bytes: &[u8]) -> Result<(), FsError> {
        for chunk in bytes.chunks(MAX_INLINE_BYTES) {
            match self.client.call(&Request::Write { handle, from: Source::Inline(chunk.to_vec()) })? {
                Response::Written { .. } => {}
                _ => return Err(unexpected()),
            }
        }
        Ok(())
    }

    /// Writes `length` bytes of the shared buffer at `offset`.
    pub fn write_shared(&self, handle: u32, offset: u32, length: u32) -> Result<u32, FsError> {
        match self.client.call(&Request::Write { handle, from: Source::Shared { offset, length } })? {
            Response::Written { count } => Ok(count),
            _ => Err(unexpected()),
        }
    }

    /// Moves the position; returns it.
    pub fn seek(&self, handle: u32, to: SeekFrom) -> Result<u64, FsError> {
        match self.client.call(&Request::Seek { handle, to })? {
            Response::Position { offset } => Ok(offset),
            _ => Err(unexpected()),
        }
    }

    /// The metadata at `path`.
    pub fn stat(&self, path: &str) -> Result<Metadata, FsError> {
        match self.client.call(&Request::Stat { path: path.to_string() })? {
            Response::Status(metadata) => Ok(metadata),
            _ => Err(unexpected()),
        }
    }

    /// Every entry of the directory at `path` (asking page by page).
    pub fn read_directory(&self, path: &str) -> Result<Vec<DirectoryEntry>, FsError> {
        let mut all = Vec::new();
        loop {
            let start = u32::try_from(all.len()).unwrap_or(u32::MAX);
            let Response::Directory { entries, more } =
                self.client.call(&Request::ReadDirectory { path: path.to_string(), start })?
            else {
                return Err(unexpected());
            };
            let empty = entries.is_empty();
            all.extend(entries);
            // A page must bring something, or a confused server would keep us here.
            if !more || empty {
                return Ok(all);
            }
        }
    }

    /// Makes the directory `path`.
    pub fn make_directory(&self, path: &str) -> Result<(), FsError> {
        self.done(&Request::MakeDirectory { path: path.to_string() })
    }

    /// Removes the empty directory `path`.
    pub fn remove_directory(&self, path: &str) -> Result<(), FsError> {
        self.done(&Request::RemoveDirectory { path: path.to_string() })
    }

    /// Removes the file `path`.
    pub fn unlink(&self, path: &str) -> Result<(), FsError> {
        self.done(&Request::Unlink { path: path.to_string() })
    }

    /// Renames `from` to `to`.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), FsError> {
        self.done(&Request::Rename { from: from.to_string(), to: to.to_string() })
    }

    /// Waits until every change is on the device.
    pub fn sync(&self) -> Result<(), FsError> {
        match self.client.call(&Request::Sync)? {
            Response::Synced => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// The volume's size and free space.
    pub fn stat_fs(&self) -> Result<FsStatus, FsError> {
        match self.client.call(&Request::StatFs)? {
            Response::FsStatus(status) => Ok(status),
            _ => Err(unexpected()),
        }
    }

    /// Closes the handle.
    pub fn close(&self, handle: u32) -> Result<(), FsError> {
        match self.client.call(&Request::Close { handle })? {
            Response::Closed => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// The session's shared buffer: its frame capability arrives in `into` (map it);
    /// returns its size.
    pub fn attach_buffer(&self, into: CapabilitySlot) -> Result<u64, FsError> {
        let transfer = Transfer { send: None, receive: Some(into) };
        match self.client.call_with(&Request::AttachBuffer, transfer)? {
            (Response::BufferAttached { bytes }, true) => Ok(bytes),
            (Response::BufferAttached { .. }, false) => Err(FsError::Rpc(RpcError::Malformed)),
            _ => Err(unexpected()),
        }
    }
}
