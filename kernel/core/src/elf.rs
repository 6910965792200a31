//! Turning an ELF file into a load plan: which bytes go where, with which permissions.
//!
//! Program files are allegations too: a plan is only produced for a 64-bit little-endian
//! RISC-V executable whose loadable segments lie inside the file and inside user space, do
//! not overlap, and are never both writable and executable. The kernel (and later the process
//! manager) maps a plan without further checks.
//!
//! The parser is hand-written (about 60 lines) rather than the `object` crate's, because
//! `object` links `alloc` and the kernel has no heap; user-level loaders use `object`.

use crate::layout::{USER_END, USER_START};
use arrayvec::ArrayVec;

/// Most loadable segments a program may have.
pub const MAX_SEGMENTS: usize = 8;

/// One loadable segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Where the segment starts in the program's address space.
    pub virtual_address: usize,
    /// Bytes it occupies in memory; the part past `file_size` is zero.
    pub memory_size: usize,
    /// Where its initial bytes are in the file.
    pub file_offset: usize,
    /// How many initial bytes come from the file.
    pub file_size: usize,
    /// May be read.
    pub readable: bool,
    /// May be written.
    pub writable: bool,
    /// May be executed.
    pub executable: bool,
}

impl Segment {
    /// One past the last byte in memory (cannot overflow: checked when planned).
    pub const fn end(&self) -> usize {
        self.virtual_address + self.memory_size
    }
}

/// A validated program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadPlan {
    /// First instruction.
    pub entry: usize,
    /// Loadable segments, sorted by address.
    pub segments: ArrayVec<Segment, MAX_SEGMENTS>,
}

/// Why a file cannot be loaded. Each names what is wrong, for the fault or spawn report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Not an ELF file, or its headers are cut short.
    Malformed,
    /// Not a 64-bit little-endian file.
    WrongClass,
    /// Built for another machine.
    WrongMachine,
    /// Not an executable (a relocatable object or shared library).
    NotExecutable,
    /// No loadable segment.
    NoSegments,
    /// More than [`MAX_SEGMENTS`] loadable segments.
    TooManySegments,
    /// Segment `index` reaches past the end of the file, or its file part exceeds its memory part.
    SegmentOutsideFile {
        /// Position among the program headers.
        index: usize,
    },
    /// Segment `index` lies (partly) outside user space.
    SegmentOutsideUserSpace {
        /// Position among the program headers.
        index: usize,
    },
    /// Segment `index` is both writable and executable.
    WritableAndExecutable {
        /// Position among the program headers.
        index: usize,
    },
    /// Two segments overlap in memory.
    Overlapping,
    /// The entry point is not inside an executable segment.
    EntryNotExecutable,
}

impl core::fmt::Display for ElfError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Malformed => write!(f, "not an ELF file (bad or truncated headers)"),
            Self::WrongClass => write!(f, "not a 64-bit little-endian ELF file"),
            Self::WrongMachine => write!(f, "not a RISC-V program"),
            Self::NotExecutable => write!(f, "not an executable"),
            Self::NoSegments => write!(f, "no loadable segment"),
            Self::TooManySegments => write!(f, "more than {MAX_SEGMENTS} loadable segments"),
            Self::SegmentOutsideFile { index } => write!(f, "segment {index} lies outside the file"),
            Self::SegmentOutsideUserSpace { index } => write!(f, "segment {index} lies outside user space"),
            Self::WritableAndExecutable { index } => write!(f, "segment {index} is writable and executable"),
            Self::Overlapping => write!(f, "segments overlap"),
            Self::EntryNotExecutable => write!(f, "entry point is not in an executable segment"),
        }
    }
}

const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;
const EM_RISCV: u16 = 243;
const ET_EXEC: u16 = 2;
const FILE_HEADER_SIZE: usize = 64;
const PROGRAM_HEADER_SIZE: usize = 56;

