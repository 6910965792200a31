//! Typed wrappers for kernel object invocations (`kernel_abi::invocation`).

use kernel_abi::invocation::{CNodeOp, FrameOp, PageTableOp, ThreadOp, TimerOp, UntypedOp};
use kernel_abi::{Error, ObjectType, Rights};

use crate::ipc::{Cptr, invoke};

/// Makes `count` objects of `object_type` (with `size_bits` for Untyped and CNode) from
/// `untyped`, into slots `index..index + count` of the CNode at `cnode`.
pub fn retype(
    untyped: Cptr,
    object_type: ObjectType,
    size_bits: usize,
    cnode: Cptr,
    index: usize,
    count: usize,
) -> Result<(), Error> {
    invoke(untyped, UntypedOp::Retype as usize, &[object_type as usize, size_bits, cnode, index, count])
        .map(|_| ())
}

/// Copies the capability at `source_index` of `source_cnode` into `index` of `cnode`, with
/// at most `rights`.
pub fn copy(
    cnode: Cptr,
    index: usize,
    source_cnode: Cptr,
    source_index: usize,
    rights: Rights,
) -> Result<(), Error> {
    invoke(cnode, CNodeOp::Copy as usize, &[index, source_cnode, source_index, rights.0 as usize]).map(|_| ())
}

/// Like [`copy`], also setting `badge` (endpoints and notifications).
pub fn mint(
    cnode: Cptr,
    index: usize,
    source_cnode: Cptr,
    source_index: usize,
    rights: Rights,
    badge: usize,
) -> Result<(), Error> {
    invoke(cnode, CNodeOp::Mint as usize, &[index, source_cnode, source_index, rights.0 as usize, badge])
        .map(|_| ())
}

/// Moves a capability between slots.
pub fn move_capability(
    cnode: Cptr,
    index: usize,
    source_cnode: Cptr,
    source_index: usize,
) -> Result<(), Error> {
    invoke(cnode, CNodeOp::Move as usize, &[index, source_cnode, source_index]).map(|_| ())
}

/// Deletes the capability at `index` of `cnode`.
pub fn delete(cnode: Cptr, index: usize) -> Result<(), Error> {
    invoke(cnode, CNodeOp::Delete as usize, &[index]).map(|_| ())
}

/// Deletes every capability derived from the one at `index`; returns how many.
pub fn revoke(cnode: Cptr, index: usize) -> Result<usize, Error> {
    invoke(cnode, CNodeOp::Revoke as usize, &[index]).map(|reply| reply.word(0))
}

/// Sets a thread's CSpace, address space, IPC buffer (address and frame) and fault endpoint.
pub fn configure_thread(
    thread: Cptr,
    cspace: Cptr,
    address_space: Cptr,
    ipc_buffer: usize,
    ipc_buffer_frame: Cptr,
    fault_endpoint: Cptr,
) -> Result<(), Error> {
    invoke(
        thread,
        ThreadOp::Configure as usize,
        &[cspace, address_space, ipc_buffer, ipc_buffer_frame, fault_endpoint],
    )
    .map(|_| ())
}

/// Sets a thread's pc, sp and a0..a3.
pub fn write_registers(thread: Cptr, pc: usize, sp: usize, arguments: [usize; 4]) -> Result<(), Error> {
    let [a0, a1, a2, a3] = arguments;
    invoke(thread, ThreadOp::WriteRegisters as usize, &[pc, sp, a0, a1, a2, a3]).map(|_| ())
}

/// A thread's pc, sp and a0..a3.
pub fn read_registers(thread: Cptr) -> Result<[usize; 6], Error> {
    let reply = invoke(thread, ThreadOp::ReadRegisters as usize, &[])?;
    Ok(core::array::from_fn(|index| reply.word(index)))
}

/// Makes a configured thread runnable.
pub fn resume(thread: Cptr) -> Result<(), Error> {
    invoke(thread, ThreadOp::Resume as usize, &[]).map(|_| ())
}

/// Stops a thread.
pub fn suspend(thread: Cptr) -> Result<(), Error> {
    invoke(thread, ThreadOp::Suspend as usize, &[]).map(|_| ())
}

/// Sets a thread's priority (at most the caller's).
pub fn set_priority(thread: Cptr, priority: usize) -> Result<(), Error> {
    invoke(thread, ThreadOp::SetPriority as usize, &[priority]).map(|_| ())
}

