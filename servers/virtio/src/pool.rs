//! The DMA pool's books: which of its pages hold virtqueues, and which bytes of its bounce
//! arena are lent to the request in flight. Pure bookkeeping (no memory is touched here), so
//! it is host-tested; [`crate::hal`] pairs it with the mapped frames.
//!
//! The pool is one run of pages, physically contiguous and mapped at one virtual range
//! ([`Region`]), in two parts:
//!
//! - **queue pages**, the first `queue_pages`: whole pages for virtqueue rings
//!   (`Hal::dma_alloc`), first fit, given back when a queue goes;
//! - **the bounce arena**, the rest: every buffer the driver hands the device that is not
//!   already pool memory (a request's header, the caller's data, the status byte) is copied
//!   here (`Hal::share`), so the device never reads or writes anyone else's memory. The arena
//!   is a bump allocator of [`BOUNCE_ALIGN`]-byte pieces: requests complete one at a time, so
//!   when every lent piece is back the arena starts again from its floor.
//!
//! Invariants: a queue page is free or lent to one queue; the arena's lent pieces lie in
//! `[floor, top)` and `lent` counts them; `floor <= top <= end`, all multiples of
//! [`BOUNCE_ALIGN`]. A request that never completes (its device timed out) is
//! [`Pool::abandon`]ed: its pieces stay lent for ever (the device may still write them), the
//! floor moves past them, and later requests use what is left.

/// Bytes in a page.
pub const PAGE_SIZE: usize = 4096;

/// Alignment (and rounding) of every piece of the bounce arena: a cache line, more than any
/// virtio structure needs (descriptors ask 16).
pub const BOUNCE_ALIGN: usize = 64;

/// Most queue pages a pool tracks (one bit each).
pub const MAX_QUEUE_PAGES: usize = 64;

/// Where the pool lies: `pages` pages mapped at `virtual_base`, physically contiguous from
/// `physical_base`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Its first byte in this program's address space (page aligned).
    pub virtual_base: usize,
    /// Its first byte as the device sees it (page aligned).
    pub physical_base: u64,
    /// How many pages.
    pub pages: usize,
}

impl Region {
    /// Its size in bytes.
    pub fn bytes(&self) -> usize {
        self.pages.saturating_mul(PAGE_SIZE)
    }

    /// Whether `[address, address + length)` lies inside it.
    pub fn contains(&self, address: usize, length: usize) -> bool {
        let Some(offset) = address.checked_sub(self.virtual_base) else { return false };
        offset.checked_add(length).is_some_and(|end| end <= self.bytes())
    }

    /// The physical address of the pool byte at virtual `address`.
    pub fn physical(&self, address: usize) -> Option<u64> {
        if !self.contains(address, 0) || address - self.virtual_base == self.bytes() {
            return None;
        }
        let offset = u64::try_from(address - self.virtual_base).ok()?;
        self.physical_base.checked_add(offset)
    }

    /// The virtual address of the pool byte at `physical`.
    pub fn virtual_address(&self, physical: u64) -> Option<usize> {
        let offset = usize::try_from(physical.checked_sub(self.physical_base)?).ok()?;
        (offset < self.bytes()).then(|| self.virtual_base + offset)
    }
}

/// The books of one pool.
#[derive(Debug)]
pub struct Pool {
    region: Region,
    queue_pages: usize,
    /// Bit `i`: queue page `i` is lent.
    queue_used: u64,
    /// Offsets from the region's start: lent arena pieces lie in `[floor, top)`, `[top, end)`
    /// is free.
    floor: usize,
    top: usize,
    end: usize,
    /// Arena pieces lent and not given back.
    lent: usize,
}

/// `length` rounded up to [`BOUNCE_ALIGN`], if it fits.
fn rounded(length: usize) -> Option<usize> {
    length.checked_next_multiple_of(BOUNCE_ALIGN)
}

impl Pool {
    /// Books for `region`, whose first `queue_pages` pages are for queues and the rest the
    /// bounce arena. `None` if the region is not page aligned, there are more than
    /// [`MAX_QUEUE_PAGES`] queue pages, or no arena page is left.
    pub fn new(region: Region, queue_pages: usize) -> Option<Pool> {
        let aligned = region.virtual_base.is_multiple_of(PAGE_SIZE)
            && region.physical_base.is_multiple_of(PAGE_SIZE as u64)
            && region.virtual_base.checked_add(region.bytes()).is_some()
            && region.physical_base.checked_add(region.bytes() as u64).is_some();
        if !aligned || queue_pages > MAX_QUEUE_PAGES || queue_pages >= region.pages {
            return None;
        }
        let floor = queue_pages * PAGE_SIZE;
        Some(Pool { region, queue_pages, queue_used: 0, floor, top: floor, end: region.bytes(), lent: 0 })
    }

    /// Where it lies.
    pub fn region(&self) -> Region {
        self.region
    }