fn le16(bytes: &[u8], at: usize) -> Result<u16, ElfError> {
    let field = bytes.get(at..at + 2).ok_or(ElfError::Malformed)?;
    Ok(u16::from_le_bytes([field[0], field[1]]))
}

fn le32(bytes: &[u8], at: usize) -> Result<u32, ElfError> {
    let field = bytes.get(at..at + 4).ok_or(ElfError::Malformed)?;
    Ok(u32::from_le_bytes(field.try_into().map_err(|_| ElfError::Malformed)?))
}

fn le64(bytes: &[u8], at: usize) -> Result<u64, ElfError> {
    let field = bytes.get(at..at + 8).ok_or(ElfError::Malformed)?;
    Ok(u64::from_le_bytes(field.try_into().map_err(|_| ElfError::Malformed)?))
}

/// The fields of the ELF64 file header the loader needs.
struct FileHeader {
    entry: u64,
    program_header_offset: usize,
    program_header_size: usize,
    program_header_count: usize,
}

impl FileHeader {
    fn read(file: &[u8]) -> Result<Self, ElfError> {
        let ident = file.get(..FILE_HEADER_SIZE).ok_or(ElfError::Malformed)?;
        if ident[..4] != *b"\x7fELF" {
            return Err(ElfError::Malformed);
        }
        // EI_CLASS = ELFCLASS64, EI_DATA = ELFDATA2LSB, EI_VERSION = 1.
        if ident[4] != 2 || ident[5] != 1 || ident[6] != 1 {
            return Err(ElfError::WrongClass);
        }
        if le16(file, 18)? != EM_RISCV {
            return Err(ElfError::WrongMachine);
        }
        if le16(file, 16)? != ET_EXEC {
            return Err(ElfError::NotExecutable);
        }
        let program_header_size = usize::from(le16(file, 54)?);
        if program_header_size < PROGRAM_HEADER_SIZE {
            return Err(ElfError::Malformed);
        }
        Ok(Self {
            entry: le64(file, 24)?,
            program_header_offset: usize::try_from(le64(file, 32)?).map_err(|_| ElfError::Malformed)?,
            program_header_size,
            program_header_count: usize::from(le16(file, 56)?),
        })
    }
}

/// Validates `file` and says how to load it.
pub fn plan(file: &[u8]) -> Result<LoadPlan, ElfError> {
    let header = FileHeader::read(file)?;
    let mut segments: ArrayVec<Segment, MAX_SEGMENTS> = ArrayVec::new();
    for index in 0..header.program_header_count {
        let at = index
            .checked_mul(header.program_header_size)
            .and_then(|offset| offset.checked_add(header.program_header_offset))
            .ok_or(ElfError::Malformed)?;
        let program_header = file.get(at..at + PROGRAM_HEADER_SIZE).ok_or(ElfError::Malformed)?;
        if le32(program_header, 0)? != PT_LOAD {
            continue;
        }
        let flags = le32(program_header, 4)?;
        let field = |offset: usize| {
            usize::try_from(le64(program_header, offset)?).map_err(|_| ElfError::SegmentOutsideFile { index })
        };
        let segment = Segment {
            virtual_address: field(16)?,
            memory_size: field(40)?,
            file_offset: field(8)?,
            file_size: field(32)?,
            readable: flags & PF_R != 0,
            writable: flags & PF_W != 0,
            executable: flags & PF_X != 0,
        };
        if segment.memory_size == 0 {
            continue;
        }
        let file_end = segment.file_offset.checked_add(segment.file_size);
        if segment.file_size > segment.memory_size || file_end.is_none_or(|end| end > file.len()) {
            return Err(ElfError::SegmentOutsideFile { index });
        }
        let memory_end = segment.virtual_address.checked_add(segment.memory_size);
        if segment.virtual_address < USER_START || memory_end.is_none_or(|end| end > USER_END) {
            return Err(ElfError::SegmentOutsideUserSpace { index });
        }
        if segment.writable && segment.executable {
            return Err(ElfError::WritableAndExecutable { index });
        }
        segments.try_push(segment).map_err(|_| ElfError::TooManySegments)?;
    }
    if segments.is_empty() {
        return Err(ElfError::NoSegments);
    }
    segments.sort_unstable_by_key(|segment| segment.virtual_address);
    if segments.windows(2).any(|pair| pair[0].end() > pair[1].virtual_address) {
        return Err(ElfError::Overlapping);
    }
    let entry = usize::try_from(header.entry).map_err(|_| ElfError::EntryNotExecutable)?;
    if !segments.iter().any(|s| s.executable && (s.virtual_address..s.end()).contains(&entry)) {
        return Err(ElfError::EntryNotExecutable);
    }
    Ok(LoadPlan { entry, segments })
}

