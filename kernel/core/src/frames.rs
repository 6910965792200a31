//! The boot-time physical frame allocator.
//!
//! At boot the kernel needs frames for its own page tables and for the root task. It takes
//! them from the RAM banks of the device tree minus every reserved range (firmware, the
//! kernel image, the device tree blob). Frames are handed out lowest address first and never
//! returned: once the capability system exists, everything left over becomes Untyped memory
//! owned by user level, and the kernel allocates nothing more.
//!
//! Invariant: the free ranges are page aligned, non-empty, sorted and pairwise disjoint.

use crate::board::Region;
use crate::layout::{PAGE_SIZE, align_down, align_up};
use arrayvec::ArrayVec;

/// Most disjoint free ranges tracked.
pub const MAX_FREE_RANGES: usize = 32;

/// Why the allocator could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Reservations split memory into more than [`MAX_FREE_RANGES`] pieces.
    TooFragmented,
}

/// Hands out 4 KiB physical frames from the free ranges.
#[derive(Clone, Debug)]
pub struct FrameAllocator {
    free: ArrayVec<Region, MAX_FREE_RANGES>,
    allocated_pages: usize,
}

impl FrameAllocator {
    /// Builds the free list: `memory` minus `reserved`, shrunk to whole pages.
    pub fn new(memory: &[Region], reserved: &[Region]) -> Result<Self, FrameError> {
        let mut free: ArrayVec<Region, MAX_FREE_RANGES> = ArrayVec::new();
        for bank in memory {
            let Some(start) = align_up(bank.start, PAGE_SIZE) else { continue };
            let end = align_down(bank.end(), PAGE_SIZE);
            if start < end {
                free.try_push(Region { start, size: end - start }).map_err(|_| FrameError::TooFragmented)?;
            }
        }
        for hole in reserved {
            // Remove whole pages touched by the hole.
            let hole_start = align_down(hole.start, PAGE_SIZE);
            let hole_end = align_up(hole.end(), PAGE_SIZE).unwrap_or(usize::MAX);
            let mut next: ArrayVec<Region, MAX_FREE_RANGES> = ArrayVec::new();
            for range in &free {
                if range.end() <= hole_start || hole_end <= range.start {
                    next.try_push(*range).map_err(|_| FrameError::TooFragmented)?;
                    continue;
                }
                if range.start < hole_start {
                    next.try_push(Region { start: range.start, size: hole_start - range.start })
                        .map_err(|_| FrameError::TooFragmented)?;
                }
                if hole_end < range.end() {
                    next.try_push(Region { start: hole_end, size: range.end() - hole_end })
                        .map_err(|_| FrameError::TooFragmented)?;
                }
            }
            free = next;
        }
        free.sort_unstable_by_key(|range| range.start);
        // Banks from a sane tree never overlap; if they do, merge them so no frame is handed
        // out twice.
        let mut merged: ArrayVec<Region, MAX_FREE_RANGES> = ArrayVec::new();
        for range in free {
            match merged.last_mut() {
                Some(last) if range.start <= last.end() => {
                    let end = last.end().max(range.end());
                    last.size = end - last.start;
                }
                _ => merged.push(range),
            }
        }
        Ok(Self { free: merged, allocated_pages: 0 })
    }

    /// One frame, or `None` when memory is exhausted. The frame's contents are unspecified.
    pub fn allocate(&mut self) -> Option<usize> {
        self.allocate_contiguous(1, PAGE_SIZE)
    }

    /// `pages` physically contiguous frames starting at a multiple of `align` (a power of two,
    /// at least [`PAGE_SIZE`]). Skipped frames below the alignment stay free.
    pub fn allocate_contiguous(&mut self, pages: usize, align: usize) -> Option<usize> {
        if pages == 0 || !align.is_power_of_two() || align < PAGE_SIZE {
            return None;
        }
        let bytes = pages.checked_mul(PAGE_SIZE)?;
        for index in 0..self.free.len() {
            let range = self.free[index];
            let Some(start) = align_up(range.start, align) else { continue };
            let Some(end) = start.checked_add(bytes) else { continue };
            if end > range.end() {
                continue;
            }
            // Split into [range.start, start) and [end, range.end()).
            let before = Region { start: range.start, size: start - range.start };
            let after = Region { start: end, size: range.end() - end };
            self.free.remove(index);
            let mut insert_at = index;
            if before.size > 0 {
                self.free.insert(insert_at, before);
                insert_at += 1;
            }
            if after.size > 0 {
                if self.free.is_full() {
                    // Cannot record the tail: give the allocation back and fail.
                    self.free.remove(insert_at - 1);
                    self.free.insert(insert_at - 1, range);
                    return None;
                }
                self.free.insert(insert_at, after);
            }
            self.allocated_pages += pages;
            return Some(start);
        }
        None
    }

    /// The free ranges, sorted by address.
    pub fn free_ranges(&self) -> &[Region] {
        &self.free
    }

    /// Bytes still free.
    pub fn free_bytes(&self) -> usize {
        self.free.iter().map(|range| range.size).sum()
    }

    /// Pages handed out so far.
    pub fn allocated_pages(&self) -> usize {
        self.allocated_pages
    }
}