    /// Lends `pages` contiguous queue pages (first fit); returns the virtual address of the
    /// first. `None` if no run that long is free (or `pages` is 0).
    pub fn allocate_pages(&mut self, pages: usize) -> Option<usize> {
        if pages == 0 || pages > self.queue_pages {
            return None;
        }
        let run = if pages == 64 { u64::MAX } else { (1u64 << pages) - 1 };
        let first = (0..=self.queue_pages - pages).find(|&first| self.queue_used & (run << first) == 0)?;
        self.queue_used |= run << first;
        Some(self.region.virtual_base + first * PAGE_SIZE)
    }

    /// Gives back the `pages` queue pages lent from `address`. Returns whether they were all
    /// lent (otherwise nothing changes).
    pub fn free_pages(&mut self, address: usize, pages: usize) -> bool {
        let Some(offset) = address.checked_sub(self.region.virtual_base) else { return false };
        if !offset.is_multiple_of(PAGE_SIZE) || pages == 0 {
            return false;
        }
        let first = offset / PAGE_SIZE;
        if first.checked_add(pages).is_none_or(|end| end > self.queue_pages) {
            return false;
        }
        let run = if pages == 64 { u64::MAX } else { ((1u64 << pages) - 1) << first };
        if self.queue_used & run != run {
            return false;
        }
        self.queue_used &= !run;
        true
    }

    /// Free bytes of the arena.
    pub fn arena_free(&self) -> usize {
        self.end - self.top
    }

    /// Whether pieces of these lengths can all be lent now (what a request will share).
    pub fn can_lend(&self, lengths: &[usize]) -> bool {
        lengths
            .iter()
            .try_fold(0usize, |total, &length| total.checked_add(rounded(length)?))
            .is_some_and(|total| total <= self.arena_free())
    }

    /// Lends `length` bytes of the arena; returns their virtual address. `None` if they do not
    /// fit (or `length` is 0).
    pub fn lend(&mut self, length: usize) -> Option<usize> {
        if length == 0 {
            return None;
        }
        let size = rounded(length)?;
        if size > self.arena_free() {
            return None;
        }
        let offset = self.top;
        self.top += size;
        self.lent += 1;
        Some(self.region.virtual_base + offset)
    }

    /// A lent piece at `address` comes back. When none is lent any more, the arena starts
    /// again from its floor. Returns whether `address` was lent arena memory.
    pub fn give_back(&mut self, address: usize) -> bool {
        let Some(offset) = address.checked_sub(self.region.virtual_base) else { return false };
        if offset < self.floor || offset >= self.top || self.lent == 0 {
            return false;
        }
        self.lent -= 1;
        if self.lent == 0 {
            self.top = self.floor;
        }
        true
    }

    /// Pieces lent and not given back.
    pub fn lent(&self) -> usize {
        self.lent
    }

    /// Takes `pages` whole pages off the arena's end for good (a network device's packet
    /// buffers, which are with the device all the time and so cannot be bounce pieces: the
    /// arena starts again only when every piece is back). Returns the virtual address of
    /// the first. `None` if the arena would be left without a page, or the pages are lent.
    pub fn take_arena_pages(&mut self, pages: usize) -> Option<usize> {
        let bytes = pages.checked_mul(PAGE_SIZE)?;
        let new_end = self.end.checked_sub(bytes)?;
        if pages == 0 || new_end < self.top || new_end <= self.floor {
            return None;
        }
        self.end = new_end;
        Some(self.region.virtual_base + new_end)
    }

