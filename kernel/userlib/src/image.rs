//! Running this program's code in a second address space: the loaded image is copied, page
//! by page, into frames mapped at the same addresses in a new address space, so threads
//! started there run the same functions on their own copy of the data.
//!
//! Used by tests and benchmarks that need two address spaces without a loader (the process
//! manager loads programs from files).

use kernel_abi::{Error, ObjectType, Rights};

use crate::ipc::Cptr;
use crate::object;

unsafe extern "C" {
    /// The program's ELF header: the first byte of the loaded image (defined by the linker).
    static __ehdr_start: u8;
}

const PAGE: usize = 4096;
const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
const PF_W: u32 = 2;

/// One loadable segment of this program: address, size in memory, and rights.
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    /// First byte.
    pub address: usize,
    /// Bytes in memory.
    pub size: usize,
    /// READ plus WRITE and/or EXECUTE.
    pub rights: Rights,
}

fn header_word(offset: usize, width: usize) -> usize {
    let base = core::ptr::addr_of!(__ehdr_start) as usize;
    let mut value = 0usize;
    for index in 0..width {
        // SAFETY: the ELF header and program headers are loaded (the first PT_LOAD segment
        // starts at the ELF header and lld keeps the program headers in it), read-only
        // data that nothing writes; offsets come from the header itself and stay inside it.
        let byte = unsafe { core::ptr::read((base + offset + index) as *const u8) };
        value |= usize::from(byte) << (8 * index);
    }
    value
}

/// The loadable segments of this program, from its own program headers.
pub fn segments() -> impl Iterator<Item = Segment> {
    let table = header_word(32, 8);
    let entry_size = header_word(54, 2);
    let count = header_word(56, 2);
    (0..count).filter_map(move |index| {
        let at = table + index * entry_size;
        if header_word(at, 4) != PT_LOAD as usize {
            return None;
        }
        let flags = u32::try_from(header_word(at + 4, 4)).unwrap_or(0);
        let mut rights = Rights::READ;
        if flags & PF_W != 0 {
            rights = rights | Rights::WRITE;
        }
        if flags & PF_X != 0 {
            rights = rights | Rights::EXECUTE;
        }
        Some(Segment { address: header_word(at + 16, 8), size: header_word(at + 40, 8), rights })
    })
}

/// What cloning needs: memory, slots, and a free page address in the current address space
/// to copy through.
pub struct Cloner<'a> {
    /// Untyped memory to make frames, page tables and the address space from.
    pub untyped: Cptr,
    /// The CNode new capabilities go into.
    pub cnode: Cptr,
    /// Hands out empty slot indices of `cnode`.
    pub next_slot: &'a mut dyn FnMut() -> usize,
    /// The current address space.
    pub own_address_space: Cptr,
    /// A page-aligned address in the current address space where nothing is mapped (its
    /// page tables must exist).
    pub scratch: usize,
}

impl Cloner<'_> {
    fn make(&mut self, object_type: ObjectType) -> Result<Cptr, Error> {
        let slot = (self.next_slot)();
        object::retype(self.untyped, object_type, 0, self.cnode, slot, 1)?;
        Ok(slot)
    }

    /// Maps `frame` at `address` of `address_space`, installing page tables as needed.
    pub fn map(
        &mut self,
        frame: Cptr,
        address_space: Cptr,
        address: usize,
        rights: Rights,
    ) -> Result<(), Error> {
        for _ in 0..3 {
            match object::map_frame(frame, address_space, address, rights) {
                Err(Error::MissingPageTable) => {
                    let table = self.make(ObjectType::PageTable)?;
                    object::map_page_table(table, address_space, address)?;
                }
                other => return other,
            }
        }
        object::map_frame(frame, address_space, address, rights)
    }

    /// A new address space holding a copy of this program's image (as it is now). Returns
    /// the address space capability.
    pub fn clone_image(&mut self) -> Result<Cptr, Error> {
        let address_space = self.make(ObjectType::AddressSpace)?;
        for segment in segments() {
            let first = segment.address & !(PAGE - 1);
            let end = (segment.address + segment.size).next_multiple_of(PAGE);
            for page in (first..end).step_by(PAGE) {
                let frame = self.make(ObjectType::Frame)?;
                object::map_frame(frame, self.own_address_space, self.scratch, Rights::READ | Rights::WRITE)?;
                for offset in (0..PAGE).step_by(8) {
                    // SAFETY: `page` lies in a loaded segment of this program (mapped
                    // readable for its whole page range); reading a word of it by value
                    // creates no reference; the scratch page was just mapped writable.
                    let word = unsafe { core::ptr::read_volatile((page + offset) as *const usize) };
                    crate::memory::write_word(self.scratch + offset, word);
                }
                object::unmap_frame(frame)?;
                self.map(frame, address_space, page, segment.rights)?;
            }
        }
        Ok(address_space)
    }
}
