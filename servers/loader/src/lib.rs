//! The process builder: makes a runnable process from an ELF file and memory.
//!
//! Used by the root task (to start the boot-time servers) and the process manager (to spawn
//! programs). Everything a process is made of is retyped from one Untyped the caller names,
//! so revoking that Untyped takes the whole process back. The layout of every process:
//!
//! | what | where |
//! | --- | --- |
//! | program segments | their ELF addresses, with their ELF permissions (never W+X) |
//! | start info page (read-only: name, arguments, environment, timebase) | `userlib::start::START_INFO_ADDRESS` |
//! | IPC buffer | `userlib::start::IPC_BUFFER_ADDRESS` |
//! | heap | `userlib::start::HEAP_ADDRESS`, `heap_pages` pages |
//! | stack | below `USER_STACK_TOP`, `stack_pages` pages, a guard page under it |
//! | mapping window (its page table only) | `userlib::shared::WINDOW_ADDRESS`, `WINDOW_PAGES` pages |
//!
//! Every process holds the capability to its own address space at
//! `userlib::shared::ADDRESS_SPACE_SLOT`, and the mapping window's page table is installed,
//! so it can map frames it is given (a server's shared buffer) with no memory of its own.
//! The process's CNode gets the capabilities the caller grants at the slots it chooses;
//! the process's thread holds its CNode, address space, IPC buffer and fault endpoint in its
//! own slots. The ELF file is validated by `kernel_core::elf::plan` first.
#![no_std]
#![forbid(unsafe_code)]

use kernel_abi::{Error, ObjectType, Rights};
use kernel_core::elf::{self, ElfError, segment_bytes};
use kernel_core::layout::{PAGE_SIZE, USER_STACK_TOP};
use userlib::ipc::Cptr;
use userlib::memory::write_bytes;
use userlib::object;
use userlib::start::{HEAP_ADDRESS, IPC_BUFFER_ADDRESS, START_INFO_ADDRESS, StartInfo};

/// Capability slots of a server started from the system manifest (by the root task). The
/// root task fills them; the server finds them at start.
pub mod server_slots {
    /// Its own CNode (to make objects into, and to name slots in invocations).
    pub const CNODE: usize = 1;
    /// Its own address space (to map frames, device registers): the loader puts it there
    /// for every process (`userlib::shared::ADDRESS_SPACE_SLOT`).
    pub const ADDRESS_SPACE: usize = userlib::shared::ADDRESS_SPACE_SLOT;
    /// Its own thread.
    pub const THREAD: usize = 3;
    /// An Untyped of its memory budget, to make its objects from.
    pub const MEMORY: usize = 4;
    /// The endpoint it serves its service on (all rights), if the manifest says it provides one.
    pub const SERVICE: usize = 5;
    /// The scheduling control capability (to give CPU budgets), if the manifest says
    /// `sched_control = true` (the resource donor).
    pub const SCHED_CONTROL: usize = 6;
    /// The device Untyped of its first device (`devices[i]`: `DEVICE_MEMORY + 2 * i`).
    pub const DEVICE_MEMORY: usize = 8;
    /// The IRQ handler of its first device (`devices[i]`: `DEVICE_IRQ + 2 * i`).
    pub const DEVICE_IRQ: usize = 9;
    /// Endpoints (write and grant, badged) of the services it uses, in manifest order; their
    /// names are in its start info (`userlib::start::service`).
    pub const FIRST_CLIENT: usize = userlib::start::FIRST_SERVICE_SLOT;
    /// The first slot nothing was put in.
    pub const FIRST_FREE: usize = 32;
}

/// Why a process could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// The file is not a program this system can run.
    Elf(ElfError),
    /// A kernel operation failed (most often `NotEnoughMemory`).
    Kernel(Error),
    /// The name, arguments and environment do not fit in the start info page.
    StartInfoTooLarge,
    /// The caller ran out of free slots.
    NoSlots,
}

impl From<Error> for BuildError {
    fn from(error: Error) -> Self {
        Self::Kernel(error)
    }
}