    /// Gives up the pieces lent now (a request that will never complete): they stay lent for
    /// ever, and the arena goes on past them.
    pub fn abandon(&mut self) {
        self.floor = self.top;
        self.lent = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGION: Region = Region { virtual_base: 0x21_0020_0000, physical_base: 0x8765_0000, pages: 8 };

    #[test]
    fn a_region_translates_only_its_own_bytes() {
        assert_eq!(REGION.bytes(), 8 * PAGE_SIZE);
        assert!(REGION.contains(0x21_0020_0000, 8 * PAGE_SIZE));
        assert!(!REGION.contains(0x21_0020_0001, 8 * PAGE_SIZE));
        assert!(!REGION.contains(0x21_001f_ffff, 1));
        assert!(!REGION.contains(usize::MAX, 2));
        assert_eq!(REGION.physical(0x21_0020_0123), Some(0x8765_0123));
        assert_eq!(REGION.physical(0x21_0020_0000 + 8 * PAGE_SIZE), None);
        assert_eq!(REGION.physical(0x21_001f_ffff), None);
        assert_eq!(REGION.virtual_address(0x8765_1000), Some(0x21_0020_1000));
        assert_eq!(REGION.virtual_address(0x8765_8000), None);
        assert_eq!(REGION.virtual_address(0x8764_ffff), None);
    }

    #[test]
    fn pools_that_cannot_work_are_refused() {
        assert!(Pool::new(REGION, 8).is_none(), "no arena page");
        assert!(Pool::new(Region { virtual_base: 0x1234, ..REGION }, 2).is_none());
        assert!(Pool::new(Region { physical_base: 0x1234, ..REGION }, 2).is_none());
        assert!(Pool::new(Region { pages: 100, ..REGION }, 65).is_none());
        assert!(Pool::new(REGION, 2).is_some());
    }

    #[test]
    fn queue_pages_are_lent_first_fit_and_come_back() {
        let mut pool = Pool::new(REGION, 4).unwrap();
        let base = REGION.virtual_base;
        assert_eq!(pool.allocate_pages(2), Some(base));
        assert_eq!(pool.allocate_pages(1), Some(base + PAGE_SIZE * 2));
        assert_eq!(pool.allocate_pages(2), None, "only one page left");
        assert_eq!(pool.allocate_pages(0), None);
        assert_eq!(pool.allocate_pages(5), None);
        assert!(pool.free_pages(base, 2));
        assert!(!pool.free_pages(base, 2), "given back twice");
        assert!(!pool.free_pages(base + 3 * PAGE_SIZE, 1), "never lent");
        assert!(!pool.free_pages(base + 2 * PAGE_SIZE, 3), "past the queue pages");
        assert!(!pool.free_pages(base + 1, 1), "not a page");
        assert_eq!(pool.allocate_pages(3), None, "pages 0-1 and 3 are free, not three in a row");
        assert_eq!(pool.allocate_pages(2), Some(base));
        // Queue pages never come out of the arena.
        assert_eq!(pool.arena_free(), 4 * PAGE_SIZE);
    }

    #[test]
    fn the_arena_lends_aligned_pieces_and_starts_again_when_all_are_back() {
        let mut pool = Pool::new(REGION, 2).unwrap();
        let arena = REGION.virtual_base + 2 * PAGE_SIZE;
        assert!(pool.can_lend(&[16, 4096, 1]));
        let header = pool.lend(16).unwrap();
        let data = pool.lend(4096).unwrap();
        let status = pool.lend(1).unwrap();
        assert_eq!((header, data, status), (arena, arena + 64, arena + 64 + 4096));
        assert_eq!(pool.lent(), 3);
        assert_eq!(pool.arena_free(), 6 * PAGE_SIZE - 64 - 4096 - 64);
        assert!(pool.give_back(data));
        assert!(pool.give_back(header));
        assert!(!pool.give_back(arena - 1), "not arena memory");
        assert!(!pool.give_back(status + 64), "past what was lent");
        assert!(pool.give_back(status));
        assert_eq!(pool.lent(), 0);
        assert_eq!(pool.arena_free(), 6 * PAGE_SIZE);
        assert_eq!(pool.lend(8), Some(arena));
        assert_eq!(pool.lend(0), None);
    }

    #[test]
    fn what_can_be_lent_is_exactly_what_lend_gives() {
        let mut pool = Pool::new(REGION, 2).unwrap();
        let free = pool.arena_free();
        assert!(pool.can_lend(&[free - 64, 1]));
        assert!(!pool.can_lend(&[free - 64, 65]));
        assert!(!pool.can_lend(&[usize::MAX, 1]));
        assert!(pool.lend(free - 64).is_some());
        assert!(pool.lend(65).is_none());
        assert!(pool.lend(64).is_some());
        assert_eq!(pool.arena_free(), 0);
        assert!(pool.lend(1).is_none());
    }

    #[test]
    fn pages_taken_off_the_arena_end_never_come_back_and_leave_a_page() {
        let mut pool = Pool::new(REGION, 2).unwrap();
        let end = REGION.virtual_base + 8 * PAGE_SIZE;
        assert_eq!(pool.take_arena_pages(2), Some(end - 2 * PAGE_SIZE));
        assert_eq!(pool.arena_free(), 4 * PAGE_SIZE);
        assert_eq!(pool.take_arena_pages(0), None);
        assert_eq!(pool.take_arena_pages(4), None, "the arena keeps a page");
        let piece = pool.lend(3 * PAGE_SIZE + 1).unwrap();
        assert_eq!(pool.take_arena_pages(1), None, "lent memory is not taken");
        assert!(pool.give_back(piece));
        assert_eq!(pool.take_arena_pages(3), Some(end - 5 * PAGE_SIZE));
        assert!(!pool.can_lend(&[PAGE_SIZE + 1]), "what was taken is not lent");
        assert!(pool.lend(PAGE_SIZE).is_some());
    }

    #[test]
    fn an_abandoned_request_keeps_its_pieces_and_the_rest_goes_on() {
        let mut pool = Pool::new(REGION, 2).unwrap();
        let stuck = pool.lend(PAGE_SIZE).unwrap();
        pool.lend(1).unwrap();
        pool.abandon();
        assert_eq!(pool.lent(), 0);
        assert!(!pool.give_back(stuck), "abandoned pieces never come back");
        let next = pool.lend(16).unwrap();
        assert!(next > stuck + PAGE_SIZE, "lent past the abandoned pieces");
        assert!(pool.give_back(next));
        // Back to the new floor, not the old one.
        assert_eq!(pool.lend(16), Some(next));
        assert_eq!(pool.arena_free(), 6 * PAGE_SIZE - PAGE_SIZE - 64 - 64);
    }
}
