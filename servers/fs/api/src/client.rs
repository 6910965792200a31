//! The client wrapper: one method per request; reads and writes are split into messages
//! (inline) or buffer-fulls (through the shared buffer, once attached), directory pages
//! fetched until the last.

use alloc::vec::Vec;

use userlib::ipc::Cptr;
use userlib::rpc::{CapabilitySlot, Client, RpcError, Transfer};
use userlib::shared::Region;

use crate::{
    DirectoryEntry, Fs, FsError, FsStatus, MAX_INLINE_BYTES, Metadata, OpenFlags, Place, Request, Response,
    SeekFrom, Source,
};

/// An answer of the wrong kind: the server does not speak this protocol's version.
fn unexpected() -> FsError {
    FsError::Rpc(RpcError::Malformed)
}

/// A client of the filesystem, through a session capability, and the session's shared
/// buffer as this program maps it, once attached.
#[derive(Clone, Copy, Debug)]
pub struct FsClient {
    client: Client<Fs>,
    buffer: Option<Region>,
}

impl FsClient {
    /// A client calling through `endpoint`.
    pub const fn new(endpoint: Cptr) -> Self {
        Self { client: Client::new(endpoint), buffer: None }
    }

    /// The shared buffer's size in bytes (0 before [`FsClient::attach_buffer`]).
    pub fn buffer_bytes(&self) -> usize {
        self.buffer.map_or(0, |region| region.bytes())
    }

