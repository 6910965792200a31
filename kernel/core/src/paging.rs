//! Sv39 page tables: entry encoding, index arithmetic, map, translate and unmap.
//!
//! The walk is written against [`PhysicalMemory`], so the same code edits real page tables in
//! the kernel (through the direct map) and fake ones in host tests.
//!
//! Sv39: a virtual address has three 9-bit indices (level 2 is the root) above a 12-bit page
//! offset; bits 63..39 must copy bit 38. A leaf may sit at level 2 (1 GiB), level 1 (2 MiB) or
//! level 0 (4 KiB).

use crate::layout::PAGE_SHIFT;

/// Entries per table.
pub const ENTRIES: usize = 512;

/// Permission and status bits of a page table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flags(u64);

impl Flags {
    /// The entry is valid.
    pub const VALID: Self = Self(1 << 0);
    /// Readable.
    pub const READ: Self = Self(1 << 1);
    /// Writable.
    pub const WRITE: Self = Self(1 << 2);
    /// Executable.
    pub const EXECUTE: Self = Self(1 << 3);
    /// Accessible from user mode.
    pub const USER: Self = Self(1 << 4);
    /// Present in every address space.
    pub const GLOBAL: Self = Self(1 << 5);
    /// Accessed. Set up front, so hardware without A/D updates never faults on it.
    pub const ACCESSED: Self = Self(1 << 6);
    /// Dirty. Set up front for the same reason.
    pub const DIRTY: Self = Self(1 << 7);
    /// No bits.
    pub const NONE: Self = Self(0);

    /// The raw bits.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any of R, W, X is set (the entry is a leaf).
    pub const fn is_leaf(self) -> bool {
        self.0 & (Self::READ.0 | Self::WRITE.0 | Self::EXECUTE.0) != 0
    }
}

impl core::ops::BitOr for Flags {
    type Output = Self;
    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

impl core::ops::BitOrAssign for Flags {
    fn bitor_assign(&mut self, other: Self) {
        self.0 |= other.0;
    }
}

/// One 64-bit Sv39 entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry(pub u64);

impl Entry {
    const FLAG_MASK: u64 = 0x3ff;
    const PPN_MASK: u64 = (1 << 44) - 1;

    /// An entry pointing at physical address `address` (page aligned) with `flags`.
    pub const fn new(address: usize, flags: Flags) -> Self {
        Self((((address >> PAGE_SHIFT) as u64 & Self::PPN_MASK) << 10) | flags.0)
    }

    /// The physical address the entry points at.
    pub const fn address(self) -> usize {
        (((self.0 >> 10) & Self::PPN_MASK) as usize) << PAGE_SHIFT
    }

    /// The flag bits.
    pub const fn flags(self) -> Flags {
        Flags(self.0 & Self::FLAG_MASK)
    }

    /// Whether the V bit is set.
    pub const fn is_valid(self) -> bool {
        self.0 & Flags::VALID.0 != 0
    }
}

/// The three page sizes of Sv39.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageSize {
    /// 4 KiB, a level-0 leaf.
    Small,
    /// 2 MiB, a level-1 leaf.
    Large,
    /// 1 GiB, a level-2 leaf.
    Huge,
}

impl PageSize {
    /// Bytes in a page of this size.
    pub const fn bytes(self) -> usize {
        1 << (PAGE_SHIFT + 9 * self.level())
    }

    /// The table level a leaf of this size lives at.
    pub const fn level(self) -> usize {
        match self {
            Self::Small => 0,
            Self::Large => 1,
            Self::Huge => 2,
        }
    }
}

/// The index into the level-`level` table for `virtual_address`.
pub const fn index(virtual_address: usize, level: usize) -> usize {
    (virtual_address >> (PAGE_SHIFT + 9 * level)) & (ENTRIES - 1)
}

/// Whether `virtual_address` is a valid Sv39 address (bits 63..39 copy bit 38).
pub const fn is_canonical(virtual_address: usize) -> bool {
    let top = (virtual_address as isize) >> 38;
    top == 0 || top == -1
}