impl core::fmt::Display for BuildError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Elf(error) => write!(f, "bad program file: {error}"),
            Self::Kernel(error) => write!(f, "{error}"),
            Self::StartInfoTooLarge => write!(f, "arguments and environment do not fit in a page"),
            Self::NoSlots => write!(f, "no free capability slots"),
        }
    }
}

/// What the builder works with, in the caller's world.
pub struct Workspace<'a> {
    /// Memory for everything the process is made of.
    pub untyped: Cptr,
    /// The caller's CSpace root CNode (new capabilities are made there first).
    pub cnode: Cptr,
    /// Hands out free slot indices of `cnode`.
    pub next_slot: &'a mut dyn FnMut() -> Option<usize>,
    /// The caller's address space.
    pub address_space: Cptr,
    /// A page-aligned address in the caller's address space with nothing mapped and its
    /// page tables present, to copy through.
    pub scratch: usize,
}

/// A capability the new process starts with.
#[derive(Clone, Copy, Debug)]
pub struct Grant {
    /// The slot in the process's CNode.
    pub slot: usize,
    /// The capability, in the caller's CSpace.
    pub source: Cptr,
    /// Rights to keep.
    pub rights: Rights,
    /// A badge to set (endpoints and notifications), or `None` to copy.
    pub badge: Option<usize>,
}

/// What to build.
pub struct Spec<'a> {
    /// The program's name (in the start info and kernel fault reports).
    pub name: &'a str,
    /// The ELF file.
    pub elf: &'a [u8],
    /// Arguments after the name.
    pub arguments: &'a [&'a str],
    /// Environment entries.
    pub environment: &'a [(&'a str, &'a str)],
    /// Priority of its thread.
    pub priority: usize,
    /// log2 slots of its CNode.
    pub cnode_radix: usize,
    /// Stack size in pages.
    pub stack_pages: usize,
    /// Heap size in pages.
    pub heap_pages: usize,
    /// How many of the stack's pages (from the top) and the heap's (from the start) are
    /// made now; the rest is left unmapped for the caller to make on first touch (the
    /// process manager does: `proc::demand`). The heap's page table is installed either
    /// way. A caller that does not page on demand makes them all.
    pub resident: Resident,
    /// Fault endpoint (in the caller's CSpace; 0: none): faults and exit arrive there.
    pub fault_endpoint: Cptr,
    /// Capabilities it starts with.
    pub grants: &'a [Grant],
    /// Names of the services whose capabilities it starts with, from
    /// [`server_slots::FIRST_CLIENT`] in order (written into its start info, so it asks for
    /// a service by name).
    pub services: &'a [&'a str],
}

/// How many pages of a process's stack and heap are made when it is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resident {
    /// All of them.
    All,
    /// The top `stack` pages of the stack and the first `heap` pages of the heap.
    Some {
        /// Stack pages, from the top.
        stack: usize,
        /// Heap pages, from the start.
        heap: usize,
    },
}

/// A built process, ready to start. The capabilities are in the caller's CNode.
#[derive(Clone, Copy, Debug)]
pub struct Process {
    /// Its thread.
    pub thread: Cptr,
    /// Its CNode.
    pub cnode: Cptr,
    /// Its address space.
    pub address_space: Cptr,
    /// Its first instruction.
    pub entry: usize,
    /// Pages its image, stack, heap, IPC buffer and start info took.
    pub pages: usize,
}

