//! The program's heap: the global allocator, `talc` over one region the program maps.
//!
//! Programs opt in with `extern crate alloc`. A program the process builder started gets
//! its heap before `main` (`start::begin` calls [`init`] with the region of its start info);
//! others call [`init`] once themselves, and the root task, which has Untyped memory but
//! nothing mapped, [`init_from_untyped`]. Until then every
//! allocation fails, and so does one that does not fit: Rust's allocation-error handling
//! then panics ("memory allocation of N bytes failed"), which prints through the panic
//! handler and exits with status 101.
//!
//! # The region
//!
//! [`init`] takes a region the program has mapped readable and writable (RAM frames),
//! outside its image and initial stack, that nothing else uses: not an IPC buffer, not a
//! shared or device page, not another heap. [`init`] checks what it can (alignment, size,
//! the image, the initial stack, this thread's IPC buffer) and refuses the rest of the
//! contract only by documentation; [`crate::memory`] refuses the region once it is the
//! heap. A page of it that is not mapped faults the program at its first use.
//!
//! # Threads
//!
//! The allocator is shared by the program's threads behind a spin lock that yields while it
//! waits. `yield` only passes to threads of the same priority, so a thread that preempts
//! an allocating thread of lower priority and allocates too would wait for ever; threads
//! of one program that allocate run at one priority, or synchronise through IPC (which is
//! how servers and their helper threads work anyway).

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use kernel_abi::{Error, ObjectType, Rights};
use talc::TalcLock;
use talc::lock_api::{GuardSend, RawMutex};
use talc::source::Manual;

use crate::ipc::Cptr;
use crate::object;

/// Smallest region [`init`] accepts: talc's bookkeeping plus room to allocate.
pub const MIN_HEAP_SIZE: usize = 16 * 1024;
const PAGE: usize = 4096;
const LARGE_PAGE: usize = 2 * 1024 * 1024;

/// A spin lock for the allocator that gives the processor away while it waits.
pub struct YieldingLock(AtomicBool);

// SAFETY: the lock is held from a successful compare-exchange of false → true (Acquire)
// until `unlock` stores false (Release), so at most one holder at a time, and the holder's
// writes are visible to the next.
unsafe impl RawMutex for YieldingLock {
    #[allow(clippy::declare_interior_mutable_const, reason = "the lock_api idiom for a const initial lock")]
    const INIT: Self = Self(AtomicBool::new(false));
    type GuardMarker = GuardSend;

    fn lock(&self) {
        while !self.try_lock() {
            crate::syscall::yield_now();
        }
    }

    fn try_lock(&self) -> bool {
        self.0.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    unsafe fn unlock(&self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The allocator: talc with manual heap management (the one heap comes from [`init`]).
static TALC: TalcLock<YieldingLock, Manual> = TalcLock::new(Manual);
/// The region, once [`init`] claimed it (size 0 before).
static START: AtomicUsize = AtomicUsize::new(0);
static SIZE: AtomicUsize = AtomicUsize::new(0);
static CLAIMED: AtomicBool = AtomicBool::new(false);
static WARNED: AtomicBool = AtomicBool::new(false);

/// The global allocator: talc, saying once when a program allocates before [`init`].
struct Heap;

// SAFETY: every method forwards to talc's `GlobalAlloc` with the caller's arguments
// unchanged, so talc's guarantees are ours.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if SIZE.load(Ordering::Acquire) == 0 && !WARNED.swap(true, Ordering::Relaxed) {
            crate::println!("heap: allocation of {} bytes before userlib::heap::init", layout.size());
        }
        // SAFETY: the caller keeps GlobalAlloc::alloc's contract (non-zero size).
        unsafe { TALC.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: the caller passes a pointer this allocator returned, with its layout.
        unsafe { TALC.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for dealloc, and new_size is non-zero and fits a layout (caller).
        unsafe { TALC.realloc(pointer, layout, new_size) }
    }
}

#[cfg(target_os = "none")]
#[global_allocator]
static ALLOCATOR: Heap = Heap;

/// Why the heap could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeapError {
    /// [`init`] already ran (the heap is one region, set once).
    AlreadyInitialised,
    /// The region is not page aligned, smaller than [`MIN_HEAP_SIZE`], wraps, or overlaps
    /// the program's image, initial stack or IPC buffer.
    BadRegion,
    /// Making or mapping its memory failed ([`init_from_untyped`]).
    Kernel(Error),
}

impl From<Error> for HeapError {
    fn from(error: Error) -> Self {
        Self::Kernel(error)
    }
}

/// How much of the heap is in use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapUsage {
    /// Bytes of the region.
    pub size: usize,
    /// Bytes handed out in live allocations.
    pub allocated: usize,
    /// Live allocations.
    pub allocations: usize,
}