/// The `satp` value selecting Sv39 with `root` (physical) and address space id `asid`.
pub const fn satp(root: usize, asid: u16) -> usize {
    (8 << 60) | ((asid as usize) << 44) | (root >> PAGE_SHIFT)
}

/// Access to the physical memory holding page tables.
pub trait PhysicalMemory {
    /// Entry `index` of the table at physical address `table`.
    fn read_entry(&self, table: usize, index: usize) -> Entry;
    /// Overwrites entry `index` of the table at physical address `table`.
    fn write_entry(&mut self, table: usize, index: usize, entry: Entry);
    /// A zero-filled frame for a new table, or `None` when memory is exhausted.
    fn allocate_table(&mut self) -> Option<usize>;
}

/// Why a mapping could not be made or removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// An address is not aligned to the page size.
    Misaligned,
    /// The virtual address is not canonical.
    NotCanonical,
    /// Something is already mapped there.
    AlreadyMapped,
    /// A larger page already covers the address.
    LargerPageInTheWay,
    /// Nothing is mapped there.
    NotMapped,
    /// No frame for an intermediate table.
    OutOfMemory,
    /// The flags have no R, W or X bit, or W without R.
    BadFlags,
    /// An intermediate table is missing and the caller asked not to create one.
    MissingTable,
}

/// A completed walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The physical address `virtual_address` maps to (page base plus offset).
    pub physical_address: usize,
    /// The leaf's flags.
    pub flags: Flags,
    /// The leaf's page size.
    pub size: PageSize,
}

/// Walks from `root` to the table at level `size.level()` covering `virtual_address`,
/// creating intermediate tables when `create` is set. Returns that table's physical address.
fn walk_to<M: PhysicalMemory>(
    memory: &mut M,
    root: usize,
    virtual_address: usize,
    size: PageSize,
    create: bool,
) -> Result<usize, MapError> {
    let mut table = root;
    for level in (size.level() + 1..=2).rev() {
        let slot = index(virtual_address, level);
        let entry = memory.read_entry(table, slot);
        table = if !entry.is_valid() {
            if !create {
                return Err(MapError::MissingTable);
            }
            let next = memory.allocate_table().ok_or(MapError::OutOfMemory)?;
            memory.write_entry(table, slot, Entry::new(next, Flags::VALID));
            next
        } else if entry.flags().is_leaf() {
            return Err(MapError::LargerPageInTheWay);
        } else {
            entry.address()
        };
    }
    Ok(table)
}

/// Maps the page of `size` at `virtual_address` to `physical_address` with `flags`
/// (VALID, ACCESSED and DIRTY are added), creating intermediate tables as needed.
pub fn map<M: PhysicalMemory>(
    memory: &mut M,
    root: usize,
    virtual_address: usize,
    physical_address: usize,
    size: PageSize,
    flags: Flags,
) -> Result<(), MapError> {
    map_leaf(memory, root, virtual_address, physical_address, size, flags, true)
}

/// Like [`map`], but every intermediate table must already be installed
/// ([`MapError::MissingTable`] otherwise): user level supplies page tables as objects.
pub fn map_existing<M: PhysicalMemory>(
    memory: &mut M,
    root: usize,
    virtual_address: usize,
    physical_address: usize,
    size: PageSize,
    flags: Flags,
) -> Result<(), MapError> {
    map_leaf(memory, root, virtual_address, physical_address, size, flags, false)
}

/// Installs the (zeroed) table at `table` as the next missing level below `root` on the
/// way to `virtual_address`. Returns the virtual address the table's coverage starts at
/// and the level of the entries it holds.
pub fn install_table<M: PhysicalMemory>(
    memory: &mut M,
    root: usize,
    virtual_address: usize,
    table: usize,
) -> Result<(usize, usize), MapError> {
    if !is_canonical(virtual_address) {
        return Err(MapError::NotCanonical);
    }
    let mut current = root;
    for level in [2, 1] {
        let slot = index(virtual_address, level);
        let entry = memory.read_entry(current, slot);
        if !entry.is_valid() {
            memory.write_entry(current, slot, Entry::new(table, Flags::VALID));
            let coverage = 1usize << (PAGE_SHIFT + 9 * level);
            return Ok((virtual_address & !(coverage - 1), level - 1));
        }
        if entry.flags().is_leaf() {
            return Err(MapError::LargerPageInTheWay);
        }
        current = entry.address();
    }
    Err(MapError::AlreadyMapped)
}