impl Workspace<'_> {
    fn slot(&mut self) -> Result<usize, BuildError> {
        (self.next_slot)().ok_or(BuildError::NoSlots)
    }

    fn make(&mut self, object_type: ObjectType, size_bits: usize) -> Result<Cptr, BuildError> {
        let slot = self.slot()?;
        object::retype(self.untyped, object_type, size_bits, self.cnode, slot, 1)?;
        Ok(slot)
    }

    /// Maps `frame` at `address` of `address_space`, installing page tables as needed.
    fn map(
        &mut self,
        frame: Cptr,
        address_space: Cptr,
        address: usize,
        rights: Rights,
    ) -> Result<(), BuildError> {
        for _ in 0..3 {
            match object::map_frame(frame, address_space, address, rights) {
                Err(Error::MissingPageTable) => {
                    let table = self.make(ObjectType::PageTable, 0)?;
                    object::map_page_table(table, address_space, address)?;
                }
                other => return other.map_err(BuildError::from),
            }
        }
        Ok(object::map_frame(frame, address_space, address, rights)?)
    }

    /// A fresh frame holding `bytes` at `offset` (the rest zero), mapped at `address` of
    /// `target`: one checked copy, not a word at a time.
    fn page_with_bytes(
        &mut self,
        target: Cptr,
        address: usize,
        rights: Rights,
        offset: usize,
        bytes: &[u8],
    ) -> Result<Cptr, BuildError> {
        let frame = self.make(ObjectType::Frame, 0)?;
        // Frames arrive zeroed: a page with nothing to copy is mapped as it is.
        if !bytes.is_empty() {
            if offset + bytes.len() > PAGE_SIZE {
                return Err(BuildError::Kernel(Error::RangeError));
            }
            self.map(frame, self.address_space, self.scratch, Rights::READ | Rights::WRITE)?;
            let written = write_bytes(self.scratch + offset, bytes);
            object::unmap_frame(frame)?;
            if !written {
                return Err(BuildError::Kernel(Error::InvalidArgument));
            }
        }
        self.map(frame, target, address, rights)?;
        Ok(frame)
    }

    /// A fresh frame holding `words` (the rest zero), mapped at `address` of `target`.
    fn page_with(
        &mut self,
        target: Cptr,
        address: usize,
        rights: Rights,
        words: impl Iterator<Item = usize>,
    ) -> Result<Cptr, BuildError> {
        let mut page = [0u8; PAGE_SIZE];
        let mut length = 0;
        for (chunk, word) in page.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
            length += 8;
        }
        self.page_with_bytes(target, address, rights, 0, &page[..length])
    }
}

/// Maps a read-only copy of `bytes` at `address` (page aligned) in the address space
/// `target`, in fresh frames from `workspace`. Returns the pages used. (The root task gives
/// the process manager the boot archive this way.)
pub fn map_copy(
    workspace: &mut Workspace<'_>,
    target: Cptr,
    address: usize,
    bytes: &[u8],
) -> Result<usize, BuildError> {
    let mut pages = 0;
    for (index, chunk) in bytes.chunks(PAGE_SIZE).enumerate() {
        workspace.page_with_bytes(target, address + index * PAGE_SIZE, Rights::READ, 0, chunk)?;
        pages += 1;
    }
    Ok(pages)
}

/// Maps copies of read-only frame capabilities `frames` (slots of the workspace's CNode, in
/// page order) at `address` (page aligned) in the address space `target`: the pages are
/// shared, not copied. Returns the pages mapped. (The root task shares the boot archive
/// with the process manager this way.)
pub fn map_shared(
    workspace: &mut Workspace<'_>,
    target: Cptr,
    address: usize,
    frames: core::ops::Range<Cptr>,
) -> Result<usize, BuildError> {
    let mut pages = 0;
    for (index, frame) in frames.enumerate() {
        let copy = workspace.slot()?;
        object::copy(workspace.cnode, copy, workspace.cnode, frame, Rights::READ)?;
        workspace.map(copy, target, address + index * PAGE_SIZE, Rights::READ)?;
        pages += 1;
    }
    Ok(pages)
}

