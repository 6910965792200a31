//! The filesystem server's interface (DESIGN.md §4, §5): files and directories on the FAT
//! volume, by absolute path, within what the session's scope allows.
//!
//! Protocol [`Fs`] (label `FSYS`), carried by `userlib::rpc` (postcard in one message).
//! Paths are absolute (`/www/index.html`); the server normalises them (`.`, `..`, repeated
//! slashes) and asks the session's scope before it looks at the volume. FAT compares names
//! without case, but the scope compares paths as written: a path must use the case of the
//! grant (`/WWW/x` is refused under a `/www` grant, never widened).
//!
//! Operations, with the capability they carry, the right the scope must give at the path,
//! whether they block, and whether repeating them is harmless:
//!
//! | request | capability | right | answer | idempotent |
//! | --- | --- | --- | --- | --- |
//! | `Open` | none | read (`READ`), write (`WRITE`, `TRUNCATE`, `APPEND`), create (`CREATE` when the file does not exist) | `Opened` | no: each call opens a new handle |
//! | `Read` | none | read | `Data` (inline) or `Transferred` (shared buffer) | no: the position moves |
//! | `Write` | none | write | `Written` | no: the position moves |
//! | `Seek` | none | none (the handle's) | `Position` | yes for `Start` and `End` |
//! | `Stat` | none | read | `Status` | yes |
//! | `ReadDirectory` | none | read | `Directory` (a page; `more` says whether to ask again from `start + entries`) | yes |
//! | `MakeDirectory` | none | create | `Done` | no: the second is `Exists` |
//! | `RemoveDirectory` | none | delete | `Done` | no: the second is `NotFound` |
//! | `Unlink` | none | delete | `Done` | no: the second is `NotFound` |
//! | `Rename` | none | delete at `from`, create at `to` | `Done` | no: the second is `NotFound` |
//! | `Sync` | none | none | `Synced` | yes |
//! | `StatFs` | none | none | `FsStatus` | yes |
//! | `Close` | none | none | `Closed` | no: the second is `BadHandle` |
//! | `AttachBuffer` | reply carries a frame capability: a page of the session's shared buffer | none | `BufferAttached` | yes: the same page again |
//!
//! Nothing blocks but for the server's own work on the disk: `Sync` answers when every
//! change before it is on the device (data, then the allocation table and its copy, then
//! directories, then a device flush), so a program that saw `Synced` finds its files after
//! a crash. Other changes reach the disk at the next sync (a program's own `Sync`, a
//! `Close` of a written file, or the server's timer).
//!
//! **Bulk data.** A `Read` or `Write` carries its bytes inline when they fit a message
//! ([`MAX_INLINE_BYTES`]); larger transfers go through the session's shared buffer: the
//! client asks `AttachBuffer` for each of its pages (one frame capability per answer), maps
//! them in a run of its mapping window (`userlib::shared`), and names a range of it
//! ([`Place::Shared`], [`Source::Shared`]). [`FsClient`] does all this: its `read` and
//! `write` go through the buffer once it is attached ([`FsClient::attach_buffer`]). The
//! server makes the buffer from the session's donation (its frames are retyped from the
//! donated memory), so revoking the session, which takes the donation back, unmaps it from
//! both sides. The file path itself always travels in the message.
//!
//! **Sessions pay for their state** with their donation: each open file costs
//! [`OPEN_FILE_BYTES`], the shared buffer its size; a session that spends its donation is
//! refused (`TooManyOpenFiles`, `DonationSpent`) and everyone else goes on being served.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};
use userlib::rpc::{MAX_PAYLOAD_BYTES, Protocol, RpcError, label};

/// The filesystem's protocol.
#[derive(Debug)]
pub enum Fs {}

impl Protocol for Fs {
    const NAME: &'static str = "fs";
    const LABEL: usize = label(*b"FSYS");
    type Request = Request;
    type Response = Response;
    type Error = FsError;
}

/// Most bytes one inline `Write` carries, and one `Data` answer: the payload less the
/// variant tags, the handle and the length prefix. Larger transfers use the shared buffer.
pub const MAX_INLINE_BYTES: usize = MAX_PAYLOAD_BYTES - 16;

/// The longest name of one file or directory, in bytes of UTF-8 (FAT's long names hold
/// 255 UTF-16 units; the server keeps to 255 bytes, which fits both).
pub const MAX_NAME_BYTES: usize = 255;

