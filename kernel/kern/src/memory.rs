//! Physical memory through the direct map: page-table frames, the kernel page table, and
//! checked access to user memory.
//!
//! Every physical address the kernel touches is in RAM the device tree reported (or a device
//! register block), and is reached at `PHYS_MAP_BASE + address`. User memory is never
//! touched through user virtual addresses: a user pointer is translated through the user's
//! own page table first, and only pages mapped with the user bit and the needed permission
//! are accessed (through the direct map). `sstatus.SUM` stays clear, so a kernel bug that
//! dereferences a user address faults instead of silently reading user memory.

use core::mem::offset_of;
use core::sync::atomic::{AtomicUsize, Ordering};

use kernel_abi::Error;
use kernel_abi::ipc_buffer::{IPC_BUFFER_SIZE, IpcBuffer};
use kernel_abi::syscall::MAX_MESSAGE_WORDS;
use kernel_core::board::{BoardInfo, Region};
use kernel_core::frames::FrameAllocator;
use kernel_core::layout::{KERNEL_IMAGE_BASE, PAGE_SIZE, PHYS_MAP_BASE, USER_END, align_down, align_up};
use kernel_core::paging::{self, Entry, Flags, MapError, PageSize, PhysicalMemory};

/// The kernel's view of a physical address. (Every physical address the kernel handles
/// is below `PHYS_MAP_SIZE`, so this cannot wrap; it is written as a wrapping add so the
/// IPC paths do not pay for an overflow check on every object access.)
#[inline(always)]
pub const fn direct_map(physical_address: usize) -> usize {
    PHYS_MAP_BASE.wrapping_add(physical_address)
}

/// RAM banks (start, end), recorded once at boot: user memory the kernel reads or writes
/// must lie in them. Device frames (registers) are mapped for user level, never touched by
/// the kernel: reading a register can have side effects, and the kernel does not map them.
static RAM: [(AtomicUsize, AtomicUsize); 8] = [const { (AtomicUsize::new(0), AtomicUsize::new(0)) }; 8];

/// Records the RAM banks (boot only).
pub fn set_ram(banks: &[Region]) {
    for (slot, bank) in RAM.iter().zip(banks) {
        slot.0.store(bank.start, Ordering::Relaxed);
        slot.1.store(bank.end(), Ordering::Relaxed);
    }
}

/// Whether `[start, start + length)` lies inside one RAM bank.
pub fn is_ram(start: usize, length: usize) -> bool {
    let Some(end) = start.checked_add(length) else { return false };
    RAM.iter().any(|(bank_start, bank_end)| {
        let (bank_start, bank_end) = (bank_start.load(Ordering::Relaxed), bank_end.load(Ordering::Relaxed));
        bank_start <= start && end <= bank_end && bank_start < bank_end
    })
}

/// Fills the frame at `physical_address` with zeros.
///
/// # Safety
///
/// The frame must be RAM the caller owns and nothing refers to: one the frame allocator
/// just handed out.
pub unsafe fn zero_frame(physical_address: usize) {
    debug_assert_eq!(physical_address % PAGE_SIZE, 0);
    // SAFETY: the caller's contract: RAM inside the direct map, page aligned, owned by the
    // caller (nothing else refers to it yet).
    unsafe { crate::arch::riscv64::zero::zero(direct_map(physical_address), PAGE_SIZE) }
}

/// Page tables in RAM, edited through the direct map; new tables come from `frames`.
pub struct DirectMap<'a> {
    /// Where new table frames come from; `None` for read-only walks.
    pub frames: Option<&'a mut FrameAllocator>,
}

impl PhysicalMemory for DirectMap<'_> {
    fn read_entry(&self, table: usize, index: usize) -> Entry {
        assert!(index < paging::ENTRIES && table.is_multiple_of(PAGE_SIZE));
        // SAFETY: `table` is a page-table frame: either a root the kernel allocated or an
        // address read from a valid non-leaf entry the kernel wrote; both are RAM in the
        // direct map, and the index is inside the 4 KiB table.
        Entry(unsafe { core::ptr::read_volatile((direct_map(table) as *const u64).add(index)) })
    }

    fn write_entry(&mut self, table: usize, index: usize, entry: Entry) {
        assert!(index < paging::ENTRIES && table.is_multiple_of(PAGE_SIZE));
        // SAFETY: as in read_entry; the kernel is the only writer of page tables.
        unsafe { core::ptr::write_volatile((direct_map(table) as *mut u64).add(index), entry.0) }
    }

    fn allocate_table(&mut self) -> Option<usize> {
        let frame = self.frames.as_mut()?.allocate()?;
        // SAFETY: the allocator just handed the frame out; nothing refers to it yet.
        unsafe { zero_frame(frame) };
        Some(frame)
    }
}

