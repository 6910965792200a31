//! Memory shared with another program: frames mapped in this program's mapping window.
//!
//! The process builder (`loader::build`) gives every program a window of
//! [`WINDOW_PAGES`] pages at [`WINDOW_ADDRESS`] with its page table already installed, and
//! the capability to its own address space at [`ADDRESS_SPACE_SLOT`], so a program that
//! receives a frame capability (a server's shared buffer, say) maps it without memory of
//! its own for page tables. This module hands out runs of the window ([`Region::reserve`])
//! and copies bytes in and out of them; it never makes a Rust reference to shared memory
//! (the other side may write it at any moment), only checked copies
//! ([`crate::memory::write_bytes`], [`crate::memory::read_bytes`]).
//!
//! A region's frames are the caller's to map ([`Region::map`]) and to keep: the mapping
//! lasts as long as the frame capability does, and goes when it is deleted or revoked (a
//! server revoking a session's donation unmaps the buffer from both sides). An access to a
//! page whose frame is gone faults, as any access to an unmapped page does.
//!
//! Reservation is a bitmap of the window, one bit per page in [`WINDOW_WORDS`] atomic
//! words; a region lies within one word (at most 64 pages), so reserving is one
//! compare-and-swap and safe from any thread.

use core::sync::atomic::{AtomicU64, Ordering};

#[cfg(target_arch = "riscv64")]
use kernel_abi::{Error, Rights};

use crate::ipc::Cptr;

/// Where the mapping window starts: the 2 MiB just below the stack's (which holds the
/// stack, the start info page and the IPC buffer), so its page table hangs off the same
/// upper table.
pub const WINDOW_ADDRESS: usize = 0x3f_ffc0_0000;
/// Pages in the window (one page table's worth: 2 MiB).
pub const WINDOW_PAGES: usize = 512;
/// Words of the reservation bitmap.
const WINDOW_WORDS: usize = WINDOW_PAGES / 64;
/// Bytes in a page.
pub const PAGE_BYTES: usize = 4096;
/// The slot of the capability to the program's own address space (every program the
/// process builder makes has it there).
pub const ADDRESS_SPACE_SLOT: Cptr = 2;
/// The most pages one region may have (one bitmap word).
pub const MAX_REGION_PAGES: usize = 64;

static RESERVED: [AtomicU64; WINDOW_WORDS] = [const { AtomicU64::new(0) }; WINDOW_WORDS];

/// A run of pages of the mapping window, reserved for one shared buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    first_page: usize,
    pages: usize,
}

/// The bits of `pages` pages from bit `shift`.
fn run(pages: usize, shift: usize) -> u64 {
    let ones = if pages >= 64 { u64::MAX } else { (1u64 << pages) - 1 };
    ones << shift
}

impl Region {
    /// Reserves `pages` contiguous pages of the window (1 to [`MAX_REGION_PAGES`]); `None`
    /// if no run that long is free.
    pub fn reserve(pages: usize) -> Option<Region> {
        if pages == 0 || pages > MAX_REGION_PAGES {
            return None;
        }
        for (word_index, word) in RESERVED.iter().enumerate() {
            let mut current = word.load(Ordering::Acquire);
            'shifts: loop {
                let Some(shift) = (0..=64 - pages).find(|&shift| current & run(pages, shift) == 0) else {
                    break 'shifts;
                };
                let wanted = current | run(pages, shift);
                match word.compare_exchange(current, wanted, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return Some(Region { first_page: word_index * 64 + shift, pages }),
                    Err(now) => current = now,
                }
            }
        }
        None
    }

    /// Gives the pages back to the window. The caller has deleted (or lost) every frame it
    /// mapped there, so nothing is mapped in them any more.
    pub fn release(self) {
        let (word, shift) = (self.first_page / 64, self.first_page % 64);
        RESERVED[word].fetch_and(!run(self.pages, shift), Ordering::AcqRel);
    }

    /// Its first byte's address.
    pub fn address(&self) -> usize {
        WINDOW_ADDRESS + self.first_page * PAGE_BYTES
    }

    /// How many pages.
    pub fn pages(&self) -> usize {
        self.pages
    }

    /// Its size in bytes.
    pub fn bytes(&self) -> usize {
        self.pages * PAGE_BYTES
    }

    #[cfg(target_arch = "riscv64")]
    /// Maps `frame` (a frame capability of ours) as page `index` of the region, with
    /// `rights` (read, or read and write).
    pub fn map(&self, index: usize, frame: Cptr, rights: Rights) -> Result<(), Error> {
        if index >= self.pages {
            return Err(Error::RangeError);
        }
        crate::object::map_frame(frame, ADDRESS_SPACE_SLOT, self.address() + index * PAGE_BYTES, rights)
    }

    /// Whether `[offset, offset + length)` lies in the region.
    pub fn contains(&self, offset: usize, length: usize) -> bool {
        offset.checked_add(length).is_some_and(|end| end <= self.bytes())
    }

    #[cfg(target_arch = "riscv64")]
    /// Copies `bytes` into the region at `offset`; `false` (nothing written) if the range
    /// is not in the region. Faults if a page of the range has no frame mapped writable.
    pub fn write(&self, offset: usize, bytes: &[u8]) -> bool {
        self.contains(offset, bytes.len()) && crate::memory::write_bytes(self.address() + offset, bytes)
    }

    #[cfg(target_arch = "riscv64")]
    /// Copies `into.len()` bytes of the region at `offset` into `into`; `false` (nothing
    /// read) if the range is not in the region. Faults if a page of the range has no frame
    /// mapped.
    pub fn read(&self, offset: usize, into: &mut [u8]) -> bool {
        self.contains(offset, into.len()) && crate::memory::read_bytes(self.address() + offset, into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_do_not_overlap_and_come_back() {
        let a = Region::reserve(16).unwrap();
        let b = Region::reserve(64).unwrap();
        let c = Region::reserve(16).unwrap();
        let overlap = |x: &Region, y: &Region| {
            x.first_page < y.first_page + y.pages && y.first_page < x.first_page + x.pages
        };
        assert!(!overlap(&a, &b) && !overlap(&b, &c) && !overlap(&a, &c));
        assert!(
            a.address() >= WINDOW_ADDRESS && c.address() + c.bytes() <= WINDOW_ADDRESS + WINDOW_PAGES * 4096
        );
        assert!(Region::reserve(0).is_none() && Region::reserve(65).is_none());
        a.release();
        let again = Region::reserve(16).unwrap();
        assert_eq!(again, a, "a released run is found again");
        for region in [again, b, c] {
            region.release();
        }
        // The window runs out, and says so (one test: the bitmap is the process's).
        let mut taken = std::vec::Vec::new();
        while let Some(region) = Region::reserve(64) {
            taken.push(region);
        }
        assert_eq!(taken.len(), WINDOW_WORDS);
        assert!(Region::reserve(1).is_none());
        for region in taken {
            region.release();
        }
    }

    #[test]
    fn ranges_outside_the_region_are_refused() {
        let region = Region { first_page: 0, pages: 2 };
        assert!(region.contains(0, 8192) && region.contains(8192, 0));
        assert!(!region.contains(1, 8192) && !region.contains(usize::MAX, 2));
    }
}