/// How many bytes from the start of a program file [`plan`] needs: the file header, the
/// program headers and the file part of every loadable segment. What lies past them
/// (section headers, symbols, debug information) is never loaded, so a loader reading the
/// file from elsewhere (the process manager, from the filesystem) reads only this much.
///
/// `prefix` is the start of the file. When it does not yet hold every program header, the
/// answer is where they end: read that much and ask again (the second answer is final).
/// The errors are the file header's; the segments themselves are judged by [`plan`], which
/// answers the same for the first `needed_bytes` bytes as for the whole file.
pub fn needed_bytes(prefix: &[u8]) -> Result<usize, ElfError> {
    let header = FileHeader::read(prefix)?;
    let table_end = header
        .program_header_count
        .checked_mul(header.program_header_size)
        .and_then(|size| size.checked_add(header.program_header_offset))
        .ok_or(ElfError::Malformed)?;
    let mut needed = table_end.max(FILE_HEADER_SIZE);
    if prefix.len() < table_end {
        return Ok(needed);
    }
    for index in 0..header.program_header_count {
        // Within the table, so within `prefix` (checked above, without overflow).
        let at = header.program_header_offset + index * header.program_header_size;
        let program_header = prefix.get(at..at + PROGRAM_HEADER_SIZE).ok_or(ElfError::Malformed)?;
        if le32(program_header, 0)? != PT_LOAD || le64(program_header, 40)? == 0 {
            continue;
        }
        let end = le64(program_header, 8)?
            .checked_add(le64(program_header, 32)?)
            .and_then(|end| usize::try_from(end).ok())
            .ok_or(ElfError::SegmentOutsideFile { index })?;
        needed = needed.max(end);
    }
    Ok(needed)
}

