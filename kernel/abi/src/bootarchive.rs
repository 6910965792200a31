//! The boot archive: the programs the kernel image carries before a filesystem exists.
//!
//! The image builder writes it; the kernel reads it to find the root task, and later the root
//! task reads it to start the boot-time servers. The layout is deliberately trivial so that a
//! reader needs no allocation and can reject every malformed archive:
//!
//! ```text
//! offset 0   magic  "LATBOOT1"                      8 bytes
//! offset 8   count  u32 little endian               number of entries
//! offset 12  total  u32 little endian               length of the whole archive in bytes
//! offset 16  entry[count]                           ENTRY_SIZE bytes each:
//!              name   [u8; 48], NUL padded, UTF-8, no NUL inside
//!              offset u64 LE, from the archive start, a multiple of 8
//!              length u64 LE
//! then       the entries' contents
//! ```

/// The first eight bytes of every archive.
pub const MAGIC: [u8; 8] = *b"LATBOOT1";
/// Longest program name, in bytes.
pub const NAME_LEN: usize = 48;
/// Bytes per directory entry.
pub const ENTRY_SIZE: usize = NAME_LEN + 16;
/// Bytes before the first directory entry.
pub const HEADER_SIZE: usize = 16;
/// Entry contents start on this alignment, so an ELF header inside is naturally aligned.
pub const ALIGN: usize = 8;

/// Why an archive was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveError {
    /// The archive does not start with [`MAGIC`].
    BadMagic,
    /// The header or directory runs past the end of the bytes given.
    Truncated,
    /// Entry `index` has a name that is empty, not UTF-8 or has NULs inside.
    BadName {
        /// Position in the directory.
        index: usize,
    },
    /// Entry `index` points outside the archive or is misaligned.
    BadExtent {
        /// Position in the directory.
        index: usize,
    },
}

impl core::fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadMagic => write!(f, "boot archive: bad magic"),
            Self::Truncated => write!(f, "boot archive: truncated"),
            Self::BadName { index } => write!(f, "boot archive: entry {index} has a bad name"),
            Self::BadExtent { index } => {
                write!(f, "boot archive: entry {index} lies outside the archive")
            }
        }
    }
}

/// A validated, read-only view of an archive.
#[derive(Clone, Copy, Debug)]
pub struct BootArchive<'a> {
    bytes: &'a [u8],
    count: usize,
}

/// One program in the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The program's name, as the kernel command line and the manifest refer to it.
    pub name: &'a str,
    /// The program's bytes (an ELF file).
    pub data: &'a [u8],
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let field = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(field.try_into().ok()?))
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let field = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(field.try_into().ok()?))
}

impl<'a> BootArchive<'a> {
    /// Checks the header and every entry; after this, [`Self::entries`] cannot fail.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ArchiveError> {
        if bytes.len() < HEADER_SIZE {
            return Err(ArchiveError::Truncated);
        }
        if bytes.get(..8) != Some(&MAGIC[..]) {
            return Err(ArchiveError::BadMagic);
        }
        let count = read_u32(bytes, 8).ok_or(ArchiveError::Truncated)? as usize;
        let total = read_u32(bytes, 12).ok_or(ArchiveError::Truncated)? as usize;
        if total > bytes.len() {
            return Err(ArchiveError::Truncated);
        }
        let bytes = bytes.get(..total).ok_or(ArchiveError::Truncated)?;
        let directory_end = count
            .checked_mul(ENTRY_SIZE)
            .and_then(|size| size.checked_add(HEADER_SIZE))
            .ok_or(ArchiveError::Truncated)?;
        if directory_end > bytes.len() {
            return Err(ArchiveError::Truncated);
        }
        let archive = Self { bytes, count };
        for index in 0..count {
            archive.entry_at(index)?;
        }
        Ok(archive)
    }

    fn entry_at(&self, index: usize) -> Result<Entry<'a>, ArchiveError> {
        let base = HEADER_SIZE + index * ENTRY_SIZE;
        let raw_name = self.bytes.get(base..base + NAME_LEN).ok_or(ArchiveError::Truncated)?;
        let name_len = raw_name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        let (name, padding) = raw_name.split_at(name_len);
        if name.is_empty() || padding.iter().any(|&b| b != 0) {
            return Err(ArchiveError::BadName { index });
        }
        let name = core::str::from_utf8(name).map_err(|_| ArchiveError::BadName { index })?;
        let bad_extent = ArchiveError::BadExtent { index };
        let offset = read_u64(self.bytes, base + NAME_LEN).ok_or(ArchiveError::Truncated)?;
        let length = read_u64(self.bytes, base + NAME_LEN + 8).ok_or(ArchiveError::Truncated)?;
        let offset = usize::try_from(offset).map_err(|_| bad_extent)?;
        let length = usize::try_from(length).map_err(|_| bad_extent)?;
        if offset % ALIGN != 0 || offset < HEADER_SIZE + self.count * ENTRY_SIZE {
            return Err(bad_extent);
        }
        let end = offset.checked_add(length).ok_or(bad_extent)?;
        let data = self.bytes.get(offset..end).ok_or(bad_extent)?;
        Ok(Entry { name, data })
    }

    /// Number of programs in the archive.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the archive holds no programs.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The programs, in archive order.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'a>> + '_ {
        (0..self.count).filter_map(|index| self.entry_at(index).ok())
    }

    /// The program called `name`, if there is one.
    pub fn find(&self, name: &str) -> Option<Entry<'a>> {
        self.entries().find(|entry| entry.name == name)
    }
}