/// Splits `region` into naturally aligned power-of-two blocks no larger than
/// `2^max_bits` and no smaller than `2^min_bits` (smaller leftovers are skipped), in address
/// order: the shapes Untyped capabilities can have. Yields `(start, size_bits)`.
pub fn aligned_blocks(region: Region, min_bits: u32, max_bits: u32) -> impl Iterator<Item = (usize, u32)> {
    let mut start = region.start;
    let end = region.end();
    core::iter::from_fn(move || {
        loop {
            if start >= end {
                return None;
            }
            let remaining = end - start;
            let alignment_bits = if start == 0 { usize::BITS - 1 } else { start.trailing_zeros() };
            let size_bits = alignment_bits.min(remaining.ilog2()).min(max_bits);
            let block = start;
            start += 1 << size_bits;
            if size_bits >= min_bits {
                return Some((block, size_bits));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::collections::HashSet;

    const MIB: usize = 1 << 20;

    fn region(start: usize, size: usize) -> Region {
        Region { start, size }
    }

    #[test]
    fn reservations_are_carved_out_page_granular() {
        let memory = [region(0x8000_0000, 16 * MIB)];
        let reserved = [
            region(0x8000_0000, 0x4_0000), // firmware
            region(0x8020_0000, 0x1_2345), // kernel image, not page sized
            region(0x80ff_f800, 0x100),    // dtb, straddles nothing but is unaligned
        ];
        let frames = FrameAllocator::new(&memory, &reserved).unwrap();
        assert_eq!(
            frames.free_ranges(),
            &[region(0x8004_0000, 0x8020_0000 - 0x8004_0000), region(0x8021_3000, 0x80ff_f000 - 0x8021_3000),]
        );
        assert_eq!(frames.free_bytes(), 16 * MIB - 0x4_0000 - 0x1_3000 - 0x1000);
    }

    #[test]
    fn allocation_is_lowest_first_disjoint_and_exhausts_cleanly() {
        let memory = [region(0x1000, 0x3000), region(0x10_0000, 0x2000)];
        let mut frames = FrameAllocator::new(&memory, &[region(0x2000, 0x10)]).unwrap();
        let mut seen = HashSet::new();
        let mut order = std::vec::Vec::new();
        while let Some(frame) = frames.allocate() {
            assert_eq!(frame % PAGE_SIZE, 0);
            assert!(seen.insert(frame), "frame {frame:#x} handed out twice");
            order.push(frame);
        }
        assert_eq!(order, [0x1000, 0x3000, 0x10_0000, 0x10_1000]);
        assert_eq!(frames.allocated_pages(), 4);
        assert_eq!(frames.free_bytes(), 0);
        assert_eq!(frames.allocate(), None);
    }

    #[test]
    fn contiguous_aligned_allocation_keeps_the_skipped_frames() {
        let mut frames = FrameAllocator::new(&[region(0x1000, 4 * MIB)], &[]).unwrap();
        let big = frames.allocate_contiguous(512, 2 * MIB).unwrap();
        assert_eq!(big, 2 * MIB);
        assert_eq!(frames.allocate(), Some(0x1000), "frames below the aligned block stay free");
        assert_eq!(frames.free_bytes(), 4 * MIB - 2 * MIB - 0x1000);
        assert_eq!(frames.allocate_contiguous(0, PAGE_SIZE), None);
        assert_eq!(frames.allocate_contiguous(1, 3000), None);
        assert_eq!(frames.allocate_contiguous(usize::MAX, PAGE_SIZE), None);
    }

    #[test]
    fn overlapping_banks_are_merged() {
        let memory = [region(0x1000, 0x4000), region(0x3000, 0x4000)];
        let frames = FrameAllocator::new(&memory, &[]).unwrap();
        assert_eq!(frames.free_ranges(), &[region(0x1000, 0x6000)]);
    }

    #[test]
    fn a_reservation_covering_everything_leaves_nothing() {
        let frames = FrameAllocator::new(&[region(0x1000, 0x4000)], &[region(0, usize::MAX)]).unwrap();
        assert_eq!(frames.free_bytes(), 0);
    }

    #[test]
    fn aligned_blocks_cover_the_region_exactly() {
        let region = region(0x8021_3000, 0x8fe0_0000 - 0x8021_3000);
        let blocks: std::vec::Vec<_> = aligned_blocks(region, 12, 30).collect();
        let mut next = region.start;
        for &(start, bits) in &blocks {
            assert_eq!(start, next, "blocks are contiguous");
            assert_eq!(start % (1 << bits), 0, "block at {start:#x} is aligned to its size");
            next = start + (1 << bits);
        }
        assert_eq!(next, region.end());
        assert!(blocks.len() < 40, "{} blocks", blocks.len());
        let capped: std::vec::Vec<_> = aligned_blocks(self::region(0, 4 << 30), 12, 30).collect();
        assert_eq!(capped, [(0, 30), (1 << 30, 30), (2 << 30, 30), (3 << 30, 30)]);
        let small: std::vec::Vec<_> = aligned_blocks(self::region(0x1008, 0x2000), 12, 30).collect();
        assert_eq!(small, [(0x2000, 12)], "pieces below the minimum are skipped");
    }

    #[test]
    fn too_many_holes_is_an_error() {
        let holes: std::vec::Vec<_> = (0..40).map(|i| region(0x10_0000 + i * 0x2000, 0x1000)).collect();
        assert_eq!(
            FrameAllocator::new(&[region(0x10_0000, MIB)], &holes).unwrap_err(),
            FrameError::TooFragmented
        );
    }
}