/// The file bytes of `segment` (valid for a segment from [`plan`] of the same file).
pub fn segment_bytes<'a>(file: &'a [u8], segment: &Segment) -> &'a [u8] {
    file.get(segment.file_offset..segment.file_offset + segment.file_size).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// A minimal ELF64 executable: header, program headers, then `payload`.
    /// Each segment is (type, flags, offset, vaddr, filesz, memsz).
    fn elf(machine: u16, kind: u16, entry: u64, segments: &[(u32, u32, u64, u64, u64, u64)]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&machine.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&entry.to_le_bytes());
        out.extend_from_slice(&64u64.to_le_bytes()); // phoff
        out.extend_from_slice(&0u64.to_le_bytes()); // shoff
        out.extend_from_slice(&0u32.to_le_bytes()); // flags
        out.extend_from_slice(&64u16.to_le_bytes()); // ehsize
        out.extend_from_slice(&56u16.to_le_bytes()); // phentsize
        out.extend_from_slice(&u16::try_from(segments.len()).unwrap().to_le_bytes());
        out.extend_from_slice(&64u16.to_le_bytes()); // shentsize
        out.extend_from_slice(&0u16.to_le_bytes()); // shnum
        out.extend_from_slice(&0u16.to_le_bytes()); // shstrndx
        for &(kind, flags, offset, vaddr, filesz, memsz) in segments {
            out.extend_from_slice(&kind.to_le_bytes());
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            out.extend_from_slice(&vaddr.to_le_bytes());
            out.extend_from_slice(&vaddr.to_le_bytes());
            out.extend_from_slice(&filesz.to_le_bytes());
            out.extend_from_slice(&memsz.to_le_bytes());
            out.extend_from_slice(&0x1000u64.to_le_bytes());
        }
        out.resize(0x3000, 0xaa);
        out
    }

    const RX: u32 = 5;
    const RW: u32 = 6;
    const RWX: u32 = 7;

    fn good() -> Vec<u8> {
        elf(
            243,
            2,
            0x1_1000,
            &[(1, RX, 0x1000, 0x1_1000, 0x800, 0x800), (1, RW, 0x2000, 0x1_2000, 0x100, 0x4000)],
        )
    }

    #[test]
    fn plans_a_well_formed_executable() {
        let file = good();
        let plan = plan(&file).unwrap();
        assert_eq!(plan.entry, 0x1_1000);
        assert_eq!(plan.segments.len(), 2);
        let data = plan.segments[1];
        assert!(data.writable && !data.executable && data.readable);
        assert_eq!((data.virtual_address, data.memory_size, data.file_size), (0x1_2000, 0x4000, 0x100));
        assert_eq!(segment_bytes(&file, &data).len(), 0x100);
    }

    #[test]
    fn rejects_what_must_not_load() {
        let cases: &[(Vec<u8>, ElfError)] = &[
            (b"not an elf".to_vec(), ElfError::Malformed),
            (elf(62, 2, 0x1_1000, &[(1, RX, 0x1000, 0x1_1000, 8, 8)]), ElfError::WrongMachine),
            (elf(243, 3, 0x1_1000, &[(1, RX, 0x1000, 0x1_1000, 8, 8)]), ElfError::NotExecutable),
            (elf(243, 2, 0x1_1000, &[(4, RX, 0x1000, 0x1_1000, 8, 8)]), ElfError::NoSegments),
            (
                elf(243, 2, 0x1_1000, &[(1, RX, 0x2f00, 0x1_1000, 0x200, 0x200)]),
                ElfError::SegmentOutsideFile { index: 0 },
            ),
            (
                elf(243, 2, 0x1_1000, &[(1, RX, 0x1000, 0x1_1000, 0x200, 0x100)]),
                ElfError::SegmentOutsideFile { index: 0 },
            ),
            (
                elf(243, 2, 0x100, &[(1, RX, 0x1000, 0x0, 0x200, 0x200)]),
                ElfError::SegmentOutsideUserSpace { index: 0 },
            ),
            (
                elf(243, 2, 0x3f_ffff_f000, &[(1, RX, 0x1000, 0x3f_ffff_f000, 0x200, 0x2000)]),
                ElfError::SegmentOutsideUserSpace { index: 0 },
            ),
            (
                elf(243, 2, 0xffff_ffff_8020_0000, &[(1, RX, 0x1000, 0xffff_ffff_8020_0000, 8, 8)]),
                ElfError::SegmentOutsideUserSpace { index: 0 },
            ),
            (
                elf(243, 2, 0x1_1000, &[(1, RX, 0x1000, 0x1_1000, 8, u64::MAX)]),
                ElfError::SegmentOutsideUserSpace { index: 0 },
            ),
            (
                elf(243, 2, 0x1_1000, &[(1, RWX, 0x1000, 0x1_1000, 8, 8)]),
                ElfError::WritableAndExecutable { index: 0 },
            ),
            (
                elf(
                    243,
                    2,
                    0x1_1000,
                    &[(1, RX, 0x1000, 0x1_1000, 0x800, 0x1000), (1, RW, 0x2000, 0x1_1800, 8, 8)],
                ),
                ElfError::Overlapping,
            ),
            (elf(243, 2, 0x5_0000, &[(1, RX, 0x1000, 0x1_1000, 8, 8)]), ElfError::EntryNotExecutable),
            (
                elf(243, 2, 0x1_2000, &[(1, RX, 0x1000, 0x1_1000, 8, 8), (1, RW, 0x1000, 0x1_2000, 8, 8)]),
                ElfError::EntryNotExecutable,
            ),
        ];
        for (index, (file, expected)) in cases.iter().enumerate() {
            assert_eq!(plan(file).as_ref().map(|_| ()), Err(expected), "case {index}");
        }
    }

    #[test]
    fn needed_bytes_covers_what_the_plan_reads_and_no_more() {
        // Segments end at 0x1800 and 0x2100; the file goes on to 0x3000 (symbols, say).
        let file = good();
        assert_eq!(needed_bytes(&file), Ok(0x2100));
        assert_eq!(plan(&file[..0x2100]), plan(&file), "the prefix plans as the whole file");
        assert!(plan(&file[..0x20ff]).is_err(), "one byte less is not enough");
        // A prefix that holds the file header but not every program header: where they end.
        assert_eq!(needed_bytes(&file[..100]), Ok(64 + 2 * 56));
        assert_eq!(needed_bytes(&file[..64 + 2 * 56]), Ok(0x2100));
        // A segment with nothing in memory is not loaded, so not needed.
        let empty = elf(
            243,
            2,
            0x1_1000,
            &[(1, RX, 0x1000, 0x1_1000, 0x800, 0x800), (1, RW, 0x2f00, 0x2_0000, 0, 0)],
        );
        assert_eq!(needed_bytes(&empty), Ok(0x1800));
        // Nor is a segment of another type.
        let note = elf(
            243,
            2,
            0x1_1000,
            &[(4, RX, 0x2800, 0x1_1000, 0x10, 0x10), (1, RX, 0x1000, 0x1_1000, 0x800, 0x800)],
        );
        assert_eq!(needed_bytes(&note), Ok(0x1800));
        // Headers that are not a RISC-V executable's are refused as plan refuses them.
        assert_eq!(needed_bytes(b"#!/bin/sh\necho hi\n"), Err(ElfError::Malformed));
        assert_eq!(needed_bytes(&file[..63]), Err(ElfError::Malformed));
        let other = elf(62, 2, 0x1_1000, &[(1, RX, 0x1000, 0x1_1000, 8, 8)]);
        assert_eq!(needed_bytes(&other), Err(ElfError::WrongMachine));
        // A segment whose end overflows is outside any file.
        let huge = elf(243, 2, 0x1_1000, &[(1, RX, u64::MAX, 0x1_1000, 8, 8)]);
        assert_eq!(needed_bytes(&huge), Err(ElfError::SegmentOutsideFile { index: 0 }));
    }

    #[test]
    fn needed_bytes_never_panics_and_agrees_with_the_plan() {
        let file = good();
        let mut random = crate::testing::Xorshift(0x0bad_cafe_f00d_1234);
        let mut mutated = file.clone();
        for _ in 0..20_000 {
            let at = random.below(0x100);
            mutated[at] = random.byte();
            if let (Ok(needed), Ok(whole)) = (needed_bytes(&mutated), plan(&mutated)) {
                let needed = needed.min(mutated.len());
                assert_eq!(plan(&mutated[..needed]).as_ref(), Ok(&whole));
            }
        }
    }

    #[test]
    fn every_truncation_and_many_mutations_are_handled() {
        let file = good();
        for cut in 0..0x200 {
            assert!(plan(&file[..cut]).is_err(), "cut at {cut} accepted");
        }
        let mut random = crate::testing::Xorshift(0x1234_5678_9abc_def1);
        let mut mutated = file.clone();
        for _ in 0..20_000 {
            let at = random.below(0x100);
            mutated[at] = random.byte();
            if let Ok(plan) = plan(&mutated) {
                for segment in &plan.segments {
                    assert!(segment.end() <= USER_END && segment.virtual_address >= USER_START);
                    assert_eq!(segment_bytes(&mutated, segment).len(), segment.file_size);
                }
            }
        }
    }
}
