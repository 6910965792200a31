//! Word access to pages a program maps at run time (shared memory, test scratch pages).
//!
//! Rust code in a Lattice program only refers to the program's own image (code, data, BSS,
//! including the thread stack pool), its initial stack and its heap (`crate::heap`, once
//! set up). A page mapped later through a frame capability lies outside all three, so no
//! Rust object lives there and a volatile access to it cannot invalidate anything the
//! compiler assumes. These functions refuse (return `None`/`false`) addresses inside the
//! image, the initial stack or the heap, and misaligned ones; any other address is accessed
//! as asked. An access to an address that is
//! not mapped (or not with the needed permission) faults like any other, which is what the
//! kernel's fault tests want.
//!
//! The thread's IPC buffer is such a page too; [`crate::ipc::ipc_buffer`] reaches it the
//! same way (volatile word copies, never a reference).

/// Top of the initial user stack (exclusive); `kernel_core::layout::USER_STACK_TOP`, which
/// user programs do not link.
const USER_STACK_TOP: usize = 0x3f_ffff_0000;
/// Size of the initial user stack (`kernel_core::layout::USER_STACK_SIZE`).
const USER_STACK_SIZE: usize = 64 * 1024;

unsafe extern "C" {
    /// The program's ELF header: the first byte of the loaded image (defined by the linker).
    static __ehdr_start: u8;
    /// The first byte past the image's BSS (defined by the linker).
    static _end: u8;
}

/// Whether `[start, end)` overlaps the program's image or its initial stack.
pub(crate) fn overlaps_program(start: usize, end: usize) -> bool {
    let image_start = core::ptr::addr_of!(__ehdr_start) as usize;
    let image_end = core::ptr::addr_of!(_end) as usize;
    let overlaps = |from: usize, to: usize| start < to && end > from;
    overlaps(image_start, image_end) || overlaps(USER_STACK_TOP - USER_STACK_SIZE, USER_STACK_TOP)
}

/// Whether `[address, address + length)` is outside everything Rust code of this program
/// refers to (its image, initial stack and heap) and does not wrap.
fn is_runtime_range(address: usize, length: usize) -> bool {
    let Some(end) = address.checked_add(length) else { return false };
    let in_heap = crate::heap::region().is_some_and(|(start, size)| address < start + size && end > start);
    !overlaps_program(address, end) && !in_heap
}

/// Whether `[address, address + 8)` is a runtime mapping's word: outside everything Rust
/// code of this program refers to, and 8-byte aligned.
fn is_runtime_mapping(address: usize) -> bool {
    address.is_multiple_of(8) && is_runtime_range(address, 8)
}

/// Reads the word at `address` of a page mapped at run time. `None` if the address is in
/// this program's image or initial stack, or misaligned. Faults if nothing readable is
/// mapped there.
pub fn read_word(address: usize) -> Option<usize> {
    if !is_runtime_mapping(address) {
        return None;
    }
    // SAFETY: the address is aligned and outside the program image and initial stack, the
    // only memory Rust code of this program refers to (module doc), so the read aliases no
    // Rust object; if the page is not mapped readable the hardware faults and the kernel
    // stops the thread before any value is produced.
    Some(unsafe { core::ptr::read_volatile(address as *const usize) })
}

/// Writes `value` to the word at `address` of a page mapped at run time. Returns `false`
/// (writing nothing) if the address is in this program's image or initial stack, or
/// misaligned. Faults if nothing writable is mapped there.
pub fn write_word(address: usize, value: usize) -> bool {
    if !is_runtime_mapping(address) {
        return false;
    }
    // SAFETY: as in `read_word`: no Rust object lives at the address, so the write cannot
    // break an assumption of the compiler; an unmapped or read-only page faults instead.
    unsafe { core::ptr::write_volatile(address as *mut usize, value) };
    true
}

/// Copies `bytes` to `address` in a page (or pages) mapped at run time, as [`write_word`]
/// would word by word, but checked once for the whole range and copied in one go. Returns
/// `false` (writing nothing) if the range touches this program's image, initial stack or
/// heap, or wraps. Faults if part of it is not mapped writable.
pub fn write_bytes(address: usize, bytes: &[u8]) -> bool {
    if !is_runtime_range(address, bytes.len()) {
        return false;
    }
    // SAFETY: as in `write_word`: the range holds no Rust object (it is outside the image,
    // the initial stack and the heap, checked above), so writing it cannot break an
    // assumption of the compiler, and `bytes` (a Rust object) cannot overlap it; an
    // unmapped or read-only page faults instead of being written.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), address as *mut u8, bytes.len()) };
    true
}

/// Copies `into.len()` bytes from `address` in a page (or pages) mapped at run time into
/// `into`, checked once for the whole range as [`write_bytes`] is. Returns `false` (reading
/// nothing) if the range touches this program's image, initial stack or heap, or wraps.
/// Faults if part of it is not mapped readable.
pub fn read_bytes(address: usize, into: &mut [u8]) -> bool {
    if !is_runtime_range(address, into.len()) {
        return false;
    }
    // SAFETY: as in `read_word`: the range holds no Rust object (it is outside the image,
    // the initial stack and the heap, checked above), so reading it aliases nothing the
    // compiler tracks, and `into` (a Rust object) cannot overlap it; the bytes are copied,
    // never referenced, so another program writing the page meanwhile changes only what
    // this copy sees. An unmapped page faults instead of being read.
    unsafe { core::ptr::copy_nonoverlapping(address as *const u8, into.as_mut_ptr(), into.len()) };
    true
}