/// Builds the process `spec` describes, with memory from `workspace`.
pub fn build(workspace: &mut Workspace<'_>, spec: &Spec<'_>) -> Result<Process, BuildError> {
    let plan = elf::plan(spec.elf).map_err(BuildError::Elf)?;
    let mut info = StartInfo::new(IPC_BUFFER_ADDRESS, HEAP_ADDRESS, spec.heap_pages * PAGE_SIZE);
    // The builder passes on the timebase it was told (the root task by the kernel).
    info.timebase_hz = userlib::time::timebase_hz().and_then(|hz| usize::try_from(hz).ok()).unwrap_or(0);
    info.set_strings(spec.name, spec.arguments.iter().copied(), spec.environment.iter().copied())
        .and_then(|()| info.set_services(spec.services.iter().copied()))
        .map_err(|_| BuildError::StartInfoTooLarge)?;

    let cnode = workspace.make(ObjectType::CNode, spec.cnode_radix)?;
    let address_space = workspace.make(ObjectType::AddressSpace, 0)?;
    let thread = workspace.make(ObjectType::Thread, 0)?;
    let mut pages = 0;

    for segment in &plan.segments {
        let mut rights = Rights::READ;
        if segment.writable {
            rights = rights | Rights::WRITE;
        }
        if segment.executable {
            rights = rights | Rights::EXECUTE;
        }
        let data = segment_bytes(spec.elf, segment);
        let first = segment.virtual_address & !(PAGE_SIZE - 1);
        let end = segment.end().next_multiple_of(PAGE_SIZE);
        for page in (first..end).step_by(PAGE_SIZE) {
            // The part of the file bytes that lands in this page.
            let copy_start = page.max(segment.virtual_address);
            let copy_end = (page + PAGE_SIZE).min(segment.virtual_address + data.len());
            let bytes = if copy_start < copy_end {
                &data[copy_start - segment.virtual_address..copy_end - segment.virtual_address]
            } else {
                &[]
            };
            workspace.page_with_bytes(address_space, page, rights, copy_start - page, bytes)?;
            pages += 1;
        }
    }
    let (stack_resident, heap_resident) = match spec.resident {
        Resident::All => (spec.stack_pages, spec.heap_pages),
        Resident::Some { stack, heap } => (stack.min(spec.stack_pages), heap.min(spec.heap_pages)),
    };
    for index in 0..stack_resident {
        let page = USER_STACK_TOP - (index + 1) * PAGE_SIZE;
        workspace.page_with_bytes(address_space, page, Rights::READ | Rights::WRITE, 0, &[])?;
        pages += 1;
    }
    // The mapping window's page table (after the stack: its upper table is the stack's).
    let window = workspace.make(ObjectType::PageTable, 0)?;
    object::map_page_table(window, address_space, userlib::shared::WINDOW_ADDRESS)?;
    pages += 1;
    if heap_resident == 0 && spec.heap_pages > 0 {
        // The heap's page table, for the pages made later.
        let table = workspace.make(ObjectType::PageTable, 0)?;
        object::map_page_table(table, address_space, HEAP_ADDRESS)?;
        pages += 1;
    }
    for index in 0..heap_resident {
        let page = HEAP_ADDRESS + index * PAGE_SIZE;
        workspace.page_with_bytes(address_space, page, Rights::READ | Rights::WRITE, 0, &[])?;
        pages += 1;
    }
    workspace.page_with(address_space, START_INFO_ADDRESS, Rights::READ, info.words())?;
    let ipc_buffer =
        workspace.page_with_bytes(address_space, IPC_BUFFER_ADDRESS, Rights::READ | Rights::WRITE, 0, &[])?;
    pages += 2;

    object::copy(cnode, userlib::shared::ADDRESS_SPACE_SLOT, workspace.cnode, address_space, Rights::ALL)?;
    for grant in spec.grants {
        match grant.badge {
            Some(badge) => {
                object::mint(cnode, grant.slot, workspace.cnode, grant.source, grant.rights, badge)?
            }
            None => object::copy(cnode, grant.slot, workspace.cnode, grant.source, grant.rights)?,
        }
    }

    object::configure_thread(
        thread,
        cnode,
        address_space,
        IPC_BUFFER_ADDRESS,
        ipc_buffer,
        spec.fault_endpoint,
    )?;
    object::set_priority(thread, spec.priority)?;
    object::write_registers(thread, plan.entry, USER_STACK_TOP, [START_INFO_ADDRESS, 0, 0, 0])?;
    Ok(Process { thread, cnode, address_space, entry: plan.entry, pages })
}

/// Starts a built process.
pub fn start(process: &Process) -> Result<(), BuildError> {
    Ok(object::resume(process.thread)?)
}