unsafe extern "C" {
    static __kernel_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __kernel_end: u8;
}

/// Physical address of kernel image data at virtual address `virtual_address`, through
/// the current page table (the kernel image is mapped with 4 KiB pages).
pub fn kernel_physical(virtual_address: usize) -> usize {
    let memory = DirectMap { frames: None };
    let satp = crate::arch::riscv64::csr::read_satp();
    let root = (satp & ((1 << 44) - 1)) << kernel_core::layout::PAGE_SHIFT;
    paging::translate(&memory, root, virtual_address).map_or(0, |found| found.physical_address)
}

/// Where the kernel image lies, in link and load addresses.
#[derive(Clone, Copy, Debug)]
pub struct KernelImage {
    /// Physical address of the first byte.
    pub load_address: usize,
    /// Bytes from the first byte to the end of BSS.
    pub size: usize,
    text_end: usize,
    rodata_end: usize,
}

impl KernelImage {
    /// Reads the section boundaries from the linker script symbols.
    pub fn locate(load_address: usize) -> Self {
        let start = core::ptr::addr_of!(__kernel_start) as usize;
        let end = core::ptr::addr_of!(__kernel_end) as usize;
        Self {
            load_address,
            size: end - start,
            text_end: core::ptr::addr_of!(__text_end) as usize,
            rodata_end: core::ptr::addr_of!(__rodata_end) as usize,
        }
    }

    /// The physical range of the image.
    pub fn region(&self) -> Region {
        Region { start: self.load_address, size: self.size }
    }

    fn physical(&self, virtual_address: usize) -> usize {
        virtual_address - KERNEL_IMAGE_BASE + self.load_address
    }
}

/// Maps `[start, end)` of physical memory at `direct_map(start)` with the largest pages the
/// alignment allows.
fn map_direct(memory: &mut DirectMap<'_>, root: usize, region: Region, flags: Flags) -> Result<(), MapError> {
    let mut address = align_down(region.start, PAGE_SIZE);
    let end = align_up(region.end(), PAGE_SIZE).ok_or(MapError::Misaligned)?;
    while address < end {
        let size = [PageSize::Huge, PageSize::Large, PageSize::Small]
            .into_iter()
            .find(|size| address.is_multiple_of(size.bytes()) && address + size.bytes() <= end)
            .unwrap_or(PageSize::Small);
        match paging::map(memory, root, direct_map(address), address, size, flags) {
            // Two device regions may share a page; the first mapping serves both.
            Ok(()) | Err(MapError::AlreadyMapped) | Err(MapError::LargerPageInTheWay) => {}
            Err(error) => return Err(error),
        }
        address += size.bytes();
    }
    Ok(())
}

/// Builds the kernel page table: the image with per-section permissions, the direct map of
/// RAM, and the device register blocks the kernel or its boot report uses. No user bit
/// anywhere. Returns the root's physical address.
pub fn build_kernel_page_table(
    frames: &mut FrameAllocator,
    image: &KernelImage,
    board: &BoardInfo<'_>,
) -> Result<usize, MapError> {
    let root = frames.allocate().ok_or(MapError::OutOfMemory)?;
    // SAFETY: the allocator just handed the frame out; nothing refers to it yet.
    unsafe { zero_frame(root) };
    let mut memory = DirectMap { frames: Some(frames) };
    let global = Flags::GLOBAL;
    let mut address = KERNEL_IMAGE_BASE;
    let image_end = KERNEL_IMAGE_BASE + align_up(image.size, PAGE_SIZE).ok_or(MapError::Misaligned)?;
    while address < image_end {
        let flags = if address < image.text_end {
            Flags::READ | Flags::EXECUTE
        } else if address < image.rodata_end {
            Flags::READ
        } else {
            Flags::READ | Flags::WRITE
        };
        paging::map(&mut memory, root, address, image.physical(address), PageSize::Small, flags | global)?;
        address += PAGE_SIZE;
    }
    let read_write = Flags::READ | Flags::WRITE | global;
    for bank in &board.memory {
        map_direct(&mut memory, root, *bank, read_write)?;
    }
    let devices = board
        .uart
        .map(|uart| uart.registers)
        .into_iter()
        .chain(board.exit_device)
        .chain(board.plic.map(|plic| plic.registers));
    for device in devices {
        map_direct(&mut memory, root, device, read_write)?;
    }
    Ok(root)
}