/// Removes the entry that points at `table` on the way to `virtual_address`, if it is still
/// there (a table that was already replaced is left alone).
pub fn remove_table<M: PhysicalMemory>(
    memory: &mut M,
    root: usize,
    virtual_address: usize,
    table: usize,
) -> bool {
    if !is_canonical(virtual_address) {
        return false;
    }
    let mut current = root;
    for level in [2, 1] {
        let slot = index(virtual_address, level);
        let entry = memory.read_entry(current, slot);
        if !entry.is_valid() || entry.flags().is_leaf() {
            return false;
        }
        if entry.address() == table {
            memory.write_entry(current, slot, Entry(0));
            return true;
        }
        current = entry.address();
    }
    false
}

fn map_leaf<M: PhysicalMemory>(
    memory: &mut M,
    root: usize,
    virtual_address: usize,
    physical_address: usize,
    size: PageSize,
    flags: Flags,
    create: bool,
) -> Result<(), MapError> {
    if !is_canonical(virtual_address) {
        return Err(MapError::NotCanonical);
    }
    if !virtual_address.is_multiple_of(size.bytes()) || !physical_address.is_multiple_of(size.bytes()) {
        return Err(MapError::Misaligned);
    }
    if !flags.is_leaf() || (flags.contains(Flags::WRITE) && !flags.contains(Flags::READ)) {
        return Err(MapError::BadFlags);
    }
    let table = walk_to(memory, root, virtual_address, size, create)?;
    let slot = index(virtual_address, size.level());
    if memory.read_entry(table, slot).is_valid() {
        return Err(MapError::AlreadyMapped);
    }
    let leaf_flags = flags | Flags::VALID | Flags::ACCESSED | Flags::DIRTY;
    memory.write_entry(table, slot, Entry::new(physical_address, leaf_flags));
    Ok(())
}

/// Removes the leaf of `size` at `virtual_address`, returning the frame it pointed at.
/// Intermediate tables are kept (they are reused by later mappings).
pub fn unmap<M: PhysicalMemory>(
    memory: &mut M,
    root: usize,
    virtual_address: usize,
    size: PageSize,
) -> Result<usize, MapError> {
    if !is_canonical(virtual_address) {
        return Err(MapError::NotCanonical);
    }
    if !virtual_address.is_multiple_of(size.bytes()) {
        return Err(MapError::Misaligned);
    }
    let table = walk_to(memory, root, virtual_address, size, false).map_err(|error| match error {
        MapError::MissingTable => MapError::NotMapped,
        other => other,
    })?;
    let slot = index(virtual_address, size.level());
    let entry = memory.read_entry(table, slot);
    if !entry.is_valid() {
        return Err(MapError::NotMapped);
    }
    if !entry.flags().is_leaf() {
        return Err(MapError::AlreadyMapped);
    }
    memory.write_entry(table, slot, Entry(0));
    Ok(entry.address())
}

