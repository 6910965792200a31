//! Creating the boot programs: the root task with every capability, and (for tests) other
//! programs named on the kernel command line, with nothing but their own code.
//!
//! Boot objects are made from boot frames, not from Untyped memory: their capabilities are
//! roots of the derivation tree. Everything left over afterwards becomes Untyped
//! capabilities in the root task's CNode, described by the boot info page; from then on the
//! kernel allocates nothing.

use kernel_abi::bootinfo::{self, BOOT_INFO_MAGIC, BootInfo, MAX_UNTYPED, UntypedDescriptor, slot};
use kernel_abi::object::{MAX_UNTYPED_BITS, MIN_UNTYPED_BITS, PAGE_BITS};
use kernel_abi::{ObjectType, Rights};
use kernel_core::board::{BoardInfo, Region};
use kernel_core::capability::Capability;
use kernel_core::frames::{FrameAllocator, aligned_blocks};
use kernel_core::layout::PAGE_SIZE;
use kernel_core::paging::Flags;

use crate::Kernel;
use crate::loader::{self, LoadError};
use crate::memory::{direct_map, zero_frame, zero_range};
use crate::object::thread::{self, ADDRESS_SPACE_SLOT, CSPACE_SLOT, IPC_BUFFER_SLOT, Thread};
use crate::object::{ObjectRef, cnode, untyped};

/// Priority of boot programs (the highest: they start the system).
pub const BOOT_PRIORITY: usize = thread::MAX_PRIORITY;
/// log2 slots of a non-root boot program's CNode.
const SMALL_CNODE_RADIX: u8 = 4;

/// Why a boot program could not be made.
#[derive(Debug)]
pub enum BootError {
    /// Its ELF file could not be loaded.
    Load(LoadError),
    /// Boot memory ran out.
    OutOfMemory,
}

impl core::fmt::Display for BootError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Load(error) => write!(f, "{error}"),
            Self::OutOfMemory => write!(f, "out of memory"),
        }
    }
}

fn frame(frames: &mut FrameAllocator) -> Result<usize, BootError> {
    let frame = frames.allocate().ok_or(BootError::OutOfMemory)?;
    // SAFETY: the allocator just handed the frame out; nothing refers to it yet.
    unsafe { zero_frame(frame) };
    Ok(frame)
}

/// A program's objects: CNode, thread and address space, with the ELF loaded.
struct Program {
    cnode: Capability,
    thread: ObjectRef<Thread>,
    address_space: Capability,
    root: usize,
    entry: usize,
    kib: usize,
}

fn make_program(
    kernel: &mut Kernel,
    frames: &mut FrameAllocator,
    name: &str,
    elf: &[u8],
    radix: u8,
) -> Result<Program, BootError> {
    let before = frames.allocated_pages();
    let cnode_bytes = 1usize << (usize::from(radix) + kernel_abi::object::SLOT_SIZE_BITS);
    let cnode_pages = cnode_bytes.div_ceil(PAGE_SIZE);
    let cnode_object =
        frames.allocate_contiguous(cnode_pages, cnode_bytes.max(PAGE_SIZE)).ok_or(BootError::OutOfMemory)?;
    // SAFETY: the allocator just handed these frames out; nothing refers to them yet.
    unsafe { zero_range(cnode_object, cnode_pages * PAGE_SIZE) };
    let cnode = untyped::make_object(kernel, ObjectType::CNode, cnode_object, usize::from(radix), false);
    let thread_object = frame(frames)?;
    let Capability::Thread { .. } = untyped::make_object(kernel, ObjectType::Thread, thread_object, 0, false)
    else {
        return Err(BootError::OutOfMemory);
    };
    let thread = ObjectRef::<Thread>::new(thread_object);
    let root = frame(frames)?;
    let address_space = untyped::make_object(kernel, ObjectType::AddressSpace, root, 0, false);
    let program = loader::load(frames, root, elf).map_err(BootError::Load)?;
    // SAFETY: live: the thread was just made in this frame; exclusive: nothing else refers
    // to it yet, and the block below calls nothing that could.
    let tcb = unsafe { thread.get() };
    tcb.set_name(name);
    tcb.priority = BOOT_PRIORITY;
    tcb.frame.pc = program.entry;
    tcb.frame.registers[crate::arch::riscv64::trap::TrapFrame::SP] = program.stack_pointer;
    Ok(Program {
        cnode,
        thread,
        address_space,
        root,
        entry: program.entry,
        kib: (frames.allocated_pages() - before) * 4,
    })
}

