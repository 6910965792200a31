//! Address spaces, page tables and frames.
//!
//! An address space is a root page table plus an address-space id (ASID) from the kernel's
//! table; the ASID names it in frame and page-table capabilities, so that unmapping through
//! a capability whose address space is gone does nothing instead of writing into reused
//! memory. User level supplies every page table below the root as an object, installs it
//! with `PageTable::Map`, and maps frames with `Frame::Map`. Each frame capability maps its
//! frame at most once; copies of the capability map it again (shared memory), and deleting
//! a capability removes its mapping.

use kernel_abi::invocation::{FrameOp, PageTableOp};
use kernel_abi::{Error, Rights};
use kernel_core::capability::{self, Capability, SlotId};
use kernel_core::layout::USER_END;
use kernel_core::paging::{self, Flags, MapError, PageSize, PhysicalMemory};

use super::cnode::{self, KernelSlots};
use crate::Kernel;
use crate::arch::riscv64::csr;
use crate::memory::DirectMap;

/// Address-space ids available (id 0 is never used).
pub const ASID_COUNT: usize = 1024;

/// One address-space id.
#[derive(Clone, Copy, Debug, Default)]
struct AsidEntry {
    /// Root page table (0: free).
    root: usize,
    /// Capabilities to the address space.
    references: usize,
}

/// The ASID table.
pub struct AsidTable {
    entries: [AsidEntry; ASID_COUNT],
    free: usize,
}

impl AsidTable {
    /// An empty table.
    pub const fn new() -> Self {
        Self { entries: [AsidEntry { root: 0, references: 0 }; ASID_COUNT], free: ASID_COUNT - 1 }
    }

    /// Ids still free.
    pub fn free_count(&self) -> usize {
        self.free
    }

    /// Assigns an id to the address space rooted at `root`.
    fn allocate(&mut self, root: usize) -> Option<u16> {
        let index = (1..ASID_COUNT).find(|&index| self.entries[index].root == 0)?;
        self.entries[index] = AsidEntry { root, references: 0 };
        self.free -= 1;
        u16::try_from(index).ok()
    }

    /// The root of the live address space `asid`.
    pub fn root(&self, asid: u16) -> Option<usize> {
        self.entries.get(usize::from(asid)).map(|entry| entry.root).filter(|&root| root != 0)
    }

    /// Counts a new capability to `asid`.
    pub fn retain(&mut self, asid: u16) {
        if let Some(entry) = self.entries.get_mut(usize::from(asid)) {
            entry.references += 1;
        }
    }

    /// Drops a capability to `asid`; the last one frees the id and flushes its TLB entries.
    pub fn release(&mut self, asid: u16) {
        let Some(entry) = self.entries.get_mut(usize::from(asid)) else { return };
        entry.references = entry.references.saturating_sub(1);
        if entry.references == 0 && entry.root != 0 {
            *entry = AsidEntry::default();
            self.free += 1;
            csr::flush_address_space(asid);
        }
    }
}

/// Makes an address space in the zeroed page at `root`: the kernel half is shared, and an
/// ASID is assigned (retype checked one is free).
pub fn initialise_address_space(kernel: &mut Kernel, root: usize) -> u16 {
    let mut memory = DirectMap { frames: None };
    for index in paging::ENTRIES / 2..paging::ENTRIES {
        let entry = memory.read_entry(kernel.kernel_root, index);
        memory.write_entry(root, index, entry);
    }
    kernel.asids.allocate(root).unwrap_or(0)
}

/// Removes whatever mapping the frame or page-table `capability` recorded.
pub fn unmap_capability(kernel: &mut Kernel, capability: &Capability) {
    let Some(mapping) = capability.mapping() else { return };
    let Some(root) = kernel.asids.root(mapping.asid) else { return };
    let mut memory = DirectMap { frames: None };
    match *capability {
        Capability::Frame { frame, large, .. } => {
            // Only if the address still maps this frame: the tables may have changed under a
            // stale capability (a page table deleted and another installed in its place).
            let size = if large { PageSize::Large } else { PageSize::Small };
            match paging::translate(&memory, root, mapping.address) {
                Some(found) if found.physical_address == frame && found.size == size => {
                    let _ = paging::unmap(&mut memory, root, mapping.address, size);
                }
                _ => return,
            }
        }
        Capability::PageTable { table, .. } => {
            paging::remove_table(&mut memory, root, mapping.address, table);
        }
        _ => return,
    }
    csr::flush_address_space(mapping.asid);
}

/// A decoded frame or page-table invocation.
pub enum Invocation {
    /// Map the frame in `slot` at `address` of `asid` with `flags`.
    MapFrame { slot: SlotId, asid: u16, address: usize, flags: Flags },
    /// Install the page table in `slot` for `address` of `asid`.
    MapTable { slot: SlotId, asid: u16, address: usize },
    /// Remove the mapping of the capability in `slot`.
    Unmap(SlotId),
    /// Return the frame's physical address.
    Address(usize),
}

