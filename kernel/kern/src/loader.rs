//! Loading a program from the boot archive into a new address space.
//!
//! The ELF file is validated into a load plan by `kernel_core::elf` first; this module only
//! allocates frames, copies bytes and maps pages as the plan says, plus a stack with an
//! unmapped guard page below it.

use kernel_core::elf::{self, ElfError, LoadPlan, segment_bytes};
use kernel_core::frames::FrameAllocator;
use kernel_core::layout::{PAGE_SIZE, USER_STACK_SIZE, USER_STACK_TOP, align_down, align_up};
use kernel_core::paging::{self, Flags, MapError, PageSize};

use crate::memory::{self, DirectMap};

/// A loaded program, ready to run.
#[derive(Clone, Copy, Debug)]
pub struct LoadedProgram {
    /// First instruction.
    pub entry: usize,
    /// Initial stack pointer.
    pub stack_pointer: usize,
}

/// Why a program could not be loaded.
#[derive(Clone, Copy, Debug)]
pub enum LoadError {
    /// The file is not a loadable program.
    Elf(ElfError),
    /// Physical memory ran out.
    OutOfMemory,
    /// The page tables refused a mapping (a kernel bug once the plan is valid).
    Map(MapError),
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Elf(error) => write!(f, "{error}"),
            Self::OutOfMemory => write!(f, "out of memory"),
            Self::Map(error) => write!(f, "mapping failed: {error:?}"),
        }
    }
}

impl From<MapError> for LoadError {
    fn from(error: MapError) -> Self {
        match error {
            MapError::OutOfMemory => Self::OutOfMemory,
            other => Self::Map(other),
        }
    }
}

/// Loads `file` into the empty address space rooted at `root`, with boot frames for its
/// pages and page tables (they belong to the program for good: it cannot unmap them).
pub fn load(frames: &mut FrameAllocator, root: usize, file: &[u8]) -> Result<LoadedProgram, LoadError> {
    let plan: LoadPlan = elf::plan(file).map_err(LoadError::Elf)?;

    for segment in &plan.segments {
        let mut flags = Flags::USER;
        if segment.readable {
            flags |= Flags::READ;
        }
        if segment.writable {
            flags |= Flags::READ | Flags::WRITE;
        }
        if segment.executable {
            flags |= Flags::EXECUTE;
        }
        let data = segment_bytes(file, segment);
        let first_page = align_down(segment.virtual_address, PAGE_SIZE);
        let end = align_up(segment.end(), PAGE_SIZE).ok_or(LoadError::Elf(ElfError::Malformed))?;
        for page in (first_page..end).step_by(PAGE_SIZE) {
            let frame = page_frame(frames, root, page, flags)?;
            // The part of the segment's file bytes that falls in this page.
            let copy_start = page.max(segment.virtual_address);
            let copy_end = (page + PAGE_SIZE).min(segment.virtual_address + data.len());
            if copy_start < copy_end {
                let from = copy_start - segment.virtual_address;
                // SAFETY: `frame` backs this program's page, a boot frame the loader owns
                // (mapped only in the program's table, which nothing runs on yet); `data`
                // is the boot archive inside the kernel image, never a frame.
                unsafe {
                    memory::copy_into_frame(
                        frame,
                        copy_start - page,
                        &data[from..from + (copy_end - copy_start)],
                    )
                };
            }
        }
    }

    for page in (USER_STACK_TOP - USER_STACK_SIZE..USER_STACK_TOP).step_by(PAGE_SIZE) {
        page_frame(frames, root, page, Flags::USER | Flags::READ | Flags::WRITE)?;
    }

    Ok(LoadedProgram { entry: plan.entry, stack_pointer: USER_STACK_TOP })
}

/// The frame backing user page `page`, mapping a fresh zeroed one if there is none yet. Two
/// segments may share a page at their boundary; the page then gets both segments'
/// permissions, unless that would make it writable and executable.
pub fn page_frame(
    frames: &mut FrameAllocator,
    root: usize,
    page: usize,
    flags: Flags,
) -> Result<usize, LoadError> {
    let mut tables = DirectMap { frames: Some(frames) };
    if let Some(existing) = paging::translate(&tables, root, page) {
        let merged = existing.flags | flags;
        if merged.contains(Flags::WRITE | Flags::EXECUTE) {
            // A writable and an executable segment share a page: refuse rather than map W+X.
            return Err(LoadError::Elf(ElfError::Overlapping));
        }
        if merged != existing.flags {
            let frame = paging::unmap(&mut tables, root, page, PageSize::Small)?;
            let mut permissions = Flags::USER;
            for bit in [Flags::READ, Flags::WRITE, Flags::EXECUTE] {
                if merged.contains(bit) {
                    permissions |= bit;
                }
            }
            paging::map(&mut tables, root, page, frame, PageSize::Small, permissions)?;
        }
        return Ok(existing.physical_address);
    }
    let frame = tables.frames.as_mut().and_then(|f| f.allocate()).ok_or(LoadError::OutOfMemory)?;
    // SAFETY: the allocator just handed the frame out; nothing refers to it yet.
    unsafe { memory::zero_frame(frame) };
    paging::map(&mut tables, root, page, frame, PageSize::Small, flags)?;
    Ok(frame)
}