/// Makes a boot program other than the root task: its thread holds its CNode (empty) and
/// address space, nothing else. Returns the thread, ready to run.
pub fn make_boot_program(
    kernel: &mut Kernel,
    frames: &mut FrameAllocator,
    name: &str,
    elf: &[u8],
) -> Result<(ObjectRef<Thread>, usize, usize), BootError> {
    let program = make_program(kernel, frames, name, elf, SMALL_CNODE_RADIX)?;
    cnode::insert(kernel, 0, thread::slot_id(program.thread, CSPACE_SLOT), program.cnode);
    cnode::insert(kernel, 0, thread::slot_id(program.thread, ADDRESS_SPACE_SLOT), program.address_space);
    thread::refresh_satp(program.thread);
    kernel.scheduler.make_ready(program.thread);
    Ok((program.thread, program.entry, program.kib))
}

/// Makes the root task: its CNode holds its own thread, CNode, address space, IPC buffer,
/// boot info page, the IRQ and scheduling control capabilities, and (see [`hand_out_memory`])
/// every Untyped. Returns the thread and a handle to finish boot info with.
pub fn make_root_task(
    kernel: &mut Kernel,
    frames: &mut FrameAllocator,
    name: &str,
    elf: &[u8],
    archive: &'static [u8],
) -> Result<RootTask, BootError> {
    let program =
        make_program(kernel, frames, name, elf, u8::try_from(bootinfo::ROOT_CNODE_RADIX).unwrap_or(12))?;
    let in_root = |index: usize| cnode::slot_id(&program.cnode, index).unwrap_or(0);

    let ipc_buffer = frame(frames)?;
    let info_page = frame(frames)?;
    let user_rw = Flags::USER | Flags::READ | Flags::WRITE;
    for (page, address, flags) in [
        (ipc_buffer, bootinfo::ROOT_IPC_BUFFER_ADDRESS, user_rw),
        (info_page, bootinfo::BOOT_INFO_ADDRESS, Flags::USER | Flags::READ),
    ] {
        let mut tables = crate::memory::DirectMap { frames: Some(frames) };
        kernel_core::paging::map(
            &mut tables,
            program.root,
            address,
            page,
            kernel_core::paging::PageSize::Small,
            flags,
        )
        .map_err(|_| BootError::OutOfMemory)?;
    }
    // The boot archive, read-only: the root task starts the system from it.
    let archive_start = crate::memory::kernel_physical(archive.as_ptr() as usize);
    for offset in (0..archive.len()).step_by(PAGE_SIZE) {
        let mut tables = crate::memory::DirectMap { frames: Some(frames) };
        kernel_core::paging::map(
            &mut tables,
            program.root,
            bootinfo::BOOT_ARCHIVE_ADDRESS + offset,
            archive_start + offset,
            kernel_core::paging::PageSize::Small,
            Flags::USER | Flags::READ,
        )
        .map_err(|_| BootError::OutOfMemory)?;
    }
    let Capability::AddressSpace { asid, .. } = program.address_space else {
        return Err(BootError::OutOfMemory);
    };
    let frame_capability = |frame: usize, address: usize, rights: Rights| Capability::Frame {
        frame,
        mapped_address: address,
        mapped_asid: asid,
        large: false,
        rights,
    };
    let all = Rights::READ | Rights::WRITE | Rights::EXECUTE;
    let initial = [
        (slot::THREAD, Capability::Thread { object: program.thread.address() }),
        (slot::CNODE, program.cnode),
        (slot::ADDRESS_SPACE, program.address_space),
        (slot::IRQ_CONTROL, Capability::IrqControl),
        (slot::SCHED_CONTROL, Capability::SchedControl),
        (slot::IPC_BUFFER, frame_capability(ipc_buffer, bootinfo::ROOT_IPC_BUFFER_ADDRESS, all)),
        (slot::BOOT_INFO, frame_capability(info_page, bootinfo::BOOT_INFO_ADDRESS, Rights::READ)),
    ];
    for (index, capability) in initial {
        cnode::insert(kernel, 0, in_root(index), capability);
    }
    // The thread's own slots hold copies, children of the root CNode's capabilities.
    for (thread_slot, source) in [
        (CSPACE_SLOT, slot::CNODE),
        (ADDRESS_SPACE_SLOT, slot::ADDRESS_SPACE),
        (IPC_BUFFER_SLOT, slot::IPC_BUFFER),
    ] {
        let original = cnode::load(in_root(source));
        if let Some(copy) = original.derive(Rights::ALL, None) {
            cnode::insert(kernel, in_root(source), thread::slot_id(program.thread, thread_slot), copy);
        }
    }
    thread::refresh_satp(program.thread);
    // SAFETY: live: the root task's thread, made above; exclusive: the reference is used
    // for two stores before anything else runs.
    let tcb = unsafe { program.thread.get() };
    tcb.ipc_buffer = bootinfo::ROOT_IPC_BUFFER_ADDRESS;
    tcb.frame.set_a(0, bootinfo::BOOT_INFO_ADDRESS);
    kernel.scheduler.make_ready(program.thread);
    Ok(RootTask {
        thread: program.thread,
        cnode: program.cnode,
        info_page,
        entry: program.entry,
        kib: program.kib,
        archive_size: archive.len(),
        archive_physical: archive_start,
        asid,
    })
}