/// Looks `virtual_address` up, as the MMU would.
pub fn translate<M: PhysicalMemory>(memory: &M, root: usize, virtual_address: usize) -> Option<Translation> {
    if !is_canonical(virtual_address) {
        return None;
    }
    let mut table = root;
    for (level, size) in [(2, PageSize::Huge), (1, PageSize::Large), (0, PageSize::Small)] {
        let entry = memory.read_entry(table, index(virtual_address, level));
        if !entry.is_valid() {
            return None;
        }
        if entry.flags().is_leaf() {
            let offset = virtual_address & (size.bytes() - 1);
            if !entry.address().is_multiple_of(size.bytes()) {
                return None; // a misaligned superpage faults in hardware too
            }
            return Some(Translation {
                physical_address: entry.address() + offset,
                flags: entry.flags(),
                size,
            });
        }
        table = entry.address();
    }
    None
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::collections::HashMap;

    /// Page tables in a hash map, frames from a counter.
    struct FakeMemory {
        tables: HashMap<usize, [u64; ENTRIES]>,
        next_frame: usize,
        frames_left: usize,
    }

    impl FakeMemory {
        fn new(frames: usize) -> (Self, usize) {
            let mut memory =
                Self { tables: HashMap::new(), next_frame: 0x8000_0000, frames_left: frames + 1 };
            let root = memory.allocate_table().unwrap();
            (memory, root)
        }
    }

    impl PhysicalMemory for FakeMemory {
        fn read_entry(&self, table: usize, index: usize) -> Entry {
            Entry(self.tables.get(&table).expect("walk reached a frame that is not a table")[index])
        }
        fn write_entry(&mut self, table: usize, index: usize, entry: Entry) {
            self.tables.get_mut(&table).expect("write to a frame that is not a table")[index] = entry.0;
        }
        fn allocate_table(&mut self) -> Option<usize> {
            self.frames_left = self.frames_left.checked_sub(1)?;
            let frame = self.next_frame;
            self.next_frame += 4096;
            self.tables.insert(frame, [0; ENTRIES]);
            Some(frame)
        }
    }

    const RW: Flags = Flags(Flags::READ.0 | Flags::WRITE.0);

    #[test]
    fn index_arithmetic_matches_the_spec() {
        let va = 0x0000_003f_ffff_f123usize;
        assert_eq!(index(va, 0), 0x1ff);
        assert_eq!(index(va, 1), 0x1ff);
        assert_eq!(index(va, 2), 0xff);
        assert_eq!(index(0xffff_ffc0_0000_0000, 2), 256);
        assert_eq!(index(0xffff_ffff_8020_0000, 2), 510);
        assert_eq!(index(0xffff_ffff_8020_0000, 1), 1);
        assert_eq!(index(0x1000, 0), 1);
        assert_eq!(PageSize::Small.bytes(), 4096);
        assert_eq!(PageSize::Large.bytes(), 2 << 20);
        assert_eq!(PageSize::Huge.bytes(), 1 << 30);
    }

    #[test]
    fn canonical_addresses() {
        assert!(is_canonical(0));
        assert!(is_canonical(0x3f_ffff_ffff));
        assert!(!is_canonical(0x40_0000_0000));
        assert!(is_canonical(0xffff_ffc0_0000_0000));
        assert!(!is_canonical(0xffff_ff80_0000_0000));
        assert!(!is_canonical(0x8000_0000_0000_0000));
    }

    #[test]
    fn entry_encoding_round_trips() {
        let entry = Entry::new(0x8765_4000, Flags::READ | Flags::USER | Flags::VALID);
        assert_eq!(entry.address(), 0x8765_4000);
        assert!(entry.flags().contains(Flags::USER | Flags::READ));
        assert!(!entry.flags().contains(Flags::WRITE));
        assert_eq!(entry.0 >> 10, 0x87654);
        assert_eq!(satp(0x8020_0000, 3) >> 60, 8);
        assert_eq!(satp(0x8020_0000, 3) & ((1 << 44) - 1), 0x80200);
        assert_eq!((satp(0x8020_0000, 3) >> 44) & 0xffff, 3);
    }

    #[test]
    fn map_translate_unmap_small_pages() {
        let (mut memory, root) = FakeMemory::new(10);
        map(&mut memory, root, 0x1_0000, 0x9000_0000, PageSize::Small, RW | Flags::USER).unwrap();
        let hit = translate(&memory, root, 0x1_0abc).unwrap();
        assert_eq!(hit.physical_address, 0x9000_0abc);
        assert!(hit.flags.contains(Flags::USER | Flags::ACCESSED | Flags::DIRTY | Flags::VALID));
        assert_eq!(hit.size, PageSize::Small);
        assert_eq!(translate(&memory, root, 0x1_1000), None);
        assert_eq!(
            map(&mut memory, root, 0x1_0000, 0x9000_1000, PageSize::Small, RW),
            Err(MapError::AlreadyMapped)
        );
        assert_eq!(unmap(&mut memory, root, 0x1_0000, PageSize::Small), Ok(0x9000_0000));
        assert_eq!(translate(&memory, root, 0x1_0abc), None);
        assert_eq!(unmap(&mut memory, root, 0x1_0000, PageSize::Small), Err(MapError::NotMapped));
    }

    #[test]
    fn superpages_and_conflicts() {
        let (mut memory, root) = FakeMemory::new(10);
        let base = 0xffff_ffc0_8000_0000;
        map(&mut memory, root, base, 0x8000_0000, PageSize::Huge, RW).unwrap();
        assert_eq!(translate(&memory, root, base + 0x123_4567).unwrap().physical_address, 0x8123_4567);
        assert_eq!(
            map(&mut memory, root, base + 0x20_0000, 0x8020_0000, PageSize::Large, RW),
            Err(MapError::LargerPageInTheWay)
        );
        map(&mut memory, root, 0x4000_0000 + 0x20_0000, 0x8020_0000, PageSize::Large, RW).unwrap();
        assert_eq!(
            translate(&memory, root, 0x4020_1000).map(|t| (t.physical_address, t.size)),
            Some((0x8020_1000, PageSize::Large))
        );
    }

    #[test]
    fn bad_arguments_are_errors() {
        let (mut memory, root) = FakeMemory::new(10);
        assert_eq!(
            map(&mut memory, root, 0x1001, 0x9000_0000, PageSize::Small, RW),
            Err(MapError::Misaligned)
        );
        assert_eq!(
            map(&mut memory, root, 0x1000, 0x9000_0800, PageSize::Small, RW),
            Err(MapError::Misaligned)
        );
        assert_eq!(
            map(&mut memory, root, 0x1000, 0x9000_1000, PageSize::Large, RW),
            Err(MapError::Misaligned)
        );
        assert_eq!(
            map(&mut memory, root, 0x40_0000_0000, 0x9000_0000, PageSize::Small, RW),
            Err(MapError::NotCanonical)
        );
        assert_eq!(
            map(&mut memory, root, 0x1000, 0x9000_0000, PageSize::Small, Flags::USER),
            Err(MapError::BadFlags)
        );
        assert_eq!(
            map(&mut memory, root, 0x1000, 0x9000_0000, PageSize::Small, Flags::WRITE),
            Err(MapError::BadFlags)
        );
    }

    #[test]
    fn user_supplied_tables_install_level_by_level() {
        let (mut memory, root) = FakeMemory::new(10);
        let va = 0x12_3456_7000;
        assert_eq!(
            map_existing(&mut memory, root, va, 0x9000_0000, PageSize::Small, RW),
            Err(MapError::MissingTable)
        );
        let middle = memory.allocate_table().unwrap();
        assert_eq!(install_table(&mut memory, root, va, middle), Ok((va & !((1 << 30) - 1), 1)));
        assert_eq!(
            map_existing(&mut memory, root, va, 0x9000_0000, PageSize::Small, RW),
            Err(MapError::MissingTable)
        );
        map_existing(&mut memory, root, va & !((2 << 20) - 1), 0x9020_0000, PageSize::Large, RW).unwrap();
        let leaf_table = memory.allocate_table().unwrap();
        assert_eq!(install_table(&mut memory, root, va, leaf_table), Err(MapError::LargerPageInTheWay));
        unmap(&mut memory, root, va & !((2 << 20) - 1), PageSize::Large).unwrap();
        assert_eq!(install_table(&mut memory, root, va, leaf_table), Ok((va & !((2 << 20) - 1), 0)));
        map_existing(&mut memory, root, va, 0x9000_0000, PageSize::Small, RW).unwrap();
        assert_eq!(translate(&memory, root, va + 8).unwrap().physical_address, 0x9000_0008);
        let spare = memory.allocate_table().unwrap();
        assert_eq!(install_table(&mut memory, root, va, spare), Err(MapError::AlreadyMapped));
        assert!(!remove_table(&mut memory, root, va, spare));
        assert!(remove_table(&mut memory, root, va, leaf_table));
        assert_eq!(translate(&memory, root, va), None);
        assert!(remove_table(&mut memory, root, va, middle));
    }

    #[test]
    fn running_out_of_table_frames_is_reported() {
        let (mut memory, root) = FakeMemory::new(1);
        assert_eq!(
            map(&mut memory, root, 0x1000, 0x9000_0000, PageSize::Small, RW),
            Err(MapError::OutOfMemory)
        );
    }
}