/// Writes archives; used by the image builder on the host.
#[cfg(feature = "alloc")]
pub mod writer {
    use super::*;
    use alloc::vec::Vec;

    /// Why an archive could not be written.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum WriteError {
        /// A name is empty, too long or contains a NUL.
        BadName(alloc::string::String),
        /// Two entries share a name.
        DuplicateName(alloc::string::String),
        /// The archive would exceed 4 GiB.
        TooLarge,
    }

    /// Builds an archive from `(name, contents)` pairs, in the order given.
    pub fn build(entries: &[(&str, &[u8])]) -> Result<Vec<u8>, WriteError> {
        for (index, (name, _)) in entries.iter().enumerate() {
            if name.is_empty() || name.len() > NAME_LEN || name.contains('\0') {
                return Err(WriteError::BadName((*name).into()));
            }
            if entries[..index].iter().any(|(other, _)| other == name) {
                return Err(WriteError::DuplicateName((*name).into()));
            }
        }
        let directory_end = HEADER_SIZE + entries.len() * ENTRY_SIZE;
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&u32::try_from(entries.len()).map_err(|_| WriteError::TooLarge)?.to_le_bytes());
        out.extend_from_slice(&[0; 4]); // total, patched below
        let mut offset = directory_end.next_multiple_of(ALIGN);
        for (name, data) in entries {
            let mut raw_name = [0u8; NAME_LEN];
            raw_name[..name.len()].copy_from_slice(name.as_bytes());
            out.extend_from_slice(&raw_name);
            out.extend_from_slice(&(offset as u64).to_le_bytes());
            out.extend_from_slice(&(data.len() as u64).to_le_bytes());
            offset = (offset + data.len()).next_multiple_of(ALIGN);
        }
        for (_, data) in entries {
            out.resize(out.len().next_multiple_of(ALIGN), 0);
            out.extend_from_slice(data);
        }
        out.resize(out.len().next_multiple_of(ALIGN), 0);
        let total = u32::try_from(out.len()).map_err(|_| WriteError::TooLarge)?;
        out[12..16].copy_from_slice(&total.to_le_bytes());
        Ok(out)
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::writer::{WriteError, build};
    use super::*;

    #[test]
    fn round_trip_keeps_names_order_and_bytes() {
        let image = build(&[("root", b"\x7fELF-root"), ("hello", b"hi"), ("empty", b"")]).unwrap();
        let archive = BootArchive::parse(&image).unwrap();
        assert_eq!(archive.len(), 3);
        let names: alloc::vec::Vec<_> = archive.entries().map(|e| e.name).collect();
        assert_eq!(names, ["root", "hello", "empty"]);
        assert_eq!(archive.find("hello").unwrap().data, b"hi");
        assert_eq!(archive.find("empty").unwrap().data, b"");
        assert!(archive.find("missing").is_none());
        for entry in archive.entries() {
            let offset = entry.data.as_ptr() as usize - image.as_ptr() as usize;
            assert_eq!(offset % ALIGN, 0, "{} misaligned", entry.name);
        }
    }

    #[test]
    fn writer_rejects_bad_and_duplicate_names() {
        assert!(matches!(build(&[("", b"")]), Err(WriteError::BadName(_))));
        let long = "x".repeat(NAME_LEN + 1);
        assert!(matches!(build(&[(&long, b"")]), Err(WriteError::BadName(_))));
        assert!(matches!(build(&[("a", b""), ("a", b"")]), Err(WriteError::DuplicateName(_))));
    }

    #[test]
    fn every_truncation_of_a_valid_archive_is_rejected_without_panic() {
        let image = build(&[("root", &[7u8; 100]), ("x", &[1u8; 3])]).unwrap();
        for cut in 0..image.len() {
            assert!(BootArchive::parse(&image[..cut]).is_err(), "cut at {cut} accepted");
        }
    }

    #[test]
    fn corrupt_fields_are_named() {
        let image = build(&[("root", &[7u8; 16])]).unwrap();
        let mut bad = image.clone();
        bad[0] = b'X';
        assert_eq!(BootArchive::parse(&bad).unwrap_err(), ArchiveError::BadMagic);
        let mut bad = image.clone();
        bad[HEADER_SIZE + NAME_LEN] = 3; // misaligned offset
        assert_eq!(BootArchive::parse(&bad).unwrap_err(), ArchiveError::BadExtent { index: 0 });
        let mut bad = image.clone();
        bad[HEADER_SIZE + NAME_LEN + 8] = 0xff; // length past the end
        assert_eq!(BootArchive::parse(&bad).unwrap_err(), ArchiveError::BadExtent { index: 0 });
        let mut bad = image.clone();
        bad[HEADER_SIZE] = 0; // empty name
        assert_eq!(BootArchive::parse(&bad).unwrap_err(), ArchiveError::BadName { index: 0 });
        let mut bad = image;
        bad[8] = 200; // count larger than the directory
        assert_eq!(BootArchive::parse(&bad).unwrap_err(), ArchiveError::Truncated);
    }

    #[test]
    fn pseudo_random_bytes_never_panic_the_reader() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut buf = build(&[("root", &[1u8; 40]), ("b", &[2u8; 9])]).unwrap();
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = usize::try_from(state % buf.len() as u64).unwrap();
            buf[at] = state.to_le_bytes()[4];
            if let Ok(archive) = BootArchive::parse(&buf) {
                for entry in archive.entries() {
                    assert!(entry.data.len() <= buf.len());
                }
            }
        }
    }
}