/// Checks a `call` on the frame or page-table capability in `slot`.
pub fn decode(
    kernel: &Kernel,
    slot: SlotId,
    label: usize,
    words: &[usize],
    resolve: impl Fn(usize) -> Result<SlotId, Error>,
) -> Result<Invocation, Error> {
    let word = |index: usize| words.get(index).copied().ok_or(Error::InvalidArgument);
    let capability = cnode::load(slot);
    let address_space = |cptr: usize| -> Result<u16, Error> {
        match cnode::load(resolve(cptr)?) {
            Capability::AddressSpace { asid, .. } if kernel.asids.root(asid).is_some() => Ok(asid),
            Capability::Null => Err(Error::InvalidCapability),
            _ => Err(Error::IllegalOperation),
        }
    };
    match capability {
        Capability::Frame { frame, large, rights, mapped_asid, .. } => match label {
            l if l == FrameOp::Map as usize => {
                if mapped_asid != 0 {
                    return Err(Error::AlreadyMapped);
                }
                let asid = address_space(word(0)?)?;
                let address = word(1)?;
                let size = if large { PageSize::Large } else { PageSize::Small };
                if !address.is_multiple_of(size.bytes()) {
                    return Err(Error::AlignmentError);
                }
                if address.checked_add(size.bytes()).is_none_or(|end| end > USER_END) || address == 0 {
                    return Err(Error::RangeError);
                }
                let wanted = Rights::from_word(word(2)?);
                if !rights.contains(wanted) {
                    return Err(Error::InsufficientRights);
                }
                if !wanted.contains(Rights::READ) {
                    return Err(Error::InvalidArgument);
                }
                let mut flags = Flags::USER | Flags::READ;
                if wanted.contains(Rights::WRITE) {
                    flags |= Flags::WRITE;
                }
                if wanted.contains(Rights::EXECUTE) {
                    flags |= Flags::EXECUTE;
                }
                Ok(Invocation::MapFrame { slot, asid, address, flags })
            }
            l if l == FrameOp::Unmap as usize => Ok(Invocation::Unmap(slot)),
            l if l == FrameOp::Address as usize => Ok(Invocation::Address(frame)),
            _ => Err(Error::IllegalOperation),
        },
        Capability::PageTable { mapped_asid, .. } => match label {
            l if l == PageTableOp::Map as usize => {
                if mapped_asid != 0 {
                    return Err(Error::AlreadyMapped);
                }
                let asid = address_space(word(0)?)?;
                let address = word(1)?;
                if address >= USER_END {
                    return Err(Error::RangeError);
                }
                Ok(Invocation::MapTable { slot, asid, address })
            }
            l if l == PageTableOp::Unmap as usize => Ok(Invocation::Unmap(slot)),
            _ => Err(Error::IllegalOperation),
        },
        _ => Err(Error::IllegalOperation),
    }
}

fn map_error(error: MapError) -> Error {
    match error {
        MapError::MissingTable => Error::MissingPageTable,
        MapError::AlreadyMapped | MapError::LargerPageInTheWay => Error::AlreadyMapped,
        MapError::Misaligned => Error::AlignmentError,
        MapError::NotCanonical | MapError::NotMapped => Error::RangeError,
        MapError::OutOfMemory | MapError::BadFlags => Error::InvalidArgument,
    }
}

/// Performs a frame or page-table invocation; returns a result word if there is one.
pub fn invoke(kernel: &mut Kernel, invocation: Invocation) -> Result<Option<usize>, Error> {
    let mut memory = DirectMap { frames: None };
    match invocation {
        Invocation::MapFrame { slot, asid, address, flags } => {
            let root = kernel.asids.root(asid).ok_or(Error::InvalidCapability)?;
            let Capability::Frame { frame, large, rights, .. } = cnode::load(slot) else {
                return Err(Error::IllegalOperation);
            };
            let size = if large { PageSize::Large } else { PageSize::Small };
            paging::map_existing(&mut memory, root, address, frame, size, flags).map_err(map_error)?;
            csr::flush_address_space(asid);
            capability::update(
                &mut KernelSlots,
                slot,
                Capability::Frame { frame, mapped_address: address, mapped_asid: asid, large, rights },
            );
            Ok(None)
        }
        Invocation::MapTable { slot, asid, address } => {
            let root = kernel.asids.root(asid).ok_or(Error::InvalidCapability)?;
            let Capability::PageTable { table, .. } = cnode::load(slot) else {
                return Err(Error::IllegalOperation);
            };
            let (start, _level) =
                paging::install_table(&mut memory, root, address, table).map_err(map_error)?;
            csr::flush_address_space(asid);
            capability::update(
                &mut KernelSlots,
                slot,
                Capability::PageTable { table, mapped_address: start, mapped_asid: asid },
            );
            Ok(None)
        }
        Invocation::Unmap(slot) => {
            let capability = cnode::load(slot);
            unmap_capability(kernel, &capability);
            let unmapped = match capability {
                Capability::Frame { frame, large, rights, .. } => {
                    Capability::Frame { frame, mapped_address: 0, mapped_asid: 0, large, rights }
                }
                Capability::PageTable { table, .. } => {
                    Capability::PageTable { table, mapped_address: 0, mapped_asid: 0 }
                }
                other => other,
            };
            capability::update(&mut KernelSlots, slot, unmapped);
            Ok(None)
        }
        Invocation::Address(frame) => Ok(Some(frame)),
    }
}
