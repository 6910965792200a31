//! Pages made on first touch. A process's heap and stack are address ranges it is given
//! whole, but only a few of their pages are made when it is built; a page of them is made
//! (from the process's own quota) and mapped the first time the process touches it: the
//! touch is a page fault, which arrives at the manager as a fault message, and the manager
//! maps the page and resumes the thread at the same instruction. A program that uses a
//! little of its heap pays for a little of it, and a spawn does not zero pages nobody
//! reads.
//!
//! This is the bookkeeping (host-tested): which pages of which ranges are mapped. A fault
//! outside every range, or on a page already mapped (a write to a read-only page, say),
//! is no demand: the process has faulted.
//!
//! Invariant: a page is claimed at most once; ranges do not overlap.

use alloc::vec;
use alloc::vec::Vec;

/// Bytes in a page.
pub const PAGE_BYTES: usize = 4096;

/// One range: its first page's address, its length, and a bit per page (set: mapped).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Range {
    start: usize,
    pages: usize,
    mapped: Vec<u64>,
}

impl Range {
    fn page_of(&self, address: usize) -> Option<usize> {
        let offset = address.checked_sub(self.start)?;
        let page = offset / PAGE_BYTES;
        (page < self.pages).then_some(page)
    }

    fn is_mapped(&self, page: usize) -> bool {
        self.mapped[page / 64] & (1 << (page % 64)) != 0
    }

    fn mark(&mut self, page: usize) {
        self.mapped[page / 64] |= 1 << (page % 64);
    }
}

/// The ranges of one process whose pages are made on first touch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Demand {
    ranges: Vec<Range>,
}

impl Demand {
    /// No ranges.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `pages` pages from `start` (page aligned), of which `resident` (page indices)
    /// are mapped already. `false` (nothing added) if `start` is not page aligned, the
    /// range wraps or overlaps one already added.
    pub fn add(&mut self, start: usize, pages: usize, resident: impl IntoIterator<Item = usize>) -> bool {
        let Some(end) = pages.checked_mul(PAGE_BYTES).and_then(|bytes| start.checked_add(bytes)) else {
            return false;
        };
        let overlaps = self
            .ranges
            .iter()
            .any(|range| start < range.start + range.pages * PAGE_BYTES && range.start < end);
        if !start.is_multiple_of(PAGE_BYTES) || overlaps || pages == 0 {
            return false;
        }
        let mut range = Range { start, pages, mapped: vec![0; pages.div_ceil(64)] };
        for page in resident {
            if page < pages {
                range.mark(page);
            }
        }
        self.ranges.push(range);
        true
    }

    /// A touch at `address`: the address of the page to make and map (now counted as
    /// mapped), or `None` if the address lies in no range or its page is mapped already.
    pub fn claim(&mut self, address: usize) -> Option<usize> {
        let range = self.ranges.iter_mut().find(|range| range.page_of(address).is_some())?;
        let page = range.page_of(address)?;
        if range.is_mapped(page) {
            return None;
        }
        range.mark(page);
        Some(range.start + page * PAGE_BYTES)
    }

    /// How many pages of the ranges are mapped.
    pub fn mapped(&self) -> usize {
        self.ranges
            .iter()
            .map(|range| range.mapped.iter().map(|word| word.count_ones() as usize).sum::<usize>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAP: usize = 0x10_0000_0000;
    const STACK: usize = 0x3f_fffe_0000;

    #[test]
    fn pages_are_claimed_once_and_only_inside_the_ranges() {
        let mut demand = Demand::new();
        assert!(demand.add(HEAP, 64, [0]));
        assert!(demand.add(STACK, 16, [15]));
        assert_eq!(demand.mapped(), 2);
        assert_eq!(demand.claim(HEAP + 5 * PAGE_BYTES + 17), Some(HEAP + 5 * PAGE_BYTES));
        assert_eq!(demand.claim(HEAP + 5 * PAGE_BYTES + 100), None, "mapped already: a real fault");
        assert_eq!(demand.claim(HEAP + 17), None, "resident");
        assert_eq!(demand.claim(HEAP + 64 * PAGE_BYTES), None, "past the heap");
        assert_eq!(demand.claim(STACK - 1), None, "the guard page under the stack");
        assert_eq!(demand.claim(STACK), Some(STACK));
        assert_eq!(demand.claim(0), None);
        assert_eq!(demand.claim(usize::MAX), None);
        assert_eq!(demand.mapped(), 4);
    }

    #[test]
    fn bad_ranges_are_refused() {
        let mut demand = Demand::new();
        assert!(demand.add(HEAP, 64, []));
        assert!(!demand.add(HEAP + 63 * PAGE_BYTES, 2, []), "overlaps");
        assert!(!demand.add(HEAP - PAGE_BYTES, 2, []), "overlaps from below");
        assert!(!demand.add(HEAP + 64 * PAGE_BYTES + 1, 1, []), "misaligned");
        assert!(!demand.add(usize::MAX - PAGE_BYTES + 1, 2, []), "wraps");
        assert!(!demand.add(0x5000, 0, []), "empty");
        assert!(demand.add(HEAP + 64 * PAGE_BYTES, 1, []), "adjacent is fine");
    }
}