/// What an open file costs its session's donation, in bytes.
pub const OPEN_FILE_BYTES: u64 = 1024;

/// The largest shared buffer a session gets (less if its donation is smaller).
pub const MAX_BUFFER_BYTES: u64 = 64 * 1024;

/// How the file is opened: a set of flags. Only bits of [`OpenFlags::ALL`] are ever set;
/// on the wire the bits, and a bit that names no flag does not decode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct OpenFlags(u8);

impl OpenFlags {
    /// No flags (a handle that may only `Seek` and `Close`; nobody needs one).
    pub const NONE: OpenFlags = OpenFlags(0);
    /// The handle may read.
    pub const READ: OpenFlags = OpenFlags(1 << 0);
    /// The handle may write. A file is open for writing at most once at a time (`Busy`).
    pub const WRITE: OpenFlags = OpenFlags(1 << 1);
    /// Create the file if it does not exist.
    pub const CREATE: OpenFlags = OpenFlags(1 << 2);
    /// Cut the file to nothing when opening it (needs `WRITE`).
    pub const TRUNCATE: OpenFlags = OpenFlags(1 << 3);
    /// Every write goes to the end of the file (needs `WRITE`).
    pub const APPEND: OpenFlags = OpenFlags(1 << 4);
    /// With `CREATE`: refuse (`Exists`) if the file exists.
    pub const EXCLUSIVE: OpenFlags = OpenFlags(1 << 5);
    /// Every flag there is.
    pub const ALL: OpenFlags = OpenFlags((1 << 6) - 1);

    /// The set with these bits, or `None` if a bit names no flag.
    pub const fn from_bits(bits: u8) -> Option<OpenFlags> {
        if bits & !OpenFlags::ALL.0 == 0 { Some(OpenFlags(bits)) } else { None }
    }

    /// The bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag of `other` is set here.
    pub const fn contains(self, other: OpenFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets.
    pub const fn union(self, other: OpenFlags) -> OpenFlags {
        OpenFlags(self.0 | other.0)
    }
}

impl TryFrom<u8> for OpenFlags {
    type Error = &'static str;
    fn try_from(bits: u8) -> Result<Self, Self::Error> {
        OpenFlags::from_bits(bits).ok_or("a bit that names no open flag")
    }
}

impl From<OpenFlags> for u8 {
    fn from(flags: OpenFlags) -> u8 {
        flags.0
    }
}

/// Where a `Read` puts the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Place {
    /// In the answer (`Data`), at most `max` bytes (more than [`MAX_INLINE_BYTES`] reads
    /// that many).
    Inline {
        /// Most bytes wanted.
        max: u32,
    },
    /// In the session's shared buffer at `offset`, at most `length` bytes (`Transferred`
    /// says how many). The range must lie in the buffer (`BadBuffer`).
    Shared {
        /// Where in the buffer.
        offset: u32,
        /// Most bytes wanted.
        length: u32,
    },
}

/// Where a `Write` takes the bytes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// These bytes (at most [`MAX_INLINE_BYTES`]).
    Inline(#[serde(with = "userlib::rpc::bytes")] Vec<u8>),
    /// `length` bytes of the session's shared buffer at `offset`.
    Shared {
        /// Where in the buffer.
        offset: u32,
        /// How many bytes.
        length: u32,
    },
}

/// Where a `Seek` moves the position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeekFrom {
    /// This many bytes from the start.
    Start(u64),
    /// This many bytes from the end (zero or less: FAT files have no holes).
    End(i64),
    /// This many bytes from the position.
    Current(i64),
}

/// What a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileKind {
    /// A file.
    File,
    /// A directory.
    Directory,
}

/// A file's or directory's metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Its name as the volume keeps it (the case it was created with).
    pub name: String,
    /// File or directory.
    pub kind: FileKind,
    /// Bytes (0 for a directory).
    pub size: u64,
    /// Last modification, FAT's resolution (2 s), as `YYYY-MM-DD hh:mm:ss`.
    pub modified: String,
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryEntry {
    /// Its name as the volume keeps it.
    pub name: String,
    /// File or directory.
    pub kind: FileKind,
    /// Bytes (0 for a directory).
    pub size: u64,
}

/// The kind of FAT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FatKind {
    /// 12-bit allocation table entries.
    Fat12,
    /// 16-bit.
    Fat16,
    /// 32-bit.
    Fat32,
}

