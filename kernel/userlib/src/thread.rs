//! Starting more threads in the same program: stacks from a fixed pool, an entry
//! trampoline that registers the thread's IPC buffer, and a helper that configures and
//! resumes a thread object.

use core::sync::atomic::{AtomicBool, Ordering};

use kernel_abi::Error;

use crate::ipc::{Cptr, set_ipc_buffer};
use crate::object;

/// Bytes of each pool stack.
pub const STACK_SIZE: usize = 16 * 1024;
/// Stacks in the pool.
pub const STACKS: usize = 8;

#[repr(C, align(16))]
struct Stack([u8; STACK_SIZE]);

/// The pool. Threads only ever receive the address of a stack (as their `sp`), never a
/// Rust reference, so the pool is plain memory to Rust.
static mut POOL: [Stack; STACKS] = [const { Stack([0; STACK_SIZE]) }; STACKS];
static CLAIMED: [AtomicBool; STACKS] = [const { AtomicBool::new(false) }; STACKS];

/// Claims a stack from the pool; returns its top (the initial `sp`).
pub fn claim_stack() -> Option<usize> {
    let index = CLAIMED.iter().position(|flag| !flag.swap(true, Ordering::AcqRel))?;
    let base = core::ptr::addr_of!(POOL) as usize + index * STACK_SIZE;
    Some(base + STACK_SIZE)
}

/// Returns a stack to the pool (the thread using it must be stopped for good).
pub fn release_stack(top: usize) {
    let base = core::ptr::addr_of!(POOL) as usize;
    if let Some(index) = top.checked_sub(base + STACK_SIZE).map(|offset| offset / STACK_SIZE)
        && index < STACKS
    {
        CLAIMED[index].store(false, Ordering::Release);
    }
}

/// What a new thread runs: `entry(argument)`; returning ends the thread with that status.
pub type Entry = fn(usize) -> usize;

/// The first instruction of every thread started by [`start`]: registers its IPC buffer,
/// runs the entry function and exits with its result.
extern "C" fn trampoline(entry: usize, argument: usize, ipc_buffer: usize) -> ! {
    // SAFETY: `start` passes the address it configured the thread's IPC buffer at (0 for
    // none), after checking it lies outside everything Rust code refers to; the kernel
    // checked the frame is read-write RAM and the buffer fits in it.
    unsafe { set_ipc_buffer(ipc_buffer) };
    // SAFETY: `start` passes `entry as usize` for a valid `Entry` (a plain `fn` pointer of
    // this program, which never unloads), so converting it back yields that function.
    let entry = unsafe { core::mem::transmute::<usize, Entry>(entry) };
    crate::syscall::exit(entry(argument))
}

/// A thread to start.
pub struct Spawn {
    /// The thread object.
    pub thread: Cptr,
    /// Its CSpace root CNode.
    pub cspace: Cptr,
    /// Its address space.
    pub address_space: Cptr,
    /// Its IPC buffer: the frame capability, and the address it is mapped at (0: none). The
    /// page must be mapped there read-write and be no other thread's buffer (the kernel and
    /// the runtime then copy long messages through it); [`start`] refuses an address inside
    /// the program's image, initial stack or heap.
    pub ipc_buffer: (Cptr, usize),
    /// Its fault endpoint (0: none).
    pub fault_endpoint: Cptr,
    /// Its priority.
    pub priority: usize,
}

/// Configures `spawn.thread` to run `entry(argument)` on `stack_top`, and resumes it.
pub fn start(spawn: &Spawn, entry: Entry, argument: usize, stack_top: usize) -> Result<(), Error> {
    let (frame, address) = spawn.ipc_buffer;
    if frame != 0
        && address.checked_add(kernel_abi::ipc_buffer::IPC_BUFFER_SIZE).is_none_or(|end| {
            crate::memory::overlaps_program(address, end) || crate::heap::overlaps(address, end)
        })
    {
        return Err(Error::InvalidArgument);
    }
    object::configure_thread(
        spawn.thread,
        spawn.cspace,
        spawn.address_space,
        address,
        frame,
        spawn.fault_endpoint,
    )?;
    object::set_priority(spawn.thread, spawn.priority)?;
    let pc = trampoline as *const () as usize;
    let entry = entry as usize;
    object::write_registers(
        spawn.thread,
        pc,
        stack_top,
        [entry, argument, if frame == 0 { 0 } else { address }, 0],
    )?;
    object::resume(spawn.thread)
}
