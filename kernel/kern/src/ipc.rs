//! Moving a message from one thread to another: registers, IPC buffer words, and at most
//! one capability.
//!
//! The first four message words travel in `a2`..`a5`; the rest go from the sender's IPC
//! buffer to the receiver's (truncated to four words if either has none). A capability is
//! transferred only if the sender used a capability with the grant right, named it in its
//! IPC buffer, and the receiver named an empty slot in its own: the copy becomes a child of
//! the sender's capability, so revoking the sender's capability reaches it. An Untyped
//! capability cannot be copied (two capabilities would hand the same free memory out
//! twice), so it is moved instead: the sender loses it, and it keeps its place in the
//! derivation tree, so revoking the Untyped it was retyped from still reaches it.

use kernel_abi::MessageInfo;
use kernel_abi::Rights;
use kernel_abi::syscall::{MAX_MESSAGE_WORDS, REGISTER_MESSAGE_WORDS};
use kernel_core::capability::{self, Capability};

use crate::Kernel;
use crate::memory::IpcBufferWords;
use crate::object::ObjectRef;
use crate::object::cnode::{self, KernelSlots};
use crate::object::thread::{self, CSPACE_SLOT, Pending, Thread};

/// What the receiver's registers say after a delivery.
fn deliver_registers(receiver: ObjectRef<Thread>, info: MessageInfo, badge: usize) {
    // SAFETY: live: every thread in this file is a sender or receiver the caller holds (the
    // current thread, or one taken from a queue or a reply object); exclusive: three stores.
    let frame = &mut unsafe { receiver.get() }.frame;
    frame.set_a(0, 0);
    frame.set_a(1, info.0);
    frame.set_a(6, badge);
}

/// Delivers the message `sender` is sending (or has pending) to `receiver`.
pub fn transfer(
    kernel: &mut Kernel,
    sender: ObjectRef<Thread>,
    receiver: ObjectRef<Thread>,
    badge: usize,
    can_grant: bool,
) {
    let (pending, info, words) = {
        // SAFETY: live (as in `deliver_registers`); exclusive: the sender's registers are
        // copied out, nothing called.
        let tcb = unsafe { sender.get() };
        let frame = &tcb.frame;
        (tcb.pending, MessageInfo(frame.a(1)), [frame.a(2), frame.a(3), frame.a(4), frame.a(5)])
    };
    if let Pending::Fault { words, .. } = pending {
        deliver_fault(receiver, badge, &words);
        return;
    }
    let mut length = info.length();
    // SAFETY: live (as in `deliver_registers`); exclusive: four stores.
    let frame = &mut unsafe { receiver.get() }.frame;
    for (index, word) in words.into_iter().enumerate() {
        frame.set_a(2 + index, word);
    }
    if length > REGISTER_MESSAGE_WORDS {
        match (thread::ipc_buffer(sender), thread::ipc_buffer(receiver)) {
            (Some(from), Some(to)) => {
                IpcBufferWords::copy_message(from, to, REGISTER_MESSAGE_WORDS..length);
            }
            _ => length = REGISTER_MESSAGE_WORDS,
        }
    }
    let caps = if info.caps() > 0 && can_grant { transfer_capability(kernel, sender, receiver) } else { 0 };
    if let Some(buffer) = thread::ipc_buffer(receiver) {
        buffer.set_received_caps(caps);
    }
    deliver_registers(receiver, MessageInfo::new(info.label(), length.min(MAX_MESSAGE_WORDS), caps), badge);
}

/// Writes a kernel-made fault message into `receiver`.
pub fn deliver_fault(
    receiver: ObjectRef<Thread>,
    badge: usize,
    words: &[usize; kernel_abi::syscall::FAULT_MESSAGE_WORDS],
) {
    // SAFETY: live (as in `deliver_registers`); exclusive: four stores.
    let frame = &mut unsafe { receiver.get() }.frame;
    for (index, word) in words.iter().take(REGISTER_MESSAGE_WORDS).enumerate() {
        frame.set_a(2 + index, *word);
    }
    let mut length = REGISTER_MESSAGE_WORDS;
    if let Some(buffer) = thread::ipc_buffer(receiver) {
        for (index, word) in words.iter().enumerate().skip(REGISTER_MESSAGE_WORDS) {
            buffer.set_message(index, *word);
        }
        buffer.set_received_caps(0);
        length = words.len();
    }
    deliver_registers(receiver, MessageInfo::new(kernel_abi::syscall::FAULT_LABEL, length, 0), badge);
}

/// Copies the first capability the sender names into the receiver's receive slot (moves it,
/// if it is an Untyped). Returns the number transferred (0 or 1).
fn transfer_capability(kernel: &mut Kernel, sender: ObjectRef<Thread>, receiver: ObjectRef<Thread>) -> usize {
    let (Some(out), Some(into)) = (thread::ipc_buffer(sender), thread::ipc_buffer(receiver)) else {
        return 0;
    };
    let (cptr, (receive_cnode, receive_index)) = (out.send_cap(), into.receive_slot());
    if receive_index == 0 {
        return 0;
    }
    let Ok(source) = resolve(sender, cptr) else { return 0 };
    let original = cnode::load(source);
    if original.is_null() {
        return 0;
    }
    let destination_cnode = if receive_cnode == 0 {
        // SAFETY: live (as in `deliver_registers`); exclusive: one read.
        unsafe { receiver.get() }.capability(CSPACE_SLOT)
    } else {
        match resolve(receiver, receive_cnode) {
            Ok(slot) => cnode::load(slot),
            Err(_) => return 0,
        }
    };
    let Ok(destination) = cnode::slot_id(&destination_cnode, receive_index) else { return 0 };
    if !cnode::load(destination).is_null() {
        return 0;
    }
    if matches!(original, Capability::Untyped { .. }) {
        // Untyped cannot be copied; moving keeps its parent (whoever donated the memory can
        // still revoke it) and its children. `destination` is empty and `source` is not, so
        // they differ.
        capability::relocate(&mut KernelSlots, source, destination);
        return 1;
    }
    let Some(copy) = original.derive(Rights::ALL, None) else { return 0 };
    cnode::insert(kernel, source, destination, copy);
    1
}

/// Looks capability address `cptr` up in `thread`'s CSpace: the slot it names.
pub fn resolve(thread: ObjectRef<Thread>, cptr: usize) -> Result<usize, kernel_abi::Error> {
    // SAFETY: live: the caller's thread; exclusive: one read.
    cnode::slot_id(&unsafe { thread.get() }.capability(CSPACE_SLOT), cptr)
        .map_err(|_| kernel_abi::Error::InvalidCapability)
}