/// Makes `[start, start + size)` the heap. Callable once. The region must be mapped
/// readable and writable and belong to nothing else (module doc); the checks refuse the
/// program's image, initial stack and IPC buffer, misalignment and tiny regions.
pub fn init(start: usize, size: usize) -> Result<(), HeapError> {
    if !start.is_multiple_of(PAGE) || size < MIN_HEAP_SIZE || start == 0 {
        return Err(HeapError::BadRegion);
    }
    let end = start.checked_add(size).ok_or(HeapError::BadRegion)?;
    let ipc_buffer = crate::ipc::ipc_buffer().map_or(0, crate::ipc::IpcBufferWords::address);
    let ipc_page = ipc_buffer & !(PAGE - 1);
    if crate::memory::overlaps_program(start, end)
        || (ipc_buffer != 0 && ipc_page < end && start < ipc_page + PAGE)
    {
        return Err(HeapError::BadRegion);
    }
    if CLAIMED.swap(true, Ordering::AcqRel) {
        return Err(HeapError::AlreadyInitialised);
    }
    // SAFETY: the region is mapped read-write for this program and used by nothing else
    // (the caller's contract, checked above for the program's own memory), and it is
    // claimed once (CLAIMED), for the program's lifetime: it is never truncated.
    let claimed = unsafe { TALC.lock().claim(start as *mut u8, size) };
    if claimed.is_none() {
        CLAIMED.store(false, Ordering::Release);
        return Err(HeapError::BadRegion);
    }
    START.store(start, Ordering::Release);
    SIZE.store(size, Ordering::Release);
    Ok(())
}

/// The heap region `(start, size)`, once [`init`] succeeded.
pub fn region() -> Option<(usize, usize)> {
    let size = SIZE.load(Ordering::Acquire);
    (size != 0).then(|| (START.load(Ordering::Acquire), size))
}

/// Whether `[start, end)` overlaps the heap region (false before [`init`]).
pub fn overlaps(start: usize, end: usize) -> bool {
    region().is_some_and(|(heap, size)| start < heap + size && end > heap)
}

/// How much of the heap is in use (zero before [`init`]).
pub fn usage() -> HeapUsage {
    let talc = TALC.lock();
    let counters = talc.counters();
    HeapUsage {
        size: SIZE.load(Ordering::Acquire),
        allocated: counters.allocated_bytes,
        allocations: counters.allocation_count,
    }
}

/// What [`init_from_untyped`] needs.
#[derive(Debug)]
pub struct UntypedHeap<'a> {
    /// Untyped memory to make the frames (and page tables) from.
    pub untyped: Cptr,
    /// The CNode their capabilities go into (the root CNode capability).
    pub cnode: Cptr,
    /// The next empty slot of `cnode`; advanced past the slots used.
    pub next_slot: &'a mut usize,
    /// This program's address space.
    pub address_space: Cptr,
    /// Where the heap goes: page aligned, nothing mapped there yet.
    pub address: usize,
    /// Bytes (rounded up to whole pages).
    pub size: usize,
}

/// Makes frames from Untyped memory, maps them read-write at `address` (with the page
/// tables that are missing) and makes them the heap. For the root task, which has memory
/// but no heap; 2 MiB frames where the region allows, so a large heap takes few slots.
pub fn init_from_untyped(heap: UntypedHeap<'_>) -> Result<(), HeapError> {
    let UntypedHeap { untyped, cnode, next_slot, address_space, address, size } = heap;
    let size = size.next_multiple_of(PAGE);
    if !address.is_multiple_of(PAGE) || size < MIN_HEAP_SIZE {
        return Err(HeapError::BadRegion);
    }
    let end = address.checked_add(size).ok_or(HeapError::BadRegion)?;
    let mut page = address;
    while page < end {
        let large = page.is_multiple_of(LARGE_PAGE) && end - page >= LARGE_PAGE;
        let (object_type, step) =
            if large { (ObjectType::LargeFrame, LARGE_PAGE) } else { (ObjectType::Frame, PAGE) };
        let frame = take_slot(next_slot);
        object::retype(untyped, object_type, 0, cnode, frame, 1)?;
        map_with_tables(untyped, cnode, next_slot, frame, address_space, page)?;
        page += step;
    }
    init(address, size)
}

fn take_slot(next_slot: &mut usize) -> Cptr {
    let slot = *next_slot;
    *next_slot += 1;
    slot
}

/// Maps `frame` read-write at `address`, making the page tables that are missing.
fn map_with_tables(
    untyped: Cptr,
    cnode: Cptr,
    next_slot: &mut usize,
    frame: Cptr,
    address_space: Cptr,
    address: usize,
) -> Result<(), Error> {
    let rights = Rights::READ | Rights::WRITE;
    // At most two levels of tables can be missing below the root.
    for _ in 0..3 {
        match object::map_frame(frame, address_space, address, rights) {
            Err(Error::MissingPageTable) => {
                let table = take_slot(next_slot);
                object::retype(untyped, ObjectType::PageTable, 0, cnode, table, 1)?;
                object::map_page_table(table, address_space, address)?;
            }
            other => return other,
        }
    }
    object::map_frame(frame, address_space, address, rights)
}