/// Copies `bytes` into the frame at `physical_address`, starting `offset` bytes in.
///
/// # Safety
///
/// The frame must be RAM from the frame allocator that the caller owns and nothing else
/// refers to (a boot program's page being loaded), and `bytes` must not lie in it.
pub unsafe fn copy_into_frame(physical_address: usize, offset: usize, bytes: &[u8]) {
    assert!(offset <= PAGE_SIZE && bytes.len() <= PAGE_SIZE - offset);
    // SAFETY: the frame is RAM in the direct map owned by the caller (the contract), and the
    // assertion keeps the copy inside it; source and destination do not overlap (the
    // contract; the source is the kernel image's boot archive, never handed out as frames).
    unsafe {
        core::ptr::copy_nonoverlapping(
            bytes.as_ptr(),
            (direct_map(physical_address) + offset) as *mut u8,
            bytes.len(),
        )
    }
}

/// A range of user virtual memory named by a syscall argument: an allegation until each page
/// is checked against the caller's page table.
#[derive(Clone, Copy, Debug)]
pub struct UserSlice {
    address: usize,
    length: usize,
}

impl UserSlice {
    /// Checks that `[address, address + length)` lies in user space.
    pub fn new(address: usize, length: usize) -> Result<Self, Error> {
        let end = address.checked_add(length).ok_or(Error::InvalidUserPointer)?;
        if end > USER_END {
            return Err(Error::InvalidUserPointer);
        }
        Ok(Self { address, length })
    }

    /// Calls `consume` with the slice's bytes, a page-sized piece at a time, after checking
    /// every page is mapped user-readable in `root`. Nothing is consumed unless every page
    /// checks out, so a bad pointer has no partial effect.
    pub fn read_in_pieces(&self, root: usize, mut consume: impl FnMut(&[u8])) -> Result<(), Error> {
        let memory = DirectMap { frames: None };
        self.pieces(&memory, root, Flags::USER | Flags::READ, |_| {})?;
        self.pieces(&memory, root, Flags::USER | Flags::READ, |(physical, length)| {
            // SAFETY: `pieces` checked this range is inside one page mapped user-readable in
            // `root`, hence RAM in the direct map; the kernel runs alone, so the bytes do not
            // change while the slice lives (single hart, user threads stopped).
            let bytes = unsafe { core::slice::from_raw_parts(direct_map(physical) as *const u8, length) };
            consume(bytes);
        })
    }

    /// Walks the slice page by page, checking `needed` flags, passing `(physical, length)`.
    fn pieces(
        &self,
        memory: &DirectMap<'_>,
        root: usize,
        needed: Flags,
        mut each: impl FnMut((usize, usize)),
    ) -> Result<(), Error> {
        let mut address = self.address;
        let end = self.address + self.length;
        while address < end {
            let translation = paging::translate(memory, root, address).ok_or(Error::InvalidUserPointer)?;
            if !translation.flags.contains(needed) {
                return Err(Error::InvalidUserPointer);
            }
            let page_end = align_down(address, translation.size.bytes()) + translation.size.bytes();
            let length = page_end.min(end) - address;
            if !is_ram(translation.physical_address, length) {
                // Device registers: the kernel never reads or writes them for user level.
                return Err(Error::InvalidUserPointer);
            }
            each((translation.physical_address, length));
            address += length;
        }
        Ok(())
    }
}

/// Fills `[physical_address, physical_address + size)` with zeros.
///
/// # Safety
///
/// The range must be RAM that holds no live object and that nothing refers to: memory
/// being retyped (retype hands out only memory past the Untyped's watermark, or all of it
/// once nothing derived from it is left), or boot frames just allocated.
pub unsafe fn zero_range(physical_address: usize, size: usize) {
    // SAFETY: the caller's contract: RAM in the direct map that nothing uses.
    unsafe { crate::arch::riscv64::zero::zero(direct_map(physical_address), size) }
}