/// The root task between its creation and the memory hand-out.
pub struct RootTask {
    /// Its thread.
    pub thread: ObjectRef<Thread>,
    cnode: Capability,
    info_page: usize,
    /// Its first instruction.
    pub entry: usize,
    /// Boot memory its objects and code took.
    pub kib: usize,
    archive_size: usize,
    /// Where the archive's pages are (physical), and the root task's address space id
    /// (they are mapped there).
    archive_physical: usize,
    asid: u16,
}

/// Gives every free frame, and every device register block, to the root task as Untyped
/// capabilities, and writes the boot info page. Consumes the frame allocator: the kernel
/// allocates nothing after this. Returns the number of Untyped capabilities.
pub fn hand_out_memory(
    kernel: &mut Kernel,
    root: &RootTask,
    frames: FrameAllocator,
    board: &BoardInfo<'_>,
) -> usize {
    // SAFETY: the boot info frame was allocated and zeroed for the root task above; it is
    // RAM in the direct map, page aligned, and BootInfo fits in a page.
    let info = unsafe { &mut *(direct_map(root.info_page) as *mut BootInfo) };
    info.magic = BOOT_INFO_MAGIC;
    info.cnode_slots = 1 << bootinfo::ROOT_CNODE_RADIX;
    info.timebase_hz = usize::try_from(board.timebase_hz).unwrap_or(usize::MAX);
    info.archive_address = bootinfo::BOOT_ARCHIVE_ADDRESS;
    info.archive_size = root.archive_size;
    let mut count = 0;
    let devices = board
        .uart
        .map(|uart| uart.registers)
        .into_iter()
        .chain(board.plic.map(|plic| plic.registers))
        .chain(board.virtio.iter().map(|device| device.registers))
        .map(|region| (region, true));
    let ram = frames.free_ranges().iter().map(|region| (*region, false));
    let min_bits = u32::try_from(MIN_UNTYPED_BITS.max(PAGE_BITS)).unwrap_or(12);
    let max_bits = u32::try_from(MAX_UNTYPED_BITS).unwrap_or(36);
    'regions: for (region, is_device) in ram.chain(devices) {
        // RAM shrinks to whole pages; device registers grow to the pages that hold them.
        let region = if is_device { page_cover(region) } else { page_align(region) };
        for (start, bits) in aligned_blocks(region, min_bits, max_bits) {
            if count == MAX_UNTYPED {
                crate::kprintln!(
                    "[kernel] more than {MAX_UNTYPED} untyped regions; the rest is not handed out"
                );
                break 'regions;
            }
            let index = slot::FIRST_UNTYPED + count;
            let Ok(slot) = cnode::slot_id(&root.cnode, index) else { break 'regions };
            let Ok(size_bits) = u8::try_from(bits) else { continue };
            let capability = Capability::Untyped { base: start, size_bits, is_device, used: 0 };
            cnode::insert(kernel, 0, slot, capability);
            info.untyped[count] = UntypedDescriptor {
                physical_address: start,
                size_bits: bits as usize,
                is_device: usize::from(is_device),
            };
            count += 1;
        }
    }
    info.untyped_count = count;
    // The archive's pages, as read-only frame capabilities (the mappings the root task
    // already has are theirs), so the root task can share them instead of copying.
    let first_frame = slot::FIRST_UNTYPED + count;
    let mut frames = 0;
    for offset in (0..root.archive_size).step_by(PAGE_SIZE) {
        let Ok(slot) = cnode::slot_id(&root.cnode, first_frame + frames) else { break };
        let capability = Capability::Frame {
            frame: root.archive_physical + offset,
            mapped_address: bootinfo::BOOT_ARCHIVE_ADDRESS + offset,
            mapped_asid: root.asid,
            large: false,
            rights: Rights::READ,
        };
        cnode::insert(kernel, 0, slot, capability);
        frames += 1;
    }
    info.first_archive_frame = first_frame;
    info.archive_frames = frames;
    info.first_free_slot = first_frame + frames;
    count
}

fn page_cover(region: Region) -> Region {
    let start = region.start & !(PAGE_SIZE - 1);
    let end = region.end().next_multiple_of(PAGE_SIZE);
    Region { start, size: end - start }
}

fn page_align(region: Region) -> Region {
    let start = region.start.next_multiple_of(PAGE_SIZE);
    let end = region.end() & !(PAGE_SIZE - 1);
    Region { start, size: end.saturating_sub(start) }
}
