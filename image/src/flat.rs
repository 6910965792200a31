//! Turning the kernel ELF into the flat image that firmware loads: the bytes of every
//! loadable segment, placed at their load (physical) addresses relative to the first.

use object::read::elf::{ElfFile64, ProgramHeader};
use object::{Endianness, elf::PT_LOAD};

/// A flat image and where it expects to be loaded.
pub struct FlatImage {
    /// The image bytes.
    pub bytes: Vec<u8>,
    /// Physical address of the first byte.
    pub load_address: u64,
}

/// Flattens `elf`. Fails on an image without loadable bytes or with overlapping segments.
pub fn flatten(elf: &[u8]) -> Result<FlatImage, String> {
    let file = ElfFile64::<Endianness>::parse(elf).map_err(|error| format!("kernel ELF: {error}"))?;
    let endian = file.endian();
    let mut segments: Vec<(u64, &[u8])> = Vec::new();
    for header in file.elf_program_headers() {
        if header.p_type(endian) != PT_LOAD || header.p_filesz(endian) == 0 {
            continue;
        }
        let data =
            header.data(endian, elf).map_err(|_| "kernel ELF: segment outside the file".to_string())?;
        segments.push((header.p_paddr(endian), data));
    }
    segments.sort_by_key(|(address, _)| *address);
    let load_address =
        segments.first().map(|(address, _)| *address).ok_or("kernel ELF has no loadable bytes")?;
    let mut bytes = Vec::new();
    for (address, data) in segments {
        let offset =
            usize::try_from(address - load_address).map_err(|_| "kernel ELF: segment too far away")?;
        if offset < bytes.len() {
            return Err(format!("kernel ELF: segments overlap at {address:#x}"));
        }
        bytes.resize(offset, 0);
        bytes.extend_from_slice(data);
    }
    Ok(FlatImage { bytes, load_address })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF64 RISC-V executable with the given (paddr, bytes) loadable segments.
    fn elf(segments: &[(u64, &[u8])]) -> Vec<u8> {
        let header_size = 64 + 56 * segments.len();
        let mut out = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&243u16.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        out.extend_from_slice(&64u64.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for value in [64u16, 56, u16::try_from(segments.len()).unwrap(), 64, 0, 0] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        let mut offset = header_size as u64;
        for (paddr, data) in segments {
            out.extend_from_slice(&1u32.to_le_bytes());
            out.extend_from_slice(&5u32.to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            out.extend_from_slice(&(paddr + 0xffff_ffff_0000_0000).to_le_bytes());
            out.extend_from_slice(&paddr.to_le_bytes());
            out.extend_from_slice(&(data.len() as u64).to_le_bytes());
            out.extend_from_slice(&(data.len() as u64 + 64).to_le_bytes());
            out.extend_from_slice(&8u64.to_le_bytes());
            offset += data.len() as u64;
        }
        for (_, data) in segments {
            out.extend_from_slice(data);
        }
        out
    }

    #[test]
    fn places_segments_at_their_physical_offsets() {
        let image = flatten(&elf(&[(0x8020_1000, b"data"), (0x8020_0000, b"text")])).unwrap();
        assert_eq!(image.load_address, 0x8020_0000);
        assert_eq!(image.bytes.len(), 0x1004);
        assert_eq!(&image.bytes[..4], b"text");
        assert_eq!(&image.bytes[0x1000..], b"data");
        assert!(image.bytes[4..0x1000].iter().all(|&b| b == 0));
    }

    #[test]
    fn rejects_overlap_and_garbage() {
        assert!(flatten(&elf(&[(0x1000, b"abcdef"), (0x1002, b"xy")])).is_err());
        assert!(flatten(&elf(&[])).is_err());
        assert!(flatten(b"not an elf").is_err());
    }
}
