//! The IPC buffer: a thread's page for long messages and capability transfer.

use crate::syscall::{MAX_MESSAGE_WORDS, MAX_TRANSFER_CAPS};

/// The layout of a thread's IPC buffer. It must lie within one page of a frame mapped
/// writable in the thread's address space, and be 8-byte aligned.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IpcBuffer {
    /// Message words. Words 0..4 travel in registers; the kernel reads and writes the rest
    /// here.
    pub message: [usize; MAX_MESSAGE_WORDS],
    /// Sender: capability addresses to transfer (needs the grant right).
    pub send_caps: [usize; MAX_TRANSFER_CAPS],
    /// Receiver: the CNode (cptr; 0 for the thread's own root) for a received capability.
    pub receive_cnode: usize,
    /// Receiver: the slot index in that CNode for a received capability (0: accept none).
    pub receive_index: usize,
    /// Receiver: how many capabilities arrived (written by the kernel).
    pub received_caps: usize,
    /// Free for the program's runtime (the kernel never touches it).
    pub user_data: usize,
}

/// Bytes of an [`IpcBuffer`].
pub const IPC_BUFFER_SIZE: usize = core::mem::size_of::<IpcBuffer>();

const _: () = assert!(IPC_BUFFER_SIZE <= 4096, "the IPC buffer fits in a page");