    fn done(&self, request: &Request<&str>) -> Result<(), FsError> {
        match self.client.call_as(request)? {
            Response::Done => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// Opens `path`; returns the handle and the file's size.
    pub fn open(&self, path: &str, flags: OpenFlags) -> Result<(u32, u64), FsError> {
        match self.client.call_as(&Request::Open { path, flags })? {
            Response::Opened { handle, size } => Ok((handle, size)),
            _ => Err(unexpected()),
        }
    }

    /// Reads up to `buffer.len()` bytes (as many requests as it takes, until the end of the
    /// file); returns how many. More than a message holds goes through the shared buffer
    /// when one is attached, a buffer-full per request.
    pub fn read(&self, handle: u32, buffer: &mut [u8]) -> Result<usize, FsError> {
        if let Some(region) = self.buffer
            && buffer.len() > MAX_INLINE_BYTES
        {
            return self.read_through(region, handle, buffer);
        }
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

    /// Writes all of `bytes`, in as many requests as it takes: through the shared buffer
    /// (a buffer-full per request) when one is attached and they do not fit a message,
    /// inline otherwise.
    pub fn write(&self, handle: u32, bytes: &[u8]) -> Result<(), FsError> {
        if let Some(region) = self.buffer
            && bytes.len() > MAX_INLINE_BYTES
        {
            return self.write_through(region, handle, bytes);
        }
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
        match self.client.call_as(&Request::Stat { path })? {
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
                self.client.call_as(&Request::ReadDirectory { path, start })?
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
        self.done(&Request::MakeDirectory { path })
    }

    /// Removes the empty directory `path`.
    pub fn remove_directory(&self, path: &str) -> Result<(), FsError> {
        self.done(&Request::RemoveDirectory { path })
    }

    /// Removes the file `path`.
    pub fn unlink(&self, path: &str) -> Result<(), FsError> {
        self.done(&Request::Unlink { path })
    }

    /// Renames `from` to `to`.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), FsError> {
        self.done(&Request::Rename { from, to })
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

    /// Page `page` of the session's shared buffer: its frame capability arrives in `into`;
    /// returns the buffer's size. [`FsClient::attach_buffer`] does the whole buffer.
    pub fn attach_page(&self, page: u32, into: CapabilitySlot) -> Result<u64, FsError> {
        let transfer = Transfer { send: None, receive: Some(into) };
        match self.client.call_with(&Request::AttachBuffer { page }, transfer)? {
            (Response::BufferAttached { bytes }, true) => Ok(bytes),
            (Response::BufferAttached { .. }, false) => Err(FsError::Rpc(RpcError::Malformed)),
            _ => Err(unexpected()),
        }
    }

    /// Attaches the session's shared buffer: asks for each of its pages, receiving their
    /// frame capabilities in slots from `slots` (one per page: they hold the mapping, so
    /// the caller keeps them for the session's life) and maps them in a run of this
    /// program's mapping window; from then on `read` and `write` of more than a message go
    /// through it. Returns its size. Already attached: the size, and nothing asked.
    ///
    /// `BadBuffer` if the server's answer makes no sense or the window has no room; the
    /// server's `DonationSpent` if the session's donation cannot pay for it. On an error
    /// the client goes on inline (the slots it filled keep their capabilities: the caller
    /// deletes them or uses them again).
    #[cfg(target_arch = "riscv64")]
    pub fn attach_buffer(
        &mut self,
        mut slots: impl FnMut() -> Option<CapabilitySlot>,
    ) -> Result<u64, FsError> {
        if let Some(region) = self.buffer {
            return Ok(region.bytes() as u64);
        }
        let no_slot = || FsError::Rpc(RpcError::Malformed);
        let first = slots().ok_or_else(no_slot)?;
        let bytes = self.attach_page(0, first)?;
        let page_bytes = userlib::shared::PAGE_BYTES as u64;
        let pages = usize::try_from(bytes / page_bytes).map_err(|_| FsError::BadBuffer)?;
        if !bytes.is_multiple_of(page_bytes) || pages == 0 {
            return Err(FsError::BadBuffer);
        }
        let region = Region::reserve(pages).ok_or(FsError::BadBuffer)?;
        let rights = kernel_abi::Rights::READ | kernel_abi::Rights::WRITE;
        let mapped = (0..pages).try_for_each(|page| {
            let into = if page == 0 { first } else { slots().ok_or_else(no_slot)? };
            if page > 0 {
                let again = self.attach_page(u32::try_from(page).map_err(|_| FsError::BadBuffer)?, into)?;
                if again != bytes {
                    return Err(FsError::BadBuffer);
                }
            }
            region.map(page, into.index, rights).map_err(|_| FsError::BadBuffer)
        });
        // On an error the pages mapped so far stay mapped while their slots hold the
        // frames, so the run is not handed out again.
        mapped?;
        self.buffer = Some(region);
        Ok(bytes)
    }

    /// `read` through the shared buffer `region`.
    fn read_through(&self, region: Region, handle: u32, buffer: &mut [u8]) -> Result<usize, FsError> {
        let mut done = 0;
        while done < buffer.len() {
            let want = (buffer.len() - done).min(region.bytes());
            let length = u32::try_from(want).map_err(|_| FsError::BadBuffer)?;
            let count = self.read_shared(handle, 0, length)? as usize;
            let Some(target) = buffer.get_mut(done..done + count) else { return Err(unexpected()) };
            if !copy_out(region, target) {
                return Err(FsError::BadBuffer);
            }
            done += count;
            if count < want {
                break;
            }
        }
        Ok(done)
    }

    /// `write` through the shared buffer `region`.
    fn write_through(&self, region: Region, handle: u32, bytes: &[u8]) -> Result<(), FsError> {
        for chunk in bytes.chunks(region.bytes()) {
            if !copy_in(region, chunk) {
                return Err(FsError::BadBuffer);
            }
            let length = u32::try_from(chunk.len()).map_err(|_| FsError::BadBuffer)?;
            let count = self.write_shared(handle, 0, length)?;
            if count as usize != chunk.len() {
                return Err(FsError::NoSpace);
            }
        }
        Ok(())
    }
}

/// Copies the start of the shared buffer into `target`.
#[cfg(target_arch = "riscv64")]
fn copy_out(region: Region, target: &mut [u8]) -> bool {
    region.read(0, target)
}

/// Copies `bytes` to the start of the shared buffer.
#[cfg(target_arch = "riscv64")]
fn copy_in(region: Region, bytes: &[u8]) -> bool {
    region.write(0, bytes)
}

// On the host (the api's tests) no buffer is ever attached.
#[cfg(not(target_arch = "riscv64"))]
fn copy_out(_: Region, _: &mut [u8]) -> bool {
    false
}

#[cfg(not(target_arch = "riscv64"))]
fn copy_in(_: Region, _: &[u8]) -> bool {
    false
}