/// The volume, as `df` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsStatus {
    /// FAT12, 16 or 32.
    pub fat: FatKind,
    /// Bytes per cluster (the unit of allocation).
    pub cluster_bytes: u32,
    /// Clusters for files and directories.
    pub total_clusters: u32,
    /// Of them, free.
    pub free_clusters: u32,
    /// Whether the volume is mounted read-only (a repair that could not finish).
    pub read_only: bool,
}

/// What programs ask the filesystem.
///
/// Variants are only ever added at the end (postcard numbers them by position).
///
/// `S` is how a path is held: the protocol's is `String` (what the server decodes); a
/// client encodes a `Request<&str>`, which postcard writes byte for byte as the same
/// request with `String`s (a string is its length and bytes either way), so sending a path
/// copies it only into the message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request<S = String> {
    /// Opens the file at `path` (see [`OpenFlags`]): a handle of the session, at position
    /// 0 (or the end, with `APPEND`).
    Open {
        /// The absolute path.
        path: S,
        /// How.
        flags: OpenFlags,
    },
    /// Reads from the handle's position.
    Read {
        /// The handle.
        handle: u32,
        /// Where the bytes go.
        into: Place,
    },
    /// Writes at the handle's position (the end, for an `APPEND` handle).
    Write {
        /// The handle.
        handle: u32,
        /// Where the bytes come from.
        from: Source,
    },
    /// Moves the handle's position (never past the end: FAT files have no holes).
    Seek {
        /// The handle.
        handle: u32,
        /// Where to.
        to: SeekFrom,
    },
    /// The metadata of the file or directory at `path`.
    Stat {
        /// The absolute path.
        path: S,
    },
    /// The entries of the directory at `path`, from the `start`th (0 for the first page);
    /// `.` and `..` are not listed.
    ReadDirectory {
        /// The absolute path.
        path: S,
        /// Entries to skip.
        start: u32,
    },
    /// Makes the directory `path` (its parent must exist).
    MakeDirectory {
        /// The absolute path.
        path: S,
    },
    /// Removes the empty directory `path`.
    RemoveDirectory {
        /// The absolute path.
        path: S,
    },
    /// Removes the file `path` (not while it is open: `Busy`).
    Unlink {
        /// The absolute path.
        path: S,
    },
    /// Renames or moves `from` to `to` (whose parent must exist and which must not exist).
    /// A directory cannot move into itself.
    Rename {
        /// The absolute path now.
        from: S,
        /// The absolute path after.
        to: S,
    },
    /// Writes every change to the device and waits until it is there.
    Sync,
    /// The volume's size and free space.
    StatFs,
    /// Closes the handle (a written file's changes then reach the device).
    Close {
        /// The handle.
        handle: u32,
    },
    /// Page `page` of the session's shared buffer: the reply carries the capability of its
    /// frame (read and write), for the client to map as that page of its buffer. The server
    /// makes the whole buffer from the donation at the first of these; a client asks for
    /// page 0, learns the size, and asks for the rest. A page past the end is `BadBuffer`.
    AttachBuffer {
        /// Which page (from 0).
        page: u32,
    },
}

/// A client's requests with borrowed paths encode as the protocol's (see [`Request`]).
impl userlib::rpc::RequestForm<Fs> for Request<&str> {}

/// What the filesystem answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The file is open.
    Opened {
        /// The handle.
        handle: u32,
        /// The file's size.
        size: u64,
    },
    /// Bytes read, inline (fewer than asked at the end of the file; none past it).
    Data(#[serde(with = "userlib::rpc::bytes")] Vec<u8>),
    /// Bytes read into the shared buffer.
    Transferred {
        /// How many.
        count: u32,
    },
    /// Bytes written.
    Written {
        /// How many (all of them, or the write failed).
        count: u32,
    },
    /// The handle's position now.
    Position {
        /// Bytes from the start.
        offset: u64,
    },
    /// The metadata.
    Status(Metadata),
    /// A page of a directory, in the directory's order.
    Directory {
        /// The entries.
        entries: Vec<DirectoryEntry>,
        /// Whether more follow (ask again from `start + entries.len()`).
        more: bool,
    },
    /// The directory was made or removed, the file removed or renamed.
    Done,
    /// Every change before the request is on the device.
    Synced,
    /// The volume.
    FsStatus(FsStatus),
    /// The handle is closed.
    Closed,
    /// The capability of the asked page of the shared buffer travels with this answer.
    BufferAttached {
        /// Its size in bytes.
        bytes: u64,
    },
}