/// A thread's IPC buffer: words of user memory the kernel reads and writes for long
/// messages and capability transfer. It is reached through the direct map and accessed
/// only by copying words in and out through raw pointers, never by reference: two threads
/// may name the same page (even the same buffer), and its owner writes it whenever it runs.
///
/// Invariant (of [`Self::new`], the only constructor): the buffer lies inside one RAM
/// frame, 8-byte aligned. A frame's memory stays a frame until its Untyped is revoked and
/// retyped, which never happens while a syscall holds one of these.
#[derive(Clone, Copy, Debug)]
pub struct IpcBufferWords {
    /// The buffer's first byte, in the direct map.
    base: usize,
}

impl IpcBufferWords {
    /// The buffer `offset` bytes into the frame at `frame` of `frame_size` bytes.
    ///
    /// # Safety
    ///
    /// `frame` is a frame of RAM (not device memory) of `frame_size` bytes, named by a
    /// capability, and the buffer at `offset` is 8-byte aligned and fits in it: the frame
    /// capability in a thread's IPC buffer slot and the thread's buffer address, which only
    /// `Thread::Configure` sets, after checking exactly that (and boot, with the root task's
    /// buffer, a boot frame of RAM).
    #[inline(always)]
    pub unsafe fn new(frame: usize, frame_size: usize, offset: usize) -> Self {
        debug_assert!(offset + IPC_BUFFER_SIZE <= frame_size && offset.is_multiple_of(8));
        Self { base: direct_map(frame + offset) }
    }

    /// The address of the word `offset` bytes into the buffer (`offset` is in bounds and
    /// word aligned: every caller passes a field offset of `IpcBuffer`).
    fn word(self, offset: usize) -> *mut usize {
        debug_assert!(offset + 8 <= IPC_BUFFER_SIZE && offset.is_multiple_of(8));
        (self.base + offset) as *mut usize
    }

    fn read(self, offset: usize) -> usize {
        // SAFETY: inside the buffer (the constructor's invariant and `word`'s), aligned RAM;
        // nothing holds a reference to user frames, and any bits are a valid usize.
        unsafe { core::ptr::read(self.word(offset)) }
    }

    fn write(self, offset: usize, value: usize) {
        // SAFETY: as in `read`; the kernel runs alone, so no user thread writes meanwhile.
        unsafe { core::ptr::write(self.word(offset), value) }
    }

    /// Message word `index` (0 past the buffer's words).
    pub fn message(self, index: usize) -> usize {
        if index >= MAX_MESSAGE_WORDS {
            return 0;
        }
        self.read(offset_of!(IpcBuffer, message) + 8 * index)
    }

    /// Sets message word `index` (ignored past the buffer's words).
    pub fn set_message(self, index: usize, value: usize) {
        if index < MAX_MESSAGE_WORDS {
            self.write(offset_of!(IpcBuffer, message) + 8 * index, value);
        }
    }

    /// Copies message words `range` from `from` to `to` (the same words of both buffers),
    /// which may be the same memory. The range is clipped to the buffer's words.
    pub fn copy_message(from: Self, to: Self, range: core::ops::Range<usize>) {
        let end = range.end.min(MAX_MESSAGE_WORDS);
        if range.start >= end {
            return;
        }
        let offset = offset_of!(IpcBuffer, message) + 8 * range.start;
        // SAFETY: both ranges lie inside their buffers (clipped above), aligned RAM that
        // nothing holds a reference to; `copy` allows them to overlap.
        unsafe { core::ptr::copy(from.word(offset), to.word(offset), end - range.start) }
    }

    /// The capability address the sender names in `send_caps[0]`.
    pub fn send_cap(self) -> usize {
        self.read(offset_of!(IpcBuffer, send_caps))
    }

    /// Where the receiver accepts a capability: (CNode cptr, index).
    pub fn receive_slot(self) -> (usize, usize) {
        (self.read(offset_of!(IpcBuffer, receive_cnode)), self.read(offset_of!(IpcBuffer, receive_index)))
    }

    /// Records how many capabilities arrived.
    pub fn set_received_caps(self, count: usize) {
        self.write(offset_of!(IpcBuffer, received_caps), count);
    }
}