/// Binds a notification to a thread.
pub fn bind_notification(thread: Cptr, notification: Cptr) -> Result<(), Error> {
    invoke(thread, ThreadOp::BindNotification as usize, &[notification]).map(|_| ())
}

/// Unbinds a thread's notification.
pub fn unbind_notification(thread: Cptr) -> Result<(), Error> {
    invoke(thread, ThreadOp::UnbindNotification as usize, &[]).map(|_| ())
}

/// Maps a frame at `address` of `address_space` with `rights`.
pub fn map_frame(frame: Cptr, address_space: Cptr, address: usize, rights: Rights) -> Result<(), Error> {
    invoke(frame, FrameOp::Map as usize, &[address_space, address, rights.0 as usize]).map(|_| ())
}

/// Removes a frame capability's mapping.
pub fn unmap_frame(frame: Cptr) -> Result<(), Error> {
    invoke(frame, FrameOp::Unmap as usize, &[]).map(|_| ())
}

/// A frame's physical address.
pub fn frame_address(frame: Cptr) -> Result<usize, Error> {
    invoke(frame, FrameOp::Address as usize, &[]).map(|reply| reply.word(0))
}

/// Installs a page table for `address` in `address_space`.
pub fn map_page_table(table: Cptr, address_space: Cptr, address: usize) -> Result<(), Error> {
    invoke(table, PageTableOp::Map as usize, &[address_space, address]).map(|_| ())
}

/// Removes a page table from its address space.
pub fn unmap_page_table(table: Cptr) -> Result<(), Error> {
    invoke(table, PageTableOp::Unmap as usize, &[]).map(|_| ())
}

/// Binds the scheduling context `context` to `thread` as its own budget, or makes the
/// thread passive (it then runs only on its callers' time) when `context` is 0.
pub fn set_sched_context(thread: Cptr, context: Cptr) -> Result<(), Error> {
    invoke(thread, ThreadOp::SetSchedContext as usize, &[context]).map(|_| ())
}

/// Gives `context` a budget of `budget_us` microseconds in every `period_us`, through the
/// scheduling control capability.
pub fn configure_sched_context(
    control: Cptr,
    context: Cptr,
    budget_us: usize,
    period_us: usize,
) -> Result<(), Error> {
    invoke(
        control,
        kernel_abi::invocation::SchedControlOp::Configure as usize,
        &[context, budget_us, period_us],
    )
    .map(|_| ())
}

/// Makes an IRQ handler capability for interrupt `irq` at `index` of `cnode`, through the
/// IRQ control capability.
pub fn irq_handler(control: Cptr, irq: usize, cnode: Cptr, index: usize) -> Result<(), Error> {
    invoke(control, kernel_abi::invocation::IrqControlOp::Get as usize, &[irq, cnode, index]).map(|_| ())
}

/// Makes interrupts of `handler` signal `notification` (with its badge).
pub fn irq_set_notification(handler: Cptr, notification: Cptr) -> Result<(), Error> {
    invoke(handler, kernel_abi::invocation::IrqHandlerOp::SetNotification as usize, &[notification])
        .map(|_| ())
}

/// Acknowledges the interrupt of `handler`, so that the next one is delivered.
pub fn irq_acknowledge(handler: Cptr) -> Result<(), Error> {
    invoke(handler, kernel_abi::invocation::IrqHandlerOp::Acknowledge as usize, &[]).map(|_| ())
}

/// Makes `timer` signal `notification` (WRITE right; with that capability's badge) when it
/// fires, instead of whatever it signalled before.
pub fn timer_set_notification(timer: Cptr, notification: Cptr) -> Result<(), Error> {
    invoke(timer, TimerOp::SetNotification as usize, &[notification]).map(|_| ())
}

/// Arms `timer` for `deadline` (absolute, in `rdtime` units), replacing its deadline; one
/// not after now fires at once. Returns whether it was armed before.
pub fn timer_arm(timer: Cptr, deadline: u64) -> Result<bool, Error> {
    let deadline = usize::try_from(deadline).map_err(|_| Error::InvalidArgument)?;
    invoke(timer, TimerOp::Arm as usize, &[deadline]).map(|reply| reply.word(0) != 0)
}

/// Disarms `timer`. Returns whether it was armed.
pub fn timer_cancel(timer: Cptr) -> Result<bool, Error> {
    invoke(timer, TimerOp::Cancel as usize, &[]).map(|reply| reply.word(0) != 0)
}