/// Why the filesystem refused.
///
/// Variants are only ever added at the end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FsError {
    /// Nothing at that path (or a component of its parent is missing).
    NotFound,
    /// Something is already at that path.
    Exists,
    /// A component of the path, or the path of a directory operation, is a file.
    NotADirectory,
    /// The path is a directory (opened as a file, or unlinked).
    IsADirectory,
    /// The directory has entries.
    NotEmpty,
    /// The volume is full.
    NoSpace,
    /// A name of the path is not a valid FAT long name (empty, a character FAT refuses,
    /// a trailing dot or space), or the path is not absolute or climbs above the root.
    InvalidName {
        /// The offending name or path.
        name: String,
    },
    /// A name of the path is longer than [`MAX_NAME_BYTES`].
    NameTooLong,
    /// The volume is mounted read-only.
    ReadOnly,
    /// The session's donation pays for no more open files.
    TooManyOpenFiles {
        /// Files the session has open.
        open: u32,
    },
    /// The handle is not open in this session, or not for this (a write on a handle
    /// opened without `WRITE`).
    BadHandle,
    /// The file is open for writing elsewhere (or open at all, for `Unlink` and `Rename`).
    Busy,
    /// The session's scope does not allow it; `grant` names the grant and what it lacks.
    Denied {
        /// The grant (as the policy writes it) and the right missing at the path.
        grant: String,
    },
    /// No volume is mounted: the disk is missing, not FAT, truncated or unreadable.
    NoVolume {
        /// What the server found.
        why: String,
    },
    /// The device failed.
    Io,
    /// The request or reply could not be carried (malformed, too large, IPC failure).
    Rpc(RpcError),
    /// The shared-buffer range lies outside the buffer, or none is attached.
    BadBuffer,
    /// The session's donation cannot pay for it (the shared buffer).
    DonationSpent {
        /// Bytes needed.
        needed: u64,
        /// Bytes left.
        free: u64,
    },
    /// A file would grow past FAT's limit (4 GiB - 1), or a seek before the start.
    InvalidSeek,
    /// The volume's structures are damaged where the operation needed them.
    Corrupted,
    /// The open flags do not go together: neither `READ` nor `WRITE`, `TRUNCATE` or
    /// `APPEND` without `WRITE`, `EXCLUSIVE` without `CREATE`.
    InvalidFlags,
}

impl From<RpcError> for FsError {
    fn from(error: RpcError) -> Self {
        Self::Rpc(error)
    }
}

impl core::fmt::Display for FsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotFound => f.write_str("no such file or directory"),
            Self::Exists => f.write_str("already exists"),
            Self::NotADirectory => f.write_str("not a directory"),
            Self::IsADirectory => f.write_str("is a directory"),
            Self::NotEmpty => f.write_str("directory not empty"),
            Self::NoSpace => f.write_str("no space left on the volume"),
            Self::InvalidName { name } => write!(f, "invalid name: {name:?}"),
            Self::NameTooLong => write!(f, "name longer than {MAX_NAME_BYTES} bytes"),
            Self::ReadOnly => f.write_str("read-only volume"),
            Self::TooManyOpenFiles { open } => write!(f, "too many open files ({open} open)"),
            Self::BadHandle => f.write_str("bad handle"),
            Self::Busy => f.write_str("busy: open elsewhere"),
            Self::Denied { grant } => write!(f, "denied: {grant}"),
            Self::NoVolume { why } => write!(f, "no volume: {why}"),
            Self::Io => f.write_str("device error"),
            Self::Rpc(error) => write!(f, "{error}"),
            Self::BadBuffer => f.write_str("outside the shared buffer"),
            Self::DonationSpent { needed, free } => {
                write!(f, "the session's donation is spent: {needed} bytes needed, {free} free")
            }
            Self::InvalidSeek => f.write_str("invalid position"),
            Self::Corrupted => f.write_str("the volume is damaged"),
            Self::InvalidFlags => f.write_str("open flags that do not go together"),
        }
    }
}

#[cfg(target_arch = "riscv64")]
mod client;
#[cfg(target_arch = "riscv64")]
pub use client::FsClient;

#[cfg(test)]
mod tests;
